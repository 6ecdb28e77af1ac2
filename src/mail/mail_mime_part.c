/*
 * mail_mime_part.c: the part tree of a message with exact byte ranges.
 *
 * RFC 5322 §2.1 and §3.5 (a message is a header, an empty line and a body), RFC 2045 §5.2
 * (Content-Type default text/plain; charset=us-ascii, also for a syntax error), §6.1 and §6.4
 * (Content-Transfer-Encoding, default 7bit; an unknown one makes the body opaque), RFC 2046
 * §5.1.1 (boundary delimiters: the line break before "--boundary" belongs to the delimiter,
 * transport padding after it, close delimiter "--boundary--", preamble and epilogue), §5.1.5
 * (multipart/digest parts default to message/rfc822), §5.2.1 (message/rfc822 allows only
 * 7bit, 8bit or binary), RFC 6532 §3.7 (message/global), RFC 2183, RFC 3282, RFC 2557.
 *
 * Each multipart looks for its own boundary only, inside the range its parent gave it. A
 * part that lacks its close delimiter therefore ends where the enclosing part ends, which is
 * also what happens when an inner close delimiter is missing and an outer one follows.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core_codec.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* Recursion guard whatever the caller's limit says. */
#define MAIL_DEPTH_HARD_MAX 256

void mail_limits_default(struct mail_limits *lim_out)
{
	lim_out->max_header_fields = 1000;
	lim_out->max_line_len = 998; /* RFC 5322 §2.1.1 */
	lim_out->max_depth = 64;
	lim_out->max_parts = 10000;
}

const char *mail_problem_name(enum mail_problem_kind kind)
{
	switch (kind) {
	case MAIL_PROB_HEADER_FIELDS:
		return "header-fields";
	case MAIL_PROB_LINE_LENGTH:
		return "line-length";
	case MAIL_PROB_DEPTH:
		return "depth";
	case MAIL_PROB_PARTS:
		return "parts";
	}
	return "unknown";
}

const char *mail_cte_name(enum mail_cte cte)
{
	switch (cte) {
	case MAIL_CTE_7BIT:
		return "7bit";
	case MAIL_CTE_8BIT:
		return "8bit";
	case MAIL_CTE_BINARY:
		return "binary";
	case MAIL_CTE_QP:
		return "quoted-printable";
	case MAIL_CTE_BASE64:
		return "base64";
	case MAIL_CTE_UNKNOWN:
		break;
	}
	return "unknown";
}

bool mail_part_is_multipart(const struct mail_part *p)
{
	return core_str_eq_cstr(p->ct.type, "multipart");
}

bool mail_part_is_message(const struct mail_part *p)
{
	return core_str_eq_cstr(p->ct.type, "message") &&
	       (core_str_eq_cstr(p->ct.subtype, "rfc822") ||
		core_str_eq_cstr(p->ct.subtype, "global"));
}

/* ------------------------------------------------------------------------------------- */

struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->p = core_xrealloc(v->p, v->cap * v->size);
	}
	void *slot = (char *)v->p + v->n * v->size;
	v->n++;
	memset(slot, 0, v->size);
	return slot;
}

struct parser {
	struct core_arena *a;
	const char *d;
	size_t len;
	struct mail_limits lim;
	struct vec parts;    /* struct mail_part * */
	struct vec problems; /* struct mail_problem */
};

static void problem_add(struct parser *ps, enum mail_problem_kind kind, size_t off,
			struct mail_part *part)
{
	struct mail_problem *pr = vec_push(&ps->problems);
	pr->kind = kind;
	pr->offset = off;
	pr->part = part;
}

/* Lines in [off, off+len), a final line without LF counted; the first line longer than
 * max_line_len (when check) goes to *long_out. */
