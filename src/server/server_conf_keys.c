/*
 * server_conf_keys.c: the configuration keys of the staunch binary (docs/configuration.md is
 * generated from this table by `staunch config keys --markdown`, see ci/gen-config-doc.sh),
 * and the checks that involve several keys at once.
 */
#include "server/server_int.h"

#include "directory/directory.h"
#include "mailstore/mailstore.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUR_DAY (24LL * 3600 * 1000)

static const struct core_conf_key server_keys[] = {
	{"server.hostname", CORE_CONF_STRING, NULL, NULL, 0, 0, 0,
	 "Host name announced in greetings and used for the self-signed certificate; default: the "
	 "system host name."},
	{"server.node-id", CORE_CONF_INT, "1", NULL, 1, 65535, 0,
	 "Number of this node in a cluster (1 for a single server)."},
	{"server.user", CORE_CONF_STRING, "staunch", NULL, 0, 0, 0,
	 "User the server switches to after binding its ports when started as root (\"nobody\" if "
	 "this user does not exist); ignored when not started as root."},
	{"server.group", CORE_CONF_STRING, NULL, NULL, 0, 0, 0,
	 "Group the server switches to when started as root; default: the primary group of "
	 "server.user."},
	{"server.data-dir", CORE_CONF_PATH, "/var/lib/staunch", NULL, 0, 0, 0,
	 "Directory of the stores, generated certificates and other persistent data."},
	{"server.run-dir", CORE_CONF_PATH, "/run/staunch", NULL, 0, 0, 0,
	 "Directory of the control socket (control.sock) and the start-up files ports.json and "
	 "ready."},
	{"server.spool-dir", CORE_CONF_PATH, "/var/spool/staunch", NULL, 0, 0, 0,
	 "Directory of incoming message bodies while they are received."},
	{"server.seccomp", CORE_CONF_BOOL, "true", NULL, 0, 0, 0,
	 "After start-up, set no_new_privs and restrict the process to the system calls a mail "
	 "server needs (others fail with EPERM)."},
};

static const struct core_conf_key log_keys[] = {
	{"log.sink", CORE_CONF_ENUM, "stderr", "stderr|file|syslog", 0, 0, 0,
	 "Where log records go: standard error, the file log.file, or syslog (facility mail)."},
	{"log.file", CORE_CONF_PATH, "/var/log/staunch/staunch.log", NULL, 0, 0, 0,
	 "Log file for log.sink = \"file\"; reopened on SIGHUP and `staunch reload` (rotation)."},
	{"log.level", CORE_CONF_ENUM, "info", "debug|info|notice|warn|error", 0, 0, 0,
	 "Lowest severity that is logged."},
};

static const struct core_conf_key tls_keys[] = {
	{"tls.cert", CORE_CONF_LIST, NULL, NULL, 0, 0, 0,
	 "PEM certificate chain files; the first is the default certificate, the others are "
	 "chosen by SNI. Unset (and no [tls.certificate.*]): a self-signed certificate is created "
	 "in data-dir/tls/ on first start."},
	{"tls.key", CORE_CONF_LIST, NULL, NULL, 0, 0, 0,
	 "PEM private key files, one per entry of tls.cert and in the same order."},
	{"tls.certificate.*.cert", CORE_CONF_PATH, NULL, NULL, 0, 0, CORE_CONF_REQUIRED,
	 "PEM certificate chain of the named certificate (alternative to tls.cert for several "
	 "certificates, chosen by SNI)."},
	{"tls.certificate.*.key", CORE_CONF_PATH, NULL, NULL, 0, 0, CORE_CONF_REQUIRED,
	 "PEM private key of the named certificate."},
	{"tls.min-version", CORE_CONF_ENUM, "TLSv1.2", "TLSv1.2|TLSv1.3", 0, 0, 0,
	 "Oldest TLS version accepted."},
	{"tls.ciphers", CORE_CONF_STRING, NULL, NULL, 0, 0, 0,
	 "OpenSSL cipher list for TLS 1.2; default: the OpenSSL default list."},
	{"tls.client-ca", CORE_CONF_PATH, NULL, NULL, 0, 0, 0,
	 "PEM file of the certificate authorities whose client certificates are accepted for "
	 "SASL EXTERNAL. Set: every TLS handshake asks for a client certificate (none, or one "
	 "that does not verify, never fails the handshake; EXTERNAL is then not offered). "
	 "Unset: no client certificate is requested."},
};

