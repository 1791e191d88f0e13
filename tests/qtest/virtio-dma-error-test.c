/*
 * A virtio device whose access to a driver's buffer fails must say so
 *
 * The buffers of these requests are at an address where nothing is, so
 * the memory core maps them through bounce buffers whose read or write
 * back fails.  The device must not use what it could not read nor
 * complete a request whose data it could not write: it stops with
 * DEVICE_NEEDS_RESET, and no used element appears.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_blk.h"
#include "standard-headers/linux/virtio_config.h"

#define TIMEOUT_US      (10 * G_USEC_PER_SEC)
#define VDEV_SLOT       4
/* Neither RAM nor a device in a 256 MiB q35 machine */
#define NOWHERE         0x30000000ULL

typedef struct TestCtx {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
} TestCtx;

static void ctx_start(TestCtx *t, const char *device)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VDEV_SLOT, 0) };

    t->qts = qtest_initf("-M q35 -m 256M -nodefaults "
                         "-blockdev null-co,node-name=d0,read-zeroes=on "
                         "-device %s,disable-legacy=on,addr=%d.0",
                         device, VDEV_SLOT);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->bus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = virtio_pci_new(t->bus, &addr);
    g_assert_nonnull(t->dev);
    qvirtio_pci_device_enable(t->dev);
    qvirtio_start_device(&t->dev->vdev);
    qvirtio_set_features(&t->dev->vdev, 1ULL << VIRTIO_F_VERSION_1);
    t->vq = qvirtqueue_setup(&t->dev->vdev, &t->alloc, 0);
    qvirtio_set_driver_ok(&t->dev->vdev);
}

static void ctx_stop(TestCtx *t)
{
    qvirtqueue_cleanup(t->dev->vdev.bus, t->vq, &t->alloc);
    qvirtio_pci_device_disable(t->dev);
    g_free(t->dev->pdev);
    g_free(t->dev);
    qpci_free_pc(t->bus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
}

static uint8_t get_status(TestCtx *t)
{
    return t->dev->vdev.bus->get_status(&t->dev->vdev);
}

/* The device asks for a reset and completes nothing */
static void assert_needs_reset(TestCtx *t)
{
    gint64 end = g_get_monotonic_time() + TIMEOUT_US;

    while (!(get_status(t) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
        /* The device works in the main loop, between qtest commands */
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(t->qts, 100);
    }
    g_assert_false(qvirtqueue_get_buf(t->qts, t->vq, NULL, NULL));
}

/* virtio-rng writes random bytes into a buffer that cannot take them */
static void test_write_fails(void)
{
    TestCtx t = { 0 };
    uint32_t head;

    ctx_start(&t, "virtio-rng-pci");
    head = qvirtqueue_add(t.qts, t.vq, NOWHERE, 64, true, false);
    qvirtqueue_kick(t.qts, &t.dev->vdev, t.vq, head);
    assert_needs_reset(&t);
    ctx_stop(&t);
}

/* virtio-blk reads a request header that cannot be read */
static void test_read_fails(void)
{
    TestCtx t = { 0 };
    uint64_t status;
    uint32_t head;

    ctx_start(&t, "virtio-blk-pci,drive=d0");
    status = guest_alloc(&t.alloc, 1);
    qtest_writeb(t.qts, status, 0xaa);
    head = qvirtqueue_add(t.qts, t.vq, NOWHERE,
                          sizeof(struct virtio_blk_outhdr), false, true);
    qvirtqueue_add(t.qts, t.vq, status, 1, true, false);
    qvirtqueue_kick(t.qts, &t.dev->vdev, t.vq, head);
    assert_needs_reset(&t);
    /* Not "unsupported request" from a header of all ones */
    g_assert_cmphex(qtest_readb(t.qts, status), ==, 0xaa);
    ctx_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/virtio-dma-error/write-fails", test_write_fails);
    qtest_add_func("/virtio-dma-error/read-fails", test_read_fails);
    return g_test_run();
}
