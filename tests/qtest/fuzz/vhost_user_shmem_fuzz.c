/*
 * libFuzzer target: a hostile vhost-user back-end of
 * vhost-user-test-device-pci with VIRTIO Shared Memory Regions
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * QEMU runs in this process; its back-end is the scriptable raw back-end
 * of the qtests (tests/qtest/vhost-user-test-backend.c), serving the
 * device from a thread.  Each input is decoded into:
 *
 *   - the back-end's protocol features and the bytes of its reply to
 *     GET_SHMEM_CONFIG (region count and sizes, short or empty replies,
 *     a truncated message followed by a hang-up), for a device_add;
 *   - a sequence of operations: SHMEM_MAP/UNMAP requests with arbitrary
 *     payload bytes, with or without a memfd, guest reads and writes of
 *     the shared memory BAR, device resets, back-end hang-ups and
 *     re-creations of the device.
 *
 * Every iteration ends by removing the device (guest-acknowledged ACPI
 * unplug) and its chardev, so the next one starts from the same state.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>

#include "fuzz.h"
#include "hw/pci/pci_device.h"
#include "monitor/qdev.h"
#include "qapi/qapi-commands-char.h"
#include "qapi/qapi-commands-qdev.h"
#include "qobject/qdict.h"
#include "chardev/char.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "tests/qtest/vhost-user-test-backend.h"

#define SHMEM_FUZZ_SLOT         4
#define SHMEM_FUZZ_DEVFN        (SHMEM_FUZZ_SLOT << 3)
#define SHMEM_FUZZ_BAR          2
#define SHMEM_FUZZ_MAX_OPS      64
#define SHMEM_FUZZ_MAX_REGIONS  8
#define SHMEM_FUZZ_MAX_MSG      256
/* Where the BAR is placed unless it is larger */
#define SHMEM_FUZZ_BAR_ADDR     (64ULL << 30)
/* ACPI PCI hotplug of the pc machine: eject register */
#define SHMEM_FUZZ_PCIHP_EJ     0xae08
#define PAGE                    4096ULL

/* Sizes that reach the interesting checks; the input picks among them */
static const uint64_t shmem_sizes[] = {
    0, 1, PAGE, 2 * PAGE, 64 * 1024, 2 * 1024 * 1024, 1ULL << 30,
    64ULL << 40, 1ULL << 63, 0xfffffffffffff000ULL, UINT64_MAX,
    3 * PAGE, PAGE + 1,
};

/* Sizes of the memfds a MAP can pass */
static const uint64_t memfd_sizes[] = { PAGE, 4 * PAGE, 64 * 1024, 0, 1 };

typedef struct ShmemFuzzInput {
    const uint8_t *data;
    size_t len;
} ShmemFuzzInput;

typedef struct ShmemFuzz {
    VuTestBackend *be;
    unsigned int generation;    /* names the chardev of each device */
    bool have_dev;
    bool have_chr;
    char chr_id[32];
    int memfds[ARRAY_SIZE(memfd_sizes)];

    /* The reply to GET_SHMEM_CONFIG, read by the back-end thread */
    GMutex lock;
    uint8_t reply[12 + 2056 + 16];
    size_t reply_len;           /* bytes to send, header included */
    bool hang_up_after_reply;
    GThread *hang_up_thread;
} ShmemFuzz;

static ShmemFuzz fz;

static uint8_t in_u8(ShmemFuzzInput *in)
{
    uint8_t v = 0;

    if (in->len) {
        v = *in->data++;
        in->len--;
    }
    return v;
}

static uint64_t in_bytes(ShmemFuzzInput *in, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)in_u8(in) << (8 * i);
    }
    return v;
}

/* A size: one of the table, or raw bytes of the input */
static uint64_t in_size(ShmemFuzzInput *in)
{
    uint8_t sel = in_u8(in);

    if (sel < 0xf0) {
        return shmem_sizes[sel % ARRAY_SIZE(shmem_sizes)];
    }
    return in_bytes(in, 8);
}

static gpointer hang_up_thread(gpointer opaque)
{
    vu_test_backend_disconnect(fz.be);
    return NULL;
}

/* Back-end thread: answer GET_SHMEM_CONFIG with the input's bytes */
static bool shmem_fuzz_hook(VuTestBackend *b, VuTestMsg *msg, void *opaque)
{
    if (msg->request != VU_TEST_REQ_GET_SHMEM_CONFIG) {
        return false;
    }
    g_mutex_lock(&fz.lock);
    vu_test_backend_send_raw(b, fz.reply, fz.reply_len, NULL, 0);
    if (fz.hang_up_after_reply && !fz.hang_up_thread) {
        /*
         * A truncated reply leaves QEMU waiting for the rest: hang up, from
         * another thread as this one must go on to close the connection.
         */
        fz.hang_up_thread = g_thread_new("shmem-fuzz-hangup",
                                         hang_up_thread, NULL);
    }
    g_mutex_unlock(&fz.lock);
    return true;
}

