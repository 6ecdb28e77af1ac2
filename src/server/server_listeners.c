/*
 * server_listeners.c: listener sets from the configuration, and the built-in set used when
 * the file declares no [listener.*] (docs/install.md, "Ports").
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5321 §4.5.4 (port 25), RFC 8314 §3.3 (465 implicit TLS submission), RFC 6409 §3.1
 * (587), RFC 9051 §2.1 (143), RFC 8314 §7 (993, 995), RFC 1939 §3 (110), RFC 5804 §1.8
 * (4190), RFC 9110 §4.2 (443; 8080 is our cleartext HTTP port). Unprivileged: 10000 + port. */
const struct server_default_listener server_default_listeners[] = {
	{"smtp", "smtp", NET_TLS_STARTTLS, 25, 10025},
	{"submissions", "submission", NET_TLS_IMPLICIT, 465, 10465},
	{"submission", "submission", NET_TLS_STARTTLS, 587, 10587},
	{"imap", "imap", NET_TLS_STARTTLS, 143, 10143},
	{"imaps", "imap", NET_TLS_IMPLICIT, 993, 10993},
	{"pop3", "pop3", NET_TLS_STARTTLS, 110, 10110},
	{"pop3s", "pop3", NET_TLS_IMPLICIT, 995, 10995},
	{"managesieve", "managesieve", NET_TLS_STARTTLS, 4190, 14190},
	{"https", "http", NET_TLS_IMPLICIT, 443, 10443},
	{"http", "http", NET_TLS_NONE, 8080, 18080},
};
const size_t server_default_listeners_n = CORE_NELEM(server_default_listeners);

/* The protocols of each package (ARCHITECTURE.md §1, cmake/StaunchBinaries.cmake). */
static const struct {
	const char *pkg;
	const char *protocols; /* space-separated, with a space at both ends */
} pkg_protocols[] = {
	{"SMTP", " smtp submission lmtp "},
	{"IMAP", " imap pop3 managesieve http "},
	{"JMAP", " http "},
};

bool server_pkg_serves(const char *pkg_name, const char *protocol)
{
	if (pkg_name == NULL || protocol == NULL)
		return true;
	for (size_t i = 0; i < CORE_NELEM(pkg_protocols); i++) {
		if (strcmp(pkg_protocols[i].pkg, pkg_name) != 0)
			continue;
		char word[32];
		if (strlen(protocol) + 3 > sizeof(word))
			return false;
		snprintf(word, sizeof(word), " %s ", protocol);
		return strstr(pkg_protocols[i].protocols, word) != NULL;
	}
	return true; /* ALL */
}

void server_listeners_keep_pkg(struct server_listeners *l, const char *pkg_name)
{
	if (!l->defaults)
		return; /* configured listeners are the administrator's choice */
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (server_pkg_serves(pkg_name, l->v[i].protocol)) {
			l->v[k++] = l->v[i];
			continue;
		}
		free(l->v[i].name);
		free(l->v[i].protocol);
		for (size_t j = 0; j < l->v[i].nbind; j++)
			free(l->v[i].bind[j]);
		free(l->v[i].bind);
	}
	l->n = k;
}

long server_socket_mode_parse(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 5)
		return CORE_ESYNTAX;
	long m = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return CORE_ESYNTAX;
		m = m * 8 + (*p - '0');
	}
	return m <= 07777 ? m : CORE_ESYNTAX;
}

enum net_tls_mode server_tls_mode_parse(const char *s)
{
	if (s != NULL && strcmp(s, "implicit") == 0)
		return NET_TLS_IMPLICIT;
	if (s != NULL && strcmp(s, "starttls") == 0)
		return NET_TLS_STARTTLS;
	return NET_TLS_NONE;
}

const char *server_tls_mode_name(enum net_tls_mode m)
{
	switch (m) {
	case NET_TLS_IMPLICIT:
		return "implicit";
	case NET_TLS_STARTTLS:
		return "starttls";
	default:
		return "none";
	}
}

