/*
 * test_smtp_parse.c: the command-line parser (RFC 5321 §4.1.1, §4.1.2, RFC 6531 §3.3), line
 * framing with its limits and bare CR/LF policy, and the DATA / BDAT readers including the
 * SMTP smuggling cases. Table-driven; every reader also runs byte at a time (trickle).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "smtp/smtp.h"

/* --- commands --------------------------------------------------------------------------- */

struct cmd_case {
	const char *line;
	int rc; /* expected smtp_cmd_parse result */
	enum smtp_verb verb;
	const char *addr;   /* expected path addr (MAIL/RCPT) or NULL */
	const char *domain; /* expected domain or NULL */
	size_t nparams;
	unsigned flags; /* 1 null, 2 postmaster, 4 utf8, 8 quoted, 16 literal, 32 route */
};

static const struct cmd_case cmd_cases[] = {
	{"MAIL FROM:<a@example.org>", 0, SMTP_VERB_MAIL, "a@example.org", "example.org", 0, 0},
	{"mail from:<a@example.org>", 0, SMTP_VERB_MAIL, "a@example.org", "example.org", 0, 0},
	{"MAIL FROM: <a@example.org>", 0, SMTP_VERB_MAIL, "a@example.org", "example.org", 0, 0},
	{"MAIL FROM:<>", 0, SMTP_VERB_MAIL, "", NULL, 0, 1},
	{"MAIL FROM:<> SIZE=100 BODY=8BITMIME", 0, SMTP_VERB_MAIL, "", NULL, 2, 1},
	{"MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ+2B1", 0, SMTP_VERB_MAIL, "a@b.c", "b.c", 2, 0},
	{"MAIL FROM:<a@b.c> SMTPUTF8", 0, SMTP_VERB_MAIL, "a@b.c", "b.c", 1, 0},
	{"MAIL FROM:<@r1.example,@r2.example:a@b.c>", 0, SMTP_VERB_MAIL, "a@b.c", "b.c", 0, 32},
	{"MAIL FROM:<\"john doe\"@example.org>", 0, SMTP_VERB_MAIL, "\"john doe\"@example.org",
	 "example.org", 0, 8},
	{"MAIL FROM:<\"a\\\"b\"@example.org>", 0, SMTP_VERB_MAIL, "\"a\\\"b\"@example.org",
	 "example.org", 0, 8},
	{"MAIL FROM:<\"a>b\"@example.org>", 0, SMTP_VERB_MAIL, "\"a>b\"@example.org", "example.org",
	 0, 8},
	{"MAIL FROM:<a@[192.0.2.1]>", 0, SMTP_VERB_MAIL, "a@[192.0.2.1]", "[192.0.2.1]", 0, 16},
	{"MAIL FROM:<a@[IPv6:2001:db8::1]>", 0, SMTP_VERB_MAIL, "a@[IPv6:2001:db8::1]",
	 "[IPv6:2001:db8::1]", 0, 16},
	{"MAIL FROM:<a@[x-tag:abc]>", 0, SMTP_VERB_MAIL, "a@[x-tag:abc]", "[x-tag:abc]", 0, 16},
	{"MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή>", 0, SMTP_VERB_MAIL, "δοκιμή@παράδειγμα.δοκιμή",
	 "παράδειγμα.δοκιμή", 0, 4},
	{"RCPT TO:<Postmaster>", 0, SMTP_VERB_RCPT, "Postmaster", NULL, 0, 2},
	{"RCPT TO:<postmaster@example.org>", 0, SMTP_VERB_RCPT, "postmaster@example.org",
	 "example.org", 0, 0},
	{"RCPT TO:<a.b+tag@sub-1.example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b", 0,
	 SMTP_VERB_RCPT, "a.b+tag@sub-1.example.org", "sub-1.example.org", 2, 0},
	{"NOOP whatever", 0, SMTP_VERB_NOOP, NULL, NULL, 0, 0},
	{"XYZZY", 0, SMTP_VERB_UNKNOWN, NULL, NULL, 0, 0},
	/* errors */
	{"", CORE_ESYNTAX, SMTP_VERB_UNKNOWN, NULL, NULL, 0, 0},
	{"MAIL <a@b.c>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:a@b.c", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a..b@c.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<.a@c.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@-c.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@c-.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<@a>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<@>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b>",
	 CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b>", 0,
	 SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@c..d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@[300.1.1.1]>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@[IPv6:zz::1]>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a b@c.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<\"unterminated@c.d>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c>SIZE=1", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c> SIZE=", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c> =1", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a@b.c> A=1=2", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<a\xff@b.c>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<@r1:a@b.c", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"MAIL FROM:<@:a@b.c>", CORE_ESYNTAX, SMTP_VERB_MAIL, NULL, NULL, 0, 0},
	{"RCPT TO:<>", CORE_ESYNTAX, SMTP_VERB_RCPT, NULL, NULL, 0, 0},
	{"RCPT TO:<@r.example:Postmaster>", CORE_ESYNTAX, SMTP_VERB_RCPT, NULL, NULL, 0, 0},
	{"RCPT TO:<"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c>",
	 CORE_ELIMIT, SMTP_VERB_RCPT, NULL, NULL, 0, 0},
	{"RCPT TO:<a@b.c> A B C D E F G H I J K L M N O P Q", CORE_ELIMIT, SMTP_VERB_RCPT, NULL,
	 NULL, 0, 0},
};

