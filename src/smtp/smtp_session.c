/*
 * smtp_session.c: the SMTP / LMTP server state machine (RFC 5321 §3, §4.1.4; RFC 2033).
 * Input arrives through smtp_session_feed(); replies are grouped and flushed at the points of
 * RFC 2920 §3.2; message bodies stream through the DATA and BDAT readers into the spool sink the
 * services open; service calls may complete later (SMTP_PENDING).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

/* --- replies ----------------------------------------------------------------------------- */

static const char *default_enh(int code)
{
	switch (code) {
	case 250:
	case 251:
	case 252:
		return "2.0.0";
	case 421:
		return "4.3.2";
	case 450:
	case 451:
		return "4.3.0";
	case 452:
		return "4.3.1";
	case 500:
		return "5.5.1";
	case 501:
		return "5.5.2";
	case 502:
	case 504:
		return "5.5.1";
	case 503:
		return "5.5.1";
	case 550:
		return "5.1.1";
	case 552:
		return "5.3.4";
	case 553:
		return "5.1.3";
	case 554:
		return "5.0.0";
	case 555:
		return "5.5.4";
	default:
		if (code >= 200 && code < 300)
			return "2.0.0";
		if (code >= 400 && code < 500)
			return "4.0.0";
		if (code >= 500 && code < 600)
			return "5.0.0";
		return NULL;
	}
}

static const char *default_text(int code)
{
	if (code >= 200 && code < 300)
		return "OK";
	if (code >= 400 && code < 500)
		return "Temporary failure, try again later";
	return "Refused";
}

/* RFC 2034 §3: enhanced codes on 2xx/4xx/5xx replies once EHLO advertised them. */
static bool use_enh(const struct smtp_session *s, int code)
{
	return s->ehlo && smtp_ext_enabled(s, &smtp_ext_enhancedstatus) && code >= 200 &&
	       code != 354 && (code < 300 || code >= 400);
}

/* Append one reply (possibly multi-line: text lines separated by '\n'). Control characters
 * in the text are replaced, so a reply never carries a client's CR/LF. */
static void reply_put(struct smtp_session *s, int code, const char *enh, const char *text)
{
	if (enh == NULL)
		enh = default_enh(code);
	bool with_enh = enh != NULL && use_enh(s, code);
	const char *p = text;
	do {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		bool last = nl == NULL;
		core_buf_printf(&s->out, "%03d%c", code, last ? ' ' : '-');
		if (with_enh)
			core_buf_printf(&s->out, "%s ", enh);
		for (size_t i = 0; i < n && i < 400; i++) {
			unsigned char c = (unsigned char)p[i];
			core_buf_putc(&s->out, (c < 32 || c == 127) ? '?' : (char)c);
		}
		core_buf_append(&s->out, "\r\n", 2);
		p = nl ? nl + 1 : NULL;
	} while (p != NULL);
}

void smtp_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	reply_put(s, code, enh, text);
}

void smtp_reply_lines(struct smtp_session *s, int code, const char *enh, const char *text)
{
	reply_put(s, code, enh, text);
}

void smtp_reply_verdict(struct smtp_session *s, const struct smtp_verdict *v)
{
	int code = (v->code >= 200 && v->code <= 599) ? v->code : 451;
	reply_put(s, code, v->enh, v->text ? v->text : default_text(code));
}

void smtp_reply_flush(struct smtp_session *s)
{
	if (s->out.len == 0)
		return;
	if (s->conn.write != NULL)
		(void)s->conn.write(s->conn.arg, s->out.p, s->out.len);
	core_buf_reset(&s->out);
}

