/*
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

/*
 * Receiving a message on a non-blocking socket (LIBVFIO_USER_FLAG_ATTACH_NB):
 * its bytes and fds are gathered as they come, so that a client that sends
 * part of a message never blocks the caller, and a message must be
 * complete within vfu_ctx->recv_timeout_ms of its first byte.
 */

#ifndef LIB_VFIO_USER_TRAN_SOCK_RX_H
#define LIB_VFIO_USER_TRAN_SOCK_RX_H

#include <stdbool.h>
#include <time.h>

#include "private.h"
#include "tran.h"

/* A message being received */
typedef struct {
    bool started;               /* a byte arrived, or negotiating */
    struct timespec deadline;   /* valid if started and a timeout is set */
    struct vfio_user_header hdr;
    size_t hdr_len;             /* bytes of hdr received */
    char *body;
    size_t body_len;            /* bytes of body received */
    int fds[VFIO_USER_CLIENT_MAX_MSG_FDS_LIMIT];
    size_t nr_fds;
} tran_sock_rx_t;

/* Forget the message, closing its fds. */
void
tran_sock_rx_reset(tran_sock_rx_t *rx);

/* Start the time limit of a message (its first byte, or a connection). */
void
tran_sock_rx_start(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx);

/* Milliseconds left to complete the message, -1 for no limit. */
int
tran_sock_rx_time_left(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx);

/*
 * Gather the next message from @fd without blocking.  Returns 0 once it is
 * all in @rx, or -1 with errno EAGAIN while it is not, ETIMEDOUT when it
 * took too long, ENOMSG at end of file between messages, ECONNRESET for a
 * message that cannot be taken, or any other error.
 */
int
tran_sock_rx(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx, int fd);

/* Hand the fds gathered with the message over to @fds (at most *@nr_fds). */
void
tran_sock_rx_take_fds(tran_sock_rx_t *rx, int *fds, size_t *nr_fds);

#endif /* LIB_VFIO_USER_TRAN_SOCK_RX_H */
