/*
 * server_smtp.c: the SMTP service of the server (docs/smtp.md): listeners with protocol
 * "smtp" (MX, port 25), "submission" (587 with STARTTLS, 465 with implicit TLS) and "lmtp"
 * run the engine of src/smtp with services that resolve recipients through the directory,
 * authenticate through its SASL framework, count rate limits in the lookup store, deliver
 * local mail through src/delivery and queue remote mail through src/queue.
 *
 * Every service step that may block (directory, stores, fsync) runs on the worker pool
 * (net_conn_submit) and resumes the session on its own event thread; the session is held
 * (smtp_session_hold) while a step runs, so a client that goes away meanwhile never leaves a
 * worker with freed memory.
 *
 * Ownership: the stores, directory, mail store and queue are opened once for every SMTP
 * listener (the first arg_new) and closed by the last arg_free; the control socket borrows
 * them (server_control_attach_stores).
 */
#include "server/server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/core_arena.h"
#include "delivery/delivery.h"
#include "directory/directory.h"
#include "mail/mail.h"
#include "mailstore/mailstore.h"
#include "queue/queue.h"
#include "smtp/smtp.h"
#include "store/store.h"

/* --- configuration keys ------------------------------------------------------------------ */

static const struct core_conf_key smtp_keys[] = {
	{"smtp.max-message-size", CORE_CONF_SIZE, "50M", NULL, 1024, 1024LL * 1024 * 1024, 0,
	 "Largest message accepted (RFC 1870 SIZE), in bytes."},
	{"smtp.max-recipients", CORE_CONF_INT, "100", NULL, 1, 100000, 0,
	 "Recipients of one transaction (RFC 5321 §4.5.3.1.8: at least 100)."},
	{"smtp.max-line-length", CORE_CONF_INT, "4096", NULL, 512, 1048576, 0,
	 "Longest command line, CRLF included (RFC 5321 §4.5.3.1.4: at least 512)."},
	{"smtp.max-commands", CORE_CONF_INT, "10000", NULL, 10, 100000000, 0,
	 "Commands of one session before 421."},
	{"smtp.max-errors", CORE_CONF_INT, "10", NULL, 1, 1000, 0,
	 "Error replies of one session before 421 and close."},
	{"smtp.max-auth-failures", CORE_CONF_INT, "3", NULL, 1, 100, 0,
	 "Failed AUTH attempts of one session before 421 and close."},
	{"smtp.max-hops", CORE_CONF_INT, "100", NULL, 1, 1000, 0,
	 "Received header lines before a message is refused as looping (RFC 5321 §6.3)."},
	{"smtp.bare-lf", CORE_CONF_ENUM, "reject", "reject|convert", 0, 0, 0,
	 "Bare CR or LF in message data (RFC 5321 §2.3.8): refuse the message, or turn it "
	 "into CRLF."},
	{"smtp.bare-lf-commands", CORE_CONF_ENUM, "reject", "reject|convert", 0, 0, 0,
	 "A command line ended by a bare LF: refuse it, or take it as CRLF."},
	{"smtp.mx-auth", CORE_CONF_BOOL, "false", NULL, 0, 0, 0,
	 "Offer AUTH on listeners with protocol smtp (port 25) too."},
	{"smtp.sender-must-match", CORE_CONF_BOOL, "true", NULL, 0, 0, 0,
	 "An authenticated user may only use an envelope sender that is one of its addresses "
	 "(admins may use any)."},
	{"smtp.from-must-match", CORE_CONF_BOOL, "true", NULL, 0, 0, 0,
	 "Every From: address of a message an authenticated user submits must be one of the "
	 "user's addresses (admins may use any); 550 5.7.1 otherwise."},
	{"smtp.disable-extensions", CORE_CONF_LIST, NULL, NULL, 0, 0, 0,
	 "EHLO keywords of extensions to switch off (e.g. [\"CHUNKING\"])."},
	{"smtp.rate.window", CORE_CONF_DURATION, "1m", NULL, 1000, 86400000, 0,
	 "Window of the rate-limit counters."},
	{"smtp.rate.connections-per-ip", CORE_CONF_INT, "0", NULL, 0, 100000000, 0,
	 "Connections one client address may open per window (0: no limit); counted in the "
	 "lookup store when it is in memory."},
	{"smtp.rate.messages-per-ip", CORE_CONF_INT, "0", NULL, 0, 100000000, 0,
	 "Transactions (MAIL commands) per client address per window (0: no limit)."},
	{"smtp.rate.messages-per-sender", CORE_CONF_INT, "0", NULL, 0, 100000000, 0,
	 "Transactions per envelope sender per window (0: no limit)."},
	{"smtp.rate.messages-per-recipient", CORE_CONF_INT, "0", NULL, 0, 100000000, 0,
	 "Accepted RCPT commands per recipient address per window (0: no limit)."},
	{"smtp.vrfy", CORE_CONF_BOOL, "false", NULL, 0, 0, 0,
	 "Answer VRFY from the directory (RFC 5321 §3.5.3): 250 for a local address, 550 for "
	 "an unknown one; off: 252 for every address (RFC 5321 §7.3)."},
	{"smtp.futurerelease-max", CORE_CONF_DURATION, "7d", NULL, 60000, 31536000000LL, 0,
	 "Longest FUTURERELEASE hold accepted (RFC 4865)."},
};

void server_smtp_conf_register(void)
{
	core_conf_register("SMTP", smtp_keys, CORE_NELEM(smtp_keys));
}

/* --- shared resources -------------------------------------------------------------------- */

struct smtp_lst {
	struct smtp_listener l; /* the service_arg of smtp_net_service */
	struct smtp_lst *next;
	struct smtp_services svc;
	struct dir_sasl sasl; /* without a client address: what EHLO offers */
	const char *name;
};

static struct {
	unsigned refs;
	struct store_set st;
	struct dir *d;
	struct mailstore *ms;
	struct queue *q;
	struct delivery *dv;
	struct dir_bruteforce *bf;
	struct sasl_config sasl;
	char *spool_dir;
	char *hostname;
	bool sender_must_match;
	bool from_must_match;
	bool lookup_in_memory;
	uint64_t rate_window_ms;
	int64_t rate_conn, rate_ip, rate_sender, rate_rcpt;
	struct smtp_lst *lsts; /* every listener's state (their SASL glue is set when ready) */
	atomic_bool ready;     /* the stores are open */
} R;

/*
 * Recent recipient resolutions, so that a RCPT for an address resolved moments ago is answered
 * on the event thread instead of after a round trip through the worker pool. Only addresses
 * that exist (local or remote) are kept, for RCPT_CACHE_TTL_MS at most and only while the
 * directory has not changed through this server (dir_generation()); an address unknown a
 * moment ago is always looked up again, so a new account receives mail at once. The final
 * word is delivery's, which resolves every recipient again when the message is complete.
 * Not used with a per-recipient rate limit (that is counted on the worker pool).
 */
