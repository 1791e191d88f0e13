#!/bin/sh
# 'make patches-check' fails, naming the file, on an upstream edit that
# patches/ lacks (uncommitted, or committed but not exported), and passes
# on the tree as assembled.  Runs on the real tree and restores it.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=${BUILD_DIR:-$repo/build}/src
victim=README.rst
fail() { echo "FAIL: $*"; exit 1; }

make -s -C "$repo" patches-check || fail "the assembled tree is not clean to start with"
head=$(git -C "$src" rev-parse HEAD)
restore() {
    git -C "$src" reset -q --hard "$head"
}
trap restore EXIT

echo "# a local edit" >> "$src/$victim"
if out=$(make -s -C "$repo" patches-check 2>&1); then
    fail "an uncommitted edit passed patches-check"
fi
echo "$out"
echo "$out" | grep -q "^  $victim$" || fail "patches-check did not name $victim"

git -C "$src" -c user.name=t -c user.email=t@t commit -q -a -m "local edit"
if out=$(make -s -C "$repo" patches-check 2>&1); then
    fail "a committed but unexported edit passed patches-check"
fi
echo "$out" | grep -q "^  $victim$" || fail "patches-check did not name $victim"

restore
make -s -C "$repo" patches-check || fail "patches-check fails after restoring"
echo "PASS"
