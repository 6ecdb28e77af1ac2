/*
 * server_control.c: the control socket run-dir/control.sock (ARCHITECTURE.md §3) and its
 * client. Protocol: the client sends one command per line ("status", "reload", "stop",
 * "help"); the server answers each with one line, "ok PAYLOAD" or "error MESSAGE", and closes
 * when the client has shut down its side. Only root and the server's own user may connect
 * (SO_PEERCRED), in addition to the socket's mode 0600.
 *
 * The command table is extensible: later modules call server_control_register() with their
 * own static tables before the server starts.
 */
#include "server/server_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_LINE_MAX 4096
#define CTL_TABLES_MAX 32
#define CTL_TIMEOUT_S 10

struct ctl_table {
	const struct server_ctl_cmd *cmds;
	size_t n;
};
static struct ctl_table ctl_tables[CTL_TABLES_MAX];
static size_t ctl_ntables;

static void ctl_builtin_register(void);

void server_control_register(const struct server_ctl_cmd *cmds, size_t n)
{
	for (size_t i = 0; i < ctl_ntables; i++) {
		if (ctl_tables[i].cmds == cmds)
			return;
	}
	CORE_ASSERT(ctl_ntables < CTL_TABLES_MAX);
	ctl_tables[ctl_ntables++] = (struct ctl_table){cmds, n};
}

static const struct server_ctl_cmd *ctl_find(const char *name, size_t len)
{
	for (size_t t = 0; t < ctl_ntables; t++) {
		for (size_t i = 0; i < ctl_tables[t].n; i++) {
			const struct server_ctl_cmd *c = &ctl_tables[t].cmds[i];
			if (strlen(c->name) == len && strncmp(c->name, name, len) == 0)
				return c;
		}
	}
	return NULL;
}

void server_control_dispatch(struct server *srv, const char *line, struct core_buf *reply)
{
	ctl_builtin_register();
	while (*line == ' ' || *line == '\t')
		line++;
	size_t len = strcspn(line, " \t\r\n");
	const char *args = line + len;
	while (*args == ' ' || *args == '\t')
		args++;
	for (const char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n') {
			core_buf_append_str(reply, "error control characters in request");
			return;
		}
	}
	const struct server_ctl_cmd *cmd = ctl_find(line, len);
	if (cmd == NULL) {
		core_buf_printf(reply, "error unknown command \"%.*s\" (try help)",
				(int)(len > 64 ? 64 : len), line);
		return;
	}
	struct core_buf out = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	int r = cmd->run(srv, args, &out, &err);
	if (r < 0) {
		core_buf_printf(reply, "error %s", err.msg[0] ? err.msg : core_err_name(r));
	} else {
		core_buf_append_str(reply, "ok");
		if (out.len > 0) {
			core_buf_putc(reply, ' ');
			core_buf_append(reply, out.p, out.len);
		}
	}
	core_buf_fini(&out);
}

/* --- built-in commands --- */

