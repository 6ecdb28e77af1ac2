/*
 * server_serve.c: `staunch serve`. Start-up order (docs/install.md, "What happens at
 * start"): load and check the configuration, open the log, create the runtime with the TLS
 * certificates (a self-signed one is generated on first start when none is configured), bind
 * every listener and the control socket, drop root privileges, enable no_new_privs and
 * seccomp, then run; once every listener accepts, run-dir/ports.json and run-dir/ready are
 * written. SIGTERM/SIGINT stop gracefully, SIGHUP reloads TLS and reopens the log.
 */
#include "server/server_int.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

void server_stop(struct server *srv)
{
	if (srv->rt != NULL) {
		core_log(CORE_LOG_NOTICE, "server.stopping", NULL);
		net_runtime_shutdown(srv->rt);
	}
}

int server_reload(struct server *srv, struct core_error *err)
{
	int r = core_log_reopen();
	if (r < 0)
		core_log(CORE_LOG_WARN, "server.log_reopen_failed", NULL);
	r = net_runtime_tls_reload(srv->rt, err);
	if (r < 0) {
		core_log(CORE_LOG_ERROR, "server.tls_reload_failed", "error", err->msg, NULL);
		return r;
	}
	core_log(CORE_LOG_INFO, "server.reloaded", NULL);
	return 0;
}

void server_ports_json(const struct server *srv, struct core_buf *out)
{
	core_buf_putc(out, '{');
	for (size_t i = 0; i < srv->listeners.n; i++) {
		if (i > 0)
			core_buf_putc(out, ',');
		server_json_str(out, srv->listeners.v[i].name);
		core_buf_printf(out, ":%u", (unsigned)srv->listeners.v[i].port);
	}
	core_buf_putc(out, '}');
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	if (sig == SIGHUP) {
		struct core_error err;
		core_error_clear(&err);
		server_reload(srv, &err);
		return;
	}
	server_stop(srv);
}

static void on_ready(void *arg)
{
	struct server *srv = arg;
	struct core_buf b = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	server_ports_json(srv, &b);
	core_buf_putc(&b, '\n');
	int r = server_write_file(srv->ports_path, b.p, b.len, 0644, &err);
	core_buf_reset(&b);
	core_buf_printf(&b, "%ld\n", (long)getpid());
	if (r == 0)
		r = server_write_file(srv->ready_path, b.p, b.len, 0644, &err);
	core_buf_fini(&b);
	if (r < 0) {
		core_log(CORE_LOG_ERROR, "server.ready_failed", "error", err.msg, NULL);
		srv->failed = true;
		server_stop(srv);
		return;
	}
	core_log(CORE_LOG_NOTICE, "server.ready", "run-dir", srv->run_dir, NULL);
}

static int fail(const char *what, const struct core_error *err)
{
	core_log(CORE_LOG_ERROR, "server.start_failed", "step", what, "error", err->msg, NULL);
	fprintf(stderr, "staunch: %s: %s\n", what, err->msg);
	return 1;
}

/* Open the configured log sink; returns 0 or 1 with a message on stderr. */
static int open_log(const struct core_conf *c)
{
	enum core_log_level lvl = CORE_LOG_INFO;
	core_log_level_parse(core_conf_get_str(c, "log.level", "info"), &lvl);
	core_log_set_level(lvl);
	const char *sink = core_conf_get_str(c, "log.sink", "stderr");
	enum core_log_sink s = CORE_LOG_SINK_STDERR;
	if (strcmp(sink, "file") == 0)
		s = CORE_LOG_SINK_FILE;
	else if (strcmp(sink, "syslog") == 0)
		s = CORE_LOG_SINK_SYSLOG;
	const char *file = core_conf_get_str(c, "log.file", NULL);
	if (s == CORE_LOG_SINK_FILE && file != NULL) {
		char *dir = core_xstrdup(file);
		char *slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			server_mkdirs(dir, 0750, NULL);
		}
		free(dir);
	}
	if (core_log_open(s, file, "staunch") < 0) {
		fprintf(stderr, "staunch: cannot open log file %s: %s\n", file ? file : "",
			strerror(errno));
		return 1;
	}
	return 0;
}

