/*
 * http/static: serves the built web app (Vite's dist/: index.html, hashed
 * files under assets/, a few unhashed ones such as favicon.svg) for GET and
 * HEAD on the paths no API route took, with index.html for app routes.
 * It owns the mapping from a decoded URL path to a regular file under the
 * web root, the MIME types, the validators (ETag, 304) and the caching
 * policy. It must never open anything outside the root (nor follow a
 * symlink out of it), serve a dotfile, or decide which paths are API paths:
 * http/routes only hands it what would otherwise be a 404.
 *
 * Answers (all with X-Content-Type-Options: nosniff):
 *   200  a file; index.html for "/" and for a missing path whose last
 *        segment has no dot (the SPA fallback: /login, /customer/bookings/1)
 *   304  If-None-Match matched (weak comparison, lists and "*")
 *   404  text/plain: no such file (a missing /assets/x.js never falls back),
 *        or a path refused by static_path_clean, or a file the root may
 *        not serve (symlink out of it, FIFO, device, unreadable)
 *   500  text/plain: the file is larger than static_max_bytes, or reading
 *        it failed (logged, at most one warning a second)
 *   503  text/plain "the web app is not built": an HTML route (no dot in
 *        the last segment, or *.html) while the root or its index.html is
 *        missing. The root is looked up per request, so a build finished
 *        after start-up is served at once, without a restart.
 * Caching: hashed assets (static_is_hashed_asset) are "public,
 * max-age=31536000, immutable"; everything else, index.html and the
 * fallback included, is "no-cache" (see static.c for why).
 */
#ifndef TC_HTTP_STATIC_H
#define TC_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "http/request.h"
#include "net/conn.h"

/* Hard ceiling on a served file; static_serve also keeps every answer
 * within the connection's send queue (SEND_QUEUE_MAX_BYTES), which is the
 * lower of the two by default (4 MiB). */
#define STATIC_MAX_FILE_BYTES ((uint64_t)64 << 20)
/* Longest cleaned relative path: every URL path fits (http/request caps
 * URLs at 4096 bytes). */
#define STATIC_REL_MAX 4096

/* Cleans a decoded URL path (path[0..len), normally http_req_path) into a
 * path relative to the web root: leading and repeated slashes dropped,
 * segments joined by '/', "" for "/". Refuses (-1) a path that does not
 * start with '/', or holds a NUL byte, a backslash, a control character,
 * or a segment starting with '.' ("..", ".", ".env", ".git"). Returns the
 * length written to out (NUL-terminated), or -1 if refused or if it does
 * not fit in outlen. */
int static_path_clean(const char *path, size_t len, char *out, size_t outlen);

/* The Content-Type for a file name, by its extension (case-insensitive);
 * text types, JavaScript, JSON and SVG carry "; charset=utf-8"; unknown
 * extensions are application/octet-stream. Never NULL. */
const char *static_mime_type(const char *name);

/* 1 if rel (a cleaned relative path) lies under assets/ and its name
 * carries a Vite content hash: <name>-<hash>.<ext>, where hash is at least
 * 8 characters of [A-Za-z0-9_-] with at least one digit or capital letter
 * (so a plain hyphenated word is not taken for one). Else 0. */
int static_is_hashed_asset(const char *rel);

/* The Cache-Control value for a served file rel. Never NULL. */
const char *static_cache_control(const char *rel);

/* 1 if an If-None-Match header value matches etag (a quoted strong tag),
 * by the weak comparison RFC 9110 prescribes for it: "*", or any listed
 * tag equal to etag with or without W/. NULL or malformed: 0. */
int static_etag_match(const char *if_none_match, const char *etag);

typedef enum {
    STATIC_FOUND = 0, /* *fd: a regular file under the root, opened read-only */
    STATIC_MISSING,   /* nothing by that name, a dangling link, or a directory */
    STATIC_REFUSED,   /* exists but may not be served (see the 404 above) */
    STATIC_NO_ROOT,   /* the root is missing or not a directory */
    STATIC_TOO_LARGE, /* a regular file above max_bytes (*st is filled) */
    STATIC_ERROR,     /* anything else (EMFILE, EIO...): errno is kept */
} static_open_t;

/* Resolves rel (from static_path_clean) under root with realpath, checks
 * the result is inside the root's realpath, and opens it (O_NOFOLLOW,
 * O_NONBLOCK so a FIFO cannot block the worker). On STATIC_FOUND the
 * caller owns *fd and closes it; otherwise *fd is -1. Thread-safe. */
static_open_t static_open(const char *root, const char *rel, uint64_t max_bytes, int *fd, struct stat *st);

/* What static_lookup decided; static_serve writes it. */
typedef struct {
    int status;                /* 200, 304, 404, 500 or 503 */
    int fd;                    /* 200: the file, owned by the caller (close it); else -1 */
    uint64_t size;             /* 200, 304: the file's size */
    const char *ctype;         /* 200, 304: the file's type; else text/plain */
    const char *cache_control; /* every answer */
    const char *body;          /* 404, 500, 503: the plain-text body; else NULL */
    char etag[80];             /* 200, 304: quoted; else "" */
    char last_modified[40];    /* 200, 304: IMF-fixdate; else "" */
    int fallback;              /* 1 if index.html answers an app route */
    struct stat st;            /* 200, 304: the file's fstat, which the ETag is of */
    char rel[STATIC_REL_MAX];  /* the file answered (or asked for), relative to root */
} static_answer_t;

/* Decides the answer to a GET or HEAD for the decoded URL path[0..len)
 * under root (the query string is never part of path), given the request's
 * If-None-Match (or NULL). Files above max_bytes answer 500. Thread-safe:
 * no state but the file system. */
void static_lookup(const char *root, const char *path, size_t len, const char *if_none_match, uint64_t max_bytes,
                   static_answer_t *a);

/* The largest file static_serve sends: STATIC_MAX_FILE_BYTES, or less so
 * that the head plus the file fit in a send queue of send_queue_max. */
uint64_t static_max_bytes(size_t send_queue_max);

/* Makes root (not copied; outlives the workers) answer every GET or HEAD
 * no route takes (http/routes' fallback), HEAD with the same headers and no
 * body. The file is read synchronously (see static.c for why that is
 * acceptable); a file must fit a send queue of send_queue_max. */
void static_register(const char *root, size_t send_queue_max);

#endif
