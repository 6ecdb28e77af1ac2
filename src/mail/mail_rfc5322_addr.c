/*
 * mail_rfc5322_addr.c: address lists with groups, display names and comments.
 *
 * RFC 5322 §3.4 (address-list, mailbox, name-addr, angle-addr, group, addr-spec), §3.4.1
 * (local-part, domain, domain-literal), §3.2.2 (comments), §3.2.4 (quoted strings), §4.4
 * (obsolete: obs-route "<@a,@b:user@host>", CFWS around dots, empty list elements, phrases
 * with '.'), RFC 6532 §3.2 (UTF-8 atext), RFC 2047 §5 (2) (encoded words in phrases and
 * comments), RFC 8621 §4.1.2.3-4 (Addresses / GroupedAddresses forms: a comment after a bare
 * addr-spec gives the name, unparseable parts are kept as well as can be done).
 */
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

enum tok_kind { TOK_ATOM, TOK_QUOTED, TOK_DLIT, TOK_SPECIAL };

struct tok {
	enum tok_kind kind;
	struct core_str text;    /* arena-owned: atom, unescaped quoted content, literal */
	char special;            /* for TOK_SPECIAL */
	bool ws_before;          /* white space or comment before it */
	struct core_str comment; /* first comment right after it, or empty */
};

struct toks {
	struct tok *t;
	size_t n, cap;
};

/* RFC 5322 §3.2.3 atext plus '.', and any 8-bit octet (RFC 6532 §3.2); stray ']', ')' and
 * '\\' are swallowed as atom text so that nothing is lost. */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c != 0x7F && strchr("<>@,;:\"([", c) == NULL;
}

static struct tok *tok_push(struct toks *ts)
{
	if (ts->n == ts->cap) {
		ts->cap = ts->cap ? ts->cap * 2 : 16;
		ts->t = core_xrealloc(ts->t, ts->cap * sizeof(*ts->t));
	}
	struct tok *t = &ts->t[ts->n++];
	memset(t, 0, sizeof(*t));
	return t;
}

static void tokenize(struct core_arena *a, struct core_str u, struct toks *ts)
{
	const char *p = u.p;
	size_t len = u.len, i = 0;
	struct core_buf cb = CORE_BUF_INIT, qb = CORE_BUF_INIT;
	while (i < len) {
		size_t before = i;
		core_buf_reset(&cb);
		mail_cfws_skip(p, len, &i, &cb);
		if (cb.len > 0 && ts->n > 0 && ts->t[ts->n - 1].comment.len == 0)
			ts->t[ts->n - 1].comment = mail_buf_to_arena(a, &cb);
		if (i >= len)
			break;
		bool ws = i > before;
		struct tok *t = tok_push(ts);
		t->ws_before = ws;
		t->comment = core_str_make("", 0);
		unsigned char c = (unsigned char)p[i];
		if (c == '"') {
			/* RFC 5322 §3.2.4; an unclosed quote runs to the end. */
			core_buf_reset(&qb);
			i++;
			while (i < len && p[i] != '"') {
				if (p[i] == '\\' && i + 1 < len)
					i++;
				core_buf_putc(&qb, p[i]);
				i++;
			}
			if (i < len)
				i++;
			t->kind = TOK_QUOTED;
			t->text = mail_buf_to_arena(a, &qb);
		} else if (c == '[') {
			/* RFC 5322 §3.4.1 domain-literal, kept with its brackets. */
			size_t s = i;
			while (i < len && p[i] != ']')
				i++;
			if (i < len)
				i++;
			t->kind = TOK_DLIT;
			t->text =
				core_str_make(core_str_dup(a, core_str_make(p + s, i - s)), i - s);
		} else if (strchr("<>@,;:", c) != NULL) {
			t->kind = TOK_SPECIAL;
			t->special = (char)c;
			t->text = core_str_make("", 0);
			i++;
		} else {
			size_t s = i;
			while (i < len && atom_char((unsigned char)p[i]))
				i++;
			if (i == s)
				i++; /* cannot happen: '(' and '"' handled above; guard anyway */
			t->kind = TOK_ATOM;
			t->text =
				core_str_make(core_str_dup(a, core_str_make(p + s, i - s)), i - s);
		}
	}
	core_buf_fini(&cb);
	core_buf_fini(&qb);
}

