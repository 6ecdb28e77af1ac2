/*
 * server_init.c: `staunch init DIR`, a ready-to-run data directory: a starter staunch.conf, a
 * self-signed certificate and an administrator password. The password is printed once and
 * only its hash is kept (DIR/admin.secret, mode 0600) until the directory module stores the
 * administrator account itself.
 */
#include "server/server_int.h"

#include <crypt.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *server_password_hash(const char *password, struct core_error *err)
{
	/* crypt_rn with its own crypt_data: reentrant, never the static buffer of crypt(). */
	static const char *const prefixes[] = {"$y$", "$6$"};
	struct crypt_data *cd = core_xcalloc(1, sizeof(*cd));
	char *hash = NULL;
	for (size_t i = 0; i < CORE_NELEM(prefixes) && hash == NULL; i++) {
		char salt[CRYPT_GENSALT_OUTPUT_SIZE];
		if (crypt_gensalt_rn(prefixes[i], 0, NULL, 0, salt, sizeof(salt)) == NULL)
			continue;
		const char *h = crypt_rn(password, salt, cd, (int)sizeof(*cd));
		if (h != NULL && h[0] == '$')
			hash = core_xstrdup(h);
	}
	core_wipe(cd, sizeof(*cd));
	free(cd);
	if (hash == NULL)
		core_error_set(err, CORE_EINTERNAL, NULL,
			       "libcrypt supports neither yescrypt nor "
			       "sha512-crypt");
	return hash;
}

int server_password_generate(char *out, size_t n)
{
	/* The base64url alphabet (RFC 4648 §5): exactly 64 symbols, shell- and URL-safe. */
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	_Static_assert(sizeof(alphabet) == 65, "64 symbols, 6 bits each");
	unsigned char rnd[SERVER_PASSWORD_LEN];
	if (n < sizeof(rnd) + 1 || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return CORE_EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		out[i] = alphabet[rnd[i] & 63];
	/* A password that begins with '-' reads as an option to the tools an administrator
	 * pastes it into; the first symbol is drawn again until it is a letter or digit. */
	while (out[0] == '-' || out[0] == '_') {
		unsigned char c;
		if (getrandom(&c, 1, 0) != 1) {
			core_wipe(rnd, sizeof(rnd));
			return CORE_EIO;
		}
		out[0] = alphabet[c & 63];
	}
	out[sizeof(rnd)] = '\0';
	core_wipe(rnd, sizeof(rnd));
	return 0;
}

/* A TOML basic string: quotes and backslashes escaped. */
static void conf_quote(struct core_buf *b, const char *s)
{
	core_buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			core_buf_putc(b, '\\');
		core_buf_putc(b, *s);
	}
	core_buf_putc(b, '"');
}

static void conf_starter(struct core_buf *b, const char *dir, const char *hostname)
{
	char *run = core_xasprintf("%s/run", dir);
	char *spool = core_xasprintf("%s/spool", dir);
	char *cert = core_xasprintf("%s/tls/cert.pem", dir);
	core_buf_append_str(b, "# Staunch configuration written by `staunch init`.\n"
			       "# Every key is described in docs/configuration.md;\n"
			       "# check this file with: staunch --config THIS_FILE config check\n\n"
			       "[server]\nhostname = ");
	conf_quote(b, hostname);
	core_buf_append_str(b, "\ndata-dir = ");
	conf_quote(b, dir);
	core_buf_append_str(b, "\nrun-dir = ");
	conf_quote(b, run);
	core_buf_append_str(b, "\nspool-dir = ");
	conf_quote(b, spool);
	core_buf_append_str(b,
			    "\n# user = \"staunch\"   # used when started as root\n\n"
			    "[log]\nsink = \"stderr\"\nlevel = \"info\"\n\n"
			    "# TLS: the self-signed certificate created by `staunch init` in\n# ");
	core_buf_append_str(b, cert);
	core_buf_append_str(b, " is used while no certificate is configured.\n"
			       "# For real certificates (several are chosen by SNI):\n"
			       "# [tls]\n"
			       "# cert = [\"/etc/letsencrypt/live/example.org/fullchain.pem\"]\n"
			       "# key = [\"/etc/letsencrypt/live/example.org/privkey.pem\"]\n\n");
	core_buf_append_str(
		b, "# No [listener.*] section: the default listeners are used (smtp 25, "
		   "submissions 465,\n"
		   "# submission 587, imap 143, imaps 993, pop3 110, pop3s 995, managesieve 4190,\n"
		   "# https 443, http 8080), or 10000 + port when not started as root.\n"
		   "# To choose them yourself, declare each one, for example:\n"
		   "# [listener.imaps]\n"
		   "# protocol = \"imap\"\n"
		   "# bind = [\"0.0.0.0:993\", \"[::]:993\"]\n"
		   "# tls = \"implicit\"\n\n"
		   "[auth]\nallow-plain-text = false\n");
	free(run);
	free(spool);
	free(cert);
}

