/*
 * Protocol-level tests of x-vfio-user-server: the test is the client
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each case starts a server QEMU (x-remote machine, an edu device, qtest
 * accelerator) and talks to it with the raw vfio-user client of
 * vfio-user-raw-client.c.  The client shares no file descriptor for its
 * memory, so the server must do the edu device's DMA with DMA_READ and
 * DMA_WRITE messages.  The edu device starts a DMA 100 ms of virtual time
 * after its command register is written; a helper thread steps the
 * server's clock while the raw client's receiver thread answers the DMA.
 *
 * A failed check marks the case failed and ends it (non-fatal
 * assertions), so the other cases still run; every wait is bounded.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "libqtest.h"
#include "libvhost-user-qemu.h"
#include "vfio-user-raw-client.h"

/* edu (hw/misc/edu.c) */
#define EDU_REG_IDENT       0x00
#define EDU_IDENT           0x010000edu
#define EDU_REG_DMA_SRC     0x80
#define EDU_REG_DMA_DST     0x88
#define EDU_REG_DMA_COUNT   0x90
#define EDU_REG_DMA_CMD     0x98
#define EDU_DMA_RUN         0x1
#define EDU_DMA_TO_RAM      0x2     /* device buffer to client memory */
#define EDU_BUF             0x40000
#define EDU_BUF_SIZE        4096
#define EDU_DMA_DELAY_NS    (100 * 1000 * 1000)

#define PCI_COMMAND_REG     0x04
#define PCI_BAR0_REG        0x10
#define PCI_COMMAND_MEM     0x2
#define PCI_COMMAND_MASTER  0x4

/* Where the client puts BAR0: the server handles BAR accesses only there */
#define BAR0_ADDR           0xe0000000u

/* The client's memory range */
#define MAP_BASE            0x100000
#define MAP_SIZE            (1024 * 1024)

/* Longer than the server's default DMA timeout (x-dma-timeout, 10 s) */
#define STEP_TIMEOUT_MS     15000
#define EVENT_TIMEOUT_MS    5000
#define DMA_TIMEOUT_MS      5000

typedef struct TestCtx {
    char *dir;
    char *sock;
    QTestState *qts;
    VfuRawClient *client;
    uint32_t max_xfer;          /* client's max_data_xfer_size, 0: default */

    /* Steps the server's clock in a thread of its own */
    GThread *stepper;
    GMutex lock;
    GCond cond;
    bool step_done;
} TestCtx;

static bool check(bool cond, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Mark the case failed with a message unless @cond holds */
static bool check(bool cond, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (cond) {
        return true;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_test_message("FAIL: %s", msg);
    g_test_fail();
    return false;
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = seed + i * 7 + (i >> 8);
    }
}

/* The server object's JSON; @opts: more members, each after a comma */
static char *server_object(const char *sock, const char *opts)
{
    return g_strdup_printf("{\"qom-type\":\"x-vfio-user-server\","
                           "\"id\":\"vfu0\",\"device\":\"dev0\","
                           "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}%s}",
                           sock, opts);
}

/* @shutdown: the machine's auto-shutdown; @opts as for server_object() */
static QTestState *server_start_full(const char *sock, bool shutdown,
                                     const char *opts)
{
    g_autofree char *obj = server_object(sock, opts);

    return qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=%s "
                       "-device edu,id=dev0 -object '%s'",
                       shutdown ? "on" : "off", obj);
}

static QTestState *server_start(const char *sock, const char *opts)
{
    return server_start_full(sock, false, opts);
}

/* A temporary directory for the socket, and the test's own state */
static void ctx_init(TestCtx *t)
{
    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    t->dir = g_dir_make_tmp("vfio-user-server-test-XXXXXX", NULL);
    g_assert(t->dir);
    t->sock = g_build_filename(t->dir, "sock", NULL);
}

/*
 * Places BAR0 and enables memory space and bus mastering through the
 * config region of a connected client, and checks edu's ident.
 */
static bool client_enable(TestCtx *t)
{
    uint16_t cmd = PCI_COMMAND_MEM | PCI_COMMAND_MASTER;
    uint32_t bar = BAR0_ADDR;
    uint32_t ident = 0;
    int ret;

    ret = vfu_raw_region_write(t->client, VFU_RAW_REGION_CONFIG,
                               PCI_BAR0_REG, &bar, sizeof(bar));
    if (!check(ret == 0, "config write of BAR0: %d", ret)) {
        return false;
    }
    ret = vfu_raw_region_write(t->client, VFU_RAW_REGION_CONFIG,
                               PCI_COMMAND_REG, &cmd, sizeof(cmd));
    if (!check(ret == 0, "config write of PCI_COMMAND: %d", ret)) {
        return false;
    }
    ret = vfu_raw_region_read(t->client, VFU_RAW_REGION_BAR0, EDU_REG_IDENT,
                              &ident, sizeof(ident));
    return check(ret == 0 && ident == EDU_IDENT,
                 "edu ident: ret %d value 0x%08x", ret, ident);
}

/* Connect a client to the running server as for setup_full() */
static bool client_setup(TestCtx *t, bool twin, bool need_twin)
{
    Error *err = NULL;

    t->client = vfu_raw_connect(t->sock, twin, t->max_xfer, DMA_TIMEOUT_MS,
                                &err);
    if (!check(t->client, "connect/negotiate: %s",
               err ? error_get_pretty(err) : "?")) {
        error_free(err);
        return false;
    }
    if (need_twin && !check(vfu_raw_twin_active(t->client),
                            "the server did not enable twin-socket mode "
                            "(VERSION reply: %s)",
                            vfu_raw_version(t->client)->json ?: "no JSON")) {
        return false;
    }
    return client_enable(t);
}

/*
 * Start a server with the object options @opts and connect a client,
 * asking for twin-socket mode if @twin and requiring it if @need_twin.
 */
static bool setup_full(TestCtx *t, const char *opts, bool twin,
                       bool need_twin)
{
    ctx_init(t);
    t->qts = server_start(t->sock, opts);
    return client_setup(t, twin, need_twin);
}

/* A client that asks for twin-socket mode requires it */
static bool setup(TestCtx *t, bool twin)
{
    return setup_full(t, "", twin, twin);
}

static bool step_wait(TestCtx *t, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    bool done;

    if (!t->stepper) {
        return true;
    }
    g_mutex_lock(&t->lock);
    while (!t->step_done &&
           g_cond_wait_until(&t->cond, &t->lock, deadline)) {
        /* wait */
    }
    done = t->step_done;
    g_mutex_unlock(&t->lock);
    if (done) {
        g_thread_join(t->stepper);
        t->stepper = NULL;
    }
    return done;
}

static void teardown(TestCtx *t)
{
    /* The server may be waiting for a DMA reply: let it go first */
    vfu_raw_free(t->client);
    t->client = NULL;
    if (t->stepper && !step_wait(t, STEP_TIMEOUT_MS)) {
        /*
         * The server is stuck although the client is gone.  Kill it; the
         * stepper's libqtest call then aborts the test program, which is
         * the best a test can do with a server that hangs.
         */
        g_test_message("FAIL: server stuck in a clock step, killing it");
        kill(qtest_pid(t->qts), SIGKILL);
        g_thread_join(t->stepper);
    }
    if (t->qts) {
        qtest_quit(t->qts);
    }
    if (t->sock) {
        unlink(t->sock);
    }
    if (t->dir) {
        rmdir(t->dir);
    }
    g_free(t->sock);
    g_free(t->dir);
    g_mutex_clear(&t->lock);
    g_cond_clear(&t->cond);
}

static gpointer stepper_thread(gpointer opaque)
{
    TestCtx *t = opaque;

    qtest_clock_step(t->qts, EDU_DMA_DELAY_NS);
    g_mutex_lock(&t->lock);
    t->step_done = true;
    g_cond_broadcast(&t->cond);
    g_mutex_unlock(&t->lock);
    return NULL;
}

/* Step the clock so that edu's DMA timer runs; the server blocks in it */
static void step_start(TestCtx *t)
{
    g_assert(!t->stepper);
    t->step_done = false;
    t->stepper = g_thread_new("vfu-test-stepper", stepper_thread, t);
}

static bool edu_write(TestCtx *t, uint64_t reg, uint64_t val)
{
    int ret = vfu_raw_region_write(t->client, VFU_RAW_REGION_BAR0, reg,
                                   &val, sizeof(val));

    return check(ret == 0, "edu register 0x%" PRIx64 " write: %d", reg, ret);
}

/*
 * Program an edu DMA of @count bytes between client address @addr and
 * offset @buf_off of the device buffer, and start stepping the clock.
 */
static bool edu_dma_start(TestCtx *t, uint64_t addr, uint64_t buf_off,
                          uint64_t count, bool to_client)
{
    uint64_t src = to_client ? EDU_BUF + buf_off : addr;
    uint64_t dst = to_client ? addr : EDU_BUF + buf_off;

    if (!edu_write(t, EDU_REG_DMA_SRC, src) ||
        !edu_write(t, EDU_REG_DMA_DST, dst) ||
        !edu_write(t, EDU_REG_DMA_COUNT, count) ||
        !edu_write(t, EDU_REG_DMA_CMD,
                   EDU_DMA_RUN | (to_client ? EDU_DMA_TO_RAM : 0))) {
        return false;
    }
    step_start(t);
    return true;
}

/* Run an edu DMA to completion; the client answers as configured */
static bool edu_dma(TestCtx *t, uint64_t addr, uint64_t buf_off,
                    uint64_t count, bool to_client)
{
    return edu_dma_start(t, addr, buf_off, count, to_client) &&
           check(step_wait(t, STEP_TIMEOUT_MS),
                 "the server did not finish the DMA in %d ms",
                 STEP_TIMEOUT_MS);
}

static bool check_dma_count(TestCtx *t, size_t n)
{
    size_t got = vfu_raw_dma_records(t->client, NULL, 0);

    return check(got == n, "%zu DMA requests received, expected %zu", got, n);
}

/*
 * Check that @n DMA requests were received in total, and that the last
 * one is @cmd for [@addr, @addr + @count) on the expected socket.
 */
static bool check_dma_records(TestCtx *t, size_t n, uint16_t cmd,
                              uint64_t addr, uint64_t count)
{
    VfuRawDmaRecord rec[VFU_RAW_MAX_RECORDS];
    size_t got = vfu_raw_dma_records(t->client, rec, VFU_RAW_MAX_RECORDS);
    bool twin = vfu_raw_twin_active(t->client);
    VfuRawDmaRecord *r;
    uint32_t size;

    if (!check(got == n, "%zu DMA requests received, expected %zu",
               got, n)) {
        return false;
    }
    if (!n) {
        return true;
    }
    r = &rec[MIN(n, VFU_RAW_MAX_RECORDS) - 1];
    size = VFU_RAW_HDR_SIZE + 16 + (cmd == VFU_RAW_CMD_DMA_WRITE ? count : 0);
    return check(r->on_twin == twin, "DMA request arrived on the %s socket",
                 r->on_twin ? "twin" : "main") &&
           check(r->cmd == cmd, "DMA request cmd %u, expected %u",
                 r->cmd, cmd) &&
           check((r->flags & VFU_RAW_TYPE_MASK) == VFU_RAW_TYPE_COMMAND &&
                 !(r->flags & (VFU_RAW_FLAG_NO_REPLY | VFU_RAW_FLAG_ERROR)),
                 "DMA request flags 0x%x", r->flags) &&
           check(r->addr == addr, "DMA request addr 0x%" PRIx64
                 ", expected 0x%" PRIx64, r->addr, addr) &&
           check(r->count == count, "DMA request count %" PRIu64
                 ", expected %" PRIu64, r->count, count) &&
           check(r->size == size, "DMA request size %u, expected %u",
                 r->size, size);
}

/*
 * Check that requests @first.. are @cmd messages of @chunk bytes (the
 * last one may be shorter) that cover [@addr, @addr + @total) in order.
 */
