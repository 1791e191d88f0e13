/*
 * Benchmark of BAR accesses through vfio-user: the client's reads and
 * writes of BAR memory mapped as a sparse mmap area, against the same
 * accesses by REGION_READ/REGION_WRITE message
 *
 * A server QEMU exports ivshmem-plain, whose BAR 2 is a 1 MiB shared
 * memfd, to a client QEMU's vfio-user-pci (tests/qtest/vfio-user-pair.h),
 * twice: with the server's default x-sparse-mmap=on (the client maps
 * BAR 2: "mapped") and with x-sparse-mmap=off (every access a message:
 * "msg").  This program has the client QEMU read and write 4 KiB and
 * 1 MiB of BAR 2 through qtest: a write is a qtest "memset" (the client
 * writes the bytes, nothing is carried over the qtest socket), a read a
 * "b64read" (the bytes come back base64-encoded, the same cost in both
 * configurations), each command of 64 KiB at most.  Each 64 KiB
 * written is followed by a 1-byte read, so that a write counts when the
 * device has it, not when the client posted it.  The client splits a
 * message-based access into pieces of at most 8 bytes, one message each;
 * a mapped one is stores and loads to the mapping.
 *
 * A third configuration, "mapped-ramd", maps BAR 2 as the client did
 * before it mapped shared memory as RAM: a RAM device region (the
 * client's x-sparse-mmap-ram=off), which qtest reaches through the memory
 * core in pieces of 8 bytes, with no message either.
 *
 * The two configurations are measured in turn, --runs rounds per point,
 * --time / --runs seconds each per round (at least one access); a
 * figure is the median of its rounds, the ratio the median of the
 * per-round ratios.  Target: mapped >= 100x msg at 1 MiB.  The server's
 * counters give the messages per access.
 *
 * Then NVMe doorbells: nvme on null-co exported with its doorbells in a
 * memfd that the server polls (x-db-memdev: a sparse area of BAR 0 that
 * the client maps, "db-polled") against MMIO doorbells ("db-mmio", a
 * posted REGION_WRITE per doorbell write), client RAM shared by fd in
 * both so that only the doorbells differ: IOPS of 4 KiB reads at QD1 and
 * QD32, driven through qtest (tests/qtest/vfio-user-pair.h: a doorbell
 * write per submission and per completion), in turn in the same rounds.
 *
 * This is a benchmark, not a test: it prints figures and writes them as
 * JSON, and fails only when it cannot run.  The fork's 'make bench' runs
 * it (fork/bench.sh).
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "hw/pci/pci_regs.h"
#include "vfio-user-pair.h"

#define PROG            "vfio-user-sparse-bench"
#define BAR_SIZE        (1 * MiB)
#define IVSHMEM_BAR     2
#define MAX_RUNS        64
#define TARGET_1M       100.0
#define CHUNK           (64 * KiB)

static double opt_time = 2;
static int opt_runs = 5;
static char *opt_json;
static int opt_db_poll_us = 20;
static gboolean opt_nvme_only;

typedef struct Config {
    const char *name;
    const char *obj_props;
    const char *dev_props;
    bool mapped;
    VfuPair *p;
    QPCIBar bar;
    uint64_t bar_addr;      /* in the client's memory space */
} Config;

/* The first is the one with the target, the last msg */
static Config configs[] = {
    { "mapped", NULL, NULL, true },
    { "mapped-ramd", NULL, "\"x-sparse-mmap-ram\":false", true },
    { "msg", "\"x-sparse-mmap\":false", NULL, false },
};
#define MSG (ARRAY_SIZE(configs) - 1)

static const uint32_t sizes[] = { 4 * KiB, 1 * MiB };

#define NVME_IO_SIZE    (4 * KiB)
#define NVME_MAX_QD     (VFU_NVME_QSIZE - 1)

typedef struct NvmeConfig {
    const char *name;
    bool polled;
    VfuPair *p;
    VfuNvme n;
    uint64_t bufs;          /* NVME_MAX_QD buffers of NVME_IO_SIZE */
} NvmeConfig;

/* The first is measured against the second */
static NvmeConfig nvme_configs[] = {
    { "db-polled", true },
    { "db-mmio", false },
};

static const int qds[] = { 1, 32 };

static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

