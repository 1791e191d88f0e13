/*
 * QTest for device DMA through x-vfio-user-server to a QEMU vfio-user-pci
 * client, when the client shares no fd for its RAM: the server moves the
 * data with DMA_READ/DMA_WRITE messages
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "standard-headers/linux/pci_regs.h"
#include "libqtest.h"
#include "libqos/malloc-pc.h"
#include "vfio-user-pair.h"

/* Client RAM: all fd-shared, or half fd-shared and half anonymous */
#define CLIENT_MEMFD \
    "-m 512M -object memory-backend-memfd,id=m,size=512M " \
    "-machine memory-backend=m"
#define CLIENT_MIXED \
    "-m 256M -object memory-backend-memfd,id=m0,size=128M " \
    "-object memory-backend-ram,id=m1,size=128M " \
    "-numa node,memdev=m0 -numa node,memdev=m1"
#define MIXED_MEMFD_BUF     (64 * MiB)
#define MIXED_ANON_BUF      (192 * MiB)

/* Mapped by no DMA_MAP of a 512 MiB q35 client */
#define UNMAPPED_LOW        0x30000000ULL
#define UNMAPPED_HIGH       0x7f0000000000ULL
/* The last page of the client's BIOS ROM: mapped read-only */
#define CLIENT_BIOS_PAGE    0xfffff000ULL

#define GUARD_BYTE          0xa5
#define NVME_IMAGE_SIZE     (16 * MiB)

static void fill_random(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = g_test_rand_int();
    }
}

static bool client_has_property(const char *prop)
{
    QTestState *qts = qtest_init("-machine none");
    g_autoptr(QDict) rsp = qtest_qmp(qts,
        "{'execute': 'device-list-properties', "
        "'arguments': {'typename': 'vfio-user-pci'}}");
    QList *props = qdict_get_qlist(rsp, "return");
    const QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(props, e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));

        found |= g_str_equal(qdict_get_str(d, "name"), prop);
    }
    qtest_quit(qts);
    return found;
}

/* Statistics, or a failed test: the server must have them */
static VfuStats stats(VfuPair *p)
{
    VfuStats s;

    g_assert(vfu_pair_stats(p, &s));
    return s;
}

/*
 * One edu DMA, and how the server's counters moved: by exactly one
 * message of @cnt bytes in the DMA's direction when the client RAM is
 * anonymous (@msgs), else not at all.
 */
static void edu_dma(VfuPair *p, uint64_t src, uint64_t dst, uint32_t cnt,
                    bool to_ram, bool msgs)
{
    VfuStats a = stats(p), b;

    g_assert(vfu_edu_dma(p, src, dst, cnt, to_ram));
    b = stats(p);
    g_assert_cmpuint(b.errors, ==, a.errors);
    g_assert_cmpuint(b.read_msgs - a.read_msgs, ==, msgs && !to_ram);
    g_assert_cmpuint(b.read_bytes - a.read_bytes, ==,
                     msgs && !to_ram ? cnt : 0);
    g_assert_cmpuint(b.write_msgs - a.write_msgs, ==, msgs && to_ram);
    g_assert_cmpuint(b.write_bytes - a.write_bytes, ==,
                     msgs && to_ram ? cnt : 0);
}

/*
 * @size bytes from client RAM at @buf + @off to the device and back to
 * @buf + 2 pages + @off, with a full-buffer round trip in between so
 * that bytes the device took or gave beyond the range show.  @buf: four
 * pages of client RAM below 256 MiB.
 */
static void edu_roundtrip(VfuPair *p, uint64_t buf, uint32_t size,
                          uint32_t off, bool msgs)
{
    QTestState *qts = p->client;
    uint64_t src = buf, dst = buf + 2 * VFU_EDU_BUF_SIZE;
    uint32_t doff = MIN(off, VFU_EDU_BUF_SIZE - size);
    uint8_t full[VFU_EDU_BUF_SIZE], data[VFU_EDU_BUF_SIZE];
    uint8_t want[2 * VFU_EDU_BUF_SIZE], got[2 * VFU_EDU_BUF_SIZE];

    g_test_message("edu: %u bytes at +%u (device +%u)", size, off, doff);

    /* Known device buffer, then the range over it */
    fill_random(full, sizeof(full));
    qtest_memwrite(qts, src, full, sizeof(full));
    edu_dma(p, src, VFU_EDU_BUF, sizeof(full), false, msgs);
    fill_random(data, size);
    qtest_memwrite(qts, src + off, data, size);
    edu_dma(p, src + off, VFU_EDU_BUF + doff, size, false, msgs);

    /* The device buffer: only the range changed */
    memcpy(want, full, sizeof(full));
    memcpy(want + doff, data, size);
    qtest_memset(qts, dst, GUARD_BYTE, sizeof(got));
    edu_dma(p, VFU_EDU_BUF, dst, sizeof(full), true, msgs);
    qtest_memread(qts, dst, got, sizeof(full));
    g_assert(memcmp(got, want, sizeof(full)) == 0);

    /* The range back to RAM, and nothing around it */
    memset(want, GUARD_BYTE, sizeof(want));
    memcpy(want + off, data, size);
    qtest_memset(qts, dst, GUARD_BYTE, sizeof(got));
    edu_dma(p, VFU_EDU_BUF + doff, dst + off, size, true, msgs);
    qtest_memread(qts, dst, got, sizeof(got));
    g_assert(memcmp(got, want, sizeof(got)) == 0);
}

