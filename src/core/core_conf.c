/*
 * core_conf.c: the configuration file of Staunch (interface and format in core_conf.h).
 *
 * The parser is a single pass over the text with a line counter. Every error becomes a
 * diagnostic and the parser resumes at the next line (after an error inside a multi-line
 * array, at the line after the array), so one run reports every bad line. The grammar is a
 * subset of TOML 1.0 (https://toml.io/en/v1.0.0); sections cited below as "TOML: ..." refer
 * to that specification.
 */
#include "core/core_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_buf.h"
#include "core/core_err.h"
#include "core/core_mem.h"
#include "core/core_str.h"

/* ------------------------------------------------------------------------------------ */
/* Values and the parsed configuration                                                  */

enum conf_kind {
	CONF_K_STR,
	CONF_K_INT,
	CONF_K_BOOL,
	CONF_K_ARRAY,
};

struct conf_value {
	enum conf_kind kind;
	enum conf_kind item_kind; /* arrays: CONF_K_STR or CONF_K_INT (STR when empty) */
	char *text;               /* scalars: the string, decimal integer or "true"/"false" */
	int64_t ival;
	bool bval;
	char **items; /* arrays: owned item texts; scalars: NULL */
	size_t nitems;
	size_t bytes; /* total bytes, for the value limit */
};

struct conf_entry {
	char *key;
	struct conf_value val;
	const char *one[1]; /* a scalar seen as a list of one */
	unsigned line;
	bool expanded; /* holds text from a secret reference: never printed, wiped on free */
};

struct conf_cache {
	struct conf_cache *next;
	char *what;
	char **names;
	size_t n;
};

struct core_conf {
	char *name;
	struct conf_entry **v;
	size_t n, cap;
	pthread_mutex_t lock; /* guards cache: getters may run from many threads */
	struct conf_cache *cache;
};

static void conf_value_fini(struct conf_value *v, bool wipe)
{
	if (v->text != NULL) {
		if (wipe)
			core_wipe(v->text, strlen(v->text));
		free(v->text);
	}
	for (size_t i = 0; i < v->nitems && v->items != NULL; i++) {
		if (wipe)
			core_wipe(v->items[i], strlen(v->items[i]));
		free(v->items[i]);
	}
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static void conf_entry_free(struct conf_entry *e)
{
	if (e == NULL)
		return;
	/* Values may be passwords (literal or expanded): wipe them all before release. */
	conf_value_fini(&e->val, true);
	free(e->key);
	free(e);
}

static void conf_cache_free(struct conf_cache *k)
{
	while (k != NULL) {
		struct conf_cache *next = k->next;
		for (size_t i = 0; i < k->n; i++)
			free(k->names[i]);
		free(k->names);
		free(k->what);
		free(k);
		k = next;
	}
}

static struct core_conf *conf_alloc(const char *name)
{
	struct core_conf *c = core_xcalloc(1, sizeof(*c));
	c->name = core_xstrdup(name != NULL ? name : "");
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

struct core_conf *core_conf_new_empty(void)
{
	return conf_alloc("");
}

void core_conf_free(struct core_conf **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	struct core_conf *c = *cp;
	for (size_t i = 0; i < c->n; i++)
		conf_entry_free(c->v[i]);
	free(c->v);
	conf_cache_free(c->cache);
	pthread_mutex_destroy(&c->lock);
	free(c->name);
	free(c);
	*cp = NULL;
}

static struct conf_entry *conf_find(const struct core_conf *c, const char *key)
{
	if (c == NULL || key == NULL)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i]->key, key) == 0)
			return c->v[i];
	}
	return NULL;
}

static void conf_append(struct core_conf *c, struct conf_entry *e)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = core_xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = e;
}

/* ------------------------------------------------------------------------------------ */
/* Diagnostics                                                                          */

void core_conf_diags_init(struct core_conf_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void core_conf_diags_fini(struct core_conf_diags *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].key);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static void conf_diag_push(struct core_conf_diags *d, const char *file, unsigned line,
			   const char *key, char *msg)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = core_xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	struct core_conf_diag *g = &d->v[d->n++];
	g->file = core_xstrdup(file != NULL ? file : "");
	g->line = line;
	g->key = key != NULL ? core_xstrdup(key) : NULL;
	g->msg = msg;
}

