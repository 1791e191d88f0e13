/*
 * Benchmark of VHOST_USER_BACKEND_SHMEM_MAP/UNMAP, from the back-end's side
 *
 * A back-end on libvhost-user, in this process, declares one VIRTIO Shared
 * Memory Region to a vhost-user-test-device-pci of QEMU (qtest, or another
 * accelerator with -S), whose BAR is mapped in guest physical memory as a
 * guest driver would have it.  It times vu_shmem_map() + vu_shmem_unmap()
 * of one page with 0, 256, 1024, 2048 and 4000 mappings already live in
 * the region (writable ones, or read-only ones with --read-only; QEMU
 * with x-shmem-window=off with --no-window).  Not 4096: QEMU aborts
 * before (see below).
 *
 * The floor is the same calls to libvhost-user against a peer on a
 * socketpair, in a thread or a process, that only receives the request,
 * mmap()s or munmap()s the fd as QEMU does, and replies: the socket round
 * trip and the host mapping without any emulator work.
 *
 * It then shows that refused requests leave the live mappings intact (as
 * x-query-virtio-shmem counts them, and as the guest reads them through
 * the BAR), also when QEMU runs out of file descriptors, and keeps mapping
 * within a time budget to see how many mappings a region holds and what
 * each one costs.  In this QEMU the limit is the address space dispatch,
 * at most 4096 memory sections: the MAP past it is acknowledged and QEMU
 * then aborts in phys_section_add(); the benchmark reports where.  Under
 * KVM it counts the memory slots QEMU uses.
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
#include <math.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "libqtest.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/memfd.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "libvhost-user-qemu.h"

#define PROTOCOL_F(f)   (1ULL << VHOST_USER_PROTOCOL_F_##f)
#define VERSION         0x1
#define SHMEM_BAR       VU_QEMU_SHMEM_BAR
#define SHMID           0
/* Pages of the memfd the mappings cycle through */
#define MEMFD_PAGES     64
#define WARMUP          50
/* Fewest MAP+UNMAP pairs a level gets, whatever its time budget */
#define MIN_ITERATIONS  100

/* Options */
static int opt_iterations = 2000;
static double opt_level_budget = 30;
static char *opt_live = (char *)"0,256,1024,2048,4000";
static int opt_capacity = 16384;
static double opt_capacity_budget = 150;
static int opt_region_mib = 128;
static char *opt_accel;
static char *opt_json;
static int opt_refuse_at = 4000;
static int opt_rounds = 10;
static char *opt_cpus;
static gboolean opt_dense;
static gboolean opt_raise_nofile;
static gboolean opt_read_only;
static gboolean opt_no_window;

/* Flags of the mappings timed and filled: --read-only */
static uint64_t map_flags(void)
{
    return opt_read_only ? 0 : VHOST_USER_FLAG_MAP_RW;
}
static int cpu_backend = -1, cpu_peer = -1;

static uint64_t page;
static uint64_t region_size;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile @p (1-100) of @n samples, which it sorts */
static int64_t percentile(int64_t *v, size_t n, unsigned int p)
{
    size_t rank;

    if (!n) {
        return 0;
    }
    qsort(v, n, sizeof(*v), cmp_i64);
    rank = (p * n + 99) / 100;
    return v[MAX(rank, 1) - 1];
}

static double mean(const int64_t *v, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++) {
        sum += v[i];
    }
    return n ? sum / n : 0;
}

/* Median, p99, mean, min of @n samples as a QDict (nanoseconds) */
static QDict *stats_dict(int64_t *v, size_t n)
{
    QDict *d = qdict_new();

    qdict_put_int(d, "samples", n);
    qdict_put_int(d, "mean_ns", (int64_t)mean(v, n));
    qdict_put_int(d, "median_ns", percentile(v, n, 50));
    qdict_put_int(d, "p99_ns", percentile(v, n, 99));
    qdict_put_int(d, "min_ns", v[0]);
    qdict_put_int(d, "max_ns", v[n - 1]);
    return d;
}

/* Pins thread @tid (0: the caller) to @cpu, if pinning was asked for */
static void pin_thread(pid_t tid, int cpu)
{
    cpu_set_t set;

    if (cpu < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(tid, sizeof(set), &set) < 0) {
        fprintf(stderr, "vhost-user-shmem-bench: cannot pin %d to CPU %d: "
                "%s\n", (int)tid, cpu, strerror(errno));
        exit(1);
    }
}

/* Pins every thread of process @pid to @cpu */
static void pin_process(pid_t pid, int cpu)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task", (int)pid);
    GDir *dir;
    const char *name;

    if (cpu < 0) {
        return;
    }
    dir = g_dir_open(path, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        pin_thread(atoi(name), cpu);
    }
    g_dir_close(dir);
}

static int memfd_new(void)
{
    int fd = qemu_memfd_create("vhost-user-shmem-bench", MEMFD_PAGES * page,
                               false, 0, 0, &error_abort);
    uint8_t *p = mmap(NULL, MEMFD_PAGES * page, PROT_READ | PROT_WRITE,
                      MAP_SHARED, fd, 0);

    g_assert(p != MAP_FAILED);
    for (uint64_t i = 0; i < MEMFD_PAGES * page; i++) {
        p[i] = (uint8_t)(i / page * 37 + i);
    }
    munmap(p, MEMFD_PAGES * page);
    return fd;
}

static void no_watch(VuDev *dev, int fd, int condition, vu_watch_cb cb,
                     void *data)
{
}

static void no_remove_watch(VuDev *dev, int fd)
{
}

/*
 * libvhost-user's requests then fail with -EIO: the benchmark asserts on
 * that, but when QEMU died it stops and says so instead.
 */
static void bench_panic(VuDev *dev, const char *err)
{
    fprintf(stderr, "vhost-user-shmem-bench: libvhost-user panic: %s\n",
            err);
}

/*
 * Times @iterations MAP+UNMAP pairs of one page at @shm_offset (at most
 * @budget seconds, but at least MIN_ITERATIONS pairs, after WARMUP more)
 * and returns a QDict of figures for the pair, the MAP and the UNMAP.
 * NULL, with the errno in *@err, when a request fails.
 */
