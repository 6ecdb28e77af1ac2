/*
 * test_sqlite.c: the store conformance suite against the SQLite backend (data store,
 * lookup store over it, blob content in it).
 */
#include <stdio.h>

#include "helper_store.h"

static char sqlite_path[512];

static bool sqlite_params(struct store_params *p, const char *dir)
{
	snprintf(sqlite_path, sizeof(sqlite_path), "%s/staunch.sqlite", dir);
	p->path = sqlite_path;
	return true;
}

static const struct store_test_env sqlite_env = {
	.name = "sqlite",
	.data_backend = "sqlite",
	.params = sqlite_params,
	.blob_backend = "sqlite",
};

int main(void)
{
	return store_test_run(&sqlite_env, store_suite_data(), store_suite_lookup(),
			      store_suite_blob(), store_suite_fts(), NULL);
}
