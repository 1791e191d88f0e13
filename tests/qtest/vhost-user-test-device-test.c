/*
 * QTest for vhost-user-test-device-pci against a backend inside the test
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include <sys/socket.h>
#include <sys/un.h>
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/pci_regs.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_ring.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS          10000
#define TIMEOUT_US          (TIMEOUT_MS * 1000)

#define VDEV_SLOT           4
#define VDEV_VIRTIO_ID      VIRTIO_ID_RNG
#define VDEV_VQ_SIZE        128
#define VDEV_CONFIG_SIZE    8

/* What QEMU puts in the PCI config space of the device */
#define VDEV_PCI_VENDOR_ID      0x1af4  /* Red Hat / Qumranet */
#define VDEV_PCI_DEVICE_ID      (0x1040 + VDEV_VIRTIO_ID)   /* modern */
#define VDEV_PCI_REVISION       1       /* modern */
#define VDEV_PCI_CLASS          0x0780  /* communication controller */
#define VDEV_PCI_SUBVENDOR_ID   0x1af4
#define VDEV_PCI_SUBDEVICE_ID   0x1100  /* QEMU */

/* A device feature bit the backend offers on top of VERSION_1 */
#define DEV_FEATURE_BIT     0

#define BIT64(n)            (1ull << (n))

typedef struct TestCtx {
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
} TestCtx;

static void ctx_start(TestCtx *t, unsigned int config_size)
{
    t->qts = qtest_initf(
        "-M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=%d,num_vqs=1,vq_size=%d,config_size=%u,addr=%d.0",
        vu_test_backend_get_socket_path(t->be), VDEV_VIRTIO_ID,
        VDEV_VQ_SIZE, config_size, VDEV_SLOT);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->pcibus = qpci_new_pc(t->qts, &t->alloc);
}

static void ctx_stop(TestCtx *t)
{
    qpci_free_pc(t->pcibus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(t->be), ==, 0);
    vu_test_backend_free(t->be);
}

static uint64_t rec_u64(const VuTestMsgRecord *rec)
{
    g_assert_cmpuint(rec->size, ==, sizeof(uint64_t));
    return ldq_le_p(rec->payload);
}

/* For SET_VRING_NUM/BASE/ENABLE and GET_VRING_BASE */
static void assert_vring_state(VuTestBackend *be, unsigned int idx,
                               uint32_t request, uint32_t index,
                               uint32_t num)
{
    g_autoptr(VuTestMsgRecord) rec = vu_test_backend_get_log_entry(be, idx);

    g_assert_cmpuint(rec->request, ==, request);
    g_assert_cmpuint(rec->size, ==, 8);
    g_assert_cmpuint(rec->nfds, ==, 0);
    g_assert_cmpuint(ldl_le_p(rec->payload), ==, index);
    g_assert_cmpuint(ldl_le_p(rec->payload + 4), ==, num);
}

/* For SET_VRING_KICK/CALL/ERR */
static void assert_vring_fd(VuTestBackend *be, unsigned int idx,
                            uint32_t request, uint32_t index)
{
    g_autoptr(VuTestMsgRecord) rec = vu_test_backend_get_log_entry(be, idx);

    g_assert_cmpuint(rec->request, ==, request);
    g_assert_cmphex(rec_u64(rec), ==, index);
    g_assert_cmpuint(rec->nfds, ==, 1);
    /* With REPLY_ACK the front-end waits until the fd is in place */
    g_assert_cmphex(rec->flags, ==,
                    VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY);
}

static QVirtioPCIDevice *vdev_open(TestCtx *t)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };
    QVirtioPCIDevice *dev = virtio_pci_new(t->pcibus, &addr);

    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    return dev;
}

static void vdev_close(QVirtioPCIDevice *dev)
{
    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);
}

/*
 * Bring the device up to DRIVER_OK with queue 0 set up, accepting
 * VERSION_1 and DEV_FEATURE_BIT.  Returns the log index from where the
 * requests caused by DRIVER_OK start.
 */
