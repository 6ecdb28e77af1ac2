/*
 * test_mail_mime_part.c: the part tree (src/mail/mail_mime_part.c): offsets, boundaries,
 * broken structure, limits, CRLF/LF equivalence and every-prefix robustness. Expected offsets
 * are located in the test message by searching for marker text, never taken from the parser.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"

static struct core_arena *arena;

static void setup(void)
{
	arena = core_arena_new(0);
}

static void teardown(void)
{
	core_arena_free(&arena);
}

static struct mail_message *parse(const char *s, const struct mail_limits *lim)
{
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(arena, s, strlen(s), lim, &m, NULL), 0);
	struct core_error err;
	ck_assert_msg(mail_message_verify(m, &err) == 0, "invariant: %s", err.msg);
	return m;
}

static size_t off_of(const char *msg, const char *marker)
{
	const char *p = strstr(msg, marker);
	ck_assert_ptr_nonnull(p);
	return (size_t)(p - msg);
}

static const char simple[] = "From: a@x.test\r\n"
			     "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
			     "\r\n"
			     "preamble\r\n"
			     "--XX\r\n"
			     "Content-Type: text/plain; charset=utf-8\r\n"
			     "\r\n"
			     "part one\r\n"
			     "--XX \t\r\n"
			     "\r\n"
			     "part two\r\n"
			     "two lines\r\n"
			     "--XX--\r\n"
			     "epilogue\r\n";

START_TEST(test_part_simple_offsets)
{
	struct mail_message *m = parse(simple, NULL);
	ck_assert_uint_eq(m->nparts, 3);
	const struct mail_part *r = m->root;
	ck_assert(mail_part_is_multipart(r));
	ck_assert_str_eq(r->boundary.p, "XX");
	ck_assert_uint_eq(r->header_off, 0);
	ck_assert_uint_eq(r->header_len, off_of(simple, "preamble"));
	ck_assert_uint_eq(r->body_len, strlen(simple) - r->body_off);
	ck_assert_uint_eq(r->header_lines, 3);
	/* RFC 2046 §5.1.1: the CRLF before "--XX" belongs to the delimiter. */
	ck_assert_uint_eq(r->preamble_off, r->body_off);
	ck_assert_uint_eq(r->preamble_len, strlen("preamble"));
	ck_assert_uint_eq(r->epilogue_off, off_of(simple, "epilogue"));
	ck_assert_uint_eq(r->epilogue_len, strlen("epilogue\r\n"));
	ck_assert_uint_eq(r->nchildren, 2);

	const struct mail_part *c0 = r->children[0];
	ck_assert_uint_eq(c0->header_off, off_of(simple, "Content-Type: text/plain"));
	ck_assert_uint_eq(c0->body_off, off_of(simple, "part one"));
	ck_assert_uint_eq(c0->body_len, strlen("part one"));
	ck_assert_uint_eq(c0->body_lines, 1);
	ck_assert_str_eq(c0->charset.p, "utf-8");
	ck_assert(!(c0->flags & MAIL_PART_F_CT_DEFAULT));

	/* transport padding after the boundary; a part with an empty header */
	const struct mail_part *c1 = r->children[1];
	ck_assert_uint_eq(c1->header_off, off_of(simple, "\r\npart two"));
	ck_assert_uint_eq(c1->header_len, 2);
	ck_assert_uint_eq(c1->header.count, 0);
	ck_assert_uint_eq(c1->body_off, off_of(simple, "part two"));
	ck_assert_uint_eq(c1->body_len, strlen("part two\r\ntwo lines"));
	ck_assert_uint_eq(c1->body_lines, 2);
	ck_assert(c1->flags & MAIL_PART_F_CT_DEFAULT);
	ck_assert_str_eq(c1->ct.type.p, "text");
	ck_assert_str_eq(c1->ct.subtype.p, "plain");
	ck_assert_uint_eq(c1->index, 2);
	ck_assert_ptr_eq(m->parts[2], c1);
	ck_assert_uint_eq(m->nproblems, 0);
}
END_TEST

