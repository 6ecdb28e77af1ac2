/*
 * mail_imap_view.c: the IMAP views of a parsed message: ENVELOPE, BODY and BODYSTRUCTURE
 * (RFC 9051 §7.5.2, RFC 3501 §7.4.2) and the section addressing of FETCH BODY[section]
 * (RFC 9051 §6.4.5), computed from the part tree of mail_message_parse(). Nothing here
 * parses the message again; sections resolve to byte ranges of the original bytes.
 */
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

/* Longest string sent quoted; longer ones go as literals. */
#define IMAP_QUOTED_MAX 1024

/* RFC 9051 §4.3: a quoted string holds TEXT-CHAR (7-bit, no CR, LF or NUL); '"' and '\'
 * are escaped. Anything else is sent as a literal. 8-bit text is sent as a literal so the
 * answer is valid for IMAP4rev1 clients too (RFC 3501 §4.3 quoted strings are 7-bit). */
void mail_imap_string_append(struct core_buf *out, const char *s, size_t len)
{
	if (s == NULL) {
		core_buf_append_str(out, "NIL");
		return;
	}
	bool quoted = len <= IMAP_QUOTED_MAX;
	for (size_t i = 0; quoted && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
			quoted = false;
	}
	if (!quoted) {
		core_buf_printf(out, "{%zu}\r\n", len);
		core_buf_append(out, s, len);
		return;
	}
	core_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			core_buf_putc(out, '\\');
		core_buf_putc(out, s[i]);
	}
	core_buf_putc(out, '"');
}

static void imap_str(struct core_buf *out, struct core_str s)
{
	mail_imap_string_append(out, s.p != NULL ? s.p : "", s.len);
}

/* nstring: NIL for an empty value. */
static void imap_nstr(struct core_buf *out, struct core_str s)
{
	if (s.len == 0)
		core_buf_append_str(out, "NIL");
	else
		mail_imap_string_append(out, s.p, s.len);
}

/* Upper-cased copy, for the media type, subtype, parameter names and disposition type,
 * written in upper case as in the examples of RFC 9051 §7.5.2 (they are case-insensitive). */
static void imap_str_upper(struct core_buf *out, struct core_str s)
{
	char tmp[128];
	if (s.len >= sizeof(tmp)) {
		imap_str(out, s);
		return;
	}
	for (size_t i = 0; i < s.len; i++)
		tmp[i] = core_ascii_upper(s.p[i]);
	mail_imap_string_append(out, tmp, s.len);
}

/* ------------------------------------------------------------------------------------- */
/* ENVELOPE                                                                               */
/* ------------------------------------------------------------------------------------- */

/* An envelope string field: the unfolded raw value, white space trimmed at both ends
 * (RFC 9051 §7.5.2: date, subject, in-reply-to and message-id are the header values, not
 * decoded). NIL when the field is absent. */
static void env_value(struct core_arena *a, const struct mail_header *h, const char *name,
		      struct core_buf *out)
{
	const struct mail_field *f = mail_header_find(h, name);
	if (f == NULL) {
		core_buf_append_str(out, "NIL");
		return;
	}
	struct core_str v = core_str_trim(mail_hdr_unfold(a, f->value));
	if (v.len == 0) {
		core_buf_append_str(out, "NIL");
		return;
	}
	imap_str(out, v);
}

static void env_addr(struct core_buf *out, const struct mail_addr *ad)
{
	/* RFC 9051 §7.5.2: (name adl mailbox host); the name is the phrase as written (not
	 * RFC 2047 decoded), the source route is not kept (RFC 5322 §4.4 says to ignore it). */
	core_buf_putc(out, '(');
	imap_nstr(out, ad->name_raw);
	core_buf_append_str(out, " NIL ");
	imap_str(out, ad->local);
	core_buf_putc(out, ' ');
	/* A NIL host means group syntax, so a missing domain is sent as "". */
	imap_str(out, ad->domain);
	core_buf_putc(out, ')');
}

/* Returns false when the list has no addresses and no groups (the caller writes NIL). */
static bool env_addr_list(struct core_arena *a, const struct mail_field *f, struct core_buf *out)
{
	if (f == NULL)
		return false;
	struct mail_addr_list al;
	mail_addr_list_parse(a, f->value, &al);
	if (al.ngroups == 0)
		return false;
	core_buf_putc(out, '(');
	for (size_t g = 0; g < al.ngroups; g++) {
		const struct mail_addr_group *gr = &al.groups[g];
		/* RFC 9051 §7.5.2: a group is a start marker (NIL NIL "name" NIL), its
		 * members, and an end marker (NIL NIL NIL NIL). */
		if (gr->is_group) {
			core_buf_append_str(out, "(NIL NIL ");
			imap_str(out, gr->name);
			core_buf_append_str(out, " NIL)");
		}
		for (size_t k = 0; k < gr->count; k++)
			env_addr(out, &gr->addrs[k]);
		if (gr->is_group)
			core_buf_append_str(out, "(NIL NIL NIL NIL)");
	}
	core_buf_putc(out, ')');
	return true;
}