static void add_cert(struct server *srv, const char *cert, const char *key)
{
	srv->certs = core_xrealloc(srv->certs, (srv->ncerts + 1) * sizeof(*srv->certs));
	srv->certs[srv->ncerts++] = (struct net_tls_cert_cfg){cert, key};
}

static char *own_str(struct server *srv, char *s)
{
	srv->cert_strings =
		core_xrealloc(srv->cert_strings, (srv->ncert_strings + 1) * sizeof(char *));
	srv->cert_strings[srv->ncert_strings++] = s;
	return s;
}

/* The certificates of tls.cert/tls.key and [tls.certificate.*], else a generated one. */
static int setup_certs(struct server *srv, const struct server_creds *cr, struct core_error *err)
{
	const char *const *certs, *const *keys;
	size_t nc = core_conf_get_list(srv->conf, "tls.cert", &certs);
	size_t nk = core_conf_get_list(srv->conf, "tls.key", &keys);
	for (size_t i = 0; i < nc && i < nk; i++)
		add_cert(srv, certs[i], keys[i]);
	const char *const *names;
	size_t nn = core_conf_children(srv->conf, "tls.certificate", &names);
	for (size_t i = 0; i < nn; i++) {
		char *ck = core_xasprintf("tls.certificate.%s.cert", names[i]);
		char *kk = core_xasprintf("tls.certificate.%s.key", names[i]);
		const char *c = core_conf_get_str(srv->conf, ck, NULL);
		const char *k = core_conf_get_str(srv->conf, kk, NULL);
		free(ck);
		free(kk);
		if (c != NULL && k != NULL)
			add_cert(srv, c, k);
	}
	if (srv->ncerts > 0)
		return 0;
	char *dir = own_str(srv, core_xasprintf("%s/tls", srv->data_dir));
	char *cert = own_str(srv, core_xasprintf("%s/cert.pem", dir));
	char *key = own_str(srv, core_xasprintf("%s/key.pem", dir));
	int r = server_mkdirs(dir, 0750, err);
	if (r == 0)
		r = net_tls_selfsigned_ensure(cert, key, srv->hostname, err);
	if (r < 0)
		return r;
	/* Readable by the server user, so SIGHUP can reload them after the drop. */
	server_creds_chown(cr, dir, NULL);
	server_creds_chown(cr, cert, NULL);
	server_creds_chown(cr, key, NULL);
	core_log(CORE_LOG_INFO, "server.tls_selfsigned", "cert", cert, "hostname", srv->hostname,
		 NULL);
	add_cert(srv, cert, key);
	return 0;
}

