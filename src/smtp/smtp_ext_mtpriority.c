/*
 * smtp_ext_mtpriority.c: RFC 6710 message transfer priorities (MT-PRIORITY=-9..9).
 */
#include "smtp/smtp_int.h"

static bool prio_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	/* RFC 6710 §7: mt-priority-ehlo = "MT-PRIORITY" [SP priority-profile]; we do not
	 * disclose a policy name. */
	core_buf_append_str(out, "MT-PRIORITY");
	return true;
}

static const char *const prio_params[] = {"MT-PRIORITY", NULL};

static int prio_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		      struct smtp_verdict *v)
{
	(void)s;
	/* RFC 6710 §7: priority-value = (["-"] NZDIGIT) / "0". */
	struct core_str x = p->value;
	bool neg = x.len == 2 && x.p[0] == '-';
	bool ok = p->has_value && ((x.len == 1 && core_ascii_isdigit((unsigned char)x.p[0])) ||
				   (neg && x.p[1] >= '1' && x.p[1] <= '9'));
	if (!ok) {
		*v = (struct smtp_verdict){501, "5.5.4", "Bad MT-PRIORITY value"};
		return CORE_ESYNTAX;
	}
	env->has_priority = true;
	env->priority = neg ? -(x.p[1] - '0') : x.p[0] - '0';
	return 0;
}

const struct smtp_ext smtp_ext_mtpriority = {
	.name = "MT-PRIORITY",
	.bit = SMTP_EXT_MTPRIORITY,
	.rfc = "RFC 6710",
	.ehlo = prio_ehlo,
	.mail_params = prio_params,
	.mail_param = prio_param,
};
