/*
 * net_listener.c: listening sockets, accept and the connection limits (ARCHITECTURE.md §3).
 *
 * Each bind address of a listener is opened once per event thread with SO_REUSEPORT, so the
 * kernel spreads new connections over the threads. With port 0 the first socket gets a free
 * port and the others bind to the same one. Limits are checked at accept, before the service
 * sees the connection: over max_connections (per listener) or max_connections_per_ip the
 * socket is closed without a byte written and a warning event=net.limit is logged.
 *
 * A "unix:/path" bind is one unix-domain socket (SO_REUSEPORT does not share a path): the
 * first event thread's listener owns it and the others accept on duplicates of the same
 * descriptor. Its clients are reported as remote_ip "unix", port 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net_int.h"

#define NET_LISTEN_BACKLOG 511

void net_addr_format(const struct sockaddr *sa, char *ip_out, size_t ipsz, uint16_t *port_out)
{
	ip_out[0] = '\0';
	*port_out = 0;
	if (sa->sa_family == AF_UNIX) {
		snprintf(ip_out, ipsz, "%s", "unix");
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip_out, (socklen_t)ipsz);
		*port_out = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* An IPv4-mapped address is reported as plain IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip_out, (socklen_t)ipsz);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip_out, (socklen_t)ipsz);
		*port_out = ntohs(s6->sin6_port);
	}
}

/*
 * Parse "127.0.0.1:25", "[::1]:143", "*:25" (any IPv4) or "[::]:25" into a socket address.
 * Returns 0 or CORE_ESYNTAX.
 */
static int net_bind_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len_out)
{
	char host[64];
	const char *port;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return CORE_ESYNTAX;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
			return CORE_ESYNTAX;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
		if (strchr(host, ':') != NULL)
			return CORE_ESYNTAX; /* IPv6 needs brackets */
	}
	char *endp;
	errno = 0;
	unsigned long p = strtoul(port, &endp, 10);
	if (*port == '\0' || *endp != '\0' || p > 65535 || errno != 0)
		return CORE_ESYNTAX;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (strcmp(host, "*") == 0 || host[0] == '\0') {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons((uint16_t)p);
		*len_out = sizeof(*s4);
	} else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*len_out = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*len_out = sizeof(*s6);
	} else {
		return CORE_ESYNTAX;
	}
	return 0;
}

/* Parse "10.0.0.1", "10.0.0.0/8", "2001:db8::/32" for proxy_trusted. */
static int net_cidr_parse(const char *s, struct net_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return CORE_ESYNTAX;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return CORE_ESYNTAX;
	}
	out->bits = max;
	if (slash != NULL) {
		char *endp;
		unsigned long b = strtoul(slash + 1, &endp, 10);
		if (slash[1] == '\0' || *endp != '\0' || b > max)
			return CORE_ESYNTAX;
		out->bits = (unsigned)b;
	}
	return 0;
}

static bool net_cidr_match(const struct net_cidr *c, const unsigned char *addr)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

bool net_listener_trusted(const struct net_listener *ls, const struct sockaddr *sa)
{
	const unsigned char *a4 = NULL, *a6 = NULL;
	if (sa->sa_family == AF_INET) {
		a4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			a4 = in6->s6_addr + 12;
		else
			a6 = in6->s6_addr;
	}
	for (size_t i = 0; i < ls->ntrusted; i++) {
		const struct net_cidr *c = &ls->trusted[i];
		if (c->family == AF_INET && a4 != NULL && net_cidr_match(c, a4))
			return true;
		if (c->family == AF_INET6 && a6 != NULL && net_cidr_match(c, a6))
			return true;
	}
	return false;
}

/* --- per-IP counts --- */

static unsigned net_iptab_hash(const char *ip)
{
	/* FNV-1a */
	uint32_t h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % NET_IPTAB_BUCKETS;
}

