/*
 * Unit tests of core_codec: base64 and base64url (RFC 4648 §4, §5, §10 test vectors), MIME
 * base64 (RFC 2045 §6.8), quoted-printable (RFC 2045 §6.7) and Q (RFC 2047 §4.2), and hex
 * (RFC 4648 §8).
 */
#include "core/core.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define B(lit) lit, sizeof(lit) - 1

static bool buf_is(const struct core_buf *b, const char *p, size_t len)
{
	return b->len == len && (len == 0 || memcmp(b->p, p, len) == 0);
}

/* RFC 4648 §10 test vectors. */
static const struct {
	const char *plain;
	const char *b64;
	const char *b64url;
	const char *hex;
} rfc4648_vectors[] = {
	{"", "", "", ""},
	{"f", "Zg==", "Zg", "66"},
	{"fo", "Zm8=", "Zm8", "666f"},
	{"foo", "Zm9v", "Zm9v", "666f6f"},
	{"foob", "Zm9vYg==", "Zm9vYg", "666f6f62"},
	{"fooba", "Zm9vYmE=", "Zm9vYmE", "666f6f6261"},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy", "666f6f626172"},
};

START_TEST(test_rfc4648_vectors)
{
	for (size_t i = 0; i < CORE_NELEM(rfc4648_vectors); i++) {
		const char *plain = rfc4648_vectors[i].plain;
		size_t n = strlen(plain);
		struct core_buf b = CORE_BUF_INIT;
		core_base64_encode(&b, plain, n);
		ck_assert_str_eq(core_buf_cstr(&b), rfc4648_vectors[i].b64);
		ck_assert_uint_eq(core_base64_encoded_len(n), b.len);
		core_buf_reset(&b);
		core_base64url_encode(&b, plain, n);
		ck_assert_str_eq(core_buf_cstr(&b), rfc4648_vectors[i].b64url);
		core_buf_reset(&b);
		core_hex_encode(&b, plain, n);
		ck_assert_str_eq(core_buf_cstr(&b), rfc4648_vectors[i].hex);
		core_buf_reset(&b);

		const char *e = rfc4648_vectors[i].b64;
		ck_assert_int_eq(core_base64_decode(e, strlen(e), &b, NULL), 0);
		ck_assert(buf_is(&b, plain, n));
		core_buf_reset(&b);
		ck_assert_int_eq(core_base64_decode_mime(e, strlen(e), &b), 0);
		ck_assert(buf_is(&b, plain, n));
		core_buf_reset(&b);
		e = rfc4648_vectors[i].b64url;
		ck_assert_int_eq(core_base64url_decode(e, strlen(e), &b, NULL), 0);
		ck_assert(buf_is(&b, plain, n));
		core_buf_reset(&b);
		e = rfc4648_vectors[i].hex;
		ck_assert_int_eq(core_hex_decode(e, strlen(e), &b, NULL), 0);
		ck_assert(buf_is(&b, plain, n));
		core_buf_fini(&b);
	}
}
END_TEST

START_TEST(test_alphabets)
{
	/* RFC 4648 §4/§5: values 62 and 63 differ between the alphabets. */
	static const struct {
		const char *in;
		size_t len;
		const char *std;
		const char *url;
	} cases[] = {
		{B("\xfb\xef\xbe"), "++++", "----"}, {B("\xff\xff\xff"), "////", "____"},
		{B("\xfb\xff"), "+/8=", "-_8"},      {B("\x00\x00\x00"), "AAAA", "AAAA"},
		{B("\x00"), "AA==", "AA"},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_buf b = CORE_BUF_INIT;
		core_base64_encode(&b, cases[i].in, cases[i].len);
		ck_assert_str_eq(core_buf_cstr(&b), cases[i].std);
		core_buf_reset(&b);
		core_base64url_encode(&b, cases[i].in, cases[i].len);
		ck_assert_str_eq(core_buf_cstr(&b), cases[i].url);
		core_buf_reset(&b);
		ck_assert_int_eq(core_base64_decode(cases[i].std, strlen(cases[i].std), &b, NULL),
				 0);
		ck_assert(buf_is(&b, cases[i].in, cases[i].len));
		core_buf_reset(&b);
		ck_assert_int_eq(
			core_base64url_decode(cases[i].url, strlen(cases[i].url), &b, NULL), 0);
		ck_assert(buf_is(&b, cases[i].in, cases[i].len));
		core_buf_fini(&b);
	}
}
END_TEST

