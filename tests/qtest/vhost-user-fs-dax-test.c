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
    if (op->elem) {
        memcpy(reply_buf, &out, sizeof(out));
        fs_complete(f, op->qidx, op->queue_gen, op->elem, sizeof(out));
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
static int send_raw(const void *req, size_t len, size_t room, void *out,
                    size_t out_len)
{
    VuVirtqElement *elem = g_malloc0(sizeof(*elem) +
                                     2 * sizeof(struct iovec));
    struct fuse_out_header hdr;

    elem->out_sg = (struct iovec *)(elem + 1);
    elem->in_sg = elem->out_sg + 1;
    elem->out_num = 1;
    elem->in_num = 1;
    elem->out_sg[0] = (struct iovec) { (void *)req, len };
    elem->in_sg[0] = (struct iovec) { reply_buf, MIN(room, REPLY_ROOM) };
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
    memcpy(buf + sizeof(in), arg, arg_len);
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

    memcpy(buf, arg, fixed);
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
    if (!fs_nodes_init(&fs, &err)) {
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
    ret = g_test_run();
    cmd = g_strdup_printf("rm -rf '%s'", tmp_dir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}
