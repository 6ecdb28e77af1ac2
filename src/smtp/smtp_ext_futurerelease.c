/*
 * smtp_ext_futurerelease.c: RFC 4865 future message release (HOLDFOR= / HOLDUNTIL=). The
 * release time is kept in the envelope for the queue; the extension is for submission.
 */
#include <time.h>

#include "smtp/smtp_int.h"

static bool fr_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 4865 §3 (3): "FUTURERELEASE" SP max-interval SP max-date-time (UTC). */
	core_buf_printf(out, "FUTURERELEASE %llu ", (unsigned long long)s->cfg.futurerelease_max);
	core_time_format_rfc3339(out, time(NULL) + (time_t)s->cfg.futurerelease_max, 0);
	return true;
}

static const char *const fr_params[] = {"HOLDFOR", "HOLDUNTIL", NULL};

static int fr_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_envelope *env,
		    struct smtp_verdict *v)
{
	time_t now = time(NULL);
	time_t until;
	*v = (struct smtp_verdict){501, "5.5.4", "Bad HOLDFOR/HOLDUNTIL value"};
	if (!p->has_value)
		return CORE_ESYNTAX;
	/* RFC 4865 §3 (4): one hold parameter only. */
	if (env->has_hold) {
		*v = (struct smtp_verdict){501, "5.5.4", "Only one of HOLDFOR and HOLDUNTIL"};
		return CORE_ESYNTAX;
	}
	if (core_str_eq_cstr_ci(p->key, "HOLDFOR")) {
		uint64_t n;
		/* future-release-integer = 1*9DIGIT (a positive integer). */
		if (p->value.len > 9 || core_str_to_u64(p->value, &n) < 0 || n == 0)
			return CORE_ESYNTAX;
		until = now + (time_t)n;
	} else {
		int off = 0;
		if (core_time_parse_rfc3339(p->value.p, p->value.len, CORE_TIME_UTC, &until, &off,
					    NULL) < 0)
			return CORE_ESYNTAX;
	}
	/* RFC 4865 §4: a release time in the past or beyond our maximum is refused. */
	if (until <= now || (uint64_t)(until - now) > s->cfg.futurerelease_max) {
		*v = (struct smtp_verdict){501, "5.5.4", "Release time out of range"};
		return CORE_ELIMIT;
	}
	env->has_hold = true;
	env->hold_until = until;
	return 0;
}

const struct smtp_ext smtp_ext_futurerelease = {
	.name = "FUTURERELEASE",
	.bit = SMTP_EXT_FUTURERELEASE,
	.rfc = "RFC 4865",
	.ehlo = fr_ehlo,
	.mail_params = fr_params,
	.mail_param = fr_param,
};