static QDict *time_pairs(VuDev *dev, int memfd, uint64_t shm_offset,
                         int iterations, double budget, int *err)
{
    g_autofree int64_t *pair = g_new(int64_t, iterations);
    g_autofree int64_t *map = g_new(int64_t, iterations);
    g_autofree int64_t *unmap = g_new(int64_t, iterations);
    int64_t deadline = now_ns() + (int64_t)(budget * 1e9);
    int64_t t0, t1, t2;
    QDict *d;
    int n = 0;

    for (int i = -WARMUP; i < iterations; i++) {
        t0 = now_ns();
        *err = vu_shmem_map_errno(dev, SHMID, (i & 7) * page, shm_offset, page,
                                  map_flags(), memfd);
        t1 = now_ns();
        if (!*err) {
            *err = vu_shmem_unmap_errno(dev, SHMID, shm_offset, page);
        }
        t2 = now_ns();
        if (*err) {
            return NULL;
        }
        if (i < 0) {
            continue;
        }
        pair[n] = t2 - t0;
        map[n] = t1 - t0;
        unmap[n] = t2 - t1;
        n++;
        if (n >= MIN_ITERATIONS && t2 > deadline) {
            break;
        }
    }
    d = qdict_new();
    qdict_put(d, "pair", stats_dict(pair, n));
    qdict_put(d, "map", stats_dict(map, n));
    qdict_put(d, "unmap", stats_dict(unmap, n));
    qdict_put_int(d, "iterations", n);
    return d;
}

static void print_pairs(const char *what, QDict *d)
{
    QDict *pair = qdict_get_qdict(d, "pair");

    printf("%-28s %6" PRId64 " pairs: median %9.1f us  p99 %9.1f us"
           "  (MAP %.1f us, UNMAP %.1f us)\n", what,
           qdict_get_int(d, "iterations"),
           qdict_get_int(pair, "median_ns") / 1e3,
           qdict_get_int(pair, "p99_ns") / 1e3,
           qdict_get_int(qdict_get_qdict(d, "map"), "median_ns") / 1e3,
           qdict_get_int(qdict_get_qdict(d, "unmap"), "median_ns") / 1e3);
    fflush(stdout);
}

/* Floor: a peer thread that does nothing but the host mapping */

typedef struct Floor {
    VuDev dev;
    VuDevIface iface;
    int fe;             /* front-end end of the main socket */
    int channel;        /* front-end end of the back-end channel */
    GThread *peer;      /* the peer, in a thread... */
    pid_t child;        /* ... or in a process of its own, as QEMU is */
} Floor;

typedef struct QEMU_PACKED FloorHdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} FloorHdr;

/* Reads one message and the fd that came with it; false at EOF */
static bool floor_recv(int sock, FloorHdr *hdr, VhostUserMMap *mmap_req,
                       int *fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cmsg;
    ssize_t ret;

    ret = recvmsg(sock, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    if (ret <= 0) {
        return false;
    }
    g_assert_cmpint(ret, ==, sizeof(*hdr));
    *fd = -1;
    cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg && cmsg->cmsg_level == SOL_SOCKET &&
        cmsg->cmsg_type == SCM_RIGHTS) {
        memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
    }
    g_assert_cmpuint(hdr->size, ==, sizeof(*mmap_req));
    g_assert_cmpint(recv(sock, mmap_req, sizeof(*mmap_req), MSG_WAITALL),
                    ==, sizeof(*mmap_req));
    return true;
}

/*
 * The whole front-end of the floor: receive, map or unmap the fd as QEMU
 * would (QEMU keeps the fd until the unmap), reply success.  One mapping
 * at a time, which is all the benchmark makes.
 */
static gpointer floor_peer(gpointer opaque)
{
    Floor *f = opaque;
    FloorHdr hdr;
    VhostUserMMap req;
    void *addr = NULL;
    uint64_t len = 0;
    int fd, held = -1;

    pin_thread(0, cpu_peer);
    while (floor_recv(f->channel, &hdr, &req, &fd)) {
        struct {
            FloorHdr hdr;
            uint64_t u64;
        } QEMU_PACKED reply = {
            { hdr.request, VERSION | VHOST_USER_REPLY_MASK, 8 }, 0
        };

        if (hdr.request == VHOST_USER_BACKEND_SHMEM_MAP) {
            g_assert(!addr && fd >= 0);
            addr = mmap(NULL, req.len, PROT_READ | PROT_WRITE, MAP_SHARED,
                        fd, req.fd_offset);
            g_assert(addr != MAP_FAILED);
            len = req.len;
            held = fd;
        } else {
            g_assert_cmpuint(hdr.request, ==, VHOST_USER_BACKEND_SHMEM_UNMAP);
            g_assert(addr && req.len == len);
            munmap(addr, len);
            close(held);
            addr = NULL;
        }
        g_assert_cmpint(write(f->channel, &reply, sizeof(reply)), ==,
                        sizeof(reply));
    }
    return NULL;
}

static void floor_send(Floor *f, uint32_t request, const void *payload,
                       uint32_t size, int fd)
{
    vu_qemu_send_msg(f->fe, request, VERSION, payload, size, fd);
    g_assert_true(vu_dispatch(&f->dev));
}

/*
 * The negotiation QEMU would do, from the front-end's end; the peer runs
 * in a thread, or with @process in a child process.
 */
