/*
 * net/conn on a real worker (net/server, one libuv loop thread) over real
 * loopback TCP: bytes reach the stream handler installed at accept; an
 * upgrade from inside that handler queues the 101, frees the stream
 * handler's state and hands the bytes after the handshake, and every later
 * message, to the WebSocket handler table; a client that does not read and
 * whose queue passes send_queue_max is closed with 1013; a client's close
 * frame is echoed, and the connection's end reaches the WebSocket handler.
 * The test thread is the client (blocking sockets with receive timeouts);
 * it waits for the worker's callbacks on a condition variable with a
 * deadline, never by sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/server.h"
#include "ws/frame.h"

#define QUEUE_MAX (64 * 1024)

/* What the worker's handlers saw; under mu, signalled on cv. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char stream_bytes[4096];
static size_t stream_len;
static int opened, stream_closed, ws_closed;
static char last_msg[256];
static int nmsgs;

/* ---- handlers (worker thread) ----------------------------------------- */

typedef struct {
    int id;
} stream_state_t;

static void *t_open(conn_t *c, conn_admit_t how) {
    (void)c;
    stream_state_t *s = calloc(1, sizeof(*s));
    pthread_mutex_lock(&mu);
    opened += how == CONN_ADMITTED;
    pthread_mutex_unlock(&mu);
    return s;
}

static void w_message(void *ud, int opcode, const uint8_t *data, size_t len);
static void w_tick(void *ud, int64_t now_s) { (void)ud, (void)now_s; }
static void w_close(void *ud) {
    free(ud);
    pthread_mutex_lock(&mu);
    ws_closed++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}
static const conn_ws_handler_t test_ws = {w_message, w_tick, w_close};

typedef struct {
    conn_t *c;
} ws_state_t;

/* Records bytes; "UPGRADE\n" switches to test_ws and leaves what follows
 * it to the WebSocket parser. */
static size_t t_data(void *ud, conn_t *c, uint8_t *data, size_t len) {
    (void)ud;
    size_t used = len;
    const char *up = memmem(data, len, "UPGRADE\n", 8);
    pthread_mutex_lock(&mu);
    size_t keep = up ? (size_t)((const uint8_t *)up - data) : len;
    if (stream_len + keep < sizeof(stream_bytes)) {
        memcpy(stream_bytes + stream_len, data, keep);
        stream_len += keep;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (up) {
        ws_state_t *ws = calloc(1, sizeof(*ws));
        ws->c = c;
        conn_upgrade(c, "dGVzdA==", &test_ws, ws);
        used = (size_t)((const uint8_t *)up - data) + 8;
    }
    return used;
}

static void t_tick(void *ud, conn_t *c, int64_t now_ms) { (void)ud, (void)c, (void)now_ms; }
static void t_resumed(void *ud, conn_t *c) { (void)ud, (void)c; }
static void t_close(void *ud) {
    free(ud);
    pthread_mutex_lock(&mu);
    stream_closed++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}
static const conn_stream_handler_t test_stream = {t_open, t_data, t_tick, t_resumed, t_close};

/* "flood": queues more than QUEUE_MAX in one go, as a fan-out burst to a
 * client that reads nothing would; anything else is recorded. */
static void w_message(void *ud, int opcode, const uint8_t *data, size_t len) {
    ws_state_t *ws = ud;
    (void)opcode;
    if (len == 5 && !memcmp(data, "flood", 5)) {
        static uint8_t payload[1000];
        memset(payload, 'x', sizeof(payload));
        for (int i = 0; i < 2 * QUEUE_MAX / 1000 + 2; i++) {
            buf_t *b = buf_new(sizeof(payload));
            buf_append(&b, payload, sizeof(payload));
            ws_frame_seal(b, WS_OP_TEXT);
            conn_send_owned(ws->c, b);
        }
    }
    pthread_mutex_lock(&mu);
    size_t n = len < sizeof(last_msg) - 1 ? len : sizeof(last_msg) - 1;
    memcpy(last_msg, data, n);
    last_msg[n] = 0;
    nmsgs++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* ---- client side (test thread) ----------------------------------------- */

/* Waits (mu held) until *v >= want, at most 10 s. Returns 1 if reached. */
static int wait_for(int *v, int want) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (*v < want)
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            return *v >= want;
    return 1;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)srv_port(0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n) {
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(r > 0);
        p = (const uint8_t *)p + r;
        n -= (size_t)r;
    }
}

/* A client frame (masked, as RFC 6455 requires) into out; returns its size. */
static size_t client_frame(uint8_t *out, int opcode, const void *payload, size_t len) {
    static const uint8_t mask[4] = {1, 2, 3, 4};
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | opcode);
    out[h++] = (uint8_t)(0x80 | len); /* < 126 in these tests */
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
    return h + len;
}

