/*
 * helper_dir.h: fixtures of the directory tests (helper_dir.c): a throw-away data store,
 * a cheap password policy, and an internal directory filled with a small organisation.
 */
#ifndef STAUNCH_TESTS_DIRECTORY_HELPER_DIR_H
#define STAUNCH_TESTS_DIRECTORY_HELPER_DIR_H

#include <check.h>
#include <stdbool.h>

#include "core/core.h"
#include "directory/directory.h"
#include "store/store.h"

/* argon2id t=1, m=64 KiB, p=1 and 4096 SCRAM iterations: fast enough for unit tests. */
#define TEST_DIR_POLICY ((struct dir_pw_policy){1, 64, 1, 4096})

struct test_dir_env {
	char dir[256];
	struct store_data *data;
	struct dir *d;
	struct core_arena *a;
};

/* Temporary SQLite data store and an empty internal directory. */
void test_dir_env_open(struct test_dir_env *e);
void test_dir_env_close(struct test_dir_env *e);
/* Remove a directory tree (best effort). */
void test_dir_rmtree(const char *path);
/* Create a principal; returns its id (arena-owned) and fails the test on error. */
const char *test_dir_create(struct test_dir_env *e, const struct dir_principal *p);
/* Run a shell command, failing the test when it exits non-zero. */
void test_dir_sh(const char *cmd);

#endif
