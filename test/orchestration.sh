#!/usr/bin/env bash
# An orchestration script written as a user would: several containers from bundles/, started,
# polled with `state --json` (parsed with node, no jq), one killed, the others waited for, all
# deleted, exit statuses checked from `report --json`. Run by test/orchestration.e2e.test.ts.
set -euo pipefail
BVISOR="node $(dirname "$0")/../bin/run.js"
ROOT=$(mktemp -d)
trap 'for id in hello-a hello-b sleeper; do $BVISOR --root "$ROOT" delete -f "$id" >/dev/null 2>&1 || true; done; rm -rf "$ROOT"' EXIT
field() { node -e "const o=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log($1)"; }

$BVISOR --root "$ROOT" create hello-a -b "$1"
$BVISOR --root "$ROOT" create hello-b -b "$1"
$BVISOR --root "$ROOT" create sleeper -b "$2"
for id in hello-a hello-b sleeper; do
  s=$($BVISOR --root "$ROOT" state "$id" | field o.status)
  [ "$s" = created ] || { echo "$id is $s, not created"; exit 1; }
done
for id in hello-a hello-b sleeper; do $BVISOR --root "$ROOT" start "$id"; done
$BVISOR --root "$ROOT" kill sleeper KILL
for id in hello-a hello-b sleeper; do
  for _ in $(seq 100); do
    s=$($BVISOR --root "$ROOT" state "$id" | field o.status)
    [ "$s" = stopped ] && break
    sleep 0.1
  done
  [ "$s" = stopped ] || { echo "$id did not stop"; exit 1; }
done
a=$($BVISOR --root "$ROOT" report hello-a --json | field o.body.outcome.exitCode)
k=$($BVISOR --root "$ROOT" report sleeper --json | field o.body.outcome.signal)
[ "$a" = 0 ] || { echo "hello-a exit $a"; exit 1; }
[ "$k" = SIGKILL ] || { echo "sleeper signal $k"; exit 1; }
for id in hello-a hello-b sleeper; do $BVISOR --root "$ROOT" delete "$id"; done
n=$($BVISOR --root "$ROOT" journal verify --json | field o.entries)
[ "$n" = 6 ] || { echo "journal has $n entries, not 6 (a start record and a report each)"; exit 1; }
[ -z "$(ls "$ROOT/containers")" ] || { echo "leftovers"; exit 1; }
echo "orchestration ok"
