/*
 * test_pgsql.c: the store conformance suite against the PostgreSQL backend, plus its
 * failure path (issue 3: the server stopped mid-test gives a clear temporary error, no
 * partial write, and recovery when it returns).
 *
 * STAUNCH_TEST_PG holds a libpq connection string (ci/pg.sh start prints one). The test is
 * skipped, saying so, only when it is unset. STAUNCH_TEST_PG_DIR (the DIR given to
 * ci/pg.sh) enables the stop/restart case.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "helper_store.h"

static const char *pg_conninfo;

static bool pg_params(struct store_params *p, const char *dir)
{
	(void)dir;
	/* Every test starts from an empty table. */
	store_test_pg_reset(pg_conninfo);
	p->conninfo = pg_conninfo;
	p->pool_size = 16;
	return true;
}

static const struct store_test_env pg_env = {
	.name = "postgresql",
	.data_backend = "postgresql",
	.params = pg_params,
	.blob_backend = "postgresql",
};

static void pg_ctl(const char *what)
{
	const char *dir = getenv("STAUNCH_TEST_PG_DIR");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/ci/pg.sh %s '%s' >/dev/null 2>&1", STAUNCH_SOURCE_DIR, what,
		 dir);
	ck_assert_msg(system(cmd) == 0, "ci/pg.sh %s failed", what);
}

START_TEST(pg_server_stops_mid_transaction)
{
	if (getenv("STAUNCH_TEST_PG_DIR") == NULL) {
		printf("SKIP: STAUNCH_TEST_PG_DIR unset, server stop/restart case not run\n");
		return;
	}
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err), 0);
	ck_assert_int_eq(store_txn_put(t, "before", 6, "1", 1, &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);

	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err), 0);
	ck_assert_int_eq(store_txn_put(t, "half1", 5, "x", 1, &err), 0);
	struct core_buf v = CORE_BUF_INIT;
	ck_assert_int_eq(store_txn_get(t, "before", 6, &v, &err), 0); /* flushes half1 */
	ck_assert_int_eq(store_txn_put(t, "half2", 5, "y", 1, &err), 0);
	pg_ctl("stop");
	core_error_clear(&err);
	int rc = store_txn_commit(&t, &err);
	ck_assert_int_eq(rc, CORE_ETEMP);
	ck_assert_msg(strstr(err.msg, "postgresql") != NULL, "message: %s", err.msg);
	/* While it is down, new transactions fail the same clear way. */
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, &err), CORE_ETEMP);
	pg_ctl("start");
	/* Recovery: the pool drops dead connections and reconnects; nothing partial is there. */
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, &err), 0);
	ck_assert_int_eq(store_txn_get(t, "before", 6, &v, &err), 0);
	ck_assert_int_eq(store_txn_get(t, "half1", 5, &v, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(store_txn_get(t, "half2", 5, &v, &err), CORE_ENOTFOUND);
	store_txn_abort(&t);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err), 0);
	ck_assert_int_eq(store_txn_put(t, "after", 5, "z", 1, &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	core_buf_fini(&v);
}
END_TEST

static Suite *pg_suite_failure(void)
{
	Suite *s = suite_create("pg-failure");
	TCase *tc = tcase_create("failure");
	tcase_add_checked_fixture(tc, store_test_setup, store_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pg_server_stops_mid_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (getenv("STAUNCH_TEST_PG") == NULL || getenv("STAUNCH_TEST_PG")[0] == '\0') {
		printf("SKIP: STAUNCH_TEST_PG unset (start a server with ci/pg.sh start DIR)\n");
		return 0;
	}
	pg_conninfo = store_test_pg_conninfo("staunch_test_pgsql");
	return store_test_run(&pg_env, store_suite_data(), store_suite_lookup(), store_suite_blob(),
			      store_suite_fts(), pg_suite_failure(), NULL);
}
