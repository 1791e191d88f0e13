#!/bin/sh
# Every entry point a new user may type first ('make', 'make run',
# 'make check', 'make bench') installs the dependencies before configure
# runs: checked on the make graph of a tree with no build/ and no config.mak.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$repo/Makefile" "$tmp/"

for target in "" run check bench; do
    # make -n still runs recursive makes; the first one fails on the
    # missing build/obj, after the lines this test reads.
    out=$(make -n -C "$tmp" $target 2>&1 || true)
    deps=$(printf '%s\n' "$out" | grep -n 'fork/deps\.sh$' | head -n 1 | cut -d: -f1)
    conf=$(printf '%s\n' "$out" | grep -n '\./configure' | head -n 1 | cut -d: -f1)
    [ -n "$deps" ] || fail "make ${target:-all} never runs fork/deps.sh:
$out"
    [ -n "$conf" ] || fail "make ${target:-all} never runs ./configure:
$out"
    [ "$deps" -lt "$conf" ] || fail "make ${target:-all} configures before deps:
$out"
    echo "ok: make ${target:-all}: deps (line $deps) before configure (line $conf)"
done
echo PASS
