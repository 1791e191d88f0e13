/*
 * libFuzzer target: a hostile client of x-vfio-user-server
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

/*
 * QEMU runs in this process as an x-remote machine exporting edu.  For
 * each input a new x-vfio-user-server object is added and a client
 * thread, using the qtests' raw client (tests/qtest/vfio-user-raw-client.c),
 * plays the input against it while this thread runs QEMU's main loop:
 *
 *   - either VERSION first (plain or twin socket) and then DMA_MAP with
 *     and without an fd, DMA_UNMAP, REGION_READ/WRITE, device DMA that
 *     the server moves by message (answered well or badly), messages
 *     with bad headers, bodies split in two, raw bytes;
 *   - or raw messages on a bare socket, VERSION or not.
 *
 * The client then hangs up; the server object goes away with it (or is
 * deleted), so the next input finds the machine as this one did.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>

#include "fuzz.h"
#include "hw/pci/pci_regs.h"
#include "qemu/main-loop.h"
#include "qom/object_interfaces.h"
#include "tests/qtest/vfio-user-raw-client.h"

#define VFU_FUZZ_MAX_OPS        32
#define VFU_FUZZ_MAX_MSG        512
/* The server's wait for a DMA reply or the rest of a message */
#define VFU_FUZZ_SERVER_TIMEOUT "50"
/* The client's wait for a reply that a broken message may never get */
#define VFU_FUZZ_SHORT_MS       100
#define VFU_FUZZ_CONNECT_MS     2000
/* struct vfio_user_dma_unmap without a bitmap */
#define VFU_FUZZ_UNMAP_SIZE     24

/* edu's registers and DMA buffer (hw/misc/edu.c) */
#define EDU_REG_DMA_SRC         0x80
#define EDU_REG_DMA_DST         0x88
#define EDU_REG_DMA_COUNT       0x90
#define EDU_REG_DMA_CMD         0x98
#define EDU_DMA_RUN             0x1
#define EDU_BUF                 0x40000
#define EDU_DMA_DELAY_NS        (100 * 1000 * 1000)
#define EDU_BAR0_ADDR           0xfe000000u

#define PAGE                    4096ULL

static const uint64_t memfd_sizes[] = { PAGE, 16 * PAGE, 0, 1 };

typedef struct VfuFuzzInput {
    const uint8_t *data;
    size_t len;
} VfuFuzzInput;

typedef struct VfuFuzz {
    char *dir;
    char *sock;
    char id[32];
    unsigned int generation;
    int memfds[ARRAY_SIZE(memfd_sizes)];

    /* Between the client thread and the main loop */
    VfuFuzzInput in;
    bool done;
    bool step_clock;
} VfuFuzz;

static VfuFuzz vf;

static uint8_t in_u8(VfuFuzzInput *in)
{
    uint8_t v = 0;

    if (in->len) {
        v = *in->data++;
        in->len--;
    }
    return v;
}

static uint64_t in_bytes(VfuFuzzInput *in, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)in_u8(in) << (8 * i);
    }
    return v;
}

/* An address or size: small and aligned mostly, anything sometimes */
static uint64_t in_addr(VfuFuzzInput *in)
{
    uint8_t sel = in_u8(in);

    if (sel < 0xe0) {
        return (sel % 32) * PAGE;
    }
    return in_bytes(in, 8);
}

/* Ask the main loop to run edu's DMA timer, and wait until it did */
static void client_step_clock(void)
{
    qatomic_set(&vf.step_clock, true);
    qemu_notify_event();
    for (int i = 0; i < 1000 && qatomic_read(&vf.step_clock); i++) {
        g_usleep(100);
    }
}

static void wait_reply(VfuRawClient *c, int msg_id, int timeout_ms)
{
    if (msg_id >= 0) {
        vfu_raw_reply_free(vfu_raw_wait_reply(c, msg_id, timeout_ms));
    }
}

