/*
 * test_mail_rfc5322_addr.c: address lists (src/mail/mail_rfc5322_addr.c), table-driven.
 * Expected results are written as: mailbox `"name" <email>` or `<email>` (no name), groups as
 * `name: mailbox, mailbox;`, items separated by " | ".
 */
#include <check.h>
#include <string.h>

#include "mail/mail.h"

static const struct {
	const char *in;
	const char *want;
	bool invalid;
} cases[] = {
	{"user@example.com", "<user@example.com>", false},
	{"John Doe <jdoe@machine.example>", "\"John Doe\" <jdoe@machine.example>", false},
	{"\"Joe Q. Public\" <john.q.public@example.com>",
	 "\"Joe Q. Public\" <john.q.public@example.com>", false},
	{"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	 "\"Mary Smith\" <mary@x.test> | <jdoe@example.org> | \"Who?\" <one@y.test>", false},
	{"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
	 "<boss@nil.test> | \"Giant; \"Big\" Box\" <sysservices@example.net>", false},
	/* RFC 5322 A.1.3 group */
	{"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	 "A Group: \"Ed Jones\" <c@a.test>, <joe@where.test>, \"John\" <jdoe@one.test>;", false},
	{"Undisclosed recipients:;", "Undisclosed recipients: ;", false},
	{"a@b.c, G: x@y.z; , d@e.f", "<a@b.c> | G: <x@y.z>; | <d@e.f>", false},
	/* RFC 5322 A.5 comments and white space */
	{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	 "\"Pete\" <pete@silly.test>", false},
	{"jdoe@example.com (John Doe)", "\"John Doe\" <jdoe@example.com>", false},
	{"(comment only) jdoe@example.com", "<jdoe@example.com>", false},
	/* RFC 5322 A.6.1-3 obsolete forms */
	{"Joe Q. Public <john.q.public@example.com>",
	 "\"Joe Q. Public\" <john.q.public@example.com>", false},
	{"<@node.test,@node2.test:mary@example.net>", "<mary@example.net>", false},
	{"john . q . public @ example . com", "<john.q.public@example.com>", false},
	{"Mary Smith <mary@x.test>, , jdoe@test.example",
	 "\"Mary Smith\" <mary@x.test> | <jdoe@test.example>", false},
	/* quoted local parts keep quotes only when needed */
	{"\"john\"@example.com", "<john@example.com>", false},
	{"\"john smith\"@example.com", "<\"john smith\"@example.com>", false},
	{"<\"a\\\"b\"@example.com>", "<\"a\\\"b\"@example.com>", false},
	/* a ':' that is no obs-route stays (RFC 2369 List-* URIs) */
	{"<mailto:list@host.test?subject=help>", "<mailto:list@host.test?subject=help>", false},
	{"<@a.test:x@y.test>", "<x@y.test>", false},
	/* domain literal */
	{"user@[192.0.2.1]", "<user@[192.0.2.1]>", false},
	/* RFC 2047 names, adjacent words joined */
	{"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
	 "\"Keld J\xC3\xB8rn Simonsen\" <keld@dkuug.dk>", false},
	{"=?UTF-8?Q?a?= =?UTF-8?Q?b?= <ab@x.test>", "\"ab\" <ab@x.test>", false},
	{"\"=?UTF-8?B?w6k=?=\" <e@x.test>", "\"\xC3\xA9\" <e@x.test>", false},
	/* RFC 6532 UTF-8 and mislabelled 8-bit */
	{"J\xC3\xB6rg <j\xC3\xB6rg@b\xC3\xBC\x63her.test>",
	 "\"J\xC3\xB6rg\" <j\xC3\xB6rg@b\xC3\xBC\x63her.test>", false},
	{"J\xF6rg <j@x.test>", "\"J\xC3\xB6rg\" <j@x.test>", false},
	/* null path and empty input */
	{"<>", "<>", false},
	{"", "", false},
	/* invalid: kept as well as possible */
	{"John Smith john@x.test", "\"John Smith\" <john@x.test>", true},
	{"just-a-word", "<just-a-word>", true},
	{"Name <unclosed@x.test", "\"Name\" <unclosed@x.test>", true},
	{"G: a@b.c", "G: <a@b.c>;", true},
	/* an unclosed quote runs to the end: one quoted word, kept as the address */
	{"\"unterminated <x@y.z>", "<\"unterminated <x@y.z>\">", true},
};

