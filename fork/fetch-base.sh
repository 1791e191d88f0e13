#!/bin/sh
# Find the pinned upstream base and put a verified copy in the download cache.
#
# Usage: fork/fetch-base.sh CACHE-DIR [FILE]
#
# Only the pinned sha256 is trusted; where the file comes from is free.  The
# places tried, in order, until one holds a file with that sum:
#   1. FILE, when given (./configure --base-tarball=FILE);
#   2. the download cache, CACHE-DIR/base/;
#   3. a mirror directory named by QEMU_FORK_BASE_DIR (CI: ../shared/base);
#   4. 'apt-get source --download-only' of the pinned version, from any
#      deb-src suite of this machine that still carries it.
# A file with another sum is reported and never used.  Prints the cached
# path on success; exits 1 with what to do when no place has it.
#
# APT_GET overrides the apt-get command (the tree tests use a fake).
set -eu

. "$(dirname "$0")/base.env"

[ $# -ge 1 ] && [ $# -le 2 ] || {
    echo "usage: $0 CACHE-DIR [FILE]" >&2
    exit 2
}
cache=$1/base
given=${2:-}
cached=$cache/$base_tarball
mkdir -p "$cache"

say() {
    echo "configure: $*" >&2
}

# verify FILE: true if FILE exists with the pinned sum; says why not.
verify() {
    [ -f "$1" ] || return 1
    sum=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$sum" = "$base_sha256" ] && return 0
    say "ignoring $1: sha256 $sum, expected $base_sha256"
    return 1
}

# take FILE: copy a verified FILE into the cache (atomically) and finish.
take() {
    if [ "$1" != "$cached" ]; then
        tmp=$(mktemp "$cache/.$base_tarball.XXXXXX")
        cp "$1" "$tmp"
        verify "$tmp" || { rm -f "$tmp"; return 1; }
        mv -f "$tmp" "$cached"
        say "base taken from $1"
    fi
    echo "$cached"
    exit 0
}

if [ -n "$given" ]; then
    # A file the user names is not passed over silently.
    if ! verify "$given"; then
        [ -f "$given" ] || say "$given: no such file"
        say "error: --base-tarball=$given is not the pinned base"
        exit 1
    fi
    take "$given"
fi

if verify "$cached"; then
    take "$cached"
elif [ -f "$cached" ]; then
    mv -f "$cached" "$cached.bad"
    say "moved the cached file aside to $cached.bad"
fi

if [ -n "${QEMU_FORK_BASE_DIR:-}" ]; then
    if verify "$QEMU_FORK_BASE_DIR/$base_tarball"; then
        take "$QEMU_FORK_BASE_DIR/$base_tarball"
    fi
    [ -e "$QEMU_FORK_BASE_DIR/$base_tarball" ] ||
        say "QEMU_FORK_BASE_DIR=$QEMU_FORK_BASE_DIR has no $base_tarball"
fi

say "fetching $base_tarball (Debian qemu $base_deb_version) with apt-get source"
dl=$(mktemp -d "$cache/.apt.XXXXXX")
if (cd "$dl" && ${APT_GET:-apt-get} source --download-only \
        "qemu=$base_deb_version" >/dev/null 2>&1) &&
   verify "$dl/$base_tarball"; then
    cp "$dl/$base_tarball" "$cache/.$base_tarball.apt"
    rm -rf "$dl"
    mv -f "$cache/.$base_tarball.apt" "$cached"
    say "base taken from Debian's source package"
    echo "$cached"
    exit 0
fi
rm -rf "$dl"

cat >&2 <<EOF
configure: error: no place has the upstream base:
    $base_tarball (Debian source package qemu $base_deb_version)
    sha256 $base_sha256
Provide it in any of these ways (the sum is checked whatever the source):
  - ./configure --base-tarball=FILE
  - QEMU_FORK_BASE_DIR=DIR, a directory holding $base_tarball
  - copy it to $cache/
  - 'make deps' (as root) adds a deb-src entry, so that apt-get source can
    fetch it while Debian's archive still carries that version
EOF
exit 1
