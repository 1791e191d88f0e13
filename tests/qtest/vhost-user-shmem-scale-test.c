/*
 * VIRTIO Shared Memory at scale: thousands of mappings in one region
 *
 * A vhost-user back-end in the test maps pages of one memfd at random
 * places of a region, in random order, well past the 4096 memory sections
 * the address space dispatch once held, and checks a sample of them
 * through the BAR and all of them with x-query-virtio-shmem; then unmaps
 * in random order and checks that unmapped pages read as the empty fill.
 * It also checks that, without a window, QEMU refuses a MAP (a RAMBlock
 * that keeps its fd) with a clear error before it runs out of file
 * descriptors, losing nothing, that mappings in the region's window,
 * writable or read-only, keep no fd, and that a device reset and a
 * back-end disconnect with thousands live release every fd and host
 * mapping.  The fill test runs again under KVM when /dev/kvm opens.
 *
 * The random order comes from GLib's test seed (--seed to replay one).
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_ids.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS      30000
#define PAGE            0x1000ULL
#define VDEV_SLOT       4
#define SHMEM_BAR       2
#define SHMID           0
/* 16384 pages: room for the mappings and as many holes */
#define REGION_SIZE     (64 * 1024 * 1024ULL)
#define REGION_PAGES    (REGION_SIZE / PAGE)
/* Pages of the memfd, each with its own content, that mappings cycle on */
#define MEMFD_PAGES     64
#define MAP_RW          1ULL
/* More than the 4096 memory sections of the 10.2.2 dispatch */
#define FILL_MAPPINGS   5000
/* Live when the device is reset or the back-end goes */
#define TEARDOWN_MAPPINGS 3000
/* Pages checked through the BAR at each step */
#define SAMPLES         64

typedef struct TestCtx {
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QPCIDevice *pdev;
    QPCIBar bar;
    int memfd;
    uint8_t *mem;
    uint8_t fill[PAGE];     /* what the guest reads where nothing is mapped */
    /* By page of the region: the memfd page mapped there, or -1 */
    int page_map[REGION_PAGES];
    int live;
    /* Map read-only */
    bool read_only;
    /* x-shmem-window=off: mappings are RAMBlocks that keep their fds */
    bool no_window;
} TestCtx;

static void ctx_start(TestCtx *t, const char *accel)
{
    const uint64_t sizes[] = { REGION_SIZE };
    uint64_t size;

    t->be = vu_test_backend_new();
    vu_test_backend_set_protocol_features(
        t->be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
        (1ULL << VU_TEST_PROTOCOL_F_SHMEM));
    vu_test_backend_set_shmem_regions(t->be, sizes, ARRAY_SIZE(sizes));

    t->qts = qtest_initf(
        "%s -M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=%d,num_vqs=1,addr=%d.0%s",
        accel ? accel : "", vu_test_backend_get_socket_path(t->be),
        VIRTIO_ID_PMEM, VDEV_SLOT,
        t->no_window ? " -global virtio-device.x-shmem-window=off" : "");
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->pcibus = qpci_new_pc(t->qts, &t->alloc);
    t->pdev = qpci_device_find(t->pcibus, QPCI_DEVFN(VDEV_SLOT, 0));
    g_assert_nonnull(t->pdev);
    g_assert(vu_test_backend_wait_backend_channel(t->be, TIMEOUT_MS));
    qpci_device_enable(t->pdev);
    t->bar = qpci_iomap(t->pdev, SHMEM_BAR, &size);
    g_assert_cmphex(size, ==, REGION_SIZE);

    t->memfd = memfd_create("vhost-user-shmem-scale", MFD_CLOEXEC);
    g_assert_cmpint(t->memfd, >=, 0);
    g_assert_cmpint(ftruncate(t->memfd, MEMFD_PAGES * PAGE), ==, 0);
    t->mem = mmap(NULL, MEMFD_PAGES * PAGE, PROT_READ | PROT_WRITE,
                  MAP_SHARED, t->memfd, 0);
    g_assert(t->mem != MAP_FAILED);
    for (size_t i = 0; i < MEMFD_PAGES * PAGE; i++) {
        t->mem[i] = (uint8_t)(i * 7 + i / PAGE * 13 + 1);
    }
    for (size_t i = 0; i < REGION_PAGES; i++) {
        t->page_map[i] = -1;
    }
    /* Nothing mapped yet: any page shows the empty fill */
    qtest_memread(t->qts, t->bar.addr, t->fill, PAGE);
    for (int i = 0; i < MEMFD_PAGES; i++) {
        g_assert(memcmp(t->fill, t->mem + i * PAGE, PAGE));
    }
}

