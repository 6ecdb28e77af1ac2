/*
 * Unit tests of core_utf8: RFC 3629 validation and code point conversion, NFC (RFC 5198),
 * Unicode full case folding and the RFC 5051 i;unicode-casemap key.
 */
#include "core/core.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte string with an explicit length (cases may hold NUL). */
#define B(lit) lit, sizeof(lit) - 1

static const struct {
	const char *in;
	size_t len;
	bool valid;
	size_t bad_off;
} validate_cases[] = {
	{B(""), true, 0},
	{B("plain ASCII"), true, 0},
	{B("a\0b"), true, 0},
	{B("\xC3\xA9"), true, 0},                 /* U+00E9 */
	{B("\xC2\x80"), true, 0},                 /* U+0080, smallest 2-byte */
	{B("\xDF\xBF"), true, 0},                 /* U+07FF */
	{B("\xE0\xA0\x80"), true, 0},             /* U+0800, smallest 3-byte */
	{B("\xE2\x82\xAC"), true, 0},             /* U+20AC */
	{B("\xED\x9F\xBF"), true, 0},             /* U+D7FF, just below surrogates */
	{B("\xEE\x80\x80"), true, 0},             /* U+E000, just above surrogates */
	{B("\xEF\xBF\xBF"), true, 0},             /* U+FFFF */
	{B("\xF0\x90\x80\x80"), true, 0},         /* U+10000, smallest 4-byte */
	{B("\xF0\x9F\x98\x80"), true, 0},         /* U+1F600 */
	{B("\xF4\x8F\xBF\xBF"), true, 0},         /* U+10FFFF */
	{B("caf\xC3\xA9 \xE2\x82\xAC"), true, 0}, /* mixed */
	/* overlong forms */
	{B("\xC0\x80"), false, 0},
	{B("\xC0\xAF"), false, 0},
	{B("\xC1\xBF"), false, 0},
	{B("\xE0\x80\xAF"), false, 0},
	{B("\xE0\x9F\xBF"), false, 0},
	{B("\xF0\x80\x80\xAF"), false, 0},
	{B("\xF0\x8F\xBF\xBF"), false, 0},
	/* surrogates U+D800-U+DFFF */
	{B("\xED\xA0\x80"), false, 0},
	{B("\xED\xAD\xBF"), false, 0},
	{B("\xED\xBF\xBF"), false, 0},
	{B("ok\xED\xA0\x80\xED\xB0\x80"), false, 2}, /* CESU-8 pair */
	/* above U+10FFFF */
	{B("\xF4\x90\x80\x80"), false, 0},
	{B("\xF5\x80\x80\x80"), false, 0},
	{B("\xF7\xBF\xBF\xBF"), false, 0},
	/* 5- and 6-byte forms of the old RFC 2279 */
	{B("\xF8\x88\x80\x80\x80"), false, 0},
	{B("\xFC\x84\x80\x80\x80\x80"), false, 0},
	{B("\xFE"), false, 0},
	{B("\xFF"), false, 0},
	/* truncated sequences */
	{B("a\xC3"), false, 1},
	{B("ab\xE2\x82"), false, 2},
	{B("\xF0\x9F\x98"), false, 0},
	{B("abc\xC3\xA9\xC3"), false, 5},
	{B("\xE2\x82 "), false, 0},
	/* stray or wrong continuation bytes */
	{B("a\x80"
	   "b"),
	 false, 1},
	{B("\xBF"), false, 0},
	{B("\xC3\x28"), false, 0},
	{B("\xE2\x28\xA1"), false, 0},
	{B("\xF0\x9F\x98\xC0"), false, 0},
};

START_TEST(test_validate)
{
	for (size_t i = 0; i < CORE_NELEM(validate_cases); i++) {
		size_t off = 9999;
		int rc = core_utf8_validate(validate_cases[i].in, validate_cases[i].len, &off);
		ck_assert_msg((rc == 0) == validate_cases[i].valid, "case %zu rc %d", i, rc);
		ck_assert(core_utf8_is_valid(validate_cases[i].in, validate_cases[i].len) ==
			  validate_cases[i].valid);
		if (!validate_cases[i].valid) {
			ck_assert_int_eq(rc, CORE_ESYNTAX);
			ck_assert_msg(off == validate_cases[i].bad_off, "case %zu off %zu", i, off);
			ck_assert_int_eq(
				core_utf8_count(validate_cases[i].in, validate_cases[i].len),
				CORE_ESYNTAX);
		} else {
			ck_assert_uint_eq(off, 9999); /* untouched on success */
		}
	}
}
END_TEST

