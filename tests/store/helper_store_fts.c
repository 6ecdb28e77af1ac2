/*
 * helper_store_fts.c: full-text store cases of the conformance suite (issue 3: index a
 * document's terms with positions and fields; query terms and phrases with AND/OR/NOT;
 * delete a document), on the data store of store_test_env.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "helper_store.h"

static struct store_fts *fts;

enum { F_SUBJECT = 0, F_BODY = 1 };

static void fts_setup(void)
{
	store_test_setup();
	ck_assert_int_eq(store_fts_open_data(store_test_data, &fts, NULL), 0);
}

static void fts_teardown(void)
{
	store_fts_free(&fts);
	store_test_teardown();
}

/* Index words of a text (split at spaces) into a field, positions from 0. */
static void index_doc(uint64_t acct, uint64_t doc, const char *subject, const char *body)
{
	struct store_fts_term terms[64];
	size_t n = 0;
	const char *texts[2] = {subject, body};
	for (int f = 0; f < 2; f++) {
		const char *p = texts[f];
		uint32_t pos = 0;
		while (p != NULL && *p != '\0') {
			while (*p == ' ')
				p++;
			const char *e = p;
			while (*e != '\0' && *e != ' ')
				e++;
			if (e > p) {
				ck_assert_uint_lt(n, 64);
				terms[n++] = (struct store_fts_term){(uint8_t)f, p, (size_t)(e - p),
								     pos++};
			}
			p = e;
		}
	}
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_fts_index(fts, acct, doc, terms, n, &err) == 0, "index: %s", err.msg);
}

static void expect_docs(uint64_t acct, const struct store_fts_query *q, const char *want)
{
	uint64_t *docs = NULL;
	size_t n = 0;
	struct core_error err;
	core_error_clear(&err);
	int rc = store_fts_search(fts, acct, q, &docs, &n, &err);
	ck_assert_msg(rc == 0, "search: %s", err.msg);
	char got[256] = "";
	for (size_t i = 0; i < n; i++) {
		char one[24];
		snprintf(one, sizeof(one), "%s%llu", i ? "," : "", (unsigned long long)docs[i]);
		strncat(got, one, sizeof(got) - strlen(got) - 1);
	}
	free(docs);
	ck_assert_str_eq(got, want);
}

