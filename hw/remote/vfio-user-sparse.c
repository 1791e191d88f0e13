/*
 * vfio-user server: BAR memory the client maps (sparse mmap areas)
 *
 * Where a BAR of the exported device is shared RAM with an fd (the
 * memory backend of ivshmem-plain, the NVMe PMR, a RAM subregion of any
 * BAR), the client can map that memory instead of sending a REGION_READ
 * or REGION_WRITE for each access.  Each such BAR's region gets a sparse
 * mmap area (VFIO_REGION_INFO_CAP_SPARSE_MMAP) with the memory's fd; the
 * rest of the BAR stays message based.
 *
 * One area per BAR: the vfio-user specification gives a REGION_INFO
 * reply one file descriptor, libvfio-user sends one per area, and QEMU's
 * client refuses a reply with more than one.
 *
 * A client keeps what it mapped, and vfio-user has no way to take it
 * back.  So the areas are fixed when a client attaches; if the BAR
 * layout changes under an area after that, the server drops the client.
 * Memory that becomes mappable later is reached by message.
 * Whether the device has the memory enabled at a given moment (the NVMe
 * PMR until the driver enables it) is not part of the layout.
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qapi/visitor.h"
#include "qom/object.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/ramblock.h"
#include "hw/remote/vfio-user-dma.h"
#include "hw/remote/vfio-user-sparse.h"
#include "trace.h"

typedef struct SparseArea {
    MemoryRegion *mr;       /* NULL: none; referenced while offered */
    uint64_t offset;        /* in the BAR */
    uint64_t size;
    int fd;
    uint64_t fd_offset;     /* of the area's first byte */
} SparseArea;

typedef struct SparseBar {
    bool set_up;
    vfu_region_access_cb_t *cb;
    int flags;
    SparseArea area;
} SparseBar;

struct VfioUserServerSparse {
    vfu_ctx_t *ctx;
    PCIDevice *pci_dev;
    bool enabled;
    VfioUserServerSparseStats *stats;
    VfioUserServerSparseChangedFunc *changed;
    void *opaque;
    SparseBar bars[PCI_NUM_REGIONS];
    MemoryListener listener;
    bool watching;
    bool dropped;           /* changed() was called */
};

/* The first part of a BAR that a client may map */
typedef struct SparseWalk {
    int bar;
    SparseArea found;
} SparseWalk;

static void sparse_consider(SparseWalk *w, MemoryRegion *mr, uint64_t offset,
                            uint64_t start, uint64_t size)
{
    uint64_t page_mask = qemu_real_host_page_size() - 1;
    RAMBlock *rb = mr->ram_block;
    uint64_t fd_offset = rb ? qemu_ram_get_fd_offset(rb) + start : 0;
    const char *why = NULL;

    if (!QTAILQ_EMPTY(&mr->subregions)) {
        why = "other regions over it";
    } else if (mr->readonly || mr->rom_device) {
        why = "read-only";
    } else if (!rb || qemu_ram_get_fd(rb) < 0) {
        why = "no fd";
    } else if (!qemu_ram_is_shared(rb)) {
        why = "not shared";
    } else if ((offset | size | fd_offset) & page_mask) {
        why = "not page aligned";
    } else if (fd_offset < offset) {
        why = "its file offset is below its BAR offset";
    } else if (w->found.mr) {
        why = "one area per BAR";
    }
    if (why) {
        trace_vfu_sparse_skip(w->bar, offset, size, memory_region_name(mr),
                              why);
        return;
    }
    w->found = (SparseArea) {
        .mr = mr,
        .offset = offset,
        .size = size,
        .fd = qemu_ram_get_fd(rb),
        .fd_offset = fd_offset,
    };
}

static bool sparse_overlapped(MemoryRegion *container, MemoryRegion *sub)
{
    MemoryRegion *other;

    QTAILQ_FOREACH(other, &container->subregions, subregions_link) {
        if (other != sub &&
            ranges_overlap(other->addr, memory_region_size(other),
                           sub->addr, memory_region_size(sub))) {
            return true;
        }
    }
    return false;
}

