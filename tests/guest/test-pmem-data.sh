#!/bin/sh
# Guest test: the guest's virtio_pmem driver uses a region that
# contrib/vhost-user-pmem maps from a file through vhost-user-test-device-pci
# (virtio id 27, VIRTIO Shared Memory Region 0 in BAR 2).
#
# The back-end maps a 32 MiB file the test filled with random data, in
# four 8 MiB chunks.  The guest checks that virtio_pmem negotiated
# VIRTIO_PMEM_F_SHMEM_REGION and put /dev/pmem0 on region 0 of BAR 2, that
# /dev/pmem0 has the file's content (md5), and writes two patterns with
# fsync.  After the guest powered off, the file has both writes and nothing
# else changed, the back-end served flush requests and exited with status
# 0 when QEMU disconnected.
#
# Environment: QEMU, VHOST_USER_PMEM, CACHE_DIR (see boot.sh, pmem-lib.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-pmem-data
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/pmem-lib.sh"

pmem_setup pmem-data
pmem_fill 32M 8M
pmem_backend_start --chunk-size=8M

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_probe
pmem_wait_mapped
pmem_check_all
pmem_write $((8 * 1024 * 1024 - 65536)) guest-write-end-of-chunk-0
pmem_write $((24 * 1024 * 1024)) guest-write-start-of-chunk-3
GUEST
pmem_guest_script "$PMEM_DIR/body.sh"

pmem_boot --timeout 180 || pmem_die "the guest test failed"

pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
grep -q "4 of 4 chunks of 0x800000 bytes mapped" "$PMEM_BACKEND_LOG" ||
    pmem_die "the back-end did not map its 4 chunks"
flushes=$(sed -n 's/.*served \([0-9]*\) flush requests.*/\1/p' "$PMEM_BACKEND_LOG")
[ "${flushes:-0}" -gt 0 ] || pmem_die "the back-end served no flush request"
guest_msg "the back-end served $flushes flush requests and exited with status 0"
pmem_expect_write $((8 * 1024 * 1024 - 65536)) guest-write-end-of-chunk-0
pmem_expect_write $((24 * 1024 * 1024)) guest-write-start-of-chunk-3
pmem_expect_rest
guest_msg "PASS"
