/*
 * test_mail_mime_ew.c: RFC 2047 encoded words (src/mail/mail_mime_ew.c), table-driven.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"

static const struct {
	const char *in;
	const char *want;
	int words;
} cases[] = {
	/* RFC 2047 §8 examples */
	{"=?ISO-8859-1?Q?a?=", "a", 1},
	{"=?ISO-8859-1?Q?a?= b", "a b", 1},
	{"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab", 2},
	{"=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab", 2},
	{"=?ISO-8859-1?Q?a?=\r\n  =?ISO-8859-1?Q?b?=", "ab", 2},
	{"=?ISO-8859-1?Q?a_b?=", "a b", 1},
	{"=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b", 2},
	{"=?US-ASCII?Q?Keith_Moore?=", "Keith Moore", 1},
	{"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xC3\xB8rn Simonsen", 1},
	{"=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xC3\xA9 Pirard", 1},
	/* B encoding, lower-case markers */
	{"=?utf-8?b?w6k=?=", "\xC3\xA9", 1},
	{"=?UTF-8?B?SGVsbG8gV29ybGQ=?=", "Hello World", 1},
	/* a UTF-8 character split across two words (octets joined before conversion) */
	{"=?UTF-8?B?w6?= =?UTF-8?Q?=A9?=", "\xC3\xA9", 2},
	{"=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "\xE2\x82\xAC", 2},
	/* RFC 2231 §5 language suffix */
	{"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore", 1},
	/* not encoded words: kept as text */
	{"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=", 0},
	{"=?UTF-8?Q?no end", "=?UTF-8?Q?no end", 0},
	{"=??Q?abc?=", "=??Q?abc?=", 0},
	{"a = b ?= c", "a = b ?= c", 0},
	{"=?UTF-8?Q?has space?=", "=?UTF-8?Q?has space?=", 0},
	/* text between words is kept when it is not only white space */
	{"=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b", 2},
	/* encoded words touching text: RFC 2047 §5 (1), RFC 8621 §4.1.2.2 MUST NOT decode */
	{"Re:=?UTF-8?Q?=C3=A9t=C3=A9?=", "Re:=?UTF-8?Q?=C3=A9t=C3=A9?=", 0},
	{"=?UTF-8?Q?a?=b", "=?UTF-8?Q?a?=b", 0},
	{"=?UTF-8?Q?a?==?UTF-8?Q?b?=", "=?UTF-8?Q?a?==?UTF-8?Q?b?=", 0},
	{"(=?UTF-8?Q?a?=)", "(=?UTF-8?Q?a?=)", 0},
	/* decoded control characters are dropped (RFC 8621 §4.1.2.2) */
	{"=?UTF-8?Q?a=00b=0D=0Ac=7F=C2=85d?=", "abcd", 1},
	/* windows-1252 octets labelled iso-8859-1 */
	{"=?iso-8859-1?Q?=93quoted=94?=", "\xE2\x80\x9Cquoted\xE2\x80\x9D", 1},
	/* unknown charset: not decoded (RFC 8621 §4.1.2.2 "known character set") */
	{"=?x-nonsense?Q?=C3=A9?=", "=?x-nonsense?Q?=C3=A9?=", 0},
	{"=?utf-8?q?a?= =?unknown-8bit?q?b?=", "a =?unknown-8bit?q?b?=", 1},
	/* raw 8-bit text around words: UTF-8 kept, latin-1 fixed */
	{"caf\xC3\xA9 =?UTF-8?Q?x?=", "caf\xC3\xA9 x", 1},
	{"caf\xE9", "caf\xC3\xA9", 0},
	/* Shift_JIS and ISO-2022-JP through iconv */
	{"=?ISO-2022-JP?B?GyRCJEskWyQzGyhC?=", "\xE3\x81\xAB\xE3\x81\xBB\xE3\x81\x93", 1},
	{"=?shift_jis?B?k/qWe4zq?=", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 1},
	/* empty encoded text */
	{"=?UTF-8?Q?"
	 "?=",
	 "", 1},
	{"", "", 0},
};

START_TEST(test_ew_table)
{
	struct core_buf out = CORE_BUF_INIT;
	int n = mail_ew_decode(cases[_i].in, strlen(cases[_i].in), 0, &out);
	ck_assert_msg(n == cases[_i].words, "case %d: %d words, want %d", _i, n, cases[_i].words);
	ck_assert_msg(strcmp(core_buf_cstr(&out), cases[_i].want) == 0, "case %d: got '%s'", _i,
		      core_buf_cstr(&out));
	ck_assert(core_utf8_is_valid(out.p, out.len));
	core_buf_fini(&out);
}
END_TEST

/* Every prefix of a long input decodes to valid UTF-8 without reading past its end. */
START_TEST(test_ew_prefixes)
{
	const char *in = "=?UTF-8?B?w6nDqcOp?= =?ISO-8859-1?Q?=E9_x?= tail =?UTF-8?Q?=E2=82=AC?=";
	size_t len = strlen(in);
	for (size_t k = 0; k <= len; k++) {
		char *copy = core_xstrndup(in, k);
		struct core_buf out = CORE_BUF_INIT;
		mail_ew_decode(copy, k, _i, &out);
		ck_assert(core_utf8_is_valid(out.p != NULL ? out.p : "", out.len));
		core_buf_fini(&out);
		free(copy);
	}
}
END_TEST

/* MAIL_EW_LENIENT: words touching text are decoded too (MIME parameter values). */
static const struct {
	const char *in;
	const char *want;
} lenient[] = {
	{"Re:=?UTF-8?Q?=C3=A9t=C3=A9?=", "Re:\xC3\xA9t\xC3\xA9"},
	{"=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab"},
	{"x=?UTF-8?B?w6k=?=.txt", "x\xC3\xA9.txt"},
};

START_TEST(test_ew_lenient)
{
	struct core_buf out = CORE_BUF_INIT;
	int n = mail_ew_decode(lenient[_i].in, strlen(lenient[_i].in), MAIL_EW_LENIENT, &out);
	ck_assert_int_ge(n, 1);
	ck_assert_str_eq(core_buf_cstr(&out), lenient[_i].want);
	core_buf_fini(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_mime_ew");
	TCase *tc = tcase_create("ew");
	tcase_add_loop_test(tc, test_ew_table, 0, (int)CORE_NELEM(cases));
	tcase_add_loop_test(tc, test_ew_prefixes, 0, 2);
	tcase_add_loop_test(tc, test_ew_lenient, 0, (int)CORE_NELEM(lenient));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
