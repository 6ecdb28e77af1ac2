/*
 * test_dump.c: export and import (issue 3): a populated RocksDB deployment (data, ids,
 * lookup entries, full-text index, blobs on the filesystem with links and reservations) is
 * moved to PostgreSQL (STAUNCH_TEST_PG; SQLite when unset, with a message) and back, and
 * every key and blob is compared: the dumps of the source, the target and the round trip
 * are byte for byte the same, and the moved stores answer the same reads.
 */
#include <check.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "helper_store.h"
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
	snprintf(dir, sizeof(dir), "/tmp/staunch-dump-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

struct deploy {
	struct store_data *d;
	struct store_blob *b;
	char path[512], bpath[512];
};

/* Open a deployment: "rocksdb" (+ fs blobs), "sqlite" or "postgresql" (blobs inside). */
static void deploy_open(struct deploy *x, const char *backend, const char *name)
{
	memset(x, 0, sizeof(*x));
	struct store_params p = {0};
	struct core_error err;
	core_error_clear(&err);
	snprintf(x->path, sizeof(x->path), "%s/%s", dir, name);
	snprintf(x->bpath, sizeof(x->bpath), "%s/%s-blobs", dir, name);
	if (strcmp(backend, "postgresql") == 0) {
		p.conninfo = getenv("STAUNCH_TEST_PG");
		store_test_pg_reset(p.conninfo);
	} else {
		p.path = x->path;
	}
	ck_assert_msg(store_data_open(backend, &p, &x->d, &err) == 0, "open: %s", err.msg);
	struct store_params bp = {.path = x->bpath};
	const char *blob = strcmp(backend, "rocksdb") == 0 ? "fs" : backend;
	if (strcmp(backend, "postgresql") == 0)
		bp.compression = "zstd";
	ck_assert_msg(store_blob_open(blob, &bp, x->d, &x->b, &err) == 0, "blob: %s", err.msg);
}

static void deploy_close(struct deploy *x)
{
	store_blob_free(&x->b);
	store_data_free(&x->d);
}

static struct store_blob_id put_blob(struct deploy *x, uint64_t acct, const void *p, size_t n)
{
	struct store_blob_writer *w = NULL;
	struct store_blob_id id;
	ck_assert_int_eq(store_blob_write_begin(x->b, &w, NULL), 0);
	ck_assert_int_eq(store_blob_write(w, p, n, NULL), 0);
	ck_assert_int_eq(store_blob_write_finish(&w, acct, 0, &id, NULL), 0);
	return id;
}

static struct store_blob_id big_id, small_id;

static void populate(struct deploy *x)
{
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(x->d, STORE_TXN_WRITE, &t, NULL), 0);
	char k[64], v[64];
	for (int i = 0; i < 300; i++) {
		int kl = snprintf(k, sizeof(k), "acct/1/msg/%05d", i);
		int vl = snprintf(v, sizeof(v), "value %d", i * 7);
		ck_assert_int_eq(store_txn_put(t, k, (size_t)kl, v, (size_t)vl, NULL), 0);
	}
	size_t bn = 300000;
	uint8_t *big = core_xmalloc(bn);
	for (size_t i = 0; i < bn; i++)
		big[i] = (uint8_t)(i * 31 + i / 1000);
	ck_assert_int_eq(store_txn_put(t, "\x00\xff bin", 6, big, bn, NULL), 0);
	ck_assert_int_eq(store_txn_counter_add(t, "ctr", 3, -42, NULL, NULL), 0);
	uint64_t id;
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(store_txn_id_next(t, 1, 3, &id, NULL), 0);
	ck_assert_int_eq(store_txn_commit(&t, NULL), 0);
	struct store_lookup *l = NULL;
	ck_assert_int_eq(store_lookup_open_data(x->d, &l, NULL), 0);
	ck_assert_int_eq(store_lookup_set(l, "grey/1.2.3.4", 12, "seen", 4, 86400000, NULL), 0);
	ck_assert_int_eq(store_lookup_counter_add(l, "rl/a", 4, 9, 0, NULL, NULL), 0);
	store_lookup_free(&l);
	struct store_fts *f = NULL;
	ck_assert_int_eq(store_fts_open_data(x->d, &f, NULL), 0);
	struct store_fts_term terms[] = {{1, "hello", 5, 0}, {1, "world", 5, 1}};
	ck_assert_int_eq(store_fts_index(f, 1, 77, terms, 2, NULL), 0);
	store_fts_free(&f);
	big_id = put_blob(x, 1, big, bn);
	small_id = put_blob(x, 2, "tiny blob", 9);
	ck_assert_int_eq(store_blob_link(x->b, 1, &big_id, "m/1", NULL), 0);
	ck_assert_int_eq(store_blob_link(x->b, 2, &small_id, "m/5", NULL), 0);
	free(big);
}

