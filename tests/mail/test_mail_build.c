/*
 * test_mail_build.c: the message builder (src/mail/mail_build.c). Every case builds a message,
 * checks the line rules of what was written (CRLF only, 998 octets at most, 78 where the
 * content can be folded, encoded words at most 75 octets, no 8-bit header octet unless RFC
 * 6532 was asked for) and parses it back with mail_message_parse(): structure, decoded header
 * values and decoded content must equal what was given.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_codec.h"
#include "core/core_utf8.h"
#include "helper_render.h"
#include "mail/mail.h"

struct built {
	struct core_arena *a;
	struct core_buf out;
	struct mail_message *m;
};

static void built_fini(struct built *bt)
{
	core_buf_fini(&bt->out);
	core_arena_free(&bt->a);
}

/* Longest line of p[0, len) (CRLF excluded); fails on a bare CR or LF. */
static size_t max_line(const char *p, size_t len)
{
	size_t best = 0, cur = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r') {
			ck_assert_msg(i + 1 < len && p[i + 1] == '\n', "bare CR at %zu", i);
			best = cur > best ? cur : best;
			cur = 0;
			i++;
			continue;
		}
		ck_assert_msg(p[i] != '\n', "bare LF at %zu", i);
		cur++;
	}
	return cur > best ? cur : best;
}

/* Every encoded word in the header is at most 75 octets (RFC 2047 §2). */
static void check_ew_len(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '=' || p[i + 1] != '?')
			continue;
		size_t q = 0, j = i + 2;
		while (j + 1 < len && !(q >= 2 && p[j] == '?' && p[j + 1] == '=')) {
			if (p[j] == '?')
				q++;
			ck_assert_msg(p[j] != ' ' && p[j] != '\r', "encoded word broken at %zu", i);
			j++;
		}
		ck_assert_msg(j + 2 - i <= 75, "encoded word of %zu octets", j + 2 - i);
		i = j + 1;
	}
}

/* Render b, check the line rules, parse. */
static void finish(struct built *bt, struct mail_build *b, bool utf8, size_t width)
{
	struct core_error err;
	core_buf_init(&bt->out);
	int r = mail_build_render(b, &bt->out, &err);
	ck_assert_msg(r == 0, "render: %s", err.msg);
	ck_assert_int_eq(mail_message_parse(bt->a, bt->out.p, bt->out.len, NULL, &bt->m, &err), 0);
	ck_assert_int_eq(mail_message_verify(bt->m, NULL), 0);
	const struct mail_part *root = bt->m->root;
	ck_assert_msg(!(root->flags & (MAIL_PART_F_HDR_JUNK | MAIL_PART_F_NO_BLANK_LINE)),
		      "header not clean:\n%s", bt->out.p);
	size_t hl = max_line(bt->out.p, root->header_len);
	ck_assert_msg(hl <= width, "header line of %zu octets:\n%s", hl, bt->out.p);
	ck_assert_uint_le(max_line(bt->out.p, bt->out.len), 998);
	check_ew_len(bt->out.p, root->header_len);
	if (!utf8)
		ck_assert_msg(core_utf8_is_ascii(bt->out.p, root->header_len), "8-bit header");
	ck_assert_uint_eq(bt->m->nproblems, 0);
}

static char *repeat(const char *s, size_t n)
{
	size_t l = strlen(s);
	char *r = core_xmalloc(l * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(r + i * l, s, l);
	r[l * n] = '\0';
	return r;
}

/* ------------------------------------------------------------------------------------- */

static const struct {
	const char *text;
	size_t reps;  /* the text repeated this many times */
	size_t width; /* longest header line allowed (RFC 6532 mode: 998 when a word is long) */
} text_cases[] = {
	{"Hello world", 1, 78},
	{"", 1, 78},
	{"word ", 60, 78},
	{"caf\xC3\xA9 ", 1, 78},
	{"Gr\xC3\xBC\xC3\x9F"
	 "e aus M\xC3\xBCnchen und K\xC3\xB6ln",
	 1, 78},
	{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE4\xBB\xB6\xE5\x90\x8D", 8, 78},
	{"\xF0\x9F\x98\x80 emoji \xF0\x9F\x8E\x89 ", 12, 78},
	{"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 ", 20, 78},
	/* looks like an encoded word: must come back literally */
	{"=?utf-8?q?not_encoded?= plain", 1, 78},
	{"a=?b?= c", 1, 78},
	/* one word longer than a line can hold: split into encoded words */
	{"x", 1200, 78},
	/* a long unbroken word that still fits 998 stays as it is */
	{"y", 300, 998},
	{"Re: [list] =?= odd ?= signs _ and = and ?", 1, 78},
	{"mixed \xC3\xA9t\xC3\xA9 plain words \xC3\xA0 la fois ", 8, 78},
	{"tab\tseparated\twords", 1, 78},
	{"  leading and trailing  ", 1, 78},
	{"double  spaces   kept", 1, 78},
};

START_TEST(test_build_text_table)
{
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		struct built bt = {.a = core_arena_new(0)};
		struct mail_build *b = mail_build_new(bt.a, utf8 ? MAIL_BUILD_UTF8 : 0);
		char *text = repeat(text_cases[_i].text, text_cases[_i].reps);
		struct core_error err;
		ck_assert_int_eq(mail_build_text(mail_build_root(b), "Subject", text, &err), 0);
		ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "x\r\n",
						 3, MAIL_BUILD_CTE_AUTO, &err),
				 0);
		/* with RFC 6532 a long word of non-ASCII text is not encoded, so not split */
		bool long_word = false;
		for (const char *q = text, *w = text; *q != '\0' && !long_word; q++) {
			if (*q == ' ')
				w = q + 1;
			long_word = q - w > 70;
		}
		finish(&bt, b, utf8, utf8 && long_word ? 998 : text_cases[_i].width);
		/* expected: tabs as spaces, trimmed */
		for (char *q = text; *q != '\0'; q++)
			if (*q == '\t')
				*q = ' ';
		struct core_str want = core_str_trim(core_str_from_cstr(text));
		const struct mail_field *f = mail_header_find(&bt.m->root->header, "Subject");
		ck_assert_ptr_nonnull(f);
		struct core_str got = mail_hdr_text(bt.a, f->value);
		ck_assert_msg(core_str_eq(got, want), "case %d utf8 %d: got '%.*s'\n%s", _i, utf8,
			      CORE_STR_FMT(got), bt.out.p);
		free(text);
		built_fini(&bt);
	}
}
END_TEST

/* RFC 2047 §4-§5: Q or B, the shorter for the text, and no word splits a character: each
 * encoded word of the Subject decodes on its own to valid UTF-8. */
