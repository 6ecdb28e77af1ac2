/*
 * smtp_int.h: private structures of src/smtp shared by the session, the command table and the
 * extension files (ARCHITECTURE.md §5). Not for other modules.
 */
#ifndef STAUNCH_SMTP_SMTP_INT_H
#define STAUNCH_SMTP_SMTP_INT_H

#include "core/core.h"
#include "directory/sasl.h"
#include "smtp/smtp.h"

/* Session states (bit values, so a command lists where it is allowed). */
enum smtp_state {
	SMTP_ST_GREET = 1u << 0, /* before HELO/EHLO */
	SMTP_ST_READY = 1u << 1, /* after HELO/EHLO, no transaction */
	SMTP_ST_MAIL = 1u << 2,  /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT = 1u << 3,  /* at least one recipient accepted */
	SMTP_ST_BDAT = 1u << 4,  /* between BDAT chunks */
};
#define SMTP_ST_ANY 0x1fu
#define SMTP_ST_TXN (SMTP_ST_MAIL | SMTP_ST_RCPT | SMTP_ST_BDAT)

/* Input modes of smtp_session_feed. */
enum smtp_mode {
	SMTP_MODE_CMD = 0,
	SMTP_MODE_DATA, /* inside DATA */
	SMTP_MODE_BDAT, /* reading a BDAT chunk */
	SMTP_MODE_AUTH, /* AUTH continuation line */
	SMTP_MODE_TLS,  /* STARTTLS accepted: input dropped until smtp_session_tls_done */
	SMTP_MODE_CLOSED,
};

/* Bytes of one overlong command line discarded before the session gives up and closes. */
#define SMTP_OVERFLOW_MAX (64u * 1024u)

/* Command flags. */
#define SMTP_CF_FLUSH 0x1u /* RFC 2920 §3.2 (5): never buffer this reply */
#define SMTP_CF_TXN 0x4u   /* counts as part of a mail transaction */

struct smtp_session;

struct smtp_cmd_def {
	const char *verb;
	enum smtp_verb id;
	unsigned states; /* SMTP_ST_* where allowed; otherwise 503 (RFC 5321 §4.1.4) */
	unsigned flags;
	const char *rfc;
	/* Non-blocking validation; returns 0 or a negative core_err after replying. */
	int (*check)(struct smtp_session *s, struct smtp_cmd *cmd);
	void (*run)(struct smtp_session *s, struct smtp_cmd *cmd);
};

/* An extension (one per RFC file). */
struct smtp_ext {
	const char *name; /* EHLO keyword */
	unsigned bit;     /* SMTP_EXT_* */
	const char *rfc;
	/* Append the EHLO line's text (keyword and params) to out; return false to not offer. */
	bool (*ehlo)(struct smtp_session *s, struct core_buf *out);
	/* MAIL / RCPT parameter keywords this extension handles, NULL-terminated. */
	const char *const *mail_params;
	const char *const *rcpt_params;
	/* Handle one parameter: 0, or a negative core_err after setting *v (the reply). */
	int (*mail_param)(struct smtp_session *s, const struct smtp_param *p,
			  struct smtp_envelope *env, struct smtp_verdict *v);
	int (*rcpt_param)(struct smtp_session *s, const struct smtp_param *p, struct smtp_rcpt *r,
			  struct smtp_verdict *v);
	/* After all MAIL parameters: cross-checks. 0 or negative with *v. */
	int (*mail_done)(struct smtp_session *s, struct smtp_envelope *env, struct smtp_verdict *v);
	/* Verbs this extension adds. */
	const struct smtp_cmd_def *cmds;
	size_t ncmds;
};

/* The extension list (smtp_cmd.c) and lookups. */
extern const struct smtp_ext *const smtp_exts[];
extern const size_t smtp_nexts;
const struct smtp_cmd_def *smtp_cmd_find(enum smtp_verb v, const struct smtp_ext **ext_out);
bool smtp_ext_enabled(const struct smtp_session *s, const struct smtp_ext *e);

/* Extension objects. */
extern const struct smtp_ext smtp_ext_pipelining;
extern const struct smtp_ext smtp_ext_8bitmime;
extern const struct smtp_ext smtp_ext_size;
extern const struct smtp_ext smtp_ext_starttls;
extern const struct smtp_ext smtp_ext_auth;
extern const struct smtp_ext smtp_ext_chunking;
extern const struct smtp_ext smtp_ext_smtputf8;
extern const struct smtp_ext smtp_ext_dsn;
extern const struct smtp_ext smtp_ext_enhancedstatus;
extern const struct smtp_ext smtp_ext_requiretls;
extern const struct smtp_ext smtp_ext_deliverby;
extern const struct smtp_ext smtp_ext_mtpriority;
extern const struct smtp_ext smtp_ext_futurerelease;

/* What a pending service call will finish. */
enum smtp_pending {
	SMTP_PEND_NONE = 0,
	SMTP_PEND_MAIL,
	SMTP_PEND_RCPT,
	SMTP_PEND_VRFY,
	SMTP_PEND_DELIVER,
	SMTP_PEND_AUTH,
};

