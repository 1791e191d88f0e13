/*
 * VIRTIO Shared Memory Regions
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#ifdef CONFIG_LINUX
#include <linux/fs.h>
#endif
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/host-utils.h"
#include "qemu/mmap-alloc.h"
#include "hw/core/cpu.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-shmem.h"
#include "migration/blocker.h"
#include "system/kvm.h"
#include "trace.h"

static char *virtio_shmem_dev_name(VirtIODevice *vdev)
{
    return object_get_canonical_path(OBJECT(vdev));
}

VirtioSharedMemory *virtio_find_shmem_region(VirtIODevice *vdev,
                                             uint8_t shmid)
{
    VirtioSharedMemory *shmem;

    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        if (shmem->shmid == shmid) {
            return shmem;
        }
    }
    return NULL;
}

bool virtio_has_shmem_regions(VirtIODevice *vdev)
{
    return !QSIMPLEQ_EMPTY(&vdev->shmem_list);
}

/*
 * Anonymous memory over [@at, @at + @len), or anywhere when @at is NULL:
 * what the window holds where nothing is mapped
 */
static void *virtio_shmem_empty(void *at, uint64_t len)
{
    return mmap(at, len, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                (at ? MAP_FIXED : 0), -1, 0);
}

/*
 * Reserve the region's window.  Where the host cannot (a region bigger
 * than its address space, checked later by the transport), the region
 * has none and all its mappings are MemoryRegions.
 */
static void virtio_shmem_new_window(VirtioSharedMemory *shmem, uint64_t size,
                                    const char *dev)
{
    g_autofree char *name = g_strdup_printf("shmem-%u-window", shmem->shmid);
    void *host = virtio_shmem_empty(NULL, size);

    if (host == MAP_FAILED) {
        trace_virtio_shmem_window(dev, shmem->shmid, NULL, size);
        return;
    }
    shmem->window = host;
    memory_region_init_ram_ptr(&shmem->window_mr, OBJECT(shmem), name, size,
                               host);
    memory_region_add_subregion(&shmem->mr, 0, &shmem->window_mr);
    trace_virtio_shmem_window(dev, shmem->shmid, host, size);
}

/*
 * The guest's physical address width: x86 CPUs give it as "phys-bits";
 * elsewhere only 64-bit arithmetic bounds the regions.
 */
unsigned int virtio_shmem_phys_bits(void)
{
    Object *cpu = first_cpu ? OBJECT(first_cpu) : NULL;
    uint64_t bits;

    if (!cpu || !object_property_find(cpu, "phys-bits")) {
        return 64;
    }
    bits = object_property_get_uint(cpu, "phys-bits", NULL);
    return bits && bits < 64 ? bits : 64;
}

bool virtio_shmem_layout(VirtIODevice *vdev, const uint8_t *ids,
                         const uint64_t *sizes, unsigned int n,
                         uint64_t *end, Error **errp)
{
    unsigned int phys_bits = virtio_shmem_phys_bits();
    uint64_t max = 1ULL << (phys_bits - 1);
    uint64_t offset = 0;
    unsigned int i;

    for (i = 0; i < n; i++) {
        if (!sizes[i]) {
            continue;
        }
        if (sizes[i] > max) {
            g_autofree char *dev = virtio_shmem_dev_name(vdev);

            error_setg(errp, "%s: shared memory region %u is 0x%" PRIx64
                       " bytes, more than the guest's %u-bit physical "
                       "address space can hold (at most 0x%" PRIx64 ")",
                       dev, ids[i], sizes[i], phys_bits, max);
            return false;
        }
        /* offset, pow2ceil(size) <= max <= 2^63: no overflow */
        offset = ROUND_UP(offset, pow2ceil(sizes[i]));
        if (sizes[i] > max - offset) {
            g_autofree char *dev = virtio_shmem_dev_name(vdev);

            error_setg(errp, "%s: shared memory regions need more than 0x%"
                       PRIx64 " bytes, more than the guest's %u-bit "
                       "physical address space can hold", dev, max,
                       phys_bits);
            return false;
        }
        offset += sizes[i];
    }
    *end = offset;
    return true;
}

