/*
 * vfio-user server: device DMA to client memory by message
 *
 * A client that shares no file descriptor for a DMA range (its RAM is
 * plain anonymous memory) leaves the server nothing to map.  Each such
 * range becomes an I/O region of the device's DMA address space whose
 * accesses go to the client as VFIO_USER_DMA_READ/DMA_WRITE messages.
 * The regions move blocks (MemoryRegionOps read_block/write_block), so a
 * device DMA of N bytes is as few messages as the client's maximum data
 * transfer size allows, instead of N/8 round trips.
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object.h"
#include "hw/remote/vfio-user-dma.h"
#include "trace.h"

#define TYPE_VFIO_USER_SERVER_DMA_RANGE "x-vfio-user-dma-range"
OBJECT_DECLARE_SIMPLE_TYPE(VfioUserServerDmaRange, VFIO_USER_SERVER_DMA_RANGE)

/*
 * A range is its own object, the owner of its MemoryRegion: flatviews,
 * MemoryRegionCaches and address_space_map() users that still refer to
 * the region after the client unregistered it keep the range alive, not
 * the server object.
 */
struct VfioUserServerDmaRange {
    Object parent;

    MemoryRegion mr;
    VfioUserServerDma *dma;     /* NULL once removed */
    hwaddr iova;
    uint64_t size;
    /* Shared by fd: the server's own mapping of the client's pages */
    void *mapping;
    size_t mapping_len;
    QLIST_ENTRY(VfioUserServerDmaRange) next;
};

struct VfioUserServerDma {
    Object *owner;
    vfu_ctx_t *ctx;
    MemoryRegion *root;
    bool block;
    bool connected;
    VfioUserServerDmaLostFunc *lost;
    void *opaque;
    dma_sg_t *sg;
    VfioUserServerDmaRange *unmapped;
    QLIST_HEAD(, VfioUserServerDmaRange) ranges;
    VfioUserServerDmaStats *stats;
};

/* Largest message: the client's limit, and libvfio-user's own */
#define DMA_MSG_MAX_SIZE (1 * MiB)

static size_t dma_message_size(VfioUserServerDma *dma)
{
    size_t client_max = vfu_get_client_max_data_xfer_size(dma->ctx);

    return client_max ? MIN(client_max, DMA_MSG_MAX_SIZE)
                      : DMA_MSG_MAX_SIZE;
}

static MemTxResult dma_msg_failed(VfioUserServerDma *dma, uint64_t iova,
                                  hwaddr len,
                                  bool is_write, int err)
{
    dma->stats->errors++;
    trace_vfu_dma_msg_error(is_write ? "write" : "read", iova, len, err);
    qemu_log_mask(LOG_GUEST_ERROR,
                  "vfu: device DMA %s of %" HWADDR_PRIu " bytes at 0x%"
                  PRIx64 " failed: %s\n", is_write ? "write" : "read", len,
                  iova, strerror(err));

    /* The client's own error reply may say ENOTCONN too. */
    if (err == ENOTCONN && dma->connected && dma->lost(dma->opaque)) {
        dma->connected = false;
    }
    return MEMTX_ERROR;
}

/*
 * Called with the BQL held, which serialises every libvfio-user call.
 * The access lies within one client range (the region is that range),
 * and libvfio-user splits it into messages of the client's size.
 */