/* Decode the GET_SHMEM_CONFIG reply and the back-end's features */
static void decode_config(ShmemFuzzInput *in)
{
    uint8_t mode = in_u8(in);
    uint8_t count = in_u8(in);
    unsigned int nsizes = MIN(in_u8(in) % (SHMEM_FUZZ_MAX_REGIONS + 1),
                              count ? count : 1);
    /* Without F_CONFIG, which QEMU warns about on every device_add */
    uint64_t features = VU_TEST_DEFAULT_PROTOCOL_FEATURES &
                        ~(1ULL << VU_TEST_PROTOCOL_F_CONFIG);
    uint32_t payload_len = 8 + 8 * 256;
    uint8_t *p = fz.reply + 12;

    if (!(mode & 0x80)) {
        features |= 1ULL << VU_TEST_PROTOCOL_F_SHMEM;
    }
    if (mode & 0x40) {
        features &= ~(1ULL << VU_TEST_PROTOCOL_F_REPLY_ACK);
    }
    vu_test_backend_set_protocol_features(fz.be, features);

    g_mutex_lock(&fz.lock);
    memset(fz.reply, 0, sizeof(fz.reply));
    /* Mostly a count that fits, sometimes any count */
    stl_le_p(p, (mode & 0x20) ? count : count % (SHMEM_FUZZ_MAX_REGIONS + 1));
    for (unsigned int i = 0; i < nsizes; i++) {
        stq_le_p(p + 8 + 8 * i, in_size(in));
    }
    fz.hang_up_after_reply = false;
    switch (mode & 0x7) {
    case 0: case 1: case 2: case 3:
        break;                                  /* well-formed */
    case 4:
        payload_len = in_u8(in) * 9;            /* short or empty payload */
        break;
    case 5:
        payload_len = in_bytes(in, 4);          /* any size in the header */
        fz.hang_up_after_reply = true;
        break;
    case 6:
        fz.hang_up_after_reply = true;          /* truncated message */
        break;
    case 7:
        stl_le_p(fz.reply, in_u8(in));          /* not the right request */
        break;
    }
    if ((mode & 0x7) != 7) {
        stl_le_p(fz.reply, VU_TEST_REQ_GET_SHMEM_CONFIG);
    }
    stl_le_p(fz.reply + 4, (mode & 0x18) == 0x18 ? in_u8(in) :
             VU_TEST_VERSION | VU_TEST_FLAG_REPLY);
    stl_le_p(fz.reply + 8, payload_len);
    fz.reply_len = 12 + MIN(payload_len, sizeof(fz.reply) - 12);
    if ((mode & 0x7) == 6) {
        fz.reply_len = in_u8(in) % fz.reply_len;
    }
    g_mutex_unlock(&fz.lock);
}

static void run_main_loop(void)
{
    for (int i = 0; i < 8; i++) {
        main_loop_wait(true);
    }
}

static PCIDevice *shmem_fuzz_pdev(void)
{
    Object *obj = object_resolve_path("/machine/peripheral/fz", NULL);

    return obj ? PCI_DEVICE(obj) : NULL;
}

static void pci_cfg_writel(QTestState *s, uint8_t reg, uint32_t val)
{
    qtest_outl(s, 0xcf8, 0x80000000 | (SHMEM_FUZZ_DEVFN << 8) | reg);
    qtest_outl(s, 0xcfc, val);
}

static uint32_t pci_cfg_readl(QTestState *s, uint8_t reg)
{
    qtest_outl(s, 0xcf8, 0x80000000 | (SHMEM_FUZZ_DEVFN << 8) | reg);
    return qtest_inl(s, 0xcfc);
}