START_TEST(test_build_ew_choice_split)
{
	static const struct {
		const char *text;
		char enc;
	} cases[] = {
		/* 12 letters and one 2-octet character: Q 18, B 20 */
		{"aaaaaaaaaaaa\xC3\xA9", 'Q'},
		/* three 3-octet characters: Q 27, B 12 */
		{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 'B'},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct built bt = {.a = core_arena_new(0)};
		struct mail_build *b = mail_build_new(bt.a, 0);
		ck_assert_int_eq(
			mail_build_text(mail_build_root(b), "Subject", cases[i].text, NULL), 0);
		ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "", 0,
						 MAIL_BUILD_CTE_AUTO, NULL),
				 0);
		finish(&bt, b, false, 78);
		char want[16];
		snprintf(want, sizeof(want), "=?UTF-8?%c?", cases[i].enc);
		ck_assert_msg(strstr(bt.out.p, want) != NULL, "case %zu:\n%s", i, bt.out.p);
		built_fini(&bt);
	}
	/* a long subject of 3- and 4-octet characters spans many words */
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	char *text = repeat("\xF0\x9F\x98\x80\xC3\xA9\xE6\x97\xA5"
			    "ab",
			    40);
	ck_assert_int_eq(mail_build_text(mail_build_root(b), "Subject", text, NULL), 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "", 0,
					 MAIL_BUILD_CTE_AUTO, NULL),
			 0);
	finish(&bt, b, false, 78);
	const struct mail_field *f = mail_header_find(&bt.m->root->header, "Subject");
	size_t words = 0;
	for (const char *q = f->value.p; (q = strstr(q, "=?UTF-8?")) != NULL;) {
		char enc = q[8];
		const char *t = q + 10, *e = strstr(t, "?=");
		ck_assert_ptr_nonnull(e);
		struct core_buf d = CORE_BUF_INIT;
		if (enc == 'B')
			ck_assert_int_eq(core_base64_decode(t, (size_t)(e - t), &d, NULL), 0);
		else
			core_qp_decode(t, (size_t)(e - t), CORE_QP_Q, &d);
		ck_assert_msg(core_utf8_is_valid(d.p, d.len), "word %zu splits a character", words);
		core_buf_fini(&d);
		words++;
		q = e + 2;
	}
	ck_assert_uint_gt(words, 5);
	ck_assert(core_str_eq_cstr(mail_hdr_text(bt.a, f->value), text));
	free(text);
	built_fini(&bt);
}
END_TEST

/* ------------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *email;
	const char *email_ascii; /* expected email in a header that is not RFC 6532 */
} addr_cases[] = {
	{"", "simple@example.com", "simple@example.com"},
	{"Mary Smith", "mary@x.test", "mary@x.test"},
	{"Joe Q. Public", "john.q.public@example.com", "john.q.public@example.com"},
	{"Giant; \"Big\" Box", "sysservices@example.net", "sysservices@example.net"},
	{"back\\slash", "b@example.net", "b@example.net"},
	{"J\xC3\xB6rg M\xC3\xBCller, Dr.", "jm@example.de", "jm@example.de"},
	{"=?utf-8?q?fake?=", "f@example.org", "f@example.org"},
	{"\xE5\xB1\xB1\xE7\x94\xB0\xE5\xA4\xAA\xE9\x83\x8E", "yamada@example.jp",
	 "yamada@example.jp"},
	{"", "\"john smith\"@example.com", "\"john smith\"@example.com"},
	{"Shop",
	 "info@b\xC3\xBC"
	 "cher.example",
	 "info@xn--bcher-kva.example"},
	{"Literal", "postmaster@[192.0.2.1]", "postmaster@[192.0.2.1]"},
	{"A very long display name that goes on and on well past the width of a line",
	 "long@example.com", "long@example.com"},
};

START_TEST(test_build_addrs_table)
{
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		struct built bt = {.a = core_arena_new(0)};
		struct mail_build *b = mail_build_new(bt.a, utf8 ? MAIL_BUILD_UTF8 : 0);
		/* the case three times in one field, between two plain ones, so folding and
		 * separators are exercised */
		struct mail_addr ads[5];
		memset(ads, 0, sizeof(ads));
		for (size_t i = 0; i < 5; i++) {
			bool mine = i >= 1 && i <= 3;
			ads[i].name = core_str_from_cstr(mine ? addr_cases[_i].name : "Plain");
			ads[i].email = core_str_from_cstr(mine ? addr_cases[_i].email
							       : "plain@example.org");
		}
		struct core_error err;
		int r = mail_build_addrs(mail_build_root(b), "To", ads, 5, &err);
		ck_assert_msg(r == 0, "case %d: %s", _i, err.msg);
		ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "", 0,
						 MAIL_BUILD_CTE_AUTO, &err),
				 0);
		finish(&bt, b, utf8, 78);
		struct mail_addr_list al;
		mail_addr_list_parse(bt.a, mail_header_find(&bt.m->root->header, "To")->value, &al);
		ck_assert_msg(!al.invalid, "case %d: invalid list\n%s", _i, bt.out.p);
		ck_assert_uint_eq(al.ngroups, 1);
		ck_assert_uint_eq(al.naddrs, 5);
		for (size_t i = 0; i < 5; i++) {
			const struct mail_addr *got = &al.groups[0].addrs[i];
			ck_assert_msg(core_str_eq(got->name, ads[i].name),
				      "case %d: name '%.*s'\n%s", _i, CORE_STR_FMT(got->name),
				      bt.out.p);
			const char *we = i >= 1 && i <= 3 ? (utf8 ? addr_cases[_i].email
								  : addr_cases[_i].email_ascii)
							  : "plain@example.org";
			ck_assert_msg(core_str_eq_cstr(got->email, we), "case %d: email '%.*s'", _i,
				      CORE_STR_FMT(got->email));
		}
		built_fini(&bt);
	}
}
END_TEST

START_TEST(test_build_many_addrs_fold)
{
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	struct mail_addr ads[40];
	memset(ads, 0, sizeof(ads));
	for (size_t i = 0; i < 40; i++) {
		ads[i].name = core_str_from_cstr(i % 3 == 0 ? "R\xC3\xA9mi" : "");
		ads[i].email =
			core_str_from_cstr(core_arena_printf(bt.a, "user%zu@example.com", i));
	}
	ck_assert_int_eq(mail_build_addrs(mail_build_root(b), "Cc", ads, 40, NULL), 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "", 0,
					 MAIL_BUILD_CTE_AUTO, NULL),
			 0);
	finish(&bt, b, false, 78);
	const struct mail_field *f = mail_header_find(&bt.m->root->header, "Cc");
	ck_assert_ptr_nonnull(memchr(f->value.p, '\n', f->value.len)); /* it was folded */
	struct mail_addr_list al;
	mail_addr_list_parse(bt.a, f->value, &al);
	ck_assert_uint_eq(al.naddrs, 40);
	for (size_t i = 0; i < 40; i++) {
		ck_assert(core_str_eq(al.groups[0].addrs[i].email, ads[i].email));
		ck_assert(core_str_eq(al.groups[0].addrs[i].name, ads[i].name));
	}
	built_fini(&bt);
}
END_TEST

