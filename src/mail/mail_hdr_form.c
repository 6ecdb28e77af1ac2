/*
 * mail_hdr_form.c: the header field forms of JMAP (RFC 8621 §4.1.2) and the
 * "header:Name:asForm:all" properties (§4.1.3).
 *
 * RFC 8621 §4.1.2.1 (Raw: the octets after the colon, invalid UTF-8 replaced by U+FFFD, NUL
 * dropped), §4.1.2.2 (Text, mail_hdr_text in mail_rfc5322_hdr.c), §4.1.2.3-4 (Addresses and
 * GroupedAddresses, mail_addr_list_parse), §4.1.2.5 (MessageIds), §4.1.2.6 (Date), §4.1.2.7
 * (URLs, RFC 2369 §2: URLs in angle brackets, white space inside them ignored, comments
 * around them), and the list of fields each parsed form may be asked for.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "mail/mail_int.h"

struct core_str mail_hdr_raw(struct core_arena *a, struct core_str raw)
{
	struct core_buf b = CORE_BUF_INIT;
	core_buf_reserve(&b, raw.len);
	size_t i = 0;
	while (i < raw.len) {
		unsigned char c = (unsigned char)raw.p[i];
		if (c == 0) {
			i++; /* RFC 8621 §4.1.2.1: NUL octets are dropped */
			continue;
		}
		if (c < 0x80) {
			core_buf_putc(&b, (char)c);
			i++;
			continue;
		}
		uint32_t cp;
		int n = core_utf8_decode(raw.p + i, raw.len - i, &cp);
		if (n > 0) {
			core_buf_append(&b, raw.p + i, (size_t)n);
			i += (size_t)n;
			continue;
		}
		/* RFC 8621 §4.1.2.1: a run of octets that is not UTF-8 becomes one U+FFFD. */
		core_buf_append_str(&b, "\xEF\xBF\xBD");
		i++;
		while (i < raw.len && (unsigned char)raw.p[i] >= 0x80 &&
		       core_utf8_decode(raw.p + i, raw.len - i, &cp) < 0)
			i++;
	}
	struct core_str s = mail_buf_to_arena(a, &b);
	core_buf_fini(&b);
	return s;
}

int mail_hdr_urls(struct core_arena *a, struct core_str raw, struct mail_url_list *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = raw.p;
	size_t len = raw.len, i = 0, n = 0, cap = 0;
	struct core_str *v = NULL;
	struct core_buf u = CORE_BUF_INIT;
	int r = 0;
	mail_cfws_skip(p, len, &i, NULL);
	while (i < len) {
		if (p[i] != '<') {
			r = CORE_ESYNTAX;
			break;
		}
		i++;
		core_buf_reset(&u);
		/* RFC 2369 §2: white space inside the brackets is ignored. */
		while (i < len && p[i] != '>') {
			if (!core_ascii_isspace((unsigned char)p[i]))
				core_buf_putc(&u, p[i]);
			i++;
		}
		if (i >= len || u.len == 0) {
			r = CORE_ESYNTAX;
			break;
		}
		i++;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			v = core_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = mail_buf_to_arena(a, &u);
		mail_cfws_skip(p, len, &i, NULL);
		if (i < len) {
			if (p[i] != ',') {
				r = CORE_ESYNTAX;
				break;
			}
			i++;
			mail_cfws_skip(p, len, &i, NULL);
			if (i >= len) {
				r = CORE_ESYNTAX; /* a comma with nothing after it */
				break;
			}
		}
	}
	if (r == 0 && n == 0)
		r = CORE_ESYNTAX;
	if (r == 0) {
		out->urls = core_arena_memdup(a, v, n * sizeof(*v));
		out->count = n;
	}
	free(v);
	core_buf_fini(&u);
	return r;
}

static const char *const form_names[] = {
	[MAIL_HDR_FORM_RAW] = "asRaw",
	[MAIL_HDR_FORM_TEXT] = "asText",
	[MAIL_HDR_FORM_ADDRESSES] = "asAddresses",
	[MAIL_HDR_FORM_GROUPED_ADDRESSES] = "asGroupedAddresses",
	[MAIL_HDR_FORM_MESSAGE_IDS] = "asMessageIds",
	[MAIL_HDR_FORM_DATE] = "asDate",
	[MAIL_HDR_FORM_URLS] = "asURLs",
};

int mail_hdr_form_parse(const char *s, size_t len, enum mail_hdr_form *form_out)
{
	for (size_t i = 0; i < CORE_NELEM(form_names); i++)
		if (strlen(form_names[i]) == len && memcmp(form_names[i], s, len) == 0) {
			*form_out = (enum mail_hdr_form)i;
			return 0;
		}
	return CORE_ESYNTAX;
}

