/*
 * test_tls.c: certificate name matching used by the SNI callback (src/net/net_tls.c):
 * exact names without regard to case, and RFC 6125 §6.4.3 wildcards that stand for exactly
 * one left-most label.
 */
#include <check.h>
#include <stdlib.h>

#include "net/net_int.h"

static const struct {
	const char *pattern, *name;
	bool match;
} name_cases[] = {
	{"mail.example.com", "mail.example.com", true},
	{"mail.example.com", "MAIL.Example.COM", true},
	{"MAIL.example.com", "mail.example.com", true},
	{"mail.example.com", "mail.example.org", false},
	{"mail.example.com", "mail.example.com.", false},
	{"mail.example.com", "example.com", false},
	{"*.example.com", "mail.example.com", true},
	{"*.example.com", "IMAP.EXAMPLE.COM", true},
	{"*.example.com", "example.com", false},
	{"*.example.com", "a.b.example.com", false},
	{"*.example.com", ".example.com", false},
	{"*.example.com", "mail.example.org", false},
	{"*.example.com", "mailexample.com", false},
	{"*", "localhost", false},
	{"*.", "a.", false},
	{"*.com", "example.com", false},
	{"*..com", "a..com", false},
	{"m*.example.com", "mail.example.com", false},
	{"", "", true},
	{"", "a", false},
};

START_TEST(test_name_match)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++)
		ck_assert_msg(net_tls_name_match(name_cases[i].pattern, name_cases[i].name) ==
				      name_cases[i].match,
			      "%s vs %s", name_cases[i].pattern, name_cases[i].name);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_tls");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, test_name_match);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
