/*
 * test_mail_jmap_view.c: the JMAP Email body view (src/mail/mail_jmap_view.c):
 * textBody / htmlBody / attachments by RFC 8621 §4.1.4, hasAttachment, preview and the HTML
 * to text conversion, table-driven; then the JMAP conformance files:
 * conformance/mail/jmap/<case>.json is the expected body view (keys sorted, two-space
 * indent) of conformance/mail/jmap/<case>.eml when present, else of
 * conformance/mail/messages/<case>.eml, blobIds given by a test callback
 * ("blob-" and the partId). Each file case is reported "PASS name" or "FAIL name".
 *
 * Authoring aid: `mail_test_mail_jmap_view --render FILE` prints the JSON of a message.
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_render.h"
#include "mail/mail.h"

#define JMAP_DIR STAUNCH_SOURCE_DIR "/conformance/mail/jmap"
#define MSG_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"

static const char *test_blob(void *ctx, const struct mail_message *m, const struct mail_part *p,
			     const char *part_id)
{
	(void)m;
	(void)p;
	return core_arena_printf(ctx, "blob-%s", part_id);
}

/* The body view of a message as sorted, indented JSON with a final newline. */
static void render_jmap(const char *data, size_t len, struct core_buf *out)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	if (mail_message_parse(a, data, len, NULL, &m, &err) < 0) {
		core_buf_append_str(out, "PARSE ERROR\n");
		core_arena_free(&a);
		return;
	}
	json_t *j = mail_jmap_email_body(a, m, test_blob, a);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
	core_buf_append_str(out, s);
	core_buf_putc(out, '\n');
	free(s);
	json_decref(j);
	core_arena_free(&a);
}

/* partIds of a textBody / htmlBody / attachments array, joined by ' '. */
static void ids_of(json_t *arr, struct core_buf *out)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (i > 0)
			core_buf_putc(out, ' ');
		json_t *id = json_object_get(json_array_get(arr, i), "partId");
		core_buf_append_str(out, json_is_string(id) ? json_string_value(id) : "null");
	}
}

