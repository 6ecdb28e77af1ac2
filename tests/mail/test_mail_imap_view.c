/*
 * test_mail_imap_view.c: IMAP ENVELOPE, BODY, BODYSTRUCTURE and section addressing
 * (src/mail/mail_imap_view.c), table-driven, and the IMAP conformance files:
 * conformance/mail/imap/<case>.txt holds the ENVELOPE, BODY and BODYSTRUCTURE lines expected
 * for conformance/mail/messages/<case>.eml. Each file case is reported "PASS name" or
 * "FAIL name".
 *
 * Authoring aid: `mail_test_mail_imap_view --render FILE` prints the three lines of a message.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_render.h"
#include "mail/mail.h"

#define IMAP_DIR STAUNCH_SOURCE_DIR "/conformance/mail/imap"
#define MSG_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"

static void render_views(const char *data, size_t len, struct core_buf *out)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	if (mail_message_parse(a, data, len, NULL, &m, &err) < 0) {
		core_buf_append_str(out, "PARSE ERROR\n");
		core_arena_free(&a);
		return;
	}
	core_buf_append_str(out, "ENVELOPE ");
	mail_imap_envelope(a, m, m->root, out);
	core_buf_append_str(out, "\nBODY ");
	mail_imap_bodystructure(a, m, m->root, false, out);
	core_buf_append_str(out, "\nBODYSTRUCTURE ");
	mail_imap_bodystructure(a, m, m->root, true, out);
	core_buf_putc(out, '\n');
	core_arena_free(&a);
}

/* Expected answers derived by hand from RFC 9051 §7.5.2 / §6.4.5 for small messages. */
static const struct {
	const char *msg;
	const char *envelope;
	const char *bodystructure;
} view_cases[] = {
	/* 0: plain text, defaults: text/plain; charset=us-ascii (RFC 2045 §5.2), 7BIT;
	 * Sender and Reply-To take From. */
	{"From: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev2 WG mtg summary\r\n"
	 "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nMessage-Id: "
	 "<B27397-0100000@cac.washington.edu>\r\nTo: imap@cac.washington.edu\r\n"
	 "Cc: minutes@CNRI.Reston.VA.US, \"John Klensin\" <KLENSIN@MIT.EDU>\r\n\r\n"
	 "line one\r\nline two\r\n",
	 "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary\" "
	 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	 "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	 "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" "
	 "\"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\")",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 20 2 NIL NIL NIL NIL)"},
	/* 1: groups, an empty To, folded subject kept raw (not decoded), quoted specials */
	{"From: A <a@x.test>\r\nSender: s@x.test\r\nTo:\r\nCc: Friends: b@y.test, "
	 "\"C \\\"Q\\\"\" <c@y.test>;\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\n"
	 "In-Reply-To: <p@x.test>\r\n\r\nx",
	 "(NIL \"=?utf-8?q?caf=C3=A9?= folded\" ((\"A\" NIL \"a\" \"x.test\")) "
	 "((NIL NIL \"s\" \"x.test\")) ((\"A\" NIL \"a\" \"x.test\")) NIL "
	 "((NIL NIL \"Friends\" NIL)(NIL NIL \"b\" \"y.test\")(\"C \\\"Q\\\"\" NIL \"c\" "
	 "\"y.test\")(NIL NIL NIL NIL)) NIL \"<p@x.test>\" NIL)",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL)"},
	/* 2: multipart/mixed with extension data on both levels and an 8-bit value (literal) */
	{"Content-Type: multipart/mixed; boundary=\"b\"\r\nContent-Language: en, fr\r\n\r\n"
	 "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
	 "quoted-printable\r\nContent-ID: <c1@x>\r\nContent-Description: the text\r\n\r\n"
	 "caf=C3=A9\r\n--b\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n"
	 "Content-Disposition: attachment; filename*=utf-8''r%C3%A9.pdf\r\n"
	 "Content-Transfer-Encoding: base64\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	 "Content-Location: http://x.test/r.pdf\r\nContent-Language: de\r\n\r\n"
	 "AAAA\r\n--b--\r\n",
	 "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") \"<c1@x>\" \"the text\" "
	 "\"QUOTED-PRINTABLE\" 9 1 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" "
	 "\"r.pdf\") NIL NIL \"BASE64\" 4 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"ATTACHMENT\" "
	 "(\"FILENAME\" {7}\r\nr\xC3\xA9.pdf)) \"de\" \"http://x.test/r.pdf\") \"MIXED\" "
	 "(\"BOUNDARY\" \"b\") NIL (\"en\" \"fr\") NIL)"},
	/* 3: message/rfc822: envelope and structure of the inner message, then its lines */
	{"Content-Type: message/rfc822\r\n\r\nSubject: in\r\nFrom: i@x.test\r\n\r\nhello\r\n",
	 "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	 "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 38 (NIL \"in\" ((NIL NIL \"i\" "
	 "\"x.test\")) ((NIL NIL \"i\" \"x.test\")) ((NIL NIL \"i\" \"x.test\")) NIL NIL NIL "
	 "NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 7 1 NIL NIL "
	 "NIL NIL) 4 NIL NIL NIL NIL)"},
	/* 4: bare LF: sizes are octets as stored */
	{"Subject: lf\n\na\nb\n", "(NIL \"lf\" NIL NIL NIL NIL NIL NIL NIL NIL)",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 4 2 NIL NIL NIL NIL)"},
};