static size_t count_lines(struct parser *ps, size_t off, size_t len, bool check, size_t *long_out)
{
	size_t lines = 0, pos = off, end = off + len;
	size_t max = ps->lim.max_line_len;
	if (!check || max == 0) {
		while (pos < end) {
			const char *nl = memchr(ps->d + pos, '\n', end - pos);
			lines++;
			if (nl == NULL)
				break;
			pos = (size_t)(nl - ps->d) + 1;
		}
		return lines;
	}
	while (pos < end) {
		size_t clen;
		size_t next = mail_line_next(ps->d, pos, end, &clen);
		if (clen > max && *long_out == SIZE_MAX)
			*long_out = pos;
		lines++;
		pos = next;
	}
	return lines;
}

static struct core_str empty_str(void)
{
	return core_str_make("", 0);
}

/* RFC 2045 §6.1: mechanism is a case-insensitive token. */
static enum mail_cte cte_from(struct core_str v)
{
	if (v.len == 0)
		return MAIL_CTE_7BIT;
	static const struct {
		const char *name;
		enum mail_cte cte;
	} map[] = {
		{"7bit", MAIL_CTE_7BIT},     {"8bit", MAIL_CTE_8BIT},
		{"binary", MAIL_CTE_BINARY}, {"quoted-printable", MAIL_CTE_QP},
		{"base64", MAIL_CTE_BASE64},
	};
	for (size_t i = 0; i < CORE_NELEM(map); i++)
		if (core_str_eq_cstr(v, map[i].name))
			return map[i].cte;
	return MAIL_CTE_UNKNOWN;
}

/* First token of a structured value, CFWS skipped, lower-cased. */
static struct core_str first_token_lower(struct core_arena *a, struct core_str raw)
{
	struct core_str u = mail_hdr_unfold(a, raw);
	size_t i = 0;
	mail_cfws_skip(u.p, u.len, &i, NULL);
	size_t s = i;
	while (i < u.len && (unsigned char)u.p[i] > 0x20 && u.p[i] != '(' && u.p[i] != ';')
		i++;
	return mail_str_lower(a, core_str_make(u.p + s, i - s));
}

/* RFC 3282 §2: Content-Language is a comma-separated list of language tags. */
static void languages_parse(struct core_arena *a, struct core_str raw, struct mail_part *p)
{
	struct core_str u = mail_hdr_unfold(a, raw);
	size_t cap = 0;
	for (size_t i = 0; i < u.len; i++)
		cap += u.p[i] == ',';
	p->languages = core_arena_alloc(a, (cap + 1) * sizeof(*p->languages));
	size_t i = 0;
	while (i < u.len) {
		mail_cfws_skip(u.p, u.len, &i, NULL);
		size_t s = i;
		while (i < u.len && u.p[i] != ',' && u.p[i] != '(' && u.p[i] != ' ' &&
		       u.p[i] != '\t')
			i++;
		if (i > s)
			p->languages[p->nlanguages++] = core_str_make(
				core_str_dup(a, core_str_make(u.p + s, i - s)), i - s);
		mail_cfws_skip(u.p, u.len, &i, NULL);
		while (i < u.len && u.p[i] != ',')
			i++; /* junk after a tag */
		if (i < u.len)
			i++;
	}
}

/* A copy without any white space: RFC 2557 §4.1 (folding inside a Content-Location URI is
 * removed) and RFC 1864 (a base64 digest has no white space). */
static struct core_str nospace_copy(struct core_arena *a, struct core_str raw)
{
	char *d = core_arena_alloc(a, raw.len + 1);
	size_t n = 0;
	for (size_t i = 0; i < raw.len; i++)
		if (!core_ascii_isspace((unsigned char)raw.p[i]))
			d[n++] = raw.p[i];
	d[n] = '\0';
	return core_str_make(d, n);
}

