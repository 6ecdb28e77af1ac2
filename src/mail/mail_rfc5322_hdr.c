/*
 * mail_rfc5322_hdr.c: header field splitting, unfolding and the Text form.
 *
 * RFC 5322 §2.1 (lines end in CRLF; bare LF is accepted and offsets stay on the input),
 * §2.1.1 (998-octet line limit, reported through the line-length limit), §2.2 (field =
 * name ":" value, ftext names), §2.2.3 (unfolding), §3.2.2 (CFWS and comments), §3.5 (the
 * header ends at the first empty line), §4.5 (obsolete: white space before the colon).
 * Lines that are not fields stay in the header range, flagged as junk.
 * RFC 6532 §3.2 (UTF-8 in field values). RFC 8621 §4.1.2.2 (Text form).
 */
#include <stdlib.h>
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

struct core_str mail_str_lower(struct core_arena *a, struct core_str s)
{
	char *d = core_arena_alloc(a, s.len + 1);
	for (size_t i = 0; i < s.len; i++)
		d[i] = core_ascii_lower(s.p[i]);
	d[s.len] = '\0';
	return core_str_make(d, s.len);
}

struct core_str mail_buf_to_arena(struct core_arena *a, const struct core_buf *b)
{
	if (b->len == 0)
		return core_str_make(core_arena_strndup(a, "", 0), 0);
	return core_str_make(core_arena_strndup(a, b->p, b->len), b->len);
}

struct core_str mail_utf8_nfc(struct core_arena *a, const char *p, size_t len)
{
	/* RFC 5198 §2 / RFC 8621 §4.1.2.2: text is NFC-normalised. ASCII is already NFC. */
	if (core_utf8_is_ascii(p, len))
		return core_str_make(core_arena_strndup(a, p, len), len);
	struct core_str out;
	if (core_utf8_nfc_arena(a, core_str_make(p, len), &out, NULL) == 0)
		return out;
	return core_str_make(core_arena_strndup(a, p, len), len);
}

/* RFC 5322 §3.6.8: ftext is printable US-ASCII except ':'. */
static bool ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

size_t mail_line_next(const char *data, size_t pos, size_t end, size_t *content_len_out)
{
	const char *nl = memchr(data + pos, '\n', end - pos);
	size_t next = nl != NULL ? (size_t)(nl - data) + 1 : end;
	size_t clen = next - pos;
	if (nl != NULL) {
		clen--;
		if (clen > 0 && data[pos + clen - 1] == '\r')
			clen--;
	} else if (clen > 0 && data[end - 1] == '\r') {
		clen--;
	}
	*content_len_out = clen;
	return next;
}

void mail_hdr_split(struct core_arena *a, const char *data, size_t start, size_t end,
		    const struct mail_limits *lim, struct mail_hdr_result *res)
{
	memset(res, 0, sizeof(*res));
	res->long_line_off = SIZE_MAX;
	size_t cap = 16, n = 0;
	struct mail_field *fields = core_xmalloc(cap * sizeof(*fields));
	struct mail_field *cur = NULL;
	size_t pos = start;
	res->len = end - start; /* no empty line: all of it is header */
	res->flags |= MAIL_PART_F_NO_BLANK_LINE;
	while (pos < end) {
		size_t clen;
		size_t next = mail_line_next(data, pos, end, &clen);
		const char *line = data + pos;
		if (lim->max_line_len != 0 && clen > lim->max_line_len &&
		    res->long_line_off == SIZE_MAX)
			res->long_line_off = pos;
		if (clen == 0) {
			/* RFC 5322 §2.1: the empty line separates header and body. */
			res->lines++;
			res->len = next - start;
			res->flags &= ~(unsigned)MAIL_PART_F_NO_BLANK_LINE;
			break;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			/* RFC 5322 §2.2.3: a folded continuation of the field above. */
			if (cur != NULL)
				cur->len = next - cur->off;
			else
				res->flags |= MAIL_PART_F_HDR_JUNK;
			res->lines++;
			pos = next;
			continue;
		}
		size_t fpos = pos;
		if (pos == start && clen >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			/* A UTF-8 byte order mark before the first field: kept in the header
			 * range as junk, the field starts after it. */
			res->flags |= MAIL_PART_F_HDR_JUNK;
			line += 3;
			clen -= 3;
			fpos += 3;
		}
		size_t k = 0;
		while (k < clen && ftext((unsigned char)line[k]))
			k++;
		size_t name_len = k;
		/* RFC 5322 §4.5: obsolete white space between name and colon. */
		while (k < clen && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (name_len == 0 || k >= clen || line[k] != ':') {
			/* Not a field (an mbox "From " line, a fold that lost its white space,
			 * a stray text line): kept in the header range as junk, and the header
			 * goes on to the empty line, as GMime, Dovecot and most readers do. Its
			 * continuation lines are junk too. */
			res->flags |= MAIL_PART_F_HDR_JUNK;
			res->lines++;
			cur = NULL;
			pos = next;
			continue;
		}
		res->lines++;
		if (lim->max_header_fields != 0 && n >= lim->max_header_fields) {
			res->dropped++;
			cur = NULL;
			/* Continuations of a dropped field are part of it, not junk. */
			size_t p2 = next;
			while (p2 < end && (data[p2] == ' ' || data[p2] == '\t')) {
				size_t c2;
				p2 = mail_line_next(data, p2, end, &c2);
				res->lines++;
			}
			pos = p2;
			continue;
		}
		if (n == cap) {
			cap *= 2;
			fields = core_xrealloc(fields, cap * sizeof(*fields));
		}
		cur = &fields[n++];
		cur->off = fpos;
		cur->len = next - fpos;
		cur->name = core_str_make(line, name_len);
		cur->value = core_str_make(line + k + 1, 0); /* set below */
		pos = next;
	}
	for (size_t i = 0; i < n; i++) {
		struct mail_field *f = &fields[i];
		size_t vstart = (size_t)(f->value.p - data);
		size_t vend = f->off + f->len;
		/* The value excludes the final line ending. */
		if (vend > vstart && data[vend - 1] == '\n')
			vend--;
		if (vend > vstart && data[vend - 1] == '\r')
			vend--;
		f->value.len = vend - vstart;
		f->eight_bit = !core_utf8_is_ascii(f->value.p, f->value.len);
	}
	res->header.fields = core_arena_memdup(a, fields, n * sizeof(*fields));
	res->header.count = n;
	res->header.dropped = res->dropped;
	free(fields);
}

const struct mail_field *mail_header_find(const struct mail_header *h, const char *name)
{
	for (size_t i = 0; i < h->count; i++)
		if (core_str_eq_cstr_ci(h->fields[i].name, name))
			return &h->fields[i];
	return NULL;
}

const struct mail_field *mail_header_find_last(const struct mail_header *h, const char *name)
{
	for (size_t i = h->count; i-- > 0;)
		if (core_str_eq_cstr_ci(h->fields[i].name, name))
			return &h->fields[i];
	return NULL;
}

size_t mail_header_count(const struct mail_header *h, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < h->count; i++)
		if (core_str_eq_cstr_ci(h->fields[i].name, name))
			c++;
	return c;
}

