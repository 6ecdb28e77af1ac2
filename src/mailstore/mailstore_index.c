/*
 * mailstore_index.c: full-text indexing of emails (issue 6: queued durably at delivery and
 * done in the background). The queue entry is written in the transaction that creates or
 * destroys the email (ms_fts_enqueue), so a crash never loses one; mailstore_index_run()
 * indexes the email's words into the full-text store and only then removes the entry, under a
 * compare-and-set on it, so an entry that changed meanwhile (the email was destroyed) stays
 * for the next run. Also the word splitter and the text extraction that query checks share
 * with the index (docs/mailstore.md §Text matching).
 */
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mailstore/mailstore_int.h"
#include "mailstore/mailstore_query.h"

/* Bytes of one term kept in the index (longer words are cut; the check on decoded text
 * compares whole words). */
#define MS_TERM_MAX 64u
/* Text of one field the index takes; an email with more is marked "always scan". */
#define MS_INDEX_TEXT_MAX (1024u * 1024u)
/* Terms of one email the index takes (same rule). */
#define MS_INDEX_TERMS_MAX 100000u

void mailstore_set_fts(struct mailstore *ms, struct store_fts *fts)
{
	ms->fts = fts;
}

size_t ms_ftq_key(uint8_t *k, const char *prefix, uint64_t account, uint64_t email)
{
	k[0] = (uint8_t)prefix[0];
	k[1] = (uint8_t)prefix[1];
	ms_be64(k + 2, account);
	ms_be64(k + 10, email);
	return 18;
}

int ms_fts_enqueue(struct ms_tx *tx, uint64_t account, uint64_t email, bool destroyed)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_ftq_key(k, MS_FTQ_QUEUE, account, email);
	uint8_t op = destroyed ? MS_FTQ_OP_DELETE : MS_FTQ_OP_INDEX;
	/* One byte: never a chunked value. */
	return ms_put_nochunks(tx, k, kl, &op, 1);
}

/* ---------------------------------------------------------------------------------- */
/* Words                                                                              */
/* ---------------------------------------------------------------------------------- */

static bool ms_word_byte(unsigned char c)
{
	return c >= 0x80 || core_ascii_isalpha(c) || core_ascii_isdigit(c);
}

int ms_words(const char *p, size_t n, ms_word_fn fn, void *arg)
{
	struct core_buf fold = CORE_BUF_INIT;
	uint32_t pos = 0;
	int rc = 0;
	size_t i = 0;
	while (i < n && rc == 0) {
		while (i < n && !ms_word_byte((unsigned char)p[i]))
			i++;
		size_t s = i;
		bool ascii = true;
		while (i < n && ms_word_byte((unsigned char)p[i])) {
			if ((unsigned char)p[i] >= 0x80)
				ascii = false;
			i++;
		}
		if (i == s)
			break;
		core_buf_reset(&fold);
		struct core_error e;
		/* Unicode full case folding then NFC for valid UTF-8; ASCII case otherwise. */
		if (ascii || core_utf8_casefold(p + s, i - s, CORE_UTF8_NFC, &fold, &e) < 0) {
			core_buf_reset(&fold);
			for (size_t j = s; j < i; j++)
				core_buf_putc(&fold, core_ascii_lower(p[j]));
		}
		rc = fn(arg, fold.p, fold.len, pos);
		if (pos < UINT32_MAX)
			pos++;
	}
	core_buf_fini(&fold);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Searchable text                                                                    */
/* ---------------------------------------------------------------------------------- */

void ms_texts_fini(struct ms_texts *t)
{
	for (size_t i = 0; i < 6; i++)
		core_buf_fini(&t->f[i]);
	t->loaded = 0;
}

static void ms_addrs_text(const struct mailstore_addr *v, size_t n, struct core_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			core_buf_append_str(out, ", ");
		if (v[i].name != NULL) {
			core_buf_append_str(out, v[i].name);
			core_buf_putc(out, ' ');
		}
		if (v[i].email != NULL) {
			core_buf_putc(out, '<');
			core_buf_append_str(out, v[i].email);
			core_buf_putc(out, '>');
		}
	}
}

static int ms_collect_blob(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

/* RFC 8621 §4.4.1 body: the text of every text leaf part (any subtype), transfer- and
 * charset-decoded, HTML turned into text (markup is not searched). */
static void ms_body_text(const struct mail_message *m, struct core_buf *out)
{
	struct core_buf t = CORE_BUF_INIT;
	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		if (p->nchildren > 0 || mail_part_is_multipart(p) || mail_part_is_message(p) ||
		    !core_str_eq_cstr(p->ct.type, "text"))
			continue;
		core_buf_reset(&t);
		(void)mail_part_decode_text(m, p, &t, NULL);
		if (out->len > 0)
			core_buf_putc(out, '\n');
		if (core_str_eq_cstr(p->ct.subtype, "html"))
			mail_jmap_html_to_text(t.p != NULL ? t.p : "", t.len, out);
		else
			core_buf_append(out, t.p, t.len);
	}
	core_buf_fini(&t);
}

