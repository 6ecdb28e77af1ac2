/*
 * mailstore_query.c: Email/query (RFC 8621 §4.4, RFC 8620 §5.5): filters, operators, sorts,
 * thread collapsing, position/anchor/limit; the receivedAt index per mailbox (MS_F_DATE)
 * that the common query walks; text conditions through the full-text store as a prefilter
 * with the rule checked on decoded text; the IMAP SEARCH substring helpers (RFC 9051
 * §6.4.4). docs/mailstore.md §Query, indexes and full text.
 *
 * A query runs in two steps: one read transaction loads the candidates' stored records
 * (email, parsed fields, thread keywords) and the account's queue of emails not yet indexed;
 * then, outside it (blob reads may be slow), the filter is evaluated, text conditions read
 * decoded text only for candidates the index could not rule out, and the result is sorted
 * and paged.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mailstore/mailstore_int.h"
#include "mailstore/mailstore_query.h"

#define MS_Q_BATCH 512u         /* keys per multi-get */
#define MS_Q_PARSED_BATCH 8192u /* parsed records per read transaction */
#define MS_Q_THREAD_KW_MAX 32u  /* distinct keywords of thread conditions and sorts */
#define MS_Q_TEXT_FIELDS 7u     /* text, from, to, cc, bcc, subject, body */

/* ---------------------------------------------------------------------------------- */
/* The receivedAt index                                                               */
/* ---------------------------------------------------------------------------------- */

static size_t ms_date_key(uint8_t *k, uint64_t account, uint64_t mailbox, int64_t received_at,
			  uint64_t email)
{
	size_t kl = ms_key_id(k, account, MS_F_DATE, mailbox);
	/* Two's complement with the sign bit flipped sorts bytewise like the signed value. */
	ms_be64(k + kl, (uint64_t)received_at ^ (1ull << 63));
	ms_be64(k + kl + 8, email);
	return kl + 16;
}

int ms_qindex_add(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		  const struct mailstore_email *e)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_date_key(k, account, mailbox, e->received_at, e->id);
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, e->thread_id);
	/* A thread id: never a chunked value. */
	int rc = ms_put_nochunks(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

int ms_qindex_del(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		  const struct mailstore_email *e)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_date_key(k, account, mailbox, e->received_at, e->id);
	return ms_del(tx, k, kl);
}

/* ---------------------------------------------------------------------------------- */
/* Names                                                                              */
/* ---------------------------------------------------------------------------------- */

int mailstore_collation_parse(const char *name, enum mailstore_collation *out)
{
	if (name == NULL || strcmp(name, "i;ascii-casemap") == 0)
		*out = MAILSTORE_COLL_ASCII_CASEMAP;
	else if (strcmp(name, "i;unicode-casemap") == 0)
		*out = MAILSTORE_COLL_UNICODE_CASEMAP;
	else if (strcmp(name, "i;octet") == 0)
		*out = MAILSTORE_COLL_OCTET;
	else
		return CORE_ENOTFOUND;
	return 0;
}

static const char *const ms_sort_names[] = {
	"receivedAt",
	"sentAt",
	"size",
	"from",
	"to",
	"subject",
	"hasKeyword",
	"allInThreadHaveKeyword",
	"someInThreadHaveKeyword",
};

int mailstore_sort_prop_parse(const char *name, enum mailstore_sort_prop *out)
{
	for (size_t i = 0; name != NULL && i < sizeof(ms_sort_names) / sizeof(*ms_sort_names); i++)
		if (strcmp(name, ms_sort_names[i]) == 0) {
			*out = (enum mailstore_sort_prop)i;
			return 0;
		}
	return CORE_ENOTFOUND;
}

/* ---------------------------------------------------------------------------------- */
/* Text matching                                                                      */
/* ---------------------------------------------------------------------------------- */

/* Fold for the substring rule: Unicode full case folding + NFC, ASCII case otherwise. */
static void ms_fold(const char *p, size_t n, struct core_buf *out)
{
	struct core_error e;
	core_buf_reset(out);
	if (core_utf8_is_ascii(p, n) || core_utf8_casefold(p, n, CORE_UTF8_NFC, out, &e) < 0) {
		core_buf_reset(out);
		for (size_t i = 0; i < n; i++)
			core_buf_putc(out, core_ascii_lower(p[i]));
	}
}

static bool ms_mem_contains(const char *h, size_t hn, const char *n, size_t nn)
{
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++)
		if (h[i] == n[0] && memcmp(h + i, n, nn) == 0)
			return true;
	return false;
}

bool mailstore_text_contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	/* RFC 9051 §6.4.4: "a substring ... case-insensitive". */
	if (nlen == 0)
		return true;
	struct core_buf h = CORE_BUF_INIT, n = CORE_BUF_INIT;
	ms_fold(hay != NULL ? hay : "", hlen, &h);
	ms_fold(needle, nlen, &n);
	bool r = ms_mem_contains(h.p != NULL ? h.p : "", h.len, n.p, n.len);
	core_buf_fini(&h);
	core_buf_fini(&n);
	return r;
}

static int ms_header_match(struct mailstore *ms, uint64_t account, const struct mailstore_email *e,
			   const struct mailstore_parsed *p, const char *name, const char *value,
			   bool *out, struct core_error *err);

/* Load an email's records for the IMAP helpers. */
static int ms_text_email(struct mailstore *ms, uint64_t account, uint64_t id, struct core_arena *a,
			 struct mailstore_email *e, struct mailstore_parsed *p,
			 struct core_error *err)
{
	bool found = false;
	int rc = mailstore_email_fetch(ms, account, &id, 1, a, e, p, &found, err);
	if (rc >= 0 && !found)
		rc = core_error_set(err, CORE_ENOTFOUND, NULL, "no such email");
	return rc;
}

int mailstore_email_text_contains(struct mailstore *ms, uint64_t account, uint64_t id,
				  enum mailstore_text_field field, const char *needle,
				  bool *match_out, struct core_error *err)
{
	*match_out = false;
	if ((unsigned)field >= MAILSTORE_TEXT_COUNT || needle == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad text search");
	struct core_arena *a = core_arena_new(0);
	struct mailstore_email e;
	struct mailstore_parsed p;
	int rc = ms_text_email(ms, account, id, a, &e, &p, err);
	struct ms_texts t = {0};
	unsigned mask = field == MAILSTORE_TEXT_ALL    ? 0x3fu
			: field == MAILSTORE_TEXT_IMAP ? 1u << MAILSTORE_TEXT_BODY
						       : 1u << field;
	bool m = false;
	/* RFC 9051 §6.4.4 TEXT: the header as well as the body. */
	if (rc >= 0 && field == MAILSTORE_TEXT_IMAP)
		rc = ms_header_match(ms, account, &e, &p, NULL, needle, &m, err);
	if (rc >= 0 && !m)
		rc = ms_texts_load(ms, account, &e, &p, mask, &t, err);
	for (unsigned f = 0; rc >= 0 && f < 6 && !m; f++)
		if (mask & (1u << f))
			m = mailstore_text_contains(t.f[f].p, t.f[f].len, needle, strlen(needle));
	*match_out = rc >= 0 && m;
	ms_texts_fini(&t);
	core_arena_free(&a);
	return rc < 0 ? rc : 0;
}

int mailstore_email_header_contains(struct mailstore *ms, uint64_t account, uint64_t id,
				    const char *name, const char *needle, bool *match_out,
				    struct core_error *err)
{
	*match_out = false;
	if (name == NULL || name[0] == '\0' || needle == NULL)
		return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §6.4.4",
				      "HEADER needs a field name and a string");
	struct core_arena *a = core_arena_new(0);
	struct mailstore_email e;
	struct mailstore_parsed p;
	int rc = ms_text_email(ms, account, id, a, &e, &p, err);
	if (rc >= 0)
		rc = ms_header_match(ms, account, &e, &p, name, needle, match_out, err);
	core_arena_free(&a);
	return rc;
}