static MemTxResult dma_msg_transfer(VfioUserServerDmaRange *range, hwaddr addr,
                                    void *buf, hwaddr len, bool is_write)
{
    VfioUserServerDma *dma = range->dma;
    uint64_t iova = range->iova + addr;
    uint64_t messages;
    int ret;

    if (!dma) {
        /* Removed while this access was on its way. */
        if (!is_write) {
            memset(buf, 0xff, len);
        }
        return MEMTX_DECODE_ERROR;
    }

    if (!dma->connected) {
        ret = -1;
        errno = ENOTCONN;
    } else {
        ret = vfu_addr_to_sgl(dma->ctx, (vfu_dma_addr_t)(uintptr_t)iova, len,
                              dma->sg, 1, is_write ? PROT_WRITE : PROT_READ);
    }
    if (ret == 1) {
        ret = is_write ? vfu_sgl_write(dma->ctx, dma->sg, 1, buf)
                       : vfu_sgl_read(dma->ctx, dma->sg, 1, buf);
    } else if (ret != -1) {
        /* More than one entry: cannot be, the region is one range. */
        ret = -1;
        errno = EFAULT;
    }
    if (ret < 0) {
        int err = errno;

        if (!is_write) {
            memset(buf, 0xff, len);
        }
        return dma_msg_failed(dma, iova, len, is_write, err);
    }

    messages = DIV_ROUND_UP(len, dma_message_size(dma));
    if (is_write) {
        dma->stats->write_messages += messages;
        dma->stats->write_bytes += len;
    } else {
        dma->stats->read_messages += messages;
        dma->stats->read_bytes += len;
    }
    trace_vfu_dma_msg(is_write ? "write" : "read", iova, len, messages);
    return MEMTX_OK;
}

static MemTxResult dma_msg_read_block(void *opaque, hwaddr addr, void *buf,
                                      hwaddr len, MemTxAttrs attrs)
{
    return dma_msg_transfer(opaque, addr, buf, len, false);
}

static MemTxResult dma_msg_write_block(void *opaque, hwaddr addr,
                                       const void *buf, hwaddr len,
                                       MemTxAttrs attrs)
{
    return dma_msg_transfer(opaque, addr, (void *)buf, len, true);
}

static MemTxResult dma_msg_read(void *opaque, hwaddr addr, uint64_t *data,
                                unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];
    MemTxResult res = dma_msg_transfer(opaque, addr, buf, size, false);

    *data = ldn_le_p(buf, size);
    return res;
}

static MemTxResult dma_msg_write(void *opaque, hwaddr addr, uint64_t data,
                                 unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];

    stn_le_p(buf, size, data);
    return dma_msg_transfer(opaque, addr, buf, size, true);
}

#define DMA_MSG_SMALL_OPS                                   \
    .read_with_attrs = dma_msg_read,                        \
    .write_with_attrs = dma_msg_write,                      \
    .endianness = DEVICE_LITTLE_ENDIAN,                     \
    .valid = {                                              \
        .min_access_size = 1,                               \
        .max_access_size = 8,                               \
        .unaligned = true,                                  \
    },                                                      \
    .impl = {                                               \
        .min_access_size = 1,                               \
        .max_access_size = 8,                               \
        .unaligned = true,                                  \
    }

static const MemoryRegionOps dma_msg_block_ops = {
    DMA_MSG_SMALL_OPS,
    .read_block = dma_msg_read_block,
    .write_block = dma_msg_write_block,
};

/* x-dma-block=off: what the memory core does without the block hook */
static const MemoryRegionOps dma_msg_piece_ops = {
    DMA_MSG_SMALL_OPS,
};

/* Device accesses outside every range the client registered. */
static MemTxResult dma_unmapped(VfioUserServerDmaRange *range, hwaddr addr,
                                hwaddr len, bool is_write)
{
    VfioUserServerDma *dma = range->dma;

    if (dma) {
        dma->stats->errors++;
        trace_vfu_dma_msg_error(is_write ? "write" : "read", addr, len,
                                EFAULT);
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vfu: device DMA %s of %" HWADDR_PRIu " bytes at 0x%"
                      HWADDR_PRIx " is outside the client's DMA ranges\n",
                      is_write ? "write" : "read", len, addr);
    }
    return MEMTX_DECODE_ERROR;
}

static MemTxResult dma_unmapped_read_block(void *opaque, hwaddr addr,
                                           void *buf, hwaddr len,
                                           MemTxAttrs attrs)
{
    memset(buf, 0xff, len);
    return dma_unmapped(opaque, addr, len, false);
}

static MemTxResult dma_unmapped_write_block(void *opaque, hwaddr addr,
                                            const void *buf, hwaddr len,
                                            MemTxAttrs attrs)
{
    return dma_unmapped(opaque, addr, len, true);
}