struct smtp_session {
	struct smtp_config cfg; /* with defaults filled */
	struct smtp_conn conn;
	const struct smtp_services *svc;
	void *svc_ctx;                        /* services->session_new's value, else svc->ctx */
	const struct sasl_backend *sasl_sess; /* smtp_session_set_sasl_backend, or NULL */
	unsigned holds;                       /* smtp_session_hold count */
	bool freed;                           /* smtp_session_free ran while held */
	struct smtp_parser parser;
	struct core_buf out;           /* replies not yet written (RFC 2920 groups) */
	struct core_arena *txn;        /* envelope of the current transaction */
	struct core_arena *conn_arena; /* HELO name, auth identity */
	enum smtp_mode mode;
	unsigned state;
	bool ehlo; /* the client used EHLO/LHLO (extensions allowed) */
	bool tls;  /* TLS active */
	const char *tls_version;
	const char *tls_cipher;
	const char *helo; /* points into helo_buf or NULL */
	char helo_buf[SMTP_DOMAIN_MAX + 1];
	const char *auth_user;
	unsigned ncommands;
	unsigned nerrors;
	size_t overflow_bytes; /* bytes of an overlong command line discarded so far */
	unsigned nauth_fail;
	unsigned long msg_seq;
	struct smtp_envelope env;
	/* MAIL / RCPT awaiting a verdict. */
	enum smtp_pending pending;
	bool paused; /* input paused through the connection while pending */
	struct smtp_rcpt pend_rcpt;
	struct smtp_verdict *pend_results; /* deliver results awaiting resume */
	/* DATA / BDAT */
	struct smtp_data_reader data;
	struct smtp_bdat_reader bdat;
	bool bdat_started;
	bool bdat_last;
	bool spool_open;
	struct smtp_verdict bdat_refuse; /* reply after a dropped chunk (code -1: silent) */
	struct smtp_sink sink;
	/* RFC 5321 §6.3 loop detection: Received lines counted in the header section. */
	bool hdr_in;
	bool hdr_match;
	unsigned hdr_col;
	unsigned hops;
	/* AUTH */
	struct sasl_exchange *sasl;
	struct sasl_conn_info sasl_ci; /* borrowed by sasl for its whole life (sasl.h) */
	struct core_buf sasl_buf;
	struct core_buf sasl_in; /* the response being processed (wiped) */
};

/* The SASL backend of this session: the per-session one, else the configuration's. */
static inline const struct sasl_backend *smtp_sasl_backend(const struct smtp_session *s)
{
	return s->sasl_sess != NULL ? s->sasl_sess : s->cfg.sasl_backend;
}

/* Replies (smtp_session.c). The enhanced code is added when the extension is on and the
 * reply is not a greeting or HELO/EHLO answer (RFC 2034 §3). */
void smtp_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void smtp_reply_verdict(struct smtp_session *s, const struct smtp_verdict *v);
/* Multi-line reply: lines separated by '\n' in text. */
void smtp_reply_lines(struct smtp_session *s, int code, const char *enh, const char *text);
void smtp_reply_flush(struct smtp_session *s);
/* Count an error reply; closes with 421 after too many (RFC 5321 §4.5.3.1 spirit). */
void smtp_session_error(struct smtp_session *s);
/* Abort the mail transaction (RSET semantics, RFC 5321 §4.1.1.5). */
void smtp_txn_reset(struct smtp_session *s);
/* Start the body: open the spool, write the Received header. 0 or verdict replied. */
int smtp_body_begin(struct smtp_session *s);
/* Finish a message after DATA or BDAT LAST: checks, deliver, replies. */
void smtp_body_end(struct smtp_session *s, unsigned flags, uint64_t size);
/* Go to a mode (input routing). */
void smtp_session_close(struct smtp_session *s);

/* MAIL / RCPT completion after the service verdict (smtp_cmd.c). */
void smtp_mail_finish(struct smtp_session *s, const struct smtp_verdict *v);
void smtp_rcpt_finish(struct smtp_session *s, const struct smtp_verdict *v);
/* Deep copy of a path into an arena. */
void smtp_path_copy(struct core_arena *a, const struct smtp_path *in, struct smtp_path *out);
/* The session's body sink (forwards to the spool). */
int smtp_session_sink_write(void *arg, const void *p, size_t n);

/* Extension helpers. */
int smtp_ext_size_check(struct smtp_session *s, uint64_t declared, struct smtp_verdict *v);
void smtp_auth_finish(struct smtp_session *s, int status);
/* Longest AUTH line we take (RFC 4954 §4), 0 when AUTH is not configured. */
size_t smtp_auth_line_max(const struct smtp_session *s);
void smtp_auth_feed_line(struct smtp_session *s, const char *line, size_t len);
void smtp_bdat_continue(struct smtp_session *s);

#endif