static void mime_fields(struct parser *ps, struct mail_part *p, bool digest_child)
{
	struct core_arena *a = ps->a;
	const struct mail_header *h = &p->header;
	const struct mail_field *f;
	p->cte_raw = empty_str();
	p->charset = empty_str();
	p->content_id = empty_str();
	p->description = empty_str();
	p->location = empty_str();
	p->md5 = empty_str();
	p->boundary = empty_str();

	/* A repeated MIME field: the last one counts, as for every header form of RFC 8621
	 * §4.1.3 (and as GMime reads it); RFC 2045 does not allow repeats. */
	f = mail_header_find_last(h, "Content-Type");
	if (f != NULL) {
		mail_mime_value_parse(a, f->value, true, &p->ct);
		if (p->ct.type.len == 0 || p->ct.subtype.len == 0) {
			/* RFC 2045 §5.2: an unusable Content-Type means text/plain; the
			 * parameters are kept (a charset still helps). */
			p->flags |= MAIL_PART_F_CT_INVALID;
			p->ct.type = core_str_make("text", 4);
			p->ct.subtype = core_str_make("plain", 5);
		}
	} else {
		p->flags |= MAIL_PART_F_CT_DEFAULT;
		memset(&p->ct, 0, sizeof(p->ct));
		if (digest_child) {
			/* RFC 2046 §5.1.5 */
			p->ct.type = core_str_make("message", 7);
			p->ct.subtype = core_str_make("rfc822", 6);
		} else {
			/* RFC 2045 §5.2 */
			p->ct.type = core_str_make("text", 4);
			p->ct.subtype = core_str_make("plain", 5);
		}
		p->ct.params = NULL;
	}
	const struct mail_param *cs = mail_mime_param_find(&p->ct, "charset");
	if (cs != NULL)
		p->charset = mail_str_lower(a, core_str_trim(cs->value));

	f = mail_header_find_last(h, "Content-Transfer-Encoding");
	if (f != NULL) {
		p->cte_raw = first_token_lower(a, f->value);
		p->cte = cte_from(p->cte_raw);
	}
	f = mail_header_find_last(h, "Content-Disposition");
	if (f != NULL) {
		mail_mime_value_parse(a, f->value, false, &p->disposition);
		p->has_disposition = true;
	}
	f = mail_header_find_last(h, "Content-ID");
	if (f != NULL) {
		struct mail_msgid_list ids;
		mail_msgid_list_parse(a, f->value, &ids);
		if (ids.count > 0)
			p->content_id = ids.ids[0];
	}
	f = mail_header_find_last(h, "Content-Description");
	if (f != NULL)
		p->description = mail_hdr_text(a, f->value);
	f = mail_header_find_last(h, "Content-Language");
	if (f != NULL)
		languages_parse(a, f->value, p);
	f = mail_header_find_last(h, "Content-Location");
	if (f != NULL)
		p->location = nospace_copy(a, f->value);
	/* RFC 1864: the base64 MD5 digest, kept as text for IMAP body-fld-md5. */
	f = mail_header_find_last(h, "Content-MD5");
	if (f != NULL)
		p->md5 = nospace_copy(a, f->value);
}

static struct mail_part *part_parse(struct parser *ps, struct mail_part *parent, size_t start,
				    size_t end, size_t ext, unsigned depth, bool digest_child);

/* A child's range; ext is the length of the line break after it that belongs to the next
 * delimiter (0 when the range ends the enclosing entity). */
struct range {
	size_t off, end, ext;
};

/* Offset where the delimiter on the line at pos really starts: RFC 2046 §5.1.1, the line
 * break before "--boundary" is part of it (none when the line opens the body). */
static size_t delim_start(const char *d, size_t floor, size_t pos)
{
	if (pos > floor && d[pos - 1] == '\n') {
		pos--;
		if (pos > floor && d[pos - 1] == '\r')
			pos--;
	}
	return pos;
}

/* Is the line [pos, pos+clen) a delimiter for b? Sets *close for "--b--". */
static bool is_delimiter(const char *line, size_t clen, struct core_str b, bool *close)
{
	if (clen < 2 + b.len || line[0] != '-' || line[1] != '-' ||
	    memcmp(line + 2, b.p, b.len) != 0)
		return false;
	size_t k = 2 + b.len;
	*close = false;
	if (k + 2 <= clen && line[k] == '-' && line[k + 1] == '-') {
		*close = true;
		k += 2;
	}
	/* RFC 2046 §5.1.1: only transport padding (LWSP) may follow. */
	for (; k < clen; k++)
		if (line[k] != ' ' && line[k] != '\t')
			return false;
	return true;
}

