/*
 * vhost-user-pmem: a virtio-pmem back-end whose pmem range is a VIRTIO
 * Shared Memory Region
 *
 * The device (virtio id 27) offers VIRTIO_PMEM_F_SHMEM_REGION: the guest
 * finds its persistent memory in shared memory region 0, which this
 * back-end fills by asking the front-end to map a file (or a memfd) there
 * with VHOST_USER_BACKEND_SHMEM_MAP, whole or in chunks.  The config space
 * gives start 0 and the size of the region.  The one virtqueue takes
 * flush requests, answered after fsync() of the file.
 *
 * The front-end drops every mapping when the device is reset or the
 * connection is lost, so the back-end maps the region each time the device
 * starts (its virtqueue starts), from a thread of its own: the front-end
 * handles back-end requests only between its own, which the main thread
 * must keep answering meanwhile.  The guest driver sets DRIVER_OK before it
 * creates the pmem region, so the mapping normally lands before the guest
 * reads it; a guest that races it reads nothing there until it does.
 *
 * Signals, for tests and demonstrations:
 *   SIGUSR1  unmap the last chunk still mapped (VHOST_USER_BACKEND_SHMEM_UNMAP)
 *   SIGUSR2  map again every chunk that is not mapped
 *   SIGINT, SIGTERM  stop: fsync the file and exit with status 0
 * Each mapping change is reported on stderr once the front-end confirmed it.
 * The back-end serves one connection and exits with status 0 when the
 * front-end disconnects.
 *
 * Example (see docs/system/devices/virtio/vhost-user.rst):
 *   vhost-user-pmem --socket-path=/tmp/pmem.sock --file=pmem.img &
 *   qemu-system-x86_64 -M q35 -m 1G \
 *     -object memory-backend-memfd,id=mem,size=1G,share=on \
 *     -machine memory-backend=mem \
 *     -chardev socket,id=vu,path=/tmp/pmem.sock \
 *     -device vhost-user-test-device-pci,chardev=vu,virtio-id=27,num_vqs=1,\
 *             config_size=16
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib-unix.h>
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/iov.h"
#include "qemu/memfd.h"
#include "qemu/sockets.h"
#include "qemu/units.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pmem.h"
#include "libvhost-user-glib.h"

#define PMEM_NUM_QUEUES     1
#define PMEM_DEFAULT_SIZE   (64 * MiB)

typedef struct VuPmem {
    VugDev dev;
    GMainLoop *loop;
    int exit_status;

    int fd;                 /* backing file or memfd */
    const char *name;       /* for messages */
    bool read_only;
    uint64_t size;          /* of region 0: the pmem range */
    uint64_t chunk_size;    /* of each mapping */
    unsigned int nchunks;
    unsigned int flushes;   /* flush requests served */

    /* What the mapper thread is asked to do, under lock */
    GThread *mapper;
    GMutex lock;
    GCond cond;
    bool started;           /* the device runs: the region should be mapped */
    unsigned int generation; /* counts starts and stops */
    unsigned int unmap_requests;
    bool remap_request;
    bool quit;

    /* The mapper thread's own */
    bool *mapped;
} VuPmem;

static char *opt_socket_path;
static int opt_fdnum = -1;
static char *opt_file;
static char *opt_size;
static char *opt_chunk_size;
static gboolean opt_read_only;

static GOptionEntry entries[] = {
    { "socket-path", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket_path,
      "Listen on this UNIX socket for the front-end", "PATH" },
    { "fd", 'f', 0, G_OPTION_ARG_INT, &opt_fdnum,
      "Use this inherited, connected socket", "FDNUM" },
    { "file", 'F', 0, G_OPTION_ARG_FILENAME, &opt_file,
      "Regular file behind the pmem range (default: a memfd)", "PATH" },
    { "size", 'S', 0, G_OPTION_ARG_STRING, &opt_size,
      "Size of the pmem range, a multiple of the page size (default: the "
      "file's size, or 64M for a memfd)", "SIZE" },
    { "chunk-size", 'c', 0, G_OPTION_ARG_STRING, &opt_chunk_size,
      "Map the range in chunks of this size, which must divide it "
      "(default: one mapping)", "SIZE" },
    { "read-only", 'r', 0, G_OPTION_ARG_NONE, &opt_read_only,
      "Map the range read-only for the guest", NULL },
    { NULL, }
};

static void pmem_msg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* One line on stderr, which tests read: unbuffered, one write */
static void pmem_msg(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "vhost-user-pmem: %s\n", msg);
}

