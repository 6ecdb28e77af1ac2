/*
 * test_codec.c: the mail store's value encoding (docs/mailstore.md §Values): varint and
 * zigzag round trips, records that round-trip, truncated and corrupted records refused
 * without reading past their end, the parsed-fields record of a nested message, the RFC 5256
 * base subject used for threading, and keyword normalisation (RFC 8621 §4.1.1).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_int.h"

START_TEST(varints_round_trip)
{
	static const uint64_t u[] = {0,
				     1,
				     127,
				     128,
				     300,
				     16383,
				     16384,
				     UINT32_MAX,
				     (uint64_t)UINT32_MAX + 1,
				     UINT64_MAX - 1,
				     UINT64_MAX};
	static const int64_t s[] = {0, 1, -1, 63, -64, 64, -65, INT64_MAX, INT64_MIN};
	struct core_buf b = CORE_BUF_INIT;
	for (size_t i = 0; i < CORE_NELEM(u); i++)
		ms_put_u64(&b, u[i]);
	for (size_t i = 0; i < CORE_NELEM(s); i++)
		ms_put_i64(&b, s[i]);
	ms_put_str(&b, NULL);
	ms_put_str(&b, "");
	ms_put_str(&b, "abc");
	struct ms_dec d;
	ms_dec_init(&d, b.p, b.len);
	for (size_t i = 0; i < CORE_NELEM(u); i++)
		ck_assert_uint_eq(ms_get_u64(&d), u[i]);
	for (size_t i = 0; i < CORE_NELEM(s); i++)
		ck_assert_int_eq(ms_get_i64(&d), s[i]);
	struct core_arena *a = core_arena_new(0);
	ck_assert_ptr_null(ms_get_str(&d, a));
	ck_assert_str_eq(ms_get_str(&d, a), "");
	ck_assert_str_eq(ms_get_str(&d, a), "abc");
	ck_assert(!d.bad);
	ck_assert_uint_eq(d.off, b.len);
	/* Reading past the end marks the decoder bad and yields zeros. */
	ck_assert_uint_eq(ms_get_u64(&d), 0);
	ck_assert(d.bad);
	/* An 11-byte varint, and a 10th byte with more than one bit, are malformed. */
	static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	ms_dec_init(&d, over, sizeof(over));
	(void)ms_get_u64(&d);
	ck_assert(d.bad);
	/* A 32-bit read of a larger value is refused. */
	core_buf_reset(&b);
	ms_put_u64(&b, (uint64_t)UINT32_MAX + 1);
	ms_dec_init(&d, b.p, b.len);
	(void)ms_get_u32(&d);
	ck_assert(d.bad);
	/* A string longer than what is left. */
	core_buf_reset(&b);
	ms_put_u64(&b, 10);
	core_buf_append(&b, "abc", 3);
	ms_dec_init(&d, b.p, b.len);
	ck_assert_ptr_null(ms_get_str(&d, a));
	ck_assert(d.bad);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

START_TEST(keys_sort_numerically)
{
	uint8_t k1[STORE_KEY_MAX], k2[STORE_KEY_MAX];
	size_t l1 = ms_key_id(k1, 1, MS_F_EMAIL, 255);
	size_t l2 = ms_key_id(k2, 1, MS_F_EMAIL, 256);
	ck_assert_uint_eq(l1, 18);
	ck_assert_uint_eq(l1, l2);
	ck_assert_int_lt(memcmp(k1, k2, l1), 0);
	ck_assert_uint_eq(ms_rd_be64(k2 + 10), 256);
	/* Accounts sort before families: all of one account's keys are contiguous. */
	ms_key_id(k2, 2, MS_F_ACCOUNT, 0);
	ck_assert_int_lt(memcmp(k1, k2, 10), 0);
	uint8_t b4[4];
	ms_be32(b4, 0x01020304u);
	ck_assert_uint_eq(b4[0], 1);
	ck_assert_uint_eq(ms_rd_be32(b4), 0x01020304u);
}
END_TEST