VirtioSharedMemory *virtio_new_shmem_region(VirtIODevice *vdev, uint8_t shmid,
                                            uint64_t size, Error **errp)
{
    g_autofree char *dev = virtio_shmem_dev_name(vdev);
    g_autofree char *name = NULL;
    VirtioSharedMemory *shmem;

    if (!size || !QEMU_IS_ALIGNED(size, qemu_real_host_page_size())) {
        error_setg(errp, "%s: shared memory region %u: size 0x%" PRIx64
                   " is not a non-zero multiple of the page size",
                   dev, shmid, size);
        return NULL;
    }
    if (virtio_find_shmem_region(vdev, shmid)) {
        error_setg(errp, "%s: shared memory region %u exists already",
                   dev, shmid);
        return NULL;
    }

    if (!vdev->shmem_migration_blocker) {
        error_setg(&vdev->shmem_migration_blocker,
                   "%s: migration of VIRTIO Shared Memory Regions is not "
                   "supported: the backend's mappings cannot be recreated "
                   "on the destination", dev);
        if (migrate_add_blocker(&vdev->shmem_migration_blocker, errp) < 0) {
            return NULL;
        }
    }

    shmem = VIRTIO_SHARED_MEMORY(object_new(TYPE_VIRTIO_SHARED_MEMORY));
    shmem->vdev = vdev;
    shmem->shmid = shmid;
    name = g_strdup_printf("shmem-%u", shmid);
    memory_region_init(&shmem->mr, OBJECT(shmem), name, size);
    if (vdev->shmem_window) {
        virtio_shmem_new_window(shmem, size, dev);
    }
    object_property_add_child(OBJECT(vdev), name, OBJECT(shmem));
    object_unref(OBJECT(shmem));
    QSIMPLEQ_INSERT_TAIL(&vdev->shmem_list, shmem, next);
    trace_virtio_shmem_new_region(dev, shmid, size);
    return shmem;
}

/* The first mapping that ends after @offset, or NULL: O(log n) */
static VirtioSharedMemoryMapping *
virtio_shmem_lookup(VirtioSharedMemory *shmem, uint64_t offset)
{
    IntervalTreeNode *node = interval_tree_iter_first(&shmem->tree, offset,
                                                      UINT64_MAX);

    return node ? container_of(node, VirtioSharedMemoryMapping, node) : NULL;
}

/*
 * What the host gives each process: memory areas (vm.max_map_count) and
 * fds.  A mapping in a window is one area and may split an empty one in
 * two; a mapping outside of it (no window, or one that cannot move
 * there) is a RAMBlock: an fd, the mapping and its guard page.  A MAP
 * that would take the last of either is refused, so that a back-end sees
 * a clear error where QEMU itself would otherwise fail later.
 */
#define VIRTIO_SHMEM_VMAS_PER_CHANGE 2
/*
 * Memory areas, and a share of the fds, left for the rest of QEMU; an
 * unmap may split an area too, and may use half of the reserve, so that
 * a back-end at the limit can still unmap
 */
#define VIRTIO_SHMEM_VMA_RESERVE 4096
#define VIRTIO_SHMEM_FD_RESERVE_SHIFT 6

/*
 * An upper bound of the memory areas QEMU has: what the kernel said when
 * it was last asked, plus VIRTIO_SHMEM_VMAS_PER_CHANGE for each map and
 * unmap since (the kernel merges neighbouring mappings of one file, and
 * empty ones, so the real count often grows less or even shrinks)
 */
static uint64_t virtio_shmem_vmas_bound;

static uint64_t virtio_shmem_max_map_count(void)
{
    g_autofree char *text = NULL;
    uint64_t value;

    if (!g_file_get_contents("/proc/sys/vm/max_map_count", &text, NULL,
                             NULL) ||
        qemu_strtou64(g_strstrip(text), NULL, 10, &value) < 0) {
        return UINT64_MAX;
    }
    return value;
}

/* The memory areas QEMU has now: O(areas), so only near the limit */
static uint64_t virtio_shmem_count_vmas(void)
{
    g_autofree char *text = NULL;
    size_t len;
    uint64_t n = 0;

    if (!g_file_get_contents("/proc/self/maps", &text, &len, NULL)) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        n += text[i] == '\n';
    }
    return n;
}