START_TEST(test_views_table)
{
	const char *msg = view_cases[_i].msg;
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, &err), 0);
	struct core_buf b = CORE_BUF_INIT;
	mail_imap_envelope(a, m, m->root, &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), view_cases[_i].envelope) == 0,
		      "case %d envelope: %s", _i, core_buf_cstr(&b));
	core_buf_reset(&b);
	mail_imap_bodystructure(a, m, m->root, true, &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), view_cases[_i].bodystructure) == 0,
		      "case %d bodystructure: %s", _i, core_buf_cstr(&b));
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

/* BODY (non-extended) drops every extension field. */
START_TEST(test_body_no_extension)
{
	const char *msg = view_cases[2].msg;
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, msg, strlen(msg), NULL, &m, &err), 0);
	struct core_buf b = CORE_BUF_INIT;
	mail_imap_bodystructure(a, m, m->root, false, &b);
	ck_assert_str_eq(core_buf_cstr(&b),
			 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") \"<c1@x>\" \"the text\" "
			 "\"QUOTED-PRINTABLE\" 9 1)(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") "
			 "NIL NIL \"BASE64\" 4) \"MIXED\")");
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

static const char SEC_MSG[] =
	"From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\nContent-Type: multipart/mixed; "
	"boundary=B\r\n\r\npre\r\n--B\r\n\r\none\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
	"Subject: inner\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\n"
	"Content-Type: text/plain\r\n\r\ni1\r\n--C\r\nContent-Type: text/html\r\n\r\n<b>i2</b>\r\n"
	"--C--\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: single\r\n\r\nbody3\r\n"
	"--B--\r\n";

static const struct {
	const char *spec;
	bool partial;
	uint64_t origin, count;
	int rc;
	const char *want;
} sec_cases[] = {
	{"HEADER", false, 0, 0, 0,
	 "From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\nContent-Type: multipart/mixed; "
	 "boundary=B\r\n\r\n"},
	{"HEADER.FIELDS (subject FROM)", false, 0, 0, 0, "From: a@x.test\r\nSubject: s\r\n\r\n"},
	{"header.fields.not (\"Subject\" content-type)", false, 0, 0, 0,
	 "From: a@x.test\r\nTo: b@y.test\r\n\r\n"},
	{"1", false, 0, 0, 0, "one"},
	{"1.MIME", false, 0, 0, 0, "\r\n"},
	{"2.MIME", false, 0, 0, 0, "Content-Type: message/rfc822\r\n\r\n"},
	{"2.HEADER", false, 0, 0, 0,
	 "Subject: inner\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n"},
	{"2.1", false, 0, 0, 0, "i1"},
	{"2.2", false, 0, 0, 0, "<b>i2</b>"},
	{"2.2.MIME", false, 0, 0, 0, "Content-Type: text/html\r\n\r\n"},
	{"2.HEADER.FIELDS (Subject)", false, 0, 0, 0, "Subject: inner\r\n\r\n"},
	{"3.TEXT", false, 0, 0, 0, "body3"},
	/* the body of a non-multipart message is its part 1 */
	{"3.1", false, 0, 0, 0, "body3"},
	{"3", false, 0, 0, 0, "Subject: single\r\n\r\nbody3"},
	/* partial: origin and count, also over a literal CRLF */
	{"1", true, 1, 1, 0, "n"},
	{"1", true, 2, 100, 0, "e"},
	{"1", true, 9, 1, 0, ""},
	{"HEADER.FIELDS (To)", true, 4, 20, 0, "b@y.test\r\n\r\n"},
	{"HEADER.FIELDS (To)", true, 15, 1, 0, "\n"},
	/* errors */
	{"4", false, 0, 0, CORE_ENOTFOUND, ""},
	{"1.HEADER", false, 0, 0, CORE_ENOTFOUND, ""},
	{"1.2", false, 0, 0, CORE_ENOTFOUND, ""},
	{"0", false, 0, 0, CORE_ESYNTAX, ""},
	{"1.", false, 0, 0, CORE_ESYNTAX, ""},
	{"MIME", false, 0, 0, CORE_ESYNTAX, ""},
	{"HEADER.FIELDS ()", false, 0, 0, CORE_ESYNTAX, ""},
	{"HEADER.FIELDS (a", false, 0, 0, CORE_ESYNTAX, ""},
	{"TEXTX", false, 0, 0, CORE_ESYNTAX, ""},
};