/* Every strict prefix of a record must be refused, never read past. */
static void check_prefixes(const struct core_buf *b,
			   int (*dec)(const void *, size_t, struct core_arena *, void *))
{
	struct core_arena *a = core_arena_new(0);
	for (size_t n = 0; n < b->len; n++) {
		/* A copy of exactly n bytes, so ASan sees any read past it. */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, b->p, n);
		union {
			struct mailstore_mailbox m;
			struct mailstore_email e;
			struct mailstore_parsed pa;
		} out;
		memset(&out, 0, sizeof(out));
		ck_assert_msg(dec(p, n, a, &out) < 0, "prefix of %zu of %zu bytes accepted", n,
			      b->len);
		free(p);
	}
	core_arena_free(&a);
}

static int dec_mailbox(const void *p, size_t n, struct core_arena *a, void *out)
{
	return ms_mailbox_decode(p, n, a, out);
}
static int dec_email(const void *p, size_t n, struct core_arena *a, void *out)
{
	return ms_email_decode(p, n, a, out);
}
static int dec_parsed(const void *p, size_t n, struct core_arena *a, void *out)
{
	return ms_parsed_decode(p, n, a, out);
}

START_TEST(records_round_trip_and_refuse_truncation)
{
	struct core_arena *a = core_arena_new(0);
	struct core_buf b = CORE_BUF_INIT;
	struct ms_account_rec ar = {9, 3, 1000, 2, 5000, 10, 1700000000u, true}, ar2;
	ms_account_encode(&ar, &b);
	ck_assert_int_eq(ms_account_decode(b.p, b.len, &ar2), 0);
	ck_assert_uint_eq(ar2.modseq, 9);
	ck_assert_uint_eq(ar2.floor, 3);
	ck_assert_uint_eq(ar2.used_bytes, 1000);
	ck_assert_uint_eq(ar2.used_messages, 2);
	ck_assert_uint_eq(ar2.quota_bytes, 5000);
	ck_assert_uint_eq(ar2.quota_messages, 10);
	ck_assert_uint_eq(ar2.last_uidvalidity, 1700000000u);
	ck_assert(ar2.deleting);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_lt(ms_account_decode(b.p, n, &ar2), 0);

	struct mailstore_mailbox m = {.id = 4,
				      .parent_id = 2,
				      .name = "Caf\xc3\xa9",
				      .role = MAILSTORE_ROLE_TRASH,
				      .sort_order = 7,
				      .subscribed = true,
				      .uidvalidity = 123,
				      .uidnext = 45,
				      .highest_modseq = 99,
				      .created_modseq = 3,
				      .updated_modseq = 50,
				      .total = 44,
				      .unread = 2,
				      .size = 123456,
				      .unseen = 3,
				      .total_threads = 40,
				      .unread_threads = 1,
				      .recent_uid = 40};
	ms_mailbox_encode(&m, &b);
	struct mailstore_mailbox m2 = {.id = 4};
	ck_assert_int_eq(ms_mailbox_decode(b.p, b.len, a, &m2), 0);
	ck_assert_str_eq(m2.name, m.name);
	ck_assert_uint_eq(m2.id, 4);
	ck_assert_uint_eq(m2.parent_id, 2);
	ck_assert_int_eq(m2.role, MAILSTORE_ROLE_TRASH);
	ck_assert_uint_eq(m2.sort_order, 7);
	ck_assert(m2.subscribed);
	ck_assert_uint_eq(m2.uidvalidity, 123);
	ck_assert_uint_eq(m2.uidnext, 45);
	ck_assert_uint_eq(m2.highest_modseq, 99);
	ck_assert_uint_eq(m2.created_modseq, 3);
	ck_assert_uint_eq(m2.updated_modseq, 50);
	ck_assert_uint_eq(m2.total, 44);
	ck_assert_uint_eq(m2.unread, 2);
	ck_assert_uint_eq(m2.size, 123456);
	ck_assert_uint_eq(m2.unseen, 3);
	ck_assert_uint_eq(m2.total_threads, 40);
	ck_assert_uint_eq(m2.unread_threads, 1);
	ck_assert_uint_eq(m2.recent_uid, 40);
	check_prefixes(&b, dec_mailbox);

	const char *kw[] = {"$seen", "work"};
	struct mailstore_member mem[] = {{3, 10}, {7, 1}};
	struct mailstore_email e = {.id = 8,
				    .thread_id = 5,
				    .size = 999,
				    .received_at = -5,
				    .modseq = 12,
				    .created_modseq = 11,
				    .keywords = kw,
				    .nkeywords = 2,
				    .members = mem,
				    .nmembers = 2};
	memset(e.blob.hash, 0xab, STORE_HASH_LEN);
	ms_email_encode(&e, &b);
	struct mailstore_email e2 = {.id = 8};
	ck_assert_int_eq(ms_email_decode(b.p, b.len, a, &e2), 0);
	ck_assert_int_eq(e2.received_at, -5);
	ck_assert_uint_eq(e2.nkeywords, 2);
	ck_assert_str_eq(e2.keywords[1], "work");
	ck_assert_uint_eq(e2.nmembers, 2);
	ck_assert_uint_eq(e2.members[0].uid, 10);
	ck_assert(memcmp(e2.blob.hash, e.blob.hash, STORE_HASH_LEN) == 0);
	check_prefixes(&b, dec_email);
	/* A membership count above the limit is corrupt, not an overflow. */
	core_buf_reset(&b);
	ms_put_u64(&b, 1);
	ms_put_u64(&b, 1);
	uint8_t h[STORE_HASH_LEN] = {0};
	core_buf_append(&b, h, sizeof(h));
	for (int i = 0; i < 4; i++)
		ms_put_u64(&b, 1);
	ms_put_u64(&b, 0);
	ms_put_u64(&b, MAILSTORE_MAILBOXES_MAX + 1);
	ck_assert_int_lt(ms_email_decode(b.p, b.len, a, &e2), 0);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

static const char nested[] = "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n"
			     "Subject: Fwd: report\r\n"
			     "References: <a@x> <b@x>\r\n"
			     "Content-Type: multipart/mixed; boundary=XX\r\n"
			     "\r\n"
			     "--XX\r\n"
			     "Content-Type: text/plain\r\n"
			     "\r\n"
			     "See below.\r\n"
			     "--XX\r\n"
			     "Content-Type: message/rfc822\r\n"
			     "\r\n"
			     "From: inner@example.org\r\n"
			     "Subject: inner subject\r\n"
			     "Message-ID: <inner@example.org>\r\n"
			     "\r\n"
			     "inner body\r\n"
			     "--XX--\r\n";

START_TEST(parsed_record_of_nested_message)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_parsed p, q;
	struct core_error err;
	ck_assert_int_eq(ms_parsed_build(a, nested, strlen(nested), &p, &err), 0);
	struct core_buf b = CORE_BUF_INIT;
	ms_parsed_encode(&p, &b);
	ck_assert_int_eq(ms_parsed_decode(b.p, b.len, a, &q), 0);
	ck_assert_str_eq(q.subject, "Fwd: report");
	ck_assert_uint_eq(q.nfrom, 1);
	ck_assert_str_eq(q.from[0].name, "J\xc3\xb6rg");
	ck_assert_str_eq(q.envelope.from_raw, "=?utf-8?q?J=C3=B6rg?= <j@example.de>");
	ck_assert_uint_eq(q.nreferences, 2);
	ck_assert_str_eq(q.references[1], "b@x");
	ck_assert(!q.has_sent_at);
	ck_assert_str_eq(q.preview, "See below.");
	ck_assert(!q.has_attachment);
	/* multipart, text, message/rfc822, its text body. */
	ck_assert_uint_eq(q.nparts, 4);
	ck_assert_uint_eq(q.parts[0].nchildren, 2);
	ck_assert_uint_eq(q.parts[2].nchildren, 1);
	ck_assert_str_eq(q.parts[2].type, "message");
	ck_assert_ptr_null(q.part_envelopes[1]);
	ck_assert_ptr_nonnull(q.part_envelopes[2]);
	ck_assert_str_eq(q.part_envelopes[2]->subject_raw, "inner subject");
	ck_assert_str_eq(q.part_envelopes[2]->message_id_raw, "<inner@example.org>");
	ck_assert_ptr_null(q.part_envelopes[2]->date_raw);
	ck_assert(memcmp(nested + q.parts[3].body_off, "inner body", 10) == 0);
	/* Re-encoding the decoded record gives the same bytes. */
	struct core_buf b2 = CORE_BUF_INIT;
	ms_parsed_encode(&q, &b2);
	ck_assert_uint_eq(b.len, b2.len);
	ck_assert(memcmp(b.p, b2.p, b.len) == 0);
	check_prefixes(&b, dec_parsed);
	/* A version from the future with extra fields appended still reads. */
	core_buf_reset(&b2);
	ms_put_u64(&b2, 2);
	core_buf_append(&b2, b.p + 1, b.len - 1);
	ms_put_u64(&b2, 12345);
	ck_assert_int_eq(ms_parsed_decode(b2.p, b2.len, a, &q), 0);
	ck_assert_uint_eq(q.version, 2);
	ck_assert_str_eq(q.subject, "Fwd: report");
	core_buf_fini(&b);
	core_buf_fini(&b2);
	core_arena_free(&a);
}
END_TEST