/* Stops the main loop; callable from any thread */
static void pmem_stop(VuPmem *pm, int status)
{
    if (status) {
        pm->exit_status = status;
    }
    g_main_loop_quit(pm->loop);
}

static void pmem_panic(VuDev *dev, const char *err)
{
    VuPmem *pm = container_of(dev, VuPmem, dev.parent);

    pmem_msg("error: %s", err ? err : "vhost-user failure");
    pmem_stop(pm, EXIT_FAILURE);
}

/* Mapper thread */

static bool pmem_map_chunk(VuPmem *pm, unsigned int i)
{
    VuDev *dev = &pm->dev.parent;
    uint64_t offset = i * pm->chunk_size;
    uint64_t flags = pm->read_only ? 0 : VHOST_USER_FLAG_MAP_RW;
    int ret;

    ret = vu_shmem_map_errno(dev, VIRTIO_PMEM_SHMEM_REGION_ID, offset, offset,
                             pm->chunk_size, flags, pm->fd);
    if (ret == -EREMOTEIO &&
        !vu_shmem_unmap_errno(dev, VIRTIO_PMEM_SHMEM_REGION_ID, offset,
                              pm->chunk_size)) {
        /*
         * The front-end still had this chunk, mapped before a stop that
         * was not a reset, or answered after one: map it afresh.
         */
        pmem_msg("chunk %u was still mapped: mapping it afresh", i);
        ret = vu_shmem_map_errno(dev, VIRTIO_PMEM_SHMEM_REGION_ID, offset,
                                 offset, pm->chunk_size, flags, pm->fd);
    }
    if (ret) {
        pmem_msg("error: mapping chunk %u [0x%" PRIx64 ", 0x%" PRIx64
                 ") failed: %s", i, offset, offset + pm->chunk_size,
                 ret == -EREMOTEIO ? "the front-end refused it"
                                   : strerror(-ret));
        return false;
    }
    pm->mapped[i] = true;
    pmem_msg("mapped chunk %u [0x%" PRIx64 ", 0x%" PRIx64 ") %s",
             i, offset, offset + pm->chunk_size,
             pm->read_only ? "read-only" : "read-write");
    return true;
}

static bool pmem_unmap_chunk(VuPmem *pm, unsigned int i)
{
    uint64_t offset = i * pm->chunk_size;
    int ret;

    ret = vu_shmem_unmap_errno(&pm->dev.parent, VIRTIO_PMEM_SHMEM_REGION_ID,
                               offset, pm->chunk_size);
    if (ret) {
        pmem_msg("error: unmapping chunk %u [0x%" PRIx64 ", 0x%" PRIx64
                 ") failed: %s", i, offset, offset + pm->chunk_size,
                 ret == -EREMOTEIO ? "the front-end refused it"
                                   : strerror(-ret));
        return false;
    }
    pm->mapped[i] = false;
    pmem_msg("unmapped chunk %u [0x%" PRIx64 ", 0x%" PRIx64 ")",
             i, offset, offset + pm->chunk_size);
    return true;
}

/* Maps every chunk not mapped yet; false if the device stopped meanwhile */
static void pmem_map_missing(VuPmem *pm, unsigned int generation)
{
    unsigned int i, n = 0;

    for (i = 0; i < pm->nchunks; i++) {
        bool current;

        g_mutex_lock(&pm->lock);
        current = pm->started && !pm->quit && pm->generation == generation;
        g_mutex_unlock(&pm->lock);
        if (!current) {
            return;
        }
        if (!pm->mapped[i] && !pmem_map_chunk(pm, i)) {
            return;
        }
    }
    for (i = 0; i < pm->nchunks; i++) {
        n += pm->mapped[i];
    }
    pmem_msg("region %d: %u of %u chunks of 0x%" PRIx64 " bytes mapped",
             VIRTIO_PMEM_SHMEM_REGION_ID, n, pm->nchunks, pm->chunk_size);
}

