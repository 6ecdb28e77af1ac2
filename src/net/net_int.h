/*
 * net_int.h: private structures of the network runtime (src/net), shared by net_loop.c
 * (runtime, event threads, shutdown), net_listener.c (sockets, accept, limits), net_conn.c
 * (connections, input/output, STARTTLS), net_tls.c (contexts, SNI, reload, self-signed
 * certificates) and net_worker.c (worker pool and completions). ARCHITECTURE.md §3.
 *
 * Threading rules:
 * - struct net_thread fields marked [mu] are guarded by net_thread.mu; everything else in a
 *   thread and every field of a net_conn belongs to that event thread.
 * - struct net_runtime is configured on the main thread before net_runtime_run(); afterwards
 *   only the atomics, the [call_mu] queue and the [tls_mu] pointer change.
 * - A net_conn lives until it is finished (its session closed, its bufferevent freed) AND no
 *   job of it is queued or running (jobs hold it). Workers read only net_conn.dead.
 */
#ifndef STAUNCH_NET_NET_INT_H
#define STAUNCH_NET_NET_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "core/core.h"
#include "net/net.h"

/* Defaults for zero-valued configuration fields. */
#define NET_DEFAULT_OUT_HIGH (256 * 1024)
#define NET_DEFAULT_OUT_LOW (64 * 1024)
#define NET_DEFAULT_MAX_INPUT (64 * 1024)
#define NET_DEFAULT_HANDSHAKE_MS 10000
#define NET_DEFAULT_QUEUE_MAX 4096
#define NET_DEFAULT_GRACE_MS 10000
#define NET_CLOSE_FLUSH_MS 5000 /* net_conn_close waits at most this long for output */
#define NET_IPTAB_BUCKETS 256

struct net_thread;
struct net_listener;

/* --- TLS (net_tls.c) --- */

/* One loaded certificate: its context and the DNS names it answers for (SAN, else CN). */
struct net_tls_cert {
	SSL_CTX *ctx;
	char **names; /* lower case; "*.example.com" for wildcards */
	size_t nnames;
};

/* The set of certificates in use; replaced as a whole on reload. Reference counted: each
 * TLS connection holds the set it started with until it is freed. */
struct net_tls_set {
	atomic_uint refs;
	struct net_tls_cert *certs; /* certs[0] is the default */
	size_t ncerts;
};

struct net_tls_set *net_tls_set_load(const struct net_runtime_cfg *cfg, struct core_error *err);
void net_tls_set_unref(struct net_tls_set *set);
/* Take a reference on the current set (NULL when no certificate is configured). */
struct net_tls_set *net_tls_current(struct net_runtime *rt);
/* A new server SSL object on the default certificate of set; SNI may switch it. */
SSL *net_tls_ssl_new(struct net_tls_set *set);
/* The SSL-level halves of net_conn_tls_exporter / _server_end_point / _client_cert
 * (net_tls_cb.c), and the RFC 5929 §4.1 hash of one certificate. */
int net_tls_exporter_ssl(SSL *ssl, unsigned char out[NET_TLS_EXPORTER_LEN]);
int net_tls_end_point_ssl(SSL *ssl, unsigned char out[NET_TLS_END_POINT_MAX], size_t *len_out);
int net_tls_end_point_hash(X509 *cert, unsigned char out[NET_TLS_END_POINT_MAX], size_t *len_out);
int net_tls_client_cert_ssl(SSL *ssl, struct core_buf *der_out);
/* Fill the TLS fields of c->info from its SSL object after the handshake. */
void net_tls_info_fill(struct net_conn *c, SSL *ssl);
/* Does name match pattern (exact or one-label wildcard), case-insensitively? */
bool net_tls_name_match(const char *pattern, const char *name);

/* --- listeners (net_listener.c) --- */

/* Per-IP connection counts of one listener, shared by its event threads. */
struct net_iptab_ent {
	struct net_iptab_ent *next;
	unsigned count;
	char ip[64];
};

struct net_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

/* One listening socket served by one event thread. */
struct net_lsock {
	struct net_listener *ls;
	struct net_thread *th;
	struct evconnlistener *evl; /* owns fd */
	struct event *ev_retry;     /* re-enable after an accept error (EMFILE) */
	int fd;
};

struct net_listener {
	struct net_listener *next;
	struct net_runtime *rt;
	char *name;
	char *svc_name;
	struct net_service svc; /* copied; svc.name points to svc_name */
	void *svc_arg;
	enum net_tls_mode tls;
	bool proxy_protocol;
	struct net_cidr *trusted;
	size_t ntrusted;
	unsigned max_connections, max_per_ip;
	uint32_t idle_timeout_ms, handshake_timeout_ms;
	size_t max_input;
	size_t nbind;
	uint16_t *ports;         /* [nbind] */
	struct net_lsock *socks; /* [nbind * nthreads], index b * nthreads + t */
	char **unix_path;        /* [nbind]: path of a unix-domain bind, else NULL */
	ino_t *unix_ino;         /* [nbind]: its inode after bind (removed only if unchanged) */
	dev_t *unix_dev;
	atomic_uint nconns;
	pthread_mutex_t ip_mu;
	struct net_iptab_ent *ipbuckets[NET_IPTAB_BUCKETS]; /* [ip_mu] */
};

/* Stop accepting on the sockets of this thread (called on the thread). */
void net_listener_thread_stop(struct net_thread *th);
void net_listener_free_all(struct net_runtime *rt);
/* Release the per-IP count taken at accept. */
void net_listener_ip_release(struct net_listener *ls, const char *ip);
bool net_listener_trusted(const struct net_listener *ls, const struct sockaddr *sa);

/* --- connections (net_conn.c) --- */

