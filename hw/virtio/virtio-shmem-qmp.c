/*
 * VIRTIO Shared Memory Regions: QMP x-query-virtio-shmem, HMP info
 *
 * Built whether or not virtio is: it only walks the QOM tree.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/qdev-core.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-shmem.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-virtio.h"

/* Which mappings of each region to list */
typedef struct VirtioShmemQuery {
    uint64_t from;
    uint32_t max;
    VirtioShmemInfoList **tail;
} VirtioShmemQuery;

static VirtioShmemRegion *virtio_shmem_region_info(VirtioSharedMemory *shmem,
                                                   VirtioShmemQuery *query)
{
    VirtioShmemRegion *region = g_new0(VirtioShmemRegion, 1);
    VirtioShmemMappingList **tail = &region->mappings;
    /* The first mapping that ends past @from: O(log n) */
    IntervalTreeNode *node = interval_tree_iter_first(&shmem->tree,
                                                      query->from,
                                                      UINT64_MAX);
    VirtioSharedMemoryMapping *m;
    uint32_t listed = 0;

    region->shmid = shmem->shmid;
    region->size = memory_region_size(&shmem->mr);
    region->nr_mappings = shmem->nr_mappings;
    for (m = node ? container_of(node, VirtioSharedMemoryMapping, node) : NULL;
         m && listed < query->max; m = QTAILQ_NEXT(m, next), listed++) {
        VirtioShmemMapping *info = g_new0(VirtioShmemMapping, 1);

        info->shm_offset = m->shm_offset;
        info->len = m->len;
        info->fd_offset = m->fd_offset;
        info->rw = m->writable;
        QAPI_LIST_APPEND(tail, info);
    }
    return region;
}

static int virtio_shmem_query_dev(Object *obj, void *opaque)
{
    VirtioShmemQuery *query = opaque;
    VirtioShmemRegionList **regions;
    VirtioSharedMemory *shmem;
    VirtioShmemInfo *info;
    VirtIODevice *vdev;

    if (!object_dynamic_cast(obj, TYPE_VIRTIO_DEVICE) ||
        !DEVICE(obj)->realized) {
        return 0;
    }
    vdev = VIRTIO_DEVICE(obj);
    if (QSIMPLEQ_EMPTY(&vdev->shmem_list)) {
        return 0;
    }

    info = g_new0(VirtioShmemInfo, 1);
    info->path = object_get_canonical_path(obj);
    info->name = g_strdup(vdev->name);
    info->migration_blocker =
        g_strdup(error_get_pretty(vdev->shmem_migration_blocker));
    regions = &info->regions;
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        QAPI_LIST_APPEND(regions, virtio_shmem_region_info(shmem, query));
    }
    QAPI_LIST_APPEND(query->tail, info);
    return 0;
}

VirtioShmemInfoList *qmp_x_query_virtio_shmem(bool has_from, uint64_t from,
                                              bool has_max_mappings,
                                              uint32_t max_mappings,
                                              Error **errp)
{
    VirtioShmemInfoList *list = NULL;
    VirtioShmemQuery query = {
        .from = has_from ? from : 0,
        .max = has_max_mappings ? max_mappings : UINT32_MAX,
        .tail = &list,
    };

    object_child_foreach_recursive(object_get_root(), virtio_shmem_query_dev,
                                   &query);
    return list;
}

void hmp_virtio_shmem(Monitor *mon, const QDict *qdict)
{
    g_autoptr(VirtioShmemInfoList) list =
        qmp_x_query_virtio_shmem(false, 0, false, 0, NULL);
    VirtioShmemInfoList *dev;

    if (!list) {
        monitor_printf(mon, "No VIRTIO Shared Memory Regions\n");
        return;
    }
    for (dev = list; dev; dev = dev->next) {
        VirtioShmemRegionList *region;

        monitor_printf(mon, "%s (%s):\n", dev->value->path, dev->value->name);
        for (region = dev->value->regions; region; region = region->next) {
            VirtioShmemMappingList *m;

            monitor_printf(mon, "  shmid %u: size 0x%" PRIx64 ", %u mappings\n",
                           region->value->shmid, region->value->size,
                           region->value->nr_mappings);
            for (m = region->value->mappings; m; m = m->next) {
                monitor_printf(mon, "    0x%016" PRIx64 "-0x%016" PRIx64
                               " fd_offset 0x%" PRIx64 " %s\n",
                               m->value->shm_offset,
                               m->value->shm_offset + m->value->len - 1,
                               m->value->fd_offset,
                               m->value->rw ? "rw" : "ro");
            }
        }
    }
}
