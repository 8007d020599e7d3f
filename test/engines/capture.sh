#!/usr/bin/env bash
# Re-captures test/fixtures/oci: what podman and containerd send to an OCI runtime. RUNTIME
# (default runc) runs behind a logging wrapper that appends each call's argv to calls.log,
# copies <bundle>/config.json at `create` and the --process file at `exec`, then execs it. The
# wrapper is named `runc` so that podman sends what it sends to runc (it picks --log flags by
# the runtime's basename). `capture.sh OUTDIR [RUNTIME]` writes into OUTDIR, with temp paths
# and ids replaced by placeholders (see test/fixtures/oci/calls.md):
#   podman-config.json podman-tty-config.json podman-exec-process.json podman-calls.txt
#   containerd-config.json containerd-exec-process.json containerd-calls.txt
# Fixtures are re-blessed on purpose: compare OUTDIR with test/fixtures/oci, then copy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $# -ge 1 ]] || { echo "usage: capture.sh OUTDIR [RUNTIME]" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd -P)
real=${2:-runc}

ENGINE_DIR=$(mktemp -d /tmp/bvisor-engines.XXXXXX)
export ENGINE_DIR
trap '"$here/teardown.sh"' EXIT
"$here/setup.sh" > /dev/null
engine_load
real=$(engine_runtime "$real")

wrap() { # wrap NAME: a logging runc at $D/capture/NAME/runc, logging into $D/capture/NAME.log/
  local w=$D/capture/$1/runc log=$D/capture/$1.log
  mkdir -p "$(dirname "$w")" "$log"
  cat > "$w" <<WRAP
#!/bin/bash
log=$log
n=\$(date +%s%N)
{ printf '%s' "\$0"; printf ' %s' "\$@"; echo; } >> "\$log/calls.log"
bundle=. process= prev= cmd=
for a in "\$@"; do
  case \$prev in --bundle|-b) bundle=\$a ;; --process|-p) process=\$a ;; esac
  case \$a in --bundle=*) bundle=\${a#--bundle=} ;; --process=*) process=\${a#--process=} ;; esac
  [[ -z \$cmd && ( \$a == create || \$a == exec ) ]] && cmd=\$a
  prev=\$a
done
[[ \$cmd == create ]] && cp "\$bundle/config.json" "\$log/config-\$n.json"
[[ \$cmd == exec && -n \$process ]] && cp "\$process" "\$log/process-\$n.json"
exec $real "\$@"
WRAP
  chmod +x "$w"
  echo "$w"
}
mark() { echo "--- $2" >> "$D/capture/$1.log/calls.log"; }
newest() { ls "$D/capture/$1.log/"$2-*.json | tail -1; }

# ---- podman ----
pw=$(wrap podman)
p() { podman "${PODMAN_FLAGS[@]}" --runtime "$pw" "$@"; }
pnet=(--network none --cgroup-parent "$CGROUP_PARENT")
mark podman 'run --rm IMAGE /bin/true'
p run --rm "${pnet[@]}" "$IMAGE" /bin/true
cp "$(newest podman config)" "$D/capture/podman-config.json"
mark podman 'run --rm -t IMAGE sh -c "tty; exit 5"'
script -qec "$(printf '%q ' podman "${PODMAN_FLAGS[@]}" --runtime "$pw" run --rm -t "${pnet[@]}" "$IMAGE" sh -c 'tty; exit 5')" /dev/null > /dev/null || true
cp "$(newest podman config)" "$D/capture/podman-tty-config.json"
mark podman 'run -d --name cap IMAGE sleep 1000'
p run -d "${pnet[@]}" --name cap "$IMAGE" sleep 1000 > /dev/null
mark podman 'exec cap sh -c "echo hi from exec; exit 4"'
p exec cap sh -c 'echo hi from exec; exit 4' > /dev/null || true
cp "$(newest podman process)" "$D/capture/podman-exec-process.json"
mark podman 'stop -t 2 cap'
p stop -t 2 cap > /dev/null 2>&1
mark podman 'rm cap'
p rm cap > /dev/null

