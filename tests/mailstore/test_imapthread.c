/*
 * test_imapthread.c: IMAP THREAD (RFC 5256 §3 ORDEREDSUBJECT and REFERENCES, §4 response
 * syntax) over stored fields: the examples of RFC 5256 §4, References chains, In-Reply-To
 * fallback, loops, missing and repeated Message-IDs, subject gathering, sent dates, a large
 * input, and one run through a mail store on SQLite.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailstore/mailstore_imapthread.h"

/* One message of a case: ids are space-separated lists; date 0 means no Date: header. */
struct spec {
	uint32_t num;
	const char *subject;
	int64_t date;
	const char *id, *irt, *refs;
	int64_t internal;
};

static const char **split(struct core_arena *a, const char *s, size_t *n_out)
{
	*n_out = 0;
	if (s == NULL)
		return NULL;
	size_t len = strlen(s);
	const char **v = core_arena_zalloc(a, (len / 2 + 2) * sizeof(*v));
	char *c = core_arena_strdup(a, s);
	for (char *save = NULL, *t = strtok_r(c, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		v[(*n_out)++] = strcmp(t, "''") == 0 ? "" : t;
	return v;
}

static void build(struct core_arena *a, const struct spec *s, size_t n,
		  struct mailstore_imapthread_msg *m)
{
	for (size_t i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].num = s[i].num;
		m[i].subject = s[i].subject;
		m[i].has_sent_at = s[i].date != 0;
		m[i].sent_at = s[i].date;
		m[i].internal_date = s[i].internal;
		m[i].message_ids = split(a, s[i].id, &m[i].nmessage_ids);
		m[i].in_reply_to = split(a, s[i].irt, &m[i].nin_reply_to);
		m[i].references = split(a, s[i].refs, &m[i].nreferences);
	}
}

/* Count the messages of a tree and check each num appears once; dummies only at the top
 * with two or more children. Walks with its own stack: chains may be 10,000 deep. */
struct tc_frame {
	const struct mailstore_imapthread_node *t;
	size_t n, i;
	bool top;
};

static size_t tree_check(const struct mailstore_imapthread_node *t, size_t n, bool top,
			 unsigned char *seen, size_t seen_len)
{
	size_t cap = 64, depth = 0, count = 0;
	struct tc_frame *st = malloc(cap * sizeof(*st));
	ck_assert_ptr_nonnull(st);
	st[depth++] = (struct tc_frame){t, n, 0, top};
	while (depth > 0) {
		struct tc_frame *f = &st[depth - 1];
		if (f->i == f->n) {
			depth--;
			continue;
		}
		bool at_top = f->top;
		const struct mailstore_imapthread_node *x = &f->t[f->i++];
		if (x->num == 0) {
			ck_assert_msg(at_top, "dummy below the top level");
			ck_assert_uint_ge(x->nchildren, 2);
		} else {
			ck_assert_uint_lt(x->num, seen_len);
			ck_assert_msg(!seen[x->num], "message %u twice", x->num);
			seen[x->num] = 1;
			count++;
		}
		if (x->nchildren > 0) {
			if (depth == cap) {
				cap *= 2;
				st = realloc(st, cap * sizeof(*st));
				ck_assert_ptr_nonnull(st);
			}
			st[depth++] = (struct tc_frame){x->children, x->nchildren, 0, false};
		}
	}
	free(st);
	return count;
}

/* Thread specs with algo and return the formatted response (static buffer). */
static const char *run(const struct spec *s, size_t n, enum mailstore_imapthread_algo algo)
{
	static char result[4096];
	struct core_arena *a = core_arena_new(0);
	struct mailstore_imapthread_msg *m = core_arena_zalloc(a, (n + 1) * sizeof(*m));
	build(a, s, n, m);
	struct mailstore_imapthread_node *t;
	size_t nt;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(mailstore_imapthread_compute(m, n, algo, a, &t, &nt, &err), 0);
	unsigned char seen[1024] = {0};
	ck_assert_uint_eq(tree_check(t, nt, true, seen, sizeof(seen)), n);
	struct core_buf b = CORE_BUF_INIT;
	mailstore_imapthread_format(t, nt, &b);
	snprintf(result, sizeof(result), "%s", b.p != NULL ? core_buf_cstr(&b) : "");
	core_buf_fini(&b);
	core_arena_free(&a);
	return result;
}

#define REF MAILSTORE_IMAPTHREAD_REFERENCES
#define ORD MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT
#define T0 1700000000

/* ------------------------------------------------------------------------------------ */

START_TEST(test_thread_format_rfc_examples)
{
	/* RFC 5256 §4: (2)(3 6 (4 23)(44 7 96)) */
	struct mailstore_imapthread_node n23 = {23, NULL, 0}, n96 = {96, NULL, 0};
	struct mailstore_imapthread_node n7 = {7, &n96, 1}, n4 = {4, &n23, 1};
	struct mailstore_imapthread_node n44 = {44, &n7, 1};
	struct mailstore_imapthread_node six[2] = {n4, n44};
	struct mailstore_imapthread_node n6 = {6, six, 2};
	struct mailstore_imapthread_node top[2] = {{2, NULL, 0}, {3, &n6, 1}};
	struct core_buf b = CORE_BUF_INIT;
	mailstore_imapthread_format(top, 2, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "(2)(3 6 (4 23)(44 7 96))");
	/* RFC 5256 §4: ((3)(5)), two messages under one that is not in the result. */
	struct mailstore_imapthread_node kids[2] = {{3, NULL, 0}, {5, NULL, 0}};
	struct mailstore_imapthread_node dummy = {0, kids, 2};
	core_buf_reset(&b);
	mailstore_imapthread_format(&dummy, 1, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "((3)(5))");
	/* No threads: empty data. */
	core_buf_reset(&b);
	mailstore_imapthread_format(NULL, 0, &b);
	ck_assert_uint_eq(b.len, 0);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_thread_references_rfc_example)
{
	/* Builds the §4 example tree from headers; the numbers are not in date order (the
	 * messages were moved in at different times). */
	static const struct spec s[] = {
		{2, "Lunch", T0 + 1, "m2", NULL, NULL, 0},
		{3, "Plan", T0 + 2, "m3", NULL, NULL, 0},
		{6, "Re: Plan", T0 + 3, "m6", NULL, "m3", 0},
		{4, "Re: Plan", T0 + 4, "m4", NULL, "m3 m6", 0},
		{23, "Re: Plan", T0 + 5, "m23", NULL, "m3 m6 m4", 0},
		{44, "Re: Plan", T0 + 6, "m44", NULL, "m3 m6", 0},
		{7, "Re: Plan", T0 + 7, "m7", NULL, "m3 m6 m44", 0},
		{96, "Re: Plan", T0 + 8, "m96", NULL, "m3 m6 m44 m7", 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(2)(3 6 (4 23)(44 7 96))");
}
END_TEST

START_TEST(test_thread_references_missing_parent)
{
	/* RFC 5256 §4 "((3)(5))": siblings under a message that is not there. */
	static const struct spec s[] = {
		{3, "Re: Trip", T0 + 1, "a3", NULL, "gone", 0},
		{5, "Re: Trip", T0 + 2, "a5", NULL, "gone", 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "((3)(5))");
	/* A missing parent with one child: the child is promoted to the top. */
	static const struct spec one[] = {
		{4, "Re: Solo", T0, "b4", NULL, "gone1 gone2", 0},
	};
	ck_assert_str_eq(run(one, CORE_NELEM(one), REF), "(4)");
	/* Missing ancestors in the middle of a chain vanish, children move up. */
	static const struct spec mid[] = {
		{1, "Root", T0, "r", NULL, NULL, 0},
		{2, "Re: Root", T0 + 2, "c2", NULL, "r lost", 0},
		{3, "Re: Root", T0 + 1, "c3", NULL, "r lost", 0},
	};
	ck_assert_str_eq(run(mid, CORE_NELEM(mid), REF), "(1 (3)(2))");
}
END_TEST

START_TEST(test_thread_references_in_reply_to_fallback)
{
	/* No References: the first valid In-Reply-To id is the parent. */
	static const struct spec s[] = {
		{1, "Q", T0, "q1", NULL, NULL, 0},
		{2, "A", T0 + 1, "q2", "q1 other", NULL, 0},
		{3, "B", T0 + 2, "q3", "'' q2", NULL, 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(1 2 3)");
	/* References wins over In-Reply-To when both are present. */
	static const struct spec w[] = {
		{1, "X", T0, "x1", NULL, NULL, 0},
		{2, "Y", T0 + 1, "x2", NULL, NULL, 0},
		{3, "Z", T0 + 2, "x3", "x1", "x2", 0},
	};
	ck_assert_str_eq(run(w, CORE_NELEM(w), REF), "(1)(2 3)");
	/* References with no valid id falls back to In-Reply-To. */
	static const struct spec e[] = {
		{1, "X", T0, "x1", NULL, NULL, 0},
		{2, "Z", T0 + 2, "x2", "x1", "''", 0},
	};
	ck_assert_str_eq(run(e, CORE_NELEM(e), REF), "(1 2)");
}
END_TEST

START_TEST(test_thread_references_truncated_chain)
{
	/* Step 1.A keeps an existing parent; step 1.B replaces it with the last reference. */
	static const struct spec s[] = {
		{1, "A", T0, "p1", NULL, NULL, 0},
		/* Says p1 is the parent of p2 (still a dummy: 3 comes later). */
		{2, "C", T0 + 2, "p3", NULL, "p1 p2", 0},
		/* p2's own header has no references: step 1.B leaves it without a parent. */
		{3, "B", T0 + 1, "p2", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(1)(3 2)");
	static const struct spec t[] = {
		{1, "A", T0, "p1", NULL, NULL, 0},
		{2, "B", T0 + 1, "p2", NULL, "p1", 0},
		{3, "C", T0 + 2, "p3", NULL, "p2", 0},
		/* A reference chain that claims p3 under p1 is ignored: p3 already has one. */
		{4, "D", T0 + 3, "p4", NULL, "p1 p3", 0},
	};
	ck_assert_str_eq(run(t, CORE_NELEM(t), REF), "(1 2 3 4)");
}
END_TEST

START_TEST(test_thread_references_loops)
{
	/* Two messages naming each other, a message naming itself, and a References chain
	 * that repeats: every message appears once and the call returns. */
	static const struct spec s[] = {
		{1, "L1", T0, "l1", NULL, "l2", 0},
		{2, "L2", T0 + 1, "l2", NULL, "l1", 0},
		{3, "L3", T0 + 2, "l3", NULL, "l3", 0},
		{4, "L4", T0 + 3, "l4", NULL, "x y x y l4 x", 0},
		{5, "L5", T0 + 4, "x", NULL, "y x", 0},
	};
	/* 1 takes l2 as parent (step 1.B); 2's own step 1.B would put it under l1, which is
	 * below it: refused. l3 under itself: refused. For 4, step 1.A puts y under x and
	 * refuses x under y and x under l4; step 1.B moves 4 from y to x, and 5 (x) cannot go
	 * under itself. The childless dummy y is pruned. */
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(2 1)(3)(5 4)");
}
END_TEST

START_TEST(test_thread_references_missing_and_duplicate_ids)
{
	/* No Message-ID: each is unique, and threads only through its own references. */
	static const struct spec s[] = {
		{1, "Alpha", T0, NULL, NULL, NULL, 0},
		{2, "Beta", T0 + 1, NULL, NULL, NULL, 0},
		{3, "Gamma", T0 + 2, "''", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(1)(2)(3)");
	/* Repeated Message-ID: the lowest number keeps it, replies join that one. */
	static const struct spec d[] = {
		{5, "Copy", T0 + 1, "dup", NULL, NULL, 0},
		{2, "Orig", T0, "dup", NULL, NULL, 0},
		{7, "Reply", T0 + 2, "r", NULL, "dup", 0},
	};
	ck_assert_str_eq(run(d, CORE_NELEM(d), REF), "(2 7)(5)");
}
END_TEST

START_TEST(test_thread_references_quoted_ids)
{
	/* RFC 5256 §3: ids differing only by quoting are the same. */
	static const struct spec s[] = {
		{1, "Q", T0, "\"01KF8JCEOCBS0045PS\"@xxx.yyy.com", NULL, NULL, 0},
		{2, "R", T0 + 1, "z", NULL, "01KF8JCEOCBS0045PS@xxx.yyy.com", 0},
		/* Case matters (step 1.A note). */
		{3, "S", T0 + 2, "w", NULL, "01kf8jceocbs0045ps@xxx.yyy.com", 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(1 2)(3)");
}
END_TEST

START_TEST(test_thread_references_subject_gathering)
{
	/* A reply without references joins the original by base subject. */
	static const struct spec a[] = {
		{1, "Meeting", T0, "s1", NULL, NULL, 0},
		{2, "Re: Meeting", T0 + 1, "s2", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(a, CORE_NELEM(a), REF), "(1 2)");
	/* The reply came first: the original still becomes the parent. */
	static const struct spec b[] = {
		{1, "RE: [list] meeting", T0, "s1", NULL, NULL, 0},
		{2, "Meeting", T0 + 1, "s2", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(b, CORE_NELEM(b), REF), "(2 1)");
	/* Two originals with one subject: siblings under a dummy. */
	static const struct spec c[] = {
		{1, "Status", T0, "s1", NULL, NULL, 0},
		{2, "status", T0 + 1, "s2", NULL, NULL, 0},
		{3, "Fwd: Status", T0 + 2, "s3", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(c, CORE_NELEM(c), REF), "((1)(2)(3))");
	/* "(fwd)" trailer and "[fwd: ...]" wrapper make forwards; a bare [tag] does not. */
	static const struct spec d[] = {
		{1, "[list] Report", T0, "s1", NULL, NULL, 0},
		{2, "Report (fwd)", T0 + 1, "s2", NULL, NULL, 0},
		{3, "[Fwd: Report]", T0 + 2, "s3", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(d, CORE_NELEM(d), REF), "(1 (2)(3))");
	/* Two dummies with one subject merge; empty subjects are never gathered. */
	static const struct spec e[] = {
		{1, "Re: Topic", T0, "e1", NULL, "g1", 0},
		{2, "Re: Topic", T0 + 1, "e2", NULL, "g1", 0},
		{3, "Re: Topic", T0 + 2, "e3", NULL, "g2", 0},
		{4, "Re: Topic", T0 + 3, "e4", NULL, "g2", 0},
		{5, "", T0 + 4, "e5", NULL, NULL, 0},
		{6, NULL, T0 + 5, "e6", NULL, NULL, 0},
	};
	ck_assert_str_eq(run(e, CORE_NELEM(e), REF), "((1)(2)(3)(4))(5)(6)");
	/* A message thread and a later dummy thread with one subject: the dummy takes the
	 * subject table entry (step 5.B.iv) and the message joins its children. */
	static const struct spec g[] = {
		{1, "Topic", T0, "h1", NULL, NULL, 0},
		{2, "Re: Topic", T0 + 1, "h2", NULL, "lost", 0},
		{3, "Re: Topic", T0 + 2, "h3", NULL, "lost", 0},
	};
	ck_assert_str_eq(run(g, CORE_NELEM(g), REF), "((1)(2)(3))");
	/* Threads linked by references are not split by subject. */
	static const struct spec f[] = {
		{1, "One", T0, "f1", NULL, NULL, 0},
		{2, "Two", T0 + 1, "f2", NULL, "f1", 0},
	};
	ck_assert_str_eq(run(f, CORE_NELEM(f), REF), "(1 2)");
}
END_TEST

START_TEST(test_thread_sent_date_rules)
{
	/* §2.2: no Date: uses INTERNALDATE; equal dates go by number. */
	static const struct spec s[] = {
		{1, "A", T0 + 50, "d1", NULL, NULL, 0},
		{2, "B", 0, "d2", NULL, NULL, T0 + 10},
		{3, "C", T0 + 10, "d3", NULL, NULL, 0},
		{4, "D", T0 - 5, "d4", NULL, NULL, T0 + 100},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), REF), "(4)(2)(3)(1)");
	ck_assert_str_eq(run(s, CORE_NELEM(s), ORD), "(4)(2)(3)(1)");
	/* Children sorted too. */
	static const struct spec c[] = {
		{1, "P", T0, "p", NULL, NULL, 0},
		{2, "Re: P", T0 + 9, "c2", NULL, "p", 0},
		{3, "Re: P", 0, "c3", NULL, "p", T0 + 3},
		{4, "Re: P", T0 + 3, "c4", NULL, "p", 0},
	};
	ck_assert_str_eq(run(c, CORE_NELEM(c), REF), "(1 (3)(4)(2))");
}
END_TEST

START_TEST(test_thread_orderedsubject)
{
	/* §3: grouped by base subject, first message the parent of every other one, threads
	 * by the date of their first message; no grandchildren. */
	static const struct spec s[] = {
		{1, "Re: lunch", T0 + 5, NULL, NULL, NULL, 0},
		{2, "Lunch", T0 + 1, NULL, NULL, NULL, 0},
		{3, "Budget", T0 + 2, NULL, NULL, "m1", 0},
		{4, "Fwd: LUNCH", T0 + 3, NULL, NULL, NULL, 0},
		{5, "[x] Budget", T0 + 4, NULL, NULL, NULL, 0},
		{6, "", T0, NULL, NULL, NULL, 0},
		{7, "Other", T0 + 6, "z", NULL, "y", 0},
	};
	ck_assert_str_eq(run(s, CORE_NELEM(s), ORD), "(6)(2 (4)(1))(3 5)(7)");
	/* References are ignored by ORDEREDSUBJECT. */
	static const struct spec r[] = {
		{1, "A", T0, "a", NULL, NULL, 0},
		{2, "B", T0 + 1, "b", NULL, "a", 0},
	};
	ck_assert_str_eq(run(r, CORE_NELEM(r), ORD), "(1)(2)");
	ck_assert_str_eq(run(r, CORE_NELEM(r), REF), "(1 2)");
}
END_TEST

START_TEST(test_thread_bad_arguments)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_imapthread_msg m[2] = {{.num = 1}, {.num = 1}};
	struct mailstore_imapthread_node *t = (void *)1;
	size_t nt = 9;
	struct core_error err;
	ck_assert_int_eq(mailstore_imapthread_compute(m, 2, REF, a, &t, &nt, &err), CORE_ESYNTAX);
	m[1].num = 0;
	ck_assert_int_eq(mailstore_imapthread_compute(m, 2, ORD, a, &t, &nt, &err), CORE_ESYNTAX);
	m[1].num = 2;
	ck_assert_int_eq(mailstore_imapthread_compute(m, 2, 7, a, &t, &nt, &err), CORE_ESYNTAX);
	ck_assert_int_eq(mailstore_imapthread_compute(m, 0, REF, a, &t, &nt, &err), 0);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(nt, 0);
	ck_assert_int_eq(mailstore_imapthread_compute(m, 2, REF, a, &t, &nt, &err), 0);
	ck_assert_uint_eq(nt, 2);
	core_arena_free(&a);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_thread_large_input)
{
	/* 10,000 messages: threads of 10 replies with References trimmed to the last 5 ids,
	 * plus one 10,000-deep chain (In-Reply-To only), both in well under a few seconds. */
	enum { N = 10000 };
	struct core_arena *a = core_arena_new(0);
	struct mailstore_imapthread_msg *m = core_arena_zalloc(a, N * sizeof(*m));
	for (uint32_t i = 0; i < N; i++) {
		char id[32], subj[32];
		snprintf(id, sizeof(id), "id%u@x", i);
		snprintf(subj, sizeof(subj), "%sTopic %u", i % 10 ? "Re: " : "", i / 10);
		const char **ids = core_arena_zalloc(a, sizeof(*ids));
		ids[0] = core_arena_strdup(a, id);
		m[i] = (struct mailstore_imapthread_msg){.num = i + 1,
							 .subject = core_arena_strdup(a, subj),
							 .has_sent_at = true,
							 .sent_at = T0 + (int64_t)(i * 7919u % N),
							 .message_ids = ids,
							 .nmessage_ids = 1};
		uint32_t first = i - i % 10, from = i > first + 5 ? i - 5 : first;
		if (i > first) {
			const char **r = core_arena_zalloc(a, 5 * sizeof(*r));
			for (uint32_t j = from; j < i; j++) {
				snprintf(id, sizeof(id), "id%u@x", j);
				r[m[i].nreferences++] = core_arena_strdup(a, id);
			}
			m[i].references = r;
		}
	}
	unsigned char *seen = calloc(N + 1, 1);
	for (int algo = ORD; algo <= REF; algo++) {
		double t0 = now_s();
		struct mailstore_imapthread_node *t;
		size_t nt;
		struct core_error err;
		ck_assert_int_eq(mailstore_imapthread_compute(m, N, algo, a, &t, &nt, &err), 0);
		ck_assert_uint_eq(nt, N / 10);
		memset(seen, 0, N + 1);
		ck_assert_uint_eq(tree_check(t, nt, true, seen, N + 1), N);
		struct core_buf b = CORE_BUF_INIT;
		mailstore_imapthread_format(t, nt, &b);
		ck_assert_uint_gt(b.len, 0);
		core_buf_fini(&b);
		ck_assert_msg(now_s() - t0 < 5.0, "algorithm %d took %.2fs", algo, now_s() - t0);
	}
	/* A single chain, each message answering the previous one. */
	for (uint32_t i = 0; i < N; i++) {
		m[i].subject = "Chain";
		m[i].sent_at = T0 + i;
		m[i].references = NULL;
		m[i].nreferences = 0;
		if (i > 0) {
			m[i].in_reply_to = m[i - 1].message_ids;
			m[i].nin_reply_to = 1;
		}
	}
	double t0 = now_s();
	struct mailstore_imapthread_node *t;
	size_t nt;
	struct core_error err;
	ck_assert_int_eq(mailstore_imapthread_compute(m, N, REF, a, &t, &nt, &err), 0);
	ck_assert_uint_eq(nt, 1);
	memset(seen, 0, N + 1);
	ck_assert_uint_eq(tree_check(t, nt, true, seen, N + 1), N);
	struct core_buf b = CORE_BUF_INIT;
	mailstore_imapthread_format(t, nt, &b);
	ck_assert_int_eq(core_buf_cstr(&b)[0], '(');
	ck_assert_ptr_null(strchr(core_buf_cstr(&b) + 1, '('));
	ck_assert_int_eq(strncmp(core_buf_cstr(&b), "(1 2 3 ", 7), 0);
	core_buf_fini(&b);
	ck_assert_msg(now_s() - t0 < 5.0, "chain took %.2fs", now_s() - t0);
	free(seen);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_thread_crafted_references)
{
	/* Twenty messages build a 10,000-deep chain of missing ids; 10,000 more name its bottom
	 * and top alternately, 500 times each, so every pair asks whether the top is below
	 * the bottom. The loop checks are bounded: this ends quickly, every message once. */
	enum { DEPTH = 10000, ATTACK = 10000, NREF = 500 };
	struct core_arena *a = core_arena_new(0);
	const char **chain = core_arena_zalloc(a, DEPTH * sizeof(*chain));
	for (size_t i = 0; i < DEPTH; i++) {
		char id[32];
		snprintf(id, sizeof(id), "c%zu", i);
		chain[i] = core_arena_strdup(a, id);
	}
	const char **alt = core_arena_zalloc(a, NREF * sizeof(*alt));
	for (size_t i = 0; i < NREF; i++)
		alt[i] = chain[i % 2 ? 0 : DEPTH - 1];
	size_t n = DEPTH / NREF + ATTACK;
	struct mailstore_imapthread_msg *m = core_arena_zalloc(a, n * sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		m[i].num = (uint32_t)i + 1;
		m[i].subject = "x";
		m[i].internal_date = T0;
		if (i < DEPTH / NREF) {
			/* Each piece starts with the last id of the one before. */
			m[i].references = chain + (i > 0 ? i * NREF - 1 : 0);
			m[i].nreferences = NREF + (i > 0);
		} else {
			m[i].references = alt;
			m[i].nreferences = NREF;
		}
	}
	double t0 = now_s();
	struct mailstore_imapthread_node *t;
	size_t nt;
	struct core_error err;
	ck_assert_int_eq(mailstore_imapthread_compute(m, n, REF, a, &t, &nt, &err), 0);
	unsigned char *seen = calloc(n + 1, 1);
	ck_assert_uint_eq(tree_check(t, nt, true, seen, n + 1), n);
	free(seen);
	/* Natively well under a second; without the budget, minutes. Room for valgrind. */
	ck_assert_msg(now_s() - t0 < 30.0, "took %.2fs", now_s() - t0);
	core_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------------------------------ */
/* Through a mail store on SQLite                                                        */
/* ------------------------------------------------------------------------------------ */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

START_TEST(test_thread_store_mailbox_sqlite)
{
	char dir[] = "/tmp/staunch-imapthread-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[300];
	snprintf(path, sizeof(path), "%s/data.sqlite", dir);
	struct store_params p = {.path = path, .no_sync = true};
	struct store_data *data = NULL;
	struct store_blob *blob = NULL;
	struct mailstore *ms = NULL;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_data_open("sqlite", &p, &data, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_open("sqlite", &p, data, &blob, &err) == 0, "%s", err.msg);
	ck_assert_msg(mailstore_open(data, blob, NULL, &ms, &err) == 0, "%s", err.msg);
	uint64_t inbox;
	ck_assert_int_eq(mailstore_account_ensure(ms, 1, &err), 0);
	ck_assert_int_eq(mailstore_mailbox_find_role(ms, 1, MAILSTORE_ROLE_INBOX, &inbox, &err), 0);
	static const char *const msgs[] = {
		"Subject: Plans\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n"
		"Message-ID: <p1@example.org>\r\n\r\nbody\r\n",
		"Subject: Other\r\nDate: Tue, 3 Mar 2026 11:00:00 +0000\r\n"
		"Message-ID: <o1@example.org>\r\n\r\nbody\r\n",
		"Subject: Re: Plans\r\nDate: Tue, 3 Mar 2026 09:00:00 -0200\r\n"
		"Message-ID: <p2@example.org>\r\nIn-Reply-To: <p1@example.org>\r\n\r\nbody\r\n",
		/* No Date: INTERNALDATE (received_at) orders it first. */
		"Subject: Re: Plans\r\nMessage-ID: <p3@example.org>\r\n"
		"References: <p1@example.org>\r\n\r\nbody\r\n",
	};
	uint32_t uids[4];
	for (size_t i = 0; i < 4; i++) {
		struct mailstore_target t = {.account = 1, .mailboxes = &inbox, .nmailboxes = 1};
		struct mailstore_delivered d;
		int64_t recv = i == 3 ? 1772528400 : 1772600000; /* 2026-03-03 09:00 UTC */
		ck_assert_msg(
			mailstore_deliver(ms, msgs[i], strlen(msgs[i]), &t, 1, recv, &d, &err) == 0,
			"%s", err.msg);
		uids[i] = d.uids[0];
	}
	struct core_arena *a = core_arena_new(0);
	struct mailstore_imapthread_node *t;
	size_t nt;
	struct core_buf b = CORE_BUF_INIT;
	char want[128];
	/* UID THREAD REFERENCES: 11:00 UTC for p2, 09:00 UTC for p3. */
	ck_assert_msg(mailstore_imapthread_mailbox(ms, 1, inbox, uids, NULL, 4, REF, a, &t, &nt,
						   &err) == 0,
		      "%s", err.msg);
	mailstore_imapthread_format(t, nt, &b);
	snprintf(want, sizeof(want), "(%u (%u)(%u))(%u)", uids[0], uids[3], uids[2], uids[1]);
	ck_assert_str_eq(core_buf_cstr(&b), want);
	/* THREAD ORDEREDSUBJECT with sequence numbers over a subset. */
	static const uint32_t seq[] = {1, 2, 3};
	ck_assert_int_eq(
		mailstore_imapthread_mailbox(ms, 1, inbox, uids, seq, 3, ORD, a, &t, &nt, &err), 0);
	core_buf_reset(&b);
	mailstore_imapthread_format(t, nt, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "(1 3)(2)");
	/* A UID that does not exist is left out; unordered UIDs are refused. */
	uint32_t gone[] = {uids[1], uids[3] + 100};
	ck_assert_int_eq(
		mailstore_imapthread_mailbox(ms, 1, inbox, gone, NULL, 2, REF, a, &t, &nt, &err),
		0);
	core_buf_reset(&b);
	mailstore_imapthread_format(t, nt, &b);
	snprintf(want, sizeof(want), "(%u)", uids[1]);
	ck_assert_str_eq(core_buf_cstr(&b), want);
	uint32_t bad[] = {uids[2], uids[1]};
	ck_assert_int_eq(
		mailstore_imapthread_mailbox(ms, 1, inbox, bad, NULL, 2, REF, a, &t, &nt, &err),
		CORE_ESYNTAX);
	core_buf_fini(&b);
	core_arena_free(&a);
	mailstore_free(&ms);
	store_blob_free(&blob);
	store_data_free(&data);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mailstore-imapthread");
	TCase *tc = tcase_create("imapthread");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_thread_format_rfc_examples);
	tcase_add_test(tc, test_thread_references_rfc_example);
	tcase_add_test(tc, test_thread_references_missing_parent);
	tcase_add_test(tc, test_thread_references_in_reply_to_fallback);
	tcase_add_test(tc, test_thread_references_truncated_chain);
	tcase_add_test(tc, test_thread_references_loops);
	tcase_add_test(tc, test_thread_references_missing_and_duplicate_ids);
	tcase_add_test(tc, test_thread_references_quoted_ids);
	tcase_add_test(tc, test_thread_references_subject_gathering);
	tcase_add_test(tc, test_thread_sent_date_rules);
	tcase_add_test(tc, test_thread_orderedsubject);
	tcase_add_test(tc, test_thread_bad_arguments);
	tcase_add_test(tc, test_thread_large_input);
	tcase_add_test(tc, test_thread_crafted_references);
	tcase_add_test(tc, test_thread_store_mailbox_sqlite);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
