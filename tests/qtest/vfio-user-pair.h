/*
 * A vfio-user client QEMU (vfio-user-pci) and server QEMU
 * (x-vfio-user-server), both under qtest, plus small drivers for the
 * exported edu and nvme devices that run in client memory
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VFIO_USER_PAIR_H
#define VFIO_USER_PAIR_H

#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/pci-pc.h"
#include "block/nvme.h"

/* Where vfio-user-pci sits in the client */
#define VFU_PAIR_SLOT       4

/*
 * The two QEMUs.  The server exports the device with id "dev0" through
 * the x-vfio-user-server object @obj_id; the client's vfio-user-pci
 * ("vu0") is @dev, with BAR0 mapped as @bar0.
 */
typedef struct VfuPair {
    char *dir;              /* temporary directory: sockets, images */
    char *sock_path;
    char *obj_id;
    QTestState *server;     /* -accel qtest: its clock moves on demand */
    QTestState *client;
    QGuestAllocator alloc;  /* client RAM from 1 MiB to the end of RAM */
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar0;
} VfuPair;

/* The server object's DMA statistics */
typedef struct VfuStats {
    uint64_t read_msgs;     /* DMA_READ messages: client RAM to device */
    uint64_t write_msgs;    /* DMA_WRITE messages: device to client RAM */
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t errors;
} VfuStats;

/* A pair with its temporary directory and nothing started */
VfuPair *vfu_pair_new(void);

/*
 * Start the server (-machine x-remote, auto-shutdown=off) with @args,
 * which must create the device "dev0", and the server object "vfu0" on
 * p->sock_path.  @obj_props: NULL or more JSON members for the object,
 * e.g. "\"x-dma-block\":false".  The socket listens on return.
 */
void vfu_pair_start_server(VfuPair *p, const char *args,
                           const char *obj_props);

/*
 * Start the client (q35, -nodefaults) with @args (NULL: "-m 512M", i.e.
 * anonymous RAM, no fd for the server) and vfio-user-pci on
 * p->sock_path.  @dev_props: NULL or more JSON members for vfio-user-pci,
 * e.g. "\"x-twin-socket\":false".  Sets up alloc, bus, dev (memory and
 * bus master enabled) and bar0.
 */
void vfu_pair_start_client(VfuPair *p, const char *args,
                           const char *dev_props);

/* vfu_pair_new() plus both starts */
VfuPair *vfu_pair_start(const char *server_args, const char *obj_props,
                        const char *client_args, const char *dev_props);

/*
 * Free the client's libqos state and end the client (SIGTERM, as
 * qtest_quit() does), whatever it is doing
 */
void vfu_pair_stop_client(VfuPair *p);

/* Quit what still runs, delete the directory, free @p */
void vfu_pair_free(VfuPair *p);

/* Read the statistics of p->obj_id; false if the server has none */
bool vfu_pair_stats(VfuPair *p, VfuStats *s);

/* One uint64 property @name of p->obj_id; false if it has none */
bool vfu_pair_stat(VfuPair *p, const char *name, uint64_t *val);

/* Server arguments for nvme "dev0" on @image (raw), or null-co if NULL */
char *vfu_nvme_server_args(const char *image);

/*
 * edu: its DMA buffer is at device address VFU_EDU_BUF, VFU_EDU_BUF_SIZE
 * bytes; client addresses must be below 256 MiB (28-bit DMA mask).
 */
#define VFU_EDU_SERVER_ARGS "-device edu,id=dev0"
#define VFU_EDU_BUF         0x40000
#define VFU_EDU_BUF_SIZE    4096

/*
 * One edu DMA of @cnt bytes from @src to @dst; @to_ram: device buffer to
 * client RAM, else client RAM to device buffer.  Steps the server's clock
 * so the DMA runs before the call returns.  False if the device did not
 * finish the command.
 */
bool vfu_edu_dma(VfuPair *p, uint64_t src, uint64_t dst, uint32_t cnt,
                 bool to_ram);

/* nvme status field of a completion: SCT and SC (0: success), DNR, M */
#define VFU_NVME_SC(status)     ((status) & 0xff)
#define VFU_NVME_SCT(status)    (((status) >> 8) & 0x7)
#define VFU_NVME_OK(status)     (((status) & 0x7ff) == 0)

#define VFU_NVME_QSIZE          33      /* 32 commands in flight */

typedef struct VfuNvmeQueue {
    uint16_t qid;
    uint16_t size;
    uint64_t sq;            /* client addresses */
    uint64_t cq;
    uint16_t sq_tail;
    uint16_t cq_head;
    bool phase;
} VfuNvmeQueue;

/*
 * An nvme controller driven from the test, queues and PRP lists in client
 * RAM, no interrupts: one admin queue pair and one I/O queue pair (qid 1),
 * namespace 1.
 */
typedef struct VfuNvme {
    VfuPair *p;
    uint32_t dstrd;         /* doorbell stride, in bytes */
    uint32_t vs;            /* the VS register, for checks */
    uint32_t lba_size;
    uint64_t nsze;          /* in LBAs */
    uint32_t timeout_ms;    /* of vfu_nvme_wait(), default 5000 */
    VfuNvmeQueue adm;
    VfuNvmeQueue io;
    uint64_t prp_lists;     /* one page per I/O SQ slot */
} VfuNvme;

/* Reset and enable the controller, identify ns 1, create the I/O queues */
void vfu_nvme_init(VfuNvme *n, VfuPair *p);

/*
 * Put @cmd (cid set here to the SQ slot) on the I/O queue, ring the
 * doorbell.  Returns the cid.  At most VFU_NVME_QSIZE - 1 in flight.
 */
uint16_t vfu_nvme_submit_cmd(VfuNvme *n, NvmeCmd *cmd);

/*
 * Submit a Read (@write false) or Write of @len bytes (a multiple of the
 * LBA size, at most 1 MiB) at LBA @slba, data at client address @addr,
 * described by one SGL data block descriptor (@sgl) or by PRPs (a PRP
 * list from the slot's page when needed).  Returns the cid.
 */
uint16_t vfu_nvme_submit_io(VfuNvme *n, bool write, uint64_t slba,
                            uint64_t addr, uint32_t len, bool sgl);

/*
 * Wait for the next I/O completion, store its cid in @cid (if not NULL).
 * Returns its status field, or -1 on timeout.
 */
int vfu_nvme_wait(VfuNvme *n, uint16_t *cid);

/* vfu_nvme_submit_io() plus vfu_nvme_wait() */
int vfu_nvme_io(VfuNvme *n, bool write, uint64_t slba, uint64_t addr,
                uint32_t len, bool sgl);

#endif
