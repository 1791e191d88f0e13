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
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "libqtest.h"
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

/* @opts: more members of the server object's JSON, each after a comma */
static QTestState *server_start(const char *sock, const char *opts)
{
    return qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                       "-device edu,id=dev0 "
                       "-object '{\"qom-type\":\"x-vfio-user-server\","
                       "\"id\":\"vfu0\",\"device\":\"dev0\","
                       "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}%s}'",
                       sock, opts);
}

/*
 * Start a server with the object options @opts and connect a client,
 * asking for twin-socket mode if @twin and requiring it if @need_twin.
 * Places BAR0 and enables memory space and bus mastering through the
 * config region.
 */
static bool setup_full(TestCtx *t, const char *opts, bool twin,
                       bool need_twin)
{
    Error *err = NULL;
    uint16_t cmd = PCI_COMMAND_MEM | PCI_COMMAND_MASTER;
    uint32_t bar = BAR0_ADDR;
    uint32_t ident = 0;
    int ret;

    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    t->dir = g_dir_make_tmp("vfio-user-server-test-XXXXXX", NULL);
    g_assert(t->dir);
    t->sock = g_build_filename(t->dir, "sock", NULL);
    t->qts = server_start(t->sock, opts);

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
    qtest_add_func("/vfio-user-server/twin-off/version",
                   test_version_twin_off);
    qtest_add_func("/vfio-user-server/twin-off/dma", test_dma_twin_refused);
    return g_test_run();
}
