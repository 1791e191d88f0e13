#!/bin/sh
# Guest test: the guest of a vfio-user client QEMU (vfio-user-pci) uses an
# NVMe disk that a second QEMU, the server (x-vfio-user-server), exports;
# the client's RAM is not shared with the server, so every device DMA must
# travel as DMA_READ/DMA_WRITE messages.
#
# The server's disk is a 16 MiB raw file the test filled with random data.
# The guest reads its second half with O_DIRECT at 4 KiB, 64 KiB and 1 MiB
# blocks and compares it with the file's md5 (device -> guest RAM: DMA
# writes), then writes random data at 4 KiB, 64 KiB and 1 MiB blocks to
# the first 7 MiB and reads it back (guest RAM -> device: DMA reads).
# Before the guest powers off (the server drops its object when the client
# goes), the test reads the server's statistics over QMP: with anonymous
# client RAM the data went by message (x-dma-*-messages > 0, the bytes at
# least what the guest moved, no error).  Then the file holds what the
# guest wrote, and nothing else changed.
#
# The same again with the client's RAM in a shared memfd: the server maps
# it, and no DMA message at all goes.
#
# The server starts from a wrapper the test gives boot.sh as its QEMU, once
# per boot: boot.sh may boot twice (KVM, then TCG), and a server serves one
# client only.  The guest talks to the test over its second serial port (a
# file chardev appending to ctl.log, reading the FIFO ctl.in).  Logs of the
# servers and of the channel land beside the serial log, in $GUEST_LOG_DIR.
#
# Environment: QEMU (both sides), CACHE_DIR, GUEST_ACCEL... (see boot.sh);
# VFU_NVME_VARIANTS: 'anon memfd' (default), or one of them.
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-vfio-user-nvme
. "$(dirname "$(readlink -f "$0")")/lib.sh"

NAME=vfio-user-nvme
MIB=1048576
DISK_SIZE=$((16 * MIB))
# The guest reads [READ_OFF, READ_OFF + READ_LEN) as the test filled it
READ_OFF=$((8 * MIB))
READ_LEN=$((8 * MIB))
# and writes these: block size, offset, length
WRITES="4096:0:$MIB 65536:$MIB:$((2 * MIB)) $MIB:$((3 * MIB)):$((4 * MIB))"
WRITE_END=$((7 * MIB))
GUEST_MEM=${GUEST_MEM:-512M}
export GUEST_MEM
# The NVMe driver uses MSI-X.  The short timeouts bound a boot where the
# device misbehaves: the built-in driver's probe holds back /init.
KERNEL_ARGS="nvme_core.admin_timeout=10 nvme_core.io_timeout=10"

[ -x "$QEMU" ] || guest_skip "no emulator at $QEMU (build it, or set QEMU)"
guest_need_tools python3 md5sum dd mkfifo timeout
"$QEMU" -device help 2>/dev/null | grep -q '"vfio-user-pci"' ||
    guest_skip "$QEMU has no vfio-user-pci"
"$QEMU" -object help 2>/dev/null | grep -q 'x-vfio-user-server' ||
    guest_skip "$QEMU has no x-vfio-user-server"

W=$(mktemp -d "${TMPDIR:-/tmp}/guest-vfu-nvme.XXXXXX")
BOOT_PID=""
VARIANT=""

# Stops every process the test started (the boot, through it the client;
# the server of the last boot), keeps the logs; the exit status stays
cleanup() {
    st=$?
    set +e
    [ -n "$BOOT_PID" ] && kill "$BOOT_PID" 2>/dev/null
    server_stop
    keep_logs
    rm -rf "$W"
    exit $st
}

server_stop() {
    if [ -f "$W/server.pid" ]; then
        pid=$(cat "$W/server.pid")
        rm -f "$W/server.pid"
        if kill "$pid" 2>/dev/null; then
            # Up to 5 s to go, then for good
            n=50
            while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do
                sleep 0.1
                n=$((n - 1))
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    return 0
}

keep_logs() {
    [ -n "$VARIANT" ] || return 0
    mkdir -p "$GUEST_LOG_DIR"
    [ -f "$W/server.log" ] &&
        cp "$W/server.log" "$GUEST_LOG_DIR/$NAME-$VARIANT-server.log"
    [ -f "$W/ctl.log" ] &&
        cp "$W/ctl.log" "$GUEST_LOG_DIR/$NAME-$VARIANT-ctl.log"
    return 0
}

trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    if [ -f "$W/server.log" ] && [ -s "$W/server.log" ]; then
        echo "----- server log (last 30 lines) -----"
        tail -n 30 "$W/server.log"
        echo "-----"
    fi
    guest_die "$VARIANT: $*"
}

