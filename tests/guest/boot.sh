#!/bin/sh
# Boot the Debian guest kernel with a test initramfs and judge the result.
#
# Usage: tests/guest/boot.sh [OPTIONS] [-- QEMU-ARGS...]
#        tests/guest/boot.sh --interactive [-- QEMU-ARGS...]
#
#   --script FILE|-   guest script to run (see mkinitramfs.sh); '-' reads it
#                     from standard input
#   --name NAME       name of the serial log (default: the script's name)
#   --modules "M..."  modules to load besides the default ones
#   --append "ARGS"   more kernel command line
#   --timeout SECS    kill QEMU after that long ($GUEST_TIMEOUT, else 300)
#   --interactive     a busybox shell on this terminal instead of a test;
#                     no timeout; Ctrl-A X quits QEMU
#
# QEMU-ARGS (devices, -smp...) are added to the emulator's command line.
# Environment: QEMU (emulator), CACHE_DIR, GUEST_LOG_DIR, GUEST_TIMEOUT,
# GUEST_MEM (default 512M), GUEST_MODULES (replaces the default modules).
#
# Exit status: 0 the guest said PASS, 1 FAIL/timeout/no verdict, 77 skipped
# (no emulator, no guest images, or the guest said SKIP).
set -eu

GUEST_PROG=boot
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() {
    sed -n '4,21s/^# \{0,1\}//p' "$GUEST_SRC/boot.sh" >&2
    exit 2
}

script=""
name=""
modules=""
append=""
timeout=${GUEST_TIMEOUT:-300}
interactive=false
while [ $# -gt 0 ]; do
    case "$1" in
        --script) [ $# -ge 2 ] || usage; script=$2; shift 2 ;;
        --name) [ $# -ge 2 ] || usage; name=$2; shift 2 ;;
        --modules) [ $# -ge 2 ] || usage; modules="$modules $2"; shift 2 ;;
        --append) [ $# -ge 2 ] || usage; append="$append $2"; shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
        --interactive) interactive=true; shift ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
if ! $interactive && [ -z "$script" ]; then
    usage
fi
if [ -z "$name" ]; then
    name=guest
    [ -n "$script" ] && [ "$script" != - ] && name=$(basename "$script" .sh)
fi

[ -x "$QEMU" ] || guest_skip "no emulator at $QEMU (build it, or set QEMU)"
guest_need_tools timeout cpio gzip

# Kernel and busybox; fetch.sh says why when it skips.
rc=0
"$GUEST_SRC/fetch.sh" </dev/null || rc=$?
case $rc in
    0) ;;
    77) exit $GUEST_SKIP ;;
    *) guest_die "cannot prepare the guest images" ;;
esac
. "$GUEST_DIR/guest.env"

