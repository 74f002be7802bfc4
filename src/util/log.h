/*
 * log: leveled, structured (one JSON object per line) logging to stderr.
 * Safe from any thread. It formats and writes; it never decides what is
 * worth logging, and never blocks on anything but the write itself.
 * The rule for callers: no token, password or refresh token in a log line
 * at any level. Client-supplied JSON goes through redact_json
 * (util/redact.h) first; as a last net, log_at replaces any JWT-shaped run
 * left in a finished line by [redacted].
 */
#ifndef TC_UTIL_LOG_H
#define TC_UTIL_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level_t;

extern log_level_t log_min_level;
extern int log_protocol; /* --debug-protocol: log every frame in and out */

/* Parses "debug", "info", "warn"/"warning", "error"; returns -1 if unknown. */
int log_parse_level(const char *s);
/* msg is a plain string; fmt/... are extra JSON members, written verbatim
 * after a comma: log_at(LOG_INFO, "listening", "\"port\":%d", port). */
void log_at(log_level_t lvl, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...)                                                                                            \
    do {                                                                                                               \
        if (log_min_level <= LOG_DEBUG)                                                                                \
            log_at(LOG_DEBUG, msg, __VA_ARGS__);                                                                       \
    } while (0)
#define log_info(msg, ...)                                                                                             \
    do {                                                                                                               \
        if (log_min_level <= LOG_INFO)                                                                                 \
            log_at(LOG_INFO, msg, __VA_ARGS__);                                                                        \
    } while (0)
#define log_warn(msg, ...) log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)

#endif
