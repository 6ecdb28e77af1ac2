/*
 * sasl.h: the server side of SASL (RFC 4422) for SMTP, IMAP, POP3 and ManageSieve.
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), SCRAM-SHA-1 and
 * SCRAM-SHA-1-PLUS (RFC 5802), SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 7677) with the
 * channel bindings tls-exporter (RFC 9266, TLS 1.3 only) and tls-server-end-point
 * (RFC 5929), OAUTHBEARER (RFC 7628), XOAUTH2 (Google's bearer-token mechanism) and EXTERNAL
 * (RFC 4422 Appendix A, TLS client certificates).
 *
 * Shape: one struct sasl_exchange per AUTHENTICATE/AUTH command. The protocol layer starts it
 * with a mechanism name, then feeds each client response as raw bytes (it does the base64 of
 * its protocol itself, sasl_wire_decode() helps) and sends back each challenge the exchange
 * produces, until the exchange reports success or failure. The exchange never blocks on I/O;
 * it calls the directory through struct sasl_backend, which the directory implements (those
 * callbacks may block: run the exchange on the worker pool).
 *
 * Outcome: on success the authorization identity (what the session acts as) and the
 * authenticated principal; on failure a protocol-neutral enum sasl_fail and a reason safe to
 * log (never put a reason into a reply that would tell an unknown user from a bad password:
 * both are SASL_FAIL_CREDENTIALS).
 *
 * Ownership: struct sasl_config, struct sasl_backend and struct sasl_conn_info are borrowed
 * and must outlive the exchange. Every string the exchange hands out is owned by its arena
 * (wiped on free) and valid until sasl_exchange_free(). Thread-safety: an exchange belongs to
 * one thread at a time.
 */
#ifndef STAUNCH_DIRECTORY_SASL_H
#define STAUNCH_DIRECTORY_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_str.h"
#include "directory/dir_password.h"

struct core_arena;
struct core_buf;
struct core_error;

enum sasl_mech_id {
	SASL_MECH_EXTERNAL = 0,
	SASL_MECH_SCRAM_SHA_256_PLUS,
	SASL_MECH_SCRAM_SHA_256,
	SASL_MECH_SCRAM_SHA_1_PLUS,
	SASL_MECH_SCRAM_SHA_1,
	SASL_MECH_OAUTHBEARER,
	SASL_MECH_XOAUTH2,
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_COUNT,
};

#define SASL_MECH_BIT(id) (1u << (id))
#define SASL_MECHS_ALL ((1u << SASL_MECH_COUNT) - 1u)

/* The registered name ("SCRAM-SHA-256-PLUS") of a mechanism. */
const char *sasl_mech_name(enum sasl_mech_id id);
/* Mechanism names are case-insensitive (RFC 4422 §3.1). Returns the id or CORE_ENOTFOUND. */
int sasl_mech_lookup(const char *name, size_t len);

/* Channel binding types (RFC 5056 §7). */
enum sasl_cb_type {
	SASL_CB_NONE = 0,
	SASL_CB_TLS_EXPORTER,         /* RFC 9266 */
	SASL_CB_TLS_SERVER_END_POINT, /* RFC 5929 §4 */
};

/* Defaults of struct sasl_config. */
#define SASL_DEFAULT_MAX_RESPONSE 16384u /* decoded bytes of one client response */
#define SASL_DEFAULT_MAX_STEPS 8u        /* client responses in one exchange */
#define SASL_MAX_NAME 1024u              /* bytes of a user name or authzid */

/* Server-wide settings (from the configuration). Zero fields take the defaults. */
struct sasl_config {
	unsigned mechs_enabled;        /* SASL_MECH_BIT set; 0 means SASL_MECHS_ALL */
	bool allow_cleartext_insecure; /* offer PLAIN, LOGIN and bearer tokens without TLS */
	bool success_data;             /* the protocol can carry data with the success outcome */
	size_t max_response;
	unsigned max_steps;
	/* OAUTHBEARER failure challenge (RFC 7628 §3.2.2): scope and discovery URL, or NULL. */
	const char *oauth_scope;
	const char *oauth_config_url;
	/*
	 * SCRAM server nonce source: appends the server's part of the nonce (printable, no
	 * ','). NULL: 18 random bytes in base64. Tests set it to replay RFC exchanges.
	 */
	void (*nonce_fn)(void *arg, struct core_buf *out);
	void *nonce_arg;
};

