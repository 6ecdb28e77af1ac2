/*
 * core_mem.h: allocation that aborts on out-of-memory (the only fatal condition in
 * libraries, ARCHITECTURE.md §6), secret wiping and constant-time comparison.
 * Every pointer returned here is caller-frees with free().
 */
#ifndef STAUNCH_CORE_MEM_H
#define STAUNCH_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>

void *core_xmalloc(size_t n);
void *core_xcalloc(size_t count, size_t size);
void *core_xrealloc(void *p, size_t n);
char *core_xstrdup(const char *s);
char *core_xstrndup(const char *s, size_t n);
char *core_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overwrite n bytes so the compiler cannot drop the store (key material, passwords). */
void core_wipe(void *p, size_t n);

/* Constant-time equality of two byte strings of the same length n. */
bool core_ct_memeq(const void *a, const void *b, size_t n);

/* Abort with a message: for out-of-memory and broken invariants only, never for input. */
_Noreturn void core_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CORE_ASSERT(cond)                                                                    \
	do {                                                                                 \
		if (!(cond))                                                                 \
			core_die("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
	} while (0)

#define CORE_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
