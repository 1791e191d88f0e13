/*
 * Benchmark of device DMA through vfio-user: an NVMe controller exported
 * by x-vfio-user-server, driven from the client QEMU's memory
 *
 * A server QEMU exports nvme on a null-co disk (reads return zeroes,
 * writes are dropped: the disk costs nothing), a client QEMU plugs it
 * with vfio-user-pci, and this program drives the controller through the
 * client (tests/qtest/vfio-user-pair.h): one I/O queue pair in client
 * RAM, one command at a time (QD1), its data described by one SGL data
 * block.  For 4 KiB, 64 KiB and 1 MiB Reads (device -> client RAM) and
 * Writes (client RAM -> device) it measures MB/s in three configurations,
 * one after the other in the same run:
 *
 *   fd         client RAM in a shared memfd: the server maps it, no DMA
 *              message at all
 *   msg        anonymous client RAM (no fd): the server's DMA goes as
 *              DMA_READ/DMA_WRITE messages, default server options
 *   msg-8byte  the same with the server's x-dma-block=off: the memory
 *              core's pieces of at most 8 bytes, a message each.  Very
 *              slow: 4 KiB and 64 KiB only (--slow-1m adds 1 MiB)
 *
 * Each point is bounded by time (--time seconds, split into --runs runs,
 * one command at least each) and reports the median of its runs, and the
 * messages per command from the server's statistics.  The ratios that
 * matter: msg/fd at 1 MiB (target >= 0.5: messages in large pieces cost
 * little next to shared memory) and msg/msg-8byte at 64 KiB (target >= 50:
 * what moving a DMA in one message instead of 8-byte pieces gains).
 *
 * The time includes driving the controller through qtest (doorbells,
 * completion polling): the same in every configuration, and what makes
 * the 4 KiB figures small.
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
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "vfio-user-pair.h"

#define PROG            "vfio-user-dma-bench"
#define MAX_LEN         (1 * MiB)
/* The commands cycle through this much of the disk */
#define SPAN            (64 * MiB)
#define WARMUP_OPS      3
#define MAX_RUNS        64

/* Options */
static double opt_time = 1.5;
static int opt_runs = 5;
static double opt_slow_time = 3;
static int opt_slow_runs = 3;
static gboolean opt_slow_1m;
static char *opt_configs = (char *)"fd,msg,msg-8byte";
static char *opt_json;

typedef struct BenchConfig {
    const char *name;
    const char *what;
    const char *client_args;    /* NULL: anonymous RAM */
    const char *obj_props;
    bool slow;
} BenchConfig;

static const BenchConfig configs[] = {
    { "fd", "client RAM in a shared memfd (mapped by the server)",
      "-m 512M -object memory-backend-memfd,id=m,size=512M,share=on "
      "-machine memory-backend=m", NULL, false },
    { "msg", "anonymous client RAM: DMA by message", NULL, NULL, false },
    { "msg-8byte", "anonymous client RAM, server x-dma-block=off",
      NULL, "\"x-dma-block\":false", true },
};

static const uint32_t sizes[] = { 4 * KiB, 64 * KiB, 1 * MiB };

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

static const char *size_str(uint32_t len)
{
    return len >= MiB ? (len == MiB ? "1 MiB" : "?") :
           len == 64 * KiB ? "64 KiB" : len == 4 * KiB ? "4 KiB" : "?";
}

/*
 * One command; false (with a message) if it failed.  @i picks the LBA so
 * that the commands walk through SPAN bytes of the disk.
 */
static bool one_io(VfuNvme *n, bool write, uint64_t buf, uint32_t len,
                   uint64_t i)
{
    uint64_t lbas = len / n->lba_size;
    uint64_t slba = (i * lbas) % (SPAN / n->lba_size);
    int st = vfu_nvme_io(n, write, slba, buf, len, true);

    if (st) {
        fprintf(stderr, PROG ": %s of %u bytes: %s 0x%x\n",
                write ? "Write" : "Read", len,
                st < 0 ? "no completion in time, status" : "status", st);
        return false;
    }
    return true;
}

