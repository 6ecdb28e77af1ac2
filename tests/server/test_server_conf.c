/* Unit tests of the server's configuration keys, checks and listener sets. */
#include "server/server_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct core_conf *load(const char *text, struct core_conf_diags *d)
{
	struct core_conf *c = NULL;
	server_conf_register_all();
	core_conf_diags_init(d);
	int r = core_conf_load_buf("test.conf", text, strlen(text), &c, d);
	return r == 0 ? c : NULL;
}

static char *diags_text(const struct core_conf_diags *d)
{
	struct core_buf b = CORE_BUF_INIT;
	core_conf_diags_format(d, &b);
	core_buf_putc(&b, '\0');
	return core_buf_detach(&b, NULL);
}

START_TEST(test_defaults)
{
	struct core_conf_diags d;
	struct core_conf *c = load("", &d);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(core_conf_get_str(c, "server.user", NULL), "staunch");
	ck_assert_str_eq(core_conf_get_str(c, "log.sink", NULL), "stderr");
	ck_assert(core_conf_get_bool(c, "server.seccomp", false));
	ck_assert(!core_conf_get_bool(c, "auth.allow-plain-text", true));
	ck_assert_int_eq(core_conf_get_int(c, "listener.imap.max-connections-per-ip", -1), 100);
	ck_assert_uint_lt(core_conf_get_duration_ms(c, "runtime.shutdown-grace", 0), 5000);
	ck_assert_int_eq(server_conf_check(c, &d), 0);
	core_conf_free(&c);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_typo_reports_file_line_key)
{
	struct core_conf_diags d;
	struct core_conf *c = load("[server]\nhostname = \"a.example\"\nhostnme = \"b\"\n", &d);
	ck_assert_ptr_null(c);
	char *t = diags_text(&d);
	ck_assert_msg(strstr(t, "test.conf:3: key server.hostnme:") != NULL, "got: %s", t);
	free(t);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_bad_enum_and_required)
{
	struct core_conf_diags d;
	struct core_conf *c = load("[listener.x]\nprotocol = \"gopher\"\ntls = \"maybe\"\n", &d);
	ck_assert_ptr_null(c);
	char *t = diags_text(&d);
	ck_assert_msg(strstr(t, "listener.x.protocol") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "listener.x.tls") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "listener.x.bind") != NULL, "got: %s", t);
	free(t);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_cross_checks)
{
	struct core_conf_diags d;
	struct core_conf *c = load("[tls]\ncert = [\"a.pem\", \"b.pem\"]\nkey = [\"a.key\"]\n"
				   "[listener.s]\nprotocol = \"smtp\"\nbind = [\"127.0.0.1\"]\n"
				   "proxy-protocol = true\n",
				   &d);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(server_conf_check(c, &d), CORE_ESYNTAX);
	char *t = diags_text(&d);
	ck_assert_msg(strstr(t, "key tls.cert:") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "not IP:PORT") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "proxy-trusted") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "test.conf:2:") != NULL, "got: %s", t);
	free(t);
	core_conf_free(&c);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_unix_socket_listener)
{
	struct core_conf_diags d;
	struct core_conf *c = load("[listener.ok]\nprotocol = \"lmtp\"\n"
				   "bind = [\"unix:/run/staunch/lmtp.sock\"]\n"
				   "socket-mode = \"0660\"\nsocket-group = \"postfix\"\n",
				   &d);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(server_conf_check(c, &d), 0);
	core_conf_free(&c);
	core_conf_diags_fini(&d);

	c = load("[listener.rel]\nprotocol = \"lmtp\"\nbind = [\"unix:lmtp.sock\"]\n"
		 "[listener.mode]\nprotocol = \"lmtp\"\nbind = [\"unix:/run/l.sock\"]\n"
		 "socket-mode = \"rw-rw----\"\n",
		 &d);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(server_conf_check(c, &d), CORE_ESYNTAX);
	char *t = diags_text(&d);
	ck_assert_msg(strstr(t, "listener.rel.bind") != NULL && strstr(t, "absolute") != NULL,
		      "got: %s", t);
	ck_assert_msg(strstr(t, "listener.mode.socket-mode") != NULL, "got: %s", t);
	ck_assert_msg(strstr(t, "not IP:PORT") == NULL, "got: %s", t);
	free(t);
	core_conf_free(&c);
	core_conf_diags_fini(&d);

	ck_assert_int_eq(server_socket_mode_parse("0660"), 0660);
	ck_assert_int_eq(server_socket_mode_parse("666"), 0666);
	ck_assert_int_eq(server_socket_mode_parse("0"), 0);
	ck_assert_int_lt(server_socket_mode_parse("0668"), 0);
	ck_assert_int_lt(server_socket_mode_parse("17777"), 0);
	ck_assert_int_lt(server_socket_mode_parse(""), 0);
	ck_assert_int_lt(server_socket_mode_parse(NULL), 0);
}
END_TEST

