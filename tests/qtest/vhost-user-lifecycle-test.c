/*
 * QTest for the lifecycle of vhost-user-test-device-pci: the backend goes
 * away and comes back at any moment, and bad properties fail realize
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
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ids.h"
#include "vhost-user-test-backend.h"

#define TIMEOUT_MS          10000
#define TIMEOUT_US          (TIMEOUT_MS * 1000)

#define VDEV_SLOT           4
#define VDEV_VIRTIO_ID      VIRTIO_ID_RNG
#define VDEV_NUM_VQS        1
#define VDEV_VQ_SIZE        128
#define VDEV_CONFIG_SIZE    8
#define VDEV_PATH           "/machine/peripheral/vdev0/virtio-backend"

/* How often a chardev with reconnect-ms tries to reach the backend */
#define RECONNECT_MS        20

/* The one VIRTIO Shared Memory Region the backend asks for, and a mapping */
#define SHMEM_SIZE          0x200000
#define SHMEM_MAP_LEN       0x1000
#define SHMEM_MAP_RW        1

#define STATUS_RUNNING      (VIRTIO_CONFIG_S_ACKNOWLEDGE | \
                             VIRTIO_CONFIG_S_DRIVER | \
                             VIRTIO_CONFIG_S_FEATURES_OK | \
                             VIRTIO_CONFIG_S_DRIVER_OK)

#define BIT64(n)            (1ull << (n))

static const uint8_t vdev_config[VDEV_CONFIG_SIZE] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
};

/* What QEMU sends when the device is realized or reconnects */
static const uint32_t handshake[] = {
    VU_TEST_REQ_GET_FEATURES,
    VU_TEST_REQ_GET_PROTOCOL_FEATURES,
    VU_TEST_REQ_SET_PROTOCOL_FEATURES,
    VU_TEST_REQ_GET_QUEUE_NUM,
    VU_TEST_REQ_SET_BACKEND_REQ_FD,
    VU_TEST_REQ_SET_OWNER,
    VU_TEST_REQ_GET_FEATURES,
    VU_TEST_REQ_SET_VRING_CALL,
    VU_TEST_REQ_SET_VRING_ERR,
    VU_TEST_REQ_GET_SHMEM_CONFIG,   /* with F_SHMEM only */
};

/* What QEMU sends when the driver sets DRIVER_OK */
static const uint32_t driver_start[] = {
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

/* What QEMU sends when the driver resets the running device */
static const uint32_t driver_stop[] = {
    VU_TEST_REQ_SET_VRING_ENABLE,
    VU_TEST_REQ_GET_VRING_BASE,
};

typedef struct TestCtx {
    VuTestBackend *be;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    bool shmem;
    char *stderr_path;      /* where QEMU's stderr goes */
} TestCtx;

/*
 * A backend offering F_SHMEM with one region of @shmem_size (none if 0),
 * and the config space vdev_config
 */
static void ctx_init(TestCtx *t, uint64_t shmem_size)
{
    int fd;

    t->be = vu_test_backend_new();
    vu_test_backend_set_config(t->be, vdev_config, sizeof(vdev_config));
    if (shmem_size) {
        t->shmem = true;
        vu_test_backend_set_protocol_features(
            t->be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
                   BIT64(VU_TEST_PROTOCOL_F_SHMEM));
        vu_test_backend_set_shmem_regions(t->be, &shmem_size, 1);
    }
    fd = g_file_open_tmp("vhost-user-lifecycle-XXXXXX", &t->stderr_path,
                         NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
}

/*
 * Start QEMU with the device on machine @machine, @chardev_opts appended
 * to its chardev
 */
static void ctx_start_machine(TestCtx *t, const char *machine,
                              const char *chardev_opts)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };

    /* libqtest runs QEMU through the shell, which takes the redirection */
    t->qts = qtest_initf(
        "-M %s,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s%s "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=%d,num_vqs=%d,vq_size=%d,config_size=%d,addr=%d.0 "
        "2>>%s",
        machine, vu_test_backend_get_socket_path(t->be), chardev_opts,
        VDEV_VIRTIO_ID, VDEV_NUM_VQS, VDEV_VQ_SIZE, VDEV_CONFIG_SIZE,
        VDEV_SLOT, t->stderr_path);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->pcibus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = virtio_pci_new(t->pcibus, &addr);
    g_assert_nonnull(t->dev);
    qvirtio_pci_device_enable(t->dev);
}

static void ctx_start(TestCtx *t, const char *chardev_opts)
{
    ctx_start_machine(t, "q35", chardev_opts);
}

/* What QEMU printed on stderr so far */
static char *ctx_stderr(TestCtx *t)
{
    char *contents = NULL;

    g_assert_true(g_file_get_contents(t->stderr_path, &contents, NULL,
                                      NULL));
    return contents;
}

/*
 * Stop QEMU and the back-end; @unplugged: the device is already gone, so
 * the driver only frees what it held
 */
static void ctx_finish(TestCtx *t, bool unplugged)
{
    g_autofree char *err = NULL;

    if (t->vq) {
        /* Only guest memory and the test's own: no device access */
        qvirtqueue_cleanup(t->dev->vdev.bus, t->vq, &t->alloc);
    }
    if (!unplugged) {
        qvirtio_pci_device_disable(t->dev);
    }
    g_free(t->dev->pdev);
    g_free(t->dev);
    qpci_free_pc(t->pcibus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
    err = ctx_stderr(t);
    if (*err) {
        g_test_message("QEMU's stderr:");
        g_test_message("%s", err);
    }
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(t->be), ==, 0);
    vu_test_backend_free(t->be);
    unlink(t->stderr_path);
    g_free(t->stderr_path);
}

static void ctx_stop(TestCtx *t)
{
    ctx_finish(t, false);
}

/*
 * @err is one line, which ends in @line; the sanitizers' own lines
 * ("==PID==...") of an ASan or UBSan build do not count
 */
