/*
 * A vfio-user client QEMU (vfio-user-pci) and server QEMU
 * (x-vfio-user-server), both under qtest, plus small drivers for the
 * exported edu and nvme devices that run in client memory
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "libqos/malloc-pc.h"
#include "standard-headers/linux/pci_regs.h"
#include "vfio-user-pair.h"

#define EDU_REG_SRC         0x80
#define EDU_REG_DST         0x88
#define EDU_REG_CNT         0x90
#define EDU_REG_CMD         0x98
#define EDU_CMD_RUN         0x1
#define EDU_CMD_TO_RAM      0x2
#define EDU_DMA_DELAY_NS    (100 * 1000 * 1000)

#define NVME_PAGE           4096
#define NVME_ADM_QSIZE      16
#define NVME_MAX_LEN        (1 * MiB)

VfuPair *vfu_pair_new(void)
{
    VfuPair *p = g_new0(VfuPair, 1);
    g_autoptr(GError) err = NULL;

    p->dir = g_dir_make_tmp("vfio-user-dma-XXXXXX", &err);
    g_assert_no_error(err);
    p->sock_path = g_build_filename(p->dir, "vfu0.sock", NULL);
    p->obj_id = g_strdup("vfu0");
    return p;
}

void vfu_pair_start_server(VfuPair *p, const char *args,
                           const char *obj_props)
{
    g_assert(!p->server);
    p->server = qtest_initf(
        "-machine x-remote,vfio-user=on,auto-shutdown=off -nodefaults %s "
        "-object '{\"qom-type\":\"x-vfio-user-server\",\"id\":\"%s\","
        "\"device\":\"dev0\","
        "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}%s%s}'",
        args, p->obj_id, p->sock_path,
        obj_props ? "," : "", obj_props ?: "");
}

void vfu_pair_start_client(VfuPair *p, const char *args,
                           const char *dev_props)
{
    g_assert(!p->client);
    p->client = qtest_initf(
        "-machine q35 -nodefaults %s "
        "-device '{\"driver\":\"vfio-user-pci\",\"id\":\"vu0\","
        "\"addr\":\"0x%x\","
        "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}%s%s}'",
        args ?: "-m 512M", VFU_PAIR_SLOT, p->sock_path,
        dev_props ? "," : "", dev_props ?: "");

    pc_alloc_init(&p->alloc, p->client, ALLOC_NO_FLAGS);
    p->bus = qpci_new_pc(p->client, &p->alloc);
    p->dev = qpci_device_find(p->bus, QPCI_DEVFN(VFU_PAIR_SLOT, 0));
    g_assert(p->dev);
    qpci_device_enable(p->dev);
    p->bar0 = qpci_iomap(p->dev, 0, NULL);
}

VfuPair *vfu_pair_start(const char *server_args, const char *obj_props,
                        const char *client_args, const char *dev_props)
{
    VfuPair *p = vfu_pair_new();

    vfu_pair_start_server(p, server_args, obj_props);
    vfu_pair_start_client(p, client_args, dev_props);
    return p;
}

void vfu_pair_stop_client(VfuPair *p)
{
    if (!p->client) {
        return;
    }
    g_free(p->dev);
    p->dev = NULL;
    qpci_free_pc(p->bus);
    p->bus = NULL;
    alloc_destroy(&p->alloc);
    qtest_quit(p->client);
    p->client = NULL;
}

void vfu_pair_free(VfuPair *p)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;

    vfu_pair_stop_client(p);
    if (p->server) {
        qtest_quit(p->server);
    }

    dir = g_dir_open(p->dir, 0, NULL);
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(p->dir, name, NULL);

        unlink(path);
    }
    rmdir(p->dir);
    g_free(p->dir);
    g_free(p->sock_path);
    g_free(p->obj_id);
    g_free(p);
}

bool vfu_pair_stat(VfuPair *p, const char *name, uint64_t *val)
{
    g_autofree char *path = g_strdup_printf("/objects/%s", p->obj_id);
    g_autoptr(QDict) rsp = qtest_qmp(p->server,
        "{'execute': 'qom-get', 'arguments': {'path': %s, 'property': %s}}",
        path, name);
    QNum *num = qobject_to(QNum, qdict_get(rsp, "return"));

    return num && qnum_get_try_uint(num, val);
}

bool vfu_pair_stats(VfuPair *p, VfuStats *s)
{
    return vfu_pair_stat(p, "x-dma-read-messages", &s->read_msgs) &&
           vfu_pair_stat(p, "x-dma-write-messages", &s->write_msgs) &&
           vfu_pair_stat(p, "x-dma-read-bytes", &s->read_bytes) &&
           vfu_pair_stat(p, "x-dma-write-bytes", &s->write_bytes) &&
           vfu_pair_stat(p, "x-dma-errors", &s->errors);
}

char *vfu_nvme_server_args(const char *image)
{
    /* mdts=8: 1 MiB commands */
    const char *nvme = "-device nvme,id=dev0,serial=vfu,drive=d0,mdts=8";

    if (!image) {
        return g_strdup_printf("-blockdev null-co,node-name=d0,size=%" PRIu64
                               ",read-zeroes=on %s", 1 * GiB, nvme);
    }
    return g_strdup_printf("-blockdev driver=file,filename=%s,node-name=f0 "
                           "-blockdev raw,file=f0,node-name=d0 %s",
                           image, nvme);
}

