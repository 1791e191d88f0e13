/*
 * vfio-user client: map the server's shared memory as RAM
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VFIO_USER_MMAP_RAM_H
#define HW_VFIO_USER_MMAP_RAM_H

#include "hw/vfio/vfio-device.h"

/*
 * The region_mmap_is_ram hook of VFIODeviceIOOps: whether QEMU may treat
 * the mapping of @fd for region @nr (@flags VFIO_REGION_INFO_FLAG_*,
 * @size bytes) as ordinary RAM, i.e. whether @fd is shared memory (a
 * memfd or a file on tmpfs or hugetlbfs) and the region writable and made
 * of whole host pages.  Anything else stays a RAM device, accessed in the
 * widths of the access.
 */
bool vfio_user_region_mmap_is_ram(VFIODevice *vbasedev, uint8_t nr,
                                  uint32_t flags, uint64_t size, int fd);

#endif /* HW_VFIO_USER_MMAP_RAM_H */
