#!/usr/bin/env bash
# Prepares everything the engine tests need in ONE directory, $ENGINE_DIR (made if unset):
# a busybox-static rootfs tar, a private podman configuration and storage (vfs) with the image
# `localhost/bvisor-busybox:latest` imported, an OCI image-layout tar of the same rootfs, and a
# containerd started in a private mount namespace (a temp dir over /run, because containerd 1.6
# hard-codes /run/containerd for shim sockets and fifos) with the image imported by ctr.
# Idempotent per ENGINE_DIR: a second call redoes only what is missing (and restarts containerd
# if it is gone). When setup.sh makes ENGINE_DIR itself, a failure tears everything down; when
# the caller names it, the caller runs teardown.sh (the e2e test does in afterAll). Prints the
# environment a test needs as `KEY=value` lines (eval-able). Stop and remove it all with
# teardown.sh. Outside ENGINE_DIR the engines write only the cgroups under the parent named here
# (inside our own memory cgroup), the runtimes' default state roots and podman's hard-coded
# /run/containers/networks (recorded below when missing), and transient sockets in /tmp; all
# of which teardown.sh removes.
set -euo pipefail

IMAGE=localhost/bvisor-busybox:latest
BUSYBOX=${BUSYBOX:-/bin/busybox}

fresh=0
if [[ -z "${ENGINE_DIR:-}" ]]; then
  ENGINE_DIR=$(mktemp -d /tmp/bvisor-engines.XXXXXX)
  fresh=1
fi
mkdir -p "$ENGINE_DIR"
ENGINE_DIR=$(cd "$ENGINE_DIR" && pwd -P)
D=$ENGINE_DIR

# On failure of a fresh setup, leave nothing: teardown knows how to stop what was started.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "setup.sh: failed (exit $rc); tearing down $D" >&2
    ENGINE_DIR=$D "$here/teardown.sh" >&2 || true
  fi
}
[[ $fresh -eq 1 ]] && trap on_exit EXIT

