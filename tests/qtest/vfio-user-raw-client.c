/*
 * A raw vfio-user client for protocol-level qtests of a vfio-user server
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qnum.h"
#include "vfio-user-raw-client.h"

/*
 * Wire structures, from docs/interop/vfio-user.rst.  All fields are in
 * host byte order.
 */
typedef struct QEMU_PACKED VfuRawHdr {
    uint16_t msg_id;
    uint16_t cmd;
    uint32_t size;          /* whole message, header included */
    uint32_t flags;
    uint32_t error_no;
} VfuRawHdr;

typedef struct QEMU_PACKED VfuRawVersionMsg {
    uint16_t major;
    uint16_t minor;
    /* NUL-terminated JSON follows */
} VfuRawVersionMsg;

typedef struct QEMU_PACKED VfuRawDmaMap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t offset;
    uint64_t addr;
    uint64_t size;
} VfuRawDmaMap;

typedef struct QEMU_PACKED VfuRawRegionAccess {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    /* data follows in REGION_WRITE and in the REGION_READ reply */
} VfuRawRegionAccess;

typedef struct QEMU_PACKED VfuRawDmaAccess {
    uint64_t addr;
    uint64_t count;
    /* data follows in DMA_WRITE and in the DMA_READ reply */
} VfuRawDmaAccess;

QEMU_BUILD_BUG_ON(sizeof(VfuRawHdr) != VFU_RAW_HDR_SIZE);
QEMU_BUILD_BUG_ON(sizeof(VfuRawVersionMsg) != 4);
QEMU_BUILD_BUG_ON(sizeof(VfuRawDmaMap) != 32);
QEMU_BUILD_BUG_ON(sizeof(VfuRawRegionAccess) != 16);
QEMU_BUILD_BUG_ON(sizeof(VfuRawDmaAccess) != 16);

#define VFU_RAW_PROTO_MAJOR     0
#define VFU_RAW_PROTO_MINOR     0

/* Time allowed for the rest of a message once its first byte arrived */
#define VFU_RAW_MSG_TIMEOUT_MS  2000

/* Largest message the client accepts */
#define VFU_RAW_MAX_MSG_SIZE    (VFU_RAW_HDR_SIZE + 64 + VFU_RAW_MAX_XFER)

typedef struct VfuRawMap {
    uint64_t addr;
    uint64_t size;
    uint32_t flags;
    uint8_t *mem;
} VfuRawMap;

/* A received message */
typedef struct VfuRawMsg {
    VfuRawHdr hdr;
    uint8_t *payload;
    size_t len;
    int fds[VFU_RAW_MAX_FDS];
    size_t nr_fds;
} VfuRawMsg;

struct VfuRawClient {
    int fd;
    int twin_fd;
    VfuRawVersion version;
    GThread *thread;
    uint32_t max_xfer;

    /* Serialises writes to both sockets */
    GMutex send_lock;

    /* Protects everything below */
    GMutex lock;
    GCond cond;
    bool stop;
    bool hung_up;
    bool peer_closed;
    uint16_t next_msg_id;
    uint64_t seq;
    GList *replies;                 /* of VfuRawReply */
    VfuRawMap maps[VFU_RAW_MAX_MAPS];
    size_t nr_maps;
    VfuRawDmaAction action;
    int action_err;
    uint64_t releases;
    uint64_t holds;
    VfuRawDmaRecord records[VFU_RAW_MAX_RECORDS];
    size_t nr_records;
    size_t stray;
};

static gint64 deadline_after(int timeout_ms)
{
    return g_get_monotonic_time() +
           (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
}

static int ms_until(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

/* Wait until @fd is ready for @events; 0, -ETIMEDOUT or -errno */
static int wait_fd(int fd, short events, gint64 deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int ret;

    do {
        ret = poll(&pfd, 1, ms_until(deadline));
    } while (ret < 0 && errno == EINTR);

    if (ret < 0) {
        return -errno;
    }
    return ret == 0 ? -ETIMEDOUT : 0;
}

/* Write all of @iov; returns 0 or -errno */
static int send_all(VfuRawClient *c, int fd, struct iovec *iov, int iovcnt)
{
    gint64 deadline = deadline_after(VFU_RAW_MSG_TIMEOUT_MS);
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
    int ret = 0;

    g_mutex_lock(&c->send_lock);
    for (;;) {
        ssize_t n;

        while (msg.msg_iovlen > 0 && msg.msg_iov->iov_len == 0) {
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen == 0) {
            break;
        }
        n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ret = wait_fd(fd, POLLOUT, deadline);
                if (ret < 0) {
                    break;
                }
                continue;
            }
            ret = -errno;
            break;
        }
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (n > 0) {
            msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= n;
        }
    }
    g_mutex_unlock(&c->send_lock);
    return ret;
}

