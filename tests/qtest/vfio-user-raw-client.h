/*
 * A raw vfio-user client for protocol-level qtests of a vfio-user server
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VFIO_USER_RAW_CLIENT_H
#define VFIO_USER_RAW_CLIENT_H

/*
 * The client speaks vfio-user directly on a Unix socket.  Its wire
 * structures are written from docs/interop/vfio-user.rst and deliberately
 * do not come from QEMU's or libvfio-user's headers, so that a test also
 * checks the wire format.  It uses none of QEMU's chardev code, so a test
 * can make it misbehave.
 *
 * After negotiation a receiver thread reads both the main socket and the
 * twin socket (if any).  It queues the replies to the client's own
 * requests and answers the server's DMA_READ/DMA_WRITE requests according
 * to the configured VfuRawDmaAction, serving them from the client's memory:
 * one buffer per range passed to vfu_raw_dma_map().  Every message that
 * the thread receives is numbered, so a test can check their order.
 *
 * All names carry a VFU_RAW_ / VfuRaw / vfu_raw_ prefix.  Every wait is
 * bounded, so a broken server makes a test fail instead of hanging it.
 */

/* Message header */
#define VFU_RAW_HDR_SIZE            16
#define VFU_RAW_TYPE_MASK           0xf
#define VFU_RAW_TYPE_COMMAND        0x0
#define VFU_RAW_TYPE_REPLY          0x1
#define VFU_RAW_FLAG_NO_REPLY       (1u << 4)
#define VFU_RAW_FLAG_ERROR          (1u << 5)

/* Commands */
#define VFU_RAW_CMD_VERSION         1
#define VFU_RAW_CMD_DMA_MAP         2
#define VFU_RAW_CMD_DMA_UNMAP       3
#define VFU_RAW_CMD_REGION_INFO     5
#define VFU_RAW_CMD_DEVICE_SET_IRQS 8
#define VFU_RAW_CMD_REGION_READ     9
#define VFU_RAW_CMD_REGION_WRITE    10
#define VFU_RAW_CMD_DMA_READ        11
#define VFU_RAW_CMD_DMA_WRITE       12

/* DMA_MAP flags */
#define VFU_RAW_DMA_READABLE        (1u << 0)
#define VFU_RAW_DMA_WRITEABLE       (1u << 1)

/* Region indexes of a PCI device */
#define VFU_RAW_REGION_BAR0         0
#define VFU_RAW_REGION_CONFIG       7

/* Limits of this implementation */
#define VFU_RAW_MAX_XFER            (1024 * 1024)
#define VFU_RAW_MAX_FDS             8
#define VFU_RAW_MAX_MAPS            8
#define VFU_RAW_MAX_RECORDS         64

/* Default timeout of a reply to one of the client's requests */
#define VFU_RAW_TIMEOUT_MS          5000

/* How the receiver thread answers the server's DMA requests */
typedef enum VfuRawDmaAction {
    /* Serve from the client's memory; error EFAULT outside of it */
    VFU_RAW_DMA_SERVE,
    /* Wait for vfu_raw_release_dma(), then serve */
    VFU_RAW_DMA_HOLD,
    /* Reply with the error flag and the configured errno */
    VFU_RAW_DMA_ERROR,
    /* Malformed replies: a well-formed reply, but with another msg_id */
    VFU_RAW_DMA_BAD_MSG_ID,
    /* ... with count - 1 (and a payload that matches that count) */
    VFU_RAW_DMA_BAD_COUNT,
    /* ... with addr + 8 */
    VFU_RAW_DMA_BAD_ADDR,
    /* ... with a payload shorter than the reply needs */
    VFU_RAW_DMA_SHORT,
    /* Send a command (a REGION_READ) instead of a reply */
    VFU_RAW_DMA_COMMAND,
    /* Shut both sockets down instead of replying */
    VFU_RAW_DMA_HANGUP,
} VfuRawDmaAction;