static void ctx_stop(TestCtx *t)
{
    munmap(t->mem, MEMFD_PAGES * PAGE);
    close(t->memfd);
    g_free(t->pdev);
    qpci_free_pc(t->pcibus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(t->be), ==, 0);
    vu_test_backend_free(t->be);
}

/* SHMEM_MAP or _UNMAP with NEED_REPLY; returns the front-end's reply */
static uint64_t shmem_request(TestCtx *t, bool map, uint64_t fd_offset,
                              uint64_t shm_offset, uint64_t len)
{
    VuTestMMap req = {
        .shmid = SHMID,
        .fd_offset = fd_offset,
        .shm_offset = shm_offset,
        .len = len,
        .flags = map && !t->read_only ? MAP_RW : 0,
    };
    uint64_t reply = 0;

    g_assert_cmpint(vu_test_backend_backend_request(
                        t->be, map ? VU_TEST_BACKEND_REQ_SHMEM_MAP :
                        VU_TEST_BACKEND_REQ_SHMEM_UNMAP, &req, sizeof(req),
                        map ? t->memfd : -1, true, TIMEOUT_MS, &reply),
                    ==, 0);
    return reply;
}

/* Map memfd page @src at region page @page; returns the reply */
static uint64_t map_page(TestCtx *t, int page, int src)
{
    uint64_t reply = shmem_request(t, true, src * PAGE, page * PAGE, PAGE);

    if (!reply) {
        g_assert_cmpint(t->page_map[page], ==, -1);
        t->page_map[page] = src;
        t->live++;
    }
    return reply;
}

static void unmap_page(TestCtx *t, int page)
{
    g_assert_cmphex(shmem_request(t, false, 0, page * PAGE, PAGE), ==, 0);
    t->page_map[page] = -1;
    t->live--;
}

/* A random permutation of the region's pages */
static int *random_pages(void)
{
    int *pages = g_new(int, REGION_PAGES);

    for (int i = 0; i < REGION_PAGES; i++) {
        pages[i] = i;
    }
    for (int i = REGION_PAGES - 1; i > 0; i--) {
        int j = g_test_rand_int_range(0, i + 1);
        int tmp = pages[i];

        pages[i] = pages[j];
        pages[j] = tmp;
    }
    return pages;
}

/* Map @count pages of @pages, from @pages[0], each on its own memfd page */
static void fill(TestCtx *t, const int *pages, int count)
{
    int64_t t0 = g_get_monotonic_time();

    for (int i = 0; i < count; i++) {
        g_assert_cmphex(map_page(t, pages[i], pages[i] % MEMFD_PAGES), ==, 0);
    }
    g_test_message("mapped %d pages in random order in %.2f s", count,
                   (g_get_monotonic_time() - t0) / 1e6);
}

/* The guest reads page @page as mapped, or as the fill */
static void check_page(TestCtx *t, int page)
{
    uint8_t buf[PAGE];
    int src = t->page_map[page];

    qtest_memread(t->qts, t->bar.addr + page * PAGE, buf, PAGE);
    if (src < 0) {
        g_assert(!memcmp(buf, t->fill, PAGE));
    } else {
        g_assert(!memcmp(buf, t->mem + src * PAGE, PAGE));
    }
}

/* Sample pages through the BAR: mapped ones and holes alike */
static void check_sample(TestCtx *t)
{
    int mapped = 0, holes = 0;

    while (mapped < SAMPLES || holes < SAMPLES) {
        int page = g_test_rand_int_range(0, REGION_PAGES);

        if (t->page_map[page] >= 0 ? mapped++ < SAMPLES :
            holes++ < SAMPLES) {
            check_page(t, page);
        }
        if (!t->live && holes >= SAMPLES) {
            break;
        }
    }
}

/* x-query-virtio-shmem lists exactly the mappings the test made */
static void check_query(TestCtx *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    QDict *region;
    QListEntry *e;
    int page = -1, count = 0;

    g_assert_cmpint(qlist_size(devs), ==, 1);
    region = qobject_to(QDict, qlist_peek(qdict_get_qlist(
        qobject_to(QDict, qlist_peek(devs)), "regions")));
    g_assert_cmpint(qdict_get_int(region, "shmid"), ==, SHMID);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(region, "mappings"), e) {
        QDict *m = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t offset = qdict_get_int(m, "shm-offset");

        /* In order, one page each, where the test put them */
        g_assert_cmpint(offset / PAGE, >, page);
        page = offset / PAGE;
        g_assert_cmphex(offset, ==, page * PAGE);
        g_assert_cmphex(qdict_get_int(m, "len"), ==, PAGE);
        g_assert_cmpint(t->page_map[page], >=, 0);
        g_assert_cmphex(qdict_get_int(m, "fd-offset"), ==,
                        t->page_map[page] * PAGE);
        g_assert_cmpint(qdict_get_bool(m, "rw"), ==, !t->read_only);
        count++;
    }
    g_assert_cmpint(count, ==, t->live);
    qobject_unref(resp);
}