START_TEST(test_decode_encode)
{
	static const struct {
		uint32_t cp;
		const char *seq;
		int len;
	} cases[] = {
		{0x00, "\x00", 1},
		{0x41, "A", 1},
		{0x7F, "\x7F", 1},
		{0x80, "\xC2\x80", 2},
		{0xE9, "\xC3\xA9", 2},
		{0x7FF, "\xDF\xBF", 2},
		{0x800, "\xE0\xA0\x80", 3},
		{0x20AC, "\xE2\x82\xAC", 3},
		{0xFFFD, "\xEF\xBF\xBD", 3},
		{0xFFFF, "\xEF\xBF\xBF", 3},
		{0x10000, "\xF0\x90\x80\x80", 4},
		{0x1F600, "\xF0\x9F\x98\x80", 4},
		{0x10FFFF, "\xF4\x8F\xBF\xBF", 4},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		char out[CORE_UTF8_MAX_SEQ];
		ck_assert_int_eq(core_utf8_encode(cases[i].cp, out), cases[i].len);
		ck_assert(memcmp(out, cases[i].seq, (size_t)cases[i].len) == 0);
		uint32_t cp = 0xFFFFFFFF;
		ck_assert_int_eq(core_utf8_decode(cases[i].seq, (size_t)cases[i].len, &cp),
				 cases[i].len);
		ck_assert_uint_eq(cp, cases[i].cp);
		/* one byte short is truncated */
		if (cases[i].len > 1)
			ck_assert_int_eq(
				core_utf8_decode(cases[i].seq, (size_t)cases[i].len - 1, &cp),
				CORE_ESYNTAX);
	}
	/* RFC 3629 §3: no encoding for surrogates or above U+10FFFF */
	static const uint32_t bad_cps[] = {0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0x110000, 0xFFFFFFFF};
	for (size_t i = 0; i < CORE_NELEM(bad_cps); i++) {
		char out[CORE_UTF8_MAX_SEQ];
		ck_assert_int_eq(core_utf8_encode(bad_cps[i], out), CORE_ESYNTAX);
	}
	uint32_t cp = 7;
	ck_assert_int_eq(core_utf8_decode("", 0, &cp), CORE_ESYNTAX);
	ck_assert_int_eq(core_utf8_decode("\xC0\x80", 2, &cp), CORE_ESYNTAX);
	ck_assert_int_eq(core_utf8_decode("\xED\xA0\x80", 3, &cp), CORE_ESYNTAX);
	ck_assert_uint_eq(cp, 7);
	/* decode stops after one code point */
	ck_assert_int_eq(core_utf8_decode("\xC3\xA9xyz", 5, &cp), 2);
	ck_assert_uint_eq(cp, 0xE9);
}
END_TEST

/* Every scalar value encodes, validates and decodes back to itself. */
START_TEST(test_all_code_points)
{
	for (uint32_t cp = 0; cp <= CORE_UTF8_MAX_CP; cp++) {
		char out[CORE_UTF8_MAX_SEQ];
		int n = core_utf8_encode(cp, out);
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			if (n != CORE_ESYNTAX)
				ck_abort_msg("surrogate %x encoded", cp);
			continue;
		}
		uint32_t back;
		if (n < 1 || core_utf8_decode(out, (size_t)n, &back) != n || back != cp ||
		    !core_utf8_is_valid(out, (size_t)n))
			ck_abort_msg("code point %x", cp);
	}
}
END_TEST

