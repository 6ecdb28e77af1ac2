/*
 * net_conn.c: one client connection on its event thread (ARCHITECTURE.md §3).
 *
 * Life of a connection: accepted (net_listener.c) -> optional PROXY header -> optional
 * implicit TLS handshake -> service open() -> input/output -> finish (service close(), the
 * bufferevent freed) -> the struct is freed once no worker job holds it.
 *
 * Service callbacks never run from inside another net_conn_* call: work that would re-enter
 * the session (delivering buffered input after resume, closing after the output is flushed,
 * starting TLS) is deferred to ev_defer and runs on the next loop turn. Every bufferevent is
 * created with BEV_OPT_DEFER_CALLBACKS for the same reason.
 *
 * OpenSSL 3 with libevent 2.1: the error queue is cleared before each step that may call into
 * SSL (libevent reads it to decide whether an operation failed), and an EOF without
 * close_notify is a clean close (allow_dirty_shutdown here, SSL_OP_IGNORE_UNEXPECTED_EOF on
 * the contexts in net_tls.c, since OpenSSL 3 no longer reports it the way libevent expects).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "net/net_int.h"

static void net_conn_read_cb(struct bufferevent *bev, void *arg);
static void net_conn_write_cb(struct bufferevent *bev, void *arg);
static void net_conn_event_cb(struct bufferevent *bev, short what, void *arg);

static const char *net_close_reason_name(enum net_close_reason why)
{
	switch (why) {
	case NET_CLOSE_NORMAL:
		return "normal";
	case NET_CLOSE_IDLE:
		return "idle";
	case NET_CLOSE_ERROR:
		return "error";
	case NET_CLOSE_SHUTDOWN:
		return "shutdown";
	case NET_CLOSE_LIMIT:
		return "limit";
	}
	return "unknown";
}

static void net_conn_remote(const struct net_conn *c, char *out, size_t outsz)
{
	snprintf(out, outsz, strchr(c->remote_ip, ':') ? "[%s]:%u" : "%s:%u", c->remote_ip,
		 c->info.remote_port);
}

static void net_conn_defer(struct net_conn *c)
{
	if (c->ev_defer != NULL)
		event_active(c->ev_defer, EV_TIMEOUT, 1);
}

static void net_conn_timer_set(struct net_conn *c, uint32_t ms)
{
	if (c->ev_timer == NULL)
		return;
	if (ms == 0) {
		event_del(c->ev_timer);
		return;
	}
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	event_add(c->ev_timer, &tv);
}

/* Bytes in the bufferevents only (what the STARTTLS flush waits for). */
static size_t net_conn_wire_pending(const struct net_conn *c)
{
	if (c->finished || c->bev == NULL)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (c->bev_under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(c->bev_under));
	return n;
}

size_t net_conn_out_pending(const struct net_conn *c)
{
	if (c->finished || c->bev == NULL)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev)) + c->tls_out.len;
	if (c->bev_under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(c->bev_under));
	return n;
}

bool net_conn_out_full(const struct net_conn *c)
{
	return net_conn_out_pending(c) > c->rt->out_high;
}

