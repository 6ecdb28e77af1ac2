/*
 * mail_rfc5322_date.c: Date and Resent-Date values (RFC 5322 §3.3 date-time, §4.3 obsolete
 * forms), parsed by core_time so every module reads dates the same way. RFC 8621 §4.1.2.6
 * (Date form) maps a failure to null.
 */
#include "core/core_time.h"
#include "mail/mail.h"

int mail_date_parse(struct core_str raw, time_t *t_out, int *offset_out, struct core_error *err)
{
	return core_time_parse_rfc5322(raw.p != NULL ? raw.p : "", raw.len, 0, t_out, offset_out,
				       err);
}
