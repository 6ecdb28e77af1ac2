/*
 * helper_smtp.h: a fake connection and fake services for driving struct smtp_session through
 * smtp_session_feed(), and the interpreter of the transcript format of conformance/smtp/
 * (documented in conformance/smtp/README.md).
 */
#ifndef STAUNCH_TESTS_SMTP_HELPER_H
#define STAUNCH_TESTS_SMTP_HELPER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "directory/sasl.h"
#include "smtp/smtp.h"

#define FAKE_MAX_MSGS 16

struct fake {
	struct smtp_config cfg;
	struct smtp_conn conn;
	struct smtp_services svc;
	struct sasl_config sasl_cfg;
	struct sasl_backend sasl_be;
	struct smtp_session *s;
	struct core_buf out; /* all output since the last take */
	bool closed;
	int starttls_calls;
	bool paused;      /* the session paused its input (pending verdict) */
	int pause_errors; /* pending without pause, or resumed twice */
	/* policy knobs */
	char reject_rcpt[64];   /* RCPT whose address contains this: 550 */
	char tempfail_rcpt[64]; /* ...: 450 */
	char reject_sender[64]; /* MAIL whose address contains this: 553 */
	char fail_delivery[64]; /* recipients failing at delivery: 452 (LMTP per recipient) */
	bool async;             /* services answer SMTP_PENDING, resumed by the feeder */
	bool owner_check;
	bool auth_pending; /* a SASL step ran "on a worker"; resume with auth_status */
	int auth_status;   /* an authenticated user may only send as <user@...> */
	bool trickle;      /* feed byte at a time */
	/* pending async answer */
	struct smtp_verdict pend[128];
	size_t npend;
	/* spool and deliveries */
	struct core_buf spool;
	bool spool_is_open;
	int spool_aborts;
	struct core_buf msgs[FAKE_MAX_MSGS];
	size_t nmsgs;
	struct core_buf envlog; /* one line per delivered envelope */
	struct core_buf ratelog;
};

void fake_init(struct fake *f);
/* Apply "key=value" settings (see conformance/smtp/README.md). 0 or -1 with a message. */
int fake_set(struct fake *f, const char *kv, struct core_buf *diag);
void fake_start(struct fake *f);
/* Feed bytes (whole or byte at a time), resuming async verdicts. */
void fake_feed(struct fake *f, const char *p, size_t len);
void fake_feed_str(struct fake *f, const char *s);
/* The final reply codes in the output since the last take, space-separated; clears output. */
void fake_take_codes(struct fake *f, struct core_buf *codes_out, struct core_buf *raw_out);
void fake_fini(struct fake *f);

/* Run a transcript. Returns 0 when every expectation holds, else -1 with diag filled. */
int transcript_run(const char *text, bool trickle, struct core_buf *diag);

#endif
