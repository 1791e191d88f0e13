/*
 * QTest for VIRTIO Shared Memory Regions of vhost-user devices
 *
 * A vhost-user backend inside the test offers VHOST_USER_PROTOCOL_F_SHMEM,
 * maps memfds into the regions of a vhost-user-test-device-pci, and the
 * test checks what the guest sees through the shared memory BAR, and that
 * every bad request is refused with nothing changed.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "libqtest.h"
#include "qemu/host-utils.h"
#include <sys/resource.h>
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/pci_regs.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_pci.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS      10000
#define PAGE            0x1000ULL

#define VDEV_SLOT       4
#define SHMEM_BAR       2

/* Regions the backend declares: a gap at shmid 1 */
#define REGION0_SIZE    (4 * 1024 * 1024ULL)
#define REGION2_SIZE    (64 * 1024ULL)
#define REGION2_OFFSET  REGION0_SIZE    /* back to back in the BAR */

#define MEMFD_SIZE      (4 * PAGE)

#define MAP_RW          1ULL

typedef struct TestCtx {
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QPCIDevice *pdev;
    QPCIBar bar;
    int memfd;
    uint8_t *mem;       /* the backend's view of memfd */
    const char *extra_args;
} TestCtx;

static void ctx_start_sized(TestCtx *t, bool offer_shmem,
                            uint64_t region0_size)
{
    const uint64_t sizes[] = { region0_size, 0, REGION2_SIZE };
    uint64_t pf = VU_TEST_DEFAULT_PROTOCOL_FEATURES;
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };

    t->be = vu_test_backend_new();
    if (offer_shmem) {
        pf |= 1ULL << VU_TEST_PROTOCOL_F_SHMEM;
    }
    vu_test_backend_set_protocol_features(t->be, pf);
    vu_test_backend_set_shmem_regions(t->be, sizes, ARRAY_SIZE(sizes));

    t->qts = qtest_initf(
        "-M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=%d,num_vqs=1,addr=%d.0 %s",
        vu_test_backend_get_socket_path(t->be), VIRTIO_ID_RNG, VDEV_SLOT,
        t->extra_args ? t->extra_args : "");
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->pcibus = qpci_new_pc(t->qts, &t->alloc);
    t->pdev = qpci_device_find(t->pcibus, addr.devfn);
    g_assert_nonnull(t->pdev);
    g_assert(vu_test_backend_wait_backend_channel(t->be, TIMEOUT_MS));

    t->memfd = memfd_create("vhost-user-shmem-test", MFD_CLOEXEC);
    g_assert_cmpint(t->memfd, >=, 0);
    g_assert_cmpint(ftruncate(t->memfd, MEMFD_SIZE), ==, 0);
    t->mem = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                  t->memfd, 0);
    g_assert(t->mem != MAP_FAILED);
    for (size_t i = 0; i < MEMFD_SIZE; i++) {
        t->mem[i] = (uint8_t)(i * 7 + i / PAGE + 1);
    }
}

static void ctx_start(TestCtx *t, bool offer_shmem)
{
    ctx_start_sized(t, offer_shmem, REGION0_SIZE);
}

static void ctx_map_bar(TestCtx *t)
{
    uint64_t size;

    qpci_device_enable(t->pdev);
    t->bar = qpci_iomap(t->pdev, SHMEM_BAR, &size);
    g_assert_cmphex(size, ==, pow2ceil(REGION0_SIZE + REGION2_SIZE));
}

static void ctx_stop(TestCtx *t)
{
    munmap(t->mem, MEMFD_SIZE);
    close(t->memfd);
    g_free(t->pdev);
    qpci_free_pc(t->pcibus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(t->be), ==, 0);
    vu_test_backend_free(t->be);
}

/* Send SHMEM_MAP with NEED_REPLY; returns the front-end's reply */
static uint64_t shmem_map(TestCtx *t, uint8_t shmid, uint64_t fd_offset,
                          uint64_t shm_offset, uint64_t len, uint64_t flags,
                          int fd)
{
    VuTestMMap req = {
        .shmid = shmid,
        .fd_offset = fd_offset,
        .shm_offset = shm_offset,
        .len = len,
        .flags = flags,
    };
    uint64_t reply = 0;

    g_assert_cmpint(vu_test_backend_backend_request(
                        t->be, VU_TEST_BACKEND_REQ_SHMEM_MAP, &req,
                        sizeof(req), fd, true, TIMEOUT_MS, &reply), ==, 0);
    return reply;
}

static uint64_t shmem_unmap(TestCtx *t, uint8_t shmid, uint64_t shm_offset,
                            uint64_t len)
{
    VuTestMMap req = {
        .shmid = shmid,
        .shm_offset = shm_offset,
        .len = len,
    };
    uint64_t reply = 0;

    g_assert_cmpint(vu_test_backend_backend_request(
                        t->be, VU_TEST_BACKEND_REQ_SHMEM_UNMAP, &req,
                        sizeof(req), -1, true, TIMEOUT_MS, &reply), ==, 0);
    return reply;
}

/* x-query-virtio-shmem: the regions of the only device, or NULL */
static QList *query_regions(TestCtx *t, QDict **resp_out)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    QDict *dev;

    g_assert_nonnull(devs);
    *resp_out = resp;
    if (qlist_empty(devs)) {
        return NULL;
    }
    g_assert_cmpint(qlist_size(devs), ==, 1);
    dev = qobject_to(QDict, qlist_peek(devs));
    g_assert_nonnull(strstr(qdict_get_str(dev, "path"), "vdev0"));
    return qdict_get_qlist(dev, "regions");
}

/* Number of live mappings in region @shmid, as QMP reports it */
static int count_mappings(TestCtx *t, uint8_t shmid)
{
    QDict *resp;
    QList *regions = query_regions(t, &resp);
    QListEntry *e;
    int count = -1;

    g_assert_nonnull(regions);
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(r, "shmid") == shmid) {
            count = qlist_size(qdict_get_qlist(r, "mappings"));
        }
    }
    qobject_unref(resp);
    g_assert_cmpint(count, >=, 0);
    return count;
}

/*
 * x-query-virtio-shmem with @from and @max_mappings when not negative: the
 * region @shmid's nr-mappings, and the shm-offset of each mapping listed
 * in @offsets (up to @max of them); returns how many were listed
 */
static int query_page(TestCtx *t, int64_t from, int64_t max_mappings,
                      uint8_t shmid, int *nr_mappings, uint64_t *offsets,
                      int max)
{
    QDict *args = qdict_new();
    QDict *resp;
    QList *devs;
    QListEntry *e, *me;
    int listed = -1;

    if (from >= 0) {
        qdict_put_int(args, "from", from);
    }
    if (max_mappings >= 0) {
        qdict_put_int(args, "max-mappings", max_mappings);
    }
    resp = qtest_qmp(t->qts, "{'execute': 'x-query-virtio-shmem', "
                     "'arguments': %p}", args);
    devs = qdict_get_qlist(resp, "return");
    g_assert_nonnull(devs);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(qobject_to(QDict, qlist_peek(devs)),
                                        "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(r, "shmid") != shmid) {
            continue;
        }
        *nr_mappings = qdict_get_int(r, "nr-mappings");
        listed = 0;
        QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "mappings"), me) {
            QDict *m = qobject_to(QDict, qlist_entry_obj(me));

            g_assert_cmpint(listed, <, max);
            offsets[listed++] = qdict_get_int(m, "shm-offset");
        }
    }
    qobject_unref(resp);
    g_assert_cmpint(listed, >=, 0);
    return listed;
}