static int send_msg_fds(VfuRawClient *c, int fd, uint16_t msg_id,
                        uint16_t cmd, uint32_t flags, const void *p1,
                        size_t l1, const int *fds, size_t nr_fds)
{
    VfuRawHdr hdr = {
        .msg_id = msg_id,
        .cmd = cmd,
        .size = VFU_RAW_HDR_SIZE + l1,
        .flags = flags,
    };
    struct iovec iov[2] = {
        { .iov_base = &hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)p1, .iov_len = l1 },
    };
    char control[CMSG_SPACE(sizeof(int) * VFU_RAW_MAX_FDS)] = { 0 };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    struct cmsghdr *cmsg;
    ssize_t n;

    /* Small enough to go at once with its fds */
    g_assert(nr_fds > 0 && nr_fds <= VFU_RAW_MAX_FDS);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);

    g_mutex_lock(&c->send_lock);
    do {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    g_mutex_unlock(&c->send_lock);
    if (n < 0) {
        return -errno;
    }
    return (size_t)n == sizeof(hdr) + l1 ? 0 : -EIO;
}

static int send_msg(VfuRawClient *c, int fd, uint16_t msg_id, uint16_t cmd,
                    uint32_t flags, uint32_t error_no,
                    const void *p1, size_t l1, const void *p2, size_t l2)
{
    VfuRawHdr hdr = {
        .msg_id = msg_id,
        .cmd = cmd,
        .size = VFU_RAW_HDR_SIZE + l1 + l2,
        .flags = flags,
        .error_no = error_no,
    };
    struct iovec iov[3] = {
        { .iov_base = &hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)p1, .iov_len = l1 },
        { .iov_base = (void *)p2, .iov_len = l2 },
    };

    return send_all(c, fd, iov, 3);
}

/*
 * Read exactly @len bytes, collecting file descriptors.  Returns 0,
 * -ECONNRESET on end of file, -ETIMEDOUT or -errno.
 */
static int recv_all(int fd, void *buf, size_t len, VfuRawMsg *m,
                    gint64 deadline)
{
    uint8_t *p = buf;

    while (len > 0) {
        char control[CMSG_SPACE(sizeof(int) * VFU_RAW_MAX_FDS)];
        struct iovec iov = { .iov_base = p, .iov_len = len };
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof(control),
        };
        struct cmsghdr *cmsg;
        ssize_t n;
        int ret;

        ret = wait_fd(fd, POLLIN, deadline);
        if (ret < 0) {
            return ret;
        }
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -ECONNRESET;
        }
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg;
             cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            size_t nfds, i;
            int *fds;

            if (cmsg->cmsg_level != SOL_SOCKET ||
                cmsg->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            fds = (int *)CMSG_DATA(cmsg);
            for (i = 0; i < nfds; i++) {
                if (m->nr_fds < VFU_RAW_MAX_FDS) {
                    m->fds[m->nr_fds++] = fds[i];
                } else {
                    close(fds[i]);
                }
            }
        }
        p += n;
        len -= n;
    }
    return 0;
}

static void msg_close_fds(VfuRawMsg *m)
{
    size_t i;

    for (i = 0; i < m->nr_fds; i++) {
        close(m->fds[i]);
    }
    m->nr_fds = 0;
}

/*
 * Read one message whose first byte is due before @deadline.  Returns 0
 * or -errno; a message with an impossible size gives -EPROTO.
 */
static int recv_msg(int fd, VfuRawMsg *m, gint64 deadline)
{
    int ret;

    memset(m, 0, sizeof(*m));
    ret = wait_fd(fd, POLLIN, deadline);
    if (ret < 0) {
        return ret;
    }
    ret = recv_all(fd, &m->hdr, sizeof(m->hdr), m,
                   deadline_after(VFU_RAW_MSG_TIMEOUT_MS));
    if (ret < 0) {
        goto fail;
    }
    if (m->hdr.size < VFU_RAW_HDR_SIZE || m->hdr.size > VFU_RAW_MAX_MSG_SIZE) {
        ret = -EPROTO;
        goto fail;
    }
    m->len = m->hdr.size - VFU_RAW_HDR_SIZE;
    m->payload = g_malloc(m->len + 1);
    m->payload[m->len] = 0;
    ret = recv_all(fd, m->payload, m->len, m,
                   deadline_after(VFU_RAW_MSG_TIMEOUT_MS));
    if (ret < 0) {
        goto fail;
    }
    return 0;

fail:
    msg_close_fds(m);
    g_free(m->payload);
    m->payload = NULL;
    return ret;
}

void vfu_raw_reply_free(VfuRawReply *r)
{
    size_t i;

    if (!r) {
        return;
    }
    for (i = 0; i < r->nr_fds; i++) {
        close(r->fds[i]);
    }
    g_free(r->payload);
    g_free(r);
}

