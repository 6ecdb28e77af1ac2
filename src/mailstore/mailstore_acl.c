/*
 * mailstore_acl.c: sharing mailboxes between accounts. RFC 4314 access control lists (one
 * entry per principal and mailbox, plus a shared-with index under each principal for IMAP
 * NAMESPACE "Other Users" and JMAP account lists), per-user \Seen on shared mailboxes
 * (issue 6: the owner's \Seen is the $seen keyword, everybody else has a \Seen of their own,
 * with per-user unseen and unread counts), and the blob links of emails made and dropped in
 * the mail store's own transactions.
 *
 * Every write here runs in the owner's account transaction (ms_tx_run), so it serialises
 * with every other write of that account by the compare-and-set on its record: the
 * per-user counts stay exact under concurrent writers.
 */
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_share.h"

/* ---------------------------------------------------------------------------------- */
/* Rights strings (RFC 4314 §2.1)                                                     */
/* ---------------------------------------------------------------------------------- */

static const char ms_acl_letters[] = "lrswipkxtea"; /* bit order of enum mailstore_right */

int mailstore_acl_parse(const char *s, size_t len, unsigned *rights_out)
{
	unsigned r = 0;
	for (size_t i = 0; s != NULL && i < len; i++) {
		const char *p = s[i] != '\0' ? strchr(ms_acl_letters, s[i]) : NULL;
		if (p != NULL)
			r |= 1u << (unsigned)(p - ms_acl_letters);
		/* RFC 4314 §2.1.1: the obsolete "c" is the create right (k and x here), "d"
		 * the delete right (e and t). */
		else if (s[i] == 'c')
			r |= MAILSTORE_ACL_CREATE | MAILSTORE_ACL_DELETE;
		else if (s[i] == 'd')
			r |= MAILSTORE_ACL_EXPUNGE | MAILSTORE_ACL_DELMSG;
		else
			return CORE_ESYNTAX;
	}
	*rights_out = r;
	return 0;
}

void mailstore_acl_format(unsigned rights, char out[MAILSTORE_ACL_TEXT])
{
	size_t n = 0;
	for (unsigned i = 0; ms_acl_letters[i] != '\0'; i++)
		if (rights & (1u << i))
			out[n++] = ms_acl_letters[i];
	/* RFC 4314 §2.1.1: "c" and "d" accompany any of their members in answers. */
	if (rights & (MAILSTORE_ACL_CREATE | MAILSTORE_ACL_DELETE))
		out[n++] = 'c';
	if (rights & (MAILSTORE_ACL_EXPUNGE | MAILSTORE_ACL_DELMSG))
		out[n++] = 'd';
	out[n] = '\0';
}

/* RFC 8621 §2 MailboxRights from and to RFC 4314 rights, as the section maps them. */
void mailstore_acl_to_jmap(unsigned rights, struct mailstore_jmap_rights *out)
{
	unsigned lr = MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ;
	unsigned te = MAILSTORE_ACL_DELMSG | MAILSTORE_ACL_EXPUNGE;
	/* "lr" and "te": both letters are needed when mapping from IMAP. */
	out->may_read_items = (rights & lr) == lr;
	out->may_add_items = (rights & MAILSTORE_ACL_INSERT) != 0;
	out->may_remove_items = (rights & te) == te;
	out->may_set_seen = (rights & MAILSTORE_ACL_SEEN) != 0;
	out->may_set_keywords = (rights & MAILSTORE_ACL_WRITE) != 0;
	out->may_create_child = (rights & MAILSTORE_ACL_CREATE) != 0;
	/* "x" covers both renaming and deleting. */
	out->may_rename = out->may_delete = (rights & MAILSTORE_ACL_DELETE) != 0;
	out->may_submit = (rights & MAILSTORE_ACL_POST) != 0;
}

unsigned mailstore_acl_from_jmap(const struct mailstore_jmap_rights *r)
{
	unsigned v = 0;
	if (r->may_read_items)
		v |= MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ;
	if (r->may_add_items)
		v |= MAILSTORE_ACL_INSERT;
	if (r->may_remove_items)
		v |= MAILSTORE_ACL_DELMSG | MAILSTORE_ACL_EXPUNGE;
	if (r->may_set_seen)
		v |= MAILSTORE_ACL_SEEN;
	if (r->may_set_keywords)
		v |= MAILSTORE_ACL_WRITE;
	if (r->may_create_child)
		v |= MAILSTORE_ACL_CREATE;
	if (r->may_rename || r->may_delete)
		v |= MAILSTORE_ACL_DELETE;
	if (r->may_submit)
		v |= MAILSTORE_ACL_POST;
	return v;
}

/* ---------------------------------------------------------------------------------- */
/* Keys                                                                               */
/* ---------------------------------------------------------------------------------- */

static size_t ms_pair_key(uint8_t *k, uint64_t account, char family, uint64_t a, uint64_t b)
{
	size_t kl = ms_key_id(k, account, family, a);
	ms_be64(k + kl, b);
	return kl + 8;
}