static void assert_alive(TestCtx *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

/* How many host mappings and fds QEMU holds of the test's memfds */
static void count_memfd_uses(TestCtx *t, int *maps, int *fds)
{
    vu_test_count_memfd_uses(qtest_pid(t->qts), "vhost-user-shmem-test",
                             maps, fds);
}

/*
 * Wait until QEMU holds @maps mappings and @fds fds of the memfd: RCU
 * frees unmapped memory later, and fds that came with a request are
 * closed after the reply.
 */
static bool wait_memfd_uses(TestCtx *t, int maps, int fds)
{
    int now_maps, now_fds;

    for (int i = 0; i < 500; i++) {
        count_memfd_uses(t, &now_maps, &now_fds);
        if (now_maps == maps && now_fds == fds) {
            return true;
        }
        g_usleep(10 * 1000);
    }
    g_test_message("QEMU holds %d mappings and %d fds of the memfd",
                   now_maps, now_fds);
    return false;
}

static bool wait_memfd_released(TestCtx *t)
{
    return wait_memfd_uses(t, 0, 0);
}

/* What the guest reads at @offset of the shared memory BAR */
static void bar_read(TestCtx *t, uint64_t offset, void *buf, size_t len)
{
    qtest_memread(t->qts, t->bar.addr + offset, buf, len);
}

static void bar_write(TestCtx *t, uint64_t offset, const void *buf,
                      size_t len)
{
    qtest_memwrite(t->qts, t->bar.addr + offset, buf, len);
}

/* The capabilities the guest finds: one per region, all in SHMEM_BAR */
static void test_caps(void)
{
    TestCtx t = { 0 };
    uint8_t cap = 0;
    int found = 0;
    QDict *resp;
    QList *regions;

    ctx_start(&t, true);
    while ((cap = qpci_find_capability(t.pdev, PCI_CAP_ID_VNDR, cap))) {
        uint8_t type = qpci_config_readb(t.pdev, cap + 3);
        uint64_t offset, length;
        uint8_t id;

        if (type != VIRTIO_PCI_CAP_SHARED_MEMORY_CFG) {
            g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 4), !=,
                             SHMEM_BAR);
            continue;
        }
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 2), ==,
                         sizeof(struct virtio_pci_cap64));
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 4), ==, SHMEM_BAR);
        id = qpci_config_readb(t.pdev, cap + 5);
        offset = qpci_config_readl(t.pdev, cap + 8) |
                 (uint64_t)qpci_config_readl(t.pdev, cap + 16) << 32;
        length = qpci_config_readl(t.pdev, cap + 12) |
                 (uint64_t)qpci_config_readl(t.pdev, cap + 20) << 32;
        if (id == 0) {
            g_assert_cmphex(offset, ==, 0);
            g_assert_cmphex(length, ==, REGION0_SIZE);
        } else {
            g_assert_cmpuint(id, ==, 2);
            g_assert_cmphex(offset, ==, REGION2_OFFSET);
            g_assert_cmphex(length, ==, REGION2_SIZE);
        }
        found++;
    }
    g_assert_cmpint(found, ==, 2);

    /* 64-bit prefetchable memory BAR */
    g_assert_cmphex(qpci_config_readl(t.pdev, PCI_BASE_ADDRESS_0 +
                                      4 * SHMEM_BAR) & 0xf, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY |
                    PCI_BASE_ADDRESS_MEM_TYPE_64 |
                    PCI_BASE_ADDRESS_MEM_PREFETCH);

    regions = query_regions(&t, &resp);
    g_assert_nonnull(regions);
    g_assert_cmpint(qlist_size(regions), ==, 2);
    qobject_unref(resp);

    g_assert_cmpint(vu_test_backend_wait_request(
                        t.be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, 0), >=, 0);
    ctx_stop(&t);
}

/* Bring the device to DRIVER_OK: vhost only reports once started */
static QVirtioPCIDevice *ctx_driver_start(TestCtx *t, QVirtQueue **vq)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    QVirtioPCIDevice *dev = virtio_pci_new(t->pcibus, &addr);

    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    qvirtio_start_device(&dev->vdev);
    qvirtio_set_features(&dev->vdev, 1ULL << VIRTIO_F_VERSION_1);
    *vq = qvirtqueue_setup(&dev->vdev, &t->alloc, 0);
    qvirtio_set_driver_ok(&dev->vdev);
    g_assert_cmpint(vu_test_backend_wait_request(
                        t->be, VU_TEST_REQ_SET_VRING_ENABLE, 0, TIMEOUT_MS),
                    >=, 0);
    return dev;
}

static void ctx_driver_stop(TestCtx *t, QVirtioPCIDevice *dev, QVirtQueue *vq)
{
    qvirtqueue_cleanup(dev->vdev.bus, vq, &t->alloc);
    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
}

/* The feature shows by name in x-query-virtio-status */
static void test_status_feature(void)
{
    TestCtx t = { 0 };
    QDict *resp, *status, *vhost, *protocols;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    QList *names;
    QListEntry *e;
    bool found = false;

    ctx_start(&t, true);
    dev = ctx_driver_start(&t, &vq);
    resp = qtest_qmp(t.qts, "{'execute': 'x-query-virtio-status',"
                     " 'arguments': {'path':"
                     " '/machine/peripheral/vdev0/virtio-backend'}}");
    status = qdict_get_qdict(resp, "return");
    g_assert_nonnull(status);
    g_assert(qdict_get_bool(status, "vhost-started"));
    vhost = qdict_get_qdict(status, "vhost-dev");
    g_assert_nonnull(vhost);
    protocols = qdict_get_qdict(vhost, "protocol-features");
    g_assert_nonnull(protocols);
    names = qdict_get_qlist(protocols, "protocols");
    QLIST_FOREACH_ENTRY(names, e) {
        const char *name = qstring_get_str(qobject_to(QString,
                                                      qlist_entry_obj(e)));

        found |= g_str_has_prefix(name, "VHOST_USER_PROTOCOL_F_SHMEM:");
    }
    g_assert(found);
    qobject_unref(resp);
    ctx_driver_stop(&t, dev, vq);
    ctx_stop(&t);
}

/* A backend without F_SHMEM gives the device it always gave */
static void test_no_shmem_feature(void)
{
    TestCtx t = { 0 };
    uint8_t cap = 0;
    QDict *resp;

    ctx_start(&t, false);
    g_assert_cmphex(vu_test_backend_get_acked_protocol_features(t.be) &
                    (1ULL << VU_TEST_PROTOCOL_F_SHMEM), ==, 0);
    while ((cap = qpci_find_capability(t.pdev, PCI_CAP_ID_VNDR, cap))) {
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 3), !=,
                         VIRTIO_PCI_CAP_SHARED_MEMORY_CFG);
    }
    g_assert_cmphex(qpci_config_readl(t.pdev, PCI_BASE_ADDRESS_0 +
                                      4 * SHMEM_BAR), ==, 0);
    g_assert_null(query_regions(&t, &resp));
    qobject_unref(resp);
    g_assert_cmpint(vu_test_backend_wait_request(
                        t.be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, 0), ==, -1);

    /* MAP without the feature is refused */
    g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, t.memfd), !=, 0);
    assert_alive(&t);
    ctx_stop(&t);
}

/*
 * Map before any driver touched the device, then read and write through
 * the BAR and see the backend's memfd change.
 */
static void test_map_rw(void)
{
    TestCtx t = { 0 };
    uint8_t buf[2 * PAGE];
    uint8_t pattern[PAGE];
    QDict *resp, *m;
    QList *regions, *maps;

    ctx_start(&t, true);
    ctx_map_bar(&t);

    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x10000, 2 * PAGE, MAP_RW,
                              t.memfd), ==, 0);
    bar_read(&t, 0x10000, buf, sizeof(buf));
    g_assert(memcmp(buf, t.mem + PAGE, sizeof(buf)) == 0);

    memset(pattern, 0x5a, sizeof(pattern));
    bar_write(&t, 0x11000, pattern, sizeof(pattern));
    g_assert(memcmp(t.mem + 2 * PAGE, pattern, sizeof(pattern)) == 0);

    /* The backend writes, the guest sees it */
    t.mem[PAGE + 8] ^= 0xff;
    bar_read(&t, 0x10000 + 8, buf, 1);
    g_assert_cmphex(buf[0], ==, t.mem[PAGE + 8]);

    /* A mapping in region 2, which sits after region 0 in the BAR */
    g_assert_cmphex(shmem_map(&t, 2, 0, REGION2_SIZE - PAGE, PAGE, MAP_RW,
                              t.memfd), ==, 0);
    bar_read(&t, REGION2_OFFSET + REGION2_SIZE - PAGE, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);

    regions = query_regions(&t, &resp);
    m = qobject_to(QDict, qlist_peek(qdict_get_qlist(
            qobject_to(QDict, qlist_peek(regions)), "mappings")));
    g_assert_cmpint(qdict_get_int(m, "shm-offset"), ==, 0x10000);
    g_assert_cmpint(qdict_get_int(m, "len"), ==, 2 * PAGE);
    g_assert_cmpint(qdict_get_int(m, "fd-offset"), ==, PAGE);
    g_assert(qdict_get_bool(m, "rw"));
    maps = qdict_get_qlist(qobject_to(QDict, qlist_peek(regions)),
                           "mappings");
    g_assert_cmpint(qlist_size(maps), ==, 1);
    qobject_unref(resp);
    g_assert_cmpint(count_mappings(&t, 2), ==, 1);

    ctx_stop(&t);
}

