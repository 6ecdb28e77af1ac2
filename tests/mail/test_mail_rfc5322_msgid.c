/*
 * test_mail_rfc5322_msgid.c: message id lists (src/mail/mail_rfc5322_msgid.c) and Date
 * values (src/mail/mail_rfc5322_date.c, through core_time), table-driven.
 */
#include <check.h>
#include <string.h>

#include "core/core_time.h"
#include "mail/mail.h"

static const struct {
	const char *in;
	const char *want; /* ids joined by ' ' */
	bool invalid;
} id_cases[] = {
	{"<1234@local.machine.example>", "1234@local.machine.example", false},
	{" <a@b> <c@d>\r\n <e@f>", "a@b c@d e@f", false},
	{"<a@b>(comment)<c@d>", "a@b c@d", false},
	/* RFC 5322 §4.5.4 obsolete phrase in In-Reply-To */
	{"Your message of \"Mon, 1 Jan\" <x@y.z>", "x@y.z", true},
	/* CFWS inside the brackets (obs-id-left) */
	{"< a@b (c) >", "a@b", false},
	/* a bare id */
	{"abc@def.test", "abc@def.test", true},
	{"abc def", "", true},
	{"", "", false},
	{"<unclosed@x", "unclosed@x", true},
	{"<>", "", false},
	/* RFC 6532 §3.3: UTF-8 in ids is kept as octets */
	{"<caf\xC3\xA9@ex.test>", "caf\xC3\xA9@ex.test", false},
	/* a stray '>' is not part of a bare id */
	{"x@y.z>", "", true},
};

START_TEST(test_msgid_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_msgid_list l;
	mail_msgid_list_parse(a, core_str_from_cstr(id_cases[_i].in), &l);
	struct core_buf b = CORE_BUF_INIT;
	for (size_t i = 0; i < l.count; i++) {
		if (i > 0)
			core_buf_putc(&b, ' ');
		core_buf_append(&b, l.ids[i].p, l.ids[i].len);
	}
	ck_assert_msg(strcmp(core_buf_cstr(&b), id_cases[_i].want) == 0, "case %d: '%s'", _i,
		      core_buf_cstr(&b));
	ck_assert_msg(l.invalid == id_cases[_i].invalid, "case %d: invalid %d", _i, l.invalid);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *in;
	int result;
	long long t;
	int offset;
} date_cases[] = {
	{" Fri, 21 Nov 1997 09:55:06 -0600", 0, 880127706LL, -360},
	{" 21 Nov 97 09:55:06 GMT", 0, 880106106LL, 0},
	{" Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n   -0330 "
	 "(Newfoundland Time)",
	 0, -27723480LL, -210},
	{" not a date", CORE_ESYNTAX, 0, 0},
};

START_TEST(test_date_table)
{
	time_t t = 0;
	int off = 0;
	int r = mail_date_parse(core_str_from_cstr(date_cases[_i].in), &t, &off, NULL);
	ck_assert_int_eq(r, date_cases[_i].result);
	if (r >= 0) {
		ck_assert_int_eq((long long)t, date_cases[_i].t);
		ck_assert_int_eq(off, date_cases[_i].offset);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_rfc5322_msgid");
	TCase *tc = tcase_create("msgid");
	tcase_add_loop_test(tc, test_msgid_table, 0, (int)CORE_NELEM(id_cases));
	tcase_add_loop_test(tc, test_date_table, 0, (int)CORE_NELEM(date_cases));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
