/*
 * smtp_ext_deliverby.c: RFC 2852 Deliver By (BY=<time>;<mode>[T]), kept in the envelope.
 */
#include "smtp/smtp_int.h"

static bool by_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 2852 §3: "DELIVERBY" [SP min-by-time]. */
	core_buf_printf(out, "DELIVERBY %llu", (unsigned long long)s->cfg.deliverby_min);
	return true;
}

static const char *const by_params[] = {"BY", NULL};

static int by_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		    struct smtp_verdict *v)
{
	/* RFC 2852 §4: by-value = by-time ";" by-mode [by-trace], by-time = ["-" / "+"]
	 * 1*9digit, by-mode = "N" / "R", by-trace = "T". */
	struct core_str x = p->value;
	size_t i = 0;
	bool neg = false;
	*v = (struct smtp_verdict){501, "5.5.4", "Bad BY value"};
	if (!p->has_value)
		return CORE_ESYNTAX;
	if (i < x.len && (x.p[i] == '-' || x.p[i] == '+'))
		neg = x.p[i++] == '-';
	size_t d = i;
	int64_t t = 0;
	while (i < x.len && core_ascii_isdigit((unsigned char)x.p[i]) && i - d < 9)
		t = t * 10 + (x.p[i++] - '0');
	if (i == d || i >= x.len || x.p[i] != ';')
		return CORE_ESYNTAX;
	i++;
	if (i >= x.len)
		return CORE_ESYNTAX;
	char mode = core_ascii_upper(x.p[i++]);
	if (mode != 'N' && mode != 'R')
		return CORE_ESYNTAX;
	bool trace = false;
	if (i < x.len && core_ascii_upper(x.p[i]) == 'T') {
		trace = true;
		i++;
	}
	if (i != x.len)
		return CORE_ESYNTAX;
	if (neg)
		t = -t;
	/* RFC 2852 §4: with mode R a zero or negative by-time is a syntax error (501 5.5.4). */
	if (mode == 'R' && t <= 0)
		return CORE_ESYNTAX;
	/* RFC 2852 §3: mode R below our min-by-time is refused with a 55z code. */
	if (mode == 'R' && (uint64_t)t < s->cfg.deliverby_min) {
		*v = (struct smtp_verdict){553, "5.5.4", "BY time below the minimum we accept"};
		return CORE_ELIMIT;
	}
	env->has_by = true;
	env->by_time = t;
	env->by_mode = mode;
	env->by_trace = trace;
	return 0;
}

const struct smtp_ext smtp_ext_deliverby = {
	.name = "DELIVERBY",
	.bit = SMTP_EXT_DELIVERBY,
	.rfc = "RFC 2852",
	.ehlo = by_ehlo,
	.mail_params = by_params,
	.mail_param = by_param,
};