/*
 * A regular file whose size is not a multiple of the page size maps up to
 * the end of the page that holds its end (virtiofs DAX maps the last page
 * of a file), which reads as zeroes past the end; not a page further (a
 * guest access there would SIGBUS QEMU).  The file never grows.
 */
static void test_map_file_tail(void)
{
    TestCtx t = { 0 };
    g_autofree char *path = NULL;
    uint8_t data[PAGE + 100], buf[2 * PAGE], zero[PAGE] = { 0 };
    struct stat st;
    int fd;

    ctx_start(&t, true);
    ctx_map_bar(&t);
    fd = g_file_open_tmp("vhost-user-shmem-tail-XXXXXX", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    memset(data, 0x3c, sizeof(data));
    g_assert_cmpint(write(fd, data, sizeof(data)), ==, sizeof(data));

    g_assert_cmphex(shmem_map(&t, 0, 0, 0x20000, 2 * PAGE, MAP_RW, fd), ==,
                    0);
    bar_read(&t, 0x20000, buf, sizeof(buf));
    g_assert(memcmp(buf, data, sizeof(data)) == 0);
    g_assert(memcmp(buf + sizeof(data), zero, sizeof(buf) - sizeof(data))
             == 0);
    /* A page wholly past the end */
    g_assert_cmphex(shmem_map(&t, 0, 0, 0x40000, 3 * PAGE, MAP_RW, fd), !=,
                    0);
    g_assert_cmphex(shmem_map(&t, 0, 2 * PAGE, 0x40000, PAGE, MAP_RW, fd),
                    !=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, sizeof(data));

    ctx_stop(&t);
    close(fd);
    unlink(path);
}

/*
 * Maps a page with @flags and checks the trace: the mapping was there
 * before the reply went, in the window with no new memory map at all
 * (@in_window), or with a MemoryRegion whose FlatView came before the
 * reply and none after
 */
static void check_map_before_reply(TestCtx *t, const char *log,
                                   uint64_t shm_offset, uint64_t flags,
                                   bool in_window)
{
    g_autofree char *text = NULL;
    const char *map_start, *reply, *event;
    gsize before;

    g_assert(g_file_get_contents(log, &text, &before, NULL));
    g_clear_pointer(&text, g_free);
    g_assert_cmphex(shmem_map(t, 0, 0, shm_offset, PAGE, flags, t->memfd),
                    ==, 0);
    assert_alive(t);
    g_assert(g_file_get_contents(log, &text, NULL, NULL));
    map_start = text + before;
    reply = strstr(map_start, "vhost_user_backend_reply req:9 ret:0");
    g_assert_nonnull(reply);
    event = strstr(map_start, "virtio_shmem_map ");
    g_assert_nonnull(event);
    g_assert_nonnull(strstr(event, in_window ? "window 1" : "window 0"));
    g_assert_cmpint(event - text, <, reply - text);
    if (in_window) {
        g_assert_null(strstr(map_start, "flatview_new "));
    } else {
        event = strstr(map_start, "flatview_new ");
        g_assert_nonnull(event);
        g_assert_cmpint(event - text, <, reply - text);
        g_assert_null(strstr(reply, "flatview_new "));
    }
}

/*
 * The back-end may tell the driver about a mapping as soon as it has the
 * reply, so the mapping must be visible to the guest before the reply is
 * sent, not in the same handler after it: in the window once the host
 * mapping is there (virtio_shmem_map), with no new memory map at all,
 * writable or read-only; without a window once its new FlatView is.
 */
static void test_map_visible_before_reply(const void *data)
{
    bool window = GPOINTER_TO_INT(data);
    TestCtx t = { 0 };
    g_autofree char *log = NULL;
    g_autofree char *args = NULL;
    int log_fd;

    log_fd = g_file_open_tmp("vhost-user-shmem-trace-XXXXXX", &log, NULL);
    g_assert_cmpint(log_fd, >=, 0);
    close(log_fd);
    args = g_strdup_printf("-trace flatview_new -trace virtio_shmem_map "
                           "-trace vhost_user_backend_reply -D %s%s", log,
                           window ? "" :
                           " -global virtio-device.x-shmem-window=off");
    t.extra_args = args;
    ctx_start(&t, true);
    ctx_map_bar(&t);
    assert_alive(&t);
    check_map_before_reply(&t, log, 0x20000, MAP_RW, window);
    check_map_before_reply(&t, log, 0x40000, 0, window);
    ctx_stop(&t);
    unlink(log);
}

static void test_unmap(void)
{
    TestCtx t = { 0 };
    uint8_t buf[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_map(&t, 0, 0, 0x20000, 2 * PAGE, MAP_RW,
                              t.memfd), ==, 0);
    g_assert_cmphex(shmem_map(&t, 0, 2 * PAGE, 0x40000, PAGE, MAP_RW,
                              t.memfd), ==, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, 2);

    /* Not exactly one mapping: refused, nothing changes */
    g_assert_cmphex(shmem_unmap(&t, 0, 0x20000, PAGE), !=, 0);
    g_assert_cmphex(shmem_unmap(&t, 0, 0x21000, PAGE), !=, 0);
    g_assert_cmphex(shmem_unmap(&t, 0, 0x20000, 0x21000), !=, 0);
    g_assert_cmphex(shmem_unmap(&t, 0, 0x30000, PAGE), !=, 0);
    g_assert_cmphex(shmem_unmap(&t, 2, 0x20000, 2 * PAGE), !=, 0);
    g_assert_cmphex(shmem_unmap(&t, 1, 0x20000, 2 * PAGE), !=, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, 2);
    bar_read(&t, 0x20000, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);

    g_assert_cmphex(shmem_unmap(&t, 0, 0x20000, 2 * PAGE), ==, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, 1);
    /* No host memory behind it any more: the guest reads no data */
    bar_read(&t, 0x20000, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) != 0);
    /* The other mapping is untouched */
    bar_read(&t, 0x40000, buf, PAGE);
    g_assert(memcmp(buf, t.mem + 2 * PAGE, PAGE) == 0);

    /* The range is free again */
    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x20000, PAGE, MAP_RW,
                              t.memfd), ==, 0);
    bar_read(&t, 0x20000, buf, PAGE);
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) == 0);
    ctx_stop(&t);
}

/* Unmapping releases the fd and the host mapping */
static void test_release(void)
{
    TestCtx t = { 0 };
    int maps, fds;

    ctx_start(&t, true);
    count_memfd_uses(&t, &maps, &fds);
    g_assert_cmpint(maps, ==, 0);
    g_assert_cmpint(fds, ==, 0);

    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(shmem_map(&t, 0, i * PAGE, i * 0x10000, PAGE,
                                  i ? MAP_RW : 0, t.memfd), ==, 0);
    }
    /* All three in the window, the read-only one too: no fd kept */
    g_assert(wait_memfd_uses(&t, 3, 0));

    /* A refused map keeps nothing either */
    for (int i = 0; i < 10; i++) {
        g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, t.memfd), !=,
                        0);
    }
    g_assert(wait_memfd_uses(&t, 3, 0));

    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(shmem_unmap(&t, 0, i * 0x10000, PAGE), ==, 0);
    }
    g_assert(wait_memfd_released(&t));
    ctx_stop(&t);
}

/* Whether all of @buf is @byte */
static bool all_bytes(const uint8_t *buf, size_t len, uint8_t byte)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != byte) {
            return false;
        }
    }
    return true;
}

/* Whether "info mtree" shows a MemoryRegion named @name */
static bool mtree_has(TestCtx *t, const char *name)
{
    g_autofree char *mtree = qtest_hmp(t->qts, "info mtree");

    return strstr(mtree, name) != NULL;
}

/*
 * A read-only mapping reads the file, and a guest write never reaches the
 * file: in the window it lands in a private copy of the page, which the
 * guest alone sees until the range is unmapped
 */
