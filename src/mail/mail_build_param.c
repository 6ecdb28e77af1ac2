/*
 * mail_build_param.c: MIME parameters written by the message builder (see mail.h).
 *
 * RFC 2045 §5.1 (token and quoted-string values, tspecials), RFC 2231 §3 (continuations
 * name*0, name*1, ...), §4 (name*=charset'language'percent-encoded), §4.1 (charset only in the
 * first section), §7 (attribute-char: what may stay unescaped).
 */
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* Octets of a parameter value per RFC 2231 section. */
#define PARAM_SECTION 48

/* ------------------------------------------------------------------------------------- */
/* MIME parameters (RFC 2045 §5.1, RFC 2231)                                              */
/* ------------------------------------------------------------------------------------- */

static bool tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

bool mail_build_token_ok(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7F || tspecial(c))
			return false;
	}
	return true;
}

/* RFC 2231 §7 attribute-char: a token character other than '*', '\'' and '%'. */
static bool attr_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && !tspecial(c) && c != '*' && c != '\'' && c != '%';
}

void mail_build_param_items(struct mail_bitems *it, const char *name, const char *value)
{
	size_t len = strlen(value), nl = strlen(name);
	struct core_buf b = CORE_BUF_INIT;
	/* Plain values holding "=?" would be read as RFC 2047 words by lenient readers (ours
	 * too, mail_mime_param.c): they go out percent-encoded like non-ASCII ones. */
	bool ascii = core_utf8_is_ascii(value, len) && !mail_build_has_ew(value, len);
	if (ascii && mail_build_token_ok(value, len) && nl + len + 1 <= 60) {
		core_buf_printf(&b, "%s=%s", name, value);
		mail_bitems_add(it, " ", 1, b.p, b.len, false);
	} else if (ascii && nl + len + 3 <= 60) {
		core_buf_printf(&b, "%s=", name);
		mail_build_quote(&b, value, len);
		mail_bitems_add(it, " ", 1, b.p, b.len, false);
	} else if (ascii) {
		/* RFC 2231 §3: name*0="...", name*1="..." */
		size_t pos = 0;
		for (unsigned sec = 0; pos < len; sec++) {
			size_t n = len - pos < PARAM_SECTION ? len - pos : PARAM_SECTION;
			core_buf_reset(&b);
			core_buf_printf(&b, "%s*%u=", name, sec);
			mail_build_quote(&b, value + pos, n);
			if (sec > 0)
				mail_bitems_glue(it, ";");
			mail_bitems_add(it, " ", 1, b.p, b.len, false);
			pos += n;
		}
	} else {
		/* RFC 2231 §4: name*=utf-8''%XX... (one section) or §4.1 name*0*=utf-8''...,
		 * name*1*=... with no character split between sections. */
		size_t total = 0;
		for (size_t i = 0; i < len; i++)
			total += attr_char((unsigned char)value[i]) ? 1 : 3;
		bool one = total <= PARAM_SECTION;
		size_t pos = 0;
		for (unsigned sec = 0; pos < len; sec++) {
			core_buf_reset(&b);
			if (one)
				core_buf_printf(&b, "%s*=utf-8''", name);
			else if (sec == 0)
				core_buf_printf(&b, "%s*0*=utf-8''", name);
			else
				core_buf_printf(&b, "%s*%u*=", name, sec);
			size_t used = 0;
			while (pos < len) {
				size_t n = mail_build_seq_len(value + pos, len - pos), cost = 0;
				for (size_t k = 0; k < n; k++)
					cost += attr_char((unsigned char)value[pos + k]) ? 1 : 3;
				if (used > 0 && used + cost > PARAM_SECTION)
					break;
				for (size_t k = 0; k < n; k++) {
					unsigned char c = (unsigned char)value[pos + k];
					if (attr_char(c))
						core_buf_putc(&b, (char)c);
					else
						core_buf_printf(&b, "%%%02X", c);
				}
				used += cost;
				pos += n;
			}
			if (sec > 0)
				mail_bitems_glue(it, ";");
			mail_bitems_add(it, " ", 1, b.p, b.len, false);
		}
	}
	core_buf_fini(&b);
}
