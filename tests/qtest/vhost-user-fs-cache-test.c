/*
 * QTest for the DAX cache window of vhost-user-fs-pci (cache-size=)
 *
 * A vhost-user back-end inside the test stands in for a virtiofs daemon
 * with DAX: it offers VHOST_USER_PROTOCOL_F_SHMEM and maps memfds into
 * the window, and the test checks what the guest sees through the BAR,
 * and that every configuration that cannot work fails with a clear error.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "libqtest.h"
#include "qemu/bitops.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/fuse.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/pci_regs.h"
#include "standard-headers/linux/virtio_pci.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS      10000
#define TIMEOUT_US      (TIMEOUT_MS * 1000LL)
#define PAGE            0x1000ULL

#define FS_SLOT         4
#define CACHE_BAR       2
#define CACHE_SIZE      (4 * 1024 * 1024ULL)
#define PROXY_PATH      "/machine/peripheral/fs0"
#define FS_PATH         PROXY_PATH "/virtio-backend"

#define MEMFD_NAME      "vhost-user-fs-cache-test"
#define MEMFD_SIZE      (4 * PAGE)
#define MAP_RW          1ULL

/* Without F_CONFIG: vhost-user-fs has no use for it and would warn */
#define FS_PROTOCOL_FEATURES \
    (BIT_ULL(VU_TEST_PROTOCOL_F_MQ) | BIT_ULL(VU_TEST_PROTOCOL_F_REPLY_ACK) | \
     BIT_ULL(VU_TEST_PROTOCOL_F_BACKEND_REQ) | \
     BIT_ULL(VU_TEST_PROTOCOL_F_RESET_DEVICE))
#define FS_PROTOCOL_FEATURES_SHMEM \
    (FS_PROTOCOL_FEATURES | BIT_ULL(VU_TEST_PROTOCOL_F_SHMEM))

typedef struct TestCtx {
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QPCIDevice *pdev;
    QPCIBar bar;
    int memfd;
    uint8_t *mem;       /* the back-end's view of the memfd */
} TestCtx;

static VuTestBackend *backend_new(uint64_t protocol_features)
{
    VuTestBackend *be = vu_test_backend_new();

    vu_test_backend_set_protocol_features(be, protocol_features);
    return be;
}

/*
 * Start QEMU with vhost-user-fs-pci on @t->be; @cache_opt: ",cache-size=N".
 * pc's root bus can unplug the device (ACPI), q35's cannot.
 */
static void ctx_start_machine(TestCtx *t, const char *machine,
                              const char *cache_opt)
{
    t->qts = qtest_initf(
        "-M %s,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s "
        "-device vhost-user-fs-pci,id=fs0,chardev=chr0,tag=myfs,"
        "addr=%d.0%s",
        machine, vu_test_backend_get_socket_path(t->be), FS_SLOT, cache_opt);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->pcibus = qpci_new_pc(t->qts, &t->alloc);
    t->pdev = qpci_device_find(t->pcibus, QPCI_DEVFN(FS_SLOT, 0));
    g_assert_nonnull(t->pdev);

    t->memfd = memfd_create(MEMFD_NAME, MFD_CLOEXEC);
    g_assert_cmpint(t->memfd, >=, 0);
    g_assert_cmpint(ftruncate(t->memfd, MEMFD_SIZE), ==, 0);
    t->mem = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                  t->memfd, 0);
    g_assert(t->mem != MAP_FAILED);
    for (size_t i = 0; i < MEMFD_SIZE; i++) {
        t->mem[i] = (uint8_t)(i * 13 + i / PAGE + 3);
    }
}

static void ctx_start(TestCtx *t, const char *cache_opt)
{
    ctx_start_machine(t, "q35", cache_opt);
}

static void ctx_map_bar(TestCtx *t)
{
    uint64_t size;

    qpci_device_enable(t->pdev);
    t->bar = qpci_iomap(t->pdev, CACHE_BAR, &size);
    g_assert_cmphex(size, ==, CACHE_SIZE);
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

/* SHMEM_MAP or _UNMAP with NEED_REPLY; returns the front-end's reply */
static uint64_t shmem_request(TestCtx *t, uint32_t request,
                              uint64_t fd_offset, uint64_t shm_offset,
                              uint64_t len, uint64_t flags, int fd)
{
    VuTestMMap req = {
        .shmid = 0,
        .fd_offset = fd_offset,
        .shm_offset = shm_offset,
        .len = len,
        .flags = flags,
    };
    uint64_t reply = 0;

    g_assert(vu_test_backend_wait_backend_channel(t->be, TIMEOUT_MS));
    g_assert_cmpint(vu_test_backend_backend_request(
                        t->be, request, &req, sizeof(req), fd, true,
                        TIMEOUT_MS, &reply), ==, 0);
    return reply;
}

/* x-query-virtio-shmem: the one device's entry, or NULL; unref @resp */
static QDict *query_device(QTestState *qts, QDict **resp_out)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    QDict *dev;

    g_assert_nonnull(devs);
    *resp_out = resp;
    if (qlist_empty(devs)) {
        return NULL;
    }
    g_assert_cmpint(qlist_size(devs), ==, 1);
    dev = qobject_to(QDict, qlist_peek(devs));
    g_assert_cmpstr(qdict_get_str(dev, "path"), ==, FS_PATH);
    return dev;
}

