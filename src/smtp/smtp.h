/*
 * smtp.h: the SMTP and LMTP protocol engine of Staunch (server side).
 *
 * RFCs: RFC 5321 (base protocol), RFC 2033 (LMTP), and one file per extension: RFC 2920
 * (PIPELINING), RFC 6152 (8BITMIME), RFC 1870 (SIZE), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
 * RFC 3030 (CHUNKING, BINARYMIME), RFC 6531 (SMTPUTF8), RFC 3461 (DSN), RFC 2034 and
 * RFC 3463 (ENHANCEDSTATUSCODES), RFC 8689 (REQUIRETLS), RFC 2852 (DELIVERBY), RFC 6710
 * (MT-PRIORITY), RFC 4865 (FUTURERELEASE).
 *
 * Shape (ARCHITECTURE.md §5):
 * - smtp_parse.c: a pure, resumable command-line parser (smtp_parser_feed) and the DATA and
 *   BDAT body readers, which stream the message to a sink and never hold it whole.
 * - smtp_cmd.c: the command table and the list of extensions.
 * - smtp_session.c: the state machine. It sees a small connection interface (struct
 *   smtp_conn) and the services the server fills (struct smtp_services); smtp_session_feed()
 *   drives a whole session from bytes, so tests and fuzzers need no sockets.
 * - smtp_ext_<name>.c: one file per extension (EHLO keyword, parameters, verbs).
 * - smtp_net.c: smtp_net_service, the adapter to the network runtime (net/net.h).
 *
 * Ownership: struct smtp_config and struct smtp_conn are copied by smtp_session_new (strings
 * they point to are borrowed); the services, SASL configuration and backend are borrowed and
 * must outlive the session. Views handed to service callbacks (envelopes, paths, parameters)
 * are owned by the session's transaction arena and valid until the callback returns or, for a
 * pending verdict, until the session is resumed (copy what you keep). Threading: a session
 * belongs to one thread.
 */
#ifndef STAUNCH_SMTP_SMTP_H
#define STAUNCH_SMTP_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core_buf.h"
#include "core/core_str.h"

struct core_arena;
struct core_error;
struct sasl_config;
struct sasl_conn_info;
struct sasl_backend;
struct sasl_exchange;

/* --- limits and policies ------------------------------------------------------------ */

/* RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define SMTP_LINE_MIN 512u
/* RFC 5321 §4.5.3.1.1-3: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_MAX 64u
#define SMTP_DOMAIN_MAX 255u
#define SMTP_PATH_MAX 256u
/* Parameters accepted on one MAIL or RCPT line. */
#define SMTP_PARAMS_MAX 16u

/* What to do with a bare CR or bare LF (not part of CRLF), RFC 5321 §2.3.8. */
enum smtp_bare_policy {
	SMTP_BARE_REJECT = 0,  /* refuse the line or the message (default) */
	SMTP_BARE_CONVERT = 1, /* turn it into CRLF (never into an end of line for dot rules) */
};

/* RFC 5321 §4.5.3.2: timeouts, in seconds (values exposed for the runtime). */
#define SMTP_TIMEOUT_INITIAL 300u    /* §4.5.3.2.1: client waits for the 220 greeting */
#define SMTP_TIMEOUT_MAIL 300u       /* §4.5.3.2.2 */
#define SMTP_TIMEOUT_RCPT 300u       /* §4.5.3.2.3 */
#define SMTP_TIMEOUT_DATA_INIT 120u  /* §4.5.3.2.4: waiting for the 354 */
#define SMTP_TIMEOUT_DATA_BLOCK 180u /* §4.5.3.2.5: between two data blocks */
#define SMTP_TIMEOUT_DATA_TERM 600u  /* §4.5.3.2.6: after <CRLF>.<CRLF> */
#define SMTP_TIMEOUT_SERVER 300u     /* §4.5.3.2.7: server waits for the next command */