static void send_raw_msg(VfuRawClient *c, VfuFuzzInput *in, uint8_t op)
{
    uint8_t payload[VFU_FUZZ_MAX_MSG];
    g_autofree uint8_t *buf = NULL;
    uint16_t msg_id = vfu_raw_next_msg_id(c);
    uint16_t cmd = in_u8(in) % 16;
    size_t len = in_u8(in) % 64, n, split;

    for (size_t i = 0; i < len; i++) {
        payload[i] = in_u8(in);
    }
    n = vfu_raw_build_msg(&buf, msg_id, cmd, in_u8(in) & 0x3f, payload, len);
    if (op & 1) {
        /* A header that lies: size, flags, anything */
        buf[in_u8(in) % VFU_RAW_HDR_SIZE] = in_u8(in);
    }
    if (op & 2) {
        /* A body split in two, the second part a little later */
        split = in_u8(in) % (n + 1);
        vfu_raw_send_bytes(c, buf, split);
        g_usleep(in_u8(in) * 100);
        vfu_raw_send_bytes(c, buf + split, n - split);
    } else {
        vfu_raw_send_bytes(c, buf, n);
    }
    wait_reply(c, msg_id, VFU_FUZZ_SHORT_MS);
}

static void client_op(VfuRawClient *c, VfuFuzzInput *in)
{
    uint8_t op = in_u8(in);
    uint8_t data[64];
    struct {
        uint32_t argsz;
        uint32_t flags;
        uint64_t addr;
        uint64_t size;
        uint8_t tail[8];    /* sent when the input makes it longer */
    } QEMU_PACKED unmap = { 0 };
    uint64_t addr, size, val;
    uint32_t count;

    switch (op >> 4) {
    case 0:
        /* Memory of the client, served by DMA messages */
        vfu_raw_dma_map(c, (in_u8(in) % 16) * PAGE,
                        (in_u8(in) % 4 + 1) * PAGE, in_u8(in) & 3);
        break;
    case 1:
        /* Any range, no fd and no memory behind it */
        addr = in_addr(in);
        size = in_addr(in);
        vfu_raw_dma_map_fd(c, addr, size, in_bytes(in, 4), -1, 0);
        break;
    case 2: case 3:
        addr = in_addr(in);
        size = in_addr(in);
        vfu_raw_dma_map_fd(c, addr, size, in_u8(in) & 7,
                           vf.memfds[op % ARRAY_SIZE(vf.memfds)],
                           in_addr(in));
        break;
    case 4:
        unmap.argsz = (op & 1) ? in_bytes(in, 4) : VFU_FUZZ_UNMAP_SIZE;
        unmap.flags = (op & 2) ? in_bytes(in, 4) : 0;
        unmap.addr = in_addr(in);
        unmap.size = in_addr(in);
        wait_reply(c, vfu_raw_send_request(c, VFU_RAW_CMD_DMA_UNMAP, &unmap,
                                           (op & 4) ? in_u8(in) % 33 :
                                           VFU_FUZZ_UNMAP_SIZE),
                   VFU_RAW_TIMEOUT_MS);
        break;
    case 5:
        count = (op & 1) ? in_bytes(in, 4) : in_u8(in) % 9;
        wait_reply(c, vfu_raw_region_read_send(c, in_u8(in) % 12,
                                               in_bytes(in, 2) + (op & 2 ?
                                               in_bytes(in, 8) : 0), count),
                   VFU_RAW_TIMEOUT_MS);
        break;
    case 6:
        count = in_u8(in) % (sizeof(data) + 1);
        for (uint32_t i = 0; i < count; i++) {
            data[i] = in_u8(in);
        }
        vfu_raw_region_write(c, in_u8(in) % 12, in_bytes(in, 2), data,
                             count);
        break;
    case 7: case 8:
        /* Device DMA between edu's buffer and the client's memory */
        val = in_addr(in) + in_u8(in);
        vfu_raw_region_write(c, VFU_RAW_REGION_BAR0, EDU_REG_DMA_SRC,
                             &val, sizeof(val));
        val = EDU_BUF + in_u8(in) * 8;
        vfu_raw_region_write(c, VFU_RAW_REGION_BAR0, EDU_REG_DMA_DST,
                             &val, sizeof(val));
        val = in_u8(in) * 16 + 1;
        vfu_raw_region_write(c, VFU_RAW_REGION_BAR0, EDU_REG_DMA_COUNT,
                             &val, sizeof(val));
        /* bit 1: from edu to the client */
        val = EDU_DMA_RUN | (op & 2);
        vfu_raw_region_write(c, VFU_RAW_REGION_BAR0, EDU_REG_DMA_CMD,
                             &val, sizeof(val));
        client_step_clock();
        break;
    case 9:
        /* How the client answers the server's DMA requests (no holds) */
        val = in_u8(in) % (VFU_RAW_DMA_HANGUP + 1);
        vfu_raw_set_dma_action(c, val == VFU_RAW_DMA_HOLD ?
                               VFU_RAW_DMA_SERVE : val, in_u8(in));
        break;
    case 10: case 11: case 12: case 13:
        send_raw_msg(c, in, op);
        break;
    case 14:
        /* Raw bytes */
        count = in_u8(in) % (sizeof(data) + 1);
        for (uint32_t i = 0; i < count; i++) {
            data[i] = in_u8(in);
        }
        vfu_raw_send_bytes(c, data, count);
        break;
    case 15:
        vfu_raw_hangup(c);
        break;
    }
}