#define RCPT_CACHE_SLOTS 1024u
#define RCPT_CACHE_TTL_MS 30000u
struct rcpt_slot {
	uint64_t gen, expires_ms;
	enum delivery_kind kind;
	char addr[256]; /* lower-cased; "" for an empty slot */
};
static struct {
	pthread_mutex_t mu;
	struct rcpt_slot *s; /* RCPT_CACHE_SLOTS, allocated with the resources */
} RC = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void res_close(void)
{
	if (R.dv != NULL) {
		/* How well the group commit batched this run's deliveries. */
		struct delivery_stats st;
		delivery_stats_get(R.dv, &st);
		char b[4][24];
		snprintf(b[0], sizeof(b[0]), "%" PRIu64, st.messages);
		snprintf(b[1], sizeof(b[1]), "%" PRIu64, st.batches);
		snprintf(b[2], sizeof(b[2]), "%" PRIu64, st.commits);
		snprintf(b[3], sizeof(b[3]), "%" PRIu64, st.largest);
		core_log(CORE_LOG_INFO, "delivery.stats", "messages", b[0], "batches", b[1],
			 "commits", b[2], "largest", b[3], NULL);
	}
	delivery_free(&R.dv);
	delivery_spool_pool_clear();
	pthread_mutex_lock(&RC.mu);
	free(RC.s);
	RC.s = NULL;
	pthread_mutex_unlock(&RC.mu);
	queue_free(&R.q);
	mailstore_free(&R.ms);
	dir_bruteforce_free(&R.bf);
	dir_free(&R.d);
	store_set_close(&R.st);
	memset(&R.st, 0, sizeof(R.st));
	free(R.spool_dir);
	free(R.hostname);
	R.spool_dir = R.hostname = NULL;
	atomic_store(&R.ready, false);
}

/*
 * Open the stores on the main loop's first turn: after the privilege drop and the seccomp
 * filter, so files are created as the server's user and the stores' own threads (RocksDB
 * compaction) carry the same filter as every other thread. Connections accepted before that
 * get 421 (RFC 5321 §3.1).
 */
static void res_open_now(void *arg)
{
	struct server *srv = arg;
	const struct core_conf *c = srv->conf;
	struct core_error err;
	core_error_clear(&err);
	int rc = store_set_open(c, &R.st, &err);
	if (rc == 0)
		rc = dir_open_conf(c, R.st.data, &R.d, &err);
	if (rc == 0)
		rc = dir_bruteforce_new_conf(R.st.lookup, c, &R.bf, &err);
	if (rc == 0) {
		struct mailstore_options o;
		mailstore_options_from_conf(c, &o);
		rc = mailstore_open(R.st.data, R.st.blob, &o, &R.ms, &err);
	}
	if (rc == 0)
		rc = queue_open(R.st.data, R.st.blob, &R.q, &err);
	if (rc < 0) {
		core_log(CORE_LOG_ERROR, "smtp.stores_failed", "error", err.msg, NULL);
		fprintf(stderr, "staunch: smtp: %s\n", err.msg);
		srv->failed = true;
		server_stop(srv);
		return;
	}
	R.dv = delivery_new(R.d, R.ms);
	pthread_mutex_lock(&RC.mu);
	RC.s = core_xcalloc(RCPT_CACHE_SLOTS, sizeof(*RC.s));
	pthread_mutex_unlock(&RC.mu);
	for (struct smtp_lst *l = R.lsts; l != NULL; l = l->next) {
		struct dir_auth_ctx actx = {.remote_ip = NULL, .bf = R.bf};
		dir_sasl_init(&l->sasl, R.d, &actx);
	}
	server_control_attach_stores(srv, &R.st, R.d);
	atomic_store_explicit(&R.ready, true, memory_order_release);
}

static void res_open(struct server *srv)
{
	if (R.refs++ > 0)
		return;
	const struct core_conf *c = srv->conf;
	R.spool_dir = core_xstrdup(srv->spool_dir);
	R.hostname = core_xstrdup(srv->hostname);
	R.sasl = (struct sasl_config){
		.allow_cleartext_insecure = core_conf_get_bool(c, "auth.allow-plain-text", false),
	};
	R.sender_must_match = core_conf_get_bool(c, "smtp.sender-must-match", true);
	R.from_must_match = core_conf_get_bool(c, "smtp.from-must-match", true);
	R.lookup_in_memory =
		strcmp(core_conf_get_str(c, "store.lookup.backend", "memory"), "memory") == 0;
	R.rate_window_ms = core_conf_get_duration_ms(c, "smtp.rate.window", 60000);
	R.rate_conn = core_conf_get_int(c, "smtp.rate.connections-per-ip", 0);
	R.rate_ip = core_conf_get_int(c, "smtp.rate.messages-per-ip", 0);
	R.rate_sender = core_conf_get_int(c, "smtp.rate.messages-per-sender", 0);
	R.rate_rcpt = core_conf_get_int(c, "smtp.rate.messages-per-recipient", 0);
	net_runtime_call(srv->rt, res_open_now, srv);
}

static bool res_ready(void)
{
	return atomic_load_explicit(&R.ready, memory_order_acquire);
}

static void res_release(void)
{
	if (R.refs == 0 || --R.refs > 0)
		return;
	res_close();
}

/* --- listener and session state ---------------------------------------------------------- */

struct smtp_sess {
	struct smtp_lst *lst;
	struct smtp_session *s;
	struct net_conn *c;
	char ip[64];
	struct dir_sasl sasl;   /* with the client's address for brute-force accounting */
	struct sasl_backend be; /* sasl.be, recording the name the client gave (authcid) */
	char authcid[256];
	struct delivery_spool spool;
	bool spool_on;
	char rcpt_text[320]; /* a RCPT reply answered from the resolution cache */
};

/* The authentication identity a client named, so a failure counts against that account too
 * (brute-force protection per account, docs/authentication.md). */
static void note_authcid(struct smtp_sess *ss, struct core_str authcid)
{
	size_t n = authcid.len < sizeof(ss->authcid) - 1 ? authcid.len : sizeof(ss->authcid) - 1;
	memcpy(ss->authcid, authcid.p != NULL ? authcid.p : "", n);
	ss->authcid[n] = '\0';
}

static int wrap_verify_plain(void *ctx, struct core_str authcid, struct core_str password,
			     struct core_arena *a, struct sasl_principal *out,
			     struct core_error *err)
{
	struct smtp_sess *ss = ctx;
	note_authcid(ss, authcid);
	return ss->sasl.be.verify_plain(ss->sasl.be.ctx, authcid, password, a, out, err);
}

static int wrap_scram_lookup(void *ctx, enum dir_scram_hash h, struct core_str authcid,
			     struct core_arena *a, struct dir_scram_secret *secret_out,
			     struct sasl_principal *out, struct core_error *err)
{
	struct smtp_sess *ss = ctx;
	note_authcid(ss, authcid);
	return ss->sasl.be.scram_lookup(ss->sasl.be.ctx, h, authcid, a, secret_out, out, err);
}