int ms_texts_load(struct mailstore *ms, uint64_t account, const struct mailstore_email *e,
		  const struct mailstore_parsed *p, unsigned mask, struct ms_texts *t,
		  struct core_error *err)
{
	unsigned want = mask & ~t->loaded;
	if (want & (1u << MAILSTORE_TEXT_FROM))
		ms_addrs_text(p->from, p->nfrom, &t->f[MAILSTORE_TEXT_FROM]);
	if (want & (1u << MAILSTORE_TEXT_TO))
		ms_addrs_text(p->to, p->nto, &t->f[MAILSTORE_TEXT_TO]);
	if (want & (1u << MAILSTORE_TEXT_CC))
		ms_addrs_text(p->cc, p->ncc, &t->f[MAILSTORE_TEXT_CC]);
	if (want & (1u << MAILSTORE_TEXT_BCC))
		ms_addrs_text(p->bcc, p->nbcc, &t->f[MAILSTORE_TEXT_BCC]);
	if ((want & (1u << MAILSTORE_TEXT_SUBJECT)) && p->subject != NULL)
		core_buf_append_str(&t->f[MAILSTORE_TEXT_SUBJECT], p->subject);
	t->loaded |= want & ~(1u << MAILSTORE_TEXT_BODY);
	if (!(want & (1u << MAILSTORE_TEXT_BODY)))
		return 0;
	struct core_buf raw = CORE_BUF_INIT;
	int rc = store_blob_read(ms->b, account, &e->blob, 0, UINT64_MAX, ms_collect_blob, &raw,
				 err);
	if (rc >= 0) {
		struct core_arena *a = core_arena_new(0);
		struct mail_message *m = NULL;
		rc = mail_message_parse(a, raw.p != NULL ? raw.p : "", raw.len, NULL, &m, err);
		if (rc >= 0) {
			ms_body_text(m, &t->f[MAILSTORE_TEXT_BODY]);
			t->loaded |= 1u << MAILSTORE_TEXT_BODY;
		}
		core_arena_free(&a);
	}
	core_buf_fini(&raw);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Indexing                                                                           */
/* ---------------------------------------------------------------------------------- */

struct ms_terms {
	struct store_fts_term *v;
	size_t n, cap;
	struct core_arena *a;
	uint8_t field;
	bool truncated;
};

static int ms_terms_add(void *arg, const char *w, size_t n, uint32_t pos)
{
	struct ms_terms *t = arg;
	if (t->n >= MS_INDEX_TERMS_MAX) {
		t->truncated = true;
		return 1;
	}
	if (n > MS_TERM_MAX)
		n = MS_TERM_MAX;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = core_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = (struct store_fts_term){
		.field = t->field, .term = core_arena_strndup(t->a, w, n), .len = n, .pos = pos};
	return 0;
}

/* Index one email; *truncated_out when its text exceeded what the index takes. */
static int ms_index_email(struct mailstore *ms, uint64_t account, uint64_t id, bool *truncated_out,
			  struct core_error *err)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_email e;
	struct mailstore_parsed p;
	int rc = mailstore_email_get(ms, account, id, a, &e, err);
	if (rc >= 0)
		rc = mailstore_email_parsed(ms, account, id, a, &p, err);
	struct ms_texts tx = {0};
	for (size_t i = 0; i < 6; i++)
		core_buf_init(&tx.f[i]);
	if (rc >= 0)
		rc = ms_texts_load(ms, account, &e, &p, 0x3fu, &tx, err);
	struct ms_terms t = {.a = a};
	for (uint8_t f = 0; rc >= 0 && f < 6 && !t.truncated; f++) {
		size_t len = tx.f[f].len;
		if (len > MS_INDEX_TEXT_MAX) {
			len = MS_INDEX_TEXT_MAX;
			t.truncated = true;
		}
		t.field = f;
		rc = ms_words(tx.f[f].p != NULL ? tx.f[f].p : "", len, ms_terms_add, &t);
	}
	if (rc >= 0)
		rc = store_fts_index(ms->fts, account, id, t.v, t.n, err);
	*truncated_out = t.truncated;
	free(t.v);
	ms_texts_fini(&tx);
	core_arena_free(&a);
	return rc;
}

struct ms_ftq_entry {
	uint64_t account, email;
	uint8_t op;
};

struct ms_ftq_list {
	struct ms_ftq_entry *v;
	size_t n, cap;
};

