/*
 * test_runtime.c: the network runtime end to end on loopback. Each test starts a runtime with
 * an echo service on 127.0.0.1 port 0 in a thread and talks to it with plain sockets and an
 * OpenSSL client: echo, idle timeout, per-IP limit, input limit, implicit TLS with a generated
 * self-signed certificate, STARTTLS injection (CVE-2011-0411 class), SNI, worker ordering,
 * PROXY protocol, graceful shutdown and a flood of garbage.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "net/net.h"

/* --- shared test state (service callbacks run on event threads) --- */

static atomic_int g_opens, g_closes, g_last_reason, g_injected_seen, g_tls_done_ok;
static atomic_int g_reasons[5];
static atomic_int g_drained, g_max_pending, g_ignore_shutdown, g_tls_done_fail;
static atomic_int g_submits, g_dones, g_dones_ok, g_limit_logs, g_shutdown_calls;

static void state_reset(void)
{
	atomic_store(&g_opens, 0);
	atomic_store(&g_closes, 0);
	atomic_store(&g_last_reason, -1);
	atomic_store(&g_injected_seen, 0);
	atomic_store(&g_tls_done_ok, 0);
	atomic_store(&g_dones, 0);
	atomic_store(&g_submits, 0);
	atomic_store(&g_drained, 0);
	for (int i = 0; i < 5; i++)
		atomic_store(&g_reasons[i], 0);
	atomic_store(&g_tls_done_fail, 0);
	atomic_store(&g_max_pending, 0);
	atomic_store(&g_ignore_shutdown, 0);
	atomic_store(&g_dones_ok, 0);
	atomic_store(&g_limit_logs, 0);
	atomic_store(&g_shutdown_calls, 0);
}

static void log_hook(enum core_log_level level, const char *line, void *arg)
{
	if (strstr(line, "event=net.limit") != NULL)
		atomic_fetch_add(&g_limit_logs, 1);
}

/* --- the echo service --- */

struct sess {
	unsigned seed;
	size_t big_left; /* bytes of a BIG response still to produce */
};

struct job {
	int i, n;
	unsigned sleep_us;
	struct sess *s;
};

static void *echo_open(struct net_conn *c, void *arg)
{
	atomic_fetch_add(&g_opens, 1);
	struct sess *s = core_xcalloc(1, sizeof(*s));
	s->seed = (unsigned)net_conn_info(c)->id * 7919u;
	net_conn_printf(c, "HELLO %s\r\n", (const char *)arg);
	return s;
}

static void job_work(void *arg)
{
	struct job *j = arg;
	usleep(j->sleep_us);
}

/* A deferred job: its work hands the job to another thread, which resumes it later. */
struct deferred {
	struct net_job *job;
	unsigned sleep_us;
};

static void *resume_main(void *arg)
{
	struct deferred *d = arg;
	usleep(d->sleep_us);
	net_job_resume(d->job);
	free(d);
	return NULL;
}

static void defer_work(void *arg)
{
	struct job *j = arg;
	struct deferred *d = core_xcalloc(1, sizeof(*d));
	d->job = net_job_defer();
	d->sleep_us = j->sleep_us;
	ck_assert_ptr_nonnull(d->job);
	ck_assert_ptr_null(net_job_defer()); /* once per job */
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, resume_main, d), 0);
	pthread_detach(th);
}

static void job_done(void *arg, struct net_conn *c, bool ok)
{
	struct job *j = arg;
	atomic_fetch_add(&g_dones, 1);
	if (ok) {
		atomic_fetch_add(&g_dones_ok, 1);
		net_conn_printf(c, "J%d\r\n", j->i);
		if (j->i == j->n - 1)
			net_conn_printf(c, "JOBS DONE\r\n");
	}
	free(j);
}

/* A large response produced under back-pressure: stop at the high watermark, resume in
 * drained. */
static void big_produce(struct sess *s, struct net_conn *c)
{
	char chunk[8192];
	memset(chunk, 'd', sizeof(chunk));
	while (s->big_left > 0 && !net_conn_out_full(c)) {
		size_t n = s->big_left < sizeof(chunk) ? s->big_left : sizeof(chunk);
		net_conn_write(c, chunk, n);
		s->big_left -= n;
		int pending = (int)net_conn_out_pending(c);
		int seen = atomic_load(&g_max_pending);
		while (pending > seen &&
		       !atomic_compare_exchange_weak(&g_max_pending, &seen, pending))
			;
	}
	if (s->big_left == 0)
		net_conn_printf(c, "\r\nBIG DONE\r\n");
}

static void echo_drained(void *session, struct net_conn *c)
{
	struct sess *s = session;
	atomic_fetch_add(&g_drained, 1);
	if (s->big_left > 0)
		big_produce(s, c);
}

static void slow_work(void *arg)
{
	usleep(300000);
}

static void slow_done(void *arg, struct net_conn *c, bool ok)
{
	if (ok) {
		net_conn_printf(c, "SLOW DONE\r\n");
		net_conn_resume(c);
	}
}