static unsigned int vdev_driver_start(TestCtx *t, QVirtioPCIDevice *dev,
                                      QVirtQueue **vq)
{
    uint64_t features;
    unsigned int mark;

    qvirtio_start_device(&dev->vdev);
    features = qvirtio_get_features(&dev->vdev);
    qvirtio_set_features(&dev->vdev,
                         features & (BIT64(VIRTIO_F_VERSION_1) |
                                     BIT64(DEV_FEATURE_BIT)));
    *vq = qvirtqueue_setup(&dev->vdev, &t->alloc, 0);
    mark = vu_test_backend_get_log_len(t->be);
    qvirtio_set_driver_ok(&dev->vdev);
    return mark;
}

/*
 * The handshake vhost_dev_init() does when the device is realized.  The
 * backend also offers a protocol feature that QEMU does not know, which
 * must not be acked.
 */
static void do_test_handshake(unsigned int config_size, uint64_t expected_pf)
{
    static const uint32_t expected[] = {
        VU_TEST_REQ_GET_FEATURES,
        VU_TEST_REQ_GET_PROTOCOL_FEATURES,
        VU_TEST_REQ_SET_PROTOCOL_FEATURES,
        VU_TEST_REQ_GET_QUEUE_NUM,
        VU_TEST_REQ_SET_BACKEND_REQ_FD,
        VU_TEST_REQ_SET_OWNER,
        VU_TEST_REQ_GET_FEATURES,
        VU_TEST_REQ_SET_VRING_CALL,
        VU_TEST_REQ_SET_VRING_ERR,
        /* The machine reset at start-up resets the backend too */
        VU_TEST_REQ_RESET_DEVICE,
    };
    TestCtx t = { .be = vu_test_backend_new() };
    VuTestVringInfo vr;
    unsigned int i;

    vu_test_backend_set_protocol_features(t.be,
                                          VU_TEST_DEFAULT_PROTOCOL_FEATURES |
                                          BIT64(63));
    ctx_start(&t, config_size);

    vu_test_backend_assert_requests(t.be, 0, 1, expected, ARRAY_SIZE(expected),
                                    TIMEOUT_MS);
    for (i = 0; i < ARRAY_SIZE(expected); i++) {
        g_autoptr(VuTestMsgRecord) rec =
            vu_test_backend_get_log_entry(t.be, i);

        switch (rec->request) {
        case VU_TEST_REQ_GET_FEATURES:
        case VU_TEST_REQ_GET_PROTOCOL_FEATURES:
        case VU_TEST_REQ_GET_QUEUE_NUM:
        case VU_TEST_REQ_SET_OWNER:
        case VU_TEST_REQ_RESET_DEVICE:
            g_assert_cmphex(rec->flags, ==, VU_TEST_VERSION);
            g_assert_cmpuint(rec->size, ==, 0);
            g_assert_cmpuint(rec->nfds, ==, 0);
            break;
        case VU_TEST_REQ_SET_PROTOCOL_FEATURES:
            g_assert_cmphex(rec->flags, ==, VU_TEST_VERSION);
            g_assert_cmphex(rec_u64(rec), ==, expected_pf);
            break;
        case VU_TEST_REQ_SET_BACKEND_REQ_FD:
            g_assert_cmphex(rec->flags, ==,
                            VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY);
            g_assert_cmpuint(rec->size, ==, 0);
            g_assert_cmpuint(rec->nfds, ==, 1);
            break;
        default:
            assert_vring_fd(t.be, i, rec->request, 0);
            break;
        }
    }

    /* Nothing else happens until the guest drives the device */
    qtest_clock_step(t.qts, 100 * 1000 * 1000);
    if (vu_test_backend_get_log_len(t.be) != ARRAY_SIZE(expected)) {
        vu_test_backend_dump_log(t.be, 0);
    }
    g_assert_cmpuint(vu_test_backend_get_log_len(t.be), ==,
                     ARRAY_SIZE(expected));

    g_assert_cmphex(vu_test_backend_get_acked_protocol_features(t.be), ==,
                    expected_pf);
    g_assert_true(vu_test_backend_has_backend_channel(t.be));
    /* The reset dropped the vring state the handshake set up */
    g_assert_true(vu_test_backend_get_vring(t.be, 0, &vr));
    g_assert_false(vr.has_call_fd);
    g_assert_false(vr.has_err_fd);
    g_assert_false(vr.has_kick_fd);
    g_assert_false(vr.enabled);
    g_assert_cmpuint(vu_test_backend_get_connection_count(t.be), ==, 1);
    g_assert_true(vu_test_backend_is_connected(t.be));

    ctx_stop(&t);
}

