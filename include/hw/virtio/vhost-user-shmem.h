/*
 * vhost-user VIRTIO Shared Memory: GET_SHMEM_CONFIG, BACKEND_SHMEM_MAP/UNMAP
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VHOST_USER_SHMEM_H
#define HW_VIRTIO_VHOST_USER_SHMEM_H

#include "hw/virtio/virtio-shmem.h"

/* VhostUserMMap.flags */
#define VHOST_USER_FLAG_MAP_RW (1ULL << 0)

/* Payload of VHOST_USER_BACKEND_SHMEM_MAP and _UNMAP */
typedef struct VhostUserMMap {
    uint8_t shmid;
    uint8_t padding[7];
    uint64_t fd_offset;
    uint64_t shm_offset;
    uint64_t len;
    uint64_t flags;
} QEMU_PACKED VhostUserMMap;

/* Reply payload of VHOST_USER_GET_SHMEM_CONFIG; the index is the shmid */
typedef struct VhostUserShMemConfig {
    uint32_t nregions;
    uint32_t padding;
    uint64_t memory_sizes[VIRTIO_SHMEM_MAX_REGIONS];
} QEMU_PACKED VhostUserShMemConfig;

struct vhost_dev;

/*
 * Backend requests.  @vdev is the device the backend maps into (NULL when
 * it has no shared memory), @fds what came with the message.  A mapping
 * that succeeds takes its fd and sets the slot to -1.
 *
 * Returns: 0, or a negative errno after reporting the error.
 */
int vhost_user_backend_shmem_map(struct vhost_dev *dev, VirtIODevice *vdev,
                                 const VhostUserMMap *req, uint32_t size,
                                 int *fds, size_t nfds);
int vhost_user_backend_shmem_unmap(struct vhost_dev *dev, VirtIODevice *vdev,
                                   const VhostUserMMap *req, uint32_t size);

/**
 * vhost_user_shmem_init: create @vdev's shared memory regions
 *
 * When @dev negotiated VHOST_USER_PROTOCOL_F_SHMEM, asks the backend for
 * its regions (VHOST_USER_GET_SHMEM_CONFIG) and creates each non-zero one.
 * On a reconnect, when @vdev has regions already, the answer must match.
 *
 * Returns: true, or false with @errp set.
 */
bool vhost_user_shmem_init(VirtIODevice *vdev, struct vhost_dev *dev,
                           Error **errp);

#endif
