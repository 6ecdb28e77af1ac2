/*
 * test_smtp_net.c: smtp_net_service on the real network runtime over loopback: greeting,
 * a pipelined transaction, the message handed to deliver, QUIT closing the socket, and 421
 * on graceful shutdown.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "net/net.h"
#include "smtp/smtp.h"

struct srv {
	struct net_runtime *rt;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready;
	uint16_t port;
	struct smtp_listener l;
	struct smtp_services svc;
	struct core_buf spool;   /* guarded by mu */
	struct core_buf senders; /* guarded by mu */
	int delivered;
	char dir[64], cert[128], key[128];
};

static int svc_sender(void *ctx, struct smtp_session *ss, const struct smtp_envelope *env,
		      struct smtp_verdict *out)
{
	struct srv *s = ctx;
	(void)ss;
	pthread_mutex_lock(&s->mu);
	core_buf_printf(&s->senders, "<%.*s>", CORE_STR_FMT(env->from.addr));
	pthread_mutex_unlock(&s->mu);
	*out = (struct smtp_verdict){250, NULL, NULL};
	return 0;
}

static int spool_write(void *arg, const void *p, size_t n)
{
	struct srv *s = arg;
	pthread_mutex_lock(&s->mu);
	core_buf_append(&s->spool, p, n);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int svc_spool(void *ctx, const struct smtp_envelope *env, struct smtp_sink *out)
{
	(void)env;
	out->write = spool_write;
	out->arg = ctx;
	return 0;
}

static int svc_deliver(void *ctx, struct smtp_session *ss, const struct smtp_envelope *env,
		       struct smtp_verdict *res)
{
	struct srv *s = ctx;
	(void)ss;
	pthread_mutex_lock(&s->mu);
	s->delivered++;
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < env->nrcpts; i++)
		res[i] = (struct smtp_verdict){250, "2.1.5", "Delivered"};
	return 0;
}

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
	net_runtime_run(s->rt);
	return NULL;
}

static void srv_start(struct srv *s, bool tls)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	struct net_tls_cert_cfg cert = {s->cert, s->key};
	if (tls) {
		snprintf(s->dir, sizeof(s->dir), "/tmp/smtp_net_XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(s->dir));
		snprintf(s->cert, sizeof(s->cert), "%s/mx.crt", s->dir);
		snprintf(s->key, sizeof(s->key), "%s/mx.key", s->dir);
		struct core_error e;
		core_error_clear(&e);
		ck_assert_msg(net_tls_selfsigned_ensure(s->cert, s->key, "mx.test", &e) == 0, "%s",
			      e.msg);
		s->l.cfg.tls_available = true;
	}
	s->svc.ctx = s;
	s->svc.check_sender = svc_sender;
	s->svc.spool_open = svc_spool;
	s->svc.deliver = svc_deliver;
	s->l.cfg.hostname = "mx.test";
	s->l.svc = &s->svc;
	struct net_runtime_cfg rc = {.event_threads = 1,
				     .worker_threads = 1,
				     .shutdown_grace_ms = 2000,
				     .certs = tls ? &cert : NULL,
				     .ncerts = tls ? 1 : 0};
	struct core_error err;
	core_error_clear(&err);
	s->rt = net_runtime_new(&rc, &err);
	ck_assert_msg(s->rt != NULL, "%s", err.msg);
	static const char *const bind[] = {"127.0.0.1:0"};
	struct net_listener_cfg lc = {.name = "smtp",
				      .bind = bind,
				      .nbind = 1,
				      .tls = tls ? NET_TLS_STARTTLS : NET_TLS_NONE};
	ck_assert_msg(net_runtime_listen(s->rt, &lc, &smtp_net_service, &s->l, &err) == 0, "%s",
		      err.msg);
	s->port = net_runtime_listener_port(s->rt, "smtp", 0);
	ck_assert_uint_ne(s->port, 0);
	net_runtime_on_ready(s->rt, srv_ready, s);
	ck_assert_int_eq(pthread_create(&s->tid, NULL, srv_main, s), 0);
	pthread_mutex_lock(&s->mu);
	while (!s->ready)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
	net_runtime_shutdown(s->rt);
	pthread_join(s->tid, NULL);
	net_runtime_free(&s->rt);
	core_buf_fini(&s->spool);
	core_buf_fini(&s->senders);
	if (s->dir[0]) {
		unlink(s->cert);
		unlink(s->key);
		rmdir(s->dir);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

static int cli_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read until n final reply lines arrived (or EOF / 5 s); append their codes to codes. */
static bool cli_read(int fd, int n, struct core_buf *codes, struct core_buf *raw)
{
	int seen = 0;
	size_t scan = raw->len;
	while (seen < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) <= 0)
			return false;
		char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			return false;
		core_buf_append(raw, buf, (size_t)r);
		for (;;) {
			const char *nl = memchr(raw->p + scan, '\n', raw->len - scan);
			if (nl == NULL)
				break;
			size_t end = (size_t)(nl - raw->p);
			if (end - scan >= 4 && raw->p[scan + 3] == ' ') {
				if (codes->len)
					core_buf_putc(codes, ' ');
				core_buf_append(codes, raw->p + scan, 3);
				seen++;
			}
			scan = end + 1;
		}
	}
	return true;
}