static void assert_one_line(char *err, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(g_strchomp(err), "\n", -1);
    const char *found = NULL;
    unsigned int n = 0;

    g_test_message("QEMU's stderr: %s", err);
    for (int i = 0; lines[i]; i++) {
        if (!g_str_has_prefix(lines[i], "==")) {
            found = lines[i];
            n++;
        }
    }
    g_assert_cmpuint(n, ==, 1);
    g_assert_true(g_str_has_suffix(found, line));
}

/* Index of the first request that came on connection @conn */
static unsigned int wait_conn_start(VuTestBackend *be, unsigned int conn)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;
    unsigned int i = 0;

    for (;;) {
        unsigned int len = vu_test_backend_get_log_len(be);

        for (; i < len; i++) {
            g_autoptr(VuTestMsgRecord) rec =
                vu_test_backend_get_log_entry(be, i);

            if (rec->conn == conn) {
                return i;
            }
        }
        if (g_get_monotonic_time() > deadline) {
            vu_test_backend_dump_log(be, 0);
            g_error("no request on connection %u", conn);
        }
        vu_test_backend_wait_log_len(be, len + 1, 100);
    }
}

/*
 * Check the handshake on connection @conn, which includes
 * GET_SHMEM_CONFIG when the backend offers F_SHMEM.  Returns the index
 * after it.
 */
static unsigned int assert_handshake(TestCtx *t, unsigned int conn)
{
    unsigned int from = wait_conn_start(t->be, conn);

    return vu_test_backend_assert_requests(t->be, from, conn, handshake,
                                           ARRAY_SIZE(handshake) - !t->shmem,
                                           TIMEOUT_MS);
}

static uint8_t vdev_status(TestCtx *t)
{
    return t->dev->vdev.bus->get_status(&t->dev->vdev);
}

static void vdev_set_status(TestCtx *t, uint8_t status)
{
    t->dev->vdev.bus->set_status(&t->dev->vdev, status);
}

/* Wait until the device status has all of @bits, and return it */
static uint8_t wait_status(TestCtx *t, uint8_t bits)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;
    uint8_t status;

    while (((status = vdev_status(t)) & bits) != bits) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    return status;
}

/*
 * Reset the device and bring it up to DRIVER_OK with queue 0 set up.
 * Returns the log index from where the requests caused by DRIVER_OK start.
 */
static unsigned int vdev_driver_start(TestCtx *t)
{
    unsigned int mark;

    if (t->vq) {
        qvirtqueue_cleanup(t->dev->vdev.bus, t->vq, &t->alloc);
    }
    qvirtio_start_device(&t->dev->vdev);
    qvirtio_set_features(&t->dev->vdev, BIT64(VIRTIO_F_VERSION_1));
    t->vq = qvirtqueue_setup(&t->dev->vdev, &t->alloc, 0);
    mark = vu_test_backend_get_log_len(t->be);
    qvirtio_set_driver_ok(&t->dev->vdev);
    return mark;
}

/* The emulator answers, and the device is still there */
static void assert_alive(TestCtx *t)
{
    QDict *resp = qtest_qmp_assert_success_ref(t->qts,
                                               "{'execute': 'query-status'}");

    g_assert_true(qdict_get_bool(resp, "running"));
    g_assert_cmpstr(qdict_get_str(resp, "status"), ==, "running");
    qobject_unref(resp);
    g_assert_true(qtest_qom_get_bool(t->qts, VDEV_PATH, "realized"));
}

/* Wait until the chardev lost its connection */
static void wait_chardev_disconnected(TestCtx *t)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;

    for (;;) {
        QDict *resp = qtest_qmp(t->qts, "{'execute': 'query-chardev'}");
        QList *list = qdict_get_qlist(resp, "return");
        QListEntry *e;
        bool found = false, disconnected = false;

        g_assert_nonnull(list);
        QLIST_FOREACH_ENTRY(list, e) {
            QDict *chr = qobject_to(QDict, qlist_entry_obj(e));

            if (!strcmp(qdict_get_str(chr, "label"), "chr0")) {
                found = true;
                disconnected = g_str_has_prefix(qdict_get_str(chr, "filename"),
                                                "disconnected:");
            }
        }
        qobject_unref(resp);
        g_assert_true(found);
        if (disconnected) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
}

/* Number of live mappings in the device's shared memory region */
static int count_mappings(TestCtx *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *list = qdict_get_qlist(resp, "return");
    QListEntry *e;
    int ret = -1;

    g_assert_nonnull(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));
        QList *regions = qdict_get_qlist(info, "regions");
        QDict *region;

        if (strcmp(qdict_get_str(info, "path"), VDEV_PATH)) {
            continue;
        }
        g_assert_cmpuint(qlist_size(regions), ==, 1);
        region = qobject_to(QDict, qlist_peek(regions));
        g_assert_cmpuint(qdict_get_int(region, "shmid"), ==, 0);
        g_assert_cmphex(qdict_get_int(region, "size"), ==, SHMEM_SIZE);
        ret = qlist_size(qdict_get_qlist(region, "mappings"));
    }
    qobject_unref(resp);
    return ret;
}

/*
 * The backend maps a file at @offset of the region.  With @wait, check
 * that QEMU acks it; else return without waiting for the reply.
 */
static void backend_map(TestCtx *t, uint64_t offset, bool wait)
{
    VuTestMMap map = {
        .shmid = 0,
        .fd_offset = cpu_to_le64(0),
        .shm_offset = cpu_to_le64(offset),
        .len = cpu_to_le64(SHMEM_MAP_LEN),
        .flags = cpu_to_le64(SHMEM_MAP_RW),
    };
    uint64_t reply = 0xdead;
    int fd = memfd_create("vhost-user-lifecycle-test", MFD_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, SHMEM_MAP_LEN), ==, 0);
    if (wait) {
        g_assert_cmpint(vu_test_backend_backend_request(
                            t->be, VU_TEST_BACKEND_REQ_SHMEM_MAP, &map,
                            sizeof(map), fd, true, TIMEOUT_MS, &reply), ==, 0);
        g_assert_cmphex(reply, ==, 0);
    } else {
        g_assert_cmpint(vu_test_backend_send_backend_msg(
                            t->be, VU_TEST_BACKEND_REQ_SHMEM_MAP,
                            VU_TEST_VERSION | VU_TEST_FLAG_NEED_REPLY, &map,
                            sizeof(map), fd), ==, 0);
    }
    close(fd);
}

