/*
 * vhost-user-fs DAX cache window
 *
 * With cache-size set, the device has VIRTIO Shared Memory Region
 * VIRTIO_FS_SHMCAP_ID_CACHE of that size.  The guest's virtiofs driver
 * asks the back-end (FUSE_SETUPMAPPING) to map file ranges into it, and
 * the back-end does with VHOST_USER_BACKEND_SHMEM_MAP/UNMAP: the same
 * VirtioSharedMemory code as every other vhost-user device, offered only
 * here, where the transport shows the region to the guest.  The daemon's
 * mappings go with it (vhost-user-fs-disconnect.c) and on device reset.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtio/vhost-user-fs-cache.h"
#include "hw/virtio/vhost-user-shmem.h"
#include "hw/virtio/virtio-shmem.h"
#include "standard-headers/linux/virtio_fs.h"
#include "trace.h"

bool vhost_user_fs_cache_init(VHostUserFS *fs, Error **errp)
{
    uint64_t size = fs->conf.cache_size;
    g_autofree char *name = NULL;

    if (!size) {
        return true;
    }
    name = object_get_canonical_path(OBJECT(fs));
    if (!is_power_of_2(size) || size < qemu_real_host_page_size()) {
        error_setg(errp, "%s: cache-size must be a power of two of at least "
                   "the host page size (0x%zx), not 0x%" PRIx64,
                   name, qemu_real_host_page_size(), size);
        return false;
    }
    if (!fs->shmem_exposed) {
        error_setg(errp, "%s: cache-size needs a transport that shows the "
                   "cache window to the guest: use vhost-user-fs-pci", name);
        return false;
    }
    /* Only now does vhost-user offer F_SHMEM to the back-end */
    fs->vhost_user.shmem_vdev = VIRTIO_DEVICE(fs);
    return true;
}

/* The checks of vhost_user_fs_cache_realize(), @name for the messages */
static bool vhost_user_fs_cache_create(VHostUserFS *fs, const char *name,
                                       Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(fs);
    uint64_t size = fs->conf.cache_size;
    uint64_t declared = 0;
    VirtioSharedMemory *shmem;

    if (!virtio_has_feature(fs->vhost_dev.protocol_features,
                            VHOST_USER_PROTOCOL_F_SHMEM)) {
        error_setg(errp, "%s: cache-size=0x%" PRIx64 " needs a back-end that "
                   "offers VHOST_USER_PROTOCOL_F_SHMEM, and this one does "
                   "not: drop cache-size, or use a back-end with DAX support",
                   name, size);
        return false;
    }
    if (!virtio_has_feature(fs->vhost_dev.protocol_features,
                            VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
        error_setg(errp, "%s: cache-size needs a back-end that offers "
                   "VHOST_USER_PROTOCOL_F_BACKEND_REQ, the channel its "
                   "mappings come on", name);
        return false;
    }

    /* The regions the back-end declares, if it declares any */
    if (!vhost_user_shmem_init(vdev, &fs->vhost_dev, errp)) {
        return false;
    }
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        if (shmem->shmid != VIRTIO_FS_SHMCAP_ID_CACHE) {
            error_setg(errp, "%s: the back-end declares shared memory region "
                       "%u, but virtio-fs has only the cache window (region "
                       "%u)", name, shmem->shmid, VIRTIO_FS_SHMCAP_ID_CACHE);
            return false;
        }
        declared = memory_region_size(&shmem->mr);
        if (declared != size) {
            error_setg(errp, "%s: the back-end's cache window is 0x%" PRIx64
                       " bytes, but cache-size is 0x%" PRIx64 ": give both "
                       "the same size", name, declared, size);
            return false;
        }
    }
    trace_vhost_user_fs_cache_realize(name, size, declared);
    if (!declared &&
        !virtio_new_shmem_region(vdev, VIRTIO_FS_SHMCAP_ID_CACHE, size,
                                 errp)) {
        return false;
    }
    return true;
}

bool vhost_user_fs_cache_realize(VHostUserFS *fs, Error **errp)
{
    g_autofree char *name = NULL;

    if (!fs->conf.cache_size) {
        return true;
    }
    name = object_get_canonical_path(OBJECT(fs));
    return vhost_user_fs_cache_create(fs, name, errp);
}
