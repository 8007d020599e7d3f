#!/usr/bin/env bash
# Assembles an OCI bundle in DIR: containerd's real default config.json (the fixture captured
# from containerd 1.6, test/fixtures/oci) over a busybox-static rootfs, running ARGS..., with its
# cgroups at CGROUPS_PATH (linux.cgroupsPath, as an engine would give it). The VM suite
# (test/vm/guest.sh) drives it through run and create/start/pause/resume/kill/delete on a pure
# cgroup v2 host, where the freezer and the config's cgroupsPath take the default v2 paths.
#
#   test/vm/oci-bundle.sh DIR CGROUPS_PATH ARGS...     (DIR is created; it must not exist yet)
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DIR CGROUPS_PATH ARGS..." >&2; exit 2; }
DIR=$1 CGP=$2 BUSYBOX=/bin/busybox
shift 2
[ -x "$BUSYBOX" ] || { echo "oci-bundle: $BUSYBOX is missing (apt-get install busybox-static)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd -P)
mkdir "$DIR"
R=$DIR/rootfs
mkdir -p "$R"/{bin,proc,dev,sys,tmp,run}
cp "$BUSYBOX" "$R/bin/busybox"
for a in sh echo sleep cat; do ln -s busybox "$R/bin/$a"; done
chmod 755 "$DIR" "$R" "$R"/{bin,proc,dev,sys,tmp,run}
node -e '
const [fixture, out, cgp, ...args] = process.argv.slice(1);
const c = JSON.parse(require("fs").readFileSync(fixture, "utf8"));
c.process.args = args;
c.linux.cgroupsPath = cgp;
require("fs").writeFileSync(out, JSON.stringify(c, null, 2));
' "$here/../fixtures/oci/containerd-config.json" "$DIR/config.json" "$CGP" "$@"
