/* Unit tests of core_conf: syntax, diagnostics, registry validation, secrets, getters. */
#include "core/core.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_NAME "t.conf"

/* A registry like the one the server builds from its modules. */
static const struct core_conf_key test_keys[] = {
	{"server.hostname", CORE_CONF_STRING, "localhost", NULL, 0, 0, 0, "Host name."},
	{"server.max-connections", CORE_CONF_INT, "1000", NULL, 1, 100000, 0, "Connections."},
	{"server.debug", CORE_CONF_BOOL, "false", NULL, 0, 0, 0, "Debug mode."},
	{"server.timeout", CORE_CONF_DURATION, "5m", NULL, 1000, 86400000, 0, "Idle timeout."},
	{"server.max-message", CORE_CONF_SIZE, "50M", NULL, 1024, 1073741824, 0,
	 "Largest message."},
	{"server.data-dir", CORE_CONF_PATH, "/var/lib/staunch", NULL, 0, 0, 0, "Data directory."},
	{"server.admins", CORE_CONF_LIST, "[\"root\", \"postmaster\"]", NULL, 0, 0, 0, "Admins."},
	{"server.password", CORE_CONF_STRING, NULL, NULL, 0, 0, CORE_CONF_SECRET, "Password."},
	{"server.mode", CORE_CONF_ENUM, "normal", "normal|strict|lax", 0, 0, CORE_CONF_SECRET,
	 "Mode."},
};
static const struct core_conf_key listener_keys[] = {
	{"listener.*.bind", CORE_CONF_LIST, "[::]:25", NULL, 0, 0, 0, "Addresses to listen on."},
	{"listener.*.protocol", CORE_CONF_ENUM, NULL, "smtp|lmtp|imap|pop3", 0, 0,
	 CORE_CONF_REQUIRED, "Protocol spoken."},
	{"listener.*.tls", CORE_CONF_ENUM, "none", "none|starttls|implicit", 0, 0, 0, "TLS mode."},
	{"listener.*.port", CORE_CONF_INT, NULL, NULL, 1, 65535, 0, "Port."},
	{"listener.admin.bind", CORE_CONF_STRING, "127.0.0.1:8080", NULL, 0, 0, 0, "Admin."},
};

static void registry_setup(void)
{
	core_conf_registry_clear();
	core_conf_register("Server", test_keys, CORE_NELEM(test_keys));
	core_conf_register("Listeners", listener_keys, CORE_NELEM(listener_keys));
	/* a second registration of the same table changes nothing */
	core_conf_register("Server", test_keys, CORE_NELEM(test_keys));
}

static void registry_teardown(void)
{
	core_conf_registry_clear();
}

static struct core_conf *parse_ok(const char *text)
{
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	int rc = core_conf_parse(FILE_NAME, text, strlen(text), &c, &d);
	if (rc != 0) {
		struct core_buf b = CORE_BUF_INIT;
		core_conf_diags_format(&d, &b);
		ck_abort_msg("parse failed for <%s>: %s", text, core_buf_cstr(&b));
	}
	ck_assert_uint_eq(d.n, 0);
	core_conf_diags_fini(&d);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The formatted diagnostics of text (parse only or parse + expand + validate). */
static char *diags_of(const char *text, size_t len, bool load, int *rc_out)
{
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	int rc = load ? core_conf_load_buf(FILE_NAME, text, len, &c, &d)
		      : core_conf_parse(FILE_NAME, text, len, &c, &d);
	if (rc != 0)
		ck_assert_ptr_null(c);
	core_conf_free(&c);
	struct core_buf b = CORE_BUF_INIT;
	core_conf_diags_format(&d, &b);
	core_buf_cstr(&b);
	core_conf_diags_fini(&d);
	if (rc_out != NULL)
		*rc_out = rc;
	return core_buf_detach(&b, NULL);
}

/* ----------------------------------------------------------------------------------- */

/* Every syntax feature: text, key, expected value (array items joined by '|'). */
static const struct {
	const char *text;
	const char *key;
	const char *want;
} syntax_ok[] = {
	{"a = \"x\"", "a", "x"},
	{"a = \"x\" # trailing comment", "a", "x"},
	{"# comment\n\n  a = 1\n", "a", "1"},
	{"a=1", "a", "1"},
	{"a = +42", "a", "42"},
	{"a = -17", "a", "-17"},
	{"a = 1_000_000", "a", "1000000"},
	{"a = 0", "a", "0"},
	{"a = 9223372036854775807", "a", "9223372036854775807"},
	{"a = -9223372036854775808", "a", "-9223372036854775808"},
	{"a = true", "a", "true"},
	{"a = false", "a", "false"},
	{"a = \"q\\\"b\\\\s\\nn\\tt\\rr\"", "a", "q\"b\\s\nn\tt\rr"},
	{"a = \"\\u00e9\\u20ac\"", "a", "\xc3\xa9\xe2\x82\xac"},
	{"a = \"\\U0001F600\"", "a", "\xf0\x9f\x98\x80"},
	{"a = 'C:\\path\\n'", "a", "C:\\path\\n"},
	{"a = 'say \"hi\"'", "a", "say \"hi\""},
	{"a = \"\"", "a", ""},
	{"a = \"caf\xc3\xa9 \xe6\x97\xa5\"", "a", "caf\xc3\xa9 \xe6\x97\xa5"},
	{"a = \"tab\there\"", "a", "tab\there"},
	{"[listener.smtp]\nbind = \"x\"", "listener.smtp.bind", "x"},
	{"[ listener . smtp ]\nbind = \"x\"", "listener.smtp.bind", "x"},
	{"[listener.smtp] # c\nbind = \"x\"", "listener.smtp.bind", "x"},
	{"[s]\ntls.cert = \"c\"", "s.tls.cert", "c"},
	{"tls . cert = \"c\"", "tls.cert", "c"},
	{"[a]\nx = 1\n[b]\nx = 2", "b.x", "2"},
	{"key_with-dash_9 = 1", "key_with-dash_9", "1"},
	{"a = [\"x\", \"y\"]", "a", "x|y"},
	{"a = [1, 2, 3,]", "a", "1|2|3"},
	{"a = []", "a", ""},
	{"a = [\n  \"x\", # first\n  'y',\n\n  \"z\",\n]\n", "a", "x|y|z"},
	{"a = [\n# only a comment\n]", "a", ""},
	{"a = \"x\"\r\nb = 2\r\n", "b", "2"},
	{"\xef\xbb\xbf"
	 "a = 1",
	 "a", "1"},
	{"a = 1\n# end without newline", "a", "1"},
};

static void join_list(const struct core_conf *c, const char *key, struct core_buf *out)
{
	const char *const *items;
	size_t n = core_conf_get_list(c, key, &items);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			core_buf_putc(out, '|');
		core_buf_append_str(out, items[i]);
	}
	core_buf_cstr(out);
}

