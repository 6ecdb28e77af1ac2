/*
 * test_dir_sql.c: the SQL directory (dir_sql.c) on SQLite and on PostgreSQL with the same
 * schema and the same configurable queries: lookups, stable ids from the primary key,
 * authentication with stored hashes and app passwords, list expansion, domain aliases and
 * catch-all, nested groups, and bad configurations.
 *
 * PostgreSQL: STAUNCH_TEST_PG holds a libpq connection string (ci/pg.sh start prints one;
 * ci/test.sh sets it). Without it the test starts its own throw-away server with ci/pg.sh
 * (Debian's postgresql package, installed by ci/setup.sh) and stops it at the end, so the
 * PostgreSQL case always runs.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_dir.h"

static const char *const schema[] = {
	"DROP TABLE IF EXISTS dt_users",
	"DROP TABLE IF EXISTS dt_aliases",
	"DROP TABLE IF EXISTS dt_members",
	"DROP TABLE IF EXISTS dt_domains",
	"DROP TABLE IF EXISTS dt_apppw",
	"CREATE TABLE dt_users (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, login TEXT UNIQUE, "
	"display TEXT, mail TEXT, pw TEXT, quota BIGINT, disabled INTEGER DEFAULT 0, "
	"is_admin INTEGER DEFAULT 0)",
	"CREATE TABLE dt_aliases (user_id INTEGER, address TEXT)",
	"CREATE TABLE dt_members (group_id INTEGER, member TEXT)",
	"CREATE TABLE dt_domains (name TEXT PRIMARY KEY, canonical TEXT, catch_all TEXT)",
	"CREATE TABLE dt_apppw (user_id INTEGER, label TEXT, hash TEXT)",
	"INSERT INTO dt_domains VALUES ('example.org', 'example.org', NULL), "
	"('example.net', 'example.org', NULL), ('catch.test', 'catch.test', 'bob@example.org')",
	"INSERT INTO dt_users (id, kind, login, display, mail, pw, quota, disabled, is_admin) "
	"VALUES (11, 'individual', 'alice', 'Alice', 'Alice@example.org', '@ALICEPW@', 1048576, 0, "
	"1),"
	" (12, 'individual', 'bob', 'Bob', 'bob@example.org', '{SSHA}@BOBSSHA@', NULL, 0, 0),"
	" (13, 'individual', 'carol', 'Carol', 'carol@example.org', '{PLAIN}carolpw', NULL, 1, 0),"
	" (20, 'list', 'team', 'Team', 'team@example.org', NULL, NULL, 0, 0),"
	" (21, 'group', 'devs', 'Developers', NULL, NULL, NULL, 0, 0),"
	" (22, 'group', 'eng', 'Engineering', 'eng@example.org', NULL, NULL, 0, 0)",
	"INSERT INTO dt_aliases VALUES (11, 'al@example.org'), (12, 'robert@example.org')",
	"INSERT INTO dt_members VALUES (20, 'alice@example.org'), (20, 'bob'), "
	"(20, 'carol@example.org'), (20, 'friend@outside.example'), (20, 'team@example.org'), "
	"(21, 'alice'), (21, 'eng'), (22, 'devs'), (22, 'bob')",
	"INSERT INTO dt_apppw VALUES (12, 'phone', '{PLAIN}bob-app-pw')",
};

#define COLS                                                                                \
	"SELECT id, kind AS type, login AS name, display AS description, mail AS address, " \
	"pw AS secret, quota AS quota_bytes, disabled, "                                    \
	"CASE WHEN is_admin = 1 THEN 'admin' ELSE 'user' END AS role FROM dt_users "

static const struct {
	const char *key, *value;
} queries[] = {
	{"directory.sql.query.name", COLS "WHERE login = $1"},
	{"directory.sql.query.id", COLS "WHERE id = CAST($1 AS INTEGER)"},
	{"directory.sql.query.address", COLS
	 "WHERE lower(mail) = $1 OR id IN (SELECT user_id FROM dt_aliases WHERE address = $1)"},
	{"directory.sql.query.aliases", "SELECT address FROM dt_aliases WHERE user_id = "
					"CAST($1 AS INTEGER)"},
	{"directory.sql.query.members", "SELECT member FROM dt_members WHERE group_id = "
					"CAST($1 AS INTEGER)"},
	{"directory.sql.query.member-of",
	 "SELECT g.login FROM dt_members m JOIN dt_users g ON g.id = m.group_id WHERE m.member = $2"
	 " OR m.member IN (SELECT lower(mail) FROM dt_users WHERE id = CAST($1 AS INTEGER))"},
	{"directory.sql.query.domain",
	 "SELECT canonical AS name, catch_all FROM dt_domains WHERE name = $1"},
	{"directory.sql.query.app-passwords",
	 "SELECT label, hash FROM dt_apppw WHERE user_id = CAST($1 AS INTEGER)"},
};

static struct test_dir_env env; /* its data store maps external ids to account ids */
static struct dir *sd;
static struct core_conf *conf;
static struct core_error err;
static char alice_hash[256];

