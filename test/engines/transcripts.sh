#!/usr/bin/env bash
# Terminal transcripts of podman and containerd with RUNTIME (default: this repo's bin/run.js,
# i.e. bvisor) as their runtime, as Markdown: `transcripts.sh OUT.md [RUNTIME]`. For each
# scenario: the exact commands, their output (stdout and stderr as a terminal shows them), exit
# status and wall time, and the runtime calls the engine made (argv, from a logging wrapper in
# front of the runtime that then execs it, as capture.sh's; it keeps the runtime's basename, so
# podman sends the same flags). Uses $ENGINE_DIR if set (prepared or not), else makes one and
# tears it down. A scenario that fails is recorded as it failed; the script goes on.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -ge 1 ]] || { echo "usage: transcripts.sh OUT.md [RUNTIME]" >&2; exit 2; }
touch "$1" && out=$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")
runtime=${2:-$here/../../bin/run.js}

if [[ -z ${ENGINE_DIR:-} ]]; then
  ENGINE_DIR=$(mktemp -d /tmp/bvisor-engines.XXXXXX)
  export ENGINE_DIR
  trap '"$here/teardown.sh"' EXIT
fi
"$here/setup.sh" > /dev/null || exit 1
engine_load
real=$(engine_runtime "$runtime") || exit 1
name=$(basename "$real")

# ---- the logging wrapper: <D>/transcript/<name>, argv with the time since the scenario began ----
T=$D/transcript
mkdir -p "$T"
W=$T/$name
cat > "$W" <<WRAP
#!/bin/bash
t0=\$(cat "$T/t0" 2>/dev/null || echo 0)
now=\$(date +%s%N)
{ printf '+%d.%03ds %s' \$(( (now - t0) / 1000000000 )) \$(( (now - t0) / 1000000 % 1000 )) "\$(basename "\$0")"; printf ' %s' "\$@"; echo; } >> "$T/calls.log"
exec $real "\$@"
WRAP
chmod +x "$W"

