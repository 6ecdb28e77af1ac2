/*
 * mail_mime_ew.c: RFC 2047 encoded words, decoded to UTF-8.
 *
 * RFC 2047 §2 (syntax: "=?" charset "?" encoding "?" encoded-text "?="), §4.1 (B: base64),
 * §4.2 (Q: quoted-printable variant with '_' for space), §6.2 (white space between adjacent
 * encoded words is ignored), RFC 2231 §5 (charset "*" language). Decoding is lenient in the
 * ways real mail needs: lower-case encodings, encoded words touching other text, characters
 * split across adjacent encoded words of the same charset (their octets are joined before
 * conversion), bad base64 padding. A sequence that is not a well-formed encoded word is
 * copied as text.
 */
#include <string.h>

#include "core/core_codec.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* RFC 2047 §2: an encoded word is at most 75 characters; we accept longer ones (common),
 * but bound the charset name. */
#define EW_CHARSET_MAX 63

struct ew {
	size_t end;                       /* offset just past "?=" */
	char charset[EW_CHARSET_MAX + 1]; /* without the RFC 2231 language */
	char enc;                         /* 'B' or 'Q' */
	size_t text_off, text_len;
};

/* RFC 2047 §2: especials may not appear in charset or encoding. */
static bool ew_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/* Parse an encoded word starting at p[i] ("=?"); false if it is not one. */
static bool ew_parse(const char *p, size_t len, size_t i, struct ew *ew)
{
	size_t j = i + 2, cs = j;
	while (j < len && ew_token_char((unsigned char)p[j]))
		j++;
	/* The charset may contain '.' in the wild ("iso8859.1") is not allowed; '*' is. */
	if (j == cs || j >= len || p[j] != '?' || j - cs > EW_CHARSET_MAX)
		return false;
	size_t cslen = j - cs;
	const char *star = memchr(p + cs, '*', cslen);
	if (star != NULL)
		cslen = (size_t)(star - (p + cs)); /* RFC 2231 §5: drop the language */
	if (cslen == 0)
		return false;
	memcpy(ew->charset, p + cs, cslen);
	ew->charset[cslen] = '\0';
	j++;
	if (j + 1 >= len || p[j + 1] != '?')
		return false;
	char e = core_ascii_upper(p[j]);
	if (e != 'B' && e != 'Q')
		return false;
	ew->enc = e;
	j += 2;
	ew->text_off = j;
	/* RFC 2047 §2: encoded-text has no '?' and no white space. */
	while (j < len && p[j] != '?' && (unsigned char)p[j] > 0x20 && (unsigned char)p[j] < 0x7F)
		j++;
	if (j + 1 >= len || p[j] != '?' || p[j + 1] != '=')
		return false;
	ew->text_len = j - ew->text_off;
	ew->end = j + 2;
	return true;
}

/* Raw text between encoded words: ASCII as is, 8-bit through the unknown-charset rule
 * (RFC 6532 UTF-8, else the windows-1252 fallback). */
static bool is_wsp(char c);

static bool is_wsp_only(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_wsp(p[i]))
			return false;
	return true;
}

static void text_append(const char *p, size_t len, struct core_buf *out)
{
	if (len == 0)
		return;
	if (core_utf8_is_ascii(p, len))
		core_buf_append(out, p, len);
	else
		mail_charset_unknown_append(p, len, out);
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Convert the joined octets of adjacent words; RFC 8621 §4.1.2.2 step 4: control characters
 * (C0, DEL, C1) that decoding produced are dropped. */
static void pending_flush(char *charset, struct core_buf *pending, struct core_buf *tmp,
			  struct core_buf *out)
{
	if (charset[0] == '\0')
		return;
	core_buf_reset(tmp);
	mail_charset_to_utf8(charset, pending->p != NULL ? pending->p : "", pending->len, tmp);
	core_buf_reserve(out, tmp->len);
	for (size_t i = 0; i < tmp->len; i++) {
		unsigned char c = (unsigned char)tmp->p[i];
		if (c < 0x20 || c == 0x7F)
			continue;
		if (c == 0xC2 && i + 1 < tmp->len && (unsigned char)tmp->p[i + 1] >= 0x80 &&
		    (unsigned char)tmp->p[i + 1] <= 0x9F) {
			i++;
			continue;
		}
		core_buf_putc(out, (char)c);
	}
	core_buf_reset(pending);
	charset[0] = '\0';
}

int mail_ew_decode(const char *p, size_t len, unsigned flags, struct core_buf *out)
{
	struct core_buf pending = CORE_BUF_INIT, tmp = CORE_BUF_INIT;
	char pend_cs[EW_CHARSET_MAX + 1] = "";
	int count = 0;
	size_t i = 0, text_start = 0;
	bool prev_ew = false;
	core_buf_append(out, "", 0);
	while (i + 1 < len) {
		const char *q = memchr(p + i, '=', len - i - 1);
		if (q == NULL)
			break;
		i = (size_t)(q - p);
		struct ew ew;
		if (p[i + 1] != '?' || !ew_parse(p, len, i, &ew)) {
			i++;
			continue;
		}
		/* RFC 2047 §5 (1): an encoded word is separated from text by white space;
		 * RFC 8621 §4.1.2.2: only known charsets are decoded. */
		bool placed = (i == 0 || is_wsp(p[i - 1])) && (ew.end == len || is_wsp(p[ew.end]));
		if ((!placed && !(flags & MAIL_EW_LENIENT)) ||
		    mail_charset_canonical(ew.charset) == NULL) {
			i++;
			continue;
		}
		/* RFC 2047 §6.2: white space between two encoded words is dropped. */
		bool gap_is_space = is_wsp_only(p + text_start, i - text_start);
		if (!(prev_ew && gap_is_space)) {
			pending_flush(pend_cs, &pending, &tmp, out);
			text_append(p + text_start, i - text_start, out);
		}
		if (pend_cs[0] != '\0' && core_strcasecmp_ascii(pend_cs, ew.charset) != 0)
			pending_flush(pend_cs, &pending, &tmp, out);
		if (pend_cs[0] == '\0')
			memcpy(pend_cs, ew.charset, strlen(ew.charset) + 1);
		if (ew.enc == 'B')
			core_base64_decode_mime(p + ew.text_off, ew.text_len, &pending);
		else
			core_qp_decode(p + ew.text_off, ew.text_len, CORE_QP_Q, &pending);
		count++;
		prev_ew = true;
		i = text_start = ew.end;
	}
	pending_flush(pend_cs, &pending, &tmp, out);
	text_append(p + text_start, len - text_start, out);
	core_buf_fini(&pending);
	core_buf_fini(&tmp);
	return count;
}
