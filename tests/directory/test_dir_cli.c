/*
 * test_dir_cli.c: the directory commands (dir_cli.c) on an internal directory: each command's
 * effect is checked through the directory API, its output and its errors.
 */
#include <stdlib.h>
#include <string.h>

#include "helper_dir.h"

static struct test_dir_env env;
static struct core_error err;
static char *out_text, *err_text;
static size_t out_len, err_len;

static void setup(void)
{
	test_dir_env_open(&env);
	core_error_clear(&err);
}

static void teardown(void)
{
	test_dir_env_close(&env);
	free(out_text);
	free(err_text);
	out_text = err_text = NULL;
}

/* Run "staunch <words>" (words separated by '|'); returns the result code. */
static int run(const char *words)
{
	free(out_text);
	free(err_text);
	FILE *o = open_memstream(&out_text, &out_len);
	FILE *e = open_memstream(&err_text, &err_len);
	struct dir_cli c = {.d = env.d,
			    .data = env.data,
			    .out = o,
			    .errf = e,
			    .hostname = "mx.example.org",
			    .selector_date = "202611"};
	char *copy = core_xstrdup(words);
	char *argv[32];
	int argc = 0;
	for (char *s = strtok(copy, "|"); s != NULL && argc < 32; s = strtok(NULL, "|"))
		argv[argc++] = s;
	int r = dir_cli_run(&c, argc, argv);
	fclose(o);
	fclose(e);
	free(copy);
	return r;
}

static void ok(const char *words)
{
	int r = run(words);
	ck_assert_msg(r == 0, "%s: %s / %s", words, core_err_name(r), err_text);
}

START_TEST(test_domain_and_account)
{
	ok("domain|add|example.org|--alias|example.net");
	ck_assert_ptr_nonnull(strstr(out_text, "DKIM key 202611e (ed25519) created"));
	ck_assert_ptr_nonnull(strstr(out_text, "DKIM key 202611r (rsa-2048) created"));
	ok("account|add|alice@example.org|--password|SECRET|--quota|1G|--alias|al@example.org");
	struct dir_principal *p;
	ck_assert_int_eq(
		dir_principal_by_address(env.d, CORE_STR("al@example.net"), env.a, &p, &err), 0);
	ck_assert_str_eq(p->name, "alice@example.org");
	ck_assert_uint_eq(p->quota_bytes, 1024ull * 1024 * 1024);
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice@example.org"),
					  CORE_STR("SECRET"), env.a, &p, &err),
			 1);
	ok("account|passwd|alice@example.org|--password|NEW");
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("al@example.org"), CORE_STR("NEW"),
					  env.a, &p, &err),
			 1);
	ok("account|show|alice@example.org");
	ck_assert_ptr_nonnull(strstr(out_text, "alias: al@example.org\n"));
	ck_assert_ptr_nonnull(strstr(out_text, "password: argon2id\n"));
	ok("account|disable|alice@example.org");
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice@example.org"),
					  CORE_STR("NEW"), env.a, &p, &err),
			 CORE_EPERM);
	ok("account|enable|al@example.org");
	ok("account|app-password|add|alice@example.org|phone|--password|APP");
	ck_assert_int_eq(dir_authenticate(env.d, NULL, CORE_STR("alice@example.org"),
					  CORE_STR("APP"), env.a, &p, &err),
			 1);
	ok("account|list");
	ck_assert_str_eq(out_text, "alice@example.org\n");
	ok("domain|list");
	ck_assert_str_eq(out_text, "example.org alias:example.net\n");
	/* Errors: duplicate, unknown domain, bad quota, unknown account, usage. */
	ck_assert_int_eq(run("account|add|alice@example.org"), CORE_ECONFLICT);
	ck_assert_int_eq(run("account|add|bob@example.com"), CORE_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err_text, "example.com is not a local domain"));
	ck_assert_int_eq(run("account|add|bob@example.org|--quota|lots"), CORE_ESYNTAX);
	ck_assert_int_eq(run("account|show|nobody"), CORE_ENOTFOUND);
	ck_assert_int_eq(run("account|add"), CORE_ESYNTAX);
	ck_assert_int_eq(run("account|add|x|--bogus"), CORE_ESYNTAX);
	ck_assert_int_eq(run("frobnicate"), CORE_ESYNTAX);
	ck_assert_int_eq(run("domain|remove|example.org"), CORE_ECONFLICT);
	ok("account|remove|alice@example.org");
	ok("domain|remove|example.net");
	ck_assert_int_eq(dir_is_local_domain(env.d, CORE_STR("example.org"), &err), 0);
}
END_TEST