/* Live mappings of the window as QMP reports them */
static int count_mappings(TestCtx *t)
{
    QDict *resp;
    QDict *dev = query_device(t->qts, &resp);
    QList *regions;
    QDict *region;
    int count;

    g_assert_nonnull(dev);
    regions = qdict_get_qlist(dev, "regions");
    g_assert_cmpint(qlist_size(regions), ==, 1);
    region = qobject_to(QDict, qlist_peek(regions));
    g_assert_cmpint(qdict_get_int(region, "shmid"), ==, 0);
    count = qlist_size(qdict_get_qlist(region, "mappings"));
    qobject_unref(resp);
    return count;
}

static void assert_running(QTestState *qts)
{
    QDict *resp = qtest_qmp_assert_success_ref(qts,
                                               "{'execute': 'query-status'}");

    g_assert_true(qdict_get_bool(resp, "running"));
    qobject_unref(resp);
}

static bool shmem_acked(VuTestBackend *be)
{
    return vu_test_backend_get_acked_protocol_features(be) &
           BIT_ULL(VU_TEST_PROTOCOL_F_SHMEM);
}

/*
 * The window as the guest finds it: one SHARED_MEMORY_CFG capability for
 * shmid 0 in a 64-bit prefetchable BAR 2, and QMP shows the region
 */
static void test_window(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    g_autofree char *hmp = NULL;
    uint8_t cap = 0;
    int found = 0;
    QDict *resp, *dev, *region;
    QList *regions;

    ctx_start(&t, opt);
    g_assert_true(shmem_acked(t.be));
    g_assert_cmpint(vu_test_backend_wait_request(
                        t.be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, 0), >=, 0);

    while ((cap = qpci_find_capability(t.pdev, PCI_CAP_ID_VNDR, cap))) {
        uint64_t offset, length;

        if (qpci_config_readb(t.pdev, cap + 3) !=
            VIRTIO_PCI_CAP_SHARED_MEMORY_CFG) {
            g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 4), !=,
                             CACHE_BAR);
            continue;
        }
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 2), ==,
                         sizeof(struct virtio_pci_cap64));
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 4), ==, CACHE_BAR);
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 5), ==, 0);
        offset = qpci_config_readl(t.pdev, cap + 8) |
                 (uint64_t)qpci_config_readl(t.pdev, cap + 16) << 32;
        length = qpci_config_readl(t.pdev, cap + 12) |
                 (uint64_t)qpci_config_readl(t.pdev, cap + 20) << 32;
        g_assert_cmphex(offset, ==, 0);
        g_assert_cmphex(length, ==, CACHE_SIZE);
        found++;
    }
    g_assert_cmpint(found, ==, 1);
    g_assert_cmphex(qpci_config_readl(t.pdev, PCI_BASE_ADDRESS_0 +
                                      4 * CACHE_BAR) & 0xf, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY |
                    PCI_BASE_ADDRESS_MEM_TYPE_64 |
                    PCI_BASE_ADDRESS_MEM_PREFETCH);
    ctx_map_bar(&t);

    dev = query_device(t.qts, &resp);
    g_assert_nonnull(dev);
    regions = qdict_get_qlist(dev, "regions");
    g_assert_cmpint(qlist_size(regions), ==, 1);
    region = qobject_to(QDict, qlist_peek(regions));
    g_assert_cmpint(qdict_get_int(region, "shmid"), ==, 0);
    g_assert_cmphex(qdict_get_int(region, "size"), ==, CACHE_SIZE);
    g_assert_cmpint(qlist_size(qdict_get_qlist(region, "mappings")), ==, 0);
    qobject_unref(resp);

    hmp = qtest_hmp(t.qts, "info virtio-shmem");
    g_test_message("info virtio-shmem: %s", hmp);
    g_assert_nonnull(strstr(hmp, FS_PATH " (virtio-user-fs):"));
    g_assert_nonnull(strstr(hmp, "  shmid 0: size 0x400000"));
    ctx_stop(&t);
}

/*
 * What the back-end maps is what the guest reads and writes through the
 * BAR; unmapped, the bytes are gone and QEMU lets go of the memfd
 */
