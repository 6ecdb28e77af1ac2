/*
 * mailstore.c: opening the mail store, the transaction runner (the account's change counter
 * read, asserted and advanced inside the committing transaction, ARCHITECTURE.md §4), the
 * change log with /changes (RFC 8620 §5.2) and VANISHED (RFC 7162 §3.2.10) queries, tombstone
 * expiry, quotas and the in-process change bus.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailstore/mailstore_share.h"

#define MS_DAY_MS (24ull * 3600ull * 1000ull)

int mailstore_open(struct store_data *d, struct store_blob *b, const struct mailstore_options *o,
		   struct mailstore **out, struct core_error *err)
{
	if (d == NULL || b == NULL || out == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "mailstore_open: missing store");
	if (!store_blob_meta_is(b, d))
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "mailstore_open: the blob store keeps its links elsewhere");
	struct mailstore *ms = core_xcalloc(1, sizeof(*ms));
	ms->d = d;
	ms->b = b;
	if (o != NULL)
		ms->o = *o;
	if (ms->o.tombstone_ms == 0)
		ms->o.tombstone_ms = 30 * MS_DAY_MS;
	if (ms->o.max_attempts == 0)
		ms->o.max_attempts = 200;
	if (ms->o.reserve_ms == 0)
		ms->o.reserve_ms = 3600ull * 1000ull;
	*out = ms;
	return 0;
}

void mailstore_free(struct mailstore **ms)
{
	if (ms == NULL || *ms == NULL)
		return;
	free(*ms);
	*ms = NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Store helpers                                                                      */
/* ---------------------------------------------------------------------------------- */

int ms_get(struct ms_tx *tx, const uint8_t *k, size_t kl, struct core_buf *v)
{
	return store_txn_get(tx->t, k, kl, v, tx->err);
}

int ms_put(struct ms_tx *tx, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
	return store_txn_put(tx->t, k, kl, v, vl, tx->err);
}

int ms_put_nochunks(struct ms_tx *tx, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
	return store_txn_put_nochunks(tx->t, k, kl, v, vl, tx->err);
}

int ms_del(struct ms_tx *tx, const uint8_t *k, size_t kl)
{
	return store_txn_delete(tx->t, k, kl, tx->err);
}

/* ---------------------------------------------------------------------------------- */
/* Transactions                                                                       */
/* ---------------------------------------------------------------------------------- */

int ms_tx_fail(struct ms_tx *tx, int code, const char *rule, const char *msg)
{
	tx->final = true;
	return core_error_set(tx->err, code, rule, "%s", msg);
}

void ms_link_owner(uint64_t email, char out[32])
{
	snprintf(out, 32, "m/%llu", (unsigned long long)email);
}

struct ms_tx_acct *ms_tx_acct(struct ms_tx *tx, uint64_t account)
{
	for (size_t i = 0; i < tx->nacct; i++)
		if (tx->acct[i].account == account)
			return &tx->acct[i];
	return NULL;
}

void ms_tx_log(struct ms_tx *tx, struct ms_tx_acct *ac, enum mailstore_type type, unsigned op,
	       uint64_t id)
{
	(void)tx;
	ms_put_u64(&ac->log, (uint64_t)type);
	ms_put_u64(&ac->log, op);
	ms_put_u64(&ac->log, id);
	ac->nlog++;
	ac->types |= (unsigned)type;
	ac->dirty = true;
}

int ms_tx_mbox(struct ms_tx *tx, uint64_t account, uint64_t id, struct ms_tx_mbox **out)
{
	for (size_t i = 0; i < tx->nmbox; i++) {
		struct ms_tx_mbox *mb = tx->mbox[i];
		if (mb->account == account && mb->m.id == id) {
			if (mb->destroyed)
				return core_error_set(tx->err, CORE_ENOTFOUND, NULL,
						      "no such mailbox");
			*out = mb;
			return 0;
		}
	}
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_MAILBOX, id);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND) {
		core_buf_fini(&v);
		return core_error_set(tx->err, CORE_ENOTFOUND, NULL, "no such mailbox");
	}
	if (rc < 0) {
		core_buf_fini(&v);
		return rc;
	}
	struct mailstore_mailbox m = {.id = id};
	rc = ms_mailbox_decode(v.p, v.len, tx->a, &m);
	core_buf_fini(&v);
	if (rc < 0)
		return core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt mailbox record");
	struct ms_tx_mbox *mb = ms_tx_mbox_add(tx, account, &m);
	mb->dirty = false;
	*out = mb;
	return 0;
}

int ms_tx_mbox_need(struct ms_tx *tx, uint64_t account, uint64_t id, const char *rule,
		    struct ms_tx_mbox **out)
{
	int rc = ms_tx_mbox(tx, account, id, out);
	return rc == CORE_ENOTFOUND ? ms_tx_fail(tx, rc, rule, "no such mailbox") : rc;
}