/* The guest places the shared memory BAR; returns its address and size */
static uint64_t place_bar(QTestState *s, uint64_t *size)
{
    PCIDevice *pdev = shmem_fuzz_pdev();
    uint64_t addr;

    *size = pdev ? pdev->io_regions[SHMEM_FUZZ_BAR].size : 0;
    if (!*size) {
        return 0;
    }
    addr = MAX(*size, SHMEM_FUZZ_BAR_ADDR);
    /* Each write rebuilds the memory map: only after a reset */
    if ((pci_cfg_readl(s, PCI_COMMAND) & PCI_COMMAND_MEMORY) &&
        pci_cfg_readl(s, PCI_BASE_ADDRESS_0 + 4 * SHMEM_FUZZ_BAR) ==
        ((uint32_t)addr | PCI_BASE_ADDRESS_MEM_TYPE_64 |
         PCI_BASE_ADDRESS_MEM_PREFETCH) &&
        pci_cfg_readl(s, PCI_BASE_ADDRESS_0 + 4 * SHMEM_FUZZ_BAR + 4) ==
        addr >> 32) {
        return addr;
    }
    pci_cfg_writel(s, PCI_BASE_ADDRESS_0 + 4 * SHMEM_FUZZ_BAR,
                   (uint32_t)addr);
    pci_cfg_writel(s, PCI_BASE_ADDRESS_0 + 4 * SHMEM_FUZZ_BAR + 4,
                   addr >> 32);
    pci_cfg_writel(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    return addr;
}

static void device_remove(QTestState *s)
{
    Error *err = NULL;

    if (fz.have_dev) {
        qmp_device_del("fz", &err);
        if (err) {
            error_free(err);
            err = NULL;
        } else {
            qtest_outl(s, SHMEM_FUZZ_PCIHP_EJ, 1u << SHMEM_FUZZ_SLOT);
        }
        run_main_loop();
        /* The guest acknowledged the unplug: the device must be gone */
        g_assert(!shmem_fuzz_pdev());
        fz.have_dev = false;
    }
    if (fz.have_chr) {
        /* The device lets go of its chardev when RCU frees it */
        drain_call_rcu();
        qmp_chardev_remove(fz.chr_id, &error_abort);
        fz.have_chr = false;
    }
    run_main_loop();
    if (fz.hang_up_thread) {
        g_thread_join(fz.hang_up_thread);
        fz.hang_up_thread = NULL;
    }
    vu_test_backend_clear_log(fz.be);
}

/* device_add with a new chardev; the device may refuse to realize */
static void device_create(QTestState *s)
{
    g_autofree char *uri = g_strdup_printf(
        "unix:%s", vu_test_backend_get_socket_path(fz.be));
    QDict *opts;
    Error *err = NULL;

    device_remove(s);
    snprintf(fz.chr_id, sizeof(fz.chr_id), "vu%u", fz.generation++);
    if (!qemu_chr_new(fz.chr_id, uri, NULL)) {
        return;
    }
    fz.have_chr = true;

    opts = qdict_new();
    qdict_put_str(opts, "driver", "vhost-user-test-device-pci");
    qdict_put_str(opts, "id", "fz");
    qdict_put_str(opts, "chardev", fz.chr_id);
    qdict_put_int(opts, "virtio-id", 27);
    qdict_put_int(opts, "num_vqs", 1);
    qdict_put_str(opts, "addr", stringify(SHMEM_FUZZ_SLOT) ".0");
    qmp_device_add(opts, NULL, &err);
    qobject_unref(opts);
    if (err) {
        if (getenv("SHMEM_FUZZ_DEBUG")) {
            error_report_err(err);
            err = NULL;
        }
        error_free(err);
    } else {
        fz.have_dev = true;
    }
    run_main_loop();
}

/* Let QEMU handle what the back-end sent and read its replies */
static void drain_backend_channel(uint32_t request)
{
    for (int i = 0; i < 4; i++) {
        uint64_t reply;
        int ret;

        run_main_loop();
        ret = vu_test_backend_recv_backend_reply(fz.be, request, 1, &reply);
        if (ret == -ENOTCONN || ret == -ECONNRESET || ret == -ETIMEDOUT) {
            break;
        }
    }
}

static void op_backend_msg(ShmemFuzzInput *in, uint8_t op)
{
    uint8_t payload[SHMEM_FUZZ_MAX_MSG] = { 0 };
    VuTestMMap *m = (VuTestMMap *)payload;
    uint32_t request = (op & 1) ? VU_TEST_BACKEND_REQ_SHMEM_UNMAP :
                                  VU_TEST_BACKEND_REQ_SHMEM_MAP;
    uint32_t flags = VU_TEST_VERSION;
    uint32_t size = sizeof(*m);
    uint8_t sel = in_u8(in);
    int fd = -1;

    m->shmid = in_u8(in) % 4;
    m->fd_offset = (sel & 0x80) ? in_bytes(in, 8) : (in_u8(in) % 8) * PAGE;
    m->shm_offset = (sel & 0x40) ? in_bytes(in, 8) : (in_u8(in) % 64) * PAGE;
    m->len = (sel & 0x20) ? in_size(in) : (in_u8(in) % 8 + 1) * PAGE;
    m->flags = in_u8(in) & 0x83;
    if (m->flags & 0x80) {
        m->flags = in_bytes(in, 8);
    }
    if (sel & 0x10) {
        /* Arbitrary payload bytes and size */
        size = in_u8(in) % (SHMEM_FUZZ_MAX_MSG + 1);
        for (uint32_t i = sizeof(*m); i < size; i++) {
            payload[i] = in_u8(in);
        }
    }
    if (sel & 0x08) {
        flags = in_bytes(in, 4);
    } else if (!(sel & 0x04)) {
        flags |= VU_TEST_FLAG_NEED_REPLY;
    }
    if (!(sel & 0x02) && request == VU_TEST_BACKEND_REQ_SHMEM_MAP) {
        fd = fz.memfds[in_u8(in) % ARRAY_SIZE(fz.memfds)];
    }
    if ((sel & 0x03) == 0x03) {
        request = in_u8(in);            /* any back-end request */
    }
    vu_test_backend_send_backend_msg(fz.be, request, flags, payload, size, fd);
    drain_backend_channel(request);
}

static void op_guest_access(QTestState *s, ShmemFuzzInput *in, uint8_t op)
{
    uint64_t size, addr = place_bar(s, &size);
    uint64_t off = in_bytes(in, 4) * 8 + in_u8(in);
    uint64_t val = in_bytes(in, 8);

    if (!addr) {
        return;
    }
    /* Mostly inside the BAR, sometimes just past it */
    addr += (op & 0x10) ? size - 8 + off % 16 : off % size;
    switch (op & 0x7) {
    case 0:
        qtest_readb(s, addr);
        break;
    case 1:
        qtest_readw(s, addr);
        break;
    case 2:
        qtest_readl(s, addr);
        break;
    case 3:
        qtest_readq(s, addr);
        break;
    case 4:
        qtest_writeb(s, addr, val);
        break;
    case 5:
        qtest_writew(s, addr, val);
        break;
    case 6:
        qtest_writel(s, addr, val);
        break;
    case 7:
        qtest_writeq(s, addr, val);
        break;
    }
}

static void shmem_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    ShmemFuzzInput in = { .data = data, .len = size };
    PCIDevice *pdev;
    int ops = 0;

    decode_config(&in);
    device_create(s);

    while (in.len && ops++ < SHMEM_FUZZ_MAX_OPS) {
        uint8_t op = in_u8(&in);

        switch (op >> 5) {
        case 0: case 1: case 2:
            op_backend_msg(&in, op);
            break;
        case 3: case 4:
            op_guest_access(s, &in, op);
            break;
        case 5:
            pdev = shmem_fuzz_pdev();
            if (pdev) {
                device_cold_reset(DEVICE(pdev));
                run_main_loop();
            }
            break;
        case 6:
            vu_test_backend_disconnect(fz.be);
            run_main_loop();
            break;
        case 7:
            if (op & 1) {
                decode_config(&in);
            }
            device_create(s);
            break;
        }
    }
    device_remove(s);
}