static int64_t get_int(const struct core_conf *c, const char *name, const char *what,
		       int64_t fallback)
{
	char key[256];
	snprintf(key, sizeof(key), "listener.%s.%s", name, what);
	return core_conf_get_int(c, key, fallback);
}

/* Limits and timeouts that apply to built-in and configured listeners alike: the registered
 * defaults of listener.*.KEY are found through the NAME pattern. */
static void listener_limits(const struct core_conf *c, struct server_listener *l)
{
	char key[256];
	int64_t v = get_int(c, l->name, "max-connections", 10000);
	l->max_connections = v > 0 && v < UINT32_MAX ? (unsigned)v : 0;
	v = get_int(c, l->name, "max-connections-per-ip", 100);
	l->max_connections_per_ip = v > 0 && v < UINT32_MAX ? (unsigned)v : 0;
	snprintf(key, sizeof(key), "listener.%s.idle-timeout", l->name);
	uint64_t ms = core_conf_get_duration_ms(c, key, 300000);
	l->idle_timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	snprintf(key, sizeof(key), "listener.%s.proxy-protocol", l->name);
	l->proxy_protocol = core_conf_get_bool(c, key, false);
	snprintf(key, sizeof(key), "listener.%s.proxy-trusted", l->name);
	l->nproxy_trusted = core_conf_get_list(c, key, &l->proxy_trusted);
}

int server_listeners_build(const struct core_conf *c, bool unprivileged,
			   struct server_listeners *out, struct core_conf_diags *d)
{
	memset(out, 0, sizeof(*out));
	const char *const *names;
	size_t n = core_conf_children(c, "listener", &names);
	if (n == 0) {
		out->defaults = true;
		out->unprivileged = unprivileged;
		out->v = core_xcalloc(server_default_listeners_n, sizeof(*out->v));
		for (size_t i = 0; i < server_default_listeners_n; i++) {
			const struct server_default_listener *dl = &server_default_listeners[i];
			struct server_listener *l = &out->v[out->n++];
			unsigned port = unprivileged ? dl->unprivileged_port : dl->port;
			l->name = core_xstrdup(dl->name);
			l->protocol = core_xstrdup(dl->protocol);
			l->tls = dl->tls;
			/* Both address families; IPv6 sockets are bound IPV6_V6ONLY by net. */
			l->nbind = 2;
			l->bind = core_xcalloc(2, sizeof(char *));
			l->bind[0] = core_xasprintf("0.0.0.0:%u", port);
			l->bind[1] = core_xasprintf("[::]:%u", port);
			listener_limits(c, l);
		}
		return 0;
	}
	bool bad = false;
	out->v = core_xcalloc(n, sizeof(*out->v));
	for (size_t i = 0; i < n; i++) {
		char key[256];
		struct server_listener *l = &out->v[out->n++];
		l->name = core_xstrdup(names[i]);
		snprintf(key, sizeof(key), "listener.%s.protocol", names[i]);
		const char *proto = core_conf_get_str(c, key, NULL);
		if (proto == NULL) {
			bad = true;
			server_diag_add(d, core_conf_origin(c, key, NULL), 0, key,
					"every listener needs a protocol");
			proto = "smtp";
		}
		l->protocol = core_xstrdup(proto);
		snprintf(key, sizeof(key), "listener.%s.tls", names[i]);
		l->tls = server_tls_mode_parse(core_conf_get_str(c, key, "none"));
		snprintf(key, sizeof(key), "listener.%s.bind", names[i]);
		const char *const *binds;
		size_t nb = core_conf_get_list(c, key, &binds);
		if (nb == 0) {
			bad = true;
			server_diag_add(d, "(configuration)", 0, key,
					"every listener needs at least one bind address");
		}
		l->bind = core_xcalloc(nb ? nb : 1, sizeof(char *));
		for (size_t j = 0; j < nb; j++)
			l->bind[l->nbind++] = core_xstrdup(binds[j]);
		listener_limits(c, l);
	}
	return bad ? CORE_ESYNTAX : 0;
}

void server_listeners_fini(struct server_listeners *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].protocol);
		for (size_t j = 0; j < l->v[i].nbind; j++)
			free(l->v[i].bind[j]);
		free(l->v[i].bind);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
