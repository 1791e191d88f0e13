/*
 * vhost-user-fs-dax: the FUSE requests
 *
 * Each request is a virtqueue element: the driver's part (fuse_in_header,
 * the arguments, WRITE data) and room for the reply.  Everything in it is
 * checked before use: lengths, node ids, file handles, names, offsets.  A
 * request that fails a check gets an error reply; one too short to carry
 * a header gets an empty one.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include "qemu/host-utils.h"
#include "qemu/iov.h"
#include "fs-dax.h"

/* Seconds the driver may cache entries and attributes */
#define FS_TIMEOUT 1

typedef struct FsReq {
    FsDax *fs;
    int qidx;
    unsigned int queue_gen;
    VuVirtqElement *elem;
    struct fuse_in_header in;
    uint8_t *args;          /* after the header, at most FS_MAX_ARGS */
    size_t args_len;
    size_t room;            /* for the reply */
    FsNode *node;           /* in.nodeid, or NULL when it names none */
} FsReq;

/* Replies with the header and @len bytes of @arg, or the error @err */
static void fs_reply(FsReq *r, int err, const void *arg, size_t len)
{
    struct fuse_out_header out = {
        .len = sizeof(out) + (err ? 0 : len),
        .error = err,
        .unique = r->in.unique,
    };
    VuVirtqElement *elem = r->elem;
    size_t n = 0;

    if (err) {
        r->fs->errors++;
    }
    if (r->room < out.len) {
        /* No room for the answer: tell the driver what we can */
        out.len = sizeof(out);
        out.error = -EIO;
    }
    if (r->room >= sizeof(out)) {
        n = iov_from_buf(elem->in_sg, elem->in_num, 0, &out, sizeof(out));
        if (!out.error && len) {
            n += iov_from_buf(elem->in_sg, elem->in_num, sizeof(out), arg,
                              len);
        }
    }
    fs_complete(r->fs, r->qidx, r->queue_gen, elem, n);
    r->elem = NULL;
}

static void fs_reply_err(FsReq *r, int err)
{
    fs_reply(r, err, NULL, 0);
}

/* No reply at all (FORGET, INTERRUPT): the element goes back empty */
static void fs_reply_none(FsReq *r)
{
    fs_complete(r->fs, r->qidx, r->queue_gen, r->elem, 0);
    r->elem = NULL;
}

/* The fixed arguments of the request, or NULL when it is too short */
static const void *fs_arg(FsReq *r, size_t size)
{
    return r->args_len >= size ? r->args : NULL;
}

/*
 * The NUL-terminated name at *@offset in the arguments, or NULL; moves
 * *@offset past it.  A name is one path component: the host calls that
 * take it (mkdirat(), linkat()...) would follow "../" or a '/' out of the
 * shared directory.
 */
static const char *fs_arg_name(FsReq *r, size_t *offset)
{
    const char *name = (const char *)r->args + *offset;
    size_t max = r->args_len - MIN(*offset, r->args_len);
    size_t len = strnlen(name, max);

    if (len == max || len > NAME_MAX || !fs_name_ok(name)) {
        return NULL;
    }
    *offset += len + 1;
    return name;
}

static void fs_fill_attr(struct fuse_attr *a, const struct stat *st)
{
    *a = (struct fuse_attr) {
        .ino = st->st_ino,
        .size = st->st_size,
        .blocks = st->st_blocks,
        .atime = st->st_atim.tv_sec,
        .mtime = st->st_mtim.tv_sec,
        .ctime = st->st_ctim.tv_sec,
        .atimensec = st->st_atim.tv_nsec,
        .mtimensec = st->st_mtim.tv_nsec,
        .ctimensec = st->st_ctim.tv_nsec,
        .mode = st->st_mode,
        .nlink = st->st_nlink,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .rdev = st->st_rdev,
        .blksize = st->st_blksize,
    };
}

static void fs_fill_entry(struct fuse_entry_out *e, uint64_t id,
                          const struct stat *st)
{
    *e = (struct fuse_entry_out) {
        .nodeid = id,
        .entry_valid = FS_TIMEOUT,
        .attr_valid = FS_TIMEOUT,
    };
    fs_fill_attr(&e->attr, st);
}

/* Only the permission bits and the sticky bit: no set-id file appears */
static mode_t fs_mode(uint32_t mode)
{
    return mode & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX);
}

/*
 * A mapper request about @node's file that answers @r with @arg once
 * done; the request's element goes with it
 */
static FsMapOp *fs_map_op_new(FsReq *r, FsMapOpType type, FsNode *node,
                              const void *arg, size_t len)
{
    FsMapOp *op = g_new0(FsMapOp, 1);

    op->type = type;
    op->fd = -1;
    op->dev = node->dev;
    op->ino = node->ino;
    op->reply = g_memdup2(arg, len);
    op->reply_len = len;
    op->elem = r->elem;
    op->qidx = r->qidx;
    op->queue_gen = r->queue_gen;
    op->unique = r->in.unique;
    r->elem = NULL;
    return op;
}

/*
 * Asks the mapper to follow the node's new size before the reply goes
 * out: the driver reads the new bytes through mappings it already has.
 */
static void fs_reply_after_resize_of(FsReq *r, FsNode *node,
                                     const void *arg, size_t len)
{
    if (!node || !node->dax_mapped) {
        fs_reply(r, 0, arg, len);
        return;
    }
    fs_mapper_queue(r->fs, fs_map_op_new(r, FS_MAP_RESIZE, node, arg, len));
}