static void cli_send(int fd, const char *s)
{
	size_t n = strlen(s);
	ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

START_TEST(test_smtp_net_session)
{
	struct srv s;
	srv_start(&s, false);
	int fd = cli_connect(s.port);
	struct core_buf codes = CORE_BUF_INIT, raw = CORE_BUF_INIT;
	ck_assert(cli_read(fd, 1, &codes, &raw));
	ck_assert_str_eq(core_buf_cstr(&codes), "220");
	cli_send(fd, "EHLO client.test\r\n");
	ck_assert(cli_read(fd, 1, &codes, &raw));
	/* RFC 2920: the whole transaction pipelined in one write. */
	cli_send(fd, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
	ck_assert(cli_read(fd, 3, &codes, &raw));
	cli_send(fd, "Subject: net\r\n\r\nover the wire\r\n.\r\nQUIT\r\n");
	ck_assert(cli_read(fd, 2, &codes, &raw));
	ck_assert_str_eq(core_buf_cstr(&codes), "220 250 250 250 354 250 221");
	/* QUIT: the server closes. */
	char c;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(fd, &c, 1), 0);
	close(fd);
	pthread_mutex_lock(&s.mu);
	ck_assert_int_eq(s.delivered, 1);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&s.spool), "Received: from client.test "));
	ck_assert_ptr_nonnull(
		strstr(core_buf_cstr(&s.spool), "Subject: net\r\n\r\nover the wire\r\n"));
	pthread_mutex_unlock(&s.mu);
	/* Graceful shutdown: an idle session says 421 (RFC 5321 §3.8). */
	fd = cli_connect(s.port);
	core_buf_reset(&codes);
	core_buf_reset(&raw);
	ck_assert(cli_read(fd, 1, &codes, &raw));
	net_runtime_shutdown(s.rt);
	ck_assert(cli_read(fd, 1, &codes, &raw));
	ck_assert_str_eq(core_buf_cstr(&codes), "220 421");
	close(fd);
	srv_stop(&s);
	core_buf_fini(&codes);
	core_buf_fini(&raw);
}
END_TEST

/* Read one reply (possibly multi-line) over TLS; returns its last line's code. */
static int tls_reply(SSL *ssl, struct core_buf *raw)
{
	char line[1024];
	for (;;) {
		size_t n = 0;
		for (;;) {
			char ch;
			if (SSL_read(ssl, &ch, 1) <= 0)
				return -1;
			core_buf_putc(raw, ch);
			if (ch == '\n')
				break;
			if (n + 1 < sizeof(line))
				line[n++] = ch;
		}
		line[n] = '\0';
		if (n >= 4 && line[3] == ' ')
			return atoi(line);
	}
}

START_TEST(test_smtp_net_starttls)
{
	/* RFC 3207 §4.2 and ARCHITECTURE.md §3: bytes sent behind STARTTLS, before the
	 * handshake, are discarded (the CVE-2011-0411 class), over the real runtime. */
	struct srv s;
	srv_start(&s, true);
	int fd = cli_connect(s.port);
	struct core_buf codes = CORE_BUF_INIT, raw = CORE_BUF_INIT;
	ck_assert(cli_read(fd, 1, &codes, &raw));
	cli_send(fd, "EHLO client.test\r\n");
	ck_assert(cli_read(fd, 1, &codes, &raw));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&raw), "250-STARTTLS\r\n"));
	cli_send(fd, "STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n");
	ck_assert(cli_read(fd, 1, &codes, &raw));
	ck_assert_str_eq(core_buf_cstr(&codes), "220 250 220");
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ck_assert_int_eq(SSL_connect(ssl), 1);
	/* The first reply over TLS answers our EHLO: nothing injected was run. */
	core_buf_reset(&raw);
	const char *ehlo = "EHLO client.test\r\n";
	ck_assert_int_eq(SSL_write(ssl, ehlo, (int)strlen(ehlo)), (int)strlen(ehlo));
	ck_assert_int_eq(tls_reply(ssl, &raw), 250);
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&raw), "250-mx.test greets client.test"));
	ck_assert_ptr_null(strstr(core_buf_cstr(&raw), "STARTTLS"));
	const char *tx = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
	ck_assert_int_eq(SSL_write(ssl, tx, (int)strlen(tx)), (int)strlen(tx));
	ck_assert_int_eq(tls_reply(ssl, &raw), 250);
	ck_assert_int_eq(tls_reply(ssl, &raw), 250);
	ck_assert_int_eq(tls_reply(ssl, &raw), 354);
	const char *msg = "Subject: tls\r\n\r\nx\r\n.\r\nQUIT\r\n";
	ck_assert_int_eq(SSL_write(ssl, msg, (int)strlen(msg)), (int)strlen(msg));
	ck_assert_int_eq(tls_reply(ssl, &raw), 250);
	ck_assert_int_eq(tls_reply(ssl, &raw), 221);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	pthread_mutex_lock(&s.mu);
	ck_assert_str_eq(core_buf_cstr(&s.senders), "<a@example.org>");
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&s.spool), "with ESMTPS id"));
	ck_assert_ptr_nonnull(strstr(core_buf_cstr(&s.spool), "(TLSv1.3 cipher "));
	pthread_mutex_unlock(&s.mu);
	srv_stop(&s);
	core_buf_fini(&codes);
	core_buf_fini(&raw);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("smtp_net");
	TCase *tc = tcase_create("net");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_smtp_net_session);
	tcase_add_test(tc, test_smtp_net_starttls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
