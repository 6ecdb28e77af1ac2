/*
 * smtp_ext_size.c: RFC 1870 message size declaration (SIZE keyword and SIZE= parameter).
 */
#include "smtp/smtp_int.h"

static bool size_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 1870 §4: "SIZE" SP the fixed maximum in octets (0 = no limit). */
	core_buf_printf(out, "SIZE %llu", (unsigned long long)s->cfg.max_size);
	return true;
}

static const char *const size_params[] = {"SIZE", NULL};

int smtp_ext_size_check(struct smtp_session *s, uint64_t declared, struct smtp_verdict *v)
{
	/* RFC 1870 §6.1: a declared size above the fixed maximum gets 552 5.3.4. */
	if (s->cfg.max_size > 0 && declared > s->cfg.max_size) {
		*v = (struct smtp_verdict){552, "5.3.4", "Message size exceeds fixed maximum"};
		return CORE_ELIMIT;
	}
	return 0;
}

static int size_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		      struct smtp_verdict *v)
{
	/* RFC 1870 §5: size-value = 1*20DIGIT. */
	uint64_t n;
	if (!p->has_value || p->value.len > 20 || core_str_to_u64(p->value, &n) < 0) {
		*v = (struct smtp_verdict){501, "5.5.4", "Bad SIZE value"};
		return CORE_ESYNTAX;
	}
	env->size_declared = n;
	return smtp_ext_size_check(s, n, v);
}

const struct smtp_ext smtp_ext_size = {
	.name = "SIZE",
	.bit = SMTP_EXT_SIZE,
	.rfc = "RFC 1870",
	.ehlo = size_ehlo,
	.mail_params = size_params,
	.mail_param = size_param,
};
