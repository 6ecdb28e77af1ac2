/*
 * mailstore_thread.c: JMAP threads (RFC 8621 §3). Two emails share a thread when a message
 * id appears in the Message-ID, In-Reply-To or References of both and their base subjects
 * (RFC 5256 §2.1 rules) are the same, the algorithm RFC 8621 §3 suggests. A thread id, once
 * given, never changes: when the ids of a new email point to several threads, it joins the
 * oldest and the threads stay apart (RFC 8621 §3: threads never merge).
 *
 * Keys: 'I' + 16-byte digest of a message id -> up to MS_MSGID_SLOTS (thread, subject digest)
 * pairs; 'T' + thread -> the thread's email ids in arrival order.
 */
#include <string.h>

#include "mailstore/mailstore_int.h"

#define MS_MSGID_SLOTS 8u
/* Message ids of one email used for threading: its own, In-Reply-To and the last
 * References (the closest ancestors). */
#define MS_THREAD_IDS 34u

static uint64_t ms_fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static bool ms_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 5256 §5 subj-blob: "[" *BLOBCHAR "]" *WSP; returns its length at p, or 0. */
static size_t ms_blob_len(const char *p, size_t n)
{
	if (n == 0 || p[0] != '[')
		return 0;
	size_t i = 1;
	while (i < n && p[i] != ']' && p[i] != '[')
		i++;
	if (i >= n || p[i] != ']')
		return 0;
	i++;
	while (i < n && ms_wsp(p[i]))
		i++;
	return i;
}

/* RFC 5256 §5 subj-refwd: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" ; after any blobs. */
static size_t ms_leader_len(const char *p, size_t n)
{
	size_t i = 0;
	for (size_t b; (b = ms_blob_len(p + i, n - i)) > 0;)
		i += b;
	size_t w = 0;
	if (n - i >= 2 && core_strncasecmp_ascii(p + i, "re", 2) == 0)
		w = 2;
	else if (n - i >= 3 && core_strncasecmp_ascii(p + i, "fwd", 3) == 0)
		w = 3;
	else if (n - i >= 2 && core_strncasecmp_ascii(p + i, "fw", 2) == 0)
		w = 2;
	if (w == 0)
		return 0;
	i += w;
	while (i < n && ms_wsp(p[i]))
		i++;
	i += ms_blob_len(p + i, n - i);
	if (i >= n || p[i] != ':')
		return 0;
	i++;
	while (i < n && ms_wsp(p[i]))
		i++;
	return i;
}

void mailstore_subject_base(const char *subject, size_t len, struct core_buf *out)
{
	/* RFC 5256 §2.1 (1): white space runs become one space, ends trimmed. */
	struct core_buf b = CORE_BUF_INIT;
	bool sp = false;
	for (size_t i = 0; i < len; i++) {
		if (ms_wsp(subject[i])) {
			sp = b.len > 0;
			continue;
		}
		if (sp)
			core_buf_putc(&b, ' ');
		sp = false;
		core_buf_putc(&b, subject[i]);
	}
	const char *p = b.p != NULL ? b.p : "";
	size_t n = b.len;
	for (bool again = true; again;) {
		again = false;
		/* (2) trailing "(fwd)" and white space. */
		for (bool t = true; t;) {
			t = false;
			while (n > 0 && ms_wsp(p[n - 1]))
				n--;
			if (n >= 5 && core_strncasecmp_ascii(p + n - 5, "(fwd)", 5) == 0) {
				n -= 5;
				t = true;
			}
		}
		/* (3)-(4) leading subj-leader, then a leading blob if text remains. */
		for (size_t l; (l = ms_leader_len(p, n)) > 0;) {
			p += l;
			n -= l;
			again = true;
		}
		size_t bl = ms_blob_len(p, n);
		if (bl > 0 && bl < n) {
			p += bl;
			n -= bl;
			again = true;
		}
		/* (5) "[fwd:" ... "]" wrapper. */
		if (n >= 6 && core_strncasecmp_ascii(p, "[fwd:", 5) == 0 && p[n - 1] == ']') {
			p += 5;
			n -= 6;
			while (n > 0 && ms_wsp(p[0])) {
				p++;
				n--;
			}
			again = true;
		}
	}
	/* Comparison ignores case (canonical caseless match); bytes that are not UTF-8 are
	 * compared as they are. */
	struct core_error e;
	if (core_utf8_casefold(p, n, CORE_UTF8_NFC, out, &e) < 0)
		core_buf_append(out, p, n);
	core_buf_fini(&b);
}

