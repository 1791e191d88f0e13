#!/bin/sh
# Benchmark, not a test: how fast the guest reads a VIRTIO Shared Memory
# Region against how fast it reads its own RAM.
#
# Usage: tests/guest/bench-pmem-read.sh [RESULTS.json]
#
# contrib/vhost-user-pmem maps a file into Region 0 of a
# vhost-user-test-device-pci,virtio-id=27, which the guest's virtio_pmem
# driver shows as a /dev/pmemN.  The kernel command line also makes a
# range of guest RAM a legacy pmem device (memmap=SIZE!OFFSET, nd_e820),
# so the same driver, block layer and dd read both.  The guest reads each
# with O_DIRECT, and a file of the same size in its tmpfs (page cache), a
# few times in turn, and reports the times; this script turns them into
# MB/s (median of the repetitions) and the ratio of the region to RAM.
#
# The back-end's file goes where pmem-lib.sh puts its work directory, in
# TMPDIR (/tmp): fork/bench.sh runs this with TMPDIR=/dev/shm, so that the
# region is shared memory as guest RAM is, and again on the disk.
#
# Environment: BENCH_PMEM_MIB (size of each device, 128), BENCH_PMEM_PASSES
# (reads of it per timed repetition, 4), BENCH_PMEM_REPS (9), and
# those of boot.sh and pmem-lib.sh (QEMU, VHOST_USER_PMEM, GUEST_ACCEL...).
# Exit: 0 with figures, 1 when it could not measure, 77 when it cannot run.
set -eu

GUEST_PROG=bench-pmem-read
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/pmem-lib.sh"

out=${1:-}
mib=${BENCH_PMEM_MIB:-128}
reps=${BENCH_PMEM_REPS:-9}
passes=${BENCH_PMEM_PASSES:-4}
# The guest RAM range made pmem: above the kernel and the initramfs, below
# the end of GUEST_MEM (512M)
ram_off=256

pmem_setup bench-pmem-read
PMEM_SIZE=$((mib * 1048576))
PMEM_CHUNK=$PMEM_SIZE
PMEM_MD5=unused
# A sparse file: the host pages come on first touch, which the guest's
# warm-up read does.  The magic says the mapping landed.
truncate -s "$PMEM_SIZE" "$PMEM_DIR/pmem.img"
printf 'PMEM-BENCH-MAGIC' | dd of="$PMEM_DIR/pmem.img" conv=notrunc 2>/dev/null
backing_fs=$(stat -f -c %T "$PMEM_DIR/pmem.img")
guest_msg "the back-end's file is on $backing_fs ($PMEM_DIR)"
pmem_backend_start

cat > "$PMEM_DIR/body.sh" <<'GUEST'
# Nanoseconds since boot: /proc/timer_list, else /proc/uptime (10 ms)
now_ns() {
    t=$(sed -n '/^now at /{s/^now at \([0-9]*\) nsecs.*/\1/p;q;}' /proc/timer_list 2>/dev/null || true)
    if [ -z "$t" ]; then
        t=$(awk '{ printf "%.0f", $1 * 1e9 }' /proc/uptime)
    fi
    echo "$t"
}

