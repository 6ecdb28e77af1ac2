/*
 * net.h: the network runtime of Staunch (ARCHITECTURE.md §3).
 *
 * - Event threads: each runs one libevent event_base. Every listener socket is opened once per
 *   event thread with SO_REUSEPORT, so the kernel spreads connections over the threads.
 * - Connections: a bufferevent (plain or OpenSSL) owned by one event thread. Protocol sessions
 *   never see the bufferevent; they see struct net_conn through the functions below, and are
 *   driven by the callbacks of their struct net_service.
 * - TLS: OpenSSL, TLS 1.2 and later, SNI with several certificates, implicit TLS and STARTTLS,
 *   reload of every certificate on net_runtime_tls_reload() (SIGHUP). STARTTLS discards every
 *   byte received before the handshake (the CVE-2011-0411 class).
 * - Worker pool: net_conn_submit() runs blocking work (store, directory, DNS) on a bounded pool
 *   of threads; the completion runs back on the connection's event thread, one command at a
 *   time per connection and in submission order.
 * - Limits: connections per listener and per remote IP, idle timeout, output high/low
 *   watermarks (input is paused while output is above the high watermark), graceful shutdown.
 * - Optional PROXY protocol v1/v2 per listener (the remote address becomes the proxied one).
 *
 * Threading: every net_conn_* function must be called on the connection's event thread (from
 * a service callback or a completion), except where noted. Ownership: net_conn objects belong
 * to the runtime; a service's session pointer belongs to the service and is released in its
 * close callback.
 */
#ifndef STAUNCH_NET_NET_H
#define STAUNCH_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_error;
struct net_conn;
struct net_runtime;

enum net_tls_mode {
	NET_TLS_NONE = 0,     /* cleartext only */
	NET_TLS_STARTTLS = 1, /* cleartext, upgrade on the protocol's STARTTLS/STLS command */
	NET_TLS_IMPLICIT = 2, /* TLS handshake at connect (465, 993, 995, 443) */
};

enum net_close_reason {
	NET_CLOSE_NORMAL = 0,   /* the service or the peer closed */
	NET_CLOSE_IDLE = 1,     /* idle timeout */
	NET_CLOSE_ERROR = 2,    /* socket or TLS error */
	NET_CLOSE_SHUTDOWN = 3, /* the runtime is stopping */
	NET_CLOSE_LIMIT = 4,    /* a limit was exceeded */
};

/* What a session may know about its connection. Strings are borrowed for the conn's life. */
struct net_conn_info {
	const char *listener;  /* listener name, e.g. "smtp" */
	const char *protocol;  /* service name, e.g. "smtp" */
	const char *remote_ip; /* "127.0.0.1" or "::1" (the proxied client with PROXY protocol);
				* "unix" on a unix-domain socket (remote_port 0) */
	uint16_t remote_port;
	const char *local_ip;
	uint16_t local_port;
	bool tls;                /* TLS is established */
	const char *tls_version; /* "TLSv1.3" or NULL */
	const char *tls_cipher;  /* cipher name or NULL */
	const char *tls_sni;     /* server name the client asked for, or NULL */
	bool proxied;            /* the addresses came from a PROXY header */
	uint64_t id;             /* connection id, unique in this process */
};

/*
 * A protocol service bound to listeners. The runtime calls these on the connection's event
 * thread. All pointers may be NULL except open and input.
 */
