/*
 * fuzz_mail_build.c: libFuzzer target for the message builder (mail_build.c). The input is a
 * small script: byte 0 holds the flags (bit 0: RFC 6532 message), then records of an opcode
 * byte, a length byte and that many bytes of argument (the last record takes what is left).
 * Opcodes (low 3 bits): 0 Subject text, 1 a mailbox (name, then email after a NUL; with bit 3
 * the name is that of a group holding the mailbox), 2 a text
 * leaf (high bits: the transfer encoding), 3 an attachment (filename, then content after a
 * NUL), 4 a message/rfc822 part, 5 a Message-ID, 6 a Comments field, 7 a nested alternative
 * with one text leaf.
 *
 * Checks when the builder accepts everything: the message renders, uses CRLF only, has no
 * line over 998 octets and no 8-bit header octet without RFC 6532; it parses back with the
 * same number of parts and no limit reached, every Text field equals what was given
 * (white space at the ends trimmed, tabs as spaces, NFC), every display name and filename
 * comes back, and every leaf decodes to its content (text in canonical CRLF form).
 */
#include "core/core.h"
#include "core/core_utf8.h"
#include "fuzz.h"
#include "mail/mail.h"

#define MAX_ITEMS 64

struct expect_text {
	const char *field;
	char *value;
};

struct expect_leaf {
	const unsigned char *data; /* what the part must decode to */
	size_t len;
	const char *filename; /* NULL when none */
	bool is_message;
};

/* What the Text form of a field given text must be: tabs as spaces, trimmed, NFC. */
static char *text_expect(struct core_arena *a, const char *s)
{
	char *d = core_arena_strdup(a, s);
	for (char *q = d; *q != '\0'; q++)
		if (*q == '\t')
			*q = ' ';
	struct core_str t = core_str_trim(core_str_from_cstr(d));
	struct core_str n;
	if (core_utf8_nfc_arena(a, t, &n, NULL) != 0)
		n = t;
	return core_str_dup(a, n);
}

/* RFC 2046 §4.1.1 canonical text: bare CR or LF become CRLF. */
static void crlf(struct core_buf *out, const unsigned char *d, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\r') {
			core_buf_append(out, "\r\n", 2);
			if (i + 1 < len && d[i + 1] == '\n')
				i++;
		} else if (d[i] == '\n') {
			core_buf_append(out, "\r\n", 2);
		} else {
			core_buf_putc(out, (char)d[i]);
		}
	}
}

static const unsigned char *canon(struct core_arena *a, const char *d, size_t len, size_t *len_out)
{
	struct core_buf b = CORE_BUF_INIT;
	crlf(&b, (const unsigned char *)d, len);
	unsigned char *r = core_arena_memdup(a, b.p != NULL ? b.p : "", b.len + 1);
	*len_out = b.len;
	core_buf_fini(&b);
	return r;
}

/* local@domain, both plain dot-atoms of letters, digits and dots: written as given. */
static bool plain_email(struct core_str e)
{
	long at = core_str_find_char(e, '@');
	if (at <= 0 || (size_t)at + 1 >= e.len)
		return false;
	for (size_t i = 0; i < e.len; i++) {
		char c = e.p[i];
		bool dot = c == '.';
		if (!(core_ascii_isalpha(c) || core_ascii_isdigit(c) || dot || (size_t)at == i))
			return false;
		if (dot && (i == 0 || i + 1 == e.len || e.p[i - 1] == '.' || e.p[i - 1] == '@' ||
			    e.p[i + 1] == '.' || e.p[i + 1] == '@'))
			return false;
	}
	return true;
}

/* A message embedded: canonical, with an empty line added when it has none. */
static const unsigned char *message_expect(struct core_arena *a, const char *d, size_t len,
					   size_t *len_out)
{
	size_t n;
	const unsigned char *c = canon(a, d, len, &n);
	bool empty_line = n >= 2 && c[0] == '\r' && c[1] == '\n';
	for (size_t i = 0; i + 3 < n && !empty_line; i++)
		empty_line = memcmp(c + i, "\r\n\r\n", 4) == 0;
	if (empty_line) {
		*len_out = n;
		return c;
	}
	struct core_buf b = CORE_BUF_INIT;
	core_buf_append(&b, c, n);
	if (n > 0 && c[n - 1] != '\n')
		core_buf_append(&b, "\r\n", 2);
	core_buf_append(&b, "\r\n", 2);
	unsigned char *r = core_arena_memdup(a, b.p, b.len + 1);
	*len_out = b.len;
	core_buf_fini(&b);
	return r;
}