static void test_map_unmap(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    uint8_t buf[2 * PAGE], pattern[PAGE];
    int maps, fds;

    ctx_start(&t, opt);
    ctx_map_bar(&t);

    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, PAGE,
                                  0x200000, 2 * PAGE, MAP_RW, t.memfd),
                    ==, 0);
    g_assert_cmpint(count_mappings(&t), ==, 1);
    qtest_memread(t.qts, t.bar.addr + 0x200000, buf, sizeof(buf));
    g_assert(memcmp(buf, t.mem + PAGE, sizeof(buf)) == 0);

    memset(pattern, 0xa5, sizeof(pattern));
    qtest_memwrite(t.qts, t.bar.addr + 0x201000, pattern, sizeof(pattern));
    g_assert(memcmp(t.mem + 2 * PAGE, pattern, sizeof(pattern)) == 0);

    /*
     * Read-only, as for a file the guest opened read-only: the guest reads
     * the file, and its write reaches only its own copy of the page
     */
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0,
                                  CACHE_SIZE - PAGE, PAGE, 0, t.memfd),
                    ==, 0);
    qtest_memread(t.qts, t.bar.addr + CACHE_SIZE - PAGE, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);
    memcpy(buf, t.mem, PAGE);
    qtest_memwrite(t.qts, t.bar.addr + CACHE_SIZE - PAGE, pattern, PAGE);
    g_assert(memcmp(t.mem, buf, PAGE) == 0);
    qtest_memread(t.qts, t.bar.addr + CACHE_SIZE - PAGE, buf, PAGE);
    g_assert(memcmp(buf, pattern, PAGE) == 0);
    g_assert_cmpint(count_mappings(&t), ==, 2);

    /* Past the window: refused, nothing changes */
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0,
                                  CACHE_SIZE, PAGE, MAP_RW, t.memfd), !=, 0);
    g_assert_cmpint(count_mappings(&t), ==, 2);

    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_UNMAP, 0,
                                  0x200000, 2 * PAGE, 0, -1), ==, 0);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_UNMAP, 0,
                                  CACHE_SIZE - PAGE, PAGE, 0, -1), ==, 0);
    g_assert_cmpint(count_mappings(&t), ==, 0);
    qtest_memread(t.qts, t.bar.addr + 0x200000, buf, sizeof(buf));
    g_assert(memcmp(buf, t.mem + PAGE, PAGE) != 0);
    g_assert(memcmp(buf + PAGE, t.mem + 2 * PAGE, PAGE) != 0);
    /* The guest's copy of the read-only page went with the mapping */
    qtest_memread(t.qts, t.bar.addr + CACHE_SIZE - PAGE, buf, PAGE);
    g_assert(memcmp(buf, pattern, PAGE) != 0);
    g_assert(memcmp(buf, t.mem, PAGE) != 0);

    /* RCU frees the unmapped memory a little later */
    for (int i = 0; i < 500; i++) {
        vu_test_count_memfd_uses(qtest_pid(t.qts), MEMFD_NAME, &maps, &fds);
        if (!maps && !fds) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(maps, ==, 0);
    g_assert_cmpint(fds, ==, 0);
    ctx_stop(&t);
}

/* A back-end that declares the window with the same size is fine */
static void test_declared_size(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    uint64_t size = CACHE_SIZE;
    uint8_t buf[PAGE];

    vu_test_backend_set_shmem_regions(t.be, &size, 1);
    ctx_start(&t, opt);
    ctx_map_bar(&t);
    g_assert_cmpint(count_mappings(&t), ==, 0);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);
    qtest_memread(t.qts, t.bar.addr, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) == 0);
    ctx_stop(&t);
}

/*
 * When the back-end goes away, its files leave the guest's window: the
 * mappings are dropped and QEMU lets go of them, and QEMU lives on
 */
static void test_disconnect(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    uint8_t buf[PAGE];
    int maps = -1, fds = -1;

    ctx_start(&t, opt);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);
    g_assert_cmpint(count_mappings(&t), ==, 1);

    vu_test_backend_set_accepting(t.be, false);
    vu_test_backend_disconnect(t.be);
    for (int i = 0; i < 500 && count_mappings(&t); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(count_mappings(&t), ==, 0);
    qtest_memread(t.qts, t.bar.addr, buf, PAGE);
    g_assert(memcmp(buf, t.mem, PAGE) != 0);
    for (int i = 0; i < 500; i++) {
        vu_test_count_memfd_uses(qtest_pid(t.qts), MEMFD_NAME, &maps, &fds);
        if (!maps && !fds) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(maps, ==, 0);
    g_assert_cmpint(fds, ==, 0);
    assert_running(t.qts);
    ctx_stop(&t);
}

/* The driver side of the device: hiprio queue 0, request queue 1 */
typedef struct FsDriver {
    QVirtioPCIDevice *dev;
    QVirtQueue *hiprio;
    QVirtQueue *request;
} FsDriver;

static void fs_driver_start(TestCtx *t, FsDriver *drv)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(FS_SLOT, 0) };
    VuTestVringInfo info = { 0 };

    drv->dev = virtio_pci_new(t->pcibus, &addr);
    g_assert_nonnull(drv->dev);
    qvirtio_pci_device_enable(drv->dev);
    qvirtio_start_device(&drv->dev->vdev);
    qvirtio_set_features(&drv->dev->vdev, 1ULL << VIRTIO_F_VERSION_1);
    drv->hiprio = qvirtqueue_setup(&drv->dev->vdev, &t->alloc, 0);
    drv->request = qvirtqueue_setup(&drv->dev->vdev, &t->alloc, 1);
    qvirtio_set_driver_ok(&drv->dev->vdev);
    /* The back-end has the request queue */
    for (int i = 0; i < 1000; i++) {
        if (vu_test_backend_get_vring(t->be, 1, &info) && info.started &&
            info.enabled) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_true(info.started && info.enabled);
}