static bool check_dma_chunks(TestCtx *t, size_t first, uint16_t cmd,
                             uint64_t addr, uint64_t total, uint64_t chunk)
{
    VfuRawDmaRecord rec[VFU_RAW_MAX_RECORDS];
    size_t n = first + DIV_ROUND_UP(total, chunk);
    size_t got = vfu_raw_dma_records(t->client, rec, VFU_RAW_MAX_RECORDS);
    size_t i;

    if (!check(got == n && n <= VFU_RAW_MAX_RECORDS,
               "%zu DMA requests received, expected %zu", got, n)) {
        return false;
    }
    for (i = first; i < n; i++) {
        uint64_t off = (i - first) * chunk;
        uint64_t count = MIN(chunk, total - off);

        if (!check(rec[i].on_twin == vfu_raw_twin_active(t->client) &&
                   rec[i].cmd == cmd && rec[i].addr == addr + off &&
                   rec[i].count == count,
                   "DMA request %zu: %s cmd %u addr 0x%" PRIx64
                   " count %" PRIu64 ", expected cmd %u addr 0x%" PRIx64
                   " count %" PRIu64, i, rec[i].on_twin ? "twin" : "main",
                   rec[i].cmd, rec[i].addr, rec[i].count, cmd, addr + off,
                   count)) {
            return false;
        }
    }
    return true;
}

static bool get_stat(TestCtx *t, const char *name, uint64_t *val)
{
    g_autoptr(QDict) rsp = qtest_qmp(t->qts,
        "{'execute': 'qom-get', 'arguments': "
        "{'path': '/objects/vfu0', 'property': %s}}", name);
    QNum *num = qobject_to(QNum, qdict_get(rsp, "return"));

    return check(num && qnum_get_try_uint(num, val),
                 "qom-get %s failed", name);
}

static bool server_alive(TestCtx *t)
{
    g_autoptr(QDict) rsp = NULL;

    if (!check(qtest_probe_child(t->qts), "the server process died")) {
        return false;
    }
    rsp = qtest_qmp(t->qts, "{'execute': 'query-status'}");
    return check(qdict_haskey(rsp, "return"), "QMP query-status failed");
}

/* Wait for VFU_CLIENT_HANGUP without blocking forever */
static bool wait_hangup_event(TestCtx *t)
{
    gint64 deadline = g_get_monotonic_time() +
                      EVENT_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

    do {
        g_autoptr(QDict) ev = NULL;

        /* Events that arrive before the reply are kept for event_ref */
        qobject_unref(qtest_qmp(t->qts, "{'execute': 'query-status'}"));
        ev = qtest_qmp_event_ref(t->qts, "VFU_CLIENT_HANGUP");
        if (ev) {
            return check(!strcmp(qdict_get_try_str(qdict_get_qdict(ev, "data"),
                                                   "vfu-id") ?: "", "vfu0"),
                         "VFU_CLIENT_HANGUP for another server");
        }
        g_usleep(20 * 1000);
    } while (g_get_monotonic_time() < deadline);

    return check(false, "no VFU_CLIENT_HANGUP event in %d ms",
                 EVENT_TIMEOUT_MS);
}

static bool wait_peer_closed(TestCtx *t)
{
    gint64 deadline = g_get_monotonic_time() +
                      EVENT_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

    while (!vfu_raw_peer_closed(t->client) &&
           g_get_monotonic_time() < deadline) {
        g_usleep(10 * 1000);
    }
    return check(vfu_raw_peer_closed(t->client),
                 "the server did not close the connection");
}

static bool map_range(TestCtx *t, uint32_t flags)
{
    int ret = vfu_raw_dma_map(t->client, MAP_BASE, MAP_SIZE, flags);

    return check(ret == 0, "DMA_MAP: %d", ret);
}

/* Negotiation with twin-socket mode */
static void test_version_twin(void)
{
    TestCtx t = { 0 };
    const VfuRawVersion *v;

    if (!setup(&t, true)) {
        goto out;
    }
    v = vfu_raw_version(t.client);
    check(v->major == 0 && v->minor == 0, "version %u.%u", v->major,
          v->minor);
    check(v->twin_supported, "twin_socket.supported is not true");
    check(v->has_fd_index && v->fd_index == 0 && v->nr_fds == 1,
          "fd_index %" PRId64 " with %zu fds", v->fd_index, v->nr_fds);
    check(v->max_data_xfer_size > 0, "no max_data_xfer_size");
    check(vfu_raw_stray_messages(t.client) == 0, "stray messages");
out:
    teardown(&t);
}

/* Negotiation without twin-socket mode: no fd, no offer */
static void test_version_no_twin(void)
{
    TestCtx t = { 0 };
    const VfuRawVersion *v;

    if (!setup(&t, false)) {
        goto out;
    }
    v = vfu_raw_version(t.client);
    check(v->major == 0 && v->minor == 0, "version %u.%u", v->major,
          v->minor);
    check(!v->twin_supported, "twin_socket offered to a client that did "
          "not ask for it");
    check(v->nr_fds == 0, "%zu fds with the VERSION reply", v->nr_fds);
    check(!vfu_raw_twin_active(t.client), "twin socket active");
out:
    teardown(&t);
}

/* A server with twin-socket mode off: no offer even to a client that asks */
static void test_version_twin_off(void)
{
    TestCtx t = { 0 };
    const VfuRawVersion *v;

    if (!setup_full(&t, ",\"x-twin-socket\":false", true, false)) {
        goto out;
    }
    v = vfu_raw_version(t.client);
    check(!v->twin_supported, "twin_socket offered with x-twin-socket=off");
    check(v->nr_fds == 0, "%zu fds with the VERSION reply", v->nr_fds);
    check(!vfu_raw_twin_active(t.client), "twin socket active");
out:
    teardown(&t);
}

/*
 * DMA in both directions at offsets inside the mapped range; each DMA is
 * exactly one message with the right address and count, on the twin
 * socket if there is one.
 */
static void do_test_dma(const char *opts, bool twin, bool need_twin)
{
    const uint64_t count = 0x800;
    const uint64_t src = MAP_BASE + 0x1234;
    const uint64_t dst = MAP_BASE + 0x8765;
    g_autofree uint8_t *pattern = g_malloc(count);
    g_autofree uint8_t *buf = g_malloc0(count);
    TestCtx t = { 0 };
    uint64_t val;

    fill_pattern(pattern, count, 0x5a);
    if (!setup_full(&t, opts, twin, need_twin) ||
        !map_range(&t, VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE)) {
        goto out;
    }
    vfu_raw_mem_write(t.client, src, pattern, count);

    /* Client to device: DMA_READ */
    if (!edu_dma(&t, src, 0x100, count, false) ||
        !check_dma_records(&t, 1, VFU_RAW_CMD_DMA_READ, src, count)) {
        goto out;
    }
    /* Device to client: DMA_WRITE of what the first DMA read */
    if (!edu_dma(&t, dst, 0x100, count, true) ||
        !check_dma_records(&t, 2, VFU_RAW_CMD_DMA_WRITE, dst, count)) {
        goto out;
    }
    vfu_raw_mem_read(t.client, dst, buf, count);
    if (!check(!memcmp(buf, pattern, count),
               "data written to the client differs from the data read")) {
        goto out;
    }
    check(vfu_raw_stray_messages(t.client) == 0, "stray messages");

    if (get_stat(&t, "x-dma-read-messages", &val)) {
        check(val == 1, "x-dma-read-messages %" PRIu64, val);
    }
    if (get_stat(&t, "x-dma-write-messages", &val)) {
        check(val == 1, "x-dma-write-messages %" PRIu64, val);
    }
    if (get_stat(&t, "x-dma-read-bytes", &val)) {
        check(val == count, "x-dma-read-bytes %" PRIu64, val);
    }
    if (get_stat(&t, "x-dma-write-bytes", &val)) {
        check(val == count, "x-dma-write-bytes %" PRIu64, val);
    }
    if (get_stat(&t, "x-dma-errors", &val)) {
        check(val == 0, "x-dma-errors %" PRIu64, val);
    }
out:
    teardown(&t);
}

static void test_dma_twin(void)
{
    do_test_dma("", true, true);
}

/* A client that does not ask for twin-socket mode: DMA on the main socket */
static void test_dma_single(void)
{
    do_test_dma("", false, false);
}

/*
 * A server with twin-socket mode off does not offer it to a client that
 * asks; such a client may go on with DMA on the main socket.
 */
static void test_dma_twin_refused(void)
{
    do_test_dma(",\"x-twin-socket\":false", true, false);
}

/*
 * A client with a small max_data_xfer_size: a DMA larger than that is split
 * into as few messages as allowed, none larger than the client's limit.
 */
static void test_dma_chunked(void)
{
    const uint64_t count = EDU_BUF_SIZE;
    const uint64_t chunk = 1024;
    const uint64_t src = MAP_BASE + 0x10001;
    const uint64_t dst = MAP_BASE + 0x20003;
    g_autofree uint8_t *pattern = g_malloc(count);
    g_autofree uint8_t *buf = g_malloc0(count);
    TestCtx t = { .max_xfer = chunk };

    fill_pattern(pattern, count, 0x99);
    if (!setup(&t, true) || !map_range(&t, VFU_RAW_DMA_READABLE |
                                       VFU_RAW_DMA_WRITEABLE)) {
        goto out;
    }
    vfu_raw_mem_write(t.client, src, pattern, count);
    if (!edu_dma(&t, src, 0, count, false) ||
        !check_dma_chunks(&t, 0, VFU_RAW_CMD_DMA_READ, src, count, chunk) ||
        !edu_dma(&t, dst, 0, count, true) ||
        !check_dma_chunks(&t, count / chunk, VFU_RAW_CMD_DMA_WRITE, dst,
                          count, chunk)) {
        goto out;
    }
    vfu_raw_mem_read(t.client, dst, buf, count);
    check(!memcmp(buf, pattern, count), "data differs after chunked DMA");
out:
    teardown(&t);
}

/*
 * While the server waits for a DMA reply, a REGION_READ on the main socket
 * is answered only after the DMA reply, correctly, and on the main socket.
 */
static void test_dma_concurrent_region_read(void)
{
    const uint64_t count = 0x400;
    const uint64_t src = MAP_BASE + 0x2000;
    const uint64_t dst = MAP_BASE + 0x3001;
    g_autofree uint8_t *pattern = g_malloc(count);
    g_autofree uint8_t *buf = g_malloc0(count);
    TestCtx t = { 0 };
    VfuRawReply *r = NULL;
    uint64_t released;
    uint32_t ident;
    int msg_id;

    fill_pattern(pattern, count, 0x33);
    if (!setup(&t, true) || !map_range(&t, VFU_RAW_DMA_READABLE |
                                       VFU_RAW_DMA_WRITEABLE)) {
        goto out;
    }
    vfu_raw_mem_write(t.client, src, pattern, count);
    vfu_raw_set_dma_action(t.client, VFU_RAW_DMA_HOLD, 0);
    if (!edu_dma_start(&t, src, 0, count, false) ||
        !check(vfu_raw_wait_dma(t.client, 1, DMA_TIMEOUT_MS),
               "no DMA request while the clock steps")) {
        goto out;
    }

    msg_id = vfu_raw_region_read_send(t.client, VFU_RAW_REGION_BAR0,
                                      EDU_REG_IDENT, sizeof(ident));
    if (!check(msg_id >= 0, "cannot send REGION_READ: %d", msg_id)) {
        goto out;
    }
    r = vfu_raw_wait_reply(t.client, msg_id, 300);
    if (!check(!r, "REGION_READ answered while the server waits for a "
               "DMA reply")) {
        goto out;
    }

    released = vfu_raw_mark(t.client);
    vfu_raw_release_dma(t.client);
    if (!check(step_wait(&t, STEP_TIMEOUT_MS),
               "the server did not finish the DMA after its reply")) {
        goto out;
    }
    r = vfu_raw_wait_reply(t.client, msg_id, DMA_TIMEOUT_MS);
    if (!check(r, "no REGION_READ reply after the DMA finished")) {
        goto out;
    }
    ident = 0;
    if (r->len == 16 + sizeof(ident)) {
        memcpy(&ident, r->payload + 16, sizeof(ident));
    }
    if (!check(!r->on_twin, "REGION_READ reply on the twin socket") ||
        !check(r->seq > released, "REGION_READ reply before the DMA reply") ||
        !check(!(r->flags & VFU_RAW_FLAG_ERROR) &&
               r->len == 16 + sizeof(ident) && ident == EDU_IDENT,
               "REGION_READ reply: flags 0x%x len %zu ident 0x%08x",
               r->flags, r->len, ident) ||
        !check_dma_records(&t, 1, VFU_RAW_CMD_DMA_READ, src, count)) {
        goto out;
    }

    /* The held DMA moved the right data */
    vfu_raw_set_dma_action(t.client, VFU_RAW_DMA_SERVE, 0);
    if (!edu_dma(&t, dst, 0, count, true) ||
        !check_dma_records(&t, 2, VFU_RAW_CMD_DMA_WRITE, dst, count)) {
        goto out;
    }
    vfu_raw_mem_read(t.client, dst, buf, count);
    check(!memcmp(buf, pattern, count), "data differs after the held DMA");
    check(vfu_raw_stray_messages(t.client) == 0, "stray messages");
out:
    vfu_raw_reply_free(r);
    teardown(&t);
}

