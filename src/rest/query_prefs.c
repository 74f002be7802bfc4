/*
 * rest/query_prefs: the request headers that shape a plan. It owns
 * Prefer (return, count, resolution, missing, handling, max-affected, the
 * accepted-but-ignored tx and timezone), Accept (a JSON array, the single
 * object of .single(), nulls=stripped) and the Preference-Applied value.
 * It never writes SQL, and must never refuse a preference PostgREST would
 * ignore, except under handling=strict as PostgREST does.
 */
#include "rest/query_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- headers: Prefer, Accept, Range, profile ------------------------- */

static int strict_error(planner_t *p, const char *bad, size_t n) {
    rq_err_set(p->err, 400, "PGRST122", "Invalid preferences given with handling=strict");
    rq_err_details(p->err, "Invalid preferences: %.*s", (int)n, bad);
    return -1;
}

/* Prefer: comma-separated key=value tokens (several Prefer headers arrive
 * joined by commas). Unknown tokens are ignored unless handling=strict. */
int rq_parse_prefer(planner_t *p) {
    prefs_t *pr = &p->prefs;
    pr->max_affected = -1;
    const char *s = p->req->prefer;
    if (!s)
        return 0;
    const char *bad = NULL;
    size_t badlen = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
#define TOK(lit) (n == strlen(lit) && !strncmp(s, lit, n))
        if (TOK("return=representation"))
            pr->ret = 1;
        else if (TOK("return=minimal"))
            pr->ret = 2;
        else if (TOK("return=headers-only"))
            pr->ret = 3;
        else if (TOK("count=exact"))
            pr->count = 1;
        else if (TOK("count=planned"))
            pr->count = 2;
        else if (TOK("count=estimated"))
            pr->count = 3;
        else if (TOK("resolution=merge-duplicates"))
            pr->resolution = 1;
        else if (TOK("resolution=ignore-duplicates"))
            pr->resolution = 2;
        else if (TOK("missing=default"))
            pr->missing = 1;
        else if (TOK("missing=null"))
            pr->missing = 2;
        else if (TOK("handling=strict"))
            pr->handling = 1;
        else if (TOK("handling=lenient"))
            pr->handling = 2;
        else if (TOK("tx=commit") || TOK("tx=rollback") || (n > 9 && !strncmp(s, "timezone=", 9)))
            ; /* accepted, not applied: the caller owns the transaction */
        else if (n > 13 && !strncmp(s, "max-affected=", 13)) {
            char tmp[24];
            size_t dl = n - 13;
            char *end;
            if (dl >= sizeof(tmp))
                goto invalid;
            memcpy(tmp, s + 13, dl);
            tmp[dl] = '\0';
            errno = 0;
            long v = strtol(tmp, &end, 10);
            if (errno || *end || v < 0 || !isdigit((unsigned char)tmp[0]))
                goto invalid;
            pr->max_affected = v;
        } else {
        invalid:
            if (!bad) {
                bad = s;
                badlen = n;
            }
        }
#undef TOK
        s = e;
    }
    if (bad && pr->handling == 1)
        return strict_error(p, bad, badlen);
    return 0;
}

/* Accept: the first media range we can produce wins (JSON array, or the
 * single object of .single()); none → 406 PGRST107. nulls=stripped asks
 * for null members to be dropped. */
int rq_parse_accept(planner_t *p) {
    const char *s = p->req->accept;
    if (!s || !*s)
        return 0;
    const char *r = s;
    while (*r) {
        while (*r == ' ' || *r == ',')
            r++;
        const char *e = r;
        while (*e && *e != ',')
            e++;
        const char *semi = memchr(r, ';', (size_t)(e - r));
        const char *te = semi ? semi : e;
        while (te > r && te[-1] == ' ')
            te--;
        size_t tl = (size_t)(te - r);
#define MT(lit) (tl == strlen(lit) && !strncasecmp(r, lit, tl))
        int single = MT("application/vnd.pgrst.object+json") || MT("application/vnd.pgrst.object");
        int ok = single || MT("application/json") || MT("application/*") || MT("*/*") ||
                 MT("application/vnd.pgrst.array+json") || MT("application/vnd.pgrst.array");
#undef MT
        if (ok && tl > 0) {
            p->single = single;
            if (semi) {
                /* parameters: nulls=stripped is the one we act on */
                for (const char *q = semi; q < e; q++)
                    if ((size_t)(e - q) >= 14 && !strncasecmp(q, "nulls=stripped", 14))
                        p->strip_nulls = 1;
            }
            return 0;
        }
        r = e;
    }
    rq_err_set(p->err, 406, "PGRST107", "None of these media types are available: %s", s);
    return -1;
}

static const char *const count_words[] = {"", "exact", "planned", "estimated"};

/* Preference-Applied, in PostgREST's order; only what was asked and used. */
char *rq_prefer_applied(const planner_t *p, int resolution_used, int is_write) {
    buf_t *b = buf_new(64);
    const prefs_t *pr = &p->prefs;
    if (resolution_used)
        buf_printf(&b, "%sresolution=%s", b->len ? ", " : "",
                   pr->resolution == 1 ? "merge-duplicates" : "ignore-duplicates");
    if (is_write && pr->ret)
        buf_printf(&b, "%sreturn=%s", b->len ? ", " : "",
                   pr->ret == 1   ? "representation"
                   : pr->ret == 2 ? "minimal"
                                  : "headers-only");
    if (pr->count)
        buf_printf(&b, "%scount=%s", b->len ? ", " : "", count_words[pr->count]);
    if (is_write && pr->missing)
        buf_printf(&b, "%smissing=%s", b->len ? ", " : "", pr->missing == 1 ? "default" : "null");
    if (pr->handling)
        buf_printf(&b, "%shandling=%s", b->len ? ", " : "", pr->handling == 1 ? "strict" : "lenient");
    if (p->method == M_PATCH || p->method == M_DELETE) {
        if (pr->handling == 1 && pr->max_affected >= 0)
            buf_printf(&b, "%smax-affected=%ld", b->len ? ", " : "", pr->max_affected);
    }
    if (b->len == 0) {
        buf_unref(b);
        return NULL;
    }
    return rq_buf_take(b);
}