/* The expected preview of UTF-8 text: white space runs become one space (none at the
 * start or end), cut after 256 characters (RFC 8621 §4.1.4). */
static void preview_expect(const char *text, struct core_buf *out)
{
	size_t chars = 0;
	bool sp = false;
	for (const unsigned char *q = (const unsigned char *)text; *q != '\0' && chars < 256;) {
		size_t l = *q < 0x80 ? 1 : *q < 0xe0 ? 2 : *q < 0xf0 ? 3 : 4;
		if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
			sp = out->len > 0;
		} else {
			if (sp) {
				core_buf_putc(out, ' ');
				chars++;
			}
			sp = false;
			if (chars < 256) {
				core_buf_append(out, q, l);
				chars++;
			}
		}
		q += l;
	}
}

/* One message of body text (UTF-8) sent with a transfer encoding and charset. */
static void preview_check(const char *text, const char *cte, const char *charset, const void *body,
			  size_t blen)
{
	struct core_buf msg = CORE_BUF_INIT, want = CORE_BUF_INIT;
	core_buf_printf(&msg,
			"From: a@example.org\r\nSubject: p\r\nMIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=%s\r\n"
			"Content-Transfer-Encoding: %s\r\n\r\n",
			charset, cte);
	core_buf_append(&msg, body, blen);
	struct core_arena *a = core_arena_new(0);
	struct mailstore_parsed p;
	struct core_error err;
	ck_assert_int_eq(ms_parsed_build(a, msg.p, msg.len, &p, &err), 0);
	preview_expect(text, &want);
	ck_assert_str_eq(p.preview, core_buf_cstr(&want));
	core_arena_free(&a);
	core_buf_fini(&msg);
	core_buf_fini(&want);
}

