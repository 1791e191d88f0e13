/*
 * QTest: seeded model-based random test of VIRTIO Shared Memory
 *
 * A back-end inside the test sends random SHMEM_MAP/UNMAP requests, valid
 * and invalid, to a vhost-user-test-device-pci; the guest reads and writes
 * its shared memory BAR; the back-end writes to its memfds; the guest
 * resets the device; the back-end hangs up and QEMU reconnects.  A model
 * of the protocol predicts every reply, every byte the guest reads and
 * every byte that reaches a memfd, and is compared with
 * x-query-virtio-shmem and with the fds and host mappings QEMU holds.
 *
 * make check runs a short run: two seeds, 1500 operations each.  A long run:
 *   VHOST_USER_SHMEM_RANDOM_SEED=N VHOST_USER_SHMEM_RANDOM_OPS=20000 \
 *       QTEST_QEMU_BINARY=./qemu-system-x86_64 \
 *       tests/qtest/vhost-user-shmem-random-test
 * (or -m slow: seeds 1 to 4, 20000 operations each).  A failure names
 * its seed and operation; --verbose lists every operation.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_ids.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS      10000
#define PAGE            0x1000ULL
#define VDEV_SLOT       4
#define SHMEM_BAR       2
#define RECONNECT_MS    20
#define MAP_RW          1ULL

#define SHORT_OPS       1500
#define LONG_OPS        20000

/* Regions: shmid 0 and 2, back to back in the BAR */
#define NREGIONS        2
static const uint8_t region_shmid[NREGIONS] = { 0, 2 };
static const uint64_t region_size[NREGIONS] = { 64 * PAGE, 16 * PAGE };
static const uint64_t region_bar[NREGIONS] = { 0, 64 * PAGE };

/* memfds: two of 16 pages, and one of a single page */
#define NMEMFDS         3
static const uint64_t memfd_size[NMEMFDS] = { 16 * PAGE, 16 * PAGE, PAGE };

#define MAX_MAPPINGS    256
/* The longest mapping the test asks for */
#define MAX_MAP_PAGES   4

typedef struct Mapping {
    uint8_t shmid;
    uint64_t shm_offset;
    uint64_t len;
    uint64_t fd_offset;
    int memfd;              /* index into Rt.mem */
    bool rw;
    /*
     * Read-only: the guest's own copies of the pages it wrote (in the
     * window, a write to a read-only mapping copies the page), or NULL
     */
    uint8_t *priv;
    bool copied[MAX_MAP_PAGES];
} Mapping;

typedef struct Rt {
    GRand *rand;
    unsigned int op;
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QVirtioPCIDevice *dev;
    QPCIBar bar;
    unsigned int conns;
    int fd[NMEMFDS];
    uint8_t *mem[NMEMFDS];          /* the back-end's view */
    uint8_t *shadow[NMEMFDS];       /* what the model says is in it */
    Mapping map[MAX_MAPPINGS];
    unsigned int nmaps;
    /*
     * What the guest wrote where nothing is mapped: the window keeps it
     * until a MAP or UNMAP of the range, or a reset
     */
    uint8_t *hole[NREGIONS];
    /* statistics */
    unsigned int maps_ok, maps_refused, unmaps_ok, unmaps_refused;
    unsigned int reads, writes, resets, reconnects, checks;
} Rt;

#define OP_MSG(rt, fmt, ...) do {                                         \
        if (g_test_verbose()) {                                           \
            g_test_message("op %u: " fmt, (rt)->op, ## __VA_ARGS__);      \
        }                                                                 \
    } while (0)

static uint64_t rnd(Rt *rt, uint64_t n)
{
    return n ? (uint64_t)g_rand_int_range(rt->rand, 0, n) : 0;
}

static int region_index(uint8_t shmid)
{
    for (int i = 0; i < NREGIONS; i++) {
        if (region_shmid[i] == shmid) {
            return i;
        }
    }
    return -1;
}

