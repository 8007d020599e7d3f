#!/usr/bin/env bash
# Assembles a container-mode bundle in DIR: a busybox-static rootfs (busybox, with sh and cat
# as links to it, and /etc/hostname) and a boundary.yaml that pivots into it read-only, with a
# private /tmp, a shell that forks, and the memory and process limits that need a cgroup.
# The VM suite (test/vm/guest.sh) runs it with `bvisor run` at each placement and expects
# "hello from the container" and "bvisor-ct" on stdout, and exit 0.
#
#   test/vm/container-bundle.sh DIR        (DIR is created; it must not exist yet)
#
# Built at run time rather than shipped under bundles/: the rootfs is a copy of the host's
# /bin/busybox (Debian busybox-static, which CI installs), not a binary we want in git.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1 BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "container-bundle: $BUSYBOX is missing (apt-get install busybox-static)" >&2; exit 2; }

mkdir "$DIR"
R=$DIR/rootfs
# proc, dev and tmp are the mount points bvisor fills (fresh /proc, minimal /dev, private /tmp).
mkdir -p "$R"/{bin,etc,proc,dev,tmp}
cp "$BUSYBOX" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
ln -s /bin/busybox "$R/bin/cat"   # absolute: must resolve inside the new root, not the host's
echo bvisor-ct > "$R/etc/hostname"
# The workload runs as an unprivileged host id (65534 when bvisor is root): the bundle must be
# traversable and the rootfs readable by it.
chmod 755 "$DIR" "$R" "$R"/{bin,etc,proc,dev,tmp}
chmod 644 "$R/etc/hostname"

cat > "$DIR/boundary.yaml" <<'EOF'
# A container-mode bundle (test/vm/container-bundle.sh): busybox in its own read-only root.
bvisorVersion: "1"
root: { path: rootfs, readonly: true }
workload:
  process:
    exe: /bin/sh
    args: ["-c", "echo hello from the container > /tmp/greeting && cat /tmp/greeting /etc/hostname"]
    cwd: /
network: deny
spawn: descendants
env:
  PATH: /bin
fds: none
stdio: { stdin: null, stdout: inherit, stderr: inherit }
limits: { wall: 30s, cpus: 1, memory: 64Mi, processes: 16, openFiles: 64 }
tmp: private
guarantee: enforced
EOF
