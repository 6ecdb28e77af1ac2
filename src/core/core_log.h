/*
 * core_log.h: structured logging. Each record is one line of key=value fields:
 *   ts=2026-11-27T03:20:00.123Z level=info event=net.accept listener=smtp remote=127.0.0.1:40000
 * Values that hold spaces, quotes, '=' or control bytes are quoted with backslash escapes, so
 * a line always parses back. Sinks: stderr (default), a file (reopened on core_log_reopen(),
 * e.g. after SIGHUP) or syslog. Thread-safe: each record is written with one write(2).
 */
#ifndef STAUNCH_CORE_LOG_H
#define STAUNCH_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum core_log_level {
	CORE_LOG_DEBUG = 0,
	CORE_LOG_INFO = 1,
	CORE_LOG_NOTICE = 2,
	CORE_LOG_WARN = 3,
	CORE_LOG_ERROR = 4,
};

enum core_log_sink {
	CORE_LOG_SINK_STDERR = 0,
	CORE_LOG_SINK_FILE = 1,
	CORE_LOG_SINK_SYSLOG = 2,
};

/* Parse "debug", "info", "notice", "warn", "error". Returns 0 or CORE_ESYNTAX. */
int core_log_level_parse(const char *s, enum core_log_level *out);
const char *core_log_level_name(enum core_log_level l);

/* Configure the sink. path is used for CORE_LOG_SINK_FILE (copied). Returns 0 or CORE_EIO. */
int core_log_open(enum core_log_sink sink, const char *path, const char *ident);
/* Reopen the log file (after rotation). No-op for other sinks. */
int core_log_reopen(void);
void core_log_set_level(enum core_log_level level);
enum core_log_level core_log_get_level(void);
bool core_log_enabled(enum core_log_level level);
void core_log_close(void);

/*
 * Log an event with key/value string pairs, terminated by NULL:
 *   core_log(CORE_LOG_INFO, "net.accept", "listener", name, "remote", addr, NULL);
 * A NULL value after a key prints key= with an empty value. The event name is a dotted
 * identifier (module.what).
 */
void core_log(enum core_log_level level, const char *event, ...) __attribute__((sentinel));
void core_log_v(enum core_log_level level, const char *event, va_list ap);

/* Like core_log with a single free-text field msg=... formatted printf-style. */
void core_logf(enum core_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Capture hook for tests: when set, records go to fn instead of the sink. */
typedef void (*core_log_hook_fn)(enum core_log_level level, const char *line, void *arg);
void core_log_set_hook(core_log_hook_fn fn, void *arg);

#endif