static void export_to(struct deploy *x, const char *file)
{
	FILE *f = fopen(file, "w+b");
	ck_assert_ptr_nonnull(f);
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_dump_export(x->d, x->b, f, &err) == 0, "export: %s", err.msg);
	fclose(f);
}

static int import_from(struct deploy *x, const char *file, struct core_error *err)
{
	FILE *f = fopen(file, "rb");
	ck_assert_ptr_nonnull(f);
	core_error_clear(err);
	int rc = store_dump_import(x->d, x->b, f, err);
	fclose(f);
	return rc;
}

static struct core_buf slurp(const char *file)
{
	struct core_buf b = CORE_BUF_INIT;
	FILE *f = fopen(file, "rb");
	ck_assert_ptr_nonnull(f);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		core_buf_append(&b, tmp, n);
	fclose(f);
	return b;
}

static int collect(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

static void check_reads(struct deploy *x)
{
	struct core_buf v = CORE_BUF_INIT;
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(x->d, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_txn_get(t, "acct/1/msg/00299", 16, &v, NULL), 0);
	ck_assert_str_eq(core_buf_cstr(&v), "value 2093");
	ck_assert_int_eq(store_txn_get(t, "\x00\xff bin", 6, &v, NULL), 0);
	ck_assert_uint_eq(v.len, 300000);
	store_txn_abort(&t);
	ck_assert_int_eq(store_txn_begin(x->d, STORE_TXN_WRITE, &t, NULL), 0);
	uint64_t id = 0;
	ck_assert_int_eq(store_txn_id_next(t, 1, 3, &id, NULL), 0);
	ck_assert_uint_eq(id, 6); /* ids continue, never reused */
	store_txn_abort(&t);
	/* Links moved with the content: access rules hold on the target. */
	core_buf_reset(&v);
	ck_assert_int_eq(store_blob_read(x->b, 2, &small_id, 0, UINT64_MAX, collect, &v, NULL), 0);
	ck_assert_str_eq(core_buf_cstr(&v), "tiny blob");
	ck_assert_int_eq(store_blob_access(x->b, 2, &big_id, NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_access(x->b, 1, &big_id, NULL), 0);
	struct store_fts *f = NULL;
	ck_assert_int_eq(store_fts_open_data(x->d, &f, NULL), 0);
	struct core_str hw[] = {CORE_STR("hello"), CORE_STR("world")};
	struct store_fts_query q = {.op = STORE_FTS_PHRASE, .field = 1, .terms = hw, .nterms = 2};
	uint64_t *docs = NULL;
	size_t n = 0;
	ck_assert_int_eq(store_fts_search(f, 1, &q, &docs, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(docs[0], 77);
	free(docs);
	store_fts_free(&f);
	core_buf_fini(&v);
}

START_TEST(dump_rocksdb_to_other_and_back)
{
	const char *target = getenv("STAUNCH_TEST_PG") != NULL ? "postgresql" : "sqlite";
	if (strcmp(target, "sqlite") == 0)
		printf("SKIP: STAUNCH_TEST_PG unset, moving to sqlite instead of postgresql\n");
	char a[512], b[512], c[512];
	snprintf(a, sizeof(a), "%s/a.dump", dir);
	snprintf(b, sizeof(b), "%s/b.dump", dir);
	snprintf(c, sizeof(c), "%s/c.dump", dir);
	struct deploy src, dst, back;
	deploy_open(&src, "rocksdb", "src");
	populate(&src);
	export_to(&src, a);
	deploy_open(&dst, target, "dst");
	struct core_error err;
	ck_assert_msg(import_from(&dst, a, &err) == 0, "import: %s", err.msg);
	check_reads(&dst);
	export_to(&dst, b);
	deploy_open(&back, "rocksdb", "back");
	ck_assert_msg(import_from(&back, b, &err) == 0, "import back: %s", err.msg);
	check_reads(&back);
	export_to(&back, c);
	struct core_buf fa = slurp(a), fb = slurp(b), fc = slurp(c);
	ck_assert_uint_gt(fa.len, 300000);
	ck_assert_uint_eq(fa.len, fb.len);
	ck_assert(memcmp(fa.p, fb.p, fa.len) == 0);
	ck_assert_uint_eq(fa.len, fc.len);
	ck_assert(memcmp(fa.p, fc.p, fa.len) == 0);
	/* Import goes into an empty store only. */
	ck_assert_int_eq(import_from(&back, a, &err), CORE_ECONFLICT);
	core_buf_fini(&fa);
	core_buf_fini(&fb);
	core_buf_fini(&fc);
	deploy_close(&src);
	deploy_close(&dst);
	deploy_close(&back);
}
END_TEST

START_TEST(dump_damaged_file_writes_nothing)
{
	char a[512], bad[512];
	snprintf(a, sizeof(a), "%s/a.dump", dir);
	snprintf(bad, sizeof(bad), "%s/bad.dump", dir);
	struct deploy src, dst;
	deploy_open(&src, "rocksdb", "src");
	populate(&src);
	export_to(&src, a);
	struct core_buf fa = slurp(a);
	struct deploy *x = &dst;
	deploy_open(x, "sqlite", "dst");
	/* A flipped byte, a truncation, a wrong magic: refused before any write. */
	for (int kind = 0; kind < 3; kind++) {
		FILE *f = fopen(bad, "wb");
		size_t len = fa.len;
		if (kind == 0)
			fa.p[fa.len / 2] ^= 0x40;
		if (kind == 1)
			len = fa.len - 10;
		if (kind == 2)
			fa.p[0] = 'X';
		ck_assert_uint_eq(fwrite(fa.p, 1, len, f), len);
		fclose(f);
		if (kind == 0)
			fa.p[fa.len / 2] ^= 0x40;
		struct core_error err;
		ck_assert_int_eq(import_from(x, bad, &err), CORE_ESYNTAX);
		struct store_txn *t = NULL;
		struct core_buf v = CORE_BUF_INIT;
		ck_assert_int_eq(store_txn_begin(x->d, STORE_TXN_READ, &t, NULL), 0);
		ck_assert_int_eq(store_txn_get(t, "acct/1/msg/00000", 16, &v, NULL),
				 CORE_ENOTFOUND);
		store_txn_abort(&t);
		core_buf_fini(&v);
	}
	core_buf_fini(&fa);
	deploy_close(&src);
	deploy_close(&dst);
}
END_TEST

int main(void)
{
	/* A database of this binary alone, so store tests may run in parallel. */
	if (getenv("STAUNCH_TEST_PG") != NULL)
		setenv("STAUNCH_TEST_PG", store_test_pg_conninfo("staunch_test_dump"), 1);
	Suite *s = suite_create("store-dump");
	TCase *tc = tcase_create("dump");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, dump_rocksdb_to_other_and_back);
	tcase_add_test(tc, dump_damaged_file_writes_nothing);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
