/*
 * smtp_cmd.c: the command table of the base protocol (RFC 5321 §4.1.1, RFC 2033 §4.1) and its
 * handlers, plus the list of extensions (one file each, smtp_ext_*.c). Each entry is
 * {verb, allowed states, flags, rfc, check_fn, run_fn} (ARCHITECTURE.md §5).
 */
#include <string.h>

#include "smtp/smtp_int.h"

const struct smtp_ext *const smtp_exts[] = {
	&smtp_ext_pipelining,     &smtp_ext_size,      &smtp_ext_8bitmime,
	&smtp_ext_chunking,       &smtp_ext_smtputf8,  &smtp_ext_dsn,
	&smtp_ext_enhancedstatus, &smtp_ext_starttls,  &smtp_ext_auth,
	&smtp_ext_requiretls,     &smtp_ext_deliverby, &smtp_ext_mtpriority,
	&smtp_ext_futurerelease,
};
const size_t smtp_nexts = CORE_NELEM(smtp_exts);

unsigned smtp_ext_bit_by_name(const char *name)
{
	for (size_t i = 0; i < smtp_nexts; i++)
		if (core_strcasecmp_ascii(smtp_exts[i]->name, name) == 0)
			return smtp_exts[i]->bit;
	/* BINARYMIME is advertised by the CHUNKING file (RFC 3030 §3). */
	if (core_strcasecmp_ascii(name, "BINARYMIME") == 0)
		return SMTP_EXT_CHUNKING;
	return 0;
}

bool smtp_ext_enabled(const struct smtp_session *s, const struct smtp_ext *e)
{
	return (s->cfg.ext_disabled & e->bit) == 0;
}

void smtp_path_copy(struct core_arena *a, const struct smtp_path *in, struct smtp_path *out)
{
	*out = *in;
	/* addr spans local@domain; re-derive the views inside the copy. */
	char *d = core_arena_alloc(a, in->addr.len + 1);
	if (in->addr.len > 0)
		memcpy(d, in->addr.p, in->addr.len);
	d[in->addr.len] = '\0';
	out->addr = core_str_make(d, in->addr.len);
	out->local = core_str_make(d, in->local.len);
	if (in->domain.len > 0)
		out->domain = core_str_make(d + (in->addr.len - in->domain.len), in->domain.len);
	else
		out->domain = core_str_make(d + in->addr.len, 0);
}

/* --- HELO / EHLO / LHLO ---------------------------------------------------------------- */

static int check_hello(struct smtp_session *s, struct smtp_cmd *cmd)
{
	/* RFC 5321 §4.1.1.1: EHLO SP ( Domain / address-literal ). We accept any single
	 * printable token (clients send all sorts of names) but refuse an empty one. */
	struct core_str a = cmd->arg;
	bool ok = a.len > 0 && a.len <= SMTP_DOMAIN_MAX;
	for (size_t i = 0; ok && i < a.len; i++) {
		unsigned char c = (unsigned char)a.p[i];
		if (c <= 32 || c == 127 || c == '<' || c == '>')
			ok = false;
	}
	if (!ok) {
		smtp_reply(s, 501, "5.5.4", "%s requires a domain name", smtp_verb_name(cmd->verb));
		smtp_session_error(s);
		return CORE_ESYNTAX;
	}
	return 0;
}

static void run_hello(struct smtp_session *s, struct smtp_cmd *cmd)
{
	/* RFC 5321 §4.1.4: EHLO/HELO later in a session acts like RSET. */
	smtp_txn_reset(s);
	memcpy(s->helo_buf, cmd->arg.p, cmd->arg.len); /* at most SMTP_DOMAIN_MAX (check) */
	s->helo_buf[cmd->arg.len] = '\0';
	s->helo = s->helo_buf;
	s->state = SMTP_ST_READY;
	s->ehlo = cmd->verb != SMTP_VERB_HELO;
	if (!s->ehlo) {
		smtp_reply(s, 250, NULL, "%s", s->cfg.hostname);
		return;
	}
	/* RFC 5321 §4.1.1.1: the first line greets, each later line is one extension. */
	struct core_buf b = CORE_BUF_INIT;
	core_buf_printf(&b, "%s greets %s", s->cfg.hostname, s->helo);
	for (size_t i = 0; i < smtp_nexts; i++) {
		const struct smtp_ext *e = smtp_exts[i];
		if (!smtp_ext_enabled(s, e) || e->ehlo == NULL)
			continue;
		size_t mark = b.len;
		core_buf_putc(&b, '\n');
		if (!e->ehlo(s, &b))
			core_buf_truncate(&b, mark);
	}
	core_buf_append_str(&b, "\nHELP");
	/* RFC 2034 §3: no enhanced code on the EHLO reply. */
	bool saved = s->ehlo;
	s->ehlo = false;
	smtp_reply_lines(s, 250, NULL, core_buf_cstr(&b));
	s->ehlo = saved;
	core_buf_fini(&b);
}