START_TEST(test_append_count_ascii)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(core_utf8_append(&b, 'a'), 1);
	ck_assert_int_eq(core_utf8_append(&b, 0xE9), 2);
	ck_assert_int_eq(core_utf8_append(&b, 0x20AC), 3);
	ck_assert_int_eq(core_utf8_append(&b, 0x1F600), 4);
	ck_assert_int_eq(core_utf8_append(&b, 0xD800), CORE_ESYNTAX);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(core_utf8_count(b.p, b.len), 4);
	ck_assert_int_eq(core_utf8_count("", 0), 0);
	core_buf_fini(&b);

	static const struct {
		const char *in;
		size_t len;
		bool print;
		bool ascii;
	} cases[] = {
		{B(""), true, true},
		{B("Hello, World ~!"), true, true},
		{B("a\tb"), false, true},
		{B("line\r\n"), false, true},
		{B("\x7F"), false, true},
		{B("nul\0"), false, true},
		{B("caf\xC3\xA9"), false, false},
		{B("\x80"), false, false},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		ck_assert_msg(core_utf8_is_ascii_print(cases[i].in, cases[i].len) == cases[i].print,
			      "case %zu", i);
		ck_assert(core_utf8_is_ascii(cases[i].in, cases[i].len) == cases[i].ascii);
	}
}
END_TEST

struct map_case {
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
};
#define M(a, b)            \
	{                  \
		B(a), B(b) \
	}

static void check_map(const struct map_case *c, size_t n,
		      int (*fn)(const void *, size_t, struct core_buf *, struct core_error *))
{
	for (size_t i = 0; i < n; i++) {
		struct core_buf b = CORE_BUF_INIT;
		core_buf_append_str(&b, ">"); /* results are appended */
		ck_assert_int_eq(fn(c[i].in, c[i].in_len, &b, NULL), 0);
		ck_assert_msg(b.len == c[i].out_len + 1 &&
				      memcmp(b.p + 1, c[i].out, c[i].out_len) == 0,
			      "case %zu: got '%s'", i, core_buf_cstr(&b));
		ck_assert_int_eq(b.p[0], '>');
		core_buf_fini(&b);
	}
}

START_TEST(test_nfc)
{
	static const struct map_case cases[] = {
		M("", ""),
		M("ascii", "ascii"),
		M("e\xCC\x81", "\xC3\xA9"),            /* e + COMBINING ACUTE -> U+00E9 */
		M("caf\x65\xCC\x81!", "caf\xC3\xA9!"), /* inside a word */
		M("A\xCC\x8A", "\xC3\x85"),            /* A + RING ABOVE -> U+00C5 */
		M("\xE2\x84\xAB", "\xC3\x85"),         /* ANGSTROM SIGN (singleton) -> U+00C5 */
		M("\xE1\x84\x80\xE1\x85\xA1", "\xEA\xB0\x80"), /* Hangul jamo -> U+AC00 */
		/* canonical ordering: dot below (ccc 220) before acute (ccc 230) */
		M("a\xCC\x81\xCC\xA3", "\xE1\xBA\xA1\xCC\x81"),
		M("\xC3\xA9", "\xC3\xA9"),         /* already NFC */
		M("\xEF\xAC\x81", "\xEF\xAC\x81"), /* NFC keeps compatibility characters */
		M("a\0b", "a\0b"),
	};
	check_map(cases, CORE_NELEM(cases), core_utf8_nfc);
}
END_TEST

static int nfd(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return core_utf8_normalize(p, len, CORE_UTF8_NFD, out, err);
}

static int nfkc(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return core_utf8_normalize(p, len, CORE_UTF8_NFKC, out, err);
}

START_TEST(test_other_forms)
{
	static const struct map_case nfd_cases[] = {
		M("\xC3\xA9", "e\xCC\x81"),
		M("\xEA\xB0\x80", "\xE1\x84\x80\xE1\x85\xA1"),
	};
	check_map(nfd_cases, CORE_NELEM(nfd_cases), nfd);
	static const struct map_case nfkc_cases[] = {
		M("\xEF\xAC\x81", "fi"), /* LATIN SMALL LIGATURE FI */
		M("\xE2\x91\xA0", "1"),  /* CIRCLED DIGIT ONE */
		M("x\xC2\xB2", "x2"),    /* SUPERSCRIPT TWO */
		M("\xEF\xBC\xA1", "A"),  /* FULLWIDTH A */
	};
	check_map(nfkc_cases, CORE_NELEM(nfkc_cases), nfkc);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(core_utf8_normalize(B("e\xCC\x81"), CORE_UTF8_FORM_NONE, &b, NULL), 0);
	ck_assert_uint_eq(b.len, 3);
	core_buf_fini(&b);
}
END_TEST