/* Bytes [@start, @start + @size) of @mr appear at @offset of the BAR. */
static void sparse_walk(SparseWalk *w, MemoryRegion *mr, uint64_t offset,
                        uint64_t start, uint64_t size)
{
    MemoryRegion *sub;

    if (mr->alias) {
        sparse_walk(w, mr->alias, offset, mr->alias_offset + start, size);
        return;
    }
    if (memory_region_is_ram(mr)) {
        sparse_consider(w, mr, offset, start, size);
        return;
    }
    QTAILQ_FOREACH(sub, &mr->subregions, subregions_link) {
        uint64_t lo = MAX(sub->addr, start);
        uint64_t hi = MIN(sub->addr + memory_region_size(sub), start + size);

        if (lo >= hi) {
            continue;
        }
        if (sparse_overlapped(mr, sub)) {
            trace_vfu_sparse_skip(w->bar, offset + lo - start, hi - lo,
                                  memory_region_name(sub),
                                  "overlaps another region");
            continue;
        }
        sparse_walk(w, sub, offset + lo - start, lo - sub->addr, hi - lo);
    }
}

static SparseArea sparse_find(VfioUserServerSparse *sparse, int bar)
{
    PCIIORegion *r = &sparse->pci_dev->io_regions[bar];
    SparseWalk w = { .bar = bar };

    if (sparse->enabled && bar != PCI_ROM_SLOT &&
        (sparse->bars[bar].flags & VFU_REGION_FLAG_WRITE)) {
        sparse_walk(&w, r->memory, 0, 0, r->size);
    }
    return w.found;
}

static bool sparse_same(const SparseArea *a, const SparseArea *b)
{
    return a->mr == b->mr && a->offset == b->offset && a->size == b->size &&
           a->fd == b->fd && a->fd_offset == b->fd_offset;
}

/* Set BAR @bar up in libvfio-user with @area, if it has one. */
static int sparse_offer(VfioUserServerSparse *sparse, int bar,
                        SparseArea area)
{
    SparseBar *b = &sparse->bars[bar];
    uint64_t size = sparse->pci_dev->io_regions[bar].size;
    int idx = VFU_PCI_DEV_BAR0_REGION_IDX + bar;
    struct iovec iov = {
        .iov_base = (void *)(uintptr_t)area.offset,
        .iov_len = area.size,
    };
    int ret;

    if (area.mr) {
        /* The region's offset is where byte 0 of the BAR is in the file. */
        ret = vfu_setup_region(sparse->ctx, idx, size, b->cb, b->flags,
                               &iov, 1, area.fd, area.fd_offset - area.offset);
    } else {
        ret = vfu_setup_region(sparse->ctx, idx, size, b->cb, b->flags,
                               NULL, 0, -1, 0);
    }
    if (ret < 0) {
        return ret;
    }

    if (area.mr) {
        memory_region_ref(area.mr);
        trace_vfu_sparse_area(bar, area.offset, area.size, area.fd,
                              area.fd_offset);
    }
    if (b->area.mr) {
        memory_region_unref(b->area.mr);
    }
    sparse->stats->mapped_bytes += area.size - b->area.size;
    b->area = area;
    return 0;
}

int vfio_user_server_sparse_setup_bar(VfioUserServerSparse *sparse, int bar,
                                      vfu_region_access_cb_t *cb, int flags)
{
    SparseBar *b = &sparse->bars[bar];

    b->set_up = true;
    b->cb = cb;
    b->flags = flags;
    return sparse_offer(sparse, bar, sparse_find(sparse, bar));
}

static void sparse_commit(MemoryListener *listener)
{
    VfioUserServerSparse *sparse = container_of(listener,
                                                VfioUserServerSparse,
                                                listener);
    int bar;

    if (sparse->dropped) {
        return;
    }
    for (bar = 0; bar < PCI_NUM_REGIONS; bar++) {
        SparseArea now;

        /* Memory that became mappable is still reached by message. */
        if (!sparse->bars[bar].area.mr) {
            continue;
        }
        now = sparse_find(sparse, bar);
        if (!sparse_same(&now, &sparse->bars[bar].area)) {
            trace_vfu_sparse_changed(bar);
            sparse->dropped = true;
            sparse->changed(sparse->opaque);
            return;
        }
    }
}

