/*
 * vhost-user-fs: what the device does once its back-end is gone
 *
 * virtiofs daemons do not reconnect.  Without the daemon, requests the
 * guest queued would wait for ever, and its file ranges would stay in the
 * DAX cache window.  So when the connection closes, the device drops the
 * daemon's mappings, takes the queues back from vhost and answers every
 * request, the ones the daemon had taken included, with EIO.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "block/aio.h"
#include "hw/virtio/virtio-bus.h"
#include "hw/virtio/vhost-user-fs-disconnect.h"
#include "hw/virtio/virtio-shmem.h"
#include "standard-headers/linux/fuse.h"
#include "trace.h"

/*
 * FUSE messages on virtio-fs are in the guest's byte order, the order
 * virtio keeps for legacy devices
 */
static uint32_t vhost_user_fs_guest32(VirtIODevice *vdev, uint32_t val)
{
    return vdev->device_endian == VIRTIO_DEVICE_ENDIAN_BIG ?
           cpu_to_be32(val) : cpu_to_le32(val);
}

void vhost_user_fs_fail_requests(VHostUserFS *fs, VirtQueue *vq)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(fs);
    VirtQueueElement *elem;
    struct fuse_out_header out;
    struct fuse_in_header in;
    unsigned int answered = 0;
    size_t len;

    /* A stopped VM's memory stays as it is: the requests wait for cont */
    if (!fs->backend_gone || !vdev->vm_running) {
        return;
    }
    while ((elem = virtqueue_pop(vq, sizeof(VirtQueueElement)))) {
        len = 0;
        /* A FORGET wants no answer and has nowhere to put one */
        if (elem->in_num) {
            memset(&in, 0, sizeof(in));
            iov_to_buf(elem->out_sg, elem->out_num, 0, &in, sizeof(in));
            out.len = vhost_user_fs_guest32(vdev, sizeof(out));
            out.error = vhost_user_fs_guest32(vdev, -EIO);
            out.unique = in.unique;     /* opaque: copied as it came */
            len = iov_from_buf(elem->in_sg, elem->in_num, 0, &out,
                               sizeof(out));
        }
        trace_vhost_user_fs_fail_request(virtio_get_queue_index(vq),
                                         elem->in_num, len);
        virtqueue_push(vq, elem, len);
        g_free(elem);
        answered++;
    }
    if (answered) {
        virtio_notify(vdev, vq);
    }
}

void vhost_user_fs_fail_queues(VHostUserFS *fs)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(fs);
    int i;

    if (!(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        return;
    }
    for (i = 0; i < fs->vhost_dev.nvqs; i++) {
        vhost_user_fs_fail_requests(fs, virtio_get_queue(vdev, i));
    }
}

/* What the bottom half needs once the connection closed */
typedef struct VhostUserFsGone {
    VHostUserFS *fs;
    Object *owner;      /* holds @fs's memory: the proxy it is embedded in */
} VhostUserFsGone;

/*
 * The object whose allocation holds @fs.  Found when the bottom half is
 * scheduled: an unplug meanwhile unparents @fs from its proxy.
 */
static Object *vhost_user_fs_owner(VHostUserFS *fs)
{
    Object *obj = OBJECT(fs);

    while (!obj->free && obj->parent) {
        obj = obj->parent;
    }
    return obj;
}

static void vhost_user_fs_backend_gone(void *opaque)
{
    VhostUserFsGone *gone = opaque;
    VHostUserFS *fs = gone->fs;
    VirtIODevice *vdev = VIRTIO_DEVICE(fs);
    g_autofree char *name = NULL;
    VirtioBusClass *k;
    BusState *qbus;
    bool started;

    /* An unplug since cleaned up everything, and took the device's bus */
    if (!DEVICE(fs)->realized || fs->backend_gone) {
        goto out;
    }
    qbus = BUS(qdev_get_parent_bus(DEVICE(vdev)));
    k = VIRTIO_BUS_GET_CLASS(qbus);
    name = object_get_canonical_path(OBJECT(fs));
    started = vhost_dev_is_started(&fs->vhost_dev);
    trace_vhost_user_fs_backend_gone(name, started);
    warn_report("%s: vhost-user back-end disconnected: file system requests "
                "fail from now on", name);

    fs->backend_gone = true;
    /*
     * Its files leave the guest's DAX window, and stay out: a daemon that
     * kept its back-end channel gets its SHMEM requests refused
     */
    fs->vhost_user.shmem_vdev = NULL;
    virtio_shmem_unmap_all(vdev);
    if (started) {
        /* Requests it took and never answered are popped again below */
        vhost_dev_force_stop(&fs->vhost_dev, vdev, true);
        if (k->set_guest_notifiers) {
            k->set_guest_notifiers(qbus->parent, fs->vhost_dev.nvqs, false);
        }
        vhost_dev_disable_notifiers(&fs->vhost_dev, vdev);
    }
    /* Answer what is queued now; later kicks come to QEMU */
    vhost_user_fs_fail_queues(fs);
out:
    object_unref(gone->owner);
    g_free(gone);
}

static void vhost_user_fs_event(void *opaque, QEMUChrEvent event)
{
    VHostUserFS *fs = opaque;
    VhostUserFsGone *gone;

    if (event != CHR_EVENT_CLOSED) {
        return;
    }
    /*
     * Not now: the close may come inside a vhost-user request that the
     * device or a memory transaction is waiting for.
     */
    gone = g_new(VhostUserFsGone, 1);
    gone->fs = fs;
    gone->owner = object_ref(vhost_user_fs_owner(fs));
    aio_bh_schedule_oneshot(qemu_get_aio_context(),
                            vhost_user_fs_backend_gone, gone);
}

void vhost_user_fs_watch_backend(VHostUserFS *fs)
{
    qemu_chr_fe_set_handlers(&fs->conf.chardev, NULL, NULL,
                             vhost_user_fs_event, NULL, fs, NULL, true);
}

void vhost_user_fs_unwatch_backend(VHostUserFS *fs)
{
    qemu_chr_fe_set_handlers(&fs->conf.chardev, NULL, NULL, NULL, NULL,
                             NULL, NULL, false);
}
