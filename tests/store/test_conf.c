/*
 * test_conf.c: the store.* configuration keys and store_set_open() (docs/storage.md): a
 * configuration picks each store's backend, defaults land under server.data-dir, and
 * inconsistent choices are refused with the key named.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/core_conf.h"
#include "store/store.h"

static char dir[256];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/staunch-conf-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	store_conf_register();
}

static void teardown(void)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct core_conf *conf_with(const char *const *kv)
{
	struct core_conf *c = core_conf_new_empty();
	char q[300];
	snprintf(q, sizeof(q), "\"%s\"", dir);
	ck_assert_int_eq(core_conf_set(c, "server.data-dir", q), 0);
	for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2)
		ck_assert_int_eq(core_conf_set(c, kv[i], kv[i + 1]), 0);
	return c;
}

START_TEST(conf_defaults_open_all_four)
{
	struct core_conf *c = conf_with(NULL);
	struct store_set s;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_set_open(c, &s, &err) == 0, "open: %s", err.msg);
	ck_assert_str_eq(store_data_backend(s.data), "rocksdb");
	ck_assert_ptr_nonnull(s.blob);
	ck_assert_ptr_nonnull(s.lookup);
	ck_assert_ptr_nonnull(s.fts);
	ck_assert_uint_eq(s.blob_grace_ms, 24u * 3600u * 1000u);
	ck_assert_uint_eq(s.blob_reserve_ms, 3600u * 1000u);
	/* Each store works and the files landed under server.data-dir. */
	ck_assert_int_eq(store_lookup_set(s.lookup, "k", 1, "v", 1, 0, NULL), 0);
	struct store_blob_writer *w = NULL;
	struct store_blob_id id;
	ck_assert_int_eq(store_blob_write_begin(s.blob, &w, NULL), 0);
	ck_assert_int_eq(store_blob_write(w, "body", 4, NULL), 0);
	ck_assert_int_eq(store_blob_write_finish(&w, 1, 0, &id, NULL), 0);
	store_set_close(&s);
	char p[512];
	snprintf(p, sizeof(p), "%s/data.rocksdb/CURRENT", dir);
	ck_assert_int_eq(access(p, R_OK), 0);
	snprintf(p, sizeof(p), "%s/blobs/tmp", dir);
	ck_assert_int_eq(access(p, R_OK), 0);
	core_conf_free(&c);
}
END_TEST

START_TEST(conf_sqlite_data_blobs_memory_lookup)
{
	const char *kv[] = {"store.data.backend",
			    "sqlite",
			    "store.data.path",
			    "mail.sqlite",
			    "store.blob.backend",
			    "data",
			    "store.blob.compression",
			    "zstd",
			    "store.lookup.backend",
			    "memory",
			    NULL};
	struct core_conf *c = conf_with(kv);
	struct store_set s;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_set_open(c, &s, &err) == 0, "open: %s", err.msg);
	ck_assert_str_eq(store_data_backend(s.data), "sqlite");
	struct store_blob_writer *w = NULL;
	struct store_blob_id id;
	ck_assert_int_eq(store_blob_write_begin(s.blob, &w, NULL), 0);
	ck_assert_int_eq(store_blob_write(w, "body", 4, NULL), 0);
	ck_assert_int_eq(store_blob_write_finish(&w, 1, 0, &id, NULL), 0);
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_size(s.blob, 1, &id, &size, NULL), 0);
	ck_assert_uint_eq(size, 4);
	store_set_close(&s);
	char p[512];
	snprintf(p, sizeof(p), "%s/mail.sqlite", dir);
	ck_assert_int_eq(access(p, R_OK), 0);
	core_conf_free(&c);
}
END_TEST

START_TEST(conf_refusals)
{
	const char *pg[] = {"store.data.backend", "postgresql", NULL};
	const char *const *bad[] = {pg};
	const char *key[] = {"store.data.url"};
	for (size_t i = 0; i < CORE_NELEM(bad); i++) {
		struct core_conf *c = conf_with(bad[i]);
		struct store_set s;
		struct core_error err;
		core_error_clear(&err);
		ck_assert_int_eq(store_set_open(c, &s, &err), CORE_ESYNTAX);
		ck_assert_msg(strstr(err.msg, key[i]) != NULL, "message: %s", err.msg);
		ck_assert_ptr_null(s.data);
		core_conf_free(&c);
	}
	/* The fs blob store compresses (docs/storage.md). */
	struct core_conf *zc = conf_with((const char *[]){"store.blob.compression", "lz4", NULL});
	struct store_set zs;
	struct core_error zerr;
	core_error_clear(&zerr);
	ck_assert_msg(store_set_open(zc, &zs, &zerr) == 0, "open: %s", zerr.msg);
	store_set_close(&zs);
	core_conf_free(&zc);
	/* Unknown values are caught by validation against the registered keys. */
	struct core_conf *c = conf_with((const char *[]){"store.data.backend", "mysql", NULL});
	struct core_conf_diags d;
	core_conf_diags_init(&d);
	ck_assert_int_eq(core_conf_validate(c, &d), CORE_ESYNTAX);
	ck_assert_uint_ge(d.n, 1);
	core_conf_diags_fini(&d);
	core_conf_free(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-conf");
	TCase *tc = tcase_create("conf");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, conf_defaults_open_all_four);
	tcase_add_test(tc, conf_sqlite_data_blobs_memory_lookup);
	tcase_add_test(tc, conf_refusals);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
