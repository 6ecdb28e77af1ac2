/*
 * queue.c: durable outbound entries in the data store, message bytes in the blob store
 * (queue.h).
 */
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_arena.h"
#include "core/core_buf.h"

#define QUEUE_VERSION 1u
#define QUEUE_ATTEMPTS 20 /* transaction retries on conflict */
#define QUEUE_RESERVE_MS 600000u

struct queue {
	struct store_data *d;
	struct store_blob *b;
};

int queue_open(struct store_data *d, struct store_blob *b, struct queue **out,
	       struct core_error *err)
{
	if (d == NULL || b == NULL || !store_blob_meta_is(b, d))
		return core_error_set(
			err, CORE_ESYNTAX, NULL,
			"queue: the blob store must keep its links in the data store");
	struct queue *q = core_xcalloc(1, sizeof(*q));
	q->d = d;
	q->b = b;
	*out = q;
	return 0;
}

void queue_free(struct queue **q)
{
	if (q == NULL || *q == NULL)
		return;
	free(*q);
	*q = NULL;
}

/* --- encoding ---------------------------------------------------------------------------- */

static void put_u64(struct core_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 7; i >= 0; i--) {
		x[i] = (uint8_t)v;
		v >>= 8;
	}
	core_buf_append(b, x, 8);
}

static void put_str(struct core_buf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n > QUEUE_STR_MAX)
		n = QUEUE_STR_MAX;
	put_u64(b, n);
	core_buf_append(b, s != NULL ? s : "", n);
}

void queue_entry_encode(const struct queue_entry *e, struct core_buf *out)
{
	put_u64(out, QUEUE_VERSION);
	put_u64(out, e->id);
	put_u64(out, e->created_ms);
	put_u64(out, e->due_ms);
	put_str(out, e->lease_owner);
	put_u64(out, e->lease_until_ms);
	put_str(out, e->sender);
	put_str(out, e->auth_user);
	put_str(out, e->envid);
	put_u64(out, (uint64_t)e->ret);
	put_u64(out, (uint64_t)e->body);
	put_u64(out, (e->smtputf8 ? 1u : 0u) | (e->requiretls ? 2u : 0u) |
			     (e->has_priority ? 4u : 0u) | (e->has_by ? 8u : 0u) |
			     (e->by_trace ? 16u : 0u));
	put_u64(out, (uint64_t)(int64_t)e->priority);
	put_u64(out, (uint64_t)e->by_time);
	put_u64(out, (uint64_t)(unsigned char)e->by_mode);
	put_u64(out, e->hold_until);
	put_u64(out, e->size);
	core_buf_append(out, e->blob.hash, STORE_HASH_LEN);
	put_u64(out, e->nrcpts);
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct queue_rcpt *r = &e->rcpts[i];
		put_str(out, r->addr);
		put_u64(out, r->notify);
		put_str(out, r->orcpt_type);
		put_str(out, r->orcpt);
		put_u64(out, (uint64_t)r->status);
		put_u64(out, r->attempts);
		put_str(out, r->last_reply);
	}
}

