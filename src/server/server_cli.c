/*
 * server_cli.c: the command line of the staunch binaries (docs/cli.md).
 *   staunch [--config FILE] serve | config check | config keys [--markdown] | status | stop |
 *           reload | init DIR [--hostname NAME] | version | help
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "server/server_int.h"

#include "directory/directory.h"
#include "store/store.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *f, const struct server_pkg *pkg)
{
	fprintf(f,
		"usage: %s [--config FILE] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  serve                     run the server in the foreground\n"
		"  config check              load and validate the configuration file\n"
		"  config keys [--markdown]  list every configuration key with default and "
		"meaning\n"
		"  status                    show the running server (version, uptime, listeners)\n"
		"  reload                    reload TLS certificates and reopen the log file\n"
		"  stop                      stop the running server gracefully\n"
		"  init DIR [--hostname H]   create DIR with a starter configuration, a "
		"self-signed\n"
		"                            certificate and an administrator password\n"
		"  domain|account|alias|group|list|dns ...\n"
		"                            manage the directory (docs/directory.md); "
		"`help directory`\n"
		"                            lists the forms\n"
		"  store export|import FILE  portable dump of every store (export also from a\n"
		"                            running server; import with the server stopped)\n"
		"  queue list|show ID|remove ID\n"
		"                            the outbound queue (docs/smtp.md)\n"
		"  version                   version, package, features and back ends\n"
		"  help                      this text\n"
		"\n"
		"Options:\n"
		"  --config FILE, -c FILE    configuration file (default: $STAUNCH_CONFIG, else\n"
		"                            " SERVER_DEFAULT_CONFIG ")\n",
		pkg->binary);
}

static int usage_error(const struct server_pkg *pkg, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", pkg->binary);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr, pkg);
	return EXIT_USAGE;
}

static int cmd_config_check(const char *path)
{
	struct core_conf *c = NULL;
	if (server_conf_load_checked(path, &c) != 0)
		return 1;
	core_conf_free(&c);
	printf("configuration OK: %s\n", path);
	return 0;
}

/* One table row of the Markdown reference as plain text:
 *   key  type  default: DEFAULT
 *       description */
static void md_row_to_text(const char *p, size_t len, FILE *f)
{
	char cell[4][1024];
	size_t nc = 0, k = 0;
	for (size_t i = 1; i < len && nc < 4; i++) {
		if (p[i] == '|' && (i == 0 || p[i - 1] != '\\')) {
			while (k > 0 && cell[nc][k - 1] == ' ')
				k--;
			cell[nc][k] = '\0';
			nc++;
			k = 0;
			continue;
		}
		if (p[i] == '`' || (p[i] == '\\' && i + 1 < len && p[i + 1] == '|'))
			continue;
		if ((k == 0 && p[i] == ' ') || k + 1 >= sizeof(cell[0]))
			continue;
		cell[nc][k++] = p[i];
	}
	if (nc < 4 || strcmp(cell[0], "Key") == 0 || strspn(cell[0], "-:") == strlen(cell[0]))
		return;
	fprintf(f, "%s  %s  default: %s\n    %s\n", cell[0], cell[1], cell[2], cell[3]);
}

/* The Markdown reference as plain text (headings kept, tables flattened). */
static void markdown_to_text(const char *md, FILE *f)
{
	const char *p = md;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len > 0 && p[0] == '|') {
			md_row_to_text(p, len, f);
		} else if (len > 3 && strncmp(p, "## ", 3) == 0) {
			fprintf(f, "[%.*s]\n", (int)(len - 3), p + 3);
		} else {
			fwrite(p, 1, len, f);
			fputc('\n', f);
		}
		p += len + (nl != NULL ? 1 : 0);
	}
}

static int cmd_config_keys(bool markdown)
{
	struct core_buf b = CORE_BUF_INIT;
	server_conf_register_all();
	core_conf_doc_markdown(&b);
	if (markdown)
		fwrite(b.p, 1, b.len, stdout);
	else
		markdown_to_text(core_buf_cstr(&b), stdout);
	core_buf_fini(&b);
	return 0;
}

