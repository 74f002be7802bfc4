/*
 * net/mailbox: see mailbox.h.
 *
 * The pending array is swapped out under the lock and run outside it, so
 * posters never wait for handlers, and handlers may post (to this mailbox
 * too: the item lands in the next batch). uv_async_send is called under
 * the lock, only when the array goes from empty to non-empty: mbox_close
 * cannot close the handle between the check and the send, and a batch of
 * posts costs one wake-up.
 */
#include "net/mailbox.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

struct mbox_item {
    mbox_fn fn;
    void *item;
};

#define MBOX_DEFAULT_MAX ((size_t)1 << 20)
#define MBOX_FIRST_CAP 256

/* Takes every pending item out (the caller holds m->mu): the batch then
 * runs unlocked while posters start a new array. Caller frees the array. */
static struct mbox_item *take_locked(mailbox_t *m, size_t *n) {
    struct mbox_item *q = m->q;
    *n = m->len;
    m->q = NULL;
    m->len = m->cap = 0;
    return q;
}

/* run: 1 to run each item, 0 to only let each free itself. Frees q. */
static void run_batch(struct mbox_item *q, size_t n, int run) {
    for (size_t i = 0; i < n; i++)
        q[i].fn(q[i].item, run);
    free(q);
}

static void on_async(uv_async_t *a) {
    mailbox_t *m = a->data;
    size_t n;
    pthread_mutex_lock(&m->mu);
    struct mbox_item *q = take_locked(m, &n);
    pthread_mutex_unlock(&m->mu);
    run_batch(q, n, 1);
    if (m->after)
        m->after(m->after_arg);
}

int mbox_init(mailbox_t *m, uv_loop_t *loop, const char *name, size_t max, void (*after)(void *), void *arg) {
    memset(m, 0, sizeof(*m));
    int r = uv_async_init(loop, &m->async, on_async);
    if (r < 0) {
        log_error("cannot create a mailbox", "\"mailbox\":\"%s\",\"error\":\"%s\"", name, uv_strerror(r));
        return r;
    }
    m->async.data = m;
    pthread_mutex_init(&m->mu, NULL);
    m->max = max ? max : MBOX_DEFAULT_MAX;
    m->name = name;
    m->after = after;
    m->after_arg = arg;
    return 0;
}

/* Under mu: one warning a second at most, with the count refused since. */
static void note_refused(mailbox_t *m) {
    m->refused++;
    int64_t ms = (int64_t)(uv_hrtime() / 1000000); /* any thread: not the loop's clock */
    if (m->warned_ms && ms - m->warned_ms < 1000)
        return;
    log_warn("mailbox full: items dropped", "\"mailbox\":\"%s\",\"pending\":%zu,\"max\":%zu,\"dropped\":%llu", m->name,
             m->len, m->max, (unsigned long long)m->refused);
    m->warned_ms = ms ? ms : 1;
    m->refused = 0;
}

int mbox_post(mailbox_t *m, mbox_fn fn, void *item) {
    pthread_mutex_lock(&m->mu);
    if (m->closed || m->len >= m->max) {
        if (!m->closed)
            note_refused(m);
        pthread_mutex_unlock(&m->mu);
        fn(item, 0);
        return -1;
    }
    if (m->len == m->cap) {
        m->cap = m->cap ? m->cap * 2 : MBOX_FIRST_CAP;
        m->q = xrealloc(m->q, m->cap * sizeof(*m->q));
    }
    m->q[m->len].fn = fn;
    m->q[m->len].item = item;
    int r = ++m->len == 1 ? uv_async_send(&m->async) : 0;
    pthread_mutex_unlock(&m->mu);
    /* Only a closing handle fails, and closed is checked under mu first:
     * logged should libuv change, since the item would wait for the next
     * wake-up. */
    if (r < 0)
        log_error("cannot wake a mailbox", "\"mailbox\":\"%s\",\"error\":\"%s\"", m->name, uv_strerror(r));
    return 0;
}

void mbox_wake(mailbox_t *m) {
    pthread_mutex_lock(&m->mu);
    int r = m->closed ? 0 : uv_async_send(&m->async);
    pthread_mutex_unlock(&m->mu);
    if (r < 0)
        log_error("cannot wake a mailbox", "\"mailbox\":\"%s\",\"error\":\"%s\"", m->name, uv_strerror(r));
}

void mbox_close(mailbox_t *m) {
    pthread_mutex_lock(&m->mu);
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    m->closed = 1;
    size_t n;
    struct mbox_item *q = take_locked(m, &n);
    pthread_mutex_unlock(&m->mu);
    run_batch(q, n, 0);
    if (!uv_is_closing((uv_handle_t *)&m->async))
        uv_close((uv_handle_t *)&m->async, NULL);
}

void mbox_destroy(mailbox_t *m) {
    pthread_mutex_destroy(&m->mu);
    free(m->q);
    m->q = NULL;
}
