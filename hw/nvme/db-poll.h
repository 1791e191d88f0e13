/*
 * NVMe doorbells in shared memory that the controller polls
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NVME_DB_POLL_H
#define HW_NVME_DB_POLL_H

#include "nvme.h"

typedef struct NvmeDbPoll NvmeDbPoll;

/* Where the doorbells start in BAR 0 (CAP.DSTRD is 0: 4 bytes apart) */
#define NVME_DB_POLL_OFFSET     0x1000

/*
 * With x-db-memdev: put the doorbells, [NVME_DB_POLL_OFFSET, @end) of BAR
 * 0, into the backend's memory at the same offset (an alias in @bar0,
 * which the caller's registers must leave free) and start polling them.
 * False with @errp set if the backend does not fit or is in use.
 */
bool nvme_db_poll_init(NvmeCtrl *n, MemoryRegion *bar0, uint64_t end,
                       Error **errp);

/* Queue @qid (a completion queue if @cq) was created: its doorbell is 0 */
void nvme_db_poll_queue_init(NvmeCtrl *n, uint16_t qid, bool cq);

/* Stop polling and release the backend */
void nvme_db_poll_exit(NvmeCtrl *n);

#endif /* HW_NVME_DB_POLL_H */