/* The mapping that holds byte @off of region @shmid, or NULL */
static Mapping *model_find(Rt *rt, uint8_t shmid, uint64_t off)
{
    for (unsigned int i = 0; i < rt->nmaps; i++) {
        Mapping *m = &rt->map[i];

        if (m->shmid == shmid && off >= m->shm_offset &&
            off - m->shm_offset < m->len) {
            return m;
        }
    }
    return NULL;
}

static bool model_overlaps(Rt *rt, uint8_t shmid, uint64_t off, uint64_t len)
{
    for (unsigned int i = 0; i < rt->nmaps; i++) {
        Mapping *m = &rt->map[i];

        if (m->shmid == shmid && off < m->shm_offset + m->len &&
            m->shm_offset < off + len) {
            return true;
        }
    }
    return false;
}

/* Device reset or lost back-end: every mapping goes, holes read zeroes */
/* Where the model has the 8 bytes the guest sees at @off of @m */
static uint8_t *model_view(Rt *rt, Mapping *m, uint64_t off)
{
    uint64_t in = off - m->shm_offset;

    if (m->priv && m->copied[in / PAGE]) {
        return m->priv + in;
    }
    return rt->shadow[m->memfd] + m->fd_offset + in;
}

static void model_drop(Rt *rt, unsigned int idx)
{
    g_free(rt->map[idx].priv);
    rt->map[idx] = rt->map[--rt->nmaps];
}

static void model_drop_all(Rt *rt)
{
    while (rt->nmaps) {
        model_drop(rt, 0);
    }
    for (int i = 0; i < NREGIONS; i++) {
        memset(rt->hole[i], 0, region_size[i]);
    }
}

static void rt_start(Rt *rt, uint32_t seed)
{
    const uint64_t sizes[] = { region_size[0], 0, region_size[1] };
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    uint64_t size;

    rt->rand = g_rand_new_with_seed(seed);
    rt->be = vu_test_backend_new();
    vu_test_backend_set_protocol_features(
        rt->be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
                (1ULL << VU_TEST_PROTOCOL_F_SHMEM));
    vu_test_backend_set_shmem_regions(rt->be, sizes, ARRAY_SIZE(sizes));
    rt->qts = qtest_initf(
        "-M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s,reconnect-ms=%d "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=%d,num_vqs=1,addr=%d.0",
        vu_test_backend_get_socket_path(rt->be), RECONNECT_MS,
        VIRTIO_ID_RNG, VDEV_SLOT);
    pc_alloc_init(&rt->alloc, rt->qts, ALLOC_NO_FLAGS);
    rt->pcibus = qpci_new_pc(rt->qts, &rt->alloc);
    rt->dev = virtio_pci_new(rt->pcibus, &addr);
    g_assert_nonnull(rt->dev);
    qvirtio_pci_device_enable(rt->dev);
    rt->bar = qpci_iomap(rt->dev->pdev, SHMEM_BAR, &size);
    g_assert_cmphex(size, ==, 128 * PAGE);
    g_assert_true(vu_test_backend_wait_backend_channel(rt->be, TIMEOUT_MS));
    rt->conns = 1;

    for (int i = 0; i < NMEMFDS; i++) {
        rt->fd[i] = memfd_create("vhost-user-shmem-random", MFD_CLOEXEC);
        g_assert_cmpint(rt->fd[i], >=, 0);
        g_assert_cmpint(ftruncate(rt->fd[i], memfd_size[i]), ==, 0);
        rt->mem[i] = mmap(NULL, memfd_size[i], PROT_READ | PROT_WRITE,
                          MAP_SHARED, rt->fd[i], 0);
        g_assert(rt->mem[i] != MAP_FAILED);
        rt->shadow[i] = g_malloc(memfd_size[i]);
        for (uint64_t j = 0; j < memfd_size[i]; j++) {
            rt->mem[i][j] = rt->shadow[i][j] = g_rand_int(rt->rand);
        }
    }
    for (int i = 0; i < NREGIONS; i++) {
        rt->hole[i] = g_malloc0(region_size[i]);
    }
}