/* Expected lists derived by hand from the parseStructure pseudo-code of RFC 8621 §4.1.4. */
static const struct {
	const char *msg;
	const char *text, *html, *att;
	bool has_attachment;
	const char *preview;
} body_cases[] = {
	/* 0: alternative: one of each */
	{"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: "
	 "text/plain\r\n"
	 "\r\nplain  text\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n",
	 "1", "2", "", false, "plain text"},
	/* 1: mixed: inline image joins both bodies; a named text part after the first is an
	 * attachment */
	{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n--b\r\n"
	 "Content-Type: image/png\r\n\r\nPNG\r\n--b\r\nContent-Type: text/plain; name=a.txt\r\n\r\n"
	 "att\r\n--b--\r\n",
	 "1 2", "1 2", "3", true, "first"},
	/* 2: related: only the first part is inline; the image is an attachment, and with
	 * Content-Disposition: inline it does not count for hasAttachment */
	{"Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n"
	 "<img src=cid:i>Hi\r\n--b\r\nContent-Type: image/gif\r\nContent-ID: <i>\r\n"
	 "Content-Disposition: inline\r\n\r\nGIF\r\n--b--\r\n",
	 "1", "1", "2", false, "Hi"},
	/* 3: alternative of plain and related(html, image) */
	{"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: "
	 "text/plain\r\n"
	 "\r\nP\r\n--a\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\n"
	 "Content-Type: text/html\r\n\r\n<b>H</b>\r\n--r\r\nContent-Type: image/png\r\n\r\nX\r\n"
	 "--r--\r\n--a--\r\n",
	 "1", "2.1", "2.2", true, "P"},
	/* 4: alternative with HTML only: textBody takes the HTML part */
	{"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/html\r\n"
	 "\r\n<div>only&amp;html</div>\r\n--a--\r\n",
	 "1", "1", "", false, "only&html"},
	/* 5: single text/html message */
	{"Content-Type: text/html\r\n\r\n<html><head><title>T</title><style>p{x}</style></head>"
	 "<body><p>Hello&nbsp;<b>wor</b>ld</p><script>var x;</script><!-- c --><p>two</p>"
	 "</body></html>\r\n",
	 "1", "1", "", false, "Hello world two"},
	/* 6: attachment disposition on text, and message/rfc822 is never inline */
	{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b\r\n"
	 "Content-Disposition: attachment\r\n\r\nfile\r\n--b\r\nContent-Type: message/rfc822\r\n"
	 "\r\nSubject: x\r\n\r\ninner\r\n--b--\r\n",
	 "1", "1", "2 3", true, "body"},
	/* 7: a lone image message is the body (i == 0) */
	{"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/\r\n", "1", "1",
	 "", false, ""},
	/* 8: inline image inside an alternative goes to attachments (§4.1.4 switch default);
	 * with no HTML part, htmlBody takes the plain part */
	{"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: "
	 "text/plain\r\n"
	 "\r\nt\r\n--a\r\nContent-Type: image/png\r\n\r\ni\r\n--a--\r\n",
	 "1", "1", "2", true, "t"},
	/* 9: mixed(alternative(plain, html), pdf): the lists stay separate */
	{"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/"
	 "alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nt\r\n--a\r\n"
	 "Content-Type: text/html\r\n\r\nh\r\n--a--\r\n--m\r\nContent-Type: application/pdf\r\n\r\n"
	 "%PDF\r\n--m--\r\n",
	 "1.1", "1.2", "2", true, "t"},
	/* 10: alternative(related(html, alternative(plain, html))): the related's HTML part
	 * nulls textBody for its siblings, so the inner plain part is in no list (the
	 * pseudo-code would push to null there); the outer alternative found HTML only, so
	 * textBody takes the HTML parts */
	{"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: "
	 "multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<i>H</i>\r\n"
	 "--r\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\np\r\n--b\r\n"
	 "Content-Type: text/html\r\n\r\nh\r\n--b--\r\n--r--\r\n--a--\r\n",
	 "1.1 1.2.2", "1.1 1.2.2", "", false, "H"},
};

START_TEST(test_body_lists_table)
{
	const char *msg = body_cases[_i].msg;
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, &err), 0);
	json_t *j = mail_jmap_email_body(a, m, NULL, NULL);
	ck_assert_ptr_nonnull(j);
	struct core_buf b = CORE_BUF_INIT;
	ids_of(json_object_get(j, "textBody"), &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), body_cases[_i].text) == 0, "case %d text '%s'", _i,
		      core_buf_cstr(&b));
	core_buf_reset(&b);
	ids_of(json_object_get(j, "htmlBody"), &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), body_cases[_i].html) == 0, "case %d html '%s'", _i,
		      core_buf_cstr(&b));
	core_buf_reset(&b);
	ids_of(json_object_get(j, "attachments"), &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), body_cases[_i].att) == 0, "case %d att '%s'", _i,
		      core_buf_cstr(&b));
	ck_assert_msg(json_is_true(json_object_get(j, "hasAttachment")) ==
			      body_cases[_i].has_attachment,
		      "case %d hasAttachment", _i);
	ck_assert_msg(strcmp(json_string_value(json_object_get(j, "preview")),
			     body_cases[_i].preview) == 0,
		      "case %d preview '%s'", _i, json_string_value(json_object_get(j, "preview")));
	/* blobId null without a callback; partId null exactly for multipart parts */
	json_t *root = json_object_get(j, "bodyStructure");
	ck_assert(json_is_null(json_object_get(root, "blobId")));
	ck_assert(json_is_null(json_object_get(root, "partId")) ==
		  (json_object_get(root, "subParts") != NULL));
	core_buf_reset(&b);
	mail_jmap_preview(a, m, &b);
	ck_assert_str_eq(core_buf_cstr(&b), body_cases[_i].preview);
	core_buf_fini(&b);
	json_decref(j);
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *html;
	const char *text;
} html_cases[] = {
	{"<p>a</p><p>b</p>", "a b"},
	{"x<br>y", "x y"},
	{"<span>in</span>line", "inline"},
	{"&lt;tag&gt; &quot;q&quot; &#65;&#x42;&#X43; &eacute;", "<tag> \"q\" ABC \xC3\xA9"},
	{"&unknown; & &#;", "&unknown; & &#;"},
	{"&#0; &#x110000;", "\xEF\xBF\xBD \xEF\xBF\xBD"},
	{"<STYLE>b{}</style>v<SCRIPT type=x>if (a<b) {}</SCRIPT>w", "v w"},
	{"<!-- hidden <p> -->shown", "shown"},
	{"<!-- unclosed", ""},
	{"<p unclosed", ""},
	{"  \r\n\t a \n\n b  ", "a b"},
	{"<script>never closed", ""},
};

