/*
 * vfio-user client: map the server's shared memory as RAM
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A kernel VFIO region that can be mapped is device memory: QEMU maps it
 * as a RAM device region, which KVM guests reach directly but which the
 * memory core (TCG, DMA of other devices, qtest, the gdbstub) accesses in
 * pieces of at most 8 bytes, each in the width of the access, never with
 * memcpy().  A vfio-user server's sparse mmap area is different: the fd
 * the client maps is whatever the server chose, and when that is a memfd
 * or a file on tmpfs or hugetlbfs, it is the server's memory, which may
 * be accessed like any RAM (as ivshmem maps its shared memory).  Mapping
 * such an area as RAM lets TCG reach it through its TLB and the memory
 * core with one memcpy() per access instead of one callback per 8 bytes.
 *
 * The decision is made on the fd the client maps, not on what the server
 * says about it, so that a server cannot make QEMU memcpy() into device
 * memory (for example a file of /sys/bus/pci/devices/.../resource0 or a
 * VFIO device fd that it passed on).  What stays a RAM device:
 * - fds that are not regular files on tmpfs or hugetlbfs (character
 *   devices, anonymous inodes, files of sysfs, disk file systems),
 * - regions the client may not write (a RAM region would let TCG fault
 *   on the read-only mapping where a RAM device region reports nothing
 *   more than today),
 * - regions that are not whole host pages (vfio-pci grows the mapping of
 *   a BAR smaller than a page to a page),
 * - everything, with x-sparse-mmap-ram=off.
 *
 * The RAM region is not migrated (nothing registers it with vmstate, and
 * vfio-user-pci has no migration); KVM gets a memory slot for it as it
 * does for a RAM device region.
 */

#include "qemu/osdep.h"
#include "qemu/mmap-alloc.h"
#include "hw/vfio-user/device.h"
#include "hw/vfio-user/mmap-ram.h"
#include "hw/vfio-user/trace.h"

bool vfio_user_region_mmap_is_ram(VFIODevice *vbasedev, uint8_t nr,
                                  uint32_t flags, uint64_t size, int fd)
{
    const char *why = NULL;
    struct stat st;

    if (vbasedev->proxy->flags & VFIO_PROXY_MMAP_DEVICE) {
        why = "x-sparse-mmap-ram=off";
    } else if (!(flags & VFIO_REGION_INFO_FLAG_WRITE)) {
        why = "region not writable";
    } else if (!QEMU_IS_ALIGNED(size, qemu_real_host_page_size())) {
        why = "region not whole pages";
    } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        why = "fd not a regular file";
    } else if (qemu_fd_getfs(fd) == QEMU_FS_TYPE_UNKNOWN) {
        why = "fd not on tmpfs or hugetlbfs";
    }

    trace_vfio_user_region_mmap_ram(vbasedev->name, nr, !why,
                                    why ?: "shared memory");
    return !why;
}
