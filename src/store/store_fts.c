/*
 * store_fts.c: the full-text store, a term index built on the data store
 * (ARCHITECTURE.md §4). Keys in STORE_SPACE_FTS:
 *   'P' be64 account, u8 field, term, 0x00, be64 doc  -> be32 positions, ascending
 *   'D' be64 account, be64 doc                        -> (u8 field, u8 len, term)...
 * The 0x00 after the term ends it (terms hold no NUL), so the postings of one (field, term)
 * are exactly the keys with prefix 'P' account field term 0x00, in document order. The 'D'
 * record lists what a document indexed, so re-indexing and deletion remove exactly its
 * postings. Queries read one snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

#define FTS_DEPTH_MAX 32

struct store_fts {
	struct store_data *d;
};

/* A sorted set of document ids. */
struct fts_set {
	uint64_t *v;
	size_t n, cap;
};

static void fts_set_add(struct fts_set *s, uint64_t x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = core_xrealloc(s->v, s->cap * sizeof(uint64_t));
	}
	s->v[s->n++] = x;
}

static void fts_set_and(struct fts_set *a, const struct fts_set *b)
{
	size_t i = 0, j = 0, w = 0;
	while (i < a->n && j < b->n) {
		if (a->v[i] < b->v[j]) {
			i++;
		} else if (a->v[i] > b->v[j]) {
			j++;
		} else {
			a->v[w++] = a->v[i];
			i++;
			j++;
		}
	}
	a->n = w;
}

static void fts_set_minus(struct fts_set *a, const struct fts_set *b)
{
	size_t i = 0, j = 0, w = 0;
	while (i < a->n) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		if (j < b->n && b->v[j] == a->v[i])
			i++;
		else
			a->v[w++] = a->v[i++];
	}
	a->n = w;
}

static void fts_set_or(struct fts_set *a, const struct fts_set *b)
{
	struct fts_set r = {0};
	size_t i = 0, j = 0;
	while (i < a->n || j < b->n) {
		if (j >= b->n || (i < a->n && a->v[i] < b->v[j]))
			fts_set_add(&r, a->v[i++]);
		else if (i >= a->n || b->v[j] < a->v[i])
			fts_set_add(&r, b->v[j++]);
		else {
			fts_set_add(&r, a->v[i]);
			i++;
			j++;
		}
	}
	free(a->v);
	*a = r;
}

static int fts_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Sort and drop duplicates (unions over several fields). */
static void fts_set_normalize(struct fts_set *s)
{
	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(uint64_t), fts_u64_cmp);
	size_t w = 1;
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i] != s->v[w - 1])
			s->v[w++] = s->v[i];
	s->n = w;
}

/* ---------------------------------------------------------------- keys */

static int fts_term_check(const char *t, size_t len, struct core_error *err)
{
	if (t == NULL || len == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "empty full-text term");
	if (len > STORE_FTS_TERM_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "full-text term exceeds %u bytes",
				      STORE_FTS_TERM_MAX);
	if (memchr(t, 0, len) != NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "full-text term holds a NUL byte");
	return 0;
}

/* 'P' account field term 0x00: the prefix of one (field, term)'s postings. */
static size_t fts_pkey(uint8_t *k, uint64_t account, uint8_t field, const char *t, size_t tl)
{
	k[0] = 'P';
	store_be64_put(k + 1, account);
	k[9] = field;
	memcpy(k + 10, t, tl);
	k[10 + tl] = 0;
	return 11 + tl;
}

static size_t fts_dkey(uint8_t *k, uint64_t account, uint64_t doc)
{
	k[0] = 'D';
	store_be64_put(k + 1, account);
	store_be64_put(k + 9, doc);
	return 17;
}

/* ---------------------------------------------------------------- open */

int store_fts_open_data(struct store_data *d, struct store_fts **out, struct core_error *err)
{
	if (d == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "no data store");
	struct store_fts *f = core_xcalloc(1, sizeof(*f));
	f->d = d;
	*out = f;
	return 0;
}

void store_fts_free(struct store_fts **f)
{
	if (f == NULL || *f == NULL)
		return;
	free(*f);
	*f = NULL;
}

/* ---------------------------------------------------------------- indexing */