/* Configuration of a listener's sessions. Zero fields take the defaults named. */
struct smtp_config {
	const char *hostname;       /* our name in the greeting and Received; "localhost" */
	bool lmtp;                  /* RFC 2033 mode: LHLO, per-recipient replies */
	bool submission;            /* 587/465: AUTH required before MAIL */
	size_t max_line;            /* command line incl. CRLF; 0 = 4096 (>= SMTP_LINE_MIN) */
	uint64_t max_size;          /* message size; 0 = 50 MiB */
	unsigned max_rcpts;         /* per transaction; 0 = 100 (RFC 5321 §4.5.3.1.8 minimum) */
	unsigned max_commands;      /* per session; 0 = 10000 */
	unsigned max_errors;        /* error replies before 421 and close; 0 = 10 */
	unsigned max_auth_failures; /* 0 = 3 */
	unsigned max_hops;          /* Received lines (ours included) before 554; 0 = 100 */
	enum smtp_bare_policy bare_cmd;  /* bare LF in command lines */
	enum smtp_bare_policy bare_data; /* bare CR / LF in DATA and BDAT */
	bool vrfy;                       /* answer VRFY through services (else 252) */
	bool expn;                       /* answer EXPN through services (else 502) */
	bool tls_available;              /* STARTTLS can be offered (listener has certificates) */
	bool require_tls_for_auth; /* no AUTH before TLS; default false here, true by server */
	/* Extensions switched off by name bits (SMTP_EXT_*); 0 = all on. */
	unsigned ext_disabled;
	uint64_t deliverby_min;     /* RFC 2852 §4: minimum by-time we accept, seconds; 0 = 60 */
	uint64_t futurerelease_max; /* RFC 4865: longest hold, seconds; 0 = 7 days */
	const struct sasl_config *sasl_cfg; /* NULL: AUTH not offered */
	const struct sasl_backend *sasl_backend;
};

/* Extension bits for smtp_config.ext_disabled. */
enum smtp_ext_bit {
	SMTP_EXT_PIPELINING = 1u << 0,
	SMTP_EXT_8BITMIME = 1u << 1,
	SMTP_EXT_SIZE = 1u << 2,
	SMTP_EXT_STARTTLS = 1u << 3,
	SMTP_EXT_AUTH = 1u << 4,
	SMTP_EXT_CHUNKING = 1u << 5,
	SMTP_EXT_SMTPUTF8 = 1u << 6,
	SMTP_EXT_DSN = 1u << 7,
	SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 8,
	SMTP_EXT_REQUIRETLS = 1u << 9,
	SMTP_EXT_DELIVERBY = 1u << 10,
	SMTP_EXT_MTPRIORITY = 1u << 11,
	SMTP_EXT_FUTURERELEASE = 1u << 12,
};

/* The SMTP_EXT_* bit of an extension by its EHLO keyword (case-insensitive), for
 * configuration; 0 when unknown. */
unsigned smtp_ext_bit_by_name(const char *name);

/* --- parsed commands --------------------------------------------------------------- */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_LHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

/* A Reverse-path or Forward-path (RFC 5321 §4.1.2), RFC 6531 UTF-8 allowed. */
struct smtp_path {
	bool null;              /* "<>" */
	bool postmaster;        /* "<Postmaster>" without a domain (RCPT only) */
	bool utf8;              /* local part or domain holds non-ASCII (needs SMTPUTF8) */
	bool quoted;            /* the local part was a Quoted-string */
	bool literal;           /* the domain is an address literal "[...]" */
	bool had_route;         /* a source route was given and dropped (§C, §4.1.1.3) */
	struct core_str local;  /* local part as written (quotes kept for a Quoted-string) */
	struct core_str domain; /* domain or address literal with brackets; empty if none */
	struct core_str addr;   /* "local@domain" as written (no brackets, no route) */
};

/* An ESMTP parameter keyword[=value] (RFC 5321 §4.1.2). Views. */
struct smtp_param {
	struct core_str key;
	struct core_str value;
	bool has_value;
};

/* One command line, parsed. Views point into the parser's line buffer (valid until the
 * next smtp_parser_feed). */
struct smtp_cmd {
	enum smtp_verb verb;
	struct core_str name;  /* the verb as the client wrote it */
	struct core_str arg;   /* everything after the verb and one SP */
	struct smtp_path path; /* MAIL, RCPT */
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams;
};

/* Verb by name (case-insensitive, RFC 5321 §2.4); SMTP_VERB_UNKNOWN if not ours. */
enum smtp_verb smtp_verb_lookup(struct core_str name);
const char *smtp_verb_name(enum smtp_verb v);

/*
 * Parse one command line (without its CRLF) into cmd. MAIL and RCPT get their path and
 * parameters parsed; other verbs keep arg. Returns 0, CORE_ESYNTAX (err says why, err->rule
 * names the RFC rule), or CORE_ELIMIT (too many parameters, a path too long).
 */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd_out, struct core_error *err);