/* Count one more connection from ip unless it would exceed max. Returns false when over. */
static bool net_listener_ip_take(struct net_listener *ls, const char *ip)
{
	unsigned b = net_iptab_hash(ip);
	bool ok = true;
	pthread_mutex_lock(&ls->ip_mu);
	struct net_iptab_ent *e = ls->ipbuckets[b];
	while (e != NULL && strcmp(e->ip, ip) != 0)
		e = e->next;
	if (e == NULL) {
		e = core_xcalloc(1, sizeof(*e));
		snprintf(e->ip, sizeof(e->ip), "%s", ip);
		e->next = ls->ipbuckets[b];
		ls->ipbuckets[b] = e;
	}
	if (e->count >= ls->max_per_ip)
		ok = false;
	else
		e->count++;
	if (e->count == 0) {
		/* Unlink the entry we just created for a refused connection. */
		struct net_iptab_ent **pp = &ls->ipbuckets[b];
		while (*pp != e)
			pp = &(*pp)->next;
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&ls->ip_mu);
	return ok;
}

void net_listener_ip_release(struct net_listener *ls, const char *ip)
{
	unsigned b = net_iptab_hash(ip);
	pthread_mutex_lock(&ls->ip_mu);
	struct net_iptab_ent **pp = &ls->ipbuckets[b];
	while (*pp != NULL && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	struct net_iptab_ent *e = *pp;
	if (e != NULL && --e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&ls->ip_mu);
}

/* --- accept --- */

static void net_limit_log(struct net_listener *ls, const char *ip, uint16_t port, const char *which)
{
	char remote[80];
	snprintf(remote, sizeof(remote), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	core_log(CORE_LOG_WARN, "net.limit", "listener", ls->name, "remote", remote, "limit", which,
		 NULL);
}

static void net_accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct net_lsock *sk = arg;
	struct net_listener *ls = sk->ls;
	struct net_runtime *rt = ls->rt;
	if (atomic_load(&rt->stopping)) {
		close(fd);
		return;
	}
	char ip[64];
	uint16_t port;
	net_addr_format(sa, ip, sizeof(ip), &port);
	/* Per-listener limit: count first, back out when over. */
	unsigned n = atomic_fetch_add(&ls->nconns, 1) + 1;
	if (ls->max_connections != 0 && n > ls->max_connections) {
		atomic_fetch_sub(&ls->nconns, 1);
		net_limit_log(ls, ip, port, "max_connections");
		close(fd);
		return;
	}
	bool counted = false;
	/* Every client of a unix-domain socket is "unix": only the listener limit applies. */
	if (ls->max_per_ip != 0 && sa->sa_family != AF_UNIX) {
		if (!net_listener_ip_take(ls, ip)) {
			atomic_fetch_sub(&ls->nconns, 1);
			net_limit_log(ls, ip, port, "max_connections_per_ip");
			close(fd);
			return;
		}
		counted = true;
	}
	net_conn_accept(ls, sk->th, fd, sa, (socklen_t)salen, counted);
}

static void net_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_lsock *sk = arg;
	if (sk->evl != NULL && !sk->th->graceful)
		evconnlistener_enable(sk->evl);
}

static void net_accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct net_lsock *sk = arg;
	int e = EVUTIL_SOCKET_ERROR();
	core_logf(CORE_LOG_WARN, "net.accept", "listener=%s error: %s", sk->ls->name, strerror(e));
	/* Out of descriptors (EMFILE/ENFILE): pause this socket instead of spinning. */
	evconnlistener_disable(evl);
	struct timeval tv = {0, 500 * 1000};
	event_add(sk->ev_retry, &tv);
}

static int net_socket_open(const struct sockaddr_storage *ss, socklen_t len, struct core_error *err,
			   const char *addr)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "socket %s: %s", addr, strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "SO_REUSEPORT: %s", strerror(errno));
	}
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "bind %s: %s", addr, strerror(e));
	}
	if (listen(fd, NET_LISTEN_BACKLOG) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "listen %s: %s", addr, strerror(e));
	}
	return fd;
}

/* --- unix-domain sockets --- */

#define NET_UNIX_PREFIX "unix:"

static int net_unix_addr(const char *path, struct sockaddr_un *sun, struct core_error *err)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sun->sun_path))
		return core_error_set(err, CORE_ESYNTAX, NULL, "unix socket path %s: %s", path,
				      n == 0 ? "empty" : "too long");
	memcpy(sun->sun_path, path, n);
	return 0;
}

/* A socket file left by a process that is gone is removed; one that still accepts, or any
 * other kind of file, is never touched. */
