/*
 * test_smtp_session.c: whole sessions through smtp_session_feed() with a fake connection and
 * fake services (helper_smtp.c): every command, the sequencing errors of RFC 5321 §4.1.4,
 * pipelining (RFC 2920), every extension's parameters, the smuggling cases, limits, LMTP.
 * Each transcript runs twice: input fed whole, and byte at a time.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_smtp.h"

static void run_transcripts(const char *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int trickle = 0; trickle < 2; trickle++) {
			struct core_buf diag = CORE_BUF_INIT;
			int rc = transcript_run(t[i], trickle != 0, &diag);
			ck_assert_msg(rc == 0, "transcript %zu (%s):\n%s", i,
				      trickle ? "trickle" : "whole", core_buf_cstr(&diag));
			core_buf_fini(&diag);
		}
	}
}

#define RUN(arr) run_transcripts(arr, sizeof(arr) / sizeof(arr[0]))

/* A full transaction, the base commands and the Received header. */
static const char *const basic[] = {
	"S: 220\n"
	"S~ 220 mx.test ESMTP\n"
	"C: EHLO client.test\n"
	"S: 250\n"
	"S~ 250-mx.test greets client.test\r\n"
	"S~ 250-PIPELINING\r\n"
	"S~ 250-SIZE 52428800\r\n"
	"S~ 250-8BITMIME\r\n"
	"S~ 250-CHUNKING\r\n"
	"S~ 250-BINARYMIME\r\n"
	"S~ 250-SMTPUTF8\r\n"
	"S~ 250-DSN\r\n"
	"S~ 250-ENHANCEDSTATUSCODES\r\n"
	"S~ 250-DELIVERBY 60\r\n"
	"S~ 250-MT-PRIORITY\r\n"
	"S~ 250-FUTURERELEASE 604800 \n"
	"S~ 250 HELP\r\n"
	"S! STARTTLS\n"
	"S! AUTH\n"
	"S! REQUIRETLS\n"
	"C: MAIL FROM:<a@example.org>\n"
	"S: 250\n"
	"S~ 250 2.1.0 \n"
	"C: RCPT TO:<b@example.net>\n"
	"S: 250\n"
	"S~ 250 2.1.5 \n"
	"C: DATA\n"
	"S: 354\n"
	"C: Subject: hi\n"
	"C:\n"
	"C: ..body\n"
	"C: .\n"
	"S: 250\n"
	"M= 1\n"
	"M~ Subject: hi\\r\\n\\r\\n.body\\r\\n\n"
	"M~ Received: from client.test ([192.0.2.7])\\r\\n\\tby mx.test\\r\\n\\twith ESMTP id \n"
	"M~ \\r\\n\\tfor <b@example.net>;\\r\\n\\t\n"
	"E~ from=<a@example.org> body=7BIT rcpt=<b@example.net>\n"
	"C: QUIT\n"
	"S: 221\n"
	"CLOSED\n",
	/* HELO: no extensions, no enhanced codes, no parameters. */
	"S: 220\n"
	"C: HELO client.test\n"
	"S: 250\n"
	"S! PIPELINING\n"
	"C: MAIL FROM:<a@example.org> SIZE=10\n"
	"S: 555\n"
	"C: MAIL FROM:<a@example.org>\n"
	"S: 250\n"
	"S! 2.1.0\n"
	"C: RCPT TO:<b@example.net>\n"
	"C: RCPT TO:<c@example.net>\n"
	"C: DATA\n"
	"S: 250 250 354\n"
	"C: x\n"
	"C: .\n"
	"S: 250\n"
	"M~ with SMTP id\n"
	"M! for <\n"
	"E~ rcpt=<b@example.net> rcpt=<c@example.net>\n",
	/* NOOP, HELP, RSET, VRFY (252 by default), EXPN (502 by default). */
	"S: 220\n"
	"C: NOOP\n"
	"C: NOOP with argument\n"
	"C: HELP\n"
	"C: HELP MAIL\n"
	"C: RSET\n"
	"C: VRFY someone\n"
	"C: EXPN list\n"
	"C: VRFY\n"
	"S: 250 250 214 214 250 252 502 501\n"
	"OPEN\n",
	/* VRFY / EXPN enabled: answered through the services. */
	"@set vrfy=1 expn=1\n"
	"S: 220\n"
	"C: VRFY user\n"
	"C: VRFY nobody\n"
	"C: EXPN list\n"
	"S: 250 550 250\n",
	/* Invalid HELO arguments. */
	"S: 220\n"
	"C: EHLO\n"
	"C: HELO\n"
	"C: EHLO a b\n"
	"C: EHLO [192.0.2.1]\n"
	"S: 501 501 501 250\n",
	/* Rate-limit hook and sender / recipient refusals. */
	"@set reject_sender=spam reject_rcpt=nobody tempfail_rcpt=later\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<ratelimited@x.org>\n"
	"C: MAIL FROM:<spam@x.org>\n"
	"C: MAIL FROM:<ok@x.org>\n"
	"C: RCPT TO:<nobody@x.org>\n"
	"C: RCPT TO:<later@x.org>\n"
	"C: DATA\n"
	"S: 250 451 553 250 550 450 554\n",
};