void smtp_reply_from_err(int err, const struct core_error *detail, struct smtp_verdict *out)
{
	const char *msg = (detail != NULL && detail->msg[0] != '\0') ? detail->msg : NULL;
	switch (err) {
	case CORE_ESYNTAX:
		*out = (struct smtp_verdict){501, "5.5.2", msg ? msg : "Syntax error"};
		break;
	case CORE_ELIMIT:
		*out = (struct smtp_verdict){552, "5.3.4", msg ? msg : "Limit exceeded"};
		break;
	case CORE_ENOTFOUND:
		*out = (struct smtp_verdict){550, "5.1.1", msg ? msg : "No such user"};
		break;
	case CORE_EPERM:
		*out = (struct smtp_verdict){550, "5.7.1", msg ? msg : "Not allowed"};
		break;
	case CORE_ECONFLICT:
	case CORE_ETEMP:
		*out = (struct smtp_verdict){451, "4.3.0", msg ? msg : "Temporary failure"};
		break;
	case CORE_EIO:
		*out = (struct smtp_verdict){451, "4.3.0", "Local error in processing"};
		break;
	default:
		*out = (struct smtp_verdict){451, "4.3.0", "Local error in processing"};
		break;
	}
}

/* --- session life ------------------------------------------------------------------------- */

void smtp_session_close(struct smtp_session *s)
{
	if (s->mode == SMTP_MODE_CLOSED)
		return;
	smtp_txn_reset(s);
	smtp_reply_flush(s);
	s->mode = SMTP_MODE_CLOSED;
	if (s->conn.close != NULL)
		s->conn.close(s->conn.arg);
}

void smtp_session_error(struct smtp_session *s)
{
	if (++s->nerrors >= s->cfg.max_errors) {
		smtp_reply(s, 421, "4.7.0", "%s Too many errors, closing connection",
			   s->cfg.hostname);
		smtp_session_close(s);
	}
}

void smtp_txn_reset(struct smtp_session *s)
{
	if (s->spool_open) {
		if (s->svc != NULL && s->svc->spool_abort != NULL)
			s->svc->spool_abort(s->svc_ctx);
		s->spool_open = false;
	}
	core_arena_reset(s->txn);
	memset(&s->env, 0, sizeof(s->env));
	s->bdat_started = false;
	s->bdat_last = false;
	if (s->state & SMTP_ST_TXN)
		s->state = SMTP_ST_READY;
	if (s->mode == SMTP_MODE_DATA || s->mode == SMTP_MODE_BDAT)
		s->mode = SMTP_MODE_CMD;
}

struct smtp_session *smtp_session_new(const struct smtp_config *cfg, const struct smtp_conn *conn,
				      const struct smtp_services *svc)
{
	struct smtp_session *s = core_xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	if (s->cfg.hostname == NULL)
		s->cfg.hostname = "localhost";
	if (s->cfg.max_line == 0)
		s->cfg.max_line = 4096;
	if (s->cfg.max_size == 0)
		s->cfg.max_size = 50u * 1024 * 1024;
	if (s->cfg.max_rcpts == 0)
		s->cfg.max_rcpts = 100;
	if (s->cfg.max_commands == 0)
		s->cfg.max_commands = 10000;
	if (s->cfg.max_errors == 0)
		s->cfg.max_errors = 10;
	if (s->cfg.max_hops == 0)
		s->cfg.max_hops = 100;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = 3;
	if (s->cfg.deliverby_min == 0)
		s->cfg.deliverby_min = 60;
	if (s->cfg.futurerelease_max == 0)
		s->cfg.futurerelease_max = 7u * 24 * 3600;
	s->conn = *conn;
	s->svc = svc;
	s->svc_ctx = svc != NULL ? svc->ctx : NULL;
	s->tls = conn->tls;
	s->tls_version = conn->tls_version;
	s->tls_cipher = conn->tls_cipher;
	s->txn = core_arena_new(0);
	s->conn_arena = core_arena_new(0);
	smtp_parser_init(&s->parser, s->cfg.max_line, s->cfg.bare_cmd);
	smtp_parser_set_auth_limit(&s->parser, smtp_auth_line_max(s));
	s->state = SMTP_ST_GREET;
	s->mode = SMTP_MODE_CMD;
	if (svc != NULL && svc->session_new != NULL)
		s->svc_ctx = svc->session_new(svc->ctx, s, &s->conn);
	struct smtp_verdict v = {0};
	if (svc != NULL && svc->rate_check != NULL) {
		svc->rate_check(s->svc_ctx, SMTP_RATE_CONNECT,
				core_str_from_cstr(conn->remote_ip ? conn->remote_ip : ""), &v);
	}
	if (v.code >= 400) {
		/* RFC 5321 §3.1: a server may refuse the connection with 554 (or 421). */
		smtp_reply_verdict(s, &v);
		smtp_session_close(s);
		return s;
	}
	/* RFC 5321 §4.2 / RFC 2033 §4.1: the greeting names us. */
	smtp_reply(s, 220, NULL, "%s %s Staunch ready", s->cfg.hostname,
		   s->cfg.lmtp ? "LMTP" : "ESMTP");
	smtp_reply_flush(s);
	return s;
}

