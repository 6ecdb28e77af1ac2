/*
 * test_rocksdb.c: the store conformance suite against the RocksDB backend (data store,
 * lookup store over it, blob content in it).
 */
#include <stdio.h>

#include "helper_store.h"

static char rocksdb_path[512];

static bool rocksdb_params(struct store_params *p, const char *dir)
{
	snprintf(rocksdb_path, sizeof(rocksdb_path), "%s/rocksdb", dir);
	p->path = rocksdb_path;
	return true;
}

static const struct store_test_env rocksdb_env = {
	.name = "rocksdb",
	.data_backend = "rocksdb",
	.params = rocksdb_params,
	.blob_backend = "rocksdb",
};

int main(void)
{
	return store_test_run(&rocksdb_env, store_suite_data(), store_suite_lookup(),
			      store_suite_blob(), store_suite_fts(), NULL);
}
