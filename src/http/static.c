/*
 * http/static: see static.h. Why it is built the way it is:
 *
 * - Containment: realpath() of the root and of root/rel, a prefix check,
 *   then open() with O_NOFOLLOW. Symlinks that stay inside the root still
 *   work (deploy tools link files); one that leads out is refused. The
 *   window between realpath and open only matters to whoever can write in
 *   the web root, who can change the files themselves anyway; O_NOFOLLOW
 *   narrows it to the directories. O_NONBLOCK keeps a FIFO from blocking
 *   the worker in open(); fstat then refuses anything but a regular file.
 * - ETag from size, mtime (ns) and inode, not a content hash: a 304 costs
 *   a stat, not a read and a hash, and needs no cache of hashes kept
 *   coherent across workers. A build writes its files anew (new inode, new
 *   mtime), so a changed file does not keep its tag. It is strong because
 *   every 200 is exactly the bytes of one version: the file is read to its
 *   fstat size and fstat'ed again after, and a file that changed meanwhile
 *   answers 500 rather than a mix under a tag.
 * - Reading synchronously on the worker: dist files are small (tens to a
 *   few hundred KiB), the page cache holds them after the first load, and
 *   an answer is bounded by the send queue (SEND_QUEUE_MAX_BYTES, 4 MiB by
 *   default): one read() of that from the page cache takes well under a
 *   millisecond. libuv's fs requests would add a thread-pool round trip
 *   and a held connection to every asset to save that. No in-memory cache
 *   either: every answer must realpath and stat the file anyway to know it
 *   is current, so a cache would save one copy out of the page cache and
 *   cost a lock, a bound and invalidation.
 * - Caching: a hashed asset's bytes never change under its name, so it is
 *   immutable for a year. Everything else is no-cache (revalidated each
 *   time, usually a 304 of a few hundred bytes): index.html must be fresh
 *   for a deploy to be seen at once, and unhashed files (favicon, manifest,
 *   a service worker) have no name that changes when they do.
 * - Its own response writer rather than http_respond: HEAD needs the GET's
 *   Content-Length without a body, and a 304 neither Content-Type nor
 *   Content-Length, which http_respond cannot express. No CORS headers: the
 *   app is loaded from this origin.
 *
 * No state but two atomics for rate-limiting warnings: any worker may
 * serve any file at the same time.
 */
#include "http/static.h"
#include "http/response.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http/routes.h"
#include "util/buf.h"
#include "util/log.h"

/* Status line and headers of an answer stay below this (about 400 bytes
 * in practice), so head + file always fit in a send queue. */
#define HEAD_RESERVE 1024

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"

static const char BODY_NOT_FOUND[] = "not found\n";
static const char BODY_NOT_BUILT[] =
    "the web app is not built: run scripts/run.sh (or point WEB_ROOT at a directory holding index.html)\n";
static const char BODY_TOO_LARGE[] = "the file is too large to serve\n";
static const char BODY_READ_FAILED[] = "the file could not be read\n";

/* ---- path cleaning --------------------------------------------------------- */

int static_path_clean(const char *path, size_t len, char *out, size_t outlen) {
    if (!path || !out || outlen == 0 || len == 0 || path[0] != '/')
        return -1;
    size_t o = 0, i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        if (i == len)
            break;
        size_t start = i;
        for (; i < len && path[i] != '/'; i++) {
            unsigned char ch = (unsigned char)path[i];
            /* NUL would cut the name short for the C library; a backslash
             * is a separator to some tools; control bytes are never in a
             * built file's name and only make logs lie. */
            if (ch < 0x20 || ch == 0x7f || ch == '\\')
                return -1;
        }
        /* ".." and "." would walk, and dotfiles (.env, .git) are never part
         * of a build: refusing the whole class needs no list. */
        if (path[start] == '.')
            return -1;
        size_t seg = i - start;
        if (o + (o > 0) + seg >= outlen || o + seg >= INT_MAX)
            return -1;
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, path + start, seg);
        o += seg;
    }
    out[o] = '\0';
    return (int)o;
}

/* The last segment of a cleaned relative path. */
static const char *base_name(const char *rel) {
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

/* An app route (the SPA fallback may answer it): no dot in its last segment. */
static int is_app_route(const char *rel) { return strchr(base_name(rel), '.') == NULL; }

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* A path a browser navigates to: an app route or a page. */
static int is_html_route(const char *rel) {
    return is_app_route(rel) || has_suffix(rel, ".html") || has_suffix(rel, ".htm");
}

/* ---- types and caching --------------------------------------------------------- */

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"cjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "text/xml; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
};

