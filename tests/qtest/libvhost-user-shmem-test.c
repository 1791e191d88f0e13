/*
 * QTest for libvhost-user's VIRTIO Shared Memory API
 *
 * vu_set_shmem_regions(), vu_shmem_map(), vu_shmem_unmap() and their _errno
 * forms of subprojects/libvhost-user, from the back-end's side.  Two
 * front-ends:
 *
 * - a fake one on socketpairs, in the test itself, which sees every byte
 *   libvhost-user sends and answers anything: feature negotiation,
 *   GET_SHMEM_CONFIG, the requests and their replies (success, refusal,
 *   malformed, none without F_REPLY_ACK, a closed channel), and the
 *   arguments refused before anything is sent;
 * - QEMU with a vhost-user-test-device-pci, with libvhost-user serving it
 *   from a thread: the regions it declares appear, its mappings are what
 *   the guest sees in the BAR, and QEMU's refusals come back to the caller.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include "libqtest.h"
#include "qapi/error.h"
#include "qemu/memfd.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libvhost-user-qemu.h"

#define PROTOCOL_F(f)   (1ULL << VHOST_USER_PROTOCOL_F_##f)
#define HDR_SIZE        VHOST_USER_HDR_SIZE
#define VERSION         0x1
#define MMAP_SIZE       sizeof(VhostUserMMap)

/* Regions the tests declare: a gap at shmid 0 and 2 */
#define REGION1_SIZE    (2 * MiB)
#define REGION3_SIZE    (64 * KiB)

/* Fake front-end */

typedef struct FakeFe {
    VuDev dev;
    int fe;             /* the front-end's end of the main socket */
    int channel;        /* its end of the back-end channel, or -1 */
    int panics;
    uint64_t iface_protocol_features;
    VuDevIface iface;
} FakeFe;

static void fake_panic(VuDev *dev, const char *err)
{
    FakeFe *f = container_of(dev, FakeFe, dev);

    g_test_message("libvhost-user panic: %s", err);
    f->panics++;
}

static void fake_set_watch(VuDev *dev, int fd, int condition, vu_watch_cb cb,
                           void *data)
{
}

static void fake_remove_watch(VuDev *dev, int fd)
{
}

static uint64_t fake_get_protocol_features(VuDev *dev)
{
    return container_of(dev, FakeFe, dev)->iface_protocol_features;
}

static int memfd_new(uint64_t size)
{
    int fd = qemu_memfd_create("libvhost-user-shmem-test", size, false, 0, 0,
                               &error_abort);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/*
 * Receives one message: its header in *request, *flags and *size, up to
 * @max bytes of payload, and the fd that came with it in *fd (-1: none).
 */
static void recv_msg(int sock, uint32_t *request, uint32_t *flags,
                     uint32_t *size, void *payload, size_t max, int *fd)
{
    uint32_t hdr[3];
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cmsg;
    int nfds = 0;

    g_assert_cmpint(recvmsg(sock, &msg, MSG_WAITALL), ==, sizeof(hdr));
    *fd = -1;
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            g_assert_cmpint(nfds, ==, 1);
            memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
        }
    }
    *request = hdr[0];
    *flags = hdr[1];
    *size = hdr[2];
    g_assert_cmpuint(*size, <=, max);
    if (*size) {
        g_assert_cmpint(recv(sock, payload, *size, MSG_WAITALL), ==, *size);
    }
}