void smtp_session_free(struct smtp_session **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	struct smtp_session *s = *sp;
	*sp = NULL;
	if (!s->freed) {
		s->freed = true;
		s->mode = SMTP_MODE_CLOSED;
		/* The connection is gone: nothing may be written to it any more. */
		memset(&s->conn, 0, sizeof(s->conn));
		if (s->spool_open && s->svc != NULL && s->svc->spool_abort != NULL)
			s->svc->spool_abort(s->svc_ctx);
		s->spool_open = false;
	}
	if (s->holds > 0)
		return; /* the last smtp_session_release frees it */
	if (s->svc != NULL && s->svc->session_free != NULL)
		s->svc->session_free(s->svc_ctx);
	sasl_exchange_free(&s->sasl);
	core_buf_fini_wipe(&s->sasl_buf);
	core_buf_fini_wipe(&s->sasl_in);
	smtp_parser_fini(&s->parser);
	core_buf_fini(&s->out);
	core_arena_free(&s->txn);
	core_arena_free(&s->conn_arena);
	free(s);
}

void smtp_session_hold(struct smtp_session *s)
{
	s->holds++;
}

bool smtp_session_release(struct smtp_session *s)
{
	CORE_ASSERT(s->holds > 0);
	if (--s->holds > 0 || !s->freed)
		return !s->freed;
	struct smtp_session *p = s;
	smtp_session_free(&p);
	return false;
}

void smtp_session_set_sasl_backend(struct smtp_session *s, const struct sasl_backend *be)
{
	s->sasl_sess = be;
}

const char *smtp_session_auth_user(const struct smtp_session *s)
{
	return s->auth_user;
}

bool smtp_session_closed(const struct smtp_session *s)
{
	return s->mode == SMTP_MODE_CLOSED;
}

bool smtp_session_pending(const struct smtp_session *s)
{
	return s->pending != SMTP_PEND_NONE;
}

unsigned smtp_session_timeout_secs(const struct smtp_session *s)
{
	/* RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for a command; a data
	 * block may take 3 minutes (§4.5.3.2.5), we never time out below the server value. */
	switch (s->mode) {
	case SMTP_MODE_DATA:
	case SMTP_MODE_BDAT:
		return SMTP_TIMEOUT_SERVER > SMTP_TIMEOUT_DATA_BLOCK ? SMTP_TIMEOUT_SERVER
								     : SMTP_TIMEOUT_DATA_BLOCK;
	default:
		return SMTP_TIMEOUT_SERVER;
	}
}

void smtp_session_shutdown(struct smtp_session *s)
{
	if (s->mode == SMTP_MODE_CLOSED)
		return;
	/* RFC 5321 §3.8: 421 when the service must shut down. */
	smtp_reply(s, 421, "4.3.2", "%s Service shutting down, closing connection",
		   s->cfg.hostname);
	smtp_session_close(s);
}

void smtp_session_timeout(struct smtp_session *s)
{
	if (s->mode == SMTP_MODE_CLOSED)
		return;
	smtp_reply(s, 421, "4.4.2", "%s Timeout, closing connection", s->cfg.hostname);
	smtp_session_close(s);
}

