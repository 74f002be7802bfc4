/*
 * cdc/pgarray: the text syntax of PostgreSQL arrays, one scanner for both
 * places the CDC path reads it: array_out's text in a change's cells
 * (turned into JSON by cdc/pgjson) and array literals written by people
 * (a filter's in.(...) list, read as array_in would). It finds the nesting,
 * the elements, their quoting and backslash escapes and the unquoted NULLs,
 * and tells a visitor; what an element means, and which shapes are
 * acceptable, is the visitor's.
 *
 * It must never allocate, never recurse deeper than the caller allows,
 * and never read past the length it is given.
 */
#ifndef TC_CDC_PGARRAY_H
#define TC_CDC_PGARRAY_H

#include <stddef.h>

/* Element flags. */
#define PGARRAY_ESCAPED 1u /* the text still holds backslash escapes: see pgarray_unescape */
#define PGARRAY_NULL 2u    /* an unquoted, unescaped NULL (any case): SQL NULL */

/* What the scanner tells, in text order. Levels count from 1 (the
 * outermost list); index is the item's position in its enclosing list.
 * A callback returning nonzero stops the scan, which then fails. */
typedef struct {
    /* A list opens (level 1: the whole array, index 0). */
    int (*open)(void *ctx, int level, size_t index);
    /* An element of the list at level: s[0..n) is its text without the
     * quotes, surrounding spaces or escapes' removal (flags). */
    int (*elem)(void *ctx, int level, size_t index, const char *s, size_t n, unsigned flags);
    /* The list at level closes, holding items items. */
    int (*close)(void *ctx, int level, size_t items);
} pgarray_visitor_t;

/* Scans one {...} at s[*ip] (which must be '{'), elements separated by
 * delim (',' for every type but box's ';'), lists nested at most
 * max_levels deep, and sets *ip past its closing brace. Spaces around
 * elements and braces are skipped; an unquoted element keeps inner spaces
 * and escaped trailing ones. Empty lists are reported like any other
 * (array_in refuses them below the top level: a visitor's check). Returns
 * 0, or -1 on a syntax error, a list too deep, or a callback's refusal. */
int pgarray_scan(const char *s, size_t n, size_t *ip, char delim, int max_levels, const pgarray_visitor_t *v,
                 void *ctx);

/* Copies an element's text without its escapes ('\x' is 'x') to out,
 * which has room for n bytes; returns the length written. */
size_t pgarray_unescape(const char *s, size_t n, char *out);

#endif