/* The same message with bare LF: same tree, offsets on the LF bytes. */
START_TEST(test_part_lf_equivalence)
{
	char *lf = core_xstrdup(simple);
	size_t n = 0;
	for (size_t i = 0; simple[i] != '\0'; i++)
		if (simple[i] != '\r')
			lf[n++] = simple[i];
	lf[n] = '\0';
	struct mail_message *a = parse(simple, NULL), *b = parse(lf, NULL);
	ck_assert_uint_eq(a->nparts, b->nparts);
	for (size_t i = 0; i < a->nparts; i++) {
		const struct mail_part *pa = a->parts[i], *pb = b->parts[i];
		ck_assert(core_str_eq(pa->ct.type, pb->ct.type));
		ck_assert(core_str_eq(pa->ct.subtype, pb->ct.subtype));
		ck_assert_uint_eq(pa->flags, pb->flags);
		ck_assert_uint_eq(pa->body_lines, pb->body_lines);
		ck_assert_uint_eq(pa->header_lines, pb->header_lines);
		ck_assert_uint_eq(pa->header.count, pb->header.count);
	}
	const struct mail_part *c1 = b->root->children[1];
	ck_assert_uint_eq(c1->body_off, off_of(lf, "part two"));
	ck_assert_uint_eq(c1->body_len, strlen("part two\ntwo lines"));
	ck_assert_uint_eq(b->root->preamble_len, strlen("preamble"));
	free(lf);
}
END_TEST

