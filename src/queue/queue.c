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
#include "core/core_log.h"

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

/* A number that must not exceed max: larger values are damage, never truncated. */
static uint64_t get_max(struct rd *r, uint64_t max)
{
	uint64_t v = get_u64(r);
	if (v > max) {
		r->bad = true;
		return 0;
	}
	return v;
}

/*
 * A string: its length (at most QUEUE_STR_MAX and within the record), then its bytes. A NUL
 * byte inside is damage: the C string would silently lose its tail on the next write.
 */
static const char *get_str(struct rd *r, struct core_arena *a)
{
	uint64_t n = get_u64(r);
	if (r->bad || n > QUEUE_STR_MAX || n > r->n ||
	    (n > 0 && memchr(r->p, '\0', (size_t)n) != NULL)) {
		r->bad = true;
		return "";
	}
	const char *s = core_arena_strndup(a, (const char *)r->p, (size_t)n);
	r->p += n;
	r->n -= (size_t)n;
	return s;
}

#define QUEUE_FLAGS_ALL 31u      /* smtputf8, requiretls, has_priority, has_by, by_trace */
#define QUEUE_NOTIFY_ALL 0xfu    /* RFC 3461 §4.1: NEVER, SUCCESS, FAILURE, DELAY */
#define QUEUE_RCPT_MIN_BYTES 56u /* a recipient with empty strings: seven 8-byte fields */
#define QUEUE_HOLD_MAX (UINT64_MAX / 1000u) /* release times must convert to milliseconds */

/* RFC 2852 §4: the by-mode is N (notify) or R (return); 0 when no BY was given. */
static bool by_mode_ok(uint64_t m)
{
	return m == 0 || m == 'N' || m == 'R';
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
	/* RFC 3461 §4.3: RET absent, FULL or HDRS; BODY 7BIT, 8BITMIME or BINARYMIME. */
	out->ret = (int)get_max(&r, 2);
	out->body = (int)get_max(&r, 2);
	uint64_t flags = get_max(&r, QUEUE_FLAGS_ALL);
	out->smtputf8 = flags & 1u;
	out->requiretls = flags & 2u;
	out->has_priority = flags & 4u;
	out->has_by = flags & 8u;
	out->by_trace = flags & 16u;
	/* RFC 6710 §7: priorities run from -9 to 9 (stored two's complement). */
	uint64_t prio = get_u64(&r);
	if (prio <= 9)
		out->priority = (int)prio;
	else if (prio >= UINT64_MAX - 8)
		out->priority = -(int)(UINT64_MAX - prio) - 1;
	else
		r.bad = true;
	out->by_time = (int64_t)get_u64(&r);
	uint64_t mode = get_u64(&r);
	if (!by_mode_ok(mode))
		r.bad = true;
	out->by_mode = (char)(mode & 0x7fu);
	out->hold_until = get_max(&r, QUEUE_HOLD_MAX);
	out->size = get_u64(&r);
	if (r.n < STORE_HASH_LEN) {
		r.bad = true;
	} else {
		memcpy(out->blob.hash, r.p, STORE_HASH_LEN);
		r.p += STORE_HASH_LEN;
		r.n -= STORE_HASH_LEN;
	}
	uint64_t n = get_u64(&r);
	/* A count the remaining bytes cannot hold is refused before anything is allocated. */
	if (r.bad || n > QUEUE_RCPTS_MAX || n > r.n / QUEUE_RCPT_MIN_BYTES)
		return CORE_ESYNTAX;
	out->rcpts = core_arena_zalloc(a, sizeof(*out->rcpts) * (n ? n : 1));
	out->nrcpts = (size_t)n;
	for (size_t i = 0; i < n && !r.bad; i++) {
		struct queue_rcpt *q = &out->rcpts[i];
		q->addr = get_str(&r, a);
		q->notify = (unsigned)get_max(&r, QUEUE_NOTIFY_ALL);
		q->orcpt_type = get_str(&r, a);
		q->orcpt = get_str(&r, a);
		q->status = (enum queue_rcpt_status)get_max(&r, QUEUE_RCPT_FAILED);
		q->attempts = (unsigned)get_max(&r, UINT32_MAX);
		q->last_reply = get_str(&r, a);
	}
	if (r.bad || r.n != 0)
		return CORE_ESYNTAX;
	return 0;
}

/*
 * What queue_submit accepts: exactly what queue_entry_decode reads back, so a stored entry is
 * never one the queue itself would call damaged.
 */
static bool str_ok(const char *s)
{
	return s == NULL || strlen(s) <= QUEUE_STR_MAX;
}