/*
 * Times @write commands of @len bytes: @runs runs of @secs / @runs
 * seconds each, one command at least per run.  Returns the point as a
 * dict, or NULL if a command failed.
 */
static QDict *run_point(VfuPair *p, VfuNvme *n, uint64_t buf, bool write,
                        uint32_t len, double secs, int runs, bool warmup)
{
    gint64 budget = secs * G_USEC_PER_SEC / runs;
    double mbps[MAX_RUNS];
    VfuStats s0, s1;
    bool have_stats;
    uint64_t total = 0, i = 0;
    gint64 total_us = 0;
    QList *list = qlist_new();
    QDict *d = qdict_new();
    int r;

    for (r = 0; warmup && r < WARMUP_OPS; r++) {
        if (!one_io(n, write, buf, len, i++)) {
            goto fail;
        }
    }
    have_stats = vfu_pair_stats(p, &s0);
    for (r = 0; r < runs; r++) {
        gint64 start = g_get_monotonic_time(), now;
        uint64_t ops = 0;

        do {
            if (!one_io(n, write, buf, len, i++)) {
                goto fail;
            }
            ops++;
            now = g_get_monotonic_time();
        } while (now - start < budget);
        mbps[r] = (double)ops * len / (now - start);     /* bytes/us = MB/s */
        qlist_append(list, qnum_from_double(mbps[r]));
        total += ops;
        total_us += now - start;
    }
    have_stats = have_stats && vfu_pair_stats(p, &s1);

    qdict_put_str(d, "op", write ? "write" : "read");
    qdict_put_int(d, "size", len);
    qdict_put(d, "mbps", qnum_from_double(median(mbps, runs)));
    qdict_put(d, "runs_mbps", list);
    qdict_put_int(d, "ops", total);
    qdict_put_int(d, "us", total_us);
    if (have_stats) {
        qdict_put(d, "dma_read_msgs_per_op", qnum_from_double(
                  (double)(s1.read_msgs - s0.read_msgs) / total));
        qdict_put(d, "dma_write_msgs_per_op", qnum_from_double(
                  (double)(s1.write_msgs - s0.write_msgs) / total));
        qdict_put(d, "dma_read_bytes_per_op", qnum_from_double(
                  (double)(s1.read_bytes - s0.read_bytes) / total));
        qdict_put(d, "dma_write_bytes_per_op", qnum_from_double(
                  (double)(s1.write_bytes - s0.write_bytes) / total));
        qdict_put_int(d, "dma_errors", s1.errors - s0.errors);
    }
    return d;

fail:
    qobject_unref(list);
    qobject_unref(d);
    return NULL;
}

static void print_point(QDict *d)
{
    QList *runs = qdict_get_qlist(d, "runs_mbps");
    const QListEntry *e;
    g_autoptr(GString) rs = g_string_new("");

    QLIST_FOREACH_ENTRY(runs, e) {
        g_string_append_printf(rs, "%s%.1f", rs->len ? " " : "",
                               qnum_get_double(qobject_to(QNum, e->value)));
    }
    printf("  %-5s %-6s %9.1f MB/s %7" PRId64 " cmds",
           qdict_get_str(d, "op"), size_str(qdict_get_int(d, "size")),
           qdict_get_double(d, "mbps"), qdict_get_int(d, "ops"));
    if (qdict_haskey(d, "dma_read_msgs_per_op")) {
        printf("  msgs/cmd: %8.1f DMA_READ %8.1f DMA_WRITE",
               qdict_get_double(d, "dma_read_msgs_per_op"),
               qdict_get_double(d, "dma_write_msgs_per_op"));
        if (qdict_get_int(d, "dma_errors")) {
            printf(" %" PRId64 " ERRORS", qdict_get_int(d, "dma_errors"));
        }
    } else {
        printf("  (no server statistics)");
    }
    printf("  runs: %s\n", rs->str);
    fflush(stdout);
}

