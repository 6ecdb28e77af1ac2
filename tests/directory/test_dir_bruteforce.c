/*
 * test_dir_bruteforce.c: brute-force protection (dir_bruteforce.c): counting per IP and per
 * account in the lookup store, bans after N failures, expiry with a test clock, the exempt
 * list, logged bans and unbans, and dir_authenticate refusing banned clients.
 */
#include <stdlib.h>
#include <string.h>

#include "helper_dir.h"

static uint64_t fake_now = 1000000000000ull;
static uint64_t fake_clock(void)
{
	return fake_now;
}

static struct core_buf logbuf;
static void log_hook(enum core_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	core_buf_append_str(&logbuf, line);
	core_buf_putc(&logbuf, '\n');
}

static struct store_lookup *lk;
static struct dir_bruteforce *bf;
static struct core_error err;

static void setup(void)
{
	store_clock_set(fake_clock);
	core_log_set_hook(log_hook, NULL);
	core_buf_init(&logbuf);
	core_error_clear(&err);
	ck_assert_int_eq(store_lookup_open("memory", &(struct store_params){0}, &lk, &err), 0);
	static const char *const ex[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"};
	struct dir_bf_settings s = {.max_ip = 3,
				    .max_account = 5,
				    .window_ms = 60000,
				    .ban_ms = 600000,
				    .exempt = ex,
				    .n_exempt = 3};
	ck_assert_int_eq(dir_bruteforce_new(lk, &s, &bf, &err), 0);
}

static void teardown(void)
{
	dir_bruteforce_free(&bf);
	store_lookup_free(&lk);
	core_log_set_hook(NULL, NULL);
	core_buf_fini(&logbuf);
	store_clock_set(NULL);
}

START_TEST(test_ip_ban_and_expiry)
{
	const char *ip = "192.0.2.7";
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, "alice", &err), 0);
	ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "alice", &err), 0);
	ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "bob", &err), 0);
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, "carol", &err), 0);
	ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "carol", &err), 1);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&logbuf), "event=auth.ban ip=192.0.2.7"));
	/* Banned for every account, other IPs unaffected. */
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, "dave", &err), CORE_EPERM);
	ck_assert_int_eq(dir_bruteforce_check(bf, "192.0.2.8", "dave", &err), 0);
	fake_now += 599000;
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, NULL, &err), CORE_EPERM);
	ck_assert_ptr_null(strstr(core_buf_cstr(&logbuf), "auth.unban"));
	fake_now += 2000;
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, NULL, &err), 0);
	ck_assert_ptr_nonnull(
		strstr(core_buf_cstr(&logbuf), "event=auth.unban ip=192.0.2.7 reason=expired"));
	/* The count starts again from zero. */
	ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "x", &err), 0);
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, NULL, &err), 0);
}
END_TEST

START_TEST(test_window_forgets)
{
	const char *ip = "198.51.100.1";
	dir_bruteforce_failure(bf, ip, NULL, &err);
	dir_bruteforce_failure(bf, ip, NULL, &err);
	fake_now += 61000; /* the window passed: the two failures are forgotten */
	ck_assert_int_eq(dir_bruteforce_failure(bf, ip, NULL, &err), 0);
	ck_assert_int_eq(dir_bruteforce_check(bf, ip, NULL, &err), 0);
}
END_TEST

START_TEST(test_account_ban_and_success)
{
	/* Failures from many IPs against one account. */
	char ip[32];
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
		ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "alice", &err), 0);
	}
	/* A success forgets the account's failures. */
	dir_bruteforce_success(bf, "203.0.113.50", "alice");
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 10);
		ck_assert_int_eq(dir_bruteforce_failure(bf, ip, "alice", &err), 0);
	}
	ck_assert_int_eq(dir_bruteforce_failure(bf, "203.0.113.99", "alice", &err), 1);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&logbuf), "event=auth.ban account=alice"));
	ck_assert_int_eq(dir_bruteforce_check(bf, "203.0.113.200", "alice", &err), CORE_EPERM);
	ck_assert_int_eq(dir_bruteforce_check(bf, "203.0.113.200", "bob", &err), 0);
	/* Manual unban, logged. */
	ck_assert_int_eq(dir_bruteforce_unban(bf, NULL, "alice", &err), 1);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&logbuf), "event=auth.unban account=alice"));
	ck_assert_int_eq(dir_bruteforce_check(bf, "203.0.113.200", "alice", &err), 0);
	ck_assert_int_eq(dir_bruteforce_unban(bf, NULL, "alice", &err), 0);
}
END_TEST