static void fs_driver_stop(TestCtx *t, FsDriver *drv)
{
    qvirtqueue_cleanup(drv->dev->vdev.bus, drv->hiprio, &t->alloc);
    qvirtqueue_cleanup(drv->dev->vdev.bus, drv->request, &t->alloc);
    qvirtio_pci_device_disable(drv->dev);
    g_free(drv->dev->pdev);
    g_free(drv->dev);
}

/* Queue a FUSE_GETATTR with @unique; returns its head, *@reply_addr */
static uint32_t fuse_getattr(TestCtx *t, FsDriver *drv, uint64_t unique,
                             uint64_t *reply_addr)
{
    struct fuse_in_header in = {
        .len = cpu_to_le32(sizeof(in) + sizeof(struct fuse_getattr_in)),
        .opcode = cpu_to_le32(FUSE_GETATTR),
        .unique = cpu_to_le64(unique),
        .nodeid = cpu_to_le64(FUSE_ROOT_ID),
    };
    struct fuse_getattr_in arg = { 0 };
    size_t reply_len = sizeof(struct fuse_out_header) +
                       sizeof(struct fuse_attr_out);
    uint64_t req = guest_alloc(&t->alloc, sizeof(in) + sizeof(arg));
    uint8_t junk[sizeof(struct fuse_out_header) +
                 sizeof(struct fuse_attr_out)];
    uint32_t head;

    *reply_addr = guest_alloc(&t->alloc, reply_len);
    qtest_memwrite(t->qts, req, &in, sizeof(in));
    qtest_memwrite(t->qts, req + sizeof(in), &arg, sizeof(arg));
    memset(junk, 0x5a, sizeof(junk));
    qtest_memwrite(t->qts, *reply_addr, junk, sizeof(junk));
    head = qvirtqueue_add(t->qts, drv->request, req, sizeof(in) + sizeof(arg),
                          false, true);
    qvirtqueue_add(t->qts, drv->request, *reply_addr, reply_len, true, false);
    qvirtqueue_kick(t->qts, &drv->dev->vdev, drv->request, head);
    return head;
}

/* The request @head got EIO, for @unique, and nothing else */
static void assert_eio(TestCtx *t, FsDriver *drv, uint32_t head,
                       uint64_t unique, uint64_t reply_addr)
{
    struct fuse_out_header out;
    uint8_t rest[sizeof(struct fuse_attr_out)];
    uint32_t len = 0;

    qvirtio_wait_used_elem(t->qts, &drv->dev->vdev, drv->request, head, &len,
                           TIMEOUT_US);
    g_assert_cmpuint(len, ==, sizeof(out));
    qtest_memread(t->qts, reply_addr, &out, sizeof(out));
    g_assert_cmpuint(le32_to_cpu(out.len), ==, sizeof(out));
    g_assert_cmpint((int32_t)le32_to_cpu(out.error), ==, -EIO);
    g_assert_cmphex(le64_to_cpu(out.unique), ==, unique);
    qtest_memread(t->qts, reply_addr + sizeof(out), rest, sizeof(rest));
    for (size_t i = 0; i < sizeof(rest); i++) {
        g_assert_cmphex(rest[i], ==, 0x5a);
    }
}

/*
 * When the back-end dies, the guest's requests, the one it had taken and
 * never answered and every later one, fail with EIO instead of waiting
 * for ever; a FORGET on the hiprio queue, which wants no answer, is
 * given back empty
 */