static int cmd_version(const struct server_pkg *pkg)
{
	static const char *const desc[][2] = {
		{"ALL", "all-in-one: SMTP, IMAP, POP3, ManageSieve, JMAP"},
		{"JMAP", "JMAP only"},
		{"IMAP", "IMAP, POP3, ManageSieve and JMAP"},
		{"SMTP", "SMTP only"},
	};
	const char *what = "";
	for (size_t i = 0; i < CORE_NELEM(desc); i++) {
		if (strcmp(desc[i][0], pkg->name) == 0)
			what = desc[i][1];
	}
	const struct scmp_version *sv = seccomp_version();
	printf("%s %s\n", pkg->binary, pkg->version);
	printf("package: %s (%s)\n", pkg->name, what);
	printf("features: tls (%s), libevent %s, seccomp (libseccomp %u.%u.%u), "
	       "privilege drop, control socket\n",
	       OpenSSL_version(OPENSSL_VERSION), event_get_version(), sv ? sv->major : 0,
	       sv ? sv->minor : 0, sv ? sv->micro : 0);
	server_services_init(pkg);
	printf("services:");
	for (size_t i = 0; i < server_protocols_n; i++) {
		const struct server_service_def *d = server_service_find(server_protocols[i]);
		printf("%s %s%s", i > 0 ? "," : "", server_protocols[i],
		       server_service_is_placeholder(d) ? " (placeholder)" : "");
	}
	printf("\n");
	/* Back ends are registered by name; list the ones this binary links. */
	static const char *const stores[] = {"rocksdb", "sqlite", "postgresql", "memory", "fs"};
	static const char *const dirs[] = {"internal", "sql", "ldap"};
	printf("store backends:");
	int n = 0;
	for (size_t i = 0; i < CORE_NELEM(stores); i++)
		if (store_backend_find(stores[i]) != NULL)
			printf("%s %s", n++ > 0 ? "," : "", stores[i]);
	printf("%s\n", n == 0 ? " none" : "");
	printf("directory backends:");
	n = 0;
	for (size_t i = 0; i < CORE_NELEM(dirs); i++)
		if (dir_backend_find(dirs[i]) != NULL)
			printf("%s %s", n++ > 0 ? "," : "", dirs[i]);
	printf("%s\n", n == 0 ? " none" : "");
	return 0;
}

/* Path of the control socket from the configuration's run-dir. Caller frees. */
static char *control_path(const char *conf_path)
{
	struct core_conf *c = NULL;
	if (server_conf_load_checked(conf_path, &c) != 0)
		return NULL;
	char *p = core_xasprintf("%s/control.sock",
				 core_conf_get_str(c, "server.run-dir", "/run/staunch"));
	core_conf_free(&c);
	return p;
}

static int cmd_control(const char *conf_path, const char *line)
{
	char *path = control_path(conf_path);
	if (path == NULL)
		return 1;
	struct core_buf reply = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	int rc = 1;
	if (server_control_request(path, line, &reply, &err) < 0) {
		fprintf(stderr, "staunch %s: %s\n", line, err.msg);
		goto out;
	}
	const char *r = core_buf_cstr(&reply);
	size_t len = strcspn(r, "\n");
	if (strncmp(r, "ok", 2) == 0 && (len == 2 || r[2] == ' ')) {
		printf("%.*s\n", (int)(len > 3 ? len - 3 : 0), len > 3 ? r + 3 : "");
		rc = 0;
	} else if (strncmp(r, "error ", 6) == 0) {
		fprintf(stderr, "staunch %s: %.*s\n", line, (int)(len - 6), r + 6);
	} else {
		fprintf(stderr, "staunch %s: unexpected answer from the server\n", line);
	}
	if (rc == 0 && strcmp(line, "stop") == 0) {
		/* Wait until the server is gone (its control socket stops answering). */
		for (int i = 0; i < 300; i++) {
			struct core_buf probe = CORE_BUF_INIT;
			int pr = server_control_request(path, "help", &probe, NULL);
			core_buf_fini(&probe);
			if (pr < 0)
				break;
			usleep(100 * 1000);
		}
	}
out:
	core_buf_fini(&reply);
	free(path);
	return rc;
}

