/* core_utf8.c: UTF-8 checks and Unicode normalisation/folding (RFC 3629, RFC 5198, RFC 5051). */
#include "core/core_utf8.h"

#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "core/core_arena.h"
#include "core/core_buf.h"
#include "core/core_err.h"
#include "core/core_mem.h"

/*
 * RFC 3629 §4: the well-formed sequences. For each lead byte, the number of continuation
 * bytes and the allowed range of the first continuation byte; the others are 80-BF. The
 * narrowed first ranges exclude overlong forms (E0, F0), surrogates (ED) and values above
 * U+10FFFF (F4). Lead bytes C0, C1 and F5-FF never occur.
 */
static int utf8_seq_len(const unsigned char *s, size_t len, uint32_t *cp_out)
{
	if (len == 0)
		return CORE_ESYNTAX;
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp_out = c;
		return 1;
	}
	int n;
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 1;
		cp = c & 0x1Fu;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 2;
		cp = c & 0x0Fu;
		if (c == 0xE0)
			lo = 0xA0; /* overlong below U+0800 */
		else if (c == 0xED)
			hi = 0x9F; /* U+D800-U+DFFF are surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 3;
		cp = c & 0x07u;
		if (c == 0xF0)
			lo = 0x90; /* overlong below U+10000 */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return CORE_ESYNTAX;
	}
	if (len < (size_t)n + 1)
		return CORE_ESYNTAX;
	for (int i = 1; i <= n; i++) {
		unsigned char b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
			return CORE_ESYNTAX;
		cp = (cp << 6) | (b & 0x3Fu);
	}
	*cp_out = cp;
	return n + 1;
}

int core_utf8_validate(const void *p, size_t len, size_t *bad_off_out)
{
	const unsigned char *s = p;
	size_t i = 0;
	while (i < len) {
		/* Fast path for runs of ASCII. */
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t cp;
		int n = utf8_seq_len(s + i, len - i, &cp);
		if (n < 0) {
			if (bad_off_out != NULL)
				*bad_off_out = i;
			return CORE_ESYNTAX;
		}
		i += (size_t)n;
	}
	return 0;
}

bool core_utf8_is_valid(const void *p, size_t len)
{
	return core_utf8_validate(p, len, NULL) == 0;
}

int core_utf8_decode(const void *p, size_t len, uint32_t *cp_out)
{
	return utf8_seq_len(p, len, cp_out);
}

int core_utf8_encode(uint32_t cp, char out[CORE_UTF8_MAX_SEQ])
{
	/* RFC 3629 §3: surrogates and values above U+10FFFF have no encoding. */
	if (cp > CORE_UTF8_MAX_CP || (cp >= 0xD800 && cp <= 0xDFFF))
		return CORE_ESYNTAX;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int core_utf8_append(struct core_buf *b, uint32_t cp)
{
	char tmp[CORE_UTF8_MAX_SEQ];
	int n = core_utf8_encode(cp, tmp);
	if (n > 0)
		core_buf_append(b, tmp, (size_t)n);
	return n;
}

long core_utf8_count(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i = 0;
	long count = 0;
	while (i < len) {
		uint32_t cp;
		int n = utf8_seq_len(s + i, len - i, &cp);
		if (n < 0)
			return CORE_ESYNTAX;
		i += (size_t)n;
		count++;
	}
	return count;
}

bool core_utf8_is_ascii_print(const void *p, size_t len)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7E)
			return false;
	}
	return true;
}

bool core_utf8_is_ascii(const void *p, size_t len)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x80)
			return false;
	}
	return true;
}

static uninorm_t utf8_form_nf(enum core_utf8_form form)
{
	switch (form) {
	case CORE_UTF8_NFC:
		return UNINORM_NFC;
	case CORE_UTF8_NFD:
		return UNINORM_NFD;
	case CORE_UTF8_NFKC:
		return UNINORM_NFKC;
	case CORE_UTF8_NFKD:
		return UNINORM_NFKD;
	case CORE_UTF8_FORM_NONE:
	default:
		return NULL;
	}
}