/* The schema with the password placeholders filled in. */
static char *schema_stmt(size_t i)
{
	const char *s = schema[i];
	struct core_buf b = CORE_BUF_INIT;
	const char *p;
	while ((p = strstr(s, "@ALICEPW@")) != NULL || (p = strstr(s, "@BOBSSHA@")) != NULL) {
		core_buf_append(&b, s, (size_t)(p - s));
		if (strncmp(p, "@ALICEPW@", 9) == 0) {
			core_buf_append_str(&b, alice_hash);
		} else {
			/* {SSHA}: base64(SHA-1(password + salt) + salt), computed here with
			 * OpenSSL's command line, independent of dir_password. */
			FILE *f = popen(
				"printf 'bobpw' > /tmp/.sshapw.$$; printf 'saltsalt' >>"
				" /tmp/.sshapw.$$; (openssl dgst -sha1 -binary /tmp/.sshapw.$$;"
				" printf 'saltsalt') | openssl base64 -A; rm -f /tmp/.sshapw.$$",
				"r");
			char line[128] = {0};
			ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
			pclose(f);
			line[strcspn(line, "\n")] = 0;
			core_buf_append_str(&b, line);
		}
		s = p + 9;
	}
	core_buf_append_str(&b, s);
	return core_buf_detach(&b, NULL);
}

static void make_hashes(void)
{
	struct core_buf h = CORE_BUF_INIT;
	struct dir_pw_policy pol = TEST_DIR_POLICY;
	ck_assert_int_eq(dir_password_hash(&pol, "alicepw", 7, &h, &err), 0);
	snprintf(alice_hash, sizeof(alice_hash), "%s", core_buf_cstr(&h));
	core_buf_fini(&h);
}

static void conf_common(void)
{
	dir_conf_register();
	conf = core_conf_new_empty();
	for (size_t i = 0; i < CORE_NELEM(queries); i++)
		ck_assert_int_eq(core_conf_set(conf, queries[i].key, queries[i].value), 0);
}

static void open_dir(void)
{
	test_dir_env_open(&env);
	ck_assert_int_eq(core_conf_set(conf, "directory.type", "sql"), 0);
	int r = dir_open_conf(conf, env.data, &sd, &err);
	ck_assert_msg(r == 0, "open: %s", err.msg);
	ck_assert_str_eq(dir_type_name(sd), "sql");
	struct dir_settings s = *dir_settings_get(sd);
	s.policy = TEST_DIR_POLICY;
	dir_settings_set(sd, &s);
}

static void close_dir(void)
{
	dir_free(&sd);
	core_conf_free(&conf);
	test_dir_env_close(&env);
}

/* ------------------------------------------------------------------------------------ */

static char sqlite_path[300];

