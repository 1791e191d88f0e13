/*
 * vhost-user-fs-dax: the DAX window, mapped by a thread of its own
 *
 * FUSE_SETUPMAPPING and FUSE_REMOVEMAPPING become SHMEM_MAP and
 * SHMEM_UNMAP requests to the front-end, which answers them from its main
 * loop, between its own requests to us.  They are made from this thread so
 * that the main thread keeps answering the front-end meanwhile; requests
 * whose reply depends on them come back to the main thread, in order,
 * through map_done and an eventfd.
 *
 * The window is cut in slots of FS_DAX_SLOT_SIZE, the size the Linux
 * driver maps.  The front-end maps no byte past the end of a file (a
 * guest access there would fault in QEMU), so a slot maps at most the
 * file's pages, and follows the file when it grows or shrinks through us
 * (FS_MAP_RESIZE), with more pieces.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fs-dax.h"

/* Pieces a slot grows by before it is mapped afresh in one */
#define FS_DAX_MAX_PIECES 8

typedef struct FsDaxSlot {
    int fd;                 /* -1: the slot is free */
    bool writable;
    dev_t dev;              /* the file's inode: nodes come and go */
    ino_t ino;
    uint64_t foffset;
    uint64_t len;           /* what the driver asked for */
    unsigned int npieces;
    uint64_t piece_end[FS_DAX_MAX_PIECES]; /* from the slot's start */
} FsDaxSlot;

static uint64_t fs_slot_mapped(FsDaxSlot *s)
{
    return s->npieces ? s->piece_end[s->npieces - 1] : 0;
}

static uint64_t fs_slot_offset(FsDax *fs, FsDaxSlot *s)
{
    return (uint64_t)(s - fs->slots) * FS_DAX_SLOT_SIZE;
}

/* How much of the slot a file of @size lets us map */
static uint64_t fs_slot_want_size(FsDax *fs, FsDaxSlot *s, uint64_t size)
{
    if (size <= s->foffset) {
        return 0;
    }
    return MIN(ROUND_UP(size - s->foffset, fs->page_size), s->len);
}

/* How much of the slot the file's size lets us map */
static int fs_slot_want(FsDax *fs, FsDaxSlot *s, uint64_t *want)
{
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    *want = fs_slot_want_size(fs, s, st.st_size);
    return 0;
}

static int fs_slot_unmap_last(FsDax *fs, FsDaxSlot *s)
{
    uint64_t start = s->npieces > 1 ? s->piece_end[s->npieces - 2] : 0;
    uint64_t end = s->piece_end[s->npieces - 1];
    int ret;

    ret = vu_shmem_unmap_errno(&fs->dev.parent, FS_DAX_SHMID,
                               fs_slot_offset(fs, s) + start, end - start);
    /* Gone from our books either way: the front-end has it or not */
    s->npieces--;
    if (ret) {
        fs_msg("error: unmapping 0x%" PRIx64 "+0x%" PRIx64 " failed: %s",
               fs_slot_offset(fs, s) + start, end - start, strerror(-ret));
        return ret;
    }
    fs->unmaps++;
    return 0;
}

static int fs_slot_unmap(FsDax *fs, FsDaxSlot *s)
{
    int ret = 0;

    while (s->npieces) {
        ret = fs_slot_unmap_last(fs, s) ?: ret;
    }
    return ret;
}

