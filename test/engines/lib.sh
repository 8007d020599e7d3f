# Sourced by podman.sh, ctr.sh and latency.sh: reads what setup.sh left in $ENGINE_DIR and
# turns a runtime given on the command line into the absolute executable the engines get.
# shellcheck shell=bash

engine_load() {
  D=${ENGINE_DIR:?ENGINE_DIR is required: run test/engines/setup.sh first}
  [[ -f $D/cgroup-parent && -f $D/podman/containers.conf ]] || { echo "$D: not prepared by setup.sh" >&2; return 1; }
  D=$(cd "$D" && pwd -P)
  CGROUP_PARENT=$(cat "$D/cgroup-parent")
  IMAGE=localhost/bvisor-busybox:latest
  export CONTAINERS_CONF=$D/podman/containers.conf CONTAINERS_STORAGE_CONF=$D/podman/storage.conf
  PODMAN_FLAGS=(--root "$D/podman/root" --runroot "$D/podman/runroot" --tmpdir "$D/podman/tmp"
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
  CTRD_PID=$(cat "$D/containerd/pid" 2>/dev/null || true)
  CTRD_ADDRESS=$D/containerd/containerd.sock
}

# The executable the engines are given for RUNTIME (a name on PATH, a path, or bvisor's
# bin/run.js). Engines need an absolute path, and podman picks its flags by the basename:
# only a runtime named in containers.conf `runtime_supports_json` gets `--log-format=json
# --log FILE` (setup.sh adds `bvisor` to that list), so every wrapper keeps its runtime's name.
#  - a `.js` file (bvisor): a two-line sh wrapper `<D>/runtimes/bvisor/bvisor` that execs
#    node on it (conmon and the containerd shim exec the path directly, with their own PATH);
#  - crun: crun 1.8 refuses this hybrid host ("cgroups in hybrid mode not supported, drop all
#    controllers from cgroupv2": the v2 mount at /sys/fs/cgroup/unified has `hugetlb` in
#    cgroup.controllers, and we may not change that). What works: run crun in a private mount
#    namespace with an empty tmpfs over /sys/fs/cgroup/unified, so crun sees plain cgroup v1.
#    The wrapper `<D>/runtimes/crun/crun` is `unshare -m` + that mount + exec crun; unshare
#    and sh exec, so the pid conmon/the shim see is crun's (and then the container's init).
#    The container's own mount namespace is cloned from that private one; later calls
#    (start, kill, delete, exec) need no shared mount namespace, only /run/crun.
#  - anything else: its absolute path.
engine_runtime() {
  local rt=$1 abs
  if [[ $rt == */* ]]; then abs=$(cd "$(dirname "$rt")" && pwd -P)/$(basename "$rt")
  else abs=$(command -v "$rt") || { echo "runtime not found: $rt" >&2; return 1; }
  fi
  [[ -e $abs ]] || { echo "runtime not found: $abs" >&2; return 1; }
  if [[ $abs == *.js ]]; then
    local w=$D/runtimes/bvisor/bvisor
    # The engines' storage is under $D, not in /var/lib/containers: bvisor bridges root-owned
    # container files (a podman vfs layer, its /etc/hosts) only in storage it is told to trust.
    if [[ ! -x $w ]] || ! grep -qF "$(dirname "$abs")/bvisor" "$w" || ! grep -qF BVISOR_OCI_STORAGE "$w"; then
      mkdir -p "$(dirname "$w")"
      # bin/bvisor, the command users run (it starts from the snapshot when it can), with
      # node's directory on PATH for its fallback.
      printf '#!/bin/sh\nPATH=%s:$PATH BVISOR_OCI_STORAGE=%s exec %s "$@"\n' "$(dirname "$(command -v node)")" "$D" "$(dirname "$abs")/bvisor" > "$w.tmp" && chmod +x "$w.tmp" && mv "$w.tmp" "$w"
    fi
    echo "$w"
  elif [[ $(basename "$abs") == crun ]] && engine_cgroup_hybrid; then
    local w=$D/runtimes/crun/crun
    if [[ ! -x $w ]] || ! grep -qF "$abs" "$w"; then
      mkdir -p "$(dirname "$w")"
      printf '#!/bin/sh\n# crun refuses a hybrid host whose v2 mount has controllers: hide that mount from it\nexec unshare -m sh -c '\''mount -t tmpfs -o size=4k,mode=755 bvisor-hide-unified /sys/fs/cgroup/unified && exec %s "$@"'\'' crun "$@"\n' "$abs" > "$w.tmp" \
        && chmod +x "$w.tmp" && mv "$w.tmp" "$w"
    fi
    echo "$w"
  else
    echo "$abs"
  fi
}

# Hybrid: /sys/fs/cgroup is not itself cgroup2 and the v2 mount at unified/ has controllers.
engine_cgroup_hybrid() {
  [[ $(stat -f -c %T /sys/fs/cgroup) != cgroup2fs ]] && [[ -r /sys/fs/cgroup/unified/cgroup.controllers ]] \
    && [[ -n $(tr -d ' \n' < /sys/fs/cgroup/unified/cgroup.controllers) ]]
}