/* All points of configuration @c; NULL if it could not run */
static QDict *run_config(const BenchConfig *c)
{
    g_autofree char *server_args = vfu_nvme_server_args(NULL);
    double secs = c->slow ? opt_slow_time : opt_time;
    int runs = c->slow ? opt_slow_runs : opt_runs;
    QList *points = qlist_new();
    QDict *d = qdict_new();
    VfuPair *p;
    VfuNvme n;
    uint64_t buf;
    gint64 start = g_get_monotonic_time();
    int i, w;

    printf("%s: %s\n", c->name, c->what);
    fflush(stdout);
    p = vfu_pair_start(server_args, c->obj_props, c->client_args, NULL);
    vfu_nvme_init(&n, p);
    if (c->slow) {
        /* A 1 MiB command in 8-byte pieces takes seconds */
        n.timeout_ms = 120 * 1000;
    }
    buf = guest_alloc(&p->alloc, MAX_LEN);
    g_assert(buf);

    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (c->slow && sizes[i] == 1 * MiB && !opt_slow_1m) {
            continue;
        }
        for (w = 0; w <= 1; w++) {
            QDict *pt = run_point(p, &n, buf, w, sizes[i], secs, runs,
                                  !c->slow);

            if (!pt) {
                qobject_unref(points);
                qobject_unref(d);
                vfu_pair_free(p);
                return NULL;
            }
            print_point(pt);
            qlist_append(points, pt);
        }
    }
    vfu_pair_free(p);

    qdict_put_str(d, "name", c->name);
    qdict_put_str(d, "what", c->what);
    qdict_put(d, "points", points);
    printf("  (%.1f s)\n", (g_get_monotonic_time() - start) / 1e6);
    return d;
}

/* The median MB/s of @op at @len in configuration @name, or 0 */
static double find_mbps(QList *results, const char *name, const char *op,
                        uint32_t len)
{
    const QListEntry *e, *f;

    QLIST_FOREACH_ENTRY(results, e) {
        QDict *c = qobject_to(QDict, e->value);

        if (strcmp(qdict_get_str(c, "name"), name)) {
            continue;
        }
        QLIST_FOREACH_ENTRY(qdict_get_qlist(c, "points"), f) {
            QDict *pt = qobject_to(QDict, f->value);

            if (!strcmp(qdict_get_str(pt, "op"), op) &&
                qdict_get_int(pt, "size") == len) {
                return qdict_get_double(pt, "mbps");
            }
        }
    }
    return 0;
}

