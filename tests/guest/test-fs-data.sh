#!/bin/sh
# Guest test: a guest mounts a host directory that contrib/vhost-user-fs-dax
# serves through vhost-user-fs-pci, without a DAX window, and works in it.
#
# The guest reads host files with read() (md5, also after dropping its
# caches), lists the directory, creates and writes a file (with fsync),
# makes a directory, renames, removes a file and a directory, truncates,
# chmods and makes a symlink.  After it powered off, the shared directory
# shows each change, and the back-end exited with status 0.
# test-fs-dax.sh runs this with a DAX window (FS_DAX=1).
#
# Environment: QEMU, VHOST_USER_FS_DAX, CACHE_DIR (see boot.sh, fs-lib.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=${GUEST_PROG:-test-fs-data}
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/fs-lib.sh"

FS_DAX=${FS_DAX:-0}
if [ "$FS_DAX" = 1 ]; then
    FS_CACHE_SIZE=64M
    fs_setup fs-dax
    fs_tools
else
    fs_setup fs-data
fi
head -c $((3 * 1048576 + 123)) /dev/urandom > "$FS_SHARE/host.bin"
head -c $((4 * 1048576)) /dev/urandom > "$FS_SHARE/hold.bin"
echo "hello from the host" > "$FS_SHARE/small.txt"
: > "$FS_SHARE/remove-me"
mkdir "$FS_SHARE/rmdir-me"
echo "renamed by the guest" > "$FS_SHARE/rename-me"
head -c 1048576 /dev/zero > "$FS_SHARE/mmap-target"
host_md5=$(md5sum < "$FS_SHARE/host.bin" | cut -d' ' -f1)
write_md5=$(fs_pattern guest-write 1000000 | md5sum | cut -d' ' -f1)
pmem_backend_start

cat > "$PMEM_DIR/body.sh" <<'GUEST'
pmem_ctl_open
if [ "$FS_DAX" = 1 ]; then
    fs_mount dax=always
    grep ' /mnt virtiofs .*dax=always' /proc/mounts ||
        fail "/proc/mounts does not show dax=always"
else
    fs_mount
fi
fs_expect_md5 /mnt/host.bin "$HOST_MD5" "a host file, read()"
[ "$(cat /mnt/small.txt)" = "hello from the host" ] || fail "small.txt reads '$(cat /mnt/small.txt)'"
names=$(ls /mnt | tr '\n' ' ')
echo "ls /mnt: $names"
for n in host.bin small.txt remove-me rmdir-me rename-me; do
    case " $names " in
        *" $n "*) ;;
        *) fail "ls /mnt lacks $n" ;;
    esac
done

fs_pattern guest-write 1000000 | dd of=/mnt/guest.txt bs=65536 conv=fsync 2>/dev/null ||
    fail "writing /mnt/guest.txt failed"
fs_expect_md5 /mnt/guest.txt "$WRITE_MD5" "written by the guest, read back"
mkdir /mnt/newdir || fail "mkdir failed"
mv /mnt/rename-me /mnt/newdir/renamed || fail "rename failed"
rm /mnt/remove-me || fail "unlink failed"
rmdir /mnt/rmdir-me || fail "rmdir failed"
fs_pattern trunc 100000 > /mnt/trunc
truncate -s 5000 /mnt/trunc || fail "truncate failed"
[ "$(stat -c %s /mnt/trunc)" = 5000 ] || fail "truncated file has $(stat -c %s /mnt/trunc) bytes"
chmod 640 /mnt/guest.txt || fail "chmod failed"
ln -s small.txt /mnt/link || fail "symlink failed"
[ "$(cat /mnt/link)" = "hello from the host" ] || fail "the symlink reads '$(cat /mnt/link)'"
df /mnt | tail -1 || fail "statfs failed"
[ -e /mnt/remove-me ] && fail "remove-me is still there"