static int ms_ftq_collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_ftq_list *l = arg;
	const uint8_t *k = key;
	if (klen != 18 || vlen != 1)
		return 0; /* not ours: skipped (the prefix is exact, so this is corruption) */
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = core_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] =
		(struct ms_ftq_entry){ms_rd_be64(k + 2), ms_rd_be64(k + 10), *(const uint8_t *)val};
	return 0;
}

/* Remove a done entry if it still holds the op we worked on; a changed entry stays. */
static int ms_ftq_done(struct mailstore *ms, const struct ms_ftq_entry *q, bool scan_mark,
		       struct core_error *err)
{
	uint8_t k[STORE_KEY_MAX], xk[STORE_KEY_MAX];
	size_t kl = ms_ftq_key(k, MS_FTQ_QUEUE, q->account, q->email);
	size_t xkl = ms_ftq_key(xk, MS_FTQ_SCAN, q->account, q->email);
	struct store_txn *t = NULL;
	int rc = store_txn_begin(ms->d, STORE_TXN_WRITE, &t, err);
	if (rc >= 0)
		rc = store_txn_assert(t, k, kl, &q->op, 1, err);
	if (rc >= 0)
		rc = store_txn_delete(t, k, kl, err);
	if (rc >= 0)
		rc = scan_mark ? store_txn_put(t, xk, xkl, "", 0, err)
			       : store_txn_delete(t, xk, xkl, err);
	if (rc >= 0)
		return store_txn_commit(&t, err);
	store_txn_abort(&t);
	return rc;
}

int mailstore_index_run(struct mailstore *ms, size_t budget, struct core_error *err)
{
	if (ms->fts == NULL)
		return core_error_set(err, CORE_EPERM, NULL, "no full-text store");
	if (budget == 0)
		return 0;
	struct ms_ftq_list l = {0};
	struct store_txn *t = NULL;
	uint8_t pre[2] = {(uint8_t)MS_FTQ_QUEUE[0], (uint8_t)MS_FTQ_QUEUE[1]};
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, pre, 2, hi);
	r.limit = budget;
	int rc = store_txn_begin(ms->d, STORE_TXN_READ, &t, err);
	if (rc >= 0)
		rc = store_txn_scan(t, &r, ms_ftq_collect, &l, err);
	store_txn_abort(&t);
	int done = 0;
	for (size_t i = 0; rc >= 0 && i < l.n; i++) {
		const struct ms_ftq_entry *q = &l.v[i];
		bool big = false;
		if (q->op == MS_FTQ_OP_INDEX) {
			rc = ms_index_email(ms, q->account, q->email, &big, err);
			if (rc == CORE_ENOTFOUND) {
				/* Destroyed before it was indexed (or its account is gone):
				 * nothing may stay indexed for it. */
				core_error_clear(err);
				rc = store_fts_delete(ms->fts, q->account, q->email, err);
			} else if (rc < 0 && rc != CORE_ETEMP && rc != CORE_EIO &&
				   rc != CORE_ECONFLICT) {
				/* An email the index cannot take (too large for one transaction,
				 * a record that does not decode) must not block the queue: it is
				 * marked to be scanned by every text condition instead. */
				core_logf(CORE_LOG_WARN, "mailstore.fts_skip",
					  "account %llu email %llu not indexed: %s",
					  (unsigned long long)q->account,
					  (unsigned long long)q->email, err->msg);
				core_error_clear(err);
				(void)store_fts_delete(ms->fts, q->account, q->email, err);
				core_error_clear(err);
				big = true;
				rc = 0;
			}
		} else {
			rc = store_fts_delete(ms->fts, q->account, q->email, err);
		}
		if (rc >= 0) {
			rc = ms_ftq_done(ms, q, big, err);
			if (rc == CORE_ECONFLICT) {
				/* Changed meanwhile: the next run takes the new op. */
				core_error_clear(err);
				rc = 0;
				continue;
			}
		}
		if (rc >= 0)
			done++;
	}
	free(l.v);
	return rc < 0 ? rc : done;
}

static int ms_count_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(*(size_t *)arg)++;
	return 0;
}

int mailstore_index_pending(struct mailstore *ms, uint64_t account, size_t *n_out,
			    struct core_error *err)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_ftq_key(pre, MS_FTQ_QUEUE, account, 0) - 8;
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	struct store_txn *t = NULL;
	*n_out = 0;
	int rc = store_txn_begin(ms->d, STORE_TXN_READ, &t, err);
	if (rc >= 0)
		rc = store_txn_scan(t, &r, ms_count_cb, n_out, err);
	store_txn_abort(&t);
	return rc < 0 ? rc : 0;
}
