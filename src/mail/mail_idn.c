/*
 * mail_idn.c: internationalised domain names in addresses, through libidn2.
 *
 * RFC 5890 §2.3.2.1 (A-labels "xn--..." and U-labels), RFC 5891 §5 (IDNA2008 registration and
 * lookup checks), RFC 6532 §3.2 (UTF-8 domains in RFC 6532 header fields), RFC 5322 §3.4.1
 * (a domain in a header that is not RFC 6532 must be ASCII). An A-label is shown as its
 * U-label only when it converts back to the same A-label, so a label that is not valid IDNA2008
 * is never displayed as something it is not. Domain literals ("[...]") are never converted.
 */
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

static bool is_alabel(const char *p, size_t len)
{
	return len > 4 && core_strncasecmp_ascii(p, "xn--", 4) == 0;
}

/* One A-label to its U-label, checked by converting back. */
static bool alabel_decode(const char *p, size_t len, struct core_buf *out)
{
	char *in = core_xmalloc(len + 1);
	/* RFC 5890 §2.3.2.1: A-labels compare case-insensitively; punycode would keep upper
	 * case in the U-label, so the label is lower-cased first. */
	for (size_t i = 0; i < len; i++)
		in[i] = core_ascii_lower(p[i]);
	in[len] = '\0';
	char *u = NULL, *back = NULL;
	bool ok = false;
	/* RFC 5891 §5.4: the label must be a valid IDNA2008 label; a round trip through the
	 * ASCII form proves that the U-label maps to this very A-label. */
	if (idn2_to_unicode_8z8z(in, &u, 0) == IDN2_OK &&
	    idn2_to_ascii_8z(u, &back, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK &&
	    core_strcasecmp_ascii(back, in) == 0 && !core_utf8_is_ascii(u, strlen(u))) {
		core_buf_append_str(out, u);
		ok = true;
	}
	idn2_free(u);
	idn2_free(back);
	free(in);
	return ok;
}

int mail_idn_to_unicode(struct core_arena *a, struct core_str domain, struct core_str *out,
			struct core_error *err)
{
	if (domain.len > 0 && domain.p[0] == '[') {
		*out = core_str_make(core_str_dup(a, domain), domain.len);
		return 0;
	}
	struct core_buf b = CORE_BUF_INIT;
	size_t i = 0;
	int r = 0;
	while (i <= domain.len) {
		const char *dot = memchr(domain.p + i, '.', domain.len - i);
		size_t e = dot != NULL ? (size_t)(dot - domain.p) : domain.len;
		const char *lab = domain.p + i;
		size_t llen = e - i;
		if (is_alabel(lab, llen)) {
			if (!alabel_decode(lab, llen, &b)) {
				r = core_error_set(err, CORE_ESYNTAX, "RFC 5891 §5.4",
						   "label %zu is not a valid A-label", i);
				break;
			}
		} else {
			core_buf_append(&b, lab, llen);
		}
		if (dot == NULL)
			break;
		core_buf_putc(&b, '.');
		i = e + 1;
	}
	if (r == 0)
		*out = mail_buf_to_arena(a, &b);
	else
		*out = core_str_make(core_str_dup(a, domain), domain.len);
	core_buf_fini(&b);
	return r;
}

int mail_idn_to_ascii(struct core_arena *a, struct core_str domain, struct core_str *out,
		      struct core_error *err)
{
	if (core_utf8_is_ascii(domain.p, domain.len)) {
		*out = core_str_make(core_str_dup(a, domain), domain.len);
		return 0;
	}
	if (domain.p[0] == '[' || memchr(domain.p, '\0', domain.len) != NULL ||
	    !core_utf8_is_valid(domain.p, domain.len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 5890 §2.3.2.1",
				      "domain is not valid UTF-8 text");
	char *in = core_str_dup(a, domain), *res = NULL;
	/* RFC 5891 §5: IDNA2008 lookup with the UTS #46 nontransitional mapping, as browsers and
	 * mail clients do (so "ß" stays "ß"). */
	int rc = idn2_to_ascii_8z(in, &res, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		idn2_free(res);
		return core_error_set(err, CORE_ESYNTAX, "RFC 5891 §5", "domain is not an IDN: %s",
				      idn2_strerror(rc));
	}
	*out = core_str_make(core_arena_strdup(a, res), strlen(res));
	idn2_free(res);
	return 0;
}

struct core_str mail_addr_email_unicode(struct core_arena *a, const struct mail_addr *addr)
{
	struct core_str u;
	if (addr->domain.len == 0 || mail_idn_to_unicode(a, addr->domain, &u, NULL) != 0 ||
	    core_str_eq(u, addr->domain))
		return core_str_make(core_str_dup(a, addr->email), addr->email.len);
	char *s = core_arena_printf(a, "%.*s@%.*s", CORE_STR_FMT(addr->local), CORE_STR_FMT(u));
	return core_str_make(s, strlen(s));
}
