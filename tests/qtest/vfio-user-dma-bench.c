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
 * each a pair of its own:
 *
 *   fd         client RAM in a shared memfd: the server maps it, no DMA
 *              message at all
 *   msg        anonymous client RAM (no fd): the server's DMA goes as
 *              DMA_READ/DMA_WRITE messages, default server options
 *   msg-8byte  the same with the server's x-dma-block=off: the memory
 *              core's pieces of at most 8 bytes, a message each.  Very
 *              slow: 4 KiB and 64 KiB only (--slow-1m adds 1 MiB)
 *   msg-sleep  msg with the server's x-dma-poll-us=0: the server sleeps
 *              until each DMA reply comes instead of polling for it
 *              (not measured unless --configs names it)
 *
 * The configurations are measured in turn, so that whatever else the
 * machine does weighs on all of them alike: all pairs start first, then
 * each point (size and op) is --runs rounds.  In a round each
 * configuration runs for --time / --runs seconds (msg-8byte: --slow-time
 * / --runs), in slices of --slice milliseconds (one command at least)
 * taken in turn: next is always the configuration that had the smallest
 * part of its time so far.  A configuration's figure is the median of its
 * rounds; a ratio between two configurations is the median of their
 * ratios round by round, which is what the targets take.  The CPU time
 * that other processes took during each point is shown too: it changes
 * the ratios (not all configurations suffer alike from sharing the CPUs).
 * The messages per command come from the server's statistics.  The
 * ratios that matter: msg/fd at 1 MiB (target >= 0.5:
 * messages in large pieces cost little next to shared memory) and
 * msg/msg-8byte at 64 KiB (target >= 50: what moving a DMA in one message
 * instead of 8-byte pieces gains).
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
static int opt_slow_runs;
static int opt_slice = 10;
static gboolean opt_slow_1m;
static char *opt_configs = (char *)"fd,msg,msg-8byte";
static char *opt_json;
static char *opt_disk_dir;

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
    { "msg-sleep", "anonymous client RAM, server x-dma-poll-us=0",
      NULL, "\"x-dma-poll-us\":0", false },
};

#define N_CONFIGS       ARRAY_SIZE(configs)

/* The ratios with a target: configuration @a against @b at @len */
typedef struct BenchTarget {
    const char *a;
    const char *b;
    uint32_t len;
    double target;
} BenchTarget;

static const BenchTarget targets[] = {
    { "msg", "fd", 1 * MiB, 0.5 },
    { "msg", "msg-8byte", 64 * KiB, 50 },
};

static const uint32_t sizes[] = { 4 * KiB, 64 * KiB, 1 * MiB };

/* A configuration, its pair running unless it failed */
typedef struct Bench {
    const BenchConfig *c;
    VfuPair *p;
    VfuNvme n;
    uint64_t buf;
    QList *points;
} Bench;

/* What one configuration measured at the current point */
typedef struct BenchPoint {
    bool active;                /* measured at this point, no failure */
    double mbps[MAX_RUNS];      /* per round */
    uint64_t ops;
    gint64 us;
    gint64 budget;              /* time of a round, us */
    uint64_t round_ops;         /* of the current round */
    gint64 round_us;
    uint64_t i;                 /* commands issued, warm-up included */
    VfuStats s0;
    bool have_stats;
} BenchPoint;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The median of the @n values of @v, which stay as they are */
static double median(const double *v, int n)
{
    g_autofree double *s = g_memdup2(v, n * sizeof(*v));

    qsort(s, n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static const char *size_str(uint32_t len)
{
    return len >= MiB ? (len == MiB ? "1 MiB" : "?") :
           len == 64 * KiB ? "64 KiB" : len == 4 * KiB ? "4 KiB" : "?";
}

/* utime + stime of process @pid in clock ticks, or -1 */
static int64_t proc_ticks(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *buf = NULL;
    unsigned long long ut, st;
    char *p;

    if (!g_file_get_contents(path, &buf, NULL, NULL)) {
        return -1;
    }
    /* After the command name, which may hold anything: fields 3 to 15 */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%llu %llu", &ut, &st) != 2) {
        return -1;
    }
    return ut + st;
}

/* CPU time busy on the whole machine, in clock ticks, or -1 */
static int64_t machine_ticks(void)
{
    g_autofree char *buf = NULL;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;

    if (!g_file_get_contents("/proc/stat", &buf, NULL, NULL) ||
        sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user,
               &nice, &sys, &idle, &iowait, &irq, &softirq, &steal) != 8) {
        return -1;
    }
    return user + nice + sys + irq + softirq + steal;
}

