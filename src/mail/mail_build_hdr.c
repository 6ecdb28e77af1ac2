/*
 * mail_build_hdr.c: header fields of the message builder (see mail.h): unstructured text,
 * address lists, dates and message ids, encoded and folded.
 *
 * RFC 5322 §2.1.1 (lines at most 998 octets, 78 recommended), §2.2.3 (folding: a CRLF is put
 * before white space only), §3.2.3-§3.2.5 (atoms, quoted strings, phrases, unstructured
 * text), §3.3 (dates), §3.4 (address lists and groups), §3.6.4 (message ids). RFC 2047 §2
 * (encoded words at most 75 octets, lines holding them at most 76), §4 (B and Q), §5 (where
 * encoded words may stand: unstructured text and phrases, separated by white space; Q in a
 * phrase uses only letters, digits and "!*+-/"). RFC 6532 §3.2 (raw UTF-8 instead). RFC 5890
 * §2.3.2.1 (A-labels for domains in ASCII headers, through mail_idn.c).
 */
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
/* RFC 2047 §2: an encoded word is at most 75 octets. */
#define EW_MAX 75
#define EW_PREFIX "=?UTF-8?"
/* "=?UTF-8?Q?" and "?=" */
#define EW_OVERHEAD 12
/* Longer words are encoded (unstructured text, phrases) so that a line can be split. */
#define WORD_SPLIT 900

/* ------------------------------------------------------------------------------------- */
/* Items: pieces of a field value with the white space before them                        */
/* ------------------------------------------------------------------------------------- */

void mail_bitems_fini(struct mail_bitems *it)
{
	core_buf_fini(&it->pool);
	free(it->v);
}

void mail_bitems_add(struct mail_bitems *it, const char *sep, size_t seplen, const char *p,
		     size_t len, bool ew)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 16;
		it->v = core_xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	struct mail_bitem *t = &it->v[it->n++];
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
void mail_bitems_glue(struct mail_bitems *it, const char *s)
{
	size_t n = strlen(s);
	core_buf_append(&it->pool, s, n);
	it->v[it->n - 1].len += n;
}

/* Split plain text at runs of spaces: each run becomes the separator of the next piece; the
 * first piece gets first_sep when no space precedes it. */
void mail_bitems_split(struct mail_bitems *it, const char *p, size_t len, const char *first_sep)
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
		mail_bitems_add(it, sep, seplen, p + w, i - w, false);
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
size_t mail_build_seq_len(const char *p, size_t len)
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
		size_t n = mail_build_seq_len(p + i, len - i);
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

