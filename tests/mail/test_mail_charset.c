/*
 * test_mail_charset.c: charset conversion to UTF-8 (src/mail/mail_charset.c), table-driven,
 * including the mislabel corrections and the per-thread iconv cache.
 */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "mail/mail.h"

static const struct {
	const char *charset;
	const char *in;
	size_t len; /* 0: strlen */
	const char *want;
	int result;
} cases[] = {
	{"us-ascii", "plain", 0, "plain", MAIL_CHARSET_OK},
	{"US-ASCII", "caf\xC3\xA9", 0, "caf\xC3\xA9", MAIL_CHARSET_FIXED}, /* UTF-8 in ascii */
	{"us-ascii", "caf\xE9", 0, "caf\xC3\xA9", MAIL_CHARSET_FIXED},     /* latin-1 in ascii */
	{"iso-8859-1", "caf\xE9", 0, "caf\xC3\xA9", MAIL_CHARSET_OK},
	{"ISO-8859-1", "\x93x\x94", 0, "\xE2\x80\x9Cx\xE2\x80\x9D", MAIL_CHARSET_FIXED},
	{"latin1", "\x80", 0, "\xE2\x82\xAC", MAIL_CHARSET_FIXED},
	{"windows-1252", "\x80", 0, "\xE2\x82\xAC", MAIL_CHARSET_OK},
	/* the five holes of windows-1252 keep their latin-1 (C1) value: no octet lost */
	{"windows-1252", "\x81\x8D\x8F\x90\x9D", 0, "\xC2\x81\xC2\x8D\xC2\x8F\xC2\x90\xC2\x9D",
	 MAIL_CHARSET_OK},
	{"\"utf-8\"", "\xE2\x82\xAC", 0, "\xE2\x82\xAC", MAIL_CHARSET_OK},
	{"utf8", "ok", 0, "ok", MAIL_CHARSET_OK},
	/* utf-8 declared, latin-1 octets only: windows-1252 */
	{"utf-8", "caf\xE9", 0, "caf\xC3\xA9", MAIL_CHARSET_FIXED},
	/* utf-8 declared, mostly UTF-8 with one bad octet: U+FFFD */
	{"utf-8", "\xC3\xA9\xFFx", 0, "\xC3\xA9\xEF\xBF\xBDx", MAIL_CHARSET_REPLACED},
	/* unknown charsets: UTF-8 if valid, else windows-1252 */
	{"x-no-such-charset", "\xC3\xA9", 0, "\xC3\xA9", MAIL_CHARSET_OK},
	{"x-no-such-charset", "\xE9\x80", 0, "\xC3\xA9\xE2\x82\xAC", MAIL_CHARSET_FALLBACK},
	{NULL, "\xE9", 0, "\xC3\xA9", MAIL_CHARSET_FALLBACK},
	{"", "\xE9", 0, "\xC3\xA9", MAIL_CHARSET_FALLBACK},
	{"unknown-8bit", "\xE9", 0, "\xC3\xA9", MAIL_CHARSET_FALLBACK},
	/* iconv charsets */
	{"iso-8859-2", "\xB1", 0, "\xC4\x85", MAIL_CHARSET_OK},
	{"koi8-r", "\xC1", 0, "\xD0\xB0", MAIL_CHARSET_OK},
	{"iso-8859-7", "\xE1", 0, "\xCE\xB1", MAIL_CHARSET_OK},
	{"windows-1251", "\xE0", 0, "\xD0\xB0", MAIL_CHARSET_OK},
	{"ks_c_5601-1987", "\xB0\xA1", 0, "\xEA\xB0\x80", MAIL_CHARSET_OK},
	{"gb2312", "\xC4\xE3", 0, "\xE4\xBD\xA0", MAIL_CHARSET_OK},
	{"big5", "\xA4\xA4", 0, "\xE4\xB8\xAD", MAIL_CHARSET_OK},
	{"euc-jp", "\xA4\xA2", 0, "\xE3\x81\x82", MAIL_CHARSET_OK},
	{"iso-8859-8-i", "\xE0", 0, "\xD7\x90", MAIL_CHARSET_OK},
	{"utf-16be", "\x00\x41\x00\xE9", 4, "A\xC3\xA9", MAIL_CHARSET_OK},
	{"utf-7", "+AOk-", 0, "\xC3\xA9", MAIL_CHARSET_OK},
	/* invalid sequence inside a known multi-octet charset */
	{"euc-jp", "a\xA4", 0, "a\xEF\xBF\xBD", MAIL_CHARSET_REPLACED},
	{"iso-2022-jp", "\x1B$B$\"\x1B(B", 0, "\xE3\x81\x82", MAIL_CHARSET_OK},
};

