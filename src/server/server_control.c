/*
 * server_control.c: the control socket run-dir/control.sock (ARCHITECTURE.md §3) and its
 * client. Protocol: the client sends one command per line; the server answers each with one
 * line, "ok PAYLOAD" or "error MESSAGE", and closes when the client has shut down its side.
 * Only root and the server's own user may connect (SO_PEERCRED), in addition to the socket's
 * mode 0600.
 *
 * Commands: "status", "reload", "stop", "help", and for the CLI against a running server
 * (RocksDB admits one process, so the CLI cannot open the stores itself):
 *
 *   dir ARG...   one directory command (dir_cli_run) on the server's open directory. Each
 *                argument is percent-encoded (every byte outside [A-Za-z0-9._~@+:/=,] as
 *                %XX) and the arguments are separated by one space. Answer:
 *                "ok STATUS OUT ERR": STATUS is dir_cli_run's return (0 or a negative
 *                core_err), OUT and ERR what it printed to its output and error streams,
 *                percent-encoded the same way, "-" when empty.
 *   export       the portable dump (store_dump_export) of one consistent snapshot, streamed:
 *                "ok export", then any number of frames "data N" + newline + N raw bytes,
 *                then "end" on success or "error MESSAGE" on failure, then the server
 *                closes. It must be the connection's only request; one export runs at a time.
 *
 * The command table is extensible: later modules call server_control_register() with their
 * own static tables before the server starts.
 */
#include "server/server_int.h"

#include "directory/directory.h"
#include "store/store.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define CTL_STREAM_TIMEOUT_S 120

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

/* --- argument encoding of "dir" (see the header comment) --- */

static bool ctl_safe_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._~@+:/=,", c) != NULL;
}

void server_ctl_encode(struct core_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	if (n == 0) {
		core_buf_putc(out, '-');
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != 0 && ctl_safe_byte(c)) {
			core_buf_putc(out, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			core_buf_append(out, e, 3);
		}
	}
}

static int ctl_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int server_ctl_decode(const char *s, size_t n, struct core_buf *out)
{
	size_t start = out->len;
	if (n == 1 && s[0] == '-')
		return 0;
	if (n == 0)
		return CORE_ESYNTAX;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 1 < n ? ctl_hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? ctl_hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				core_buf_truncate(out, start);
				return CORE_ESYNTAX;
			}
			core_buf_putc(out, (char)(hi << 4 | lo));
			i += 2;
		} else if (ctl_safe_byte((unsigned char)s[i])) {
			core_buf_putc(out, s[i]);
		} else {
			core_buf_truncate(out, start);
			return CORE_ESYNTAX;
		}
	}
	return 0;
}

/* --- the stores and the directory of the control commands --- */

static void ctl_export_join_all(void);

/*
 * The server's stores: attached by whoever opens them at start-up
 * (server_control_attach_stores), else opened here on the first command that needs them and
 * closed by server_control_close.
 */
static struct {
	struct store_set own;
	struct dir *own_dir;
	struct store_set *st;
	struct dir *d;
	pthread_t export_thread;
	int export_fd; /* the export's socket: closed by the joiner */
	bool export_started;
	atomic_bool export_running;
} ctl_res;

void server_control_attach_stores(struct server *srv, struct store_set *st, struct dir *d)
{
	(void)srv;
	/* Stores opened here before (no protocol service was expected) give way. */
	ctl_export_join_all();
	if (ctl_res.own_dir != NULL)
		dir_free(&ctl_res.own_dir);
	if (ctl_res.st == &ctl_res.own)
		store_set_close(&ctl_res.own);
	memset(&ctl_res.own, 0, sizeof(ctl_res.own));
	ctl_res.st = st;
	ctl_res.d = d;
}

