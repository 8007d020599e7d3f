#!/usr/bin/env bash
# Fetches a newer Debian kernel than this machine's for test/vm/run-in-vm.sh --kernel, and prints
# the directory it laid out (boot/vmlinuz-KVER, lib/modules/KVER with depmod's files). Landlock's
# audit records need Linux 6.15+; Debian 12's kernel is 6.1, so this takes linux-image-amd64 from
# trixie-backports (Debian's own build, from the package registry, like every other package here).
# Nothing of the host's apt configuration or /boot changes: a private apt state under the cache
# directory, `apt-get download`, `dpkg-deb -x`. Cached: a second call prints the same directory.
#
#   test/vm/newer-kernel.sh            → /var/tmp/bvisor-vm-test/kernels/<version>
set -euo pipefail
CACHE=/var/tmp/bvisor-vm-test/kernels
SUITE=trixie-backports
log() { echo "newer-kernel: $*" >&2; }
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial"
echo "deb http://deb.debian.org/debian $SUITE main" > "$CACHE/apt/sources.list"
APT=(-o "Dir::Etc::sourcelist=$CACHE/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
     -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt" -o Debug::NoLocking=1
     -o APT::Sandbox::User=root -o Acquire::Languages=none)
# A day-old index is fine; a missing one is fetched (the registry is the only network we use).
if [ -z "$(find "$CACHE/apt/lists" -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
  apt-get -qq "${APT[@]}" update >/dev/null || { log "cannot fetch the $SUITE index"; exit 2; }
fi
# linux-image-amd64 (the metapackage) → linux-image-KVER → linux-binary-KVER + linux-modules-KVER.
meta=$(apt-cache "${APT[@]}" depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$meta" ] || { log "no linux-image in $SUITE"; exit 2; }
KVER=${meta#linux-image-}
DIR=$CACHE/$KVER
if [ ! -f "$DIR/ok" ]; then
  log "fetching $KVER from $SUITE"
  rm -rf "$DIR" "$CACHE/debs"; mkdir -p "$DIR" "$CACHE/debs"
  pkgs=$(apt-cache "${APT[@]}" depends "$meta" | awk '/Depends: linux-(binary|modules)-/ { print $2 }' | sort -u)
  (cd "$CACHE/debs" && apt-get -qq "${APT[@]}" download $pkgs >/dev/null 2>&1) || { log "cannot download $pkgs"; exit 2; }
  for d in "$CACHE"/debs/*.deb; do dpkg-deb -x "$d" "$DIR/x"; done
  mkdir -p "$DIR/boot" "$DIR/lib/modules"
  mv "$DIR/x/usr/lib/modules/$KVER" "$DIR/lib/modules/$KVER"
  if [ -f "$DIR/lib/modules/$KVER/vmlinuz" ]; then mv "$DIR/lib/modules/$KVER/vmlinuz" "$DIR/boot/vmlinuz-$KVER"
  else mv "$DIR"/x/boot/vmlinuz-"$KVER" "$DIR/boot/"; fi
  rm -rf "$DIR/x" "$CACHE/debs"
  depmod -b "$DIR" "$KVER" 2>/dev/null
  touch "$DIR/ok"
fi
echo "$DIR"
