# Host side of the virtio-pmem guest tests (test-pmem-*.sh); sourced after
# lib.sh.
#
# The tests run contrib/vhost-user-pmem on a file they fill, boot the guest
# (boot.sh) with vhost-user-test-device-pci,virtio-id=27 on it and guest RAM
# in a shared memfd, and judge both what the guest says and the file.
#
#   pmem_setup NAME            work directory $PMEM_DIR, cleanup on exit
#   pmem_fill SIZE CHUNK       $PMEM_DIR/pmem.img: random data, and at the
#                              start of each chunk "PMEM-TEST-CHUNK-NNNN"
#   pmem_backend_start ARGS    the back-end on $PMEM_DIR/pmem.img; ARGS are
#                              more options (--chunk-size...)
#   pmem_backend_wait RE [S [N]]
#                              wait for N lines of the back-end's log
#   pmem_trace_wait RE [S [N]] the same for QEMU's trace events
#   pmem_guest_script BODY [VAR=VALUE...]
#                              $PMEM_DIR/guest.sh: settings and the VARs,
#                              pmem-guest.sh, then the file BODY
#   pmem_boot [--bg] [BOOT-OPTIONS]
#                              boot.sh with the device, the control serial
#                              and QMP; --bg leaves it running ($PMEM_BOOT_PID)
#   pmem_boot_wait             the status of a --bg boot
#   pmem_ctl_expect WORD [S]   wait for 'CTL WORD' from the guest script
#   pmem_ctl_send WORD         a line to the guest script (pmem_ctl_wait)
#   pmem_qmp_mappings          region 0's mappings per QMP: OFFSET+LEN ...
#   pmem_plan_write OFF TAG    the md5 the file will have after that write
#   pmem_expect_write OFF TAG  the file has the guest's pmem_write OFF TAG
#   pmem_expect_rest           and elsewhere what pmem_fill put there
#
# When boot.sh boots a second time, under TCG after KVM failed, the test
# starts a second back-end for it (pmem_poll).
#
# The control channel is the guest's second serial port (ttyS1), a QEMU
# file chardev that appends to $PMEM_DIR/ctl.log and reads the FIFO
# $PMEM_DIR/ctl.in, which the test holds open on fd 7 so that QEMU never
# waits for a writer, boot after boot.  Logs of the back-end and of the
# channel land next to the serial log, in $GUEST_LOG_DIR.
#
# Environment: VHOST_USER_PMEM (the back-end binary), and lib.sh's.

PMEM_SRC=$GUEST_SRC
# Guest RAM: boot.sh's -m and the shared memory backend must agree
GUEST_MEM=${GUEST_MEM:-512M}
export GUEST_MEM

if [ -z "${VHOST_USER_PMEM:-}" ]; then
    pmem_obj=$(guest_config OBJ_DIR)
    VHOST_USER_PMEM=${pmem_obj:-$BUILD_DIR/obj}/contrib/vhost-user-pmem/vhost-user-pmem
fi

PMEM_DIR=""
PMEM_NAME=""
PMEM_BACKEND_PID=""
PMEM_BACKEND_N=0
PMEM_BACKEND_LOG=""
PMEM_BOOT_PID=""
PMEM_SIZE=0
PMEM_CHUNK=0

# On exit: stop what the test started, keep the logs; the status stays
pmem_cleanup() {
    st=$?
    set +e
    for p in $PMEM_BOOT_PID $PMEM_BACKEND_PID; do
        kill "$p" 2>/dev/null
    done
    if [ -n "$PMEM_DIR" ]; then
        pmem_keep_logs
        rm -rf "$PMEM_DIR"
    fi
    exit $st
}

# The logs of every back-end the test started, in order
pmem_backend_logs() {
    i=1
    while [ $i -le $PMEM_BACKEND_N ]; do
        [ $PMEM_BACKEND_N -gt 1 ] && echo "=== back-end $i ==="
        cat "$PMEM_DIR/backend-$i.log"
        i=$((i + 1))
    done
}

