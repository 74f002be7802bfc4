/*
 * log: see log.h. Each line is built in a stack buffer and written with one
 * write(2), so lines from different threads never interleave.
 * Every line passes through redact_jwts_inplace before it is written: the
 * callers already keep secrets out (channel/socket redacts frames, auth
 * never logs bodies), and this is the net under all of them, so a JWT that
 * reaches a log line by a path nobody thought of (a topic name, a URL, a
 * database error echoing a parameter) is still not printed.
 */
#include "util/log.h"
#include "util/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

log_level_t log_min_level = LOG_INFO;
int log_protocol = 0;

static const char *names[] = {"debug", "info", "warn", "error", "fatal"};

int log_parse_level(const char *s) {
    if (!strcasecmp(s, "debug"))
        return LOG_DEBUG;
    if (!strcasecmp(s, "info"))
        return LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
        return LOG_WARN;
    if (!strcasecmp(s, "error"))
        return LOG_ERROR;
    return -1;
}

void log_at(log_level_t lvl, const char *msg, const char *fmt, ...) {
    if (lvl < log_min_level)
        return;
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 names[lvl], msg);
    if (fmt && *fmt && n > 0 && (size_t)n < sizeof(line) - 2) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 3)
        n = (int)sizeof(line) - 3;
    n = (int)redact_jwts_inplace(line, (size_t)n);
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
