/*
 * fuzz_mail_address.c: libFuzzer target for address lists (mail_addr_list_parse) and message
 * id lists (mail_msgid_list_parse) over arbitrary header values, and the same bytes as an
 * RFC 2369 URL list (mail_hdr_urls) and as a domain (mail_idn.c). Checks: names and addresses
 * are valid UTF-8, the group counts add up, ids are non-empty and hold no '<', '>' or white
 * space, URLs are non-empty without white space, IDN conversions round-trip.
 */
#include "core/core.h"
#include "core/core_utf8.h"
#include "fuzz.h"
#include "mail/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_arena *a = core_arena_new(0);
	struct core_str raw = core_str_make((const char *)data, size);
	struct mail_addr_list al;
	mail_addr_list_parse(a, raw, &al);
	size_t n = 0;
	for (size_t g = 0; g < al.ngroups; g++) {
		const struct mail_addr_group *gr = &al.groups[g];
		FUZZ_CHECK(core_utf8_is_valid(gr->name.p, gr->name.len));
		FUZZ_CHECK(gr->is_group || gr->count > 0);
		for (size_t k = 0; k < gr->count; k++) {
			const struct mail_addr *ad = &gr->addrs[k];
			FUZZ_CHECK(core_utf8_is_valid(ad->name.p, ad->name.len));
			FUZZ_CHECK(core_utf8_is_valid(ad->email.p, ad->email.len));
			FUZZ_CHECK(ad->has_name == (ad->name.len > 0));
			FUZZ_CHECK(core_utf8_is_valid(ad->local.p, ad->local.len));
			FUZZ_CHECK(core_utf8_is_valid(ad->domain.p, ad->domain.len));
			FUZZ_CHECK(ad->name_raw.p != NULL);
			/* local "@" domain is the email when there is a domain */
			if (ad->domain.len > 0 && core_utf8_is_ascii(ad->email.p, ad->email.len))
				FUZZ_CHECK(ad->local.len + 1 + ad->domain.len == ad->email.len);
		}
		n += gr->count;
	}
	FUZZ_CHECK(n == al.naddrs);

	struct mail_msgid_list ids;
	mail_msgid_list_parse(a, raw, &ids);
	for (size_t i = 0; i < ids.count; i++) {
		FUZZ_CHECK(ids.ids[i].len > 0);
		for (size_t k = 0; k < ids.ids[i].len; k++) {
			char c = ids.ids[i].p[k];
			FUZZ_CHECK(c != '<' && c != '>' && !core_ascii_isspace((unsigned char)c));
		}
	}
	/* RFC 2369 URLs: non-empty, no white space, no angle brackets */
	struct mail_url_list ul;
	if (mail_hdr_urls(a, raw, &ul) == 0) {
		FUZZ_CHECK(ul.count > 0);
		for (size_t i = 0; i < ul.count; i++) {
			FUZZ_CHECK(ul.urls[i].len > 0);
			for (size_t k = 0; k < ul.urls[i].len; k++) {
				char c = ul.urls[i].p[k];
				FUZZ_CHECK(c != '>' && !core_ascii_isspace((unsigned char)c));
			}
		}
	}

	/* IDN: A-labels come out ASCII and go back to U-labels that convert to the same
	 * A-labels; display forms are valid UTF-8 */
	struct core_str asc, uni, back;
	if (mail_idn_to_ascii(a, raw, &asc, NULL) == 0) {
		FUZZ_CHECK(core_utf8_is_ascii(asc.p, asc.len));
		if (!core_utf8_is_ascii(raw.p, raw.len) &&
		    mail_idn_to_unicode(a, asc, &uni, NULL) == 0) {
			FUZZ_CHECK(mail_idn_to_ascii(a, uni, &back, NULL) == 0);
			FUZZ_CHECK(core_str_eq(back, asc));
		}
	}
	if (mail_idn_to_unicode(a, raw, &uni, NULL) == 0 && core_utf8_is_ascii(raw.p, raw.len))
		FUZZ_CHECK(core_utf8_is_valid(uni.p, uni.len));
	for (size_t g = 0; g < al.ngroups; g++)
		for (size_t k = 0; k < al.groups[g].count; k++) {
			struct core_str e = mail_addr_email_unicode(a, &al.groups[g].addrs[k]);
			FUZZ_CHECK(core_utf8_is_valid(e.p, e.len));
		}
	core_arena_free(&a);
	return 0;
}