START_TEST(test_part_broken_boundaries)
{
	/* no close delimiter: the last part runs to the end */
	struct mail_message *m = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				       "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
				       NULL);
	ck_assert(m->root->flags & MAIL_PART_F_NO_CLOSE);
	ck_assert_uint_eq(m->root->nchildren, 2);
	ck_assert_uint_eq(m->root->children[1]->body_len, strlen("two\r\n"));
	ck_assert_uint_eq(m->root->epilogue_len, 0);

	/* boundary never seen: everything is preamble, no child */
	m = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\nno parts here\r\n", NULL);
	ck_assert(m->root->flags & MAIL_PART_F_BOUNDARY_MISSING);
	ck_assert_uint_eq(m->root->nchildren, 0);
	ck_assert_uint_eq(m->root->preamble_len, strlen("no parts here\r\n"));

	/* multipart without boundary: a leaf */
	m = parse("Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n", NULL);
	ck_assert(m->root->flags & MAIL_PART_F_NO_BOUNDARY);
	ck_assert_uint_eq(m->nparts, 1);

	/* a line that only starts with the boundary is content, not a delimiter */
	m = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bx\r\n"
		  "--b--junk\r\n--b--\r\n",
		  NULL);
	ck_assert_uint_eq(m->root->nchildren, 1);
	ck_assert_uint_eq(m->root->children[0]->body_len, strlen("--bx\r\n--b--junk"));
	ck_assert(!(m->root->flags & MAIL_PART_F_NO_CLOSE));

	/* adjacent delimiters: an empty part */
	m = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--",
		  NULL);
	ck_assert_uint_eq(m->root->nchildren, 2);
	ck_assert_uint_eq(mail_part_len(m->root->children[0]), 0);

	/* a header that ends right before a delimiter takes the delimiter's line break as its
	 * empty line; the body is empty (header-first reading) */
	static const char hdr_only[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				       "--b\r\nContent-Type: text/html\r\n\r\n--b\r\n\r\n--b--\r\n";
	m = parse(hdr_only, NULL);
	ck_assert_uint_eq(m->root->nchildren, 2);
	const struct mail_part *h0 = m->root->children[0], *h1 = m->root->children[1];
	ck_assert_uint_eq(h0->header_len, strlen("Content-Type: text/html\r\n\r\n"));
	ck_assert_uint_eq(h0->header_lines, 2);
	ck_assert_uint_eq(h0->body_len, 0);
	ck_assert(!(h0->flags & MAIL_PART_F_NO_BLANK_LINE));
	ck_assert_str_eq(h0->ct.subtype.p, "html");
	ck_assert_uint_eq(h1->header_len, 2);
	ck_assert_uint_eq(h1->body_len, 0);
	ck_assert_uint_eq(h1->body_off, off_of(hdr_only, "--b--"));

	/* the same inside message/rfc822: the extension reaches the rfc822 part too */
	static const char in822[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n"
				    "\r\n--b--\r\n";
	m = parse(in822, NULL);
	ck_assert_uint_eq(m->nparts, 3);
	ck_assert_uint_eq(m->parts[2]->header_len, strlen("Subject: x\r\n\r\n"));
	ck_assert_uint_eq(m->parts[1]->body_off + m->parts[1]->body_len, off_of(in822, "--b--"));

	/* inner multipart missing its close delimiter ends at the outer delimiter */
	static const char nested[] = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
				     "--outer\r\n"
				     "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
				     "--inner\r\n\r\nA\r\n"
				     "--outer\r\n\r\nB\r\n"
				     "--outer--\r\n";
	m = parse(nested, NULL);
	ck_assert_uint_eq(m->nparts, 4);
	const struct mail_part *inner = m->root->children[0];
	ck_assert(inner->flags & MAIL_PART_F_NO_CLOSE);
	ck_assert_uint_eq(inner->nchildren, 1);
	ck_assert_uint_eq(inner->children[0]->body_off, off_of(nested, "A\r\n"));
	ck_assert_uint_eq(inner->children[0]->body_len, 1);
	ck_assert_uint_eq(m->root->children[1]->body_off, off_of(nested, "B\r\n"));
}
END_TEST

START_TEST(test_part_message_rfc822)
{
	static const char msg[] = "Content-Type: message/rfc822\r\n\r\n"
				  "Subject: inner\r\n"
				  "Content-Type: text/plain\r\n\r\n"
				  "inner body\r\n";
	struct mail_message *m = parse(msg, NULL);
	ck_assert_uint_eq(m->nparts, 2);
	const struct mail_part *in = m->root->children[0];
	ck_assert(mail_part_is_message(m->root));
	ck_assert_uint_eq(in->header_off, m->root->body_off);
	ck_assert_uint_eq(in->body_off, off_of(msg, "inner body"));
	ck_assert(core_str_eq_cstr(mail_header_find(&in->header, "subject")->value, " inner"));

	/* RFC 2046 §5.2.1: base64 message/rfc822 is not opened */
	m = parse("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		  "U3ViamVjdDogeA0KDQp5DQo=\r\n",
		  NULL);
	ck_assert_uint_eq(m->nparts, 1);
	ck_assert(m->root->flags & MAIL_PART_F_ENCODED_MESSAGE);

	/* RFC 2046 §5.1.5: digest parts default to message/rfc822 */
	m = parse("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
		  "Subject: s\r\n\r\nbody\r\n--d--\r\n",
		  NULL);
	ck_assert_uint_eq(m->nparts, 3);
	ck_assert(mail_part_is_message(m->parts[1]));
	ck_assert(m->parts[1]->flags & MAIL_PART_F_CT_DEFAULT);
	ck_assert_str_eq(m->parts[2]->ct.type.p, "text");
}
END_TEST

START_TEST(test_part_mime_fields)
{
	static const char msg[] = "Content-Type: TEXT/HTML; CHARSET=\"ISO-8859-1\"\r\n"
				  "Content-Transfer-Encoding: Quoted-Printable (comment)\r\n"
				  "Content-Disposition: inline; filename*=UTF-8''%C3%A9.html\r\n"
				  "Content-ID: <part1@x.test>\r\n"
				  "Content-Description: =?UTF-8?Q?d=C3=A9scription?=\r\n"
				  "Content-Language: en-US, fr (French)\r\n"
				  "Content-Location: http://x.test/a\r\n b.html\r\n"
				  "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
				  "\r\n"
				  "caf=E9=\r\n"
				  " =93q=94\r\n";
	struct mail_message *m = parse(msg, NULL);
	const struct mail_part *p = m->root;
	ck_assert_str_eq(p->ct.type.p, "text");
	ck_assert_str_eq(p->ct.subtype.p, "html");
	ck_assert_str_eq(p->charset.p, "iso-8859-1");
	ck_assert_int_eq(p->cte, MAIL_CTE_QP);
	ck_assert_str_eq(p->cte_raw.p, "quoted-printable");
	ck_assert(p->has_disposition);
	ck_assert_str_eq(p->disposition.type.p, "inline");
	ck_assert_str_eq(mail_mime_param_find(&p->disposition, "filename")->value.p,
			 "\xC3\xA9.html");
	ck_assert_str_eq(p->content_id.p, "part1@x.test");
	ck_assert_str_eq(p->description.p, "d\xC3\xA9scription");
	ck_assert_uint_eq(p->nlanguages, 2);
	ck_assert_str_eq(p->languages[0].p, "en-US");
	ck_assert_str_eq(p->languages[1].p, "fr");
	ck_assert_str_eq(p->location.p, "http://x.test/ab.html");
	ck_assert_str_eq(p->md5.p, "Q2hlY2sgSW50ZWdyaXR5IQ==");

	struct core_buf b = CORE_BUF_INIT;
	mail_part_decode_body(m, p, &b);
	ck_assert_uint_eq(b.len, strlen("caf\xE9 \x93q\x94\r\n"));
	ck_assert(memcmp(b.p, "caf\xE9 \x93q\x94\r\n", b.len) == 0);
	core_buf_reset(&b);
	char eff[MAIL_CHARSET_NAME_MAX];
	ck_assert_int_eq(mail_part_decode_text(m, p, &b, eff), MAIL_CHARSET_FIXED);
	ck_assert_str_eq(eff, "WINDOWS-1252");
	ck_assert_str_eq(core_buf_cstr(&b), "caf\xC3\xA9 \xE2\x80\x9Cq\xE2\x80\x9D\r\n");
	core_buf_fini(&b);

	m = parse("Content-Type: application/octet-stream\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n",
		  NULL);
	b = (struct core_buf)CORE_BUF_INIT;
	mail_part_decode_body(m, m->root, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "hello");
	core_buf_fini(&b);

	/* RFC 2045 §6.4 unknown encoding; §5.2 invalid type keeps its charset */
	m = parse("Content-Type: text; charset=utf-8\r\nContent-Transfer-Encoding: x-uue\r\n\r\n",
		  NULL);
	ck_assert_int_eq(m->root->cte, MAIL_CTE_UNKNOWN);
	ck_assert_str_eq(mail_cte_name(m->root->cte), "unknown");
	ck_assert(m->root->flags & MAIL_PART_F_CT_INVALID);
	ck_assert_str_eq(m->root->ct.subtype.p, "plain");
	ck_assert_str_eq(m->root->charset.p, "utf-8");
}
END_TEST

/* Nest n message/rfc822 levels around a text body. */
static char *nest(int n)
{
	struct core_buf b = CORE_BUF_INIT;
	for (int i = 0; i < n; i++)
		core_buf_printf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
	core_buf_append_str(&b, "Subject: leaf\r\n\r\nleaf body\r\n");
	return core_buf_detach(&b, NULL);
}

START_TEST(test_part_limit_depth)
{
	char *msg = nest(100);
	struct mail_limits lim;
	mail_limits_default(&lim);
	lim.max_depth = 10;
	struct mail_message *m = parse(msg, &lim);
	ck_assert_uint_eq(m->nparts, 11);
	const struct mail_part *deep = m->parts[10];
	ck_assert_uint_eq(deep->depth, 10);
	ck_assert(deep->flags & MAIL_PART_F_DEPTH);
	/* nothing truncated: the deepest part's body runs to the end of the message */
	ck_assert_uint_eq(deep->body_off + deep->body_len, strlen(msg));
	ck_assert_uint_eq(m->nproblems, 1);
	ck_assert_int_eq(m->problems[0].kind, MAIL_PROB_DEPTH);
	ck_assert_ptr_eq(m->problems[0].part, deep);

	/* default limit: 100 levels is deeper than 64 */
	m = parse(msg, NULL);
	ck_assert_uint_eq(m->nparts, 65);
	free(msg);

	/* a multipart at the depth limit is a leaf without boundary, preamble or epilogue */
	lim.max_depth = 1;
	m = parse("Content-Type: message/rfc822\r\n\r\n"
		  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
		  &lim);
	ck_assert_uint_eq(m->nparts, 2);
	ck_assert(m->parts[1]->flags & MAIL_PART_F_DEPTH);
	ck_assert_uint_eq(m->parts[1]->boundary.len, 0);
	ck_assert_str_eq(mail_mime_param_find(&m->parts[1]->ct, "boundary")->value.p, "b");

	msg = nest(20);
	m = parse(msg, NULL);
	ck_assert_uint_eq(m->nparts, 21);
	ck_assert_uint_eq(m->nproblems, 0);
	ck_assert_uint_eq(m->parts[20]->body_off, off_of(msg, "leaf body"));
	free(msg);
}
END_TEST

START_TEST(test_part_limit_parts)
{
	struct core_buf b = CORE_BUF_INIT;
	core_buf_append_str(&b, "Content-Type: multipart/mixed; boundary=z\r\n\r\n");
	for (int i = 0; i < 10; i++)
		core_buf_printf(&b, "--z\r\n\r\npart %d\r\n", i);
	core_buf_append_str(&b, "--z--\r\n");
	struct mail_limits lim;
	mail_limits_default(&lim);
	lim.max_parts = 5;
	struct mail_message *m = parse(core_buf_cstr(&b), &lim);
	ck_assert_uint_eq(m->nparts, 5);
	ck_assert_uint_eq(m->root->nchildren, 4);
	ck_assert(m->root->flags & MAIL_PART_F_PARTS);
	ck_assert_uint_eq(m->nproblems, 1);
	ck_assert_int_eq(m->problems[0].kind, MAIL_PROB_PARTS);
	ck_assert_uint_eq(m->problems[0].offset, off_of(b.p, "\r\npart 4"));
	/* the root still covers every byte */
	ck_assert_uint_eq(m->root->body_off + m->root->body_len, b.len);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_part_limit_body_line)
{
	struct core_buf b = CORE_BUF_INIT;
	core_buf_append_str(&b, "Subject: x\r\n\r\nshort\r\n");
	size_t off = b.len;
	for (int i = 0; i < 2000; i++)
		core_buf_putc(&b, 'y');
	core_buf_append_str(&b, "\r\n");
	struct mail_message *m = parse(core_buf_cstr(&b), NULL);
	ck_assert(m->root->flags & MAIL_PART_F_LONG_LINE);
	ck_assert_uint_eq(m->nproblems, 1);
	ck_assert_uint_eq(m->problems[0].offset, off);
	ck_assert_uint_eq(m->root->body_lines, 2);
	core_buf_fini(&b);
}
END_TEST

/* Every prefix of a nested message parses and keeps the invariants (a message cut short
 * anywhere must not break the parser). */
START_TEST(test_part_every_prefix)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\npre\r\n"
				  "--o\r\nContent-Type: message/rfc822\r\n\r\n"
				  "Content-Type: multipart/alternative; boundary=i\r\n\r\n"
				  "--i\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\nA\r\n"
				  "--i\r\nContent-Type: text/html\r\n\r\n<b>B</b>\r\n--i--\r\n"
				  "--o\r\nContent-Type: application/pdf; name*0=a; name*1=b\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n"
				  "--o--\r\nepi\r\n";
	size_t len = strlen(msg);
	size_t full_parts = 0;
	for (size_t k = 0; k <= len; k++) {
		char *copy = core_xmalloc(k + 1);
		memcpy(copy, msg, k);
		copy[k] = '\0';
		struct mail_message *m;
		ck_assert_int_eq(mail_message_parse(arena, copy, k, NULL, &m, NULL), 0);
		struct core_error err;
		ck_assert_msg(mail_message_verify(m, &err) == 0, "prefix %zu: %s", k, err.msg);
		full_parts = m->nparts;
		free(copy);
	}
	ck_assert_uint_eq(full_parts, 6);
}
END_TEST

