/*
 * smtp_parse.c: pure, resumable parsing of SMTP command lines (RFC 5321 §4.1.1, §4.1.2, with
 * the RFC 6531 §3.3 UTF-8 extensions) and the DATA / BDAT body readers (RFC 5321 §4.5.2,
 * RFC 3030 §2). No I/O and no globals; every size is bounded.
 */
#include <arpa/inet.h>
#include <string.h>

#include "core/core.h"
#include "smtp/smtp.h"

static const char *const verb_names[] = {
	[SMTP_VERB_UNKNOWN] = "",  [SMTP_VERB_HELO] = "HELO", [SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_LHLO] = "LHLO", [SMTP_VERB_MAIL] = "MAIL", [SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA", [SMTP_VERB_BDAT] = "BDAT", [SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP", [SMTP_VERB_QUIT] = "QUIT", [SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_VRFY] = "VRFY", [SMTP_VERB_EXPN] = "EXPN", [SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
};

enum smtp_verb smtp_verb_lookup(struct core_str name)
{
	/* RFC 5321 §2.4: verbs are case-insensitive. */
	for (size_t i = 1; i < CORE_NELEM(verb_names); i++)
		if (core_str_eq_cstr_ci(name, verb_names[i]))
			return (enum smtp_verb)i;
	return SMTP_VERB_UNKNOWN;
}

const char *smtp_verb_name(enum smtp_verb v)
{
	if ((size_t)v >= CORE_NELEM(verb_names))
		return "";
	return verb_names[v];
}

/* --- character classes ------------------------------------------------------------------ */

/* RFC 5322 §3.2.3 atext (RFC 5321 §4.1.2 Atom uses it). */
static bool is_atext(unsigned char c)
{
	if (core_ascii_isalpha(c) || core_ascii_isdigit(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_letdig(unsigned char c)
{
	return core_ascii_isalpha(c) || core_ascii_isdigit(c);
}

/*
 * Length of a well-formed UTF-8 sequence of non-ASCII characters at p (RFC 6531 §3.3
 * UTF8-non-ascii), or 0.
 */
static size_t utf8_seq(const char *p, size_t len)
{
	uint32_t cp;
	if (len == 0 || (unsigned char)p[0] < 0x80)
		return 0;
	int n = core_utf8_decode(p, len, &cp);
	return n > 0 ? (size_t)n : 0;
}

/* --- paths ------------------------------------------------------------------------------ */

/*
 * RFC 5321 §4.1.2 Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str];
 * RFC 6531 §3.3 adds U-labels (we accept UTF-8 in a label). Returns the length parsed.
 */
static size_t scan_domain(const char *p, size_t len, bool *utf8)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		unsigned char last = 0;
		bool label_utf8 = false;
		while (i < len) {
			unsigned char c = (unsigned char)p[i];
			size_t u = utf8_seq(p + i, len - i);
			if (u > 0) {
				*utf8 = true;
				label_utf8 = true;
				i += u;
				last = 'a';
				continue;
			}
			if (is_letdig(c) || (c == '-' && i > start)) {
				last = c;
				i++;
				continue;
			}
			break;
		}
		/* A label is at least one character and does not end with a hyphen; an ASCII
		 * label is at most 63 octets (RFC 1035 §2.3.4; U-labels are bounded by their
		 * A-label form, which we do not compute). */
		if (i == start || last == '-' || (!label_utf8 && i - start > 63))
			return 0;
		if (i < len && p[i] == '.' && i + 1 < len) {
			i++;
			continue;
		}
		return i;
	}
}

/* RFC 5321 §4.1.3 address literals. s is the text between the brackets. */
static bool literal_valid(struct core_str s)
{
	char tmp[64];
	unsigned char addr[16];
	if (s.len == 0 || s.len >= sizeof(tmp))
		return false;
	if (core_str_has_prefix_ci(s, "IPv6:")) {
		memcpy(tmp, s.p + 5, s.len - 5);
		tmp[s.len - 5] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	if (core_ascii_isdigit((unsigned char)s.p[0])) {
		memcpy(tmp, s.p, s.len);
		tmp[s.len] = '\0';
		return inet_pton(AF_INET, tmp, addr) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent. */
	size_t i = 0;
	while (i < s.len && (is_letdig((unsigned char)s.p[i]) || s.p[i] == '-'))
		i++;
	if (i == 0 || s.p[i - 1] == '-' || i >= s.len - 1 || s.p[i] != ':')
		return false;
	for (i++; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
			return false;
	}
	return true;
}

int smtp_path_parse(struct core_str s, bool reverse, struct smtp_path *out, struct core_error *err)
{
	memset(out, 0, sizeof(*out));
	if (s.len < 2 || s.p[0] != '<' || s.p[s.len - 1] != '>')
		return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
				      "path must be enclosed in <>");
	const char *p = s.p + 1;
	size_t len = s.len - 2;
	if (len > SMTP_PATH_MAX)
		return core_error_set(err, CORE_ELIMIT, "RFC 5321 §4.5.3.1.3", "path too long");
	if (len == 0) {
		/* RFC 5321 §4.1.1.2: the null reverse-path "<>" is for MAIL only. */
		if (!reverse)
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.1.3",
					      "empty forward-path");
		out->null = true;
		out->addr = core_str_make(p, 0);
		return 0;
	}
	/* RFC 5321 §4.1.1.3 and Appendix C: accept a source route and ignore it. */
	if (p[0] == '@') {
		size_t i = 0;
		for (;;) {
			bool u = false;
			if (i >= len || p[i] != '@')
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "bad source route");
			size_t d = scan_domain(p + i + 1, len - i - 1, &u);
			if (d == 0)
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "bad source route domain");
			i += 1 + d;
			if (i < len && p[i] == ',') {
				i++;
				continue;
			}
			if (i < len && p[i] == ':') {
				i++;
				break;
			}
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
					      "bad source route");
		}
		out->had_route = true;
		p += i;
		len -= i;
	}
	/* RFC 5321 §4.1.1.3: "Postmaster" without a domain, case-insensitive, RCPT only. */
	if (!reverse && core_str_eq_cstr_ci(core_str_make(p, len), "postmaster") &&
	    !out->had_route) {
		out->postmaster = true;
		out->local = core_str_make(p, len);
		out->addr = out->local;
		return 0;
	}
	size_t i = 0;
	if (len > 0 && p[0] == '"') {
		/* RFC 5321 §4.1.2 Quoted-string, RFC 6531 §3.3 qtextSMTP =/ UTF8-non-ascii. */
		out->quoted = true;
		i = 1;
		for (;;) {
			if (i >= len)
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "unterminated quoted local part");
			unsigned char c = (unsigned char)p[i];
			size_t u = utf8_seq(p + i, len - i);
			if (u > 0) {
				out->utf8 = true;
				i += u;
			} else if (c == '"') {
				i++;
				break;
			} else if (c == '\\') {
				if (i + 1 >= len || (unsigned char)p[i + 1] < 32 ||
				    (unsigned char)p[i + 1] > 126)
					return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
							      "bad quoted-pair");
				i += 2;
			} else if (c >= 32 && c <= 126) {
				i++;
			} else {
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "bad character in quoted local part");
			}
		}
	} else {
		/* Dot-string = Atom *("." Atom), RFC 6531 §3.3 atext =/ UTF8-non-ascii. */
		bool need = true;
		while (i < len && p[i] != '@') {
			size_t u = utf8_seq(p + i, len - i);
			if (u > 0) {
				out->utf8 = true;
				i += u;
				need = false;
			} else if (is_atext((unsigned char)p[i])) {
				i++;
				need = false;
			} else if (p[i] == '.' && !need) {
				i++;
				need = true;
			} else {
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "bad character in local part");
			}
		}
		if (need)
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
					      "bad local part");
	}
	out->local = core_str_make(p, i);
	if (i > SMTP_LOCAL_MAX)
		return core_error_set(err, CORE_ELIMIT, "RFC 5321 §4.5.3.1.1",
				      "local part too long");
	if (i >= len || p[i] != '@')
		return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
				      "mailbox needs @domain");
	i++;
	const char *d = p + i;
	size_t dlen = len - i;
	if (dlen > 0 && d[0] == '[') {
		if (dlen < 3 || d[dlen - 1] != ']' ||
		    !literal_valid(core_str_make(d + 1, dlen - 2)))
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.3",
					      "bad address literal");
		out->literal = true;
	} else {
		if (dlen > SMTP_DOMAIN_MAX)
			return core_error_set(err, CORE_ELIMIT, "RFC 5321 §4.5.3.1.2",
					      "domain too long");
		if (dlen == 0 || scan_domain(d, dlen, &out->utf8) != dlen)
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2", "bad domain");
	}
	out->domain = core_str_make(d, dlen);
	out->addr = core_str_make(p, len);
	return 0;
}

