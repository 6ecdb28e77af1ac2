/*
 * mailstore_email.c: emails (RFC 8621 §4) and their IMAP view: delivery and APPEND
 * (RFC 9051 §6.3.12), COPY (§6.4.7) as a new Email sharing the blob, MOVE (RFC 6851) as the
 * same Email with a new UID, keywords and flags (RFC 8621 §4.1.1, RFC 9051 §2.3.2),
 * UNCHANGEDSINCE (RFC 7162 §3.2), EXPUNGE with tombstones (RFC 7162 §3.2.10), destroy, and
 * quotas checked inside the inserting transaction (RFC 9208 §5.1).
 *
 * Every membership is a (mailbox, UID) pair kept twice: in the email record and as a
 * per-mailbox UID index entry; both change in the same transaction, together with the
 * mailbox's UIDNEXT, counts and HIGHESTMODSEQ.
 */
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_share.h"

/* UIDs removed per transaction by mailstore_mailbox_expunge(). */
#define MS_EXPUNGE_BATCH 256u

/* ---------------------------------------------------------------------------------- */
/* Keywords                                                                           */
/* ---------------------------------------------------------------------------------- */

static int ms_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ms_keywords_norm(struct core_arena *a, const char *const *kw, size_t n, const char ***out,
		     size_t *n_out, struct core_error *err)
{
	if (n > MAILSTORE_KEYWORDS_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many keywords");
	const char **v = core_arena_zalloc(a, (n + 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const char *k = kw[i];
		size_t len = k != NULL ? strlen(k) : 0;
		if (len == 0 || len > MAILSTORE_KEYWORD_MAX)
			return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.1",
					      "keyword must be 1-%u bytes", MAILSTORE_KEYWORD_MAX);
		char *l = core_arena_alloc(a, len + 1);
		for (size_t j = 0; j < len; j++) {
			unsigned char c = (unsigned char)k[j];
			/* RFC 8621 §4.1.1: keywords use IMAP atom characters (RFC 9051 §9
			 * flag-keyword); '\' only as the system-flag prefix is mapped by
			 * callers, so it is refused here. */
			if (c < 0x21 || c > 0x7e || strchr("(){]%*\"\\", c) != NULL)
				return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.1",
						      "keyword holds a forbidden character");
			l[j] = core_ascii_lower((char)c);
		}
		l[len] = '\0';
		v[i] = l;
	}
	qsort(v, n, sizeof(*v), ms_str_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || strcmp(v[m - 1], v[i]) != 0)
			v[m++] = v[i];
	*out = v;
	*n_out = m;
	return 0;
}

bool ms_keywords_has(const char *const *kw, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kw[i], k) == 0)
			return true;
	return false;
}

/* RFC 8621 §2 unreadEmails: neither $seen nor $draft. */
static bool ms_unread(const struct mailstore_email *e)
{
	return !ms_keywords_has(e->keywords, e->nkeywords, MAILSTORE_KW_SEEN) &&
	       !ms_keywords_has(e->keywords, e->nkeywords, MAILSTORE_KW_DRAFT);
}

/* Drafts are never unread (RFC 8621 §2); counted per mailbox for per-user unread counts. */
static bool ms_draft(const struct mailstore_email *e)
{
	return ms_keywords_has(e->keywords, e->nkeywords, MAILSTORE_KW_DRAFT);
}

/* RFC 9051 §6.3.11 STATUS UNSEEN: no \Seen flag. */
static bool ms_unseen(const struct mailstore_email *e)
{
	return !ms_keywords_has(e->keywords, e->nkeywords, MAILSTORE_KW_SEEN);
}

/*
 * Per (mailbox, thread) counts of emails, unread emails and non-draft emails, so
 * totalThreads and unreadThreads (RFC 8621 §2) stay exact: a thread counts while its count
 * is above zero. The non-draft count gives other users' unreadThreads of a shared mailbox
 * (mailstore_acl.c): a thread is unread for a user while it holds a non-draft email that
 * user has not seen. An older record without the third count had no drafts. The thread's
 * non-draft count before and after goes to *nd_old / *nd_new (may be NULL).
 */
static int ms_mbthread_adj(struct ms_tx *tx, struct ms_tx_mbox *mb, uint64_t thread, int dn,
			   int dunread, int dnondraft, uint64_t *nd_old, uint64_t *nd_new)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, mb->account, MS_F_MBTHREAD, mb->m.id);
	ms_be64(k + kl, thread);
	kl += 8;
	struct core_buf v = CORE_BUF_INIT;
	uint64_t n = 0, u = 0, nd = 0;
	bool legacy = false;
	int rc = ms_get(tx, k, kl, &v);
	if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		n = ms_get_u64(&d);
		u = ms_get_u64(&d);
		legacy = !d.bad && d.off >= d.len;
		nd = legacy ? n : ms_get_u64(&d);
		if (d.bad)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt thread count");
	} else if (rc == CORE_ENOTFOUND) {
		rc = 0;
	}
	int64_t n2s = (int64_t)n + dn, u2s = (int64_t)u + dunread, nd2s = (int64_t)nd + dnondraft;
	/* A record from before the non-draft count guessed it; keep the guess in range
	 * rather than refuse the change. */
	if (legacy && nd2s > n2s)
		nd2s = n2s;
	if (legacy && nd2s < 0)
		nd2s = 0;
	if (rc >= 0 && (n2s < 0 || u2s < 0 || nd2s < 0 || u2s > n2s || nd2s > n2s))
		rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "thread count underflow");
	if (rc < 0) {
		core_buf_fini(&v);
		return rc;
	}
	uint64_t n2 = (uint64_t)n2s, u2 = (uint64_t)u2s, nd2 = (uint64_t)nd2s;
	if (n == 0 && n2 > 0)
		mb->m.total_threads++;
	else if (n > 0 && n2 == 0)
		mb->m.total_threads--;
	if (u == 0 && u2 > 0)
		mb->m.unread_threads++;
	else if (u > 0 && u2 == 0)
		mb->m.unread_threads--;
	if (nd == 0 && nd2 > 0)
		mb->m.nondraft_threads++;
	else if (nd > 0 && nd2 == 0 && mb->m.nondraft_threads > 0)
		mb->m.nondraft_threads--;
	if (nd_old != NULL)
		*nd_old = nd;
	if (nd_new != NULL)
		*nd_new = nd2;
	if (n2 == 0) {
		rc = ms_del(tx, k, kl);
	} else {
		core_buf_reset(&v);
		ms_put_u64(&v, n2);
		ms_put_u64(&v, u2);
		ms_put_u64(&v, nd2);
		/* Three counters: never a chunked value. */
		rc = ms_put_nochunks(tx, k, kl, v.p, v.len);
	}
	core_buf_fini(&v);
	return rc;
}