/* A map or unmap changed the memory areas */
static void virtio_shmem_vmas_changed(void)
{
    virtio_shmem_vmas_bound += VIRTIO_SHMEM_VMAS_PER_CHANGE;
}

/*
 * Whether one more change leaves @reserve areas below vm.max_map_count:
 * when the bound says it might not, the kernel's count and the sysctl
 * are read again
 */
static bool virtio_shmem_vmas_left(uint64_t reserve)
{
    static uint64_t max_map_count;
    uint64_t extra = VIRTIO_SHMEM_VMAS_PER_CHANGE + reserve;

    if (max_map_count && virtio_shmem_vmas_bound + extra <= max_map_count) {
        return true;
    }
    max_map_count = virtio_shmem_max_map_count();
    virtio_shmem_vmas_bound = virtio_shmem_count_vmas();
    return virtio_shmem_vmas_bound + extra <= max_map_count;
}

/*
 * Whether @fd, just received, leaves QEMU enough descriptors: the kernel
 * hands out the lowest free number, so every one below @fd is in use.
 */
static bool virtio_shmem_fds_left(int fd)
{
    struct rlimit nofile;

    if (getrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
        nofile.rlim_cur == RLIM_INFINITY) {
        return true;
    }
    return fd + (nofile.rlim_cur >> VIRTIO_SHMEM_FD_RESERVE_SHIFT) <
           nofile.rlim_cur;
}

/* A block device's size (fstat() says 0), or 0 if it cannot be read */
static uint64_t virtio_shmem_blk_size(int fd)
{
    uint64_t size = 0;

#ifdef BLKGETSIZE64
    if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
        size = 0;
    }
#endif
    return size;
}

static bool virtio_shmem_check_map(VirtioSharedMemory *shmem, int fd,
                                   uint64_t fd_offset, uint64_t shm_offset,
                                   uint64_t len, bool in_window,
                                   const char **reason)
{
    uint64_t page = qemu_real_host_page_size();
    uint64_t size = memory_region_size(&shmem->mr);
    VirtioSharedMemoryMapping *next = virtio_shmem_lookup(shmem, shm_offset);
    struct stat st;

    if (fd < 0) {
        *reason = "no file descriptor";
    } else if (!len) {
        *reason = "length 0";
    } else if (!QEMU_IS_ALIGNED(fd_offset | shm_offset | len, page)) {
        *reason = "offset or length not page aligned";
    } else if (shm_offset + len < shm_offset) {
        *reason = "shm_offset + len overflows";
    } else if (shm_offset + len > size) {
        *reason = "range passes the end of the region";
    } else if (fd_offset + len < fd_offset) {
        *reason = "fd_offset + len overflows";
    } else if (fstat(fd, &st) < 0) {
        *reason = "file descriptor cannot be examined";
    } else if (S_ISBLK(st.st_mode) &&
               fd_offset + len > virtio_shmem_blk_size(fd)) {
        /* As past the end of a file: SIGBUS */
        *reason = "range passes the end of the block device";
    } else if (S_ISREG(st.st_mode) &&
               fd_offset + len > ROUND_UP(st.st_size, page)) {
        /*
         * A guest access to a page past the end of the file would SIGBUS
         * us; the rest of the page that holds the end reads as zeroes
         * (virtiofs DAX maps the last page of a file)
         */
        *reason = "range passes the end of the file";
    } else if (next && next->shm_offset < shm_offset + len) {
        *reason = "range overlaps an existing mapping";
    } else if (!in_window && !virtio_shmem_fds_left(fd)) {
        *reason = "QEMU is close to its file descriptor limit "
                  "(RLIMIT_NOFILE)";
    } else if (!virtio_shmem_vmas_left(VIRTIO_SHMEM_VMA_RESERVE)) {
        *reason = "QEMU is close to the host's limit of memory mappings "
                  "(vm.max_map_count)";
    } else if (!in_window && kvm_enabled() && kvm_get_free_memslots() < 1) {
        *reason = "no free KVM memory slot";
    } else {
        return true;
    }
    return false;
}

/*
 * Give [@offset, @offset + @len) of the window back to anonymous memory:
 * the file's pages go, and so does what the guest wrote there before
 * a MemoryRegion of a mapping covered it, or into the private copy of a
 * read-only one
 */
