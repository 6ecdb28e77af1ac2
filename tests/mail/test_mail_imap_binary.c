/*
 * test_mail_imap_binary.c: IMAP BINARY[section] and BINARY.SIZE[section] content
 * (src/mail/mail_imap_binary.c; RFC 3516, RFC 9051 §6.4.5).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_render.h"
#include "mail/mail.h"

#define MSG_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"

static const char MSG[] = "From: a@example.com\r\n"
			  "Content-Type: multipart/mixed; boundary=b1\r\n"
			  "\r\n"
			  "--b1\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n"
			  "\r\n"
			  "caf=C3=A9 =\r\n"
			  "au lait=0Anext\r\n"
			  "--b1\r\n"
			  "Content-Type: application/octet-stream\r\n"
			  "Content-Transfer-Encoding: BASE64\r\n"
			  "\r\n"
			  "AAEC/w==\r\n"
			  "--b1\r\n"
			  "Content-Type: message/rfc822\r\n"
			  "\r\n"
			  "Subject: inner\r\n"
			  "Content-Type: multipart/alternative; boundary=b2\r\n"
			  "\r\n"
			  "--b2\r\n"
			  "\r\n"
			  "inner text\r\n"
			  "--b2\r\n"
			  "Content-Type: image/gif\r\n"
			  "Content-Transfer-Encoding: base64\r\n"
			  "\r\n"
			  "R0lGODlh\r\n"
			  "--b2--\r\n"
			  "--b1\r\n"
			  "Content-Type: application/x-stuff\r\n"
			  "Content-Transfer-Encoding: x-uuencode\r\n"
			  "\r\n"
			  "begin 644 x\r\n"
			  "--b1\r\n"
			  "Content-Type: message/rfc822\r\n"
			  "\r\n"
			  "Subject: single\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "na\xC3\xAFve\r\n"
			  "--b1--\r\n";

static const struct {
	const char *spec;
	int rc; /* of mail_imap_binary_part, then of mail_imap_binary */
	const char *want;
	size_t want_len;
} cases[] = {
	/* QP decoded, soft break removed; text: the LF from =0A goes out as CRLF */
	{"1", 0, "caf\xC3\xA9 au lait\r\nnext", 19},
	/* base64 with NUL and 0xFF */
	{"2", 0, "\x00\x01\x02\xFF", 4},
	/* RFC 9051 §6.4.5: numbers continue into the encapsulated message */
	{"3.1", 0, "inner text", 10},
	{"3.2", 0, "GIF89a", 6},
	/* unknown encoding: RFC 3516 §4.3 UNKNOWN-CTE */
	{"4", CORE_ESYNTAX, "", 0},
	/* part 1 of a non-multipart message is its body */
	{"5.1", 0, "na\xC3\xAFve", 6},
	/* not leaf parts */
	{"3", CORE_EPERM, "", 0},
	{"5", CORE_EPERM, "", 0},
	/* no such part */
	{"6", CORE_ENOTFOUND, "", 0},
	{"3.3", CORE_ENOTFOUND, "", 0},
	{"1.2", CORE_ENOTFOUND, "", 0},
	{"5.2", CORE_ENOTFOUND, "", 0},
	/* bad syntax */
	{"0", CORE_ESYNTAX, "", 0},
	{"1.", CORE_ESYNTAX, "", 0},
	{"1..2", CORE_ESYNTAX, "", 0},
	{"HEADER", CORE_ESYNTAX, "", 0},
	{"1.MIME", CORE_ESYNTAX, "", 0},
	{"99999999999999999999", CORE_ESYNTAX, "", 0},
};

