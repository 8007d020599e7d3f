#!/usr/bin/env bash
# Wall time of one container through each engine: `latency.sh RUNTIME N` runs
# `podman run --rm IMAGE /bin/true` and `ctr run --rm IMAGE ID /bin/true` N times each (after
# one warm-up run each) with RUNTIME behind them, and prints the median, min and max in ms.
# The engine commands are timed directly (the flags of podman.sh/ctr.sh, without their bash);
# a failed run fails the script. ENGINE_CTR_SNAPSHOTTER as in ctr.sh.
# Several runtimes, in the same run and interleaved: `latency.sh RUNTIME,RUNTIME... N`. Each of
# the N rounds runs every variant once (podman, then ctr with each snapshotter, for each runtime,
# the runtime that goes first rotating from round to round), so a machine that gets busier or
# quieter during the run weighs on every variant alike. A runtime may name its own containerd
# snapshotters after `@`, joined by `+` (`runc@overlayfs+native`); without one, it gets
# ENGINE_CTR_SNAPSHOTTER (unset: containerd's default, overlayfs). The table's ratio is each
# median over the FIRST runtime's median for the same engine and snapshotter. E.g.
#   latency.sh /usr/sbin/runc@overlayfs+native,crun@overlayfs+native,bin/run.js@native 15
# Uses $ENGINE_DIR if set (already prepared or not); otherwise makes one and tears it down.
set -euo pipefail
shopt -s inherit_errexit   # a failed run inside $(...) must fail the script, not be timed
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -eq 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "usage: latency.sh RUNTIME[@SNAPSHOTTER[+SNAPSHOTTER...]][,RUNTIME...] N" >&2; exit 2; }
n=$2

if [[ -z ${ENGINE_DIR:-} ]]; then
  ENGINE_DIR=$(mktemp -d /tmp/bvisor-engines.XXXXXX)
  export ENGINE_DIR
  trap '"$here/teardown.sh"' EXIT
fi
"$here/setup.sh" > /dev/null
engine_load

# ---- the variants: engine, runtime executable, snapshotter (ctr only), label ----
v_engine=() v_rt=() v_snap=() v_label=() v_rtidx=()
IFS=, read -ra specs <<< "$1"
r=0
for spec in "${specs[@]}"; do
  name=${spec%%@*}
  snaps=${ENGINE_CTR_SNAPSHOTTER:-}
  [[ $spec == *@* ]] && snaps=${spec#*@}
  rt=$(engine_runtime "$name")
  label=$(basename "$rt")   # lib.sh's wrappers keep the runtime's name (bvisor, crun)
  echo "runtime $r: $rt"
  v_engine+=(podman) v_rt+=("$rt") v_snap+=("") v_label+=("$label") v_rtidx+=("$r")
  IFS=+ read -ra ss <<< "${snaps:-}"
  [[ ${#ss[@]} -eq 0 ]] && ss=("")
  for s in "${ss[@]}"; do
    v_engine+=(ctr) v_rt+=("$rt") v_snap+=("$s") v_label+=("$label") v_rtidx+=("$r")
  done
  r=$((r + 1))
done
nrt=$r

podman_once() { # RUNTIME
  podman "${PODMAN_FLAGS[@]}" --runtime "$1" run --rm --network none --cgroup-parent "$CGROUP_PARENT" "$IMAGE" /bin/true
}
ctr_once() { # RUNTIME SNAPSHOTTER ID
  nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS" run --rm --runc-binary "$1" \
    --cgroup "$CGROUP_PARENT/ctr-$3" ${2:+--snapshotter "$2"} "$IMAGE" "$3" /bin/true
}
# one run of variant V (round R), its wall time in ms on stdout
once() {
  local v=$1 round=$2 t0 t1
  t0=$(date +%s%N)
  if [[ ${v_engine[$v]} == podman ]]; then
    podman_once "${v_rt[$v]}" > /dev/null || { echo "latency.sh: podman run with ${v_rt[$v]} failed (round $round)" >&2; return 1; }
  else
    ctr_once "${v_rt[$v]}" "${v_snap[$v]}" "lat-$v-$round" > /dev/null \
      || { echo "latency.sh: ctr run with ${v_rt[$v]} (snapshotter ${v_snap[$v]:-default}) failed (round $round)" >&2; return 1; }
  fi
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 )) | awk '{ print $1 / 1000 }'
}

out=$(mktemp -d "$D/latency.XXXXXX")
for v in "${!v_engine[@]}"; do once "$v" warm > /dev/null; : > "$out/$v"; done
for round in $(seq "$n"); do
  # the runtimes' order rotates each round; a runtime's variants stay together
  for k in $(seq 0 $((nrt - 1))); do
    want=$(( (k + round) % nrt ))
    for v in "${!v_engine[@]}"; do
      if [[ ${v_rtidx[$v]} -eq $want ]]; then once "$v" "$round" >> "$out/$v"; fi
    done
  done
done

# median min max of a file of numbers
stats() { sort -n "$1" | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f %d\n", m, a[1], a[NR], NR }'; }
printf '%-6s %-10s %-11s %10s %8s %8s %4s %7s\n' engine runtime snapshotter median_ms min max n ratio
for v in "${!v_engine[@]}"; do
  read -r med min max cnt < <(stats "$out/$v")
  ratio=-
  for b in "${!v_engine[@]}"; do
    if [[ ${v_rtidx[$b]} -eq 0 && ${v_engine[$b]} == "${v_engine[$v]}" && ${v_snap[$b]} == "${v_snap[$v]}" ]]; then
      ratio=$(awk -v a="$med" -v b="$(stats "$out/$b" | cut -d' ' -f1)" 'BEGIN { printf "%.2f", a / b }')
    fi
  done
  snap=-
  [[ ${v_engine[$v]} == ctr ]] && snap=${v_snap[$v]:-default}
  printf '%-6s %-10s %-11s %10s %8s %8s %4s %7s\n' "${v_engine[$v]}" "${v_label[$v]}" "$snap" "$med" "$min" "$max" "$cnt" "$ratio"
done
rm -rf "$out"
