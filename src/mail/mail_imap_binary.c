/*
 * mail_imap_binary.c: the IMAP BINARY extension's view of a part.
 *
 * RFC 3516 §4.2 (BINARY[section] and BINARY.SIZE[section]: the section with its
 * Content-Transfer-Encoding removed), §4.3 (UNKNOWN-CTE when the encoding is not known;
 * literal8 when the decoded data holds NUL), §6 (section-binary is part numbers only), and
 * RFC 9051 §6.4.5 (BINARY only for leaf parts: not multipart, message/rfc822 or
 * message/global) and §7.5.2 (textual line-oriented sections are sent with CRLF).
 * Part numbering follows RFC 9051 §6.4.5: the parts of a multipart are numbered from 1, a
 * message/rfc822 part's numbers continue into the message it holds, and part 1 of a message
 * that is not multipart is its body.
 */
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

int mail_imap_binary_part(const struct mail_message *m, const char *spec, size_t spec_len,
			  const struct mail_part **p_out, struct core_error *err)
{
	*p_out = NULL;
	if (spec_len == 0)
		return 0;
	const struct mail_part *cur = m->root;
	size_t i = 0;
	bool first = true;
	while (i < spec_len) {
		/* RFC 3516 §6: section-part = nz-number *("." nz-number) */
		if (spec[i] < '1' || spec[i] > '9')
			return core_error_set(err, CORE_ESYNTAX, "RFC 3516 §6",
					      "bad section-binary");
		uint64_t k = 0;
		while (i < spec_len && core_ascii_isdigit((unsigned char)spec[i])) {
			if (k > UINT32_MAX)
				return core_error_set(err, CORE_ESYNTAX, "RFC 3516 §6",
						      "part number too large");
			k = k * 10 + (uint64_t)(spec[i] - '0');
			i++;
		}
		if (i < spec_len) {
			if (spec[i] != '.' || i + 1 == spec_len)
				return core_error_set(err, CORE_ESYNTAX, "RFC 3516 §6",
						      "bad section-binary");
			i++;
		}
		/* RFC 9051 §6.4.5: numbers after a message/rfc822 part name parts of the
		 * message it holds. */
		if (!first && mail_part_is_message(cur) && cur->nchildren == 1)
			cur = cur->children[0];
		if (mail_part_is_multipart(cur) && cur->nchildren > 0) {
			if (k > cur->nchildren)
				return core_error_set(err, CORE_ENOTFOUND, "RFC 9051 §6.4.5",
						      "no such part");
			cur = cur->children[k - 1];
		} else if (k != 1) {
			return core_error_set(err, CORE_ENOTFOUND, "RFC 9051 §6.4.5",
					      "no such part");
		}
		first = false;
	}
	if (core_str_eq_cstr(cur->ct.type, "multipart") || mail_part_is_message(cur) ||
	    (core_str_eq_cstr(cur->ct.type, "message") &&
	     (core_str_eq_cstr(cur->ct.subtype, "rfc822") ||
	      core_str_eq_cstr(cur->ct.subtype, "global"))))
		return core_error_set(err, CORE_EPERM, "RFC 9051 §6.4.5",
				      "BINARY applies to leaf parts only");
	*p_out = cur;
	return 0;
}

int mail_imap_binary(const struct mail_message *m, const struct mail_part *p, struct core_buf *out,
		     struct core_error *err)
{
	if (p == NULL) {
		core_buf_append(out, m->data, m->len);
		return 0;
	}
	if (p->cte == MAIL_CTE_UNKNOWN)
		return core_error_set(err, CORE_ESYNTAX, MAIL_RULE_UNKNOWN_CTE,
				      "unknown Content-Transfer-Encoding");
	if (!core_str_eq_cstr(p->ct.type, "text")) {
		mail_part_decode_body(m, p, out);
		return 0;
	}
	/* RFC 9051 §7.5.2: textual sections go out with CRLF line endings. */
	struct core_buf d = CORE_BUF_INIT;
	mail_part_decode_body(m, p, &d);
	core_buf_reserve(out, d.len);
	for (size_t i = 0; i < d.len; i++) {
		if (d.p[i] == '\n' && (i == 0 || d.p[i - 1] != '\r'))
			core_buf_putc(out, '\r');
		core_buf_putc(out, d.p[i]);
	}
	core_buf_fini(&d);
	return 0;
}

int mail_imap_binary_size(const struct mail_message *m, const struct mail_part *p,
			  uint64_t *size_out, struct core_error *err)
{
	struct core_buf b = CORE_BUF_INIT;
	int r = mail_imap_binary(m, p, &b, err);
	if (r == 0)
		*size_out = b.len;
	core_buf_fini(&b);
	return r;
}

bool mail_imap_binary_has_nul(const void *p, size_t len)
{
	return len > 0 && memchr(p, '\0', len) != NULL;
}
