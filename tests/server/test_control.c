/* Unit tests of the control command table, JSON strings and password hashing. */
#include "server/server_int.h"

#include <check.h>
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

static int echo_run(struct server *srv, const char *args, struct core_buf *out,
		    struct core_error *err)
{
	if (strcmp(args, "fail") == 0)
		return core_error_set(err, CORE_EPERM, NULL, "echo refused");
	core_buf_append_str(out, args);
	return 0;
}

static const struct server_ctl_cmd extra[] = {
	{"echo", "repeat the arguments", echo_run},
};

static char *dispatch(const char *line)
{
	struct core_buf b = CORE_BUF_INIT;
	server_control_dispatch(NULL, line, &b);
	core_buf_putc(&b, '\0');
	return core_buf_detach(&b, NULL);
}

START_TEST(test_dispatch)
{
	char *r = dispatch("frobnicate now");
	ck_assert_str_eq(r, "error unknown command \"frobnicate\" (try help)");
	free(r);
	r = dispatch("status");
	ck_assert(strncmp(r, "error ", 6) == 0); /* no server in this test */
	free(r);
	r = dispatch("help");
	ck_assert(strncmp(r, "ok ", 3) == 0);
	ck_assert_ptr_nonnull(strstr(r, "status:"));
	ck_assert_ptr_nonnull(strstr(r, "stop:"));
	ck_assert_ptr_null(strstr(r, "echo:"));
	free(r);
	r = dispatch("bad\x01line");
	ck_assert_str_eq(r, "error control characters in request");
	free(r);
}
END_TEST

START_TEST(test_extensible)
{
	server_control_register(extra, CORE_NELEM(extra));
	server_control_register(extra, CORE_NELEM(extra)); /* idempotent */
	char *r = dispatch("  echo   hello world");
	ck_assert_str_eq(r, "ok hello world");
	free(r);
	r = dispatch("echo fail");
	ck_assert_str_eq(r, "error echo refused");
	free(r);
	r = dispatch("help");
	ck_assert_ptr_nonnull(strstr(r, "echo: repeat the arguments"));
	free(r);
}
END_TEST

START_TEST(test_json_str)
{
	struct core_buf b = CORE_BUF_INIT;
	server_json_str(&b, "a\"b\\c\n\x7f");
	ck_assert_str_eq(core_buf_cstr(&b), "\"a\\\"b\\\\c\\u000a\\u007f\"");
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_ctl_encoding)
{
	/* Every byte value survives the round trip; the encoding has no space, newline or
	 * control character, and the empty string is "-". */
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)(i == 0 ? 1 : i);
	struct core_buf e = CORE_BUF_INIT, d = CORE_BUF_INIT;
	server_ctl_encode(&e, all, sizeof(all));
	for (size_t i = 0; i < e.len; i++)
		ck_assert((unsigned char)e.p[i] > 0x20 && (unsigned char)e.p[i] < 0x7f);
	ck_assert_int_eq(server_ctl_decode(e.p, e.len, &d), 0);
	ck_assert_uint_eq(d.len, sizeof(all));
	ck_assert(memcmp(d.p, all, sizeof(all)) == 0);
	core_buf_reset(&e);
	server_ctl_encode(&e, "", 0);
	ck_assert_str_eq(core_buf_cstr(&e), "-");
	core_buf_reset(&d);
	ck_assert_int_eq(server_ctl_decode("-", 1, &d), 0);
	ck_assert_uint_eq(d.len, 0);
	core_buf_reset(&e);
	server_ctl_encode(&e, "a b-c%", 6);
	ck_assert_str_eq(core_buf_cstr(&e), "a%20b%2Dc%25");
	/* Rejects leave the output as it was: bad escapes, NUL, raw unsafe bytes. */
	const char *bad[] = {"%", "%4", "%zz", "%00", "a b", "x\n", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		core_buf_reset(&d);
		core_buf_append_str(&d, "keep");
		ck_assert_int_eq(server_ctl_decode(bad[i], strlen(bad[i]), &d), CORE_ESYNTAX);
		ck_assert_uint_eq(d.len, 4);
	}
	core_buf_fini(&e);
	core_buf_fini(&d);
}
END_TEST

START_TEST(test_dir_without_server)
{
	/* The directory and export commands need a server's stores; without one they fail
	 * cleanly; "export" mixed with other requests is refused by the dispatcher. */
	char *r = dispatch("dir account list");
	ck_assert_msg(strncmp(r, "error ", 6) == 0, "%s", r);
	free(r);
	r = dispatch("export");
	ck_assert_msg(strncmp(r, "error ", 6) == 0, "%s", r);
	free(r);
}
END_TEST

START_TEST(test_password_hash)
{
	struct core_error err;
	char *h = server_password_hash("correct horse", &err);
	ck_assert_ptr_nonnull(h);
	ck_assert(strncmp(h, "$y$", 3) == 0 || strncmp(h, "$6$", 3) == 0);
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *again = crypt_rn("correct horse", h, cd, (int)sizeof(*cd));
	ck_assert_ptr_nonnull(again);
	ck_assert_str_eq(again, h);
	const char *wrong = crypt_rn("correct horsf", h, cd, (int)sizeof(*cd));
	ck_assert(wrong == NULL || strcmp(wrong, h) != 0);
	char *h2 = server_password_hash("correct horse", &err);
	ck_assert_str_ne(h, h2); /* fresh salt each time */
	free(cd);
	free(h);
	free(h2);
}
END_TEST

START_TEST(test_password_generate)
{
	char a[SERVER_PASSWORD_LEN + 1], b[SERVER_PASSWORD_LEN + 1];
	ck_assert_int_eq(server_password_generate(a, sizeof(a)), 0);
	ck_assert_int_eq(server_password_generate(b, sizeof(b)), 0);
	ck_assert_uint_eq(strlen(a), SERVER_PASSWORD_LEN);
	ck_assert_uint_eq(strlen(b), SERVER_PASSWORD_LEN);
	ck_assert_uint_eq(
		strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		SERVER_PASSWORD_LEN);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(server_password_generate(a, SERVER_PASSWORD_LEN), CORE_EIO); /* no room */
	/* Every symbol position is reachable: over many draws, all 64 symbols appear. */
	bool seen[256] = {false};
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(server_password_generate(b, sizeof(b)), 0);
		ck_assert_uint_eq(strlen(b), SERVER_PASSWORD_LEN);
		for (size_t j = 0; j < SERVER_PASSWORD_LEN; j++)
			seen[(unsigned char)b[j]] = true;
		/* Never an option-looking first symbol. */
		ck_assert(b[0] != '-' && b[0] != '_');
	}
	int distinct = 0;
	for (int i = 0; i < 256; i++)
		distinct += seen[i];
	ck_assert_int_eq(distinct, 64);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_control");
	TCase *tc = tcase_create("control");
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_extensible);
	tcase_add_test(tc, test_json_str);
	tcase_add_test(tc, test_ctl_encoding);
	tcase_add_test(tc, test_dir_without_server);
	tcase_add_test(tc, test_password_hash);
	tcase_add_test(tc, test_password_generate);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