static const uint32_t edu_sizes[] = {
    1, 2, 3, 7, 8, 9, 63, 64, 511, 4095, 4096
};
static const uint32_t edu_offsets[] = { 0, 1, 3, 4093 };

/* Anonymous client RAM: every size, unaligned, one message each */
static void test_edu_anon(void)
{
    VfuPair *p = vfu_pair_start(VFU_EDU_SERVER_ARGS, NULL, NULL, NULL);
    uint64_t buf = guest_alloc(&p->alloc, 4 * VFU_EDU_BUF_SIZE);
    int i, j;

    g_assert_cmpuint(buf + 4 * VFU_EDU_BUF_SIZE, <=, 256 * MiB);
    for (i = 0; i < ARRAY_SIZE(edu_sizes); i++) {
        for (j = 0; j < ARRAY_SIZE(edu_offsets); j++) {
            edu_roundtrip(p, buf, edu_sizes[i], edu_offsets[j], true);
        }
    }
    vfu_pair_free(p);
}

/*
 * x-dma-block=off: the memory core's pieces of at most 8 bytes, one
 * message each; the counts above are what the block hook saves
 */
static void test_edu_pieces(void)
{
    VfuPair *p = vfu_pair_start(VFU_EDU_SERVER_ARGS, "\"x-dma-block\":false",
                                NULL, NULL);
    uint64_t buf = guest_alloc(&p->alloc, 2 * VFU_EDU_BUF_SIZE);
    uint8_t data[VFU_EDU_BUF_SIZE], got[VFU_EDU_BUF_SIZE];
    VfuStats a, b;

    fill_random(data, sizeof(data));
    qtest_memwrite(p->client, buf, data, sizeof(data));
    a = stats(p);
    g_assert(vfu_edu_dma(p, buf, VFU_EDU_BUF, sizeof(data), false));
    g_assert(vfu_edu_dma(p, VFU_EDU_BUF, buf + VFU_EDU_BUF_SIZE,
                         sizeof(data), true));
    b = stats(p);
    qtest_memread(p->client, buf + VFU_EDU_BUF_SIZE, got, sizeof(got));
    g_assert(memcmp(got, data, sizeof(data)) == 0);
    g_assert_cmpuint(b.read_msgs - a.read_msgs, ==, sizeof(data) / 8);
    g_assert_cmpuint(b.write_msgs - a.write_msgs, ==, sizeof(data) / 8);
    g_assert_cmpuint(b.errors, ==, a.errors);
    vfu_pair_free(p);
}

/* The client takes DMA requests on its only socket */
static void test_edu_no_twin_socket(void)
{
    VfuPair *p;
    uint64_t buf;

    if (!client_has_property("x-twin-socket")) {
        g_test_skip("vfio-user-pci has no x-twin-socket");
        return;
    }
    p = vfu_pair_start(VFU_EDU_SERVER_ARGS, NULL, NULL,
                       "\"x-twin-socket\":false");
    buf = guest_alloc(&p->alloc, 4 * VFU_EDU_BUF_SIZE);
    edu_roundtrip(p, buf, 1, 3, true);
    edu_roundtrip(p, buf, 4096, 4093, true);
    edu_roundtrip(p, buf, 511, 1, true);
    vfu_pair_free(p);
}

