#!/usr/bin/env bash
# The VM suite's steps, run inside the guest by test/vm/suite.sh (through test/vm/run-in-vm.sh),
# from the checkout's root, once per placement: bvisor's own commands as a user runs them
# (check, plan and run of bundles/hello, a container-mode bundle), then the live test files
# listed in test/vm/tests.txt in one vitest run (vitest starts slowly under emulation).
# Prints each step's time and result, and exits 1 if any step failed.
#
#   test/vm/guest.sh PLACEMENT          (a label for the output: root or scope)
set -uo pipefail
PLACEMENT=${1:?usage: guest.sh PLACEMENT}
cd "$(dirname "$0")/../.."

# What this VM has, declared so that a test needing it fails instead of skipping (see
# test/helpers/require.ts). Debian 12's kernel: pure cgroup v2 with memory/pids/cpu (cgroup2),
# openat2, the masked /proc files; the guest mounts securityfs and devpts (pty) and we are root
# (root, mknod); busybox-static comes with the runner, util-linux with Debian; the suite built
# dist/ (build). Not here: landlock ABI 3 and up (landlock-abi-N, landlock-scope), and wabt and
# the wasm toolchain (the listed tests do not need them). The guest's sysctls are ours to set
# (own-sysctl), as its cgroups are.
export BVISOR_CI_REQUIRE=root,busybox,util-linux,procfs-masked,openat2,securityfs,cgroup2,pty,mknod,build,own-sysctl,strace
# This machine is ours alone and thrown away: tests may make cgroups anywhere, and those that do
# not care where leave the placement to bvisor, since its defaults are what is under test here
# (test/helpers/cgroups.ts; on a shared machine tests stay inside their own cgroup).
export BVISOR_TEST_CGROUP_ANYWHERE=1
# The launcher's leak test: 50 runs, not 200 (about 40 s less per boot under emulation); a leak
# of one cgroup, fd or stack per run exceeds its slack of 2 within 3 runs.
export BVISOR_TEST_LEAK_RUNS=50
# The CPU is emulated, 10-50 times slower than the host and uneven: a test whose oracle is a
# bound on wall time meant for a real CPU keeps its other checks here and says it skipped that one.
export BVISOR_TEST_EMULATED=1

names=() results=() times=() failed=0
now_ms() { date +%s%3N; }
# step NAME COMMAND...: runs COMMAND, records its time and whether it exited 0.
step() {
  local name=$1; shift
  echo; echo "=== [$PLACEMENT] $name"
  local t0 rc; t0=$(now_ms)
  "$@"; rc=$?
  local ms=$(( $(now_ms) - t0 ))
  names+=("$name") times+=("$ms")
  if [ "$rc" = 0 ]; then results+=(ok); else results+=("FAIL($rc)"); failed=1; fi
  printf '=== [%s] %s: %s in %d.%01ds\n' "$PLACEMENT" "$name" "${results[-1]}" $((ms / 1000)) $((ms % 1000 / 100))
}

# expect_run WANT COMMAND...: COMMAND must exit 0 and print exactly WANT on stdout.
expect_run() {
  local want=$1; shift
  local out rc
  out=$("$@"); rc=$?
  printf '%s\n' "$out"
  [ "$rc" = 0 ] || { echo "exit status $rc, expected 0"; return 1; }
  [ "$out" = "$want" ] || { echo "stdout differs; expected:"; printf '%s\n' "$want"; return 1; }
}

container_bundle() {
  local d; d=$(mktemp -d /tmp/bvisor-vm-ct.XXXXXX) || return 1
  test/vm/container-bundle.sh "$d/bundle" || return 1
  expect_run $'hello from the container\nbvisor-ct' node bin/run.js run vm-ct -b "$d/bundle"
}