bool vfu_edu_dma(VfuPair *p, uint64_t src, uint64_t dst, uint32_t cnt,
                 bool to_ram)
{
    uint32_t cmd = EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0);

    qpci_io_writeq(p->dev, p->bar0, EDU_REG_SRC, src);
    qpci_io_writeq(p->dev, p->bar0, EDU_REG_DST, dst);
    qpci_io_writeq(p->dev, p->bar0, EDU_REG_CNT, cnt);
    qpci_io_writeq(p->dev, p->bar0, EDU_REG_CMD, cmd);

    /* A read after the posted writes: the server has them all */
    if (qpci_io_readl(p->dev, p->bar0, EDU_REG_CMD) != cmd) {
        return false;
    }
    /* edu DMAs from a timer, 100 ms of virtual time after the command */
    qtest_clock_step(p->server, EDU_DMA_DELAY_NS);
    return !(qpci_io_readl(p->dev, p->bar0, EDU_REG_CMD) & EDU_CMD_RUN);
}

static uint32_t nvme_readl(VfuNvme *n, uint64_t reg)
{
    return qpci_io_readl(n->p->dev, n->p->bar0, reg);
}

static void nvme_writel(VfuNvme *n, uint64_t reg, uint32_t val)
{
    qpci_io_writel(n->p->dev, n->p->bar0, reg, val);
}

static void nvme_writeq(VfuNvme *n, uint64_t reg, uint64_t val)
{
    nvme_writel(n, reg, val);
    nvme_writel(n, reg + 4, val >> 32);
}

static bool nvme_wait_ready(VfuNvme *n, bool ready)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    do {
        if (NVME_CSTS_RDY(nvme_readl(n, NVME_REG_CSTS)) == ready) {
            return true;
        }
        g_usleep(1000);
    } while (g_get_monotonic_time() < end);
    return false;
}

static void nvme_queue_init(VfuNvme *n, VfuNvmeQueue *q, uint16_t qid,
                            uint16_t size)
{
    QTestState *qts = n->p->client;

    q->qid = qid;
    q->size = size;
    q->sq = guest_alloc(&n->p->alloc, size * sizeof(NvmeCmd));
    q->cq = guest_alloc(&n->p->alloc, size * sizeof(NvmeCqe));
    qtest_memset(qts, q->sq, 0, size * sizeof(NvmeCmd));
    /* Phase 0 everywhere: nothing posted yet */
    qtest_memset(qts, q->cq, 0, size * sizeof(NvmeCqe));
    q->sq_tail = 0;
    q->cq_head = 0;
    q->phase = true;
}

static uint16_t nvme_queue_submit(VfuNvme *n, VfuNvmeQueue *q, NvmeCmd *cmd)
{
    uint16_t cid = q->sq_tail;

    cmd->cid = cpu_to_le16(cid);
    qtest_memwrite(n->p->client, q->sq + cid * sizeof(*cmd), cmd,
                   sizeof(*cmd));
    q->sq_tail = (q->sq_tail + 1) % q->size;
    nvme_writel(n, 0x1000 + 2 * q->qid * n->dstrd, q->sq_tail);
    return cid;
}

