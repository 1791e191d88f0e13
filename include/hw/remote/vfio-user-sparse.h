/*
 * vfio-user server: BAR memory the client maps (sparse mmap areas)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_REMOTE_VFIO_USER_SPARSE_H
#define HW_REMOTE_VFIO_USER_SPARSE_H

#include "hw/pci/pci_device.h"
#include "libvfio-user.h"

typedef struct VfioUserServerSparse VfioUserServerSparse;

typedef struct VfioUserServerSparseOptions {
    bool enabled;           /* x-sparse-mmap */
} VfioUserServerSparseOptions;

/* Since the server started listening */
typedef struct VfioUserServerSparseStats {
    uint64_t bar_read_messages;     /* REGION_READ of a BAR */
    uint64_t bar_write_messages;    /* REGION_WRITE of a BAR */
    uint64_t mapped_bytes;          /* offered in the current areas */
} VfioUserServerSparseStats;

/* The layout of an offered area changed while a client was attached */
typedef void VfioUserServerSparseChangedFunc(void *opaque);

/**
 * vfio_user_server_sparse_new: offer the parts of @pci_dev's BARs that
 *     are shared RAM with an fd for the client to map
 *
 * @stats: cleared here, updated until freed
 * @changed: called once, from a memory transaction's commit, when the
 *     BAR layout changed under an area a client may have mapped
 */
VfioUserServerSparse *
vfio_user_server_sparse_new(vfu_ctx_t *ctx, PCIDevice *pci_dev,
                            const VfioUserServerSparseOptions *options,
                            VfioUserServerSparseStats *stats,
                            VfioUserServerSparseChangedFunc *changed,
                            void *opaque);

void vfio_user_server_sparse_free(VfioUserServerSparse *sparse);

/*
 * vfu_setup_region() for BAR @bar, with the mmap areas the BAR has now.
 * Returns what vfu_setup_region() returns.
 */
int vfio_user_server_sparse_setup_bar(VfioUserServerSparse *sparse, int bar,
                                      vfu_region_access_cb_t *cb, int flags);

/*
 * A client is attached: offer the layout the BARs have now, and watch it
 * from then on.
 */
void vfio_user_server_sparse_attached(VfioUserServerSparse *sparse);

/* Count a REGION_READ or REGION_WRITE of a BAR */
void vfio_user_server_sparse_count(VfioUserServerSparse *sparse,
                                   bool is_write);

/*
 * x-sparse-mmap (on unless set: the server's instance_init sets
 * options->enabled) and the counters, as properties of the server class
 * @oc, whose objects hold the options and statistics at these offsets
 */
void vfio_user_server_sparse_class_add_properties(ObjectClass *oc,
                                                  ptrdiff_t options_offset,
                                                  ptrdiff_t stats_offset);

#endif
