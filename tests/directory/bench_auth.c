/*
 * bench_auth.c: does an unknown user cost what a known user with a wrong password costs?
 * (docs/authentication.md, timing; run by ci/bench/auth). For the internal directory (its
 * argon2id hashes) and for the SQL directory (SQLite) with one account per stored-hash
 * scheme, dir_authenticate() is timed for an existing user with a wrong password and for an
 * unknown user, interleaved so that machine load affects both alike. Prints mean, standard
 * deviation, min and max in milliseconds per case and the relative difference of the means.
 * It asserts nothing: the figures are for reading.
 *   auth_bench [ITERATIONS] [WORKDIR]
 */
#include <crypt.h>
#include <ftw.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "directory/dir_password.h"
#include "directory/directory.h"
#include "store/store.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const struct core_error *err)
{
	fprintf(stderr, "auth_bench: %s: %s\n", what, err != NULL ? err->msg : "");
	exit(1);
}

struct stats {
	double sum, sum2, min, max;
	unsigned n;
};

static void stats_add(struct stats *s, double v)
{
	if (s->n == 0 || v < s->min)
		s->min = v;
	if (s->n == 0 || v > s->max)
		s->max = v;
	s->sum += v;
	s->sum2 += v * v;
	s->n++;
}

static double stats_mean(const struct stats *s)
{
	return s->n > 0 ? s->sum / s->n : 0;
}

static double stats_sd(const struct stats *s)
{
	if (s->n < 2)
		return 0;
	double m = stats_mean(s);
	double v = (s->sum2 - s->n * m * m) / (s->n - 1);
	return v > 0 ? sqrt(v) : 0;
}

static double time_one(struct dir *d, const char *name, const char *pw)
{
	struct core_arena *a = core_arena_new(4096);
	struct core_error err;
	core_error_clear(&err);
	struct dir_principal *p = NULL;
	double t0 = now_ms();
	int r = dir_authenticate(d, NULL, core_str_from_cstr(name), core_str_from_cstr(pw), a, &p,
				 &err);
	double t = now_ms() - t0;
	core_arena_free(&a);
	if (r != 0)
		die(name, &err); /* both cases must be refusals */
	return t;
}

/* Time `wrong password for known` and `unknown user` alternately, then print a row. */
static void bench_pair(struct dir *d, const char *label, const char *known, unsigned iters)
{
	struct stats k = {0}, u = {0};
	char unknown[64];
	time_one(d, known, "warm-up");
	for (unsigned i = 0; i < iters; i++) {
		snprintf(unknown, sizeof(unknown), "nobody%u", i);
		if (i % 2 == 0) {
			stats_add(&k, time_one(d, known, "wrong password"));
			stats_add(&u, time_one(d, unknown, "wrong password"));
		} else {
			stats_add(&u, time_one(d, unknown, "wrong password"));
			stats_add(&k, time_one(d, known, "wrong password"));
		}
	}
	double km = stats_mean(&k), um = stats_mean(&u);
	printf("| %-28s | %8.2f ± %6.2f | %7.2f..%-7.2f | %8.2f ± %6.2f | %7.2f..%-7.2f | "
	       "%+6.1f%% |\n",
	       label, km, stats_sd(&k), k.min, k.max, um, stats_sd(&u), u.min, u.max,
	       km > 0 ? (um - km) / km * 100.0 : 0.0);
	fflush(stdout);
}

static void header(const char *title)
{
	printf("\n%s\n\n", title);
	printf("| %-28s | %17s | %17s | %17s | %17s | %7s |\n", "case", "wrong password ms",
	       "min..max", "unknown user ms", "min..max", "diff");
	printf("|------------------------------|-------------------|-------------------|-----------"
	       "--------|-------------------|---------|\n");
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* {SSHA}: base64(SHA-1(password || salt) || salt), as OpenLDAP's slappasswd makes it. */
static char *ssha_hash(const char *pw)
{
	unsigned char buf[20 + 8], b64[64];
	RAND_bytes(buf + 20, 8);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned n = 0;
	EVP_DigestInit_ex(m, EVP_sha1(), NULL);
	EVP_DigestUpdate(m, pw, strlen(pw));
	EVP_DigestUpdate(m, buf + 20, 8);
	EVP_DigestFinal_ex(m, buf, &n);
	EVP_MD_CTX_free(m);
	EVP_EncodeBlock(b64, buf, sizeof(buf));
	return core_xasprintf("{SSHA}%s", b64);
}

/* A crypt(3) hash with libxcrypt's default cost for prefix. */
static char *crypt_hash(const char *prefix, const char *pw)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)) == NULL) {
		fprintf(stderr, "auth_bench: crypt_gensalt %s failed\n", prefix);
		exit(1);
	}
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	char *h = crypt_rn(pw, setting, &cd, sizeof(cd));
	if (h == NULL || h[0] == '*') {
		fprintf(stderr, "auth_bench: crypt %s failed\n", prefix);
		exit(1);
	}
	return core_xstrdup(h);
}

