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

#define TYPE_VFU_DMA_RANGE "x-vfio-user-dma-range"
OBJECT_DECLARE_SIMPLE_TYPE(VfuDmaRange, VFU_DMA_RANGE)

/*
 * A range is its own object, the owner of its MemoryRegion: flatviews,
 * MemoryRegionCaches and address_space_map() users that still refer to
 * the region after the client unregistered it keep the range alive, not
 * the server object.
 */
struct VfuDmaRange {
    Object parent;

    MemoryRegion mr;
    VfuDma *dma;            /* NULL once removed */
    hwaddr iova;
    uint64_t size;
    /* Shared by fd: the server's own mapping of the client's pages */
    void *mapping;
    size_t mapping_len;
    QLIST_ENTRY(VfuDmaRange) next;
};

struct VfuDma {
    Object *owner;
    vfu_ctx_t *ctx;
    MemoryRegion *root;
    bool block;
    bool connected;
    VfuDmaLostFunc *lost;
    void *opaque;
    dma_sg_t *sg;
    VfuDmaRange *unmapped;
    QLIST_HEAD(, VfuDmaRange) ranges;
    VfuDmaStats stats;
};

/* Largest message: the client's limit, and libvfio-user's own */
#define VFU_DMA_MAX_MESSAGE (1 * MiB)

static size_t vfu_dma_message_size(VfuDma *dma)
{
    size_t client_max = vfu_get_client_max_data_xfer_size(dma->ctx);

    return client_max ? MIN(client_max, VFU_DMA_MAX_MESSAGE)
                      : VFU_DMA_MAX_MESSAGE;
}

static MemTxResult vfu_dma_failed(VfuDma *dma, uint64_t iova, hwaddr len,
                                  bool is_write, int err)
{
    dma->stats.errors++;
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
static MemTxResult vfu_dma_transfer(VfuDmaRange *range, hwaddr addr,
                                    void *buf, hwaddr len, bool is_write)
{
    VfuDma *dma = range->dma;
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
        return vfu_dma_failed(dma, iova, len, is_write, err);
    }

    messages = DIV_ROUND_UP(len, vfu_dma_message_size(dma));
    if (is_write) {
        dma->stats.write_messages += messages;
        dma->stats.write_bytes += len;
    } else {
        dma->stats.read_messages += messages;
        dma->stats.read_bytes += len;
    }
    trace_vfu_dma_msg(is_write ? "write" : "read", iova, len, messages);
    return MEMTX_OK;
}

static MemTxResult vfu_dma_read_block(void *opaque, hwaddr addr, void *buf,
                                      hwaddr len, MemTxAttrs attrs)
{
    return vfu_dma_transfer(opaque, addr, buf, len, false);
}

static MemTxResult vfu_dma_write_block(void *opaque, hwaddr addr,
                                       const void *buf, hwaddr len,
                                       MemTxAttrs attrs)
{
    return vfu_dma_transfer(opaque, addr, (void *)buf, len, true);
}

static MemTxResult vfu_dma_read(void *opaque, hwaddr addr, uint64_t *data,
                                unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];
    MemTxResult res = vfu_dma_transfer(opaque, addr, buf, size, false);

    *data = ldn_le_p(buf, size);
    return res;
}

static MemTxResult vfu_dma_write(void *opaque, hwaddr addr, uint64_t data,
                                 unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];

    stn_le_p(buf, size, data);
    return vfu_dma_transfer(opaque, addr, buf, size, true);
}

#define VFU_DMA_SMALL_OPS                                   \
    .read_with_attrs = vfu_dma_read,                        \
    .write_with_attrs = vfu_dma_write,                      \
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

static const MemoryRegionOps vfu_dma_block_ops = {
    VFU_DMA_SMALL_OPS,
    .read_block = vfu_dma_read_block,
    .write_block = vfu_dma_write_block,
};

/* x-dma-block=off: what the memory core does without the block hook */
static const MemoryRegionOps vfu_dma_piece_ops = {
    VFU_DMA_SMALL_OPS,
};