/* A negotiated client: BAR0 placed, memory and bus mastering on */
static void client_negotiated(VfuFuzzInput *in, uint8_t mode)
{
    Error *err = NULL;
    VfuRawClient *c = vfu_raw_connect(vf.sock, mode & 2, 0,
                                      VFU_FUZZ_CONNECT_MS, &err);
    uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    uint32_t bar = EDU_BAR0_ADDR;

    if (!c) {
        error_free(err);
        return;
    }
    vfu_raw_region_write(c, VFU_RAW_REGION_CONFIG, PCI_BASE_ADDRESS_0,
                         &bar, sizeof(bar));
    vfu_raw_region_write(c, VFU_RAW_REGION_CONFIG, PCI_COMMAND,
                         &cmd, sizeof(cmd));
    for (int i = 0; i < VFU_FUZZ_MAX_OPS && in->len; i++) {
        client_op(c, in);
    }
    vfu_raw_free(c);
}

/* Messages on a bare socket: VERSION first or not, fds or not */
static void client_raw(VfuFuzzInput *in)
{
    int fd = vfu_raw_socket_connect(vf.sock, VFU_FUZZ_CONNECT_MS, NULL);

    if (fd < 0) {
        return;
    }
    for (int i = 0; i < VFU_FUZZ_MAX_OPS && in->len; i++) {
        uint8_t payload[VFU_FUZZ_MAX_MSG];
        g_autofree uint8_t *buf = NULL;
        VfuRawReply *reply = NULL;
        uint8_t op = in_u8(in);
        size_t len = in_u8(in) * 2, n;
        int memfd = vf.memfds[op % ARRAY_SIZE(vf.memfds)];

        for (size_t j = 0; j < len; j++) {
            payload[j] = in_u8(in);
        }
        n = vfu_raw_build_msg(&buf, i, (op & 0x80) ? VFU_RAW_CMD_VERSION :
                              in_u8(in) % 16, in_u8(in) & 0x3f, payload, len);
        if (op & 0x40) {
            buf[in_u8(in) % VFU_RAW_HDR_SIZE] = in_u8(in);
        }
        if (vfu_raw_socket_send(fd, buf, n, &memfd, (op & 0x20) ? 1 : 0) < 0) {
            break;
        }
        while (vfu_raw_socket_recv(fd, 10, &reply) == 0) {
            vfu_raw_reply_free(reply);
        }
    }
    close(fd);
}

