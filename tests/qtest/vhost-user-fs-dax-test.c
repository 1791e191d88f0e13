/*
 * Malformed and hostile FUSE requests to contrib/vhost-user-fs-dax
 *
 * The back-end's FUSE layer (fuse.c, node.c) runs here without a
 * front-end: each request is a virtqueue element built by the test, and
 * the reply is what the back-end writes into it.  Every request a guest
 * could forge must get an error reply (or none, where FUSE has none) and
 * never reach outside the shared directory.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/iov.h"
#include "../../contrib/vhost-user-fs-dax/fs-dax.h"

#define NO_REPLY 1
#define REPLY_ROOM (256 * 1024)

static FsDax fs;
static unsigned int queue_gen[2];
static char *tmp_dir, *share_dir;

/* What fs_complete() got for the last request */
static bool completed;
static size_t reply_len;
static uint8_t reply_buf[REPLY_ROOM];
static unsigned int mapper_ops;
static FsMapOpType last_op_type;
/* TRUNCATE: the file's size when the mapper got it, or -1 */
static off_t truncate_size_before = -1;

void fs_msg(const char *fmt, ...)
{
}

void fs_complete(FsDax *f, int qidx, unsigned int gen, VuVirtqElement *elem,
                 size_t len)
{
    g_assert_false(completed);
    completed = true;
    reply_len = len;
    g_free(elem);
}

void fs_mapper_queue(FsDax *f, FsMapOp *op)
{
    struct fuse_out_header out = { .len = sizeof(out), .unique = op->unique };

    /* Answered as the mapper would, without a front-end */
    mapper_ops++;
    last_op_type = op->type;
    if (op->type == FS_MAP_TRUNCATE) {
        struct stat st;

        /* The mapper unmaps, then truncates: the file is whole till then */
        g_assert_cmpint(fstat(op->fd, &st), ==, 0);
        truncate_size_before = st.st_size;
        g_assert_cmpint(ftruncate(op->fd, op->size), ==, 0);
        if (op->times_set) {
            g_assert_cmpint(futimens(op->fd, op->times), ==, 0);
        }
    }
    if (op->elem) {
        /* The reply the handler prepared, if the guest gave room for it */
        if (op->reply_len &&
            sizeof(out) + op->reply_len <=
            iov_size(op->elem->in_sg, op->elem->in_num)) {
            out.len += op->reply_len;
            memcpy(reply_buf + sizeof(out), op->reply, op->reply_len);
        }
        memcpy(reply_buf, &out, sizeof(out));
        fs_complete(f, op->qidx, op->queue_gen, op->elem, out.len);
    }
    if (op->fd >= 0) {
        close(op->fd);
    }
    g_free(op->ranges);
    g_free(op->reply);
    g_free(op);
}

/*
 * Sends a request of @len bytes at @req (header included, taken as is)
 * with @room bytes for the reply.  Returns the reply's error, NO_REPLY
 * for an empty one, and copies the reply's payload to @out.
 */
/*
 * Cuts [@base, @base + @len) into @n pieces at random places (some
 * empty), or keeps it whole without @rand.
 */
static void split_iov(struct iovec *iov, unsigned int n, void *base,
                      size_t len, GRand *rand)
{
    size_t done = 0;
    unsigned int i;

    for (i = 0; i < n; i++) {
        size_t piece = i == n - 1 ? len - done :
                       g_rand_int_range(rand, 0, len - done + 1);

        iov[i] = (struct iovec) { (uint8_t *)base + done, piece };
        done += piece;
    }
}

static int send_raw_split(const void *req, size_t len, size_t room,
                          void *out, size_t out_len, GRand *rand)
{
    unsigned int nr_out = rand ? g_rand_int_range(rand, 1, 5) : 1;
    unsigned int nr_in = rand ? g_rand_int_range(rand, 1, 4) : 1;
    VuVirtqElement *elem = g_malloc0(sizeof(*elem) +
                                     (nr_out + nr_in) * sizeof(struct iovec));
    struct fuse_out_header hdr;

    elem->out_sg = (struct iovec *)(elem + 1);
    elem->in_sg = elem->out_sg + nr_out;
    elem->out_num = nr_out;
    elem->in_num = nr_in;
    split_iov(elem->out_sg, nr_out, (void *)req, len, rand);
    split_iov(elem->in_sg, nr_in, reply_buf, MIN(room, REPLY_ROOM), rand);
    completed = false;
    memset(reply_buf, 0xa5, sizeof(reply_buf));
    fs_handle_request(&fs, 1, elem);
    g_assert_true(completed);
    if (!reply_len) {
        return NO_REPLY;
    }
    g_assert_cmpuint(reply_len, >=, sizeof(hdr));
    memcpy(&hdr, reply_buf, sizeof(hdr));
    g_assert_cmpuint(hdr.len, ==, reply_len);
    if (out) {
        memcpy(out, reply_buf + sizeof(hdr),
               MIN(out_len, reply_len - sizeof(hdr)));
    }
    return hdr.error;
}

static int send_raw(const void *req, size_t len, size_t room, void *out,
                    size_t out_len)
{
    return send_raw_split(req, len, room, out, out_len, NULL);
}

static int send_req(uint32_t opcode, uint64_t nodeid, const void *arg,
                    size_t arg_len, void *out, size_t out_len)
{
    g_autofree uint8_t *buf = g_malloc0(sizeof(struct fuse_in_header) +
                                        arg_len);
    struct fuse_in_header in = {
        .len = sizeof(in) + arg_len,
        .opcode = opcode,
        .unique = 42,
        .nodeid = nodeid,
    };

    memcpy(buf, &in, sizeof(in));
    if (arg_len) {
        memcpy(buf + sizeof(in), arg, arg_len);
    }
    return send_raw(buf, in.len, REPLY_ROOM, out, out_len);
}

/* A name as FUSE sends it, with its NUL */
static int send_name(uint32_t opcode, uint64_t nodeid, const char *name,
                     void *out, size_t out_len)
{
    return send_req(opcode, nodeid, name, strlen(name) + 1, out, out_len);
}

static uint64_t lookup(uint64_t parent, const char *name)
{
    struct fuse_entry_out e;

    g_assert_cmpint(send_name(FUSE_LOOKUP, parent, name, &e, sizeof(e)), ==,
                    0);
    return e.nodeid;
}

static uint64_t open_file(uint64_t node, uint32_t flags)
{
    struct fuse_open_in in = { .flags = flags };
    struct fuse_open_out out;

    g_assert_cmpint(send_req(FUSE_OPEN, node, &in, sizeof(in), &out,
                             sizeof(out)), ==, 0);
    return out.fh;
}

static void do_init(void)
{
    struct fuse_init_in in = { .major = 7, .minor = 41 };
    struct fuse_init_out out;

    g_assert_cmpint(send_req(FUSE_INIT, 0, &in, sizeof(in), &out,
                             sizeof(out)), ==, 0);
    g_assert_cmpuint(out.major, ==, 7);
}