/* A JMAP text value compiled into items: each a word or a phrase of consecutive words
 * (RFC 8621 §4.4.1: quoted text is a phrase, white space separates tokens that must all be
 * present). */
struct ms_q_item {
	struct core_str *w;
	size_t n;
};

struct ms_q_text {
	bool set;
	unsigned field; /* enum mailstore_text_field */
	struct ms_q_item *items;
	size_t nitems;
	/* Prefilter: documents of the full-text store that may match (NULL: none ran). */
	uint64_t *docs;
	size_t ndocs;
	bool prefiltered;
};

struct ms_words_ctx {
	struct core_arena *a;
	struct core_str *v;
	size_t n, cap;
};

static int ms_words_collect(void *arg, const char *w, size_t n, uint32_t pos)
{
	(void)pos;
	struct ms_words_ctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct core_str *v = core_arena_alloc(c->a, cap * sizeof(*v));
		if (c->n > 0)
			memcpy(v, c->v, c->n * sizeof(*v));
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = core_str_make(core_arena_strndup(c->a, w, n), n);
	return 0;
}

static void ms_q_item_add(struct core_arena *a, struct ms_q_text *t, struct core_buf *raw,
			  size_t *cap)
{
	struct ms_words_ctx c = {.a = a};
	(void)ms_words(raw->p != NULL ? raw->p : "", raw->len, ms_words_collect, &c);
	core_buf_reset(raw);
	if (c.n == 0)
		return;
	if (t->nitems == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ms_q_item *v = core_arena_alloc(a, nc * sizeof(*v));
		if (t->nitems > 0)
			memcpy(v, t->items, t->nitems * sizeof(*v));
		t->items = v;
		*cap = nc;
	}
	t->items[t->nitems++] = (struct ms_q_item){c.v, c.n};
}

static void ms_q_text_compile(struct core_arena *a, const char *s, unsigned field,
			      struct ms_q_text *t)
{
	memset(t, 0, sizeof(*t));
	t->set = true;
	t->field = field;
	size_t cap = 0;
	struct core_buf raw = CORE_BUF_INIT;
	size_t i = 0, n = strlen(s);
	while (i < n) {
		char c = s[i];
		if (c == '"' || c == '\'') {
			/* A phrase up to the matching quote; \ escapes ' " \ inside it. */
			i++;
			while (i < n && s[i] != c) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				core_buf_putc(&raw, s[i++]);
			}
			i++;
			ms_q_item_add(a, t, &raw, &cap);
		} else if (core_ascii_isspace((unsigned char)c)) {
			i++;
		} else {
			/* A token up to white space; its words ("foo-bar") form a phrase. */
			while (i < n && !core_ascii_isspace((unsigned char)s[i]) && s[i] != '"' &&
			       s[i] != '\'')
				core_buf_putc(&raw, s[i++]);
			ms_q_item_add(a, t, &raw, &cap);
		}
	}
	core_buf_fini(&raw);
}

/* Whether the words of text hold every item (each item's words consecutively). */
static bool ms_q_text_match_words(const struct ms_q_item *items, size_t nitems, bool *found,
				  const struct core_str *w, size_t nw)
{
	bool all = true;
	for (size_t i = 0; i < nitems; i++) {
		if (found[i])
			continue;
		const struct ms_q_item *it = &items[i];
		for (size_t j = 0; j + it->n <= nw && !found[i]; j++) {
			size_t k = 0;
			while (k < it->n && core_str_eq(w[j + k], it->w[k]))
				k++;
			found[i] = k == it->n;
		}
		all = all && found[i];
	}
	return all;
}

/* ---------------------------------------------------------------------------------- */
/* Compiled filter                                                                    */
/* ---------------------------------------------------------------------------------- */

struct ms_q_node {
	enum mailstore_filter_op op;
	struct ms_q_node *kids;
	size_t nkids;
	const struct mailstore_filter *f;
	/* COND: lower-case keywords (NULL: unset) and thread-keyword bit numbers. */
	const char *has_kw, *not_kw;
	int all_bit, some_bit, none_bit; /* -1: unset */
	struct ms_q_text text[MS_Q_TEXT_FIELDS];
};

struct ms_q_thread {
	uint64_t id;
	uint32_t all, some; /* bit i: all / some emails have thread keyword i */
};

struct ms_q_cand {
	struct mailstore_email e;
	struct mailstore_parsed p;
	bool have_p;
	struct ms_texts *texts; /* loaded on demand */
	const struct ms_q_thread *th;
	/* Sort keys. */
	struct core_str s[MAILSTORE_SORT_MAX];
	int64_t num[MAILSTORE_SORT_MAX];
};

struct ms_q {
	struct mailstore *ms;
	uint64_t account;
	const struct mailstore_query *q;
	struct core_arena *a; /* the caller's: results */
	struct core_arena *w; /* working memory */
	struct core_error *err;
	struct ms_q_node root;
	bool has_filter;
	/* What the records must provide. */
	bool need_parsed, need_threads;
	const char *thread_kw[MS_Q_THREAD_KW_MAX];
	size_t nthread_kw;
	const char *sort_kw[MAILSTORE_SORT_MAX];
	int sort_bit[MAILSTORE_SORT_MAX];
	/* Candidates' mailbox restriction (0: every email of the account). */
	uint64_t mailbox;
	bool mailbox_missing;
	/* Loaded in the read transaction. */
	uint64_t modseq;
	bool account_missing;
	struct ms_q_cand *c;
	size_t nc, capc;
	size_t pbase; /* first candidate of the parsed-record batch being read */
	struct ms_q_thread *threads;
	size_t nthreads;
	uint64_t *unindexed; /* sorted: queued or too large for the index */
	size_t nunindexed, capunindexed;
	/* Fast path (one mailbox by receivedAt). */
	bool fast;
	struct mailstore_mailbox mbox;
	uint64_t *fast_ids;
	size_t nfast, capfast;
	uint64_t *seen; /* open-addressing set of thread ids (collapse) */
	size_t capseen, nseen;
	bool fast_skip;     /* limit 0: only the total is asked for */
	uint64_t fast_need; /* stop once this many results are collected (0: all) */
	uint64_t anchor_at; /* index of the anchor + 1 once found */
	struct mailstore_query_result *out;
};

static int ms_q_kw(struct ms_q *s, const char *kw, const char **out)
{
	size_t n = strlen(kw);
	if (n == 0 || n > MAILSTORE_KEYWORD_MAX)
		return core_error_set(s->err, CORE_ESYNTAX, "RFC 8621 §4.4.1",
				      "keyword must be 1-%u bytes", MAILSTORE_KEYWORD_MAX);
	char *l = core_arena_alloc(s->w, n + 1);
	for (size_t i = 0; i <= n; i++)
		l[i] = core_ascii_lower(kw[i]);
	*out = l;
	return 0;
}

static int ms_q_thread_bit(struct ms_q *s, const char *kw, int *bit_out)
{
	const char *l = NULL;
	int rc = ms_q_kw(s, kw, &l);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < s->nthread_kw; i++)
		if (strcmp(s->thread_kw[i], l) == 0) {
			*bit_out = (int)i;
			return 0;
		}
	if (s->nthread_kw == MS_Q_THREAD_KW_MAX)
		return core_error_set(s->err, CORE_ELIMIT, NULL, "too many thread keywords");
	s->thread_kw[s->nthread_kw] = l;
	*bit_out = (int)s->nthread_kw++;
	s->need_threads = true;
	return 0;
}

