/*
 * smtp_ext_dsn.c: RFC 3461 delivery status notification parameters (RET, ENVID on MAIL;
 * NOTIFY, ORCPT on RCPT), parsed and kept in the envelope for the queue.
 */
#include <string.h>

#include "smtp/smtp_int.h"

static bool dsn_ehlo(struct smtp_session *s, struct core_buf *out)
{
	(void)s;
	core_buf_append_str(out, "DSN");
	return true;
}

static const char *const dsn_mail[] = {"RET", "ENVID", NULL};
static const char *const dsn_rcpt[] = {"NOTIFY", "ORCPT", NULL};

static int dsn_mail_param(struct smtp_session *s, const struct smtp_param *p,
			  struct smtp_envelope *env, struct smtp_verdict *v)
{
	*v = (struct smtp_verdict){501, "5.5.4", "Bad DSN parameter"};
	if (!p->has_value)
		return CORE_ESYNTAX;
	if (core_str_eq_cstr_ci(p->key, "RET")) {
		/* RFC 3461 §4.3: RET=FULL or RET=HDRS. */
		if (core_str_eq_cstr_ci(p->value, "FULL"))
			env->ret = SMTP_RET_FULL;
		else if (core_str_eq_cstr_ci(p->value, "HDRS"))
			env->ret = SMTP_RET_HDRS;
		else
			return CORE_ESYNTAX;
		return 0;
	}
	/* RFC 3461 §4.4: ENVID is xtext, at most 100 characters, printable when decoded. */
	struct core_str d;
	if (p->value.len > 100 || smtp_xtext_decode(s->txn, p->value, &d) < 0 ||
	    !core_utf8_is_ascii_print(d.p, d.len))
		return CORE_ESYNTAX;
	env->envid = d;
	return 0;
}

static int dsn_rcpt_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_rcpt *r,
			  struct smtp_verdict *v)
{
	*v = (struct smtp_verdict){501, "5.5.4", "Bad DSN parameter"};
	if (!p->has_value)
		return CORE_ESYNTAX;
	if (core_str_eq_cstr_ci(p->key, "NOTIFY")) {
		/* RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY. */
		unsigned bits = 0;
		struct core_str rest = p->value, item;
		for (;;) {
			bool more = core_str_split_char(rest, ',', &item, &rest);
			if (core_str_eq_cstr_ci(item, "NEVER"))
				bits |= SMTP_NOTIFY_NEVER;
			else if (core_str_eq_cstr_ci(item, "SUCCESS"))
				bits |= SMTP_NOTIFY_SUCCESS;
			else if (core_str_eq_cstr_ci(item, "FAILURE"))
				bits |= SMTP_NOTIFY_FAILURE;
			else if (core_str_eq_cstr_ci(item, "DELAY"))
				bits |= SMTP_NOTIFY_DELAY;
			else
				return CORE_ESYNTAX;
			if (!more)
				break;
		}
		if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
			return CORE_ESYNTAX;
		r->notify = bits;
		return 0;
	}
	/* RFC 3461 §4.2: ORCPT=addr-type ";" xtext; addr-type is an atom ("rfc822",
	 * "utf-8" per RFC 6533). */
	struct core_str type, addr, d;
	if (!core_str_split_char(p->value, ';', &type, &addr) || type.len == 0 || addr.len == 0 ||
	    p->value.len > 500)
		return CORE_ESYNTAX;
	for (size_t i = 0; i < type.len; i++) {
		char c = type.p[i];
		if (!(core_ascii_isalpha(c) || core_ascii_isdigit(c) || c == '-'))
			return CORE_ESYNTAX;
	}
	if (smtp_xtext_decode(s->txn, addr, &d) < 0)
		return CORE_ESYNTAX;
	r->orcpt_type = type;
	r->orcpt = d;
	return 0;
}

const struct smtp_ext smtp_ext_dsn = {
	.name = "DSN",
	.bit = SMTP_EXT_DSN,
	.rfc = "RFC 3461",
	.ehlo = dsn_ehlo,
	.mail_params = dsn_mail,
	.rcpt_params = dsn_rcpt,
	.mail_param = dsn_mail_param,
	.rcpt_param = dsn_rcpt_param,
};