static void multipart_parse(struct parser *ps, struct mail_part *p, size_t end, size_t ext)
{
	struct core_str b = p->boundary;
	const char *d = ps->d;
	size_t pos = p->body_off, child_start = SIZE_MAX;
	bool closed = false;
	struct vec ranges = {.size = sizeof(struct range)};
	p->preamble_off = p->body_off;
	while (pos < end) {
		size_t clen;
		size_t next = mail_line_next(d, pos, end, &clen);
		bool close;
		if (d[pos] == '-' && is_delimiter(d + pos, clen, b, &close)) {
			size_t ds = delim_start(d, p->body_off, pos);
			if (child_start == SIZE_MAX) {
				p->preamble_len = ds - p->body_off;
			} else {
				struct range *r = vec_push(&ranges);
				r->off = child_start;
				r->end = ds > child_start ? ds : child_start;
				r->ext = ds >= child_start ? pos - ds : 0;
			}
			if (close) {
				p->epilogue_off = next;
				p->epilogue_len = end - next;
				closed = true;
				break;
			}
			child_start = next;
		}
		pos = next;
	}
	if (!closed) {
		p->epilogue_off = end;
		p->epilogue_len = 0;
		if (child_start == SIZE_MAX) {
			p->flags |= MAIL_PART_F_BOUNDARY_MISSING;
			p->preamble_len = end - p->body_off;
		} else {
			p->flags |= MAIL_PART_F_NO_CLOSE;
			struct range *r = vec_push(&ranges);
			r->off = child_start;
			r->end = end;
			r->ext = ext;
		}
	}
	bool digest = core_str_eq_cstr(p->ct.subtype, "digest");
	struct range *rs = ranges.p;
	struct mail_part **kids =
		core_arena_alloc(ps->a, (ranges.n ? ranges.n : 1) * sizeof(*kids));
	for (size_t i = 0; i < ranges.n; i++) {
		if (ps->parts.n >= ps->lim.max_parts) {
			/* The rest stays inside this part's body, reachable by range. */
			p->flags |= MAIL_PART_F_PARTS;
			problem_add(ps, MAIL_PROB_PARTS, rs[i].off, p);
			break;
		}
		kids[p->nchildren++] =
			part_parse(ps, p, rs[i].off, rs[i].end, rs[i].ext, p->depth + 1, digest);
	}
	p->children = kids;
	free(ranges.p);
}