# ---- cgroup parent: inside our own memory cgroup (the workplace owns the hierarchies) ----
if [[ ! -f $D/cgroup-parent ]]; then
  own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' /proc/self/cgroup)
  [[ -z $own ]] && own=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
  own=${own%/}
  echo "$own/bvisor-engines-$$" > "$D/cgroup-parent"
  # Remember which directories of that path exist already in each hierarchy: teardown removes
  # only what the engines added (runc and conmon mkdir -p the whole path in every v1 hierarchy).
  : > "$D/cgroup-preexisting"
  for h in /sys/fs/cgroup/*/; do
    p=${h%/}
    d=""
    IFS=/ read -ra parts <<< "$(cat "$D/cgroup-parent")"
    for part in "${parts[@]}"; do
      [[ -z $part ]] && continue
      d="$d/$part"
      [[ -d $p$d ]] && echo "$p$d" >> "$D/cgroup-preexisting"
    done
  done
fi
CGROUP_PARENT=$(cat "$D/cgroup-parent")

# Host directories the engines make whatever their flags say (runc's and crun's default state
# roots, used by podman's flagless start/kill/delete; bvisor's; podman 4.3 hard-codes
# /run/containers/networks): teardown removes those that did not exist here, if empty.
if [[ ! -f $D/host-dirs-made ]]; then
  : > "$D/host-dirs-made.tmp"
  for h in /run/runc /run/crun /run/bvisor /run/containers/networks /run/containers; do
    [[ -e $h ]] || echo "$h" >> "$D/host-dirs-made.tmp"
  done
  mv "$D/host-dirs-made.tmp" "$D/host-dirs-made"
fi

# ---- rootfs ----
if [[ ! -f $D/rootfs.tar ]]; then
  rm -rf "$D/rootfs"
  mkdir -p "$D/rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root,var,run}
  cp "$BUSYBOX" "$D/rootfs/bin/busybox"
  for app in $("$BUSYBOX" --list); do
    [[ $app == busybox ]] && continue
    ln -sf busybox "$D/rootfs/bin/$app"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$D/rootfs/etc/passwd"
  echo 'root:x:0:' > "$D/rootfs/etc/group"
  chmod 1777 "$D/rootfs/tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$D/rootfs" -cf "$D/rootfs.tar.tmp" .
  mv "$D/rootfs.tar.tmp" "$D/rootfs.tar"
  rm -rf "$D/rootfs"
fi

# ---- podman: private containers.conf + storage.conf ----
mkdir -p "$D/podman"/{root,runroot,tmp,netconf,volumes}
if [[ ! -f $D/podman/containers.conf ]]; then
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  cat > "$D/podman/containers.conf" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/podman/events.log"
lock_type = "file"
# podman passes --log-format=json --log FILE only to runtimes named here (by basename): the
# default list plus bvisor, whose wrapper lib.sh names bvisor.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "bvisor"]
tmp_dir = "$D/podman/tmp"
volume_path = "$D/podman/volumes"
static_dir = "$D/podman/root/libpod"
[network]
network_config_dir = "$D/podman/netconf"
CONF
  cat > "$D/podman/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$D/podman/root"
runroot = "$D/podman/runroot"
CONF
fi
export CONTAINERS_CONF=$D/podman/containers.conf CONTAINERS_STORAGE_CONF=$D/podman/storage.conf
PODMAN_FLAGS=(--root "$D/podman/root" --runroot "$D/podman/runroot" --tmpdir "$D/podman/tmp"
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
if [[ ! -f $D/podman/imported ]]; then
  # As root, image import writes /var/lib/containers/cache/blob-info-cache-v1.boltdb: a tmpfs
  # over /var/lib in a private mount namespace keeps the host clean.
  unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /var/lib && exec "$@"' sh \
    podman "${PODMAN_FLAGS[@]}" import --change 'CMD ["/bin/sh"]' "$D/rootfs.tar" "$IMAGE" > "$D/podman/import.log" 2>&1 \
    || { cat "$D/podman/import.log" >&2; exit 1; }
  touch "$D/podman/imported"
fi

# ---- OCI image layout by hand: one layer (the rootfs tar), a config, a manifest, an index ----
if [[ ! -f $D/oci-image.tar ]]; then
  L=$D/oci-layout
  rm -rf "$L"; mkdir -p "$L/blobs/sha256"
  layer=$(sha256sum "$D/rootfs.tar" | cut -d' ' -f1)
  cp "$D/rootfs.tar" "$L/blobs/sha256/$layer"
  lsize=$(stat -c %s "$D/rootfs.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$L/config"
  cfg=$(sha256sum "$L/config" | cut -d' ' -f1); csize=$(stat -c %s "$L/config"); mv "$L/config" "$L/blobs/sha256/$cfg"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cfg" "$csize" "$layer" "$lsize" > "$L/manifest"
  man=$(sha256sum "$L/manifest" | cut -d' ' -f1); msize=$(stat -c %s "$L/manifest"); mv "$L/manifest" "$L/blobs/sha256/$man"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$man" "$msize" "$IMAGE" > "$L/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
  tar -C "$L" -cf "$D/oci-image.tar.tmp" oci-layout index.json blobs
  mv "$D/oci-image.tar.tmp" "$D/oci-image.tar"
  rm -rf "$L"
fi

# ---- containerd in a private mount namespace, /run bind-mounted from $D/run ----
C=$D/containerd
mkdir -p "$C"/{root,state,opt} "$D/run"
if [[ ! -f $C/config.toml ]]; then
  cat > "$C/config.toml" <<CONF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[debug]
  address = "$C/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
CONF
fi
# Alive = running containerd, not a zombie: a containerd killed after its starter exited stays a
# zombie until our pid 1 reaps it, and kill -0 succeeds on a zombie.
ctrd_alive() {
  local p
  p=$(cat "$C/pid" 2>/dev/null) || return 1
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == containerd ]] && [[ $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) != [ZX] ]]
}
if ! ctrd_alive; then
  rm -f "$C/pid" "$C/containerd.sock" "$C/containerd.sock.ttrpc" "$C/debug.sock"
  # setsid: containerd and the shims it daemonises are in their own session, out of our
  # terminal's signals; teardown stops them by pid.
  setsid unshare -m --propagation private sh -c 'mount --bind "$1" /run && shift && echo $$ > "$0" && exec "$@"' \
    "$C/pid" "$D/run" containerd --config "$C/config.toml" > "$C/containerd.log" 2>&1 < /dev/null &
  for _ in $(seq 100); do
    [[ -S $C/containerd.sock ]] && ctrd_alive && break
    sleep 0.1
  done
  [[ -S $C/containerd.sock ]] || { cat "$C/containerd.log" >&2; echo "setup.sh: containerd did not start" >&2; exit 1; }
fi
CTRD_PID=$(cat "$C/pid")
if [[ ! -f $C/imported ]]; then
  nsenter --target "$CTRD_PID" --mount ctr --address "$C/containerd.sock" images import "$D/oci-image.tar" > "$C/import.log" 2>&1 \
    || { cat "$C/import.log" >&2; exit 1; }
  touch "$C/imported"
fi

cat <<ENV
ENGINE_DIR=$D
ENGINE_IMAGE=$IMAGE
ENGINE_CGROUP_PARENT=$CGROUP_PARENT
CONTAINERS_CONF=$D/podman/containers.conf
CONTAINERS_STORAGE_CONF=$D/podman/storage.conf
CONTAINERD_PID=$CTRD_PID
CONTAINERD_ADDRESS=$C/containerd.sock
ENV