/* Remove the postings listed in the document's 'D' record, and the record. */
static int fts_unindex(struct store_txn *t, uint64_t account, uint64_t doc, struct core_error *err)
{
	uint8_t dk[17];
	size_t dl = fts_dkey(dk, account, doc);
	struct core_buf rec = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_FTS, dk, dl, true, &rec, err);
	if (rc == CORE_ENOTFOUND) {
		core_buf_fini(&rec);
		return 0;
	}
	const uint8_t *p = (const uint8_t *)rec.p;
	for (size_t off = 0; rc == 0 && off + 2 <= rec.len;) {
		uint8_t field = p[off], tl = p[off + 1];
		if (off + 2 + tl > rec.len || tl == 0)
			break;
		uint8_t k[STORE_KEY_MAX];
		size_t kl = fts_pkey(k, account, field, (const char *)p + off + 2, tl);
		store_be64_put(k + kl, doc);
		rc = store_txn_raw_del(t, STORE_SPACE_FTS, k, kl + 8, err);
		off += 2u + tl;
	}
	if (rc == 0)
		rc = store_txn_raw_del(t, STORE_SPACE_FTS, dk, dl, err);
	core_buf_fini(&rec);
	return rc;
}

static int fts_term_cmp(const void *a, const void *b)
{
	const struct store_fts_term *x = a, *y = b;
	if (x->field != y->field)
		return x->field < y->field ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->term, y->term, n);
	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

struct fts_index_arg {
	uint64_t account, doc;
	struct store_fts_term *terms; /* sorted copy */
	size_t n;
	bool delete_only;
};

static int fts_index_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct fts_index_arg *a = arg;
	int rc = fts_unindex(t, a->account, a->doc, err);
	if (rc < 0 || a->delete_only)
		return rc;
	if (a->n == 0)
		return 0;
	struct core_buf rec = CORE_BUF_INIT, pos = CORE_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < a->n;) {
		size_t j = i;
		core_buf_reset(&pos);
		uint32_t last = 0;
		for (; j < a->n && a->terms[j].field == a->terms[i].field &&
		       a->terms[j].len == a->terms[i].len &&
		       memcmp(a->terms[j].term, a->terms[i].term, a->terms[i].len) == 0;
		     j++) {
			if (j > i && a->terms[j].pos == last)
				continue; /* same position twice */
			uint8_t p4[4];
			store_be32_put(p4, a->terms[j].pos);
			core_buf_append(&pos, p4, 4);
			last = a->terms[j].pos;
		}
		uint8_t k[STORE_KEY_MAX];
		size_t kl = fts_pkey(k, a->account, a->terms[i].field, a->terms[i].term,
				     a->terms[i].len);
		store_be64_put(k + kl, a->doc);
		/* Positions of one term in one document over 64 KiB (16k occurrences) are
		 * capped: the phrase matcher then sees the first 16k. */
		size_t pl = pos.len > STORE_CHUNK_SIZE ? STORE_CHUNK_SIZE : pos.len;
		rc = store_txn_raw_put(t, STORE_SPACE_FTS, k, kl + 8, pos.p, pl, err);
		uint8_t hdr[2] = {a->terms[i].field, (uint8_t)a->terms[i].len};
		core_buf_append(&rec, hdr, 2);
		core_buf_append(&rec, a->terms[i].term, a->terms[i].len);
		i = j;
	}
	/* The 'D' record lists every (field, term); a huge document may need several
	 * records' worth: refuse it rather than lose track of postings. */
	if (rc == 0 && rec.len > STORE_CHUNK_SIZE)
		rc = core_error_set(err, CORE_ELIMIT, NULL,
				    "document has too many distinct terms to index");
	if (rc == 0) {
		uint8_t dk[17];
		rc = store_txn_raw_put(t, STORE_SPACE_FTS, dk, fts_dkey(dk, a->account, a->doc),
				       rec.p != NULL ? rec.p : "", rec.len, err);
	}
	core_buf_fini(&rec);
	core_buf_fini(&pos);
	return rc;
}

int store_fts_index(struct store_fts *f, uint64_t account, uint64_t doc,
		    const struct store_fts_term *terms, size_t n, struct core_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = fts_term_check(terms[i].term, terms[i].len, err);
		if (rc < 0)
			return rc;
		if (terms[i].field >= STORE_FTS_FIELDS)
			return core_error_set(err, CORE_ESYNTAX, NULL, "full-text field %u > %u",
					      terms[i].field, STORE_FTS_FIELDS - 1);
	}
	struct fts_index_arg a = {account, doc, NULL, n, false};
	if (n > 0) {
		a.terms = core_xmalloc(n * sizeof(*a.terms));
		memcpy(a.terms, terms, n * sizeof(*a.terms));
		qsort(a.terms, n, sizeof(*a.terms), fts_term_cmp);
	}
	int rc = store_data_write_retry(f->d, fts_index_fn, &a, err);
	free(a.terms);
	return rc;
}

int store_fts_delete(struct store_fts *f, uint64_t account, uint64_t doc, struct core_error *err)
{
	struct fts_index_arg a = {account, doc, NULL, 0, true};
	return store_data_write_retry(f->d, fts_index_fn, &a, err);
}

