/*
 * core_buf.h: a growable byte buffer, valid when zero-initialised. The bytes are always
 * followed by a NUL (once anything was appended), so p can be used as a C string when the
 * content has no NUL of its own. Ownership: the buffer owns p; release with core_buf_fini().
 */
#ifndef STAUNCH_CORE_BUF_H
#define STAUNCH_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct core_buf {
	char *p;
	size_t len;
	size_t cap;
};

#define CORE_BUF_INIT      \
	{                  \
		NULL, 0, 0 \
	}

void core_buf_init(struct core_buf *b);
void core_buf_fini(struct core_buf *b);
/* core_buf_fini that wipes the content first (secrets). */
void core_buf_fini_wipe(struct core_buf *b);
/* Make room for n more bytes (plus the NUL). */
void core_buf_reserve(struct core_buf *b, size_t n);
void core_buf_append(struct core_buf *b, const void *p, size_t n);
void core_buf_append_str(struct core_buf *b, const char *s);
void core_buf_putc(struct core_buf *b, char c);
void core_buf_printf(struct core_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void core_buf_vprintf(struct core_buf *b, const char *fmt, va_list ap);
/* Empty the buffer, keeping its memory. */
void core_buf_reset(struct core_buf *b);
/* Drop the first n bytes (n > len drops all). */
void core_buf_consume(struct core_buf *b, size_t n);
/* Truncate to n bytes (n <= len). */
void core_buf_truncate(struct core_buf *b, size_t n);
/* A NUL-terminated view of the content ("" when empty); valid until the next change. */
const char *core_buf_cstr(struct core_buf *b);
/* Take ownership of the bytes (caller frees with free()); the buffer becomes empty. */
char *core_buf_detach(struct core_buf *b, size_t *len_out);

#endif