static void test_header(void)
{
    struct fuse_in_header in = {
        .len = sizeof(in), .opcode = FUSE_GETATTR, .unique = 7,
        .nodeid = FUSE_ROOT_ID,
    };
    struct fuse_getattr_in ga = { 0 };
    uint8_t buf[sizeof(in) + sizeof(ga)];

    /* Shorter than a header: nothing to answer to */
    g_assert_cmpint(send_raw(&in, sizeof(in) - 1, REPLY_ROOM, NULL, 0), ==,
                    NO_REPLY);
    g_assert_cmpint(send_raw(&in, 0, REPLY_ROOM, NULL, 0), ==, NO_REPLY);
    /* A length that is not the request's */
    in.len = sizeof(in) + 100;
    g_assert_cmpint(send_raw(&in, sizeof(in), REPLY_ROOM, NULL, 0), ==,
                    -EINVAL);
    in.len = UINT32_MAX;
    g_assert_cmpint(send_raw(&in, sizeof(in), REPLY_ROOM, NULL, 0), ==,
                    -EINVAL);
    /* No room for even a reply header: an empty reply */
    in.len = sizeof(buf);
    memcpy(buf, &in, sizeof(in));
    memcpy(buf + sizeof(in), &ga, sizeof(ga));
    g_assert_cmpint(send_raw(buf, sizeof(buf), 8, NULL, 0), ==, NO_REPLY);
    /* Room for a header but not the attributes: an error */
    g_assert_cmpint(send_raw(buf, sizeof(buf), 16, NULL, 0), ==, -EIO);
    /* Unknown opcodes */
    g_assert_cmpint(send_req(9999, FUSE_ROOT_ID, NULL, 0, NULL, 0), ==,
                    -ENOSYS);
    g_assert_cmpint(send_req(0, FUSE_ROOT_ID, NULL, 0, NULL, 0), ==,
                    -ENOSYS);
    /* Arguments too short for the opcode */
    g_assert_cmpint(send_req(FUSE_OPEN, FUSE_ROOT_ID, "x", 1, NULL, 0), ==,
                    -EINVAL);
    g_assert_cmpint(send_req(FUSE_SETATTR, FUSE_ROOT_ID, "x", 1, NULL, 0),
                    ==, -EINVAL);
    g_assert_cmpint(send_req(FUSE_INIT, 0, "x", 1, NULL, 0), ==, -EINVAL);
}

static void test_node_ids(void)
{
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    struct fuse_getattr_in ga = { 0 };
    struct fuse_forget_in forget = { .nlookup = 1 };
    uint64_t bad[] = {
        0, 2, UINT64_MAX, UINT32_MAX, file + 1, file ^ (1ULL << 32),
        file & UINT32_MAX, (uint64_t)1 << 32 | 1,
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_cmpint(send_req(FUSE_GETATTR, bad[i], &ga, sizeof(ga),
                                 NULL, 0), ==, -ESTALE);
        g_assert_cmpint(send_name(FUSE_LOOKUP, bad[i], "file", NULL, 0), ==,
                        -ESTALE);
    }
    /* A forgotten node is gone, and its id never comes back */
    g_assert_cmpint(send_req(FUSE_FORGET, file, &forget, sizeof(forget),
                             NULL, 0), ==, NO_REPLY);
    g_assert_cmpint(send_req(FUSE_GETATTR, file, &ga, sizeof(ga), NULL, 0),
                    ==, -ESTALE);
    g_assert_cmpuint(lookup(FUSE_ROOT_ID, "file"), !=, file);
    /* Forgetting the root or a bogus id changes nothing */
    g_assert_cmpint(send_req(FUSE_FORGET, FUSE_ROOT_ID, &forget,
                             sizeof(forget), NULL, 0), ==, NO_REPLY);
    g_assert_cmpint(send_req(FUSE_FORGET, 12345, &forget, sizeof(forget),
                             NULL, 0), ==, NO_REPLY);
    g_assert_cmpint(send_req(FUSE_GETATTR, FUSE_ROOT_ID, &ga, sizeof(ga),
                             NULL, 0), ==, 0);
}

static void test_batch_forget(void)
{
    struct {
        struct fuse_batch_forget_in in;
        struct fuse_forget_one one[2];
    } req = {
        .in.count = UINT32_MAX,
        .one = { { 2, 1 }, { FUSE_ROOT_ID, 100 } },
    };

    /* A count past the message: no reply, nothing forgotten */
    g_assert_cmpint(send_req(FUSE_BATCH_FORGET, 0, &req, sizeof(req), NULL,
                             0), ==, NO_REPLY);
    req.in.count = 2;
    g_assert_cmpint(send_req(FUSE_BATCH_FORGET, 0, &req, sizeof(req), NULL,
                             0), ==, NO_REPLY);
    g_assert_cmpuint(lookup(FUSE_ROOT_ID, "dir"), !=, 0);
}

static void test_names(void)
{
    uint64_t dir = lookup(FUSE_ROOT_ID, "dir");
    const char *bad[] = { "..", ".", "", "dir/../..", "../secret", "/etc" };
    struct fuse_entry_out e;
    struct stat st;
    int i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_cmpint(send_name(FUSE_LOOKUP, dir, bad[i], NULL, 0), ==,
                        -EINVAL);
        g_assert_cmpint(send_name(FUSE_LOOKUP, FUSE_ROOT_ID, bad[i], NULL, 0),
                        ==, -EINVAL);
        g_assert_cmpint(send_name(FUSE_UNLINK, dir, bad[i], NULL, 0), ==,
                        -EINVAL);
        g_assert_cmpint(send_name(FUSE_RMDIR, FUSE_ROOT_ID, bad[i], NULL, 0),
                        ==, -EINVAL);
    }
    /* A name without its NUL, and one longer than NAME_MAX */
    g_assert_cmpint(send_req(FUSE_LOOKUP, dir, "file", 4, NULL, 0), ==,
                    -EINVAL);
    {
        g_autofree char *longname = g_strnfill(NAME_MAX + 1, 'a');

        g_assert_cmpint(send_name(FUSE_LOOKUP, dir, longname, NULL, 0), ==,
                        -EINVAL);
    }
    /* A lookup in a file */
    g_assert_cmpint(send_name(FUSE_LOOKUP, lookup(FUSE_ROOT_ID, "file"),
                              "x", NULL, 0), ==, -ENOTDIR);

    /* Symlinks to outside are nodes of their own, never followed */
    g_assert_cmpint(send_name(FUSE_LOOKUP, FUSE_ROOT_ID, "abs-link", &e,
                              sizeof(e)), ==, 0);
    g_assert_true(S_ISLNK(e.attr.mode));
    g_assert_cmpint(send_name(FUSE_LOOKUP, FUSE_ROOT_ID, "rel-link", &e,
                              sizeof(e)), ==, 0);
    g_assert_true(S_ISLNK(e.attr.mode));
    /* A directory symlink: nothing behind it */
    g_assert_cmpint(send_name(FUSE_LOOKUP, lookup(FUSE_ROOT_ID, "dir-link"),
                              "secret", NULL, 0), ==, -ENOTDIR);
    /* Nothing was created outside */
    {
        g_autofree char *p = g_build_filename(tmp_dir, "secret", NULL);

        g_assert_cmpint(stat(p, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 7);
    }
}

/*
 * Sends @opcode to make a new entry @name in directory @parent: @fixed
 * bytes of arguments at @arg (the operation's *_in), the name, and for
 * FUSE_SYMLINK a target after it.
 */
