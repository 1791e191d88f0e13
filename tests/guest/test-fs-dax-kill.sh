#!/bin/sh
# Guest test: the back-end is killed (SIGKILL) while the guest holds a file
# mapped through the DAX window.  QEMU must stay up and running the guest,
# drop the window's mappings (QMP counts none), and the guest must not see
# the file's bytes any more through its old mapping (the host memory is
# gone from the window: it reads something else, or takes SIGBUS).  A
# read() of a file not in its cache fails with EIO: QEMU answers the
# requests of a device whose back-end is gone.
#
# Environment: as test-fs-data.sh.  Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-fs-dax-kill
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/fs-lib.sh"

FS_CACHE_SIZE=16M
fs_setup fs-dax-kill
fs_tools
head -c $((4 * 1048576)) /dev/urandom > "$FS_SHARE/hold.bin"
head -c 65536 /dev/urandom > "$FS_SHARE/other.bin"
pmem_backend_start

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
fs_mount dax=always
cp /mnt/.tools/fs-mmap /tmp/fs-mmap
mkfifo /tmp/go
(/tmp/fs-mmap hold /mnt/hold.bin < /tmp/go > /tmp/hold.out) &
exec 4> /tmp/go
n=0
while ! grep -q mapped /tmp/hold.out; do
    n=$((n + 1)); [ $n -le 300 ] || fail "fs-mmap hold did not map"
    sleep 0.1
done
pmem_ctl_say mapped
pmem_ctl_wait killed
echo go >&4
# Not 'wait': its exit closes the file, a FLUSH nobody will answer
n=0
while [ "$(wc -l < /tmp/hold.out)" -lt 2 ]; do
    n=$((n + 1)); [ $n -le 300 ] || fail "fs-mmap hold said nothing after the kill"
    sleep 0.1
done
res=$(tail -1 /tmp/hold.out)
echo "the old mapping after the back-end died: $res"
[ "$res" = same ] && fail "the guest still reads the file through the window after the back-end died"
# QEMU answers for the back-end that is gone: EIO, never data
cat /mnt/other.bin > /tmp/other 2> /tmp/other.err &
cat_pid=$!
n=0
while kill -0 $cat_pid 2>/dev/null; do
    n=$((n + 1)); [ $n -le 300 ] || fail "read() with no back-end never returned"
    sleep 0.1
done
wait $cat_pid && fail "read() of a new file succeeded with no back-end"
[ -s /tmp/other ] && fail "read() of a new file returned data with no back-end"
grep -q "Input/output error" /tmp/other.err ||
    fail "read() with no back-end: '$(cat /tmp/other.err)', not EIO"
echo "read() with no back-end: EIO"
pmem_ctl_say checked
pmem_ctl_wait bye
# /init's poweroff would sync a file system that can only fail: give the
# verdict here and power off without it
echo
echo "GUEST-TEST: PASS"
poweroff -n -f
GUEST
fs_guest_script "$PMEM_DIR/body.sh"
pmem_boot --bg --timeout 240
pmem_ctl_expect mapped 200
n=$(fs_qmp_nr_mappings)
guest_msg "QMP: $n mappings while the guest holds the file mapped"
[ "$n" -gt 0 ] || pmem_die "no mapping in the window while the guest holds one"
pid=$(cat "$PMEM_DIR/backend.pid")
kill -KILL "$pid"
guest_msg "killed the back-end ($pid)"
i=0
while [ "$(fs_qmp_nr_mappings)" != 0 ]; do
    i=$((i + 1))
    [ $i -le 100 ] || pmem_die "QEMU still has mappings 10 s after the back-end died"
    sleep 0.1
done
guest_msg "QMP: no mapping left in the window"
pmem_qemu_alive
pmem_ctl_send killed
pmem_ctl_expect checked 60
pmem_qemu_alive
guest_msg "QEMU still runs the guest"
pmem_ctl_send bye
pmem_boot_wait || pmem_die "the guest test failed"
guest_msg "PASS"
