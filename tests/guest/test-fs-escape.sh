#!/bin/sh
# Guest test: a guest sees only the directory vhost-user-fs-dax shares.
#
# Next to the shared directory lies a secret file.  Inside, the test puts
# symlinks to it: absolute (its host path), relative (../secret), and to
# /etc/hostname; a directory link chain; a hard link is not possible
# across, so none.  The guest follows each, walks '..' up from /mnt and
# from a subdirectory, asks to create through a symlink and to rename
# onto '..', and must never read the secret; creating through a dangling
# symlink to outside must not create the file there.  The back-end is the
# one walking every host path (openat2 RESOLVE_BENEATH): the guest resolves
# symlinks in its own namespace, where the host paths do not exist.
# Symlink race: while the guest reads race/f over and over, the host swaps
# race, a directory whose f says "inside", with a symlink to the directory
# that holds the secret as f (renameat2 RENAME_EXCHANGE, as fast as it
# can); the guest must read "inside" or fail, never the secret.
#
# Environment: as test-fs-data.sh.  Exit: 0 pass, 1 fail, 77 skip.
set -eu

GUEST_PROG=test-fs-escape
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/fs-lib.sh"

fs_setup fs-escape
secret="host-secret-$(head -c 8 /dev/urandom | md5sum | cut -c1-16)"
echo "$secret" > "$PMEM_DIR/secret"
mkdir "$FS_SHARE/sub"
echo inside > "$FS_SHARE/sub/inside.txt"
ln -s "$PMEM_DIR/secret" "$FS_SHARE/abs-link"
ln -s ../secret "$FS_SHARE/rel-link"
ln -s ../../secret "$FS_SHARE/sub/rel-link2"
ln -s "$PMEM_DIR" "$FS_SHARE/dir-link"
ln -s "$PMEM_DIR/created-outside" "$FS_SHARE/dangling"
ln -s inside.txt "$FS_SHARE/sub/ok-link"
echo "$secret" > "$PMEM_DIR/f"
mkdir "$FS_SHARE/race"
echo inside > "$FS_SHARE/race/f"
ln -s "$PMEM_DIR" "$FS_SHARE/race.swap"
pmem_backend_start
# The host swaps race and race.swap until the guest is done
python3 - "$FS_SHARE" "$PMEM_DIR/race-stop" > "$PMEM_DIR/swapper.log" 2>&1 <<'SWAP' &
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
share, stop = sys.argv[1].encode(), sys.argv[2]
a, b = os.path.join(share, b"race"), os.path.join(share, b"race.swap")
n = 0
while not os.path.exists(stop):
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    n += 1
print("swapped", n, "times")
SWAP
swapper=$!

cat > "$PMEM_DIR/body.sh" <<'GUEST'
fs_mount
# Nothing the guest reads may hold the secret
check_no_secret() {
    if grep -r -s -q "$SECRET" "$@" 2>/dev/null; then
        fail "the guest read the host's secret through $*"
    fi
}
[ "$(cat /mnt/sub/ok-link)" = inside ] || fail "a symlink inside the tree does not resolve"
for p in /mnt/abs-link /mnt/rel-link /mnt/sub/rel-link2 /mnt/dir-link/secret \
         /mnt/../secret /mnt/sub/../../secret /mnt/dir-link; do
    out=$(cat "$p" 2>&1) || true
    case "$out" in
        *"$SECRET"*) fail "the guest read the host's secret through $p" ;;
    esac
    echo "$p: ${out:-(empty)}" | head -1
done
check_no_secret /mnt
# '..' from the mount point is the guest's own root
[ "$(cd /mnt/.. && pwd)" = / ] || fail "/mnt/.. is $(cd /mnt/.. && pwd)"
ls /mnt/sub/../.. > /tmp/up.txt
grep -q -x mnt /tmp/up.txt || fail "/mnt/sub/../.. is not the guest's root"
# Writing through a dangling symlink to a host path: the guest resolves it
# in its own namespace
echo x > /mnt/dangling 2>/dev/null || true
mv /mnt/sub/inside.txt /mnt/sub/../../escaped 2>/dev/null || true
# The race: the host swaps /mnt/race under these reads
# At least 1000 reads, and on until some saw the directory: the guest
# keeps a lookup for a second (entry_valid), so a first one that found
# the symlink can stand for a whole fast run.  At most 60 s of reads.
inside=0
i=0
end=$(($(cut -d. -f1 /proc/uptime) + 60))
while [ $i -lt 1000 ] ||
      { [ $inside -lt 10 ] && [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; }; do
    out=$(cat /mnt/race/f 2>/dev/null) || out=
    case "$out" in
        *"$SECRET"*) fail "the guest read the host's secret through /mnt/race/f (read $i)" ;;
        inside) inside=$((inside + 1)) ;;
    esac
    i=$((i + 1))
done
[ $inside -gt 0 ] || fail "/mnt/race/f never read as 'inside' in $i reads: the race did not run"
echo "race: $inside of $i reads of /mnt/race/f saw the directory, none the secret"
echo "guest: the secret was never visible"
umount /mnt || fail "umount failed"
GUEST
fs_guest_script "$PMEM_DIR/body.sh" "SECRET=$secret"
if ! pmem_boot --timeout 240; then
    touch "$PMEM_DIR/race-stop"
    wait $swapper || true
    pmem_die "the guest test failed (swapper: $(cat "$PMEM_DIR/swapper.log"))"
fi
touch "$PMEM_DIR/race-stop"
wait $swapper || pmem_die "the host's swapper failed: $(cat "$PMEM_DIR/swapper.log")"
guest_msg "host: $(cat "$PMEM_DIR/swapper.log")"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
[ "$PMEM_BACKEND_STATUS" = 0 ] ||
    pmem_die "the back-end exited with status $PMEM_BACKEND_STATUS"
[ ! -e "$PMEM_DIR/created-outside" ] ||
    pmem_die "the guest created a file outside the shared directory"
[ ! -e "$PMEM_DIR/escaped" ] || pmem_die "the guest moved a file out of the shared directory"
[ "$(cat "$PMEM_DIR/secret")" = "$secret" ] || pmem_die "the secret file changed"
ls -la "$PMEM_DIR"
guest_msg "PASS"
