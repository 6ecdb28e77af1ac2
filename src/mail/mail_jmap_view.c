/*
 * mail_jmap_view.c: the JMAP view of a parsed message (RFC 8621 §4.1.4): bodyStructure as
 * EmailBodyPart objects, textBody / htmlBody / attachments chosen by the algorithm of that
 * section, hasAttachment and preview (§4.1.4), rendered as jansson objects. Computed from the
 * part tree of mail_message_parse(); nothing here parses the message again.
 */
#include <jansson.h>
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* RFC 8621 §4.1.4: at most 256 characters of preview. */
#define JMAP_PREVIEW_MAX 256
/* Octets of a text part read for the preview (enough for 256 characters of HTML text). */
#define JMAP_PREVIEW_READ (64 * 1024)

/* A JSON string of UTF-8 text; bytes that are not UTF-8 are read as by an unknown
 * charset (mail_charset), so no octet is lost and the JSON stays valid. */
static json_t *jstr(const char *p, size_t len)
{
	if (core_utf8_is_valid(p, len))
		return json_stringn(p, len);
	struct core_buf b = CORE_BUF_INIT;
	mail_charset_to_utf8(NULL, p, len, &b);
	json_t *j = json_stringn(b.p != NULL ? b.p : "", b.len);
	core_buf_fini(&b);
	return j;
}

static json_t *jstr_or_null(struct core_str s)
{
	return s.len > 0 ? jstr(s.p, s.len) : json_null();
}

static void part_id_append(const struct mail_part *p, struct core_buf *b)
{
	/* The IMAP section number (RFC 9051 §6.4.5): the body of a non-multipart message is
	 * part 1; a child of a multipart is numbered by its position, prefixed with the number
	 * of the multipart unless that multipart is the body of the top-level message; the
	 * multipart body of an encapsulated message shares its message/rfc822 part's number. */
	const struct mail_part *par = p->parent;
	if (par == NULL) {
		core_buf_putc(b, '1');
		return;
	}
	if (mail_part_is_message(par)) {
		part_id_append(par, b);
		core_buf_append_str(b, ".1");
		return;
	}
	size_t k = 0;
	while (k < par->nchildren && par->children[k] != p)
		k++;
	if (par->parent != NULL) {
		if (mail_part_is_message(par->parent))
			part_id_append(par->parent, b);
		else
			part_id_append(par, b);
		core_buf_putc(b, '.');
	}
	core_buf_printf(b, "%zu", k + 1);
}

const char *mail_jmap_part_id(struct core_arena *a, const struct mail_part *p)
{
	if (mail_part_is_multipart(p))
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	part_id_append(p, &b);
	char *s = core_arena_strndup(a, b.p, b.len);
	core_buf_fini(&b);
	return s;
}

/* RFC 8621 §4.1.4 name: the filename parameter of Content-Disposition, else the name
 * parameter of Content-Type (both RFC 2231 / RFC 2047 decoded by the parse). */
static struct core_str part_name(const struct mail_part *p)
{
	const struct mail_param *pr = NULL;
	if (p->has_disposition)
		pr = mail_mime_param_find(&p->disposition, "filename");
	if (pr == NULL)
		pr = mail_mime_param_find(&p->ct, "name");
	return pr != NULL ? pr->value : core_str_make("", 0);
}

static char *part_type(struct core_arena *a, const struct mail_part *p)
{
	return core_arena_printf(a, "%.*s/%.*s", (int)p->ct.type.len, p->ct.type.p,
				 (int)p->ct.subtype.len, p->ct.subtype.p);
}

static bool is_attachment_disposition(const struct mail_part *p)
{
	return p->has_disposition && core_str_eq_cstr(p->disposition.type, "attachment");
}

