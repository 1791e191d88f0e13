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
static uint64_t virtio_pci_shmem_bar_size(VirtIODevice *vdev,
                                          const char *name, Error **errp)
{
    unsigned int phys_bits = virtio_shmem_phys_bits();
    uint64_t max = 1ULL << (phys_bits - 1);
    VirtioSharedMemory *shmem;
    uint64_t offset = 0, size;

    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        size = memory_region_size(&shmem->mr);
        if (size > max) {
            error_setg(errp, "%s: shared memory region %u is 0x%" PRIx64
                       " bytes, more than the guest's %u-bit physical "
                       "address space can hold (at most 0x%" PRIx64 ")",
                       name, shmem->shmid, size, phys_bits, max);
            return 0;
        }
        /* offset, pow2ceil(size) <= max <= 2^63: no overflow */
        offset = ROUND_UP(offset, pow2ceil(size));
        if (size > max - offset) {
            error_setg(errp, "%s: shared memory regions need more than 0x%"
                       PRIx64 " bytes, more than the guest's %u-bit "
                       "physical address space can hold", name, max,
                       phys_bits);
            return 0;
        }
        offset += size;
    }
    return pow2ceil(offset);
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

    bar_size = virtio_pci_shmem_bar_size(vdev, name, errp);
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