static int nvme_queue_wait(VfuNvme *n, VfuNvmeQueue *q, uint16_t *cid)
{
    gint64 end = g_get_monotonic_time() + n->timeout_ms * 1000;
    NvmeCqe cqe;
    uint16_t status;

    for (;;) {
        qtest_memread(n->p->client, q->cq + q->cq_head * sizeof(cqe), &cqe,
                      sizeof(cqe));
        status = le16_to_cpu(cqe.status);
        if ((status & 1) == q->phase) {
            break;
        }
        if (g_get_monotonic_time() > end) {
            return -1;
        }
    }

    q->cq_head = (q->cq_head + 1) % q->size;
    if (!q->cq_head) {
        q->phase = !q->phase;
    }
    nvme_writel(n, 0x1000 + (2 * q->qid + 1) * n->dstrd, q->cq_head);
    if (cid) {
        *cid = le16_to_cpu(cqe.cid);
    }
    return status >> 1;
}

static int nvme_admin(VfuNvme *n, NvmeCmd *cmd)
{
    nvme_queue_submit(n, &n->adm, cmd);
    return nvme_queue_wait(n, &n->adm, NULL);
}

void vfu_nvme_init(VfuNvme *n, VfuPair *p)
{
    QTestState *qts = p->client;
    uint64_t cap, idbuf;
    uint32_t cc = 0;
    NvmeIdNs id;
    NvmeCmd cmd;

    memset(n, 0, sizeof(*n));
    n->p = p;
    n->timeout_ms = 5000;

    g_assert_cmphex(qpci_config_readw(p->dev, PCI_VENDOR_ID), ==, 0x1b36);
    g_assert_cmphex(qpci_config_readw(p->dev, PCI_DEVICE_ID), ==, 0x0010);

    cap = nvme_readl(n, NVME_REG_CAP) |
          (uint64_t)nvme_readl(n, NVME_REG_CAP + 4) << 32;
    n->dstrd = 4 << NVME_CAP_DSTRD(cap);
    g_assert_cmpuint(NVME_CAP_MQES(cap) + 1, >=, VFU_NVME_QSIZE);
    n->vs = nvme_readl(n, NVME_REG_VS);

    /* The controller may be enabled still by an earlier client */
    nvme_writel(n, NVME_REG_CC, 0);
    g_assert(nvme_wait_ready(n, false));

    nvme_queue_init(n, &n->adm, 0, NVME_ADM_QSIZE);
    nvme_queue_init(n, &n->io, 1, VFU_NVME_QSIZE);
    n->prp_lists = guest_alloc(&p->alloc, VFU_NVME_QSIZE * NVME_PAGE);
    idbuf = guest_alloc(&p->alloc, NVME_PAGE);

    nvme_writel(n, NVME_REG_AQA,
                (NVME_ADM_QSIZE - 1) << 16 | (NVME_ADM_QSIZE - 1));
    nvme_writeq(n, NVME_REG_ASQ, n->adm.sq);
    nvme_writeq(n, NVME_REG_ACQ, n->adm.cq);
    NVME_SET_CC_EN(cc, 1);
    NVME_SET_CC_IOSQES(cc, 6);     /* 64-byte SQ entries */
    NVME_SET_CC_IOCQES(cc, 4);     /* 16-byte CQ entries */
    nvme_writel(n, NVME_REG_CC, cc);
    g_assert(nvme_wait_ready(n, true));

    memset(&cmd, 0, sizeof(cmd));
    cmd.opcode = NVME_ADM_CMD_IDENTIFY;
    cmd.nsid = cpu_to_le32(1);
    cmd.dptr.prp1 = cpu_to_le64(idbuf);
    cmd.cdw10 = cpu_to_le32(NVME_ID_CNS_NS);
    g_assert_cmpint(nvme_admin(n, &cmd), ==, 0);
    qtest_memread(qts, idbuf, &id, sizeof(id));
    n->nsze = le64_to_cpu(id.nsze);
    n->lba_size = 1 << id.lbaf[NVME_ID_NS_FLBAS_INDEX(id.flbas)].ds;
    g_assert_cmpuint(n->nsze, >, 0);
    g_assert_cmpuint(n->lba_size, >=, 512);
    guest_free(&p->alloc, idbuf);

    memset(&cmd, 0, sizeof(cmd));
    cmd.opcode = NVME_ADM_CMD_CREATE_CQ;
    cmd.dptr.prp1 = cpu_to_le64(n->io.cq);
    cmd.cdw10 = cpu_to_le32((VFU_NVME_QSIZE - 1) << 16 | n->io.qid);
    cmd.cdw11 = cpu_to_le32(1);                 /* contiguous, no IRQ */
    g_assert_cmpint(nvme_admin(n, &cmd), ==, 0);

    memset(&cmd, 0, sizeof(cmd));
    cmd.opcode = NVME_ADM_CMD_CREATE_SQ;
    cmd.dptr.prp1 = cpu_to_le64(n->io.sq);
    cmd.cdw10 = cpu_to_le32((VFU_NVME_QSIZE - 1) << 16 | n->io.qid);
    cmd.cdw11 = cpu_to_le32(n->io.qid << 16 | 1);   /* its CQ, contig. */
    g_assert_cmpint(nvme_admin(n, &cmd), ==, 0);
}

