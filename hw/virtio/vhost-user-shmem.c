/*
 * vhost-user VIRTIO Shared Memory: GET_SHMEM_CONFIG, BACKEND_SHMEM_MAP/UNMAP
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "hw/virtio/vhost.h"
#include "hw/virtio/vhost-user.h"
#include "hw/virtio/vhost-user-shmem.h"
#include "hw/virtio/virtio.h"
#include "trace.h"

/*
 * Checks common to MAP and UNMAP.  Returns the region, or NULL after
 * reporting why the request is refused.
 */
static VirtioSharedMemory *vhost_user_shmem_region(struct vhost_dev *dev,
                                                   VirtIODevice *vdev,
                                                   const char *request,
                                                   const VhostUserMMap *req,
                                                   uint32_t size)
{
    g_autofree char *name = NULL;
    VirtioSharedMemory *shmem;
    const char *reason;

    if (!virtio_has_feature(dev->protocol_features,
                            VHOST_USER_PROTOCOL_F_SHMEM) || !vdev) {
        reason = "VHOST_USER_PROTOCOL_F_SHMEM was not negotiated";
    } else if (size != sizeof(*req)) {
        reason = "malformed payload";
    } else {
        shmem = virtio_find_shmem_region(vdev, req->shmid);
        if (shmem) {
            return shmem;
        }
        reason = "no shared memory region with this shmid";
    }
    name = vdev ? object_get_canonical_path(OBJECT(vdev))
                : g_strdup("vhost-user device");
    trace_vhost_user_shmem_reject(name, request, size == sizeof(*req) ?
                                  req->shmid : -1, reason);
    error_report("%s: vhost-user %s refused: %s", name, request, reason);
    return NULL;
}

int vhost_user_backend_shmem_map(struct vhost_dev *dev, VirtIODevice *vdev,
                                 const VhostUserMMap *req, uint32_t size,
                                 int *fds, size_t nfds)
{
    VirtioSharedMemory *shmem;
    Error *local_err = NULL;
    g_autofree char *name = NULL;
    uint64_t unknown_flags;

    shmem = vhost_user_shmem_region(dev, vdev, "SHMEM_MAP", req, size);
    if (!shmem) {
        return -EINVAL;
    }
    if (nfds != 1) {
        name = object_get_canonical_path(OBJECT(vdev));
        trace_vhost_user_shmem_reject(name, "SHMEM_MAP", req->shmid,
                                      "needs exactly one fd");
        /* The kernel drops the fd when QEMU has no descriptor left */
        error_report("%s: vhost-user SHMEM_MAP refused: %zu file descriptors "
                     "received, needs exactly one (none sent, or QEMU is out "
                     "of file descriptors)", name, nfds);
        return -EINVAL;
    }
    unknown_flags = req->flags & ~VHOST_USER_FLAG_MAP_RW;
    if (unknown_flags) {
        name = object_get_canonical_path(OBJECT(vdev));
        trace_vhost_user_shmem_reject(name, "SHMEM_MAP", req->shmid,
                                      "unknown flags");
        error_report("%s: vhost-user SHMEM_MAP refused: unknown flags 0x%"
                     PRIx64, name, unknown_flags);
        return -EINVAL;
    }

    if (!virtio_shmem_map(shmem, fds[0], req->fd_offset, req->shm_offset,
                          req->len, req->flags & VHOST_USER_FLAG_MAP_RW,
                          &local_err)) {
        error_report_err(local_err);
        return -EINVAL;
    }
    fds[0] = -1;
    return 0;
}

int vhost_user_backend_shmem_unmap(struct vhost_dev *dev, VirtIODevice *vdev,
                                   const VhostUserMMap *req, uint32_t size)
{
    VirtioSharedMemory *shmem;
    Error *local_err = NULL;

    shmem = vhost_user_shmem_region(dev, vdev, "SHMEM_UNMAP", req, size);
    if (!shmem) {
        return -EINVAL;
    }
    if (!virtio_shmem_unmap(shmem, req->shm_offset, req->len, &local_err)) {
        error_report_err(local_err);
        return -EINVAL;
    }
    return 0;
}

/* The checks of vhost_user_shmem_init(), without naming the device */
static bool vhost_user_shmem_config(VirtIODevice *vdev, struct vhost_dev *dev,
                                    uint64_t *sizes, int *nregions,
                                    Error **errp)
{
    /*
     * Regions are made at realize only: the guest found the device's
     * BAR then, and a back-end that comes back must declare the same
     * regions, none if there were none
     */
    bool reconnect = DEVICE(vdev)->realized;
    int nonzero = 0;
    int i;

    if (!virtio_has_feature(dev->protocol_features,
                            VHOST_USER_PROTOCOL_F_SHMEM)) {
        if (virtio_has_shmem_regions(vdev)) {
            error_setg(errp, "the backend no longer offers shared memory");
            return false;
        }
        *nregions = 0;
        return true;
    }
    if (!dev->vhost_ops->vhost_get_shmem_config ||
        dev->vhost_ops->vhost_get_shmem_config(dev, nregions, sizes,
                                               errp) < 0) {
        return false;
    }

    for (i = 0; i < VIRTIO_SHMEM_MAX_REGIONS; i++) {
        nonzero += !!sizes[i];
    }
    if (nonzero != *nregions) {
        error_setg(errp, "the backend's shared memory config says %d regions "
                   "but gives %d sizes", *nregions, nonzero);
        return false;
    }
    if (!reconnect) {
        uint8_t ids[VIRTIO_SHMEM_MAX_REGIONS];
        uint64_t end;

        for (i = 0; i < VIRTIO_SHMEM_MAX_REGIONS; i++) {
            ids[i] = i;
        }
        if (!virtio_shmem_layout(vdev, ids, sizes, VIRTIO_SHMEM_MAX_REGIONS,
                                 &end, errp)) {
            return false;
        }
    }

    for (i = 0; i < VIRTIO_SHMEM_MAX_REGIONS; i++) {
        VirtioSharedMemory *shmem = virtio_find_shmem_region(vdev, i);

        if (reconnect) {
            uint64_t had = shmem ? memory_region_size(&shmem->mr) : 0;

            if (had != sizes[i]) {
                error_setg(errp, "the backend's shared memory region %d is "
                           "0x%" PRIx64 " bytes, it was 0x%" PRIx64
                           " bytes: the guest cannot follow", i, sizes[i],
                           had);
                return false;
            }
        } else if (sizes[i] &&
                   !virtio_new_shmem_region(vdev, i, sizes[i], errp)) {
            return false;
        }
    }
    return true;
}

bool vhost_user_shmem_init(VirtIODevice *vdev, struct vhost_dev *dev,
                           Error **errp)
{
    g_autofree char *name = object_get_canonical_path(OBJECT(vdev));
    g_autofree uint64_t *sizes = g_new0(uint64_t, VIRTIO_SHMEM_MAX_REGIONS);
    bool reconnect = DEVICE(vdev)->realized;
    Error *local_err = NULL;
    int nregions = 0;

    if (!vhost_user_shmem_config(vdev, dev, sizes, &nregions, &local_err)) {
        /* A reconnection's failure is reported with the path already */
        if (!DEVICE(vdev)->realized &&
            !g_str_has_prefix(error_get_pretty(local_err), name)) {
            error_prepend(&local_err, "%s: ", name);
        }
        error_propagate(errp, local_err);
        return false;
    }
    if (nregions) {
        trace_vhost_user_shmem_config(name, nregions, reconnect);
    }
    return true;
}
