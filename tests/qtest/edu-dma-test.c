/*
 * edu DMA stays within the device's buffer
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * edu copies between guest memory and its 4 KiB buffer at device address
 * 0x40000.  A transfer that does not fit in the buffer must not start:
 * it would read or write QEMU's heap past the device state (found by the
 * vfio-user-server fuzz target, where the guest is a vfio-user client).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"

#define EDU_REG_DMA_SRC     0x80
#define EDU_REG_DMA_DST     0x88
#define EDU_REG_DMA_COUNT   0x90
#define EDU_REG_DMA_CMD     0x98
#define EDU_DMA_RUN         0x1
#define EDU_DMA_TO_RAM      0x2
#define EDU_BUF             0x40000
#define EDU_BUF_SIZE        4096
#define EDU_DMA_DELAY_NS    (100 * 1000 * 1000)

#define RAM_ADDR            0x100000
#define RAM_PATTERN         0x5a

typedef struct EduTest {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} EduTest;

static void edu_start(EduTest *t)
{
    t->qts = qtest_init("-M pc -m 64M -nodefaults -device edu,addr=4.0");
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->bus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = qpci_device_find(t->bus, QPCI_DEVFN(4, 0));
    g_assert_nonnull(t->dev);
    qpci_device_enable(t->dev);
    t->bar = qpci_iomap(t->dev, 0, NULL);
}

static void edu_stop(EduTest *t)
{
    g_free(t->dev);
    qpci_free_pc(t->bus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
}

/* Run one DMA of @count bytes between guest RAM and edu's @buf_addr */
static void edu_dma(EduTest *t, bool to_ram, uint64_t buf_addr,
                    uint64_t count)
{
    qpci_io_writeq(t->dev, t->bar, EDU_REG_DMA_SRC,
                   to_ram ? buf_addr : RAM_ADDR);
    qpci_io_writeq(t->dev, t->bar, EDU_REG_DMA_DST,
                   to_ram ? RAM_ADDR : buf_addr);
    qpci_io_writeq(t->dev, t->bar, EDU_REG_DMA_COUNT, count);
    qpci_io_writeq(t->dev, t->bar, EDU_REG_DMA_CMD,
                   EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
    qtest_clock_step(t->qts, EDU_DMA_DELAY_NS);
    g_assert_cmphex(qpci_io_readq(t->dev, t->bar, EDU_REG_DMA_CMD) &
                    EDU_DMA_RUN, ==, 0);
}

/* Whether guest RAM at RAM_ADDR holds @len bytes of RAM_PATTERN */
static bool ram_untouched(EduTest *t, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    qtest_memread(t->qts, RAM_ADDR, buf, len);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != RAM_PATTERN) {
            return false;
        }
    }
    return true;
}

/* A DMA that fits still moves the bytes */
static void test_in_range(void)
{
    EduTest t;
    uint8_t buf[16];

    edu_start(&t);
    qtest_memset(t.qts, RAM_ADDR, 0x33, sizeof(buf));
    edu_dma(&t, false, EDU_BUF + EDU_BUF_SIZE - sizeof(buf), sizeof(buf));
    qtest_memset(t.qts, RAM_ADDR, 0, sizeof(buf));
    edu_dma(&t, true, EDU_BUF + EDU_BUF_SIZE - sizeof(buf), sizeof(buf));
    qtest_memread(t.qts, RAM_ADDR, buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) {
        g_assert_cmphex(buf[i], ==, 0x33);
    }
    edu_stop(&t);
}

/*
 * From the buffer past its end, and from below it: no byte of QEMU's
 * memory reaches the guest
 */
static void test_read_out_of_range(void)
{
    EduTest t;

    edu_start(&t);
    qtest_memset(t.qts, RAM_ADDR, RAM_PATTERN, 2 * EDU_BUF_SIZE);
    edu_dma(&t, true, EDU_BUF + EDU_BUF_SIZE - 16, EDU_BUF_SIZE);
    g_assert_true(ram_untouched(&t, 2 * EDU_BUF_SIZE));
    edu_dma(&t, true, EDU_BUF - 16, 32);
    g_assert_true(ram_untouched(&t, 2 * EDU_BUF_SIZE));
    /* A count that wraps the end of the buffer's address */
    edu_dma(&t, true, EDU_BUF + 16, UINT64_MAX - 8);
    g_assert_true(ram_untouched(&t, 2 * EDU_BUF_SIZE));
    edu_stop(&t);
}

/* Into the buffer past its end: refused, and QEMU goes on */
static void test_write_out_of_range(void)
{
    EduTest t;
    uint8_t buf[16];

    edu_start(&t);
    qtest_memset(t.qts, RAM_ADDR, RAM_PATTERN, 2 * EDU_BUF_SIZE);
    edu_dma(&t, false, EDU_BUF + EDU_BUF_SIZE - sizeof(buf), EDU_BUF_SIZE);
    /* The end of the buffer, zero since reset, was not written either */
    qtest_memset(t.qts, RAM_ADDR, 0xff, sizeof(buf));
    edu_dma(&t, true, EDU_BUF + EDU_BUF_SIZE - sizeof(buf), sizeof(buf));
    qtest_memread(t.qts, RAM_ADDR, buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) {
        g_assert_cmphex(buf[i], ==, 0);
    }
    edu_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/edu/dma/in-range", test_in_range);
    qtest_add_func("/edu/dma/read-out-of-range", test_read_out_of_range);
    qtest_add_func("/edu/dma/write-out-of-range", test_write_out_of_range);
    return g_test_run();
}