/* Read from the socket only when someone will consume the bytes. */
static void net_conn_read_update(struct net_conn *c)
{
	if (c->finished || c->bev == NULL)
		return;
	bool want = !c->closing && !c->out_blocked &&
		    (c->state == NET_CONN_PROXY || c->state == NET_CONN_HANDSHAKE ||
		     c->state == NET_CONN_STLS_HS || (c->state == NET_CONN_OPEN && !c->paused));
	/* An OpenSSL bufferevent reads this thread's error queue: empty it first. A plain
	 * socket's bufferevent never looks at it. */
	if (c->ssl != NULL)
		ERR_clear_error();
	if (want)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static void net_conn_setup_bev(struct net_conn *c)
{
	bufferevent_setcb(c->bev, net_conn_read_cb, net_conn_write_cb, net_conn_event_cb, c);
	/* Input above max_input is a limit violation: never read more than one byte past it. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->ls->max_input + 1);
	/* The write callback fires once output drops to the low watermark (drained). */
	bufferevent_setwatermark(c->bev, EV_WRITE, c->closing ? 0 : c->rt->out_low, 0);
	if (c->ssl != NULL)
		ERR_clear_error();
	/* A socket bufferevent arms its write event on enable even with nothing to send (an
	 * epoll change, a wake-up to find the output empty, another change): a plain
	 * connection enables writing when it first queues output (net_conn_write). */
	if (c->ssl != NULL || c->bev_under != NULL)
		bufferevent_enable(c->bev, EV_WRITE);
	net_conn_read_update(c);
}

/* --- finishing --- */

void net_conn_maybe_free(struct net_conn *c)
{
	if (!c->finished || c->jobs_head != NULL)
		return;
	struct net_thread *th = c->th;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (th->conns == c)
		th->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->sni);
	core_buf_fini(&c->tls_out);
	free(c);
}

void net_conn_finish(struct net_conn *c, enum net_close_reason why)
{
	if (c->finished)
		return;
	c->finished = true;
	c->closing = true;
	atomic_store(&c->dead, true);
	if (c->opened) {
		c->opened = false;
		if (c->ls->svc.close != NULL)
			c->ls->svc.close(c->session, c, why);
		c->session = NULL;
	}
	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char remote[80], id[24];
		net_conn_remote(c, remote, sizeof(remote));
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->info.id);
		core_log(CORE_LOG_DEBUG, "net.close", "listener", c->ls->name, "remote", remote,
			 "id", id, "reason", net_close_reason_name(why), NULL);
	}
	if (c->ev_timer != NULL)
		event_free(c->ev_timer);
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	c->ev_timer = c->ev_defer = NULL;
	if (c->bev != NULL) {
		if (c->ssl != NULL && c->tls_clean && c->bev_under == NULL) {
			/* RFC 8314 §3.4: send the TLS close alert before closing TCP, without
			 * waiting for the peer's (a non-blocking best effort). */
			ERR_clear_error();
			SSL_set_quiet_shutdown(c->ssl, 0);
			SSL_shutdown(c->ssl);
		}
		ERR_clear_error();
		bufferevent_free(c->bev); /* frees the SSL and the socket (or the lower bev) */
		c->bev = NULL;
		c->bev_under = NULL;
		c->ssl = NULL;
	}
	ERR_clear_error();
	net_tls_set_unref(c->tls_set);
	c->tls_set = NULL;
	if (c->ip_counted)
		net_listener_ip_release(c->ls, c->remote_ip);
	c->ip_counted = false;
	atomic_fetch_sub(&c->ls->nconns, 1);
	atomic_fetch_sub(&c->rt->nconns, 1);
	net_conn_maybe_free(c);
}

/* --- input --- */

static void net_conn_limit_close(struct net_conn *c, size_t len)
{
	char remote[80], n[24];
	net_conn_remote(c, remote, sizeof(remote));
	snprintf(n, sizeof(n), "%zu", len);
	core_log(CORE_LOG_WARN, "net.limit", "listener", c->ls->name, "remote", remote, "limit",
		 "max_input_buffer", "bytes", n, NULL);
	net_conn_finish(c, NET_CLOSE_LIMIT);
}

/* Offer buffered input to the session until it stops consuming or the conn changes state. */
static void net_conn_deliver(struct net_conn *c)
{
	if (c->finished || c->bev == NULL)
		return;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (c->state == NET_CONN_OPEN && c->opened && !c->paused && !c->closing) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			break;
		const char *p = (const char *)evbuffer_pullup(in, -1);
		size_t used = c->ls->svc.input(c->session, c, p, len);
		if (c->finished)
			return;
		if (c->state != NET_CONN_OPEN)
			return; /* STARTTLS: the rest was discarded */
		if (used > len)
			used = len;
		evbuffer_drain(in, used);
		if (used == 0)
			break;
	}
	if (c->closing || c->finished)
		return;
	size_t left = evbuffer_get_length(in);
	if (left > c->ls->max_input)
		net_conn_limit_close(c, left);
}

