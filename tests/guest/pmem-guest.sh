# Guest side of the virtio-pmem tests: pmem-lib.sh puts this in front of
# each test's guest script, after PMEM_SIZE, PMEM_CHUNK and PMEM_MD5 (of
# the whole file).  Busybox sh; fail() and skip() come from /init.
#
# The host filled the file with random data, and "PMEM-TEST-CHUNK-NNNN"
# at the start of each chunk.  Reads here use O_DIRECT: the page cache of
# /dev/pmem0 could hold what the guest read before the back-end's mapping
# landed, or before an unmap.

# The sysfs directory of the virtio-pmem device (virtio id 27)
pmem_vdev() {
    for d in /sys/bus/virtio/devices/*; do
        if [ "$(cat "$d/device")" = 0x001b ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

# Checks that virtio_pmem took the device and uses its shared memory
# region 0, in BAR 2 of the PCI function, and waits for /dev/pmem0.
pmem_probe() {
    vdev=$(pmem_vdev) || fail "no virtio-pmem device (virtio id 27)"
    drv=$(basename "$(readlink "$vdev/driver")")
    [ "$drv" = virtio_pmem ] || fail "${vdev##*/} is driven by '$drv', not virtio_pmem"
    features=$(cat "$vdev/features")
    case "$features" in
        1*) ;;
        *) fail "the driver did not accept VIRTIO_PMEM_F_SHMEM_REGION (features $features)" ;;
    esac
    pci=$(readlink -f "$vdev/..")
    # shellcheck disable=SC2046
    set -- $(sed -n 3p "$pci/resource")
    bar_start=$1
    bar_end=$2
    [ $((bar_end - bar_start + 1)) -ge "$PMEM_SIZE" ] ||
        fail "BAR 2 of ${pci##*/} is $bar_start-$bar_end, too small for the region"

    n=0
    while [ ! -b /dev/pmem0 ]; do
        n=$((n + 1))
        [ $n -le 100 ] || fail "no /dev/pmem0 10 s after virtio_pmem took the device"
        sleep 0.1
    done
    for region in /sys/bus/nd/devices/region*; do break; done
    rstart=$(cat "$region/resource")
    rsize=$(cat "$region/size")
    [ $((rstart)) = $((bar_start)) ] ||
        fail "${region##*/} starts at $rstart, not at region 0 in BAR 2 ($bar_start)"
    [ "$rsize" = "$PMEM_SIZE" ] ||
        fail "${region##*/} is $rsize bytes, the back-end's region $PMEM_SIZE"
    bsize=$(( $(cat /sys/block/pmem0/size) * 512 ))
    [ "$bsize" = "$PMEM_SIZE" ] || fail "/dev/pmem0 has $bsize bytes, not $PMEM_SIZE"
    echo "virtio-pmem: ${vdev##*/} on PCI ${pci##*/}, driver $drv, features $features"
    echo "virtio-pmem: shared memory region 0 = BAR 2 at $bar_start; ${region##*/} at $rstart, $rsize bytes; /dev/pmem0 $bsize bytes"
    echo "dmesg about pmem:"
    dmesg | grep -i -E 'pmem|nvdimm|nd_|region' | sed 's/^/  /'
}

# Prints the md5 of $2 bytes of /dev/pmem0 at $1 (multiples of 64 KiB)
pmem_md5() {
    dd if=/dev/pmem0 bs=65536 skip=$(($1 / 65536)) count=$(($2 / 65536)) \
        iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

# Prints the first 20 bytes of chunk $1
pmem_chunk_head() {
    dd if=/dev/pmem0 bs=4096 skip=$(($1 * PMEM_CHUNK / 4096)) count=1 \
        iflag=direct 2>/dev/null | head -c 20
}

pmem_chunk_magic() {
    printf 'PMEM-TEST-CHUNK-%04d' "$1"
}

# Waits until chunks $1 to $2 (default: all) show the back-end's data
pmem_wait_mapped() {
    i=${1:-0}
    last=${2:-$((PMEM_SIZE / PMEM_CHUNK - 1))}
    polls=0
    while [ "$i" -le "$last" ]; do
        if [ "$(pmem_chunk_head "$i")" = "$(pmem_chunk_magic "$i")" ]; then
            i=$((i + 1))
            continue
        fi
        polls=$((polls + 1))
        [ $polls -le 200 ] || fail "chunk $i does not show the back-end's data after 20 s"
        sleep 0.1
    done
    echo "chunks ${1:-0} to $last show the back-end's data (waited $polls x 0.1 s)"
}

# Checks the whole of /dev/pmem0 against the file's md5
pmem_check_all() {
    sum=$(pmem_md5 0 "$PMEM_SIZE")
    [ "$sum" = "$PMEM_MD5" ] ||
        fail "/dev/pmem0 has md5 $sum, the back-end's file $PMEM_MD5"
    echo "/dev/pmem0: md5 $sum, as the back-end's file"
}

# The 64 KiB pattern of tag $1 (pmem_pattern on the host)
pmem_pattern() {
    yes "$1" | head -c 65536
}

# Writes the pattern of tag $2 at offset $1 (a multiple of 64 KiB), syncs
# (a flush request to the back-end), and reads it back
pmem_write() {
    pmem_pattern "$2" | dd of=/dev/pmem0 bs=65536 seek=$(($1 / 65536)) \
        count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null ||
        fail "writing /dev/pmem0 failed"
    sync
    want=$(pmem_pattern "$2" | md5sum | cut -d' ' -f1)
    got=$(pmem_md5 "$1" 65536)
    [ "$got" = "$want" ] || fail "read back $got after writing '$2' at $1, expected $want"
    echo "wrote '$2' at $1 and synced; read back the same"
}

# The control channel to the host test (pmem-lib.sh): serial port ttyS1
pmem_ctl_open() {
    [ -c /dev/ttyS1 ] || fail "no /dev/ttyS1 for the control channel"
    exec 3<>/dev/ttyS1
    stty raw -echo <&3 || fail "stty on /dev/ttyS1 failed"
}

pmem_ctl_say() {
    echo "CTL $*" >&3
    echo "said to the host: $*"
}

# Waits for the line $1 from the host
pmem_ctl_wait() {
    while read -r line <&3; do
        line=$(echo "$line" | tr -d '\r')
        if [ "$line" = "$1" ]; then
            echo "the host says: $1"
            return 0
        fi
        echo "unexpected from the host: $line"
    done
    fail "the control channel closed while waiting for '$1'"
}

# The status byte of the virtio device, as a number
pmem_status() {
    echo $(( $(cat "$(pmem_vdev)/status") ))
}
