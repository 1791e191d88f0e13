/*
 * vfio-user client: the twin socket for server-to-client messages
 *
 * With one socket, a server that waits for the reply to its DMA request
 * can read one of the client's requests instead, and both ends lose track
 * of the stream.  In the protocol's twin-socket mode the server sends its
 * DMA requests on a socket of their own, passed in the VERSION reply, and
 * waits for each reply there.  Only the proxy's iothread uses that socket;
 * it accepts only DMA_READ and DMA_WRITE (ENOSYS otherwise), and its end
 * is the end of the connection.
 *
 * Zero copy: when the whole range of a request is one piece of directly
 * accessible RAM, the data of a DMA_WRITE request is received straight
 * into client memory, and the data of a DMA_READ reply is sent straight
 * from there.  The memory stays mapped (twin->ptr, held by twin->cache)
 * until the transfer is over.  The data of a large DMA_READ reply goes
 * through a pipe: vmsplice() takes references to the pages of client
 * memory, splice() hands them to the socket, and the one copy is the
 * server's receive.  The server reads the pages as they are when it
 * receives them, as a device reads memory when its DMA takes place; the
 * references keep them alive even if the memory goes away meanwhile.
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "io/channel-socket.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/units.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "hw/vfio-user/proxy.h"
#include "hw/vfio-user/dma.h"
#include "hw/vfio-user/trace.h"

/* The smallest data of a reply that goes through the pipe */
#define VFIO_USER_TWIN_SPLICE_MIN (32 * KiB)

static void vfio_user_twin_recv(void *opaque);
static void vfio_user_twin_write(void *opaque);

void vfio_user_twin_add_cap(VFIOUserProxy *proxy, QDict *caps)
{
    QDict *twindict;

    if (!proxy->twin.requested) {
        return;
    }
    twindict = qdict_new();
    qdict_put_bool(twindict, VFIO_USER_CAP_TWIN_SUPPORTED, true);
    qdict_put_obj(caps, VFIO_USER_CAP_TWIN, QOBJECT(twindict));
}

bool vfio_user_twin_check_cap(VFIOUserProxy *proxy, QObject *qobj,
                              Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;
    QDict *qdict = qobject_to(QDict, qobj);
    QObject *supported, *fd_index;
    size_t known = 0;

    if (qdict == NULL) {
        error_setg(errp, "malformed %s", VFIO_USER_CAP_TWIN);
        return false;
    }

    supported = qdict_get(qdict, VFIO_USER_CAP_TWIN_SUPPORTED);
    if (supported != NULL) {
        QBool *qb = qobject_to(QBool, supported);

        if (qb == NULL) {
            error_setg(errp, "malformed %s.%s", VFIO_USER_CAP_TWIN,
                       VFIO_USER_CAP_TWIN_SUPPORTED);
            return false;
        }
        twin->supported = qbool_get_bool(qb);
        known++;
    }

    fd_index = qdict_get(qdict, VFIO_USER_CAP_TWIN_FD_INDEX);
    if (fd_index != NULL) {
        QNum *qn = qobject_to(QNum, fd_index);
        uint64_t index;

        if (qn == NULL || !qnum_get_try_uint(qn, &index) ||
            index >= VFIO_USER_MAX_MAX_FDS) {
            error_setg(errp, "malformed %s.%s", VFIO_USER_CAP_TWIN,
                       VFIO_USER_CAP_TWIN_FD_INDEX);
            return false;
        }
        twin->fd_index = index;
        twin->has_fd_index = true;
        known++;
    }

    /* warning, for now, as for the other capabilities */
    if (qdict_size(qdict) != known) {
        warn_report("spurious capabilities");
    }
    return true;
}

/*
 * The pipe for zero-copy replies, as large as a reply's data if the
 * kernel lets us (smaller, it takes more rounds).  Without it, the data
 * is copied.
 */
