/*
 * test_mail_hdr_form.c: the JMAP header forms (src/mail/mail_hdr_form.c): Raw, URLs, the
 * allowed-form table and the "header:Name:asForm[:all]" values (RFC 8621 §4.1.2, §4.1.3).
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_render.h"
#include "mail/mail.h"

#define FORMS_DIR STAUNCH_SOURCE_DIR "/conformance/mail/headers"
#define MSG_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"

START_TEST(test_form_raw)
{
	struct core_arena *a = core_arena_new(0);
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{" plain", 6, " plain"},
		/* folding kept */
		{" a\r\n b", 6, " a\r\n b"},
		/* NUL dropped */
		{" a\0b", 4, " ab"},
		/* valid UTF-8 kept */
		{" caf\xC3\xA9", 6, " caf\xC3\xA9"},
		/* a run of invalid octets becomes one U+FFFD */
		{" caf\xE9\xE9!", 7, " caf\xEF\xBF\xBD!"},
		{"\xFF", 1, "\xEF\xBF\xBD"},
		{" \xC3", 2, " \xEF\xBF\xBD"},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_str r = mail_hdr_raw(a, core_str_make(cases[i].in, cases[i].len));
		ck_assert_msg(core_str_eq_cstr(r, cases[i].want), "case %zu: '%.*s'", i,
			      CORE_STR_FMT(r));
	}
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	const char *want; /* URLs joined by '|' */
} url_cases[] = {
	{" <mailto:list@example.org>", 0, "mailto:list@example.org"},
	{" <mailto:list-request@example.org?subject=help> (List Instructions)", 0,
	 "mailto:list-request@example.org?subject=help"},
	{" <https://example.org/unsub>,\r\n <mailto:u@example.org?subject=unsubscribe>", 0,
	 "https://example.org/unsub|mailto:u@example.org?subject=unsubscribe"},
	/* RFC 2369 §2: white space inside the brackets is ignored */
	{" <https://example.org/a/\r\n  very/long/path>", 0,
	 "https://example.org/a/very/long/path"},
	{" (comment first) <ftp://ftp.example.org/>", 0, "ftp://ftp.example.org/"},
	{" NO (posting not allowed)", CORE_ESYNTAX, ""},
	{" <mailto:a@b.c> junk", CORE_ESYNTAX, ""},
	{" <unclosed", CORE_ESYNTAX, ""},
	{" <>", CORE_ESYNTAX, ""},
	{" <a:b>,", CORE_ESYNTAX, ""},
	{"", CORE_ESYNTAX, ""},
};

START_TEST(test_form_urls)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_url_list l;
	int rc = mail_hdr_urls(a, core_str_from_cstr(url_cases[_i].in), &l);
	ck_assert_int_eq(rc, url_cases[_i].rc);
	if (rc == 0) {
		struct core_buf b = CORE_BUF_INIT;
		for (size_t i = 0; i < l.count; i++) {
			if (i > 0)
				core_buf_putc(&b, '|');
			core_buf_append(&b, l.urls[i].p, l.urls[i].len);
		}
		ck_assert_str_eq(core_buf_cstr(&b), url_cases[_i].want);
		core_buf_fini(&b);
	}
	core_arena_free(&a);
}
END_TEST