/* Parse "<path>" with an optional source route: reverse (MAIL) allows "<>", forward (RCPT)
 * allows "<Postmaster>". Views point into s. */
int smtp_path_parse(struct core_str s, bool reverse, struct smtp_path *out, struct core_error *err);

/* The resumable line framer. Zero-initialise, then smtp_parser_init. */
struct smtp_parser {
	size_t max_line; /* including CRLF */
	enum smtp_bare_policy bare;
	struct core_buf line; /* internal (owned) */
	bool cr;              /* last byte was CR */
	bool overflow;        /* line too long: discarding to its end */
	bool bad;             /* bare CR or NUL seen in this line */
	const char *bad_rule;
	bool next_reset; /* the last line was returned: clear on next feed */
	size_t max_auth; /* longer limit for AUTH lines (RFC 4954 §4), 0 = none */
	bool auth_mode;  /* every line is an AUTH response (max_auth applies) */
};
void smtp_parser_init(struct smtp_parser *p, size_t max_line, enum smtp_bare_policy bare);
void smtp_parser_fini(struct smtp_parser *p);
/* RFC 4954 §4: SASL responses may be longer than commands. Lines of up to max_auth octets
 * (with CRLF) are accepted when they start with "AUTH " or while auth_mode is set. */
void smtp_parser_set_auth_limit(struct smtp_parser *p, size_t max_auth);
/*
 * Frame and parse the next command line from p[0..len). *used_out gets the bytes consumed.
 * Returns CORE_DONE with cmd_out filled, CORE_MORE (all input consumed, no complete line), or
 * an error for a complete but bad line (CORE_ELIMIT for a line over max_line, CORE_ESYNTAX for
 * bad syntax, bare CR, NUL or rejected bare LF); after an error the parser is in sync at the
 * next line.
 */
int smtp_parser_feed(struct smtp_parser *p, const char *data, size_t len, size_t *used_out,
		     struct smtp_cmd *cmd_out, struct core_error *err);

/* --- message bodies ----------------------------------------------------------------- */

/* Where body bytes go (a spool file). write returns 0 or a negative core_err. */
struct smtp_sink {
	int (*write)(void *arg, const void *p, size_t n);
	void *arg;
};

/* Body reader result flags. */
#define SMTP_BODY_BARE_CR 0x1u    /* a bare CR was seen */
#define SMTP_BODY_BARE_LF 0x2u    /* a bare LF was seen */
#define SMTP_BODY_TOO_BIG 0x4u    /* more than max_size octets */
#define SMTP_BODY_SINK_ERROR 0x8u /* the sink failed; later bytes were dropped */
#define SMTP_BODY_8BIT 0x10u      /* an octet above 127 was seen */
#define SMTP_BODY_NUL 0x20u       /* a NUL octet was seen */

/*
 * DATA reader (RFC 5321 §4.1.1.4, §4.5.2): ends only at <CRLF>.<CRLF> (the CRLF before the dot
 * may be the one that ended the DATA command), removes the leading dot of a line, applies the
 * bare CR / LF policy (converted octets never count as a line end for the dot rules, so
 * <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF> are body content), counts size and streams to the sink.
 */
struct smtp_data_reader {
	int state;
	enum smtp_bare_policy bare;
	uint64_t max_size; /* 0 = unlimited */
	uint64_t size;     /* octets delivered to the sink (after conversions) */
	unsigned flags;    /* SMTP_BODY_* */
	int sink_err;
	struct smtp_sink sink;
	char stage[4096];
	size_t nstage;
};
void smtp_data_reader_init(struct smtp_data_reader *r, enum smtp_bare_policy bare,
			   uint64_t max_size, const struct smtp_sink *sink);
/* Returns CORE_DONE (end of data found; *used_out includes the final CRLF) or CORE_MORE (all
 * consumed). Problems are reported in r->flags, never as a return: the reader always stays in
 * sync with the stream. */
int smtp_data_reader_feed(struct smtp_data_reader *r, const char *p, size_t len, size_t *used_out);
/* True if the reader rejected the message (bare octets under REJECT, size, sink). */
bool smtp_data_reader_failed(const struct smtp_data_reader *r);

