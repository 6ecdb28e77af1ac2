/*
 * helper_render.c: deterministic JSON of a parsed message (see helper_render.h). Keys come
 * in a fixed order, one per line, so a difference shows as a readable diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_utf8.h"
#include "helper_render.h"

struct jw {
	struct core_buf *b;
	int indent;
	bool first;
};

static void jw_nl(struct jw *w)
{
	core_buf_putc(w->b, '\n');
	for (int i = 0; i < w->indent; i++)
		core_buf_append(w->b, "  ", 2);
}

static void jw_str(struct jw *w, const char *p, size_t len)
{
	core_buf_putc(w->b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\') {
			core_buf_putc(w->b, '\\');
			core_buf_putc(w->b, (char)c);
		} else if (c == '\n') {
			core_buf_append_str(w->b, "\\n");
		} else if (c == '\r') {
			core_buf_append_str(w->b, "\\r");
		} else if (c == '\t') {
			core_buf_append_str(w->b, "\\t");
		} else if (c < 0x20 || c == 0x7F) {
			core_buf_printf(w->b, "\\u%04x", c);
		} else {
			core_buf_putc(w->b, (char)c);
		}
	}
	core_buf_putc(w->b, '"');
}

static void jw_key(struct jw *w, const char *k)
{
	if (!w->first)
		core_buf_putc(w->b, ',');
	w->first = false;
	jw_nl(w);
	jw_str(w, k, strlen(k));
	core_buf_append_str(w->b, ": ");
}

static void jw_open(struct jw *w, char c)
{
	core_buf_putc(w->b, c);
	w->indent++;
	w->first = true;
}

static void jw_close(struct jw *w, char c)
{
	w->indent--;
	if (!w->first)
		jw_nl(w);
	core_buf_putc(w->b, c);
	w->first = false;
}

/* An array element on its own line. */
static void jw_elem(struct jw *w)
{
	if (!w->first)
		core_buf_putc(w->b, ',');
	w->first = false;
	jw_nl(w);
}

static void jw_kstr(struct jw *w, const char *k, struct core_str s)
{
	jw_key(w, k);
	jw_str(w, s.p != NULL ? s.p : "", s.len);
}

static void jw_range(struct jw *w, const char *k, size_t off, size_t len, long lines)
{
	jw_key(w, k);
	if (lines >= 0)
		core_buf_printf(w->b, "[%zu, %zu, %ld]", off, len, lines);
	else
		core_buf_printf(w->b, "[%zu, %zu]", off, len);
}

static const struct {
	unsigned flag;
	const char *name;
} part_flags[] = {
	{MAIL_PART_F_NO_BLANK_LINE, "no-blank-line"},
	{MAIL_PART_F_HDR_JUNK, "header-junk"},
	{MAIL_PART_F_CT_DEFAULT, "type-default"},
	{MAIL_PART_F_CT_INVALID, "type-invalid"},
	{MAIL_PART_F_NO_BOUNDARY, "no-boundary"},
	{MAIL_PART_F_BOUNDARY_MISSING, "boundary-missing"},
	{MAIL_PART_F_NO_CLOSE, "no-close"},
	{MAIL_PART_F_ENCODED_MESSAGE, "encoded-message"},
	{MAIL_PART_F_DEPTH, "depth"},
	{MAIL_PART_F_PARTS, "parts"},
	{MAIL_PART_F_LONG_LINE, "long-line"},
};

static void render_params(struct jw *w, const char *k, const struct mail_mime_value *v)
{
	if (v->nparams == 0)
		return;
	jw_key(w, k);
	jw_open(w, '[');
	for (size_t i = 0; i < v->nparams; i++) {
		const struct mail_param *p = &v->params[i];
		jw_elem(w);
		core_buf_putc(w->b, '[');
		jw_str(w, p->name.p, p->name.len);
		core_buf_append_str(w->b, ", ");
		jw_str(w, p->value.p, p->value.len);
		if (p->flags & MAIL_PARAM_F_2231) {
			core_buf_append_str(w->b, ", ");
			jw_str(w, p->charset.p, p->charset.len);
			core_buf_append_str(w->b, ", ");
			jw_str(w, p->language.p, p->language.len);
		}
		core_buf_putc(w->b, ']');
	}
	jw_close(w, ']');
}

/* IDN forms of an address, only when they differ from the email: "emailUnicode" with the
 * A-labels of the domain shown as U-labels, "emailAscii" with a UTF-8 domain as A-labels. */
static void render_idn(struct core_arena *a, struct jw *w, const struct mail_addr *ad)
{
	struct core_str u = mail_addr_email_unicode(a, ad);
	if (!core_str_eq(u, ad->email)) {
		core_buf_append_str(w->b, ", \"emailUnicode\": ");
		jw_str(w, u.p, u.len);
	}
	struct core_str d;
	if (ad->domain.len > 0 && !core_utf8_is_ascii(ad->domain.p, ad->domain.len) &&
	    mail_idn_to_ascii(a, ad->domain, &d, NULL) == 0) {
		core_buf_append_str(w->b, ", \"emailAscii\": ");
		core_buf_append(w->b, "\"", 1);
		core_buf_append(w->b, ad->local.p, ad->local.len);
		core_buf_putc(w->b, '@');
		core_buf_append(w->b, d.p, d.len);
		core_buf_putc(w->b, '"');
	}
}