struct ms_tx_mbox *ms_tx_mbox_add(struct ms_tx *tx, uint64_t account,
				  const struct mailstore_mailbox *m)
{
	if (tx->nmbox == tx->capmbox) {
		size_t cap = tx->capmbox ? tx->capmbox * 2 : 16;
		struct ms_tx_mbox **n = core_arena_alloc(tx->a, cap * sizeof(*n));
		if (tx->nmbox > 0)
			memcpy(n, tx->mbox, tx->nmbox * sizeof(*n));
		tx->mbox = n;
		tx->capmbox = cap;
	}
	struct ms_tx_mbox *mb = core_arena_alloc(tx->a, sizeof(*mb));
	tx->mbox[tx->nmbox++] = mb;
	memset(mb, 0, sizeof(*mb));
	mb->account = account;
	mb->m = *m;
	mb->dirty = true;
	return mb;
}

void ms_tx_mbox_touch(struct ms_tx *tx, struct ms_tx_mbox *mb, bool counts)
{
	struct ms_tx_acct *ac = ms_tx_acct(tx, mb->account);
	CORE_ASSERT(ac != NULL);
	/* RFC 7162 §3.1.1: HIGHESTMODSEQ is the highest mod-sequence of any message in it;
	 * ARCHITECTURE.md §4: a change to an email raises it in every mailbox holding it. */
	mb->m.highest_modseq = ac->modseq;
	mb->dirty = true;
	ac->dirty = true;
	if (counts && !mb->logged) {
		/* RFC 8621 §2: the counts are properties of the Mailbox, so a count change is
		 * a Mailbox update for /changes (marked as counts-only, §2.2). */
		mb->m.updated_modseq = ac->modseq;
		ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_COUNTS, mb->m.id);
		mb->logged = true;
	}
}

static int ms_tx_acct_open(struct ms_tx *tx, uint64_t account)
{
	struct ms_tx_acct *ac = &tx->acct[tx->nacct++];
	ac->account = account;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key(k, account, MS_F_ACCOUNT);
	struct core_buf v = CORE_BUF_INIT;
	/* ARCHITECTURE.md §4: the change counter is read and advanced inside the committing
	 * transaction, under the account key's lock (taken before the read, also for an account
	 * not created yet, so two first writers serialise): writers of one account wait for
	 * each other instead of failing, and their commits become visible in counter order. */
	int rc = store_txn_get_for_update(tx->t, k, kl, &v, tx->err);
	if (rc == CORE_ENOTFOUND) {
		core_buf_fini(&v);
		memset(&ac->rec, 0, sizeof(ac->rec));
		ac->modseq = 1;
		return ms_account_init(tx, ac);
	}
	if (rc < 0) {
		core_buf_fini(&v);
		return rc;
	}
	if (ms_account_decode(v.p, v.len, &ac->rec) < 0)
		rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt account record");
	core_buf_fini(&v);
	if (rc < 0)
		return rc;
	if (ac->rec.deleting)
		return ms_tx_fail(tx, CORE_ENOTFOUND, NULL, "no such account (being deleted)");
	ac->modseq = ac->rec.modseq + 1;
	return 0;
}

static int ms_tx_flush(struct ms_tx *tx)
{
	uint8_t k[STORE_KEY_MAX];
	struct core_buf v = CORE_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < tx->nmbox && rc >= 0; i++) {
		struct ms_tx_mbox *mb = tx->mbox[i];
		if (!mb->dirty || mb->destroyed)
			continue;
		ms_mailbox_encode(&mb->m, &v);
		size_t kl = ms_key_id(k, mb->account, MS_F_MAILBOX, mb->m.id);
		rc = ms_put(tx, k, kl, v.p, v.len);
	}
	for (size_t i = 0; i < tx->nacct && rc >= 0; i++) {
		struct ms_tx_acct *ac = &tx->acct[i];
		if (!ac->dirty && !ac->rec_dirty)
			continue;
		if (ac->dirty) {
			ac->rec.modseq = ac->modseq;
			if (ac->nlog > 0) {
				core_buf_reset(&v);
				ms_put_u64(&v, MS_V_CHANGE);
				ms_put_u64(&v, store_now_ms());
				ms_put_u64(&v, ac->nlog);
				core_buf_append(&v, ac->log.p, ac->log.len);
				/* The modseq was taken in this transaction: a new key. */
				size_t kl = ms_key_id(k, ac->account, MS_F_CHANGE, ac->modseq);
				rc = ms_put_nochunks(tx, k, kl, v.p, v.len);
				if (rc < 0)
					break;
			}
		}
		ms_account_encode(&ac->rec, &v);
		size_t kl = ms_key(k, ac->account, MS_F_ACCOUNT);
		rc = ms_put(tx, k, kl, v.p, v.len);
	}
	core_buf_fini(&v);
	return rc;
}