static void unfold_append(struct core_buf *b, struct core_str raw)
{
	core_buf_reserve(b, raw.len);
	for (size_t i = 0; i < raw.len; i++) {
		char c = raw.p[i];
		/* RFC 5322 §2.2.3: remove the CRLF (or bare LF) of each fold. */
		if (c == '\n')
			continue;
		if (c == '\r' && i + 1 < raw.len && raw.p[i + 1] == '\n')
			continue;
		core_buf_putc(b, c);
	}
}

struct core_str mail_hdr_unfold(struct core_arena *a, struct core_str raw)
{
	struct core_buf b = CORE_BUF_INIT;
	unfold_append(&b, raw);
	struct core_str s = mail_buf_to_arena(a, &b);
	core_buf_fini(&b);
	return s;
}

struct core_str mail_hdr_text(struct core_arena *a, struct core_str raw)
{
	struct core_buf u = CORE_BUF_INIT, d = CORE_BUF_INIT;
	unfold_append(&u, raw);
	/* RFC 8621 §4.1.2.2 steps 1-3: unfolded, no final CRLF, leading SP removed. */
	struct core_str t = core_str_make(u.p != NULL ? u.p : "", u.len);
	while (t.len > 0 && t.p[0] == ' ') {
		t.p++;
		t.len--;
	}
	mail_ew_decode(t.p, t.len, 0, &d);
	struct core_str s = mail_utf8_nfc(a, d.p, d.len);
	core_buf_fini(&u);
	core_buf_fini(&d);
	return s;
}

void mail_cfws_skip(const char *p, size_t len, size_t *i, struct core_buf *comment_out)
{
	size_t k = *i;
	while (k < len) {
		char c = p[k];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			k++;
			continue;
		}
		if (c != '(')
			break;
		/* RFC 5322 §3.2.2: comments nest and may hold quoted-pairs. An unclosed
		 * comment runs to the end of the value. */
		int depth = 0;
		while (k < len) {
			c = p[k];
			if (c == '\\' && k + 1 < len) {
				if (comment_out != NULL && depth > 0)
					core_buf_putc(comment_out, p[k + 1]);
				k += 2;
				continue;
			}
			if (c == '(') {
				if (depth > 0 && comment_out != NULL)
					core_buf_putc(comment_out, c);
				depth++;
			} else if (c == ')') {
				depth--;
				if (depth == 0) {
					k++;
					break;
				}
				if (comment_out != NULL)
					core_buf_putc(comment_out, c);
			} else if (comment_out != NULL && c != '\r' && c != '\n') {
				core_buf_putc(comment_out, c);
			}
			k++;
		}
	}
	*i = k;
}
