#!/bin/sh
# Benchmark, not a test: virtiofs with a DAX window against without, same
# back-end (contrib/vhost-user-fs-dax), same guest boot.
#
# Usage: tests/guest/bench-fs-dax.sh [RESULTS.json]
#
# The guest mounts the shared directory with dax=never, then dax=always,
# and for each reads a file of BENCH_FS_MIB (256) MiB sequentially (read())
# after dropping its caches; then, after dropping its caches again (the
# guest holds nothing of the file, the host all of it), makes
# BENCH_FS_RAND (20000) 4 KiB reads at random offsets of its first
# BENCH_FS_SPAN_MIB (32) MiB through mmap, the same offsets BENCH_FS_PASSES
# (10) times in one mapping.  The first pass is "cold" (every page comes
# from the back-end: FUSE_READ without DAX, FUSE_SETUPMAPPING and a page
# fault with it); the median of the others is "warm": the guest has every
# page mapped (fs-mmap counts the page faults of the last pass: 0 on both
# sides) and, under TCG, the emulator's TLB has grown to hold them, which
# takes more than one pass.  All of it BENCH_FS_ROUNDS (2) times, the
# figures from the last round: the first one also pays for what happens
# once per guest (the host and the back-end touching guest RAM for the
# first time, TCG translating the guest's code), which would count against
# whichever mode runs first.
# The window is BENCH_FS_CACHE (64M): the sequential read through it makes
# the driver reclaim mappings; the back-end's count of maps and unmaps over
# the time of the dax=always reads gives the MAP/UNMAP requests per second.
# After the random reads the guest says how much page cache it holds: with
# DAX the file stays in the host's.  With a guest too small to cache the
# span (GUEST_MEM=256M BENCH_FS_SPAN_MIB=256 and a window that holds the
# file, BENCH_FS_CACHE=512M), the warm passes fault without DAX.
#
# Environment: those of boot.sh and fs-lib.sh (QEMU, VHOST_USER_FS_DAX,
# GUEST_MEM, GUEST_ACCEL...).  Exit: 0 with figures, 1 when it could not measure, 77
# when it cannot run.
set -eu

GUEST_PROG=bench-fs-dax
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$GUEST_SRC/fs-lib.sh"

out=${1:-}
mib=${BENCH_FS_MIB:-256}
count=${BENCH_FS_RAND:-20000}
span=${BENCH_FS_SPAN_MIB:-32}
passes=${BENCH_FS_PASSES:-10}
rounds=${BENCH_FS_ROUNDS:-2}
FS_CACHE_SIZE=${BENCH_FS_CACHE:-64M}
fs_setup bench-fs-dax
fs_tools
head -c $((mib * 1048576)) /dev/urandom > "$FS_SHARE/big"
pmem_backend_start

cat > "$PMEM_DIR/body.sh" <<'GUEST'
modes=""
while [ $(echo $modes | wc -w) -lt $((2 * ROUNDS)) ]; do
    modes="$modes never always"
done
for mode in $modes; do
    fs_mount dax=$mode
    cp /mnt/.tools/fs-mmap /tmp/fs-mmap
    echo 3 > /proc/sys/vm/drop_caches
    r=$(/tmp/fs-mmap seq /mnt/big) || fail "fs-mmap seq failed"
    echo "BENCH seq-$mode $r"
    echo 3 > /proc/sys/vm/drop_caches
    r=$(/tmp/fs-mmap rand /mnt/big $((SPAN * 1048576)) $COUNT $PASSES) ||
        fail "fs-mmap rand failed"
    echo "BENCH rand-$mode $r"
    # What the guest holds of the file: its page cache after the reads
    echo "BENCH mem-$mode $(awk '/^(MemTotal|MemAvailable|Cached):/ {
        printf "%s=%d ", tolower(substr($1, 1, length($1) - 1)), $2 }' /proc/meminfo)"
    umount /mnt || fail "umount failed"
done
GUEST
fs_guest_script "$PMEM_DIR/body.sh" "MIB=$mib" "SPAN=$span" "COUNT=$count" \
    "PASSES=$passes" "ROUNDS=$rounds"