START_TEST(test_base64_strict_rejects)
{
	static const struct {
		const char *in;
		size_t len;
		bool url;
	} cases[] = {
		{B("Zg="), false},          /* not a multiple of 4 */
		{B("Zg"), false},           /* padding required */
		{B("Z==="), false},         /* three pad characters */
		{B("===="), false},         /* padding only */
		{B("A==="), false},         /* one character then padding */
		{B("Zg==Zg=="), false},     /* padding in the middle */
		{B("Z=g="), false},         /* '=' before data */
		{B("Zm9v\r\nYmFy"), false}, /* line break (§3.3) */
		{B("Zm9v YmFy"), false},
		{B("Zm9v*mFy"), false},
		{B("Zh=="), false}, /* non-zero pad bits (§3.5) */
		{B("Zm9="), false}, /* non-zero pad bits (§3.5) */
		{B("-_8="), false}, /* URL alphabet in standard base64 */
		{B("Zg\0="), false},
		{B("Zg=="), true}, /* URL form has no padding */
		{B("Zm8="), true},
		{B("+/8"), true}, /* standard alphabet in base64url */
		{B("Z"), true},   /* 4k+1 characters cannot happen */
		{B("Zm9vY"), true},
		{B("Zh"), true}, /* non-zero pad bits */
		{B("Zm9"), true},
		{B("Zm 9"), true},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_buf b = CORE_BUF_INIT;
		core_buf_append_str(&b, "keep");
		struct core_error e;
		size_t len = cases[i].len;
		int rc = cases[i].url ? core_base64url_decode(cases[i].in, len, &b, &e)
				      : core_base64_decode(cases[i].in, len, &b, &e);
		ck_assert_msg(rc == CORE_ESYNTAX, "case %zu '%s' rc %d", i, cases[i].in, rc);
		ck_assert_int_eq(e.code, CORE_ESYNTAX);
		ck_assert_str_eq(core_buf_cstr(&b), "keep"); /* nothing appended on error */
		core_buf_fini(&b);
	}
	/* The message names the offset of the bad character. */
	struct core_error e;
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(core_base64_decode(B("Zm9vY*Fy"), &b, &e), CORE_ESYNTAX);
	ck_assert_str_eq(e.msg, "bad base64: character outside alphabet at offset 5");
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_base64_mime_decode)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
		size_t out_len;
	} cases[] = {
		{B("Zm9v\r\nYmFy"), B("foobar")},
		{B("Zm9v YmFy\r\n"), B("foobar")},
		{B(" Z m 9 v Y m F y "), B("foobar")},
		{B("Zm9vYg==\r\n"), B("foob")},
		{B("Zm9v!@#$%YmFy"), B("foobar")}, /* characters outside the alphabet */
		{B("Zm9v\0YmFy"), B("foobar")},
		{B("Zg==Zm8="), B("ffo")},  /* '=' ends a group, decoding goes on */
		{B("Zm9vYmE"), B("fooba")}, /* missing padding */
		{B("Zm9vY"), B("foo")},     /* a lone sextet carries no byte */
		{B("Zg=\r\n="), B("f")},
		{B("="), B("")},
		{B(""), B("")},
		{B("\r\n\r\n"), B("")},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		struct core_buf b = CORE_BUF_INIT;
		ck_assert_int_eq(core_base64_decode_mime(cases[i].in, cases[i].len, &b), 0);
		ck_assert_msg(buf_is(&b, cases[i].out, cases[i].out_len), "case %zu", i);
		core_buf_fini(&b);
	}
}
END_TEST

/* Deterministic pseudo-random bytes for property tests. */
static void fill_random(unsigned char *p, size_t n, uint64_t *state, const char *alphabet)
{
	size_t alen = alphabet != NULL ? strlen(alphabet) : 0;
	for (size_t i = 0; i < n; i++) {
		*state = *state * 6364136223846793005u + 1442695040888963407u;
		unsigned char r = (unsigned char)(*state >> 33);
		p[i] = alphabet != NULL ? (unsigned char)alphabet[r % alen] : r;
	}
}