static uint64_t stat_of(Config *c, const char *name)
{
    uint64_t val = 0;

    vfu_pair_stat(c->p, name, &val);
    return val;
}

/*
 * One access of @len bytes, in qtest commands of 64 KiB at most; @buf
 * for reads.  The client posts message writes without waiting: a read
 * after each 64 KiB waits until the server has them (and keeps the
 * client's queue short of its reply timeout).
 */
static void access_bar(Config *c, bool is_write, uint32_t len, uint8_t *buf)
{
    uint32_t done, n;

    for (done = 0; done < len; done += n) {
        n = MIN(len - done, CHUNK);
        if (is_write) {
            qtest_memset(c->p->client, c->bar_addr + done, 0x5a, n);
            qtest_readb(c->p->client, c->bar_addr + done);
        } else {
            qtest_bufread(c->p->client, c->bar_addr + done, buf + done, n);
        }
    }
}

/* Accesses for @seconds (one at least); returns MB/s, adds to @ops */
static double run(Config *c, bool is_write, uint32_t len, double seconds,
                  uint8_t *buf, uint64_t *ops)
{
    double t0 = now(), t;
    uint64_t n = 0;

    do {
        access_bar(c, is_write, len, buf);
        n++;
        t = now() - t0;
    } while (t < seconds);
    *ops += n;
    return n * (double)len / t / 1e6;
}

/*
 * No INTx: QEMU's vfio-pci unmaps the BARs while an INTx is pending (to
 * see the guest's EOI), and the test never acknowledges one, so the
 * doorbells would go by message from the first completion on
 */
static void nvme_no_intx(VfuPair *p)
{
    uint16_t cmd = qpci_config_readw(p->dev, PCI_COMMAND);

    qpci_config_writew(p->dev, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE);
}

static void nvme_start(NvmeConfig *c)
{
    g_autofree char *nvme = vfu_nvme_server_args(NULL);
    g_autofree char *args = NULL;

    /* The nvme device comes last in vfu_nvme_server_args() */
    args = c->polled ?
        g_strdup_printf("-object memory-backend-memfd,id=db,size=8K,"
                        "share=on %s,x-db-memdev=db,x-db-poll-us=%d", nvme,
                        opt_db_poll_us) :
        g_strdup(nvme);
    c->p = vfu_pair_new();
    vfu_pair_start_server(c->p, args, NULL);
    vfu_pair_start_client(c->p,
                          "-m 512M -object memory-backend-memfd,id=m,"
                          "size=512M -machine memory-backend=m", NULL);
    nvme_no_intx(c->p);
    vfu_nvme_init(&c->n, c->p);
    c->bufs = guest_alloc(&c->p->alloc, NVME_MAX_QD * NVME_IO_SIZE);
}

static void nvme_submit_read(NvmeConfig *c, uint64_t i)
{
    int slot = i % NVME_MAX_QD;

    vfu_nvme_submit_io(&c->n, false, (i % 1024) * 8,
                       c->bufs + slot * NVME_IO_SIZE, NVME_IO_SIZE, true);
}

/*
 * 4 KiB reads for @seconds, @qd in flight; returns commands per second,
 * adds to @ops.  Every command completes before it returns.
 */