static MemTxResult dma_unmapped_read(void *opaque, hwaddr addr,
                                     uint64_t *data, unsigned size,
                                     MemTxAttrs attrs)
{
    *data = ~0ULL;
    return dma_unmapped(opaque, addr, size, false);
}

static MemTxResult dma_unmapped_write(void *opaque, hwaddr addr,
                                      uint64_t data, unsigned size,
                                      MemTxAttrs attrs)
{
    return dma_unmapped(opaque, addr, size, true);
}

static const MemoryRegionOps dma_unmapped_ops = {
    .read_with_attrs = dma_unmapped_read,
    .write_with_attrs = dma_unmapped_write,
    .read_block = dma_unmapped_read_block,
    .write_block = dma_unmapped_write_block,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

/* The caller initializes range->mr. */
static VfioUserServerDmaRange *dma_range_new(VfioUserServerDma *dma,
                                             const char *name, hwaddr iova,
                                             uint64_t size)
{
    VfioUserServerDmaRange *range =
        VFIO_USER_SERVER_DMA_RANGE(object_new(TYPE_VFIO_USER_SERVER_DMA_RANGE));

    range->dma = dma;
    range->iova = iova;
    range->size = size;
    object_property_add_child(dma->owner, name, OBJECT(range));
    object_unref(OBJECT(range));
    return range;
}

static void dma_range_remove(VfioUserServerDma *dma,
                             VfioUserServerDmaRange *range)
{
    memory_region_del_subregion(dma->root, &range->mr);
    range->dma = NULL;
    /* Flatviews and caches may hold references until RCU frees them. */
    object_unparent(OBJECT(range));
}

/*
 * libvfio-user unmaps a range shared by fd when the client unmaps it or
 * goes away, whoever still uses it: a device with a pointer from
 * dma_memory_map(), an I/O request of the block layer in flight.  Map the
 * same pages once more, for the range object, which lives until its last
 * user is done (see dma_range_finalize()).
 */
static void *dma_range_map(VfioUserServerDmaRange *range,
                           const vfu_dma_info_t *info)
{
    void *p = mremap(info->mapping.iov_base, 0, info->mapping.iov_len,
                     MREMAP_MAYMOVE);

    if (p == MAP_FAILED) {
        warn_report("vfu: DMA range at 0x%" HWADDR_PRIx " used through "
                    "libvfio-user's mapping: %s", range->iova,
                    strerror(errno));
        return NULL;
    }
    range->mapping = p;
    range->mapping_len = info->mapping.iov_len;
    return (char *)p + ((char *)info->vaddr - (char *)info->mapping.iov_base);
}

void vfio_user_server_dma_add_range(VfioUserServerDma *dma,
                                    const vfu_dma_info_t *info)
{
    hwaddr iova = (hwaddr)(uintptr_t)info->iova.iov_base;
    uint64_t size = info->iova.iov_len;
    g_autofree char *name = g_strdup_printf("dma-range-0x%" HWADDR_PRIx,
                                            iova);
    VfioUserServerDmaRange *range = dma_range_new(dma, name, iova, size);

    if (info->vaddr) {
        /* Shared by fd: its pages, mapped for as long as the range lives */
        void *host = dma_range_map(range, info);

        memory_region_init_ram_ptr(&range->mr, OBJECT(range), name, size,
                                   host ?: info->vaddr);
        /* A write to a read-only mapping would kill the server. */
        memory_region_set_readonly(&range->mr, !(info->prot & PROT_WRITE));
        trace_vfu_dma_register(iova, size);
    } else {
        memory_region_init_io(&range->mr, OBJECT(range),
                              dma->block ? &dma_msg_block_ops
                                         : &dma_msg_piece_ops,
                              range, name, size);
        trace_vfu_dma_msg_register(iova, size, info->prot);
    }
    QLIST_INSERT_HEAD(&dma->ranges, range, next);
    memory_region_add_subregion(dma->root, iova, &range->mr);
}

bool vfio_user_server_dma_del_range(VfioUserServerDma *dma, hwaddr iova)
{
    VfioUserServerDmaRange *range;

    QLIST_FOREACH(range, &dma->ranges, next) {
        if (range->iova == iova) {
            QLIST_REMOVE(range, next);
            dma_range_remove(dma, range);
            trace_vfu_dma_unregister(iova);
            return true;
        }
    }
    return false;
}

VfioUserServerDma *vfio_user_server_dma_new(Object *owner, vfu_ctx_t *ctx,
                                            MemoryRegion *root, bool block,
                                            VfioUserServerDmaStats *stats,
                                            VfioUserServerDmaLostFunc *lost,
                                            void *opaque)
{
    VfioUserServerDma *dma = g_new0(VfioUserServerDma, 1);

    dma->owner = owner;
    dma->ctx = ctx;
    dma->root = root;
    dma->block = block;
    dma->stats = stats;
    memset(stats, 0, sizeof(*stats));
    dma->connected = true;
    dma->lost = lost;
    dma->opaque = opaque;
    dma->sg = g_malloc0(dma_sg_size());
    QLIST_INIT(&dma->ranges);

    dma->unmapped = dma_range_new(dma, "dma-unmapped", 0,
                                  memory_region_size(root));
    memory_region_init_io(&dma->unmapped->mr, OBJECT(dma->unmapped),
                          &dma_unmapped_ops, dma->unmapped,
                          "dma-unmapped", memory_region_size(root));
    memory_region_add_subregion_overlap(root, 0, &dma->unmapped->mr, -1);
    return dma;
}

void vfio_user_server_dma_free(VfioUserServerDma *dma)
{
    VfioUserServerDmaRange *range, *tmp;

    if (!dma) {
        return;
    }
    memory_region_transaction_begin();
    QLIST_FOREACH_SAFE(range, &dma->ranges, next, tmp) {
        QLIST_REMOVE(range, next);
        dma_range_remove(dma, range);
    }
    dma_range_remove(dma, dma->unmapped);
    memory_region_transaction_commit();
    g_free(dma->sg);
    g_free(dma);
}

/* Four messages of the largest size a client may ask for. */
#define DMA_DEFAULT_MAX_BOUNCE_BUFFER_SIZE (4 * MiB)
#define DMA_DEFAULT_TIMEOUT_MS 10000
/* The main loop waits for a DMA reply with the BQL held: not for long. */
#define DMA_MAX_TIMEOUT_MS 60000
/*
 * The main loop waits for a DMA reply anyway: poll for it rather than
 * sleep, up to about what a reply with 1 MiB of data takes.  A sleep and
 * the wake-up across CPUs that ends it can cost more than a whole small
 * transfer, and the client pays for waking us up.
 */
#define DMA_DEFAULT_POLL_US 500
#define DMA_MAX_POLL_US 1000000

/*
 * Room for a client VM whose RAM comes in many pieces (hot-plugged DIMMs,
 * virtio-mem blocks); each DMA_MAP is looked up linearly.
 */
#define DMA_DEFAULT_MAX_REGIONS 1024

bool vfio_user_server_dma_options_apply(
    VfioUserServerDmaOptions *options, vfu_ctx_t *ctx,
    PCIDevice *pci_dev, Error **errp)
{
    AddressSpace *as = pci_get_address_space(pci_dev);

    if (!options->timeout_ms || options->timeout_ms > DMA_MAX_TIMEOUT_MS) {
        error_setg(errp, "vfu: x-dma-timeout must be between 1 and %u",
                   DMA_MAX_TIMEOUT_MS);
        return false;
    }
    if (options->poll_us > DMA_MAX_POLL_US) {
        error_setg(errp, "vfu: x-dma-poll-us must be at most %u",
                   DMA_MAX_POLL_US);
        return false;
    }
    if (!options->max_regions ||
        options->max_regions > VFIO_USER_MAX_DMA_MAPS) {
        error_setg(errp, "vfu: max-dma-regions must be between 1 and %u",
                   VFIO_USER_MAX_DMA_MAPS);
        return false;
    }
    if (!options->max_bounce_buffer_size ||
        options->max_bounce_buffer_size > SIZE_MAX) {
        error_setg(errp, "vfu: max-bounce-buffer-size must be between 1 "
                   "and %zu", (size_t)SIZE_MAX);
        return false;
    }

    /*
     * No bounce is in flight: no client has been connected yet.  The
     * device's own x-max-bounce-buffer-size stays if it is larger.
     */
    as->max_bounce_buffer_size = MAX(as->max_bounce_buffer_size,
                                     options->max_bounce_buffer_size);

    if (vfu_setup_twin_socket(ctx, options->twin_socket) < 0) {
        error_setg_errno(errp, errno, "vfu: Failed to set up twin sockets");
        return false;
    }
    /* The same patience for a reply as for the rest of a message */
    if (vfu_set_dma_timeout(ctx, options->timeout_ms) < 0 ||
        vfu_set_recv_timeout(ctx, options->timeout_ms) < 0) {
        error_setg_errno(errp, errno, "vfu: Failed to set the DMA timeout");
        return false;
    }
    if (vfu_set_dma_poll(ctx, options->poll_us) < 0) {
        error_setg_errno(errp, errno, "vfu: Failed to set the DMA poll time");
        return false;
    }
    if (vfu_set_max_dma_regions(ctx, options->max_regions) < 0) {
        error_setg_errno(errp, errno,
                         "vfu: Failed to set the number of DMA regions");
        return false;
    }
    options->applied = true;
    return true;
}

/*
 * An option is a field of the options in the server object, settable until
 * the server applies them: a later qom-set fails rather than silently
 * changing nothing.  Class properties, so that -object help lists them.
 */
typedef struct DmaOptionProperty {
    ptrdiff_t options_offset;   /* of the options in the server object */
    size_t field_offset;        /* of the option in the options */
} DmaOptionProperty;

static void *dma_option_field(Object *obj, DmaOptionProperty *prop,
                              const char *name, bool set, Error **errp)
{
    VfioUserServerDmaOptions *options =
        (void *)((char *)obj + prop->options_offset);

    if (set && options->applied) {
        error_setg(errp, "vfu: %s cannot change once the server runs", name);
        return NULL;
    }
    return (char *)options + prop->field_offset;
}

static void dma_get_bool(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    visit_type_bool(v, name, dma_option_field(obj, opaque, name, false, NULL),
                    errp);
}

static void dma_set_bool(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    bool value, *field;

    if (!visit_type_bool(v, name, &value, errp)) {
        return;
    }
    field = dma_option_field(obj, opaque, name, true, errp);
    if (field) {
        *field = value;
    }
}

static void dma_get_uint32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    visit_type_uint32(v, name,
                      dma_option_field(obj, opaque, name, false, NULL), errp);
}