static void test_read_only(void)
{
    TestCtx t = { 0 };
    uint8_t before[PAGE], buf[PAGE], junk[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    memcpy(before, t.mem + 3 * PAGE, PAGE);
    g_assert_cmphex(shmem_map(&t, 0, 3 * PAGE, 0, PAGE, 0, t.memfd), ==, 0);
    g_assert_false(mtree_has(&t, "mapping-0x0"));
    bar_read(&t, 0, buf, PAGE);
    g_assert(memcmp(buf, before, PAGE) == 0);

    /* The back-end's writes show until the guest writes the page */
    memset(t.mem + 3 * PAGE, 0x3c, 16);
    bar_read(&t, 0, buf, PAGE);
    g_assert_true(all_bytes(buf, 16, 0x3c));
    memcpy(t.mem + 3 * PAGE, before, 16);

    memset(junk, 0xee, sizeof(junk));
    bar_write(&t, 0, junk, sizeof(junk));
    g_assert(memcmp(t.mem + 3 * PAGE, before, PAGE) == 0);
    bar_read(&t, 0, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0xee));
    assert_alive(&t);

    /* Mapped again: the file's bytes, the copy is gone */
    g_assert_cmphex(shmem_unmap(&t, 0, 0, PAGE), ==, 0);
    g_assert_cmphex(shmem_map(&t, 0, 3 * PAGE, 0, PAGE, 0, t.memfd), ==, 0);
    bar_read(&t, 0, buf, PAGE);
    g_assert(memcmp(buf, before, PAGE) == 0);
    g_assert(memcmp(t.mem + 3 * PAGE, before, PAGE) == 0);
    ctx_stop(&t);
}

/*
 * A read-only fd (what virtiofs DAX sends for a file the guest opened
 * read-only) maps read-only into the window, keeps no fd, and a guest
 * write changes neither the file nor what the back-end sees; mapped
 * writable, it is refused
 */
static void test_read_only_fd(void)
{
    TestCtx t = { 0 };
    g_autofree char *path = NULL;
    uint8_t before[PAGE], buf[PAGE], junk[PAGE];
    int fd;

    ctx_start(&t, true);
    ctx_map_bar(&t);
    path = g_strdup_printf("/proc/self/fd/%d", t.memfd);
    fd = open(path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    memcpy(before, t.mem + 2 * PAGE, PAGE);

    g_assert_cmphex(shmem_map(&t, 0, 2 * PAGE, 0x10000, PAGE, MAP_RW, fd),
                    !=, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, 0);
    g_assert_cmphex(shmem_map(&t, 0, 2 * PAGE, 0x10000, PAGE, 0, fd), ==, 0);
    g_assert_false(mtree_has(&t, "mapping-0x10000"));
    g_assert(wait_memfd_uses(&t, 1, 0));
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert(memcmp(buf, before, PAGE) == 0);

    memset(junk, 0x77, sizeof(junk));
    bar_write(&t, 0x10000, junk, PAGE);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0x77));
    g_assert(memcmp(t.mem + 2 * PAGE, before, PAGE) == 0);
    assert_alive(&t);

    g_assert_cmphex(shmem_unmap(&t, 0, 0x10000, PAGE), ==, 0);
    g_assert(wait_memfd_released(&t));
    close(fd);
    ctx_stop(&t);
}

typedef struct BadMap {
    const char *what;
    uint8_t shmid;
    uint64_t fd_offset, shm_offset, len, flags;
    bool no_fd;
} BadMap;

/* Every rule of SHMEM_MAP: refused, nothing mapped, QEMU keeps running */
static void test_bad_map(void)
{
    static const BadMap bad[] = {
        { "overlap start", 0, 0, 0x80000 - PAGE, 2 * PAGE, MAP_RW },
        { "overlap end", 0, 0, 0x80000 + PAGE, PAGE, MAP_RW },
        { "overlap inside", 0, 0, 0x80000, PAGE, MAP_RW },
        { "past region end", 0, 0, REGION0_SIZE - PAGE, 2 * PAGE, MAP_RW },
        { "at region end", 0, 0, REGION0_SIZE, PAGE, MAP_RW },
        { "shm_offset+len overflows", 0, 0, 0xfffffffffffff000ULL,
          2 * PAGE, MAP_RW },
        { "fd_offset+len overflows", 0, 0xfffffffffffff000ULL, 0,
          2 * PAGE, MAP_RW },
        { "past end of fd", 0, 2 * PAGE, 0, 3 * PAGE, MAP_RW },
        { "unknown shmid", 1, 0, 0, PAGE, MAP_RW },
        { "unknown shmid 200", 200, 0, 0, PAGE, MAP_RW },
        { "len 0", 0, 0, 0, 0, MAP_RW },
        { "unaligned shm_offset", 0, 0, 0x800, PAGE, MAP_RW },
        { "unaligned fd_offset", 0, 0x800, 0, PAGE, MAP_RW },
        { "unaligned len", 0, 0, 0, 0x800, MAP_RW },
        { "missing fd", 0, 0, 0, PAGE, MAP_RW, true },
        { "unknown flags", 0, 0, 0, PAGE, MAP_RW | 2 },
        { "unknown high flag", 0, 0, 0, PAGE, 1ULL << 63 },
    };
    TestCtx t = { 0 };
    uint8_t buf[PAGE];
    VuTestMMap req = { .len = PAGE };
    uint64_t reply;

    ctx_start(&t, true);
    ctx_map_bar(&t);
    /* What the overlap cases overlap */
    g_assert_cmphex(shmem_map(&t, 0, 0, 0x80000, 2 * PAGE, MAP_RW,
                              t.memfd), ==, 0);

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        g_test_message("bad SHMEM_MAP: %s", bad[i].what);
        reply = shmem_map(&t, bad[i].shmid, bad[i].fd_offset,
                          bad[i].shm_offset, bad[i].len, bad[i].flags,
                          bad[i].no_fd ? -1 : t.memfd);
        g_assert_cmphex(reply, !=, 0);
        g_assert_cmpint(count_mappings(&t, 0), ==, 1);
        g_assert_cmpint(count_mappings(&t, 2), ==, 0);
        assert_alive(&t);
    }

    /* A short payload */
    g_assert_cmpint(vu_test_backend_send_backend_msg(
                        t.be, VU_TEST_BACKEND_REQ_SHMEM_MAP,
                        VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY,
                        &req, sizeof(req) - 8, t.memfd), ==, 0);
    g_assert_cmpint(vu_test_backend_recv_backend_reply(
                        t.be, VU_TEST_BACKEND_REQ_SHMEM_MAP, TIMEOUT_MS,
                        &reply), ==, 0);
    g_assert_cmphex(reply, !=, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, 1);

    /* The guest lost nothing */
    bar_read(&t, 0x80000, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);
    ctx_stop(&t);
}

/* Many mappings in one region, then all gone again */
static void test_many_mappings(void)
{
    TestCtx t = { 0 };
    const int n = 128;
    uint8_t buf[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    for (int i = 0; i < n; i++) {
        g_assert_cmphex(shmem_map(&t, 0, (i % 4) * PAGE, i * 2 * PAGE, PAGE,
                                  MAP_RW, t.memfd), ==, 0);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, n);
    bar_read(&t, 5 * 2 * PAGE, buf, PAGE);
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) == 0);
    for (int i = n - 1; i >= 0; i--) {
        g_assert_cmphex(shmem_unmap(&t, 0, i * 2 * PAGE, PAGE), ==, 0);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, 0);
    ctx_stop(&t);
}

/*
 * The guest's memory map has room for a few thousand ranges (the memory
 * core's dispatch tables): mapping on is refused before QEMU runs out,
 * nothing mapped is lost, and unmapping makes room again.
 */
static void test_fill_region(void)
{
    TestCtx t = { 0 };
    uint64_t region_size = 32 * 1024 * 1024, bar_size;
    QPCIBar bar;
    uint8_t buf[PAGE];
    int n;

    ctx_start_sized(&t, true, region_size);
    for (n = 0; n < region_size / PAGE; n++) {
        g_assert_cmphex(shmem_map(&t, 0, (n % 4) * PAGE, n * PAGE, PAGE,
                                  MAP_RW, t.memfd), ==, 0);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, n);
    assert_alive(&t);

    qpci_device_enable(t.pdev);
    bar = qpci_iomap(t.pdev, SHMEM_BAR, &bar_size);
    g_assert_cmphex(bar_size, ==, 2 * region_size);
    for (int i = 0; i < n; i += n / 7) {
        qtest_memread(t.qts, bar.addr + i * PAGE, buf, PAGE);
        g_assert(memcmp(buf, t.mem + (i % 4) * PAGE, PAGE) == 0);
    }

    g_assert_cmphex(shmem_unmap(&t, 0, 0, PAGE), ==, 0);
    g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, t.memfd), ==, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, n);
    /* No fd per mapping, and every page of the memfd mapped */
    g_assert(wait_memfd_uses(&t, n, 0));
    ctx_stop(&t);
}