START_TEST(test_build_groups)
{
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	struct mail_addr a1[2], a2[1];
	memset(a1, 0, sizeof(a1));
	memset(a2, 0, sizeof(a2));
	a1[0].name = CORE_STR("Ed Jones");
	a1[0].email = CORE_STR("c@a.test");
	a1[1].email = CORE_STR("joe@where.test");
	a2[0].name = CORE_STR("Solo");
	a2[0].email = CORE_STR("solo@example.net");
	struct mail_addr_group g[3] = {
		{.name = CORE_STR("A Group"), .is_group = true, .addrs = a1, .count = 2},
		{.name = CORE_STR("\xC3\x89quipe vide"),
		 .is_group = true,
		 .addrs = NULL,
		 .count = 0},
		{.name = CORE_STR(""), .is_group = false, .addrs = a2, .count = 1},
	};
	struct mail_addr_list l = {.groups = g, .ngroups = 3, .naddrs = 3};
	struct core_error err;
	ck_assert_int_eq(mail_build_addr_list(mail_build_root(b), "To", &l, &err), 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "", 0,
					 MAIL_BUILD_CTE_AUTO, NULL),
			 0);
	finish(&bt, b, false, 78);
	struct mail_addr_list al;
	mail_addr_list_parse(bt.a, mail_header_find(&bt.m->root->header, "To")->value, &al);
	ck_assert_msg(!al.invalid, "%s", bt.out.p);
	ck_assert_uint_eq(al.ngroups, 3);
	ck_assert(al.groups[0].is_group && core_str_eq_cstr(al.groups[0].name, "A Group"));
	ck_assert_uint_eq(al.groups[0].count, 2);
	ck_assert(core_str_eq_cstr(al.groups[0].addrs[0].name, "Ed Jones"));
	ck_assert(core_str_eq_cstr(al.groups[0].addrs[1].email, "joe@where.test"));
	ck_assert(al.groups[1].is_group);
	ck_assert(core_str_eq_cstr(al.groups[1].name, "\xC3\x89quipe vide"));
	ck_assert_uint_eq(al.groups[1].count, 0);
	ck_assert(!al.groups[2].is_group);
	ck_assert(core_str_eq_cstr(al.groups[2].addrs[0].email, "solo@example.net"));
	built_fini(&bt);
}
END_TEST

START_TEST(test_build_date_msgids)
{
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	struct mail_build_part *r = mail_build_root(b);
	struct core_str ids[12];
	for (size_t i = 0; i < 12; i++)
		ids[i] = mail_build_msgid_new(bt.a, i % 2 ? "example.org"
							  : "b\xC3\xBC"
							    "cher.example");
	ck_assert(!core_str_eq(ids[0], ids[2])); /* unique */
	ck_assert_ptr_nonnull(strstr(ids[0].p, "@xn--bcher-kva.example"));
	ck_assert_int_eq(mail_build_date(r, "Date", 1795670400, -300, NULL), 0);
	ck_assert_int_eq(mail_build_msgids(r, "Message-ID", ids, 1, NULL), 0);
	ck_assert_int_eq(mail_build_msgids(r, "References", ids, 12, NULL), 0);
	ck_assert_int_eq(
		mail_build_body(r, "text/plain", NULL, 0, "", 0, MAIL_BUILD_CTE_AUTO, NULL), 0);
	finish(&bt, b, false, 78);
	time_t t;
	int off;
	ck_assert_int_eq(mail_date_parse(mail_header_find(&bt.m->root->header, "Date")->value, &t,
					 &off, NULL),
			 0);
	ck_assert_int_eq(t, 1795670400);
	ck_assert_int_eq(off, -300);
	struct mail_msgid_list l;
	mail_msgid_list_parse(bt.a, mail_header_find(&bt.m->root->header, "References")->value, &l);
	ck_assert(!l.invalid);
	ck_assert_uint_eq(l.count, 12);
	for (size_t i = 0; i < 12; i++)
		ck_assert(core_str_eq(l.ids[i], ids[i]));
	built_fini(&bt);
}
END_TEST

/* ------------------------------------------------------------------------------------- */

/* The leaf at pre-order index i decodes to want. */
static void check_leaf(const struct built *bt, size_t i, const char *type, const void *want,
		       size_t wlen)
{
	ck_assert_uint_gt(bt->m->nparts, i);
	const struct mail_part *p = bt->m->parts[i];
	char *t = core_arena_printf(bt->a, "%.*s/%.*s", CORE_STR_FMT(p->ct.type),
				    CORE_STR_FMT(p->ct.subtype));
	ck_assert_msg(strcmp(t, type) == 0, "part %zu is %s", i, t);
	struct core_buf d = CORE_BUF_INIT;
	mail_part_decode_body(bt->m, p, &d);
	ck_assert_msg(d.len == wlen && (wlen == 0 || memcmp(d.p, want, wlen) == 0),
		      "part %zu content differs (%zu vs %zu)", i, d.len, wlen);
	core_buf_fini(&d);
}

START_TEST(test_build_cte_auto)
{
	static const struct {
		const char *type;
		const char *data;
		size_t len;
		const char *cte; /* expected, "7bit" when no field */
	} cases[] = {
		{"text/plain", "plain ascii\r\nlines\r\n", 20, "7bit"},
		{"text/plain", "mostly ascii with one \xC3\xA9 in it\r\n", 33, "quoted-printable"},
		{"text/plain",
		 "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2"
		 "\xD0\xB5\xD1\x82",
		 24, "base64"},
		{"application/octet-stream", "\x00\x01\x02\xFF binary", 11, "base64"},
		{"application/json", "{\"a\": 1}", 8, "7bit"},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct built bt = {.a = core_arena_new(0)};
		struct mail_build *b = mail_build_new(bt.a, 0);
		ck_assert_int_eq(mail_build_body(mail_build_root(b), cases[i].type, NULL, 0,
						 cases[i].data, cases[i].len, MAIL_BUILD_CTE_AUTO,
						 NULL),
				 0);
		finish(&bt, b, false, 78);
		const char *got = bt.m->root->cte_raw.len > 0 ? bt.m->root->cte_raw.p : "7bit";
		ck_assert_msg(strcmp(got, cases[i].cte) == 0, "case %zu: %s", i, got);
		check_leaf(&bt, 0, cases[i].type, cases[i].data, cases[i].len);
		if (cases[i].cte[0] != '7')
			ck_assert_uint_le(max_line(bt.out.p, bt.out.len), 76);
		built_fini(&bt);
	}
}
END_TEST