static void shmem_fuzz_pre_vm_init(void)
{
    fz.be = vu_test_backend_new();
    g_mutex_init(&fz.lock);
    vu_test_backend_set_request_hook(fz.be, shmem_fuzz_hook, NULL);
    /* A request the back-end does not know is ignored, not a hang-up */
    vu_test_backend_set_close_on_unknown(fz.be, false);
    for (size_t i = 0; i < ARRAY_SIZE(memfd_sizes); i++) {
        fz.memfds[i] = memfd_create("vhost-user-shmem-fuzz", MFD_CLOEXEC);
        g_assert(fz.memfds[i] >= 0);
        g_assert(ftruncate(fz.memfds[i], memfd_sizes[i]) == 0);
    }
}

static GString *shmem_fuzz_cmdline(FuzzTarget *t)
{
    return g_string_new(TARGET_NAME " -machine pc,accel=qtest,"
                        "memory-backend=mem -m 64M -display none -nodefaults"
                        " -object memory-backend-memfd,id=mem,size=64M,"
                        "share=on");
}

static void register_vhost_user_shmem_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "vhost-user-shmem",
        .description = "Fuzz a vhost-user-test-device-pci from its back-end: "
                       "GET_SHMEM_CONFIG replies, SHMEM_MAP/UNMAP requests, "
                       "guest BAR accesses, resets and hang-ups",
        .get_init_cmdline = shmem_fuzz_cmdline,
        .pre_vm_init = shmem_fuzz_pre_vm_init,
        .fuzz = shmem_fuzz,
    });
}

fuzz_target_init(register_vhost_user_shmem_fuzz_targets);
