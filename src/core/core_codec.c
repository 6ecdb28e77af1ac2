/* core_codec.c: base64/base64url (RFC 4648, RFC 2045 §6.8), quoted-printable (RFC 2045 §6.7,
 * RFC 2047 §4.2) and hex (RFC 4648 §8). */
#include "core/core_codec.h"

#include <stdbool.h>
#include <stdint.h>

#include "core/core_buf.h"
#include "core/core_err.h"

static const char b64_std[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char hex_lower[16] = "0123456789abcdef";
static const char hex_upper[16] = "0123456789ABCDEF";

/* Value of a base64 character in the given alphabet, or -1. */
static int b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* core_buf_reserve leaves the byte after the content unset when the buffer had no memory yet;
 * keep the buffer's NUL-termination promise even if nothing gets appended afterwards. */
static void codec_reserve(struct core_buf *out, size_t n)
{
	core_buf_reserve(out, n);
	out->p[out->len] = '\0';
}

size_t core_base64_encoded_len(size_t n)
{
	return (n / 3 + (n % 3 != 0)) * 4;
}

/*
 * RFC 4648 §4 [R4648-4-a]: each 3-byte group becomes 4 characters; a final group of 1 or 2 bytes is
 * filled with zero bits to whole 6-bit units and, when pad is set, completed with '='.
 * wrap > 0 inserts CRLF after every wrap characters (never at the very end).
 */
static void b64_encode(struct core_buf *out, const unsigned char *s, size_t len, const char *alpha,
		       bool pad, size_t wrap)
{
	size_t col = 0;
	char quad[4];
	codec_reserve(out, core_base64_encoded_len(len) +
				   (wrap > 0 ? 2 * (core_base64_encoded_len(len) / wrap) : 0));
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)s[i] << 16;
		if (left > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		quad[0] = alpha[(v >> 18) & 63];
		quad[1] = alpha[(v >> 12) & 63];
		quad[2] = left > 1 ? alpha[(v >> 6) & 63] : '=';
		quad[3] = left > 2 ? alpha[v & 63] : '=';
		size_t n = 4;
		if (!pad)
			n = left > 2 ? 4 : left + 1;
		for (size_t k = 0; k < n; k++) {
			if (wrap > 0 && col == wrap) {
				core_buf_append(out, "\r\n", 2);
				col = 0;
			}
			core_buf_putc(out, quad[k]);
			col++;
		}
	}
}

void core_base64_encode(struct core_buf *out, const void *p, size_t len)
{
	b64_encode(out, p, len, b64_std, true, 0);
}

void core_base64url_encode(struct core_buf *out, const void *p, size_t len)
{
	b64_encode(out, p, len, b64_url, false, 0);
}

void core_base64_encode_mime(struct core_buf *out, const void *p, size_t len)
{
	b64_encode(out, p, len, b64_std, true, CORE_CODEC_LINE_MAX);
}

/* Emit the whole bytes held by a group of n (2-4) characters packed in v (6 bits each). */
static void b64_flush(struct core_buf *out, uint32_t v, int n)
{
	v <<= 6 * (4 - n);
	if (n >= 2)
		core_buf_putc(out, (char)(v >> 16));
	if (n >= 3)
		core_buf_putc(out, (char)(v >> 8));
	if (n == 4)
		core_buf_putc(out, (char)v);
}

static int b64_fail(struct core_buf *out, size_t keep, struct core_error *err, const char *rule,
		    const char *what, size_t off)
{
	core_buf_truncate(out, keep);
	return core_error_set(err, CORE_ESYNTAX, rule, "bad base64: %s at offset %zu", what, off);
}

/*
 * Strict decoding shared by both alphabets. padded: input must be whole 4-character groups
 * and may end with "=" or "=="; otherwise '=' is refused and a length of 4k+1 is impossible.
 */
