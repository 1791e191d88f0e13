#!/bin/sh
# How much of the project's C lives in the patch queue rather than in its
# own files: C lines added or removed by patches/ against C lines of the
# repo's new non-test files, and the patches over 250 added lines.
#
# Usage: fork/queue-stats.sh [--check]   (--check: exit 1 past the targets,
# 50% and no patch over 250 added lines)
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

patch_c=$(awk '
    /^diff --git / { c = ($3 ~ /\.[ch]$/) }
    c && /^[+-]/ && !/^(\+\+\+|---) / { n++ }
    END { print n + 0 }' patches/*.patch)
own_c=$(git ls-files '*.c' '*.h' | grep -v -E '^(tests|fork)/' |
        xargs cat 2>/dev/null | wc -l)
pct=$((patch_c * 100 / (own_c > 0 ? own_c : 1)))
echo "C lines changed by patches: $patch_c; C lines in new non-test files: $own_c; ratio $pct%"
big=$(for p in patches/*.patch; do
          n=$(grep -c '^+[^+]' "$p" || true)
          [ "$n" -le 250 ] || echo "  ${p#patches/}: +$n"
      done)
if [ -n "$big" ]; then
    echo "patches over 250 added lines:"
    echo "$big"
fi
if [ "${1:-}" = --check ] && { [ "$pct" -gt 50 ] || [ -n "$big" ]; }; then
    exit 1
fi
exit 0