static int entry_check(const struct queue_entry *e, struct core_error *err)
{
	if (e->nrcpts == 0 || e->nrcpts > QUEUE_RCPTS_MAX || e->rcpts == NULL)
		return core_error_set(err, CORE_ELIMIT, NULL, "queue: 1 to %u recipients",
				      QUEUE_RCPTS_MAX);
	bool strs = str_ok(e->lease_owner) && str_ok(e->sender) && str_ok(e->auth_user) &&
		    str_ok(e->envid);
	for (size_t i = 0; i < e->nrcpts && strs; i++) {
		const struct queue_rcpt *r = &e->rcpts[i];
		strs = str_ok(r->addr) && str_ok(r->orcpt_type) && str_ok(r->orcpt) &&
		       str_ok(r->last_reply);
	}
	if (!strs)
		return core_error_set(err, CORE_ELIMIT, NULL,
				      "queue: an envelope string is longer than %u bytes",
				      QUEUE_STR_MAX);
	bool ok = e->ret >= 0 && e->ret <= 2 && e->body >= 0 && e->body <= 2 && e->priority >= -9 &&
		  e->priority <= 9 && by_mode_ok((uint64_t)(unsigned char)e->by_mode) &&
		  e->hold_until <= QUEUE_HOLD_MAX;
	for (size_t i = 0; i < e->nrcpts && ok; i++) {
		const struct queue_rcpt *r = &e->rcpts[i];
		ok = r->notify <= QUEUE_NOTIFY_ALL && (unsigned)r->status <= QUEUE_RCPT_FAILED;
	}
	if (!ok)
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "queue: an envelope parameter is out of range");
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
	int rc = entry_check(e, err);
	if (rc < 0)
		return rc;
	struct store_blob_writer *w = NULL;
	struct store_blob_id blob;
	rc = store_blob_write_begin(q->b, &w, err);
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
	/* A record that does not decode, or names another id than its key, is damaged. */
	if (queue_entry_decode(raw->p, raw->len, a, out) < 0 || out->id != id)
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
	const uint8_t *k = key;
	uint64_t id = 0;
	for (size_t i = 4; i < klen; i++)
		id = id << 8 | k[i];
	struct queue_entry e;
	core_arena_reset(c->a);
	/* As get_in: a record that does not decode, or names another id than its key. */
	if (klen != 12 || queue_entry_decode(val, vlen, c->a, &e) < 0 || e.id != id) {
		/* A damaged entry is reported, not shown, and does not end the listing. */
		c->bad++;
		core_logf(CORE_LOG_WARN, "queue.damaged", "a queue entry cannot be read, skipped");
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

struct due_of_ctx {
	uint64_t id;
	uint64_t dues[16];
	size_t n;
};

static int due_of_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct due_of_ctx *c = arg;
	(void)val;
	(void)vlen;
	const uint8_t *k = key;
	uint64_t due = 0, id = 0;
	if (klen != 20)
		return 0;
	for (int i = 4; i < 12; i++)
		due = due << 8 | k[i];
	for (int i = 12; i < 20; i++)
		id = id << 8 | k[i];
	if (id == c->id)
		c->dues[c->n++] = due;
	return c->n == CORE_NELEM(c->dues) ? 1 : 0;
}

/*
 * The due time of a damaged entry is unknown: drop every due index key of id (a scan of the
 * whole index, only ever for damage).
 */
static int due_drop_all(struct store_txn *t, uint64_t id, struct core_error *err)
{
	for (;;) {
		struct store_range r;
		uint8_t hi[STORE_KEY_MAX];
		store_range_prefix(&r, "q/d/", 4, hi);
		struct due_of_ctx c = {.id = id, .n = 0};
		int rc = store_txn_scan(t, &r, due_of_one, &c, err);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < c.n; i++) {
			uint8_t dk[20];
			rc = store_txn_delete(t, dk, due_key(dk, c.dues[i], id), err);
			if (rc < 0)
				return rc;
		}
		if (c.n < CORE_NELEM(c.dues))
			return 0;
	}
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
		bool damaged = rc == CORE_EIO;
		if (damaged) {
			/* A damaged entry can still be removed (else it would stay forever); the
			 * link of its message, named only inside the record, cannot be found. */
			core_error_clear(err);
			rc = 0;
		}
		if (rc == 0)
			rc = store_txn_assert(t, ek, entry_key(ek, id), raw.p, raw.len, err);
		if (rc == 0)
			rc = store_txn_delete(t, ek, entry_key(ek, id), err);
		if (rc == 0 && damaged)
			rc = due_drop_all(t, id, err);
		else if (rc == 0)
			rc = store_txn_delete(t, dk, due_key(dk, e.due_ms, id), err);
		if (rc == 0 && !damaged) {
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
			if (rc == 0 && damaged)
				core_logf(CORE_LOG_WARN, "queue.damaged",
					  "entry %llu removed; its message link, if any, is left",
					  (unsigned long long)id);
		}
		if (rc != CORE_ECONFLICT)
			break;
	}
	return rc;
}

