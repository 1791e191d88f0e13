#!/bin/sh
# make bench: benchmarks of vhost-user VIRTIO Shared Memory and of
# vfio-user device DMA.
#
# Usage: fork/bench.sh [--quick]
#
#   1. SHMEM_MAP+UNMAP round trip from a libvhost-user back-end, with 0,
#      1024, 4096, 16384 and 65535 mappings live in the region, the time
#      it took to create them, QEMU's memory per mapping and a device reset with
#      them all live, against the floor: the
#      same calls against a socketpair peer that only mmap()s and replies.
#      tests/qtest/vhost-user-shmem-bench under the qtest accelerator, the
#      back-end on one CPU and QEMU and the peer on another; the 0 live
#      figure again with all on one CPU; and under KVM with the vCPUs
#      stopped when /dev/kvm opens.
#   2. Guest read bandwidth of a mapped region against guest RAM:
#      tests/guest/bench-pmem-read.sh (boots the Debian guest, TCG here),
#      with the back-end's file in /dev/shm, then on the disk (TMPDIR).
#   3. How many mappings a region holds: part 1 keeps mapping towards
#      65536 for up to two minutes or until QEMU refuses (its file
#      descriptors, raised to 2^18 when root, or vm.max_map_count), counts
#      KVM memory slots, and shows that refused requests lose nothing.
#   4. Device DMA through vfio-user: tests/qtest/vfio-user-dma-bench, an
#      nvme exported by x-vfio-user-server on null-co, driven from the
#      client QEMU's memory at QD1 with 4 KiB, 64 KiB and 1 MiB Reads and
#      Writes: client RAM shared (memfd), unshared (DMA by message), and
#      unshared with the server's x-dma-block=off (8-byte pieces).
#   5. The same, shared against unshared, with the nvme on a raw file in
#      /dev/shm: a device that moves real data.
#   6. virtiofs DAX: tests/guest/bench-fs-dax.sh, contrib/vhost-user-fs-dax
#      serving a 256 MiB file from /dev/shm to a guest that reads it with
#      dax=never, then dax=always (64 MiB window), two rounds: sequential
#      read(), 4 KiB random reads through mmap cold (the guest's caches
#      dropped) and warm (every page mapped), and MAP/UNMAP requests per
#      second while the window reclaims; then again with a guest of 256 MiB
#      reading across the whole file through a 512 MiB window, more than
#      its page cache holds.
#   7. BAR accesses through vfio-user: tests/qtest/vfio-user-sparse-bench,
#      ivshmem-plain on a memfd exported by x-vfio-user-server, the client
#      QEMU reading and writing 4 KiB and 1 MiB of its BAR 2, mapped as a
#      sparse mmap area against x-sparse-mmap=off (a message per 8 bytes),
#      and mapped as a RAM device (the client's x-sparse-mmap-ram=off).
#
# Prints a table with the figures, the ratios and the targets met, and
# leaves the raw results in build/bench/: results.json (everything),
# summary.txt (the table), one .json and one .log per part.  It is not a
# test: it exits 0 with figures, whatever they are, and 1 only when a part
# could not run.  About 5 to 7 minutes on 2 CPUs; --quick (a smoke run,
# about a minute) stops at 1024 live mappings and shortens everything.
# Parts 4 and 5 alone: BENCH_SKIP="qtest kvm guest fs sparse".
#
# Environment: BENCH_OUT (build/bench), BENCH_SKIP (words among 'qtest kvm
# guest vfio fs sparse': parts to leave out), BENCH_QEMU (the emulator of parts 1, 3
# and 4, to compare builds), QEMU (the guest's), and what
# tests/guest/boot.sh takes (GUEST_ACCEL...).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
config() {
    if [ -f "$repo/config.mak" ]; then
        sed -n "s/^$1=//p" "$repo/config.mak" | tail -n 1
    fi
}
build_dir=$(config BUILD_DIR)
build_dir=${build_dir:-$repo/build}
obj_dir=$(config OBJ_DIR)
obj_dir=${obj_dir:-$build_dir/obj}
out=${BENCH_OUT:-$build_dir/bench}
skip=" ${BENCH_SKIP:-} "
python=${PYTHON:-python3}

quick=false
case "${1:-}" in
    --quick) quick=true ;;
    "") ;;
    *) sed -n '4s/^# //p' "$0" >&2; exit 2 ;;
esac

msg() {
    echo "bench: $*"
}

# The emulator, the benchmark and the back-end: 'make bench' built them
# already, by hand they may be missing
ninja -C "$obj_dir" qemu-system-x86_64 tests/qtest/vhost-user-shmem-bench \
    tests/qtest/vfio-user-dma-bench tests/qtest/vfio-user-sparse-bench \
    contrib/vhost-user-pmem/vhost-user-pmem >/dev/null ||
    { msg "cannot build what the benchmarks need"; exit 1; }
export QTEST_QEMU_BINARY="${BENCH_QEMU:-$obj_dir/qemu-system-x86_64}"
bench="$obj_dir/tests/qtest/vhost-user-shmem-bench"
vfio_bench="$obj_dir/tests/qtest/vfio-user-dma-bench"
sparse_bench="$obj_dir/tests/qtest/vfio-user-sparse-bench"

mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.log "$out/summary.txt"
start=$(date +%s)
failed=""

# Runs part $1 (a name), logging to $out/$1.log and showing the lines that
# matter; the command follows
part() {
    name=$1
    shift
    msg "$name: $*"
    t0=$(date +%s)
    if "$@" > "$out/$name.log" 2>&1; then
        grep -v -E '^(# |qemu-system-x86_64: .*(cannot (un)?map|refused))' \
            "$out/$name.log" | sed 's/^/    /' | tail -n 60
        msg "$name: done in $(( $(date +%s) - t0 )) s"
    else
        tail -n 30 "$out/$name.log" | sed 's/^/    /'
        msg "$name: FAILED after $(( $(date +%s) - t0 )) s (log: $out/$name.log)"
        failed="$failed $name"
    fi
}

# Back-end on one CPU, QEMU (all its threads) and the floor's peer on
# another, as a deployment would have them; the 0-live figure again with
# all on one CPU.  Unpinned, the scheduler puts the two ends of the round
# trip on one CPU or on two from one run to the next, and the floor
# doubles: cross-CPU wake-ups cost more than the rest of it here.
cpus=$("$python" -c 'import os
c = sorted(os.sched_getaffinity(0))
print("%d %d" % (c[0], c[1 % len(c)]))')
cpu_a=${cpus% *}
cpu_b=${cpus#* }

if $quick; then
    qtest_args="-n 300 --level-budget 5 --live 0,256,1024 --refuse-at 1024
                --capacity 4096 --capacity-budget 10 --rounds 4
                --region-mib 256 --dense"
    kvm_args="-n 300 --level-budget 5 --live 0,256 --refuse-at 256
              --capacity 512 --capacity-budget 5 --rounds 2"
    same_args="-n 300 --live 0 --capacity 0 --rounds 4"
    vfio_args="--time 0.5 --runs 3 --slow-time 1"
    sparse_args="--time 0.6 --runs 3"
    export BENCH_PMEM_MIB=64 BENCH_PMEM_REPS=3 BENCH_PMEM_PASSES=2
else
    # Writable mappings cost O(log n) (the region's window, see
    # fork/notes/shmem-scale.md); the budgets bound a regression.  A
    # mapping on every page of 256 MiB: 65535 and the probe page (the
    # biggest BAR libqos places on pc).
    qtest_args="-n 2000 --level-budget 20 --live 0,1024,4096,16384,65535
                --refuse-at 16384 --capacity 65536 --capacity-budget 120
                --region-mib 256 --dense --raise-nofile"
    kvm_args="-n 2000 --level-budget 10 --live 0,256,1024 --refuse-at 1024
              --capacity 2048 --capacity-budget 30 --rounds 4"
    same_args="-n 2000 --live 0 --capacity 0"
    # Per point 9 rounds, the configurations interleaved in 10 ms slices:
    # 1.5 s each (the 8-byte pieces 3 s); about 35 s in all
    vfio_args="--time 1.5 --runs 9 --slow-time 3"
    # A 1 MiB read by message takes seconds: each round has one at least
    sparse_args="--time 2 --runs 5"
fi

case "$skip" in
    *" qtest "*) msg "qtest: skipped (BENCH_SKIP)" ;;
    *)
        # shellcheck disable=SC2086
        part shmem-qtest "$bench" --cpus "$cpu_a,$cpu_b" $qtest_args \
            --json "$out/shmem-qtest.json"
        # shellcheck disable=SC2086
        part shmem-samecpu "$bench" --cpus "$cpu_a,$cpu_a" $same_args \
            --json "$out/shmem-samecpu.json"
        ;;
esac

case "$skip" in
    *" kvm "*) msg "kvm: skipped (BENCH_SKIP)" ;;
    *)
        if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
            # shellcheck disable=SC2086
            part shmem-kvm "$bench" --accel kvm --cpus "$cpu_a,$cpu_b" \
                $kvm_args --json "$out/shmem-kvm.json"
        else
            msg "kvm: skipped, /dev/kvm cannot be opened"
        fi
        ;;
esac

# Runs the guest part as $1 with TMPDIR=$2, where the back-end's file goes
guest_part() {
    rc=0
    TMPDIR=$2 "$repo/tests/guest/bench-pmem-read.sh" "$out/$1.json" \
        > "$out/$1.log" 2>&1 || rc=$?
    grep -E '^(bench-pmem-read|boot):' "$out/$1.log" |
        grep -v 'extra QEMU arguments' | sed 's/^/    /'
    case $rc in
        0) ;;
        77) msg "$1: skipped: $(grep SKIP "$out/$1.log" | tail -n 1)" ;;
        *) msg "$1: FAILED (log: $out/$1.log)"
           failed="$failed $1" ;;
    esac
}

