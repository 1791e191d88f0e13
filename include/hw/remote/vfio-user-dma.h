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

typedef struct VfuDma VfuDma;

/* Options of the server object for DMA by message */
typedef struct VfuDmaOptions {
    bool block;
    bool twin_socket;
    uint32_t timeout_ms;
    uint32_t max_regions;
    uint64_t max_bounce_buffer_size;    /* 0: not set */
} VfuDmaOptions;

typedef struct VfuDmaStats {
    uint64_t read_messages;     /* DMA_READ requests sent to the client */
    uint64_t write_messages;    /* DMA_WRITE requests sent to the client */
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t errors;            /* device accesses that failed */
} VfuDmaStats;

/*
 * Called in the middle of a device access when a transfer failed with
 * ENOTCONN; returns whether libvfio-user dropped the connection.
 */
typedef bool VfuDmaLostFunc(void *opaque);

/**
 * vfu_dma_new: serve device DMA to client ranges shared without an fd
 *
 * @owner: owner of the MemoryRegions (the server object)
 * @ctx: the libvfio-user context that carries the messages
 * @root: root MemoryRegion of the device's DMA address space
 * @block: move each access in one call (false: the memory core's
 *         pieces of at most 8 bytes, for comparison)
 * @lost: called when a DMA transfer may have found the connection gone
 * @opaque: for @lost
 *
 * Also puts a background region under @root, so that device accesses
 * outside every range the client registered are counted and logged.
 */
VfuDma *vfu_dma_new(Object *owner, vfu_ctx_t *ctx, MemoryRegion *root,
                    bool block, VfuDmaLostFunc *lost, void *opaque);

/* Removes every range and the background region. */
void vfu_dma_free(VfuDma *dma);

/*
 * A range the client registered: mapped memory if it came with an fd
 * (info->vaddr), else reached by message.
 */
void vfu_dma_add_range(VfuDma *dma, const vfu_dma_info_t *info);

/* Returns false if no range starts at @iova. */
bool vfu_dma_del_range(VfuDma *dma, hwaddr iova);

const VfuDmaStats *vfu_dma_get_stats(VfuDma *dma);

/**
 * vfu_dma_class_add_properties: add the DMA options and statistics
 *
 * @klass: the server object's class
 * @options_offset: offset of its VfuDmaOptions
 * @dma_offset: offset of its VfuDma pointer (NULL while no context)
 *
 * The options can be set only while the VfuDma pointer is NULL.
 */
void vfu_dma_class_add_properties(ObjectClass *klass,
                                  ptrdiff_t options_offset,
                                  ptrdiff_t dma_offset);

void vfu_dma_options_init(VfuDmaOptions *options);

/*
 * Applies @options to @ctx and to the bounce buffers of @pci_dev, before
 * the context is realized.
 */
bool vfu_dma_options_apply(const VfuDmaOptions *options, vfu_ctx_t *ctx,
                           PCIDevice *pci_dev, Error **errp);

#endif
