/*
 * server_placeholder.c: the service of a listener whose protocol is not implemented yet. It
 * sends the protocol's own "service not available" reply as the greeting, ignores whatever
 * the client sends and closes once the reply is flushed, so a client never waits on silence.
 * Implicit-TLS listeners reach open() only after the handshake (net.h), so the refusal is
 * sent inside TLS.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

int server_placeholder_greeting(const char *protocol, const char *hostname, struct core_buf *out)
{
	if (hostname == NULL || hostname[0] == '\0')
		hostname = "localhost";
	if (strcmp(protocol, "smtp") == 0 || strcmp(protocol, "submission") == 0 ||
	    strcmp(protocol, "lmtp") == 0) {
		/* RFC 5321 §3.8: a server that must shut the service down sends 421 and then
		 * closes; §4.2.3 gives the reply text. RFC 3463 §3.4: X.3.2 "system not
		 * accepting network messages". LMTP (RFC 2033) keeps the SMTP replies. */
		core_buf_printf(out,
				"421 4.3.2 %s Service not available, closing transmission "
				"channel\r\n",
				hostname);
		return 0;
	}
	if (strcmp(protocol, "imap") == 0) {
		/* RFC 9051 §7.1.5: BYE as the greeting refuses the connection. */
		core_buf_append_str(out, "* BYE Staunch IMAP service not available\r\n");
		return 0;
	}
	if (strcmp(protocol, "pop3") == 0) {
		/* RFC 1939 §3: replies are +OK or -ERR; -ERR in place of the greeting. */
		core_buf_append_str(out, "-ERR Staunch POP3 service not available\r\n");
		return 0;
	}
	if (strcmp(protocol, "managesieve") == 0) {
		/* RFC 5804 §1.2: BYE with a quoted reason, then the server hangs up. */
		core_buf_append_str(out, "BYE \"ManageSieve service not available\"\r\n");
		return 0;
	}
	if (strcmp(protocol, "http") == 0) {
		/* RFC 9110 §15.6.4 (503) and §10.2.3 (Retry-After); RFC 9112 §9.6 (close). */
		static const char body[] = "Staunch HTTP service not available\n";
		core_buf_printf(out,
				"HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Length: %zu\r\n"
				"Connection: close\r\n"
				"Retry-After: 3600\r\n"
				"\r\n%s",
				sizeof(body) - 1, body);
		return 0;
	}
	return CORE_ENOTFOUND;
}

int server_placeholder_init(struct server_placeholder *p, const char *protocol,
			    const char *hostname)
{
	struct core_buf b = CORE_BUF_INIT;
	memset(p, 0, sizeof(*p));
	int r = server_placeholder_greeting(protocol, hostname, &b);
	if (r < 0) {
		core_buf_fini(&b);
		return r;
	}
	p->greeting = core_buf_detach(&b, &p->len);
	p->wait_request = strcmp(protocol, "http") == 0;
	return 0;
}

void server_placeholder_fini(struct server_placeholder *p)
{
	free(p->greeting);
	memset(p, 0, sizeof(*p));
}

/* Per-connection state: only HTTP needs any (the end of the request head). */
struct placeholder_session {
	const struct server_placeholder *p;
	unsigned crlf; /* bytes of "\r\n\r\n" matched so far */
};

static void *placeholder_open(struct net_conn *c, void *arg)
{
	struct server_placeholder *p = arg;
	const struct net_conn_info *ci = net_conn_info(c);
	core_log(CORE_LOG_DEBUG, "server.placeholder", "listener", ci->listener, "remote",
		 ci->remote_ip, NULL);
	struct placeholder_session *s = core_xcalloc(1, sizeof(*s));
	s->p = p;
	net_conn_write(c, p->greeting, p->len);
	if (p->wait_request) {
		/* RFC 9112 §9.6: closing while the request is still arriving makes the
		 * client's TCP stack answer with a reset that can destroy the response before
		 * it is read. Read (and discard) the request head first, for a short time. */
		net_conn_set_idle_timeout(c, SERVER_PLACEHOLDER_LINGER_MS);
	} else {
		net_conn_close(c);
	}
	return s;
}

static size_t placeholder_input(void *session, struct net_conn *c, const char *p, size_t len)
{
	struct placeholder_session *s = session;
	static const char end[] = "\r\n\r\n";
	/* Everything the client sends is discarded; HTTP closes at the end of the head. */
	for (size_t i = 0; i < len && s->p->wait_request && s->crlf < 4; i++) {
		if (p[i] == end[s->crlf])
			s->crlf++;
		else
			s->crlf = p[i] == '\r' ? 1 : 0;
		if (s->crlf == 4)
			net_conn_close(c);
	}
	return len;
}

static void placeholder_close(void *session, struct net_conn *c, enum net_close_reason why)
{
	free(session);
}

static void placeholder_shutdown(void *session, struct net_conn *c)
{
	net_conn_close(c);
}

const struct net_service server_placeholder_service = {
	.name = "placeholder",
	.open = placeholder_open,
	.input = placeholder_input,
	.close = placeholder_close,
	.shutdown = placeholder_shutdown,
};