static void echo_line(struct sess *s, struct net_conn *c, const char *line, size_t len)
{
	const struct net_conn_info *ci = net_conn_info(c);
	if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
		net_conn_printf(c, "BYE\r\n");
		net_conn_close(c);
	} else if (len == 4 && memcmp(line, "INFO", 4) == 0) {
		net_conn_printf(c, "INFO tls=%d version=%s sni=%s remote=%s:%u proxied=%d\r\n",
				ci->tls, ci->tls_version ? ci->tls_version : "-",
				ci->tls_sni ? ci->tls_sni : "-", ci->remote_ip, ci->remote_port,
				ci->proxied);
	} else if (len > 5 && memcmp(line, "JOBS ", 5) == 0) {
		int n = atoi(line + 5);
		for (int i = 0; i < n; i++) {
			struct job *j = core_xcalloc(1, sizeof(*j));
			j->i = i;
			j->n = n;
			j->sleep_us = (unsigned)(rand_r(&s->seed) % 3000);
			if (net_conn_submit(c, job_work, job_done, j) != 0) {
				free(j);
				net_conn_printf(c, "JOBS FULL\r\n");
				break;
			}
			atomic_fetch_add(&g_submits, 1);
		}
	} else if (len > 6 && memcmp(line, "DEFER ", 6) == 0) {
		int n = atoi(line + 6);
		for (int i = 0; i < n; i++) {
			struct job *j = core_xcalloc(1, sizeof(*j));
			j->i = i;
			j->n = n;
			j->sleep_us = (unsigned)(rand_r(&s->seed) % 3000);
			ck_assert_int_eq(net_conn_submit(c, defer_work, job_done, j), 0);
			atomic_fetch_add(&g_submits, 1);
		}
	} else if (len > 4 && memcmp(line, "BIG ", 4) == 0) {
		s->big_left = (size_t)atol(line + 4);
		big_produce(s, c);
	} else if (len == 4 && memcmp(line, "SLOW", 4) == 0) {
		/* A command on the worker pool: no input is delivered until it completes. */
		net_conn_pause(c);
		ck_assert_int_eq(net_conn_submit(c, slow_work, slow_done, NULL), 0);
	} else if (len > 5 && memcmp(line, "IDLE ", 5) == 0) {
		net_conn_set_idle_timeout(c, (uint32_t)atoi(line + 5));
		net_conn_printf(c, "IDLE OK\r\n");
	} else if (len > 9 && memcmp(line, "JOBSQUIT ", 9) == 0) {
		int n = atoi(line + 9);
		for (int i = 0; i < n; i++) {
			struct job *j = core_xcalloc(1, sizeof(*j));
			j->i = i;
			j->n = n;
			j->sleep_us = 2000;
			ck_assert_int_eq(net_conn_submit(c, job_work, job_done, j), 0);
			atomic_fetch_add(&g_submits, 1);
		}
		net_conn_close(c);
	} else {
		if (len == 8 && memcmp(line, "INJECTED", 8) == 0)
			atomic_fetch_add(&g_injected_seen, 1);
		net_conn_write(c, "ECHO ", 5);
		net_conn_write(c, line, len);
		net_conn_write(c, "\r\n", 2);
	}
}

static size_t echo_input(void *session, struct net_conn *c, const char *p, size_t len)
{
	struct sess *s = session;
	size_t used = 0;
	while (used < len) {
		const char *nl = memchr(p + used, '\n', len - used);
		if (nl == NULL)
			break;
		size_t ll = (size_t)(nl - (p + used));
		const char *line = p + used;
		size_t next = used + ll + 1;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		used = next;
		if (ll == 8 && memcmp(line, "STARTTLS", 8) == 0) {
			net_conn_printf(c, "OK begin TLS\r\n");
			if (net_conn_starttls(c) == 0) {
				/* Written after the go-ahead: must travel inside TLS. */
				net_conn_printf(c, "WELCOME TLS\r\n");
				return used; /* nothing after STARTTLS is ours to read */
			}
			net_conn_printf(c, "NO TLS\r\n");
			continue;
		}
		echo_line(s, c, line, ll);
		if (ll == 4 && memcmp(line, "SLOW", 4) == 0)
			return used; /* paused: the rest waits for net_conn_resume */
	}
	return used;
}

static void echo_tls_done(void *session, struct net_conn *c, bool ok)
{
	if (ok)
		atomic_fetch_add(&g_tls_done_ok, 1);
	else
		atomic_fetch_add(&g_tls_done_fail, 1);
}

static void echo_close(void *session, struct net_conn *c, enum net_close_reason why)
{
	atomic_store(&g_last_reason, (int)why);
	if ((int)why >= 0 && (int)why < 5)
		atomic_fetch_add(&g_reasons[why], 1);
	atomic_fetch_add(&g_closes, 1);
	free(session);
}

static void echo_shutdown(void *session, struct net_conn *c)
{
	atomic_fetch_add(&g_shutdown_calls, 1);
	if (atomic_load(&g_ignore_shutdown))
		return; /* a session that never finishes: the grace period ends it */
	net_conn_printf(c, "BYE shutting down\r\n");
	net_conn_close(c);
}

static const struct net_service echo_svc = {
	.name = "echo",
	.open = echo_open,
	.input = echo_input,
	.drained = echo_drained,
	.tls_done = echo_tls_done,
	.close = echo_close,
	.shutdown = echo_shutdown,
};

/* The same service without a shutdown callback: the runtime closes it once idle. */
static const struct net_service echo_svc_noshut = {
	.name = "echo",
	.open = echo_open,
	.input = echo_input,
	.drained = echo_drained,
	.close = echo_close,
};

static void echo_timeout(void *session, struct net_conn *c)
{
	(void)session;
	net_conn_printf(c, "BYE idle\r\n");
	net_conn_close(c);
}

/* The same service with a timeout callback: it says goodbye before the idle close. */
static const struct net_service echo_svc_timeout = {
	.name = "echo",
	.open = echo_open,
	.input = echo_input,
	.close = echo_close,
	.shutdown = echo_shutdown,
	.timeout = echo_timeout,
};

/* --- server harness --- */

struct srv {
	struct net_runtime *rt;
	pthread_t tid;
	uint16_t port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready, returned;
	int run_rc;
	char dir[64];
	char cert1[128], key1[128], cert2[128], key2[128];
	/* Optional overrides (0/NULL: defaults of the harness). */
	const struct net_service *svc;
	size_t out_high, out_low;
	uint32_t grace_ms;
	const char *bind; /* instead of 127.0.0.1:0 (e.g. "unix:/path") */
};