static int wrap_authorize(void *ctx, const struct sasl_principal *p, struct core_str authzid,
			  struct core_error *err)
{
	struct smtp_sess *ss = ctx;
	return ss->sasl.be.authorize(ss->sasl.be.ctx, p, authzid, err);
}

static int wrap_verify_token(void *ctx, enum sasl_mech_id mech, struct core_str user,
			     struct core_str token, struct core_arena *a,
			     struct sasl_principal *out, const char **status_out,
			     struct core_error *err)
{
	struct smtp_sess *ss = ctx;
	note_authcid(ss, user);
	return ss->sasl.be.verify_token(ss->sasl.be.ctx, mech, user, token, a, out, status_out,
					err);
}

static int wrap_map_cert(void *ctx, const unsigned char *der, size_t len, struct core_arena *a,
			 struct sasl_principal *out, struct core_error *err)
{
	struct smtp_sess *ss = ctx;
	return ss->sasl.be.map_cert(ss->sasl.be.ctx, der, len, a, out, err);
}

/* One candidate address of a client certificate: an individual account owning it is the
 * principal. 1 found, 0 not this one, < 0 an error to report (disabled, backend down). */
static int cert_try_address(struct core_arena *a, const unsigned char *p, int n,
			    struct sasl_principal *out, struct core_error *err)
{
	if (p == NULL || n <= 0 || n > 320 || memchr(p, '\0', (size_t)n) != NULL)
		return 0;
	struct core_error e;
	core_error_clear(&e);
	const char *addr = dir_address_normalize(a, core_str_make((const char *)p, (size_t)n), &e);
	if (addr == NULL)
		return 0;
	struct dir_principal *pr = NULL;
	int r = dir_principal_by_address(R.d, core_str_from_cstr(addr), a, &pr, &e);
	if (r == CORE_ENOTFOUND || (r >= 0 && pr->type != DIR_INDIVIDUAL))
		return 0;
	if (r < 0) {
		core_error_set(err, r, NULL, "%s", e.msg);
		return r;
	}
	if (pr->disabled)
		return core_error_set(err, CORE_EPERM, NULL, "account disabled");
	out->id = pr->id;
	out->name = pr->name;
	return 1;
}

/*
 * SASL EXTERNAL (RFC 4422 appendix A, docs/authentication.md): the runtime hands over only a
 * certificate that verified against tls.client-ca. Its owner is the individual account with
 * one of the certificate's e-mail addresses: the subjectAltName rfc822Name entries first
 * (RFC 5280 §4.2.1.6), then the subject's emailAddress attributes.
 */
static int cert_map(void *ctx, const unsigned char *der, size_t len, struct core_arena *a,
		    struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	if (der == NULL || len == 0 || len > 65536)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no client certificate");
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);
	if (x == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "unreadable client certificate");
	int r = 0;
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; r == 0 && san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
		if (g->type == GEN_EMAIL)
			r = cert_try_address(a, ASN1_STRING_get0_data(g->d.rfc822Name),
					     ASN1_STRING_length(g->d.rfc822Name), out, err);
	}
	GENERAL_NAMES_free(san);
	const X509_NAME *subj = X509_get_subject_name(x);
	for (int i = -1; r == 0 && subj != NULL;) {
		i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i);
		if (i < 0)
			break;
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		r = cert_try_address(a, ASN1_STRING_get0_data(v), ASN1_STRING_length(v), out, err);
	}
	X509_free(x);
	if (r == 0)
		return core_error_set(err, CORE_ENOTFOUND, NULL,
				      "no account owns an address of the client certificate");
	return r < 0 ? r : 0;
}

static void *sess_new(void *ctx, struct smtp_session *s, const struct smtp_conn *conn)
{
	struct smtp_lst *lst = ctx;
	struct smtp_sess *ss = core_xcalloc(1, sizeof(*ss));
	ss->lst = lst;
	ss->s = s;
	ss->c = conn->transport;
	ss->spool.fd = -1;
	snprintf(ss->ip, sizeof(ss->ip), "%s", conn->remote_ip ? conn->remote_ip : "");
	if (res_ready()) {
		struct dir_auth_ctx actx = {.remote_ip = ss->ip, .bf = R.bf};
		dir_sasl_init(&ss->sasl, R.d, &actx);
		ss->be = ss->sasl.be;
		ss->be.ctx = ss;
		if (ss->sasl.be.verify_plain != NULL)
			ss->be.verify_plain = wrap_verify_plain;
		if (ss->sasl.be.scram_lookup != NULL)
			ss->be.scram_lookup = wrap_scram_lookup;
		ss->be.verify_token = ss->sasl.be.verify_token != NULL ? wrap_verify_token : NULL;
		/* The directory's own certificate mapping when it has one, else ours. */
		ss->be.map_cert = ss->sasl.be.map_cert != NULL ? wrap_map_cert : cert_map;
		ss->be.authorize = ss->sasl.be.authorize != NULL ? wrap_authorize : NULL;
		smtp_session_set_sasl_backend(s, &ss->be);
	}
	return ss;
}

static void sess_free(void *sctx)
{
	struct smtp_sess *ss = sctx;
	delivery_spool_close(&ss->spool);
	free(ss);
}

/* --- worker jobs ------------------------------------------------------------------------- */

enum job_kind { JOB_MAIL, JOB_RCPT, JOB_DELIVER, JOB_AUTH, JOB_VRFY };

struct job {
	enum job_kind kind;
	struct smtp_sess *ss;
	struct smtp_session *s;
	struct core_arena *a;
	/* MAIL / RCPT */
	const char *from;
	bool null_from;
	const char *auth_user;
	const char *addr;
	struct smtp_verdict v;
	char text[256];
	/* DELIVER */
	struct delivery_spool spool;
	struct queue_entry qe;
	struct smtp_verdict *res;
	char (*texts)[96];
	size_t n;
	bool lmtp;
	struct deliver_state *ds; /* run_deliver's, for its second half (deliver_finish) */
	/* AUTH */
	struct sasl_exchange *x;
	const void *in;
	size_t len;
	bool have_in;
	struct core_buf *out;
	int status;
};

static void job_free(struct job *j)
{
	delivery_spool_close(&j->spool);
	core_arena_free(&j->a);
	free(j);
}

static struct job *job_new(enum job_kind kind, struct smtp_sess *ss, struct smtp_session *s)
{
	struct job *j = core_xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->ss = ss;
	j->s = s;
	j->a = core_arena_new(0);
	j->spool.fd = -1;
	return j;
}

static void job_run(void *arg);

static void job_done(void *arg, struct net_conn *c, bool ok)
{
	struct job *j = arg;
	(void)c;
	/* The session may have closed while the job ran: then it is only released. */
	if (smtp_session_release(j->s) && ok) {
		if (j->kind == JOB_AUTH)
			smtp_session_resume_auth(j->s, j->status);
		else if (j->kind == JOB_DELIVER)
			smtp_session_resume(j->s, j->res, j->n);
		else
			smtp_session_resume(j->s, &j->v, 1);
	}
	job_free(j);
}