/* Whether a size change of @node's file must go through the mapper */
static bool fs_resize_mapped(FsReq *r, FsNode *node)
{
    return r->fs->cache_size && node->dax_mapped;
}

/*
 * Has the mapper truncate @node's file to @size through @fd (which the op
 * takes) after unmapping what lies past it, then set @times if not NULL,
 * then reply @arg.  Truncating here first would leave the front-end
 * mapping pages past the end of the file until the unmap came: a guest
 * access in between is SIGBUS for it.
 */
static void fs_truncate_mapped(FsReq *r, FsNode *node, int fd, uint64_t size,
                               const struct timespec *times,
                               const void *arg, size_t len)
{
    FsMapOp *op = fs_map_op_new(r, FS_MAP_TRUNCATE, node, arg, len);

    op->fd = fd;
    op->size = size;
    if (times) {
        op->times_set = true;
        op->times[0] = times[0];
        op->times[1] = times[1];
    }
    fs_mapper_queue(r->fs, op);
}

static void fs_reply_after_resize(FsReq *r, const void *arg, size_t len)
{
    fs_reply_after_resize_of(r, r->node, arg, len);
}

/* The handle the request names, with the node it belongs to */
static FsHandle *fs_req_handle(FsReq *r, uint64_t fh)
{
    return fs_handle_get(r->fs, fh, r->in.nodeid);
}

static int fs_init(FsReq *r)
{
    FsDax *fs = r->fs;
    const struct fuse_init_in *in = fs_arg(r, 16);
    struct fuse_init_out out = { 0 };
    uint32_t wanted = FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS |
                      FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES;
    size_t len;

    if (!in) {
        return -EINVAL;
    }
    if (in->major < 7) {
        fs_msg("FUSE_INIT: protocol %u.%u is too old", in->major, in->minor);
        return -EPROTO;
    }
    out.major = FUSE_KERNEL_VERSION;
    out.minor = FUSE_KERNEL_MINOR_VERSION;
    if (in->major > FUSE_KERNEL_VERSION) {
        /* The driver will send INIT again with our major */
        fs_reply(r, 0, &out, 8);
        return 0;
    }
    if (fs->initialized) {
        /* The driver started afresh (a reset): so do we */
        fs_msg("new FUSE session: dropping the previous one's state");
        fs_nodes_reset(fs);
        if (fs->cache_size) {
            FsMapOp *op = g_new0(FsMapOp, 1);

            /*
             * Without a device reset the front-end still has our mappings:
             * unmap them, or nothing would follow their files' sizes
             */
            op->type = FS_MAP_REMOVE_ALL;
            op->fd = -1;
            fs_mapper_queue(fs, op);
        }
    }
    fs->minor = MIN(in->minor, FUSE_KERNEL_MINOR_VERSION);
    if (fs->cache_size) {
        wanted |= FUSE_MAP_ALIGNMENT;
    }
    if (fs->page_size * FS_MAX_PAGES > 128 * 1024) {
        wanted |= FUSE_MAX_PAGES;
    }
    out.max_readahead = in->max_readahead;
    out.flags = in->flags & wanted;
    out.max_background = 64;
    out.congestion_threshold = 48;
    out.max_write = fs->page_size * FS_MAX_PAGES;
    out.time_gran = 1;
    out.max_pages = FS_MAX_PAGES;
    out.map_alignment = ctz64(fs->page_size);
    fs->initialized = true;
    fs_msg("FUSE session: protocol 7.%u, flags 0x%x%s", fs->minor, out.flags,
           fs->cache_size ? ", DAX window" : "");

    len = fs->minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE :
          fs->minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out);
    fs_reply(r, 0, &out, len);
    return 0;
}

static int fs_lookup(FsReq *r)
{
    size_t off = 0;
    const char *name = fs_arg_name(r, &off);
    struct fuse_entry_out e;
    struct stat st;
    uint64_t id;
    int ret;

    if (!name) {
        return -EINVAL;
    }
    ret = fs_node_lookup(r->fs, r->node, name, &id, &st);
    if (ret) {
        return ret;
    }
    fs_fill_entry(&e, id, &st);
    fs_reply(r, 0, &e, sizeof(e));
    return 0;
}

static void fs_forget(FsReq *r)
{
    const struct fuse_forget_in *in = fs_arg(r, sizeof(*in));

    if (in) {
        fs_node_forget(r->fs, r->in.nodeid, in->nlookup);
    }
    fs_reply_none(r);
}

static void fs_batch_forget(FsReq *r)
{
    const struct fuse_batch_forget_in *in = fs_arg(r, sizeof(*in));
    const struct fuse_forget_one *one;
    uint32_t i;

    if (in && in->count <= (r->args_len - sizeof(*in)) / sizeof(*one)) {
        one = (const void *)(in + 1);
        for (i = 0; i < in->count; i++) {
            fs_node_forget(r->fs, one[i].nodeid, one[i].nlookup);
        }
    }
    fs_reply_none(r);
}

static int fs_reply_attr(FsReq *r, bool after_resize)
{
    struct fuse_attr_out out = { .attr_valid = FS_TIMEOUT };
    struct stat st;
    int ret = fs_node_stat(r->node, &st);

    if (ret) {
        return ret;
    }
    fs_fill_attr(&out.attr, &st);
    if (after_resize) {
        fs_reply_after_resize(r, &out, sizeof(out));
    } else {
        fs_reply(r, 0, &out, sizeof(out));
    }
    return 0;
}