static void virtio_shmem_empty_window(VirtioSharedMemory *shmem,
                                      uint64_t offset, uint64_t len)
{
    if (shmem->window &&
        virtio_shmem_empty((uint8_t *)shmem->window + offset, len) ==
        MAP_FAILED) {
        /* The pages may be gone: a guest access would fault QEMU */
        error_report("virtio-shmem: shared memory region %u: cannot empty "
                     "0x%" PRIx64 "+0x%" PRIx64 " of its window: %s",
                     shmem->shmid, offset, len, strerror(errno));
        abort();
    }
}

/*
 * Put [@fd_offset, @fd_offset + @len) of @fd over its part of the window.
 * mmap() first where it changes nothing, so that most failures (a
 * writable mapping of a read-only fd, a file that cannot be mapped, no
 * memory) leave the window as it was; then mremap() replaces the empty
 * pages at once: the guest sees either of them, never a hole.
 *
 * A read-only mapping is private (MAP_PRIVATE) but writable on the host:
 * the window is RAM to the guest, so a guest store there cannot be
 * refused, and must not fault QEMU (TCG) or fail KVM_RUN as a host mapping
 * without PROT_WRITE would.  Such a store copies the page, the guest alone
 * sees the copy until the next MAP or UNMAP of the range, and the file
 * never changes.  Pages nobody wrote are the file's own, so the guest sees
 * what the back-end writes to the file, as with a shared mapping.
 *
 * Some mappings cannot move there (hugetlbfs pages at an offset that is
 * not a multiple of their size, a driver that refuses mremap(), a
 * read-only file that cannot be mapped privately, or read-only hugetlbfs
 * pages: their copy would need a free huge page when the guest writes, and
 * without one QEMU would get SIGBUS): *@unmovable says so, and the caller
 * makes a MemoryRegion of the fd instead.
 */
static bool virtio_shmem_window_map(VirtioSharedMemory *shmem, int fd,
                                    uint64_t fd_offset, uint64_t shm_offset,
                                    uint64_t len, bool writable,
                                    const char **reason, bool *unmovable)
{
    uint8_t *at = (uint8_t *)shmem->window + shm_offset;
    void *host;

    if (!writable && qemu_fd_getpagesize(fd) != qemu_real_host_page_size()) {
        *reason = "read-only huge pages are not mapped privately";
        *unmovable = true;
        return false;
    }
    host = mmap(NULL, len, PROT_READ | PROT_WRITE,
                writable ? MAP_SHARED : MAP_PRIVATE | MAP_NORESERVE,
                fd, fd_offset);
    if (host == MAP_FAILED) {
        *reason = errno == EACCES ? "the fd cannot be mapped writable" :
                  errno == ENOMEM ? "no memory for the mapping" :
                  "the fd cannot be mapped";
        /* A read-only MemoryRegion maps it shared and PROT_READ */
        *unmovable = !writable;
        return false;
    }
    if (mremap(host, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at) ==
        MAP_FAILED) {
        *reason = "the mapping cannot be moved into the window";
        *unmovable = true;
        munmap(host, len);
        /* The kernel may have unmapped the target already */
        virtio_shmem_empty_window(shmem, shm_offset, len);
        return false;
    }
    return true;
}