/* Every encoded line is at most 76 characters and lines end in CRLF. */
static void check_lines(const struct core_buf *b, bool allow_8bit)
{
	/* Plain ifs: a passing ck_assert costs a write in fork mode, too slow per byte. */
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->p[i];
		if (c == '\r') {
			if (i + 1 >= b->len || b->p[i + 1] != '\n')
				ck_abort_msg("bare CR at %zu", i);
			i++;
			col = 0;
			continue;
		}
		if (c == '\n')
			ck_abort_msg("bare LF at %zu", i);
		if (!allow_8bit && !((c >= 33 && c <= 126) || c == ' ' || c == '\t'))
			ck_abort_msg("byte %02x at %zu", c, i);
		if (++col > CORE_CODEC_LINE_MAX)
			ck_abort_msg("line too long at %zu", i);
	}
}

START_TEST(test_base64_round_trip)
{
	uint64_t st = 42;
	unsigned char data[400];
	for (size_t n = 0; n <= sizeof(data); n++) {
		fill_random(data, n, &st, NULL);
		struct core_buf enc = CORE_BUF_INIT, dec = CORE_BUF_INIT;
		core_base64_encode(&enc, data, n);
		ck_assert_uint_eq(enc.len, core_base64_encoded_len(n));
		ck_assert_int_eq(core_base64_decode(enc.p, enc.len, &dec, NULL), 0);
		ck_assert(buf_is(&dec, (const char *)data, n));
		core_buf_reset(&enc);
		core_buf_reset(&dec);
		core_base64url_encode(&enc, data, n);
		ck_assert_int_eq(core_base64url_decode(enc.p, enc.len, &dec, NULL), 0);
		ck_assert(buf_is(&dec, (const char *)data, n));
		core_buf_reset(&enc);
		core_buf_reset(&dec);
		core_base64_encode_mime(&enc, data, n);
		check_lines(&enc, false);
		/* RFC 2045 §6.8: full lines of exactly 76 characters, no CRLF at the end */
		if (n > 0)
			ck_assert(enc.p[enc.len - 1] != '\n');
		ck_assert_uint_eq(enc.len,
				  core_base64_encoded_len(n) +
					  2 * ((core_base64_encoded_len(n) + 75) / 76 - (n > 0)));
		ck_assert_int_eq(core_base64_decode_mime(enc.p, enc.len, &dec), 0);
		ck_assert(buf_is(&dec, (const char *)data, n));
		core_buf_fini(&enc);
		core_buf_fini(&dec);
	}
}
END_TEST

START_TEST(test_base64_mime_wrap)
{
	/* 57 bytes are exactly one 76-character line; 58 start a second line. */
	unsigned char data[58];
	memset(data, 0, sizeof(data));
	struct core_buf b = CORE_BUF_INIT;
	core_base64_encode_mime(&b, data, 57);
	ck_assert_uint_eq(b.len, 76);
	core_buf_reset(&b);
	core_base64_encode_mime(&b, data, 58);
	ck_assert_uint_eq(b.len, 76 + 2 + 4);
	ck_assert(memcmp(b.p + 76, "\r\nAA==", 6) == 0);
	core_buf_fini(&b);
}
END_TEST

struct qp_case {
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
};

static void run_qp(const struct qp_case *cases, size_t n, unsigned flags, bool encode)
{
	for (size_t i = 0; i < n; i++) {
		struct core_buf b = CORE_BUF_INIT;
		if (encode)
			core_qp_encode(&b, cases[i].in, cases[i].in_len, flags);
		else
			ck_assert_int_eq(core_qp_decode(cases[i].in, cases[i].in_len, flags, &b),
					 0);
		ck_assert_msg(buf_is(&b, cases[i].out, cases[i].out_len), "case %zu: got '%s'", i,
			      core_buf_cstr(&b));
		core_buf_fini(&b);
	}
}