int ms_mbthread_nondraft(struct ms_tx *tx, uint64_t account, uint64_t mailbox, uint64_t thread,
			 uint64_t *nd_out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_MBTHREAD, mailbox);
	ms_be64(k + kl, thread);
	kl += 8;
	struct core_buf v = CORE_BUF_INIT;
	*nd_out = 0;
	int rc = ms_get(tx, k, kl, &v);
	if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		uint64_t n = ms_get_u64(&d);
		(void)ms_get_u64(&d);
		*nd_out = d.off < d.len ? ms_get_u64(&d) : n;
		if (d.bad)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt thread count");
	} else if (rc == CORE_ENOTFOUND) {
		core_error_clear(tx->err);
		rc = 0;
	}
	core_buf_fini(&v);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Records                                                                            */
/* ---------------------------------------------------------------------------------- */

int ms_email_load(struct ms_tx *tx, uint64_t account, uint64_t id, struct mailstore_email *out,
		  struct core_buf *scratch)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_EMAIL, id);
	int rc = ms_get(tx, k, kl, scratch);
	if (rc == CORE_ENOTFOUND)
		return ms_tx_fail(tx, CORE_ENOTFOUND, NULL, "no such email");
	if (rc < 0)
		return rc;
	out->id = id;
	if (ms_email_decode(scratch->p, scratch->len, tx->a, out) < 0)
		return core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt email record");
	return 0;
}

int ms_email_store(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e, bool fresh)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_EMAIL, e->id);
	struct core_buf v = CORE_BUF_INIT;
	ms_email_encode(e, &v);
	int rc = fresh ? ms_put_nochunks(tx, k, kl, v.p, v.len) : ms_put(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

static size_t ms_uid_key(uint8_t *k, uint64_t account, uint64_t mailbox, uint32_t uid)
{
	size_t kl = ms_key_id(k, account, MS_F_UID, mailbox);
	ms_be32(k + kl, uid);
	return kl + 4;
}

static int ms_uid_put(struct ms_tx *tx, uint64_t account, uint64_t mailbox, uint32_t uid,
		      uint64_t email, uint64_t modseq)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_uid_key(k, account, mailbox, uid);
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, email);
	ms_put_u64(&v, modseq);
	/* Two numbers: never a chunked value. */
	int rc = ms_put_nochunks(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

/* The email changed: new modseq on it and on every UID entry, HIGHESTMODSEQ of every
 * mailbox holding it raised (ARCHITECTURE.md §4), and logged once. */
int ms_email_changed(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
		     bool counts, bool log)
{
	e->modseq = ac->modseq;
	for (size_t i = 0; i < e->nmembers; i++) {
		struct ms_tx_mbox *mb;
		int rc = ms_tx_mbox(tx, ac->account, e->members[i].mailbox, &mb);
		if (rc < 0)
			return rc;
		ms_tx_mbox_touch(tx, mb, counts);
		rc = ms_uid_put(tx, ac->account, e->members[i].mailbox, e->members[i].uid, e->id,
				e->modseq);
		if (rc < 0)
			return rc;
	}
	if (log)
		ms_tx_log(tx, ac, MAILSTORE_T_EMAIL, MS_OP_UPDATED, e->id);
	return ms_email_store(tx, ac->account, e, false);
}

static struct mailstore_member *ms_member_find(struct mailstore_email *e, uint64_t mailbox)
{
	for (size_t i = 0; i < e->nmembers; i++)
		if (e->members[i].mailbox == mailbox)
			return &e->members[i];
	return NULL;
}

/*
 * Put e into a mailbox with the mailbox's next UID (RFC 9051 §2.3.1.1: strictly ascending,
 * never reused). Counts and HIGHESTMODSEQ follow. The caller stores e afterwards. The
 * members array has room for one more (decoders and creators allocate it so).
 */
static int ms_email_join(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
			 uint64_t mailbox, uint32_t *uid_out)
{
	struct mailstore_member *have = ms_member_find(e, mailbox);
	if (have != NULL) {
		if (uid_out != NULL)
			*uid_out = have->uid;
		return 0;
	}
	if (e->nmembers >= MAILSTORE_MAILBOXES_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "email is in too many mailboxes");
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, ac->account, mailbox, "RFC 8621 §4.6", &mb);
	if (rc < 0)
		return rc;
	if (mb->m.uidnext == 0 || mb->m.uidnext == UINT32_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, "RFC 9051 §2.3.1.1", "mailbox UIDs exhausted");
	uint32_t uid = mb->m.uidnext++;
	mb->m.total++;
	if (ms_unread(e))
		mb->m.unread++;
	if (ms_unseen(e))
		mb->m.unseen++;
	if (ms_draft(e))
		mb->m.drafts++;
	mb->m.size += e->size;
	uint64_t nd0, nd1;
	bool fresh = e->created_modseq == ac->modseq;
	if ((rc = ms_mbthread_adj(tx, mb, e->thread_id, 1, ms_unread(e) ? 1 : 0,
				  ms_draft(e) ? 0 : 1, &nd0, &nd1)) < 0)
		return rc;
	/* Users who saw an existing email see it in its new mailbox too (a new email has
	 * no per-user \Seen yet); other users' thread counts follow. */
	if (!fresh && (rc = ms_seen_join(tx, ac->account, e, mailbox)) < 0)
		return rc;
	/* RFC 4314 per-user \Seen: a user's count in a (mailbox, thread) never exceeds the
	 * non-draft emails there, so when this is the first (nd0 == 0) and nobody saw it yet
	 * (fresh), no count exists to follow: the scan for them is skipped (every delivery
	 * that starts a thread). */
	if (nd0 != nd1 && !(fresh && nd0 == 0) &&
	    (rc = ms_seen_thread(tx, ac->account, mailbox, e, fresh, nd0, nd1, 1)) < 0)
		return rc;
	ms_tx_mbox_touch(tx, mb, true);
	/* Keep members ordered by mailbox id. */
	size_t pos = e->nmembers;
	while (pos > 0 && e->members[pos - 1].mailbox > mailbox) {
		e->members[pos] = e->members[pos - 1];
		pos--;
	}
	e->members[pos] = (struct mailstore_member){mailbox, uid};
	e->nmembers++;
	e->modseq = ac->modseq;
	if (uid_out != NULL)
		*uid_out = uid;
	if ((rc = ms_uid_put(tx, ac->account, mailbox, uid, e->id, ac->modseq)) < 0)
		return rc;
	/* The mailbox's receivedAt index (mailstore_query.c). */
	return ms_qindex_add(tx, ac->account, mailbox, e);
}