START_TEST(preview_of_long_bodies)
{
	/* Long bodies are previewed from their decoded beginning: the result must be the
	 * whole body's, whatever the encoding cut at that point. */
	struct core_buf text = CORE_BUF_INIT, enc = CORE_BUF_INIT;
	for (int i = 0; i < 400; i++)
		core_buf_printf(&text, "w%d \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac%s", i,
				i % 7 == 0 ? "\r\n\r\n" : "  ");
	const char *t = core_buf_cstr(&text);
	preview_check(t, "8bit", "utf-8", text.p, text.len);
	core_base64_encode_mime(&enc, text.p, text.len);
	preview_check(t, "base64", "utf-8", enc.p, enc.len);
	core_buf_reset(&enc);
	core_qp_encode(&enc, text.p, text.len, CORE_QP_TEXT);
	preview_check(t, "quoted-printable", "utf-8", enc.p, enc.len);
	/* The 256th character near the end of the decoded beginning, for every encoding: white
	 * space first (k bytes), then words with two- and three-byte characters. */
	for (size_t k = 900; k < 2100; k += 5) {
		struct core_buf part = CORE_BUF_INIT;
		for (size_t i = 0; i < k; i++)
			core_buf_putc(&part, i % 60 == 59 ? '\n' : ' ');
		for (int i = 0; i < 60; i++)
			core_buf_printf(&part, "\xc3\xa9\xe6\x97\xa5%d ", i);
		const char *pt = core_buf_cstr(&part);
		preview_check(pt, "8bit", "utf-8", part.p, part.len);
		core_buf_reset(&enc);
		core_base64_encode_mime(&enc, part.p, part.len);
		preview_check(pt, "base64", "utf-8", enc.p, enc.len);
		core_buf_reset(&enc);
		core_qp_encode(&enc, part.p, part.len, CORE_QP_TEXT);
		preview_check(pt, "quoted-printable", "utf-8", enc.p, enc.len);
		core_buf_fini(&part);
	}
	/* Mostly white space: the beginning holds too few characters, the whole body is read. */
	core_buf_reset(&text);
	for (int i = 0; i < 3000; i++)
		core_buf_putc(&text, i % 50 == 49 ? '\n' : ' ');
	core_buf_printf(&text, "late words after the blank beginning");
	preview_check(core_buf_cstr(&text), "7bit", "us-ascii", text.p, text.len);
	/* Latin-1 bytes converted to UTF-8. */
	core_buf_reset(&text);
	core_buf_reset(&enc);
	for (int i = 0; i < 700; i++) {
		core_buf_printf(&text, "caf\xc3\xa9 ");
		core_buf_printf(&enc, "caf\xe9 ");
	}
	preview_check(core_buf_cstr(&text), "8bit", "iso-8859-1", enc.p, enc.len);
	core_buf_fini(&text);
	core_buf_fini(&enc);
}
END_TEST