/* Lower QEMU's soft RLIMIT_NOFILE to what it has open, plus @room */
static void limit_fds(TestCtx *t, struct rlimit *old, int room)
{
    g_autofree char *fd_path = g_strdup_printf("/proc/%d/fd",
                                               (int)qtest_pid(t->qts));
    struct rlimit low;
    GDir *dir = g_dir_open(fd_path, 0, NULL);

    g_assert_cmpint(prlimit(qtest_pid(t->qts), RLIMIT_NOFILE, NULL, old), ==,
                    0);
    low = *old;
    low.rlim_cur = room;
    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        low.rlim_cur++;
    }
    g_dir_close(dir);
    g_assert_cmpint(prlimit(qtest_pid(t->qts), RLIMIT_NOFILE, &low, NULL), ==,
                    0);
}

/*
 * Out of file descriptors, QEMU receives a SHMEM_MAP without its fd, or
 * one that a mapping outside of a window (a RAMBlock keeps its fd) cannot
 * keep: the request is refused, what is mapped stays, and mapping works
 * again once fds are free.
 */
static void test_out_of_fds(void)
{
    TestCtx t = { .extra_args = "-global virtio-device.x-shmem-window=off" };
    struct rlimit old;
    int n;
    uint8_t buf[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    /* Room for a few more fds only */
    limit_fds(&t, &old, 4);

    for (n = 0; n < 64; n++) {
        if (shmem_map(&t, 0, (n % 4) * PAGE, n * PAGE, PAGE, 0, t.memfd)) {
            break;
        }
    }
    g_test_message("refused after %d mappings", n);
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(n, <, 64);
    g_assert_cmpint(count_mappings(&t, 0), ==, n);
    assert_alive(&t);
    for (int i = 0; i < n; i++) {
        bar_read(&t, i * PAGE, buf, PAGE);
        g_assert(memcmp(buf, t.mem + (i % 4) * PAGE, PAGE) == 0);
    }

    g_assert_cmpint(prlimit(qtest_pid(t.qts), RLIMIT_NOFILE, &old, NULL), ==,
                    0);
    g_assert_cmphex(shmem_map(&t, 0, 0, n * PAGE, PAGE, 0, t.memfd), ==, 0);
    g_assert_cmpint(count_mappings(&t, 0), ==, n + 1);
    ctx_stop(&t);
}

/*
 * Mappings live in the region's window and keep no fd, writable and
 * read-only alike: with room for 4 more fds, 64 of them map, and QEMU
 * holds none of their fds
 */
static void test_window_no_fds(void)
{
    TestCtx t = { 0 };
    struct rlimit old;
    uint8_t buf[PAGE];
    int n;

    ctx_start(&t, true);
    ctx_map_bar(&t);
    limit_fds(&t, &old, 4);
    for (n = 0; n < 64; n++) {
        g_assert_cmphex(shmem_map(&t, 0, (n % 4) * PAGE, n * PAGE, PAGE,
                                  n % 2 ? MAP_RW : 0, t.memfd), ==, 0);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, 64);
    g_assert(wait_memfd_uses(&t, 64, 0));
    for (int i = 0; i < n; i += 7) {
        bar_read(&t, i * PAGE, buf, PAGE);
        g_assert(memcmp(buf, t.mem + (i % 4) * PAGE, PAGE) == 0);
    }
    g_assert_cmpint(prlimit(qtest_pid(t.qts), RLIMIT_NOFILE, &old, NULL), ==,
                    0);
    ctx_stop(&t);
}

/* How many memory areas process @pid has (lines of /proc/PID/maps) */
static int count_vmas(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)pid);
    g_autofree char *text = NULL;
    int n = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    for (const char *p = text; *p; p++) {
        n += *p == '\n';
    }
    return n;
}

/*
 * At the host's limit of memory mappings (vm.max_map_count), QEMU refuses
 * a MAP itself, before the kernel would, keeping a reserve for the rest of
 * QEMU; nothing mapped is lost, and an UNMAP still goes through.  Needs a
 * limit that 62,000 mappings reach: skipped where the sysctl is higher.
 */
static void test_vma_limit(void)
{
    TestCtx t = { 0 };
    /* With region 2 after it, the BAR is 256 MiB: what libqos can place */
    uint64_t region_size = 248 * 1024 * 1024ULL, bar_size;
    int pages = region_size / PAGE, n, vmas;
    g_autofree char *sysctl = NULL;
    uint64_t max_map_count;
    uint8_t buf[PAGE];
    QPCIBar bar;

    g_assert_true(g_file_get_contents("/proc/sys/vm/max_map_count", &sysctl,
                                      NULL, NULL));
    g_assert_cmpint(qemu_strtou64(g_strstrip(sysctl), NULL, 10,
                                  &max_map_count), ==, 0);
    ctx_start_sized(&t, true, region_size);
    vmas = count_vmas(qtest_pid(t.qts));
    /* QEMU refuses 4096 areas before the limit */
    if (vmas + pages + 4096 < max_map_count) {
        g_autofree char *why = g_strdup_printf(
            "vm.max_map_count is %" PRIu64 ": %d mappings cannot reach it",
            max_map_count, pages);

        g_test_skip(why);
        ctx_stop(&t);
        return;
    }
    qpci_device_enable(t.pdev);
    bar = qpci_iomap(t.pdev, SHMEM_BAR, &bar_size);
    /*
     * Pages 0 and 2 of the memfd in turn: the kernel cannot merge them.
     * In batches of 1024 whose last request alone waits for its reply, until
     * one is refused: 60,000 round trips would take long.
     */
    for (n = 0; n < pages; n++) {
        VuTestMMap req = {
            .fd_offset = (n % 2) * 2 * PAGE,
            .shm_offset = n * PAGE,
            .len = PAGE,
            .flags = MAP_RW,
        };
        bool sync = n % 1024 == 1023 || n == pages - 1;
        uint64_t reply = 0;

        g_assert_cmpint(vu_test_backend_backend_request(
                            t.be, VU_TEST_BACKEND_REQ_SHMEM_MAP, &req,
                            sizeof(req), t.memfd, sync, TIMEOUT_MS, &reply),
                        ==, 0);
        if (reply) {
            break;
        }
    }
    /* The requests are handled in order: the refused ones are the last */
    g_assert_cmpint(query_page(&t, -1, 0, 0, &n, NULL, 0),
                    ==, 0);
    vmas = count_vmas(qtest_pid(t.qts));
    g_test_message("refused after %d mappings, with %d memory areas of "
                   "%" PRIu64, n, vmas, max_map_count);
    g_assert_cmpint(n, >, 1000);
    g_assert_cmpint(n, <, pages);
    /* The refusal was QEMU's own: it kept its reserve */
    g_assert_cmpint(vmas + 2048, <=, max_map_count);
    assert_alive(&t);
    for (int i = 0; i < n; i += n / 7) {
        qtest_memread(t.qts, bar.addr + i * PAGE, buf, PAGE);
        g_assert(memcmp(buf, t.mem + (i % 2) * 2 * PAGE, PAGE) == 0);
    }

    /* An UNMAP still goes through at the limit */
    g_assert_cmphex(shmem_unmap(&t, 0, PAGE, PAGE), ==, 0);
    qtest_memread(t.qts, bar.addr + PAGE, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    g_assert_cmpint(query_page(&t, -1, 0, 0, &vmas, NULL, 0),
                    ==, 0);
    g_assert_cmpint(vmas, ==, n - 1);
    ctx_stop(&t);
}

/*
 * x-query-virtio-shmem a page at a time: @from (mappings that end past
 * it), @max-mappings (0: only the count), nr-mappings always the total
 */
static void test_query_pages(void)
{
    TestCtx t = { 0 };
    uint64_t offsets[10];
    int nr;

    ctx_start(&t, true);
    for (int i = 0; i < 10; i++) {
        g_assert_cmphex(shmem_map(&t, 0, 0, i * 0x10000, PAGE, MAP_RW,
                                  t.memfd), ==, 0);
    }
    g_assert_cmpint(query_page(&t, -1, -1, 0, &nr, offsets, 10), ==, 10);
    g_assert_cmpint(nr, ==, 10);
    g_assert_cmphex(offsets[9], ==, 0x90000);
    g_assert_cmpint(query_page(&t, -1, 0, 0, &nr, offsets,
                               0), ==, 0);
    g_assert_cmpint(nr, ==, 10);
    /* 0x30000's page ends before 0x32000: the page starts at 0x40000 */
    g_assert_cmpint(query_page(&t, 0x32000, 3, 0,
                               &nr, offsets, 3), ==, 3);
    g_assert_cmpint(nr, ==, 10);
    g_assert_cmphex(offsets[0], ==, 0x40000);
    g_assert_cmphex(offsets[2], ==, 0x60000);
    /* From inside a mapping: that mapping first */
    g_assert_cmpint(query_page(&t, 0x40800, -1, 0, &nr, offsets, 10),
                    ==, 6);
    g_assert_cmphex(offsets[0], ==, 0x40000);
    /* Past the last one: none listed, all counted */
    g_assert_cmpint(query_page(&t, 0x100000, -1, 0, &nr, offsets, 10),
                    ==, 0);
    g_assert_cmpint(nr, ==, 10);
    ctx_stop(&t);
}

/*
 * Holes of the window: a guest write stays there (anonymous memory of
 * the window) until a MAP or UNMAP of the range or a reset, after which
 * it reads as zeroes; no byte of an unmapped file shows.
 */
static void test_window_holes(void)
{
    TestCtx t = { 0 };
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    QVirtioPCIDevice *dev;
    uint8_t before[PAGE], buf[PAGE], junk[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    memcpy(before, t.mem + PAGE, PAGE);
    memset(junk, 0xee, sizeof(junk));
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    bar_write(&t, 0x10000, junk, PAGE);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert(memcmp(buf, junk, PAGE) == 0);

    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x10000, PAGE, MAP_RW, t.memfd),
                    ==, 0);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert(memcmp(buf, before, PAGE) == 0);
    g_assert(memcmp(t.mem + PAGE, before, PAGE) == 0);
    /* The window holds it: no MemoryRegion, no memory map change */
    g_assert_true(mtree_has(&t, "shmem-0-window"));
    g_assert_false(mtree_has(&t, "mapping-0x10000"));

    g_assert_cmphex(shmem_unmap(&t, 0, 0x10000, PAGE), ==, 0);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    g_assert(memcmp(t.mem + PAGE, before, PAGE) == 0);

    /* A reset empties the whole window, mapped or not */
    bar_write(&t, 0x20000, junk, PAGE);
    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x10000, PAGE, MAP_RW, t.memfd),
                    ==, 0);
    dev = virtio_pci_new(t.pcibus, &addr);
    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    qvirtio_start_device(&dev->vdev);
    qvirtio_reset(&dev->vdev);
    g_assert_cmpint(count_mappings(&t, 0), ==, 0);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    bar_read(&t, 0x20000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    g_assert(wait_memfd_released(&t));
    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
    ctx_stop(&t);
}

