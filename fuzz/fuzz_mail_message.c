/*
 * fuzz_mail_message.c: libFuzzer target for the message parser (mail_message_parse). Checks
 * on every input, with small limits on most inputs so that every limit path is reached:
 * - parsing succeeds and the tree keeps its invariants (mail_message_verify): ranges inside
 *   the message and the parent, pre-order indexes, nothing lost at a limit;
 * - every limit reached is listed as a problem;
 * - decoded text of each leaf and the decoded header forms of each message are valid UTF-8.
 */
#include "core/core.h"
#include "core/core_utf8.h"
#include "fuzz.h"
#include "mail/mail.h"

static void check_utf8(struct core_str s)
{
	FUZZ_CHECK(s.p != NULL);
	FUZZ_CHECK(core_utf8_is_valid(s.p, s.len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_limits lim;
	mail_limits_default(&lim);
	/* Small limits for most inputs (every limit path is reached), the defaults when the
	 * input's length is a multiple of 4 (deep nesting at the real depth limit). */
	if (size % 4 != 0) {
		lim.max_depth = 8;
		lim.max_parts = 64;
		lim.max_header_fields = 32;
		lim.max_line_len = 200;
	}
	struct mail_message *m = NULL;
	struct core_error err;
	FUZZ_CHECK(mail_message_parse(a, data, size, &lim, &m, &err) == 0);
	FUZZ_CHECK(mail_message_verify(m, &err) == 0);
	FUZZ_CHECK(m->nparts >= 1 && m->nparts <= lim.max_parts);
	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		FUZZ_CHECK(p->depth <= lim.max_depth);
		FUZZ_CHECK(p->header.count <= lim.max_header_fields);
		if (p->flags & (MAIL_PART_F_DEPTH | MAIL_PART_F_PARTS | MAIL_PART_F_LONG_LINE) ||
		    p->header.dropped > 0) {
			bool listed = false;
			for (size_t k = 0; k < m->nproblems; k++)
				listed |= m->problems[k].part == p;
			FUZZ_CHECK(listed);
		}
		check_utf8(p->description);
		for (size_t k = 0; k < p->ct.nparams; k++)
			check_utf8(p->ct.params[k].value);
		if (p->nchildren == 0 && core_str_eq_cstr(p->ct.type, "text")) {
			struct core_buf t = CORE_BUF_INIT;
			char eff[MAIL_CHARSET_NAME_MAX];
			mail_part_decode_text(m, p, &t, eff);
			FUZZ_CHECK(memchr(eff, '\0', sizeof(eff)) != NULL && eff[0] != '\0');
			FUZZ_CHECK(core_utf8_is_valid(t.p != NULL ? t.p : "", t.len));
			core_buf_fini(&t);
		}
		if (p->parent == NULL || mail_part_is_message(p->parent)) {
			const struct mail_field *f = mail_header_find_last(&p->header, "Subject");
			if (f != NULL)
				check_utf8(mail_hdr_text(a, f->value));
			f = mail_header_find_last(&p->header, "From");
			if (f != NULL) {
				struct mail_addr_list al;
				mail_addr_list_parse(a, f->value, &al);
				for (size_t g = 0; g < al.ngroups; g++)
					for (size_t k = 0; k < al.groups[g].count; k++) {
						check_utf8(al.groups[g].addrs[k].name);
						check_utf8(al.groups[g].addrs[k].email);
					}
			}
		}
	}
	core_arena_free(&a);
	return 0;
}