START_TEST(subject_base)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"Hello", "hello"},
		{"Re: Hello", "hello"},
		{"RE:Hello", "hello"},
		{"re : Hello", "hello"},
		{"Fwd: Re: [list] Hello  world ", "hello world"},
		{"[list] Re: Hello", "hello"},
		{"Re[2]: Hello", "hello"},
		{"Hello (fwd)", "hello"},
		{"Hello (fwd) (FWD)", "hello"},
		{"[Fwd: Re: Hello]", "hello"},
		{"[only a tag]", "[only a tag]"},
		{"Fw: \tHello\r\n there", "hello there"},
		{"Reply soon", "reply soon"},
		{"Re:", ""},
		{"", ""},
		{"STRASSE", "strasse"},
		{"Stra\xc3\x9f"
		 "e",
		 "strasse"},
		{"Re: \xff raw", "\xff raw"},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_buf b = CORE_BUF_INIT;
		mailstore_subject_base(cases[i].in, strlen(cases[i].in), &b);
		ck_assert_msg(strcmp(core_buf_cstr(&b), cases[i].out) == 0, "%s -> '%s', want '%s'",
			      cases[i].in, core_buf_cstr(&b), cases[i].out);
		core_buf_fini(&b);
	}
}
END_TEST

START_TEST(keywords_normalised)
{
	struct core_arena *a = core_arena_new(0);
	struct core_error err;
	const char **out;
	size_t n;
	const char *in[] = {"Work", "$Seen", "work", "$answered"};
	ck_assert_int_eq(ms_keywords_norm(a, in, 4, &out, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0], "$answered");
	ck_assert_str_eq(out[1], "$seen");
	ck_assert_str_eq(out[2], "work");
	ck_assert(ms_keywords_has(out, n, "$seen"));
	ck_assert(!ms_keywords_has(out, n, "$Seen"));
	static const char *bad[] = {"", "a b", "\\Seen", "x(", "tab\t", "caf\xc3\xa9", "a*", "q\""};
	for (size_t i = 0; i < CORE_NELEM(bad); i++)
		ck_assert_msg(ms_keywords_norm(a, &bad[i], 1, &out, &n, &err) == CORE_ESYNTAX,
			      "accepted %s", bad[i]);
	const char *nul[] = {NULL};
	ck_assert_int_eq(ms_keywords_norm(a, nul, 1, &out, &n, &err), CORE_ESYNTAX);
	char longkw[MAILSTORE_KEYWORD_MAX + 2];
	memset(longkw, 'k', sizeof(longkw) - 1);
	longkw[sizeof(longkw) - 1] = '\0';
	const char *lk[] = {longkw};
	ck_assert_int_eq(ms_keywords_norm(a, lk, 1, &out, &n, &err), CORE_ESYNTAX);
	longkw[MAILSTORE_KEYWORD_MAX] = '\0';
	ck_assert_int_eq(ms_keywords_norm(a, lk, 1, &out, &n, &err), 0);
	ck_assert_int_eq(ms_keywords_norm(a, in, MAILSTORE_KEYWORDS_MAX + 1, &out, &n, &err),
			 CORE_ELIMIT);
	ck_assert_str_eq(mailstore_role_name(MAILSTORE_ROLE_INBOX), "inbox");
	ck_assert_ptr_null(mailstore_role_name(MAILSTORE_ROLE_NONE));
	ck_assert_ptr_null(mailstore_role_name(MAILSTORE_ROLE_COUNT));
	core_arena_free(&a);
}
END_TEST