static int fs_getattr(FsReq *r)
{
    return fs_reply_attr(r, false);
}

static int fs_setattr(FsReq *r)
{
    const struct fuse_setattr_in *in = fs_arg(r, sizeof(*in));
    FsNode *node = r->node;
    char proc_name[16];
    FsHandle *h = NULL;
    bool resized = false;
    int fd, truncate_fd = -1, ret = 0;
    struct timespec ts[2] = {
        { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT },
    };
    const struct timespec *times = NULL;

    if (!in) {
        return -EINVAL;
    }
    if (r->fs->read_only) {
        return -EROFS;
    }
    if (in->valid & FATTR_FH) {
        h = fs_req_handle(r, in->fh);
        if (!h) {
            return -EBADF;
        }
    }
    if ((S_ISCHR(node->type) || S_ISBLK(node->type)) &&
        (in->valid & (FATTR_MODE | FATTR_UID | FATTR_GID))) {
        /* The host's device: the guest must not open it up to anyone */
        return -EPERM;
    }
    snprintf(proc_name, sizeof(proc_name), "%d", node->fd);
    if (in->valid & FATTR_MODE) {
        if (S_ISLNK(node->type)) {
            return -EOPNOTSUPP;
        }
        if (fchmodat(r->fs->proc_fd, proc_name, fs_mode(in->mode), 0) < 0) {
            return -errno;
        }
    }
    if (in->valid & (FATTR_UID | FATTR_GID)) {
        uid_t uid = (in->valid & FATTR_UID) ? in->uid : (uid_t)-1;
        gid_t gid = (in->valid & FATTR_GID) ? in->gid : (gid_t)-1;

        if (fchownat(node->fd, "", uid, gid,
                     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
            return -errno;
        }
    }
    if (in->valid & FATTR_SIZE) {
        if (!S_ISREG(node->type)) {
            return S_ISDIR(node->type) ? -EISDIR : -EINVAL;
        }
        if (!h) {
            fd = fs_node_reopen(r->fs, node, O_WRONLY);
        } else if (fs_resize_mapped(r, node)) {
            fd = dup(h->fd);
            fd = fd < 0 ? -errno : fd;
        } else {
            fd = h->fd;
        }
        if (fd < 0) {
            return fd;
        }
        if (fs_resize_mapped(r, node)) {
            /* The mapper truncates, and sets the times after */
            truncate_fd = fd;
        } else {
            if (ftruncate(fd, in->size) < 0) {
                ret = -errno;
            }
            if (!h) {
                close(fd);
            }
            if (ret) {
                return ret;
            }
            resized = true;
        }
    }
    if (in->valid & (FATTR_ATIME | FATTR_MTIME)) {
        if (in->valid & FATTR_ATIME_NOW) {
            ts[0].tv_nsec = UTIME_NOW;
        } else if (in->valid & FATTR_ATIME) {
            ts[0] = (struct timespec) { in->atime, in->atimensec };
        }
        if (in->valid & FATTR_MTIME_NOW) {
            ts[1].tv_nsec = UTIME_NOW;
        } else if (in->valid & FATTR_MTIME) {
            ts[1] = (struct timespec) { in->mtime, in->mtimensec };
        }
        if ((ts[0].tv_nsec != UTIME_OMIT && ts[0].tv_nsec != UTIME_NOW &&
             ts[0].tv_nsec >= 1000000000) ||
            (ts[1].tv_nsec != UTIME_OMIT && ts[1].tv_nsec != UTIME_NOW &&
             ts[1].tv_nsec >= 1000000000)) {
            ret = -EINVAL;
        } else if (S_ISLNK(node->type)) {
            ret = -EOPNOTSUPP;
        } else if (truncate_fd >= 0) {
            times = ts;
        } else if (utimensat(r->fs->proc_fd, proc_name, ts, 0) < 0) {
            ret = -errno;
        }
        if (ret) {
            if (truncate_fd >= 0) {
                close(truncate_fd);
            }
            return ret;
        }
    }
    if (truncate_fd >= 0) {
        struct fuse_attr_out out = { .attr_valid = FS_TIMEOUT };
        struct stat st;

        ret = fs_node_stat(node, &st);
        if (ret) {
            close(truncate_fd);
            return ret;
        }
        /* As it will be */
        st.st_size = in->size;
        fs_fill_attr(&out.attr, &st);
        fs_truncate_mapped(r, node, truncate_fd, in->size, times, &out,
                           sizeof(out));
        return 0;
    }
    return fs_reply_attr(r, resized);
}

/* The open(2) flags we pass on, of those the driver sends */
static int fs_open_flags(FsReq *r, uint32_t flags)
{
    int keep = O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC | O_NOATIME;

    if ((flags & O_ACCMODE) == O_ACCMODE) {
        return -EINVAL;
    }
    if (r->fs->read_only &&
        ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))) {
        return -EROFS;
    }
    return flags & (keep | O_TRUNC);
}