static const struct smtp_verdict overloaded = {421, "4.3.2", "System overloaded, try again later"};

/* Run j on the worker pool: SMTP_PENDING, or 0 with *out = 421 when the pool is full (j is
 * then freed). Sessions always run under the network runtime here (conn->transport). */
static int job_submit(struct job *j, struct smtp_verdict *out)
{
	if (j->ss->c == NULL) {
		*out = (struct smtp_verdict){451, "4.3.0", "Service not available"};
		job_free(j);
		return 0;
	}
	smtp_session_hold(j->s);
	if (net_conn_submit(j->ss->c, job_run, job_done, j) < 0) {
		smtp_session_release(j->s);
		*out = overloaded;
		job_free(j);
		return 0;
	}
	return SMTP_PENDING;
}

/* A rate-limit counter: true when over limit. Keys "smtp/rl/<kind>/<subject>". */
static bool rate_over(const char *kind, const char *subject, int64_t limit)
{
	if (limit <= 0 || R.st.lookup == NULL)
		return false;
	char key[STORE_KEY_MAX];
	int n = snprintf(key, sizeof(key), "smtp/rl/%s/%s", kind, subject);
	if (n < 0 || (size_t)n >= sizeof(key))
		n = (int)sizeof(key) - 1;
	/* Addresses compare case-insensitively (RFC 5321 §2.4 for domains). */
	for (int i = 0; i < n; i++)
		key[i] = core_ascii_lower(key[i]);
	int64_t v = 0;
	struct core_error err;
	core_error_clear(&err);
	if (store_lookup_counter_add(R.st.lookup, key, (size_t)n, 1, R.rate_window_ms, &v, &err) <
	    0)
		return false; /* a lookup-store outage does not stop mail */
	return v > limit;
}

static void set_v(struct job *j, int code, const char *enh, const char *fmt, const char *arg)
{
	snprintf(j->text, sizeof(j->text), fmt, arg ? arg : "");
	j->v = (struct smtp_verdict){code, enh, j->text};
}

/* Whether the user may use addr: one of its addresses, or any for an admin. Returns 1, 0, or
 * a negative core_err when the directory cannot tell now. *p_io caches the principal. */
static int user_owns(struct job *j, struct dir_principal **p_io, const char *addr, size_t len)
{
	if (*p_io == NULL) {
		struct core_error err;
		core_error_clear(&err);
		int rc = dir_principal_by_name(R.d, core_str_from_cstr(j->auth_user), j->a, p_io,
					       &err);
		if (rc == CORE_ETEMP || rc == CORE_EIO)
			return rc;
		if (rc < 0)
			return 0;
	}
	const struct dir_principal *p = *p_io;
	if (p->role == DIR_ROLE_ADMIN)
		return 1;
	if (p->address != NULL && strlen(p->address) == len &&
	    strncasecmp(p->address, addr, len) == 0)
		return 1;
	for (size_t i = 0; i < p->n_aliases; i++)
		if (strlen(p->aliases[i]) == len && strncasecmp(p->aliases[i], addr, len) == 0)
			return 1;
	return 0;
}

/*
 * RFC 6409 §6.3 (configurable): the From: addresses of a submitted message must be the
 * user's. msg is the message as received; only its header section is read. Returns 1, 0 or a
 * negative core_err.
 */
static int from_owned(struct job *j, const char *msg, size_t len)
{
	struct dir_principal *p = NULL;
	size_t pos = 0;
	while (pos < len) {
		const char *line = msg + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) + 1 : len - pos;
		if (llen <= 2 && (line[0] == '\r' || line[0] == '\n'))
			break; /* the empty line ends the header section */
		pos += llen;
		if (llen < 5 || strncasecmp(line, "From:", 5) != 0)
			continue;
		/* The field with its folded continuation lines (RFC 5322 §2.2.3). */
		size_t end = pos;
		while (end < len && (msg[end] == ' ' || msg[end] == '\t')) {
			const char *n2 = memchr(msg + end, '\n', len - end);
			end = n2 != NULL ? (size_t)(n2 - msg) + 1 : len;
		}
		struct mail_addr_list list;
		mail_addr_list_parse(j->a, core_str_make(line + 5, end - (size_t)(line + 5 - msg)),
				     &list);
		for (size_t g = 0; g < list.ngroups; g++) {
			for (size_t k = 0; k < list.groups[g].count; k++) {
				const struct mail_addr *a = &list.groups[g].addrs[k];
				int rc = user_owns(j, &p, a->email.p, a->email.len);
				if (rc <= 0)
					return rc;
			}
		}
		pos = end;
	}
	return 1;
}

/* RFC 6409 §6.1 (configurable): an authenticated user may use only its own addresses. */
static void run_mail(struct job *j)
{
	if (rate_over("ip", j->ss->ip, R.rate_ip) ||
	    (!j->null_from && rate_over("from", j->from, R.rate_sender))) {
		set_v(j, 451, "4.7.1", "Rate limit exceeded, try again later%s", NULL);
		return;
	}
	if (j->auth_user != NULL && R.sender_must_match && !j->null_from) {
		struct dir_principal *p = NULL;
		int rc = user_owns(j, &p, j->from, strlen(j->from));
		if (rc < 0) {
			set_v(j, 451, "4.3.0", "Directory unavailable, try again later%s", NULL);
			return;
		}
		if (rc == 0) {
			set_v(j, 550, "5.7.1", "Sender address <%s> not owned by the user",
			      j->from);
			return;
		}
	}
	set_v(j, 250, "2.1.0", "Sender OK%s", NULL);
}

/*
 * The reply to RCPT for an address that resolved to `kind` (DELIVERY_LOCAL or
 * DELIVERY_REMOTE), written into text (the verdict points into it).
 */
static struct smtp_verdict rcpt_verdict(enum delivery_kind kind, bool lmtp, bool authed,
					const char *addr, char *text, size_t size)
{
	int code = 250;
	const char *enh = "2.1.5", *fmt = "Recipient <%s> OK";
	if (kind == DELIVERY_UNKNOWN) {
		code = 550, enh = "5.1.1", fmt = "No such user here: <%s>";
	} else if (kind == DELIVERY_REMOTE && lmtp) {
		/* RFC 2033 §4.3: an LMTP server delivers locally only. */
		code = 550, enh = "5.1.1", fmt = "Not a local recipient: <%s>";
	} else if (kind == DELIVERY_REMOTE && authed) {
		fmt = "Recipient <%s> OK (relayed)";
	} else if (kind == DELIVERY_REMOTE) {
		/* RFC 5321 §3.6.2, RFC 5321 §7.1: no open relaying for anonymous clients. */
		code = 550, enh = "5.7.1", fmt = "Relaying denied for <%s>";
	}
	snprintf(text, size, fmt, addr);
	return (struct smtp_verdict){code, enh, text};
}