struct net_service {
	const char *name;
	/* A connection was accepted (and, for implicit TLS, the handshake is done). Returns the
	 * session; typically writes the greeting. Returning NULL closes the connection. */
	void *(*open)(struct net_conn *c, void *service_arg);
	/* Bytes arrived: the session consumes a prefix and returns how many bytes it took; the
	 * rest stays buffered and is offered again with the next arrival (or after resume). */
	size_t (*input)(void *session, struct net_conn *c, const char *p, size_t len);
	/* Output fell below the low watermark (resume a large response). */
	void (*drained)(void *session, struct net_conn *c);
	/* STARTTLS handshake finished (ok) or failed (!ok: the connection then closes). */
	void (*tls_done)(void *session, struct net_conn *c, bool ok);
	/* The connection is going away; free the session. Called exactly once per open. */
	void (*close)(void *session, struct net_conn *c, enum net_close_reason why);
	/* Graceful shutdown began: the session should finish its current command, say goodbye
	 * (e.g. SMTP 421, IMAP * BYE) and close. NULL: the runtime closes it when idle. */
	void (*shutdown)(void *session, struct net_conn *c);
	/* The idle timer fired while no job was running: the session may say why it closes
	 * (e.g. SMTP 421, RFC 5321 §4.5.3.2.7) and call net_conn_close(); the runtime then
	 * flushes that output (bounded) and reports NET_CLOSE_IDLE. NULL, or a session that
	 * does not close: the runtime closes at once. */
	void (*timeout)(void *session, struct net_conn *c);
};

struct net_listener_cfg {
	const char *name;        /* "smtp", "imaps", ... */
	const char *const *bind; /* addresses "127.0.0.1:2525", "[::1]:143", port 0 = any free;
				  * "*:25" = every IPv4 address, "[::]:25" = every IPv6 one;
				  * "unix:/run/staunch/lmtp.sock" = a unix-domain stream socket */
	size_t nbind;
	/* Unix-domain sockets: created at net_runtime_listen (a stale socket is replaced only
	 * when nothing accepts on it; any other file is an error), given unix_mode (0 = 0660)
	 * and, when unix_chown, the owner unix_uid:unix_gid (-1 keeps one of them), and
	 * removed when the runtime is freed if the path still names our socket. */
	unsigned unix_mode;
	bool unix_chown;
	long unix_uid, unix_gid;
	enum net_tls_mode tls;
	bool proxy_protocol;              /* expect a PROXY v1/v2 header first */
	const char *const *proxy_trusted; /* source IPs or CIDR ranges allowed to send PROXY
					   * headers; others are served as direct clients */
	size_t nproxy_trusted;
	unsigned max_connections;          /* per listener, 0 = unlimited */
	unsigned max_connections_per_ip;   /* 0 = unlimited */
	uint32_t idle_timeout_ms;          /* 0 = none */
	uint32_t tls_handshake_timeout_ms; /* also bounds the PROXY header; 0 = 10 s */
	size_t max_input_buffer; /* bytes buffered unconsumed before the conn is closed (limit);
				  * 0 = 64 KiB */
};

struct net_tls_cert_cfg {
	const char *cert_file; /* PEM chain */
	const char *key_file;  /* PEM private key */
};

struct net_runtime_cfg {
	unsigned event_threads;    /* 0 = number of CPUs */
	unsigned worker_threads;   /* 0 = 4 x CPUs, at least 8 */
	unsigned worker_queue_max; /* pending jobs before submit fails with CORE_ELIMIT; 0 = 4096 */
	size_t out_high_watermark; /* default 256 KiB */
	size_t out_low_watermark;  /* default 64 KiB */
	uint32_t shutdown_grace_ms; /* after this, remaining connections are closed; 0 = 10 s */
	/* TLS: the first certificate is the default; the others are chosen by SNI. */
	const struct net_tls_cert_cfg *certs;
	size_t ncerts;
	const char *tls_min_version; /* "TLSv1.2" (default) or "TLSv1.3" */
	const char *tls_ciphers;     /* OpenSSL cipher list for TLS 1.2, NULL = default */
	/* PEM file of the CAs that issue client certificates (SASL EXTERNAL). NULL: no
	 * certificate is requested. When set, the handshake asks for one but never fails for
	 * lack of it or for a bad one: net_conn_tls_client_cert() reports only a verified one.
	 * Copied; read again by net_runtime_tls_reload() (so readable after a privilege drop). */
	const char *tls_client_ca;
};

