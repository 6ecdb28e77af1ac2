/*
 * store_lookup.c: the lookup store front end (ARCHITECTURE.md §4: key-value with TTL and
 * counters for rate limits, greylisting, reputation, Bayes tokens, cluster coordination),
 * and the lookup store kept in a data store.
 *
 * In a data store an entry lives in STORE_SPACE_LOOKUP as be64 expiry (ms since the epoch,
 * 0: never) followed by the value; a counter's value is 8 bytes big-endian. Expired entries
 * are invisible at once and removed by store_lookup_purge().
 */
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

struct store_lookup {
	const struct store_lookup_ops *ops;
	void *h;
	bool own; /* h was opened by store_lookup_open and is closed with the store */
};

static int store_lookup_key_check(const void *key, size_t klen, struct core_error *err)
{
	if (key == NULL || klen == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "empty key");
	if (klen > STORE_KEY_MAX)
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "key of %zu bytes exceeds %u", klen, STORE_KEY_MAX);
	return 0;
}

static uint64_t store_lookup_expiry(uint64_t ttl_ms)
{
	if (ttl_ms == 0)
		return 0;
	uint64_t now = store_now_ms();
	return ttl_ms > UINT64_MAX - now ? UINT64_MAX : now + ttl_ms;
}

static bool store_lookup_live(uint64_t expires, uint64_t now)
{
	return expires == 0 || expires > now;
}

/* ---------------------------------------------------------------- over a data store */

static int store_dlookup_get(void *h, const void *k, size_t kl, uint64_t now,
			     struct core_buf *v_out, struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(h, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	core_buf_reset(v_out);
	rc = store_txn_raw_get(t, STORE_SPACE_LOOKUP, k, kl, false, v_out, err);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	if (v_out->len < 8)
		return core_error_set(err, CORE_EIO, NULL, "lookup entry is corrupt");
	if (!store_lookup_live(store_be64_get((const uint8_t *)v_out->p), now)) {
		core_buf_reset(v_out);
		return CORE_ENOTFOUND;
	}
	core_buf_consume(v_out, 8);
	return 0;
}

struct store_dlookup_set {
	const void *k, *v;
	size_t kl, vl;
	uint64_t expires;
};

static int store_dlookup_set_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_dlookup_set *a = arg;
	uint8_t *buf = core_xmalloc(a->vl + 8);
	store_be64_put(buf, a->expires);
	if (a->vl > 0)
		memcpy(buf + 8, a->v, a->vl);
	int rc = store_txn_raw_put(t, STORE_SPACE_LOOKUP, a->k, a->kl, buf, a->vl + 8, err);
	free(buf);
	return rc;
}

static int store_dlookup_set(void *h, const void *k, size_t kl, const void *v, size_t vl,
			     uint64_t expires, struct core_error *err)
{
	struct store_dlookup_set a = {k, v, kl, vl, expires};
	return store_data_write_retry(h, store_dlookup_set_fn, &a, err);
}

static int store_dlookup_del_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	const struct store_dlookup_set *a = arg;
	return store_txn_raw_del(t, STORE_SPACE_LOOKUP, a->k, a->kl, err);
}

static int store_dlookup_del(void *h, const void *k, size_t kl, struct core_error *err)
{
	struct store_dlookup_set a = {k, NULL, kl, 0, 0};
	return store_data_write_retry(h, store_dlookup_del_fn, &a, err);
}

struct store_dlookup_ctr {
	const void *k;
	size_t kl;
	int64_t delta;
	uint64_t now, expires;
	int64_t value;
};

static int store_dlookup_ctr_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_dlookup_ctr *a = arg;
	struct core_buf cur = CORE_BUF_INIT;
	int64_t v = 0;
	uint64_t exp = a->expires;
	int rc = store_txn_raw_get(t, STORE_SPACE_LOOKUP, a->k, a->kl, true, &cur, err);
	if (rc == 0) {
		const uint8_t *p = (const uint8_t *)cur.p;
		if (cur.len < 8) {
			rc = core_error_set(err, CORE_EIO, NULL, "lookup entry is corrupt");
		} else if (store_lookup_live(store_be64_get(p), a->now)) {
			if (cur.len != 16) {
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "key does not hold a counter");
			} else {
				/* A live counter keeps its window (fixed-window rate limit). */
				exp = store_be64_get(p);
				v = (int64_t)store_be64_get(p + 8);
			}
		}
	} else if (rc == CORE_ENOTFOUND) {
		rc = 0;
	}
	core_buf_fini(&cur);
	if (rc < 0)
		return rc;
	v = (int64_t)((uint64_t)v + (uint64_t)a->delta);
	uint8_t enc[16];
	store_be64_put(enc, exp);
	store_be64_put(enc + 8, (uint64_t)v);
	rc = store_txn_raw_put(t, STORE_SPACE_LOOKUP, a->k, a->kl, enc, sizeof(enc), err);
	a->value = v;
	return rc;
}

static int store_dlookup_counter_add(void *h, const void *k, size_t kl, int64_t delta, uint64_t now,
				     uint64_t expires, int64_t *value_out, struct core_error *err)
{
	struct store_dlookup_ctr a = {k, kl, delta, now, expires, 0};
	int rc = store_data_write_retry(h, store_dlookup_ctr_fn, &a, err);
	if (rc == 0 && value_out != NULL)
		*value_out = a.value;
	return rc;
}

struct store_dlookup_scan {
	store_scan_fn fn;
	void *arg;
	uint64_t now;
	size_t n;
};

static int store_dlookup_scan_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_dlookup_scan *s = arg;
	if (vl < 8)
		return CORE_EIO;
	if (!store_lookup_live(store_be64_get(v), s->now))
		return 0;
	s->n++;
	return s->fn(s->arg, k, kl, (const uint8_t *)v + 8, vl - 8);
}