static void test_handshake(void)
{
    do_test_handshake(VDEV_CONFIG_SIZE, VU_TEST_DEFAULT_PROTOCOL_FEATURES);
}

/*
 * Without a config space QEMU drops F_CONFIG from what the backend
 * offers (and warns about it).
 */
static void test_handshake_no_config(void)
{
    do_test_handshake(0, VU_TEST_DEFAULT_PROTOCOL_FEATURES &
                         ~BIT64(VU_TEST_PROTOCOL_F_CONFIG));
}

static void find_vdev_cb(QPCIDevice *dev, int devfn, void *data)
{
    GSList **found = data;

    *found = g_slist_append(*found, dev);
}

/* What the guest sees on the PCI bus */
static void test_pci_device(void)
{
    TestCtx t = { .be = vu_test_backend_new() };
    GSList *found = NULL;
    QPCIDevice *pdev;
    QVirtioPCIDevice *dev;

    ctx_start(&t, VDEV_CONFIG_SIZE);

    qpci_device_foreach(t.pcibus, VDEV_PCI_VENDOR_ID, VDEV_PCI_DEVICE_ID,
                        find_vdev_cb, &found);
    g_assert_cmpuint(g_slist_length(found), ==, 1);
    pdev = found->data;
    g_slist_free(found);

    g_assert_cmphex(pdev->devfn, ==, QPCI_DEVFN(VDEV_SLOT, 0));
    g_assert_cmphex(qpci_config_readw(pdev, PCI_VENDOR_ID), ==,
                    VDEV_PCI_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(pdev, PCI_DEVICE_ID), ==, 0x1044);
    g_assert_cmphex(qpci_config_readb(pdev, PCI_REVISION_ID), ==,
                    VDEV_PCI_REVISION);
    g_assert_cmphex(qpci_config_readw(pdev, PCI_CLASS_DEVICE), ==,
                    VDEV_PCI_CLASS);
    g_assert_cmphex(qpci_config_readb(pdev, PCI_CLASS_PROG), ==, 0);
    g_assert_cmphex(qpci_config_readb(pdev, PCI_HEADER_TYPE) & 0x7f, ==,
                    PCI_HEADER_TYPE_NORMAL);
    g_assert_cmphex(qpci_config_readw(pdev, PCI_SUBSYSTEM_VENDOR_ID), ==,
                    VDEV_PCI_SUBVENDOR_ID);
    g_assert_cmphex(qpci_config_readw(pdev, PCI_SUBSYSTEM_ID), ==,
                    VDEV_PCI_SUBDEVICE_ID);
    g_assert_cmphex(qpci_config_readb(pdev, PCI_INTERRUPT_PIN), ==, 1);
    g_assert_cmpuint(qpci_find_capability(pdev, PCI_CAP_ID_VNDR, 0), !=, 0);
    g_free(pdev);

    /* libqos finds the virtio 1.0 structures and the device type */
    dev = vdev_open(&t);
    g_assert_cmpuint(dev->vdev.device_type, ==, VDEV_VIRTIO_ID);
    g_assert_cmphex(qvirtio_get_features(&dev->vdev), ==,
                    VU_TEST_DEFAULT_FEATURES);
    vdev_close(dev);

    ctx_stop(&t);
}