static uint64_t ms_subject_digest(const char *subject)
{
	struct core_buf b = CORE_BUF_INIT;
	if (subject != NULL)
		mailstore_subject_base(subject, strlen(subject), &b);
	uint64_t h = ms_fnv1a(b.p != NULL ? b.p : "", b.len, 0xcbf29ce484222325ull);
	core_buf_fini(&b);
	return h;
}

static size_t ms_msgid_key(uint8_t *k, uint64_t account, const char *id)
{
	size_t kl = ms_key(k, account, MS_F_MSGID);
	size_t n = strlen(id);
	/* Two independent 64-bit digests: ids are too long for keys (RFC 5322 allows 998
	 * octets), and a collision would also need equal base subjects to join threads. */
	ms_be64(k + kl, ms_fnv1a(id, n, 0xcbf29ce484222325ull));
	ms_be64(k + kl + 8, ms_fnv1a(id, n, 0x84222325cbf29ce4ull ^ n));
	return kl + 16;
}

struct ms_slot {
	uint64_t thread, subject;
};

static int ms_slots_read(struct ms_tx *tx, const uint8_t *k, size_t kl, struct ms_slot *s,
			 size_t *n_out)
{
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	*n_out = 0;
	if (rc == CORE_ENOTFOUND) {
		core_buf_fini(&v);
		return 0;
	}
	if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		(void)ms_get_u64(&d);
		uint64_t n = ms_get_u64(&d);
		for (uint64_t i = 0; i < n && i < MS_MSGID_SLOTS && !d.bad; i++) {
			s[i].thread = ms_get_u64(&d);
			s[i].subject = ms_get_u64(&d);
			*n_out = (size_t)i + 1;
		}
		if (d.bad)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt thread index");
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_thread_read(struct ms_tx *tx, uint64_t account, uint64_t thread, struct core_arena *a,
			  uint64_t **ids, size_t *n_out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_THREAD, thread);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		(void)ms_get_u64(&d);
		uint64_t n = ms_get_u64(&d);
		if (d.bad || n > v.len) {
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt thread");
		} else {
			*ids = core_arena_alloc(a, (size_t)(n + 1) * sizeof(uint64_t));
			for (uint64_t i = 0; i < n; i++)
				(*ids)[i] = ms_get_u64(&d);
			*n_out = (size_t)n;
			if (d.bad)
				rc = core_error_set(tx->err, CORE_EINTERNAL, NULL,
						    "corrupt thread");
		}
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_thread_write(struct ms_tx *tx, uint64_t account, uint64_t thread, const uint64_t *ids,
			   size_t n)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, account, MS_F_THREAD, thread);
	if (n == 0)
		return ms_del(tx, k, kl);
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, MS_V_THREAD);
	ms_put_u64(&v, n);
	for (size_t i = 0; i < n; i++)
		ms_put_u64(&v, ids[i]);
	int rc = ms_put(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

int ms_thread_add(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t thread, uint64_t email_id)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	int rc = ms_thread_read(tx, ac->account, thread, tx->a, &ids, &n);
	if (rc == CORE_ENOTFOUND) {
		ids = core_arena_alloc(tx->a, sizeof(uint64_t));
		n = 0;
		ms_tx_log(tx, ac, MAILSTORE_T_THREAD, MS_OP_CREATED, thread);
	} else if (rc < 0) {
		return rc;
	} else {
		ms_tx_log(tx, ac, MAILSTORE_T_THREAD, MS_OP_UPDATED, thread);
	}
	ids[n++] = email_id;
	return ms_thread_write(tx, ac->account, thread, ids, n);
}

int ms_thread_remove(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t thread, uint64_t email_id)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	int rc = ms_thread_read(tx, ac->account, thread, tx->a, &ids, &n);
	if (rc == CORE_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (ids[i] != email_id)
			ids[m++] = ids[i];
	ms_tx_log(tx, ac, MAILSTORE_T_THREAD, m == 0 ? MS_OP_DESTROYED : MS_OP_UPDATED, thread);
	return ms_thread_write(tx, ac->account, thread, ids, m);
}