/* Read a varint value; *found_out false when the key is absent. */
static int ms_get_uint(struct ms_tx *tx, const uint8_t *k, size_t kl, uint64_t *v_out,
		       uint64_t *v2_out, bool *found_out)
{
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	*found_out = false;
	*v_out = 0;
	if (v2_out != NULL)
		*v2_out = 0;
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		rc = 0;
	} else if (rc >= 0 && v.len == 0) {
		*found_out = true; /* a mark with no value (a user's \Seen) */
	} else if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		*v_out = ms_get_u64(&d);
		if (v2_out != NULL)
			*v2_out = ms_get_u64(&d);
		if (d.bad)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL,
					    "corrupt sharing record");
		*found_out = rc >= 0;
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_put_uint(struct ms_tx *tx, const uint8_t *k, size_t kl, uint64_t a, bool two,
		       uint64_t b)
{
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, a);
	if (two)
		ms_put_u64(&v, b);
	int rc = ms_put(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

/* Collect the trailing be64 of every key under a prefix (principals, users). */
struct ms_ids {
	uint64_t *v;
	size_t n, cap;
	struct core_arena *a;
	size_t keylen;  /* only keys of this length; the id is their last 8 bytes */
	uint64_t *vals; /* optional: first varint of each value */
};

static int ms_ids_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_ids *c = arg;
	if (klen != c->keylen)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = core_arena_grow(c->a, c->v, c->n, c->cap, sizeof(*c->v));
		c->vals = core_arena_grow(c->a, c->vals, c->n, c->cap, sizeof(*c->vals));
	}
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	uint64_t x = vlen > 0 ? ms_get_u64(&d) : 0;
	if (d.bad)
		return CORE_EINTERNAL;
	c->vals[c->n] = x;
	c->v[c->n++] = ms_rd_be64((const uint8_t *)key + klen - 8);
	return 0;
}

static int ms_ids_scan(struct ms_tx *tx, const uint8_t *pre, size_t pl, struct ms_ids *out)
{
	memset(out, 0, sizeof(*out));
	out->a = tx->a;
	out->keylen = pl + 8;
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = store_txn_scan(tx->t, &r, ms_ids_cb, out, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt sharing index");
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Blob links                                                                         */
/* ---------------------------------------------------------------------------------- */

int ms_blob_link_in(struct ms_tx *tx, uint64_t from, uint64_t account, uint64_t email,
		    const struct store_blob_id *blob)
{
	char owner[32];
	ms_link_owner(email, owner);
	int rc = store_blob_link_txn(tx->ms->b, tx->t, from, account, blob, owner, tx->err);
	if (rc == CORE_EPERM)
		/* The source holds no link or live reservation any more: nothing to copy. */
		return ms_tx_fail(tx, CORE_ENOTFOUND, "ARCHITECTURE.md §4",
				  "message content no longer accessible");
	return rc;
}

int ms_blob_link_own(struct ms_tx *tx, uint64_t account, uint64_t email,
		     const struct store_blob_id *blob)
{
	char owner[32];
	ms_link_owner(email, owner);
	return store_blob_link_own_txn(tx->ms->b, tx->t, account, blob, owner, tx->err);
}

int ms_blob_unlink_in(struct ms_tx *tx, uint64_t account, uint64_t email,
		      const struct store_blob_id *blob)
{
	char owner[32];
	ms_link_owner(email, owner);
	int rc = store_blob_unlink_txn(tx->ms->b, tx->t, account, blob, owner, tx->err);
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		rc = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* ACL                                                                                */
/* ---------------------------------------------------------------------------------- */

int ms_acl_rights_in(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t user,
		     unsigned *rights_out)
{
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox(tx, owner, mailbox, &mb);
	if (rc < 0)
		return rc;
	/* The owner always has every right (issue 6). */
	if (user == owner) {
		*rights_out = MAILSTORE_ACL_ALL;
		return 0;
	}
	uint8_t k[STORE_KEY_MAX];
	uint64_t mine = 0, any = 0, unused;
	bool found;
	size_t kl = ms_pair_key(k, owner, MS_F_ACL, mailbox, user);
	if ((rc = ms_get_uint(tx, k, kl, &mine, NULL, &found)) < 0)
		return rc;
	(void)unused;
	/* RFC 4314 §2: "anyone" grants to every identity. */
	kl = ms_pair_key(k, owner, MS_F_ACL, mailbox, MAILSTORE_ACL_ANYONE);
	if ((rc = ms_get_uint(tx, k, kl, &any, NULL, &found)) < 0)
		return rc;
	*rights_out = (unsigned)((mine | any) & MAILSTORE_ACL_ALL);
	return 0;
}

struct ms_acl_ctx {
	uint64_t owner, mailbox, principal, user, id;
	unsigned rights;
	bool seen;
	struct core_arena *a;
	struct mailstore_acl_entry *entries;
	struct mailstore_share *shares;
	struct mailstore_email *email;
	struct mailstore_mailbox *mbox;
	struct mailstore_mailbox *mboxes;
	unsigned *rights_v;
	size_t n;
};

static int ms_acl_set_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, c->owner, c->mailbox, NULL, &mb);
	if (rc < 0)
		return rc;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, c->owner, MS_F_ACL, c->mailbox, c->principal);
	uint64_t cur;
	bool found;
	if ((rc = ms_get_uint(tx, k, kl, &cur, NULL, &found)) < 0)
		return rc;
	if ((found ? cur : 0) == c->rights)
		return 0;
	rc = c->rights != 0 ? ms_put_uint(tx, k, kl, c->rights, false, 0) : ms_del(tx, k, kl);
	if (rc >= 0) {
		/* The principal's index of what others share with it; anyone's lives under
		 * account number 0, which no account has. */
		kl = ms_pair_key(k, c->principal, MS_F_SHARED, c->owner, c->mailbox);
		rc = c->rights != 0 ? ms_put_uint(tx, k, kl, c->rights, false, 0)
				    : ms_del(tx, k, kl);
	}
	if (rc < 0)
		return rc;
	/* RFC 8621 §2: myRights and the sharing map are Mailbox properties. */
	mb->m.updated_modseq = ac->modseq;
	mb->dirty = true;
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_UPDATED, c->mailbox);
	return 0;
}