START_TEST(test_html_table)
{
	struct core_buf b = CORE_BUF_INIT;
	const char *h = html_cases[_i].html;
	mail_jmap_html_to_text(h, strlen(h), &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), html_cases[_i].text) == 0, "case %d: '%s'", _i,
		      core_buf_cstr(&b));
	core_buf_fini(&b);
}
END_TEST

/* Preview is at most 256 characters (code points, not octets). */
START_TEST(test_preview_limit)
{
	struct core_buf msg = CORE_BUF_INIT;
	core_buf_append_str(&msg, "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: 8bit\r\n\r\n");
	for (int i = 0; i < 300; i++)
		core_buf_append_str(&msg, "\xC3\xA9");
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg.p, msg.len, NULL, &m, &err), 0);
	struct core_buf b = CORE_BUF_INIT;
	mail_jmap_preview(a, m, &b);
	ck_assert_uint_eq(b.len, 512);
	core_buf_fini(&b);
	core_buf_fini(&msg);
	core_arena_free(&a);
}
END_TEST

/* A long base64 text part: the preview reads only its start and still gives the text. */
START_TEST(test_preview_long_base64)
{
	struct core_buf msg = CORE_BUF_INIT;
	core_buf_append_str(&msg, "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
				  "base64\r\n\r\n");
	/* "abc abc " (8 octets, 12 base64 characters) per line, about 280 KB of base64 */
	for (int i = 0; i < 20000; i++)
		core_buf_append_str(&msg, "YWJjIGFiYyAg\r\n");
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg.p, msg.len, NULL, &m, &err), 0);
	struct core_buf b = CORE_BUF_INIT;
	mail_jmap_preview(a, m, &b);
	ck_assert_uint_eq(b.len, 255); /* "abc abc ..." collapsed: 64 words, no final space */
	ck_assert(strncmp(b.p, "abc abc abc", 11) == 0);
	core_buf_fini(&b);
	core_buf_fini(&msg);
	core_arena_free(&a);
}
END_TEST

/* EmailBodyPart fields of one leaf: size after transfer decoding, name from filename (RFC
 * 2231 decoded), cid, language, location, charset default, disposition, headers in order. */
START_TEST(test_body_part_fields)
{
	const char *msg =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; "
		"name=n.txt\r\nContent-Disposition: attachment; filename*=utf-8''f%C3%A9.txt\r\n"
		"Content-Transfer-Encoding: base64\r\nContent-ID: <x@y>\r\nContent-Language: en, "
		"fr\r\nContent-Location: http://x.test/f\r\n\r\naGVsbG8=\r\n--b--\r\n";
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, &err), 0);
	json_t *p = mail_jmap_body_part(a, m, m->parts[1], test_blob, a);
	ck_assert_str_eq(json_string_value(json_object_get(p, "partId")), "1");
	ck_assert_str_eq(json_string_value(json_object_get(p, "blobId")), "blob-1");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "size")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "f\xC3\xA9.txt");
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "text/plain");
	ck_assert_str_eq(json_string_value(json_object_get(p, "charset")), "us-ascii");
	ck_assert_str_eq(json_string_value(json_object_get(p, "disposition")), "attachment");
	ck_assert_str_eq(json_string_value(json_object_get(p, "cid")), "x@y");
	ck_assert_str_eq(json_string_value(json_object_get(p, "location")), "http://x.test/f");
	json_t *l = json_object_get(p, "language");
	ck_assert_uint_eq(json_array_size(l), 2);
	ck_assert_str_eq(json_string_value(json_array_get(l, 1)), "fr");
	json_t *h = json_object_get(p, "headers");
	ck_assert_uint_eq(json_array_size(h), 6);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 3), "value")),
			 " <x@y>");
	ck_assert_ptr_null(json_object_get(p, "subParts"));
	json_decref(p);
	/* the multipart root: null partId, blobId and charset, subParts */
	p = mail_jmap_body_part(a, m, m->root, test_blob, a);
	ck_assert(json_is_null(json_object_get(p, "partId")));
	ck_assert(json_is_null(json_object_get(p, "blobId")));
	ck_assert(json_is_null(json_object_get(p, "charset")));
	ck_assert_uint_eq(json_array_size(json_object_get(p, "subParts")), 1);
	json_decref(p);
	core_arena_free(&a);
}
END_TEST

