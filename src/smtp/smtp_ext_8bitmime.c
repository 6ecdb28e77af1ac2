/*
 * smtp_ext_8bitmime.c: RFC 6152 8BITMIME, the BODY= parameter of MAIL (7BIT, 8BITMIME, and
 * BINARYMIME when CHUNKING is on, RFC 3030 §3).
 */
#include "smtp/smtp_int.h"

static bool eightbit_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	core_buf_append_str(out, "8BITMIME");
	return true;
}

static const char *const body_params[] = {"BODY", NULL};

static int body_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		      struct smtp_verdict *v)
{
	/* RFC 6152 §2: BODY=7BIT or BODY=8BITMIME (case-insensitive values). */
	if (core_str_eq_cstr_ci(p->value, "7BIT"))
		env->body = SMTP_BODY_7BIT;
	else if (core_str_eq_cstr_ci(p->value, "8BITMIME"))
		env->body = SMTP_BODY_8BITMIME;
	else if (core_str_eq_cstr_ci(p->value, "BINARYMIME") &&
		 smtp_ext_enabled(s, &smtp_ext_chunking))
		env->body = SMTP_BODY_BINARYMIME; /* RFC 3030 §3 */
	else {
		*v = (struct smtp_verdict){501, "5.5.4", "Unknown BODY type"};
		return CORE_ESYNTAX;
	}
	return 0;
}

const struct smtp_ext smtp_ext_8bitmime = {
	.name = "8BITMIME",
	.bit = SMTP_EXT_8BITMIME,
	.rfc = "RFC 6152",
	.ehlo = eightbit_ehlo,
	.mail_params = body_params,
	.mail_param = body_param,
};
