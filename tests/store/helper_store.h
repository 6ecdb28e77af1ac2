/*
 * helper_store.h: the backend conformance suite of src/store (ARCHITECTURE.md §4: every
 * backend passes one shared suite). Each tests/store/test_<backend>.c fills a struct
 * store_test_env and runs the suites that apply to its backend.
 */
#ifndef STAUNCH_TESTS_STORE_HELPER_STORE_H
#define STAUNCH_TESTS_STORE_HELPER_STORE_H

#include <check.h>
#include <stdbool.h>

#include "store/store.h"

struct store_test_env {
	const char *name;         /* suite name */
	const char *data_backend; /* data backend, or NULL */
	/* Fill p for a fresh, empty store whose files may live under dir (a new temp dir).
	 * Returns false to skip (with a message printed). */
	bool (*params)(struct store_params *p, const char *dir);
	const char *lookup_backend; /* lookup backend ("memory"), or NULL: over the data store */
	const char *blob_backend;   /* blob content backend ("fs" or a data backend name) */
};

/* The environment of the running test binary (set by its main before running). */
extern const struct store_test_env *store_test_env;

/* Suites: data store operations, lookup store, blob store, full-text store. */
Suite *store_suite_data(void);
Suite *store_suite_lookup(void);
Suite *store_suite_blob(void);
Suite *store_suite_fts(void);

/* Run the given suites (NULL-terminated) with srunner; returns the process exit status. */
int store_test_run(const struct store_test_env *env, Suite *first, ...);

/* A fresh temp dir per test (removed at teardown) and the store opened in it. */
extern char store_test_dir[];
extern struct store_data *store_test_data;
void store_test_setup(void);
void store_test_teardown(void);
/* Reopen the data store (persistence checks). */
void store_test_reopen(void);

/*
 * A connection string for a database of this test binary alone (created on first use in
 * the server STAUNCH_TEST_PG names), so test binaries may run in parallel. NULL when
 * STAUNCH_TEST_PG is unset. The string is static.
 */
const char *store_test_pg_conninfo(const char *dbname);
/* Drop the staunch_kv table in that database (an empty store). */
void store_test_pg_reset(const char *conninfo);

#endif
