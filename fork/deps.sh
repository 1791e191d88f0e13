#!/bin/sh
# Install what the fork needs from Debian's packages: idempotent, non-interactive.
#
# Adds two apt entries derived from the machine's own Debian source (never a
# host name of our own): bookworm-backports (meson >= 1.5, python3-pycotap,
# the 6.12 guest kernel) and deb-src for sid, one of the places configure
# looks for the pinned QEMU source package (fork/fetch-base.sh).  Only source
# indexes are taken from sid, so no sid binary can ever be installed.
#
# On another release, or as a user other than root, it installs nothing: it
# says what to install (and how) and exits 1.  DEPS_OS_RELEASE and
# DEPS_APT_GET stand in for /etc/os-release and apt-get in the tree tests.
set -eu

list=/etc/apt/sources.list.d/qemu-fork.sources

# Packages from bookworm; BACKPORTS from bookworm-backports.  DEPS_EXTRA:
# optional ones a make target needs on top (make fuzz-build: clang).
PACKAGES="build-essential pkg-config ninja-build python3 python3-venv
  libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev libjson-c-dev
  gcc-multilib libcmocka-dev device-tree-compiler seabios ipxe-qemu flex bison bzip2 xz-utils ccache
  dpkg-dev cpio gzip socat ${DEPS_EXTRA:-}"
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

# This script knows Debian 12 only; anywhere else it says so now rather
# than fail later with an unrelated error.
os_release=${DEPS_OS_RELEASE:-/etc/os-release}
os_id=$(. "$os_release" 2>/dev/null && echo "${ID:-unknown}") || os_id=unknown
codename=$(. "$os_release" 2>/dev/null && echo "${VERSION_CODENAME:-unknown}") ||
    codename=unknown
bookworm=no
if [ "$os_id" = debian ] && [ "$codename" = bookworm ]; then
    bookworm=yes
fi
root=no
if [ "$(id -u)" = 0 ]; then
    root=yes
fi

if [ -z "$missing" ] && meson_ok; then
    # All installed.  The deb-src entry only serves the base fetch, which has
    # other sources too: add it where it can be added, never fail for it.
    if [ -f "$list" ] || [ "$bookworm" = no ] || [ "$root" = no ]; then
        exit 0
    fi
fi

if [ "$bookworm" = no ]; then
    found=$(meson --version 2>/dev/null || echo none)
    cat >&2 <<EOF
deps: this machine runs $os_id $codename, and fork/deps.sh installs packages
on Debian 12 (bookworm) only.  Install these with your package manager, then
run make again:
  missing packages:${missing:- none}
  meson >= 1.5 (on Debian 12 from bookworm-backports; found: $found)
EOF
    exit 1
fi

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
    echo "deps: add one (see sources.list(5)), then run make again" >&2
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

if [ "$root" = no ]; then
    cat >&2 <<EOF
deps: missing:${missing:- meson >= 1.5}
deps: not root, so nothing was installed.  As root, write $list with:

$entry

then run:
  apt-get update
  apt-get install --no-install-recommends $(echo $PACKAGES)
  apt-get install --no-install-recommends -t bookworm-backports $BACKPORTS
(or run 'make deps' as root), and run make again.
EOF
    exit 1
fi

if [ ! -f "$list" ] || [ "$(cat "$list")" != "$entry" ]; then
    printf '%s\n' "$entry" > "$list"
fi
[ -n "$missing" ] || meson_ok || missing=meson

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt_get=${DEPS_APT_GET:-apt-get}
    $apt_get update -q
    $apt_get install -y -q --no-install-recommends $PACKAGES
    $apt_get install -y -q --no-install-recommends -t bookworm-backports $BACKPORTS
else
    # Only the deb-src entry was new: fetch its index.
    ${DEPS_APT_GET:-apt-get} update -q
fi