#define QUEUE_LEASE_PAGE 64u /* due index keys read per scan */

struct due_ctx {
	uint64_t ids[QUEUE_LEASE_PAGE];
	uint8_t last[20]; /* the last key seen: the next page starts after it */
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
	memcpy(c->last, k, 20);
	c->ids[c->n++] = id;
	return c->n == CORE_NELEM(c->ids) ? 1 : 0;
}

/*
 * Try to lease entry id for owner: 1 when taken, 0 when somebody else holds it, it is gone
 * or another leaser won the race, a negative core_err on a store failure.
 */
static int lease_one(struct queue *q, uint64_t id, const char *owner, uint64_t now_ms,
		     uint64_t until_ms, struct core_buf *raw, struct core_buf *val,
		     struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(q->d, STORE_TXN_WRITE, &t, err);
	if (rc < 0)
		return rc;
	struct core_arena *a = core_arena_new(0);
	struct queue_entry e;
	uint8_t ek[12];
	rc = get_in(t, id, a, &e, raw, err);
	if (rc == CORE_EIO) {
		/* A damaged entry must not stop the queue: skip it, say so. */
		core_logf(CORE_LOG_WARN, "queue.damaged", "entry %llu cannot be read, skipped",
			  (unsigned long long)id);
		rc = 1;
	}
	if (rc == 0 && e.lease_owner[0] != '\0' && e.lease_until_ms > now_ms)
		rc = 1; /* somebody else holds it */
	/* Compare-and-set on the record read: of two leasers only one commits. */
	if (rc == 0)
		rc = store_txn_assert(t, ek, entry_key(ek, id), raw->p, raw->len, err);
	if (rc == 0) {
		e.lease_owner = owner;
		e.lease_until_ms = until_ms;
		core_buf_reset(val);
		queue_entry_encode(&e, val);
		rc = store_txn_put(t, ek, entry_key(ek, id), val->p, val->len, err);
	}
	if (rc == 0)
		rc = store_txn_commit(&t, err);
	else
		store_txn_abort(&t);
	core_arena_free(&a);
	/* A conflict or a missing entry means another owner won it. */
	if (rc == CORE_ECONFLICT || rc == CORE_ENOTFOUND || rc == 1)
		return 0;
	return rc < 0 ? rc : 1;
}

int queue_lease(struct queue *q, const char *owner, uint64_t now_ms, uint64_t lease_ms,
		uint64_t *id_out, struct core_error *err)
{
	/* An empty owner would write an entry that reads as not leased. */
	if (owner == NULL || owner[0] == '\0')
		return core_error_set(err, CORE_ESYNTAX, NULL, "queue: a lease needs an owner");
	/* A lease that ends as it starts would let the next leaser take the entry at once. */
	if (lease_ms == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "queue: a lease needs a duration");
	if (strlen(owner) > QUEUE_STR_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL,
				      "queue: a lease owner is longer than %u bytes",
				      QUEUE_STR_MAX);
	uint64_t until_ms = lease_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + lease_ms;
	/* Every due time <= now_ms: keys below due now_ms + 1, or the whole index at the end
	 * of time. */
	uint8_t lo[21], hi[20];
	size_t lo_len = 4, hi_len = 20;
	memcpy(lo, "q/d/", 4);
	if (now_ms < UINT64_MAX) {
		due_key(hi, now_ms + 1, 0);
	} else {
		memcpy(hi, "q/d0", 4); /* '0' follows '/': the end of the prefix */
		hi_len = 4;
	}
	struct core_buf raw = CORE_BUF_INIT, val = CORE_BUF_INIT;
	int rc = 0, found = 0;
	/* Page through the due index: leased entries stay in it, so a full first page must
	 * not hide a free entry behind it. */
	for (;;) {
		struct store_txn *t = NULL;
		rc = store_txn_begin(q->d, STORE_TXN_READ, &t, err);
		if (rc < 0)
			break;
		struct store_range r = {.lo = lo, .lo_len = lo_len, .hi = hi, .hi_len = hi_len};
		struct due_ctx c = {.n = 0};
		rc = store_txn_scan(t, &r, due_one, &c, err);
		store_txn_abort(&t);
		if (rc < 0)
			break;
		rc = 0;
		for (size_t i = 0; i < c.n && found == 0 && rc == 0; i++) {
			rc = lease_one(q, c.ids[i], owner, now_ms, until_ms, &raw, &val, err);
			if (rc == 1) {
				*id_out = c.ids[i];
				found = 1;
				rc = 0;
			}
		}
		if (rc < 0 || found || c.n < CORE_NELEM(c.ids))
			break;
		/* The smallest key after the last one seen: that key plus a 0 byte. */
		memcpy(lo, c.last, 20);
		lo[20] = 0;
		lo_len = 21;
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