START_TEST(test_smtp_cmd_parse_table)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_cmd cmd;
		struct core_error err;
		core_error_clear(&err);
		int rc = smtp_cmd_parse(c->line, strlen(c->line), &cmd, &err);
		ck_assert_msg(rc == c->rc, "%s: rc %d want %d (%s)", c->line, rc, c->rc, err.msg);
		ck_assert_msg(cmd.verb == c->verb, "%s: verb %d", c->line, cmd.verb);
		if (rc < 0) {
			ck_assert_msg(err.rule != NULL && err.msg[0], "%s: no rule/message",
				      c->line);
			continue;
		}
		if (c->addr) {
			ck_assert_msg(core_str_eq_cstr(cmd.path.addr, c->addr), "%s: addr %.*s",
				      c->line, CORE_STR_FMT(cmd.path.addr));
		}
		if (c->domain)
			ck_assert_msg(core_str_eq_cstr(cmd.path.domain, c->domain),
				      "%s: domain %.*s", c->line, CORE_STR_FMT(cmd.path.domain));
		ck_assert_msg(cmd.nparams == c->nparams, "%s: nparams %zu", c->line, cmd.nparams);
		ck_assert_int_eq(cmd.path.null, !!(c->flags & 1));
		ck_assert_int_eq(cmd.path.postmaster, !!(c->flags & 2));
		ck_assert_int_eq(cmd.path.utf8, !!(c->flags & 4));
		ck_assert_int_eq(cmd.path.quoted, !!(c->flags & 8));
		ck_assert_int_eq(cmd.path.literal, !!(c->flags & 16));
		ck_assert_int_eq(cmd.path.had_route, !!(c->flags & 32));
	}
}
END_TEST

