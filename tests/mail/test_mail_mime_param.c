/*
 * test_mail_mime_param.c: Content-Type / Content-Disposition values with RFC 2045 and RFC
 * 2231 parameters (src/mail/mail_mime_param.c), table-driven. Each expected parameter list is
 * written "name=value|name=value", with "{charset,lang}" after an RFC 2231 value.
 */
#include <check.h>
#include <string.h>

#include "mail/mail.h"

static const struct {
	const char *in;
	bool subtype;
	const char *type, *sub;
	const char *params;
	bool invalid;
} cases[] = {
	{"text/plain", true, "text", "plain", "", false},
	{"TEXT/Plain; CharSet=US-ASCII", true, "text", "plain", "charset=US-ASCII", false},
	{"text/plain; charset=\"utf-8\"", true, "text", "plain", "charset=utf-8", false},
	{" text / html ; charset = utf-8 ", true, "text", "html", "charset=utf-8", false},
	{"text/plain (comment); charset=us-ascii (more)", true, "text", "plain", "charset=us-ascii",
	 false},
	{"multipart/mixed;\r\n boundary=\"----=_Part_0\"", true, "multipart", "mixed",
	 "boundary=----=_Part_0", false},
	{"multipart/mixed; boundary=\"a\\\"b\"", true, "multipart", "mixed", "boundary=a\"b",
	 false},
	{"text/plain;", true, "text", "plain", "", false},
	{"text/plain;;charset=x", true, "text", "plain", "charset=x", false},
	{"text", true, "text", "", "", true},
	{"", true, "", "", "", true},
	{"/plain", true, "", "plain", "", true},
	/* unquoted value with spaces and an unclosed quote */
	{"application/pdf; name=my file.pdf", true, "application", "pdf", "name=my file.pdf",
	 false},
	{"application/pdf; name=\"unclosed.pdf", true, "application", "pdf", "name=unclosed.pdf",
	 false},
	/* first duplicate wins */
	{"text/plain; charset=a; charset=b", true, "text", "plain", "charset=a", false},
	/* RFC 2231 §3 continuations, given out of order */
	{"message/external-body; access-type=URL;\r\n URL*1=\"cool/\"; URL*0=\"ftp://\";"
	 " URL*2=\"file\"",
	 true, "message", "external-body", "access-type=URL|url=ftp://cool/file{,}", false},
	/* RFC 2231 §4 extended value */
	{"application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", true,
	 "application", "x-stuff", "title=This is ***fun***{us-ascii,en-us}", false},
	/* RFC 2231 §4.1 mixed encoded and plain sections */
	{"application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20;"
	 " title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
	 true, "application", "x-stuff", "title=This is even more ***fun*** isn't it!{us-ascii,en}",
	 false},
	/* RFC 2231 charset conversion and the extended form winning over the plain one */
	{"attachment; filename=\"fallback.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt", false,
	 "attachment", "", "filename=\xC3\xA9t\xC3\xA9.txt{utf-8,}", false},
	{"attachment; filename*=iso-8859-1''caf%E9.txt", false, "attachment", "",
	 "filename=caf\xC3\xA9.txt{iso-8859-1,}", false},
	/* RFC 2047 words in a quoted value (common, non-standard) */
	{"attachment; filename=\"=?UTF-8?B?w6l0w6kudHh0?=\"", false, "attachment", "",
	 "filename=\xC3\xA9t\xC3\xA9.txt", false},
	/* raw UTF-8 and raw latin-1 in a value (RFC 6532; fallback) */
	{"attachment; filename=\"\xC3\xA9.txt\"", false, "attachment", "", "filename=\xC3\xA9.txt",
	 false},
	{"attachment; filename=\"\xE9.txt\"", false, "attachment", "", "filename=\xC3\xA9.txt",
	 false},
	/* bad percent escape kept; section gap still joined */
	{"a/b; x*=utf-8''100%zz", true, "a", "b", "x=100%zz{utf-8,}", false},
	{"a/b; x*0=one; x*2=three", true, "a", "b", "x=onethree{,}", false},
	/* a name "*" alone or with a leading zero is not RFC 2231 syntax */
	{"a/b; x*01=v", true, "a", "b", "x*01=v", false},
	/* a name made of '*' alone is no parameter */
	{"a/b; *=x; y=1", true, "a", "b", "y=1", true},
	/* a forgotten ';' before a parameter */
	{"multipart/mixed\r\n\tboundary=\"b\"", true, "multipart", "mixed", "boundary=b", true},
	{"text/plain charset=utf-8; format=flowed", true, "text", "plain",
	 "charset=utf-8|format=flowed", true},
	/* junk between parameters */
	{"text/plain junk; charset=x", true, "text", "plain", "charset=x", true},
	{"inline", false, "inline", "", "", false},
	{"INLINE; filename=a.txt; size=12", false, "inline", "", "filename=a.txt|size=12", false},
};

