/*
 * test_mail_rfc5322_hdr.c: header splitting, unfolding and the Text form
 * (src/mail/mail_rfc5322_hdr.c), table-driven. The header is read through
 * mail_message_parse(), which is the only public entry to the splitter.
 */
#include <check.h>
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"

static const struct {
	const char *in;
	size_t header_len;
	size_t fields;
	const char *names; /* names joined by '|' */
	const char *last_value;
	unsigned flags; /* MAIL_PART_F_NO_BLANK_LINE | MAIL_PART_F_HDR_JUNK */
} cases[] = {
	{"A: 1\r\nB: 2\r\n\r\nbody", 14, 2, "A|B", " 2", 0},
	{"A: 1\nB: 2\n\nbody", 11, 2, "A|B", " 2", 0},
	/* folded value keeps its folding; the final line ending is not in the value */
	{"Subject: a\r\n b\r\n\tc\r\n\r\n", 22, 1, "Subject", " a\r\n b\r\n\tc", 0},
	/* RFC 5322 §4.5 obsolete white space before the colon; empty value */
	{"Name \t: v\r\nEmpty:\r\n\r\n", 21, 2, "Name|Empty", "", 0},
	/* no body and no empty line */
	{"A: 1\r\nB: 2", 10, 2, "A|B", " 2", MAIL_PART_F_NO_BLANK_LINE},
	{"A: 1\r\nB: 2\r\n", 12, 2, "A|B", " 2", MAIL_PART_F_NO_BLANK_LINE},
	/* a line that is no field is junk kept in the header, which goes on */
	{"A: 1\r\nthis is junk\r\nB: 2\r\n\r\nbody", 28, 2, "A|B", " 2", MAIL_PART_F_HDR_JUNK},
	{"A: 1\r\nno blank line\r\nB: 2\r\n", 27, 2, "A|B", " 2",
	 MAIL_PART_F_NO_BLANK_LINE | MAIL_PART_F_HDR_JUNK},
	{"From someone Mon Jan 1 00:00:00 2024\r\nA: 1\r\n\r\n", 46, 1, "A", " 1",
	 MAIL_PART_F_HDR_JUNK},
	{": no name\r\n\r\n", 13, 0, "", "", MAIL_PART_F_HDR_JUNK},
	{"A: 1\r\njunk\r\n folded junk\r\nB: 2\r\n\r\n", 34, 2, "A|B", " 2", MAIL_PART_F_HDR_JUNK},
	/* a UTF-8 byte order mark before the first field */
	{"\xEF\xBB\xBF"
	 "From: a@b\r\n\r\n",
	 16, 1, "From", " a@b", MAIL_PART_F_HDR_JUNK},
	/* a continuation with no field before it is junk kept in the header */
	{" lead\r\nA: 1\r\n\r\n", 15, 1, "A", " 1", MAIL_PART_F_HDR_JUNK},
	/* empty message, only an empty line */
	{"", 0, 0, "", "", MAIL_PART_F_NO_BLANK_LINE},
	{"\r\nbody", 2, 0, "", "", 0},
	/* 8-bit field values (RFC 6532) */
	{"Subject: caf\xC3\xA9\r\n\r\n", 18, 1, "Subject", " caf\xC3\xA9", 0},
	/* white-space-only line is a continuation (obs-FWS), not the end */
	{"A: 1\r\n  \r\nB: 2\r\n\r\n", 18, 2, "A|B", " 2", 0},
	/* CR CR LF: the extra CR stays in the value */
	{"A: 1\r\r\n\r\n", 9, 1, "A", " 1\r", 0},
};

START_TEST(test_hdr_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, cases[_i].in, strlen(cases[_i].in), NULL, &m, NULL),
			 0);
	const struct mail_part *p = m->root;
	ck_assert_msg(p->header_len == cases[_i].header_len, "case %d: header_len %zu", _i,
		      p->header_len);
	ck_assert_msg(p->header.count == cases[_i].fields, "case %d: %zu fields", _i,
		      p->header.count);
	struct core_buf names = CORE_BUF_INIT;
	for (size_t i = 0; i < p->header.count; i++) {
		if (i > 0)
			core_buf_putc(&names, '|');
		core_buf_append(&names, p->header.fields[i].name.p, p->header.fields[i].name.len);
	}
	ck_assert_msg(strcmp(core_buf_cstr(&names), cases[_i].names) == 0, "case %d: names %s", _i,
		      core_buf_cstr(&names));
	if (p->header.count > 0) {
		const struct mail_field *f = &p->header.fields[p->header.count - 1];
		ck_assert_msg(core_str_eq_cstr(f->value, cases[_i].last_value),
			      "case %d: value '%.*s'", _i, CORE_STR_FMT(f->value));
		ck_assert_uint_eq(f->eight_bit, !core_utf8_is_ascii(f->value.p, f->value.len));
		/* the field's range ends where the next field or the empty line starts */
		ck_assert(f->off + f->len <= p->header_off + p->header_len);
	}
	unsigned hf = p->flags & (MAIL_PART_F_NO_BLANK_LINE | MAIL_PART_F_HDR_JUNK);
	ck_assert_msg(hf == cases[_i].flags, "case %d: flags %x", _i, hf);
	ck_assert_int_eq(mail_message_verify(m, NULL), 0);
	core_buf_fini(&names);
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *raw;
	const char *unfolded;
	const char *text;
} text_cases[] = {
	{" plain", " plain", "plain"},
	{" a\r\n b", " a b", "a b"},
	{" a\n\tb", " a\tb", "a\tb"},
	{" =?UTF-8?Q?caf=C3=A9?=\r\n =?UTF-8?Q?_ok?=", " =?UTF-8?Q?caf=C3=A9?= =?UTF-8?Q?_ok?=",
	 "caf\xC3\xA9 ok"},
	/* RFC 8621 §4.1.2.2: leading SP removed, trailing white space kept */
	{"  spaced  ", "  spaced  ", "spaced  "},
	{" \tlead tab", " \tlead tab", "\tlead tab"},
	/* NFC: e + combining acute becomes U+00E9 (RFC 5198 via RFC 8621 §4.1.2.2) */
	{" e\xCC\x81", " e\xCC\x81", "\xC3\xA9"},
	/* raw latin-1 falls back to windows-1252 */
	{" \x93hi\x94", " \x93hi\x94", "\xE2\x80\x9Chi\xE2\x80\x9D"},
	{"", "", ""},
};