/* Nothing waits on @sock */
static void assert_nothing_sent(int sock)
{
    char c;

    g_assert_cmpint(recv(sock, &c, 1, MSG_DONTWAIT), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
}

/* The front-end sends a request and libvhost-user handles it */
static void fe_request(FakeFe *f, uint32_t request, const void *payload,
                       uint32_t size, int fd)
{
    vu_qemu_send_msg(f->fe, request, VERSION, payload, size, fd);
    g_assert_true(vu_dispatch(&f->dev));
}

static uint64_t fe_get_u64(FakeFe *f, uint32_t request)
{
    uint32_t req, flags, size;
    uint64_t u64;
    int fd;

    fe_request(f, request, NULL, 0, -1);
    recv_msg(f->fe, &req, &flags, &size, &u64, sizeof(u64), &fd);
    g_assert_cmpuint(req, ==, request);
    g_assert_cmpuint(flags & VHOST_USER_REPLY_MASK, !=, 0);
    g_assert_cmpuint(size, ==, sizeof(u64));
    g_assert_cmpint(fd, ==, -1);
    return u64;
}

static FakeFe *fake_new(void)
{
    FakeFe *f = g_new0(FakeFe, 1);
    int sv[2];

    f->iface.get_protocol_features = fake_get_protocol_features;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    f->fe = sv[0];
    f->channel = -1;
    g_assert_true(vu_init(&f->dev, 1, sv[1], fake_panic, NULL,
                          fake_set_watch, fake_remove_watch, &f->iface));
    return f;
}

static void fake_free(FakeFe *f)
{
    vu_deinit(&f->dev);
    close(f->fe);
    if (f->channel >= 0) {
        close(f->channel);
    }
    g_free(f);
}

static void fake_declare_regions(FakeFe *f)
{
    const uint64_t sizes[] = { 0, REGION1_SIZE, 0, REGION3_SIZE };

    g_assert_true(vu_set_shmem_regions(&f->dev, sizes, ARRAY_SIZE(sizes)));
}

/*
 * Negotiates @features (of those offered) and, with F_BACKEND_REQ, sets
 * up the back-end channel
 */
static void fake_negotiate(FakeFe *f, uint64_t features)
{
    uint64_t offered = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    int sv[2];

    g_assert_cmphex(offered & features, ==, features);
    fe_request(f, VHOST_USER_SET_PROTOCOL_FEATURES, &features,
               sizeof(features), -1);
    if (features & PROTOCOL_F(BACKEND_REQ)) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                   sv), ==, 0);
        fe_request(f, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, sv[1]);
        close(sv[1]);
        f->channel = sv[0];
    }
}

/* Queues the front-end's answer to the back-end's next request */
static void fe_queue_reply(FakeFe *f, uint32_t request, uint64_t u64)
{
    vu_qemu_send_msg(f->channel, request, VERSION | VHOST_USER_REPLY_MASK, &u64,
             sizeof(u64), -1);
}