/* All the fds QEMU has open */
static int count_fds(TestCtx *t)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd",
                                            (int)qtest_pid(t->qts));
    GDir *dir = g_dir_open(path, 0, NULL);
    int n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    g_dir_close(dir);
    return n;
}

/* Fds and host mappings QEMU holds of the test's memfd */
static void count_memfd_uses(TestCtx *t, int *maps, int *fds)
{
    vu_test_count_memfd_uses(qtest_pid(t->qts), "vhost-user-shmem-scale",
                             maps, fds);
}

/*
 * Wait until QEMU maps exactly @want pages of the memfd, and holds an fd
 * for each outside of a window
 */
static void wait_memfd_uses(TestCtx *t, int want)
{
    int want_fds = t->no_window ? want : 0;
    int maps = -1, fds = -1;

    /* RCU frees dropped mappings a little later */
    for (int i = 0; i < 1000; i++) {
        count_memfd_uses(t, &maps, &fds);
        if (maps == want && fds == want_fds) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_test_message("QEMU maps %d pages and holds %d fds of the memfd, "
                   "not %d and %d", maps, fds, want, want_fds);
    g_assert_not_reached();
}

static bool kvm_available(void)
{
    int fd;

    if (!qtest_has_accel("kvm")) {
        return false;
    }
    fd = open("/dev/kvm", O_RDWR);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/*
 * Fill in random order, check, unmap in random order (another one),
 * check again, until nothing is left.
 */
static void run_fill(const char *accel, int count)
{
    TestCtx *t = g_new0(TestCtx, 1);
    g_autofree int *pages = NULL;
    g_autofree int *order = NULL;

    ctx_start(t, accel);
    pages = random_pages();
    fill(t, pages, count);
    g_assert_cmpint(t->live, ==, count);
    check_query(t);
    check_sample(t);
    wait_memfd_uses(t, count);

    /* Unmap in another random order, checking as they go */
    order = random_pages();
    for (int i = 0, done = 0; i < REGION_PAGES; i++) {
        if (t->page_map[order[i]] < 0) {
            continue;
        }
        unmap_page(t, order[i]);
        if (++done == count / 2) {
            check_query(t);
            check_sample(t);
        }
    }
    g_assert_cmpint(t->live, ==, 0);
    check_query(t);
    check_sample(t);
    wait_memfd_uses(t, 0);
    ctx_stop(t);
    g_free(t);
}

static void test_fill_random(void)
{
    run_fill(NULL, FILL_MAPPINGS);
}

static void test_fill_random_kvm(void)
{
    if (!kvm_available()) {
        g_test_skip("KVM is not available");
        return;
    }
    /* vCPUs stopped: the firmware would move the BAR meanwhile */
    run_fill("-accel kvm -S", FILL_MAPPINGS);
}

/*
 * QEMU refuses a MAP with a clear error while it still has file
 * descriptors to spare, loses nothing, and maps again once it has more.
 */
static void test_fd_limit(void)
{
    TestCtx *t = g_new0(TestCtx, 1);
    g_autofree int *pages = NULL;
    struct rlimit old, low;
    pid_t pid;
    int maps, fds, i, refused_at = -1;

    t->read_only = true;
    t->no_window = true;
    ctx_start(t, NULL);
    pid = qtest_pid(t->qts);
    pages = random_pages();
    fill(t, pages, 1000);

    /* Room for 200 more fds: QEMU keeps a share of them for itself */
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, NULL, &old), ==, 0);
    low = old;
    low.rlim_cur = MIN(old.rlim_cur, (rlim_t)count_fds(t) + 200);
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, &low, NULL), ==, 0);
    for (i = 1000; i < 2000; i++) {
        if (map_page(t, pages[i], pages[i] % MEMFD_PAGES)) {
            refused_at = t->live;
            break;
        }
    }
    g_assert_cmpint(refused_at, >, 1000);
    g_test_message("refused at %d mappings with a soft RLIMIT_NOFILE of %d",
                   refused_at, (int)low.rlim_cur);
    /* Nothing lost, and QEMU refused before it ran out */
    check_query(t);
    check_sample(t);
    count_memfd_uses(t, &maps, &fds);
    g_assert_cmpint(fds, ==, t->live);
    g_assert_cmpint(count_fds(t) + 8, <, low.rlim_cur);

    /* With its limit back, it maps again */
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, &old, NULL), ==, 0);
    g_assert_cmphex(map_page(t, pages[i], pages[i] % MEMFD_PAGES), ==, 0);
    check_query(t);
    ctx_stop(t);
    g_free(t);
}