/* Called with c->lock held */
static VfuRawMap *find_map(VfuRawClient *c, uint64_t addr, uint64_t len)
{
    size_t i;

    for (i = 0; i < c->nr_maps; i++) {
        VfuRawMap *m = &c->maps[i];

        if (addr >= m->addr && len <= m->size &&
            addr - m->addr <= m->size - len) {
            return m;
        }
    }
    return NULL;
}

/* Answer a DMA request that arrived on @fd; runs in the receiver thread */
static void handle_dma(VfuRawClient *c, int fd, bool on_twin, VfuRawMsg *m)
{
    bool is_read = m->hdr.cmd == VFU_RAW_CMD_DMA_READ;
    VfuRawDmaAccess req = { 0 };
    VfuRawDmaAccess rep;
    VfuRawDmaRecord *rec;
    g_autofree uint8_t *data = NULL;
    size_t data_len = 0;
    VfuRawDmaAction action;
    uint16_t msg_id = m->hdr.msg_id;
    int err = 0;

    if (m->len >= sizeof(req)) {
        memcpy(&req, m->payload, sizeof(req));
    }

    g_mutex_lock(&c->lock);
    if (c->nr_records < VFU_RAW_MAX_RECORDS) {
        rec = &c->records[c->nr_records];
        rec->seq = c->seq;
        rec->on_twin = on_twin;
        rec->msg_id = m->hdr.msg_id;
        rec->cmd = m->hdr.cmd;
        rec->size = m->hdr.size;
        rec->flags = m->hdr.flags;
        rec->addr = req.addr;
        rec->count = req.count;
    }
    c->seq++;
    c->nr_records++;
    g_cond_broadcast(&c->cond);

    action = c->action;
    if (action == VFU_RAW_DMA_HOLD) {
        uint64_t ticket = c->holds++;

        while (c->releases <= ticket && !c->stop) {
            g_cond_wait(&c->cond, &c->lock);
        }
        action = VFU_RAW_DMA_SERVE;
    }

    /* Validate the request and move the data */
    if (m->len < sizeof(req) || req.count > c->max_xfer ||
        m->len != sizeof(req) + (is_read ? 0 : req.count)) {
        err = EINVAL;
    } else {
        VfuRawMap *map = find_map(c, req.addr, req.count);

        if (!map) {
            err = EFAULT;
        } else if (is_read) {
            data = g_memdup2(map->mem + (req.addr - map->addr), req.count);
            data_len = req.count;
        } else if (action == VFU_RAW_DMA_SERVE) {
            memcpy(map->mem + (req.addr - map->addr),
                   m->payload + sizeof(req), req.count);
        }
    }
    if (action == VFU_RAW_DMA_ERROR) {
        err = c->action_err;
    }
    g_mutex_unlock(&c->lock);

    if (err) {
        send_msg(c, fd, msg_id, m->hdr.cmd,
                 VFU_RAW_TYPE_REPLY | VFU_RAW_FLAG_ERROR, err,
                 NULL, 0, NULL, 0);
        return;
    }

    rep = req;
    switch (action) {
    case VFU_RAW_DMA_BAD_MSG_ID:
        msg_id++;
        break;
    case VFU_RAW_DMA_BAD_COUNT:
        rep.count = req.count ? req.count - 1 : 1;
        data_len = is_read ? MIN(data_len, rep.count) : 0;
        break;
    case VFU_RAW_DMA_BAD_ADDR:
        rep.addr += 8;
        break;
    case VFU_RAW_DMA_SHORT:
        if (is_read) {
            data_len /= 2;
        } else {
            /* Only the address, no count */
            send_msg(c, fd, msg_id, m->hdr.cmd, VFU_RAW_TYPE_REPLY, 0,
                     &rep.addr, sizeof(rep.addr), NULL, 0);
            return;
        }
        break;
    case VFU_RAW_DMA_COMMAND: {
        VfuRawRegionAccess ra = {
            .offset = 0,
            .region = VFU_RAW_REGION_BAR0,
            .count = 4,
        };

        send_msg(c, fd, msg_id, VFU_RAW_CMD_REGION_READ, VFU_RAW_TYPE_COMMAND,
                 0, &ra, sizeof(ra), NULL, 0);
        return;
    }
    case VFU_RAW_DMA_HANGUP:
        vfu_raw_hangup(c);
        return;
    default:
        break;
    }

    send_msg(c, fd, msg_id, m->hdr.cmd, VFU_RAW_TYPE_REPLY, 0,
             &rep, sizeof(rep), data, data_len);
}