/* --- MAIL ---------------------------------------------------------------------------------- */

static int check_mail(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 4954 §6: submission requires authentication before MAIL. */
	if (s->cfg.submission && s->auth_user == NULL) {
		smtp_reply(s, 530, "5.7.0", "Authentication required");
		return CORE_EPERM;
	}
	return 0;
}

static const struct smtp_ext *param_owner(struct smtp_session *s, struct core_str key, bool mail)
{
	for (size_t i = 0; i < smtp_nexts; i++) {
		const struct smtp_ext *e = smtp_exts[i];
		const char *const *names = mail ? e->mail_params : e->rcpt_params;
		if (names == NULL || !smtp_ext_enabled(s, e))
			continue;
		for (size_t j = 0; names[j] != NULL; j++)
			if (core_str_eq_cstr_ci(key, names[j]))
				return e;
	}
	return NULL;
}

static void param_copy(struct core_arena *a, const struct smtp_param *in, struct smtp_param *out)
{
	out->key = core_str_make(core_str_dup(a, in->key), in->key.len);
	out->value = core_str_make(core_str_dup(a, in->value), in->value.len);
	out->has_value = in->has_value;
}

static void run_mail(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_verdict v = {0};
	smtp_txn_reset(s);
	smtp_path_copy(s->txn, &cmd->path, &s->env.from);
	/* The sender check may need who is submitting (ownership of the address). */
	s->env.helo = s->helo;
	s->env.auth_user = s->auth_user;
	for (size_t i = 0; i < cmd->nparams; i++) {
		struct smtp_param pa;
		param_copy(s->txn, &cmd->params[i], &pa);
		const struct smtp_ext *e = s->ehlo ? param_owner(s, pa.key, true) : NULL;
		if (e == NULL || e->mail_param == NULL) {
			/* RFC 5321 §4.1.1.11: 555 for an unrecognised or unimplemented
			 * MAIL/RCPT parameter. */
			smtp_reply(s, 555, "5.5.4", "Unsupported parameter %.*s",
				   CORE_STR_FMT(pa.key));
			smtp_txn_reset(s);
			return;
		}
		if (e->mail_param(s, &pa, &s->env, &v) < 0) {
			smtp_reply_verdict(s, &v);
			smtp_txn_reset(s);
			return;
		}
	}
	for (size_t i = 0; i < smtp_nexts; i++) {
		const struct smtp_ext *e = smtp_exts[i];
		if (smtp_ext_enabled(s, e) && e->mail_done != NULL &&
		    e->mail_done(s, &s->env, &v) < 0) {
			smtp_reply_verdict(s, &v);
			smtp_txn_reset(s);
			return;
		}
	}
	/* RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter. */
	if (s->env.from.utf8 && !s->env.smtputf8) {
		smtp_reply(s, 553, "5.6.7", "Non-ASCII sender requires SMTPUTF8");
		smtp_txn_reset(s);
		return;
	}
	if (s->svc != NULL && s->svc->rate_check != NULL) {
		v = (struct smtp_verdict){0};
		s->svc->rate_check(s->svc_ctx, SMTP_RATE_MAIL, s->env.from.addr, &v);
		if (v.code >= 400) {
			smtp_reply_verdict(s, &v);
			smtp_txn_reset(s);
			return;
		}
	}
	v = (struct smtp_verdict){250, "2.1.0", "Sender OK"};
	if (s->svc != NULL && s->svc->check_sender != NULL) {
		int rc = s->svc->check_sender(s->svc_ctx, s, &s->env, &v);
		if (rc == SMTP_PENDING) {
			s->pending = SMTP_PEND_MAIL;
			return;
		}
		if (rc < 0)
			smtp_reply_from_err(rc, NULL, &v);
	}
	smtp_mail_finish(s, &v);
}

void smtp_mail_finish(struct smtp_session *s, const struct smtp_verdict *v)
{
	if (v->code >= 200 && v->code < 300) {
		s->state = SMTP_ST_MAIL;
		struct smtp_verdict ok = *v;
		if (ok.enh == NULL)
			ok.enh = "2.1.0";
		smtp_reply_verdict(s, &ok);
	} else {
		smtp_reply_verdict(s, v);
		smtp_txn_reset(s);
	}
}

/* --- RCPT ---------------------------------------------------------------------------------- */