START_TEST(test_syntax_ok)
{
	struct core_conf *c = parse_ok(syntax_ok[_i].text);
	ck_assert_msg(core_conf_has(c, syntax_ok[_i].key), "case %d", _i);
	struct core_buf b = CORE_BUF_INIT;
	join_list(c, syntax_ok[_i].key, &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), syntax_ok[_i].want) == 0, "case %d: got <%s>", _i,
		      core_buf_cstr(&b));
	core_buf_fini(&b);
	core_conf_free(&c);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_scalar_types)
{
	struct core_conf *c =
		parse_ok("i = -5\nb = true\ns = \"str\"\nl = [\"a\", \"b\"]\nn = [7, 8]\n");
	ck_assert_int_eq(core_conf_get_int(c, "i", 0), -5);
	ck_assert(core_conf_get_bool(c, "b", false));
	ck_assert_str_eq(core_conf_get_str(c, "s", NULL), "str");
	ck_assert_str_eq(core_conf_get_str(c, "i", NULL), "-5");
	/* wrong kind: the fallback */
	ck_assert_int_eq(core_conf_get_int(c, "s", 99), 99);
	ck_assert(core_conf_get_bool(c, "i", true));
	ck_assert_ptr_null(core_conf_get_str(c, "l", NULL));
	const char *const *items;
	ck_assert_uint_eq(core_conf_get_list(c, "n", &items), 2);
	ck_assert_str_eq(items[1], "8");
	/* a scalar is a list of one */
	ck_assert_uint_eq(core_conf_get_list(c, "s", &items), 1);
	ck_assert_str_eq(items[0], "str");
	ck_assert_uint_eq(core_conf_get_list(c, "missing", &items), 0);
	unsigned line = 99;
	ck_assert_str_eq(core_conf_origin(c, "b", &line), FILE_NAME);
	ck_assert_uint_eq(line, 2);
	ck_assert_ptr_null(core_conf_origin(c, "missing", &line));
	ck_assert_uint_eq(line, 0);
	core_conf_free(&c);
}
END_TEST

/* Syntax errors: the diagnostic line (file:line: key K: msg fragment). */
static const struct {
	const char *text;
	const char *want; /* substring of the formatted diagnostics */
} syntax_bad[] = {
	{"a = ", "t.conf:1: key a: missing value"},
	{"a", "t.conf:1: key a: unexpected end of file after key (expected '=')"},
	{"\n\na b = 1", "t.conf:3: key a: unexpected character 'b' after key"},
	{"= 1", "t.conf:1: unexpected character '=' where a key was expected"},
	{"a. = 1", "t.conf:1: unexpected character '='"},
	{"\"q\" = 1", "t.conf:1: quoted keys are not supported"},
	{"a = bare", "t.conf:1: key a: invalid value (strings need quotes)"},
	{"a = 1.5", "t.conf:1: key a: invalid number"},
	{"a = 012", "t.conf:1: key a: invalid number"},
	{"a = 1__0", "t.conf:1: key a: invalid number"},
	{"a = _1", "t.conf:1: key a: invalid value"},
	{"a = 1_", "t.conf:1: key a: invalid number"},
	{"a = 9223372036854775808", "t.conf:1: key a: invalid number"},
	{"a = 2026-11-27", "t.conf:1: key a: invalid number"},
	{"a = True", "t.conf:1: key a: invalid value"},
	{"a = \"x", "t.conf:1: key a: unterminated string"},
	{"a = 'x\nb = 1", "t.conf:1: key a: unterminated string"},
	{"a = \"\\q\"", "t.conf:1: key a: unknown escape '\\q'"},
	{"a = \"\\u12\"", "t.conf:1: key a: \\u needs 4 hex digits"},
	{"a = \"\\ud800\"", "t.conf:1: key a: escape \\u names no allowed character"},
	{"a = \"\\u0000\"", "t.conf:1: key a: escape \\u names no allowed character"},
	{"a = \"\"\"x\"\"\"", "t.conf:1: key a: multi-line strings are not supported"},
	{"a = \"x\" y", "t.conf:1: key a: unexpected character 'y' after value"},
	{"a = \"bell\a\"", "t.conf:1: key a: control character 0x07 in string"},
	{"a = \"\xff\"", "t.conf:1: key a: invalid UTF-8 in string"},
	{"a = \"\xc0\xaf\"", "t.conf:1: key a: invalid UTF-8 in string"},     /* overlong */
	{"a = \"\xed\xa0\x80\"", "t.conf:1: key a: invalid UTF-8 in string"}, /* surrogate */
	{"a = '\xe2\x82'", "t.conf:1: key a: invalid UTF-8 in string"},       /* truncated */
	{"a = {x = 1}", "t.conf:1: key a: inline tables are not supported"},
	{"a = [1, \"x\"]", "t.conf:1: key a: array mixes strings and integers"},
	{"a = [true]", "t.conf:1: key a: arrays hold strings or integers, not booleans"},
	{"a = [[1]]", "t.conf:1: key a: nested arrays are not supported"},
	{"a = [1 2]", "t.conf:1: key a: unexpected character '2' in array"},
	{"a = [\n1,\n", "t.conf:3: key a: unterminated array (opened at line 1)"},
	{"[a", "t.conf:1: unexpected end of file in section header"},
	{"[]", "t.conf:1: unexpected character ']' in section name"},
	{"[a] x", "t.conf:1: unexpected character 'x' after section header"},
	{"[[a]]", "t.conf:1: arrays of tables ([[...]]) are not supported"},
	{"[a]\n[b]\n[a]", "t.conf:3: section [a] defined twice (line 1 and line 3)"},
	{"a = 1\nb = 2\na = 3", "t.conf:3: key a: key set twice (line 1 and line 3)"},
	{"s.k = 1\n[s]\n\nk = 2", "t.conf:4: key s.k: key set twice (line 1 and line 4)"},
	{"a = 1\rb = 2", "t.conf:1: key a: unexpected byte 0x0d after value"},
	{"# bad \x01 comment", "t.conf:1: unexpected byte 0x01 in comment"},
	{"a = 1 # \x7f", "t.conf:1: key a: unexpected byte 0x7f in comment"},
};