static void test_backend_gone(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    struct fuse_in_header forget = {
        .len = cpu_to_le32(sizeof(forget) + sizeof(struct fuse_forget_in)),
        .opcode = cpu_to_le32(FUSE_FORGET),
        .unique = cpu_to_le64(7),
        .nodeid = cpu_to_le64(FUSE_ROOT_ID),
    };
    uint64_t reply, forget_addr;
    uint32_t head, len = ~0u;
    FsDriver drv;

    ctx_start(&t, opt);
    fs_driver_start(&t, &drv);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);

    /* Queued while the back-end lives: it never answers */
    head = fuse_getattr(&t, &drv, 0x1122334455667788ULL, &reply);
    g_assert_false(qvirtqueue_get_buf(t.qts, drv.request, NULL, NULL));

    vu_test_backend_set_accepting(t.be, false);
    vu_test_backend_disconnect(t.be);
    assert_eio(&t, &drv, head, 0x1122334455667788ULL, reply);
    g_assert_cmpint(count_mappings(&t), ==, 0);

    head = fuse_getattr(&t, &drv, 42, &reply);
    assert_eio(&t, &drv, head, 42, reply);

    forget_addr = guest_alloc(&t.alloc, sizeof(forget) +
                              sizeof(struct fuse_forget_in));
    qtest_memwrite(t.qts, forget_addr, &forget, sizeof(forget));
    head = qvirtqueue_add(t.qts, drv.hiprio, forget_addr,
                          sizeof(forget) + sizeof(struct fuse_forget_in),
                          false, false);
    qvirtqueue_kick(t.qts, &drv.dev->vdev, drv.hiprio, head);
    qvirtio_wait_used_elem(t.qts, &drv.dev->vdev, drv.hiprio, head, &len,
                           TIMEOUT_US);
    g_assert_cmpuint(len, ==, 0);

    /* A guest that resets the device and starts over: the same */
    qvirtqueue_cleanup(drv.dev->vdev.bus, drv.hiprio, &t.alloc);
    qvirtqueue_cleanup(drv.dev->vdev.bus, drv.request, &t.alloc);
    qvirtio_reset(&drv.dev->vdev);
    qvirtio_start_device(&drv.dev->vdev);
    qvirtio_set_features(&drv.dev->vdev, 1ULL << VIRTIO_F_VERSION_1);
    drv.hiprio = qvirtqueue_setup(&drv.dev->vdev, &t.alloc, 0);
    drv.request = qvirtqueue_setup(&drv.dev->vdev, &t.alloc, 1);
    qvirtio_set_driver_ok(&drv.dev->vdev);
    head = fuse_getattr(&t, &drv, 43, &reply);
    assert_eio(&t, &drv, head, 43, reply);

    assert_running(t.qts);
    fs_driver_stop(&t, &drv);
    ctx_stop(&t);
}

/*
 * The back-end dies while the VM is stopped: nothing touches guest memory
 * until the VM runs again, and then the waiting request gets EIO
 */
/* A dup() of the back-end channel, kept past the disconnect */
static bool keep_channel_hook(VuTestBackend *b, VuTestMsg *msg, void *opaque)
{
    int *chan = opaque;

    if (msg->request == VU_TEST_REQ_SET_BACKEND_REQ_FD && msg->nfds == 1) {
        if (*chan >= 0) {
            close(*chan);
        }
        *chan = dup(msg->fds[0]);
    }
    return false;
}

/*
 * A daemon that closes its socket but keeps the back-end channel: once
 * the device has seen it go, its SHMEM_MAP is refused, not mapped into
 * the window the guest still reads.
 */
static void test_backend_gone_channel(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    struct QEMU_PACKED {
        uint32_t request, flags, size;
        VuTestMMap m;
    } msg = {
        .request = VU_TEST_BACKEND_REQ_SHMEM_MAP,
        .flags = VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY,
        .size = sizeof(VuTestMMap),
        .m = { .len = PAGE, .flags = MAP_RW },
    };
    struct QEMU_PACKED {
        uint32_t request, flags, size;
        uint64_t value;
    } reply = { 0 };
    struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
    char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
    struct pollfd pfd = { .events = POLLIN };
    int chan = -1;

    vu_test_backend_set_request_hook(t.be, keep_channel_hook, &chan);
    ctx_start(&t, opt);
    ctx_map_bar(&t);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);
    g_assert_cmpint(chan, >=, 0);

    vu_test_backend_set_accepting(t.be, false);
    vu_test_backend_disconnect(t.be);
    /* The device has seen the back-end go when its mappings are gone */
    for (int i = 0; i < 500 && count_mappings(&t); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(count_mappings(&t), ==, 0);

    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &t.memfd, sizeof(int));
    g_assert_cmpint(sendmsg(chan, &mh, 0), ==, sizeof(msg));
    pfd.fd = chan;
    /* Refused with an error reply, or the channel closed: never mapped */
    if (poll(&pfd, 1, 10000) == 1 &&
        recv(chan, &reply, sizeof(reply), MSG_WAITALL) == sizeof(reply)) {
        g_assert_cmphex(reply.value, !=, 0);
    }
    g_assert_cmpint(count_mappings(&t), ==, 0);
    assert_running(t.qts);
    close(chan);
    ctx_stop(&t);
}

static void test_backend_gone_stopped(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    uint64_t reply;
    uint32_t head;
    FsDriver drv;

    ctx_start(&t, opt);
    fs_driver_start(&t, &drv);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);
    head = fuse_getattr(&t, &drv, 0xabcdef, &reply);

    qtest_qmp_assert_success(t.qts, "{'execute': 'stop'}");
    vu_test_backend_set_accepting(t.be, false);
    vu_test_backend_disconnect(t.be);
    /* The mappings go at once: the device has seen the back-end go */
    for (int i = 0; i < 500 && count_mappings(&t); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(count_mappings(&t), ==, 0);
    g_assert_false(qvirtqueue_get_buf(t.qts, drv.request, NULL, NULL));

    qtest_qmp_assert_success(t.qts, "{'execute': 'cont'}");
    assert_eio(&t, &drv, head, 0xabcdef, reply);
    assert_running(t.qts);
    fs_driver_stop(&t, &drv);
    ctx_stop(&t);
}

