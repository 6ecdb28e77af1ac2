/*
 * smtp_ext_starttls.c: RFC 3207 STARTTLS. After the 220 reply the session drops every byte
 * that was pipelined behind the command (the CVE-2011-0411 class) and, once the handshake is
 * done, forgets all state learned in cleartext (smtp_session_tls_done).
 */
#include "smtp/smtp_int.h"

static bool tls_offered(const struct smtp_session *s)
{
	return s->cfg.tls_available && !s->tls && s->conn.starttls != NULL;
}

static bool starttls_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 3207 §4: not offered again once TLS is active. */
	if (!tls_offered(s))
		return false;
	core_buf_append_str(out, "STARTTLS");
	return true;
}

static int check_starttls(struct smtp_session *s, struct smtp_cmd *cmd)
{
	/* RFC 3207 §4: STARTTLS takes no parameters (501). */
	if (cmd->arg.len > 0) {
		smtp_reply(s, 501, "5.5.4", "STARTTLS takes no parameters");
		smtp_session_error(s);
		return CORE_ESYNTAX;
	}
	if (s->tls) {
		smtp_reply(s, 503, "5.5.1", "TLS already active");
		smtp_session_error(s);
		return CORE_ECONFLICT;
	}
	if (!tls_offered(s)) {
		/* RFC 3207 §4: 454 TLS not available due to temporary reason. */
		smtp_reply(s, 454, "4.7.0", "TLS not available");
		return CORE_ETEMP;
	}
	return 0;
}

static void run_starttls(struct smtp_session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_reply_flush(s);
	/* RFC 3207 §4.2 / ARCHITECTURE.md §3: ignore input pipelined after STARTTLS. */
	s->mode = SMTP_MODE_TLS;
	if (s->conn.starttls(s->conn.arg) < 0)
		smtp_session_close(s);
}

static const struct smtp_cmd_def starttls_cmds[] = {
	{"STARTTLS", SMTP_VERB_STARTTLS, SMTP_ST_READY, SMTP_CF_FLUSH, "RFC 3207 §4",
	 check_starttls, run_starttls},
};

const struct smtp_ext smtp_ext_starttls = {
	.name = "STARTTLS",
	.bit = SMTP_EXT_STARTTLS,
	.rfc = "RFC 3207",
	.ehlo = starttls_ehlo,
	.cmds = starttls_cmds,
	.ncmds = CORE_NELEM(starttls_cmds),
};
