/*
 * mail_mime_param.c: "type/subtype; name=value" MIME field values with their parameters.
 *
 * RFC 2045 §5.1 (Content-Type grammar: token, tspecials, quoted-string; type, subtype and
 * parameter names are case-insensitive), RFC 2183 §2 (Content-Disposition has the same
 * parameter syntax), RFC 2231 §3 (continuations name*0, name*1, ...), §4 (extended values
 * name*=charset'language'percent-encoded), §4.1 (mixing encoded and plain sections), RFC 6532
 * §3.2 (raw UTF-8 in values). Lenient where real mail needs it: unquoted values with spaces,
 * unclosed quotes, stray and trailing semicolons, RFC 2047 encoded words inside quoted values
 * (forbidden by RFC 2047 §5 (3), yet written by common clients), raw 8-bit values.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

/* RFC 2045 §5.1: tspecials. */
static bool tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>; raw
 * 8-bit octets are accepted too (RFC 6532). */
static bool token_char(unsigned char c)
{
	return c > 0x20 && c != 0x7F && !tspecial(c);
}

struct raw_param {
	struct core_str base; /* lower-case name without the RFC 2231 suffix */
	long section;         /* -1 when the name had no "*N" */
	bool extended;        /* ends with '*' */
	struct core_str value;
	size_t order;
	bool unquoted_junk;
};

static size_t read_token(const char *p, size_t len, size_t i)
{
	while (i < len && token_char((unsigned char)p[i]))
		i++;
	return i;
}

/* Quoted string at p[i] == '"': unescaped content into b; returns the index after it.
 * An unclosed quote runs to the end (lenient). */
static size_t read_quoted(const char *p, size_t len, size_t i, struct core_buf *b)
{
	i++;
	while (i < len && p[i] != '"') {
		if (p[i] == '\\' && i + 1 < len)
			i++;
		core_buf_putc(b, p[i]);
		i++;
	}
	return i < len ? i + 1 : i;
}

/* Split an RFC 2231 name ("title*1*") into its parts. */
static void name_split(struct core_arena *a, struct core_str name, struct raw_param *rp)
{
	rp->section = -1;
	rp->extended = false;
	const char *star = memchr(name.p, '*', name.len);
	if (star == NULL) {
		rp->base = mail_str_lower(a, name);
		return;
	}
	size_t blen = (size_t)(star - name.p);
	const char *s = star + 1, *e = name.p + name.len;
	long sec = -1;
	if (s < e && core_ascii_isdigit(*s)) {
		sec = 0;
		int digits = 0;
		while (s < e && core_ascii_isdigit(*s) && digits < 9) {
			sec = sec * 10 + (*s - '0');
			s++;
			digits++;
		}
		/* RFC 2231 §3: no leading zeros ("*01" is not section 1). */
		if (digits > 1 && name.p[blen + 1] == '0')
			sec = -2;
	}
	bool ext = false;
	if (sec == -1) {
		ext = true; /* "name*": extended, no section */
	} else if (s < e && *s == '*') {
		ext = true;
		s++;
	}
	if (s != e || sec == -2 || blen == 0) {
		/* Not RFC 2231 syntax: the whole name is a plain parameter name. */
		rp->base = mail_str_lower(a, name);
		return;
	}
	rp->base = mail_str_lower(a, core_str_make(name.p, blen));
	rp->section = sec;
	rp->extended = ext;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = core_ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 2231 §4: percent-decode an extended value (a bad escape is kept literally). */
static void pct_decode(struct core_str v, struct core_buf *out)
{
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] == '%' && i + 2 < v.len) {
			int h = hexval(v.p[i + 1]), l = hexval(v.p[i + 2]);
			if (h >= 0 && l >= 0) {
				core_buf_putc(out, (char)(h * 16 + l));
				i += 2;
				continue;
			}
		}
		core_buf_putc(out, v.p[i]);
	}
}

/* Order raw parameters by name, then section, then position: a group per name. */
static int group_cmp(const void *x, const void *y)
{
	const struct raw_param *a = *(const struct raw_param *const *)x;
	const struct raw_param *b = *(const struct raw_param *const *)y;
	int c = core_str_cmp(a->base, b->base);
	if (c != 0)
		return c;
	/* Plain (section -1, not extended) first, then sections in order. */
	long sa = a->section < 0 && !a->extended ? -2 : a->section;
	long sb = b->section < 0 && !b->extended ? -2 : b->section;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return a->order < b->order ? -1 : (a->order > b->order);
}

struct built_param {
	struct mail_param p;
	size_t first;
};

static int built_cmp(const void *x, const void *y)
{
	const struct built_param *a = x, *b = y;
	return a->first < b->first ? -1 : (a->first > b->first);
}