json_t *mail_jmap_body_part(struct core_arena *a, const struct mail_message *m,
			    const struct mail_part *p, mail_jmap_blob_fn blob, void *blob_ctx)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	bool multi = mail_part_is_multipart(p);
	const char *id = mail_jmap_part_id(a, p);
	/* partId and blobId: null if, and only if, the part is multipart types. */
	json_object_set_new(o, "partId", id ? json_string(id) : json_null());
	const char *bid = (!multi && blob != NULL) ? blob(blob_ctx, m, p, id) : NULL;
	json_object_set_new(o, "blobId", bid ? json_string(bid) : json_null());
	/* size: octets after transfer decoding (what a download of the blob gives). */
	size_t size = p->body_len;
	if (!multi && (p->cte == MAIL_CTE_BASE64 || p->cte == MAIL_CTE_QP)) {
		struct core_buf b = CORE_BUF_INIT;
		mail_part_decode_body(m, p, &b);
		size = b.len;
		core_buf_fini(&b);
	}
	json_object_set_new(o, "size", json_integer((json_int_t)size));
	/* headers: every field of this part in order, Raw form (§4.1.2.1). */
	json_t *hs = json_array();
	for (size_t i = 0; i < p->header.count; i++) {
		const struct mail_field *f = &p->header.fields[i];
		json_t *h = json_object();
		json_object_set_new(h, "name", jstr(f->name.p, f->name.len));
		json_object_set_new(h, "value", jstr(f->value.p, f->value.len));
		json_array_append_new(hs, h);
	}
	json_object_set_new(o, "headers", hs);
	json_object_set_new(o, "name", jstr_or_null(part_name(p)));
	json_object_set_new(o, "type", json_string(part_type(a, p)));
	/* charset: the declared parameter; "us-ascii" for text types without one (RFC 2046
	 * §4.1.2); otherwise null. */
	const struct mail_param *cs = mail_mime_param_find(&p->ct, "charset");
	if (cs != NULL && cs->value.len > 0)
		json_object_set_new(o, "charset", jstr(cs->value.p, cs->value.len));
	else if (core_str_eq_cstr(p->ct.type, "text"))
		json_object_set_new(o, "charset", json_string("us-ascii"));
	else
		json_object_set_new(o, "charset", json_null());
	json_object_set_new(o, "disposition",
			    p->has_disposition && p->disposition.type.len > 0
				    ? jstr(p->disposition.type.p, p->disposition.type.len)
				    : json_null());
	json_object_set_new(o, "cid", jstr_or_null(p->content_id));
	if (p->nlanguages > 0) {
		json_t *l = json_array();
		for (size_t i = 0; i < p->nlanguages; i++)
			json_array_append_new(l, jstr(p->languages[i].p, p->languages[i].len));
		json_object_set_new(o, "language", l);
	} else {
		json_object_set_new(o, "language", json_null());
	}
	json_object_set_new(o, "location", jstr_or_null(p->location));
	if (multi) {
		json_t *sub = json_array();
		for (size_t i = 0; i < p->nchildren; i++)
			json_array_append_new(
				sub, mail_jmap_body_part(a, m, p->children[i], blob, blob_ctx));
		json_object_set_new(o, "subParts", sub);
	}
	return o;
}

/* ------------------------------------------------------------------------------------- */
/* textBody, htmlBody, attachments (RFC 8621 §4.1.4 parseStructure)                       */
/* ------------------------------------------------------------------------------------- */

struct plist {
	const struct mail_part **v;
	size_t n, cap;
};

static void plist_push(struct core_arena *a, struct plist *l, const struct mail_part *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		const struct mail_part **nv = core_arena_alloc(a, cap * sizeof(*nv));
		if (l->n > 0)
			memcpy(nv, l->v, l->n * sizeof(*nv));
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = p;
}

/* isInlineMediaType(): image, audio and video types. */
static bool inline_media(const struct mail_part *p)
{
	return core_str_eq_cstr(p->ct.type, "image") || core_str_eq_cstr(p->ct.type, "audio") ||
	       core_str_eq_cstr(p->ct.type, "video");
}

static bool type_is(const struct mail_part *p, const char *t, const char *st)
{
	return core_str_eq_cstr(p->ct.type, t) && core_str_eq_cstr(p->ct.subtype, st);
}

/*
 * The parseStructure function of §4.1.4. The JMAP bodyStructure descends only into
 * multipart types parts; message/rfc822 parts are leaves. text_body and html_body may be NULL
 * (the pseudo-code's null); like the pseudo-code's parameters, setting them to NULL here
 * affects this call only.
 */
static void parse_structure(struct core_arena *a, struct mail_part *const *parts, size_t nparts,
			    struct core_str multipart_type, bool in_alternative,
			    struct plist *html_body, struct plist *text_body,
			    struct plist *attachments)
{
	/* For multipartType == alternative: the list lengths on entry, -1 for null. */
	long text_len = text_body ? (long)text_body->n : -1;
	long html_len = html_body ? (long)html_body->n : -1;
	bool mp_alt = core_str_eq_cstr(multipart_type, "alternative");

