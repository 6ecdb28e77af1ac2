/*
 * server_services.c: which service answers on a listener. A protocol module registers a
 * struct server_service_def for its protocol name (listener.*.protocol); a protocol without a
 * registered service gets the placeholder refusal (server_placeholder.c).
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#define SERVICES_MAX 16

static const struct server_service_def *services[SERVICES_MAX];
static size_t nservices;

/* Every value of listener.*.protocol (server_conf_keys.c). */
const char *const server_protocols[] = {"smtp", "submission",  "lmtp", "imap",
					"pop3", "managesieve", "http"};
const size_t server_protocols_n = CORE_NELEM(server_protocols);

void server_service_register(const struct server_service_def *def)
{
	for (size_t i = 0; i < nservices; i++) {
		if (services[i] == def)
			return;
	}
	CORE_ASSERT(nservices < SERVICES_MAX);
	services[nservices++] = def;
}

void server_services_init(const struct server_pkg *pkg)
{
	/* Protocol modules add their server_service_register() calls here as they land,
	 * guarded by the package that includes them (STAUNCH_PKG_* gives pkg->name). */
	if (server_pkg_serves(pkg != NULL ? pkg->name : NULL, "smtp"))
		server_smtp_register();
}

static void *placeholder_arg_new(struct server *srv, const struct server_listener *l,
				 struct core_error *err)
{
	struct server_placeholder *p = core_xcalloc(1, sizeof(*p));
	int r = server_placeholder_init(p, l->protocol, srv->hostname);
	if (r < 0) {
		free(p);
		core_error_set(err, r, NULL, "listener %s: unknown protocol %s", l->name,
			       l->protocol);
		return NULL;
	}
	return p;
}

static void placeholder_arg_free(void *arg)
{
	struct server_placeholder *p = arg;
	if (p == NULL)
		return;
	server_placeholder_fini(p);
	free(p);
}

static const struct server_service_def placeholder_def = {
	.protocol = "*",
	.service = &server_placeholder_service,
	.arg_new = placeholder_arg_new,
	.arg_free = placeholder_arg_free,
};

const struct server_service_def *server_service_find(const char *protocol)
{
	/* The most recent registration wins, so a test can override a service. */
	for (size_t i = nservices; i-- > 0;) {
		if (strcmp(services[i]->protocol, protocol) == 0)
			return services[i];
	}
	return &placeholder_def;
}

bool server_service_is_placeholder(const struct server_service_def *def)
{
	return def == &placeholder_def;
}
