/*
 * test_smtp_hold.c: per-session service state (services->session_new / session_free) and
 * smtp_session_hold / smtp_session_release: callbacks get the session's own ctx, a held
 * session outlives smtp_session_free until the last release (which tells the caller it is
 * gone), nothing is written to a connection that went away, and an unheld session frees at
 * once. Also the close after an overlong command line that never ends.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "smtp/smtp.h"

struct conn_log {
	struct core_buf out;
	int closes;
};

static int c_write(void *arg, const void *p, size_t n)
{
	struct conn_log *c = arg;
	core_buf_append(&c->out, p, n);
	return 0;
}

static void c_close(void *arg)
{
	((struct conn_log *)arg)->closes++;
}

struct sess_state {
	int id;
	int frees;
	int checks;
	struct smtp_session *s;
};

static struct sess_state states[4];
static int nstates;
static void *listener_ctx = &nstates;

static void *s_new(void *ctx, struct smtp_session *s, const struct smtp_conn *conn)
{
	ck_assert_ptr_eq(ctx, listener_ctx);
	ck_assert_ptr_nonnull(conn);
	struct sess_state *st = &states[nstates];
	st->id = nstates++;
	st->s = s;
	return st;
}

static void s_free(void *sctx)
{
	((struct sess_state *)sctx)->frees++;
}

static struct smtp_session *pending_session;

static int s_check_rcpt(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
			const struct smtp_rcpt *rcpt, struct smtp_verdict *out)
{
	struct sess_state *st = ctx;
	(void)env;
	(void)rcpt;
	(void)out;
	ck_assert_ptr_eq(st->s, s);
	st->checks++;
	pending_session = s;
	return SMTP_PENDING;
}

static const struct smtp_services svc = {
	.ctx = &nstates,
	.check_rcpt = s_check_rcpt,
	.session_new = s_new,
	.session_free = s_free,
};

static void feed(struct smtp_session *s, const char *text)
{
	smtp_session_feed(s, text, strlen(text));
}

START_TEST(test_smtp_hold_release)
{
	memset(states, 0, sizeof(states));
	nstates = 0;
	struct conn_log c1 = {CORE_BUF_INIT, 0}, c2 = {CORE_BUF_INIT, 0};
	struct smtp_conn conn1 = {.arg = &c1, .write = c_write, .close = c_close};
	struct smtp_conn conn2 = {.arg = &c2, .write = c_write, .close = c_close};
	struct smtp_config cfg = {.hostname = "mx.test"};
	struct smtp_session *a = smtp_session_new(&cfg, &conn1, &svc);
	struct smtp_session *b = smtp_session_new(&cfg, &conn2, &svc);
	ck_assert_int_eq(nstates, 2);
	/* Each session's callbacks get its own state. */
	feed(a, "EHLO c\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<r@example.org>\r\n");
	ck_assert_int_eq(states[0].checks, 1);
	ck_assert_int_eq(states[1].checks, 0);
	ck_assert(smtp_session_pending(a));
	/* A worker holds the session; the client goes away meanwhile. */
	smtp_session_hold(a);
	size_t before = c1.out.len;
	struct smtp_session *gone = a;
	smtp_session_free(&a);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(states[0].frees, 0); /* still held */
	/* The worker's completion learns the session is gone: it must not resume it. */
	ck_assert(!smtp_session_release(gone));
	ck_assert_int_eq(states[0].frees, 1);
	ck_assert_uint_eq(c1.out.len, before);
	/* A held session that stays open is resumed normally. */
	feed(b, "EHLO c\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<r@example.org>\r\n");
	ck_assert_ptr_eq(pending_session, b);
	smtp_session_hold(b);
	ck_assert(smtp_session_release(b));
	struct smtp_verdict v = {250, "2.1.5", "OK"};
	smtp_session_resume(b, &v, 1);
	ck_assert(!smtp_session_pending(b));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&c2.out), "250 2.1.5 OK"));
	/* Unheld: freed at once. */
	smtp_session_free(&b);
	ck_assert_int_eq(states[1].frees, 1);
	core_buf_fini(&c1.out);
	core_buf_fini(&c2.out);
}
END_TEST

START_TEST(test_smtp_overlong_line_closes)
{
	struct conn_log c = {CORE_BUF_INIT, 0};
	struct smtp_conn conn = {.arg = &c, .write = c_write, .close = c_close};
	struct smtp_config cfg = {.hostname = "mx.test"};
	struct smtp_session *s = smtp_session_new(&cfg, &conn, NULL);
	char chunk[4096];
	memset(chunk, 'A', sizeof(chunk));
	/* RFC 5321 §4.5.3.1.10: a line over the limit; one that never ends is cut off (no EHLO
	 * yet, so no enhanced codes, RFC 2034 §3). */
	for (int i = 0; i < 8 && !smtp_session_closed(s); i++)
		smtp_session_feed(s, chunk, sizeof(chunk));
	ck_assert(!smtp_session_closed(s)); /* 32 KiB: still waiting for the end of line */
	for (int i = 0; i < 16 && !smtp_session_closed(s); i++)
		smtp_session_feed(s, chunk, sizeof(chunk));
	ck_assert(smtp_session_closed(s));
	ck_assert_int_eq(c.closes, 1);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&c.out), "500 Line too long"));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&c.out), "421 mx.test Line too long"));
	smtp_session_free(&s);
	/* A long line that ends is only refused, the session goes on. */
	core_buf_reset(&c.out);
	s = smtp_session_new(&cfg, &conn, NULL);
	smtp_session_feed(s, chunk, sizeof(chunk));
	smtp_session_feed(s, "\r\nNOOP\r\n", 8);
	ck_assert(!smtp_session_closed(s));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&c.out), "500 Line too long"));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&c.out), "250"));
	smtp_session_free(&s);
	core_buf_fini(&c.out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("smtp_hold");
	TCase *tc = tcase_create("hold");
	tcase_add_test(tc, test_smtp_hold_release);
	tcase_add_test(tc, test_smtp_overlong_line_closes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