START_TEST(test_form_names_allowed)
{
	enum mail_hdr_form f;
	for (int i = MAIL_HDR_FORM_RAW; i <= MAIL_HDR_FORM_URLS; i++) {
		const char *n = mail_hdr_form_name((enum mail_hdr_form)i);
		ck_assert_int_eq(mail_hdr_form_parse(n, strlen(n), &f), 0);
		ck_assert_int_eq(f, i);
	}
	ck_assert_int_eq(mail_hdr_form_parse("astext", 6, &f), CORE_ESYNTAX);
	ck_assert_int_eq(mail_hdr_form_parse("asURL", 5, &f), CORE_ESYNTAX);
	/* RFC 8621 §4.1.2.x lists */
	ck_assert(mail_hdr_form_allowed("subject", MAIL_HDR_FORM_TEXT));
	ck_assert(mail_hdr_form_allowed("List-Id", MAIL_HDR_FORM_TEXT));
	ck_assert(!mail_hdr_form_allowed("From", MAIL_HDR_FORM_TEXT));
	ck_assert(!mail_hdr_form_allowed("List-Post", MAIL_HDR_FORM_TEXT));
	ck_assert(mail_hdr_form_allowed("Resent-Reply-To", MAIL_HDR_FORM_ADDRESSES));
	ck_assert(mail_hdr_form_allowed("bcc", MAIL_HDR_FORM_GROUPED_ADDRESSES));
	ck_assert(!mail_hdr_form_allowed("Subject", MAIL_HDR_FORM_ADDRESSES));
	ck_assert(mail_hdr_form_allowed("References", MAIL_HDR_FORM_MESSAGE_IDS));
	ck_assert(!mail_hdr_form_allowed("Date", MAIL_HDR_FORM_MESSAGE_IDS));
	ck_assert(mail_hdr_form_allowed("Resent-Date", MAIL_HDR_FORM_DATE));
	ck_assert(!mail_hdr_form_allowed("Received", MAIL_HDR_FORM_DATE));
	ck_assert(mail_hdr_form_allowed("List-Unsubscribe", MAIL_HDR_FORM_URLS));
	ck_assert(!mail_hdr_form_allowed("To", MAIL_HDR_FORM_URLS));
	/* a field no RFC of the list defines: every form */
	for (int i = MAIL_HDR_FORM_RAW; i <= MAIL_HDR_FORM_URLS; i++)
		ck_assert(mail_hdr_form_allowed("X-Custom", (enum mail_hdr_form)i));
	/* Raw always */
	ck_assert(mail_hdr_form_allowed("Received", MAIL_HDR_FORM_RAW));
}
END_TEST

static const char MSG[] = "From: \"Joe\" <joe@example.com>\r\n"
			  "To: A Group: a@x.test, B <b@x.test>;, c@y.test\r\n"
			  "Subject: first\r\n"
			  "Subject: =?utf-8?q?caf=C3=A9?= \r\n"
			  "Date: Fri, 27 Nov 2026 03:20:00 +0100\r\n"
			  "Message-ID: <id1@example.com>\r\n"
			  "References: <r1@x> (c)\r\n <r2@y>\r\n"
			  "In-Reply-To: garbage\r\n"
			  "List-Unsubscribe: <mailto:u@x.test>, <https://x.test/u>\r\n"
			  "List-Post: NO\r\n"
			  "X-Two: 1\r\n"
			  "X-Two: 2\r\n"
			  "\r\n"
			  "body\r\n";