static void srv_ready(void *arg)
{
	struct srv *s = arg;
	pthread_mutex_lock(&s->mu);
	s->ready = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	s->run_rc = net_runtime_run(s->rt);
	pthread_mutex_lock(&s->mu);
	s->returned = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void srv_certs(struct srv *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/net_test_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(s->cert1, sizeof(s->cert1), "%s/first.crt", s->dir);
	snprintf(s->key1, sizeof(s->key1), "%s/first.key", s->dir);
	snprintf(s->cert2, sizeof(s->cert2), "%s/second.crt", s->dir);
	snprintf(s->key2, sizeof(s->key2), "%s/second.key", s->dir);
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(net_tls_selfsigned_ensure(s->cert1, s->key1, "first.test", &err) == 0, "%s",
		      err.msg);
	ck_assert_msg(net_tls_selfsigned_ensure(s->cert2, s->key2, "second.test", &err) == 0, "%s",
		      err.msg);
}

static void srv_start(struct srv *s, struct net_listener_cfg *lc, bool tls)
{
	state_reset();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	struct net_tls_cert_cfg certs[2] = {{s->cert1, s->key1}, {s->cert2, s->key2}};
	struct net_runtime_cfg rc = {
		.event_threads = 2,
		.worker_threads = 4,
		.worker_queue_max = 1000,
		.shutdown_grace_ms = s->grace_ms ? s->grace_ms : 3000,
		.out_high_watermark = s->out_high,
		.out_low_watermark = s->out_low,
		.certs = tls ? certs : NULL,
		.ncerts = tls ? 2 : 0,
	};
	struct core_error err;
	core_error_clear(&err);
	s->rt = net_runtime_new(&rc, &err);
	ck_assert_msg(s->rt != NULL, "runtime: %s", err.msg);
	static const char *const bind[] = {"127.0.0.1:0"};
	lc->bind = s->bind != NULL ? &s->bind : bind;
	lc->nbind = 1;
	ck_assert_msg(net_runtime_listen(s->rt, lc, s->svc ? s->svc : &echo_svc, (void *)lc->name,
					 &err) == 0,
		      "%s", err.msg);
	s->port = net_runtime_listener_port(s->rt, lc->name, 0);
	if (s->bind == NULL)
		ck_assert_uint_ne(s->port, 0);
	net_runtime_on_ready(s->rt, srv_ready, s);
	ck_assert_int_eq(pthread_create(&s->tid, NULL, srv_main, s), 0);
	pthread_mutex_lock(&s->mu);
	while (!s->ready)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* Stop the runtime; returns the milliseconds run() took to return. */
static long srv_stop(struct srv *s)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	net_runtime_shutdown(s->rt);
	pthread_join(s->tid, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_eq(s->run_rc, 0);
	net_runtime_free(&s->rt);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	if (s->dir[0] != '\0') {
		unlink(s->cert1);
		unlink(s->key1);
		unlink(s->cert2);
		unlink(s->key2);
		rmdir(s->dir);
	}
	/* Every open was matched by exactly one close. */
	ck_assert_int_eq(atomic_load(&g_opens), atomic_load(&g_closes));
	return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

/* --- plain client --- */

static int cli_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void cli_send(int fd, const char *s)
{
	size_t n = strlen(s);
	ck_assert_int_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read one line (without CRLF) into out; returns its length, or -1 at EOF/error. */
static int cli_line(int fd, char *out, size_t outsz)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t r = recv(fd, &ch, 1, 0);
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (ch != '\r' && n + 1 < outsz)
			out[n++] = ch;
	}
	out[n] = '\0';
	return (int)n;
}

/* Is the connection closed by the server (EOF or reset) within ms? */
static bool cli_closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		int r = poll(&p, 1, ms);
		if (r <= 0)
			return false;
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true;
	}
}

/* --- TLS client --- */

static SSL_CTX *cli_tls_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static SSL *cli_tls_start(SSL_CTX *ctx, int fd, const char *sni)
{
	SSL *ssl = SSL_new(ctx);
	ck_assert_ptr_nonnull(ssl);
	SSL_set_fd(ssl, fd);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	int r = SSL_connect(ssl);
	ck_assert_msg(r == 1, "SSL_connect: %d", SSL_get_error(ssl, r));
	return ssl;
}

static int cli_tls_line(SSL *ssl, char *out, size_t outsz)
{
	size_t n = 0;
	for (;;) {
		char ch;
		int r = SSL_read(ssl, &ch, 1);
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (ch != '\r' && n + 1 < outsz)
			out[n++] = ch;
	}
	out[n] = '\0';
	return (int)n;
}

static void cli_tls_send(SSL *ssl, const char *s)
{
	ck_assert_int_eq(SSL_write(ssl, s, (int)strlen(s)), (int)strlen(s));
}

/* The CN of the server's certificate. */
static void cli_peer_cn(SSL *ssl, char *out, size_t outsz)
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	ck_assert_ptr_nonnull(x);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outsz);
	X509_free(x);
}

/* --- tests --- */

START_TEST(test_echo)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "echo"};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO echo");
	cli_send(fd, "abc\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO abc");
	/* Pipelined lines and a line split over two sends. */
	cli_send(fd, "one\r\ntwo\r\nthr");
	usleep(20000);
	cli_send(fd, "ee\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO one");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO two");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO three");
	cli_send(fd, "INFO\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=0 version=- sni=- remote=127.0.0.1:", 44) == 0, "%s",
		      line);
	cli_send(fd, "QUIT\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE");
	ck_assert(cli_closed_within(fd, 5000));
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_NORMAL);
}
END_TEST

START_TEST(test_idle_timeout)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "idle", .idle_timeout_ms = 500};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* Activity keeps it open past the timeout. */
	for (int i = 0; i < 3; i++) {
		usleep(100000);
		cli_send(fd, "ping\r\n");
		ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	}
	ck_assert(cli_closed_within(fd, 3000));
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_IDLE);
}
END_TEST

START_TEST(test_idle_timeout_callback)
{
	struct srv s = {.svc = &echo_svc_timeout};
	struct net_listener_cfg lc = {.name = "idlecb", .idle_timeout_ms = 300};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	cli_send(fd, "ping\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* The goodbye written by the timeout callback reaches the client before the close. */
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE idle");
	ck_assert(cli_closed_within(fd, 3000));
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_IDLE);
	ck_assert_int_eq(atomic_load(&g_reasons[NET_CLOSE_IDLE]), 1);
}
END_TEST