/* Receives a SHMEM_MAP/UNMAP request from the back-end */
static void fe_recv_mmap(FakeFe *f, uint32_t *request, uint32_t *flags,
                         VhostUserMMap *mmap, int *fd)
{
    uint32_t size;

    memset(mmap, 0xa5, sizeof(*mmap));
    recv_msg(f->channel, request, flags, &size, mmap, sizeof(*mmap), fd);
    g_assert_cmpuint(size, ==, MMAP_SIZE);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;

    g_assert_cmpint(fstat(a, &sa), ==, 0);
    g_assert_cmpint(fstat(b, &sb), ==, 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static const uint64_t full_features = PROTOCOL_F(SHMEM) |
    PROTOCOL_F(BACKEND_REQ) | PROTOCOL_F(REPLY_ACK);

/*
 * F_SHMEM is offered by a device that declared regions, or that offers it
 * itself (and answers GET_SHMEM_CONFIG itself)
 */
static void test_offer(void)
{
    FakeFe *f = fake_new();
    uint64_t offered;

    offered = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    g_assert_cmphex(offered & PROTOCOL_F(SHMEM), ==, 0);
    g_assert_cmphex(offered & PROTOCOL_F(BACKEND_REQ), !=, 0);
    g_assert_cmphex(offered & PROTOCOL_F(REPLY_ACK), !=, 0);

    /* As a back-end written for upstream's libvhost-user does */
    f->iface_protocol_features = PROTOCOL_F(SHMEM);
    offered = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    g_assert_cmphex(offered & PROTOCOL_F(SHMEM), !=, 0);
    f->iface_protocol_features = 0;

    fake_declare_regions(f);
    offered = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    g_assert_cmphex(offered & PROTOCOL_F(SHMEM), !=, 0);
    g_assert_cmphex(offered & PROTOCOL_F(BACKEND_REQ), !=, 0);

    /* Count 0 declares no region */
    g_assert_true(vu_set_shmem_regions(&f->dev, NULL, 0));
    offered = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
    g_assert_cmphex(offered & PROTOCOL_F(SHMEM), ==, 0);

    g_assert_cmpint(f->panics, ==, 0);
    fake_free(f);
}

/* GET_SHMEM_CONFIG answers the declared regions, by shmid */
static void test_get_config(void)
{
    g_autofree uint64_t *too_many = g_new0(uint64_t,
                                           VHOST_USER_MAX_SHMEM_REGIONS + 1);
    const uint64_t unaligned[] = { REGION1_SIZE, 4097 };
    FakeFe *f = fake_new();
    VhostUserShMemConfig config;
    uint32_t req, flags, size;
    int fd, i;

    fake_declare_regions(f);
    /* Refused declarations change nothing */
    g_assert_false(vu_set_shmem_regions(&f->dev, too_many,
                                        VHOST_USER_MAX_SHMEM_REGIONS + 1));
    g_assert_false(vu_set_shmem_regions(&f->dev, unaligned,
                                        ARRAY_SIZE(unaligned)));
    fake_negotiate(f, full_features);

    fe_request(f, VHOST_USER_GET_SHMEM_CONFIG, NULL, 0, -1);
    memset(&config, 0xa5, sizeof(config));
    recv_msg(f->fe, &req, &flags, &size, &config, sizeof(config), &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_GET_SHMEM_CONFIG);
    g_assert_cmpuint(flags, ==, VERSION | VHOST_USER_REPLY_MASK);
    g_assert_cmpuint(size, ==, 8 + 8 * 256);
    g_assert_cmpint(fd, ==, -1);
    g_assert_cmpuint(config.nregions, ==, 2);
    for (i = 0; i < VHOST_USER_MAX_SHMEM_REGIONS; i++) {
        uint64_t want = i == 1 ? REGION1_SIZE : i == 3 ? REGION3_SIZE : 0;

        g_assert_cmphex(config.memory_sizes[i], ==, want);
    }
    g_assert_cmpint(f->panics, ==, 0);
    fake_free(f);
}

/* A back-end's own answer to GET_SHMEM_CONFIG, from process_msg */
static int own_config_process_msg(VuDev *dev, VhostUserMsg *vmsg,
                                  int *do_reply)
{
    VhostUserShMemConfig *config;

    if (vmsg->request != VHOST_USER_GET_SHMEM_CONFIG) {
        return 0;
    }
    config = calloc(1, sizeof(*config));
    config->nregions = 1;
    config->memory_sizes[7] = REGION3_SIZE;
    vmsg->data = (uint8_t *)config;
    vmsg->size = sizeof(*config);
    *do_reply = 1;
    return 1;
}

/*
 * A back-end that answers GET_SHMEM_CONFIG itself gets its answer sent,
 * once, and nothing else; its MAP/UNMAP go to the front-end unchecked
 * against regions libvhost-user does not know
 */
static void test_own_config(void)
{
    FakeFe *f = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);
    VhostUserShMemConfig config;
    VhostUserMMap mmap;
    uint32_t req, flags, size;
    int fd, i;

    f->iface.process_msg = own_config_process_msg;
    f->iface_protocol_features = PROTOCOL_F(SHMEM);
    fake_negotiate(f, full_features);

    fe_request(f, VHOST_USER_GET_SHMEM_CONFIG, NULL, 0, -1);
    recv_msg(f->fe, &req, &flags, &size, &config, sizeof(config), &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_GET_SHMEM_CONFIG);
    g_assert_cmpuint(flags, ==, VERSION | VHOST_USER_REPLY_MASK);
    g_assert_cmpuint(size, ==, sizeof(config));
    g_assert_cmpuint(config.nregions, ==, 1);
    for (i = 0; i < VHOST_USER_MAX_SHMEM_REGIONS; i++) {
        g_assert_cmphex(config.memory_sizes[i], ==,
                        i == 7 ? REGION3_SIZE : 0);
    }
    assert_nothing_sent(f->fe);

    /* Region 7 is the back-end's own business: the request goes out */
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 0);
    g_assert_true(vu_shmem_map(&f->dev, 7, 0, 0, page, 0, memfd));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(mmap.shmid, ==, 7);
    close(fd);
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, 1);
    g_assert_false(vu_shmem_unmap(&f->dev, 7, 0, 2 * page));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    assert_nothing_sent(f->channel);

    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* vu_shmem_map() and vu_shmem_unmap(): true on success, as upstream's */
