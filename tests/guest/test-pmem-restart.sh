#!/bin/sh
# Guest test: the vhost-user-pmem back-end dies under a running guest and
# a new one takes over, as docs/system/devices/virtio/vhost-user.rst says:
# QEMU drops the back-end's mappings and marks the device as needing a
# reset; the guest survives, and QEMU too; once the guest reset the device
# (unbind and bind virtio_pmem) the new back-end maps the file again.
#
# A 16 MiB file in two 8 MiB chunks.  The guest checks /dev/pmem0 and
# writes a pattern, which the test finds in the file at once.  The test
# kills the back-end (SIGKILL): QMP lists no mapping, QEMU still runs, the
# guest sees DEVICE_NEEDS_RESET in the device status and no data in the
# region.  A new back-end on the same socket and file (the chardev
# reconnects) maps nothing until the guest resets the device; then the
# guest finds its earlier write in /dev/pmem0 and writes once more.  After
# the guest powered off the file has both writes, and the second back-end
# exited with status 0.
#
# Environment: QEMU, VHOST_USER_PMEM, CACHE_DIR (see boot.sh, pmem-lib.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-pmem-restart
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/pmem-lib.sh"

pmem_setup pmem-restart
pmem_fill 16M 8M
pmem_backend_start --chunk-size=8M

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
pmem_probe
pmem_wait_mapped
pmem_check_all
pmem_write $((4 * 1024 * 1024)) guest-write-before-restart
pmem_ctl_say written
pmem_ctl_wait backend-gone

n=0
while [ $(($(pmem_status) & 0x40)) = 0 ]; do
    n=$((n + 1))
    [ $n -le 100 ] ||
        fail "the device status is $(pmem_status), no DEVICE_NEEDS_RESET 10 s after the back-end died"
    sleep 0.1
done
echo "device status $(cat "$(pmem_vdev)/status"): DEVICE_NEEDS_RESET is set"
[ "$(pmem_chunk_head 0)" != "$(pmem_chunk_magic 0)" ] ||
    fail "chunk 0 still shows the back-end's data after it died"
echo "region 0 reads as:$(pmem_chunk_head 0 | od -A n -t x1 | head -n 1)"
pmem_ctl_say needs-reset
pmem_ctl_wait backend-back

vdev=$(pmem_vdev)
echo "${vdev##*/}" > /sys/bus/virtio/drivers/virtio_pmem/unbind ||
    fail "cannot unbind ${vdev##*/} from virtio_pmem"
[ ! -b /dev/pmem0 ] || fail "/dev/pmem0 is still there after the unbind"
echo "${vdev##*/}" > /sys/bus/virtio/drivers/virtio_pmem/bind ||
    fail "cannot bind ${vdev##*/} to virtio_pmem again"
echo "reset the device: unbound and bound virtio_pmem again"
pmem_probe
[ $(($(pmem_status) & 0x40)) = 0 ] || fail "the device still needs a reset"
echo "device status $(cat "$(pmem_vdev)/status")"
pmem_wait_mapped
sum=$(pmem_md5 0 "$PMEM_SIZE")
[ "$sum" = "$MD5_AFTER_WRITE" ] ||
    fail "/dev/pmem0 has md5 $sum after the restart, expected $MD5_AFTER_WRITE (the file with the first write)"
echo "/dev/pmem0 has the file with the first write (md5 $sum)"
pmem_write $((12 * 1024 * 1024)) guest-write-after-restart
echo "dmesg about virtio and pmem:"
dmesg | grep -i -E "virtio|pmem" | sed "s/^/  /"
GUEST
pmem_guest_script "$PMEM_DIR/body.sh" \
    "MD5_AFTER_WRITE=$(pmem_plan_write 4M guest-write-before-restart)"

pmem_boot --bg --timeout 180
pmem_ctl_expect written
pmem_expect_write 4M guest-write-before-restart

kill -KILL "$PMEM_BACKEND_PID"
pmem_backend_exit
guest_msg "killed the back-end (status $PMEM_BACKEND_STATUS)"
n=0
while [ "$(pmem_qmp_mappings)" != none ]; do
    n=$((n + 1))
    [ $n -le 50 ] || pmem_die "QMP still lists mappings 10 s after the back-end died: $(pmem_qmp_mappings)"
    sleep 0.2
done
guest_msg "QMP: region 0 has no mapping left"
pmem_qemu_alive
pmem_ctl_send backend-gone

pmem_ctl_expect needs-reset
pmem_qemu_alive
pmem_backend_start --chunk-size=8M
pmem_backend_wait "the front-end connected" 30
# QEMU traces on each connection whether it starts the device again: not
# on this one, since the guest has not reset the device yet.  The back-end
# maps only when QEMU starts the device, so no mapping can follow.
pmem_trace_wait "vhost_user_base_connected .* start [01]" 30 2
last=$(grep -E "vhost_user_base_connected .* start [01]" \
       "$PMEM_DIR/qemu-trace.log" | tail -n 1)
case $last in
*"start 0"*) guest_msg "QEMU's trace: ${last#*vhost_user_base_connected }" ;;
*) pmem_die "QEMU started the device on the new back-end's connection: $last" ;;
esac
maps=$(pmem_qmp_mappings)
[ "$maps" = none ] ||
    pmem_die "the new back-end mapped '$maps' before the guest reset the device"
guest_msg "a new back-end is connected; no mapping until the guest resets the device"
pmem_ctl_send backend-back

pmem_boot_wait || pmem_die "the guest test failed"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the new back-end exited with status $PMEM_BACKEND_STATUS"
grep -q "region 0: 2 of 2 chunks" "$PMEM_BACKEND_LOG" ||
    pmem_die "the new back-end did not map its chunks"
pmem_expect_write 4M guest-write-before-restart
pmem_expect_write 12M guest-write-after-restart
pmem_expect_rest
guest_msg "PASS"
