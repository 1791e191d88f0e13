/*
 * VIRTIO Shared Memory Regions on the PCI transport
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VIRTIO_PCI_SHMEM_H
#define HW_VIRTIO_VIRTIO_PCI_SHMEM_H

#include "hw/virtio/virtio-pci.h"

/* The BAR regions go in: 2-3, free unless modern-pio-notify is on */
#define VIRTIO_PCI_SHMEM_BAR 2

/**
 * virtio_pci_expose_shmem: put the shared memory regions of @proxy's device
 * in BAR @bar_idx, with one VIRTIO_PCI_CAP_SHARED_MEMORY_CFG capability each
 *
 * Call from the proxy's realize, after the virtio device has realized (and
 * so made its regions).  @bar is the BAR's container, storage in the proxy.
 * A device without regions gets no BAR and no capability.
 *
 * Returns: true, or false with @errp set.
 */
bool virtio_pci_expose_shmem(VirtIOPCIProxy *proxy, MemoryRegion *bar,
                             uint8_t bar_idx, Error **errp);

#endif