static int ms_email_destroy_in(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, ac->account, MS_F_EMAIL, e->id);
	int rc = ms_del(tx, k, kl);
	if (rc < 0)
		return rc;
	kl = ms_key_id(k, ac->account, MS_F_PARSED, e->id);
	if ((rc = ms_del(tx, k, kl)) < 0)
		return rc;
	if ((rc = ms_thread_remove(tx, ac, e->thread_id, e->id)) < 0)
		return rc;
	ac->rec.used_bytes = ac->rec.used_bytes > e->size ? ac->rec.used_bytes - e->size : 0;
	ac->rec.used_messages = ac->rec.used_messages > 0 ? ac->rec.used_messages - 1 : 0;
	ms_tx_log(tx, ac, MAILSTORE_T_EMAIL, MS_OP_DESTROYED, e->id);
	/* The last reference goes: its per-user \Seen and its blob link go in this same
	 * transaction (docs/mailstore.md §Blobs). */
	if ((rc = ms_seen_destroy(tx, ac->account, e->id)) < 0 ||
	    (rc = ms_blob_unlink_in(tx, ac->account, e->id, &e->blob)) < 0)
		return rc;
	/* Its full-text index entries go in the background (mailstore_index.c). */
	return ms_fts_enqueue(tx, ac->account, e->id, true);
}

int ms_email_leave(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
		   uint64_t mailbox, bool *destroyed_out)
{
	struct mailstore_member *m = ms_member_find(e, mailbox);
	if (destroyed_out != NULL)
		*destroyed_out = false;
	if (m == NULL)
		return ms_tx_fail(tx, CORE_ENOTFOUND, NULL, "email is not in this mailbox");
	uint32_t uid = m->uid;
	struct ms_tx_mbox *mb = NULL;
	int rc = ms_tx_mbox(tx, ac->account, mailbox, &mb);
	if (rc == CORE_ENOTFOUND) {
		/* The mailbox is destroyed and its contents are being purged
		 * (mailstore_mailbox_destroy): no counts, no tombstone to keep. */
		core_error_clear(tx->err);
		mb = NULL;
	} else if (rc < 0) {
		return rc;
	}
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_uid_key(k, ac->account, mailbox, uid);
	if ((rc = ms_del(tx, k, kl)) < 0)
		return rc;
	if ((rc = ms_qindex_del(tx, ac->account, mailbox, e)) < 0)
		return rc;
	if (mb != NULL) {
		/* RFC 7162 §3.2.10 / ARCHITECTURE.md §4: the tombstone of an expunge keeps
		 * mailbox, modseq and UID so QRESYNC can report VANISHED. */
		kl = ms_key_id(k, ac->account, MS_F_EXPUNGE, mailbox);
		ms_be64(k + kl, ac->modseq);
		ms_be32(k + kl + 8, uid);
		if ((rc = ms_put(tx, k, kl + 12, "", 0)) < 0)
			return rc;
		mb->m.total--;
		if (ms_unread(e))
			mb->m.unread--;
		if (ms_unseen(e))
			mb->m.unseen--;
		if (ms_draft(e) && mb->m.drafts > 0)
			mb->m.drafts--;
		if ((rc = ms_seen_leave(tx, ac->account, e, mailbox)) < 0)
			return rc;
		mb->m.size -= e->size;
		uint64_t nd0, nd1;
		if ((rc = ms_mbthread_adj(tx, mb, e->thread_id, -1, ms_unread(e) ? -1 : 0,
					  ms_draft(e) ? 0 : -1, &nd0, &nd1)) < 0)
			return rc;
		if (nd0 != nd1 &&
		    (rc = ms_seen_thread(tx, ac->account, mailbox, e, false, nd0, nd1, -1)) < 0)
			return rc;
		ms_tx_mbox_touch(tx, mb, true);
	}
	size_t i = (size_t)(m - e->members);
	memmove(&e->members[i], &e->members[i + 1], (e->nmembers - i - 1) * sizeof(*m));
	e->nmembers--;
	if (e->nmembers == 0) {
		if (destroyed_out != NULL)
			*destroyed_out = true;
		return ms_email_destroy_in(tx, ac, e);
	}
	return ms_email_changed(tx, ac, e, false, true);
}

/* ---------------------------------------------------------------------------------- */
/* Delivery                                                                           */
/* ---------------------------------------------------------------------------------- */

struct ms_deliver_ctx {
	const struct mailstore_target *targets;
	size_t n;
	const char ***kw; /* normalised keywords per target */
	size_t *nkw;
	struct store_blob_id blob;
	uint64_t size;
	int64_t received_at;
	const struct mailstore_parsed *parsed;
	const struct core_buf *parsed_enc;
	struct mailstore_delivered *out;
	const void *data;
	bool inlined; /* small message: content written in the transaction */
};

/* Quota (RFC 9208 §5.1): checked against the usage read in this transaction. */
static int ms_quota_check(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t size)
{
	if (ac->rec.quota_bytes != 0 && ac->rec.used_bytes + size > ac->rec.quota_bytes)
		return ms_tx_fail(tx, CORE_ELIMIT, "RFC 9208 §5.1",
				  "OVERQUOTA: storage quota exceeded");
	if (ac->rec.quota_messages != 0 && ac->rec.used_messages + 1 > ac->rec.quota_messages)
		return ms_tx_fail(tx, CORE_ELIMIT, "RFC 9208 §5.1",
				  "OVERQUOTA: message quota exceeded");
	return 0;
}

/* A new email record in the transaction: keywords copied, members room allocated. */
static int ms_email_insert(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
			   const uint64_t *mailboxes, size_t nmb, uint32_t *uids_out)
{
	int rc = ms_quota_check(tx, ac, e->size);
	if (rc < 0)
		return rc;
	e->members = core_arena_zalloc(tx->a, (MAILSTORE_MAILBOXES_MAX + 1) * sizeof(*e->members));
	e->nmembers = 0;
	e->modseq = e->created_modseq = ac->modseq;
	for (size_t i = 0; i < nmb; i++)
		if ((rc = ms_email_join(tx, ac, e, mailboxes[i], &uids_out[i])) < 0)
			return rc;
	ac->rec.used_bytes += e->size;
	ac->rec.used_messages++;
	ms_tx_log(tx, ac, MAILSTORE_T_EMAIL, MS_OP_CREATED, e->id);
	/* Full-text indexing is queued in this transaction (mailstore_index.c). */
	if ((rc = ms_fts_enqueue(tx, ac->account, e->id, false)) < 0)
		return rc;
	/* Its id was taken in this transaction, by the caller: a new key. */
	return ms_email_store(tx, ac->account, e, true);
}