PODMAN=(podman "${PODMAN_FLAGS[@]}" --runtime "$W")
CTR=(nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS")
PNET=(--network none --cgroup-parent "$CGROUP_PARENT")
SNAP=(--snapshotter native)
STEP=120   # seconds: a hung command is SIGKILLed (exit 137) and the transcript goes on

# ---- Markdown ----
: > "$out"
md() { printf '%s\n' "$@" >> "$out"; }
short() { sed -e "s#$D#\$D#g" -e "s#$CGROUP_PARENT#\$CG#g"; }   # the long paths, named once in the header
q() { # shell words as one would type them: bare when safe, else in single quotes
  local a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then printf '%s ' "$a"
    else printf "'%s' " "${a//\'/\'\\\'\'}"
    fi
  done
}
shown() { # the command as typed, with the harness's flags folded into `podman`/`ctr`
  local s
  if [[ $# -eq 3 && $1 == sh && $2 == -c ]]; then printf '%s' "$3" | short; return; fi
  s=$(q "$@")
  s=${s% }
  s=${s//"$(q "${PODMAN[@]}")"/podman }
  s=${s//"$(q "${CTR[@]}")"/ctr }
  printf '%s' "$s" | short
}
scenario() {
  md "" "## $1" ""
  : > "$T/calls.log"
  date +%s%N > "$T/t0"
  TRANSCRIPT=()
}
# run CMD...: print `$ cmd`, its output, exit status and time into the transcript
run() {
  local t0 t1 rc o
  t0=$(date +%s%N)
  o=$(timeout -s KILL "$STEP" "$@" 2>&1)
  rc=$?
  t1=$(date +%s%N)
  TRANSCRIPT+=("\$ $(shown "$@")")
  [[ -n $o ]] && TRANSCRIPT+=("$(printf '%s' "$o" | short)")
  TRANSCRIPT+=("[exit $rc, $(( (t1 - t0) / 1000000 )) ms]")
  return $rc
}
# in a pseudo-terminal, as typed at one
run_tty() {
  local t0 t1 rc o
  t0=$(date +%s%N)
  o=$(timeout -s KILL "$STEP" script -qec "$(printf '%q ' "$@")" /dev/null 2>&1 | tr -d '\r')
  rc=${PIPESTATUS[0]}
  t1=$(date +%s%N)
  TRANSCRIPT+=("\$ $(shown "$@")          # at a terminal (script(1))")
  [[ -n $o ]] && TRANSCRIPT+=("$(printf '%s' "$o" | short)")
  TRANSCRIPT+=("[exit $rc, $(( (t1 - t0) / 1000000 )) ms]")
  return $rc
}
note() { TRANSCRIPT+=("# $*"); }
done_scenario() {
  md '```console' "${TRANSCRIPT[@]}" '```' "" "Runtime calls (\`$name\` is the logging wrapper in front of $(basename "$runtime")):" "" '```'
  short < "$T/calls.log" >> "$out"
  md '```'
}
until_true() { # until_true SECONDS CMD...
  local end=$(( $(date +%s) + $1 ))
  shift
  while (( $(date +%s) < end )); do "$@" && return 0; sleep 0.1; done
  return 1
}

md "# Engine transcripts: podman and containerd with $name as the runtime" ""
md "Captured $(date -u +%Y-%m-%dT%H:%M:%SZ) by test/engines/transcripts.sh on $(uname -r), podman $(podman --version | awk '{ print $3 }'), conmon $(conmon --version | awk 'NR == 1 { print $3 }'), containerd $(containerd --version | awk '{ print $3 }')."
md "Runtime: \`$runtime\`$(git -C "$(dirname "$runtime")" rev-parse --short HEAD 2>/dev/null | sed 's/^/ (commit /; s/$/)/')." ""
md "In the commands below:" ""
md "- \`podman\` stands for \`$(q "${PODMAN[@]}" | sed "s/ $//" | short)\`"
md "- \`ctr\` stands for \`$(q "${CTR[@]}" | sed "s/ $//" | short)\` (containerd in a private mount namespace, setup.sh)"
md "- \`\$D\` is \`$D\` (setup.sh's ENGINE_DIR), \`\$CG\` is \`$CGROUP_PARENT\` (a cgroup parent under our own memory cgroup)."
md "- Exit status and wall time of each command follow it in brackets."

# ---- podman ----
scenario 'podman run --rm: exit 0, exit 3'
run "${PODMAN[@]}" run --rm "${PNET[@]}" "$IMAGE" /bin/true
run "${PODMAN[@]}" run --rm "${PNET[@]}" "$IMAGE" sh -c 'echo out-3; exit 3'
done_scenario

scenario 'podman run --rm, ended by podman kill: exit 137'
note "terminal 1 (in the background here):"
timeout -s KILL "$STEP" "${PODMAN[@]}" run --rm "${PNET[@]}" --name p-killed "$IMAGE" sleep 1000 > "$T/fg.out" 2>&1 &
fg=$!
fg_t0=$(date +%s%N)
until_true 30 sh -c '[ "$("$@" inspect -f "{{.State.Status}}" p-killed 2>/dev/null)" = running ]' sh "${PODMAN[@]}"
note "terminal 2, once p-killed is running:"
run "${PODMAN[@]}" kill -s KILL p-killed
wait "$fg"
rc=$?
note "terminal 1:"
TRANSCRIPT+=("\$ $(shown "${PODMAN[@]}" run --rm "${PNET[@]}" --name p-killed "$IMAGE" sleep 1000)")
[[ -s $T/fg.out ]] && TRANSCRIPT+=("$(short < "$T/fg.out")")
TRANSCRIPT+=("[exit $rc, $(( ($(date +%s%N) - fg_t0) / 1000000 )) ms]")
"${PODMAN[@]}" rm -f -t 0 --ignore p-killed > /dev/null 2>&1
done_scenario

scenario 'podman run -d, exec, stop, rm'
run "${PODMAN[@]}" run -d "${PNET[@]}" --name p-det "$IMAGE" sleep 1000
run "${PODMAN[@]}" exec p-det sh -c 'echo exec-out; cat /proc/1/cmdline | tr "\0" " "; echo; exit 4'
run "${PODMAN[@]}" ps -a --format '{{.Names}} {{.Status}}'
run "${PODMAN[@]}" stop -t 1 p-det
run "${PODMAN[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' p-det
run "${PODMAN[@]}" rm p-det
"${PODMAN[@]}" rm -f -t 0 --ignore p-det > /dev/null 2>&1
done_scenario

scenario 'podman run -t: a terminal'
run_tty "${PODMAN[@]}" run --rm -t "${PNET[@]}" "$IMAGE" sh -c 'tty; [ -t 0 ] && echo stdin is a terminal; exit 5'
done_scenario

scenario 'podman run --rm with a missing command: create fails, exit 127'
run "${PODMAN[@]}" run --rm "${PNET[@]}" "$IMAGE" /nonexistent
done_scenario

scenario 'podman run --rm --sysctl: a refused config field (linux.sysctl)'
run "${PODMAN[@]}" run --rm "${PNET[@]}" --sysctl net.core.somaxconn=1024 "$IMAGE" /bin/true
done_scenario

scenario 'podman run --rm with a wall clock in the org.bvisor.boundary annotation: sleep 10 ended after 1 s'
run "${PODMAN[@]}" run --rm "${PNET[@]}" --annotation 'org.bvisor.boundary=limits: { wall: 1s }' "$IMAGE" sleep 10
# What ended it: bvisor's report, sealed at podman's `delete --force` and appended to the journal
# of the default root (podman calls delete without --root).
id=$(awk '/ create / { print $NF }' "$T/calls.log" | tail -1)
journal=/run/$name/journal.jsonl
if [[ $name == bvisor && -n $id && -f $journal ]] && command -v jq > /dev/null; then
  note "why: the report bvisor sealed at delete, from its journal in the default root"
  run sh -c "grep -h '\"containerId\":\"$id\"' $journal | jq -c '.report.body | {outcome, wall: [.admitted[] | select(.clause | test(\"wall\")) | {clause, mechanism}]}'"
fi
done_scenario

# ---- containerd ----
scenario 'ctr run --rm (native snapshotter): exit 0, exit 3'
run "${CTR[@]}" run --rm --runc-binary "$W" --cgroup "$CGROUP_PARENT/ctr-c1" "${SNAP[@]}" "$IMAGE" c1 /bin/true
run "${CTR[@]}" run --rm --runc-binary "$W" --cgroup "$CGROUP_PARENT/ctr-c2" "${SNAP[@]}" "$IMAGE" c2 sh -c 'echo out-3; exit 3'
done_scenario

scenario 'ctr run -d, task exec, task kill, task rm (native snapshotter)'
run "${CTR[@]}" run -d --runc-binary "$W" --cgroup "$CGROUP_PARENT/ctr-c-det" "${SNAP[@]}" "$IMAGE" c-det sleep 1000
run "${CTR[@]}" task ls
run "${CTR[@]}" task exec --exec-id e1 c-det sh -c 'echo exec-out; cat /proc/1/cmdline | tr "\0" " "; echo; exit 4'
run "${CTR[@]}" task kill -s KILL c-det
until_true 20 sh -c '"$@" task ls | grep -q "^c-det .*STOPPED"' sh "${CTR[@]}"
run "${CTR[@]}" task ls
run "${CTR[@]}" task rm c-det
run "${CTR[@]}" container rm c-det
done_scenario

scenario 'ctr run --rm with the default overlayfs snapshotter: refused'
run "${CTR[@]}" run --rm --runc-binary "$W" --cgroup "$CGROUP_PARENT/ctr-c-ov" "$IMAGE" c-ov /bin/true
"${CTR[@]}" container rm c-ov > /dev/null 2>&1
done_scenario

echo "transcripts in $out"