static void test_bool_api(void)
{
    FakeFe *f = fake_new();
    FakeFe *g = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);
    VhostUserMMap mmap;
    uint32_t req, flags;
    int fd;

    fake_declare_regions(f);
    fake_negotiate(f, full_features);

    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 0);
    g_assert_true(vu_shmem_map(&f->dev, 1, 0, 0, page,
                               VHOST_USER_FLAG_MAP_RW, memfd));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    close(fd);
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 1);
    g_assert_false(vu_shmem_map(&f->dev, 1, 0, 0, page,
                                VHOST_USER_FLAG_MAP_RW, memfd));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    close(fd);
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, 0);
    g_assert_true(vu_shmem_unmap(&f->dev, 1, 0, page));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, 1);
    g_assert_false(vu_shmem_unmap(&f->dev, 1, 0, page));
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);

    /* Refused before sending: false too */
    g_assert_false(vu_shmem_map(&f->dev, 1, 0, 0, 0,
                                VHOST_USER_FLAG_MAP_RW, memfd));
    g_assert_false(vu_shmem_unmap(&f->dev, 2, 0, page));
    assert_nothing_sent(f->channel);

    /* Not negotiated */
    fake_negotiate(g, PROTOCOL_F(BACKEND_REQ) | PROTOCOL_F(REPLY_ACK));
    g_assert_false(vu_shmem_map(&g->dev, 1, 0, 0, page,
                                VHOST_USER_FLAG_MAP_RW, memfd));
    g_assert_false(vu_shmem_unmap(&g->dev, 1, 0, page));
    assert_nothing_sent(g->channel);

    g_assert_cmpint(f->panics + g->panics, ==, 0);
    close(memfd);
    fake_free(f);
    fake_free(g);
}

/* With F_REPLY_ACK: the requests as sent, and the front-end's yes */
static void test_map_unmap(void)
{
    FakeFe *f = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(4 * page);
    VhostUserMMap mmap;
    uint32_t req, flags;
    int fd;

    fake_declare_regions(f);
    fake_negotiate(f, full_features);

    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 0);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, page, 2 * page, 2 * page,
                                       VHOST_USER_FLAG_MAP_RW, memfd), ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_BACKEND_SHMEM_MAP);
    g_assert_cmpuint(flags, ==, VERSION | VHOST_USER_NEED_REPLY_MASK);
    g_assert_cmpuint(mmap.shmid, ==, 1);
    for (int i = 0; i < sizeof(mmap.padding); i++) {
        g_assert_cmpuint(mmap.padding[i], ==, 0);
    }
    g_assert_cmphex(mmap.fd_offset, ==, page);
    g_assert_cmphex(mmap.shm_offset, ==, 2 * page);
    g_assert_cmphex(mmap.len, ==, 2 * page);
    g_assert_cmphex(mmap.flags, ==, VHOST_USER_FLAG_MAP_RW);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(same_file(fd, memfd));
    close(fd);

    /* Read-only, the whole of the last region */
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 0);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 3, 0, 0, REGION3_SIZE, 0,
                                       memfd),
                    ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(mmap.shmid, ==, 3);
    g_assert_cmphex(mmap.len, ==, REGION3_SIZE);
    g_assert_cmphex(mmap.flags, ==, 0);
    close(fd);

    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, 0);
    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 1, 2 * page,
                                         2 * page), ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_BACKEND_SHMEM_UNMAP);
    g_assert_cmpuint(flags, ==, VERSION | VHOST_USER_NEED_REPLY_MASK);
    g_assert_cmpint(fd, ==, -1);
    g_assert_cmpuint(mmap.shmid, ==, 1);
    g_assert_cmphex(mmap.fd_offset, ==, 0);
    g_assert_cmphex(mmap.shm_offset, ==, 2 * page);
    g_assert_cmphex(mmap.len, ==, 2 * page);
    g_assert_cmphex(mmap.flags, ==, 0);

    /* The caller's fd stays the caller's */
    g_assert_cmpint(fcntl(memfd, F_GETFD), >=, 0);
    assert_nothing_sent(f->channel);
    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* A front-end's refusal comes back to the caller, nothing else happens */