static Floor *floor_new(bool process)
{
    const uint64_t features = PROTOCOL_F(SHMEM) | PROTOCOL_F(BACKEND_REQ) |
                              PROTOCOL_F(REPLY_ACK);
    Floor *f = g_new0(Floor, 1);
    FloorHdr hdr;
    uint64_t offered;
    int sv[2], ch[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch),
                    ==, 0);
    f->channel = ch[0];
    if (process) {
        fflush(NULL);
        f->child = fork();
        g_assert_cmpint(f->child, >=, 0);
        if (!f->child) {
            close(ch[1]);
            close(sv[0]);
            close(sv[1]);
            floor_peer(f);
            _exit(0);
        }
        close(ch[0]);
        f->channel = -1;
    } else {
        f->peer = g_thread_new("floor-peer", floor_peer, f);
    }

    f->fe = sv[0];
    g_assert_true(vu_init(&f->dev, 1, sv[1], bench_panic, NULL, no_watch,
                          no_remove_watch, &f->iface));
    g_assert_true(vu_set_shmem_regions(&f->dev, &region_size, 1));

    floor_send(f, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, -1);
    g_assert_cmpint(recv(f->fe, &hdr, sizeof(hdr), MSG_WAITALL), ==,
                    sizeof(hdr));
    g_assert_cmpint(recv(f->fe, &offered, sizeof(offered), MSG_WAITALL), ==,
                    sizeof(offered));
    g_assert_cmphex(offered & features, ==, features);
    floor_send(f, VHOST_USER_SET_PROTOCOL_FEATURES, &features,
               sizeof(features), -1);
    floor_send(f, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, ch[1]);
    close(ch[1]);
    return f;
}

static void floor_free(Floor *f)
{
    int status;

    vu_deinit(&f->dev);         /* closes the back-end's ends: peer EOF */
    if (f->child) {
        g_assert_cmpint(waitpid(f->child, &status, 0), ==, f->child);
        g_assert_true(WIFEXITED(status) && !WEXITSTATUS(status));
    } else {
        g_thread_join(f->peer);
        close(f->channel);
    }
    close(f->fe);
    g_free(f);
}

static QDict *run_floor(int memfd, bool process, const char *what)
{
    Floor *f = floor_new(process);
    int err;
    QDict *d = time_pairs(&f->dev, memfd, region_size - page,
                          opt_iterations, opt_level_budget, &err);

    g_assert_nonnull(d);
    print_pairs(what, d);
    floor_free(f);
    return d;
}

/* QEMU as the front-end */

/* The accelerator QEMU runs with, per QMP */
static char *qemu_accel;

static char *qemu_query_accel(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-kvm'}");
    bool kvm = qdict_get_bool(qdict_get_qdict(resp, "return"), "enabled");

    qobject_unref(resp);
    return g_strdup(kvm ? "kvm" : opt_accel ? opt_accel : "qtest");
}

/* The device as a virtio driver sees it, its BARs mapped by qemu_start() */
static QVirtioPCIDevice *qemu_vdev;

static VuQemu *qemu_start(void)
{
    g_autofree char *accel = NULL;
    QPCIAddress addr = { 0 };
    uint64_t bar_size;
    VuQemu *q;

    /* With another accelerator, keep the vCPUs stopped: qtest drives it */
    accel = g_strdup_printf("%s%s%s%s", opt_accel ? "-accel " : "",
                            opt_accel ? opt_accel : "", opt_accel ? " -S" : "",
                            opt_no_window ?
                            " -global virtio-device.x-shmem-window=off" : "");
    q = vu_qemu_start(accel, &region_size, 1);
    /* Its threads are all up once it answers QMP */
    pin_process(qtest_pid(q->qts), cpu_peer);
    qemu_accel = qemu_query_accel(q->qts);

    /*
     * The virtio BARs first (run_reset() needs them): a big shared memory
     * BAR may leave no room after it in the window libqos allocates from
     */
    addr.devfn = q->pdev->devfn;
    qemu_vdev = virtio_pci_new(q->pcibus, &addr);
    g_assert_nonnull(qemu_vdev);
    qvirtio_pci_device_enable(qemu_vdev);
    /* What a guest driver does: the BAR in guest physical memory */
    q->bar = qpci_iomap(q->pdev, SHMEM_BAR, &bar_size);
    g_assert_cmphex(bar_size, ==, region_size);
    return q;
}

/* With @dead, QEMU is gone already: libqtest would abort on its status */
static void qemu_stop(VuQemu *q, bool dead)
{
    vu_qemu_stop(q, dead);
    g_free(qemu_accel);
    qemu_accel = NULL;
}

/* Live mappings of the region, per x-query-virtio-shmem */
/*
 * The live mappings of region SHMID by x-query-virtio-shmem: with @list,
 * the listed ones (all of them, checked against the count); otherwise the
 * count alone, which costs QEMU nothing per mapping
 */
static int qemu_count_mappings(VuQemu *q, bool list)
{
    QDict *resp = list ?
        qtest_qmp(q->qts, "{'execute': 'x-query-virtio-shmem'}") :
        qtest_qmp(q->qts, "{'execute': 'x-query-virtio-shmem', "
                  "'arguments': {'max-mappings': 0}}");
    QList *devs = qdict_get_qlist(resp, "return");
    QList *regions;
    QListEntry *e;
    int count = -1;

    g_assert_cmpint(qlist_size(devs), ==, 1);
    regions = qdict_get_qlist(qobject_to(QDict, qlist_peek(devs)), "regions");
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(r, "shmid") == SHMID) {
            count = qdict_get_int(r, "nr-mappings");
            if (list) {
                g_assert_cmpint(qlist_size(qdict_get_qlist(r, "mappings")),
                                ==, count);
            } else {
                g_assert_cmpint(qlist_size(qdict_get_qlist(r, "mappings")),
                                ==, 0);
            }
        }
    }
    qobject_unref(resp);
    return count;
}

/*
 * Memory slots the accelerator uses, the most of any address space: the
 * ranges 'info mtree -f' marks with its name (KVM) in each flatview.
 * -1 when the accelerator has none.
 */
static int qemu_count_slots(VuQemu *q)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    int most = -1, cur = 0;

    if (strcmp(qemu_accel, "kvm")) {
        return -1;
    }
    out = qtest_hmp(q->qts, "info mtree -f");
    lines = g_strsplit(out, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        if (g_str_has_prefix(lines[i], "FlatView #")) {
            cur = 0;
        } else if (g_str_has_suffix(g_strchomp(lines[i]), " KVM")) {
            most = MAX(most, ++cur);
        }
    }
    return MAX(most, 0);
}

/*
 * Where the live mapping @i sits: every other page (or every page with
 * --dense), from the start
 */
