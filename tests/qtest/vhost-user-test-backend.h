/*
 * A scriptable vhost-user backend that runs inside a qtest
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VHOST_USER_TEST_BACKEND_H
#define VHOST_USER_TEST_BACKEND_H

/*
 * The backend speaks the vhost-user protocol directly on a Unix socket
 * from a thread of its own.  It does not use QEMU's chardev layer, so a
 * test is free to make it misbehave.  It listens on a socket in a
 * temporary directory and QEMU connects to it as a client.
 *
 * All names carry a VU_TEST_ / VuTest / vu_test_ prefix so that they
 * cannot clash with the definitions in QEMU's own headers.
 *
 * Unless said otherwise, every function may be called from any thread,
 * and setters take effect from the next message that the backend handles.
 */

/* Message header */
#define VU_TEST_HDR_SIZE            12
#define VU_TEST_VERSION             0x1
#define VU_TEST_FLAG_VERSION_MASK   0x3
#define VU_TEST_FLAG_REPLY          (1u << 2)
#define VU_TEST_FLAG_NEED_REPLY     (1u << 3)

/* Limits of this implementation */
#define VU_TEST_MAX_FDS             32
#define VU_TEST_MAX_PAYLOAD         65536
#define VU_TEST_MAX_QUEUES          256
#define VU_TEST_MAX_MEM_REGIONS     512
#define VU_TEST_MAX_CONFIG_SIZE     256
#define VU_TEST_MAX_SHMEM_REGIONS   256

/* Payload of SET_VRING_KICK/CALL/ERR */
#define VU_TEST_VRING_IDX_MASK      0xffull
#define VU_TEST_VRING_NOFD_MASK     (1ull << 8)

/* Virtio feature bits the backend cares about */
#define VU_TEST_F_PROTOCOL_FEATURES 30
#define VU_TEST_VIRTIO_F_VERSION_1  32

/* Front-end to back-end requests */
typedef enum VuTestRequest {
    VU_TEST_REQ_NONE = 0,
    VU_TEST_REQ_GET_FEATURES = 1,
    VU_TEST_REQ_SET_FEATURES = 2,
    VU_TEST_REQ_SET_OWNER = 3,
    VU_TEST_REQ_RESET_OWNER = 4,
    VU_TEST_REQ_SET_MEM_TABLE = 5,
    VU_TEST_REQ_SET_LOG_BASE = 6,
    VU_TEST_REQ_SET_LOG_FD = 7,
    VU_TEST_REQ_SET_VRING_NUM = 8,
    VU_TEST_REQ_SET_VRING_ADDR = 9,
    VU_TEST_REQ_SET_VRING_BASE = 10,
    VU_TEST_REQ_GET_VRING_BASE = 11,
    VU_TEST_REQ_SET_VRING_KICK = 12,
    VU_TEST_REQ_SET_VRING_CALL = 13,
    VU_TEST_REQ_SET_VRING_ERR = 14,
    VU_TEST_REQ_GET_PROTOCOL_FEATURES = 15,
    VU_TEST_REQ_SET_PROTOCOL_FEATURES = 16,
    VU_TEST_REQ_GET_QUEUE_NUM = 17,
    VU_TEST_REQ_SET_VRING_ENABLE = 18,
    VU_TEST_REQ_SEND_RARP = 19,
    VU_TEST_REQ_NET_SET_MTU = 20,
    VU_TEST_REQ_SET_BACKEND_REQ_FD = 21,
    VU_TEST_REQ_IOTLB_MSG = 22,
    VU_TEST_REQ_SET_VRING_ENDIAN = 23,
    VU_TEST_REQ_GET_CONFIG = 24,
    VU_TEST_REQ_SET_CONFIG = 25,
    VU_TEST_REQ_CREATE_CRYPTO_SESSION = 26,
    VU_TEST_REQ_CLOSE_CRYPTO_SESSION = 27,
    VU_TEST_REQ_POSTCOPY_ADVISE = 28,
    VU_TEST_REQ_POSTCOPY_LISTEN = 29,
    VU_TEST_REQ_POSTCOPY_END = 30,
    VU_TEST_REQ_GET_INFLIGHT_FD = 31,
    VU_TEST_REQ_SET_INFLIGHT_FD = 32,
    VU_TEST_REQ_GPU_SET_SOCKET = 33,
    VU_TEST_REQ_RESET_DEVICE = 34,
    VU_TEST_REQ_VRING_KICK = 35,
    VU_TEST_REQ_GET_MAX_MEM_SLOTS = 36,
    VU_TEST_REQ_ADD_MEM_REG = 37,
    VU_TEST_REQ_REM_MEM_REG = 38,
    VU_TEST_REQ_SET_STATUS = 39,
    VU_TEST_REQ_GET_STATUS = 40,
    VU_TEST_REQ_GET_SHARED_OBJECT = 41,
    VU_TEST_REQ_SET_DEVICE_STATE_FD = 42,
    VU_TEST_REQ_CHECK_DEVICE_STATE = 43,
    VU_TEST_REQ_GET_SHMEM_CONFIG = 44,
} VuTestRequest;

