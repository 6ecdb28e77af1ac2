/*
 * mail_build.c: parts and rendering of the message builder (see mail.h for the interface
 * and its rules); header fields are in mail_build_hdr.c, parameters in mail_build_param.c.
 *
 * RFC 2045 §4 (MIME-Version), §6 (transfer encodings: 7bit and 8bit data, quoted-printable,
 * base64), RFC 2046 §4.1.1 (canonical CRLF text), §4.1.2 (charset), §5.1.1 (boundaries must
 * not occur in the parts; the CRLF before a delimiter belongs to it), §5.2.1 (message/rfc822
 * only 7bit, 8bit or binary), RFC 2183 (Content-Disposition), RFC 6522 §3 (multipart/report
 * and its report-type) and §4 (text/rfc822-headers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/core_codec.h"
#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* ------------------------------------------------------------------------------------- */
/* Builder and header fields                                                              */
/* ------------------------------------------------------------------------------------- */

static struct mail_build_part *part_new(struct mail_build *b)
{
	struct mail_build_part *p = core_arena_zalloc(b->a, sizeof(*p));
	p->b = b;
	p->ftail = &p->fields;
	return p;
}

struct mail_build *mail_build_new(struct core_arena *a, unsigned flags)
{
	struct mail_build *b = core_arena_zalloc(a, sizeof(*b));
	b->a = a;
	b->flags = flags;
	if (getrandom(&b->seed, sizeof(b->seed), 0) != (ssize_t)sizeof(b->seed))
		b->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)b;
	b->root = part_new(b);
	return b;
}

struct mail_build_part *mail_build_root(struct mail_build *b)
{
	return b->root;
}

void mail_build_seed(struct mail_build *b, uint64_t seed)
{
	b->seed = seed;
}

static int params_copy(struct mail_build_part *p, const struct mail_build_param *params, size_t n,
		       struct core_error *err)
{
	p->params = core_arena_zalloc(p->b->a, (n + 1) * sizeof(*p->params));
	p->nparams = 0;
	for (size_t i = 0; i < n; i++) {
		const char *nm = params[i].name, *v = params[i].value;
		if (nm == NULL || v == NULL || !mail_build_token_ok(nm, strlen(nm)) ||
		    strchr(nm, '*') || strchr(nm, '\'') || strchr(nm, '%'))
			return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §5.1",
					      "bad parameter name");
		int r = mail_build_text_check(v, strlen(v), "parameter value", err);
		if (r < 0)
			return r;
		p->params[p->nparams].name = core_arena_strdup(p->b->a, nm);
		p->params[p->nparams].value = core_arena_strdup(p->b->a, v);
		p->nparams++;
	}
	return 0;
}

static bool params_have(const struct mail_build_part *p, const char *name)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (core_strcasecmp_ascii(p->params[i].name, name) == 0)
			return true;
	return false;
}

/* "type/subtype" with a token on each side (RFC 2045 §5.1). */
static bool type_ok(const char *t)
{
	const char *sl = strchr(t, '/');
	return sl != NULL && mail_build_token_ok(t, (size_t)(sl - t)) &&
	       mail_build_token_ok(sl + 1, strlen(sl + 1));
}

/* ------------------------------------------------------------------------------------- */
/* Parts                                                                                   */
/* ------------------------------------------------------------------------------------- */

static int part_fresh(struct mail_build_part *p, struct core_error *err)
{
	if (p->kind != MAIL_BK_NONE)
		return core_error_set(err, CORE_ECONFLICT, NULL, "part already has content");
	return 0;
}