mkfifo "$W/ctl.in"
exec 7<>"$W/ctl.in"

# The wrapper boot.sh runs as QEMU: before each boot with the device, a
# fresh server (the previous one stopped), then the client.  The server's
# pid goes to server.pid, for the test to stop it.
cat > "$W/qemu-wrapper" <<'EOF'
#!/bin/sh
# Written by tests/guest/test-vfio-user-nvme.sh: starts the vfio-user
# server, then runs the client.
case " $* " in
    *vfio-user-pci*) ;;
    *) exec "$VFU_REAL_QEMU" "$@" ;;
esac
w=$VFU_WORK
if [ -f "$w/server.pid" ]; then
    # The previous server must be gone before its socket is reused.
    old=$(cat "$w/server.pid")
    kill "$old" 2>/dev/null
    n=0
    while kill -0 "$old" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -gt 300 ]; then
            echo "the previous server $old did not exit in 30 s" >> "$w/server.log"
            exit 1
        fi
        sleep 0.1
    done
fi
rm -f "$w/nvme.sock" "$w/qmp.sock"
: > "$w/ctl.log"
echo "=== server for: $VFU_REAL_QEMU $* ===" >> "$w/server.log"
"$VFU_REAL_QEMU" -machine x-remote,vfio-user=on,auto-shutdown=off \
    -nodefaults -nographic -monitor none -serial none \
    -blockdev "driver=file,filename=$w/disk.img,node-name=f0" \
    -blockdev raw,file=f0,node-name=d0 \
    -device nvme,id=dev0,serial=vfu,drive=d0 \
    -object "{\"qom-type\":\"x-vfio-user-server\",\"id\":\"vfu0\",\"device\":\"dev0\",\"socket\":{\"type\":\"unix\",\"path\":\"$w/nvme.sock\"}}" \
    -qmp "unix:$w/qmp.sock,server=on,wait=off" \
    </dev/null >> "$w/server.log" 2>&1 &
echo $! > "$w/server.pid"
n=100
while [ ! -S "$w/nvme.sock" ] || [ ! -S "$w/qmp.sock" ]; do
    if ! kill -0 "$(cat "$w/server.pid")" 2>/dev/null; then
        echo "qemu-wrapper: the vfio-user server exited at start (see its log)" >&2
        exit 1
    fi
    n=$((n - 1))
    if [ $n -le 0 ]; then
        echo "qemu-wrapper: the vfio-user server did not listen in 10 s" >&2
        exit 1
    fi
    sleep 0.1
done
echo "qemu-wrapper: server pid $(cat "$w/server.pid") listens on $w/nvme.sock" >&2
exec "$VFU_REAL_QEMU" "$@"
EOF
chmod 755 "$W/qemu-wrapper"

# QMP command $1 (JSON) to the server; prints the reply's "return" as
# JSON, or the error on stderr and fails
server_qmp() {
    guest_qmp "$W/qmp.sock" "$1"
}

STATS="x-dma-read-messages x-dma-write-messages x-dma-read-bytes
       x-dma-write-bytes x-dma-errors"

# Reads the server's statistics into $W/stats ('name value' lines, or
# 'name error: why')
read_stats() {
    : > "$W/stats"
    for s in $STATS; do
        if v=$(server_qmp "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/objects/vfu0\", \"property\": \"$s\"}}" 2>"$W/qmp.err"); then
            echo "$s $v" >> "$W/stats"
        else
            echo "$s error: $(tail -n 1 "$W/qmp.err")" >> "$W/stats"
        fi
    done
}

# The value of statistic $1, empty when it could not be read
stat_of() {
    sed -n "s/^$1 \([0-9][0-9]*\)\$/\1/p" "$W/stats"
}

# md5 of $2 bytes of file $3 at $1 (MiB multiples)
file_md5() {
    dd if="$3" bs=$MIB skip=$(($1 / MIB)) count=$(($2 / MIB)) 2>/dev/null |
        md5sum | cut -d' ' -f1
}