static bool is_special(const struct tok *t, char c)
{
	return t->kind == TOK_SPECIAL && t->special == c;
}

/* RFC 5322 §3.2.5 phrase: words joined by single spaces where the source had white space,
 * then RFC 2047 decoding, trimming and NFC. */
static struct core_str phrase(struct core_arena *a, const struct tok *t, size_t s, size_t e,
			      struct core_str *raw_out)
{
	struct core_buf b = CORE_BUF_INIT, d = CORE_BUF_INIT;
	for (size_t k = s; k < e; k++) {
		if (k > s && t[k].ws_before)
			core_buf_putc(&b, ' ');
		if (t[k].kind == TOK_SPECIAL)
			core_buf_putc(&b, t[k].special);
		else
			core_buf_append(&b, t[k].text.p, t[k].text.len);
	}
	if (raw_out != NULL) {
		struct core_str rt = core_str_trim(core_str_make(b.p != NULL ? b.p : "", b.len));
		*raw_out = core_str_make(core_str_dup(a, rt), rt.len);
	}
	mail_ew_decode(b.p != NULL ? b.p : "", b.len, 0, &d);
	struct core_str tr = core_str_trim(core_str_make(d.p, d.len));
	struct core_str r = mail_utf8_nfc(a, tr.p, tr.len);
	core_buf_fini(&b);
	core_buf_fini(&d);
	return r;
}

/* RFC 5322 §3.2.4: does a local-part need quoting to stay a dot-atom? */
static bool needs_quotes(struct core_str s)
{
	if (s.len == 0 || s.p[0] == '.' || s.p[s.len - 1] == '.')
		return true;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x80 && !(core_ascii_isalpha(c) || core_ascii_isdigit(c) ||
				  strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL))
			return true;
		if (c == '.' && i + 1 < s.len && s.p[i + 1] == '.')
			return true;
	}
	return false;
}

/* addr-spec text: tokens concatenated without CFWS (RFC 5322 §4.4), quoted local parts kept
 * quoted when they need it, 8-bit made UTF-8. */
static struct core_str addr_spec(struct core_arena *a, const struct tok *t, size_t s, size_t e)
{
	struct core_buf b = CORE_BUF_INIT, u = CORE_BUF_INIT;
	for (size_t k = s; k < e; k++) {
		if (t[k].kind == TOK_SPECIAL) {
			core_buf_putc(&b, t[k].special);
		} else if (t[k].kind == TOK_QUOTED && needs_quotes(t[k].text)) {
			core_buf_putc(&b, '"');
			for (size_t i = 0; i < t[k].text.len; i++) {
				char c = t[k].text.p[i];
				if (c == '"' || c == '\\')
					core_buf_putc(&b, '\\');
				core_buf_putc(&b, c);
			}
			core_buf_putc(&b, '"');
		} else {
			core_buf_append(&b, t[k].text.p, t[k].text.len);
		}
	}
	struct core_str r;
	if (b.len > 0 && !core_utf8_is_ascii(b.p, b.len)) {
		mail_charset_unknown_append(b.p, b.len, &u);
		r = mail_buf_to_arena(a, &u);
	} else {
		r = mail_buf_to_arena(a, &b);
	}
	core_buf_fini(&b);
	core_buf_fini(&u);
	return r;
}

/* email, local and domain of the addr-spec in t[s, e) (the first top-level '@' splits). */
static void addr_parts(struct core_arena *a, const struct tok *t, size_t s, size_t e,
		       struct mail_addr *out)
{
	size_t at = e;
	for (size_t k = s; k < e; k++)
		if (is_special(&t[k], '@')) {
			at = k;
			break;
		}
	out->email = addr_spec(a, t, s, e);
	out->local = addr_spec(a, t, s, at);
	out->domain = at < e ? addr_spec(a, t, at + 1, e) : core_str_make("", 0);
}