static uint64_t live_offset(int i)
{
    return (opt_dense ? 1 : 2) * i * page;
}

/* The probe page for the MAP+UNMAP timings: the last page of the region */
static uint64_t probe_offset(void)
{
    return region_size - page;
}

static int max_live(void)
{
    return (region_size / page - 1) / (opt_dense ? 1 : 2);
}

/*
 * How many mappings the capacity run may make: with --dense, the probe
 * page too (live_offset(max_live()) is the probe page), once the MAP+UNMAP
 * timings are done
 */
static int max_capacity(void)
{
    return opt_dense ? region_size / page : max_live();
}

/* The guest reads mapping @i through the BAR as the memfd has it */
static bool qemu_check_data(VuQemu *q, int memfd, int i)
{
    g_autofree uint8_t *want = g_malloc(page);
    g_autofree uint8_t *got = g_malloc(page);

    g_assert_cmpint(pread(memfd, want, page, (i % MEMFD_PAGES) * page), ==,
                    page);
    qtest_memread(q->qts, q->bar.addr + live_offset(i), got, page);
    return !memcmp(want, got, page);
}

/*
 * Maps live mappings @from to @to - 1 and stores the time of each MAP in
 * @times[i]; stops early, returning the count reached, when a MAP fails or
 * when @deadline (monotonic ns, 0: none) passes.  *@err gets the errno.
 */
static int fill(VuQemu *q, int memfd, int from, int to, int64_t *times,
                int64_t deadline, int *err)
{
    int i;

    *err = 0;
    for (i = from; i < to; i++) {
        int64_t t0 = now_ns();
        int ret = vu_shmem_map_errno(&q->dev, SHMID, (i % MEMFD_PAGES) * page,
                                     live_offset(i), page, map_flags(),
                                     memfd);

        times[i] = now_ns() - t0;
        if (ret) {
            *err = ret;
            return i;
        }
        if (deadline && times[i] + t0 > deadline) {
            return i + 1;
        }
    }
    return to;
}

typedef struct Refusal {
    const char *what;
    bool unmap;
    uint64_t fd_offset, shm_offset, len;
    bool widen;     /* past the region: libvhost-user would refuse it */
} Refusal;

/*
 * With @live mappings in place: requests QEMU must refuse, each checked
 * to leave every mapping in place.  Returns a QDict of what happened.
 */
static QDict *run_refusals(VuQemu *q, int memfd, int live)
{
    const Refusal cases[] = {
        { "map over a live mapping", false, 0, live_offset(0), page },
        { "map over a gap and a live mapping", false, 0, live_offset(1) -
          page, 2 * page },
        { "map past the end of the region", false, 0, region_size - page,
          2 * page, true },
        { "map past the end of the fd", false, (MEMFD_PAGES - 1) * page,
          live_offset(live), 2 * page },
        { "unmap more than a live mapping", true, 0, live_offset(1),
          2 * page },
        { "unmap where nothing is mapped", true, 0, live_offset(live), page },
    };
    QDict *d = qdict_new();
    QList *list = qlist_new();
    bool all_ok = true;
    int checks[] = { 0, live / 2, live - 1 };

    printf("Refusals with %d live mappings:\n", live);
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        const Refusal *r = &cases[c];
        QDict *e = qdict_new();
        int ret, count;
        bool data = true;

        if (r->widen) {
            /*
             * libvhost-user checks the range against the region it
             * declared: declare a larger one to it alone, so that the
             * request reaches QEMU.
             */
            q->dev.shmem_sizes[SHMID] = 2 * region_size;
        }
        if (r->unmap) {
            ret = vu_shmem_unmap_errno(&q->dev, SHMID, r->shm_offset, r->len);
        } else {
            ret = vu_shmem_map_errno(&q->dev, SHMID, r->fd_offset,
                                     r->shm_offset, r->len,
                                     VHOST_USER_FLAG_MAP_RW, memfd);
        }
        q->dev.shmem_sizes[SHMID] = region_size;
        count = qemu_count_mappings(q, false);
        for (size_t k = 0; k < ARRAY_SIZE(checks); k++) {
            data &= qemu_check_data(q, memfd, checks[k]);
        }
        all_ok &= ret == -EREMOTEIO && count == live && data;
        printf("  %-36s %s; %d mappings live, data %s\n", r->what,
               ret == -EREMOTEIO ? "refused by QEMU" :
               ret ? "refused locally" : "ACCEPTED", count,
               data ? "intact" : "CHANGED");
        qdict_put_str(e, "what", r->what);
        qdict_put_int(e, "errno", -ret);
        qdict_put_bool(e, "refused_by_qemu", ret == -EREMOTEIO);
        qdict_put_int(e, "mappings_after", count);
        qdict_put_bool(e, "data_intact", data);
        qlist_append(list, e);
    }
    qdict_put_int(d, "live", live);
    qdict_put(d, "cases", list);
    qdict_put_bool(d, "all_refused_nothing_lost", all_ok);
    fflush(stdout);
    return d;
}

/* Open fds of process @pid */
static int proc_count_fds(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    GDir *dir = g_dir_open(path, 0, NULL);
    int n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    g_dir_close(dir);
    return n;
}

/* Virtual memory areas of process @pid */
static int proc_count_vmas(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)pid);
    g_autofree char *contents = NULL;
    int n = 0;

    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    for (char *c = contents; *c; c++) {
        n += *c == '\n';
    }
    return n;
}

/* Resident memory of process @pid, in KiB */
static int64_t proc_rss_kib(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *contents = NULL;
    const char *rss;
    int64_t kib = -1;

    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    rss = strstr(contents, "VmRSS:");
    if (rss) {
        qemu_strtoi64(rss + strlen("VmRSS:"), NULL, 10, &kib);
    }
    return kib;
}

/*
 * With --raise-nofile, let QEMU hold an fd per mapping up to 2^18: as
 * root, prlimit() raises the hard limit too.
 */
