/*
 * vhost-user-fs DAX cache window: a VIRTIO Shared Memory Region the
 * back-end maps file ranges into (FUSE_SETUPMAPPING/REMOVEMAPPING)
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VHOST_USER_FS_CACHE_H
#define HW_VIRTIO_VHOST_USER_FS_CACHE_H

#include "hw/virtio/vhost-user-fs.h"

/**
 * vhost_user_fs_cache_init: check the cache-size property and, when a
 * window is wanted, have vhost-user offer VHOST_USER_PROTOCOL_F_SHMEM
 *
 * Call from realize after vhost_user_init(), before vhost_dev_init().
 *
 * Returns: true, or false with @errp set.
 */
bool vhost_user_fs_cache_init(VHostUserFS *fs, Error **errp);

/**
 * vhost_user_fs_cache_realize: create the cache window (shmid
 * VIRTIO_FS_SHMCAP_ID_CACHE) after the back-end handshake
 *
 * The back-end must have negotiated VHOST_USER_PROTOCOL_F_SHMEM; when it
 * declares region 0 in GET_SHMEM_CONFIG, the size must be cache-size.
 * Nothing to do without cache-size.  On failure, virtio_cleanup() drops
 * what was created.
 *
 * Returns: true, or false with @errp set.
 */
bool vhost_user_fs_cache_realize(VHostUserFS *fs, Error **errp);

#endif
