/*
 * test_rocksdb.c: the mail-store cases on the RocksDB data backend with blob content in
 * files (the default deployment).
 */
#include <stdio.h>

#include "helper_mailstore.h"

static char path[512];

static bool rocksdb_params(struct store_params *p, const char *dir)
{
	snprintf(path, sizeof(path), "%s/rocksdb", dir);
	p->path = path;
	return true;
}

static const struct ms_test_env env = {
	.name = "mailstore-rocksdb",
	.data_backend = "rocksdb",
	.params = rocksdb_params,
	.blob_backend = "fs",
};

int main(void)
{
	return ms_test_run(&env);
}