int server_init_dir(const char *dir_arg, const char *hostname)
{
	struct core_error err;
	core_error_clear(&err);
	if (server_mkdirs(dir_arg, 0750, &err) < 0) {
		fprintf(stderr, "staunch init: %s\n", err.msg);
		return 1;
	}
	char dir[PATH_MAX];
	if (realpath(dir_arg, dir) == NULL) {
		fprintf(stderr, "staunch init: %s: %s\n", dir_arg, strerror(errno));
		return 1;
	}
	char *conf = core_xasprintf("%s/staunch.conf", dir);
	char *secret = core_xasprintf("%s/admin.secret", dir);
	char *tls = core_xasprintf("%s/tls", dir);
	char *cert = core_xasprintf("%s/cert.pem", tls);
	char *key = core_xasprintf("%s/key.pem", tls);
	char *hash = NULL;
	char password[32];
	int rc = 1;
	struct core_buf b = CORE_BUF_INIT;
	struct stat st;
	if (stat(conf, &st) == 0 || stat(secret, &st) == 0) {
		fprintf(stderr,
			"staunch init: %s already holds a configuration (staunch.conf or "
			"admin.secret); nothing changed\n",
			dir);
		goto out;
	}
	if (server_mkdirs(tls, 0750, &err) < 0 ||
	    net_tls_selfsigned_ensure(cert, key, hostname, &err) < 0) {
		fprintf(stderr, "staunch init: certificate: %s\n", err.msg);
		goto out;
	}
	if (server_password_generate(password, sizeof(password)) < 0) {
		fprintf(stderr, "staunch init: no random numbers\n");
		goto out;
	}
	hash = server_password_hash(password, &err);
	if (hash == NULL) {
		fprintf(stderr, "staunch init: %s\n", err.msg);
		goto out;
	}
	core_buf_printf(&b, "admin:%s\n", hash);
	if (server_write_file(secret, b.p, b.len, 0600, &err) < 0) {
		fprintf(stderr, "staunch init: %s\n", err.msg);
		goto out;
	}
	core_buf_reset(&b);
	conf_starter(&b, dir, hostname);
	if (server_write_file(conf, b.p, b.len, 0640, &err) < 0) {
		unlink(secret);
		fprintf(stderr, "staunch init: %s\n", err.msg);
		goto out;
	}
	printf("Initialised %s\n"
	       "  configuration: %s\n"
	       "  certificate:   %s (self-signed for %s)\n"
	       "\n"
	       "Administrator credentials (shown only this once; only a hash is stored in\n"
	       "%s):\n"
	       "  user:     admin\n"
	       "  password: %s\n"
	       "\n"
	       "Start the server with:\n"
	       "  staunch --config %s serve\n",
	       dir, conf, cert, hostname, secret, password, conf);
	fflush(stdout);
	rc = 0;
out:
	core_wipe(password, sizeof(password));
	core_buf_fini(&b);
	free(hash);
	free(conf);
	free(secret);
	free(tls);
	free(cert);
	free(key);
	return rc;
}
