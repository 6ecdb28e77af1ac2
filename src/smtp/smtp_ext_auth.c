/*
 * smtp_ext_auth.c: RFC 4954 SMTP AUTH over the SASL framework (directory/sasl.h): the AUTH
 * command with an optional initial response, 334 continuations, "*" to cancel, the AUTH=
 * parameter of MAIL (§5), and the reply codes of §6.
 */
#include <string.h>

#include "smtp/smtp_int.h"

static void conn_info(const struct smtp_session *s, struct sasl_conn_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	ci->tls = s->tls;
	ci->tls13 = s->tls_version != NULL && strcmp(s->tls_version, "TLSv1.3") == 0;
	ci->local_host = s->cfg.hostname;
	/* RFC 5802 §6 channel binding and RFC 4422 appendix A EXTERNAL need the transport's
	 * values: only it knows them (once TLS is up). */
	if (s->tls && s->conn.tls_binding != NULL)
		s->conn.tls_binding(s->conn.arg, ci);
}

size_t smtp_auth_line_max(const struct smtp_session *s)
{
	if (s->cfg.sasl_cfg == NULL)
		return 0;
	/* RFC 4954 §4: lines long enough for the largest response the SASL layer takes
	 * (base64 of max_response, plus "AUTH <mechanism> " and CRLF); at least 12288. */
	size_t max = s->cfg.sasl_cfg->max_response ? s->cfg.sasl_cfg->max_response
						   : SASL_DEFAULT_MAX_RESPONSE;
	size_t n = (max + 2) / 3 * 4 + 64;
	return n < 12288 ? 12288 : n;
}

static bool auth_possible(const struct smtp_session *s)
{
	if (s->cfg.sasl_cfg == NULL || smtp_sasl_backend(s) == NULL)
		return false;
	return s->tls || !s->cfg.require_tls_for_auth;
}

static bool auth_ehlo(struct smtp_session *s, struct core_buf *out)
{
	if (!auth_possible(s))
		return false;
	struct sasl_conn_info ci;
	conn_info(s, &ci);
	struct core_buf mechs = CORE_BUF_INIT;
	unsigned offered = sasl_mechs_offered(s->cfg.sasl_cfg, smtp_sasl_backend(s), &ci, &mechs);
	struct core_str list = core_str_trim(core_str_make(core_buf_cstr(&mechs), mechs.len));
	/* RFC 4954 §3: "AUTH" SP mechanism names separated by SP. */
	if (offered != 0 && list.len > 0)
		core_buf_printf(out, "AUTH %.*s", CORE_STR_FMT(list));
	core_buf_fini(&mechs);
	return offered != 0 && list.len > 0;
}