static void rt_stop(Rt *rt)
{
    model_drop_all(rt);
    for (int i = 0; i < NMEMFDS; i++) {
        munmap(rt->mem[i], memfd_size[i]);
        close(rt->fd[i]);
        g_free(rt->shadow[i]);
    }
    for (int i = 0; i < NREGIONS; i++) {
        g_free(rt->hole[i]);
    }
    qvirtio_pci_device_disable(rt->dev);
    g_free(rt->dev->pdev);
    g_free(rt->dev);
    qpci_free_pc(rt->pcibus);
    alloc_destroy(&rt->alloc);
    qtest_quit(rt->qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(rt->be), ==, 0);
    vu_test_backend_free(rt->be);
    g_rand_free(rt->rand);
}

/* Send a MAP or UNMAP; returns whether QEMU accepted it */
static bool send_request(Rt *rt, uint32_t request, const VuTestMMap *req,
                         uint32_t size, int fd)
{
    uint64_t reply = 0;

    g_assert_cmpint(vu_test_backend_backend_request(rt->be, request, req,
                                                    size, fd, true,
                                                    TIMEOUT_MS, &reply),
                    ==, 0);
    return reply == 0;
}

static void op_map(Rt *rt)
{
    static const uint8_t bad_shmids[] = { 1, 3, 255 };
    VuTestMMap req = { 0 };
    int memfd, ri;
    uint32_t size = sizeof(req);
    bool expect, got, aligned;
    uint64_t region;

    ri = rnd(rt, NREGIONS);
    req.shmid = rnd(rt, 100) < 90 ? region_shmid[ri]
                                   : bad_shmids[rnd(rt, 3)];
    region = region_index(req.shmid) >= 0 ?
             region_size[region_index(req.shmid)] : 0;
    req.len = (1 + rnd(rt, 4)) * PAGE;
    req.shm_offset = rnd(rt, 64) * PAGE;
    req.fd_offset = rnd(rt, 16) * PAGE;
    req.flags = rnd(rt, 2) ? MAP_RW : 0;
    memfd = rnd(rt, 100) < 90 ? rnd(rt, 2) : rnd(rt, 100) < 50 ? 2 : -1;

    switch (rnd(rt, 40)) {
    case 0:
        req.len = 0;
        break;
    case 1:
        req.shm_offset += PAGE / 2;
        break;
    case 2:
        req.len -= 512;
        break;
    case 3:
        req.fd_offset += 8;
        break;
    case 4:
        req.shm_offset = UINT64_MAX - PAGE + 1;   /* wraps */
        break;
    case 5:
        req.flags = rnd(rt, 2) ? 2 : 1ULL << 63;
        break;
    case 6:
        size = 32;                                  /* truncated payload */
        break;
    case 7:
        req.len = UINT64_MAX - PAGE + 1;
        break;
    }

    aligned = !((req.shm_offset | req.len | req.fd_offset) % PAGE);
    expect = region && memfd >= 0 && size == sizeof(req) && req.len &&
             aligned && req.shm_offset + req.len > req.shm_offset &&
             req.shm_offset + req.len <= region &&
             !model_overlaps(rt, req.shmid, req.shm_offset, req.len) &&
             !(req.flags & ~MAP_RW) &&
             req.fd_offset + req.len > req.fd_offset &&
             req.fd_offset + req.len <= memfd_size[memfd];

    got = send_request(rt, VU_TEST_BACKEND_REQ_SHMEM_MAP, &req, size,
                       memfd >= 0 ? rt->fd[memfd] : -1);
    OP_MSG(rt, "MAP shmid %u 0x%" PRIx64 "+0x%" PRIx64 " fd %d+0x%" PRIx64
           " flags 0x%" PRIx64 " size %u: %s", req.shmid, req.shm_offset,
           req.len, memfd, req.fd_offset, req.flags, size,
           got ? "mapped" : "refused");
    g_assert_cmpint(got, ==, expect);
    if (got) {
        g_assert_cmpuint(rt->nmaps, <, MAX_MAPPINGS);
        g_assert_cmpuint(req.len, <=, MAX_MAP_PAGES * PAGE);
        rt->map[rt->nmaps++] = (Mapping) {
            .shmid = req.shmid, .shm_offset = req.shm_offset,
            .len = req.len, .fd_offset = req.fd_offset, .memfd = memfd,
            .rw = req.flags & MAP_RW,
        };
        rt->maps_ok++;
    } else {
        rt->maps_refused++;
    }
}