/* The JSON of a form, compact with sorted keys. */
static char *form(struct core_arena *a, const struct mail_message *m, const char *name,
		  enum mail_hdr_form f, bool all)
{
	json_t *v = mail_hdr_form_json(a, &m->root->header, name, f, all);
	ck_assert_ptr_nonnull(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(v);
	char *r = core_arena_strdup(a, s);
	free(s);
	return r;
}

START_TEST(test_form_json)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, MSG, sizeof(MSG) - 1, NULL, &m, NULL), 0);
	/* RFC 8621 §4.1.3: the last instance */
	ck_assert_str_eq(form(a, m, "subject", MAIL_HDR_FORM_RAW, false),
			 "\" =?utf-8?q?caf=C3=A9?= \"");
	/* §4.1.2.2: leading space removed, trailing kept, encoded word decoded */
	ck_assert_str_eq(form(a, m, "Subject", MAIL_HDR_FORM_TEXT, false), "\"caf\xC3\xA9 \"");
	ck_assert_str_eq(form(a, m, "Subject", MAIL_HDR_FORM_TEXT, true),
			 "[\"first\",\"caf\xC3\xA9 \"]");
	ck_assert_str_eq(form(a, m, "X-Two", MAIL_HDR_FORM_RAW, true), "[\" 1\",\" 2\"]");
	/* absent: null, or [] with :all */
	ck_assert_str_eq(form(a, m, "X-None", MAIL_HDR_FORM_RAW, false), "null");
	ck_assert_str_eq(form(a, m, "X-None", MAIL_HDR_FORM_TEXT, true), "[]");
	ck_assert_str_eq(form(a, m, "From", MAIL_HDR_FORM_ADDRESSES, false),
			 "[{\"email\":\"joe@example.com\",\"name\":\"Joe\"}]");
	ck_assert_str_eq(form(a, m, "To", MAIL_HDR_FORM_ADDRESSES, false),
			 "[{\"email\":\"a@x.test\",\"name\":null},{\"email\":\"b@x.test\","
			 "\"name\":\"B\"},{\"email\":\"c@y.test\",\"name\":null}]");
	ck_assert_str_eq(form(a, m, "To", MAIL_HDR_FORM_GROUPED_ADDRESSES, false),
			 "[{\"addresses\":[{\"email\":\"a@x.test\",\"name\":null},{\"email\":"
			 "\"b@x.test\",\"name\":\"B\"}],\"name\":\"A Group\"},{\"addresses\":[{"
			 "\"email\":\"c@y.test\",\"name\":null}],\"name\":null}]");
	ck_assert_str_eq(form(a, m, "Date", MAIL_HDR_FORM_DATE, false),
			 "\"2026-11-27T03:20:00+01:00\"");
	ck_assert_str_eq(form(a, m, "Subject", MAIL_HDR_FORM_DATE, false), "null");
	ck_assert_str_eq(form(a, m, "References", MAIL_HDR_FORM_MESSAGE_IDS, false),
			 "[\"r1@x\",\"r2@y\"]");
	ck_assert_str_eq(form(a, m, "Message-ID", MAIL_HDR_FORM_MESSAGE_IDS, true),
			 "[[\"id1@example.com\"]]");
	ck_assert_str_eq(form(a, m, "In-Reply-To", MAIL_HDR_FORM_MESSAGE_IDS, false), "null");
	ck_assert_str_eq(form(a, m, "List-Unsubscribe", MAIL_HDR_FORM_URLS, false),
			 "[\"mailto:u@x.test\",\"https://x.test/u\"]");
	ck_assert_str_eq(form(a, m, "List-Post", MAIL_HDR_FORM_URLS, false), "null");
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *prop;
	int rc;
	const char *want;
} prop_cases[] = {
	{"header:Subject", 0, "\" =?utf-8?q?caf=C3=A9?= \""},
	{"header:subject:asText", 0, "\"caf\xC3\xA9 \""},
	{"header:SUBJECT:asText:all", 0, "[\"first\",\"caf\xC3\xA9 \"]"},
	{"header:X-Two:all", 0, "[\" 1\",\" 2\"]"},
	{"header:List-Unsubscribe:asURLs", 0, "[\"mailto:u@x.test\",\"https://x.test/u\"]"},
	{"header:X-None:asDate:all", 0, "[]"},
	{"header:X-None", 0, "null"},
	/* RFC 8621 §4.1.2: forms not allowed for the field */
	{"header:From:asText", CORE_EPERM, ""},
	{"header:Subject:asURLs:all", CORE_EPERM, ""},
	/* malformed */
	{"header:", CORE_ESYNTAX, ""},
	{"header::asText", CORE_ESYNTAX, ""},
	{"header:Subject:asText:all:all", CORE_ESYNTAX, ""},
	{"header:Subject:all:asText", CORE_ESYNTAX, ""},
	{"header:Subject:astext", CORE_ESYNTAX, ""},
	{"header:Subject:", CORE_ESYNTAX, ""},
	{"header:Sub ject", CORE_ESYNTAX, ""},
	{"subject", CORE_ESYNTAX, ""},
};

START_TEST(test_form_property)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, MSG, sizeof(MSG) - 1, NULL, &m, NULL), 0);
	json_t *v = NULL;
	struct core_error err;
	int rc = mail_hdr_property_json(a, &m->root->header, prop_cases[_i].prop, &v, &err);
	ck_assert_msg(rc == prop_cases[_i].rc, "%s: rc %d", prop_cases[_i].prop, rc);
	if (rc == 0) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		ck_assert_str_eq(s, prop_cases[_i].want);
		free(s);
		json_decref(v);
	} else {
		ck_assert_ptr_null(v);
	}
	core_arena_free(&a);
}
END_TEST

