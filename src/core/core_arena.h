/*
 * core_arena.h: alloc-only memory arenas with cleanup hooks, one per connection and one per
 * command (ARCHITECTURE.md §6). Everything allocated from an arena lives until the arena is
 * reset or freed; nothing is freed one by one. The "clean" variant wipes every chunk before
 * releasing it, for arenas that hold secrets (SASL exchanges, passwords).
 */
#ifndef STAUNCH_CORE_ARENA_H
#define STAUNCH_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct core_arena;

/* chunk_size 0 picks the default (4 KiB). Caller frees with core_arena_free(). */
struct core_arena *core_arena_new(size_t chunk_size);
/* As core_arena_new, but chunks are wiped on reset and free. */
struct core_arena *core_arena_new_clean(size_t chunk_size);
/* Run cleanup hooks (last added first), release all memory, set *a to NULL. Accepts NULL. */
void core_arena_free(struct core_arena **a);
/* Run cleanup hooks and forget all allocations, keeping the first chunk for reuse. */
void core_arena_reset(struct core_arena *a);

/* Memory aligned for any type; never NULL (aborts on out-of-memory). n may be 0. */
void *core_arena_alloc(struct core_arena *a, size_t n);
void *core_arena_zalloc(struct core_arena *a, size_t n);
void *core_arena_memdup(struct core_arena *a, const void *p, size_t n);
/* A new array of cap elements of elem bytes holding the first n elements of old (the arena
 * keeps old): the growth step of an arena-backed vector. n <= cap; old may be NULL when n is 0.
 * Aborts on size overflow. */
void *core_arena_grow(struct core_arena *a, const void *old, size_t n, size_t cap, size_t elem);
/* NUL-terminated copies. */
char *core_arena_strdup(struct core_arena *a, const char *s);
char *core_arena_strndup(struct core_arena *a, const char *s, size_t n);
char *core_arena_printf(struct core_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *core_arena_vprintf(struct core_arena *a, const char *fmt, va_list ap);

/* Register fn(arg) to run when the arena is reset or freed (last registered runs first). */
void core_arena_cleanup_add(struct core_arena *a, void (*fn)(void *), void *arg);

/* Bytes handed out since the last reset (for limits and tests). */
size_t core_arena_used(const struct core_arena *a);

#endif
