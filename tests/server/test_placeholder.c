/* Unit tests of the placeholder refusals (server_placeholder.c). */
#include "server/server_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *protocol;
	const char *expect;
} cases[] = {
	{"smtp",
	 "421 4.3.2 mx.example.org Service not available, closing transmission channel\r\n"},
	{"submission",
	 "421 4.3.2 mx.example.org Service not available, closing transmission channel\r\n"},
	{"lmtp",
	 "421 4.3.2 mx.example.org Service not available, closing transmission channel\r\n"},
	{"imap", "* BYE Staunch IMAP service not available\r\n"},
	{"pop3", "-ERR Staunch POP3 service not available\r\n"},
	{"managesieve", "BYE \"ManageSieve service not available\"\r\n"},
};

START_TEST(test_line_protocols)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(server_placeholder_greeting(cases[_i].protocol, "mx.example.org", &b), 0);
	ck_assert_str_eq(core_buf_cstr(&b), cases[_i].expect);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_http_503)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(server_placeholder_greeting("http", "h", &b), 0);
	const char *s = core_buf_cstr(&b);
	ck_assert(strncmp(s, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
	ck_assert_ptr_nonnull(strstr(s, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(s, "\r\nRetry-After: "));
	const char *cl = strstr(s, "\r\nContent-Length: ");
	ck_assert_ptr_nonnull(cl);
	long n = strtol(cl + 18, NULL, 10);
	const char *body = strstr(s, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq((long)strlen(body + 4), n);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_unknown_and_default_host)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(server_placeholder_greeting("gopher", "h", &b), CORE_ENOTFOUND);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(server_placeholder_greeting("smtp", NULL, &b), 0);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&b), "421 4.3.2 localhost "));
	core_buf_fini(&b);

	struct server_placeholder p;
	ck_assert_int_eq(server_placeholder_init(&p, "pop3", "h"), 0);
	ck_assert_uint_eq(p.len, strlen("-ERR Staunch POP3 service not available\r\n"));
	ck_assert(!p.wait_request);
	server_placeholder_fini(&p);
	ck_assert_int_eq(server_placeholder_init(&p, "http", "h"), 0);
	ck_assert(p.wait_request); /* HTTP reads the request head before closing */
	server_placeholder_fini(&p);
	ck_assert_int_eq(server_placeholder_init(&p, "nntp", "h"), CORE_ENOTFOUND);
	ck_assert_ptr_null(p.greeting);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_placeholder");
	TCase *tc = tcase_create("greeting");
	tcase_add_loop_test(tc, test_line_protocols, 0, (int)CORE_NELEM(cases));
	tcase_add_test(tc, test_http_503);
	tcase_add_test(tc, test_unknown_and_default_host);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
