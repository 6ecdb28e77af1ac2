/*
 * mail_build.c: the message builder (see mail.h for the interface and its rules).
 *
 * RFC 5322 §2.1.1 (lines at most 998 octets, 78 recommended), §2.2.3 (folding: a CRLF is put
 * before white space only), §3.2.3-§3.2.5 (atoms, quoted strings, phrases, unstructured
 * text), §3.3 (dates), §3.4 (address lists and groups), §3.6.4 (message ids). RFC 2047 §2
 * (encoded words at most 75 octets, lines holding them at most 76), §4 (B and Q), §5 (where
 * encoded words may stand: unstructured text and phrases, separated by white space; Q in a
 * phrase uses only letters, digits and "!*+-/"). RFC 6532 §3.2 (raw UTF-8 instead).
 * RFC 2045 §6 (transfer encodings), RFC 2046 §4.1.1 (canonical CRLF text), §5.1.1 (boundaries
 * must not occur in the parts), §5.2.1 (message/rfc822 only 7bit, 8bit or binary), RFC 2231
 * §3-§4 (parameter continuations and charsets), RFC 2183 (Content-Disposition), RFC 6522 §3
 * (multipart/report and its report-type) and §4 (text/rfc822-headers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/core_codec.h"
#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* RFC 2047 §2: lines with encoded words at most 76 octets; used for every line (RFC 5322
 * §2.1.1 asks for 78). */
#define FOLD_WIDTH 76
/* RFC 5322 §2.1.1: the hard limit, line ending excluded. */
#define LINE_MAX_OCTETS 998
/* RFC 2047 §2: an encoded word is at most 75 octets. */
#define EW_MAX 75
#define EW_PREFIX "=?UTF-8?"
/* "=?UTF-8?Q?" and "?=" */
#define EW_OVERHEAD 12
/* Longer words are encoded (unstructured text, phrases) so that a line can be split. */
#define WORD_SPLIT 900
/* Octets of a parameter value per RFC 2231 section. */
#define PARAM_SECTION 48

enum bkind { BK_NONE = 0, BK_MULTI, BK_LEAF };

struct bfield {
	struct core_str text; /* "Name: value" folded, with its final CRLF */
	struct bfield *next;
};

struct bparam {
	char *name, *value;
};

struct mail_build_part {
	struct mail_build *b;
	struct bfield *fields, **ftail;
	enum bkind kind;
	char *type; /* "text/plain", "multipart/mixed" */
	struct bparam *params;
	size_t nparams;
	/* leaf */
	struct core_str body; /* encoded */
	const char *cte;      /* NULL for 7bit (no field written) */
	/* multipart */
	struct mail_build_part **children;
	size_t nchildren, capchildren;
	/* Content-Disposition */
	char *disp, *filename;
};

struct mail_build {
	struct core_arena *a;
	unsigned flags;
	uint64_t seed;
	struct mail_build_part *root;
};

/* ------------------------------------------------------------------------------------- */
/* Items: pieces of a field value with the white space before them                        */
/* ------------------------------------------------------------------------------------- */

struct item {
	size_t sep_off, sep_len; /* white space before the item (a fold may go there) */
	size_t off, len;         /* the item text */
	bool ew;                 /* text is UTF-8 to write as encoded words */
};

struct items {
	struct core_buf pool;
	struct item *v;
	size_t n, cap;
};

static void items_fini(struct items *it)
{
	core_buf_fini(&it->pool);
	free(it->v);
}

static void items_add(struct items *it, const char *sep, size_t seplen, const char *p, size_t len,
		      bool ew)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 16;
		it->v = core_xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	struct item *t = &it->v[it->n++];
	t->sep_off = it->pool.len;
	t->sep_len = seplen;
	core_buf_append(&it->pool, sep, seplen);
	t->off = it->pool.len;
	t->len = len;
	core_buf_append(&it->pool, p, len);
	t->ew = ew;
}

/* Append text to the last item (";" after a parameter, "," after an address). The last
 * item's text is always at the end of the pool. */