/*
 * BDAT chunk reader (RFC 3030 §2): exactly the announced octets, no dot rules. Bare CR / LF are
 * checked (or converted) across chunk boundaries unless binary (BODY=BINARYMIME).
 */
struct smtp_bdat_reader {
	uint64_t remaining; /* octets left in the current chunk */
	enum smtp_bare_policy bare;
	bool binary;
	bool cr; /* the last octet of the previous data was CR */
	uint64_t max_size;
	uint64_t size;
	unsigned flags;
	int sink_err;
	struct smtp_sink sink;
};
void smtp_bdat_reader_init(struct smtp_bdat_reader *r, enum smtp_bare_policy bare, bool binary,
			   uint64_t max_size, const struct smtp_sink *sink);
/* Begin a chunk of n octets. */
void smtp_bdat_reader_chunk(struct smtp_bdat_reader *r, uint64_t n);
/* Consume chunk octets: CORE_DONE when the chunk is complete, CORE_MORE otherwise. */
int smtp_bdat_reader_feed(struct smtp_bdat_reader *r, const char *p, size_t len, size_t *used_out);
/* End of message (after BDAT LAST): a pending CR is bare. */
void smtp_bdat_reader_finish(struct smtp_bdat_reader *r);
bool smtp_bdat_reader_failed(const struct smtp_bdat_reader *r);

/* --- replies -------------------------------------------------------------------------- */

/* A reply: code (250), enhanced code ("2.1.0", RFC 3463) and text. Strings are borrowed. */
struct smtp_verdict {
	int code;
	const char *enh;  /* NULL: derived from code */
	const char *text; /* NULL: a default text for the code */
};

/* RFC 3463 / ARCHITECTURE.md §5: the one mapping of an internal error to a reply. */
void smtp_reply_from_err(int err, const struct core_error *detail, struct smtp_verdict *out);

/* --- envelope ----------------------------------------------------------------------- */

enum smtp_body_type {
	SMTP_BODY_7BIT = 0,
	SMTP_BODY_8BITMIME,   /* RFC 6152 */
	SMTP_BODY_BINARYMIME, /* RFC 3030 §3 */
};

/* RFC 3461 §4.1 NOTIFY bits. */
#define SMTP_NOTIFY_NEVER 0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY 0x8u

enum smtp_dsn_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_rcpt {
	struct smtp_path path;
	unsigned notify;             /* SMTP_NOTIFY_*; 0 = not given */
	struct core_str orcpt_type;  /* RFC 3461 §4.2 addr-type ("rfc822"), empty if none */
	struct core_str orcpt;       /* xtext-decoded original recipient */
	struct smtp_verdict verdict; /* what RCPT answered (2xx for accepted ones); text NULL */
};

struct smtp_envelope {
	struct smtp_path from;
	enum smtp_body_type body;
	uint64_t size_declared; /* RFC 1870 SIZE=, 0 if none */
	bool smtputf8;          /* RFC 6531 SMTPUTF8 */
	bool requiretls;        /* RFC 8689 */
	enum smtp_dsn_ret ret;  /* RFC 3461 §4.3 */
	struct core_str envid;  /* RFC 3461 §4.4, xtext-decoded */
	struct core_str auth;   /* RFC 4954 §5 AUTH=, xtext-decoded ("<>" kept as is) */
	bool has_by;            /* RFC 2852 BY= */
	int64_t by_time;        /* seconds (may be negative in R mode) */
	char by_mode;           /* 'N' or 'R' */
	bool by_trace;
	bool has_priority;       /* RFC 6710 MT-PRIORITY */
	int priority;            /* -9..9 */
	bool has_hold;           /* RFC 4865 */
	time_t hold_until;       /* absolute release time (HOLDFOR converted) */
	struct smtp_rcpt *rcpts; /* accepted recipients only */
	size_t nrcpts;
	size_t cap;
	/* Session facts for the Received header and policy. */
	const char *helo;
	const char *auth_user; /* authenticated identity or NULL */
};

/* --- connection and services -------------------------------------------------------- */

