#!/usr/bin/env bash
# Wall time of one container through each engine: `latency.sh RUNTIME N` runs
# `podman run --rm IMAGE /bin/true` and `ctr run --rm IMAGE ID /bin/true` N times each (after
# one warm-up run each) with RUNTIME behind them, and prints the median, min and max in ms.
# The engine commands are timed directly (the flags of podman.sh/ctr.sh, without their bash);
# a failed run fails the script. ENGINE_CTR_SNAPSHOTTER as in ctr.sh.
# Uses $ENGINE_DIR if set (already prepared or not); otherwise makes one and tears it down.
set -euo pipefail
shopt -s inherit_errexit   # a failed run inside $(measure ...) must fail the script, not be timed
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -eq 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "usage: latency.sh RUNTIME N" >&2; exit 2; }
runtime=$1 n=$2

if [[ -z ${ENGINE_DIR:-} ]]; then
  ENGINE_DIR=$(mktemp -d /tmp/bvisor-engines.XXXXXX)
  export ENGINE_DIR
  trap '"$here/teardown.sh"' EXIT
fi
"$here/setup.sh" > /dev/null
engine_load
rt=$(engine_runtime "$runtime")

podman_once() {
  podman "${PODMAN_FLAGS[@]}" --runtime "$rt" run --rm --network none --cgroup-parent "$CGROUP_PARENT" "$IMAGE" /bin/true
}
ctr_once() {
  nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS" run --rm --runc-binary "$rt" \
    --cgroup "$CGROUP_PARENT/ctr-lat-$1" ${ENGINE_CTR_SNAPSHOTTER:+--snapshotter "$ENGINE_CTR_SNAPSHOTTER"} "$IMAGE" "lat-$1" /bin/true
}
# median/min/max of the numbers (ms) on stdin
stats() { sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median %.1f ms  min %.1f  max %.1f  (n=%d)\n", m, a[1], a[NR], NR }'; }
measure() {
  local what=$1 i t0 t1
  "${what}_once" warm > /dev/null || { echo "latency.sh: $what run failed" >&2; return 1; }
  for i in $(seq "$n"); do
    t0=$(date +%s%N)
    "${what}_once" "$i" > /dev/null || { echo "latency.sh: $what run $i failed" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) | awk '{ print $1 / 1000 }'
  done | stats
}
echo "runtime: $rt"
r=$(measure podman)
echo "podman run --rm /bin/true: $r"
r=$(measure ctr)
echo "ctr run --rm /bin/true:    $r"