/*
 * The client refuses a DMA with an error reply: the server counts it,
 * stays up and keeps the connection.
 */
static void test_dma_error_reply(void)
{
    const uint64_t count = 0x200;
    const uint64_t src = MAP_BASE + 0x10;
    const uint64_t dst = MAP_BASE + 0x4000;
    g_autofree uint8_t *pattern = g_malloc(count);
    g_autofree uint8_t *buf = g_malloc0(count);
    TestCtx t = { 0 };
    uint64_t errors, val;

    fill_pattern(pattern, count, 0xc1);
    if (!setup(&t, true) || !map_range(&t, VFU_RAW_DMA_READABLE |
                                       VFU_RAW_DMA_WRITEABLE) ||
        !get_stat(&t, "x-dma-errors", &errors)) {
        goto out;
    }
    vfu_raw_mem_write(t.client, src, pattern, count);

    vfu_raw_set_dma_action(t.client, VFU_RAW_DMA_ERROR, EIO);
    if (!edu_dma(&t, src, 0, count, false) ||
        !check_dma_records(&t, 1, VFU_RAW_CMD_DMA_READ, src, count) ||
        !server_alive(&t) ||
        !get_stat(&t, "x-dma-errors", &val) ||
        !check(val == errors + 1, "x-dma-errors %" PRIu64 " -> %" PRIu64,
               errors, val) ||
        !check(!vfu_raw_peer_closed(t.client),
               "the server closed the connection")) {
        goto out;
    }

    /* The connection still works */
    vfu_raw_set_dma_action(t.client, VFU_RAW_DMA_SERVE, 0);
    if (!edu_dma(&t, src, 0, count, false) ||
        !check_dma_records(&t, 2, VFU_RAW_CMD_DMA_READ, src, count) ||
        !edu_dma(&t, dst, 0, count, true) ||
        !check_dma_records(&t, 3, VFU_RAW_CMD_DMA_WRITE, dst, count)) {
        goto out;
    }
    vfu_raw_mem_read(t.client, dst, buf, count);
    check(!memcmp(buf, pattern, count), "data differs after an error reply");
out:
    teardown(&t);
}

/*
 * A DMA that the server cannot send: outside of every DMA_MAP range, or a
 * write to a range mapped read-only.  No message, one more error.
 */
static void do_test_dma_refused(bool read_only)
{
    const uint64_t count = 0x100;
    uint32_t flags = VFU_RAW_DMA_READABLE |
                     (read_only ? 0 : VFU_RAW_DMA_WRITEABLE);
    uint64_t addr = read_only ? MAP_BASE + 0x10 : MAP_BASE + 2 * MAP_SIZE;
    size_t n = 0;
    TestCtx t = { 0 };
    uint64_t errors, val;

    if (!setup(&t, true) || !map_range(&t, flags) ||
        !get_stat(&t, "x-dma-errors", &errors)) {
        goto out;
    }
    if (read_only) {
        /* Reading the read-only range works */
        if (!edu_dma(&t, addr, 0, count, false) ||
            !check_dma_records(&t, ++n, VFU_RAW_CMD_DMA_READ, addr, count)) {
            goto out;
        }
    }
    if (!edu_dma(&t, addr, 0, count, read_only) ||
        !check_dma_count(&t, n) ||
        !server_alive(&t) ||
        !get_stat(&t, "x-dma-errors", &val)) {
        goto out;
    }
    check(val == errors + 1, "x-dma-errors %" PRIu64 " -> %" PRIu64,
          errors, val);
    check(!vfu_raw_peer_closed(t.client), "the server closed the connection");
out:
    teardown(&t);
}

static void test_dma_unmapped(void)
{
    do_test_dma_refused(false);
}

static void test_dma_read_only(void)
{
    do_test_dma_refused(true);
}

typedef struct BadReplyCase {
    const char *name;
    VfuRawDmaAction action;
    bool to_client;
} BadReplyCase;

static const BadReplyCase bad_reply_cases[] = {
    { "bad-reply/msg-id/read", VFU_RAW_DMA_BAD_MSG_ID, false },
    { "bad-reply/msg-id/write", VFU_RAW_DMA_BAD_MSG_ID, true },
    { "bad-reply/count/read", VFU_RAW_DMA_BAD_COUNT, false },
    { "bad-reply/count/write", VFU_RAW_DMA_BAD_COUNT, true },
    { "bad-reply/addr/read", VFU_RAW_DMA_BAD_ADDR, false },
    { "bad-reply/addr/write", VFU_RAW_DMA_BAD_ADDR, true },
    { "bad-reply/short/read", VFU_RAW_DMA_SHORT, false },
    { "bad-reply/short/write", VFU_RAW_DMA_SHORT, true },
    { "bad-reply/command/read", VFU_RAW_DMA_COMMAND, false },
    { "hangup-during-dma/read", VFU_RAW_DMA_HANGUP, false },
    { "hangup-during-dma/write", VFU_RAW_DMA_HANGUP, true },
};

/*
 * A malformed DMA reply, or a client that closes both sockets while a DMA
 * is in flight: the server drops the client and stays up.
 */
static void test_dma_bad_reply(const void *opaque)
{
    const BadReplyCase *bc = opaque;
    const uint64_t count = 0x300;
    const uint64_t addr = MAP_BASE + 0x5008;
    TestCtx t = { 0 };

    if (!setup(&t, true) || !map_range(&t, VFU_RAW_DMA_READABLE |
                                       VFU_RAW_DMA_WRITEABLE)) {
        goto out;
    }
    vfu_raw_set_dma_action(t.client, bc->action, 0);
    if (!edu_dma(&t, addr, 0, count, bc->to_client) ||
        !check_dma_records(&t, 1, bc->to_client ? VFU_RAW_CMD_DMA_WRITE :
                           VFU_RAW_CMD_DMA_READ, addr, count) ||
        !wait_hangup_event(&t) ||
        !server_alive(&t)) {
        goto out;
    }
    if (bc->action != VFU_RAW_DMA_HANGUP) {
        wait_peer_closed(&t);
    }
out:
    teardown(&t);
}

/*
 * A memfd of @size bytes, or -1 (the case is then skipped); @sealed:
 * sealed against shrinking and growing, as the server wants a file it
 * maps (an unsealed one it reaches by message)
 */