int mailstore_acl_set(struct mailstore *ms, uint64_t owner, uint64_t mailbox, uint64_t principal,
		      unsigned rights, struct core_error *err)
{
	core_error_clear(err);
	if (rights & ~(unsigned)MAILSTORE_ACL_ALL)
		return core_error_set(err, CORE_ESYNTAX, "RFC 4314 §2.1", "unknown right");
	if (principal == owner)
		return core_error_set(err, CORE_EPERM, "RFC 4314 §2",
				      "the owner keeps every right on its mailboxes");
	struct ms_acl_ctx c = {
		.owner = owner, .mailbox = mailbox, .principal = principal, .rights = rights};
	return ms_tx_run(ms, &owner, 1, ms_acl_set_fn, &c, err);
}

static int ms_acl_list_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox(tx, c->owner, c->mailbox, &mb);
	if (rc < 0)
		return rc;
	uint8_t pre[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->owner, MS_F_ACL, c->mailbox);
	struct ms_ids ids;
	if ((rc = ms_ids_scan(tx, pre, pl, &ids)) < 0)
		return rc;
	c->entries = core_arena_zalloc(c->a, (ids.n + 1) * sizeof(*c->entries));
	for (size_t i = 0; i < ids.n; i++)
		c->entries[i] = (struct mailstore_acl_entry){ids.v[i], (unsigned)ids.vals[i]};
	c->n = ids.n;
	return 0;
}

int mailstore_acl_list(struct mailstore *ms, uint64_t owner, uint64_t mailbox, struct core_arena *a,
		       struct mailstore_acl_entry **out, size_t *n_out, struct core_error *err)
{
	struct ms_acl_ctx c = {.owner = owner, .mailbox = mailbox, .a = a};
	int rc = ms_tx_read(ms, owner, ms_acl_list_fn, &c, err);
	if (rc >= 0) {
		*out = c.entries;
		*n_out = c.n;
	}
	return rc < 0 ? rc : 0;
}

static int ms_acl_rights_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	return ms_acl_rights_in(tx, c->owner, c->mailbox, c->user, &c->rights);
}

int mailstore_acl_rights(struct mailstore *ms, uint64_t owner, uint64_t mailbox, uint64_t user,
			 unsigned *rights_out, struct core_error *err)
{
	struct ms_acl_ctx c = {.owner = owner, .mailbox = mailbox, .user = user};
	int rc = ms_tx_read(ms, owner, ms_acl_rights_fn, &c, err);
	if (rc >= 0)
		*rights_out = c.rights;
	return rc < 0 ? rc : 0;
}

struct ms_share_scan {
	struct core_arena *a;
	struct mailstore_share *v;
	size_t n, cap;
};

static int ms_share_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_share_scan *c = arg;
	if (klen != 26)
		return CORE_EINTERNAL;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	uint64_t r = ms_get_u64(&d);
	if (d.bad)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = core_arena_grow(c->a, c->v, c->n, c->cap, sizeof(*c->v));
	}
	const uint8_t *k = key;
	c->v[c->n++] = (struct mailstore_share){ms_rd_be64(k + 10), ms_rd_be64(k + 18),
						(unsigned)(r & MAILSTORE_ACL_ALL)};
	return 0;
}

static int ms_share_cmp(const void *a, const void *b)
{
	const struct mailstore_share *x = a, *y = b;
	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	return x->mailbox < y->mailbox ? -1 : x->mailbox > y->mailbox;
}

static int ms_shared_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct ms_share_scan s = {.a = c->a};
	/* The principal's own entries, then anyone's (RFC 4314 §2). */
	const uint64_t who[2] = {c->principal, MAILSTORE_ACL_ANYONE};
	int rc = 0;
	for (int i = 0; i < 2 && rc >= 0; i++) {
		uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
		size_t pl = ms_key(pre, who[i], MS_F_SHARED);
		struct store_range r;
		store_range_prefix(&r, pre, pl, hi);
		rc = store_txn_scan(tx->t, &r, ms_share_cb, &s, tx->err);
	}
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt shared-with index");
	if (rc < 0)
		return rc;
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), ms_share_cmp);
	/* One entry per mailbox with the rights combined; the principal's own mailboxes
	 * are not shared with it. */
	size_t m = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (s.v[i].owner == c->principal)
			continue;
		if (m > 0 && s.v[m - 1].owner == s.v[i].owner &&
		    s.v[m - 1].mailbox == s.v[i].mailbox) {
			s.v[m - 1].rights |= s.v[i].rights;
			continue;
		}
		s.v[m++] = s.v[i];
	}
	c->shares = s.v;
	c->n = m;
	return 0;
}

int mailstore_acl_shared_with(struct mailstore *ms, uint64_t principal, struct core_arena *a,
			      struct mailstore_share **out, size_t *n_out, struct core_error *err)
{
	if (principal == MAILSTORE_ACL_ANYONE)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no principal");
	struct ms_acl_ctx c = {.principal = principal, .a = a};
	int rc = ms_tx_read(ms, principal, ms_shared_fn, &c, err);
	if (rc >= 0) {
		*out = c.shares;
		*n_out = c.n;
	}
	return rc < 0 ? rc : 0;
}