START_TEST(test_smtp_cmd_params)
{
	struct smtp_cmd cmd;
	struct core_error err;
	const char *l = "MAIL FROM:<a@b.c> SIZE=123 body=8bitmime SMTPUTF8 ENVID=x+2By";
	ck_assert_int_eq(smtp_cmd_parse(l, strlen(l), &cmd, &err), 0);
	ck_assert_uint_eq(cmd.nparams, 4);
	ck_assert(core_str_eq_cstr(cmd.params[0].key, "SIZE"));
	ck_assert(core_str_eq_cstr(cmd.params[0].value, "123"));
	ck_assert(core_str_eq_cstr(cmd.params[1].key, "body"));
	ck_assert(core_str_eq_cstr(cmd.params[1].value, "8bitmime"));
	ck_assert(!cmd.params[2].has_value);
	ck_assert(cmd.params[3].has_value);
	struct core_arena *a = core_arena_new(0);
	struct core_str d;
	ck_assert_int_eq(smtp_xtext_decode(a, cmd.params[3].value, &d), 0);
	ck_assert(core_str_eq_cstr(d, "x+y"));
	ck_assert_int_lt(smtp_xtext_decode(a, CORE_STR("a+2"), &d), 0);
	ck_assert_int_lt(smtp_xtext_decode(a, CORE_STR("a+zz"), &d), 0);
	ck_assert_int_lt(smtp_xtext_decode(a, CORE_STR("a=b"), &d), 0);
	core_arena_free(&a);
	ck_assert_int_eq(smtp_verb_lookup(CORE_STR("ehlo")), SMTP_VERB_EHLO);
	ck_assert_int_eq(smtp_verb_lookup(CORE_STR("EHLOX")), SMTP_VERB_UNKNOWN);
	ck_assert_str_eq(smtp_verb_name(SMTP_VERB_BDAT), "BDAT");
	ck_assert_uint_eq(smtp_ext_bit_by_name("size"), SMTP_EXT_SIZE);
	ck_assert_uint_eq(smtp_ext_bit_by_name("MT-PRIORITY"), SMTP_EXT_MTPRIORITY);
	ck_assert_uint_eq(smtp_ext_bit_by_name("BINARYMIME"), SMTP_EXT_CHUNKING);
	ck_assert_uint_eq(smtp_ext_bit_by_name("ETRN"), 0);
}
END_TEST

/* --- framing ------------------------------------------------------------------------------ */

/* Run the framer over input in steps of `step` bytes (0 = all at once); record results. */
static void frame_all(const char *in, size_t len, size_t step, size_t max_line,
		      enum smtp_bare_policy bare, struct core_buf *out)
{
	struct smtp_parser p;
	smtp_parser_init(&p, max_line, bare);
	size_t off = 0;
	while (off < len) {
		size_t n = step == 0 ? len - off : (len - off < step ? len - off : step);
		size_t done = 0;
		while (done < n) {
			struct smtp_cmd cmd;
			struct core_error err;
			size_t used = 0;
			core_error_clear(&err);
			int rc = smtp_parser_feed(&p, in + off + done, n - done, &used, &cmd, &err);
			done += used;
			if (rc == CORE_MORE)
				break;
			if (rc == CORE_DONE)
				core_buf_printf(out, "[%s|%.*s|%zu]", smtp_verb_name(cmd.verb),
						CORE_STR_FMT(cmd.path.addr), cmd.nparams);
			else
				core_buf_printf(out, "[err %s]", core_err_name(rc));
		}
		off += n;
	}
	smtp_parser_fini(&p);
}

struct frame_case {
	const char *in;
	size_t len; /* 0 = strlen */
	size_t max_line;
	enum smtp_bare_policy bare;
	const char *want;
};