static void net_conn_open_session(struct net_conn *c)
{
	c->state = NET_CONN_OPEN;
	net_conn_timer_set(c, c->idle_ms);
	void *s = c->ls->svc.open(c, c->ls->svc_arg);
	if (c->finished)
		return;
	if (s == NULL) {
		/* No session: nothing to close; flush what open() wrote and go. */
		c->opened = false;
		net_conn_close(c);
		return;
	}
	c->session = s;
	c->opened = true;
	/* Bytes that came with the PROXY header or the handshake. */
	c->want_deliver = true;
	net_conn_defer(c);
	net_conn_read_update(c);
}

/* Implicit TLS over an existing socket bufferevent (after a PROXY header). */
static int net_conn_tls_wrap(struct net_conn *c, bool discard_input)
{
	SSL *ssl = net_tls_ssl_new(c->tls_set);
	if (ssl == NULL)
		return CORE_EINTERNAL;
	struct bufferevent *under = c->bev;
	if (discard_input) {
		/* RFC 3207 §4.2 / RFC 2595 §3.1 (CVE-2011-0411 class): nothing received before
		 * the handshake may be processed after it. */
		struct evbuffer *in = bufferevent_get_input(under);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	/* The filter reads TLS records from the socket bufferevent: let it read freely. */
	bufferevent_setwatermark(under, EV_READ, 0, 0);
	bufferevent_setwatermark(under, EV_WRITE, 0, 0);
	ERR_clear_error();
	bufferevent_enable(under, EV_READ | EV_WRITE);
	struct bufferevent *bev =
		bufferevent_openssl_filter_new(c->th->base, under, ssl, BUFFEREVENT_SSL_ACCEPTING,
					       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return CORE_EINTERNAL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c->bev_under = under;
	c->bev = bev;
	c->ssl = ssl;
	net_conn_setup_bev(c);
	net_conn_timer_set(c, c->ls->handshake_timeout_ms);
	return 0;
}

static void net_conn_proxy_input(struct net_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	struct net_proxy_hdr h;
	int r = net_proxy_parse(evbuffer_pullup(in, -1), len, &h);
	if (r == CORE_MORE && len <= c->ls->max_input)
		return;
	if (r <= 0) {
		char remote[80];
		net_conn_remote(c, remote, sizeof(remote));
		core_log(CORE_LOG_WARN, "net.proxy", "listener", c->ls->name, "remote", remote,
			 "msg", "bad PROXY header", NULL);
		net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	}
	evbuffer_drain(in, (size_t)r);
	if (!h.local) {
		snprintf(c->remote_ip, sizeof(c->remote_ip), "%s", h.src_ip);
		snprintf(c->local_ip, sizeof(c->local_ip), "%s", h.dst_ip);
		c->info.remote_port = h.src_port;
		c->info.local_port = h.dst_port;
		c->info.proxied = true;
	}
	/* The per-IP count stays on the proxy's address it was taken for. */
	if (c->ls->tls == NET_TLS_IMPLICIT) {
		c->state = NET_CONN_HANDSHAKE;
		if (net_conn_tls_wrap(c, false) < 0)
			net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	}
	net_conn_timer_set(c, 0);
	net_conn_open_session(c);
}

static void net_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *c = arg;
	ERR_clear_error();
	if (c->finished)
		return;
	if (c->state == NET_CONN_PROXY) {
		net_conn_proxy_input(c);
		return;
	}
	if (c->state != NET_CONN_OPEN) {
		/* STARTTLS pending: bytes sent before the handshake are dropped unread. */
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->closing)
		return;
	if (c->idle_ms != 0)
		net_conn_timer_set(c, c->idle_ms);
	net_conn_deliver(c);
}

/* --- output --- */

static void net_conn_starttls_go(struct net_conn *c)
{
	c->state = NET_CONN_STLS_HS;
	if (net_conn_tls_wrap(c, true) < 0) {
		if (c->opened && c->ls->svc.tls_done != NULL)
			c->ls->svc.tls_done(c->session, c, false);
		net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	}
	if (c->tls_out.len > 0) {
		/* Sent once the handshake is done, encrypted. */
		ERR_clear_error();
		bufferevent_write(c->bev, c->tls_out.p, c->tls_out.len);
		core_buf_fini(&c->tls_out);
	}
}

/* Closing a TLS filter: the bytes below it leave without a callback to us; look again soon. */
static void net_conn_flush_poll(struct net_conn *c)
{
	struct timeval tv = {0, 20 * 1000};
	if (c->ev_defer != NULL)
		event_add(c->ev_defer, &tv);
}

static void net_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *c = arg;
	ERR_clear_error();
	if (c->finished)
		return;
	size_t pending = net_conn_out_pending(c);
	if (c->closing) {
		if (pending == 0)
			net_conn_finish(c, c->finish_why);
		else if (c->bev_under != NULL)
			net_conn_flush_poll(c);
		return;
	}
	if (c->state == NET_CONN_STARTTLS) {
		if (net_conn_wire_pending(c) == 0)
			net_conn_starttls_go(c);
		return;
	}
	/* The top buffer decides: a TLS filter's write callback only sees its own. */
	size_t top = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (c->out_blocked && top <= c->rt->out_low) {
		c->out_blocked = false;
		net_conn_read_update(c);
		if (c->opened && c->ls->svc.drained != NULL)
			c->ls->svc.drained(c->session, c);
		if (!c->finished && !c->closing) {
			c->want_deliver = true;
			net_conn_defer(c);
		}
	}
}

