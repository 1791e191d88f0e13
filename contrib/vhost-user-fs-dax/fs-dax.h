/*
 * vhost-user-fs-dax: a virtiofs back-end with a DAX window
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VHOST_USER_FS_DAX_H
#define VHOST_USER_FS_DAX_H

#include <linux/fuse.h>
#include "libvhost-user-glib.h"

/* VIRTIO_FS_SHMCAP_ID_CACHE: the DAX window is region 0 */
#define FS_DAX_SHMID            0
/* What the Linux driver maps at a time (FUSE_DAX_SZ); one slot each */
#define FS_DAX_SLOT_SIZE        (2 * 1024 * 1024)
/* Largest WRITE/READ payload we offer (FUSE_MAX_PAGES) */
#define FS_MAX_PAGES            256
/* Request bytes copied before dispatch; WRITE data is read in place */
#define FS_MAX_ARGS             (64 * 1024)

/* The guest's view of one inode: FUSE node ids name these */
typedef struct FsNode {
    uint32_t gen;           /* 0: free slot (but for the root) */
    int fd;                 /* O_PATH */
    dev_t dev;
    ino_t ino;
    mode_t type;            /* S_IFMT bits; an inode never changes type */
    uint64_t nlookup;       /* 0: forgotten, kept for its open handles */
    uint32_t nr_handles;
    bool dax_mapped;        /* SETUPMAPPING of its inode this session */
} FsNode;

/* An open file or directory: FUSE file handles name these */
typedef struct FsHandle {
    uint32_t gen;           /* 0: free slot */
    uint64_t node_id;       /* the node's FUSE id, generation included */
    int fd;
    int flags;              /* open(2) flags the guest gave */
    DIR *dir;               /* directories: the stream READDIR walks */
    uint64_t dir_offset;    /* where dir stands, as the guest counts */
} FsHandle;

typedef struct FsDax FsDax;

/* A mapping request for the mapper thread (mapper.c) */
typedef enum FsMapOpType {
    FS_MAP_SETUP,           /* FUSE_SETUPMAPPING */
    FS_MAP_REMOVE,          /* FUSE_REMOVEMAPPING */
    FS_MAP_RESIZE,          /* a file changed size: follow it */
    FS_MAP_TRUNCATE,        /* change a mapped file's size: unmap first */
    FS_MAP_RESET,           /* after a reset: forget every slot */
    FS_MAP_REMOVE_ALL,      /* end of a session: unmap every slot */
} FsMapOpType;

typedef struct FsMapOp {
    FsMapOpType type;
    /* The request to answer once done, or NULL */
    VuVirtqElement *elem;
    int qidx;
    unsigned int queue_gen;     /* FsDax.queue_gen[qidx] when queued */
    uint64_t unique;
    int error;                  /* of the reply, negative errno */
    /* SETUP */
    int fd;                     /* owned by the op, then by the slot */
    bool writable;
    dev_t dev;                  /* the file's inode */
    ino_t ino;
    uint64_t foffset;
    uint64_t moffset;
    uint64_t len;
    /* REMOVE: pairs of moffset, len */
    uint32_t count;
    struct fuse_removemapping_one *ranges;
    /*
     * TRUNCATE: fd (writable), the new size and, if times_set, the times
     * to give the file after
     */
    uint64_t size;
    bool times_set;
    struct timespec times[2];
    /* RESIZE, TRUNCATE: dev, ino; the reply prepared by the FUSE handler */
    void *reply;
    size_t reply_len;
} FsMapOp;

struct FsDax {
    VugDev dev;
    GMainLoop *loop;
    int exit_status;

    /* Options */
    const char *shared_dir;
    bool read_only;
    uint64_t cache_size;        /* 0: no DAX window */

    int proc_fd;                /* /proc/self/fd, to reopen O_PATH fds */
    size_t page_size;

    /* FUSE session */
    bool initialized;
    uint32_t minor;             /* of the driver's protocol */
    FsNode *nodes;
    uint32_t nr_nodes;          /* allocated entries */
    uint32_t node_gen;
    GArray *free_nodes;
    GHashTable *inodes;         /* (dev, ino) -> node index */
    /*
     * (dev, ino) of every file mapped this session: a node the guest
     * forgot and looks up again is still mapped, and its size changes
     * must reach the mapper
     */
    GHashTable *dax_inodes;
    FsHandle *handles;
    uint32_t nr_handles;
    uint32_t handle_gen;
    GArray *free_handles;

    /* Statistics, printed at exit */
    uint64_t requests;
    uint64_t errors;

    /* Virtqueues: a stop makes completions of older requests stale */
    unsigned int nr_queues;
    unsigned int *queue_gen;

    /* Mapper thread: ops in, done ops back through an eventfd */
    GThread *mapper;
    GAsyncQueue *map_ops;
    GAsyncQueue *map_done;
    int map_done_fd;
    /* The mapper thread's own */
    struct FsDaxSlot *slots;
    uint64_t nr_slots;
    uint64_t maps;              /* SHMEM_MAP requests the front-end took */
    uint64_t unmaps;
};

void fs_msg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* node.c */
bool fs_nodes_init(FsDax *fs, Error **errp);
bool fs_drop_fsetid(Error **errp);
void fs_nodes_reset(FsDax *fs);
FsNode *fs_node_get(FsDax *fs, uint64_t id);
uint64_t fs_node_id(FsDax *fs, FsNode *node);
bool fs_name_ok(const char *name);
void fs_node_set_dax_mapped(FsDax *fs, FsNode *node);
int fs_node_lookup(FsDax *fs, FsNode *parent, const char *name,
                   uint64_t *id, struct stat *st);
void fs_node_forget(FsDax *fs, uint64_t id, uint64_t nlookup);
int fs_node_reopen(FsDax *fs, FsNode *node, int flags);
int fs_node_stat(FsNode *node, struct stat *st);
int fs_openat(int dirfd, const char *name, int flags, mode_t mode);
uint64_t fs_handle_new(FsDax *fs, FsNode *node, int fd, int flags,
                       DIR *dir);
FsHandle *fs_handle_get(FsDax *fs, uint64_t fh, uint64_t nodeid);
void fs_handle_release(FsDax *fs, uint64_t fh);

/* fuse.c */
void fs_handle_request(FsDax *fs, int qidx, VuVirtqElement *elem);

/* mapper.c */
void fs_mapper_start(FsDax *fs);
void fs_mapper_stop(FsDax *fs);
void fs_mapper_queue(FsDax *fs, FsMapOp *op);
void fs_mapper_op_free(FsMapOp *op);

/* main.c: answers a request; frees elem */
void fs_complete(FsDax *fs, int qidx, unsigned int queue_gen,
                 VuVirtqElement *elem, size_t len);

#endif