# ---- containerd ----
cw=$(wrap ctr)
c() { nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS" "$@"; }
mark ctr 'run --rm IMAGE cap-a /bin/true'
c run --rm --runc-binary "$cw" --cgroup "$CGROUP_PARENT/cap-a" "$IMAGE" cap-a /bin/true
cp "$(newest ctr config)" "$D/capture/containerd-config.json"
mark ctr 'run -d IMAGE cap-b sleep 1000'
c run -d --runc-binary "$cw" --cgroup "$CGROUP_PARENT/cap-b" "$IMAGE" cap-b sleep 1000
mark ctr 'task exec --exec-id e1 cap-b sh -c "echo hi from exec; exit 4"'
c task exec --exec-id e1 cap-b sh -c 'echo hi from exec; exit 4' > /dev/null || true
cp "$(newest ctr process)" "$D/capture/containerd-exec-process.json"
mark ctr 'task kill -s KILL cap-b'
c task kill -s KILL cap-b
sleep 0.5
mark ctr 'task rm cap-b'
c task rm cap-b > /dev/null 2>&1 || true
mark ctr 'container rm cap-b'
c container rm cap-b
mark ctr 'run --rm -t IMAGE cap-c sh -c "tty; exit 6"'
script -qec "$(printf '%q ' nsenter --target "$CTRD_PID" --mount ctr --address "$CTRD_ADDRESS" run --rm -t --runc-binary "$cw" --cgroup "$CGROUP_PARENT/cap-c" "$IMAGE" cap-c sh -c 'tty; exit 6')" /dev/null > /dev/null || true
cp "$D/capture/podman.log/calls.log" "$D/capture/podman-calls.txt"
cp "$D/capture/ctr.log/calls.log" "$D/capture/containerd-calls.txt"

# ---- placeholders (order matters: the longest, most specific paths first) ----
node - "$D" "$CGROUP_PARENT" "$out" "$D/capture" <<'JS'
const { readFileSync, writeFileSync } = require('node:fs');
const [D, CG, out, dir] = process.argv.slice(2);
const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const rules = [
  [new RegExp(esc(D) + '/capture/[a-z]+/runc', 'g'), '<runtime>'],
  [new RegExp(esc(D) + '/podman/root/vfs-containers/[0-9a-f]{64}/userdata', 'g'), '<bundle>'],
  [new RegExp(esc(D) + '/podman/runroot/vfs-containers/[0-9a-f]{64}/userdata', 'g'), '<runroot>/vfs-containers/<id>/userdata'],
  [new RegExp(esc(D) + '/podman/root/vfs/dir/[0-9a-f]{64}', 'g'), '<graphroot>/vfs/dir/<layer>'],
  [new RegExp(esc(D) + '/containerd/state/io.containerd.runtime.v2.task/default/[A-Za-z0-9_.-]+', 'g'), '<bundle>'],
  [new RegExp(esc(D), 'g'), '<engine-dir>'],
  [new RegExp(esc(CG), 'g'), '<cgroup-parent>'],
  [/<bundle>\/[0-9a-f]{64}\//g, '<bundle>/<exec-id>/'],
  [/\b[0-9a-f]{64}\b/g, '<id>'],
  [/\bcap-[a-z]\b/g, '<id>'],
  [/\/tmp\/conmon-term\.[A-Za-z0-9]+/g, '/tmp/conmon-term.<random>'],
  [/\/tmp\/runc-process[0-9]+/g, '/tmp/runc-process<random>'],
  [/\/tmp\/pty[0-9]+\//g, '/tmp/pty<random>/'],
  [/exec-process-[0-9]+/g, 'exec-process-<random>'],
];
const clean = (s) => rules.reduce((acc, [re, to]) => acc.replace(re, to), s);
for (const f of ['podman-config', 'podman-tty-config', 'podman-exec-process', 'containerd-config', 'containerd-exec-process']) {
  let j = JSON.parse(clean(readFileSync(`${dir}/${f}.json`, 'utf8')));
  // podman's short id (hostname, HOSTNAME=): its first 12 hex digits
  if (typeof j.hostname === 'string' && /^[0-9a-f]{12}$/.test(j.hostname)) j = JSON.parse(JSON.stringify(j).split(j.hostname).join('<short-id>'));
  writeFileSync(`${out}/${f}.json`, JSON.stringify(j, null, 2) + '\n');
}
for (const f of ['podman-calls', 'containerd-calls']) writeFileSync(`${out}/${f}.txt`, clean(readFileSync(`${dir}/${f}.txt`, 'utf8')));
JS
echo "captured into $out"