enum net_conn_state {
	NET_CONN_PROXY = 0,     /* waiting for the PROXY header */
	NET_CONN_HANDSHAKE = 1, /* implicit TLS handshake */
	NET_CONN_OPEN = 2,      /* session open, cleartext or TLS */
	NET_CONN_STARTTLS = 3,  /* flushing the reply before the STARTTLS handshake */
	NET_CONN_STLS_HS = 4,   /* STARTTLS handshake in progress */
};

/* A worker job (net_worker.c); queued on its connection, then on the pool. */
struct net_job {
	struct net_job *next;      /* connection FIFO */
	struct net_job *pool_next; /* pool queue or a thread's completion list */
	struct net_conn *c;
	void (*work)(void *arg);
	void (*done)(void *arg, struct net_conn *c, bool ok);
	void *arg;
	bool ran;
};

struct net_conn {
	struct net_conn_info info;
	struct net_conn *prev, *next; /* the thread's list */
	struct net_thread *th;
	struct net_listener *ls;
	struct net_runtime *rt;
	struct bufferevent *bev;       /* the top bufferevent (TLS filter after STARTTLS) */
	struct bufferevent *bev_under; /* the socket bufferevent below a TLS filter, or NULL */
	SSL *ssl;
	struct net_tls_set *tls_set;
	struct event *ev_timer; /* idle, handshake or close-flush timeout */
	struct event *ev_defer; /* deferred work: deliver, close, STARTTLS */
	void *session;
	enum net_conn_state state;
	uint32_t idle_ms;
	bool opened;   /* open() returned a session; close() is owed */
	bool closing;  /* net_conn_close: flushing, then finish */
	bool finished; /* session closed, bufferevent freed */
	bool paused;
	bool out_blocked; /* output above the high watermark: input stopped */
	bool want_deliver, want_finish, want_starttls;
	bool close_when_idle; /* shutdown without a shutdown callback: close when no job */
	bool ip_counted;
	bool tls_clean; /* the TLS session may send close_notify at finish */
	enum net_close_reason finish_why;
	atomic_bool dead; /* finished: read by workers to skip the work of a closed conn */
	struct net_job *jobs_head, *jobs_tail; /* FIFO; the head is on the pool */
	char remote_ip[64], local_ip[64];
	char *sni;
	struct core_buf tls_out; /* written between net_conn_starttls and the handshake */
};

/* Create and start a connection for an accepted socket (on ls's thread th). */
void net_conn_accept(struct net_listener *ls, struct net_thread *th, int fd,
		     const struct sockaddr *sa, socklen_t salen, bool ip_counted);
/* End a connection now: close the session, free the bufferevent (idempotent). */
void net_conn_finish(struct net_conn *c, enum net_close_reason why);
/* Free the struct once finished and without jobs. */
void net_conn_maybe_free(struct net_conn *c);
/* Graceful shutdown of a connection (on its thread). */
void net_conn_shutdown(struct net_conn *c);
/* A job of c completed: close it if shutdown asked for it once idle. */
void net_conn_jobs_idle(struct net_conn *c);

/* --- worker pool (net_worker.c) --- */

struct net_workers {
	pthread_t *tids;
	unsigned n, started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct net_job *head, *tail; /* [mu] */
	bool stop;                   /* [mu] */
	atomic_uint queued;          /* submitted and not yet started */
	unsigned queue_max;
};

int net_workers_start(struct net_runtime *rt);
/* Finish the queued jobs (skipping the work of closed connections) and join the threads. */
void net_workers_stop(struct net_runtime *rt);
/* Run the completions queued for th (on th). */
void net_workers_complete(struct net_thread *th, struct net_job *list);

/* --- event threads and runtime (net_loop.c) --- */

struct net_thread {
	struct net_runtime *rt;
	unsigned idx;
	pthread_t tid;
	bool started;
	struct event_base *base;
	struct event *ev_wake;  /* activated from other threads */
	struct net_conn *conns; /* list of live (unfinished) and job-held connections */
	pthread_mutex_t mu;
	struct net_job *done_head, *done_tail;  /* [mu] completions to run */
	bool cmd_graceful, cmd_force, cmd_exit; /* [mu] */
	bool graceful, listening;
};

struct net_call {
	struct net_call *next;
	void (*fn)(void *arg);
	void *arg;
};

struct net_runtime {
	unsigned nthreads;
	struct net_thread *threads;
	struct event_base *main_base;
	size_t out_high, out_low;
	uint32_t grace_ms;
	/* TLS configuration (copied) and the current set. */
	struct net_runtime_cfg tls_cfg;
	struct net_tls_cert_cfg *certs;
	pthread_mutex_t tls_mu;
	struct net_tls_set *tls; /* [tls_mu] */
	struct net_listener *listeners;
	struct net_workers workers;
	/* Main loop plumbing. */
	int wake_pipe[2]; /* net_runtime_shutdown writes here (signal-safe) */
	struct event *ev_pipe;
	struct event *ev_call;
	struct event *ev_check; /* shutdown progress timer */
	pthread_mutex_t call_mu;
	struct net_call *calls_head, *calls_tail; /* [call_mu] */
	void (*ready_fn)(void *arg);
	void *ready_arg;
	atomic_uint threads_ready;
	atomic_uint nconns; /* unfinished connections, all threads */
	atomic_uint_fast64_t next_id;
	atomic_bool stopping; /* shutdown began: refuse new connections */
	bool running, forced, done;
	uint64_t deadline_ms;
};

/* Post commands to a thread (any thread). */
void net_thread_wake(struct net_thread *th);
uint64_t net_now_ms(void);
/* Format "ip:port" (IPv6 in brackets) into out. */
void net_addr_format(const struct sockaddr *sa, char *ip_out, size_t ipsz, uint16_t *port_out);

#endif
