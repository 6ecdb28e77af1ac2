/*
 * test_fs.c: the blob store cases of the conformance suite against the filesystem content
 * backend, with links kept in a RocksDB meta store (the default deployment).
 */
#include <stdio.h>

#include "helper_store.h"

static char fs_meta_path[512];

static bool fs_params(struct store_params *p, const char *dir)
{
	snprintf(fs_meta_path, sizeof(fs_meta_path), "%s/meta", dir);
	p->path = fs_meta_path;
	return true;
}

static const struct store_test_env fs_env = {
	.name = "fs",
	.data_backend = "rocksdb",
	.params = fs_params,
	.blob_backend = "fs",
};

int main(void)
{
	return store_test_run(&fs_env, store_suite_blob(), NULL);
}