START_TEST(test_build_cte_explicit)
{
	unsigned char bin[3000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 3));
	static const enum mail_build_cte ctes[] = {MAIL_BUILD_CTE_QP, MAIL_BUILD_CTE_BASE64,
						   MAIL_BUILD_CTE_BINARY};
	for (size_t i = 0; i < CORE_NELEM(ctes); i++) {
		struct built bt = {.a = core_arena_new(0)};
		struct mail_build *b = mail_build_new(bt.a, 0);
		ck_assert_int_eq(mail_build_body(mail_build_root(b), "application/x-test", NULL, 0,
						 bin, sizeof(bin), ctes[i], NULL),
				 0);
		struct core_error err;
		core_buf_init(&bt.out);
		ck_assert_int_eq(mail_build_render(b, &bt.out, &err), 0);
		ck_assert_int_eq(mail_message_parse(bt.a, bt.out.p, bt.out.len, NULL, &bt.m, NULL),
				 0);
		check_leaf(&bt, 0, "application/x-test", bin, sizeof(bin));
		/* IMAP BINARY[1] of the message gives the octets back (RFC 3516) */
		const struct mail_part *bp;
		ck_assert_int_eq(mail_imap_binary_part(bt.m, "1", 1, &bp, NULL), 0);
		struct core_buf bd = CORE_BUF_INIT;
		ck_assert_int_eq(mail_imap_binary(bt.m, bp, &bd, NULL), 0);
		ck_assert_uint_eq(bd.len, sizeof(bin));
		ck_assert_mem_eq(bd.p, bin, sizeof(bin));
		ck_assert(mail_imap_binary_has_nul(bd.p, bd.len));
		core_buf_fini(&bd);
		if (ctes[i] != MAIL_BUILD_CTE_BINARY)
			ck_assert_uint_le(max_line(bt.out.p, bt.out.len), 76);
		built_fini(&bt);
	}
	/* content an encoding cannot carry */
	struct core_arena *a = core_arena_new(0);
	struct mail_build *b = mail_build_new(a, 0);
	struct core_error err;
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "\xC3\xA9", 2,
					 MAIL_BUILD_CTE_7BIT, &err),
			 CORE_ESYNTAX);
	b = mail_build_new(a, 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "a\0b", 3,
					 MAIL_BUILD_CTE_8BIT, &err),
			 CORE_ESYNTAX);
	char *longline = repeat("z", 1000);
	b = mail_build_new(a, 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, longline, 1000,
					 MAIL_BUILD_CTE_7BIT, &err),
			 CORE_ESYNTAX);
	/* auto picks an encoding for the long line instead */
	b = mail_build_new(a, 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, longline, 1000,
					 MAIL_BUILD_CTE_AUTO, &err),
			 0);
	struct core_buf out = CORE_BUF_INIT;
	ck_assert_int_eq(mail_build_render(b, &out, &err), 0);
	ck_assert_uint_le(max_line(out.p, out.len), 76);
	core_buf_fini(&out);
	free(longline);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_build_text_canonical)
{
	/* RFC 2046 §4.1.1: bare LF and CR become CRLF in text */
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	ck_assert_int_eq(mail_build_body(mail_build_root(b), "text/plain", NULL, 0, "a\nb\rc\r\n",
					 7, MAIL_BUILD_CTE_AUTO, NULL),
			 0);
	finish(&bt, b, false, 78);
	check_leaf(&bt, 0, "text/plain", "a\r\nb\r\nc\r\n", 9);
	built_fini(&bt);
}
END_TEST

static const char *const filenames[] = {
	"report.pdf",
	"with space.txt",
	"r\xC3\xA9sum\xC3\xA9.pdf",
	"a-very-long-file-name-that-needs-rfc-2231-continuations-because-it-is-longer-than-a-line"
	"-and-then-some-more.tar.gz",
	"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE9\x95\xB7\xE3\x81\x84\xE3\x83\x95\xE3"
	"\x82\xA1\xE3\x82\xA4\xE3\x83\xAB\xE5\x90\x8D\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\xE6\x97"
	"\xA5\xE6\x9C\xAC\xE8\xAA\x9E.docx",
	"quote\"and\\back.txt",
	"\xF0\x9F\x98\x80.png",
	/* looks like an RFC 2047 word, which lenient readers decode in parameters */
	"x=?utf-8?q?=C3=A9?=.txt",
};