/*
 * With a server running (its control socket answers), the directory and export commands go
 * through the control socket: RocksDB admits one process per store. Returns the socket path
 * when one answers, else NULL (the CLI opens the stores itself).
 */
static char *control_running(const struct core_conf *c)
{
	char *path = core_xasprintf("%s/control.sock",
				    core_conf_get_str(c, "server.run-dir", "/run/staunch"));
	struct core_buf probe = CORE_BUF_INIT;
	int r = server_control_request(path, "help", &probe, NULL);
	core_buf_fini(&probe);
	if (r < 0) {
		free(path);
		return NULL;
	}
	return path;
}

static int dir_exit(int r)
{
	return r == 0 ? 0 : r == CORE_ESYNTAX ? EXIT_USAGE : 1;
}

/* A directory command run by the server ("dir" on the control socket). */
static int cmd_directory_online(const char *path, int argc, char **argv)
{
	struct core_buf line = CORE_BUF_INIT, reply = CORE_BUF_INIT, text = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	int rc = 1;
	core_buf_append_str(&line, "dir");
	for (int k = 0; k < argc; k++) {
		core_buf_putc(&line, ' ');
		server_ctl_encode(&line, argv[k], strlen(argv[k]));
	}
	/* Right after start-up the server may still be opening its stores: wait a little. */
	for (int tries = 0;; tries++) {
		core_buf_reset(&reply);
		if (server_control_request(path, core_buf_cstr(&line), &reply, &err) < 0) {
			fprintf(stderr, "staunch %s: %s\n", argv[0], err.msg);
			goto out;
		}
		if (tries >= 50 || strstr(core_buf_cstr(&reply), CTL_NOT_OPEN_YET) == NULL)
			break;
		usleep(100 * 1000);
	}
	const char *r = core_buf_cstr(&reply);
	size_t len = strcspn(r, "\n");
	if (strncmp(r, "error ", 6) == 0) {
		fprintf(stderr, "staunch %s: %.*s\n", argv[0], (int)(len - 6), r + 6);
		goto out;
	}
	/* "ok STATUS OUT ERR" */
	int status = 0, used = 0;
	if (strncmp(r, "ok ", 3) != 0 || sscanf(r + 3, "%d %n", &status, &used) != 1) {
		fprintf(stderr, "staunch %s: unexpected answer from the server\n", argv[0]);
		goto out;
	}
	const char *o = r + 3 + used;
	size_t olen = strcspn(o, " \n");
	const char *e = o[olen] == ' ' ? o + olen + 1 : o + olen;
	size_t elen = strcspn(e, " \n");
	if (olen == 0 || elen == 0 || server_ctl_decode(o, olen, &text) < 0) {
		fprintf(stderr, "staunch %s: unexpected answer from the server\n", argv[0]);
		goto out;
	}
	fwrite(text.p, 1, text.len, stdout);
	core_buf_reset(&text);
	if (server_ctl_decode(e, elen, &text) < 0) {
		fprintf(stderr, "staunch %s: unexpected answer from the server\n", argv[0]);
		goto out;
	}
	fflush(stdout);
	fwrite(text.p, 1, text.len, stderr);
	rc = dir_exit(status);
out:
	core_buf_fini_wipe(&line); /* may hold a password */
	core_buf_fini(&reply);
	core_buf_fini(&text);
	return rc;
}

/*
 * The directory commands (src/directory/dir_cli.c): forwarded to the running server, else
 * run on the stores of the configuration opened here. Output and exit status are the same
 * either way; docs/directory.md lists the commands.
 */
