/* core_buf.c: growable byte buffers. */
#include "core/core_buf.h"

#include "core/core_mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void core_buf_init(struct core_buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void core_buf_fini(struct core_buf *b)
{
	free(b->p);
	core_buf_init(b);
}

void core_buf_fini_wipe(struct core_buf *b)
{
	if (b->p != NULL)
		core_wipe(b->p, b->cap);
	core_buf_fini(b);
}

void core_buf_reserve(struct core_buf *b, size_t n)
{
	if (b->len + n + 1 < b->len)
		core_die("buffer size overflow");
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	b->p = core_xrealloc(b->p, cap);
	b->cap = cap;
	b->p[b->len] = '\0'; /* a fresh allocation reads as "" through core_buf_cstr() */
}

void core_buf_append(struct core_buf *b, const void *p, size_t n)
{
	core_buf_reserve(b, n);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void core_buf_append_str(struct core_buf *b, const char *s)
{
	core_buf_append(b, s, strlen(s));
}

void core_buf_putc(struct core_buf *b, char c)
{
	core_buf_append(b, &c, 1);
}

void core_buf_vprintf(struct core_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		core_die("buffer printf: bad format");
	core_buf_reserve(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void core_buf_printf(struct core_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	core_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void core_buf_reset(struct core_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void core_buf_consume(struct core_buf *b, size_t n)
{
	if (n >= b->len) {
		core_buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

void core_buf_truncate(struct core_buf *b, size_t n)
{
	if (n < b->len) {
		b->len = n;
		b->p[n] = '\0';
	}
}

const char *core_buf_cstr(struct core_buf *b)
{
	return b->p == NULL ? "" : b->p;
}

char *core_buf_detach(struct core_buf *b, size_t *len_out)
{
	if (b->p == NULL)
		core_buf_reserve(b, 0);
	char *p = b->p;
	if (len_out != NULL)
		*len_out = b->len;
	core_buf_init(b);
	return p;
}