static void render_addrs(struct core_arena *a, struct jw *w, const char *k,
			 const struct mail_field *f)
{
	struct mail_addr_list al;
	mail_addr_list_parse(a, f->value, &al);
	jw_key(w, k);
	jw_open(w, '[');
	for (size_t g = 0; g < al.ngroups; g++) {
		const struct mail_addr_group *gr = &al.groups[g];
		if (gr->is_group) {
			jw_elem(w);
			core_buf_append_str(w->b, "{\"group\": ");
			jw_str(w, gr->name.p, gr->name.len);
			core_buf_append_str(w->b, ", \"addresses\": [");
		}
		for (size_t i = 0; i < gr->count; i++) {
			if (gr->is_group) {
				if (i > 0)
					core_buf_append_str(w->b, ", ");
			} else {
				jw_elem(w);
			}
			core_buf_append_str(w->b, "{\"name\": ");
			if (gr->addrs[i].has_name)
				jw_str(w, gr->addrs[i].name.p, gr->addrs[i].name.len);
			else
				core_buf_append_str(w->b, "null");
			core_buf_append_str(w->b, ", \"email\": ");
			jw_str(w, gr->addrs[i].email.p, gr->addrs[i].email.len);
			render_idn(a, w, &gr->addrs[i]);
			core_buf_putc(w->b, '}');
		}
		if (gr->is_group)
			core_buf_append_str(w->b, "]}");
	}
	jw_close(w, ']');
}

static void render_ids(struct core_arena *a, struct jw *w, const char *k,
		       const struct mail_field *f)
{
	struct mail_msgid_list ids;
	mail_msgid_list_parse(a, f->value, &ids);
	jw_key(w, k);
	core_buf_putc(w->b, '[');
	for (size_t i = 0; i < ids.count; i++) {
		if (i > 0)
			core_buf_append_str(w->b, ", ");
		jw_str(w, ids.ids[i].p, ids.ids[i].len);
	}
	core_buf_putc(w->b, ']');
}

static void render_headers(struct core_arena *a, struct jw *w, const struct mail_header *h)
{
	static const char *const addr_fields[] = {"From", "Sender", "Reply-To", "To", "Cc", "Bcc"};
	static const char *const id_fields[] = {"Message-ID", "In-Reply-To", "References"};
	jw_key(w, "headers");
	jw_open(w, '{');
	const struct mail_field *f = mail_header_find_last(h, "Subject");
	if (f != NULL)
		jw_kstr(w, "subject", mail_hdr_text(a, f->value));
	for (size_t i = 0; i < CORE_NELEM(addr_fields); i++) {
		f = mail_header_find_last(h, addr_fields[i]);
		if (f != NULL) {
			char k[32];
			snprintf(k, sizeof(k), "%s", addr_fields[i]);
			for (char *q = k; *q != '\0'; q++)
				*q = core_ascii_lower(*q);
			render_addrs(a, w, k, f);
		}
	}
	f = mail_header_find_last(h, "Date");
	if (f != NULL) {
		time_t t;
		int off;
		jw_key(w, "date");
		if (mail_date_parse(f->value, &t, &off, NULL) >= 0)
			core_buf_printf(w->b, "[%lld, %d]", (long long)t, off);
		else
			core_buf_append_str(w->b, "null");
	}
	for (size_t i = 0; i < CORE_NELEM(id_fields); i++) {
		f = mail_header_find_last(h, id_fields[i]);
		if (f != NULL) {
			char k[32];
			snprintf(k, sizeof(k), "%s", id_fields[i]);
			for (char *q = k; *q != '\0'; q++)
				*q = core_ascii_lower(*q);
			render_ids(a, w, k, f);
		}
	}
	/* RFC 2369 list fields in the URLs form of RFC 8621 §4.1.2.7 (null when it does not
	 * parse), List-Id in the Text form */
	static const char *const url_fields[] = {"List-Help", "List-Unsubscribe", "List-Subscribe",
						 "List-Post", "List-Owner",       "List-Archive"};
	f = mail_header_find_last(h, "List-Id");
	if (f != NULL)
		jw_kstr(w, "list-id", mail_hdr_text(a, f->value));
	for (size_t i = 0; i < CORE_NELEM(url_fields); i++) {
		f = mail_header_find_last(h, url_fields[i]);
		if (f == NULL)
			continue;
		char k[32];
		snprintf(k, sizeof(k), "%s", url_fields[i]);
		for (char *q = k; *q != '\0'; q++)
			*q = core_ascii_lower(*q);
		jw_key(w, k);
		struct mail_url_list ul;
		if (mail_hdr_urls(a, f->value, &ul) < 0) {
			core_buf_append_str(w->b, "null");
			continue;
		}
		core_buf_putc(w->b, '[');
		for (size_t u = 0; u < ul.count; u++) {
			if (u > 0)
				core_buf_append_str(w->b, ", ");
			jw_str(w, ul.urls[u].p, ul.urls[u].len);
		}
		core_buf_putc(w->b, ']');
	}
	jw_close(w, '}');
}

