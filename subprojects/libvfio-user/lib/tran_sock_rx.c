/*
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <sys/param.h>
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tran_sock_rx.h"

void
tran_sock_rx_reset(tran_sock_rx_t *rx)
{
    size_t i;

    for (i = 0; i < rx->nr_fds; i++) {
        (void) close(rx->fds[i]);
    }
    free(rx->body);
    memset(rx, 0, sizeof(*rx));
}

/* The time limit of a message starts with its first byte. */
void
tran_sock_rx_start(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx)
{
    unsigned int ms = vfu_ctx->recv_timeout_ms;

    rx->started = true;
    clock_gettime(CLOCK_MONOTONIC, &rx->deadline);
    rx->deadline.tv_sec += ms / 1000;
    rx->deadline.tv_nsec += (long)(ms % 1000) * 1000000;
    if (rx->deadline.tv_nsec >= 1000000000) {
        rx->deadline.tv_sec++;
        rx->deadline.tv_nsec -= 1000000000;
    }
}

int
tran_sock_rx_time_left(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx)
{
    struct timespec now;
    int64_t left;

    if (!rx->started || vfu_ctx->recv_timeout_ms == 0) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = (int64_t)(rx->deadline.tv_sec - now.tv_sec) * 1000 +
           (rx->deadline.tv_nsec - now.tv_nsec) / 1000000;
    return left < 0 ? 0 : (int)MIN(left, INT_MAX);
}

/* Read what is there of the next @len bytes, collecting fds. */
static ssize_t
tran_sock_rx_read(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx, int fd, void *buf,
                  size_t len)
{
    char control[CMSG_SPACE(sizeof(int) * VFIO_USER_CLIENT_MAX_MSG_FDS_LIMIT)];
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control,
        .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cmsg;
    bool too_many = false;
    ssize_t ret;

    do {
        ret = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (ret < 0 && errno == EINTR);

    if (ret < 0) {
        return -1;
    }

    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t i, n;
        int *fds;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        fds = (int *)CMSG_DATA(cmsg);
        for (i = 0; i < n; i++) {
            if (rx->nr_fds < VFIO_USER_CLIENT_MAX_MSG_FDS_LIMIT) {
                rx->fds[rx->nr_fds++] = fds[i];
            } else {
                (void) close(fds[i]);
                too_many = true;
            }
        }
    }

    if (too_many || (msg.msg_flags & MSG_CTRUNC)) {
        vfu_log(vfu_ctx, LOG_ERR, "too many fds with a message");
        return ERROR_INT(ECONNRESET);
    }
    if (ret == 0) {
        /* End of file between messages is a hang-up, within one a cut. */
        return ERROR_INT(rx->hdr_len > 0 ? ECONNRESET : ENOMSG);
    }
    if (!rx->started) {
        tran_sock_rx_start(vfu_ctx, rx);
    }
    return ret;
}

int
tran_sock_rx(vfu_ctx_t *vfu_ctx, tran_sock_rx_t *rx, int fd)
{
    size_t body_size;
    ssize_t ret;

    while (rx->hdr_len < sizeof(rx->hdr)) {
        ret = tran_sock_rx_read(vfu_ctx, rx, fd, (char *)&rx->hdr + rx->hdr_len,
                                sizeof(rx->hdr) - rx->hdr_len);
        if (ret < 0) {
            goto fail;
        }
        rx->hdr_len += ret;
    }

    /* A size we cannot take leaves no way to find the next message. */
    if (rx->hdr.msg_size < sizeof(rx->hdr) ||
        rx->hdr.msg_size > SERVER_MAX_MSG_SIZE) {
        vfu_log(vfu_ctx, LOG_ERR, "msg0x%hx: bad message size %u",
                rx->hdr.msg_id, rx->hdr.msg_size);
        return ERROR_INT(ECONNRESET);
    }
    body_size = rx->hdr.msg_size - sizeof(rx->hdr);

    if (body_size > 0 && rx->body == NULL) {
        rx->body = malloc(body_size);
        if (rx->body == NULL) {
            return -1;
        }
    }
    while (rx->body_len < body_size) {
        ret = tran_sock_rx_read(vfu_ctx, rx, fd, rx->body + rx->body_len,
                                body_size - rx->body_len);
        if (ret < 0) {
            goto fail;
        }
        rx->body_len += ret;
    }
    return 0;

fail:
    if (errno == EAGAIN && tran_sock_rx_time_left(vfu_ctx, rx) == 0) {
        vfu_log(vfu_ctx, LOG_ERR, "the client did not complete a message "
                "in %u ms", vfu_ctx->recv_timeout_ms);
        return ERROR_INT(ETIMEDOUT);
    }
    return -1;
}

void
tran_sock_rx_take_fds(tran_sock_rx_t *rx, int *fds, size_t *nr_fds)
{
    size_t n = nr_fds != NULL ? MIN(*nr_fds, rx->nr_fds) : 0;
    size_t i;

    for (i = 0; i < n; i++) {
        fds[i] = rx->fds[i];
    }
    for (; i < rx->nr_fds; i++) {
        (void) close(rx->fds[i]);
    }
    rx->nr_fds = 0;
    if (nr_fds != NULL) {
        *nr_fds = n;
    }
}