struct addr_vec {
	struct mail_addr *v;
	size_t n, cap;
};

static void addr_push(struct addr_vec *av, struct mail_addr ad)
{
	if (av->n == av->cap) {
		av->cap = av->cap ? av->cap * 2 : 8;
		av->v = core_xrealloc(av->v, av->cap * sizeof(*av->v));
	}
	av->v[av->n++] = ad;
}

/* One mailbox in t[s, e) (no top-level ',' inside). Returns false when empty. */
static bool mailbox(struct core_arena *a, const struct tok *t, size_t s, size_t e,
		    struct mail_addr *out, bool *invalid)
{
	memset(out, 0, sizeof(*out));
	out->name = core_str_make("", 0);
	out->email = core_str_make("", 0);
	out->local = core_str_make("", 0);
	out->domain = core_str_make("", 0);
	out->name_raw = core_str_make("", 0);
	if (s >= e)
		return false;
	size_t lt = e;
	for (size_t k = s; k < e; k++)
		if (is_special(&t[k], '<')) {
			lt = k;
			break;
		}
	if (lt < e) {
		/* RFC 5322 §3.4 name-addr: [display-name] angle-addr. */
		size_t gt = lt + 1;
		while (gt < e && !is_special(&t[gt], '>'))
			gt++;
		if (gt == e || gt + 1 != e)
			*invalid = true; /* no '>' or text after it */
		size_t as = lt + 1;
		/* RFC 5322 §4.4 obs-angle-addr: an obs-route ("@a,@b:") before the addr-spec
		 * is dropped; a ':' in anything else (a URI in a List-* field) is kept. */
		if (lt + 1 < gt && (is_special(&t[lt + 1], '@') || is_special(&t[lt + 1], ',')))
			for (size_t k = lt + 1; k < gt; k++)
				if (is_special(&t[k], ':')) {
					as = k + 1;
					break;
				}
		addr_parts(a, t, as, gt, out);
		out->name = phrase(a, t, s, lt, &out->name_raw);
		out->has_name = out->name.len > 0;
		if (!out->has_name && gt < e && t[gt].comment.len > 0) {
			out->name = mail_hdr_text(a, t[gt].comment);
			out->has_name = out->name.len > 0;
		}
		return true;
	}
	/* RFC 5322 §3.4.1 bare addr-spec. The addr-spec is the run of tokens around '@' with no
	 * white space inside; words before it are a display name missing its brackets. */
	size_t at = e;
	for (size_t k = s; k < e; k++)
		if (is_special(&t[k], '@')) {
			at = k;
			break;
		}
	size_t as = s, ae = e;
	if (at < e) {
		/* Walk back over the local-part: tokens joined without white space, or by
		 * dots with CFWS around them (RFC 5322 §4.4 obs-local-part). */
		as = at;
		while (as > s) {
			const struct tok *cur = &t[as], *prev = &t[as - 1];
			bool joined =
				!cur->ws_before || is_special(cur, '@') ||
				(cur->text.len > 0 && cur->text.p[0] == '.') ||
				(prev->text.len > 0 && prev->text.p[prev->text.len - 1] == '.');
			if (!joined || prev->kind == TOK_SPECIAL)
				break;
			as--;
		}
		ae = e;
	} else {
		*invalid = true;
	}
	if (as > s) {
		*invalid = true;
		out->name = phrase(a, t, s, as, &out->name_raw);
		out->has_name = out->name.len > 0;
	}
	addr_parts(a, t, as, ae, out);
	if (!out->has_name) {
		for (size_t k = ae; k-- > as;) {
			if (t[k].comment.len > 0) {
				out->name = mail_hdr_text(a, t[k].comment);
				out->has_name = out->name.len > 0;
				break;
			}
		}
	}
	return out->email.len > 0 || out->has_name;
}