static int ms_deliver_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_deliver_ctx *c = ctx;
	/* A small message's content, the upload reservation that grants the first target
	 * access, the links and the records all commit here: one synced commit per delivery
	 * (docs/storage.md "Throughput and durability"). */
	int rrc = 0;
	if (c->inlined)
		/* Its id was computed in the preparation; the content is this transaction's
		 * own, so its links need neither a reservation nor an access check. */
		rrc = store_blob_put_txn_id(tx->ms->b, tx->t, c->data, (size_t)c->size, &c->blob,
					    tx->err);
	else
		rrc = store_blob_reserve_txn(tx->ms->b, tx->t, c->targets[0].account, &c->blob,
					     tx->ms->o.reserve_ms, tx->err);
	if (rrc < 0)
		return rrc;
	for (size_t i = 0; i < c->n; i++) {
		const struct mailstore_target *t = &c->targets[i];
		struct ms_tx_acct *ac = ms_tx_acct(tx, t->account);
		struct mailstore_email e = {0};
		/* ARCHITECTURE.md §4: ids per (account, collection), taken in this transaction
		 * (a failed delivery leaves no gap behind). */
		int rc = store_txn_id_next(tx->t, t->account, MS_COLL_EMAIL, &e.id, tx->err);
		if (rc < 0)
			return rc;
		e.blob = c->blob;
		e.size = c->size;
		e.received_at = c->received_at;
		e.keywords = c->kw[i];
		e.nkeywords = c->nkw[i];
		if ((rc = ms_thread_assign(tx, ac, c->parsed, e.id, &e.thread_id)) < 0)
			return rc;
		struct mailstore_delivered *o = &c->out[i];
		memset(o, 0, sizeof(*o));
		if ((rc = ms_email_insert(tx, ac, &e, t->mailboxes, t->nmailboxes, o->uids)) < 0)
			return rc;
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_key_id(k, t->account, MS_F_PARSED, e.id);
		/* e.id is new (above): so is its key. */
		if ((rc = ms_put_nochunks(tx, k, kl, c->parsed_enc->p, c->parsed_enc->len)) < 0)
			return rc;
		/* The blob link commits with the email (an upload's content: the first target
		 * holds the reservation that grants access). */
		rc = c->inlined ? ms_blob_link_own(tx, t->account, e.id, &c->blob)
				: ms_blob_link_in(tx, c->targets[0].account, t->account, e.id,
						  &c->blob);
		if (rc < 0)
			return rc;
		o->email_id = e.id;
		o->thread_id = e.thread_id;
		o->modseq = ac->modseq;
		o->blob = c->blob;
	}
	return 0;
}

/* One message of a delivery, prepared outside any transaction: keywords normalised, parsed
 * once, and (past the inline limit) its blob written. */
struct ms_deliver_prep {
	struct ms_deliver_ctx c;
	struct mailstore_parsed parsed;
	struct core_buf enc;
	uint64_t *accts;
};

/* A preparation made ahead of its batch (mailstore_delivery_prepare()), in its own arena. */
struct mailstore_prepared {
	struct core_arena *a;
	struct ms_deliver_prep p;
};

static int ms_deliver_prepare(struct mailstore *ms, struct core_arena *a,
			      const struct mailstore_delivery *d, struct ms_deliver_prep *p,
			      struct core_error *err)
{
	core_error_clear(err);
	p->enc = (struct core_buf)CORE_BUF_INIT;
	if (d->ntargets == 0 || d->ntargets > MAILSTORE_TARGETS_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "1-%u delivery targets",
				      MAILSTORE_TARGETS_MAX);
	if (d->data == NULL && d->len > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no message");
	if (d->len > MAILSTORE_MESSAGE_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "message too large");
	struct ms_deliver_ctx *c = &p->c;
	*c = (struct ms_deliver_ctx){.targets = d->targets, .n = d->ntargets};
	c->out = core_arena_zalloc(a, d->ntargets * sizeof(*c->out));
	c->kw = core_arena_zalloc(a, d->ntargets * sizeof(*c->kw));
	c->nkw = core_arena_zalloc(a, d->ntargets * sizeof(*c->nkw));
	p->accts = core_arena_zalloc(a, d->ntargets * sizeof(*p->accts));
	int rc = 0;
	for (size_t i = 0; i < d->ntargets && rc >= 0; i++) {
		const struct mailstore_target *t = &d->targets[i];
		p->accts[i] = t->account;
		if (t->account == 0)
			rc = core_error_set(err, CORE_ESYNTAX, NULL, "account id 0");
		else if (t->nmailboxes == 0 || t->mailboxes == NULL)
			rc = core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.1",
					    "an email needs at least one mailbox");
		else if (t->nmailboxes > MAILSTORE_MAILBOXES_MAX)
			rc = core_error_set(err, CORE_ELIMIT, NULL, "too many mailboxes");
		else
			rc = ms_keywords_norm(a, t->keywords, t->keywords ? t->nkeywords : 0,
					      &c->kw[i], &c->nkw[i], err);
	}
	/* Parse once; everything later protocols list is stored with the email. */
	if (rc >= 0)
		rc = ms_parsed_build(a, d->data, d->len, &p->parsed, err);
	if (rc < 0)
		return rc;
	ms_parsed_encode(&p->parsed, &p->enc);
	c->parsed = &p->parsed;
	c->parsed_enc = &p->enc;
	c->size = d->len;
	c->received_at = d->received_at != 0 ? d->received_at : (int64_t)(store_now_ms() / 1000);
	/* One blob for every target (ARCHITECTURE.md §4: content-addressed, stored once). A
	 * message up to store.blob.inline-max is written in the delivery transaction instead. */
	c->data = d->data;
	c->inlined = store_blob_inline_max(ms->b) > 0 && d->len <= store_blob_inline_max(ms->b);
	if (c->inlined)
		return store_blob_id_of(d->data, d->len, &c->blob, err);
	struct store_blob_writer *w = NULL;
	rc = store_blob_write_begin(ms->b, &w, err);
	if (rc >= 0 && d->len > 0)
		rc = store_blob_write(w, d->data, d->len, err);
	if (rc >= 0)
		return store_blob_write_finish_content(&w, &c->blob, err);
	store_blob_write_abort(&w);
	return rc;
}