static void items_glue(struct items *it, const char *s)
{
	size_t n = strlen(s);
	core_buf_append(&it->pool, s, n);
	it->v[it->n - 1].len += n;
}

/* Split plain text at runs of spaces: each run becomes the separator of the next piece; the
 * first piece gets first_sep when no space precedes it. */
static void items_add_split(struct items *it, const char *p, size_t len, const char *first_sep)
{
	size_t i = 0;
	bool first = true;
	while (i < len) {
		size_t s = i;
		while (i < len && p[i] == ' ')
			i++;
		size_t w = i;
		while (i < len && p[i] != ' ')
			i++;
		if (i == w)
			break; /* white space at the end (callers trim it) */
		const char *sep = p + s;
		size_t seplen = w - s;
		if (first && seplen == 0) {
			sep = first_sep;
			seplen = strlen(first_sep);
		}
		items_add(it, sep, seplen, p + w, i - w, false);
		first = false;
	}
}

/* ------------------------------------------------------------------------------------- */
/* Encoded words (RFC 2047)                                                              */
/* ------------------------------------------------------------------------------------- */

/* RFC 2047 §5 (3): the characters a Q word may carry as themselves in a phrase (valid in
 * unstructured text too). */
static bool q_safe(unsigned char c)
{
	return core_ascii_isalpha(c) || core_ascii_isdigit(c) || strchr("!*+-/", c) != NULL;
}

static size_t q_cost(unsigned char c)
{
	return (q_safe(c) || c == ' ') ? 1 : 3;
}

static size_t b_cost(size_t octets)
{
	return 4 * ((octets + 2) / 3);
}

/* Length of the UTF-8 sequence starting at p (input already validated). */
static size_t seq_len(const char *p, size_t len)
{
	uint32_t cp;
	int n = core_utf8_decode(p, len, &cp);
	return n > 0 ? (size_t)n : 1;
}

/* Octets of p[0, len) (whole characters) whose encoding fits in max characters. */
static size_t ew_fit(const char *p, size_t len, char enc, size_t max)
{
	size_t i = 0, q = 0;
	while (i < len) {
		size_t n = seq_len(p + i, len - i);
		size_t cost;
		if (enc == 'Q') {
			size_t add = 0;
			for (size_t k = 0; k < n; k++)
				add += q_cost((unsigned char)p[i + k]);
			cost = q + add;
			if (cost > max)
				break;
			q = cost;
		} else {
			cost = b_cost(i + n);
			if (cost > max)
				break;
		}
		i += n;
	}
	return i;
}

static void ew_write(struct core_buf *out, const char *p, size_t len, char enc)
{
	core_buf_append_str(out, EW_PREFIX);
	core_buf_putc(out, enc);
	core_buf_putc(out, '?');
	if (enc == 'B') {
		core_base64_encode(out, p, len);
	} else {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c == ' ')
				core_buf_putc(out, '_');
			else if (q_safe(c))
				core_buf_putc(out, (char)c);
			else
				core_buf_printf(out, "=%02X", c);
		}
	}
	core_buf_append_str(out, "?=");
}

/* RFC 2047 §4: Q or B, whichever is shorter for this text. */
static char ew_choose(const char *p, size_t len)
{
	size_t q = 0;
	for (size_t i = 0; i < len; i++)
		q += q_cost((unsigned char)p[i]);
	return q <= b_cost(len) ? 'Q' : 'B';
}

/* ------------------------------------------------------------------------------------- */
/* Folding                                                                                 */
/* ------------------------------------------------------------------------------------- */

struct folder {
	struct core_buf *out;
	size_t col;   /* octets on the current line */
	bool content; /* the current line holds more than white space */
};

static void fold_break(struct folder *f)
{
	/* RFC 5322 §2.2.3: folding is a CRLF put before white space. */
	core_buf_append(f->out, "\r\n", 2);
	f->col = 0;
	f->content = false;
}