# Copies the back-end's and the channel's logs beside the serial log
pmem_keep_logs() {
    mkdir -p "$GUEST_LOG_DIR"
    pmem_backend_logs > "$GUEST_LOG_DIR/$PMEM_NAME-backend.log"
    [ -f "$PMEM_DIR/ctl.log" ] &&
        cp "$PMEM_DIR/ctl.log" "$GUEST_LOG_DIR/$PMEM_NAME-ctl.log"
    return 0
}

# Fails the test, with the back-end's log
pmem_die() {
    if [ $PMEM_BACKEND_N -gt 0 ]; then
        echo "----- back-end log -----"
        pmem_backend_logs
        echo "-----"
    fi
    guest_die "$*"
}

pmem_setup() {
    PMEM_NAME=$1
    [ -x "$QEMU" ] || guest_skip "no emulator at $QEMU (build it, or set QEMU)"
    [ -x "$VHOST_USER_PMEM" ] ||
        guest_skip "no vhost-user-pmem at $VHOST_USER_PMEM (build it, or set VHOST_USER_PMEM)"
    guest_need_tools python3 md5sum dd cmp mkfifo timeout
    PMEM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/guest-pmem.XXXXXX")
    trap pmem_cleanup EXIT
    trap 'exit 130' INT TERM
    mkfifo "$PMEM_DIR/ctl.in"
    exec 7<>"$PMEM_DIR/ctl.in"
    : > "$PMEM_DIR/ctl.log"
}

# Bytes in $1: a number, or a number of MiB with the suffix M
pmem_bytes() {
    case "$1" in
        *M) echo $((${1%M} * 1048576)) ;;
        *) echo $(($1)) ;;
    esac
}

pmem_fill() {
    PMEM_SIZE=$(pmem_bytes "$1")
    PMEM_CHUNK=$(pmem_bytes "$2")
    f=$PMEM_DIR/pmem.img
    head -c "$PMEM_SIZE" /dev/urandom > "$f"
    i=0
    while [ $((i * PMEM_CHUNK)) -lt "$PMEM_SIZE" ]; do
        printf 'PMEM-TEST-CHUNK-%04d\n' "$i" |
            dd of="$f" bs=1 seek=$((i * PMEM_CHUNK)) conv=notrunc 2>/dev/null
        i=$((i + 1))
    done
    cp "$f" "$PMEM_DIR/pmem.orig"
    cp "$f" "$PMEM_DIR/expected"
    PMEM_MD5=$(md5sum < "$f" | cut -d' ' -f1)
    guest_msg "pmem file: $PMEM_SIZE bytes, chunks of $PMEM_CHUNK, md5 $PMEM_MD5"
}

# MD5 of $2 bytes of the original file at $1 (multiples of 64 KiB; the
# suffix M as for pmem_bytes)
pmem_orig_md5() {
    dd if="$PMEM_DIR/pmem.orig" bs=65536 skip=$(($(pmem_bytes "$1") / 65536)) \
        count=$(($(pmem_bytes "$2") / 65536)) 2>/dev/null | md5sum | cut -d' ' -f1
}

pmem_backend_start() {
    PMEM_BACKEND_ARGS=$*
    PMEM_BACKEND_N=$((PMEM_BACKEND_N + 1))
    PMEM_BACKEND_LOG=$PMEM_DIR/backend-$PMEM_BACKEND_N.log
    "$VHOST_USER_PMEM" --socket-path="$PMEM_DIR/vu.sock" \
        --file="$PMEM_DIR/pmem.img" "$@" > "$PMEM_BACKEND_LOG" 2>&1 7>&- &
    PMEM_BACKEND_PID=$!
    pmem_backend_wait "waiting for the front-end" 10
}

# pmem_file_wait FILE WHO RE [S [N]]: waits until FILE has N (default 1)
# lines matching the extended regex RE, for up to S seconds (default 30);
# WHO names the writer in the error
pmem_file_wait() {
    # local: the wait loops that call pmem_poll, which may call this, keep
    # their own count
    local n
    n=$(( ${4:-30} * 10 ))
    while :; do
        c=$(grep -c -E -- "$3" "$1" 2>/dev/null || true)
        [ "${c:-0}" -lt "${5:-1}" ] || break
        pmem_poll
        n=$((n - 1))
        [ $n -gt 0 ] || pmem_die "$2 did not say /$3/ ${5:-1} times in ${4:-30} s"
        sleep 0.1
    done
}