static void qemu_raise_nofile(VuQemu *q)
{
    struct rlimit nofile = { .rlim_cur = 1 << 18, .rlim_max = 1 << 18 };

    if (!opt_raise_nofile) {
        return;
    }
    if (prlimit(qtest_pid(q->qts), RLIMIT_NOFILE, &nofile, NULL) < 0) {
        printf("Cannot raise QEMU's RLIMIT_NOFILE to %d: %s\n",
               (int)nofile.rlim_cur, strerror(errno));
    }
}

/*
 * A device reset with @live mappings: how long the guest's write takes
 * (every mapping leaves the memory map in it), and how long until QEMU
 * has closed every fd and unmapped every host mapping (RCU, later).
 */
static QDict *run_reset(VuQemu *q, int live, int fds0)
{
    pid_t pid = qtest_pid(q->qts);
    QVirtioPCIDevice *dev = qemu_vdev;
    QDict *d = qdict_new();
    int64_t t0, t1, t2;
    int count;

    /* Not qvirtio_start_device(): it resets the device first */
    t0 = now_ns();
    qvirtio_reset(&dev->vdev);
    t1 = now_ns();
    count = qemu_count_mappings(q, false);
    while (proc_count_fds(pid) > fds0 && now_ns() - t1 < 60 * 1000000000LL) {
        g_usleep(1000);
    }
    t2 = now_ns();
    qdict_put_int(d, "live", live);
    qdict_put_int(d, "reset_ns", t1 - t0);
    qdict_put_int(d, "released_ns", t2 - t0);
    qdict_put_int(d, "mappings_after", count);
    printf("Device reset with %d live: %.1f ms; all fds closed after %.1f "
           "ms; %d mappings left\n", live, (t1 - t0) / 1e6, (t2 - t0) / 1e6,
           count);
    fflush(stdout);
    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
    qemu_vdev = NULL;
    return d;
}

/*
 * Resources running out: lower QEMU's soft RLIMIT_NOFILE to a few above
 * what it has open, map read-only (up to 64) until QEMU refuses, check
 * that it lost nothing and keeps running, and put the limit back.  A
 * mapping outside of a window (x-shmem-window=off) holds its fd, so QEMU
 * refuses after a few; in the region's window, read-only mappings keep no
 * fd, as writable ones, and none is refused.  *@live counts the mappings
 * made meanwhile.
 */
static QDict *run_fd_exhaustion(VuQemu *q, int memfd, int *live)
{
    pid_t pid = qtest_pid(q->qts);
    struct rlimit old, low;
    QDict *d = qdict_new();
    int before = *live, count, refusal = 0, again, checks[3];
    bool data = true, ok;
    int ret = prlimit(pid, RLIMIT_NOFILE, NULL, &old);

    if (!ret) {
        low = old;
        low.rlim_cur = proc_count_fds(pid) + 8;
        ret = prlimit(pid, RLIMIT_NOFILE, &low, NULL);
    }
    if (ret < 0) {
        printf("Out of file descriptors: skipped, cannot change QEMU's "
               "RLIMIT_NOFILE: %s\n", strerror(errno));
        qdict_put_str(d, "skipped", strerror(errno));
        return d;
    }
    for (int k = 0; k < 64 && *live < max_live() - 1; k++) {
        refusal = vu_shmem_map_errno(&q->dev, SHMID,
                                     (*live % MEMFD_PAGES) * page,
                                     live_offset(*live), page, 0, memfd);
        if (refusal) {
            break;
        }
        (*live)++;
    }
    count = qemu_count_mappings(q, false);
    checks[0] = 0;
    checks[1] = *live / 2;
    checks[2] = *live - 1;
    for (size_t k = 0; k < ARRAY_SIZE(checks); k++) {
        data &= qemu_check_data(q, memfd, checks[k]);
    }
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, &old, NULL), ==, 0);
    ok = (refusal == -EREMOTEIO || !refusal) && count == *live && data;
    printf("Out of file descriptors (soft limit %d in QEMU): %d more "
           "read-only mapped, then %s; %d mappings live, data %s\n",
           (int)low.rlim_cur, *live - before,
           refusal == -EREMOTEIO ? "refused by QEMU" :
           refusal ? strerror(-refusal) :
           "none refused (no fd kept: the window)", count,
           data ? "intact" : "CHANGED");
    qdict_put_int(d, "soft_limit", low.rlim_cur);
    qdict_put_int(d, "mapped_before_refusal", *live - before);
    qdict_put_bool(d, "refused_by_qemu", refusal == -EREMOTEIO);
    qdict_put_int(d, "mappings_after", count);
    qdict_put_bool(d, "data_intact", data);

    /* And it maps again once it can */
    again = vu_shmem_map_errno(&q->dev, SHMID, (*live % MEMFD_PAGES) * page,
                               live_offset(*live), page, 0, memfd);
    if (!again) {
        (*live)++;
    }
    printf("  limit restored: the next MAP %s\n",
           again ? "fails" : "succeeds");
    fflush(stdout);
    qdict_put_bool(d, "maps_again", !again);
    qdict_put_bool(d, "refused_nothing_lost", ok && !again);
    return d;
}

/* Median of the MAP times fill() took for mappings [@to - 64, @to) */
static int64_t fill_median(const int64_t *times, int to)
{
    int64_t v[64];
    int n = 0;

    for (int i = MAX(to - 64, 0); i < to; i++) {
        if (times[i]) {     /* not mapped by fill() */
            v[n++] = times[i];
        }
    }
    return percentile(v, n, 50);
}

/*
 * What each mapping costs QEMU in fds and memory areas, against its
 * RLIMIT_NOFILE and vm.max_map_count: where mapping would stop for lack
 * of them.  @fds0 and @vmas0 were counted with no mapping.
 */