START_TEST(test_hdr_text)
{
	struct core_arena *a = core_arena_new(0);
	struct core_str raw = core_str_from_cstr(text_cases[_i].raw);
	struct core_str u = mail_hdr_unfold(a, raw);
	ck_assert_msg(core_str_eq_cstr(u, text_cases[_i].unfolded), "case %d: unfold '%s'", _i,
		      u.p);
	struct core_str t = mail_hdr_text(a, raw);
	ck_assert_msg(core_str_eq_cstr(t, text_cases[_i].text), "case %d: text '%s'", _i, t.p);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_hdr_find)
{
	const char *msg = "To: a@x\r\nsubject: one\r\nTO: b@x\r\nX: 1\r\n\r\n";
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, NULL), 0);
	const struct mail_header *h = &m->root->header;
	ck_assert_uint_eq(mail_header_count(h, "to"), 2);
	ck_assert(core_str_eq_cstr(mail_header_find(h, "TO")->value, " a@x"));
	ck_assert(core_str_eq_cstr(mail_header_find_last(h, "to")->value, " b@x"));
	ck_assert(core_str_eq_cstr(mail_header_find(h, "Subject")->value, " one"));
	ck_assert_ptr_null(mail_header_find(h, "Cc"));
	ck_assert_ptr_null(mail_header_find_last(h, "Cc"));
	core_arena_free(&a);
}
END_TEST

/* Limits: fields beyond the limit are counted and reported, their bytes stay in the header. */
START_TEST(test_hdr_limit_fields)
{
	struct core_buf b = CORE_BUF_INIT;
	for (int i = 0; i < 10; i++)
		core_buf_printf(&b, "F%d: v\r\n folded\r\n", i);
	core_buf_append_str(&b, "\r\nbody\r\n");
	struct mail_limits lim;
	mail_limits_default(&lim);
	lim.max_header_fields = 4;
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, b.p, b.len, &lim, &m, NULL), 0);
	ck_assert_uint_eq(m->root->header.count, 4);
	ck_assert_uint_eq(m->root->header.dropped, 6);
	ck_assert_uint_eq(m->root->header_len, b.len - 6);
	ck_assert_uint_eq(m->root->header_lines, 21);
	ck_assert(!(m->root->flags & MAIL_PART_F_HDR_JUNK));
	ck_assert_uint_eq(m->nproblems, 1);
	ck_assert_int_eq(m->problems[0].kind, MAIL_PROB_HEADER_FIELDS);
	ck_assert_str_eq(mail_problem_name(m->problems[0].kind), "header-fields");
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_hdr_limit_line)
{
	struct core_buf b = CORE_BUF_INIT;
	core_buf_append_str(&b, "A: 1\r\nLong: ");
	size_t long_off = 6;
	for (int i = 0; i < 1000; i++)
		core_buf_putc(&b, 'x');
	core_buf_append_str(&b, "\r\n\r\nbody\r\n");
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, b.p, b.len, NULL, &m, NULL), 0);
	ck_assert(m->root->flags & MAIL_PART_F_LONG_LINE);
	ck_assert_uint_eq(m->nproblems, 1);
	ck_assert_int_eq(m->problems[0].kind, MAIL_PROB_LINE_LENGTH);
	ck_assert_uint_eq(m->problems[0].offset, long_off);
	/* the field is whole */
	ck_assert_uint_eq(m->root->header.fields[1].value.len, 1001);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_rfc5322_hdr");
	TCase *tc = tcase_create("hdr");
	tcase_add_loop_test(tc, test_hdr_table, 0, (int)CORE_NELEM(cases));
	tcase_add_loop_test(tc, test_hdr_text, 0, (int)CORE_NELEM(text_cases));
	tcase_add_test(tc, test_hdr_find);
	tcase_add_test(tc, test_hdr_limit_fields);
	tcase_add_test(tc, test_hdr_limit_line);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
