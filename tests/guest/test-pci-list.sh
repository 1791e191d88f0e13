#!/bin/sh
# Guest test: the guest sees the virtio-rng-pci functions we plug, with the
# IDs QEMU gives them, and its drivers take them.
#
# Two functions at fixed slots of pcie.0: a default one, transitional there
# (1af4:1005: legacy stays on off PCIe ports), and a modern-only one
# (disable-legacy=on: 1af4:1044).  The guest lists every PCI function, then
# checks both IDs, the virtio-pci binding, and that virtio_rng serves bytes
# from /dev/hwrng.
#
# Environment: QEMU, CACHE_DIR (see boot.sh).  Exit: 0 pass, 1 fail, 77 skip.
set -eu

here=$(dirname "$(readlink -f "$0")")
echo "test-pci-list: virtio-rng-pci at 00:05.0 (transitional) and 00:06.0 (modern)"
exec "$here/boot.sh" --name pci-list --script - -- \
    -device virtio-rng-pci,addr=05.0 \
    -device virtio-rng-pci,disable-legacy=on,addr=06.0 <<'EOF'
# Runs in the guest (busybox sh); fail() ends the test with a reason.
id_of() {
    echo "$(sed 's/^0x//' "$1/vendor"):$(sed 's/^0x//' "$1/device")"
}
driver_of() {
    if [ -e "$1/driver" ]; then basename "$(readlink "$1/driver")"; else echo -; fi
}

echo "PCI functions (address vendor:device class driver):"
for d in /sys/bus/pci/devices/*; do
    echo "  ${d##*/} $(id_of "$d") $(cat "$d/class") $(driver_of "$d")"
done

# check ADDRESS VENDOR:DEVICE WHAT
check() {
    d=/sys/bus/pci/devices/$1
    [ -d "$d" ] || fail "no PCI function at $1 ($3)"
    id=$(id_of "$d")
    [ "$id" = "$2" ] || fail "$1 is $id, expected $2 ($3)"
    drv=$(driver_of "$d")
    [ "$drv" = virtio-pci ] || fail "$1 is bound to '$drv', not virtio-pci"
    echo "found $1 $id: $3, driver $drv"
}
check 0000:00:05.0 1af4:1005 "virtio-rng-pci, transitional"
check 0000:00:06.0 1af4:1044 "virtio-rng-pci, modern only"

avail=$(cat /sys/class/misc/hw_random/rng_available 2>/dev/null)
echo "hw_random: available '$avail', current '$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)'"
n=$(echo "$avail" | tr ' ' '\n' | grep -c '^virtio_rng\.')
[ "$n" = 2 ] || fail "virtio_rng drives $n devices, expected 2"
got=$(head -c 16 /dev/hwrng | wc -c)
[ "$got" = 16 ] || fail "read $got bytes from /dev/hwrng, expected 16"
echo "read 16 bytes from /dev/hwrng"
EOF