/* Plain value: RFC 2047 words decoded (non-standard but common), 8-bit made UTF-8. */
static struct core_str plain_value(struct core_arena *a, struct core_str v, unsigned *flags)
{
	struct core_buf b = CORE_BUF_INIT;
	if (memmem(v.p, v.len, "=?", 2) != NULL) {
		if (mail_ew_decode(v.p, v.len, MAIL_EW_LENIENT, &b) > 0)
			*flags |= MAIL_PARAM_F_EW;
	} else if (!core_utf8_is_ascii(v.p, v.len)) {
		if (mail_charset_unknown_append(v.p, v.len, &b) != MAIL_CHARSET_OK)
			*flags |= MAIL_PARAM_F_CHARSET_BAD;
	} else {
		core_buf_append(&b, v.p, v.len);
	}
	struct core_str s = mail_buf_to_arena(a, &b);
	core_buf_fini(&b);
	return s;
}

/* RFC 2231 §3-§4: join the sections of one parameter (sorted) and convert the octets. */
static void assemble_2231(struct core_arena *a, struct raw_param **secs, size_t n,
			  struct mail_param *out)
{
	struct core_buf bytes = CORE_BUF_INIT, utf8 = CORE_BUF_INIT;
	char *charset = NULL;
	long expect = 0;
	out->flags |= MAIL_PARAM_F_2231;
	for (size_t i = 0; i < n; i++) {
		struct raw_param *rp = secs[i];
		long sec = rp->section < 0 ? 0 : rp->section;
		if (i > 0 && sec == secs[i - 1]->section)
			continue; /* duplicate section: the first wins */
		if (sec != expect)
			out->flags |= MAIL_PARAM_F_GAP;
		expect = sec + 1;
		struct core_str v = rp->value;
		if (rp->extended && i == 0 && sec == 0) {
			/* RFC 2231 §4: charset'language'value in the first section. */
			const char *q1 = memchr(v.p, '\'', v.len);
			const char *q2 =
				q1 != NULL ? memchr(q1 + 1, '\'', v.len - (size_t)(q1 + 1 - v.p))
					   : NULL;
			if (q2 != NULL) {
				charset = core_str_dup(a, core_str_make(v.p, (size_t)(q1 - v.p)));
				out->charset = mail_str_lower(a, core_str_from_cstr(charset));
				out->language = core_str_make(
					core_str_dup(a,
						     core_str_make(q1 + 1, (size_t)(q2 - q1 - 1))),
					(size_t)(q2 - q1 - 1));
				v = core_str_make(q2 + 1, v.len - (size_t)(q2 + 1 - v.p));
			}
		}
		if (rp->extended)
			pct_decode(v, &bytes);
		else
			core_buf_append(&bytes, v.p, v.len);
	}
	int r;
	if (charset != NULL && charset[0] != '\0')
		r = mail_charset_to_utf8(charset, bytes.p, bytes.len, &utf8);
	else
		r = mail_charset_unknown_append(bytes.p != NULL ? bytes.p : "", bytes.len, &utf8);
	if (r != MAIL_CHARSET_OK)
		out->flags |= MAIL_PARAM_F_CHARSET_BAD;
	out->value = mail_buf_to_arena(a, &utf8);
	if (out->charset.p == NULL)
		out->charset = core_str_make("", 0);
	if (out->language.p == NULL)
		out->language = core_str_make("", 0);
	core_buf_fini(&bytes);
	core_buf_fini(&utf8);
}

void mail_mime_value_parse(struct core_arena *a, struct core_str raw, bool want_subtype,
			   struct mail_mime_value *out)
{
	memset(out, 0, sizeof(*out));
	struct core_str u = mail_hdr_unfold(a, raw);
	const char *p = u.p;
	size_t len = u.len, i = 0;
	mail_cfws_skip(p, len, &i, NULL);
	size_t t0 = i;
	i = read_token(p, len, i);
	out->type = mail_str_lower(a, core_str_make(p + t0, i - t0));
	out->subtype = core_str_make("", 0);
	if (i == t0)
		out->invalid = true;
	if (want_subtype) {
		mail_cfws_skip(p, len, &i, NULL);
		if (i < len && p[i] == '/') {
			i++;
			mail_cfws_skip(p, len, &i, NULL);
			size_t s0 = i;
			i = read_token(p, len, i);
			out->subtype = mail_str_lower(a, core_str_make(p + s0, i - s0));
			if (i == s0)
				out->invalid = true;
		} else {
			out->invalid = true;
		}
	}