static void raise_nofile(void)
{
	/* ARCHITECTURE.md §3: raise RLIMIT_NOFILE at start (idle connections are many). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Mode and owner of a listener's unix-domain sockets (listener.NAME.socket-*): by default
 * the user and group the server drops to, so the socket stays the server's own. */
static int unix_socket_cfg(struct server *srv, const struct server_listener *l,
			   const struct server_creds *cr, struct net_listener_cfg *lc,
			   struct core_error *err)
{
	char key[256];
	snprintf(key, sizeof(key), "listener.%s.socket-mode", l->name);
	long mode = server_socket_mode_parse(core_conf_get_str(srv->conf, key, "0660"));
	if (mode < 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "%s: bad octal mode", key);
	if (mode == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "%s: mode 0 allows nobody", key);
	lc->unix_mode = (unsigned)mode;
	lc->unix_uid = cr->drop ? (long)cr->uid : -1;
	lc->unix_gid = cr->drop ? (long)cr->gid : -1;
	snprintf(key, sizeof(key), "listener.%s.socket-user", l->name);
	const char *user = core_conf_get_str(srv->conf, key, NULL);
	if (user != NULL) {
		struct passwd *pw = getpwnam(user);
		if (pw == NULL)
			return core_error_set(err, CORE_ENOTFOUND, NULL, "%s: no user %s", key,
					      user);
		lc->unix_uid = (long)pw->pw_uid;
	}
	snprintf(key, sizeof(key), "listener.%s.socket-group", l->name);
	const char *group = core_conf_get_str(srv->conf, key, NULL);
	if (group != NULL) {
		struct group *gr = getgrnam(group);
		if (gr == NULL)
			return core_error_set(err, CORE_ENOTFOUND, NULL, "%s: no group %s", key,
					      group);
		lc->unix_gid = (long)gr->gr_gid;
	}
	lc->unix_chown = lc->unix_uid >= 0 || lc->unix_gid >= 0;
	return 0;
}

static int bind_listeners(struct server *srv, const struct server_creds *cr, struct core_error *err)
{
	srv->bound = core_xcalloc(srv->listeners.n ? srv->listeners.n : 1, sizeof(*srv->bound));
	for (size_t i = 0; i < srv->listeners.n; i++) {
		struct server_listener *l = &srv->listeners.v[i];
		char key[256];
		const struct server_service_def *def = server_service_find(l->protocol);
		void *arg = def->arg_new(srv, l, err);
		if (arg == NULL)
			return err->code < 0 ? err->code : CORE_EINTERNAL;
		srv->bound[i] = (struct server_bound){def, arg};
		struct net_listener_cfg lc = {
			.name = l->name,
			.bind = (const char *const *)l->bind,
			.nbind = l->nbind,
			.tls = l->tls,
			.proxy_protocol = l->proxy_protocol,
			.proxy_trusted = l->proxy_trusted,
			.nproxy_trusted = l->nproxy_trusted,
			.max_connections = l->max_connections,
			.max_connections_per_ip = l->max_connections_per_ip,
			.idle_timeout_ms = l->idle_timeout_ms,
		};
		for (size_t j = 0; j < l->nbind; j++) {
			if (strncmp(l->bind[j], "unix:", 5) == 0) {
				int r = unix_socket_cfg(srv, l, cr, &lc, err);
				if (r < 0)
					return r;
				break;
			}
		}
		snprintf(key, sizeof(key), "listener.%s.tls-handshake-timeout", l->name);
		lc.tls_handshake_timeout_ms =
			(uint32_t)core_conf_get_duration_ms(srv->conf, key, 10000);
		snprintf(key, sizeof(key), "listener.%s.max-input-buffer", l->name);
		lc.max_input_buffer = (size_t)core_conf_get_size(srv->conf, key, 1u << 20);
		int r = net_runtime_listen(srv->rt, &lc, def->service, arg, err);
		if (r < 0)
			return r;
		l->port = net_runtime_listener_port(srv->rt, l->name, 0);
		for (size_t j = 0; j < l->nbind; j++) {
			char port[8];
			snprintf(port, sizeof(port), "%u",
				 (unsigned)net_runtime_listener_port(srv->rt, l->name, j));
			core_log(CORE_LOG_NOTICE, "server.listen", "listener", l->name, "protocol",
				 l->protocol, "tls", server_tls_mode_name(l->tls), "bind",
				 l->bind[j], "port", port, "service",
				 server_service_is_placeholder(def) ? "placeholder" : def->protocol,
				 NULL);
		}
	}
	return 0;
}

static void server_fini(struct server *srv)
{
	/* The run-dir files are ours only once we hold the control socket. */
	if (srv->ctl_fd >= 0) {
		unlink(srv->ready_path);
		unlink(srv->ports_path);
		unlink(srv->ctl_path);
	}
	if (srv->rt != NULL)
		server_control_close(srv);
	for (size_t i = 0; i < CORE_NELEM(srv->sig_ev); i++) {
		if (srv->sig_ev[i] != NULL)
			event_free(srv->sig_ev[i]);
	}
	net_runtime_free(&srv->rt);
	for (size_t i = 0; srv->bound != NULL && i < srv->listeners.n; i++) {
		if (srv->bound[i].def != NULL)
			srv->bound[i].def->arg_free(srv->bound[i].arg);
	}
	free(srv->bound);
	server_listeners_fini(&srv->listeners);
	free(srv->certs);
	for (size_t i = 0; i < srv->ncert_strings; i++)
		free(srv->cert_strings[i]);
	free(srv->cert_strings);
	free(srv->data_dir);
	free(srv->run_dir);
	free(srv->spool_dir);
	free(srv->ports_path);
	free(srv->ready_path);
	free(srv->ctl_path);
	core_conf_free(&srv->conf);
}

int server_conf_load_checked(const char *path, struct core_conf **out)
{
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	server_conf_register_all();
	int r = core_conf_load(path, out, &d);
	if (r == 0)
		r = server_conf_check(*out, &d);
	if (r == 0) {
		/* Listener problems (protocol, bind) are reported with the rest. */
		struct server_listeners l;
		r = server_listeners_build(*out, false, &l, &d);
		server_listeners_fini(&l);
	}
	if (d.n > 0) {
		struct core_buf b = CORE_BUF_INIT;
		core_conf_diags_format(&d, &b);
		fputs(core_buf_cstr(&b), stderr);
		if (b.len > 0 && b.p[b.len - 1] != '\n')
			fputc('\n', stderr);
		core_buf_fini(&b);
	}
	if (r < 0 && d.n == 0)
		fprintf(stderr, "%s: cannot read the configuration (%s)\n", path, core_err_name(r));
	core_conf_diags_fini(&d);
	if (r < 0) {
		core_conf_free(out);
		return 1;
	}
	return 0;
}

int server_serve(const struct server_pkg *pkg, const char *conf_path)
{
	struct server srv = {.pkg = pkg, .conf_path = conf_path, .ctl_fd = -1};
	struct core_error err;
	core_error_clear(&err);
	signal(SIGPIPE, SIG_IGN);
	if (server_conf_load_checked(conf_path, &srv.conf) != 0)
		return 1;
	int rc = 1;
	if (open_log(srv.conf) != 0)
		goto out;
	srv.hostname = core_conf_get_str(srv.conf, "server.hostname", NULL);
	if (srv.hostname == NULL) {
		server_hostname_default(srv.hostname_buf, sizeof(srv.hostname_buf));
		srv.hostname = srv.hostname_buf;
	}
	srv.data_dir = core_xstrdup(core_conf_get_str(srv.conf, "server.data-dir", "."));
	srv.run_dir = core_xstrdup(core_conf_get_str(srv.conf, "server.run-dir", "."));
	srv.spool_dir = core_xstrdup(core_conf_get_str(srv.conf, "server.spool-dir", "."));
	srv.ports_path = core_xasprintf("%s/ports.json", srv.run_dir);
	srv.ready_path = core_xasprintf("%s/ready", srv.run_dir);
	srv.ctl_path = core_xasprintf("%s/control.sock", srv.run_dir);
	core_log(CORE_LOG_NOTICE, "server.starting", "version", pkg->version, "package", pkg->name,
		 "config", conf_path, NULL);

	if (server_mkdirs(srv.data_dir, 0750, &err) < 0 ||
	    server_mkdirs(srv.run_dir, 0755, &err) < 0 ||
	    server_mkdirs(srv.spool_dir, 0750, &err) < 0) {
		rc = fail("directories", &err);
		goto out;
	}
	struct server_creds cr;
	if (server_creds_resolve(core_conf_get_str(srv.conf, "server.user", "staunch"),
				 core_conf_get_str(srv.conf, "server.group", NULL), &cr,
				 &err) < 0) {
		rc = fail("user", &err);
		goto out;
	}
	raise_nofile();
	if (setup_certs(&srv, &cr, &err) < 0) {
		rc = fail("tls", &err);
		goto out;
	}

	struct net_runtime_cfg rc_cfg = {
		.event_threads = (unsigned)core_conf_get_int(srv.conf, "runtime.event-threads", 0),
		.worker_threads =
			(unsigned)core_conf_get_int(srv.conf, "runtime.worker-threads", 0),
		.worker_queue_max =
			(unsigned)core_conf_get_int(srv.conf, "runtime.worker-queue", 10000),
		.shutdown_grace_ms = (uint32_t)core_conf_get_duration_ms(
			srv.conf, "runtime.shutdown-grace", 3000),
		.certs = srv.certs,
		.ncerts = srv.ncerts,
		.tls_min_version = core_conf_get_str(srv.conf, "tls.min-version", "TLSv1.2"),
		.tls_ciphers = core_conf_get_str(srv.conf, "tls.ciphers", NULL),
		/* SASL EXTERNAL (RFC 4422 appendix A) with TLS client certificates. */
		.tls_client_ca = core_conf_get_str(srv.conf, "tls.client-ca", NULL),
	};
	srv.rt = net_runtime_new(&rc_cfg, &err);
	if (srv.rt == NULL) {
		rc = fail("runtime", &err);
		goto out;
	}

	/* The control socket first: a second server on the same run-dir stops here, before
	 * it binds (SO_REUSEPORT would let it share the first one's ports). */
	if (server_control_open(&srv, srv.ctl_path, cr.drop ? cr.uid : (uid_t)-1,
				cr.drop ? cr.gid : (gid_t)-1, &err) < 0) {
		rc = fail("control socket", &err);
		goto out;
	}
	/* Left over from an earlier run (this one writes them when ready). */
	unlink(srv.ready_path);
	unlink(srv.ports_path);
	if (server_listeners_build(srv.conf, geteuid() != 0, &srv.listeners, NULL) < 0) {
		core_error_set(&err, CORE_ESYNTAX, NULL, "bad listener configuration");
		rc = fail("listeners", &err);
		goto out;
	}
	/* A package binary opens the built-in ports of its own protocols only, so the SMTP and
	 * IMAP packages can run side by side on one host (docs/listeners-and-tls.md). */
	server_listeners_keep_pkg(&srv.listeners, pkg->name);
	if (srv.listeners.unprivileged)
		core_log(CORE_LOG_NOTICE, "server.unprivileged_ports", "msg",
			 "not started as root and no [listener.*] configured: the default "
			 "listeners use port 10000 + their standard port",
			 NULL);
	server_services_init(pkg);
	if (bind_listeners(&srv, &cr, &err) < 0) {
		rc = fail("listen", &err);
		goto out;
	}
	struct event_base *base = net_runtime_main_base(srv.rt);
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	for (size_t i = 0; i < CORE_NELEM(sigs); i++) {
		srv.sig_ev[i] = evsignal_new(base, sigs[i], on_signal, &srv);
		if (srv.sig_ev[i] == NULL || event_add(srv.sig_ev[i], NULL) != 0) {
			core_error_set(&err, CORE_EINTERNAL, NULL, "cannot watch signal %d",
				       sigs[i]);
			rc = fail("signals", &err);
			goto out;
		}
	}

	/* Privileges: the ports are bound and the keys loaded; nothing below needs root. */
	if (cr.drop) {
		const char *dirs[] = {srv.data_dir, srv.run_dir, srv.spool_dir};
		for (size_t i = 0; i < CORE_NELEM(dirs); i++) {
			if (server_creds_chown(&cr, dirs[i], &err) < 0) {
				rc = fail("chown", &err);
				goto out;
			}
		}
		if (strcmp(core_conf_get_str(srv.conf, "log.sink", "stderr"), "file") == 0)
			server_creds_chown(&cr, core_conf_get_str(srv.conf, "log.file", ""), NULL);
	}
	if (server_privdrop_apply(&cr, &err) < 0) {
		rc = fail("privilege drop", &err);
		goto out;
	}
	if (access(srv.run_dir, W_OK | X_OK) != 0 || access(srv.data_dir, W_OK | X_OK) != 0) {
		core_error_set(&err, CORE_EPERM, NULL,
			       "user %s cannot write %s or %s (check the parent directories)",
			       cr.drop ? cr.user : "(current)", srv.run_dir, srv.data_dir);
		rc = fail("directories", &err);
		goto out;
	}
	if (core_conf_get_bool(srv.conf, "server.seccomp", true)) {
		if (server_seccomp_install(&err) < 0) {
			rc = fail("seccomp", &err);
			goto out;
		}
	} else {
		core_log(CORE_LOG_WARN, "server.seccomp_disabled", NULL);
	}

	net_runtime_on_ready(srv.rt, on_ready, &srv);
	srv.started = time(NULL);
	net_runtime_run(srv.rt);
	core_log(CORE_LOG_NOTICE, "server.stopped", NULL);
	rc = srv.failed ? 1 : 0;
out:
	server_fini(&srv);
	core_log_close();
	return rc;
}
