/*
 * QTest: a back-end written for upstream QEMU's libvhost-user API
 *
 * Upstream's libvhost-user has bool vu_shmem_map() / vu_shmem_unmap(),
 * true on success, and does not answer VHOST_USER_GET_SHMEM_CONFIG
 * itself: a back-end offers VHOST_USER_PROTOCOL_F_SHMEM through its
 * get_protocol_features callback and answers request 44 in its own
 * process_msg callback.  The back-end here uses nothing else (no
 * vu_set_shmem_regions(), no fork-only declaration), builds against this
 * tree's libvhost-user and serves a vhost-user-test-device-pci: its
 * regions appear, its mappings reach the guest, refusals read as false,
 * and its answer to GET_SHMEM_CONFIG is the only one QEMU gets, whether
 * it leaves the sending to libvhost-user or writes the reply itself.
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include "libqtest.h"
#include "qemu/atomic.h"
#include "qemu/memfd.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "libvhost-user-qemu.h"

/*
 * The wire format of request 44 and its reply, as a back-end has to
 * spell it out for itself with upstream's header
 */
#define BACKEND_GET_SHMEM_CONFIG    44
#define BACKEND_MAX_SHMEM_REGIONS   256

typedef struct BackendShmemConfig {
    uint32_t nregions;
    uint32_t padding;
    uint64_t memory_sizes[BACKEND_MAX_SHMEM_REGIONS];
} QEMU_PACKED BackendShmemConfig;

#define REGION0_SIZE    (1 * 1024 * 1024ULL)
#define REGION5_SIZE    (64 * 1024ULL)
#define REGION5_IN_BAR  REGION0_SIZE    /* back to back, by shmid */

/* How the back-end sends its answer to request 44 */
typedef enum ReplyHow {
    REPLY_BY_LIBRARY,       /* vmsg->data, *do_reply = 1 */
    REPLY_BY_ITSELF,        /* written on dev->sock, *do_reply = 0 */
} ReplyHow;

static ReplyHow reply_how;
static int config_requests;     /* request 44 seen by the back-end */

static void fill_config(BackendShmemConfig *config)
{
    memset(config, 0, sizeof(*config));
    config->nregions = 2;
    config->memory_sizes[0] = REGION0_SIZE;
    config->memory_sizes[5] = REGION5_SIZE;
}

static int backend_process_msg(VuDev *dev, VhostUserMsg *vmsg, int *do_reply)
{
    BackendShmemConfig *config;
    struct {
        uint32_t request, flags, size;
        BackendShmemConfig config;
    } QEMU_PACKED reply;

    if (vmsg->request != BACKEND_GET_SHMEM_CONFIG) {
        return 0;
    }
    qatomic_inc(&config_requests);

    if (reply_how == REPLY_BY_LIBRARY) {
        config = g_malloc(sizeof(*config));
        fill_config(config);
        /* libvhost-user sends it and frees it with free() */
        vmsg->data = (uint8_t *)config;
        vmsg->size = sizeof(*config);
        *do_reply = 1;
        return 1;
    }

    reply.request = BACKEND_GET_SHMEM_CONFIG;
    reply.flags = 0x1 | VHOST_USER_REPLY_MASK;
    reply.size = sizeof(reply.config);
    fill_config(&reply.config);
    g_assert_cmpint(write(dev->sock, &reply, sizeof(reply)), ==,
                    sizeof(reply));
    *do_reply = 0;
    return 1;
}

static uint64_t backend_get_protocol_features(VuDev *dev)
{
    return 1ULL << VHOST_USER_PROTOCOL_F_SHMEM;
}

static int memfd_new(uint64_t size)
{
    int fd = qemu_memfd_create("libvhost-user-upstream-api-test", size, false,
                               0, 0, &error_abort);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* "shmid:size" per region, " offset+len" per mapping */
static char *query(VuQemu *q)
{
    QDict *resp = qtest_qmp(q->qts, "{'execute': 'x-query-virtio-shmem'}");
    QList *devs = qdict_get_qlist(resp, "return");
    GString *out = g_string_new("");
    QListEntry *e, *m;

    g_assert_cmpint(qlist_size(devs), ==, 1);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(qobject_to(QDict, qlist_peek(devs)),
                                        "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        g_string_append_printf(out, "%s%" PRId64 ":0x%" PRIx64,
                               out->len ? "; " : "",
                               qdict_get_int(r, "shmid"),
                               qdict_get_int(r, "size"));
        QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "mappings"), m) {
            QDict *map = qobject_to(QDict, qlist_entry_obj(m));

            g_string_append_printf(out, " 0x%" PRIx64 "+0x%" PRIx64,
                                   qdict_get_int(map, "shm-offset"),
                                   qdict_get_int(map, "len"));
        }
    }
    qobject_unref(resp);
    return g_string_free(out, false);
}