if [ "$FS_DAX" = 1 ]; then
    mm=/mnt/.tools/fs-mmap
    sum=$($mm cat /mnt/host.bin | md5sum | cut -d' ' -f1)
    [ "$sum" = "$HOST_MD5" ] || fail "host.bin through mmap has md5 $sum, expected $HOST_MD5"
    echo "host.bin through mmap: md5 $sum"
    $mm write /mnt/mmap-target 4096 100000 mmap-write || fail "write through mmap failed"
    # A file that grows after the window maps its first page
    printf abc > /mnt/grow
    [ "$(cat /mnt/grow)" = abc ] || fail "grow reads '$(cat /mnt/grow)'"
    fs_pattern grow 10000 >> /mnt/grow
    want=$( (printf abc; fs_pattern grow 10000) | md5sum | cut -d' ' -f1)
    fs_expect_md5 /mnt/grow "$want" "grown after it was mapped"
    sum=$($mm cat /mnt/grow | md5sum | cut -d' ' -f1)
    [ "$sum" = "$want" ] || fail "the grown file through mmap has md5 $sum"

    # A mapping held while the host counts the window's mappings
    mkfifo /tmp/go
    ($mm hold /mnt/hold.bin < /tmp/go > /tmp/hold.out) &
    exec 4> /tmp/go
    n=0
    while ! grep -q mapped /tmp/hold.out; do
        n=$((n + 1)); [ $n -le 300 ] || fail "fs-mmap hold did not map"
        sleep 0.1
    done
    pmem_ctl_say mapped
    pmem_ctl_wait counted
    echo go >&4
    wait
    [ "$(tail -1 /tmp/hold.out)" = same ] || fail "the held mapping reads $(tail -1 /tmp/hold.out)"
fi

echo 3 > /proc/sys/vm/drop_caches
fs_expect_md5 /mnt/host.bin "$HOST_MD5" "a host file, after drop_caches"
umount /mnt || fail "umount failed"
GUEST
fs_guest_script "$PMEM_DIR/body.sh" "FS_DAX=$FS_DAX" "HOST_MD5=$host_md5" \
    "WRITE_MD5=$write_md5"

if [ "$FS_DAX" = 1 ]; then
    pmem_boot --bg --timeout 240
    pmem_ctl_expect mapped 200
    n=$(fs_qmp_nr_mappings)
    guest_msg "x-query-virtio-shmem: $n mappings in the DAX window while the guest holds one"
    [ "$n" -gt 0 ] || pmem_die "no mapping in the DAX window while the guest holds a file mapped"
    pmem_ctl_send counted
    pmem_boot_wait || pmem_die "the guest test failed"
else
    pmem_boot --timeout 240 || pmem_die "the guest test failed"
fi

pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
cat "$PMEM_BACKEND_LOG"
fs_expect_file guest.txt "$write_md5"
fs_expect_file host.bin "$host_md5"
[ "$(cat "$FS_SHARE/newdir/renamed")" = "renamed by the guest" ] ||
    pmem_die "newdir/renamed is not the renamed file"
[ ! -e "$FS_SHARE/rename-me" ] || pmem_die "rename-me is still there"
[ ! -e "$FS_SHARE/remove-me" ] || pmem_die "remove-me is still there"
[ ! -e "$FS_SHARE/rmdir-me" ] || pmem_die "rmdir-me is still there"
[ "$(stat -c %s "$FS_SHARE/trunc")" = 5000 ] || pmem_die "trunc is not 5000 bytes"
[ "$(stat -c %a "$FS_SHARE/guest.txt")" = 640 ] || pmem_die "guest.txt has mode $(stat -c %a "$FS_SHARE/guest.txt")"
[ "$(readlink "$FS_SHARE/link")" = small.txt ] || pmem_die "link is not a symlink to small.txt"
guest_msg "host: the guest's create, write, mkdir, rename, unlink, rmdir, truncate, chmod, symlink are there"
if [ "$FS_DAX" = 1 ]; then
    want=$( (head -c 4096 /dev/zero; fs_pattern mmap-write 100000;
             head -c $((1048576 - 4096 - 100000)) /dev/zero) | md5sum | cut -d' ' -f1)
    fs_expect_file mmap-target "$want"
    maps=$(sed -n 's/.* \([0-9]*\) maps and \([0-9]*\) unmaps.*/\1/p' "$PMEM_BACKEND_LOG" | tail -n 1)
    [ "${maps:-0}" -gt 0 ] || pmem_die "the back-end made no mapping"
    guest_msg "host: the guest's write through mmap is in the file; the back-end made $maps mappings"
fi
guest_msg "PASS"