/* Reads until the 101 response's end; asserts it is one. */
static void read_handshake(int fd) {
    char buf[512];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        assert_true(r == 1);
        n++;
        buf[n] = 0;
        if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
            break;
    }
    assert_non_null(strstr(buf, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(buf, "Sec-WebSocket-Accept: dGVzdA==\r\n"));
}

/* Reads server frames until a close frame; returns its code (-1: the
 * connection ended or timed out first). */
static int read_until_close(int fd) {
    for (;;) {
        uint8_t h[2];
        if (recv(fd, h, 2, MSG_WAITALL) != 2)
            return -1;
        size_t len = h[1] & 0x7f;
        if (len == 126) {
            uint8_t e[2];
            if (recv(fd, e, 2, MSG_WAITALL) != 2)
                return -1;
            len = (size_t)e[0] << 8 | e[1];
        } else if (len == 127) {
            return -1; /* not sent by these tests */
        }
        uint8_t body[70000];
        if (len && recv(fd, body, len, MSG_WAITALL) != (ssize_t)len)
            return -1;
        if ((h[0] & 0x0f) == WS_OP_CLOSE)
            return len >= 2 ? body[0] << 8 | body[1] : 1005;
    }
}

/* ---- tests ------------------------------------------------------------- */

static void bytes_reach_stream_handler_then_upgrade_switches(void **state) {
    (void)state;
    int fd = dial();
    send_all(fd, "hello", 5);
    pthread_mutex_lock(&mu);
    int s0 = stream_closed, w0 = ws_closed, m0 = nmsgs;
    int got = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (!(got = stream_len >= 5 && !memcmp(stream_bytes, "hello", 5)))
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    assert_true(got);
    assert_true(opened >= 1);
    pthread_mutex_unlock(&mu);

    /* The handshake and a first message in one write: what follows the
     * handshake must reach the WebSocket handler, not the stream one. */
    uint8_t buf[256];
    memcpy(buf, "UPGRADE\n", 8);
    size_t n = 8 + client_frame(buf + 8, WS_OP_TEXT, "hi", 2);
    send_all(fd, buf, n);
    read_handshake(fd);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&nmsgs, m0 + 1));
    assert_string_equal(last_msg, "hi");
    assert_true(wait_for(&stream_closed, s0 + 1)); /* the stream handler's state went at the upgrade */
    assert_int_equal(stream_len, 5);               /* and it saw nothing after the handshake */
    pthread_mutex_unlock(&mu);

    /* Orderly close: our close frame is echoed with its code, then the
     * server ends the connection; the WebSocket handler hears of it. */
    uint16_t code = htons(1000);
    n = client_frame(buf, WS_OP_CLOSE, &code, 2);
    send_all(fd, buf, n);
    assert_int_equal(read_until_close(fd), 1000);
    char c;
    assert_int_equal(recv(fd, &c, 1, 0), 0); /* the server half-closed after its close frame */
    close(fd);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&ws_closed, w0 + 1));
    pthread_mutex_unlock(&mu);
}

static void full_send_queue_closes_with_1013(void **state) {
    (void)state;
    int fd = dial();
    uint8_t buf[256];
    pthread_mutex_lock(&mu);
    int w0 = ws_closed;
    pthread_mutex_unlock(&mu);
    send_all(fd, "UPGRADE\n", 8);
    read_handshake(fd);
    /* The client now reads nothing while the handler queues past the
     * bound in one go. */
    size_t n = client_frame(buf, WS_OP_TEXT, "flood", 5);
    send_all(fd, buf, n);
    /* Everything past the bound was dropped, and a close 1013 queued. */
    assert_int_equal(read_until_close(fd), WS_CLOSE_TRY_AGAIN);
    close(fd);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&ws_closed, w0 + 1));
    pthread_mutex_unlock(&mu);
}

static int start(void **state) {
    (void)state;
    static const srv_config_t cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .workers = 1,
        .max_connections = 100,
        .send_queue_max = QUEUE_MAX,
        .slow_consumer_ms = 10000,
        .heartbeat_interval_ms = 30000,
        .max_message = 1 << 20,
        .drain_timeout_ms = 2000,
        .accept = &test_stream,
    };
    return srv_start(&cfg) < 0 || srv_port(0) <= 0;
}

static int stop(void **state) {
    (void)state;
    srv_drain();
    srv_join();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_reach_stream_handler_then_upgrade_switches),
        cmocka_unit_test(full_send_queue_closes_with_1013),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