void smtp_session_tls_done(struct smtp_session *s, bool ok, const char *version, const char *cipher)
{
	if (s->mode == SMTP_MODE_CLOSED)
		return;
	if (!ok) {
		smtp_session_close(s);
		return;
	}
	/* RFC 3207 §4.2: forget everything learned before TLS; the client sends EHLO again. */
	smtp_txn_reset(s);
	s->tls = true;
	s->tls_version = version;
	s->tls_cipher = cipher;
	s->ehlo = false;
	s->helo = NULL;
	s->auth_user = NULL;
	s->state = SMTP_ST_GREET;
	s->mode = SMTP_MODE_CMD;
	smtp_parser_fini(&s->parser);
	smtp_parser_init(&s->parser, s->cfg.max_line, s->cfg.bare_cmd);
	smtp_parser_set_auth_limit(&s->parser, smtp_auth_line_max(s));
}

/* --- message body --------------------------------------------------------------------------- */

/* RFC 5321 §6.3: count the Received lines of the header section (ours included). */
static void hop_scan(struct smtp_session *s, const char *p, size_t n)
{
	static const char kw[] = "received:";
	for (size_t i = 0; i < n && s->hdr_in; i++) {
		char c = p[i];
		if (c == '\n') {
			if (s->hdr_col == 0) {
				s->hdr_in = false; /* empty line: the body starts */
				return;
			}
			s->hdr_col = 0;
			s->hdr_match = true;
			continue;
		}
		if (c == '\r' && s->hdr_col == 0)
			continue;
		if (s->hdr_match && s->hdr_col < sizeof(kw) - 1) {
			if (core_ascii_lower(c) != kw[s->hdr_col])
				s->hdr_match = false;
			else if (s->hdr_col == sizeof(kw) - 2)
				s->hops++;
		}
		s->hdr_col++;
	}
}

int smtp_session_sink_write(void *arg, const void *p, size_t n)
{
	struct smtp_session *s = arg;
	hop_scan(s, p, n);
	if (s->sink.write == NULL)
		return 0;
	return s->sink.write(s->sink.arg, p, n);
}

static const char *with_protocol(const struct smtp_session *s, char *buf, size_t n)
{
	/* RFC 3848 and RFC 6531 §3.7.3: the "with" keyword says ESMTP/LMTP, S for TLS, A for
	 * authenticated, UTF8 prefix for SMTPUTF8 transactions. */
	bool utf8 = s->env.smtputf8;
	const char *base = s->cfg.lmtp ? "LMTP" : (s->ehlo ? "ESMTP" : "SMTP");
	if (utf8)
		base = s->cfg.lmtp ? "UTF8LMTP" : "UTF8SMTP";
	snprintf(buf, n, "%s%s%s", base, (s->tls && (s->ehlo || utf8)) ? "S" : "",
		 (s->auth_user && (s->ehlo || utf8)) ? "A" : "");
	return buf;
}

int smtp_body_begin(struct smtp_session *s)
{
	struct smtp_sink sink = {0};
	s->env.helo = s->helo;
	s->env.auth_user = s->auth_user;
	if (s->svc != NULL && s->svc->spool_open != NULL) {
		int rc = s->svc->spool_open(s->svc_ctx, &s->env, &sink);
		if (rc < 0) {
			struct smtp_verdict v;
			smtp_reply_from_err(rc, NULL, &v);
			smtp_reply_verdict(s, &v);
			return rc;
		}
		s->spool_open = true;
	}
	s->sink = sink;
	s->hdr_in = true;
	s->hdr_match = true;
	s->hdr_col = 0;
	s->hops = 0;
	/* RFC 5321 §4.4: the receiving server adds a Received line at the top of the content. */
	char with[32], id[64];
	static _Atomic unsigned long counter;
	snprintf(id, sizeof(id), "%lX.%lX", (unsigned long)time(NULL), ++counter);
	struct smtp_received r = {
		.helo = s->helo,
		.remote_ip = s->conn.remote_ip,
		.remote_host = s->conn.remote_host,
		.by_host = s->cfg.hostname,
		.with = with_protocol(s, with, sizeof(with)),
		.tls_version = s->tls ? s->tls_version : NULL,
		.tls_cipher = s->tls ? s->tls_cipher : NULL,
		.id = id,
		/* RFC 5321 §7.2: "for" only with a single recipient (no Bcc leak). */
		.for_addr =
			s->env.nrcpts == 1 ? core_str_dup(s->txn, s->env.rcpts[0].path.addr) : NULL,
		.when = time(NULL),
	};
	struct core_buf hdr = CORE_BUF_INIT;
	smtp_received_format(&r, &hdr);
	int rc = smtp_session_sink_write(s, hdr.p, hdr.len);
	core_buf_fini(&hdr);
	if (rc < 0) {
		struct smtp_verdict v;
		smtp_reply_from_err(rc, NULL, &v);
		smtp_reply_verdict(s, &v);
		smtp_txn_reset(s);
		return rc;
	}
	return 0;
}

