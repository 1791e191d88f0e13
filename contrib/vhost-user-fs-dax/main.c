/*
 * vhost-user-fs-dax: a virtiofs back-end with a DAX window
 *
 * Serves one host directory to a guest's virtiofs driver, read-write or
 * read-only, through vhost-user-fs-pci.  With --cache-size the device has
 * a DAX window, VIRTIO Shared Memory Region 0: the driver asks with
 * FUSE_SETUPMAPPING for a range of a file to appear in it, and the
 * back-end has the front-end map it (VHOST_USER_BACKEND_SHMEM_MAP).  The
 * guest then reads and writes the host's page cache directly.
 *
 * The shared directory is a security boundary: see node.c.  The back-end
 * serves one connection and exits with status 0 when the front-end
 * disconnects; SIGTERM and SIGINT stop it too.
 *
 * Example (see docs/system/devices/virtio/vhost-user.rst):
 *   vhost-user-fs-dax --socket-path=/tmp/fs.sock --shared-dir=/srv/share \
 *       --cache-size=64M &
 *   qemu-system-x86_64 -M q35 -m 1G \
 *     -object memory-backend-memfd,id=mem,size=1G,share=on \
 *     -machine memory-backend=mem \
 *     -chardev socket,id=fs,path=/tmp/fs.sock \
 *     -device vhost-user-fs-pci,chardev=fs,tag=share,cache-size=64M
 *   (guest) mount -t virtiofs -o dax=always share /mnt
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib-unix.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/iov.h"
#include "qemu/sockets.h"
#include "qemu/units.h"
#include "standard-headers/linux/virtio_config.h"
#include "fs-dax.h"

/* hiprio and one request queue: what vhost-user-fs-pci has by default */
#define FS_MAX_QUEUES 16

static char *opt_socket_path;
static int opt_fdnum = -1;
static char *opt_shared_dir;
static char *opt_cache_size;
static gboolean opt_read_only;

static GOptionEntry entries[] = {
    { "socket-path", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket_path,
      "Listen on this UNIX socket for the front-end", "PATH" },
    { "fd", 'f', 0, G_OPTION_ARG_INT, &opt_fdnum,
      "Use this inherited, connected socket", "FDNUM" },
    { "shared-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_shared_dir,
      "The directory the guest sees (required)", "DIR" },
    { "read-only", 'r', 0, G_OPTION_ARG_NONE, &opt_read_only,
      "Refuse every change to the directory", NULL },
    { "cache-size", 'c', 0, G_OPTION_ARG_STRING, &opt_cache_size,
      "Size of the DAX window, a power of two of at least 2M, as the "
      "device's cache-size (default: no window)", "SIZE" },
    { NULL, }
};

void fs_msg(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "vhost-user-fs-dax: %s\n", msg);
}

static void fs_stop(FsDax *fs, int status)
{
    if (status) {
        fs->exit_status = status;
    }
    g_main_loop_quit(fs->loop);
}

static void fs_panic(VuDev *dev, const char *err)
{
    FsDax *fs = container_of(dev, FsDax, dev.parent);

    fs_msg("error: %s", err ? err : "vhost-user failure");
    fs_stop(fs, EXIT_FAILURE);
}

void fs_complete(FsDax *fs, int qidx, unsigned int queue_gen,
                 VuVirtqElement *elem, size_t len)
{
    VuDev *dev = &fs->dev.parent;
    VuVirtq *vq = vu_get_queue(dev, qidx);

    /* A queue stopped since: the element is not the driver's any more */
    if (queue_gen == fs->queue_gen[qidx] && vu_queue_started(dev, vq)) {
        vu_queue_push(dev, vq, elem, len);
        vu_queue_notify(dev, vq);
    }
    free(elem);
}

static void fs_handle_queue(VuDev *dev, int qidx)
{
    FsDax *fs = container_of(dev, FsDax, dev.parent);
    VuVirtq *vq = vu_get_queue(dev, qidx);
    VuVirtqElement *elem;

    while ((elem = vu_queue_pop(dev, vq, sizeof(*elem)))) {
        fs_handle_request(fs, qidx, elem);
    }
}