static uint64_t rcpt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The slot of an address (lower-cased into key, which has 256 bytes); NULL when too long. */
static struct rcpt_slot *rcpt_slot_of(const char *addr, char *key)
{
	size_t n = strlen(addr);
	if (RC.s == NULL || n >= 256)
		return NULL;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		key[i] = core_ascii_lower(addr[i]);
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	}
	key[n] = '\0';
	return &RC.s[h % RCPT_CACHE_SLOTS];
}

static bool rcpt_cache_get(const char *addr, enum delivery_kind *kind_out)
{
	char key[256];
	bool hit = false;
	pthread_mutex_lock(&RC.mu);
	struct rcpt_slot *sl = rcpt_slot_of(addr, key);
	if (sl != NULL && strcmp(sl->addr, key) == 0 && sl->gen == dir_generation(R.d) &&
	    sl->expires_ms > rcpt_now_ms()) {
		*kind_out = sl->kind;
		hit = true;
	}
	pthread_mutex_unlock(&RC.mu);
	return hit;
}

/* gen: dir_generation() read before the resolution began. */
static void rcpt_cache_put(const char *addr, enum delivery_kind kind, uint64_t gen)
{
	if (kind == DELIVERY_UNKNOWN)
		return;
	char key[256];
	pthread_mutex_lock(&RC.mu);
	struct rcpt_slot *sl = rcpt_slot_of(addr, key);
	if (sl != NULL) {
		memcpy(sl->addr, key, strlen(key) + 1);
		sl->kind = kind;
		sl->gen = gen;
		sl->expires_ms = rcpt_now_ms() + RCPT_CACHE_TTL_MS;
	}
	pthread_mutex_unlock(&RC.mu);
}

static void run_rcpt(struct job *j)
{
	if (rate_over("rcpt", j->addr, R.rate_rcpt)) {
		set_v(j, 451, "4.7.1", "Rate limit exceeded for <%s>, try again later", j->addr);
		return;
	}
	enum delivery_kind kind;
	struct core_error err;
	core_error_clear(&err);
	uint64_t gen = dir_generation(R.d);
	int rc = delivery_resolve(R.dv, j->addr, j->a, &kind, NULL, 0, NULL, &err);
	if (rc < 0) {
		set_v(j, 451, "4.3.0", "Cannot check <%s> now, try again later", j->addr);
		return;
	}
	rcpt_cache_put(j->addr, kind, gen);
	j->v = rcpt_verdict(kind, j->lmtp, j->auth_user != NULL, j->addr, j->text, sizeof(j->text));
}

/* RFC 5321 §3.5.3: VRFY of a mailbox; §3.5.1: 252 when we will not say. */
static void run_vrfy(struct job *j)
{
	enum delivery_kind kind;
	struct core_error err;
	core_error_clear(&err);
	if (strchr(j->addr, '@') == NULL) {
		set_v(j, 252, "2.5.0", "Cannot VRFY <%s>, give a full address", j->addr);
		return;
	}
	int rc = delivery_resolve(R.dv, j->addr, j->a, &kind, NULL, 0, NULL, &err);
	if (rc < 0)
		set_v(j, 451, "4.3.0", "Cannot check <%s> now, try again later", j->addr);
	else if (kind == DELIVERY_LOCAL)
		set_v(j, 250, "2.1.5", "<%s>", j->addr);
	else if (kind == DELIVERY_UNKNOWN)
		set_v(j, 550, "5.1.1", "No such user here: <%s>", j->addr);
	else
		set_v(j, 252, "2.5.0", "<%s> is not local; will accept and attempt delivery",
		      j->addr);
}

static void res_text(struct job *j, size_t i, int code, const char *enh, const char *fmt,
		     unsigned long long id)
{
	snprintf(j->texts[i], sizeof(j->texts[i]), fmt, id);
	j->res[i] = (struct smtp_verdict){code, enh, j->texts[i]};
}

/* Room for one more queue recipient (nq grows by one). */
static struct queue_rcpt *qr_push(struct job *j, struct queue_rcpt *qr, size_t *nq, size_t *cap)
{
	if (*nq == *cap) {
		*cap *= 2;
		qr = core_arena_grow(j->a, qr, *nq, *cap, sizeof(*qr));
	}
	(*nq)++;
	return qr;
}

/* What the two halves of a delivery share (run_deliver, deliver_finish). */
struct deliver_state {
	const void *msg;
	size_t len;
	size_t *local_idx; /* recipient index of each local recipient */
	size_t nlocal;
	bool *remote;
	struct queue_rcpt *qr; /* queue recipients so far */
	size_t nq, qcap;
	struct delivery_result *dr; /* local results */
	struct net_job *job;        /* the deferred job, resumed when the commit is known */
};

static void deliver_finish(struct job *j);

/* The commit of an asynchronous delivery is known (on the thread that committed it). */
static void deliver_committed(void *arg)
{
	struct job *j = arg;
	struct net_job *job = j->ds->job;
	deliver_finish(j);
	net_job_resume(job);
}