/* Back-end to front-end requests, sent on the SET_BACKEND_REQ_FD channel */
typedef enum VuTestBackendRequest {
    VU_TEST_BACKEND_REQ_NONE = 0,
    VU_TEST_BACKEND_REQ_IOTLB_MSG = 1,
    VU_TEST_BACKEND_REQ_CONFIG_CHANGE_MSG = 2,
    VU_TEST_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG = 3,
    VU_TEST_BACKEND_REQ_VRING_CALL = 4,
    VU_TEST_BACKEND_REQ_VRING_ERR = 5,
    VU_TEST_BACKEND_REQ_SHARED_OBJECT_ADD = 6,
    VU_TEST_BACKEND_REQ_SHARED_OBJECT_REMOVE = 7,
    VU_TEST_BACKEND_REQ_SHARED_OBJECT_LOOKUP = 8,
    VU_TEST_BACKEND_REQ_SHMEM_MAP = 9,
    VU_TEST_BACKEND_REQ_SHMEM_UNMAP = 10,
} VuTestBackendRequest;

/* Protocol feature bits */
typedef enum VuTestProtocolFeature {
    VU_TEST_PROTOCOL_F_MQ = 0,
    VU_TEST_PROTOCOL_F_LOG_SHMFD = 1,
    VU_TEST_PROTOCOL_F_RARP = 2,
    VU_TEST_PROTOCOL_F_REPLY_ACK = 3,
    VU_TEST_PROTOCOL_F_NET_MTU = 4,
    VU_TEST_PROTOCOL_F_BACKEND_REQ = 5,
    VU_TEST_PROTOCOL_F_CROSS_ENDIAN = 6,
    VU_TEST_PROTOCOL_F_CRYPTO_SESSION = 7,
    VU_TEST_PROTOCOL_F_PAGEFAULT = 8,
    VU_TEST_PROTOCOL_F_CONFIG = 9,
    VU_TEST_PROTOCOL_F_BACKEND_SEND_FD = 10,
    VU_TEST_PROTOCOL_F_HOST_NOTIFIER = 11,
    VU_TEST_PROTOCOL_F_INFLIGHT_SHMFD = 12,
    VU_TEST_PROTOCOL_F_RESET_DEVICE = 13,
    VU_TEST_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
    VU_TEST_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
    VU_TEST_PROTOCOL_F_STATUS = 16,
    VU_TEST_PROTOCOL_F_XEN_MMAP = 17,
    VU_TEST_PROTOCOL_F_SHARED_OBJECT = 18,
    VU_TEST_PROTOCOL_F_DEVICE_STATE = 19,
    VU_TEST_PROTOCOL_F_SHMEM = 22,
} VuTestProtocolFeature;

/*
 * Virtio features offered by default (VU_TEST_F_PROTOCOL_FEATURES is
 * always offered on top of whatever is configured)
 */
#define VU_TEST_DEFAULT_FEATURES (1ull << VU_TEST_VIRTIO_F_VERSION_1)

/* Protocol features offered by default */
#define VU_TEST_DEFAULT_PROTOCOL_FEATURES \
    ((1ull << VU_TEST_PROTOCOL_F_MQ) | \
     (1ull << VU_TEST_PROTOCOL_F_REPLY_ACK) | \
     (1ull << VU_TEST_PROTOCOL_F_BACKEND_REQ) | \
     (1ull << VU_TEST_PROTOCOL_F_CONFIG) | \
     (1ull << VU_TEST_PROTOCOL_F_RESET_DEVICE))

#define VU_TEST_DEFAULT_QUEUE_NUM       8
#define VU_TEST_DEFAULT_MAX_MEM_SLOTS   32

/* Payload of VU_TEST_BACKEND_REQ_SHMEM_MAP and _UNMAP (40 bytes) */
typedef struct VuTestMMap {
    uint8_t shmid;
    uint8_t padding[7];
    uint64_t fd_offset;
    uint64_t shm_offset;
    uint64_t len;
    uint64_t flags;
} QEMU_PACKED VuTestMMap;

/* Reply payload of VU_TEST_REQ_GET_SHMEM_CONFIG (2056 bytes) */
typedef struct VuTestShmemConfig {
    uint32_t nregions;
    uint32_t padding;
    uint64_t memory_sizes[VU_TEST_MAX_SHMEM_REGIONS];
} QEMU_PACKED VuTestShmemConfig;