static void render_part(struct core_arena *a, struct jw *w, const struct mail_message *m,
			const struct mail_part *p)
{
	jw_open(w, '{');
	jw_key(w, "index");
	core_buf_printf(w->b, "%zu", p->index);
	jw_range(w, "header", p->header_off, p->header_len, (long)p->header_lines);
	jw_range(w, "body", p->body_off, p->body_len, (long)p->body_lines);
	jw_key(w, "fields");
	core_buf_printf(w->b, "%zu", p->header.count);
	jw_key(w, "type");
	core_buf_putc(w->b, '"');
	core_buf_append(w->b, p->ct.type.p, p->ct.type.len);
	core_buf_putc(w->b, '/');
	core_buf_append(w->b, p->ct.subtype.p, p->ct.subtype.len);
	core_buf_putc(w->b, '"');
	render_params(w, "params", &p->ct);
	if (p->cte_raw.len > 0 || p->cte != MAIL_CTE_7BIT)
		jw_kstr(w, "cte", core_str_from_cstr(mail_cte_name(p->cte)));
	if (p->has_disposition) {
		jw_kstr(w, "disposition", p->disposition.type);
		render_params(w, "dispositionParams", &p->disposition);
	}
	if (p->content_id.len > 0)
		jw_kstr(w, "id", p->content_id);
	if (p->description.len > 0)
		jw_kstr(w, "description", p->description);
	if (p->nlanguages > 0) {
		jw_key(w, "language");
		core_buf_putc(w->b, '[');
		for (size_t i = 0; i < p->nlanguages; i++) {
			if (i > 0)
				core_buf_append_str(w->b, ", ");
			jw_str(w, p->languages[i].p, p->languages[i].len);
		}
		core_buf_putc(w->b, ']');
	}
	if (p->location.len > 0)
		jw_kstr(w, "location", p->location);
	if (p->flags != 0) {
		jw_key(w, "flags");
		core_buf_putc(w->b, '[');
		bool first = true;
		for (size_t i = 0; i < CORE_NELEM(part_flags); i++) {
			if (!(p->flags & part_flags[i].flag))
				continue;
			if (!first)
				core_buf_append_str(w->b, ", ");
			first = false;
			jw_str(w, part_flags[i].name, strlen(part_flags[i].name));
		}
		core_buf_putc(w->b, ']');
	}
	if (p->parent == NULL || mail_part_is_message(p->parent))
		render_headers(a, w, &p->header);
	if (p->boundary.len > 0) {
		jw_kstr(w, "boundary", p->boundary);
		jw_range(w, "preamble", p->preamble_off, p->preamble_len, -1);
		jw_range(w, "epilogue", p->epilogue_off, p->epilogue_len, -1);
	}
	if (p->nchildren == 0 && core_str_eq_cstr(p->ct.type, "text")) {
		struct core_buf t = CORE_BUF_INIT;
		char eff[MAIL_CHARSET_NAME_MAX];
		int r = mail_part_decode_text(m, p, &t, eff);
		jw_key(w, "text");
		jw_str(w, t.p != NULL ? t.p : "", t.len);
		if (r != MAIL_CHARSET_OK) {
			jw_key(w, "charsetResult");
			core_buf_printf(w->b, "%d", r);
			jw_kstr(w, "charsetEffective", core_str_from_cstr(eff));
		}
		core_buf_fini(&t);
	}
	if (p->nchildren > 0) {
		jw_key(w, "children");
		jw_open(w, '[');
		for (size_t i = 0; i < p->nchildren; i++) {
			jw_elem(w);
			render_part(a, w, m, p->children[i]);
		}
		jw_close(w, ']');
	}
	jw_close(w, '}');
}

void mail_test_render(struct core_arena *a, const struct mail_message *m, struct core_buf *out)
{
	struct jw w = {.b = out, .indent = 0, .first = true};
	jw_open(&w, '{');
	jw_key(&w, "size");
	core_buf_printf(out, "%zu", m->len);
	jw_key(&w, "parts");
	core_buf_printf(out, "%zu", m->nparts);
	if (m->nproblems > 0) {
		jw_key(&w, "problems");
		jw_open(&w, '[');
		for (size_t i = 0; i < m->nproblems; i++) {
			jw_elem(&w);
			core_buf_printf(out, "{\"kind\": \"%s\", \"offset\": %zu, \"part\": %zu}",
					mail_problem_name(m->problems[i].kind),
					m->problems[i].offset, m->problems[i].part->index);
		}
		jw_close(&w, ']');
	}
	jw_key(&w, "root");
	render_part(a, &w, m, m->root);
	jw_close(&w, '}');
	core_buf_putc(out, '\n');
}

char *mail_test_read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		core_buf_append(&b, tmp, n);
	fclose(f);
	core_buf_append(&b, "", 0);
	return core_buf_detach(&b, len_out);
}