static void qemu_resources(VuQemu *q, QDict *cap, int live, int fds0,
                           int vmas0)
{
    pid_t pid = qtest_pid(q->qts);
    g_autofree char *max_map = NULL;
    struct rlimit nofile;
    int64_t max_map_count = 0;
    int fds, vmas;
    double fd_each, vma_each, room;

    if (!live) {
        return;
    }
    /* Unmapped probes go once RCU is done with them */
    g_usleep(500 * 1000);
    fds = proc_count_fds(pid);
    vmas = proc_count_vmas(pid);
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, NULL, &nofile), ==, 0);
    if (g_file_get_contents("/proc/sys/vm/max_map_count", &max_map, NULL,
                            NULL)) {
        qemu_strtoi64(max_map, NULL, 10, &max_map_count);
    }
    fd_each = (double)(fds - fds0) / live;
    vma_each = (double)(vmas - vmas0) / live;
    room = MIN(fd_each > 0 ? (nofile.rlim_cur - fds) / fd_each : INFINITY,
               vma_each > 0 && max_map_count ?
               (max_map_count - vmas) / vma_each : INFINITY);
    qdict_put(cap, "fds_per_mapping", qnum_from_double(fd_each));
    qdict_put(cap, "vmas_per_mapping", qnum_from_double(vma_each));
    qdict_put_int(cap, "fds", fds);
    qdict_put_int(cap, "vmas", vmas);
    qdict_put_int(cap, "rlimit_nofile", nofile.rlim_cur);
    qdict_put_int(cap, "max_map_count", max_map_count);
    if (isfinite(room)) {
        qdict_put_int(cap, "process_limit", live + (int64_t)room);
    }
    printf("  each mapping holds %.2f fds and %.2f memory areas in QEMU: "
           "%d fds (limit %d), %d areas (vm.max_map_count %" PRId64 ")",
           fd_each, vma_each, fds, (int)nofile.rlim_cur, vmas,
           max_map_count);
    if (isfinite(room)) {
        printf(": QEMU runs out at about %d mappings",
               live + (int)room);
    }
    printf("\n");
}

static QList *parse_live_levels(void)
{
    g_auto(GStrv) parts = g_strsplit(opt_live, ",", -1);
    QList *list = qlist_new();

    for (int i = 0; parts[i]; i++) {
        int64_t n;

        if (!*parts[i]) {
            continue;
        }
        if (qemu_strtoi64(parts[i], NULL, 10, &n) || n < 0 ||
            n > max_live()) {
            fprintf(stderr, "vhost-user-shmem-bench: bad live count '%s' "
                    "(0 to %d)\n", parts[i], max_live());
            exit(1);
        }
        qlist_append_int(list, n);
    }
    return list;
}

/*
 * The floor and QEMU with no mapping live, in turn, @opt_rounds times: the
 * ratio of each round's medians shows the cost of the emulator's work with
 * less noise from whatever else the host runs meanwhile.
 */
static QDict *run_interleaved(VuQemu *q, int memfd)
{
    const int pairs = 200;
    g_autofree int64_t *ratio = g_new(int64_t, opt_rounds);
    g_autofree int64_t *fmed = g_new(int64_t, opt_rounds);
    g_autofree int64_t *qmed = g_new(int64_t, opt_rounds);
    Floor *f = floor_new(false);
    QList *rounds = qlist_new();
    QDict *d = qdict_new();
    int err;

    for (int r = 0; r < opt_rounds; r++) {
        QDict *fd = time_pairs(&f->dev, memfd, region_size - page, pairs,
                               G_MAXINT, &err);
        QDict *qd = time_pairs(&q->dev, memfd, probe_offset(), pairs,
                               G_MAXINT, &err);
        QDict *round = qdict_new();

        g_assert_nonnull(fd);
        g_assert_nonnull(qd);
        fmed[r] = qdict_get_int(qdict_get_qdict(fd, "pair"), "median_ns");
        qmed[r] = qdict_get_int(qdict_get_qdict(qd, "pair"), "median_ns");
        ratio[r] = qmed[r] * 1000 / fmed[r];
        qdict_put_int(round, "floor_median_ns", fmed[r]);
        qdict_put_int(round, "qemu_median_ns", qmed[r]);
        qlist_append(rounds, round);
        qobject_unref(fd);
        qobject_unref(qd);
    }
    floor_free(f);
    qdict_put_int(d, "pairs_per_round", pairs);
    qdict_put(d, "rounds", rounds);
    qdict_put_int(d, "floor_median_ns", percentile(fmed, opt_rounds, 50));
    qdict_put_int(d, "qemu_median_ns", percentile(qmed, opt_rounds, 50));
    qdict_put(d, "ratio_median",
              qnum_from_double(percentile(ratio, opt_rounds, 50) / 1000.0));
    qdict_put(d, "ratio_min",
              qnum_from_double(percentile(ratio, opt_rounds, 1) / 1000.0));
    qdict_put(d, "ratio_max",
              qnum_from_double(percentile(ratio, opt_rounds, 100) / 1000.0));
    printf("%-28s %6d rounds of %d pairs each: QEMU/floor median %.2f "
           "(%.2f-%.2f)\n", "floor and QEMU in turn", opt_rounds, pairs,
           qdict_get_double(d, "ratio_median"),
           qdict_get_double(d, "ratio_min"),
           qdict_get_double(d, "ratio_max"));
    fflush(stdout);
    return d;
}

/*
 * After QEMU refused a MAP at its limit: what is left of the @live
 * mappings, and whether QEMU still answers
 */
static QDict *check_refusal(VuQemu *q, int memfd, int live)
{
    QDict *d = qdict_new();
    QDict *resp = qtest_qmp(q->qts, "{'execute': 'query-status'}");
    int count = qemu_count_mappings(q, false);
    bool data = true;
    int checks[] = { 0, live / 2, live - 1 };

    for (size_t k = 0; k < ARRAY_SIZE(checks) && live; k++) {
        data &= qemu_check_data(q, memfd, checks[k]);
    }
    qdict_put_bool(d, "qemu_answers", qdict_haskey(resp, "return"));
    qdict_put_int(d, "mappings_after", count);
    qdict_put_bool(d, "data_intact", data);
    qdict_put_bool(d, "nothing_lost", count == live && data);
    printf("Refused at the limit: QEMU %s, %d mappings live, data %s\n",
           qdict_haskey(resp, "return") ? "answers" : "DOES NOT ANSWER",
           count, data ? "intact" : "CHANGED");
    qobject_unref(resp);
    return d;
}