static int ctl_status(struct server *srv, const char *args, struct core_buf *out,
		      struct core_error *err)
{
	if (srv == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no server");
	core_buf_append_str(out, "{\"version\":");
	server_json_str(out, srv->pkg->version);
	core_buf_append_str(out, ",\"package\":");
	server_json_str(out, srv->pkg->name);
	core_buf_printf(out, ",\"pid\":%ld,\"uptime\":%lld,\"hostname\":", (long)getpid(),
			(long long)(time(NULL) - srv->started));
	server_json_str(out, srv->hostname);
	core_buf_append_str(out, ",\"listeners\":{");
	for (size_t i = 0; i < srv->listeners.n; i++) {
		const struct server_listener *l = &srv->listeners.v[i];
		if (i > 0)
			core_buf_putc(out, ',');
		server_json_str(out, l->name);
		core_buf_append_str(out, ":{\"protocol\":");
		server_json_str(out, l->protocol);
		core_buf_append_str(out, ",\"tls\":");
		server_json_str(out, server_tls_mode_name(l->tls));
		core_buf_append_str(out, ",\"bind\":[");
		for (size_t j = 0; j < l->nbind; j++) {
			if (j > 0)
				core_buf_putc(out, ',');
			server_json_str(out, l->bind[j]);
		}
		core_buf_printf(out, "],\"port\":%u}", (unsigned)l->port);
	}
	core_buf_append_str(out, "}}");
	return 0;
}

static int ctl_reload(struct server *srv, const char *args, struct core_buf *out,
		      struct core_error *err)
{
	if (srv == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no server");
	int r = server_reload(srv, err);
	if (r < 0)
		return r;
	core_buf_append_str(out, "reloaded");
	return 0;
}

static int ctl_stop(struct server *srv, const char *args, struct core_buf *out,
		    struct core_error *err)
{
	if (srv == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no server");
	/* The shutdown starts once this reply is flushed (ctl_write_cb). */
	srv->stopping = true;
	core_buf_append_str(out, "stopping");
	return 0;
}

static int ctl_help(struct server *srv, const char *args, struct core_buf *out,
		    struct core_error *err)
{
	for (size_t t = 0; t < ctl_ntables; t++) {
		for (size_t i = 0; i < ctl_tables[t].n; i++) {
			if (out->len > 0)
				core_buf_append_str(out, "; ");
			core_buf_printf(out, "%s: %s", ctl_tables[t].cmds[i].name,
					ctl_tables[t].cmds[i].help);
		}
	}
	return 0;
}

static const struct server_ctl_cmd ctl_builtins[] = {
	{"status", "version, uptime and listeners as JSON", ctl_status},
	{"reload", "reload TLS certificates and reopen the log file", ctl_reload},
	{"stop", "graceful shutdown", ctl_stop},
	{"help", "list the commands", ctl_help},
};

static void ctl_builtin_register(void)
{
	server_control_register(ctl_builtins, CORE_NELEM(ctl_builtins));
}

/* --- the socket on the main loop --- */

struct server_ctl_client {
	struct server_ctl_client *next;
	struct server *srv;
	struct bufferevent *bev;
	bool closing;
	bool stop_after_flush;
};

static void ctl_client_free(struct server_ctl_client *cl)
{
	struct server_ctl_client **pp = &cl->srv->ctl_clients;
	while (*pp != NULL && *pp != cl)
		pp = &(*pp)->next;
	if (*pp == cl)
		*pp = cl->next;
	bufferevent_free(cl->bev);
	free(cl);
}

static void ctl_write_cb(struct bufferevent *bev, void *arg)
{
	struct server_ctl_client *cl = arg;
	if (cl->stop_after_flush) {
		cl->stop_after_flush = false;
		server_stop(cl->srv);
	}
	if (cl->closing)
		ctl_client_free(cl);
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct server_ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		struct core_buf reply = CORE_BUF_INIT;
		if (n > CTL_LINE_MAX)
			core_buf_append_str(&reply, "error request too long");
		else
			server_control_dispatch(cl->srv, line, &reply);
		free(line);
		core_buf_putc(&reply, '\n');
		bufferevent_write(bev, reply.p, reply.len);
		core_buf_fini(&reply);
		if (cl->srv->stopping)
			cl->stop_after_flush = true;
	}
	if (evbuffer_get_length(in) > CTL_LINE_MAX) {
		static const char msg[] = "error request too long\n";
		evbuffer_drain(in, evbuffer_get_length(in));
		bufferevent_write(bev, msg, sizeof(msg) - 1);
		bufferevent_disable(bev, EV_READ);
		cl->closing = true;
	}
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct server_ctl_client *cl = arg;
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* The client shut down its side: finish writing, then close (ctl_write_cb). */
		cl->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (cl->stop_after_flush) {
		cl->stop_after_flush = false;
		server_stop(cl->srv);
	}
	ctl_client_free(cl);
}

static void ctl_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct ucred cred;
	socklen_t cl_len = sizeof(cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		char uid[24];
		snprintf(uid, sizeof(uid), "%ld", cl_len == sizeof(cred) ? (long)cred.uid : -1L);
		core_log(CORE_LOG_WARN, "server.control_denied", "uid", uid, NULL);
		close(cfd);
		return;
	}
	struct event_base *base = net_runtime_main_base(srv->rt);
	struct server_ctl_client *cl = core_xcalloc(1, sizeof(*cl));
	cl->srv = srv;
	cl->bev = bufferevent_socket_new(base, cfd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		close(cfd);
		free(cl);
		return;
	}
	cl->next = srv->ctl_clients;
	srv->ctl_clients = cl;
	struct timeval tv = {CTL_TIMEOUT_S, 0};
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_setcb(cl->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

int server_control_open(struct server *srv, const char *path, uid_t owner, gid_t group,
			struct core_error *err)
{
	ctl_builtin_register();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return core_error_set(err, CORE_ELIMIT, NULL, "control socket path too long: %s",
				      path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "socket: %s", strerror(errno));
	/* A socket file left by a crashed server: connectable means a server still runs. */
	struct core_buf probe = CORE_BUF_INIT;
	if (server_control_request(path, "help", &probe, NULL) == 0) {
		core_buf_fini(&probe);
		close(fd);
		return core_error_set(err, CORE_ECONFLICT, NULL, "another server answers on %s",
				      path);
	}
	core_buf_fini(&probe);
	unlink(path);
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "control socket %s: %s", path,
				      strerror(e));
	}
	if (owner != (uid_t)-1 && chown(path, owner, group) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(err, CORE_EIO, NULL, "chown %s: %s", path, strerror(e));
	}
	struct event_base *base = net_runtime_main_base(srv->rt);
	struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, ctl_accept_cb, srv);
	if (ev == NULL || event_add(ev, NULL) != 0) {
		if (ev != NULL)
			event_free(ev);
		close(fd);
		return core_error_set(err, CORE_EINTERNAL, NULL, "cannot watch control socket");
	}
	srv->ctl_fd = fd;
	srv->ctl_ev = ev;
	return 0;
}

