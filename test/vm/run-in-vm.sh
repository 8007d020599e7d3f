#!/usr/bin/env bash
# Runs one command inside a throwaway VM booted from Debian 12's stock kernel
# (linux-image-amd64, 6.1: pure cgroup v2 with cpu/memory/pids/io, landlock ABI 2), the kind of
# host most users have, unlike our development machines (hybrid cgroups, landlock ABI 7).
#
#   test/vm/run-in-vm.sh [--scope] [--mem MiB] [--cpus N] [--timeout S] [--kernel DIR] -- COMMAND [ARG...]
#
# --kernel DIR boots another kernel: DIR/boot/vmlinuz-KVER with its modules under
# DIR/lib/modules/KVER (depmod'ed), as test/vm/newer-kernel.sh lays one out.
# The guest sees this machine's root read-only over 9p with a tmpfs overlay on top, so the
# checkout, node and node_modules are the host's own; writes stay in the guest and vanish.
# /tmp is a fresh ext4 disk, as on a stock Debian 12 install (/tmp on the root filesystem), so
# temp dirs support what real disks do (idmapped mounts: not overlayfs, not tmpfs before 6.3).
# COMMAND runs as root in the current directory with a fresh /proc, /sys, /run and the cgroup2
# hierarchy at /sys/fs/cgroup. Without --scope it sits at the hierarchy root (as under a
# container engine); with --scope it first moves into /user.slice/user-0.slice/session-1.scope
# with cpu, memory, pids and io enabled down to it, as systemd places a root login shell.
# Its output streams to ours; its exit status is ours (124 when the VM timed out or died).
#
# There is no usable KVM on our machines, so qemu emulates the CPU (TCG): the guest boots in
# ~10 s and node starts in seconds. Needs root: first use installs qemu-system-x86,
# linux-image-amd64, busybox-static and cpio (kmod and e2fsprogs where missing) with apt-get,
# and caches a small initramfs under /var/tmp/bvisor-vm-test/.
set -euo pipefail

usage() { echo "usage: $0 [--scope] [--mem MiB] [--cpus N] [--timeout S] [--kernel DIR] -- COMMAND [ARG...]" >&2; exit 2; }
SCOPE=0 MEM=3072 CPUS=$(nproc) TIMEOUT=900 KDIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --scope) SCOPE=1; shift ;;
    --mem) MEM=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --kernel) KDIR=$2; shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
log() { echo "vm: $*" >&2; }

# --- what the host needs -------------------------------------------------------------------
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || missing+=(linux-image-amd64)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v modprobe >/dev/null || [ -x /sbin/modprobe ] || missing+=(kmod)
command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Try without an index refresh first: a CI job that just ran apt-get update needs none.
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { log "cannot install ${missing[*]} (are we root, with a package mirror?)"; exit 2; }
  fi
fi
MODPROBE=$(command -v modprobe || echo /sbin/modprobe)
MKFS=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)

# --- kernel and initramfs ------------------------------------------------------------------
if [ -n "$KDIR" ]; then
  VMLINUZ=$(printf '%s\n' "$KDIR"/boot/vmlinuz-* | sort -V | tail -1)
  [ -f "$VMLINUZ" ] || { log "no kernel under $KDIR/boot"; exit 2; }
  MODPROBE="$MODPROBE -d $KDIR"
else
  VMLINUZ=$(printf '%s\n' /boot/vmlinuz-*-amd64 | sort -V | tail -1)