/* All RAM shared by fd: the server maps it, no message at all */
static void test_edu_fd_shared(void)
{
    VfuPair *p = vfu_pair_start(VFU_EDU_SERVER_ARGS, NULL, CLIENT_MEMFD,
                                NULL);
    uint64_t buf = guest_alloc(&p->alloc, 4 * VFU_EDU_BUF_SIZE);
    VfuStats s;

    edu_roundtrip(p, buf, 4096, 0, false);
    edu_roundtrip(p, buf, 7, 4093, false);
    s = stats(p);
    g_assert_cmpuint(s.read_msgs, ==, 0);
    g_assert_cmpuint(s.write_msgs, ==, 0);
    g_assert_cmpuint(s.errors, ==, 0);
    vfu_pair_free(p);
}

/* A NUMA node with fd-shared RAM and one without: messages only there */
static void test_edu_mixed(void)
{
    VfuPair *p = vfu_pair_start(VFU_EDU_SERVER_ARGS, NULL, CLIENT_MIXED,
                                NULL);
    int i;

    for (i = 0; i < 2; i++) {
        edu_roundtrip(p, MIXED_MEMFD_BUF, 4096, 0, false);
        edu_roundtrip(p, MIXED_ANON_BUF, 4096, 0, true);
        edu_roundtrip(p, MIXED_MEMFD_BUF, 9, 4093, false);
        edu_roundtrip(p, MIXED_ANON_BUF, 9, 4093, true);
    }
    vfu_pair_free(p);
}

/* nvme on a raw image in the pair's directory */
static VfuPair *nvme_pair_start(const char *client_args, char **image)
{
    VfuPair *p = vfu_pair_new();
    g_autofree char *args = NULL;
    int fd;

    *image = g_build_filename(p->dir, "nvme.img", NULL);
    fd = open(*image, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert(fd >= 0);
    g_assert(ftruncate(fd, NVME_IMAGE_SIZE) == 0);
    close(fd);

    args = vfu_nvme_server_args(*image);
    vfu_pair_start_server(p, args, NULL);
    vfu_pair_start_client(p, client_args, NULL);
    return p;
}

static void check_image(const char *image, uint64_t offset,
                        const uint8_t *data, size_t len)
{
    g_autofree uint8_t *got = g_malloc(len);
    int fd = open(image, O_RDONLY);

    g_assert(fd >= 0);
    g_assert_cmpint(pread(fd, got, len, offset), ==, len);
    close(fd);
    g_assert(memcmp(got, data, len) == 0);
}

/*
 * Write @len random bytes from @wbuf to LBA @slba, check the image, read
 * them back to @rbuf (guards around it) and compare.  With anonymous
 * client RAM (@msgs) and an SGL, the data moves in exactly one message
 * each way (the command fetch and completion are one more each).
 */
static void nvme_write_read(VfuNvme *n, const char *image, uint64_t slba,
                            uint64_t wbuf, uint64_t rbuf, uint32_t len,
                            bool sgl, bool msgs)
{
    QTestState *qts = n->p->client;
    g_autofree uint8_t *data = g_malloc(len);
    g_autofree uint8_t *got = g_malloc(len + 2);
    VfuStats a, b;
    uint64_t errors;

    g_test_message("nvme: %s of %u bytes, LBA %" PRIu64 ", RAM 0x%" PRIx64
                   " and 0x%" PRIx64, sgl ? "SGL" : "PRP", len, slba, wbuf,
                   rbuf);
    fill_random(data, len);
    qtest_memwrite(qts, wbuf, data, len);
    a = stats(n->p);
    errors = a.errors;
    g_assert_cmpint(vfu_nvme_io(n, true, slba, wbuf, len, sgl), ==, 0);
    b = stats(n->p);
    if (image) {
        check_image(image, slba * n->lba_size, data, len);
    }
    if (msgs) {
        g_assert_cmpuint(b.read_bytes - a.read_bytes, >=,
                         len + sizeof(NvmeCmd));
        if (sgl) {
            g_assert_cmpuint(b.read_msgs - a.read_msgs, ==, 2);
            g_assert_cmpuint(b.read_bytes - a.read_bytes, ==,
                             len + sizeof(NvmeCmd));
        }
    } else {
        g_assert_cmpuint(b.read_msgs, ==, a.read_msgs);
    }

    qtest_memset(qts, rbuf - 1, GUARD_BYTE, len + 2);
    g_assert_cmpint(vfu_nvme_io(n, false, slba, rbuf, len, sgl), ==, 0);
    a = stats(n->p);
    qtest_memread(qts, rbuf - 1, got, len + 2);
    g_assert_cmphex(got[0], ==, GUARD_BYTE);
    g_assert_cmphex(got[len + 1], ==, GUARD_BYTE);
    g_assert(memcmp(got + 1, data, len) == 0);
    if (msgs) {
        g_assert_cmpuint(a.write_bytes - b.write_bytes, ==,
                         len + sizeof(NvmeCqe));
        if (sgl) {
            /* The data and the completion */
            g_assert_cmpuint(a.write_msgs - b.write_msgs, ==, 2);
        }
    } else {
        g_assert_cmpuint(a.write_msgs, ==, b.write_msgs);
    }
    g_assert_cmpuint(a.errors, ==, errors);
}

static void test_nvme(bool sgl)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(NULL, &image);
    uint64_t wbuf = guest_alloc(&p->alloc, 1 * MiB + 4096);
    uint64_t rbuf = guest_alloc(&p->alloc, 1 * MiB + 4096) + 1;
    VfuNvme n;

    vfu_nvme_init(&n, p);
    g_assert_cmpuint(n.lba_size, ==, 512);
    if (sgl) {
        nvme_write_read(&n, image, 0, wbuf, rbuf, 4 * KiB, true, true);
        nvme_write_read(&n, image, 8, wbuf, rbuf, 64 * KiB, true, true);
        nvme_write_read(&n, image, 2048, wbuf, rbuf, 1 * MiB, true, true);
        /* Odd addresses in RAM, an odd LBA count */
        nvme_write_read(&n, image, 5001, wbuf + 3, rbuf + 2, 37 * 512,
                        true, true);
    } else {
        /* PRP entries must be 4-byte aligned */
        nvme_write_read(&n, image, 16, wbuf, rbuf + 4095, 64 * KiB,
                        false, true);
        nvme_write_read(&n, image, 4096, wbuf, rbuf + 511, 1 * MiB,
                        false, true);
        nvme_write_read(&n, image, 7001, wbuf + 516, rbuf + 2047,
                        67 * 512, false, true);
        nvme_write_read(&n, image, 9000, wbuf + 3584, rbuf + 3, 1024,
                        false, true);
    }
    vfu_pair_free(p);
}