	size_t cap = 8, n = 0;
	struct raw_param *rps = core_xmalloc(cap * sizeof(*rps));
	struct core_buf qb = CORE_BUF_INIT;
	while (i < len) {
		mail_cfws_skip(p, len, &i, NULL);
		if (i >= len)
			break;
		if (p[i] != ';') {
			out->invalid = true;
			/* A "name=" where the ';' belongs (a forgotten separator, common after a
			 * folded type) still starts a parameter; other junk is skipped up to the
			 * next ';'. */
			size_t k = read_token(p, len, i);
			size_t e = k;
			mail_cfws_skip(p, len, &e, NULL);
			if (k == i || e >= len || p[e] != '=') {
				const char *semi = memchr(p + i, ';', len - i);
				if (semi == NULL)
					break;
				i = (size_t)(semi - p) + 1;
			}
		} else {
			i++;
		}
		mail_cfws_skip(p, len, &i, NULL);
		size_t n0 = i;
		i = read_token(p, len, i);
		struct core_str name = core_str_make(p + n0, i - n0);
		mail_cfws_skip(p, len, &i, NULL);
		/* A name must start with a token character other than '*' (RFC 2231 §3 puts
		 * the '*' after a name). */
		if (name.len == 0 || name.p[0] == '*' || i >= len || p[i] != '=') {
			if (name.len != 0 || (i < len && p[i] != ';'))
				out->invalid = true;
			continue;
		}
		i++;
		mail_cfws_skip(p, len, &i, NULL);
		struct raw_param rp = {0};
		if (i < len && p[i] == '"') {
			core_buf_reset(&qb);
			i = read_quoted(p, len, i, &qb);
			rp.value = core_str_make(
				core_arena_memdup(a, qb.p != NULL ? qb.p : "", qb.len), qb.len);
		} else {
			size_t v0 = i;
			i = read_token(p, len, i);
			size_t v1 = i;
			size_t k = i;
			mail_cfws_skip(p, len, &k, NULL);
			if (k < len && p[k] != ';') {
				/* Unquoted value with spaces or specials: take it up to ';'. */
				const char *semi = memchr(p + v1, ';', len - v1);
				v1 = semi != NULL ? (size_t)(semi - p) : len;
				i = v1;
				rp.unquoted_junk = true;
			}
			rp.value = core_str_trim(core_str_make(p + v0, v1 - v0));
		}
		name_split(a, name, &rp);
		rp.order = n;
		if (n == cap) {
			cap *= 2;
			rps = core_xrealloc(rps, cap * sizeof(*rps));
		}
		rps[n++] = rp;
	}
	core_buf_fini(&qb);

	/* Assemble one mail_param per distinct base name, in order of first appearance. */
	struct raw_param **sorted = core_xmalloc((n ? n : 1) * sizeof(*sorted));
	struct built_param *built = core_xcalloc(n ? n : 1, sizeof(*built));
	size_t nb = 0;
	for (size_t k = 0; k < n; k++)
		sorted[k] = &rps[k];
	qsort(sorted, n, sizeof(*sorted), group_cmp);
	for (size_t k = 0; k < n;) {
		size_t e = k;
		size_t first = sorted[k]->order;
		struct raw_param *plain = NULL;
		while (e < n && core_str_eq(sorted[e]->base, sorted[k]->base)) {
			if (sorted[e]->order < first)
				first = sorted[e]->order;
			if (sorted[e]->section < 0 && !sorted[e]->extended && plain == NULL)
				plain = sorted[e];
			e++;
		}
		size_t s0 = k;
		while (s0 < e && sorted[s0]->section < 0 && !sorted[s0]->extended)
			s0++;
		struct built_param *bp = &built[nb++];
		struct mail_param *mp = &bp->p;
		bp->first = first;
		mp->name = sorted[k]->base;
		if (s0 < e) {
			/* RFC 2231 §3: sections are joined in numeric order; the extended form
			 * wins over a plain parameter of the same name. */
			assemble_2231(a, sorted + s0, e - s0, mp);
		} else {
			mp->value = plain_value(a, plain->value, &mp->flags);
			mp->charset = core_str_make("", 0);
			mp->language = core_str_make("", 0);
		}
		for (size_t m = k; m < e; m++)
			if (sorted[m]->unquoted_junk)
				mp->flags |= MAIL_PARAM_F_UNQUOTED;
		k = e;
	}
	qsort(built, nb, sizeof(*built), built_cmp);
	out->params = core_arena_zalloc(a, (nb ? nb : 1) * sizeof(*out->params));
	for (size_t k = 0; k < nb; k++)
		out->params[k] = built[k].p;
	out->nparams = nb;
	free(sorted);
	free(built);
	free(rps);
}

const struct mail_param *mail_mime_param_find(const struct mail_mime_value *v, const char *name)
{
	for (size_t i = 0; i < v->nparams; i++)
		if (core_str_eq_cstr_ci(v->params[i].name, name))
			return &v->params[i];
	return NULL;
}