static void auth_fail_reply(struct smtp_session *s, const struct sasl_result *r)
{
	/* RFC 4954 §6 reply codes. */
	switch (r->fail) {
	case SASL_FAIL_MALFORMED:
		smtp_reply(s, 501, "5.5.2", "Cannot decode the response");
		break;
	case SASL_FAIL_CANCELLED:
		smtp_reply(s, 501, "5.0.0", "Authentication cancelled");
		return; /* not a failed attempt */
	case SASL_FAIL_MECH_UNKNOWN:
		smtp_reply(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	case SASL_FAIL_ENCRYPT_NEEDED:
		smtp_reply(s, 538, "5.7.11",
			   "Encryption required for requested authentication "
			   "mechanism");
		return;
	case SASL_FAIL_TOO_LONG:
		smtp_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
		break;
	case SASL_FAIL_TEMP:
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	default:
		smtp_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		break;
	}
	if (s->svc != NULL && s->svc->rate_check != NULL) {
		struct smtp_verdict v = {0};
		s->svc->rate_check(s->svc_ctx, SMTP_RATE_AUTH_FAILURE,
				   core_str_from_cstr(s->conn.remote_ip ? s->conn.remote_ip : ""),
				   &v);
	}
	if (++s->nauth_fail >= s->cfg.max_auth_failures) {
		smtp_reply(s, 421, "4.7.0", "%s Too many authentication failures", s->cfg.hostname);
		smtp_session_close(s);
	}
}

/* Run one SASL step: here, or through services->sasl_step (which may finish later). */
static void auth_step(struct smtp_session *s, const void *in, size_t len, bool have_in)
{
	core_buf_reset(&s->sasl_buf);
	if (s->svc != NULL && s->svc->sasl_step != NULL) {
		/* Keep the response in the session: the step may run on a worker. */
		core_buf_reset(&s->sasl_in);
		core_buf_append(&s->sasl_in, in != NULL ? in : "", len);
		s->pending = SMTP_PEND_AUTH;
		s->svc->sasl_step(s->svc_ctx, s, s->sasl, core_buf_cstr(&s->sasl_in), len, have_in,
				  &s->sasl_buf);
		return;
	}
	smtp_auth_finish(s, sasl_exchange_step(s->sasl, in, len, have_in, &s->sasl_buf));
}

/* Answer a step: 334 challenge, 235 success, or a failure. */
void smtp_auth_finish(struct smtp_session *s, int st)
{
	core_buf_fini_wipe(&s->sasl_in);
	if (s->sasl == NULL || s->mode == SMTP_MODE_CLOSED)
		return;
	if (st == SASL_CONTINUE) {
		/* RFC 4954 §4: 334 SP base64 challenge (empty challenge: "334 "). */
		struct core_buf enc = CORE_BUF_INIT;
		sasl_wire_encode(s->sasl_buf.p, s->sasl_buf.len, false, &enc);
		core_buf_printf(&s->out, "334 %s\r\n", core_buf_cstr(&enc));
		core_buf_fini(&enc);
		s->mode = SMTP_MODE_AUTH;
		smtp_reply_flush(s);
		return;
	}
	const struct sasl_result *r = sasl_exchange_result(s->sasl);
	s->mode = SMTP_MODE_CMD;
	if (st == SASL_OK) {
		char name[SASL_MAX_NAME + 1];
		size_t n = r->authzid ? strlen(r->authzid) : 0;
		if (n > SASL_MAX_NAME)
			n = SASL_MAX_NAME;
		memcpy(name, r->authzid ? r->authzid : "", n);
		name[n] = '\0';
		s->auth_user = core_arena_strdup(s->conn_arena, name);
		if (s->svc != NULL && s->svc->auth_done != NULL)
			s->svc->auth_done(s->svc_ctx, s->auth_user);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
	} else {
		auth_fail_reply(s, r);
	}
	sasl_exchange_free(&s->sasl);
	core_buf_fini_wipe(&s->sasl_buf);
	smtp_reply_flush(s);
}

static int check_auth(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 4954 §4: AUTH is not permitted after a successful AUTH (503). */
	if (s->auth_user != NULL) {
		smtp_reply(s, 503, "5.5.1", "Already authenticated");
		smtp_session_error(s);
		return CORE_ECONFLICT;
	}
	if (!auth_possible(s)) {
		if (s->cfg.sasl_cfg != NULL && !s->tls)
			smtp_reply(s, 538, "5.7.11", "Encryption required for authentication");
		else
			smtp_reply(s, 502, "5.5.1", "AUTH not available");
		smtp_session_error(s);
		return CORE_EPERM;
	}
	return 0;
}

static void run_auth(struct smtp_session *s, struct smtp_cmd *cmd)
{
	struct core_str mech, ir;
	bool has_ir = core_str_split_char(cmd->arg, ' ', &mech, &ir);
	if (mech.len == 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		smtp_session_error(s);
		return;
	}
	/* The exchange keeps a pointer to its connection data and later steps may run on a
	 * worker: it lives in the session, not on this stack. */
	conn_info(s, &s->sasl_ci);
	s->sasl = sasl_exchange_new(s->cfg.sasl_cfg, smtp_sasl_backend(s), &s->sasl_ci, mech.p,
				    mech.len);
	if (!has_ir) {
		auth_step(s, NULL, 0, false);
		return;
	}
	/* RFC 4954 §4: the initial response is base64, "=" for an empty one. */
	struct core_buf dec = CORE_BUF_INIT;
	int rc = sasl_wire_decode(ir.p, ir.len, true, s->cfg.sasl_cfg->max_response, &dec, NULL);
	if (rc == 1) {
		sasl_exchange_cancel(s->sasl);
		auth_step(s, NULL, 0, true);
	} else if (rc < 0) {
		sasl_exchange_free(&s->sasl);
		smtp_reply(s, 501, "5.5.2", "Cannot decode the initial response");
		smtp_session_error(s);
	} else {
		auth_step(s, dec.p ? dec.p : "", dec.len, true);
	}
	core_buf_fini_wipe(&dec);
}

void smtp_auth_feed_line(struct smtp_session *s, const char *line, size_t len)
{
	if (s->sasl == NULL) {
		s->mode = SMTP_MODE_CMD;
		return;
	}
	if (line == NULL) {
		/* Line too long or broken: the exchange fails (RFC 4954 §4: 500 5.5.6). */
		sasl_exchange_free(&s->sasl);
		s->mode = SMTP_MODE_CMD;
		smtp_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
		smtp_reply_flush(s);
		return;
	}
	struct core_buf dec = CORE_BUF_INIT;
	int rc = sasl_wire_decode(line, len, false, s->cfg.sasl_cfg->max_response, &dec, NULL);
	if (rc == 1) {
		/* RFC 4954 §4: "*" cancels with 501. */
		sasl_exchange_cancel(s->sasl);
		auth_step(s, NULL, 0, true);
	} else if (rc < 0) {
		sasl_exchange_free(&s->sasl);
		s->mode = SMTP_MODE_CMD;
		smtp_reply(s, 501, "5.5.2", "Cannot decode the response");
		smtp_reply_flush(s);
	} else {
		auth_step(s, dec.p ? dec.p : "", dec.len, true);
	}
	core_buf_fini_wipe(&dec);
}

static const char *const auth_params[] = {"AUTH", NULL};

static int auth_mail_param(struct smtp_session *s, const struct smtp_param *p,
			   struct smtp_envelope *env, struct smtp_verdict *v)
{
	/* RFC 4954 §5: AUTH=xtext mailbox or "<>"; kept for trusted relays, the server
	 * decides whether to trust it. */
	struct core_str d;
	if (!p->has_value || smtp_xtext_decode(s->txn, p->value, &d) < 0) {
		*v = (struct smtp_verdict){501, "5.5.4", "Bad AUTH parameter"};
		return CORE_ESYNTAX;
	}
	env->auth = d;
	return 0;
}

static const struct smtp_cmd_def auth_cmds[] = {
	{"AUTH", SMTP_VERB_AUTH, SMTP_ST_READY, 0, "RFC 4954 §4", check_auth, run_auth},
};

const struct smtp_ext smtp_ext_auth = {
	.name = "AUTH",
	.bit = SMTP_EXT_AUTH,
	.rfc = "RFC 4954",
	.ehlo = auth_ehlo,
	.mail_params = auth_params,
	.mail_param = auth_mail_param,
	.cmds = auth_cmds,
	.ncmds = CORE_NELEM(auth_cmds),
};