static gpointer pmem_mapper(gpointer opaque)
{
    VuPmem *pm = opaque;
    unsigned int done_generation = 0;

    g_mutex_lock(&pm->lock);
    while (!pm->quit) {
        unsigned int generation = pm->generation;
        bool started = pm->started;
        bool remap = pm->remap_request;
        bool unmap = pm->unmap_requests > 0;
        int i;

        if (generation == done_generation && !remap && !unmap) {
            g_cond_wait(&pm->cond, &pm->lock);
            continue;
        }
        pm->remap_request = false;
        if (unmap) {
            pm->unmap_requests--;
        }
        g_mutex_unlock(&pm->lock);

        if (generation != done_generation) {
            done_generation = generation;
            if (!started) {
                /*
                 * A stop: normally a reset, which drops every mapping.
                 * Otherwise pmem_map_chunk() finds the leftovers.
                 */
                memset(pm->mapped, 0, pm->nchunks * sizeof(pm->mapped[0]));
            } else {
                pmem_map_missing(pm, generation);
            }
        }
        if (unmap) {
            for (i = pm->nchunks - 1; i >= 0 && !pm->mapped[i]; i--) {
                continue;
            }
            if (i < 0) {
                pmem_msg("SIGUSR1: no chunk is mapped");
            } else {
                pmem_unmap_chunk(pm, i);
            }
        }
        if (remap) {
            if (started) {
                pmem_map_missing(pm, generation);
            } else {
                pmem_msg("SIGUSR2: the device is not running");
            }
        }
        g_mutex_lock(&pm->lock);
    }
    g_mutex_unlock(&pm->lock);
    return NULL;
}

/* Tells the mapper thread what changed */
static void pmem_kick_mapper(VuPmem *pm, void (*change)(VuPmem *pm))
{
    g_mutex_lock(&pm->lock);
    change(pm);
    g_cond_signal(&pm->cond);
    g_mutex_unlock(&pm->lock);
}

static void pmem_set_started(VuPmem *pm)
{
    pm->started = true;
    pm->generation++;
}

static void pmem_set_stopped(VuPmem *pm)
{
    pm->started = false;
    pm->generation++;
}

static void pmem_set_unmap(VuPmem *pm)
{
    pm->unmap_requests++;
}

static void pmem_set_remap(VuPmem *pm)
{
    pm->remap_request = true;
}

static void pmem_set_quit(VuPmem *pm)
{
    pm->quit = true;
}

/* Device */

static uint64_t pmem_get_features(VuDev *dev)
{
    return 1ULL << VIRTIO_F_VERSION_1 |
           1ULL << VIRTIO_PMEM_F_SHMEM_REGION |
           1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
}

static void pmem_set_features(VuDev *dev, uint64_t features)
{
    if (!(features & (1ULL << VIRTIO_PMEM_F_SHMEM_REGION))) {
        /* The driver then takes config.start, 0, as a guest address */
        pmem_msg("warning: the driver did not accept "
                 "VIRTIO_PMEM_F_SHMEM_REGION: it cannot use this device");
    }
}

static int pmem_get_config(VuDev *dev, uint8_t *config, uint32_t len)
{
    VuPmem *pm = container_of(dev, VuPmem, dev.parent);
    struct virtio_pmem_config cfg = {
        .start = cpu_to_le64(0),
        .size = cpu_to_le64(pm->size),
    };

    memset(config, 0, len);
    memcpy(config, &cfg, MIN(len, sizeof(cfg)));
    return 0;
}

static int pmem_set_config(VuDev *dev, const uint8_t *data, uint32_t offset,
                           uint32_t size, uint32_t flags)
{
    /* Read-only for the driver: ignore writes */
    return 0;
}

static void pmem_handle_flush(VuDev *dev, int qidx)
{
    VuPmem *pm = container_of(dev, VuPmem, dev.parent);
    VuVirtq *vq = vu_get_queue(dev, qidx);
    VuVirtqElement *elem;

    while ((elem = vu_queue_pop(dev, vq, sizeof(*elem)))) {
        struct virtio_pmem_req req = { 0 };
        struct virtio_pmem_resp resp = { .ret = cpu_to_le32(1) };
        size_t len;

        len = iov_to_buf(elem->out_sg, elem->out_num, 0, &req, sizeof(req));
        if (len != sizeof(req)) {
            pmem_msg("warning: flush request of %zu bytes", len);
        } else if (le32_to_cpu(req.type) != VIRTIO_PMEM_REQ_TYPE_FLUSH) {
            pmem_msg("warning: unknown request type %u",
                     le32_to_cpu(req.type));
        } else if (!pm->read_only && qemu_fdatasync(pm->fd) < 0) {
            pmem_msg("warning: flush: fdatasync of %s failed: %s", pm->name,
                     strerror(errno));
        } else {
            resp.ret = cpu_to_le32(0);
            pm->flushes++;
        }
        len = iov_from_buf(elem->in_sg, elem->in_num, 0, &resp, sizeof(resp));
        vu_queue_push(dev, vq, elem, len);
        free(elem);
    }
    vu_queue_notify(dev, vq);
}