/* --- parameters ------------------------------------------------------------------------- */

/*
 * RFC 5321 §4.1.2: esmtp-param = esmtp-keyword ["=" esmtp-value], separated by SP;
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 /
 * %d62-126), plus UTF8-non-ascii (RFC 6531 §3.3).
 */
static int params_parse(const char *p, size_t len, struct smtp_cmd *cmd, struct core_error *err)
{
	size_t i = 0;
	while (i < len) {
		if (p[i] != ' ')
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
					      "parameters are separated by a space");
		while (i < len && p[i] == ' ')
			i++; /* tolerate repeated spaces and a trailing space */
		if (i == len)
			break;
		if (cmd->nparams == SMTP_PARAMS_MAX)
			return core_error_set(err, CORE_ELIMIT, "RFC 5321 §4.1.2",
					      "too many parameters");
		struct smtp_param *pa = &cmd->params[cmd->nparams];
		size_t k = i;
		if (!is_letdig((unsigned char)p[i]))
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
					      "bad parameter keyword");
		while (i < len && (is_letdig((unsigned char)p[i]) || p[i] == '-'))
			i++;
		pa->key = core_str_make(p + k, i - k);
		pa->has_value = false;
		pa->value = core_str_make(p + i, 0);
		if (i < len && p[i] == '=') {
			i++;
			size_t v = i;
			while (i < len && p[i] != ' ') {
				unsigned char c = (unsigned char)p[i];
				size_t u = utf8_seq(p + i, len - i);
				if (u > 0)
					i += u;
				else if (c >= 33 && c <= 126 && c != '=')
					i++;
				else
					return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
							      "bad parameter value");
			}
			if (i == v)
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "empty parameter value");
			pa->has_value = true;
			pa->value = core_str_make(p + v, i - v);
		} else if (i < len && p[i] != ' ') {
			return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
					      "bad parameter keyword");
		}
		/* RFC 5321 §4.1.2: a keyword appears at most once (we refuse repeats). */
		for (size_t j = 0; j < cmd->nparams; j++)
			if (core_str_eq_ci(cmd->params[j].key, pa->key))
				return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
						      "repeated parameter");
		cmd->nparams++;
	}
	return 0;
}