static int send_new_entry(uint32_t opcode, uint64_t parent, const void *arg,
                          size_t fixed, const char *name)
{
    const char *target = opcode == FUSE_SYMLINK ? "target" : "";
    size_t name_len = strlen(name) + 1;
    size_t target_len = *target ? strlen(target) + 1 : 0;
    g_autofree uint8_t *buf = g_malloc0(fixed + name_len + target_len);

    if (fixed) {
        memcpy(buf, arg, fixed);
    }
    memcpy(buf + fixed, name, name_len);
    memcpy(buf + fixed + name_len, target, target_len);
    return send_req(opcode, parent, buf, fixed + name_len + target_len, NULL,
                    0);
}

/*
 * Names of new entries that are not one component: the guest must not
 * make anything outside the directory it names, least of all outside the
 * shared one ("../x" and absolute names reach past openat2's checks when
 * the back-end hands them to mkdirat() and the like).
 */
static void test_new_names(void)
{
    uint64_t dir = lookup(FUSE_ROOT_ID, "dir");
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    g_autofree char *abs = g_build_filename(tmp_dir, "escape-abs", NULL);
    const char *bad[] = { "..", ".", "../escape", "../../escape",
                          "sub/escape", abs };
    struct fuse_mkdir_in mkdir_in = { .mode = 0755 };
    struct fuse_mknod_in mknod_in = { .mode = S_IFREG | 0644 };
    struct fuse_create_in create_in = { .flags = O_RDWR,
                                        .mode = S_IFREG | 0644 };
    struct fuse_link_in link_in = { .oldnodeid = file };
    struct {
        uint32_t opcode;
        const void *arg;
        size_t fixed;
    } ops[] = {
        { FUSE_MKDIR, &mkdir_in, sizeof(mkdir_in) },
        { FUSE_MKNOD, &mknod_in, sizeof(mknod_in) },
        { FUSE_CREATE, &create_in, sizeof(create_in) },
        { FUSE_LINK, &link_in, sizeof(link_in) },
        { FUSE_SYMLINK, NULL, 0 },
    };
    g_autofree char *sub = g_build_filename(share_dir, "dir", "sub", NULL);
    struct stat st;
    int i, j;

    g_assert_cmpint(mkdir(sub, 0755), ==, 0);
    for (i = 0; i < ARRAY_SIZE(ops); i++) {
        for (j = 0; j < ARRAY_SIZE(bad); j++) {
            g_assert_cmpint(send_new_entry(ops[i].opcode, dir, ops[i].arg,
                                           ops[i].fixed, bad[j]), ==,
                            -EINVAL);
        }
        /* One component is fine */
        g_assert_cmpint(send_new_entry(ops[i].opcode, dir, ops[i].arg,
                                       ops[i].fixed, "ok"), ==, 0);
        g_assert_cmpint(send_name(ops[i].opcode == FUSE_MKDIR ? FUSE_RMDIR :
                                  FUSE_UNLINK, dir, "ok", NULL, 0), ==, 0);
    }
    /* Nothing was made: not beside the shared directory, nor below it */
    for (j = 0; j < 3; j++) {
        g_autofree char *p = g_build_filename(j == 0 ? tmp_dir : j == 1 ?
                                              share_dir : sub, "escape",
                                              NULL);

        g_assert_cmpint(lstat(p, &st), <, 0);
        g_assert_cmpint(errno, ==, ENOENT);
    }
    g_assert_cmpint(lstat(abs, &st), <, 0);
    g_assert_cmpint(errno, ==, ENOENT);
    g_assert_cmpint(rmdir(sub), ==, 0);
}

static void test_open_symlink(void)
{
    struct fuse_entry_out e;
    struct fuse_open_in in = { .flags = O_RDONLY };

    g_assert_cmpint(send_name(FUSE_LOOKUP, FUSE_ROOT_ID, "abs-link", &e,
                              sizeof(e)), ==, 0);
    g_assert_cmpint(send_req(FUSE_OPEN, e.nodeid, &in, sizeof(in), NULL, 0),
                    ==, -EINVAL);
    g_assert_cmpint(send_req(FUSE_OPENDIR, e.nodeid, NULL, 0, NULL, 0), ==,
                    -ENOTDIR);
}

static void test_handles(void)
{
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    uint64_t dir = lookup(FUSE_ROOT_ID, "dir");
    uint64_t fh = open_file(file, O_RDONLY);
    struct fuse_read_in rd = { .fh = fh, .size = 4096 };
    struct fuse_release_in rel = { .fh = fh };
    uint64_t bad[] = { 0, fh + 1, fh ^ (1ULL << 32), fh & UINT32_MAX,
                       UINT64_MAX };
    char data[16] = { 0 };
    struct {
        struct fuse_write_in in;
        char data[4];
    } wr = { .in = { .fh = fh, .size = 4 } };
    int i;

    g_assert_cmpint(send_req(FUSE_READ, file, &rd, sizeof(rd), data,
                             sizeof(data)), ==, 0);
    g_assert_cmpstr(data, ==, "content");
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        rd.fh = bad[i];
        g_assert_cmpint(send_req(FUSE_READ, file, &rd, sizeof(rd), NULL, 0),
                        ==, -EBADF);
    }
    /* The handle of another node */
    rd.fh = fh;
    g_assert_cmpint(send_req(FUSE_READ, dir, &rd, sizeof(rd), NULL, 0), ==,
                    -EBADF);
    /* Writing through a read-only handle */
    g_assert_cmpint(send_req(FUSE_WRITE, file, &wr, sizeof(wr.in) + 4, NULL,
                             0), ==, -EBADF);
    /* A WRITE whose size is not its data's */
    wr.in.size = 1000;
    g_assert_cmpint(send_req(FUSE_WRITE, file, &wr, sizeof(wr.in) + 4, NULL,
                             0), ==, -EINVAL);
    /* Offsets past what a file can have */
    rd.offset = UINT64_MAX;
    g_assert_cmpint(send_req(FUSE_READ, file, &rd, sizeof(rd), NULL, 0), ==,
                    -EINVAL);
    /* Released: the handle is dead, and releasing it twice fails */
    g_assert_cmpint(send_req(FUSE_RELEASE, file, &rel, sizeof(rel), NULL, 0),
                    ==, 0);
    rd.offset = 0;
    g_assert_cmpint(send_req(FUSE_READ, file, &rd, sizeof(rd), NULL, 0), ==,
                    -EBADF);
    g_assert_cmpint(send_req(FUSE_RELEASE, file, &rel, sizeof(rel), NULL, 0),
                    ==, -EBADF);
    /* A file handle is no directory handle */
    fh = open_file(file, O_RDONLY);
    rd.fh = fh;
    g_assert_cmpint(send_req(FUSE_READDIR, file, &rd, sizeof(rd), NULL, 0),
                    ==, -EBADF);
    /* Opening a directory as a file, and O_ACCMODE 3 */
    {
        struct fuse_open_in in = { .flags = O_RDONLY };

        g_assert_cmpint(send_req(FUSE_OPEN, dir, &in, sizeof(in), NULL, 0),
                        ==, -EISDIR);
        in.flags = O_ACCMODE;
        g_assert_cmpint(send_req(FUSE_OPEN, file, &in, sizeof(in), NULL, 0),
                        ==, -EINVAL);
    }
}

