#!/bin/sh
# Install what the fork needs from Debian's packages: idempotent, non-interactive.
#
# Adds two apt entries derived from the machine's own Debian source (never a
# host name of our own): bookworm-backports (meson >= 1.5, python3-pycotap,
# the 6.12 guest kernel) and deb-src for sid, where the pinned QEMU source
# package lives.  Only source indexes are taken from sid, so no sid binary
# can ever be installed.
set -eu

list=/etc/apt/sources.list.d/qemu-fork.sources

# Packages from bookworm; BACKPORTS from bookworm-backports.
PACKAGES="build-essential pkg-config ninja-build python3 python3-venv
  libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev libjson-c-dev
  gcc-multilib libcmocka-dev device-tree-compiler seabios ipxe-qemu flex bison bzip2 xz-utils ccache
  dpkg-dev cpio gzip socat"
BACKPORTS="meson python3-pycotap"

missing=""
for p in $PACKAGES $BACKPORTS; do
    if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed'; then
        missing="$missing $p"
    fi
done
meson_ok() {
    v=$(meson --version 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge 1.5
}
if [ -z "$missing" ] && meson_ok && [ -f "$list" ]; then
    exit 0
fi

run() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    else
        echo "deps: not root; run this as root:" >&2
        echo "  $*" >&2
        exit 1
    fi
}

# The URI and keyring of the machine's own bookworm main entry, deb822 first,
# then one-line format.
mirror_uri=""
keyring=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    eval "$(awk '
        BEGIN { RS = ""; FS = "\n" }
        /(^|\n)Suites:[^\n]*bookworm([ \n]|$)/ {
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); uri = u[1] }
                if ($i ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", $i); key = $i }
            }
            if (uri != "") { printf "mirror_uri=%s\nkeyring=%s\n", uri, key; exit }
        }' /etc/apt/sources.list.d/debian.sources)"
fi
if [ -z "$mirror_uri" ] && [ -f /etc/apt/sources.list ]; then
    mirror_uri=$(awk '$1 == "deb" && $3 == "bookworm" { print ($2 ~ /^\[/) ? $3 : $2; exit }' \
                 /etc/apt/sources.list | head -n 1)
fi
if [ -z "$mirror_uri" ]; then
    echo "deps: cannot find the bookworm entry in this machine's apt sources" >&2
    exit 1
fi
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}

entry=$(cat <<SOURCES
# Written by the QEMU fork's fork/deps.sh, derived from this machine's sources.
Types: deb
URIs: $mirror_uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring

Types: deb-src
URIs: $mirror_uri
Suites: sid
Components: main
Signed-By: $keyring
SOURCES
)
if [ ! -f "$list" ] || [ "$(cat "$list")" != "$entry" ]; then
    if [ "$(id -u)" = 0 ]; then
        printf '%s\n' "$entry" > "$list"
    else
        echo "deps: not root; as root, write $list with:" >&2
        printf '%s\n' "$entry" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
run apt-get update -q
run apt-get install -y -q --no-install-recommends $PACKAGES
run apt-get install -y -q --no-install-recommends -t bookworm-backports $BACKPORTS