static void sql_exec(sqlite3 *db, const char *q)
{
	char *msg = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "auth_bench: %s: %s\n", q, msg);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20;
	if (iters == 0)
		iters = 20;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/staunch-authbench-XXXXXX", argc > 2 ? argv[2] : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	struct core_error err;
	core_error_clear(&err);
	char path[600];
	snprintf(path, sizeof(path), "%s/data", dir);
	struct store_params sp = {.path = path, .no_sync = true};
	struct store_data *data = NULL;
	if (store_data_open("rocksdb", &sp, &data, &err) < 0)
		die("data store", &err);
	const struct dir_pw_policy pol = DIR_PW_POLICY_DEFAULT;
	printf("machine: %ld cores, load %s", sysconf(_SC_NPROCESSORS_ONLN), "");
	FILE *la = fopen("/proc/loadavg", "r");
	char lbuf[64] = "?";
	if (la != NULL) {
		if (fgets(lbuf, sizeof(lbuf), la) == NULL)
			snprintf(lbuf, sizeof(lbuf), "?");
		fclose(la);
	}
	printf("%.*s\n", (int)strcspn(lbuf, "\n"), lbuf);
	printf("argon2id policy: t=%u m=%u KiB p=%u; %u iterations per case\n", pol.argon2_t_cost,
	       pol.argon2_m_kib, pol.argon2_lanes, iters);

	/* Internal directory: passwords set through the directory (argon2id). */
	struct dir *d = NULL;
	if (dir_open("internal", NULL, data, &d, &err) < 0)
		die("internal directory", &err);
	struct core_arena *a = core_arena_new(4096);
	const char *id = NULL;
	struct dir_principal dom = {.type = DIR_DOMAIN, .name = "example.org"};
	if (dir_principal_create(d, &dom, a, &id, &err) < 0)
		die("domain", &err);
	struct dir_principal u = {
		.type = DIR_INDIVIDUAL, .name = "alice", .address = "alice@example.org"};
	if (dir_principal_create(d, &u, a, &id, &err) < 0)
		die("account", &err);
	if (dir_password_change(d, core_str_from_cstr(id), core_str_from_cstr("correct horse"),
				&err) < 0)
		die("password", &err);
	header("internal directory");
	bench_pair(d, "argon2id (default policy)", "alice", iters);
	dir_free(&d);
	core_arena_free(&a);

	/* SQL directory over SQLite: one account per stored scheme. */
	snprintf(path, sizeof(path), "%s/users.sqlite", dir);
	sqlite3 *db = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite", NULL);
	sql_exec(db, "CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT UNIQUE, mail TEXT, "
		     "pw TEXT)");
	struct core_buf h = CORE_BUF_INIT;
	if (dir_password_hash(&pol, "correct horse", 13, &h, &err) < 0)
		die("argon2id hash", &err);
	const struct {
		const char *login, *label;
		char *hash;
	} users[] = {
		{"u_argon2id", "argon2id (default policy)", core_buf_detach(&h, NULL)},
		{"u_yescrypt", "yescrypt ($y$)", crypt_hash("$y$", "correct horse")},
		{"u_bcrypt", "bcrypt ($2b$)", crypt_hash("$2b$", "correct horse")},
		{"u_sha512", "sha512-crypt ($6$)", crypt_hash("$6$", "correct horse")},
		{"u_ssha", "{SSHA}", ssha_hash("correct horse")},
	};
	for (size_t i = 0; i < CORE_NELEM(users); i++) {
		sqlite3_stmt *st = NULL;
		sqlite3_prepare_v2(db, "INSERT INTO users (login, mail, pw) VALUES (?, ?, ?)", -1,
				   &st, NULL);
		char mail[128];
		snprintf(mail, sizeof(mail), "%s@example.org", users[i].login);
		sqlite3_bind_text(st, 1, users[i].login, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, mail, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, users[i].hash, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("insert", NULL);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	dir_conf_register();
	struct core_conf *c = core_conf_new_empty();
	static const char cols[] =
		"SELECT id, 'individual' AS type, login AS name, mail AS address, "
		"pw AS secret FROM users ";
	char q_name[256], q_id[256], q_addr[256];
	snprintf(q_name, sizeof(q_name), "%sWHERE login = $1", cols);
	snprintf(q_id, sizeof(q_id), "%sWHERE id = CAST($1 AS INTEGER)", cols);
	snprintf(q_addr, sizeof(q_addr), "%sWHERE mail = $1", cols);
	if (core_conf_set(c, "directory.type", "sql") < 0 ||
	    core_conf_set(c, "directory.sql.driver", "sqlite") < 0 ||
	    core_conf_set(c, "directory.sql.path", path) < 0 ||
	    core_conf_set(c, "directory.sql.query.name", q_name) < 0 ||
	    core_conf_set(c, "directory.sql.query.id", q_id) < 0 ||
	    core_conf_set(c, "directory.sql.query.address", q_addr) < 0)
		die("configuration", NULL);
	if (dir_open_conf(c, data, &d, &err) < 0)
		die("sql directory", &err);
	header("SQL directory (SQLite), one account per stored scheme");
	for (size_t i = 0; i < CORE_NELEM(users); i++)
		bench_pair(d, users[i].label, users[i].login, iters);
	printf("\nAn unknown user costs a check against the directory's representative hash: "
	       "the policy's argon2id\n(internal directory), the last stored hash a lookup "
	       "returned (SQL directory).\n");
	dir_free(&d);
	core_conf_free(&c);
	for (size_t i = 0; i < CORE_NELEM(users); i++)
		free(users[i].hash);
	store_data_free(&data);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
