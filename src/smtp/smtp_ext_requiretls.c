/*
 * smtp_ext_requiretls.c: RFC 8689 REQUIRETLS. Offered only on a TLS connection (§2); the
 * MAIL parameter is kept in the envelope for the outbound queue.
 */
#include "smtp/smtp_int.h"

static bool requiretls_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 8689 §2: advertised after STARTTLS (or on implicit TLS), never in cleartext. */
	if (!s->tls)
		return false;
	core_buf_append_str(out, "REQUIRETLS");
	return true;
}

static const char *const requiretls_params[] = {"REQUIRETLS", NULL};

static int requiretls_param(struct smtp_session *s, const struct smtp_param *p,
			    struct smtp_envelope *env, struct smtp_verdict *v)
{
	if (p->has_value) {
		*v = (struct smtp_verdict){501, "5.5.4", "REQUIRETLS takes no value"};
		return CORE_ESYNTAX;
	}
	/* RFC 8689 §4.1: the option is only valid on a TLS session. */
	if (!s->tls) {
		*v = (struct smtp_verdict){530, "5.7.10", "REQUIRETLS needs a TLS session"};
		return CORE_EPERM;
	}
	env->requiretls = true;
	return 0;
}

const struct smtp_ext smtp_ext_requiretls = {
	.name = "REQUIRETLS",
	.bit = SMTP_EXT_REQUIRETLS,
	.rfc = "RFC 8689",
	.ehlo = requiretls_ehlo,
	.mail_params = requiretls_params,
	.mail_param = requiretls_param,
};