START_TEST(test_syntax_bad)
{
	int rc = 0;
	char *got = diags_of(syntax_bad[_i].text, strlen(syntax_bad[_i].text), false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, syntax_bad[_i].want) != NULL, "case %d: want <%s> in <%s>", _i,
		      syntax_bad[_i].want, got);
	free(got);
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = "a = 1\nb = \"x\0y\"\nc = 2\0\nd = 3\n";
	int rc = 0;
	char *got = diags_of(text, sizeof(text) - 1, false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "t.conf:2: key b: NUL byte in string") != NULL, "%s", got);
	ck_assert_msg(strstr(got, "t.conf:3: key c: NUL byte after value") != NULL, "%s", got);
	ck_assert_msg(strstr(got, "t.conf:4") == NULL, "%s", got);
	free(got);
}
END_TEST

START_TEST(test_all_errors_collected)
{
	const char *text = "a = 1\n"
			   "b = bad\n"
			   "c = [\n"
			   "  \"x\",\n"
			   "  2,\n"
			   "  \"z\",\n"
			   "]\n"
			   "d = \"ok\"\n"
			   "e = \"unterminated\n"
			   "[x\n"
			   "f = 5\n";
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_parse(FILE_NAME, text, strlen(text), &c, &d), CORE_ESYNTAX);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(d.n, 4);
	static const struct {
		unsigned line;
		const char *key;
	} want[] = {{2, "b"}, {5, "c"}, {9, "e"}, {10, NULL}};
	for (size_t i = 0; i < CORE_NELEM(want); i++) {
		ck_assert_str_eq(d.v[i].file, FILE_NAME);
		ck_assert_uint_eq(d.v[i].line, want[i].line);
		if (want[i].key == NULL)
			ck_assert_ptr_null(d.v[i].key);
		else
			ck_assert_str_eq(d.v[i].key, want[i].key);
	}
	core_conf_diags_fini(&d);
}
END_TEST

START_TEST(test_too_many_diags)
{
	struct core_buf b = CORE_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		core_buf_append_str(&b, "bad line\n");
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_parse(FILE_NAME, b.p, b.len, NULL, &d), CORE_ESYNTAX);
	ck_assert_uint_eq(d.n, CORE_CONF_MAX_DIAGS + 1);
	ck_assert_ptr_nonnull(strstr(d.v[CORE_CONF_MAX_DIAGS].msg, "too many errors"));
	core_conf_diags_fini(&d);
	core_buf_fini(&b);
}
END_TEST

/* ----------------------------------------------------------------------------------- */
/* Limits */

START_TEST(test_limit_text)
{
	size_t n = CORE_CONF_MAX_TEXT + 1;
	char *text = malloc(n);
	ck_assert_ptr_nonnull(text);
	memset(text, '\n', n);
	int rc = 0;
	char *got = diags_of(text, n, false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "t.conf: configuration larger than 1048576 bytes") != NULL, "%s",
		      got);
	free(got);
	/* exactly the limit is fine */
	struct core_conf *c = NULL;
	ck_assert_int_eq(core_conf_parse(FILE_NAME, text, n - 1, &c, NULL), 0);
	core_conf_free(&c);
	free(text);
}
END_TEST