const char *static_mime_type(const char *name) {
    const char *dot = name ? strrchr(base_name(name), '.') : NULL;
    if (dot)
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
            if (!strcasecmp(dot + 1, mime_types[i].ext))
                return mime_types[i].type;
    return "application/octet-stream";
}

static int hash_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

int static_is_hashed_asset(const char *rel) {
    if (!rel || strncmp(rel, "assets/", 7) != 0)
        return 0;
    const char *base = base_name(rel);
    const char *dot = strchr(base, '.'); /* Vite hashes hold no dot: index-AbC123xy.js.map */
    if (!dot)
        return 0;
    size_t stem = (size_t)(dot - base);
    /* The longest run of hash characters ending the stem starts at p; the
     * hash starts after the first '-' in it that leaves a name before it.
     * The earliest such '-' gives the longest candidate, so if it is too
     * short or has no digit or capital, no later one has. */
    size_t p = stem;
    while (p > 0 && hash_char(base[p - 1]))
        p--;
    size_t i = p > 1 ? p : 1;
    while (i < stem && base[i] != '-')
        i++;
    if (i >= stem || stem - i - 1 < 8)
        return 0;
    for (size_t k = i + 1; k < stem; k++)
        if ((base[k] >= 'A' && base[k] <= 'Z') || (base[k] >= '0' && base[k] <= '9'))
            return 1;
    return 0;
}

const char *static_cache_control(const char *rel) { return static_is_hashed_asset(rel) ? CACHE_IMMUTABLE : "no-cache"; }

/* ---- validators ---------------------------------------------------------------- */

static const char *skip_ows(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int static_etag_match(const char *h, const char *etag) {
    if (!h || !etag)
        return 0;
    size_t elen = strlen(etag);
    const char *p = h;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return 0;
        const char *after = NULL; /* just past a well-formed element */
        int match = 0;
        if (*p == '*') {
            after = p + 1;
            match = 1;
        } else {
            const char *t = p[0] == 'W' && p[1] == '/' ? p + 2 : p;
            const char *end = *t == '"' ? strchr(t + 1, '"') : NULL;
            if (end) {
                after = end + 1;
                match = (size_t)(after - t) == elen && !memcmp(t, etag, elen);
            }
        }
        if (after) {
            after = skip_ows(after);
            if (*after == '\0' || *after == ',') {
                if (match)
                    return 1;
                p = after;
                continue;
            }
        }
        /* Malformed: resynchronise on the next comma. */
        const char *comma = strchr(p + 1, ',');
        if (!comma)
            return 0;
        p = comma;
    }
}

/* ---- opening -------------------------------------------------------------------- */

static_open_t static_open(const char *root, const char *rel, uint64_t max_bytes, int *fd, struct stat *st) {
    char root_real[PATH_MAX], full[PATH_MAX], real[PATH_MAX];
    *fd = -1;
    memset(st, 0, sizeof(*st));
    if (!root || !*root || !realpath(root, root_real) || stat(root_real, st) != 0 || !S_ISDIR(st->st_mode))
        return STATIC_NO_ROOT;
    memset(st, 0, sizeof(*st));
    int n = snprintf(full, sizeof(full), "%s/%s", root_real, rel);
    if (n < 0 || (size_t)n >= sizeof(full))
        return STATIC_MISSING; /* no file under the root has so long a name */
    if (!realpath(full, real)) {
        switch (errno) {
        case ENOENT:
        case ENOTDIR:
        case ENAMETOOLONG: return STATIC_MISSING;
        case ELOOP:
        case EACCES: return STATIC_REFUSED;
        default: return STATIC_ERROR;
        }
    }
    size_t rlen = strlen(root_real);
    int inside = rlen == 1 ? real[0] == '/' /* root "/" */
                           : !strncmp(real, root_real, rlen) && (real[rlen] == '/' || real[rlen] == '\0');
    if (!inside)
        return STATIC_REFUSED;
    int f = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (f < 0) {
        switch (errno) {
        case ENOENT:
        case ENOTDIR: return STATIC_MISSING; /* removed since realpath */
        case ELOOP:
        case EACCES:
        case EPERM:
        case ENXIO: return STATIC_REFUSED;
        default: return STATIC_ERROR;
        }
    }
    static_open_t r = STATIC_FOUND;
    if (fstat(f, st) != 0)
        r = STATIC_ERROR;
    else if (S_ISDIR(st->st_mode))
        r = STATIC_MISSING;
    else if (!S_ISREG(st->st_mode))
        r = STATIC_REFUSED;
    else if ((uint64_t)st->st_size > max_bytes)
        r = STATIC_TOO_LARGE;
    if (r != STATIC_FOUND) {
        int e = errno;
        close(f);
        errno = e;
        return r;
    }
    *fd = f;
    return STATIC_FOUND;
}