/* Runs in the receiver thread; takes ownership of @m's contents */
static void handle_msg(VfuRawClient *c, int fd, bool on_twin, VfuRawMsg *m)
{
    uint32_t type = m->hdr.flags & VFU_RAW_TYPE_MASK;
    VfuRawReply *r;

    if (type == VFU_RAW_TYPE_COMMAND &&
        (m->hdr.cmd == VFU_RAW_CMD_DMA_READ ||
         m->hdr.cmd == VFU_RAW_CMD_DMA_WRITE)) {
        handle_dma(c, fd, on_twin, m);
        msg_close_fds(m);
        g_free(m->payload);
        return;
    }

    g_mutex_lock(&c->lock);
    if (type != VFU_RAW_TYPE_REPLY) {
        /* The server sends no other commands */
        g_test_message("vfio-user raw client: unexpected command %u on %s",
                       m->hdr.cmd, on_twin ? "twin socket" : "main socket");
        c->stray++;
        c->seq++;
        g_mutex_unlock(&c->lock);
        msg_close_fds(m);
        g_free(m->payload);
        return;
    }
    if (on_twin) {
        g_test_message("vfio-user raw client: reply msg_id %u cmd %u "
                       "on the twin socket", m->hdr.msg_id, m->hdr.cmd);
        c->stray++;
    }
    r = g_new0(VfuRawReply, 1);
    r->seq = c->seq++;
    r->on_twin = on_twin;
    r->msg_id = m->hdr.msg_id;
    r->cmd = m->hdr.cmd;
    r->flags = m->hdr.flags;
    r->error_no = m->hdr.error_no;
    r->len = m->len;
    r->payload = m->payload;
    memcpy(r->fds, m->fds, sizeof(r->fds));
    r->nr_fds = m->nr_fds;
    c->replies = g_list_append(c->replies, r);
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static gpointer receiver_thread(gpointer opaque)
{
    VfuRawClient *c = opaque;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = c->fd, .events = POLLIN },
            { .fd = c->twin_fd, .events = POLLIN },
        };
        int nfds = c->twin_fd >= 0 ? 2 : 1;
        bool stop;
        int i, ret;

        g_mutex_lock(&c->lock);
        stop = c->stop;
        g_mutex_unlock(&c->lock);
        if (stop) {
            break;
        }

        ret = poll(pfd, nfds, 50);
        if (ret < 0 && errno != EINTR) {
            break;
        }
        if (ret <= 0) {
            continue;
        }
        for (i = 0; i < nfds; i++) {
            VfuRawMsg m;

            if (!pfd[i].revents) {
                continue;
            }
            ret = recv_msg(pfd[i].fd, &m, deadline_after(0));
            if (ret == -ETIMEDOUT) {
                continue;
            }
            if (ret < 0) {
                g_mutex_lock(&c->lock);
                if (!c->hung_up) {
                    g_test_message("vfio-user raw client: %s socket: %s",
                                   i ? "twin" : "main", strerror(-ret));
                }
                c->peer_closed = true;
                c->stop = true;
                g_cond_broadcast(&c->cond);
                g_mutex_unlock(&c->lock);
                return NULL;
            }
            handle_msg(c, pfd[i].fd, i == 1, &m);
        }
    }
    return NULL;
}

static int connect_unix(const char *path, int timeout_ms, Error **errp)
{
    gint64 deadline = deadline_after(timeout_ms);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "socket path too long: %s", path);
        return -1;
    }
    strcpy(addr.sun_path, path);

    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "socket");
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return fd;
        }
        close(fd);
        if ((errno != ENOENT && errno != ECONNREFUSED) ||
            g_get_monotonic_time() >= deadline) {
            error_setg_errno(errp, errno, "cannot connect to %s", path);
            return -1;
        }
        g_usleep(10 * 1000);
    }
}

/* Parse the capabilities of the VERSION reply into @v */
static bool parse_caps(VfuRawVersion *v, QDict *top, Error **errp)
{
    QDict *caps = qdict_get_qdict(top, "capabilities");
    QDict *twin;
    QNum *num;
    int64_t val;

    if (!caps) {
        return true;
    }
    num = qobject_to(QNum, qdict_get(caps, "max_data_xfer_size"));
    if (num && qnum_get_try_int(num, &val)) {
        v->max_data_xfer_size = val;
    }
    twin = qdict_get_qdict(caps, "twin_socket");
    if (!twin) {
        return true;
    }
    v->twin_supported = qdict_get_try_bool(twin, "supported", false);
    num = qobject_to(QNum, qdict_get(twin, "fd_index"));
    if (num && qnum_get_try_int(num, &val)) {
        v->has_fd_index = true;
        v->fd_index = val;
    } else if (qdict_haskey(twin, "fd_index")) {
        error_setg(errp, "VERSION reply: fd_index is not an integer");
        return false;
    }
    return true;
}