START_TEST(test_smtp_session_basic)
{
	RUN(basic);
}
END_TEST

/* RFC 5321 §4.1.4: order of commands and 503 replies. */
static const char *const sequencing[] = {
	"@set max_errors=20\n"
	"S: 220\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<a@b.c>\n"
	"C: DATA\n"
	"S: 503 503 503\n"
	"C: EHLO x\n"
	"C: RCPT TO:<a@b.c>\n"
	"C: DATA\n"
	"S: 250 503 503\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: DATA\n"
	"S: 250 503 554\n"
	"C: RSET\n"
	"C: RCPT TO:<a@b.c>\n"
	"S: 250 503\n"
	/* EHLO in the middle of a transaction resets it (§4.1.4). */
	"C: MAIL FROM:<a@b.c>\n"
	"C: EHLO y\n"
	"C: RCPT TO:<a@b.c>\n"
	"S: 250 250 503\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: RSET\n"
	"C: DATA\n"
	"S: 250 250 250 503\n"
	"M= 0\n",
	/* Unknown commands and empty lines: 500. */
	"S: 220\n"
	"C: XYZZY\n"
	"C:\n"
	"C: LHLO x\n"
	"S: 500 500 500\n",
	/* Extension verbs before EHLO. */
	"@set tls_available=1 auth=1\n"
	"S: 220\n"
	"C: STARTTLS\n"
	"C: AUTH PLAIN\n"
	"S: 503 503\n",
	/* QUIT ends the session: nothing after it is read. */
	"S: 220\n"
	"C: QUIT\n"
	"C: NOOP\n"
	"S: 221\n"
	"CLOSED\n",
	/* Syntax errors in MAIL / RCPT: 501 with the address codes. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:a@b.c\n"
	"C: MAIL FROM:<a@b.c> SIZE=1 SIZE=2\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<>\n"
	"C: RCPT TO:<a b@c>\n"
	"C: RCPT TO:<Postmaster>\n"
	"S: 250 501 501 250 501 501 250\n"
	"S~ 501 5.1.3 \n",
};

START_TEST(test_smtp_session_sequencing)
{
	RUN(sequencing);
}
END_TEST

/* RFC 2920 pipelining. */
static const char *const pipelining[] = {
	"@set reject_rcpt=bad\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: RCPT TO:<bad@e.f>\n"
	"C: RCPT TO:<g@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 550 250 354\n"
	"C: hello\n"
	"C: .\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"C: second\n"
	"C: .\n"
	"C: QUIT\n"
	"S: 250 221\n"
	"M= 2\n"
	"M~ second\n",
	/* RFC 2920 §3.2 (3)-(4): no valid recipient, DATA refused; the pipelined body is
	 * then read as commands and no message is sent. */
	"@set reject_rcpt=bad\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<bad@e.f>\n"
	"C: DATA\n"
	"C: hello\n"
	"C: .\n"
	"C: NOOP\n"
	"S: 250 250 550 554 500 500 250\n"
	"M= 0\n",
	/* Services that answer later: order is kept. */
	"@set async=1 reject_rcpt=bad\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<bad@e.f>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 550 250 354\n"
	"C: body\n"
	"C: .\n"
	"C: NOOP\n"
	"S: 250 250\n"
	"M= 1\n",
};

START_TEST(test_smtp_session_pipelining)
{
	RUN(pipelining);
}
END_TEST

START_TEST(test_smtp_pipelining_groups)
{
	/* RFC 2920 §3.2 (2): grouped MAIL/RCPT replies go out together; (5) NOOP and EHLO
	 * replies are never held back. */
	struct fake f;
	fake_init(&f);
	fake_start(&f);
	struct core_buf codes = CORE_BUF_INIT;
	fake_take_codes(&f, &codes, NULL);
	fake_feed_str(&f, "EHLO x\r\n");
	core_buf_reset(&codes);
	fake_take_codes(&f, &codes, NULL);
	const char *group = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@e.f>\r\n";
	/* Feed the group without its last byte: nothing may be written before the group's
	 * input is used up, except what must be flushed. */
	size_t used = smtp_session_feed(f.s, group, strlen(group) - 1);
	ck_assert_uint_eq(used, strlen(group) - 1);
	/* After the input ran out the first two replies were flushed together. */
	core_buf_reset(&codes);
	fake_take_codes(&f, &codes, NULL);
	ck_assert_str_eq(core_buf_cstr(&codes), "250 250");
	used = smtp_session_feed(f.s, "\n", 1);
	core_buf_reset(&codes);
	fake_take_codes(&f, &codes, NULL);
	ck_assert_str_eq(core_buf_cstr(&codes), "250");
	core_buf_fini(&codes);
	fake_fini(&f);
}
END_TEST

/* SMTP smuggling: only <CRLF>.<CRLF> ends DATA; smuggled commands are never run. */
static const char *const smuggling[] = {
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: hello\\n.\\nMAIL FROM:<evil@x.org>\\r\\nRCPT "
	"TO:<v@x.org>\\r\\nDATA\\r\\nevil\\r\\n.\\r\\n\n"
	"S: 550\n"
	"S~ 550 5.6.0 \n"
	"M= 0\n"
	"C: NOOP\n"
	"S: 250\n",
	"@set bare_data=convert\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: hello\\n.\\nMAIL FROM:<evil@x.org>\\r\\nDATA\\r\\nevil\\r\\n.\\r\\n\n"
	"S: 250\n"
	"M= 1\n"
	"M~ hello\\r\\n.\\r\\nMAIL FROM:<evil@x.org>\\r\\nDATA\\r\\nevil\\r\\n\n"
	"E~ from=<a@b.c>\n",
	"@set bare_data=convert\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: a\\r.\\rMAIL FROM:<e@x>\\r\\n.\\r\\n\n"
	"S: 250\n"
	"M~ a\\r\\n.\\r\\nMAIL FROM:<e@x>\\r\\n\n",
	"@set bare_data=convert\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: a\\n.\\r\\nMAIL FROM:<e@x>\\r\\n.\\r\\n\n"
	"S: 250\n"
	"M~ a\\r\\n.\\r\\nMAIL FROM:<e@x>\\r\\n\n",
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: a\\r\\n.\\nMAIL FROM:<e@x>\\r\\n.\\r\\n\n"
	"S: 550\n"
	"M= 0\n",
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: a\\r\\n.\\rMAIL FROM:<e@x>\\r\\n.\\r\\n\n"
	"S: 550\n"
	"M= 0\n",
	/* Across BDAT chunks: CR at the end of one chunk and LF at the start of the next
	 * make a CRLF; a bare LF inside a chunk is refused. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250 250\n"
	"R: BDAT 2\\r\\na\\rBDAT 4 LAST\\r\\n\\nb\\r\\n\n"
	"S: 250 250\n"
	"M~ a\\r\\nb\\r\\n\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250\n"
	"R: BDAT 4\\r\\na\\n.\\nBDAT 3 LAST\\r\\nx\\r\\n\n"
	"S: 250 550\n"
	"M= 1\n",
};

START_TEST(test_smtp_session_smuggling)
{
	RUN(smuggling);
}
END_TEST

/* RFC 3030 CHUNKING and BINARYMIME. */
static const char *const chunking[] = {
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250 250\n"
	"R: BDAT 5\\r\\nhelloBDAT 8 LAST\\r\\n world\\r\\n\n"
	"S: 250 250\n"
	"S~ 250 2.0.0 5 octets received\n"
	"M~ hello world\\r\\n\n"
	/* BDAT 0 LAST ends a message begun with BDAT. */
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250\n"
	"R: BDAT 3\\r\\nabcBDAT 0 LAST\\r\\n\n"
	"S: 250 250\n"
	"M= 2\n"
	"M~ abc\n"
	/* DATA after BDAT is a sequencing error; RSET aborts. */
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250\n"
	"R: BDAT 3\\r\\nabcDATA\\r\\nRSET\\r\\n\n"
	"S: 250 503 250\n"
	"M= 2\n",
	/* BDAT without a transaction or recipients: the chunk is read and dropped. */
	"@set reject_rcpt=bad\n"
	"S: 220\n"
	"C: EHLO x\n"
	"R: BDAT 6\\r\\nNOOP\\r\\n\n"
	"S: 250 503\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<bad@b.c>\n"
	"R: BDAT 6 LAST\\r\\nNOOP\\r\\n\n"
	"S: 250 550 554\n"
	"C: NOOP\n"
	"S: 250\n"
	"M= 0\n",
	/* BDAT before EHLO: refused, but its chunk is still read (never run as commands). */
	"S: 220\n"
	"R: BDAT 6\\r\\nRSET\\r\\n\n"
	"S: 503\n"
	"C: HELO x\n"
	"R: BDAT 6 LAST\\r\\nQUIT\\r\\n\n"
	"S: 250 503\n"
	"OPEN\n",
	/* A BDAT we cannot size closes the connection. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: BDAT many\n"
	"S: 250 501 421\n"
	"CLOSED\n",
	/* BINARYMIME: DATA refused, BDAT carries any octets. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> BODY=BINARYMIME\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 503\n"
	"R: BDAT 4 LAST\\r\\n\\n\\r\\xff\\x00\n"
	"S: 250\n"
	"E~ body=BINARYMIME\n",
	/* Size limit across chunks. */
	"@set max_size=10\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"S: 250 250 250\n"
	"R: BDAT 8\\r\\n12345678BDAT 8 LAST\\r\\n12345678\n"
	"S: 250 552\n"
	"M= 0\n",
};

START_TEST(test_smtp_ext_chunking)
{
	RUN(chunking);
}
END_TEST

/* Extension parameters, valid and invalid. */
static const char *const params[] = {
	/* SIZE (RFC 1870) */
	"@set max_size=1000\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S~ 250-SIZE 1000\r\n"
	"C: MAIL FROM:<a@b.c> SIZE=abc\n"
	"C: MAIL FROM:<a@b.c> SIZE=1001\n"
	"C: MAIL FROM:<a@b.c> SIZE\n"
	"C: MAIL FROM:<a@b.c> SIZE=999\n"
	"S: 501 552 501 250\n"
	"S~ 552 5.3.4 \n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 354\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"R: 0123456789012345678901234567890123456789012345678901234567890123456789\\r\\n\n"
	"C: .\n"
	"S: 552\n"
	"M= 0\n",
	/* 8BITMIME (RFC 6152) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> BODY=8BITMIME\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: caf\\xc3\\xa9\\r\\n.\\r\\n\n"
	"S: 250\n"
	"E~ body=8BITMIME\n"
	"C: MAIL FROM:<a@b.c> BODY=7bit\n"
	"C: RSET\n"
	"C: MAIL FROM:<a@b.c> BODY=9BIT\n"
	"C: MAIL FROM:<a@b.c> BODY\n"
	"S: 250 250 501 501\n",
	/* SMTPUTF8 (RFC 6531) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή>\n"
	"C: MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8=yes\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<用户@例子.广告>\n"
	"C: RSET\n"
	"C: MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8\n"
	"C: RCPT TO:<用户@例子.广告>\n"
	"C: DATA\n"
	"S: 250 553 501 250 553 250 250 250 354\n"
	"C: x\n"
	"C: .\n"
	"S: 250\n"
	"E~ smtputf8 rcpt=<用户@例子.广告>\n"
	"M~ with UTF8SMTP id\n",
	/* DSN (RFC 3461) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> RET=FULL RET=HDRS\n"
	"C: MAIL FROM:<a@b.c> RET=BODY\n"
	"C: MAIL FROM:<a@b.c> ENVID=a=b\n"
	"C: MAIL FROM:<a@b.c> ENVID=bad+zz\n"
	"C: MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ+2B314\n"
	"C: RCPT TO:<d@e.f> NOTIFY=NEVER,SUCCESS\n"
	"C: RCPT TO:<d@e.f> NOTIFY=SOMETIMES\n"
	"C: RCPT TO:<d@e.f> ORCPT=rfc822\n"
	"C: RCPT TO:<d@e.f> ORCPT=rfc822;d+40e.f NOTIFY=SUCCESS,DELAY\n"
	"C: DATA\n"
	"S: 250 501 501 501 501 250 501 501 501 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ ret=HDRS envid=QQ+314\n"
	"E~ rcpt=<d@e.f> notify=a orcpt=rfc822;d@e.f\n",
	/* DELIVERBY (RFC 2852) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> BY=0;R\n"
	"C: MAIL FROM:<a@b.c> BY=30;R\n"
	"C: MAIL FROM:<a@b.c> BY=120\n"
	"C: MAIL FROM:<a@b.c> BY=120;X\n"
	"C: MAIL FROM:<a@b.c> BY=1234567890;N\n"
	"C: MAIL FROM:<a@b.c> BY=-30;NT\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 501 553 501 501 501 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ by=-30;NT\n",
	/* MT-PRIORITY (RFC 6710) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> MT-PRIORITY=10\n"
	"C: MAIL FROM:<a@b.c> MT-PRIORITY=-0\n"
	"C: MAIL FROM:<a@b.c> MT-PRIORITY=+3\n"
	"C: MAIL FROM:<a@b.c> MT-PRIORITY=-9\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 501 501 501 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ priority=-9\n",
	/* FUTURERELEASE (RFC 4865) */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> HOLDFOR=0\n"
	"C: MAIL FROM:<a@b.c> HOLDFOR=99999999\n"
	"C: MAIL FROM:<a@b.c> HOLDUNTIL=2000-01-01T00:00:00Z\n"
	"C: MAIL FROM:<a@b.c> HOLDUNTIL=tomorrow\n"
	"C: MAIL FROM:<a@b.c> HOLDFOR=60 HOLDUNTIL=2000-01-01T00:00:00Z\n"
	"C: MAIL FROM:<a@b.c> HOLDFOR=3600\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 501 501 501 501 501 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ hold\n",
	/* REQUIRETLS (RFC 8689): not in cleartext; on TLS it is offered and kept. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> REQUIRETLS\n"
	"S: 250 530\n",
	"@set tls=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S~ 250-REQUIRETLS\r\n"
	"C: MAIL FROM:<a@b.c> REQUIRETLS=1\n"
	"C: MAIL FROM:<a@b.c> REQUIRETLS\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 501 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ requiretls\n"
	"M~ by mx.test (TLSv1.3 cipher TLS_AES_256_GCM_SHA384)\\r\\n\\twith ESMTPS id\n",
	/* Unknown and disabled parameters: 555 (RFC 5321 §4.1.1.11). */
	"@set disable=SIZE\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S! SIZE\n"
	"C: MAIL FROM:<a@b.c> FOO=1\n"
	"C: MAIL FROM:<a@b.c> SIZE=10\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f> BAR\n"
	"S: 555 555 250 555\n",
	/* ENHANCEDSTATUSCODES off: plain replies. */
	"@set disable=ENHANCEDSTATUSCODES\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"S: 250 250\n"
	"S! 2.1.0\n",
	/* AUTH= on MAIL (RFC 4954 §5). */
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c> AUTH=<>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ auth=<>\n",
};

START_TEST(test_smtp_ext_params)
{
	RUN(params);
}
END_TEST

/* RFC 3207 STARTTLS. */
static const char *const starttls[] = {
	"@set tls_available=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S~ 250-STARTTLS\r\n"
	"C: STARTTLS now\n"
	"S: 501\n"
	/* Pipelined input behind STARTTLS is dropped. */
	"C: STARTTLS\n"
	"C: MAIL FROM:<injected@x.org>\n"
	"S: 220\n"
	"STARTTLS_CALLS 1\n"
	"TLS\n"
	/* State learned in cleartext is forgotten: EHLO again. */
	"C: MAIL FROM:<a@b.c>\n"
	"S: 503\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S! STARTTLS\n"
	"S~ REQUIRETLS\n"
	"C: STARTTLS\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 503 250 250 354\n"
	"C: .\n"
	"S: 250\n"
	"M~ with ESMTPS\n",
	/* Not available: 454; in a transaction: 503. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: STARTTLS\n"
	"S: 250 454\n",
	"@set tls_available=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: STARTTLS\n"
	"S: 250 250 503\n",
};

START_TEST(test_smtp_ext_starttls)
{
	RUN(starttls);
}
END_TEST

/* RFC 4954 AUTH through the SASL framework. */
static const char *const auth[] = {
	"@set auth=1 submission=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S~ 250-AUTH PLAIN LOGIN\r\n"
	"C: MAIL FROM:<alice@b.c>\n"
	"S: 530\n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"S: 235\n"
	"S~ 235 2.7.0 \n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"S: 503\n"
	"C: MAIL FROM:<alice@b.c>\n"
	"C: AUTH PLAIN\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 503 250 354\n"
	"C: .\n"
	"S: 250\n"
	"E~ user=alice\n"
	"M~ with ESMTPA id\n",
	/* The sender check sees the authenticated user (submission ownership policy). */
	"@set auth=1 submission=1 owner_check=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"C: MAIL FROM:<bob@b.c>\n"
	"C: MAIL FROM:<alice@b.c>\n"
	"S: 250 235 553 250\n",
	/* Without an initial response, then LOGIN, cancel, errors. */
	"@set auth=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN\n"
	"S: 250 334\n"
	"S~ 334 \r\n"
	"C: *\n"
	"S: 501\n"
	"C: AUTH FOO\n"
	"S: 504\n"
	"C: AUTH PLAIN !!!\n"
	"S: 501\n"
	"C: AUTH LOGIN\n"
	"S: 334\n"
	"C: YWxpY2U=\n"
	"S: 334\n"
	"C: c2VjcmV0\n"
	"S: 235\n",
	/* The SASL step runs through services->sasl_step and answers later. */
	"@set auth=1 sasl_async=1 submission=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN AGFsaWNlAHdyb25n\n"
	"C: AUTH LOGIN\n"
	"S: 250 535 334\n"
	"C: YWxpY2U=\n"
	"S: 334\n"
	"C: c2VjcmV0\n"
	"C: MAIL FROM:<alice@b.c>\n"
	"S: 235 250\n",
	/* RFC 4954 §4: AUTH lines may exceed the command line limit; other lines may not. */
	"@set auth=1 max_line=512\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN "
	"AGFsaWNlAHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH"
	"h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
	"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH"
	"h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
	"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH"
	"h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
	"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH"
	"h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
	"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA"
	"=="
	"\n"
	"C: AUTH LOGIN\n"
	"S: 250 535 334\n"
	"C: "
	"YWxpY2V5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eX"
	"l5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5"
	"eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eX"
	"l5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5"
	"eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eX"
	"l5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5"
	"eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eX"
	"l5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5"
	"eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk="
	"\n"
	"S: 334\n"
	"C: *\n"
	"C: NOOP "
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
	"\n"
	"S: 501 500\n",
	/* Failures: 535, and 421 after too many. */
	"@set auth=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN AGFsaWNlAHdyb25n\n"
	"C: AUTH PLAIN AGFsaWNlAHdyb25n\n"
	"C: AUTH PLAIN AGFsaWNlAHdyb25n\n"
	"S: 250 535 535 535 421\n"
	"CLOSED\n",
	/* TLS required for AUTH: not offered, 538. */
	"@set auth=1 auth_tls_only=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"S: 250\n"
	"S! AUTH\n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"S: 538\n",
	"@set auth=1 auth_tls_only=1 tls=1\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"S: 250 235\n",
	/* Without AUTH configured. */
	"S: 220\n"
	"C: EHLO x\n"
	"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	"S: 250 502\n",
};

START_TEST(test_smtp_ext_auth)
{
	RUN(auth);
}
END_TEST

/* RFC 2033 LMTP. */
static const char *const lmtp[] = {
	"@set lmtp=1 fail_delivery=full reject_rcpt=bad\n"
	"S: 220\n"
	"S~ LMTP\n"
	"C: EHLO x\n"
	"C: HELO x\n"
	"C: LHLO x\n"
	"S: 500 500 250\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<u1@x.org>\n"
	"C: RCPT TO:<full@x.org>\n"
	"C: RCPT TO:<bad@x.org>\n"
	"C: RCPT TO:<u2@x.org>\n"
	"C: DATA\n"
	"S: 250 250 250 550 250 354\n"
	"C: hi\n"
	"C: .\n"
	"S: 250 452 250\n"
	"M~ with LMTP id\n"
	/* BDAT in LMTP: one reply per recipient after LAST. */
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<u1@x.org>\n"
	"C: RCPT TO:<full@x.org>\n"
	"S: 250 250 250\n"
	"R: BDAT 4 LAST\\r\\nhi\\r\\n\n"
	"S: 250 452\n"
	/* A refused message gets one reply per recipient too. */
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<u1@x.org>\n"
	"C: RCPT TO:<u2@x.org>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"R: bare\\nlf\\r\\n.\\r\\n\n"
	"S: 550 550\n",
	"@set lmtp=1 async=1 fail_delivery=full\n"
	"S: 220\n"
	"C: LHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<full@x.org>\n"
	"C: RCPT TO:<u1@x.org>\n"
	"C: DATA\n"
	"S: 250 250 250 250 354\n"
	"C: hi\n"
	"C: .\n"
	"C: QUIT\n"
	"S: 452 250 221\n",
};

START_TEST(test_smtp_lmtp)
{
	RUN(lmtp);
}
END_TEST

/* Limits of RFC 5321 §4.5.3.1 and of the configuration. */
static const char *const limits[] = {
	"@set max_rcpts=2\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d1@e.f>\n"
	"C: RCPT TO:<d2@e.f>\n"
	"C: RCPT TO:<d3@e.f>\n"
	"S: 250 250 250 250 452\n"
	"S~ 452 4.5.3 \n",
	"@set max_errors=3\n"
	"S: 220\n"
	"C: FOO\n"
	"C: BAR\n"
	"C: BAZ\n"
	"C: NOOP\n"
	"S: 500 500 500 421\n"
	"CLOSED\n",
	"@set max_commands=3\n"
	"S: 220\n"
	"C: NOOP\n"
	"C: NOOP\n"
	"C: NOOP\n"
	"C: NOOP\n"
	"S: 250 250 250 421\n"
	"CLOSED\n",
	/* RFC 5321 §6.3: loop detection by counting Received lines (ours counts). */
	"@set max_hops=3\n"
	"S: 220\n"
	"C: EHLO x\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 250 354\n"
	"C: Received: from a\n"
	"C: RECEIVED: from b\n"
	"C: X-Received: no\n"
	"C: Subject: x\n"
	"C:\n"
	"C: Received: in the body does not count\n"
	"C: .\n"
	"S: 250\n"
	"C: MAIL FROM:<a@b.c>\n"
	"C: RCPT TO:<d@e.f>\n"
	"C: DATA\n"
	"S: 250 250 354\n"
	"C: Received: from a\n"
	"C: Received: from b\n"
	"C:  continued\n"
	"C: received: from c\n"
	"C:\n"
	"C: .\n"
	"S: 554\n"
	"S~ 554 5.4.6 \n"
	"M= 1\n",
	/* Bare LF in a command line: refused by default, accepted when converting. */
	"S: 220\n"
	"R: NOOP\\nNOOP\\r\\n\n"
	"S: 500 250\n",
	"@set bare_cmd=convert\n"
	"S: 220\n"
	"R: NOOP\\nNOOP\\r\\n\n"
	"S: 250 250\n",
	"@set max_line=512\n"
	"S: 220\n"
	"C: NOOP "
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"\n"
	"C: NOOP\n"
	"S: 500 250\n"
	"S~ 500 Line too long\n",
};

START_TEST(test_smtp_session_limits)
{
	RUN(limits);
}
END_TEST

/* Direct API checks: greeting refusal, shutdown, timeouts, error mapping, Received. */
static int rate_refuse(void *ctx, enum smtp_rate_event ev, struct core_str subject,
		       struct smtp_verdict *out)
{
	(void)ctx;
	(void)subject;
	if (ev == SMTP_RATE_CONNECT)
		*out = (struct smtp_verdict){554, "5.7.1", "Go away"};
	return 0;
}

START_TEST(test_smtp_session_api)
{
	struct fake f;
	struct core_buf codes = CORE_BUF_INIT;
	fake_init(&f);
	f.svc.rate_check = rate_refuse;
	fake_start(&f);
	fake_take_codes(&f, &codes, NULL);
	ck_assert_str_eq(core_buf_cstr(&codes), "554");
	ck_assert(f.closed);
	ck_assert(smtp_session_closed(f.s));
	ck_assert_uint_eq(smtp_session_feed(f.s, "NOOP\r\n", 6), 0);
	fake_fini(&f);

	fake_init(&f);
	fake_start(&f);
	ck_assert_uint_eq(smtp_session_timeout_secs(f.s), SMTP_TIMEOUT_SERVER);
	ck_assert_uint_ge(SMTP_TIMEOUT_SERVER, 300);
	smtp_session_shutdown(f.s);
	core_buf_reset(&codes);
	fake_take_codes(&f, &codes, NULL);
	ck_assert_str_eq(core_buf_cstr(&codes), "220 421");
	ck_assert(f.closed);
	fake_fini(&f);

	fake_init(&f);
	fake_start(&f);
	smtp_session_timeout(f.s);
	core_buf_reset(&codes);
	fake_take_codes(&f, &codes, NULL);
	ck_assert_str_eq(core_buf_cstr(&codes), "220 421");
	fake_fini(&f);

	/* A failed TLS handshake closes the connection. */
	fake_init(&f);
	f.cfg.tls_available = true;
	fake_start(&f);
	fake_feed_str(&f, "EHLO x\r\nSTARTTLS\r\n");
	smtp_session_tls_done(f.s, false, NULL, NULL);
	ck_assert(f.closed);
	fake_fini(&f);

	/* A session freed in the middle of DATA aborts its spool. */
	fake_init(&f);
	fake_start(&f);
	fake_feed_str(&f, "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\npartial");
	ck_assert(f.spool_is_open);
	smtp_session_free(&f.s);
	ck_assert_int_eq(f.spool_aborts, 1);
	fake_fini(&f);

	/* Once deliver has the spool, ending the session does not abort it; input stops at the
	 * pending delivery and the session paused its connection. */
	fake_init(&f);
	f.async = true;
	fake_start(&f);
	const char *tx = "EHLO x\r\nMAIL FROM:<a@b.c>\r\n";
	fake_feed_str(&f, tx);
	const char *rest = "RCPT TO:<d@e.f>\r\n";
	fake_feed_str(&f, rest);
	const char *data = "DATA\r\nhi\r\n.\r\nNOOP\r\n";
	size_t used = smtp_session_feed(f.s, data, strlen(data));
	ck_assert_uint_eq(used, strlen(data) - strlen("NOOP\r\n"));
	ck_assert(smtp_session_pending(f.s));
	ck_assert(f.paused);
	smtp_session_free(&f.s);
	ck_assert_int_eq(f.spool_aborts, 0);
	ck_assert_uint_eq(f.nmsgs, 1);
	fake_fini(&f);

	static const struct {
		int err;
		int code;
		const char *enh;
	} map[] = {
		{CORE_ESYNTAX, 501, "5.5.2"},   {CORE_ELIMIT, 552, "5.3.4"},
		{CORE_ENOTFOUND, 550, "5.1.1"}, {CORE_EPERM, 550, "5.7.1"},
		{CORE_ETEMP, 451, "4.3.0"},     {CORE_ECONFLICT, 451, "4.3.0"},
		{CORE_EIO, 451, "4.3.0"},       {CORE_EINTERNAL, 451, "4.3.0"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct smtp_verdict v;
		smtp_reply_from_err(map[i].err, NULL, &v);
		ck_assert_int_eq(v.code, map[i].code);
		ck_assert_str_eq(v.enh, map[i].enh);
		ck_assert_ptr_nonnull(v.text);
	}
	core_buf_fini(&codes);
}
END_TEST

START_TEST(test_smtp_received)
{
	struct smtp_received r = {
		.helo = "client (evil)\r\nX: y",
		.remote_ip = "2001:db8::1",
		.remote_host = "host.example",
		.by_host = "mx.test",
		.with = "ESMTPS",
		.tls_version = "TLSv1.3",
		.tls_cipher = "TLS_AES_128_GCM_SHA256",
		.id = "ABC",
		.for_addr = "u@example.org",
		.when = 0,
	};
	struct core_buf b = CORE_BUF_INIT;
	smtp_received_format(&r, &b);
	ck_assert_str_eq(core_buf_cstr(&b),
			 "Received: from client__evil___X:_y (host.example [IPv6:2001:db8::1])\r\n"
			 "\tby mx.test (TLSv1.3 cipher TLS_AES_128_GCM_SHA256)\r\n"
			 "\twith ESMTPS id ABC\r\n"
			 "\tfor <u@example.org>;\r\n"
			 "\tThu, 01 Jan 1970 00:00:00 +0000\r\n");
	/* Malformed UTF-8 from the client never reaches the header; well-formed UTF-8 does. */
	core_buf_reset(&b);
	r.helo = "bad\xff\xfe";
	r.for_addr = "用户@例子.广告";
	smtp_received_format(&r, &b);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&b), "from bad__ ("));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&b), "for <用户@例子.广告>"));
	core_buf_fini(&b);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("smtp_session");
	TCase *tc = tcase_create("session");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_smtp_session_basic);
	tcase_add_test(tc, test_smtp_session_sequencing);
	tcase_add_test(tc, test_smtp_session_pipelining);
	tcase_add_test(tc, test_smtp_pipelining_groups);
	tcase_add_test(tc, test_smtp_session_smuggling);
	tcase_add_test(tc, test_smtp_ext_chunking);
	tcase_add_test(tc, test_smtp_ext_params);
	tcase_add_test(tc, test_smtp_ext_starttls);
	tcase_add_test(tc, test_smtp_ext_auth);
	tcase_add_test(tc, test_smtp_lmtp);
	tcase_add_test(tc, test_smtp_session_limits);
	tcase_add_test(tc, test_smtp_session_api);
	tcase_add_test(tc, test_smtp_received);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(session_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