static void run_deliver(struct job *j)
{
	const void *msg = NULL;
	size_t len = 0;
	struct core_error err;
	core_error_clear(&err);
	if (delivery_spool_map(&j->spool, &msg, &len, &err) < 0) {
		for (size_t i = 0; i < j->n; i++)
			j->res[i] = (struct smtp_verdict){451, "4.3.0",
							  "Local error reading the message"};
		return;
	}
	if (j->qe.auth_user[0] != '\0' && R.from_must_match) {
		j->auth_user = j->qe.auth_user;
		int rc = from_owned(j, (const char *)msg + j->spool.prefix_len,
				    len - j->spool.prefix_len);
		if (rc <= 0) {
			struct smtp_verdict v =
				rc < 0 ? (struct smtp_verdict){451, "4.3.0",
							       "Directory unavailable, try again "
							       "later"}
				       : (struct smtp_verdict){
						 550, "5.7.1",
						 "From: address not owned by the user"};
			for (size_t i = 0; i < j->n; i++)
				j->res[i] = v;
			return;
		}
	}
	/* Split: local recipients to the mail store, remote ones (and remote members of local
	 * lists) to the queue. */
	const char **local = core_arena_zalloc(j->a, sizeof(char *) * (j->n ? j->n : 1));
	/* Each recipient is resolved once per message: the delivery reuses it. */
	const struct dir_rcpt **local_res =
		core_arena_zalloc(j->a, sizeof(*local_res) * (j->n ? j->n : 1));
	size_t *local_idx = core_arena_zalloc(j->a, sizeof(size_t) * (j->n ? j->n : 1));
	size_t nlocal = 0;
	bool *remote = core_arena_zalloc(j->a, sizeof(bool) * (j->n ? j->n : 1));
	/* Queue recipients: the remote ones, remote members of local lists, and (SMTP) failed
	 * local ones; one queue entry per QUEUE_RCPTS_MAX of them. */
	size_t qcap = j->n + 16, nq = 0;
	struct queue_rcpt *qr = core_arena_zalloc(j->a, sizeof(*qr) * qcap);
	const char *small[16], **expanded = small;
	size_t exp_cap = CORE_NELEM(small);
	for (size_t i = 0; i < j->n; i++) {
		enum delivery_kind kind = DELIVERY_UNKNOWN;
		size_t nexp = 0;
		const char *addr = j->qe.rcpts[i].addr;
		const struct dir_rcpt *res = NULL;
		int rc = delivery_resolve_keep(R.dv, addr, j->a, &kind, expanded, exp_cap, &nexp,
					       &res, &err);
		if (rc == 0 && nexp > exp_cap) {
			/* A list with many remote members: again with room for all of them. */
			exp_cap = nexp;
			expanded = core_arena_zalloc(j->a, sizeof(char *) * exp_cap);
			rc = delivery_resolve_keep(R.dv, addr, j->a, &kind, expanded, exp_cap,
						   &nexp, &res, &err);
			if (nexp > exp_cap)
				nexp = exp_cap;
		}
		if (rc < 0) {
			j->res[i] = (struct smtp_verdict){451, "4.3.0",
							  "Temporary failure, try again later"};
			continue;
		}
		if (kind == DELIVERY_REMOTE && !j->lmtp) {
			remote[i] = true;
			qr = qr_push(j, qr, &nq, &qcap);
			qr[nq - 1] = j->qe.rcpts[i];
			continue;
		}
		local_idx[nlocal] = i;
		local_res[nlocal] = res;
		local[nlocal++] = addr;
		for (size_t k = 0; k < nexp; k++) {
			qr = qr_push(j, qr, &nq, &qcap);
			qr[nq - 1] = (struct queue_rcpt){.addr = expanded[k],
							 .orcpt_type = "",
							 .orcpt = "",
							 .last_reply = ""};
		}
	}
	struct deliver_state *ds = core_arena_zalloc(j->a, sizeof(*ds));
	*ds = (struct deliver_state){.msg = msg,
				     .len = len,
				     .local_idx = local_idx,
				     .nlocal = nlocal,
				     .remote = remote,
				     .qr = qr,
				     .nq = nq,
				     .qcap = qcap};
	j->ds = ds;
	if (nlocal == 0) {
		deliver_finish(j);
		return;
	}
	ds->dr = core_arena_zalloc(j->a, sizeof(*ds->dr) * nlocal);
	/* Only local recipients: the worker does not wait for the commit (another worker
	 * may be leading it); the job completes from deliver_committed. A message that
	 * also goes to the queue waits here, so the queue's write stays off the commit's
	 * thread. */
	if (nq == 0 && (ds->job = net_job_defer()) != NULL) {
		if (!delivery_local_start(R.dv, msg, len, local, local_res, nlocal, ds->dr,
					  deliver_committed, j))
			deliver_committed(j);
		return;
	}
	delivery_local_resolved(R.dv, msg, len, local, local_res, nlocal, ds->dr);
	deliver_finish(j);
}

/*
 * The second half of a delivery, once the local recipients' results are in ds->dr: SMTP's
 * single reply, failed recipients and remote ones to the queue.
 */
static void deliver_finish(struct job *j)
{
	struct deliver_state *ds = j->ds;
	const void *msg = ds->msg;
	size_t len = ds->len;
	size_t *local_idx = ds->local_idx;
	size_t nlocal = ds->nlocal;
	bool *remote = ds->remote;
	struct queue_rcpt *qr = ds->qr;
	size_t nq = ds->nq, qcap = ds->qcap;
	struct core_error err;
	core_error_clear(&err);
	for (size_t k = 0; k < nlocal; k++)
		j->res[local_idx[k]] =
			(struct smtp_verdict){ds->dr[k].code, ds->dr[k].enh, ds->dr[k].text};
	size_t nremote = 0;
	for (size_t i = 0; i < j->n; i++)
		nremote += remote[i] ? 1 : 0;
	if (!j->lmtp) {
		/* SMTP has one reply for the message (RFC 5321 §6.1: once 250 is sent, the server
		 * answers for every recipient). A temporary local failure therefore fails the
		 * whole message for a retry: a duplicate for the recipients already delivered is
		 * better than a loss. */
		size_t nok = nremote;
		for (size_t i = 0; i < j->n; i++) {
			const struct smtp_verdict *v = &j->res[i];
			if (v->code >= 400 && v->code < 500) {
				struct smtp_verdict t = *v;
				for (size_t k = 0; k < j->n; k++)
					j->res[k] = t;
				return;
			}
		}
		for (size_t k = 0; k < nlocal; k++)
			nok += j->res[local_idx[k]].code < 300 ? 1 : 0;
		/* Permanent failures next to successes: recorded in the queue as failed
		 * recipients, with the reply, so the outbound module sends the DSN (RFC 3461). */
		for (size_t k = 0; nok > 0 && k < nlocal; k++) {
			size_t i = local_idx[k];
			const struct smtp_verdict *v = &j->res[i];
			if (v->code < 500)
				continue;
			qr = qr_push(j, qr, &nq, &qcap);
			nq--;
			qr[nq] = j->qe.rcpts[i];
			qr[nq].status = QUEUE_RCPT_FAILED;
			qr[nq].last_reply =
				core_arena_printf(j->a, "%d %s %s", v->code, v->enh ? v->enh : "",
						  v->text ? v->text : "");
			nq++;
		}
	}
	if (nq > 0) {
		/* The queue keeps the message as received: without our Return-Path line, which
		 * the final delivery adds (RFC 5321 §4.4). */
		uint64_t id = 0, first = 0;
		int rc = 0;
		for (size_t b = 0; b < nq && rc == 0; b += QUEUE_RCPTS_MAX) {
			j->qe.rcpts = qr + b;
			j->qe.nrcpts = nq - b < QUEUE_RCPTS_MAX ? nq - b : QUEUE_RCPTS_MAX;
			rc = queue_submit(R.q, &j->qe, (const char *)msg + j->spool.prefix_len,
					  len - j->spool.prefix_len, &id, &err);
			if (b == 0)
				first = id;
		}
		id = first;
		for (size_t i = 0; i < j->n; i++) {
			/* SMTP: without the queue's copy nobody answers for the remote or failed
			 * recipients, so the whole message is retried (see above). */
			if (rc < 0 && (remote[i] || !j->lmtp))
				j->res[i] = (struct smtp_verdict){451, "4.3.0",
								  "Cannot queue the message now"};
			else if (remote[i])
				res_text(j, i, 250, "2.0.0", "Queued as %llu",
					 (unsigned long long)id);
		}
		if (rc == 0)
			core_log(CORE_LOG_INFO, "smtp.queued", "listener", j->ss->lst->name,
				 "remote", j->ss->ip, "from", j->qe.sender, NULL);
	}
}