/* ---------------------------------------------------------------- search */

struct fts_posting_scan {
	struct fts_set *docs;
	struct core_buf *positions; /* optional: u32 count + positions per doc, in order */
};

static int fts_posting_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct fts_posting_scan *s = arg;
	if (kl < 8)
		return CORE_EIO;
	fts_set_add(s->docs, store_be64_get((const uint8_t *)k + kl - 8));
	if (s->positions != NULL) {
		uint8_t n4[4];
		store_be32_put(n4, (uint32_t)(vl / 4));
		core_buf_append(s->positions, n4, 4);
		core_buf_append(s->positions, v, vl - vl % 4);
	}
	return 0;
}

/* Documents holding term in field (a field, or every field). */
static int fts_term_docs(struct store_txn *t, uint64_t account, uint8_t field, struct core_str term,
			 struct fts_set *out, struct core_buf *positions, struct core_error *err)
{
	int rc = fts_term_check(term.p, term.len, err);
	if (rc < 0)
		return rc;
	uint8_t lo = field, hi = field;
	if (field == STORE_FTS_ANY_FIELD) {
		lo = 0;
		hi = STORE_FTS_FIELDS - 1;
	} else if (field >= STORE_FTS_FIELDS) {
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad full-text field");
	}
	for (unsigned f = lo; f <= hi; f++) {
		uint8_t k[STORE_KEY_MAX], up[STORE_KEY_MAX];
		size_t kl = fts_pkey(k, account, (uint8_t)f, term.p, term.len);
		struct store_range r;
		store_range_prefix(&r, k, kl, up);
		struct fts_posting_scan s = {out, positions};
		rc = store_txn_raw_scan(t, STORE_SPACE_FTS, &r, fts_posting_cb, &s, err);
		if (rc < 0)
			return rc;
	}
	if (field == STORE_FTS_ANY_FIELD)
		fts_set_normalize(out);
	return 0;
}

static int fts_all_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	if (kl != 17)
		return 0;
	fts_set_add(arg, store_be64_get((const uint8_t *)k + 9));
	return 0;
}

/* Every indexed document of the account (the universe of NOT). */
static int fts_all_docs(struct store_txn *t, uint64_t account, struct fts_set *out,
			struct core_error *err)
{
	uint8_t k[9], up[STORE_KEY_MAX];
	k[0] = 'D';
	store_be64_put(k + 1, account);
	struct store_range r;
	store_range_prefix(&r, k, sizeof(k), up);
	int rc = store_txn_raw_scan(t, STORE_SPACE_FTS, &r, fts_all_cb, out, err);
	return rc < 0 ? rc : 0;
}

/* Positions of a term in one document and field, or NULL/0. */
static const uint8_t *fts_positions(struct store_txn *t, uint64_t account, uint8_t field,
				    struct core_str term, uint64_t doc, struct core_buf *buf,
				    size_t *n_out, struct core_error *err, int *rc_out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = fts_pkey(k, account, field, term.p, term.len);
	store_be64_put(k + kl, doc);
	*n_out = 0;
	int rc = store_txn_raw_get(t, STORE_SPACE_FTS, k, kl + 8, false, buf, err);
	*rc_out = rc == CORE_ENOTFOUND ? 0 : rc;
	if (rc < 0)
		return NULL;
	*n_out = buf->len / 4;
	return (const uint8_t *)buf->p;
}