/* A driver brings the device up and resets it */
static void test_driver_start(void)
{
    static const uint32_t expected_start[] = {
        VU_TEST_REQ_SET_FEATURES,
        VU_TEST_REQ_SET_MEM_TABLE,
        VU_TEST_REQ_SET_VRING_NUM,
        VU_TEST_REQ_SET_VRING_BASE,
        VU_TEST_REQ_SET_VRING_ADDR,
        VU_TEST_REQ_SET_VRING_KICK,
        VU_TEST_REQ_SET_VRING_CALL,
        VU_TEST_REQ_SET_VRING_ENABLE,
        VU_TEST_REQ_SET_VRING_CALL,
    };
    static const uint32_t expected_stop[] = {
        VU_TEST_REQ_SET_VRING_ENABLE,
        VU_TEST_REQ_GET_VRING_BASE,
    };
    TestCtx t = { .be = vu_test_backend_new() };
    uint64_t backend_features = VU_TEST_DEFAULT_FEATURES |
                                BIT64(DEV_FEATURE_BIT) |
                                BIT64(VIRTIO_RING_F_INDIRECT_DESC);
    VuTestMemRegion regions[VU_TEST_MAX_MEM_REGIONS];
    g_autoptr(VuTestMsgRecord) rec = NULL;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    VuTestVringInfo vr;
    unsigned int mark, nregions, i;
    uint64_t gpa;

    vu_test_backend_set_features(t.be, backend_features);
    ctx_start(&t, VDEV_CONFIG_SIZE);
    dev = vdev_open(&t);

    /* The guest sees the backend's features, less F_PROTOCOL_FEATURES */
    g_assert_cmphex(qvirtio_get_features(&dev->vdev), ==, backend_features);

    mark = vdev_driver_start(&t, dev, &vq);
    g_assert_cmpuint(vq->size, ==, VDEV_VQ_SIZE);
    vu_test_backend_assert_requests(t.be, mark, 1, expected_start,
                                    ARRAY_SIZE(expected_start), TIMEOUT_MS);

    /* The features the driver accepted, plus F_PROTOCOL_FEATURES */
    rec = vu_test_backend_get_log_entry(t.be, mark);
    g_assert_cmphex(rec_u64(rec), ==,
                    BIT64(VIRTIO_F_VERSION_1) | BIT64(DEV_FEATURE_BIT) |
                    BIT64(VU_TEST_F_PROTOCOL_FEATURES));
    g_assert_cmphex(vu_test_backend_get_acked_features(t.be), ==,
                    rec_u64(rec));
    g_clear_pointer(&rec, vu_test_msg_record_free);

    /* Guest RAM comes in fd-backed regions; the table wants a reply */
    rec = vu_test_backend_get_log_entry(t.be, mark + 1);
    g_assert_cmphex(rec->flags, ==,
                    VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY);
    g_assert_cmpuint(ldl_le_p(rec->payload), >=, 1);
    g_assert_cmpuint(rec->nfds, ==, ldl_le_p(rec->payload));
    g_assert_cmpuint(rec->size, ==, 8 + 32 * rec->nfds);
    g_clear_pointer(&rec, vu_test_msg_record_free);
    nregions = vu_test_backend_get_mem_regions(t.be, regions,
                                               ARRAY_SIZE(regions));
    g_assert_cmpuint(nregions, >=, 1);
    for (i = 0; i < nregions; i++) {
        g_assert_true(regions[i].has_fd);
        g_assert_cmphex(regions[i].guest_phys_addr + regions[i].memory_size,
                        <=, 256 * 1024 * 1024);
    }

    assert_vring_state(t.be, mark + 2, VU_TEST_REQ_SET_VRING_NUM, 0,
                       VDEV_VQ_SIZE);
    assert_vring_state(t.be, mark + 3, VU_TEST_REQ_SET_VRING_BASE, 0, 0);
    assert_vring_fd(t.be, mark + 5, VU_TEST_REQ_SET_VRING_KICK, 0);
    assert_vring_fd(t.be, mark + 6, VU_TEST_REQ_SET_VRING_CALL, 0);
    assert_vring_state(t.be, mark + 7, VU_TEST_REQ_SET_VRING_ENABLE, 0, 1);
    assert_vring_fd(t.be, mark + 8, VU_TEST_REQ_SET_VRING_CALL, 0);

    /* The ring addresses are where the driver put the ring */
    g_assert_true(vu_test_backend_get_vring(t.be, 0, &vr));
    g_assert_cmpuint(vr.num, ==, VDEV_VQ_SIZE);
    g_assert_cmpuint(vr.base, ==, 0);
    g_assert_true(vr.enabled);
    g_assert_true(vr.started);
    g_assert_true(vr.has_kick_fd);
    g_assert_true(vr.has_call_fd);
    g_assert_cmphex(vr.addr_flags, ==, 0);
    g_assert_true(vu_test_backend_uva_to_gpa(t.be, vr.desc_addr, &gpa));
    g_assert_cmphex(gpa, ==, vq->desc);
    g_assert_true(vu_test_backend_uva_to_gpa(t.be, vr.avail_addr, &gpa));
    g_assert_cmphex(gpa, ==, vq->avail);
    g_assert_true(vu_test_backend_uva_to_gpa(t.be, vr.used_addr, &gpa));
    g_assert_cmphex(gpa, ==, vq->used);

    /* Reset: the vring is disabled and stopped */
    mark = vu_test_backend_get_log_len(t.be);
    qvirtio_reset(&dev->vdev);
    vu_test_backend_assert_requests(t.be, mark, 1, expected_stop,
                                    ARRAY_SIZE(expected_stop), TIMEOUT_MS);
    assert_vring_state(t.be, mark, VU_TEST_REQ_SET_VRING_ENABLE, 0, 0);
    rec = vu_test_backend_get_log_entry(t.be, mark + 1);
    g_assert_cmphex(rec->flags, ==, VU_TEST_VERSION);
    g_assert_cmpuint(rec->size, ==, 8);
    g_assert_cmpuint(ldl_le_p(rec->payload), ==, 0);
    g_assert_true(vu_test_backend_get_vring(t.be, 0, &vr));
    g_assert_false(vr.enabled);
    g_assert_false(vr.started);

    qvirtqueue_cleanup(dev->vdev.bus, vq, &t.alloc);
    vdev_close(dev);
    ctx_stop(&t);
}