int ms_acl_drop_mailbox(struct ms_tx *tx, uint64_t owner, uint64_t mailbox)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX], k[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, owner, MS_F_ACL, mailbox);
	struct ms_ids ids;
	int rc = ms_ids_scan(tx, pre, pl, &ids);
	for (size_t i = 0; rc >= 0 && i < ids.n; i++) {
		size_t kl = ms_pair_key(k, ids.v[i], MS_F_SHARED, owner, mailbox);
		rc = ms_del(tx, k, kl);
	}
	if (rc < 0 || ids.n == 0)
		return rc < 0 ? rc : 0;
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	rc = ms_del_range(tx, &r);
	return rc < 0 ? rc : 0;
}

struct ms_acl_all {
	struct core_arena *a;
	uint64_t *mb, *pr;
	size_t n, cap;
};

static int ms_acl_all_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_acl_all *c = arg;
	if (klen != 26)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->mb = core_arena_grow(c->a, c->mb, c->n, c->cap, sizeof(*c->mb));
		c->pr = core_arena_grow(c->a, c->pr, c->n, c->cap, sizeof(*c->pr));
	}
	c->mb[c->n] = ms_rd_be64((const uint8_t *)key + 10);
	c->pr[c->n++] = ms_rd_be64((const uint8_t *)key + 18);
	return 0;
}

int ms_acl_drop_account(struct ms_tx *tx, uint64_t owner)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX], k[STORE_KEY_MAX];
	size_t pl = ms_key(pre, owner, MS_F_ACL);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	struct ms_acl_all c = {.a = tx->a};
	int rc = store_txn_scan(tx->t, &r, ms_acl_all_cb, &c, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt ACL entry");
	for (size_t i = 0; rc >= 0 && i < c.n; i++) {
		size_t kl = ms_pair_key(k, c.pr[i], MS_F_SHARED, owner, c.mb[i]);
		rc = ms_del(tx, k, kl);
	}
	if (rc >= 0 && c.n > 0)
		rc = ms_del_range(tx, &r);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Per-user \Seen                                                                     */
/* ---------------------------------------------------------------------------------- */

/* Users holding their own \Seen on an email. */
static int ms_seen_users(struct ms_tx *tx, uint64_t account, uint64_t email, struct ms_ids *out)
{
	uint8_t pre[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, account, MS_F_SEEN, email);
	return ms_ids_scan(tx, pre, pl, out);
}

/* Read a user's counts in a mailbox: emails seen, of those the drafts, and threads whose
 * non-draft emails the user has all seen. */
static int ms_seen_q_get(struct ms_tx *tx, const uint8_t *k, size_t kl, uint64_t q[3], bool *found)
{
	struct core_buf v = CORE_BUF_INIT;
	q[0] = q[1] = q[2] = 0;
	*found = false;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		rc = 0;
	} else if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		for (int i = 0; i < 3; i++)
			q[i] = ms_get_u64(&d);
		if (d.bad)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL,
					    "corrupt per-user counts");
		*found = rc >= 0;
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_seen_q_adj(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t user,
			 int dseen, int ddraft, int dread_threads)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, owner, MS_F_SEENCNT, mailbox, user);
	uint64_t q[3];
	bool found;
	int rc = ms_seen_q_get(tx, k, kl, q, &found);
	if (rc < 0)
		return rc;
	int64_t ns = (int64_t)q[0] + dseen, nd = (int64_t)q[1] + ddraft,
		nt = (int64_t)q[2] + dread_threads;
	if (ns < 0 || nd < 0 || nt < 0 || nd > ns)
		return core_error_set(tx->err, CORE_EINTERNAL, NULL,
				      "per-user seen count underflow");
	if (ns == 0 && nt == 0)
		return found ? ms_del(tx, k, kl) : 0;
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, (uint64_t)ns);
	ms_put_u64(&v, (uint64_t)nd);
	ms_put_u64(&v, (uint64_t)nt);
	rc = ms_put(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

static int ms_seen_adj(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t user, int dseen,
		       int ddraft)
{
	return ms_seen_q_adj(tx, owner, mailbox, user, dseen, ddraft, 0);
}

/*
 * A user's seen non-draft emails of one thread in one mailbox (G) changes from s0 to s1
 * while the thread's non-draft count goes from nd0 to nd1: the thread is read for the user
 * when both are equal and above zero (RFC 8621 §2 unreadThreads, per user), and the count of
 * such threads in the user's record follows.
 */
static int ms_seen_thread_one(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t thread,
			      uint64_t user, uint64_t s0, int64_t s1s, uint64_t nd0, uint64_t nd1)
{
	if (s1s < 0 || (uint64_t)s1s > nd1)
		return core_error_set(tx->err, CORE_EINTERNAL, NULL,
				      "per-user thread count out of range");
	uint64_t s1 = (uint64_t)s1s;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, owner, MS_F_SEENTHR, mailbox, thread);
	ms_be64(k + kl, user);
	kl += 8;
	int rc = 0;
	if (s1 != s0)
		rc = s1 == 0 ? ms_del(tx, k, kl) : ms_put_uint(tx, k, kl, s1, false, 0);
	bool read0 = nd0 > 0 && s0 == nd0, read1 = nd1 > 0 && s1 == nd1;
	if (rc >= 0 && read0 != read1)
		rc = ms_seen_q_adj(tx, owner, mailbox, user, 0, 0, read1 ? 1 : -1);
	return rc;
}

/* Users with seen emails in a (mailbox, thread), with their counts. */
static int ms_seen_thread_users(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t thread,
				struct ms_ids *out)
{
	uint8_t pre[STORE_KEY_MAX];
	size_t pl = ms_pair_key(pre, owner, MS_F_SEENTHR, mailbox, thread);
	return ms_ids_scan(tx, pre, pl, out);
}