/* Parse the VERSION reply into c->version */
static bool parse_version(VfuRawClient *c, VfuRawMsg *m, Error **errp)
{
    VfuRawVersion *v = &c->version;
    VfuRawVersionMsg hdr;
    QObject *obj;
    QDict *top;
    bool ok;

    if (m->len < sizeof(hdr)) {
        error_setg(errp, "VERSION reply too short: %zu bytes", m->len);
        return false;
    }
    memcpy(&hdr, m->payload, sizeof(hdr));
    v->major = hdr.major;
    v->minor = hdr.minor;
    v->nr_fds = m->nr_fds;
    v->max_data_xfer_size = -1;
    if (m->len == sizeof(hdr)) {
        return true;
    }
    if (m->payload[m->len - 1] != '\0') {
        error_setg(errp, "VERSION reply: JSON not NUL-terminated");
        return false;
    }
    v->json = g_strdup((char *)m->payload + sizeof(hdr));
    obj = qobject_from_json(v->json, errp);
    if (!obj) {
        return false;
    }
    top = qobject_to(QDict, obj);
    if (top) {
        ok = parse_caps(v, top, errp);
    } else {
        error_setg(errp, "VERSION reply: JSON is not an object");
        ok = false;
    }
    qobject_unref(obj);
    return ok;
}

static bool negotiate(VfuRawClient *c, bool twin, const char *caps_json,
                      int timeout_ms, Error **errp)
{
    g_autofree char *json = caps_json ? g_strdup(caps_json) : g_strdup_printf(
        "{\"capabilities\":{\"max_msg_fds\":%d,\"max_data_xfer_size\":%u%s}}",
        VFU_RAW_MAX_FDS, c->max_xfer,
        twin ? ",\"twin_socket\":{\"supported\":true}" : "");
    VfuRawVersionMsg ver = {
        .major = VFU_RAW_PROTO_MAJOR,
        .minor = VFU_RAW_PROTO_MINOR,
    };
    uint16_t msg_id = c->next_msg_id++;
    VfuRawMsg m;
    bool ok = false;
    int ret, type;
    size_t i;

    ret = send_msg(c, c->fd, msg_id, VFU_RAW_CMD_VERSION,
                   VFU_RAW_TYPE_COMMAND, 0, &ver, sizeof(ver),
                   json, strlen(json) + 1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot send VERSION");
        return false;
    }
    ret = recv_msg(c->fd, &m, deadline_after(timeout_ms));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "no VERSION reply");
        return false;
    }

    type = m.hdr.flags & VFU_RAW_TYPE_MASK;
    if (type != VFU_RAW_TYPE_REPLY || m.hdr.cmd != VFU_RAW_CMD_VERSION ||
        m.hdr.msg_id != msg_id) {
        error_setg(errp, "bad VERSION reply: type %d cmd %u msg_id %u",
                   type, m.hdr.cmd, m.hdr.msg_id);
        goto out;
    }
    if (m.hdr.flags & VFU_RAW_FLAG_ERROR) {
        error_setg_errno(errp, m.hdr.error_no, "VERSION refused");
        goto out;
    }
    if (!parse_version(c, &m, errp)) {
        goto out;
    }

    if (twin && c->version.twin_supported) {
        int type_val = 0;
        socklen_t len = sizeof(type_val);

        /* Per the specification, an inconsistent reply is fatal */
        if (!c->version.has_fd_index || c->version.fd_index < 0 ||
            c->version.fd_index >= m.nr_fds) {
            error_setg(errp, "inconsistent twin_socket in VERSION reply: "
                       "fd_index %s%" PRId64 " with %zu fds",
                       c->version.has_fd_index ? "" : "missing ",
                       c->version.fd_index, m.nr_fds);
            goto out;
        }
        c->twin_fd = m.fds[c->version.fd_index];
        m.fds[c->version.fd_index] = -1;
        if (getsockopt(c->twin_fd, SOL_SOCKET, SO_TYPE, &type_val, &len) ||
            type_val != SOCK_STREAM) {
            error_setg(errp, "twin fd is not a stream socket");
            goto out;
        }
    }
    ok = true;

out:
    for (i = 0; i < m.nr_fds; i++) {
        if (m.fds[i] >= 0) {
            close(m.fds[i]);
        }
    }
    g_free(m.payload);
    return ok;
}

static VfuRawClient *connect_full(const char *path, bool twin,
                                  const char *caps_json, uint32_t max_xfer,
                                  int timeout_ms, Error **errp)
{
    VfuRawClient *c = g_new0(VfuRawClient, 1);

    c->max_xfer = max_xfer ? MIN(max_xfer, VFU_RAW_MAX_XFER) :
                             VFU_RAW_MAX_XFER;
    c->twin_fd = -1;
    c->next_msg_id = 1;
    c->version.fd_index = -1;
    g_mutex_init(&c->send_lock);
    g_mutex_init(&c->lock);
    g_cond_init(&c->cond);

    c->fd = connect_unix(path, timeout_ms, errp);
    if (c->fd < 0 || !negotiate(c, twin, caps_json, timeout_ms, errp)) {
        c->stop = true;
        vfu_raw_free(c);
        return NULL;
    }
    c->thread = g_thread_new("vfu-raw-client", receiver_thread, c);
    return c;
}