static void check_lines(const char *p, size_t len, size_t header_len, bool utf8)
{
	size_t cur = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			cur = 0;
			i++;
			continue;
		}
		/* bare CR/LF only inside binary content, never in the header */
		if (i < header_len)
			FUZZ_CHECK(p[i] != '\r' && p[i] != '\n');
		if (i < header_len && !utf8)
			FUZZ_CHECK((unsigned char)p[i] < 0x80);
		cur++;
		if (i < header_len)
			FUZZ_CHECK(cur <= 998);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct core_arena *a = core_arena_new(0);
	bool utf8 = data[0] & 1;
	struct mail_build *b = mail_build_new(a, utf8 ? MAIL_BUILD_UTF8 : 0);
	mail_build_seed(b, 1);
	struct mail_build_part *root = mail_build_root(b);
	bool ok = mail_build_multipart(root, "mixed", NULL, 0, NULL) == 0;
	struct expect_text texts[MAX_ITEMS];
	struct expect_leaf leaves[MAX_ITEMS];
	struct mail_addr addrs[MAX_ITEMS];
	bool group[MAX_ITEMS];
	size_t ntexts = 0, nleaves = 0, naddrs = 0, nparts = 1;
	bool has_message = false;
	size_t i = 1;
	while (ok && i + 1 < size && nleaves < MAX_ITEMS - 1 && ntexts < MAX_ITEMS &&
	       naddrs < MAX_ITEMS) {
		unsigned op = data[i];
		size_t len = data[i + 1];
		i += 2;
		if (len > size - i || i + len + 2 > size)
			len = size - i;
		char *arg = core_arena_strndup(a, (const char *)data + i, len);
		size_t alen = strlen(arg);
		const char *second = alen < len ? arg + alen + 1 : "";
		size_t slen = alen < len ? len - alen - 1 : 0;
		i += len;
		switch (op & 7) {
		case 0:
		case 6: {
			const char *f = (op & 7) == 0 ? "Subject" : "Comments";
			if (mail_build_text(root, f, arg, NULL) == 0) {
				texts[ntexts].field = f;
				texts[ntexts++].value = text_expect(a, arg);
			}
			break;
		}
		case 1: {
			struct mail_addr ad = {.name = core_str_from_cstr(arg),
					       .email = core_str_make(second, slen)};
			if (memchr(second, '\0', slen) != NULL)
				break;
			if (op & 8) {
				/* the name is a group's, holding the address alone */
				struct mail_addr member = {.email = ad.email};
				struct mail_addr_group g = {.name = ad.name,
							    .is_group = true,
							    .addrs = &member,
							    .count = 1};
				struct mail_addr_list l = {.groups = &g, .ngroups = 1, .naddrs = 1};
				if (mail_build_addr_list(root, "To", &l, NULL) == 0) {
					group[naddrs] = true;
					addrs[naddrs] = member;
					addrs[naddrs++].name =
						core_str_from_cstr(text_expect(a, arg));
				}
			} else if (mail_build_addrs(root, "To", &ad, 1, NULL) == 0) {
				group[naddrs] = false;
				addrs[naddrs] = ad;
				addrs[naddrs++].name = core_str_from_cstr(text_expect(a, arg));
			}
			break;
		}
		case 2: {
			struct mail_build_part *c = mail_build_child(root);
			enum mail_build_cte cte = (enum mail_build_cte)((op >> 3) % 6);
			if (mail_build_body(c, "text/plain", NULL, 0, arg, len, cte, NULL) == 0) {
				leaves[nleaves].data = canon(a, arg, len, &leaves[nleaves].len);
				leaves[nleaves].filename = NULL;
				leaves[nleaves++].is_message = false;
				nparts++;
			} else {
				ok = false; /* an empty part would not render */
			}
			break;
		}
		case 3: {
			struct mail_build_part *c = mail_build_child(root);
			if (mail_build_body(c, "application/octet-stream", NULL, 0, second, slen,
					    MAIL_BUILD_CTE_AUTO, NULL) != 0 ||
			    mail_build_disposition(c, "attachment", alen > 0 ? arg : NULL, NULL) !=
				    0) {
				ok = false;
				break;
			}
			leaves[nleaves].data = (const unsigned char *)second;
			leaves[nleaves].len = slen;
			leaves[nleaves].filename = alen > 0 ? arg : NULL;
			leaves[nleaves++].is_message = false;
			nparts++;
			break;
		}
		case 4: {
			struct mail_build_part *c = mail_build_child(root);
			FUZZ_CHECK(mail_build_message(c, arg, len, NULL) == 0);
			leaves[nleaves].data = message_expect(a, arg, len, &leaves[nleaves].len);
			leaves[nleaves].filename = NULL;
			leaves[nleaves++].is_message = true;
			nparts++;
			has_message = true;
			break;
		}
		case 5: {
			struct core_str id = core_str_make(arg, alen);
			(void)mail_build_msgids(root, "Message-ID", &id, 1, NULL);
			break;
		}
		case 7: {
			struct mail_build_part *alt = mail_build_child(root);
			FUZZ_CHECK(mail_build_multipart(alt, "alternative", NULL, 0, NULL) == 0);
			struct mail_build_part *c = mail_build_child(alt);
			FUZZ_CHECK(mail_build_body(c, "text/html", NULL, 0, arg, len,
						   MAIL_BUILD_CTE_AUTO, NULL) == 0);
			leaves[nleaves].data = canon(a, arg, len, &leaves[nleaves].len);
			leaves[nleaves].filename = NULL;
			leaves[nleaves++].is_message = false;
			nparts += 2;
			break;
		}
		}
	}
	if (!ok || nleaves == 0) {
		core_arena_free(&a);
		return 0;
	}
	struct core_buf out = CORE_BUF_INIT;
	struct core_error err;
	int r = mail_build_render(b, &out, &err);
	if (r != 0) {
		/* only a field that cannot be folded under 998 octets may fail */
		FUZZ_CHECK(r == CORE_ELIMIT);
		core_buf_fini(&out);
		core_arena_free(&a);
		return 0;
	}
	struct mail_message *m;
	FUZZ_CHECK(mail_message_parse(a, out.p, out.len, NULL, &m, NULL) == 0);
	FUZZ_CHECK(mail_message_verify(m, NULL) == 0);
	check_lines(out.p, out.len, m->root->header_len, utf8);
	FUZZ_CHECK(!(m->root->flags & (MAIL_PART_F_HDR_JUNK | MAIL_PART_F_NO_BLANK_LINE)));
	FUZZ_CHECK(m->root->nchildren == nleaves);
	/* the text fields, in order */
	size_t ti = 0;
	for (size_t k = 0; k < m->root->header.count; k++) {
		const struct mail_field *f = &m->root->header.fields[k];
		if (!core_str_eq_cstr_ci(f->name, "Subject") &&
		    !core_str_eq_cstr_ci(f->name, "Comments"))
			continue;
		FUZZ_CHECK(ti < ntexts);
		struct core_str t = mail_hdr_text(a, f->value);
		/* the Text form keeps trailing white space; the builder wrote none */
		FUZZ_CHECK(core_str_eq_cstr(t, texts[ti].value));
		ti++;
	}
	FUZZ_CHECK(ti == ntexts);
	/* display names, and emails that need no quoting */
	size_t ai = 0;
	for (size_t k = 0; k < m->root->header.count; k++) {
		const struct mail_field *f = &m->root->header.fields[k];
		if (!core_str_eq_cstr_ci(f->name, "To"))
			continue;
		struct mail_addr_list al;
		mail_addr_list_parse(a, f->value, &al);
		FUZZ_CHECK(ai < naddrs);
		FUZZ_CHECK(al.naddrs == 1 && !al.invalid && al.ngroups == 1);
		const struct mail_addr *got = &al.groups[0].addrs[0];
		FUZZ_CHECK(al.groups[0].is_group == group[ai]);
		if (group[ai]) {
			/* the display name given was the group's */
			FUZZ_CHECK(core_str_eq(al.groups[0].name, addrs[ai].name));
			FUZZ_CHECK(!got->has_name);
		} else {
			FUZZ_CHECK(core_str_eq(got->name, addrs[ai].name));
		}
		if (plain_email(addrs[ai].email))
			FUZZ_CHECK(core_str_eq(got->email, addrs[ai].email));
		ai++;
	}
	FUZZ_CHECK(ai == naddrs);
	/* an embedded message adds its own parts */
	FUZZ_CHECK(has_message ? m->nparts >= nparts : m->nparts == nparts);
	for (size_t k = 0; k < nleaves; k++) {
		const struct mail_part *p = m->root->children[k];
		if (p->nchildren > 0 && !leaves[k].is_message)
			p = p->children[0]; /* the alternative */
		if (leaves[k].is_message) {
			FUZZ_CHECK(mail_part_is_message(p));
			/* The parser may read the next delimiter's line break as the empty line of
			 * a header-only part nested in the message (mail_mime_part.c, RFC 2046
			 * §5.1.1): then the body holds that CRLF too, right before "--". */
			size_t bl = p->body_len, el = leaves[k].len;
			FUZZ_CHECK(bl == el || (bl == el + 2 && memcmp(m->data + p->body_off + el,
								       "\r\n--", 4) == 0));
			FUZZ_CHECK(memcmp(m->data + p->body_off, leaves[k].data, el) == 0);
		} else {
			struct core_buf d = CORE_BUF_INIT;
			mail_part_decode_body(m, p, &d);
			FUZZ_CHECK(d.len == leaves[k].len);
			FUZZ_CHECK(d.len == 0 || memcmp(d.p, leaves[k].data, d.len) == 0);
			core_buf_fini(&d);
		}
		if (leaves[k].filename != NULL) {
			const struct mail_param *fn =
				mail_mime_param_find(&p->disposition, "filename");
			FUZZ_CHECK(fn != NULL);
			FUZZ_CHECK(core_str_eq_cstr(fn->value, leaves[k].filename));
		}
	}
	core_buf_fini(&out);
	core_arena_free(&a);
	return 0;
}