static int fold_items(struct core_buf *out, const char *name, const struct items *it,
		      struct core_error *err)
{
	struct folder f = {.out = out, .col = strlen(name) + 1, .content = true};
	core_buf_append_str(out, name);
	core_buf_putc(out, ':');
	for (size_t i = 0; i < it->n; i++) {
		const struct item *t = &it->v[i];
		const char *sep = it->pool.p + t->sep_off, *p = it->pool.p + t->off;
		size_t seplen = t->sep_len;
		if (i == 0 && seplen == 0) {
			sep = " ";
			seplen = 1;
		}
		if (!t->ew) {
			if (f.col + seplen + t->len > FOLD_WIDTH && seplen > 0 && f.content)
				fold_break(&f);
			core_buf_append(out, sep, seplen);
			core_buf_append(out, p, t->len);
			f.col += seplen + t->len;
			f.content = true;
		} else {
			char enc = ew_choose(p, t->len);
			size_t pos = 0;
			bool first = true;
			while (pos < t->len) {
				const char *s = first ? sep : " ";
				size_t sl = first ? seplen : 1;
				size_t room = FOLD_WIDTH > f.col + sl ? FOLD_WIDTH - f.col - sl : 0;
				if (room > EW_MAX)
					room = EW_MAX;
				size_t take = room > EW_OVERHEAD ? ew_fit(p + pos, t->len - pos,
									  enc, room - EW_OVERHEAD)
								 : 0;
				if (take == 0) {
					if (!f.content || sl == 0)
						return core_error_set(err, CORE_EINTERNAL,
								      "RFC 2047 §2",
								      "encoded word does not fit");
					fold_break(&f);
					continue;
				}
				size_t before = out->len;
				core_buf_append(out, s, sl);
				ew_write(out, p + pos, take, enc);
				f.col += out->len - before;
				f.content = true;
				pos += take;
				first = false;
			}
		}
		if (f.col > LINE_MAX_OCTETS)
			return core_error_set(err, CORE_ELIMIT, "RFC 5322 §2.1.1",
					      "field %s: a line would exceed 998 octets", name);
	}
	core_buf_append(out, "\r\n", 2);
	return 0;
}

/* ------------------------------------------------------------------------------------- */
/* Checks                                                                                  */
/* ------------------------------------------------------------------------------------- */

/* RFC 5322 §3.6.8 field names: printable ASCII except ':'. */
static bool name_ok(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (const char *q = name; *q != '\0'; q++)
		if ((unsigned char)*q < 33 || (unsigned char)*q > 126 || *q == ':')
			return false;
	return true;
}

/* UTF-8 text without control characters other than tab (C0, DEL, C1). */
static int text_check(const char *s, size_t len, const char *what, struct core_error *err)
{
	if (!core_utf8_is_valid(s, len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 6532 §3.2", "%s is not valid UTF-8",
				      what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7F ||
		    (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] < 0xA0))
			return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §2.2",
					      "%s holds a control character", what);
	}
	return 0;
}

/* Tabs become spaces, white space at both ends is dropped. Arena copy. */
static struct core_str text_norm(struct core_arena *a, const char *s)
{
	size_t len = strlen(s);
	char *d = core_arena_strndup(a, s, len);
	for (size_t i = 0; i < len; i++)
		if (d[i] == '\t')
			d[i] = ' ';
	size_t st = 0;
	while (st < len && d[st] == ' ')
		st++;
	while (len > st && d[len - 1] == ' ')
		len--;
	return core_str_make(d + st, len - st);
}

static bool has_ew_marker(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (p[i] == '=' && p[i + 1] == '?')
			return true;
	return false;
}

static int field_add(struct mail_build_part *p, const char *name, const struct items *it,
		     struct core_error *err)
{
	struct core_buf out = CORE_BUF_INIT;
	int r = fold_items(&out, name, it, err);
	if (r == 0) {
		struct bfield *f = core_arena_zalloc(p->b->a, sizeof(*f));
		f->text = mail_buf_to_arena(p->b->a, &out);
		*p->ftail = f;
		p->ftail = &f->next;
	}
	core_buf_fini(&out);
	return r;
}

static int field_name_check(const char *name, struct core_error *err)
{
	static const char *const own[] = {"MIME-Version", "Content-Type",
					  "Content-Transfer-Encoding", "Content-Disposition"};
	if (!name_ok(name))
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.6.8", "bad field name");
	for (size_t i = 0; i < CORE_NELEM(own); i++)
		if (core_strcasecmp_ascii(name, own[i]) == 0)
			return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §3",
					      "%s is written by the builder", own[i]);
	return 0;
}

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