static void test_nvme_sgl(void)
{
    test_nvme(true);
}

static void test_nvme_prp(void)
{
    test_nvme(false);
}

/* fd-shared client RAM: the same transfers, and no message */
static void test_nvme_fd_shared(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(CLIENT_MEMFD, &image);
    uint64_t wbuf = guest_alloc(&p->alloc, 1 * MiB);
    uint64_t rbuf = guest_alloc(&p->alloc, 1 * MiB + 4096) + 1;
    VfuNvme n;
    VfuStats s;

    vfu_nvme_init(&n, p);
    nvme_write_read(&n, image, 0, wbuf, rbuf, 1 * MiB, true, false);
    nvme_write_read(&n, image, 4096, wbuf, rbuf + 3, 64 * KiB, false,
                    false);
    s = stats(p);
    g_assert_cmpuint(s.read_msgs, ==, 0);
    g_assert_cmpuint(s.write_msgs, ==, 0);
    vfu_pair_free(p);
}

/*
 * MSI-X through the pair: the client emulates the table its guest
 * programs, so the server must fire its vectors for the client to mask
 * or deliver.  Vector 0 (the admin queue's) points at client RAM, where
 * the client's MSI write lands.
 */
static void test_nvme_msix(void)
{
    g_autofree char *args = vfu_nvme_server_args(NULL);
    VfuPair *p = vfu_pair_start(args, NULL, NULL, NULL);
    uint64_t msg_addr = guest_alloc(&p->alloc, 4096);
    uint8_t cap = qpci_find_capability(p->dev, PCI_CAP_ID_MSIX, 0);
    uint32_t table;
    uint16_t ctrl;
    VfuNvme n;

    g_assert(cap);
    table = qpci_config_readl(p->dev, cap + PCI_MSIX_TABLE);
    /* nvme keeps its table in BAR 0, which the pair maps */
    g_assert_cmpuint(table & PCI_MSIX_TABLE_BIR, ==, 0);
    table &= PCI_MSIX_TABLE_OFFSET;

    qtest_writel(p->client, msg_addr, 0);
    qpci_io_writel(p->dev, p->bar0, table + PCI_MSIX_ENTRY_LOWER_ADDR,
                   (uint32_t)msg_addr);
    qpci_io_writel(p->dev, p->bar0, table + PCI_MSIX_ENTRY_UPPER_ADDR,
                   msg_addr >> 32);
    qpci_io_writel(p->dev, p->bar0, table + PCI_MSIX_ENTRY_DATA,
                   0x5eed0001);
    qpci_io_writel(p->dev, p->bar0, table + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    ctrl = qpci_config_readw(p->dev, cap + PCI_MSIX_FLAGS);
    qpci_config_writew(p->dev, cap + PCI_MSIX_FLAGS,
                       ctrl | PCI_MSIX_FLAGS_ENABLE);

    /* Admin commands complete on vector 0 */
    vfu_nvme_init(&n, p);
    g_assert_cmphex(qtest_readl(p->client, msg_addr), ==, 0x5eed0001);
    vfu_pair_free(p);
}

/* I/O completions posted and not yet taken by vfu_nvme_wait() */
static int nvme_peek_done(VfuNvme *n)
{
    VfuNvmeQueue *q = &n->io;
    NvmeCqe cqe;
    int i;

    for (i = 0; i < q->size; i++) {
        uint16_t head = (q->cq_head + i) % q->size;
        bool phase = q->phase ^ (head < q->cq_head);

        qtest_memread(n->p->client, q->cq + head * sizeof(cqe), &cqe,
                      sizeof(cqe));
        if ((le16_to_cpu(cqe.status) & 1) != phase) {
            break;
        }
    }
    return i;
}

/* BAR reads that must see the registers as they are */
static void nvme_poll_regs(VfuNvme *n, int count)
{
    VfuPair *p = n->p;
    int i;

    for (i = 0; i < count; i++) {
        g_assert_cmphex(qpci_io_readl(p->dev, p->bar0, NVME_REG_CSTS), ==,
                        NVME_CSTS_READY);
        g_assert_cmphex(qpci_io_readl(p->dev, p->bar0, NVME_REG_VS), ==,
                        n->vs);
    }
}

/*
 * BAR reads while 1 MiB commands move their data: the client waits for
 * the server with its BQL held while the server waits for the client's
 * DMA replies.
 */
static void test_nvme_poll_during_dma(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(NULL, &image);
    QTestState *qts = p->client;
    g_autofree uint8_t *data = g_malloc(1 * MiB);
    g_autofree uint8_t *got = g_malloc(1 * MiB);
    uint64_t buf[4];
    VfuNvme n;
    int i, j;

    vfu_nvme_init(&n, p);
    for (i = 0; i < ARRAY_SIZE(buf); i++) {
        buf[i] = guest_alloc(&p->alloc, 1 * MiB);
    }
    fill_random(data, 1 * MiB);
    qtest_memwrite(qts, buf[0], data, 1 * MiB);

    for (j = 0; j < 2; j++) {
        bool write = j == 0;

        if (!write) {
            for (i = 0; i < ARRAY_SIZE(buf); i++) {
                qtest_memset(qts, buf[i], 0, 1 * MiB);
            }
        }
        /* Reads behind each doorbell, while earlier commands run */
        for (i = 0; i < ARRAY_SIZE(buf); i++) {
            vfu_nvme_submit_io(&n, write, i * 2048, write ? buf[0] : buf[i],
                               1 * MiB, true);
            nvme_poll_regs(&n, 50);
        }
        g_test_message("%s: %d of %zu commands done after the reads",
                       write ? "write" : "read", nvme_peek_done(&n),
                       ARRAY_SIZE(buf));
        nvme_poll_regs(&n, 300);
        for (i = 0; i < ARRAY_SIZE(buf); i++) {
            g_assert_cmpint(vfu_nvme_wait(&n, NULL), ==, 0);
        }
    }
    for (i = 0; i < ARRAY_SIZE(buf); i++) {
        qtest_memread(qts, buf[i], got, 1 * MiB);
        g_assert(memcmp(got, data, 1 * MiB) == 0);
        check_image(image, i * 2048 * 512, data, 1 * MiB);
    }
    vfu_pair_free(p);
}

/*
 * The device reads a PRP list or an SGL segment from an address the
 * client never mapped: an error for the command, counted, and the
 * server goes on.
 */
static void test_nvme_unmapped(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(NULL, &image);
    uint64_t wbuf = guest_alloc(&p->alloc, 64 * KiB);
    uint64_t rbuf = guest_alloc(&p->alloc, 64 * KiB);
    g_autoptr(QDict) rsp = NULL;
    NvmeCmd cmd = { 0 };
    VfuStats a, b;
    VfuNvme n;
    int status;

    vfu_nvme_init(&n, p);
    a = stats(p);

    cmd.opcode = NVME_CMD_WRITE;
    cmd.nsid = cpu_to_le32(1);
    cmd.cdw12 = cpu_to_le32(64 * KiB / 512 - 1);
    cmd.dptr.prp1 = cpu_to_le64(wbuf);
    cmd.dptr.prp2 = cpu_to_le64(UNMAPPED_LOW);
    vfu_nvme_submit_cmd(&n, &cmd);
    status = vfu_nvme_wait(&n, NULL);
    g_test_message("PRP list at 0x%llx: status 0x%x", UNMAPPED_LOW, status);
    g_assert_cmpint(status, >, 0);
    g_assert_false(VFU_NVME_OK(status));

    memset(&cmd, 0, sizeof(cmd));
    cmd.opcode = NVME_CMD_READ;
    cmd.nsid = cpu_to_le32(1);
    cmd.cdw12 = cpu_to_le32(8 * KiB / 512 - 1);
    cmd.flags = NVME_PSDT_SGL_MPTR_CONTIGUOUS << 6;
    cmd.dptr.sgl.addr = cpu_to_le64(UNMAPPED_HIGH);
    cmd.dptr.sgl.len = cpu_to_le32(sizeof(NvmeSglDescriptor));
    cmd.dptr.sgl.type = NVME_SGL_DESCR_TYPE_LAST_SEGMENT << 4;
    vfu_nvme_submit_cmd(&n, &cmd);
    status = vfu_nvme_wait(&n, NULL);
    g_test_message("SGL segment at 0x%llx: status 0x%x", UNMAPPED_HIGH,
                   status);
    g_assert_cmpint(status, >, 0);
    g_assert_false(VFU_NVME_OK(status));

    b = stats(p);
    g_assert_cmpuint(b.errors, >=, a.errors + 2);
    rsp = qtest_qmp(p->server, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));

    nvme_write_read(&n, image, 100, wbuf, rbuf + 1, 64 * KiB - 512, true,
                    true);
    vfu_pair_free(p);
}

