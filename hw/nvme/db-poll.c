/*
 * NVMe doorbells in shared memory that the controller polls
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * With x-db-memdev=<memory backend>, the doorbells of the controller's BAR
 * 0 are that backend's memory instead of MMIO registers.  Exported through
 * x-vfio-user-server, they are a sparse mmap area: the client's doorbell
 * writes are stores into shared memory, not REGION_WRITE messages, as with
 * SPDK's vfio-user NVMe target.  Nothing tells the controller about such
 * a store, so it polls: a timer compares each existing queue's doorbell
 * with the value it last passed on and hands a changed one to
 * nvme_process_db(), exactly what an MMIO write would do (checks,
 * asynchronous events, shadow doorbells).
 *
 * The timer runs every x-db-poll-us microseconds (default 20) after a
 * doorbell changed; after 100 polls that found nothing the interval
 * doubles, up to 1 ms, so an idle controller costs about 1000 wake-ups a
 * second and its first command after a pause waits up to 1 ms.  It runs
 * while a queue exists (the admin queues from the controller's enable to
 * its reset) and reads the doorbells only while the VM runs.
 *
 * A queue's doorbell is set to 0 when the queue is created: a value left
 * from before a reset or from a deleted queue is not a new doorbell
 * write.  Writes to the doorbell of a queue that does not exist are seen
 * when the queue is created (and overwritten), not reported.
 *
 * Doorbells in memory read back what was written, where MMIO doorbells
 * read 0.  Not supported with msix-exclusive-bar or ioeventfd, refused.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "qemu/timer.h"
#include "system/hostmem.h"
#include "system/runstate.h"
#include "db-poll.h"
#include "trace.h"

#define DB_POLL_MAX_NS      (1 * SCALE_MS)
#define DB_POLL_IDLE_POLLS  100

struct NvmeDbPoll {
    NvmeCtrl *n;
    uint8_t *db;            /* host address of the first doorbell */
    uint32_t nr_qpairs;     /* doorbell pairs in the memory */
    uint32_t *last;         /* per doorbell: what was passed on */
    QEMUTimer *timer;
    int64_t min_ns;
    int64_t interval_ns;
    unsigned idle;
};

static uint32_t db_read(NvmeDbPoll *p, unsigned idx)
{
    return le32_to_cpu(qatomic_load_acquire((uint32_t *)p->db + idx));
}

static void db_poll(void *opaque)
{
    NvmeDbPoll *p = opaque;
    NvmeCtrl *n = p->n;
    bool running = runstate_is_running();
    bool changed = false, queues = false;
    uint32_t qid;

    for (qid = 0; qid < p->nr_qpairs; qid++) {
        for (unsigned cq = 0; cq < 2; cq++) {
            unsigned idx = qid * 2 + cq;
            uint32_t val;

            if (cq ? !n->cq[qid] : !n->sq[qid]) {
                continue;
            }
            queues = true;
            if (!running) {
                continue;
            }
            val = db_read(p, idx);
            if (val != p->last[idx]) {
                p->last[idx] = val;
                trace_pci_nvme_db_poll(qid, cq, val);
                nvme_process_db(n, NVME_DB_POLL_OFFSET + idx * 4, val);
                changed = true;
            }
        }
    }

    if (!queues) {
        /* Until nvme_db_poll_queue_init() */
        return;
    }
    if (changed) {
        p->idle = 0;
        p->interval_ns = p->min_ns;
    } else if (++p->idle >= DB_POLL_IDLE_POLLS) {
        p->idle = 0;
        p->interval_ns = MIN(p->interval_ns * 2, DB_POLL_MAX_NS);
    }
    timer_mod(p->timer,
              qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + p->interval_ns);
}

bool nvme_db_poll_init(NvmeCtrl *n, MemoryRegion *bar0, uint64_t end,
                       Error **errp)
{
    HostMemoryBackend *be = n->db.dev;
    MemoryRegion *mr;
    NvmeDbPoll *p;
    const char *name;

    name = object_get_canonical_path_component(OBJECT(be));
    mr = host_memory_backend_get_memory(be);
    if (host_memory_backend_is_mapped(be)) {
        error_setg(errp, "x-db-memdev: memory backend '%s' is in use", name);
        return false;
    }
    /* msix-exclusive-bar is refused by the caller, which never gets here */
    if (n->params.ioeventfd) {
        error_setg(errp, "x-db-memdev does not work with ioeventfd");
        return false;
    }
    if (memory_region_size(mr) < end) {
        error_setg(errp, "x-db-memdev: memory backend '%s' has %" PRIu64
                   " bytes, the doorbells end at 0x%" PRIx64, name,
                   memory_region_size(mr), end);
        return false;
    }

    p = g_new0(NvmeDbPoll, 1);
    p->n = n;
    p->nr_qpairs = n->params.max_ioqpairs + 1;
    p->db = (uint8_t *)memory_region_get_ram_ptr(mr) + NVME_DB_POLL_OFFSET;
    p->last = g_new0(uint32_t, p->nr_qpairs * 2);
    p->min_ns = MAX(n->db.poll_us, 1) * SCALE_US;
    p->interval_ns = p->min_ns;
    memset(p->db, 0, end - NVME_DB_POLL_OFFSET);

    memory_region_init_alias(&n->db.alias, OBJECT(n), "nvme-doorbells", mr,
                             NVME_DB_POLL_OFFSET, end - NVME_DB_POLL_OFFSET);
    memory_region_add_subregion(bar0, NVME_DB_POLL_OFFSET, &n->db.alias);
    host_memory_backend_set_mapped(be, true);

    p->timer = timer_new_ns(QEMU_CLOCK_REALTIME, db_poll, p);
    n->db.poll = p;
    return true;
}

void nvme_db_poll_queue_init(NvmeCtrl *n, uint16_t qid, bool cq)
{
    NvmeDbPoll *p = n->db.poll;
    unsigned idx = qid * 2 + cq;

    if (!p || qid >= p->nr_qpairs) {
        return;
    }
    qatomic_store_release((uint32_t *)p->db + idx, 0);
    p->last[idx] = 0;
    if (!timer_pending(p->timer)) {
        p->idle = 0;
        p->interval_ns = p->min_ns;
        timer_mod(p->timer,
                  qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + p->interval_ns);
    }
}

void nvme_db_poll_exit(NvmeCtrl *n)
{
    NvmeDbPoll *p = n->db.poll;

    if (!p) {
        return;
    }
    timer_free(p->timer);
    host_memory_backend_set_mapped(n->db.dev, false);
    g_free(p->last);
    g_free(p);
    n->db.poll = NULL;
}