static int utf8_check_input(const void *p, size_t len, struct core_error *err)
{
	size_t bad;
	if (core_utf8_validate(p, len, &bad) < 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 3629 §4",
				      "invalid UTF-8 at byte offset %zu", bad);
	return 0;
}

/*
 * Append a libunistring result to out. libunistring returns either resultbuf (the stack
 * buffer we passed) or a malloc'd block we must free; NULL means it failed (out of memory or
 * a bug, since the input was validated first). Callers handle empty input before calling.
 */
static int utf8_take_result(uint8_t *res, uint8_t *stackbuf, size_t rlen, struct core_buf *out,
			    struct core_error *err)
{
	if (res == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "Unicode mapping failed");
	core_buf_append(out, res, rlen);
	if (res != stackbuf)
		free(res);
	return 0;
}

int core_utf8_normalize(const void *p, size_t len, enum core_utf8_form form, struct core_buf *out,
			struct core_error *err)
{
	int rc = utf8_check_input(p, len, err);
	if (rc < 0)
		return rc;
	uninorm_t nf = utf8_form_nf(form);
	if (len == 0 || nf == NULL) {
		core_buf_append(out, p, len);
		return 0;
	}
	uint8_t stackbuf[256];
	size_t rlen = sizeof(stackbuf);
	uint8_t *res = u8_normalize(nf, p, len, stackbuf, &rlen);
	return utf8_take_result(res, stackbuf, rlen, out, err);
}

int core_utf8_nfc(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	return core_utf8_normalize(p, len, CORE_UTF8_NFC, out, err);
}

int core_utf8_casefold(const void *p, size_t len, enum core_utf8_form form, struct core_buf *out,
		       struct core_error *err)
{
	int rc = utf8_check_input(p, len, err);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	uint8_t stackbuf[256];
	size_t rlen = sizeof(stackbuf);
	/* A NULL language selects the language-neutral full folding of CaseFolding.txt. */
	uint8_t *res = u8_casefold(p, len, NULL, utf8_form_nf(form), stackbuf, &rlen);
	return utf8_take_result(res, stackbuf, rlen, out, err);
}

int core_utf8_casemap_key(const void *p, size_t len, struct core_buf *out, struct core_error *err)
{
	int rc = utf8_check_input(p, len, err);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	/* RFC 5051 §2 step 1: map every character to its titlecase form, one by one. */
	struct core_buf title = CORE_BUF_INIT;
	const unsigned char *s = p;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		int n = utf8_seq_len(s + i, len - i, &cp);
		CORE_ASSERT(n > 0);
		(void)core_utf8_append(&title, (uint32_t)uc_totitle(cp));
		i += (size_t)n;
	}
	/* RFC 5051 §2 step 2: compatibility decomposition (NFKD). */
	rc = core_utf8_normalize(title.p, title.len, CORE_UTF8_NFKD, out, err);
	core_buf_fini(&title);
	return rc;
}

static int utf8_to_arena(struct core_arena *a, struct core_buf *tmp, int rc, struct core_str *out)
{
	if (rc >= 0) {
		/* Copy with memcpy: U+0000 is valid UTF-8, so the text may hold NUL bytes. */
		char *s = core_arena_alloc(a, tmp->len + 1);
		if (tmp->len > 0)
			memcpy(s, tmp->p, tmp->len);
		s[tmp->len] = '\0';
		*out = core_str_make(s, tmp->len);
	}
	core_buf_fini(tmp);
	return rc;
}

int core_utf8_nfc_arena(struct core_arena *a, struct core_str in, struct core_str *out,
			struct core_error *err)
{
	struct core_buf tmp = CORE_BUF_INIT;
	int rc = core_utf8_nfc(in.p, in.len, &tmp, err);
	return utf8_to_arena(a, &tmp, rc, out);
}

int core_utf8_casefold_arena(struct core_arena *a, struct core_str in, enum core_utf8_form form,
			     struct core_str *out, struct core_error *err)
{
	struct core_buf tmp = CORE_BUF_INIT;
	int rc = core_utf8_casefold(in.p, in.len, form, &tmp, err);
	return utf8_to_arena(a, &tmp, rc, out);
}