typedef struct HangUpHook {
    uint32_t request;       /* hang up when this request comes */
    GThread *thread;        /* which does it */
} HangUpHook;

static gpointer hang_up_thread(gpointer opaque)
{
    vu_test_backend_disconnect(opaque);
    return NULL;
}

/* Leave the request unanswered, and drop the connection */
static bool hang_up_hook(VuTestBackend *b, VuTestMsg *msg, void *opaque)
{
    HangUpHook *h = opaque;

    if (msg->request != h->request || h->thread) {
        return false;
    }
    /* vu_test_backend_disconnect() waits for this thread */
    h->thread = g_thread_new("hang-up", hang_up_thread, b);
    return true;
}

/*
 * Unplug of a running device with a live mapping while its back-end hangs
 * up, before the unplug (@opaque false: the disconnect is handled first,
 * or races with the unplug) or on the unplug's stop of the device (true:
 * the disconnect's bottom half runs after the device is gone).  The
 * device goes, and with it the window and what QEMU held of the memfd;
 * QEMU lives on.
 */
static void test_device_del(const void *opaque)
{
    bool hang_up_on_stop = GPOINTER_TO_INT(opaque);
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    HangUpHook hook = { .request = VU_TEST_REQ_GET_VRING_BASE };
    int maps = -1, fds = -1;
    FsDriver drv;
    QDict *resp;

    ctx_start_machine(&t, "pc", opt);
    fs_driver_start(&t, &drv);
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), ==, 0);

    vu_test_backend_set_accepting(t.be, false);
    if (hang_up_on_stop) {
        vu_test_backend_set_request_hook(t.be, hang_up_hook, &hook);
    } else {
        vu_test_backend_disconnect(t.be);
    }
    qpci_unplug_acpi_device_test(t.qts, "fs0", FS_SLOT);
    if (hang_up_on_stop) {
        g_assert_nonnull(hook.thread);
        g_thread_join(hook.thread);
    }

    g_assert_null(query_device(t.qts, &resp));
    qobject_unref(resp);
    for (int i = 0; i < 500; i++) {
        vu_test_count_memfd_uses(qtest_pid(t.qts), MEMFD_NAME, &maps, &fds);
        if (!maps && !fds) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(maps, ==, 0);
    g_assert_cmpint(fds, ==, 0);
    assert_running(t.qts);

    /* Only guest memory and the test's own: the device is gone */
    qvirtqueue_cleanup(drv.dev->vdev.bus, drv.hiprio, &t.alloc);
    qvirtqueue_cleanup(drv.dev->vdev.bus, drv.request, &t.alloc);
    g_free(drv.dev->pdev);
    g_free(drv.dev);
    ctx_stop(&t);
}

/* While the window exists, migration is refused, saying why */
static void test_migration_blocked(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    g_autofree char *opt = g_strdup_printf(",cache-size=%llu", CACHE_SIZE);
    QDict *resp, *dev;
    const char *why;

    ctx_start(&t, opt);
    dev = query_device(t.qts, &resp);
    g_assert_nonnull(dev);
    why = qdict_get_str(dev, "migration-blocker");
    g_assert_nonnull(strstr(why, FS_PATH));
    g_assert_nonnull(strstr(why, "VIRTIO Shared Memory"));
    qobject_unref(resp);

    resp = qtest_qmp(t.qts, "{'execute': 'migrate', 'arguments': "
                     "{'uri': 'exec:cat > /dev/null'}}");
    g_assert_nonnull(qdict_get_qdict(resp, "error"));
    why = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    g_test_message("migrate: %s", why);
    g_assert_nonnull(strstr(why, "VIRTIO Shared Memory"));
    qobject_unref(resp);
    assert_running(t.qts);
    ctx_stop(&t);
}

/*
 * Without cache-size nothing changes: F_SHMEM is not offered even to a
 * back-end that has it, no window, no BAR, nothing blocks migration
 */
