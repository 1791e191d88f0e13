/*
 * A scriptable vhost-user backend that runs inside a qtest
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib-unix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/memfd.h"
#include "qemu/sockets.h"
#include "vhost-user-test-backend.h"

/* Wire formats, as in docs/interop/vhost-user.rst */

typedef struct VuTestHdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} QEMU_PACKED VuTestHdr;

typedef struct VuTestWireVringState {
    uint32_t index;
    uint32_t num;
} QEMU_PACKED VuTestWireVringState;

typedef struct VuTestWireVringAddr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
} QEMU_PACKED VuTestWireVringAddr;

typedef struct VuTestWireMemRegion {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
} QEMU_PACKED VuTestWireMemRegion;

/* SET_MEM_TABLE carries at most this many regions */
#define VU_TEST_MEM_TABLE_REGIONS 8

typedef struct VuTestWireMemory {
    uint32_t nregions;
    uint32_t padding;
    VuTestWireMemRegion regions[VU_TEST_MEM_TABLE_REGIONS];
} QEMU_PACKED VuTestWireMemory;

typedef struct VuTestWireMemRegMsg {
    uint64_t padding;
    VuTestWireMemRegion region;
} QEMU_PACKED VuTestWireMemRegMsg;

typedef struct VuTestWireConfig {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VU_TEST_MAX_CONFIG_SIZE];
} QEMU_PACKED VuTestWireConfig;

#define VU_TEST_CONFIG_HDR_SIZE offsetof(VuTestWireConfig, region)

/* QEMU sends the C struct with its tail padding: 24 bytes */
typedef struct VuTestWireInflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
    uint32_t padding;
} QEMU_PACKED VuTestWireInflight;

#define VU_TEST_INFLIGHT_MIN_SIZE offsetof(VuTestWireInflight, padding)

/*
 * Payload buffers are at least this big, so that handlers can look at any
 * fixed-size payload without checking the size first
 */
#define VU_TEST_PAYLOAD_MIN 4096

typedef struct VuTestVring {
    VuTestVringInfo info;
    int kick_fd;
    int call_fd;
    int err_fd;
} VuTestVring;

typedef struct VuTestRegion {
    VuTestMemRegion info;
    int fd;
} VuTestRegion;

struct VuTestBackend {
    char *tmpdir;
    char *sock_path;
    int listen_fd;
    int wake_fds[2];
    GThread *thread;
    bool debug;

    /* Serialises writes on conn_fd; taken before lock */
    GMutex write_lock;
    /* Serialises users of the back-end channel */
    GMutex chan_lock;

    /* Protects everything below */
    GMutex lock;
    GCond cond;

    /* Configuration */
    uint64_t features;
    uint64_t protocol_features;
    uint64_t queue_num;
    uint64_t max_mem_slots;
    uint8_t config[VU_TEST_MAX_CONFIG_SIZE];
    size_t config_len;
    uint64_t shmem_sizes[VU_TEST_MAX_SHMEM_REGIONS];
    unsigned int nshmem;
    bool close_on_unknown;
    bool accepting;
    VuTestRequestHook hook;
    void *hook_opaque;

    /* Commands to the thread */
    bool stopping;
    bool disconnect_req;

    /* Connection state; conn_fd only changes with write_lock held too */
    int conn_fd;
    unsigned int conn_count;
    int backend_fd;
    uint64_t acked_features;
    uint64_t acked_protocol_features;
    uint64_t status;
    VuTestVring vrings[VU_TEST_MAX_QUEUES];
    GArray *regions;
    int inflight_fd;

    /* Log */
    GPtrArray *log;
    unsigned int protocol_errors;
};

/* Result of the default handling of a request */
typedef struct VuTestReply {
    bool explicit;          /* the request has a reply of its own */
    bool close;             /* drop the connection */
    bool malformed;         /* ... because the request was malformed */
    uint64_t ack;           /* REPLY_ACK value when not explicit */
    uint32_t size;
    int fd;
    union {
        uint64_t u64;
        VuTestWireVringState state;
        VuTestWireConfig config;
        VuTestWireInflight inflight;
        VuTestShmemConfig shmem;
    } payload;
} VuTestReply;