/* End of a list element: next top-level ',' (or stop) outside angle brackets. */
static size_t element_end(const struct tok *t, size_t s, size_t n, bool stop_semicolon)
{
	bool angle = false;
	for (size_t k = s; k < n; k++) {
		if (is_special(&t[k], '<'))
			angle = true;
		else if (is_special(&t[k], '>'))
			angle = false;
		else if (!angle &&
			 (is_special(&t[k], ',') || (stop_semicolon && is_special(&t[k], ';'))))
			return k;
	}
	return n;
}

/* Is the element t[s, e) a group ("name:" before any '<' or '@')? Returns the ':' index. */
static size_t group_colon(const struct tok *t, size_t s, size_t n)
{
	for (size_t k = s; k < n; k++) {
		if (is_special(&t[k], ':'))
			return k;
		if (is_special(&t[k], '<') || is_special(&t[k], '@') || is_special(&t[k], ',') ||
		    is_special(&t[k], ';'))
			return SIZE_MAX;
	}
	return SIZE_MAX;
}

struct group_vec {
	struct mail_addr_group *v;
	size_t n, cap;
};

static void group_push(struct core_arena *a, struct group_vec *gv, struct core_str name,
		       bool is_group, struct addr_vec *av)
{
	if (gv->n == gv->cap) {
		gv->cap = gv->cap ? gv->cap * 2 : 4;
		gv->v = core_xrealloc(gv->v, gv->cap * sizeof(*gv->v));
	}
	struct mail_addr_group *g = &gv->v[gv->n++];
	g->name = name;
	g->is_group = is_group;
	g->count = av->n;
	g->addrs = core_arena_memdup(a, av->v != NULL ? (void *)av->v : (void *)"",
				     av->n * sizeof(*av->v));
	av->n = 0;
}

void mail_addr_list_parse(struct core_arena *a, struct core_str raw, struct mail_addr_list *out)
{
	memset(out, 0, sizeof(*out));
	struct core_str u = mail_hdr_unfold(a, raw);
	struct toks ts = {0};
	tokenize(a, u, &ts);
	struct tok *t = ts.t;
	size_t n = ts.n, i = 0;
	struct addr_vec loose = {0}, inner = {0};
	struct group_vec gv = {0};
	while (i < n) {
		size_t colon = group_colon(t, i, n);
		if (colon != SIZE_MAX) {
			/* RFC 5322 §3.4 group: display-name ":" [group-list] ";" */
			if (loose.n > 0)
				group_push(a, &gv, core_str_make("", 0), false, &loose);
			struct core_str gname = phrase(a, t, i, colon, NULL);
			size_t k = colon + 1;
			while (k < n && !is_special(&t[k], ';')) {
				size_t e = element_end(t, k, n, true);
				struct mail_addr ad;
				if (mailbox(a, t, k, e, &ad, &out->invalid))
					addr_push(&inner, ad);
				k = e;
				if (k < n && is_special(&t[k], ','))
					k++;
			}
			if (k >= n)
				out->invalid = true; /* group without ';' */
			out->naddrs += inner.n;
			group_push(a, &gv, gname, true, &inner);
			i = k < n ? k + 1 : n;
			/* After ';' the next element starts after an optional ','. */
			while (i < n && is_special(&t[i], ','))
				i++;
			continue;
		}
		size_t e = element_end(t, i, n, true);
		struct mail_addr ad;
		if (mailbox(a, t, i, e, &ad, &out->invalid)) {
			addr_push(&loose, ad);
			out->naddrs++;
		}
		i = e < n ? e + 1 : n;
	}
	if (loose.n > 0)
		group_push(a, &gv, core_str_make("", 0), false, &loose);
	out->groups = core_arena_memdup(a, gv.v != NULL ? (void *)gv.v : (void *)"",
					gv.n * sizeof(*gv.v));
	out->ngroups = gv.n;
	free(gv.v);
	free(loose.v);
	free(inner.v);
	free(ts.t);
}