static void conf_diag(struct core_conf_diags *d, const char *file, unsigned line, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Add one diagnostic; past CORE_CONF_MAX_DIAGS only a single "too many" line is kept. */
static void conf_diag(struct core_conf_diags *d, const char *file, unsigned line, const char *key,
		      const char *fmt, ...)
{
	if (d == NULL)
		return;
	if (d->n > CORE_CONF_MAX_DIAGS)
		return;
	if (d->n == CORE_CONF_MAX_DIAGS) {
		conf_diag_push(d, file, line, NULL,
			       core_xasprintf("too many errors (more than %u), giving up",
					      CORE_CONF_MAX_DIAGS));
		return;
	}
	struct core_buf b = CORE_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	core_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* One line per diagnostic: values quoted in a message may hold control bytes. */
	for (size_t i = 0; i < b.len; i++) {
		if ((unsigned char)b.p[i] < 0x20 || b.p[i] == 0x7f)
			b.p[i] = '?';
	}
	core_buf_cstr(&b);
	conf_diag_push(d, file, line, key, core_buf_detach(&b, NULL));
}

void core_conf_diags_format(const struct core_conf_diags *d, struct core_buf *out)
{
	for (size_t i = 0; d != NULL && i < d->n; i++) {
		const struct core_conf_diag *g = &d->v[i];
		core_buf_append_str(out, g->file);
		if (g->line > 0)
			core_buf_printf(out, ":%u", g->line);
		core_buf_append_str(out, ": ");
		if (g->key != NULL)
			core_buf_printf(out, "key %s: ", g->key);
		core_buf_append_str(out, g->msg);
		core_buf_putc(out, '\n');
	}
}

/* ------------------------------------------------------------------------------------ */
/* Scalars shared by the parser, the getters and the CLI                                */

/* Digits with single '_' between digits (TOML: Integer). Returns 0 and the value or -1. */
static int conf_int_parse(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < len && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	if (i >= len || !core_ascii_isdigit((unsigned char)s[i]))
		return -1;
	/* TOML: Integer: leading zeros are not allowed. */
	if (s[i] == '0' && i + 1 < len)
		return -1;
	uint64_t v = 0;
	const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	bool prev_digit = false;
	for (; i < len; i++) {
		char ch = s[i];
		if (ch == '_') {
			if (!prev_digit || i + 1 >= len ||
			    !core_ascii_isdigit((unsigned char)s[i + 1]))
				return -1;
			prev_digit = false;
			continue;
		}
		if (!core_ascii_isdigit((unsigned char)ch))
			return -1;
		unsigned dgt = (unsigned)(ch - '0');
		if (v > (lim - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
		prev_digit = true;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* Leading unsigned decimal digits of s; *end_out after them. -1 on none or overflow. */
static int conf_u64_prefix(const char *s, uint64_t *out, const char **end_out)
{
	uint64_t v = 0;
	const char *p = s;
	if (!core_ascii_isdigit((unsigned char)*p))
		return -1;
	for (; core_ascii_isdigit((unsigned char)*p); p++) {
		unsigned dgt = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	*out = v;
	*end_out = p;
	return 0;
}

static int conf_mul(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m != 0 && v > UINT64_MAX / m)
		return CORE_ESYNTAX;
	*out = v * m;
	return 0;
}

int core_conf_parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v;
	const char *unit;
	if (s == NULL || conf_u64_prefix(s, &v, &unit) < 0)
		return CORE_ESYNTAX;
	uint64_t m;
	/* core_conf.h: units ms s m h d; a bare number counts seconds. */
	if (strcmp(unit, "ms") == 0)
		m = 1;
	else if (*unit == '\0' || strcmp(unit, "s") == 0)
		m = 1000;
	else if (strcmp(unit, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(unit, "h") == 0)
		m = 3600 * 1000;
	else if (strcmp(unit, "d") == 0)
		m = 86400 * 1000;
	else
		return CORE_ESYNTAX;
	return conf_mul(v, m, out);
}

int core_conf_parse_size(const char *s, uint64_t *out)
{
	uint64_t v;
	const char *unit;
	if (s == NULL || conf_u64_prefix(s, &v, &unit) < 0)
		return CORE_ESYNTAX;
	uint64_t m;
	/* core_conf.h: B K M G, 1024-based; a bare number counts bytes. */
	char u = core_ascii_upper(*unit);
	if (*unit == '\0' || (u == 'B' && unit[1] == '\0'))
		m = 1;
	else if (unit[1] != '\0' && !(core_ascii_upper(unit[1]) == 'B' && unit[2] == '\0'))
		return CORE_ESYNTAX;
	else if (u == 'K')
		m = 1024;
	else if (u == 'M')
		m = 1024 * 1024;
	else if (u == 'G')
		m = 1024 * 1024 * 1024;
	else
		return CORE_ESYNTAX;
	return conf_mul(v, m, out);
}

int core_conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	if (s == NULL)
		return CORE_ESYNTAX;
	for (size_t i = 0; i < CORE_NELEM(yes); i++) {
		if (core_strcasecmp_ascii(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (core_strcasecmp_ascii(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return CORE_ESYNTAX;
}

/* Length of a valid UTF-8 sequence at p (RFC 3629 §4), or 0 when invalid. */
static size_t conf_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t n;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* RFC 3629 §3: no overlong forms, no surrogates, nothing above U+10FFFF. */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void conf_utf8_put(struct core_buf *b, uint32_t cp)
{
	char t[4];
	size_t n;
	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	core_buf_append(b, t, n);
}

/* ------------------------------------------------------------------------------------ */
/* The parser                                                                           */

struct conf_section {
	char *name;
	unsigned line;
};

struct conf_parser {
	const char *name;
	const char *p, *end;
	unsigned line;
	struct core_conf *c;
	struct core_conf_diags *d;
	struct core_conf_diags local; /* used when the caller passes no diagnostics */
	char *section;                /* current [section] prefix, NULL at top level */
	struct conf_section *sections;
	size_t nsections, capsections;
	size_t errors;
	bool stop;
	bool in_array; /* the current error happened inside a multi-line array */
};

static int conf_peek(const struct conf_parser *ps)
{
	return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static int conf_peek_at(const struct conf_parser *ps, size_t off)
{
	return (size_t)(ps->end - ps->p) > off ? (unsigned char)ps->p[off] : -1;
}

static void conf_err(struct conf_parser *ps, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_err(struct conf_parser *ps, const char *key, const char *fmt, ...)
{
	struct core_buf b = CORE_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	core_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	conf_diag(ps->d, ps->name, ps->line, key, "%s", core_buf_cstr(&b));
	core_buf_fini(&b);
	ps->errors++;
}

/* Describe a byte that is not allowed where it stands. */
static void conf_err_char(struct conf_parser *ps, const char *key, const char *where)
{
	int ch = conf_peek(ps);
	if (ch < 0)
		conf_err(ps, key, "unexpected end of file %s", where);
	else if (ch == 0)
		conf_err(ps, key, "NUL byte %s", where);
	else if (ch == '\n' || (ch == '\r' && conf_peek_at(ps, 1) == '\n'))
		conf_err(ps, key, "unexpected end of line %s", where);
	else if (ch < 0x20 || ch >= 0x7f)
		conf_err(ps, key, "unexpected byte 0x%02x %s", (unsigned)ch, where);
	else
		conf_err(ps, key, "unexpected character '%c' %s", ch, where);
}

static bool conf_is_keychar(int ch)
{
	return ch >= 0 &&
	       (core_ascii_isalpha(ch) || core_ascii_isdigit(ch) || ch == '_' || ch == '-');
}

static void conf_skip_ws(struct conf_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* At a line end ("\n" or "\r\n") or the end of text. */
static bool conf_at_eol(const struct conf_parser *ps)
{
	int ch = conf_peek(ps);
	return ch < 0 || ch == '\n' || (ch == '\r' && conf_peek_at(ps, 1) == '\n');
}

/* Consume a line end if there is one. */
static void conf_eat_eol(struct conf_parser *ps)
{
	if (conf_peek(ps) == '\r')
		ps->p++;
	if (conf_peek(ps) == '\n') {
		ps->p++;
		ps->line++;
	}
}

/* TOML: Comment: '#' to the end of the line; control characters other than tab are invalid. */
static int conf_skip_comment(struct conf_parser *ps, const char *key)
{
	ps->p++;
	while (!conf_at_eol(ps)) {
		unsigned char ch = (unsigned char)*ps->p;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			conf_err_char(ps, key, "in comment");
			return -1;
		}
		ps->p++;
	}
	return 0;
}

/* After a statement: blanks, an optional comment, then the end of the line. */
static int conf_finish_line(struct conf_parser *ps, const char *key, const char *what)
{
	conf_skip_ws(ps);
	if (conf_peek(ps) == '#')
		return conf_skip_comment(ps, key);
	if (!conf_at_eol(ps)) {
		conf_err_char(ps, key, what);
		return -1;
	}
	return 0;
}

/* Skip the rest of the current line, including its end. */
static void conf_skip_line(struct conf_parser *ps)
{
	const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	if (nl == NULL) {
		ps->p = ps->end;
		return;
	}
	ps->p = nl + 1;
	ps->line++;
}

/* Does the line at p look like the start of a statement (key = or [section])? */
static bool conf_line_is_statement(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p == '[') {
		p++;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '['))
			p++;
		return p < end && conf_is_keychar((unsigned char)*p);
	}
	if (p >= end || !conf_is_keychar((unsigned char)*p))
		return false;
	while (p < end &&
	       (conf_is_keychar((unsigned char)*p) || *p == '.' || *p == ' ' || *p == '\t'))
		p++;
	return p < end && *p == '=';
}

/*
 * Error recovery. Outside arrays: resume at the next line. Inside a multi-line array: skip
 * lines up to and including the one holding a ']', or until a line that starts a new
 * statement, so one bad item yields one diagnostic.
 */
static void conf_recover(struct conf_parser *ps)
{
	if (!ps->in_array) {
		conf_skip_line(ps);
		return;
	}
	ps->in_array = false;
	for (;;) {
		const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
		const char *eol = nl != NULL ? nl : ps->end;
		bool closes = memchr(ps->p, ']', (size_t)(eol - ps->p)) != NULL;
		conf_skip_line(ps);
		if (closes || ps->p >= ps->end || conf_line_is_statement(ps->p, ps->end))
			return;
	}
}

/*
 * TOML: Keys: bare keys [A-Za-z0-9_-]+ joined by '.', blanks allowed around the dots.
 * Appends the dotted key to out. Returns 0 or -1 (diagnostic emitted).
 */
static int conf_parse_key(struct conf_parser *ps, struct core_buf *out, const char *what)
{
	bool first = true;
	for (;;) {
		conf_skip_ws(ps);
		int ch = conf_peek(ps);
		if (ch == '"' || ch == '\'') {
			conf_err(ps, NULL, "quoted keys are not supported");
			return -1;
		}
		if (!conf_is_keychar(ch)) {
			conf_err_char(ps, NULL, what);
			return -1;
		}
		if (!first)
			core_buf_putc(out, '.');
		first = false;
		while (conf_is_keychar(conf_peek(ps)))
			core_buf_putc(out, *ps->p++);
		if (out->len > CORE_CONF_MAX_KEY) {
			conf_err(ps, NULL, "key longer than %u bytes", CORE_CONF_MAX_KEY);
			return -1;
		}
		conf_skip_ws(ps);
		if (conf_peek(ps) != '.')
			return 0;
		ps->p++;
	}
}

/* Account n more bytes of a value against CORE_CONF_MAX_VALUE. */
static int conf_value_grow(struct conf_parser *ps, const char *key, struct conf_value *v, size_t n)
{
	v->bytes += n;
	if (v->bytes > CORE_CONF_MAX_VALUE) {
		conf_err(ps, key, "value longer than %u bytes", CORE_CONF_MAX_VALUE);
		return -1;
	}
	return 0;
}

static int conf_hex4(struct conf_parser *ps, size_t digits, uint32_t *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < digits; i++) {
		int ch = conf_peek(ps);
		unsigned x;
		if (ch >= '0' && ch <= '9')
			x = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			x = (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			x = (unsigned)(ch - 'A' + 10);
		else
			return -1;
		v = (v << 4) | x;
		ps->p++;
	}
	*out = v;
	return 0;
}

/*
 * TOML: String: basic strings "..." with escapes, literal strings '...' without. Both stay
 * on one line, hold valid UTF-8 and no control characters other than tab.
 */
static int conf_parse_string(struct conf_parser *ps, const char *key, size_t already,
			     struct core_buf *out)
{
	char quote = *ps->p;
	if (conf_peek_at(ps, 1) == quote && conf_peek_at(ps, 2) == quote) {
		conf_err(ps, key, "multi-line strings are not supported");
		return -1;
	}
	ps->p++;
	for (;;) {
		int ch = conf_peek(ps);
		if (ch < 0 || ch == '\n' || (ch == '\r' && conf_peek_at(ps, 1) == '\n')) {
			conf_err(ps, key, "unterminated string");
			return -1;
		}
		if (already + out->len > CORE_CONF_MAX_VALUE) {
			conf_err(ps, key, "value longer than %u bytes", CORE_CONF_MAX_VALUE);
			return -1;
		}
		if (ch == quote) {
			ps->p++;
			core_buf_cstr(out);
			return 0;
		}
		if (ch == 0) {
			conf_err(ps, key, "NUL byte in string");
			return -1;
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			conf_err(ps, key, "control character 0x%02x in string", (unsigned)ch);
			return -1;
		}
		if (ch >= 0x80) {
			size_t n = conf_utf8_len((const unsigned char *)ps->p,
						 (size_t)(ps->end - ps->p));
			if (n == 0) {
				conf_err(ps, key, "invalid UTF-8 in string");
				return -1;
			}
			core_buf_append(out, ps->p, n);
			ps->p += n;
			continue;
		}
		if (ch != '\\' || quote == '\'') {
			core_buf_putc(out, (char)ch);
			ps->p++;
			continue;
		}
		/* TOML: String: escape sequences of basic strings. */
		ps->p++;
		int e = conf_peek(ps);
		uint32_t cp;
		ps->p++;
		switch (e) {
		case '"':
			core_buf_putc(out, '"');
			break;
		case '\\':
			core_buf_putc(out, '\\');
			break;
		case 'n':
			core_buf_putc(out, '\n');
			break;
		case 't':
			core_buf_putc(out, '\t');
			break;
		case 'r':
			core_buf_putc(out, '\r');
			break;
		case 'b':
			core_buf_putc(out, '\b');
			break;
		case 'f':
			core_buf_putc(out, '\f');
			break;
		case 'u':
		case 'U':
			if (conf_hex4(ps, e == 'u' ? 4 : 8, &cp) < 0) {
				conf_err(ps, key, "\\%c needs %d hex digits", e, e == 'u' ? 4 : 8);
				return -1;
			}
			/* TOML: only Unicode scalar values; NUL cannot live in a C string. */
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
				conf_err(ps, key, "escape \\%c names no allowed character", e);
				return -1;
			}
			conf_utf8_put(out, cp);
			break;
		default:
			ps->p--;
			if (e >= 0x21 && e < 0x7f)
				conf_err(ps, key, "unknown escape '\\%c' in string", e);
			else
				conf_err(ps, key, "unknown escape in string");
			return -1;
		}
	}
}

static bool conf_is_delim(int ch)
{
	return ch <= 0 || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' ||
	       ch == ']' || ch == '#';
}

/* One scalar: string, integer or boolean. */
static int conf_parse_scalar(struct conf_parser *ps, const char *key, size_t already,
			     struct conf_value *v)
{
	memset(v, 0, sizeof(*v));
	int ch = conf_peek(ps);
	if (ch == '"' || ch == '\'') {
		struct core_buf b = CORE_BUF_INIT;
		if (conf_parse_string(ps, key, already, &b) < 0) {
			core_buf_fini(&b);
			return -1;
		}
		v->kind = CONF_K_STR;
		v->bytes = b.len;
		core_buf_cstr(&b);
		v->text = core_buf_detach(&b, NULL);
		return 0;
	}
	const char *start = ps->p;
	while (!conf_is_delim(conf_peek(ps)))
		ps->p++;
	size_t len = (size_t)(ps->p - start);
	if (len == 0) {
		conf_err_char(ps, key, "where a value was expected");
		return -1;
	}
	if ((len == 4 && memcmp(start, "true", 4) == 0) ||
	    (len == 5 && memcmp(start, "false", 5) == 0)) {
		v->kind = CONF_K_BOOL;
		v->bval = len == 4;
		v->text = core_xstrdup(v->bval ? "true" : "false");
		v->bytes = len;
		return 0;
	}
	if (*start == '+' || *start == '-' || core_ascii_isdigit((unsigned char)*start)) {
		if (conf_int_parse(start, len, &v->ival) < 0) {
			ps->p = start;
			conf_err(ps, key,
				 "invalid number (integers only, no leading zeros, no floats "
				 "or dates)");
			return -1;
		}
		v->kind = CONF_K_INT;
		v->text = core_xasprintf("%lld", (long long)v->ival);
		v->bytes = len;
		return 0;
	}
	ps->p = start;
	if (ch == '{')
		conf_err(ps, key, "inline tables are not supported");
	else if (ch >= 0x20 && ch < 0x7f)
		conf_err(ps, key, "invalid value (strings need quotes)");
	else
		conf_err_char(ps, key, "where a value was expected");
	return -1;
}

/* Blanks, line ends and comments between array items. */
static int conf_skip_array_space(struct conf_parser *ps, const char *key)
{
	for (;;) {
		conf_skip_ws(ps);
		int ch = conf_peek(ps);
		if (ch == '#') {
			if (conf_skip_comment(ps, key) < 0)
				return -1;
			continue;
		}
		if (ch == '\n' || (ch == '\r' && conf_peek_at(ps, 1) == '\n')) {
			conf_eat_eol(ps);
			continue;
		}
		return 0;
	}
}

static void conf_array_push(struct conf_value *arr, char *text, size_t *cap)
{
	if (arr->nitems == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		arr->items = core_xrealloc(arr->items, *cap * sizeof(*arr->items));
	}
	arr->items[arr->nitems++] = text;
}

/* TOML: Array: [ item, item, ] over any number of lines; here strings or integers only. */
static int conf_parse_array(struct conf_parser *ps, const char *key, struct conf_value *arr)
{
	size_t cap = 0;
	unsigned first_line = ps->line;
	memset(arr, 0, sizeof(*arr));
	arr->kind = CONF_K_ARRAY;
	arr->item_kind = CONF_K_STR;
	ps->p++;
	for (;;) {
		if (conf_skip_array_space(ps, key) < 0)
			goto fail;
		int ch = conf_peek(ps);
		if (ch == ']') {
			ps->p++;
			return 0;
		}
		if (ch < 0) {
			conf_err(ps, key, "unterminated array (opened at line %u)", first_line);
			goto fail;
		}
		if (ch == '[') {
			conf_err(ps, key, "nested arrays are not supported");
			goto fail;
		}
		struct conf_value item;
		if (conf_parse_scalar(ps, key, arr->bytes, &item) < 0)
			goto fail;
		if (item.kind == CONF_K_BOOL) {
			conf_value_fini(&item, false);
			conf_err(ps, key, "arrays hold strings or integers, not booleans");
			goto fail;
		}
		if (arr->nitems > 0 && item.kind != arr->item_kind) {
			conf_value_fini(&item, false);
			conf_err(ps, key, "array mixes strings and integers");
			goto fail;
		}
		arr->item_kind = item.kind;
		if (conf_value_grow(ps, key, arr, item.bytes + 1) < 0) {
			conf_value_fini(&item, false);
			goto fail;
		}
		conf_array_push(arr, item.text, &cap);
		if (conf_skip_array_space(ps, key) < 0)
			goto fail;
		ch = conf_peek(ps);
		if (ch == ',') {
			ps->p++;
			continue;
		}
		if (ch == ']') {
			ps->p++;
			return 0;
		}
		if (ch < 0)
			conf_err(ps, key, "unterminated array (opened at line %u)", first_line);
		else
			conf_err_char(ps, key, "in array (expected ',' or ']')");
		goto fail;
	}
fail:
	ps->in_array = true;
	conf_value_fini(arr, false);
	return -1;
}

static void conf_section_enter(struct conf_parser *ps, char *name)
{
	for (size_t i = 0; i < ps->nsections; i++) {
		if (strcmp(ps->sections[i].name, name) == 0) {
			/* TOML: Table: a table may not be defined more than once. */
			conf_err(ps, NULL, "section [%s] defined twice (line %u and line %u)", name,
				 ps->sections[i].line, ps->line);
			break;
		}
	}
	if (ps->nsections == ps->capsections) {
		ps->capsections = ps->capsections ? ps->capsections * 2 : 8;
		ps->sections = core_xrealloc(ps->sections, ps->capsections * sizeof(*ps->sections));
	}
	ps->sections[ps->nsections].name = name;
	ps->sections[ps->nsections].line = ps->line;
	ps->nsections++;
	ps->section = name;
}

/* TOML: Table: "[a.b]" starts a section; "[[a]]" (array of tables) is not supported. */
static int conf_parse_header(struct conf_parser *ps)
{
	ps->p++;
	if (conf_peek(ps) == '[') {
		conf_err(ps, NULL, "arrays of tables ([[...]]) are not supported");
		return -1;
	}
	struct core_buf b = CORE_BUF_INIT;
	if (conf_parse_key(ps, &b, "in section name") < 0) {
		core_buf_fini(&b);
		return -1;
	}
	if (conf_peek(ps) != ']') {
		conf_err_char(ps, NULL, "in section header (expected ']')");
		core_buf_fini(&b);
		return -1;
	}
	ps->p++;
	if (conf_finish_line(ps, NULL, "after section header") < 0) {
		core_buf_fini(&b);
		return -1;
	}
	core_buf_cstr(&b);
	conf_section_enter(ps, core_buf_detach(&b, NULL));
	return 0;
}

/* key = value */
static int conf_parse_assignment(struct conf_parser *ps)
{
	struct core_buf b = CORE_BUF_INIT;
	if (ps->section != NULL) {
		core_buf_append_str(&b, ps->section);
		core_buf_putc(&b, '.');
	}
	if (conf_parse_key(ps, &b, "where a key was expected") < 0) {
		core_buf_fini(&b);
		return -1;
	}
	const char *key = core_buf_cstr(&b);
	if (conf_peek(ps) != '=') {
		conf_err_char(ps, key, "after key (expected '=')");
		core_buf_fini(&b);
		return -1;
	}
	ps->p++;
	conf_skip_ws(ps);
	unsigned line = ps->line;
	struct conf_value v;
	int rc;
	if (conf_at_eol(ps) || conf_peek(ps) == '#') {
		conf_err(ps, key, "missing value");
		rc = -1;
	} else if (conf_peek(ps) == '[') {
		rc = conf_parse_array(ps, key, &v);
	} else {
		rc = conf_parse_scalar(ps, key, 0, &v);
		if (rc == 0 && v.bytes > CORE_CONF_MAX_VALUE) {
			conf_err(ps, key, "value longer than %u bytes", CORE_CONF_MAX_VALUE);
			conf_value_fini(&v, false);
			rc = -1;
		}
	}
	if (rc < 0) {
		core_buf_fini(&b);
		return -1;
	}
	if (conf_finish_line(ps, key, "after value") < 0) {
		conf_value_fini(&v, false);
		core_buf_fini(&b);
		return -1;
	}
	struct conf_entry *old = conf_find(ps->c, key);
	if (old != NULL) {
		/* TOML: Keys: defining a key more than once is invalid. */
		conf_diag(ps->d, ps->name, line, key, "key set twice (line %u and line %u)",
			  old->line, line);
		ps->errors++;
		conf_value_fini(&v, false);
		core_buf_fini(&b);
		return 0;
	}
	if (ps->c->n >= CORE_CONF_MAX_KEYS) {
		conf_diag(ps->d, ps->name, line, key, "more than %u keys, giving up",
			  CORE_CONF_MAX_KEYS);
		ps->errors++;
		ps->stop = true;
		conf_value_fini(&v, false);
		core_buf_fini(&b);
		return 0;
	}
	struct conf_entry *e = core_xcalloc(1, sizeof(*e));
	e->key = core_buf_detach(&b, NULL);
	e->val = v;
	e->line = line;
	conf_append(ps->c, e);
	return 0;
}

static void conf_parse_line(struct conf_parser *ps)
{
	conf_skip_ws(ps);
	int ch = conf_peek(ps);
	if (ch == '\n' || (ch == '\r' && conf_peek_at(ps, 1) == '\n')) {
		conf_eat_eol(ps);
		return;
	}
	int rc;
	if (ch == '#')
		rc = conf_skip_comment(ps, NULL);
	else if (ch == '[')
		rc = conf_parse_header(ps);
	else
		rc = conf_parse_assignment(ps);
	if (rc < 0)
		conf_recover(ps);
	else if (!ps->stop)
		conf_eat_eol(ps);
}

/* Fix the list view of scalars once entries stop moving. */
static void conf_entry_views(struct conf_entry *e)
{
	e->one[0] = e->val.text;
}

int core_conf_parse(const char *name, const char *data, size_t len, struct core_conf **out,
		    struct core_conf_diags *d)
{
	struct conf_parser ps;
	memset(&ps, 0, sizeof(ps));
	core_conf_diags_init(&ps.local);
	ps.name = name != NULL ? name : "";
	ps.d = d != NULL ? d : &ps.local;
	ps.line = 1;
	if (data == NULL && len > 0)
		return CORE_ESYNTAX;
	if (len > CORE_CONF_MAX_TEXT) {
		conf_diag(ps.d, ps.name, 0, NULL, "configuration larger than %u bytes",
			  CORE_CONF_MAX_TEXT);
		core_conf_diags_fini(&ps.local);
		return CORE_ESYNTAX;
	}
	ps.c = conf_alloc(ps.name);
	ps.p = data != NULL ? data : "";
	ps.end = ps.p + len;
	/* TOML: Spec: an optional UTF-8 byte order mark is ignored. */
	if (len >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3;
	while (ps.p < ps.end && !ps.stop)
		conf_parse_line(&ps);
	for (size_t i = 0; i < ps.nsections; i++)
		free(ps.sections[i].name);
	free(ps.sections);
	core_conf_diags_fini(&ps.local);
	if (ps.errors > 0) {
		core_conf_free(&ps.c);
		return CORE_ESYNTAX;
	}
	for (size_t i = 0; i < ps.c->n; i++)
		conf_entry_views(ps.c->v[i]);
	if (out != NULL)
		*out = ps.c;
	else
		core_conf_free(&ps.c);
	return 0;
}

/* Parse one value in file syntax (the text must hold exactly one value). */
static int conf_value_parse_text(const char *text, struct conf_value *v)
{
	struct conf_parser ps;
	memset(&ps, 0, sizeof(ps));
	core_conf_diags_init(&ps.local);
	ps.name = "";
	ps.d = &ps.local;
	ps.line = 1;
	ps.p = text;
	ps.end = text + strlen(text);
	conf_skip_ws(&ps);
	int rc;
	if (conf_peek(&ps) == '[')
		rc = conf_parse_array(&ps, NULL, v);
	else
		rc = conf_parse_scalar(&ps, NULL, 0, v);
	if (rc == 0) {
		conf_skip_ws(&ps);
		if (ps.p != ps.end || v->bytes > CORE_CONF_MAX_VALUE) {
			conf_value_fini(v, false);
			rc = -1;
		}
	}
	core_conf_diags_fini(&ps.local);
	return rc < 0 ? CORE_ESYNTAX : 0;
}

static bool conf_key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > CORE_CONF_MAX_KEY)
		return false;
	bool seg = false;
	for (const char *p = key; *p; p++) {
		if (*p == '.') {
			if (!seg)
				return false;
			seg = false;
		} else if (conf_is_keychar((unsigned char)*p)) {
			seg = true;
		} else {
			return false;
		}
	}
	return seg;
}

int core_conf_set(struct core_conf *c, const char *key, const char *value)
{
	if (c == NULL || key == NULL || value == NULL || !conf_key_valid(key))
		return CORE_ESYNTAX;
	struct conf_value v;
	if (conf_value_parse_text(value, &v) < 0) {
		size_t n = strlen(value);
		if (n > CORE_CONF_MAX_VALUE)
			return CORE_ESYNTAX;
		memset(&v, 0, sizeof(v));
		v.kind = CONF_K_STR;
		v.text = core_xstrdup(value);
		v.bytes = n;
	}
	struct conf_entry *e = conf_find(c, key);
	if (e == NULL) {
		if (c->n >= CORE_CONF_MAX_KEYS) {
			conf_value_fini(&v, false);
			return CORE_ESYNTAX;
		}
		e = core_xcalloc(1, sizeof(*e));
		e->key = core_xstrdup(key);
		conf_append(c, e);
	} else {
		conf_value_fini(&e->val, e->expanded);
	}
	e->val = v;
	e->line = 0;
	e->expanded = false;
	conf_entry_views(e);
	pthread_mutex_lock(&c->lock);
	conf_cache_free(c->cache);
	c->cache = NULL;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Registry                                                                             */

struct conf_table {
	const char *title;
	const struct core_conf_key *keys;
	size_t n;
};

static struct {
	struct conf_table *v;
	size_t n, cap;
	pthread_mutex_t lock;        /* guards defaults */
	struct conf_cache *defaults; /* parsed list defaults, by key pattern */
} conf_reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

void core_conf_register(const char *title, const struct core_conf_key *keys, size_t n)
{
	for (size_t i = 0; i < conf_reg.n; i++) {
		if (conf_reg.v[i].keys == keys && conf_reg.v[i].n == n)
			return;
	}
	if (conf_reg.n == conf_reg.cap) {
		conf_reg.cap = conf_reg.cap ? conf_reg.cap * 2 : 16;
		conf_reg.v = core_xrealloc(conf_reg.v, conf_reg.cap * sizeof(*conf_reg.v));
	}
	conf_reg.v[conf_reg.n++] = (struct conf_table){title, keys, n};
}

void core_conf_registry_clear(void)
{
	free(conf_reg.v);
	conf_reg.v = NULL;
	conf_reg.n = conf_reg.cap = 0;
	pthread_mutex_lock(&conf_reg.lock);
	conf_cache_free(conf_reg.defaults);
	conf_reg.defaults = NULL;
	pthread_mutex_unlock(&conf_reg.lock);
}

/* Segment-wise match; "*" matches exactly one non-empty segment. -1: no match, else the
 * number of wildcards used. */
static int conf_pattern_match(const char *pat, const char *key)
{
	int wild = 0;
	for (;;) {
		const char *pe = strchr(pat, '.');
		const char *ke = strchr(key, '.');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t kl = ke ? (size_t)(ke - key) : strlen(key);
		if (kl == 0)
			return -1;
		if (pl == 1 && pat[0] == '*')
			wild++;
		else if (pl != kl || memcmp(pat, key, pl) != 0)
			return -1;
		if ((pe == NULL) != (ke == NULL))
			return -1;
		if (pe == NULL)
			return wild;
		pat = pe + 1;
		key = ke + 1;
	}
}

const struct core_conf_key *core_conf_key_lookup(const char *key)
{
	const struct core_conf_key *best = NULL;
	int best_wild = 0;
	if (key == NULL)
		return NULL;
	for (size_t t = 0; t < conf_reg.n; t++) {
		for (size_t i = 0; i < conf_reg.v[t].n; i++) {
			const struct core_conf_key *k = &conf_reg.v[t].keys[i];
			int w = conf_pattern_match(k->pattern, key);
			/* The most specific pattern wins: "listener.admin.bind" over
			 * "listener.*.bind". */
			if (w >= 0 && (best == NULL || w < best_wild)) {
				best = k;
				best_wild = w;
			}
		}
	}
	return best;
}

static const char *conf_type_name(enum core_conf_type t)
{
	switch (t) {
	case CORE_CONF_STRING:
		return "string";
	case CORE_CONF_INT:
		return "integer";
	case CORE_CONF_BOOL:
		return "boolean";
	case CORE_CONF_DURATION:
		return "duration";
	case CORE_CONF_SIZE:
		return "size";
	case CORE_CONF_ENUM:
		return "enum";
	case CORE_CONF_LIST:
		return "list";
	case CORE_CONF_PATH:
		return "path";
	}
	return "?";
}

/* Markdown table cell: '|' escaped, line ends as spaces. */
static void conf_md_cell(struct core_buf *out, const char *s)
{
	for (; s != NULL && *s; s++) {
		if (*s == '|')
			core_buf_append_str(out, "\\|");
		else if (*s == '\n' || *s == '\r')
			core_buf_putc(out, ' ');
		else
			core_buf_putc(out, *s);
	}
}

static void conf_md_enums(struct core_buf *out, const char *enums)
{
	const char *p = enums;
	bool first = true;
	while (p != NULL && *p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		core_buf_printf(out, "%s`%.*s`", first ? ": " : ", ", (int)n, p);
		first = false;
		p = bar ? bar + 1 : NULL;
	}
}

void core_conf_doc_markdown(struct core_buf *out)
{
	for (size_t t = 0; t < conf_reg.n; t++) {
		const struct conf_table *tb = &conf_reg.v[t];
		core_buf_printf(out, "%s## %s\n\n", t > 0 ? "\n" : "", tb->title);
		core_buf_append_str(out, "| Key | Type | Default | Description |\n");
		core_buf_append_str(out, "|---|---|---|---|\n");
		for (size_t i = 0; i < tb->n; i++) {
			const struct core_conf_key *k = &tb->keys[i];
			core_buf_append_str(out, "| `");
			conf_md_cell(out, k->pattern);
			core_buf_append_str(out, "` | ");
			core_buf_append_str(out, conf_type_name(k->type));
			if (k->type == CORE_CONF_ENUM) {
				struct core_buf e = CORE_BUF_INIT;
				conf_md_enums(&e, k->enums);
				conf_md_cell(out, core_buf_cstr(&e));
				core_buf_fini(&e);
			}
			if (k->max > k->min &&
			    (k->type == CORE_CONF_INT || k->type == CORE_CONF_SIZE ||
			     k->type == CORE_CONF_DURATION))
				core_buf_printf(out, " (%lld to %lld%s)", (long long)k->min,
						(long long)k->max,
						k->type == CORE_CONF_SIZE       ? " bytes"
						: k->type == CORE_CONF_DURATION ? " ms"
										: "");
			core_buf_append_str(out, " | ");
			if (k->def != NULL && *k->def) {
				core_buf_putc(out, '`');
				conf_md_cell(out, k->def);
				core_buf_putc(out, '`');
			} else {
				core_buf_append_str(out, "(none)");
			}
			core_buf_append_str(out, " | ");
			conf_md_cell(out, k->doc);
			if (k->flags & CORE_CONF_REQUIRED)
				core_buf_append_str(out, " Required.");
			if (k->flags & CORE_CONF_SECRET)
				core_buf_append_str(out, " Secret: never printed.");
			core_buf_append_str(out, " |\n");
		}
	}
}

/* ------------------------------------------------------------------------------------ */
/* Validation                                                                           */

/* Optimal string alignment distance (edits: insert, delete, replace, swap neighbours). */
static size_t conf_edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > CORE_CONF_MAX_KEY || m > CORE_CONF_MAX_KEY)
		return SIZE_MAX;
	size_t *rows = core_xmalloc(3 * (m + 1) * sizeof(size_t));
	size_t *pp = rows, *p = rows + m + 1, *cur = rows + 2 * (m + 1);
	for (size_t j = 0; j <= m; j++)
		p[j] = j;
	for (size_t i = 1; i <= n; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = p[j - 1] + cost;
			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
		}
		size_t *t = pp;
		pp = p;
		p = cur;
		cur = t;
	}
	size_t r = p[m];
	free(rows);
	return r;
}

/* A pattern written out for key: each "*" takes the key's segment at the same place. */
static char *conf_pattern_instance(const char *pat, const char *key)
{
	struct core_buf b = CORE_BUF_INIT;
	const char *k = key;
	for (;;) {
		const char *pe = strchr(pat, '.');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		const char *ke = k ? strchr(k, '.') : NULL;
		size_t kl = k ? (ke ? (size_t)(ke - k) : strlen(k)) : 0;
		if (pl == 1 && pat[0] == '*' && k != NULL && kl > 0)
			core_buf_append(&b, k, kl);
		else
			core_buf_append(&b, pat, pl);
		k = (k && ke) ? ke + 1 : NULL;
		if (pe == NULL)
			break;
		core_buf_putc(&b, '.');
		pat = pe + 1;
	}
	core_buf_cstr(&b);
	return core_buf_detach(&b, NULL);
}

/* The registered key nearest to an unknown one, when close enough to be a typo. */
static char *conf_suggest(const char *key)
{
	char *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t len = strlen(key);
	for (size_t t = 0; t < conf_reg.n; t++) {
		for (size_t i = 0; i < conf_reg.v[t].n; i++) {
			char *cand = conf_pattern_instance(conf_reg.v[t].keys[i].pattern, key);
			size_t dist = conf_edit_distance(key, cand);
			if (dist < best_d) {
				free(best);
				best = cand;
				best_d = dist;
			} else {
				free(cand);
			}
		}
	}
	/* Close: at most 3 edits and at most a quarter of the key. */
	if (best != NULL && (best_d == 0 || best_d > 3 || best_d * 4 > len)) {
		free(best);
		best = NULL;
	}
	return best;
}

static bool conf_enum_has(const char *enums, const char *s)
{
	size_t n = strlen(s);
	const char *p = enums;
	while (p != NULL && *p) {
		const char *bar = strchr(p, '|');
		size_t wl = bar ? (size_t)(bar - p) : strlen(p);
		if (wl == n && memcmp(p, s, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* The value as a number of the key's unit (INT: itself, SIZE: bytes, DURATION: ms). */
static int conf_value_number(const struct core_conf_key *k, const struct conf_value *v,
			     int64_t *out)
{
	uint64_t u;
	switch (k->type) {
	case CORE_CONF_INT:
		if (v->kind != CONF_K_INT)
			return CORE_ESYNTAX;
		*out = v->ival;
		return 0;
	case CORE_CONF_SIZE:
		if (v->kind == CONF_K_INT) {
			if (v->ival < 0)
				return CORE_ESYNTAX;
			u = (uint64_t)v->ival;
		} else if (v->kind != CONF_K_STR || core_conf_parse_size(v->text, &u) < 0) {
			return CORE_ESYNTAX;
		}
		break;
	case CORE_CONF_DURATION:
		if (v->kind == CONF_K_INT) {
			if (v->ival < 0 || conf_mul((uint64_t)v->ival, 1000, &u) < 0)
				return CORE_ESYNTAX;
		} else if (v->kind != CONF_K_STR || core_conf_parse_duration_ms(v->text, &u) < 0) {
			return CORE_ESYNTAX;
		}
		break;
	default:
		return CORE_ESYNTAX;
	}
	if (u > (uint64_t)INT64_MAX)
		return CORE_ESYNTAX;
	*out = (int64_t)u;
	return 0;
}

static void conf_check_entry(const struct core_conf *c, const struct conf_entry *e,
			     const struct core_conf_key *k, struct core_conf_diags *d, size_t *errs)
{
	const struct conf_value *v = &e->val;
	/* Secret values are never echoed into a diagnostic (core_conf.h, CORE_CONF_SECRET). */
	bool hide = e->expanded || (k->flags & CORE_CONF_SECRET);
	const char *shown = hide ? "<secret>" : v->text;
	int64_t num;
	size_t before = d->n;
	switch (k->type) {
	case CORE_CONF_STRING:
	case CORE_CONF_PATH:
		if (v->kind != CONF_K_STR)
			conf_diag(d, c->name, e->line, e->key, "expected a %s in quotes",
				  conf_type_name(k->type));
		else if (k->type == CORE_CONF_PATH && v->text[0] == '\0')
			conf_diag(d, c->name, e->line, e->key, "empty path");
		break;
	case CORE_CONF_BOOL:
		if (v->kind != CONF_K_BOOL)
			conf_diag(d, c->name, e->line, e->key, "expected true or false");
		break;
	case CORE_CONF_ENUM:
		if (v->kind != CONF_K_STR)
			conf_diag(d, c->name, e->line, e->key, "expected one of %s (in quotes)",
				  k->enums ? k->enums : "");
		else if (!conf_enum_has(k->enums, v->text))
			conf_diag(d, c->name, e->line, e->key, "'%s' is not one of %s", shown,
				  k->enums ? k->enums : "");
		break;
	case CORE_CONF_LIST:
		if (v->kind != CONF_K_STR &&
		    !(v->kind == CONF_K_ARRAY && v->item_kind == CONF_K_STR))
			conf_diag(d, c->name, e->line, e->key,
				  "expected a string or an array of strings");
		break;
	case CORE_CONF_INT:
		if (v->kind != CONF_K_INT)
			conf_diag(d, c->name, e->line, e->key, "expected an integer");
		break;
	case CORE_CONF_SIZE:
		if (conf_value_number(k, v, &num) < 0)
			conf_diag(d, c->name, e->line, e->key,
				  "expected a size such as 512, \"64K\", \"10M\" or \"2G\"");
		break;
	case CORE_CONF_DURATION:
		if (conf_value_number(k, v, &num) < 0)
			conf_diag(d, c->name, e->line, e->key,
				  "expected a duration such as \"250ms\", \"30s\", \"5m\", \"2h\" "
				  "or \"7d\"");
		break;
	}
	if (d->n == before &&
	    (k->type == CORE_CONF_INT || k->type == CORE_CONF_SIZE ||
	     k->type == CORE_CONF_DURATION) &&
	    k->max > k->min && conf_value_number(k, v, &num) == 0 &&
	    (num < k->min || num > k->max)) {
		const char *unit = k->type == CORE_CONF_SIZE       ? " bytes"
				   : k->type == CORE_CONF_DURATION ? " ms"
								   : "";
		if (hide)
			conf_diag(d, c->name, e->line, e->key, "value out of range %lld to %lld%s",
				  (long long)k->min, (long long)k->max, unit);
		else
			conf_diag(d, c->name, e->line, e->key,
				  "%lld%s is out of range %lld to %lld%s", (long long)num, unit,
				  (long long)k->min, (long long)k->max, unit);
	}
	*errs += d->n - before;
}

/* Does any set key start with prefix followed by '.'? The first such entry, else NULL. */
static const struct conf_entry *conf_first_under(const struct core_conf *c, const char *prefix,
						 size_t plen)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *k = c->v[i]->key;
		if (strncmp(k, prefix, plen) == 0 && k[plen] == '.')
			return c->v[i];
	}
	return NULL;
}

/* The concrete section of key that matches the parent pattern ppat (nsegs segments). */
static bool conf_section_of(const char *key, const char *ppat, size_t nsegs, size_t *len_out)
{
	const char *p = key;
	for (size_t i = 0; i < nsegs; i++) {
		const char *dot = strchr(p, '.');
		if (dot == NULL)
			return false;
		p = dot + 1;
	}
	size_t len = (size_t)(p - key) - 1;
	char *sec = core_xstrndup(key, len);
	bool ok = conf_pattern_match(ppat, sec) >= 0;
	free(sec);
	*len_out = len;
	return ok;
}

/* CORE_CONF_REQUIRED: the key must be set whenever a key of its parent section is. */
static void conf_check_required(const struct core_conf *c, const struct core_conf_key *k,
				struct core_conf_diags *d, size_t *errs)
{
	const char *last = strrchr(k->pattern, '.');
	if (last == NULL) {
		if (conf_find(c, k->pattern) == NULL && d->n <= CORE_CONF_MAX_DIAGS) {
			conf_diag(d, c->name, 0, k->pattern, "required key is missing");
			(*errs)++;
		}
		return;
	}
	char *ppat = core_xstrndup(k->pattern, (size_t)(last - k->pattern));
	size_t nsegs = 1;
	for (const char *q = ppat; *q; q++)
		nsegs += *q == '.';
	for (size_t i = 0; i < c->n; i++) {
		size_t slen;
		if (!conf_section_of(c->v[i]->key, ppat, nsegs, &slen))
			continue;
		/* Report each section once: at its first key. */
		if (conf_first_under(c, c->v[i]->key, slen) != c->v[i])
			continue;
		char *want = core_xasprintf("%.*s%s", (int)slen, c->v[i]->key, last);
		if (conf_find(c, want) == NULL) {
			conf_diag(d, c->name, c->v[i]->line, want,
				  "required key is missing (section %.*s is set)", (int)slen,
				  c->v[i]->key);
			(*errs)++;
		}
		free(want);
	}
	free(ppat);
}

int core_conf_validate(const struct core_conf *c, struct core_conf_diags *d)
{
	struct core_conf_diags local;
	core_conf_diags_init(&local);
	if (d == NULL)
		d = &local;
	size_t errs = 0;
	for (size_t i = 0; c != NULL && i < c->n; i++) {
		const struct conf_entry *e = c->v[i];
		const struct core_conf_key *k = core_conf_key_lookup(e->key);
		if (k != NULL) {
			conf_check_entry(c, e, k, d, &errs);
			continue;
		}
		char *hint = d->n < CORE_CONF_MAX_DIAGS ? conf_suggest(e->key) : NULL;
		if (hint != NULL)
			conf_diag(d, c->name, e->line, e->key,
				  "unknown key '%s' (did you mean '%s'?)", e->key, hint);
		else
			conf_diag(d, c->name, e->line, e->key, "unknown key '%s'", e->key);
		free(hint);
		errs++;
	}
	for (size_t t = 0; c != NULL && t < conf_reg.n; t++) {
		for (size_t i = 0; i < conf_reg.v[t].n; i++) {
			if (conf_reg.v[t].keys[i].flags & CORE_CONF_REQUIRED)
				conf_check_required(c, &conf_reg.v[t].keys[i], d, &errs);
		}
	}
	core_conf_diags_fini(&local);
	return errs > 0 ? CORE_ESYNTAX : 0;
}

/* ------------------------------------------------------------------------------------ */
/* Secret references and loading                                                        */

/* Read a whole file of at most max bytes into out. Returns 0, an errno value (> 0), or
 * CONF_TOO_BIG. */
#define CONF_TOO_BIG (-1)
static int conf_read_file(const char *path, size_t max, struct core_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	}
	for (;;) {
		core_buf_reserve(out, 4096);
		ssize_t r = read(fd, out->p + out->len, out->cap - out->len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		if (out->len > max) {
			close(fd);
			return CONF_TOO_BIG;
		}
	}
	close(fd);
	core_buf_cstr(out);
	return 0;
}

/*
 * Expand the references in one string: %{file:PATH} (file contents, one trailing line end
 * removed), %{env:NAME}; "%%{" stands for a literal "%{". Returns 1 when a reference was
 * expanded, 0 when the text had none, -1 after a diagnostic.
 */
static int conf_expand_str(const struct core_conf *c, const struct conf_entry *e, const char *s,
			   struct core_buf *out, struct core_conf_diags *d)
{
	int used = 0;
	const char *p = s;
	while (*p) {
		if (p[0] == '%' && p[1] == '%' && p[2] == '{') {
			core_buf_append(out, "%{", 2);
			p += 3;
			continue;
		}
		if (!(p[0] == '%' && p[1] == '{')) {
			core_buf_putc(out, *p++);
			continue;
		}
		const char *close = strchr(p + 2, '}');
		if (close == NULL) {
			conf_diag(d, c->name, e->line, e->key,
				  "unterminated reference '%%{' (write %%%%{ for a literal %%{)");
			return -1;
		}
		const char *ref = p + 2;
		size_t rlen = (size_t)(close - ref);
		p = close + 1;
		if (rlen > 5 && memcmp(ref, "file:", 5) == 0) {
			char *path = core_xstrndup(ref + 5, rlen - 5);
			struct core_buf fb = CORE_BUF_INIT;
			int rc = conf_read_file(path, CORE_CONF_MAX_VALUE, &fb);
			bool has_nul = rc == 0 && fb.len > 0 && memchr(fb.p, '\0', fb.len) != NULL;
			if (rc != 0 || has_nul) {
				const char *why = rc == CONF_TOO_BIG ? "larger than 64 KiB"
						  : has_nul          ? "contains a NUL byte"
								     : strerror(rc);
				conf_diag(d, c->name, e->line, e->key,
					  "cannot read secret file '%s': %s", path, why);
				core_buf_fini_wipe(&fb);
				free(path);
				return -1;
			}
			size_t n = fb.len;
			if (n > 0 && fb.p[n - 1] == '\n') {
				n--;
				if (n > 0 && fb.p[n - 1] == '\r')
					n--;
			}
			if (n > 0)
				core_buf_append(out, fb.p, n);
			core_buf_fini_wipe(&fb);
			free(path);
		} else if (rlen > 4 && memcmp(ref, "env:", 4) == 0) {
			char *name = core_xstrndup(ref + 4, rlen - 4);
			const char *val = getenv(name);
			if (val == NULL) {
				conf_diag(d, c->name, e->line, e->key,
					  "environment variable '%s' is not set", name);
				free(name);
				return -1;
			}
			core_buf_append_str(out, val);
			free(name);
		} else {
			/* The text may be part of a secret written literally: show it only for
			 * keys that are not secret. */
			const struct core_conf_key *k = core_conf_key_lookup(e->key);
			if (k != NULL && (k->flags & CORE_CONF_SECRET))
				conf_diag(d, c->name, e->line, e->key,
					  "unknown reference (expected %%{file:PATH} or "
					  "%%{env:NAME}; "
					  "write %%%%{ for a literal %%{)");
			else
				conf_diag(d, c->name, e->line, e->key,
					  "unknown reference '%%{%.*s}' (expected %%{file:PATH} or "
					  "%%{env:NAME})",
					  (int)(rlen > 64 ? 64 : rlen), ref);
			return -1;
		}
		used = 1;
		if (out->len > CORE_CONF_MAX_VALUE) {
			conf_diag(d, c->name, e->line, e->key,
				  "expanded value longer than %u bytes", CORE_CONF_MAX_VALUE);
			return -1;
		}
	}
	core_buf_cstr(out);
	return used;
}

/* Replace *s by its expansion. Returns 0 or -1 (diagnostic emitted). */
static int conf_expand_one(const struct core_conf *c, struct conf_entry *e, char **s,
			   struct core_conf_diags *d)
{
	if (strstr(*s, "%{") == NULL)
		return 0;
	struct core_buf b = CORE_BUF_INIT;
	int rc = conf_expand_str(c, e, *s, &b, d);
	if (rc < 0) {
		core_buf_fini_wipe(&b);
		return -1;
	}
	core_buf_cstr(&b);
	free(*s);
	*s = core_buf_detach(&b, NULL);
	if (rc > 0)
		e->expanded = true;
	return 0;
}

static int conf_expand(struct core_conf *c, struct core_conf_diags *d)
{
	int errs = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct conf_entry *e = c->v[i];
		if (e->val.kind == CONF_K_STR) {
			errs += conf_expand_one(c, e, &e->val.text, d) < 0;
			conf_entry_views(e);
		} else if (e->val.kind == CONF_K_ARRAY && e->val.item_kind == CONF_K_STR) {
			for (size_t j = 0; j < e->val.nitems; j++)
				errs += conf_expand_one(c, e, &e->val.items[j], d) < 0;
		}
	}
	return errs;
}

int core_conf_load_buf(const char *name, const char *data, size_t len, struct core_conf **out,
		       struct core_conf_diags *d)
{
	struct core_conf_diags local;
	core_conf_diags_init(&local);
	if (d == NULL)
		d = &local;
	struct core_conf *c = NULL;
	int rc = core_conf_parse(name, data, len, &c, d);
	if (rc == 0) {
		int errs = conf_expand(c, d);
		if (core_conf_validate(c, d) < 0 || errs > 0)
			rc = CORE_ESYNTAX;
	}
	if (rc == 0 && out != NULL)
		*out = c;
	else
		core_conf_free(&c);
	core_conf_diags_fini(&local);
	return rc;
}

int core_conf_load(const char *path, struct core_conf **out, struct core_conf_diags *d)
{
	struct core_buf b = CORE_BUF_INIT;
	if (path == NULL)
		return CORE_EIO;
	int rc = conf_read_file(path, CORE_CONF_MAX_TEXT, &b);
	if (rc == CONF_TOO_BIG) {
		conf_diag(d, path, 0, NULL, "configuration larger than %u bytes",
			  CORE_CONF_MAX_TEXT);
		core_buf_fini(&b);
		return CORE_ESYNTAX;
	}
	if (rc != 0) {
		conf_diag(d, path, 0, NULL, "cannot read: %s", strerror(rc));
		core_buf_fini(&b);
		return CORE_EIO;
	}
	rc = core_conf_load_buf(path, b.p, b.len, out, d);
	core_buf_fini_wipe(&b);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Getters                                                                              */

bool core_conf_has(const struct core_conf *c, const char *key)
{
	return conf_find(c, key) != NULL;
}

const char *core_conf_origin(const struct core_conf *c, const char *key, unsigned *line_out)
{
	const struct conf_entry *e = conf_find(c, key);
	if (line_out != NULL)
		*line_out = e != NULL ? e->line : 0;
	if (e == NULL)
		return NULL;
	return e->line > 0 ? c->name : "(set)";
}

static const char *conf_default(const char *key)
{
	const struct core_conf_key *k = core_conf_key_lookup(key);
	return k != NULL ? k->def : NULL;
}

const char *core_conf_get_str(const struct core_conf *c, const char *key, const char *fallback)
{
	const struct conf_entry *e = conf_find(c, key);
	if (e != NULL) {
		if (e->val.kind != CONF_K_ARRAY)
			return e->val.text;
		if (e->val.nitems == 1)
			return e->val.items[0];
	}
	const char *def = conf_default(key);
	return def != NULL ? def : fallback;
}

int64_t core_conf_get_int(const struct core_conf *c, const char *key, int64_t fallback)
{
	const struct conf_entry *e = conf_find(c, key);
	int64_t v;
	if (e != NULL && e->val.kind == CONF_K_INT)
		return e->val.ival;
	const char *def = conf_default(key);
	if (def != NULL && conf_int_parse(def, strlen(def), &v) == 0)
		return v;
	return fallback;
}

bool core_conf_get_bool(const struct core_conf *c, const char *key, bool fallback)
{
	const struct conf_entry *e = conf_find(c, key);
	bool v;
	if (e != NULL && e->val.kind == CONF_K_BOOL)
		return e->val.bval;
	const char *def = conf_default(key);
	if (def != NULL && core_conf_parse_bool(def, &v) == 0)
		return v;
	return fallback;
}

/* A size or duration from the file (integers in bytes or seconds) or the default. */
static bool conf_get_unit(const struct core_conf *c, const char *key, bool is_size, uint64_t *out)
{
	const struct conf_entry *e = conf_find(c, key);
	if (e != NULL) {
		if (e->val.kind == CONF_K_INT && e->val.ival >= 0) {
			if (is_size) {
				*out = (uint64_t)e->val.ival;
				return true;
			}
			if (conf_mul((uint64_t)e->val.ival, 1000, out) == 0)
				return true;
		} else if (e->val.kind == CONF_K_STR) {
			int rc = is_size ? core_conf_parse_size(e->val.text, out)
					 : core_conf_parse_duration_ms(e->val.text, out);
			if (rc == 0)
				return true;
		}
	}
	const char *def = conf_default(key);
	if (def == NULL)
		return false;
	int rc = is_size ? core_conf_parse_size(def, out) : core_conf_parse_duration_ms(def, out);
	return rc == 0;
}

uint64_t core_conf_get_size(const struct core_conf *c, const char *key, uint64_t fallback)
{
	uint64_t v;
	return conf_get_unit(c, key, true, &v) ? v : fallback;
}

uint64_t core_conf_get_duration_ms(const struct core_conf *c, const char *key, uint64_t fallback)
{
	uint64_t v;
	return conf_get_unit(c, key, false, &v) ? v : fallback;
}

/* Find or build a cached name list; build(what) fills names/n. Called with lock held. */
static struct conf_cache *conf_cache_find(struct conf_cache *head, const char *what)
{
	for (struct conf_cache *k = head; k != NULL; k = k->next) {
		if (strcmp(k->what, what) == 0)
			return k;
	}
	return NULL;
}

static void conf_cache_add_name(struct conf_cache *k, char *name, size_t *cap)
{
	if (k->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		k->names = core_xrealloc(k->names, *cap * sizeof(*k->names));
	}
	k->names[k->n++] = name;
}

/* The default of a LIST key as a list: "[...]" in file syntax, else a list of one. */
static size_t conf_default_list(const struct core_conf_key *k, const char *const **items_out)
{
	pthread_mutex_lock(&conf_reg.lock);
	struct conf_cache *kc = conf_cache_find(conf_reg.defaults, k->pattern);
	if (kc == NULL) {
		kc = core_xcalloc(1, sizeof(*kc));
		kc->what = core_xstrdup(k->pattern);
		size_t cap = 0;
		struct conf_value v;
		if (k->def[0] == '[' && conf_value_parse_text(k->def, &v) == 0) {
			for (size_t i = 0; i < v.nitems; i++) {
				conf_cache_add_name(kc, v.items[i], &cap);
				v.items[i] = NULL;
			}
			v.nitems = 0;
			conf_value_fini(&v, false);
		} else if (k->def[0] != '\0') {
			conf_cache_add_name(kc, core_xstrdup(k->def), &cap);
		}
		kc->next = conf_reg.defaults;
		conf_reg.defaults = kc;
	}
	pthread_mutex_unlock(&conf_reg.lock);
	*items_out = (const char *const *)kc->names;
	return kc->n;
}

size_t core_conf_get_list(const struct core_conf *c, const char *key, const char *const **items_out)
{
	const struct conf_entry *e = conf_find(c, key);
	*items_out = NULL;
	if (e != NULL) {
		if (e->val.kind == CONF_K_ARRAY) {
			*items_out = (const char *const *)e->val.items;
			return e->val.nitems;
		}
		*items_out = e->one;
		return 1;
	}
	const struct core_conf_key *k = core_conf_key_lookup(key);
	if (k == NULL || k->def == NULL)
		return 0;
	return conf_default_list(k, items_out);
}

size_t core_conf_children(const struct core_conf *c, const char *prefix,
			  const char *const **names_out)
{
	*names_out = NULL;
	if (c == NULL || prefix == NULL)
		return 0;
	struct core_conf *mc = (struct core_conf *)c; /* the cache is internal state */
	pthread_mutex_lock(&mc->lock);
	struct conf_cache *k = conf_cache_find(mc->cache, prefix);
	if (k == NULL) {
		k = core_xcalloc(1, sizeof(*k));
		k->what = core_xstrdup(prefix);
		size_t plen = strlen(prefix), cap = 0;
		for (size_t i = 0; i < c->n; i++) {
			const char *s = c->v[i]->key;
			if (plen > 0) {
				if (strncmp(s, prefix, plen) != 0 || s[plen] != '.')
					continue;
				s += plen + 1;
			}
			const char *dot = strchr(s, '.');
			size_t n = dot ? (size_t)(dot - s) : strlen(s);
			bool seen = false;
			for (size_t j = 0; j < k->n && !seen; j++)
				seen = strlen(k->names[j]) == n && memcmp(k->names[j], s, n) == 0;
			if (!seen)
				conf_cache_add_name(k, core_xstrndup(s, n), &cap);
		}
		k->next = mc->cache;
		mc->cache = k;
	}
	pthread_mutex_unlock(&mc->lock);
	*names_out = (const char *const *)k->names;
	return k->n;
}
