/* core_mem.c: aborting allocation, wiping and constant-time comparison. */
#include "core/core_mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void core_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("staunch: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void *core_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);
	if (p == NULL)
		core_die("out of memory (%zu bytes)", n);
	return p;
}

void *core_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
	if (p == NULL)
		core_die("out of memory (%zu x %zu bytes)", count, size);
	return p;
}

void *core_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);
	if (q == NULL)
		core_die("out of memory (%zu bytes)", n);
	return q;
}

char *core_xstrdup(const char *s)
{
	return core_xstrndup(s, strlen(s));
}

char *core_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = core_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *core_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (r < 0)
		core_die("out of memory (asprintf)");
	return out;
}

void core_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

bool core_ct_memeq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a;
	const volatile unsigned char *y = b;
	unsigned char acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	return acc == 0;
}