START_TEST(test_default_listeners)
{
	struct core_conf_diags d;
	struct core_conf *c = load("", &d);
	struct server_listeners l;
	ck_assert_int_eq(server_listeners_build(c, false, &l, &d), 0);
	ck_assert(l.defaults);
	ck_assert(!l.unprivileged);
	ck_assert_uint_eq(l.n, 10);
	static const struct {
		const char *name;
		const char *bind;
		enum net_tls_mode tls;
	} want[] = {
		{"smtp", "0.0.0.0:25", NET_TLS_STARTTLS},
		{"submissions", "0.0.0.0:465", NET_TLS_IMPLICIT},
		{"submission", "0.0.0.0:587", NET_TLS_STARTTLS},
		{"imap", "0.0.0.0:143", NET_TLS_STARTTLS},
		{"imaps", "0.0.0.0:993", NET_TLS_IMPLICIT},
		{"pop3", "0.0.0.0:110", NET_TLS_STARTTLS},
		{"pop3s", "0.0.0.0:995", NET_TLS_IMPLICIT},
		{"managesieve", "0.0.0.0:4190", NET_TLS_STARTTLS},
		{"https", "0.0.0.0:443", NET_TLS_IMPLICIT},
		{"http", "0.0.0.0:8080", NET_TLS_NONE},
	};
	for (size_t i = 0; i < CORE_NELEM(want); i++) {
		ck_assert_str_eq(l.v[i].name, want[i].name);
		ck_assert_str_eq(l.v[i].bind[0], want[i].bind);
		ck_assert_int_eq(l.v[i].tls, want[i].tls);
		ck_assert_uint_eq(l.v[i].max_connections_per_ip, 100);
	}
	server_listeners_fini(&l);
	ck_assert_int_eq(server_listeners_build(c, true, &l, &d), 0);
	ck_assert(l.unprivileged);
	for (size_t i = 0; i < l.n; i++) {
		unsigned port = (unsigned)atoi(strrchr(l.v[i].bind[0], ':') + 1);
		ck_assert_uint_eq(port, 10000u + server_default_listeners[i].port);
		ck_assert_uint_eq(port, server_default_listeners[i].unprivileged_port);
		ck_assert_str_eq(strrchr(l.v[i].bind[1], ':') + 1,
				 strrchr(l.v[i].bind[0], ':') + 1);
	}
	server_listeners_fini(&l);
	core_conf_free(&c);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_configured_listeners)
{
	struct core_conf_diags d;
	struct core_conf *c = load("[listener.mx]\nprotocol = \"smtp\"\nbind = [\"127.0.0.1:0\", "
				   "\"[::1]:0\"]\nmax-connections-per-ip = 50\n"
				   "idle-timeout = \"30s\"\n"
				   "[listener.web]\nprotocol = \"http\"\nbind = \"127.0.0.1:0\"\n"
				   "tls = \"implicit\"\n",
				   &d);
	ck_assert_ptr_nonnull(c);
	struct server_listeners l;
	ck_assert_int_eq(server_listeners_build(c, true, &l, &d), 0);
	ck_assert(!l.defaults);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0].name, "mx");
	ck_assert_uint_eq(l.v[0].nbind, 2);
	ck_assert_str_eq(l.v[0].bind[1], "[::1]:0");
	ck_assert_uint_eq(l.v[0].max_connections_per_ip, 50);
	ck_assert_uint_eq(l.v[0].idle_timeout_ms, 30000);
	ck_assert_str_eq(l.v[1].protocol, "http");
	ck_assert_int_eq(l.v[1].tls, NET_TLS_IMPLICIT);
	ck_assert_uint_eq(l.v[1].nbind, 1);
	server_listeners_fini(&l);
	core_conf_free(&c);
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_tls_mode_names)
{
	ck_assert_int_eq(server_tls_mode_parse("implicit"), NET_TLS_IMPLICIT);
	ck_assert_int_eq(server_tls_mode_parse("starttls"), NET_TLS_STARTTLS);
	ck_assert_int_eq(server_tls_mode_parse("none"), NET_TLS_NONE);
	ck_assert_str_eq(server_tls_mode_name(NET_TLS_IMPLICIT), "implicit");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_conf");
	TCase *tc = tcase_create("conf");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_typo_reports_file_line_key);
	tcase_add_test(tc, test_bad_enum_and_required);
	tcase_add_test(tc, test_cross_checks);
	tcase_add_test(tc, test_unix_socket_listener);
	tcase_add_test(tc, test_default_listeners);
	tcase_add_test(tc, test_configured_listeners);
	tcase_add_test(tc, test_tls_mode_names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
