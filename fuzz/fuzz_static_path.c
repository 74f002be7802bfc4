/*
 * fuzz_static_path: libFuzzer target for http/static's path sanitizer and
 * resolver. The first input byte picks how the rest becomes a decoded URL
 * path: raw bytes, or one token per byte ("/", "..", ".env", "assets",
 * "leak.txt", "\\", a NUL...) so that traversal shapes come up without a
 * seed corpus; and whether If-None-Match is "*".
 * static_path_clean is checked against a second, deliberately naive
 * implementation (split on '/', refuse by the documented rules); then
 * static_lookup runs against a web root built once under $TMPDIR (or
 * /tmp), next to an "outside" directory that symlinks in the root point
 * into, and a FIFO that would block an open without O_NONBLOCK. A 200 must
 * be a regular file whose real path is under the root's; a refused path
 * must be a 404; no descriptor may leak. The same bytes are also read as
 * an If-None-Match list, and the cleaned path as a name to type and cache.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/static.h"

#include "fuzz_check.h"

static char base[PATH_MAX];      /* the temporary directory */
static char root[PATH_MAX + 8];  /* base/root, as configured */
static char root_real[PATH_MAX]; /* its realpath */

static void put(const char *rel, const char *text) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    if (text) {
        FILE *f = fopen(p, "wb");
        CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    } else {
        CHECK(mkdir(p, 0755) == 0);
    }
}

static void link_at(const char *target, const char *rel) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    CHECK(symlink(target, p) == 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void) {
    if (base[0])
        nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS); /* never follows the links out */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/fuzz-static-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(base) != NULL);
    atexit(cleanup);
    snprintf(root, sizeof(root), "%s/root", base);
    put("root", NULL);
    put("root/assets", NULL);
    put("root/nested", NULL);
    put("outside", NULL);
    put("root/index.html", "<!doctype html>");
    put("root/assets/index-AbC123xy.js", "console.log(1)");
    put("root/nested/page.html", "<p>");
    put("root/.env", "SECRET=1");
    put("outside/secret.txt", "outside");
    link_at("../outside/secret.txt", "root/leak.txt");
    link_at("../../outside", "root/assets/out");
    link_at("assets/index-AbC123xy.js", "root/alias.js");
    link_at("/", "root/slash");
    char fifo[PATH_MAX * 2];
    snprintf(fifo, sizeof(fifo), "%s/pipe.txt", root);
    CHECK(mkfifo(fifo, 0644) == 0);
    CHECK(realpath(root, root_real) != NULL);
    return 0;
}

static const char *const tokens[] = {
    "/",        "/",     "..",         ".",        "assets",   "index.html", "index-AbC123xy.js",
    "leak.txt", "out",   "secret.txt", "alias.js", "pipe.txt", "nested",     "page.html",
    ".env",     ".git",  "\\",         "%2e%2e",   "%2f",      "login",      "x.js",
    "outside",  "slash", "etc",        "passwd",   "a",        "-",          "\t",
    "//",       "/../",  "root",       "\x7f",
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

/* The lowest free descriptor: the same before and after a lookup, or it
 * leaked one. */
static int lowest_free_fd(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    return fd;
}

/* The naive model: refused iff the rules in static.h say so; else the
 * non-empty segments joined by '/'. Returns the length or -1. */
static int model_clean(const char *p, size_t len, char *out, size_t outlen) {
    if (len == 0 || p[0] != '/')
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\')
            return -1;
        if (ch == '/')
            continue;
        if (p[i - 1] == '/') { /* a segment starts */
            if (ch == '.')
                return -1;
            if (o > 0) {
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = '/';
            }
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return (int)o;
}

static void check_clean(const char *rel, int n) {
    CHECK(n >= 0 && strlen(rel) == (size_t)n);
    if (n == 0)
        return;
    CHECK(rel[0] != '/' && rel[n - 1] != '/');
    CHECK(strstr(rel, "//") == NULL);
    for (const char *seg = rel; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        CHECK(*seg != '.' && *seg != '/' && *seg != '\0');
    for (int i = 0; i < n; i++)
        CHECK((unsigned char)rel[i] >= 0x20 && rel[i] != 0x7f && rel[i] != '\\');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[STATIC_REL_MAX * 4];
    static char out[STATIC_REL_MAX], model[STATIC_REL_MAX];
    static char inm[4096];
    static static_answer_t a;
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    size_t len = 0;
    if (sel & 1) {
        for (size_t i = 0; i < size; i++) {
            const char *t = tokens[data[i] % NTOKENS];
            size_t tl = strlen(t);
            if (data[i] == 0xff)
                t = "\0", tl = 1; /* an embedded NUL */
            if (len + tl > sizeof(path))
                break;
            memcpy(path + len, t, tl);
            len += tl;
        }
    } else {
        if (sel & 4)
            path[len++] = '/'; /* most raw inputs then get past the first check */
        size_t take = size < sizeof(path) - len ? size : sizeof(path) - len;
        memcpy(path + len, data, take);
        len += take;
    }

    /* the sanitizer, against the model */
    int n = static_path_clean(path, len, out, sizeof(out));
    int m = model_clean(path, len, model, sizeof(model));
    CHECK(n == m);
    if (n >= 0) {
        check_clean(out, n);
        CHECK(!strcmp(out, model));
        CHECK(static_mime_type(out) != NULL);
        CHECK(static_cache_control(out) != NULL);
        if (static_is_hashed_asset(out))
            CHECK(!strncmp(out, "assets/", 7));
    }

    /* the resolver, on a real tree */
    const char *want = sel & 2 ? "*" : NULL;
    int free_fd = lowest_free_fd();
    static_lookup(root, path, len, want, (uint64_t)1 << 20, &a);
    CHECK(a.status == 200 || a.status == 304 || a.status == 404);
    if (n < 0)
        CHECK(a.status == 404 && !a.fallback);
    if (a.status == 200) {
        CHECK(!want && a.fd >= 0 && a.etag[0] == '"' && a.ctype && a.cache_control);
        struct stat st;
        CHECK(fstat(a.fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == a.size);
        char link[64], real[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", a.fd);
        ssize_t rl = readlink(link, real, sizeof(real) - 1);
        CHECK(rl > 0);
        real[rl] = '\0';
        size_t rlen = strlen(root_real);
        CHECK(!strncmp(real, root_real, rlen) && real[rlen] == '/');
        CHECK(strstr(real, "/outside/") == NULL);
        close(a.fd);
    } else {
        CHECK(a.fd == -1);
    }
    if (a.status == 304)
        CHECK(want && a.etag[0] == '"');

    CHECK(lowest_free_fd() == free_fd); /* no descriptor leaked on any path */

    /* the same bytes as an If-None-Match list */
    size_t il = size < sizeof(inm) - 1 ? size : sizeof(inm) - 1;
    memcpy(inm, data, il);
    inm[il] = '\0';
    int r = static_etag_match(inm, "\"1f-abc-42\"");
    CHECK(r == 0 || r == 1);
    if (!strcmp(inm, "\"1f-abc-42\"") || !strcmp(inm, "*"))
        CHECK(r == 1);
    if (!strchr(inm, '*') && !strstr(inm, "\"1f-abc-42\""))
        CHECK(r == 0);
    return 0;
}
