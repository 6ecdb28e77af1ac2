/*
 * core_arena.c: chunked alloc-only arenas. Small allocations are carved from the current
 * chunk; one larger than a quarter of the chunk size gets a chunk of its own so a big
 * literal does not waste the rest of a chunk.
 */
#include "core/core_arena.h"

#include "core/core_mem.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_CHUNK 4096
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct core_arena {
	struct arena_chunk *chunks; /* current chunk first */
	struct arena_cleanup *cleanups;
	size_t chunk_size;
	size_t used;
	int wipe;
};

static struct arena_chunk *chunk_new(size_t size)
{
	struct arena_chunk *c = core_xmalloc(sizeof(*c) + size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static struct core_arena *arena_new(size_t chunk_size, int wipe)
{
	struct core_arena *a = core_xcalloc(1, sizeof(*a));
	a->chunk_size = chunk_size == 0 ? ARENA_DEFAULT_CHUNK : chunk_size;
	a->wipe = wipe;
	return a;
}

struct core_arena *core_arena_new(size_t chunk_size)
{
	return arena_new(chunk_size, 0);
}

struct core_arena *core_arena_new_clean(size_t chunk_size)
{
	return arena_new(chunk_size, 1);
}

static void run_cleanups(struct core_arena *a)
{
	while (a->cleanups != NULL) {
		struct arena_cleanup *c = a->cleanups;
		a->cleanups = c->next;
		c->fn(c->arg);
	}
}

static void chunk_release(struct core_arena *a, struct arena_chunk *c)
{
	if (a->wipe)
		core_wipe(c->data, c->used);
	free(c);
}

void core_arena_reset(struct core_arena *a)
{
	if (a == NULL)
		return;
	run_cleanups(a);
	/* Keep the oldest chunk of the default size (the last in the list) for reuse. */
	struct arena_chunk *keep = NULL;
	struct arena_chunk *c = a->chunks;
	while (c != NULL) {
		struct arena_chunk *next = c->next;
		if (next == NULL && c->size == a->chunk_size) {
			if (a->wipe)
				core_wipe(c->data, c->used);
			c->used = 0;
			keep = c;
		} else {
			chunk_release(a, c);
		}
		c = next;
	}
	a->chunks = keep;
	a->used = 0;
}

void core_arena_free(struct core_arena **ap)
{
	if (ap == NULL || *ap == NULL)
		return;
	struct core_arena *a = *ap;
	core_arena_reset(a);
	if (a->chunks != NULL)
		chunk_release(a, a->chunks);
	free(a);
	*ap = NULL;
}

void *core_arena_alloc(struct core_arena *a, size_t n)
{
	size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need < n)
		core_die("arena allocation overflow");
	if (need == 0)
		need = ARENA_ALIGN;
	struct arena_chunk *c = a->chunks;
	if (c == NULL || c->size - c->used < need) {
		if (need > a->chunk_size / 4) {
			/* Dedicated chunk, linked behind the current one so the current stays open.
			 */
			struct arena_chunk *big = chunk_new(need);
			big->used = need;
			if (c == NULL) {
				a->chunks = big;
			} else {
				big->next = c->next;
				c->next = big;
			}
			a->used += n;
			return big->data;
		}
		c = chunk_new(a->chunk_size);
		c->next = a->chunks;
		a->chunks = c;
	}
	void *p = c->data + c->used;
	c->used += need;
	a->used += n;
	return p;
}

void *core_arena_zalloc(struct core_arena *a, size_t n)
{
	void *p = core_arena_alloc(a, n);
	memset(p, 0, n);
	return p;
}

void *core_arena_grow(struct core_arena *a, const void *old, size_t n, size_t cap, size_t elem)
{
	if (n > cap || (elem != 0 && cap > SIZE_MAX / elem))
		core_die("arena vector overflow");
	void *p = core_arena_alloc(a, cap * elem);
	if (n > 0)
		memcpy(p, old, n * elem);
	return p;
}

void *core_arena_memdup(struct core_arena *a, const void *p, size_t n)
{
	void *q = core_arena_alloc(a, n);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

char *core_arena_strndup(struct core_arena *a, const char *s, size_t n)
{
	char *q = core_arena_alloc(a, n + 1);
	if (n > 0)
		memcpy(q, s, n);
	q[n] = '\0';
	return q;
}

char *core_arena_strdup(struct core_arena *a, const char *s)
{
	return core_arena_strndup(a, s, strlen(s));
}

char *core_arena_vprintf(struct core_arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		core_die("arena printf: bad format");
	char *p = core_arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *core_arena_printf(struct core_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = core_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

void core_arena_cleanup_add(struct core_arena *a, void (*fn)(void *), void *arg)
{
	struct arena_cleanup *c = core_arena_alloc(a, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
}

size_t core_arena_used(const struct core_arena *a)
{
	return a->used;
}