/* Device accesses outside every range the client registered. */
static MemTxResult vfu_dma_unmapped(VfuDmaRange *range, hwaddr addr,
                                    hwaddr len, bool is_write)
{
    VfuDma *dma = range->dma;

    if (dma) {
        dma->stats.errors++;
        trace_vfu_dma_msg_error(is_write ? "write" : "read", addr, len,
                                EFAULT);
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vfu: device DMA %s of %" HWADDR_PRIu " bytes at 0x%"
                      HWADDR_PRIx " is outside the client's DMA ranges\n",
                      is_write ? "write" : "read", len, addr);
    }
    return MEMTX_DECODE_ERROR;
}

static MemTxResult vfu_dma_unmapped_read_block(void *opaque, hwaddr addr,
                                               void *buf, hwaddr len,
                                               MemTxAttrs attrs)
{
    memset(buf, 0xff, len);
    return vfu_dma_unmapped(opaque, addr, len, false);
}

static MemTxResult vfu_dma_unmapped_write_block(void *opaque, hwaddr addr,
                                                const void *buf, hwaddr len,
                                                MemTxAttrs attrs)
{
    return vfu_dma_unmapped(opaque, addr, len, true);
}

static MemTxResult vfu_dma_unmapped_read(void *opaque, hwaddr addr,
                                         uint64_t *data, unsigned size,
                                         MemTxAttrs attrs)
{
    *data = ~0ULL;
    return vfu_dma_unmapped(opaque, addr, size, false);
}

static MemTxResult vfu_dma_unmapped_write(void *opaque, hwaddr addr,
                                          uint64_t data, unsigned size,
                                          MemTxAttrs attrs)
{
    return vfu_dma_unmapped(opaque, addr, size, true);
}