VirtioSharedMemoryMapping *virtio_shmem_map(VirtioSharedMemory *shmem,
                                            int fd, uint64_t fd_offset,
                                            uint64_t shm_offset, uint64_t len,
                                            bool writable, Error **errp)
{
    /* The device's name only where it is said: a map is a hot path */
    g_autofree char *dev = NULL;
    g_autofree char *name = NULL;
    VirtioSharedMemoryMapping *m, *next;
    const char *reason = NULL;
    uint32_t ram_flags = RAM_SHARED;
    Error *local_err = NULL;
    bool in_window = shmem->window != NULL;
    bool unmovable = false;

    if (virtio_shmem_check_map(shmem, fd, fd_offset, shm_offset, len,
                               in_window, &reason) &&
        in_window &&
        !virtio_shmem_window_map(shmem, fd, fd_offset, shm_offset, len,
                                 writable, &reason, &unmovable) &&
        unmovable) {
        /* A MemoryRegion of its own, within the limits those have */
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_window_unmovable(dev, shmem->shmid, shm_offset,
                                            len);
        g_clear_pointer(&dev, g_free);
        in_window = false;
        reason = NULL;
        virtio_shmem_check_map(shmem, fd, fd_offset, shm_offset, len, false,
                               &reason);
    }
    if (reason) {
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_map_reject(dev, shmem->shmid, shm_offset, len,
                                      reason);
        error_setg(errp, "%s: cannot map 0x%" PRIx64 "+0x%" PRIx64
                   " into shared memory region %u: %s",
                   dev, shm_offset, len, shmem->shmid, reason);
        return NULL;
    }

    if (!writable) {
        ram_flags |= RAM_READONLY | RAM_READONLY_FD;
    }
    m = VIRTIO_SHARED_MEMORY_MAPPING(
        object_new(TYPE_VIRTIO_SHARED_MEMORY_MAPPING));
    m->shmid = shmem->shmid;
    m->shm_offset = shm_offset;
    m->len = len;
    m->fd_offset = fd_offset;
    m->writable = writable;
    m->in_window = in_window;
    name = g_strdup_printf("mapping-0x%" PRIx64, shm_offset);
    if (in_window) {
        /* The host mapping keeps the file */
        close(fd);
        shmem->nr_in_window++;
    } else if (!memory_region_init_ram_from_fd(&m->mr, OBJECT(m), name,
                                               len, ram_flags, fd, fd_offset,
                                               &local_err)) {
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_map_reject(dev, shmem->shmid, shm_offset, len,
                                      error_get_pretty(local_err));
        error_propagate_prepend(errp, local_err,
                                "%s: cannot map 0x%" PRIx64 "+0x%" PRIx64
                                " into shared memory region %u: ",
                                dev, shm_offset, len, shmem->shmid);
        object_unref(OBJECT(m));
        return NULL;
    }

    object_property_add_child(OBJECT(shmem), name, OBJECT(m));
    object_unref(OBJECT(m));
    if (!in_window) {
        /* Above the window, where it has one */
        memory_region_add_subregion_overlap(&shmem->mr, shm_offset, &m->mr,
                                            1);
    }

    next = virtio_shmem_lookup(shmem, shm_offset);
    if (next) {
        QTAILQ_INSERT_BEFORE(next, m, next);
    } else {
        QTAILQ_INSERT_TAIL(&shmem->mappings, m, next);
    }
    m->node.start = shm_offset;
    m->node.last = shm_offset + len - 1;
    interval_tree_insert(&m->node, &shmem->tree);
    shmem->nr_mappings++;
    virtio_shmem_vmas_changed();
    if (trace_event_get_state_backends(TRACE_VIRTIO_SHMEM_MAP)) {
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_map(dev, shmem->shmid, shm_offset, len, fd_offset,
                               writable, in_window);
    }
    return m;
}

/*
 * Forget @m; with @empty, also empty its part of the window
 * (unmap_all does the whole window at once instead)
 */
static void virtio_shmem_drop(VirtioSharedMemory *shmem,
                              VirtioSharedMemoryMapping *m, bool empty)
{
    g_autofree char *name = g_strdup_printf("mapping-0x%" PRIx64,
                                            m->shm_offset);

    if (!m->in_window) {
        memory_region_del_subregion(&shmem->mr, &m->mr);
    } else {
        shmem->nr_in_window--;
    }
    if (empty) {
        virtio_shmem_empty_window(shmem, m->shm_offset, m->len);
    }
    QTAILQ_REMOVE(&shmem->mappings, m, next);
    interval_tree_remove(&m->node, &shmem->tree);
    shmem->nr_mappings--;
    virtio_shmem_vmas_changed();
    /*
     * Freed, with the fd and the host mapping, once nothing refers to it.
     * Unparented by name: object_unparent() would look for the child
     * among all of the region's properties, O(n).
     */
    object_property_del(OBJECT(shmem), name);
}