static int memfd_sized(size_t size, bool sealed)
{
    int fd = memfd_create("vfio-user-server-test",
                          MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd < 0) {
        return -1;
    }
    if (ftruncate(fd, size) < 0 ||
        (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int memfd_of_size(size_t size)
{
    return memfd_sized(size, true);
}

/*
 * The client truncates the file it shared after DMA_MAP: the server took
 * SIGBUS at the device's next DMA.  A file not sealed against shrinking
 * is reached by message instead.
 */
static void test_map_fd_unsealed(void)
{
    const uint64_t size = 0x10000;
    TestCtx t = { 0 };
    int fd = memfd_sized(size, false);
    int ret;

    if (fd < 0) {
        g_test_skip("no memfd");
        return;
    }
    if (!setup(&t, true)) {
        goto out;
    }
    ret = vfu_raw_dma_map_fd(t.client, MAP_BASE, size,
                             VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE,
                             fd, 0);
    if (!check(ret == 0, "DMA_MAP of an unsealed memfd: %d", ret)) {
        goto out;
    }
    g_assert_cmpint(ftruncate(fd, 0), ==, 0);
    if (edu_dma(&t, MAP_BASE + 0x1000, 0, 0x100, true) &&
        server_alive(&t)) {
        check_dma_count(&t, 1);
    }
out:
    close(fd);
    teardown(&t);
}

/*
 * SET_IRQS whose start + count wraps past 2^32: the range check passed
 * and the server closed and overwrote memory far past its eventfds.
 */
static void test_set_irqs_wrap(void)
{
    g_autofree char *obj = NULL;
    Error *err = NULL;
    TestCtx t = { 0 };
    uint8_t p[20];
    int ret;

    ctx_init(&t);
    obj = server_object(t.sock, "");
    t.qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                        "-device nvme,id=dev0,serial=wrap "
                        "-object '%s'", obj);
    t.client = vfu_raw_connect(t.sock, false, 0, DMA_TIMEOUT_MS, &err);
    if (!check(t.client, "connect: %s", err ? error_get_pretty(err) : "?")) {
        error_free(err);
        goto out;
    }
    stl_le_p(p, sizeof(p));                         /* argsz */
    stl_le_p(p + 4, (1u << 2) | (1u << 5));         /* eventfd, trigger */
    stl_le_p(p + 8, 2);                             /* MSI-X */
    stl_le_p(p + 12, 1);                            /* start */
    stl_le_p(p + 16, UINT32_MAX);                   /* count */
    ret = vfu_raw_request(t.client, VFU_RAW_CMD_DEVICE_SET_IRQS, p,
                          sizeof(p), DMA_TIMEOUT_MS, NULL);
    check(ret == EINVAL, "SET_IRQS start 1 count 0xffffffff: %d", ret);
    server_alive(&t);
out:
    teardown(&t);
}

/* Whether the server still does message DMA after what the case did */
static bool dma_still_works(TestCtx *t, uint64_t addr)
{
    const uint64_t count = 0x40;
    uint8_t pattern[0x40], buf[0x40] = { 0 };
    size_t n = vfu_raw_dma_records(t->client, NULL, 0);

    fill_pattern(pattern, count, 0x77);
    vfu_raw_mem_write(t->client, addr, pattern, count);
    if (!edu_dma(t, addr, 0, count, false) ||
        !check_dma_records(t, n + 1, VFU_RAW_CMD_DMA_READ, addr, count) ||
        !edu_dma(t, addr + 0x100, 0, count, true) ||
        !check_dma_records(t, n + 2, VFU_RAW_CMD_DMA_WRITE, addr + 0x100,
                           count)) {
        return false;
    }
    vfu_raw_mem_read(t->client, addr + 0x100, buf, count);
    return check(!memcmp(buf, pattern, count), "DMA moved the wrong data");
}

/*
 * A second DMA_MAP of the range just mapped fails with EEXIST (it made
 * QEMU abort on a duplicate QOM child).
 */
static void test_map_duplicate(void)
{
    TestCtx t = { 0 };
    uint32_t rw = VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE;
    int ret;

    if (!setup(&t, true) || !map_range(&t, rw)) {
        goto out;
    }
    ret = vfu_raw_dma_map(t.client, MAP_BASE, MAP_SIZE, rw);
    if (!check(ret == EEXIST, "second DMA_MAP of the same range: %d", ret) ||
        !server_alive(&t)) {
        goto out;
    }
    dma_still_works(&t, MAP_BASE + 0x1000);
out:
    teardown(&t);
}

typedef struct BadMapCase {
    const char *name;
    uint64_t addr;
    uint64_t size;
    uint32_t flags;
} BadMapCase;

static const BadMapCase bad_map_cases[] = {
    { "size-zero", MAP_BASE, 0,
      VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE },
    { "wraps", UINT64_MAX - 0xfff, 0x2000,
      VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE },
    { "no-access", MAP_BASE, MAP_SIZE, 0 },
};

/* DMA_MAP without an fd that no range can be: EINVAL, nothing else */
static void test_map_bad(const void *opaque)
{
    const BadMapCase *bc = opaque;
    TestCtx t = { 0 };
    int ret;

    if (!setup(&t, true)) {
        goto out;
    }
    /* vfu_raw_dma_map() would allocate the size: send it by hand */
    ret = vfu_raw_dma_map_fd(t.client, bc->addr, bc->size, bc->flags, -1, 0);
    check(ret == EINVAL, "DMA_MAP %s: %d, expected EINVAL", bc->name, ret);
    server_alive(&t);
out:
    teardown(&t);
}

typedef struct FdMapCase {
    const char *name;
    size_t file_size;
    uint64_t offset;
    uint64_t size;
    uint32_t flags;
    int expect;             /* errno of the reply, 0 for success */
} FdMapCase;

static const FdMapCase fd_map_cases[] = {
    /* A device access past the end of the file was a SIGBUS */
    { "past-eof", 0x1000, 0, 0x10000,
      VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE, EINVAL },
    { "offset-past-eof", 0x4000, 0x3000, 0x2000,
      VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE, EINVAL },
    /* A device access was a SIGSEGV */
    { "no-access", 0x4000, 0, 0x4000, 0, EINVAL },
    /* The last bytes were not mapped: a device access was a SIGSEGV */
    { "unaligned-offset", 0x4000, 0x800, 0x2000,
      VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE, 0 },
};

/*
 * DMA_MAP with a file descriptor: refused unless the file holds the
 * range with some access; then the device's DMA to the end of the range
 * lands at the right place of the file.
 */
static void test_map_fd(const void *opaque)
{
    const FdMapCase *fc = opaque;
    const uint64_t count = 0x100;
    const uint64_t end = MAP_BASE + fc->size;
    uint8_t pattern[0x100], buf[0x100];
    TestCtx t = { 0 };
    uint64_t errors, val;
    int fd = memfd_of_size(fc->file_size);
    int ret;

    if (fd < 0) {
        g_test_skip("no memfd");
        return;
    }
    if (!setup(&t, true) || !get_stat(&t, "x-dma-errors", &errors)) {
        goto out;
    }
    ret = vfu_raw_dma_map_fd(t.client, MAP_BASE, fc->size, fc->flags, fd,
                             fc->offset);
    if (!check(ret == fc->expect, "DMA_MAP %s: %d, expected %d", fc->name,
               ret, fc->expect)) {
        goto out;
    }

    /* Device to client at the last bytes of the range, then back */
    fill_pattern(pattern, count, 0x3c);
    if (pwrite(fd, pattern, count, fc->offset + fc->size - count) !=
        (ssize_t)count ||
        !edu_dma(&t, end - count, 0, count, false) ||
        !edu_dma(&t, end - 2 * count, 0, count, true) ||
        !server_alive(&t) ||
        !get_stat(&t, "x-dma-errors", &val)) {
        goto out;
    }
    if (fc->expect) {
        /* Refused: the range does not exist, two failed accesses */
        check(val == errors + 2, "x-dma-errors %" PRIu64 " -> %" PRIu64,
              errors, val);
        goto out;
    }
    check(val == errors, "x-dma-errors %" PRIu64 " -> %" PRIu64, errors,
          val);
    check_dma_count(&t, 0);
    memset(buf, 0, sizeof(buf));
    if (check(pread(fd, buf, count, fc->offset + fc->size - 2 * count) ==
              (ssize_t)count, "pread")) {
        check(!memcmp(buf, pattern, count),
              "the device's DMA did not land at the file's offset");
    }
out:
    close(fd);
    teardown(&t);
}

/*
 * A device read from a range the client mapped write-only: the server
 * refuses it itself, without a DMA_READ to the client.
 */
static void test_dma_write_only(void)
{
    const uint64_t addr = MAP_BASE + 0x20;
    const uint64_t count = 0x80;
    TestCtx t = { 0 };
    uint64_t errors, val;

    if (!setup(&t, true) || !map_range(&t, VFU_RAW_DMA_WRITEABLE) ||
        !get_stat(&t, "x-dma-errors", &errors)) {
        goto out;
    }
    /* Writing works */
    if (!edu_dma(&t, addr, 0, count, true) ||
        !check_dma_records(&t, 1, VFU_RAW_CMD_DMA_WRITE, addr, count)) {
        goto out;
    }
    if (!edu_dma(&t, addr, 0, count, false) ||
        !check_dma_count(&t, 1) ||
        !server_alive(&t) ||
        !get_stat(&t, "x-dma-errors", &val)) {
        goto out;
    }
    check(val == errors + 1, "x-dma-errors %" PRIu64 " -> %" PRIu64, errors,
          val);
out:
    teardown(&t);
}

/*
 * max_data_xfer_size 0 or 2^32 (both were 0 after a cast to int, and
 * every DMA failed): the first is refused, the second is as good as the
 * server's own maximum.
 */
static void test_version_max_xfer(void)
{
    TestCtx t = { 0 };
    Error *err = NULL;
    VfuRawClient *bad;

    ctx_init(&t);
    t.qts = server_start(t.sock, "");
    bad = vfu_raw_connect_caps(t.sock,
                               "{\"capabilities\":{\"max_data_xfer_size\":0}}",
                               0, DMA_TIMEOUT_MS, &err);
    check(!bad, "VERSION with max_data_xfer_size 0 accepted");
    vfu_raw_free(bad);
    error_free(err);
    err = NULL;

    t.client = vfu_raw_connect_caps(t.sock,
        "{\"capabilities\":{\"max_data_xfer_size\":4294967296,"
        "\"twin_socket\":{\"supported\":true}}}",
        0, DMA_TIMEOUT_MS, &err);
    if (!check(t.client, "VERSION with max_data_xfer_size 2^32: %s",
               err ? error_get_pretty(err) : "?")) {
        error_free(err);
        goto out;
    }
    if (client_enable(&t) &&
        map_range(&t, VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE)) {
        dma_still_works(&t, MAP_BASE + 0x3000);
    }
out:
    teardown(&t);
}

/* A VERSION the server must refuse, and what comes with it */
typedef struct BadVersionCase {
    const char *name;
    uint16_t cmd;
    uint16_t major;
    const char *json;       /* NULL: none */
    bool with_fd;
} BadVersionCase;

static const BadVersionCase bad_version_cases[] = {
    { "bad-json", VFU_RAW_CMD_VERSION, 0, "{\"capabilities\":" },
    { "wrong-type", VFU_RAW_CMD_VERSION, 0,
      "{\"capabilities\":{\"max_msg_fds\":\"many\"}}" },
    { "major", VFU_RAW_CMD_VERSION, 1, NULL },
    { "fds", VFU_RAW_CMD_VERSION, 0, "{}", true },
    { "not-first", VFU_RAW_CMD_REGION_READ, 0, NULL },
};

/*
 * A client whose VERSION is refused gets an error reply and is dropped,
 * and the next client is served, with auto-shutdown on (QEMU aborted) and
 * off (the server never served a client again).
 */
static void do_test_version_bad(const BadVersionCase *bc, bool shutdown)
{
    TestCtx t = { 0 };
    g_autofree uint8_t *msg = NULL;
    g_autofree uint8_t *payload = NULL;
    size_t json_len = bc->json ? strlen(bc->json) + 1 : 0;
    size_t len = 4 + json_len;
    VfuRawReply *r = NULL;
    Error *err = NULL;
    int memfd = -1;
    size_t msg_len;
    int fd, ret;

    ctx_init(&t);
    t.qts = server_start_full(t.sock, shutdown, "");
    fd = vfu_raw_socket_connect(t.sock, DMA_TIMEOUT_MS, &err);
    if (!check(fd >= 0, "connect: %s", err ? error_get_pretty(err) : "?")) {
        error_free(err);
        goto out;
    }
    payload = g_malloc0(MAX(len, 16));
    payload[0] = bc->major;
    if (bc->json) {
        memcpy(payload + 4, bc->json, json_len);
    }
    if (bc->cmd != VFU_RAW_CMD_VERSION) {
        len = 16;
    }
    msg_len = vfu_raw_build_msg(&msg, 7, bc->cmd, VFU_RAW_TYPE_COMMAND,
                                payload, len);
    if (bc->with_fd) {
        memfd = memfd_of_size(4096);
    }
    ret = vfu_raw_socket_send(fd, msg, msg_len, &memfd, memfd >= 0);
    if (!check(ret == 0, "send: %d", ret)) {
        goto out_close;
    }
    ret = vfu_raw_socket_recv(fd, DMA_TIMEOUT_MS, &r);
    if (check(ret == 0, "no reply to a bad VERSION: %d", ret)) {
        check(r->msg_id == 7 && (r->flags & VFU_RAW_FLAG_ERROR) &&
              r->error_no != 0, "reply to a bad VERSION: msg_id %u flags "
              "0x%x errno %u", r->msg_id, r->flags, r->error_no);
        vfu_raw_reply_free(r);
        r = NULL;
        /* And then the server closes the connection */
        ret = vfu_raw_socket_recv(fd, DMA_TIMEOUT_MS, &r);
        check(ret == -ECONNRESET, "connection after a bad VERSION: %d", ret);
        vfu_raw_reply_free(r);
    }
out_close:
    close(fd);
    if (memfd >= 0) {
        close(memfd);
    }
    if (server_alive(&t) && client_setup(&t, true, true)) {
        server_alive(&t);
    }
out:
    teardown(&t);
}

static void test_version_bad(const void *opaque)
{
    do_test_version_bad(opaque, false);
}

static void test_version_bad_shutdown(const void *opaque)
{
    do_test_version_bad(opaque, true);
}

/* The socket file at @path: whether it exists and is a socket */
static bool socket_file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A socket file at @path; a listening socket fd if @listening, else -1 */
static int make_socket_file(const char *path, bool listening)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert(fd >= 0 && strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    g_assert(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    if (listening) {
        g_assert(listen(fd, 1) == 0);
        return fd;
    }
    /* Left behind as by a server that was killed */
    close(fd);
    return -1;
}

/* A leftover socket that nobody listens on is replaced (QEMU aborted). */
static void test_socket_stale(void)
{
    TestCtx t = { 0 };

    ctx_init(&t);
    make_socket_file(t.sock, false);
    t.qts = server_start(t.sock, "");
    client_setup(&t, true, true);
    teardown(&t);
}

/*
 * Run a server QEMU that must fail at start: exit status 1 and @msg on
 * stderr (it aborted).
 */
static void check_start_fails(const char *sock, const char *opts,
                              const char *msg)
{
    g_autofree char *obj = server_object(sock, opts);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    const char *argv[] = {
        "timeout", "-s", "KILL", "30", qtest_qemu_binary(NULL),
        "-machine", "x-remote,vfio-user=on", "-accel", "qtest",
        "-display", "none", "-nodefaults", "-device", "edu,id=dev0",
        "-object", obj, NULL,
    };
    GError *gerr = NULL;
    int status = -1;

    if (!check(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                            NULL, NULL, &out, &err, &status, &gerr),
               "cannot run QEMU: %s", gerr ? gerr->message : "?")) {
        g_clear_error(&gerr);
        return;
    }
    check(WIFEXITED(status) && WEXITSTATUS(status) == 1,
          "QEMU ended with status 0x%x, expected exit status 1", status);
    check(strstr(err, msg) != NULL, "QEMU said \"%s\", expected \"%s\"",
          err, msg);
}

/*
 * A socket that a server listens on, and a file that is not a socket,
 * are refused with a clear error, and left alone.
 */
static void test_socket_refused(void)
{
    TestCtx t = { 0 };
    int listen_fd;

    ctx_init(&t);
    listen_fd = make_socket_file(t.sock, true);
    check_start_fails(t.sock, "", "Another server listens on");
    check(socket_file_exists(t.sock), "the live socket was removed");
    close(listen_fd);
    unlink(t.sock);

    g_assert(g_file_set_contents(t.sock, "data", -1, NULL));
    check_start_fails(t.sock, "", "is not a socket");
    check(g_file_test(t.sock, G_FILE_TEST_IS_REGULAR),
          "the file was removed");
    teardown(&t);
}

static QDict *object_add(QTestState *qts, const char *id, const char *path)
{
    return qtest_qmp(qts, "{'execute': 'object-add', 'arguments': "
                     "{'qom-type': 'x-vfio-user-server', 'id': %s, "
                     "'device': 'dev0', 'socket': {'type': 'unix', "
                     "'path': %s}}}", id, path);
}

static bool qmp_ok(QDict *rsp, const char *what)
{
    bool ok = check(qdict_haskey(rsp, "return"), "%s failed", what);

    qobject_unref(rsp);
    return ok;
}

/*
 * object-add with a path in use gets an error reply, QEMU stays; the
 * server's socket goes with object-del, so that it can be added again,
 * and with QEMU's exit.
 */
static void test_socket_qmp(void)
{
    TestCtx t = { 0 };
    QDict *rsp;
    int listen_fd;

    ctx_init(&t);
    t.qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=on "
                        "-device edu,id=dev0");
    listen_fd = make_socket_file(t.sock, true);
    rsp = object_add(t.qts, "vfu0", t.sock);
    check(qdict_haskey(rsp, "error"), "object-add on a live socket worked");
    qobject_unref(rsp);
    close(listen_fd);
    unlink(t.sock);
    if (!server_alive(&t)) {
        goto out;
    }

    if (!qmp_ok(object_add(t.qts, "vfu0", t.sock), "object-add") ||
        !check(socket_file_exists(t.sock), "no socket after object-add") ||
        !qmp_ok(qtest_qmp(t.qts, "{'execute': 'object-del', 'arguments': "
                          "{'id': 'vfu0'}}"), "object-del") ||
        !check(!socket_file_exists(t.sock), "socket left by object-del") ||
        !qmp_ok(object_add(t.qts, "vfu0", t.sock), "object-add again") ||
        !client_setup(&t, true, true)) {
        goto out;
    }
    vfu_raw_free(t.client);
    t.client = NULL;
    /* auto-shutdown: QEMU exits after its last client */
    qtest_wait_qemu(t.qts);
    qtest_quit(t.qts);
    t.qts = NULL;
    check(!socket_file_exists(t.sock), "socket left at exit");
out:
    teardown(&t);
}

/* qom-set of an option once the server runs fails and changes nothing */
static bool option_frozen(TestCtx *t, const char *name, QObject *value)
{
    g_autoptr(QDict) rsp = qtest_qmp(t->qts,
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/vfu0', "
        "'property': %s, 'value': %p}}", name, value);
    QDict *err = qdict_get_qdict(rsp, "error");

    return check(err, "qom-set %s worked on a running server", name) &&
           check(strstr(qdict_get_str(err, "desc"),
                        "cannot change once the server runs"),
                 "qom-set %s: %s", name, qdict_get_str(err, "desc"));
}

static void test_options_frozen(void)
{
    TestCtx t = { 0 };
    uint64_t timeout, poll_us;

    ctx_init(&t);
    t.qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                        "-device edu,id=dev0");
    if (qmp_ok(object_add(t.qts, "vfu0", t.sock), "object-add") &&
        option_frozen(&t, "x-dma-timeout", QOBJECT(qnum_from_uint(5000))) &&
        option_frozen(&t, "max-dma-regions", QOBJECT(qnum_from_uint(2))) &&
        option_frozen(&t, "max-bounce-buffer-size",
                      QOBJECT(qnum_from_uint(8192))) &&
        option_frozen(&t, "x-twin-socket", QOBJECT(qbool_from_bool(false))) &&
        option_frozen(&t, "x-dma-block", QOBJECT(qbool_from_bool(false))) &&
        option_frozen(&t, "x-dma-poll-us", QOBJECT(qnum_from_uint(0))) &&
        get_stat(&t, "x-dma-timeout", &timeout) &&
        get_stat(&t, "x-dma-poll-us", &poll_us)) {
        check(timeout == 10000, "x-dma-timeout is %" PRIu64, timeout);
        check(poll_us == 500, "x-dma-poll-us is %" PRIu64, poll_us);
    }
    teardown(&t);
}