static void env_addr_field(struct core_arena *a, const struct mail_header *h, const char *name,
			   const char *fallback, struct core_buf *out)
{
	if (env_addr_list(a, mail_header_find(h, name), out))
		return;
	/* RFC 9051 §7.5.2: Sender and Reply-To absent or empty take the value of From. */
	if (fallback != NULL && env_addr_list(a, mail_header_find(h, fallback), out))
		return;
	core_buf_append_str(out, "NIL");
}

void mail_imap_envelope(struct core_arena *a, const struct mail_message *m,
			const struct mail_part *msg, struct core_buf *out)
{
	(void)m;
	const struct mail_header *h = &msg->header;
	core_buf_putc(out, '(');
	env_value(a, h, "Date", out);
	core_buf_putc(out, ' ');
	env_value(a, h, "Subject", out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "From", NULL, out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "Sender", "From", out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "Reply-To", "From", out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "To", NULL, out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "Cc", NULL, out);
	core_buf_putc(out, ' ');
	env_addr_field(a, h, "Bcc", NULL, out);
	core_buf_putc(out, ' ');
	env_value(a, h, "In-Reply-To", out);
	core_buf_putc(out, ' ');
	env_value(a, h, "Message-ID", out);
	core_buf_putc(out, ')');
}

/* ------------------------------------------------------------------------------------- */
/* BODY and BODYSTRUCTURE                                                                 */
/* ------------------------------------------------------------------------------------- */

static void bs_params(struct core_buf *out, const struct mail_mime_value *v, bool text)
{
	/* RFC 9051 §7.5.2 body-fld-param: ("NAME" "value" ...) or NIL when there are none. */
	size_t n = 0;
	/* RFC 2045 §5.2: a text part without charset is us-ascii; the parameter is shown. */
	if (text && mail_mime_param_find(v, "charset") == NULL) {
		core_buf_append_str(out, "(\"CHARSET\" \"us-ascii\"");
		n++;
	}
	for (size_t i = 0; i < v->nparams; i++) {
		core_buf_append_str(out, n == 0 ? "(" : " ");
		imap_str_upper(out, v->params[i].name);
		core_buf_putc(out, ' ');
		imap_str(out, v->params[i].value);
		n++;
	}
	core_buf_append_str(out, n == 0 ? "NIL" : ")");
}

static void bs_ext_common(struct core_buf *out, const struct mail_part *p)
{
	/* body-fld-dsp: ("TYPE" params) or NIL (RFC 2183). */
	core_buf_putc(out, ' ');
	if (p->has_disposition && p->disposition.type.len > 0) {
		core_buf_putc(out, '(');
		imap_str_upper(out, p->disposition.type);
		core_buf_putc(out, ' ');
		bs_params(out, &p->disposition, false);
		core_buf_putc(out, ')');
	} else {
		core_buf_append_str(out, "NIL");
	}
	/* body-fld-lang: NIL, one string, or a list (RFC 3282). */
	core_buf_putc(out, ' ');
	if (p->nlanguages == 0) {
		core_buf_append_str(out, "NIL");
	} else if (p->nlanguages == 1) {
		imap_str(out, p->languages[0]);
	} else {
		core_buf_putc(out, '(');
		for (size_t i = 0; i < p->nlanguages; i++) {
			if (i > 0)
				core_buf_putc(out, ' ');
			imap_str(out, p->languages[i]);
		}
		core_buf_putc(out, ')');
	}
	/* body-fld-loc (RFC 2557). */
	core_buf_putc(out, ' ');
	imap_nstr(out, p->location);
}

static void bs_encoding(struct core_buf *out, const struct mail_part *p)
{
	/* body-fld-enc: the standard encodings in upper case; another declared value is sent
	 * as written (RFC 9051 §7.5.2 allows any string). */
	switch (p->cte) {
	case MAIL_CTE_7BIT:
		core_buf_append_str(out, "\"7BIT\"");
		return;
	case MAIL_CTE_8BIT:
		core_buf_append_str(out, "\"8BIT\"");
		return;
	case MAIL_CTE_BINARY:
		core_buf_append_str(out, "\"BINARY\"");
		return;
	case MAIL_CTE_QP:
		core_buf_append_str(out, "\"QUOTED-PRINTABLE\"");
		return;
	case MAIL_CTE_BASE64:
		core_buf_append_str(out, "\"BASE64\"");
		return;
	case MAIL_CTE_UNKNOWN:
		break;
	}
	imap_str_upper(out, p->cte_raw);
}