/* Create the runtime (no threads yet). Loads TLS certificates; NULL with err on failure.
 * Process-wide effects: RLIMIT_NOFILE is raised to its hard limit, and SIGPIPE is ignored
 * when it still has its default action. */
struct net_runtime *net_runtime_new(const struct net_runtime_cfg *cfg, struct core_error *err);
void net_runtime_free(struct net_runtime **rt);

/* Bind a listener now (before privileges are dropped). Returns 0 or a negative core_err. */
int net_runtime_listen(struct net_runtime *rt, const struct net_listener_cfg *cfg,
		       const struct net_service *svc, void *service_arg, struct core_error *err);
/* The port a listener's i-th bind address got (useful with port 0); 0 if unknown. */
uint16_t net_runtime_listener_port(struct net_runtime *rt, const char *name, size_t i);

/* Start the event threads and workers and block until shutdown completes. Returns 0. */
int net_runtime_run(struct net_runtime *rt);
/* Callback run on the main loop once every listener accepts (e.g. to write a ready file). */
void net_runtime_on_ready(struct net_runtime *rt, void (*fn)(void *arg), void *arg);
/*
 * Begin a graceful shutdown: stop accepting, ask sessions to finish, close after the grace
 * period. Safe from any thread and from a signal handler.
 */
void net_runtime_shutdown(struct net_runtime *rt);
/* Reload every TLS certificate (new connections use the new ones). Any thread. */
int net_runtime_tls_reload(struct net_runtime *rt, struct core_error *err);
/* Run fn on the main thread's loop at the next turn (signals, control socket). Any thread. */
void net_runtime_call(struct net_runtime *rt, void (*fn)(void *arg), void *arg);
/* The main loop's event_base (type-erased), to add the control socket and signal events. */
void *net_runtime_main_base(struct net_runtime *rt);