int net_conn_write(struct net_conn *c, const void *p, size_t n)
{
	if (c->finished || c->closing || c->bev == NULL)
		return CORE_EIO;
	if (n == 0)
		return 0;
	if (c->state == NET_CONN_STARTTLS) {
		/* Output after the go-ahead belongs inside TLS: hold it for the handshake. */
		core_buf_append(&c->tls_out, p, n);
		return 0;
	}
	if (c->ssl == NULL && c->bev_under == NULL && c->state == NET_CONN_OPEN &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		/* Plain TCP with nothing queued: send now. A reply then costs one send(), not
		 * arming the write event and waiting a loop turn for it (two epoll changes and a
		 * wake-up per reply). What the socket does not take is queued as before; an
		 * error is left for the bufferevent to report on its write. */
		ssize_t w = send(bufferevent_getfd(c->bev), p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			p = (const char *)p + w;
			n -= (size_t)w;
		}
	}
	if (c->ssl != NULL)
		ERR_clear_error();
	if (n > 0 && bufferevent_write(c->bev, p, n) != 0)
		return CORE_EIO;
	if (n > 0 && !(bufferevent_get_enabled(c->bev) & EV_WRITE))
		bufferevent_enable(c->bev, EV_WRITE);
	if (c->idle_ms != 0 && c->state == NET_CONN_OPEN)
		net_conn_timer_set(c, c->idle_ms);
	if (!c->out_blocked && net_conn_out_pending(c) > c->rt->out_high) {
		/* ARCHITECTURE.md §3: above the high watermark, stop reading input. */
		c->out_blocked = true;
		net_conn_read_update(c);
	}
	return 0;
}

int net_conn_printf(struct net_conn *c, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return CORE_EINTERNAL;
	if ((size_t)n < sizeof(small))
		return net_conn_write(c, small, (size_t)n);
	char *big = core_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = net_conn_write(c, big, (size_t)n);
	free(big);
	return r;
}

/* --- events --- */