static int ctl_stores(struct server *srv, struct core_error *err)
{
	if (ctl_res.st != NULL && ctl_res.d != NULL)
		return 0;
	if (srv == NULL || srv->conf == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no server");
	/* A protocol service (SMTP, LMTP) opens the stores itself shortly after start-up and
	 * attaches them here; opening them now would take RocksDB's lock from it. */
	for (size_t i = 0; i < srv->listeners.n && ctl_res.st == NULL; i++) {
		const struct server_service_def *def =
			server_service_find(srv->listeners.v[i].protocol);
		if (def != NULL && !server_service_is_placeholder(def))
			return core_error_set(err, CORE_ETEMP, NULL,
					      "%s (starting, or they failed to open: see its log)",
					      CTL_NOT_OPEN_YET);
	}
	if (ctl_res.st == NULL) {
		int r = store_set_open(srv->conf, &ctl_res.own, err);
		if (r < 0)
			return r;
		ctl_res.st = &ctl_res.own;
	}
	if (ctl_res.d == NULL) {
		int r = dir_open_conf(srv->conf, ctl_res.st->data, &ctl_res.own_dir, err);
		if (r < 0)
			return r;
		ctl_res.d = ctl_res.own_dir;
	}
	return 0;
}

static bool conf_has_protocol(const struct core_conf *c, const char *p)
{
	const char *const *names;
	size_t n = core_conf_children(c, "listener", &names);
	for (size_t i = 0; i < n; i++) {
		char key[256];
		snprintf(key, sizeof(key), "listener.%s.protocol", names[i]);
		const char *v = core_conf_get_str(c, key, NULL);
		if (v != NULL && strcmp(v, p) == 0)
			return true;
	}
	return false;
}

char *server_dir_cli_fill(const struct core_conf *c, struct dir_cli *dc)
{
	/* TLSA comes from the configured certificate, else the self-signed one of init. */
	const char *const *certs;
	size_t n_certs = core_conf_get_list(c, "tls.cert", &certs);
	char *self_signed = core_xasprintf(
		"%s/tls/cert.pem", core_conf_get_str(c, "server.data-dir", "/var/lib/staunch"));
	dc->hostname = core_conf_get_str(c, "server.hostname", NULL);
	dc->cert_path = n_certs > 0                      ? certs[0]
			: access(self_signed, R_OK) == 0 ? self_signed
							 : NULL;
	dc->pop3 = conf_has_protocol(c, "pop3");
	return self_signed;
}

static int ctl_dir(struct server *srv, const char *args, struct core_buf *out,
		   struct core_error *err)
{
	int r = ctl_stores(srv, err);
	if (r < 0)
		return r;
	/* The arguments: percent-encoded words separated by single spaces. */
	struct core_buf words = CORE_BUF_INIT;
	size_t nargs = 0;
	const char *p = args;
	while (*p != '\0' && *p != '\r' && *p != '\n') {
		size_t len = strcspn(p, " \r\n");
		if (len == 0 || server_ctl_decode(p, len, &words) < 0 || nargs >= 64) {
			core_buf_fini(&words);
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad dir arguments");
		}
		core_buf_putc(&words, '\0');
		nargs++;
		p += len;
		if (*p == ' ')
			p++;
	}
	if (nargs == 0) {
		core_buf_fini(&words);
		return core_error_set(err, CORE_ESYNTAX, NULL, "dir needs a command");
	}
	char **argv = core_xcalloc(nargs + 1, sizeof(*argv));
	char *w = words.p;
	for (size_t i = 0; i < nargs; i++) {
		argv[i] = w;
		w += strlen(w) + 1;
	}
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *of = open_memstream(&obuf, &olen);
	FILE *ef = open_memstream(&ebuf, &elen);
	if (of == NULL || ef == NULL)
		core_die("out of memory");
	struct dir_cli dc = {.d = ctl_res.d, .data = ctl_res.st->data, .out = of, .errf = ef};
	char *self_signed = server_dir_cli_fill(srv->conf, &dc);
	if (srv->hostname != NULL && dc.hostname == NULL)
		dc.hostname = srv->hostname;
	/* Logged for audit: the command and its verb, never the arguments (passwords). */
	core_log(CORE_LOG_NOTICE, "server.control_dir", "command", argv[0], "verb",
		 nargs > 1 ? argv[1] : "", NULL);
	int status = dir_cli_run(&dc, (int)nargs, argv);
	fclose(of);
	fclose(ef);
	core_buf_printf(out, "%d ", status);
	server_ctl_encode(out, obuf, olen);
	core_buf_putc(out, ' ');
	server_ctl_encode(out, ebuf, elen);
	free(obuf);
	free(ebuf);
	free(self_signed);
	free(argv);
	core_buf_fini_wipe(&words); /* may hold a password */
	return 0;
}

static int ctl_export(struct server *srv, const char *args, struct core_buf *out,
		      struct core_error *err)
{
	/* Reached only when "export" was not the connection's only request (ctl_read_cb). */
	return core_error_set(err, CORE_ESYNTAX, NULL,
			      "export must be the only request of its connection");
}

/* --- the export stream (on its own thread: the main loop keeps serving) --- */

struct ctl_export_job {
	int fd;
	struct store_data *data;
	struct store_blob *blob;
};

static bool ctl_send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

static ssize_t ctl_export_write(void *cookie, const char *p, size_t n)
{
	struct ctl_export_job *job = cookie;
	char head[32];
	int hl = snprintf(head, sizeof(head), "data %zu\n", n);
	if (n == 0)
		return 0;
	if (!ctl_send_all(job->fd, head, (size_t)hl) || !ctl_send_all(job->fd, p, n)) {
		errno = EPIPE;
		return -1;
	}
	return (ssize_t)n;
}

static void *ctl_export_main(void *arg)
{
	struct ctl_export_job *job = arg;
	struct core_error err;
	core_error_clear(&err);
	static const char ok[] = "ok export\n";
	int r = ctl_send_all(job->fd, ok, sizeof(ok) - 1) ? 0 : CORE_EIO;
	if (r == 0) {
		cookie_io_functions_t io = {.write = ctl_export_write};
		FILE *f = fopencookie(job, "w", io);
		if (f == NULL)
			core_die("out of memory");
		setvbuf(f, NULL, _IOFBF, 256 * 1024);
		r = store_dump_export(job->data, job->blob, f, &err);
		if (fclose(f) != 0 && r >= 0)
			r = core_error_set(&err, CORE_EIO, NULL, "client went away");
	}
	struct core_buf tail = CORE_BUF_INIT;
	if (r >= 0) {
		core_buf_append_str(&tail, "end\n");
	} else {
		/* One line: control characters of the message become spaces. */
		core_buf_printf(&tail, "error %s", err.msg[0] ? err.msg : core_err_name(r));
		for (size_t i = 0; i < tail.len; i++)
			if ((unsigned char)tail.p[i] < 0x20)
				tail.p[i] = ' ';
		core_buf_putc(&tail, '\n');
	}
	ctl_send_all(job->fd, tail.p, tail.len);
	core_buf_fini(&tail);
	core_log(r >= 0 ? CORE_LOG_NOTICE : CORE_LOG_WARN, "server.control_export", "result",
		 r >= 0 ? "ok" : "failed", NULL);
	shutdown(job->fd, SHUT_RDWR);
	free(job);
	atomic_store(&ctl_res.export_running, false);
	return NULL;
}

/* Wait for a running export (server_control_close, or before the next one starts). */
static void ctl_export_join(void)
{
	if (ctl_res.export_started) {
		pthread_join(ctl_res.export_thread, NULL);
		close(ctl_res.export_fd);
		ctl_res.export_started = false;
	}
}

/* Cut a running export short and wait for it (its stores are about to go). */
static void ctl_export_join_all(void)
{
	if (ctl_res.export_started && atomic_load(&ctl_res.export_running))
		shutdown(ctl_res.export_fd, SHUT_RDWR);
	ctl_export_join();
}

/* Hand the connection over to an export thread. Returns false with a reply on refusal. */
static bool ctl_export_start(struct server *srv, int fd, struct core_buf *reply)
{
	struct core_error err;
	core_error_clear(&err);
	if (atomic_load(&ctl_res.export_running)) {
		core_buf_append_str(reply, "error an export is already running");
		return false;
	}
	ctl_export_join();
	if (ctl_stores(srv, &err) < 0) {
		core_buf_printf(reply, "error %s", err.msg);
		return false;
	}
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		core_buf_printf(reply, "error dup: %s", strerror(errno));
		return false;
	}
	/* Blocking writes on the thread (the flag is shared with the bufferevent's fd, which
	 * is freed right after this). */
	int fl = fcntl(dfd, F_GETFL);
	if (fl >= 0)
		fcntl(dfd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = {60, 0};
	setsockopt(dfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct ctl_export_job *job = core_xcalloc(1, sizeof(*job));
	*job = (struct ctl_export_job){dfd, ctl_res.st->data, ctl_res.st->blob};
	atomic_store(&ctl_res.export_running, true);
	if (pthread_create(&ctl_res.export_thread, NULL, ctl_export_main, job) != 0) {
		atomic_store(&ctl_res.export_running, false);
		close(dfd);
		free(job);
		core_buf_append_str(reply, "error cannot start the export thread");
		return false;
	}
	ctl_res.export_fd = dfd;
	ctl_res.export_started = true;
	return true;
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
	{"dir", "one directory command (staunch domain|account|alias|group|list|dns)", ctl_dir},
	{"export", "stream the portable dump of the stores (staunch store export)", ctl_export},
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
	bool served; /* answered a request already */
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
		if (!cl->served && strcmp(line, "export") == 0) {
			/* The connection goes to the export thread (see the header comment). */
			free(line);
			if (ctl_export_start(cl->srv, bufferevent_getfd(bev), &reply)) {
				core_buf_fini(&reply);
				ctl_client_free(cl);
				return;
			}
			line = NULL;
		} else if (n > CTL_LINE_MAX)
			core_buf_append_str(&reply, "error request too long");
		else
			server_control_dispatch(cl->srv, line, &reply);
		free(line);
		cl->served = true;
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
	/* An export still streaming: cut its connection short and wait for the thread. */
	ctl_export_join_all();
	if (ctl_res.own_dir != NULL) {
		if (ctl_res.d == ctl_res.own_dir)
			ctl_res.d = NULL;
		dir_free(&ctl_res.own_dir);
	}
	if (ctl_res.st == &ctl_res.own) {
		store_set_close(&ctl_res.own);
		memset(&ctl_res.own, 0, sizeof(ctl_res.own));
	}
	/* Attached stores belong to their service, which closes them after this. */
	ctl_res.st = NULL;
	ctl_res.d = NULL;
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

/* Buffered reader of the export stream. */
struct ctl_reader {
	int fd;
	char buf[65536];
	size_t off, len;
};

/* Fill at least one byte. Returns 1, 0 at EOF, or a negative core_err. */
static int ctl_reader_fill(struct ctl_reader *rd, struct core_error *err)
{
	if (rd->off < rd->len)
		return 1;
	for (;;) {
		struct pollfd pfd = {.fd = rd->fd, .events = POLLIN};
		int pr = poll(&pfd, 1, CTL_STREAM_TIMEOUT_S * 1000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return core_error_set(err, CORE_ETEMP, NULL,
					      "the server stopped answering");
		ssize_t n = read(rd->fd, rd->buf, sizeof(rd->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return core_error_set(err, CORE_EIO, NULL, "read: %s", strerror(errno));
		rd->off = 0;
		rd->len = (size_t)n;
		return n > 0 ? 1 : 0;
	}
}

/* One line without its newline into line (at most CTL_LINE_MAX). */
static int ctl_reader_line(struct ctl_reader *rd, struct core_buf *line, struct core_error *err)
{
	core_buf_reset(line);
	for (;;) {
		int r = ctl_reader_fill(rd, err);
		if (r < 0)
			return r;
		if (r == 0)
			return core_error_set(err, CORE_EIO, NULL, "the server closed the stream");
		char c = rd->buf[rd->off++];
		if (c == '\n')
			return 0;
		if (line->len >= CTL_LINE_MAX)
			return core_error_set(err, CORE_ESYNTAX, NULL,
					      "line too long in the stream");
		core_buf_putc(line, c);
	}
}

int server_control_stream(const char *path, const char *line, FILE *out, struct core_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return core_error_set(err, CORE_ELIMIT, NULL, "control socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct ctl_reader *rd = core_xcalloc(1, sizeof(*rd));
	rd->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rd->fd < 0) {
		free(rd);
		return core_error_set(err, CORE_EIO, NULL, "socket: %s", strerror(errno));
	}
	int r = 0;
	if (connect(rd->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		r = core_error_set(
			err, e == ENOENT || e == ECONNREFUSED ? CORE_ENOTFOUND : CORE_EIO, NULL,
			"cannot connect to %s: %s (is the server running?)", path, strerror(e));
		goto out;
	}
	char req[CTL_LINE_MAX + 2];
	int rl = snprintf(req, sizeof(req), "%s\n", line);
	if (rl < 0 || (size_t)rl >= sizeof(req) || !ctl_send_all(rd->fd, req, (size_t)rl)) {
		r = core_error_set(err, CORE_EIO, NULL, "cannot send the request");
		goto out;
	}
	shutdown(rd->fd, SHUT_WR);
	struct core_buf l = CORE_BUF_INIT;
	r = ctl_reader_line(rd, &l, err);
	if (r == 0 && strncmp(core_buf_cstr(&l), "ok", 2) != 0) {
		const char *m = core_buf_cstr(&l);
		r = core_error_set(err, CORE_EINTERNAL, NULL, "%s",
				   strncmp(m, "error ", 6) == 0 ? m + 6 : "unexpected answer");
	}
	while (r == 0) {
		r = ctl_reader_line(rd, &l, err);
		if (r < 0)
			break;
		const char *m = core_buf_cstr(&l);
		if (strcmp(m, "end") == 0)
			break;
		if (strncmp(m, "error ", 6) == 0) {
			r = core_error_set(err, CORE_EINTERNAL, NULL, "%s", m + 6);
			break;
		}
		char *end;
		unsigned long long n = strncmp(m, "data ", 5) == 0 ? strtoull(m + 5, &end, 10) : 0;
		if (n == 0 || *end != '\0' || n > (1ull << 32)) {
			r = core_error_set(err, CORE_ESYNTAX, NULL,
					   "unexpected frame in the stream");
			break;
		}
		while (n > 0 && r == 0) {
			int f = ctl_reader_fill(rd, err);
			if (f <= 0) {
				r = f < 0 ? f
					  : core_error_set(err, CORE_EIO, NULL,
							   "the server closed the stream");
				break;
			}
			size_t take = rd->len - rd->off;
			if (take > n)
				take = (size_t)n;
			if (fwrite(rd->buf + rd->off, 1, take, out) != take)
				r = core_error_set(err, CORE_EIO, NULL, "write: %s",
						   strerror(errno));
			rd->off += take;
			n -= take;
		}
	}
	core_buf_fini(&l);
out:
	close(rd->fd);
	free(rd);
	return r;
}