/*
 * The guest reads the config space of the device, at any stage of driver
 * initialization
 */
static void assert_guest_config(TestCtx *t, const uint8_t *expected)
{
    unsigned int i;

    for (i = 0; i < VDEV_CONFIG_SIZE; i++) {
        g_assert_cmphex(qpci_io_readb(t->dev->pdev, t->dev->bar,
                                      t->dev->device_cfg_offset + i), ==,
                        expected[i]);
    }
}

/*
 * The backend goes away after the handshake, before any driver touched
 * the device.  There is nothing to tell the guest; the device still
 * answers with the config space the backend last gave, and a driver that
 * starts it gets no error.
 */
static void test_disconnect_before_driver(void)
{
    TestCtx t = { 0 };
    g_autofree char *err = NULL;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    assert_guest_config(&t, vdev_config);
    g_assert_cmpint(count_mappings(&t), ==, 0);

    vu_test_backend_disconnect(t.be);
    wait_chardev_disconnected(&t);
    assert_alive(&t);
    g_assert_cmphex(vdev_status(&t), ==, 0);
    g_assert_cmpint(count_mappings(&t), ==, 0);
    assert_guest_config(&t, vdev_config);

    vdev_driver_start(&t);
    assert_alive(&t);
    g_assert_cmphex(vdev_status(&t), ==, STATUS_RUNNING);
    assert_guest_config(&t, vdev_config);
    g_assert_cmpuint(vu_test_backend_get_connection_count(t.be), ==, 1);

    /* One line for the disconnect, and nothing else */
    err = ctx_stderr(&t);
    assert_one_line(err, "warning: " VDEV_PATH
                    ": vhost-user backend disconnected");
    ctx_stop(&t);
}

/*
 * The backend goes away while the device runs with a mapping in its
 * shared memory region: the mapping goes, the guest is told to reset the
 * device, and it can.
 */
static void test_disconnect_running(void)
{
    TestCtx t = { 0 };
    g_autofree char *err = NULL;
    unsigned int mark;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    backend_map(&t, 0, true);
    g_assert_cmpint(count_mappings(&t), ==, 1);

    vu_test_backend_disconnect(t.be);
    g_assert_cmphex(wait_status(&t, VIRTIO_CONFIG_S_NEEDS_RESET), ==,
                    STATUS_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
    qvirtio_wait_config_isr(&t.dev->vdev, TIMEOUT_US);
    assert_alive(&t);
    g_assert_cmpint(count_mappings(&t), ==, 0);

    /* The driver resets the device */
    qvirtio_reset(&t.dev->vdev);
    assert_alive(&t);
    g_assert_cmphex(vdev_status(&t), ==, 0);

    err = ctx_stderr(&t);
    assert_one_line(err, VDEV_PATH ": vhost-user backend disconnected");
    ctx_stop(&t);
}

/* The backend goes away after the guest reset the device it had started */
static void test_disconnect_after_reset(void)
{
    TestCtx t = { 0 };
    g_autofree char *err = NULL;
    unsigned int mark;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    backend_map(&t, 0, true);
    mark = vu_test_backend_get_log_len(t.be);
    qvirtio_reset(&t.dev->vdev);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_stop,
                                    ARRAY_SIZE(driver_stop), TIMEOUT_MS);

    vu_test_backend_disconnect(t.be);
    wait_chardev_disconnected(&t);
    assert_alive(&t);
    g_assert_cmphex(vdev_status(&t), ==, 0);
    g_assert_cmpint(count_mappings(&t), ==, 0);

    /* One line for the disconnect, and nothing else */
    err = ctx_stderr(&t);
    assert_one_line(err, "warning: " VDEV_PATH
                    ": vhost-user backend disconnected");
    ctx_stop(&t);
}

/*
 * The backend maps memory and hangs up before it reads QEMU's reply, in
 * the middle of an exchange on the back-end channel
 */