static void deliver_replies(struct smtp_session *s, const struct smtp_verdict *res)
{
	if (s->cfg.lmtp) {
		/* RFC 2033 §4.2: one reply per accepted recipient, in RCPT order. */
		for (size_t i = 0; i < s->env.nrcpts; i++)
			smtp_reply_verdict(s, &res[i]);
	} else {
		/* One reply for the transaction: the common outcome, or 250 when any recipient
		 * succeeded (the server owns the others and bounces them, RFC 5321 §6.1). */
		size_t ok = 0, i;
		for (i = 0; i < s->env.nrcpts; i++)
			if (res[i].code >= 200 && res[i].code < 300)
				ok++;
		if (ok > 0)
			smtp_reply(s, 250, "2.0.0", "Message accepted for delivery");
		else
			smtp_reply_verdict(s, &res[0]);
	}
	s->spool_open = false;
	smtp_txn_reset(s);
	smtp_reply_flush(s);
}

void smtp_body_end(struct smtp_session *s, unsigned flags, uint64_t size)
{
	(void)size;
	struct smtp_verdict fail = {0};
	if (flags & SMTP_BODY_TOO_BIG)
		fail = (struct smtp_verdict){552, "5.3.4", "Message too big"};
	else if (flags & SMTP_BODY_SINK_ERROR)
		fail = (struct smtp_verdict){451, "4.3.0", "Local error writing the message"};
	else if (s->hops > s->cfg.max_hops)
		/* RFC 5321 §6.3: a message with too many Received lines is looping. */
		fail = (struct smtp_verdict){554, "5.4.6", "Too many hops, mail loop?"};
	else if ((flags & (SMTP_BODY_BARE_CR | SMTP_BODY_BARE_LF)) &&
		 s->cfg.bare_data == SMTP_BARE_REJECT)
		/* RFC 5321 §2.3.8: CR and LF only as CRLF. */
		fail = (struct smtp_verdict){550, "5.6.0",
					     "Bare CR or LF in message data (RFC 5321 2.3.8)"};
	/* RFC 6152 §3: 8-bit octets without BODY=8BITMIME are accepted (as most servers do);
	 * SMTP_BODY_8BIT records the fact for later stages. */
	if (fail.code != 0) {
		if (s->cfg.lmtp) {
			for (size_t i = 0; i < s->env.nrcpts; i++)
				smtp_reply_verdict(s, &fail);
		} else {
			smtp_reply_verdict(s, &fail);
		}
		smtp_txn_reset(s);
		smtp_reply_flush(s);
		return;
	}
	size_t n = s->env.nrcpts ? s->env.nrcpts : 1;
	struct smtp_verdict *res = core_arena_zalloc(s->txn, n * sizeof(*res));
	for (size_t i = 0; i < n; i++)
		res[i] = (struct smtp_verdict){250, "2.1.5", "Delivered"};
	/* From here the spool belongs to deliver (no spool_abort, even if the session ends
	 * while delivery is pending). */
	s->spool_open = false;
	if (s->svc != NULL && s->svc->deliver != NULL) {
		int rc = s->svc->deliver(s->svc_ctx, s, &s->env, res);
		if (rc == SMTP_PENDING) {
			s->pending = SMTP_PEND_DELIVER;
			s->pend_results = res;
			smtp_reply_flush(s);
			return;
		}
		if (rc < 0) {
			struct smtp_verdict v;
			smtp_reply_from_err(rc, NULL, &v);
			for (size_t i = 0; i < n; i++)
				res[i] = v;
		}
	}
	deliver_replies(s, res);
}