static int cmd_directory(const char *conf_path, int argc, char **argv)
{
	struct core_conf *c = NULL;
	if (server_conf_load_checked(conf_path, &c) != 0)
		return 1;
	char *path = control_running(c);
	if (path != NULL) {
		int rc = cmd_directory_online(path, argc, argv);
		free(path);
		core_conf_free(&c);
		return rc;
	}
	struct core_error err;
	core_error_clear(&err);
	struct store_set st = {0};
	struct dir *d = NULL;
	int rc = 1;
	if (store_set_open(c, &st, &err) < 0) {
		fprintf(stderr, "staunch %s: %s\n", argv[0], err.msg);
		goto out;
	}
	if (dir_open_conf(c, st.data, &d, &err) < 0) {
		fprintf(stderr, "staunch %s: %s\n", argv[0], err.msg);
		goto out;
	}
	struct dir_cli dc = {.d = d, .data = st.data, .out = stdout, .errf = stderr};
	char *self_signed = server_dir_cli_fill(c, &dc);
	int r = dir_cli_run(&dc, argc, argv);
	free(self_signed);
	rc = dir_exit(r);
out:
	dir_free(&d);
	store_set_close(&st);
	core_conf_free(&c);
	return rc;
}

/*
 * `store export FILE` / `store import FILE`: the portable dump of store_dump_export() /
 * store_dump_import() (docs/storage.md), for moving a deployment between backends. Export
 * writes FILE.tmp, syncs it and renames it into place; "-" writes to standard output. With a
 * server running, the server reads the snapshot and streams it over the control socket
 * ("export"), and this process writes FILE (the server runs unprivileged and never writes
 * the administrator's path); otherwise the CLI opens the stores itself. Import reads a
 * seekable file and goes into an empty store only, with the server stopped.
 */
static int cmd_store(const char *conf_path, const char *what, const char *file)
{
	struct core_conf *c = NULL;
	if (server_conf_load_checked(conf_path, &c) != 0)
		return 1;
	struct core_error err;
	core_error_clear(&err);
	struct store_set st = {0};
	int rc = 1;
	char *path = control_running(c);
	if (path != NULL && strcmp(what, "import") == 0) {
		fprintf(stderr,
			"staunch store import: a server is running (%s answers); import goes "
			"into an empty store with the server stopped (staunch stop)\n",
			path);
		goto out;
	}
	if (path == NULL) {
		if (store_set_open(c, &st, &err) < 0) {
			fprintf(stderr, "staunch store %s: %s\n", what, err.msg);
			goto out;
		}
	}
	if (strcmp(what, "export") == 0) {
		bool to_stdout = strcmp(file, "-") == 0;
		char *tmp = to_stdout ? NULL : core_xasprintf("%s.tmp", file);
		FILE *f = to_stdout ? stdout : fopen(tmp, "wbx");
		if (f == NULL) {
			fprintf(stderr, "staunch store export: cannot create %s: %s\n", tmp,
				strerror(errno));
			free(tmp);
			goto out;
		}
		int r = path != NULL ? server_control_stream(path, "export", f, &err)
				     : store_dump_export(st.data, st.blob, f, &err);
		for (int tries = 0; path != NULL && r < 0 && tries < 50 &&
				    strstr(err.msg, CTL_NOT_OPEN_YET) != NULL && ftell(f) == 0;
		     tries++) {
			usleep(100 * 1000);
			core_error_clear(&err);
			r = server_control_stream(path, "export", f, &err);
		}
		bool ok = r >= 0 && fflush(f) == 0 && (to_stdout || fsync(fileno(f)) == 0);
		if (!to_stdout)
			ok = (fclose(f) == 0) && ok;
		if (ok && !to_stdout && rename(tmp, file) != 0)
			ok = false;
		if (!ok) {
			fprintf(stderr, "staunch store export: %s\n",
				r < 0 ? err.msg : strerror(errno));
			if (!to_stdout)
				unlink(tmp);
		} else {
			rc = 0;
		}
		free(tmp);
	} else {
		FILE *f = fopen(file, "rb");
		if (f == NULL) {
			fprintf(stderr, "staunch store import: cannot open %s: %s\n", file,
				strerror(errno));
			goto out;
		}
		int r = store_dump_import(st.data, st.blob, f, &err);
		fclose(f);
		if (r < 0)
			fprintf(stderr, "staunch store import: %s\n", err.msg);
		else
			rc = 0;
	}
out:
	store_set_close(&st);
	core_conf_free(&c);
	free(path);
	return rc;
}

