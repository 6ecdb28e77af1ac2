/*
 * fuzz_core_codec.c: libFuzzer target for the decoders and encoders of core_codec (base64,
 * base64url, MIME base64, quoted-printable, RFC 2047 Q, hex) and the UTF-8 functions of
 * core_utf8. Checks on every input:
 * - every decoder returns a defined result and a failing strict decoder appends nothing;
 * - a strict decode that succeeds re-encodes to exactly the input (canonical forms only);
 * - every encoder's output decodes back to the input (abort on mismatch), and MIME encoders
 *   keep lines within 76 characters;
 * - UTF-8 validation agrees with code-point decoding, and NFC and case folding are stable.
 */
#include <stdbool.h>

#include "core/core.h"
#include "fuzz.h"

static bool fuzz_buf_eq(const struct core_buf *b, const uint8_t *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

/* RFC 2045 §6.7 (5) and §6.8: lines of at most 76 characters, CRLF only, printable bytes. */
static void fuzz_check_lines(const struct core_buf *b)
{
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->p[i];
		if (c == '\r') {
			FUZZ_CHECK(i + 1 < b->len && b->p[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		FUZZ_CHECK((c >= 33 && c <= 126) || c == ' ' || c == '\t');
		FUZZ_CHECK(++col <= CORE_CODEC_LINE_MAX);
	}
}

typedef int (*strict_fn)(const void *, size_t, struct core_buf *, struct core_error *);
typedef void (*encode_fn)(struct core_buf *, const void *, size_t);

/* Strict decode; on success the canonical re-encoding equals the input. */
static void fuzz_strict(strict_fn dec, encode_fn enc, const uint8_t *p, size_t n, bool fold_case)
{
	struct core_buf out = CORE_BUF_INIT;
	core_buf_append(&out, "x", 1);
	struct core_error e;
	int rc = dec(p, n, &out, &e);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	if (rc < 0) {
		FUZZ_CHECK(e.code == rc && out.len == 1);
	} else {
		struct core_buf again = CORE_BUF_INIT;
		enc(&again, out.p + 1, out.len - 1);
		FUZZ_CHECK(again.len == n);
		for (size_t i = 0; i < n; i++) {
			char a = again.p[i], b = (char)p[i];
			FUZZ_CHECK(fold_case ? core_ascii_lower(a) == core_ascii_lower(b) : a == b);
		}
		core_buf_fini(&again);
	}
	core_buf_fini(&out);
}

/* Encode then decode with the given decoder; the result must be the input. */
static void fuzz_round_trip(encode_fn enc, strict_fn dec, const uint8_t *p, size_t n)
{
	struct core_buf e = CORE_BUF_INIT, d = CORE_BUF_INIT;
	enc(&e, p, n);
	FUZZ_CHECK(dec(e.p, e.len, &d, NULL) == 0);
	FUZZ_CHECK(fuzz_buf_eq(&d, p, n));
	core_buf_fini(&e);
	core_buf_fini(&d);
}

static void fuzz_qp_round_trip(const uint8_t *p, size_t n, unsigned flags)
{
	struct core_buf e = CORE_BUF_INIT, d = CORE_BUF_INIT;
	core_qp_encode(&e, p, n, flags);
	if (flags & CORE_QP_Q)
		FUZZ_CHECK(core_utf8_is_ascii_print(e.p, e.len) &&
			   (e.len == 0 || memchr(e.p, ' ', e.len) == NULL));
	else
		fuzz_check_lines(&e);
	FUZZ_CHECK(core_qp_decode(e.p, e.len, flags, &d) == 0);
	FUZZ_CHECK(fuzz_buf_eq(&d, p, n));
	core_buf_fini(&e);
	core_buf_fini(&d);
}

static void fuzz_utf8(const uint8_t *p, size_t n)
{
	size_t bad = 0;
	int rc = core_utf8_validate(p, n, &bad);
	/* Walking code point by code point finds the same first bad byte. */
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		int k = core_utf8_decode(p + i, n - i, &cp);
		if (k < 0)
			break;
		char enc[CORE_UTF8_MAX_SEQ];
		FUZZ_CHECK(core_utf8_encode(cp, enc) == k && memcmp(enc, p + i, (size_t)k) == 0);
		i += (size_t)k;
	}
	if (rc == 0) {
		FUZZ_CHECK(i == n);
	} else {
		FUZZ_CHECK(rc == CORE_ESYNTAX && i == bad && bad < n);
	}
	struct core_buf a = CORE_BUF_INIT, b = CORE_BUF_INIT;
	struct core_error e;
	int r1 = core_utf8_nfc(p, n, &a, &e);
	FUZZ_CHECK(r1 == (rc == 0 ? 0 : CORE_ESYNTAX));
	if (r1 == 0) {
		/* NFC output is valid UTF-8 and already normalised. */
		FUZZ_CHECK(core_utf8_is_valid(a.p, a.len));
		FUZZ_CHECK(core_utf8_nfc(a.p, a.len, &b, NULL) == 0 && b.len == a.len &&
			   (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
		core_buf_reset(&a);
		core_buf_reset(&b);
		/* Folding is idempotent. */
		FUZZ_CHECK(core_utf8_casefold(p, n, CORE_UTF8_NFC, &a, NULL) == 0);
		FUZZ_CHECK(core_utf8_casefold(a.p, a.len, CORE_UTF8_NFC, &b, NULL) == 0);
		FUZZ_CHECK(b.len == a.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
		core_buf_reset(&a);
		FUZZ_CHECK(core_utf8_casemap_key(p, n, &a, NULL) == 0);
		FUZZ_CHECK(core_utf8_is_valid(a.p, a.len));
	}
	core_buf_fini(&a);
	core_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly size bytes: ASan reports any read past the end. */
	uint8_t *p = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(p != NULL);
	if (size > 0)
		memcpy(p, data, size);

	fuzz_strict(core_base64_decode, core_base64_encode, p, size, false);
	fuzz_strict(core_base64url_decode, core_base64url_encode, p, size, false);
	fuzz_strict(core_hex_decode, core_hex_encode, p, size, true);

	/* Lenient decoders never fail and yield at most 3 bytes per 4 input characters. */
	struct core_buf out = CORE_BUF_INIT;
	FUZZ_CHECK(core_base64_decode_mime(p, size, &out) == 0);
	FUZZ_CHECK(out.len <= size / 4 * 3 + 2);
	core_buf_reset(&out);
	FUZZ_CHECK(core_qp_decode(p, size, CORE_QP_TEXT, &out) == 0);
	FUZZ_CHECK(out.len <= size);
	core_buf_reset(&out);
	FUZZ_CHECK(core_qp_decode(p, size, CORE_QP_Q, &out) == 0);
	FUZZ_CHECK(out.len <= size);
	core_buf_fini(&out);

	fuzz_round_trip(core_base64_encode, core_base64_decode, p, size);
	fuzz_round_trip(core_base64url_encode, core_base64url_decode, p, size);
	fuzz_round_trip(core_hex_encode, core_hex_decode, p, size);
	struct core_buf e = CORE_BUF_INIT, d = CORE_BUF_INIT;
	core_base64_encode_mime(&e, p, size);
	fuzz_check_lines(&e);
	FUZZ_CHECK(core_base64_decode_mime(e.p, e.len, &d) == 0 && fuzz_buf_eq(&d, p, size));
	core_buf_fini(&e);
	core_buf_fini(&d);
	fuzz_qp_round_trip(p, size, CORE_QP_TEXT);
	fuzz_qp_round_trip(p, size, CORE_QP_BINARY);
	fuzz_qp_round_trip(p, size, CORE_QP_Q);

	fuzz_utf8(p, size);
	free(p);
	return 0;
}