const char *mail_hdr_form_name(enum mail_hdr_form form)
{
	if ((size_t)form < CORE_NELEM(form_names))
		return form_names[form];
	return "asRaw";
}

static bool name_in(const char *name, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (core_strcasecmp_ascii(name, list[i]) == 0)
			return true;
	return false;
}

bool mail_hdr_form_allowed(const char *name, enum mail_hdr_form form)
{
	/* The fields RFC 5322 §3.6 and RFC 2369 §3 define: any other field may be asked for in
	 * every form (RFC 8621 §4.1.2.2-§4.1.2.7, last item of each list). */
	static const char *const defined[] = {"Date",
					      "From",
					      "Sender",
					      "Reply-To",
					      "To",
					      "Cc",
					      "Bcc",
					      "Message-ID",
					      "In-Reply-To",
					      "References",
					      "Subject",
					      "Comments",
					      "Keywords",
					      "Resent-Date",
					      "Resent-From",
					      "Resent-Sender",
					      "Resent-To",
					      "Resent-Cc",
					      "Resent-Bcc",
					      "Resent-Message-ID",
					      "Return-Path",
					      "Received",
					      "List-Help",
					      "List-Unsubscribe",
					      "List-Subscribe",
					      "List-Post",
					      "List-Owner",
					      "List-Archive",
					      NULL};
	static const char *const text[] = {"Subject", "Comments", "Keywords", "List-Id", NULL};
	static const char *const addrs[] = {"From",
					    "Sender",
					    "Reply-To",
					    "To",
					    "Cc",
					    "Bcc",
					    "Resent-From",
					    "Resent-Sender",
					    "Resent-Reply-To",
					    "Resent-To",
					    "Resent-Cc",
					    "Resent-Bcc",
					    NULL};
	static const char *const ids[] = {"Message-ID", "In-Reply-To", "References",
					  "Resent-Message-ID", NULL};
	static const char *const dates[] = {"Date", "Resent-Date", NULL};
	static const char *const urls[] = {"List-Help", "List-Unsubscribe", "List-Subscribe",
					   "List-Post", "List-Owner",       "List-Archive",
					   NULL};
	if (form == MAIL_HDR_FORM_RAW)
		return true;
	if (!name_in(name, defined))
		return true;
	switch (form) {
	case MAIL_HDR_FORM_TEXT:
		return name_in(name, text);
	case MAIL_HDR_FORM_ADDRESSES:
	case MAIL_HDR_FORM_GROUPED_ADDRESSES:
		return name_in(name, addrs);
	case MAIL_HDR_FORM_MESSAGE_IDS:
		return name_in(name, ids);
	case MAIL_HDR_FORM_DATE:
		return name_in(name, dates);
	case MAIL_HDR_FORM_URLS:
		return name_in(name, urls);
	default:
		return false;
	}
}

static json_t *jstr(struct core_str s)
{
	return json_stringn(s.p != NULL ? s.p : "", s.len);
}

/* RFC 8621 §4.1.2.3 EmailAddress. */
static json_t *addr_json(const struct mail_addr *ad)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", ad->has_name ? jstr(ad->name) : json_null());
	json_object_set_new(o, "email", jstr(ad->email));
	return o;
}