typedef struct VuTestBackend VuTestBackend;

/* A request as it was received, kept in the backend's log */
typedef struct VuTestMsgRecord {
    uint32_t request;
    uint32_t flags;
    uint32_t size;          /* payload size announced in the header */
    unsigned int nfds;      /* number of fds that came with it */
    unsigned int conn;      /* connection it came on, counted from 1 */
    uint8_t *payload;       /* @size bytes */
} VuTestMsgRecord;

/* A request as handed to a request hook (see below) */
typedef struct VuTestMsg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    uint8_t *payload;
    int *fds;
    unsigned int nfds;
} VuTestMsg;

/*
 * Called in the backend thread for every request, after it was logged and
 * before the default handling.  Return true if the hook dealt with the
 * request itself (including any reply, see vu_test_backend_send_raw());
 * the backend then only closes the fds that the hook left in msg->fds
 * (set an entry to -1 to keep that fd).  Return false for the default
 * handling.
 */
typedef bool (*VuTestRequestHook)(VuTestBackend *b, VuTestMsg *msg,
                                  void *opaque);

/* State of a vring as the front-end set it up */
typedef struct VuTestVringInfo {
    uint32_t num;
    uint32_t base;
    uint32_t addr_flags;
    uint64_t desc_addr;     /* front-end virtual addresses */
    uint64_t used_addr;
    uint64_t avail_addr;
    uint64_t log_addr;
    bool has_kick_fd;
    bool has_call_fd;
    bool has_err_fd;
    bool enabled;
    bool started;           /* got a kick fd and no GET_VRING_BASE since */
} VuTestVringInfo;

/* A guest memory region from SET_MEM_TABLE or ADD_MEM_REG */
typedef struct VuTestMemRegion {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
    bool has_fd;
} VuTestMemRegion;

/* Lifecycle */

/*
 * Create a backend listening on a new socket in a new temporary directory
 * and start its thread.  Connect QEMU with
 * "-chardev socket,id=ID,path=<vu_test_backend_get_socket_path()>".
 */
VuTestBackend *vu_test_backend_new(void);
/* Stop the thread, close every fd and remove the socket and directory */
void vu_test_backend_free(VuTestBackend *b);
const char *vu_test_backend_get_socket_path(VuTestBackend *b);

/* What the backend offers */
void vu_test_backend_set_features(VuTestBackend *b, uint64_t features);
void vu_test_backend_set_protocol_features(VuTestBackend *b,
                                           uint64_t features);
void vu_test_backend_set_queue_num(VuTestBackend *b, uint64_t queue_num);
void vu_test_backend_set_max_mem_slots(VuTestBackend *b, uint64_t slots);
/* Device config space returned by GET_CONFIG (at most 256 bytes) */
void vu_test_backend_set_config(VuTestBackend *b, const void *data,
                                size_t len);
/* Get a copy of the config space, which SET_CONFIG may have changed */
size_t vu_test_backend_get_config(VuTestBackend *b, void *data, size_t len);
/*
 * Shared memory regions returned by GET_SHMEM_CONFIG (default: none):
 * @sizes[shmid] for the first @count shmids, 0 meaning no region
 */
void vu_test_backend_set_shmem_regions(VuTestBackend *b,
                                       const uint64_t *sizes,
                                       unsigned int count);
/*
 * What to do with a request the backend does not know and that wants no
 * REPLY_ACK: close the connection (true, the default) or ignore it.  When
 * REPLY_ACK was negotiated and NEED_REPLY is set, it always gets a
 * non-zero (failure) reply instead.
 */
void vu_test_backend_set_close_on_unknown(VuTestBackend *b,
                                          bool close_conn);
void vu_test_backend_set_request_hook(VuTestBackend *b,
                                      VuTestRequestHook hook, void *opaque);

/* Connections */

/* Whether to accept new connections (default: true) */
void vu_test_backend_set_accepting(VuTestBackend *b, bool accepting);
/* Drop the current connection, if any; returns once it is closed */
void vu_test_backend_disconnect(VuTestBackend *b);
bool vu_test_backend_is_connected(VuTestBackend *b);
/* Number of connections accepted so far */
unsigned int vu_test_backend_get_connection_count(VuTestBackend *b);
/* Wait until @count connections have been accepted in total */
bool vu_test_backend_wait_connections(VuTestBackend *b, unsigned int count,
                                      unsigned int timeout_ms);
/* Wait until there is no connection */
bool vu_test_backend_wait_disconnected(VuTestBackend *b,
                                       unsigned int timeout_ms);
/*
 * Write raw bytes and fds on the front-end connection.  From a request
 * hook this is how a reply (well-formed or not) is sent.
 * Returns 0 or a negative errno.
 */
