/*
 * vfio-user client: serve the server's DMA requests
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VFIO_USER_DMA_H
#define HW_VFIO_USER_DMA_H

#include "system/memory.h"
#include "hw/vfio-user/proxy.h"

/*
 * All of these run in the proxy's iothread without the BQL, and serve
 * proxy->dma_as (NULL: every request fails with EFAULT).
 */

/*
 * Serve a DMA_READ or DMA_WRITE request in place: @msg is turned into its
 * reply (or error reply) and the errno is returned.  The buffer must hold
 * sizeof(*msg) bytes, plus msg->count for a DMA_READ whose count is within
 * proxy->local_max_xfer_size.
 */
int vfio_user_dma_serve(VFIOUserProxy *proxy, VFIOUserDMARW *msg);

/*
 * Serve a DMA request received whole in @hdr, a g_malloc'd buffer of
 * hdr->size bytes.  Returns its reply, in the buffer grown to make room for
 * the data of a DMA_READ.
 */
VFIOUserHdr *vfio_user_dma_serve_msg(VFIOUserProxy *proxy, VFIOUserHdr *hdr);

/*
 * Map client memory at @addr for a DMA request of @len bytes served without
 * a copy: if the whole range is one piece of RAM that vfio_user_dma_serve()
 * would access, return its host address, with @cache holding it until
 * vfio_user_dma_unmap_ram().  Otherwise return NULL, leaving nothing to
 * release.
 */
void *vfio_user_dma_map_ram(VFIOUserProxy *proxy, MemoryRegionCache *cache,
                            uint64_t addr, uint64_t len, bool is_write);

/*
 * Release client memory mapped by vfio_user_dma_map_ram(), once @written
 * bytes of it (from its start) have been written.
 */
void vfio_user_dma_unmap_ram(MemoryRegionCache *cache, uint64_t written);

#endif /* HW_VFIO_USER_DMA_H */
