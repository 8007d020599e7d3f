#!/usr/bin/env bash
# Undoes setup.sh for $ENGINE_DIR, and whatever the tests left running in it. Every step is
# tried even when an earlier one fails; safe to run twice. In order:
#  1. politely: `podman rm -af -t 0` and, for containerd, task kill/rm + container rm (bounded
#     by `timeout`: a broken runtime must not hang the teardown);
#  2. by pid, never by name: every process whose cmdline names ENGINE_DIR (conmon, podman's
#     exit commands, runtime wrappers) or that lives in containerd's private mount namespace
#     (containerd, the shims it daemonised, ctr), TERM then KILL; then whatever is still in a
#     cgroup under our parent (container inits orphaned by a killed shim or conmon);
#  3. cgroups under the parent in every hierarchy, deepest first, then the parent's own path
#     up to the first directory that existed before setup (runc and conmon mkdir -p the whole
#     path in every v1 hierarchy, and runc also in the v2 mount);
#  4. the runtimes' state left by killed podman containers (/run/runc/<id>, /run/crun/<id>,
#     /run/bvisor/containers/<id>: only directories named by our own 64-hex container ids),
#     the mounts podman made in our namespace under ENGINE_DIR (/dev/shm of each container),
#     the host directories setup.sh saw missing (if empty), and ENGINE_DIR itself.
# Exit status 1 when something could not be removed (it is named on stderr).
set -uo pipefail
D=${ENGINE_DIR:?ENGINE_DIR is required}
[[ -d $D ]] || exit 0
D=$(cd "$D" && pwd -P)
C=$D/containerd
status=0

ctrd_pid=""
if [[ -f $C/pid ]]; then
  p=$(cat "$C/pid")
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == containerd ]] && ctrd_pid=$p
fi

# ---- 1. politely ----
if [[ -f $D/podman/containers.conf ]]; then
  export CONTAINERS_CONF=$D/podman/containers.conf CONTAINERS_STORAGE_CONF=$D/podman/storage.conf
  pflags=(--root "$D/podman/root" --runroot "$D/podman/runroot" --tmpdir "$D/podman/tmp"
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
  if [[ -n $(timeout 20 podman "${pflags[@]}" ps -aq 2>/dev/null) ]]; then
    timeout 60 podman "${pflags[@]}" rm -af -t 0 > /dev/null 2>&1 || echo "teardown.sh: podman rm -af failed; killing by pid" >&2
  fi
fi
if [[ -n $ctrd_pid ]]; then
  ctr=(timeout 20 nsenter --target "$ctrd_pid" --mount ctr --address "$C/containerd.sock")
  for t in $("${ctr[@]}" task ls -q 2>/dev/null); do
    "${ctr[@]}" task kill -s KILL "$t" > /dev/null 2>&1
  done
  for t in $("${ctr[@]}" task ls -q 2>/dev/null); do
    "${ctr[@]}" task rm -f "$t" > /dev/null 2>&1
  done
  for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    "${ctr[@]}" containers rm "$c" > /dev/null 2>&1
  done
fi

# ---- 2. by pid ----
ancestors=" "
a=$$
while [[ -n $a && $a != 0 ]]; do
  ancestors+="$a "
  a=$(awk '{ print $4 }' "/proc/$a/stat" 2>/dev/null)
done
our_pids() {
  local ns="" p
  [[ -n $ctrd_pid ]] && ns=$(readlink "/proc/$ctrd_pid/ns/mnt" 2>/dev/null)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $ancestors == *" $p "* || $p == "$BASHPID" ]] && continue
    if [[ -n $ns && $(readlink "/proc/$p/ns/mnt" 2>/dev/null) == "$ns" ]]; then echo "$p"; continue; fi
    tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -qF "$D" && echo "$p"
  done
}
# kill -0 succeeds on a zombie, which may wait a while for our pid 1 to reap it: not running.
running() { [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == [^ZX] ]]; }
stop_all() {
  local pids left p
  pids=$(our_pids)
  [[ -z $pids ]] && return 0
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 50); do
    left=""
    for p in $pids; do running "$p" && left+=" $p"; done
    [[ -z $left ]] && return 0
    sleep 0.1
  done
  kill -KILL $left 2>/dev/null
  sleep 0.2
}
stop_all
parent=""
[[ -f $D/cgroup-parent ]] && parent=$(cat "$D/cgroup-parent")
if [[ -n $parent ]]; then
  for _ in 1 2 3 4 5; do
    procs=$(find /sys/fs/cgroup/*"$parent" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    [[ -z $procs ]] && break
    kill -KILL $procs 2>/dev/null
    sleep 0.2
  done
  stop_all   # a conmon may have spawned an exit command when its container died
fi

# ---- 3. cgroups ----
if [[ -n $parent ]]; then
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [[ -d $h$parent ]] || continue
    for _ in 1 2 3; do
      find "$h$parent" -depth -type d -exec rmdir {} \; 2>/dev/null
      [[ -d $h$parent ]] || break
      sleep 0.2   # a cgroup whose last task just died can be busy for a moment
    done
    d=$parent
    while [[ -n $d && $d != / ]]; do
      grep -qxF "$h$d" "$D/cgroup-preexisting" 2>/dev/null && break
      [[ -d $h$d ]] && { rmdir "$h$d" 2>/dev/null || break; }
      d=${d%/*}
    done
    if [[ -d $h$parent ]]; then echo "teardown.sh: cgroup left: $h$parent" >&2; status=1; fi
  done
fi

# ---- 4. state, mounts, directories ----
for b in "$D"/podman/root/vfs-containers/*/; do
  id=$(basename "$b")
  [[ $id =~ ^[0-9a-f]{64}$ ]] || continue
  for r in /run/runc /run/crun /run/bvisor/containers; do [[ -d $r/$id ]] && rm -rf "${r:?}/$id"; done
done
for _ in 1 2 3; do
  mnts=$(awk -v d="$D" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  [[ -z $mnts ]] && break
  for m in $mnts; do umount -l "$m" 2>/dev/null; done
done
if [[ -n $(awk -v d="$D" 'index($5, d) == 1' /proc/self/mountinfo) ]]; then
  echo "teardown.sh: mounts left under $D" >&2; status=1
fi
# conmon leaves its console socket (/tmp/conmon-term.*, outside any directory we name) when the
# runtime fails `create --console-socket`: remove those made since setup that nobody is bound
# to any more (a live one is listed in /proc/net/unix; another session's may be in use).
if [[ -f $D/cgroup-parent ]]; then
  for s in /tmp/conmon-term.*; do
    [[ -S $s && $s -nt $D/cgroup-parent ]] || continue
    grep -qF " $s" /proc/net/unix || rm -f "$s"
  done
fi
if [[ -f $D/host-dirs-made ]]; then
  while read -r h; do [[ -d $h ]] && rmdir "$h" 2>/dev/null; done < "$D/host-dirs-made"
fi
rm -rf "$D" || status=1
[[ -e $D ]] && { echo "teardown.sh: could not remove $D" >&2; status=1; }
exit $status
