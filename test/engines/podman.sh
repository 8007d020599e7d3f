#!/usr/bin/env bash
# podman with every private flag of the harness: `podman.sh RUNTIME SUBCOMMAND ARGS...`.
# Storage, run root, temp dir, events and locks are in $ENGINE_DIR (setup.sh); the runtime is
# RUNTIME (see lib.sh: absolute path, crun/bvisor wrappers); `run` and `create` also get
# `--network none` and `--cgroup-parent` under our own memory cgroup (the workplace owns the
# hierarchies: never a cgroup outside our subtree).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -ge 2 ]] || { echo "usage: podman.sh RUNTIME SUBCOMMAND ARGS..." >&2; exit 2; }
engine_load
rt=$(engine_runtime "$1")
shift
sub=$1
shift
extra=()
case $sub in
  run|create) extra=(--network none --cgroup-parent "$CGROUP_PARENT") ;;
esac
exec podman "${PODMAN_FLAGS[@]}" --runtime "$rt" "$sub" "${extra[@]}" "$@"