static const MemoryRegionOps vfu_dma_unmapped_ops = {
    .read_with_attrs = vfu_dma_unmapped_read,
    .write_with_attrs = vfu_dma_unmapped_write,
    .read_block = vfu_dma_unmapped_read_block,
    .write_block = vfu_dma_unmapped_write_block,
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
static VfuDmaRange *vfu_dma_range_new(VfuDma *dma, const char *name,
                                      hwaddr iova, uint64_t size)
{
    VfuDmaRange *range = VFU_DMA_RANGE(object_new(TYPE_VFU_DMA_RANGE));

    range->dma = dma;
    range->iova = iova;
    range->size = size;
    object_property_add_child(dma->owner, name, OBJECT(range));
    object_unref(OBJECT(range));
    return range;
}

static void vfu_dma_range_remove(VfuDma *dma, VfuDmaRange *range)
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
 * user is done (see vfu_dma_range_finalize()).
 */
static void *vfu_dma_range_map(VfuDmaRange *range,
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

void vfu_dma_add_range(VfuDma *dma, const vfu_dma_info_t *info)
{
    hwaddr iova = (hwaddr)(uintptr_t)info->iova.iov_base;
    uint64_t size = info->iova.iov_len;
    g_autofree char *name = g_strdup_printf("dma-range-0x%" HWADDR_PRIx,
                                            iova);
    VfuDmaRange *range = vfu_dma_range_new(dma, name, iova, size);

    if (info->vaddr) {
        /* Shared by fd: its pages, mapped for as long as the range lives */
        void *host = vfu_dma_range_map(range, info);

        memory_region_init_ram_ptr(&range->mr, OBJECT(range), name, size,
                                   host ?: info->vaddr);
        /* A write to a read-only mapping would kill the server. */
        memory_region_set_readonly(&range->mr, !(info->prot & PROT_WRITE));
        trace_vfu_dma_register(iova, size);
    } else {
        memory_region_init_io(&range->mr, OBJECT(range),
                              dma->block ? &vfu_dma_block_ops
                                         : &vfu_dma_piece_ops,
                              range, name, size);
        trace_vfu_dma_msg_register(iova, size, info->prot);
    }
    QLIST_INSERT_HEAD(&dma->ranges, range, next);
    memory_region_add_subregion(dma->root, iova, &range->mr);
}

bool vfu_dma_del_range(VfuDma *dma, hwaddr iova)
{
    VfuDmaRange *range;

    QLIST_FOREACH(range, &dma->ranges, next) {
        if (range->iova == iova) {
            QLIST_REMOVE(range, next);
            vfu_dma_range_remove(dma, range);
            trace_vfu_dma_unregister(iova);
            return true;
        }
    }
    return false;
}

VfuDma *vfu_dma_new(Object *owner, vfu_ctx_t *ctx, MemoryRegion *root,
                    bool block, VfuDmaLostFunc *lost, void *opaque)
{
    VfuDma *dma = g_new0(VfuDma, 1);

    dma->owner = owner;
    dma->ctx = ctx;
    dma->root = root;
    dma->block = block;
    dma->connected = true;
    dma->lost = lost;
    dma->opaque = opaque;
    dma->sg = g_malloc0(dma_sg_size());
    QLIST_INIT(&dma->ranges);

    dma->unmapped = vfu_dma_range_new(dma, "dma-unmapped", 0,
                                      memory_region_size(root));
    memory_region_init_io(&dma->unmapped->mr, OBJECT(dma->unmapped),
                          &vfu_dma_unmapped_ops, dma->unmapped,
                          "dma-unmapped", memory_region_size(root));
    memory_region_add_subregion_overlap(root, 0, &dma->unmapped->mr, -1);
    return dma;
}

void vfu_dma_free(VfuDma *dma)
{
    VfuDmaRange *range, *tmp;

    if (!dma) {
        return;
    }
    memory_region_transaction_begin();
    QLIST_FOREACH_SAFE(range, &dma->ranges, next, tmp) {
        QLIST_REMOVE(range, next);
        vfu_dma_range_remove(dma, range);
    }
    vfu_dma_range_remove(dma, dma->unmapped);
    memory_region_transaction_commit();
    g_free(dma->sg);
    g_free(dma);
}

const VfuDmaStats *vfu_dma_get_stats(VfuDma *dma)
{
    return &dma->stats;
}

/* Four messages of the largest size a client may ask for. */
#define VFU_DMA_DEFAULT_MAX_BOUNCE_BUFFER_SIZE (4 * MiB)
#define VFU_DMA_DEFAULT_TIMEOUT_MS 10000
/* The main loop waits for a DMA reply with the BQL held: not for long. */
#define VFU_DMA_MAX_TIMEOUT_MS 60000

/*
 * Room for a client VM whose RAM comes in many pieces (hot-plugged DIMMs,
 * virtio-mem blocks); each DMA_MAP is looked up linearly.
 */
#define VFU_DMA_DEFAULT_MAX_REGIONS 1024

void vfu_dma_options_init(VfuDmaOptions *options)
{
    options->block = true;
    options->twin_socket = true;
    options->timeout_ms = VFU_DMA_DEFAULT_TIMEOUT_MS;
    options->max_regions = VFU_DMA_DEFAULT_MAX_REGIONS;
    options->max_bounce_buffer_size = 0;
}

bool vfu_dma_options_apply(const VfuDmaOptions *options, vfu_ctx_t *ctx,
                           PCIDevice *pci_dev, Error **errp)
{
    AddressSpace *as = pci_get_address_space(pci_dev);

    /* No bounce is in flight: no client has been connected yet. */
    if (options->max_bounce_buffer_size) {
        as->max_bounce_buffer_size = options->max_bounce_buffer_size;
    } else {
        as->max_bounce_buffer_size =
            MAX(as->max_bounce_buffer_size,
                VFU_DMA_DEFAULT_MAX_BOUNCE_BUFFER_SIZE);
    }

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
    if (vfu_set_max_dma_regions(ctx, options->max_regions) < 0) {
        error_setg_errno(errp, errno,
                         "vfu: Failed to set the number of DMA regions");
        return false;
    }
    return true;
}

typedef struct VfuDmaProperty {
    ptrdiff_t options_offset;
    ptrdiff_t dma_offset;
    size_t field;       /* in VfuDmaOptions, or VfuDmaStats for counters */
} VfuDmaProperty;

static VfuDmaOptions *vfu_dma_prop_options(Object *obj,
                                           const VfuDmaProperty *prop)
{
    return (VfuDmaOptions *)((char *)obj + prop->options_offset);
}

static VfuDma *vfu_dma_prop_dma(Object *obj, const VfuDmaProperty *prop)
{
    return *(VfuDma **)((char *)obj + prop->dma_offset);
}

static bool vfu_dma_prop_check_idle(Object *obj, const VfuDmaProperty *prop,
                                    const char *name, Error **errp)
{
    if (vfu_dma_prop_dma(obj, prop)) {
        error_setg(errp, "vfu: Unable to set %s property - server busy",
                   name);
        return false;
    }
    return true;
}

static void vfu_dma_get_max_bounce(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    uint64_t value = vfu_dma_prop_options(obj, opaque)->max_bounce_buffer_size;

    if (!value) {
        value = VFU_DMA_DEFAULT_MAX_BOUNCE_BUFFER_SIZE;
    }
    visit_type_size(v, name, &value, errp);
}

static void vfu_dma_set_max_bounce(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    uint64_t value;

    if (!vfu_dma_prop_check_idle(obj, opaque, name, errp) ||
        !visit_type_size(v, name, &value, errp)) {
        return;
    }
    if (!value || value > SIZE_MAX) {
        error_setg(errp, "vfu: %s must be between 1 and %zu", name,
                   (size_t)SIZE_MAX);
        return;
    }
    vfu_dma_prop_options(obj, opaque)->max_bounce_buffer_size = value;
}

static uint32_t *vfu_dma_prop_uint32(Object *obj, const VfuDmaProperty *prop)
{
    return (uint32_t *)((char *)vfu_dma_prop_options(obj, prop) +
                        prop->field);
}

static void vfu_dma_get_uint32(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    visit_type_uint32(v, name, vfu_dma_prop_uint32(obj, opaque), errp);
}

/* A uint32 option between @min and @max */
static void vfu_dma_set_uint32(Object *obj, Visitor *v, const char *name,
                               uint32_t min, uint32_t max, void *opaque,
                               Error **errp)
{
    uint32_t value;

    if (!vfu_dma_prop_check_idle(obj, opaque, name, errp) ||
        !visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value < min || value > max) {
        error_setg(errp, "vfu: %s must be between %u and %u", name, min, max);
        return;
    }
    *vfu_dma_prop_uint32(obj, opaque) = value;
}

static void vfu_dma_set_timeout(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    vfu_dma_set_uint32(obj, v, name, 1, VFU_DMA_MAX_TIMEOUT_MS, opaque, errp);
}

static void vfu_dma_set_max_regions(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    vfu_dma_set_uint32(obj, v, name, 1, VFIO_USER_MAX_DMA_MAPS, opaque, errp);
}

static bool *vfu_dma_prop_bool(Object *obj, const VfuDmaProperty *prop)
{
    return (bool *)((char *)vfu_dma_prop_options(obj, prop) + prop->field);
}

static void vfu_dma_get_bool(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    visit_type_bool(v, name, vfu_dma_prop_bool(obj, opaque), errp);
}

static void vfu_dma_set_bool(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    bool value;

    if (vfu_dma_prop_check_idle(obj, opaque, name, errp) &&
        visit_type_bool(v, name, &value, errp)) {
        *vfu_dma_prop_bool(obj, opaque) = value;
    }
}

static void vfu_dma_get_stat(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    const VfuDmaProperty *prop = opaque;
    VfuDma *dma = vfu_dma_prop_dma(obj, prop);
    uint64_t value = 0;

    if (dma) {
        value = *(uint64_t *)((char *)&dma->stats + prop->field);
    }
    visit_type_uint64(v, name, &value, errp);
}

static void vfu_dma_add_property(ObjectClass *klass, const char *name,
                                 const char *type, ObjectPropertyAccessor *get,
                                 ObjectPropertyAccessor *set,
                                 const VfuDmaProperty *template,
                                 size_t field, const char *description)
{
    VfuDmaProperty *prop = g_memdup2(template, sizeof(*template));

    /* Lives as long as the class. */
    prop->field = field;
    object_class_property_add(klass, name, type, get, set, NULL, prop);
    object_class_property_set_description(klass, name, description);
}

void vfu_dma_class_add_properties(ObjectClass *klass,
                                  ptrdiff_t options_offset,
                                  ptrdiff_t dma_offset)
{
    const VfuDmaProperty template = {
        .options_offset = options_offset,
        .dma_offset = dma_offset,
    };
    static const struct {
        const char *name;
        size_t field;
        const char *description;
    } stats[] = {
        { "x-dma-read-messages", offsetof(VfuDmaStats, read_messages),
          "DMA_READ messages sent to the client" },
        { "x-dma-write-messages", offsetof(VfuDmaStats, write_messages),
          "DMA_WRITE messages sent to the client" },
        { "x-dma-read-bytes", offsetof(VfuDmaStats, read_bytes),
          "Bytes the device read by message" },
        { "x-dma-write-bytes", offsetof(VfuDmaStats, write_bytes),
          "Bytes the device wrote by message" },
        { "x-dma-errors", offsetof(VfuDmaStats, errors),
          "Device DMA accesses to client memory that failed" },
    };

    vfu_dma_add_property(klass, "max-bounce-buffer-size", "size",
                         vfu_dma_get_max_bounce, vfu_dma_set_max_bounce,
                         &template, 0,
                         "Total size of the device's DMA bounce buffers "
                         "for client memory without an fd (default 4M)");
    vfu_dma_add_property(klass, "x-dma-timeout", "uint32",
                         vfu_dma_get_uint32, vfu_dma_set_timeout,
                         &template, offsetof(VfuDmaOptions, timeout_ms),
                         "Milliseconds to wait for the client's DMA reply, "
                         "or for the rest of a message it started "
                         "(1 to 60000, default 10000)");
    vfu_dma_add_property(klass, "max-dma-regions", "uint32",
                         vfu_dma_get_uint32, vfu_dma_set_max_regions,
                         &template, offsetof(VfuDmaOptions, max_regions),
                         "DMA ranges the client may map at a time "
                         "(1 to 65535, default 1024)");
    vfu_dma_add_property(klass, "x-twin-socket", "bool",
                         vfu_dma_get_bool, vfu_dma_set_bool, &template,
                         offsetof(VfuDmaOptions, twin_socket),
                         "Offer a second socket for DMA messages to "
                         "clients that ask for one");
    vfu_dma_add_property(klass, "x-dma-block", "bool",
                         vfu_dma_get_bool, vfu_dma_set_bool, &template,
                         offsetof(VfuDmaOptions, block),
                         "Move each device DMA in as few messages as "
                         "possible (off: pieces of at most 8 bytes)");
    for (size_t i = 0; i < ARRAY_SIZE(stats); i++) {
        vfu_dma_add_property(klass, stats[i].name, "uint64",
                             vfu_dma_get_stat, NULL, &template,
                             stats[i].field, stats[i].description);
    }
}

static void vfu_dma_range_finalize(Object *obj)
{
    VfuDmaRange *range = VFU_DMA_RANGE(obj);

    /* Its MemoryRegion is gone with the last reference to the range. */
    if (range->mapping) {
        munmap(range->mapping, range->mapping_len);
    }
}

static const TypeInfo vfu_dma_range_info = {
    .name = TYPE_VFU_DMA_RANGE,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VfuDmaRange),
    .instance_finalize = vfu_dma_range_finalize,
};

static void vfu_dma_register_types(void)
{
    type_register_static(&vfu_dma_range_info);
}

type_init(vfu_dma_register_types);