# An OCI bundle (containerd's config) on pure v2: run prints; create/start/pause/resume/kill/
# delete with the config's cgroupsPath, and the kernel's freezer state read back.
oci_bundle() {
  local d; d=$(mktemp -d /tmp/bvisor-vm-oci.XXXXXX) || return 1
  test/vm/oci-bundle.sh "$d/run" /bvisor-vm-oci/run sh -c 'echo hello from an OCI bundle' || return 1
  expect_run 'hello from an OCI bundle' node bin/run.js --root "$d/state" run --bundle "$d/run" vm-oci-run || return 1
  test/vm/oci-bundle.sh "$d/live" /bvisor-vm-oci/live sleep 3600 || return 1
  node bin/run.js --root "$d/state" create --bundle "$d/live" --pid-file "$d/pid" vm-oci </dev/null >/dev/null 2>"$d/err" || { cat "$d/err"; return 1; }
  node bin/run.js --root "$d/state" start vm-oci || return 1
  grep -qx "0::/bvisor-vm-oci/live" "/proc/$(cat "$d/pid")/cgroup" || { echo "the init is not in /bvisor-vm-oci/live:"; cat "/proc/$(cat "$d/pid")/cgroup"; return 1; }
  node bin/run.js --root "$d/state" pause vm-oci || return 1
  grep -qx 'frozen 1' /sys/fs/cgroup/bvisor-vm-oci/live/cgroup.events || { echo "cgroup.events does not say frozen"; return 1; }
  node bin/run.js --root "$d/state" state vm-oci | grep -q '"status": "paused"' || return 1
  node bin/run.js --root "$d/state" resume vm-oci || return 1
  node bin/run.js --root "$d/state" kill vm-oci 9 || return 1
  node bin/run.js --root "$d/state" delete --force vm-oci || return 1
  [ ! -e /sys/fs/cgroup/bvisor-vm-oci/live ] || { echo "the container's cgroup is left"; return 1; }
  rmdir /sys/fs/cgroup/bvisor-vm-oci 2>/dev/null || true
}

# The listed files, one vitest run. A listed file that does not exist fails the step: vitest
# takes its arguments as filters and would silently run nothing for it. A file marked
# "[root placement]" or "[scope placement]" runs at that placement only: what it tests does not
# depend on where bvisor's own cgroup is, and the two boots run side by side (suite.sh), so such
# files are shared out between them to keep the two about as long.
live_tests() {
  local files=() missing=0 f why
  while read -r f why; do
    case "$f" in ''|'#'*) continue ;; esac
    case "$why" in
      '[root placement]'*) [ "$PLACEMENT" = root ] || { echo "at the root placement only: $f"; continue; } ;;
      '[scope placement]'*) [ "$PLACEMENT" = scope ] || { echo "at the scope placement only: $f"; continue; } ;;
    esac
    if [ -f "$f" ]; then files+=("$f"); else echo "listed in test/vm/tests.txt but missing: $f"; missing=1; fi
  done < test/vm/tests.txt
  [ ${#files[@]} -gt 0 ] || return 1
  # node_modules/.bin/vitest, not npx: npm's own start-up costs tens of seconds under emulation.
  # Emulation is 10-50 times slower than the host: the per-test timeouts are for a real CPU.
  # --no-isolate: the files run one after another in one worker (2 vCPUs give vitest one), and
  # importing the same modules again for each file cost about 80 s per boot.
  node_modules/.bin/vitest run --no-isolate --testTimeout=180000 --hookTimeout=180000 "${files[@]}" || return 1
  return "$missing"
}

echo "vm suite [$PLACEMENT]: kernel $(uname -r), cgroup $(cut -d: -f3 /proc/self/cgroup), node $(node --version)"
step "bvisor check" node bin/run.js check
step "bvisor plan bundles/hello" node bin/run.js plan bundles/hello
step "bvisor run hello -b bundles/hello" expect_run 'hello from inside the boundary' node bin/run.js run hello -b bundles/hello
step "bvisor run (container-mode bundle)" container_bundle
# The OCI bundle names its cgroupsPath (absolute), so where bvisor itself sits does not change
# where it goes: one placement is enough (about 75 s of CLI starts under emulation).
if [ "$PLACEMENT" = root ]; then step "OCI bundle (run, create to delete)" oci_bundle; fi
step "vitest (test/vm/tests.txt)" live_tests

# A process killed by an invalid opcode is the emulator's fault, not bvisor's: say so, so that
# a failure above is read for what it is (see the note on TCG in run-in-vm.sh).
if dmesg 2>/dev/null | grep -q 'trap invalid opcode'; then
  echo; echo "vm suite [$PLACEMENT]: the emulated CPU raised invalid opcodes (an emulator fault):"
  dmesg | grep 'trap invalid opcode'
fi

echo; echo "vm suite [$PLACEMENT] summary:"
total=0
for i in "${!names[@]}"; do
  printf '  %-40s %-9s %6d.%01ds\n' "${names[$i]}" "${results[$i]}" $((times[i] / 1000)) $((times[i] % 1000 / 100))
  total=$((total + times[i]))
done
printf '  %-40s %-9s %6d.%01ds\n' "total" "$([ $failed = 0 ] && echo ok || echo FAILED)" $((total / 1000)) $((total % 1000 / 100))
exit "$failed"
