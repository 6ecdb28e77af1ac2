/*
 * fuzz_mail_views.c: libFuzzer target for the IMAP and JMAP views of a message
 * (mail_imap_view.c, mail_jmap_view.c) over arbitrary input. The message is parsed once,
 * then ENVELOPE, BODY, BODYSTRUCTURE, the JMAP body view and the preview are rendered.
 * Checks: the IMAP answers are balanced lists (quoted strings and literals skipped), the JMAP
 * view serialises (valid UTF-8), the preview is valid UTF-8 of at most 256 characters, and
 * every leaf part's partId, resolved as an IMAP section, gives exactly that part's body (and
 * "<partId>.MIME" its header) and names the same part for BINARY, whose size matches its
 * content; every JMAP header form of the top-level fields serialises and Raw is UTF-8.
 */
#include <jansson.h>

#include "core/core.h"
#include "core/core_utf8.h"
#include "fuzz.h"
#include "mail/mail.h"

/* RFC 9051 §4: parentheses balance outside quoted strings and literals. */
static void check_imap_list(const char *p, size_t len)
{
	long depth = 0;
	size_t i = 0;
	while (i < len) {
		char c = p[i];
		if (c == '"') {
			i++;
			while (i < len && p[i] != '"') {
				FUZZ_CHECK(p[i] != '\r' && p[i] != '\n');
				i += p[i] == '\\' ? 2 : 1;
			}
			FUZZ_CHECK(i < len);
			i++;
		} else if (c == '{') {
			size_t n = 0;
			i++;
			while (i < len && p[i] >= '0' && p[i] <= '9')
				n = n * 10 + (size_t)(p[i++] - '0');
			FUZZ_CHECK(i + 3 <= len && p[i] == '}' && p[i + 1] == '\r' &&
				   p[i + 2] == '\n');
			i += 3;
			FUZZ_CHECK(n <= len - i);
			i += n;
		} else {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			FUZZ_CHECK(depth >= 0);
			i++;
		}
	}
	FUZZ_CHECK(depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m = NULL;
	struct core_error err;
	if (mail_message_parse(a, data, size, NULL, &m, &err) < 0) {
		core_arena_free(&a);
		return 0;
	}
	struct core_buf b = CORE_BUF_INIT;
	mail_imap_envelope(a, m, m->root, &b);
	check_imap_list(b.p, b.len);
	for (int ext = 0; ext < 2; ext++) {
		core_buf_reset(&b);
		mail_imap_bodystructure(a, m, m->root, ext == 1, &b);
		check_imap_list(b.p, b.len);
	}

	json_t *j = mail_jmap_email_body(a, m, NULL, NULL);
	FUZZ_CHECK(j != NULL);
	char *s = json_dumps(j, JSON_COMPACT);
	FUZZ_CHECK(s != NULL);
	free(s);
	json_decref(j);

	core_buf_reset(&b);
	mail_jmap_preview(a, m, &b);
	FUZZ_CHECK(core_utf8_is_valid(b.p, b.len));
	FUZZ_CHECK(core_utf8_count(b.p, b.len) <= 256);

	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		const char *id = mail_jmap_part_id(a, p);
		if (id == NULL)
			continue;
		struct mail_imap_body body;
		FUZZ_CHECK(mail_imap_section_resolve(a, m, id, strlen(id), false, 0, 0, &body,
						     &err) == 0);
		FUZZ_CHECK(body.total == p->body_len);
		FUZZ_CHECK(body.nsegs == (p->body_len > 0 ? 1u : 0u));
		if (body.nsegs == 1)
			FUZZ_CHECK(body.segs[0].off == p->body_off);
		char *mime = core_arena_printf(a, "%s.MIME", id);
		FUZZ_CHECK(mail_imap_section_resolve(a, m, mime, strlen(mime), false, 0, 0, &body,
						     &err) == 0);
		FUZZ_CHECK(body.total == p->header_len);
		/* RFC 3516: BINARY names the same part; its size is what it gives, and a
		 * failure is only the unknown encoding (leaves) or "not a leaf" */
		const struct mail_part *bp = NULL;
		int rc = mail_imap_binary_part(m, id, strlen(id), &bp, &err);
		FUZZ_CHECK(rc == 0 || rc == CORE_EPERM);
		if (rc == 0) {
			FUZZ_CHECK(bp == p);
			struct core_buf bin = CORE_BUF_INIT;
			uint64_t bsize = 0;
			rc = mail_imap_binary(m, p, &bin, &err);
			FUZZ_CHECK(rc == 0 || (rc == CORE_ESYNTAX && p->cte == MAIL_CTE_UNKNOWN));
			FUZZ_CHECK(mail_imap_binary_size(m, p, &bsize, &err) == rc);
			if (rc == 0)
				FUZZ_CHECK(bsize == bin.len);
			core_buf_fini(&bin);
		}
	}
	/* RFC 8621 §4.1.2: every form of every top-level field is valid JSON; Raw is valid
	 * UTF-8 without NUL */
	const struct mail_header *h = &m->root->header;
	for (size_t i = 0; i < h->count && i < 16; i++) {
		struct core_str raw = mail_hdr_raw(a, h->fields[i].value);
		FUZZ_CHECK(core_utf8_is_valid(raw.p, raw.len));
		FUZZ_CHECK(memchr(raw.p, '\0', raw.len) == NULL);
		char *name = core_str_dup(a, h->fields[i].name);
		for (int f = MAIL_HDR_FORM_RAW; f <= MAIL_HDR_FORM_URLS; f++) {
			json_t *v = mail_hdr_form_json(a, h, name, (enum mail_hdr_form)f, true);
			FUZZ_CHECK(v != NULL && json_is_array(v));
			char *js = json_dumps(v, JSON_COMPACT);
			FUZZ_CHECK(js != NULL);
			free(js);
			json_decref(v);
		}
	}
	core_buf_fini(&b);
	core_arena_free(&a);
	return 0;
}
