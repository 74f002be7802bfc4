/*
 * rest/query_answer: the HTTP answer to a planned statement's result, and
 * PostgREST's errors. It owns rest_respond (status, Content-Range,
 * Preference-Applied, the single object of .single(), and the errors a
 * result can still become), rest_error_t itself (rq_err_* fill it for the
 * whole planner), PostgREST's SQLSTATE → status table and the error JSON.
 * It never plans or runs anything, and must never send a message cut in
 * the middle of a UTF-8 character.
 */
#include "rest/query.h"
#include "rest/query_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------ */

/* snprintf may cut a multi-byte character in half: drop the partial tail
 * so the JSON we send stays valid UTF-8 as far as we are concerned. */
static void utf8_trim(char *s, size_t cap, int n) {
    if (n < 0 || (size_t)n < cap)
        return;
    size_t len = strlen(s), i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (len - (i - 1) < want)
            s[i - 1] = '\0';
    }
}

/* Declared a printf-style va_list function (arguments to check: 0) so
 * that -Wformat=2 accepts fmt here: the literal is checked where rq_err_*
 * is called. */
static void vset(char *dst, size_t cap, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vset(char *dst, size_t cap, const char *fmt, va_list ap) {
    int n = vsnprintf(dst, cap, fmt, ap);
    utf8_trim(dst, cap, n);
}

void rq_err_set(rest_error_t *e, int status, const char *code, const char *fmt, ...) {
    memset(e, 0, sizeof(*e));
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vset(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

void rq_err_details(rest_error_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e->details, sizeof(e->details), fmt, ap);
    va_end(ap);
}

void rq_err_hint(rest_error_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e->hint, sizeof(e->hint), fmt, ap);
    va_end(ap);
}

/* ---- the answer ---------------------------------------------------------- */

/* Elements of a JSON array text (json_agg's output): commas at depth 1
 * outside strings, plus one unless the array is empty. */
static long json_array_len(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    if (*s != '[')
        return 1; /* not an array: one value */
    const char *q = s + 1;
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
        q++;
    if (*q == ']' || !*q)
        return 0;
    long commas = 0;
    int depth = 0, in_str = 0;
    for (; *s; s++) {
        char c = *s;
        if (in_str) {
            if (c == '\\' && s[1])
                s++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && depth == 1) {
            commas++;
        }
    }
    return commas + 1;
}

/* The one element of a one-element JSON array text. */
static void put_single(buf_t **out, const char *body) {
    const char *a = body, *b = body + strlen(body);
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\t' || b[-1] == '\r'))
        b--;
    if (b - a >= 2 && *a == '[' && b[-1] == ']')
        a++, b--;
    buf_append(out, a, (size_t)(b - a));
}

static void content_range(buf_t **h, long lower, long upper, long total) {
    buf_puts(h, "Content-Range: ");
    if (total != 0 && lower <= upper)
        buf_printf(h, "%ld-%ld", lower, upper);
    else
        buf_putc(h, '*');
    if (total >= 0)
        buf_printf(h, "/%ld\r\n", total);
    else
        buf_puts(h, "/*\r\n");
}

static int respond_error(const rest_error_t *e, buf_t **out) {
    rest_error_json(e, out);
    return e->status;
}

static int not_single(long n, buf_t **out) {
    rest_error_t e;
    rq_err_set(&e, 406, "PGRST116", "JSON object requested, multiple (or no) rows returned");
    rq_err_details(&e, "The result contains %ld rows", n);
    return respond_error(&e, out);
}

int rest_respond(const rest_plan_t *plan, const char *body, long total, long nrows, buf_t **headers, buf_t **out) {
    if (plan->prefer_applied)
        buf_printf(headers, "Preference-Applied: %s\r\n", plan->prefer_applied);
    if (plan->result == REST_RESULT_SCALAR) {
        long t = plan->count_exact ? 1 : -1;
        content_range(headers, 0, 0, t);
        if (plan->rpc_void)
            return 204;
        if (plan->return_body)
            buf_puts(out, body ? body : "null");
        return 200;
    }
    long n = nrows < 0 ? 0 : nrows;
    if (plan->result == REST_RESULT_ROWS && body)
        n = json_array_len(body);
    if (plan->is_write) {
        if (plan->max_affected >= 0 && n > plan->max_affected && !plan->is_insert) {
            rest_error_t e;
            rq_err_set(&e, 400, "PGRST124", "Query result exceeds max-affected preference constraint");
            rq_err_details(&e, "The query affects %ld rows", n);
            return respond_error(&e, out);
        }
        if (plan->single_object && n != 1)
            return not_single(n, out);
        long t = plan->count_exact ? n : -1;
        if (plan->is_insert || plan->is_delete)
            content_range(headers, 1, 0, t);
        else
            content_range(headers, 0, n - 1, t);
        if (plan->return_body) {
            if (plan->single_object)
                put_single(out, body ? body : "[]");
            else
                buf_puts(out, body ? body : "[]");
        }
        return plan->is_insert ? 201 : plan->return_body ? 200 : 204;
    }
    long lower = plan->offset, upper = lower + n - 1;
    long t = plan->count_exact ? total : -1;
    if (t >= 0 && lower > t) {
        rest_error_t e;
        rq_err_set(&e, 416, "PGRST103", "Requested range not satisfiable");
        rq_err_details(&e, "An offset of %ld was requested, but there are only %ld rows.", lower, t);
        content_range(headers, 1, 0, t);
        return respond_error(&e, out);
    }
    if (plan->single_object && n != 1)
        return not_single(n, out);
    content_range(headers, lower, upper, t);
    if (plan->return_body) {
        if (plan->single_object)
            put_single(out, body ? body : "[]");
        else
            buf_puts(out, body ? body : "[]");
    }
    return t >= 0 && 1 + upper - lower < t ? 206 : 200;
}

/* ---- PostgreSQL errors -------------------------------------------------- */

/* PostgREST 12.2's table (Error.hs), class by class. */
static int pg_status(const char *st, int is_anon) {
    if (!st || strlen(st) != 5)
        return 500;
    static const struct {
        const char *code;
        int status;
    } exact[] = {{"23503", 409}, {"23505", 409}, {"25006", 405}, {"53400", 500},
                 {"P0001", 400}, {"42883", 404}, {"42P01", 404}, {"42P17", 500}};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(st, exact[i].code))
            return exact[i].status;
    if (!strcmp(st, "42501"))
        return is_anon ? 401 : 403;
    if (st[0] == 'P' && st[1] == 'T' && isdigit((unsigned char)st[2]) && isdigit((unsigned char)st[3]) &&
        isdigit((unsigned char)st[4]))
        /* RAISE ... SQLSTATE 'PT402' -> 402: the three digits, and only them
         * (atoi would read on past a longer code). */
        return (st[2] - '0') * 100 + (st[3] - '0') * 10 + (st[4] - '0');
    static const struct {
        const char *cls;
        int status;
    } classes[] = {{"08", 503}, {"09", 500}, {"0L", 403}, {"0P", 403}, {"25", 500}, {"28", 403}, {"2D", 500},
                   {"38", 500}, {"39", 500}, {"3B", 500}, {"40", 500}, {"53", 503}, {"54", 500}, {"55", 500},
                   {"57", 500}, {"58", 500}, {"F0", 500}, {"HV", 500}, {"P0", 500}, {"XX", 500}};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (st[0] == classes[i].cls[0] && st[1] == classes[i].cls[1])
            return classes[i].status;
    return 400;
}

void rest_error_from_pg(const char *sqlstate, const char *message, const char *detail, const char *hint, int is_anon,
                        rest_error_t *err) {
    int status = pg_status(sqlstate, is_anon);
    if (status < 400 || status > 599) /* PTxxx may only pick an error status */
        status = 500;
    rq_err_set(err, status, sqlstate && *sqlstate ? sqlstate : "XX000", "%s", message ? message : "");
    if (detail)
        rq_err_details(err, "%s", detail);
    if (hint)
        rq_err_hint(err, "%s", hint);
}

void rest_error_json(const rest_error_t *err, buf_t **out) {
    buf_puts(out, "{\"code\":");
    buf_json_str(out, err->code, strlen(err->code));
    buf_puts(out, ",\"details\":");
    buf_json_str_or_null(out, err->details[0] ? err->details : NULL, strlen(err->details));
    buf_puts(out, ",\"hint\":");
    buf_json_str_or_null(out, err->hint[0] ? err->hint : NULL, strlen(err->hint));
    buf_puts(out, ",\"message\":");
    buf_json_str(out, err->message, strlen(err->message));
    buf_putc(out, '}');
}
