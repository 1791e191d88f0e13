#!/bin/sh
# Guest test: contrib/vhost-user-pmem --read-only maps the file read-only
# (VHOST_USER_BACKEND_SHMEM_MAP without VHOST_USER_FLAG_MAP_RW): the guest
# reads the file's content through virtio_pmem but cannot change it.
#
# An 8 MiB file in one mapping.  QMP lists it read-only; the guest checks
# /dev/pmem0 against the file, writes a pattern with fsync, and reads back
# its pattern (the mapping is private to QEMU's window: the write went to
# a copy of those pages that only the guest sees) while the rest still
# shows the file.  After the guest powered off the file is unchanged.
#
# Environment: QEMU, VHOST_USER_PMEM, CACHE_DIR (see boot.sh, pmem-lib.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-pmem-readonly
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/pmem-lib.sh"

pmem_setup pmem-readonly
pmem_fill 8M 8M
pmem_backend_start --read-only

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
pmem_probe
pmem_wait_mapped
pmem_check_all
pmem_ctl_say checked
pmem_ctl_wait go
off=$((1024 * 1024))
pmem_pattern guest-write-to-read-only | dd of=/dev/pmem0 bs=65536 \
    seek=$((off / 65536)) count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null
echo "wrote a pattern at $off (dd status $?)"
sum=$(pmem_md5 "$off" 65536)
want=$(pmem_pattern guest-write-to-read-only | md5sum | cut -d' ' -f1)
[ "$sum" = "$want" ] ||
    fail "read back md5 $sum at $off, not the pattern's $want (the file's is $MD5_AT_1M)"
echo "read back the pattern at $off: the guest's own copy of those pages"
sum=$(pmem_md5 $((off + 65536)) 65536)
[ "$sum" = "$MD5_AFTER" ] ||
    fail "md5 $sum after the pattern, not the file's $MD5_AFTER"
echo "the file's data after it"
GUEST
pmem_guest_script "$PMEM_DIR/body.sh" "MD5_AT_1M=$(pmem_orig_md5 1M 65536)" \
    "MD5_AFTER=$(pmem_orig_md5 $((1024 * 1024 + 65536)) 65536)"

pmem_boot --bg --timeout 180
pmem_ctl_expect checked
maps=$(pmem_qmp_mappings)
[ "$maps" = "0x0+0x800000:ro" ] ||
    pmem_die "QMP lists '$maps', expected one read-only mapping 0x0+0x800000:ro"
guest_msg "QMP: region 0 mappings $maps"
pmem_ctl_send go
pmem_boot_wait || pmem_die "the guest test failed"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
pmem_expect_rest
guest_msg "PASS"