/* The guest reads and writes the config space the backend holds */
static void test_config(void)
{
    static const uint8_t config[VDEV_CONFIG_SIZE] = {
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
    };
    TestCtx t = { .be = vu_test_backend_new() };
    g_autoptr(VuTestMsgRecord) rec = NULL;
    uint8_t now[VDEV_CONFIG_SIZE];
    QVirtioPCIDevice *dev;
    unsigned int mark, i;
    int idx;

    vu_test_backend_set_config(t.be, config, sizeof(config));
    ctx_start(&t, VDEV_CONFIG_SIZE);
    dev = vdev_open(&t);
    qvirtio_start_device(&dev->vdev);
    qvirtio_set_features(&dev->vdev, BIT64(VIRTIO_F_VERSION_1));

    mark = vu_test_backend_get_log_len(t.be);
    for (i = 0; i < VDEV_CONFIG_SIZE; i++) {
        g_assert_cmphex(qvirtio_config_readb(&dev->vdev, i), ==, config[i]);
    }
    g_assert_cmphex(qvirtio_config_readl(&dev->vdev, 4), ==, 0x88776655);

    /* Each access fetches the whole config space from the backend */
    idx = vu_test_backend_wait_request(t.be, VU_TEST_REQ_GET_CONFIG, mark,
                                       TIMEOUT_MS);
    g_assert_cmpint(idx, >=, 0);
    rec = vu_test_backend_get_log_entry(t.be, idx);
    g_assert_cmpuint(rec->size, ==, 12 + VDEV_CONFIG_SIZE);
    g_assert_cmpuint(ldl_le_p(rec->payload), ==, 0);
    g_assert_cmpuint(ldl_le_p(rec->payload + 4), ==, VDEV_CONFIG_SIZE);

    /* A guest write goes to the backend with SET_CONFIG */
    mark = vu_test_backend_get_log_len(t.be);
    qpci_io_writeb(dev->pdev, dev->bar, dev->device_cfg_offset + 2, 0xa5);
    idx = vu_test_backend_wait_request(t.be, VU_TEST_REQ_SET_CONFIG, mark,
                                       TIMEOUT_MS);
    g_assert_cmpint(idx, >=, 0);
    g_assert_cmpuint(vu_test_backend_get_config(t.be, now, sizeof(now)), ==,
                     sizeof(now));
    g_assert_cmphex(now[2], ==, 0xa5);
    g_assert_cmphex(qvirtio_config_readb(&dev->vdev, 2), ==, 0xa5);
    g_assert_cmphex(qvirtio_config_readb(&dev->vdev, 3), ==, config[3]);

    vdev_close(dev);
    ctx_stop(&t);
}