static int fold_plain(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return core_utf8_casefold(p, len, CORE_UTF8_FORM_NONE, out, err);
}

static int fold_nfc(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return core_utf8_casefold(p, len, CORE_UTF8_NFC, out, err);
}

START_TEST(test_casefold)
{
	static const struct map_case cases[] = {
		M("", ""),
		M("HELLO World", "hello world"),
		M("\xC3\x9F", "ss"),     /* U+00DF SHARP S: full folding */
		M("\xE1\xBA\x9E", "ss"), /* U+1E9E CAPITAL SHARP S */
		M("Stra\xC3\x9F"
		  "e",
		  "strasse"),
		M("\xCE\xA3", "\xCF\x83"),  /* GREEK CAPITAL SIGMA -> sigma */
		M("\xCF\x82", "\xCF\x83"),  /* FINAL SIGMA -> sigma */
		M("\xEF\xAC\x81", "fi"),    /* LIGATURE FI */
		M("\xC3\x89", "\xC3\xA9"),  /* E WITH ACUTE */
		M("\xC4\xB0", "i\xCC\x87"), /* CAPITAL I WITH DOT ABOVE */
		M("\xD0\x96", "\xD0\xB6"),  /* CYRILLIC ZHE */
		M("\xC5\x89", "\xCA\xBCn"), /* 'N APOSTROPHE N */
		M("\xE2\x84\xAA", "k"),     /* KELVIN SIGN */
	};
	check_map(cases, CORE_NELEM(cases), fold_plain);
	/* With NFC, a decomposed capital folds to the precomposed small letter. */
	static const struct map_case nfc_cases[] = {
		M("E\xCC\x81", "\xC3\xA9"),
		M("\xC3\x89", "\xC3\xA9"),
		M("\xC3\x9F", "ss"),
	};
	check_map(nfc_cases, CORE_NELEM(nfc_cases), fold_nfc);
}
END_TEST

/* Strings that differ only by case and canonical form compare equal after folding. */
START_TEST(test_casefold_equivalence)
{
	static const struct {
		const char *a;
		const char *b;
		bool equal;
	} cases[] = {
		{"Stra\xC3\x9F"
		 "e",
		 "STRASSE", true},
		{"\xCE\x9F\xCE\xB4\xCF\x85\xCF\x83\xCF\x83\xCE\xB5\xCF\x8D\xCF\x82",
		 "\xCE\x9F\xCE\x94\xCE\xA5\xCE\xA3\xCE\xA3\xCE\x95\xCE\x8E\xCE\xA3", true},
		{"CAF\x45\xCC\x81", "caf\xC3\xA9", true},
		{"\xEF\xAC\x81le", "FILE", true},
		{"abc", "abd", false},
		{"\xC3\xA9", "e", false},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_buf fa = CORE_BUF_INIT, fb = CORE_BUF_INIT;
		ck_assert_int_eq(core_utf8_casefold(cases[i].a, strlen(cases[i].a), CORE_UTF8_NFC,
						    &fa, NULL),
				 0);
		ck_assert_int_eq(core_utf8_casefold(cases[i].b, strlen(cases[i].b), CORE_UTF8_NFC,
						    &fb, NULL),
				 0);
		bool eq = fa.len == fb.len && memcmp(fa.p, fb.p, fa.len) == 0;
		ck_assert_msg(eq == cases[i].equal, "case %zu", i);
		core_buf_fini(&fa);
		core_buf_fini(&fb);
	}
}
END_TEST

