/*
 * store_memory.c: the in-memory lookup backend (ARCHITECTURE.md §4), for one-node
 * deployments and tests: a hash table of entries with expiry, under one mutex. Contents die
 * with the process. A prefix scan walks the whole table and sorts the matches (lookup
 * prefix scans are administrative, not on a hot path).
 * Threading: every operation takes the table's mutex; callbacks run without it, on copies.
 */
#include <pthread.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

struct store_mem_entry {
	struct store_mem_entry *next;
	uint64_t hash, expires;
	size_t klen, vlen;
	uint8_t *val;
	uint8_t key[];
};

struct store_mem {
	pthread_mutex_t lock;
	struct store_mem_entry **slots;
	size_t nslots, n;
};

/* FNV-1a: the table is private to the process, so a keyed hash buys little here. */
static uint64_t store_mem_hash(const void *k, size_t kl)
{
	const uint8_t *p = k;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < kl; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int store_mem_open(const struct store_params *p, void **h_out, struct core_error *err)
{
	(void)p;
	(void)err;
	struct store_mem *m = core_xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->nslots = 64;
	m->slots = core_xcalloc(m->nslots, sizeof(*m->slots));
	*h_out = m;
	return 0;
}

static void store_mem_entry_free(struct store_mem_entry *e)
{
	free(e->val);
	free(e);
}

static void store_mem_close(void *h)
{
	struct store_mem *m = h;
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nslots; i++) {
		struct store_mem_entry *e = m->slots[i];
		while (e != NULL) {
			struct store_mem_entry *next = e->next;
			store_mem_entry_free(e);
			e = next;
		}
	}
	free(m->slots);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The link that points at the entry for k (or at the NULL ending its chain). */
static struct store_mem_entry **store_mem_find(struct store_mem *m, const void *k, size_t kl,
					       uint64_t h)
{
	struct store_mem_entry **pp = &m->slots[h % m->nslots];
	while (*pp != NULL) {
		struct store_mem_entry *e = *pp;
		if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0)
			break;
		pp = &e->next;
	}
	return pp;
}

static void store_mem_grow(struct store_mem *m)
{
	size_t nn = m->nslots * 2;
	struct store_mem_entry **ns = core_xcalloc(nn, sizeof(*ns));
	for (size_t i = 0; i < m->nslots; i++) {
		struct store_mem_entry *e = m->slots[i];
		while (e != NULL) {
			struct store_mem_entry *next = e->next;
			e->next = ns[e->hash % nn];
			ns[e->hash % nn] = e;
			e = next;
		}
	}
	free(m->slots);
	m->slots = ns;
	m->nslots = nn;
}

static bool store_mem_live(const struct store_mem_entry *e, uint64_t now)
{
	return e->expires == 0 || e->expires > now;
}

