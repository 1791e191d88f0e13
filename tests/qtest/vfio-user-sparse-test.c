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
 * a memfd or a file.  The test maps that memory of the server process
 * (a memfd through /proc), so it sees the device's memory itself.  The
 * client maps the area as RAM when it is shared memory (tmpfs,
 * hugetlbfs), as a RAM device otherwise or with x-sparse-mmap-ram=off;
 * "info mtree" tells which.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/vfs.h>
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "hw/pci/pci_regs.h"
#include "vfio-user-pair.h"

#define SHM_SIZE            (1 * MiB)
#define SHM_SERVER_ARGS \
    "-object memory-backend-memfd,id=shm,size=1M,share=on " \
    "-device ivshmem-plain,id=dev0,memdev=shm"
#define IVSHMEM_BAR         2
#define IVSHMEM_REG_IVPOS   8       /* BAR 0: a register, not memory */
#define NVME_DB_DISK_SIZE   (1 * MiB)

/*
 * The server's memory backend, mapped here: @path, or with NULL the
 * server's memfd, opened through /proc
 */
static uint8_t *map_server_mem(VfuPair *p, const char *path)
{
    g_autofree char *dir_path =
        g_strdup_printf("/proc/%d/fd", qtest_pid(p->server));
    g_autoptr(GDir) dir = NULL;
    const char *name;
    uint8_t *mem;
    int fd = -1;

    if (path) {
        fd = open(path, O_RDWR);
    } else {
        dir = g_dir_open(dir_path, 0, NULL);
        g_assert(dir);
        while (fd < 0 && (name = g_dir_read_name(dir))) {
            g_autofree char *fd_path = g_build_filename(dir_path, name, NULL);
            g_autofree char *target = g_file_read_link(fd_path, NULL);

            if (target && strstr(target, "memfd:memory-backend-memfd")) {
                fd = open(fd_path, O_RDWR);
                g_assert(fd >= 0);
            }
        }
    }
    g_assert(fd >= 0);
    mem = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert(mem != MAP_FAILED);
    close(fd);
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
 * The type that "info mtree" gives the client's mapping of BAR 2, "ram"
 * or "ramd" (a RAM device); NULL if there is none
 */
static char *client_bar2_map_type(VfuPair *p)
{
    g_autofree char *mtree = qtest_hmp(p->client, "info mtree");
    g_auto(GStrv) lines = g_strsplit(mtree, "\n", -1);
    char **l;

    for (l = lines; *l; l++) {
        char *type = strstr(*l, ", ");

        if (strstr(*l, "BAR 2 mmaps[0]") && type) {
            return g_strndup(type + 2, strcspn(type + 2, ")"));
        }
    }
    return NULL;
}

/* Whether the client may map a file in @dir as RAM: tmpfs, hugetlbfs */
static bool dir_is_shm(const char *dir)
{
    struct statfs fs;

    g_assert(statfs(dir, &fs) == 0);
    return fs.f_type == 0x01021994 /* TMPFS_MAGIC */ ||
           fs.f_type == 0x958458f6 /* HUGETLBFS_MAGIC */;
}

/* Write all of BAR 2 and read it back, through the client, in 64 KiB */
static void check_whole_bar(VfuPair *p, QPCIBar bar2, uint8_t *shm)
{
    g_autofree uint8_t *buf = g_malloc(SHM_SIZE);
    g_autofree uint8_t *got = g_malloc(SHM_SIZE);
    uint64_t off;

    fill_random(buf, SHM_SIZE);
    for (off = 0; off < SHM_SIZE; off += 64 * KiB) {
        qtest_bufwrite(p->client, bar2.addr + off, buf + off, 64 * KiB);
    }
    qpci_io_readb(p->dev, bar2, 0);
    g_assert(!memcmp(shm, buf, SHM_SIZE));

    fill_random(buf, SHM_SIZE);
    memcpy(shm, buf, SHM_SIZE);
    for (off = 0; off < SHM_SIZE; off += 64 * KiB) {
        qtest_bufread(p->client, bar2.addr + off, got + off, 64 * KiB);
    }
    g_assert(!memcmp(got, buf, SHM_SIZE));
}

typedef struct SparseCase {
    bool mapped;            /* the server's x-sparse-mmap */
    bool mmap_ram;          /* the client's x-sparse-mmap-ram */
    const char *mem_dir;    /* NULL: a memfd; else a file in that directory */
} SparseCase;

/*
 * The client writes BAR 2 and the server's memory has it, the server's
 * memory is written and the client reads it, at both ends of the BAR,
 * across a page and the whole BAR; mapped: without REGION_READ/WRITE,
 * and as RAM when the client may (x-sparse-mmap-ram and the memory on
 * tmpfs or hugetlbfs), as a RAM device otherwise.
 */
static void do_test_ivshmem(const SparseCase *c)
{
    VfuPair *p = vfu_pair_new();
    g_autofree char *mem_dir = NULL;
    g_autofree char *mem_path = NULL;
    g_autofree char *server_args = NULL;
    g_autofree char *type = NULL;
    static const uint64_t offsets[] = { 0, 4096 - 100, SHM_SIZE - 512 };
    uint8_t *shm;
    uint8_t buf[512], got[512];
    uint64_t reads, writes, size = 0;
    QPCIBar bar2;
    bool ram;
    size_t i;

    if (c->mem_dir) {
        mem_dir = g_strdup(strcmp(c->mem_dir, "@") ? c->mem_dir : p->dir);
        mem_path = g_strdup_printf("%s/vfio-user-sparse-test-%d.mem",
                                   mem_dir, getpid());
        server_args = g_strdup_printf(
            "-object memory-backend-file,id=shm,size=1M,share=on,"
            "mem-path=%s -device ivshmem-plain,id=dev0,memdev=shm",
            mem_path);
    }
    vfu_pair_start_server(p, server_args ?: SHM_SERVER_ARGS,
                          c->mapped ? NULL : "\"x-sparse-mmap\":false");
    vfu_pair_start_client(p, NULL, c->mmap_ram ? NULL :
                          "\"x-sparse-mmap-ram\":false");
    shm = map_server_mem(p, mem_path);
    bar2 = qpci_iomap(p->dev, IVSHMEM_BAR, &size);
    ram = c->mapped && c->mmap_ram && (!mem_dir || dir_is_shm(mem_dir));

    g_assert_cmpuint(size, ==, SHM_SIZE);
    g_assert_cmpuint(stat_of(p, "x-sparse-mapped-bytes"), ==,
                     c->mapped ? SHM_SIZE : 0);
    g_assert(client_mtree_has(p, "BAR 2 mmaps[0]") == c->mapped);
    type = client_bar2_map_type(p);
    g_assert_cmpstr(type, ==, !c->mapped ? NULL : ram ? "ram" : "ramd");

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
    if (c->mapped) {
        check_whole_bar(p, bar2, shm);
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
    if (mem_path) {
        unlink(mem_path);
    }
    qpci_iounmap(p->dev, bar2);
    vfu_pair_free(p);
}

static void test_ivshmem(const void *data)
{
    do_test_ivshmem(data);
}

static const SparseCase case_mapped = { .mapped = true, .mmap_ram = true };
static const SparseCase case_messages = { .mapped = false, .mmap_ram = true };
static const SparseCase case_ram_off = { .mapped = true, .mmap_ram = false };
/* A file in /dev/shm: tmpfs on Linux */
static const SparseCase case_shm_file = {
    .mapped = true, .mmap_ram = true, .mem_dir = "/dev/shm"
};
/* A file in the test's directory: usually not tmpfs */
static const SparseCase case_dir_file = {
    .mapped = true, .mmap_ram = true, .mem_dir = "@"
};

/*
 * No INTx: QEMU's vfio-pci unmaps the BARs while an INTx is pending (to
 * see the guest's EOI), and the test never acknowledges one, so the
 * doorbells would go by message from the first completion on
 */
static void nvme_no_intx(VfuPair *p)
{
    uint16_t cmd = qpci_config_readw(p->dev, PCI_COMMAND);

    qpci_config_writew(p->dev, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE);
}

/* nvme with its doorbells in a memfd (x-db-memdev), a raw image in p->dir */
static VfuPair *nvme_db_pair_start(char **image)
{
    VfuPair *p = vfu_pair_new();
    g_autofree char *nvme = NULL;
    g_autofree char *args = NULL;
    int fd;

    *image = g_strdup_printf("%s/disk.img", p->dir);
    fd = open(*image, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert(fd >= 0);
    g_assert(ftruncate(fd, NVME_DB_DISK_SIZE) == 0);
    close(fd);
    /* The nvme device comes last in vfu_nvme_server_args() */
    nvme = vfu_nvme_server_args(*image);
    args = g_strdup_printf("-object memory-backend-memfd,id=db,size=8K,"
                           "share=on %s,x-db-memdev=db", nvme);
    vfu_pair_start_server(p, args, NULL);
    vfu_pair_start_client(p, NULL, NULL);
    nvme_no_intx(p);
    return p;
}

/* @n I/Os of 4 KiB at LBA 0 on, written then read back and compared */
static void nvme_db_io(VfuNvme *n, const char *image, uint64_t wbuf,
                       uint64_t rbuf, int count)
{
    uint8_t data[4096], got[4096];
    int fd = open(image, O_RDONLY);
    int i;

    g_assert(fd >= 0);
    for (i = 0; i < count; i++) {
        uint64_t slba = i * (sizeof(data) / n->lba_size);

        fill_random(data, sizeof(data));
        qtest_memwrite(n->p->client, wbuf, data, sizeof(data));
        g_assert_cmpint(vfu_nvme_io(n, true, slba, wbuf, sizeof(data), true),
                        ==, 0);
        g_assert_cmpint(pread(fd, got, sizeof(got), slba * n->lba_size), ==,
                        sizeof(got));
        g_assert(!memcmp(got, data, sizeof(data)));

        qtest_memset(n->p->client, rbuf, 0, sizeof(data));
        g_assert_cmpint(vfu_nvme_io(n, false, slba, rbuf, sizeof(data), true),
                        ==, 0);
        qtest_memread(n->p->client, rbuf, got, sizeof(got));
        g_assert(!memcmp(got, data, sizeof(data)));
    }
    close(fd);
}

/*
 * The doorbells of BAR 0 are a sparse area that the client maps as RAM:
 * I/O works with no REGION_WRITE at all, also after a controller reset
 * that left non-zero doorbells behind (new queues start from 0).
 */
static void test_nvme_doorbells(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_db_pair_start(&image);
    uint64_t wbuf = guest_alloc(&p->alloc, 4096);
    uint64_t rbuf = guest_alloc(&p->alloc, 4096);
    g_autofree char *mtree = qtest_hmp(p->client, "info mtree");
    uint64_t writes;
    VfuNvme n;

    /* [0x1000, 0x2000): the doorbells of 65 queue pairs, then MSI-X */
    g_assert_cmpuint(stat_of(p, "x-sparse-mapped-bytes"), ==, 4096);
    g_assert(strstr(mtree, "BAR 0 mmaps[0]"));

    vfu_nvme_init(&n, p);
    writes = stat_of(p, "x-bar-write-messages");
    nvme_db_io(&n, image, wbuf, rbuf, 20);
    g_assert_cmpuint(stat_of(p, "x-bar-write-messages"), ==, writes);

    /* 40 commands: the I/O SQ's tail and its CQ's head are 7, not 0 */
    vfu_nvme_init(&n, p);
    writes = stat_of(p, "x-bar-write-messages");
    nvme_db_io(&n, image, wbuf, rbuf, 3);
    g_assert_cmpuint(stat_of(p, "x-bar-write-messages"), ==, writes);
    vfu_pair_free(p);
}

/* A backend smaller than BAR 0's doorbells is refused at realize */
static void test_nvme_doorbells_small(void)
{
    const char *argv[] = {
        qtest_qemu_binary(NULL), "-M", "q35", "-accel", "qtest",
        "-nodefaults", "-display", "none",
        "-object", "memory-backend-memfd,id=db,size=4K,share=on",
        "-device", "nvme,serial=x,x-db-memdev=db", NULL
    };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    GError *gerr = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                               NULL, NULL, &out, &err, &status, &gerr));
    g_assert_no_error(gerr);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, "x-db-memdev: memory backend 'db' has 4096 "
                            "bytes, the doorbells end at 0x2000"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (qtest_has_device("ivshmem-plain")) {
        qtest_add_data_func("/vfio-user-sparse/ivshmem/mapped",
                            &case_mapped, test_ivshmem);
        qtest_add_data_func("/vfio-user-sparse/ivshmem/x-sparse-mmap-off",
                            &case_messages, test_ivshmem);
        qtest_add_data_func("/vfio-user-sparse/ivshmem/x-sparse-mmap-ram-off",
                            &case_ram_off, test_ivshmem);
        if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
            qtest_add_data_func("/vfio-user-sparse/ivshmem/shm-file",
                                &case_shm_file, test_ivshmem);
        }
        qtest_add_data_func("/vfio-user-sparse/ivshmem/dir-file",
                            &case_dir_file, test_ivshmem);
    }
    if (qtest_has_device("nvme")) {
        qtest_add_func("/vfio-user-sparse/nvme/doorbells",
                       test_nvme_doorbells);
        qtest_add_func("/vfio-user-sparse/nvme/doorbells-small",
                       test_nvme_doorbells_small);
    }
    return g_test_run();
}