/* What the protocol layer knows of the connection. Borrowed. */
struct sasl_conn_info {
	bool tls;   /* the connection is encrypted (implicit TLS or after STARTTLS) */
	bool tls13; /* negotiated TLS 1.3 */
	/* RFC 9266: the 32-byte exporter value ("EXPORTER-Channel-Binding", no context). */
	const unsigned char *cb_exporter;
	size_t cb_exporter_len;
	/* RFC 5929 §4.1: hash of the server certificate. */
	const unsigned char *cb_endpoint;
	size_t cb_endpoint_len;
	/* The client's TLS certificate (DER), NULL when none was presented and verified. */
	const unsigned char *client_cert;
	size_t client_cert_len;
	/* For logging and OAUTHBEARER's host/port check; may be NULL / 0. */
	const char *local_host;
	uint16_t local_port;
};

/* An authenticated principal as the directory names it. Strings are arena-owned. */
struct sasl_principal {
	const char *id;   /* stable internal id (never the login name) */
	const char *name; /* canonical login name, the default authorization identity */
};

/* Backend capability bits (struct sasl_backend.caps). */
#define SASL_BACKEND_SCRAM_SHA1 0x1u       /* holds SCRAM-SHA-1 secrets */
#define SASL_BACKEND_SCRAM_SHA256 0x2u     /* holds SCRAM-SHA-256 secrets */
#define SASL_BACKEND_CLEARTEXT_STORED 0x4u /* holds cleartext, so it can derive SCRAM secrets */

/*
 * The directory side. Callbacks return >= 0 on success, CORE_ENOTFOUND for an unknown user
 * (after costing what a known user costs, see dir_password_dummy_verify), CORE_EPERM for a
 * disabled account or refused authorization, CORE_ETEMP for a backend outage. Strings they
 * put into a principal are allocated in arena a (the exchange's, wiped on free). A NULL
 * callback disables the mechanisms that need it.
 */
struct sasl_backend {
	void *ctx;
	unsigned caps;
	/* PLAIN, LOGIN: 1 when password matches authcid's credentials, 0 when not. */
	int (*verify_plain)(void *ctx, struct core_str authcid, struct core_str password,
			    struct core_arena *a, struct sasl_principal *out,
			    struct core_error *err);
	/* SCRAM: the secrets of authcid for hash h (derived from a stored cleartext if need be). */
	int (*scram_lookup)(void *ctx, enum dir_scram_hash h, struct core_str authcid,
			    struct core_arena *a, struct dir_scram_secret *secret_out,
			    struct sasl_principal *out, struct core_error *err);
	/*
	 * OAUTHBEARER, XOAUTH2 (the token-verifier interface): 1 when the bearer token is valid
	 * (out names its owner), 0 when not (then *status_out may be set to an RFC 6750 §3.1
	 * error code such as "invalid_token", static string). user is the name the client gave
	 * (a= or user=), possibly empty.
	 */
	int (*verify_token)(void *ctx, enum sasl_mech_id mech, struct core_str user,
			    struct core_str token, struct core_arena *a, struct sasl_principal *out,
			    const char **status_out, struct core_error *err);
	/* EXTERNAL: the principal a TLS client certificate (DER) belongs to. */
	int (*map_cert)(void *ctx, const unsigned char *der, size_t len, struct core_arena *a,
			struct sasl_principal *out, struct core_error *err);
	/*
	 * May principal p act as authzid (RFC 4422 §3.4.1)? 0 yes, CORE_EPERM no. NULL: only
	 * an authzid equal to p->name is accepted.
	 */
	int (*authorize)(void *ctx, const struct sasl_principal *p, struct core_str authzid,
			 struct core_error *err);
};

/*
 * The mechanisms to advertise on a connection, as a space-separated list appended to out
 * (strongest first). Rules: a mechanism must be enabled and its callback present;
 * cleartext mechanisms (PLAIN, LOGIN, OAUTHBEARER, XOAUTH2) need TLS unless
 * allow_cleartext_insecure (RFC 4616 §5, RFC 7628 §5); SCRAM needs SCRAM secrets or stored
 * cleartext of that hash; -PLUS needs TLS and a usable channel binding (tls-exporter only on
 * TLS 1.3); EXTERNAL needs a client certificate. Returns the bit set of offered mechanisms.
 */
