/*
 * server.h: the Staunch binaries (ARCHITECTURE.md §1, top layer). main.c of every package
 * calls server_main(); everything else in src/server is reached through it: configuration
 * keys, listeners, placeholder protocol services, privilege drop and seccomp, the control
 * socket and the command-line interface (docs/cli.md).
 *
 * Ownership: struct server_pkg is static data of main.c, borrowed for the process lifetime.
 */
#ifndef STAUNCH_SERVER_SERVER_H
#define STAUNCH_SERVER_SERVER_H

/* What a package binary contains (set by main.c from the STAUNCH_PKG_* definitions). */
struct server_pkg {
	const char *binary;  /* "staunch", "staunch-smtp", ... */
	const char *name;    /* package name: "ALL", "JMAP", "IMAP", "SMTP" */
	const char *version; /* "0.1.0" */
};

/*
 * Run the command line (argv[0] is the program name). Returns the process exit status:
 * 0 success, 1 failure (configuration, runtime, control socket), 2 usage error.
 */
int server_main(int argc, char **argv, const struct server_pkg *pkg);

/*
 * Register every configuration key the binary knows (server, listeners, TLS, log, runtime,
 * auth; later modules add theirs here). Idempotent. Tests call it to compare the generated
 * reference with docs/configuration.md.
 */
void server_conf_register_all(void);

#endif