static const char *const vu_test_request_names[] = {
    [VU_TEST_REQ_NONE] = "NONE",
    [VU_TEST_REQ_GET_FEATURES] = "GET_FEATURES",
    [VU_TEST_REQ_SET_FEATURES] = "SET_FEATURES",
    [VU_TEST_REQ_SET_OWNER] = "SET_OWNER",
    [VU_TEST_REQ_RESET_OWNER] = "RESET_OWNER",
    [VU_TEST_REQ_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VU_TEST_REQ_SET_LOG_BASE] = "SET_LOG_BASE",
    [VU_TEST_REQ_SET_LOG_FD] = "SET_LOG_FD",
    [VU_TEST_REQ_SET_VRING_NUM] = "SET_VRING_NUM",
    [VU_TEST_REQ_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VU_TEST_REQ_SET_VRING_BASE] = "SET_VRING_BASE",
    [VU_TEST_REQ_GET_VRING_BASE] = "GET_VRING_BASE",
    [VU_TEST_REQ_SET_VRING_KICK] = "SET_VRING_KICK",
    [VU_TEST_REQ_SET_VRING_CALL] = "SET_VRING_CALL",
    [VU_TEST_REQ_SET_VRING_ERR] = "SET_VRING_ERR",
    [VU_TEST_REQ_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VU_TEST_REQ_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VU_TEST_REQ_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VU_TEST_REQ_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VU_TEST_REQ_SEND_RARP] = "SEND_RARP",
    [VU_TEST_REQ_NET_SET_MTU] = "NET_SET_MTU",
    [VU_TEST_REQ_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
    [VU_TEST_REQ_IOTLB_MSG] = "IOTLB_MSG",
    [VU_TEST_REQ_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
    [VU_TEST_REQ_GET_CONFIG] = "GET_CONFIG",
    [VU_TEST_REQ_SET_CONFIG] = "SET_CONFIG",
    [VU_TEST_REQ_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
    [VU_TEST_REQ_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
    [VU_TEST_REQ_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
    [VU_TEST_REQ_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
    [VU_TEST_REQ_POSTCOPY_END] = "POSTCOPY_END",
    [VU_TEST_REQ_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
    [VU_TEST_REQ_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
    [VU_TEST_REQ_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
    [VU_TEST_REQ_RESET_DEVICE] = "RESET_DEVICE",
    [VU_TEST_REQ_VRING_KICK] = "VRING_KICK",
    [VU_TEST_REQ_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
    [VU_TEST_REQ_ADD_MEM_REG] = "ADD_MEM_REG",
    [VU_TEST_REQ_REM_MEM_REG] = "REM_MEM_REG",
    [VU_TEST_REQ_SET_STATUS] = "SET_STATUS",
    [VU_TEST_REQ_GET_STATUS] = "GET_STATUS",
    [VU_TEST_REQ_GET_SHARED_OBJECT] = "GET_SHARED_OBJECT",
    [VU_TEST_REQ_SET_DEVICE_STATE_FD] = "SET_DEVICE_STATE_FD",
    [VU_TEST_REQ_CHECK_DEVICE_STATE] = "CHECK_DEVICE_STATE",
    [VU_TEST_REQ_GET_SHMEM_CONFIG] = "GET_SHMEM_CONFIG",
};

const char *vu_test_request_name(uint32_t request)
{
    if (request < ARRAY_SIZE(vu_test_request_names) &&
        vu_test_request_names[request]) {
        return vu_test_request_names[request];
    }
    return "UNKNOWN";
}

/* Low-level I/O */

static void vu_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int vu_dup_cloexec(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* Send @len bytes with @fds attached to the first byte */
static int vu_sendmsg_all(int fd, const void *buf, size_t len,
                          const int *fds, unsigned int nfds)
{
    const uint8_t *p = buf;
    size_t done = 0;

    g_assert(nfds <= VU_TEST_MAX_FDS);
    do {
        char control[CMSG_SPACE(VU_TEST_MAX_FDS * sizeof(int))] = { 0 };
        struct iovec iov = {
            .iov_base = (void *)(p + done),
            .iov_len = len - done,
        };
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
        };
        ssize_t ret;

        if (nfds && done == 0) {
            struct cmsghdr *cmsg;

            mh.msg_control = control;
            mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
            cmsg = CMSG_FIRSTHDR(&mh);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
            memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
        }
        ret = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        done += ret;
    } while (done < len);

    return 0;
}

/*
 * Read exactly @len bytes.  With @deadline (monotonic time, or 0 for
 * none), give up with -ETIMEDOUT once it has passed.
 */
static int vu_read_all(int fd, void *buf, size_t len, gint64 deadline)
{
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t ret;

        if (deadline) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            gint64 left = deadline - g_get_monotonic_time();

            if (left <= 0) {
                return -ETIMEDOUT;
            }
            ret = poll(&pfd, 1, (left + 999) / 1000);
            if (ret < 0 && errno != EINTR) {
                return -errno;
            }
            if (ret <= 0) {
                continue;
            }
        }
        ret = read(fd, p + done, len - done);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (ret == 0) {
            return -ECONNRESET;
        }
        done += ret;
    }

    return 0;
}

static void vu_msg_clear(VuTestMsg *msg)
{
    unsigned int i;

    for (i = 0; i < msg->nfds; i++) {
        vu_close_fd(&msg->fds[i]);
    }
    g_free(msg->fds);
    g_free(msg->payload);
    memset(msg, 0, sizeof(*msg));
}

/*
 * Read one message from the front-end.  Returns 1 for a message, 0 on a
 * clean EOF before a header, or a negative errno.
 */
static int vu_read_msg(int fd, VuTestMsg *msg)
{
    char control[CMSG_SPACE(VU_TEST_MAX_FDS * sizeof(int))];
    VuTestHdr hdr;
    struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control,
        .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cmsg;
    ssize_t ret;
    int err;

    memset(msg, 0, sizeof(*msg));
    do {
        ret = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        return -errno;
    }
    if (ret == 0) {
        return 0;
    }

    for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
        unsigned int n, i;

        if (cmsg->cmsg_level != SOL_SOCKET ||
            cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        msg->fds = g_renew(int, msg->fds, msg->nfds + n);
        for (i = 0; i < n; i++) {
            memcpy(&msg->fds[msg->nfds++],
                   CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        err = -EMSGSIZE;
        goto fail;
    }

    if (ret < sizeof(hdr)) {
        err = vu_read_all(fd, (uint8_t *)&hdr + ret, sizeof(hdr) - ret, 0);
        if (err < 0) {
            goto fail;
        }
    }
    msg->request = hdr.request;
    msg->flags = hdr.flags;
    msg->size = hdr.size;
    if (msg->size > VU_TEST_MAX_PAYLOAD) {
        err = -EMSGSIZE;
        goto fail;
    }

    msg->payload = g_malloc0(MAX(msg->size, VU_TEST_PAYLOAD_MIN));
    err = vu_read_all(fd, msg->payload, msg->size, 0);
    if (err < 0) {
        goto fail;
    }
    return 1;

fail:
    vu_msg_clear(msg);
    return err;
}

static void vu_wake(VuTestBackend *b)
{
    char c = 0;
    ssize_t ret;

    do {
        ret = write(b->wake_fds[1], &c, 1);
    } while (ret < 0 && errno == EINTR);
}

/* Connection handling, in the backend thread */

static void vu_reset_vring(VuTestVring *vr)
{
    vu_close_fd(&vr->kick_fd);
    vu_close_fd(&vr->call_fd);
    vu_close_fd(&vr->err_fd);
    memset(&vr->info, 0, sizeof(vr->info));
}

static void vu_reset_vrings(VuTestBackend *b)
{
    unsigned int i;

    for (i = 0; i < VU_TEST_MAX_QUEUES; i++) {
        vu_reset_vring(&b->vrings[i]);
    }
}

static void vu_clear_regions(VuTestBackend *b)
{
    unsigned int i;

    for (i = 0; i < b->regions->len; i++) {
        vu_close_fd(&g_array_index(b->regions, VuTestRegion, i).fd);
    }
    g_array_set_size(b->regions, 0);
}

/* Called without b->lock held */
static void vu_close_connection(VuTestBackend *b)
{
    g_mutex_lock(&b->write_lock);
    g_mutex_lock(&b->lock);
    if (b->conn_fd >= 0 && b->debug) {
        g_printerr("vu-test-backend: closing connection %u\n",
                   b->conn_count);
    }
    vu_close_fd(&b->conn_fd);
    vu_close_fd(&b->backend_fd);
    vu_close_fd(&b->inflight_fd);
    vu_reset_vrings(b);
    vu_clear_regions(b);
    b->acked_features = 0;
    b->acked_protocol_features = 0;
    b->status = 0;
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
    g_mutex_unlock(&b->write_lock);
}

static void vu_accept(VuTestBackend *b)
{
    int fd = accept(b->listen_fd, NULL, NULL);

    if (fd < 0) {
        return;
    }
    qemu_set_cloexec(fd);
    g_mutex_lock(&b->write_lock);
    g_mutex_lock(&b->lock);
    b->conn_fd = fd;
    b->conn_count++;
    if (b->debug) {
        g_printerr("vu-test-backend: accepted connection %u\n",
                   b->conn_count);
    }
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
    g_mutex_unlock(&b->write_lock);
}

static int vu_send_reply(VuTestBackend *b, uint32_t request,
                         const void *payload, uint32_t size, int fd)
{
    g_autofree uint8_t *buf = g_malloc(sizeof(VuTestHdr) + size);
    VuTestHdr hdr = {
        .request = request,
        .flags = VU_TEST_VERSION | VU_TEST_FLAG_REPLY,
        .size = size,
    };

    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), payload, size);
    return vu_test_backend_send_raw(b, buf, sizeof(hdr) + size,
                                    fd >= 0 ? &fd : NULL, fd >= 0);
}

static bool vu_has_protocol_feature(VuTestBackend *b, unsigned int bit)
{
    return b->acked_protocol_features & (1ull << bit);
}

/* Take the only fd of @msg, or return -1 */
static int vu_take_fd(VuTestMsg *msg)
{
    int fd;

    if (msg->nfds != 1) {
        return -1;
    }
    fd = msg->fds[0];
    msg->fds[0] = -1;
    return fd;
}

static void vu_reply_u64(VuTestReply *r, uint64_t val)
{
    r->explicit = true;
    r->payload.u64 = val;
    r->size = sizeof(uint64_t);
}

static void vu_handle_vring_fd(VuTestBackend *b, VuTestMsg *msg,
                               VuTestReply *r)
{
    uint64_t u64 = ldq_le_p(msg->payload);
    VuTestVring *vr = &b->vrings[u64 & VU_TEST_VRING_IDX_MASK];
    int fd = -1;
    int *slot;

    if (!(u64 & VU_TEST_VRING_NOFD_MASK)) {
        fd = vu_take_fd(msg);
        if (fd < 0) {
            r->ack = 1;
            return;
        }
    }

    switch (msg->request) {
    case VU_TEST_REQ_SET_VRING_KICK:
        slot = &vr->kick_fd;
        vr->info.has_kick_fd = fd >= 0;
        vr->info.started = true;
        break;
    case VU_TEST_REQ_SET_VRING_CALL:
        slot = &vr->call_fd;
        vr->info.has_call_fd = fd >= 0;
        break;
    default:
        slot = &vr->err_fd;
        vr->info.has_err_fd = fd >= 0;
        break;
    }
    vu_close_fd(slot);
    *slot = fd;
}

static void vu_handle_mem_table(VuTestBackend *b, VuTestMsg *msg,
                                VuTestReply *r)
{
    VuTestWireMemory *mem = (VuTestWireMemory *)msg->payload;
    unsigned int i;

    if (mem->nregions > VU_TEST_MEM_TABLE_REGIONS ||
        msg->size < offsetof(VuTestWireMemory, regions) +
                    mem->nregions * sizeof(VuTestWireMemRegion) ||
        msg->nfds != mem->nregions) {
        r->close = true;
        r->malformed = true;
        return;
    }

    vu_clear_regions(b);
    for (i = 0; i < mem->nregions; i++) {
        VuTestRegion reg = {
            .info = {
                .guest_phys_addr = mem->regions[i].guest_phys_addr,
                .memory_size = mem->regions[i].memory_size,
                .userspace_addr = mem->regions[i].userspace_addr,
                .mmap_offset = mem->regions[i].mmap_offset,
                .has_fd = true,
            },
            .fd = msg->fds[i],
        };

        msg->fds[i] = -1;
        g_array_append_val(b->regions, reg);
    }
}

static void vu_handle_add_mem_reg(VuTestBackend *b, VuTestMsg *msg,
                                  VuTestReply *r)
{
    VuTestWireMemRegMsg *m = (VuTestWireMemRegMsg *)msg->payload;
    VuTestRegion reg = {
        .info = {
            .guest_phys_addr = m->region.guest_phys_addr,
            .memory_size = m->region.memory_size,
            .userspace_addr = m->region.userspace_addr,
            .mmap_offset = m->region.mmap_offset,
        },
    };

    if (b->regions->len >= MIN(b->max_mem_slots, VU_TEST_MAX_MEM_REGIONS)) {
        r->ack = 1;
        return;
    }
    reg.fd = vu_take_fd(msg);
    reg.info.has_fd = reg.fd >= 0;
    g_array_append_val(b->regions, reg);
}

static void vu_handle_rem_mem_reg(VuTestBackend *b, VuTestMsg *msg,
                                  VuTestReply *r)
{
    VuTestWireMemRegMsg *m = (VuTestWireMemRegMsg *)msg->payload;
    unsigned int i;

    for (i = 0; i < b->regions->len; i++) {
        VuTestRegion *reg = &g_array_index(b->regions, VuTestRegion, i);

        if (reg->info.guest_phys_addr == m->region.guest_phys_addr &&
            reg->info.memory_size == m->region.memory_size) {
            vu_close_fd(&reg->fd);
            g_array_remove_index(b->regions, i);
            return;
        }
    }
    r->ack = 1;
}

static void vu_handle_get_config(VuTestBackend *b, VuTestMsg *msg,
                                 VuTestReply *r)
{
    VuTestWireConfig *req = (VuTestWireConfig *)msg->payload;
    VuTestWireConfig *cfg = &r->payload.config;

    r->explicit = true;
    if (req->size > VU_TEST_MAX_CONFIG_SIZE ||
        req->offset > VU_TEST_MAX_CONFIG_SIZE - req->size) {
        /* A zero-sized reply tells the front-end that we failed */
        r->size = 0;
        return;
    }
    cfg->offset = req->offset;
    cfg->size = req->size;
    cfg->flags = req->flags;
    memset(cfg->region, 0, sizeof(cfg->region));
    if (req->offset < b->config_len) {
        memcpy(cfg->region, b->config + req->offset,
               MIN(req->size, b->config_len - req->offset));
    }
    r->size = VU_TEST_CONFIG_HDR_SIZE + req->size;
}

static void vu_handle_set_config(VuTestBackend *b, VuTestMsg *msg,
                                 VuTestReply *r)
{
    VuTestWireConfig *req = (VuTestWireConfig *)msg->payload;

    if (req->size > VU_TEST_MAX_CONFIG_SIZE ||
        req->offset > VU_TEST_MAX_CONFIG_SIZE - req->size ||
        msg->size < VU_TEST_CONFIG_HDR_SIZE + req->size) {
        r->ack = 1;
        return;
    }
    memcpy(b->config + req->offset, req->region, req->size);
    b->config_len = MAX(b->config_len, req->offset + req->size);
}

static void vu_handle_get_inflight(VuTestBackend *b, VuTestMsg *msg,
                                   VuTestReply *r)
{
    VuTestWireInflight *req = (VuTestWireInflight *)msg->payload;
    VuTestWireInflight *rep = &r->payload.inflight;
    /* Per queue: a 16 byte header and a 16 byte state per descriptor */
    uint64_t size = (uint64_t)req->num_queues *
                    QEMU_ALIGN_UP(16 + 16 * (uint64_t)req->queue_size, 64);
    Error *err = NULL;
    int fd = -1;

    if (size) {
        fd = qemu_memfd_create("vu-test-inflight", size, false, 0, 0, &err);
        if (fd < 0) {
            error_free(err);
            size = 0;
        }
    }
    vu_close_fd(&b->inflight_fd);
    b->inflight_fd = fd;

    r->explicit = true;
    r->size = sizeof(*rep);
    r->fd = fd;
    memset(rep, 0, sizeof(*rep));
    rep->mmap_size = size;
    rep->num_queues = req->num_queues;
    rep->queue_size = req->queue_size;
}

static void vu_handle_get_shmem_config(VuTestBackend *b, VuTestReply *r)
{
    VuTestShmemConfig *cfg = &r->payload.shmem;

    r->explicit = true;
    r->size = sizeof(*cfg);
    memset(cfg, 0, sizeof(*cfg));
    cfg->nregions = b->nshmem;
    memcpy(cfg->memory_sizes, b->shmem_sizes, sizeof(cfg->memory_sizes));
}

/* Minimum payload size of the requests the backend understands */
static uint32_t vu_min_size(uint32_t request)
{
    switch (request) {
    case VU_TEST_REQ_SET_FEATURES:
    case VU_TEST_REQ_SET_PROTOCOL_FEATURES:
    case VU_TEST_REQ_SET_VRING_KICK:
    case VU_TEST_REQ_SET_VRING_CALL:
    case VU_TEST_REQ_SET_VRING_ERR:
    case VU_TEST_REQ_SET_STATUS:
        return sizeof(uint64_t);
    case VU_TEST_REQ_SET_VRING_NUM:
    case VU_TEST_REQ_SET_VRING_BASE:
    case VU_TEST_REQ_GET_VRING_BASE:
    case VU_TEST_REQ_SET_VRING_ENABLE:
        return sizeof(VuTestWireVringState);
    case VU_TEST_REQ_SET_VRING_ADDR:
        return sizeof(VuTestWireVringAddr);
    case VU_TEST_REQ_SET_MEM_TABLE:
        return offsetof(VuTestWireMemory, regions);
    case VU_TEST_REQ_ADD_MEM_REG:
    case VU_TEST_REQ_REM_MEM_REG:
        return sizeof(VuTestWireMemRegMsg);
    case VU_TEST_REQ_GET_CONFIG:
    case VU_TEST_REQ_SET_CONFIG:
        return VU_TEST_CONFIG_HDR_SIZE;
    case VU_TEST_REQ_GET_INFLIGHT_FD:
        return VU_TEST_INFLIGHT_MIN_SIZE;
    default:
        return 0;
    }
}

/* Default handling of a request; called with b->lock held */
static void vu_handle_request(VuTestBackend *b, VuTestMsg *msg,
                              VuTestReply *r)
{
    VuTestWireVringState *state = (VuTestWireVringState *)msg->payload;
    VuTestWireVringAddr *addr = (VuTestWireVringAddr *)msg->payload;
    uint64_t u64 = ldq_le_p(msg->payload);

    if (msg->size < vu_min_size(msg->request)) {
        r->close = true;
        r->malformed = true;
        return;
    }
    switch (msg->request) {
    case VU_TEST_REQ_SET_VRING_NUM:
    case VU_TEST_REQ_SET_VRING_BASE:
    case VU_TEST_REQ_GET_VRING_BASE:
    case VU_TEST_REQ_SET_VRING_ENABLE:
    case VU_TEST_REQ_SET_VRING_ADDR:
        /* index is the first u32 in both layouts */
        if (state->index >= VU_TEST_MAX_QUEUES) {
            r->close = true;
            r->malformed = true;
            return;
        }
        break;
    default:
        break;
    }

    switch (msg->request) {
    case VU_TEST_REQ_GET_FEATURES:
        vu_reply_u64(r, b->features | (1ull << VU_TEST_F_PROTOCOL_FEATURES));
        break;
    case VU_TEST_REQ_SET_FEATURES:
        b->acked_features = u64;
        break;
    case VU_TEST_REQ_GET_PROTOCOL_FEATURES:
        vu_reply_u64(r, b->protocol_features);
        break;
    case VU_TEST_REQ_SET_PROTOCOL_FEATURES:
        b->acked_protocol_features = u64;
        break;
    case VU_TEST_REQ_SET_OWNER:
    case VU_TEST_REQ_SEND_RARP:
    case VU_TEST_REQ_NET_SET_MTU:
    case VU_TEST_REQ_SET_VRING_ENDIAN:
        break;
    case VU_TEST_REQ_RESET_OWNER:
    case VU_TEST_REQ_RESET_DEVICE:
        vu_reset_vrings(b);
        b->status = 0;
        break;
    case VU_TEST_REQ_GET_QUEUE_NUM:
        vu_reply_u64(r, b->queue_num);
        break;
    case VU_TEST_REQ_GET_MAX_MEM_SLOTS:
        vu_reply_u64(r, b->max_mem_slots);
        break;
    case VU_TEST_REQ_SET_BACKEND_REQ_FD: {
        int fd = vu_take_fd(msg);

        if (fd < 0) {
            r->ack = 1;
            break;
        }
        vu_close_fd(&b->backend_fd);
        b->backend_fd = fd;
        break;
    }
    case VU_TEST_REQ_SET_MEM_TABLE:
        vu_handle_mem_table(b, msg, r);
        break;
    case VU_TEST_REQ_ADD_MEM_REG:
        vu_handle_add_mem_reg(b, msg, r);
        break;
    case VU_TEST_REQ_REM_MEM_REG:
        vu_handle_rem_mem_reg(b, msg, r);
        break;
    case VU_TEST_REQ_SET_LOG_BASE:
        /* With LOG_SHMFD the front-end waits for a reply */
        if (vu_has_protocol_feature(b, VU_TEST_PROTOCOL_F_LOG_SHMFD)) {
            vu_reply_u64(r, 0);
        }
        break;
    case VU_TEST_REQ_SET_LOG_FD:
        break;
    case VU_TEST_REQ_SET_VRING_NUM:
        b->vrings[state->index].info.num = state->num;
        break;
    case VU_TEST_REQ_SET_VRING_BASE:
        b->vrings[state->index].info.base = state->num;
        break;
    case VU_TEST_REQ_SET_VRING_ENABLE:
        b->vrings[state->index].info.enabled = state->num;
        break;
    case VU_TEST_REQ_GET_VRING_BASE:
        b->vrings[state->index].info.started = false;
        r->explicit = true;
        r->size = sizeof(r->payload.state);
        r->payload.state.index = state->index;
        r->payload.state.num = b->vrings[state->index].info.base;
        break;
    case VU_TEST_REQ_SET_VRING_ADDR: {
        VuTestVringInfo *info = &b->vrings[addr->index].info;

        info->addr_flags = addr->flags;
        info->desc_addr = addr->desc_user_addr;
        info->used_addr = addr->used_user_addr;
        info->avail_addr = addr->avail_user_addr;
        info->log_addr = addr->log_guest_addr;
        break;
    }
    case VU_TEST_REQ_SET_VRING_KICK:
    case VU_TEST_REQ_SET_VRING_CALL:
    case VU_TEST_REQ_SET_VRING_ERR:
        vu_handle_vring_fd(b, msg, r);
        break;
    case VU_TEST_REQ_GET_CONFIG:
        vu_handle_get_config(b, msg, r);
        break;
    case VU_TEST_REQ_SET_CONFIG:
        vu_handle_set_config(b, msg, r);
        break;
    case VU_TEST_REQ_GET_INFLIGHT_FD:
        vu_handle_get_inflight(b, msg, r);
        break;
    case VU_TEST_REQ_SET_INFLIGHT_FD:
        break;
    case VU_TEST_REQ_SET_STATUS:
        b->status = u64;
        break;
    case VU_TEST_REQ_GET_STATUS:
        vu_reply_u64(r, b->status);
        break;
    case VU_TEST_REQ_GET_SHMEM_CONFIG:
        vu_handle_get_shmem_config(b, r);
        break;
    default:
        /* Fail it if we can say so, otherwise give up on the connection */
        r->ack = 1;
        if (!(msg->flags & VU_TEST_FLAG_NEED_REPLY) ||
            !vu_has_protocol_feature(b, VU_TEST_PROTOCOL_F_REPLY_ACK)) {
            r->close = b->close_on_unknown;
        }
        break;
    }
}

static VuTestMsgRecord *vu_record_new(const VuTestMsg *msg,
                                      unsigned int conn)
{
    VuTestMsgRecord *rec = g_new0(VuTestMsgRecord, 1);

    rec->request = msg->request;
    rec->flags = msg->flags;
    rec->size = msg->size;
    rec->nfds = msg->nfds;
    rec->conn = conn;
    rec->payload = g_memdup2(msg->payload, msg->size);
    return rec;
}

/* Returns false if the connection must be closed */
static bool vu_process_msg(VuTestBackend *b, VuTestMsg *msg)
{
    VuTestReply *r = g_new0(VuTestReply, 1);
    VuTestRequestHook hook;
    void *hook_opaque;
    bool send_ack, keep = true;

    g_mutex_lock(&b->lock);
    if (b->debug) {
        g_printerr("vu-test-backend: %s (%u) flags 0x%x size %u nfds %u\n",
                   vu_test_request_name(msg->request), msg->request,
                   msg->flags, msg->size, msg->nfds);
    }
    g_ptr_array_add(b->log, vu_record_new(msg, b->conn_count));
    g_cond_broadcast(&b->cond);
    hook = b->hook;
    hook_opaque = b->hook_opaque;
    g_mutex_unlock(&b->lock);

    if (hook && hook(b, msg, hook_opaque)) {
        goto out;
    }

    r->fd = -1;
    g_mutex_lock(&b->lock);
    vu_handle_request(b, msg, r);
    send_ack = !r->explicit && (msg->flags & VU_TEST_FLAG_NEED_REPLY) &&
               vu_has_protocol_feature(b, VU_TEST_PROTOCOL_F_REPLY_ACK);
    b->protocol_errors += r->malformed;
    g_mutex_unlock(&b->lock);

    if (r->close) {
        keep = false;
    } else if (r->explicit) {
        keep = vu_send_reply(b, msg->request, &r->payload, r->size,
                             r->fd) == 0;
    } else if (send_ack) {
        keep = vu_send_reply(b, msg->request, &r->ack, sizeof(r->ack),
                             -1) == 0;
    }

out:
    g_free(r);
    return keep;
}

static gpointer vu_thread(gpointer opaque)
{
    VuTestBackend *b = opaque;

    for (;;) {
        struct pollfd pfds[2];
        bool accepting, disconnect;
        int conn_fd, n = 0;
        char buf[16];

        g_mutex_lock(&b->lock);
        if (b->stopping) {
            g_mutex_unlock(&b->lock);
            break;
        }
        disconnect = b->disconnect_req;
        conn_fd = b->conn_fd;
        accepting = b->accepting;
        g_mutex_unlock(&b->lock);

        if (disconnect) {
            vu_close_connection(b);
            g_mutex_lock(&b->lock);
            b->disconnect_req = false;
            g_cond_broadcast(&b->cond);
            g_mutex_unlock(&b->lock);
            continue;
        }

        pfds[n++] = (struct pollfd) { .fd = b->wake_fds[0], .events = POLLIN };
        if (conn_fd >= 0) {
            pfds[n++] = (struct pollfd) { .fd = conn_fd, .events = POLLIN };
        } else if (accepting) {
            pfds[n++] = (struct pollfd) {
                .fd = b->listen_fd, .events = POLLIN
            };
        }
        if (poll(pfds, n, -1) < 0) {
            g_assert(errno == EINTR);
            continue;
        }

        if (pfds[0].revents) {
            while (read(b->wake_fds[0], buf, sizeof(buf)) == sizeof(buf)) {
                /* drain */
            }
            continue;
        }
        if (n < 2 || !pfds[1].revents) {
            continue;
        }
        if (conn_fd < 0) {
            vu_accept(b);
        } else {
            VuTestMsg msg;
            int ret = vu_read_msg(conn_fd, &msg);
            bool keep = ret > 0;

            if (ret == -EMSGSIZE) {
                g_mutex_lock(&b->lock);
                b->protocol_errors++;
                g_mutex_unlock(&b->lock);
            }
            if (keep) {
                keep = vu_process_msg(b, &msg);
                vu_msg_clear(&msg);
            }
            if (!keep) {
                vu_close_connection(b);
            }
        }
    }

    return NULL;
}

/* Public API */

VuTestBackend *vu_test_backend_new(void)
{
    VuTestBackend *b = g_new0(VuTestBackend, 1);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    GError *gerr = NULL;
    unsigned int i;

    b->debug = g_getenv("VU_TEST_BACKEND_DEBUG") != NULL;
    g_mutex_init(&b->write_lock);
    g_mutex_init(&b->chan_lock);
    g_mutex_init(&b->lock);
    g_cond_init(&b->cond);

    b->features = VU_TEST_DEFAULT_FEATURES;
    b->protocol_features = VU_TEST_DEFAULT_PROTOCOL_FEATURES;
    b->queue_num = VU_TEST_DEFAULT_QUEUE_NUM;
    b->max_mem_slots = VU_TEST_DEFAULT_MAX_MEM_SLOTS;
    b->close_on_unknown = true;
    b->accepting = true;

    b->conn_fd = -1;
    b->backend_fd = -1;
    b->inflight_fd = -1;
    for (i = 0; i < VU_TEST_MAX_QUEUES; i++) {
        b->vrings[i].kick_fd = -1;
        b->vrings[i].call_fd = -1;
        b->vrings[i].err_fd = -1;
    }
    b->regions = g_array_new(false, true, sizeof(VuTestRegion));
    b->log = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vu_test_msg_record_free);

    b->tmpdir = g_dir_make_tmp("vhost-user-test-XXXXXX", &gerr);
    g_assert_no_error(gerr);
    b->sock_path = g_build_filename(b->tmpdir, "backend.sock", NULL);
    g_assert_cmpuint(strlen(b->sock_path), <, sizeof(un.sun_path));
    pstrcpy(un.sun_path, sizeof(un.sun_path), b->sock_path);

    b->listen_fd = qemu_socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(b->listen_fd, >=, 0);
    g_assert_cmpint(bind(b->listen_fd, (struct sockaddr *)&un, sizeof(un)),
                    ==, 0);
    g_assert_cmpint(listen(b->listen_fd, 1), ==, 0);

    g_assert_true(g_unix_open_pipe(b->wake_fds, FD_CLOEXEC, &gerr));
    g_assert_no_error(gerr);
    g_assert_true(g_unix_set_fd_nonblocking(b->wake_fds[0], true, &gerr));
    g_assert_no_error(gerr);

    b->thread = g_thread_new("vu-test-backend", vu_thread, b);
    return b;
}

void vu_test_backend_free(VuTestBackend *b)
{
    if (!b) {
        return;
    }

    g_mutex_lock(&b->lock);
    b->stopping = true;
    g_mutex_unlock(&b->lock);
    vu_wake(b);
    g_thread_join(b->thread);

    vu_close_connection(b);
    vu_close_fd(&b->listen_fd);
    vu_close_fd(&b->wake_fds[0]);
    vu_close_fd(&b->wake_fds[1]);
    unlink(b->sock_path);
    rmdir(b->tmpdir);

    g_array_free(b->regions, true);
    g_ptr_array_free(b->log, true);
    g_cond_clear(&b->cond);
    g_mutex_clear(&b->lock);
    g_mutex_clear(&b->chan_lock);
    g_mutex_clear(&b->write_lock);
    g_free(b->sock_path);
    g_free(b->tmpdir);
    g_free(b);
}

const char *vu_test_backend_get_socket_path(VuTestBackend *b)
{
    return b->sock_path;
}

void vu_test_backend_set_features(VuTestBackend *b, uint64_t features)
{
    g_mutex_lock(&b->lock);
    b->features = features;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_protocol_features(VuTestBackend *b,
                                           uint64_t features)
{
    g_mutex_lock(&b->lock);
    b->protocol_features = features;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_queue_num(VuTestBackend *b, uint64_t queue_num)
{
    g_mutex_lock(&b->lock);
    b->queue_num = queue_num;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_max_mem_slots(VuTestBackend *b, uint64_t slots)
{
    g_mutex_lock(&b->lock);
    b->max_mem_slots = slots;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_config(VuTestBackend *b, const void *data,
                                size_t len)
{
    g_assert_cmpuint(len, <=, VU_TEST_MAX_CONFIG_SIZE);
    g_mutex_lock(&b->lock);
    memset(b->config, 0, sizeof(b->config));
    memcpy(b->config, data, len);
    b->config_len = len;
    g_mutex_unlock(&b->lock);
}

size_t vu_test_backend_get_config(VuTestBackend *b, void *data, size_t len)
{
    g_mutex_lock(&b->lock);
    len = MIN(len, b->config_len);
    memcpy(data, b->config, len);
    g_mutex_unlock(&b->lock);
    return len;
}

void vu_test_backend_set_shmem_regions(VuTestBackend *b,
                                       const uint64_t *sizes,
                                       unsigned int count)
{
    g_assert_cmpuint(count, <=, VU_TEST_MAX_SHMEM_REGIONS);
    g_mutex_lock(&b->lock);
    memset(b->shmem_sizes, 0, sizeof(b->shmem_sizes));
    memcpy(b->shmem_sizes, sizes, count * sizeof(sizes[0]));
    /* nregions on the wire counts the regions that exist */
    b->nshmem = 0;
    for (unsigned int i = 0; i < count; i++) {
        b->nshmem += !!sizes[i];
    }
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_close_on_unknown(VuTestBackend *b,
                                          bool close_conn)
{
    g_mutex_lock(&b->lock);
    b->close_on_unknown = close_conn;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_request_hook(VuTestBackend *b,
                                      VuTestRequestHook hook, void *opaque)
{
    g_mutex_lock(&b->lock);
    b->hook = hook;
    b->hook_opaque = opaque;
    g_mutex_unlock(&b->lock);
}

void vu_test_backend_set_accepting(VuTestBackend *b, bool accepting)
{
    g_mutex_lock(&b->lock);
    b->accepting = accepting;
    g_mutex_unlock(&b->lock);
    vu_wake(b);
}

void vu_test_backend_disconnect(VuTestBackend *b)
{
    g_mutex_lock(&b->lock);
    b->disconnect_req = true;
    g_mutex_unlock(&b->lock);
    vu_wake(b);

    g_mutex_lock(&b->lock);
    while (b->disconnect_req) {
        g_cond_wait(&b->cond, &b->lock);
    }
    g_mutex_unlock(&b->lock);
}

bool vu_test_backend_is_connected(VuTestBackend *b)
{
    bool ret;

    g_mutex_lock(&b->lock);
    ret = b->conn_fd >= 0;
    g_mutex_unlock(&b->lock);
    return ret;
}

unsigned int vu_test_backend_get_connection_count(VuTestBackend *b)
{
    unsigned int ret;

    g_mutex_lock(&b->lock);
    ret = b->conn_count;
    g_mutex_unlock(&b->lock);
    return ret;
}

static gint64 vu_deadline(unsigned int timeout_ms)
{
    return g_get_monotonic_time() +
           (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
}

bool vu_test_backend_wait_connections(VuTestBackend *b, unsigned int count,
                                      unsigned int timeout_ms)
{
    gint64 deadline = vu_deadline(timeout_ms);
    bool ret;

    g_mutex_lock(&b->lock);
    while (b->conn_count < count &&
           g_cond_wait_until(&b->cond, &b->lock, deadline)) {
        /* wait */
    }
    ret = b->conn_count >= count;
    g_mutex_unlock(&b->lock);
    return ret;
}

bool vu_test_backend_wait_disconnected(VuTestBackend *b,
                                       unsigned int timeout_ms)
{
    gint64 deadline = vu_deadline(timeout_ms);
    bool ret;

    g_mutex_lock(&b->lock);
    while (b->conn_fd >= 0 &&
           g_cond_wait_until(&b->cond, &b->lock, deadline)) {
        /* wait */
    }
    ret = b->conn_fd < 0;
    g_mutex_unlock(&b->lock);
    return ret;
}

int vu_test_backend_send_raw(VuTestBackend *b, const void *buf, size_t len,
                             const int *fds, unsigned int nfds)
{
    int ret = -ENOTCONN;

    g_mutex_lock(&b->write_lock);
    if (b->conn_fd >= 0) {
        ret = vu_sendmsg_all(b->conn_fd, buf, len, fds, nfds);
    }
    g_mutex_unlock(&b->write_lock);
    return ret;
}

unsigned int vu_test_backend_get_log_len(VuTestBackend *b)
{
    unsigned int ret;

    g_mutex_lock(&b->lock);
    ret = b->log->len;
    g_mutex_unlock(&b->lock);
    return ret;
}

VuTestMsgRecord *vu_test_backend_get_log_entry(VuTestBackend *b,
                                               unsigned int idx)
{
    VuTestMsgRecord *rec = NULL;

    g_mutex_lock(&b->lock);
    if (idx < b->log->len) {
        rec = g_memdup2(g_ptr_array_index(b->log, idx), sizeof(*rec));
        rec->payload = g_memdup2(rec->payload, rec->size);
    }
    g_mutex_unlock(&b->lock);
    return rec;
}

void vu_test_msg_record_free(VuTestMsgRecord *rec)
{
    if (rec) {
        g_free(rec->payload);
        g_free(rec);
    }
}

void vu_test_backend_clear_log(VuTestBackend *b)
{
    g_mutex_lock(&b->lock);
    g_ptr_array_set_size(b->log, 0);
    g_mutex_unlock(&b->lock);
}

int vu_test_backend_wait_request(VuTestBackend *b, uint32_t request,
                                 unsigned int from, unsigned int timeout_ms)
{
    gint64 deadline = vu_deadline(timeout_ms);
    unsigned int i = from;
    int ret = -1;

    g_mutex_lock(&b->lock);
    for (;;) {
        for (; i < b->log->len; i++) {
            VuTestMsgRecord *rec = g_ptr_array_index(b->log, i);

            if (rec->request == request) {
                ret = i;
                goto out;
            }
        }
        if (!g_cond_wait_until(&b->cond, &b->lock, deadline) &&
            i >= b->log->len) {
            break;
        }
    }
out:
    g_mutex_unlock(&b->lock);
    return ret;
}

bool vu_test_backend_wait_log_len(VuTestBackend *b, unsigned int len,
                                  unsigned int timeout_ms)
{
    gint64 deadline = vu_deadline(timeout_ms);
    bool ret;

    g_mutex_lock(&b->lock);
    while (b->log->len < len &&
           g_cond_wait_until(&b->cond, &b->lock, deadline)) {
        /* wait */
    }
    ret = b->log->len >= len;
    g_mutex_unlock(&b->lock);
    return ret;
}

unsigned int vu_test_backend_get_protocol_errors(VuTestBackend *b)
{
    unsigned int ret;

    g_mutex_lock(&b->lock);
    ret = b->protocol_errors;
    g_mutex_unlock(&b->lock);
    return ret;
}

uint64_t vu_test_backend_get_acked_features(VuTestBackend *b)
{
    uint64_t ret;

    g_mutex_lock(&b->lock);
    ret = b->acked_features;
    g_mutex_unlock(&b->lock);
    return ret;
}

uint64_t vu_test_backend_get_acked_protocol_features(VuTestBackend *b)
{
    uint64_t ret;

    g_mutex_lock(&b->lock);
    ret = b->acked_protocol_features;
    g_mutex_unlock(&b->lock);
    return ret;
}

bool vu_test_backend_get_vring(VuTestBackend *b, unsigned int idx,
                               VuTestVringInfo *info)
{
    if (idx >= VU_TEST_MAX_QUEUES) {
        return false;
    }
    g_mutex_lock(&b->lock);
    *info = b->vrings[idx].info;
    g_mutex_unlock(&b->lock);
    return true;
}

unsigned int vu_test_backend_get_mem_regions(VuTestBackend *b,
                                             VuTestMemRegion *regions,
                                             unsigned int max)
{
    unsigned int i, n;

    g_mutex_lock(&b->lock);
    n = b->regions->len;
    for (i = 0; i < MIN(n, max); i++) {
        regions[i] = g_array_index(b->regions, VuTestRegion, i).info;
    }
    g_mutex_unlock(&b->lock);
    return n;
}

bool vu_test_backend_uva_to_gpa(VuTestBackend *b, uint64_t uva,
                                uint64_t *gpa)
{
    bool found = false;
    unsigned int i;

    g_mutex_lock(&b->lock);
    for (i = 0; i < b->regions->len; i++) {
        VuTestMemRegion *reg =
            &g_array_index(b->regions, VuTestRegion, i).info;

        if (uva >= reg->userspace_addr &&
            uva - reg->userspace_addr < reg->memory_size) {
            *gpa = reg->guest_phys_addr + (uva - reg->userspace_addr);
            found = true;
            break;
        }
    }
    g_mutex_unlock(&b->lock);
    return found;
}

int vu_test_backend_dup_mem_fd(VuTestBackend *b, unsigned int idx)
{
    int fd = -1;

    g_mutex_lock(&b->lock);
    if (idx < b->regions->len) {
        fd = vu_dup_cloexec(g_array_index(b->regions, VuTestRegion, idx).fd);
    }
    g_mutex_unlock(&b->lock);
    return fd;
}

bool vu_test_backend_has_backend_channel(VuTestBackend *b)
{
    bool ret;

    g_mutex_lock(&b->lock);
    ret = b->backend_fd >= 0;
    g_mutex_unlock(&b->lock);
    return ret;
}

bool vu_test_backend_wait_backend_channel(VuTestBackend *b,
                                          unsigned int timeout_ms)
{
    gint64 deadline = vu_deadline(timeout_ms);
    bool ret;

    g_mutex_lock(&b->lock);
    while (b->backend_fd < 0 &&
           g_cond_wait_until(&b->cond, &b->lock, deadline)) {
        /* wait */
    }
    ret = b->backend_fd >= 0;
    g_mutex_unlock(&b->lock);
    return ret;
}

/*
 * A dup of the back-end channel fd, so that a disconnect cannot pull it
 * away from under us; -1 if there is none
 */
static int vu_get_backend_fd(VuTestBackend *b)
{
    int fd;

    g_mutex_lock(&b->lock);
    fd = vu_dup_cloexec(b->backend_fd);
    g_mutex_unlock(&b->lock);
    return fd;
}

int vu_test_backend_send_backend_msg(VuTestBackend *b, uint32_t request,
                                     uint32_t flags, const void *payload,
                                     uint32_t size, int fd)
{
    g_autofree uint8_t *buf = g_malloc(sizeof(VuTestHdr) + size);
    VuTestHdr hdr = {
        .request = request,
        .flags = flags,
        .size = size,
    };
    int chan, ret;

    chan = vu_get_backend_fd(b);
    if (chan < 0) {
        return -ENOTCONN;
    }
    memcpy(buf, &hdr, sizeof(hdr));
    if (size) {
        memcpy(buf + sizeof(hdr), payload, size);
    }
    g_mutex_lock(&b->chan_lock);
    ret = vu_sendmsg_all(chan, buf, sizeof(hdr) + size,
                         fd >= 0 ? &fd : NULL, fd >= 0);
    g_mutex_unlock(&b->chan_lock);
    close(chan);
    return ret;
}

int vu_test_backend_recv_backend_reply(VuTestBackend *b, uint32_t request,
                                       unsigned int timeout_ms,
                                       uint64_t *reply)
{
    gint64 deadline = vu_deadline(timeout_ms);
    g_autofree uint8_t *payload = NULL;
    VuTestHdr hdr;
    int chan, ret;

    chan = vu_get_backend_fd(b);
    if (chan < 0) {
        return -ENOTCONN;
    }
    g_mutex_lock(&b->chan_lock);
    ret = vu_read_all(chan, &hdr, sizeof(hdr), deadline);
    if (ret == 0 && hdr.size > VU_TEST_MAX_PAYLOAD) {
        ret = -EPROTO;
    }
    if (ret == 0) {
        payload = g_malloc0(hdr.size);
        ret = vu_read_all(chan, payload, hdr.size, deadline);
    }
    g_mutex_unlock(&b->chan_lock);
    close(chan);
    if (ret < 0) {
        return ret;
    }

    if (hdr.request != request ||
        (hdr.flags & ~VU_TEST_FLAG_NEED_REPLY) !=
        (VU_TEST_VERSION | VU_TEST_FLAG_REPLY) ||
        hdr.size != sizeof(uint64_t)) {
        return -EPROTO;
    }
    *reply = ldq_le_p(payload);
    return 0;
}

int vu_test_backend_backend_request(VuTestBackend *b, uint32_t request,
                                    const void *payload, uint32_t size,
                                    int fd, bool need_reply,
                                    unsigned int timeout_ms, uint64_t *reply)
{
    uint32_t flags = VU_TEST_VERSION;
    int ret;

    if (need_reply) {
        flags |= VU_TEST_FLAG_NEED_REPLY;
    }
    ret = vu_test_backend_send_backend_msg(b, request, flags, payload, size,
                                           fd);
    if (ret < 0 || !need_reply) {
        return ret;
    }
    return vu_test_backend_recv_backend_reply(b, request, timeout_ms, reply);
}

void vu_test_backend_dump_log(VuTestBackend *b, unsigned int from)
{
    unsigned int i, len = vu_test_backend_get_log_len(b);

    for (i = from; i < len; i++) {
        g_autoptr(VuTestMsgRecord) rec = vu_test_backend_get_log_entry(b, i);

        g_test_message("log[%u]: conn %u %s (%u) flags 0x%x size %u nfds %u",
                       i, rec->conn, vu_test_request_name(rec->request),
                       rec->request, rec->flags, rec->size, rec->nfds);
    }
}

unsigned int vu_test_backend_assert_requests(VuTestBackend *b,
                                             unsigned int from,
                                             unsigned int conn,
                                             const uint32_t *expected,
                                             unsigned int n,
                                             unsigned int timeout_ms)
{
    unsigned int i;

    if (!vu_test_backend_wait_log_len(b, from + n, timeout_ms)) {
        vu_test_backend_dump_log(b, from);
        g_assert_cmpuint(vu_test_backend_get_log_len(b), >=, from + n);
    }
    for (i = 0; i < n; i++) {
        g_autoptr(VuTestMsgRecord) rec =
            vu_test_backend_get_log_entry(b, from + i);

        if (rec->request != expected[i] || rec->conn != conn) {
            vu_test_backend_dump_log(b, from);
            g_test_message("log[%u]: expected conn %u %s", from + i, conn,
                           vu_test_request_name(expected[i]));
        }
        g_assert_cmpstr(vu_test_request_name(rec->request), ==,
                        vu_test_request_name(expected[i]));
        g_assert_cmpuint(rec->request, ==, expected[i]);
        g_assert_cmphex(rec->flags & VU_TEST_FLAG_VERSION_MASK, ==,
                        VU_TEST_VERSION);
        g_assert_false(rec->flags & VU_TEST_FLAG_REPLY);
        g_assert_cmpuint(rec->conn, ==, conn);
    }
    return from + n;
}

void vu_test_count_memfd_uses(pid_t pid, const char *memfd_name,
                              int *maps, int *fds)
{
    g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", (int)pid);
    g_autofree char *fd_path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autofree char *pattern = g_strdup_printf("memfd:%s", memfd_name);
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;
    const char *name;
    GDir *dir;

    g_assert_true(g_file_get_contents(maps_path, &contents, NULL, NULL));
    lines = g_strsplit(contents, "\n", -1);
    /* In pages: the kernel merges neighbouring mappings of one file */
    *maps = 0;
    for (int i = 0; lines[i]; i++) {
        unsigned long start, end;

        if (strstr(lines[i], pattern) &&
            sscanf(lines[i], "%lx-%lx", &start, &end) == 2) {
            *maps += (end - start) / qemu_real_host_page_size();
        }
    }

    dir = g_dir_open(fd_path, 0, NULL);
    g_assert_nonnull(dir);
    *fds = 0;
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *link = g_strdup_printf("%s/%s", fd_path, name);
        g_autofree char *target = g_file_read_link(link, NULL);

        *fds += target && strstr(target, pattern);
    }
    g_dir_close(dir);
}