/* The effective charset of some of the cases above (index, name). */
static const struct {
	int i;
	const char *eff;
} effs[] = {
	{0, "US-ASCII"},     {1, "UTF-8"},          {2, "WINDOWS-1252"},  {3, "ISO-8859-1"},
	{4, "WINDOWS-1252"}, {6, "WINDOWS-1252"},   {8, "UTF-8"},         {10, "WINDOWS-1252"},
	{11, "UTF-8"},       {12, "UTF-8"},         {13, "WINDOWS-1252"}, {14, "WINDOWS-1252"},
	{17, "ISO-8859-2"},  {18, "KOI8-R"},        {21, "CP949"},        {22, "GB18030"},
	{28, "EUC-JP"},      {29, "ISO-2022-JP-2"},
};

START_TEST(test_charset_table)
{
	struct core_buf out = CORE_BUF_INIT;
	size_t len = cases[_i].len ? cases[_i].len : strlen(cases[_i].in);
	char eff[MAIL_CHARSET_NAME_MAX] = "";
	int r = mail_charset_to_utf8_eff(cases[_i].charset, cases[_i].in, len, &out, eff);
	for (size_t k = 0; k < CORE_NELEM(effs); k++)
		if (effs[k].i == _i)
			ck_assert_msg(strcmp(eff, effs[k].eff) == 0, "case %d: effective %s", _i,
				      eff);
	ck_assert_msg(r == cases[_i].result, "case %d: result %d, want %d", _i, r,
		      cases[_i].result);
	ck_assert_msg(out.len == strlen(cases[_i].want) &&
			      memcmp(out.p, cases[_i].want, out.len) == 0,
		      "case %d: got '%s'", _i, core_buf_cstr(&out));
	core_buf_fini(&out);
}
END_TEST

START_TEST(test_charset_canonical)
{
	ck_assert_str_eq(mail_charset_canonical("ISO-8859-1"), "WINDOWS-1252");
	ck_assert_str_eq(mail_charset_canonical("ks_c_5601-1987"), "CP949");
	ck_assert_str_eq(mail_charset_canonical("koi8-r"), "KOI8-R");
	ck_assert_ptr_null(mail_charset_canonical("x-no-such-charset"));
	ck_assert_ptr_null(mail_charset_canonical(""));
	ck_assert_ptr_null(mail_charset_canonical("bad name"));
}
END_TEST

/* More charsets than cache slots, twice: eviction and reuse give the same results. */
START_TEST(test_charset_cache_eviction)
{
	static const char *const names[] = {"iso-8859-2",  "iso-8859-3",  "iso-8859-4",
					    "iso-8859-5",  "iso-8859-6",  "iso-8859-7",
					    "iso-8859-9",  "iso-8859-10", "iso-8859-13",
					    "iso-8859-14", "iso-8859-15", "iso-8859-16"};
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < CORE_NELEM(names); i++) {
			struct core_buf out = CORE_BUF_INIT;
			ck_assert_int_eq(mail_charset_to_utf8(names[i], "A\xA0", 2, &out),
					 MAIL_CHARSET_OK);
			ck_assert_str_eq(core_buf_cstr(&out), "A\xC2\xA0");
			core_buf_fini(&out);
		}
	}
	mail_charset_cache_flush();
	mail_charset_cache_flush(); /* twice is harmless */
}
END_TEST

static void *thread_convert(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		struct core_buf out = CORE_BUF_INIT;
		if (mail_charset_to_utf8("koi8-r", "\xC1\xC2", 2, &out) != MAIL_CHARSET_OK ||
		    strcmp(core_buf_cstr(&out), "\xD0\xB0\xD0\xB1") != 0) {
			core_buf_fini(&out);
			return (void *)1;
		}
		core_buf_fini(&out);
	}
	return NULL; /* the thread's cache is closed by its destructor */
}

START_TEST(test_charset_threads)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_convert, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		ck_assert_ptr_null(r);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_charset");
	TCase *tc = tcase_create("charset");
	tcase_add_loop_test(tc, test_charset_table, 0, (int)CORE_NELEM(cases));
	tcase_add_test(tc, test_charset_canonical);
	tcase_add_test(tc, test_charset_cache_eviction);
	tcase_add_test(tc, test_charset_threads);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