/* RFC 2047 §5 (1) / RFC 6532: unstructured text as items. Runs of words that need encoding
 * (non-ASCII without RFC 6532, anything that looks like an encoded word, words too long to
 * fit a line) become one encoded item, white space between them included (RFC 2047 §6.2
 * drops white space between adjacent encoded words). */
static void unstructured_items(struct items *it, struct core_str t, bool utf8)
{
	size_t i = 0;
	size_t run_start = SIZE_MAX, run_end = 0, run_sep_off = 0, run_sep_len = 0;
	while (i < t.len) {
		size_t s = i;
		while (i < t.len && t.p[i] == ' ')
			i++;
		size_t w = i;
		while (i < t.len && t.p[i] != ' ')
			i++;
		const char *word = t.p + w;
		size_t wl = i - w;
		bool need = (!utf8 && !core_utf8_is_ascii(word, wl)) || has_ew_marker(word, wl) ||
			    wl > WORD_SPLIT;
		if (need) {
			if (run_start == SIZE_MAX) {
				run_start = w;
				run_sep_off = s;
				run_sep_len = w - s;
			}
			run_end = i;
			continue;
		}
		if (run_start != SIZE_MAX) {
			items_add(it, t.p + run_sep_off, run_sep_len, t.p + run_start,
				  run_end - run_start, true);
			run_start = SIZE_MAX;
		}
		items_add(it, t.p + s, w - s, word, wl, false);
	}
	if (run_start != SIZE_MAX)
		items_add(it, t.p + run_sep_off, run_sep_len, t.p + run_start, run_end - run_start,
			  true);
}

int mail_build_text(struct mail_build_part *p, const char *name, const char *text,
		    struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	if ((r = text_check(text, strlen(text), "text", err)) < 0)
		return r;
	struct core_str t = text_norm(p->b->a, text);
	struct items it = {0};
	unstructured_items(&it, t, p->b->flags & MAIL_BUILD_UTF8);
	r = field_add(p, name, &it, err);
	items_fini(&it);
	return r;
}

/* RFC 5322 §3.2.3 atext, and UTF-8 (RFC 6532 §3.2) when allowed. */
static bool atext(unsigned char c, bool utf8)
{
	if (c >= 0x80)
		return utf8;
	return core_ascii_isalpha(c) || core_ascii_isdigit(c) ||
	       strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_dot_atom(const char *p, size_t len, bool utf8)
{
	if (len == 0 || p[0] == '.' || p[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (p[i + 1] == '.')
				return false;
		} else if (!atext((unsigned char)p[i], utf8)) {
			return false;
		}
	}
	return true;
}

static void quoted_append(struct core_buf *b, const char *p, size_t len)
{
	/* RFC 5322 §3.2.4: '"' and '\\' as quoted-pairs. */
	core_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			core_buf_putc(b, '\\');
		core_buf_putc(b, p[i]);
	}
	core_buf_putc(b, '"');
}

/* RFC 5322 §3.2.5 phrase (a display name): atoms when it is atoms separated by single
 * spaces, else a quoted string, else (non-ASCII without RFC 6532, encoded-word look-alikes,
 * huge words) RFC 2047 encoded words. Returns whether the last item is an encoded word. */
static bool phrase_items(struct items *it, struct core_str n, bool utf8, bool first)
{
	const char *sep = first ? "" : " ";
	bool need_ew = (!utf8 && !core_utf8_is_ascii(n.p, n.len)) || has_ew_marker(n.p, n.len);
	size_t wl = 0;
	bool atoms = true;
	for (size_t i = 0; i < n.len; i++) {
		if (n.p[i] == ' ') {
			if (i + 1 < n.len && n.p[i + 1] == ' ')
				atoms = false;
			wl = 0;
			continue;
		}
		if (++wl > WORD_SPLIT)
			need_ew = true;
		if (!atext((unsigned char)n.p[i], utf8))
			atoms = false;
	}
	if (need_ew) {
		items_add(it, sep, strlen(sep), n.p, n.len, true);
		return true;
	}
	if (atoms) {
		items_add_split(it, n.p, n.len, sep);
		return false;
	}
	struct core_buf q = CORE_BUF_INIT;
	quoted_append(&q, n.p, n.len);
	items_add_split(it, q.p, q.len, sep);
	core_buf_fini(&q);
	return false;
}