START_TEST(test_limit_keys)
{
	struct core_buf b = CORE_BUF_INIT;
	for (unsigned i = 0; i < CORE_CONF_MAX_KEYS; i++)
		core_buf_printf(&b, "k%u = %u\n", i, i);
	struct core_conf *c = NULL;
	ck_assert_int_eq(core_conf_parse(FILE_NAME, b.p, b.len, &c, NULL), 0);
	ck_assert_int_eq(core_conf_get_int(c, "k4095", -1), 4095);
	core_conf_free(&c);
	core_buf_printf(&b, "one-more = 1\n");
	int rc = 0;
	char *got = diags_of(b.p, b.len, false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "t.conf:4097: key one-more: more than 4096 keys") != NULL, "%s",
		      got);
	free(got);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_limit_value)
{
	/* a string of exactly the limit passes, one byte more fails */
	for (int extra = 0; extra <= 1; extra++) {
		struct core_buf b = CORE_BUF_INIT;
		core_buf_append_str(&b, "v = \"");
		for (unsigned i = 0; i < CORE_CONF_MAX_VALUE + (unsigned)extra; i++)
			core_buf_putc(&b, 'x');
		core_buf_append_str(&b, "\"\nw = 1\n");
		int rc = 0;
		char *got = diags_of(b.p, b.len, false, &rc);
		if (extra == 0) {
			ck_assert_int_eq(rc, 0);
		} else {
			ck_assert_int_eq(rc, CORE_ESYNTAX);
			ck_assert_msg(strstr(got, "t.conf:1: key v: value longer than 65536 bytes"),
				      "%s", got);
		}
		free(got);
		core_buf_fini(&b);
	}
	/* an array counts all its items */
	struct core_buf b = CORE_BUF_INIT;
	core_buf_append_str(&b, "a = [\n");
	for (int i = 0; i < 2000; i++)
		core_buf_append_str(&b, "  \"0123456789012345678901234567890123456789\",\n");
	core_buf_append_str(&b, "]\nafter = 1\n");
	int rc = 0;
	char *got = diags_of(b.p, b.len, false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "key a: value longer than 65536 bytes") != NULL, "%s", got);
	/* recovery after the array: one diagnostic only */
	ck_assert_msg(strchr(got, '\n') == got + strlen(got) - 1, "%s", got);
	free(got);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_limit_key_length)
{
	struct core_buf b = CORE_BUF_INIT;
	for (unsigned i = 0; i < CORE_CONF_MAX_KEY + 1; i++)
		core_buf_putc(&b, 'k');
	core_buf_append_str(&b, " = 1\n");
	int rc = 0;
	char *got = diags_of(b.p, b.len, false, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "t.conf:1: key longer than 1024 bytes") != NULL, "%s", got);
	free(got);
	core_buf_fini(&b);
}
END_TEST

/* ----------------------------------------------------------------------------------- */
/* Validation against the registry */

static const struct {
	const char *text;
	const char *want; /* substring of diagnostics; NULL: valid */
} validate_cases[] = {
	{"[server]\nhostname = \"mx\"\nmax-connections = 5\ndebug = true\ntimeout = \"30s\"\n"
	 "max-message = \"10M\"\ndata-dir = \"/srv\"\nadmins = [\"a\"]\nmode = \"strict\"\n",
	 NULL},
	{"server.timeout = 60", NULL},
	{"server.max-message = 4096", NULL},
	{"server.admins = \"one\"", NULL},
	{"[listener.smtp]\nprotocol = \"smtp\"\nbind = [\"[::]:25\"]\nport = 25", NULL},
	{"listener.admin.bind = \"127.0.0.1:1\"\nlistener.admin.protocol = \"imap\"", NULL},
	{"[listener.smtp]\nbnid = [\"x\"]\nprotocol = \"smtp\"",
	 "t.conf:2: key listener.smtp.bnid: unknown key 'listener.smtp.bnid' (did you mean "
	 "'listener.smtp.bind'?)\n"},
	{"server.hostnmae = \"x\"", "t.conf:1: key server.hostnmae: unknown key 'server.hostnmae' "
				    "(did you mean 'server.hostname'?)\n"},
	{"server.debgu = true", "(did you mean 'server.debug'?)"},
	{"zzz.completely.different = 1", "t.conf:1: key zzz.completely.different: unknown key "
					 "'zzz.completely.different'\n"},
	{"listener.bind = \"x\"", "t.conf:1: key listener.bind: unknown key 'listener.bind'"},
	{"server.hostname = 5", "t.conf:1: key server.hostname: expected a string in quotes"},
	{"server.data-dir = \"\"", "t.conf:1: key server.data-dir: empty path"},
	{"server.data-dir = true", "t.conf:1: key server.data-dir: expected a path in quotes"},
	{"server.max-connections = \"5\"",
	 "t.conf:1: key server.max-connections: expected an integer"},
	{"server.max-connections = 0",
	 "t.conf:1: key server.max-connections: 0 is out of range 1 to 100000"},
	{"server.max-connections = 100001", "100001 is out of range 1 to 100000"},
	{"server.debug = \"yes\"", "t.conf:1: key server.debug: expected true or false"},
	{"server.timeout = \"5 m\"", "t.conf:1: key server.timeout: expected a duration"},
	{"server.timeout = \"10ms\"",
	 "t.conf:1: key server.timeout: 10 ms is out of range 1000 to 86400000 ms"},
	{"server.timeout = -1", "expected a duration"},
	{"server.max-message = \"10X\"", "t.conf:1: key server.max-message: expected a size"},
	{"server.max-message = \"2G\"", "2147483648 bytes is out of range 1024 to 1073741824"},
	{"server.admins = [1, 2]", "expected a string or an array of strings"},
	{"listener.smtp.tls = \"ssl\"",
	 "t.conf:1: key listener.smtp.tls: 'ssl' is not one of none|starttls|implicit"},
	{"listener.smtp.tls = \"a\\nb\"", "t.conf:1: key listener.smtp.tls: 'a?b' is not one of"},
	{"listener.smtp.tls = 1", "expected one of none|starttls|implicit (in quotes)"},
	{"listener.x.port = 70000", "70000 is out of range 1 to 65535"},
	/* secret keys never echo their value */
	{"server.mode = \"hunter2\"", "t.conf:1: key server.mode: '<secret>' is not one of"},
	/* required key when its section exists, reported at the section's first key */
	{"a = 1\n[listener.imap]\nbind = [\"x\"]\ntls = \"implicit\"",
	 "t.conf:3: key listener.imap.protocol: required key is missing (section listener.imap "
	 "is set)"},
};

