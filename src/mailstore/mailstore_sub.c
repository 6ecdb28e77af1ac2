/*
 * mailstore_sub.c: subscriptions by name (RFC 9051 §6.3.7 SUBSCRIBE, §6.3.8 UNSUBSCRIBE,
 * §6.3.9.2 LIST (SUBSCRIBED) with \NonExistent). A subscribed name is a key of its own,
 * whether or not a mailbox has that name: SUBSCRIBE does not need the mailbox, and DELETE
 * and RENAME leave subscribed names alone (§6.3.6 note, §6.3.7 "SHOULD NOT unilaterally
 * remove"). JMAP's isSubscribed (RFC 8621 §2) is the mailbox's own flag, kept in step:
 * subscribing a name sets the flag of the mailbox holding it, setting the flag subscribes
 * the mailbox's current path, and a mailbox created under a subscribed name starts
 * subscribed. The listing is the subscribed names together with the current paths of the
 * mailboxes whose flag is set (so a subscribed mailbox renamed appears under its new
 * name, and its old name stays subscribed as RFC 9051 §6.3.6 says).
 */
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_share.h"

/* 'M' + account + family: what a key leaves for the path. */
#define MS_SUB_PATH_MAX (STORE_KEY_MAX - 10u)

static bool ms_sub_is_inbox(const char *s, size_t n)
{
	return n == 5 && core_strncasecmp_ascii(s, "inbox", 5) == 0;
}

int ms_sub_norm(struct ms_tx *tx, const char *path, struct core_buf *out)
{
	size_t len = path != NULL ? strlen(path) : 0;
	/* RFC 9051 §6.3.4: a trailing separator only marks a name meant to hold children. */
	if (len > 0 && path[len - 1] == MAILSTORE_SEP)
		len--;
	if (len == 0)
		return ms_tx_fail(tx, CORE_ESYNTAX, "RFC 9051 §5.1", "empty mailbox name");
	core_buf_reset(out);
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && path[j] != MAILSTORE_SEP)
			j++;
		const char *nm;
		int rc = ms_mailbox_name_norm(tx, path + i, j - i, &nm);
		if (rc < 0)
			return rc;
		if (i > 0)
			core_buf_putc(out, MAILSTORE_SEP);
		/* RFC 9051 §5.1: INBOX is case-insensitive at the top level. */
		if (i == 0 && ms_sub_is_inbox(nm, strlen(nm)))
			nm = "INBOX";
		core_buf_append_str(out, nm);
		i = j + 1;
	}
	if (out->len > MS_SUB_PATH_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox name too long to subscribe");
	return 0;
}

static size_t ms_sub_key(uint8_t *k, uint64_t account, const char *path, size_t len)
{
	size_t kl = ms_key(k, account, MS_F_SUB);
	memcpy(k + kl, path, len);
	return kl + len;
}

int ms_sub_put(struct ms_tx *tx, uint64_t account, const char *path, size_t len, bool on)
{
	if (len == 0 || len > MS_SUB_PATH_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox name too long to subscribe");
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_sub_key(k, account, path, len);
	return on ? ms_put(tx, k, kl, "", 0) : ms_del(tx, k, kl);
}

int ms_sub_has(struct ms_tx *tx, uint64_t account, const char *path, size_t len, bool *out)
{
	*out = false;
	if (len == 0 || len > MS_SUB_PATH_MAX)
		return 0;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_sub_key(k, account, path, len);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	core_buf_fini(&v);
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		return 0;
	}
	if (rc >= 0)
		*out = true;
	return rc < 0 ? rc : 0;
}

/* Resolve a path to a mailbox id, 0 when none has it (a retryable miss, not a failure). */
static int ms_sub_resolve(struct ms_tx *tx, uint64_t account, const char *path, uint64_t *id_out)
{
	*id_out = 0;
	bool was_final = tx->final;
	int rc = ms_mailbox_walk(tx, account, path, id_out);
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		tx->final = was_final;
		*id_out = 0;
		return 0;
	}
	return rc;
}

struct ms_sub_ctx {
	uint64_t account;
	const char *path;
	bool on;
	struct core_arena *a;
	struct mailstore_subscription *out;
	size_t n;
};

static int ms_subscribe_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_sub_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct core_buf p = CORE_BUF_INIT;
	int rc = ms_sub_norm(tx, c->path, &p);
	if (rc >= 0)
		rc = ms_sub_put(tx, c->account, p.p, p.len, c->on);
	uint64_t id = 0;
	if (rc >= 0) {
		char *path = core_arena_strndup(tx->a, p.p, p.len);
		rc = ms_sub_resolve(tx, c->account, path, &id);
	}
	core_buf_fini(&p);
	if (rc < 0 || id == 0)
		return rc;
	struct ms_tx_mbox *mb;
	if ((rc = ms_tx_mbox(tx, c->account, id, &mb)) < 0)
		return rc;
	if (mb->m.subscribed == c->on)
		return 0;
	/* RFC 8621 §2 isSubscribed of the mailbox holding the name follows. */
	mb->m.subscribed = c->on;
	mb->m.updated_modseq = ac->modseq;
	mb->dirty = true;
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_UPDATED, id);
	return 0;
}