static int store_mem_get(void *h, const void *k, size_t kl, uint64_t now, struct core_buf *v_out,
			 struct core_error *err)
{
	(void)err;
	struct store_mem *m = h;
	int rc = CORE_ENOTFOUND;
	pthread_mutex_lock(&m->lock);
	struct store_mem_entry *e = *store_mem_find(m, k, kl, store_mem_hash(k, kl));
	if (e != NULL && store_mem_live(e, now)) {
		core_buf_reset(v_out);
		core_buf_append(v_out, e->val != NULL ? (const void *)e->val : "", e->vlen);
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Insert or replace under the lock; takes ownership of val. */
static void store_mem_store(struct store_mem *m, const void *k, size_t kl, uint8_t *val, size_t vl,
			    uint64_t expires)
{
	uint64_t h = store_mem_hash(k, kl);
	struct store_mem_entry **pp = store_mem_find(m, k, kl, h);
	struct store_mem_entry *e = *pp;
	if (e == NULL) {
		e = core_xcalloc(1, sizeof(*e) + kl);
		e->hash = h;
		e->klen = kl;
		memcpy(e->key, k, kl);
		*pp = e;
		m->n++;
	} else {
		free(e->val);
	}
	e->val = val;
	e->vlen = vl;
	e->expires = expires;
	if (m->n > m->nslots * 2)
		store_mem_grow(m);
}

static int store_mem_set(void *h, const void *k, size_t kl, const void *v, size_t vl,
			 uint64_t expires, struct core_error *err)
{
	(void)err;
	struct store_mem *m = h;
	uint8_t *copy = vl > 0 ? core_xmalloc(vl) : NULL;
	if (vl > 0)
		memcpy(copy, v, vl);
	pthread_mutex_lock(&m->lock);
	store_mem_store(m, k, kl, copy, vl, expires);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int store_mem_del(void *h, const void *k, size_t kl, struct core_error *err)
{
	(void)err;
	struct store_mem *m = h;
	pthread_mutex_lock(&m->lock);
	struct store_mem_entry **pp = store_mem_find(m, k, kl, store_mem_hash(k, kl));
	struct store_mem_entry *e = *pp;
	if (e != NULL) {
		*pp = e->next;
		store_mem_entry_free(e);
		m->n--;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int store_mem_counter_add(void *h, const void *k, size_t kl, int64_t delta, uint64_t now,
				 uint64_t expires, int64_t *value_out, struct core_error *err)
{
	struct store_mem *m = h;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	struct store_mem_entry *e = *store_mem_find(m, k, kl, store_mem_hash(k, kl));
	int64_t v = 0;
	if (e != NULL && store_mem_live(e, now)) {
		if (e->vlen != 8) {
			rc = core_error_set(err, CORE_ESYNTAX, NULL, "key does not hold a counter");
		} else {
			v = (int64_t)store_be64_get(e->val);
			expires = e->expires; /* a live counter keeps its window */
		}
	}
	if (rc == 0) {
		v = (int64_t)((uint64_t)v + (uint64_t)delta);
		uint8_t *enc = core_xmalloc(8);
		store_be64_put(enc, (uint64_t)v);
		store_mem_store(m, k, kl, enc, 8, expires);
		if (value_out != NULL)
			*value_out = v;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

struct store_mem_copy {
	uint8_t *key, *val;
	size_t klen, vlen;
};

static int store_mem_copy_cmp(const void *a, const void *b)
{
	const struct store_mem_copy *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : (x->klen > y->klen ? 1 : 0);
}

static int store_mem_scan(void *h, const void *prefix, size_t plen, uint64_t now, store_scan_fn fn,
			  void *arg, struct core_error *err)
{
	struct store_mem *m = h;
	struct store_mem_copy *v = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nslots; i++) {
		for (struct store_mem_entry *e = m->slots[i]; e != NULL; e = e->next) {
			if (!store_mem_live(e, now) || e->klen < plen ||
			    (plen > 0 && memcmp(e->key, prefix, plen) != 0))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = core_xrealloc(v, cap * sizeof(*v));
			}
			v[n].key = core_xmalloc(e->klen);
			memcpy(v[n].key, e->key, e->klen);
			v[n].klen = e->klen;
			v[n].val = core_xmalloc(e->vlen + 1);
			if (e->vlen > 0)
				memcpy(v[n].val, e->val, e->vlen);
			v[n].vlen = e->vlen;
			n++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (n > 0)
		qsort(v, n, sizeof(*v), store_mem_copy_cmp);
	int rc = 0;
	size_t visited = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			rc = fn(arg, v[i].key, v[i].klen, v[i].val, v[i].vlen);
			visited++;
		}
		free(v[i].key);
		free(v[i].val);
	}
	free(v);
	if (rc < 0)
		return core_error_set(err, rc, NULL, "lookup scan stopped by its callback");
	return (int)visited;
}

static int store_mem_purge(void *h, uint64_t now, struct core_error *err)
{
	(void)err;
	struct store_mem *m = h;
	int removed = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nslots; i++) {
		struct store_mem_entry **pp = &m->slots[i];
		while (*pp != NULL) {
			struct store_mem_entry *e = *pp;
			if (store_mem_live(e, now)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			store_mem_entry_free(e);
			m->n--;
			removed++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return removed;
}

const struct store_lookup_ops store_memory_lookup = {
	.open = store_mem_open,
	.close = store_mem_close,
	.get = store_mem_get,
	.set = store_mem_set,
	.del = store_mem_del,
	.counter_add = store_mem_counter_add,
	.scan = store_mem_scan,
	.purge = store_mem_purge,
};
