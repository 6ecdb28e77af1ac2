/* Unit tests of the service registry (server_services.c). */
#include "server/server.h"
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

START_TEST(test_package_gating)
{
	/* Which package serves which protocol (STAUNCH_PKG_NAME of each binary). */
	ck_assert(server_pkg_serves("ALL", "smtp"));
	ck_assert(server_pkg_serves("ALL", "imap"));
	ck_assert(server_pkg_serves("SMTP", "smtp"));
	ck_assert(server_pkg_serves("SMTP", "submission"));
	ck_assert(server_pkg_serves("SMTP", "lmtp"));
	ck_assert(!server_pkg_serves("SMTP", "imap"));
	ck_assert(!server_pkg_serves("SMTP", "http"));
	ck_assert(!server_pkg_serves("IMAP", "smtp"));
	ck_assert(!server_pkg_serves("IMAP", "lmtp"));
	ck_assert(server_pkg_serves("IMAP", "imap"));
	ck_assert(server_pkg_serves("IMAP", "http"));
	ck_assert(!server_pkg_serves("JMAP", "smtp"));
	ck_assert(!server_pkg_serves("JMAP", "imap"));
	ck_assert(server_pkg_serves("JMAP", "http"));
	ck_assert(!server_pkg_serves("JMAP", "a-very-long-protocol-name-that-fits-nothing"));

	/* The IMAP and JMAP packages leave SMTP to the placeholder; ALL and SMTP register it. */
	static const struct server_pkg imap = {"staunch-imap", "IMAP", "0"};
	static const struct server_pkg jmap = {"staunch-jmap", "JMAP", "0"};
	static const struct server_pkg smtp = {"staunch-smtp", "SMTP", "0"};
	server_services_init(&imap);
	server_services_init(&jmap);
	for (size_t i = 0; i < 3; i++) {
		const char *p = (const char *[]){"smtp", "submission", "lmtp"}[i];
		ck_assert_msg(server_service_is_placeholder(server_service_find(p)), "%s", p);
	}
	server_services_init(&smtp);
	for (size_t i = 0; i < 3; i++) {
		const char *p = (const char *[]){"smtp", "submission", "lmtp"}[i];
		ck_assert_msg(!server_service_is_placeholder(server_service_find(p)), "%s", p);
	}
}
END_TEST

START_TEST(test_default_listeners_per_package)
{
	static const struct {
		const char *pkg;
		bool smtp, imap, http;
	} cases[] = {
		{"ALL", true, true, true},
		{"SMTP", true, false, false},
		{"IMAP", false, true, true},
		{"JMAP", false, false, true},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct core_conf *c = NULL;
		struct core_conf_diags d;
		server_conf_register_all();
		core_conf_diags_init(&d);
		ck_assert_int_eq(core_conf_load_buf("t.conf", "", 0, &c, &d), 0);
		struct server_listeners l;
		ck_assert_int_eq(server_listeners_build(c, true, &l, &d), 0);
		server_listeners_keep_pkg(&l, cases[k].pkg);
		bool smtp = false, imap = false, http = false;
		for (size_t i = 0; i < l.n; i++) {
			smtp |= strcmp(l.v[i].protocol, "smtp") == 0 ||
				strcmp(l.v[i].protocol, "submission") == 0;
			imap |= strcmp(l.v[i].protocol, "imap") == 0;
			http |= strcmp(l.v[i].protocol, "http") == 0;
			ck_assert_msg(server_pkg_serves(cases[k].pkg, l.v[i].protocol), "%s: %s",
				      cases[k].pkg, l.v[i].name);
		}
		ck_assert_msg(smtp == cases[k].smtp && imap == cases[k].imap &&
				      http == cases[k].http,
			      "%s", cases[k].pkg);
		server_listeners_fini(&l);
		core_conf_free(&c);
		core_conf_diags_fini(&d);
	}
	/* Configured listeners are kept whatever the package. */
	struct core_conf *c = NULL;
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	const char *text = "[listener.mx]\nprotocol = \"smtp\"\nbind = [\"127.0.0.1:0\"]\n";
	ck_assert_int_eq(core_conf_load_buf("t.conf", text, strlen(text), &c, &d), 0);
	struct server_listeners l;
	ck_assert_int_eq(server_listeners_build(c, true, &l, &d), 0);
	server_listeners_keep_pkg(&l, "IMAP");
	ck_assert_uint_eq(l.n, 1);
	server_listeners_fini(&l);
	core_conf_free(&c);
	core_conf_diags_fini(&d);
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
	tcase_add_test(tc, test_package_gating);
	tcase_add_test(tc, test_default_listeners_per_package);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
