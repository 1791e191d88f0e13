/*
 * vfio-user client: serve the server's DMA requests
 *
 * The server's device reaches client memory that was not shared with it by
 * file descriptor with DMA_READ and DMA_WRITE requests.  They are served in
 * the proxy's iothread without the BQL: a vCPU that reads a BAR holds the
 * BQL while it waits for the server's reply, and the server's device may be
 * waiting for a DMA reply at the same time.  So only directly accessible
 * RAM of the device's DMA address space is served, through a
 * MemoryRegionCache per section (RAM pointers, dirty tracking).  Anything
 * else (MMIO, ROM for writes, unassigned memory, wrap-around) gets EFAULT:
 * as with memory shared by fd, the server never reaches the client's MMIO.
 * With a vIOMMU every access fails that way.
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/rcu.h"
#include "hw/vfio-user/dma.h"
#include "trace.h"

/*
 * Copy @len bytes between RAM of @as at @addr and @buf; a write checks the
 * whole range before it writes to any of it.  Returns 0 or -EFAULT.
 */
static int vfio_user_dma_rw(AddressSpace *as, uint64_t addr, void *buf,
                            uint64_t len, bool is_write)
{
    int pass;

    if (len == 0) {
        return 0;
    }
    if (len - 1 > UINT64_MAX - addr) {
        return -EFAULT;
    }

    RCU_READ_LOCK_GUARD();

    for (pass = is_write ? 0 : 1; pass < 2; pass++) {
        uint64_t done = 0;

        while (done < len) {
            MemoryRegionCache cache;
            int64_t l;

            l = address_space_cache_init(&cache, as, addr + done, len - done,
                                         is_write);
            if (l <= 0 || cache.ptr == NULL) {
                address_space_cache_destroy(&cache);
                return -EFAULT;
            }
            if (pass == 0) {
                /* check only */
            } else if (is_write) {
                address_space_write_cached(&cache, 0, buf + done, l);
            } else {
                address_space_read_cached(&cache, 0, buf + done, l);
            }
            address_space_cache_destroy(&cache);
            done += l;
        }
    }
    return 0;
}

int vfio_user_dma_serve(VFIOUserProxy *proxy, VFIOUserDMARW *msg)
{
    AddressSpace *as = qatomic_load_acquire(&proxy->dma_as);
    bool is_write = msg->hdr.command == VFIO_USER_DMA_WRITE;
    uint64_t addr = 0, count = 0;
    int ret = 0;

    if (msg->hdr.size < sizeof(*msg)) {
        ret = EINVAL;
    } else {
        size_t data = msg->hdr.size - sizeof(*msg);

        addr = msg->offset;
        count = msg->count;
        if (count > proxy->local_max_xfer_size) {
            ret = E2BIG;
        } else if (data != (is_write ? count : 0)) {
            ret = EINVAL;
        } else if (count != 0) {
            ret = as ? -vfio_user_dma_rw(as, addr, msg->data, count, is_write)
                     : EFAULT;
        }
    }
    trace_vfio_user_dma(proxy->sockname, is_write ? "write" : "read",
                        addr, count, ret);

    msg->hdr.flags = VFIO_USER_REPLY;
    if (ret != 0) {
        msg->hdr.flags |= VFIO_USER_ERROR;
        msg->hdr.error_reply = ret;
        msg->hdr.size = sizeof(msg->hdr);
    } else {
        msg->hdr.error_reply = 0;
        msg->hdr.size = sizeof(*msg) + (is_write ? 0 : count);
    }
    return ret;
}

VFIOUserHdr *vfio_user_dma_serve_msg(VFIOUserProxy *proxy, VFIOUserHdr *hdr)
{
    VFIOUserDMARW *msg = (VFIOUserDMARW *)hdr;
    size_t size = sizeof(*msg);

    /* make room for the data of a DMA_READ reply */
    if (hdr->size >= sizeof(*msg) && hdr->command == VFIO_USER_DMA_READ &&
        msg->count <= proxy->local_max_xfer_size) {
        size += msg->count;
    }
    if (size > hdr->size) {
        msg = g_realloc(msg, size);
    }

    vfio_user_dma_serve(proxy, msg);
    return &msg->hdr;
}

void *vfio_user_dma_map_ram(VFIOUserProxy *proxy, MemoryRegionCache *cache,
                            uint64_t addr, uint64_t len, bool is_write)
{
    AddressSpace *as = qatomic_load_acquire(&proxy->dma_as);
    int64_t l;

    if (as == NULL || len == 0 || len - 1 > UINT64_MAX - addr) {
        return NULL;
    }

    RCU_READ_LOCK_GUARD();

    l = address_space_cache_init(cache, as, addr, len, is_write);
    if (l <= 0 || (uint64_t)l != len || cache->ptr == NULL) {
        address_space_cache_destroy(cache);
        return NULL;
    }
    return cache->ptr;
}

void vfio_user_dma_unmap_ram(MemoryRegionCache *cache, uint64_t written)
{
    RCU_READ_LOCK_GUARD();

    if (written != 0) {
        address_space_cache_invalidate(cache, 0, written);
    }
    address_space_cache_destroy(cache);
}