	for (size_t i = 0; i < nparts; i++) {
		const struct mail_part *part = parts[i];
		bool is_multipart = mail_part_is_multipart(part);
		bool is_text_plain = type_is(part, "text", "plain");
		bool is_text_html = type_is(part, "text", "html");
		/* Is this a body part rather than an attachment: not disposition attachment,
		 * one of the allowed body types, and either the first part, or (outside
		 * multipart/related) inline media or a part without a name. */
		bool is_inline = !is_attachment_disposition(part) &&
				 (is_text_plain || is_text_html || inline_media(part)) &&
				 (i == 0 || (!core_str_eq_cstr(multipart_type, "related") &&
					     (inline_media(part) || part_name(part).len == 0)));
		if (is_multipart) {
			bool sub_alt = core_str_eq_cstr(part->ct.subtype, "alternative");
			parse_structure(a, part->children, part->nchildren, part->ct.subtype,
					in_alternative || sub_alt, html_body, text_body,
					attachments);
		} else if (is_inline) {
			if (mp_alt) {
				/* The pseudo-code pushes without checking for null; a list set to
				 * null by an enclosing alternative (an alternative inside a
				 * related inside an alternative) would throw there. Here the part
				 * is left out of that list, as the null list says. */
				if (is_text_plain) {
					if (text_body)
						plist_push(a, text_body, part);
				} else if (is_text_html) {
					if (html_body)
						plist_push(a, html_body, part);
				} else {
					plist_push(a, attachments, part);
				}
				continue;
			} else if (in_alternative) {
				if (is_text_plain)
					html_body = NULL;
				if (is_text_html)
					text_body = NULL;
			}
			if (text_body)
				plist_push(a, text_body, part);
			if (html_body)
				plist_push(a, html_body, part);
			if ((!text_body || !html_body) && inline_media(part))
				plist_push(a, attachments, part);
		} else {
			plist_push(a, attachments, part);
		}
	}

	if (mp_alt && text_body && html_body) {
		/* Found an HTML part only: the text body takes the HTML parts. */
		if (text_len == (long)text_body->n && html_len != (long)html_body->n)
			for (size_t i = (size_t)html_len; i < html_body->n; i++)
				plist_push(a, text_body, html_body->v[i]);
		/* Found a plain text part only: the HTML body takes the text parts. */
		if (html_len == (long)html_body->n && text_len != (long)text_body->n)
			for (size_t i = (size_t)text_len; i < text_body->n; i++)
				plist_push(a, html_body, text_body->v[i]);
	}
}

static void body_lists(struct core_arena *a, const struct mail_message *m, struct plist *text,
		       struct plist *html, struct plist *att)
{
	/* Usage in §4.1.4: parseStructure([bodyStructure], 'mixed', false, ...). */
	struct mail_part *root[1] = {m->root};
	parse_structure(a, root, 1, core_str_from_cstr("mixed"), false, html, text, att);
}

/* ------------------------------------------------------------------------------------- */
/* Preview                                                                                */
/* ------------------------------------------------------------------------------------- */

struct entity {
	const char *name;
	uint32_t cp;
};