static void op_unmap(Rt *rt)
{
    VuTestMMap req = { 0 };
    unsigned int idx = 0;
    bool expect, got;

    if (rt->nmaps && rnd(rt, 100) < 80) {
        idx = rnd(rt, rt->nmaps);
        req.shmid = rt->map[idx].shmid;
        req.shm_offset = rt->map[idx].shm_offset;
        req.len = rt->map[idx].len;
        switch (rnd(rt, 10)) {
        case 0:
            req.len += PAGE;        /* more than the mapping */
            break;
        case 1:
            if (req.len > PAGE) {
                req.len -= PAGE;    /* part of it */
            } else {
                req.shm_offset += PAGE;
            }
            break;
        case 2:
            req.shmid = req.shmid ? 0 : 2;
            break;
        }
    } else {
        req.shmid = region_shmid[rnd(rt, NREGIONS)];
        req.shm_offset = rnd(rt, 64) * PAGE;
        req.len = (1 + rnd(rt, 4)) * PAGE;
    }
    expect = false;
    for (unsigned int i = 0; i < rt->nmaps; i++) {
        if (rt->map[i].shmid == req.shmid &&
            rt->map[i].shm_offset == req.shm_offset &&
            rt->map[i].len == req.len) {
            expect = true;
            idx = i;
        }
    }
    got = send_request(rt, VU_TEST_BACKEND_REQ_SHMEM_UNMAP, &req,
                       sizeof(req), -1);
    OP_MSG(rt, "UNMAP shmid %u 0x%" PRIx64 "+0x%" PRIx64 ": %s", req.shmid,
           req.shm_offset, req.len, got ? "unmapped" : "refused");
    g_assert_cmpint(got, ==, expect);
    if (got) {
        memset(rt->hole[region_index(req.shmid)] + req.shm_offset, 0,
               req.len);
        model_drop(rt, idx);
        rt->unmaps_ok++;
    } else {
        rt->unmaps_refused++;
    }
}

/* A random 8-byte aligned place in a region: its index and offset */
static void random_place(Rt *rt, int *ri, uint64_t *off)
{
    *ri = rnd(rt, NREGIONS);
    *off = rnd(rt, region_size[*ri] / 8) * 8;
}

static void op_guest_read(Rt *rt)
{
    uint64_t off, val, want;
    Mapping *m;
    int ri;

    random_place(rt, &ri, &off);
    val = qtest_readq(rt->qts, rt->bar.addr + region_bar[ri] + off);
    m = model_find(rt, region_shmid[ri], off);
    OP_MSG(rt, "guest reads shmid %u 0x%" PRIx64 ": 0x%" PRIx64,
           region_shmid[ri], off, val);
    if (m) {
        memcpy(&want, model_view(rt, m, off), 8);
        g_assert_cmphex(le64_to_cpu(val), ==, want);
    } else {
        /* The window's own memory: nothing of any memfd shows */
        memcpy(&want, rt->hole[ri] + off, 8);
        g_assert_cmphex(le64_to_cpu(val), ==, want);
    }
    rt->reads++;
}