/* Class properties: -object x-vfio-user-server,help lists the options */
static void test_options_help(void)
{
    const char *options[] = {
        "max-bounce-buffer-size=<size>", "max-dma-regions=<uint32>",
        "x-dma-block=<bool>", "x-dma-poll-us=<uint32>",
        "x-dma-timeout=<uint32>", "x-sparse-mmap=<bool>",
        "x-twin-socket=<bool>",
    };
    const char *argv[] = {
        qtest_qemu_binary(NULL), "-object", "x-vfio-user-server,help", NULL
    };
    g_autofree char *out = NULL;
    g_autoptr(GError) err = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                               NULL, &status, &err));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        check(strstr(out, options[i]) != NULL, "-object help lacks %s:\n%s",
              options[i], out);
    }
}

/* The client's hang-up deletes the server, and its socket. */
static void test_socket_hangup(void)
{
    TestCtx t = { 0 };

    if (!setup(&t, true)) {
        goto out;
    }
    vfu_raw_hangup(t.client);
    if (wait_hangup_event(&t) && server_alive(&t)) {
        check(!socket_file_exists(t.sock), "socket left after hang-up");
    }
out:
    teardown(&t);
}

typedef struct Watchdog {
    QTestState *qts;
    GMutex lock;
    GCond cond;
    bool done;
} Watchdog;

static gpointer watchdog_thread(gpointer opaque)
{
    Watchdog *w = opaque;
    gint64 deadline = g_get_monotonic_time() + 2 * G_TIME_SPAN_SECOND;
    bool done;

    g_mutex_lock(&w->lock);
    while (!w->done && g_cond_wait_until(&w->cond, &w->lock, deadline)) {
        /* wait */
    }
    done = w->done;
    g_mutex_unlock(&w->lock);
    if (!done) {
        /* libqtest then aborts the test program: no way to go on */
        g_test_message("FAIL: QMP did not answer in 2 s, killing QEMU");
        kill(qtest_pid(w->qts), SIGKILL);
    }
    return NULL;
}

/* QMP answers within 2 s: the main loop does not wait for a client. */
static bool qmp_responsive(TestCtx *t)
{
    Watchdog w = { .qts = t->qts };
    GThread *thread;
    QDict *rsp;

    g_mutex_init(&w.lock);
    g_cond_init(&w.cond);
    thread = g_thread_new("vfu-test-watchdog", watchdog_thread, &w);
    rsp = qtest_qmp(t->qts, "{'execute': 'query-status'}");
    g_mutex_lock(&w.lock);
    w.done = true;
    g_cond_broadcast(&w.cond);
    g_mutex_unlock(&w.lock);
    g_thread_join(thread);
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
    return qmp_ok(rsp, "query-status");
}

/* How long a client may take with a message in the stall cases */
#define STALL_TIMEOUT_MS    500
#define STALL_OPTS          ",\"x-dma-timeout\":500"

/*
 * A client that connects and never sends VERSION: the main loop goes on,
 * the client is dropped after the time limit, and the next one served.
 */
static void test_stall_no_version(void)
{
    TestCtx t = { 0 };
    VfuRawReply *r = NULL;
    Error *err = NULL;
    int fd, ret;

    ctx_init(&t);
    t.qts = server_start(t.sock, STALL_OPTS);
    fd = vfu_raw_socket_connect(t.sock, DMA_TIMEOUT_MS, &err);
    if (!check(fd >= 0, "connect: %s", err ? error_get_pretty(err) : "?")) {
        error_free(err);
        goto out;
    }
    /* Let the server accept it first */
    g_usleep(100 * 1000);
    if (qmp_responsive(&t)) {
        ret = vfu_raw_socket_recv(fd, 10 * STALL_TIMEOUT_MS, &r);
        check(ret == -ECONNRESET, "silent client not dropped: %d", ret);
        vfu_raw_reply_free(r);
        client_setup(&t, true, true);
    }
    close(fd);
out:
    teardown(&t);
}

/* A REGION_WRITE of @count bytes at @offset of BAR0, as a message */
static size_t region_write_msg(uint8_t **msg, uint16_t msg_id,
                               uint64_t offset, const void *data,
                               uint32_t count)
{
    g_autofree uint8_t *payload = g_malloc(16 + count);
    uint32_t region = VFU_RAW_REGION_BAR0;

    memcpy(payload, &offset, 8);
    memcpy(payload + 8, &region, 4);
    memcpy(payload + 12, &count, 4);
    memcpy(payload + 16, data, count);
    return vfu_raw_build_msg(msg, msg_id, VFU_RAW_CMD_REGION_WRITE,
                             VFU_RAW_TYPE_COMMAND, payload, 16 + count);
}

/*
 * A message whose body comes in two parts, with a pause between them:
 * the main loop goes on meanwhile, and the message is served whole.
 * Then one larger than the socket buffer: one reply, no stray parsing.
 */
static void test_stall_split_body(void)
{
    const uint32_t big = 64 * 1024;
    g_autofree uint8_t *msg = NULL;
    g_autofree uint8_t *zeros = g_malloc0(big);
    uint32_t val = 0x12345678, back = 0;
    VfuRawReply *r = NULL;
    uint16_t msg_id;
    size_t len;
    int ret;

    TestCtx t = { 0 };

    ctx_init(&t);
    t.qts = server_start(t.sock, STALL_OPTS);
    if (!client_setup(&t, true, true)) {
        goto out;
    }
    /* edu's liveness register 0x04 reads back the complement */
    msg_id = vfu_raw_next_msg_id(t.client);
    len = region_write_msg(&msg, msg_id, 0x04, &val, sizeof(val));
    if (!check(vfu_raw_send_bytes(t.client, msg, len - 2) == 0, "send") ||
        !qmp_responsive(&t) ||
        !check(vfu_raw_send_bytes(t.client, msg + len - 2, 2) == 0, "send")) {
        goto out;
    }
    r = vfu_raw_wait_reply(t.client, msg_id, VFU_RAW_TIMEOUT_MS);
    if (!check(r && !(r->flags & VFU_RAW_FLAG_ERROR),
               "REGION_WRITE in two parts: %s", r ? "error reply" : "none")) {
        goto out;
    }
    ret = vfu_raw_region_read(t.client, VFU_RAW_REGION_BAR0, 0x04, &back,
                              sizeof(back));
    if (!check(ret == 0 && back == ~val, "liveness register: %d 0x%x", ret,
               back)) {
        goto out;
    }

    vfu_raw_reply_free(r);
    r = NULL;
    g_free(msg);
    msg_id = vfu_raw_next_msg_id(t.client);
    len = region_write_msg(&msg, msg_id, 0x10000, zeros, big);
    if (!check(vfu_raw_send_bytes(t.client, msg, len / 3) == 0, "send")) {
        goto out;
    }
    g_usleep(50 * 1000);
    if (!check(vfu_raw_send_bytes(t.client, msg + len / 3,
                                  len - len / 3) == 0, "send")) {
        goto out;
    }
    r = vfu_raw_wait_reply(t.client, msg_id, VFU_RAW_TIMEOUT_MS);
    if (!check(r && !(r->flags & VFU_RAW_FLAG_ERROR),
               "REGION_WRITE of 64 KiB in two parts: %s",
               r ? "error reply" : "none")) {
        goto out;
    }
    client_enable(&t);
    check(vfu_raw_stray_messages(t.client) == 0, "stray messages");
out:
    vfu_raw_reply_free(r);
    teardown(&t);
}

/*
 * A message whose body never comes: the main loop goes on, and the
 * client is dropped after the time limit.
 */