/* Find the end of a path "<...>" honouring quoted strings; returns index after '>' or 0. */
static size_t path_end(const char *p, size_t len)
{
	if (len == 0 || p[0] != '<')
		return 0;
	bool q = false;
	for (size_t i = 1; i < len; i++) {
		if (q && p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			q = !q;
		else if (!q && p[i] == '>')
			return i + 1;
	}
	return 0;
}

static int mail_rcpt_parse(const char *p, size_t len, bool reverse, struct smtp_cmd *cmd,
			   struct core_error *err)
{
	const char *kw = reverse ? "FROM:" : "TO:";
	size_t kl = strlen(kw);
	if (len < kl || !core_str_has_prefix_ci(core_str_make(p, len), kw))
		return core_error_set(err, CORE_ESYNTAX,
				      reverse ? "RFC 5321 §4.1.1.2" : "RFC 5321 §4.1.1.3",
				      "syntax: %s<address>", reverse ? "MAIL FROM:" : "RCPT TO:");
	p += kl;
	len -= kl;
	/* Liberal: a space after the colon is common and harmless (not in the ABNF). */
	while (len > 0 && p[0] == ' ') {
		p++;
		len--;
	}
	size_t e = path_end(p, len);
	if (e == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
				      "path must be enclosed in <>");
	int rc = smtp_path_parse(core_str_make(p, e), reverse, &cmd->path, err);
	if (rc < 0)
		return rc;
	return params_parse(p + e, len - e, cmd, err);
}

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd, struct core_error *err)
{
	memset(cmd, 0, sizeof(*cmd));
	size_t i = 0;
	while (i < len && line[i] != ' ')
		i++;
	cmd->name = core_str_make(line, i);
	cmd->verb = smtp_verb_lookup(cmd->name);
	cmd->arg = core_str_make(line + (i < len ? i + 1 : i), i < len ? len - i - 1 : 0);
	if (i == 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.1", "empty command");
	switch (cmd->verb) {
	case SMTP_VERB_MAIL:
		return mail_rcpt_parse(cmd->arg.p, cmd->arg.len, true, cmd, err);
	case SMTP_VERB_RCPT:
		return mail_rcpt_parse(cmd->arg.p, cmd->arg.len, false, cmd, err);
	default:
		return 0;
	}
}

/* --- line framing ----------------------------------------------------------------------- */

void smtp_parser_init(struct smtp_parser *p, size_t max_line, enum smtp_bare_policy bare)
{
	memset(p, 0, sizeof(*p));
	/* RFC 5321 §4.5.3.1.4: never below 512; extensions may need more (§4.1.2). */
	p->max_line = max_line < SMTP_LINE_MIN ? SMTP_LINE_MIN : max_line;
	p->bare = bare;
}

void smtp_parser_fini(struct smtp_parser *p)
{
	core_buf_fini(&p->line);
}

void smtp_parser_set_auth_limit(struct smtp_parser *p, size_t max_auth)
{
	p->max_auth = max_auth;
}

static void line_add(struct smtp_parser *p, const char *s, size_t n)
{
	if (p->overflow)
		return;
	/* The limit counts the CRLF too; AUTH lines may use the longer one (checked at the end
	 * of the line, when the verb is known). */
	size_t limit = p->max_auth > p->max_line ? p->max_auth : p->max_line;
	if (p->line.len + n + 2 > limit) {
		p->overflow = true;
		return;
	}
	core_buf_append(&p->line, s, n);
}

static void line_reset(struct smtp_parser *p)
{
	core_buf_reset(&p->line);
	p->cr = false;
	p->overflow = false;
	p->bad = false;
	p->bad_rule = NULL;
}

int smtp_parser_feed(struct smtp_parser *p, const char *data, size_t len, size_t *used_out,
		     struct smtp_cmd *cmd_out, struct core_error *err)
{
	size_t i = 0;
	/* Start of a new line after the previous one was returned. */
	if (p->next_reset) {
		line_reset(p);
		p->next_reset = false;
	}
	for (; i < len; i++) {
		char c = data[i];
		if (p->cr) {
			p->cr = false;
			if (c == '\n')
				goto eol;
			/* RFC 5321 §2.3.8: a CR not followed by LF is not a line end. */
			p->bad = true;
			p->bad_rule = "RFC 5321 §2.3.8";
		}
		if (c == '\r') {
			p->cr = true;
			continue;
		}
		if (c == '\n') {
			/* Bare LF: accepted as a line end only under the CONVERT policy. */
			if (p->bare != SMTP_BARE_CONVERT) {
				p->bad = true;
				p->bad_rule = "RFC 5321 §2.3.8";
			}
			goto eol;
		}
		if (c == '\0') {
			p->bad = true;
			p->bad_rule = "RFC 5321 §4.1.2";
		}
		/* Copy the run of ordinary bytes in one go. */
		size_t j = i + 1;
		while (j < len && data[j] != '\r' && data[j] != '\n' && data[j] != '\0')
			j++;
		line_add(p, data + i, j - i);
		i = j - 1;
	}
	*used_out = len;
	return CORE_MORE;
eol:
	*used_out = i + 1;
	int rc;
	if (!p->overflow && p->line.len + 2 > p->max_line && !p->auth_mode &&
	    !core_str_has_prefix_ci(core_str_make(p->line.p, p->line.len), "AUTH "))
		p->overflow = true; /* only AUTH lines may use the longer limit */
	if (p->overflow || p->bad)
		memset(cmd_out, 0, sizeof(*cmd_out));
	if (p->overflow) {
		rc = core_error_set(err, CORE_ELIMIT, "RFC 5321 §4.5.3.1.4", "line too long");
	} else if (p->bad) {
		rc = core_error_set(err, CORE_ESYNTAX, p->bad_rule,
				    "bare CR, bare LF or NUL in command line");
	} else {
		/* The views point into p->line, valid until the next feed. */
		rc = smtp_cmd_parse(p->line.p ? p->line.p : "", p->line.len, cmd_out, err);
		if (rc == 0)
			rc = CORE_DONE;
	}
	/* Keep the line bytes for the views until the next feed. */
	p->next_reset = true;
	return rc;
}

/* --- DATA reader -------------------------------------------------------------------------- */

/* States of the DATA reader; "BOL" is only ever entered after a real CRLF. */
enum {
	D_BOL = 0, /* at the beginning of a line */
	D_DOT,     /* "." at the beginning of a line */
	D_DOT_CR,  /* ".<CR>" at the beginning of a line */
	D_MID,     /* inside a line */
	D_CR,      /* <CR> inside a line */
	D_END,     /* <CRLF>.<CRLF> seen */
};

static void data_flush(struct smtp_data_reader *r)
{
	if (r->nstage == 0)
		return;
	/* Bytes staged before a failure are still written, so the sink sees the same octets
	 * however the input was split (the session drops the spool of a failed message). */
	if (r->sink_err == 0 && r->sink.write != NULL) {
		int rc = r->sink.write(r->sink.arg, r->stage, r->nstage);
		if (rc < 0) {
			r->sink_err = rc;
			r->flags |= SMTP_BODY_SINK_ERROR;
		}
	}
	r->nstage = 0;
}

static void data_out(struct smtp_data_reader *r, const char *p, size_t n)
{
	if (r->max_size > 0 && r->size + n > r->max_size) {
		/* RFC 1870 §6: keep reading to the end, then refuse with 552. */
		data_flush(r);
		r->flags |= SMTP_BODY_TOO_BIG;
		return;
	}
	r->size += n;
	if (smtp_data_reader_failed(r))
		return;
	while (n > 0) {
		size_t room = sizeof(r->stage) - r->nstage;
		size_t k = n < room ? n : room;
		memcpy(r->stage + r->nstage, p, k);
		r->nstage += k;
		p += k;
		n -= k;
		if (r->nstage == sizeof(r->stage))
			data_flush(r);
	}
}

/* A bare CR or LF: refuse (remember) or write CRLF in its place (RFC 5321 §2.3.8). */
static void data_bare(struct smtp_data_reader *r, unsigned flag)
{
	r->flags |= flag;
	if (r->bare == SMTP_BARE_CONVERT)
		data_out(r, "\r\n", 2);
}

void smtp_data_reader_init(struct smtp_data_reader *r, enum smtp_bare_policy bare,
			   uint64_t max_size, const struct smtp_sink *sink)
{
	memset(r, 0, sizeof(*r));
	r->state = D_BOL;
	r->bare = bare;
	r->max_size = max_size;
	if (sink != NULL)
		r->sink = *sink;
}

bool smtp_data_reader_failed(const struct smtp_data_reader *r)
{
	if (r->flags & (SMTP_BODY_TOO_BIG | SMTP_BODY_SINK_ERROR))
		return true;
	return r->bare == SMTP_BARE_REJECT && (r->flags & (SMTP_BODY_BARE_CR | SMTP_BODY_BARE_LF));
}

static void data_byte_flags(struct smtp_data_reader *r, unsigned char c)
{
	if (c >= 0x80)
		r->flags |= SMTP_BODY_8BIT;
	else if (c == 0)
		r->flags |= SMTP_BODY_NUL;
}

int smtp_data_reader_feed(struct smtp_data_reader *r, const char *p, size_t len, size_t *used_out)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)p[i];
		switch (r->state) {
		case D_BOL:
			if (c == '.') {
				r->state = D_DOT;
				i++;
				continue;
			}
			r->state = D_MID;
			continue; /* same byte, inside the line */
		case D_DOT:
			if (c == '\r') {
				r->state = D_DOT_CR;
				i++;
				continue;
			}
			/* RFC 5321 §4.5.2: the first dot of a line with more characters is
			 * removed. A bare LF after it is body content, never an end. */
			r->state = D_MID;
			continue;
		case D_DOT_CR:
			if (c == '\n') {
				/* RFC 5321 §4.1.1.4: <CRLF>.<CRLF> ends the mail data. */
				r->state = D_END;
				i++;
				data_flush(r);
				*used_out = i;
				return CORE_DONE;
			}
			/* ".<CR>x": the CR is bare; the dot was stuffing for a non-empty line. */
			data_bare(r, SMTP_BODY_BARE_CR);
			r->state = D_MID;
			continue;
		case D_MID: {
			size_t j = i;
			for (;;) {
				/* Plain bytes: neither CR, LF, NUL nor 8-bit (c - 1 wraps for NUL).
				 */
				while (j < len && (unsigned char)(p[j] - 1) < 0x7f &&
				       p[j] != '\r' && p[j] != '\n')
					j++;
				if (j == len || p[j] == '\r' || p[j] == '\n')
					break;
				data_byte_flags(r, (unsigned char)p[j]);
				j++;
			}
			if (j + 1 < len && p[j] == '\r' && p[j + 1] == '\n') {
				/* The usual end of a line: its text and CRLF go out at once. */
				data_out(r, p + i, j + 2 - i);
				r->state = D_BOL;
				i = j + 2;
				continue;
			}
			if (j > i)
				data_out(r, p + i, j - i);
			i = j;
			if (i == len)
				continue;
			if (p[i] == '\r') {
				r->state = D_CR;
			} else {
				/* Bare LF: converted text does not start a line for the dot rules,
				 * so <LF>.<CRLF> or <LF>.<LF> can never end the data. */
				data_bare(r, SMTP_BODY_BARE_LF);
			}
			i++;
			continue;
		}
		case D_CR:
			if (c == '\n') {
				data_out(r, "\r\n", 2);
				r->state = D_BOL;
				i++;
				continue;
			}
			data_bare(r, SMTP_BODY_BARE_CR);
			if (c == '\r') {
				i++; /* stay in D_CR for this new CR */
				continue;
			}
			r->state = D_MID;
			continue;
		default:
			*used_out = i;
			return CORE_DONE;
		}
	}
	data_flush(r);
	*used_out = len;
	return CORE_MORE;
}