static void op_guest_write(Rt *rt)
{
    uint64_t off, val = g_rand_int(rt->rand) |
                        (uint64_t)g_rand_int(rt->rand) << 32;
    uint64_t le = cpu_to_le64(val);
    Mapping *m;
    int ri;

    random_place(rt, &ri, &off);
    qtest_writeq(rt->qts, rt->bar.addr + region_bar[ri] + off, val);
    m = model_find(rt, region_shmid[ri], off);
    OP_MSG(rt, "guest writes shmid %u 0x%" PRIx64 " (%s)", region_shmid[ri],
           off, !m ? "unmapped" : m->rw ? "rw" : "ro");
    if (m && m->rw) {
        memcpy(model_view(rt, m, off), &le, 8);
    } else if (m) {
        /* The guest's copy of the page, made from the file's at first */
        uint64_t pg = (off - m->shm_offset) / PAGE;

        if (!m->priv) {
            m->priv = g_malloc0(m->len);
        }
        if (!m->copied[pg]) {
            memcpy(m->priv + pg * PAGE,
                   rt->shadow[m->memfd] + m->fd_offset + pg * PAGE, PAGE);
            m->copied[pg] = true;
        }
        memcpy(model_view(rt, m, off), &le, 8);
    } else {
        memcpy(rt->hole[ri] + off, &le, 8);
    }
    /* The write reached the memfd, or no memfd changed */
    for (int i = 0; i < NMEMFDS; i++) {
        g_assert_cmpmem(rt->mem[i], memfd_size[i], rt->shadow[i],
                        memfd_size[i]);
    }
    rt->writes++;
}

static void op_backend_write(Rt *rt)
{
    int i = rnd(rt, NMEMFDS);
    uint64_t off = rnd(rt, memfd_size[i]);
    uint8_t val = g_rand_int(rt->rand);

    OP_MSG(rt, "back-end writes memfd %d 0x%" PRIx64, i, off);
    rt->mem[i][off] = rt->shadow[i][off] = val;
}

static void op_reset(Rt *rt)
{
    OP_MSG(rt, "guest resets the device");
    qvirtio_start_device(&rt->dev->vdev);
    qvirtio_reset(&rt->dev->vdev);
    model_drop_all(rt);
    rt->resets++;
}

static void op_reconnect(Rt *rt)
{
    OP_MSG(rt, "back-end hangs up, QEMU reconnects");
    vu_test_backend_disconnect(rt->be);
    g_assert_true(vu_test_backend_wait_connections(rt->be, ++rt->conns,
                                                   TIMEOUT_MS));
    g_assert_true(vu_test_backend_wait_backend_channel(rt->be, TIMEOUT_MS));
    model_drop_all(rt);
    rt->reconnects++;
}

static int mapping_cmp(const void *a, const void *b)
{
    const Mapping *x = a, *y = b;

    if (x->shmid != y->shmid) {
        return x->shmid - y->shmid;
    }
    return x->shm_offset < y->shm_offset ? -1 : x->shm_offset > y->shm_offset;
}

/* How many host mappings and fds QEMU holds of the test's memfds */
static void count_memfd_uses(Rt *rt, int *maps, int *fds)
{
    vu_test_count_memfd_uses(qtest_pid(rt->qts), "vhost-user-shmem-random",
                             maps, fds);
}

/*
 * x-query-virtio-shmem lists what the model holds; QEMU maps every page of
 * them, and keeps no fd (all are in windows): RCU frees old ones a little
 * later
 */