/* ---- deciding ----------------------------------------------------------------- */

/* At most one warning a second across workers, so a client cannot flood
 * the log by asking again. */
static _Atomic long long last_warn_s;
/* 1 once "not built" was logged; cleared when index.html is served again,
 * so each outage is logged once. */
static atomic_int not_built_logged;

/* Logs msg at warn with {key: value} (value JSON-escaped: a path may hold
 * any byte but NUL and control bytes) and "error": why. */
static void warn_path(const char *msg, const char *key, const char *value, const char *why) {
    buf_t *b = buf_new(16 + strlen(value)); /* ours; released below */
    buf_json_str(&b, value, strlen(value));
    log_warn(msg, "\"%s\":%.*s,\"error\":\"%s\"", key, (int)b->len, (const char *)b->data, why);
    buf_unref(b);
}

static void warn_limited(const char *msg, const char *rel, const char *why) {
    long long now = (long long)time(NULL);
    long long prev = atomic_load_explicit(&last_warn_s, memory_order_relaxed);
    if (prev == now || !atomic_compare_exchange_strong(&last_warn_s, &prev, now))
        return;
    warn_path(msg, "path", rel, why);
}

static void set_error(static_answer_t *a, int status, const char *body) {
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    a->status = status;
    a->size = 0;
    a->ctype = TEXT_PLAIN;
    a->cache_control = "no-store";
    a->body = body;
    a->etag[0] = a->last_modified[0] = '\0';
}

static void describe_file(static_answer_t *a, const struct stat *st) {
    a->st = *st;
    uint64_t mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
    a->size = (uint64_t)st->st_size;
    snprintf(a->etag, sizeof(a->etag), "\"%llx-%llx-%llx\"", (unsigned long long)a->size, (unsigned long long)mtime_ns,
             (unsigned long long)st->st_ino);
    struct tm tm;
    time_t t = st->st_mtim.tv_sec;
    if (!gmtime_r(&t, &tm) || !strftime(a->last_modified, sizeof(a->last_modified), "%a, %d %b %Y %H:%M:%S GMT", &tm))
        a->last_modified[0] = '\0';
}

void static_lookup(const char *root, const char *path, size_t len, const char *if_none_match, uint64_t max_bytes,
                   static_answer_t *a) {
    a->fd = -1;
    a->fallback = 0;
    a->rel[0] = '\0';
    set_error(a, 404, BODY_NOT_FOUND);
    if (static_path_clean(path, len, a->rel, sizeof(a->rel)) < 0)
        return;
    if (!a->rel[0])
        strcpy(a->rel, "index.html");
    int html = is_html_route(a->rel);
    struct stat st;
    int fd;
    static_open_t r = static_open(root, a->rel, max_bytes, &fd, &st);
    if (r == STATIC_MISSING && is_app_route(a->rel)) {
        a->fallback = 1;
        strcpy(a->rel, "index.html");
        r = static_open(root, a->rel, max_bytes, &fd, &st);
    }
    if (r == STATIC_MISSING && !strcmp(a->rel, "index.html"))
        r = STATIC_NO_ROOT; /* a root without index.html is not a build */
    switch (r) {
    case STATIC_FOUND: break;
    case STATIC_NO_ROOT:
        if (html) {
            set_error(a, 503, BODY_NOT_BUILT);
            if (!atomic_exchange(&not_built_logged, 1))
                warn_path("the web app is not built: HTML routes answer 503 until WEB_ROOT holds index.html",
                          "web_root", root ? root : "", "no index.html");
        }
        return;
    case STATIC_MISSING:
    case STATIC_REFUSED: return; /* 404 */
    case STATIC_TOO_LARGE:
        set_error(a, 500, BODY_TOO_LARGE);
        warn_limited("static file larger than the send queue allows (raise SEND_QUEUE_MAX_BYTES)", a->rel, "too large");
        return;
    case STATIC_ERROR: {
        int e = errno; /* static_open's, before anything else can change it */
        set_error(a, 500, BODY_READ_FAILED);
        warn_limited("cannot open a static file", a->rel, strerror(e));
        return;
    }
    }
    if (!strcmp(a->rel, "index.html") && atomic_load_explicit(&not_built_logged, memory_order_relaxed))
        atomic_store(&not_built_logged, 0);
    a->fd = fd;
    a->ctype = static_mime_type(a->rel);
    a->cache_control = a->fallback ? "no-cache" : static_cache_control(a->rel);
    a->body = NULL;
    describe_file(a, &st);
    if (static_etag_match(if_none_match, a->etag)) {
        close(a->fd);
        a->fd = -1;
        a->status = 304;
    } else {
        a->status = 200;
    }
}