static int store_dlookup_scan(void *h, const void *prefix, size_t plen, uint64_t now,
			      store_scan_fn fn, void *arg, struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(h, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, prefix, plen, hi);
	struct store_dlookup_scan s = {fn, arg, now, 0};
	rc = store_txn_raw_scan(t, STORE_SPACE_LOOKUP, &r, store_dlookup_scan_cb, &s, err);
	store_txn_abort(&t);
	return rc < 0 ? rc : (int)s.n;
}

#define STORE_PURGE_BATCH 512

struct store_dlookup_purge {
	struct core_buf keys; /* u8 length + key, repeated */
	size_t n;
	uint64_t now;
};

static int store_dlookup_purge_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_dlookup_purge *p = arg;
	if (vl >= 8 && store_lookup_live(store_be64_get(v), p->now))
		return 0;
	uint8_t len = (uint8_t)kl;
	core_buf_append(&p->keys, &len, 1);
	core_buf_append(&p->keys, k, kl);
	return ++p->n >= STORE_PURGE_BATCH ? 1 : 0;
}

static int store_dlookup_purge_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_dlookup_purge *p = arg;
	struct store_range r = {0};
	core_buf_reset(&p->keys);
	p->n = 0;
	int rc = store_txn_raw_scan(t, STORE_SPACE_LOOKUP, &r, store_dlookup_purge_cb, p, err);
	for (size_t off = 0; rc >= 0 && off < p->keys.len;) {
		const uint8_t *k = (const uint8_t *)p->keys.p + off;
		rc = store_txn_raw_del(t, STORE_SPACE_LOOKUP, k + 1, k[0], err);
		off += 1u + k[0];
	}
	return rc < 0 ? rc : 0;
}

static int store_dlookup_purge(void *h, uint64_t now, struct core_error *err)
{
	struct store_dlookup_purge p = {CORE_BUF_INIT, 0, now};
	int total = 0, rc;
	do {
		rc = store_data_write_retry(h, store_dlookup_purge_fn, &p, err);
		if (rc == 0)
			total += (int)p.n;
	} while (rc == 0 && p.n >= STORE_PURGE_BATCH);
	core_buf_fini(&p.keys);
	return rc < 0 ? rc : total;
}

static const struct store_lookup_ops store_dlookup_ops = {
	.get = store_dlookup_get,
	.set = store_dlookup_set,
	.del = store_dlookup_del,
	.counter_add = store_dlookup_counter_add,
	.scan = store_dlookup_scan,
	.purge = store_dlookup_purge,
};

/* ---------------------------------------------------------------- front end */

int store_lookup_open(const char *backend, const struct store_params *p, struct store_lookup **out,
		      struct core_error *err)
{
	const struct store_backend *b = store_backend_find(backend);
	if (b == NULL || b->lookup == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL,
				      "no lookup store backend named %s (a data store backend "
				      "is used through store_lookup_open_data)",
				      backend != NULL ? backend : "(null)");
	struct store_params none = {0};
	void *h = NULL;
	int rc = b->lookup->open(p != NULL ? p : &none, &h, err);
	if (rc < 0)
		return rc;
	struct store_lookup *l = core_xcalloc(1, sizeof(*l));
	l->ops = b->lookup;
	l->h = h;
	l->own = true;
	*out = l;
	return 0;
}

int store_lookup_open_data(struct store_data *d, struct store_lookup **out, struct core_error *err)
{
	if (d == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "no data store");
	struct store_lookup *l = core_xcalloc(1, sizeof(*l));
	l->ops = &store_dlookup_ops;
	l->h = d;
	*out = l;
	return 0;
}

void store_lookup_free(struct store_lookup **l)
{
	if (l == NULL || *l == NULL)
		return;
	if ((*l)->own)
		(*l)->ops->close((*l)->h);
	free(*l);
	*l = NULL;
}

int store_lookup_get(struct store_lookup *l, const void *key, size_t klen, struct core_buf *val_out,
		     struct core_error *err)
{
	int rc = store_lookup_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	return l->ops->get(l->h, key, klen, store_now_ms(), val_out, err);
}

int store_lookup_set(struct store_lookup *l, const void *key, size_t klen, const void *val,
		     size_t vlen, uint64_t ttl_ms, struct core_error *err)
{
	int rc = store_lookup_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (vlen > STORE_LOOKUP_VALUE_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL,
				      "lookup value of %zu bytes exceeds %u", vlen,
				      STORE_LOOKUP_VALUE_MAX);
	if (val == NULL && vlen > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "value is NULL");
	return l->ops->set(l->h, key, klen, val, vlen, store_lookup_expiry(ttl_ms), err);
}

int store_lookup_delete(struct store_lookup *l, const void *key, size_t klen,
			struct core_error *err)
{
	int rc = store_lookup_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	return l->ops->del(l->h, key, klen, err);
}

int store_lookup_counter_add(struct store_lookup *l, const void *key, size_t klen, int64_t delta,
			     uint64_t ttl_ms, int64_t *value_out, struct core_error *err)
{
	int rc = store_lookup_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	return l->ops->counter_add(l->h, key, klen, delta, store_now_ms(),
				   store_lookup_expiry(ttl_ms), value_out, err);
}

int store_lookup_scan(struct store_lookup *l, const void *prefix, size_t plen, store_scan_fn fn,
		      void *arg, struct core_error *err)
{
	if (plen > STORE_KEY_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "prefix exceeds %u bytes",
				      STORE_KEY_MAX);
	return l->ops->scan(l->h, prefix, plen, store_now_ms(), fn, arg, err);
}

int store_lookup_purge(struct store_lookup *l, struct core_error *err)
{
	return l->ops->purge(l->h, store_now_ms(), err);
}