/* --- input -------------------------------------------------------------------------------- */

static void line_error(struct smtp_session *s, int rc, const struct smtp_cmd *cmd,
		       const struct core_error *err)
{
	if (rc == CORE_ELIMIT && cmd->verb == SMTP_VERB_UNKNOWN) {
		/* RFC 5321 §4.5.3.1.4 / §4.5.3.1.10: "500 Line too long". */
		smtp_reply(s, 500, "5.5.6", "Line too long");
	} else if (cmd->verb == SMTP_VERB_MAIL) {
		smtp_reply(s, 501, rc == CORE_ELIMIT ? "5.5.4" : "5.1.7", "%s", err->msg);
	} else if (cmd->verb == SMTP_VERB_RCPT) {
		smtp_reply(s, 501, rc == CORE_ELIMIT ? "5.5.4" : "5.1.3", "%s", err->msg);
	} else {
		smtp_reply(s, 500, "5.5.2", "%s", err->msg[0] ? err->msg : "Syntax error");
	}
	smtp_reply_flush(s);
	smtp_session_error(s);
}

static void dispatch(struct smtp_session *s, struct smtp_cmd *cmd)
{
	/* Limit on commands per session (abuse, RFC 5321 §4.5.3.1 spirit). */
	if (++s->ncommands > s->cfg.max_commands) {
		smtp_reply(s, 421, "4.7.0", "%s Too many commands, closing connection",
			   s->cfg.hostname);
		smtp_session_close(s);
		return;
	}
	const struct smtp_ext *ext = NULL;
	const struct smtp_cmd_def *def = smtp_cmd_find(cmd->verb, &ext);
	bool wrong_hello =
		(s->cfg.lmtp && (cmd->verb == SMTP_VERB_HELO || cmd->verb == SMTP_VERB_EHLO)) ||
		(!s->cfg.lmtp && cmd->verb == SMTP_VERB_LHLO);
	if (def == NULL || wrong_hello || (ext != NULL && !smtp_ext_enabled(s, ext))) {
		/* RFC 5321 §4.2.4: 500 for an unrecognised command; RFC 2920 §3.2 (6): never
		 * buffered. RFC 2033 §4.1: LMTP has no HELO/EHLO. */
		smtp_reply(s, 500, "5.5.1", "Command not recognized");
		smtp_reply_flush(s);
		smtp_session_error(s);
		return;
	}
	if (ext != NULL && !s->ehlo && cmd->verb != SMTP_VERB_BDAT) {
		/* An extension verb before the client saw it in EHLO. (BDAT refuses itself
		 * after reading its chunk, so the stream stays in sync.) */
		smtp_reply(s, 503, "5.5.1", "Send EHLO first");
		smtp_reply_flush(s);
		smtp_session_error(s);
		return;
	}
	if (!(def->states & s->state)) {
		/* RFC 5321 §4.1.4: commands out of order get 503; DATA after only rejected
		 * recipients may get 554 "no valid recipients" (§3.3). */
		if (cmd->verb == SMTP_VERB_DATA && s->state == SMTP_ST_MAIL)
			smtp_reply(s, 554, "5.5.1", "No valid recipients");
		else if (s->state == SMTP_ST_GREET)
			smtp_reply(s, 503, "5.5.1", "Send %s first",
				   s->cfg.lmtp ? "LHLO" : "HELO/EHLO");
		else if (cmd->verb == SMTP_VERB_MAIL)
			smtp_reply(s, 503, "5.5.1", "Nested MAIL command");
		else if (cmd->verb == SMTP_VERB_RCPT)
			smtp_reply(s, 503, "5.5.1", "Need MAIL before RCPT");
		else if (cmd->verb == SMTP_VERB_DATA && s->state == SMTP_ST_BDAT)
			smtp_reply(s, 503, "5.5.1", "DATA not allowed after BDAT");
		else if (cmd->verb == SMTP_VERB_DATA)
			smtp_reply(s, 503, "5.5.1", "Need RCPT before DATA");
		else
			smtp_reply(s, 503, "5.5.1", "Bad sequence of commands");
		if (cmd->verb == SMTP_VERB_DATA)
			smtp_reply_flush(s);
		smtp_session_error(s);
		return;
	}
	if (def->check != NULL && def->check(s, cmd) < 0) {
		if (def->flags & SMTP_CF_FLUSH)
			smtp_reply_flush(s);
		return;
	}
	def->run(s, cmd);
	if (def->flags & SMTP_CF_FLUSH)
		smtp_reply_flush(s);
}