static int cli_connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	ck_assert_uint_lt(plen, sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, plen + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A socket file nobody accepts on, as a crashed process leaves it. */
static void make_stale_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	ck_assert_uint_lt(plen, sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, plen + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
}

START_TEST(test_unix_socket)
{
	char dir[64], path[128], bind[140];
	snprintf(dir, sizeof(dir), "/tmp/net_unix_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lmtp.sock", dir);
	snprintf(bind, sizeof(bind), "unix:%s", path);
	make_stale_socket(path);

	/* The stale socket is replaced; the new one gets the configured mode. */
	struct srv s = {.bind = bind};
	struct net_listener_cfg lc = {
		.name = "unixl", .unix_mode = 0600, .max_connections_per_ip = 1};
	srv_start(&s, &lc, false);
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(net_runtime_listener_port(s.rt, "unixl", 0), 0);

	/* Several clients at once (the per-IP limit of 1 does not apply to "unix"), served
	 * by every event thread. */
	int fds[6];
	char line[256];
	for (size_t i = 0; i < 6; i++) {
		fds[i] = cli_connect_unix(path);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_ge(cli_line(fds[i], line, sizeof(line)), 0);
		ck_assert_str_eq(line, "HELLO unixl");
	}
	for (size_t i = 0; i < 6; i++) {
		cli_send(fds[i], "INFO\r\n");
		ck_assert_int_ge(cli_line(fds[i], line, sizeof(line)), 0);
		ck_assert_msg(strstr(line, "remote=unix:0 ") != NULL, "%s", line);
		cli_send(fds[i], "QUIT\r\n");
		ck_assert_int_ge(cli_line(fds[i], line, sizeof(line)), 0);
		ck_assert_str_eq(line, "BYE");
		close(fds[i]);
	}

	/* A second runtime must not take over a socket that is being served. */
	struct core_error err;
	core_error_clear(&err);
	struct net_runtime_cfg rc2 = {.event_threads = 1, .worker_threads = 1};
	struct net_runtime *rt2 = net_runtime_new(&rc2, &err);
	ck_assert_ptr_nonnull(rt2);
	const char *const b2[] = {bind};
	struct net_listener_cfg lc2 = {.name = "again", .bind = b2, .nbind = 1};
	ck_assert_int_eq(net_runtime_listen(rt2, &lc2, &echo_svc, NULL, &err), CORE_ECONFLICT);
	net_runtime_free(&rt2);
	/* ... and the first server still answers. */
	int fd = cli_connect_unix(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	close(fd);

	/* Freed: the socket file is gone. */
	srv_stop(&s);
	ck_assert_int_ne(lstat(path, &st), 0);
	ck_assert_int_eq(errno, ENOENT);

	/* A file that is not a socket is never removed. */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("keep\n", f);
	fclose(f);
	struct net_runtime *rt3 = net_runtime_new(&rc2, &err);
	ck_assert_ptr_nonnull(rt3);
	ck_assert_int_eq(net_runtime_listen(rt3, &lc2, &echo_svc, NULL, &err), CORE_ECONFLICT);
	net_runtime_free(&rt3);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	unlink(path);

	/* A path longer than sockaddr_un holds is a syntax error. */
	char longb[200];
	memset(longb, 'a', sizeof(longb) - 1);
	longb[sizeof(longb) - 1] = '\0';
	memcpy(longb, "unix:/", 6);
	const char *const b4[] = {longb};
	struct net_listener_cfg lc4 = {.name = "long", .bind = b4, .nbind = 1};
	struct net_runtime *rt4 = net_runtime_new(&rc2, &err);
	ck_assert_ptr_nonnull(rt4);
	ck_assert_int_eq(net_runtime_listen(rt4, &lc4, &echo_svc, NULL, &err), CORE_ESYNTAX);
	net_runtime_free(&rt4);
	rmdir(dir);
}
END_TEST

START_TEST(test_per_ip_limit)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "limited", .max_connections_per_ip = 2};
	srv_start(&s, &lc, false);
	char line[256];
	int a = cli_connect(s.port), b = cli_connect(s.port);
	ck_assert_int_ge(cli_line(a, line, sizeof(line)), 0);
	ck_assert_int_ge(cli_line(b, line, sizeof(line)), 0);
	/* The third is closed without a greeting; the service never sees it. */
	int c = cli_connect(s.port);
	ck_assert_int_eq(cli_line(c, line, sizeof(line)), -1);
	close(c);
	ck_assert_int_eq(atomic_load(&g_opens), 2);
	ck_assert_int_ge(atomic_load(&g_limit_logs), 1);
	/* Once one leaves, a new connection is served. */
	cli_send(a, "QUIT\r\n");
	ck_assert(cli_closed_within(a, 5000));
	close(a);
	int d = -1;
	for (int i = 0; i < 50; i++) {
		d = cli_connect(s.port);
		if (cli_line(d, line, sizeof(line)) >= 0)
			break;
		close(d);
		d = -1;
		usleep(20000); /* the server may not have released the slot yet */
	}
	ck_assert_int_ge(d, 0);
	ck_assert_str_eq(line, "HELLO limited");
	close(d);
	close(b);
	srv_stop(&s);
}
END_TEST

START_TEST(test_max_input)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "small", .max_input_buffer = 4096};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* Below the limit a long line is fine. */
	char buf[10000];
	memset(buf, 'x', sizeof(buf));
	memcpy(buf + 3000, "\r\n", 2);
	ck_assert_int_eq(send(fd, buf, 3002, MSG_NOSIGNAL), 3002);
	ck_assert_int_eq(cli_line(fd, line, sizeof(line)), 255);
	/* Over it: closed with NET_CLOSE_LIMIT. */
	send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	ck_assert(cli_closed_within(fd, 5000));
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_LIMIT);
}
END_TEST

START_TEST(test_garbage_flood)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "flood"};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	size_t total = 1 << 20;
	char *junk = malloc(total);
	ck_assert_ptr_nonnull(junk);
	unsigned seed = 7;
	for (size_t i = 0; i < total; i++) {
		junk[i] = (char)(rand_r(&seed) & 0xff);
		if (junk[i] == '\n')
			junk[i] = 'n';
	}
	size_t off = 0;
	while (off < total) {
		ssize_t n = send(fd, junk + off, total - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server closed: expected */
		off += (size_t)n;
	}
	free(junk);
	ck_assert(cli_closed_within(fd, 5000));
	close(fd);
	/* Still serving. */
	fd = cli_connect(s.port);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO flood");
	close(fd);
	srv_stop(&s);
}
END_TEST

START_TEST(test_selfsigned)
{
	struct srv s = {0};
	srv_certs(&s);
	FILE *f = fopen(s.cert1, "r");
	ck_assert_ptr_nonnull(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_get_version(x), 2); /* v3 */
	/* ECDSA P-256 key */
	EVP_PKEY *pk = X509_get0_pubkey(x);
	ck_assert_ptr_nonnull(pk);
	ck_assert(EVP_PKEY_is_a(pk, "EC"));
	char group[64];
	size_t glen = 0;
	ck_assert_int_eq(EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen),
			 1);
	ck_assert_str_eq(group, "prime256v1");
	/* Self-signed and valid about ten years from now. */
	ck_assert_int_eq(X509_verify(x, pk), 1);
	int days = 0, secs = 0;
	ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
	ck_assert_int_ge(days, 3640);
	ck_assert_int_le(days, 3660);
	/* The SANs: DNS:first.test, DNS:localhost, IP:127.0.0.1, IP:::1 */
	ck_assert_int_eq(X509_check_host(x, "first.test", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(x, "second.test", 0, 0, NULL), 0);
	ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	ck_assert_int_eq(X509_check_ip_asc(x, "::1", 0), 1);
	ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	/* The key file holds the matching private key. */
	f = fopen(s.key1, "r");
	ck_assert_ptr_nonnull(f);
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(EVP_PKEY_eq(key, pk), 1);
	EVP_PKEY_free(key);
	X509_free(x);
	/* Only one of the two files present: both are written again. */
	unlink(s.cert2);
	struct core_error err;
	ck_assert_int_eq(net_tls_selfsigned_ensure(s.cert2, s.key2, "second.test", &err), 0);
	ck_assert_int_eq(access(s.cert2, R_OK), 0);
	/* Bad input: an unusable host name, a missing directory. */
	ck_assert_int_lt(net_tls_selfsigned_ensure("/nonexistent-dir/x.crt",
						   "/nonexistent-dir/x.key", "ok.test", &err),
			 0);
	char c3[160], k3[160];
	snprintf(c3, sizeof(c3), "%s/bad.crt", s.dir);
	snprintf(k3, sizeof(k3), "%s/bad.key", s.dir);
	ck_assert_int_eq(net_tls_selfsigned_ensure(c3, k3, "bad,DNS:evil", &err), CORE_ESYNTAX);
	ck_assert_int_ne(access(c3, F_OK), 0);
	unlink(s.cert1);
	unlink(s.key1);
	unlink(s.cert2);
	unlink(s.key2);
	rmdir(s.dir);
}
END_TEST

