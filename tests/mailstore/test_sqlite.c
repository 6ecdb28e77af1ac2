/*
 * test_sqlite.c: the mail-store cases on the SQLite data backend, blob content in the same
 * database.
 */
#include <stdio.h>

#include "helper_mailstore.h"

static char path[512];

static bool sqlite_params(struct store_params *p, const char *dir)
{
	snprintf(path, sizeof(path), "%s/data.sqlite", dir);
	p->path = path;
	return true;
}

static const struct ms_test_env env = {
	.name = "mailstore-sqlite",
	.data_backend = "sqlite",
	.params = sqlite_params,
	.blob_backend = "sqlite",
};

int main(void)
{
	return ms_test_run(&env);
}