static int fs_open(FsReq *r)
{
    const struct fuse_open_in *in = fs_arg(r, sizeof(*in));
    struct fuse_open_out out = { 0 };
    int flags, fd;

    if (!in) {
        return -EINVAL;
    }
    if (!S_ISREG(r->node->type)) {
        return S_ISDIR(r->node->type) ? -EISDIR : -EINVAL;
    }
    flags = fs_open_flags(r, in->flags);
    if (flags < 0) {
        return flags;
    }
    if ((flags & O_TRUNC) && fs_resize_mapped(r, r->node)) {
        /* Through the mapper, which unmaps before it truncates */
        int tfd = fs_node_reopen(r->fs, r->node, O_WRONLY);

        if (tfd < 0) {
            return tfd;
        }
        fd = fs_node_reopen(r->fs, r->node, flags & ~O_TRUNC);
        if (fd < 0) {
            close(tfd);
            return fd;
        }
        out.fh = fs_handle_new(r->fs, r->node, fd, flags, NULL);
        fs_truncate_mapped(r, r->node, tfd, 0, NULL, &out, sizeof(out));
        return 0;
    }
    fd = fs_node_reopen(r->fs, r->node, flags);
    if (fd < 0) {
        return fd;
    }
    out.fh = fs_handle_new(r->fs, r->node, fd, flags, NULL);
    if (flags & O_TRUNC) {
        fs_reply_after_resize(r, &out, sizeof(out));
    } else {
        fs_reply(r, 0, &out, sizeof(out));
    }
    return 0;
}

static int fs_opendir(FsReq *r)
{
    struct fuse_open_out out = { 0 };
    DIR *dir;
    int fd;

    if (!S_ISDIR(r->node->type)) {
        return -ENOTDIR;
    }
    fd = fs_node_reopen(r->fs, r->node, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return fd;
    }
    dir = fdopendir(fd);
    if (!dir) {
        int ret = -errno;

        close(fd);
        return ret;
    }
    out.fh = fs_handle_new(r->fs, r->node, fd, O_RDONLY, dir);
    fs_reply(r, 0, &out, sizeof(out));
    return 0;
}

static int fs_release(FsReq *r, bool dir)
{
    const struct fuse_release_in *in = fs_arg(r, sizeof(*in));
    FsHandle *h;

    if (!in) {
        return -EINVAL;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || !!h->dir != dir) {
        return -EBADF;
    }
    fs_handle_release(r->fs, in->fh);
    fs_reply(r, 0, NULL, 0);
    return 0;
}

