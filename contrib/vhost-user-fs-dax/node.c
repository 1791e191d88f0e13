/*
 * vhost-user-fs-dax: node and file handle tables, path walking
 *
 * Every path the guest names is walked one component at a time, from the
 * O_PATH descriptor of a node, with openat2() RESOLVE_BENEATH,
 * RESOLVE_NO_SYMLINKS and RESOLVE_NO_MAGICLINKS: no "..", no symbolic
 * link (the guest resolves those itself, in its own namespace), nothing
 * outside the shared directory.  Node ids and file handles are a table
 * index with a generation: a stale or forged one matches no entry.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include "qapi/error.h"
#include "fs-dax.h"

/* Index 1 with generation 0 is the root, FUSE_ROOT_ID */
#define FS_ROOT_INDEX 1

typedef struct FsInodeKey {
    dev_t dev;
    ino_t ino;
} FsInodeKey;

static guint fs_inode_hash(gconstpointer p)
{
    const FsInodeKey *k = p;

    return g_int64_hash(&k->ino) ^ g_int64_hash(&k->dev);
}

static gboolean fs_inode_equal(gconstpointer a, gconstpointer b)
{
    const FsInodeKey *x = a, *y = b;

    return x->dev == y->dev && x->ino == y->ino;
}

int fs_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = flags | O_NOFOLLOW | O_CLOEXEC,
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                   RESOLVE_NO_MAGICLINKS,
    };
    int fd;

    do {
        fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

int fs_node_stat(FsNode *node, struct stat *st)
{
    if (fstatat(node->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        return -errno;
    }
    return 0;
}

/*
 * Opens the node's inode again with @flags, through /proc/self/fd: an
 * O_PATH descriptor cannot read or write.  Only for regular files and
 * directories, which the magic link cannot turn into anything else.
 */
int fs_node_reopen(FsDax *fs, FsNode *node, int flags)
{
    char name[16];
    int fd;

    if (!S_ISREG(node->type) && !S_ISDIR(node->type)) {
        return -EINVAL;
    }
    snprintf(name, sizeof(name), "%d", node->fd);
    fd = openat(fs->proc_fd, name, (flags & ~(O_CREAT | O_NOFOLLOW)) |
                O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static uint32_t fs_node_index(FsDax *fs, FsNode *node)
{
    return node - fs->nodes;
}

uint64_t fs_node_id(FsDax *fs, FsNode *node)
{
    return (uint64_t)node->gen << 32 | fs_node_index(fs, node);
}

FsNode *fs_node_get(FsDax *fs, uint64_t id)
{
    uint32_t index = id & UINT32_MAX;
    FsNode *node;

    if (!index || index >= fs->nr_nodes) {
        return NULL;
    }
    node = &fs->nodes[index];
    if (node->fd < 0 || node->gen != id >> 32) {
        return NULL;
    }
    return node;
}

static uint32_t fs_node_alloc(FsDax *fs)
{
    uint32_t index, i;

    if (fs->free_nodes->len) {
        index = g_array_index(fs->free_nodes, uint32_t,
                              fs->free_nodes->len - 1);
        g_array_set_size(fs->free_nodes, fs->free_nodes->len - 1);
        return index;
    }
    index = fs->nr_nodes;
    fs->nr_nodes = fs->nr_nodes ? fs->nr_nodes * 2 : 64;
    fs->nodes = g_renew(FsNode, fs->nodes, fs->nr_nodes);
    for (i = index; i < fs->nr_nodes; i++) {
        fs->nodes[i] = (FsNode) { .fd = -1 };
    }
    /* Hand out the lowest first; keep index 0 unused */
    for (i = fs->nr_nodes - 1; i > index; i--) {
        g_array_append_val(fs->free_nodes, i);
    }
    return index ? index : fs_node_alloc(fs);
}

/* Takes @fd; returns the node's index */
static uint32_t fs_node_add(FsDax *fs, int fd, const struct stat *st,
                            bool root)
{
    uint32_t index = root ? FS_ROOT_INDEX : fs_node_alloc(fs);
    FsNode *node = &fs->nodes[index];
    FsInodeKey *key = g_new(FsInodeKey, 1);

    *node = (FsNode) {
        .gen = root ? 0 : ++fs->node_gen,
        .fd = fd,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .type = st->st_mode & S_IFMT,
        .nlookup = 1,
    };
    if (!root && !node->gen) {
        /* 2^32 nodes later: never hand out generation 0 but for the root */
        node->gen = ++fs->node_gen;
    }
    key->dev = st->st_dev;
    key->ino = st->st_ino;
    node->dax_mapped = g_hash_table_contains(fs->dax_inodes, key);
    g_hash_table_replace(fs->inodes, key, GUINT_TO_POINTER(index));
    return index;
}

static void fs_node_drop(FsDax *fs, FsNode *node)
{
    uint32_t index = fs_node_index(fs, node);
    FsInodeKey key = { .dev = node->dev, .ino = node->ino };

    if (GPOINTER_TO_UINT(g_hash_table_lookup(fs->inodes, &key)) == index) {
        g_hash_table_remove(fs->inodes, &key);
    }
    close(node->fd);
    node->fd = -1;
    node->nlookup = 0;
    if (index != FS_ROOT_INDEX) {
        node->gen = 0;
        g_array_append_val(fs->free_nodes, index);
    }
}

/*
 * Gives up CAP_FSETID, if this thread has it: with it, the kernel keeps
 * the set-user-ID and set-group-ID bits of a file we write, truncate or
 * chown for the guest, and a guest could put its own code into a set-ID
 * program of the host that lies in the shared directory.  Threads started
 * later inherit the drop.
 */
bool fs_drop_fsetid(Error **errp)
{
    struct __user_cap_header_struct hdr = {
        .version = _LINUX_CAPABILITY_VERSION_3,
    };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    uint32_t mask = CAP_TO_MASK(CAP_FSETID);
    unsigned int i = CAP_TO_INDEX(CAP_FSETID);

    if (syscall(SYS_capget, &hdr, data) < 0) {
        error_setg_errno(errp, errno, "capget");
        return false;
    }
    if (!((data[i].effective | data[i].permitted | data[i].inheritable) &
          mask)) {
        return true;
    }
    data[i].effective &= ~mask;
    data[i].permitted &= ~mask;
    data[i].inheritable &= ~mask;
    if (syscall(SYS_capset, &hdr, data) < 0) {
        error_setg_errno(errp, errno, "cannot drop CAP_FSETID");
        return false;
    }
    return true;
}

void fs_node_set_dax_mapped(FsDax *fs, FsNode *node)
{
    FsInodeKey *key;

    if (node->dax_mapped) {
        return;
    }
    key = g_new(FsInodeKey, 1);
    key->dev = node->dev;
    key->ino = node->ino;
    g_hash_table_add(fs->dax_inodes, key);
    node->dax_mapped = true;
}

/* Validates a single path component from the guest */
bool fs_name_ok(const char *name)
{
    return name[0] && strcmp(name, ".") && strcmp(name, "..") &&
           !strchr(name, '/');
}

int fs_node_lookup(FsDax *fs, FsNode *parent, const char *name,
                   uint64_t *id, struct stat *st)
{
    FsInodeKey key;
    gpointer index;
    int fd, ret;

    if (!S_ISDIR(parent->type)) {
        return -ENOTDIR;
    }
    if (!fs_name_ok(name)) {
        return -EINVAL;
    }
    fd = fs_openat(parent->fd, name, O_PATH, 0);
    if (fd < 0) {
        /* A trailing symlink is opened as such, never followed */
        return fd;
    }
    if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        ret = -errno;
        close(fd);
        return ret;
    }
    key.dev = st->st_dev;
    key.ino = st->st_ino;
    if (g_hash_table_lookup_extended(fs->inodes, &key, NULL, &index)) {
        FsNode *node = &fs->nodes[GPOINTER_TO_UINT(index)];

        close(fd);
        node->nlookup++;
        *id = fs_node_id(fs, node);
        return 0;
    }
    *id = fs_node_id(fs, &fs->nodes[fs_node_add(fs, fd, st, false)]);
    return 0;
}

void fs_node_forget(FsDax *fs, uint64_t id, uint64_t nlookup)
{
    FsNode *node = fs_node_get(fs, id);

    if (!node || id == FUSE_ROOT_ID) {
        return;
    }
    if (nlookup < node->nlookup) {
        node->nlookup -= nlookup;
        return;
    }
    /*
     * Linux forgets a node only once its files are closed; a guest that
     * does not gets the node kept for its handles, so that a handle's
     * node id never names another node.
     */
    node->nlookup = 0;
    if (!node->nr_handles) {
        fs_node_drop(fs, node);
    }
}

uint64_t fs_handle_new(FsDax *fs, FsNode *node, int fd, int flags, DIR *dir)
{
    uint32_t index, i;
    FsHandle *h;

    if (!fs->free_handles->len) {
        uint32_t old = fs->nr_handles;

        fs->nr_handles = old ? old * 2 : 64;
        fs->handles = g_renew(FsHandle, fs->handles, fs->nr_handles);
        for (i = old; i < fs->nr_handles; i++) {
            fs->handles[i] = (FsHandle) { .fd = -1 };
        }
        /* Lowest first; index 0 is never valid */
        for (i = fs->nr_handles - 1; i >= MAX(old, 1); i--) {
            g_array_append_val(fs->free_handles, i);
        }
    }
    index = g_array_index(fs->free_handles, uint32_t,
                          fs->free_handles->len - 1);
    g_array_set_size(fs->free_handles, fs->free_handles->len - 1);
    h = &fs->handles[index];
    if (!++fs->handle_gen) {
        ++fs->handle_gen;
    }
    *h = (FsHandle) {
        .gen = fs->handle_gen,
        .node_id = fs_node_id(fs, node),
        .fd = fd,
        .flags = flags,
        .dir = dir,
    };
    node->nr_handles++;
    return (uint64_t)h->gen << 32 | index;
}

/* The handle @fh of node @nodeid, or NULL when it is not one */
FsHandle *fs_handle_get(FsDax *fs, uint64_t fh, uint64_t nodeid)
{
    uint32_t index = fh & UINT32_MAX;
    FsHandle *h;

    if (!index || index >= fs->nr_handles) {
        return NULL;
    }
    h = &fs->handles[index];
    if (!h->gen || h->gen != fh >> 32 || (nodeid && nodeid != h->node_id)) {
        return NULL;
    }
    return h;
}

static void fs_handle_drop(FsDax *fs, uint32_t index)
{
    FsHandle *h = &fs->handles[index];
    FsNode *node = fs_node_get(fs, h->node_id);

    if (h->dir) {
        closedir(h->dir);
    } else {
        close(h->fd);
    }
    *h = (FsHandle) { .fd = -1 };
    g_array_append_val(fs->free_handles, index);
    /* The last handle of a node the guest forgot */
    if (node && !--node->nr_handles && !node->nlookup &&
        node != &fs->nodes[FS_ROOT_INDEX]) {
        fs_node_drop(fs, node);
    }
}

void fs_handle_release(FsDax *fs, uint64_t fh)
{
    if (fs_handle_get(fs, fh, 0)) {
        fs_handle_drop(fs, fh & UINT32_MAX);
    }
}

/* Drops every node but the root and every handle: a new session */
void fs_nodes_reset(FsDax *fs)
{
    uint32_t i;

    for (i = 1; i < fs->nr_handles; i++) {
        if (fs->handles[i].gen) {
            fs_handle_drop(fs, i);
        }
    }
    for (i = 1; i < fs->nr_nodes; i++) {
        if (i != FS_ROOT_INDEX && fs->nodes[i].fd >= 0) {
            fs_node_drop(fs, &fs->nodes[i]);
        }
    }
    fs->nodes[FS_ROOT_INDEX].nlookup = 1;
    /* The session's mappings go with it (FS_MAP_REMOVE_ALL) */
    g_hash_table_remove_all(fs->dax_inodes);
}

bool fs_nodes_init(FsDax *fs, Error **errp)
{
    struct stat st;
    int fd;

    fs->inodes = g_hash_table_new_full(fs_inode_hash, fs_inode_equal,
                                       g_free, NULL);
    fs->dax_inodes = g_hash_table_new_full(fs_inode_hash, fs_inode_equal,
                                           g_free, NULL);
    fs->free_nodes = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    fs->free_handles = g_array_new(FALSE, FALSE, sizeof(uint32_t));

    fd = open(fs->shared_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno, "--shared-dir=%s", fs->shared_dir);
        return false;
    }
    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "--shared-dir=%s", fs->shared_dir);
        close(fd);
        return false;
    }
    /* Reserve index 0 (never valid) and 1 (the root) */
    while (fs->nr_nodes <= FS_ROOT_INDEX) {
        fs_node_alloc(fs);
    }
    g_array_set_size(fs->free_nodes, 0);
    for (uint32_t i = fs->nr_nodes - 1; i > FS_ROOT_INDEX; i--) {
        g_array_append_val(fs->free_nodes, i);
    }
    fs_node_add(fs, fd, &st, true);
    return true;
}