static int ms_q_compile(struct ms_q *s, const struct mailstore_filter *f, struct ms_q_node *n,
			unsigned depth)
{
	if (depth > MAILSTORE_FILTER_DEPTH_MAX)
		return core_error_set(s->err, CORE_ELIMIT, "RFC 8620 §5.5",
				      "filter nested too deep");
	memset(n, 0, sizeof(*n));
	n->op = f->op;
	n->f = f;
	n->all_bit = n->some_bit = n->none_bit = -1;
	int rc = 0;
	if (f->op != MAILSTORE_FILTER_COND) {
		if ((unsigned)f->op > MAILSTORE_FILTER_NOT)
			return core_error_set(s->err, CORE_ESYNTAX, "RFC 8620 §5.5",
					      "unknown filter operator");
		if (f->nconditions > 0 && f->conditions == NULL)
			return core_error_set(s->err, CORE_ESYNTAX, NULL, "missing conditions");
		n->nkids = f->nconditions;
		n->kids = core_arena_zalloc(s->w, (n->nkids + 1) * sizeof(*n->kids));
		for (size_t i = 0; i < n->nkids && rc >= 0; i++)
			rc = ms_q_compile(s, &f->conditions[i], &n->kids[i], depth + 1);
		return rc;
	}
	if (f->has_in_mailbox_other_than && f->nin_mailbox_other_than > 0 &&
	    f->in_mailbox_other_than == NULL)
		return core_error_set(s->err, CORE_ESYNTAX, NULL, "missing mailbox list");
	if (f->has_keyword != NULL && (rc = ms_q_kw(s, f->has_keyword, &n->has_kw)) < 0)
		return rc;
	if (f->not_keyword != NULL && (rc = ms_q_kw(s, f->not_keyword, &n->not_kw)) < 0)
		return rc;
	if (f->all_in_thread_have_keyword != NULL &&
	    (rc = ms_q_thread_bit(s, f->all_in_thread_have_keyword, &n->all_bit)) < 0)
		return rc;
	if (f->some_in_thread_have_keyword != NULL &&
	    (rc = ms_q_thread_bit(s, f->some_in_thread_have_keyword, &n->some_bit)) < 0)
		return rc;
	if (f->none_in_thread_have_keyword != NULL &&
	    (rc = ms_q_thread_bit(s, f->none_in_thread_have_keyword, &n->none_bit)) < 0)
		return rc;
	if ((unsigned)f->has_attachment > MAILSTORE_TRI_TRUE)
		return core_error_set(s->err, CORE_ESYNTAX, NULL, "bad hasAttachment");
	if (f->has_attachment != MAILSTORE_TRI_UNSET)
		s->need_parsed = true;
	if (f->header_name != NULL) {
		if (f->header_name[0] == '\0')
			return core_error_set(s->err, CORE_ESYNTAX, "RFC 8621 §4.4.1",
					      "header needs a field name");
		s->need_parsed = true;
	}
	const char *tv[MS_Q_TEXT_FIELDS] = {f->text, f->from,    f->to,  f->cc,
					    f->bcc,  f->subject, f->body};
	/* text is every field; the others map to one mailstore_text_field each. */
	static const unsigned fields[MS_Q_TEXT_FIELDS] = {
		MAILSTORE_TEXT_ALL, MAILSTORE_TEXT_FROM,    MAILSTORE_TEXT_TO,  MAILSTORE_TEXT_CC,
		MAILSTORE_TEXT_BCC, MAILSTORE_TEXT_SUBJECT, MAILSTORE_TEXT_BODY};
	for (size_t i = 0; i < MS_Q_TEXT_FIELDS; i++)
		if (tv[i] != NULL) {
			ms_q_text_compile(s->w, tv[i], fields[i], &n->text[i]);
			s->need_parsed = true;
		}
	return 0;
}