static void ms_backoff(unsigned attempt)
{
	/* Random wait growing with the attempt number (up to ~10 ms), so writers that keep
	 * colliding spread out. */
	static _Thread_local uint64_t seed;
	if (seed == 0)
		seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	unsigned cap = attempt < 10 ? 100u << attempt : 10000u;
	if (cap > 10000u)
		cap = 10000u;
	struct timespec ts = {0, (long)(seed % cap) * 1000L};
	nanosleep(&ts, NULL);
}

static int ms_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int ms_tx_run(struct mailstore *ms, const uint64_t *accounts, size_t n, ms_tx_fn fn, void *ctx,
	      struct core_error *err)
{
	if (n == 0 || n > MS_TX_ACCTS)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many accounts in one operation");
	uint64_t accts[MS_TX_ACCTS];
	memcpy(accts, accounts, n * sizeof(*accts));
	/* Lock account records in one order so multi-account deliveries cannot deadlock. */
	qsort(accts, n, sizeof(*accts), ms_u64_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (accts[i] == 0)
			return core_error_set(err, CORE_ESYNTAX, NULL, "account id 0");
		if (m == 0 || accts[m - 1] != accts[i])
			accts[m++] = accts[i];
	}
	struct ms_tx *tx = core_xcalloc(1, sizeof(*tx));
	tx->ms = ms;
	tx->a = core_arena_new(0);
	tx->err = err;
	int rc = 0;
	for (unsigned attempt = 0;; attempt++) {
		core_error_clear(err);
		core_arena_reset(tx->a);
		for (size_t i = 0; i < tx->nacct; i++)
			core_buf_fini(&tx->acct[i].log);
		memset(tx->acct, 0, sizeof(tx->acct));
		tx->nacct = 0;
		tx->mbox = NULL;
		tx->nmbox = tx->capmbox = 0;
		tx->final = false;
		rc = store_txn_begin(ms->d, STORE_TXN_WRITE, &tx->t, err);
		for (size_t i = 0; i < m && rc >= 0; i++)
			rc = ms_tx_acct_open(tx, accts[i]);
		int result = 0;
		if (rc >= 0)
			rc = result = fn(tx, ctx);
		if (rc >= 0)
			rc = ms_tx_flush(tx);
		if (rc >= 0)
			rc = store_txn_commit(&tx->t, err);
		else
			store_txn_abort(&tx->t);
		if (rc >= 0) {
			rc = result;
			break;
		}
		/* Conflicts (a concurrent writer of the account) and a busy backend retry the
		 * whole attempt; everything else is final. */
		if ((rc != CORE_ECONFLICT && rc != CORE_ETEMP) || tx->final ||
		    attempt + 1 >= ms->o.max_attempts)
			break;
		ms_backoff(attempt);
	}
	if (rc >= 0) {
		for (size_t i = 0; i < tx->nacct; i++)
			if (tx->acct[i].dirty)
				ms_bus_publish(ms, tx->acct[i].account, tx->acct[i].types,
					       tx->acct[i].modseq);
	}
	for (size_t i = 0; i < tx->nacct; i++)
		core_buf_fini(&tx->acct[i].log);
	core_arena_free(&tx->a);
	free(tx);
	return rc;
}

int ms_tx_read(struct mailstore *ms, uint64_t account, ms_tx_fn fn, void *ctx,
	       struct core_error *err)
{
	struct ms_tx *tx = core_xcalloc(1, sizeof(*tx));
	tx->ms = ms;
	tx->a = core_arena_new(0);
	tx->err = err;
	core_error_clear(err);
	int rc = store_txn_begin(ms->d, STORE_TXN_READ, &tx->t, err);
	if (rc >= 0) {
		/* An account being deleted is gone at once for every reader. */
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_key(k, account, MS_F_ACCOUNT);
		struct core_buf v = CORE_BUF_INIT;
		struct ms_account_rec r;
		int g = store_txn_get(tx->t, k, kl, &v, err);
		if (g >= 0 && ms_account_decode(v.p, v.len, &r) >= 0 && r.deleting)
			rc = core_error_set(err, CORE_ENOTFOUND, NULL, "no such account");
		else if (g < 0 && g != CORE_ENOTFOUND)
			rc = g;
		core_error_clear(rc >= 0 ? err : NULL);
		core_buf_fini(&v);
	}
	if (rc >= 0)
		rc = fn(tx, ctx);
	if (tx->t != NULL)
		store_txn_abort(&tx->t);
	core_arena_free(&tx->a);
	free(tx);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Accounts and quotas                                                                */
/* ---------------------------------------------------------------------------------- */

static int ms_acct_read(struct ms_tx *tx, uint64_t account, struct ms_account_rec *out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key(k, account, MS_F_ACCOUNT);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND)
		rc = core_error_set(tx->err, CORE_ENOTFOUND, NULL, "no such account");
	else if (rc >= 0 && ms_account_decode(v.p, v.len, out) < 0)
		rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt account record");
	core_buf_fini(&v);
	return rc;
}

