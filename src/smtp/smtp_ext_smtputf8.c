/*
 * smtp_ext_smtputf8.c: RFC 6531 internationalised email. The parser accepts UTF-8 in paths
 * (RFC 6531 §3.3); a transaction may use it only with the SMTPUTF8 parameter (§3.4).
 */
#include "smtp/smtp_int.h"

static bool utf8_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	core_buf_append_str(out, "SMTPUTF8");
	return true;
}

static const char *const utf8_params[] = {"SMTPUTF8", NULL};

static int utf8_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		      struct smtp_verdict *v)
{
	(void)s;
	/* RFC 6531 §3.4: the SMTPUTF8 parameter takes no value. */
	if (p->has_value) {
		*v = (struct smtp_verdict){501, "5.5.4", "SMTPUTF8 takes no value"};
		return CORE_ESYNTAX;
	}
	env->smtputf8 = true;
	return 0;
}

const struct smtp_ext smtp_ext_smtputf8 = {
	.name = "SMTPUTF8",
	.bit = SMTP_EXT_SMTPUTF8,
	.rfc = "RFC 6531",
	.ehlo = utf8_ehlo,
	.mail_params = utf8_params,
	.mail_param = utf8_param,
};