/* Ratio @a/@b for both ops at @len, against @target; into @ratios */
static void ratio(QList *results, QList *ratios, const char *a,
                  const char *b, uint32_t len, double target)
{
    static const char *const ops[] = { "read", "write" };
    int i;

    for (i = 0; i < ARRAY_SIZE(ops); i++) {
        double x = find_mbps(results, a, ops[i], len);
        double y = find_mbps(results, b, ops[i], len);
        QDict *d;

        if (!x || !y) {
            continue;
        }
        d = qdict_new();
        qdict_put_str(d, "a", a);
        qdict_put_str(d, "b", b);
        qdict_put_str(d, "op", ops[i]);
        qdict_put_int(d, "size", len);
        qdict_put(d, "ratio", qnum_from_double(x / y));
        qdict_put(d, "target", qnum_from_double(target));
        qdict_put_bool(d, "met", x / y >= target);
        qlist_append(ratios, d);
        printf("  %s/%s %-5s %-6s %8.2f  (target >= %g: %s)\n", a, b, ops[i],
               size_str(len), x / y, target,
               x / y >= target ? "met" : "MISSED");
    }
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        { "time", 't', 0, G_OPTION_ARG_DOUBLE, &opt_time,
          "seconds per point (1.5)", "S" },
        { "runs", 'r', 0, G_OPTION_ARG_INT, &opt_runs,
          "runs per point, the median counts (5)", "N" },
        { "slow-time", 0, 0, G_OPTION_ARG_DOUBLE, &opt_slow_time,
          "seconds per point of msg-8byte (3)", "S" },
        { "slow-runs", 0, 0, G_OPTION_ARG_INT, &opt_slow_runs,
          "runs per point of msg-8byte (3)", "N" },
        { "slow-1m", 0, 0, G_OPTION_ARG_NONE, &opt_slow_1m,
          "msg-8byte at 1 MiB too (seconds per command)", NULL },
        { "configs", 0, 0, G_OPTION_ARG_STRING, &opt_configs,
          "configurations to run (fd,msg,msg-8byte)", "LIST" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the figures there", "FILE" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GString) json = NULL;
    g_auto(GStrv) want = NULL;
    QDict *out = qdict_new();
    QList *results = qlist_new();
    QList *ratios = qlist_new();
    bool failed = false;
    int i;

    g_option_context_set_summary(ctx, "Device DMA throughput of an nvme "
                                 "exported over vfio-user, with shared and "
                                 "with unshared client RAM.\n"
                                 "Needs QTEST_QEMU_BINARY.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        fprintf(stderr, PROG ": %s\n", gerr->message);
        return 1;
    }
    if (!getenv("QTEST_QEMU_BINARY")) {
        fprintf(stderr, PROG ": set QTEST_QEMU_BINARY\n");
        return 1;
    }
    if (opt_runs < 1 || opt_runs > MAX_RUNS ||
        opt_slow_runs < 1 || opt_slow_runs > MAX_RUNS ||
        opt_time <= 0 || opt_slow_time <= 0) {
        fprintf(stderr, PROG ": --runs and --slow-runs: 1 to %d; times "
                "above 0\n", MAX_RUNS);
        return 1;
    }
    want = g_strsplit(opt_configs, ",", -1);
    for (i = 0; want[i]; i++) {
        int j;

        for (j = 0; j < ARRAY_SIZE(configs); j++) {
            if (!strcmp(want[i], configs[j].name)) {
                break;
            }
        }
        if (j == ARRAY_SIZE(configs)) {
            fprintf(stderr, PROG ": unknown configuration '%s'\n", want[i]);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    printf("nvme on null-co exported by x-vfio-user-server; QD1, one SGL "
           "data block per command; %.1f s in %d runs per point "
           "(msg-8byte: %.1f s in %d)\n",
           opt_time, opt_runs, opt_slow_time, opt_slow_runs);
    for (i = 0; i < ARRAY_SIZE(configs); i++) {
        QDict *c;

        if (!g_strv_contains((const char * const *)want, configs[i].name)) {
            continue;
        }
        c = run_config(&configs[i]);
        if (!c) {
            fprintf(stderr, PROG ": %s: could not run\n", configs[i].name);
            failed = true;
            continue;
        }
        qlist_append(results, c);
    }

    printf("Ratios of the median MB/s:\n");
    ratio(results, ratios, "msg", "fd", 1 * MiB, 0.5);
    ratio(results, ratios, "msg", "msg-8byte", 64 * KiB, 50);

    qdict_put(out, "time_per_point", qnum_from_double(opt_time));
    qdict_put_int(out, "runs", opt_runs);
    qdict_put(out, "slow_time_per_point", qnum_from_double(opt_slow_time));
    qdict_put_int(out, "slow_runs", opt_slow_runs);
    qdict_put(out, "configs", results);
    qdict_put(out, "ratios", ratios);
    json = qobject_to_json_pretty(QOBJECT(out), true);
    if (opt_json && !g_file_set_contents(opt_json, json->str, -1, &gerr)) {
        fprintf(stderr, PROG ": %s\n", gerr->message);
        failed = true;
    }
    qobject_unref(out);
    return failed ? 1 : 0;
}