/* A DMA request of the server as the client received it */
typedef struct VfuRawDmaRecord {
    uint64_t seq;           /* order of arrival among all messages */
    bool on_twin;           /* arrived on the twin socket */
    uint16_t msg_id;
    uint16_t cmd;
    uint32_t size;          /* message size from the header */
    uint32_t flags;
    uint64_t addr;
    uint64_t count;
} VfuRawDmaRecord;

/* A reply to one of the client's requests */
typedef struct VfuRawReply {
    uint64_t seq;           /* order of arrival among all messages */
    bool on_twin;           /* arrived on the twin socket (a bug) */
    uint16_t msg_id;
    uint16_t cmd;
    uint32_t flags;
    uint32_t error_no;
    size_t len;             /* payload length */
    uint8_t *payload;
    int fds[VFU_RAW_MAX_FDS];
    size_t nr_fds;
} VfuRawReply;

/* What the server said in its VERSION reply */
typedef struct VfuRawVersion {
    uint16_t major;
    uint16_t minor;
    char *json;             /* the capabilities as sent */
    size_t nr_fds;          /* file descriptors that came with the reply */
    bool twin_supported;    /* twin_socket.supported */
    bool has_fd_index;
    int64_t fd_index;       /* twin_socket.fd_index */
    int64_t max_data_xfer_size;
} VfuRawVersion;

typedef struct VfuRawClient VfuRawClient;

/*
 * Connect to @path (retrying for up to @timeout_ms while the server does
 * not listen yet) and negotiate with VERSION, asking for twin-socket mode
 * if @twin and advertising @max_xfer as max_data_xfer_size (0 for
 * VFU_RAW_MAX_XFER).  The twin socket is used if the server's reply offers
 * it consistently.  Returns NULL and sets @errp on failure.  On success
 * the receiver thread runs.  DMA requests larger than @max_xfer get an
 * EINVAL error reply.
 */
VfuRawClient *vfu_raw_connect(const char *path, bool twin, uint32_t max_xfer,
                              int timeout_ms, Error **errp);

/*
 * Like vfu_raw_connect(), but send @caps_json as the JSON of VERSION (no
 * twin socket is asked for unless @caps_json does).  @max_xfer is still
 * the largest DMA request the client serves.
 */
VfuRawClient *vfu_raw_connect_caps(const char *path, const char *caps_json,
                                   uint32_t max_xfer, int timeout_ms,
                                   Error **errp);

/* The VERSION reply; valid until vfu_raw_free() */
const VfuRawVersion *vfu_raw_version(VfuRawClient *c);

/* Whether DMA requests are expected on a twin socket */
bool vfu_raw_twin_active(VfuRawClient *c);

/*
 * Shut both sockets down, as a client that goes away does.  The receiver
 * thread stops.  Safe to call more than once.
 */
void vfu_raw_hangup(VfuRawClient *c);

/* Hang up if not done yet, close everything and free @c */
void vfu_raw_free(VfuRawClient *c);

/*
 * Send a request and wait for its reply.  Return 0 on success, the reply's
 * errno (positive, EIO if it carried none) on an error reply, or
 * -ETIMEDOUT / -ECONNRESET if no reply came.  If @reply is not NULL it
 * receives the reply, which the caller frees with vfu_raw_reply_free().
 */
int vfu_raw_request(VfuRawClient *c, uint16_t cmd, const void *payload,
                    size_t len, int timeout_ms, VfuRawReply **reply);

/*
 * Send a request without waiting.  Returns its msg_id, or -errno if it
 * could not be sent.
 */
int vfu_raw_send_request(VfuRawClient *c, uint16_t cmd, const void *payload,
                         size_t len);

/*
 * Wait up to @timeout_ms for the reply with @msg_id.  Returns NULL on
 * timeout or hang-up.
 */
VfuRawReply *vfu_raw_wait_reply(VfuRawClient *c, uint16_t msg_id,
                                int timeout_ms);

void vfu_raw_reply_free(VfuRawReply *r);

/*
 * DMA_MAP without a file descriptor.  On success the client allocates
 * zeroed memory for the range and serves DMA requests from it.
 */