/* --- BDAT reader -------------------------------------------------------------------------- */

void smtp_bdat_reader_init(struct smtp_bdat_reader *r, enum smtp_bare_policy bare, bool binary,
			   uint64_t max_size, const struct smtp_sink *sink)
{
	memset(r, 0, sizeof(*r));
	r->bare = bare;
	r->binary = binary;
	r->max_size = max_size;
	if (sink != NULL)
		r->sink = *sink;
}

void smtp_bdat_reader_chunk(struct smtp_bdat_reader *r, uint64_t n)
{
	r->remaining = n;
}

bool smtp_bdat_reader_failed(const struct smtp_bdat_reader *r)
{
	if (r->flags & (SMTP_BODY_TOO_BIG | SMTP_BODY_SINK_ERROR))
		return true;
	return r->bare == SMTP_BARE_REJECT && (r->flags & (SMTP_BODY_BARE_CR | SMTP_BODY_BARE_LF));
}

static void bdat_out(struct smtp_bdat_reader *r, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (r->max_size > 0 && r->size + n > r->max_size) {
		r->flags |= SMTP_BODY_TOO_BIG;
		return;
	}
	r->size += n;
	if (smtp_bdat_reader_failed(r) || r->sink.write == NULL)
		return;
	int rc = r->sink.write(r->sink.arg, p, n);
	if (rc < 0) {
		r->sink_err = rc;
		r->flags |= SMTP_BODY_SINK_ERROR;
	}
}