struct rd {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static uint64_t get_u64(struct rd *r)
{
	if (r->n < 8) {
		r->bad = true;
		r->n = 0;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | r->p[i];
	r->p += 8;
	r->n -= 8;
	return v;
}

static const char *get_str(struct rd *r, struct core_arena *a)
{
	uint64_t n = get_u64(r);
	if (r->bad || n > QUEUE_STR_MAX || n > r->n) {
		r->bad = true;
		return "";
	}
	const char *s = core_arena_strndup(a, (const char *)r->p, (size_t)n);
	r->p += n;
	r->n -= (size_t)n;
	return s;
}

int queue_entry_decode(const void *p, size_t len, struct core_arena *a, struct queue_entry *out)
{
	struct rd r = {p, len, false};
	memset(out, 0, sizeof(*out));
	if (get_u64(&r) != QUEUE_VERSION)
		return CORE_ESYNTAX;
	out->id = get_u64(&r);
	out->created_ms = get_u64(&r);
	out->due_ms = get_u64(&r);
	out->lease_owner = get_str(&r, a);
	out->lease_until_ms = get_u64(&r);
	out->sender = get_str(&r, a);
	out->auth_user = get_str(&r, a);
	out->envid = get_str(&r, a);
	uint64_t ret = get_u64(&r), body = get_u64(&r), flags = get_u64(&r);
	if (ret > 2 || body > 2)
		r.bad = true;
	out->ret = (int)ret;
	out->body = (int)body;
	out->smtputf8 = flags & 1u;
	out->requiretls = flags & 2u;
	out->has_priority = flags & 4u;
	out->has_by = flags & 8u;
	out->by_trace = flags & 16u;
	int64_t prio = (int64_t)get_u64(&r);
	if (prio < -9 || prio > 9)
		r.bad = true;
	out->priority = (int)prio;
	out->by_time = (int64_t)get_u64(&r);
	out->by_mode = (char)get_u64(&r);
	out->hold_until = get_u64(&r);
	out->size = get_u64(&r);
	if (r.n < STORE_HASH_LEN) {
		r.bad = true;
	} else {
		memcpy(out->blob.hash, r.p, STORE_HASH_LEN);
		r.p += STORE_HASH_LEN;
		r.n -= STORE_HASH_LEN;
	}
	uint64_t n = get_u64(&r);
	if (r.bad || n > QUEUE_RCPTS_MAX)
		return CORE_ESYNTAX;
	out->rcpts = core_arena_zalloc(a, sizeof(*out->rcpts) * (n ? n : 1));
	out->nrcpts = (size_t)n;
	for (size_t i = 0; i < n && !r.bad; i++) {
		struct queue_rcpt *q = &out->rcpts[i];
		q->addr = get_str(&r, a);
		q->notify = (unsigned)get_u64(&r);
		q->orcpt_type = get_str(&r, a);
		q->orcpt = get_str(&r, a);
		uint64_t st = get_u64(&r);
		if (st > QUEUE_RCPT_FAILED)
			r.bad = true;
		q->status = (enum queue_rcpt_status)st;
		q->attempts = (unsigned)get_u64(&r);
		q->last_reply = get_str(&r, a);
	}
	if (r.bad || r.n != 0)
		return CORE_ESYNTAX;
	return 0;
}

/* --- keys -------------------------------------------------------------------------------- */

static void key_u64(uint8_t *k, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		k[i] = (uint8_t)v;
		v >>= 8;
	}
}

static size_t entry_key(uint8_t k[12], uint64_t id)
{
	memcpy(k, "q/e/", 4);
	key_u64(k + 4, id);
	return 12;
}

static size_t due_key(uint8_t k[20], uint64_t due, uint64_t id)
{
	memcpy(k, "q/d/", 4);
	key_u64(k + 4, due);
	key_u64(k + 12, id);
	return 20;
}

static void blob_owner(char out[32], uint64_t id)
{
	snprintf(out, 32, "q/%llu", (unsigned long long)id);
}

/* --- operations -------------------------------------------------------------------------- */

int queue_submit(struct queue *q, const struct queue_entry *e, const void *msg, size_t len,
		 uint64_t *id_out, struct core_error *err)
{
	if (e->nrcpts == 0 || e->nrcpts > QUEUE_RCPTS_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "queue: 1 to %u recipients",
				      QUEUE_RCPTS_MAX);
	struct store_blob_writer *w = NULL;
	struct store_blob_id blob;
	int rc = store_blob_write_begin(q->b, &w, err);
	if (rc == 0)
		rc = store_blob_write(w, msg, len, err);
	if (rc == 0)
		rc = store_blob_write_finish(&w, QUEUE_BLOB_ACCOUNT, QUEUE_RESERVE_MS, &blob, err);
	else
		store_blob_write_abort(&w);
	if (rc < 0)
		return rc;
	uint64_t now = store_now_ms();
	struct queue_entry x = *e;
	x.created_ms = now;
	x.blob = blob;
	x.size = len;
	if (x.due_ms == 0)
		x.due_ms = now;
	/* RFC 4865 §4: nothing leaves before the release time. */
	if (x.hold_until > 0 && x.hold_until * 1000u > x.due_ms)
		x.due_ms = x.hold_until * 1000u;
	if (x.lease_owner == NULL)
		x.lease_owner = "";
	struct core_buf val = CORE_BUF_INIT;
	for (int attempt = 0; attempt < QUEUE_ATTEMPTS; attempt++) {
		struct store_txn *t = NULL;
		rc = store_txn_begin(q->d, STORE_TXN_WRITE, &t, err);
		if (rc < 0)
			break;
		rc = store_txn_id_next(t, 0, QUEUE_COLLECTION, &x.id, err);
		uint8_t ek[12], dk[20];
		char owner[32];
		if (rc == 0) {
			core_buf_reset(&val);
			queue_entry_encode(&x, &val);
			rc = store_txn_put(t, ek, entry_key(ek, x.id), val.p, val.len, err);
		}
		if (rc == 0)
			rc = store_txn_put(t, dk, due_key(dk, x.due_ms, x.id), "", 0, err);
		if (rc == 0) {
			blob_owner(owner, x.id);
			rc = store_blob_link_txn(q->b, t, QUEUE_BLOB_ACCOUNT, QUEUE_BLOB_ACCOUNT,
						 &blob, owner, err);
		}
		if (rc < 0) {
			store_txn_abort(&t);
		} else {
			rc = store_txn_commit(&t, err);
		}
		if (rc != CORE_ECONFLICT)
			break;
	}
	core_buf_fini(&val);
	if (rc < 0)
		return rc;
	if (id_out != NULL)
		*id_out = x.id;
	return 0;
}

static int get_in(struct store_txn *t, uint64_t id, struct core_arena *a, struct queue_entry *out,
		  struct core_buf *raw, struct core_error *err)
{
	uint8_t ek[12];
	int rc = store_txn_get(t, ek, entry_key(ek, id), raw, err);
	if (rc < 0)
		return rc;
	if (queue_entry_decode(raw->p, raw->len, a, out) < 0)
		return core_error_set(err, CORE_EIO, NULL, "queue: entry %llu is damaged",
				      (unsigned long long)id);
	return 0;
}

int queue_get(struct queue *q, uint64_t id, struct core_arena *a, struct queue_entry *out,
	      struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(q->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	struct core_buf raw = CORE_BUF_INIT;
	rc = get_in(t, id, a, out, &raw, err);
	if (rc == CORE_ENOTFOUND)
		core_error_set(err, rc, NULL, "no queue entry %llu", (unsigned long long)id);
	core_buf_fini(&raw);
	store_txn_abort(&t);
	return rc;
}

struct list_ctx {
	int (*fn)(void *arg, const struct queue_entry *e);
	void *arg;
	struct core_arena *a;
	int bad;
};

static int list_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_ctx *c = arg;
	(void)key;
	(void)klen;
	struct queue_entry e;
	core_arena_reset(c->a);
	if (queue_entry_decode(val, vlen, c->a, &e) < 0) {
		c->bad++;
		return 0;
	}
	return c->fn(c->arg, &e) != 0 ? 1 : 0;
}

int queue_list(struct queue *q, int (*fn)(void *arg, const struct queue_entry *e), void *arg,
	       struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(q->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	struct store_range r;
	uint8_t hi[STORE_KEY_MAX];
	store_range_prefix(&r, "q/e/", 4, hi);
	struct list_ctx c = {fn, arg, core_arena_new(0), 0};
	rc = store_txn_scan(t, &r, list_one, &c, err);
	core_arena_free(&c.a);
	store_txn_abort(&t);
	return rc < 0 ? rc : 0;
}

int queue_remove(struct queue *q, uint64_t id, struct core_error *err)
{
	int rc = 0;
	for (int attempt = 0; attempt < QUEUE_ATTEMPTS; attempt++) {
		struct store_txn *t = NULL;
		rc = store_txn_begin(q->d, STORE_TXN_WRITE, &t, err);
		if (rc < 0)
			return rc;
		struct core_arena *a = core_arena_new(0);
		struct core_buf raw = CORE_BUF_INIT;
		struct queue_entry e;
		uint8_t ek[12], dk[20];
		char owner[32];
		rc = get_in(t, id, a, &e, &raw, err);
		if (rc == 0)
			rc = store_txn_assert(t, ek, entry_key(ek, id), raw.p, raw.len, err);
		if (rc == 0)
			rc = store_txn_delete(t, ek, entry_key(ek, id), err);
		if (rc == 0)
			rc = store_txn_delete(t, dk, due_key(dk, e.due_ms, id), err);
		if (rc == 0) {
			blob_owner(owner, id);
			rc = store_blob_unlink_txn(q->b, t, QUEUE_BLOB_ACCOUNT, &e.blob, owner,
						   err);
			if (rc == CORE_ENOTFOUND)
				rc = 0;
		}
		core_buf_fini(&raw);
		core_arena_free(&a);
		if (rc < 0) {
			store_txn_abort(&t);
			if (rc == CORE_ENOTFOUND)
				core_error_set(err, rc, NULL, "no queue entry %llu",
					       (unsigned long long)id);
		} else {
			rc = store_txn_commit(&t, err);
		}
		if (rc != CORE_ECONFLICT)
			break;
	}
	return rc;
}

struct due_ctx {
	uint64_t ids[64];
	size_t n;
};

static int due_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct due_ctx *c = arg;
	(void)val;
	(void)vlen;
	if (klen != 20)
		return 0;
	const uint8_t *k = key;
	uint64_t id = 0;
	for (int i = 12; i < 20; i++)
		id = id << 8 | k[i];
	c->ids[c->n++] = id;
	return c->n == CORE_NELEM(c->ids) ? 1 : 0;
}

int queue_lease(struct queue *q, const char *owner, uint64_t now_ms, uint64_t lease_ms,
		uint64_t *id_out, struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(q->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	struct store_range r;
	uint8_t lo[20], hi[20];
	memcpy(lo, "q/d/", 4);
	memset(lo + 4, 0, 16);
	due_key(hi, now_ms + 1, 0); /* every due time <= now_ms */
	r = (struct store_range){.lo = lo, .lo_len = 4, .hi = hi, .hi_len = 20};
	struct due_ctx c = {.n = 0};
	rc = store_txn_scan(t, &r, due_one, &c, err);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	struct core_buf raw = CORE_BUF_INIT, val = CORE_BUF_INIT;
	int found = 0;
	for (size_t i = 0; i < c.n && found == 0; i++) {
		struct core_arena *a = core_arena_new(0);
		struct queue_entry e;
		uint8_t ek[12];
		rc = store_txn_begin(q->d, STORE_TXN_WRITE, &t, err);
		if (rc < 0) {
			core_arena_free(&a);
			break;
		}
		rc = get_in(t, c.ids[i], a, &e, &raw, err);
		if (rc == 0 && e.lease_owner[0] != '\0' && e.lease_until_ms > now_ms)
			rc = 1; /* somebody else holds it */
		if (rc == 0)
			rc = store_txn_assert(t, ek, entry_key(ek, e.id), raw.p, raw.len, err);
		if (rc == 0) {
			e.lease_owner = owner;
			e.lease_until_ms = now_ms + lease_ms;
			core_buf_reset(&val);
			queue_entry_encode(&e, &val);
			rc = store_txn_put(t, ek, entry_key(ek, e.id), val.p, val.len, err);
		}
		if (rc == 0) {
			rc = store_txn_commit(&t, err);
			if (rc == 0) {
				*id_out = e.id;
				found = 1;
			}
		} else {
			store_txn_abort(&t);
		}
		core_arena_free(&a);
		/* A conflict or a missing entry means another owner won it: try the next. */
		if (rc == CORE_ECONFLICT || rc == CORE_ENOTFOUND || rc == 1)
			rc = 0;
		if (rc < 0)
			break;
	}
	core_buf_fini(&raw);
	core_buf_fini(&val);
	if (rc < 0)
		return rc;
	return found;
}

int queue_read(struct queue *q, const struct queue_entry *e, store_blob_read_fn fn, void *arg,
	       struct core_error *err)
{
	return store_blob_read(q->b, QUEUE_BLOB_ACCOUNT, &e->blob, 0, UINT64_MAX, fn, arg, err);
}
