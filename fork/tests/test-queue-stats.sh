#!/bin/sh
# The patch queue stays hooks: C lines changed by patches/ at most 50% of
# the C lines of the repo's own non-test files, and no patch over 250
# added lines (fork/queue-stats.sh --check).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)

if ! "$repo/fork/queue-stats.sh" --check; then
    echo "FAIL: the patch queue is past its targets (see above)"
    exit 1
fi
echo PASS