static void run_backend(ReplyHow how)
{
    uint64_t page = qemu_real_host_page_size();
    int memfd = memfd_new(4 * page);
    uint64_t *mem = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED,
                         memfd, 0);
    QPCIAddress addr = { .devfn = QPCI_DEVFN(VU_QEMU_SLOT, 0) };
    QVirtioPCIDevice *dev;
    VuQemu *q;
    char *s;
    int i;

    g_assert(mem != MAP_FAILED);
    for (i = 0; i < 4 * page / sizeof(*mem); i++) {
        mem[i] = 0x7500000000000000ULL + i;
    }
    reply_how = how;
    qatomic_set(&config_requests, 0);
    q = vu_qemu_start_custom(NULL, backend_process_msg,
                             backend_get_protocol_features);
    q->bar = qpci_iomap(q->pdev, VU_QEMU_SHMEM_BAR, NULL);

    /* QEMU asked once and took the answer (a second one would break it) */
    g_assert_cmpint(qatomic_read(&config_requests), ==, 1);
    s = query(q);
    g_assert_cmpstr(s, ==, "0:0x100000; 5:0x10000");
    g_free(s);

    /* true on success */
    g_assert_true(vu_shmem_map(&q->dev, 0, page, 2 * page, 2 * page,
                               VHOST_USER_FLAG_MAP_RW, memfd));
    g_assert_true(vu_shmem_map(&q->dev, 5, 0, 0, page, 0, memfd));
    g_assert_cmphex(qpci_io_readq(q->pdev, q->bar, 2 * page), ==,
                    mem[page / 8]);
    g_assert_cmphex(qpci_io_readq(q->pdev, q->bar, REGION5_IN_BAR + 8), ==,
                    mem[1]);
    s = query(q);
    g_assert_cmpstr(s, ==, "0:0x100000 0x2000+0x2000; 5:0x10000 0x0+0x1000");
    g_free(s);

    /* false when QEMU refuses, and nothing changes */
    g_assert_false(vu_shmem_map(&q->dev, 0, 0, 3 * page, page,
                                VHOST_USER_FLAG_MAP_RW, memfd));  /* overlap */
    g_assert_false(vu_shmem_map(&q->dev, 3, 0, 0, page,
                                VHOST_USER_FLAG_MAP_RW, memfd));  /* shmid */
    g_assert_false(vu_shmem_map(&q->dev, 5, 0, REGION5_SIZE, page,
                                VHOST_USER_FLAG_MAP_RW, memfd));  /* past end */
    g_assert_false(vu_shmem_unmap(&q->dev, 0, 2 * page, page));   /* half */
    g_assert_false(vu_shmem_unmap(&q->dev, 0, 0, page));          /* none */
    s = query(q);
    g_assert_cmpstr(s, ==, "0:0x100000 0x2000+0x2000; 5:0x10000 0x0+0x1000");
    g_free(s);

    g_assert_true(vu_shmem_unmap(&q->dev, 0, 2 * page, 2 * page));
    g_assert_true(vu_shmem_unmap(&q->dev, 5, 0, page));
    s = query(q);
    g_assert_cmpstr(s, ==, "0:0x100000; 5:0x10000");
    g_free(s);

    /*
     * The main channel is still in step: a device config read is a
     * GET_CONFIG round trip, which a stray reply would have answered
     */
    dev = virtio_pci_new(q->pcibus, &addr);
    g_assert_nonnull(dev);
    qvirtio_pci_device_enable(dev);
    g_assert_cmpuint(qpci_io_readl(dev->pdev, dev->bar,
                                   dev->device_cfg_offset), ==, 0);
    g_assert_cmpint(qatomic_read(&config_requests), ==, 1);
    qvirtio_pci_device_disable(dev);
    g_free(dev->pdev);
    g_free(dev);

    munmap(mem, 4 * page);
    close(memfd);
    g_assert_true(vu_qemu_stop(q, false));
}

static void test_reply_by_library(void)
{
    run_backend(REPLY_BY_LIBRARY);
}

static void test_reply_by_itself(void)
{
    run_backend(REPLY_BY_ITSELF);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);

    qtest_add_func("/libvhost-user/upstream-api/reply-by-library",
                   test_reply_by_library);
    qtest_add_func("/libvhost-user/upstream-api/reply-by-itself",
                   test_reply_by_itself);
    return g_test_run();
}
