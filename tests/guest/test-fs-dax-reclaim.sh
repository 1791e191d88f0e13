#!/bin/sh
# Guest test: DAX reclaim.  The window is 8 MiB (four 2 MiB slots) and the
# guest reads 64 MiB of host files through it with dax=always, by read()
# and by mmap(), twice: the driver must take mappings back to make room,
# and every byte must still be right (md5 of each file).  The host counts
# the window's live mappings per QMP while the guest reads (never more
# than the window holds) and, from the back-end, the maps and unmaps: at
# least one map per 2 MiB read, and unmaps too.
#
# Environment: as test-fs-data.sh.  Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-fs-dax-reclaim
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/fs-lib.sh"

FS_CACHE_SIZE=8M
fs_setup fs-dax-reclaim
fs_tools
sums=""
for i in 0 1 2 3 4 5 6 7; do
    head -c $((8 * 1048576)) /dev/urandom > "$FS_SHARE/file$i"
    sums="$sums $(md5sum < "$FS_SHARE/file$i" | cut -d' ' -f1)"
done
pmem_backend_start

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
fs_mount dax=always
grep -q ' /mnt virtiofs .*dax=always' /proc/mounts || fail "no dax=always in /proc/mounts"
pmem_ctl_say reading
for pass in 1 2; do
    i=0
    for want in $SUMS; do
        if [ $pass = 1 ]; then
            got=$(md5sum < /mnt/file$i | cut -d' ' -f1)
            how="read()"
        else
            got=$(/mnt/.tools/fs-mmap cat /mnt/file$i | md5sum | cut -d' ' -f1)
            how=mmap
        fi
        [ "$got" = "$want" ] || fail "file$i by $how has md5 $got, expected $want"
        i=$((i + 1))
    done
    echo "pass $pass: 64 MiB through an 8 MiB window by $how, every md5 right"
done
pmem_ctl_say done
umount /mnt || fail "umount failed"
GUEST
fs_guest_script "$PMEM_DIR/body.sh" "SUMS='$sums'"
pmem_boot --bg --timeout 300
pmem_ctl_expect reading 200
# The window's live mappings while the guest reads
max=0
seen=0
while ! grep -q -x "CTL done" "$PMEM_DIR/ctl.log"; do
    kill -0 "$PMEM_BOOT_PID" 2>/dev/null || break
    n=$(fs_qmp_nr_mappings 2>/dev/null) || break
    [ "$n" -gt "$max" ] && max=$n
    [ "$n" -gt 0 ] && seen=$((seen + 1))
    sleep 0.2
done
pmem_boot_wait || pmem_die "the guest test failed"
guest_msg "QMP: at most $max live mappings in the window ($seen samples with some)"
[ "$max" -gt 0 ] || pmem_die "QMP never showed a mapping in the window"
[ "$max" -le 4 ] || pmem_die "$max mappings in a window of four slots"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
line=$(grep "maps and" "$PMEM_BACKEND_LOG" | tail -n 1)
maps=$(echo "$line" | sed -n 's/.* \([0-9]*\) maps and.*/\1/p')
unmaps=$(echo "$line" | sed -n 's/.* \([0-9]*\) unmaps.*/\1/p')
guest_msg "back-end: $maps maps, $unmaps unmaps"
# 2 x 64 MiB in 2 MiB mappings, of which the window keeps at most 4
[ "${maps:-0}" -ge 60 ] || pmem_die "only ${maps:-0} maps for 128 MiB read"
[ "${unmaps:-0}" -ge 56 ] || pmem_die "only ${unmaps:-0} unmaps: no reclaim"
guest_msg "PASS"