static int cmd_init(int argc, char **argv, int i, const struct server_pkg *pkg)
{
	const char *dir = NULL, *hostname = NULL;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--hostname") == 0 && i + 1 < argc)
			hostname = argv[++i];
		else if (strncmp(argv[i], "--hostname=", 11) == 0)
			hostname = argv[i] + 11;
		else if (argv[i][0] == '-' || dir != NULL)
			return usage_error(pkg, "init: unexpected argument %s", argv[i]);
		else
			dir = argv[i];
	}
	if (dir == NULL)
		return usage_error(pkg, "init needs a directory%s", "");
	char host[256];
	if (hostname == NULL) {
		server_hostname_default(host, sizeof(host));
		hostname = host;
	}
	return server_init_dir(dir, hostname);
}

int server_main(int argc, char **argv, const struct server_pkg *pkg)
{
	const char *conf = getenv("STAUNCH_CONFIG");
	if (conf == NULL || conf[0] == '\0')
		conf = SERVER_DEFAULT_CONFIG;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc)
			conf = argv[++i];
		else if (strncmp(a, "--config=", 9) == 0 && a[9] != '\0')
			conf = a + 9;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout, pkg);
			return 0;
		} else if (strcmp(a, "--version") == 0)
			return cmd_version(pkg);
		else
			return usage_error(pkg, "unknown option %s", a);
	}
	if (i >= argc)
		return usage_error(pkg, "no command given%s", "");
	const char *cmd = argv[i++];
	int rest = argc - i;
	if (strcmp(cmd, "serve") == 0 && rest == 0)
		return server_serve(pkg, conf);
	if (strcmp(cmd, "config") == 0 && rest >= 1) {
		if (strcmp(argv[i], "check") == 0 && rest == 1)
			return cmd_config_check(conf);
		if (strcmp(argv[i], "keys") == 0 && rest == 1)
			return cmd_config_keys(false);
		if (strcmp(argv[i], "keys") == 0 && rest == 2 &&
		    strcmp(argv[i + 1], "--markdown") == 0)
			return cmd_config_keys(true);
		return usage_error(pkg, "unknown config command %s", argv[i]);
	}
	if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "stop") == 0 ||
	     strcmp(cmd, "reload") == 0) &&
	    rest == 0)
		return cmd_control(conf, cmd);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc, argv, i, pkg);
	if (strcmp(cmd, "store") == 0 && rest == 2 &&
	    (strcmp(argv[i], "export") == 0 || strcmp(argv[i], "import") == 0))
		return cmd_store(conf, argv[i], argv[i + 1]);
	if (strcmp(cmd, "version") == 0 && rest == 0)
		return cmd_version(pkg);
	if (strcmp(cmd, "queue") == 0)
		return server_queue_cli(conf, argc - i + 1, argv + i - 1);
	static const char *const dir_cmds[] = {"domain", "account", "alias",
					       "group",  "list",    "dns"};
	for (size_t k = 0; k < CORE_NELEM(dir_cmds); k++)
		if (strcmp(cmd, dir_cmds[k]) == 0)
			return cmd_directory(conf, argc - i + 1, argv + i - 1);
	if (strcmp(cmd, "help") == 0 && rest == 1 && strcmp(argv[i], "directory") == 0) {
		dir_cli_usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 && rest == 0) {
		usage(stdout, pkg);
		return 0;
	}
	return usage_error(pkg, "unknown command or arguments: %s", cmd);
}