static void test_create(void)
{
    struct {
        struct fuse_mknod_in in;
        char name[8];
    } mk = { .in = { .mode = S_IFCHR | 0666, .rdev = makedev(1, 3) },
             .name = "null" };
    struct {
        struct fuse_create_in in;
        char name[8];
    } cr = { .in = { .flags = O_RDWR, .mode = S_IFREG | 06777 },
             .name = "suid" };
    struct {
        struct fuse_rename2_in in;
        char names[16];
    } rn = { .in = { .newdir = 12345 } };
    g_autofree char *p = NULL;
    struct stat st;

    /* No device node */
    g_assert_cmpint(send_req(FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), NULL,
                             0), ==, -EPERM);
    mk.in.mode = S_IFBLK | 0666;
    g_assert_cmpint(send_req(FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), NULL,
                             0), ==, -EPERM);
    /* No set-id bits */
    g_assert_cmpint(send_req(FUSE_CREATE, FUSE_ROOT_ID, &cr, sizeof(cr), NULL,
                             0), ==, 0);
    p = g_build_filename(share_dir, "suid", NULL);
    g_assert_cmpint(stat(p, &st), ==, 0);
    g_assert_cmpint(st.st_mode & (S_ISUID | S_ISGID), ==, 0);
    /* A rename to an unknown directory, to '..', with unknown flags */
    memcpy(rn.names, "suid\0x\0", 8);
    g_assert_cmpint(send_req(FUSE_RENAME2, FUSE_ROOT_ID, &rn, sizeof(rn),
                             NULL, 0), ==, -ESTALE);
    rn.in.newdir = FUSE_ROOT_ID;
    memcpy(rn.names, "suid\0..\0", 9);
    g_assert_cmpint(send_req(FUSE_RENAME2, FUSE_ROOT_ID, &rn, sizeof(rn),
                             NULL, 0), ==, -EINVAL);
    memcpy(rn.names, "suid\0x\0", 8);
    rn.in.flags = RENAME_WHITEOUT;
    g_assert_cmpint(send_req(FUSE_RENAME2, FUSE_ROOT_ID, &rn, sizeof(rn),
                             NULL, 0), ==, -EINVAL);
    /* A rename into a file */
    rn.in.flags = 0;
    rn.in.newdir = lookup(FUSE_ROOT_ID, "file");
    g_assert_cmpint(send_req(FUSE_RENAME2, FUSE_ROOT_ID, &rn, sizeof(rn),
                             NULL, 0), ==, -ENOTDIR);
}

static void test_mappings(void)
{
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    struct fuse_setupmapping_in sm = {
        .fh = UINT64_MAX, .len = 2 * 1024 * 1024,
        .flags = FUSE_SETUPMAPPING_FLAG_READ,
    };
    /* As Linux sends it: the ranges right after the 4-byte count */
    struct {
        struct fuse_removemapping_in in;
        struct fuse_removemapping_one one;
    } QEMU_PACKED rm = { .in.count = 1, .one = { 0, 4096 } };
    unsigned int ops = mapper_ops;

    /* No window: refused */
    fs.cache_size = 0;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EOPNOTSUPP);
    g_assert_cmpint(send_req(FUSE_REMOVEMAPPING, file, &rm, sizeof(rm), NULL,
                             0), ==, -EOPNOTSUPP);
    fs.cache_size = 8 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, 0);
    g_assert_cmpuint(mapper_ops, ==, ops + 1);
    /* Past the window, unaligned, too long, unknown flags, a directory */
    sm.moffset = 8 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EINVAL);
    sm.moffset = 4096;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EINVAL);
    sm.moffset = 0;
    sm.foffset = UINT64_MAX - 4095;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EINVAL);
    sm.foffset = 0;
    sm.len = 4 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EINVAL);
    sm.len = 4096;
    sm.flags = 1 << 5;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EINVAL);
    sm.flags = FUSE_SETUPMAPPING_FLAG_READ;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, FUSE_ROOT_ID, &sm, sizeof(sm),
                             NULL, 0), ==, -EINVAL);
    sm.fh = 77;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EBADF);
    /* Counts past the message, ranges past the window */
    rm.in.count = UINT32_MAX;
    g_assert_cmpint(send_req(FUSE_REMOVEMAPPING, file, &rm, sizeof(rm), NULL,
                             0), ==, -EINVAL);
    rm.in.count = 0;
    g_assert_cmpint(send_req(FUSE_REMOVEMAPPING, file, &rm, sizeof(rm), NULL,
                             0), ==, -EINVAL);
    rm.in.count = 1;
    rm.one.len = UINT64_MAX - 4095;
    g_assert_cmpint(send_req(FUSE_REMOVEMAPPING, file, &rm, sizeof(rm), NULL,
                             0), ==, -EINVAL);
    rm.one.len = 4096;
    g_assert_cmpint(send_req(FUSE_REMOVEMAPPING, file, &rm, sizeof(rm), NULL,
                             0), ==, 0);
    g_assert_cmpuint(mapper_ops, ==, ops + 2);
    fs.cache_size = 0;
}

static void test_read_only(void)
{
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    struct fuse_open_in in = { .flags = O_RDWR };
    struct fuse_setupmapping_in sm = {
        .fh = UINT64_MAX, .len = 4096, .flags = FUSE_SETUPMAPPING_FLAG_WRITE,
    };
    struct {
        struct fuse_mkdir_in in;
        char name[8];
    } mk = { .in.mode = 0755, .name = "newdir" };
    g_autofree char *p = g_build_filename(share_dir, "newdir", NULL);
    struct stat st;

    fs.read_only = true;
    g_assert_cmpint(send_req(FUSE_OPEN, file, &in, sizeof(in), NULL, 0), ==,
                    -EROFS);
    g_assert_cmpint(send_name(FUSE_UNLINK, FUSE_ROOT_ID, "file", NULL, 0),
                    ==, -EROFS);
    g_assert_cmpint(send_req(FUSE_MKDIR, FUSE_ROOT_ID, &mk, sizeof(mk), NULL,
                             0), ==, -EROFS);
    fs.cache_size = 8 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EROFS);
    fs.cache_size = 0;
    fs.read_only = false;
    g_assert_cmpint(stat(p, &st), <, 0);
    g_assert_cmpint(send_req(FUSE_MKDIR, FUSE_ROOT_ID, &mk, sizeof(mk), NULL,
                             0), ==, 0);
    g_assert_cmpint(stat(p, &st), ==, 0);
}

static void setup(void)
{
    g_autofree char *p = NULL;
    Error *err = NULL;

    tmp_dir = g_dir_make_tmp("vhost-user-fs-dax-test-XXXXXX", NULL);
    g_assert_nonnull(tmp_dir);
    share_dir = g_build_filename(tmp_dir, "share", NULL);
    g_assert_cmpint(mkdir(share_dir, 0755), ==, 0);
    p = g_build_filename(tmp_dir, "secret", NULL);
    g_assert_true(g_file_set_contents(p, "secret\n", -1, NULL));
    g_free(p);
    p = g_build_filename(share_dir, "file", NULL);
    g_assert_true(g_file_set_contents(p, "content", -1, NULL));
    g_free(p);
    p = g_build_filename(share_dir, "dir", NULL);
    g_assert_cmpint(mkdir(p, 0755), ==, 0);
    g_free(p);
    p = g_build_filename(share_dir, "abs-link", NULL);
    g_assert_cmpint(symlink(tmp_dir, p), ==, 0);
    g_free(p);
    p = g_build_filename(share_dir, "rel-link", NULL);
    g_assert_cmpint(symlink("../secret", p), ==, 0);
    g_free(p);
    p = g_build_filename(share_dir, "dir-link", NULL);
    g_assert_cmpint(symlink("..", p), ==, 0);

    fs.shared_dir = share_dir;
    fs.page_size = qemu_real_host_page_size();
    fs.proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY);
    g_assert_cmpint(fs.proc_fd, >=, 0);
    fs.nr_queues = ARRAY_SIZE(queue_gen);
    fs.queue_gen = queue_gen;
    /* As the back-end's main() */
    if (!fs_drop_fsetid(&err) || !fs_nodes_init(&fs, &err)) {
        g_error("%s", error_get_pretty(err));
    }
}

