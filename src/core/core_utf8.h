/*
 * core_utf8.h: UTF-8 validation, code point decode/encode, Unicode normalisation and case
 * folding.
 *
 * RFCs: RFC 3629 §3-4 (UTF-8 byte sequences: no overlong forms, no surrogates, nothing above
 * U+10FFFF), RFC 5198 (NFC for text exchanged on the net), RFC 5051 (i;unicode-casemap) and
 * RFC 4790 (comparators). Normalisation and folding use libunistring.
 *
 * Ownership: every input is borrowed for the duration of the call. Functions taking a
 * struct core_buf append to it (the buffer keeps ownership of its bytes, release with
 * core_buf_fini()); functions taking a struct core_arena return a view whose bytes are
 * arena-owned and NUL-terminated, valid until the arena is reset or freed. On error nothing
 * is appended and the output view is left unchanged.
 */
#ifndef STAUNCH_CORE_UTF8_H
#define STAUNCH_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_str.h"

struct core_arena;
struct core_buf;
struct core_error;

/* Largest Unicode scalar value and the longest UTF-8 sequence (RFC 3629 §3). */
#define CORE_UTF8_MAX_CP 0x10FFFFu
#define CORE_UTF8_MAX_SEQ 4

/*
 * Check that p[0..len) is well-formed UTF-8 (RFC 3629 §4). Returns 0 when valid. Otherwise
 * returns CORE_ESYNTAX and, if bad_off_out is not NULL, stores the offset of the first byte
 * that does not begin a well-formed sequence (every byte before it is valid UTF-8).
 */
int core_utf8_validate(const void *p, size_t len, size_t *bad_off_out);
bool core_utf8_is_valid(const void *p, size_t len);

/*
 * Decode the code point that starts at p[0..len). Returns the sequence length (1-4) and sets
 * *cp_out, or CORE_ESYNTAX for an empty, truncated, overlong, surrogate or out-of-range
 * sequence (then *cp_out is untouched).
 */
int core_utf8_decode(const void *p, size_t len, uint32_t *cp_out);

/*
 * Encode cp into out (room for CORE_UTF8_MAX_SEQ bytes, not NUL-terminated). Returns the
 * number of bytes written, or CORE_ESYNTAX for a surrogate or a value above U+10FFFF.
 */
int core_utf8_encode(uint32_t cp, char out[CORE_UTF8_MAX_SEQ]);
/* core_utf8_encode appended to b. */
int core_utf8_append(struct core_buf *b, uint32_t cp);

/* Number of code points in valid UTF-8, or CORE_ESYNTAX (as a negative long) if invalid. */
long core_utf8_count(const void *p, size_t len);

/* True when every byte is printable US-ASCII (0x20-0x7E); true for len 0. */
bool core_utf8_is_ascii_print(const void *p, size_t len);
/* True when every byte is below 0x80. */
bool core_utf8_is_ascii(const void *p, size_t len);

/* Unicode normalisation forms (UAX #15). */
enum core_utf8_form {
	CORE_UTF8_FORM_NONE = 0, /* no normalisation step */
	CORE_UTF8_NFC,
	CORE_UTF8_NFD,
	CORE_UTF8_NFKC,
	CORE_UTF8_NFKD,
};

/*
 * Normalise valid UTF-8 to the given form and append the result to out. Returns 0, or
 * CORE_ESYNTAX (input not valid UTF-8; err says where) or CORE_EINTERNAL (library failure).
 * CORE_UTF8_FORM_NONE copies the validated input.
 */
int core_utf8_normalize(const void *p, size_t len, enum core_utf8_form form, struct core_buf *out,
			struct core_error *err);
/* core_utf8_normalize(..., CORE_UTF8_NFC, ...): the form RFC 5198 asks for. */
int core_utf8_nfc(const void *p, size_t len, struct core_buf *out, struct core_error *err);

/*
 * Unicode full case folding (Unicode CaseFolding.txt status C+F, language-neutral), then the
 * given normalisation form. With a form other than NONE this is canonical caseless matching:
 * two strings are equal ignoring case when their folded forms are bytewise equal. "ß" folds to
 * "ss", "Σ" and "ς" to "σ", "ﬁ" to "fi". Returns as core_utf8_normalize.
 */
int core_utf8_casefold(const void *p, size_t len, enum core_utf8_form form, struct core_buf *out,
		       struct core_error *err);

/*
 * The comparison key of the i;unicode-casemap collation (RFC 5051 §2): each character mapped
 * to its titlecase (simple mapping), then NFKD. Two strings match under that collation when
 * their keys are bytewise equal. Returns as core_utf8_normalize.
 */
int core_utf8_casemap_key(const void *p, size_t len, struct core_buf *out, struct core_error *err);

/* Arena variants: on success *out is an arena-owned, NUL-terminated view. */
int core_utf8_nfc_arena(struct core_arena *a, struct core_str in, struct core_str *out,
			struct core_error *err);
int core_utf8_casefold_arena(struct core_arena *a, struct core_str in, enum core_utf8_form form,
			     struct core_str *out, struct core_error *err);

#endif