/* Whether a COND node sets nothing but inMailbox (the fast path's filter). */
static bool ms_q_only_mailbox(const struct mailstore_filter *f)
{
	return f->op == MAILSTORE_FILTER_COND && f->has_in_mailbox &&
	       !f->has_in_mailbox_other_than && !f->has_before && !f->has_after &&
	       !f->has_min_size && !f->has_max_size && f->all_in_thread_have_keyword == NULL &&
	       f->some_in_thread_have_keyword == NULL && f->none_in_thread_have_keyword == NULL &&
	       f->has_keyword == NULL && f->not_keyword == NULL &&
	       f->has_attachment == MAILSTORE_TRI_UNSET && f->text == NULL && f->from == NULL &&
	       f->to == NULL && f->cc == NULL && f->bcc == NULL && f->subject == NULL &&
	       f->body == NULL && f->header_name == NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Loading (inside the read transaction)                                              */
/* ---------------------------------------------------------------------------------- */

static struct ms_q_cand *ms_q_cand_new(struct ms_q *s)
{
	if (s->nc == s->capc) {
		s->capc = s->capc ? s->capc * 2 : 256;
		s->c = core_xrealloc(s->c, s->capc * sizeof(*s->c));
	}
	struct ms_q_cand *c = &s->c[s->nc++];
	memset(c, 0, sizeof(*c));
	return c;
}

static int ms_q_scan_emails(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_q *s = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	struct ms_q_cand *c = ms_q_cand_new(s);
	c->e.id = ms_rd_be64((const uint8_t *)key + 10);
	if (ms_email_decode(val, vlen, s->w, &c->e) < 0)
		return core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt email record");
	return 0;
}

struct ms_q_idlist {
	uint64_t *v;
	size_t n, cap;
};

static void ms_idlist_add(struct ms_q_idlist *l, uint64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = core_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = id;
}

static int ms_q_scan_date(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	if (klen != 34)
		return CORE_EINTERNAL;
	ms_idlist_add(arg, ms_rd_be64((const uint8_t *)key + 26));
	return 0;
}

/* Multi-get the records of family fam for ids; fn decodes each found value. */
typedef int (*ms_q_rec_fn)(struct ms_q *s, size_t i, const void *v, size_t n);

static int ms_q_multiget(struct ms_q *s, struct store_txn *t, char fam, const uint64_t *ids,
			 size_t n, ms_q_rec_fn fn)
{
	struct store_mget *mg = core_xcalloc(MS_Q_BATCH, sizeof(*mg));
	uint8_t(*keys)[32] = core_xmalloc(MS_Q_BATCH * 32);
	int rc = 0;
	for (size_t off = 0; off < n && rc >= 0; off += MS_Q_BATCH) {
		size_t m = n - off < MS_Q_BATCH ? n - off : MS_Q_BATCH;
		for (size_t i = 0; i < m; i++) {
			mg[i].key = keys[i];
			mg[i].klen = ms_key_id(keys[i], s->account, fam, ids[off + i]);
			mg[i].val = (struct core_buf)CORE_BUF_INIT;
		}
		rc = store_txn_multi_get(t, mg, m, s->err);
		for (size_t i = 0; i < m; i++) {
			if (rc >= 0 && mg[i].found)
				rc = fn(s, off + i, mg[i].val.p, mg[i].val.len);
			core_buf_fini(&mg[i].val);
		}
	}
	free(keys);
	free(mg);
	return rc;
}

/* fast_ids[i] (the mailbox's emails) are loaded into candidates. */
static int ms_q_email_rec(struct ms_q *s, size_t i, const void *v, size_t n)
{
	struct ms_q_cand *c = ms_q_cand_new(s);
	c->e.id = s->fast_ids[i];
	if (ms_email_decode(v, n, s->w, &c->e) < 0)
		return core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt email record");
	return 0;
}

static int ms_q_parsed_rec(struct ms_q *s, size_t i, const void *v, size_t n)
{
	struct ms_q_cand *c = &s->c[s->pbase + i];
	if (ms_parsed_decode(v, n, s->w, &c->p) < 0)
		return core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt parsed record");
	c->have_p = true;
	return 0;
}

static int ms_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool ms_u64_has(const uint64_t *v, size_t n, uint64_t x)
{
	return v != NULL && bsearch(&x, v, n, sizeof(*v), ms_u64_cmp) != NULL;
}

/* Per thread: which thread keywords all / some of its emails have. */
static int ms_q_thread_member(struct ms_q *s, size_t i, const void *v, size_t n)
{
	(void)i;
	struct mailstore_email e = {0};
	if (ms_email_decode(v, n, s->w, &e) < 0)
		return core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt email record");
	struct ms_q_thread *th = &s->threads[s->nthreads - 1];
	for (size_t k = 0; k < s->nthread_kw; k++) {
		bool has = ms_keywords_has(e.keywords, e.nkeywords, s->thread_kw[k]);
		if (has)
			th->some |= 1u << k;
		else
			th->all &= ~(1u << k);
	}
	return 0;
}

static int ms_q_thread_cmp(const void *a, const void *b)
{
	const struct ms_q_thread *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int ms_q_load_threads(struct ms_q *s, struct store_txn *t)
{
	uint64_t *tids = core_xmalloc((s->nc + 1) * sizeof(*tids));
	for (size_t i = 0; i < s->nc; i++)
		tids[i] = s->c[i].e.thread_id;
	qsort(tids, s->nc, sizeof(*tids), ms_u64_cmp);
	size_t nt = 0;
	for (size_t i = 0; i < s->nc; i++)
		if (nt == 0 || tids[nt - 1] != tids[i])
			tids[nt++] = tids[i];
	s->threads = core_arena_zalloc(s->w, (nt + 1) * sizeof(*s->threads));
	s->nthreads = 0;
	struct core_buf v = CORE_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < nt && rc >= 0; i++) {
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_key_id(k, s->account, MS_F_THREAD, tids[i]);
		struct ms_q_thread *th = &s->threads[s->nthreads++];
		th->id = tids[i];
		th->all = UINT32_MAX;
		rc = store_txn_get(t, k, kl, &v, s->err);
		if (rc == CORE_ENOTFOUND) {
			core_error_clear(s->err);
			rc = 0;
			th->all = 0;
			continue;
		}
		if (rc < 0)
			break;
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		(void)ms_get_u64(&d);
		uint64_t n = ms_get_u64(&d);
		if (d.bad || n > v.len) {
			rc = core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt thread");
			break;
		}
		uint64_t *ids = core_xmalloc((size_t)(n + 1) * sizeof(*ids));
		for (uint64_t j = 0; j < n; j++)
			ids[j] = ms_get_u64(&d);
		if (d.bad)
			rc = core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt thread");
		if (rc >= 0)
			rc = ms_q_multiget(s, t, MS_F_EMAIL, ids, (size_t)n, ms_q_thread_member);
		free(ids);
	}
	core_buf_fini(&v);
	free(tids);
	for (size_t i = 0; rc >= 0 && i < s->nc; i++) {
		struct ms_q_thread key = {.id = s->c[i].e.thread_id};
		s->c[i].th = bsearch(&key, s->threads, s->nthreads, sizeof(key), ms_q_thread_cmp);
	}
	return rc;
}

static int ms_q_scan_queue(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_q *s = arg;
	if (klen != 18)
		return 0;
	/* A removal entry concerns a destroyed email: no candidate has its id. */
	if (vlen == 1 && *(const uint8_t *)val == MS_FTQ_OP_DELETE)
		return 0;
	if (s->nunindexed == s->capunindexed) {
		s->capunindexed = s->capunindexed ? s->capunindexed * 2 : 64;
		s->unindexed = core_xrealloc(s->unindexed, s->capunindexed * sizeof(*s->unindexed));
	}
	s->unindexed[s->nunindexed++] = ms_rd_be64((const uint8_t *)key + 10);
	return 0;
}

/* at + offset without overflow, and at least 0 (RFC 8620 §5.5: a negative result is
 * clamped to 0). */
static int64_t ms_q_offset(int64_t at, int64_t offset)
{
	if (offset > 0 && at > INT64_MAX - offset)
		return INT64_MAX;
	int64_t r = at + offset; /* at >= 0, so a negative offset cannot overflow */
	return r < 0 ? 0 : r;
}

/* The end of a page, saturating (a huge limit means "to the end", 0). */
static uint64_t ms_q_end(uint64_t start, uint64_t limit)
{
	return limit > UINT64_MAX - start ? 0 : start + limit;
}

/* Fast path: the mailbox's receivedAt index in the wanted direction, up to the page. */
static bool ms_q_seen_add(struct ms_q *s, uint64_t thread)
{
	if ((s->nseen + 1) * 2 > s->capseen) {
		size_t cap = s->capseen ? s->capseen * 2 : 1024;
		uint64_t *v = core_xcalloc(cap, sizeof(*v));
		for (size_t i = 0; i < s->capseen; i++)
			if (s->seen[i] != 0) {
				size_t h = (size_t)(s->seen[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
				while (v[h] != 0)
					h = (h + 1) & (cap - 1);
				v[h] = s->seen[i];
			}
		free(s->seen);
		s->seen = v;
		s->capseen = cap;
	}
	/* Thread ids start at 1, so 0 marks an empty slot. */
	size_t h = (size_t)(thread * 0x9E3779B97F4A7C15ull) & (s->capseen - 1);
	while (s->seen[h] != 0) {
		if (s->seen[h] == thread)
			return false;
		h = (h + 1) & (s->capseen - 1);
	}
	s->seen[h] = thread;
	s->nseen++;
	return true;
}

static int ms_q_fast_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_q *s = arg;
	if (klen != 34)
		return CORE_EINTERNAL;
	uint64_t id = ms_rd_be64((const uint8_t *)key + 26);
	if (s->q->collapse_threads) {
		struct ms_dec d;
		ms_dec_init(&d, val, vlen);
		uint64_t th = ms_get_u64(&d);
		if (d.bad)
			return core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt date index");
		if (!ms_q_seen_add(s, th))
			return 0;
	}
	if (s->nfast == s->capfast) {
		s->capfast = s->capfast ? s->capfast * 2 : 256;
		s->fast_ids = core_xrealloc(s->fast_ids, s->capfast * sizeof(*s->fast_ids));
	}
	s->fast_ids[s->nfast++] = id;
	if (s->q->has_anchor && s->anchor_at == 0 && id == s->q->anchor) {
		s->anchor_at = s->nfast;
		/* Now the page end is known. */
		int64_t start = ms_q_offset((int64_t)s->nfast - 1, s->q->anchor_offset);
		if (start < 0)
			start = 0;
		s->fast_need = s->q->has_limit ? ms_q_end((uint64_t)start, s->q->limit) : 0;
	}
	if (s->fast_need != 0 && s->nfast >= s->fast_need &&
	    (!s->q->has_anchor || s->anchor_at != 0))
		return 1;
	return 0;
}

static int ms_q_prefilter_all(struct ms_q *s, struct ms_q_node *n);

/* Sorted intersection of a and b into a (b sorted). */
static void ms_ids_and(struct ms_q_idlist *a, const uint64_t *b, size_t nb)
{
	size_t w = 0;
	for (size_t i = 0; i < a->n; i++)
		if (ms_u64_has(b, nb, a->v[i]))
			a->v[w++] = a->v[i];
	a->n = w;
}

static void ms_q_narrow_node(const struct ms_q_node *n, struct ms_q_idlist *l, bool *have)
{
	for (size_t i = 0; n->op == MAILSTORE_FILTER_COND && i < MS_Q_TEXT_FIELDS; i++) {
		const struct ms_q_text *t = &n->text[i];
		if (!t->set || !t->prefiltered)
			continue;
		if (!*have) {
			for (size_t j = 0; j < t->ndocs; j++)
				ms_idlist_add(l, t->docs[j]);
			*have = true;
		} else {
			ms_ids_and(l, t->docs, t->ndocs);
		}
	}
}

/*
 * The candidates a required text condition leaves: the documents of every prefiltered text
 * condition of the top condition (or of the top AND's conditions), with the unindexed
 * emails added. False when there is no such condition.
 */
static bool ms_q_narrow(struct ms_q *s, struct ms_q_idlist *l)
{
	bool have = false;
	if (!s->has_filter)
		return false;
	if (s->root.op == MAILSTORE_FILTER_COND)
		ms_q_narrow_node(&s->root, l, &have);
	for (size_t i = 0; s->root.op == MAILSTORE_FILTER_AND && i < s->root.nkids; i++)
		ms_q_narrow_node(&s->root.kids[i], l, &have);
	if (!have)
		return false;
	for (size_t i = 0; i < s->nunindexed; i++)
		ms_idlist_add(l, s->unindexed[i]);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), ms_u64_cmp);
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++)
		if (w == 0 || l->v[w - 1] != l->v[i])
			l->v[w++] = l->v[i];
	l->n = w;
	return true;
}