static int config_index(const char *name)
{
    int i;

    for (i = 0; i < N_CONFIGS; i++) {
        if (!strcmp(configs[i].name, name)) {
            return i;
        }
    }
    return -1;
}

/*
 * The CPU time of the machine and of this program and its QEMUs, to tell
 * how much other work ran during a point
 */
typedef struct CpuSample {
    gint64 when;                /* monotonic, us */
    int64_t machine;            /* clock ticks; -1: unknown */
    int64_t ours;
} CpuSample;

static void cpu_sample(Bench *benches, CpuSample *s)
{
    int64_t t = proc_ticks(getpid());
    int i;

    s->when = g_get_monotonic_time();
    s->machine = machine_ticks();
    for (i = 0; i < N_CONFIGS && t >= 0; i++) {
        if (benches[i].p) {
            int64_t server = proc_ticks(qtest_pid(benches[i].p->server));
            int64_t client = proc_ticks(qtest_pid(benches[i].p->client));

            t = server < 0 || client < 0 ? -1 : t + server + client;
        }
    }
    s->ours = t;
}

/*
 * The CPUs busy with other work between @a and @b (1.0: one CPU all the
 * time), or -1 if unknown
 */
static double cpu_other(const CpuSample *a, const CpuSample *b)
{
    double secs = (b->when - a->when) / 1e6;
    int64_t other = b->machine - a->machine - (b->ours - a->ours);

    if (a->machine < 0 || b->machine < 0 || a->ours < 0 || b->ours < 0 ||
        secs <= 0) {
        return -1;
    }
    return MAX(other, 0) / (secs * sysconf(_SC_CLK_TCK));
}

/* Start the pair of @c into @b */
static void bench_start(Bench *b, const BenchConfig *c)
{
    g_autofree char *image = NULL;
    g_autofree char *server_args = NULL;

    if (opt_disk_dir) {
        /* A file per server: images are locked */
        int fd;

        image = g_strdup_printf("%s/vfio-user-dma-bench-%s-XXXXXX",
                                opt_disk_dir, c->name);
        fd = g_mkstemp(image);
        g_assert(fd >= 0);
        g_assert(ftruncate(fd, SPAN) == 0);
        close(fd);
    }
    server_args = vfu_nvme_server_args(image);

    b->c = c;
    b->p = vfu_pair_start(server_args, c->obj_props, c->client_args, NULL);
    if (image) {
        /* The server holds it open; nothing to clean up after */
        unlink(image);
    }
    vfu_nvme_init(&b->n, b->p);
    if (c->slow) {
        /* A 1 MiB command in 8-byte pieces takes seconds */
        b->n.timeout_ms = 120 * 1000;
    }
    b->buf = guest_alloc(&b->p->alloc, MAX_LEN);
    g_assert(b->buf);
    b->points = qlist_new();
}

static void bench_stop(Bench *b)
{
    if (b->p) {
        vfu_pair_free(b->p);
        b->p = NULL;
    }
}

/*
 * One command; false (with a message) if it failed.  @pt->i picks the
 * LBA so that the commands walk through SPAN bytes of the disk.
 */
static bool one_io(Bench *b, BenchPoint *pt, bool write, uint32_t len)
{
    uint64_t lbas = len / b->n.lba_size;
    uint64_t slba = (pt->i++ * lbas) % (SPAN / b->n.lba_size);
    int st = vfu_nvme_io(&b->n, write, slba, b->buf, len, true);

    if (st) {
        fprintf(stderr, PROG ": %s: %s of %u bytes: %s 0x%x\n", b->c->name,
                write ? "Write" : "Read", len,
                st < 0 ? "no completion in time, status" : "status", st);
        return false;
    }
    return true;
}