# Waits until the current back-end's log has $3 (default 1) lines matching
# the extended regex $1, for up to $2 seconds (default 30)
pmem_backend_wait() {
    pmem_file_wait "$PMEM_BACKEND_LOG" "the back-end" "$@"
}

# As pmem_backend_wait, for the trace events QEMU writes to
# $PMEM_DIR/qemu-trace.log (pmem_qemu_args)
pmem_trace_wait() {
    pmem_file_wait "$PMEM_DIR/qemu-trace.log" "QEMU's trace" "$@"
}

# Waits for the back-end process to end; sets PMEM_BACKEND_STATUS
pmem_backend_exit() {
    PMEM_BACKEND_STATUS=0
    wait "$PMEM_BACKEND_PID" || PMEM_BACKEND_STATUS=$?
    PMEM_BACKEND_PID=""
}

pmem_guest_script() {
    body=$1
    shift
    {
        echo "PMEM_SIZE=$PMEM_SIZE"
        echo "PMEM_CHUNK=$PMEM_CHUNK"
        echo "PMEM_MD5=$PMEM_MD5"
        for v in "$@"; do
            echo "$v"
        done
        cat "$PMEM_SRC/pmem-guest.sh" "$body"
    } > "$PMEM_DIR/guest.sh"
}

# The QEMU arguments for the device.  The chardev reconnects: to a back-end
# restarted by the test, or started for a second boot (pmem_poll).
pmem_qemu_args() {
    echo "-object memory-backend-memfd,id=mem,size=$GUEST_MEM,share=on" \
         "-machine memory-backend=mem" \
         "-chardev socket,id=vu,path=$PMEM_DIR/vu.sock,reconnect-ms=200" \
         "-device vhost-user-test-device-pci,id=pmem,chardev=vu,virtio-id=27,num_vqs=1,config_size=16" \
         "-chardev file,id=ctl,path=$PMEM_DIR/ctl.log,append=on,input-path=$PMEM_DIR/ctl.in" \
         "-serial chardev:ctl" \
         "-qmp unix:$PMEM_DIR/qmp.sock,server=on,wait=off" \
         "-trace enable=vhost_user_base_connected,file=$PMEM_DIR/qemu-trace.log"
}

# Called by every loop that waits while the guest runs.  When boot.sh
# boots again under TCG because KVM failed, the back-end served the first
# QEMU and exited: start another for the second, which waits for it (the
# chardev reconnects).
pmem_poll() {
    if [ -z "$PMEM_BOOT_PID" ] || $PMEM_RESPAWNED ||
       ! grep -q "booting again under TCG" "$PMEM_DIR/boot.out" 2>/dev/null; then
        return 0
    fi
    PMEM_RESPAWNED=true
    pmem_backend_exit
    guest_msg "KVM failed: a new back-end for the boot under TCG"
    # shellcheck disable=SC2086
    pmem_backend_start $PMEM_BACKEND_ARGS
}

# pmem_boot [--bg] [boot.sh options]: boots the guest with the device;
# returns boot.sh's status, or at once with --bg
pmem_boot() {
    bg=false
    if [ "${1:-}" = --bg ]; then
        bg=true
        shift
    fi
    PMEM_RESPAWNED=false
    # shellcheck disable=SC2046
    "$GUEST_SRC/boot.sh" --name "$PMEM_NAME" --script "$PMEM_DIR/guest.sh" \
        "$@" -- $(pmem_qemu_args) > "$PMEM_DIR/boot.out" 2>&1 7>&- &
    PMEM_BOOT_PID=$!
    $bg || pmem_boot_wait
}

# Waits for the boot to end; prints boot.sh's output, returns its status
pmem_boot_wait() {
    while kill -0 "$PMEM_BOOT_PID" 2>/dev/null; do
        pmem_poll
        sleep 0.2
    done
    st=0
    wait "$PMEM_BOOT_PID" || st=$?
    PMEM_BOOT_PID=""
    cat "$PMEM_DIR/boot.out"
    return $st
}