static int ms_q_read_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_q *s = ctx;
	struct store_txn *t = tx->t;
	uint8_t k[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t kl = ms_key(k, s->account, MS_F_ACCOUNT);
	struct core_buf v = CORE_BUF_INIT;
	int rc = store_txn_get(t, k, kl, &v, s->err);
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(s->err);
		core_buf_fini(&v);
		s->account_missing = true;
		return 0;
	}
	struct ms_account_rec ar;
	if (rc >= 0 && ms_account_decode(v.p, v.len, &ar) < 0)
		rc = core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt account record");
	if (rc < 0) {
		core_buf_fini(&v);
		return rc;
	}
	s->modseq = ar.modseq;
	if (s->mailbox != 0) {
		kl = ms_key_id(k, s->account, MS_F_MAILBOX, s->mailbox);
		rc = store_txn_get(t, k, kl, &v, s->err);
		if (rc == CORE_ENOTFOUND) {
			/* RFC 8621 §4.4.1: a mailbox that does not exist holds no email. */
			core_error_clear(s->err);
			s->mailbox_missing = true;
			core_buf_fini(&v);
			return 0;
		}
		if (rc >= 0 && ms_mailbox_decode(v.p, v.len, s->w, &s->mbox) < 0)
			rc = core_error_set(s->err, CORE_EINTERNAL, NULL, "corrupt mailbox");
	}
	core_buf_fini(&v);
	if (rc < 0)
		return rc;
	struct store_range r;
	if (s->fast && s->fast_skip)
		return 0;
	if (s->fast) {
		size_t pl = ms_key_id(k, s->account, MS_F_DATE, s->mailbox);
		store_range_prefix(&r, k, pl, hi);
		r.reverse = !s->q->sort[0].ascending;
		/* Without collapsing, the index gives exactly the results: read only the
		 * page. */
		if (!s->q->collapse_threads && s->fast_need != 0)
			r.limit = (size_t)s->fast_need;
		rc = store_txn_scan(t, &r, ms_q_fast_cb, s, s->err);
		return rc < 0 ? rc : 0;
	}
	/* Emails whose indexing is queued, or too large for the index: scanned. Read in
	 * this snapshot before the full-text store is asked, so an email indexed meanwhile
	 * is either still queued here or found there. */
	static const char *const pres[] = {MS_FTQ_QUEUE, MS_FTQ_SCAN};
	for (size_t i = 0; rc >= 0 && i < 2 && s->ms->fts != NULL; i++) {
		size_t pl = ms_ftq_key(k, pres[i], s->account, 0) - 8;
		store_range_prefix(&r, k, pl, hi);
		rc = store_txn_scan(t, &r, ms_q_scan_queue, s, s->err);
	}
	if (rc >= 0 && s->nunindexed > 1)
		qsort(s->unindexed, s->nunindexed, sizeof(*s->unindexed), ms_u64_cmp);
	if (rc >= 0 && s->has_filter)
		rc = ms_q_prefilter_all(s, &s->root);
	/* Candidates: when text conditions every result must meet were prefiltered, only
	 * their documents and the unindexed emails; else the mailbox's index, or every email
	 * of the account. */
	struct ms_q_idlist l = {0};
	bool narrowed = false;
	if (rc >= 0)
		narrowed = ms_q_narrow(s, &l);
	if (rc >= 0 && narrowed) {
		s->fast_ids = l.v;
		s->nfast = l.n;
		rc = ms_q_multiget(s, t, MS_F_EMAIL, l.v, l.n, ms_q_email_rec);
	} else if (rc >= 0 && s->mailbox != 0) {
		size_t pl = ms_key_id(k, s->account, MS_F_DATE, s->mailbox);
		store_range_prefix(&r, k, pl, hi);
		rc = store_txn_scan(t, &r, ms_q_scan_date, &l, s->err);
		s->fast_ids = l.v;
		s->nfast = l.n;
		if (rc >= 0)
			rc = ms_q_multiget(s, t, MS_F_EMAIL, l.v, l.n, ms_q_email_rec);
	} else if (rc >= 0) {
		size_t pl = ms_key(k, s->account, MS_F_EMAIL);
		store_range_prefix(&r, k, pl, hi);
		rc = store_txn_scan(t, &r, ms_q_scan_emails, s, s->err);
	}
	if (rc >= 0 && s->need_threads)
		rc = ms_q_load_threads(s, t);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Evaluation                                                                         */
/* ---------------------------------------------------------------------------------- */

static int ms_q_prefilter(struct ms_q *s, struct ms_q_text *t)
{
	if (s->ms->fts == NULL || t->nitems == 0)
		return 0;
	uint8_t field = t->field == MAILSTORE_TEXT_ALL ? STORE_FTS_ANY_FIELD : (uint8_t)t->field;
	struct store_fts_query *kids = core_arena_zalloc(s->w, t->nitems * sizeof(*kids));
	const struct store_fts_query **kp = core_arena_zalloc(s->w, t->nitems * sizeof(*kp));
	for (size_t i = 0; i < t->nitems; i++) {
		struct core_str *terms = core_arena_alloc(s->w, t->items[i].n * sizeof(*terms));
		for (size_t j = 0; j < t->items[i].n; j++) {
			terms[j] = t->items[i].w[j];
			/* The index keeps the first 64 bytes of a word (mailstore_index.c). */
			if (terms[j].len > 64)
				terms[j].len = 64;
		}
		kids[i] = (struct store_fts_query){
			.op = t->items[i].n > 1 ? STORE_FTS_PHRASE : STORE_FTS_TERM,
			.field = field,
			.terms = terms,
			.nterms = t->items[i].n,
		};
		kp[i] = &kids[i];
	}
	struct store_fts_query q = {.op = STORE_FTS_AND, .kids = kp, .nkids = t->nitems};
	const struct store_fts_query *top = t->nitems == 1 ? &kids[0] : &q;
	int rc = store_fts_search(s->ms->fts, s->account, top, &t->docs, &t->ndocs, s->err);
	if (rc < 0)
		return rc;
	t->prefiltered = true;
	core_arena_cleanup_add(s->w, free, t->docs);
	return 0;
}

static int ms_q_prefilter_all(struct ms_q *s, struct ms_q_node *n)
{
	int rc = 0;
	for (size_t i = 0; i < n->nkids && rc >= 0; i++)
		rc = ms_q_prefilter_all(s, &n->kids[i]);
	for (size_t i = 0; n->op == MAILSTORE_FILTER_COND && i < MS_Q_TEXT_FIELDS && rc >= 0; i++)
		if (n->text[i].set)
			rc = ms_q_prefilter(s, &n->text[i]);
	return rc;
}

static void ms_q_texts_free(void *p)
{
	ms_texts_fini(p);
}

static int ms_q_text_eval(struct ms_q *s, struct ms_q_cand *c, struct ms_q_text *t, bool *out)
{
	if (t->nitems == 0) {
		*out = true;
		return 0;
	}
	/* The index rules out what it does not hold, unless the email is not indexed yet. */
	if (t->prefiltered && !ms_u64_has(t->docs, t->ndocs, c->e.id) &&
	    !ms_u64_has(s->unindexed, s->nunindexed, c->e.id)) {
		*out = false;
		return 0;
	}
	if (c->texts == NULL) {
		c->texts = core_arena_zalloc(s->w, sizeof(*c->texts));
		core_arena_cleanup_add(s->w, ms_q_texts_free, c->texts);
	}
	unsigned mask = t->field == MAILSTORE_TEXT_ALL ? 0x3fu : 1u << t->field;
	int rc = ms_texts_load(s->ms, s->account, &c->e, &c->p, mask, c->texts, s->err);
	if (rc < 0)
		return rc;
	bool *found = core_arena_zalloc(s->w, t->nitems * sizeof(bool));
	bool all = false;
	for (unsigned f = 0; f < 6 && !all; f++) {
		if (!(mask & (1u << f)))
			continue;
		struct ms_words_ctx w = {.a = s->w};
		const struct core_buf *b = &c->texts->f[f];
		rc = ms_words(b->p != NULL ? b->p : "", b->len, ms_words_collect, &w);
		if (rc < 0)
			return rc;
		all = ms_q_text_match_words(t->items, t->nitems, found, w.v, w.n);
	}
	*out = all;
	return 0;
}