int smtp_bdat_reader_feed(struct smtp_bdat_reader *r, const char *p, size_t len, size_t *used_out)
{
	size_t n = len;
	if ((uint64_t)n > r->remaining)
		n = (size_t)r->remaining;
	*used_out = n;
	r->remaining -= n;
	if (r->binary) {
		/* RFC 3030 §3: BINARYMIME content is not line-oriented. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] >= 0x80)
				r->flags |= SMTP_BODY_8BIT;
		bdat_out(r, p, n);
		return r->remaining == 0 ? CORE_DONE : CORE_MORE;
	}
	/* Line-oriented content: a CR must be followed by LF, even across chunks. */
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x80)
			r->flags |= SMTP_BODY_8BIT;
		else if (c == 0)
			r->flags |= SMTP_BODY_NUL;
		if (r->cr) {
			r->cr = false;
			if (c == '\n')
				continue;
			/* The CR before (possibly in the previous chunk) was bare. */
			r->flags |= SMTP_BODY_BARE_CR;
			bdat_out(r, p + start, i - start);
			start = i;
			if (r->bare == SMTP_BARE_CONVERT)
				bdat_out(r, "\n", 1);
		}
		if (c == '\r') {
			r->cr = true;
		} else if (c == '\n') {
			r->flags |= SMTP_BODY_BARE_LF;
			bdat_out(r, p + start, i - start);
			start = i + 1;
			if (r->bare == SMTP_BARE_CONVERT)
				bdat_out(r, "\r\n", 2);
		}
	}
	bdat_out(r, p + start, n - start);
	return r->remaining == 0 ? CORE_DONE : CORE_MORE;
}

void smtp_bdat_reader_finish(struct smtp_bdat_reader *r)
{
	if (r->cr && !r->binary) {
		r->cr = false;
		r->flags |= SMTP_BODY_BARE_CR;
		if (r->bare == SMTP_BARE_CONVERT)
			bdat_out(r, "\n", 1);
	}
}

/* --- xtext ------------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int smtp_xtext_decode(struct core_arena *a, struct core_str in, struct core_str *out)
{
	/* RFC 3461 §4: xtext = *( xchar / hexchar ), hexchar = "+" 2(DIGIT / upper A-F),
	 * xchar = "!".."~" except "+" and "=". */
	char *d = core_arena_alloc(a, in.len + 1);
	size_t n = 0;
	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];
		if (c == '+') {
			if (i + 2 >= in.len)
				return CORE_ESYNTAX;
			int h = hexval(in.p[i + 1]), l = hexval(in.p[i + 2]);
			if (h < 0 || l < 0)
				return CORE_ESYNTAX;
			d[n++] = (char)(h * 16 + l);
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			d[n++] = (char)c;
		} else {
			return CORE_ESYNTAX;
		}
	}
	d[n] = '\0';
	*out = core_str_make(d, n);
	return 0;
}