/* Requests from the backend to QEMU on the SET_BACKEND_REQ_FD channel */
static void test_backend_channel(void)
{
    TestCtx t = { .be = vu_test_backend_new() };
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    uint64_t reply = 0xdead;

    ctx_start(&t, VDEV_CONFIG_SIZE);
    g_assert_true(vu_test_backend_wait_backend_channel(t.be, TIMEOUT_MS));
    dev = vdev_open(&t);
    vdev_driver_start(&t, dev, &vq);
    g_assert_cmpint(vu_test_backend_wait_request(t.be,
                                                 VU_TEST_REQ_SET_VRING_ENABLE,
                                                 0, TIMEOUT_MS), >=, 0);

    /* A config change is acked and raises the config interrupt */
    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0,
                        -1, true, TIMEOUT_MS, &reply), ==, 0);
    g_assert_cmphex(reply, ==, 0);
    qvirtio_wait_config_isr(&dev->vdev, TIMEOUT_US);

    /* A request QEMU does not know is nacked, and the channel stays up */
    reply = 0;
    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_NONE, NULL, 0, -1, true,
                        TIMEOUT_MS, &reply), ==, 0);
    g_assert_cmphex(reply, !=, 0);
    reply = 0xdead;
    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0,
                        -1, true, TIMEOUT_MS, &reply), ==, 0);
    g_assert_cmphex(reply, ==, 0);

    /* Without NEED_REPLY there is no reply */
    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0,
                        -1, false, TIMEOUT_MS, NULL), ==, 0);
    g_assert_cmpint(vu_test_backend_recv_backend_reply(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, 200,
                        &reply), ==, -ETIMEDOUT);

    qvirtqueue_cleanup(dev->vdev.bus, vq, &t.alloc);
    vdev_close(dev);
    ctx_stop(&t);
}

/*
 * The backend on its own, with the test as the front-end: the parts that
 * QEMU does not exercise yet.
 */
static int selftest_connect(VuTestBackend *be)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    pstrcpy(un.sun_path, sizeof(un.sun_path),
            vu_test_backend_get_socket_path(be));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    return fd;
}

static void selftest_send(int fd, uint32_t request, uint32_t flags,
                          const void *payload, uint32_t size)
{
    g_autofree uint8_t *buf = g_malloc0(VU_TEST_HDR_SIZE + size);

    stl_le_p(buf, request);
    stl_le_p(buf + 4, flags);
    stl_le_p(buf + 8, size);
    if (size) {
        memcpy(buf + VU_TEST_HDR_SIZE, payload, size);
    }
    g_assert_cmpint(qemu_write_full(fd, buf, VU_TEST_HDR_SIZE + size), ==,
                    VU_TEST_HDR_SIZE + size);
}

static void selftest_read(int fd, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t ret = read(fd, (uint8_t *)buf + done, len - done);

        g_assert_cmpint(ret, >, 0);
        done += ret;
    }
}

/* Read a reply to @request and return its payload size */
static uint32_t selftest_recv(int fd, uint32_t request, void *payload,
                              uint32_t max)
{
    uint8_t hdr[VU_TEST_HDR_SIZE];
    uint32_t size;

    selftest_read(fd, hdr, sizeof(hdr));
    g_assert_cmpuint(ldl_le_p(hdr), ==, request);
    g_assert_cmphex(ldl_le_p(hdr + 4), ==,
                    VU_TEST_VERSION | VU_TEST_FLAG_REPLY);
    size = ldl_le_p(hdr + 8);
    g_assert_cmpuint(size, <=, max);
    selftest_read(fd, payload, size);
    return size;
}

static uint64_t selftest_recv_u64(int fd, uint32_t request)
{
    uint8_t buf[8];

    g_assert_cmpuint(selftest_recv(fd, request, buf, sizeof(buf)), ==, 8);
    return ldq_le_p(buf);
}