# The guest script: the host's md5 of the region the guest reads, then the
# body (runs under busybox sh; fail() ends it with a reason)
guest_script() {
    {
        echo "READ_OFF=$READ_OFF READ_LEN=$READ_LEN READ_MD5=$READ_MD5"
        echo "WRITES='$WRITES' MIB=$MIB DISK_SIZE=$DISK_SIZE"
        cat <<'GUEST'
exec 3<>/dev/ttyS1 || fail "no /dev/ttyS1 for the control channel"
stty raw -echo <&3 || fail "stty on /dev/ttyS1 failed"
say() { echo "CTL $*" >&3; echo "said to the host: $*"; }
now() { cut -d' ' -f1 /proc/uptime; }

dev=/dev/nvme0n1
n=0
while [ ! -b $dev ] && [ $n -lt 300 ]; do
    sleep 0.1
    n=$((n + 1))
done
if [ ! -b $dev ]; then
    echo "PCI functions:"
    for d in /sys/bus/pci/devices/*; do
        drv=-
        [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
        echo "  ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") $(cat "$d/class") $drv"
    done
    echo "kernel messages about nvme:"
    dmesg | grep -i nvme | tail -n 20
    fail "no $dev after 30 s: the NVMe driver could not use the vfio-user device (does the server's DMA reach guest RAM?)"
fi
size=$(blockdev --getsize64 $dev)
[ "$size" = "$DISK_SIZE" ] || fail "$dev has $size bytes, expected $DISK_SIZE"
echo "$dev: $size bytes, at $(now) s of uptime"

# O_DIRECT copies: dd_in BS SKIP COUNT FILE, dd_out FILE BS SEEK COUNT
dd_in() {
    dd if=$dev of="$4" bs="$1" skip="$2" count="$3" iflag=direct 2>/tmp/dd.err ||
        { cat /tmp/dd.err; dmesg | tail -n 10; fail "O_DIRECT read of $3 x $1 bytes at block $2 failed"; }
}
dd_out() {
    dd if="$1" of=$dev bs="$2" seek="$3" count="$4" oflag=direct conv=notrunc,fsync 2>/tmp/dd.err ||
        { cat /tmp/dd.err; dmesg | tail -n 10; fail "O_DIRECT write of $4 x $2 bytes at block $3 failed"; }
}
md5() { md5sum "$1" | cut -d' ' -f1; }

# Device -> guest RAM: the host's data, at each block size
for bs in 4096 65536 $MIB; do
    dd_in $bs $((READ_OFF / bs)) $((READ_LEN / bs)) /tmp/r
    got=$(md5 /tmp/r)
    if [ "$got" != "$READ_MD5" ]; then
        zeros=$(tr -d '\000' < /tmp/r | wc -c)
        fail "read at $bs-byte blocks: md5 $got, expected $READ_MD5 (the server's file; $zeros non-zero bytes of $READ_LEN)"
    fi
    echo "read $READ_LEN bytes at offset $READ_OFF in $bs-byte blocks: md5 $got, as the host's file ($(now) s)"
done

# Guest RAM -> device and back: random data at each block size
for w in $WRITES; do
    bs=${w%%:*}; rest=${w#*:}; off=${rest%%:*}; len=${rest#*:}
    head -c "$len" /dev/urandom > /tmp/w
    want=$(md5 /tmp/w)
    dd_out /tmp/w $bs $((off / bs)) $((len / bs))
    dd_in $bs $((off / bs)) $((len / bs)) /tmp/r
    got=$(md5 /tmp/r)
    [ "$got" = "$want" ] ||
        fail "wrote $len bytes at $off in $bs-byte blocks, md5 $want; read back md5 $got"
    echo "wrote and read back $len bytes at offset $off in $bs-byte blocks: md5 $want ($(now) s)"
    say "wrote $off $len $want"
done
rm -f /tmp/w /tmp/r
# Commands that timed out and were completed by polling (a lost interrupt)
# pass, 10 s late each (io_timeout): show them
timeouts=$(dmesg | grep -c 'nvme.*timeout')
if [ "$timeouts" != 0 ]; then
    echo "nvme commands that timed out: $timeouts"
    dmesg | grep 'nvme.*timeout' | tail -n 5
fi

# The host reads the server's statistics while the client is connected
say "done"
while :; do
    line=""
    read -t 60 -r line <&3 || fail "no word from the host in 60 s"
    line=$(echo "$line" | tr -d '\r')
    [ "$line" = go ] && break
    echo "unexpected from the host: $line"
done
echo "the host read the statistics"
GUEST
    } > "$W/guest.sh"
}

# Waits for the boot to end, answering the guest's 'done' with the
# statistics; returns boot.sh's status
boot_wait() {
    asked=false
    while kill -0 "$BOOT_PID" 2>/dev/null; do
        if ! $asked && grep -q -x "CTL done" "$W/ctl.log" 2>/dev/null; then
            asked=true
            read_stats
            echo go >&7
        fi
        sleep 0.2
    done
    st=0
    wait "$BOOT_PID" || st=$?
    BOOT_PID=""
    cat "$W/boot.out"
    return $st
}

# run_variant anon|memfd
run_variant() {
    VARIANT=$1
    : > "$W/server.log"
    : > "$W/ctl.log"
    rm -f "$W/stats"
    head -c $DISK_SIZE /dev/urandom > "$W/disk.img"
    cp "$W/disk.img" "$W/disk.orig"
    READ_MD5=$(file_md5 $READ_OFF $READ_LEN "$W/disk.img")
    guest_script
    case $VARIANT in
        anon)
            ram=""
            how="anonymous (not shared: message DMA)"
            ;;
        memfd)
            ram="-object memory-backend-memfd,id=mem,size=$GUEST_MEM,share=on -machine memory-backend=mem"
            how="in a shared memfd (the server maps it)"
            ;;
    esac
    guest_msg "$VARIANT: server nvme on a 16 MiB file; client RAM $how"
    # shellcheck disable=SC2086
    env VFU_REAL_QEMU="$QEMU" VFU_WORK="$W" QEMU="$W/qemu-wrapper" \
        "$GUEST_SRC/boot.sh" --name "$NAME-$VARIANT" --script "$W/guest.sh" \
        --timeout 240 --append "$KERNEL_ARGS" -- $ram \
        -device "{\"driver\":\"vfio-user-pci\",\"id\":\"vu0\",\"socket\":{\"type\":\"unix\",\"path\":\"$W/nvme.sock\"}}" \
        -chardev "file,id=ctl,path=$W/ctl.log,append=on,input-path=$W/ctl.in" \
        -serial chardev:ctl \
        > "$W/boot.out" 2>&1 7>&- &
    BOOT_PID=$!
    st=0
    boot_wait || st=$?
    server_stop
    [ -f "$W/stats" ] && sed "s/^/$GUEST_PROG: $VARIANT: server statistic /" "$W/stats"
    [ $st = 0 ] || die "the guest test failed (boot.sh status $st)"

    # The guest's writes, in the server's file
    guest_writes=0
    for w in $WRITES; do
        rest=${w#*:}; off=${rest%%:*}; len=${rest#*:}
        want=$(sed -n "s/^CTL wrote $off $len \([0-9a-f]*\)\$/\1/p" "$W/ctl.log" | tr -d '\r' | tail -n 1)
        [ -n "$want" ] || die "the guest did not report its write at $off"
        got=$(file_md5 "$off" "$len" "$W/disk.img")
        [ "$got" = "$want" ] ||
            die "the server's file has md5 $got at [$off, +$len), the guest wrote $want"
        guest_writes=$((guest_writes + len))
    done
    # and nothing else changed
    rest=$((DISK_SIZE - WRITE_END))
    [ "$(file_md5 $WRITE_END $rest "$W/disk.img")" = "$(file_md5 $WRITE_END $rest "$W/disk.orig")" ] ||
        die "the server's file changed beyond the guest's writes, in [$WRITE_END, $DISK_SIZE)"
    guest_msg "$VARIANT: the server's file holds the guest's $guest_writes bytes, the rest unchanged"

    # How the data went
    [ -f "$W/stats" ] || die "the guest never said 'done': no statistics"
    for s in $STATS; do
        [ -n "$(stat_of "$s")" ] ||
            die "cannot read the server's statistic $s: $(sed -n "s/^$s //p" "$W/stats")"
    done
    rm_=$(stat_of x-dma-read-messages)
    wm=$(stat_of x-dma-write-messages)
    rb=$(stat_of x-dma-read-bytes)
    wb=$(stat_of x-dma-write-bytes)
    errs=$(stat_of x-dma-errors)
    [ "$errs" = 0 ] || die "the server counted $errs DMA errors"
    case $VARIANT in
        anon)
            # Device reads of guest RAM: at least the guest's writes;
            # device writes: at least the three reads
            reads=$((3 * READ_LEN))
            if [ "$rm_" = 0 ] || [ "$wm" = 0 ]; then
                die "no DMA message went (read $rm_, write $wm) with unshared client RAM: the data did not go by message"
            fi
            [ "$rb" -ge "$guest_writes" ] ||
                die "DMA_READ moved $rb bytes, less than the guest's $guest_writes bytes of writes"
            [ "$wb" -ge "$reads" ] ||
                die "DMA_WRITE moved $wb bytes, less than the guest's $reads bytes of reads"
            guest_msg "$VARIANT: by message: $rm_ DMA_READ ($rb bytes), $wm DMA_WRITE ($wb bytes), no error"
            ;;
        memfd)
            if [ "$rm_$wm$rb$wb" != 0000 ]; then
                die "DMA messages went although the client shares its RAM: read $rm_ ($rb bytes), write $wm ($wb bytes)"
            fi
            guest_msg "$VARIANT: no DMA message (the server mapped the client's RAM)"
            ;;
    esac
    keep_logs
}

for v in ${VFU_NVME_VARIANTS:-anon memfd}; do
    case $v in
        anon|memfd) run_variant "$v" ;;
        *) guest_die "unknown variant '$v' in VFU_NVME_VARIANTS (anon, memfd)" ;;
    esac
done
guest_msg "PASS"