static int net_unix_stale_remove(const char *path, const struct sockaddr_un *sun,
				 struct core_error *err)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return core_error_set(err, CORE_EIO, NULL, "%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return core_error_set(err, CORE_ECONFLICT, NULL,
				      "%s exists and is not a socket (not removed)", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "socket: %s", strerror(errno));
	int r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (r == 0)
		return core_error_set(err, CORE_ECONFLICT, NULL,
				      "%s: another process is accepting on it", path);
	if (e != ECONNREFUSED && e != ENOENT)
		return core_error_set(err, CORE_EIO, NULL, "%s: %s", path, strerror(e));
	if (unlink(path) != 0 && errno != ENOENT)
		return core_error_set(err, CORE_EIO, NULL, "cannot remove the stale socket %s: %s",
				      path, strerror(errno));
	core_log(CORE_LOG_INFO, "net.unix_stale", "path", path, NULL);
	return 0;
}

static int net_unix_open(struct net_listener *ls, size_t b, const char *path,
			 const struct net_listener_cfg *cfg, struct core_error *err)
{
	struct sockaddr_un sun;
	int rc = net_unix_addr(path, &sun, err);
	if (rc < 0)
		return rc;
	rc = net_unix_stale_remove(path, &sun, err);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "socket %s: %s", path, strerror(errno));
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "bind %s: %s", path, strerror(e));
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		ls->unix_path[b] = core_xstrdup(path);
		ls->unix_ino[b] = st.st_ino;
		ls->unix_dev[b] = st.st_dev;
	}
	/* Permissions before listen(): nobody outside them can connect in between. */
	mode_t mode = cfg->unix_mode != 0 ? (mode_t)(cfg->unix_mode & 07777) : 0660;
	if (chmod(path, mode) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "chmod %s: %s", path, strerror(e));
	}
	if (cfg->unix_chown && chown(path, cfg->unix_uid < 0 ? (uid_t)-1 : (uid_t)cfg->unix_uid,
				     cfg->unix_gid < 0 ? (gid_t)-1 : (gid_t)cfg->unix_gid) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "chown %s: %s", path, strerror(e));
	}
	if (listen(fd, NET_LISTEN_BACKLOG) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "listen %s: %s", path, strerror(e));
	}
	return fd;
}

