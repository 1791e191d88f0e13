/*
 * A QEMU under qtest whose vhost-user-test-device-pci has libvhost-user,
 * in a thread of the test, as its back-end
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/atomic.h"
#include "libqos/malloc-pc.h"
#include "libvhost-user-qemu.h"

static void vu_qemu_panic(VuDev *dev, const char *err)
{
    VuQemu *q = container_of(dev, VuQemu, dev);

    /* Requests then fail with -EIO, which the caller asserts on */
    fprintf(stderr, "libvhost-user panic: %s\n", err);
    qatomic_inc(&q->panics);
}

/* The test's thread polls the socket itself */
static void vu_qemu_set_watch(VuDev *dev, int fd, int condition,
                              vu_watch_cb cb, void *data)
{
}

static void vu_qemu_remove_watch(VuDev *dev, int fd)
{
}

static int vu_qemu_process_msg(VuDev *dev, VhostUserMsg *msg, int *do_reply)
{
    VuQemu *q = container_of(dev, VuQemu, dev);

    if (msg->request == VHOST_USER_NONE) {
        /* End of the connection: libvhost-user would exit() */
        qatomic_set(&q->gone, true);
        *do_reply = 0;
        return 1;
    }
    return q->process_msg ? q->process_msg(dev, msg, do_reply) : 0;
}

static uint64_t vu_qemu_get_protocol_features(VuDev *dev)
{
    VuQemu *q = container_of(dev, VuQemu, dev);

    return q->get_protocol_features ? q->get_protocol_features(dev) : 0;
}

static int vu_qemu_get_config(VuDev *dev, uint8_t *config, uint32_t len)
{
    memset(config, 0, len);
    return 0;
}

static int vu_qemu_set_config(VuDev *dev, const uint8_t *data,
                              uint32_t offset, uint32_t size, uint32_t flags)
{
    return 0;
}

/* The back-end's main thread: takes QEMU's connection and serves it */
static gpointer vu_qemu_serve(gpointer opaque)
{
    VuQemu *q = opaque;
    int sock = accept(q->lsock, NULL, NULL);

    g_assert_cmpint(sock, >=, 0);
    g_assert_true(vu_init(&q->dev, 1, sock, vu_qemu_panic, NULL,
                          vu_qemu_set_watch, vu_qemu_remove_watch,
                          &q->iface));
    g_assert_true(vu_set_shmem_regions(&q->dev, q->sizes, q->count));
    qatomic_store_release(&q->ready, true);

    while (!qatomic_read(&q->gone)) {
        struct pollfd pfd = { .fd = q->dev.sock, .events = POLLIN };

        if (poll(&pfd, 1, -1) < 0) {
            g_assert_cmpint(errno, ==, EINTR);
            continue;
        }
        if (!vu_dispatch(&q->dev)) {
            break;
        }
    }
    return NULL;
}

/* Listen on q->sock_path and serve the first connection in a thread */
static void vu_qemu_listen(VuQemu *q)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    q->iface.process_msg = vu_qemu_process_msg;
    q->iface.get_protocol_features = vu_qemu_get_protocol_features;
    q->iface.get_config = vu_qemu_get_config;
    q->iface.set_config = vu_qemu_set_config;
    q->dir = g_dir_make_tmp("libvhost-user-qemu-XXXXXX", NULL);
    g_assert_nonnull(q->dir);
    q->sock_path = g_build_filename(q->dir, "vu.sock", NULL);
    g_assert_cmpuint(strlen(q->sock_path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, q->sock_path);
    q->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(q->lsock, >=, 0);
    g_assert_cmpint(bind(q->lsock, (struct sockaddr *)&addr, sizeof(addr)),
                    ==, 0);
    g_assert_cmpint(listen(q->lsock, 1), ==, 0);
    q->thread = g_thread_new("libvhost-user", vu_qemu_serve, q);
}

static VuQemu *vu_qemu_start_with(const char *extra_args, VuQemu *q)
{
    vu_qemu_listen(q);
    q->qts = qtest_initf(
        "%s -M q35,memory-backend=mem -m 256M -nodefaults "
        "-object memory-backend-memfd,id=mem,size=256M,share=on "
        "-chardev socket,id=chr0,path=%s "
        "-device vhost-user-test-device-pci,id=vdev0,chardev=chr0,"
        "virtio-id=27,num_vqs=1,config_size=16,addr=%d.0",
        extra_args ? extra_args : "", q->sock_path, VU_QEMU_SLOT);
    /* QEMU realized the device, so the back-end is ready */
    g_assert_true(qatomic_load_acquire(&q->ready));
    close(q->lsock);

    pc_alloc_init(&q->alloc, q->qts, ALLOC_NO_FLAGS);
    q->pcibus = qpci_new_pc(q->qts, &q->alloc);
    q->pdev = qpci_device_find(q->pcibus, QPCI_DEVFN(VU_QEMU_SLOT, 0));
    g_assert_nonnull(q->pdev);
    qpci_device_enable(q->pdev);
    return q;
}

VuQemu *vu_qemu_start(const char *extra_args, const uint64_t *sizes,
                      unsigned int count)
{
    VuQemu *q = g_new0(VuQemu, 1);

    q->sizes = sizes;
    q->count = count;
    return vu_qemu_start_with(extra_args, q);
}

VuQemu *vu_qemu_start_args(const char *args, const uint64_t *sizes,
                           unsigned int count)
{
    VuQemu *q = g_new0(VuQemu, 1);

    q->sizes = sizes;
    q->count = count;
    vu_qemu_listen(q);
    q->qts = qtest_initf(args, q->sock_path);
    g_assert_true(qatomic_load_acquire(&q->ready));
    close(q->lsock);
    return q;
}

VuQemu *vu_qemu_start_custom(const char *extra_args,
                             vu_process_msg_cb process_msg,
                             vu_get_features_cb get_protocol_features)
{
    VuQemu *q = g_new0(VuQemu, 1);

    q->process_msg = process_msg;
    q->get_protocol_features = get_protocol_features;
    return vu_qemu_start_with(extra_args, q);
}

bool vu_qemu_stop(VuQemu *q, bool qemu_dead)
{
    bool clean;

    g_free(q->pdev);
    if (q->pcibus) {
        qpci_free_pc(q->pcibus);
        alloc_destroy(&q->alloc);
    }
    if (!qemu_dead) {
        qtest_quit(q->qts);
    }
    g_thread_join(q->thread);
    clean = qatomic_read(&q->gone) && !qatomic_read(&q->panics);
    vu_deinit(&q->dev);
    unlink(q->sock_path);
    rmdir(q->dir);
    g_free(q->sock_path);
    g_free(q->dir);
    g_free(q);
    return clean;
}

void vu_qemu_send_msg(int sock, uint32_t request, uint32_t flags,
                      const void *payload, uint32_t size, int fd)
{
    struct {
        uint32_t request;
        uint32_t flags;
        uint32_t size;
    } QEMU_PACKED hdr = { request, flags, size };
    char control[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov[2] = {
        { .iov_base = &hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)payload, .iov_len = size },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
    struct cmsghdr *cmsg;

    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    g_assert_cmpint(sendmsg(sock, &msg, 0), ==, sizeof(hdr) + size);
}
