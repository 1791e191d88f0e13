#!/bin/sh
# Build a guest-test initramfs (cpio.gz): busybox-static with its applet
# links, kernel modules and an /init that runs one test script.
#
# Usage: tests/guest/mkinitramfs.sh [--script FILE|-] [--modules "M..."] OUT
#
#   --script FILE  the guest script ('-': standard input); /init runs it with
#                  sh after loading the modules and turns its exit status
#                  into a marker on the console:
#                      GUEST-TEST: PASS            status 0
#                      GUEST-TEST: SKIP <reason>   status 77
#                      GUEST-TEST: FAIL <reason>   anything else
#                  The script may call 'fail REASON' and 'skip REASON'.
#                  Without --script, /init starts a shell on the console.
#   --modules "M"  modules to load besides $GUEST_MODULES (default:
#                  $GUEST_MODULES_DEFAULT from lib.sh); their dependencies
#                  come along and load first.
#
# Needs the cache that fetch.sh fills.
set -eu

GUEST_PROG=mkinitramfs
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() {
    echo "usage: $0 [--script FILE|-] [--modules \"M...\"] OUT.cpio.gz" >&2
    exit 2
}

script=""
extra=""
while [ $# -gt 1 ]; do
    case "$1" in
        --script) script=$2; shift 2 ;;
        --modules) extra="$extra $2"; shift 2 ;;
        *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
out=$1

guest_need_tools cpio gzip xz
[ -f "$GUEST_DIR/guest.env" ] || guest_die "no guest images in $GUEST_DIR: run $GUEST_SRC/fetch.sh"
. "$GUEST_DIR/guest.env"

stage=$(mktemp -d "${TMPDIR:-/tmp}/guest-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# --- Busybox: every applet as a link, at the path busybox lists for it. ---
mkdir -p "$stage/bin"
cp "$BUSYBOX" "$stage/bin/busybox"
"$BUSYBOX" --list-full | while read -r path; do
    [ -e "$stage/$path" ] || [ -L "$stage/$path" ] && continue
    mkdir -p "$stage/$(dirname "$path")"
    ln -s /bin/busybox "$stage/$path"
done
mkdir -p "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/run" \
         "$stage/etc" "$stage/root"

# --- Modules. ---
# Decompressed copies are kept in the cache, beside the package's own:
# busybox insmod may not read .ko.xz, and decompressing is the slow part.
kocache=$MODDIR/decompressed
mkdir -p "$kocache"

# Prints the path of module $1, decompressed; fails for unknown names.
module_file() {
    ko=$kocache/$1.ko
    if [ ! -f "$ko" ]; then
        rel=$(awk -v n="$1" '$1 == n { print $2; exit }' "$MODDIR/modules.list")
        [ -n "$rel" ] || return 1
        case "$rel" in
            *.ko.xz) xz -dc "$MODDIR/$rel" > "$ko.tmp.$$" ;;
            *.ko.zst) zstd -qdc "$MODDIR/$rel" > "$ko.tmp.$$" ;;
            *.ko.gz) gzip -dc "$MODDIR/$rel" > "$ko.tmp.$$" ;;
            *) cp "$MODDIR/$rel" "$ko.tmp.$$" ;;
        esac
        mv "$ko.tmp.$$" "$ko"
    fi
    echo "$ko"
}

# The modules module $1 depends on, from its .modinfo strings, as modinfo
# would print them ('depends=a,b').
module_deps() {
    tr '\0' '\n' < "$1" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}

# Adds module $1 to $order after its dependencies (depth first).  Positional
# parameters are the only locals POSIX sh has: $1 survives the recursion.
order=""
visit() {
    case " $order " in *" $1 "*) return 0 ;; esac
    if ! f=$(module_file "$1"); then
        # Built in: nothing to load (the name may use '-' or '_').
        if grep -q "/$1\.ko\$" "$MODDIR/modules.builtin" ||
           grep -q "/$(echo "$1" | tr _ -)\.ko\$" "$MODDIR/modules.builtin"; then
            return 0
        fi
        guest_die "kernel $KVER has no module '$1'"
    fi
    for d in $(module_deps "$f"); do
        visit "$(echo "$d" | tr - _)"
    done
    order="$order $1"
}

for m in ${GUEST_MODULES-$GUEST_MODULES_DEFAULT} $extra; do
    visit "$(echo "$m" | tr - _)"
done

kmods=$stage/lib/modules/$KVER
mkdir -p "$kmods"
: > "$stage/etc/guest-modules"
for m in $order; do
    cp "$kocache/$m.ko" "$kmods/"
    echo "$m" >> "$stage/etc/guest-modules"
done
# modules.dep for busybox modprobe, should a test or a human want it.
"$BUSYBOX" depmod -b "$stage" "$KVER" 2>/dev/null ||
    guest_msg "warning: busybox depmod failed; modprobe will not work in the guest"

# --- The test script and the helpers it may use. ---
if [ -n "$script" ]; then
    if [ "$script" = - ]; then
        cat > "$stage/test.sh"
    else
        [ -f "$script" ] || guest_die "no such guest script: $script"
        cp "$script" "$stage/test.sh"
    fi
fi

cat > "$stage/etc/guest-lib.sh" <<'EOF'
# Helpers for the guest script, sourced before it runs (mkinitramfs.sh).
# Stop the test with a reason /init prints in its marker.
fail() { echo "$*" > /tmp/.guest-reason; exit 1; }
skip() { echo "$*" > /tmp/.guest-reason; exit 77; }
EOF

cat > "$stage/init" <<'EOF'
#!/bin/sh
# /init of a guest-test initramfs (tests/guest/mkinitramfs.sh): set up,
# load modules, run /test.sh or a shell, print the verdict, power off.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

info() { echo "GUEST-INFO: $*"; }
# The marker starts a line of its own even if the kernel wrote half a line.
result() { echo; echo "GUEST-TEST: $*"; }

# SeaBIOS leaves its last line unfinished.
echo
info "kernel $(uname -r)"
# Which accelerator the host gave us: KVM announces itself, TCG does not.
hv=$(dmesg | sed -n 's/.*Hypervisor detected: //p' | head -n 1)
info "hypervisor: ${hv:-none (TCG)}"

while read -r m; do
    if ! insmod "/lib/modules/$(uname -r)/$m.ko" 2>/tmp/insmod.err; then
        info "insmod $m failed: $(cat /tmp/insmod.err)"
    fi
done < /etc/guest-modules
info "modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"

if [ -f /test.sh ]; then
    info "running the guest script"
    sh -c '. /etc/guest-lib.sh; . /test.sh'
    rc=$?
    reason=$(cat /tmp/.guest-reason 2>/dev/null)
    info "uptime $(cut -d' ' -f1 /proc/uptime) s"
    case $rc in
        0) result PASS ;;
        77) result "SKIP ${reason:-the guest script skipped}" ;;
        *) result "FAIL ${reason:-the guest script exited $rc}" ;;
    esac
else
    info "interactive shell: 'exit' powers off; Ctrl-A X quits QEMU"
    # cttyhack opens the console as a controlling tty: Ctrl-C works.
    setsid cttyhack sh -l
fi
poweroff -f
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -6 > "$out.tmp"
mv "$out.tmp" "$out"
guest_msg "$out: kernel $KVER, modules:${order:- none}"