pmem_boot --timeout 900 || pmem_die "the guest could not run the benchmark"
pmem_backend_wait "exiting with status" 10
pmem_backend_exit
accel=$(sed -n 's/.*(accel: \([a-z]*\).*/\1/p' "$PMEM_DIR/boot.out" | tail -n 1)
line=$(grep "maps and" "$PMEM_BACKEND_LOG" | tail -n 1)
maps=$(echo "$line" | sed -n 's/.* \([0-9]*\) maps and.*/\1/p')
unmaps=$(echo "$line" | sed -n 's/.* \([0-9]*\) unmaps.*/\1/p')
tr -d '\r' < "$PMEM_DIR/boot.out" | python3 -c '
import json
import sys

out, accel, maps, unmaps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rounds = int(sys.argv[5])
f = {}
# The dax=always phases of all rounds: their sequential and random reads
always_ns = 0
for line in sys.stdin:
    words = line.split()
    if len(words) < 3 or words[0] != "BENCH":
        continue
    # Each round overwrites the one before
    f[words[1]] = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    if words[1] == "seq-always":
        always_ns += int(f[words[1]]["ns"])
    elif words[1] == "rand-always":
        always_ns += int(f[words[1]]["total_ns"])
need = ["seq-never", "seq-always", "rand-never", "rand-always"]
if any(k not in f for k in need):
    sys.exit("bench-fs-dax: no figures in the serial log")
res = {"accel": accel, "maps": maps, "unmaps": unmaps,
       "bytes": int(f["seq-always"]["bytes"]), "span_mib": int(sys.argv[6]),
       "cache_size": sys.argv[7], "guest_mem": sys.argv[8]}
for m in ("never", "always"):
    s = f["seq-" + m]
    res["seq_mbs_" + m] = int(s["bytes"]) / (int(s["ns"]) / 1e9) / 1e6
    r = f["rand-" + m]
    res["rand_ns_" + m] = int(r["warm_ns"]) / int(r["count"])
    res["rand_faults_" + m] = int(r["faults"])
    res["rand_cold_ns_" + m] = int(r["first_ns"]) / int(r["count"])
    res["rand_cold_faults_" + m] = int(r["first_faults"])
    mem = f.get("mem-" + m, {})
    res["guest_cached_kib_" + m] = int(mem.get("cached", -1))
    res["guest_memtotal_kib"] = int(mem.get("memtotal", -1))
res["seq_ratio"] = res["seq_mbs_always"] / res["seq_mbs_never"]
res["rand_ratio"] = res["rand_ns_never"] / res["rand_ns_always"]
res["rand_cold_ratio"] = res["rand_cold_ns_never"] / res["rand_cold_ns_always"]
res["map_unmap_per_s"] = (maps + unmaps) / (always_ns / 1e9)
print("bench-fs-dax: sequential read: dax=never %.1f MB/s, dax=always %.1f MB/s: %.2fx" %
      (res["seq_mbs_never"], res["seq_mbs_always"], res["seq_ratio"]))
print("bench-fs-dax: 4 KiB random mmap reads, cold: dax=never %.0f ns, dax=always %.0f ns: %.2fx"
      " (page faults %d, %d)" %
      (res["rand_cold_ns_never"], res["rand_cold_ns_always"], res["rand_cold_ratio"],
       res["rand_cold_faults_never"], res["rand_cold_faults_always"]))
print("bench-fs-dax: 4 KiB random mmap reads, warm: dax=never %.0f ns, dax=always %.0f ns: %.2fx"
      " (page faults %d, %d)" %
      (res["rand_ns_never"], res["rand_ns_always"], res["rand_ratio"],
       res["rand_faults_never"], res["rand_faults_always"]))
print("bench-fs-dax: guest page cache after the random reads: dax=never %d MiB,"
      " dax=always %d MiB (guest MemTotal %d MiB)" %
      (res["guest_cached_kib_never"] // 1024, res["guest_cached_kib_always"] // 1024,
       res["guest_memtotal_kib"] // 1024))
print("bench-fs-dax: %d maps + %d unmaps during the dax=always reads of %d rounds: %.0f per s (%s)" %
      (maps, unmaps, rounds, res["map_unmap_per_s"], accel or "accelerator unknown"))
if out:
    with open(out, "w") as fh:
        json.dump(res, fh, indent=2)
' "$out" "$accel" "${maps:-0}" "${unmaps:-0}" "$rounds" "$span" "$FS_CACHE_SIZE" \
    "$GUEST_MEM" || pmem_die "no figures from the guest"