int vfu_raw_dma_map(VfuRawClient *c, uint64_t addr, uint64_t size,
                    uint32_t flags);

/*
 * DMA_MAP of @size bytes of @fd at @offset (no fd if @fd is negative),
 * without memory on the client side.  Same returns as vfu_raw_request().
 */
int vfu_raw_dma_map_fd(VfuRawClient *c, uint64_t addr, uint64_t size,
                       uint32_t flags, int fd, uint64_t offset);

/* REGION_READ/REGION_WRITE of @count bytes; same returns as request */
int vfu_raw_region_read(VfuRawClient *c, uint32_t region, uint64_t offset,
                        void *buf, uint32_t count);
int vfu_raw_region_write(VfuRawClient *c, uint32_t region, uint64_t offset,
                         const void *buf, uint32_t count);

/* Send REGION_READ without waiting; returns the msg_id or -errno */
int vfu_raw_region_read_send(VfuRawClient *c, uint32_t region,
                             uint64_t offset, uint32_t count);

/*
 * Copy to or from the client's memory.  The whole range must be inside one
 * range passed to vfu_raw_dma_map(); returns false otherwise.
 */
bool vfu_raw_mem_write(VfuRawClient *c, uint64_t addr, const void *buf,
                       size_t len);
bool vfu_raw_mem_read(VfuRawClient *c, uint64_t addr, void *buf, size_t len);

/* Set how the next DMA requests are answered; @err for VFU_RAW_DMA_ERROR */
void vfu_raw_set_dma_action(VfuRawClient *c, VfuRawDmaAction action, int err);

/* Let a request held by VFU_RAW_DMA_HOLD be answered */
void vfu_raw_release_dma(VfuRawClient *c);

/*
 * Wait until at least @n DMA requests were received in total.  Returns
 * false on timeout.
 */
bool vfu_raw_wait_dma(VfuRawClient *c, size_t n, int timeout_ms);

/*
 * Copy the DMA requests received so far into @records (at most @max) and
 * return how many were received in total.
 */
size_t vfu_raw_dma_records(VfuRawClient *c, VfuRawDmaRecord *records,
                           size_t max);

/* Number the next event in the client's order of arrival (for checks) */
uint64_t vfu_raw_mark(VfuRawClient *c);

/*
 * Messages that did not belong where they arrived: replies on the twin
 * socket, replies nobody waits for, commands other than DMA_READ/WRITE.
 */
size_t vfu_raw_stray_messages(VfuRawClient *c);

/* Whether the server closed a socket */
bool vfu_raw_peer_closed(VfuRawClient *c);

/*
 * Misbehaving on purpose: raw bytes on the main socket.  The caller takes
 * the msg_id from vfu_raw_next_msg_id() and waits for the reply as usual.
 */
uint16_t vfu_raw_next_msg_id(VfuRawClient *c);
int vfu_raw_send_bytes(VfuRawClient *c, const void *buf, size_t len);

/*
 * Build a message: header (with the size of @len bytes of payload) and
 * payload, in a buffer the caller frees.  Returns its size.
 */
size_t vfu_raw_build_msg(uint8_t **buf, uint16_t msg_id, uint16_t cmd,
                         uint32_t flags, const void *payload, size_t len);

/*
 * A socket of its own, no receiver thread: connect to @path, retrying for
 * up to @timeout_ms while nobody listens.  Returns the fd or -1.
 */
int vfu_raw_socket_connect(const char *path, int timeout_ms, Error **errp);

/* Send @len bytes and @nr_fds fds on @fd; 0 or -errno */
int vfu_raw_socket_send(int fd, const void *buf, size_t len, const int *fds,
                        size_t nr_fds);

/*
 * Receive one message on @fd within @timeout_ms.  Returns 0 with *@reply
 * set (free it with vfu_raw_reply_free()), -ECONNRESET if the server
 * closed the socket, -ETIMEDOUT, or -errno.
 */
int vfu_raw_socket_recv(int fd, int timeout_ms, VfuRawReply **reply);

#endif /* VFIO_USER_RAW_CLIENT_H */