static void test_no_cache(void)
{
    TestCtx t = { .be = backend_new(FS_PROTOCOL_FEATURES_SHMEM) };
    uint8_t cap = 0;
    QDict *resp;

    ctx_start(&t, "");
    g_assert_false(shmem_acked(t.be));
    g_assert_cmpint(vu_test_backend_wait_request(
                        t.be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, 0), ==, -1);
    while ((cap = qpci_find_capability(t.pdev, PCI_CAP_ID_VNDR, cap))) {
        g_assert_cmpuint(qpci_config_readb(t.pdev, cap + 3), !=,
                         VIRTIO_PCI_CAP_SHARED_MEMORY_CFG);
    }
    g_assert_cmphex(qpci_config_readl(t.pdev, PCI_BASE_ADDRESS_0 +
                                      4 * CACHE_BAR), ==, 0);
    g_assert_null(query_device(t.qts, &resp));
    qobject_unref(resp);

    /* A mapping has nowhere to go */
    g_assert_cmphex(shmem_request(&t, VU_TEST_BACKEND_REQ_SHMEM_MAP, 0, 0,
                                  PAGE, MAP_RW, t.memfd), !=, 0);
    assert_running(t.qts);
    ctx_stop(&t);
}

typedef struct BadCache {
    const char *name;
    uint64_t protocol_features;
    uint64_t cache_size;
    uint64_t declared[2];       /* GET_SHMEM_CONFIG: regions 0 and 1 */
    bool talks;                 /* whether the back-end hears from QEMU */
    const char *error;          /* in the device_add error */
} BadCache;

static const BadCache bad_caches[] = {
    {
        .name = "not-power-of-two",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .cache_size = 3 * 1024 * 1024,
        .error = "cache-size must be a power of two of at least the host "
                 "page size (0x1000), not 0x300000",
    }, {
        .name = "below-page-size",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .cache_size = 2048,
        .error = "cache-size must be a power of two of at least the host "
                 "page size (0x1000), not 0x800",
    }, {
        .name = "no-shmem-backend",
        .protocol_features = FS_PROTOCOL_FEATURES,
        .cache_size = CACHE_SIZE,
        .talks = true,
        .error = "cache-size=0x400000 needs a back-end that offers "
                 "VHOST_USER_PROTOCOL_F_SHMEM, and this one does not",
    }, {
        .name = "no-backend-channel",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM &
                             ~BIT_ULL(VU_TEST_PROTOCOL_F_BACKEND_REQ),
        .cache_size = CACHE_SIZE,
        .talks = true,
        .error = "cache-size needs a back-end that offers "
                 "VHOST_USER_PROTOCOL_F_BACKEND_REQ",
    }, {
        .name = "size-mismatch",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .cache_size = CACHE_SIZE,
        .declared = { 8 * 1024 * 1024 },
        .talks = true,
        .error = "the back-end's cache window is 0x800000 bytes, but "
                 "cache-size is 0x400000",
    }, {
        .name = "other-region",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .cache_size = CACHE_SIZE,
        .declared = { 0, 0x10000 },
        .talks = true,
        .error = "the back-end declares shared memory region 1, but "
                 "virtio-fs has only the cache window (region 0)",
    }, {
        .name = "too-big-for-the-guest",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .cache_size = 1ULL << 60,
        .talks = true,
        .error = "more than the guest's",
    },
};

/*
 * device_add fails with a message that names the device, QEMU lives on,
 * nothing is left behind (no region, no migration blocker), and the
 * chardev then serves a device without a window
 */
static void test_bad_cache(const void *opaque)
{
    const BadCache *bad = opaque;
    g_autoptr(VuTestBackend) be = backend_new(bad->protocol_features);
    QTestState *qts;
    QDict *args, *resp, *error;
    const char *desc;

    vu_test_backend_set_shmem_regions(be, bad->declared,
                                      ARRAY_SIZE(bad->declared));
    /* Hot-plugged into a root port: pcie.0 takes none */
    qts = qtest_initf("-M q35,memory-backend=mem -m 256M -nodefaults "
                      "-object memory-backend-memfd,id=mem,size=256M,"
                      "share=on "
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 "
                      "-chardev socket,id=chr0,path=%s",
                      vu_test_backend_get_socket_path(be));

    args = qdict_new();
    qdict_put_str(args, "driver", "vhost-user-fs-pci");
    qdict_put_str(args, "id", "fs0");
    qdict_put_str(args, "bus", "rp0");
    qdict_put_str(args, "chardev", "chr0");
    qdict_put_str(args, "tag", "myfs");
    qdict_put_int(args, "cache-size", bad->cache_size);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}",
                     args);
    error = qdict_get_qdict(resp, "error");
    g_assert_nonnull(error);
    desc = qdict_get_str(error, "desc");
    g_test_message("device_add: %s", desc);
    g_assert_nonnull(strstr(desc, PROXY_PATH));
    g_assert_nonnull(strstr(desc, bad->error));
    qobject_unref(resp);
    g_assert_cmpint(vu_test_backend_get_log_len(be) > 0, ==, bad->talks);

    assert_running(qts);
    resp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments': "
                     "{'path': '/machine/peripheral/fs0'}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    g_assert_null(query_device(qts, &resp));
    qobject_unref(resp);

    /* The same chardev, no window: as vhost-user-fs-pci always was */
    qtest_qmp_assert_success(qts, "{'execute': 'device_add', 'arguments': "
                             "{'driver': 'vhost-user-fs-pci', 'id': 'fs0', "
                             "'bus': 'rp0', 'chardev': 'chr0', "
                             "'tag': 'myfs'}}");
    g_assert_true(qtest_qom_get_bool(qts, FS_PATH, "realized"));
    g_assert_false(shmem_acked(be));
    qtest_quit(qts);
}