static void net_conn_handshake_done(struct net_conn *c)
{
	net_conn_timer_set(c, 0);
	net_tls_info_fill(c, c->ssl);
	c->tls_clean = true;
	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char remote[80];
		net_conn_remote(c, remote, sizeof(remote));
		core_log(CORE_LOG_DEBUG, "net.tls", "listener", c->ls->name, "remote", remote,
			 "version", c->info.tls_version, "cipher", c->info.tls_cipher, "sni",
			 c->info.tls_sni, NULL);
	}
	if (c->state == NET_CONN_HANDSHAKE) {
		net_conn_open_session(c);
		return;
	}
	/* STARTTLS */
	c->state = NET_CONN_OPEN;
	net_conn_timer_set(c, c->idle_ms);
	net_conn_read_update(c);
	if (c->opened && c->ls->svc.tls_done != NULL)
		c->ls->svc.tls_done(c->session, c, true);
	if (!c->finished && !c->closing) {
		c->want_deliver = true;
		net_conn_defer(c);
	}
}

static void net_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_conn *c = arg;
	if (c->finished) {
		ERR_clear_error();
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		ERR_clear_error();
		if (c->state == NET_CONN_HANDSHAKE || c->state == NET_CONN_STLS_HS)
			net_conn_handshake_done(c);
		return;
	}
	bool hs = c->state == NET_CONN_HANDSHAKE || c->state == NET_CONN_STLS_HS;
	enum net_close_reason why = NET_CLOSE_NORMAL;
	if (what & BEV_EVENT_ERROR) {
		why = NET_CLOSE_ERROR;
		if (core_log_enabled(CORE_LOG_DEBUG)) {
			unsigned long e = bufferevent_get_openssl_error(bev);
			char remote[80], msg[160];
			net_conn_remote(c, remote, sizeof(remote));
			if (e != 0)
				ERR_error_string_n(e, msg, sizeof(msg));
			else
				snprintf(msg, sizeof(msg), "%s", strerror(EVUTIL_SOCKET_ERROR()));
			core_log(CORE_LOG_DEBUG, "net.error", "listener", c->ls->name, "remote",
				 remote, "stage", hs ? "handshake" : "io", "msg", msg, NULL);
		}
		c->tls_clean = false;
	} else if (what & BEV_EVENT_EOF) {
		if (hs)
			why = NET_CLOSE_ERROR;
		/* The peer is gone: nothing more to send, the bytes it sent were delivered. */
		c->tls_clean = false;
	} else {
		ERR_clear_error();
		return;
	}
	ERR_clear_error();
	if (c->state == NET_CONN_STLS_HS && c->opened && c->ls->svc.tls_done != NULL)
		c->ls->svc.tls_done(c->session, c, false);
	net_conn_finish(c, why);
}

static void net_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	ERR_clear_error();
	if (c->finished)
		return;
	if (c->closing) {
		/* The peer does not read: give up on the rest of the output. */
		c->tls_clean = false;
		net_conn_finish(c, c->finish_why);
		return;
	}
	char remote[80];
	net_conn_remote(c, remote, sizeof(remote));
	switch (c->state) {
	case NET_CONN_PROXY:
	case NET_CONN_HANDSHAKE:
	case NET_CONN_STLS_HS:
		core_log(CORE_LOG_DEBUG, "net.timeout", "listener", c->ls->name, "remote", remote,
			 "stage", c->state == NET_CONN_PROXY ? "proxy" : "handshake", NULL);
		if (c->state == NET_CONN_STLS_HS && c->opened && c->ls->svc.tls_done != NULL)
			c->ls->svc.tls_done(c->session, c, false);
		c->tls_clean = false;
		net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	case NET_CONN_OPEN:
	case NET_CONN_STARTTLS:
		if (c->jobs_head != NULL) {
			/* A command is running on a worker: the client is waiting on us. */
			net_conn_timer_set(c, c->idle_ms);
			return;
		}
		core_log(CORE_LOG_DEBUG, "net.timeout", "listener", c->ls->name, "remote", remote,
			 "stage", "idle", NULL);
		if (c->state == NET_CONN_OPEN && c->opened && c->ls->svc.timeout != NULL) {
			/* Let the session send its goodbye; the close it asks for flushes that
			 * output under the NET_CLOSE_FLUSH_MS bound. */
			c->ls->svc.timeout(c->session, c);
			if (c->finished)
				return;
			if (c->closing) {
				c->finish_why = NET_CLOSE_IDLE;
				return;
			}
		}
		net_conn_finish(c, NET_CLOSE_IDLE);
		return;
	}
}