static void run_rcpt(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct smtp_verdict v = {0};
	if (s->env.nrcpts >= s->cfg.max_rcpts) {
		/* RFC 5321 §4.5.3.1.10: 452 too many recipients (the client retries later). */
		smtp_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	struct smtp_rcpt *r = &s->pend_rcpt;
	memset(r, 0, sizeof(*r));
	smtp_path_copy(s->txn, &cmd->path, &r->path);
	for (size_t i = 0; i < cmd->nparams; i++) {
		struct smtp_param pa;
		param_copy(s->txn, &cmd->params[i], &pa);
		const struct smtp_ext *e = s->ehlo ? param_owner(s, pa.key, false) : NULL;
		if (e == NULL || e->rcpt_param == NULL) {
			smtp_reply(s, 555, "5.5.4", "Unsupported parameter %.*s",
				   CORE_STR_FMT(pa.key));
			return;
		}
		if (e->rcpt_param(s, &pa, r, &v) < 0) {
			smtp_reply_verdict(s, &v);
			return;
		}
	}
	if (r->path.utf8 && !s->env.smtputf8) {
		smtp_reply(s, 553, "5.6.7", "Non-ASCII recipient requires SMTPUTF8");
		return;
	}
	if (s->svc != NULL && s->svc->rate_check != NULL) {
		v = (struct smtp_verdict){0};
		s->svc->rate_check(s->svc_ctx, SMTP_RATE_RCPT, r->path.addr, &v);
		if (v.code >= 400) {
			smtp_reply_verdict(s, &v);
			return;
		}
	}
	v = (struct smtp_verdict){250, "2.1.5", "Recipient OK"};
	if (s->svc != NULL && s->svc->check_rcpt != NULL) {
		int rc = s->svc->check_rcpt(s->svc_ctx, s, &s->env, r, &v);
		if (rc == SMTP_PENDING) {
			s->pending = SMTP_PEND_RCPT;
			return;
		}
		if (rc < 0)
			smtp_reply_from_err(rc, NULL, &v);
	}
	smtp_rcpt_finish(s, &v);
}

void smtp_rcpt_finish(struct smtp_session *s, const struct smtp_verdict *v)
{
	struct smtp_verdict ok = *v;
	if (v->code >= 200 && v->code < 300) {
		if (ok.enh == NULL)
			ok.enh = "2.1.5";
		if (s->env.nrcpts == s->env.cap) {
			size_t cap = s->env.cap ? s->env.cap * 2 : 8;
			struct smtp_rcpt *n = core_arena_alloc(s->txn, cap * sizeof(*n));
			if (s->env.nrcpts)
				memcpy(n, s->env.rcpts, s->env.nrcpts * sizeof(*n));
			s->env.rcpts = n;
			s->env.cap = cap;
		}
		/* The code and enhanced code (static strings) are kept; the text belongs to the
		 * service and lives only until this reply is written. */
		s->pend_rcpt.verdict = (struct smtp_verdict){ok.code, ok.enh, NULL};
		s->env.rcpts[s->env.nrcpts++] = s->pend_rcpt;
		if (s->state == SMTP_ST_MAIL)
			s->state = SMTP_ST_RCPT;
	}
	smtp_reply_verdict(s, &ok);
}

/* --- DATA ---------------------------------------------------------------------------------- */

static int check_data(struct smtp_session *s, struct smtp_cmd *cmd)
{
	if (cmd->arg.len > 0) {
		smtp_reply(s, 501, "5.5.4", "DATA takes no arguments");
		smtp_session_error(s);
		return CORE_ESYNTAX;
	}
	/* RFC 3030 §3: a BINARYMIME message cannot be sent with DATA. */
	if (s->env.body == SMTP_BODY_BINARYMIME) {
		smtp_reply(s, 503, "5.5.1", "BODY=BINARYMIME requires BDAT");
		smtp_session_error(s);
		return CORE_ESYNTAX;
	}
	return 0;
}

static void run_data(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	if (smtp_body_begin(s) < 0) {
		smtp_txn_reset(s);
		return;
	}
	struct smtp_sink sink = {smtp_session_sink_write, s};
	smtp_data_reader_init(&s->data, s->cfg.bare_data, s->cfg.max_size, &sink);
	/* RFC 5321 §4.1.1.4: 354, then the data up to <CRLF>.<CRLF>. */
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	s->mode = SMTP_MODE_DATA;
}

/* --- RSET, NOOP, QUIT, HELP, VRFY, EXPN ---------------------------------------------------- */

static void run_rset(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 5321 §4.1.1.5: abort the transaction, keep the HELO state. */
	smtp_txn_reset(s);
	smtp_reply(s, 250, "2.0.0", "Reset OK");
}

static void run_noop(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 5321 §4.1.1.9: any argument is ignored. */
	smtp_reply(s, 250, "2.0.0", "OK");
}

static void run_quit(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 5321 §4.1.1.10: 221, then close; an open transaction is aborted. */
	smtp_reply(s, 221, "2.0.0", "%s Bye", s->cfg.hostname);
	smtp_session_close(s);
}

static void run_help(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 5321 §4.1.1.8: 214 with helpful text. */
	const char *text = (s->svc && s->svc->help)
				   ? s->svc->help
				   : "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET\n"
				     "NOOP QUIT HELP VRFY STARTTLS AUTH\n"
				     "See RFC 5321";
	smtp_reply_lines(s, 214, "2.0.0", text);
}

static void run_verify(struct smtp_session *s, struct smtp_cmd *cmd)
{
	bool expand = cmd->verb == SMTP_VERB_EXPN;
	bool on = expand ? s->cfg.expn : s->cfg.vrfy;
	if (cmd->arg.len == 0) {
		smtp_reply(s, 501, "5.5.4", "%s requires an argument", smtp_verb_name(cmd->verb));
		smtp_session_error(s);
		return;
	}
	if (!on || s->svc == NULL || s->svc->verify == NULL) {
		/* RFC 5321 §3.5.3 and §7.3: VRFY may answer 252 without verifying; EXPN may
		 * be disabled with 502. */
		if (expand)
			smtp_reply(s, 502, "5.5.1", "EXPN not available");
		else
			smtp_reply(
				s, 252, "2.5.0",
				"Cannot VRFY user, but will accept message and attempt delivery");
		return;
	}
	struct smtp_verdict v = {252, "2.5.0", NULL};
	int rc = s->svc->verify(s->svc_ctx, s, expand, cmd->arg, &v);
	if (rc == SMTP_PENDING) {
		s->pending = SMTP_PEND_VRFY;
		return;
	}
	if (rc < 0)
		smtp_reply_from_err(rc, NULL, &v);
	smtp_reply_verdict(s, &v);
}

/* RFC 2920 §3.2 (5): EHLO, DATA, VRFY, EXPN, QUIT and NOOP replies are never buffered. */
static const struct smtp_cmd_def base_cmds[] = {
	{"HELO", SMTP_VERB_HELO, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.1", check_hello,
	 run_hello},
	{"EHLO", SMTP_VERB_EHLO, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.1", check_hello,
	 run_hello},
	{"LHLO", SMTP_VERB_LHLO, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 2033 §4.1", check_hello,
	 run_hello},
	{"MAIL", SMTP_VERB_MAIL, SMTP_ST_READY, SMTP_CF_TXN, "RFC 5321 §4.1.1.2", check_mail,
	 run_mail},
	{"RCPT", SMTP_VERB_RCPT, SMTP_ST_MAIL | SMTP_ST_RCPT, SMTP_CF_TXN, "RFC 5321 §4.1.1.3",
	 NULL, run_rcpt},
	{"DATA", SMTP_VERB_DATA, SMTP_ST_RCPT, SMTP_CF_FLUSH | SMTP_CF_TXN, "RFC 5321 §4.1.1.4",
	 check_data, run_data},
	{"RSET", SMTP_VERB_RSET, SMTP_ST_ANY, 0, "RFC 5321 §4.1.1.5", NULL, run_rset},
	{"VRFY", SMTP_VERB_VRFY, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.6", NULL, run_verify},
	{"EXPN", SMTP_VERB_EXPN, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.7", NULL, run_verify},
	{"HELP", SMTP_VERB_HELP, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.8", NULL, run_help},
	{"NOOP", SMTP_VERB_NOOP, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.9", NULL, run_noop},
	{"QUIT", SMTP_VERB_QUIT, SMTP_ST_ANY, SMTP_CF_FLUSH, "RFC 5321 §4.1.1.10", NULL, run_quit},
};

const struct smtp_cmd_def *smtp_cmd_find(enum smtp_verb v, const struct smtp_ext **ext_out)
{
	*ext_out = NULL;
	for (size_t i = 0; i < CORE_NELEM(base_cmds); i++)
		if (base_cmds[i].id == v)
			return &base_cmds[i];
	for (size_t i = 0; i < smtp_nexts; i++)
		for (size_t j = 0; j < smtp_exts[i]->ncmds; j++)
			if (smtp_exts[i]->cmds[j].id == v) {
				*ext_out = smtp_exts[i];
				return &smtp_exts[i]->cmds[j];
			}
	return NULL;
}