static void sqlite_setup(void)
{
	core_error_clear(&err);
	make_hashes();
	snprintf(sqlite_path, sizeof(sqlite_path), "/tmp/staunch-dirsql-%d.db", (int)getpid());
	unlink(sqlite_path);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(sqlite_path, &db), SQLITE_OK);
	for (size_t i = 0; i < CORE_NELEM(schema); i++) {
		char *s = schema_stmt(i), *msg = NULL;
		ck_assert_msg(sqlite3_exec(db, s, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", s, msg);
		free(s);
	}
	sqlite3_close(db);
	conf_common();
	core_conf_set(conf, "directory.sql.driver", "sqlite");
	core_conf_set(conf, "directory.sql.path", sqlite_path);
	open_dir();
}

static void sqlite_teardown(void)
{
	close_dir();
	unlink(sqlite_path);
}

static char pg_own_dir[128];
static char *pg_own_conninfo;

static const char *pg_conninfo(void)
{
	const char *env_ci = getenv("STAUNCH_TEST_PG");
	return env_ci != NULL && env_ci[0] != '\0' ? env_ci : pg_own_conninfo;
}

/* Start a server of our own when none is given (unchecked fixture: once per run). */
static void pg_server_start(void)
{
	if (getenv("STAUNCH_TEST_PG") != NULL && getenv("STAUNCH_TEST_PG")[0] != '\0')
		return;
	snprintf(pg_own_dir, sizeof(pg_own_dir), "/tmp/staunch-dirpg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(pg_own_dir));
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/ci/pg.sh start '%s' 2>'%s.log' | tail -n 1",
		 STAUNCH_SOURCE_DIR, pg_own_dir, pg_own_dir);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	char line[512] = {0};
	char *got = fgets(line, sizeof(line), f);
	int rc = pclose(f);
	ck_assert_msg(got != NULL && rc == 0 && strstr(line, "port=") != NULL,
		      "ci/pg.sh start failed (see %s.log)", pg_own_dir);
	line[strcspn(line, "\n")] = 0;
	pg_own_conninfo = core_xstrdup(line);
}

static void pg_server_stop(void)
{
	if (pg_own_conninfo == NULL)
		return;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/ci/pg.sh stop '%s' >/dev/null 2>&1", STAUNCH_SOURCE_DIR,
		 pg_own_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "ci/pg.sh stop failed\n");
	test_dir_rmtree(pg_own_dir);
	char log[160];
	snprintf(log, sizeof(log), "%s.log", pg_own_dir);
	unlink(log);
	free(pg_own_conninfo);
	pg_own_conninfo = NULL;
}

static void pg_exec(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", q, PQerrorMessage(c));
	PQclear(r);
}

static void pg_setup(void)
{
	core_error_clear(&err);
	sd = NULL;
	ck_assert_ptr_nonnull(pg_conninfo());
	make_hashes();
	PGconn *c = PQconnectdb(pg_conninfo());
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	pg_exec(c, "SET client_min_messages = warning");
	for (size_t i = 0; i < CORE_NELEM(schema); i++) {
		char *s = schema_stmt(i);
		pg_exec(c, s);
		free(s);
	}
	PQfinish(c);
	conf_common();
	core_conf_set(conf, "directory.sql.driver", "postgresql");
	core_conf_set(conf, "directory.sql.conninfo", pg_conninfo());
	open_dir();
}

static void pg_teardown(void)
{
	if (sd != NULL)
		close_dir();
}

/* The PostgreSQL cases always have a server (STAUNCH_TEST_PG or our own). */
static bool have_db(void)
{
	ck_assert_ptr_nonnull(sd);
	return true;
}

/* ------------------------------------------------------------------------------------ */

static void check_lookups(void)
{
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("Alice"), env.a, &p, &err), 0);
	ck_assert_str_eq(p->id, "11");
	ck_assert_str_eq(p->address, "alice@example.org");
	ck_assert_str_eq(p->description, "Alice");
	ck_assert_uint_eq(p->quota_bytes, 1048576);
	ck_assert_int_eq(p->role, DIR_ROLE_ADMIN);
	ck_assert_uint_eq(p->n_aliases, 1);
	ck_assert_str_eq(p->aliases[0], "al@example.org");
	ck_assert_int_eq(dir_principal_by_address(sd, CORE_STR("AL@example.net"), env.a, &p, &err),
			 0);
	ck_assert_str_eq(p->name, "alice");
	ck_assert_int_eq(dir_principal_by_id(sd, CORE_STR("12"), env.a, &p, &err), 0);
	ck_assert_str_eq(p->name, "bob");
	ck_assert_int_eq(p->role, DIR_ROLE_USER);
	ck_assert_int_eq(dir_principal_by_id(sd, CORE_STR("99"), env.a, &p, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("nobody"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	/* Hostile input is a parameter, never SQL. */
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("x' OR '1'='1"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_is_local_domain(sd, CORE_STR("example.net"), &err), 1);
	ck_assert_int_eq(dir_is_local_domain(sd, CORE_STR("example.com"), &err), 0);
	/* Read-only. */
	const char *id;
	struct dir_principal np = {.type = DIR_INDIVIDUAL, .name = "x"};
	ck_assert_int_eq(dir_principal_create(sd, &np, env.a, &id, &err), CORE_EPERM);
	ck_assert_int_eq(dir_password_change(sd, CORE_STR("11"), CORE_STR("x"), &err), CORE_EPERM);
}

static void check_auth(void)
{
	struct dir_principal *p;
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("alice"), CORE_STR("alicepw"), env.a, &p, &err),
		1);
	ck_assert_str_eq(p->id, "11");
	ck_assert_int_eq(dir_authenticate(sd, NULL, CORE_STR("robert@example.org"),
					  CORE_STR("bobpw"), env.a, &p, &err),
			 1);
	ck_assert_int_eq(dir_authenticate(sd, NULL, CORE_STR("bob"), CORE_STR("bob-app-pw"), env.a,
					  &p, &err),
			 1);
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("bob"), CORE_STR("alicepw"), env.a, &p, &err),
		0);
	/* An unknown user is checked against the last stored hash a lookup returned (bob's,
	 * here, for equal cost): the right password for that hash still logs nobody in. */
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("nobody"), CORE_STR("bobpw"), env.a, &p, &err),
		0);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("alice"), CORE_STR("x"), env.a, &p, &err), 0);
	ck_assert_int_eq(dir_authenticate(sd, NULL, CORE_STR("nobody@example.org"),
					  CORE_STR("alicepw"), env.a, &p, &err),
			 0);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("carol"), CORE_STR("carolpw"), env.a, &p, &err),
		CORE_EPERM);
	ck_assert_int_eq(
		dir_authenticate(sd, NULL, CORE_STR("team"), CORE_STR(""), env.a, &p, &err), 0);
}

