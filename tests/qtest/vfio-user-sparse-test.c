/*
 * QTest for sparse mmap areas of x-vfio-user-server through a QEMU
 * vfio-user-pci client: the client maps BAR memory that the server's
 * device has in shared memory with an fd, and no message goes for it
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The server exports ivshmem-plain, whose BAR 2 is its memory backend,
 * a memfd.  The test opens that memfd of the server process through
 * /proc, so it sees the device's memory itself.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "vfio-user-pair.h"

#define SHM_SIZE            (1 * MiB)
#define SHM_SERVER_ARGS \
    "-object memory-backend-memfd,id=shm,size=1M,share=on " \
    "-device ivshmem-plain,id=dev0,memdev=shm"
#define IVSHMEM_BAR         2
#define IVSHMEM_REG_IVPOS   8       /* BAR 0: a register, not memory */

/* The server's memfd of its memory backend, mapped here */
static uint8_t *map_server_memfd(VfuPair *p)
{
    g_autofree char *dir_path =
        g_strdup_printf("/proc/%d/fd", qtest_pid(p->server));
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    const char *name;
    uint8_t *mem = NULL;

    g_assert(dir);
    while (!mem && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(dir_path, name, NULL);
        g_autofree char *target = g_file_read_link(path, NULL);
        int fd;

        if (!target || !strstr(target, "memfd:memory-backend-memfd")) {
            continue;
        }
        fd = open(path, O_RDWR);
        g_assert(fd >= 0);
        mem = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        g_assert(mem != MAP_FAILED);
        close(fd);
    }
    g_assert(mem);
    return mem;
}

static void fill_random(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = g_test_rand_int();
    }
}

static uint64_t stat_of(VfuPair *p, const char *name)
{
    uint64_t val = 0;

    g_assert(vfu_pair_stat(p, name, &val));
    return val;
}

static bool client_mtree_has(VfuPair *p, const char *what)
{
    g_autofree char *mtree = qtest_hmp(p->client, "info mtree");

    return strstr(mtree, what) != NULL;
}

/*
 * The client writes BAR 2 and the server's memfd has it, the memfd is
 * written and the client reads it, at both ends of the BAR and across a
 * page; @mapped: whether that goes without REGION_READ/WRITE.
 */
static void do_test_ivshmem(bool mapped)
{
    VfuPair *p = vfu_pair_start(SHM_SERVER_ARGS,
                                mapped ? NULL : "\"x-sparse-mmap\":false",
                                NULL, NULL);
    static const uint64_t offsets[] = { 0, 4096 - 100, SHM_SIZE - 512 };
    uint8_t *shm = map_server_memfd(p);
    uint8_t buf[512], got[512];
    uint64_t reads, writes, size = 0;
    QPCIBar bar2 = qpci_iomap(p->dev, IVSHMEM_BAR, &size);
    size_t i;

    g_assert_cmpuint(size, ==, SHM_SIZE);
    g_assert_cmpuint(stat_of(p, "x-sparse-mapped-bytes"), ==,
                     mapped ? SHM_SIZE : 0);
    g_assert(client_mtree_has(p, "BAR 2 mmaps[0]") == mapped);

    reads = stat_of(p, "x-bar-read-messages");
    writes = stat_of(p, "x-bar-write-messages");
    for (i = 0; i < ARRAY_SIZE(offsets); i++) {
        fill_random(buf, sizeof(buf));
        qpci_memwrite(p->dev, bar2, offsets[i], buf, sizeof(buf));
        /* As on PCI, a read flushes the writes the client posted. */
        qpci_io_readb(p->dev, bar2, offsets[i]);
        g_assert(!memcmp(shm + offsets[i], buf, sizeof(buf)));

        fill_random(buf, sizeof(buf));
        memcpy(shm + offsets[i], buf, sizeof(buf));
        qpci_memread(p->dev, bar2, offsets[i], got, sizeof(got));
        g_assert(!memcmp(got, buf, sizeof(buf)));
    }
    if (mapped) {
        g_assert_cmpuint(stat_of(p, "x-bar-read-messages"), ==, reads);
        g_assert_cmpuint(stat_of(p, "x-bar-write-messages"), ==, writes);
    } else {
        /* The counters see every message: this is what mapping saves. */
        g_assert_cmpuint(stat_of(p, "x-bar-read-messages"), >=,
                         reads + ARRAY_SIZE(offsets) * sizeof(buf) / 8);
        g_assert_cmpuint(stat_of(p, "x-bar-write-messages"), >=,
                         writes + ARRAY_SIZE(offsets) * sizeof(buf) / 8);
    }

    /* BAR 0 (registers) still goes by message */
    reads = stat_of(p, "x-bar-read-messages");
    qpci_io_readl(p->dev, p->bar0, IVSHMEM_REG_IVPOS);
    g_assert_cmpuint(stat_of(p, "x-bar-read-messages"), ==, reads + 1);

    munmap(shm, SHM_SIZE);
    qpci_iounmap(p->dev, bar2);
    vfu_pair_free(p);
}

static void test_ivshmem_mapped(void)
{
    do_test_ivshmem(true);
}

static void test_ivshmem_messages(void)
{
    do_test_ivshmem(false);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (qtest_has_device("ivshmem-plain")) {
        qtest_add_func("/vfio-user-sparse/ivshmem/mapped",
                       test_ivshmem_mapped);
        qtest_add_func("/vfio-user-sparse/ivshmem/x-sparse-mmap-off",
                       test_ivshmem_messages);
    }
    return g_test_run();
}