START_TEST(test_binary_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, MSG, sizeof(MSG) - 1, NULL, &m, NULL), 0);
	const struct mail_part *p = NULL;
	struct core_error err;
	const char *spec = cases[_i].spec;
	int rc = mail_imap_binary_part(m, spec, strlen(spec), &p, &err);
	struct core_buf out = CORE_BUF_INIT;
	if (rc == 0) {
		ck_assert_ptr_nonnull(p);
		rc = mail_imap_binary(m, p, &out, &err);
		uint64_t size = 0;
		int rs = mail_imap_binary_size(m, p, &size, NULL);
		ck_assert_int_eq(rs, rc);
		if (rc == 0)
			ck_assert_uint_eq(size, out.len);
		else
			ck_assert_str_eq(err.rule, MAIL_RULE_UNKNOWN_CTE);
	}
	ck_assert_msg(rc == cases[_i].rc, "%s: rc %d", spec, rc);
	if (rc == 0) {
		ck_assert_msg(out.len == cases[_i].want_len &&
				      memcmp(out.p, cases[_i].want, out.len) == 0,
			      "%s: content differs (%zu octets)", spec, out.len);
		ck_assert_uint_eq(mail_imap_binary_has_nul(out.p, out.len),
				  memchr(cases[_i].want, 0, cases[_i].want_len) != NULL);
	}
	core_buf_fini(&out);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_binary_single_and_whole)
{
	static const char one[] = "Subject: x\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Transfer-Encoding: base64\r\n"
				  "\r\n"
				  "bGluZTEKbGluZTINCg==\r\n";
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, one, sizeof(one) - 1, NULL, &m, NULL), 0);
	const struct mail_part *p;
	/* BINARY[1] of a single-part message: its body, decoded, LF made CRLF for text */
	ck_assert_int_eq(mail_imap_binary_part(m, "1", 1, &p, NULL), 0);
	ck_assert_ptr_eq(p, m->root);
	struct core_buf out = CORE_BUF_INIT;
	ck_assert_int_eq(mail_imap_binary(m, p, &out, NULL), 0);
	ck_assert_str_eq(core_buf_cstr(&out), "line1\r\nline2\r\n");
	ck_assert_int_eq(mail_imap_binary_part(m, "2", 1, &p, NULL), CORE_ENOTFOUND);
	/* BINARY[]: the whole message as it is */
	ck_assert_int_eq(mail_imap_binary_part(m, "", 0, &p, NULL), 0);
	ck_assert_ptr_null(p);
	core_buf_reset(&out);
	ck_assert_int_eq(mail_imap_binary(m, NULL, &out, NULL), 0);
	ck_assert_uint_eq(out.len, sizeof(one) - 1);
	uint64_t size;
	ck_assert_int_eq(mail_imap_binary_size(m, NULL, &size, NULL), 0);
	ck_assert_uint_eq(size, sizeof(one) - 1);
	core_buf_fini(&out);
	core_arena_free(&a);
}
END_TEST

/* Over the whole corpus: the partId of every part (its IMAP section number, as BODY[] uses
 * it) names that same part for BINARY; leaves decode to what mail_part_decode_body() gives
 * (text with CRLF line ends), other parts are refused as not leaves. */
START_TEST(test_binary_corpus_sections)
{
	DIR *d = opendir(MSG_DIR);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	size_t leaves = 0, refused = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		char *path = core_xasprintf("%s/%s", MSG_DIR, e->d_name);
		size_t len;
		char *msg = mail_test_read_file(path, &len);
		ck_assert_ptr_nonnull(msg);
		struct core_arena *a = core_arena_new(0);
		struct mail_message *m;
		ck_assert_int_eq(mail_message_parse(a, msg, len, NULL, &m, NULL), 0);
		for (size_t i = 0; i < m->nparts; i++) {
			const struct mail_part *p = m->parts[i];
			const char *id = mail_jmap_part_id(a, p);
			if (id == NULL)
				continue; /* a multipart: no partId */
			const struct mail_part *got = NULL;
			int rc = mail_imap_binary_part(m, id, strlen(id), &got, NULL);
			bool leaf = !core_str_eq_cstr(p->ct.type, "multipart") &&
				    !mail_part_is_message(p) &&
				    !(core_str_eq_cstr(p->ct.type, "message") &&
				      (core_str_eq_cstr(p->ct.subtype, "rfc822") ||
				       core_str_eq_cstr(p->ct.subtype, "global")));
			if (!leaf) {
				ck_assert_msg(rc == CORE_EPERM, "%s part %s: rc %d", e->d_name, id,
					      rc);
				refused++;
				continue;
			}
			ck_assert_msg(rc == 0 && got == p, "%s part %s: rc %d", e->d_name, id, rc);
			struct core_buf out = CORE_BUF_INIT, raw = CORE_BUF_INIT;
			if (mail_imap_binary(m, p, &out, NULL) == 0) {
				mail_part_decode_body(m, p, &raw);
				if (!core_str_eq_cstr(p->ct.type, "text"))
					ck_assert(out.len == raw.len &&
						  (raw.len == 0 ||
						   memcmp(out.p, raw.p, raw.len) == 0));
				else
					ck_assert_uint_ge(out.len, raw.len);
				leaves++;
			} else {
				ck_assert_int_eq(p->cte, MAIL_CTE_UNKNOWN);
			}
			core_buf_fini(&out);
			core_buf_fini(&raw);
		}
		core_arena_free(&a);
		free(msg);
		free(path);
	}
	closedir(d);
	ck_assert_uint_gt(leaves, 150);
	ck_assert_uint_gt(refused, 5);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mail_imap_binary");
	TCase *tc = tcase_create("binary");
	tcase_add_loop_test(tc, test_binary_table, 0, (int)CORE_NELEM(cases));
	tcase_add_test(tc, test_binary_single_and_whole);
	tcase_add_test(tc, test_binary_corpus_sections);
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