static const struct core_conf_key runtime_keys[] = {
	{"runtime.event-threads", CORE_CONF_INT, "0", NULL, 0, 1024, 0,
	 "Number of network event threads; 0 = one per CPU."},
	{"runtime.worker-threads", CORE_CONF_INT, "0", NULL, 0, 4096, 0,
	 "Number of worker threads for storage, directory and DNS work; 0 = four per CPU, at least "
	 "8."},
	{"runtime.worker-queue", CORE_CONF_INT, "10000", NULL, 1, 10000000, 0,
	 "Pending worker jobs before new commands get a temporary failure."},
	{"runtime.shutdown-grace", CORE_CONF_DURATION, "3s", NULL, 0, 600000, 0,
	 "On SIGTERM, time given to open sessions to finish before they are closed."},
};

static const struct core_conf_key listener_keys[] = {
	{"listener.*.bind", CORE_CONF_LIST, NULL, NULL, 0, 0, CORE_CONF_REQUIRED,
	 "Addresses to listen on, \"IP:PORT\" or \"[IPv6]:PORT\"; port 0 picks a free port "
	 "(written to run-dir/ports.json). \"unix:/absolute/path\" is a unix-domain socket "
	 "(e.g. for LMTP), created before the privilege drop; a stale socket file is replaced "
	 "only when nothing accepts on it, and the socket is removed at shutdown."},
	{"listener.*.socket-mode", CORE_CONF_STRING, "0660", NULL, 0, 0, 0,
	 "Permissions (octal) of the listener's unix-domain sockets."},
	{"listener.*.socket-user", CORE_CONF_STRING, NULL, NULL, 0, 0, 0,
	 "Owner of the listener's unix-domain sockets; default: the user the server runs as "
	 "(server.user when started as root)."},
	{"listener.*.socket-group", CORE_CONF_STRING, NULL, NULL, 0, 0, 0,
	 "Group of the listener's unix-domain sockets (e.g. the MTA's group, so that it may "
	 "connect with mode 0660); default: the server's group."},
	{"listener.*.protocol", CORE_CONF_ENUM, NULL,
	 "smtp|submission|lmtp|imap|pop3|managesieve|http", 0, 0, CORE_CONF_REQUIRED,
	 "Protocol served on this listener."},
	{"listener.*.tls", CORE_CONF_ENUM, "none", "none|starttls|implicit", 0, 0, 0,
	 "TLS mode: cleartext only, cleartext with the protocol's STARTTLS command, or TLS from "
	 "the first byte."},
	{"listener.*.max-connections", CORE_CONF_INT, "10000", NULL, 0, 10000000, 0,
	 "Simultaneous connections on this listener; 0 = unlimited."},
	{"listener.*.max-connections-per-ip", CORE_CONF_INT, "100", NULL, 0, 10000000, 0,
	 "Simultaneous connections from one remote IP address; 0 = unlimited."},
	{"listener.*.idle-timeout", CORE_CONF_DURATION, "5m", NULL, 0, DUR_DAY, 0,
	 "Close a connection that sends nothing for this long (protocols may extend it, e.g. "
	 "IMAP IDLE); 0 = never."},
	{"listener.*.tls-handshake-timeout", CORE_CONF_DURATION, "10s", NULL, 0, 600000, 0,
	 "Close a connection whose TLS handshake takes longer."},
	{"listener.*.max-input-buffer", CORE_CONF_SIZE, "1M", NULL, 1024, 1LL << 30, 0,
	 "Unprocessed input buffered for one connection before it is closed."},
	{"listener.*.proxy-protocol", CORE_CONF_BOOL, "false", NULL, 0, 0, 0,
	 "Expect a PROXY protocol v1 or v2 header first (the client address is taken from it)."},
	{"listener.*.proxy-trusted", CORE_CONF_LIST, NULL, NULL, 0, 0, 0,
	 "Source IP addresses or CIDR ranges allowed to send PROXY headers; clients from other "
	 "addresses are served directly, under their own address."},
};

static const struct core_conf_key auth_keys[] = {
	{"auth.allow-plain-text", CORE_CONF_BOOL, "false", NULL, 0, 0, 0,
	 "Allow password authentication on connections without TLS."},
	{"auth.ban-exempt", CORE_CONF_LIST, NULL, NULL, 0, 0, 0,
	 "IP addresses that are never banned automatically (failed logins, abuse)."},
};

/* The store keys (store.data, store.blob, store.fts, store.lookup and their backend options)
 * are registered by the storage module when it lands; add its register call below. */