#define NVME_STATUS_CODE(status)    ((status) & 0x7ff)

/*
 * A transfer between the device and memory that fails must fail the
 * command (Data Transfer Error), and a failed read of memory must not
 * reach the disk.  First without vfio-user: an NVMe device of this QEMU
 * pointed at an address where nothing is.
 */
static void test_nvme_dma_error_local(void)
{
    VfuPair *p = vfu_pair_new();
    g_autofree char *image = g_build_filename(p->dir, "nvme.img", NULL);
    g_autofree uint8_t *data = g_malloc(4 * KiB);
    g_autofree uint8_t *got = g_malloc(4 * KiB);
    uint64_t buf;
    VfuNvme n;
    int status;

    g_assert(g_file_set_contents(image, "", 0, NULL));
    g_assert_cmpint(truncate(image, NVME_IMAGE_SIZE), ==, 0);
    p->client = qtest_initf(
        "-M q35 -m 256M -nodefaults "
        "-blockdev file,filename=%s,node-name=f0 "
        "-blockdev raw,file=f0,node-name=d0 "
        "-device nvme,id=dev0,serial=local,drive=d0,addr=%d.0",
        image, VFU_PAIR_SLOT);
    pc_alloc_init(&p->alloc, p->client, ALLOC_NO_FLAGS);
    p->bus = qpci_new_pc(p->client, &p->alloc);
    p->dev = qpci_device_find(p->bus, QPCI_DEVFN(VFU_PAIR_SLOT, 0));
    g_assert(p->dev);
    qpci_device_enable(p->dev);
    p->bar0 = qpci_iomap(p->dev, 0, NULL);
    vfu_nvme_init(&n, p);

    buf = guest_alloc(&p->alloc, 4 * KiB);
    fill_random(data, 4 * KiB);
    qtest_memwrite(p->client, buf, data, 4 * KiB);
    g_assert_cmpint(vfu_nvme_io(&n, true, 0, buf, 4 * KiB, false), ==, 0);
    check_image(image, 0, data, 4 * KiB);

    /* Memory to disk: the read of memory fails, the disk keeps its data */
    status = vfu_nvme_io(&n, true, 0, UNMAPPED_LOW, 4 * KiB, false);
    g_assert_cmphex(NVME_STATUS_CODE(status), ==, NVME_DATA_TRAS_ERROR);
    check_image(image, 0, data, 4 * KiB);

    /* Disk to memory: the write to memory fails */
    status = vfu_nvme_io(&n, false, 0, UNMAPPED_LOW, 4 * KiB, true);
    g_assert_cmphex(NVME_STATUS_CODE(status), ==, NVME_DATA_TRAS_ERROR);

    /* And the device goes on */
    qtest_memset(p->client, buf, 0, 4 * KiB);
    g_assert_cmpint(vfu_nvme_io(&n, false, 0, buf, 4 * KiB, false), ==, 0);
    qtest_memread(p->client, buf, got, 4 * KiB);
    g_assert(memcmp(got, data, 4 * KiB) == 0);
    vfu_pair_free(p);
}