/* Warm-up (but for the slow configuration) and statistics before */
static bool point_begin(Bench *b, BenchPoint *pt, bool write, uint32_t len)
{
    int k;

    memset(pt, 0, sizeof(*pt));
    for (k = 0; !b->c->slow && k < WARMUP_OPS; k++) {
        if (!one_io(b, pt, write, len)) {
            return false;
        }
    }
    pt->have_stats = vfu_pair_stats(b->p, &pt->s0);
    pt->active = true;
    return true;
}

/* A slice of the current round: commands for @us, one at least */
static bool point_slice(Bench *b, BenchPoint *pt, bool write, uint32_t len,
                        gint64 us)
{
    gint64 start = g_get_monotonic_time(), now;

    do {
        if (!one_io(b, pt, write, len)) {
            return false;
        }
        pt->round_ops++;
        now = g_get_monotonic_time();
    } while (now - start < us);
    pt->round_us += now - start;
    return true;
}

/* The point as a dict, with the statistics since point_begin() */
static QDict *point_dict(Bench *b, BenchPoint *pt, bool write, uint32_t len,
                         int runs)
{
    QDict *d = qdict_new();
    QList *list = qlist_new();
    VfuStats s1;
    int r;

    for (r = 0; r < runs; r++) {
        qlist_append(list, qnum_from_double(pt->mbps[r]));
    }
    qdict_put_str(d, "op", write ? "write" : "read");
    qdict_put_int(d, "size", len);
    qdict_put(d, "mbps", qnum_from_double(median(pt->mbps, runs)));
    qdict_put(d, "runs_mbps", list);
    qdict_put_int(d, "ops", pt->ops);
    qdict_put_int(d, "us", pt->us);
    if (pt->have_stats && vfu_pair_stats(b->p, &s1)) {
        qdict_put(d, "dma_read_msgs_per_op", qnum_from_double(
                  (double)(s1.read_msgs - pt->s0.read_msgs) / pt->ops));
        qdict_put(d, "dma_write_msgs_per_op", qnum_from_double(
                  (double)(s1.write_msgs - pt->s0.write_msgs) / pt->ops));
        qdict_put(d, "dma_read_bytes_per_op", qnum_from_double(
                  (double)(s1.read_bytes - pt->s0.read_bytes) / pt->ops));
        qdict_put(d, "dma_write_bytes_per_op", qnum_from_double(
                  (double)(s1.write_bytes - pt->s0.write_bytes) / pt->ops));
        qdict_put_int(d, "dma_errors", s1.errors - pt->s0.errors);
    }
    return d;
}

/*
 * The ratios of @x's runs to @y's, round by round, into @ratios; returns
 * their median
 */
static double round_ratios(const BenchPoint *x, const BenchPoint *y,
                           int runs, double *ratios)
{
    int r;

    for (r = 0; r < runs; r++) {
        ratios[r] = y->mbps[r] ? x->mbps[r] / y->mbps[r] : 0;
    }
    return median(ratios, runs);
}

/*
 * A row of the table; @other: the CPUs busy with other work during the
 * point, shown if @first (the point's first row)
 */
static void print_point(const char *name, QDict *d, double x_fd,
                        bool first, double other)
{
    QList *runs = qdict_get_qlist(d, "runs_mbps");
    const QListEntry *e;
    g_autoptr(GString) rs = g_string_new("");

    QLIST_FOREACH_ENTRY(runs, e) {
        g_string_append_printf(rs, " %.1f",
                               qnum_get_double(qobject_to(QNum, e->value)));
    }
    printf("  %-5s %-6s %-9s %9.1f %7" PRId64,
           qdict_get_str(d, "op"), size_str(qdict_get_int(d, "size")), name,
           qdict_get_double(d, "mbps"), qdict_get_int(d, "ops"));
    if (qdict_haskey(d, "dma_read_msgs_per_op")) {
        printf(" %9.1f %9.1f",
               qdict_get_double(d, "dma_read_msgs_per_op"),
               qdict_get_double(d, "dma_write_msgs_per_op"));
    } else {
        printf(" %9s %9s", "?", "?");
    }
    if (x_fd) {
        printf(" %6.2f", x_fd);
    } else {
        printf(" %6s", "");
    }
    if (!first) {
        printf(" %5s", "");
    } else if (other < 0) {
        printf(" %5s", "?");
    } else {
        printf(" %5.2f", other);
    }
    printf(" %s", rs->str);
    if (qdict_haskey(d, "dma_errors") && qdict_get_int(d, "dma_errors")) {
        printf("  %" PRId64 " DMA ERRORS", qdict_get_int(d, "dma_errors"));
    }
    printf("\n");
    fflush(stdout);
}