/* A local part the caller gave already quoted: a well-formed RFC 5322 §3.2.4 quoted-string
 * ('"' and '\\' inside only as quoted-pairs). */
static bool quoted_ok(const char *p, size_t len)
{
	if (len < 2 || p[0] != '"' || p[len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		if (p[i] == '\\') {
			if (i + 2 >= len)
				return false; /* escapes the closing quote */
			i++;
		} else if (p[i] == '"') {
			return false;
		}
	}
	return true;
}

/* RFC 5322 §3.4.1 addr-spec from an email "local@domain". */
static int addr_spec(struct mail_build *b, struct core_str email, struct core_buf *out,
		     struct core_error *err)
{
	bool utf8 = b->flags & MAIL_BUILD_UTF8;
	int r = text_check(email.p, email.len, "address", err);
	if (r < 0)
		return r;
	const char *at = NULL;
	for (size_t i = email.len; i-- > 0;)
		if (email.p[i] == '@') {
			at = email.p + i;
			break;
		}
	if (at == NULL || at == email.p || at + 1 == email.p + email.len)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4.1",
				      "address needs local-part@domain");
	struct core_str local = core_str_make(email.p, (size_t)(at - email.p));
	struct core_str dom = core_str_make(at + 1, email.len - local.len - 1);
	if (!utf8 && !core_utf8_is_ascii(local.p, local.len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 6532 §3.2",
				      "a non-ASCII local part needs an RFC 6532 message");
	/* a local part given with its quotes is kept as it is */
	if (quoted_ok(local.p, local.len))
		core_buf_append(out, local.p, local.len);
	else if (is_dot_atom(local.p, local.len, utf8))
		core_buf_append(out, local.p, local.len);
	else
		quoted_append(out, local.p, local.len);
	core_buf_putc(out, '@');
	if (dom.p[0] == '[') {
		if (dom.p[dom.len - 1] != ']' || memchr(dom.p + 1, '[', dom.len - 1) != NULL ||
		    memchr(dom.p, ' ', dom.len) != NULL || memchr(dom.p, '\\', dom.len) != NULL)
			return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4.1",
					      "bad domain literal");
		core_buf_append(out, dom.p, dom.len);
		return 0;
	}
	if (!utf8 && !core_utf8_is_ascii(dom.p, dom.len)) {
		/* RFC 5890 §2.3.2.1: a header that is not RFC 6532 carries A-labels. */
		struct core_str ascii;
		if ((r = mail_idn_to_ascii(b->a, dom, &ascii, err)) < 0)
			return r;
		dom = ascii;
	}
	if (!is_dot_atom(dom.p, dom.len, utf8))
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4.1", "bad domain");
	core_buf_append(out, dom.p, dom.len);
	return 0;
}

/* One mailbox (RFC 5322 §3.4 name-addr or addr-spec). */
static int mailbox_items(struct mail_build *b, struct items *it, const struct mail_addr *ad,
			 bool first, struct core_error *err)
{
	struct core_buf spec = CORE_BUF_INIT;
	int r = addr_spec(b, ad->email, &spec, err);
	if (r < 0) {
		core_buf_fini(&spec);
		return r;
	}
	struct core_str n = CORE_STR_NULL;
	if (ad->name.len > 0) {
		char *tmp = core_str_dup(b->a, ad->name);
		if ((r = text_check(tmp, ad->name.len, "display name", err)) < 0) {
			core_buf_fini(&spec);
			return r;
		}
		n = text_norm(b->a, tmp);
	}
	const char *sep = first ? "" : " ";
	if (n.len > 0) {
		phrase_items(it, n, b->flags & MAIL_BUILD_UTF8, first);
		struct core_buf ang = CORE_BUF_INIT;
		core_buf_putc(&ang, '<');
		core_buf_append(&ang, spec.p, spec.len);
		core_buf_putc(&ang, '>');
		items_add(it, " ", 1, ang.p, ang.len, false);
		core_buf_fini(&ang);
	} else {
		items_add(it, sep, strlen(sep), spec.p, spec.len, false);
	}
	core_buf_fini(&spec);
	return 0;
}