VfuRawClient *vfu_raw_connect(const char *path, bool twin, uint32_t max_xfer,
                              int timeout_ms, Error **errp)
{
    return connect_full(path, twin, NULL, max_xfer, timeout_ms, errp);
}

VfuRawClient *vfu_raw_connect_caps(const char *path, const char *caps_json,
                                   uint32_t max_xfer, int timeout_ms,
                                   Error **errp)
{
    return connect_full(path, strstr(caps_json, "twin_socket") != NULL,
                        caps_json, max_xfer, timeout_ms, errp);
}

const VfuRawVersion *vfu_raw_version(VfuRawClient *c)
{
    return &c->version;
}

bool vfu_raw_twin_active(VfuRawClient *c)
{
    return c->twin_fd >= 0;
}

void vfu_raw_hangup(VfuRawClient *c)
{
    g_mutex_lock(&c->lock);
    if (!c->hung_up) {
        c->hung_up = true;
        c->stop = true;
        if (c->fd >= 0) {
            shutdown(c->fd, SHUT_RDWR);
        }
        if (c->twin_fd >= 0) {
            shutdown(c->twin_fd, SHUT_RDWR);
        }
    }
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

void vfu_raw_free(VfuRawClient *c)
{
    size_t i;

    if (!c) {
        return;
    }
    vfu_raw_hangup(c);
    if (c->thread) {
        g_thread_join(c->thread);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->twin_fd >= 0) {
        close(c->twin_fd);
    }
    g_list_free_full(c->replies, (GDestroyNotify)vfu_raw_reply_free);
    for (i = 0; i < c->nr_maps; i++) {
        g_free(c->maps[i].mem);
    }
    g_free(c->version.json);
    g_mutex_clear(&c->send_lock);
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->cond);
    g_free(c);
}

static int send_request(VfuRawClient *c, uint16_t cmd, const void *p1,
                        size_t l1, const void *p2, size_t l2)
{
    uint16_t msg_id;
    int ret;

    g_mutex_lock(&c->lock);
    msg_id = c->next_msg_id++;
    g_mutex_unlock(&c->lock);

    ret = send_msg(c, c->fd, msg_id, cmd, VFU_RAW_TYPE_COMMAND, 0,
                   p1, l1, p2, l2);
    return ret < 0 ? ret : msg_id;
}

int vfu_raw_send_request(VfuRawClient *c, uint16_t cmd, const void *payload,
                         size_t len)
{
    return send_request(c, cmd, payload, len, NULL, 0);
}

VfuRawReply *vfu_raw_wait_reply(VfuRawClient *c, uint16_t msg_id,
                                int timeout_ms)
{
    gint64 deadline = deadline_after(timeout_ms);
    VfuRawReply *r = NULL;

    g_mutex_lock(&c->lock);
    for (;;) {
        GList *l;

        for (l = c->replies; l; l = l->next) {
            VfuRawReply *cand = l->data;

            if (cand->msg_id == msg_id) {
                r = cand;
                c->replies = g_list_delete_link(c->replies, l);
                goto out;
            }
        }
        if (c->stop || !g_cond_wait_until(&c->cond, &c->lock, deadline)) {
            break;
        }
    }
out:
    g_mutex_unlock(&c->lock);
    return r;
}

static int finish_request(VfuRawClient *c, int msg_id, uint16_t cmd,
                          int timeout_ms, VfuRawReply **reply)
{
    VfuRawReply *r;
    int ret = 0;

    if (reply) {
        *reply = NULL;
    }
    if (msg_id < 0) {
        return msg_id;
    }
    r = vfu_raw_wait_reply(c, msg_id, timeout_ms);
    if (!r) {
        return vfu_raw_peer_closed(c) ? -ECONNRESET : -ETIMEDOUT;
    }
    if (r->cmd != cmd) {
        g_test_message("vfio-user raw client: reply to msg_id %d has "
                       "cmd %u, not %u", msg_id, r->cmd, cmd);
        ret = EPROTO;
    } else if (r->flags & VFU_RAW_FLAG_ERROR) {
        ret = r->error_no ? r->error_no : EIO;
    }
    if (reply) {
        *reply = r;
    } else {
        vfu_raw_reply_free(r);
    }
    return ret;
}

int vfu_raw_request(VfuRawClient *c, uint16_t cmd, const void *payload,
                    size_t len, int timeout_ms, VfuRawReply **reply)
{
    return finish_request(c, vfu_raw_send_request(c, cmd, payload, len),
                          cmd, timeout_ms, reply);
}

