/*
 * Unit tests for http/static: which URL paths are refused, which file or
 * fallback answers the rest, with which type, validators and caching, and
 * that nothing outside the web root (or not a regular file) is ever opened.
 * Each test group runs on a fresh temporary web root next to an "outside"
 * directory that symlinks in the root point into.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/static.h"

#define MAX_BYTES ((uint64_t)1 << 20)

static char base[PATH_MAX]; /* the temporary directory: base/root, base/outside */
static char root[PATH_MAX + 8];

static void write_file(const char *rel, const char *text) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *rel) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *target, const char *rel) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(base, sizeof(base), "%s/tc-static-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(base))
        return -1;
    snprintf(root, sizeof(root), "%s/root", base);
    make_dir("root");
    make_dir("root/assets");
    make_dir("root/nested");
    make_dir("outside");
    write_file("root/index.html", "<!doctype html><div id=root></div>");
    write_file("root/assets/index-AbC123xy.js", "console.log('app')");
    write_file("root/assets/index-B1x2Yz9Q.css", "body{margin:0}");
    write_file("root/assets/index-AbC123xy.js.map", "{}");
    write_file("root/assets/logo.png", "\x89PNG");
    write_file("root/favicon.svg", "<svg/>");
    write_file("root/site.webmanifest", "{}");
    write_file("root/nested/page.html", "<p>page</p>");
    write_file("root/.env", "SECRET=1");
    make_dir("root/.git");
    write_file("root/.git/config", "[core]");
    write_file("outside/secret.txt", "outside the root");
    make_link("../outside/secret.txt", "root/leak.txt");    /* a file out of the root */
    make_link("../../outside", "root/assets/out");          /* a directory out of it */
    make_link("assets/index-AbC123xy.js", "root/alias.js"); /* stays inside: allowed */
    make_link("nowhere.js", "root/dangling.js");            /* points at nothing */
    make_link("../outside/nothing", "root/dangling-out");   /* out of the root, at nothing */
    char fifo[PATH_MAX * 2];
    snprintf(fifo, sizeof(fifo), "%s/pipe.txt", root);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int teardown(void **state) {
    (void)state;
    /* FTW_PHYS: never follow the links out of the root while deleting */
    return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Looks up path under root; the caller closes a->fd. */
static void lookup(const char *path, const char *inm, static_answer_t *a) {
    static_lookup(root, path, strlen(path), inm, MAX_BYTES, a);
}

/* Asserts path answers 200 with rel, and returns the file's bytes (static
 * buffer) after closing the descriptor. */
static const char *expect_200(const char *path, const char *rel, static_answer_t *a) {
    static char text[256];
    lookup(path, NULL, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->rel, rel);
    assert_true(a->fd >= 0);
    assert_null(a->body);
    assert_true(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"');
    assert_true(strlen(a->last_modified) > 20);
    ssize_t n = read(a->fd, text, sizeof(text) - 1);
    assert_true(n >= 0);
    assert_int_equal((uint64_t)n, a->size);
    text[n] = '\0';
    close(a->fd);
    return text;
}

static void expect_status(const char *path, int status) {
    static_answer_t a;
    lookup(path, NULL, &a);
    if (a.status != status)
        fail_msg("%s: expected %d, got %d (rel %s)", path, status, a.status, a.rel);
    if (status != 200)
        assert_int_equal(a.fd, -1);
    if (a.fd >= 0)
        close(a.fd);
}

/* ---- pure functions --------------------------------------------------------- */

static void test_path_clean(void **state) {
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } cases[] = {
        {"/", ""},
        {"/index.html", "index.html"},
        {"/assets/index-AbC123xy.js", "assets/index-AbC123xy.js"},
        {"//assets///x.js", "assets/x.js"},
        {"/customer/bookings/123/", "customer/bookings/123"},
        {"/a%2e%2e", "a%2e%2e"}, /* already decoded once: a literal name */
        {"/a..b/c", "a..b/c"},
        {"/name.", "name."},
        {"/..", NULL},
        {"/../etc/passwd", NULL},
        {"/assets/../../etc/passwd", NULL},
        {"/a/./b", NULL},
        {"/.", NULL},
        {"/.env", NULL},
        {"/.git/config", NULL},
        {"/assets/.hidden.js", NULL},
        {"/.well-known/security.txt", NULL},
        {"/a\\..\\b", NULL},
        {"/a\\b", NULL},
        {"/a\tb", NULL},
        {"/a\nb", NULL},
        {"/a\x7f", NULL},
        {"", NULL},
        {"index.html", NULL},
        {"../x", NULL},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = static_path_clean(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        if (!cases[i].out) {
            if (n != -1)
                fail_msg("'%s' should be refused, got '%s'", cases[i].in, out);
            continue;
        }
        if (n < 0)
            fail_msg("'%s' was refused", cases[i].in);
        assert_string_equal(out, cases[i].out);
        assert_int_equal((size_t)n, strlen(out));
    }
    /* an embedded NUL (the length says there is more) */
    assert_int_equal(static_path_clean("/a\0/../b", 8, out, sizeof(out)), -1);
    assert_int_equal(static_path_clean("/index.html\0", 12, out, sizeof(out)), -1);
    /* out too small: refused, never truncated */
    assert_int_equal(static_path_clean("/abc", 4, out, 3), -1);
    assert_int_equal(static_path_clean("/abc", 4, out, 4), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(static_path_clean("/", 1, out, 1), 0);
    assert_int_equal(static_path_clean(NULL, 0, out, sizeof(out)), -1);
}

static void test_mime_types(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"assets/index-AbC123xy.js", "text/javascript; charset=utf-8"},
        {"worker.mjs", "text/javascript; charset=utf-8"},
        {"assets/index-B1x2Yz9Q.css", "text/css; charset=utf-8"},
        {"data.json", "application/json; charset=utf-8"},
        {"assets/index-AbC123xy.js.map", "application/json; charset=utf-8"},
        {"favicon.svg", "image/svg+xml; charset=utf-8"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.JPEG", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"a.webp", "image/webp"},
        {"favicon.ico", "image/x-icon"},
        {"f.woff", "font/woff"},
        {"f.woff2", "font/woff2"},
        {"f.ttf", "font/ttf"},
        {"robots.txt", "text/plain; charset=utf-8"},
        {"m.wasm", "application/wasm"},
        {"site.webmanifest", "application/manifest+json; charset=utf-8"},
        {"LICENSE", "application/octet-stream"},
        {"a.unknown", "application/octet-stream"},
        {"dir.js/file", "application/octet-stream"}, /* the last segment's extension only */
        {"a.tar.gz", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(static_mime_type(cases[i][0]), cases[i][1]);
    assert_string_equal(static_mime_type(NULL), "application/octet-stream");
}

static void test_hashed_assets(void **state) {
    (void)state;
    static const char *const hashed[] = {
        "assets/index-AbC123xy.js",
        "assets/index-B1x2Yz9Q.css",
        "assets/index-AbC123xy.js.map",
        "assets/vendor-react-dom-B1x2Yz9Q.js",
        "assets/index-D-9fB2x_.js",
        "assets/logo-a1b2c3d4.png",
        "assets/Inter-Regular-CkDa8F0_.woff2",
        "assets/sub/chunk-12345678.js",
    };
    static const char *const plain[] = {
        "assets/logo.png",          /* no hash */
        "assets/some-long-name.js", /* a hyphenated word, not a hash */
        "assets/index-AbC123.js",   /* 6 characters: too short */
        "assets/-AbC123xy.js",      /* no name before it */
        "assets/index-AbC123xy",    /* no extension */
        "index-AbC123xy.js",        /* not under assets/ */
        "static/index-AbC123xy.js", "assets", "assets/", "index.html", "assets/index-AbC1 23xy.js",
    };
    for (size_t i = 0; i < sizeof(hashed) / sizeof(hashed[0]); i++) {
        if (!static_is_hashed_asset(hashed[i]))
            fail_msg("%s should count as hashed", hashed[i]);
        assert_string_equal(static_cache_control(hashed[i]), "public, max-age=31536000, immutable");
    }
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (static_is_hashed_asset(plain[i]))
            fail_msg("%s should not count as hashed", plain[i]);
        assert_string_equal(static_cache_control(plain[i]), "no-cache");
    }
    assert_false(static_is_hashed_asset(NULL));
}

static void test_etag_match(void **state) {
    (void)state;
    const char *tag = "\"1f-abc-42\"";
    static const char *const yes[] = {
        "\"1f-abc-42\"",
        "W/\"1f-abc-42\"",
        "*",
        " * ",
        "\"x\", \"1f-abc-42\"",
        "\"x\",W/\"1f-abc-42\" ,\"y\"",
        "\"a,b\", \"1f-abc-42\"",
        "garbage, \"1f-abc-42\"",
        "\t\"1f-abc-42\"\t",
    };
    static const char *const no[] = {
        "",
        "\"1f-abc-4\"",
        "\"1f-abc-42",
        "1f-abc-42",
        "\"x\"",
        "w/\"1f-abc-42\"",
        "\"1f-abc-42\"x",
        "**",
        "\"1F-ABC-42\"",
        ",,,",
        "W/",
        "W/\"",
        "\"1f-abc-42\" \"1f-abc-42\"x",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!static_etag_match(yes[i], tag))
            fail_msg("If-None-Match '%s' should match", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (static_etag_match(no[i], tag))
            fail_msg("If-None-Match '%s' should not match", no[i]);
    assert_false(static_etag_match(NULL, tag));
    assert_false(static_etag_match("*", NULL));
}

static void test_max_bytes(void **state) {
    (void)state;
    assert_int_equal(static_max_bytes(4194304), 4194304 - 1024);
    assert_int_equal(static_max_bytes((size_t)1 << 30), STATIC_MAX_FILE_BYTES);
    assert_int_equal(static_max_bytes(1024), 0);
    assert_int_equal(static_max_bytes(0), 0);
}

/* ---- against a web root -------------------------------------------------------- */

static void test_serves_files(void **state) {
    (void)state;
    static_answer_t a;
    assert_string_equal(expect_200("/", "index.html", &a), "<!doctype html><div id=root></div>");
    assert_string_equal(a.ctype, "text/html; charset=utf-8");
    assert_string_equal(a.cache_control, "no-cache");
    assert_false(a.fallback);
    char index_etag[sizeof(a.etag)];
    strcpy(index_etag, a.etag);

    expect_200("/index.html", "index.html", &a);
    assert_string_equal(a.etag, index_etag); /* the same file, the same tag */
    assert_string_equal(a.cache_control, "no-cache");

    assert_string_equal(expect_200("/assets/index-AbC123xy.js", "assets/index-AbC123xy.js", &a), "console.log('app')");
    assert_string_equal(a.ctype, "text/javascript; charset=utf-8");
    assert_string_equal(a.cache_control, "public, max-age=31536000, immutable");
    assert_string_not_equal(a.etag, index_etag);

    expect_200("/assets/index-B1x2Yz9Q.css", "assets/index-B1x2Yz9Q.css", &a);
    assert_string_equal(a.ctype, "text/css; charset=utf-8");
    expect_200("/assets/index-AbC123xy.js.map", "assets/index-AbC123xy.js.map", &a);
    assert_string_equal(a.ctype, "application/json; charset=utf-8");
    expect_200("/assets/logo.png", "assets/logo.png", &a);
    assert_string_equal(a.ctype, "image/png");
    assert_string_equal(a.cache_control, "no-cache"); /* unhashed */
    expect_200("/favicon.svg", "favicon.svg", &a);
    assert_string_equal(a.ctype, "image/svg+xml; charset=utf-8");
    assert_string_equal(a.cache_control, "no-cache");
    expect_200("/site.webmanifest", "site.webmanifest", &a);
    assert_string_equal(a.ctype, "application/manifest+json; charset=utf-8");
    expect_200("/nested/page.html", "nested/page.html", &a);
    expect_200("//assets//index-AbC123xy.js", "assets/index-AbC123xy.js", &a);
    /* a symlink that stays inside the root is followed */
    assert_string_equal(expect_200("/alias.js", "alias.js", &a), "console.log('app')");
}

static void test_spa_fallback(void **state) {
    (void)state;
    static_answer_t a;
    static const char *const routes[] = {"/login",   "/customer/bookings/123", "/customer/bookings/123/",
                                         "/assets", /* a directory */
                                         "/nested/", "/index.html/deeper",     "/favicon.svg/x"};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        assert_string_equal(expect_200(routes[i], "index.html", &a), "<!doctype html><div id=root></div>");
        assert_true(a.fallback);
        assert_string_equal(a.ctype, "text/html; charset=utf-8");
        assert_string_equal(a.cache_control, "no-cache");
    }
    /* a missing file with an extension is a plain 404, never index.html */
    static const char *const missing[] = {
        "/assets/missing.js", "/missing.css", "/about.html", "/user/john.doe", "/assets/index-AbC123xy.js/x.js",
        "/dangling.js"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        lookup(missing[i], NULL, &a);
        assert_int_equal(a.status, 404);
        assert_int_equal(a.fd, -1);
        assert_false(a.fallback);
        assert_string_equal(a.body, "not found\n");
        assert_string_equal(a.ctype, "text/plain; charset=utf-8");
        assert_string_equal(a.etag, "");
    }
}

static void test_refusals(void **state) {
    (void)state;
    static const char *const refused[] = {
        "/.env",
        "/.git/config",
        "/../outside/secret.txt",
        "/assets/../../outside/secret.txt",
        "/leak.txt",              /* symlink to a file out of the root */
        "/assets/out/secret.txt", /* through a symlinked directory out of it */
        "/pipe.txt",              /* a FIFO: never opened for reading (this would block) */
        "/a\\..\\..\\outside\\secret.txt",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_status(refused[i], 404);
    /* refused paths never fall back either, even without a dot */
    expect_status("/.git", 404);
    expect_status("/../outside", 404);
    expect_status("/assets/out", 404);
    /* a dangling link out of the root is simply missing: an app route */
    static_answer_t a;
    expect_200("/dangling-out", "index.html", &a);
    assert_true(a.fallback);
}

static void test_open_directly(void **state) {
    (void)state;
    struct stat st;
    int fd = 123;
    assert_int_equal(static_open(root, "index.html", MAX_BYTES, &fd, &st), STATIC_FOUND);
    assert_true(fd >= 0);
    assert_true(S_ISREG(st.st_mode));
    close(fd);
    assert_int_equal(static_open(root, "leak.txt", MAX_BYTES, &fd, &st), STATIC_REFUSED);
    assert_int_equal(fd, -1);
    assert_int_equal(static_open(root, "pipe.txt", MAX_BYTES, &fd, &st), STATIC_REFUSED);
    assert_int_equal(static_open(root, "assets", MAX_BYTES, &fd, &st), STATIC_MISSING);
    assert_int_equal(static_open(root, "", MAX_BYTES, &fd, &st), STATIC_MISSING); /* the root itself */
    assert_int_equal(static_open(root, "nope", MAX_BYTES, &fd, &st), STATIC_MISSING);
    assert_int_equal(static_open(root, "index.html", 4, &fd, &st), STATIC_TOO_LARGE);
    assert_int_equal(fd, -1);
    assert_int_equal(static_open(NULL, "index.html", MAX_BYTES, &fd, &st), STATIC_NO_ROOT);
    assert_int_equal(static_open("", "index.html", MAX_BYTES, &fd, &st), STATIC_NO_ROOT);
    char file_root[PATH_MAX * 2];
    snprintf(file_root, sizeof(file_root), "%s/index.html", root);
    assert_int_equal(static_open(file_root, "x", MAX_BYTES, &fd, &st), STATIC_NO_ROOT);
    /* a root given through a symlink still contains its own files */
    char link_root[PATH_MAX * 2];
    snprintf(link_root, sizeof(link_root), "%s/root-link", base);
    assert_int_equal(symlink("root", link_root), 0);
    assert_int_equal(static_open(link_root, "assets/index-AbC123xy.js", MAX_BYTES, &fd, &st), STATIC_FOUND);
    close(fd);
    assert_int_equal(unlink(link_root), 0);
    /* a name longer than any path: missing, not an error */
    char longrel[PATH_MAX + 16];
    memset(longrel, 'a', sizeof(longrel) - 1);
    longrel[sizeof(longrel) - 1] = '\0';
    assert_int_equal(static_open(root, longrel, MAX_BYTES, &fd, &st), STATIC_MISSING);
}

static void test_not_modified(void **state) {
    (void)state;
    static_answer_t a;
    expect_200("/assets/index-AbC123xy.js", "assets/index-AbC123xy.js", &a);
    char tag[sizeof(a.etag)], weak[sizeof(a.etag) + 2], list[sizeof(a.etag) + 16];
    strcpy(tag, a.etag);
    snprintf(weak, sizeof(weak), "W/%s", tag);
    snprintf(list, sizeof(list), "\"nope\", %s", tag);
    const char *const match[] = {tag, weak, list, "*"};
    for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
        lookup("/assets/index-AbC123xy.js", match[i], &a);
        assert_int_equal(a.status, 304);
        assert_int_equal(a.fd, -1); /* nothing to read or close */
        assert_string_equal(a.etag, tag);
        assert_string_equal(a.cache_control, "public, max-age=31536000, immutable");
    }
    lookup("/assets/index-AbC123xy.js", "\"nope\"", &a);
    assert_int_equal(a.status, 200);
    close(a.fd);
    /* the fallback revalidates against index.html's tag */
    expect_200("/index.html", "index.html", &a);
    strcpy(tag, a.etag);
    lookup("/customer/bookings/7", tag, &a);
    assert_int_equal(a.status, 304);
    assert_true(a.fallback);
    assert_string_equal(a.cache_control, "no-cache");
    /* "*" does not make a missing file exist */
    lookup("/assets/missing.js", "*", &a);
    assert_int_equal(a.status, 404);
}

static void test_etag_changes_with_file(void **state) {
    (void)state;
    static_answer_t a;
    expect_200("/favicon.svg", "favicon.svg", &a);
    char before[sizeof(a.etag)];
    strcpy(before, a.etag);
    /* a rebuild writes a new file under the same name */
    char p[PATH_MAX * 2], tmp[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/favicon.svg", root);
    snprintf(tmp, sizeof(tmp), "%s/favicon.svg.new", root);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs("<svg></svg>", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, p), 0);
    assert_string_equal(expect_200("/favicon.svg", "favicon.svg", &a), "<svg></svg>");
    assert_string_not_equal(a.etag, before);
    lookup("/favicon.svg", before, &a);
    assert_int_equal(a.status, 200); /* the old tag no longer matches */
    close(a.fd);
}

static void test_too_large(void **state) {
    (void)state;
    static_answer_t a;
    static_lookup(root, "/index.html", 11, NULL, 8, &a);
    assert_int_equal(a.status, 500);
    assert_int_equal(a.fd, -1);
    assert_string_equal(a.ctype, "text/plain; charset=utf-8");
    assert_non_null(a.body);
    static_lookup(root, "/favicon.svg", 12, NULL, 0, &a);
    assert_int_equal(a.status, 500);
}

static void test_not_built(void **state) {
    (void)state;
    static_answer_t a;
    char missing[PATH_MAX * 2];
    snprintf(missing, sizeof(missing), "%s/no-such-dist", base);
    /* HTML routes: 503 with a reason; anything else: 404 */
    static const char *const html[] = {"/", "/login", "/customer/bookings/1", "/index.html", "/about.html"};
    for (size_t i = 0; i < sizeof(html) / sizeof(html[0]); i++) {
        static_lookup(missing, html[i], strlen(html[i]), NULL, MAX_BYTES, &a);
        assert_int_equal(a.status, 503);
        assert_int_equal(a.fd, -1);
        assert_non_null(strstr(a.body, "not built"));
        assert_string_equal(a.cache_control, "no-store");
    }
    static_lookup(missing, "/assets/index-AbC123xy.js", 25, NULL, MAX_BYTES, &a);
    assert_int_equal(a.status, 404);
    static_lookup(NULL, "/", 1, NULL, MAX_BYTES, &a);
    assert_int_equal(a.status, 503);
    /* a root without index.html is not built either, but its files serve */
    char p[PATH_MAX * 2], moved[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/index.html", root);
    snprintf(moved, sizeof(moved), "%s/index.html.away", base);
    assert_int_equal(rename(p, moved), 0);
    expect_status("/", 503);
    expect_status("/login", 503);
    expect_status("/about.html", 404); /* the root is there: a missing page */
    expect_status("/favicon.svg", 200);
    /* and once it is built, it is served without a restart */
    assert_int_equal(rename(moved, p), 0);
    expect_status("/", 200);
    expect_status("/login", 200);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_clean),
        cmocka_unit_test(test_mime_types),
        cmocka_unit_test(test_hashed_assets),
        cmocka_unit_test(test_etag_match),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test_setup_teardown(test_serves_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spa_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_directly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etag_changes_with_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_built, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