static int ms_noop(struct ms_tx *tx, void *ctx)
{
	(void)tx;
	(void)ctx;
	return 0;
}

int mailstore_account_ensure(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	return ms_tx_run(ms, &account, 1, ms_noop, NULL, err);
}

struct ms_acct_get_ctx {
	uint64_t account;
	struct mailstore_account *out;
};

static int ms_acct_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acct_get_ctx *c = ctx;
	struct ms_account_rec r;
	int rc = ms_acct_read(tx, c->account, &r);
	if (rc < 0)
		return rc;
	c->out->modseq = r.modseq;
	c->out->changes_floor = r.floor;
	c->out->used_bytes = r.used_bytes;
	c->out->used_messages = r.used_messages;
	c->out->quota_bytes = r.quota_bytes;
	c->out->quota_messages = r.quota_messages;
	return 0;
}

int mailstore_account_get(struct mailstore *ms, uint64_t account, struct mailstore_account *out,
			  struct core_error *err)
{
	struct ms_acct_get_ctx c = {account, out};
	return ms_tx_read(ms, c.account, ms_acct_get_fn, &c, err);
}

struct ms_quota_ctx {
	uint64_t bytes, messages;
};

static int ms_quota_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_quota_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	ac->rec.quota_bytes = c->bytes;
	ac->rec.quota_messages = c->messages;
	ac->rec_dirty = true;
	return 0;
}

int mailstore_quota_set(struct mailstore *ms, uint64_t account, uint64_t bytes, uint64_t messages,
			struct core_error *err)
{
	struct ms_quota_ctx c = {bytes, messages};
	return ms_tx_run(ms, &account, 1, ms_quota_fn, &c, err);
}

/* ---------------------------------------------------------------------------------- */
/* Changes                                                                            */
/* ---------------------------------------------------------------------------------- */

struct ms_chg_item {
	uint64_t id;
	uint64_t seq; /* order of appearance */
	unsigned op;
};

struct ms_changes_ctx {
	uint64_t account;
	enum mailstore_type type;
	uint64_t since;
	size_t max;
	struct core_arena *out_arena;
	struct mailstore_changes *out;
	struct ms_chg_item *items;
	size_t nitems, cap;
	uint64_t last_modseq;
	bool stopped;
	int bad;
};

static int ms_changes_scan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_changes_ctx *c = arg;
	if (klen != 18) {
		c->bad = CORE_EINTERNAL;
		return 1;
	}
	uint64_t modseq = ms_rd_be64((const uint8_t *)key + 10);
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	(void)ms_get_u64(&d); /* version */
	(void)ms_get_u64(&d); /* time */
	uint64_t n = ms_get_u64(&d);
	size_t start = c->nitems;
	for (uint64_t i = 0; i < n && !d.bad; i++) {
		uint64_t type = ms_get_u64(&d);
		unsigned op = (unsigned)ms_get_u64(&d);
		uint64_t id = ms_get_u64(&d);
		if (type != (uint64_t)c->type)
			continue;
		if (c->nitems == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 64;
			c->items = core_xrealloc(c->items, c->cap * sizeof(*c->items));
		}
		c->items[c->nitems++] = (struct ms_chg_item){id, c->nitems, op};
	}
	if (d.bad) {
		c->bad = CORE_EINTERNAL;
		return 1;
	}
	/* RFC 8620 §5.2: stop at a state boundary once maxChanges ids are reached; a state
	 * whose own changes exceed the limit cannot be split. */
	if (c->max != 0 && c->nitems > c->max) {
		if (start == 0) {
			c->bad = CORE_ELIMIT;
			return 1;
		}
		c->nitems = start;
		c->stopped = true;
		return 1;
	}
	c->last_modseq = modseq;
	if (c->max != 0 && c->nitems == c->max) {
		c->stopped = true;
		return 1;
	}
	return 0;
}