static void test_before_init(void)
{
    struct fuse_getattr_in ga = { 0 };

    g_assert_cmpint(send_req(FUSE_GETATTR, FUSE_ROOT_ID, &ga, sizeof(ga),
                             NULL, 0), ==, -EIO);
    do_init();
}

/* CREATE of @name without O_EXCL: the error, the handle in *@fh */
static int create_open(const char *name, uint32_t flags, uint64_t *fh)
{
    struct {
        struct fuse_create_in in;
        char name[32];
    } cr = { .in = { .flags = flags, .mode = S_IFREG | 0644 } };
    struct {
        struct fuse_entry_out e;
        struct fuse_open_out o;
    } out = { 0 };
    int ret;

    g_assert_cmpuint(strlen(name), <, sizeof(cr.name));
    strcpy(cr.name, name);
    ret = send_req(FUSE_CREATE, FUSE_ROOT_ID, &cr,
                   sizeof(cr.in) + strlen(name) + 1, &out, sizeof(out));
    if (fh) {
        *fh = out.o.fh;
    }
    return ret;
}

/*
 * CREATE of a name that exists opens it as OPEN would: a regular file
 * only.  A FIFO would block the back-end's only thread until a writer
 * came; a device node the host left in the share is the host's device.
 */
static void test_create_special(void)
{
    g_autofree char *fifo = g_build_filename(share_dir, "fifo", NULL);
    g_autofree char *dev = g_build_filename(share_dir, "null-dev", NULL);
    struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0666 };
    struct stat st;
    uint64_t fh;

    g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
    /* alarm(): a back-end that blocks fails the test instead of hanging */
    alarm(10);
    g_assert_cmpint(create_open("fifo", O_RDONLY, NULL), ==, -EINVAL);
    g_assert_cmpint(create_open("fifo", O_WRONLY, NULL), ==, -EINVAL);
    alarm(0);
    g_assert_cmpint(create_open("dir", O_RDONLY, NULL), ==, -EISDIR);
    g_assert_cmpint(create_open("abs-link", O_RDONLY, NULL), ==, -ELOOP);
    /* The existing regular file: opened, O_TRUNC and all */
    g_assert_cmpint(create_open("file", O_RDONLY, &fh), ==, 0);
    {
        struct fuse_read_in rd = { .fh = fh, .size = 64 };
        char data[16] = { 0 };

        g_assert_cmpint(send_req(FUSE_READ, lookup(FUSE_ROOT_ID, "file"),
                                 &rd, sizeof(rd), data, sizeof(data)), ==, 0);
        g_assert_cmpstr(data, ==, "content");
    }
    g_assert_cmpint(unlink(fifo), ==, 0);

    if (mknod(dev, S_IFCHR | 0600, makedev(1, 3)) < 0) {
        g_test_skip("cannot make a device node here");
        return;
    }
    g_assert_cmpint(create_open("null-dev", O_RDWR, NULL), ==, -EINVAL);
    /* Nor may the guest open it up to the host's users */
    g_assert_cmpint(send_req(FUSE_SETATTR, lookup(FUSE_ROOT_ID, "null-dev"),
                             &sa, sizeof(sa), NULL, 0), ==, -EPERM);
    g_assert_cmpint(stat(dev, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_cmpint(unlink(dev), ==, 0);
}

/*
 * A handle belongs to the node it was opened on, even when the guest
 * forgets the node and the node's slot goes to another file; a forgotten
 * node stays while its handles are open, and its RELEASE works.
 */
static void test_handle_forgotten_node(void)
{
    g_autofree char *path = g_build_filename(share_dir, "other", NULL);
    g_autofree char *path_a = g_build_filename(share_dir, "forgotten", NULL);
    uint64_t a, b, fh;
    struct fuse_forget_in fg = { .nlookup = UINT64_MAX };
    struct fuse_read_in rd = { .size = 64 };
    struct fuse_release_in rel;
    char data[16] = { 0 };

    g_assert_true(g_file_set_contents(path, "other data", -1, NULL));
    g_assert_true(g_file_set_contents(path_a, "content", -1, NULL));
    a = lookup(FUSE_ROOT_ID, "forgotten");
    fh = open_file(a, O_RDONLY);
    rd.fh = fh;
    g_assert_cmpint(send_req(FUSE_FORGET, a, &fg, sizeof(fg), NULL, 0), ==,
                    NO_REPLY);
    b = lookup(FUSE_ROOT_ID, "other");
    g_assert_cmpuint(b, !=, a);
    /* Not a handle of b: before, b took a's slot and the handle with it */
    g_assert_cmpint(send_req(FUSE_READ, b, &rd, sizeof(rd), NULL, 0), ==,
                    -EBADF);
    /* Still a's, which is still there */
    g_assert_cmpint(send_req(FUSE_READ, a, &rd, sizeof(rd), data,
                             sizeof(data)), ==, 0);
    g_assert_cmpstr(data, ==, "content");
    rel = (struct fuse_release_in) { .fh = fh };
    g_assert_cmpint(send_req(FUSE_RELEASE, a, &rel, sizeof(rel), NULL, 0),
                    ==, 0);
    /* With its last handle gone, the forgotten node goes */
    g_assert_cmpint(send_req(FUSE_READ, a, &rd, sizeof(rd), NULL, 0), ==,
                    -ESTALE);
    g_assert_cmpint(unlink(path), ==, 0);
    g_assert_cmpint(unlink(path_a), ==, 0);
}

/* @text as the content of the file at @path, the same inode */
static void rewrite_in_place(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_TRUNC);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, text, strlen(text)), ==, strlen(text));
    close(fd);
}

/*
 * CREATE or OPEN with O_TRUNC, or SETATTR of the size, of a file mapped
 * in the window is done by the mapper, which unmaps first: the window
 * must never have pages past the file's end, not even until the unmap
 * comes (a guest access then is SIGBUS for QEMU).
 */
