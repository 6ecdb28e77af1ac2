/*
 * mail_rfc5322_msgid.c: Message-ID, In-Reply-To, References and Content-ID values.
 *
 * RFC 5322 §3.6.4 (msg-id = "<" id-left "@" id-right ">", lists separated by CFWS), §4.5.4
 * (obsolete: phrases between ids in In-Reply-To/References, CFWS inside the brackets),
 * RFC 2045 §7 (Content-ID uses msg-id), RFC 8621 §4.1.2.5 (MessageIds form: ids without the
 * brackets). A value with no bracketed id but a single bare "left@right" word (common in
 * real mail) yields that word.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

void mail_msgid_list_parse(struct core_arena *a, struct core_str raw, struct mail_msgid_list *out)
{
	memset(out, 0, sizeof(*out));
	struct core_str u = mail_hdr_unfold(a, raw);
	const char *p = u.p;
	size_t len = u.len, i = 0, cap = 1;
	for (size_t k = 0; k < len; k++)
		cap += p[k] == '<';
	out->ids = core_arena_alloc(a, cap * sizeof(*out->ids));
	size_t words = 0;
	struct core_str bare = CORE_STR_NULL;
	struct core_buf b = CORE_BUF_INIT;
	while (i < len) {
		mail_cfws_skip(p, len, &i, NULL);
		if (i >= len)
			break;
		if (p[i] == '<') {
			core_buf_reset(&b);
			i++;
			while (i < len && p[i] != '>' && p[i] != '<') {
				if (p[i] == '(') {
					mail_cfws_skip(p, len, &i, NULL); /* §4.5.4 CFWS inside */
					continue;
				}
				if (!core_ascii_isspace((unsigned char)p[i]))
					core_buf_putc(&b, p[i]);
				i++;
			}
			if (i < len && p[i] == '>')
				i++;
			else
				out->invalid = true;
			if (b.len > 0)
				out->ids[out->count++] = mail_buf_to_arena(a, &b);
			continue;
		}
		out->invalid = true;
		words++;
		if (p[i] == '"') {
			i++;
			while (i < len && p[i] != '"') {
				if (p[i] == '\\')
					i++;
				i++;
			}
			if (i < len)
				i++;
			continue;
		}
		size_t s = i;
		while (i < len && !core_ascii_isspace((unsigned char)p[i]) && p[i] != '<' &&
		       p[i] != '>' && p[i] != '(' && p[i] != '"')
			i++;
		if (i == s)
			i++;
		bare = core_str_make(p + s, i - s);
	}
	core_buf_fini(&b);
	if (out->count == 0 && words == 1 && bare.len > 2 && memchr(bare.p, '@', bare.len) != NULL)
		out->ids[out->count++] = core_str_make(core_str_dup(a, bare), bare.len);
}