static void dma_set_uint32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    uint32_t value, *field;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    field = dma_option_field(obj, opaque, name, true, errp);
    if (field) {
        *field = value;
    }
}

/* A uint64 that takes suffixes (4M) on the command line */
static void dma_get_size(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    visit_type_size(v, name, dma_option_field(obj, opaque, name, false, NULL),
                    errp);
}

static void dma_set_size(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    uint64_t value, *field;

    if (!visit_type_size(v, name, &value, errp)) {
        return;
    }
    field = dma_option_field(obj, opaque, name, true, errp);
    if (field) {
        *field = value;
    }
}

/* A statistic: @opaque is its offset in the object */
static void server_get_counter(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    visit_type_uint64(v, name, (uint64_t *)((char *)obj + (uintptr_t)opaque),
                      errp);
}

void vfio_user_server_class_add_counters(ObjectClass *oc,
                                         ptrdiff_t stats_offset,
                                         const VfioUserServerCounter *counters,
                                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        object_class_property_add(oc, counters[i].name, "uint64",
                                  server_get_counter, NULL, NULL,
                                  (void *)(uintptr_t)(stats_offset +
                                                      counters[i].offset));
        object_class_property_set_description(oc, counters[i].name,
                                              counters[i].description);
    }
}

void vfio_user_server_dma_options_init(VfioUserServerDmaOptions *options)
{
    options->block = true;
    options->twin_socket = true;
    options->timeout_ms = DMA_DEFAULT_TIMEOUT_MS;
    options->poll_us = DMA_DEFAULT_POLL_US;
    options->max_regions = DMA_DEFAULT_MAX_REGIONS;
    options->max_bounce_buffer_size = DMA_DEFAULT_MAX_BOUNCE_BUFFER_SIZE;
}