/* Every prepared message of a joint transaction, one after the other. */
struct ms_deliver_many {
	struct ms_deliver_prep **p;
	size_t n;
};

static int ms_deliver_many_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_deliver_many *m = ctx;
	for (size_t i = 0; i < m->n; i++) {
		int rc = ms_deliver_fn(tx, &m->p[i]->c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int mailstore_delivery_prepare(struct mailstore *ms, struct mailstore_delivery *d)
{
	d->prep = NULL;
	struct core_arena *a = core_arena_new(0);
	struct mailstore_prepared *pr = core_arena_zalloc(a, sizeof(*pr));
	pr->a = a;
	d->rc = ms_deliver_prepare(ms, a, d, &pr->p, &d->err);
	if (d->rc < 0) {
		core_buf_fini(&pr->p.enc);
		core_arena_free(&a);
		return d->rc;
	}
	d->prep = pr;
	return 0;
}

void mailstore_delivery_release(struct mailstore_delivery *d)
{
	if (d == NULL || d->prep == NULL)
		return;
	struct core_arena *a = d->prep->a;
	core_buf_fini(&d->prep->p.enc);
	d->prep = NULL;
	core_arena_free(&a);
}

int mailstore_deliver_batch(struct mailstore *ms, struct mailstore_delivery *d, size_t n,
			    size_t *commits_out)
{
	struct core_arena *a = core_arena_new(0);
	/* p[i]: d[i]'s preparation, made ahead (d[i].prep) or here in own[i]. */
	struct ms_deliver_prep *own = core_arena_zalloc(a, (n ? n : 1) * sizeof(*own));
	struct ms_deliver_prep **p = core_arena_zalloc(a, (n ? n : 1) * sizeof(*p));
	struct ms_deliver_many m = {core_arena_zalloc(a, (n ? n : 1) * sizeof(*m.p)), 0};
	uint64_t accts[MS_TX_ACCTS];
	size_t naccts = 0, commits = 0;
	bool joint = true; /* the union of accounts fits one transaction */
	for (size_t i = 0; i < n; i++) {
		if (d[i].prep != NULL) {
			p[i] = &d[i].prep->p;
			d[i].rc = 0;
			core_error_clear(&d[i].err);
		} else {
			p[i] = &own[i];
			d[i].rc = ms_deliver_prepare(ms, a, &d[i], p[i], &d[i].err);
		}
		if (d[i].rc < 0)
			continue;
		m.p[m.n++] = p[i];
		for (size_t t = 0; t < d[i].ntargets && joint; t++) {
			size_t k;
			for (k = 0; k < naccts && accts[k] != p[i]->accts[t]; k++)
				;
			if (k < naccts)
				continue;
			if (naccts == MS_TX_ACCTS)
				joint = false;
			else
				accts[naccts++] = p[i]->accts[t];
		}
	}
	/*
	 * Group commit: the prepared messages go into one transaction, so the batch costs one
	 * synced commit (docs/storage.md "Throughput and durability"). That transaction is all
	 * or none; when it fails (one member over quota, a record it cannot write), each
	 * member is delivered on its own, so one failure never fails another member. A store
	 * that stays unavailable through the joint attempt's retries fails every member with
	 * that temporary error at once (trying each alone would only multiply the wait).
	 */
	struct core_error jerr;
	core_error_clear(&jerr);
	int jrc = CORE_EINTERNAL; /* until tried: each member alone */
	if (m.n > 1 && joint) {
		jrc = ms_tx_run(ms, accts, naccts, ms_deliver_many_fn, &m, &jerr);
		if (jrc >= 0)
			commits++;
	}
	for (size_t j = 0, i = 0; j < m.n; j++, i++) {
		struct ms_deliver_prep *pj = m.p[j];
		while (p[i] != pj) /* m.p is p without the members that failed to prepare */
			i++;
		if (jrc == CORE_ETEMP) {
			d[i].rc = jrc;
			d[i].err = jerr;
		} else if (jrc < 0) {
			d[i].rc = ms_tx_run(ms, pj->accts, d[i].ntargets, ms_deliver_fn, &pj->c,
					    &d[i].err);
			if (d[i].rc >= 0)
				commits++;
		} else {
			d[i].rc = 0;
			core_error_clear(&d[i].err);
		}
		if (d[i].rc >= 0 && d[i].out != NULL)
			memcpy(d[i].out, pj->c.out, d[i].ntargets * sizeof(*d[i].out));
	}
	size_t delivered = 0;
	for (size_t i = 0; i < n; i++) {
		core_buf_fini(&own[i].enc);
		delivered += d[i].rc >= 0 ? 1 : 0;
	}
	core_arena_free(&a);
	if (commits_out != NULL)
		*commits_out = commits;
	return (int)delivered;
}

int mailstore_deliver(struct mailstore *ms, const void *data, size_t len,
		      const struct mailstore_target *targets, size_t ntargets, int64_t received_at,
		      struct mailstore_delivered *out, struct core_error *err)
{
	struct mailstore_delivery d = {.data = data,
				       .len = len,
				       .targets = targets,
				       .ntargets = ntargets,
				       .received_at = received_at,
				       .out = out};
	mailstore_deliver_batch(ms, &d, 1, NULL);
	if (err != NULL)
		*err = d.err;
	return d.rc;
}

int mailstore_email_append(struct mailstore *ms, uint64_t account, const void *data, size_t len,
			   const uint64_t *mailboxes, size_t nmailboxes,
			   const char *const *keywords, size_t nkeywords, int64_t received_at,
			   struct mailstore_delivered *out, struct core_error *err)
{
	struct mailstore_target t = {account, mailboxes, nmailboxes, keywords, nkeywords};
	return mailstore_deliver(ms, data, len, &t, 1, received_at, out, err);
}

/* ---------------------------------------------------------------------------------- */
/* Reading                                                                            */
/* ---------------------------------------------------------------------------------- */

struct ms_email_ctx {
	uint64_t account, id, from, to;
	struct core_arena *a;
	struct mailstore_email *out;
	struct mailstore_parsed *parsed;
	uint32_t uid;
	const uint64_t *mailboxes;
	size_t n;
	enum mailstore_kw_op op;
	const char **kw;
	size_t nkw;
	uint64_t unchanged_since, modseq;
	const uint32_t *uids;
};

static int ms_email_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, c->account, MS_F_EMAIL, c->id);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND)
		rc = core_error_set(tx->err, rc, NULL, "no such email");
	if (rc >= 0) {
		c->out->id = c->id;
		if (ms_email_decode(v.p, v.len, c->a, c->out) < 0)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt email record");
	}
	core_buf_fini(&v);
	return rc;
}