/* The ratio @a/@b of the point, its target @t met or not, as a dict */
static QDict *ratio_dict(const BenchTarget *t, bool write,
                         const BenchPoint *x, const BenchPoint *y, int runs)
{
    double per_round[MAX_RUNS];
    double ratio = round_ratios(x, y, runs, per_round);
    double lo = per_round[0], hi = per_round[0];
    QList *list = qlist_new();
    QDict *d = qdict_new();
    int r;

    for (r = 0; r < runs; r++) {
        lo = MIN(lo, per_round[r]);
        hi = MAX(hi, per_round[r]);
        qlist_append(list, qnum_from_double(per_round[r]));
    }
    qdict_put_str(d, "a", t->a);
    qdict_put_str(d, "b", t->b);
    qdict_put_str(d, "op", write ? "write" : "read");
    qdict_put_int(d, "size", t->len);
    qdict_put(d, "ratio", qnum_from_double(ratio));
    qdict_put(d, "ratio_min", qnum_from_double(lo));
    qdict_put(d, "ratio_max", qnum_from_double(hi));
    qdict_put(d, "rounds_ratio", list);
    qdict_put(d, "ratio_of_medians", qnum_from_double(
              median(x->mbps, runs) / median(y->mbps, runs)));
    qdict_put(d, "a_mbps", qnum_from_double(median(x->mbps, runs)));
    qdict_put(d, "b_mbps", qnum_from_double(median(y->mbps, runs)));
    qdict_put(d, "target", qnum_from_double(t->target));
    qdict_put_bool(d, "met", ratio >= t->target);
    return d;
}

/*
 * One point: @write commands of @len bytes in every configuration of
 * @benches that runs and is measured at @len, in turn, opt_runs rounds.
 * Each configuration's result goes into its points, the ratios with a
 * target into @found (by target and op).  A configuration that fails
 * stops there: false.
 */