static void check_resolve(void)
{
	struct dir_rcpt r;
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("robert+x@example.net"), env.a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_LOCAL);
	ck_assert_str_eq(r.targets[0].principal->id, "12");
	ck_assert_str_eq(r.targets[0].subaddress, "x");
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("team@example.org"), env.a, &r, &err), 0);
	ck_assert_uint_eq(r.n_targets, 3); /* alice, bob, friend; carol disabled; no loop */
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("whoever@catch.test"), env.a, &r, &err), 0);
	ck_assert_str_eq(r.matched, "catch-all");
	ck_assert_str_eq(r.targets[0].principal->id, "12");
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("whoever@example.org"), env.a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_UNKNOWN);
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("x@example.com"), env.a, &r, &err), 0);
	ck_assert_int_eq(r.status, DIR_RCPT_REMOTE);
	/* eng (by address) = devs + bob; devs = alice + eng: a cycle. */
	ck_assert_int_eq(dir_resolve(sd, CORE_STR("eng@example.org"), env.a, &r, &err), 0);
	ck_assert_uint_eq(r.n_targets, 2);
	struct dir_principal *a;
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("alice"), env.a, &a, &err), 0);
	const char **names;
	size_t n;
	ck_assert_int_eq(dir_member_of(sd, a, env.a, &names, &n, &err), 0);
	/* team (by address), devs (by name), eng (through devs). */
	ck_assert_uint_eq(n, 3);
}

static void check_stable_id(void (*rename)(void))
{
	struct dir_principal *p, *q;
	uint64_t a1, a2, b1;
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("alice"), env.a, &p, &err), 0);
	ck_assert_int_eq(dir_account_id(sd, p, &a1, &err), 0);
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("bob"), env.a, &q, &err), 0);
	ck_assert_int_eq(dir_account_id(sd, q, &b1, &err), 0);
	ck_assert_uint_ne(a1, b1);
	rename();
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("alice"), env.a, &p, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(dir_principal_by_name(sd, CORE_STR("alicia"), env.a, &p, &err), 0);
	ck_assert_str_eq(p->id, "11");
	ck_assert_int_eq(dir_account_id(sd, p, &a2, &err), 0);
	ck_assert_uint_eq(a1, a2);
}

struct worker {
	int failures;
};

static void *lookup_worker(void *arg)
{
	struct worker *w = arg;
	struct core_arena *a = core_arena_new(0);
	struct core_error e;
	for (int i = 0; i < 20; i++) {
		struct dir_principal *p;
		core_error_clear(&e);
		const char *name = (i % 2) ? "alice" : "bob";
		if (dir_principal_by_name(sd, core_str_from_cstr(name), a, &p, &e) != 0 ||
		    strcmp(p->name, name) != 0)
			w->failures++;
		core_arena_reset(a);
	}
	core_arena_free(&a);
	return NULL;
}