/* Decoders over random bytes and over random damage to good records: refused or accepted,
 * never a read past the end (ASan) nor a crash. */
START_TEST(random_bytes_never_crash)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_parsed p;
	struct core_error err;
	ck_assert_int_eq(ms_parsed_build(a, nested, strlen(nested), &p, &err), 0);
	struct core_buf good = CORE_BUF_INIT;
	ms_parsed_encode(&p, &good);
	uint64_t seed = 0x243f6a8885a308d3ull;
	int accepted = 0;
	for (int round = 0; round < 4000; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		size_t n;
		uint8_t *buf;
		if (round % 2 == 0) {
			n = (size_t)(seed % 64);
			buf = malloc(n ? n : 1);
			uint64_t x = seed;
			for (size_t i = 0; i < n; i++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				buf[i] = (uint8_t)(x >> 56);
			}
		} else {
			n = good.len;
			buf = malloc(n);
			memcpy(buf, good.p, n);
			buf[seed % n] ^= (uint8_t)(1u << ((seed >> 20) % 8));
			buf[(seed >> 8) % n] = (uint8_t)(seed >> 32);
		}
		union {
			struct mailstore_mailbox m;
			struct mailstore_email e;
			struct mailstore_parsed pa;
			struct ms_account_rec ar;
		} out;
		memset(&out, 0, sizeof(out));
		accepted += ms_mailbox_decode(buf, n, a, &out.m) == 0;
		memset(&out, 0, sizeof(out));
		accepted += ms_email_decode(buf, n, a, &out.e) == 0;
		accepted += ms_parsed_decode(buf, n, a, &out.pa) == 0;
		accepted += ms_account_decode(buf, n, &out.ar) == 0;
		free(buf);
		core_arena_reset(a);
	}
	/* Damaged records are sometimes still well-formed; both outcomes happen. */
	ck_assert_int_gt(accepted, 0);
	core_buf_fini(&good);
	core_arena_free(&a);
}
END_TEST

START_TEST(configuration_keys)
{
	core_conf_registry_clear();
	mailstore_conf_register();
	struct core_conf *c = core_conf_new_empty();
	struct mailstore_options o;
	mailstore_options_from_conf(c, &o);
	ck_assert_uint_eq(o.tombstone_ms, 30ull * 24 * 3600 * 1000);
	ck_assert_uint_eq(o.quota_bytes, 0);
	ck_assert_uint_eq(o.quota_messages, 0);
	ck_assert_int_eq(core_conf_set(c, "mailstore.tombstone-period", "2h"), 0);
	ck_assert_int_eq(core_conf_set(c, "mailstore.quota.storage", "10M"), 0);
	ck_assert_int_eq(core_conf_set(c, "mailstore.quota.messages", "5000"), 0);
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_validate(c, &d), 0);
	mailstore_options_from_conf(c, &o);
	ck_assert_uint_eq(o.tombstone_ms, 2ull * 3600 * 1000);
	ck_assert_uint_eq(o.quota_bytes, 10ull * 1024 * 1024);
	ck_assert_uint_eq(o.quota_messages, 5000);
	/* Out of range is a diagnostic. */
	ck_assert_int_eq(core_conf_set(c, "mailstore.tombstone-period", "1s"), 0);
	ck_assert_int_eq(core_conf_validate(c, &d), CORE_ESYNTAX);
	ck_assert_uint_gt(d.n, 0);
	core_conf_diags_fini(&d);
	core_conf_free(&c);
	core_conf_registry_clear();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mailstore-codec");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, varints_round_trip);
	tcase_add_test(tc, keys_sort_numerically);
	tcase_add_test(tc, records_round_trip_and_refuse_truncation);
	tcase_add_test(tc, parsed_record_of_nested_message);
	tcase_add_test(tc, preview_of_long_bodies);
	tcase_add_test(tc, subject_base);
	tcase_add_test(tc, keywords_normalised);
	tcase_add_test(tc, random_bytes_never_crash);
	tcase_add_test(tc, configuration_keys);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
