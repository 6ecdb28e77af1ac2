/*
 * core_log.c: key=value log records to stderr, a file or syslog.
 * One record = one line = one write(2), so concurrent threads never interleave.
 */
#include "core/core_log.h"

#include "core/core_buf.h"
#include "core/core_err.h"
#include "core/core_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum core_log_sink log_sink = CORE_LOG_SINK_STDERR;
static enum core_log_level log_level = CORE_LOG_INFO;
static int log_fd = -1; /* file sink */
static char *log_path;
static core_log_hook_fn log_hook;
static void *log_hook_arg;

static const char *const level_names[] = {"debug", "info", "notice", "warn", "error"};

int core_log_level_parse(const char *s, enum core_log_level *out)
{
	for (size_t i = 0; i < CORE_NELEM(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum core_log_level)i;
			return 0;
		}
	}
	return CORE_ESYNTAX;
}

const char *core_log_level_name(enum core_log_level l)
{
	return (unsigned)l < CORE_NELEM(level_names) ? level_names[l] : "unknown";
}

int core_log_open(enum core_log_sink sink, const char *path, const char *ident)
{
	int r = 0;
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0) {
		close(log_fd);
		log_fd = -1;
	}
	free(log_path);
	log_path = NULL;
	if (sink == CORE_LOG_SINK_FILE) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			r = CORE_EIO;
			sink = CORE_LOG_SINK_STDERR;
		} else {
			log_fd = fd;
			log_path = core_xstrdup(path);
		}
	} else if (sink == CORE_LOG_SINK_SYSLOG) {
		openlog(ident != NULL ? ident : "staunch", LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
	log_sink = sink;
	pthread_mutex_unlock(&log_lock);
	return r;
}

int core_log_reopen(void)
{
	int r = 0;
	pthread_mutex_lock(&log_lock);
	if (log_sink == CORE_LOG_SINK_FILE && log_path != NULL) {
		int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			r = CORE_EIO;
		} else {
			close(log_fd);
			log_fd = fd;
		}
	}
	pthread_mutex_unlock(&log_lock);
	return r;
}

void core_log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	if (log_sink == CORE_LOG_SINK_SYSLOG)
		closelog();
	log_sink = CORE_LOG_SINK_STDERR;
	pthread_mutex_unlock(&log_lock);
}

void core_log_set_level(enum core_log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum core_log_level core_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

bool core_log_enabled(enum core_log_level level)
{
	return level >= core_log_get_level();
}

void core_log_set_hook(core_log_hook_fn fn, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_hook = fn;
	log_hook_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

/* A value needs quotes when it is empty or holds a space, quote, '=', backslash or control. */
static void append_value(struct core_buf *b, const char *v)
{
	bool quote = (*v == '\0');
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) {
			quote = true;
			break;
		}
	}
	if (!quote) {
		core_buf_append_str(b, v);
		return;
	}
	core_buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			core_buf_append_str(b, "\\\"");
			break;
		case '\\':
			core_buf_append_str(b, "\\\\");
			break;
		case '\n':
			core_buf_append_str(b, "\\n");
			break;
		case '\r':
			core_buf_append_str(b, "\\r");
			break;
		case '\t':
			core_buf_append_str(b, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				core_buf_printf(b, "\\x%02x", *p);
			else
				core_buf_putc(b, (char)*p);
		}
	}
	core_buf_putc(b, '"');
}

static void emit(enum core_log_level level, struct core_buf *line)
{
	pthread_mutex_lock(&log_lock);
	if (log_hook != NULL) {
		log_hook(level, core_buf_cstr(line), log_hook_arg);
	} else if (log_sink == CORE_LOG_SINK_SYSLOG) {
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR};
		syslog(prio[level], "%s", core_buf_cstr(line));
	} else {
		core_buf_putc(line, '\n');
		int fd = (log_sink == CORE_LOG_SINK_FILE && log_fd >= 0) ? log_fd : STDERR_FILENO;
		size_t off = 0;
		while (off < line->len) {
			ssize_t n = write(fd, line->p + off, line->len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	pthread_mutex_unlock(&log_lock);
}

static void begin(struct core_buf *b, enum core_log_level level, const char *event)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* Syslog stamps its own time. */
	if (log_sink != CORE_LOG_SINK_SYSLOG || log_hook != NULL)
		core_buf_printf(b, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
				tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
				ts.tv_nsec / 1000000);
	core_buf_printf(b, "level=%s event=", core_log_level_name(level));
	append_value(b, event);
}

void core_log_v(enum core_log_level level, const char *event, va_list ap)
{
	if (!core_log_enabled(level))
		return;
	struct core_buf b = CORE_BUF_INIT;
	begin(&b, level, event);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		core_buf_putc(&b, ' ');
		core_buf_append_str(&b, k);
		core_buf_putc(&b, '=');
		append_value(&b, v == NULL ? "" : v);
	}
	emit(level, &b);
	core_buf_fini(&b);
}

void core_log(enum core_log_level level, const char *event, ...)
{
	va_list ap;
	va_start(ap, event);
	core_log_v(level, event, ap);
	va_end(ap);
}

void core_logf(enum core_log_level level, const char *event, const char *fmt, ...)
{
	if (!core_log_enabled(level))
		return;
	struct core_buf msg = CORE_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	core_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	core_log(level, event, "msg", core_buf_cstr(&msg), NULL);
	core_buf_fini(&msg);
}