int ms_seen_thread(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		   const struct mailstore_email *e, bool fresh, uint64_t nd0, uint64_t nd1,
		   int dsaw)
{
	struct ms_ids g, saw = {0};
	int rc = ms_seen_thread_users(tx, account, mailbox, e->thread_id, &g);
	if (rc >= 0 && !fresh)
		rc = ms_seen_users(tx, account, e->id, &saw);
	for (size_t i = 0; rc >= 0 && i < g.n; i++) {
		bool s = false;
		for (size_t j = 0; j < saw.n && !s; j++)
			s = saw.v[j] == g.v[i];
		rc = ms_seen_thread_one(tx, account, mailbox, e->thread_id, g.v[i], g.vals[i],
					(int64_t)g.vals[i] + (s ? dsaw : 0), nd0, nd1);
	}
	/* Users who saw the email but had no count in this thread here yet. */
	for (size_t j = 0; rc >= 0 && j < saw.n; j++) {
		bool in = false;
		for (size_t i = 0; i < g.n && !in; i++)
			in = g.v[i] == saw.v[j];
		if (!in)
			rc = ms_seen_thread_one(tx, account, mailbox, e->thread_id, saw.v[j], 0,
						dsaw, nd0, nd1);
	}
	return rc;
}

static bool ms_is_draft(const struct mailstore_email *e)
{
	return ms_keywords_has(e->keywords, e->nkeywords, MAILSTORE_KW_DRAFT);
}

int ms_seen_join(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e,
		 uint64_t mailbox)
{
	struct ms_ids u;
	int rc = ms_seen_users(tx, account, e->id, &u);
	for (size_t i = 0; rc >= 0 && i < u.n; i++)
		rc = ms_seen_adj(tx, account, mailbox, u.v[i], 1, ms_is_draft(e) ? 1 : 0);
	return rc;
}

int ms_seen_leave(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e,
		  uint64_t mailbox)
{
	struct ms_ids u;
	int rc = ms_seen_users(tx, account, e->id, &u);
	for (size_t i = 0; rc >= 0 && i < u.n; i++)
		rc = ms_seen_adj(tx, account, mailbox, u.v[i], -1, ms_is_draft(e) ? -1 : 0);
	return rc;
}

int ms_seen_draft(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e, bool draft)
{
	struct ms_ids u;
	int rc = ms_seen_users(tx, account, e->id, &u);
	for (size_t i = 0; rc >= 0 && i < u.n; i++)
		for (size_t j = 0; rc >= 0 && j < e->nmembers; j++)
			rc = ms_seen_adj(tx, account, e->members[j].mailbox, u.v[i], 0,
					 draft ? 1 : -1);
	return rc;
}

int ms_seen_destroy(struct ms_tx *tx, uint64_t account, uint64_t email)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, account, MS_F_SEEN, email);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = ms_del_range(tx, &r);
	return rc < 0 ? rc : 0;
}

int ms_seen_drop_mailbox(struct ms_tx *tx, uint64_t account, uint64_t mailbox)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, account, MS_F_SEENCNT, mailbox);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = ms_del_range(tx, &r);
	if (rc >= 0) {
		pl = ms_key_id(pre, account, MS_F_SEENTHR, mailbox);
		store_range_prefix(&r, pre, pl, hi);
		rc = ms_del_range(tx, &r);
	}
	return rc < 0 ? rc : 0;
}

/* Rights of user over the mailboxes holding e: on any of them (*rights_out) and on every
 * one of them (*every_out, may be NULL). */
static int ms_email_rights(struct ms_tx *tx, uint64_t owner, uint64_t user,
			   const struct mailstore_email *e, unsigned *rights_out,
			   unsigned *every_out)
{
	unsigned all = 0, every = MAILSTORE_ACL_ALL;
	for (size_t i = 0; i < e->nmembers; i++) {
		unsigned r = 0;
		int rc = ms_acl_rights_in(tx, owner, e->members[i].mailbox, user, &r);
		if (rc == CORE_ENOTFOUND) {
			/* A destroyed mailbox whose contents are still being purged. */
			core_error_clear(tx->err);
			continue;
		}
		if (rc < 0)
			return rc;
		all |= r;
		every &= r;
	}
	*rights_out = all;
	if (every_out != NULL)
		*every_out = all != 0 ? every : 0;
	return 0;
}

/* Whether user has their own \Seen on e. */
static int ms_seen_has(struct ms_tx *tx, uint64_t owner, uint64_t user, uint64_t email, bool *out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, owner, MS_F_SEEN, email, user);
	uint64_t unused;
	return ms_get_uint(tx, k, kl, &unused, NULL, out);
}

/* Set or clear user's own \Seen on e with every per-user count; *changed_out when it
 * changed (the caller then writes e with ms_email_changed). */