/* The empty text/plain body part a multipart without children is given, so the answer
 * still follows the grammar (body-type-mpart needs one body or more). */
static const char EMPTY_TEXT_BODY[] = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
				      "\"7BIT\" 0 0)";
/* An envelope with every member NIL, for a message/rfc822 part kept as a leaf. */
static const char EMPTY_ENVELOPE[] = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

static void bs_part(struct core_arena *a, const struct mail_message *m, const struct mail_part *p,
		    bool ext, struct core_buf *out)
{
	core_buf_putc(out, '(');
	if (mail_part_is_multipart(p)) {
		/* body-type-mpart: the children, then the subtype, then the extension data:
		 * parameters, disposition, language, location. */
		if (p->nchildren == 0)
			core_buf_append_str(out, EMPTY_TEXT_BODY);
		for (size_t i = 0; i < p->nchildren; i++)
			bs_part(a, m, p->children[i], ext, out);
		core_buf_putc(out, ' ');
		imap_str_upper(out, p->ct.subtype);
		if (ext) {
			core_buf_putc(out, ' ');
			bs_params(out, &p->ct, false);
			bs_ext_common(out, p);
		}
		core_buf_putc(out, ')');
		return;
	}
	/* body-type-1part: body-fields are type, subtype, parameters, id, description,
	 * encoding and size (octets of the body as stored, RFC 9051 §7.5.2). */
	imap_str_upper(out, p->ct.type);
	core_buf_putc(out, ' ');
	imap_str_upper(out, p->ct.subtype);
	core_buf_putc(out, ' ');
	bs_params(out, &p->ct, core_str_eq_cstr(p->ct.type, "text"));
	core_buf_putc(out, ' ');
	const struct mail_field *cid = mail_header_find_last(&p->header, "Content-ID");
	if (cid != NULL)
		imap_nstr(out, core_str_trim(mail_hdr_unfold(a, cid->value)));
	else
		core_buf_append_str(out, "NIL");
	core_buf_putc(out, ' ');
	const struct mail_field *desc = mail_header_find_last(&p->header, "Content-Description");
	if (desc != NULL)
		imap_nstr(out, core_str_trim(mail_hdr_unfold(a, desc->value)));
	else
		core_buf_append_str(out, "NIL");
	core_buf_putc(out, ' ');
	bs_encoding(out, p);
	core_buf_printf(out, " %zu", p->body_len);
	if (mail_part_is_message(p)) {
		/* body-type-msg: the envelope and body structure of the encapsulated message,
		 * then the body's line count. */
		core_buf_putc(out, ' ');
		if (p->nchildren == 1) {
			mail_imap_envelope(a, m, p->children[0], out);
			core_buf_putc(out, ' ');
			bs_part(a, m, p->children[0], ext, out);
		} else {
			core_buf_append_str(out, EMPTY_ENVELOPE);
			core_buf_putc(out, ' ');
			core_buf_append_str(out, EMPTY_TEXT_BODY);
		}
		core_buf_printf(out, " %zu", p->body_lines);
	} else if (core_str_eq_cstr(p->ct.type, "text")) {
		/* body-type-text: the body's line count. */
		core_buf_printf(out, " %zu", p->body_lines);
	}
	if (ext) {
		/* body-ext-1part: MD5 (RFC 1864), then disposition, language, location. */
		core_buf_putc(out, ' ');
		imap_nstr(out, p->md5);
		bs_ext_common(out, p);
	}
	core_buf_putc(out, ')');
}

void mail_imap_bodystructure(struct core_arena *a, const struct mail_message *m,
			     const struct mail_part *p, bool extended, struct core_buf *out)
{
	bs_part(a, m, p, extended, out);
}

/* ------------------------------------------------------------------------------------- */
/* Section addressing                                                                     */
/* ------------------------------------------------------------------------------------- */

struct seg_vec {
	struct core_arena *a;
	struct mail_imap_seg *v;
	size_t n, cap;
	size_t total;
};