static struct mail_part *part_parse(struct parser *ps, struct mail_part *parent, size_t start,
				    size_t end, size_t ext, unsigned depth, bool digest_child)
{
	struct mail_part *p = core_arena_zalloc(ps->a, sizeof(*p));
	*(struct mail_part **)vec_push(&ps->parts) = p;
	p->index = ps->parts.n - 1;
	p->parent = parent;
	p->depth = depth;

	struct mail_hdr_result hr;
	mail_hdr_split(ps->a, ps->d, start, end, &ps->lim, &hr);
	p->header = hr.header;
	p->header_off = start;
	if ((hr.flags & MAIL_PART_F_NO_BLANK_LINE) && hr.len == end - start && ext > 0 &&
	    (end == start || ps->d[end - 1] == '\n')) {
		/* The header runs up to a delimiter whose leading line break (RFC 2046 §5.1.1)
		 * directly follows a complete header line: that line break is read as the
		 * header's empty line and the body is empty, as header-first readers do, so
		 * BODY[n.MIME] ends with its empty line. */
		hr.len += ext;
		hr.lines++;
		hr.flags &= ~(unsigned)MAIL_PART_F_NO_BLANK_LINE;
		end += ext;
		ext = 0;
	}
	p->header_len = hr.len;
	p->header_lines = hr.lines;
	p->body_off = start + hr.len;
	p->body_len = end - p->body_off;
	p->flags |= hr.flags;
	if (hr.dropped > 0)
		problem_add(ps, MAIL_PROB_HEADER_FIELDS, start, p);
	if (hr.long_line_off != SIZE_MAX) {
		p->flags |= MAIL_PART_F_LONG_LINE;
		problem_add(ps, MAIL_PROB_LINE_LENGTH, hr.long_line_off, p);
	}
	mime_fields(ps, p, digest_child);

	bool container = false;
	if (mail_part_is_multipart(p)) {
		const struct mail_param *bp = mail_mime_param_find(&p->ct, "boundary");
		if (bp == NULL || bp->value.len == 0) {
			p->flags |= MAIL_PART_F_NO_BOUNDARY;
		} else {
			p->boundary = bp->value;
			container = true;
		}
	} else if (mail_part_is_message(p)) {
		if (p->cte == MAIL_CTE_QP || p->cte == MAIL_CTE_BASE64) {
			p->flags |= MAIL_PART_F_ENCODED_MESSAGE;
		} else {
			container = true;
		}
	}
	unsigned max_depth = ps->lim.max_depth;
	if (max_depth > MAIL_DEPTH_HARD_MAX)
		max_depth = MAIL_DEPTH_HARD_MAX;
	if (container && depth >= max_depth) {
		/* Kept as a leaf: no boundary, preamble or epilogue is claimed (the boundary
		 * parameter is still in ct). */
		p->flags |= MAIL_PART_F_DEPTH;
		problem_add(ps, MAIL_PROB_DEPTH, p->body_off, p);
		p->boundary = empty_str();
		container = false;
	}
	size_t long_off = SIZE_MAX;
	p->body_lines = count_lines(ps, p->body_off, p->body_len, !container, &long_off);
	if (container && mail_part_is_multipart(p)) {
		multipart_parse(ps, p, end, ext);
		count_lines(ps, p->preamble_off, p->preamble_len, true, &long_off);
		count_lines(ps, p->epilogue_off, p->epilogue_len, true, &long_off);
	} else if (container) {
		if (ps->parts.n >= ps->lim.max_parts) {
			p->flags |= MAIL_PART_F_PARTS;
			problem_add(ps, MAIL_PROB_PARTS, p->body_off, p);
		} else {
			p->children = core_arena_alloc(ps->a, sizeof(*p->children));
			p->children[0] = part_parse(ps, p, p->body_off, end, ext, depth + 1, false);
			p->nchildren = 1;
		}
	}
	if (p->nchildren > 0) {
		/* A last child that took the next delimiter's line break as its empty header
		 * line (see above) extends its ancestors up to the same point. */
		const struct mail_part *last = p->children[p->nchildren - 1];
		size_t cend = last->body_off + last->body_len;
		if (cend > p->body_off + p->body_len) {
			size_t unused = SIZE_MAX;
			p->body_len = cend - p->body_off;
			p->body_lines = count_lines(ps, p->body_off, p->body_len, false, &unused);
			if (mail_part_is_multipart(p)) {
				p->epilogue_off = cend;
				p->epilogue_len = 0;
			}
		}
	}
	if (long_off != SIZE_MAX && !(p->flags & MAIL_PART_F_LONG_LINE)) {
		p->flags |= MAIL_PART_F_LONG_LINE;
		problem_add(ps, MAIL_PROB_LINE_LENGTH, long_off, p);
	}
	return p;
}

int mail_message_parse(struct core_arena *a, const void *data, size_t len,
		       const struct mail_limits *lim, struct mail_message **msg_out,
		       struct core_error *err)
{
	if (len > SIZE_MAX / 2)
		return core_error_set(err, CORE_ELIMIT, NULL, "message too large");
	struct parser ps = {
		.a = a,
		.d = len > 0 ? data : "",
		.len = len,
		.parts = {.size = sizeof(struct mail_part *)},
		.problems = {.size = sizeof(struct mail_problem)},
	};
	if (lim != NULL)
		ps.lim = *lim;
	else
		mail_limits_default(&ps.lim);
	if (ps.lim.max_parts == 0)
		ps.lim.max_parts = 1;
	struct mail_message *m = core_arena_zalloc(a, sizeof(*m));
	m->data = ps.d;
	m->len = len;
	m->limits = ps.lim;
	m->root = part_parse(&ps, NULL, 0, len, 0, 0, false);
	m->nparts = ps.parts.n;
	m->parts = core_arena_memdup(a, ps.parts.p, ps.parts.n * sizeof(struct mail_part *));
	m->nproblems = ps.problems.n;
	m->problems = core_arena_memdup(a, ps.problems.p ? ps.problems.p : "",
					ps.problems.n * sizeof(struct mail_problem));
	free(ps.parts.p);
	free(ps.problems.p);
	*msg_out = m;
	return 0;
}