static void render(const struct mail_mime_value *v, struct core_buf *b)
{
	for (size_t i = 0; i < v->nparams; i++) {
		const struct mail_param *p = &v->params[i];
		if (i > 0)
			core_buf_putc(b, '|');
		core_buf_printf(b, "%s=%s", p->name.p, p->value.p);
		if (p->flags & MAIL_PARAM_F_2231)
			core_buf_printf(b, "{%s,%s}", p->charset.p, p->language.p);
	}
}

START_TEST(test_param_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_mime_value v;
	mail_mime_value_parse(a, core_str_from_cstr(cases[_i].in), cases[_i].subtype, &v);
	ck_assert_msg(core_str_eq_cstr(v.type, cases[_i].type), "case %d: type '%s'", _i, v.type.p);
	ck_assert_msg(core_str_eq_cstr(v.subtype, cases[_i].sub), "case %d: subtype '%s'", _i,
		      v.subtype.p);
	struct core_buf b = CORE_BUF_INIT;
	render(&v, &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), cases[_i].params) == 0, "case %d: params '%s'", _i,
		      core_buf_cstr(&b));
	ck_assert_msg(v.invalid == cases[_i].invalid, "case %d: invalid %d", _i, v.invalid);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

START_TEST(test_param_find_and_flags)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_mime_value v;
	mail_mime_value_parse(a, CORE_STR("text/plain; A*0=x; a*2=y; b=\"=?utf-8?q?z?=\""), true,
			      &v);
	const struct mail_param *p = mail_mime_param_find(&v, "A");
	ck_assert_ptr_nonnull(p);
	ck_assert(p->flags & MAIL_PARAM_F_2231);
	ck_assert(p->flags & MAIL_PARAM_F_GAP);
	p = mail_mime_param_find(&v, "b");
	ck_assert_ptr_nonnull(p);
	ck_assert(p->flags & MAIL_PARAM_F_EW);
	ck_assert_str_eq(p->value.p, "z");
	ck_assert_ptr_null(mail_mime_param_find(&v, "c"));
	core_arena_free(&a);
}
END_TEST

/* Many continuation sections in reverse order: sorted, and fast (no quadratic grouping). */
START_TEST(test_param_many_sections)
{
	struct core_arena *a = core_arena_new(0);
	struct core_buf in = CORE_BUF_INIT, want = CORE_BUF_INIT;
	core_buf_append_str(&in, "a/b");
	for (int i = 5000; i-- > 0;)
		core_buf_printf(&in, "; n*%d=%c; p%d=v", i, 'a' + i % 26, i);
	for (int i = 0; i < 5000; i++)
		core_buf_putc(&want, (char)('a' + i % 26));
	struct mail_mime_value v;
	mail_mime_value_parse(a, core_str_make(in.p, in.len), true, &v);
	ck_assert_uint_eq(v.nparams, 5001);
	ck_assert_str_eq(v.params[0].name.p, "n");
	ck_assert_str_eq(v.params[0].value.p, core_buf_cstr(&want));
	ck_assert_str_eq(v.params[1].name.p, "p4999");
	core_buf_fini(&in);
	core_buf_fini(&want);
	core_arena_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_mime_param");
	TCase *tc = tcase_create("param");
	tcase_add_loop_test(tc, test_param_table, 0, (int)CORE_NELEM(cases));
	tcase_add_test(tc, test_param_find_and_flags);
	tcase_add_test(tc, test_param_many_sections);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