static void job_run(void *arg)
{
	struct job *j = arg;
	switch (j->kind) {
	case JOB_MAIL:
		run_mail(j);
		break;
	case JOB_RCPT:
		run_rcpt(j);
		break;
	case JOB_DELIVER:
		run_deliver(j);
		break;
	case JOB_VRFY:
		run_vrfy(j);
		break;
	case JOB_AUTH:
		j->status = sasl_exchange_step(j->x, j->in, j->len, j->have_in, j->out);
		if (j->status != SASL_CONTINUE) {
			dir_sasl_report(&j->ss->sasl, j->ss->authcid[0] ? j->ss->authcid : NULL,
					sasl_exchange_result(j->x));
			j->ss->authcid[0] = '\0';
		}
		break;
	}
}

/* --- services ---------------------------------------------------------------------------- */

static int svc_check_sender(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
			    struct smtp_verdict *out)
{
	struct smtp_sess *ss = ctx;
	const char *user = smtp_session_auth_user(s);
	bool need = R.rate_ip > 0 || R.rate_sender > 0 || (user != NULL && R.sender_must_match);
	if (!need) {
		*out = (struct smtp_verdict){250, "2.1.0", "Sender OK"};
		return 0;
	}
	struct job *j = job_new(JOB_MAIL, ss, s);
	j->null_from = env->from.null;
	j->from = core_arena_strndup(j->a, env->from.addr.p, env->from.addr.len);
	j->auth_user = user != NULL ? core_arena_strdup(j->a, user) : NULL;
	return job_submit(j, out);
}

static int svc_check_rcpt(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
			  const struct smtp_rcpt *rcpt, struct smtp_verdict *out)
{
	struct smtp_sess *ss = ctx;
	(void)env;
	struct job *j = job_new(JOB_RCPT, ss, s);
	if (rcpt->path.postmaster && rcpt->path.domain.len == 0)
		/* RFC 5321 §4.5.1: "Postmaster" without a domain is ours. */
		j->addr = core_arena_printf(j->a, "postmaster@%s", R.hostname);
	else
		j->addr = core_arena_strndup(j->a, rcpt->path.addr.p, rcpt->path.addr.len);
	const char *user = smtp_session_auth_user(s);
	j->auth_user = user != NULL ? core_arena_strdup(j->a, user) : NULL;
	j->lmtp = ss->lst->l.cfg.lmtp;
	enum delivery_kind kind;
	if (R.rate_rcpt <= 0 && res_ready() && rcpt_cache_get(j->addr, &kind)) {
		/* Resolved the same way moments ago (see RC): answered here. */
		*out = rcpt_verdict(kind, j->lmtp, j->auth_user != NULL, j->addr, ss->rcpt_text,
				    sizeof(ss->rcpt_text));
		job_free(j);
		return 0;
	}
	return job_submit(j, out);
}

static int svc_verify(void *ctx, struct smtp_session *s, bool expand, struct core_str arg,
		      struct smtp_verdict *out)
{
	struct smtp_sess *ss = ctx;
	if (expand) {
		/* RFC 5321 §7.3: EXPN stays off (lists are not disclosed). */
		*out = (struct smtp_verdict){502, "5.5.1", "EXPN not available"};
		return 0;
	}
	struct job *j = job_new(JOB_VRFY, ss, s);
	struct core_str a = core_str_trim(arg);
	if (a.len >= 2 && a.p[0] == '<' && a.p[a.len - 1] == '>')
		a = core_str_make(a.p + 1, a.len - 2);
	j->addr = core_arena_strndup(j->a, a.p, a.len > 255 ? 255 : a.len);
	return job_submit(j, out);
}

static int spool_sink(void *arg, const void *p, size_t n)
{
	struct smtp_sess *ss = arg;
	return delivery_spool_write(&ss->spool, p, n);
}

static int svc_spool_open(void *ctx, const struct smtp_envelope *env, struct smtp_sink *out)
{
	struct smtp_sess *ss = ctx;
	delivery_spool_close(&ss->spool);
	char *rp = core_xasprintf("%.*s", (int)env->from.addr.len,
				  env->from.null ? "" : env->from.addr.p);
	struct core_error err;
	core_error_clear(&err);
	int rc = delivery_spool_open(&ss->spool, R.spool_dir, rp, &err);
	free(rp);
	if (rc < 0) {
		core_log(CORE_LOG_ERROR, "smtp.spool_failed", "error", err.msg, NULL);
		return CORE_ETEMP;
	}
	ss->spool_on = true;
	*out = (struct smtp_sink){spool_sink, ss};
	return 0;
}

static void svc_spool_abort(void *ctx)
{
	struct smtp_sess *ss = ctx;
	delivery_spool_close(&ss->spool);
	ss->spool_on = false;
}

static const char *dup_str(struct core_arena *a, struct core_str s)
{
	return core_arena_strndup(a, s.p != NULL ? s.p : "", s.len);
}

static int svc_deliver(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		       struct smtp_verdict *results)
{
	struct smtp_sess *ss = ctx;
	struct job *j = job_new(JOB_DELIVER, ss, s);
	/* The spool is the job's from here on. */
	j->spool = ss->spool;
	delivery_spool_forget(&ss->spool);
	ss->spool_on = false;
	j->lmtp = ss->lst->l.cfg.lmtp;
	j->n = env->nrcpts;
	j->res = core_arena_zalloc(j->a, sizeof(*j->res) * (j->n ? j->n : 1));
	j->texts = core_arena_zalloc(j->a, sizeof(*j->texts) * (j->n ? j->n : 1));
	/* Copy the envelope: the session's arena is not the worker's to read. */
	struct queue_entry *e = &j->qe;
	e->sender = env->from.null ? "" : dup_str(j->a, env->from.addr);
	const char *user = smtp_session_auth_user(s);
	e->auth_user = user != NULL ? core_arena_strdup(j->a, user) : "";
	e->envid = dup_str(j->a, env->envid);
	e->ret = (int)env->ret;
	e->body = (int)env->body;
	e->smtputf8 = env->smtputf8;
	e->requiretls = env->requiretls;
	e->has_priority = env->has_priority;
	e->priority = env->priority;
	e->has_by = env->has_by;
	e->by_time = env->by_time;
	e->by_mode = env->by_mode;
	e->by_trace = env->by_trace;
	e->hold_until = env->has_hold && env->hold_until > 0 ? (uint64_t)env->hold_until : 0;
	e->lease_owner = "";
	e->rcpts = core_arena_zalloc(j->a, sizeof(*e->rcpts) * (j->n ? j->n : 1));
	e->nrcpts = j->n;
	for (size_t i = 0; i < j->n; i++) {
		const struct smtp_rcpt *r = &env->rcpts[i];
		struct queue_rcpt *q = &e->rcpts[i];
		if (r->path.postmaster && r->path.domain.len == 0)
			q->addr = core_arena_printf(j->a, "postmaster@%s", R.hostname);
		else
			q->addr = dup_str(j->a, r->path.addr);
		q->notify = r->notify;
		q->orcpt_type = dup_str(j->a, r->orcpt_type);
		q->orcpt = dup_str(j->a, r->orcpt);
		q->last_reply = "";
	}
	struct smtp_verdict v;
	if (job_submit(j, &v) == SMTP_PENDING)
		return SMTP_PENDING;
	for (size_t i = 0; i < env->nrcpts; i++)
		results[i] = v;
	return 0;
}