uint16_t vfu_nvme_submit_cmd(VfuNvme *n, NvmeCmd *cmd)
{
    return nvme_queue_submit(n, &n->io, cmd);
}

/* Fill the PRP entries for @len bytes at @addr, a list in @list if needed */
static void nvme_build_prps(VfuNvme *n, NvmeCmd *cmd, uint64_t list,
                            uint64_t addr, uint32_t len)
{
    uint32_t first = NVME_PAGE - (addr & (NVME_PAGE - 1));
    uint64_t next = QEMU_ALIGN_DOWN(addr, NVME_PAGE) + NVME_PAGE;
    uint32_t i, pages;
    uint64_t *prps;

    cmd->dptr.prp1 = cpu_to_le64(addr);
    if (len <= first) {
        return;
    }
    pages = DIV_ROUND_UP(len - first, NVME_PAGE);
    if (pages == 1) {
        cmd->dptr.prp2 = cpu_to_le64(next);
        return;
    }

    g_assert_cmpuint(pages, <=, NVME_PAGE / sizeof(uint64_t));
    prps = g_new(uint64_t, pages);
    for (i = 0; i < pages; i++) {
        prps[i] = cpu_to_le64(next + (uint64_t)i * NVME_PAGE);
    }
    qtest_memwrite(n->p->client, list, prps, pages * sizeof(uint64_t));
    g_free(prps);
    cmd->dptr.prp2 = cpu_to_le64(list);
}

uint16_t vfu_nvme_submit_io(VfuNvme *n, bool write, uint64_t slba,
                            uint64_t addr, uint32_t len, bool sgl)
{
    uint32_t nlb = len / n->lba_size;
    NvmeCmd cmd = { 0 };

    g_assert(len && len % n->lba_size == 0 && len <= NVME_MAX_LEN);
    g_assert_cmpuint(slba + nlb, <=, n->nsze);

    cmd.opcode = write ? NVME_CMD_WRITE : NVME_CMD_READ;
    cmd.nsid = cpu_to_le32(1);
    cmd.cdw10 = cpu_to_le32(slba);
    cmd.cdw11 = cpu_to_le32(slba >> 32);
    cmd.cdw12 = cpu_to_le32(nlb - 1);
    if (sgl) {
        /* One data block descriptor: the whole buffer in one piece */
        cmd.flags = NVME_PSDT_SGL_MPTR_CONTIGUOUS << 6;
        cmd.dptr.sgl.addr = cpu_to_le64(addr);
        cmd.dptr.sgl.len = cpu_to_le32(len);
        cmd.dptr.sgl.type = NVME_SGL_DESCR_TYPE_DATA_BLOCK << 4;
    } else {
        nvme_build_prps(n, &cmd, n->prp_lists + n->io.sq_tail * NVME_PAGE,
                        addr, len);
    }
    return vfu_nvme_submit_cmd(n, &cmd);
}

int vfu_nvme_wait(VfuNvme *n, uint16_t *cid)
{
    return nvme_queue_wait(n, &n->io, cid);
}

int vfu_nvme_io(VfuNvme *n, bool write, uint64_t slba, uint64_t addr,
                uint32_t len, bool sgl)
{
    uint16_t cid = vfu_nvme_submit_io(n, write, slba, addr, len, sgl);
    uint16_t done;
    int status = vfu_nvme_wait(n, &done);

    g_assert(status < 0 || done == cid);
    return status;
}