int mailstore_email_get(struct mailstore *ms, uint64_t account, uint64_t id, struct core_arena *a,
			struct mailstore_email *out, struct core_error *err)
{
	struct ms_email_ctx c = {.account = account, .id = id, .a = a, .out = out};
	return ms_tx_read(ms, c.account, ms_email_get_fn, &c, err);
}

static int ms_parsed_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, c->account, MS_F_PARSED, c->id);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND)
		rc = core_error_set(tx->err, rc, NULL, "no such email");
	if (rc >= 0 && ms_parsed_decode(v.p, v.len, c->a, c->parsed) < 0)
		rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt parsed record");
	core_buf_fini(&v);
	return rc;
}

int mailstore_email_parsed(struct mailstore *ms, uint64_t account, uint64_t id,
			   struct core_arena *a, struct mailstore_parsed *out,
			   struct core_error *err)
{
	struct ms_email_ctx c = {.account = account, .id = id, .a = a, .parsed = out};
	return ms_tx_read(ms, c.account, ms_parsed_get_fn, &c, err);
}

int mailstore_email_read(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t offset,
			 uint64_t len, store_blob_read_fn fn, void *arg, struct core_error *err)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_email e;
	int rc = mailstore_email_get(ms, account, id, a, &e, err);
	if (rc >= 0)
		rc = store_blob_read(ms->b, account, &e.blob, offset, len, fn, arg, err);
	core_arena_free(&a);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Copy, move, mailboxes                                                              */
/* ---------------------------------------------------------------------------------- */

/* Load an email for a change: decoded into the transaction's arena (CORE_ENOTFOUND, final,
 * when it is gone). The caller changes it and writes it back (ms_email_changed or the
 * join/leave helpers). */
static int ms_email_open(struct ms_tx *tx, uint64_t account, uint64_t id, struct mailstore_email *e)
{
	struct core_buf v = CORE_BUF_INIT;
	memset(e, 0, sizeof(*e));
	int rc = ms_email_load(tx, account, id, e, &v);
	core_buf_fini(&v);
	return rc;
}

/* A new Email made from an existing one (IMAP COPY, JMAP Email/copy). */
struct ms_clone_ctx {
	uint64_t from, id, to;
	const uint64_t *mailboxes;
	size_t n;
	const char **kw; /* normalised, or NULL: the source's */
	size_t nkw;
	int64_t received_at; /* 0: the source's */
	struct mailstore_delivered out;
};

/*
 * The copy gets its own id, allocated in this transaction, the source's blob (linked under
 * the target account here too, with the source account's access), size and parsed fields.
 * RFC 9051 §6.4.7: a copy keeps flags and internal date unless the caller gives others.
 * Within one account the copy is the same message, so it stays in the source's thread
 * (RFC 8621 §3); in another account, that account's threading places it.
 */
static int ms_clone_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_clone_ctx *c = ctx;
	struct ms_tx_acct *ac = ms_tx_acct(tx, c->to);
	struct mailstore_email src;
	int rc = ms_email_open(tx, c->from, c->id, &src);
	if (rc < 0)
		return rc;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, c->from, MS_F_PARSED, c->id);
	struct core_buf v = CORE_BUF_INIT;
	rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND)
		rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "email without parsed record");
	struct mailstore_email e = {0};
	if (rc >= 0)
		rc = store_txn_id_next(tx->t, c->to, MS_COLL_EMAIL, &e.id, tx->err);
	if (rc >= 0 && c->from == c->to) {
		e.thread_id = src.thread_id;
		rc = ms_thread_add(tx, ac, e.thread_id, e.id);
	} else if (rc >= 0) {
		struct mailstore_parsed parsed;
		if (ms_parsed_decode(v.p, v.len, tx->a, &parsed) < 0)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt parsed record");
		else
			rc = ms_thread_assign(tx, ac, &parsed, e.id, &e.thread_id);
	}
	if (rc >= 0) {
		e.blob = src.blob;
		e.size = src.size;
		e.received_at = c->received_at != 0 ? c->received_at : src.received_at;
		e.keywords = c->kw != NULL ? c->kw : src.keywords;
		e.nkeywords = c->kw != NULL ? c->nkw : src.nkeywords;
		memset(&c->out, 0, sizeof(c->out));
		/* RFC 9208 §5.1: the target's quota, checked in this transaction. */
		rc = ms_email_insert(tx, ac, &e, c->mailboxes, c->n, c->out.uids);
	}
	if (rc >= 0) {
		/* e.id was taken in this transaction: a new key. */
		kl = ms_key_id(k, c->to, MS_F_PARSED, e.id);
		rc = ms_put_nochunks(tx, k, kl, v.p, v.len);
	}
	core_buf_fini(&v);
	if (rc >= 0)
		rc = ms_blob_link_in(tx, c->from, c->to, e.id, &e.blob);
	if (rc >= 0) {
		c->out.email_id = e.id;
		c->out.thread_id = e.thread_id;
		c->out.modseq = ac->modseq;
		c->out.blob = e.blob;
	}
	return rc;
}

int mailstore_email_copy(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t to,
			 uint64_t *id_out, uint32_t *uid_out, struct core_error *err)
{
	struct ms_clone_ctx c = {
		.from = account, .id = id, .to = account, .mailboxes = &to, .n = 1};
	int rc = ms_tx_run(ms, &account, 1, ms_clone_fn, &c, err);
	if (rc >= 0) {
		if (id_out != NULL)
			*id_out = c.out.email_id;
		if (uid_out != NULL)
			*uid_out = c.out.uids[0];
	}
	return rc < 0 ? rc : 0;
}

static int ms_move_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	int rc = ms_email_open(tx, c->account, c->id, &e);
	if (rc < 0)
		return rc;
	if (ms_member_find(&e, c->from) == NULL)
		return ms_tx_fail(tx, CORE_ENOTFOUND, "RFC 6851 §3.3",
				  "email is not in the source");
	if (c->from == c->to) {
		c->uid = ms_member_find(&e, c->from)->uid;
		return 0;
	}
	/* RFC 6851 §3.3 / ARCHITECTURE.md: the same Email, a new UID in the target; join
	 * first so the email never has zero mailboxes. */
	if ((rc = ms_email_join(tx, ac, &e, c->to, &c->uid)) < 0)
		return rc;
	return ms_email_leave(tx, ac, &e, c->from, NULL);
}