static void test_refused(void)
{
    FakeFe *f = fake_new();
    int memfd = memfd_new(REGION1_SIZE);
    VhostUserMMap mmap;
    uint32_t req, flags;
    int fd;

    fake_declare_regions(f);
    fake_negotiate(f, full_features);

    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 1);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, 0, 0, REGION1_SIZE,
                                       VHOST_USER_FLAG_MAP_RW, memfd),
                    ==, -EREMOTEIO);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    close(fd);

    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, UINT64_MAX);
    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 1, 0, REGION1_SIZE),
                    ==, -EREMOTEIO);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);

    /* The channel still works */
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_MAP, 0);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, 0, 0, REGION1_SIZE,
                                       VHOST_USER_FLAG_MAP_RW, memfd), ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    close(fd);

    g_assert_false(f->dev.broken);
    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* A reply that is not one, or none at all, is an error for the caller */
static void test_bad_reply(void)
{
    FakeFe *f = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);
    VhostUserMMap mmap;
    uint32_t req, flags;
    int fd;

    fake_declare_regions(f);
    fake_negotiate(f, full_features);

    /* The answer to another request */
    fe_queue_reply(f, VHOST_USER_BACKEND_SHMEM_UNMAP, 0);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW,
                                       memfd), ==, -EIO);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    close(fd);

    /* No u64 in it */
    vu_qemu_send_msg(f->channel, VHOST_USER_BACKEND_SHMEM_UNMAP,
             VERSION | VHOST_USER_REPLY_MASK, NULL, 0, -1);
    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 1, 0, page), ==, -EIO);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);

    /* The front-end stops talking: end of file where the reply should be */
    g_assert_cmpint(shutdown(f->channel, SHUT_WR), ==, 0);
    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 1, 0, page), ==, -EIO);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);

    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* Without F_REPLY_ACK the request goes without NEED_REPLY, no wait */
static void test_no_reply_ack(void)
{
    FakeFe *f = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);
    VhostUserMMap mmap;
    uint32_t req, flags;
    int fd;

    fake_declare_regions(f);
    fake_negotiate(f, PROTOCOL_F(SHMEM) | PROTOCOL_F(BACKEND_REQ));

    /* Nothing is queued: waiting for a reply would hang the test */
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 3, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW, memfd), ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_BACKEND_SHMEM_MAP);
    g_assert_cmpuint(flags, ==, VERSION);
    g_assert_true(same_file(fd, memfd));
    close(fd);

    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 3, 0, page), ==, 0);
    fe_recv_mmap(f, &req, &flags, &mmap, &fd);
    g_assert_cmpuint(req, ==, VHOST_USER_BACKEND_SHMEM_UNMAP);
    g_assert_cmpuint(flags, ==, VERSION);

    assert_nothing_sent(f->channel);
    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* Without F_SHMEM, or without the channel, nothing is sent */