/*
 * The same through vfio-user: the device reads a block into the client's
 * BIOS ROM, which the client mapped read-only.  The DMA_WRITE is refused
 * and the command says so, instead of completing as if the data arrived.
 */
static void test_nvme_dma_error_client(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(NULL, &image);
    uint64_t wbuf = guest_alloc(&p->alloc, 64 * KiB);
    uint64_t rbuf = guest_alloc(&p->alloc, 64 * KiB);
    VfuStats a, b;
    VfuNvme n;
    int status;

    vfu_nvme_init(&n, p);
    a = stats(p);
    status = vfu_nvme_io(&n, false, 0, CLIENT_BIOS_PAGE, 4 * KiB, false);
    g_test_message("read into the ROM at 0x%llx: status 0x%x",
                   CLIENT_BIOS_PAGE, status);
    g_assert_cmphex(NVME_STATUS_CODE(status), ==, NVME_DATA_TRAS_ERROR);
    b = stats(p);
    g_assert_cmpuint(b.errors, >, a.errors);

    nvme_write_read(&n, image, 100, wbuf, rbuf + 1, 64 * KiB - 512, true,
                    true);
    vfu_pair_free(p);
}

/*
 * A client that queues its messages (x-send-queued=on) must not take the
 * server for one that accepts REGION_WRITE_MULTI: the flag's value once
 * overlapped VFIO_PROXY_USE_MULTI, and a queue past its high-water mark
 * then went out as WRITE_MULTI messages the server refuses.  Posted
 * writes pile up while the server is stopped; each must arrive.
 */