int mailstore_email_move(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t from,
			 uint64_t to, uint32_t *uid_out, struct core_error *err)
{
	struct ms_email_ctx c = {.account = account, .id = id, .from = from, .to = to};
	int rc = ms_tx_run(ms, &account, 1, ms_move_fn, &c, err);
	if (rc >= 0 && uid_out != NULL)
		*uid_out = c.uid;
	return rc;
}

static int ms_set_mb_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	int rc = ms_email_open(tx, c->account, c->id, &e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < c->n; i++)
		if ((rc = ms_email_join(tx, ac, &e, c->mailboxes[i], NULL)) < 0)
			return rc;
	/* Leave every mailbox not in the new set (back to front: leave shifts the array). */
	for (size_t i = e.nmembers; i-- > 0;) {
		bool keep = false;
		for (size_t j = 0; j < c->n && !keep; j++)
			keep = e.members[i].mailbox == c->mailboxes[j];
		if (!keep && (rc = ms_email_leave(tx, ac, &e, e.members[i].mailbox, NULL)) < 0)
			return rc;
	}
	/* Joins alone were not yet written to the email record. */
	if (ac->dirty)
		return ms_email_changed(tx, ac, &e, false, true);
	return 0;
}

int mailstore_email_set_mailboxes(struct mailstore *ms, uint64_t account, uint64_t id,
				  const uint64_t *mailboxes, size_t n, struct core_error *err)
{
	if (n == 0 || mailboxes == NULL)
		return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.1",
				      "an email needs at least one mailbox");
	if (n > MAILSTORE_MAILBOXES_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many mailboxes");
	struct ms_email_ctx c = {.account = account, .id = id, .mailboxes = mailboxes, .n = n};
	return ms_tx_run(ms, &account, 1, ms_set_mb_fn, &c, err);
}

/* ---------------------------------------------------------------------------------- */
/* Keywords, expunge, destroy                                                         */
/* ---------------------------------------------------------------------------------- */

int ms_kw_compute(struct ms_tx *tx, const struct mailstore_email *e, enum mailstore_kw_op op,
		  const char *const *kw, size_t nkw, const char ***out, size_t *n_out,
		  bool *same_out)
{
	const char **nk = core_arena_zalloc(tx->a, (e->nkeywords + nkw + 1) * sizeof(*nk));
	size_t n = 0;
	if (op == MAILSTORE_KW_REPLACE) {
		for (size_t i = 0; i < nkw; i++)
			nk[n++] = kw[i];
	} else {
		for (size_t i = 0; i < e->nkeywords; i++)
			if (op != MAILSTORE_KW_REMOVE || !ms_keywords_has(kw, nkw, e->keywords[i]))
				nk[n++] = e->keywords[i];
		if (op == MAILSTORE_KW_ADD)
			for (size_t i = 0; i < nkw; i++)
				if (!ms_keywords_has(e->keywords, e->nkeywords, kw[i]))
					nk[n++] = kw[i];
	}
	if (n > MAILSTORE_KEYWORDS_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "too many keywords");
	qsort(nk, n, sizeof(*nk), ms_str_cmp);
	bool same = n == e->nkeywords;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(nk[i], e->keywords[i]) == 0;
	*out = nk;
	*n_out = n;
	*same_out = same;
	return 0;
}

int ms_kw_apply(struct ms_tx *tx, uint64_t account, struct mailstore_email *e, const char **nk,
		size_t n, bool *counts_out)
{
	int rc = 0;
	bool was_unread = ms_unread(e), was_unseen = ms_unseen(e), was_draft = ms_draft(e);
	e->keywords = nk;
	e->nkeywords = n;
	bool unread = ms_unread(e), unseen = ms_unseen(e), draft = ms_draft(e);
	bool counts = was_unread != unread || was_unseen != unseen || was_draft != draft;
	*counts_out = counts;
	/* Other users' unread counts follow $draft on the emails they saw. */
	if (was_draft != draft && (rc = ms_seen_draft(tx, account, e, draft)) < 0)
		return rc;
	/* RFC 8621 §2 unreadEmails/unreadThreads and STATUS UNSEEN stay exact in every
	 * mailbox holding it. */
	for (size_t i = 0; counts && i < e->nmembers; i++) {
		struct ms_tx_mbox *mb;
		if ((rc = ms_tx_mbox(tx, account, e->members[i].mailbox, &mb)) < 0)
			return rc;
		if (was_unseen != unseen) {
			if (unseen)
				mb->m.unseen++;
			else
				mb->m.unseen--;
		}
		if (was_draft != draft) {
			if (draft)
				mb->m.drafts++;
			else if (mb->m.drafts > 0)
				mb->m.drafts--;
		}
		if (was_unread != unread) {
			if (unread)
				mb->m.unread++;
			else
				mb->m.unread--;
		}
		int dnd = was_draft == draft ? 0 : draft ? -1 : 1;
		int dunread = was_unread == unread ? 0 : unread ? 1 : -1;
		if (dunread != 0 || dnd != 0) {
			uint64_t nd0, nd1;
			if ((rc = ms_mbthread_adj(tx, mb, e->thread_id, 0, dunread, dnd, &nd0,
						  &nd1)) < 0)
				return rc;
			if (nd0 != nd1 && (rc = ms_seen_thread(tx, account, e->members[i].mailbox,
							       e, false, nd0, nd1, dnd)) < 0)
				return rc;
		}
	}
	return 0;
}

static int ms_kw_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	int rc = ms_email_open(tx, c->account, c->id, &e);
	if (rc < 0)
		return rc;
	c->modseq = e.modseq;
	/* RFC 7162 §3.2: UNCHANGEDSINCE fails for a message whose modseq is greater. */
	if (c->unchanged_since != 0 && e.modseq > c->unchanged_since)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 7162 §3.2",
				  "MODIFIED: changed since the given modseq");
	const char **nk;
	size_t n;
	bool same, counts;
	if ((rc = ms_kw_compute(tx, &e, c->op, c->kw, c->nkw, &nk, &n, &same)) < 0 || same)
		return rc;
	if ((rc = ms_kw_apply(tx, c->account, &e, nk, n, &counts)) < 0)
		return rc;
	rc = ms_email_changed(tx, ac, &e, counts, true);
	c->modseq = e.modseq;
	return rc;
}