START_TEST(test_implicit_tls)
{
	struct srv s = {0};
	srv_certs(&s);
	/* The generated files are private and not regenerated when present. */
	struct stat st1, st2;
	ck_assert_int_eq(stat(s.key1, &st1), 0);
	ck_assert_uint_eq(st1.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(s.cert1, &st2), 0);
	ck_assert_uint_eq(st2.st_mode & 0777, 0600);
	struct core_error err;
	ck_assert_int_eq(net_tls_selfsigned_ensure(s.cert1, s.key1, "other.test", &err), 0);
	struct stat st3;
	ck_assert_int_eq(stat(s.cert1, &st3), 0);
	ck_assert_uint_eq(st3.st_ino, st2.st_ino);

	struct net_listener_cfg lc = {
		.name = "tls", .tls = NET_TLS_IMPLICIT, .tls_handshake_timeout_ms = 2000};
	srv_start(&s, &lc, true);
	SSL_CTX *ctx = cli_tls_ctx();
	int fd = cli_connect(s.port);
	SSL *ssl = cli_tls_start(ctx, fd, NULL);
	char line[256];
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO tls");
	cli_peer_cn(ssl, line, sizeof(line));
	ck_assert_str_eq(line, "first.test");
	cli_tls_send(ssl, "INFO\r\n");
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=1 version=TLSv1.3 sni=-", 32) == 0, "%s", line);
	cli_tls_send(ssl, "QUIT\r\n");
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE");
	ck_assert_int_le(cli_tls_line(ssl, line, sizeof(line)), -1);
	SSL_free(ssl);
	close(fd);

	/* TLS 1.1 is refused (TLS 1.2 minimum). */
	SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_security_level(ctx, 0);
	fd = cli_connect(s.port);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ck_assert_int_ne(SSL_connect(ssl), 1);
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();

	/* A client that never starts the handshake is dropped after the timeout. */
	fd = cli_connect(s.port);
	ck_assert(cli_closed_within(fd, 5000));
	close(fd);
	SSL_CTX_free(ctx);
	srv_stop(&s);
}
END_TEST

START_TEST(test_sni)
{
	struct srv s = {0};
	srv_certs(&s);
	struct net_listener_cfg lc = {.name = "sni", .tls = NET_TLS_IMPLICIT};
	srv_start(&s, &lc, true);
	SSL_CTX *ctx = cli_tls_ctx();
	const char *ask[3] = {"second.test", "first.test", "unknown.test"};
	const char *want[3] = {"second.test", "first.test", "first.test"};
	for (int i = 0; i < 3; i++) {
		int fd = cli_connect(s.port);
		SSL *ssl = cli_tls_start(ctx, fd, ask[i]);
		char line[256], expect[128];
		cli_peer_cn(ssl, line, sizeof(line));
		ck_assert_str_eq(line, want[i]);
		ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
		cli_tls_send(ssl, "INFO\r\n");
		ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
		snprintf(expect, sizeof(expect), " sni=%s ", ask[i]);
		ck_assert_msg(strstr(line, expect) != NULL, "%s", line);
		SSL_free(ssl);
		close(fd);
	}
	/* Reload keeps serving (new connections use the reloaded set). */
	struct core_error err;
	ck_assert_int_eq(net_runtime_tls_reload(s.rt, &err), 0);
	int fd = cli_connect(s.port);
	SSL *ssl = cli_tls_start(ctx, fd, "second.test");
	char line[256];
	cli_peer_cn(ssl, line, sizeof(line));
	ck_assert_str_eq(line, "second.test");
	SSL_free(ssl);
	close(fd);
	/* A broken file makes the reload fail and keeps the loaded certificates. */
	FILE *f = fopen(s.cert2, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a certificate\n", f);
	fclose(f);
	ck_assert_int_lt(net_runtime_tls_reload(s.rt, &err), 0);
	fd = cli_connect(s.port);
	ssl = cli_tls_start(ctx, fd, "second.test");
	cli_peer_cn(ssl, line, sizeof(line));
	ck_assert_str_eq(line, "second.test");
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	srv_stop(&s);
	/* Every client above left without close_notify: that is a normal close, not an error. */
	ck_assert_int_eq(atomic_load(&g_reasons[NET_CLOSE_ERROR]), 0);
	ck_assert_int_ge(atomic_load(&g_reasons[NET_CLOSE_NORMAL]), 1);
}
END_TEST

START_TEST(test_starttls_injection)
{
	struct srv s = {0};
	srv_certs(&s);
	struct net_listener_cfg lc = {.name = "stls", .tls = NET_TLS_STARTTLS};
	srv_start(&s, &lc, true);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	cli_send(fd, "INFO\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=0", 10) == 0, "%s", line);
	/* CVE-2011-0411: a command pipelined after STARTTLS in the same packet. */
	cli_send(fd, "STARTTLS\r\nINJECTED\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "OK begin TLS");
	SSL_CTX *ctx = cli_tls_ctx();
	SSL *ssl = cli_tls_start(ctx, fd, "second.test");
	/* What the session wrote after the go-ahead comes first, encrypted. */
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "WELCOME TLS");
	cli_tls_send(ssl, "INFO\r\n");
	/* The next reply answers INFO: INJECTED was dropped, never echoed. */
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=1", 10) == 0, "%s", line);
	ck_assert_msg(strstr(line, "sni=second.test") != NULL, "%s", line);
	cli_tls_send(ssl, "after\r\n");
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO after");
	ck_assert_int_eq(atomic_load(&g_injected_seen), 0);
	ck_assert_int_eq(atomic_load(&g_tls_done_ok), 1);
	/* A large reply through the TLS filter arrives whole before the close. */
	cli_tls_send(ssl, "QUIT\r\n");
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE");
	SSL_free(ssl);
	close(fd);
	/* A client that answers the go-ahead with garbage: tls_done(false), then closed. */
	fd = cli_connect(s.port);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	cli_send(fd, "STARTTLS\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "OK begin TLS");
	cli_send(fd, "this is not a ClientHello\r\n");
	ck_assert(cli_closed_within(fd, 5000));
	close(fd);
	SSL_CTX_free(ctx);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_tls_done_fail), 1);
	ck_assert_int_eq(atomic_load(&g_reasons[NET_CLOSE_ERROR]), 1);
	ck_assert_int_eq(atomic_load(&g_reasons[NET_CLOSE_NORMAL]), 1);
}
END_TEST