START_TEST(test_exempt)
{
	static const char *const yes[] = {"127.0.0.1", "10.1.2.3", "::ffff:10.9.9.9",
					  "2001:db8:1::5"};
	static const char *const no[] = {"127.0.0.2", "11.0.0.1", "2001:db9::1", "garbage"};
	for (size_t i = 0; i < CORE_NELEM(yes); i++)
		ck_assert_msg(dir_bruteforce_exempt(bf, yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < CORE_NELEM(no); i++)
		ck_assert_msg(!dir_bruteforce_exempt(bf, no[i]), "%s", no[i]);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(dir_bruteforce_failure(bf, "10.0.0.1", NULL, &err), 0);
	ck_assert_int_eq(dir_bruteforce_check(bf, "10.0.0.1", NULL, &err), 0);
	/* Bad exempt entries are refused. */
	static const char *const bad[] = {"10.0.0.0/33"};
	struct dir_bf_settings s = {.max_ip = 1, .exempt = bad, .n_exempt = 1};
	struct dir_bruteforce *b2 = NULL;
	ck_assert_int_eq(dir_bruteforce_new(lk, &s, &b2, &err), CORE_ESYNTAX);
	ck_assert_ptr_null(b2);
}
END_TEST

START_TEST(test_authenticate_banned)
{
	struct test_dir_env e;
	test_dir_env_open(&e);
	struct dir_principal dom = {.type = DIR_DOMAIN, .name = "example.org"};
	test_dir_create(&e, &dom);
	struct dir_principal p = {.type = DIR_INDIVIDUAL, .name = "alice"};
	const char *id = test_dir_create(&e, &p);
	ck_assert_int_eq(dir_password_change(e.d, core_str_from_cstr(id), CORE_STR("pw"), &err), 0);
	struct dir_auth_ctx ctx = {.remote_ip = "192.0.2.1", .bf = bf};
	struct dir_principal *out;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(dir_authenticate(e.d, &ctx, CORE_STR("alice"), CORE_STR("bad"),
						  e.a, &out, &err),
				 0);
	/* Now even the right password is refused from that IP. */
	ck_assert_int_eq(
		dir_authenticate(e.d, &ctx, CORE_STR("alice"), CORE_STR("pw"), e.a, &out, &err),
		CORE_EPERM);
	ctx.remote_ip = "192.0.2.2";
	ck_assert_int_eq(
		dir_authenticate(e.d, &ctx, CORE_STR("alice"), CORE_STR("pw"), e.a, &out, &err), 1);
	/* SCRAM refuses a banned client before any exchange. */
	struct dir_sasl ds;
	struct dir_auth_ctx banned = {.remote_ip = "192.0.2.1", .bf = bf};
	dir_sasl_init(&ds, e.d, &banned);
	struct dir_scram_secret sec;
	struct sasl_principal sp;
	ck_assert_int_eq(ds.be.scram_lookup(ds.be.ctx, DIR_SCRAM_SHA256, CORE_STR("alice"), e.a,
					    &sec, &sp, &err),
			 CORE_EPERM);
	dir_sasl_init(&ds, e.d, &ctx);
	ck_assert_int_eq(ds.be.scram_lookup(ds.be.ctx, DIR_SCRAM_SHA256, CORE_STR("alice"), e.a,
					    &sec, &sp, &err),
			 0);
	/* SASL exchanges count through dir_sasl_report, whatever the mechanism. */
	struct dir_auth_ctx sctx = {.remote_ip = "192.0.2.9", .bf = bf};
	dir_sasl_init(&ds, e.d, &sctx);
	struct sasl_config cfg = {0};
	struct sasl_conn_info ci = {.tls = true};
	struct core_buf chal = CORE_BUF_INIT;
	for (int i = 0; i < 3; i++) {
		struct sasl_exchange *x = sasl_exchange_new(&cfg, &ds.be, &ci, "PLAIN", 5);
		ck_assert_int_eq(sasl_exchange_step(x, "\0alice\0bad", 10, true, &chal), SASL_FAIL);
		dir_sasl_report(&ds, "alice", sasl_exchange_result(x));
		sasl_exchange_free(&x);
	}
	ck_assert_int_eq(dir_bruteforce_check(bf, "192.0.2.9", NULL, &err), CORE_EPERM);
	struct sasl_exchange *x = sasl_exchange_new(&cfg, &ds.be, &ci, "PLAIN", 5);
	ck_assert_int_eq(sasl_exchange_step(x, "\0alice\0pw", 9, true, &chal), SASL_FAIL);
	sasl_exchange_free(&x);
	core_buf_fini(&chal);
	/* Unknown users count too. */
	ctx.remote_ip = "192.0.2.3";
	for (int i = 0; i < 3; i++)
		dir_authenticate(e.d, &ctx, CORE_STR("ghost"), CORE_STR("x"), e.a, &out, &err);
	ck_assert_int_eq(dir_bruteforce_check(bf, "192.0.2.3", NULL, &err), CORE_EPERM);
	test_dir_env_close(&e);
}
END_TEST

START_TEST(test_conf_defaults)
{
	dir_conf_register();
	struct core_conf *c = core_conf_new_empty();
	ck_assert_int_eq(core_conf_set(c, "auth.ban.ip-failures", "2"), 0);
	ck_assert_int_eq(core_conf_set(c, "auth.ban-exempt", "[\"192.0.2.0/24\"]"), 0);
	struct dir_bruteforce *b2;
	ck_assert_int_eq(dir_bruteforce_new_conf(lk, c, &b2, &err), 0);
	ck_assert(dir_bruteforce_exempt(b2, "192.0.2.9"));
	ck_assert_int_eq(dir_bruteforce_failure(b2, "198.51.100.9", NULL, &err), 0);
	ck_assert_int_eq(dir_bruteforce_failure(b2, "198.51.100.9", NULL, &err), 1);
	dir_bruteforce_free(&b2);
	core_conf_free(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_bruteforce");
	TCase *tc = tcase_create("bruteforce");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ip_ban_and_expiry);
	tcase_add_test(tc, test_window_forgets);
	tcase_add_test(tc, test_account_ban_and_success);
	tcase_add_test(tc, test_exempt);
	tcase_add_test(tc, test_authenticate_banned);
	tcase_add_test(tc, test_conf_defaults);
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
