# Host side of the virtiofs guest tests (test-fs-*.sh); sourced after
# lib.sh.
#
# contrib/vhost-user-fs-dax serves $PMEM_DIR/share to the guest through
# vhost-user-fs-pci (tag "share"), with a DAX window when FS_CACHE_SIZE is
# set.  The rest is pmem-lib.sh's, whose back-end and device helpers this
# file replaces: the work directory, the control channel (ttyS1), QMP,
# pmem_qmp_mappings (region 0 is the DAX window), the boot that starts a
# second back-end when boot.sh boots again under TCG.
#
#   fs_setup NAME                work directory, $FS_SHARE, cleanup on exit
#   pmem_backend_start ARGS      the back-end on $FS_SHARE, more options
#   fs_guest_script BODY [VAR=VALUE...]
#                                $PMEM_DIR/guest.sh: the VARs, fs-guest.sh
#                                (and pmem-guest.sh's channel), then BODY
#   fs_pattern TAG SIZE          SIZE bytes of a pattern (as in the guest)
#   fs_expect_file PATH MD5      the shared file has that md5
#
# Environment: VHOST_USER_FS_DAX (the back-end binary), FS_CACHE_SIZE (the
# window, as the device's cache-size; empty: none), and lib.sh's.

. "$GUEST_SRC/pmem-lib.sh"

if [ -z "${VHOST_USER_FS_DAX:-}" ]; then
    fs_obj=$(guest_config OBJ_DIR)
    VHOST_USER_FS_DAX=${fs_obj:-$BUILD_DIR/obj}/contrib/vhost-user-fs-dax/vhost-user-fs-dax
fi
FS_CACHE_SIZE=${FS_CACHE_SIZE:-}
FS_SHARE=""

fs_setup() {
    [ -x "$VHOST_USER_FS_DAX" ] ||
        guest_skip "no vhost-user-fs-dax at $VHOST_USER_FS_DAX (build it, or set VHOST_USER_FS_DAX)"
    # pmem_setup wants a back-end binary: it is ours here
    VHOST_USER_PMEM=$VHOST_USER_FS_DAX
    pmem_setup "$1"
    FS_SHARE=$PMEM_DIR/share
    mkdir "$FS_SHARE"
    trap fs_cleanup EXIT
}

# The back-end runs in a loop that starts it again when the guest never
# mounted: boot.sh boots a second time, under TCG, after KVM failed in the
# kernel's decompressor.  The device cannot wait for a back-end that comes
# late (vhost-user-fs-pci has no reconnect at realize): the next one must
# listen before the second QEMU starts.  $PMEM_DIR/backend.pid is the
# back-end's pid, backend.status its exit status.
pmem_backend_start() {
    PMEM_BACKEND_N=1
    PMEM_BACKEND_LOG=$PMEM_DIR/backend-1.log
    (
        while :; do
            "$VHOST_USER_FS_DAX" --socket-path="$PMEM_DIR/vu.sock" \
                --shared-dir="$FS_SHARE" \
                ${FS_CACHE_SIZE:+--cache-size=$FS_CACHE_SIZE} "$@" \
                >> "$PMEM_BACKEND_LOG" 2>&1 7>&- &
            echo $! > "$PMEM_DIR/backend.pid"
            st=0
            wait $! || st=$?
            echo $st > "$PMEM_DIR/backend.status"
            tail -n 1 "$PMEM_BACKEND_LOG" | grep -q "served 0 requests" ||
                exit $st
            echo "fs-lib: the guest never mounted: a back-end for the next boot" \
                >> "$PMEM_BACKEND_LOG"
        done
    ) 7>&- &
    PMEM_BACKEND_PID=$!
    pmem_backend_wait "waiting for the front-end" 10
}

# The loop above starts the back-end again: nothing to do here
pmem_poll() {
    return 0
}

fs_cleanup() {
    st=$?
    if [ -f "$PMEM_DIR/backend.pid" ]; then
        kill "$(cat "$PMEM_DIR/backend.pid")" 2>/dev/null || true
    fi
    (exit $st)
    pmem_cleanup
}

pmem_qemu_args() {
    echo "-object memory-backend-memfd,id=mem,size=$GUEST_MEM,share=on" \
         "-machine memory-backend=mem" \
         "-chardev socket,id=vu,path=$PMEM_DIR/vu.sock" \
         "-device vhost-user-fs-pci,id=fs,chardev=vu,tag=share${FS_CACHE_SIZE:+,cache-size=$FS_CACHE_SIZE}" \
         "-chardev file,id=ctl,path=$PMEM_DIR/ctl.log,append=on,input-path=$PMEM_DIR/ctl.in" \
         "-serial chardev:ctl" \
         "-qmp unix:$PMEM_DIR/qmp.sock,server=on,wait=off"
}

fs_guest_script() {
    body=$1
    shift
    {
        for v in "$@"; do
            echo "$v"
        done
        cat "$PMEM_SRC/pmem-guest.sh" "$PMEM_SRC/fs-guest.sh" "$body"
    } > "$PMEM_DIR/guest.sh"
}

fs_pattern() {
    yes "$1" | head -c "$2"
}

fs_expect_file() {
    [ -f "$FS_SHARE/$1" ] || pmem_die "no file $1 in the shared directory"
    sum=$(md5sum < "$FS_SHARE/$1" | cut -d' ' -f1)
    [ "$sum" = "$2" ] || pmem_die "$1 has md5 $sum, expected $2"
    guest_msg "host: $1 has md5 $sum as expected"
}

# The number of live mappings in the DAX window (QMP)
fs_qmp_nr_mappings() {
    m=$(pmem_qmp_mappings) || pmem_die "x-query-virtio-shmem failed"
    if [ "$m" = none ]; then
        echo 0
    else
        echo "$m" | wc -w
    fi
}

# Builds fs-mmap.c, static, into the shared directory's .tools: the guest
# runs it from there.  Skips without a C compiler able to link statically.
fs_tools() {
    mkdir -p "$FS_SHARE/.tools"
    ${CC:-cc} -static -O2 -o "$FS_SHARE/.tools/fs-mmap" "$GUEST_SRC/fs-mmap.c" \
        2>"$PMEM_DIR/cc.log" ||
        guest_skip "cannot build fs-mmap.c static with ${CC:-cc}: $(head -3 "$PMEM_DIR/cc.log")"
}
