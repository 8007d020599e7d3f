#!/usr/bin/env bash
# Landlock's audit records need Linux 6.15+ with audit on: neither this machine (audit off, its
# owner's configuration) nor the stock-kernel VM (Debian 12's 6.1) has both. This boots the VM on
# a newer Debian kernel (test/vm/newer-kernel.sh), switches audit on inside the guest (we are
# alone there; bvisor itself never does), and runs the landlock audit tests with the feature
# declared, so they fail rather than skip.
#
#   test/vm/landlock-audit.sh [--no-build] [--timeout S]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=1 TIMEOUT=600
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) echo "usage: $0 [--no-build] [--timeout S]" >&2; exit 2 ;;
  esac
done
if [ "$BUILD" = 1 ]; then npm run -s build >/dev/null; make -s -C native-shim test; fi
KDIR=$(test/vm/newer-kernel.sh)
start=$(date +%s)
rc=0
test/vm/run-in-vm.sh --kernel "$KDIR" --timeout "$TIMEOUT" -- bash -c '
  set -e
  python3 test/helpers/audit.py enable
  echo "landlock-audit: audit $(python3 test/helpers/audit.py status)"
  export BVISOR_CI_REQUIRE=root,landlock-audit BVISOR_TEST_CGROUP_ANYWHERE=1
  node_modules/.bin/vitest run --testTimeout=180000 --hookTimeout=180000 test/security/landlock-audit.live.test.ts
' || rc=$?
echo "landlock-audit: vm part in $(( $(date +%s) - start ))s, exit $rc"
exit "$rc"