static void vfio_user_twin_pipe_open(VFIOUserProxy *proxy)
{
    VFIOUserTwin *twin = &proxy->twin;

    if (pipe2(twin->pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        return;
    }
    (void)fcntl(twin->pipe_fds[1], F_SETPIPE_SZ,
                (int)MIN(proxy->local_max_xfer_size, INT_MAX));
    twin->has_pipe = true;
    twin->piped = 0;
}

static void vfio_user_twin_pipe_close(VFIOUserTwin *twin)
{
    if (twin->has_pipe) {
        close(twin->pipe_fds[0]);
        close(twin->pipe_fds[1]);
        twin->has_pipe = false;
        twin->piped = 0;
    }
}

bool vfio_user_twin_setup(VFIOUserProxy *proxy, int *fds, int nfds,
                          Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;
    QIOChannelSocket *sioc;
    int64_t index = twin->has_fd_index ? twin->fd_index : -1;
    int type;
    socklen_t len = sizeof(type);

    trace_vfio_user_twin_socket(proxy->sockname, twin->requested,
                                twin->supported, index);

    if (!twin->supported) {
        /* go on with server-to-client requests on the main socket */
        return true;
    }
    if (!twin->requested) {
        error_setg(errp, "server enabled twin-socket mode without a request");
        return false;
    }
    if (index < 0) {
        error_setg(errp, "inconsistent twin_socket capability: no %s",
                   VFIO_USER_CAP_TWIN_FD_INDEX);
        return false;
    }
    if (index >= nfds || fds[index] < 0) {
        error_setg(errp, "inconsistent twin_socket capability: "
                   "no file descriptor at %s %" PRId64,
                   VFIO_USER_CAP_TWIN_FD_INDEX, index);
        return false;
    }
    if (getsockopt(fds[index], SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_STREAM) {
        error_setg(errp, "twin_socket file descriptor is not a stream socket");
        return false;
    }

    sioc = qio_channel_socket_new_fd(fds[index], errp);
    if (sioc == NULL) {
        error_prepend(errp, "twin socket: ");
        return false;
    }
    fds[index] = -1;
    if (!qio_channel_set_blocking(QIO_CHANNEL(sioc), false, errp)) {
        object_unref(OBJECT(sioc));
        return false;
    }
    qio_channel_set_name(QIO_CHANNEL(sioc), "vfio-user-twin");

    twin->buf = g_malloc(sizeof(VFIOUserDMARW) + proxy->local_max_xfer_size);
    vfio_user_twin_pipe_open(proxy);
    WITH_QEMU_LOCK_GUARD(&proxy->lock) {
        if (proxy->state != VFIO_PROXY_CONNECTED) {
            error_setg(errp, "connection lost");
            object_unref(OBJECT(sioc));
            return false;
        }
        twin->ioc = QIO_CHANNEL(sioc);
        qio_channel_set_aio_fd_handler(twin->ioc, proxy->ctx,
                                       vfio_user_twin_recv, NULL, NULL,
                                       proxy);
    }
    return true;
}

void vfio_user_twin_shutdown(VFIOUserProxy *proxy)
{
    VFIOUserTwin *twin = &proxy->twin;

    /* also wakes up a server that waits for a DMA reply */
    if (twin->ioc != NULL) {
        qio_channel_shutdown(twin->ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
        qio_channel_set_aio_fd_handler(twin->ioc, proxy->ctx, NULL,
                                       proxy->ctx, NULL, NULL);
    }
}

void vfio_user_twin_close(VFIOUserProxy *proxy)
{
    VFIOUserTwin *twin = &proxy->twin;

    if (twin->ioc != NULL) {
        object_unref(OBJECT(twin->ioc));
        twin->ioc = NULL;
        vfio_user_twin_abort(proxy);
    }
    vfio_user_twin_pipe_close(twin);
    g_free(twin->buf);
    twin->buf = NULL;
}

/*
 * Map the client memory of the request in twin->buf, of which the header,
 * addr and count have been received.  Only a request that
 * vfio_user_dma_serve() would accept qualifies; on false, that function
 * serves it.
 */
static bool vfio_user_twin_map(VFIOUserProxy *proxy)
{
    VFIOUserTwin *twin = &proxy->twin;
    VFIOUserDMARW *msg = twin->buf;
    bool is_write = msg->hdr.command == VFIO_USER_DMA_WRITE;

    if (qatomic_read(&proxy->dma_as) == NULL ||
        msg->hdr.size < sizeof(*msg) || msg->count == 0 ||
        msg->count > proxy->local_max_xfer_size ||
        msg->hdr.size - sizeof(*msg) != (is_write ? msg->count : 0)) {
        return false;
    }
    twin->ptr = vfio_user_dma_map_ram(proxy, &twin->cache, msg->offset,
                                      msg->count, is_write);
    trace_vfio_user_twin_map(proxy->sockname, is_write ? "write" : "read",
                             msg->offset, msg->count, twin->ptr != NULL);
    return twin->ptr != NULL;
}

/*
 * Release the client memory of a zero-copy transfer, once @written bytes
 * of it (from its start) have been written.
 */
static void vfio_user_twin_unmap(VFIOUserTwin *twin, uint64_t written)
{
    vfio_user_dma_unmap_ram(&twin->cache, written);
    twin->ptr = NULL;
}

/*
 * The rest of a DMA_WRITE request is dropped and the request fails with
 * EFAULT; the rest of a DMA_READ reply is copied into twin->buf, to be sent
 * from there.
 */
void vfio_user_twin_abort(VFIOUserProxy *proxy)
{
    VFIOUserTwin *twin = &proxy->twin;
    VFIOUserDMARW *msg = twin->buf;
    size_t done;

    if (twin->ptr == NULL) {
        return;
    }
    done = MAX(twin->done, sizeof(*msg)) - sizeof(*msg);
    if (msg->hdr.command == VFIO_USER_DMA_WRITE) {
        vfio_user_twin_unmap(twin, done);
        twin->error = EFAULT;
        twin->discard = msg->hdr.size - twin->done;
        twin->done = 0;
    } else {
        memcpy(msg->data + done, (char *)twin->ptr + done, msg->count - done);
        vfio_user_twin_unmap(twin, 0);
    }
}

/*
 * The twin socket failed: the connection is dead, as on main socket errors.
 */
static void vfio_user_twin_fail(VFIOUserProxy *proxy, Error *err)
{
    qio_channel_set_aio_fd_handler(proxy->twin.ioc, proxy->ctx, NULL,
                                   proxy->ctx, NULL, NULL);
    vfio_user_twin_abort(proxy);

    WITH_QEMU_LOCK_GUARD(&proxy->lock) {
        if (proxy->state == VFIO_PROXY_CONNECTED) {
            error_prepend(&err, "vfio-user %s: server-to-client socket: ",
                          proxy->sockname);
            error_report_err(err);
            err = NULL;
            vfio_user_shutdown(proxy);
            proxy->state = VFIO_PROXY_ERROR;
        }
    }
    error_free(err);
}

/*
 * Move data of the reply whose header (@head bytes) is sent: what is in
 * the pipe to the socket, or if it is empty, more of the data at
 * twin->ptr into the pipe.  Returns the bytes moved, QIO_CHANNEL_ERR_BLOCK
 * if the socket is full, or -1 on error.
 */
static ssize_t vfio_user_twin_splice(VFIOUserProxy *proxy, size_t head,
                                     Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;
    int fd = QIO_CHANNEL_SOCKET(twin->ioc)->fd;
    ssize_t ret;

    if (twin->piped) {
        do {
            ret = splice(twin->pipe_fds[0], NULL, fd, NULL, twin->piped,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        } while (ret < 0 && errno == EINTR);
        if (ret > 0) {
            twin->piped -= ret;
            return ret;
        }
        if (ret < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, ret < 0 ? errno : EPIPE,
                         "cannot send a DMA reply");
        return -1;
    } else {
        struct iovec iov = {
            .iov_base = (char *)twin->ptr + (twin->done - head),
            .iov_len = twin->buf->hdr.size - twin->done,
        };

        do {
            ret = vmsplice(twin->pipe_fds[1], &iov, 1, SPLICE_F_NONBLOCK);
        } while (ret < 0 && errno == EINTR);
        if (ret <= 0) {
            /* Memory the kernel cannot take references to: copy it. */
            twin->no_splice = true;
            return 0;
        }
        twin->done += ret;
        twin->piped += ret;
        return ret;
    }
}

/*
 * Send the reply in twin->buf, with its data at twin->ptr if that is set.
 * Returns 1 once it is sent, 0 if the rest must wait for room in the
 * socket, -1 on error.
 */
static int vfio_user_twin_send(VFIOUserProxy *proxy, Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;
    VFIOUserHdr *hdr = &twin->buf->hdr;
    size_t head = twin->ptr ? sizeof(VFIOUserDMARW) : hdr->size;
    ssize_t ret;

    while (twin->done < hdr->size || twin->piped) {
        bool splice = twin->has_pipe && twin->ptr && !twin->no_splice &&
                      hdr->size - head >= VFIO_USER_TWIN_SPLICE_MIN;
        struct iovec iov[2];
        size_t niov = 0;

        if (twin->piped || (splice && twin->done >= head)) {
            ret = vfio_user_twin_splice(proxy, head, errp);
        } else {
            if (twin->done < head) {
                iov[niov].iov_base = (char *)hdr + twin->done;
                iov[niov++].iov_len = head - twin->done;
            }
            if (hdr->size > head && !splice) {
                size_t off = MAX(twin->done, head) - head;

                iov[niov].iov_base = (char *)twin->ptr + off;
                iov[niov++].iov_len = hdr->size - head - off;
            }
            ret = qio_channel_writev(twin->ioc, iov, niov, errp);
            if (ret > 0) {
                twin->done += ret;
            }
        }
        if (ret == QIO_CHANNEL_ERR_BLOCK) {
            if (!twin->sending) {
                twin->sending = true;
                qio_channel_set_aio_fd_handler(twin->ioc, proxy->ctx,
                                               NULL, proxy->ctx,
                                               vfio_user_twin_write, proxy);
            }
            return 0;
        }
        if (ret < 0) {
            return -1;
        }
    }
    trace_vfio_user_twin_send(proxy->sockname, hdr->id, hdr->size,
                              hdr->error_reply);

    if (twin->ptr != NULL) {
        vfio_user_twin_unmap(twin, 0);
    }
    twin->done = 0;
    twin->no_splice = false;
    if (twin->sending) {
        twin->sending = false;
        qio_channel_set_aio_fd_handler(twin->ioc, proxy->ctx,
                                       vfio_user_twin_recv, proxy->ctx,
                                       NULL, proxy);
    }
    return 1;
}

/*
 * Reply to the request in twin->buf, which has been turned into its reply
 * already.
 */
static int vfio_user_twin_reply(VFIOUserProxy *proxy, bool no_reply,
                                Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;

    twin->done = 0;
    if (no_reply) {
        if (twin->ptr != NULL) {
            vfio_user_twin_unmap(twin, 0);
        }
        return 1;
    }
    return vfio_user_twin_send(proxy, errp);
}

/*
 * Turn the request in twin->buf, served without a copy, into its reply.
 */
static void vfio_user_twin_mapped_reply(VFIOUserProxy *proxy)
{
    VFIOUserDMARW *msg = proxy->twin.buf;
    bool is_write = msg->hdr.command == VFIO_USER_DMA_WRITE;

    trace_vfio_user_dma(proxy->sockname, is_write ? "write" : "read",
                        msg->offset, msg->count, 0);
    msg->hdr.flags = VFIO_USER_REPLY;
    msg->hdr.error_reply = 0;
    msg->hdr.size = sizeof(*msg) + (is_write ? 0 : msg->count);
}

/*
 * Receive, and serve once complete, a request on the twin socket.
 * Returns 1 to go on, 0 when there is nothing more to do for now, -1 on
 * error.
 */
static int vfio_user_twin_recv_one(VFIOUserProxy *proxy, Error **errp)
{
    VFIOUserTwin *twin = &proxy->twin;
    VFIOUserDMARW *msg = twin->buf;
    VFIOUserHdr *hdr = &msg->hdr;
    size_t fixed;
    ssize_t ret;

    /*
     * Drop the body of a rejected request, then reply with an error.
     * The header stays at the start of the buffer.
     */
    if (twin->error != 0) {
        while (twin->discard > 0) {
            ret = qio_channel_read(twin->ioc, msg->data,
                                   MIN(twin->discard,
                                       proxy->local_max_xfer_size), errp);
            if (ret <= 0) {
                goto read_err;
            }
            twin->discard -= ret;
        }
        hdr->flags = (hdr->flags & VFIO_USER_NO_REPLY) | VFIO_USER_REPLY |
                     VFIO_USER_ERROR;
        hdr->error_reply = twin->error;
        hdr->size = sizeof(*hdr);
        twin->error = 0;
        return vfio_user_twin_reply(proxy, hdr->flags & VFIO_USER_NO_REPLY,
                                    errp);
    }

    /* header */
    if (twin->done < sizeof(*hdr)) {
        ret = qio_channel_read(twin->ioc, (char *)hdr + twin->done,
                               sizeof(*hdr) - twin->done, errp);
        if (ret <= 0) {
            goto read_err;
        }
        twin->done += ret;
        if (twin->done < sizeof(*hdr)) {
            return 1;
        }

        trace_vfio_user_twin_recv_hdr(proxy->sockname, hdr->id, hdr->command,
                                      hdr->size, hdr->flags);
        if ((hdr->flags & VFIO_USER_TYPE) != VFIO_USER_REQUEST) {
            error_setg(errp, "unexpected message type %u (command %u)",
                       hdr->flags & VFIO_USER_TYPE, hdr->command);
            return -1;
        }
        if (hdr->size < sizeof(*hdr)) {
            error_setg(errp, "bad header size %u", hdr->size);
            return -1;
        }
        if (hdr->command != VFIO_USER_DMA_READ &&
            hdr->command != VFIO_USER_DMA_WRITE) {
            /* only server-to-client commands belong here */
            twin->error = ENOSYS;
        } else if (hdr->size > sizeof(*msg) + proxy->local_max_xfer_size) {
            twin->error = E2BIG;
        } else {
            return 1;
        }
        twin->done = 0;
        twin->discard = hdr->size - sizeof(*hdr);
        return 1;
    }

    /* addr and count, then the data of a DMA_WRITE may go to client memory */
    fixed = MIN(hdr->size, sizeof(*msg));
    if (twin->done < fixed) {
        ret = qio_channel_read(twin->ioc, (char *)hdr + twin->done,
                               fixed - twin->done, errp);
        if (ret <= 0) {
            goto read_err;
        }
        twin->done += ret;
        if (twin->done < fixed) {
            return 1;
        }
        if (hdr->command == VFIO_USER_DMA_WRITE && hdr->size > fixed) {
            vfio_user_twin_map(proxy);
        }
    }

    /* data */
    if (twin->done < hdr->size) {
        char *buf;

        if (twin->ptr != NULL) {
            buf = (char *)twin->ptr + (twin->done - sizeof(*msg));
        } else {
            buf = (char *)hdr + twin->done;
        }
        ret = qio_channel_read(twin->ioc, buf, hdr->size - twin->done, errp);
        if (ret <= 0) {
            goto read_err;
        }
        twin->done += ret;
        if (twin->done < hdr->size) {
            return 1;
        }
    }

    {
        bool no_reply = hdr->flags & VFIO_USER_NO_REPLY;

        if (twin->ptr != NULL) {
            /* a DMA_WRITE whose data is in place */
            vfio_user_twin_unmap(twin, msg->count);
            vfio_user_twin_mapped_reply(proxy);
        } else if (hdr->command == VFIO_USER_DMA_READ && !no_reply &&
                   vfio_user_twin_map(proxy)) {
            /* the reply's data will be sent from client memory */
            vfio_user_twin_mapped_reply(proxy);
        } else {
            vfio_user_dma_serve(proxy, msg);
        }
        return vfio_user_twin_reply(proxy, no_reply, errp);
    }

read_err:
    if (ret == QIO_CHANNEL_ERR_BLOCK) {
        return 0;
    }
    if (ret == 0) {
        error_setg(errp, "server closed the socket");
    }
    return -1;
}

static void vfio_user_twin_recv(void *opaque)
{
    VFIOUserProxy *proxy = opaque;
    Error *local_err = NULL;
    int ret;

    do {
        ret = vfio_user_twin_recv_one(proxy, &local_err);
    } while (ret > 0 && !proxy->twin.sending);

    if (ret < 0) {
        vfio_user_twin_fail(proxy, local_err);
    }
}

static void vfio_user_twin_write(void *opaque)
{
    VFIOUserProxy *proxy = opaque;
    Error *local_err = NULL;

    if (vfio_user_twin_send(proxy, &local_err) < 0) {
        vfio_user_twin_fail(proxy, local_err);
    }
}
