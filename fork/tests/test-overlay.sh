#!/bin/sh
# The overlay links new files into the tree (one file, two paths) and refuses
# a path that exists upstream, leaving the upstream file alone.
set -eu
fork=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

git init -q "$work/tree"
echo upstream > "$work/tree/upstream.c"
git -C "$work/tree" add upstream.c
git -C "$work/tree" -c user.name=t -c user.email=t@t commit -q -m base

git init -q "$work/repo"
mkdir -p "$work/repo/fork" "$work/repo/hw/new"
cp "$fork/not-overlaid" "$work/repo/fork/"
echo ours > "$work/repo/hw/new/ours.c"
echo tooling > "$work/repo/Makefile"

"$fork/overlay.sh" "$work/repo" "$work/tree" || fail "overlay of a new file failed"
[ -L "$work/tree/hw/new/ours.c" ] || fail "hw/new/ours.c is not linked"
[ ! -e "$work/tree/Makefile" ] || fail "fork tooling was overlaid"
echo edited > "$work/tree/hw/new/ours.c"
[ "$(cat "$work/repo/hw/new/ours.c")" = edited ] || fail "edit through the link is not seen in the repo"
[ -z "$(git -C "$work/tree" status --porcelain)" ] || fail "links show in the tree's git status"

rm "$work/repo/hw/new/ours.c"
"$fork/overlay.sh" "$work/repo" "$work/tree" || fail "overlay after a removal failed"
[ ! -L "$work/tree/hw/new/ours.c" ] || fail "stale link kept"

echo mine > "$work/repo/upstream.c"
if out=$("$fork/overlay.sh" "$work/repo" "$work/tree" 2>&1); then
    fail "an upstream path was overlaid"
fi
echo "$out"
echo "$out" | grep -q "refused.*exist upstream" || fail "no clear refusal"
echo "$out" | grep -q "upstream.c" || fail "refusal does not name the file"
[ "$(cat "$work/tree/upstream.c")" = upstream ] || fail "upstream file changed"
echo "PASS"