static void test_stall_late_body(void)
{
    g_autofree uint8_t *msg = NULL;
    uint32_t val = 1;
    size_t len;
    TestCtx t = { 0 };

    ctx_init(&t);
    t.qts = server_start(t.sock, STALL_OPTS);
    if (!client_setup(&t, true, true)) {
        goto out;
    }
    len = region_write_msg(&msg, vfu_raw_next_msg_id(t.client), 0x04, &val,
                           sizeof(val));
    if (check(vfu_raw_send_bytes(t.client, msg, len - 1) == 0, "send") &&
        qmp_responsive(&t) && wait_hangup_event(&t)) {
        wait_peer_closed(&t);
    }
out:
    teardown(&t);
}

/*
 * max-dma-regions: announced as max_dma_maps, and a map beyond it is
 * refused with ENOSPC (libvfio-user's fixed 16 was a bare EINVAL).
 */
static void test_map_max_regions(void)
{
    TestCtx t = { 0 };
    uint32_t rw = VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE;
    const char *json;
    int i, ret;

    if (!setup_full(&t, ",\"max-dma-regions\":20", true, true)) {
        goto out;
    }
    json = vfu_raw_version(t.client)->json ?: "";
    check(strstr(json, "\"max_dma_maps\":20") != NULL,
          "VERSION reply without max_dma_maps 20: %s", json);
    /* More than libvfio-user's old limit of 16 */
    for (i = 0; i < 20; i++) {
        ret = vfu_raw_dma_map_fd(t.client, MAP_BASE + i * 0x1000, 0x1000, rw,
                                 -1, 0);
        if (!check(ret == 0, "DMA_MAP %d of 20: %d", i, ret)) {
            goto out;
        }
    }
    ret = vfu_raw_dma_map_fd(t.client, MAP_BASE + i * 0x1000, 0x1000, rw,
                             -1, 0);
    check(ret == ENOSPC, "DMA_MAP beyond max-dma-regions: %d", ret);
    server_alive(&t);
out:
    teardown(&t);
}

/* Options out of range: x-dma-timeout=0 waited forever with the BQL */
static void test_bad_options(void)
{
    TestCtx t = { 0 };

    ctx_init(&t);
    check_start_fails(t.sock, ",\"x-dma-timeout\":0",
                      "x-dma-timeout must be between 1 and 60000");
    check_start_fails(t.sock, ",\"max-dma-regions\":0",
                      "max-dma-regions must be between 1 and 65535");
    check_start_fails(t.sock, ",\"x-dma-poll-us\":1000001",
                      "x-dma-poll-us must be at most 1000000");
    teardown(&t);
}

/*
 * Two servers in one QEMU whose clients put BAR0 at the same address:
 * each client reaches its own device (BAR accesses looked the address
 * up in the server's memory, where the last BAR placed there won), and
 * each server numbers its DMA requests on its own.
 */
static void test_two_servers(void)
{
    TestCtx a = { 0 }, b = { 0 };
    g_autofree char *obj_a = NULL;
    g_autofree char *obj_b = NULL;
    VfuRawDmaRecord rec_a[2], rec_b[2];
    uint32_t rw = VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE;
    uint32_t val_a = 0x11111111, val_b = 0x22222222, got_a = 0, got_b = 0;

    ctx_init(&a);
    ctx_init(&b);
    obj_a = server_object(a.sock, "");
    obj_b = g_strdup_printf("{\"qom-type\":\"x-vfio-user-server\","
                            "\"id\":\"vfu1\",\"device\":\"dev1\","
                            "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}}",
                            b.sock);
    a.qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                        "-device edu,id=dev0 -device edu,id=dev1 "
                        "-object '%s' -object '%s'", obj_a, obj_b);
    b.qts = a.qts;
    if (!client_setup(&a, true, true) || !client_setup(&b, true, true)) {
        goto out;
    }
    /* edu's liveness register reads back the complement of a write */
    if (!check(vfu_raw_region_write(a.client, VFU_RAW_REGION_BAR0, 0x04,
                                    &val_a, 4) == 0 &&
               vfu_raw_region_write(b.client, VFU_RAW_REGION_BAR0, 0x04,
                                    &val_b, 4) == 0 &&
               vfu_raw_region_read(a.client, VFU_RAW_REGION_BAR0, 0x04,
                                   &got_a, 4) == 0 &&
               vfu_raw_region_read(b.client, VFU_RAW_REGION_BAR0, 0x04,
                                   &got_b, 4) == 0, "BAR0 accesses") ||
        !check(got_a == ~val_a && got_b == ~val_b,
               "liveness registers: 0x%x and 0x%x, expected 0x%x and 0x%x",
               got_a, got_b, ~val_a, ~val_b)) {
        goto out;
    }
    if (!map_range(&a, rw) || !map_range(&b, rw) ||
        !edu_dma(&a, MAP_BASE, 0, 0x10, false) ||
        !edu_dma(&a, MAP_BASE, 0, 0x10, false) ||
        !edu_dma(&b, MAP_BASE, 0, 0x10, false) ||
        !edu_dma(&b, MAP_BASE, 0, 0x10, false) ||
        !check_dma_count(&a, 2) || !check_dma_count(&b, 2)) {
        goto out;
    }
    vfu_raw_dma_records(a.client, rec_a, 2);
    vfu_raw_dma_records(b.client, rec_b, 2);
    check(rec_b[0].msg_id == rec_a[0].msg_id &&
          rec_b[1].msg_id == (uint16_t)(rec_b[0].msg_id + 1),
          "msg_ids: first server %u %u, second server %u %u",
          rec_a[0].msg_id, rec_a[1].msg_id, rec_b[0].msg_id,
          rec_b[1].msg_id);
out:
    b.qts = NULL;
    teardown(&b);
    teardown(&a);
}

/*
 * The seeded fuzzer: a client that sends valid and invalid requests in
 * random order, answers DMA badly, splits and delays messages, hangs up
 * and comes back.  Every request must get a reply or the connection
 * closed, QEMU must stay up, and device DMA must still move the right
 * bytes at the end.  VFU_FUZZ_SEED and VFU_FUZZ_STEPS (default 1 and
 * 150) choose the run; a failure prints the seed and step to replay.
 */
typedef struct Fuzz {
    TestCtx t;
    GRand *rand;
    unsigned drops;
    unsigned replies;
} Fuzz;

/* The range the fuzzer keeps mapped, for device DMA */
#define FUZZ_MAP_BASE       MAP_BASE
#define FUZZ_MAP_SIZE       MAP_SIZE

static uint32_t fuzz_int(Fuzz *f, uint32_t n)
{
    return g_rand_int_range(f->rand, 0, n);
}

/* Random bytes, with a bias to values near the edges */
static uint64_t fuzz_u64(Fuzz *f)
{
    static const uint64_t edges[] = {
        0, 1, 0xfff, 0x1000, 0x10000, 0x100000, 0x7fffffff, 0x80000000,
        0xffffffff, 0x100000000ULL, INT64_MAX, UINT64_MAX, UINT64_MAX - 0xfff,
    };

    if (fuzz_int(f, 2)) {
        return edges[fuzz_int(f, ARRAY_SIZE(edges))];
    }
    return ((uint64_t)g_rand_int(f->rand) << 32) | g_rand_int(f->rand);
}

/* The client is gone (dropped or hung up): serve a new one */
static bool fuzz_reconnect(Fuzz *f)
{
    TestCtx *t = &f->t;
    QDict *rsp;

    vfu_raw_hangup(t->client);
    if (!wait_hangup_event(t)) {
        return false;
    }
    vfu_raw_free(t->client);
    t->client = NULL;
    f->drops++;
    /* The hang-up deleted the server object, and its socket */
    rsp = qtest_qmp(t->qts, "{'execute': 'object-add', 'arguments': "
                    "{'qom-type': 'x-vfio-user-server', 'id': 'vfu0', "
                    "'device': 'dev0', 'x-dma-timeout': 500, "
                    "'socket': {'type': 'unix', 'path': %s}}}", t->sock);
    if (!qmp_ok(rsp, "object-add after a hang-up")) {
        return false;
    }
    return client_setup(t, fuzz_int(f, 4) != 0, false) &&
           map_range(t, VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE);
}

/* A request with a random payload; any reply will do */
static bool fuzz_request(Fuzz *f, uint16_t cmd, const void *payload,
                         size_t len)
{
    int ret = vfu_raw_request(f->t.client, cmd, payload, len,
                              VFU_RAW_TIMEOUT_MS, NULL);

    if (ret == -ECONNRESET || ret == -EPIPE) {
        /* Dropped by an earlier step: the caller reconnects */
        return wait_peer_closed(&f->t);
    }
    f->replies++;
    return check(ret >= 0, "command %u of %zu bytes: no reply (%d)", cmd,
                 len, ret);
}

/*
 * A connection that does not wait for a full backlog: the server accepts
 * nobody while it has a client.  -1 if none.
 */