static const struct frame_case frame_cases[] = {
	{"EHLO x\r\nMAIL FROM:<a@b.c> SIZE=1\r\nRCPT TO:<d@e.f>\r\n", 0, 512, SMTP_BARE_REJECT,
	 "[EHLO||0][MAIL|a@b.c|1][RCPT|d@e.f|0]"},
	{"NOOP\r\nNOOP", 0, 512, SMTP_BARE_REJECT, "[NOOP||0]"},
	/* RFC 5321 §2.3.8: bare LF refused by default, accepted as line end when converting. */
	{"NOOP\nNOOP\r\n", 0, 512, SMTP_BARE_REJECT, "[err syntax][NOOP||0]"},
	{"NOOP\nNOOP\r\n", 0, 512, SMTP_BARE_CONVERT, "[NOOP||0][NOOP||0]"},
	/* A bare CR never ends a line and always spoils it. */
	{"NO\rOP\r\nNOOP\r\n", 0, 512, SMTP_BARE_CONVERT, "[err syntax][NOOP||0]"},
	{"NOOP\r\r\nQUIT\r\n", 0, 512, SMTP_BARE_REJECT, "[err syntax][QUIT||0]"},
	{"NO\0OP\r\nQUIT\r\n", 13, 512, SMTP_BARE_REJECT, "[err syntax][QUIT||0]"},
	/* A limit below 512 is raised to 512. */
	{"NOOP 12345678901234567890\r\n", 0, 10, SMTP_BARE_REJECT, "[NOOP||0]"},
};

START_TEST(test_smtp_framing_table)
{
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *c = &frame_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct core_buf whole = CORE_BUF_INIT;
		frame_all(c->in, len, 0, c->max_line, c->bare, &whole);
		ck_assert_msg(strcmp(core_buf_cstr(&whole), c->want) == 0, "case %zu: %s", i,
			      core_buf_cstr(&whole));
		core_buf_fini(&whole);
	}
}
END_TEST

START_TEST(test_smtp_line_limit)
{
	/* RFC 5321 §4.5.3.1.4: 512 octets including CRLF; configurable upward (§4.1.2 lets
	 * extensions lengthen MAIL and RCPT). */
	static const struct {
		size_t linelen; /* octets before CRLF */
		size_t max_line;
		const char *want;
	} cases[] = {
		{510, 512, "[NOOP||0][QUIT||0]"},    {511, 512, "[err limit][QUIT||0]"},
		{5000, 512, "[err limit][QUIT||0]"}, {511, 1000, "[NOOP||0][QUIT||0]"},
		{998, 1000, "[NOOP||0][QUIT||0]"},   {999, 1000, "[err limit][QUIT||0]"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct core_buf in = CORE_BUF_INIT;
		core_buf_append_str(&in, "NOOP ");
		while (in.len < cases[i].linelen)
			core_buf_putc(&in, 'x');
		core_buf_append_str(&in, "\r\nQUIT\r\n");
		for (size_t step = 0; step < 3; step++) {
			struct core_buf out = CORE_BUF_INIT;
			frame_all(in.p, in.len, step == 2 ? 1 : step * 100, cases[i].max_line,
				  SMTP_BARE_REJECT, &out);
			ck_assert_msg(strcmp(core_buf_cstr(&out), cases[i].want) == 0,
				      "case %zu: %s", i, core_buf_cstr(&out));
			core_buf_fini(&out);
		}
		core_buf_fini(&in);
	}
}
END_TEST

START_TEST(test_smtp_parser_trickle)
{
	/* ARCHITECTURE.md §5: byte-at-a-time equals all-at-once, for every table case and for
	 * every split size. */
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *c = &frame_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct core_buf whole = CORE_BUF_INIT;
		frame_all(c->in, len, 0, c->max_line, c->bare, &whole);
		for (size_t step = 1; step <= 7; step++) {
			struct core_buf t = CORE_BUF_INIT;
			frame_all(c->in, len, step, c->max_line, c->bare, &t);
			ck_assert_msg(strcmp(core_buf_cstr(&t), core_buf_cstr(&whole)) == 0,
				      "case %zu step %zu: %s vs %s", i, step, core_buf_cstr(&t),
				      core_buf_cstr(&whole));
			core_buf_fini(&t);
		}
		core_buf_fini(&whole);
	}
}
END_TEST

/* --- DATA reader ------------------------------------------------------------------------ */