START_TEST(test_starttls_refused_and_ipv6)
{
	/* STARTTLS on a cleartext-only listener is refused; the connection goes on. The
	 * listener is bound to IPv6 and IPv4 loopback. */
	struct net_runtime_cfg rc = {.event_threads = 2, .worker_threads = 1};
	struct core_error err;
	state_reset();
	struct srv s = {0};
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	s.rt = net_runtime_new(&rc, &err);
	ck_assert_ptr_nonnull(s.rt);
	static const char *const bind[] = {"[::1]:0", "127.0.0.1:0"};
	struct net_listener_cfg lc = {.name = "dual", .bind = bind, .nbind = 2};
	ck_assert_int_eq(net_runtime_listen(s.rt, &lc, &echo_svc, "dual", &err), 0);
	uint16_t p6 = net_runtime_listener_port(s.rt, "dual", 0);
	s.port = net_runtime_listener_port(s.rt, "dual", 1);
	ck_assert_uint_ne(p6, 0);
	ck_assert_uint_ne(s.port, 0);
	ck_assert_uint_eq(net_runtime_listener_port(s.rt, "dual", 2), 0);
	ck_assert_uint_eq(net_runtime_listener_port(s.rt, "none", 0), 0);
	net_runtime_on_ready(s.rt, srv_ready, &s);
	ck_assert_int_eq(pthread_create(&s.tid, NULL, srv_main, &s), 0);
	pthread_mutex_lock(&s.mu);
	while (!s.ready)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);

	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons(p6)};
	sa6.sin6_addr = in6addr_loopback;
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa6, sizeof(sa6)), 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO dual");
	cli_send(fd, "STARTTLS\r\nINFO\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "OK begin TLS");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "NO TLS");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=0 version=- sni=- remote=::1:", 38) == 0, "%s", line);
	close(fd);
	fd = cli_connect(s.port);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO dual");
	close(fd);
	srv_stop(&s);
}
END_TEST

START_TEST(test_many_clients)
{
	/* 100 clients at once, spread by the kernel over two event threads. */
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "many"};
	srv_start(&s, &lc, false);
	enum { N = 100 };
	int fds[N];
	char line[256], want[64];
	for (int i = 0; i < N; i++) {
		fds[i] = cli_connect(s.port);
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "client %d\r\n", i);
		cli_send(fds[i], cmd);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_ge(cli_line(fds[i], line, sizeof(line)), 0);
		ck_assert_str_eq(line, "HELLO many");
		ck_assert_int_ge(cli_line(fds[i], line, sizeof(line)), 0);
		snprintf(want, sizeof(want), "ECHO client %d", i);
		ck_assert_str_eq(line, want);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_opens), N);
}
END_TEST

/* Read the replies of n jobs, J0 to J<n-1> in order, then "JOBS DONE". */
static void expect_jobs(int fd, int n)
{
	char line[256];
	for (int i = 0; i < n; i++) {
		char want[16];
		snprintf(want, sizeof(want), "J%d", i);
		ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
		ck_assert_str_eq(line, want);
	}
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "JOBS DONE");
}

START_TEST(test_worker_order)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "work"};
	srv_start(&s, &lc, false);
	/* Two connections at once, 100 jobs each with random sleeps on 4 workers. */
	int fds[2];
	char line[256];
	for (int k = 0; k < 2; k++) {
		fds[k] = cli_connect(s.port);
		ck_assert_int_ge(cli_line(fds[k], line, sizeof(line)), 0);
	}
	for (int k = 0; k < 2; k++)
		cli_send(fds[k], "JOBS 100\r\n");
	for (int k = 0; k < 2; k++)
		expect_jobs(fds[k], 100);
	/* Jobs of a connection that closes still complete (done with ok=false). */
	cli_send(fds[1], "JOBSQUIT 20\r\n");
	ck_assert(cli_closed_within(fds[1], 5000));
	/* The queue is bounded: 2000 jobs do not fit in worker_queue_max 1000. */
	cli_send(fds[0], "JOBS 2000\r\n");
	bool full = false;
	for (int i = 0; i < 2001 && !full; i++) {
		ck_assert_int_ge(cli_line(fds[0], line, sizeof(line)), 0);
		full = strcmp(line, "JOBS FULL") == 0;
	}
	ck_assert(full);
	close(fds[0]);
	close(fds[1]);
	srv_stop(&s);
	/* Every accepted job's done ran exactly once: 200 + 20 + about 1000 of the 2000. */
	int dones = atomic_load(&g_dones);
	ck_assert_int_eq(dones, atomic_load(&g_submits));
	ck_assert_int_ge(dones, 200 + 20 + 900);
	ck_assert_int_le(dones, 200 + 20 + 1001);
	ck_assert_int_lt(atomic_load(&g_dones_ok), dones);
}
END_TEST

START_TEST(test_worker_defer)
{
	/* Jobs whose work is finished on other threads (net_job_defer, net_job_resume, after
	 * random sleeps): each completes once, in submission order per connection. */
	ck_assert_ptr_null(net_job_defer()); /* not in a work function */
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "defer"};
	srv_start(&s, &lc, false);
	int fds[2];
	char line[256];
	for (int k = 0; k < 2; k++) {
		fds[k] = cli_connect(s.port);
		ck_assert_int_ge(cli_line(fds[k], line, sizeof(line)), 0);
		cli_send(fds[k], "DEFER 50\r\n");
	}
	for (int k = 0; k < 2; k++)
		expect_jobs(fds[k], 50);
	/* A connection that closes with deferred jobs out: they still complete. */
	cli_send(fds[1], "DEFER 20\r\nQUIT\r\n");
	ck_assert(cli_closed_within(fds[1], 5000));
	/* Their resuming threads are the test's own: wait for them before the stop. */
	for (int i = 0; i < 5000 && atomic_load(&g_dones) < atomic_load(&g_submits); i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&g_dones), atomic_load(&g_submits));
	ck_assert_int_ge(atomic_load(&g_dones_ok), 100);
	close(fds[0]);
	close(fds[1]);
	srv_stop(&s);
}
END_TEST