START_TEST(test_build_multipart_mixed)
{
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	mail_build_seed(b, 42);
	struct mail_build_part *r = mail_build_root(b);
	struct core_error err;
	ck_assert_int_eq(mail_build_text(r, "Subject", "Bericht f\xC3\xBCr Sie", &err), 0);
	ck_assert_int_eq(mail_build_multipart(r, "mixed", NULL, 0, &err), 0);
	/* 1: alternative (1.1 text, 1.2 html) */
	struct mail_build_part *alt = mail_build_child(r);
	ck_assert_int_eq(mail_build_multipart(alt, "alternative", NULL, 0, &err), 0);
	const char *txt = "Gr\xC3\xBC\xC3\x9F"
			  "e,\r\nanbei der Bericht.\r\n";
	const char *html = "<p>Gr&uuml;&szlig;e</p>\r\n";
	ck_assert_int_eq(mail_build_body(mail_build_child(alt), "text/plain", NULL, 0, txt,
					 strlen(txt), MAIL_BUILD_CTE_AUTO, &err),
			 0);
	ck_assert_int_eq(mail_build_body(mail_build_child(alt), "text/html", NULL, 0, html,
					 strlen(html), MAIL_BUILD_CTE_AUTO, &err),
			 0);
	/* then one attachment per file name */
	unsigned char blob[257];
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)i;
	for (size_t i = 0; i < CORE_NELEM(filenames); i++) {
		struct mail_build_part *c = mail_build_child(r);
		struct mail_build_param np = {"name", filenames[i]};
		ck_assert_int_eq(mail_build_body(c, "application/octet-stream", &np, 1, blob,
						 sizeof(blob) - i, MAIL_BUILD_CTE_AUTO, &err),
				 0);
		ck_assert_int_eq(mail_build_disposition(c, "attachment", filenames[i], &err), 0);
		ck_assert_int_eq(mail_build_text(c, "Content-Description", filenames[i], &err), 0);
	}
	finish(&bt, b, false, 78);
	const struct mail_message *m = bt.m;
	ck_assert_uint_eq(m->nparts, 4 + CORE_NELEM(filenames));
	ck_assert(core_str_eq_cstr(m->root->ct.subtype, "mixed"));
	ck_assert_uint_eq(m->root->nchildren, 1 + CORE_NELEM(filenames));
	ck_assert(!(m->root->flags & MAIL_PART_F_NO_CLOSE));
	ck_assert(core_str_eq_cstr(m->parts[1]->ct.subtype, "alternative"));
	check_leaf(&bt, 2, "text/plain", txt, strlen(txt));
	check_leaf(&bt, 3, "text/html", html, strlen(html));
	struct core_buf t = CORE_BUF_INIT;
	mail_part_decode_text(m, m->parts[2], &t, NULL);
	ck_assert_str_eq(core_buf_cstr(&t), txt);
	core_buf_fini(&t);
	for (size_t i = 0; i < CORE_NELEM(filenames); i++) {
		const struct mail_part *p = m->parts[4 + i];
		check_leaf(&bt, 4 + i, "application/octet-stream", blob, sizeof(blob) - i);
		ck_assert(p->has_disposition &&
			  core_str_eq_cstr(p->disposition.type, "attachment"));
		const struct mail_param *fn = mail_mime_param_find(&p->disposition, "filename");
		ck_assert_ptr_nonnull(fn);
		ck_assert_msg(core_str_eq_cstr(fn->value, filenames[i]), "filename %zu: '%.*s'", i,
			      CORE_STR_FMT(fn->value));
		ck_assert(!(fn->flags & (MAIL_PARAM_F_GAP | MAIL_PARAM_F_CHARSET_BAD)));
		const struct mail_param *nm = mail_mime_param_find(&p->ct, "name");
		ck_assert(nm != NULL && core_str_eq_cstr(nm->value, filenames[i]));
		ck_assert(core_str_eq_cstr(p->description, filenames[i]));
	}
	built_fini(&bt);
}
END_TEST

/* Build a small message, for embedding. */
static char *inner_message(struct core_arena *a, const char *subject, size_t *len_out)
{
	struct mail_build *b = mail_build_new(a, 0);
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr from = {.name = CORE_STR("Original Sender"),
				 .email = CORE_STR("sender@example.org")};
	ck_assert_int_eq(mail_build_addrs(r, "From", &from, 1, NULL), 0);
	ck_assert_int_eq(mail_build_text(r, "Subject", subject, NULL), 0);
	ck_assert_int_eq(mail_build_body(r, "text/plain", NULL, 0, "original body\r\n", 15,
					 MAIL_BUILD_CTE_AUTO, NULL),
			 0);
	struct core_buf out = CORE_BUF_INIT;
	ck_assert_int_eq(mail_build_render(b, &out, NULL), 0);
	char *s = core_arena_memdup(a, out.p, out.len + 1);
	*len_out = out.len;
	core_buf_fini(&out);
	return s;
}

START_TEST(test_build_dsn_report)
{
	/* RFC 3464 / RFC 6522: multipart/report; report-type=delivery-status with the human
	 * part, the machine part and the original headers, then a nested message/rfc822 */
	struct built bt = {.a = core_arena_new(0)};
	size_t ilen;
	char *inner = inner_message(bt.a, "Caf\xC3\xA9 meeting", &ilen);
	struct mail_build *b = mail_build_new(bt.a, 0);
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr pm = {.name = CORE_STR("Mail Delivery System"),
			       .email = CORE_STR("MAILER-DAEMON@mx.example.com")};
	struct core_error err;
	ck_assert_int_eq(mail_build_addrs(r, "From", &pm, 1, &err), 0);
	ck_assert_int_eq(
		mail_build_text(r, "Subject", "Delivery Status Notification (Failure)", &err), 0);
	struct mail_build_param rt = {"report-type", "delivery-status"};
	ck_assert_int_eq(mail_build_multipart(r, "report", &rt, 1, &err), 0);
	const char *human = "Your message could not be delivered.\r\n";
	ck_assert_int_eq(mail_build_body(mail_build_child(r), "text/plain", NULL, 0, human,
					 strlen(human), MAIL_BUILD_CTE_AUTO, &err),
			 0);
	const char *ds = "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; "
			 "x@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n";
	ck_assert_int_eq(mail_build_body(mail_build_child(r), "message/delivery-status", NULL, 0,
					 ds, strlen(ds), MAIL_BUILD_CTE_7BIT, &err),
			 0);
	ck_assert_int_eq(mail_build_rfc822_headers(mail_build_child(r), inner, ilen, &err), 0);
	ck_assert_int_eq(mail_build_message(mail_build_child(r), inner, ilen, &err), 0);
	finish(&bt, b, false, 78);
	const struct mail_message *m = bt.m;
	ck_assert(core_str_eq_cstr(m->root->ct.subtype, "report"));
	const struct mail_param *p = mail_mime_param_find(&m->root->ct, "report-type");
	ck_assert(p != NULL && core_str_eq_cstr(p->value, "delivery-status"));
	ck_assert_uint_eq(m->root->nchildren, 4);
	check_leaf(&bt, 1, "text/plain", human, strlen(human));
	check_leaf(&bt, 2, "message/delivery-status", ds, strlen(ds));
	/* the header block of the original, up to and including its empty line */
	const char *blank = strstr(inner, "\r\n\r\n");
	check_leaf(&bt, 3, "text/rfc822-headers", inner, (size_t)(blank + 4 - inner));
	const struct mail_part *msg = m->parts[4];
	ck_assert(mail_part_is_message(msg));
	ck_assert_uint_eq(msg->nchildren, 1);
	ck_assert_uint_eq(msg->body_len, ilen);
	ck_assert_mem_eq(m->data + msg->body_off, inner, ilen);
	const struct mail_field *s = mail_header_find(&msg->children[0]->header, "Subject");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(mail_hdr_text(bt.a, s->value).p, "Caf\xC3\xA9 meeting");
	built_fini(&bt);
}
END_TEST