/* Remove the socket file if it is still the one we created (not a newer server's). */
static void net_unix_remove(struct net_listener *ls, size_t b)
{
	struct stat st;
	if (ls->unix_path == NULL || ls->unix_path[b] == NULL)
		return;
	if (lstat(ls->unix_path[b], &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_ino == ls->unix_ino[b] && st.st_dev == ls->unix_dev[b] &&
	    unlink(ls->unix_path[b]) != 0)
		core_logf(CORE_LOG_WARN, "net.unix_remove", "cannot remove %s: %s",
			  ls->unix_path[b], strerror(errno));
	free(ls->unix_path[b]);
	ls->unix_path[b] = NULL;
}

static void net_listener_free(struct net_listener *ls)
{
	size_t nt = ls->rt->nthreads;
	if (ls->socks != NULL) {
		for (size_t i = 0; i < ls->nbind * nt; i++) {
			struct net_lsock *sk = &ls->socks[i];
			if (sk->evl != NULL)
				evconnlistener_free(sk->evl);
			else if (sk->fd >= 0)
				close(sk->fd);
			if (sk->ev_retry != NULL)
				event_free(sk->ev_retry);
		}
	}
	for (size_t b = 0; b < NET_IPTAB_BUCKETS; b++) {
		struct net_iptab_ent *e = ls->ipbuckets[b];
		while (e != NULL) {
			struct net_iptab_ent *next = e->next;
			free(e);
			e = next;
		}
	}
	for (size_t b = 0; b < ls->nbind; b++)
		net_unix_remove(ls, b);
	free(ls->unix_path);
	free(ls->unix_ino);
	free(ls->unix_dev);
	pthread_mutex_destroy(&ls->ip_mu);
	free(ls->socks);
	free(ls->ports);
	free(ls->trusted);
	free(ls->name);
	free(ls->svc_name);
	free(ls);
}

void net_listener_free_all(struct net_runtime *rt)
{
	struct net_listener *ls = rt->listeners;
	while (ls != NULL) {
		struct net_listener *next = ls->next;
		net_listener_free(ls);
		ls = next;
	}
	rt->listeners = NULL;
}

void net_listener_thread_stop(struct net_thread *th)
{
	struct net_runtime *rt = th->rt;
	for (struct net_listener *ls = rt->listeners; ls != NULL; ls = ls->next) {
		for (size_t b = 0; b < ls->nbind; b++) {
			struct net_lsock *sk = &ls->socks[b * rt->nthreads + th->idx];
			if (sk->evl != NULL) {
				evconnlistener_free(sk->evl); /* closes the socket */
				sk->evl = NULL;
				sk->fd = -1;
			}
			if (sk->ev_retry != NULL)
				event_del(sk->ev_retry);
		}
	}
}

/* Attach an accepting socket to event thread t of listener ls, bind index b. */
static int net_lsock_attach(struct net_listener *ls, size_t b, unsigned t, int fd,
			    struct core_error *err)
{
	struct net_runtime *rt = ls->rt;
	struct net_lsock *sk = &ls->socks[b * rt->nthreads + t];
	sk->fd = fd;
	sk->ls = ls;
	sk->th = &rt->threads[t];
	sk->evl = evconnlistener_new(sk->th->base, net_accept_cb, sk,
				     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	sk->ev_retry = event_new(sk->th->base, -1, 0, net_retry_cb, sk);
	if (sk->evl == NULL || sk->ev_retry == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "evconnlistener failed");
	evconnlistener_set_error_cb(sk->evl, net_accept_error_cb);
	return 0;
}

/* One unix-domain socket, accepted on by every event thread through duplicates. */
static int net_listen_unix(struct net_listener *ls, size_t b, const char *path,
			   const struct net_listener_cfg *cfg, struct core_error *err)
{
	struct net_runtime *rt = ls->rt;
	int fd = net_unix_open(ls, b, path, cfg, err);
	if (fd < 0)
		return fd;
	for (unsigned t = 0; t < rt->nthreads; t++) {
		int tfd = t == 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (tfd < 0)
			return core_error_set(err, CORE_EIO, NULL, "dup %s: %s", path,
					      strerror(errno));
		int rc = net_lsock_attach(ls, b, t, tfd, err);
		if (rc < 0)
			return rc;
	}
	core_logf(CORE_LOG_INFO, "net.listen", "listener=%s address=unix:%s threads=%u", cfg->name,
		  path, rt->nthreads);
	return 0;
}

int net_runtime_listen(struct net_runtime *rt, const struct net_listener_cfg *cfg,
		       const struct net_service *svc, void *service_arg, struct core_error *err)
{
	if (rt->running)
		return core_error_set(err, CORE_EINTERNAL, NULL, "listen after run");
	if (cfg->name == NULL || svc == NULL || svc->open == NULL || svc->input == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL,
				      "listener needs a name and a service");
	if (cfg->nbind == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "listener %s: no bind address",
				      cfg->name);
	if (cfg->tls != NET_TLS_NONE && rt->tls == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL,
				      "listener %s: TLS without certificate", cfg->name);
	struct net_listener *ls = core_xcalloc(1, sizeof(*ls));
	ls->rt = rt;
	ls->name = core_xstrdup(cfg->name);
	ls->svc = *svc;
	ls->svc_name = core_xstrdup(svc->name ? svc->name : cfg->name);
	ls->svc.name = ls->svc_name;
	ls->svc_arg = service_arg;
	ls->tls = cfg->tls;
	ls->proxy_protocol = cfg->proxy_protocol;
	ls->max_connections = cfg->max_connections;
	ls->max_per_ip = cfg->max_connections_per_ip;
	ls->idle_timeout_ms = cfg->idle_timeout_ms;
	ls->handshake_timeout_ms = cfg->tls_handshake_timeout_ms ? cfg->tls_handshake_timeout_ms
								 : NET_DEFAULT_HANDSHAKE_MS;
	ls->max_input = cfg->max_input_buffer ? cfg->max_input_buffer : NET_DEFAULT_MAX_INPUT;
	atomic_init(&ls->nconns, 0);
	pthread_mutex_init(&ls->ip_mu, NULL);
	ls->nbind = cfg->nbind;
	ls->ports = core_xcalloc(cfg->nbind, sizeof(*ls->ports));
	ls->socks = core_xcalloc(cfg->nbind * rt->nthreads, sizeof(*ls->socks));
	ls->unix_path = core_xcalloc(cfg->nbind, sizeof(*ls->unix_path));
	ls->unix_ino = core_xcalloc(cfg->nbind, sizeof(*ls->unix_ino));
	ls->unix_dev = core_xcalloc(cfg->nbind, sizeof(*ls->unix_dev));
	for (size_t i = 0; i < cfg->nbind * rt->nthreads; i++)
		ls->socks[i].fd = -1;
	int rc = 0;
	if (cfg->nproxy_trusted > 0) {
		ls->trusted = core_xcalloc(cfg->nproxy_trusted, sizeof(*ls->trusted));
		for (size_t i = 0; i < cfg->nproxy_trusted; i++) {
			if (net_cidr_parse(cfg->proxy_trusted[i], &ls->trusted[i]) < 0) {
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "listener %s: bad proxy_trusted address %s",
						    cfg->name, cfg->proxy_trusted[i]);
				goto fail;
			}
		}
		ls->ntrusted = cfg->nproxy_trusted;
	}
	for (size_t b = 0; b < cfg->nbind; b++) {
		if (strncmp(cfg->bind[b], NET_UNIX_PREFIX, strlen(NET_UNIX_PREFIX)) == 0) {
			rc = net_listen_unix(ls, b, cfg->bind[b] + strlen(NET_UNIX_PREFIX), cfg,
					     err);
			if (rc < 0)
				goto fail;
			continue;
		}
		struct sockaddr_storage ss;
		socklen_t sl;
		if (net_bind_parse(cfg->bind[b], &ss, &sl) < 0) {
			rc = core_error_set(err, CORE_ESYNTAX, NULL, "listener %s: bad address %s",
					    cfg->name, cfg->bind[b]);
			goto fail;
		}
		for (unsigned t = 0; t < rt->nthreads; t++) {
			int fd = net_socket_open(&ss, sl, err, cfg->bind[b]);
			if (fd < 0) {
				rc = fd;
				goto fail;
			}
			struct net_lsock *sk = &ls->socks[b * rt->nthreads + t];
			sk->fd = fd;
			sk->ls = ls;
			sk->th = &rt->threads[t];
			if (t == 0) {
				/* Port 0: read the port back and bind the others to it. */
				struct sockaddr_storage got;
				socklen_t gl = sizeof(got);
				if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0) {
					char ip[64];
					net_addr_format((struct sockaddr *)&got, ip, sizeof(ip),
							&ls->ports[b]);
				}
				if (ss.ss_family == AF_INET)
					((struct sockaddr_in *)&ss)->sin_port = htons(ls->ports[b]);
				else
					((struct sockaddr_in6 *)&ss)->sin6_port =
						htons(ls->ports[b]);
			}
			sk->evl = evconnlistener_new(sk->th->base, net_accept_cb, sk,
						     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
						     0, fd);
			sk->ev_retry = event_new(sk->th->base, -1, 0, net_retry_cb, sk);
			if (sk->evl == NULL || sk->ev_retry == NULL) {
				rc = core_error_set(err, CORE_EINTERNAL, NULL,
						    "evconnlistener failed");
				goto fail;
			}
			evconnlistener_set_error_cb(sk->evl, net_accept_error_cb);
		}
		core_logf(CORE_LOG_INFO, "net.listen", "listener=%s address=%s port=%u threads=%u",
			  cfg->name, cfg->bind[b], ls->ports[b], rt->nthreads);
	}
	ls->next = rt->listeners;
	rt->listeners = ls;
	return 0;
fail:
	net_listener_free(ls);
	return rc;
}

uint16_t net_runtime_listener_port(struct net_runtime *rt, const char *name, size_t i)
{
	for (struct net_listener *ls = rt->listeners; ls != NULL; ls = ls->next)
		if (strcmp(ls->name, name) == 0 && i < ls->nbind)
			return ls->ports[i];
	return 0;
}