START_TEST(test_proxy_protocol)
{
	struct srv s = {0};
	static const char *const trusted[] = {"127.0.0.0/8"};
	struct net_listener_cfg lc = {.name = "proxied",
				      .proxy_protocol = true,
				      .proxy_trusted = trusted,
				      .nproxy_trusted = 1};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	/* The header in pieces, its end and a command in one packet: the command reaches the
	 * session. */
	cli_send(fd, "PROX");
	usleep(20000);
	cli_send(fd, "Y TCP4 192.0.2.7 192.0.2.8 ");
	usleep(20000);
	cli_send(fd, "5555 25\r\nINFO\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO proxied");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "INFO tls=0 version=- sni=- remote=192.0.2.7:5555 proxied=1");
	close(fd);
	/* A bad header closes the connection before the service sees it. */
	fd = cli_connect(s.port);
	cli_send(fd, "HELO x\r\n");
	ck_assert_int_eq(cli_line(fd, line, sizeof(line)), -1);
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_opens), 1);
}
END_TEST

START_TEST(test_proxy_untrusted)
{
	/* 127.0.0.1 is not a trusted proxy: its connection is served directly and a PROXY line
	 * from it is ordinary input, never an address. */
	struct srv s = {0};
	static const char *const trusted[] = {"10.0.0.0/8", "2001:db8::/32"};
	struct net_listener_cfg lc = {.name = "untrusted",
				      .proxy_protocol = true,
				      .proxy_trusted = trusted,
				      .nproxy_trusted = 2};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO untrusted");
	cli_send(fd, "PROXY TCP4 192.0.2.7 192.0.2.8 5555 25\r\nINFO\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO PROXY TCP4 192.0.2.7 192.0.2.8 5555 25");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_msg(strncmp(line, "INFO tls=0 version=- sni=- remote=127.0.0.1:", 44) == 0, "%s",
		      line);
	ck_assert_msg(strstr(line, "proxied=0") != NULL, "%s", line);
	close(fd);
	srv_stop(&s);
	/* A malformed trusted list is refused at listen time. */
	struct core_error err;
	struct net_runtime_cfg rc = {.event_threads = 1, .worker_threads = 1};
	struct net_runtime *rt = net_runtime_new(&rc, &err);
	static const char *const bind[] = {"127.0.0.1:0"};
	static const char *const bad[] = {"10.0.0.0/33"};
	struct net_listener_cfg blc = {.name = "bad",
				       .bind = bind,
				       .nbind = 1,
				       .proxy_protocol = true,
				       .proxy_trusted = bad,
				       .nproxy_trusted = 1};
	ck_assert_int_eq(net_runtime_listen(rt, &blc, &echo_svc, NULL, &err), CORE_ESYNTAX);
	net_runtime_free(&rt);
}
END_TEST

START_TEST(test_proxy_v2_tls_and_max_connections)
{
	struct srv s = {0};
	srv_certs(&s);
	static const char *const trusted[] = {"::1", "127.0.0.1"};
	struct net_listener_cfg lc = {.name = "ptls",
				      .tls = NET_TLS_IMPLICIT,
				      .proxy_protocol = true,
				      .proxy_trusted = trusted,
				      .nproxy_trusted = 2,
				      .max_connections = 1};
	srv_start(&s, &lc, true);
	/* PROXY v2 (INET6, 2001:db8::1 port 4000) in cleartext, then the TLS handshake. */
	static const unsigned char v2[16 + 36] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21,
		0x21, 0x00, 0x24, 0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,    0,
		0,    0,    0,    0,    0,    1,    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,
		0,    0,    0,    0,    0,    0,    0,    0,    2,    0x0f, 0xa0, 0x03, 0xe1};
	int fd = cli_connect(s.port);
	ck_assert_int_eq(send(fd, v2, sizeof(v2), MSG_NOSIGNAL), (ssize_t)sizeof(v2));
	SSL_CTX *ctx = cli_tls_ctx();
	SSL *ssl = cli_tls_start(ctx, fd, "second.test");
	char line[256];
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "HELLO ptls");
	/* max_connections = 1: a second client is refused while the first is open. */
	int other = cli_connect(s.port);
	ck_assert(cli_closed_within(other, 5000));
	close(other);
	cli_tls_send(ssl, "INFO\r\n");
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_msg(strstr(line, "tls=1") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "remote=2001:db8::1:4000 proxied=1") != NULL, "%s", line);
	/* A long reply then a close through the TLS filter: everything arrives. */
	char big[3000];
	memset(big, 'y', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	cli_tls_send(ssl, big);
	cli_tls_send(ssl, "QUIT\r\n");
	ck_assert_int_eq(cli_tls_line(ssl, line, sizeof(line)), 255);
	ck_assert_int_ge(cli_tls_line(ssl, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE");
	ck_assert_int_lt(cli_tls_line(ssl, line, sizeof(line)), 0);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	srv_stop(&s);
	ck_assert_int_ge(atomic_load(&g_limit_logs), 1);
}
END_TEST

START_TEST(test_graceful_shutdown)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "grace"};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* A client that stays connected: the session says goodbye and run() returns fast. */
	long ms = srv_stop(&s);
	ck_assert_int_lt(ms, 2500);
	ck_assert_int_eq(atomic_load(&g_shutdown_calls), 1);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BYE shutting down");
	ck_assert(cli_closed_within(fd, 2000));
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_NORMAL);
	close(fd);
	/* The port is closed after shutdown. */
	int fd2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(connect(fd2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd2);
}
END_TEST