START_TEST(test_qp_decode)
{
	static const struct qp_case cases[] = {
		{B("Hello=20World"), B("Hello World")},
		{B("caf=C3=A9"), B("caf\xC3\xA9")},
		{B("caf=c3=a9"), B("caf\xC3\xA9")}, /* lower-case hex accepted */
		{B("a=3Db"), B("a=b")},
		/* RFC 2045 §6.7 rule (5) example of soft line breaks */
		{B("Now's the time =\r\nfor all folk to come=\r\n to the aid of their country."),
		 B("Now's the time for all folk to come to the aid of their country.")},
		{B("abc=\ndef"), B("abcdef")},
		{B("abc= \t\r\ndef"), B("abcdef")}, /* whitespace after a soft break */
		{B("abc="), B("abc")},              /* soft break at the end */
		{B("abc=  "), B("abc")},
		{B("abc=\r"), B("abc")},
		/* rule (3): trailing whitespace was added in transit */
		{B("abc  \r\ndef"), B("abc\r\ndef")},
		{B("abc \t\ndef"), B("abc\ndef")},
		{B("abc   "), B("abc")},
		{B("a b\tc"), B("a b\tc")},
		{B("a = b"), B("a = b")},
		/* bad escapes are kept */
		{B("a=ZZb"), B("a=ZZb")},
		{B("a=4"), B("a=4")},
		{B("a=4G"), B("a=4G")},
		{B("=\rb"), B("=\rb")},
		{B("100% =D0"), B("100% \xD0")},
		/* hard line breaks and raw bytes pass through */
		{B("a\r\nb\nc"), B("a\r\nb\nc")},
		{B("\xC3\xA9\0"), B("\xC3\xA9\0")},
		{B("a_b"), B("a_b")},
		{B(""), B("")},
	};
	run_qp(cases, CORE_NELEM(cases), 0, false);
}
END_TEST

START_TEST(test_q_decode)
{
	static const struct qp_case cases[] = {
		/* RFC 2047 §8 examples */
		{B("Keld_J=F8rn_Simonsen"), B("Keld J\xF8rn Simonsen")},
		{B("Andr=E9"), B("Andr\xE9")},
		{B("a=5Fb"), B("a_b")},
		{B("a_=20b"), B("a  b")},
		{B("=XY="), B("=XY=")},
		{B("a=\r\nb"), B("a=\r\nb")}, /* no soft line breaks in an encoded-word */
		{B("a "), B("a ")},
	};
	run_qp(cases, CORE_NELEM(cases), CORE_QP_Q, false);
}
END_TEST

static char long_a[300];

START_TEST(test_qp_encode)
{
	static const struct qp_case cases[] = {
		{B("Hello World"), B("Hello World")},
		{B("a=b"), B("a=3Db")},
		{B("caf\xC3\xA9"), B("caf=C3=A9")},
		{B("trailing "), B("trailing=20")},
		{B("tab\t"), B("tab=09")},
		{B("a \r\nb"), B("a=20\r\nb")},
		{B("a\tb c"), B("a\tb c")},
		{B("a\r\nb"), B("a\r\nb")},
		{B("a\nb"), B("a=0Ab")}, /* a bare LF is not a line break */
		{B("a\rb"), B("a=0Db")},
		{B("\0\x7F"), B("=00=7F")},
		{B(""), B("")},
	};
	run_qp(cases, CORE_NELEM(cases), CORE_QP_TEXT, true);
	static const struct qp_case bin_cases[] = {
		{B("a\r\nb"), B("a=0D=0Ab")},
		{B("a \r\n"), B("a =0D=0A")},
	};
	run_qp(bin_cases, CORE_NELEM(bin_cases), CORE_QP_BINARY, true);

	/* rule (5): 76 characters fit on a line; 77 need a soft break after 75. */
	memset(long_a, 'a', sizeof(long_a));
	struct core_buf b = CORE_BUF_INIT;
	core_qp_encode(&b, long_a, 76, 0);
	ck_assert_uint_eq(b.len, 76);
	core_buf_reset(&b);
	core_qp_encode(&b, long_a, 77, 0);
	ck_assert_uint_eq(b.len, 77 + 3);
	ck_assert(memcmp(b.p + 75, "=\r\naa", 5) == 0);
	core_buf_reset(&b);
	/* an escape is never split across a soft break */
	char in[80];
	memset(in, 'a', 74);
	memcpy(in + 74, "\xC3\xA9", 2);
	core_qp_encode(&b, in, 76, 0);
	ck_assert_uint_eq(b.len, 74 + 9);
	ck_assert(memcmp(b.p + 74, "=\r\n=C3=A9", 9) == 0);
	check_lines(&b, false);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_q_encode)
{
	static const struct qp_case cases[] = {
		{B("Keld J\xF8rn Simonsen"), B("Keld_J=F8rn_Simonsen")},
		{B("a_b?=c"), B("a=5Fb=3F=3Dc")},
		{B("Hi! *+-/"), B("Hi!_*+-/")},
		{B("(\"x\")"), B("=28=22x=22=29")},
		{B("\r\n\t"), B("=0D=0A=09")},
	};
	run_qp(cases, CORE_NELEM(cases), CORE_QP_Q, true);
}
END_TEST