static int buf_sink(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

static int fail_sink(void *arg, const void *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return CORE_EIO;
}

struct data_case {
	const char *in;
	enum smtp_bare_policy bare;
	int done;         /* 1: end found */
	const char *body; /* expected body */
	const char *rest; /* bytes left after the end */
	unsigned flags;   /* expected SMTP_BODY_* subset */
	bool failed;
};

static const struct data_case data_cases[] = {
	{"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", SMTP_BARE_REJECT, 1,
	 "Subject: x\r\n\r\nhello\r\n", "QUIT\r\n", 0, false},
	{".\r\n", SMTP_BARE_REJECT, 1, "", "", 0, false},
	/* RFC 5321 §4.5.2: leading dot removed. */
	{"..x\r\n.y\r\n..\r\n.\r\n", SMTP_BARE_REJECT, 1, ".x\r\ny\r\n.\r\n", "", 0, false},
	{"a\r\n.\r", SMTP_BARE_REJECT, 0, "a\r\n", "", 0, false},
	/* Smuggling: none of these end the data. */
	{"a\n.\nMAIL FROM:<x@y>\r\n.\r\n", SMTP_BARE_REJECT, 1, NULL, "", SMTP_BODY_BARE_LF, true},
	{"a\n.\nMAIL FROM:<x@y>\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
	 "", SMTP_BODY_BARE_LF, false},
	{"a\r.\rMAIL\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n.\r\nMAIL\r\n", "", SMTP_BODY_BARE_CR,
	 false},
	{"a\n.\r\nMAIL\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n.\r\nMAIL\r\n", "", SMTP_BODY_BARE_LF,
	 false},
	{"a\r\n.\nMAIL\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n\r\nMAIL\r\n", "", SMTP_BODY_BARE_LF,
	 false},
	{"a\r\n.\rMAIL\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n\r\nMAIL\r\n", "", SMTP_BODY_BARE_CR,
	 false},
	{"a\r\r\n.\r\n", SMTP_BARE_CONVERT, 1, "a\r\n\r\n", "", SMTP_BODY_BARE_CR, false},
	{"a\r\r\n.\r\n", SMTP_BARE_REJECT, 1, NULL, "", SMTP_BODY_BARE_CR, true},
	{"a\r\n.\r\r\n.\r\n", SMTP_BARE_REJECT, 1, NULL, "", SMTP_BODY_BARE_CR, true},
	{"caf\xc3\xa9\r\n.\r\n", SMTP_BARE_REJECT, 1, "caf\xc3\xa9\r\n", "", SMTP_BODY_8BIT, false},
	/* The edges of 7-bit text: DEL is, 0x80 and 0xff are not; 8-bit just before CRLF. */
	{"a\x7f\x01\r\n.\r\n", SMTP_BARE_REJECT, 1, "a\x7f\x01\r\n", "", 0, false},
	{"x\x80\r\ny\xff\r\n.\r\n", SMTP_BARE_REJECT, 1, "x\x80\r\ny\xff\r\n", "", SMTP_BODY_8BIT,
	 false},
};

static void run_data(const struct data_case *c, size_t step, struct core_buf *body,
		     struct smtp_data_reader *r, int *done_out, size_t *used_out)
{
	struct smtp_sink sink = {buf_sink, body};
	smtp_data_reader_init(r, c->bare, 0, &sink);
	size_t len = strlen(c->in), off = 0;
	*done_out = 0;
	while (off < len) {
		size_t n = step == 0 ? len - off : (len - off < step ? len - off : step);
		size_t used = 0;
		int rc = smtp_data_reader_feed(r, c->in + off, n, &used);
		off += used;
		if (rc == CORE_DONE) {
			*done_out = 1;
			break;
		}
		ck_assert_uint_eq(used, n);
	}
	*used_out = off;
}

START_TEST(test_smtp_data_reader_table)
{
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		const struct data_case *c = &data_cases[i];
		for (size_t step = 0; step <= 3; step++) {
			struct core_buf body = CORE_BUF_INIT;
			struct smtp_data_reader r;
			int done;
			size_t used;
			run_data(c, step, &body, &r, &done, &used);
			ck_assert_msg(done == c->done, "case %zu step %zu: done %d", i, step, done);
			if (done)
				ck_assert_msg(strcmp(c->in + used, c->rest) == 0,
					      "case %zu: rest '%s'", i, c->in + used);
			if (c->body)
				ck_assert_msg(strcmp(core_buf_cstr(&body), c->body) == 0,
					      "case %zu step %zu: body '%s'", i, step,
					      core_buf_cstr(&body));
			ck_assert_msg((r.flags & c->flags) == c->flags, "case %zu: flags %x", i,
				      r.flags);
			if (!(c->flags & SMTP_BODY_8BIT))
				ck_assert_msg(!(r.flags & SMTP_BODY_8BIT), "case %zu: 8-bit", i);
			ck_assert_int_eq(smtp_data_reader_failed(&r), c->failed);
			core_buf_fini(&body);
		}
	}
}
END_TEST

