#!/bin/sh
# Make the guest kernel and busybox from Debian packages without installing
# them on the host: 'apt-get download' and 'dpkg-deb -x' into the cache.
#
# Usage: tests/guest/fetch.sh [--refresh]
#
# The kernel is bookworm-backports' linux-image-cloud-amd64 (6.12: virtio-pci
# and NVMe built in, the rest as modules); busybox is busybox-static.  Once
# fetched, the cache is used as it is, without asking apt, so a run is the
# same offline and from one day to the next; --refresh resolves the packages
# again and fetches whatever changed.
#
# Writes $CACHE_DIR/guest/guest.env for mkinitramfs.sh and boot.sh.
# Exit status: 0 ready, 77 cannot fetch on this machine (says why), 1 error.
set -eu

GUEST_PROG=fetch
. "$(dirname "$(readlink -f "$0")")/lib.sh"

KERNEL_META=${GUEST_KERNEL_META:-linux-image-cloud-amd64}
KERNEL_SUITE=${GUEST_KERNEL_SUITE:-bookworm-backports}
BUSYBOX_PKG=busybox-static
# Applets the guest's /init and the tests rely on.
BUSYBOX_APPLETS="sh mount insmod modprobe poweroff setsid cttyhack dmesg grep sed cat"

refresh=false
reextract=false
case "${1:-}" in
    --refresh) refresh=true ;;
    "") ;;
    *) echo "usage: $0 [--refresh]" >&2; exit 2 ;;
esac

env_file=$GUEST_DIR/guest.env
debs=$GUEST_DIR/debs

# The checks a cached set must pass before it is used; also run right after
# fetching.  Reads KERNEL, MODDIR, BUSYBOX.
verify() {
    KERNEL=${KERNEL:-} MODDIR=${MODDIR:-} BUSYBOX=${BUSYBOX:-}
    [ -f "$KERNEL" ] || { guest_err "kernel missing: $KERNEL"; return 1; }
    [ -d "$MODDIR/kernel" ] || { guest_err "modules missing: $MODDIR/kernel"; return 1; }
    [ -f "$MODDIR/modules.builtin" ] || { guest_err "missing: $MODDIR/modules.builtin"; return 1; }
    [ -s "$MODDIR/modules.list" ] || { guest_err "missing: $MODDIR/modules.list"; return 1; }
    [ -x "$BUSYBOX" ] || { guest_err "busybox missing: $BUSYBOX"; return 1; }
    applets=$("$BUSYBOX" --list) || { guest_err "$BUSYBOX does not run on this host"; return 1; }
    for a in $BUSYBOX_APPLETS; do
        printf '%s\n' "$applets" | grep -qx "$a" ||
            { guest_err "$BUSYBOX lacks the applet '$a'"; return 1; }
    done
}

# Several tests may start at once: one fetches, the others wait for it.
mkdir -p "$GUEST_DIR" "$debs"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$GUEST_DIR/.lock"
    flock 9
fi

if ! $refresh && [ -f "$env_file" ]; then
    . "$env_file"
    if verify; then
        guest_msg "using the cached guest: $KERNEL_PKG $KERNEL_VERSION, busybox $BUSYBOX_VERSION"
        exit 0
    fi
    guest_msg "the cached guest is incomplete; unpacking again"
    reextract=true
fi

guest_need_tools apt-cache apt-get dpkg-deb

# Field $2 of the first stanza apt-cache shows for $1 (name/suite or
# name=version), empty when apt does not know it.
apt_field() {
    apt-cache show "$1" 2>/dev/null | awk -v f="$2" '
        /^$/ { exit }
        index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }'
}

updated=false
# Makes sure apt knows $1, running 'apt-get update' once if it does not
# (a fresh machine has no lists; the backports entry comes from deps.sh).
apt_knows() {
    [ -n "$(apt_field "$1" Version)" ] && return 0
    if ! $updated && [ "$(id -u)" = 0 ]; then
        updated=true
        guest_msg "apt does not know $1; running apt-get update"
        apt-get update -qq >&2 || true
        [ -n "$(apt_field "$1" Version)" ] && return 0
    fi
    return 1
}

# The .deb of package $1 at version $2 in $debs, downloaded if missing;
# prints its path.
download() {
    enc=$(printf '%s' "$2" | sed 's/:/%3a/g')
    for f in "$debs/${1}_${enc}_"*.deb; do
        if [ -f "$f" ] && dpkg-deb --info "$f" >/dev/null 2>&1; then
            echo "$f"
            return 0
        fi
    done
    guest_msg "downloading $1 $2" >&2
    # As root apt would fall back to an unsandboxed download and warn.
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$1=$2" >&2) ||
        return 1
    for f in "$debs/${1}_${enc}_"*.deb; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    guest_err "apt-get download left no ${1}_${enc}_*.deb in $debs"
    return 1
}

