/*
 * libvhost-user: VIRTIO Shared Memory Regions
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Included by libvhost-user.h; back-ends include that.
 */

#ifndef LIBVHOST_USER_SHMEM_H
#define LIBVHOST_USER_SHMEM_H

/**
 * vu_set_shmem_regions:
 * @dev: a VuDev context
 * @sizes: the size of each VIRTIO Shared Memory Region, indexed by shmid;
 *         0 means the device has no region with that shmid
 * @count: number of entries in @sizes, at most VHOST_USER_MAX_SHMEM_REGIONS
 *
 * Declares the VIRTIO Shared Memory Regions of the device, as the answer
 * to VHOST_USER_GET_SHMEM_CONFIG.  A device with at least one region offers
 * VHOST_USER_PROTOCOL_F_SHMEM.  (A back-end may instead offer the feature
 * through get_protocol_features and answer VHOST_USER_GET_SHMEM_CONFIG in
 * its process_msg callback, as with upstream's libvhost-user.)  The
 * feature also needs the back-end channel
 * (VHOST_USER_PROTOCOL_F_BACKEND_REQ) to be negotiated for
 * vu_shmem_map() and vu_shmem_unmap() to work.  Call it after vu_init()
 * and before the front-end asks for the protocol features (its first
 * messages): the answer holds for the whole connection.  A @count of 0
 * declares no region.
 *
 * Returns: true on success; false, changing nothing, when @count is too
 * large or a size is not a multiple of the page size.
 */
bool vu_set_shmem_regions(VuDev *dev, const uint64_t *sizes,
                          unsigned int count);

/**
 * vu_shmem_map:
 * @dev: a VuDev context
 * @shmid: VIRTIO Shared Memory Region ID
 * @fd_offset: offset of the mapping in @fd
 * @shm_offset: offset of the mapping in the region
 * @len: size of the mapping
 * @flags: VHOST_USER_FLAG_MAP_RW for a mapping the driver may write,
 *         0 for a read-only one
 * @fd: the file descriptor to map; the front-end gets a copy, @fd stays
 *      the caller's
 *
 * Asks the front-end to map [@fd_offset, @fd_offset + @len) of @fd at
 * @shm_offset in region @shmid (VHOST_USER_BACKEND_SHMEM_MAP).  When
 * VHOST_USER_PROTOCOL_F_REPLY_ACK was negotiated this waits for the
 * front-end's answer: on success the memory is mapped when this returns.
 * Without it the request is only sent, and true means no more than that.
 *
 * Like the other requests on the back-end channel this may be called from
 * any thread; it holds the channel while waiting for the reply.  Do not
 * call it from a thread the front-end may be waiting on (for example while
 * handling one of its messages): the front-end handles back-end requests
 * only between its own.  A channel that fails (the front-end went away)
 * also goes through the panic callback, as for the other requests.
 *
 * Returns: true on success, false on failure (vu_shmem_map_errno() says
 * why).
 */
bool vu_shmem_map(VuDev *dev, uint8_t shmid, uint64_t fd_offset,
                  uint64_t shm_offset, uint64_t len, uint64_t flags, int fd);

/**
 * vu_shmem_unmap:
 * @dev: a VuDev context
 * @shmid: VIRTIO Shared Memory Region ID
 * @shm_offset: offset of the mapping in the region
 * @len: size of the mapping
 *
 * Asks the front-end to remove the mapping that is exactly
 * [@shm_offset, @shm_offset + @len) of region @shmid
 * (VHOST_USER_BACKEND_SHMEM_UNMAP).  Replies and threads are as for
 * vu_shmem_map(); the front-end refuses a range that is not exactly one
 * of its mappings.  The front-end also drops every mapping by itself when
 * the device is reset or the connection is lost.
 *
 * Returns: true on success, false on failure (vu_shmem_unmap_errno() says
 * why).
 */
bool vu_shmem_unmap(VuDev *dev, uint8_t shmid, uint64_t shm_offset,
                    uint64_t len);

/**
 * vu_shmem_map_errno:
 *
 * vu_shmem_map(), telling why it failed.
 *
 * Returns: 0 on success, or a negative errno: -ENOTSUP when
 * VHOST_USER_PROTOCOL_F_SHMEM was not negotiated, -ENOTCONN without a
 * back-end channel, -EINVAL for a request the front-end must refuse (@len
 * 0, offsets or @len not page aligned, unknown @flags, a negative @fd, and
 * when the regions were declared with vu_set_shmem_regions(): no region
 * @shmid, a range past the end of the region), -EREMOTEIO when the
 * front-end refused the mapping, -EIO when the channel failed or the reply
 * was malformed.
 */
int vu_shmem_map_errno(VuDev *dev, uint8_t shmid, uint64_t fd_offset,
                       uint64_t shm_offset, uint64_t len, uint64_t flags,
                       int fd);

/**
 * vu_shmem_unmap_errno:
 *
 * vu_shmem_unmap(), telling why it failed.
 *
 * Returns: 0 on success, or a negative errno as for vu_shmem_map_errno().
 */
int vu_shmem_unmap_errno(VuDev *dev, uint8_t shmid, uint64_t shm_offset,
                         uint64_t len);

#endif /* LIBVHOST_USER_SHMEM_H */