int mail_build_multipart(struct mail_build_part *p, const char *subtype,
			 const struct mail_build_param *params, size_t nparams,
			 struct core_error *err)
{
	int r = part_fresh(p, err);
	if (r < 0)
		return r;
	if (subtype == NULL || !mail_build_token_ok(subtype, strlen(subtype)))
		return core_error_set(err, CORE_ESYNTAX, "RFC 2046 §5.1", "bad subtype");
	if ((r = params_copy(p, params, nparams, err)) < 0)
		return r;
	if (params_have(p, "boundary"))
		return core_error_set(err, CORE_ESYNTAX, "RFC 2046 §5.1.1",
				      "the boundary is chosen by the builder");
	if (core_strcasecmp_ascii(subtype, "report") == 0 && !params_have(p, "report-type"))
		return core_error_set(err, CORE_ESYNTAX, "RFC 6522 §3",
				      "multipart/report needs report-type");
	p->type = core_arena_printf(p->b->a, "multipart/%s", subtype);
	for (char *q = p->type; *q != '\0'; q++)
		*q = core_ascii_lower(*q);
	p->kind = MAIL_BK_MULTI;
	return 0;
}

struct mail_build_part *mail_build_child(struct mail_build_part *p)
{
	if (p->kind != MAIL_BK_MULTI)
		return NULL;
	if (p->nchildren == p->capchildren) {
		size_t cap = p->capchildren ? p->capchildren * 2 : 4;
		struct mail_build_part **v = core_arena_alloc(p->b->a, cap * sizeof(*v));
		if (p->nchildren > 0)
			memcpy(v, p->children, p->nchildren * sizeof(*v));
		p->children = v;
		p->capchildren = cap;
	}
	struct mail_build_part *c = part_new(p->b);
	p->children[p->nchildren++] = c;
	return c;
}

struct content_info {
	bool eight, nul, bare; /* 8-bit octets, NUL, CR or LF not in a CRLF pair */
	size_t max_line;
	size_t eight_count;
};

static void content_scan(const unsigned char *d, size_t len, struct content_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = d[i];
		if (c == '\r' && i + 1 < len && d[i + 1] == '\n') {
			if (line > ci->max_line)
				ci->max_line = line;
			line = 0;
			i++;
			continue;
		}
		if (c == '\r' || c == '\n')
			ci->bare = true;
		if (c == 0)
			ci->nul = true;
		if (c >= 0x80) {
			ci->eight = true;
			ci->eight_count++;
		}
		line++;
	}
	if (line > ci->max_line)
		ci->max_line = line;
}

/* RFC 2046 §4.1.1: canonical text has CRLF line endings; bare CR and LF become CRLF. */
static void crlf_append(struct core_buf *out, const unsigned char *d, size_t len)
{
	core_buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\r') {
			core_buf_append(out, "\r\n", 2);
			if (i + 1 < len && d[i + 1] == '\n')
				i++;
		} else if (d[i] == '\n') {
			core_buf_append(out, "\r\n", 2);
		} else {
			core_buf_putc(out, (char)d[i]);
		}
	}
}

static bool fits_7bit(const struct content_info *ci)
{
	return !ci->eight && !ci->nul && !ci->bare && ci->max_line <= MAIL_BUILD_LINE_MAX;
}

static bool fits_8bit(const struct content_info *ci)
{
	return !ci->nul && !ci->bare && ci->max_line <= MAIL_BUILD_LINE_MAX;
}