static void seg_add(struct seg_vec *s, size_t off, size_t len, const char *lit)
{
	if (len == 0)
		return;
	/* Join with the previous range when contiguous. */
	if (lit == NULL && s->n > 0 && s->v[s->n - 1].lit == NULL &&
	    s->v[s->n - 1].off + s->v[s->n - 1].len == off) {
		s->v[s->n - 1].len += len;
		s->total += len;
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct mail_imap_seg *nv = core_arena_alloc(s->a, cap * sizeof(*nv));
		if (s->n > 0)
			memcpy(nv, s->v, s->n * sizeof(*nv));
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = (struct mail_imap_seg){.off = off, .len = len, .lit = lit};
	s->total += len;
}

static bool sec_kw(const char *p, size_t len, size_t *i, const char *kw)
{
	size_t k = strlen(kw);
	if (len - *i < k || core_strncasecmp_ascii(p + *i, kw, k) != 0)
		return false;
	*i += k;
	return true;
}

/* Field names of HEADER.FIELDS: "(" astring *(SP astring) ")" (RFC 9051 §6.4.5). Names
 * are atoms or quoted strings; literals are unwrapped by the command parser before. */
static int sec_fields(struct core_arena *a, const char *p, size_t len, size_t *i,
		      struct core_str **names_out, size_t *n_out)
{
	if (*i < len && p[*i] == ' ')
		(*i)++;
	if (*i >= len || p[*i] != '(')
		return CORE_ESYNTAX;
	(*i)++;
	size_t cap = 8, n = 0;
	struct core_str *v = core_arena_alloc(a, cap * sizeof(*v));
	for (;;) {
		while (*i < len && p[*i] == ' ')
			(*i)++;
		if (*i >= len)
			return CORE_ESYNTAX;
		if (p[*i] == ')') {
			(*i)++;
			break;
		}
		struct core_buf b = CORE_BUF_INIT;
		if (p[*i] == '"') {
			(*i)++;
			while (*i < len && p[*i] != '"') {
				if (p[*i] == '\\' && *i + 1 < len)
					(*i)++;
				core_buf_putc(&b, p[(*i)++]);
			}
			if (*i >= len) {
				core_buf_fini(&b);
				return CORE_ESYNTAX;
			}
			(*i)++;
		} else {
			while (*i < len && p[*i] != ' ' && p[*i] != ')' && p[*i] != '(' &&
			       p[*i] != '"')
				core_buf_putc(&b, p[(*i)++]);
		}
		if (n == cap) {
			struct core_str *nv = core_arena_alloc(a, 2 * cap * sizeof(*nv));
			memcpy(nv, v, n * sizeof(*nv));
			v = nv;
			cap *= 2;
		}
		v[n++] = mail_buf_to_arena(a, &b);
		core_buf_fini(&b);
	}
	if (n == 0)
		return CORE_ESYNTAX;
	*names_out = v;
	*n_out = n;
	return 0;
}

static bool name_listed(struct core_str name, const struct core_str *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (core_str_eq_ci(name, names[i]))
			return true;
	return false;
}

static void sec_header_fields(struct seg_vec *s, const struct mail_message *m,
			      const struct mail_part *msg, const struct core_str *names, size_t n,
			      bool not )
{
	const struct mail_header *h = &msg->header;
	for (size_t i = 0; i < h->count; i++) {
		const struct mail_field *f = &h->fields[i];
		if (name_listed(f->name, names, n) == not )
			continue;
		seg_add(s, f->off, f->len, NULL);
		/* A field closing a header that has no line ending gets one. */
		if (f->len == 0 || m->data[f->off + f->len - 1] != '\n')
			seg_add(s, 0, 2, "\r\n");
	}
	/* RFC 9051 §6.4.5: the subset includes the blank line that ends the header. */
	seg_add(s, 0, 2, "\r\n");
}

static void sec_partial(struct seg_vec *s, uint64_t origin, uint64_t count)
{
	/* RFC 9051 §6.4.5: octets from origin, at most count; beyond the end, nothing. */
	size_t skip = origin > s->total ? s->total : (size_t)origin;
	size_t keep = s->total - skip;
	if (count < keep)
		keep = (size_t)count;
	struct mail_imap_seg *v = s->v;
	size_t n = s->n, w = 0;
	for (size_t i = 0; i < n && keep > 0; i++) {
		struct mail_imap_seg g = v[i];
		if (skip >= g.len) {
			skip -= g.len;
			continue;
		}
		g.off += g.lit ? 0 : skip;
		if (g.lit)
			g.lit += skip;
		g.len -= skip;
		skip = 0;
		if (g.len > keep)
			g.len = keep;
		keep -= g.len;
		v[w++] = g;
	}
	s->n = w;
	s->total = 0;
	for (size_t i = 0; i < w; i++)
		s->total += v[i].len;
}

int mail_imap_section_resolve(struct core_arena *a, const struct mail_message *m, const char *spec,
			      size_t spec_len, bool has_partial, uint64_t origin, uint64_t count,
			      struct mail_imap_body *out, struct core_error *err)
{
	struct seg_vec s = {.a = a};
	memset(out, 0, sizeof(*out));
	const struct mail_part *cur = m->root;
	/* msglevel: cur is a message (the root or an encapsulated message), whose part 1 is
	 * its own body when it is not multipart (RFC 9051 §6.4.5). */
	bool msglevel = true, numbered = false;
	size_t i = 0;
	while (i < spec_len && core_ascii_isdigit((unsigned char)spec[i])) {
		uint64_t k = 0;
		size_t st = i;
		while (i < spec_len && core_ascii_isdigit((unsigned char)spec[i])) {
			if (k > 100000000)
				return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §6.4.5",
						      "part number too large");
			k = k * 10 + (uint64_t)(spec[i] - '0');
			i++;
		}
		if (k == 0 || spec[st] == '0')
			return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9",
					      "part numbers start at 1");
		/* A message/rfc822 part numbered further addresses its message's parts. */
		if (!msglevel && mail_part_is_message(cur) && cur->nchildren == 1) {
			cur = cur->children[0];
			msglevel = true;
		}
		if (mail_part_is_multipart(cur) && cur->nchildren > 0) {
			if (k > cur->nchildren)
				return core_error_set(err, CORE_ENOTFOUND, "RFC 9051 §6.4.5",
						      "no part %llu", (unsigned long long)k);
			cur = cur->children[k - 1];
		} else if (!(msglevel && k == 1)) {
			return core_error_set(err, CORE_ENOTFOUND, "RFC 9051 §6.4.5",
					      "no part %llu", (unsigned long long)k);
		}
		msglevel = false;
		numbered = true;
		if (i < spec_len && spec[i] == '.') {
			i++;
			if (i >= spec_len)
				return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9",
						      "section ends with '.'");
		} else if (i < spec_len) {
			return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9", "bad section spec");
		}
	}
	if (i == spec_len) {
		if (!numbered)
			seg_add(&s, 0, m->len, NULL); /* BODY[]: the whole message */
		else
			seg_add(&s, cur->body_off, cur->body_len, NULL);
	} else if (numbered && sec_kw(spec, spec_len, &i, "MIME")) {
		/* The MIME header of the part (§6.4.5), blank line included. */
		if (i != spec_len)
			return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9", "bad MIME spec");
		seg_add(&s, cur->header_off, cur->header_len, NULL);
	} else {
		/* HEADER, HEADER.FIELDS[.NOT] and TEXT address a message: the top-level one, or
		 * the one inside a numbered message/rfc822 part. */
		const struct mail_part *msg = cur;
		if (numbered) {
			if (!mail_part_is_message(cur) || cur->nchildren != 1)
				return core_error_set(err, CORE_ENOTFOUND, "RFC 9051 §6.4.5",
						      "part is not message/rfc822");
			msg = cur->children[0];
		}
		if (sec_kw(spec, spec_len, &i, "HEADER.FIELDS")) {
			bool not = sec_kw(spec, spec_len, &i, ".NOT");
			struct core_str *names = NULL;
			size_t n = 0;
			if (sec_fields(a, spec, spec_len, &i, &names, &n) < 0 || i != spec_len)
				return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9",
						      "bad HEADER.FIELDS list");
			sec_header_fields(&s, m, msg, names, n, not );
		} else if (sec_kw(spec, spec_len, &i, "HEADER") && i == spec_len) {
			seg_add(&s, msg->header_off, msg->header_len, NULL);
		} else if (sec_kw(spec, spec_len, &i, "TEXT") && i == spec_len) {
			seg_add(&s, msg->body_off, msg->body_len, NULL);
		} else {
			return core_error_set(err, CORE_ESYNTAX, "RFC 9051 §9",
					      "unknown section text");
		}
	}
	if (has_partial)
		sec_partial(&s, origin, count);
	out->segs = s.v;
	out->nsegs = s.n;
	out->total = s.total;
	return 0;
}

void mail_imap_body_copy(const struct mail_message *m, const struct mail_imap_body *b,
			 struct core_buf *out)
{
	for (size_t i = 0; i < b->nsegs; i++)
		core_buf_append(out, b->segs[i].lit ? b->segs[i].lit : m->data + b->segs[i].off,
				b->segs[i].len);
}