START_TEST(test_smtp_data_reader_limits)
{
	struct core_buf body = CORE_BUF_INIT;
	struct smtp_sink sink = {buf_sink, &body};
	struct smtp_data_reader r;
	size_t used;
	smtp_data_reader_init(&r, SMTP_BARE_REJECT, 10, &sink);
	const char *in = "0123456789abcdef\r\n.\r\nNOOP\r\n";
	ck_assert_int_eq(smtp_data_reader_feed(&r, in, strlen(in), &used), CORE_DONE);
	ck_assert_str_eq(in + used, "NOOP\r\n");
	ck_assert(r.flags & SMTP_BODY_TOO_BIG);
	ck_assert(smtp_data_reader_failed(&r));
	/* A big body streams through the staging buffer in pieces, never whole. */
	core_buf_reset(&body);
	smtp_data_reader_init(&r, SMTP_BARE_REJECT, 0, &sink);
	char line[1002];
	memset(line, 'x', 1000);
	line[1000] = '\r';
	line[1001] = '\n';
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(smtp_data_reader_feed(&r, line, sizeof(line), &used), CORE_MORE);
		ck_assert_uint_eq(used, sizeof(line));
	}
	ck_assert_int_eq(smtp_data_reader_feed(&r, ".\r\n", 3, &used), CORE_DONE);
	ck_assert_uint_eq(body.len, 100 * sizeof(line));
	ck_assert_uint_eq(r.size, body.len);
	/* A failing sink is reported, the reader keeps finding the end. */
	struct smtp_sink bad = {fail_sink, NULL};
	smtp_data_reader_init(&r, SMTP_BARE_REJECT, 0, &bad);
	ck_assert_int_eq(smtp_data_reader_feed(&r, "x\r\n.\r\n", 6, &used), CORE_DONE);
	ck_assert(r.flags & SMTP_BODY_SINK_ERROR);
	ck_assert(smtp_data_reader_failed(&r));
	core_buf_fini(&body);
}
END_TEST

/* --- BDAT reader -------------------------------------------------------------------------- */