static int ms_item_cmp(const void *a, const void *b)
{
	const struct ms_chg_item *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int ms_changes_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_changes_ctx *c = ctx;
	struct ms_account_rec r;
	int rc = ms_acct_read(tx, c->account, &r);
	if (rc < 0)
		return rc;
	/* RFC 8620 §5.2: a state we cannot compute from (tombstones expired, or a state this
	 * account never had) is cannotCalculateChanges. */
	if (c->since < r.floor || c->since > r.modseq)
		return core_error_set(tx->err, CORE_ELIMIT, "RFC 8620 §5.2",
				      "cannotCalculateChanges");
	c->last_modseq = c->since;
	uint8_t lo[STORE_KEY_MAX], pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t ll = ms_key_id(lo, c->account, MS_F_CHANGE, c->since + 1);
	size_t pl = ms_key(pre, c->account, MS_F_CHANGE);
	struct store_range range;
	store_range_prefix(&range, pre, pl, hi);
	range.lo = lo;
	range.lo_len = ll;
	rc = store_txn_scan(tx->t, &range, ms_changes_scan, c, tx->err);
	if (rc < 0)
		return rc;
	if (c->bad == CORE_ELIMIT)
		return core_error_set(tx->err, CORE_ELIMIT, "RFC 8620 §5.2",
				      "one state holds more than maxChanges changes");
	if (c->bad < 0)
		return core_error_set(tx->err, c->bad, NULL, "corrupt change log");
	struct mailstore_changes *o = c->out;
	memset(o, 0, sizeof(*o));
	o->old_state = c->since;
	/* Without a stop the window reaches the account's current state, even when the last
	 * changes were of other types. */
	o->new_state = c->stopped ? c->last_modseq : r.modseq;
	o->has_more = c->stopped && c->last_modseq < r.modseq;
	if (c->nitems > 1)
		qsort(c->items, c->nitems, sizeof(*c->items), ms_item_cmp);
	size_t cap = c->nitems + 1;
	o->created = core_arena_alloc(c->out_arena, cap * sizeof(uint64_t));
	o->updated = core_arena_alloc(c->out_arena, cap * sizeof(uint64_t));
	o->destroyed = core_arena_alloc(c->out_arena, cap * sizeof(uint64_t));
	o->counts_only = c->type == MAILSTORE_T_MAILBOX;
	for (size_t i = 0; i < c->nitems;) {
		size_t j = i;
		bool created = false, destroyed = false, props = false;
		for (; j < c->nitems && c->items[j].id == c->items[i].id; j++) {
			created |= c->items[j].op == MS_OP_CREATED;
			destroyed |= c->items[j].op == MS_OP_DESTROYED;
			props |= c->items[j].op == MS_OP_UPDATED;
		}
		if (!created && !destroyed && props)
			o->counts_only = false;
		/* RFC 8620 §5.2: an id created and destroyed since the old state need not be
		 * reported; created wins over updated; destroyed over updated. */
		if (created && !destroyed)
			o->created[o->ncreated++] = c->items[i].id;
		else if (destroyed && !created)
			o->destroyed[o->ndestroyed++] = c->items[i].id;
		else if (!created && !destroyed)
			o->updated[o->nupdated++] = c->items[i].id;
		i = j;
	}
	return 0;
}

int mailstore_changes_get(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			  uint64_t since, size_t max_changes, struct core_arena *a,
			  struct mailstore_changes *out, struct core_error *err)
{
	struct ms_changes_ctx c = {.account = account,
				   .type = type,
				   .since = since,
				   .max = max_changes,
				   .out_arena = a,
				   .out = out};
	int rc = ms_tx_read(ms, c.account, ms_changes_fn, &c, err);
	free(c.items);
	return rc;
}

struct ms_vanished_ctx {
	uint64_t account, mailbox, since;
	mailstore_vanished_fn fn;
	void *arg;
	int n;
};

static int ms_vanished_scan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_vanished_ctx *c = arg;
	if (klen != 30)
		return CORE_EINTERNAL;
	const uint8_t *k = key;
	c->n++;
	return c->fn(c->arg, ms_rd_be32(k + 26), ms_rd_be64(k + 18));
}

static int ms_vanished_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_vanished_ctx *c = ctx;
	struct ms_account_rec r;
	int rc = ms_acct_read(tx, c->account, &r);
	if (rc < 0)
		return rc;
	if (c->since < r.floor)
		return core_error_set(tx->err, CORE_ELIMIT, "RFC 7162 §3.2.5.2",
				      "expunge tombstones before this modseq were purged");
	uint8_t lo[STORE_KEY_MAX], pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->account, MS_F_EXPUNGE, c->mailbox);
	memcpy(lo, pre, pl);
	ms_be64(lo + pl, c->since + 1);
	struct store_range range;
	store_range_prefix(&range, pre, pl, hi);
	range.lo = lo;
	range.lo_len = pl + 8;
	rc = store_txn_scan(tx->t, &range, ms_vanished_scan, c, tx->err);
	return rc < 0 ? rc : c->n;
}

int mailstore_mailbox_vanished(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			       uint64_t since, mailstore_vanished_fn fn, void *arg,
			       struct core_error *err)
{
	struct ms_vanished_ctx c = {account, mailbox, since, fn, arg, 0};
	return ms_tx_read(ms, c.account, ms_vanished_fn, &c, err);
}

/* Tombstone expiry: change-log entries older than the period go, the floor rises. */
struct ms_purge_ctx {
	uint64_t cutoff_ms;
	uint64_t *modseqs;
	size_t n, cap;
	uint64_t *mailboxes;
	size_t nmb, capmb;
	int removed;
};