/*
 * After a failed request: whether QEMU died (then it says so, and
 * records it in @d)
 */
static bool qemu_died(VuQemu *q, QDict *d, int live)
{
    int i;

    /* A channel that broke means QEMU is going: give it time to go */
    for (i = 0; i < 200 && qtest_probe_child(q->qts); i++) {
        g_usleep(10 * 1000);
    }
    if (i == 200) {
        return false;
    }
    printf("QEMU DIED with %d mappings acknowledged (its message is on "
           "stderr)\n", live);
    fflush(stdout);
    qdict_put_bool(d, "qemu_died", true);
    qdict_put_int(d, "qemu_died_after", live);
    return true;
}

static void run_qemu(QDict *out, int memfd)
{
    QList *levels = parse_live_levels();
    QList *results = qlist_new();
    QList *curve = qlist_new();
    QDict *cap = qdict_new();
    int target = MIN(MAX(opt_capacity, 0), max_capacity());
    g_autofree int64_t *times = g_new0(int64_t, max_capacity() + 1);
    VuQemu *q = qemu_start();
    QListEntry *e;
    int live = 0, err = 0, slots, fds0, vmas0;
    int64_t t0, deadline, rss0, created_ns = 0;
    bool refused_done = false, dead = false;

    qemu_raise_nofile(q);
    fds0 = proc_count_fds(qtest_pid(q->qts));
    vmas0 = proc_count_vmas(qtest_pid(q->qts));
    rss0 = proc_rss_kib(qtest_pid(q->qts));

    printf("QEMU accelerator: %s; region %" PRIu64 " MiB in BAR %d at 0x%"
           PRIx64 "\n", qemu_accel, region_size / MiB, SHMEM_BAR,
           (uint64_t)q->bar.addr);
    qdict_put_str(out, "accel", qemu_accel);
    slots = qemu_count_slots(q);
    qdict_put_int(out, "slots_before", slots);
    if (slots >= 0) {
        printf("%s memory slots in use before any mapping: %d\n", qemu_accel,
               slots);
    }

    if (opt_rounds > 0) {
        qdict_put(out, "interleaved", run_interleaved(q, memfd));
    }

    QLIST_FOREACH_ENTRY(levels, e) {
        int want = qnum_get_int(qobject_to(QNum, qlist_entry_obj(e)));
        g_autofree char *what = g_strdup_printf("QEMU, %d live", want);
        int64_t rss;
        QDict *d;

        if (want > live) {
            t0 = now_ns();
            live = fill(q, memfd, live, want, times, 0, &err);
            if (err) {
                printf("Mapping towards %d failed after %d: %s\n", want,
                       live, strerror(-err));
                dead = qemu_died(q, out, live);
                qdict_put_int(out, "level_failed", want);
                break;
            }
            created_ns += now_ns() - t0;
            printf("(mapped %d live mappings in %.1f s, %.1f s from none)\n",
                   want, (now_ns() - t0) / 1e9, created_ns / 1e9);
        }
        /*
         * Before the query: its reply for thousands of mappings leaves
         * megabytes of freed heap that glibc keeps until a trim
         */
        rss = live ? proc_rss_kib(qtest_pid(q->qts)) : 0;
        g_assert_cmpint(qemu_count_mappings(q, false), ==, live);
        d = time_pairs(&q->dev, memfd, probe_offset(), opt_iterations,
                       opt_level_budget, &err);
        if (!d) {
            printf("MAP+UNMAP with %d live failed: %s\n", live,
                   strerror(-err));
            dead = qemu_died(q, out, live + 1);
            qdict_put_int(out, "level_failed", want);
            break;
        }
        qdict_put_int(d, "live", live);
        qdict_put_int(d, "created_ns", created_ns);
        if (live) {
            qdict_put(d, "rss_per_mapping_kib",
                      qnum_from_double((double)(rss - rss0) / live));
            printf("  QEMU RSS %" PRId64 " KiB, %.2f KiB more per "
                   "mapping\n", rss, (double)(rss - rss0) / live);
        }
        slots = qemu_count_slots(q);
        if (slots >= 0) {
            qdict_put_int(d, "slots", slots);
        }
        print_pairs(what, d);
        qlist_append(results, d);
        if (live == opt_refuse_at) {
            qdict_put(out, "refusals", run_refusals(q, memfd, live));
            qdict_put(out, "fd_exhaustion",
                      run_fd_exhaustion(q, memfd, &live));
            refused_done = true;
        }
    }
    qdict_put(out, "levels", results);
    if (!dead && !refused_done && live > 0) {
        qdict_put(out, "refusals", run_refusals(q, memfd, live));
        qdict_put(out, "fd_exhaustion", run_fd_exhaustion(q, memfd, &live));
    }

    /* How many a region holds: keep mapping, within the time budget */
    err = 0;
    if (!dead && target > live) {
        printf("Mapping on towards %d (budget %.0f s)...\n", target,
               opt_capacity_budget);
        fflush(stdout);
        t0 = now_ns();
        deadline = t0 + (int64_t)(opt_capacity_budget * 1e9);
        live = fill(q, memfd, live, target, times, deadline, &err);
        qdict_put(cap, "fill_seconds",
                  qnum_from_double((now_ns() - t0) / 1e9));
        if (err) {
            dead = qemu_died(q, cap, live);
        }
        if (err && !dead) {
            qdict_put(cap, "refusal", check_refusal(q, memfd, live));
        }
    }
    qdict_put_int(cap, "target", target);
    qdict_put_int(cap, "reached", live);
    qdict_put_str(cap, "stopped", dead ? "QEMU died" : err ? "refused" :
                  live >= target ? "target" : "time budget");
    qdict_put_int(cap, "errno", -err);
    /* Powers of two, and where it stopped */
    for (int n = 64; n / 2 < live; n *= 2) {
        QDict *point = qdict_new();
        int at = MIN(n, live);

        qdict_put_int(point, "live", at);
        qdict_put_int(point, "map_median_ns", fill_median(times, at));
        qlist_append(curve, point);
    }
    qdict_put(cap, "curve", curve);
    printf("Capacity: %d mappings (%s%s%s)\n", live,
           qdict_get_str(cap, "stopped"), err ? ": " : "",
           err ? strerror(-err) : "");
    QLIST_FOREACH_ENTRY(curve, e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        printf("  MAP with %6" PRId64 " live: median %9.1f us\n",
               qdict_get_int(p, "live"),
               qdict_get_int(p, "map_median_ns") / 1e3);
    }
    if (!dead) {
        qdict_put_int(cap, "mappings_counted", qemu_count_mappings(q, true));
        printf("  x-query-virtio-shmem counts %" PRId64 "\n",
               qdict_get_int(cap, "mappings_counted"));
        slots = qemu_count_slots(q);
        if (slots >= 0) {
            qdict_put_int(cap, "slots", slots);
            printf("  %s memory slots in use: %d\n", qemu_accel, slots);
        }
        qemu_resources(q, cap, live, fds0, vmas0);
        qdict_put(cap, "rss_per_mapping_kib", qnum_from_double(
            live ? (double)(proc_rss_kib(qtest_pid(q->qts)) - rss0) / live
                 : 0));
    }
    qdict_put(out, "capacity", cap);
    fflush(stdout);
    if (!dead) {
        qdict_put(out, "reset", run_reset(q, live, fds0));
    }

    t0 = now_ns();
    qemu_stop(q, dead);
    qdict_put(out, "quit_seconds", qnum_from_double((now_ns() - t0) / 1e9));
    qobject_unref(levels);
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        { "iterations", 'n', 0, G_OPTION_ARG_INT, &opt_iterations,
          "MAP+UNMAP pairs timed per level (2000)", "N" },
        { "level-budget", 0, 0, G_OPTION_ARG_DOUBLE, &opt_level_budget,
          "at most this long per level, but 100 pairs at least (30)", "S" },
        { "live", 0, 0, G_OPTION_ARG_STRING, &opt_live,
          "live mapping counts to time at (0,256,1024,2048,4000)", "LIST" },
        { "cpus", 0, 0, G_OPTION_ARG_STRING, &opt_cpus,
          "pin the back-end to CPU A, QEMU and the floor's peer to CPU B",
          "A,B" },
        { "rounds", 0, 0, G_OPTION_ARG_INT, &opt_rounds,
          "rounds of floor and QEMU in turn, with no mapping live (10)",
          "N" },
        { "refuse-at", 0, 0, G_OPTION_ARG_INT, &opt_refuse_at,
          "try refused requests at this live count (4000)", "N" },
        { "capacity", 0, 0, G_OPTION_ARG_INT, &opt_capacity,
          "then map up to this many (16384; 0: no)", "N" },
        { "capacity-budget", 0, 0, G_OPTION_ARG_DOUBLE, &opt_capacity_budget,
          "for at most this long (150)", "S" },
        { "region-mib", 0, 0, G_OPTION_ARG_INT, &opt_region_mib,
          "size of the region (128)", "MIB" },
        { "dense", 0, 0, G_OPTION_ARG_NONE, &opt_dense,
          "live mappings on every page, not every other one", NULL },
        { "raise-nofile", 0, 0, G_OPTION_ARG_NONE, &opt_raise_nofile,
          "raise QEMU's RLIMIT_NOFILE to 2^18 (needs root)", NULL },
        { "read-only", 0, 0, G_OPTION_ARG_NONE, &opt_read_only,
          "time and fill read-only mappings, not writable ones", NULL },
        { "no-window", 0, 0, G_OPTION_ARG_NONE, &opt_no_window,
          "QEMU with x-shmem-window=off: every mapping a MemoryRegion",
          NULL },
        { "accel", 0, 0, G_OPTION_ARG_STRING, &opt_accel,
          "accelerator instead of qtest, vCPUs stopped (kvm, tcg)", "ACCEL" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the figures there", "FILE" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GString) json = NULL;
    QDict *out = qdict_new();
    int memfd;

    g_option_context_set_summary(ctx, "Times VHOST_USER_BACKEND_SHMEM_MAP "
                                 "and UNMAP from a libvhost-user back-end.\n"
                                 "Needs QTEST_QEMU_BINARY.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        fprintf(stderr, "vhost-user-shmem-bench: %s\n", gerr->message);
        return 1;
    }
    if (!getenv("QTEST_QEMU_BINARY")) {
        fprintf(stderr, "vhost-user-shmem-bench: set QTEST_QEMU_BINARY\n");
        return 1;
    }
    if (opt_cpus && sscanf(opt_cpus, "%d,%d", &cpu_backend, &cpu_peer) != 2) {
        fprintf(stderr, "vhost-user-shmem-bench: --cpus wants A,B\n");
        return 1;
    }
    pin_thread(0, cpu_backend);
    if (opt_iterations < MIN_ITERATIONS) {
        opt_iterations = MIN_ITERATIONS;
    }
    signal(SIGPIPE, SIG_IGN);

    page = qemu_real_host_page_size();
    region_size = (uint64_t)opt_region_mib * MiB;
    g_assert(region_size >= 4 * page && is_power_of_2(region_size));
    memfd = memfd_new();
    qdict_put_int(out, "page", page);
    if (opt_cpus) {
        qdict_put_int(out, "cpu_backend", cpu_backend);
        qdict_put_int(out, "cpu_peer", cpu_peer);
    }
    qdict_put_int(out, "region_size", region_size);

    qdict_put(out, "floor", run_floor(memfd, false, "floor: peer thread"));
    qdict_put(out, "floor_process",
              run_floor(memfd, true, "floor: peer process"));
    run_qemu(out, memfd);
    qdict_put(out, "floor_after",
              run_floor(memfd, false, "floor: peer thread, again"));

    json = qobject_to_json_pretty(QOBJECT(out), true);
    if (opt_json && !g_file_set_contents(opt_json, json->str, -1, &gerr)) {
        fprintf(stderr, "vhost-user-shmem-bench: %s\n", gerr->message);
        return 1;
    }
    qobject_unref(out);
    close(memfd);
    return 0;
}