static bool bench_point(Bench *benches, bool write, uint32_t len,
                        QDict *found[][2])
{
    BenchPoint pts[N_CONFIGS];
    int order[N_CONFIGS];
    int fd = config_index("fd");
    CpuSample cpu0, cpu1;
    double other;
    bool ok = true;
    int i, k, r, n = 0;

    for (i = 0; i < N_CONFIGS; i++) {
        Bench *b = &benches[i];

        pts[i].active = false;
        if (!b->p || (b->c->slow && len == 1 * MiB && !opt_slow_1m)) {
            continue;
        }
        if (!point_begin(b, &pts[i], write, len)) {
            bench_stop(b);
            ok = false;
            continue;
        }
        pts[i].budget = (b->c->slow ? opt_slow_time : opt_time) *
                        G_USEC_PER_SEC / opt_runs;
        order[n++] = i;
    }

    cpu_sample(benches, &cpu0);
    for (r = 0; r < opt_runs; r++) {
        for (k = 0; k < n; k++) {
            pts[order[k]].round_ops = 0;
            pts[order[k]].round_us = 0;
        }
        /*
         * Slices until every configuration has had its time: next, the
         * one that had the least of it so far (the first one of the
         * order on a tie, the order reversed every other round)
         */
        for (;;) {
            BenchPoint *pt = NULL;

            for (k = 0; k < n; k++) {
                BenchPoint *q = &pts[order[r % 2 ? n - 1 - k : k]];

                if (q->active && q->round_us < q->budget &&
                    (!pt || (double)q->round_us / q->budget <
                            (double)pt->round_us / pt->budget)) {
                    pt = q;
                }
            }
            if (!pt) {
                break;
            }
            i = pt - pts;
            if (!point_slice(&benches[i], pt, write, len,
                             MIN(opt_slice * 1000,
                                 pt->budget - pt->round_us))) {
                pt->active = false;
                bench_stop(&benches[i]);
                ok = false;
            }
        }
        for (k = 0; k < n; k++) {
            BenchPoint *pt = &pts[order[k]];

            if (!pt->active) {
                continue;
            }
            /* bytes/us = MB/s */
            pt->mbps[r] = (double)pt->round_ops * len / pt->round_us;
            pt->ops += pt->round_ops;
            pt->us += pt->round_us;
        }
    }

    cpu_sample(benches, &cpu1);
    /* A pair that stopped took its CPU time along */
    other = ok ? cpu_other(&cpu0, &cpu1) : -1;

    for (k = 0; k < n; k++) {
        double x_fd[MAX_RUNS], x = 0;
        QDict *d;

        i = order[k];
        if (!pts[i].active) {
            continue;
        }
        d = point_dict(&benches[i], &pts[i], write, len, opt_runs);
        if (i != fd && pts[fd].active) {
            x = round_ratios(&pts[i], &pts[fd], opt_runs, x_fd);
            qdict_put(d, "ratio_fd", qnum_from_double(x));
        }
        if (other >= 0) {
            qdict_put(d, "other_cpus", qnum_from_double(other));
        }
        print_point(configs[i].name, d, x, !k, other);
        qlist_append(benches[i].points, d);
    }

    for (k = 0; k < ARRAY_SIZE(targets); k++) {
        int a = config_index(targets[k].a);
        int b = config_index(targets[k].b);

        if (targets[k].len == len && pts[a].active && pts[b].active) {
            found[k][write] = ratio_dict(&targets[k], write, &pts[a], &pts[b],
                                         opt_runs);
            if (other >= 0) {
                qdict_put(found[k][write], "other_cpus",
                          qnum_from_double(other));
            }
        }
    }
    return ok;
}