static int ms_q_blob_cb(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

/* RFC 8621 §4.4.1 header: the field is present, and when a value is given it occurs in
 * the field's decoded Text form (the substring rule, ignoring case). Only the header bytes
 * are read. */
/*
 * Look at the header fields of an email's top-level header (only those bytes are read from
 * the blob). name NULL: every field, else the fields of that name (ASCII case-insensitive).
 * value NULL: a field is present; else the substring rule on the field's decoded Text form
 * (with name NULL, on "Name: value"). *out gets the answer.
 */
static int ms_header_match(struct mailstore *ms, uint64_t account, const struct mailstore_email *e,
			   const struct mailstore_parsed *p, const char *name, const char *value,
			   bool *out, struct core_error *err)
{
	*out = false;
	if (p->nparts == 0)
		return 0;
	struct core_buf raw = CORE_BUF_INIT;
	int rc = store_blob_read(ms->b, account, &e->blob, p->parts[0].header_off,
				 p->parts[0].header_len, ms_q_blob_cb, &raw, err);
	if (rc >= 0) {
		struct core_arena *a = core_arena_new(0);
		struct mail_message *m = NULL;
		struct core_buf line = CORE_BUF_INIT;
		rc = mail_message_parse(a, raw.p != NULL ? raw.p : "", raw.len, NULL, &m, err);
		const struct mail_header *h = rc >= 0 ? &m->root->header : NULL;
		for (size_t i = 0; h != NULL && i < h->count && !*out; i++) {
			if (name != NULL && !core_str_eq_cstr_ci(h->fields[i].name, name))
				continue;
			if (value == NULL) {
				*out = true;
				break;
			}
			struct core_str tv = mail_hdr_text(a, h->fields[i].value);
			core_buf_reset(&line);
			if (name == NULL) {
				core_buf_append(&line, h->fields[i].name.p, h->fields[i].name.len);
				core_buf_append_str(&line, ": ");
			}
			core_buf_append(&line, tv.p, tv.len);
			*out = mailstore_text_contains(line.p, line.len, value, strlen(value));
		}
		core_buf_fini(&line);
		core_arena_free(&a);
	}
	core_buf_fini(&raw);
	return rc < 0 ? rc : 0;
}

static int ms_q_header_check(struct ms_q *s, struct ms_q_cand *c, const char *name,
			     const char *value, bool *out)
{
	*out = false;
	if (!c->have_p)
		return 0;
	return ms_header_match(s->ms, s->account, &c->e, &c->p, name, value, out, s->err);
}

static bool ms_q_in(const struct mailstore_email *e, uint64_t mailbox)
{
	for (size_t i = 0; i < e->nmembers; i++)
		if (e->members[i].mailbox == mailbox)
			return true;
	return false;
}

static int ms_q_eval(struct ms_q *s, struct ms_q_node *n, struct ms_q_cand *c, bool *out);

static int ms_q_eval_cond(struct ms_q *s, struct ms_q_node *n, struct ms_q_cand *c, bool *out)
{
	const struct mailstore_filter *f = n->f;
	const struct mailstore_email *e = &c->e;
	*out = false;
	/* RFC 8621 §4.4.1, cheapest properties first. */
	if (f->has_in_mailbox && !ms_q_in(e, f->in_mailbox))
		return 0;
	if (f->has_in_mailbox_other_than) {
		bool other = f->nin_mailbox_other_than == 0 && e->nmembers > 0;
		for (size_t i = 0; i < e->nmembers && !other; i++) {
			bool listed = false;
			for (size_t j = 0; j < f->nin_mailbox_other_than && !listed; j++)
				listed = f->in_mailbox_other_than[j] == e->members[i].mailbox;
			other = !listed;
		}
		if (!other)
			return 0;
	}
	if (f->has_before && !(e->received_at < f->before))
		return 0;
	if (f->has_after && !(e->received_at >= f->after))
		return 0;
	if (f->has_min_size && !(e->size >= f->min_size))
		return 0;
	if (f->has_max_size && !(e->size < f->max_size))
		return 0;
	if (n->has_kw != NULL && !ms_keywords_has(e->keywords, e->nkeywords, n->has_kw))
		return 0;
	if (n->not_kw != NULL && ms_keywords_has(e->keywords, e->nkeywords, n->not_kw))
		return 0;
	uint32_t all = c->th != NULL ? c->th->all : 0, some = c->th != NULL ? c->th->some : 0;
	if (n->all_bit >= 0 && !(all & (1u << n->all_bit)))
		return 0;
	if (n->some_bit >= 0 && !(some & (1u << n->some_bit)))
		return 0;
	if (n->none_bit >= 0 && (some & (1u << n->none_bit)))
		return 0;
	if (f->has_attachment != MAILSTORE_TRI_UNSET &&
	    (c->have_p && c->p.has_attachment) != (f->has_attachment == MAILSTORE_TRI_TRUE))
		return 0;
	int rc;
	for (size_t i = 0; i < MS_Q_TEXT_FIELDS; i++) {
		if (!n->text[i].set)
			continue;
		bool m;
		if ((rc = ms_q_text_eval(s, c, &n->text[i], &m)) < 0)
			return rc;
		if (!m)
			return 0;
	}
	if (f->header_name != NULL) {
		bool m;
		if ((rc = ms_q_header_check(s, c, f->header_name, f->header_value, &m)) < 0)
			return rc;
		if (!m)
			return 0;
	}
	*out = true;
	return 0;
}

static int ms_q_eval(struct ms_q *s, struct ms_q_node *n, struct ms_q_cand *c, bool *out)
{
	if (n->op == MAILSTORE_FILTER_COND)
		return ms_q_eval_cond(s, n, c, out);
	/* RFC 8620 §5.5: AND all, OR any, NOT none of the operands. */
	bool any = false, every = true;
	for (size_t i = 0; i < n->nkids; i++) {
		bool m;
		int rc = ms_q_eval(s, &n->kids[i], c, &m);
		if (rc < 0)
			return rc;
		any = any || m;
		every = every && m;
		if ((n->op == MAILSTORE_FILTER_AND && !m) || (n->op != MAILSTORE_FILTER_AND && m))
			break;
	}
	*out = n->op == MAILSTORE_FILTER_AND ? every : n->op == MAILSTORE_FILTER_OR ? any : !any;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sorting                                                                            */
/* ---------------------------------------------------------------------------------- */

static struct core_str ms_q_coll_key(struct ms_q *s, const char *v, enum mailstore_collation coll)
{
	if (v == NULL)
		return core_str_make("", 0);
	size_t n = strlen(v);
	struct core_buf b = CORE_BUF_INIT;
	struct core_error e;
	if (coll == MAILSTORE_COLL_OCTET) {
		core_buf_append(&b, v, n);
	} else if (coll == MAILSTORE_COLL_UNICODE_CASEMAP &&
		   core_utf8_casemap_key(v, n, &b, &e) >= 0) {
		/* RFC 5051 §2 key built. */
	} else {
		/* RFC 4790 §9.2 i;ascii-casemap: a-z fold to A-Z, other octets as they are;
		 * also the fallback of unicode-casemap for invalid UTF-8. */
		core_buf_reset(&b);
		for (size_t i = 0; i < n; i++)
			core_buf_putc(&b, core_ascii_upper(v[i]));
	}
	struct core_str r =
		core_str_make(core_arena_memdup(s->w, b.p != NULL ? b.p : "", b.len), b.len);
	core_buf_fini(&b);
	return r;
}

static const char *ms_q_addr_key(const struct mailstore_addr *v, size_t n)
{
	/* RFC 8621 §4.4.2: name of the first address, or its email when the name is
	 * null or empty, or the empty string. */
	if (n == 0)
		return "";
	if (v[0].name != NULL && v[0].name[0] != '\0')
		return v[0].name;
	return v[0].email != NULL ? v[0].email : "";
}

static void ms_q_sort_keys(struct ms_q *s, struct ms_q_cand *c)
{
	for (size_t i = 0; i < s->q->nsort; i++) {
		const struct mailstore_sort *so = &s->q->sort[i];
		switch (so->prop) {
		case MAILSTORE_SORT_RECEIVED_AT:
			c->num[i] = c->e.received_at;
			break;
		case MAILSTORE_SORT_SENT_AT:
			/* An email without a Date: sorts as sent at its receivedAt. */
			c->num[i] = c->have_p && c->p.has_sent_at ? c->p.sent_at : c->e.received_at;
			break;
		case MAILSTORE_SORT_SIZE:
			c->num[i] = (int64_t)c->e.size;
			break;
		case MAILSTORE_SORT_FROM:
			c->s[i] = ms_q_coll_key(s, ms_q_addr_key(c->p.from, c->p.nfrom),
						so->collation);
			break;
		case MAILSTORE_SORT_TO:
			c->s[i] = ms_q_coll_key(s, ms_q_addr_key(c->p.to, c->p.nto), so->collation);
			break;
		case MAILSTORE_SORT_SUBJECT: {
			/* RFC 8621 §4.4.2: the base subject of RFC 5256 §2.1. */
			struct core_buf b = CORE_BUF_INIT;
			const char *subj = c->p.subject != NULL ? c->p.subject : "";
			mailstore_subject_base(subj, strlen(subj), &b);
			core_buf_putc(&b, '\0');
			c->s[i] = ms_q_coll_key(s, b.p, so->collation);
			core_buf_fini(&b);
			break;
		}
		case MAILSTORE_SORT_HAS_KEYWORD:
			c->num[i] = ms_keywords_has(c->e.keywords, c->e.nkeywords, s->sort_kw[i]);
			break;
		case MAILSTORE_SORT_ALL_IN_THREAD_HAVE_KEYWORD:
			c->num[i] = c->th != NULL && (c->th->all & (1u << s->sort_bit[i]));
			break;
		case MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD:
			c->num[i] = c->th != NULL && (c->th->some & (1u << s->sort_bit[i]));
			break;
		}
	}
}

static bool ms_q_is_str(enum mailstore_sort_prop p)
{
	return p == MAILSTORE_SORT_FROM || p == MAILSTORE_SORT_TO || p == MAILSTORE_SORT_SUBJECT;
}

static int ms_q_cmp(const struct ms_q *s, const struct ms_q_cand *a, const struct ms_q_cand *b)
{
	for (size_t i = 0; i < s->q->nsort; i++) {
		const struct mailstore_sort *so = &s->q->sort[i];
		int r;
		if (ms_q_is_str(so->prop)) {
			size_t n = a->s[i].len < b->s[i].len ? a->s[i].len : b->s[i].len;
			r = n > 0 ? memcmp(a->s[i].p, b->s[i].p, n) : 0;
			if (r == 0)
				r = a->s[i].len < b->s[i].len ? -1 : a->s[i].len > b->s[i].len;
		} else {
			r = a->num[i] < b->num[i] ? -1 : a->num[i] > b->num[i];
		}
		if (r != 0)
			return so->ascending ? r : -r;
	}
	/* Stable: ties by id, in the direction of the first comparator. */
	bool asc = s->q->nsort > 0 && s->q->sort[0].ascending;
	int r = a->e.id < b->e.id ? -1 : a->e.id > b->e.id;
	return asc ? r : -r;
}

static void ms_q_msort(const struct ms_q *s, struct ms_q_cand **v, struct ms_q_cand **tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	ms_q_msort(s, v, tmp, h);
	ms_q_msort(s, v + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = ms_q_cmp(s, v[j], v[i]) < 0 ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

/* ---------------------------------------------------------------------------------- */
/* The query                                                                          */
/* ---------------------------------------------------------------------------------- */

static int ms_q_check_sort(struct ms_q *s)
{
	const struct mailstore_query *q = s->q;
	if (q->nsort > MAILSTORE_SORT_MAX)
		return core_error_set(s->err, CORE_ELIMIT, "RFC 8620 §5.5", "too many comparators");
	if (q->nsort > 0 && q->sort == NULL)
		return core_error_set(s->err, CORE_ESYNTAX, NULL, "missing comparators");
	for (size_t i = 0; i < q->nsort; i++) {
		const struct mailstore_sort *so = &q->sort[i];
		s->sort_bit[i] = -1;
		if ((unsigned)so->prop > MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD ||
		    (unsigned)so->collation > MAILSTORE_COLL_OCTET)
			return core_error_set(s->err, CORE_ESYNTAX, "RFC 8620 §5.5",
					      "unsupportedSort");
		bool kw = so->prop == MAILSTORE_SORT_HAS_KEYWORD ||
			  so->prop == MAILSTORE_SORT_ALL_IN_THREAD_HAVE_KEYWORD ||
			  so->prop == MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD;
		if (kw && so->keyword == NULL)
			return core_error_set(s->err, CORE_ESYNTAX, "RFC 8621 §4.4.2",
					      "keyword sort needs a keyword");
		int rc = 0;
		if (so->prop == MAILSTORE_SORT_HAS_KEYWORD)
			rc = ms_q_kw(s, so->keyword, &s->sort_kw[i]);
		else if (kw)
			rc = ms_q_thread_bit(s, so->keyword, &s->sort_bit[i]);
		if (rc < 0)
			return rc;
		if (so->prop == MAILSTORE_SORT_SENT_AT || ms_q_is_str(so->prop))
			s->need_parsed = true;
	}
	return 0;
}

/* The page of an ordered list of n ids (RFC 8620 §5.5 position/anchor/limit). */
static int ms_q_page(struct ms_q *s, const uint64_t *ids, size_t n, uint64_t total)
{
	const struct mailstore_query *q = s->q;
	int64_t start;
	if (q->has_anchor) {
		size_t at = n;
		for (size_t i = 0; i < n && at == n; i++)
			if (ids[i] == q->anchor)
				at = i;
		if (at == n)
			return core_error_set(s->err, CORE_ENOTFOUND, "RFC 8620 §5.5",
					      "anchorNotFound");
		start = ms_q_offset((int64_t)at, q->anchor_offset);
		if (start < 0)
			start = 0;
	} else {
		start = q->position;
		if (start < 0) {
			start += (int64_t)total;
			if (start < 0)
				start = 0;
		}
	}
	uint64_t st = (uint64_t)start;
	size_t cnt = st < n ? n - (size_t)st : 0;
	if (q->has_limit && cnt > q->limit)
		cnt = (size_t)q->limit;
	s->out->position = st;
	s->out->total = total;
	s->out->nids = cnt;
	s->out->ids = core_arena_alloc(s->a, (cnt + 1) * sizeof(uint64_t));
	if (cnt > 0)
		memcpy(s->out->ids, ids + st, cnt * sizeof(uint64_t));
	return 0;
}

/*
 * Parsed records of the candidates, in batches of their own read transactions: they never
 * change once written, so reading them after the snapshot is safe, and no transaction of a
 * large query comes near the 5 s limit (ARCHITECTURE.md §4). A record gone meanwhile (the
 * email was destroyed since) leaves its candidate out.
 */
static int ms_q_load_parsed(struct ms_q *s)
{
	uint64_t *ids = core_xmalloc((MS_Q_PARSED_BATCH + 1) * sizeof(*ids));
	int rc = 0;
	for (size_t off = 0; off < s->nc && rc >= 0; off += MS_Q_PARSED_BATCH) {
		size_t m = s->nc - off < MS_Q_PARSED_BATCH ? s->nc - off : MS_Q_PARSED_BATCH;
		for (size_t i = 0; i < m; i++)
			ids[i] = s->c[off + i].e.id;
		struct store_txn *t = NULL;
		s->pbase = off;
		rc = store_txn_begin(s->ms->d, STORE_TXN_READ, &t, s->err);
		if (rc >= 0)
			rc = ms_q_multiget(s, t, MS_F_PARSED, ids, m, ms_q_parsed_rec);
		store_txn_abort(&t);
	}
	free(ids);
	return rc < 0 ? rc : 0;
}

static int ms_q_general(struct ms_q *s)
{
	int rc = s->need_parsed ? ms_q_load_parsed(s) : 0;
	struct ms_q_cand **v = core_xmalloc((s->nc + 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; rc >= 0 && i < s->nc; i++) {
		bool m = !s->need_parsed || s->c[i].have_p;
		if (m && s->has_filter)
			rc = ms_q_eval(s, &s->root, &s->c[i], &m);
		if (rc >= 0 && m) {
			ms_q_sort_keys(s, &s->c[i]);
			v[n++] = &s->c[i];
		}
	}
	if (rc >= 0) {
		struct ms_q_cand **tmp = core_xmalloc((n + 1) * sizeof(*tmp));
		ms_q_msort(s, v, tmp, n);
		free(tmp);
		uint64_t *ids = core_xmalloc((n + 1) * sizeof(*ids));
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (!s->q->collapse_threads || ms_q_seen_add(s, v[i]->e.thread_id))
				ids[m++] = v[i]->e.id;
		rc = ms_q_page(s, ids, m, m);
		free(ids);
	}
	free(v);
	return rc;
}

int mailstore_email_query(struct mailstore *ms, uint64_t account, const struct mailstore_query *q,
			  struct core_arena *a, struct mailstore_query_result *out,
			  struct core_error *err)
{
	if (q == NULL || out == NULL || a == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "mailstore_email_query: argument");
	memset(out, 0, sizeof(*out));
	/* No comparator: receivedAt descending (the order is ours to choose, RFC 8620 §5.5). */
	static const struct mailstore_sort by_date = {.prop = MAILSTORE_SORT_RECEIVED_AT};
	struct mailstore_query dq;
	if (q->nsort == 0) {
		dq = *q;
		dq.sort = &by_date;
		dq.nsort = 1;
		q = &dq;
	}
	struct ms_q *s = core_xcalloc(1, sizeof(*s));
	s->ms = ms;
	s->account = account;
	s->q = q;
	s->a = a;
	s->w = core_arena_new(0);
	s->err = err;
	s->out = out;
	core_error_clear(err);
	int rc = ms_q_check_sort(s);
	if (rc >= 0 && q->filter != NULL) {
		s->has_filter = true;
		rc = ms_q_compile(s, q->filter, &s->root, 0);
	}
	if (rc >= 0 && q->has_anchor && q->anchor == 0)
		rc = core_error_set(err, CORE_ESYNTAX, NULL, "bad anchor");
	if (rc >= 0) {
		/* Candidates come from one mailbox when the filter requires it at the top. */
		const struct mailstore_filter *f = q->filter;
		if (f != NULL && f->op == MAILSTORE_FILTER_COND && f->has_in_mailbox)
			s->mailbox = f->in_mailbox;
		for (size_t i = 0; f != NULL && f->op == MAILSTORE_FILTER_AND &&
				   i < f->nconditions && s->mailbox == 0;
		     i++)
			if (f->conditions[i].op == MAILSTORE_FILTER_COND &&
			    f->conditions[i].has_in_mailbox)
				s->mailbox = f->conditions[i].in_mailbox;
		s->fast = f != NULL && ms_q_only_mailbox(f) && q->nsort == 1 &&
			  q->sort[0].prop == MAILSTORE_SORT_RECEIVED_AT;
		/* The page end when it is known before the scan (0: read to the end). */
		if (s->fast && q->has_limit && !q->has_anchor && q->position >= 0)
			s->fast_need = ms_q_end((uint64_t)q->position, q->limit);
		s->fast_skip = s->fast && q->has_limit && q->limit == 0 && !q->has_anchor;
		rc = ms_tx_read(ms, account, ms_q_read_fn, s, err);
	}
	if (rc >= 0) {
		out->query_state = s->modseq;
		if (s->account_missing || s->mailbox_missing) {
			rc = ms_q_page(s, NULL, 0, 0);
		} else if (s->fast) {
			uint64_t total =
				q->collapse_threads ? s->mbox.total_threads : s->mbox.total;
			rc = ms_q_page(s, s->fast_ids, s->nfast, total);
		} else {
			rc = ms_q_general(s);
		}
	}
	free(s->c);
	free(s->fast_ids);
	free(s->unindexed);
	free(s->seen);
	core_arena_free(&s->w);
	free(s);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Fetch                                                                              */
/* ---------------------------------------------------------------------------------- */

struct ms_fetch {
	uint64_t account;
	const uint64_t *ids;
	size_t n;
	struct core_arena *a;
	struct mailstore_email *e;
	struct mailstore_parsed *p;
	bool *found;
};

static int ms_fetch_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_fetch *f = ctx;
	struct store_mget *mg = core_xcalloc(2 * MS_Q_BATCH, sizeof(*mg));
	uint8_t(*keys)[32] = core_xmalloc(2 * MS_Q_BATCH * 32);
	int rc = 0;
	for (size_t off = 0; off < f->n && rc >= 0; off += MS_Q_BATCH) {
		size_t m = f->n - off < MS_Q_BATCH ? f->n - off : MS_Q_BATCH;
		for (size_t i = 0; i < m; i++) {
			mg[2 * i].key = keys[2 * i];
			mg[2 * i].klen =
				ms_key_id(keys[2 * i], f->account, MS_F_EMAIL, f->ids[off + i]);
			mg[2 * i + 1].key = keys[2 * i + 1];
			mg[2 * i + 1].klen = ms_key_id(keys[2 * i + 1], f->account, MS_F_PARSED,
						       f->ids[off + i]);
			mg[2 * i].val = (struct core_buf)CORE_BUF_INIT;
			mg[2 * i + 1].val = (struct core_buf)CORE_BUF_INIT;
		}
		rc = store_txn_multi_get(tx->t, mg, 2 * m, tx->err);
		for (size_t i = 0; i < m && rc >= 0; i++) {
			size_t j = off + i;
			f->found[j] = mg[2 * i].found && mg[2 * i + 1].found;
			if (!f->found[j])
				continue;
			if (f->e != NULL) {
				memset(&f->e[j], 0, sizeof(f->e[j]));
				f->e[j].id = f->ids[j];
				if (ms_email_decode(mg[2 * i].val.p, mg[2 * i].val.len, f->a,
						    &f->e[j]) < 0)
					rc = core_error_set(tx->err, CORE_EINTERNAL, NULL,
							    "corrupt email record");
			}
			if (rc >= 0 && f->p != NULL &&
			    ms_parsed_decode(mg[2 * i + 1].val.p, mg[2 * i + 1].val.len, f->a,
					     &f->p[j]) < 0)
				rc = core_error_set(tx->err, CORE_EINTERNAL, NULL,
						    "corrupt parsed record");
		}
		for (size_t i = 0; i < 2 * m; i++)
			core_buf_fini(&mg[i].val);
	}
	free(keys);
	free(mg);
	return rc;
}

int mailstore_email_fetch(struct mailstore *ms, uint64_t account, const uint64_t *ids, size_t n,
			  struct core_arena *a, struct mailstore_email *emails_out,
			  struct mailstore_parsed *parsed_out, bool *found_out,
			  struct core_error *err)
{
	if (n > 0 && (ids == NULL || found_out == NULL))
		return core_error_set(err, CORE_EINTERNAL, NULL, "mailstore_email_fetch: argument");
	struct ms_fetch f = {account, ids, n, a, emails_out, parsed_out, found_out};
	for (size_t i = 0; i < n; i++)
		found_out[i] = false;
	return ms_tx_read(ms, account, ms_fetch_fn, &f, err);
}