#define MS_PURGE_BATCH 4096u

static int ms_purge_scan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_purge_ctx *c = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	(void)ms_get_u64(&d);
	uint64_t t = ms_get_u64(&d);
	if (d.bad)
		return CORE_EINTERNAL;
	if (t >= c->cutoff_ms || c->n == MS_PURGE_BATCH)
		return 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->modseqs = core_xrealloc(c->modseqs, c->cap * sizeof(uint64_t));
	}
	c->modseqs[c->n++] = ms_rd_be64((const uint8_t *)key + 10);
	return 0;
}

static int ms_purge_mb_scan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_purge_ctx *c = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	if (c->nmb == c->capmb) {
		c->capmb = c->capmb ? c->capmb * 2 : 32;
		c->mailboxes = core_xrealloc(c->mailboxes, c->capmb * sizeof(uint64_t));
	}
	c->mailboxes[c->nmb++] = ms_rd_be64((const uint8_t *)key + 10);
	return 0;
}

struct ms_keys {
	struct core_buf keys; /* (u8 length, key) records */
	int n;
};

static int ms_keys_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_keys *c = arg;
	uint8_t l = (uint8_t)klen;
	core_buf_append(&c->keys, &l, 1);
	core_buf_append(&c->keys, key, klen);
	c->n++;
	return 0;
}

int ms_del_range(struct ms_tx *tx, const struct store_range *r)
{
	/* The store lets a scan callback read but not write (a write may move what the scan
	 * walks), so keys are collected first and deleted after the scan. */
	struct ms_keys c = {CORE_BUF_INIT, 0};
	int rc = store_txn_scan(tx->t, r, ms_keys_cb, &c, tx->err);
	for (size_t off = 0; rc >= 0 && off < c.keys.len;) {
		size_t l = (uint8_t)c.keys.p[off];
		rc = ms_del(tx, (const uint8_t *)c.keys.p + off + 1, l);
		off += 1 + l;
	}
	core_buf_fini(&c.keys);
	return rc < 0 ? rc : c.n;
}

static int ms_purge_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_purge_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	c->n = c->nmb = 0;
	c->removed = 0;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX], k[STORE_KEY_MAX];
	size_t pl = ms_key(pre, ac->account, MS_F_CHANGE);
	struct store_range range;
	store_range_prefix(&range, pre, pl, hi);
	int rc = store_txn_scan(tx->t, &range, ms_purge_scan, c, tx->err);
	if (rc < 0 || c->n == 0)
		return rc < 0 ? rc : 0;
	uint64_t floor = c->modseqs[c->n - 1];
	for (size_t i = 0; i < c->n; i++) {
		size_t kl = ms_key_id(k, ac->account, MS_F_CHANGE, c->modseqs[i]);
		if ((rc = ms_del(tx, k, kl)) < 0)
			return rc;
	}
	/* Expunge tombstones up to the new floor, mailbox by mailbox. */
	pl = ms_key(pre, ac->account, MS_F_MAILBOX);
	store_range_prefix(&range, pre, pl, hi);
	rc = store_txn_scan(tx->t, &range, ms_purge_mb_scan, c, tx->err);
	if (rc < 0)
		return rc;
	int deleted = 0;
	for (size_t i = 0; i < c->nmb; i++) {
		uint8_t lo[STORE_KEY_MAX], up[STORE_KEY_MAX];
		size_t ll = ms_key_id(lo, ac->account, MS_F_EXPUNGE, c->mailboxes[i]);
		memcpy(up, lo, ll);
		ms_be64(up + ll, floor + 1);
		struct store_range r2 = {.lo = lo, .lo_len = ll, .hi = up, .hi_len = ll + 8};
		if ((rc = ms_del_range(tx, &r2)) < 0)
			return rc;
		deleted += rc;
	}
	if (floor > ac->rec.floor)
		ac->rec.floor = floor;
	ac->rec_dirty = true;
	c->removed = (int)c->n + deleted;
	return c->removed;
}

int mailstore_tombstones_purge(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	/* Purging never creates the account it is asked about. */
	struct mailstore_account a;
	int rc0 = mailstore_account_get(ms, account, &a, err);
	if (rc0 == CORE_ENOTFOUND) {
		core_error_clear(err);
		return 0;
	}
	if (rc0 < 0)
		return rc0;
	uint64_t now = store_now_ms();
	struct ms_purge_ctx c = {.cutoff_ms =
					 now > ms->o.tombstone_ms ? now - ms->o.tombstone_ms : 0};
	int total = 0, rc;
	/* Bounded transactions: MS_PURGE_BATCH log entries at a time. */
	do {
		rc = ms_tx_run(ms, &account, 1, ms_purge_fn, &c, err);
		if (rc > 0)
			total += rc;
	} while (rc > 0 && c.n == MS_PURGE_BATCH);
	free(c.modseqs);
	free(c.mailboxes);
	return rc < 0 ? rc : total;
}