/* --- connection interface for sessions --- */
const struct net_conn_info *net_conn_info(const struct net_conn *c);
/* Queue output. Never blocks; returns 0, or CORE_EIO when the connection is closing. */
int net_conn_write(struct net_conn *c, const void *p, size_t n);
int net_conn_printf(struct net_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes queued and not yet sent; above the high watermark the producer should wait for
 * the drained callback. */
size_t net_conn_out_pending(const struct net_conn *c);
bool net_conn_out_full(const struct net_conn *c);
/* Upgrade to TLS after the queued output (the "ready to start TLS" reply) is sent. Discards
 * input buffered before the handshake. tls_done reports the result. Output written after
 * this call is held and sent under TLS. Returns 0, CORE_EPERM (the listener is not
 * NET_TLS_STARTTLS, or TLS is already on) or CORE_EIO (closing). */
int net_conn_starttls(struct net_conn *c);
/* Stop / restart delivering input to the session (a command is being processed). */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
/* Close after queued output is flushed (bounded by a timeout). close callback follows. */
void net_conn_close(struct net_conn *c);
/* Reset the idle timer to a new value (e.g. IMAP IDLE allows 30 min). */
void net_conn_set_idle_timeout(struct net_conn *c, uint32_t ms);
/* The idle timeout now applied, in ms (the listener's idle_timeout_ms until changed). */
uint32_t net_conn_idle_timeout(const struct net_conn *c);

/*
 * Run work(arg) on the worker pool, then done(arg, ok) on the connection's event thread.
 * Completions of one connection run in submission order. If the connection closed meanwhile,
 * done still runs with ok == false (to free arg) and must not use c. Returns 0 or
 * CORE_ELIMIT (queue full: reply with a temporary error).
 */
int net_conn_submit(struct net_conn *c, void (*work)(void *arg),
		    void (*done)(void *arg, struct net_conn *c, bool ok), void *arg);

/*
 * Called by a job's work function whose work goes on after it returns, on another thread
 * (a delivery waiting for a commit another worker leads): the job then completes only when
 * net_job_resume() is called with the returned handle, from any thread, exactly once; the
 * worker is free meanwhile and the connection's next jobs wait. Returns NULL outside a
 * work function, or when the job is already deferred (the caller then finishes its work
 * before returning).
 */
struct net_job *net_job_defer(void);
void net_job_resume(struct net_job *job);

/*
 * --- channel binding and the client certificate (for SASL; docs/authentication.md) ---
 * Call these on the connection's event thread once TLS is up (after accept on an implicit
 * TLS listener, or in tls_done(ok) after STARTTLS), and copy the values into the session:
 * a later SASL exchange runs on a worker and must not touch the connection. The protocol
 * module fills struct sasl_conn_info (src/directory/sasl.h) like this:
 *
 *   unsigned char exp[NET_TLS_EXPORTER_LEN], ep[NET_TLS_END_POINT_MAX];
 *   size_t ep_len = 0;
 *   struct core_buf cert = CORE_BUF_INIT;
 *   ci.tls = info->tls;
 *   ci.tls13 = info->tls_version != NULL && strcmp(info->tls_version, "TLSv1.3") == 0;
 *   if (net_conn_tls_exporter(c, exp) == 0)
 *           ci.cb_exporter = exp, ci.cb_exporter_len = sizeof(exp);
 *   if (net_conn_tls_server_end_point(c, ep, &ep_len) == 0)
 *           ci.cb_endpoint = ep, ci.cb_endpoint_len = ep_len;
 *   if (net_conn_tls_client_cert(c, &cert) == 0)
 *           ci.client_cert = (unsigned char *)cert.p, ci.client_cert_len = cert.len;
 *
 * Each returns 0, CORE_ENOTFOUND (no TLS, or no such value), or as noted.
 */
#define NET_TLS_EXPORTER_LEN 32
#define NET_TLS_END_POINT_MAX 64
/* RFC 9266: the 32-byte exporter "EXPORTER-Channel-Binding" with no context. CORE_EPERM
 * when the connection is not TLS 1.3 (the binding is defined for TLS 1.3 only). */
int net_conn_tls_exporter(struct net_conn *c, unsigned char out[NET_TLS_EXPORTER_LEN]);
/* RFC 5929 §4.1: the hash of our certificate with the hash function of its signature
 * algorithm (MD5 and SHA-1 become SHA-256); CORE_ENOTFOUND when that is undefined
 * (e.g. an Ed25519 certificate). *len_out is the hash length. */
int net_conn_tls_server_end_point(struct net_conn *c, unsigned char out[NET_TLS_END_POINT_MAX],
				  size_t *len_out);
/* The client certificate (DER, appended to der_out) when one was presented AND verified
 * against tls_client_ca; CORE_EPERM when one was presented but did not verify. */
int net_conn_tls_client_cert(struct net_conn *c, struct core_buf *der_out);

/* --- TLS helpers --- */
/*
 * Write a self-signed certificate and key (ECDSA P-256, SAN DNS:hostname, DNS:localhost,
 * IP:127.0.0.1, IP:::1, valid 10 years) to cert_file and key_file (0600) unless both exist.
 */
int net_tls_selfsigned_ensure(const char *cert_file, const char *key_file, const char *hostname,
			      struct core_error *err);

/* --- PROXY protocol (pure parser, for tests and fuzzing) --- */
struct net_proxy_hdr {
	bool local; /* v2 LOCAL command or v1 UNKNOWN: keep the real addresses */
	char src_ip[64], dst_ip[64];
	uint16_t src_port, dst_port;
};
/* Parse a PROXY v1 or v2 header at the start of p. Returns bytes used (> 0), CORE_MORE (0)
 * when more input is needed, or CORE_ESYNTAX. */
int net_proxy_parse(const unsigned char *p, size_t len, struct net_proxy_hdr *out);

#endif