static void test_create_trunc_mapped(void)
{
    g_autofree char *path = g_build_filename(share_dir, "mapped", NULL);
    uint64_t node, fh;
    struct fuse_setupmapping_in sm = {
        .len = 4096, .flags = FUSE_SETUPMAPPING_FLAG_READ,
    };
    struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 3 };
    struct fuse_attr_out ao;
    struct stat st;
    unsigned int ops;

    g_assert_true(g_file_set_contents(path, "mapped data", -1, NULL));
    node = lookup(FUSE_ROOT_ID, "mapped");
    sm.fh = open_file(node, O_RDONLY);
    fs.cache_size = 8 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, node, &sm, sizeof(sm), NULL,
                             0), ==, 0);
    ops = mapper_ops;
    truncate_size_before = -1;
    g_assert_cmpint(create_open("mapped", O_RDWR | O_TRUNC, &fh), ==, 0);
    g_assert_cmpuint(mapper_ops, ==, ops + 1);
    g_assert_cmpint(last_op_type, ==, FS_MAP_TRUNCATE);
    g_assert_cmpint(truncate_size_before, ==, strlen("mapped data"));
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);

    /* OPEN with O_TRUNC, and SETATTR of the size: the same */
    rewrite_in_place(path, "mapped data");
    truncate_size_before = -1;
    open_file(node, O_RDWR | O_TRUNC);
    g_assert_cmpint(last_op_type, ==, FS_MAP_TRUNCATE);
    g_assert_cmpint(truncate_size_before, ==, strlen("mapped data"));
    rewrite_in_place(path, "mapped data");
    truncate_size_before = -1;
    g_assert_cmpint(send_req(FUSE_SETATTR, node, &sa, sizeof(sa), &ao,
                             sizeof(ao)), ==, 0);
    g_assert_cmpint(last_op_type, ==, FS_MAP_TRUNCATE);
    g_assert_cmpint(truncate_size_before, ==, strlen("mapped data"));
    g_assert_cmpuint(ao.attr.size, ==, 3);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 3);
    fs.cache_size = 0;
    g_assert_cmpint(unlink(path), ==, 0);
}

/*
 * A guest write or truncation clears the set-user-ID and set-group-ID
 * bits of a host program in the share, as it would for anyone without
 * CAP_FSETID: the back-end gives that up.
 */
static void test_setid_write(void)
{
    g_autofree char *path = g_build_filename(share_dir, "setid", NULL);
    struct {
        struct fuse_write_in in;
        char data[8];
    } wr = { .in = { .size = 8 }, .data = "PAYLOAD" };
    struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 4 };
    struct stat st;
    uint64_t node;

    g_assert_true(g_file_set_contents(path, "#!/bin/sh\n", -1, NULL));
    g_assert_cmpint(chmod(path, 06755), ==, 0);
    node = lookup(FUSE_ROOT_ID, "setid");
    wr.in.fh = open_file(node, O_RDWR);
    g_assert_cmpint(send_req(FUSE_WRITE, node, &wr, sizeof(wr), NULL, 0), ==,
                    0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & (S_ISUID | S_ISGID), ==, 0);

    g_assert_cmpint(chmod(path, 06755), ==, 0);
    g_assert_cmpint(send_req(FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0),
                    ==, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 4);
    g_assert_cmpint(st.st_mode & (S_ISUID | S_ISGID), ==, 0);
    g_assert_cmpint(unlink(path), ==, 0);
}

/* READDIR of the root: ".." is the root, not what lies above it */
static void test_readdir_root(void)
{
    struct fuse_open_in op = { .flags = O_RDONLY };
    struct fuse_open_out oo;
    struct fuse_read_in rd = { .size = 64 * 1024 };
    g_autofree uint8_t *buf = g_malloc0(64 * 1024);
    struct stat root, parent;
    size_t off;
    bool seen = false;

    g_assert_cmpint(stat(share_dir, &root), ==, 0);
    g_assert_cmpint(stat(tmp_dir, &parent), ==, 0);
    g_assert_cmpint(send_req(FUSE_OPENDIR, FUSE_ROOT_ID, &op, sizeof(op), &oo,
                             sizeof(oo)), ==, 0);
    rd.fh = oo.fh;
    g_assert_cmpint(send_req(FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), buf,
                             64 * 1024), ==, 0);
    for (off = 0; off + FUSE_NAME_OFFSET < reply_len - 16;) {
        struct fuse_dirent *d = (struct fuse_dirent *)(buf + off);

        if (d->namelen == 2 && !memcmp(d->name, "..", 2)) {
            g_assert_cmpuint(d->ino, ==, root.st_ino);
            g_assert_cmpuint(d->ino, !=, parent.st_ino);
            seen = true;
        }
        off += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d->namelen);
    }
    g_assert_true(seen);
}

/*
 * A writable mapping through a handle opened read-only is refused; a new
 * FUSE_INIT without a device reset unmaps what the old session mapped
 * (the front-end still has it), instead of only forgetting it.
 */
static void test_mapping_session(void)
{
    uint64_t file = lookup(FUSE_ROOT_ID, "file");
    struct fuse_setupmapping_in sm = {
        .fh = open_file(file, O_RDONLY), .len = 4096,
        .flags = FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE,
    };

    fs.cache_size = 8 * 1024 * 1024;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, -EBADF);
    sm.flags = FUSE_SETUPMAPPING_FLAG_READ;
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, file, &sm, sizeof(sm), NULL,
                             0), ==, 0);
    g_assert_cmpint(last_op_type, ==, FS_MAP_SETUP);
    do_init();
    g_assert_cmpint(last_op_type, ==, FS_MAP_REMOVE_ALL);
    fs.cache_size = 0;
}

/*
 * A node the guest forgets while its file is mapped, then looks up again,
 * is a new node of the same file: its size changes still reach the
 * mapper, which knows its slots by inode, not by node id.  Before, the
 * window kept the pages past the end of the truncated file (SIGBUS for
 * QEMU at the guest's next access).
 */
static void test_mapped_node_forgotten(void)
{
    g_autofree char *path = g_build_filename(share_dir, "remapped", NULL);
    struct fuse_setupmapping_in sm = {
        .fh = UINT64_MAX, .len = 4096, .flags = FUSE_SETUPMAPPING_FLAG_READ,
    };
    struct fuse_forget_in fg = { .nlookup = UINT64_MAX };
    struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 0 };
    uint64_t a, b;
    unsigned int ops;

    g_assert_true(g_file_set_contents(path, "mapped data", -1, NULL));
    fs.cache_size = 8 * 1024 * 1024;
    a = lookup(FUSE_ROOT_ID, "remapped");
    g_assert_cmpint(send_req(FUSE_SETUPMAPPING, a, &sm, sizeof(sm), NULL,
                             0), ==, 0);
    g_assert_cmpint(send_req(FUSE_FORGET, a, &fg, sizeof(fg), NULL, 0), ==,
                    NO_REPLY);
    b = lookup(FUSE_ROOT_ID, "remapped");
    g_assert_cmpuint(b, !=, a);
    ops = mapper_ops;
    g_assert_cmpint(send_req(FUSE_SETATTR, b, &sa, sizeof(sa), NULL, 0), ==,
                    0);
    g_assert_cmpuint(mapper_ops, ==, ops + 1);
    g_assert_cmpint(last_op_type, ==, FS_MAP_TRUNCATE);
    fs.cache_size = 0;
    g_assert_cmpint(unlink(path), ==, 0);
}

/* The random test's requests: each opcode's fixed arguments and names */
typedef struct {
    uint32_t opcode;
    size_t fixed;
    int names;              /* SYMLINK: the name, then the target */
} RandomOp;