int mailstore_subscribe(struct mailstore *ms, uint64_t account, const char *path, bool on,
			struct core_error *err)
{
	if (path == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_sub_ctx c = {.account = account, .path = path, .on = on};
	int rc = ms_tx_run(ms, &account, 1, ms_subscribe_fn, &c, err);
	return rc < 0 ? rc : 0;
}

/* Listing: names of the set, then paths of flagged mailboxes. */
struct ms_sub_list {
	struct ms_tx *tx;
	uint64_t account;
	struct core_arena *a;
	struct mailstore_subscription *v;
	size_t n, cap;
	uint64_t *flagged; /* mailbox ids with isSubscribed */
	size_t nflagged, capflagged;
};

static void ms_sub_add(struct ms_sub_list *l, const char *path, size_t len, uint64_t mailbox)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = core_arena_grow(l->a, l->v, l->n, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] =
		(struct mailstore_subscription){core_arena_strndup(l->a, path, len), mailbox};
}

static int ms_sub_names_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_sub_list *l = arg;
	if (klen <= 10)
		return CORE_EINTERNAL;
	ms_sub_add(l, (const char *)key + 10, klen - 10, 0);
	return 0;
}

static int ms_sub_mbox_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_sub_list *l = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	struct mailstore_mailbox m = {0};
	m.id = ms_rd_be64((const uint8_t *)key + 10);
	if (ms_mailbox_decode(val, vlen, l->tx->a, &m) < 0)
		return CORE_EINTERNAL;
	if (!m.subscribed)
		return 0;
	if (l->nflagged == l->capflagged) {
		size_t cap = l->capflagged ? l->capflagged * 2 : 16;
		uint64_t *nv = core_arena_alloc(l->tx->a, cap * sizeof(*nv));
		if (l->nflagged > 0)
			memcpy(nv, l->flagged, l->nflagged * sizeof(*nv));
		l->flagged = nv;
		l->capflagged = cap;
	}
	l->flagged[l->nflagged++] = m.id;
	return 0;
}

static int ms_sub_cmp(const void *a, const void *b)
{
	const struct mailstore_subscription *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static int ms_subs_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_sub_ctx *c = ctx;
	struct ms_sub_list l = {.tx = tx, .account = c->account, .a = c->a};
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key(pre, c->account, MS_F_SUB);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = store_txn_scan(tx->t, &r, ms_sub_names_cb, &l, tx->err);
	size_t nnames = l.n;
	if (rc >= 0) {
		pl = ms_key(pre, c->account, MS_F_MAILBOX);
		store_range_prefix(&r, pre, pl, hi);
		rc = store_txn_scan(tx->t, &r, ms_sub_mbox_cb, &l, tx->err);
	}
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt subscription or mailbox");
	if (rc < 0)
		return rc;
	/* Which names have a mailbox now (RFC 9051 §6.3.9: \NonExistent otherwise). */
	for (size_t i = 0; i < nnames && rc >= 0; i++)
		rc = ms_sub_resolve(tx, c->account, l.v[i].path, &l.v[i].mailbox);
	struct core_buf p = CORE_BUF_INIT;
	for (size_t i = 0; i < l.nflagged && rc >= 0; i++) {
		core_buf_reset(&p);
		rc = ms_mailbox_path_in(tx, c->account, l.flagged[i], &p);
		if (rc >= 0)
			ms_sub_add(&l, p.p, p.len, l.flagged[i]);
	}
	core_buf_fini(&p);
	if (rc < 0)
		return rc;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), ms_sub_cmp);
	size_t m = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (m > 0 && strcmp(l.v[m - 1].path, l.v[i].path) == 0) {
			if (l.v[m - 1].mailbox == 0)
				l.v[m - 1].mailbox = l.v[i].mailbox;
			continue;
		}
		l.v[m++] = l.v[i];
	}
	c->out = l.v;
	c->n = m;
	return 0;
}

int mailstore_subscriptions(struct mailstore *ms, uint64_t account, struct core_arena *a,
			    struct mailstore_subscription **out, size_t *n_out,
			    struct core_error *err)
{
	struct ms_sub_ctx c = {.account = account, .a = a};
	int rc = ms_tx_read(ms, account, ms_subs_fn, &c, err);
	if (rc >= 0) {
		*out = c.out;
		*n_out = c.n;
	}
	return rc < 0 ? rc : 0;
}
