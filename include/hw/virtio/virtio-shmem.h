/*
 * VIRTIO Shared Memory Regions
 *
 * A device owns one VirtioSharedMemory per shared memory region id (shmid):
 * a container MemoryRegion the size of the region, which the transport
 * exposes to the guest.  Each file descriptor a backend maps into a region
 * is a VirtioSharedMemoryMapping.
 *
 * Writable mappings go into the region's window: one RAM MemoryRegion over
 * the whole region whose host memory is reserved up front, where a mapping
 * is an mmap() of the fd over its part.  A MAP or UNMAP then changes host
 * page tables only, never the memory map of the guest, so it costs the
 * same with 16 mappings live as with 60,000.  Where nothing is mapped the
 * window holds anonymous memory: zeroes, and whatever the guest wrote
 * there since the last MAP or UNMAP of that range.
 *
 * Read-only mappings, and all mappings of a device with x-shmem-window=off,
 * own a RAM MemoryRegion made from the fd with memory_region_init_ram_from_fd()
 * and placed as a subregion above the window: a guest write to them is
 * dropped, which a host mapping without PROT_WRITE could not do.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VIRTIO_SHMEM_H
#define HW_VIRTIO_VIRTIO_SHMEM_H

#include "qemu/interval-tree.h"
#include "qemu/queue.h"
#include "qom/object.h"
#include "system/memory.h"

typedef struct VirtIODevice VirtIODevice;

/* Most regions a device can have: shmid is a u8 */
#define VIRTIO_SHMEM_MAX_REGIONS 256

#define TYPE_VIRTIO_SHARED_MEMORY_MAPPING "virtio-shared-memory-mapping"
OBJECT_DECLARE_SIMPLE_TYPE(VirtioSharedMemoryMapping,
                           VIRTIO_SHARED_MEMORY_MAPPING)

struct VirtioSharedMemoryMapping {
    Object parent_obj;

    uint8_t shmid;
    uint64_t shm_offset;
    uint64_t len;
    uint64_t fd_offset;
    bool writable;
    /* In the window: no MemoryRegion, and QEMU keeps no fd */
    bool in_window;
    MemoryRegion mr;
    /* [shm_offset, shm_offset + len - 1], in the region's tree */
    IntervalTreeNode node;
    QTAILQ_ENTRY(VirtioSharedMemoryMapping) next;
};

/*
 * Both are QOM objects, children of their device and region, so that the
 * memory core's references (a flatview outlives an unmap until RCU frees
 * it) keep their MemoryRegions alive.
 */
#define TYPE_VIRTIO_SHARED_MEMORY "virtio-shared-memory"
OBJECT_DECLARE_SIMPLE_TYPE(VirtioSharedMemory, VIRTIO_SHARED_MEMORY)

struct VirtioSharedMemory {
    Object parent_obj;

    VirtIODevice *vdev;
    uint8_t shmid;
    MemoryRegion mr;
    /* NULL with x-shmem-window=off, or when it cannot be reserved */
    void *window;
    MemoryRegion window_mr;
    unsigned int nr_mappings;
    /* How many mappings are in the window */
    unsigned int nr_in_window;
    /* Sorted by shm_offset, never overlapping: in order, and for lookups */
    QTAILQ_HEAD(, VirtioSharedMemoryMapping) mappings;
    IntervalTreeRoot tree;
    QSIMPLEQ_ENTRY(VirtioSharedMemory) next;
};

/**
 * virtio_new_shmem_region: add shared memory region @shmid to @vdev
 *
 * @size must be a non-zero multiple of the host page size and @shmid not in
 * use.  While a device has regions, it blocks migration.
 *
 * Returns: the region, or NULL with @errp set.
 */
VirtioSharedMemory *virtio_new_shmem_region(VirtIODevice *vdev, uint8_t shmid,
                                            uint64_t size, Error **errp);

/* The region @shmid of @vdev, or NULL */
VirtioSharedMemory *virtio_find_shmem_region(VirtIODevice *vdev,
                                             uint8_t shmid);

/* Whether @vdev has any shared memory region */
bool virtio_has_shmem_regions(VirtIODevice *vdev);

/* The guest's physical address width, in bits (64 where unknown) */
unsigned int virtio_shmem_phys_bits(void);

/*
 * Lays regions @ids of @sizes (0: none) out one after the other, each at
 * its size's alignment, as a transport's BAR holds them: false with @errp
 * set unless they fit in half the guest's physical address space, else
 * their end in *@end.  A back-end's sizes are checked so before QEMU
 * reserves anything for them (a window costs host address space and
 * dirty bitmaps), and again for the BAR.
 */
bool virtio_shmem_layout(VirtIODevice *vdev, const uint8_t *ids,
                         const uint64_t *sizes, unsigned int n,
                         uint64_t *end, Error **errp);

/**
 * virtio_shmem_map: map [@fd_offset, @fd_offset + @len) of @fd at
 * @shm_offset in @shmem
 *
 * Checks every rule of VHOST_USER_BACKEND_SHMEM_MAP (alignment, bounds,
 * overflow, overlap, the fd's size) and changes nothing on failure.
 * The memory region update goes through the memory core; a caller that
 * must do something before listeners see it (reply to a backend that
 * waits) wraps the call in memory_region_transaction_begin/commit.
 * On success the mapping owns @fd; on failure the caller still does.
 *
 * Returns: the mapping, or NULL with @errp set.
 */
VirtioSharedMemoryMapping *virtio_shmem_map(VirtioSharedMemory *shmem,
                                            int fd, uint64_t fd_offset,
                                            uint64_t shm_offset, uint64_t len,
                                            bool writable, Error **errp);

/**
 * virtio_shmem_unmap: remove the mapping that is exactly
 * [@shm_offset, @shm_offset + @len) of @shmem
 *
 * Returns: true, or false with @errp set when no mapping is exactly that.
 */
bool virtio_shmem_unmap(VirtioSharedMemory *shmem, uint64_t shm_offset,
                        uint64_t len, Error **errp);

/* Drop every mapping of every region of @vdev (device reset, disconnect) */
void virtio_shmem_unmap_all(VirtIODevice *vdev);

/* Drop the regions themselves, at unrealize */
void virtio_shmem_cleanup(VirtIODevice *vdev);

/*
 * Whether @mr is the memory of a mapping or a window (what vhost memory
 * tables skip)
 */
bool virtio_shmem_is_mapping(MemoryRegion *mr);

#endif
