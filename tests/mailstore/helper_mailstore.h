/*
 * helper_mailstore.h: the mail-store case file shared by every backend (issue 6: tests run
 * on RocksDB, SQLite and PostgreSQL). Each tests/mailstore/test_<backend>.c fills a struct
 * ms_test_env and runs ms_test_suite().
 */
#ifndef STAUNCH_TESTS_MAILSTORE_HELPER_MAILSTORE_H
#define STAUNCH_TESTS_MAILSTORE_HELPER_MAILSTORE_H

#include <check.h>
#include <stdbool.h>

#include "mailstore/mailstore.h"

struct ms_test_env {
	const char *name;
	const char *data_backend;
	/* Fill p for a fresh, empty store under dir; false skips the suite. */
	bool (*params)(struct store_params *p, const char *dir);
	const char *blob_backend; /* "fs" or the data backend (content in the data store) */
};

extern const struct ms_test_env *ms_test_env;

Suite *ms_test_suite(void);
/* The sharing cases (helper_share.c), added to the suite. */
TCase *ms_share_tcase(void);
/* Run the suite with srunner; returns the process exit status. */
int ms_test_run(const struct ms_test_env *env);

#endif