static void test_send_queued_posted_writes(void)
{
    VfuPair *p = vfu_pair_start(VFU_EDU_SERVER_ARGS, NULL, NULL,
                                "\"x-send-queued\":true");
    pid_t server = qtest_pid(p->server);
    uint32_t i, last = 0;

    g_assert_cmpint(kill(server, SIGSTOP), ==, 0);
    /* More than the socket holds, and then VFIO_USER_OUT_HIGH more */
    for (i = 0; i < 20000; i++) {
        last = 0x5a000000 | i;
        qpci_io_writel(p->dev, p->bar0, 0x04, last);
    }
    g_assert_cmpint(kill(server, SIGCONT), ==, 0);
    /* edu's liveness register reads back the inverse of the last write */
    g_assert_cmphex(qpci_io_readl(p->dev, p->bar0, 0x04), ==, ~last);
    vfu_pair_free(p);
}

static bool wait_hangup(QTestState *server)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    QDict *ev;

    do {
        /* A command reads the events that came meanwhile */
        qobject_unref(qtest_qmp(server, "{'execute': 'query-status'}"));
        ev = qtest_qmp_event_ref(server, "VFU_CLIENT_HANGUP");
        if (ev) {
            qobject_unref(ev);
            return true;
        }
        g_usleep(10 * 1000);
    } while (g_get_monotonic_time() < end);
    return false;
}

/*
 * The client goes away while the server has 1 MiB commands in flight:
 * the server reports the hang-up, stays up, and can export the device to
 * a new client through a new server object.
 */