static json_t *form_value(struct core_arena *a, const struct mail_field *f, enum mail_hdr_form form)
{
	switch (form) {
	case MAIL_HDR_FORM_RAW:
		return jstr(mail_hdr_raw(a, f->value));
	case MAIL_HDR_FORM_TEXT:
		return jstr(mail_hdr_text(a, f->value));
	case MAIL_HDR_FORM_ADDRESSES:
	case MAIL_HDR_FORM_GROUPED_ADDRESSES: {
		struct mail_addr_list al;
		mail_addr_list_parse(a, f->value, &al);
		json_t *arr = json_array();
		for (size_t g = 0; g < al.ngroups; g++) {
			const struct mail_addr_group *gr = &al.groups[g];
			if (form == MAIL_HDR_FORM_ADDRESSES) {
				/* §4.1.2.3: groups are flattened */
				for (size_t i = 0; i < gr->count; i++)
					json_array_append_new(arr, addr_json(&gr->addrs[i]));
				continue;
			}
			/* §4.1.2.4: consecutive mailboxes outside a group share one entry with
			 * a null name */
			json_t *o = json_object(), *list = json_array();
			json_object_set_new(o, "name", gr->is_group ? jstr(gr->name) : json_null());
			for (size_t i = 0; i < gr->count; i++)
				json_array_append_new(list, addr_json(&gr->addrs[i]));
			json_object_set_new(o, "addresses", list);
			json_array_append_new(arr, o);
		}
		return arr;
	}
	case MAIL_HDR_FORM_MESSAGE_IDS: {
		struct mail_msgid_list l;
		mail_msgid_list_parse(a, f->value, &l);
		/* §4.1.2.5: parsing failed: no msg-id, or an id without the "@" every msg-id
		 * has (RFC 5322 §3.6.4, §4.5.4) */
		bool ok = l.count > 0;
		for (size_t i = 0; ok && i < l.count; i++)
			ok = memchr(l.ids[i].p, '@', l.ids[i].len) != NULL;
		if (!ok)
			return json_null();
		json_t *arr = json_array();
		for (size_t i = 0; i < l.count; i++)
			json_array_append_new(arr, jstr(l.ids[i]));
		return arr;
	}
	case MAIL_HDR_FORM_DATE: {
		time_t t;
		int off;
		struct core_buf b = CORE_BUF_INIT;
		json_t *v = json_null();
		/* §4.1.2.6 and RFC 8620 §1.4: an RFC 3339 date-time with the field's offset */
		if (mail_date_parse(f->value, &t, &off, NULL) >= 0 &&
		    core_time_format_rfc3339(&b, t, off) == 0)
			v = json_stringn(b.p, b.len);
		core_buf_fini(&b);
		return v;
	}
	case MAIL_HDR_FORM_URLS: {
		struct mail_url_list ul;
		if (mail_hdr_urls(a, f->value, &ul) < 0)
			return json_null(); /* §4.1.2.7: parsing failed */
		json_t *arr = json_array();
		for (size_t i = 0; i < ul.count; i++)
			json_array_append_new(arr, jstr(ul.urls[i]));
		return arr;
	}
	}
	return json_null();
}

json_t *mail_hdr_form_json(struct core_arena *a, const struct mail_header *h, const char *name,
			   enum mail_hdr_form form, bool all)
{
	if (!all) {
		/* RFC 8621 §4.1.3: the last instance, or null */
		const struct mail_field *f = mail_header_find_last(h, name);
		return f != NULL ? form_value(a, f, form) : json_null();
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < h->count; i++)
		if (core_str_eq_cstr_ci(h->fields[i].name, name))
			json_array_append_new(arr, form_value(a, &h->fields[i], form));
	return arr;
}

int mail_hdr_property_json(struct core_arena *a, const struct mail_header *h, const char *prop,
			   json_t **value_out, struct core_error *err)
{
	*value_out = NULL;
	size_t len = strlen(prop);
	if (len < 8 || memcmp(prop, "header:", 7) != 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.3",
				      "not a header property");
	const char *p = prop + 7, *end = prop + len;
	/* RFC 8621 §4.1.3: {header-field-name} is 1* printable ASCII except ':' */
	const char *colon = memchr(p, ':', (size_t)(end - p));
	const char *nend = colon != NULL ? colon : end;
	if (nend == p)
		return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.3", "empty field name");
	for (const char *q = p; q < nend; q++)
		if ((unsigned char)*q < 33 || (unsigned char)*q > 126)
			return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.3",
					      "bad field name");
	char *name = core_arena_strndup(a, p, (size_t)(nend - p));
	enum mail_hdr_form form = MAIL_HDR_FORM_RAW;
	bool all = false;
	const char *q = nend;
	/* the suffixes ":as{Form}" then ":all", each at most once, in that order */
	if (q < end && strncmp(q, ":as", 3) == 0) {
		const char *f = q + 1, *fe = memchr(f, ':', (size_t)(end - f));
		if (fe == NULL)
			fe = end;
		if (mail_hdr_form_parse(f, (size_t)(fe - f), &form) < 0)
			return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.3",
					      "unknown header form");
		q = fe;
	}
	if (q < end) {
		if ((size_t)(end - q) != 4 || memcmp(q, ":all", 4) != 0)
			return core_error_set(err, CORE_ESYNTAX, "RFC 8621 §4.1.3",
					      "bad property suffix");
		all = true;
	}
	if (!mail_hdr_form_allowed(name, form))
		return core_error_set(err, CORE_EPERM, "RFC 8621 §4.1.2",
				      "form %s not allowed for %s", mail_hdr_form_name(form), name);
	*value_out = mail_hdr_form_json(a, h, name, form, all);
	return *value_out != NULL ? 0 : core_error_set(err, CORE_EINTERNAL, NULL, "out of memory");
}