static void test_disconnect_backend_channel(void)
{
    TestCtx t = { 0 };
    unsigned int mark;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    backend_map(&t, 0, true);

    backend_map(&t, SHMEM_MAP_LEN, false);
    vu_test_backend_disconnect(t.be);

    g_assert_cmphex(wait_status(&t, VIRTIO_CONFIG_S_NEEDS_RESET), ==,
                    STATUS_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_alive(&t);
    g_assert_cmpint(count_mappings(&t), ==, 0);
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
 * The backend hangs up while QEMU waits for its reply to SET_MEM_TABLE,
 * as the driver sets DRIVER_OK
 */
static void test_disconnect_during_start(void)
{
    TestCtx t = { 0 };
    HangUpHook hook = { .request = VU_TEST_REQ_SET_MEM_TABLE };
    g_autoptr(VuTestMsgRecord) rec = NULL;
    g_autofree char *err = NULL;
    unsigned int mark;

    ctx_init(&t, 0);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    vu_test_backend_set_request_hook(t.be, hang_up_hook, &hook);

    qvirtio_start_device(&t.dev->vdev);
    qvirtio_set_features(&t.dev->vdev, BIT64(VIRTIO_F_VERSION_1));
    t.vq = qvirtqueue_setup(&t.dev->vdev, &t.alloc, 0);
    mark = vu_test_backend_get_log_len(t.be);
    vdev_set_status(&t, STATUS_RUNNING);

    g_assert_cmphex(wait_status(&t, VIRTIO_CONFIG_S_NEEDS_RESET), ==,
                    STATUS_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_alive(&t);
    g_assert_nonnull(hook.thread);
    g_thread_join(hook.thread);

    /* Nothing came after the request that was left unanswered */
    g_assert_cmpuint(vu_test_backend_get_log_len(t.be), ==, mark + 2);
    rec = vu_test_backend_get_log_entry(t.be, mark + 1);
    g_assert_cmpstr(vu_test_request_name(rec->request), ==,
                    vu_test_request_name(VU_TEST_REQ_SET_MEM_TABLE));

    qvirtio_reset(&t.dev->vdev);
    assert_alive(&t);

    err = ctx_stderr(&t);
    g_assert_nonnull(strstr(err, "vhost-user backend start failed"));
    g_assert_nonnull(strstr(err, VDEV_PATH
                            ": vhost-user backend disconnected"));
    ctx_stop(&t);
}

/*
 * Before a driver set DRIVER_OK, the backend announces a config change:
 * it is acked, and the guest gets no interrupt.  After DRIVER_OK, it does.
 */
static void test_config_change_before_driver(void)
{
    TestCtx t = { 0 };
    uint64_t reply = 0xdead;
    unsigned int mark;

    ctx_init(&t, 0);
    ctx_start(&t, "");
    assert_handshake(&t, 1);
    g_assert_true(vu_test_backend_wait_backend_channel(t.be, TIMEOUT_MS));

    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0,
                        -1, true, TIMEOUT_MS, &reply), ==, 0);
    g_assert_cmphex(reply, ==, 0);
    assert_alive(&t);
    g_assert_cmphex(qpci_io_readb(t.dev->pdev, t.dev->bar,
                                  t.dev->isr_cfg_offset), ==, 0);

    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    reply = 0xdead;
    g_assert_cmpint(vu_test_backend_backend_request(
                        t.be, VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0,
                        -1, true, TIMEOUT_MS, &reply), ==, 0);
    g_assert_cmphex(reply, ==, 0);
    qvirtio_wait_config_isr(&t.dev->vdev, TIMEOUT_US);
    ctx_stop(&t);
}

/*
 * With a chardev that reconnects, the device comes back when the backend
 * listens again: the whole handshake runs on the new connection, and the
 * guest, told to reset the device, sets it up again on it.
 */
static void test_reconnect(void)
{
    TestCtx t = { 0 };
    g_autofree char *opts = g_strdup_printf(",reconnect-ms=%d",
                                            RECONNECT_MS);
    g_autoptr(VuTestMsgRecord) rec = NULL;
    VuTestVringInfo vr;
    unsigned int mark;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start(&t, opts);
    assert_handshake(&t, 1);
    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 1, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    backend_map(&t, 0, true);
    g_assert_cmpint(count_mappings(&t), ==, 1);

    vu_test_backend_disconnect(t.be);
    g_assert_cmphex(wait_status(&t, VIRTIO_CONFIG_S_NEEDS_RESET), ==,
                    STATUS_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_alive(&t);
    g_assert_cmpint(count_mappings(&t), ==, 0);

    /* QEMU comes back on its own and goes through the whole handshake */
    g_assert_true(vu_test_backend_wait_connections(t.be, 2, TIMEOUT_MS));
    mark = assert_handshake(&t, 2);
    g_assert_true(vu_test_backend_wait_backend_channel(t.be, TIMEOUT_MS));
    g_assert_cmphex(vu_test_backend_get_acked_protocol_features(t.be), ==,
                    VU_TEST_DEFAULT_PROTOCOL_FEATURES |
                    BIT64(VU_TEST_PROTOCOL_F_SHMEM));

    /* The device lost its rings: it waits for the guest to reset it */
    assert_alive(&t);
    g_assert_cmpuint(vu_test_backend_get_log_len(t.be), ==, mark);
    g_assert_cmphex(vdev_status(&t), ==,
                    STATUS_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);

    mark = vdev_driver_start(&t);
    vu_test_backend_assert_requests(t.be, mark, 2, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    g_assert_cmphex(vdev_status(&t), ==, STATUS_RUNNING);
    rec = vu_test_backend_get_log_entry(t.be, mark);
    g_assert_cmphex(ldq_le_p(rec->payload), ==,
                    BIT64(VIRTIO_F_VERSION_1) |
                    BIT64(VU_TEST_F_PROTOCOL_FEATURES));
    g_assert_true(vu_test_backend_get_vring(t.be, 0, &vr));
    g_assert_true(vr.started);
    g_assert_true(vr.enabled);
    g_assert_cmpuint(vr.num, ==, VDEV_VQ_SIZE);
    assert_guest_config(&t, vdev_config);

    /* The new back-end channel works */
    backend_map(&t, 0, true);
    g_assert_cmpint(count_mappings(&t), ==, 1);
    g_assert_cmpuint(vu_test_backend_get_connection_count(t.be), ==, 2);
    ctx_stop(&t);
}

/* How a backend that comes back can differ from the first one */
typedef struct Mismatch {
    uint64_t shmem_size;            /* of the first backend, 0 for none */
    uint64_t features;              /* virtio features of the first one */
    void (*differ)(VuTestBackend *be, bool differ);
    const char *error;              /* what QEMU says about it */
} Mismatch;

/* The shared memory region of a backend that comes back is bigger */
static void differ_shmem(VuTestBackend *be, bool differ)
{
    uint64_t size = differ ? 2 * SHMEM_SIZE : SHMEM_SIZE;

    vu_test_backend_set_shmem_regions(be, &size, 1);
}

/* A backend that comes back lacks a feature the guest was offered */
static void differ_features(VuTestBackend *be, bool differ)
{
    vu_test_backend_set_features(be, VU_TEST_DEFAULT_FEATURES |
                                     (differ ? 0 : BIT64(0)));
}

static const Mismatch mismatch_shmem = {
    .shmem_size = SHMEM_SIZE,
    .features = VU_TEST_DEFAULT_FEATURES,
    .differ = differ_shmem,
    .error = VDEV_PATH ": vhost-user backend connection failed: the "
             "backend's shared memory region 0 is 0x400000 bytes, it was "
             "0x200000 bytes",
};

/* A backend without regions comes back with one */
static void differ_shmem_new(VuTestBackend *be, bool differ)
{
    uint64_t size = SHMEM_SIZE;

    vu_test_backend_set_protocol_features(
        be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
            (differ ? BIT64(VU_TEST_PROTOCOL_F_SHMEM) : 0));
    vu_test_backend_set_shmem_regions(be, &size, differ);
}

/* Before, the new region was made: outside the BAR the guest had found */
static const Mismatch mismatch_shmem_new = {
    .features = VU_TEST_DEFAULT_FEATURES,
    .differ = differ_shmem_new,
    .error = VDEV_PATH ": vhost-user backend connection failed: the "
             "backend's shared memory region 0 is 0x200000 bytes, it was "
             "0x0 bytes",
};

static const Mismatch mismatch_features = {
    .features = VU_TEST_DEFAULT_FEATURES | BIT64(0),
    .differ = differ_features,
    .error = "the backend no longer offers features 0x1",
};

/*
 * A backend that comes back different from what the guest knows cannot be
 * used: QEMU says why and hangs up, the device stays without a backend,
 * and the next backend that is like the first one is taken
 */
static void test_reconnect_mismatch(const void *opaque)
{
    const Mismatch *m = opaque;
    TestCtx t = { 0 };
    g_autofree char *opts = g_strdup_printf(",reconnect-ms=%d",
                                            RECONNECT_MS);
    g_autoptr(VuTestMsgRecord) rec = NULL;
    g_autofree char *err = NULL;
    unsigned int mark, conn;
    int idx;

    ctx_init(&t, m->shmem_size);
    vu_test_backend_set_features(t.be, m->features);
    ctx_start(&t, opts);
    assert_handshake(&t, 1);
    g_assert_cmphex(qvirtio_get_features(&t.dev->vdev), ==, m->features);

    m->differ(t.be, true);
    vu_test_backend_disconnect(t.be);
    g_assert_true(vu_test_backend_wait_connections(t.be, 2, TIMEOUT_MS));
    assert_handshake(&t, 2);
    g_assert_true(vu_test_backend_wait_connections(t.be, 3, TIMEOUT_MS));
    assert_alive(&t);
    err = ctx_stderr(&t);
    g_assert_nonnull(strstr(err, VDEV_PATH ": vhost-user backend connection "
                            "failed: "));
    g_assert_nonnull(strstr(err, m->error));

    /* The device cannot start without a backend */
    mark = vdev_driver_start(&t);
    g_assert_cmpint(vu_test_backend_wait_request(t.be,
                                                 VU_TEST_REQ_SET_FEATURES,
                                                 0, 0), ==, -1);
    assert_alive(&t);

    /*
     * The next connection that sees the first backend's setup again is
     * kept.  The guest had set DRIVER_OK while no backend was there, so
     * the device starts on it.
     */
    m->differ(t.be, false);
    idx = vu_test_backend_wait_request(t.be, VU_TEST_REQ_SET_FEATURES, mark,
                                       TIMEOUT_MS);
    g_assert_cmpint(idx, >=, 0);
    rec = vu_test_backend_get_log_entry(t.be, idx);
    conn = rec->conn;
    g_assert_cmpuint(conn, >=, 3);
    g_assert_cmpuint(assert_handshake(&t, conn), ==, idx);
    vu_test_backend_assert_requests(t.be, idx, conn, driver_start,
                                    ARRAY_SIZE(driver_start), TIMEOUT_MS);
    g_assert_cmphex(vdev_status(&t), ==, STATUS_RUNNING);
    assert_alive(&t);
    g_assert_cmpuint(vu_test_backend_get_connection_count(t.be), ==, conn);
    g_assert_true(vu_test_backend_is_connected(t.be));
    ctx_stop(&t);
}

/* A property value that must make realize fail */
typedef struct BadProperty {
    const char *path;
    const char *name;
    int64_t value;
    const char *error;
} BadProperty;

static const BadProperty bad_properties[] = {
    {
        "virtio-id-zero", "virtio-id", 0,
        "vhost-user-base: need to define device id"
    }, {
        "virtio-id-unknown", "virtio-id", 0x2a,
        "vhost-user-base: unknown virtio-id 42"
    }, {
        "num-vqs-zero", "num_vqs", 0,
        "vhost-user-base: num_vqs must be between 1 and 1024, not 0"
    }, {
        "num-vqs-too-many", "num_vqs", 1025,
        "vhost-user-base: num_vqs must be between 1 and 1024, not 1025"
    }, {
        "vq-size-not-power-of-2", "vq_size", 100,
        "vhost-user-base: vq_size must be a power of 2 up to 1024, not 100"
    }, {
        "vq-size-too-big", "vq_size", 2048,
        "vhost-user-base: vq_size must be a power of 2 up to 1024, not 2048"
    }, {
        "config-size-too-big", "config_size", 257,
        "vhost-user-base: config_size must be at most 256, not 257"
    },
};

static QDict *device_args(const char *name, int64_t value)
{
    QDict *args = qdict_new();

    qdict_put_str(args, "driver", "vhost-user-test-device-pci");
    qdict_put_str(args, "id", "vdev0");
    qdict_put_str(args, "bus", "rp0");
    qdict_put_str(args, "chardev", "chr0");
    qdict_put_int(args, "virtio-id", VDEV_VIRTIO_ID);
    qdict_put_int(args, "num_vqs", VDEV_NUM_VQS);
    qdict_put_int(args, "vq_size", VDEV_VQ_SIZE);
    qdict_put_int(args, "config_size", VDEV_CONFIG_SIZE);
    if (name) {
        qdict_put_int(args, name, value);
    }
    return args;
}

/*
 * device_add with the bad value fails with a message, QEMU lives on, and
 * the chardev serves a good device afterwards
 */
static void test_bad_property(const void *opaque)
{
    const BadProperty *bad = opaque;
    TestCtx t = { .be = vu_test_backend_new() };
    QTestState *qts;
    QDict *resp, *error;

    /* The device is hot-plugged into a root port: pcie.0 takes none */
    qts = qtest_initf("-M q35 -nodefaults "
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 "
                      "-chardev socket,id=chr0,path=%s",
                      vu_test_backend_get_socket_path(t.be));

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}",
                     device_args(bad->name, bad->value));
    error = qdict_get_qdict(resp, "error");
    g_assert_nonnull(error);
    g_assert_cmpstr(qdict_get_str(error, "class"), ==, "GenericError");
    g_assert_cmpstr(qdict_get_str(error, "desc"), ==, bad->error);
    qobject_unref(resp);

    resp = qtest_qmp_assert_success_ref(qts, "{'execute': 'query-status'}");
    g_assert_true(qdict_get_bool(resp, "running"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments': "
                     "{'path': '/machine/peripheral/vdev0'}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    /* The bad device never spoke to the backend */
    g_assert_cmpuint(vu_test_backend_get_log_len(t.be), ==, 0);

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}",
                     device_args(NULL, 0));
    g_assert_false(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    assert_handshake(&t, 1);
    g_assert_true(qtest_qom_get_bool(qts, VDEV_PATH, "realized"));

    qtest_quit(qts);
    g_assert_cmpuint(vu_test_backend_get_protocol_errors(t.be), ==, 0);
    vu_test_backend_free(t.be);
}

/* A bad value on the command line: QEMU exits with status 1 and says why */
static void test_bad_property_command_line(void)
{
    g_autoptr(VuTestBackend) be = vu_test_backend_new();
    g_autofree char *chardev = g_strdup_printf(
        "socket,id=chr0,path=%s", vu_test_backend_get_socket_path(be));
    g_autofree char *device = g_strdup_printf(
        "vhost-user-test-device-pci,chardev=chr0,virtio-id=%d,vq_size=2048",
        VDEV_VIRTIO_ID);
    const char *argv[] = {
        qtest_qemu_binary(NULL), "-M", "q35", "-accel", "qtest",
        "-nodefaults", "-display", "none", "-chardev", chardev,
        "-device", device, NULL
    };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    GError *gerr = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &gerr));
    g_assert_no_error(gerr);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, "vhost-user-base: vq_size must be a power "
                            "of 2 up to 1024, not 2048"));
    g_assert_cmpuint(vu_test_backend_get_log_len(be), ==, 0);
}