static int addrs_items(struct mail_build *b, struct items *it, const struct mail_addr *addrs,
		       size_t n, bool first, struct core_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			items_glue(it, ",");
		int r = mailbox_items(b, it, &addrs[i], first && i == 0, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int mail_build_addrs(struct mail_build_part *p, const char *name, const struct mail_addr *addrs,
		     size_t n, struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	if (n == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4", "empty address list");
	struct items it = {0};
	r = addrs_items(p->b, &it, addrs, n, true, err);
	if (r == 0)
		r = field_add(p, name, &it, err);
	items_fini(&it);
	return r;
}

int mail_build_addr_list(struct mail_build_part *p, const char *name,
			 const struct mail_addr_list *list, struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	if (list->ngroups == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4", "empty address list");
	struct items it = {0};
	bool utf8 = p->b->flags & MAIL_BUILD_UTF8;
	for (size_t g = 0; g < list->ngroups && r == 0; g++) {
		const struct mail_addr_group *gr = &list->groups[g];
		if (g > 0)
			items_glue(&it, ",");
		if (!gr->is_group) {
			if (gr->count == 0)
				r = core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4",
						   "empty address list element");
			else
				r = addrs_items(p->b, &it, gr->addrs, gr->count, g == 0, err);
			continue;
		}
		/* RFC 5322 §3.4 group: display-name ":" [group-list] ";" */
		char *tmp = core_str_dup(p->b->a, gr->name);
		if ((r = text_check(tmp, gr->name.len, "group name", err)) < 0)
			break;
		struct core_str gn = text_norm(p->b->a, tmp);
		if (gn.len == 0) {
			r = core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.4",
					   "group without name");
			break;
		}
		/* RFC 2047 §5 (3): an encoded word is separated from a special by white
		 * space. */
		if (phrase_items(&it, gn, utf8, g == 0))
			items_add(&it, " ", 1, ":", 1, false);
		else
			items_glue(&it, ":");
		if (gr->count > 0)
			r = addrs_items(p->b, &it, gr->addrs, gr->count, false, err);
		items_glue(&it, ";");
	}
	if (r == 0)
		r = field_add(p, name, &it, err);
	items_fini(&it);
	return r;
}

int mail_build_date(struct mail_build_part *p, const char *name, time_t t, int offset_min,
		    struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	struct core_buf d = CORE_BUF_INIT;
	if (core_time_format_rfc5322(&d, t, offset_min) < 0) {
		core_buf_fini(&d);
		return core_error_set(err, CORE_ELIMIT, "RFC 5322 §3.3", "date out of range");
	}
	struct items it = {0};
	items_add_split(&it, d.p, d.len, " ");
	r = field_add(p, name, &it, err);
	items_fini(&it);
	core_buf_fini(&d);
	return r;
}

int mail_build_msgids(struct mail_build_part *p, const char *name, const struct core_str *ids,
		      size_t n, struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	if (n == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.6.4", "no message id");
	bool utf8 = p->b->flags & MAIL_BUILD_UTF8;
	struct items it = {0};
	struct core_buf one = CORE_BUF_INIT;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct core_str id = ids[i];
		const char *at = memchr(id.p, '@', id.len);
		bool ok = id.len > 2 && at != NULL && at != id.p && at != id.p + id.len - 1 &&
			  core_utf8_is_valid(id.p, id.len) &&
			  (utf8 || core_utf8_is_ascii(id.p, id.len));
		for (size_t k = 0; ok && k < id.len; k++) {
			unsigned char c = (unsigned char)id.p[k];
			if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '(' ||
			    c == ')' || c == '"' || c == '\\' || c == ',')
				ok = false;
		}
		if (!ok) {
			r = core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.6.4",
					   "message id %zu is not id-left@id-right", i);
			break;
		}
		core_buf_reset(&one);
		core_buf_putc(&one, '<');
		core_buf_append(&one, id.p, id.len);
		core_buf_putc(&one, '>');
		items_add(&it, i == 0 ? "" : " ", i == 0 ? 0 : 1, one.p, one.len, false);
	}
	if (r == 0)
		r = field_add(p, name, &it, err);
	core_buf_fini(&one);
	items_fini(&it);
	return r;
}

