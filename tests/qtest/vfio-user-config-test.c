/*
 * x-vfio-user-server: config space accesses of any length
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * A client may read or write 3, 5, 6 or 7 bytes of config space; the
 * server splits them into PCI accesses of 1, 2 and 4 bytes.  It used to
 * pass 3 bytes on and abort QEMU (found by the vfio-user-server fuzz
 * target).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "vfio-user-raw-client.h"

#define TIMEOUT_MS          5000
#define EDU_VENDOR_DEVICE   { 0x34, 0x12, 0xe8, 0x11 }
#define PCI_INTERRUPT_LINE  0x3c

typedef struct CfgTest {
    char *dir;
    char *sock;
    QTestState *qts;
    VfuRawClient *client;
} CfgTest;

static void cfg_start(CfgTest *t)
{
    Error *err = NULL;

    t->dir = g_dir_make_tmp("vfio-user-config-test-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    t->sock = g_build_filename(t->dir, "server.sock", NULL);
    t->qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                         "-device edu,id=dev0 "
                         "-object '{\"qom-type\":\"x-vfio-user-server\","
                         "\"id\":\"vfu0\",\"device\":\"dev0\","
                         "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}}'",
                         t->sock);
    t->client = vfu_raw_connect(t->sock, false, 0, TIMEOUT_MS, &err);
    if (!t->client) {
        g_error("connect: %s", error_get_pretty(err));
    }
}

static void cfg_stop(CfgTest *t)
{
    vfu_raw_free(t->client);
    qtest_quit(t->qts);
    unlink(t->sock);
    rmdir(t->dir);
    g_free(t->sock);
    g_free(t->dir);
}

/* Reads of every length up to 8 see the same bytes */
static void test_read_lengths(void)
{
    static const uint8_t ids[] = EDU_VENDOR_DEVICE;
    CfgTest t;

    cfg_start(&t);
    for (uint32_t count = 1; count <= 8; count++) {
        uint8_t buf[8] = { 0 };

        g_assert_cmpint(vfu_raw_region_read(t.client, VFU_RAW_REGION_CONFIG,
                                            0, buf, count), ==, 0);
        g_assert_cmpmem(buf, MIN(count, sizeof(ids)), ids,
                        MIN(count, sizeof(ids)));
    }
    /* From an odd offset too */
    for (uint32_t count = 1; count <= 3; count++) {
        uint8_t buf[3] = { 0 };

        g_assert_cmpint(vfu_raw_region_read(t.client, VFU_RAW_REGION_CONFIG,
                                            1, buf, count), ==, 0);
        g_assert_cmpmem(buf, count, ids + 1, count);
    }
    cfg_stop(&t);
}

/* A write of 3 bytes reaches the writable one among them */
static void test_write_three(void)
{
    const uint8_t line[3] = { 0x0b, 0xff, 0xff };
    uint8_t val = 0;
    CfgTest t;

    cfg_start(&t);
    g_assert_cmpint(vfu_raw_region_write(t.client, VFU_RAW_REGION_CONFIG,
                                         PCI_INTERRUPT_LINE, line,
                                         sizeof(line)), ==, 0);
    g_assert_cmpint(vfu_raw_region_read(t.client, VFU_RAW_REGION_CONFIG,
                                        PCI_INTERRUPT_LINE, &val, 1), ==, 0);
    g_assert_cmphex(val, ==, 0x0b);
    cfg_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vfio-user-server/config/read-lengths",
                   test_read_lengths);
    qtest_add_func("/vfio-user-server/config/write-three", test_write_three);
    return g_test_run();
}