static void op_check(Rt *rt)
{
    QDict *resp = qtest_qmp(rt->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    g_autofree Mapping *want = g_memdup2(rt->map,
                                         sizeof(Mapping) * (rt->nmaps + 1));
    unsigned int n = 0, i;
    QListEntry *e, *me;
    int maps = -1, fds = -1, pages = 0;

    OP_MSG(rt, "check: %u mappings", rt->nmaps);
    for (i = 0; i < rt->nmaps; i++) {
        pages += rt->map[i].len / PAGE;
    }
    qsort(want, rt->nmaps, sizeof(Mapping), mapping_cmp);
    g_assert_cmpint(qlist_size(devs), ==, 1);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(qobject_to(QDict, qlist_peek(devs)),
                                        "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        int ri = region_index(qdict_get_int(r, "shmid"));

        g_assert_cmpint(ri, >=, 0);
        g_assert_cmphex(qdict_get_int(r, "size"), ==, region_size[ri]);
        QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "mappings"), me) {
            QDict *m = qobject_to(QDict, qlist_entry_obj(me));

            g_assert_cmpuint(n, <, rt->nmaps);
            g_assert_cmpuint(want[n].shmid, ==, region_shmid[ri]);
            g_assert_cmphex(qdict_get_int(m, "shm-offset"), ==,
                            want[n].shm_offset);
            g_assert_cmphex(qdict_get_int(m, "len"), ==, want[n].len);
            g_assert_cmphex(qdict_get_int(m, "fd-offset"), ==,
                            want[n].fd_offset);
            g_assert_cmpint(qdict_get_bool(m, "rw"), ==, want[n].rw);
            n++;
        }
    }
    g_assert_cmpuint(n, ==, rt->nmaps);
    qobject_unref(resp);

    for (i = 0; i < 500; i++) {
        count_memfd_uses(rt, &maps, &fds);
        if (maps == pages && fds == 0) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(maps, ==, pages);
    /* Every mapping is in its region's window, which keeps no fd */
    g_assert_cmpint(fds, ==, 0);
    rt->checks++;
}

static void run_seed(uint32_t seed, unsigned int ops)
{
    Rt rt = { 0 };

    g_test_message("seed %u, %u operations", seed, ops);
    rt_start(&rt, seed);
    for (rt.op = 0; rt.op < ops; rt.op++) {
        unsigned int r = rnd(&rt, 1000);

        if (r < 400) {
            op_map(&rt);
        } else if (r < 600) {
            op_unmap(&rt);
        } else if (r < 760) {
            op_guest_read(&rt);
        } else if (r < 880) {
            op_guest_write(&rt);
        } else if (r < 940) {
            op_backend_write(&rt);
        } else if (r < 955) {
            op_reset(&rt);
        } else if (r < 962) {
            op_reconnect(&rt);
        } else {
            op_check(&rt);
        }
    }
    op_check(&rt);
    op_reset(&rt);
    op_check(&rt);
    g_test_message("seed %u: %u maps (%u refused), %u unmaps (%u refused), "
                   "%u guest reads, %u guest writes, %u resets, "
                   "%u reconnects, %u checks: all as the model said",
                   seed, rt.maps_ok, rt.maps_refused, rt.unmaps_ok,
                   rt.unmaps_refused, rt.reads, rt.writes, rt.resets,
                   rt.reconnects, rt.checks);
    rt_stop(&rt);
}

static unsigned int env_uint(const char *name, unsigned int dflt)
{
    const char *s = g_getenv(name);

    return s && *s ? (unsigned int)g_ascii_strtoull(s, NULL, 0) : dflt;
}

static void test_random(const void *opaque)
{
    uint32_t seed = GPOINTER_TO_UINT(opaque);
    unsigned int ops = env_uint("VHOST_USER_SHMEM_RANDOM_OPS",
                                g_test_slow() ? LONG_OPS : SHORT_OPS);

    run_seed(seed, ops);
}

int main(int argc, char **argv)
{
    unsigned int first = 1, count = 2;

    g_test_init(&argc, &argv, NULL);
    if (g_getenv("VHOST_USER_SHMEM_RANDOM_SEED")) {
        first = env_uint("VHOST_USER_SHMEM_RANDOM_SEED", 1);
        count = 1;
    } else if (g_test_slow()) {
        count = 4;
    }
    for (unsigned int i = 0; i < count; i++) {
        g_autofree char *path = g_strdup_printf(
            "/vhost-user-shmem/random/seed-%u", first + i);

        qtest_add_data_func(path, GUINT_TO_POINTER(first + i), test_random);
    }
    return g_test_run();
}
