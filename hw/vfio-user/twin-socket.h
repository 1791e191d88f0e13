/*
 * vfio-user client: the twin socket for server-to-client messages
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VFIO_USER_TWIN_SOCKET_H
#define HW_VFIO_USER_TWIN_SOCKET_H

#include "io/channel.h"
#include "system/memory.h"
#include "hw/vfio/vfio-device.h"
#include "hw/vfio-user/protocol.h"

typedef struct VFIOUserTwin {
    /* negotiated in the VERSION exchange */
    bool requested;             /* ask for twin-socket mode */
    bool supported;             /* twin_socket capability of the server */
    bool has_fd_index;
    uint64_t fd_index;          /* its fd_index */

    /* the server-to-client socket, if any; set with proxy->lock held */
    QIOChannel *ioc;

    /*
     * Receive and reply state, only used by the iothread (and by
     * vfio_user_twin_close() once the iothread no longer runs it).
     */
    VFIOUserDMARW *buf;         /* request being received, then its reply */
    size_t done;                /* bytes of buf received or sent */
    size_t discard;             /* body bytes of a rejected request to drop */
    int error;                  /* errno to reply to the rejected request */
    bool sending;               /* waiting for room to send the reply */

    /*
     * Zero-copy transfer: the data of the DMA_WRITE request being received,
     * or of the DMA_READ reply being sent, is at ptr (NULL if none), in
     * client memory held by cache.
     */
    MemoryRegionCache cache;
    void *ptr;

    /*
     * The data of a large DMA_READ reply goes from client memory to the
     * socket through this pipe (vmsplice(), then splice()): the kernel
     * takes references to the pages instead of copying them.  piped bytes
     * of the reply (counted in done) are in the pipe, not yet in the
     * socket.  Without the pipe, the data is copied.
     */
    bool has_pipe;
    int pipe_fds[2];
    size_t piped;
    bool no_splice;             /* copy the rest of this reply's data */
} VFIOUserTwin;

/* The twin_socket capability: what we ask for, and the server's answer */
void vfio_user_twin_add_cap(VFIOUserProxy *proxy, QDict *caps);
bool vfio_user_twin_check_cap(VFIOUserProxy *proxy, QObject *qobj,
                              Error **errp);

/*
 * Set up twin-socket mode as negotiated in the VERSION exchange.  @fds holds
 * the @nfds file descriptor slots of the reply (-1 if unused); the one that
 * is taken is set to -1.
 */
bool vfio_user_twin_setup(VFIOUserProxy *proxy, int *fds, int nfds,
                          Error **errp);

/* Shut the twin socket down with the connection (proxy->lock held) */
void vfio_user_twin_shutdown(VFIOUserProxy *proxy);

/*
 * Release the client memory of a zero-copy transfer in progress, if any,
 * because DMA is disabled or the connection is going away.  In the iothread.
 */
void vfio_user_twin_abort(VFIOUserProxy *proxy);

/* Free the twin socket once the iothread no longer uses it */
void vfio_user_twin_close(VFIOUserProxy *proxy);

#endif /* HW_VFIO_USER_TWIN_SOCKET_H */