unsigned sasl_mechs_offered(const struct sasl_config *cfg, const struct sasl_backend *be,
			    const struct sasl_conn_info *ci, struct core_buf *out);

/* Exchange results. */
enum sasl_status {
	SASL_CONTINUE = 0, /* send the challenge, then feed the client's next response */
	SASL_OK = 1,       /* authenticated; out may hold additional success data */
	SASL_FAIL = 2,     /* failed; see sasl_exchange_result() */
};

/* Protocol-neutral failure codes; each protocol maps them to its replies. */
enum sasl_fail {
	SASL_FAIL_NONE = 0,
	SASL_FAIL_MALFORMED,       /* bad client message: SMTP 501 5.5.2, IMAP BAD */
	SASL_FAIL_CREDENTIALS,     /* wrong password, unknown user, bad proof or token: 535 5.7.8 */
	SASL_FAIL_AUTHZ,           /* authenticated but may not act as authzid: 535 5.7.8 */
	SASL_FAIL_CANCELLED,       /* client sent "*": 501 5.0.0, IMAP BAD */
	SASL_FAIL_MECH_UNKNOWN,    /* unknown or not offered here: 504 5.5.4 */
	SASL_FAIL_ENCRYPT_NEEDED,  /* mechanism needs TLS: 538 5.7.11, IMAP [PRIVACYREQUIRED] */
	SASL_FAIL_TOO_LONG,        /* a response or the exchange exceeded a limit: 500 5.5.6 */
	SASL_FAIL_TEMP,            /* backend unavailable: 454 4.7.0, IMAP [UNAVAILABLE] */
	SASL_FAIL_DISABLED,        /* account disabled: 535 5.7.8 */
	SASL_FAIL_CHANNEL_BINDING, /* channel binding missing, unsupported or mismatched */
};

const char *sasl_fail_name(enum sasl_fail f);

struct sasl_result {
	enum sasl_status status;
	enum sasl_fail fail;
	const char *reason;  /* for logs; static or arena string */
	const char *rule;    /* the RFC rule behind a failure, static or NULL */
	const char *authzid; /* authorization identity on success */
	struct sasl_principal principal;
	enum sasl_mech_id mech;
};

struct sasl_exchange;

/*
 * Start an exchange for the mechanism named mech (case-insensitive). Always returns an
 * exchange (free it with sasl_exchange_free); when the mechanism is unknown or not offered on
 * this connection the exchange is already failed and the first step reports it.
 */
struct sasl_exchange *sasl_exchange_new(const struct sasl_config *cfg,
					const struct sasl_backend *be,
					const struct sasl_conn_info *ci, const char *mech,
					size_t mech_len);
void sasl_exchange_free(struct sasl_exchange **x);

/*
 * Feed one client response. The first call carries the initial response (have_in true,
 * possibly empty: RFC 4422 §4 tells "no initial response" from "empty") or none (have_in
 * false). Later calls must have have_in true. The challenge, or the additional success
 * data, is appended to out (raw bytes; may be empty). Returns an enum sasl_status.
 */
int sasl_exchange_step(struct sasl_exchange *x, const void *in, size_t len, bool have_in,
		       struct core_buf *out);
/* The client cancelled ("*", RFC 4422 §3.5). The exchange fails with SASL_FAIL_CANCELLED. */
void sasl_exchange_cancel(struct sasl_exchange *x);
const struct sasl_result *sasl_exchange_result(const struct sasl_exchange *x);

/*
 * Protocol helper for a client response line as SMTP (RFC 4954), IMAP (RFC 9051 §6.2.2,
 * RFC 4959), POP3 (RFC 5034) and ManageSieve carry it: "*" cancels; "=" is an empty initial
 * response (only when initial is true); otherwise strict base64. Returns 0 (decoded bytes
 * appended to out), 1 for a cancel, CORE_ESYNTAX for bad base64, CORE_ELIMIT when the
 * decoded size would exceed max (0: SASL_DEFAULT_MAX_RESPONSE).
 */
int sasl_wire_decode(const char *line, size_t len, bool initial, size_t max, struct core_buf *out,
		     struct core_error *err);
/*
 * Encode a challenge or success data for the wire: base64; for success data (as_success)
 * an empty value is "=" (RFC 4954 §4 and RFC 9051 use "=" for empty additional data).
 */
void sasl_wire_encode(const void *p, size_t len, bool as_success, struct core_buf *out);

#endif