/*
 * Every header field of a message's top-level header in every form RFC 8621 §4.1.2 allows
 * for it, with ":all" (§4.1.3): {"name": {"asRaw": [...], "asText": [...], ...}}, names in
 * lower case in order of first appearance. Appended to out as indented JSON.
 */
static void render_forms(const char *msg, size_t len, struct core_buf *out)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	if (mail_message_parse(a, msg, len, NULL, &m, NULL) != 0) {
		core_buf_append_str(out, "parse error\n");
		core_arena_free(&a);
		return;
	}
	const struct mail_header *h = &m->root->header;
	json_t *root = json_object();
	for (size_t i = 0; i < h->count; i++) {
		char *name = core_str_dup(a, h->fields[i].name);
		for (char *q = name; *q != '\0'; q++)
			*q = core_ascii_lower(*q);
		if (json_object_get(root, name) != NULL)
			continue;
		json_t *forms = json_object();
		for (int f = MAIL_HDR_FORM_RAW; f <= MAIL_HDR_FORM_URLS; f++) {
			if (!mail_hdr_form_allowed(name, (enum mail_hdr_form)f))
				continue;
			json_object_set_new(
				forms, mail_hdr_form_name((enum mail_hdr_form)f),
				mail_hdr_form_json(a, h, name, (enum mail_hdr_form)f, true));
		}
		json_object_set_new(root, name, forms);
	}
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	core_buf_append_str(out, s);
	core_buf_putc(out, '\n');
	free(s);
	json_decref(root);
	core_arena_free(&a);
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* conformance/mail/headers/<case>.json: the forms of messages/<case>.eml. */
START_TEST(test_header_form_files)
{
	DIR *d = opendir(FORMS_DIR);
	ck_assert_ptr_nonnull(d);
	char *names[512];
	size_t n = 0, fails = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 512) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			names[n++] = core_xstrndup(e->d_name, l - 5);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	ck_assert_uint_ge(n, 10);
	for (size_t i = 0; i < n; i++) {
		char *mp = core_xasprintf("%s/%s.eml", MSG_DIR, names[i]);
		char *jp = core_xasprintf("%s/%s.json", FORMS_DIR, names[i]);
		size_t ml = 0, jl = 0;
		char *msg = mail_test_read_file(mp, &ml), *want = mail_test_read_file(jp, &jl);
		struct core_buf got = CORE_BUF_INIT;
		bool ok = msg != NULL && want != NULL;
		if (ok) {
			render_forms(msg, ml, &got);
			ok = got.len == jl && memcmp(got.p, want, jl) == 0;
		}
		printf("%s %s\n", ok ? "PASS" : "FAIL", names[i]);
		if (!ok) {
			fails++;
			printf("--- got:\n%s", core_buf_cstr(&got));
		}
		core_buf_fini(&got);
		free(msg);
		free(want);
		free(mp);
		free(jp);
		free(names[i]);
	}
	ck_assert_msg(fails == 0, "%zu of %zu header form cases differ", fails, n);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mail_hdr_form");
	TCase *tc = tcase_create("forms");
	tcase_add_test(tc, test_form_raw);
	tcase_add_loop_test(tc, test_form_urls, 0, (int)CORE_NELEM(url_cases));
	tcase_add_test(tc, test_form_names_allowed);
	tcase_add_test(tc, test_form_json);
	tcase_add_loop_test(tc, test_form_property, 0, (int)CORE_NELEM(prop_cases));
	tcase_add_test(tc, test_header_form_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* Authoring aid: print the forms of one message. */
	if (argc == 3 && strcmp(argv[1], "--render") == 0) {
		size_t len;
		char *msg = mail_test_read_file(argv[2], &len);
		if (msg == NULL)
			return EXIT_FAILURE;
		struct core_buf out = CORE_BUF_INIT;
		render_forms(msg, len, &out);
		fputs(core_buf_cstr(&out), stdout);
		core_buf_fini(&out);
		free(msg);
		return EXIT_SUCCESS;
	}
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
