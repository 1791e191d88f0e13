/*
 * VIRTIO Shared Memory Regions on the PCI transport
 *
 * Regions go back to back in one 64-bit prefetchable memory BAR that no
 * other virtio structure uses, each at its size's natural alignment.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-utils.h"
#include "hw/pci/pci.h"
#include "hw/virtio/virtio-pci-shmem.h"
#include "hw/virtio/virtio-shmem.h"
#include "standard-headers/linux/virtio_pci.h"

/*
 * Size of the BAR that holds every region of @vdev, each at its size's
 * natural alignment, or 0 with @errp set when the BAR would not fit in
 * half the guest's physical address space (RAM needs the rest).  Sizes
 * come from the back-end: nothing here may overflow.
 */
static uint64_t virtio_pci_shmem_bar_size(VirtIODevice *vdev, Error **errp)
{
    uint8_t ids[VIRTIO_SHMEM_MAX_REGIONS];
    uint64_t sizes[VIRTIO_SHMEM_MAX_REGIONS];
    VirtioSharedMemory *shmem;
    unsigned int n = 0;
    uint64_t end;

    /* In the list's order, the order virtio_pci_expose_shmem() uses */
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        ids[n] = shmem->shmid;
        sizes[n++] = memory_region_size(&shmem->mr);
    }
    if (!virtio_shmem_layout(vdev, ids, sizes, n, &end, errp)) {
        return 0;
    }
    return pow2ceil(end);
}

bool virtio_pci_expose_shmem(VirtIOPCIProxy *proxy, MemoryRegion *bar,
                             uint8_t bar_idx, Error **errp)
{
    VirtIODevice *vdev = virtio_bus_get_device(&proxy->bus);
    PCIDevice *pdev = &proxy->pci_dev;
    g_autofree char *name = object_get_canonical_path(OBJECT(proxy));
    VirtioSharedMemory *shmem;
    uint64_t offset = 0, size, bar_size;

    if (!vdev || !virtio_has_shmem_regions(vdev)) {
        return true;
    }
    if (bar_idx == proxy->modern_mem_bar_idx ||
        bar_idx == proxy->msix_bar_idx ||
        (bar_idx == proxy->modern_io_bar_idx &&
         (proxy->flags & VIRTIO_PCI_FLAG_MODERN_PIO_NOTIFY))) {
        error_setg(errp, "%s: BAR %u for shared memory regions is in use by "
                   "virtio-pci (modern-pio-notify=on?)", name, bar_idx);
        return false;
    }

    bar_size = virtio_pci_shmem_bar_size(vdev, errp);
    if (!bar_size) {
        return false;
    }
    /* The capabilities first: they can fail, and a failed realize drops them */
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        size = memory_region_size(&shmem->mr);
        offset = ROUND_UP(offset, pow2ceil(size));
        if (virtio_pci_add_shm_cap(proxy, bar_idx, offset, size, shmem->shmid,
                                   errp) < 0) {
            error_prepend(errp, "%s: no room for the capability of shared "
                          "memory region %u: ", name, shmem->shmid);
            return false;
        }
        offset += size;
    }

    memory_region_init(bar, OBJECT(proxy), "virtio-pci-shmem", bar_size);
    offset = 0;
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        size = memory_region_size(&shmem->mr);
        offset = ROUND_UP(offset, pow2ceil(size));
        memory_region_add_subregion(bar, offset, &shmem->mr);
        offset += size;
    }
    pci_register_bar(pdev, bar_idx,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_PREFETCH |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, bar);
    return true;
}