static void test_nvme_client_disconnect(void)
{
    g_autofree char *image = NULL;
    VfuPair *p = nvme_pair_start(NULL, &image);
    g_autoptr(QDict) rsp = NULL;
    uint64_t buf;
    VfuNvme n;
    int i;

    vfu_nvme_init(&n, p);
    buf = guest_alloc(&p->alloc, 1 * MiB);
    for (i = 0; i < VFU_NVME_QSIZE - 1; i++) {
        vfu_nvme_submit_io(&n, i & 1, i % 16 * 2048, buf, 1 * MiB, true);
    }
    /* Gone while data moves: 31 MiB take the server a while */
    g_test_message("%d of %d commands done when the client went",
                   nvme_peek_done(&n), VFU_NVME_QSIZE - 1);
    vfu_pair_stop_client(p);

    g_assert(wait_hangup(p->server));
    rsp = qtest_qmp(p->server, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    g_assert(qtest_probe_child(p->server));

    /* The same device again, for a new client */
    g_free(p->obj_id);
    p->obj_id = g_strdup("vfu1");
    g_free(p->sock_path);
    p->sock_path = g_build_filename(p->dir, "vfu1.sock", NULL);
    qobject_unref(rsp);
    rsp = qtest_qmp(p->server,
                    "{'execute': 'object-add', 'arguments': {"
                    "'qom-type': 'x-vfio-user-server', 'id': %s, "
                    "'device': 'dev0', "
                    "'socket': {'type': 'unix', 'path': %s}}}",
                    p->obj_id, p->sock_path);
    g_assert(qdict_haskey(rsp, "return"));
    vfu_pair_start_client(p, NULL, NULL);
    vfu_nvme_init(&n, p);
    buf = guest_alloc(&p->alloc, 2 * MiB + 4096);
    nvme_write_read(&n, image, 0, buf, buf + 1 * MiB + 1, 1 * MiB, true,
                    true);
    vfu_pair_free(p);
}

/*
 * The client goes away while the device writes into its fd-shared RAM
 * through a pointer from dma_memory_map(): an NVMe read held by a
 * throttled disk, released after libvfio-user unmapped the client's
 * memory.  The server must not write into memory unmapped under it.
 */
static void test_nvme_unmap_during_io(void)
{
    VfuPair *p = vfu_pair_new();
    g_autoptr(QDict) rsp = NULL;
    uint64_t buf;
    VfuNvme n;

    /*
     * Under qtest, throttling runs on the virtual clock: it holds I/O.
     * null-co fills read buffers with memset(), in the server's process.
     */
    vfu_pair_start_server(p,
        "-object throttle-group,id=tg0,x-bps-read=4096 "
        "-blockdev null-co,node-name=n0,size=1073741824,read-zeroes=on "
        "-blockdev throttle,throttle-group=tg0,file=n0,node-name=d0 "
        "-device nvme,id=dev0,serial=vfu,drive=d0,mdts=8", NULL);
    vfu_pair_start_client(p, CLIENT_MEMFD, NULL);
    vfu_nvme_init(&n, p);
    buf = guest_alloc(&p->alloc, 64 * KiB);

    /* The first read goes through and empties the bucket... */
    g_assert_cmpint(vfu_nvme_io(&n, false, 0, buf, 64 * KiB, true), ==, 0);
    /* ...the second waits, its buffer mapped */
    vfu_nvme_submit_io(&n, false, 128, buf, 64 * KiB, true);
    g_assert_cmpint(nvme_peek_done(&n), ==, 0);

    vfu_pair_stop_client(p);
    g_assert(wait_hangup(p->server));

    /* Let the read go */
    qtest_clock_step(p->server, 60 * 1000 * 1000 * 1000LL);
    rsp = qtest_qmp(p->server, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    g_assert(qtest_probe_child(p->server));
    vfu_pair_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vfio-user-dma/edu/anon", test_edu_anon);
    qtest_add_func("/vfio-user-dma/edu/no-twin-socket",
                   test_edu_no_twin_socket);
    qtest_add_func("/vfio-user-dma/edu/pieces", test_edu_pieces);
    qtest_add_func("/vfio-user-dma/edu/fd-shared", test_edu_fd_shared);
    qtest_add_func("/vfio-user-dma/edu/mixed", test_edu_mixed);
    qtest_add_func("/vfio-user-dma/nvme/sgl", test_nvme_sgl);
    qtest_add_func("/vfio-user-dma/nvme/prp", test_nvme_prp);
    qtest_add_func("/vfio-user-dma/nvme/fd-shared", test_nvme_fd_shared);
    qtest_add_func("/vfio-user-dma/nvme/msix", test_nvme_msix);
    qtest_add_func("/vfio-user-dma/nvme/poll-during-dma",
                   test_nvme_poll_during_dma);
    qtest_add_func("/vfio-user-dma/nvme/unmapped", test_nvme_unmapped);
    qtest_add_func("/vfio-user-dma/edu/send-queued-posted-writes",
                   test_send_queued_posted_writes);
    qtest_add_func("/vfio-user-dma/nvme/dma-error/local",
                   test_nvme_dma_error_local);
    qtest_add_func("/vfio-user-dma/nvme/dma-error/client",
                   test_nvme_dma_error_client);
    qtest_add_func("/vfio-user-dma/nvme/unmap-during-io",
                   test_nvme_unmap_during_io);
    qtest_add_func("/vfio-user-dma/nvme/client-disconnect",
                   test_nvme_client_disconnect);
    return g_test_run();
}