/* The small connection interface a session sees (ARCHITECTURE.md §5). */
struct smtp_conn {
	void *arg;
	/* Queue output; returns 0 or a negative core_err. */
	int (*write)(void *arg, const void *p, size_t n);
	/* Begin the TLS handshake once the queued output is sent; result comes back through
	 * smtp_session_tls_done(). Input received before the handshake must be dropped. */
	int (*starttls)(void *arg);
	/* Close after queued output is sent. */
	void (*close)(void *arg);
	/* Stop / restart reading input while a service verdict is pending (may be NULL). */
	void (*pause)(void *arg);
	void (*resume)(void *arg);
	/* Facts about the peer (borrowed strings). */
	const char *remote_ip;
	const char *remote_host; /* reverse name verified by the server, or NULL */
	const char *local_ip;
	/* The runtime's connection (struct net_conn *) for services that submit work to the
	 * worker pool; NULL when no runtime drives the session (tests, fuzzers). */
	void *transport;
	bool tls; /* implicit TLS on this connection */
	const char *tls_version;
	const char *tls_cipher;
	/* May be NULL. Once TLS is up, fill the channel bindings (cb_exporter, cb_endpoint) and
	 * the verified client certificate of *ci (RFC 5929, RFC 9266, SASL EXTERNAL); the
	 * pointers must stay valid for the connection's life. AUTH calls it for each exchange. */
	void (*tls_binding)(void *arg, struct sasl_conn_info *ci);
};

/* Returned by a service that completes later through smtp_session_resume(). */
#define SMTP_PENDING 1

/* Events for the rate-limit hook. */
enum smtp_rate_event {
	SMTP_RATE_CONNECT = 0,
	SMTP_RATE_MAIL,
	SMTP_RATE_RCPT,
	SMTP_RATE_AUTH_FAILURE,
};

/*
 * Callbacks the server fills. Each verdict-style callback (the ones given the session) fills
 * *out and returns 0, or returns SMTP_PENDING and later, on the connection's thread, calls
 * smtp_session_resume(s, ...) with the verdict (the session pauses its input meanwhile). NULL
 * callbacks accept. Views in the arguments are valid until the verdict is given.
 */
struct smtp_session;
struct smtp_services {
	void *ctx;
	/* RFC 5321 §3.3: may this sender start a transaction? (submission: owns the address) */
	int (*check_sender)(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
			    struct smtp_verdict *out);
	/* May this recipient receive (local, alias, relaying allowed)? */
	int (*check_rcpt)(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
			  const struct smtp_rcpt *rcpt, struct smtp_verdict *out);
	/* VRFY / EXPN when enabled. */
	int (*verify)(void *ctx, struct smtp_session *s, bool expand, struct core_str arg,
		      struct smtp_verdict *out);
	/* Open a spool for the message; the session writes the Received header, then the body. */
	int (*spool_open)(void *ctx, const struct smtp_envelope *env, struct smtp_sink *out);
	/* Drop an opened spool (message refused or transaction aborted). */
	void (*spool_abort)(void *ctx);
	/*
	 * Commit the spooled message for the envelope's recipients. Fill results[i] for each
	 * accepted recipient (LMTP replies one per recipient, RFC 2033 §4.2; SMTP replies with
	 * results[0] when every recipient has the same outcome, else a 250 when any succeeded:
	 * the others are the server's to bounce). Returns 0 or SMTP_PENDING. The spool is
	 * deliver's from this call on (spool_abort is not called for it).
	 */
	int (*deliver)(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		       struct smtp_verdict *results);
	/* Rate limits: 0 to proceed or a 4xx/5xx verdict in *out (return 0 either way). */
	int (*rate_check)(void *ctx, enum smtp_rate_event ev, struct core_str subject,
			  struct smtp_verdict *out);
	/*
	 * Run one SASL step off the event thread (directory lookups and password hashing may
	 * block): call sasl_exchange_step(x, in, len, have_in, out), on a worker if need be, then
	 * smtp_session_resume_auth(s, status) on the connection's thread (it may also be called
	 * before returning). in, out and x stay valid until then. NULL: the session runs the
	 * step itself.
	 */
	void (*sasl_step)(void *ctx, struct smtp_session *s, struct sasl_exchange *x,
			  const void *in, size_t len, bool have_in, struct core_buf *out);
	/* AUTH succeeded as user (log, policy). */
	void (*auth_done)(void *ctx, const char *user);
	/* Free text of HELP (one line per entry), NULL for the default. */
	const char *help;
	/*
	 * Optional per-session state: session_new runs in smtp_session_new (before the
	 * greeting) and its value is the ctx every other callback of this session receives;
	 * session_free gets it back when the session is freed (after the last release).
	 */
	void *(*session_new)(void *ctx, struct smtp_session *s, const struct smtp_conn *conn);
	void (*session_free)(void *session_ctx);
};

