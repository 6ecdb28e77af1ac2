/*
 * core_codec.h: base64, base64url, quoted-printable (and the RFC 2047 "Q" variant) and hex.
 *
 * RFCs: RFC 4648 §4 (base64), §5 (base64url), §8 (base16), RFC 2045 §6.7 (quoted-printable)
 * and §6.8 (base64 in MIME bodies), RFC 2047 §4.2 (Q encoding).
 *
 * Ownership: inputs are borrowed for the call and may hold any bytes (NUL included); they are
 * never read past len. Every function appends to a caller-owned struct core_buf (release with
 * core_buf_fini()). Strict decoders append nothing on error: out->len is unchanged.
 */
#ifndef STAUNCH_CORE_CODEC_H
#define STAUNCH_CORE_CODEC_H

#include <stddef.h>

struct core_buf;
struct core_error;

/* RFC 2045 §6.7 (5) and §6.8: encoded lines are at most 76 characters. */
#define CORE_CODEC_LINE_MAX 76

/* Length of the padded base64 encoding of n bytes (no line breaks). */
size_t core_base64_encoded_len(size_t n);

/* RFC 4648 §4: standard alphabet, padded with '=', one line. */
void core_base64_encode(struct core_buf *out, const void *p, size_t len);
/* RFC 4648 §5: URL and filename safe alphabet, no padding (§3.2 allows omitting it). */
void core_base64url_encode(struct core_buf *out, const void *p, size_t len);
/* RFC 2045 §6.8: standard alphabet, padded, CRLF after every 76 characters and none at the
 * end (the caller ends the body part). */
void core_base64_encode_mime(struct core_buf *out, const void *p, size_t len);

/*
 * Strict decoders. core_base64_decode accepts exactly the output of core_base64_encode: the
 * standard alphabet, a length that is a multiple of 4, at most two '=' and only at the end,
 * pad bits zero (RFC 4648 §3.5 canonical encoding); no whitespace (§3.3).
 * core_base64url_decode accepts exactly the output of core_base64url_encode: the URL-safe
 * alphabet, no '=' and no impossible length (4k+1), pad bits zero.
 * Return 0 or CORE_ESYNTAX with err naming the offset of the offending character.
 */
int core_base64_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err);
int core_base64url_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err);

/*
 * Lenient decoder for MIME bodies (RFC 2045 §6.8): characters outside the base64 alphabet
 * (line breaks, spaces, garbage) are ignored; '=' ends the current 4-character group, and
 * decoding goes on after it (so concatenated encodings decode). A final incomplete group
 * yields the whole bytes it holds. Never fails; returns 0.
 */
int core_base64_decode_mime(const void *p, size_t len, struct core_buf *out);

/* Flags of the quoted-printable functions. */
enum core_qp_flags {
	/* Encode: text mode (default) keeps CRLF as a hard line break. */
	CORE_QP_TEXT = 0,
	/* Encode: every CR and LF becomes =0D / =0A (binary data in a QP part). */
	CORE_QP_BINARY = 1 << 0,
	/* RFC 2047 §4.2 "Q": space is '_', no line structure, only a safe set stays literal.
	 * Decode: '_' is a space and there are no soft line breaks. */
	CORE_QP_Q = 1 << 1,
};

/*
 * RFC 2045 §6.7 quoted-printable encode. Lines are at most 76 characters, using soft line
 * breaks ("=" CRLF); '=', controls, non-ASCII and a space or tab before a line break or at
 * the end are encoded as "=XX" (upper-case hex). With CORE_QP_Q the output is one run for an
 * encoded-word (the caller splits it and adds the =?charset?Q? frame).
 */
void core_qp_encode(struct core_buf *out, const void *p, size_t len, unsigned flags);

/*
 * Lenient quoted-printable decode (RFC 2045 §6.7 and its note on robust decoders): "=XX" with
 * hex digits in either case becomes the byte; "=" followed by optional spaces/tabs and a line
 * break (CRLF or bare LF), or by the end of input, is a soft break and disappears; spaces and
 * tabs at the end of a line are deleted; any other "=" is kept literally. Line breaks are
 * copied as they are. With CORE_QP_Q, '_' decodes to a space and nothing else is special.
 * Never fails; returns 0.
 */
int core_qp_decode(const void *p, size_t len, unsigned flags, struct core_buf *out);

/* RFC 4648 §8: base16, lower-case digits on output. */
void core_hex_encode(struct core_buf *out, const void *p, size_t len);
/* Either case on input; odd length or a non-hex character is CORE_ESYNTAX. */
int core_hex_decode(const void *p, size_t len, struct core_buf *out, struct core_error *err);

#endif