static void test_not_negotiated(void)
{
    FakeFe *f = fake_new();
    FakeFe *g = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);

    /* Before any negotiation */
    fake_declare_regions(f);
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW,
                                       memfd), ==, -ENOTSUP);

    /* Offered, not taken */
    fake_negotiate(f, PROTOCOL_F(BACKEND_REQ) | PROTOCOL_F(REPLY_ACK));
    g_assert_cmpint(vu_shmem_map_errno(&f->dev, 1, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW,
                                       memfd), ==, -ENOTSUP);
    g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, 1, 0, page), ==, -ENOTSUP);
    assert_nothing_sent(f->channel);

    /* Taken, but no back-end channel */
    fake_declare_regions(g);
    fake_negotiate(g, PROTOCOL_F(SHMEM) | PROTOCOL_F(REPLY_ACK));
    g_assert_cmpint(vu_shmem_map_errno(&g->dev, 1, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW, memfd),
                    ==, -ENOTCONN);
    g_assert_cmpint(vu_shmem_unmap_errno(&g->dev, 1, 0, page), ==, -ENOTCONN);

    g_assert_cmpint(f->panics + g->panics, ==, 0);
    close(memfd);
    fake_free(f);
    fake_free(g);
}

/* Requests the front-end would refuse are refused before sending */
static void test_invalid(void)
{
    FakeFe *f = fake_new();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(REGION1_SIZE);
    const uint64_t rw = VHOST_USER_FLAG_MAP_RW;
    const struct {
        uint8_t shmid;
        uint64_t fd_offset, shm_offset, len, flags;
        int fd;
    } maps[] = {
        { 0, 0, 0, page, rw, memfd },                   /* no region 0 */
        { 2, 0, 0, page, rw, memfd },                   /* no region 2 */
        { 255, 0, 0, page, rw, memfd },                 /* no region 255 */
        { 1, 0, 0, 0, rw, memfd },                      /* empty */
        { 1, 0, 0, REGION1_SIZE + page, rw, memfd },    /* too long */
        { 1, 0, REGION1_SIZE, page, rw, memfd },        /* past the end */
        { 1, 0, REGION1_SIZE - page, 2 * page, rw, memfd },
        { 1, 0, UINT64_MAX - page + 1, 2 * page, rw, memfd },  /* wraps */
        { 1, 1, 0, page, rw, memfd },                   /* unaligned */
        { 1, 0, 512, page, rw, memfd },
        { 1, 0, 0, page + 512, rw, memfd },
        { 1, 0, 0, page, rw | 2, memfd },               /* unknown flag */
        { 1, 0, 0, page, 1ULL << 63, memfd },
        { 1, 0, 0, page, rw, -1 },                      /* no fd */
    };
    const struct {
        uint8_t shmid;
        uint64_t shm_offset, len;
    } unmaps[] = {
        { 0, 0, page }, { 2, 0, page }, { 1, 0, 0 },
        { 1, REGION1_SIZE, page }, { 3, 0, REGION3_SIZE + page },
        { 1, 512, page }, { 1, 0, page - 512 },
    };
    int i;

    fake_declare_regions(f);
    fake_negotiate(f, full_features);
    for (i = 0; i < ARRAY_SIZE(maps); i++) {
        g_test_message("map %d", i);
        g_assert_cmpint(vu_shmem_map_errno(&f->dev, maps[i].shmid,
                                           maps[i].fd_offset,
                                           maps[i].shm_offset, maps[i].len,
                                           maps[i].flags, maps[i].fd),
                        ==, -EINVAL);
    }
    for (i = 0; i < ARRAY_SIZE(unmaps); i++) {
        g_test_message("unmap %d", i);
        g_assert_cmpint(vu_shmem_unmap_errno(&f->dev, unmaps[i].shmid,
                                             unmaps[i].shm_offset,
                                             unmaps[i].len),
                        ==, -EINVAL);
    }
    assert_nothing_sent(f->channel);
    g_assert_cmpint(f->panics, ==, 0);
    close(memfd);
    fake_free(f);
}