START_TEST(test_alias_group_list)
{
	ok("domain|add|example.org|--no-dkim");
	ok("account|add|alice|--address|alice@example.org");
	ok("account|add|bob|--address|bob@example.org");
	ok("alias|add|postmaster@example.org|alice");
	struct dir_rcpt r;
	ck_assert_int_eq(dir_resolve(env.d, CORE_STR("postmaster@example.org"), env.a, &r, &err),
			 0);
	ck_assert_str_eq(r.targets[0].principal->name, "alice");
	ck_assert_int_eq(run("alias|remove|alice@example.org"), CORE_ENOTFOUND);
	ok("alias|remove|postmaster@example.org");
	ck_assert_int_eq(dir_resolve(env.d, CORE_STR("postmaster@example.org"), env.a, &r, &err),
			 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);

	ok("list|add|team@example.org|--member|alice@example.org|--member|friend@else.example");
	ok("list|add-member|team|bob");
	ck_assert_int_eq(dir_resolve(env.d, CORE_STR("team@example.org"), env.a, &r, &err), 0);
	ck_assert_uint_eq(r.n_targets, 3);
	ok("list|remove-member|team|friend@else.example");
	ck_assert_int_eq(run("list|remove-member|team|nobody"), CORE_ENOTFOUND);
	ck_assert_int_eq(dir_resolve(env.d, CORE_STR("team@example.org"), env.a, &r, &err), 0);
	ck_assert_uint_eq(r.n_targets, 2);

	ok("group|add|staff|--member|alice");
	ok("group|add|all|--member|staff");
	ok("account|show|alice");
	ck_assert_ptr_nonnull(strstr(out_text, "member-of: staff\n"));
	ck_assert_ptr_nonnull(strstr(out_text, "member-of: all\n"));
	ok("group|list");
	ck_assert_str_eq(out_text, "all\nstaff\n");
	ok("group|remove|staff");
	ck_assert_int_eq(run("group|show|staff"), CORE_ENOTFOUND);
}
END_TEST

static int key_in_output(void *arg, const char *selector, const char *pem, size_t len)
{
	(void)arg;
	struct core_buf p = CORE_BUF_INIT;
	enum dir_dkim_alg alg;
	ck_assert_int_eq(dir_dkim_public(pem, len, &alg, &p, &err), 0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "%s._domainkey.example.org. 3600 IN TXT \"v=DKIM1; k=%s; p=", selector,
		 alg == DIR_DKIM_RSA ? "rsa" : "ed25519");
	const char *l = strstr(out_text, want);
	ck_assert_ptr_nonnull(l);
	/* The first 200 characters of p= sit in the first character-string. */
	ck_assert(strncmp(l + strlen(want), p.p, p.len < 200 ? p.len : 200) == 0);
	core_buf_fini(&p);
	return 0;
}

START_TEST(test_dns_command)
{
	ok("domain|add|example.org");
	ok("dns|example.org|--pop3");
	static const char *const want[] = {
		"example.org. 3600 IN MX 10 mx.example.org.\n",
		"202611e._domainkey.example.org. 3600 IN TXT \"v=DKIM1; k=ed25519; p=",
		"202611r._domainkey.example.org. 3600 IN TXT \"v=DKIM1; k=rsa; p=",
		"_pop3s._tcp.example.org. 3600 IN SRV 0 1 995 mx.example.org.\n",
	};
	for (size_t i = 0; i < CORE_NELEM(want); i++)
		ck_assert_msg(strstr(out_text, want[i]) != NULL, "missing %s in\n%s", want[i],
			      out_text);
	/* The published keys are the public halves of the stored private keys. */
	int n = dir_dkim_key_list(env.data, "example.org", key_in_output, NULL, &err);
	ck_assert_int_eq(n, 2);
	ok("domain|remove|example.org");
	ok("dns|example.org");
	ck_assert_ptr_null(strstr(out_text, "_domainkey"));
	ck_assert_ptr_nonnull(strstr(err_text, "not a local domain"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_cli");
	TCase *tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_domain_and_account);
	tcase_add_test(tc, test_alias_group_list);
	tcase_add_test(tc, test_dns_command);
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