/* Answers the requests the mapper thread is done with */
static gboolean fs_on_map_done(gint fd, GIOCondition cond, gpointer opaque)
{
    FsDax *fs = opaque;
    FsMapOp *op;
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        fs_msg("warning: eventfd: %s", strerror(errno));
    }
    while ((op = g_async_queue_try_pop(fs->map_done))) {
        if (op->elem) {
            struct fuse_out_header out = {
                .len = sizeof(out) + (op->error ? 0 : op->reply_len),
                .error = op->error,
                .unique = op->unique,
            };
            VuVirtqElement *elem = op->elem;
            size_t room = iov_size(elem->in_sg, elem->in_num);
            size_t len = 0;

            if (room < out.len) {
                out.len = sizeof(out);
                out.error = -EIO;
            }
            if (room >= sizeof(out)) {
                len = iov_from_buf(elem->in_sg, elem->in_num, 0, &out,
                                   sizeof(out));
                if (!out.error && op->reply_len) {
                    len += iov_from_buf(elem->in_sg, elem->in_num,
                                        sizeof(out), op->reply,
                                        op->reply_len);
                }
            }
            if (out.error) {
                fs->errors++;
            }
            fs_complete(fs, op->qidx, op->queue_gen, elem, len);
        }
        fs_mapper_op_free(op);
    }
    return G_SOURCE_CONTINUE;
}

static uint64_t fs_get_features(VuDev *dev)
{
    return 1ULL << VIRTIO_F_VERSION_1 |
           1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
}

static void fs_queue_set_started(VuDev *dev, int qidx, bool started)
{
    FsDax *fs = container_of(dev, FsDax, dev.parent);
    VuVirtq *vq = vu_get_queue(dev, qidx);

    if (qidx >= fs->nr_queues) {
        return;
    }
    if (!started) {
        fs->queue_gen[qidx]++;
    }
    vu_set_queue_handler(dev, vq, started ? fs_handle_queue : NULL);
}

static int fs_process_msg(VuDev *dev, VhostUserMsg *msg, int *do_reply)
{
    FsDax *fs = container_of(dev, FsDax, dev.parent);

    if (msg->request == VHOST_USER_NONE) {
        /* What libvhost-user makes of the end of the connection */
        fs_msg("the front-end disconnected");
        fs_stop(fs, 0);
        *do_reply = 0;
        return 1;
    }
    return 0;
}

static const VuDevIface fs_iface = {
    .get_features = fs_get_features,
    .process_msg = fs_process_msg,
    .queue_set_started = fs_queue_set_started,
};

static gboolean fs_on_signal(gpointer opaque)
{
    FsDax *fs = opaque;

    fs_msg("signal: stopping");
    fs_stop(fs, 0);
    return G_SOURCE_CONTINUE;
}