/*
 * A read-only mapping goes into the window too, privately: over a hole
 * the guest wrote, it shows the file; a guest write there changes only the
 * guest's copy of the page, never the file; when it goes, the range reads
 * zeroes, and no byte of the file or of the copy shows
 */
static void test_window_read_only_over_hole(void)
{
    TestCtx t = { 0 };
    uint8_t before[PAGE], buf[PAGE], junk[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    memcpy(before, t.mem + 3 * PAGE, PAGE);
    memset(junk, 0xee, sizeof(junk));
    bar_write(&t, 0, junk, PAGE);
    g_assert_cmphex(shmem_map(&t, 0, 3 * PAGE, 0, PAGE, 0, t.memfd), ==, 0);
    g_assert_false(mtree_has(&t, "mapping-0x0"));
    bar_read(&t, 0, buf, PAGE);
    g_assert(memcmp(buf, before, PAGE) == 0);
    memset(junk, 0x55, sizeof(junk));
    bar_write(&t, 0, junk, PAGE);
    bar_read(&t, 0, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0x55));
    g_assert(memcmp(t.mem + 3 * PAGE, before, PAGE) == 0);

    g_assert_cmphex(shmem_unmap(&t, 0, 0, PAGE), ==, 0);
    bar_read(&t, 0, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0));
    g_assert(memcmp(t.mem + 3 * PAGE, before, PAGE) == 0);
    g_assert(wait_memfd_released(&t));
    ctx_stop(&t);
}

/*
 * A memfd of one 2 MiB huge page filled with @byte, mapped; NULL (and the
 * case skipped) without a free huge page
 */
static uint8_t *huge_page_filled(uint64_t huge, uint8_t byte, int *fdp)
{
    uint8_t *mem = MAP_FAILED;
    int fd = memfd_create("vhost-user-shmem-test-huge",
                          MFD_CLOEXEC | MFD_HUGETLB);

    if (fd >= 0 && ftruncate(fd, huge) == 0) {
        mem = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (mem == MAP_FAILED) {
        g_test_skip("no 2 MiB huge page to map (vm.nr_hugepages)");
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    memset(mem, byte, huge);
    *fdp = fd;
    return mem;
}

/*
 * A writable mapping that the kernel cannot move into the window (2 MiB
 * hugetlbfs pages at an offset that is not a multiple of 2 MiB) becomes a
 * MemoryRegion of its own, and works.  Needs free 2 MiB huge pages:
 * skipped without.
 */
static void test_window_unmovable(void)
{
    TestCtx t = { 0 };
    uint64_t huge = 2 * 1024 * 1024;
    uint8_t buf[PAGE];
    int fd;
    uint8_t *mem = huge_page_filled(huge, 0x5a, &fd);

    if (!mem) {
        return;
    }
    ctx_start(&t, true);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_map(&t, 0, 0, PAGE, huge, MAP_RW, fd), ==, 0);
    g_assert_true(mtree_has(&t, "mapping-0x1000"));
    bar_read(&t, PAGE, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0x5a));
    memset(buf, 0xa5, PAGE);
    bar_write(&t, PAGE, buf, PAGE);
    g_assert_true(all_bytes(mem, PAGE, 0xa5));
    g_assert_cmphex(shmem_unmap(&t, 0, PAGE, huge), ==, 0);
    ctx_stop(&t);
    munmap(mem, huge);
    close(fd);
}

/*
 * Read-only hugetlbfs pages stay out of the window: a private copy would
 * need a free huge page when the guest writes (QEMU would get SIGBUS
 * without one).  A MemoryRegion of their own drops guest writes.  Needs a
 * free 2 MiB huge page: skipped without.
 */
static void test_window_read_only_huge(void)
{
    TestCtx t = { 0 };
    uint64_t huge = 2 * 1024 * 1024;
    uint8_t buf[PAGE];
    int fd;
    uint8_t *mem = huge_page_filled(huge, 0x5a, &fd);

    if (!mem) {
        return;
    }
    ctx_start(&t, true);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_map(&t, 0, 0, 0, huge, 0, fd), ==, 0);
    g_assert_true(mtree_has(&t, "mapping-0x0"));
    bar_read(&t, PAGE, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0x5a));
    memset(buf, 0xa5, PAGE);
    bar_write(&t, PAGE, buf, PAGE);
    bar_read(&t, PAGE, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0x5a));
    g_assert_true(all_bytes(mem + PAGE, PAGE, 0x5a));
    assert_alive(&t);
    g_assert_cmphex(shmem_unmap(&t, 0, 0, huge), ==, 0);
    ctx_stop(&t);
    munmap(mem, huge);
    close(fd);
}

/*
 * x-shmem-window=off: every mapping is a MemoryRegion that keeps its fd,
 * a read-only one drops guest writes, and holes are holes: guest writes
 * there go nowhere
 */