/*
 * device_del: the device on pc's root bus, where ACPI hot-unplug ejects it
 * as soon as the guest (the test) asks
 */
static void ctx_start_pc(TestCtx *t, const char *chardev_opts)
{
    ctx_start_machine(t, "pc", chardev_opts);
}

/* After the device is gone: what the guest driver held is just freed */
static void ctx_stop_unplugged(TestCtx *t)
{
    ctx_finish(t, true);
}

/* How many fds and host mappings QEMU holds of the back-end's memfds */
static int count_memfd_uses(TestCtx *t)
{
    g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps",
                                                 (int)qtest_pid(t->qts));
    g_autofree char *fd_path = g_strdup_printf("/proc/%d/fd",
                                               (int)qtest_pid(t->qts));
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;
    const char *name;
    GDir *dir;
    int n = 0;

    g_assert_true(g_file_get_contents(maps_path, &contents, NULL, NULL));
    lines = g_strsplit(contents, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        n += strstr(lines[i], "memfd:vhost-user-lifecycle-test") != NULL;
    }
    dir = g_dir_open(fd_path, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *link = g_strdup_printf("%s/%s", fd_path, name);
        g_autofree char *target = g_file_read_link(link, NULL);

        n += target && strstr(target, "memfd:vhost-user-lifecycle-test");
    }
    g_dir_close(dir);
    return n;
}