static int connect_nonblocking(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    g_assert(fd >= 0 && strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool fuzz_step(Fuzz *f)
{
    TestCtx *t = &f->t;
    uint8_t payload[256];
    uint64_t a, b;
    size_t len;

    for (len = 0; len < sizeof(payload); len++) {
        payload[len] = g_rand_int(f->rand);
    }
    switch (fuzz_int(f, 10)) {
    case 0: {               /* DMA_MAP without fd, anywhere */
        struct QEMU_PACKED {
            uint32_t argsz, flags;
            uint64_t offset, addr, size;
        } m = {
            .argsz = fuzz_int(f, 4) ? 32 : fuzz_u64(f),
            .flags = fuzz_int(f, 5),
            .addr = fuzz_u64(f),
            .size = fuzz_u64(f),
        };
        return fuzz_request(f, VFU_RAW_CMD_DMA_MAP, &m, fuzz_int(f, 8) ?
                            sizeof(m) : fuzz_int(f, sizeof(m)));
    }
    case 1: {               /* DMA_UNMAP of anything but the test's range */
        struct QEMU_PACKED {
            uint32_t argsz, flags;
            uint64_t addr, size;
        } u = {
            .argsz = fuzz_int(f, 4) ? 24 : fuzz_u64(f),
            .flags = fuzz_int(f, 4),
            .addr = fuzz_u64(f),
            .size = fuzz_u64(f),
        };
        if (u.addr == FUZZ_MAP_BASE) {
            u.addr++;
        }
        return fuzz_request(f, VFU_RAW_CMD_DMA_UNMAP, &u, sizeof(u));
    }
    case 2:                 /* REGION_READ/WRITE, in and out of bounds */
    case 3: {
        struct QEMU_PACKED {
            uint64_t offset;
            uint32_t region, count;
        } r = {
            .offset = fuzz_int(f, 3) ? fuzz_int(f, 0x80) : fuzz_u64(f),
            .region = fuzz_int(f, 4) ? fuzz_int(f, 2) * 7 : fuzz_int(f, 12),
            .count = fuzz_int(f, 4) ? 1 << fuzz_int(f, 4) : fuzz_u64(f),
        };
        bool write = fuzz_int(f, 2);

        /*
         * No writes to config space, which could move BAR0, nor to edu's
         * DMA registers, which could start a DMA that nobody waits for.
         */
        if (write) {
            r.region = VFU_RAW_REGION_BAR0;
            r.offset %= EDU_REG_DMA_SRC;
        }
        memcpy(payload, &r, sizeof(r));
        return fuzz_request(f, write ? VFU_RAW_CMD_REGION_WRITE :
                            VFU_RAW_CMD_REGION_READ, payload,
                            sizeof(r) + (write ? fuzz_int(f, 16) : 0));
    }
    case 4:                 /* any command, any payload */
        return fuzz_request(f, fuzz_int(f, 40), payload,
                            fuzz_int(f, sizeof(payload)));
    case 5: {               /* a valid request split, with a pause */
        g_autofree uint8_t *msg = NULL;
        uint16_t id = vfu_raw_next_msg_id(t->client);
        uint32_t val = g_rand_int(f->rand);
        VfuRawReply *r;
        size_t cut;

        len = region_write_msg(&msg, id, 0x04, &val, sizeof(val));
        cut = 1 + fuzz_int(f, len - 1);
        if (vfu_raw_send_bytes(t->client, msg, cut) < 0) {
            return true;
        }
        g_usleep(fuzz_int(f, 100) * 1000);
        if (vfu_raw_send_bytes(t->client, msg + cut, len - cut) < 0) {
            return true;
        }
        r = vfu_raw_wait_reply(t->client, id, VFU_RAW_TIMEOUT_MS);
        f->replies += !!r;
        check(r || vfu_raw_peer_closed(t->client),
              "no reply to a REGION_WRITE cut after %zu bytes", cut);
        vfu_raw_reply_free(r);
        return true;
    }
    case 6: {               /* a header the server cannot take */
        g_autofree uint8_t *msg = NULL;

        len = vfu_raw_build_msg(&msg, vfu_raw_next_msg_id(t->client),
                                fuzz_int(f, 20), fuzz_int(f, 64), NULL, 0);
        a = fuzz_int(f, 2) ? fuzz_int(f, 16) : 0x7fffffff;
        memcpy(msg + 4, &a, 4);
        vfu_raw_send_bytes(t->client, msg, len);
        return check(wait_peer_closed(t), "bad size not dropped");
    }
    case 7: {               /* device DMA answered in a random way */
        static const VfuRawDmaAction actions[] = {
            VFU_RAW_DMA_SERVE, VFU_RAW_DMA_SERVE, VFU_RAW_DMA_ERROR,
            VFU_RAW_DMA_BAD_MSG_ID, VFU_RAW_DMA_BAD_COUNT,
            VFU_RAW_DMA_BAD_ADDR, VFU_RAW_DMA_SHORT, VFU_RAW_DMA_HANGUP,
        };
        VfuRawDmaAction action = actions[fuzz_int(f, ARRAY_SIZE(actions))];
        size_t n = vfu_raw_dma_records(t->client, NULL, 0);

        a = FUZZ_MAP_BASE + fuzz_int(f, FUZZ_MAP_SIZE);
        b = 1 + fuzz_int(f, EDU_BUF_SIZE);
        vfu_raw_set_dma_action(t->client, action, EIO);
        edu_dma(t, fuzz_int(f, 8) ? a : fuzz_u64(f) & ~0xfffULL, 0,
                MIN(b, FUZZ_MAP_BASE + FUZZ_MAP_SIZE - a), fuzz_int(f, 2));
        vfu_raw_set_dma_action(t->client, VFU_RAW_DMA_SERVE, 0);
        /* A client that hung up, if the device did DMA, comes back */
        return action != VFU_RAW_DMA_HANGUP ||
               vfu_raw_dma_records(t->client, NULL, 0) == n ||
               fuzz_reconnect(f);
    }
    case 8: {               /* another client that gets nowhere */
        g_autofree uint8_t *msg = NULL;
        int fd = connect_nonblocking(t->sock);

        if (fd >= 0) {
            len = vfu_raw_build_msg(&msg, 1, VFU_RAW_CMD_VERSION, 0,
                                    payload, fuzz_int(f, 32));
            vfu_raw_socket_send(fd, msg, fuzz_int(f, len + 1), NULL, 0);
            close(fd);
        }
        return true;
    }
    default:                /* hang up and come back */
        return fuzz_reconnect(f);
    }
}

static void test_fuzz(void)
{
    const char *seed_env = getenv("VFU_FUZZ_SEED");
    const char *steps_env = getenv("VFU_FUZZ_STEPS");
    unsigned int seed = 1, steps = 150;
    Fuzz f = { 0 };
    unsigned i;

    g_assert(!seed_env || qemu_strtoui(seed_env, NULL, 0, &seed) == 0);
    g_assert(!steps_env || qemu_strtoui(steps_env, NULL, 0, &steps) == 0);
    f.rand = g_rand_new_with_seed(seed);
    g_test_message("fuzzer: seed %u, %u steps", seed, steps);
    ctx_init(&f.t);
    f.t.qts = server_start(f.t.sock, ",\"x-dma-timeout\":500");
    if (!client_setup(&f.t, true, true) ||
        !map_range(&f.t, VFU_RAW_DMA_READABLE | VFU_RAW_DMA_WRITEABLE)) {
        goto out;
    }
    for (i = 0; i < steps; i++) {
        if (!fuzz_step(&f) || !server_alive(&f.t) ||
            (vfu_raw_peer_closed(f.t.client) && !fuzz_reconnect(&f))) {
            g_test_message("FAIL: fuzzer seed %u, step %u", seed, i);
            goto out;
        }
    }
    /* Whatever happened, DMA still moves the right bytes (new records) */
    if (!fuzz_reconnect(&f)) {
        goto out;
    }
    dma_still_works(&f.t, FUZZ_MAP_BASE + 0x1000);
    g_test_message("fuzzer: %u replies, %u clients dropped", f.replies,
                   f.drops);
out:
    g_rand_free(f.rand);
    teardown(&f.t);
}

/*
 * Sparse mmap areas: ivshmem-plain exports its memory backend as BAR 2.
 * The backend is a file of the test's, so the test sees the device's
 * bytes without going through either QEMU.
 */
#define IVSHMEM_BAR             2
#define IVSHMEM_SIZE            (1024 * 1024)

/* <linux/vfio.h> */
#define REGION_INFO_FLAG_MMAP   (1u << 2)
#define REGION_INFO_FLAG_CAPS   (1u << 3)
#define REGION_INFO_CAP_SPARSE  1

typedef struct RegionInfo {
    uint32_t flags;
    uint64_t size;
    uint64_t offset;        /* of the region in the fd */
    uint32_t nr_areas;      /* from the sparse mmap capability */
    uint64_t area_offset[4];
    uint64_t area_size[4];
    int fd;                 /* -1: none came */
} RegionInfo;

/* REGION_INFO of @index, with room for the capabilities */
static bool region_info(VfuRawClient *c, uint32_t index, RegionInfo *ri)
{
    uint8_t req[256] = { 0 };
    VfuRawReply *r = NULL;
    uint32_t cap_offset;
    int ret;

    stl_le_p(req, sizeof(req));             /* argsz */
    stl_le_p(req + 8, index);
    memset(ri, 0, sizeof(*ri));
    ri->fd = -1;
    ret = vfu_raw_request(c, VFU_RAW_CMD_REGION_INFO, req, 32,
                          VFU_RAW_TIMEOUT_MS, &r);
    if (!check(ret == 0 && r->len >= 32, "REGION_INFO %u: %d", index, ret)) {
        vfu_raw_reply_free(r);
        return false;
    }
    ri->flags = ldl_le_p(r->payload + 4);
    cap_offset = ldl_le_p(r->payload + 12);
    ri->size = ldq_le_p(r->payload + 16);
    ri->offset = ldq_le_p(r->payload + 24);
    if (r->nr_fds) {
        ri->fd = dup(r->fds[0]);
    }
    /* Walk the capability chain within the payload. */
    while ((ri->flags & REGION_INFO_FLAG_CAPS) && cap_offset &&
           check(cap_offset + 8 <= r->len, "capability beyond the reply")) {
        const uint8_t *cap = r->payload + cap_offset;

        if (lduw_le_p(cap) == REGION_INFO_CAP_SPARSE &&
            check(cap_offset + 16 <= r->len, "short sparse capability")) {
            uint32_t i;

            ri->nr_areas = ldl_le_p(cap + 8);
            for (i = 0; i < ri->nr_areas && i < ARRAY_SIZE(ri->area_offset) &&
                        cap_offset + 16 + (i + 1) * 16 <= r->len; i++) {
                ri->area_offset[i] = ldq_le_p(cap + 16 + i * 16);
                ri->area_size[i] = ldq_le_p(cap + 24 + i * 16);
            }
        }
        cap_offset = ldl_le_p(cap + 4);
    }
    vfu_raw_reply_free(r);
    return true;
}

typedef struct SparseCase {
    const char *name;
    const char *backend;    /* memory-backend-... with id=shm, %s: file */
    const char *opts;       /* more server object members */
    const char *caps;       /* the client's VERSION JSON, NULL: default */
    bool offered;           /* the server offers BAR 2 for mmap */
    bool mapped;            /* the client gets it as an mmap area */
} SparseCase;

static const SparseCase sparse_cases[] = {
    { "shared-file", "memory-backend-file,mem-path=%s,share=on", "", NULL,
      true, true },
    { "off", "memory-backend-file,mem-path=%s,share=on",
      ",\"x-sparse-mmap\":false", NULL, false, false },
    { "private-file", "memory-backend-file,mem-path=%s,share=off", "", NULL,
      false, false },
    { "no-fd", "memory-backend-ram", "", NULL, false, false },
    /* A client that takes no fd gets the BAR without areas */
    { "client-without-fds", "memory-backend-file,mem-path=%s,share=on", "",
      "{\"capabilities\":{\"max_msg_fds\":0}}", true, false },
};

static void test_sparse(const void *opaque)
{
    const SparseCase *sc = opaque;
    g_autofree char *file = NULL;
    g_autofree char *backend = NULL;
    g_autofree char *obj = NULL;
    uint8_t *dev_mem = MAP_FAILED, *client_map = MAP_FAILED;
    uint8_t buf[64], pattern[64];
    uint64_t reads = 0, writes = 0, mapped = 0;
    Error *err = NULL;
    RegionInfo ri = { .fd = -1 };
    TestCtx t = { 0 };
    int file_fd = -1;

    ctx_init(&t);
    file = g_build_filename(t.dir, "shm", NULL);
    backend = g_strdup_printf(sc->backend, file);
    obj = server_object(t.sock, sc->opts);
    t.qts = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                        "-object %s,id=shm,size=%d "
                        "-device ivshmem-plain,id=dev0,memdev=shm "
                        "-object '%s'", backend, IVSHMEM_SIZE, obj);
    if (strstr(sc->backend, "mem-path")) {
        file_fd = open(file, O_RDWR);
        g_assert(file_fd >= 0);
        dev_mem = mmap(NULL, IVSHMEM_SIZE, PROT_READ | PROT_WRITE,
                       MAP_SHARED, file_fd, 0);
        g_assert(dev_mem != MAP_FAILED);
    }
    t.client = sc->caps ? vfu_raw_connect_caps(t.sock, sc->caps, 0,
                                               DMA_TIMEOUT_MS, &err)
                        : vfu_raw_connect(t.sock, false, 0, DMA_TIMEOUT_MS,
                                          &err);
    if (!check(t.client, "connect: %s", err ? error_get_pretty(err) : "?") ||
        !region_info(t.client, IVSHMEM_BAR, &ri) ||
        !check(ri.size == IVSHMEM_SIZE, "BAR 2 size 0x%" PRIx64, ri.size)) {
        goto out;
    }
    get_stat(&t, "x-sparse-mapped-bytes", &mapped);
    check(mapped == (sc->offered ? IVSHMEM_SIZE : 0),
          "%" PRIu64 " bytes offered", mapped);

    if (!sc->mapped) {
        check(!(ri.flags & REGION_INFO_FLAG_MMAP) && ri.nr_areas == 0 &&
              ri.fd < 0,
              "BAR 2 offered for mmap: flags 0x%x, %u areas, fd %d",
              ri.flags, ri.nr_areas, ri.fd);
        check(vfu_raw_region_read(t.client, IVSHMEM_BAR, 0, buf,
                                  sizeof(buf)) == 0,
              "REGION_READ of BAR 2 failed");
        goto out;
    }
    if (!check((ri.flags & REGION_INFO_FLAG_MMAP) && ri.nr_areas == 1 &&
               ri.area_offset[0] == 0 && ri.area_size[0] == IVSHMEM_SIZE &&
               ri.fd >= 0 && mapped == IVSHMEM_SIZE,
               "BAR 2 not offered whole: flags 0x%x, %u areas, "
               "[0x%" PRIx64 ", +0x%" PRIx64 "), fd %d, %" PRIu64 " bytes",
               ri.flags, ri.nr_areas, ri.area_offset[0], ri.area_size[0],
               ri.fd, mapped)) {
        goto out;
    }
    client_map = mmap(NULL, ri.area_size[0], PROT_READ | PROT_WRITE,
                      MAP_SHARED, ri.fd, ri.offset + ri.area_offset[0]);
    if (!check(client_map != MAP_FAILED, "mmap of the area: %s",
               strerror(errno))) {
        goto out;
    }

    /* The device's bytes, both ways, and the same as by message */
    fill_pattern(pattern, sizeof(pattern), 0x31);
    memcpy(dev_mem + 0x1000, pattern, sizeof(pattern));
    check(!memcmp(client_map + 0x1000, pattern, sizeof(pattern)),
          "the mapping does not show the device's memory");
    fill_pattern(pattern, sizeof(pattern), 0x77);
    memcpy(client_map + IVSHMEM_SIZE - sizeof(pattern), pattern,
           sizeof(pattern));
    check(!memcmp(dev_mem + IVSHMEM_SIZE - sizeof(pattern), pattern,
                  sizeof(pattern)),
          "the device's memory does not have the client's write");
    check(vfu_raw_region_read(t.client, IVSHMEM_BAR,
                              IVSHMEM_SIZE - sizeof(buf), buf,
                              sizeof(buf)) == 0 &&
          !memcmp(buf, pattern, sizeof(buf)),
          "REGION_READ differs from the mapping");
    fill_pattern(pattern, sizeof(pattern), 0x05);
    check(vfu_raw_region_write(t.client, IVSHMEM_BAR, 0x2000, pattern,
                               sizeof(pattern)) == 0 &&
          !memcmp(client_map + 0x2000, pattern, sizeof(pattern)),
          "REGION_WRITE not seen in the mapping");

    /* Exactly the two messages of the test */
    get_stat(&t, "x-bar-read-messages", &reads);
    get_stat(&t, "x-bar-write-messages", &writes);
    check(reads == 1 && writes == 1,
          "BAR messages: %" PRIu64 " reads, %" PRIu64 " writes",
          reads, writes);

out:
    if (client_map != MAP_FAILED) {
        munmap(client_map, ri.area_size[0]);
    }
    if (dev_mem != MAP_FAILED) {
        munmap(dev_mem, IVSHMEM_SIZE);
    }
    if (ri.fd >= 0) {
        close(ri.fd);
    }
    if (file_fd >= 0) {
        close(file_fd);
    }
    error_free(err);
    teardown(&t);
    unlink(file);
}

/*
 * A BAR whose layout changes: vhost-user-test-device-pci, whose back-end
 * (libvhost-user in a thread of the test) maps memfds into its shared
 * memory region, BAR 2, each a MemoryRegion of its own with
 * x-shmem-window=off.  (With the window, the default, writable mappings
 * are host mappings inside one RAM region without an fd: never offered,
 * always reached by message.)
 */
#define SHMEM_BAR               2
#define SHMEM_SIZE              (1024 * 1024)
#define SHMEM_CHUNK             (64 * 1024)

static int memfd_with(uint8_t byte)
{
    g_autofree uint8_t *buf = g_malloc(SHMEM_CHUNK);
    int fd = memfd_create("vfio-user-server-test", MFD_CLOEXEC);

    g_assert(fd >= 0);
    memset(buf, byte, SHMEM_CHUNK);
    g_assert_cmpint(pwrite(fd, buf, SHMEM_CHUNK, 0), ==, SHMEM_CHUNK);
    return fd;
}

/*
 * The area offered when the client connected leaves BAR 2: the server
 * drops the client.  Memory mapped after the client connected is not
 * offered, and reached by message.
 */
static void test_sparse_layout_change(void)
{
    static const uint64_t sizes[] = { SHMEM_SIZE };
    g_autofree char *obj = NULL;
    g_autofree char *args = NULL;
    uint8_t *client_map = MAP_FAILED;
    RegionInfo ri = { .fd = -1 };
    int fd_a = memfd_with(0xaa), fd_b = memfd_with(0xbb);
    uint8_t byte = 0x42;
    uint64_t mapped = 0;
    Error *err = NULL;
    TestCtx t = { 0 };
    VuQemu *q;

    ctx_init(&t);
    obj = server_object(t.sock, "");
    args = g_strdup_printf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                           "-chardev socket,id=chr0,path=%%s "
                           "-device vhost-user-test-device-pci,id=dev0,"
                           "chardev=chr0,virtio-id=27,num_vqs=1,"
                           "config_size=16,x-shmem-window=off "
                           "-object '%s'", obj);
    q = vu_qemu_start_args(args, sizes, ARRAY_SIZE(sizes));
    t.qts = q->qts;

    /* Mapped before the client connects: offered */
    g_assert_true(vu_shmem_map(&q->dev, 0, 0, 0, SHMEM_CHUNK,
                               VHOST_USER_FLAG_MAP_RW, fd_a));
    t.client = vfu_raw_connect(t.sock, false, 0, DMA_TIMEOUT_MS, &err);
    if (!check(t.client, "connect: %s", err ? error_get_pretty(err) : "?") ||
        !region_info(t.client, SHMEM_BAR, &ri) ||
        !check(ri.nr_areas == 1 && ri.area_offset[0] == 0 &&
               ri.area_size[0] == SHMEM_CHUNK && ri.fd >= 0,
               "BAR 2: %u areas, [0x%" PRIx64 ", +0x%" PRIx64 "), fd %d",
               ri.nr_areas, ri.area_offset[0], ri.area_size[0], ri.fd)) {
        goto out;
    }
    client_map = mmap(NULL, SHMEM_CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED,
                      ri.fd, ri.offset);
    if (!check(client_map != MAP_FAILED && client_map[100] == 0xaa,
               "the area does not map the back-end's memfd")) {
        goto out;
    }

    /* Mapped after: not offered, reached by message */
    g_assert_true(vu_shmem_map(&q->dev, 0, 0, 2 * SHMEM_CHUNK, SHMEM_CHUNK,
                               VHOST_USER_FLAG_MAP_RW, fd_b));
    get_stat(&t, "x-sparse-mapped-bytes", &mapped);
    check(mapped == SHMEM_CHUNK, "%" PRIu64 " bytes offered", mapped);
    check(vfu_raw_region_write(t.client, SHMEM_BAR, 2 * SHMEM_CHUNK + 1,
                               &byte, 1) == 0 &&
          pread(fd_b, &byte, 1, 1) == 1 && byte == 0x42,
          "REGION_WRITE did not reach the memory mapped later");
    check(!vfu_raw_peer_closed(t.client), "client dropped for new memory");

    /* The offered memory leaves the BAR: the client is dropped. */
    g_assert_true(vu_shmem_unmap(&q->dev, 0, 0, SHMEM_CHUNK));
    wait_hangup_event(&t);
    wait_peer_closed(&t);
    check(qtest_probe_child(t.qts), "the server died");

out:
    if (client_map != MAP_FAILED) {
        munmap(client_map, SHMEM_CHUNK);
    }
    if (ri.fd >= 0) {
        close(ri.fd);
    }
    close(fd_a);
    close(fd_b);
    error_free(err);
    vfu_raw_free(t.client);
    t.client = NULL;
    t.qts = NULL;
    check(vu_qemu_stop(q, false), "the back-end saw a panic");
    teardown(&t);
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    g_test_set_nonfatal_assertions();

    if (!qtest_has_machine("x-remote") || !qtest_has_device("edu")) {
        /* No case: TAP reports the program as skipped */
        return g_test_run();
    }

    qtest_add_func("/vfio-user-server/version/twin", test_version_twin);
    qtest_add_func("/vfio-user-server/version/no-twin",
                   test_version_no_twin);
    qtest_add_func("/vfio-user-server/dma/twin", test_dma_twin);
    qtest_add_func("/vfio-user-server/dma/single-socket", test_dma_single);
    qtest_add_func("/vfio-user-server/dma/chunked", test_dma_chunked);
    qtest_add_func("/vfio-user-server/dma/concurrent-region-read",
                   test_dma_concurrent_region_read);
    qtest_add_func("/vfio-user-server/dma/error-reply", test_dma_error_reply);
    qtest_add_func("/vfio-user-server/dma/unmapped", test_dma_unmapped);
    qtest_add_func("/vfio-user-server/dma/read-only", test_dma_read_only);
    for (i = 0; i < ARRAY_SIZE(bad_reply_cases); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vfio-user-server/%s", bad_reply_cases[i].name);

        qtest_add_data_func(path, &bad_reply_cases[i], test_dma_bad_reply);
    }
    qtest_add_func("/vfio-user-server/dma-map/duplicate", test_map_duplicate);
    qtest_add_func("/vfio-user-server/dma-map/fd-unsealed",
                   test_map_fd_unsealed);
    if (qtest_has_device("nvme")) {
        qtest_add_func("/vfio-user-server/set-irqs/wrap", test_set_irqs_wrap);
    }
    for (i = 0; i < ARRAY_SIZE(bad_map_cases); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vfio-user-server/dma-map/%s", bad_map_cases[i].name);

        qtest_add_data_func(path, &bad_map_cases[i], test_map_bad);
    }
    for (i = 0; i < ARRAY_SIZE(fd_map_cases); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vfio-user-server/dma-map-fd/%s", fd_map_cases[i].name);

        qtest_add_data_func(path, &fd_map_cases[i], test_map_fd);
    }
    qtest_add_func("/vfio-user-server/dma/write-only", test_dma_write_only);
    qtest_add_func("/vfio-user-server/version/max-xfer",
                   test_version_max_xfer);
    for (i = 0; i < ARRAY_SIZE(bad_version_cases); i++) {
        g_autofree char *path = g_strdup_printf(
            "/vfio-user-server/version/bad/%s", bad_version_cases[i].name);
        g_autofree char *path2 = g_strdup_printf(
            "/vfio-user-server/version/bad-auto-shutdown/%s",
            bad_version_cases[i].name);

        qtest_add_data_func(path, &bad_version_cases[i], test_version_bad);
        qtest_add_data_func(path2, &bad_version_cases[i],
                            test_version_bad_shutdown);
    }
    qtest_add_func("/vfio-user-server/socket/stale", test_socket_stale);
    qtest_add_func("/vfio-user-server/socket/refused", test_socket_refused);
    qtest_add_func("/vfio-user-server/socket/qmp", test_socket_qmp);
    qtest_add_func("/vfio-user-server/options-frozen", test_options_frozen);
    qtest_add_func("/vfio-user-server/options-help", test_options_help);
    qtest_add_func("/vfio-user-server/socket/hangup", test_socket_hangup);
    qtest_add_func("/vfio-user-server/stall/no-version",
                   test_stall_no_version);
    qtest_add_func("/vfio-user-server/stall/split-body",
                   test_stall_split_body);
    qtest_add_func("/vfio-user-server/stall/late-body", test_stall_late_body);
    qtest_add_func("/vfio-user-server/dma-map/max-regions",
                   test_map_max_regions);
    qtest_add_func("/vfio-user-server/bad-options", test_bad_options);
    qtest_add_func("/vfio-user-server/two-servers", test_two_servers);
    qtest_add_func("/vfio-user-server/fuzz", test_fuzz);
    qtest_add_func("/vfio-user-server/twin-off/version",
                   test_version_twin_off);
    qtest_add_func("/vfio-user-server/twin-off/dma", test_dma_twin_refused);
    if (qtest_has_device("ivshmem-plain")) {
        for (i = 0; i < ARRAY_SIZE(sparse_cases); i++) {
            g_autofree char *path =
                g_strdup_printf("/vfio-user-server/sparse/%s",
                                sparse_cases[i].name);

            qtest_add_data_func(path, &sparse_cases[i], test_sparse);
        }
    }
    if (qtest_has_device("vhost-user-test-device-pci")) {
        qtest_add_func("/vfio-user-server/sparse/layout-change",
                       test_sparse_layout_change);
    }
    return g_test_run();
}