static double nvme_run(NvmeConfig *c, int qd, double seconds, uint64_t *ops)
{
    double t0 = now(), t;
    uint64_t done = 0, submitted = 0;

    while (submitted < qd) {
        nvme_submit_read(c, submitted++);
    }
    do {
        if (vfu_nvme_wait(&c->n, NULL) != 0) {
            fprintf(stderr, PROG ": %s: a read failed\n", c->name);
            exit(1);
        }
        done++;
        nvme_submit_read(c, submitted++);
        t = now() - t0;
    } while (t < seconds);
    while (done < submitted) {
        if (vfu_nvme_wait(&c->n, NULL) != 0) {
            fprintf(stderr, PROG ": %s: a read failed\n", c->name);
            exit(1);
        }
        done++;
    }
    t = now() - t0;
    *ops += done;
    return done / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        { "time", 0, 0, G_OPTION_ARG_DOUBLE, &opt_time,
          "seconds per point and configuration (default 2)", "S" },
        { "runs", 0, 0, G_OPTION_ARG_INT, &opt_runs,
          "rounds per point (default 5)", "N" },
        { "nvme-only", 0, 0, G_OPTION_ARG_NONE, &opt_nvme_only,
          "only the NVMe doorbells", NULL },
        { "db-poll-us", 0, 0, G_OPTION_ARG_INT, &opt_db_poll_us,
          "the polled doorbells' x-db-poll-us (default 20)", "US" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the figures there", "FILE" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GString) json = g_string_new("{\n  \"points\": [\n");
    g_autofree uint8_t *buf = g_malloc(BAR_SIZE);
    GError *gerr = NULL;
    bool first = true;
    size_t i, s;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        fprintf(stderr, PROG ": %s\n", gerr->message);
        return 2;
    }
    if (opt_runs < 1 || opt_runs > MAX_RUNS || opt_time <= 0) {
        fprintf(stderr, PROG ": --runs: 1 to %d, --time above 0\n",
                MAX_RUNS);
        return 2;
    }
    if (!getenv("QTEST_QEMU_BINARY")) {
        fprintf(stderr, PROG ": set QTEST_QEMU_BINARY\n");
        return 2;
    }

    for (i = 0; !opt_nvme_only && i < ARRAY_SIZE(configs); i++) {
        Config *c = &configs[i];
        uint64_t size = 0;

        c->p = vfu_pair_start(
            "-object memory-backend-memfd,id=shm,size=1M,share=on "
            "-device ivshmem-plain,id=dev0,memdev=shm", c->obj_props,
            NULL, c->dev_props);
        c->bar = qpci_iomap(c->p->dev, IVSHMEM_BAR, &size);
        c->bar_addr = c->bar.addr;
        if (size != BAR_SIZE ||
            stat_of(c, "x-sparse-mapped-bytes") !=
            (c->mapped ? BAR_SIZE : 0)) {
            fprintf(stderr, PROG ": %s: BAR 2 of 0x%" PRIx64 " bytes, "
                    "mapped as not expected\n", c->name, size);
            return 1;
        }
    }

    printf("%-11s %-5s %-6s %12s %8s %14s %9s\n", "", "op", "size",
           "MB/s", "ops", "msgs per op", "x msg");
    for (s = 0; !opt_nvme_only && s < ARRAY_SIZE(sizes); s++) {
        for (int w = 0; w <= 1; w++) {
            double mbps[ARRAY_SIZE(configs)][MAX_RUNS];
            double ratio[ARRAY_SIZE(configs)][MAX_RUNS];
            double med[ARRAY_SIZE(configs)], r[ARRAY_SIZE(configs)];
            uint64_t ops[ARRAY_SIZE(configs)] = { 0 };
            uint64_t msgs0[ARRAY_SIZE(configs)];
            const char *stat = w ? "x-bar-write-messages"
                                 : "x-bar-read-messages";
            const char *op = w ? "write" : "read";

            for (i = 0; i < ARRAY_SIZE(configs); i++) {
                /* Warm up */
                access_bar(&configs[i], w, sizes[s], buf);
                msgs0[i] = stat_of(&configs[i], stat);
            }
            for (int k = 0; k < opt_runs; k++) {
                for (i = 0; i < ARRAY_SIZE(configs); i++) {
                    mbps[i][k] = run(&configs[i], w, sizes[s],
                                     opt_time / opt_runs, buf, &ops[i]);
                }
                for (i = 0; i < MSG; i++) {
                    ratio[i][k] = mbps[i][k] / mbps[MSG][k];
                }
            }
            for (i = 0; i < ARRAY_SIZE(configs); i++) {
                g_autofree char *x = NULL;
                g_autofree char *col = NULL;
                double msgs;

                msgs = (double)(stat_of(&configs[i], stat) - msgs0[i]) /
                       ops[i];
                med[i] = median(mbps[i], opt_runs);
                if (i != MSG) {
                    r[i] = median(ratio[i], opt_runs);
                    /* ratio_msg: the figure with the target */
                    x = g_strdup_printf(", \"%s\": %.3f",
                                        i ? "x_msg" : "ratio_msg", r[i]);
                    col = g_strdup_printf("%.0f", r[i]);
                }
                printf("%-11s %-5s %-6s %12.1f %8" PRIu64 " %14.1f %9s\n",
                       configs[i].name, op,
                       sizes[s] >= MiB ? "1 MiB" : "4 KiB", med[i], ops[i],
                       msgs, col ?: "");
                g_string_append_printf(json,
                    "%s    {\"config\": \"%s\", \"op\": \"%s\", "
                    "\"size\": %u, \"mbps\": %.3f, \"ops\": %" PRIu64 ", "
                    "\"bar_msgs_per_op\": %.2f%s}",
                    first ? "" : ",\n", configs[i].name, op, sizes[s],
                    med[i], ops[i], msgs, x ?: "");
                first = false;
            }
            if (sizes[s] == 1 * MiB) {
                printf("Target: mapped/msg %s 1 MiB >= %.0f: %s (%.0fx)\n",
                       op, TARGET_1M, r[0] >= TARGET_1M ? "MET" : "MISSED",
                       r[0]);
            }
        }
    }

    /* NVMe doorbells */
    for (i = 0; i < ARRAY_SIZE(nvme_configs); i++) {
        nvme_start(&nvme_configs[i]);
    }
    g_string_append(json, "\n  ],\n  \"nvme_points\": [\n");
    first = true;
    printf("%-11s %-10s %12s %8s %14s %9s\n", "", "4 KiB read", "IOPS",
           "cmds", "msgs per cmd", "x mmio");
    for (s = 0; s < ARRAY_SIZE(qds); s++) {
        double iops[ARRAY_SIZE(nvme_configs)][MAX_RUNS], ratio[MAX_RUNS];
        uint64_t ops[ARRAY_SIZE(nvme_configs)] = { 0 };
        uint64_t msgs0[ARRAY_SIZE(nvme_configs)];
        double r;

        for (i = 0; i < ARRAY_SIZE(nvme_configs); i++) {
            uint64_t warm = 0;

            nvme_run(&nvme_configs[i], qds[s], 0.05, &warm);
            vfu_pair_stat(nvme_configs[i].p, "x-bar-write-messages",
                          &msgs0[i]);
        }
        for (int k = 0; k < opt_runs; k++) {
            for (i = 0; i < ARRAY_SIZE(nvme_configs); i++) {
                iops[i][k] = nvme_run(&nvme_configs[i], qds[s],
                                      opt_time / opt_runs, &ops[i]);
            }
            ratio[k] = iops[0][k] / iops[1][k];
        }
        r = median(ratio, opt_runs);
        for (i = 0; i < ARRAY_SIZE(nvme_configs); i++) {
            g_autofree char *qd = g_strdup_printf("QD%d", qds[s]);
            g_autofree char *x = i ? g_strdup("") :
                                 g_strdup_printf("%.2f", r);
            uint64_t msgs1 = 0;
            double med = median(iops[i], opt_runs), msgs;

            vfu_pair_stat(nvme_configs[i].p, "x-bar-write-messages", &msgs1);
            msgs = (double)(msgs1 - msgs0[i]) / ops[i];
            printf("%-11s %-10s %12.0f %8" PRIu64 " %14.2f %9s\n",
                   nvme_configs[i].name, qd, med, ops[i], msgs, x);
            g_string_append_printf(json,
                "%s    {\"config\": \"%s\", \"qd\": %d, "
                "\"iops\": %.1f, \"ops\": %" PRIu64 ", "
                "\"bar_write_msgs_per_cmd\": %.2f%s%s}",
                first ? "" : ",\n", nvme_configs[i].name, qds[s], med,
                ops[i], msgs, i ? "" : ", \"ratio_mmio\": ",
                x);
            first = false;
        }
    }
    for (i = 0; i < ARRAY_SIZE(nvme_configs); i++) {
        vfu_pair_free(nvme_configs[i].p);
    }

    g_string_append_printf(json, "\n  ],\n  \"runs\": %d,\n"
                           "  \"time_per_point\": %.3f,\n"
                           "  \"target_1m\": %.0f\n}\n",
                           opt_runs, opt_time, TARGET_1M);

    for (i = 0; !opt_nvme_only && i < ARRAY_SIZE(configs); i++) {
        qpci_iounmap(configs[i].p->dev, configs[i].bar);
        vfu_pair_free(configs[i].p);
    }
    if (opt_json && !g_file_set_contents(opt_json, json->str, -1, &gerr)) {
        fprintf(stderr, PROG ": %s\n", gerr->message);
        return 1;
    }
    return 0;
}