int mailstore_email_keywords(struct mailstore *ms, uint64_t account, uint64_t id,
			     enum mailstore_kw_op op, const char *const *kw, size_t n,
			     uint64_t unchanged_since, uint64_t *modseq_out, struct core_error *err)
{
	if ((unsigned)op > MAILSTORE_KW_REPLACE)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad keyword operation");
	struct core_arena *a = core_arena_new(0);
	struct ms_email_ctx c = {
		.account = account, .id = id, .op = op, .unchanged_since = unchanged_since};
	int rc = ms_keywords_norm(a, kw, kw != NULL ? n : 0, &c.kw, &c.nkw, err);
	if (rc >= 0)
		rc = ms_tx_run(ms, &account, 1, ms_kw_fn, &c, err);
	if (rc >= 0 && modseq_out != NULL)
		*modseq_out = c.modseq;
	core_arena_free(&a);
	return rc;
}

static int ms_expunge_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, c->account, c->to, NULL, &mb);
	if (rc < 0)
		return rc;
	struct core_buf v = CORE_BUF_INIT;
	int removed = 0;
	for (size_t i = 0; i < c->n && rc >= 0; i++) {
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_uid_key(k, c->account, c->to, c->uids[i]);
		rc = ms_get(tx, k, kl, &v);
		if (rc == CORE_ENOTFOUND) {
			/* RFC 9051 §6.4.9: UIDs that are gone already are ignored. */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		uint64_t eid = ms_get_u64(&d);
		if (d.bad) {
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt UID index");
			break;
		}
		struct mailstore_email e = {0};
		rc = ms_email_load(tx, c->account, eid, &e, &v);
		if (rc >= 0)
			rc = ms_email_leave(tx, ac, &e, c->to, NULL);
		if (rc >= 0)
			removed++;
	}
	core_buf_fini(&v);
	return rc < 0 ? rc : removed;
}

int mailstore_mailbox_expunge(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			      const uint32_t *uids, size_t n, struct core_error *err)
{
	/* ARCHITECTURE.md §4 / issue 6: a large expunge runs as bounded transactions, each
	 * with its own modseq; UIDs already gone are skipped, so a retry after a failure
	 * resumes where it stopped. */
	int total = 0;
	for (size_t off = 0; off < n; off += MS_EXPUNGE_BATCH) {
		size_t k = n - off < MS_EXPUNGE_BATCH ? n - off : MS_EXPUNGE_BATCH;
		struct ms_email_ctx c = {
			.account = account, .to = mailbox, .uids = uids + off, .n = k};
		int rc = ms_tx_run(ms, &account, 1, ms_expunge_fn, &c, err);
		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}

static int ms_destroy_email_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_email_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct mailstore_email e;
	int rc = ms_email_open(tx, c->account, c->id, &e);
	while (rc >= 0 && e.nmembers > 0) {
		bool gone;
		rc = ms_email_leave(tx, ac, &e, e.members[e.nmembers - 1].mailbox, &gone);
		if (gone)
			break;
	}
	return rc;
}

int mailstore_email_destroy(struct mailstore *ms, uint64_t account, uint64_t id,
			    struct core_error *err)
{
	struct ms_email_ctx c = {.account = account, .id = id};
	return ms_tx_run(ms, &account, 1, ms_destroy_email_fn, &c, err);
}

/* ---------------------------------------------------------------------------------- */
/* Moving a whole mailbox's content                                                   */
/* ---------------------------------------------------------------------------------- */

#define MS_MOVE_BATCH 256u

struct ms_move_all_ctx {
	uint64_t account, from, to;
	uint64_t ids[MS_MOVE_BATCH];
	size_t n;
};

static int ms_move_all_collect(void *arg, const void *key, size_t klen, const void *val,
			       size_t vlen)
{
	(void)key;
	(void)klen;
	struct ms_move_all_ctx *c = arg;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	uint64_t eid = ms_get_u64(&d);
	if (d.bad)
		return CORE_EINTERNAL;
	c->ids[c->n++] = eid;
	return 0;
}

static int ms_move_all_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_move_all_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	c->n = 0;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->account, MS_F_UID, c->from);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	r.limit = MS_MOVE_BATCH;
	int rc = store_txn_scan(tx->t, &r, ms_move_all_collect, c, tx->err);
	struct core_buf v = CORE_BUF_INIT;
	for (size_t i = 0; i < c->n && rc >= 0; i++) {
		struct mailstore_email e = {0};
		rc = ms_email_load(tx, c->account, c->ids[i], &e, &v);
		if (rc >= 0)
			rc = ms_email_join(tx, ac, &e, c->to, NULL);
		if (rc >= 0)
			rc = ms_email_leave(tx, ac, &e, c->from, NULL);
	}
	core_buf_fini(&v);
	return rc < 0 ? rc : (int)c->n;
}

int ms_mailbox_move_all(struct mailstore *ms, uint64_t account, uint64_t from, uint64_t to,
			struct core_error *err)
{
	struct ms_move_all_ctx *c = core_xcalloc(1, sizeof(*c));
	c->account = account;
	c->from = from;
	c->to = to;
	int total = 0, rc;
	do {
		rc = ms_tx_run(ms, &account, 1, ms_move_all_fn, c, err);
		if (rc > 0)
			total += rc;
	} while (rc == (int)MS_MOVE_BATCH);
	free(c);
	return rc < 0 ? rc : total;
}

/* ---------------------------------------------------------------------------------- */
/* Copy to another account                                                            */
/* ---------------------------------------------------------------------------------- */

int mailstore_email_copy_account(struct mailstore *ms, uint64_t from, uint64_t id, uint64_t to,
				 const uint64_t *mailboxes, size_t nmailboxes,
				 const char *const *keywords, size_t nkeywords, int64_t received_at,
				 struct mailstore_delivered *out, struct core_error *err)
{
	core_error_clear(err);
	if (from == 0 || to == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "account id 0");
	if (nmailboxes == 0 || mailboxes == NULL)
		return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.1",
				      "an email needs at least one mailbox");
	if (nmailboxes > MAILSTORE_MAILBOXES_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many mailboxes");
	struct core_arena *a = core_arena_new(0);
	struct ms_clone_ctx c = {.from = from,
				 .id = id,
				 .to = to,
				 .mailboxes = mailboxes,
				 .n = nmailboxes,
				 .received_at = received_at};
	int rc = 0;
	if (keywords != NULL)
		rc = ms_keywords_norm(a, keywords, nkeywords, &c.kw, &c.nkw, err);
	/* Both accounts in one transaction: the source cannot go in between, and the
	 * target's counter, quota and UIDs advance atomically. */
	uint64_t accts[2] = {from, to};
	if (rc >= 0)
		rc = ms_tx_run(ms, accts, 2, ms_clone_fn, &c, err);
	if (rc >= 0 && out != NULL)
		*out = c.out;
	core_arena_free(&a);
	return rc < 0 ? rc : 0;
}