void server_control_close(struct server *srv)
{
	while (srv->ctl_clients != NULL)
		ctl_client_free(srv->ctl_clients);
	if (srv->ctl_ev != NULL) {
		event_free(srv->ctl_ev);
		srv->ctl_ev = NULL;
	}
	if (srv->ctl_fd >= 0) {
		close(srv->ctl_fd);
		srv->ctl_fd = -1;
	}
}

int server_control_request(const char *path, const char *line, struct core_buf *reply,
			   struct core_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return core_error_set(err, CORE_ELIMIT, NULL, "control socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return core_error_set(
			err, e == ENOENT || e == ECONNREFUSED ? CORE_ENOTFOUND : CORE_EIO, NULL,
			"cannot connect to %s: %s (is the server running?)", path, strerror(e));
	}
	struct core_buf req = CORE_BUF_INIT;
	core_buf_printf(&req, "%s\n", line);
	size_t off = 0;
	int r = 0;
	while (off < req.len) {
		ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = core_error_set(err, CORE_EIO, NULL, "send: %s", strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	core_buf_fini(&req);
	if (r == 0)
		shutdown(fd, SHUT_WR);
	while (r == 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, CTL_TIMEOUT_S * 1000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			r = core_error_set(err, CORE_ETEMP, NULL, "no answer from %s", path);
			break;
		}
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = core_error_set(err, CORE_EIO, NULL, "read: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (reply->len + (size_t)n > (1u << 24)) {
			r = core_error_set(err, CORE_ELIMIT, NULL, "answer too long");
			break;
		}
		core_buf_append(reply, buf, (size_t)n);
	}
	close(fd);
	return r;
}