int mail_build_body(struct mail_build_part *p, const char *type,
		    const struct mail_build_param *params, size_t nparams, const void *data,
		    size_t len, enum mail_build_cte cte, struct core_error *err)
{
	int r = part_fresh(p, err);
	if (r < 0)
		return r;
	if (type == NULL || !type_ok(type) || core_strncasecmp_ascii(type, "multipart/", 10) == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §5.1", "bad media type");
	if ((r = params_copy(p, params, nparams, err)) < 0)
		return r;
	struct mail_build *b = p->b;
	bool text = core_strncasecmp_ascii(type, "text/", 5) == 0;
	struct core_buf canon = CORE_BUF_INIT, enc = CORE_BUF_INIT, alt = CORE_BUF_INIT;
	const unsigned char *d = len > 0 ? data : (const unsigned char *)"";
	if (text) {
		crlf_append(&canon, d, len);
		d = (const unsigned char *)(canon.p != NULL ? canon.p : "");
		len = canon.len;
	}
	struct content_info ci;
	content_scan(d, len, &ci);
	const char *name = NULL;
	switch (cte) {
	case MAIL_BUILD_CTE_AUTO:
		if (fits_7bit(&ci)) {
			core_buf_append(&enc, d, len);
		} else if (text) {
			/* RFC 2045 §6.7 / §6.8: the shorter of quoted-printable and base64. */
			core_qp_encode(&enc, d, len, CORE_QP_TEXT);
			core_base64_encode_mime(&alt, d, len);
			if (alt.len < enc.len) {
				core_buf_reset(&enc);
				core_buf_append(&enc, alt.p, alt.len);
				name = "base64";
			} else {
				name = "quoted-printable";
			}
		} else {
			core_base64_encode_mime(&enc, d, len);
			name = "base64";
		}
		break;
	case MAIL_BUILD_CTE_7BIT:
		if (!fits_7bit(&ci))
			r = core_error_set(err, CORE_ESYNTAX, "RFC 2045 §2.7",
					   "content is not 7bit data");
		core_buf_append(&enc, d, len);
		break;
	case MAIL_BUILD_CTE_8BIT:
		if (!fits_8bit(&ci))
			r = core_error_set(err, CORE_ESYNTAX, "RFC 2045 §2.8",
					   "content is not 8bit data");
		core_buf_append(&enc, d, len);
		name = "8bit";
		break;
	case MAIL_BUILD_CTE_BINARY:
		core_buf_append(&enc, d, len);
		name = "binary";
		break;
	case MAIL_BUILD_CTE_QP:
		core_qp_encode(&enc, d, len, text ? CORE_QP_TEXT : CORE_QP_BINARY);
		name = "quoted-printable";
		break;
	case MAIL_BUILD_CTE_BASE64:
		core_base64_encode_mime(&enc, d, len);
		name = "base64";
		break;
	default:
		r = core_error_set(err, CORE_ESYNTAX, "RFC 2045 §6", "unknown encoding");
		break;
	}
	if (r == 0) {
		if (name != NULL && strcmp(name, "base64") == 0 && enc.len > 0)
			core_buf_append(&enc, "\r\n", 2);
		p->body = mail_buf_to_arena(b->a, &enc);
		p->cte = name;
		p->type = core_arena_strdup(b->a, type);
		for (char *q = p->type; *q != '\0'; q++)
			*q = core_ascii_lower(*q);
		/* RFC 2046 §4.1.2: say which charset non-ASCII text is in. */
		if (text && ci.eight && !params_have(p, "charset")) {
			p->params[p->nparams].name = "charset";
			p->params[p->nparams].value = "utf-8";
			p->nparams++;
		}
		p->kind = MAIL_BK_LEAF;
	}
	core_buf_fini(&canon);
	core_buf_fini(&enc);
	core_buf_fini(&alt);
	return r;
}

/* A message or header block as 7bit, 8bit or binary, never encoded (RFC 2046 §5.2.1). */
static int embed(struct mail_build_part *p, const char *type, const void *data, size_t len,
		 struct core_error *err)
{
	int r = part_fresh(p, err);
	if (r < 0)
		return r;
	struct core_buf canon = CORE_BUF_INIT;
	crlf_append(&canon, len > 0 ? data : "", len);
	struct content_info ci;
	content_scan((const unsigned char *)(canon.p != NULL ? canon.p : ""), canon.len, &ci);
	p->cte = fits_7bit(&ci) ? NULL : fits_8bit(&ci) ? "8bit" : "binary";
	p->body = mail_buf_to_arena(p->b->a, &canon);
	p->type = core_arena_strdup(p->b->a, type);
	p->params = core_arena_zalloc(p->b->a, sizeof(*p->params));
	p->nparams = 0;
	p->kind = MAIL_BK_LEAF;
	core_buf_fini(&canon);
	return 0;
}

/* Does d hold an empty line (the end of a header, RFC 5322 §2.1)? */
static bool has_empty_line(const char *d, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		size_t clen;
		size_t next = mail_line_next(d, pos, len, &clen);
		if (clen == 0)
			return true;
		pos = next;
	}
	return false;
}