static void net_conn_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	ERR_clear_error();
	if (c->finished)
		return;
	if (c->want_finish) {
		c->want_finish = false;
		net_conn_finish(c, c->finish_why);
		return;
	}
	if (c->closing) {
		if (net_conn_out_pending(c) == 0)
			net_conn_finish(c, c->finish_why);
		else if (c->bev_under != NULL)
			net_conn_flush_poll(c);
		return;
	}
	if (c->want_starttls) {
		c->want_starttls = false;
		if (c->state == NET_CONN_STARTTLS && net_conn_wire_pending(c) == 0) {
			net_conn_starttls_go(c);
			return;
		}
	}
	if (c->want_deliver) {
		c->want_deliver = false;
		net_conn_deliver(c);
	}
}

/* --- accept --- */

void net_conn_accept(struct net_listener *ls, struct net_thread *th, int fd,
		     const struct sockaddr *sa, socklen_t salen, bool ip_counted)
{
	struct net_runtime *rt = ls->rt;
	struct net_conn *c = core_xcalloc(1, sizeof(*c));
	c->th = th;
	c->ls = ls;
	c->rt = rt;
	c->ip_counted = ip_counted;
	c->idle_ms = ls->idle_timeout_ms;
	c->finish_why = NET_CLOSE_NORMAL;
	atomic_init(&c->dead, false);
	net_addr_format(sa, c->remote_ip, sizeof(c->remote_ip), &c->info.remote_port);
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
		net_addr_format((struct sockaddr *)&local, c->local_ip, sizeof(c->local_ip),
				&c->info.local_port);
	c->info.listener = ls->name;
	c->info.protocol = ls->svc_name;
	c->info.remote_ip = c->remote_ip;
	c->info.local_ip = c->local_ip;
	c->info.id = atomic_fetch_add(&rt->next_id, 1);
	atomic_fetch_add(&rt->nconns, 1);
	/* Link first: from here on net_conn_finish() undoes everything. */
	c->next = th->conns;
	if (th->conns != NULL)
		th->conns->prev = c;
	th->conns = c;

	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char remote[80], id[24];
		net_conn_remote(c, remote, sizeof(remote));
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->info.id);
		core_log(CORE_LOG_DEBUG, "net.accept", "listener", ls->name, "remote", remote, "id",
			 id, NULL);
	}
	c->ev_timer = event_new(th->base, -1, 0, net_conn_timer_cb, c);
	c->ev_defer = event_new(th->base, -1, 0, net_conn_defer_cb, c);
	if (ls->tls != NET_TLS_NONE)
		c->tls_set = net_tls_current(rt);
	bool proxy = ls->proxy_protocol && net_listener_trusted(ls, sa);
	if (c->ev_timer == NULL || c->ev_defer == NULL ||
	    (ls->tls != NET_TLS_NONE && c->tls_set == NULL)) {
		close(fd);
		net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	}
	ERR_clear_error();
	if (ls->tls == NET_TLS_IMPLICIT && !proxy) {
		c->ssl = net_tls_ssl_new(c->tls_set);
		if (c->ssl != NULL)
			c->bev = bufferevent_openssl_socket_new(
				th->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
				BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL) {
			if (c->ssl != NULL)
				SSL_free(c->ssl);
			c->ssl = NULL;
			close(fd);
			net_conn_finish(c, NET_CLOSE_ERROR);
			return;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		c->state = NET_CONN_HANDSHAKE;
		net_conn_setup_bev(c);
		net_conn_timer_set(c, ls->handshake_timeout_ms);
		return;
	}
	c->bev = bufferevent_socket_new(th->base, fd,
					BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		close(fd);
		net_conn_finish(c, NET_CLOSE_ERROR);
		return;
	}
	if (proxy) {
		c->state = NET_CONN_PROXY;
		net_conn_setup_bev(c);
		net_conn_timer_set(c, ls->handshake_timeout_ms);
		return;
	}
	c->state = NET_CONN_OPEN;
	net_conn_setup_bev(c);
	net_conn_open_session(c);
}