START_TEST(test_build_nested_deep)
{
	/* multiparts nested 12 deep, each with a text leaf, built and parsed back */
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, 0);
	struct mail_build_part *cur = mail_build_root(b);
	for (int d = 0; d < 12; d++) {
		ck_assert_int_eq(
			mail_build_multipart(cur, d % 2 ? "alternative" : "mixed", NULL, 0, NULL),
			0);
		char *t = core_arena_printf(bt.a, "level %d \xC3\xA9\r\n", d);
		ck_assert_int_eq(mail_build_body(mail_build_child(cur), "text/plain", NULL, 0, t,
						 strlen(t), MAIL_BUILD_CTE_AUTO, NULL),
				 0);
		cur = mail_build_child(cur);
	}
	ck_assert_int_eq(
		mail_build_body(cur, "text/plain", NULL, 0, "bottom", 6, MAIL_BUILD_CTE_AUTO, NULL),
		0);
	finish(&bt, b, false, 78);
	ck_assert_uint_eq(bt.m->nparts, 12 * 2 + 1);
	for (size_t i = 0; i < bt.m->nparts; i++)
		ck_assert(!(bt.m->parts[i]->flags &
			    (MAIL_PART_F_NO_CLOSE | MAIL_PART_F_BOUNDARY_MISSING)));
	for (int d = 0; d < 12; d++) {
		char *t = core_arena_printf(bt.a, "level %d \xC3\xA9\r\n", d);
		check_leaf(&bt, (size_t)(2 * d + 1), "text/plain", t, strlen(t));
	}
	check_leaf(&bt, 24, "text/plain", "bottom", 6);
	built_fini(&bt);
}
END_TEST