/* Raw header values that are not UTF-8 still give valid JSON strings. */
START_TEST(test_headers_8bit)
{
	const char *msg = "Subject: caf\xE9\r\n\r\nx";
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, &err), 0);
	json_t *p = mail_jmap_body_part(a, m, m->root, NULL, NULL);
	json_t *v = json_object_get(json_array_get(json_object_get(p, "headers"), 0), "value");
	ck_assert_str_eq(json_string_value(v), " caf\xC3\xA9");
	json_decref(p);
	core_arena_free(&a);
}
END_TEST

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

START_TEST(test_conformance_files)
{
	DIR *d = opendir(JMAP_DIR);
	ck_assert_ptr_nonnull(d);
	char *names[1024];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 1024) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			names[n++] = strndup(e->d_name, l - 5);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), str_cmp);
	ck_assert_uint_ge(n, 20);
	size_t fails = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		size_t mlen = 0, elen = 0;
		/* The message is the corpus one, or one kept next to the JSON. */
		snprintf(path, sizeof(path), "%s/%s.eml", JMAP_DIR, names[i]);
		char *msg = mail_test_read_file(path, &mlen);
		if (msg == NULL) {
			snprintf(path, sizeof(path), "%s/%s.eml", MSG_DIR, names[i]);
			msg = mail_test_read_file(path, &mlen);
		}
		snprintf(path, sizeof(path), "%s/%s.json", JMAP_DIR, names[i]);
		char *want = mail_test_read_file(path, &elen);
		struct core_buf b = CORE_BUF_INIT;
		bool ok = msg != NULL && want != NULL;
		if (ok) {
			render_jmap(msg, mlen, &b);
			ok = b.len == elen && memcmp(b.p, want, elen) == 0;
		}
		printf("%s %s\n", ok ? "PASS" : "FAIL", names[i]);
		if (!ok) {
			fails++;
			printf("  got:\n%s", core_buf_cstr(&b));
		}
		core_buf_fini(&b);
		free(msg);
		free(want);
		free(names[i]);
	}
	ck_assert_msg(fails == 0, "%zu JMAP conformance cases failed", fails);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--render") == 0) {
		size_t len = 0;
		char *msg = mail_test_read_file(argv[2], &len);
		if (msg == NULL)
			return 1;
		struct core_buf b = CORE_BUF_INIT;
		render_jmap(msg, len, &b);
		fwrite(b.p, 1, b.len, stdout);
		core_buf_fini(&b);
		free(msg);
		return 0;
	}
	Suite *s = suite_create("mail_jmap_view");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_body_lists_table, 0,
			    sizeof(body_cases) / sizeof(body_cases[0]));
	tcase_add_loop_test(tc, test_html_table, 0, sizeof(html_cases) / sizeof(html_cases[0]));
	tcase_add_test(tc, test_preview_limit);
	tcase_add_test(tc, test_preview_long_base64);
	tcase_add_test(tc, test_body_part_fields);
	tcase_add_test(tc, test_headers_8bit);
	tcase_add_test(tc, test_conformance_files);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