# Unpacks $1 into directory $2 unless already there (or found damaged); a
# half-done unpack is never taken for a whole one.
extract() {
    if [ -d "$2" ]; then
        $reextract || return 0
        rm -rf "$2"
    fi
    guest_msg "unpacking $(basename "$1")"
    rm -rf "$2.tmp"
    dpkg-deb -x "$1" "$2.tmp"
    mv "$2.tmp" "$2"
}

# --- The kernel: the metapackage names the real image package. ---
if ! apt_knows "$KERNEL_META/$KERNEL_SUITE"; then
    guest_skip "apt knows no $KERNEL_META in $KERNEL_SUITE (run fork/deps.sh, which adds $KERNEL_SUITE)"
fi
dep=$(apt_field "$KERNEL_META/$KERNEL_SUITE" Depends |
      tr ',|' '\n\n' | sed 's/(.*//; s/[[:space:]]//g' | grep '^linux-image-' | head -n 1)
[ -n "$dep" ] || guest_die "cannot find the image package in the dependencies of $KERNEL_META"

# The signed image carries vmlinuz and the modules; the -unsigned one has the
# same content, should a release ship only that.
found=false
for pkg in "$dep" "$dep-unsigned"; do
    ver=$(apt_field "$pkg/$KERNEL_SUITE" Version)
    [ -n "$ver" ] || continue
    deb=$(download "$pkg" "$ver") ||
        guest_skip "cannot download $pkg $ver (no access to the Debian archive?)"
    kdir=$GUEST_DIR/${pkg}_$ver
    extract "$deb" "$kdir"
    set -- "$kdir"/boot/vmlinuz-*
    if [ -f "$1" ]; then
        found=true
        break
    fi
    guest_msg "$pkg has no boot/vmlinuz-*; trying the next candidate"
done
$found || guest_die "no package among $dep and $dep-unsigned carries boot/vmlinuz-*"
KERNEL=$1
KVER=${KERNEL##*/vmlinuz-}
KERNEL_PKG=$pkg
KERNEL_VERSION=$ver
# Bookworm's kernels put modules in /lib; later releases in /usr/lib.
MODDIR=$kdir/lib/modules/$KVER
[ -d "$MODDIR" ] || MODDIR=$kdir/usr/lib/modules/$KVER

# Module name -> file, for mkinitramfs.sh.  Names use '_' where files may
# use '-', as the kernel does.
if [ -d "$MODDIR/kernel" ] && [ ! -s "$MODDIR/modules.list" ]; then
    (cd "$MODDIR" && find kernel -name '*.ko*' | sort |
        awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); print n, $0 }') \
        > "$MODDIR/modules.list.tmp"
    mv "$MODDIR/modules.list.tmp" "$MODDIR/modules.list"
fi

# --- Busybox. ---
apt_knows "$BUSYBOX_PKG" || guest_skip "apt knows no $BUSYBOX_PKG (run fork/deps.sh)"
BUSYBOX_VERSION=$(apt_field "$BUSYBOX_PKG" Version)
deb=$(download "$BUSYBOX_PKG" "$BUSYBOX_VERSION") ||
    guest_skip "cannot download $BUSYBOX_PKG $BUSYBOX_VERSION (no access to the Debian archive?)"
bdir=$GUEST_DIR/${BUSYBOX_PKG}_$(printf '%s' "$BUSYBOX_VERSION" | tr ':' '_')
extract "$deb" "$bdir"
BUSYBOX=$bdir/bin/busybox

verify || guest_die "the fetched packages lack what the guest needs (see above; deleting $GUEST_DIR starts afresh)"

cat > "$env_file.tmp" <<EOF
# Written by tests/guest/fetch.sh: the guest images in this cache.
KERNEL_PKG='$KERNEL_PKG'
KERNEL_VERSION='$KERNEL_VERSION'
KVER='$KVER'
KERNEL='$KERNEL'
MODDIR='$MODDIR'
BUSYBOX_VERSION='$BUSYBOX_VERSION'
BUSYBOX='$BUSYBOX'
EOF
mv "$env_file.tmp" "$env_file"
guest_msg "ready: $KERNEL_PKG $KERNEL_VERSION (kernel $KVER), busybox $BUSYBOX_VERSION"