/* --- session ------------------------------------------------------------------------- */

struct smtp_session;

/* Create a session; it writes the 220 greeting (or 554 when services reject the connect). */
struct smtp_session *smtp_session_new(const struct smtp_config *cfg, const struct smtp_conn *conn,
				      const struct smtp_services *svc);
void smtp_session_free(struct smtp_session **s);
/*
 * Feed input bytes. Returns how many were consumed; the rest must be offered again later
 * (the session stops at a pending service call, after STARTTLS, or when closed).
 */
size_t smtp_session_feed(struct smtp_session *s, const char *p, size_t len);
/* Finish a pending verdict (see SMTP_PENDING). For deliver, results has one per rcpt.
 * Never call it after the connection closed (the session is freed then; net_conn_submit's
 * done callback tells with ok == false). */
void smtp_session_resume(struct smtp_session *s, const struct smtp_verdict *results, size_t n);
/*
 * Keep the session's memory alive while work that uses it (a SASL step on a worker) is in
 * flight: smtp_session_free then only marks it closed, and the last smtp_session_release
 * frees it. release returns true while the session is still open (resume it then), false
 * when it was closed meanwhile (it must not be used again). Both on the session's thread.
 */
void smtp_session_hold(struct smtp_session *s);
bool smtp_session_release(struct smtp_session *s);
/* A SASL backend for this session only (e.g. with the client's address for brute-force
 * accounting); borrowed, must outlive the session. NULL: the configuration's. */
void smtp_session_set_sasl_backend(struct smtp_session *s, const struct sasl_backend *be);
/* The authenticated identity, or NULL. Borrowed from the session. */
const char *smtp_session_auth_user(const struct smtp_session *s);
/* Finish a SASL step run by services->sasl_step (status: enum sasl_status). */
void smtp_session_resume_auth(struct smtp_session *s, int status);
/* The STARTTLS handshake finished. On success the session forgets the EHLO (RFC 3207 §4.2). */
void smtp_session_tls_done(struct smtp_session *s, bool ok, const char *version,
			   const char *cipher);
/* Graceful shutdown: reply 421 and close (RFC 5321 §3.8). */
void smtp_session_shutdown(struct smtp_session *s);
/* Input timed out: 421 and close (RFC 5321 §4.5.3.2.7). */
void smtp_session_timeout(struct smtp_session *s);
/* The idle timeout the runtime should apply now, in seconds (RFC 5321 §4.5.3.2). */
unsigned smtp_session_timeout_secs(const struct smtp_session *s);
/* True once the session asked to close. */
bool smtp_session_closed(const struct smtp_session *s);
/* True while a service verdict is pending. */
bool smtp_session_pending(const struct smtp_session *s);

/* --- network runtime adapter (smtp_net.c) ------------------------------------------ */

/*
 * What a listener serving SMTP, submission or LMTP passes as the service_arg of
 * net_runtime_listen(&smtp_net_service, ...). Borrowed; must outlive the runtime.
 */
struct smtp_listener {
	struct smtp_config cfg;
	const struct smtp_services *svc;
};
/* The struct net_service (net/net.h) that runs one smtp_session per connection: input goes to
 * smtp_session_feed(), pending verdicts pause the connection, STARTTLS and shutdown map to
 * the runtime's. */
struct net_service;
extern const struct net_service smtp_net_service;

/*
 * The Received header (RFC 5321 §4.4, RFC 5322 §3.6.7) for a message: from-domain (HELO and
 * the peer's address), by our name, with protocol (SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP,
 * UTF8SMTP... per RFC 3848 and RFC 6531 §4.3), TLS version and cipher in a comment, id, for the
 * single recipient, and the date. Appended to out with CRLF line folds.
 */
struct smtp_received {
	const char *helo;
	const char *remote_ip;
	const char *remote_host;
	const char *by_host;
	const char *with;
	const char *tls_version;
	const char *tls_cipher;
	const char *id;
	const char *for_addr; /* only when the message has one recipient */
	time_t when;
};
void smtp_received_format(const struct smtp_received *r, struct core_buf *out);

/* xtext decoding (RFC 3461 §4): "+XX" hex escapes. Arena-owned result. */
int smtp_xtext_decode(struct core_arena *a, struct core_str in, struct core_str *out);

#endif