/* ---------------------------------------------------------------------------------- */
/* Change bus                                                                         */
/* ---------------------------------------------------------------------------------- */

struct ms_sub {
	int handle;
	uint64_t account;
	mailstore_bus_fn fn;
	void *arg;
};

struct mailstore_bus {
	pthread_mutex_t mu;
	struct ms_sub *subs;
	size_t n, cap;
	int next;
	struct mailstore_bus_transport tr;
	bool has_tr;
};

struct mailstore_bus *mailstore_bus_new(void)
{
	struct mailstore_bus *bus = core_xcalloc(1, sizeof(*bus));
	pthread_mutex_init(&bus->mu, NULL);
	bus->next = 1;
	return bus;
}

void mailstore_bus_free(struct mailstore_bus **bus)
{
	if (bus == NULL || *bus == NULL)
		return;
	pthread_mutex_destroy(&(*bus)->mu);
	free((*bus)->subs);
	free(*bus);
	*bus = NULL;
}

void mailstore_bus_set_transport(struct mailstore_bus *bus, const struct mailstore_bus_transport *t)
{
	pthread_mutex_lock(&bus->mu);
	bus->has_tr = t != NULL;
	if (t != NULL)
		bus->tr = *t;
	pthread_mutex_unlock(&bus->mu);
}

int mailstore_bus_subscribe(struct mailstore_bus *bus, uint64_t account, mailstore_bus_fn fn,
			    void *arg)
{
	pthread_mutex_lock(&bus->mu);
	if (bus->n == bus->cap) {
		bus->cap = bus->cap ? bus->cap * 2 : 8;
		bus->subs = core_xrealloc(bus->subs, bus->cap * sizeof(*bus->subs));
	}
	int h = bus->next++;
	bus->subs[bus->n++] = (struct ms_sub){h, account, fn, arg};
	pthread_mutex_unlock(&bus->mu);
	return h;
}

void mailstore_bus_unsubscribe(struct mailstore_bus *bus, int handle)
{
	pthread_mutex_lock(&bus->mu);
	for (size_t i = 0; i < bus->n; i++) {
		if (bus->subs[i].handle == handle) {
			bus->subs[i] = bus->subs[--bus->n];
			break;
		}
	}
	pthread_mutex_unlock(&bus->mu);
}

void mailstore_bus_deliver(struct mailstore_bus *bus, uint64_t account, unsigned types,
			   uint64_t modseq)
{
	/* Callbacks run under the lock: unsubscribe waits for a running one to return. */
	pthread_mutex_lock(&bus->mu);
	for (size_t i = 0; i < bus->n; i++)
		if (bus->subs[i].account == 0 || bus->subs[i].account == account)
			bus->subs[i].fn(bus->subs[i].arg, account, types, modseq);
	pthread_mutex_unlock(&bus->mu);
}

void ms_bus_publish(struct mailstore *ms, uint64_t account, unsigned types, uint64_t modseq)
{
	struct mailstore_bus *bus = ms->o.bus;
	if (bus == NULL)
		return;
	mailstore_bus_deliver(bus, account, types, modseq);
	pthread_mutex_lock(&bus->mu);
	struct mailstore_bus_transport tr = bus->tr;
	bool has = bus->has_tr;
	pthread_mutex_unlock(&bus->mu);
	if (has && tr.publish != NULL)
		tr.publish(tr.arg, account, types, modseq);
}

/* ---------------------------------------------------------------------------------- */
/* Deleting an account                                                                */
/* ---------------------------------------------------------------------------------- */

#define MS_ACCT_PURGE_EMAILS 256u
#define MS_ACCT_PURGE_KEYS 1024u

static int ms_acct_destroy_fn(struct ms_tx *tx, void *ctx)
{
	(void)ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	/* Its mailboxes stop being shared at once (the principals' entries live under
	 * their own accounts, out of reach of the purge). */
	int rc = ms_acl_drop_account(tx, ac->account);
	if (rc < 0)
		return rc;
	ac->rec.deleting = true;
	ac->rec_dirty = true;
	return 0;
}

struct ms_acct_email {
	uint64_t id;
	struct store_blob_id blob;
};

struct ms_acct_purge {
	struct ms_acct_email *v;
	size_t n, cap;
};

static int ms_acct_purge_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_acct_purge *c = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	(void)ms_get_u64(&d);
	(void)ms_get_u64(&d);
	struct ms_acct_email e = {.id = ms_rd_be64((const uint8_t *)key + 10)};
	if (!ms_get_raw(&d, e.blob.hash, STORE_HASH_LEN))
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = core_xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = e;
	return 0;
}

/*
 * One bounded purge step of an account marked deleting: first its emails (records and,
 * in the same transaction, their blob links), then every other key but the account record, and
 * last the account record. Returns 1 when the account is completely gone.
 */