int vu_test_backend_send_raw(VuTestBackend *b, const void *buf, size_t len,
                             const int *fds, unsigned int nfds);

/* Request log */

unsigned int vu_test_backend_get_log_len(VuTestBackend *b);
/* A copy of log entry @idx, or NULL; free with vu_test_msg_record_free() */
VuTestMsgRecord *vu_test_backend_get_log_entry(VuTestBackend *b,
                                               unsigned int idx);
void vu_test_msg_record_free(VuTestMsgRecord *rec);
void vu_test_backend_clear_log(VuTestBackend *b);
/*
 * Wait until a @request is logged at index @from or later.  Returns its
 * index, or -1 on timeout.
 */
int vu_test_backend_wait_request(VuTestBackend *b, uint32_t request,
                                 unsigned int from, unsigned int timeout_ms);
/* Wait until the log holds at least @len entries */
bool vu_test_backend_wait_log_len(VuTestBackend *b, unsigned int len,
                                  unsigned int timeout_ms);
/*
 * Number of malformed messages seen (too big, too short or inconsistent
 * with their fds); each one also made the backend close the connection
 */
unsigned int vu_test_backend_get_protocol_errors(VuTestBackend *b);
/* Print the log from @from on as test messages, to explain a failure */
void vu_test_backend_dump_log(VuTestBackend *b, unsigned int from);
/*
 * Wait up to @timeout_ms until the log holds @n requests from @from on, and
 * assert that they are exactly @expected, well-formed requests that came on
 * connection @conn.  Returns the index after them.
 */
unsigned int vu_test_backend_assert_requests(VuTestBackend *b,
                                             unsigned int from,
                                             unsigned int conn,
                                             const uint32_t *expected,
                                             unsigned int n,
                                             unsigned int timeout_ms);
const char *vu_test_request_name(uint32_t request);

/* Negotiated state of the current connection */

uint64_t vu_test_backend_get_acked_features(VuTestBackend *b);
uint64_t vu_test_backend_get_acked_protocol_features(VuTestBackend *b);
bool vu_test_backend_get_vring(VuTestBackend *b, unsigned int idx,
                               VuTestVringInfo *info);
/* Copy up to @max regions into @regions; returns the number of regions */
unsigned int vu_test_backend_get_mem_regions(VuTestBackend *b,
                                             VuTestMemRegion *regions,
                                             unsigned int max);
/* Translate a front-end virtual address to a guest physical address */
bool vu_test_backend_uva_to_gpa(VuTestBackend *b, uint64_t uva,
                                uint64_t *gpa);
/* A dup() of the fd of memory region @idx (the caller closes it), or -1 */
int vu_test_backend_dup_mem_fd(VuTestBackend *b, unsigned int idx);

/* Back-end channel (SET_BACKEND_REQ_FD) */

bool vu_test_backend_has_backend_channel(VuTestBackend *b);
bool vu_test_backend_wait_backend_channel(VuTestBackend *b,
                                          unsigned int timeout_ms);
/*
 * Send a raw message: the header fields are used as given (so pass
 * VU_TEST_VERSION in @flags for a valid one), @fd (if not -1) goes in
 * SCM_RIGHTS.  Returns 0 or a negative errno.
 */
int vu_test_backend_send_backend_msg(VuTestBackend *b, uint32_t request,
                                     uint32_t flags, const void *payload,
                                     uint32_t size, int fd);
/*
 * Wait for the front-end's u64 reply to a @request.  Returns 0 and stores
 * the value in @reply, -ETIMEDOUT, -ECONNRESET if the channel was closed,
 * or -EPROTO if the reply is not a REPLY to @request with a u64.
 */
int vu_test_backend_recv_backend_reply(VuTestBackend *b, uint32_t request,
                                       unsigned int timeout_ms,
                                       uint64_t *reply);
/*
 * Send a well-formed request and, if @need_reply, set NEED_REPLY and wait
 * for the reply as vu_test_backend_recv_backend_reply() does.
 */
int vu_test_backend_backend_request(VuTestBackend *b, uint32_t request,
                                    const void *payload, uint32_t size,
                                    int fd, bool need_reply,
                                    unsigned int timeout_ms, uint64_t *reply);

/*
 * How many pages (@maps) and open fds (@fds) process @pid maps and holds of
 * memfds whose name contains @memfd_name: what the front-end still keeps
 * of a test's memfds after unmaps, resets and disconnects.
 */
void vu_test_count_memfd_uses(pid_t pid, const char *memfd_name,
                              int *maps, int *fds);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VuTestBackend, vu_test_backend_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VuTestMsgRecord, vu_test_msg_record_free)

#endif