size_t smtp_session_feed(struct smtp_session *s, const char *p, size_t len)
{
	size_t off = 0;
	while (off < len && s->pending == SMTP_PEND_NONE) {
		size_t used = 0;
		int rc;
		if (s->mode == SMTP_MODE_CLOSED)
			break;
		if (s->mode == SMTP_MODE_TLS) {
			/* RFC 3207 §4.2 / ARCHITECTURE.md §3: bytes sent after STARTTLS and before
			 * the handshake are discarded (the CVE-2011-0411 class). */
			off = len;
			break;
		}
		if (s->mode == SMTP_MODE_DATA) {
			rc = smtp_data_reader_feed(&s->data, p + off, len - off, &used);
			off += used;
			if (rc == CORE_DONE) {
				s->mode = SMTP_MODE_CMD;
				smtp_body_end(s, s->data.flags, s->data.size);
			}
			continue;
		}
		if (s->mode == SMTP_MODE_BDAT) {
			rc = smtp_bdat_reader_feed(&s->bdat, p + off, len - off, &used);
			off += used;
			if (rc == CORE_DONE) {
				s->mode = SMTP_MODE_CMD;
				smtp_bdat_continue(s);
			}
			continue;
		}
		struct smtp_cmd cmd;
		struct core_error err;
		core_error_clear(&err);
		s->parser.auth_mode = s->mode == SMTP_MODE_AUTH;
		rc = smtp_parser_feed(&s->parser, p + off, len - off, &used, &cmd, &err);
		off += used;
		if (rc == CORE_MORE) {
			/* A line far over the limit that never ends: stop reading it (RFC 5321
			 * §4.5.3.1.10 "line too long"; the bytes would only be discarded). */
			s->overflow_bytes = s->parser.overflow ? s->overflow_bytes + used : 0;
			if (s->overflow_bytes > SMTP_OVERFLOW_MAX) {
				smtp_reply(s, 500, "5.5.6", "Line too long");
				smtp_reply(s, 421, "4.7.0", "%s Line too long, closing connection",
					   s->cfg.hostname);
				smtp_session_close(s);
			}
			break;
		}
		s->overflow_bytes = 0;
		if (s->mode == SMTP_MODE_AUTH) {
			/* RFC 4954 §4: an empty line is a valid (empty) response, e.g. the
			 * answer to a challenge carrying SCRAM's server-final message; only an
			 * overlong line or one with bare CR, bare LF or NUL is broken. */
			if (rc == CORE_ELIMIT || (rc < 0 && s->parser.bad))
				smtp_auth_feed_line(s, NULL, 0);
			else
				smtp_auth_feed_line(s, s->parser.line.p ? s->parser.line.p : "",
						    s->parser.line.len);
			continue;
		}
		if (rc < 0) {
			line_error(s, rc, &cmd, &err);
			continue;
		}
		dispatch(s, &cmd);
	}
	/* RFC 2920 §3.2: replies of a group go out when the input is used up (or when the
	 * session waits for a service). */
	smtp_reply_flush(s);
	if (s->pending != SMTP_PEND_NONE && !s->paused && s->conn.pause != NULL) {
		s->paused = true;
		s->conn.pause(s->conn.arg);
	}
	return off;
}

static void resume_input(struct smtp_session *s)
{
	smtp_reply_flush(s);
	if (s->paused) {
		s->paused = false;
		if (s->conn.resume != NULL && s->mode != SMTP_MODE_CLOSED)
			s->conn.resume(s->conn.arg);
	}
}