/* QEMU as the front-end */

#define SHMEM_BAR       VU_QEMU_SHMEM_BAR

/* QEMU with a device whose back-end declares regions @sizes */
static VuQemu *qfe_start_with(const uint64_t *sizes, unsigned int count)
{
    VuQemu *q = vu_qemu_start(NULL, sizes, count);

    if (count) {
        q->bar = qpci_iomap(q->pdev, SHMEM_BAR, NULL);
    }
    return q;
}

static VuQemu *qfe_start(void)
{
    const uint64_t sizes[] = { 0, REGION1_SIZE, 0, REGION3_SIZE };

    return qfe_start_with(sizes, ARRAY_SIZE(sizes));
}

static void qfe_stop(VuQemu *q)
{
    /* QEMU closed the connection and libvhost-user never panicked */
    g_assert_true(vu_qemu_stop(q, false));
}

/*
 * The regions per x-query-virtio-shmem: "shmid:size" each, and each
 * mapping as " offset+len" (":ro" when read-only), separated by "; "
 */
static char *qfe_query(VuQemu *q)
{
    QDict *resp = qtest_qmp(q->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    GString *out = g_string_new("");
    QListEntry *e, *m;
    QList *regions;

    g_assert_cmpint(qlist_size(devs), ==, 1);
    regions = qdict_get_qlist(qobject_to(QDict, qlist_peek(devs)), "regions");
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        g_string_append_printf(out, "%s%" PRId64 ":0x%" PRIx64,
                               out->len ? "; " : "",
                               qdict_get_int(r, "shmid"),
                               qdict_get_int(r, "size"));
        QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "mappings"), m) {
            QDict *map = qobject_to(QDict, qlist_entry_obj(m));

            g_string_append_printf(out, " 0x%" PRIx64 "+0x%" PRIx64 "%s",
                                   qdict_get_int(map, "shm-offset"),
                                   qdict_get_int(map, "len"),
                                   qdict_get_bool(map, "rw") ? "" : ":ro");
        }
    }
    qobject_unref(resp);
    return g_string_free(out, false);
}

#define REGION3_IN_BAR  REGION1_SIZE    /* back to back, by shmid */

/* What the guest reads at @off of the shared memory BAR */
static uint64_t bar_readq(VuQemu *q, uint64_t off)
{
    return qpci_io_readq(q->pdev, q->bar, off);
}