# The pmem block devices: VIRT on the shared memory region (virtio_pmem),
# RAM on guest RAM (e820 legacy pmem)
VIRT=""
RAM=""
n=0
while :; do
    for b in /sys/block/pmem*; do
        [ -e "$b" ] || continue
        case "$(readlink -f "$b")" in
            */virtio*) VIRT=/dev/${b##*/} ;;
            *e820*) RAM=/dev/${b##*/} ;;
        esac
    done
    [ -n "$VIRT" ] && [ -n "$RAM" ] && break
    n=$((n + 1))
    [ $n -le 300 ] || fail "no pmem devices after 30 s: virtio '$VIRT', e820 '$RAM'"
    sleep 0.1
done
for d in "$VIRT" "$RAM"; do
    size=$(( $(cat "/sys/block/${d#/dev/}/size") * 512 ))
    [ "$size" -ge "$PMEM_SIZE" ] || fail "$d has $size bytes, fewer than $PMEM_SIZE"
done
echo "BENCH-INFO shmem=$VIRT ram=$RAM $(readlink -f /sys/block/${VIRT#/dev/})"

n=0
while [ "$(dd if="$VIRT" bs=4096 count=1 iflag=direct 2>/dev/null | head -c 16)" != PMEM-BENCH-MAGIC ]; do
    n=$((n + 1))
    [ $n -le 300 ] || fail "$VIRT does not show the back-end's file after 30 s"
    sleep 0.1
done

count=$((PMEM_SIZE / 1048576))
dd if=/dev/zero of=/bench-ram.img bs=1048576 count=$count 2>/dev/null ||
    fail "no room for a $count MiB file in the guest's tmpfs"

# read LABEL FILE [DD-FLAGS]: PASSES reads of all of FILE, timed together
read_one() {
    p=0
    t0=$(now_ns)
    while [ $p -lt "$PASSES" ]; do
        # shellcheck disable=SC2086
        dd if="$2" of=/dev/null bs=1048576 count=$count $3 2>/dev/null ||
            fail "reading $2 failed"
        p=$((p + 1))
    done
    t1=$(now_ns)
    echo "BENCH $1 rep=$r bytes=$((PMEM_SIZE * PASSES)) ns=$((t1 - t0))"
}

# A warm-up round first (rep 0): first touches of host and guest pages.
# Then the three in turn, so that a slow moment of the host hits each.
r=0
while [ $r -le "$REPS" ]; do
    read_one shmem "$VIRT" iflag=direct
    read_one ram "$RAM" iflag=direct
    read_one tmpfs /bench-ram.img ""
    r=$((r + 1))
done
echo "BENCH-DONE"
GUEST
pmem_guest_script "$PMEM_DIR/body.sh" "REPS=$reps" "PASSES=$passes"

pmem_boot --timeout 600 --modules nd_e820 \
    --append "memmap=${mib}M!${ram_off}M" ||
    pmem_die "the guest could not run the benchmark"

# boot.sh's output has the last boot's console and says which accelerator
accel=$(sed -n 's/.*(accel: \([a-z]*\).*/\1/p' "$PMEM_DIR/boot.out" | tail -n 1)
tr -d '\r' < "$PMEM_DIR/boot.out" | python3 -c '
import json
import statistics
import sys

out, accel, backing = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}
info = ""
for line in sys.stdin:
    words = line.split()
    if line.startswith("BENCH-INFO "):
        info = line[len("BENCH-INFO "):].strip()
    if len(words) != 5 or words[0] != "BENCH":
        continue
    f = dict(w.split("=", 1) for w in words[2:])
    if int(f["rep"]) == 0:
        continue                        # warm-up
    mbs = int(f["bytes"]) / (int(f["ns"]) / 1e9) / 1e6
    runs.setdefault(words[1], []).append(round(mbs, 1))
if not runs.get("shmem") or not runs.get("ram"):
    sys.exit("bench-pmem-read: no figures in the serial log")
res = {"accel": accel, "backing_fs": backing, "bytes": int(f["bytes"]),
       "guest": info, "runs": runs,
       "median_mbs": {k: statistics.median(v) for k, v in runs.items()}}
med = res["median_mbs"]
res["ratio_shmem_ram"] = med["shmem"] / med["ram"]
# Each repetition read the region and RAM one after the other
res["ratio_shmem_ram_paired"] = statistics.median(
    s / r for s, r in zip(runs["shmem"], runs["ram"]))
if "tmpfs" in med:
    res["ratio_shmem_tmpfs"] = med["shmem"] / med["tmpfs"]
for k, v in runs.items():
    print("bench-pmem-read: %-6s MB/s median %8.1f  (%s)" %
          (k, med[k], " ".join("%.1f" % x for x in v)))
print("bench-pmem-read: region/RAM %.1f%% (per repetition: median %.1f%%), "
      "region/tmpfs %.1f%% (%s)" %
      (100 * res["ratio_shmem_ram"], 100 * res["ratio_shmem_ram_paired"],
       100 * res.get("ratio_shmem_tmpfs", 0), accel or "accelerator unknown"))
if out:
    with open(out, "w") as fh:
        json.dump(res, fh, indent=2)
' "$out" "$accel" "$backing_fs" || pmem_die "no figures from the guest"