static void test_window_off(void)
{
    TestCtx t = { .extra_args = "-global virtio-device.x-shmem-window=off" };
    uint8_t buf[PAGE], junk[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    memset(junk, 0xee, sizeof(junk));
    bar_write(&t, 0x10000, junk, PAGE);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert_true(all_bytes(buf, PAGE, 0) || all_bytes(buf, PAGE, 0xff));

    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x10000, PAGE, MAP_RW, t.memfd),
                    ==, 0);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) == 0);
    g_assert_false(mtree_has(&t, "shmem-0-window"));
    g_assert_true(mtree_has(&t, "mapping-0x10000"));
    g_assert(wait_memfd_uses(&t, 1, 1));
    g_assert_cmphex(shmem_unmap(&t, 0, 0x10000, PAGE), ==, 0);
    g_assert(wait_memfd_released(&t));

    /* A read-only mapping drops the guest's writes */
    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x10000, PAGE, 0, t.memfd), ==,
                    0);
    g_assert_true(mtree_has(&t, "mapping-0x10000"));
    bar_write(&t, 0x10000, junk, PAGE);
    bar_read(&t, 0x10000, buf, PAGE);
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) == 0);
    g_assert_false(all_bytes(t.mem + PAGE, PAGE, 0xee));
    g_assert_cmphex(shmem_unmap(&t, 0, 0x10000, PAGE), ==, 0);
    ctx_stop(&t);
}

/*
 * Mappings stay out of vhost memory tables: with the device running, many
 * more mappings than a SET_MEM_TABLE can carry (8) send the back-end no
 * memory table at all
 */
static void test_mem_table(void)
{
    TestCtx t = { 0 };
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    VuTestMemRegion regions[16];
    unsigned int nregions, mark, i;

    ctx_start(&t, true);
    dev = ctx_driver_start(&t, &vq);
    nregions = vu_test_backend_get_mem_regions(t.be, regions,
                                               ARRAY_SIZE(regions));
    g_assert_cmpuint(nregions, >=, 1);
    mark = vu_test_backend_get_log_len(t.be);
    for (i = 0; i < 16; i++) {
        g_assert_cmphex(shmem_map(&t, 0, (i % 4) * PAGE, i * 2 * PAGE, PAGE,
                                  MAP_RW, t.memfd), ==, 0);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, 16);
    assert_alive(&t);
    for (i = mark; i < vu_test_backend_get_log_len(t.be); i++) {
        g_autoptr(VuTestMsgRecord) rec = vu_test_backend_get_log_entry(t.be,
                                                                       i);

        g_assert_cmpuint(rec->request, !=, VU_TEST_REQ_SET_MEM_TABLE);
        g_assert_cmpuint(rec->request, !=, VU_TEST_REQ_ADD_MEM_REG);
    }
    g_assert_cmpuint(vu_test_backend_get_mem_regions(t.be, regions,
                                                     ARRAY_SIZE(regions)),
                     ==, nregions);
    ctx_driver_stop(&t, dev, vq);
    ctx_stop(&t);
}

/*
 * A region whose size is not a power of two: its BAR is, and the guest
 * reads a mapping at its very end
 */
static void test_odd_size(void)
{
    TestCtx t = { 0 };
    uint64_t size = 3 * 1024 * 1024 + PAGE, bar_size;
    uint8_t buf[PAGE];
    QPCIBar bar;

    ctx_start_sized(&t, true, size);
    qpci_device_enable(t.pdev);
    bar = qpci_iomap(t.pdev, SHMEM_BAR, &bar_size);
    /* Region 2 (64 KiB) goes at the next 64 KiB boundary */
    g_assert_cmphex(bar_size, ==, 4 * 1024 * 1024);
    g_assert_cmphex(shmem_map(&t, 0, PAGE, size - PAGE, PAGE, MAP_RW,
                              t.memfd), ==, 0);
    qtest_memread(t.qts, bar.addr + size - PAGE, buf, PAGE);
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) == 0);
    g_assert_cmphex(shmem_map(&t, 2, 0, 0, PAGE, MAP_RW, t.memfd), ==, 0);
    qtest_memread(t.qts, bar.addr + ROUND_UP(size, REGION2_SIZE), buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);
    ctx_stop(&t);
}

/*
 * Other vhost-user-base devices show no shared memory to the guest: their
 * back-end is not offered F_SHMEM, QEMU asks for no regions and makes
 * none, so nothing blocks migration on their account
 */
static void test_other_device(const void *opaque)
{
    const char *driver = opaque;
    const uint64_t sizes[] = { REGION0_SIZE };
    g_autoptr(VuTestBackend) be = vu_test_backend_new();
    QTestState *qts;
    QDict *resp;

    if (!qtest_has_device(driver)) {
        g_test_skip("device not available");
        return;
    }
    vu_test_backend_set_protocol_features(
        be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
            (1ULL << VU_TEST_PROTOCOL_F_SHMEM));
    vu_test_backend_set_shmem_regions(be, sizes, ARRAY_SIZE(sizes));
    qts = qtest_initf(
        "-M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s -device %s,id=vdev0,chardev=chr0",
        vu_test_backend_get_socket_path(be), driver);
    g_assert_true(vu_test_backend_wait_backend_channel(be, TIMEOUT_MS));

    g_assert_cmphex(vu_test_backend_get_acked_protocol_features(be) &
                    (1ULL << VU_TEST_PROTOCOL_F_SHMEM), ==, 0);
    g_assert_cmpint(vu_test_backend_wait_request(
                        be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, 0), ==, -1);
    resp = qtest_qmp(qts, "{'execute': 'x-query-virtio-shmem'}");
    g_assert_true(qlist_empty(qdict_get_qlist(resp, "return")));
    qobject_unref(resp);
    qtest_quit(qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(be), ==, 0);
}

/*
 * A block device has no size in fstat(): a mapping past its end was
 * taken, and the guest's access there made QEMU take SIGBUS.  Needs a
 * loop device (root); skipped without one.
 */
static void test_block_device(void)
{
    g_autofree char *file = NULL, *out = NULL, *err = NULL;
    g_autofree char *attach = NULL, *detach = NULL;
    TestCtx t = { 0 };
    int fd = g_file_open_tmp("vhost-user-shmem-blk-XXXXXX", &file, NULL);
    int status = -1, blk;
    uint8_t buf[PAGE];

    g_assert_cmpint(fd, >=, 0);
    memset(buf, 0x5b, PAGE);
    g_assert_cmpint(write(fd, buf, PAGE), ==, PAGE);
    close(fd);
    attach = g_strdup_printf("losetup --find --show %s", file);
    if (!g_spawn_command_line_sync(attach, &out, &err, &status, NULL) ||
        !WIFEXITED(status) || WEXITSTATUS(status) || !out || !*out) {
        g_test_skip("no loop device (losetup needs root)");
        unlink(file);
        return;
    }
    g_strstrip(out);
    detach = g_strdup_printf("losetup -d %s", out);
    blk = open(out, O_RDWR);
    if (blk >= 0) {
        ctx_start(&t, true);
        ctx_map_bar(&t);
        /* 16 pages of a one-page device: refused */
        g_assert_cmphex(shmem_map(&t, 0, 0, 0, 16 * PAGE, MAP_RW, blk), !=, 0);
        g_assert_cmpint(count_mappings(&t, 0), ==, 0);
        /* Its one page: mapped, and the guest reads it */
        g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, blk), ==, 0);
        g_assert_cmphex(qtest_readb(t.qts, t.bar.addr), ==, 0x5b);
        ctx_stop(&t);
        close(blk);
    }
    g_assert_true(g_spawn_command_line_sync(detach, NULL, NULL, &status,
                                            NULL));
    unlink(file);
    g_assert_cmpint(blk, >=, 0);
}

/* QEMU's resident memory, in KiB */
static uint64_t qemu_rss_kib(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            qtest_pid(qts));
    g_autofree char *status = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    line = strstr(status, "VmRSS:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + strlen("VmRSS:"), NULL, 10);
}

/*
 * A back-end that declares regions larger than the guest can address (one
 * of 16 TiB, or 64 of 512 GiB) is refused before QEMU builds anything for
 * them: before, each region's window came first, with its dirty bitmaps
 * (1.6 GB of QEMU's memory for 16 TiB, and seconds of the main loop), and
 * the size check after.
 */