START_TEST(test_part_names_and_defaults)
{
	struct mail_limits lim;
	mail_limits_default(&lim);
	ck_assert_uint_eq(lim.max_header_fields, 1000);
	ck_assert_uint_eq(lim.max_line_len, 998);
	ck_assert_uint_eq(lim.max_depth, 64);
	ck_assert_uint_eq(lim.max_parts, 10000);
	ck_assert_str_eq(mail_problem_name(MAIL_PROB_HEADER_FIELDS), "header-fields");
	ck_assert_str_eq(mail_problem_name(MAIL_PROB_LINE_LENGTH), "line-length");
	ck_assert_str_eq(mail_problem_name(MAIL_PROB_DEPTH), "depth");
	ck_assert_str_eq(mail_problem_name(MAIL_PROB_PARTS), "parts");
	ck_assert_str_eq(mail_problem_name((enum mail_problem_kind)99), "unknown");
	ck_assert_str_eq(mail_cte_name(MAIL_CTE_7BIT), "7bit");
	ck_assert_str_eq(mail_cte_name(MAIL_CTE_8BIT), "8bit");
	ck_assert_str_eq(mail_cte_name(MAIL_CTE_BINARY), "binary");
	ck_assert_str_eq(mail_cte_name(MAIL_CTE_QP), "quoted-printable");
	ck_assert_str_eq(mail_cte_name(MAIL_CTE_BASE64), "base64");
	/* an empty message is one empty text/plain part */
	struct mail_message *m = parse("", NULL);
	ck_assert_uint_eq(m->nparts, 1);
	ck_assert_uint_eq(m->root->header_len + m->root->body_len, 0);
	ck_assert(m->root->flags & MAIL_PART_F_CT_DEFAULT);
	/* max_parts 0 is read as 1: the root alone */
	lim.max_parts = 0;
	m = parse("Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n", &lim);
	ck_assert_uint_eq(m->nparts, 1);
	ck_assert(m->root->flags & MAIL_PART_F_PARTS);
	ck_assert_uint_eq(m->nproblems, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_mime_part");
	TCase *tc = tcase_create("part");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_part_simple_offsets);
	tcase_add_test(tc, test_part_lf_equivalence);
	tcase_add_test(tc, test_part_broken_boundaries);
	tcase_add_test(tc, test_part_message_rfc822);
	tcase_add_test(tc, test_part_mime_fields);
	tcase_add_test(tc, test_part_limit_depth);
	tcase_add_test(tc, test_part_limit_parts);
	tcase_add_test(tc, test_part_limit_body_line);
	tcase_add_test(tc, test_part_every_prefix);
	tcase_add_test(tc, test_part_names_and_defaults);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