START_TEST(test_build_boundary_clash)
{
	/* The first boundary a seed gives is written into the content: the builder must pick
	 * another one, and the parse must still see two parts. */
	struct core_arena *a = core_arena_new(0);
	struct mail_build *b = mail_build_new(a, 0);
	mail_build_seed(b, 7);
	ck_assert_int_eq(mail_build_multipart(mail_build_root(b), "mixed", NULL, 0, NULL), 0);
	ck_assert_int_eq(mail_build_body(mail_build_child(mail_build_root(b)), "text/plain", NULL,
					 0, "x", 1, MAIL_BUILD_CTE_7BIT, NULL),
			 0);
	struct core_buf out = CORE_BUF_INIT;
	ck_assert_int_eq(mail_build_render(b, &out, NULL), 0);
	const char *bp = strstr(out.p, "boundary=\"");
	ck_assert_ptr_nonnull(bp);
	bp += 10;
	char first[64];
	size_t bl = (size_t)(strchr(bp, '"') - bp);
	ck_assert_uint_lt(bl, sizeof(first));
	memcpy(first, bp, bl);
	first[bl] = '\0';
	char *body =
		core_arena_printf(a, "line\r\n--%s\r\nfake: part\r\n\r\n--%s--\r\n", first, first);
	struct built bt = {.a = core_arena_new(0)};
	b = mail_build_new(bt.a, 0);
	mail_build_seed(b, 7);
	ck_assert_int_eq(mail_build_multipart(mail_build_root(b), "mixed", NULL, 0, NULL), 0);
	ck_assert_int_eq(mail_build_body(mail_build_child(mail_build_root(b)), "text/plain", NULL,
					 0, body, strlen(body), MAIL_BUILD_CTE_7BIT, NULL),
			 0);
	ck_assert_int_eq(mail_build_body(mail_build_child(mail_build_root(b)), "text/plain", NULL,
					 0, "y", 1, MAIL_BUILD_CTE_7BIT, NULL),
			 0);
	finish(&bt, b, false, 78);
	ck_assert(!core_str_eq_cstr(bt.m->root->boundary, first));
	ck_assert_uint_eq(bt.m->nparts, 3);
	check_leaf(&bt, 1, "text/plain", body, strlen(body));
	check_leaf(&bt, 2, "text/plain", "y", 1);
	built_fini(&bt);
	core_buf_fini(&out);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_build_utf8_mode)
{
	/* RFC 6532: raw UTF-8 in the header, a UTF-8 local part and domain */
	struct built bt = {.a = core_arena_new(0)};
	struct mail_build *b = mail_build_new(bt.a, MAIL_BUILD_UTF8);
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr to = {.name = CORE_STR("\xE5\xB1\xB1\xE7\x94\xB0"),
			       .email = CORE_STR("\xE5\xB1\xB1\xE7\x94\xB0@\xE4\xBE\x8B.jp")};
	ck_assert_int_eq(mail_build_addrs(r, "To", &to, 1, NULL), 0);
	ck_assert_int_eq(mail_build_text(r, "Subject", "caf\xC3\xA9", NULL), 0);
	ck_assert_int_eq(mail_build_raw(r, "X-Note", "d\xC3\xA9j\xC3\xA0 vu", NULL), 0);
	ck_assert_int_eq(
		mail_build_body(r, "text/plain", NULL, 0, "", 0, MAIL_BUILD_CTE_AUTO, NULL), 0);
	finish(&bt, b, true, 78);
	ck_assert_ptr_nonnull(strstr(bt.out.p, "Subject: caf\xC3\xA9\r\n"));
	ck_assert_ptr_null(strstr(bt.out.p, "=?"));
	struct mail_addr_list al;
	mail_addr_list_parse(bt.a, mail_header_find(&bt.m->root->header, "To")->value, &al);
	ck_assert(core_str_eq(al.groups[0].addrs[0].email, to.email));
	ck_assert(core_str_eq(al.groups[0].addrs[0].name, to.name));
	built_fini(&bt);
	/* the same local part without RFC 6532 cannot be written */
	struct core_arena *a = core_arena_new(0);
	b = mail_build_new(a, 0);
	struct core_error err;
	ck_assert_int_eq(mail_build_addrs(mail_build_root(b), "To", &to, 1, &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_raw(mail_build_root(b), "X-Note", "d\xC3\xA9j\xC3\xA0", &err),
			 CORE_ESYNTAX);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_build_errors)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_build *b = mail_build_new(a, 0);
	struct mail_build_part *r = mail_build_root(b);
	struct core_error err;
	ck_assert_int_eq(mail_build_text(r, "Bad Name", "x", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_text(r, "Bad:Name", "x", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_text(r, "Content-Type", "x", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_text(r, "Subject", "line\r\nInjected: yes", &err),
			 CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_text(r, "Subject", "bad \xC3", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_text(r, "Subject", "c1 \xC2\x85", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_addrs(r, "To", NULL, 0, &err), CORE_ESYNTAX);
	struct mail_addr bad = {.email = CORE_STR("no-at-sign")};
	ck_assert_int_eq(mail_build_addrs(r, "To", &bad, 1, &err), CORE_ESYNTAX);
	bad.email = CORE_STR("a@bad domain");
	ck_assert_int_eq(mail_build_addrs(r, "To", &bad, 1, &err), CORE_ESYNTAX);
	bad.email = CORE_STR("a@xn--.example\xC3\xA9");
	ck_assert_int_eq(mail_build_addrs(r, "To", &bad, 1, &err), CORE_ESYNTAX);
	struct core_str id = CORE_STR("no at");
	ck_assert_int_eq(mail_build_msgids(r, "Message-ID", &id, 1, &err), CORE_ESYNTAX);
	id = CORE_STR("a<b@c");
	ck_assert_int_eq(mail_build_msgids(r, "Message-ID", &id, 1, &err), CORE_ESYNTAX);
	char *huge = repeat("w", 1000);
	ck_assert_int_eq(mail_build_raw(r, "X-Huge", huge, &err), CORE_ELIMIT);
	free(huge);
	ck_assert_int_eq(mail_build_multipart(r, "report", NULL, 0, &err), CORE_ESYNTAX);
	struct mail_build_param bp = {"boundary", "x"};
	ck_assert_int_eq(mail_build_multipart(r, "mixed", &bp, 1, &err), CORE_ESYNTAX);
	ck_assert_ptr_null(mail_build_child(r));
	struct core_buf out = CORE_BUF_INIT;
	/* no content yet */
	ck_assert_int_eq(mail_build_render(b, &out, &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_multipart(r, "mixed", NULL, 0, &err), 0);
	ck_assert_int_eq(mail_build_body(r, "text/plain", NULL, 0, "", 0, 0, &err), CORE_ECONFLICT);
	/* a multipart without parts */
	ck_assert_int_eq(mail_build_render(b, &out, &err), CORE_ESYNTAX);
	ck_assert_uint_eq(out.len, 0);
	struct mail_build_part *c = mail_build_child(r);
	ck_assert_int_eq(mail_build_body(c, "nonsense", NULL, 0, "", 0, 0, &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_body(c, "multipart/mixed", NULL, 0, "", 0, 0, &err),
			 CORE_ESYNTAX);
	struct mail_build_param pp = {"bad name", "v"};
	ck_assert_int_eq(mail_build_body(c, "text/plain", &pp, 1, "", 0, 0, &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_disposition(c, "attachment", "", &err), CORE_ESYNTAX);
	ck_assert_int_eq(mail_build_disposition(c, "bad disp", NULL, &err), CORE_ESYNTAX);
	core_buf_fini(&out);
	core_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------------------------------- */
/* Golden messages: what the builder writes for the reports Staunch sends, byte for byte
 * (conformance/mail/build/<name>.eml; `mail_test_mail_build --print NAME` prints one). */

#define BUILD_DIR STAUNCH_SOURCE_DIR "/conformance/mail/build"

static const char ORIGINAL[] = "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\n"
			       "To: nobody@example.net\r\n"
			       "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
			       "Date: Fri, 27 Nov 2026 07:00:00 +0100\r\n"
			       "Message-ID: <orig-1@example.org>\r\n"
			       "\r\n"
			       "Hallo!\r\n";

static const time_t GOLDEN_TIME = 1795766400; /* 2026-11-27T08:00:00Z */

static int golden_dsn(struct mail_build *b, struct core_error *err)
{
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr from = {.name = CORE_STR("Mail Delivery System"),
				 .email = CORE_STR("MAILER-DAEMON@mx.example.com")};
	struct mail_addr to = {.email = CORE_STR("joerg@example.org")};
	struct core_str id = CORE_STR("dsn-1.1795766400@mx.example.com");
	struct mail_build_param rt = {"report-type", "delivery-status"};
	const char *human = "This is the mail system at host mx.example.com.\n\n"
			    "Your message could not be delivered to one or more recipients.\n\n"
			    "<nobody@example.net>: 550 5.1.1 user unknown\n";
	const char *ds = "Reporting-MTA: dns; mx.example.com\r\n"
			 "Arrival-Date: Fri, 27 Nov 2026 07:00:01 +0100\r\n"
			 "\r\n"
			 "Final-Recipient: rfc822; nobody@example.net\r\n"
			 "Action: failed\r\n"
			 "Status: 5.1.1\r\n"
			 "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n";
	int rc;
	if ((rc = mail_build_addrs(r, "From", &from, 1, err)) < 0 ||
	    (rc = mail_build_addrs(r, "To", &to, 1, err)) < 0 ||
	    (rc = mail_build_text(r, "Subject", "Undelivered Mail Returned to Sender", err)) < 0 ||
	    (rc = mail_build_date(r, "Date", GOLDEN_TIME, 0, err)) < 0 ||
	    (rc = mail_build_msgids(r, "Message-ID", &id, 1, err)) < 0 ||
	    (rc = mail_build_raw(r, "Auto-Submitted", "auto-replied", err)) < 0 ||
	    (rc = mail_build_multipart(r, "report", &rt, 1, err)) < 0)
		return rc;
	struct mail_build_part *c = mail_build_child(r);
	if ((rc = mail_build_text(c, "Content-Description", "Notification", err)) < 0 ||
	    (rc = mail_build_body(c, "text/plain", NULL, 0, human, strlen(human),
				  MAIL_BUILD_CTE_AUTO, err)) < 0)
		return rc;
	c = mail_build_child(r);
	if ((rc = mail_build_text(c, "Content-Description", "Delivery report", err)) < 0 ||
	    (rc = mail_build_body(c, "message/delivery-status", NULL, 0, ds, strlen(ds),
				  MAIL_BUILD_CTE_7BIT, err)) < 0)
		return rc;
	c = mail_build_child(r);
	if ((rc = mail_build_text(c, "Content-Description", "Undelivered Message Headers", err)) <
	    0)
		return rc;
	return mail_build_rfc822_headers(c, ORIGINAL, sizeof(ORIGINAL) - 1, err);
}

static int golden_vacation(struct mail_build *b, struct core_error *err)
{
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr from = {.name = CORE_STR("Nobody Sch\xC3\xA4"
						  "fer"),
				 .email = CORE_STR("nobody@example.net")};
	struct mail_addr to = {.name = CORE_STR("J\xC3\xB6rg"),
			       .email = CORE_STR("joerg@example.org")};
	struct core_str id = CORE_STR("vac-1.1795766400@example.net");
	struct core_str re = CORE_STR("orig-1@example.org");
	const char *body = "Ich bin bis zum 3. Januar nicht im B\xC3\xBCro und lese meine "
			   "E-Mails nicht.\nIn dringenden F\xC3\xA4llen schreiben Sie bitte an "
			   "vertretung@example.net.\n";
	int rc;
	if ((rc = mail_build_addrs(r, "From", &from, 1, err)) < 0 ||
	    (rc = mail_build_addrs(r, "To", &to, 1, err)) < 0 ||
	    (rc = mail_build_text(r, "Subject",
				  "Automatische Antwort: Gr\xC3\xBC\xC3\x9F"
				  "e",
				  err)) < 0 ||
	    (rc = mail_build_date(r, "Date", GOLDEN_TIME, 60, err)) < 0 ||
	    (rc = mail_build_msgids(r, "Message-ID", &id, 1, err)) < 0 ||
	    (rc = mail_build_msgids(r, "In-Reply-To", &re, 1, err)) < 0 ||
	    (rc = mail_build_msgids(r, "References", &re, 1, err)) < 0 ||
	    (rc = mail_build_raw(r, "Auto-Submitted", "auto-replied (vacation)", err)) < 0)
		return rc;
	return mail_build_body(r, "text/plain", NULL, 0, body, strlen(body), MAIL_BUILD_CTE_AUTO,
			       err);
}

static int golden_mdn(struct mail_build *b, struct core_error *err)
{
	struct mail_build_part *r = mail_build_root(b);
	struct mail_addr from = {.email = CORE_STR("nobody@example.net")};
	struct mail_addr to = {.name = CORE_STR("J\xC3\xB6rg"),
			       .email = CORE_STR("joerg@example.org")};
	struct core_str id = CORE_STR("mdn-1.1795766400@example.net");
	struct mail_build_param rt = {"report-type", "disposition-notification"};
	const char *human = "The message sent on Fri, 27 Nov 2026 07:00:00 +0100 to "
			    "nobody@example.net with subject \"Gr\xC3\xBC\xC3\x9F"
			    "e\" has been "
			    "displayed.\r\n";
	const char *mdn = "Reporting-UA: mail.example.net; Staunch\r\n"
			  "Final-Recipient: rfc822; nobody@example.net\r\n"
			  "Original-Message-ID: <orig-1@example.org>\r\n"
			  "Disposition: manual-action/MDN-sent-manually; displayed\r\n";
	int rc;
	if ((rc = mail_build_addrs(r, "From", &from, 1, err)) < 0 ||
	    (rc = mail_build_addrs(r, "To", &to, 1, err)) < 0 ||
	    (rc = mail_build_text(r, "Subject",
				  "Displayed: Gr\xC3\xBC\xC3\x9F"
				  "e",
				  err)) < 0 ||
	    (rc = mail_build_date(r, "Date", GOLDEN_TIME, 0, err)) < 0 ||
	    (rc = mail_build_msgids(r, "Message-ID", &id, 1, err)) < 0 ||
	    (rc = mail_build_multipart(r, "report", &rt, 1, err)) < 0 ||
	    (rc = mail_build_body(mail_build_child(r), "text/plain", NULL, 0, human, strlen(human),
				  MAIL_BUILD_CTE_AUTO, err)) < 0 ||
	    (rc = mail_build_body(mail_build_child(r), "message/disposition-notification", NULL, 0,
				  mdn, strlen(mdn), MAIL_BUILD_CTE_7BIT, err)) < 0)
		return rc;
	struct mail_build_part *c = mail_build_child(r);
	if ((rc = mail_build_message(c, ORIGINAL, sizeof(ORIGINAL) - 1, err)) < 0)
		return rc;
	return mail_build_disposition(c, "inline", NULL, err);
}

static const struct {
	const char *name;
	int (*fn)(struct mail_build *, struct core_error *);
} goldens[] = {
	{"dsn-failure", golden_dsn},
	{"vacation-reply", golden_vacation},
	{"mdn-displayed", golden_mdn},
};

/* Build golden i into out (seed fixed). */
static int golden_render(int i, struct core_buf *out, struct core_error *err)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_build *b = mail_build_new(a, 0);
	mail_build_seed(b, 2026);
	int rc = goldens[i].fn(b, err);
	if (rc == 0)
		rc = mail_build_render(b, out, err);
	core_arena_free(&a);
	return rc;
}

START_TEST(test_build_golden)
{
	struct core_buf got = CORE_BUF_INIT;
	struct core_error err;
	ck_assert_msg(golden_render(_i, &got, &err) == 0, "%s: %s", goldens[_i].name, err.msg);
	char *path = core_xasprintf("%s/%s.eml", BUILD_DIR, goldens[_i].name);
	size_t wlen;
	char *want = mail_test_read_file(path, &wlen);
	ck_assert_msg(want != NULL, "%s missing", path);
	ck_assert_msg(wlen == got.len && memcmp(want, got.p, wlen) == 0, "%s differs; got:\n%s",
		      goldens[_i].name, core_buf_cstr(&got));
	/* and it parses back with a clean tree */
	struct built bt = {.a = core_arena_new(0)};
	ck_assert_int_eq(mail_message_parse(bt.a, got.p, got.len, NULL, &bt.m, NULL), 0);
	ck_assert_int_eq(mail_message_verify(bt.m, NULL), 0);
	ck_assert_uint_eq(bt.m->nproblems, 0);
	ck_assert_uint_le(max_line(got.p, got.len), 76);
	for (size_t i = 0; i < bt.m->nparts; i++)
		ck_assert_uint_eq(bt.m->parts[i]->flags & ~(unsigned)MAIL_PART_F_CT_DEFAULT, 0);
	core_arena_free(&bt.a);
	free(want);
	free(path);
	core_buf_fini(&got);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mail_build");
	TCase *tc = tcase_create("build");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_build_text_table, 0, (int)CORE_NELEM(text_cases));
	tcase_add_loop_test(tc, test_build_addrs_table, 0, (int)CORE_NELEM(addr_cases));
	tcase_add_test(tc, test_build_ew_choice_split);
	tcase_add_test(tc, test_build_many_addrs_fold);
	tcase_add_test(tc, test_build_groups);
	tcase_add_test(tc, test_build_date_msgids);
	tcase_add_test(tc, test_build_cte_auto);
	tcase_add_test(tc, test_build_cte_explicit);
	tcase_add_test(tc, test_build_text_canonical);
	tcase_add_test(tc, test_build_multipart_mixed);
	tcase_add_test(tc, test_build_dsn_report);
	tcase_add_test(tc, test_build_nested_deep);
	tcase_add_test(tc, test_build_boundary_clash);
	tcase_add_test(tc, test_build_utf8_mode);
	tcase_add_test(tc, test_build_errors);
	tcase_add_loop_test(tc, test_build_golden, 0, (int)CORE_NELEM(goldens));
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* Authoring aid: print a golden message. */
	if (argc == 3 && strcmp(argv[1], "--print") == 0) {
		for (size_t i = 0; i < CORE_NELEM(goldens); i++) {
			if (strcmp(argv[2], goldens[i].name) != 0)
				continue;
			struct core_buf out = CORE_BUF_INIT;
			struct core_error err;
			int rc = golden_render((int)i, &out, &err);
			if (rc == 0)
				fwrite(out.p, 1, out.len, stdout);
			else
				fprintf(stderr, "%s\n", err.msg);
			core_buf_fini(&out);
			return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		}
		return EXIT_FAILURE;
	}
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