void vfio_user_server_dma_class_add_properties(ObjectClass *oc,
                                               ptrdiff_t options_offset,
                                               ptrdiff_t stats_offset)
{
#define DMA_OPTION(name_, type_, field_, description_) \
    { name_, #type_, dma_get_##type_, dma_set_##type_, \
      offsetof(VfioUserServerDmaOptions, field_), description_ }
    static const struct {
        const char *name;
        const char *type;
        ObjectPropertyAccessor *get, *set;
        size_t offset;
        const char *description;
    } options[] = {
        DMA_OPTION("max-bounce-buffer-size", size, max_bounce_buffer_size,
                   "Total size of the device's DMA bounce buffers for "
                   "client memory without an fd (default 4M, or the "
                   "device's x-max-bounce-buffer-size if larger)"),
        DMA_OPTION("x-dma-timeout", uint32, timeout_ms,
                   "Milliseconds to wait for the client's DMA reply, or for "
                   "the rest of a message it started "
                   "(1 to 60000, default 10000)"),
        DMA_OPTION("x-dma-poll-us", uint32, poll_us,
                   "Microseconds to poll for the client's DMA reply before "
                   "sleeping until it comes (0 to 1000000, default 500)"),
        DMA_OPTION("max-dma-regions", uint32, max_regions,
                   "DMA ranges the client may map at a time "
                   "(1 to 65535, default 1024)"),
        DMA_OPTION("x-twin-socket", bool, twin_socket,
                   "Offer a second socket for DMA messages to clients that "
                   "ask for one"),
        DMA_OPTION("x-dma-block", bool, block,
                   "Move each device DMA in as few messages as possible "
                   "(off: pieces of at most 8 bytes)"),
    };
#undef DMA_OPTION
    static const VfioUserServerCounter counters[] = {
        { "x-dma-read-messages",
          offsetof(VfioUserServerDmaStats, read_messages),
          "DMA_READ messages sent to the client" },
        { "x-dma-write-messages",
          offsetof(VfioUserServerDmaStats, write_messages),
          "DMA_WRITE messages sent to the client" },
        { "x-dma-read-bytes", offsetof(VfioUserServerDmaStats, read_bytes),
          "Bytes the device read by message" },
        { "x-dma-write-bytes", offsetof(VfioUserServerDmaStats, write_bytes),
          "Bytes the device wrote by message" },
        { "x-dma-errors", offsetof(VfioUserServerDmaStats, errors),
          "Device DMA accesses to client memory that failed" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        /* Lives as long as the class, i.e. the process */
        DmaOptionProperty *prop = g_new(DmaOptionProperty, 1);

        prop->options_offset = options_offset;
        prop->field_offset = options[i].offset;
        object_class_property_add(oc, options[i].name, options[i].type,
                                  options[i].get, options[i].set, NULL, prop);
        object_class_property_set_description(oc, options[i].name,
                                              options[i].description);
    }
    vfio_user_server_class_add_counters(oc, stats_offset, counters,
                                        ARRAY_SIZE(counters));
}

static void dma_range_finalize(Object *obj)
{
    VfioUserServerDmaRange *range = VFIO_USER_SERVER_DMA_RANGE(obj);

    /* Its MemoryRegion is gone with the last reference to the range. */
    if (range->mapping) {
        munmap(range->mapping, range->mapping_len);
    }
}

static const TypeInfo dma_range_info = {
    .name = TYPE_VFIO_USER_SERVER_DMA_RANGE,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VfioUserServerDmaRange),
    .instance_finalize = dma_range_finalize,
};

static void dma_register_types(void)
{
    type_register_static(&dma_range_info);
}

type_init(dma_register_types);
