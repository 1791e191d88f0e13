/*
 * vhost-user-fs: what the device does once its back-end is gone
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VHOST_USER_FS_DISCONNECT_H
#define HW_VIRTIO_VHOST_USER_FS_DISCONNECT_H

#include "hw/virtio/vhost-user-fs.h"

/*
 * Watch the back-end connection from the end of realize: when it closes,
 * drop the back-end's shared memory mappings, stop vhost and fail the
 * guest's file system requests from then on.
 */
void vhost_user_fs_watch_backend(VHostUserFS *fs);
/* Stop watching, at unrealize */
void vhost_user_fs_unwatch_backend(VHostUserFS *fs);

/*
 * Handle @vq in QEMU: only once the back-end is gone, when every request
 * gets EIO; until then the back-end serves the queues.  Nothing while the
 * VM is stopped.
 */
void vhost_user_fs_fail_requests(VHostUserFS *fs, VirtQueue *vq);
/* The same for every queue, when the driver is ready */
void vhost_user_fs_fail_queues(VHostUserFS *fs);

#endif