/* More threads than pooled connections (pool-size 4 by default): each waits its turn. */
static void check_threads(void)
{
	pthread_t th[6];
	struct worker w[6] = {{0}};
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, lookup_worker, &w[i]);
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
}

static void sqlite_rename(void)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(sqlite_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE dt_users SET login = 'alicia' WHERE id = 11",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
}

static void pg_rename(void)
{
	PGconn *c = PQconnectdb(pg_conninfo());
	pg_exec(c, "UPDATE dt_users SET login = 'alicia' WHERE id = 11");
	PQfinish(c);
}

START_TEST(test_sqlite_lookups)
{
	check_lookups();
}
END_TEST

START_TEST(test_sqlite_auth)
{
	check_auth();
}
END_TEST

START_TEST(test_sqlite_resolve)
{
	check_resolve();
}
END_TEST

START_TEST(test_sqlite_stable_id)
{
	check_stable_id(sqlite_rename);
}
END_TEST

START_TEST(test_sqlite_threads)
{
	check_threads();
}
END_TEST

START_TEST(test_pg_threads)
{
	if (have_db())
		check_threads();
}
END_TEST

START_TEST(test_pg_lookups)
{
	if (have_db())
		check_lookups();
}
END_TEST

START_TEST(test_pg_auth)
{
	if (have_db())
		check_auth();
}
END_TEST

START_TEST(test_pg_resolve)
{
	if (have_db())
		check_resolve();
}
END_TEST

START_TEST(test_pg_stable_id)
{
	if (have_db())
		check_stable_id(pg_rename);
}
END_TEST

START_TEST(test_bad_config)
{
	dir_conf_register();
	struct core_conf *c = core_conf_new_empty();
	struct dir *d = NULL;
	core_conf_set(c, "directory.type", "sql");
	/* No path. */
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), CORE_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(err.msg, "directory.sql.path"));
	core_conf_set(c, "directory.sql.path", "/nonexistent/dir/x.db");
	core_conf_set(c, "directory.sql.query.name", "SELECT 1");
	core_conf_set(c, "directory.sql.query.id", "SELECT 1");
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), CORE_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(err.msg, "directory.sql.query.address"));
	core_conf_set(c, "directory.sql.query.address", "SELECT 1");
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), CORE_ETEMP);
	ck_assert_ptr_null(d);
	/* A query without the id column is an error, not a crash. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/staunch-dirsql-bad-%d.db", (int)getpid());
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_close(db);
	core_conf_set(c, "directory.sql.path", path);
	core_conf_set(c, "directory.sql.query.name", "SELECT $1 AS name");
	core_conf_set(c, "directory.sql.query.address", "SELECT * FROM missing_table");
	core_conf_set(c, "directory.domains", "[\"example.org\"]");
	ck_assert_int_eq(dir_open_conf(c, NULL, &d, &err), 0);
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("x"), a, &p, &err), CORE_EIO);
	ck_assert_int_eq(dir_principal_by_address(d, CORE_STR("x@example.org"), a, &p, &err),
			 CORE_EIO);
	ck_assert_int_eq(dir_is_local_domain(d, CORE_STR("Example.ORG"), &err), 1);
	ck_assert_int_eq(dir_is_local_domain(d, CORE_STR("example.com"), &err), 0);
	core_arena_free(&a);
	dir_free(&d);
	unlink(path);
	core_conf_free(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dir_sql");
	TCase *tl = tcase_create("sqlite");
	tcase_add_checked_fixture(tl, sqlite_setup, sqlite_teardown);
	tcase_set_timeout(tl, 60);
	tcase_add_test(tl, test_sqlite_lookups);
	tcase_add_test(tl, test_sqlite_auth);
	tcase_add_test(tl, test_sqlite_resolve);
	tcase_add_test(tl, test_sqlite_stable_id);
	tcase_add_test(tl, test_sqlite_threads);
	suite_add_tcase(s, tl);
	TCase *tp = tcase_create("postgresql");
	tcase_add_unchecked_fixture(tp, pg_server_start, pg_server_stop);
	tcase_add_checked_fixture(tp, pg_setup, pg_teardown);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_pg_lookups);
	tcase_add_test(tp, test_pg_auth);
	tcase_add_test(tp, test_pg_resolve);
	tcase_add_test(tp, test_pg_stable_id);
	tcase_add_test(tp, test_pg_threads);
	suite_add_tcase(s, tp);
	TCase *tb = tcase_create("config");
	tcase_add_test(tb, test_bad_config);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