static int ms_seen_apply(struct ms_tx *tx, uint64_t owner, uint64_t user,
			 const struct mailstore_email *e, bool seen, bool *changed_out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, owner, MS_F_SEEN, e->id, user);
	bool have;
	*changed_out = false;
	int rc = ms_seen_has(tx, owner, user, e->id, &have);
	if (rc < 0 || have == seen)
		return rc;
	*changed_out = true;
	rc = seen ? ms_put(tx, k, kl, "", 0) : ms_del(tx, k, kl);
	int d = seen ? 1 : -1;
	for (size_t i = 0; rc >= 0 && i < e->nmembers; i++) {
		uint64_t mailbox = e->members[i].mailbox;
		struct ms_tx_mbox *mb;
		rc = ms_tx_mbox(tx, owner, mailbox, &mb);
		if (rc == CORE_ENOTFOUND) {
			/* A destroyed mailbox whose contents are still being purged. */
			core_error_clear(tx->err);
			rc = 0;
			continue;
		}
		if (rc >= 0)
			rc = ms_seen_adj(tx, owner, mailbox, user, d, ms_is_draft(e) ? d : 0);
		if (rc < 0 || ms_is_draft(e))
			continue;
		/* A non-draft email seen or unseen may complete or reopen its thread for
		 * this user. */
		uint64_t nd = 0, s0;
		rc = ms_mbthread_nondraft(tx, owner, mailbox, e->thread_id, &nd);
		uint8_t gk[STORE_KEY_MAX];
		size_t gl = ms_pair_key(gk, owner, MS_F_SEENTHR, mailbox, e->thread_id);
		ms_be64(gk + gl, user);
		gl += 8;
		bool gfound;
		if (rc >= 0)
			rc = ms_get_uint(tx, gk, gl, &s0, NULL, &gfound);
		if (rc >= 0)
			rc = ms_seen_thread_one(tx, owner, mailbox, e->thread_id, user, s0,
						(int64_t)s0 + d, nd, nd);
	}
	return rc;
}

/* Load an email for user: CORE_ENOTFOUND without "r" on any of its mailboxes. */
static int ms_email_open_as(struct ms_tx *tx, uint64_t owner, uint64_t user, uint64_t id,
			    struct mailstore_email *e, unsigned *any_out, unsigned *every_out)
{
	struct core_buf v = CORE_BUF_INIT;
	memset(e, 0, sizeof(*e));
	int rc = ms_email_load(tx, owner, id, e, &v);
	core_buf_fini(&v);
	if (rc >= 0)
		rc = ms_email_rights(tx, owner, user, e, any_out, every_out);
	/* RFC 4314 §4: without "r" the message is not there for this user. */
	if (rc >= 0 && !(*any_out & MAILSTORE_ACL_READ))
		rc = ms_tx_fail(tx, CORE_ENOTFOUND, NULL, "no such email");
	return rc;
}

static int ms_seen_set_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	unsigned r, every;
	int rc = ms_email_open_as(tx, c->owner, c->user, c->id, &e, &r, &every);
	if (rc < 0)
		return rc;
	/* RFC 4314 §4: "s" lets a user keep \Seen; RFC 8621 §2 (maySetSeen) needs it on
	 * every mailbox holding the email. */
	if (!(every & MAILSTORE_ACL_SEEN))
		return ms_tx_fail(tx, CORE_EPERM, "RFC 8621 §2",
				  "no right to keep \\Seen in every mailbox of the email");
	bool changed;
	if ((rc = ms_seen_apply(tx, c->owner, c->user, &e, c->seen, &changed)) < 0 || !changed)
		return rc;
	/* The user's view of the email and of its mailboxes' counts changed: a change like
	 * a keyword change (RFC 7162 MODSEQ, RFC 8621 /changes). */
	return ms_email_changed(tx, ac, &e, true, true);
}

struct ms_kw_as_ctx {
	uint64_t owner, user, id;
	enum mailstore_kw_op op;
	const char **kw;
	size_t nkw;
	uint64_t unchanged_since, modseq;
};

static int ms_kw_as_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_kw_as_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	unsigned r, every;
	int rc = ms_email_open_as(tx, c->owner, c->user, c->id, &e, &r, &every);
	if (rc < 0)
		return rc;
	c->modseq = e.modseq;
	/* RFC 7162 §3.2: UNCHANGEDSINCE fails for a message whose modseq is greater. */
	if (c->unchanged_since != 0 && e.modseq > c->unchanged_since)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 7162 §3.2",
				  "MODIFIED: changed since the given modseq");
	/* $seen is the user's own; every other keyword is the email's. */
	bool has_seen = ms_keywords_has(c->kw, c->nkw, MAILSTORE_KW_SEEN);
	const char **others = core_arena_zalloc(tx->a, (c->nkw + 2) * sizeof(*others));
	size_t n = 0;
	for (size_t i = 0; i < c->nkw; i++)
		if (strcmp(c->kw[i], MAILSTORE_KW_SEEN) != 0)
			others[n++] = c->kw[i];
	/* FLAGS replaces the user's keywords: the owner's $seen stays as it is. */
	if (c->op == MAILSTORE_KW_REPLACE &&
	    ms_keywords_has(e.keywords, e.nkeywords, MAILSTORE_KW_SEEN))
		others[n++] = MAILSTORE_KW_SEEN;
	const char **nk;
	size_t nn;
	bool same;
	if ((rc = ms_kw_compute(tx, &e, c->op, others, n, &nk, &nn, &same)) < 0)
		return rc;
	bool seen_now, seen_to;
	if ((rc = ms_seen_has(tx, c->owner, c->user, c->id, &seen_now)) < 0)
		return rc;
	seen_to = seen_now;
	if (c->op == MAILSTORE_KW_REPLACE || has_seen)
		seen_to = c->op == MAILSTORE_KW_REMOVE ? false : has_seen;
	/* RFC 8621 §2: maySetKeywords ("w"), and "t" for $deleted (RFC 4314 §4), on every
	 * mailbox of the email; maySetSeen ("s") likewise. */
	if (!same) {
		bool deleted_changes = ms_keywords_has(nk, nn, "$deleted") !=
				       ms_keywords_has(e.keywords, e.nkeywords, "$deleted");
		bool others_change = false;
		for (size_t i = 0; i < nn && !others_change; i++)
			others_change = strcmp(nk[i], "$deleted") != 0 &&
					!ms_keywords_has(e.keywords, e.nkeywords, nk[i]);
		for (size_t i = 0; i < e.nkeywords && !others_change; i++)
			others_change = strcmp(e.keywords[i], "$deleted") != 0 &&
					!ms_keywords_has(nk, nn, e.keywords[i]);
		if (others_change && !(every & MAILSTORE_ACL_WRITE))
			return ms_tx_fail(tx, CORE_EPERM, "RFC 8621 §2",
					  "no right to set keywords in every mailbox of the email");
		if (deleted_changes && !(every & MAILSTORE_ACL_DELMSG))
			return ms_tx_fail(
				tx, CORE_EPERM, "RFC 4314 §4",
				"no right to set \\Deleted in every mailbox of the email");
	}
	if (seen_to != seen_now && !(every & MAILSTORE_ACL_SEEN))
		return ms_tx_fail(tx, CORE_EPERM, "RFC 8621 §2",
				  "no right to keep \\Seen in every mailbox of the email");
	bool counts = false, seen_changed = false;
	if (!same && (rc = ms_kw_apply(tx, c->owner, &e, nk, nn, &counts)) < 0)
		return rc;
	if ((rc = ms_seen_apply(tx, c->owner, c->user, &e, seen_to, &seen_changed)) < 0)
		return rc;
	if (same && !seen_changed)
		return 0;
	/* One change of the email, whichever parts moved. */
	rc = ms_email_changed(tx, ac, &e, counts || seen_changed, true);
	c->modseq = e.modseq;
	return rc;
}

