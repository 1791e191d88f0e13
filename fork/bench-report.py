#!/usr/bin/env python3
"""The table of 'make bench' (fork/bench.sh) from the parts' JSON files.

Reads shmem-qtest.json, shmem-kvm.json, guest-read.json,
vfio-user-dma.json, fs-dax.json, fs-dax-small-guest.json and
vfio-user-sparse.json from --dir (each
may be missing), prints the figures,
the ratios and the targets, and writes everything to results.json there.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess

# The targets of the benchmark
FLOOR_RATIO_MAX = 3.0       # 0 live mappings: at most 3x the floor
LIVE_RATIO_MAX = 3.0        # 16384 live: at most 3x 0 live
LIVE_TARGET = 16384
LIVE_MEASURED_MIN = 16384
CREATE_SECONDS_MAX = 5.0    # creating 16384 mappings
RESET_MS_MAX = 100.0        # a device reset with 16384 live
RSS_KIB_MAX = 4.0           # QEMU's memory per live mapping
CAPACITY_MIN = 65536        # mappings in one device under TCG/qtest
BANDWIDTH_MIN = 0.90        # region read at least 90% of RAM read
VFU_MSG_FD_MIN = 0.5        # vfio-user DMA by message >= 0.5x shared, 1 MiB
VFU_BLOCK_MIN = 50.0        # and >= 50x the 8-byte pieces, 64 KiB
FS_DAX_RAND_MIN = 2.0       # warm 4 KiB mmap reads: dax=always >= 2x never


def load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def us(ns):
    return "%.1f us" % (ns / 1e3) if ns < 1e7 else "%.1f ms" % (ns / 1e6)


def verdict(met):
    return "MET" if met else "MISSED"


class Report:
    def __init__(self):
        self.lines = []
        self.targets = []

    def out(self, text=""):
        self.lines.append(text)

    def target(self, name, met, value, limit, detail):
        self.targets.append({"target": name, "met": met, "value": value,
                             "limit": limit, "detail": detail})
        self.out("  %-52s %s (%s)" % ("Target: " + name, verdict(met), detail))


def pairs_table(r, run, floor_ns):
    """Rows of one vhost-user-shmem-bench run; returns {live: median}"""
    r.out("  %-34s %6s %11s %11s %9s %9s" %
          ("", "pairs", "median", "p99", "x floor", "x 0 live"))
    rows = [("floor: socketpair peer, thread", run.get("floor")),
            ("floor: socketpair peer, process", run.get("floor_process"))]
    for level in run.get("levels", []):
        rows.append(("QEMU, %5d live mappings" % level["live"], level))
    rows.append(("floor again, after QEMU", run.get("floor_after")))
    medians = {}
    for label, d in rows:
        if not d:
            continue
        med = d["pair"]["median_ns"]
        if "live" in d:
            medians[d["live"]] = med
        zero = medians.get(0)
        r.out("  %-34s %6d %11s %11s %9.2f %9s" %
              (label, d["iterations"], us(med), us(d["pair"]["p99_ns"]),
               med / floor_ns, "%.2f" % (med / zero) if zero and "live" in d
               else ""))
    return medians


def placement(run):
    if "cpu_backend" not in run:
        return ", unpinned"
    if run["cpu_backend"] == run["cpu_peer"]:
        return ", one CPU"
    return ", two CPUs"


def part1(r, qtest, kvm, same):
    r.out("1. VHOST_USER_BACKEND_SHMEM_MAP + UNMAP of one page, round trip "
          "from a libvhost-user back-end")
    if not qtest:
        r.out("  (not run)")
        return
    floor = qtest["floor"]["pair"]["median_ns"]
    r.out("  QEMU under %s, region of %d MiB in BAR 2 mapped in guest "
          "memory; probe at its last page" %
          (qtest["accel"], qtest["region_size"] >> 20))
    if "cpu_backend" in qtest:
        r.out("  back-end on CPU %d; QEMU and the floor's peer on CPU %d" %
              (qtest["cpu_backend"], qtest["cpu_peer"]))
    med = pairs_table(r, qtest, floor)
    r.out("  (writable mappings: each request is answered once the host "
          "mapping in the region's window changed; no memory commit)")
    inter = qtest.get("interleaved")
    if inter:
        r.out("  floor and QEMU (0 live) in turn, %d rounds of %d pairs: "
              "QEMU/floor %.2f median (%.2f-%.2f), medians %s and %s" %
              (len(inter["rounds"]), inter["pairs_per_round"],
               inter["ratio_median"], inter["ratio_min"], inter["ratio_max"],
               us(inter["qemu_median_ns"]), us(inter["floor_median_ns"])))
        ratio = inter["ratio_median"]
    else:
        ratio = med[0] / floor if 0 in med else None
    if ratio is not None:
        r.target("0 live <= %gx floor%s" %
                 (FLOOR_RATIO_MAX, placement(qtest)),
                 ratio <= FLOOR_RATIO_MAX, ratio, FLOOR_RATIO_MAX,
                 "%.2fx; %.2fx from the table" %
                 (ratio, med[0] / floor if 0 in med else 0))
    if same and same.get("interleaved"):
        inter = same["interleaved"]
        ratio = inter["ratio_median"]
        r.out("  the same with the back-end, QEMU and the peer on one CPU: "
              "QEMU %s, floor %s; in turn %.2f (%.2f-%.2f)" %
              (us(inter["qemu_median_ns"]), us(inter["floor_median_ns"]),
               ratio, inter["ratio_min"], inter["ratio_max"]))
        r.target("0 live <= %gx floor%s" %
                 (FLOOR_RATIO_MAX, placement(same)),
                 ratio <= FLOOR_RATIO_MAX, ratio, FLOOR_RATIO_MAX,
                 "%.2fx" % ratio)
    top = max(med) if med else 0
    if 0 in med and top >= LIVE_MEASURED_MIN:
        ratio = med[top] / med[0]
        r.target("%d live <= %gx 0 live" % (LIVE_TARGET, LIVE_RATIO_MAX),
                 ratio <= LIVE_RATIO_MAX, ratio, LIVE_RATIO_MAX,
                 "%.0fx at %d live: %s against %s%s" %
                 (ratio, top, us(med[top]), us(med[0]),
                  "; 4096 itself cannot be measured, see 3"
                  if top < LIVE_TARGET else ""))
    elif 0 in med:
        r.out("  Target: %d live: not measured in this run (highest: %d)" %
              (LIVE_TARGET, top))
    for level in qtest.get("levels", []):
        if level["live"] == LIVE_TARGET and "created_ns" in level:
            secs = level["created_ns"] / 1e9
            r.target("creating %d mappings <= %gs" %
                     (LIVE_TARGET, CREATE_SECONDS_MAX),
                     secs <= CREATE_SECONDS_MAX, secs, CREATE_SECONDS_MAX,
                     "%.1f s, one MAP after the other" % secs)
        if level["live"] == LIVE_TARGET and "rss_per_mapping_kib" in level:
            kib = level["rss_per_mapping_kib"]
            r.target("QEMU RSS per live mapping <= %g KiB" % RSS_KIB_MAX,
                     kib <= RSS_KIB_MAX, kib, RSS_KIB_MAX,
                     "%.2f KiB at %d live" % (kib, level["live"]))
    reset = qtest.get("reset")
    if reset and reset["live"] >= LIVE_TARGET:
        ms = reset["reset_ns"] / 1e6
        r.target("device reset with >= %d live <= %g ms" %
                 (LIVE_TARGET, RESET_MS_MAX), ms <= RESET_MS_MAX, ms,
                 RESET_MS_MAX, "%.1f ms with %d live; every fd closed after "
                 "%.1f ms" % (ms, reset["live"], reset["released_ns"] / 1e6))
    elif reset:
        r.out("  device reset with %d live: %.1f ms; every fd closed after "
              "%.1f ms" % (reset["live"], reset["reset_ns"] / 1e6,
                           reset["released_ns"] / 1e6))
    if qtest.get("level_failed"):
        r.out("  Mapping towards %d live FAILED%s" %
              (qtest["level_failed"], ": QEMU died" if qtest.get("qemu_died")
               else ""))
    if kvm:
        r.out()
        r.out("  Again under %s, vCPUs stopped (-S): each mapping is also a "
              "KVM memory slot" % kvm["accel"])
        kfloor = kvm["floor"]["pair"]["median_ns"]
        pairs_table(r, kvm, kfloor)


def part2(r, guest, other):
    r.out("2. Guest read bandwidth: shared memory region against guest RAM")
    if not guest:
        r.out("  (not run)")
        return
    med = guest["median_mbs"]
    runs = guest["runs"]
    r.out("  %s guest, O_DIRECT dd bs=1M, %d MiB per repetition, median of "
          "%d" % ((guest.get("accel") or "?").upper(), guest["bytes"] >> 20,
                  len(runs["shmem"])))
    names = {
        "shmem": "/dev/pmem on the region (virtio_pmem, BAR 2)",
        "ram": "/dev/pmem on guest RAM (memmap=, nd_e820)",
        "tmpfs": "file in the guest's tmpfs (page cache)",
    }
    for key in ("shmem", "ram", "tmpfs"):
        if key in med:
            r.out("  %-48s %8.1f MB/s  (%.0f-%.0f)" %
                  (names[key], med[key], min(runs[key]), max(runs[key])))
    r.out("  the back-end's file on %s, as guest RAM (a memfd)" %
          guest.get("backing_fs", "?"))
    if other:
        r.out("  with the file on %s instead: region %.1f MB/s, RAM %.1f "
              "MB/s, %.1f%% (per repetition %.1f%%)" %
              (other.get("backing_fs", "?"), other["median_mbs"]["shmem"],
               other["median_mbs"]["ram"], 100 * other["ratio_shmem_ram"],
               100 * other["ratio_shmem_ram_paired"]))
    ratio = guest["ratio_shmem_ram"]
    r.target("region >= %d%% of RAM" % (BANDWIDTH_MIN * 100),
             ratio >= BANDWIDTH_MIN, ratio, BANDWIDTH_MIN,
             "%.1f%%; per repetition %.1f%%; against tmpfs %.1f%%" %
             (100 * ratio, 100 * guest["ratio_shmem_ram_paired"],
              100 * guest.get("ratio_shmem_tmpfs", 0)))


def part6_config(r, fs, what):
    r.out("  %s: %s guest of %s, %d MiB file in the back-end's /dev/shm, "
          "window %s, random reads over its first %d MiB" %
          (what, (fs.get("accel") or "?").upper(), fs.get("guest_mem", "512M"),
           fs.get("bytes", 256 << 20) >> 20, fs.get("cache_size", "64M"),
           fs.get("span_mib", 32)))
    r.out("  %-48s %8.1f MB/s  dax=always %8.1f MB/s  %.2fx" %
          ("sequential read(), dax=never", fs["seq_mbs_never"],
           fs["seq_mbs_always"], fs["seq_ratio"]))
    if "rand_cold_ns_never" in fs:
        r.out("  %-48s %8.0f ns    dax=always %8.0f ns    %.2fx" %
              ("4 KiB random reads via mmap (cold), dax=never",
               fs["rand_cold_ns_never"], fs["rand_cold_ns_always"],
               fs["rand_cold_ratio"]))
    r.out("  %-48s %8.0f ns    dax=always %8.0f ns    %.2fx" %
          ("4 KiB random reads via mmap (warm), dax=never",
           fs["rand_ns_never"], fs["rand_ns_always"], fs["rand_ratio"]))
    r.out("  %-48s %8d         dax=always %8d" %
          ("page faults of the last warm pass, dax=never",
           fs["rand_faults_never"], fs["rand_faults_always"]))
    if fs.get("guest_cached_kib_never", -1) >= 0:
        r.out("  %-48s %8d MiB   dax=always %8d MiB   (of %d MiB)" %
              ("guest page cache after the reads, dax=never",
               fs["guest_cached_kib_never"] >> 10,
               fs["guest_cached_kib_always"] >> 10,
               fs["guest_memtotal_kib"] >> 10))
    r.out("  MAP/UNMAP while the window reclaims: %d + %d, %.0f per second" %
          (fs["maps"], fs["unmaps"], fs["map_unmap_per_s"]))
    r.target("DAX >= %.0fx non-DAX, warm mmap random reads, %s" %
             (FS_DAX_RAND_MIN, what),
             fs["rand_ratio"] >= FS_DAX_RAND_MIN, fs["rand_ratio"],
             FS_DAX_RAND_MIN, "%.2fx (%s)" % (fs["rand_ratio"],
                                              fs.get("accel") or "?"))


def part6(r, fs, small):
    r.out("6. virtiofs DAX (vhost-user-fs-dax), dax=always against "
          "dax=never, same back-end and boot")
    if not fs and not small:
        r.out("  not run")
        return
    if fs:
        part6_config(r, fs, "the span fits the guest's page cache")
    if small:
        part6_config(r, small, "the span exceeds the guest's page cache")


def part7(r, sparse):
    r.out("7. BAR accesses through vfio-user: ivshmem-plain on a memfd "
          "exported by x-vfio-user-server, the client QEMU reading and "
          "writing its BAR 2")
    if not sparse:
        r.out("  (not run)")
        return
    r.out("  mapped: BAR 2 a sparse mmap area (RAM in the client); "
          "mapped-ramd: the same as a RAM device (x-sparse-mmap-ram=off); "
          "msg: x-sparse-mmap=off, a REGION_READ/WRITE per 8 bytes.  "
          "Median of %d rounds of %.2f s each; x msg: median of the "
          "per-round ratios" %
          (sparse["runs"], sparse["time_per_point"] / sparse["runs"]))
    r.out("  %-11s %-6s %-6s %10s %8s %12s %8s" %
          ("", "", "", "MB/s", "ops", "msgs per op", "x msg"))
    for p in sparse["points"]:
        x = p.get("ratio_msg", p.get("x_msg"))
        r.out(("  %-11s %-6s %-6s %10.1f %8d %12.1f %8s" %
               (p["config"], p["op"], vfu_size(p["size"]), p["mbps"],
                p["ops"], p["bar_msgs_per_op"],
                "%.0f" % x if x is not None else "")).rstrip())
    if sparse.get("nvme_points"):
        r.out("  NVMe doorbells, nvme on null-co, client RAM shared by fd: "
              "db-polled: in a memfd the server polls (x-db-memdev), a "
              "sparse area of BAR 0; db-mmio: a posted REGION_WRITE each.  "
              "4 KiB reads driven by qtest; x mmio: median of the "
              "per-round ratios")
        r.out("  %-11s %-6s %10s %8s %12s %8s" %
              ("", "", "IOPS", "cmds", "msgs per cmd", "x mmio"))
        for p in sparse["nvme_points"]:
            r.out(("  %-11s %-6s %10.0f %8d %12.2f %8s" %
                   (p["config"], "QD%d" % p["qd"], p["iops"], p["ops"],
                    p["bar_write_msgs_per_cmd"],
                    "%.2f" % p["ratio_mmio"] if "ratio_mmio" in p
                    else "")).rstrip())
    limit = sparse["target_1m"]
    for p in sparse["points"]:
        if "ratio_msg" in p and p["size"] == 1 << 20:
            r.target("mapped/msg BAR %s 1 MiB >= %g" % (p["op"], limit),
                     p["ratio_msg"] >= limit, p["ratio_msg"], limit,
                     "%.0fx, mapped %.1f MB/s" % (p["ratio_msg"], p["mbps"]))


def capacity(r, run, log):
    cap = run.get("capacity")
    if not cap:
        return
    r.out("  %s: %d mappings (stopped: %s%s) after %.1f s of mapping to "
          "%d%s" %
          (run["accel"], cap["reached"], cap["stopped"],
           ", errno %d" % cap["errno"] if cap.get("errno") else "",
           cap.get("fill_seconds", 0), cap["target"],
           "; x-query-virtio-shmem counts %d" % cap["mappings_counted"]
           if "mappings_counted" in cap else ""))
    if cap.get("qemu_died"):
        r.out("    QEMU ABORTED: it acknowledged MAP number %d, then died "
              "committing it:" % cap["qemu_died_after"])
        for line in died_messages(log):
            r.out("      " + line)
    ref = cap.get("refusal")
    if ref:
        r.out("    MAP number %d refused at the limit: QEMU %s, %d mappings "
              "live after, data %s%s" %
              (cap["reached"] + 1,
               "answers" if ref["qemu_answers"] else "DOES NOT ANSWER",
               ref["mappings_after"],
               "intact" if ref["data_intact"] else "CHANGED",
               "" if ref["nothing_lost"] else " (SOMETHING WAS LOST)"))
        for line in refusal_messages(log)[-1:]:
            r.out("      " + line)
    curve = cap.get("curve", [])
    if curve:
        r.out("    MAP time by live mappings: " + ", ".join(
            "%d: %s" % (p["live"], us(p["map_median_ns"])) for p in curve))
        last = curve[-1]
        n = last["live"]
        if cap["stopped"] == "time budget" and n >= 256:
            # Each MAP costs about c * n (see fork/notes)
            c = last["map_median_ns"] / n
            mins = c * (cap["target"] ** 2 - n ** 2) / 2 / 1e9 / 60
            r.out("    at that rate (~n per MAP) mapping on to %d would "
                  "take another %.1f minutes" % (cap["target"], mins))
    if "fds_per_mapping" in cap:
        r.out("    each mapping holds %.2f fd and %.2f memory areas in QEMU: "
              "RLIMIT_NOFILE %d, vm.max_map_count %d -> QEMU would run out "
              "at about %s mappings" %
              (cap["fds_per_mapping"], cap["vmas_per_mapping"],
               cap["rlimit_nofile"], cap["max_map_count"],
               cap.get("process_limit", "?")))
    if "slots" in cap:
        r.out("    KVM memory slots in use: %d before any mapping, %d with "
              "%d mappings" % (run["slots_before"], cap["slots"],
                               cap["reached"]))
    if run["accel"] != "kvm":
        why = cap["stopped"]
        if cap.get("refusal"):
            lines = refusal_messages(log)
            why = lines[-1].split(": ")[-1] if lines else "refused"
        r.target("capacity >= %d mappings (%s)" % (CAPACITY_MIN,
                                                   run["accel"]),
                 cap["reached"] >= CAPACITY_MIN, cap["reached"],
                 CAPACITY_MIN, "%d, stopped: %s" % (cap["reached"], why))


def refusal_messages(log):
    """QEMU's refusals in a part's log"""
    if not log or not os.path.exists(log):
        return []
    with open(log, errors="replace") as f:
        return [line.strip() for line in f if "cannot map" in line]


def died_messages(log):
    """QEMU's last words in a part's log"""
    if not log or not os.path.exists(log):
        return []
    with open(log, errors="replace") as f:
        return [line.strip() for line in f
                if "Assertion" in line or "Aborted" in line
                or "qemu-system-x86_64: " in line and "abort" in line][:3]


def refusals(r, run):
    ref = run.get("refusals")
    if ref:
        ok = ref["all_refused_nothing_lost"]
        r.out("  Refused requests with %d live mappings (%s): %s" %
              (ref["live"], run["accel"],
               "each refused by QEMU, all mappings still counted, data "
               "intact" if ok else "SOMETHING WAS LOST OR ACCEPTED"))
        for c in ref["cases"]:
            r.out("    %-36s %s, %d live after, data %s" %
                  (c["what"], "refused" if c["refused_by_qemu"] else
                   "NOT refused by QEMU", c["mappings_after"],
                   "intact" if c["data_intact"] else "CHANGED"))
    fd = run.get("fd_exhaustion")
    if fd and "skipped" in fd:
        r.out("  QEMU out of file descriptors: skipped (%s)" % fd["skipped"])
    elif fd:
        r.out("  QEMU out of file descriptors (soft RLIMIT_NOFILE lowered to "
              "%d): %d more read-only mapped, then %s; %d live after, "
              "data %s; "
              "maps again once the limit is back: %s" %
              (fd["soft_limit"], fd["mapped_before_refusal"],
               "refused" if fd["refused_by_qemu"] else
               "none refused (in the window they keep no fd)",
               fd["mappings_after"],
               "intact" if fd["data_intact"] else "CHANGED",
               "yes" if fd["maps_again"] else "NO"))


def part3(r, qtest, kvm, kvm_memslots, directory):
    r.out("3. How many mappings a region holds")
    for run, name in ((qtest, "shmem-qtest.log"), (kvm, "shmem-kvm.log")):
        if run:
            capacity(r, run, os.path.join(directory, name))
    if kvm_memslots:
        before = kvm["slots_before"] if kvm else None
        r.out("  KVM: KVM_CAP_NR_MEMSLOTS is %d on this host; each mapping "
              "takes one slot (virtio_shmem_map() refuses when none is "
              "free)%s" %
              (kvm_memslots, ", so %d mappings at most next to the %d slots "
               "of RAM and ROM here (a running guest's firmware splits a "
               "few more)" % (kvm_memslots - before, before)
               if before is not None else ""))
        cap = qtest.get("capacity", {}) if qtest else {}
        died = cap.get("qemu_died_after")
        if died and died < kvm_memslots:
            r.out("  -> out of reach: QEMU aborts at %d mappings first, "
                  "whatever the accelerator (the dispatch limit), so the "
                  "KVM refusal cannot happen" % died)
        elif cap.get("refusal") and cap["reached"] < kvm_memslots:
            r.out("  -> out of reach: QEMU refuses mapping %d first, "
                  "whatever the accelerator, so the KVM refusal cannot "
                  "happen" % (cap["reached"] + 1))
    for run in (qtest, kvm):
        if run:
            refusals(r, run)


def vfu_size(n):
    return "%d MiB" % (n >> 20) if n >= 1 << 20 else "%d KiB" % (n >> 10)


VFU_DISKS = {
    "null-co": "null-co (the disk costs nothing: pure DMA)",
    "file": "a raw file in /dev/shm (a device with real data)",
}


def part4(r, vfu, number="4", disk="null-co"):
    if vfu:
        disk = vfu.get("disk", "null-co")
    r.out("%s. Device DMA through vfio-user: nvme on %s exported by "
          "x-vfio-user-server, QD1, one SGL data block per command" %
          (number, VFU_DISKS.get(disk, disk)))
    if not vfu:
        r.out("  (not run)")
        return
    inter = vfu.get("interleaved")
    if inter:
        r.out("  configurations measured in turn: %d rounds per point, each "
              "%.2f s of each (8-byte pieces: %.2f s) in slices of %s ms" %
              (vfu["runs"], vfu["time_per_point"] / vfu["runs"],
               vfu["slow_time_per_point"] / vfu["runs"],
               vfu.get("slice_ms", "?")))
        r.out("  MB/s: median of the rounds; x fd: median of the per-round "
              "ratios to fd; other: CPUs busy with other work")
    else:
        r.out("  median MB/s of %s s in %d runs per point (8-byte pieces: "
              "%s s in %d)" %
              (vfu["time_per_point"], vfu["runs"],
               vfu["slow_time_per_point"], vfu["slow_runs"]))
    r.out("  messages per command from the server's statistics")
    r.out("  %-10s %-5s %-6s %10s %8s %10s %10s %6s %5s" %
          ("", "", "", "MB/s", "cmds", "DMA_READ", "DMA_WRITE", "x fd",
           "other"))
    mbps = {}
    rows = []
    for c in vfu["configs"]:
        for p in c["points"]:
            mbps[(c["name"], p["op"], p["size"])] = p["mbps"]
            rows.append((p["size"], p["op"] != "read", c["name"], p))
    if inter:
        # As measured: by point, the configurations together
        rows.sort(key=lambda row: row[:2])
    last = None
    for size, _, name, p in rows:
        msgs = ("%10.1f %10.1f" % (p["dma_read_msgs_per_op"],
                                    p["dma_write_msgs_per_op"])
                if "dma_read_msgs_per_op" in p else "%21s" % "")
        point = (p["op"], size)
        other = ("%5.2f" % p["other_cpus"]
                 if "other_cpus" in p and point != last else "")
        last = point
        r.out(("  %-10s %-5s %-6s %10.1f %8d %s %6s %5s%s" %
               (name, p["op"], vfu_size(size), p["mbps"], p["ops"], msgs,
                "%.2f" % p["ratio_fd"] if "ratio_fd" in p else "", other,
                "  %d DMA ERRORS" % p["dma_errors"]
                if p.get("dma_errors") else "")).rstrip())
    r.out("  fd: client RAM in a shared memfd; msg: anonymous client RAM, "
          "DMA by message; msg-8byte: the same, server x-dma-block=off")
    ratios = {(x["a"], x["b"], x["op"], x["size"]): x
              for x in vfu.get("ratios", []) if "rounds_ratio" in x}
    run = {c["name"] for c in vfu["configs"]}
    for a, b, size, limit in (("msg", "fd", 1 << 20, VFU_MSG_FD_MIN),
                              ("msg", "msg-8byte", 64 << 10, VFU_BLOCK_MIN)):
        if a not in run or b not in run:
            continue
        for op in ("read", "write"):
            name = "%s/%s %s %s >= %g (%s)" % (a, b, op, vfu_size(size),
                                               limit, disk)
            x = ratios.get((a, b, op, size))
            if x:
                # Measured in turn: the median of the per-round ratios
                ratio = x["ratio"]
                r.target(name, ratio >= limit, ratio, limit,
                         "%.2fx, median of %d rounds (%.2f-%.2f); %.1f "
                         "against %.1f MB/s%s" %
                         (ratio, len(x["rounds_ratio"]), x["ratio_min"],
                          x["ratio_max"], x["a_mbps"], x["b_mbps"],
                          "; other work %.2f CPU" % x["other_cpus"]
                          if "other_cpus" in x else ""))
                continue
            x = mbps.get((a, op, size))
            y = mbps.get((b, op, size))
            if not x or not y:
                r.out("  Target: %s/%s %s %s: not measured" %
                      (a, b, op, vfu_size(size)))
                continue
            r.target(name, x / y >= limit, x / y, limit,
                     "%.2fx: %.1f against %.1f MB/s" % (x / y, x, y))


def environment(seconds):
    env = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "seconds": seconds,
    }
    try:
        env["commit"] = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)),
             "describe", "--always", "--dirty"], capture_output=True,
            text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--kvm-memslots", default="")
    ap.add_argument("--failed", default="")
    args = ap.parse_args()

    qtest = load(args.dir, "shmem-qtest.json")
    same = load(args.dir, "shmem-samecpu.json")
    kvm = load(args.dir, "shmem-kvm.json")
    guest = load(args.dir, "guest-read.json")
    guest_disk = load(args.dir, "guest-read-disk.json")
    vfu = load(args.dir, "vfio-user-dma.json")
    vfu_file = load(args.dir, "vfio-user-dma-file.json")
    fs_dax = load(args.dir, "fs-dax.json")
    fs_dax_small = load(args.dir, "fs-dax-small-guest.json")
    sparse = load(args.dir, "vfio-user-sparse.json")
    if kvm and kvm.get("accel") != "kvm":
        kvm = None                      # KVM did not start: QEMU fell back
    kvm_memslots = int(args.kvm_memslots) if args.kvm_memslots else None
    env = environment(args.seconds)

    r = Report()
    r.out("VIRTIO Shared Memory and vfio-user DMA benchmark (make bench), "
          "%s, %s CPUs, "
          "Linux %s, load %s" % (env["date"], env["cpus"], env["kernel"],
                                 " ".join(env["loadavg"])))
    r.out()
    part1(r, qtest, kvm, same)
    r.out()
    part2(r, guest, guest_disk)
    r.out()
    part3(r, qtest, kvm, kvm_memslots, args.dir)
    r.out()
    part4(r, vfu)
    r.out()
    part4(r, vfu_file, "5", "file")
    r.out()
    part6(r, fs_dax, fs_dax_small)
    r.out()
    part7(r, sparse)
    r.out()
    met = sum(t["met"] for t in r.targets)
    r.out("Targets met: %d of %d%s.  Raw results: %s/results.json; %d s." %
          (met, len(r.targets),
           "; could not run:" + args.failed if args.failed.strip() else "",
           args.dir, args.seconds))
    print("\n".join(r.lines))

    with open(os.path.join(args.dir, "results.json"), "w") as f:
        json.dump({"environment": env, "targets": r.targets,
                   "kvm_memslots": kvm_memslots, "shmem_qtest": qtest,
                   "shmem_kvm": kvm, "shmem_samecpu": same,
                   "guest_read": guest,
                   "guest_read_disk": guest_disk,
                   "vfio_user_dma": vfu,
                   "vfio_user_dma_file": vfu_file,
                   "fs_dax": fs_dax,
                   "fs_dax_small_guest": fs_dax_small,
                   "vfio_user_sparse": sparse,
                   "failed": args.failed.split()}, f, indent=2)


if __name__ == "__main__":
    main()