static int b64_decode_strict(const unsigned char *s, size_t len, bool url, struct core_buf *out,
			     struct core_error *err)
{
	const char *rule = url ? "RFC 4648 §5" : "RFC 4648 §4";
	size_t keep = out->len;
	size_t data = len; /* characters before padding */
	if (!url) {
		/* RFC 4648 §3.2 [R4648-4-b]: with padding the encoding is whole 4-char quanta. */
		if (len % 4 != 0)
			return b64_fail(out, keep, err, rule, "length not a multiple of 4", len);
		if (len > 0 && s[len - 1] == '=')
			data--;
		if (data < len && data > 0 && s[data - 1] == '=')
			data--;
	}
	if (data % 4 == 1)
		return b64_fail(out, keep, err, rule, "truncated group", len);
	codec_reserve(out, data / 4 * 3 + 2);
	uint32_t v = 0;
	int n = 0;
	for (size_t i = 0; i < data; i++) {
		int d = b64_value(s[i], url);
		/* RFC 4648 §3.3 [R4648-3.3-a]: characters outside the alphabet (and stray '=')
		 * are rejected. */
		if (d < 0)
			return b64_fail(out, keep, err, rule,
					s[i] == '=' ? "misplaced padding"
						    : "character outside alphabet",
					i);
		v = (v << 6) | (uint32_t)d;
		if (++n == 4) {
			b64_flush(out, v, 4);
			v = 0;
			n = 0;
		}
	}
	if (n > 0) {
		/* RFC 4648 §3.5 [R4648-3.5-b]: pad bits of the last unit must be zero. */
		uint32_t mask = n == 2 ? 0x0F : 0x03;
		if ((v & mask) != 0)
			return b64_fail(out, keep, err, rule, "non-zero pad bits", data - 1);
		b64_flush(out, v, n);
	}
	return 0;
}

int core_base64_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return b64_decode_strict(p, len, false, out, err);
}

int core_base64url_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return b64_decode_strict(p, len, true, out, err);
}

int core_base64_decode_mime(const void *p, size_t len, struct core_buf *out)
{
	const unsigned char *s = p;
	uint32_t v = 0;
	int n = 0;
	codec_reserve(out, len / 4 * 3 + 2);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=') {
			/* RFC 2045 §6.8: '=' marks the end of the encoded data; finish the group.
			 */
			if (n >= 2)
				b64_flush(out, v, n);
			v = 0;
			n = 0;
			continue;
		}
		int d = b64_value(s[i], false);
		/* RFC 2045 §6.8 [R4648-3.3-b]: characters outside the alphabet are ignored. */
		if (d < 0)
			continue;
		v = (v << 6) | (uint32_t)d;
		if (++n == 4) {
			b64_flush(out, v, 4);
			v = 0;
			n = 0;
		}
	}
	if (n >= 2)
		b64_flush(out, v, n);
	return 0;
}

/* RFC 2047 §4.2 (3): characters that may stay literal in a Q-encoded word in any context. */
static bool qp_q_literal(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static void qp_put_escape(struct core_buf *out, unsigned char c)
{
	char e[3] = {'=', hex_upper[c >> 4], hex_upper[c & 15]};
	core_buf_append(out, e, 3);
}

static void qp_encode_q(struct core_buf *out, const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ')
			core_buf_putc(out, '_'); /* RFC 2047 §4.2 (2) */
		else if (qp_q_literal(s[i]))
			core_buf_putc(out, (char)s[i]);
		else
			qp_put_escape(out, s[i]);
	}
}