int mail_build_message(struct mail_build_part *p, const void *data, size_t len,
		       struct core_error *err)
{
	struct core_buf b = CORE_BUF_INIT;
	crlf_append(&b, len > 0 ? data : "", len);
	/* RFC 5322 §2.1 / §3.5: a message that is all header gets the empty line that ends
	 * it, so the delimiter's line break (RFC 2046 §5.1.1) cannot be read as that line. */
	if (!has_empty_line(b.p != NULL ? b.p : "", b.len)) {
		if (b.len > 0 && b.p[b.len - 1] != '\n')
			core_buf_append(&b, "\r\n", 2);
		core_buf_append(&b, "\r\n", 2);
	}
	int r = embed(p, "message/rfc822", b.p, b.len, err);
	core_buf_fini(&b);
	return r;
}

int mail_build_rfc822_headers(struct mail_build_part *p, const void *data, size_t len,
			      struct core_error *err)
{
	/* RFC 5322 §2.1: the header ends at the first empty line. */
	const char *d = len > 0 ? data : "";
	size_t pos = 0, hlen = len;
	while (pos < len) {
		size_t clen;
		size_t next = mail_line_next(d, pos, len, &clen);
		if (clen == 0) {
			hlen = next;
			break;
		}
		pos = next;
	}
	return embed(p, "text/rfc822-headers", d, hlen, err);
}

int mail_build_disposition(struct mail_build_part *p, const char *disposition, const char *filename,
			   struct core_error *err)
{
	if (disposition == NULL || !mail_build_token_ok(disposition, strlen(disposition)))
		return core_error_set(err, CORE_ESYNTAX, "RFC 2183 §2", "bad disposition");
	if (filename != NULL) {
		int r = mail_build_text_check(filename, strlen(filename), "filename", err);
		if (r < 0)
			return r;
		if (filename[0] == '\0')
			return core_error_set(err, CORE_ESYNTAX, "RFC 2183 §2.3", "empty filename");
		p->filename = core_arena_strdup(p->b->a, filename);
	}
	p->disp = core_arena_strdup(p->b->a, disposition);
	for (char *q = p->disp; *q != '\0'; q++)
		*q = core_ascii_lower(*q);
	return 0;
}

