/*
 * smtp_ext_pipelining.c: RFC 2920 command pipelining. The session already answers in order
 * and groups replies (smtp_session.c, RFC 2920 §3.2); this file advertises the keyword.
 */
#include "smtp/smtp_int.h"

static bool pipelining_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	/* RFC 2920 §2: the EHLO keyword is PIPELINING, without parameters. */
	core_buf_append_str(out, "PIPELINING");
	return true;
}

const struct smtp_ext smtp_ext_pipelining = {
	.name = "PIPELINING",
	.bit = SMTP_EXT_PIPELINING,
	.rfc = "RFC 2920",
	.ehlo = pipelining_ehlo,
};