bool virtio_shmem_unmap(VirtioSharedMemory *shmem, uint64_t shm_offset,
                        uint64_t len, Error **errp)
{
    VirtioSharedMemoryMapping *m = virtio_shmem_lookup(shmem, shm_offset);
    g_autofree char *dev = NULL;

    const char *reason = NULL;

    if (!m || m->shm_offset != shm_offset || m->len != len) {
        reason = "not exactly one mapping";
    } else if (shmem->window &&
               !virtio_shmem_vmas_left(VIRTIO_SHMEM_VMA_RESERVE / 2)) {
        /* Emptying the range may split an area of the window */
        reason = "QEMU is at the host's limit of memory mappings "
                 "(vm.max_map_count)";
    }
    if (reason) {
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_unmap_reject(dev, shmem->shmid, shm_offset, len,
                                        reason);
        error_setg(errp, "%s: cannot unmap 0x%" PRIx64 "+0x%" PRIx64
                   " from shared memory region %u: %s",
                   dev, shm_offset, len, shmem->shmid, reason);
        return false;
    }
    virtio_shmem_drop(shmem, m, true);
    if (trace_event_get_state_backends(TRACE_VIRTIO_SHMEM_UNMAP)) {
        dev = virtio_shmem_dev_name(shmem->vdev);
        trace_virtio_shmem_unmap(dev, shmem->shmid, shm_offset, len);
    }
    return true;
}

void virtio_shmem_unmap_all(VirtIODevice *vdev)
{
    VirtioSharedMemory *shmem;
    unsigned int dropped = 0;

    if (!virtio_has_shmem_regions(vdev)) {
        return;
    }
    memory_region_transaction_begin();
    QSIMPLEQ_FOREACH(shmem, &vdev->shmem_list, next) {
        /* One mmap() for the whole window */
        virtio_shmem_empty_window(shmem, 0, memory_region_size(&shmem->mr));
        while (!QTAILQ_EMPTY(&shmem->mappings)) {
            virtio_shmem_drop(shmem, QTAILQ_FIRST(&shmem->mappings), false);
            dropped++;
        }
    }
    memory_region_transaction_commit();
    if (dropped) {
        g_autofree char *dev = virtio_shmem_dev_name(vdev);

        trace_virtio_shmem_unmap_all(dev, dropped);
    }
}

void virtio_shmem_cleanup(VirtIODevice *vdev)
{
    VirtioSharedMemory *shmem;

    virtio_shmem_unmap_all(vdev);
    while ((shmem = QSIMPLEQ_FIRST(&vdev->shmem_list))) {
        QSIMPLEQ_REMOVE_HEAD(&vdev->shmem_list, next);
        if (shmem->mr.container) {
            memory_region_del_subregion(shmem->mr.container, &shmem->mr);
        }
        object_unparent(OBJECT(shmem));
    }
    migrate_del_blocker(&vdev->shmem_migration_blocker);
}

bool virtio_shmem_is_mapping(MemoryRegion *mr)
{
    /* Asked for every section of every commit: no lookup of the type */
    static ObjectClass *mapping_class, *shmem_class;
    Object *owner = memory_region_owner(mr);

    if (!mapping_class) {
        mapping_class = object_class_by_name(
            TYPE_VIRTIO_SHARED_MEMORY_MAPPING);
        shmem_class = object_class_by_name(TYPE_VIRTIO_SHARED_MEMORY);
    }
    /* Neither type has subtypes; a region owns its container and window */
    return owner && (object_get_class(owner) == mapping_class ||
                     object_get_class(owner) == shmem_class);
}

static void virtio_shmem_instance_init(Object *obj)
{
    VirtioSharedMemory *shmem = VIRTIO_SHARED_MEMORY(obj);

    QTAILQ_INIT(&shmem->mappings);
}

/* After the window's RAMBlock is gone: nothing refers to the window */
static void virtio_shmem_instance_finalize(Object *obj)
{
    VirtioSharedMemory *shmem = VIRTIO_SHARED_MEMORY(obj);

    if (shmem->window) {
        munmap(shmem->window, memory_region_size(&shmem->mr));
    }
}

static const TypeInfo virtio_shmem_types[] = {
    {
        .name = TYPE_VIRTIO_SHARED_MEMORY,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(VirtioSharedMemory),
        .instance_init = virtio_shmem_instance_init,
        .instance_finalize = virtio_shmem_instance_finalize,
    },
    {
        .name = TYPE_VIRTIO_SHARED_MEMORY_MAPPING,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(VirtioSharedMemoryMapping),
    },
};

DEFINE_TYPES(virtio_shmem_types)