#define TERM(name, fld, word)                           \
	struct core_str name##_w[1] = {CORE_STR(word)}; \
	struct store_fts_query name = {                 \
		.op = STORE_FTS_TERM, .field = (fld), .terms = name##_w, .nterms = 1}

static void corpus(void)
{
	index_doc(1, 10, "quarterly report", "the quick brown fox jumps over the lazy dog");
	index_doc(1, 11, "lunch", "brown bread and a quick lunch");
	index_doc(1, 12, "fox news", "nothing quick here at all");
	index_doc(1, 13, "report draft", "the lazy brown dog sleeps");
	index_doc(2, 10, "other account", "quick brown fox");
}

START_TEST(fts_terms_and_fields)
{
	corpus();
	TERM(quick, F_BODY, "quick");
	expect_docs(1, &quick, "10,11,12");
	TERM(fox_body, F_BODY, "fox");
	expect_docs(1, &fox_body, "10");
	TERM(fox_subj, F_SUBJECT, "fox");
	expect_docs(1, &fox_subj, "12");
	TERM(fox_any, STORE_FTS_ANY_FIELD, "fox");
	expect_docs(1, &fox_any, "10,12");
	TERM(missing, F_BODY, "zebra");
	expect_docs(1, &missing, "");
	/* Accounts do not see each other's documents. */
	expect_docs(2, &quick, "10");
	expect_docs(3, &quick, "");
}
END_TEST

START_TEST(fts_boolean)
{
	corpus();
	TERM(quick, F_BODY, "quick");
	TERM(brown, F_BODY, "brown");
	TERM(lazy, F_BODY, "lazy");
	TERM(report, F_SUBJECT, "report");
	const struct store_fts_query *and_k[] = {&quick, &brown};
	struct store_fts_query q_and = {.op = STORE_FTS_AND, .kids = and_k, .nkids = 2};
	expect_docs(1, &q_and, "10,11");
	const struct store_fts_query *or_k[] = {&lazy, &report};
	struct store_fts_query q_or = {.op = STORE_FTS_OR, .kids = or_k, .nkids = 2};
	expect_docs(1, &q_or, "10,13");
	const struct store_fts_query *not_k[] = {&lazy};
	struct store_fts_query q_not = {.op = STORE_FTS_NOT, .kids = not_k, .nkids = 1};
	expect_docs(1, &q_not, "11,12");
	/* quick AND NOT lazy */
	const struct store_fts_query *andnot_k[] = {&quick, &q_not};
	struct store_fts_query q_andnot = {.op = STORE_FTS_AND, .kids = andnot_k, .nkids = 2};
	expect_docs(1, &q_andnot, "11,12");
	/* (lazy OR report) AND NOT brown */
	const struct store_fts_query *notb_k[] = {&brown};
	struct store_fts_query q_notb = {.op = STORE_FTS_NOT, .kids = notb_k, .nkids = 1};
	const struct store_fts_query *mix_k[] = {&q_or, &q_notb};
	struct store_fts_query q_mix = {.op = STORE_FTS_AND, .kids = mix_k, .nkids = 2};
	expect_docs(1, &q_mix, "");
	/* Bad queries are errors, not crashes. */
	struct store_fts_query bad = {.op = STORE_FTS_NOT, .kids = NULL, .nkids = 0};
	uint64_t *docs = NULL;
	size_t n = 0;
	ck_assert_int_eq(store_fts_search(fts, 1, &bad, &docs, &n, NULL), CORE_ESYNTAX);
	struct core_str nul[1] = {{"a\0b", 3}};
	struct store_fts_query badterm = {
		.op = STORE_FTS_TERM, .field = F_BODY, .terms = nul, .nterms = 1};
	ck_assert_int_eq(store_fts_search(fts, 1, &badterm, &docs, &n, NULL), CORE_ESYNTAX);
	/* Nesting is bounded. */
	struct store_fts_query chain[40];
	const struct store_fts_query *kid[40];
	chain[0] = quick;
	for (int i = 1; i < 40; i++) {
		kid[i] = &chain[i - 1];
		chain[i] =
			(struct store_fts_query){.op = STORE_FTS_OR, .kids = &kid[i], .nkids = 1};
	}
	ck_assert_int_eq(store_fts_search(fts, 1, &chain[39], &docs, &n, NULL), CORE_ELIMIT);
	ck_assert_int_eq(store_fts_search(fts, 1, &chain[20], &docs, &n, NULL), 0);
	ck_assert_uint_eq(n, 3);
	free(docs);
}
END_TEST

START_TEST(fts_phrases)
{
	corpus();
	struct core_str qb[] = {CORE_STR("quick"), CORE_STR("brown")};
	struct store_fts_query p1 = {
		.op = STORE_FTS_PHRASE, .field = F_BODY, .terms = qb, .nterms = 2};
	expect_docs(1, &p1, "10"); /* doc 11 has both words, not adjacent */
	struct core_str bq[] = {CORE_STR("brown"), CORE_STR("quick")};
	struct store_fts_query p2 = {
		.op = STORE_FTS_PHRASE, .field = F_BODY, .terms = bq, .nterms = 2};
	expect_docs(1, &p2, "");
	struct core_str ld[] = {CORE_STR("the"), CORE_STR("lazy"), CORE_STR("brown"),
				CORE_STR("dog")};
	struct store_fts_query p3 = {
		.op = STORE_FTS_PHRASE, .field = F_BODY, .terms = ld, .nterms = 4};
	expect_docs(1, &p3, "13");
	struct store_fts_query p4 = {
		.op = STORE_FTS_PHRASE, .field = F_BODY, .terms = ld, .nterms = 2};
	expect_docs(1, &p4, "10,13"); /* "the lazy" */
	struct core_str qr[] = {CORE_STR("quarterly"), CORE_STR("report")};
	struct store_fts_query p5 = {
		.op = STORE_FTS_PHRASE, .field = STORE_FTS_ANY_FIELD, .terms = qr, .nterms = 2};
	expect_docs(1, &p5, "10");
	p5.field = F_BODY;
	expect_docs(1, &p5, "");
}
END_TEST

START_TEST(fts_reindex_and_delete)
{
	corpus();
	TERM(fox, STORE_FTS_ANY_FIELD, "fox");
	TERM(cat, F_BODY, "cat");
	expect_docs(1, &fox, "10,12");
	/* Re-indexing replaces the old terms. */
	index_doc(1, 10, "quarterly report", "the quick brown cat");
	expect_docs(1, &fox, "12");
	expect_docs(1, &cat, "10");
	ck_assert_int_eq(store_fts_delete(fts, 1, 12, NULL), 0);
	ck_assert_int_eq(store_fts_delete(fts, 1, 999, NULL), 0);
	expect_docs(1, &fox, "");
	/* The deleted document is gone from NOT's universe too. */
	const struct store_fts_query *k[] = {&cat};
	struct store_fts_query q_not = {.op = STORE_FTS_NOT, .kids = k, .nkids = 1};
	expect_docs(1, &q_not, "11,13");
	expect_docs(2, &fox, "10");
}
END_TEST

Suite *store_suite_fts(void)
{
	Suite *s = suite_create("fts");
	TCase *tc = tcase_create("fts");
	tcase_add_checked_fixture(tc, fts_setup, fts_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fts_terms_and_fields);
	tcase_add_test(tc, fts_boolean);
	tcase_add_test(tc, fts_phrases);
	tcase_add_test(tc, fts_reindex_and_delete);
	suite_add_tcase(s, tc);
	return s;
}