work=$(mktemp -d "${TMPDIR:-/tmp}/guest-boot.XXXXXX")
qpid=""
cleanup() {
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

initrd=$work/initramfs.cpio.gz
if $interactive; then
    "$GUEST_SRC/mkinitramfs.sh" --modules "$modules" "$initrd" >/dev/null
else
    "$GUEST_SRC/mkinitramfs.sh" --script "$script" --modules "$modules" "$initrd" >/dev/null
fi

# The firmware a -kernel boot needs.  Run from the build tree, QEMU looks
# for it only inside build/obj/qemu-bundle, where ./configure links it.
qemu_dirs=$("$QEMU" -L help 2>/dev/null) || true
for f in bios-256k.bin linuxboot_dma.bin kvmvapic.bin; do
    found=false
    for d in $qemu_dirs; do
        [ -f "$d/$f" ] && { found=true; break; }
    done
    $found || guest_die "$QEMU finds no $f in its firmware path:" $qemu_dirs "(re-run ./configure; seabios comes from fork/deps.sh)"
done

extra=""
[ $# -eq 0 ] || extra=$(printf ' %s' "$@")
# -no-reboot turns the kernel's panic (panic=-1: at once) into QEMU exiting,
# so a crash never hangs the test.  -nodefaults: the default empty CD-ROM
# alone costs 32 s of SeaBIOS timeouts under TCG, and the default NIC would
# want one more ROM blob; a test that wants either says so.
set -- -M q35 -m "${GUEST_MEM:-512M}" \
    -nographic -nodefaults -serial mon:stdio -no-reboot \
    -kernel "$KERNEL" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet$append" "$@"

# KVM when it works, TCG otherwise.  GUEST_ACCEL="tcg" skips KVM.
accels=""
for a in ${GUEST_ACCEL:-kvm tcg}; do
    accels="${accels:+$accels }-accel $a"
done

if $interactive; then
    guest_msg "kernel $KVER; Ctrl-A X quits QEMU, 'exit' in the shell powers off"
    guest_msg "(if KVM stops the guest with an internal error: GUEST_ACCEL=tcg)"
    rc=0
    # shellcheck disable=SC2086
    "$QEMU" $accels "$@" || rc=$?
    exit $rc
fi

mkdir -p "$GUEST_LOG_DIR"
log=$GUEST_LOG_DIR/$name.log
: > "$log"
guest_msg "booting $name (kernel $KVER, timeout ${timeout} s); serial log: $log"
if [ -n "$extra" ]; then
    guest_msg "extra QEMU arguments:$extra"
fi

# Boots once with accelerator options $1 and QEMU arguments "$@" after it,
# into $work/attempt.log (then appended to $log).  Sets rc, secs, and
# kvm_failed when KVM stopped the guest with an internal error.  Some hosts'
# KVM opens fine but cannot run the kernel's decompressor, and QEMU then
# keeps the guest paused until the timeout: stop it at once instead.
boot_once() {
    opts=$1
    shift
    alog=$work/attempt.log
    echo "\$ $QEMU $opts $*" > "$alog"
    kvm_failed=false
    start=$(date +%s%N)
    # In the background so a signal to this script stops QEMU too (timeout
    # runs it in a process group of its own, out of reach of the terminal).
    # shellcheck disable=SC2086
    timeout -k 10 "$timeout" "$QEMU" $opts "$@" </dev/null >>"$alog" 2>&1 &
    qpid=$!
    while kill -0 "$qpid" 2>/dev/null; do
        if grep -a -q -E 'KVM internal error|KVM: entry failed' "$alog"; then
            kvm_failed=true
            kill "$qpid" 2>/dev/null
            break
        fi
        sleep 0.3
    done
    rc=0
    wait "$qpid" || rc=$?
    qpid=""
    secs=$(( ($(date +%s%N) - start) / 1000000 ))
    secs=$(printf '%d.%03d' $((secs / 1000)) $((secs % 1000)))
    cat "$alog" >> "$log"
}

boot_once "$accels" "$@"
note=""
case "$accels" in
    *kvm*)
        if $kvm_failed; then
            guest_msg "KVM failed inside the guest after $secs s (internal error, in the log); booting again under TCG"
            echo "===== KVM failed inside the guest: booting again under TCG =====" >> "$log"
            boot_once "-accel tcg" "$@"
            note=", after KVM failed"
        fi
        ;;
esac

# The last marker /init printed; carriage returns come from the serial line.
verdict=$(tr -d '\r' < "$alog" | sed -n 's/.*GUEST-TEST: //p' | tail -n 1)
case $(tr -d '\r' < "$alog" | sed -n 's/^GUEST-INFO: hypervisor: //p' | tail -n 1) in
    KVM*) accel=kvm ;;
    "") accel=unknown ;;
    *) accel=tcg ;;
esac

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=$GUEST_FAIL
    why="timeout: QEMU killed after $timeout s${verdict:+ (the guest had said: $verdict)}"
elif [ "$rc" != 0 ]; then
    status=$GUEST_FAIL
    why="QEMU exited with status $rc"
else
    case "$verdict" in
        PASS) status=$GUEST_PASS; why=PASS ;;
        SKIP*) status=$GUEST_SKIP; why=$verdict ;;
        FAIL*) status=$GUEST_FAIL; why=$verdict ;;
        *) status=$GUEST_FAIL; why="no verdict from the guest (kernel panic or broken /init?)" ;;
    esac
fi

if [ $status = $GUEST_PASS ]; then
    # What the guest printed from /init on: short, and shows what was checked.
    tr -d '\r' < "$alog" | sed -n '/GUEST-INFO: /,$p'
else
    # Of the last boot only; a failed KVM attempt is in $log.
    echo "----- serial console, last ${GUEST_TAIL:-60} lines (all in $log) -----"
    tr -d '\r' < "$alog" | tail -n "${GUEST_TAIL:-60}"
    echo "-----"
fi
guest_msg "$name: $why in $secs s (accel: $accel$note)"
exit $status