void core_qp_encode(struct core_buf *out, const void *p, size_t len, unsigned flags)
{
	const unsigned char *s = p;
	if (flags & CORE_QP_Q) {
		qp_encode_q(out, s, len);
		return;
	}
	bool text = !(flags & CORE_QP_BINARY);
	size_t col = 0;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		/* RFC 2045 §6.7 (4): in text, CRLF is a hard line break and stays CRLF. */
		if (text && c == '\r' && i + 1 < len && s[i + 1] == '\n') {
			core_buf_append(out, "\r\n", 2);
			col = 0;
			i += 2;
			continue;
		}
		/* Is this the last character of its encoded line (end of input or a hard break)? */
		bool line_end = i + 1 == len ||
				(text && s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
		/* RFC 2045 §6.7 (2): printable ASCII except '=' is literal; (3) space and tab are
		 * literal unless they would end a line, where transports may strip them. */
		bool literal =
			(c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
		size_t w = literal ? 1 : 3;
		/* RFC 2045 §6.7 (5): at most 76 characters per line, the soft break's '='
		 * included; the last token of a line needs no room for a soft break. */
		if (col + w > CORE_CODEC_LINE_MAX - 1 &&
		    !(line_end && col + w <= CORE_CODEC_LINE_MAX)) {
			core_buf_append(out, "=\r\n", 3);
			col = 0;
		}
		if (literal)
			core_buf_putc(out, (char)c);
		else
			qp_put_escape(out, c);
		col += w;
		i++;
	}
}

/* Length of a line break at s[i..len): 2 for CRLF, 1 for a bare LF, else 0. */
static size_t qp_break_len(const unsigned char *s, size_t i, size_t len)
{
	if (i < len && s[i] == '\n')
		return 1;
	if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')
		return 2;
	return 0;
}

static void qp_decode_q(const unsigned char *s, size_t len, struct core_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '_') {
			core_buf_putc(out, ' '); /* RFC 2047 §4.2 (2) */
		} else if (s[i] == '=' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
			   hex_value(s[i + 2]) >= 0) {
			core_buf_putc(out, (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2])));
			i += 2;
		} else {
			core_buf_putc(out, (char)s[i]);
		}
	}
}

int core_qp_decode(const void *p, size_t len, unsigned flags, struct core_buf *out)
{
	const unsigned char *s = p;
	if (flags & CORE_QP_Q) {
		qp_decode_q(s, len, out);
		return 0;
	}
	codec_reserve(out, len);
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c == '=') {
			/* RFC 2045 §6.7 (1): "=" and two hex digits; lower case is accepted too. */
			if (i + 2 < len && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
				core_buf_putc(out, (char)(hex_value(s[i + 1]) << 4 |
							  hex_value(s[i + 2])));
				i += 3;
				continue;
			}
			/* RFC 2045 §6.7 (5): "=" at the end of a line is a soft line break;
			 * whitespace a transport added after it is ignored too. */
			size_t j = i + 1;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			size_t br = qp_break_len(s, j, len);
			if (br > 0 || j == len || (j + 1 == len && s[j] == '\r')) {
				i = j + (br > 0 ? br : len - j);
				continue;
			}
			/* A malformed escape is kept as it is (robust decoder note of §6.7). */
			core_buf_putc(out, '=');
			i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			/* RFC 2045 §6.7 (3): whitespace at the end of a line was added in transit
			 * and is deleted. */
			size_t j = i;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j == len || qp_break_len(s, j, len) > 0) {
				i = j;
				continue;
			}
			core_buf_append(out, s + i, j - i);
			i = j;
			continue;
		}
		core_buf_putc(out, (char)c);
		i++;
	}
	return 0;
}

void core_hex_encode(struct core_buf *out, const void *p, size_t len)
{
	const unsigned char *s = p;
	codec_reserve(out, 2 * len);
	for (size_t i = 0; i < len; i++) {
		char h[2] = {hex_lower[s[i] >> 4], hex_lower[s[i] & 15]};
		core_buf_append(out, h, 2);
	}
}

/* RFC 4648 §8 [R4648-8-b]: base16 decoding is case-insensitive and has no padding. */
int core_hex_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	const unsigned char *s = p;
	if (len % 2 != 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 4648 §8", "bad hex: odd length");
	for (size_t i = 0; i < len; i++) {
		if (hex_value(s[i]) < 0)
			return core_error_set(err, CORE_ESYNTAX, "RFC 4648 §8",
					      "bad hex: non-hex character at offset %zu", i);
	}
	codec_reserve(out, len / 2);
	for (size_t i = 0; i < len; i += 2)
		core_buf_putc(out, (char)(hex_value(s[i]) << 4 | hex_value(s[i + 1])));
	return 0;
}