START_TEST(test_casemap_key)
{
	/* RFC 5051 §2: titlecase each character, then NFKD. */
	static const struct map_case cases[] = {
		M("hello", "HELLO"),         M("\xC3\xA9", "E\xCC\x81"), /* é -> É -> E + acute */
		M("\xC7\x86", "Dz\xCC\x8C"), /* dž -> titlecase Dž -> D z caron */
		M("\xEF\xAC\x81", "fi"),     /* ligature has no titlecase; NFKD splits */
		M("\xE2\x91\xA0", "1"),      /* compatibility decomposition */
	};
	check_map(cases, CORE_NELEM(cases), core_utf8_casemap_key);
	struct core_buf a = CORE_BUF_INIT, b = CORE_BUF_INIT;
	ck_assert_int_eq(core_utf8_casemap_key(B("Caf\xC3\xA9"), &a, NULL), 0);
	ck_assert_int_eq(core_utf8_casemap_key(B("CAFE\xCC\x81"), &b, NULL), 0);
	ck_assert(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
	core_buf_fini(&a);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_invalid_input_refused)
{
	static const struct {
		const char *in;
		size_t len;
		size_t off;
	} cases[] = {
		{B("ab\xC0\xAF"), 2},
		{B("\xED\xA0\x80"), 0},
		{B("abc\xF8\x88\x80\x80\x80"), 3},
		{B("x\xC3"), 1},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		char want[64];
		snprintf(want, sizeof(want), "invalid UTF-8 at byte offset %zu", cases[i].off);
		struct core_buf b = CORE_BUF_INIT;
		struct core_error e;
		ck_assert_int_eq(core_utf8_nfc(cases[i].in, cases[i].len, &b, &e), CORE_ESYNTAX);
		ck_assert_str_eq(e.msg, want);
		ck_assert_int_eq(
			core_utf8_casefold(cases[i].in, cases[i].len, CORE_UTF8_NFC, &b, &e),
			CORE_ESYNTAX);
		ck_assert_int_eq(core_utf8_casemap_key(cases[i].in, cases[i].len, &b, &e),
				 CORE_ESYNTAX);
		ck_assert_uint_eq(b.len, 0); /* nothing appended */
		core_buf_fini(&b);
	}
}
END_TEST

START_TEST(test_long_input)
{
	/* Longer than the internal stack buffer: libunistring allocates the result. */
	struct core_buf in = CORE_BUF_INIT, out = CORE_BUF_INIT, want = CORE_BUF_INIT;
	for (int i = 0; i < 1000; i++) {
		core_buf_append_str(&in, "E\xCC\x81\xC3\x9F");
		core_buf_append_str(&want, "\xC3\xA9ss");
	}
	ck_assert_int_eq(core_utf8_casefold(in.p, in.len, CORE_UTF8_NFC, &out, NULL), 0);
	ck_assert_uint_eq(out.len, want.len);
	ck_assert(memcmp(out.p, want.p, want.len) == 0);
	core_buf_fini(&in);
	core_buf_fini(&out);
	core_buf_fini(&want);
}
END_TEST

START_TEST(test_arena_variants)
{
	struct core_arena *a = core_arena_new(0);
	struct core_str out = CORE_STR_NULL;
	ck_assert_int_eq(core_utf8_nfc_arena(a, CORE_STR("e\xCC\x81t\xC3\xA9"), &out, NULL), 0);
	ck_assert_str_eq(out.p, "\xC3\xA9t\xC3\xA9");
	ck_assert_uint_eq(out.len, 5);
	ck_assert_int_eq(
		core_utf8_casefold_arena(a, CORE_STR("Gro\xC3\x9F"), CORE_UTF8_NFC, &out, NULL), 0);
	ck_assert_str_eq(out.p, "gross");
	ck_assert_int_eq(core_utf8_nfc_arena(a, CORE_STR(""), &out, NULL), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_str_eq(out.p, "");
	/* embedded NUL survives the copy */
	ck_assert_int_eq(core_utf8_nfc_arena(a, core_str_make("a\0b", 3), &out, NULL), 0);
	ck_assert_uint_eq(out.len, 3);
	ck_assert_int_eq(out.p[2], 'b');
	struct core_str keep = out;
	ck_assert_int_eq(core_utf8_nfc_arena(a, core_str_make("\xFF", 1), &out, NULL),
			 CORE_ESYNTAX);
	ck_assert(out.p == keep.p && out.len == keep.len);
	core_arena_free(&a);
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("core_utf8");
	TCase *tc = tcase_create("utf8");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_validate);
	tcase_add_test(tc, test_decode_encode);
	tcase_add_test(tc, test_all_code_points);
	tcase_add_test(tc, test_append_count_ascii);
	tcase_add_test(tc, test_nfc);
	tcase_add_test(tc, test_other_forms);
	tcase_add_test(tc, test_casefold);
	tcase_add_test(tc, test_casefold_equivalence);
	tcase_add_test(tc, test_casemap_key);
	tcase_add_test(tc, test_invalid_input_refused);
	tcase_add_test(tc, test_long_input);
	tcase_add_test(tc, test_arena_variants);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