/* Mappings made through libvhost-user are what the guest sees */
static void test_qemu_map(void)
{
    VuQemu *q = qfe_start();
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(4 * page);
    uint64_t *mem = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED,
                         memfd, 0);
    char *s;
    int i;

    g_assert(mem != MAP_FAILED);
    for (i = 0; i < 4 * page / sizeof(*mem); i++) {
        mem[i] = 0x5100000000000000ULL + i;
    }

    /* GET_SHMEM_CONFIG made QEMU create the declared regions */
    s = qfe_query(q);
    g_assert_cmpstr(s, ==, "1:0x200000; 3:0x10000");
    g_free(s);

    /* Pages 1 and 2 of the memfd at page 4 of region 1, read-write */
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 1, page, 4 * page, 2 * page,
                                       VHOST_USER_FLAG_MAP_RW, memfd), ==, 0);
    /* Page 3 at the start of region 3, read-only */
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 3, 3 * page, 0, page, 0,
                                       memfd),
                    ==, 0);
    s = qfe_query(q);
    g_assert_cmpstr(s, ==,
                    "1:0x200000 0x4000+0x2000; 3:0x10000 0x0+0x1000:ro");
    g_free(s);

    g_assert_cmphex(bar_readq(q, 4 * page), ==, mem[page / 8]);
    g_assert_cmphex(bar_readq(q, 6 * page - 8), ==, mem[3 * page / 8 - 1]);
    g_assert_cmphex(bar_readq(q, REGION3_IN_BAR + 8), ==,
                    mem[3 * page / 8 + 1]);
    qpci_io_writeq(q->pdev, q->bar, 5 * page, 0xfeedf00dULL);
    g_assert_cmphex(mem[2 * page / 8], ==, 0xfeedf00dULL);
    qpci_io_writeq(q->pdev, q->bar, REGION3_IN_BAR, 0xbadULL);
    g_assert_cmphex(mem[3 * page / 8], ==, 0x5100000000000000ULL +
                    3 * page / 8);

    /* QEMU refuses; the caller hears it, nothing changes */
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 1, 0, 5 * page, page,
                                       VHOST_USER_FLAG_MAP_RW, memfd),
                    ==, -EREMOTEIO);                    /* overlaps */
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 1, 2 * page, 8 * page,
                                       4 * page, VHOST_USER_FLAG_MAP_RW,
                                       memfd),
                    ==, -EREMOTEIO);                    /* past the fd */
    g_assert_cmpint(vu_shmem_unmap_errno(&q->dev, 1, 4 * page, page),
                    ==, -EREMOTEIO);                    /* half of one */
    g_assert_cmpint(vu_shmem_unmap_errno(&q->dev, 1, 0, page),
                    ==, -EREMOTEIO);                    /* none there */
    s = qfe_query(q);
    g_assert_cmpstr(s, ==,
                    "1:0x200000 0x4000+0x2000; 3:0x10000 0x0+0x1000:ro");
    g_free(s);

    g_assert_cmpint(vu_shmem_unmap_errno(&q->dev, 1, 4 * page,
                                         2 * page), ==, 0);
    g_assert_cmpint(vu_shmem_unmap_errno(&q->dev, 3, 0, page), ==, 0);
    s = qfe_query(q);
    g_assert_cmpstr(s, ==, "1:0x200000; 3:0x10000");
    g_free(s);

    /* The range can be mapped again */
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 1, 0, 4 * page, page,
                                       VHOST_USER_FLAG_MAP_RW, memfd), ==, 0);
    g_assert_cmphex(bar_readq(q, 4 * page), ==, mem[0]);

    munmap(mem, 4 * page);
    close(memfd);
    qfe_stop(q);
}

/* A back-end without regions: QEMU gets no F_SHMEM, mapping is refused */
static void test_qemu_no_regions(void)
{
    VuQemu *q = qfe_start_with(NULL, 0);
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(page);
    QDict *resp;

    resp = qtest_qmp(q->qts, "{'execute': 'x-query-virtio-shmem'}");
    g_assert_true(qlist_empty(qdict_get_qlist(resp, "return")));
    qobject_unref(resp);
    g_assert_cmpint(vu_shmem_map_errno(&q->dev, 1, 0, 0, page,
                                       VHOST_USER_FLAG_MAP_RW,
                                       memfd), ==, -ENOTSUP);
    close(memfd);
    qfe_stop(q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);

    qtest_add_func("/libvhost-user/shmem/offer", test_offer);
    qtest_add_func("/libvhost-user/shmem/get-config", test_get_config);
    qtest_add_func("/libvhost-user/shmem/own-config", test_own_config);
    qtest_add_func("/libvhost-user/shmem/bool-api", test_bool_api);
    qtest_add_func("/libvhost-user/shmem/map-unmap", test_map_unmap);
    qtest_add_func("/libvhost-user/shmem/refused", test_refused);
    qtest_add_func("/libvhost-user/shmem/bad-reply", test_bad_reply);
    qtest_add_func("/libvhost-user/shmem/no-reply-ack", test_no_reply_ack);
    qtest_add_func("/libvhost-user/shmem/not-negotiated",
                   test_not_negotiated);
    qtest_add_func("/libvhost-user/shmem/invalid", test_invalid);
    qtest_add_func("/libvhost-user/shmem/qemu/map", test_qemu_map);
    qtest_add_func("/libvhost-user/shmem/qemu/no-regions",
                   test_qemu_no_regions);
    return g_test_run();
}