START_TEST(test_validate)
{
	int rc = 0;
	const char *text = validate_cases[_i].text;
	char *got = diags_of(text, strlen(text), true, &rc);
	if (validate_cases[_i].want == NULL) {
		ck_assert_msg(rc == 0, "case %d: %s", _i, got);
		ck_assert_str_eq(got, "");
	} else {
		ck_assert_int_eq(rc, CORE_ESYNTAX);
		ck_assert_msg(strstr(got, validate_cases[_i].want) != NULL,
			      "case %d: want <%s> in <%s>", _i, validate_cases[_i].want, got);
	}
	ck_assert_msg(strstr(got, "hunter2") == NULL, "secret leaked: %s", got);
	free(got);
}
END_TEST

START_TEST(test_validate_collects_all)
{
	const char *text = "[server]\n"
			   "hostnam = \"x\"\n"
			   "debug = 1\n"
			   "[listener.a]\n"
			   "tls = \"none\"\n"
			   "[listener.b]\n"
			   "protocol = \"smtp\"\n"
			   "[listener.c]\n"
			   "port = 0\n";
	struct core_conf *c = parse_ok(text);
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_validate(c, &d), CORE_ESYNTAX);
	struct core_buf b = CORE_BUF_INIT;
	core_conf_diags_format(&d, &b);
	ck_assert_str_eq(core_buf_cstr(&b),
			 "t.conf:2: key server.hostnam: unknown key 'server.hostnam' (did you mean "
			 "'server.hostname'?)\n"
			 "t.conf:3: key server.debug: expected true or false\n"
			 "t.conf:9: key listener.c.port: 0 is out of range 1 to 65535\n"
			 "t.conf:5: key listener.a.protocol: required key is missing (section "
			 "listener.a is set)\n"
			 "t.conf:9: key listener.c.protocol: required key is missing (section "
			 "listener.c is set)\n");
	core_buf_fini(&b);
	core_conf_diags_fini(&d);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_key_lookup)
{
	const struct core_conf_key *k = core_conf_key_lookup("listener.smtp.bind");
	ck_assert_ptr_nonnull(k);
	ck_assert_str_eq(k->pattern, "listener.*.bind");
	/* the more specific pattern wins */
	k = core_conf_key_lookup("listener.admin.bind");
	ck_assert_ptr_nonnull(k);
	ck_assert_str_eq(k->pattern, "listener.admin.bind");
	/* "*" is exactly one segment */
	ck_assert_ptr_null(core_conf_key_lookup("listener.bind"));
	ck_assert_ptr_null(core_conf_key_lookup("listener.a.b.bind"));
	ck_assert_ptr_null(core_conf_key_lookup("listener..bind"));
	ck_assert_ptr_null(core_conf_key_lookup("server"));
	ck_assert_ptr_null(core_conf_key_lookup("server.hostname.x"));
	ck_assert_ptr_nonnull(core_conf_key_lookup("server.hostname"));
	core_conf_registry_clear();
	ck_assert_ptr_null(core_conf_key_lookup("server.hostname"));
}
END_TEST

/* ----------------------------------------------------------------------------------- */
/* Defaults and getters */

START_TEST(test_defaults)
{
	struct core_conf *c = core_conf_new_empty();
	ck_assert_str_eq(core_conf_get_str(c, "server.hostname", "fb"), "localhost");
	ck_assert_int_eq(core_conf_get_int(c, "server.max-connections", 0), 1000);
	ck_assert(!core_conf_get_bool(c, "server.debug", true));
	ck_assert_uint_eq(core_conf_get_duration_ms(c, "server.timeout", 0), 300000);
	ck_assert_uint_eq(core_conf_get_size(c, "server.max-message", 0), 50u * 1024 * 1024);
	const char *const *items;
	ck_assert_uint_eq(core_conf_get_list(c, "server.admins", &items), 2);
	ck_assert_str_eq(items[0], "root");
	ck_assert_str_eq(items[1], "postmaster");
	ck_assert_uint_eq(core_conf_get_list(c, "listener.x.bind", &items), 1);
	ck_assert_str_eq(items[0], "[::]:25");
	ck_assert_str_eq(core_conf_get_str(c, "listener.y.tls", NULL), "none");
	/* no default: the fallback */
	ck_assert_str_eq(core_conf_get_str(c, "server.password", "fb"), "fb");
	ck_assert_int_eq(core_conf_get_int(c, "listener.x.port", 77), 77);
	ck_assert_int_eq(core_conf_get_int(c, "unregistered", -3), -3);
	ck_assert_uint_eq(core_conf_get_size(c, "unregistered", 12), 12);
	ck_assert(!core_conf_has(c, "server.hostname"));
	ck_assert_ptr_null(core_conf_origin(c, "server.hostname", NULL));
	/* NULL configuration: defaults too */
	ck_assert_int_eq(core_conf_get_int(NULL, "server.max-connections", 0), 1000);
	core_conf_free(&c);
	core_conf_free(&c); /* NULL is fine */
	core_conf_free(NULL);
}
END_TEST

