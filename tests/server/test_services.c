/* Unit tests of the service registry (server_services.c). */
#include "server/server_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void *fake_open(struct net_conn *c, void *arg)
{
	return arg;
}

static size_t fake_input(void *s, struct net_conn *c, const char *p, size_t len)
{
	return len;
}

static const struct net_service fake_service = {
	.name = "fake", .open = fake_open, .input = fake_input};
static int fake_args;

static void *fake_arg_new(struct server *srv, const struct server_listener *l,
			  struct core_error *err)
{
	fake_args++;
	return &fake_args;
}

static void fake_arg_free(void *arg)
{
	fake_args--;
}

static const struct server_service_def fake_def = {.protocol = "imap",
						   .service = &fake_service,
						   .arg_new = fake_arg_new,
						   .arg_free = fake_arg_free};

START_TEST(test_placeholder_by_default)
{
	struct server srv = {.hostname = "mx.example.org"};
	struct server_listener l = {.name = (char *)"mx", .protocol = (char *)"smtp"};
	const struct server_service_def *d = server_service_find("smtp");
	ck_assert(server_service_is_placeholder(d));
	ck_assert_ptr_eq(d->service, &server_placeholder_service);
	struct core_error err;
	core_error_clear(&err);
	struct server_placeholder *p = d->arg_new(&srv, &l, &err);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(strstr(p->greeting, "421 4.3.2 mx.example.org "));
	d->arg_free(p);
	l.protocol = (char *)"gopher";
	ck_assert_ptr_null(d->arg_new(&srv, &l, &err));
	ck_assert_int_eq(err.code, CORE_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "gopher"));
}
END_TEST

START_TEST(test_registered_service_wins)
{
	server_service_register(&fake_def);
	server_service_register(&fake_def); /* idempotent */
	const struct server_service_def *d = server_service_find("imap");
	ck_assert_ptr_eq(d, &fake_def);
	ck_assert(!server_service_is_placeholder(d));
	ck_assert(server_service_is_placeholder(server_service_find("pop3")));
	void *arg = d->arg_new(NULL, NULL, NULL);
	ck_assert_int_eq(fake_args, 1);
	d->arg_free(arg);
	ck_assert_int_eq(fake_args, 0);
}
END_TEST

START_TEST(test_protocols_match_config_enum)
{
	/* Every protocol the configuration accepts has a placeholder greeting, and the list
	 * of protocols is exactly the enum of listener.*.protocol. */
	server_conf_register_all();
	const struct core_conf_key *k = core_conf_key_lookup("listener.x.protocol");
	ck_assert_ptr_nonnull(k);
	size_t words = 1;
	for (const char *p = k->enums; *p != '\0'; p++)
		words += *p == '|';
	ck_assert_uint_eq(words, server_protocols_n);
	for (size_t i = 0; i < server_protocols_n; i++) {
		const char *w = strstr(k->enums, server_protocols[i]);
		ck_assert_msg(w != NULL, "%s not in %s", server_protocols[i], k->enums);
		struct core_buf b = CORE_BUF_INIT;
		ck_assert_int_eq(server_placeholder_greeting(server_protocols[i], "h", &b), 0);
		ck_assert_uint_gt(b.len, 0);
		core_buf_fini(&b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_services");
	TCase *tc = tcase_create("services");
	tcase_add_test(tc, test_placeholder_by_default);
	tcase_add_test(tc, test_registered_service_wins);
	tcase_add_test(tc, test_protocols_match_config_enum);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