static bool fts_has_pos(const uint8_t *p, size_t n, uint32_t want)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t v = store_be32_get(p + 4 * mid);
		if (v == want)
			return true;
		if (v < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int fts_phrase(struct store_txn *t, uint64_t account, const struct store_fts_query *q,
		      struct fts_set *out, struct core_error *err)
{
	if (q->nterms == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "empty phrase");
	unsigned lo = q->field, hi = q->field;
	if (q->field == STORE_FTS_ANY_FIELD) {
		lo = 0;
		hi = STORE_FTS_FIELDS - 1;
	}
	int rc = 0;
	struct core_buf *bufs = core_xcalloc(q->nterms, sizeof(struct core_buf));
	for (unsigned f = lo; rc == 0 && f <= hi; f++) {
		/* Candidates: documents holding every term in this field. */
		struct fts_set cand = {0};
		rc = fts_term_docs(t, account, (uint8_t)f, q->terms[0], &cand, NULL, err);
		for (size_t i = 1; rc == 0 && i < q->nterms && cand.n > 0; i++) {
			struct fts_set more = {0};
			rc = fts_term_docs(t, account, (uint8_t)f, q->terms[i], &more, NULL, err);
			fts_set_and(&cand, &more);
			free(more.v);
		}
		for (size_t c = 0; rc == 0 && c < cand.n; c++) {
			const uint8_t **pos = core_xcalloc(q->nterms, sizeof(*pos));
			size_t *np = core_xcalloc(q->nterms, sizeof(size_t));
			for (size_t i = 0; rc == 0 && i < q->nterms; i++)
				pos[i] = fts_positions(t, account, (uint8_t)f, q->terms[i],
						       cand.v[c], &bufs[i], &np[i], err, &rc);
			/* Consecutive positions: term i at p + i for some p of term 0. */
			bool match = false;
			for (size_t a = 0; rc == 0 && !match && a < np[0]; a++) {
				uint32_t p0 = store_be32_get(pos[0] + 4 * a);
				match = true;
				for (size_t i = 1; match && i < q->nterms; i++)
					match = p0 <= UINT32_MAX - i &&
						fts_has_pos(pos[i], np[i], p0 + (uint32_t)i);
			}
			if (match)
				fts_set_add(out, cand.v[c]);
			free(pos);
			free(np);
		}
		free(cand.v);
	}
	for (size_t i = 0; i < q->nterms; i++)
		core_buf_fini(&bufs[i]);
	free(bufs);
	fts_set_normalize(out);
	return rc;
}

static int fts_eval(struct store_txn *t, uint64_t account, const struct store_fts_query *q,
		    int depth, struct fts_set *out, struct core_error *err)
{
	if (q == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "empty query");
	if (depth > FTS_DEPTH_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "query nests deeper than %d",
				      FTS_DEPTH_MAX);
	int rc = 0;
	switch (q->op) {
	case STORE_FTS_TERM:
		if (q->nterms != 1)
			return core_error_set(err, CORE_ESYNTAX, NULL, "a term query has one term");
		return fts_term_docs(t, account, q->field, q->terms[0], out, NULL, err);
	case STORE_FTS_PHRASE:
		return fts_phrase(t, account, q, out, err);
	case STORE_FTS_OR:
		for (size_t i = 0; rc == 0 && i < q->nkids; i++) {
			struct fts_set k = {0};
			rc = fts_eval(t, account, q->kids[i], depth + 1, &k, err);
			if (rc == 0)
				fts_set_or(out, &k);
			free(k.v);
		}
		return rc;
	case STORE_FTS_NOT: {
		if (q->nkids != 1)
			return core_error_set(err, CORE_ESYNTAX, NULL, "NOT takes one operand");
		struct fts_set k = {0};
		rc = fts_all_docs(t, account, out, err);
		if (rc == 0)
			rc = fts_eval(t, account, q->kids[0], depth + 1, &k, err);
		if (rc == 0)
			fts_set_minus(out, &k);
		free(k.v);
		return rc;
	}
	case STORE_FTS_AND: {
		if (q->nkids == 0)
			return core_error_set(err, CORE_ESYNTAX, NULL, "AND without operands");
		bool have = false;
		/* Positive operands first (they bound the result), then NOT operands subtract. */
		for (size_t i = 0; rc == 0 && i < q->nkids; i++) {
			if (q->kids[i] == NULL || q->kids[i]->op == STORE_FTS_NOT)
				continue;
			struct fts_set k = {0};
			rc = fts_eval(t, account, q->kids[i], depth + 1, &k, err);
			if (rc == 0 && !have) {
				free(out->v);
				*out = k;
				k = (struct fts_set){0};
				have = true;
			} else if (rc == 0) {
				fts_set_and(out, &k);
			}
			free(k.v);
		}
		if (rc == 0 && !have)
			rc = fts_all_docs(t, account, out, err);
		for (size_t i = 0; rc == 0 && i < q->nkids; i++) {
			if (q->kids[i] == NULL || q->kids[i]->op != STORE_FTS_NOT)
				continue;
			if (q->kids[i]->nkids != 1)
				return core_error_set(err, CORE_ESYNTAX, NULL,
						      "NOT takes one operand");
			struct fts_set k = {0};
			rc = fts_eval(t, account, q->kids[i]->kids[0], depth + 1, &k, err);
			if (rc == 0)
				fts_set_minus(out, &k);
			free(k.v);
		}
		return rc;
	}
	}
	return core_error_set(err, CORE_ESYNTAX, NULL, "unknown query operator");
}

int store_fts_search(struct store_fts *f, uint64_t account, const struct store_fts_query *q,
		     uint64_t **docs_out, size_t *n_out, struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(f->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	struct fts_set s = {0};
	rc = fts_eval(t, account, q, 0, &s, err);
	store_txn_abort(&t);
	if (rc < 0) {
		free(s.v);
		return rc;
	}
	*docs_out = s.v;
	*n_out = s.n;
	return 0;
}