static int ms_acct_purge_step(struct mailstore *ms, uint64_t account, struct ms_acct_purge *c,
			      struct core_error *err)
{
	struct store_txn *t = NULL;
	uint8_t ak[STORE_KEY_MAX], pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t akl = ms_key(ak, account, MS_F_ACCOUNT);
	struct core_buf v = CORE_BUF_INIT;
	c->n = 0;
	int rc = store_txn_begin(ms->d, STORE_TXN_WRITE, &t, err);
	if (rc >= 0)
		rc = store_txn_get(t, ak, akl, &v, err);
	struct ms_account_rec r;
	bool done = false;
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(err);
		store_txn_abort(&t);
		core_buf_fini(&v);
		return 1;
	}
	if (rc >= 0 && ms_account_decode(v.p, v.len, &r) < 0)
		rc = core_error_set(err, CORE_EINTERNAL, NULL, "corrupt account record");
	if (rc >= 0 && !r.deleting)
		rc = core_error_set(err, CORE_ECONFLICT, NULL, "account is not being deleted");
	if (rc >= 0)
		rc = store_txn_assert(t, ak, akl, v.p, v.len, err);
	core_buf_fini(&v);
	struct store_range range;
	if (rc >= 0) {
		size_t pl = ms_key(pre, account, MS_F_EMAIL);
		store_range_prefix(&range, pre, pl, hi);
		range.limit = MS_ACCT_PURGE_EMAILS;
		rc = store_txn_scan(t, &range, ms_acct_purge_cb, c, err);
	}
	for (size_t i = 0; rc >= 0 && i < c->n; i++) {
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_key_id(k, account, MS_F_EMAIL, c->v[i].id);
		rc = store_txn_delete(t, k, kl, err);
		/* The email's blob link goes in the same transaction as its record
		 * (docs/mailstore.md §Blobs); a link already gone is no error. */
		char owner[32];
		ms_link_owner(c->v[i].id, owner);
		if (rc >= 0) {
			rc = store_blob_unlink_txn(ms->b, t, account, &c->v[i].blob, owner, err);
			if (rc == CORE_ENOTFOUND) {
				core_error_clear(err);
				rc = 0;
			}
		}
		if (rc >= 0) {
			/* Its postings leave the full-text store through the durable queue,
			 * which lives outside the account's keys (docs/mailstore.md). */
			struct ms_tx qtx = {.ms = ms, .t = t, .err = err};
			rc = ms_fts_enqueue(&qtx, account, c->v[i].id, true);
		}
	}
	if (rc >= 0 && c->n < MS_ACCT_PURGE_EMAILS) {
		/* Every other family sorts after 'A' (the account record stays to the end). */
		struct ms_tx tx = {.ms = ms, .t = t, .err = err};
		size_t lol = ms_key(pre, account, (char)(MS_F_ACCOUNT + 1));
		uint8_t up[STORE_KEY_MAX];
		size_t upl = ms_key(up, account + 1, 0);
		if (account == UINT64_MAX) {
			up[0] = MS_KEY_PREFIX + 1;
			upl = 1;
		}
		range = (struct store_range){.lo = pre,
					     .lo_len = lol,
					     .hi = up,
					     .hi_len = upl,
					     .limit = MS_ACCT_PURGE_KEYS};
		rc = ms_del_range(&tx, &range);
		if (rc >= 0 && (size_t)rc < MS_ACCT_PURGE_KEYS) {
			rc = store_txn_delete(t, ak, akl, err);
			done = true;
		}
	}
	if (rc >= 0)
		rc = store_txn_commit(&t, err);
	else
		store_txn_abort(&t);
	if (rc < 0)
		return rc;
	return done ? 1 : 0;
}

int mailstore_account_purge(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	struct ms_acct_purge c = {0};
	int rc;
	unsigned conflicts = 0;
	do {
		rc = ms_acct_purge_step(ms, account, &c, err);
		if ((rc == CORE_ECONFLICT || rc == CORE_ETEMP) &&
		    ++conflicts < ms->o.max_attempts) {
			ms_backoff(conflicts);
			rc = 0;
		}
	} while (rc == 0);
	free(c.v);
	return rc < 0 ? rc : 0;
}

int ms_account_destroy_begin(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	struct mailstore_account a;
	int rc = mailstore_account_get(ms, account, &a, err);
	if (rc < 0)
		return rc;
	/* Were it deleted in between, ms_tx_run would create it anew: harmless, it is then
	 * deleted again. */
	return ms_tx_run(ms, &account, 1, ms_acct_destroy_fn, NULL, err);
}

int mailstore_account_destroy(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	int rc = ms_account_destroy_begin(ms, account, err);
	if (rc < 0)
		return rc;
	return mailstore_account_purge(ms, account, err);
}
