/*
 * server_int.h: private interface between the files of src/server.
 *
 * Ownership: struct server owns its configuration, runtime, listeners and control socket;
 * everything is released by server_fini(). Strings in struct server_listener are owned by
 * the listener set except proxy_trusted, which is borrowed from the configuration.
 */
#ifndef STAUNCH_SERVER_SERVER_INT_H
#define STAUNCH_SERVER_SERVER_INT_H

#include "core/core.h"
#include "core/core_conf.h"
#include "net/net.h"
#include "server/server.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* --- configuration (server_conf_keys.c) --- */

/* Default system paths. */
#define SERVER_DEFAULT_CONFIG "/etc/staunch/staunch.conf"

/*
 * Checks that need more than one key (certificate and key lists of equal length, a log file
 * for the file sink, listener names). Appends diagnostics to d; returns 0 or CORE_ESYNTAX.
 */
int server_conf_check(const struct core_conf *c, struct core_conf_diags *d);
/* Load (core_conf_load) and check the configuration; prints every diagnostic on stderr.
 * Returns 0, or 1 with *out NULL. */
int server_conf_load_checked(const char *path, struct core_conf **out);
/* Append one diagnostic (d may be NULL: nothing is recorded) (copies every string). */
void server_diag_add(struct core_conf_diags *d, const char *file, unsigned line, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* --- listeners (server_listeners.c) --- */

struct server_listener {
	char *name;     /* "smtp", "imaps", ... */
	char *protocol; /* "smtp", "submission", "lmtp", "imap", "pop3", "managesieve", "http" */
	enum net_tls_mode tls;
	char **bind; /* owned strings */
	size_t nbind;
	const char *const *proxy_trusted; /* borrowed from the configuration */
	size_t nproxy_trusted;
	bool proxy_protocol;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	uint32_t idle_timeout_ms;
	uint16_t port; /* bound port of the first address, once listening */
};

struct server_listeners {
	struct server_listener *v;
	size_t n;
	bool defaults;     /* the file had no [listener.*]: the built-in set is used */
	bool unprivileged; /* defaults moved to 10000 + port (not running as root) */
};

/* One built-in listener (docs/install.md, ports table). */
struct server_default_listener {
	const char *name;
	const char *protocol;
	enum net_tls_mode tls;
	uint16_t port;
	uint16_t unprivileged_port;
};
extern const struct server_default_listener server_default_listeners[];
extern const size_t server_default_listeners_n;

/*
 * Build the listener set from the configuration: the [listener.NAME] sections, or the
 * built-in set when there are none (moved to unprivileged ports when unprivileged is true).
 * Returns 0 or CORE_ESYNTAX with diagnostics.
 */
int server_listeners_build(const struct core_conf *c, bool unprivileged,
			   struct server_listeners *out, struct core_conf_diags *d);
void server_listeners_fini(struct server_listeners *l);
enum net_tls_mode server_tls_mode_parse(const char *s);
/* listener.*.socket-mode: an octal mode ("0660") or CORE_ESYNTAX. */
long server_socket_mode_parse(const char *s);
const char *server_tls_mode_name(enum net_tls_mode m);

/* --- placeholder services (server_placeholder.c) --- */

/*
 * The refusal a protocol sends until its service exists (SMTP 421, IMAP BYE, POP3 -ERR,
 * ManageSieve BYE, HTTP 503). Appends it to out; returns 0 or CORE_ENOTFOUND for an unknown
 * protocol.
 */
int server_placeholder_greeting(const char *protocol, const char *hostname, struct core_buf *out);

struct server_placeholder {
	char *greeting;
	size_t len;
	bool wait_request; /* HTTP: close after the request head (or a short linger) */
};
/* How long an HTTP placeholder waits for the rest of the request before closing. */
#define SERVER_PLACEHOLDER_LINGER_MS 2000
/* The service and its argument (owns the greeting text). */
extern const struct net_service server_placeholder_service;
int server_placeholder_init(struct server_placeholder *p, const char *protocol,
			    const char *hostname);
void server_placeholder_fini(struct server_placeholder *p);

/* --- services (server_services.c) --- */

struct server;

/*
 * A protocol service the server can put on listeners. Protocol modules define one and call
 * server_service_register() from server_services_init() before the listeners are bound.
 * arg_new builds the service argument of one listener (returns NULL with err on failure);
 * arg_free releases it after the runtime has stopped.
 */
struct server_service_def {
	const char *protocol; /* a value of listener.*.protocol: "smtp", "imap", ... */
	const struct net_service *service;
	void *(*arg_new)(struct server *srv, const struct server_listener *l,
			 struct core_error *err);
	void (*arg_free)(void *arg);
};

/* Every protocol name listener.*.protocol accepts. */
extern const char *const server_protocols[];
extern const size_t server_protocols_n;

void server_service_register(const struct server_service_def *def);
/* Register the services of the protocol modules of this package (server_pkg_serves).
 * Idempotent. */
struct server_pkg;
void server_services_init(const struct server_pkg *pkg);
/* Does the package (struct server_pkg.name: "ALL", "SMTP", "IMAP", "JMAP") serve this
 * listener protocol? ALL and an unknown name serve every protocol. */
bool server_pkg_serves(const char *pkg_name, const char *protocol);
/* Drop the built-in listeners (l->defaults) of protocols the package does not serve. */
void server_listeners_keep_pkg(struct server_listeners *l, const char *pkg_name);
/* The service for a protocol: the registered one, else the placeholder refusal. */
const struct server_service_def *server_service_find(const char *protocol);
bool server_service_is_placeholder(const struct server_service_def *def);

/* A listener's service once bound. */
struct server_bound {
	const struct server_service_def *def;
	void *arg;
};

/* --- SMTP, submission and LMTP (server_smtp.c) --- */

/* Register the services of the smtp, submission and lmtp protocols. */
void server_smtp_register(void);
/* Register the smtp.* configuration keys (docs/smtp.md). */
void server_smtp_conf_register(void);
struct queue;
/* The running server's outbound queue, or NULL before its stores are open. */
struct queue *server_smtp_queue(void);

/* --- the queue commands (server_queue_cli.c) --- */

/* The "queue" control command. */
void server_queue_ctl_register(void);
/* `staunch queue list|show ID|remove ID` (argv[0] is "queue"). Returns the exit status. */
int server_queue_cli(const char *conf_path, int argc, char **argv);

/* --- privileges (server_privdrop.c) --- */

struct server_creds {
	bool drop; /* false: not running as root, nothing to change */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/*
 * Resolve the target of the privilege drop: server.user (falling back to "nobody" when the
 * configured user does not exist) and server.group (default: the user's primary group).
 * When the process is not root, creds->drop is false.
 */
int server_creds_resolve(const char *user, const char *group, struct server_creds *out,
			 struct core_error *err);
/* chown a path to the target user (no-op unless drop). */
int server_creds_chown(const struct server_creds *cr, const char *path, struct core_error *err);
/* setgroups, setgid, setuid; verifies root cannot be regained. */
int server_privdrop_apply(const struct server_creds *cr, struct core_error *err);
/* PR_SET_NO_NEW_PRIVS and the seccomp allow-list (default action: EPERM). */
int server_seccomp_install(struct core_error *err);

/* --- the running server (server_serve.c) --- */

struct server_ctl_client;

struct server {
	const struct server_pkg *pkg;
	const char *conf_path;
	struct core_conf *conf;
	struct net_runtime *rt;
	struct server_listeners listeners;
	struct server_bound *bound; /* one per listener */
	const char *hostname;       /* borrowed from conf or hostname_buf */
	char hostname_buf[256];
	char *data_dir, *run_dir, *spool_dir;
	char *ports_path, *ready_path, *ctl_path;
	struct net_tls_cert_cfg *certs;
	size_t ncerts;
	char **cert_strings; /* owned paths behind certs */
	size_t ncert_strings;
	time_t started;
	int ctl_fd;
	void *ctl_ev; /* struct event * */
	struct server_ctl_client *ctl_clients;
	void *sig_ev[4]; /* struct event * */
	bool stopping;
	bool failed; /* start-up could not complete (ready file): exit status 1 */
};

int server_serve(const struct server_pkg *pkg, const char *conf_path);
/* TLS reload and log reopen (SIGHUP, control "reload"). Returns 0 or negative core_err. */
int server_reload(struct server *srv, struct core_error *err);
void server_stop(struct server *srv);
/* JSON object {"smtp":25,...} of the bound ports (first address of each listener). */
void server_ports_json(const struct server *srv, struct core_buf *out);

/* --- control socket (server_control.c) --- */

/*
 * A control command: run() appends its reply (one line, no newline: JSON or text) to out and
 * returns 0, or returns a negative core_err with the reason in err.
 */
struct server_ctl_cmd {
	const char *name;
	const char *help;
	int (*run)(struct server *srv, const char *args, struct core_buf *out,
		   struct core_error *err);
};

/* Add commands (static table). Later modules register theirs at start-up. */
void server_control_register(const struct server_ctl_cmd *cmds, size_t n);
/*
 * Run one request line: appends "ok PAYLOAD" or "error MESSAGE" (no newline) to reply.
 * srv may be NULL in tests of commands that do not need it.
 */
void server_control_dispatch(struct server *srv, const char *line, struct core_buf *reply);
/* Listen on path (mode 0600, owned by owner when >= 0) on the runtime's main loop. */
int server_control_open(struct server *srv, const char *path, uid_t owner, gid_t group,
			struct core_error *err);
void server_control_close(struct server *srv);
/* Client: send one line, read the reply until EOF. Returns 0 or negative core_err. */
int server_control_request(const char *path, const char *line, struct core_buf *reply,
			   struct core_error *err);
/* Append s as a JSON string (quoted, escaped). */
void server_json_str(struct core_buf *out, const char *s);
/*
 * Client of the streamed "export": send line, write the data frames to out until "end".
 * Returns 0, CORE_ENOTFOUND when no server answers on path, or another negative core_err.
 */
int server_control_stream(const char *path, const char *line, FILE *out, struct core_error *err);
/* The start of the control socket's answer while a service has yet to attach its stores
 * (the CLI waits and asks again). */
#define CTL_NOT_OPEN_YET "the server has not opened its stores yet"
/* Percent-encoding of the "dir" arguments and answers ("-" is the empty string). */
void server_ctl_encode(struct core_buf *out, const char *s, size_t n);
/* Append the decoded bytes of s[0..n) to out. Returns 0 or CORE_ESYNTAX (out unchanged). */
int server_ctl_decode(const char *s, size_t n, struct core_buf *out);
struct store_set;
struct dir;
struct dir_cli;
/*
 * The stores and directory the server opened at start-up, for the "dir" and "export"
 * commands (borrowed; the owner closes them after server_control_close). Without this the
 * control socket opens its own on the first such command and closes them itself.
 */
void server_control_attach_stores(struct server *srv, struct store_set *st, struct dir *d);
/* hostname, cert_path and pop3 of a struct dir_cli from the configuration (both the
 * offline CLI and the control socket use it). Returns a string to free after the run. */
char *server_dir_cli_fill(const struct core_conf *c, struct dir_cli *dc);

/* --- init (server_init.c) --- */

int server_init_dir(const char *dir, const char *hostname);
/* A random password of SERVER_PASSWORD_LEN characters (144 bits) into out (n > that).
 * Returns 0 or CORE_EIO. */
#define SERVER_PASSWORD_LEN 24
int server_password_generate(char *out, size_t n);
/* Hash a password with yescrypt ($y$), else sha512-crypt ($6$). Caller frees. */
char *server_password_hash(const char *password, struct core_error *err);

/* --- helpers (server_util.c) --- */

/* mkdir -p with mode for created directories. Returns 0 or CORE_EIO. */
int server_mkdirs(const char *path, mode_t mode, struct core_error *err);
/* Write a file atomically (tmp + rename) with mode. */
int server_write_file(const char *path, const char *data, size_t len, mode_t mode,
		      struct core_error *err);
/* The system host name, fully qualified when the resolver says so. */
void server_hostname_default(char *buf, size_t n);

#endif