static const RandomOp random_ops[] = {
    { FUSE_LOOKUP, 0, 1 },
    { FUSE_FORGET, sizeof(struct fuse_forget_in), 0 },
    { FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), 0 },
    { FUSE_GETATTR, sizeof(struct fuse_getattr_in), 0 },
    { FUSE_SETATTR, sizeof(struct fuse_setattr_in), 0 },
    { FUSE_READLINK, 0, 0 },
    { FUSE_SYMLINK, 0, 2 },
    { FUSE_MKNOD, sizeof(struct fuse_mknod_in), 1 },
    { FUSE_MKDIR, sizeof(struct fuse_mkdir_in), 1 },
    { FUSE_UNLINK, 0, 1 },
    { FUSE_RMDIR, 0, 1 },
    { FUSE_RENAME, sizeof(struct fuse_rename_in), 2 },
    { FUSE_RENAME2, sizeof(struct fuse_rename2_in), 2 },
    { FUSE_LINK, sizeof(struct fuse_link_in), 1 },
    { FUSE_OPEN, sizeof(struct fuse_open_in), 0 },
    { FUSE_READ, sizeof(struct fuse_read_in), 0 },
    { FUSE_WRITE, sizeof(struct fuse_write_in), 0 },
    { FUSE_STATFS, 0, 0 },
    { FUSE_RELEASE, sizeof(struct fuse_release_in), 0 },
    { FUSE_FSYNC, sizeof(struct fuse_fsync_in), 0 },
    { FUSE_FLUSH, sizeof(struct fuse_flush_in), 0 },
    { FUSE_OPENDIR, sizeof(struct fuse_open_in), 0 },
    { FUSE_READDIR, sizeof(struct fuse_read_in), 0 },
    { FUSE_RELEASEDIR, sizeof(struct fuse_release_in), 0 },
    { FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in), 0 },
    { FUSE_CREATE, sizeof(struct fuse_create_in), 1 },
    { FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in), 0 },
    { FUSE_SETUPMAPPING, sizeof(struct fuse_setupmapping_in), 0 },
    { FUSE_REMOVEMAPPING, sizeof(struct fuse_removemapping_in), 0 },
    { FUSE_INTERRUPT, sizeof(struct fuse_interrupt_in), 0 },
    { FUSE_DESTROY, 0, 0 },
};

#define RANDOM_POOL 64

/* Node ids and handles that replies gave, for requests to reuse */
typedef struct {
    GRand *rand;
    uint64_t nodes[RANDOM_POOL];
    uint64_t fhs[RANDOM_POOL];
    unsigned int nr_nodes, nr_fhs;
    unsigned int ok[64];    /* successful requests by opcode */
} RandomState;

static void random_keep(RandomState *st, uint64_t *pool, unsigned int *nr,
                        uint64_t v)
{
    if (*nr < RANDOM_POOL) {
        pool[(*nr)++] = v;
    } else {
        pool[g_rand_int_range(st->rand, 0, RANDOM_POOL)] = v;
    }
}

/* A value of @pool, or the root (node id 1, and no handle is 1) */
static uint64_t random_pick(RandomState *st, uint64_t *pool, unsigned int nr)
{
    int i = g_rand_int_range(st->rand, -1, nr);

    return i < 0 ? FUSE_ROOT_ID : pool[i];
}

/* Drops @v, which a reply said is gone, from @pool */
static void random_drop(uint64_t *pool, unsigned int *nr, uint64_t v)
{
    unsigned int i;

    for (i = 0; i < *nr; i++) {
        if (pool[i] == v) {
            pool[i--] = pool[--*nr];
        }
    }
}

/* A 64-bit argument: mostly values that mean something to the back-end */
static uint64_t random_word(RandomState *st)
{
    GRand *r = st->rand;

    switch (g_rand_int_range(r, 0, 9)) {
    case 0:
        return 0;
    case 1:
        return random_pick(st, st->nodes, st->nr_nodes);
    case 2:
        return random_pick(st, st->fhs, st->nr_fhs);
    case 3:
        return g_rand_int_range(r, 0, 8);
    case 4:
        return (uint64_t)g_rand_int_range(r, 0, 5) << 21;
    case 5:
        return UINT64_MAX - g_rand_int_range(r, 0, 4097);
    case 6:
        return g_rand_int(r) & 0x1ffff;
    case 7:
        return g_rand_int(r);
    default:
        return ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);
    }
}

/* A name, mostly one that exists or one that must not get out */
static void random_name(RandomState *st, GByteArray *msg)
{
    static const char *const names[] = {
        "a", "b", "file", "dir", "abs-link", "rel-link", "dir-link", ".",
        "..", "../escape", "../../escape", "a/b", "", "dir/../../escape",
    };
    GRand *r = st->rand;
    int i = g_rand_int_range(r, 0, ARRAY_SIZE(names) + 3);
    g_autofree char *name = NULL;

    if (i < ARRAY_SIZE(names)) {
        name = g_strdup(names[i]);
    } else if (i == ARRAY_SIZE(names)) {
        name = g_build_filename(tmp_dir, "escape", NULL);
    } else if (i == ARRAY_SIZE(names) + 1) {
        name = g_strnfill(NAME_MAX + g_rand_int_range(r, 0, 2), 'n');
    } else {
        /* Bytes, '/' and '.' among them */
        int j, len = g_rand_int_range(r, 1, 12);

        name = g_malloc(len + 1);
        for (j = 0; j < len; j++) {
            name[j] = "./a\x01\xff"[g_rand_int_range(r, 0, 5)];
        }
        name[len] = 0;
    }
    g_byte_array_append(msg, (const guint8 *)name, strlen(name) + 1);
}

/* Builds and sends one request; returns its error or NO_REPLY */
static int random_request(RandomState *st, GByteArray *msg)
{
    GRand *r = st->rand;
    const RandomOp *op = &random_ops[g_rand_int_range(r, 0,
                                                     ARRAY_SIZE(random_ops))];
    struct fuse_in_header in = {
        .opcode = op->opcode,
        .unique = g_rand_int(r) | 1,
        .nodeid = g_rand_int_range(r, 0, 4) ?
                  random_pick(st, st->nodes, st->nr_nodes) : random_word(st),
    };
    size_t i, len, room = REPLY_ROOM;
    uint8_t out[sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)];
    int ret;

    if (op->opcode == FUSE_DESTROY && g_rand_int_range(r, 0, 20)) {
        /* A session of about 600 requests: DESTROY forgets everything */
        op = &random_ops[0];
        in.opcode = op->opcode;
    }
    if (!g_rand_int_range(r, 0, 50)) {
        in.opcode = g_rand_int_range(r, 0, 64);
    }
    if (!g_rand_int_range(r, 0, 8)) {
        /* A reply buffer too small for some replies, or for any */
        room = g_rand_int_range(r, 0, 200);
    }
    g_byte_array_set_size(msg, 0);
    g_byte_array_append(msg, (const guint8 *)&in, sizeof(in));
    for (i = 0; i < op->fixed; i += 8) {
        uint64_t w = random_word(st);

        g_byte_array_append(msg, (const guint8 *)&w, MIN(8, op->fixed - i));
    }
    if (op->opcode == FUSE_FALLOCATE) {
        /* Keep the host's disk: past the end, or at most 4 MiB */
        struct fuse_fallocate_in *fa = (void *)(msg->data + sizeof(in));

        fa->offset = fa->offset > UINT64_MAX / 2 ? fa->offset :
                     fa->offset & 0x3fffff;
        fa->length = fa->length > UINT64_MAX / 2 ? fa->length :
                     fa->length & 0x3fffff;
    }
    for (i = 0; i < op->names; i++) {
        random_name(st, msg);
    }
    /* What follows: WRITE's data, BATCH_FORGET's and REMOVEMAPPING's items */
    len = g_rand_int_range(r, 0, 4) ? 0 : g_rand_int_range(r, 0, 100);
    if (op->opcode == FUSE_WRITE) {
        len = g_rand_int_range(r, 0, 8192);
        if (g_rand_int_range(r, 0, 4)) {
            ((struct fuse_write_in *)(msg->data + sizeof(in)))->size = len;
        }
    }
    for (i = 0; i < len; i += 8) {
        uint64_t w = random_word(st);

        g_byte_array_append(msg, (const guint8 *)&w, MIN(8, len - i));
    }
    /* Sometimes cut short, or with a length that is not its own */
    if (!g_rand_int_range(r, 0, 10)) {
        g_byte_array_set_size(msg, g_rand_int_range(r, 0, msg->len + 1));
    }
    if (msg->len >= sizeof(in)) {
        ((struct fuse_in_header *)msg->data)->len =
            g_rand_int_range(r, 0, 20) ? msg->len : random_word(st);
    }

    memset(out, 0, sizeof(out));
    /* Sometimes in pieces, as a guest may lay out its buffers */
    ret = send_raw_split(msg->data, msg->len, room, out, sizeof(out),
                         g_rand_int_range(r, 0, 4) ? NULL : r);
    g_assert_true(ret == NO_REPLY || (ret <= 0 && ret > -4096));
    if (in.opcode == FUSE_DESTROY) {
        /* It may have ended the session without a reply: a new one */
        do_init();
        st->nr_nodes = st->nr_fhs = 0;
    }
    if (ret == -ESTALE) {
        random_drop(st->nodes, &st->nr_nodes, in.nodeid);
    }
    if (ret) {
        return ret;
    }
    st->ok[in.opcode % ARRAY_SIZE(st->ok)]++;
    switch (in.opcode) {
    case FUSE_LOOKUP:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK:
        random_keep(st, st->nodes, &st->nr_nodes,
                    ((struct fuse_entry_out *)out)->nodeid);
        break;
    case FUSE_CREATE:
        random_keep(st, st->nodes, &st->nr_nodes,
                    ((struct fuse_entry_out *)out)->nodeid);
        random_keep(st, st->fhs, &st->nr_fhs,
                    ((struct fuse_open_out *)(out +
                      sizeof(struct fuse_entry_out)))->fh);
        break;
    case FUSE_OPEN:
    case FUSE_OPENDIR:
        random_keep(st, st->fhs, &st->nr_fhs,
                    ((struct fuse_open_out *)out)->fh);
        break;
    }
    return ret;
}

