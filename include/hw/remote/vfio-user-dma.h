/*
 * vfio-user server: device DMA to client memory by message
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_REMOTE_VFIO_USER_DMA_H
#define HW_REMOTE_VFIO_USER_DMA_H

#include "system/memory.h"
#include "hw/pci/pci_device.h"
#include "libvfio-user.h"

typedef struct VfioUserServerDma VfioUserServerDma;

/* Options of the server object for DMA by message */
typedef struct VfioUserServerDmaOptions {
    bool block;
    bool twin_socket;
    uint32_t timeout_ms;
    uint32_t poll_us;
    uint32_t max_regions;
    uint64_t max_bounce_buffer_size;
    bool applied;       /* in use: no longer settable */
} VfioUserServerDmaOptions;

/* Since the server started listening */
typedef struct VfioUserServerDmaStats {
    uint64_t read_messages;     /* DMA_READ requests sent to the client */
    uint64_t write_messages;    /* DMA_WRITE requests sent to the client */
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t errors;            /* device accesses that failed */
} VfioUserServerDmaStats;

/*
 * Called in the middle of a device access when a transfer failed with
 * ENOTCONN; returns whether libvfio-user dropped the connection.
 */
typedef bool VfioUserServerDmaLostFunc(void *opaque);

/**
 * vfio_user_server_dma_new: serve device DMA to client ranges shared
 *     without an fd
 *
 * @owner: owner of the MemoryRegions (the server object)
 * @ctx: the libvfio-user context that carries the messages
 * @root: root MemoryRegion of the device's DMA address space
 * @block: move each access in one call (false: the memory core's
 *         pieces of at most 8 bytes, for comparison)
 * @stats: counters, cleared here and updated until freed
 * @lost: called when a DMA transfer may have found the connection gone
 * @opaque: for @lost
 *
 * Also puts a background region under @root, so that device accesses
 * outside every range the client registered are counted and logged.
 */
VfioUserServerDma *vfio_user_server_dma_new(Object *owner, vfu_ctx_t *ctx,
                                            MemoryRegion *root, bool block,
                                            VfioUserServerDmaStats *stats,
                                            VfioUserServerDmaLostFunc *lost,
                                            void *opaque);

/* Removes every range and the background region. */
void vfio_user_server_dma_free(VfioUserServerDma *dma);

/*
 * A range the client registered: mapped memory if it came with an fd
 * (info->vaddr), else reached by message.
 */
void vfio_user_server_dma_add_range(VfioUserServerDma *dma,
                                    const vfu_dma_info_t *info);

/* Returns false if no range starts at @iova. */
bool vfio_user_server_dma_del_range(VfioUserServerDma *dma, hwaddr iova);

/* A read-only uint64 statistic of the server object */
typedef struct VfioUserServerCounter {
    const char *name;
    size_t offset;              /* in the statistics */
    const char *description;
} VfioUserServerCounter;

/* The @n @counters of statistics at @stats_offset in the server's objects */
void vfio_user_server_class_add_counters(ObjectClass *oc,
                                         ptrdiff_t stats_offset,
                                         const VfioUserServerCounter *counters,
                                         size_t n);

/* Sets the DMA options to their defaults, in the server's instance_init */
void vfio_user_server_dma_options_init(VfioUserServerDmaOptions *options);

/**
 * vfio_user_server_dma_class_add_properties: the DMA options and the
 *     statistics as properties of the server class @oc
 *
 * @options_offset: offset of the VfioUserServerDmaOptions in the object
 * @stats_offset: offset of the VfioUserServerDmaStats in the object
 *
 * The options are read by vfio_user_server_dma_options_apply(), when the
 * server starts listening; they cannot change after that.
 */
void vfio_user_server_dma_class_add_properties(ObjectClass *oc,
                                               ptrdiff_t options_offset,
                                               ptrdiff_t stats_offset);

/*
 * Checks @options and applies them to @ctx and to the bounce buffers of
 * @pci_dev, before the context is realized.
 */
bool vfio_user_server_dma_options_apply(
    VfioUserServerDmaOptions *options, vfu_ctx_t *ctx,
    PCIDevice *pci_dev, Error **errp);

#endif