START_TEST(test_file_values_override_defaults)
{
	struct core_conf *c =
		parse_ok("[server]\ntimeout = 90\nmax-message = \"2K\"\nmax-connections = 7\n"
			 "debug = true\nhostname = \"mx.example\"\n");
	ck_assert_uint_eq(core_conf_get_duration_ms(c, "server.timeout", 0), 90000);
	ck_assert_uint_eq(core_conf_get_size(c, "server.max-message", 0), 2048);
	ck_assert_int_eq(core_conf_get_int(c, "server.max-connections", 0), 7);
	ck_assert(core_conf_get_bool(c, "server.debug", false));
	ck_assert_str_eq(core_conf_get_str(c, "server.hostname", NULL), "mx.example");
	core_conf_free(&c);
}
END_TEST

START_TEST(test_set)
{
	struct core_conf *c = parse_ok("server.hostname = \"a\"\n");
	ck_assert_int_eq(core_conf_set(c, "server.hostname", "\"b\""), 0);
	ck_assert_str_eq(core_conf_get_str(c, "server.hostname", NULL), "b");
	unsigned line = 9;
	ck_assert_str_eq(core_conf_origin(c, "server.hostname", &line), "(set)");
	ck_assert_uint_eq(line, 0);
	ck_assert_int_eq(core_conf_set(c, "server.max-connections", "12"), 0);
	ck_assert_int_eq(core_conf_get_int(c, "server.max-connections", 0), 12);
	ck_assert_int_eq(core_conf_set(c, "server.timeout", "2m"), 0); /* stored as a string */
	ck_assert_uint_eq(core_conf_get_duration_ms(c, "server.timeout", 0), 120000);
	ck_assert_int_eq(core_conf_set(c, "server.admins", "[\"x\", \"y\", \"z\"]"), 0);
	const char *const *items;
	ck_assert_uint_eq(core_conf_get_list(c, "server.admins", &items), 3);
	ck_assert_str_eq(items[2], "z");
	ck_assert_int_eq(core_conf_set(c, "bad key", "1"), CORE_ESYNTAX);
	ck_assert_int_eq(core_conf_set(c, "", "1"), CORE_ESYNTAX);
	ck_assert_int_eq(core_conf_set(c, "a..b", "1"), CORE_ESYNTAX);
	ck_assert_int_eq(core_conf_validate(c, NULL), 0);
	core_conf_free(&c);
}
END_TEST

START_TEST(test_children)
{
	struct core_conf *c = parse_ok("[listener.smtp]\nbind = \"a\"\n"
				       "[listener.imap]\nbind = \"b\"\n"
				       "[server]\nhostname = \"h\"\n"
				       "[listener.smtp.tls]\ncert = \"c\"\n"
				       "[listener.pop3]\nbind = \"p\"\n"
				       "[listeners]\nx = 1\n");
	const char *const *names;
	size_t n = core_conf_children(c, "listener", &names);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(names[0], "smtp");
	ck_assert_str_eq(names[1], "imap");
	ck_assert_str_eq(names[2], "pop3");
	/* the same answer again (cached) */
	const char *const *again;
	ck_assert_uint_eq(core_conf_children(c, "listener", &again), 3);
	ck_assert_ptr_eq(again, names);
	n = core_conf_children(c, "listener.smtp", &names);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(names[0], "bind");
	ck_assert_str_eq(names[1], "tls");
	n = core_conf_children(c, "", &names);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(names[0], "listener");
	ck_assert_str_eq(names[1], "server");
	ck_assert_str_eq(names[2], "listeners");
	ck_assert_uint_eq(core_conf_children(c, "nothing", &names), 0);
	ck_assert_uint_eq(core_conf_children(c, "listener.smtp.bind", &names), 0);
	/* set adds a child at the end */
	ck_assert_int_eq(core_conf_set(c, "listener.lmtp.bind", "\"l\""), 0);
	ck_assert_uint_eq(core_conf_children(c, "listener", &names), 4);
	ck_assert_str_eq(names[3], "lmtp");
	core_conf_free(&c);
}
END_TEST

/* Parse helpers: input, expected value, ok. */
static const struct {
	const char *s;
	uint64_t want;
	bool ok;
} durations[] =
	{
		{"250ms", 250, true},
		{"30s", 30000, true},
		{"5m", 300000, true},
		{"2h", 7200000, true},
		{"7d", 604800000, true},
		{"45", 45000, true},
		{"0", 0, true},
		{"", 0, false},
		{"s", 0, false},
		{"5x", 0, false},
		{"-5s", 0, false},
		{"5 s", 0, false},
		{"1.5h", 0, false},
		{"5mm", 0, false},
		{"18446744073709551615ms", UINT64_MAX, true},
		{"18446744073709551616ms", 0, false},
		{"18446744073709551615s", 0, false},
},
  sizes[] = {
	  {"512", 512, true},        {"512B", 512, true},
	  {"64K", 65536, true},      {"64k", 65536, true},
	  {"64KB", 65536, true},     {"10M", 10485760, true},
	  {"2G", 2147483648u, true}, {"", 0, false},
	  {"K", 0, false},           {"1T", 0, false},
	  {"1KK", 0, false},         {"-1", 0, false},
	  {"1 K", 0, false},         {"17179869184G", 0, false},
};