/* The character references most used in mail (HTML named references). */
static const struct entity ENTITIES[] = {
	{"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},
	{"apos", '\''},    {"nbsp", 0xA0},     {"copy", 0xA9},    {"reg", 0xAE},
	{"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
	{"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201C}, {"rdquo", 0x201D},
	{"bull", 0x2022},  {"euro", 0x20AC},   {"pound", 0xA3},   {"yen", 0xA5},
	{"cent", 0xA2},    {"sect", 0xA7},     {"deg", 0xB0},     {"middot", 0xB7},
	{"laquo", 0xAB},   {"raquo", 0xBB},    {"times", 0xD7},   {"divide", 0xF7},
	{"eacute", 0xE9},  {"egrave", 0xE8},   {"agrave", 0xE0},  {"uuml", 0xFC},
	{"ouml", 0xF6},    {"auml", 0xE4},     {"szlig", 0xDF},   {"ccedil", 0xE7},
	{"zwnj", 0x200C},  {"zwj", 0x200D},    {"shy", 0xAD},
};

/* Decode the character reference at p[i] ('&'); returns the octets consumed (0 when it
 * is not a reference, so '&' is kept). */
static size_t html_entity(const char *p, size_t len, size_t i, uint32_t *cp_out)
{
	size_t j = i + 1;
	if (j < len && p[j] == '#') {
		j++;
		bool hex = j < len && (p[j] == 'x' || p[j] == 'X');
		if (hex)
			j++;
		uint32_t v = 0;
		size_t st = j;
		while (j < len && j - st < 8) {
			char c = p[j];
			int d = core_ascii_isdigit((unsigned char)c) ? c - '0'
				: hex && c >= 'a' && c <= 'f'        ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F'        ? c - 'A' + 10
								     : -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			j++;
		}
		if (j == st)
			return 0;
		if (j < len && p[j] == ';')
			j++;
		/* Invalid code points and NUL become U+FFFD (as HTML does). */
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		*cp_out = v;
		return j - i;
	}
	size_t st = j;
	while (j < len && j - st < 10 && core_ascii_isalpha((unsigned char)p[j]))
		j++;
	if (j == st)
		return 0;
	for (size_t k = 0; k < sizeof(ENTITIES) / sizeof(ENTITIES[0]); k++) {
		size_t n = strlen(ENTITIES[k].name);
		if (n == j - st && memcmp(p + st, ENTITIES[k].name, n) == 0) {
			*cp_out = ENTITIES[k].cp;
			return j - i + (j < len && p[j] == ';' ? 1 : 0);
		}
	}
	return 0;
}

/* Does p[i..] start with "<name" followed by a non-name character? */
static bool tag_is(const char *p, size_t len, size_t i, const char *name)
{
	size_t n = strlen(name);
	if (len - i < n + 1 || core_strncasecmp_ascii(p + i + 1, name, n) != 0)
		return false;
	if (i + 1 + n == len)
		return true;
	char c = p[i + 1 + n];
	return !core_ascii_isalpha((unsigned char)c) && !core_ascii_isdigit((unsigned char)c);
}

/* Tags that do not break a line or word when rendered (HTML phrasing content). */
static bool tag_inline(const char *p, size_t len, size_t i)
{
	static const char *const names[] = {
		"a",    "b",   "i",   "u",    "em",    "strong", "span", "font", "small",
		"big",  "sub", "sup", "code", "s",     "strike", "abbr", "mark", "q",
		"cite", "tt",  "ins", "del",  "label", "wbr",    "kbd"};
	size_t j = i + 1;
	if (j < len && p[j] == '/')
		j++;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (tag_is(p, len, j - 1, names[k]))
			return true;
	return false;
}

/* Position after the end tag "</name ...>" from i, or len. */
static size_t skip_element(const char *p, size_t len, size_t i, const char *name)
{
	size_t n = strlen(name);
	for (; i + 2 + n <= len; i++) {
		if (p[i] == '<' && p[i + 1] == '/' &&
		    core_strncasecmp_ascii(p + i + 2, name, n) == 0) {
			const char *gt = memchr(p + i, '>', len - i);
			return gt ? (size_t)(gt - p) + 1 : len;
		}
	}
	return len;
}

/* Append a space unless the output is empty or ends with one (white space collapsing). */
static void ws(struct core_buf *out, size_t start)
{
	if (out->len > start && out->p[out->len - 1] != ' ')
		core_buf_putc(out, ' ');
}

void mail_jmap_html_to_text(const char *html, size_t len, struct core_buf *out)
{
	size_t start = out->len;
	size_t i = 0;
	while (i < len) {
		char c = html[i];
		if (c == '<') {
			if (len - i >= 4 && memcmp(html + i, "<!--", 4) == 0) {
				/* Comment: to the next "-->". */
				size_t j = i + 4;
				while (j + 3 <= len && memcmp(html + j, "-->", 3) != 0)
					j++;
				i = j + 3 <= len ? j + 3 : len;
				continue;
			}
			bool drop = tag_is(html, len, i, "script") ||
				    tag_is(html, len, i, "style") || tag_is(html, len, i, "head") ||
				    tag_is(html, len, i, "title");
			const char *gt = memchr(html + i, '>', len - i);
			size_t after = gt ? (size_t)(gt - html) + 1 : len;
			if (drop) {
				const char *nm = tag_is(html, len, i, "script")  ? "script"
						 : tag_is(html, len, i, "style") ? "style"
						 : tag_is(html, len, i, "head")  ? "head"
										 : "title";
				after = skip_element(html, len, after, nm);
			}
			/* Block tags ("<br>", "<p>", "<td>", ...) separate words; inline tags
			 * ("<b>", "<span>", ...) do not. */
			if (!tag_inline(html, len, i))
				ws(out, start);
			i = after;
			continue;
		}
		if (c == '&') {
			uint32_t cp;
			size_t n = html_entity(html, len, i, &cp);
			if (n > 0) {
				if (cp == 0xA0 || cp == ' ')
					ws(out, start);
				else if (cp != 0x200C && cp != 0x200D && cp != 0xAD)
					core_utf8_append(out, cp);
				i += n;
				continue;
			}
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
			ws(out, start);
			i++;
			continue;
		}
		core_buf_putc(out, c);
		i++;
	}
	if (out->len > start && out->p[out->len - 1] == ' ')
		core_buf_truncate(out, out->len - 1);
}

/* Collapse white space of plain text into single spaces, trimmed. */
static void text_collapse(const char *p, size_t len, struct core_buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v')
			ws(out, start);
		else if (c < 0x20 || c == 0x7F)
			continue; /* control characters are not text */
		else
			core_buf_putc(out, (char)c);
	}
	if (out->len > start && out->p[out->len - 1] == ' ')
		core_buf_truncate(out, out->len - 1);
}

/* Cut UTF-8 text to at most max characters (code points). */
static void utf8_cut(struct core_buf *b, size_t start, size_t max)
{
	size_t i = start, n = 0;
	while (i < b->len && n < max) {
		unsigned char c = b->p[i];
		size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		i += k;
		n++;
	}
	if (i < b->len)
		core_buf_truncate(b, i);
	if (b->len > 0 && b->len < i)
		core_buf_truncate(b, start); /* cannot happen with valid UTF-8 */
}

static void preview_from(const struct mail_message *m, const struct plist *text,
			 struct core_buf *out)
{
	/* §4.1.4 preview: from the first text part of textBody; an HTML part is turned into
	 * text first. Parts that are not text (inline images) are skipped. */
	for (size_t i = 0; i < text->n; i++) {
		const struct mail_part *p = text->v[i];
		if (!core_str_eq_cstr(p->ct.type, "text"))
			continue;
		struct mail_part cut = *p;
		/* Only the start of a long part is read (its first characters are enough); the
		 * transfer decoders take any prefix (a cut base64 quantum or QP escape is
		 * dropped or kept as text). */
		if (cut.body_len > JMAP_PREVIEW_READ)
			cut.body_len = JMAP_PREVIEW_READ;
		struct core_buf t = CORE_BUF_INIT;
		mail_part_decode_text(m, &cut, &t, NULL);
		size_t start = out->len;
		if (type_is(p, "text", "html"))
			mail_jmap_html_to_text(t.p, t.len, out);
		else
			text_collapse(t.p, t.len, out);
		core_buf_fini(&t);
		utf8_cut(out, start, JMAP_PREVIEW_MAX);
		/* A cut right after a word leaves no trailing space. */
		if (out->len > start && out->p[out->len - 1] == ' ')
			core_buf_truncate(out, out->len - 1);
		return;
	}
}

void mail_jmap_preview(struct core_arena *a, const struct mail_message *m, struct core_buf *out)
{
	struct plist text = {0}, html = {0}, att = {0};
	body_lists(a, m, &text, &html, &att);
	preview_from(m, &text, out);
}

static json_t *plist_json(struct core_arena *a, const struct mail_message *m, const struct plist *l,
			  mail_jmap_blob_fn blob, void *blob_ctx)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(arr, mail_jmap_body_part(a, m, l->v[i], blob, blob_ctx));
	return arr;
}

json_t *mail_jmap_email_body(struct core_arena *a, const struct mail_message *m,
			     mail_jmap_blob_fn blob, void *blob_ctx)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	struct plist text = {0}, html = {0}, att = {0};
	body_lists(a, m, &text, &html, &att);
	json_object_set_new(o, "bodyStructure", mail_jmap_body_part(a, m, m->root, blob, blob_ctx));
	json_object_set_new(o, "textBody", plist_json(a, m, &text, blob, blob_ctx));
	json_object_set_new(o, "htmlBody", plist_json(a, m, &html, blob, blob_ctx));
	json_object_set_new(o, "attachments", plist_json(a, m, &att, blob, blob_ctx));
	/* hasAttachment (§4.1.4 SHOULD): an item of attachments without
	 * Content-Disposition: inline. */
	bool has = false;
	for (size_t i = 0; i < att.n && !has; i++)
		has = !(att.v[i]->has_disposition &&
			core_str_eq_cstr(att.v[i]->disposition.type, "inline"));
	json_object_set_new(o, "hasAttachment", json_boolean(has));
	struct core_buf pv = CORE_BUF_INIT;
	preview_from(m, &text, &pv);
	json_object_set_new(o, "preview", jstr(pv.p ? pv.p : "", pv.len));
	core_buf_fini(&pv);
	return o;
}
