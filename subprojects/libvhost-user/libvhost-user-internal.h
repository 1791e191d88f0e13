/*
 * libvhost-user: functions shared by its source files, not part of its API
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBVHOST_USER_INTERNAL_H
#define LIBVHOST_USER_INTERNAL_H

#include "libvhost-user.h"

/* Marks @dev broken and calls its panic callback */
void vu_panic(VuDev *dev, const char *msg, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Sends @vmsg on the back-end channel, setting the protocol version in its
 * flags, and with F_REPLY_ACK waits for the front-end's answer.  Returns 0,
 * -ENOTCONN (no channel), -EIO (the channel failed or the reply was
 * malformed) or -EREMOTEIO (the front-end refused).
 */
int vu_backend_request(VuDev *dev, VhostUserMsg *vmsg);

/* Handles VHOST_USER_GET_SHMEM_CONFIG; returns true to send @vmsg back */
bool vu_shmem_get_config_exec(VuDev *dev, VhostUserMsg *vmsg);

#endif /* LIBVHOST_USER_INTERNAL_H */