int vfu_raw_dma_map(VfuRawClient *c, uint64_t addr, uint64_t size,
                    uint32_t flags)
{
    VfuRawDmaMap map = {
        .argsz = sizeof(map),
        .flags = flags,
        .offset = 0,
        .addr = addr,
        .size = size,
    };
    size_t idx;
    int ret;

    g_mutex_lock(&c->lock);
    if (c->nr_maps == VFU_RAW_MAX_MAPS) {
        g_mutex_unlock(&c->lock);
        return -ENOSPC;
    }
    /* Ready before the server can use it */
    idx = c->nr_maps++;
    c->maps[idx] = (VfuRawMap) {
        .addr = addr,
        .size = size,
        .flags = flags,
        .mem = g_malloc0(size),
    };
    g_mutex_unlock(&c->lock);

    ret = vfu_raw_request(c, VFU_RAW_CMD_DMA_MAP, &map, sizeof(map),
                          VFU_RAW_TIMEOUT_MS, NULL);
    if (ret) {
        g_mutex_lock(&c->lock);
        /* Nobody else adds maps, so it is still the last one */
        g_free(c->maps[idx].mem);
        c->nr_maps--;
        g_mutex_unlock(&c->lock);
    }
    return ret;
}

int vfu_raw_dma_map_fd(VfuRawClient *c, uint64_t addr, uint64_t size,
                       uint32_t flags, int fd, uint64_t offset)
{
    VfuRawDmaMap map = {
        .argsz = sizeof(map),
        .flags = flags,
        .offset = offset,
        .addr = addr,
        .size = size,
    };
    uint16_t msg_id = vfu_raw_next_msg_id(c);
    int ret;

    if (fd < 0) {
        ret = send_msg(c, c->fd, msg_id, VFU_RAW_CMD_DMA_MAP,
                       VFU_RAW_TYPE_COMMAND, 0, &map, sizeof(map), NULL, 0);
    } else {
        ret = send_msg_fds(c, c->fd, msg_id, VFU_RAW_CMD_DMA_MAP,
                           VFU_RAW_TYPE_COMMAND, &map, sizeof(map), &fd, 1);
    }
    return finish_request(c, ret < 0 ? ret : msg_id, VFU_RAW_CMD_DMA_MAP,
                          VFU_RAW_TIMEOUT_MS, NULL);
}

int vfu_raw_region_read_send(VfuRawClient *c, uint32_t region,
                             uint64_t offset, uint32_t count)
{
    VfuRawRegionAccess ra = {
        .offset = offset,
        .region = region,
        .count = count,
    };

    return vfu_raw_send_request(c, VFU_RAW_CMD_REGION_READ, &ra, sizeof(ra));
}

int vfu_raw_region_read(VfuRawClient *c, uint32_t region, uint64_t offset,
                        void *buf, uint32_t count)
{
    VfuRawRegionAccess ra;
    VfuRawReply *r;
    int ret;

    ret = finish_request(c, vfu_raw_region_read_send(c, region, offset, count),
                         VFU_RAW_CMD_REGION_READ, VFU_RAW_TIMEOUT_MS, &r);
    if (ret) {
        vfu_raw_reply_free(r);
        return ret;
    }
    if (r->len != sizeof(ra) + count) {
        g_test_message("vfio-user raw client: REGION_READ reply of %zu "
                       "bytes for %u", r->len, count);
        ret = EPROTO;
        goto out;
    }
    memcpy(&ra, r->payload, sizeof(ra));
    if (ra.offset != offset || ra.region != region || ra.count != count) {
        g_test_message("vfio-user raw client: REGION_READ reply for "
                       "region %u offset 0x%" PRIx64 " count %u",
                       ra.region, ra.offset, ra.count);
        ret = EPROTO;
        goto out;
    }
    memcpy(buf, r->payload + sizeof(ra), count);
out:
    vfu_raw_reply_free(r);
    return ret;
}

int vfu_raw_region_write(VfuRawClient *c, uint32_t region, uint64_t offset,
                         const void *buf, uint32_t count)
{
    VfuRawRegionAccess ra = {
        .offset = offset,
        .region = region,
        .count = count,
    };
    int msg_id;

    msg_id = send_request(c, VFU_RAW_CMD_REGION_WRITE, &ra, sizeof(ra),
                          buf, count);
    return finish_request(c, msg_id, VFU_RAW_CMD_REGION_WRITE,
                          VFU_RAW_TIMEOUT_MS, NULL);
}

static bool mem_access(VfuRawClient *c, uint64_t addr, void *buf, size_t len,
                       bool write)
{
    VfuRawMap *m;

    g_mutex_lock(&c->lock);
    m = find_map(c, addr, len);
    if (m && write) {
        memcpy(m->mem + (addr - m->addr), buf, len);
    } else if (m) {
        memcpy(buf, m->mem + (addr - m->addr), len);
    }
    g_mutex_unlock(&c->lock);
    return m != NULL;
}