# Waits for a line 'CTL $1' from the guest (pmem_ctl_say)
pmem_ctl_expect() {
    local n
    n=$(( ${2:-120} * 10 ))
    while ! grep -q -x "CTL $1" "$PMEM_DIR/ctl.log" 2>/dev/null; do
        pmem_poll
        n=$((n - 1))
        if [ $n -le 0 ]; then
            if [ -n "$PMEM_BOOT_PID" ]; then
                kill "$PMEM_BOOT_PID" 2>/dev/null
                pmem_boot_wait || true
            fi
            pmem_die "the guest did not say '$1' in ${2:-120} s"
        fi
        if [ -n "$PMEM_BOOT_PID" ] && ! kill -0 "$PMEM_BOOT_PID" 2>/dev/null; then
            pmem_boot_wait || true
            pmem_die "the guest ended before it said '$1'"
        fi
        sleep 0.1
    done
    guest_msg "guest: $1"
}

pmem_ctl_send() {
    guest_msg "to the guest: $1"
    echo "$1" >&7
}

# QMP command $1 (JSON); prints the reply's "return" as JSON
pmem_qmp() {
    guest_qmp "$PMEM_DIR/qmp.sock" "$1"
}

# Region 0's live mappings per x-query-virtio-shmem, as 0xOFFSET+0xLEN
# words ('none' when there is none)
pmem_qmp_mappings() {
    pmem_qmp '{"execute": "x-query-virtio-shmem"}' | python3 -c '
import json, sys
maps = []
for dev in json.load(sys.stdin):
    for region in dev["regions"]:
        if region["shmid"] == 0:
            maps += ["0x%x+0x%x%s" % (m["shm-offset"], m["len"],
                                      "" if m["rw"] else ":ro")
                     for m in region["mappings"]]
print(" ".join(maps) if maps else "none")'
}

# Checks that QEMU still runs its guest (QMP query-status)
pmem_qemu_alive() {
    st=$(pmem_qmp '{"execute": "query-status"}') ||
        pmem_die "QEMU does not answer QMP"
    case "$st" in
        *'"running"'*) ;;
        *) pmem_die "QEMU is not running the guest: $st" ;;
    esac
}

# The 64 KiB pmem_write (pmem-guest.sh) writes for tag $2
pmem_pattern() {
    yes "$1" | head -c 65536
}

# Prints the md5 the file will have once the guest wrote at $1 with tag $2
# (and what the test planned or checked before)
pmem_plan_write() {
    pmem_pattern "$2" | dd of="$PMEM_DIR/expected" bs=65536 \
        seek=$(($(pmem_bytes "$1") / 65536)) iflag=fullblock conv=notrunc \
        2>/dev/null
    md5sum < "$PMEM_DIR/expected" | cut -d' ' -f1
}

# Checks that the file has, at $1, what the guest wrote with tag $2
# (pmem_write in pmem-guest.sh); pmem_expect_rest then checks the rest
pmem_expect_write() {
    off=$(pmem_bytes "$1")
    pmem_pattern "$2" > "$PMEM_DIR/pattern"
    dd if="$PMEM_DIR/pmem.img" bs=65536 skip=$((off / 65536)) count=1 \
        2>/dev/null | cmp -s - "$PMEM_DIR/pattern" ||
        pmem_die "the file lacks the guest's write '$2' at $off"
    dd if="$PMEM_DIR/pattern" of="$PMEM_DIR/expected" bs=65536 \
        seek=$((off / 65536)) conv=notrunc 2>/dev/null
    guest_msg "the file has the guest's write '$2' at $off"
}

# Checks that, but for the writes pmem_expect_write checked, the file has
# what the test filled it with
pmem_expect_rest() {
    cmp -s "$PMEM_DIR/pmem.img" "$PMEM_DIR/expected" ||
        pmem_die "the file changed elsewhere than the guest's writes"
    guest_msg "the rest of the file is as the test filled it"
}
