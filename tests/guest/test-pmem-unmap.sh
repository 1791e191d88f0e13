#!/bin/sh
# Guest test: contrib/vhost-user-pmem unmaps a chunk of the guest's pmem
# while the guest is idle, and maps it again (VHOST_USER_BACKEND_SHMEM_UNMAP
# and _MAP on a running device).
#
# A 16 MiB file in four 4 MiB chunks.  Once the guest checked /dev/pmem0
# and went idle, the test sends the back-end SIGUSR1 (unmap the last mapped
# chunk): QMP must list chunks 0 to 2 only, QEMU keeps running, and the
# guest still reads chunks 0 to 2 but not the back-end's data in chunk 3.
# SIGUSR2 maps chunk 3 again: QMP lists the four, and the guest reads the
# file's data there again.  QMP stop and cont stop and start the device's
# queue without a reset: the back-end maps afresh what QEMU kept.  Last,
# the guest resets the device (unbind and
# bind virtio_pmem), which drops every mapping: the back-end maps the
# region again when the device starts, and the guest finds the file.  The guest and the test talk over the guest's
# second serial port (pmem-lib.sh).
#
# Environment: QEMU, VHOST_USER_PMEM, CACHE_DIR (see boot.sh, pmem-lib.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-pmem-unmap
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/pmem-lib.sh"

pmem_setup pmem-unmap
pmem_fill 16M 4M
pmem_backend_start --chunk-size=4M

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
pmem_probe
pmem_wait_mapped
pmem_check_all
pmem_ctl_say idle
pmem_ctl_wait unmapped

sum=$(pmem_md5 0 $((3 * PMEM_CHUNK)))
[ "$sum" = "$MD5_CHUNKS_0_2" ] ||
    fail "chunks 0 to 2 have md5 $sum after the unmap of chunk 3, expected $MD5_CHUNKS_0_2"
echo "chunks 0 to 2 still have the back-end's data (md5 $sum)"
head3=$(pmem_chunk_head 3 | od -A n -t x1 | head -n 1)
echo "the start of chunk 3 now reads as:$head3"
[ "$(pmem_chunk_head 3)" != "$(pmem_chunk_magic 3)" ] ||
    fail "chunk 3 still shows the back-end's data after its unmap"
sum=$(pmem_md5 $((3 * PMEM_CHUNK)) "$PMEM_CHUNK")
[ "$sum" != "$MD5_CHUNK_3" ] || fail "chunk 3 still has the back-end's data"
echo "chunk 3 no longer has the back-end's data (md5 $sum)"

pmem_ctl_say remap
pmem_ctl_wait remapped
pmem_wait_mapped 3 3
sum=$(pmem_md5 $((3 * PMEM_CHUNK)) "$PMEM_CHUNK")
[ "$sum" = "$MD5_CHUNK_3" ] ||
    fail "chunk 3 has md5 $sum once mapped again, expected $MD5_CHUNK_3"
echo "chunk 3 has the back-end's data again (md5 $sum)"
pmem_check_all

# A reset by the guest drops every mapping; the back-end maps them again
# when the device starts
vdev=$(pmem_vdev)
echo "${vdev##*/}" > /sys/bus/virtio/drivers/virtio_pmem/unbind ||
    fail "cannot unbind ${vdev##*/} from virtio_pmem"
echo "${vdev##*/}" > /sys/bus/virtio/drivers/virtio_pmem/bind ||
    fail "cannot bind ${vdev##*/} to virtio_pmem again"
echo "reset the device: unbound and bound virtio_pmem again"
pmem_probe
pmem_wait_mapped
pmem_check_all
GUEST
pmem_guest_script "$PMEM_DIR/body.sh" \
    "MD5_CHUNKS_0_2=$(pmem_orig_md5 0 12M)" \
    "MD5_CHUNK_3=$(pmem_orig_md5 12M 4M)"

all="0x0+0x400000 0x400000+0x400000 0x800000+0x400000 0xc00000+0x400000"
first3="0x0+0x400000 0x400000+0x400000 0x800000+0x400000"

pmem_boot --bg --timeout 180
pmem_ctl_expect idle
maps=$(pmem_qmp_mappings)
[ "$maps" = "$all" ] || pmem_die "QMP lists the mappings '$maps', expected '$all'"
guest_msg "QMP: region 0 mappings $maps"

kill -USR1 "$PMEM_BACKEND_PID"
pmem_backend_wait "unmapped chunk 3 " 30
maps=$(pmem_qmp_mappings)
[ "$maps" = "$first3" ] ||
    pmem_die "after the unmap QMP lists '$maps', expected '$first3'"
guest_msg "QMP after SIGUSR1: region 0 mappings $maps"
pmem_qemu_alive
pmem_ctl_send unmapped

pmem_ctl_expect remap
kill -USR2 "$PMEM_BACKEND_PID"
pmem_backend_wait "region 0: 4 of 4 chunks" 30 2
maps=$(pmem_qmp_mappings)
[ "$maps" = "$all" ] || pmem_die "after the remap QMP lists '$maps', expected '$all'"
guest_msg "QMP after SIGUSR2: region 0 mappings $maps"

# A stop that is not a reset keeps the mappings, but the back-end sees
# its queue stop and start: it finds them and maps them afresh
pmem_qmp '{"execute": "stop"}' > /dev/null
pmem_qmp '{"execute": "cont"}' > /dev/null
pmem_backend_wait "region 0: 4 of 4 chunks" 30 3
grep -q "chunk 0 was still mapped" "$PMEM_BACKEND_LOG" ||
    pmem_die "the back-end did not find its mappings after stop and cont"
maps=$(pmem_qmp_mappings)
[ "$maps" = "$all" ] || pmem_die "after stop and cont QMP lists '$maps', expected '$all'"
guest_msg "QMP after stop and cont: region 0 mappings $maps"
pmem_ctl_send remapped

pmem_boot_wait || pmem_die "the guest test failed"
[ "$(grep -c "region 0: 4 of 4 chunks" "$PMEM_BACKEND_LOG")" = 4 ] ||
    pmem_die "the back-end did not map the region 4 times (start, SIGUSR2, cont, reset)"
guest_msg "the back-end mapped the region again after the guest reset the device"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
guest_msg "PASS"