static void pmem_queue_set_started(VuDev *dev, int qidx, bool started)
{
    VuPmem *pm = container_of(dev, VuPmem, dev.parent);
    VuVirtq *vq = vu_get_queue(dev, qidx);

    vu_set_queue_handler(dev, vq, started ? pmem_handle_flush : NULL);
    pmem_kick_mapper(pm, started ? pmem_set_started : pmem_set_stopped);
}

static int pmem_process_msg(VuDev *dev, VhostUserMsg *msg, int *do_reply)
{
    VuPmem *pm = container_of(dev, VuPmem, dev.parent);

    if (msg->request == VHOST_USER_NONE) {
        /* What libvhost-user makes of the end of the connection */
        pmem_msg("the front-end disconnected");
        pmem_stop(pm, 0);
        *do_reply = 0;
        return 1;
    }
    return 0;
}

static const VuDevIface pmem_iface = {
    .get_features = pmem_get_features,
    .set_features = pmem_set_features,
    .process_msg = pmem_process_msg,
    .queue_set_started = pmem_queue_set_started,
    .get_config = pmem_get_config,
    .set_config = pmem_set_config,
};

static gboolean pmem_on_signal(gpointer opaque, int signum)
{
    VuPmem *pm = opaque;

    switch (signum) {
    case SIGUSR1:
        pmem_kick_mapper(pm, pmem_set_unmap);
        break;
    case SIGUSR2:
        pmem_kick_mapper(pm, pmem_set_remap);
        break;
    default:
        pmem_msg("signal %d: stopping", signum);
        pmem_stop(pm, 0);
        break;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_sigusr1(gpointer opaque)
{
    return pmem_on_signal(opaque, SIGUSR1);
}

static gboolean on_sigusr2(gpointer opaque)
{
    return pmem_on_signal(opaque, SIGUSR2);
}

static gboolean on_sigterm(gpointer opaque)
{
    return pmem_on_signal(opaque, SIGTERM);
}

static gboolean on_sigint(gpointer opaque)
{
    return pmem_on_signal(opaque, SIGINT);
}

/* Setup */

static bool parse_size(const char *opt, const char *str, uint64_t *size)
{
    if (qemu_strtosz(str, NULL, size) < 0 || !*size) {
        g_printerr("--%s=%s: not a size (examples: 65536, 64M, 1G)\n",
                   opt, str);
        return false;
    }
    if (*size % qemu_real_host_page_size()) {
        g_printerr("--%s=%s: not a multiple of the page size (%zu bytes)\n",
                   opt, str, qemu_real_host_page_size());
        return false;
    }
    return true;
}

/* Opens the backing store; sets pm->fd, pm->name and pm->size */
static bool pmem_open(VuPmem *pm)
{
    Error *err = NULL;
    struct stat st;

    if (opt_size && !parse_size("size", opt_size, &pm->size)) {
        return false;
    }

    if (!opt_file) {
        pm->size = opt_size ? pm->size : PMEM_DEFAULT_SIZE;
        pm->name = "memfd";
        pm->fd = qemu_memfd_create("vhost-user-pmem", pm->size, false, 0, 0,
                                   &err);
        if (pm->fd < 0) {
            error_report_err(err);
            return false;
        }
        return true;
    }

    pm->name = opt_file;
    pm->fd = open(opt_file, (pm->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (pm->fd < 0) {
        g_printerr("--file=%s: %s\n", opt_file, strerror(errno));
        return false;
    }
    if (fstat(pm->fd, &st) < 0) {
        g_printerr("--file=%s: %s\n", opt_file, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        g_printerr("--file=%s: not a regular file\n", opt_file);
        return false;
    }
    if (!opt_size) {
        pm->size = st.st_size;
        if (!pm->size || pm->size % qemu_real_host_page_size()) {
            g_printerr("--file=%s: its size, %" PRIu64 " bytes, is not a "
                       "non-zero multiple of the page size: give --size\n",
                       opt_file, pm->size);
            return false;
        }
    } else if ((uint64_t)st.st_size < pm->size) {
        g_printerr("--file=%s: too small, %" PRIu64 " bytes for --size=%s "
                   "(%" PRIu64 " bytes)\n", opt_file, (uint64_t)st.st_size,
                   opt_size, pm->size);
        return false;
    }
    return true;
}

static bool pmem_setup(VuPmem *pm)
{
    pm->read_only = opt_read_only;
    if (!pmem_open(pm)) {
        return false;
    }

    pm->chunk_size = pm->size;
    if (opt_chunk_size) {
        if (!parse_size("chunk-size", opt_chunk_size, &pm->chunk_size)) {
            return false;
        }
        if (pm->chunk_size > pm->size || pm->size % pm->chunk_size) {
            g_printerr("--chunk-size=%s does not divide the size (%" PRIu64
                       " bytes)\n", opt_chunk_size, pm->size);
            return false;
        }
    }
    pm->nchunks = pm->size / pm->chunk_size;
    if (pm->nchunks > UINT16_MAX) {
        g_printerr("--chunk-size=%s: too many chunks (%" PRIu64 "), at most "
                   "%u\n", opt_chunk_size, pm->size / pm->chunk_size,
                   UINT16_MAX);
        return false;
    }
    pm->mapped = g_new0(bool, pm->nchunks);
    return true;
}

static int pmem_connect(void)
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
    pmem_msg("waiting for the front-end on %s", opt_socket_path);
    do {
        fd = accept(lsock, NULL, NULL);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        g_printerr("accept on %s: %s\n", opt_socket_path, strerror(errno));
    } else {
        pmem_msg("the front-end connected");
    }
    close(lsock);
    return fd;
}

int main(int argc, char *argv[])
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    VuPmem pm = { .fd = -1 };
    uint64_t sizes[1];
    int sock;

    context = g_option_context_new("- virtio-pmem vhost-user back-end");
    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_description(context,
        "The pmem range is VIRTIO Shared Memory Region 0 of the device, "
        "mapped by the\nfront-end from the file at each device start.\n\n"
        "Signals: SIGUSR1 unmaps the last mapped chunk, SIGUSR2 maps the "
        "missing\nchunks again, SIGTERM and SIGINT stop.  The back-end exits "
        "with status 0\nwhen the front-end disconnects.");
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("%s\n", error->message);
        return EXIT_FAILURE;
    }
    if (argc > 1) {
        g_printerr("unexpected argument: %s\n", argv[1]);
        return EXIT_FAILURE;
    }
    if (!!opt_socket_path == (opt_fdnum >= 0)) {
        g_printerr("give either --socket-path or --fd\n");
        return EXIT_FAILURE;
    }
    if (!pmem_setup(&pm)) {
        return EXIT_FAILURE;
    }
    pmem_msg("%s, 0x%" PRIx64 " bytes in %u chunk%s, %s", pm.name, pm.size,
             pm.nchunks, pm.nchunks > 1 ? "s" : "",
             pm.read_only ? "read-only" : "read-write");

    /* A front-end gone while we write to it: an error, not a death */
    signal(SIGPIPE, SIG_IGN);

    sock = pmem_connect();
    if (sock < 0) {
        return EXIT_FAILURE;
    }

    pm.loop = g_main_loop_new(NULL, FALSE);
    if (!vug_init(&pm.dev, PMEM_NUM_QUEUES, sock, pmem_panic, &pmem_iface)) {
        g_printerr("failed to initialize libvhost-user-glib\n");
        return EXIT_FAILURE;
    }
    sizes[VIRTIO_PMEM_SHMEM_REGION_ID] = pm.size;
    if (!vu_set_shmem_regions(&pm.dev.parent, sizes, ARRAY_SIZE(sizes))) {
        g_printerr("cannot declare a region of 0x%" PRIx64 " bytes\n",
                   pm.size);
        return EXIT_FAILURE;
    }

    g_mutex_init(&pm.lock);
    g_cond_init(&pm.cond);
    pm.mapper = g_thread_new("pmem-mapper", pmem_mapper, &pm);
    g_unix_signal_add(SIGUSR1, on_sigusr1, &pm);
    g_unix_signal_add(SIGUSR2, on_sigusr2, &pm);
    g_unix_signal_add(SIGTERM, on_sigterm, &pm);
    g_unix_signal_add(SIGINT, on_sigint, &pm);

    g_main_loop_run(pm.loop);

    pmem_kick_mapper(&pm, pmem_set_quit);
    g_thread_join(pm.mapper);
    vug_deinit(&pm.dev);

    if (!pm.read_only && qemu_fdatasync(pm.fd) < 0) {
        pmem_msg("error: fdatasync of %s failed: %s", pm.name,
                 strerror(errno));
        pm.exit_status = EXIT_FAILURE;
    }
    close(pm.fd);
    g_free(pm.mapped);
    g_main_loop_unref(pm.loop);
    pmem_msg("served %u flush requests; exiting with status %d", pm.flushes,
             pm.exit_status);
    return pm.exit_status;
}