int mail_build_fold(struct core_buf *out, const char *name, const struct mail_bitems *it,
		    struct core_error *err)
{
	struct folder f = {.out = out, .col = strlen(name) + 1, .content = true};
	core_buf_append_str(out, name);
	core_buf_putc(out, ':');
	for (size_t i = 0; i < it->n; i++) {
		const struct mail_bitem *t = &it->v[i];
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
		if (f.col > MAIL_BUILD_LINE_MAX)
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
int mail_build_text_check(const char *s, size_t len, const char *what, struct core_error *err)
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

bool mail_build_has_ew(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (p[i] == '=' && p[i + 1] == '?')
			return true;
	return false;
}

static int field_add(struct mail_build_part *p, const char *name, const struct mail_bitems *it,
		     struct core_error *err)
{
	struct core_buf out = CORE_BUF_INIT;
	int r = mail_build_fold(&out, name, it, err);
	if (r == 0) {
		struct mail_bfield *f = core_arena_zalloc(p->b->a, sizeof(*f));
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

/* RFC 2047 §5 (1) / RFC 6532: unstructured text as items. Runs of words that need encoding
 * (non-ASCII without RFC 6532, anything that looks like an encoded word, words too long to
 * fit a line) become one encoded item, white space between them included (RFC 2047 §6.2
 * drops white space between adjacent encoded words). */
static void unstructured_items(struct mail_bitems *it, struct core_str t, bool utf8)
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
		bool need = (!utf8 && !core_utf8_is_ascii(word, wl)) ||
			    mail_build_has_ew(word, wl) || wl > WORD_SPLIT;
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
			mail_bitems_add(it, t.p + run_sep_off, run_sep_len, t.p + run_start,
					run_end - run_start, true);
			run_start = SIZE_MAX;
		}
		mail_bitems_add(it, t.p + s, w - s, word, wl, false);
	}
	if (run_start != SIZE_MAX)
		mail_bitems_add(it, t.p + run_sep_off, run_sep_len, t.p + run_start,
				run_end - run_start, true);
}

int mail_build_text(struct mail_build_part *p, const char *name, const char *text,
		    struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	if ((r = mail_build_text_check(text, strlen(text), "text", err)) < 0)
		return r;
	struct core_str t = text_norm(p->b->a, text);
	struct mail_bitems it = {0};
	unstructured_items(&it, t, p->b->flags & MAIL_BUILD_UTF8);
	r = field_add(p, name, &it, err);
	mail_bitems_fini(&it);
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

void mail_build_quote(struct core_buf *b, const char *p, size_t len)
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
static bool phrase_items(struct mail_bitems *it, struct core_str n, bool utf8, bool first)
{
	const char *sep = first ? "" : " ";
	bool need_ew = (!utf8 && !core_utf8_is_ascii(n.p, n.len)) || mail_build_has_ew(n.p, n.len);
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
		mail_bitems_add(it, sep, strlen(sep), n.p, n.len, true);
		return true;
	}
	if (atoms) {
		mail_bitems_split(it, n.p, n.len, sep);
		return false;
	}
	struct core_buf q = CORE_BUF_INIT;
	mail_build_quote(&q, n.p, n.len);
	mail_bitems_split(it, q.p, q.len, sep);
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
	int r = mail_build_text_check(email.p, email.len, "address", err);
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
		mail_build_quote(out, local.p, local.len);
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
static int mailbox_items(struct mail_build *b, struct mail_bitems *it, const struct mail_addr *ad,
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
		if ((r = mail_build_text_check(tmp, ad->name.len, "display name", err)) < 0) {
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
		mail_bitems_add(it, " ", 1, ang.p, ang.len, false);
		core_buf_fini(&ang);
	} else {
		mail_bitems_add(it, sep, strlen(sep), spec.p, spec.len, false);
	}
	core_buf_fini(&spec);
	return 0;
}

static int addrs_items(struct mail_build *b, struct mail_bitems *it, const struct mail_addr *addrs,
		       size_t n, bool first, struct core_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			mail_bitems_glue(it, ",");
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
	struct mail_bitems it = {0};
	r = addrs_items(p->b, &it, addrs, n, true, err);
	if (r == 0)
		r = field_add(p, name, &it, err);
	mail_bitems_fini(&it);
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
	struct mail_bitems it = {0};
	bool utf8 = p->b->flags & MAIL_BUILD_UTF8;
	for (size_t g = 0; g < list->ngroups && r == 0; g++) {
		const struct mail_addr_group *gr = &list->groups[g];
		if (g > 0)
			mail_bitems_glue(&it, ",");
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
		if ((r = mail_build_text_check(tmp, gr->name.len, "group name", err)) < 0)
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
			mail_bitems_add(&it, " ", 1, ":", 1, false);
		else
			mail_bitems_glue(&it, ":");
		if (gr->count > 0)
			r = addrs_items(p->b, &it, gr->addrs, gr->count, false, err);
		mail_bitems_glue(&it, ";");
	}
	if (r == 0)
		r = field_add(p, name, &it, err);
	mail_bitems_fini(&it);
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
	struct mail_bitems it = {0};
	mail_bitems_split(&it, d.p, d.len, " ");
	r = field_add(p, name, &it, err);
	mail_bitems_fini(&it);
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
	struct mail_bitems it = {0};
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
		mail_bitems_add(&it, i == 0 ? "" : " ", i == 0 ? 0 : 1, one.p, one.len, false);
	}
	if (r == 0)
		r = field_add(p, name, &it, err);
	core_buf_fini(&one);
	mail_bitems_fini(&it);
	return r;
}

int mail_build_raw(struct mail_build_part *p, const char *name, const char *value,
		   struct core_error *err)
{
	int r = field_name_check(name, err);
	if (r < 0)
		return r;
	size_t len = strlen(value);
	if ((r = mail_build_text_check(value, len, "value", err)) < 0)
		return r;
	if (!(p->b->flags & MAIL_BUILD_UTF8) && !core_utf8_is_ascii(value, len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 6532 §3.2",
				      "raw UTF-8 needs an RFC 6532 message");
	struct core_str t = text_norm(p->b->a, value);
	struct mail_bitems it = {0};
	mail_bitems_split(&it, t.p, t.len, " ");
	r = field_add(p, name, &it, err);
	mail_bitems_fini(&it);
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