START_TEST(test_smtp_bdat_reader)
{
	struct core_buf body = CORE_BUF_INIT;
	struct smtp_sink sink = {buf_sink, &body};
	struct smtp_bdat_reader r;
	size_t used;
	/* CRLF split across two chunks is not bare. */
	smtp_bdat_reader_init(&r, SMTP_BARE_REJECT, false, 0, &sink);
	smtp_bdat_reader_chunk(&r, 3);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "ab\rNOOP", 7, &used), CORE_DONE);
	ck_assert_uint_eq(used, 3);
	smtp_bdat_reader_chunk(&r, 4);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "\n.\r\n", 4, &used), CORE_DONE);
	smtp_bdat_reader_finish(&r);
	ck_assert(!smtp_bdat_reader_failed(&r));
	ck_assert_str_eq(core_buf_cstr(&body), "ab\r\n.\r\n");
	/* A CR ending the last chunk is bare. */
	core_buf_reset(&body);
	smtp_bdat_reader_init(&r, SMTP_BARE_REJECT, false, 0, &sink);
	smtp_bdat_reader_chunk(&r, 2);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "a\r", 2, &used), CORE_DONE);
	smtp_bdat_reader_finish(&r);
	ck_assert(r.flags & SMTP_BODY_BARE_CR);
	ck_assert(smtp_bdat_reader_failed(&r));
	/* Convert: bare LF and CR across chunks become CRLF. */
	core_buf_reset(&body);
	smtp_bdat_reader_init(&r, SMTP_BARE_CONVERT, false, 0, &sink);
	smtp_bdat_reader_chunk(&r, 4);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "a\nb\r", 4, &used), CORE_DONE);
	smtp_bdat_reader_chunk(&r, 2);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "c\r", 2, &used), CORE_DONE);
	smtp_bdat_reader_finish(&r);
	ck_assert_str_eq(core_buf_cstr(&body), "a\r\nb\r\nc\r\n");
	ck_assert(!smtp_bdat_reader_failed(&r));
	/* BINARYMIME: octets untouched. */
	core_buf_reset(&body);
	smtp_bdat_reader_init(&r, SMTP_BARE_REJECT, true, 0, &sink);
	smtp_bdat_reader_chunk(&r, 5);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "\n\r\0\xff\r", 5, &used), CORE_DONE);
	smtp_bdat_reader_finish(&r);
	ck_assert(!smtp_bdat_reader_failed(&r));
	ck_assert_uint_eq(body.len, 5);
	/* Trickle: byte-at-a-time equals all-at-once. */
	const char *msg = "x\r\ny\nz\r.\r\n";
	struct core_buf a = CORE_BUF_INIT, b = CORE_BUF_INIT;
	struct smtp_sink sa = {buf_sink, &a}, sb = {buf_sink, &b};
	smtp_bdat_reader_init(&r, SMTP_BARE_CONVERT, false, 0, &sa);
	smtp_bdat_reader_chunk(&r, strlen(msg));
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, msg, strlen(msg), &used), CORE_DONE);
	smtp_bdat_reader_finish(&r);
	smtp_bdat_reader_init(&r, SMTP_BARE_CONVERT, false, 0, &sb);
	for (size_t i = 0; i < strlen(msg); i++) {
		smtp_bdat_reader_chunk(&r, 1);
		ck_assert_int_eq(smtp_bdat_reader_feed(&r, msg + i, 1, &used), CORE_DONE);
	}
	smtp_bdat_reader_finish(&r);
	ck_assert_str_eq(core_buf_cstr(&a), core_buf_cstr(&b));
	ck_assert_str_eq(core_buf_cstr(&a), "x\r\ny\r\nz\r\n.\r\n");
	/* Size limit. */
	smtp_bdat_reader_init(&r, SMTP_BARE_REJECT, false, 4, &sink);
	smtp_bdat_reader_chunk(&r, 6);
	ck_assert_int_eq(smtp_bdat_reader_feed(&r, "abcdef", 6, &used), CORE_DONE);
	ck_assert(r.flags & SMTP_BODY_TOO_BIG);
	core_buf_fini(&a);
	core_buf_fini(&b);
	core_buf_fini(&body);
}
END_TEST

static Suite *parse_suite(void)
{
	Suite *s = suite_create("smtp_parse");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_smtp_cmd_parse_table);
	tcase_add_test(tc, test_smtp_cmd_params);
	tcase_add_test(tc, test_smtp_framing_table);
	tcase_add_test(tc, test_smtp_line_limit);
	tcase_add_test(tc, test_smtp_parser_trickle);
	tcase_add_test(tc, test_smtp_data_reader_table);
	tcase_add_test(tc, test_smtp_data_reader_limits);
	tcase_add_test(tc, test_smtp_bdat_reader);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