int mailstore_email_keywords_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
				enum mailstore_kw_op op, const char *const *kw, size_t n,
				uint64_t unchanged_since, uint64_t *modseq_out,
				struct core_error *err)
{
	if (user == owner)
		return mailstore_email_keywords(ms, owner, id, op, kw, n, unchanged_since,
						modseq_out, err);
	core_error_clear(err);
	if ((unsigned)op > MAILSTORE_KW_REPLACE)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad keyword operation");
	if (user == MAILSTORE_ACL_ANYONE)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no user");
	struct core_arena *a = core_arena_new(0);
	struct ms_kw_as_ctx c = {.owner = owner,
				 .user = user,
				 .id = id,
				 .op = op,
				 .unchanged_since = unchanged_since};
	int rc = ms_keywords_norm(a, kw, kw != NULL ? n : 0, &c.kw, &c.nkw, err);
	if (rc >= 0)
		rc = ms_tx_run(ms, &owner, 1, ms_kw_as_fn, &c, err);
	if (rc >= 0 && modseq_out != NULL)
		*modseq_out = c.modseq;
	core_arena_free(&a);
	return rc < 0 ? rc : 0;
}

int mailstore_seen_set(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id, bool seen,
		       struct core_error *err)
{
	core_error_clear(err);
	if (user == owner) {
		const char *kw[] = {MAILSTORE_KW_SEEN};
		return mailstore_email_keywords(ms, owner, id,
						seen ? MAILSTORE_KW_ADD : MAILSTORE_KW_REMOVE, kw,
						1, 0, NULL, err);
	}
	if (user == MAILSTORE_ACL_ANYONE)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no user");
	struct ms_acl_ctx c = {.owner = owner, .user = user, .id = id, .seen = seen};
	int rc = ms_tx_run(ms, &owner, 1, ms_seen_set_fn, &c, err);
	return rc < 0 ? rc : 0;
}

static int ms_get_as_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct core_buf v = CORE_BUF_INIT;
	struct mailstore_email *e = c->email;
	int rc = ms_email_load(tx, c->owner, c->id, e, &v);
	core_buf_fini(&v);
	if (rc < 0)
		return rc;
	unsigned r;
	if ((rc = ms_email_rights(tx, c->owner, c->user, e, &r, NULL)) < 0)
		return rc;
	if (!(r & MAILSTORE_ACL_READ))
		return core_error_set(tx->err, CORE_ENOTFOUND, NULL, "no such email");
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, c->owner, MS_F_SEEN, c->id, c->user);
	uint64_t unused;
	bool seen;
	if ((rc = ms_get_uint(tx, k, kl, &unused, NULL, &seen)) < 0)
		return rc;
	/* Copy into the caller's arena, $seen replaced by the user's own (sorted order
	 * kept). */
	const char **kw = core_arena_zalloc(c->a, (e->nkeywords + 2) * sizeof(*kw));
	size_t n = 0;
	bool placed = !seen;
	for (size_t i = 0; i < e->nkeywords; i++) {
		if (strcmp(e->keywords[i], MAILSTORE_KW_SEEN) == 0)
			continue;
		if (!placed && strcmp(e->keywords[i], MAILSTORE_KW_SEEN) > 0) {
			kw[n++] = core_arena_strdup(c->a, MAILSTORE_KW_SEEN);
			placed = true;
		}
		kw[n++] = core_arena_strdup(c->a, e->keywords[i]);
	}
	if (!placed)
		kw[n++] = core_arena_strdup(c->a, MAILSTORE_KW_SEEN);
	e->keywords = kw;
	e->nkeywords = n;
	struct mailstore_member *m = core_arena_zalloc(c->a, (e->nmembers + 1) * sizeof(*m));
	if (e->nmembers > 0)
		memcpy(m, e->members, e->nmembers * sizeof(*m));
	e->members = m;
	return 0;
}