void vfio_user_server_sparse_attached(VfioUserServerSparse *sparse)
{
    int bar;

    /* The client asks for REGION_INFO after this. */
    for (bar = 0; bar < PCI_NUM_REGIONS; bar++) {
        SparseArea now;

        if (!sparse->bars[bar].set_up) {
            continue;
        }
        now = sparse_find(sparse, bar);
        if (!sparse_same(&now, &sparse->bars[bar].area) &&
            sparse_offer(sparse, bar, now) < 0) {
            warn_report("vfu: BAR %d: cannot offer its new layout: %s", bar,
                        strerror(errno));
        }
    }
    if (!sparse->watching) {
        sparse->watching = true;
        memory_listener_register(&sparse->listener, &address_space_memory);
    }
}

void vfio_user_server_sparse_count(VfioUserServerSparse *sparse,
                                   bool is_write)
{
    if (is_write) {
        sparse->stats->bar_write_messages++;
    } else {
        sparse->stats->bar_read_messages++;
    }
}

VfioUserServerSparse *
vfio_user_server_sparse_new(vfu_ctx_t *ctx, PCIDevice *pci_dev,
                            const VfioUserServerSparseOptions *options,
                            VfioUserServerSparseStats *stats,
                            VfioUserServerSparseChangedFunc *changed,
                            void *opaque)
{
    VfioUserServerSparse *sparse = g_new0(VfioUserServerSparse, 1);

    sparse->ctx = ctx;
    sparse->pci_dev = pci_dev;
    sparse->enabled = options->enabled;
    sparse->stats = stats;
    memset(stats, 0, sizeof(*stats));
    sparse->changed = changed;
    sparse->opaque = opaque;
    sparse->listener.commit = sparse_commit;
    sparse->listener.name = "vfio-user-sparse";
    return sparse;
}

void vfio_user_server_sparse_free(VfioUserServerSparse *sparse)
{
    int bar;

    if (!sparse) {
        return;
    }
    if (sparse->watching) {
        memory_listener_unregister(&sparse->listener);
    }
    /* libvfio-user does not own the fds: the context is gone or going. */
    for (bar = 0; bar < PCI_NUM_REGIONS; bar++) {
        if (sparse->bars[bar].area.mr) {
            memory_region_unref(sparse->bars[bar].area.mr);
        }
    }
    g_free(sparse);
}

/* QOM has no pointer property for a bool: @opaque is the offset */
static void sparse_visit_bool(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    visit_type_bool(v, name, (bool *)((char *)obj + (uintptr_t)opaque), errp);
}

void vfio_user_server_sparse_class_add_properties(ObjectClass *oc,
                                                  ptrdiff_t options_offset,
                                                  ptrdiff_t stats_offset)
{
    static const VfioUserServerCounter counters[] = {
        { "x-bar-read-messages",
          offsetof(VfioUserServerSparseStats, bar_read_messages),
          "REGION_READ messages of the client for a BAR" },
        { "x-bar-write-messages",
          offsetof(VfioUserServerSparseStats, bar_write_messages),
          "REGION_WRITE messages of the client for a BAR" },
        { "x-sparse-mapped-bytes",
          offsetof(VfioUserServerSparseStats, mapped_bytes),
          "BAR bytes offered to the client as mmap areas" },
    };

    object_class_property_add(oc, "x-sparse-mmap", "bool", sparse_visit_bool,
                              sparse_visit_bool, NULL,
                              (void *)(uintptr_t)(options_offset +
                                  offsetof(VfioUserServerSparseOptions,
                                           enabled)));
    object_class_property_set_description(oc, "x-sparse-mmap",
                                          "Let the client map BAR memory "
                                          "that is shared RAM with an fd "
                                          "(off: every access by message)");
    vfio_user_server_class_add_counters(oc, stats_offset, counters,
                                        ARRAY_SIZE(counters));
}