static void render(const struct mail_addr_list *l, struct core_buf *b)
{
	for (size_t g = 0; g < l->ngroups; g++) {
		const struct mail_addr_group *gr = &l->groups[g];
		if (gr->is_group) {
			if (b->len > 0)
				core_buf_append_str(b, " | ");
			core_buf_printf(b, "%s:", gr->name.p);
			if (gr->count == 0)
				core_buf_putc(b, ' ');
		}
		for (size_t i = 0; i < gr->count; i++) {
			const struct mail_addr *ad = &gr->addrs[i];
			if (gr->is_group)
				core_buf_append_str(b, i > 0 ? ", " : " ");
			else if (b->len > 0)
				core_buf_append_str(b, " | ");
			if (ad->has_name)
				core_buf_printf(b, "\"%s\" ", ad->name.p);
			core_buf_printf(b, "<%s>", ad->email.p);
		}
		if (gr->is_group)
			core_buf_putc(b, ';');
	}
}

START_TEST(test_addr_table)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_addr_list l;
	mail_addr_list_parse(a, core_str_from_cstr(cases[_i].in), &l);
	struct core_buf b = CORE_BUF_INIT;
	render(&l, &b);
	ck_assert_msg(strcmp(core_buf_cstr(&b), cases[_i].want) == 0, "case %d: got '%s'", _i,
		      core_buf_cstr(&b));
	ck_assert_msg(l.invalid == cases[_i].invalid, "case %d: invalid %d", _i, l.invalid);
	size_t n = 0;
	for (size_t g = 0; g < l.ngroups; g++)
		n += l.groups[g].count;
	ck_assert_uint_eq(n, l.naddrs);
	core_buf_fini(&b);
	core_arena_free(&a);
}
END_TEST

/* Folded input: the same result as the unfolded one. */
START_TEST(test_addr_folded)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_addr_list l;
	mail_addr_list_parse(a, CORE_STR("Mary\r\n Smith\r\n\t<mary@x.test>,\r\n jdoe@example.org"),
			     &l);
	ck_assert_uint_eq(l.naddrs, 2);
	ck_assert_str_eq(l.groups[0].addrs[0].name.p, "Mary Smith");
	ck_assert_str_eq(l.groups[0].addrs[1].email.p, "jdoe@example.org");
	core_arena_free(&a);
}
END_TEST

/* Local part, domain and the undecoded display name (IMAP ENVELOPE needs them). */
static const struct {
	const char *in;
	const char *local, *domain, *name_raw, *name;
} parts_cases[] = {
	{"John <a.b@c.example>", "a.b", "c.example", "John", "John"},
	{"=?UTF-8?Q?J=C3=B6?= <x@y.test>", "x", "y.test", "=?UTF-8?Q?J=C3=B6?=", "J\xC3\xB6"},
	{"\"Smith, J\" <\"a@b\"@c.test>", "\"a@b\"", "c.test", "Smith, J", "Smith, J"},
	{"<@r.test:x@y.test>", "x", "y.test", "", ""},
	{"x . y @ z . test", "x.y", "z.test", "", ""},
	{"just", "just", "", "", ""},
	{"a@b.test (Comment Name)", "a", "b.test", "", "Comment Name"},
};

START_TEST(test_addr_parts)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_addr_list l;
	mail_addr_list_parse(a, core_str_from_cstr(parts_cases[_i].in), &l);
	ck_assert_uint_eq(l.naddrs, 1);
	const struct mail_addr *ad = &l.groups[0].addrs[0];
	ck_assert_str_eq(ad->local.p, parts_cases[_i].local);
	ck_assert_str_eq(ad->domain.p, parts_cases[_i].domain);
	ck_assert_str_eq(ad->name_raw.p, parts_cases[_i].name_raw);
	ck_assert_str_eq(ad->name.p, parts_cases[_i].name);
	core_arena_free(&a);
}
END_TEST

/* Long runs of separators and words stay linear (no rescanning per element). */
START_TEST(test_addr_linear)
{
	static const char *const units[] = {";", ",", "a ", "a;", ":", "<", "(c)", "\"q\" "};
	for (size_t u = 0; u < CORE_NELEM(units); u++) {
		struct core_buf b = CORE_BUF_INIT;
		for (int i = 0; i < 40000; i++)
			core_buf_append_str(&b, units[u]);
		struct core_arena *a = core_arena_new(0);
		struct mail_addr_list l;
		mail_addr_list_parse(a, core_str_make(b.p, b.len), &l);
		ck_assert_uint_le(l.naddrs, 40000);
		core_arena_free(&a);
		core_buf_fini(&b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail_rfc5322_addr");
	TCase *tc = tcase_create("addr");
	tcase_add_loop_test(tc, test_addr_table, 0, (int)CORE_NELEM(cases));
	tcase_add_test(tc, test_addr_folded);
	tcase_add_test(tc, test_addr_linear);
	tcase_add_loop_test(tc, test_addr_parts, 0, (int)CORE_NELEM(parts_cases));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
