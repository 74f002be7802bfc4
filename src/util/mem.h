/*
 * mem: the project's one out-of-memory policy. A server that cannot allocate
 * a few bytes cannot keep its promises to anyone, so it logs and aborts
 * rather than limping on; every x* function never returns NULL.
 */
#ifndef TC_UTIL_MEM_H
#define TC_UTIL_MEM_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
char *xstrdup(const char *s);

/* Puts jansson's allocations under the same policy: every json_t, string
 * and buffer jansson allocates comes from xmalloc, so a failed allocation
 * inside json_loads or json_dumps aborts here instead of surfacing as a
 * NULL that some caller takes for "invalid JSON" or drops. Call it once at
 * start-up, before any thread uses jansson and before the first json_t
 * exists (jansson keeps the functions in globals and reads them without
 * locking); calling it again changes nothing. Lives in mem_json.c, so
 * programs that link mem.c without jansson still build. */
void mem_json_init(void);

#endif