START_TEST(test_parse_duration)
{
	uint64_t v = 12345;
	int rc = core_conf_parse_duration_ms(durations[_i].s, &v);
	ck_assert_msg((rc == 0) == durations[_i].ok, "case %s", durations[_i].s);
	if (durations[_i].ok)
		ck_assert_uint_eq(v, durations[_i].want);
	else
		ck_assert_int_eq(rc, CORE_ESYNTAX);
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t v = 12345;
	int rc = core_conf_parse_size(sizes[_i].s, &v);
	ck_assert_msg((rc == 0) == sizes[_i].ok, "case %s", sizes[_i].s);
	if (sizes[_i].ok)
		ck_assert_uint_eq(v, sizes[_i].want);
	else
		ck_assert_int_eq(rc, CORE_ESYNTAX);
}
END_TEST

START_TEST(test_parse_bool)
{
	static const struct {
		const char *s;
		int want; /* -1: error */
	} cases[] = {{"true", 1},  {"yes", 1}, {"on", 1},     {"1", 1},  {"TRUE", 1},
		     {"false", 0}, {"no", 0},  {"off", 0},    {"0", 0},  {"", -1},
		     {"y", -1},    {"2", -1},  {"truex", -1}, {NULL, -1}};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		bool v = false;
		int rc = core_conf_parse_bool(cases[i].s, &v);
		if (cases[i].want < 0) {
			ck_assert_int_eq(rc, CORE_ESYNTAX);
		} else {
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(v, cases[i].want == 1);
		}
	}
	uint64_t u;
	ck_assert_int_eq(core_conf_parse_size(NULL, &u), CORE_ESYNTAX);
	ck_assert_int_eq(core_conf_parse_duration_ms(NULL, &u), CORE_ESYNTAX);
}
END_TEST

/* ----------------------------------------------------------------------------------- */
/* Secrets */

static char secret_path[64];

static void secret_setup(void)
{
	registry_setup();
	strcpy(secret_path, "/tmp/staunch-conf-test-XXXXXX");
	int fd = mkstemp(secret_path);
	ck_assert_int_ge(fd, 0);
	const char body[] = "s3cr3t-pw\n";
	ck_assert_int_eq(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
	close(fd);
	setenv("STAUNCH_TEST_SECRET", "env-pw", 1);
	unsetenv("STAUNCH_TEST_UNSET");
}

static void secret_teardown(void)
{
	unlink(secret_path);
	unsetenv("STAUNCH_TEST_SECRET");
	registry_teardown();
}

START_TEST(test_secret_file_and_env)
{
	struct core_buf t = CORE_BUF_INIT;
	core_buf_printf(
		&t,
		"[server]\npassword = \"%%{file:%s}\"\nhostname = \"a-%%{env:"
		"STAUNCH_TEST_SECRET}-b\"\nadmins = [\"x\", \"%%{env:STAUNCH_TEST_SECRET}\"]\n"
		"data-dir = \"/lit/%%%%{env:X}/100%%\"\n",
		secret_path);
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_load_buf(FILE_NAME, t.p, t.len, &c, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	/* one trailing newline stripped */
	ck_assert_str_eq(core_conf_get_str(c, "server.password", NULL), "s3cr3t-pw");
	ck_assert_str_eq(core_conf_get_str(c, "server.hostname", NULL), "a-env-pw-b");
	const char *const *items;
	ck_assert_uint_eq(core_conf_get_list(c, "server.admins", &items), 2);
	ck_assert_str_eq(items[1], "env-pw");
	/* "%%{" is a literal "%{"; a lone '%' stays */
	ck_assert_str_eq(core_conf_get_str(c, "server.data-dir", NULL), "/lit/%{env:X}/100%");
	core_conf_free(&c);
	/* parse alone never expands */
	ck_assert_int_eq(core_conf_parse(FILE_NAME, t.p, t.len, &c, &d), 0);
	ck_assert_ptr_nonnull(strstr(core_conf_get_str(c, "server.password", ""), "%{file:"));
	core_conf_free(&c);
	core_conf_diags_fini(&d);
	core_buf_fini(&t);
}
END_TEST

START_TEST(test_secret_errors)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"server.password = \"%{env:STAUNCH_TEST_UNSET}\"",
		 "t.conf:1: key server.password: environment variable 'STAUNCH_TEST_UNSET' is "
		 "not set\n"},
		{"\n[server]\npassword = \"%{file:/nonexistent/staunch/secret}\"",
		 "t.conf:3: key server.password: cannot read secret file "
		 "'/nonexistent/staunch/secret': No such file or directory\n"},
		{"server.password = \"%{file:/tmp}\"", "cannot read secret file '/tmp': Is a "
						       "directory"},
		{"server.hostname = \"%{vault:x}\"",
		 "t.conf:1: key server.hostname: unknown reference '%{vault:x}'"},
		{"server.password = \"ab%{cd}ef\"",
		 "t.conf:1: key server.password: unknown reference (expected %{file:PATH} or "
		 "%{env:NAME}; write %%{ for a literal %{)\n"},
		{"server.password = \"%{env:X\"", "t.conf:1: key server.password: unterminated "
						  "reference"},
		{"server.admins = [\"%{env:STAUNCH_TEST_UNSET}\"]",
		 "t.conf:1: key server.admins: environment variable"},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		int rc = 0;
		char *got = diags_of(cases[i].text, strlen(cases[i].text), true, &rc);
		ck_assert_int_eq(rc, CORE_ESYNTAX);
		ck_assert_msg(strstr(got, cases[i].want) != NULL, "case %zu: <%s>", i, got);
		free(got);
	}
}
END_TEST