static bool fs_parse_options(FsDax *fs)
{
    struct stat st;

    if (!!opt_socket_path == (opt_fdnum >= 0)) {
        g_printerr("give either --socket-path or --fd\n");
        return false;
    }
    if (!opt_shared_dir) {
        g_printerr("--shared-dir is required\n");
        return false;
    }
    if (stat(opt_shared_dir, &st) < 0) {
        g_printerr("--shared-dir=%s: %s\n", opt_shared_dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_printerr("--shared-dir=%s: not a directory\n", opt_shared_dir);
        return false;
    }
    fs->shared_dir = opt_shared_dir;
    fs->read_only = opt_read_only;
    if (opt_cache_size) {
        if (qemu_strtosz(opt_cache_size, NULL, &fs->cache_size) < 0 ||
            !fs->cache_size) {
            g_printerr("--cache-size=%s: not a size (examples: 64M, 1G)\n",
                       opt_cache_size);
            return false;
        }
        if (!is_power_of_2(fs->cache_size) ||
            fs->cache_size < FS_DAX_SLOT_SIZE) {
            g_printerr("--cache-size=%s: not a power of two of at least "
                       "2M\n", opt_cache_size);
            return false;
        }
        if (fs->cache_size > 64 * GiB) {
            g_printerr("--cache-size=%s: more than 64G\n", opt_cache_size);
            return false;
        }
    }
    return true;
}

static int fs_connect(void)
{
    Error *err = NULL;
    int lsock, fd;

    if (opt_fdnum >= 0) {
        return opt_fdnum;
    }
    lsock = unix_listen(opt_socket_path, &err);
    if (lsock < 0) {
        error_report_err(err);
        return -1;
    }
    fs_msg("waiting for the front-end on %s", opt_socket_path);
    do {
        fd = accept(lsock, NULL, NULL);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        g_printerr("accept on %s: %s\n", opt_socket_path, strerror(errno));
    } else {
        fs_msg("the front-end connected");
    }
    close(lsock);
    return fd;
}

/* Each mapping slot keeps a file open: allow as many as we may */
static void fs_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char *argv[])
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    Error *err = NULL;
    static FsDax fs = { .map_done_fd = -1 };
    int sock;

    context = g_option_context_new("- virtiofs vhost-user back-end with DAX");
    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_description(context,
        "Serves the directory to the virtiofs driver of a guest through\n"
        "vhost-user-fs-pci; with --cache-size, FUSE_SETUPMAPPING maps files\n"
        "into the device's DAX window.  The back-end exits with status 0\n"
        "when the front-end disconnects.");
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("%s\n", error->message);
        return EXIT_FAILURE;
    }
    if (argc > 1) {
        g_printerr("unexpected argument: %s\n", argv[1]);
        return EXIT_FAILURE;
    }
    if (!fs_parse_options(&fs)) {
        return EXIT_FAILURE;
    }
    fs.page_size = qemu_real_host_page_size();
    fs.proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fs.proc_fd < 0) {
        g_printerr("/proc/self/fd: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    if (!fs_drop_fsetid(&err) || !fs_nodes_init(&fs, &err)) {
        error_report_err(err);
        return EXIT_FAILURE;
    }
    fs_raise_nofile();
    /* A front-end gone while we write to it: an error, not a death */
    signal(SIGPIPE, SIG_IGN);
    umask(0);
    fs_msg("sharing %s, %s, %s", fs.shared_dir,
           fs.read_only ? "read-only" : "read-write",
           fs.cache_size ? "with a DAX window" : "no DAX window");

    sock = fs_connect();
    if (sock < 0) {
        return EXIT_FAILURE;
    }

    fs.nr_queues = FS_MAX_QUEUES;
    fs.queue_gen = g_new0(unsigned int, fs.nr_queues);
    fs.loop = g_main_loop_new(NULL, FALSE);
    if (!vug_init(&fs.dev, fs.nr_queues, sock, fs_panic, &fs_iface)) {
        g_printerr("failed to initialize libvhost-user-glib\n");
        return EXIT_FAILURE;
    }
    if (fs.cache_size) {
        uint64_t sizes[1] = { [FS_DAX_SHMID] = fs.cache_size };

        if (!vu_set_shmem_regions(&fs.dev.parent, sizes, ARRAY_SIZE(sizes))) {
            g_printerr("cannot declare a window of 0x%" PRIx64 " bytes\n",
                       fs.cache_size);
            return EXIT_FAILURE;
        }
        fs.map_done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fs.map_done_fd < 0) {
            g_printerr("eventfd: %s\n", strerror(errno));
            return EXIT_FAILURE;
        }
        g_unix_fd_add(fs.map_done_fd, G_IO_IN, fs_on_map_done, &fs);
        fs_mapper_start(&fs);
    }
    g_unix_signal_add(SIGTERM, fs_on_signal, &fs);
    g_unix_signal_add(SIGINT, fs_on_signal, &fs);

    g_main_loop_run(fs.loop);

    if (fs.cache_size) {
        fs_mapper_stop(&fs);
        fs_msg("%" PRIu64 " maps and %" PRIu64 " unmaps in the DAX window",
               fs.maps, fs.unmaps);
    }
    vug_deinit(&fs.dev);
    g_main_loop_unref(fs.loop);
    fs_msg("served %" PRIu64 " requests, %" PRIu64 " with an error; "
           "exiting with status %d", fs.requests, fs.errors, fs.exit_status);
    return fs.exit_status;
}