static void svc_sasl_step(void *ctx, struct smtp_session *s, struct sasl_exchange *x,
			  const void *in, size_t len, bool have_in, struct core_buf *out)
{
	struct smtp_sess *ss = ctx;
	struct job *j = job_new(JOB_AUTH, ss, s);
	j->x = x;
	j->in = in;
	j->len = len;
	j->have_in = have_in;
	j->out = out;
	if (ss->c == NULL) {
		job_free(j);
		smtp_session_resume_auth(s, SASL_FAIL);
		return;
	}
	smtp_session_hold(s);
	if (net_conn_submit(ss->c, job_run, job_done, j) < 0) {
		smtp_session_release(s);
		job_free(j);
		/* Overloaded: fail the exchange as a temporary failure. */
		smtp_session_resume_auth(s, SASL_FAIL);
	}
}

static int svc_rate(void *ctx, enum smtp_rate_event ev, struct core_str subject,
		    struct smtp_verdict *out)
{
	(void)ctx;
	if (ev == SMTP_RATE_CONNECT && !res_ready()) {
		/* RFC 5321 §3.1: 421 while the service cannot work yet. */
		*out = (struct smtp_verdict){421, "4.3.2", "Service not ready, try again later"};
		return 0;
	}
	/* MAIL and RCPT limits are counted on the worker pool (run_mail, run_rcpt); the
	 * connection limit here only when the lookup store is in memory (never blocks). */
	if (ev == SMTP_RATE_CONNECT && R.lookup_in_memory && R.rate_conn > 0) {
		char ip[64];
		snprintf(ip, sizeof(ip), "%.*s", CORE_STR_FMT(subject));
		if (rate_over("conn", ip, R.rate_conn))
			*out = (struct smtp_verdict){421, "4.7.0",
						     "Too many connections, try again later"};
	}
	return 0;
}

static void svc_auth_done(void *ctx, const char *user)
{
	struct smtp_sess *ss = ctx;
	core_log(CORE_LOG_INFO, "smtp.auth", "listener", ss->lst->name, "remote", ss->ip, "user",
		 user, NULL);
}

/* --- listeners --------------------------------------------------------------------------- */

static void *smtp_arg_new(struct server *srv, const struct server_listener *l,
			  struct core_error *err)
{
	(void)err;
	res_open(srv);
	const struct core_conf *c = srv->conf;
	struct smtp_lst *lst = core_xcalloc(1, sizeof(*lst));
	lst->name = l->name;
	lst->next = R.lsts;
	R.lsts = lst;
	bool lmtp = strcmp(l->protocol, "lmtp") == 0;
	bool submission = strcmp(l->protocol, "submission") == 0;
	bool allow_plain = core_conf_get_bool(c, "auth.allow-plain-text", false);
	struct smtp_config *cfg = &lst->l.cfg;
	*cfg = (struct smtp_config){
		.hostname = R.hostname,
		.lmtp = lmtp,
		.submission = submission,
		.max_line = (size_t)core_conf_get_int(c, "smtp.max-line-length", 4096),
		.max_size = core_conf_get_size(c, "smtp.max-message-size", 50u << 20),
		.max_rcpts = (unsigned)core_conf_get_int(c, "smtp.max-recipients", 100),
		.max_commands = (unsigned)core_conf_get_int(c, "smtp.max-commands", 10000),
		.max_errors = (unsigned)core_conf_get_int(c, "smtp.max-errors", 10),
		.max_auth_failures = (unsigned)core_conf_get_int(c, "smtp.max-auth-failures", 3),
		.max_hops = (unsigned)core_conf_get_int(c, "smtp.max-hops", 100),
		.bare_data = strcmp(core_conf_get_str(c, "smtp.bare-lf", "reject"), "convert") == 0
				     ? SMTP_BARE_CONVERT
				     : SMTP_BARE_REJECT,
		.bare_cmd = strcmp(core_conf_get_str(c, "smtp.bare-lf-commands", "reject"),
				   "convert") == 0
				    ? SMTP_BARE_CONVERT
				    : SMTP_BARE_REJECT,
		.tls_available = l->tls == NET_TLS_STARTTLS,
		.vrfy = core_conf_get_bool(c, "smtp.vrfy", false),
		/* RFC 4954 §4 / RFC 8314: no cleartext passwords unless configured. */
		.require_tls_for_auth = !allow_plain,
		.futurerelease_max =
			core_conf_get_duration_ms(c, "smtp.futurerelease-max", 604800000) / 1000,
	};
	/* MX: AUTH only when configured; LMTP: never (RFC 2033: a trusted local hop). */
	bool auth = submission || (!lmtp && core_conf_get_bool(c, "smtp.mx-auth", false));
	if (auth) {
		cfg->sasl_cfg = &R.sasl;
		cfg->sasl_backend = &lst->sasl.be;
	}
	const char *const *off;
	size_t noff = core_conf_get_list(c, "smtp.disable-extensions", &off);
	for (size_t i = 0; i < noff; i++)
		cfg->ext_disabled |= smtp_ext_bit_by_name(off[i]);
	lst->svc = (struct smtp_services){
		.ctx = lst,
		.check_sender = svc_check_sender,
		.check_rcpt = svc_check_rcpt,
		.verify = svc_verify,
		.spool_open = svc_spool_open,
		.spool_abort = svc_spool_abort,
		.deliver = svc_deliver,
		.rate_check = svc_rate,
		.sasl_step = svc_sasl_step,
		.auth_done = svc_auth_done,
		.session_new = sess_new,
		.session_free = sess_free,
	};
	lst->l.svc = &lst->svc;
	return &lst->l;
}

static void smtp_arg_free(void *arg)
{
	if (arg == NULL)
		return;
	struct smtp_lst *lst = arg; /* struct smtp_listener is its first member */
	for (struct smtp_lst **p = &R.lsts; *p != NULL; p = &(*p)->next) {
		if (*p == lst) {
			*p = lst->next;
			break;
		}
	}
	free(lst);
	res_release();
}

static const struct server_service_def smtp_defs[] = {
	{"smtp", &smtp_net_service, smtp_arg_new, smtp_arg_free},
	{"submission", &smtp_net_service, smtp_arg_new, smtp_arg_free},
	{"lmtp", &smtp_net_service, smtp_arg_new, smtp_arg_free},
};

struct queue *server_smtp_queue(void)
{
	return res_ready() ? R.q : NULL;
}

void server_smtp_register(void)
{
	server_queue_ctl_register();
	for (size_t i = 0; i < CORE_NELEM(smtp_defs); i++)
		server_service_register(&smtp_defs[i]);
}
