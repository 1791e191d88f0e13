# Guest side of the virtiofs tests: fs-lib.sh puts this after the test's
# variables and pmem-guest.sh (the control channel), before its body.
# Busybox sh; fail() and skip() come from /init.

# Mounts the device's tag "share" on /mnt with options $1
fs_mount() {
    mkdir -p /mnt
    mount -t virtiofs ${1:+-o "$1"} share /mnt || fail "mount -t virtiofs ${1:+-o $1} failed"
    grep ' /mnt virtiofs ' /proc/mounts
}

fs_pattern() {
    yes "$1" | head -c "$2"
}

fs_md5() {
    md5sum < "$1" | cut -d' ' -f1
}

# expect_md5 FILE MD5 WHAT
fs_expect_md5() {
    got=$(fs_md5 "$1") || fail "cannot read $1 ($3)"
    [ "$got" = "$2" ] || fail "$1 has md5 $got, expected $2 ($3)"
    echo "$1: md5 $got ($3)"
}