bool vfu_raw_mem_write(VfuRawClient *c, uint64_t addr, const void *buf,
                       size_t len)
{
    return mem_access(c, addr, (void *)buf, len, true);
}

bool vfu_raw_mem_read(VfuRawClient *c, uint64_t addr, void *buf, size_t len)
{
    return mem_access(c, addr, buf, len, false);
}

void vfu_raw_set_dma_action(VfuRawClient *c, VfuRawDmaAction action, int err)
{
    g_mutex_lock(&c->lock);
    c->action = action;
    c->action_err = err;
    g_mutex_unlock(&c->lock);
}

void vfu_raw_release_dma(VfuRawClient *c)
{
    g_mutex_lock(&c->lock);
    c->releases++;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

bool vfu_raw_wait_dma(VfuRawClient *c, size_t n, int timeout_ms)
{
    gint64 deadline = deadline_after(timeout_ms);
    bool ok;

    g_mutex_lock(&c->lock);
    while (c->nr_records < n && !c->stop &&
           g_cond_wait_until(&c->cond, &c->lock, deadline)) {
        /* wait */
    }
    ok = c->nr_records >= n;
    g_mutex_unlock(&c->lock);
    return ok;
}

size_t vfu_raw_dma_records(VfuRawClient *c, VfuRawDmaRecord *records,
                           size_t max)
{
    size_t n;

    g_mutex_lock(&c->lock);
    n = c->nr_records;
    if (records) {
        memcpy(records, c->records,
               sizeof(*records) * MIN(max, MIN(n, VFU_RAW_MAX_RECORDS)));
    }
    g_mutex_unlock(&c->lock);
    return n;
}

uint64_t vfu_raw_mark(VfuRawClient *c)
{
    uint64_t seq;

    g_mutex_lock(&c->lock);
    seq = c->seq++;
    g_mutex_unlock(&c->lock);
    return seq;
}

size_t vfu_raw_stray_messages(VfuRawClient *c)
{
    size_t n;

    g_mutex_lock(&c->lock);
    n = c->stray;
    g_mutex_unlock(&c->lock);
    return n;
}

bool vfu_raw_peer_closed(VfuRawClient *c)
{
    bool closed;

    g_mutex_lock(&c->lock);
    closed = c->peer_closed;
    g_mutex_unlock(&c->lock);
    return closed;
}

uint16_t vfu_raw_next_msg_id(VfuRawClient *c)
{
    uint16_t msg_id;

    g_mutex_lock(&c->lock);
    msg_id = c->next_msg_id++;
    g_mutex_unlock(&c->lock);
    return msg_id;
}

int vfu_raw_send_bytes(VfuRawClient *c, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return send_all(c, c->fd, &iov, 1);
}

size_t vfu_raw_build_msg(uint8_t **buf, uint16_t msg_id, uint16_t cmd,
                         uint32_t flags, const void *payload, size_t len)
{
    VfuRawHdr hdr = {
        .msg_id = msg_id,
        .cmd = cmd,
        .size = VFU_RAW_HDR_SIZE + len,
        .flags = flags,
    };

    *buf = g_malloc(sizeof(hdr) + len);
    memcpy(*buf, &hdr, sizeof(hdr));
    if (len) {
        memcpy(*buf + sizeof(hdr), payload, len);
    }
    return sizeof(hdr) + len;
}

int vfu_raw_socket_connect(const char *path, int timeout_ms, Error **errp)
{
    return connect_unix(path, timeout_ms, errp);
}

int vfu_raw_socket_send(int fd, const void *buf, size_t len, const int *fds,
                        size_t nr_fds)
{
    char control[CMSG_SPACE(sizeof(int) * VFU_RAW_MAX_FDS)] = { 0 };
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    g_assert(nr_fds <= VFU_RAW_MAX_FDS);
    if (nr_fds) {
        struct cmsghdr *cmsg;

        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);
    }
    do {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    return (size_t)n == len ? 0 : -EIO;
}

int vfu_raw_socket_recv(int fd, int timeout_ms, VfuRawReply **reply)
{
    VfuRawMsg m;
    VfuRawReply *r;
    int ret;

    *reply = NULL;
    ret = recv_msg(fd, &m, deadline_after(timeout_ms));
    if (ret < 0) {
        return ret;
    }
    r = g_new0(VfuRawReply, 1);
    r->msg_id = m.hdr.msg_id;
    r->cmd = m.hdr.cmd;
    r->flags = m.hdr.flags;
    r->error_no = m.hdr.error_no;
    r->len = m.len;
    r->payload = m.payload;
    memcpy(r->fds, m.fds, sizeof(r->fds));
    r->nr_fds = m.nr_fds;
    *reply = r;
    return 0;
}