fi
KVER=${VMLINUZ##*/vmlinuz-}
CACHE=/var/tmp/bvisor-vm-test

# The initramfs's /init: load the modules listed in /modules (dependency order), mount the
# host's root read-only over 9p, put a tmpfs overlay on it, mount the writable job share at
# its own path and switch into the overlay, where the job's guest-init takes over.
INIT=$(cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
while read -r m; do insmod "$m" 2>/dev/null; done < /modules
die() { echo "vm-init: $*"; poweroff -f; }
# multidevs=remap: the export spans several host filesystems (/, /proc, /sys…); without it
# their inode numbers collide in the guest.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || die "9p mount of the host root failed"
mount -t tmpfs -o size=75% tmpfs /upper && mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || die "overlay mount failed"
job=$(sed -n 's/.*bvjob=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 jobdir "/newroot$job" || die "9p mount of the job directory failed"
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot "$job/guest-init"
EOF
)
MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_blk ext4)
# The cache key covers what the initramfs is made of (this script, busybox, the kernel), so a
# change to any of them builds a new one.
KEY=$(cat "${BASH_SOURCE[0]}" /bin/busybox "$VMLINUZ" | sha256sum | cut -c1-16)
INITRD=$CACHE/initrd-$KVER-$KEY.gz
if [ ! -s "$INITRD" ]; then
  log "building the initramfs for $KVER"
  mkdir -p "$CACHE"; IR=$(mktemp -d "$CACHE/ir.XXXXXX")
  mkdir -p "$IR"/{bin,dev,proc,sys,lower,upper,newroot,mod}
  cp /bin/busybox "$IR/bin/busybox"
  # The modules and their dependencies, in load order, as modprobe resolves them (built-in
  # ones print "builtin" and need nothing). Compressed modules are unpacked for busybox insmod.
  : > "$IR/modules"
  for ko in $(for m in "${MODULES[@]}"; do $MODPROBE -S "$KVER" --show-depends "$m"; done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
    name=$(basename "$ko"); name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
    case "$ko" in
      *.xz) xz -dc "$ko" > "$IR/mod/$name" ;; *.zst) zstd -qdc "$ko" > "$IR/mod/$name" ;;
      *.gz) gzip -dc "$ko" > "$IR/mod/$name" ;; *) cp "$ko" "$IR/mod/$name" ;;
    esac
    echo "/mod/$name" >> "$IR/modules"
  done
  printf '%s\n' "$INIT" > "$IR/init"; chmod 755 "$IR/init"
  (cd "$IR" && find . -mindepth 1 | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp.$$"
  rm -f "$CACHE/initrd-$KVER-"*.gz   # older versions of this script's (a booting qemu has read its copy)
  mv "$INITRD.tmp.$$" "$INITRD"; rm -rf "$IR"
fi

# --- the job -------------------------------------------------------------------------------
# A directory shared read-write with the guest: the command, its directory, the placement in;
# the exit status out (a file, not a line scraped from the console, which the command could
# print itself).
JOB=$(mktemp -d "$CACHE/job.XXXXXX")
trap 'rm -rf "$JOB"' EXIT
printf '%q ' "$@" > "$JOB/cmd"
pwd > "$JOB/cwd"
echo "$SCOPE" > "$JOB/scope"
# The guest's /tmp: sparse, so only what the guest writes takes space; made fresh for each boot.
truncate -s 8G "$JOB/tmp.img"
"$MKFS" -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$JOB/tmp.img"
cat > "$JOB/guest-init" <<'EOF'
#!/bin/bash
# PID 1 in the guest: mount what a booted system has, place ourselves, run the command, record
# its status, power off.
J=$(dirname "$0")
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
# A checkout under /tmp (a CI clone, say) must stay visible once the fresh disk covers /tmp:
# carry it over with a bind mount.
CWD=$(cat "$J/cwd")
case "$CWD" in /tmp/*) mkdir -p /mnt/bvisor-cwd && mount --bind "$CWD" /mnt/bvisor-cwd ;; esac
mount -t ext4 /dev/vda /tmp && chmod 1777 /tmp
case "$CWD" in /tmp/*) mkdir -p "$CWD" && mount --bind /mnt/bvisor-cwd "$CWD" ;; esac
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname bvisor-vm
# No NIC, but loopback up, as on any booted host: tests reach listeners of their own on 127.0.0.1.
ip link set lo up 2>/dev/null || busybox ip link set lo up
export HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ "$(cat "$J/scope")" = 1 ]; then
  # systemd's layout for a root login: controllers enabled from the root down to the slice
  # holding the scope (a cgroup with processes cannot enable them for children: no internal
  # processes), and the shell in the scope.
  S=/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope
  mkdir -p "$S"
  for c in /sys/fs/cgroup /sys/fs/cgroup/user.slice /sys/fs/cgroup/user.slice/user-0.slice; do
    echo "+cpu +memory +pids +io" > "$c/cgroup.subtree_control"
  done
  echo $$ > "$S/cgroup.procs"
fi
cd "$(cat "$J/cwd")"
echo "vm: kernel $(uname -r), $(nproc) cpus, cgroup $(stat -fc %T /sys/fs/cgroup), in $(cut -d: -f3 /proc/self/cgroup)"
# Through a pipe, not the console tty: tools then print plain logs, not terminal repaints.
bash -c "$(cat "$J/cmd")" < /dev/null 2>&1 | cat
echo "${PIPESTATUS[0]}" > "$J/rc"
sync
exec 2>/dev/null   # the host share goes away under us as the machine powers off
echo o > /proc/sysrq-trigger
sleep 30
EOF
chmod 755 "$JOB/guest-init"

# --- boot ----------------------------------------------------------------------------------
# -nodefaults: no NIC (so no iPXE ROM to probe), no VGA; the serial port is the console.
# thread=single: with multi-threaded TCG (qemu 7.2, Debian 12), node died of SIGILL in about one
# vitest run in ten, the kernel logging "trap invalid opcode" at an address in V8's JIT code
# (with or without AVX in the guest CPU); with one TCG thread, none did in our runs. It costs
# ~1.5x in speed; a flaky VM would cost more.
# Line by line (sed -u: a buffered filter would hold a slow test's output back for minutes),
# without carriage returns, terminal escapes and firmware banners.
set +e
timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  -accel tcg,thread=single -cpu max -smp "$CPUS" -m "$MEM" \
  -kernel "$VMLINUZ" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=1 panic=-1 bvjob=$JOB" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
  -virtfs "local,path=$JOB,mount_tag=jobdir,security_model=passthrough" \
  -drive "file=$JOB/tmp.img,format=raw,if=virtio,cache=unsafe" \
  < /dev/null 2>&1 | sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' \
    -e '/^SeaBIOS/d' -e '/^Booting from ROM/d' -e '/sysrq: Power Off/d' -e '/reboot: Power down/d' -e '1,/^vm: kernel/{/^$/d}'
qrc=${PIPESTATUS[0]}
set -e
if [ ! -s "$JOB/rc" ]; then
  [ "$qrc" = 124 ] && log "timed out after ${TIMEOUT}s" || log "the guest died without reporting a status (qemu exit $qrc)"
  exit 124
fi
exit "$(cat "$JOB/rc")"
