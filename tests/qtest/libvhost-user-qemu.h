/*
 * A QEMU under qtest whose vhost-user-test-device-pci has libvhost-user,
 * in a thread of the test, as its back-end
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBVHOST_USER_QEMU_H
#define LIBVHOST_USER_QEMU_H

#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/pci-pc.h"
#include "libvhost-user.h"

/* Where the device sits, and the BAR of its shared memory regions */
#define VU_QEMU_SLOT        4
#define VU_QEMU_SHMEM_BAR   2

typedef struct VuQemu {
    VuDev dev;
    VuDevIface iface;
    char *dir;
    char *sock_path;
    GThread *thread;
    int lsock;
    const uint64_t *sizes;
    unsigned int count;
    /* The back-end's own callbacks, tried first (vu_qemu_start_custom()) */
    vu_process_msg_cb process_msg;
    vu_get_features_cb get_protocol_features;
    bool ready;         /* the thread set up dev */
    bool gone;          /* QEMU closed the connection */
    int panics;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QPCIDevice *pdev;   /* the device, memory decoding enabled */
    QPCIBar bar;        /* for the caller to map */
} VuQemu;

/*
 * Start QEMU with @extra_args before the machine options and a
 * vhost-user-test-device-pci (virtio-pmem's id) whose back-end declares the
 * shared memory regions @sizes, by shmid, for the first @count shmids.
 */
VuQemu *vu_qemu_start(const char *extra_args, const uint64_t *sizes,
                      unsigned int count);

/*
 * The same with the whole QEMU command line @args, whose one %s is the
 * back-end's socket path: it must plug a device with that chardev.  No
 * libqos PCI state (pcibus, pdev, alloc) is set up.
 */
VuQemu *vu_qemu_start_args(const char *args, const uint64_t *sizes,
                           unsigned int count);

/*
 * The same for a back-end that declares no regions to libvhost-user but
 * has its own @process_msg, tried before the harness's, and
 * @get_protocol_features: one written for upstream's libvhost-user API.
 */
VuQemu *vu_qemu_start_custom(const char *extra_args,
                             vu_process_msg_cb process_msg,
                             vu_get_features_cb get_protocol_features);

/*
 * Quit QEMU (unless @qemu_dead: it is gone already) and free everything.
 * Returns whether the back-end saw QEMU close the connection and never
 * panicked.
 */
bool vu_qemu_stop(VuQemu *q, bool qemu_dead);

/*
 * For tests that play libvhost-user's peer: send one vhost-user message
 * on @sock, its header, @size bytes of @payload, and @fd unless it is -1.
 */
void vu_qemu_send_msg(int sock, uint32_t request, uint32_t flags,
                      const void *payload, uint32_t size, int fd);

#endif