/* The device is gone, and so is everything it held */
static void assert_unplugged(TestCtx *t)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;
    QDict *resp;

    resp = qtest_qmp_assert_success_ref(t->qts,
                                        "{'execute': 'query-status'}");
    g_assert_true(qdict_get_bool(resp, "running"));
    qobject_unref(resp);
    resp = qtest_qmp(t->qts, "{'execute': 'qom-list', 'arguments': "
                     "{'path': '/machine/peripheral/vdev0'}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    /* RCU frees the memory regions, and with them the device, later */
    while (count_memfd_uses(t)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
    /* Nothing holds the chardev any more */
    for (;;) {
        resp = qtest_qmp(t->qts, "{'execute': 'chardev-remove', "
                         "'arguments': {'id': 'chr0'}}");
        if (!qdict_haskey(resp, "error")) {
            qobject_unref(resp);
            break;
        }
        qobject_unref(resp);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
}

/* device_del of a running device with live mappings */
static void test_device_del_mapped(void)
{
    TestCtx t = { 0 };

    ctx_init(&t, SHMEM_SIZE);
    ctx_start_pc(&t, "");
    assert_handshake(&t, 1);
    vdev_driver_start(&t);
    backend_map(&t, 0, true);
    backend_map(&t, 2 * SHMEM_MAP_LEN, true);
    g_assert_cmpint(count_mappings(&t), ==, 2);
    g_assert_cmpint(count_memfd_uses(&t), >=, 2);

    qpci_unplug_acpi_device_test(t.qts, "vdev0", VDEV_SLOT);
    assert_unplugged(&t);
    g_assert_true(vu_test_backend_wait_disconnected(t.be, TIMEOUT_MS));
    ctx_stop_unplugged(&t);
}

/*
 * device_del while the back-end hangs up: the reset that ejects the device
 * stops it first, and the back-end hangs up on that (GET_VRING_BASE), so
 * the disconnect's bottom half is still pending when the device goes.
 * With a chardev that reconnects, nothing may bring the dead device back
 * (a bottom half that re-armed its chardev handlers did, and QEMU crashed
 * in vhost_dev_init() when the back-end answered the reconnection).
 */
static void test_device_del_disconnect(void)
{
    TestCtx t = { 0 };
    HangUpHook hook = { .request = VU_TEST_REQ_GET_VRING_BASE };
    /* Reconnect at once: before RCU frees the unplugged device */
    const char *opts = ",reconnect-ms=1";
    unsigned int i;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start_pc(&t, opts);
    assert_handshake(&t, 1);
    vdev_driver_start(&t);
    backend_map(&t, 0, true);
    vu_test_backend_set_request_hook(t.be, hang_up_hook, &hook);

    qtest_qmp_device_del_send(t.qts, "vdev0");
    qtest_system_reset_nowait(t.qts);
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");
    assert_unplugged(&t);
    g_assert_nonnull(hook.thread);
    g_thread_join(hook.thread);
    /* Nothing brought the dead device back on a new connection */
    g_usleep(5 * RECONNECT_MS * 1000);
    for (i = 0; i < vu_test_backend_get_log_len(t.be); i++) {
        g_autoptr(VuTestMsgRecord) rec = vu_test_backend_get_log_entry(t.be,
                                                                       i);

        g_assert_cmpuint(rec->conn, ==, 1);
    }
    ctx_stop_unplugged(&t);
}

/*
 * device_del while the guest reads the shared memory BAR: the reads work
 * until the eject, and read nothing (without crashing) after it
 */
static void test_device_del_bar_reads(void)
{
    TestCtx t = { 0 };
    QPCIBar bar;
    uint64_t addr, before;
    int i;

    ctx_init(&t, SHMEM_SIZE);
    ctx_start_pc(&t, "");
    assert_handshake(&t, 1);
    backend_map(&t, 0, true);
    bar = qpci_iomap(t.dev->pdev, 2, NULL);
    addr = bar.addr;
    before = qtest_readq(t.qts, addr);
    g_assert_cmphex(before, ==, 0);     /* the memfd is zeroed */
    qtest_writeq(t.qts, addr + 8, 0x1234567890abcdefULL);

    qtest_qmp_device_del_send(t.qts, "vdev0");
    for (i = 0; i < 64; i++) {
        g_assert_cmphex(qtest_readq(t.qts, addr + 8), ==,
                        0x1234567890abcdefULL);
    }
    qtest_outl(t.qts, 0xae00 + 0x8, 1 << VDEV_SLOT);
    for (i = 0; i < 64; i++) {
        g_assert_cmphex(qtest_readq(t.qts, addr + 8), !=,
                        0x1234567890abcdefULL);
    }
    qtest_qmp_eventwait(t.qts, "DEVICE_DELETED");
    assert_unplugged(&t);
    ctx_stop_unplugged(&t);
}

/*
 * A hostile answer to GET_SHMEM_CONFIG: @nregions and @sizes as given
 * (nregions counted from the sizes when -1), the header announcing
 * @size bytes (sizeof(VuTestShmemConfig) when 0, VU_TEST_HDR_SIZE alone
 * when -1) of which @sent are sent (all when 0) before the back-end hangs
 * up
 */
typedef struct BadShmemConfig {
    const char *path;
    int64_t nregions;
    uint64_t sizes[16];
    int size;
    int sent;
    const char *error;      /* in the device_add error, after the path */
} BadShmemConfig;

#define TIB (1ULL << 40)
#define GIB (1ULL << 30)

static const BadShmemConfig bad_shmem_configs[] = {
    {
        "huge", -1, { 0xfffffffffffff000ULL }, 0, 0,
        "shared memory region 0 is 0xfffffffffffff000 bytes, more than the "
        "guest's"
    }, {
        "2-to-the-63", -1, { 1ULL << 63 }, 0, 0,
        "shared memory region 0 is 0x8000000000000000 bytes, more than the "
        "guest's"
    }, {
        "sum-past-2-to-the-64", -1,
        { 0x7ffffffffffff000ULL, 0x7ffffffffffff000ULL,
          0x7ffffffffffff000ULL }, 0, 0,
        "shared memory region 0 is 0x7ffffffffffff000 bytes, more than the "
        "guest's"
    }, {
        "64-tib", -1, { 64 * TIB }, 0, 0,
        "shared memory region 0 is 0x400000000000 bytes, more than the "
        "guest's"
    }, {
        "sum-past-phys-bits", -1, { 256 * GIB, 256 * GIB, 0x1000 }, 0, 0,
        "shared memory regions need more than"
    }, {
        "count-too-high", 3, { 0x100000, 0, 0x100000 }, 0, 0,
        "the backend's shared memory config says 3 regions but gives 2 sizes"
    }, {
        "count-too-low", 1, { 0x100000, 0, 0x100000 }, 0, 0,
        "the backend's shared memory config says 1 regions but gives 2 sizes"
    }, {
        "count-past-256", 257, { 0x100000 }, 0, 0,
        "GET_SHMEM_CONFIG: malformed reply"
    }, {
        /* More SHARED_MEMORY_CFG capabilities than the config space holds */
        "caps-past-config-space", -1,
        { [0 ... 15] = 0x1000 }, 0, 0,
        "no room for the capability of shared memory region"
    }, {
        "unaligned-size", -1, { 0x100001 }, 0, 0,
        "0x100001"
    }, {
        "short-reply", -1, { 0x100000 }, 16, 0,
        "GET_SHMEM_CONFIG: malformed reply"
    }, {
        "empty-reply", -1, { 0x100000 }, -1, 0,
        "GET_SHMEM_CONFIG: malformed reply"
    }, {
        "long-reply", -1, { 0x100000 }, 4096, 0,
        "GET_SHMEM_CONFIG: malformed reply"
    }, {
        "truncated-reply", -1, { 0x100000 }, 0, 100,
        "GET_SHMEM_CONFIG"
    },
};

static bool bad_shmem_config_hook(VuTestBackend *b, VuTestMsg *msg,
                                  void *opaque)
{
    const BadShmemConfig *bad = opaque;
    struct {
        uint32_t request, flags, size;
        VuTestShmemConfig config;
        uint8_t more[4096 - sizeof(VuTestShmemConfig)];
    } QEMU_PACKED reply = {
        .request = VU_TEST_REQ_GET_SHMEM_CONFIG,
        .flags = VU_TEST_VERSION | VU_TEST_FLAG_REPLY,
    };
    size_t len;
    int i;

    if (msg->request != VU_TEST_REQ_GET_SHMEM_CONFIG) {
        return false;
    }
    for (i = 0; i < ARRAY_SIZE(bad->sizes); i++) {
        reply.config.memory_sizes[i] = cpu_to_le64(bad->sizes[i]);
        reply.config.nregions += !!bad->sizes[i];
    }
    if (bad->nregions >= 0) {
        reply.config.nregions = bad->nregions;
    }
    reply.size = bad->size < 0 ? 0 : bad->size ?: sizeof(reply.config);
    len = VU_TEST_HDR_SIZE + reply.size;
    if (bad->sent) {
        len = VU_TEST_HDR_SIZE + bad->sent;
    }
    g_assert_cmpint(vu_test_backend_send_raw(b, &reply, len, NULL, 0), ==, 0);
    return true;
}

/*
 * device_add of a device whose back-end answers GET_SHMEM_CONFIG with
 * @opaque fails with a message naming the device, and QEMU lives on
 */
static void test_bad_shmem_config(const void *opaque)
{
    const BadShmemConfig *bad = opaque;
    g_autoptr(VuTestBackend) be = vu_test_backend_new();
    uint64_t shmem = 1;
    QTestState *qts;
    QDict *args, *resp, *error;
    const char *desc;

    vu_test_backend_set_protocol_features(
        be, VU_TEST_DEFAULT_PROTOCOL_FEATURES |
            BIT64(VU_TEST_PROTOCOL_F_SHMEM));
    vu_test_backend_set_shmem_regions(be, &shmem, 1);
    vu_test_backend_set_request_hook(be, bad_shmem_config_hook,
                                     (void *)bad);
    qts = qtest_initf("-M q35 -nodefaults "
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 "
                      "-chardev socket,id=chr0,path=%s",
                      vu_test_backend_get_socket_path(be));

    args = device_args(NULL, 0);
    if (bad->sent) {
        /* QEMU waits for the rest of the reply: hang up on it */
        qtest_qmp_send(qts, "{'execute': 'device_add', 'arguments': %p}",
                       args);
        g_assert_cmpint(vu_test_backend_wait_request(
                            be, VU_TEST_REQ_GET_SHMEM_CONFIG, 0, TIMEOUT_MS),
                        >=, 0);
        vu_test_backend_set_accepting(be, false);
        vu_test_backend_disconnect(be);
        resp = qtest_qmp_receive(qts);
    } else {
        resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}",
                         args);
    }
    error = qdict_get_qdict(resp, "error");
    g_assert_nonnull(error);
    desc = qdict_get_str(error, "desc");
    g_test_message("device_add: %s", desc);
    g_assert_nonnull(strstr(desc, "/machine/peripheral/vdev0"));
    g_assert_nonnull(strstr(desc, bad->error));
    qobject_unref(resp);

    resp = qtest_qmp_assert_success_ref(qts, "{'execute': 'query-status'}");
    g_assert_true(qdict_get_bool(resp, "running"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments': "
                     "{'path': '/machine/peripheral/vdev0'}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    unsigned int i;

    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("vhost-user-test-device-pci")) {
        g_test_skip("vhost-user-test-device-pci is not available");
        return g_test_run();
    }

    qtest_add_func("/vhost-user-lifecycle/disconnect/before-driver",
                   test_disconnect_before_driver);
    qtest_add_func("/vhost-user-lifecycle/disconnect/running",
                   test_disconnect_running);
    qtest_add_func("/vhost-user-lifecycle/disconnect/after-reset",
                   test_disconnect_after_reset);
    qtest_add_func("/vhost-user-lifecycle/disconnect/backend-channel",
                   test_disconnect_backend_channel);
    qtest_add_func("/vhost-user-lifecycle/disconnect/during-start",
                   test_disconnect_during_start);
    qtest_add_func("/vhost-user-lifecycle/backend-channel/before-driver",
                   test_config_change_before_driver);
    qtest_add_func("/vhost-user-lifecycle/reconnect/basic", test_reconnect);
    qtest_add_data_func("/vhost-user-lifecycle/reconnect/shmem-mismatch",
                        &mismatch_shmem, test_reconnect_mismatch);
    qtest_add_data_func("/vhost-user-lifecycle/reconnect/features-mismatch",
                        &mismatch_features, test_reconnect_mismatch);
    qtest_add_data_func("/vhost-user-lifecycle/reconnect/new-shmem-mismatch",
                        &mismatch_shmem_new, test_reconnect_mismatch);
    for (i = 0; i < ARRAY_SIZE(bad_properties); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vhost-user-lifecycle/bad-property/%s", bad_properties[i].path);

        qtest_add_data_func(path, &bad_properties[i], test_bad_property);
    }
    qtest_add_func("/vhost-user-lifecycle/bad-property/command-line",
                   test_bad_property_command_line);
    qtest_add_func("/vhost-user-lifecycle/device-del/mapped",
                   test_device_del_mapped);
    qtest_add_func("/vhost-user-lifecycle/device-del/disconnect",
                   test_device_del_disconnect);
    qtest_add_func("/vhost-user-lifecycle/device-del/bar-reads",
                   test_device_del_bar_reads);
    for (i = 0; i < ARRAY_SIZE(bad_shmem_configs); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vhost-user-lifecycle/bad-shmem-config/%s",
            bad_shmem_configs[i].path);

        qtest_add_data_func(path, &bad_shmem_configs[i],
                            test_bad_shmem_config);
    }

    return g_test_run();
}