int mailstore_email_get_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
			   struct core_arena *a, struct mailstore_email *out,
			   struct core_error *err)
{
	if (user == owner)
		return mailstore_email_get(ms, owner, id, a, out, err);
	struct ms_acl_ctx c = {.owner = owner, .user = user, .id = id, .a = a, .email = out};
	int rc = ms_tx_read(ms, owner, ms_get_as_fn, &c, err);
	return rc < 0 ? rc : 0;
}

/* The user's own counts on a copy of mailbox m (issue 6: per-user \Seen). */
static int ms_mbox_user_counts(struct ms_tx *tx, uint64_t owner, uint64_t user,
			       struct mailstore_mailbox *m)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pair_key(k, owner, MS_F_SEENCNT, m->id, user);
	uint64_t q[3];
	bool found;
	int rc = ms_seen_q_get(tx, k, kl, q, &found);
	if (rc < 0)
		return rc;
	uint64_t seen = q[0], sd = q[1];
	/* Unseen: the emails the user has not seen; unread also leaves out drafts (RFC 8621
	 * §2). */
	m->unseen = m->total > seen ? m->total - seen : 0;
	uint64_t nondraft = m->total > m->drafts ? m->total - m->drafts : 0;
	uint64_t seen_nondraft = seen > sd ? seen - sd : 0;
	m->unread = nondraft > seen_nondraft ? nondraft - seen_nondraft : 0;
	/* A thread is unread for the user while it holds a non-draft email here the user
	 * has not seen. */
	m->unread_threads = m->nondraft_threads > q[2] ? m->nondraft_threads - q[2] : 0;
	return 0;
}

static int ms_mbox_as_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	unsigned r;
	int rc = ms_acl_rights_in(tx, c->owner, c->mailbox, c->user, &r);
	if (rc == CORE_ENOTFOUND || (rc >= 0 && !(r & (MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ))))
		return core_error_set(tx->err, CORE_ENOTFOUND, NULL, "no such mailbox");
	if (rc < 0)
		return rc;
	struct ms_tx_mbox *mb;
	if ((rc = ms_tx_mbox(tx, c->owner, c->mailbox, &mb)) < 0)
		return rc;
	*c->mbox = mb->m;
	c->mbox->name = core_arena_strdup(c->a, mb->m.name);
	return ms_mbox_user_counts(tx, c->owner, c->user, c->mbox);
}

/* Listing the mailboxes a user sees in another account. */
struct ms_list_as {
	struct ms_tx *tx;
	struct ms_acl_ctx *c;
	struct mailstore_mailbox *v;
	unsigned *rights;
	size_t n, cap;
	int rc;
};

static int ms_list_as_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_list_as *l = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	struct mailstore_mailbox m = {0};
	m.id = ms_rd_be64((const uint8_t *)key + 10);
	if (ms_mailbox_decode(val, vlen, l->c->a, &m) < 0)
		return CORE_EINTERNAL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = core_arena_grow(l->c->a, l->v, l->n, l->cap, sizeof(*l->v));
		l->rights = core_arena_grow(l->c->a, l->rights, l->n, l->cap, sizeof(*l->rights));
	}
	l->rights[l->n] = 0;
	l->v[l->n++] = m;
	return 0;
}

static int ms_list_as_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_acl_ctx *c = ctx;
	struct ms_list_as l = {.tx = tx, .c = c};
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key(pre, c->owner, MS_F_MAILBOX);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = store_txn_scan(tx->t, &r, ms_list_as_cb, &l, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt mailbox record");
	size_t m = 0;
	for (size_t i = 0; rc >= 0 && i < l.n; i++) {
		unsigned rights = 0;
		rc = ms_acl_rights_in(tx, c->owner, l.v[i].id, c->user, &rights);
		/* RFC 4314 §4: "l" makes a mailbox visible. */
		if (rc < 0 || !(rights & MAILSTORE_ACL_LOOKUP))
			continue;
		if (c->user != c->owner)
			rc = ms_mbox_user_counts(tx, c->owner, c->user, &l.v[i]);
		l.rights[m] = rights;
		l.v[m++] = l.v[i];
	}
	if (rc < 0)
		return rc;
	c->mboxes = l.v;
	c->rights_v = l.rights;
	c->n = m;
	return 0;
}

int mailstore_mailbox_list_as(struct mailstore *ms, uint64_t owner, uint64_t user,
			      struct core_arena *a, struct mailstore_mailbox **out,
			      unsigned **rights_out, size_t *n_out, struct core_error *err)
{
	struct ms_acl_ctx c = {.owner = owner, .user = user, .a = a};
	int rc = ms_tx_read(ms, owner, ms_list_as_fn, &c, err);
	if (rc >= 0) {
		*out = c.mboxes;
		if (rights_out != NULL)
			*rights_out = c.rights_v;
		*n_out = c.n;
	}
	return rc < 0 ? rc : 0;
}

int mailstore_mailbox_get_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
			     struct core_arena *a, struct mailstore_mailbox *out,
			     struct core_error *err)
{
	if (user == owner)
		return mailstore_mailbox_get(ms, owner, id, a, out, err);
	struct ms_acl_ctx c = {.owner = owner, .user = user, .mailbox = id, .a = a, .mbox = out};
	int rc = ms_tx_read(ms, owner, ms_mbox_as_fn, &c, err);
	return rc < 0 ? rc : 0;
}