static gpointer client_thread(gpointer opaque)
{
    VfuFuzzInput in = vf.in;
    uint8_t mode = in_u8(&in);

    if (mode & 1) {
        client_raw(&in);
    } else {
        client_negotiated(&in, mode);
    }
    qatomic_set(&vf.done, true);
    qemu_notify_event();
    return NULL;
}

static bool server_exists(void)
{
    return object_resolve_path_component(object_get_objects_root(), vf.id);
}

static void vfio_user_server_fuzz(QTestState *s, const unsigned char *data,
                                  size_t size)
{
    g_autofree char *opts = NULL;
    GThread *thread;
    uint8_t mode = size ? data[0] : 0;

    snprintf(vf.id, sizeof(vf.id), "vfu%u", vf.generation++);
    g_free(vf.sock);
    vf.sock = g_strdup_printf("%s/%s.sock", vf.dir, vf.id);
    opts = g_strdup_printf("x-vfio-user-server,id=%s,device=dev0,"
                           "socket.type=unix,socket.path=%s,"
                           "x-dma-timeout=" VFU_FUZZ_SERVER_TIMEOUT ","
                           "x-twin-socket=%s,x-dma-block=%s",
                           vf.id, vf.sock, mode & 4 ? "off" : "on",
                           mode & 8 ? "off" : "on");
    user_creatable_add_from_str(opts, &error_abort);

    vf.in = (VfuFuzzInput) { .data = data, .len = size };
    qatomic_set(&vf.done, false);
    qatomic_set(&vf.step_clock, false);
    thread = g_thread_new("vfio-user-fuzz-client", client_thread, NULL);
    while (!qatomic_read(&vf.done)) {
        main_loop_wait(false);
        if (qatomic_read(&vf.step_clock)) {
            qtest_clock_step(s, EDU_DMA_DELAY_NS);
            qatomic_set(&vf.step_clock, false);
        }
    }
    g_thread_join(thread);

    /* The server object goes with its client; delete one never used */
    for (int i = 0; i < 100 && server_exists(); i++) {
        main_loop_wait(true);
        if (i > 10) {
            g_usleep(100);
        }
    }
    if (server_exists()) {
        user_creatable_del(vf.id, &error_abort);
    }
    main_loop_wait(true);
    unlink(vf.sock);
}

static void vfio_user_server_fuzz_pre_vm_init(void)
{
    vf.dir = g_dir_make_tmp("vfio-user-fuzz-XXXXXX", NULL);
    g_assert(vf.dir);
    for (size_t i = 0; i < ARRAY_SIZE(memfd_sizes); i++) {
        vf.memfds[i] = memfd_create("vfio-user-fuzz", MFD_CLOEXEC);
        g_assert(vf.memfds[i] >= 0);
        g_assert(ftruncate(vf.memfds[i], memfd_sizes[i]) == 0);
    }
}

static GString *vfio_user_server_fuzz_cmdline(FuzzTarget *t)
{
    return g_string_new(TARGET_NAME " -machine x-remote,vfio-user=on,"
                        "auto-shutdown=off -accel qtest -display none "
                        "-nodefaults -device edu,id=dev0");
}

static void register_vfio_user_server_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "vfio-user-server",
        .description = "Fuzz x-vfio-user-server exporting edu from a "
                       "client: VERSION, DMA_MAP/UNMAP, REGION_READ/WRITE, "
                       "message DMA replies, bad headers, split bodies",
        .get_init_cmdline = vfio_user_server_fuzz_cmdline,
        .pre_vm_init = vfio_user_server_fuzz_pre_vm_init,
        .fuzz = vfio_user_server_fuzz,
    });
}

fuzz_target_init(register_vfio_user_server_fuzz_targets);
