#!/usr/bin/env bash
# ctr against the harness's private containerd: `ctr.sh RUNTIME SUBCOMMAND ARGS...`.
# ctr runs in containerd's mount namespace (nsenter): containerd 1.6 and its shim keep fifos
# and sockets under a hard-coded /run/containerd, which setup.sh bind-mounted from
# $ENGINE_DIR/run in that namespace only. `run` also gets `--runc-binary RUNTIME` (lib.sh) and
# `--cgroup <parent>/ctr-<id>` under our own memory cgroup (without it ctr's default is
# /default/<id>, outside our subtree). For other subcommands RUNTIME is ignored (the shim
# remembers the binary of each task), so `ctr.sh - task kill ID` is fine.
# ENGINE_CTR_SNAPSHOTTER=native makes `run` use plain directories instead of containerd's
# default overlayfs snapshots (a runtime that idmaps the rootfs cannot idmap an overlay mount).
# The id is found as the second positional argument of `run` (IMAGE ID CMD...): flags taking a
# value must be written `--flag=value` or be one of the value flags listed below.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -ge 2 ]] || { echo "usage: ctr.sh RUNTIME SUBCOMMAND ARGS..." >&2; exit 2; }
engine_load
[[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2>/dev/null || { echo "ctr.sh: the harness's containerd is not running (setup.sh)" >&2; exit 1; }
runtime=$1
shift
sub=$1
shift
extra=()
if [[ $sub == run ]]; then
  valued=' --log-uri --fifo-dir --cgroup --platform --runc-binary --runc-root --uidmap --gidmap --cpus --cpu-shares --snapshotter --snapshotter-label --config -c --cwd --env --env-file --label --annotation --mount --runtime --runtime-config-path --with-ns --pid-file --gpus --memory-limit --device --cap-add --cap-drop --seccomp-profile --apparmor-default-profile --apparmor-profile --rdt-class --rootfs-propagation --cpu-quota --cpu-period --user -u --hostname '
  pos=()
  skip=0
  for a in "$@"; do
    if [[ $skip -eq 1 ]]; then skip=0; continue; fi
    case $a in
      --) break ;;
      -*=*) ;;
      -*) [[ $valued == *" $a "* ]] && skip=1 ;;
      *) pos+=("$a"); [[ ${#pos[@]} -ge 2 ]] && break ;;
    esac
  done
  [[ ${#pos[@]} -ge 2 ]] || { echo "ctr.sh: run needs IMAGE ID" >&2; exit 2; }
  extra=(--runc-binary "$(engine_runtime "$runtime")" --cgroup "$CGROUP_PARENT/ctr-${pos[1]}")
  [[ -n ${ENGINE_CTR_SNAPSHOTTER:-} ]] && extra+=(--snapshotter "$ENGINE_CTR_SNAPSHOTTER")
fi
exec nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS" "$sub" "${extra[@]}" "$@"
