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

#endif