static void test_backend_selftest(void)
{
    static const uint64_t shmem_sizes[] = { 0x200000, 0x10000 };
    g_autoptr(VuTestBackend) be = vu_test_backend_new();
    g_autofree VuTestShmemConfig *shmem = g_new0(VuTestShmemConfig, 1);
    uint8_t u64[8];
    char c;
    int fd;

    g_assert_cmpuint(sizeof(VuTestMMap), ==, 40);
    g_assert_cmpuint(sizeof(VuTestShmemConfig), ==, 2056);
    vu_test_backend_set_features(be, BIT64(VIRTIO_F_VERSION_1) | BIT64(3));
    vu_test_backend_set_shmem_regions(be, shmem_sizes,
                                      ARRAY_SIZE(shmem_sizes));
    fd = selftest_connect(be);
    g_assert_true(vu_test_backend_wait_connections(be, 1, TIMEOUT_MS));

    selftest_send(fd, VU_TEST_REQ_GET_FEATURES, VU_TEST_VERSION, NULL, 0);
    g_assert_cmphex(selftest_recv_u64(fd, VU_TEST_REQ_GET_FEATURES), ==,
                    BIT64(VIRTIO_F_VERSION_1) | BIT64(3) |
                    BIT64(VU_TEST_F_PROTOCOL_FEATURES));
    selftest_send(fd, VU_TEST_REQ_GET_PROTOCOL_FEATURES, VU_TEST_VERSION,
                  NULL, 0);
    g_assert_cmphex(selftest_recv_u64(fd, VU_TEST_REQ_GET_PROTOCOL_FEATURES),
                    ==, VU_TEST_DEFAULT_PROTOCOL_FEATURES);
    stq_le_p(u64, BIT64(VU_TEST_PROTOCOL_F_REPLY_ACK));
    selftest_send(fd, VU_TEST_REQ_SET_PROTOCOL_FEATURES, VU_TEST_VERSION,
                  u64, 8);

    /* NEED_REPLY gets a zero u64 once REPLY_ACK is negotiated */
    selftest_send(fd, VU_TEST_REQ_SET_OWNER,
                  VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY, NULL, 0);
    g_assert_cmphex(selftest_recv_u64(fd, VU_TEST_REQ_SET_OWNER), ==, 0);

    selftest_send(fd, VU_TEST_REQ_GET_SHMEM_CONFIG, VU_TEST_VERSION, NULL, 0);
    g_assert_cmpuint(selftest_recv(fd, VU_TEST_REQ_GET_SHMEM_CONFIG, shmem,
                                   sizeof(*shmem)), ==, sizeof(*shmem));
    g_assert_cmpuint(shmem->nregions, ==, 2);
    g_assert_cmphex(shmem->memory_sizes[0], ==, 0x200000);
    g_assert_cmphex(shmem->memory_sizes[1], ==, 0x10000);
    g_assert_cmphex(shmem->memory_sizes[2], ==, 0);

    /* An unknown request is nacked when it can be, else the backend hangs up */
    selftest_send(fd, 99, VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY, NULL, 0);
    g_assert_cmphex(selftest_recv_u64(fd, 99), ==, 1);
    selftest_send(fd, 99, VU_TEST_VERSION, NULL, 0);
    g_assert_cmpint(read(fd, &c, 1), ==, 0);
    g_assert_true(vu_test_backend_wait_disconnected(be, TIMEOUT_MS));
    close(fd);

    g_assert_cmpuint(vu_test_backend_get_log_len(be), ==, 7);
    g_assert_cmpint(vu_test_backend_wait_request(be, 99, 0, 0), ==, 5);
    g_assert_cmpint(vu_test_backend_wait_request(be, 99, 6, 0), ==, 6);
    g_assert_cmpint(vu_test_backend_wait_request(be, 99, 7, 10), ==, -1);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(be), ==, 0);

    /* A new connection is accepted after that */
    fd = selftest_connect(be);
    g_assert_true(vu_test_backend_wait_connections(be, 2, TIMEOUT_MS));
    selftest_send(fd, VU_TEST_REQ_GET_QUEUE_NUM, VU_TEST_VERSION, NULL, 0);
    g_assert_cmpuint(selftest_recv_u64(fd, VU_TEST_REQ_GET_QUEUE_NUM), ==,
                     VU_TEST_DEFAULT_QUEUE_NUM);
    vu_test_backend_disconnect(be);
    g_assert_false(vu_test_backend_is_connected(be));
    g_assert_cmpint(read(fd, &c, 1), ==, 0);
    close(fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vhost-user-test-device/backend-selftest",
                   test_backend_selftest);
    if (!qtest_has_device("vhost-user-test-device-pci")) {
        return g_test_run();
    }

    qtest_add_func("/vhost-user-test-device/handshake", test_handshake);
    qtest_add_func("/vhost-user-test-device/handshake/no-config",
                   test_handshake_no_config);
    qtest_add_func("/vhost-user-test-device/pci-device", test_pci_device);
    qtest_add_func("/vhost-user-test-device/driver-start", test_driver_start);
    qtest_add_func("/vhost-user-test-device/config", test_config);
    qtest_add_func("/vhost-user-test-device/backend-channel",
                   test_backend_channel);

    return g_test_run();
}