static void fs_slot_free(FsDax *fs, FsDaxSlot *s)
{
    fs_slot_unmap(fs, s);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* Maps [mapped, end) of the slot as one more piece */
static int fs_slot_map_to(FsDax *fs, FsDaxSlot *s, uint64_t end)
{
    uint64_t start = fs_slot_mapped(s);
    uint64_t moffset = fs_slot_offset(fs, s) + start;
    uint64_t flags = s->writable ? VHOST_USER_FLAG_MAP_RW : 0;
    int ret;

    if (s->npieces == FS_DAX_MAX_PIECES) {
        ret = fs_slot_unmap(fs, s);
        if (ret) {
            return ret;
        }
        start = 0;
        moffset = fs_slot_offset(fs, s);
    }
    ret = vu_shmem_map_errno(&fs->dev.parent, FS_DAX_SHMID,
                             s->foffset + start, moffset, end - start,
                             flags, s->fd);
    if (ret == -EREMOTEIO &&
        !vu_shmem_unmap_errno(&fs->dev.parent, FS_DAX_SHMID, moffset,
                              end - start)) {
        /* Left there by a session that ended without a reset */
        ret = vu_shmem_map_errno(&fs->dev.parent, FS_DAX_SHMID,
                                 s->foffset + start, moffset, end - start,
                                 flags, s->fd);
    }
    if (ret) {
        fs_msg("error: mapping 0x%" PRIx64 "+0x%" PRIx64 " failed: %s",
               moffset, end - start,
               ret == -EREMOTEIO ? "the front-end refused it"
                                 : strerror(-ret));
        return ret == -EREMOTEIO ? -EIO : ret;
    }
    s->piece_end[s->npieces++] = end;
    fs->maps++;
    return 0;
}

/* Maps or unmaps what the file's size now lets the slot have */
static int fs_slot_follow(FsDax *fs, FsDaxSlot *s)
{
    uint64_t want = 0;
    int ret = fs_slot_want(fs, s, &want);

    if (ret) {
        return ret;
    }
    while (s->npieces && fs_slot_mapped(s) > want) {
        fs_slot_unmap_last(fs, s);
    }
    if (fs_slot_mapped(s) < want) {
        return fs_slot_map_to(fs, s, want);
    }
    return 0;
}

static int fs_map_setup(FsDax *fs, FsMapOp *op)
{
    FsDaxSlot *s = &fs->slots[op->moffset / FS_DAX_SLOT_SIZE];
    int ret;

    /* A slot mapped again (an upgrade to writable): replace it */
    fs_slot_free(fs, s);
    s->fd = op->fd;
    op->fd = -1;
    s->writable = op->writable;
    s->dev = op->dev;
    s->ino = op->ino;
    s->foffset = op->foffset;
    s->len = op->len;
    ret = fs_slot_follow(fs, s);
    if (ret) {
        fs_slot_free(fs, s);
    }
    return ret;
}

static int fs_map_remove(FsDax *fs, FsMapOp *op)
{
    uint32_t i;
    uint64_t first, last, j;

    for (i = 0; i < op->count; i++) {
        first = op->ranges[i].moffset / FS_DAX_SLOT_SIZE;
        last = (op->ranges[i].moffset + op->ranges[i].len - 1) /
               FS_DAX_SLOT_SIZE;
        for (j = first; j <= last && j < fs->nr_slots; j++) {
            fs_slot_free(fs, &fs->slots[j]);
        }
    }
    return 0;
}

static void fs_map_resize(FsDax *fs, FsMapOp *op)
{
    uint64_t i;

    for (i = 0; i < fs->nr_slots; i++) {
        FsDaxSlot *s = &fs->slots[i];

        if (s->fd >= 0 && s->dev == op->dev && s->ino == op->ino) {
            fs_slot_follow(fs, s);
        }
    }
}

/*
 * Changes the size of a mapped file: first unmaps what its slots have past
 * the new size, so that no guest access finds a page past the end of the
 * file (SIGBUS for the front-end), then truncates, then follows the size.
 */
static int fs_map_truncate(FsDax *fs, FsMapOp *op)
{
    int ret = 0;
    uint64_t i;

    for (i = 0; i < fs->nr_slots; i++) {
        FsDaxSlot *s = &fs->slots[i];
        uint64_t want;

        if (s->fd < 0 || s->dev != op->dev || s->ino != op->ino) {
            continue;
        }
        want = fs_slot_want_size(fs, s, op->size);
        while (s->npieces && fs_slot_mapped(s) > want) {
            fs_slot_unmap_last(fs, s);
        }
    }
    if (ftruncate(op->fd, op->size) < 0 ||
        (op->times_set && futimens(op->fd, op->times) < 0)) {
        ret = -errno;
    }
    fs_map_resize(fs, op);
    return ret;
}

/* After a reset the front-end holds no mapping: only close */
static void fs_map_reset(FsDax *fs)
{
    uint64_t i;

    for (i = 0; i < fs->nr_slots; i++) {
        fs->slots[i].npieces = 0;
        fs_slot_free(fs, &fs->slots[i]);
    }
}

static gpointer fs_mapper(gpointer opaque)
{
    FsDax *fs = opaque;
    uint64_t one = 1;

    for (;;) {
        FsMapOp *op = g_async_queue_pop(fs->map_ops);

        switch (op->type) {
        case FS_MAP_SETUP:
            op->error = fs_map_setup(fs, op);
            break;
        case FS_MAP_REMOVE:
            op->error = fs_map_remove(fs, op);
            break;
        case FS_MAP_RESIZE:
            fs_map_resize(fs, op);
            break;
        case FS_MAP_TRUNCATE:
            op->error = fs_map_truncate(fs, op);
            break;
        case FS_MAP_REMOVE_ALL:
            for (uint64_t i = 0; i < fs->nr_slots; i++) {
                fs_slot_free(fs, &fs->slots[i]);
            }
            break;
        case FS_MAP_RESET:
            fs_map_reset(fs);
            if (!op->elem && op->unique == UINT64_MAX) {
                /* fs_mapper_stop() */
                fs_mapper_op_free(op);
                return NULL;
            }
            break;
        }
        g_async_queue_push(fs->map_done, op);
        if (write(fs->map_done_fd, &one, sizeof(one)) < 0) {
            /* The counter cannot overflow by our adds */
            fs_msg("warning: eventfd: %s", strerror(errno));
        }
    }
}

void fs_mapper_op_free(FsMapOp *op)
{
    if (op->fd >= 0) {
        close(op->fd);
    }
    g_free(op->ranges);
    g_free(op->reply);
    g_free(op);
}

void fs_mapper_queue(FsDax *fs, FsMapOp *op)
{
    g_async_queue_push(fs->map_ops, op);
}

void fs_mapper_start(FsDax *fs)
{
    uint64_t i;

    fs->nr_slots = fs->cache_size / FS_DAX_SLOT_SIZE;
    fs->slots = g_new0(FsDaxSlot, fs->nr_slots);
    for (i = 0; i < fs->nr_slots; i++) {
        fs->slots[i].fd = -1;
    }
    fs->map_ops = g_async_queue_new();
    fs->map_done = g_async_queue_new();
    fs->mapper = g_thread_new("fs-dax-mapper", fs_mapper, fs);
}

/* Stops the thread; the connection is gone, so is every mapping */
void fs_mapper_stop(FsDax *fs)
{
    FsMapOp *op = g_new0(FsMapOp, 1);

    op->type = FS_MAP_RESET;
    op->fd = -1;
    op->unique = UINT64_MAX;
    fs_mapper_queue(fs, op);
    g_thread_join(fs->mapper);
    g_free(fs->slots);
}