int mail_build_raw(struct mail_build_part *p, const char *name, const char *value,
		   struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	size_t len = strlen(value);
	if ((r = text_check(value, len, "value", err)) < 0)
		return r;
	if (!(p->b->flags & MAIL_BUILD_UTF8) && !core_utf8_is_ascii(value, len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 6532 §3.2",
				      "raw UTF-8 needs an RFC 6532 message");
	struct core_str t = text_norm(p->b->a, value);
	struct items it = {0};
	items_add_split(&it, t.p, t.len, " ");
	r = field_add(p, name, &it, err);
	items_fini(&it);
	return r;
}

struct core_str mail_build_msgid_new(struct core_arena *a, const char *domain)
{
	unsigned char rnd[12];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)rnd;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			rnd[i] = (unsigned char)(x >> 56);
		}
	}
	struct core_buf b = CORE_BUF_INIT;
	core_hex_encode(&b, rnd, sizeof(rnd));
	core_buf_printf(&b, ".%lld@", (long long)time(NULL));
	struct core_str d = core_str_from_cstr(domain != NULL ? domain : "localhost"), ad;
	if (mail_idn_to_ascii(a, d, &ad, NULL) == 0 && is_dot_atom(ad.p, ad.len, false))
		core_buf_append(&b, ad.p, ad.len);
	else
		core_buf_append_str(&b, "localhost");
	struct core_str s = mail_buf_to_arena(a, &b);
	core_buf_fini(&b);
	return s;
}

/* ------------------------------------------------------------------------------------- */
/* MIME parameters (RFC 2045 §5.1, RFC 2231)                                              */
/* ------------------------------------------------------------------------------------- */

static bool tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool token_ok(const char *p, size_t len)
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

static void param_items(struct items *it, const char *name, const char *value)
{
	size_t len = strlen(value), nl = strlen(name);
	struct core_buf b = CORE_BUF_INIT;
	/* Plain values holding "=?" would be read as RFC 2047 words by lenient readers (ours
	 * too, mail_mime_param.c): they go out percent-encoded like non-ASCII ones. */
	bool ascii = core_utf8_is_ascii(value, len) && !has_ew_marker(value, len);
	if (ascii && token_ok(value, len) && nl + len + 1 <= 60) {
		core_buf_printf(&b, "%s=%s", name, value);
		items_add(it, " ", 1, b.p, b.len, false);
	} else if (ascii && nl + len + 3 <= 60) {
		core_buf_printf(&b, "%s=", name);
		quoted_append(&b, value, len);
		items_add(it, " ", 1, b.p, b.len, false);
	} else if (ascii) {
		/* RFC 2231 §3: name*0="...", name*1="..." */
		size_t pos = 0;
		for (unsigned sec = 0; pos < len; sec++) {
			size_t n = len - pos < PARAM_SECTION ? len - pos : PARAM_SECTION;
			core_buf_reset(&b);
			core_buf_printf(&b, "%s*%u=", name, sec);
			quoted_append(&b, value + pos, n);
			if (sec > 0)
				items_glue(it, ";");
			items_add(it, " ", 1, b.p, b.len, false);
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
				size_t n = seq_len(value + pos, len - pos), cost = 0;
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
				items_glue(it, ";");
			items_add(it, " ", 1, b.p, b.len, false);
		}
	}
	core_buf_fini(&b);
}