/* Encode then decode gives the input back, in every mode, for awkward byte mixes. */
START_TEST(test_qp_round_trip)
{
	static const char *const alphabets[] = {NULL, " \t\r\na=\xff", " \r\n", "a \t", "=\n_ ?"};
	static const unsigned modes[] = {CORE_QP_TEXT, CORE_QP_BINARY, CORE_QP_Q};
	uint64_t st = 7;
	unsigned char data[500];
	for (size_t a = 0; a < CORE_NELEM(alphabets); a++) {
		for (int iter = 0; iter < 300; iter++) {
			size_t n = (size_t)iter * 7 % sizeof(data);
			fill_random(data, n, &st, alphabets[a]);
			for (size_t m = 0; m < CORE_NELEM(modes); m++) {
				struct core_buf enc = CORE_BUF_INIT, dec = CORE_BUF_INIT;
				core_qp_encode(&enc, data, n, modes[m]);
				if (modes[m] != CORE_QP_Q)
					check_lines(&enc, false);
				else
					ck_assert(core_utf8_is_ascii_print(enc.p, enc.len) &&
						  memchr(enc.p != NULL ? enc.p : "", ' ',
							 enc.len) == NULL);
				ck_assert_int_eq(core_qp_decode(enc.p, enc.len, modes[m], &dec), 0);
				ck_assert_msg(buf_is(&dec, (const char *)data, n),
					      "alphabet %zu n %zu mode %u", a, n, modes[m]);
				core_buf_fini(&enc);
				core_buf_fini(&dec);
			}
		}
	}
}
END_TEST

START_TEST(test_hex)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(core_hex_decode(B("DEADbeef00"), &b, NULL), 0);
	ck_assert(buf_is(&b, "\xde\xad\xbe\xef\x00", 5));
	core_buf_reset(&b);
	core_hex_encode(&b, "\xde\xad\xbe\xef\x00", 5);
	ck_assert_str_eq(core_buf_cstr(&b), "deadbeef00");
	static const char *const bad[] = {"abc", "zz", "0x", "a ", " a", "0g", "\xc3\xa9"};
	for (size_t i = 0; i < CORE_NELEM(bad); i++) {
		core_buf_reset(&b);
		core_buf_append_str(&b, "k");
		struct core_error e;
		ck_assert_int_eq(core_hex_decode(bad[i], strlen(bad[i]), &b, &e), CORE_ESYNTAX);
		ck_assert_int_eq(e.code, CORE_ESYNTAX);
		ck_assert_str_eq(core_buf_cstr(&b), "k");
	}
	core_buf_fini(&b);
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("core_codec");
	TCase *tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rfc4648_vectors);
	tcase_add_test(tc, test_alphabets);
	tcase_add_test(tc, test_base64_strict_rejects);
	tcase_add_test(tc, test_base64_mime_decode);
	tcase_add_test(tc, test_base64_round_trip);
	tcase_add_test(tc, test_base64_mime_wrap);
	tcase_add_test(tc, test_qp_decode);
	tcase_add_test(tc, test_q_decode);
	tcase_add_test(tc, test_qp_encode);
	tcase_add_test(tc, test_q_encode);
	tcase_add_test(tc, test_qp_round_trip);
	tcase_add_test(tc, test_hex);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