static void print_ratio(QDict *d)
{
    double ratio = qdict_get_double(d, "ratio");
    double target = qdict_get_double(d, "target");
    g_autofree char *name = g_strdup_printf("%s/%s", qdict_get_str(d, "a"),
                                            qdict_get_str(d, "b"));

    printf("  %-13s %-5s %-6s %8.2f  (%.2f-%.2f; of the medians %.2f)  "
           "target >= %g: %s\n", name, qdict_get_str(d, "op"),
           size_str(qdict_get_int(d, "size")), ratio,
           qdict_get_double(d, "ratio_min"), qdict_get_double(d, "ratio_max"),
           qdict_get_double(d, "ratio_of_medians"), target,
           ratio >= target ? "met" : "MISSED");
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        { "time", 't', 0, G_OPTION_ARG_DOUBLE, &opt_time,
          "seconds per point and configuration (1.5)", "S" },
        { "runs", 'r', 0, G_OPTION_ARG_INT, &opt_runs,
          "rounds per point, the median counts (5)", "N" },
        { "slow-time", 0, 0, G_OPTION_ARG_DOUBLE, &opt_slow_time,
          "seconds per point of msg-8byte (3)", "S" },
        { "slow-runs", 0, 0, G_OPTION_ARG_INT, &opt_slow_runs,
          "ignored: msg-8byte runs in the rounds of the others", "N" },
        { "slice", 0, 0, G_OPTION_ARG_INT, &opt_slice,
          "milliseconds of a configuration before the next one's turn "
          "(10)", "MS" },
        { "slow-1m", 0, 0, G_OPTION_ARG_NONE, &opt_slow_1m,
          "msg-8byte at 1 MiB too (seconds per command)", NULL },
        { "disk-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_disk_dir,
          "nvme on a raw file there (say /dev/shm) instead of null-co",
          "DIR" },
        { "configs", 0, 0, G_OPTION_ARG_STRING, &opt_configs,
          "configurations to run (fd,msg,msg-8byte,msg-sleep)",
          "LIST" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the figures there", "FILE" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GString) json = NULL;
    g_auto(GStrv) want = NULL;
    Bench benches[N_CONFIGS] = { 0 };
    QDict *found[ARRAY_SIZE(targets)][2] = { { NULL } };
    QDict *out = qdict_new();
    QList *results = qlist_new();
    QList *ratios = qlist_new();
    gint64 start = g_get_monotonic_time();
    bool failed = false;
    int i, w;

    g_option_context_set_summary(ctx, "Device DMA throughput of an nvme "
                                 "exported over vfio-user, with shared and "
                                 "with unshared client RAM, measured in "
                                 "turn.\n"
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
    if (opt_runs < 1 || opt_runs > MAX_RUNS || opt_slice < 1 ||
        opt_time <= 0 || opt_slow_time <= 0) {
        fprintf(stderr, PROG ": --runs: 1 to %d; times and --slice above "
                "0\n", MAX_RUNS);
        return 1;
    }
    want = g_strsplit(opt_configs, ",", -1);
    for (i = 0; want[i]; i++) {
        if (config_index(want[i]) < 0) {
            fprintf(stderr, PROG ": unknown configuration '%s'\n", want[i]);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    printf("nvme on %s exported by x-vfio-user-server; QD1, one SGL "
           "data block per command\n"
           "configurations in turn: %d rounds per point, each %.2f s of "
           "each configuration (msg-8byte: %.2f s) in slices of %d ms\n",
           opt_disk_dir ? "a raw file" : "null-co",
           opt_runs, opt_time / opt_runs, opt_slow_time / opt_runs,
           opt_slice);
    for (i = 0; i < N_CONFIGS; i++) {
        if (g_strv_contains((const char * const *)want, configs[i].name)) {
            printf("  %-9s %s\n", configs[i].name, configs[i].what);
            bench_start(&benches[i], &configs[i]);
        }
    }
    printf("MB/s: median of the rounds; msgs/cmd: DMA_READ and DMA_WRITE "
           "messages per command;\n"
           "x fd: median of the per-round ratios to fd; other: CPUs busy "
           "with other work\n"
           "during the point (this program and its QEMUs left out)\n");
    printf("  %-5s %-6s %-9s %9s %7s %9s %9s %6s %5s %s\n", "op", "size",
           "config", "MB/s", "cmds", "DMA_READ", "DMA_WRITE", "x fd",
           "other", " MB/s per round");
    fflush(stdout);

    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        for (w = 0; w <= 1; w++) {
            failed |= !bench_point(benches, w, sizes[i], found);
        }
    }

    for (i = 0; i < N_CONFIGS; i++) {
        QDict *c;

        if (!benches[i].points) {
            continue;
        }
        c = qdict_new();
        if (!benches[i].p) {
            fprintf(stderr, PROG ": %s: could not run to the end\n",
                    configs[i].name);
            qdict_put_bool(c, "failed", true);
        }
        bench_stop(&benches[i]);
        qdict_put_str(c, "name", configs[i].name);
        qdict_put_str(c, "what", configs[i].what);
        qdict_put(c, "points", benches[i].points);
        qlist_append(results, c);
    }

    printf("Ratios: median of the %d per-round ratios (lowest-highest; the "
           "ratio of the medians):\n", opt_runs);
    for (i = 0; i < ARRAY_SIZE(targets); i++) {
        for (w = 0; w <= 1; w++) {
            if (found[i][w]) {
                print_ratio(found[i][w]);
                qlist_append(ratios, found[i][w]);
            }
        }
    }
    printf("(%.1f s)\n", (g_get_monotonic_time() - start) / 1e6);

    qdict_put_bool(out, "interleaved", true);
    qdict_put_str(out, "disk", opt_disk_dir ? "file" : "null-co");
    qdict_put(out, "time_per_point", qnum_from_double(opt_time));
    qdict_put_int(out, "runs", opt_runs);
    qdict_put(out, "slow_time_per_point", qnum_from_double(opt_slow_time));
    qdict_put_int(out, "slow_runs", opt_runs);
    qdict_put_int(out, "slice_ms", opt_slice);
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