static int params_copy(struct mail_build_part *p, const struct mail_build_param *params, size_t n,
		       struct core_error *err)
{
	p->params = core_arena_zalloc(p->b->a, (n + 1) * sizeof(*p->params));
	p->nparams = 0;
	for (size_t i = 0; i < n; i++) {
		const char *nm = params[i].name, *v = params[i].value;
		if (nm == NULL || v == NULL || !token_ok(nm, strlen(nm)) || strchr(nm, '*') ||
		    strchr(nm, '\'') || strchr(nm, '%'))
			return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §5.1",
					      "bad parameter name");
		int r = text_check(v, strlen(v), "parameter value", err);
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
	return sl != NULL && token_ok(t, (size_t)(sl - t)) && token_ok(sl + 1, strlen(sl + 1));
}

/* ------------------------------------------------------------------------------------- */
/* Parts                                                                                   */
/* ------------------------------------------------------------------------------------- */

static int part_fresh(struct mail_build_part *p, struct core_error *err)
{
	if (p->kind != BK_NONE)
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
	if (subtype == NULL || !token_ok(subtype, strlen(subtype)))
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
	p->kind = BK_MULTI;
	return 0;
}

struct mail_build_part *mail_build_child(struct mail_build_part *p)
{
	if (p->kind != BK_MULTI)
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
	return !ci->eight && !ci->nul && !ci->bare && ci->max_line <= LINE_MAX_OCTETS;
}

static bool fits_8bit(const struct content_info *ci)
{
	return !ci->nul && !ci->bare && ci->max_line <= LINE_MAX_OCTETS;
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
		p->kind = BK_LEAF;
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
	p->kind = BK_LEAF;
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
	if (disposition == NULL || !token_ok(disposition, strlen(disposition)))
		return core_error_set(err, CORE_ESYNTAX, "RFC 2183 §2", "bad disposition");
	if (filename != NULL) {
		int r = text_check(filename, strlen(filename), "filename", err);
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
	struct items it = {0};
	items_add(&it, " ", 1, p->type, strlen(p->type), false);
	if (boundary != NULL) {
		items_glue(&it, ";");
		struct core_buf bb = CORE_BUF_INIT;
		core_buf_append_str(&bb, "boundary=");
		quoted_append(&bb, boundary, strlen(boundary));
		items_add(&it, " ", 1, bb.p, bb.len, false);
		core_buf_fini(&bb);
	}
	for (size_t i = 0; i < p->nparams; i++) {
		items_glue(&it, ";");
		param_items(&it, p->params[i].name, p->params[i].value);
	}
	int r = fold_items(out, "Content-Type", &it, err);
	items_fini(&it);
	return r;
}

static int render_part(struct mail_build *b, const struct mail_build_part *p, bool root,
		       struct core_buf *out, struct core_error *err)
{
	if (p->kind == BK_NONE)
		return core_error_set(err, CORE_ESYNTAX, "RFC 2045 §5", "a part has no content");
	if (p->kind == BK_MULTI && p->nchildren == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 2046 §5.1.1",
				      "a multipart needs at least one part");
	struct core_buf *kids = NULL;
	char boundary[48] = "";
	int r = 0;
	if (p->kind == BK_MULTI) {
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
	for (const struct bfield *f = p->fields; f != NULL && r == 0; f = f->next)
		core_buf_append(out, f->text.p, f->text.len);
	if (r == 0 && root)
		core_buf_append_str(out, "MIME-Version: 1.0\r\n");
	if (r == 0)
		r = content_type_field(p, p->kind == BK_MULTI ? boundary : NULL, out, err);
	if (r == 0 && p->kind == BK_LEAF && p->cte != NULL)
		core_buf_printf(out, "Content-Transfer-Encoding: %s\r\n", p->cte);
	if (r == 0 && p->disp != NULL) {
		struct items it = {0};
		items_add(&it, " ", 1, p->disp, strlen(p->disp), false);
		if (p->filename != NULL) {
			items_glue(&it, ";");
			param_items(&it, "filename", p->filename);
		}
		r = fold_items(out, "Content-Disposition", &it, err);
		items_fini(&it);
	}
	if (r == 0) {
		core_buf_append(out, "\r\n", 2);
		if (p->kind == BK_LEAF) {
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