typedef struct BadCommandLine {
    const char *name;
    const char *machine;
    const char *device;         /* the device and its options but chardev */
    uint64_t protocol_features;
    const char *error;          /* in stderr */
} BadCommandLine;

static const BadCommandLine bad_command_lines[] = {
    {
        .name = "no-shmem-backend",
        .machine = "q35",
        .device = "vhost-user-fs-pci,id=fs0,tag=myfs,cache-size=4M",
        .protocol_features = FS_PROTOCOL_FEATURES,
        .error = FS_PATH ": cache-size=0x400000 needs a back-end that "
                 "offers VHOST_USER_PROTOCOL_F_SHMEM",
    }, {
        .name = "not-power-of-two",
        .machine = "q35",
        .device = "vhost-user-fs-pci,id=fs0,tag=myfs,cache-size=3M",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .error = FS_PATH ": cache-size must be a power of two",
    }, {
        /* virtio-mmio has no shared memory regions */
        .name = "mmio-transport",
        .machine = "microvm",
        .device = "vhost-user-fs-device,id=fs0,tag=myfs,cache-size=4M",
        .protocol_features = FS_PROTOCOL_FEATURES_SHMEM,
        .error = "cache-size needs a transport that shows the cache window "
                 "to the guest: use vhost-user-fs-pci",
    },
};

/* Run QEMU to its end; returns its exit status, *@err its stderr */
static int run_qemu(const char *machine, const char *chardev,
                    const char *device, char **err)
{
    const char *argv[] = {
        qtest_qemu_binary(NULL), "-M", machine, "-accel", "qtest",
        "-nodefaults", "-display", "none", "-chardev", chardev,
        "-device", device, NULL
    };
    g_autofree char *out = NULL;
    GError *gerr = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_DEFAULT, NULL, NULL, &out, err,
                               &status, &gerr));
    g_assert_no_error(gerr);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* On the command line: QEMU exits with status 1 and says why */
static void test_bad_command_line(const void *opaque)
{
    const BadCommandLine *bad = opaque;
    g_autoptr(VuTestBackend) be = NULL;
    g_autofree char *chardev = NULL;
    g_autofree char *device = NULL;
    g_autofree char *err = NULL;

    if (!qtest_has_machine(bad->machine)) {
        g_test_skip("machine not built");
        return;
    }
    be = backend_new(bad->protocol_features);
    chardev = g_strdup_printf("socket,id=chr0,path=%s",
                              vu_test_backend_get_socket_path(be));
    device = g_strdup_printf("%s,chardev=chr0", bad->device);
    g_assert_cmpint(run_qemu(bad->machine, chardev, device, &err), ==, 1);
    g_test_message("stderr: %s", err);
    g_assert_nonnull(strstr(err, bad->error));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("vhost-user-fs-pci")) {
        g_test_skip("vhost-user-fs-pci is not available");
        return g_test_run();
    }

    qtest_add_func("/vhost-user-fs-cache/window", test_window);
    qtest_add_func("/vhost-user-fs-cache/map-unmap", test_map_unmap);
    qtest_add_func("/vhost-user-fs-cache/declared-size", test_declared_size);
    qtest_add_func("/vhost-user-fs-cache/disconnect", test_disconnect);
    qtest_add_func("/vhost-user-fs-cache/backend-gone", test_backend_gone);
    qtest_add_func("/vhost-user-fs-cache/backend-gone-channel",
                   test_backend_gone_channel);
    qtest_add_func("/vhost-user-fs-cache/backend-gone-stopped",
                   test_backend_gone_stopped);
    qtest_add_data_func("/vhost-user-fs-cache/device-del/disconnected",
                        GINT_TO_POINTER(false), test_device_del);
    qtest_add_data_func("/vhost-user-fs-cache/device-del/hang-up-on-stop",
                        GINT_TO_POINTER(true), test_device_del);
    qtest_add_func("/vhost-user-fs-cache/migration-blocked",
                   test_migration_blocked);
    qtest_add_func("/vhost-user-fs-cache/no-cache", test_no_cache);
    for (size_t i = 0; i < ARRAY_SIZE(bad_caches); i++) {
        g_autofree char *path = g_strdup_printf("/vhost-user-fs-cache/bad/%s",
                                                bad_caches[i].name);

        qtest_add_data_func(path, &bad_caches[i], test_bad_cache);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad_command_lines); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vhost-user-fs-cache/bad-command-line/%s",
            bad_command_lines[i].name);

        qtest_add_data_func(path, &bad_command_lines[i],
                            test_bad_command_line);
    }
    return g_test_run();
}
