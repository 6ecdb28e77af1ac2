/*
 * test_mail_idn.c: IDN conversion of address domains (src/mail/mail_idn.c), table-driven
 * with IDNA2008 examples.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"

static const struct {
	const char *in;
	int rc;
	const char *want;
} to_unicode[] = {
	{"example.com", 0, "example.com"},
	{"xn--bcher-kva.example", 0,
	 "b\xC3\xBC"
	 "cher.example"},
	{"XN--BCHER-KVA.Example", 0,
	 "b\xC3\xBC"
	 "cher.Example"},
	{"mail.xn--fiqs8s", 0, "mail.\xE4\xB8\xAD\xE5\x9B\xBD"},
	{"xn--zca.example", 0, "\xC3\x9F.example"},
	{"[192.0.2.1]", 0, "[192.0.2.1]"},
	{"", 0, ""},
	/* not a valid A-label: kept, error reported */
	{"xn--abc-.example", CORE_ESYNTAX, "xn--abc-.example"},
	{"xn--zz.example", CORE_ESYNTAX, "xn--zz.example"},
	/* an A-label of an ASCII-only string is not an IDN */
	{"xn--abc-.test", CORE_ESYNTAX, "xn--abc-.test"},
};

START_TEST(test_idn_to_unicode)
{
	struct core_arena *a = core_arena_new(0);
	struct core_str out;
	struct core_error err;
	int rc = mail_idn_to_unicode(a, core_str_from_cstr(to_unicode[_i].in), &out, &err);
	ck_assert_msg(rc == to_unicode[_i].rc, "case %d: rc %d", _i, rc);
	ck_assert_msg(core_str_eq_cstr(out, to_unicode[_i].want), "case %d: '%.*s'", _i,
		      CORE_STR_FMT(out));
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	const char *want;
} to_ascii[] = {
	{"example.com", 0, "example.com"},
	{"b\xC3\xBC"
	 "cher.example",
	 0, "xn--bcher-kva.example"},
	{"B\xC3\x9C"
	 "CHER.example",
	 0, "xn--bcher-kva.example"},
	{"mail.\xE4\xB8\xAD\xE5\x9B\xBD", 0, "mail.xn--fiqs8s"},
	/* nontransitional: sharp s stays */
	{"\xC3\x9F.example", 0, "xn--zca.example"},
	/* not valid UTF-8, or not allowed in a label */
	{"b\xFC"
	 "cher.example",
	 CORE_ESYNTAX, ""},
	{"a\xE2\x80\x8D"
	 "b.example",
	 CORE_ESYNTAX, ""},
};

START_TEST(test_idn_to_ascii)
{
	struct core_arena *a = core_arena_new(0);
	struct core_str out = CORE_STR("");
	struct core_error err;
	int rc = mail_idn_to_ascii(a, core_str_from_cstr(to_ascii[_i].in), &out, &err);
	ck_assert_msg(rc == to_ascii[_i].rc, "case %d: rc %d", _i, rc);
	ck_assert_msg(core_str_eq_cstr(out, to_ascii[_i].want), "case %d: '%.*s'", _i,
		      CORE_STR_FMT(out));
	core_arena_free(&a);
}
END_TEST

START_TEST(test_idn_addr_display)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_addr_list l;
	mail_addr_list_parse(a,
			     CORE_STR(" Shop <info@xn--bcher-kva.example>, plain@example.com,"
				      " odd@xn--zz.example"),
			     &l);
	ck_assert_uint_eq(l.naddrs, 3);
	const struct mail_addr *v = l.groups[0].addrs;
	/* the parsed email stays as written; the display form has U-labels */
	ck_assert(core_str_eq_cstr(v[0].email, "info@xn--bcher-kva.example"));
	ck_assert(core_str_eq_cstr(mail_addr_email_unicode(a, &v[0]), "info@b\xC3\xBC"
								      "cher.example"));
	ck_assert(core_str_eq_cstr(mail_addr_email_unicode(a, &v[1]), "plain@example.com"));
	ck_assert(core_str_eq_cstr(mail_addr_email_unicode(a, &v[2]), "odd@xn--zz.example"));
	core_arena_free(&a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mail_idn");
	TCase *tc = tcase_create("idn");
	tcase_add_loop_test(tc, test_idn_to_unicode, 0, (int)CORE_NELEM(to_unicode));
	tcase_add_loop_test(tc, test_idn_to_ascii, 0, (int)CORE_NELEM(to_ascii));
	tcase_add_test(tc, test_idn_addr_display);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