case "$skip" in
    *" guest "*) msg "guest: skipped (BENCH_SKIP)" ;;
    *)
        # The region's file in shared memory, as guest RAM is (a memfd);
        # then on the disk, when TMPDIR is not shared memory already
        disk=${TMPDIR:-/tmp}
        shm=$disk
        if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
           [ -w /dev/shm ]; then
            shm=/dev/shm
        fi
        msg "guest-read: the back-end's file in $shm"
        guest_part guest-read "$shm"
        if [ "$(stat -f -c %T "$disk")" != tmpfs ] && ! $quick; then
            msg "guest-read-disk: the back-end's file in $disk"
            guest_part guest-read-disk "$disk"
        fi
        ;;
esac

# Part 6: virtiofs DAX, the shared directory in shared memory
case "$skip" in
    *" fs "*) msg "fs-dax: skipped (BENCH_SKIP)" ;;
    *)
        dir=${TMPDIR:-/tmp}
        if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
           [ -w /dev/shm ]; then
            dir=/dev/shm
        fi
        msg "fs-dax: the shared directory in $dir"
        # fs-dax: the span of the random reads fits in the guest's page
        # cache; fs-dax-small-guest: it does not (a 256 MiB guest reading
        # across the whole 256 MiB file), the case DAX is for: the guest
        # caches nothing itself.  The window holds the file there.
        for conf in fs-dax fs-dax-small-guest; do
            rc=0
            if $quick && [ $conf != fs-dax ]; then
                msg "$conf: skipped (--quick)"
                continue
            fi
            case $conf in
                fs-dax) set -- ;;
                *) set -- GUEST_MEM=256M BENCH_FS_CACHE=512M \
                       BENCH_FS_SPAN_MIB=256 BENCH_FS_PASSES=4 ;;
            esac
            env TMPDIR="$dir" "$@" "$repo/tests/guest/bench-fs-dax.sh" \
                "$out/$conf.json" > "$out/$conf.log" 2>&1 || rc=$?
            grep -E '^(bench-fs-dax|boot):' "$out/$conf.log" |
                grep -v 'extra QEMU arguments' | sed 's/^/    /'
            case $rc in
                0) ;;
                77) msg "$conf: skipped: $(grep SKIP "$out/$conf.log" | tail -n 1)" ;;
                *) msg "$conf: FAILED (log: $out/$conf.log)"
                   failed="$failed $conf" ;;
            esac
        done
        ;;
esac

# Parts 4, 5 and 7: the server QEMUs on one CPU, the clients on the other, as
# a deployment would have them; unpinned, the scheduler sometimes puts a
# server and its client on one CPU, sometimes not, and the ratios swing
# with it.  The benchmark itself, which busy-polls the client's completion
# queue where a guest would wait for an interrupt, goes with the servers:
# on the clients' CPU it takes half of it from the client's I/O thread
# that serves the DMA messages (msg/fd 0.25 there against 0.46 here).
pinned="$out/qemu-pinned"
cat > "$pinned" <<EOF
#!/bin/sh
case "\$*" in
    *x-remote*) exec taskset -c $cpu_a "$QTEST_QEMU_BINARY" "\$@" ;;
    *) exec taskset -c $cpu_b "$QTEST_QEMU_BINARY" "\$@" ;;
esac
EOF
chmod 755 "$pinned"

# Part 4: libqtest's '# starting QEMU' lines stay in the log
case "$skip" in
    *" vfio "*) msg "vfio: skipped (BENCH_SKIP)" ;;
    *)
        # shellcheck disable=SC2086
        QTEST_QEMU_BINARY=$pinned part vfio-user-dma \
            taskset -c "$cpu_a" "$vfio_bench" \
            $vfio_args --json "$out/vfio-user-dma.json"
        # Part 5: the same with a disk that moves real data
        # shellcheck disable=SC2086
        QTEST_QEMU_BINARY=$pinned part vfio-user-dma-file \
            taskset -c "$cpu_a" "$vfio_bench" \
            $vfio_args --configs fd,msg --disk-dir /dev/shm \
            --json "$out/vfio-user-dma-file.json"
        ;;
esac

# Part 7: BAR accesses, mapped and by message
case "$skip" in
    *" sparse "*) msg "sparse: skipped (BENCH_SKIP)" ;;
    *)
        # shellcheck disable=SC2086
        QTEST_QEMU_BINARY=$pinned part vfio-user-sparse \
            taskset -c "$cpu_a" "$sparse_bench" \
            $sparse_args --json "$out/vfio-user-sparse.json"
        ;;
esac

# The KVM_CAP_NR_MEMSLOTS of this host, for part 3
kvm_slots=$("$python" - <<'EOF' 2>/dev/null || true
import fcntl
import os

fd = os.open("/dev/kvm", os.O_RDWR)
# KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS
print(fcntl.ioctl(fd, 0xAE03, 10))
EOF
)

"$python" "$repo/fork/bench-report.py" --dir "$out" \
    --seconds $(( $(date +%s) - start )) --kvm-memslots "${kvm_slots:-}" \
    ${failed:+--failed "$failed"} | tee "$out/summary.txt"

if [ -n "$failed" ]; then
    msg "could not run:$failed"
    exit 1
fi