/*
 * Mappings go into the window and keep no fd, read-only ones (@data) as
 * writable ones: with room for 200 more fds, 3,000 of them map
 */
static void test_no_fd_limit(const void *data)
{
    TestCtx *t = g_new0(TestCtx, 1);
    g_autofree int *pages = NULL;
    struct rlimit old, low;
    pid_t pid;
    int maps, fds;

    t->read_only = GPOINTER_TO_INT(data);
    ctx_start(t, NULL);
    pid = qtest_pid(t->qts);
    pages = random_pages();
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, NULL, &old), ==, 0);
    low = old;
    low.rlim_cur = MIN(old.rlim_cur, (rlim_t)count_fds(t) + 200);
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, &low, NULL), ==, 0);
    fill(t, pages, TEARDOWN_MAPPINGS);
    check_query(t);
    check_sample(t);
    count_memfd_uses(t, &maps, &fds);
    g_assert_cmpint(maps, ==, TEARDOWN_MAPPINGS);
    g_assert_cmpint(fds, ==, 0);
    g_assert_cmpint(prlimit(pid, RLIMIT_NOFILE, &old, NULL), ==, 0);
    ctx_stop(t);
    g_free(t);
}

/* A device reset with thousands live drops them all and releases all */
static void test_reset(void)
{
    TestCtx *t = g_new0(TestCtx, 1);
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    g_autofree int *pages = NULL;
    QVirtioPCIDevice *dev;
    int64_t t0;

    ctx_start(t, NULL);
    dev = virtio_pci_new(t->pcibus, &addr);
    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    qvirtio_start_device(&dev->vdev);
    pages = random_pages();
    fill(t, pages, TEARDOWN_MAPPINGS);
    wait_memfd_uses(t, TEARDOWN_MAPPINGS);

    t0 = g_get_monotonic_time();
    qvirtio_reset(&dev->vdev);
    g_test_message("reset with %d live in %.1f ms", TEARDOWN_MAPPINGS,
                   (g_get_monotonic_time() - t0) / 1e3);
    for (int i = 0; i < REGION_PAGES; i++) {
        t->page_map[i] = -1;
    }
    t->live = 0;
    check_query(t);
    check_sample(t);
    wait_memfd_uses(t, 0);

    /* And it maps again */
    g_assert_cmphex(map_page(t, pages[0], 1), ==, 0);
    check_page(t, pages[0]);
    check_query(t);

    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
    ctx_stop(t);
    g_free(t);
}

/* Losing the back-end with thousands live drops and releases them all */
static void test_disconnect(void)
{
    TestCtx *t = g_new0(TestCtx, 1);
    g_autofree int *pages = NULL;

    ctx_start(t, NULL);
    pages = random_pages();
    fill(t, pages, TEARDOWN_MAPPINGS);
    wait_memfd_uses(t, TEARDOWN_MAPPINGS);

    vu_test_backend_set_accepting(t->be, false);
    vu_test_backend_disconnect(t->be);
    for (int i = 0; i < REGION_PAGES; i++) {
        t->page_map[i] = -1;
    }
    t->live = 0;
    /* QMP is served once the chardev's close event was handled */
    wait_memfd_uses(t, 0);
    check_query(t);
    check_sample(t);
    ctx_stop(t);
    g_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vhost-user-shmem-scale/fill-random", test_fill_random);
    qtest_add_func("/vhost-user-shmem-scale/fill-random-kvm",
                   test_fill_random_kvm);
    qtest_add_func("/vhost-user-shmem-scale/fd-limit", test_fd_limit);
    qtest_add_data_func("/vhost-user-shmem-scale/no-fd-limit",
                        GINT_TO_POINTER(false), test_no_fd_limit);
    qtest_add_data_func("/vhost-user-shmem-scale/no-fd-limit/read-only",
                        GINT_TO_POINTER(true), test_no_fd_limit);
    qtest_add_func("/vhost-user-shmem-scale/reset", test_reset);
    qtest_add_func("/vhost-user-shmem-scale/disconnect", test_disconnect);
    return g_test_run();
}