START_TEST(test_backpressure)
{
	struct srv s = {.out_high = 64 * 1024, .out_low = 16 * 1024};
	struct net_listener_cfg lc = {.name = "big"};
	srv_start(&s, &lc, false);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 8192;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	size_t total = 8u << 20;
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "BIG %zu\r\n", total);
	cli_send(fd, cmd);
	usleep(200000); /* a slow reader: the server must hold back */
	size_t got = 0, bad = 0;
	char buf[65536];
	while (got < total) {
		ssize_t n = recv(fd, buf, total - got < sizeof(buf) ? total - got : sizeof(buf), 0);
		ck_assert_int_gt(n, 0);
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != 'd';
		got += (size_t)n;
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "BIG DONE");
	/* The producer waited for drained and never queued much above the high watermark. */
	ck_assert_int_ge(atomic_load(&g_drained), 1);
	ck_assert_int_le(atomic_load(&g_max_pending), 64 * 1024 + 8192);
	/* Input is served again afterwards. */
	cli_send(fd, "after\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO after");
	close(fd);
	srv_stop(&s);
}
END_TEST

START_TEST(test_pause_resume_and_idle_change)
{
	struct srv s = {0};
	struct net_listener_cfg lc = {.name = "pause", .idle_timeout_ms = 200};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* The line after SLOW waits until the job is done, then is answered in order; the
	 * running job (300 ms) outlives the 200 ms idle timeout without a close. */
	cli_send(fd, "SLOW\r\nafter\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "SLOW DONE");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "ECHO after");
	/* A longer idle timeout set by the session. */
	cli_send(fd, "IDLE 5000\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "IDLE OK");
	ck_assert(!cli_closed_within(fd, 600));
	cli_send(fd, "IDLE 100\r\n");
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert(cli_closed_within(fd, 3000));
	close(fd);
	srv_stop(&s);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_IDLE);
}
END_TEST

START_TEST(test_shutdown_grace_expires)
{
	struct srv s = {.grace_ms = 400};
	struct net_listener_cfg lc = {.name = "stubborn"};
	srv_start(&s, &lc, false);
	atomic_store(&g_ignore_shutdown, 1);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	long ms = srv_stop(&s);
	ck_assert_int_ge(ms, 350);
	ck_assert_int_lt(ms, 3000);
	ck_assert_int_eq(atomic_load(&g_shutdown_calls), 1);
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_SHUTDOWN);
	ck_assert(cli_closed_within(fd, 2000));
	close(fd);
}
END_TEST

START_TEST(test_shutdown_without_callback)
{
	struct srv s = {.svc = &echo_svc_noshut};
	struct net_listener_cfg lc = {.name = "noshut"};
	srv_start(&s, &lc, false);
	int fd = cli_connect(s.port);
	char line[256];
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	/* A command is running when the shutdown begins: it completes, then the runtime
	 * closes the connection. */
	cli_send(fd, "SLOW\r\n");
	usleep(50000);
	long ms = srv_stop(&s);
	ck_assert_int_lt(ms, 2500);
	ck_assert_int_ge(cli_line(fd, line, sizeof(line)), 0);
	ck_assert_str_eq(line, "SLOW DONE");
	ck_assert(cli_closed_within(fd, 2000));
	ck_assert_int_eq(atomic_load(&g_last_reason), NET_CLOSE_NORMAL);
	close(fd);
}
END_TEST

static void call_stop(void *arg)
{
	net_runtime_shutdown(arg);
}

START_TEST(test_shutdown_before_ready_and_call)
{
	/* net_runtime_call runs on the main loop; a shutdown from it stops the runtime. */
	struct core_error err;
	struct net_runtime_cfg rc = {.event_threads = 1, .worker_threads = 1};
	struct net_runtime *rt = net_runtime_new(&rc, &err);
	ck_assert_ptr_nonnull(rt);
	ck_assert_ptr_nonnull(net_runtime_main_base(rt));
	/* ARCHITECTURE.md §3: the descriptor limit was raised to the hard limit (or near it
	 * when the hard limit is unlimited). */
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert(rl.rlim_cur == rl.rlim_max || rl.rlim_cur >= (1u << 20));
	/* SIGPIPE no longer ends the process (writes to reset peers fail with EPIPE). */
	struct sigaction sa;
	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
	ck_assert(sa.sa_handler == SIG_IGN);
	net_runtime_call(rt, call_stop, rt);
	ck_assert_int_eq(net_runtime_run(rt), 0);
	net_runtime_free(&rt);
	/* A runtime that is freed without running. */
	rt = net_runtime_new(&rc, &err);
	static const char *const bind[] = {"[::1]:0", "127.0.0.1:0"};
	struct net_listener_cfg lc = {.name = "v6", .bind = bind, .nbind = 2};
	if (net_runtime_listen(rt, &lc, &echo_svc, NULL, &err) == 0)
		ck_assert_uint_ne(net_runtime_listener_port(rt, "v6", 1), 0);
	static const char *const badbind[] = {"::1:25"};
	struct net_listener_cfg bad = {.name = "bad", .bind = badbind, .nbind = 1};
	ck_assert_int_eq(net_runtime_listen(rt, &bad, &echo_svc, NULL, &err), CORE_ESYNTAX);
	struct net_listener_cfg notls = {
		.name = "t", .bind = bind + 1, .nbind = 1, .tls = NET_TLS_IMPLICIT};
	ck_assert_int_lt(net_runtime_listen(rt, &notls, &echo_svc, NULL, &err), 0);
	net_runtime_free(&rt);
}
END_TEST

static Suite *runtime_suite(void)
{
	Suite *s = suite_create("net_runtime");
	TCase *tc = tcase_create("runtime");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_echo);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_idle_timeout_callback);
	tcase_add_test(tc, test_unix_socket);
	tcase_add_test(tc, test_per_ip_limit);
	tcase_add_test(tc, test_max_input);
	tcase_add_test(tc, test_garbage_flood);
	tcase_add_test(tc, test_selfsigned);
	tcase_add_test(tc, test_implicit_tls);
	tcase_add_test(tc, test_sni);
	tcase_add_test(tc, test_starttls_injection);
	tcase_add_test(tc, test_starttls_refused_and_ipv6);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_worker_order);
	tcase_add_test(tc, test_worker_defer);
	tcase_add_test(tc, test_proxy_protocol);
	tcase_add_test(tc, test_proxy_untrusted);
	tcase_add_test(tc, test_proxy_v2_tls_and_max_connections);
	tcase_add_test(tc, test_graceful_shutdown);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_pause_resume_and_idle_change);
	tcase_add_test(tc, test_shutdown_grace_expires);
	tcase_add_test(tc, test_shutdown_without_callback);
	tcase_add_test(tc, test_shutdown_before_ready_and_call);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Every record goes to the hook (counted, not printed); debug exercises the log paths. */
	core_log_set_hook(log_hook, NULL);
	core_log_set_level(CORE_LOG_DEBUG);
	SRunner *sr = srunner_create(runtime_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	libevent_global_shutdown();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