void smtp_session_resume_auth(struct smtp_session *s, int status)
{
	if (s->pending != SMTP_PEND_AUTH)
		return;
	s->pending = SMTP_PEND_NONE;
	smtp_auth_finish(s, status);
	resume_input(s);
}

void smtp_session_resume(struct smtp_session *s, const struct smtp_verdict *results, size_t n)
{
	enum smtp_pending what = s->pending;
	if (what == SMTP_PEND_NONE || what == SMTP_PEND_AUTH)
		return; /* nothing waits for a verdict (a SASL step resumes with _auth) */
	s->pending = SMTP_PEND_NONE;
	struct smtp_verdict v =
		(n > 0 && results != NULL) ? results[0] : (struct smtp_verdict){250, NULL, NULL};
	switch (what) {
	case SMTP_PEND_MAIL:
		smtp_mail_finish(s, &v);
		break;
	case SMTP_PEND_RCPT:
		smtp_rcpt_finish(s, &v);
		break;
	case SMTP_PEND_VRFY:
		smtp_reply_verdict(s, &v);
		break;
	case SMTP_PEND_DELIVER: {
		struct smtp_verdict *res = s->pend_results;
		s->pend_results = NULL;
		for (size_t i = 0; results != NULL && i < n && i < s->env.nrcpts; i++)
			res[i] = results[i];
		deliver_replies(s, res);
		break;
	}
	default:
		break;
	}
	resume_input(s);
}

/* --- Received ------------------------------------------------------------------------------ */

static void put_clean(struct core_buf *b, const char *s)
{
	/* Only printable ASCII and well-formed UTF-8 (RFC 6531 §3.7.3) go into the header; no
	 * spaces, parentheses or controls. */
	bool utf8 = core_utf8_is_valid(s, strlen(s));
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 33 || c == 127 || c == '(' || c == ')' || c == '\\' || (c >= 0x80 && !utf8))
			core_buf_putc(b, '_');
		else
			core_buf_putc(b, (char)c);
	}
}

void smtp_received_format(const struct smtp_received *r, struct core_buf *out)
{
	/* RFC 5321 §4.4: Time-stamp-line = "Received:" FWS Stamp <CRLF>; Stamp = From-domain
	 * By-domain Opt-info [CFWS] ";" FWS date-time. TCP-info gives the address literal. */
	core_buf_append_str(out, "Received: from ");
	put_clean(out, r->helo && r->helo[0] ? r->helo : "unknown");
	core_buf_append_str(out, " (");
	if (r->remote_host && r->remote_host[0]) {
		put_clean(out, r->remote_host);
		core_buf_putc(out, ' ');
	}
	core_buf_putc(out, '[');
	if (r->remote_ip && strchr(r->remote_ip, ':'))
		core_buf_append_str(out, "IPv6:");
	put_clean(out, r->remote_ip ? r->remote_ip : "unknown");
	core_buf_append_str(out, "])\r\n\tby ");
	put_clean(out, r->by_host ? r->by_host : "localhost");
	if (r->tls_version) {
		/* TLS details in a comment (as RFC 8314 §7.4 suggests recording). */
		core_buf_append_str(out, " (");
		put_clean(out, r->tls_version);
		if (r->tls_cipher) {
			core_buf_append_str(out, " cipher ");
			put_clean(out, r->tls_cipher);
		}
		core_buf_putc(out, ')');
	}
	core_buf_append_str(out, "\r\n\twith ");
	put_clean(out, r->with ? r->with : "ESMTP");
	if (r->id) {
		core_buf_append_str(out, " id ");
		put_clean(out, r->id);
	}
	if (r->for_addr) {
		core_buf_append_str(out, "\r\n\tfor <");
		put_clean(out, r->for_addr);
		core_buf_putc(out, '>');
	}
	core_buf_append_str(out, ";\r\n\t");
	core_time_format_rfc5322(out, r->when, 0);
	core_buf_append_str(out, "\r\n");
}
