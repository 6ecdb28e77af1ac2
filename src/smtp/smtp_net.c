/*
 * smtp_net.c: runs smtp_session over the network runtime (net/net.h). The session sees only
 * its struct smtp_conn; this file maps it onto a net_conn: writes, STARTTLS (the runtime drops
 * bytes received before the handshake), pause/resume while a service verdict is pending, the
 * RFC 5321 §4.5.3.2 idle timeout, and 421 on graceful shutdown (RFC 5321 §3.8).
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "directory/sasl.h"
#include "net/net.h"
#include "smtp/smtp.h"

struct smtp_net_conn {
	struct net_conn *c;
	struct smtp_session *s;
	struct smtp_conn conn;
	/* Copied from the TLS layer when it comes up (net.h: a SASL step runs on a worker and
	 * must not touch the connection). */
	unsigned char cb_exporter[NET_TLS_EXPORTER_LEN];
	unsigned char cb_endpoint[NET_TLS_END_POINT_MAX];
	size_t cb_endpoint_len;
	bool have_exporter, have_endpoint, have_cert;
	struct core_buf client_cert; /* DER, verified against tls.client-ca */
};

/* RFC 9266 (tls-exporter, TLS 1.3 only), RFC 5929 §4.1 (tls-server-end-point) and the client
 * certificate for SASL EXTERNAL: read once TLS is established. */
static void tls_capture(struct smtp_net_conn *x)
{
	x->have_exporter = net_conn_tls_exporter(x->c, x->cb_exporter) == 0;
	x->cb_endpoint_len = 0;
	x->have_endpoint =
		net_conn_tls_server_end_point(x->c, x->cb_endpoint, &x->cb_endpoint_len) == 0;
	core_buf_reset(&x->client_cert);
	x->have_cert =
		net_conn_tls_client_cert(x->c, &x->client_cert) == 0 && x->client_cert.len > 0;
}

static void net_tls_binding(void *arg, struct sasl_conn_info *ci)
{
	struct smtp_net_conn *x = arg;
	if (x->have_exporter) {
		ci->cb_exporter = x->cb_exporter;
		ci->cb_exporter_len = sizeof(x->cb_exporter);
	}
	if (x->have_endpoint) {
		ci->cb_endpoint = x->cb_endpoint;
		ci->cb_endpoint_len = x->cb_endpoint_len;
	}
	if (x->have_cert) {
		ci->client_cert = (const unsigned char *)x->client_cert.p;
		ci->client_cert_len = x->client_cert.len;
	}
}

static int net_write(void *arg, const void *p, size_t n)
{
	struct smtp_net_conn *x = arg;
	return net_conn_write(x->c, p, n);
}

static int net_starttls(void *arg)
{
	struct smtp_net_conn *x = arg;
	return net_conn_starttls(x->c);
}

static void net_close(void *arg)
{
	struct smtp_net_conn *x = arg;
	net_conn_close(x->c);
}

static void net_pause(void *arg)
{
	struct smtp_net_conn *x = arg;
	net_conn_pause(x->c);
}

static void net_resume(void *arg)
{
	struct smtp_net_conn *x = arg;
	net_conn_resume(x->c);
}

static void *smtp_net_open(struct net_conn *c, void *service_arg)
{
	const struct smtp_listener *l = service_arg;
	const struct net_conn_info *info = net_conn_info(c);
	struct smtp_net_conn *x = core_xcalloc(1, sizeof(*x));
	x->c = c;
	core_buf_init(&x->client_cert);
	if (info->tls)
		tls_capture(x);
	x->conn = (struct smtp_conn){
		.arg = x,
		.write = net_write,
		.starttls = net_starttls,
		.close = net_close,
		.pause = net_pause,
		.resume = net_resume,
		.transport = c,
		.remote_ip = info->remote_ip,
		.local_ip = info->local_ip,
		.tls = info->tls,
		.tls_version = info->tls_version,
		.tls_cipher = info->tls_cipher,
		.tls_binding = net_tls_binding,
	};
	x->s = smtp_session_new(&l->cfg, &x->conn, l->svc);
	/* RFC 5321 §4.5.3.2.7: wait at least five minutes for the next command. A listener
	 * with its own idle timeout (listener.NAME.idle-timeout, 5 minutes by default) keeps
	 * the administrator's value. */
	if (net_conn_idle_timeout(c) == 0)
		net_conn_set_idle_timeout(c, smtp_session_timeout_secs(x->s) * 1000u);
	return x;
}

static size_t smtp_net_input(void *session, struct net_conn *c, const char *p, size_t len)
{
	struct smtp_net_conn *x = session;
	(void)c;
	size_t n = smtp_session_feed(x->s, p, len);
	/* A closed session reads nothing more: drop the rest instead of buffering it. */
	if (smtp_session_closed(x->s))
		return len;
	return n;
}

static void smtp_net_tls_done(void *session, struct net_conn *c, bool ok)
{
	struct smtp_net_conn *x = session;
	const struct net_conn_info *info = net_conn_info(c);
	if (ok)
		tls_capture(x);
	smtp_session_tls_done(x->s, ok, info->tls_version, info->tls_cipher);
}

static void smtp_net_close(void *session, struct net_conn *c, enum net_close_reason why)
{
	struct smtp_net_conn *x = session;
	(void)c;
	(void)why;
	smtp_session_free(&x->s);
	core_buf_fini(&x->client_cert);
	free(x);
}

static void smtp_net_shutdown(void *session, struct net_conn *c)
{
	struct smtp_net_conn *x = session;
	(void)c;
	smtp_session_shutdown(x->s);
}

static void smtp_net_timeout(void *session, struct net_conn *c)
{
	struct smtp_net_conn *x = session;
	(void)c;
	/* RFC 5321 §4.5.3.2.7 and §3.8: a server that times out should say 421 first. */
	smtp_session_timeout(x->s);
}

const struct net_service smtp_net_service = {
	.name = "smtp",
	.open = smtp_net_open,
	.input = smtp_net_input,
	.tls_done = smtp_net_tls_done,
	.close = smtp_net_close,
	.shutdown = smtp_net_shutdown,
	.timeout = smtp_net_timeout,
};
