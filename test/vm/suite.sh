#!/usr/bin/env bash
# `npm run test:vm`: bvisor on a stock Debian 12 kernel (pure cgroup v2, landlock ABI 2), in a
# VM booted twice, side by side: with bvisor at the root of the cgroup hierarchy (as under a
# container engine), and in a systemd-style login scope (/user.slice/user-0.slice/session-1.scope).
# Each boot runs test/vm/guest.sh: check, plan and run of bundles/hello, a container-mode
# bundle, and the live tests listed in test/vm/tests.txt. Prints each boot's time and the total;
# exits 1 if anything failed at either placement.
#
#   test/vm/suite.sh [--no-build] [--only root|scope] [--timeout S] [--landlock-audit]
#
# --landlock-audit also runs test/vm/landlock-audit.sh (a newer kernel, audit on) as a third boot,
# started in the slot the first boot to end leaves free, so it overlaps the longer one.
#
# The guest runs this checkout as it is on disk, so it is built first (dist/, the shim, and the
# shim's test build that the live tests load); --no-build skips that when the caller just
# built (.ci/run, after npm test). Needs root (see test/vm/run-in-vm.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=1 ONLY="" TIMEOUT=900 AUDIT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --landlock-audit) AUDIT=1; shift ;;
    *) echo "usage: $0 [--no-build] [--only root|scope] [--timeout S] [--landlock-audit]" >&2; exit 2 ;;
  esac
done
secs() { printf '%d.%01ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }
now_ms() { date +%s%3N; }
start=$(now_ms)

if [ "$BUILD" = 1 ]; then
  t=$(now_ms)
  npm run -s build >/dev/null
  make -s -C native-shim test
  echo "vm suite: built in $(secs $(( $(now_ms) - t )))"
fi

placements=(root scope)
[ -n "$ONLY" ] && placements=("$ONLY")
# The boots run side by side: qemu emulates each guest on one host thread (run-in-vm.sh:
# thread=single), so two of them use the two cores that one leaves half idle, and the VM part
# takes about as long as its longer boot rather than the sum. Each boot's output goes to a file
# and is printed whole when that boot ends, so the two do not interleave.
LOGS=$(mktemp -d /tmp/bvisor-vm-suite.XXXXXX)
pids=()
# Each boot leads its own process group (setsid), so that an interrupted suite stops its qemu too.
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done; rm -rf "$LOGS"; }
trap cleanup EXIT
declare -A placement_of started
boot() { # name: starts that boot in the background, as its own process group
  local p=$1; local -a cmd
  case "$p" in
    root) cmd=(test/vm/run-in-vm.sh --timeout "$TIMEOUT" -- test/vm/guest.sh root) ;;
    scope) cmd=(test/vm/run-in-vm.sh --scope --timeout "$TIMEOUT" -- test/vm/guest.sh scope) ;;
    landlock-audit) cmd=(test/vm/landlock-audit.sh --no-build) ;;
    *) echo "vm suite: unknown placement $p" >&2; exit 2 ;;
  esac
  echo "vm suite: booting ($p)"
  started[$p]=$(now_ms)
  setsid "${cmd[@]}" > "$LOGS/$p" 2>&1 &
  pids+=($!); placement_of[$!]=$p
}
for p in "${placements[@]}"; do boot "$p"; done
queued=()
[ "$AUDIT" = 1 ] && queued=(landlock-audit)
declare -A result took retried
order=()
while [ ${#pids[@]} -gt 0 ]; do
  rc=0; wait -n -p done_pid "${pids[@]}" || rc=$?
  p=${placement_of[$done_pid]}
  remaining=()
  for x in "${pids[@]}"; do [ "$x" != "$done_pid" ] && remaining+=("$x"); done
  pids=("${remaining[@]}")
  # A guest that timed out without ever reaching its init (no "vm: kernel" line, which the
  # guest's PID 1 prints first) hung in the emulated boot, before any test ran: seen once in
  # eight CI runs, a boot that then passed in 63 s when run again. It is booted once more; a
  # boot that reached its init is never retried, whatever its tests did.
  if [ "$rc" = 124 ] && [ -z "${retried[$p]:-}" ] && ! grep -q '^vm: kernel' "$LOGS/$p"; then
    retried[$p]=1
    echo; echo "vm suite: ---- $p never reached its init in $(secs $(( $(now_ms) - ${started[$p]} ))) (the emulated boot hung); booting it again ----"
    cat "$LOGS/$p"
    boot "$p"
    continue
  fi
  took[$p]=$(( $(now_ms) - ${started[$p]} ))
  [ "$rc" = 0 ] && result[$p]=ok || { result[$p]="FAILED (exit $rc)"; failed=1; }
  order+=("$p")
  # The freed slot takes the next queued boot before this one's log is printed.
  if [ ${#queued[@]} -gt 0 ]; then boot "${queued[0]}"; queued=("${queued[@]:1}"); fi
  echo; echo "vm suite: ---- $p, ended after $(secs "${took[$p]}") ----"
  cat "$LOGS/$p"
done
summary=() failed=${failed:-0}
for p in "${order[@]}"; do summary+=("$(printf '  %-15s %-18s %s' "$p" "${result[$p]}" "$(secs "${took[$p]}")")"); done

echo
echo "vm suite: per boot (boot + steps + power-off; at most two run side by side)"
printf '%s\n' "${summary[@]}"
echo "vm suite: total $(secs $(( $(now_ms) - start )))"
exit "$failed"
