/*
 * mem_json: hands jansson util/mem's allocator (see mem.h). A file of its
 * own so that mem.c, which small tools link without jansson, does not
 * depend on it. It owns nothing and never allocates by itself.
 */
#include "util/mem.h"

#include <jansson.h>

/* xmalloc already has json_malloc_t's signature and policy (never NULL,
 * abort on failure), and what it returns is malloc's, so free() releases
 * it: no wrappers needed. A json_t made before this call is malloc'd too,
 * so freeing it afterwards is still right. */
void mem_json_init(void) { json_set_alloc_funcs(xmalloc, free); }