int ms_thread_assign(struct ms_tx *tx, struct ms_tx_acct *ac, const struct mailstore_parsed *p,
		     uint64_t email_id, uint64_t *thread_out)
{
	const char *ids[MS_THREAD_IDS];
	size_t nids = 0;
	for (size_t i = 0; i < p->nmessage_ids && nids < MS_THREAD_IDS; i++)
		ids[nids++] = p->message_ids[i];
	for (size_t i = 0; i < p->nin_reply_to && nids < MS_THREAD_IDS; i++)
		ids[nids++] = p->in_reply_to[i];
	size_t from = p->nreferences > 32 ? p->nreferences - 32 : 0;
	for (size_t i = from; i < p->nreferences && nids < MS_THREAD_IDS; i++)
		ids[nids++] = p->references[i];
	uint64_t subj = ms_subject_digest(p->subject);
	uint64_t best = 0;
	int rc;
	for (size_t i = 0; i < nids; i++) {
		if (ids[i][0] == '\0')
			continue;
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_msgid_key(k, ac->account, ids[i]);
		struct ms_slot s[MS_MSGID_SLOTS];
		size_t ns;
		if ((rc = ms_slots_read(tx, k, kl, s, &ns)) < 0)
			return rc;
		for (size_t j = 0; j < ns; j++) {
			if (s[j].subject != subj || (best != 0 && s[j].thread >= best))
				continue;
			/* The thread may have gone with its last email. */
			uint8_t tk[STORE_KEY_MAX];
			size_t tkl = ms_key_id(tk, ac->account, MS_F_THREAD, s[j].thread);
			struct core_buf v = CORE_BUF_INIT;
			rc = ms_get(tx, tk, tkl, &v);
			core_buf_fini(&v);
			if (rc >= 0)
				best = s[j].thread;
			else if (rc != CORE_ENOTFOUND)
				return rc;
		}
	}
	if (best == 0 &&
	    (rc = store_txn_id_next(tx->t, ac->account, MS_COLL_THREAD, &best, tx->err)) < 0)
		return rc;
	/* Index this email's ids under the thread it joined. */
	for (size_t i = 0; i < nids; i++) {
		if (ids[i][0] == '\0')
			continue;
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_msgid_key(k, ac->account, ids[i]);
		struct ms_slot s[MS_MSGID_SLOTS + 1];
		size_t ns;
		if ((rc = ms_slots_read(tx, k, kl, s, &ns)) < 0)
			return rc;
		bool have = false;
		for (size_t j = 0; j < ns && !have; j++)
			have = s[j].thread == best && s[j].subject == subj;
		if (have)
			continue;
		if (ns == MS_MSGID_SLOTS) {
			memmove(&s[0], &s[1], (ns - 1) * sizeof(s[0]));
			ns--;
		}
		s[ns++] = (struct ms_slot){best, subj};
		struct core_buf v = CORE_BUF_INIT;
		ms_put_u64(&v, MS_V_MSGID);
		ms_put_u64(&v, ns);
		for (size_t j = 0; j < ns; j++) {
			ms_put_u64(&v, s[j].thread);
			ms_put_u64(&v, s[j].subject);
		}
		rc = ms_put(tx, k, kl, v.p, v.len);
		core_buf_fini(&v);
		if (rc < 0)
			return rc;
	}
	*thread_out = best;
	return ms_thread_add(tx, ac, best, email_id);
}

struct ms_thread_ctx {
	uint64_t account, thread;
	struct core_arena *a;
	uint64_t *ids;
	size_t n;
};

static int ms_thread_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_thread_ctx *c = ctx;
	int rc = ms_thread_read(tx, c->account, c->thread, c->a, &c->ids, &c->n);
	if (rc == CORE_ENOTFOUND)
		return core_error_set(tx->err, rc, NULL, "no such thread");
	return rc;
}

int mailstore_thread_get(struct mailstore *ms, uint64_t account, uint64_t thread_id,
			 struct core_arena *a, uint64_t **ids_out, size_t *n_out,
			 struct core_error *err)
{
	struct ms_thread_ctx c = {account, thread_id, a, NULL, 0};
	int rc = ms_tx_read(ms, c.account, ms_thread_get_fn, &c, err);
	if (rc >= 0) {
		*ids_out = c.ids;
		*n_out = c.n;
	}
	return rc;
}