static void test_huge_config(const void *opaque)
{
    bool many = GPOINTER_TO_INT(opaque);
    g_autoptr(VuTestBackend) be = vu_test_backend_new();
    uint64_t sizes[64];
    QTestState *qts;
    QDict *args, *resp;
    uint64_t before;
    const char *desc;
    int i, n = many ? 64 : 1;

    for (i = 0; i < n; i++) {
        sizes[i] = many ? 512ULL << 30 : 16ULL << 40;
    }
    vu_test_backend_set_protocol_features(
        be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
            (1ULL << VU_TEST_PROTOCOL_F_SHMEM));
    vu_test_backend_set_shmem_regions(be, sizes, n);
    qts = qtest_initf("-M q35,memory-backend=mem -m 256M -nodefaults "
                      "-object memory-backend-memfd,id=mem,size=256M,"
                      "share=on "
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 "
                      "-chardev socket,id=chr0,path=%s",
                      vu_test_backend_get_socket_path(be));
    before = qemu_rss_kib(qts);
    args = qdict_new();
    qdict_put_str(args, "driver", "vhost-user-test-device-pci");
    qdict_put_str(args, "id", "vdev0");
    qdict_put_str(args, "bus", "rp0");
    qdict_put_str(args, "chardev", "chr0");
    qdict_put_int(args, "virtio-id", VIRTIO_ID_RNG);
    qdict_put_int(args, "num_vqs", 1);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}",
                     args);
    g_assert_true(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    g_test_message("device_add: %s", desc);
    g_assert_nonnull(strstr(desc, "physical address space"));
    qobject_unref(resp);
    /* Nothing built: QEMU grew by less than 64 MiB */
    g_assert_cmpuint(qemu_rss_kib(qts), <, before + 64 * 1024);
    resp = qtest_qmp(qts, "{'execute': 'x-query-virtio-shmem'}");
    g_assert_true(qlist_empty(qdict_get_qlist(resp, "return")));
    qobject_unref(resp);
    qtest_quit(qts);
}

/* A guest reset of the device drops every mapping */
static void test_reset(void)
{
    TestCtx t = { 0 };
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    QVirtioPCIDevice *dev;
    uint8_t buf[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, t.memfd), ==, 0);
    g_assert_cmphex(shmem_map(&t, 2, 0, 0, PAGE, 0, t.memfd), ==, 0);

    dev = virtio_pci_new(t.pcibus, &addr);
    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    qvirtio_start_device(&dev->vdev);
    qvirtio_reset(&dev->vdev);

    g_assert_cmpint(count_mappings(&t, 0), ==, 0);
    g_assert_cmpint(count_mappings(&t, 2), ==, 0);
    bar_read(&t, 0, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) != 0);
    g_assert(wait_memfd_released(&t));

    /* Usable again after the reset */
    g_assert_cmphex(shmem_map(&t, 0, 0, 0, PAGE, MAP_RW, t.memfd), ==, 0);
    bar_read(&t, 0, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);

    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
    ctx_stop(&t);
}

/* Losing the backend drops every mapping; QEMU keeps running */
static void test_disconnect(void)
{
    TestCtx t = { 0 };
    uint8_t buf[PAGE];

    ctx_start(&t, true);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_map(&t, 0, 0, 0x100000, 2 * PAGE, MAP_RW,
                              t.memfd), ==, 0);
    vu_test_backend_set_accepting(t.be, false);
    vu_test_backend_disconnect(t.be);

    /* QMP is served after the chardev's close event was handled */
    for (int i = 0; i < 100 && count_mappings(&t, 0); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(count_mappings(&t, 0), ==, 0);
    bar_read(&t, 0x100000, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) != 0);
    g_assert(wait_memfd_released(&t));
    assert_alive(&t);
    ctx_stop(&t);
}

/* A device with regions blocks migration, and says why */
static void test_migration_blocker(void)
{
    TestCtx t = { 0 };
    QDict *resp, *dev;
    const char *why;

    ctx_start(&t, true);
    resp = qtest_qmp(t.qts, "{'execute': 'x-query-virtio-shmem'}");
    dev = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp, "return")));
    why = qdict_get_str(dev, "migration-blocker");
    g_assert_nonnull(strstr(why, "vdev0"));
    g_assert_nonnull(strstr(why, "migration of VIRTIO Shared Memory "
                            "Regions is not supported"));
    qobject_unref(resp);
    ctx_stop(&t);
}

/* HMP info virtio-shmem lists the mapping */
static void test_hmp(void)
{
    TestCtx t = { 0 };
    g_autofree char *out = NULL;

    ctx_start(&t, true);
    g_assert_cmphex(shmem_map(&t, 0, PAGE, 0x3000, PAGE, 0, t.memfd), ==, 0);
    out = qtest_hmp(t.qts, "info virtio-shmem");
    g_assert_nonnull(strstr(out, "shmid 0: size 0x400000, 1 mappings"));
    g_assert_nonnull(strstr(out, "shmid 2: size 0x10000"));
    g_assert_nonnull(strstr(out, "0x0000000000003000-0x0000000000003fff"
                            " fd_offset 0x1000 ro"));
    ctx_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vhost-user-shmem/caps", test_caps);
    qtest_add_func("/vhost-user-shmem/status-feature", test_status_feature);
    qtest_add_func("/vhost-user-shmem/no-shmem-feature",
                   test_no_shmem_feature);
    qtest_add_func("/vhost-user-shmem/map-rw", test_map_rw);
    qtest_add_func("/vhost-user-shmem/map-file-tail", test_map_file_tail);
    qtest_add_data_func("/vhost-user-shmem/map-visible-before-reply",
                        GINT_TO_POINTER(true), test_map_visible_before_reply);
    qtest_add_data_func("/vhost-user-shmem/window/off/map-visible-before-reply",
                        GINT_TO_POINTER(false),
                        test_map_visible_before_reply);
    qtest_add_func("/vhost-user-shmem/unmap", test_unmap);
    qtest_add_func("/vhost-user-shmem/release", test_release);
    qtest_add_func("/vhost-user-shmem/read-only", test_read_only);
    qtest_add_func("/vhost-user-shmem/read-only-fd", test_read_only_fd);
    qtest_add_func("/vhost-user-shmem/bad-map", test_bad_map);
    qtest_add_func("/vhost-user-shmem/many-mappings", test_many_mappings);
    qtest_add_func("/vhost-user-shmem/out-of-fds", test_out_of_fds);
    qtest_add_func("/vhost-user-shmem/fill-region", test_fill_region);
    qtest_add_func("/vhost-user-shmem/window/no-fds", test_window_no_fds);
    qtest_add_func("/vhost-user-shmem/window/holes", test_window_holes);
    qtest_add_func("/vhost-user-shmem/window/read-only-over-hole",
                   test_window_read_only_over_hole);
    qtest_add_func("/vhost-user-shmem/window/read-only-huge",
                   test_window_read_only_huge);
    qtest_add_func("/vhost-user-shmem/window/off", test_window_off);
    qtest_add_func("/vhost-user-shmem/window/unmovable",
                   test_window_unmovable);
    qtest_add_func("/vhost-user-shmem/vma-limit", test_vma_limit);
    qtest_add_func("/vhost-user-shmem/query-pages", test_query_pages);
    qtest_add_func("/vhost-user-shmem/mem-table", test_mem_table);
    qtest_add_data_func("/vhost-user-shmem/not-offered/vhost-user-rng-pci",
                        "vhost-user-rng-pci", test_other_device);
    qtest_add_data_func("/vhost-user-shmem/not-offered/vhost-user-gpio-pci",
                        "vhost-user-gpio-pci", test_other_device);
    qtest_add_data_func("/vhost-user-shmem/not-offered/vhost-user-i2c-pci",
                        "vhost-user-i2c-pci", test_other_device);
    qtest_add_func("/vhost-user-shmem/odd-size", test_odd_size);
    qtest_add_func("/vhost-user-shmem/reset", test_reset);
    qtest_add_func("/vhost-user-shmem/block-device", test_block_device);
    qtest_add_data_func("/vhost-user-shmem/huge-config/one",
                        GINT_TO_POINTER(false), test_huge_config);
    qtest_add_data_func("/vhost-user-shmem/huge-config/many",
                        GINT_TO_POINTER(true), test_huge_config);
    qtest_add_func("/vhost-user-shmem/disconnect", test_disconnect);
    qtest_add_func("/vhost-user-shmem/migration-blocker",
                   test_migration_blocker);
    qtest_add_func("/vhost-user-shmem/hmp", test_hmp);

    return g_test_run();
}