START_TEST(test_secret_never_printed)
{
	/* an expanded value that fails validation is not echoed */
	setenv("STAUNCH_TEST_SECRET", "hunter2", 1);
	const char *text = "listener.smtp.protocol = \"smtp\"\n"
			   "listener.smtp.tls = \"%{env:STAUNCH_TEST_SECRET}\"\n";
	int rc = 0;
	char *got = diags_of(text, strlen(text), true, &rc);
	ck_assert_int_eq(rc, CORE_ESYNTAX);
	ck_assert_msg(strstr(got, "t.conf:2: key listener.smtp.tls: '<secret>' is not one of") !=
			      NULL,
		      "%s", got);
	ck_assert_msg(strstr(got, "hunter2") == NULL, "%s", got);
	free(got);
}
END_TEST

START_TEST(test_load_file)
{
	char path[] = "/tmp/staunch-conf-load-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char body[] = "[server]\nhostname = \"from-file\"\nport = 1\n";
	ck_assert_int_eq(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
	close(fd);
	struct core_conf_diags d;
	struct core_conf *c = NULL;
	core_conf_diags_init(&d);
	/* the file name is the diagnostics' file */
	ck_assert_int_eq(core_conf_load(path, &c, &d), CORE_ESYNTAX);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.v[0].file, path);
	ck_assert_uint_eq(d.v[0].line, 3);
	ck_assert_str_eq(d.v[0].key, "server.port");
	core_conf_diags_fini(&d);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, body, 32), 32);
	close(fd);
	ck_assert_int_eq(core_conf_load(path, &c, &d), 0);
	ck_assert_str_eq(core_conf_get_str(c, "server.hostname", NULL), "from-file");
	ck_assert_str_eq(core_conf_origin(c, "server.hostname", NULL), path);
	core_conf_free(&c);
	unlink(path);
	ck_assert_int_eq(core_conf_load(path, &c, &d), CORE_EIO);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_ptr_nonnull(strstr(d.v[0].msg, "cannot read"));
	core_conf_diags_fini(&d);
}
END_TEST

/* ----------------------------------------------------------------------------------- */
/* Reference documentation */

START_TEST(test_doc_markdown)
{
	struct core_buf b = CORE_BUF_INIT;
	core_conf_doc_markdown(&b);
	const char *md = core_buf_cstr(&b);
	ck_assert_ptr_nonnull(strstr(md, "## Server\n\n| Key | Type | Default | Description |\n"));
	ck_assert_ptr_nonnull(strstr(md, "## Listeners\n"));
	ck_assert(strstr(md, "## Server") < strstr(md, "## Listeners"));
	/* each table once, though registered twice */
	ck_assert_ptr_null(strstr(strstr(md, "## Server") + 1, "## Server"));
	const struct core_conf_key *tables[] = {test_keys, listener_keys};
	size_t ns[] = {CORE_NELEM(test_keys), CORE_NELEM(listener_keys)};
	for (size_t t = 0; t < 2; t++) {
		for (size_t i = 0; i < ns[t]; i++) {
			char *cell = core_xasprintf("| `%s` |", tables[t][i].pattern);
			ck_assert_msg(strstr(md, cell) != NULL, "missing %s", cell);
			free(cell);
			ck_assert_ptr_nonnull(strstr(md, tables[t][i].doc));
		}
	}
	ck_assert_ptr_nonnull(
		strstr(md, "| `listener.*.tls` | enum: `none`, `starttls`, `implicit` | `none` | "
			   "TLS mode. |\n"));
	ck_assert_ptr_nonnull(strstr(md, "| `server.max-connections` | integer (1 to 100000) | "
					 "`1000` | Connections. |\n"));
	ck_assert_ptr_nonnull(strstr(md, "| `server.password` | string | (none) | Password. "
					 "Secret: never printed. |\n"));
	ck_assert_ptr_nonnull(strstr(md, "Protocol spoken. Required."));
	core_buf_fini(&b);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("core_conf");
	TCase *tc = tcase_create("syntax");
	tcase_add_loop_test(tc, test_syntax_ok, 0, (int)CORE_NELEM(syntax_ok));
	tcase_add_test(tc, test_scalar_types);
	tcase_add_loop_test(tc, test_syntax_bad, 0, (int)CORE_NELEM(syntax_bad));
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_all_errors_collected);
	tcase_add_test(tc, test_too_many_diags);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limit_text);
	tcase_add_test(tc, test_limit_keys);
	tcase_add_test(tc, test_limit_value);
	tcase_add_test(tc, test_limit_key_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, registry_setup, registry_teardown);
	tcase_add_loop_test(tc, test_validate, 0, (int)CORE_NELEM(validate_cases));
	tcase_add_test(tc, test_validate_collects_all);
	tcase_add_test(tc, test_key_lookup);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_file_values_override_defaults);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_children);
	tcase_add_test(tc, test_doc_markdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_loop_test(tc, test_parse_duration, 0, (int)CORE_NELEM(durations));
	tcase_add_loop_test(tc, test_parse_size, 0, (int)CORE_NELEM(sizes));
	tcase_add_test(tc, test_parse_bool);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, secret_setup, secret_teardown);
	tcase_add_test(tc, test_secret_file_and_env);
	tcase_add_test(tc, test_secret_errors);
	tcase_add_test(tc, test_secret_never_printed);
	tcase_add_test(tc, test_load_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