void server_conf_register_all(void)
{
	core_conf_register("Server", server_keys, CORE_NELEM(server_keys));
	core_conf_register("Logging", log_keys, CORE_NELEM(log_keys));
	core_conf_register("TLS", tls_keys, CORE_NELEM(tls_keys));
	core_conf_register("Runtime", runtime_keys, CORE_NELEM(runtime_keys));
	core_conf_register("Listeners", listener_keys, CORE_NELEM(listener_keys));
	core_conf_register("Authentication", auth_keys, CORE_NELEM(auth_keys));
	store_conf_register();
	dir_conf_register();
	mailstore_conf_register();
	server_smtp_conf_register();
}

void server_diag_add(struct core_conf_diags *d, const char *file, unsigned line, const char *key,
		     const char *fmt, ...)
{
	if (d == NULL)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = core_xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	struct core_conf_diag *g = &d->v[d->n++];
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->file = core_xstrdup(file != NULL ? file : "");
	g->line = line;
	g->key = key != NULL ? core_xstrdup(key) : NULL;
	g->msg = core_xstrdup(msg);
}

/* A diagnostic located where key was set (or at the file with line 0). */
static void diag_at(const struct core_conf *c, struct core_conf_diags *d, const char *fallback,
		    const char *key, const char *msg)
{
	unsigned line = 0;
	const char *file = core_conf_origin(c, key, &line);
	server_diag_add(d, file != NULL ? file : fallback, line, key, "%s", msg);
}

int server_conf_check(const struct core_conf *c, struct core_conf_diags *d)
{
	size_t before = d->n;
	unsigned line = 0;
	const char *any = core_conf_origin(c, "server.data-dir", &line);
	const char *file = any != NULL ? any : "(configuration)";

	const char *const *certs, *const *keys;
	size_t nc = core_conf_get_list(c, "tls.cert", &certs);
	size_t nk = core_conf_get_list(c, "tls.key", &keys);
	if (nc != nk)
		diag_at(c, d, file, nc > nk ? "tls.cert" : "tls.key",
			"tls.cert and tls.key must list the same number of files");

	if (strcmp(core_conf_get_str(c, "log.sink", "stderr"), "file") == 0 &&
	    core_conf_get_str(c, "log.file", NULL) == NULL)
		diag_at(c, d, file, "log.sink", "log.sink = \"file\" needs log.file");

	const char *const *names;
	size_t nl = core_conf_children(c, "listener", &names);
	for (size_t i = 0; i < nl; i++) {
		char key[256];
		snprintf(key, sizeof(key), "listener.%s.bind", names[i]);
		const char *const *binds;
		size_t nb = core_conf_get_list(c, key, &binds);
		if (core_conf_has(c, key) && nb == 0)
			diag_at(c, d, file, key, "needs at least one address");
		bool has_unix = false;
		for (size_t j = 0; j < nb; j++) {
			if (strncmp(binds[j], "unix:", 5) == 0) {
				/* Absolute, and short enough for sockaddr_un (108 bytes). */
				has_unix = true;
				if (binds[j][5] != '/' || strlen(binds[j] + 5) >= 108)
					diag_at(c, d, file, key,
						"a unix socket needs an absolute path of at most "
						"107 bytes: unix:/...");
				continue;
			}
			const char *colon = strrchr(binds[j], ':');
			char *end = NULL;
			long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
			if (colon == NULL || colon == binds[j] || end == colon + 1 ||
			    *end != '\0' || port < 0 || port > 65535) {
				char msg[300];
				snprintf(msg, sizeof(msg),
					 "\"%.200s\" is not IP:PORT or [IPv6]:PORT", binds[j]);
				diag_at(c, d, file, key, msg);
			}
		}
		snprintf(key, sizeof(key), "listener.%s.socket-mode", names[i]);
		if (has_unix && server_socket_mode_parse(core_conf_get_str(c, key, "0660")) <= 0)
			diag_at(c, d, file, key,
				"expected an octal mode other than 0, e.g. \"0660\"");
		snprintf(key, sizeof(key), "listener.%s.proxy-protocol", names[i]);
		if (core_conf_get_bool(c, key, false)) {
			char tkey[256];
			const char *const *tr;
			snprintf(tkey, sizeof(tkey), "listener.%s.proxy-trusted", names[i]);
			if (core_conf_get_list(c, tkey, &tr) == 0)
				diag_at(c, d, file, key,
					"proxy-protocol needs proxy-trusted (the proxies' "
					"addresses)");
		}
	}
	return d->n > before ? CORE_ESYNTAX : 0;
}