/* --- session interface --- */

const struct net_conn_info *net_conn_info(const struct net_conn *c)
{
	return &c->info;
}

int net_conn_starttls(struct net_conn *c)
{
	if (c->finished || c->closing || c->ls->tls != NET_TLS_STARTTLS)
		return c->finished || c->closing ? CORE_EIO : CORE_EPERM;
	if (c->state != NET_CONN_OPEN || c->ssl != NULL || c->tls_set == NULL)
		return CORE_EPERM;
	/* RFC 3207 §4.2, RFC 2595 §3.1, RFC 8314 (CVE-2011-0411 class): every byte received
	 * before the handshake is discarded now, and reading stops until the handshake starts,
	 * so no pipelined plaintext can be taken for a command sent under TLS. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	c->state = NET_CONN_STARTTLS;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	net_conn_read_update(c);
	/* Start once the reply is flushed (write callback), or now if nothing is queued. */
	c->want_starttls = true;
	net_conn_defer(c);
	return 0;
}

void net_conn_pause(struct net_conn *c)
{
	if (c->finished || c->paused)
		return;
	c->paused = true;
	net_conn_read_update(c);
}

void net_conn_resume(struct net_conn *c)
{
	if (c->finished || !c->paused)
		return;
	c->paused = false;
	net_conn_read_update(c);
	c->want_deliver = true;
	net_conn_defer(c);
}

void net_conn_close(struct net_conn *c)
{
	if (c->finished || c->closing)
		return;
	c->closing = true;
	c->finish_why = NET_CLOSE_NORMAL;
	net_conn_read_update(c);
	if (net_conn_out_pending(c) == 0 || c->state != NET_CONN_OPEN) {
		c->want_finish = true;
		net_conn_defer(c);
		return;
	}
	/* Flush, bounded: the write callback finishes at zero, the timer gives up. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	net_conn_timer_set(c, NET_CLOSE_FLUSH_MS);
	if (c->bev_under != NULL)
		net_conn_flush_poll(c);
}

void net_conn_set_idle_timeout(struct net_conn *c, uint32_t ms)
{
	if (c->finished)
		return;
	c->idle_ms = ms;
	if (c->state == NET_CONN_OPEN && !c->closing)
		net_conn_timer_set(c, ms);
}

uint32_t net_conn_idle_timeout(const struct net_conn *c)
{
	return c->idle_ms;
}

void net_conn_jobs_idle(struct net_conn *c)
{
	if (c->close_when_idle && !c->finished && c->jobs_head == NULL)
		net_conn_close(c);
}

void net_conn_shutdown(struct net_conn *c)
{
	if (c->finished)
		return;
	if (!c->opened) {
		/* Still in the PROXY header or the TLS handshake: no session to ask. */
		net_conn_finish(c, NET_CLOSE_SHUTDOWN);
		return;
	}
	if (c->closing)
		return;
	if (c->ls->svc.shutdown != NULL) {
		c->ls->svc.shutdown(c->session, c);
		return;
	}
	c->close_when_idle = true;
	net_conn_jobs_idle(c);
}
