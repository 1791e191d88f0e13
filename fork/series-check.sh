#!/bin/sh
# Check a series from 'make series': it must apply with git am to a pristine
# unpacked base and pass upstream scripts/checkpatch.pl.
#
# Usage: fork/series-check.sh SRC SERIES-DIR
# The pristine base comes from the download cache (CACHE_DIR, as configure
# recorded it in config.mak), not from SRC, which holds the fork's edits.
set -eu

src=$1
series=$(cd "$2" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CACHE_DIR:-$(sed -n 's/^CACHE_DIR=//p' "$repo/config.mak" 2>/dev/null)}
tarball="$cache/base/qemu_10.2.2+ds.orig.tar.xz"
[ -f "$tarball" ] || { echo "series-check: no base at $tarball; run ./configure" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/base"
tar -C "$work/base" --strip-components=1 -xf "$tarball"
cd "$work/base"
git init -q -b base
# No background 'gc --auto' (the base is ~10,000 loose objects) racing with
# the cleanup's rm -rf.
git config gc.auto 0
git add -A -f .
git -c user.name=check -c user.email=check@localhost commit -q -m base

patches=$(ls "$series"/*.patch | grep -v '/0000-cover-letter.patch$')
# shellcheck disable=SC2086
if ! git -c user.name=check -c user.email=check@localhost am -q --keep-cr $patches; then
    echo "series-check: the series does not apply with git am to a pristine base" >&2
    exit 1
fi
echo "series-check: $(echo "$patches" | wc -l) patches apply with git am"

status=0
for p in $patches; do
    # libvfio-user is a bundled library with its own upstream style.
    if ! grep '^diff --git ' "$p" | grep -qv ' a/subprojects/libvfio-user/'; then
        echo "series-check: ${p##*/}: libvfio-user only, its own style"
        continue
    fi
    if ! out=$(perl scripts/checkpatch.pl "$p" 2>&1); then
        echo "series-check: checkpatch: ${p##*/}:" >&2
        printf '%s\n' "$out" | grep -E '^(ERROR|WARNING)|^#|^total' >&2
        status=1
    fi
done
if [ $status = 0 ]; then
    echo "series-check: checkpatch clean"
fi
exit $status