static int fs_read(FsReq *r)
{
    const struct fuse_read_in *in = fs_arg(r, sizeof(*in));
    struct fuse_out_header out = { .unique = r->in.unique };
    VuVirtqElement *elem = r->elem;
    struct iovec iov[VIRTQUEUE_MAX_SIZE];
    unsigned int niov;
    FsHandle *h;
    size_t size;
    ssize_t n;

    if (!in) {
        return -EINVAL;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || h->dir || (h->flags & O_ACCMODE) == O_WRONLY) {
        return -EBADF;
    }
    if (in->offset > INT64_MAX) {
        return -EINVAL;
    }
    if (r->room < sizeof(out)) {
        return -EIO;
    }
    size = MIN(in->size, r->room - sizeof(out));
    niov = iov_copy(iov, ARRAY_SIZE(iov), elem->in_sg, elem->in_num,
                    sizeof(out), size);
    do {
        n = preadv(h->fd, iov, niov, in->offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    out.len = sizeof(out) + n;
    iov_from_buf(elem->in_sg, elem->in_num, 0, &out, sizeof(out));
    fs_complete(r->fs, r->qidx, r->queue_gen, elem, out.len);
    r->elem = NULL;
    return 0;
}

static int fs_write(FsReq *r)
{
    const struct fuse_write_in *in = fs_arg(r, sizeof(*in));
    size_t data = sizeof(struct fuse_in_header) + sizeof(*in);
    VuVirtqElement *elem = r->elem;
    struct iovec iov[VIRTQUEUE_MAX_SIZE];
    struct fuse_write_out out = { 0 };
    unsigned int niov;
    struct stat st;
    off_t before = 0;
    FsHandle *h;
    ssize_t n;

    if (!in || r->in.len != data + in->size) {
        return -EINVAL;
    }
    if (r->fs->read_only) {
        return -EROFS;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || h->dir || (h->flags & O_ACCMODE) == O_RDONLY) {
        return -EBADF;
    }
    if (in->offset > INT64_MAX || in->size > INT64_MAX - in->offset) {
        return -EFBIG;
    }
    niov = iov_copy(iov, ARRAY_SIZE(iov), elem->out_sg, elem->out_num, data,
                    in->size);
    if (r->node->dax_mapped) {
        before = fstat(h->fd, &st) < 0 ? 0 : st.st_size;
    }
    do {
        /* O_APPEND handles write at the end, whatever the offset */
        n = pwritev(h->fd, iov, niov, in->offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    out.size = n;
    if (r->node->dax_mapped && fstat(h->fd, &st) == 0 &&
        st.st_size != before) {
        fs_reply_after_resize(r, &out, sizeof(out));
    } else {
        fs_reply(r, 0, &out, sizeof(out));
    }
    return 0;
}

static int fs_readdir(FsReq *r)
{
    const struct fuse_read_in *in = fs_arg(r, sizeof(*in));
    size_t max, used = 0;
    g_autofree uint8_t *buf = NULL;
    FsHandle *h;

    if (!in) {
        return -EINVAL;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || !h->dir) {
        return -EBADF;
    }
    if (r->room < sizeof(struct fuse_out_header)) {
        return -EIO;
    }
    max = MIN(in->size, r->room - sizeof(struct fuse_out_header));
    max = MIN(max, r->fs->page_size * FS_MAX_PAGES);
    buf = g_malloc0(max);

    if (in->offset != h->dir_offset) {
        if (in->offset) {
            seekdir(h->dir, in->offset);
        } else {
            rewinddir(h->dir);
        }
        h->dir_offset = in->offset;
    }
    for (;;) {
        long pos = telldir(h->dir);
        struct fuse_dirent *d;
        struct dirent *ent;
        size_t namelen, size;

        errno = 0;
        ent = readdir(h->dir);
        if (!ent) {
            if (errno && !used) {
                return -errno;
            }
            break;
        }
        namelen = strlen(ent->d_name);
        size = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
        if (used + size > max) {
            seekdir(h->dir, pos);
            break;
        }
        d = (struct fuse_dirent *)(buf + used);
        d->ino = ent->d_ino;
        if (h->node_id == FUSE_ROOT_ID && !strcmp(ent->d_name, "..")) {
            /* Above the shared directory is nothing the guest may see */
            d->ino = r->node->ino;
        }
        d->off = ent->d_off;
        d->namelen = namelen;
        d->type = ent->d_type;
        memcpy(d->name, ent->d_name, namelen);
        used += size;
        h->dir_offset = ent->d_off;
    }
    fs_reply(r, 0, buf, used);
    return 0;
}

static int fs_fsync(FsReq *r, bool dir)
{
    const struct fuse_fsync_in *in = fs_arg(r, sizeof(*in));
    FsHandle *h;
    int ret;

    if (!in) {
        return -EINVAL;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || !!h->dir != dir) {
        return -EBADF;
    }
    ret = (in->fsync_flags & 1) ? fdatasync(h->fd) : fsync(h->fd);
    if (ret < 0) {
        return -errno;
    }
    fs_reply(r, 0, NULL, 0);
    return 0;
}

static int fs_flush(FsReq *r)
{
    const struct fuse_flush_in *in = fs_arg(r, sizeof(*in));

    if (!in) {
        return -EINVAL;
    }
    if (!fs_req_handle(r, in->fh)) {
        return -EBADF;
    }
    fs_reply(r, 0, NULL, 0);
    return 0;
}

static int fs_statfs(FsReq *r)
{
    struct fuse_statfs_out out = { 0 };
    struct statvfs sv;

    if (fstatvfs(r->node->fd, &sv) < 0) {
        return -errno;
    }
    out.st = (struct fuse_kstatfs) {
        .blocks = sv.f_blocks,
        .bfree = sv.f_bfree,
        .bavail = sv.f_bavail,
        .files = sv.f_files,
        .ffree = sv.f_ffree,
        .bsize = sv.f_bsize,
        .namelen = sv.f_namemax,
        .frsize = sv.f_frsize,
    };
    fs_reply(r, 0, &out, sizeof(out));
    return 0;
}

/* After a new name was made in the directory: its entry */
static int fs_reply_new_entry(FsReq *r, const char *name)
{
    struct fuse_entry_out e;
    struct stat st;
    uint64_t id;
    int ret = fs_node_lookup(r->fs, r->node, name, &id, &st);

    if (ret) {
        return ret;
    }
    fs_fill_entry(&e, id, &st);
    fs_reply(r, 0, &e, sizeof(e));
    return 0;
}

/* Checks common to requests that add or remove a name in a directory */
static int fs_dir_change(FsReq *r)
{
    if (r->fs->read_only) {
        return -EROFS;
    }
    return S_ISDIR(r->node->type) ? 0 : -ENOTDIR;
}

/*
 * The @size bytes of fixed arguments of a request that adds or removes
 * @name in its directory, and the name after them; NULL with *@err set
 * when they are malformed or the change is not allowed.
 */
static const void *fs_arg_entry(FsReq *r, size_t size, const char **name,
                                int *err)
{
    const void *in = fs_arg(r, size);
    size_t off = size;

    *name = in ? fs_arg_name(r, &off) : NULL;
    *err = *name ? fs_dir_change(r) : -EINVAL;
    return *err ? NULL : in;
}

/*
 * Opens the existing @name in the request's directory as CREATE without
 * O_EXCL does: a regular file only (a FIFO would block this thread until
 * a writer came, a device node is the host's), by its node, so that the
 * handle's file is the node's.  Returns the fd, the node in *@id.
 */
static int fs_create_existing(FsReq *r, const char *name, int flags,
                              uint64_t *id, struct stat *st)
{
    FsNode *node;
    int ret, fd;

    ret = fs_node_lookup(r->fs, r->node, name, id, st);
    if (ret) {
        return ret;
    }
    node = fs_node_get(r->fs, *id);
    if (!S_ISREG(node->type)) {
        ret = S_ISDIR(node->type) ? -EISDIR :
              S_ISLNK(node->type) ? -ELOOP : -EINVAL;
        fs_node_forget(r->fs, *id, 1);
        return ret;
    }
    /* A mapped file is truncated by the mapper (fs_create()) */
    fd = fs_node_reopen(r->fs, node, fs_resize_mapped(r, node) ?
                                     flags & ~O_TRUNC : flags);
    if (fd < 0) {
        fs_node_forget(r->fs, *id, 1);
    }
    return fd;
}

static int fs_create(FsReq *r)
{
    const char *name;
    int flags, fd, ret;
    const struct fuse_create_in *in = fs_arg_entry(r, sizeof(*in), &name,
                                                   &ret);
    struct {
        struct fuse_entry_out e;
        struct fuse_open_out o;
    } out = { 0 };
    struct stat st, fd_st;
    FsNode *node;
    uint64_t id;

    if (!in) {
        return ret;
    }
    flags = fs_open_flags(r, in->flags);
    if (flags < 0) {
        return flags;
    }
    fd = fs_openat(r->node->fd, name, flags | O_CREAT | O_EXCL,
                   fs_mode(in->mode));
    if (fd == -EEXIST && !(in->flags & O_EXCL)) {
        fd = fs_create_existing(r, name, flags, &id, &st);
        if (fd < 0) {
            return fd;
        }
    } else if (fd < 0) {
        return fd == -EXDEV ? -EPERM : fd;
    } else {
        ret = fs_node_lookup(r->fs, r->node, name, &id, &st);
        if (!ret && (fstat(fd, &fd_st) < 0 || fd_st.st_dev != st.st_dev ||
                     fd_st.st_ino != st.st_ino)) {
            /* Renamed under us on the host: not the file we made */
            fs_node_forget(r->fs, id, 1);
            ret = -EAGAIN;
        }
        if (ret) {
            close(fd);
            return ret;
        }
        flags &= ~O_TRUNC;
    }
    node = fs_node_get(r->fs, id);
    if ((flags & O_TRUNC) && fs_resize_mapped(r, node)) {
        int tfd = fs_node_reopen(r->fs, node, O_WRONLY);

        if (tfd < 0) {
            close(fd);
            fs_node_forget(r->fs, id, 1);
            return tfd;
        }
        st.st_size = 0;
        fs_fill_entry(&out.e, id, &st);
        out.o.fh = fs_handle_new(r->fs, node, fd, flags, NULL);
        fs_truncate_mapped(r, node, tfd, 0, NULL, &out, sizeof(out));
        return 0;
    }
    if (flags & O_TRUNC) {
        /* Only now: the size the reply has is after the truncation */
        ret = fs_node_stat(node, &st);
        if (ret) {
            close(fd);
            fs_node_forget(r->fs, id, 1);
            return ret;
        }
    }
    fs_fill_entry(&out.e, id, &st);
    out.o.fh = fs_handle_new(r->fs, node, fd, flags, NULL);
    if (flags & O_TRUNC) {
        fs_reply_after_resize_of(r, node, &out, sizeof(out));
    } else {
        fs_reply(r, 0, &out, sizeof(out));
    }
    return 0;
}

static int fs_mknod(FsReq *r)
{
    const char *name;
    int ret;
    const struct fuse_mknod_in *in = fs_arg_entry(r, sizeof(*in), &name, &ret);

    if (!in) {
        return ret;
    }
    switch (in->mode & S_IFMT) {
    case S_IFREG:
    case S_IFIFO:
    case S_IFSOCK:
        break;
    default:
        /* No device node: the host would honour it */
        return -EPERM;
    }
    if (mknodat(r->node->fd, name, (in->mode & S_IFMT) | fs_mode(in->mode),
                0) < 0) {
        return -errno;
    }
    return fs_reply_new_entry(r, name);
}

static int fs_mkdir(FsReq *r)
{
    const char *name;
    int ret;
    const struct fuse_mkdir_in *in = fs_arg_entry(r, sizeof(*in), &name, &ret);

    if (!in) {
        return ret;
    }
    if (mkdirat(r->node->fd, name, fs_mode(in->mode)) < 0) {
        return -errno;
    }
    return fs_reply_new_entry(r, name);
}

static int fs_symlink(FsReq *r)
{
    size_t off = 0;
    const char *name = fs_arg_name(r, &off);
    const char *target = (const char *)r->args + off;
    size_t max = r->args_len - MIN(off, r->args_len);
    int ret;

    if (!name || strnlen(target, max) == max || !target[0]) {
        return -EINVAL;
    }
    ret = fs_dir_change(r);
    if (ret) {
        return ret;
    }
    /* The target is only text: the guest resolves it, we never follow */
    if (symlinkat(target, r->node->fd, name) < 0) {
        return -errno;
    }
    return fs_reply_new_entry(r, name);
}

static int fs_link(FsReq *r)
{
    const char *name;
    int ret;
    const struct fuse_link_in *in = fs_arg_entry(r, sizeof(*in), &name, &ret);
    FsNode *old;

    if (!in) {
        return ret;
    }
    old = fs_node_get(r->fs, in->oldnodeid);
    if (!old) {
        return -ESTALE;
    }
    if (S_ISDIR(old->type)) {
        return -EPERM;
    }
    if (linkat(old->fd, "", r->node->fd, name, AT_EMPTY_PATH) < 0) {
        char proc_name[16];

        /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH */
        if (errno != ENOENT || !S_ISREG(old->type)) {
            return -errno;
        }
        snprintf(proc_name, sizeof(proc_name), "%d", old->fd);
        if (linkat(r->fs->proc_fd, proc_name, r->node->fd, name,
                   AT_SYMLINK_FOLLOW) < 0) {
            return -errno;
        }
    }
    return fs_reply_new_entry(r, name);
}

static int fs_unlink(FsReq *r, bool dir)
{
    const char *name;
    int ret;

    if (!fs_arg_entry(r, 0, &name, &ret)) {
        return ret;
    }
    if (unlinkat(r->node->fd, name, dir ? AT_REMOVEDIR : 0) < 0) {
        return -errno;
    }
    fs_reply(r, 0, NULL, 0);
    return 0;
}

static int fs_rename(FsReq *r, bool two)
{
    size_t off = two ? sizeof(struct fuse_rename2_in)
                     : sizeof(struct fuse_rename_in);
    const struct fuse_rename2_in *in = fs_arg(r, off);
    const char *oldname = in ? fs_arg_name(r, &off) : NULL;
    const char *newname = oldname ? fs_arg_name(r, &off) : NULL;
    uint32_t flags;
    FsNode *newdir;
    int ret;

    if (!newname) {
        return -EINVAL;
    }
    flags = two ? in->flags : 0;
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        return -EINVAL;
    }
    ret = fs_dir_change(r);
    if (ret) {
        return ret;
    }
    newdir = fs_node_get(r->fs, in->newdir);
    if (!newdir) {
        return -ESTALE;
    }
    if (!S_ISDIR(newdir->type)) {
        return -ENOTDIR;
    }
    if (syscall(SYS_renameat2, r->node->fd, oldname, newdir->fd, newname,
                flags) < 0) {
        return -errno;
    }
    fs_reply(r, 0, NULL, 0);
    return 0;
}

static int fs_readlink(FsReq *r)
{
    char buf[PATH_MAX];
    ssize_t n;

    if (!S_ISLNK(r->node->type)) {
        return -EINVAL;
    }
    n = readlinkat(r->node->fd, "", buf, sizeof(buf));
    if (n < 0) {
        return -errno;
    }
    fs_reply(r, 0, buf, n);
    return 0;
}

static int fs_fallocate(FsReq *r)
{
    const struct fuse_fallocate_in *in = fs_arg(r, sizeof(*in));
    FsHandle *h;

    if (!in) {
        return -EINVAL;
    }
    if (r->fs->read_only) {
        return -EROFS;
    }
    h = fs_req_handle(r, in->fh);
    if (!h || h->dir || (h->flags & O_ACCMODE) == O_RDONLY) {
        return -EBADF;
    }
    if (in->offset > INT64_MAX || in->length > INT64_MAX ||
        in->mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) {
        return -EOPNOTSUPP;
    }
    if (fallocate(h->fd, in->mode, in->offset, in->length) < 0) {
        return -errno;
    }
    fs_reply_after_resize(r, NULL, 0);
    return 0;
}

static int fs_setupmapping(FsReq *r)
{
    const struct fuse_setupmapping_in *in = fs_arg(r, sizeof(*in));
    FsDax *fs = r->fs;
    bool writable;
    FsMapOp *op;
    int fd;

    if (!in) {
        return -EINVAL;
    }
    if (!fs->cache_size) {
        return -EOPNOTSUPP;
    }
    writable = in->flags & FUSE_SETUPMAPPING_FLAG_WRITE;
    if (in->flags & ~(uint64_t)(FUSE_SETUPMAPPING_FLAG_WRITE |
                                FUSE_SETUPMAPPING_FLAG_READ) ||
        !in->len || in->len > FS_DAX_SLOT_SIZE ||
        (in->len | in->foffset) % fs->page_size ||
        in->moffset % FS_DAX_SLOT_SIZE || in->moffset >= fs->cache_size ||
        in->foffset > INT64_MAX - in->len) {
        return -EINVAL;
    }
    if (!S_ISREG(r->node->type)) {
        return -EINVAL;
    }
    /*
     * The Linux driver sends fh -1 and the node; any other must be its,
     * and open for writing if the mapping is to be writable
     */
    if (in->fh != UINT64_MAX) {
        FsHandle *h = fs_req_handle(r, in->fh);

        if (!h || (writable && (h->flags & O_ACCMODE) == O_RDONLY)) {
            return -EBADF;
        }
    }
    if (writable && fs->read_only) {
        return -EROFS;
    }
    fd = fs_node_reopen(fs, r->node, writable ? O_RDWR : O_RDONLY);
    if (fd < 0) {
        return fd;
    }
    fs_node_set_dax_mapped(fs, r->node);
    op = g_new0(FsMapOp, 1);
    op->type = FS_MAP_SETUP;
    op->fd = fd;
    op->writable = writable;
    op->dev = r->node->dev;
    op->ino = r->node->ino;
    op->foffset = in->foffset;
    op->moffset = in->moffset;
    op->len = in->len;
    op->elem = r->elem;
    op->qidx = r->qidx;
    op->queue_gen = r->queue_gen;
    op->unique = r->in.unique;
    r->elem = NULL;
    fs_mapper_queue(fs, op);
    return 0;
}

static int fs_removemapping(FsReq *r)
{
    const struct fuse_removemapping_in *in = fs_arg(r, sizeof(*in));
    const struct fuse_removemapping_one *one;
    FsDax *fs = r->fs;
    FsMapOp *op;
    uint32_t i;

    if (!in || !in->count ||
        in->count > (r->args_len - sizeof(*in)) / sizeof(*one)) {
        return -EINVAL;
    }
    if (!fs->cache_size) {
        return -EOPNOTSUPP;
    }
    /* After a 4-byte header: copied, to be aligned */
    one = g_memdup2(in + 1, in->count * sizeof(*one));
    for (i = 0; i < in->count; i++) {
        if (!one[i].len || one[i].moffset % FS_DAX_SLOT_SIZE ||
            one[i].len % fs->page_size || one[i].moffset >= fs->cache_size ||
            one[i].len > fs->cache_size - one[i].moffset) {
            g_free((void *)one);
            return -EINVAL;
        }
    }
    op = g_new0(FsMapOp, 1);
    op->type = FS_MAP_REMOVE;
    op->fd = -1;
    op->count = in->count;
    op->ranges = (struct fuse_removemapping_one *)one;
    op->elem = r->elem;
    op->qidx = r->qidx;
    op->queue_gen = r->queue_gen;
    op->unique = r->in.unique;
    r->elem = NULL;
    fs_mapper_queue(fs, op);
    return 0;
}

static int fs_destroy(FsReq *r)
{
    fs_msg("FUSE session ended (DESTROY)");
    fs_nodes_reset(r->fs);
    if (r->fs->cache_size) {
        /* The driver may leave mappings behind: the next session won't */
        FsMapOp *op = g_new0(FsMapOp, 1);

        op->type = FS_MAP_REMOVE_ALL;
        op->fd = -1;
        fs_mapper_queue(r->fs, op);
    }
    r->fs->initialized = false;
    fs_reply(r, 0, NULL, 0);
    return 0;
}

/* Requests that need no node beyond the header's */
static bool fs_opcode_without_node(uint32_t opcode)
{
    return opcode == FUSE_INIT || opcode == FUSE_DESTROY ||
           opcode == FUSE_INTERRUPT || opcode == FUSE_BATCH_FORGET ||
           opcode == FUSE_FORGET;
}

static int fs_dispatch(FsReq *r)
{
    uint32_t opcode = r->in.opcode;

    if (opcode == FUSE_INIT) {
        return fs_init(r);
    }
    if (!r->fs->initialized) {
        if (opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET ||
            opcode == FUSE_INTERRUPT) {
            fs_reply_none(r);
            return 0;
        }
        return -EIO;
    }
    if (!fs_opcode_without_node(opcode)) {
        r->node = fs_node_get(r->fs, r->in.nodeid);
        if (!r->node) {
            return -ESTALE;
        }
    }

    switch (opcode) {
    case FUSE_LOOKUP:
        return fs_lookup(r);
    case FUSE_FORGET:
        fs_forget(r);
        return 0;
    case FUSE_BATCH_FORGET:
        fs_batch_forget(r);
        return 0;
    case FUSE_INTERRUPT:
        /* Every request is answered at once, or soon: nothing to stop */
        fs_reply_none(r);
        return 0;
    case FUSE_GETATTR:
        return fs_getattr(r);
    case FUSE_SETATTR:
        return fs_setattr(r);
    case FUSE_OPEN:
        return fs_open(r);
    case FUSE_OPENDIR:
        return fs_opendir(r);
    case FUSE_RELEASE:
        return fs_release(r, false);
    case FUSE_RELEASEDIR:
        return fs_release(r, true);
    case FUSE_READ:
        return fs_read(r);
    case FUSE_WRITE:
        return fs_write(r);
    case FUSE_READDIR:
        return fs_readdir(r);
    case FUSE_FSYNC:
        return fs_fsync(r, false);
    case FUSE_FSYNCDIR:
        return fs_fsync(r, true);
    case FUSE_FLUSH:
        return fs_flush(r);
    case FUSE_STATFS:
        return fs_statfs(r);
    case FUSE_CREATE:
        return fs_create(r);
    case FUSE_MKNOD:
        return fs_mknod(r);
    case FUSE_MKDIR:
        return fs_mkdir(r);
    case FUSE_SYMLINK:
        return fs_symlink(r);
    case FUSE_LINK:
        return fs_link(r);
    case FUSE_UNLINK:
        return fs_unlink(r, false);
    case FUSE_RMDIR:
        return fs_unlink(r, true);
    case FUSE_RENAME:
        return fs_rename(r, false);
    case FUSE_RENAME2:
        return fs_rename(r, true);
    case FUSE_READLINK:
        return fs_readlink(r);
    case FUSE_FALLOCATE:
        return fs_fallocate(r);
    case FUSE_SETUPMAPPING:
        return fs_setupmapping(r);
    case FUSE_REMOVEMAPPING:
        return fs_removemapping(r);
    case FUSE_DESTROY:
        return fs_destroy(r);
    default:
        /* Also ACCESS, xattrs, locks, SYNCFS: the driver copes */
        return -ENOSYS;
    }
}

void fs_handle_request(FsDax *fs, int qidx, VuVirtqElement *elem)
{
    FsReq r = {
        .fs = fs,
        .qidx = qidx,
        .queue_gen = fs->queue_gen[qidx],
        .elem = elem,
    };
    size_t total = iov_size(elem->out_sg, elem->out_num);
    uint8_t args[FS_MAX_ARGS];
    int ret;

    fs->requests++;
    r.room = iov_size(elem->in_sg, elem->in_num);
    if (iov_to_buf(elem->out_sg, elem->out_num, 0, &r.in, sizeof(r.in)) !=
        sizeof(r.in)) {
        /* Not even a header: no unique to answer to */
        fs->errors++;
        fs_reply_none(&r);
        return;
    }
    if (r.in.len != total) {
        ret = -EINVAL;
        goto out;
    }
    /* Only WRITE carries more than the arguments' buffer */
    r.args_len = iov_to_buf(elem->out_sg, elem->out_num, sizeof(r.in), args,
                            sizeof(args));
    if (r.in.opcode != FUSE_WRITE && total > sizeof(r.in) + sizeof(args)) {
        ret = -E2BIG;
        goto out;
    }
    r.args = args;
    ret = fs_dispatch(&r);
out:
    if (ret) {
        fs_reply_err(&r, ret);
    }
}