/* The invariants of mail.h for one part; recursion bounded by the depth limit. */
static int part_verify(const struct mail_message *m, const struct mail_part *p, size_t end,
		       size_t *next_index, struct core_error *err)
{
	if (p->index != *next_index || m->parts[p->index] != p)
		return core_error_set(err, CORE_EINTERNAL, NULL, "part %zu: pre-order", p->index);
	(*next_index)++;
	if (p->body_off != p->header_off + p->header_len || p->body_off + p->body_len != end ||
	    end > m->len)
		return core_error_set(err, CORE_EINTERNAL, NULL, "part %zu: ranges", p->index);
	if (p->boundary.len > 0 &&
	    (p->preamble_off != p->body_off || p->preamble_off + p->preamble_len > end ||
	     p->epilogue_off + p->epilogue_len != end))
		return core_error_set(err, CORE_EINTERNAL, NULL, "part %zu: preamble", p->index);
	size_t prev_end = p->body_off;
	for (size_t i = 0; i < p->nchildren; i++) {
		const struct mail_part *c = p->children[i];
		size_t cend = c->body_off + c->body_len;
		if (c->parent != p || c->depth != p->depth + 1 || c->header_off < prev_end ||
		    cend > end)
			return core_error_set(err, CORE_EINTERNAL, NULL, "part %zu: child %zu",
					      p->index, i);
		int r = part_verify(m, c, cend, next_index, err);
		if (r < 0)
			return r;
		prev_end = cend;
	}
	return 0;
}

int mail_message_verify(const struct mail_message *m, struct core_error *err)
{
	size_t next = 0;
	int r = part_verify(m, m->root, m->len, &next, err);
	if (r == 0 && next != m->nparts)
		return core_error_set(err, CORE_EINTERNAL, NULL, "part count");
	return r;
}

/* Transfer-decode the first len bytes of p's body. */
static void part_decode_body(const struct mail_message *m, const struct mail_part *p, size_t len,
			     struct core_buf *out)
{
	const char *b = m->data + p->body_off;
	switch (p->cte) {
	case MAIL_CTE_BASE64:
		core_base64_decode_mime(b, len, out);
		break;
	case MAIL_CTE_QP:
		core_qp_decode(b, len, 0, out);
		break;
	default:
		core_buf_append(out, b, len);
		break;
	}
}

void mail_part_decode_body(const struct mail_message *m, const struct mail_part *p,
			   struct core_buf *out)
{
	part_decode_body(m, p, p->body_len, out);
}

int mail_part_decode_text(const struct mail_message *m, const struct mail_part *p,
			  struct core_buf *out, char eff_out[MAIL_CHARSET_NAME_MAX])
{
	return mail_part_decode_text_prefix(m, p, p->body_len, out, eff_out);
}

int mail_part_decode_text_prefix(const struct mail_message *m, const struct mail_part *p,
				 size_t max, struct core_buf *out,
				 char eff_out[MAIL_CHARSET_NAME_MAX])
{
	struct core_buf raw = CORE_BUF_INIT;
	part_decode_body(m, p, max < p->body_len ? max : p->body_len, &raw);
	/* RFC 2046 §4.1.2: the default charset is us-ascii. */
	const char *cs = p->charset.len > 0 ? p->charset.p : "us-ascii";
	int r = mail_charset_to_utf8_eff(cs, raw.p != NULL ? raw.p : "", raw.len, out, eff_out);
	core_buf_fini(&raw);
	return r;
}
