/*
 * smtp_ext_enhancedstatus.c: RFC 2034 ENHANCEDSTATUSCODES with the codes of RFC 3463. The
 * session prefixes replies with the code when this extension is on (smtp_session.c).
 */
#include "smtp/smtp_int.h"

static bool enh_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	core_buf_append_str(out, "ENHANCEDSTATUSCODES");
	return true;
}

const struct smtp_ext smtp_ext_enhancedstatus = {
	.name = "ENHANCEDSTATUSCODES",
	.bit = SMTP_EXT_ENHANCEDSTATUSCODES,
	.rfc = "RFC 2034",
	.ehlo = enh_ehlo,
};
