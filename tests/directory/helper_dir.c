/*
 * helper_dir.c: fixtures shared by the directory tests (see helper_dir.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_dir.h"

void test_dir_rmtree(const char *path)
{
	if (path == NULL || path[0] == '\0' || strncmp(path, "/tmp/", 5) != 0)
		return;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

void test_dir_sh(const char *cmd)
{
	int rc = system(cmd);
	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

void test_dir_env_open(struct test_dir_env *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/staunch-dirtest.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	char path[300];
	snprintf(path, sizeof(path), "%s/data.db", e->dir);
	struct store_params p = {.path = path, .no_sync = true};
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_data_open("sqlite", &p, &e->data, &err) == 0, "%s", err.msg);
	ck_assert_msg(dir_open("internal", NULL, e->data, &e->d, &err) == 0, "%s", err.msg);
	struct dir_settings s = DIR_SETTINGS_DEFAULT;
	s.policy = TEST_DIR_POLICY;
	dir_settings_set(e->d, &s);
	e->a = core_arena_new(0);
}

void test_dir_env_close(struct test_dir_env *e)
{
	dir_free(&e->d);
	store_data_free(&e->data);
	core_arena_free(&e->a);
	test_dir_rmtree(e->dir);
}

const char *test_dir_create(struct test_dir_env *e, const struct dir_principal *p)
{
	struct core_error err;
	core_error_clear(&err);
	const char *id = NULL;
	int r = dir_principal_create(e->d, p, e->a, &id, &err);
	ck_assert_msg(r == 0, "create %s: %s (%s)", p->name, core_err_name(r), err.msg);
	return id;
}
