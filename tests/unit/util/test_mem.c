/*
 * util/mem: mem_json_init puts jansson on xmalloc (so its out-of-memory
 * path is the project's abort, not a NULL), jansson still works after it,
 * and values made before it can still be freed after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static void json_uses_xmalloc(void **state) {
    (void)state;
    json_t *before = json_pack("{s:s}", "made", "before init"); /* plain malloc */
    assert_non_null(before);
    mem_json_init();
    mem_json_init(); /* idempotent */
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    assert_ptr_equal(m, xmalloc);
    assert_ptr_equal(f, free);

    json_error_t err;
    json_t *v = json_loads("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}", 0, &err);
    assert_non_null(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}");
    free(s);
    json_decref(v);
    json_decref(before);
}

static void x_functions(void **state) {
    (void)state;
    char *p = xmalloc(0); /* a real pointer, even for 0 bytes */
    assert_non_null(p);
    free(p);
    int *z = xcalloc(4, sizeof(int));
    assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
    z = xrealloc(z, 0);
    assert_non_null(z);
    free(z);
    char *d = xstrndup("abcdef", 3);
    assert_string_equal(d, "abc");
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_uses_xmalloc),
        cmocka_unit_test(x_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