/* ------------------------------------------------------------------------------------- */
/* Rendering                                                                              */
/* ------------------------------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static bool contains(const struct core_buf *hay, const char *needle)
{
	return hay->len > 0 && memmem(hay->p, hay->len, needle, strlen(needle)) != NULL;
}

static int render_part(struct mail_build *b, const struct mail_build_part *p, bool root,
		       struct core_buf *out, struct core_error *err);

static int content_type_field(const struct mail_build_part *p, const char *boundary,
			      struct core_buf *out, struct core_error *err)
{
	struct mail_bitems it = {0};
	mail_bitems_add(&it, " ", 1, p->type, strlen(p->type), false);
	if (boundary != NULL) {
		mail_bitems_glue(&it, ";");
		struct core_buf bb = CORE_BUF_INIT;
		core_buf_append_str(&bb, "boundary=");
		mail_build_quote(&bb, boundary, strlen(boundary));
		mail_bitems_add(&it, " ", 1, bb.p, bb.len, false);
		core_buf_fini(&bb);
	}
	for (size_t i = 0; i < p->nparams; i++) {
		mail_bitems_glue(&it, ";");
		mail_build_param_items(&it, p->params[i].name, p->params[i].value);
	}
	int r = mail_build_fold(out, "Content-Type", &it, err);
	mail_bitems_fini(&it);
	return r;
}

static int render_part(struct mail_build *b, const struct mail_build_part *p, bool root,
		       struct core_buf *out, struct core_error *err)
{
	if (p->kind == MAIL_BK_NONE)
		return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §5", "a part has no content");
	if (p->kind == MAIL_BK_MULTI && p->nchildren == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 2046 §5.1.1",
				      "a multipart needs at least one part");
	struct core_buf *kids = NULL;
	char boundary[48] = "";
	int r = 0;
	if (p->kind == MAIL_BK_MULTI) {
		kids = core_xcalloc(p->nchildren, sizeof(*kids));
		for (size_t i = 0; i < p->nchildren && r == 0; i++)
			r = render_part(b, p->children[i], false, &kids[i], err);
		/* RFC 2046 §5.1.1: the boundary must not occur in any encapsulated part.
		 * "=_" cannot start a quoted-printable or base64 line, so only 7bit, 8bit
		 * and binary content can clash; a clash picks the next candidate. */
		for (unsigned attempt = 0; r == 0; attempt++) {
			if (attempt == 1000) {
				r = core_error_set(err, CORE_EINTERNAL, "RFC 2046 §5.1.1",
						   "no free boundary");
				break;
			}
			uint64_t x = next_rand(&b->seed), y = next_rand(&b->seed);
			snprintf(boundary, sizeof(boundary), "=_%016llx%08llx",
				 (unsigned long long)x, (unsigned long long)(y >> 32));
			bool clash = false;
			for (size_t i = 0; i < p->nchildren && !clash; i++)
				clash = contains(&kids[i], boundary);
			if (!clash)
				break;
		}
	}
	for (const struct mail_bfield *f = p->fields; f != NULL && r == 0; f = f->next)
		core_buf_append(out, f->text.p, f->text.len);
	if (r == 0 && root)
		core_buf_append_str(out, "MIME-Version: 1.0\r\n");
	if (r == 0)
		r = content_type_field(p, p->kind == MAIL_BK_MULTI ? boundary : NULL, out, err);
	if (r == 0 && p->kind == MAIL_BK_LEAF && p->cte != NULL)
		core_buf_printf(out, "Content-Transfer-Encoding: %s\r\n", p->cte);
	if (r == 0 && p->disp != NULL) {
		struct mail_bitems it = {0};
		mail_bitems_add(&it, " ", 1, p->disp, strlen(p->disp), false);
		if (p->filename != NULL) {
			mail_bitems_glue(&it, ";");
			mail_build_param_items(&it, "filename", p->filename);
		}
		r = mail_build_fold(out, "Content-Disposition", &it, err);
		mail_bitems_fini(&it);
	}
	if (r == 0) {
		core_buf_append(out, "\r\n", 2);
		if (p->kind == MAIL_BK_LEAF) {
			core_buf_append(out, p->body.p, p->body.len);
			/* a quoted-printable root body ends with a line break that decodes
			 * to nothing (a soft break, RFC 2045 §6.7 rule 5) */
			if (root && p->cte != NULL && strcmp(p->cte, "quoted-printable") == 0 &&
			    p->body.len > 0 &&
			    !(p->body.len >= 2 && p->body.p[p->body.len - 1] == '\n'))
				core_buf_append_str(out, "=\r\n");
		} else {
			/* RFC 2046 §5.1.1: the CRLF before each delimiter belongs to it. */
			for (size_t i = 0; i < p->nchildren; i++) {
				core_buf_printf(out, "%s--%s\r\n", i == 0 ? "" : "\r\n", boundary);
				core_buf_append(out, kids[i].p, kids[i].len);
			}
			core_buf_printf(out, "\r\n--%s--\r\n", boundary);
		}
	}
	if (kids != NULL) {
		for (size_t i = 0; i < p->nchildren; i++)
			core_buf_fini(&kids[i]);
		free(kids);
	}
	return r;
}

int mail_build_render(struct mail_build *b, struct core_buf *out, struct core_error *err)
{
	size_t start = out->len;
	int r = render_part(b, b->root, true, out, err);
	if (r < 0)
		core_buf_truncate(out, start);
	return r;
}