START_TEST(test_section_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, SEC_MSG, strlen(SEC_MSG), NULL, &m, &err), 0);
	struct mail_imap_body body;
	const char *spec = sec_cases[_i].spec;
	int rc = mail_imap_section_resolve(a, m, spec, strlen(spec), sec_cases[_i].partial,
					   sec_cases[_i].origin, sec_cases[_i].count, &body, &err);
	ck_assert_msg(rc == sec_cases[_i].rc, "case %d '%s': rc %d", _i, spec, rc);
	if (rc == 0) {
		struct core_buf b = CORE_BUF_INIT;
		mail_imap_body_copy(m, &body, &b);
		ck_assert_msg(strcmp(core_buf_cstr(&b), sec_cases[_i].want) == 0,
			      "case %d '%s': '%s'", _i, spec, core_buf_cstr(&b));
		ck_assert_uint_eq(body.total, b.len);
		core_buf_fini(&b);
	}
	core_arena_free(&a);
}
END_TEST

/* BODY[] is the whole message; BODY[TEXT] of the top level its body. */
START_TEST(test_section_whole)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	ck_assert_int_eq(mail_message_parse(a, SEC_MSG, strlen(SEC_MSG), NULL, &m, &err), 0);
	struct mail_imap_body body;
	ck_assert_int_eq(mail_imap_section_resolve(a, m, "", 0, false, 0, 0, &body, &err), 0);
	ck_assert_uint_eq(body.nsegs, 1);
	ck_assert_uint_eq(body.segs[0].off, 0);
	ck_assert_uint_eq(body.total, strlen(SEC_MSG));
	ck_assert_int_eq(mail_imap_section_resolve(a, m, "TEXT", 4, false, 0, 0, &body, &err), 0);
	ck_assert_uint_eq(body.segs[0].off, m->root->body_off);
	ck_assert_uint_eq(body.total, m->root->body_len);
	core_arena_free(&a);
}
END_TEST

static const struct {
	const char *in;
	const char *want;
} str_cases[] = {
	{"abc", "\"abc\""},          {"a\"b\\c", "\"a\\\"b\\\\c\""},        {"", "\"\""},
	{"a\r\nb", "{4}\r\na\r\nb"}, {"caf\xC3\xA9", "{5}\r\ncaf\xC3\xA9"},
};

START_TEST(test_string_table)
{
	struct core_buf b = CORE_BUF_INIT;
	mail_imap_string_append(&b, str_cases[_i].in, strlen(str_cases[_i].in));
	ck_assert_str_eq(core_buf_cstr(&b), str_cases[_i].want);
	core_buf_reset(&b);
	mail_imap_string_append(&b, NULL, 0);
	ck_assert_str_eq(core_buf_cstr(&b), "NIL");
	core_buf_fini(&b);
}
END_TEST

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

START_TEST(test_conformance_files)
{
	DIR *d = opendir(IMAP_DIR);
	ck_assert_ptr_nonnull(d);
	char *names[1024];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 1024) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0)
			names[n++] = strndup(e->d_name, l - 4);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), str_cmp);
	ck_assert_uint_ge(n, 10);
	size_t fails = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		size_t mlen = 0, elen = 0;
		snprintf(path, sizeof(path), "%s/%s.eml", MSG_DIR, names[i]);
		char *msg = mail_test_read_file(path, &mlen);
		snprintf(path, sizeof(path), "%s/%s.txt", IMAP_DIR, names[i]);
		char *want = mail_test_read_file(path, &elen);
		struct core_buf b = CORE_BUF_INIT;
		bool ok = msg != NULL && want != NULL;
		if (ok) {
			render_views(msg, mlen, &b);
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
	ck_assert_msg(fails == 0, "%zu IMAP conformance cases failed", fails);
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
		render_views(msg, len, &b);
		fwrite(b.p, 1, b.len, stdout);
		core_buf_fini(&b);
		free(msg);
		return 0;
	}
	Suite *s = suite_create("mail_imap_view");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_views_table, 0, sizeof(view_cases) / sizeof(view_cases[0]));
	tcase_add_test(tc, test_body_no_extension);
	tcase_add_loop_test(tc, test_section_table, 0, sizeof(sec_cases) / sizeof(sec_cases[0]));
	tcase_add_test(tc, test_section_whole);
	tcase_add_loop_test(tc, test_string_table, 0, sizeof(str_cases) / sizeof(str_cases[0]));
	tcase_add_test(tc, test_conformance_files);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
