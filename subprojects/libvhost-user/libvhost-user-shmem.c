/*
 * libvhost-user: VIRTIO Shared Memory Regions
 *
 * The back-end's side of VHOST_USER_GET_SHMEM_CONFIG and of the
 * VHOST_USER_BACKEND_SHMEM_MAP and _UNMAP requests.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvhost-user-internal.h"

/* libvhost-user does not link QEMU's util, qemu_real_host_page_size() */
static uint64_t
vu_host_page_size(void)
{
    return sysconf(_SC_PAGE_SIZE);
}

bool
vu_set_shmem_regions(VuDev *dev, const uint64_t *sizes, unsigned int count)
{
    uint64_t page_size = vu_host_page_size();
    uint32_t nregions = 0;
    unsigned int i;

    if (count > VHOST_USER_MAX_SHMEM_REGIONS) {
        return false;
    }
    for (i = 0; i < count; i++) {
        if (sizes[i] % page_size) {
            return false;
        }
        nregions += !!sizes[i];
    }

    memset(dev->shmem_sizes, 0, sizeof(dev->shmem_sizes));
    if (count) {
        memcpy(dev->shmem_sizes, sizes, count * sizeof(sizes[0]));
    }
    dev->shmem_nregions = nregions;
    return true;
}

bool
vu_shmem_get_config_exec(VuDev *dev, VhostUserMsg *vmsg)
{
    VhostUserShMemConfig *config = calloc(1, sizeof(*config));
    int i;

    for (i = 0; i < vmsg->fd_num; i++) {
        close(vmsg->fds[i]);
    }
    vmsg->fd_num = 0;
    if (!config) {
        vu_panic(dev, "%s: failed to allocate the reply", __func__);
        return false;
    }

    config->nregions = dev->shmem_nregions;
    memcpy(config->memory_sizes, dev->shmem_sizes,
           sizeof(config->memory_sizes));

    /* Too big for the payload union: vu_message_write() sends data */
    vmsg->flags = 0;
    vmsg->size = sizeof(*config);
    vmsg->data = (uint8_t *)config;
    return true;
}

/*
 * Checks common to SHMEM_MAP and _UNMAP; returns 0 or a negative errno.
 * The region bounds are known only when the back-end declared its regions
 * with vu_set_shmem_regions(); one that answers GET_SHMEM_CONFIG itself
 * leaves them to the front-end.
 */
static int
vu_shmem_check(VuDev *dev, uint8_t shmid, uint64_t shm_offset, uint64_t len)
{
    uint64_t page_size = vu_host_page_size();
    uint64_t size = dev->shmem_sizes[shmid];

    if (!(dev->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_SHMEM))) {
        return -ENOTSUP;
    }
    if (!len || (shm_offset | len) % page_size) {
        return -EINVAL;
    }
    if (dev->shmem_nregions &&
        (!size || len > size || shm_offset > size - len)) {
        return -EINVAL;
    }
    return 0;
}

/* Sends SHMEM_MAP (with @fd) or SHMEM_UNMAP (@fd -1) once checked */
static int
vu_shmem_request(VuDev *dev, VhostUserBackendRequest request,
                 const VhostUserMMap *mmap, int fd)
{
    VhostUserMsg vmsg = {
        .request = request,
        .size = sizeof(vmsg.payload.mmap),
        .payload.mmap = *mmap,
    };

    if (fd >= 0) {
        vmsg.fds[0] = fd;
        vmsg.fd_num = 1;
    }
    return vu_backend_request(dev, &vmsg);
}

int
vu_shmem_map_errno(VuDev *dev, uint8_t shmid, uint64_t fd_offset,
                   uint64_t shm_offset, uint64_t len, uint64_t flags, int fd)
{
    const VhostUserMMap mmap = {
        .shmid = shmid,
        .fd_offset = fd_offset,
        .shm_offset = shm_offset,
        .len = len,
        .flags = flags,
    };
    int ret = vu_shmem_check(dev, shmid, shm_offset, len);

    if (ret) {
        return ret;
    }
    if (fd < 0 || fd_offset % vu_host_page_size() ||
        (flags & ~VHOST_USER_FLAG_MAP_RW)) {
        return -EINVAL;
    }
    return vu_shmem_request(dev, VHOST_USER_BACKEND_SHMEM_MAP, &mmap, fd);
}

int
vu_shmem_unmap_errno(VuDev *dev, uint8_t shmid, uint64_t shm_offset,
                     uint64_t len)
{
    const VhostUserMMap mmap = {
        .shmid = shmid,
        .shm_offset = shm_offset,
        .len = len,
    };
    int ret = vu_shmem_check(dev, shmid, shm_offset, len);

    return ret ? ret : vu_shmem_request(dev, VHOST_USER_BACKEND_SHMEM_UNMAP,
                                        &mmap, -1);
}

bool
vu_shmem_map(VuDev *dev, uint8_t shmid, uint64_t fd_offset,
             uint64_t shm_offset, uint64_t len, uint64_t flags, int fd)
{
    return !vu_shmem_map_errno(dev, shmid, fd_offset, shm_offset, len, flags,
                               fd);
}

bool
vu_shmem_unmap(VuDev *dev, uint8_t shmid, uint64_t shm_offset, uint64_t len)
{
    return !vu_shmem_unmap_errno(dev, shmid, shm_offset, len);
}