uint64_t static_max_bytes(size_t send_queue_max) {
    if (send_queue_max <= HEAD_RESERVE)
        return 0;
    uint64_t room = (uint64_t)send_queue_max - HEAD_RESERVE;
    return room < STATIC_MAX_FILE_BYTES ? room : STATIC_MAX_FILE_BYTES;
}

/* ---- answering ---------------------------------------------------------------- */

/* The status line and headers of a; body_room: bytes to reserve after
 * them. The caller owns the returned buf. */
static buf_t *build_head(const static_answer_t *a, uint64_t content_length, size_t body_room, int keep_alive) {
    buf_t *b = buf_new(HEAD_RESERVE + body_room);
    buf_printf(&b, "HTTP/1.1 %d %s\r\n", a->status, http_status_text(a->status));
    /* A 304 sends neither: its Content-Length would have to be the 200's,
     * and nothing needs it. */
    if (a->status != 304)
        buf_printf(&b, "Content-Type: %s\r\nContent-Length: %llu\r\n", a->ctype, (unsigned long long)content_length);
    if (a->etag[0])
        buf_printf(&b, "ETag: %s\r\n", a->etag);
    if (a->last_modified[0])
        buf_printf(&b, "Last-Modified: %s\r\n", a->last_modified);
    buf_printf(&b, "Cache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n", a->cache_control);
    buf_puts(&b, keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    return b;
}

/* Appends exactly size bytes of fd to *bp (which has the room), and checks
 * the file is still what before (the ETag's stat) says. Returns 0, or -1
 * with errno set. */
static int read_body(int fd, buf_t **bp, uint64_t size, const struct stat *before) {
    buf_t *b = *bp;
    if (b->cap - b->len < size) {
        errno = ENOBUFS;
        return -1;
    }
    uint64_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, b->data + b->len + got, (size_t)(size - got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* shrank since fstat */
            return -1;
        }
        got += (uint64_t)n;
    }
    struct stat after;
    if (fstat(fd, &after) != 0)
        return -1;
    if (after.st_size != before->st_size || after.st_mtim.tv_sec != before->st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != before->st_mtim.tv_nsec) {
        errno = ESTALE; /* rewritten while we read: no mix under one tag */
        return -1;
    }
    b->len += size;
    return 0;
}

/* Set once by static_register, before the workers start. */
static const char *g_root;
static uint64_t g_max_bytes;

static void static_serve(conn_t *c, http_req_t *r, const char *rest) {
    (void)rest;
    static_answer_t a;
    const char *path = http_req_path(r);
    int head = !strcmp(http_req_method(r), "HEAD");
    int ka = http_req_keep_alive(r);
    static_lookup(g_root, path, strlen(path), http_req_header(r, "if-none-match"), g_max_bytes, &a);
    buf_t *b = NULL; /* ours until conn_send_owned takes it */
    if (a.status == 200 && !head) {
        b = build_head(&a, a.size, (size_t)a.size, ka);
        if (read_body(a.fd, &b, a.size, &a.st) < 0) {
            warn_limited("cannot read a static file", a.rel, strerror(errno));
            buf_unref(b);
            b = NULL;
            set_error(&a, 500, BODY_READ_FAILED);
        }
    }
    if (!b) {
        uint64_t clen = a.status == 200 ? a.size : a.body ? strlen(a.body) : 0;
        b = build_head(&a, clen, 0, ka);
        if (!head && a.body)
            buf_puts(&b, a.body);
    }
    if (a.fd >= 0)
        close(a.fd);
    conn_send_owned(c, b);
    if (!ka)
        conn_close_after_write(c);
}

void static_register(const char *root, size_t send_queue_max) {
    g_root = root;
    g_max_bytes = static_max_bytes(send_queue_max);
    routes_set_fallback(static_serve);
}