static unsigned int count_fds(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned int n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    return n;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What is beside the shared directory, as "name:size:mode ..." */
static char *outside_state(void)
{
    g_autoptr(GDir) dir = g_dir_open(tmp_dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) out = g_string_new("");
    const char *name;
    guint i;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_ptr_array_add(names, g_strdup(name));
    }
    g_ptr_array_sort(names, compare_names);
    for (i = 0; i < names->len; i++) {
        g_autofree char *p = g_build_filename(tmp_dir, names->pdata[i], NULL);
        struct stat st;

        g_assert_cmpint(lstat(p, &st), ==, 0);
        if (!strcmp(p, share_dir)) {
            /* The guest's own: it may chmod its root */
            g_string_append_printf(out, "%s:dir ", (char *)names->pdata[i]);
            continue;
        }
        g_string_append_printf(out, "%s:%lld:%o ", (char *)names->pdata[i],
                               S_ISREG(st.st_mode) ? (long long)st.st_size :
                               0LL, st.st_mode);
    }
    return g_string_free(g_steal_pointer(&out), false);
}

/*
 * Seeded random requests, well-formed and not, with the node ids and
 * handles earlier replies gave: every one gets a consistent reply (or
 * none), nothing beside the shared directory changes, and a new session
 * has no file descriptor more than before.  -seed reproduces a run.
 */
static void test_random(void)
{
    g_autoptr(GByteArray) msg = g_byte_array_new();
    g_autofree char *before = NULL, *after = NULL;
    g_autofree char *secret = NULL, *p = NULL;
    RandomState st = { .rand = g_rand_new_with_seed(g_test_rand_int()) };
    unsigned int fds, n = g_test_slow() ? 200000 : 20000;
    unsigned int i, ok = 0;
    struct fuse_in_header destroy = {
        .len = sizeof(destroy), .opcode = FUSE_DESTROY, .unique = 1,
    };

    fs.cache_size = 8 * 1024 * 1024;
    g_assert_cmpint(send_raw(&destroy, sizeof(destroy), REPLY_ROOM, NULL, 0),
                    ==, 0);
    do_init();
    fds = count_fds();
    before = outside_state();
    for (i = 0; i < n; i++) {
        ok += random_request(&st, msg) == 0;
    }
    g_test_message("%u requests, %u succeeded", n, ok);
    for (i = 0; i < ARRAY_SIZE(st.ok); i++) {
        if (st.ok[i]) {
            g_test_message("opcode %u: %u succeeded", i, st.ok[i]);
        }
    }
    /* Some went through: the test reached past the argument checks */
    g_assert_cmpuint(ok, >, n / 20);

    after = outside_state();
    g_assert_cmpstr(after, ==, before);
    p = g_build_filename(tmp_dir, "secret", NULL);
    g_assert_true(g_file_get_contents(p, &secret, NULL, NULL));
    g_assert_cmpstr(secret, ==, "secret\n");
    g_assert_cmpint(send_raw(&destroy, sizeof(destroy), REPLY_ROOM, NULL, 0),
                    ==, 0);
    do_init();
    g_assert_cmpuint(count_fds(), ==, fds);
    fs.cache_size = 0;
    g_rand_free(st.rand);
}

int main(int argc, char **argv)
{
    g_autofree char *cmd = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    setup();
    g_test_add_func("/vhost-user-fs-dax/before-init", test_before_init);
    g_test_add_func("/vhost-user-fs-dax/header", test_header);
    g_test_add_func("/vhost-user-fs-dax/node-ids", test_node_ids);
    g_test_add_func("/vhost-user-fs-dax/batch-forget", test_batch_forget);
    g_test_add_func("/vhost-user-fs-dax/names", test_names);
    g_test_add_func("/vhost-user-fs-dax/new-names", test_new_names);
    g_test_add_func("/vhost-user-fs-dax/open-symlink", test_open_symlink);
    g_test_add_func("/vhost-user-fs-dax/handles", test_handles);
    g_test_add_func("/vhost-user-fs-dax/create", test_create);
    g_test_add_func("/vhost-user-fs-dax/mappings", test_mappings);
    g_test_add_func("/vhost-user-fs-dax/read-only", test_read_only);
    g_test_add_func("/vhost-user-fs-dax/create-special",
                    test_create_special);
    g_test_add_func("/vhost-user-fs-dax/handle-forgotten-node",
                    test_handle_forgotten_node);
    g_test_add_func("/vhost-user-fs-dax/create-trunc-mapped",
                    test_create_trunc_mapped);
    g_test_add_func("/vhost-user-fs-dax/setid-write", test_setid_write);
    g_test_add_func("/vhost-user-fs-dax/readdir-root", test_readdir_root);
    g_test_add_func("/vhost-user-fs-dax/mapping-session",
                    test_mapping_session);
    g_test_add_func("/vhost-user-fs-dax/mapped-node-forgotten",
                    test_mapped_node_forgotten);
    g_test_add_func("/vhost-user-fs-dax/random", test_random);
    ret = g_test_run();
    /* The random test may leave directories without write permission */
    cmd = g_strdup_printf("chmod -R u+rwX '%s'; rm -rf '%s'", tmp_dir,
                          tmp_dir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}
