/*
 * test_rocksdb.c: the store conformance suite against the RocksDB backend (data store,
 * lookup store over it, blob content in it), and the backend's own read-path settings:
 * point gets served from table files (hash index in data blocks, bloom filters), the
 * table options it writes, and RocksDB's perf counters being off in store threads.
 */
#include <dirent.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
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

/* Files in the database directory whose name starts with prefix and ends with suffix (with
 * an empty suffix: has no dot); the greatest name (by strcmp) goes to last_out if not NULL. */
static unsigned rocksdb_files(const char *prefix, const char *suffix, char *last_out, size_t n)
{
	DIR *dp = opendir(rocksdb_path);
	ck_assert_ptr_nonnull(dp);
	unsigned count = 0;
	if (last_out != NULL && n > 0)
		last_out[0] = '\0';
	for (struct dirent *e; (e = readdir(dp)) != NULL;) {
		size_t l = strlen(e->d_name), pl = strlen(prefix), sl = strlen(suffix);
		if (l < pl + sl || strncmp(e->d_name, prefix, pl) != 0 ||
		    strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		if (sl == 0 && strchr(e->d_name, '.') != NULL)
			continue; /* OPTIONS-*.dbtmp: one being written */
		count++;
		if (last_out != NULL && strcmp(e->d_name, last_out) > 0)
			snprintf(last_out, n, "%s", e->d_name);
	}
	closedir(dp);
	return count;
}

#define TBL_KEYS 3000

static int tbl_key(char *k, unsigned i)
{
	return snprintf(k, 32, "tbl/%05u", i);
}

/* The value of key i after version ver (0 first write, 1 overwrite): 1..301 bytes. */
static size_t tbl_val(uint8_t *v, unsigned i, unsigned ver)
{
	size_t len = 1 + (i * 37u + ver * 11u) % 301u;
	for (size_t j = 0; j < len; j++)
		v[j] = (uint8_t)(i * 7u + j * 13u + ver);
	return len;
}

static void tbl_commit(struct store_txn **t)
{
	struct core_error err;
	core_error_clear(&err);
	int rc = store_txn_commit(t, &err);
	ck_assert_msg(rc == 0, "commit: %s", err.msg);
}

/* Keys written (every third overwritten, every seventh deleted), then the store reopened so
 * they sit in table files: every get returns the newest value or CORE_ENOTFOUND, also for
 * keys never written that share the keys' prefix or fall between them. */
START_TEST(rocksdb_gets_from_table_files)
{
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = NULL;
	char k[40];
	uint8_t v[320];
	for (unsigned ver = 0; ver < 2; ver++) {
		for (unsigned i = 0; i < TBL_KEYS; i++) {
			if (ver == 1 && i % 3 != 0 && i % 7 != 0)
				continue;
			if (t == NULL)
				ck_assert_int_eq(
					store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err),
					0);
			int kl = tbl_key(k, i);
			if (ver == 1 && i % 7 == 0)
				ck_assert_int_eq(store_txn_delete(t, k, (size_t)kl, &err), 0);
			else
				ck_assert_int_eq(store_txn_put(t, k, (size_t)kl, v,
							       tbl_val(v, i, ver), &err),
						 0);
			if (i % 500 == 499)
				tbl_commit(&t);
		}
		if (t != NULL)
			tbl_commit(&t);
	}
	/* RocksDB writes what it recovers from the log into table files when it opens. */
	store_test_reopen();
	ck_assert_uint_gt(rocksdb_files("", ".sst", NULL, 0), 0);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, &err), 0);
	for (unsigned i = 0; i < TBL_KEYS; i++) {
		int kl = tbl_key(k, i);
		int rc = store_txn_get(t, k, (size_t)kl, &got, &err);
		if (i % 7 == 0) {
			ck_assert_msg(rc == CORE_ENOTFOUND, "%s: rc %d", k, rc);
			continue;
		}
		ck_assert_msg(rc == 0, "%s: %s", k, err.msg);
		size_t vl = tbl_val(v, i, i % 3 == 0 ? 1 : 0);
		ck_assert_uint_eq(got.len, vl);
		ck_assert_mem_eq(got.p, v, vl);
	}
	/* Never written: past the end, between two keys, a prefix of a key, a key plus a byte. */
	static const char *const missing[] = {"tbl/03000",     "tbl/00001a", "tbl/0000",  "tbl/",
					      "tbl/00002\x00", "tbl/99999",  "tbk/00001", "u"};
	static const size_t missing_len[] = {9, 10, 8, 4, 10, 9, 9, 1};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
		ck_assert_int_eq(store_txn_get(t, missing[i], missing_len[i], &got, &err),
				 CORE_ENOTFOUND);
	store_txn_abort(&t);
	core_buf_fini(&got);
}
END_TEST

/* Over table files, a read transaction still sees exactly the commits before it began,
 * and a write transaction still conflicts on a key another one changed meanwhile. */
START_TEST(rocksdb_table_files_isolation)
{
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *w = NULL, *r1 = NULL, *r2 = NULL, *a = NULL;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &w, &err), 0);
	ck_assert_int_eq(store_txn_put(w, "iso", 3, "old", 3, &err), 0);
	tbl_commit(&w);
	store_test_reopen();
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &r1, &err), 0);
	ck_assert_int_eq(store_txn_get(r1, "iso", 3, &got, &err), 0);
	ck_assert_mem_eq(got.p, "old", 3);
	/* a reads the key, then another transaction changes it: a's assert must fail. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &a, &err), 0);
	ck_assert_int_eq(store_txn_get(a, "iso", 3, &got, &err), 0);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &w, &err), 0);
	ck_assert_int_eq(store_txn_put(w, "iso", 3, "new", 3, &err), 0);
	tbl_commit(&w);
	ck_assert_int_eq(store_txn_assert(a, "iso", 3, "old", 3, NULL), CORE_ECONFLICT);
	store_txn_abort(&a);
	ck_assert_int_eq(store_txn_get(r1, "iso", 3, &got, &err), 0);
	ck_assert_mem_eq(got.p, "old", 3);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &r2, &err), 0);
	ck_assert_int_eq(store_txn_get(r2, "iso", 3, &got, &err), 0);
	ck_assert_mem_eq(got.p, "new", 3);
	store_txn_abort(&r1);
	store_txn_abort(&r2);
	core_buf_fini(&got);
}
END_TEST

/* The table and memtable options the backend sets are the ones RocksDB records in its
 * OPTIONS file (read-path settings of docs/storage.md). */
START_TEST(rocksdb_table_options_recorded)
{
	char name[256];
	ck_assert_uint_gt(rocksdb_files("OPTIONS-", "", name, sizeof(name)), 0);
	char path[800];
	snprintf(path, sizeof(path), "%s/%s", rocksdb_path, name);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	static const char *const want[] = {
		"block_restart_interval=4",        "data_block_index_type=kDataBlockBinaryAndHash",
		"whole_key_filtering=true",        "memtable_whole_key_filtering=true",
		"optimize_filters_for_hits=false",
	};
	bool seen[sizeof(want) / sizeof(want[0])] = {false};
	bool bloom = false;
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = line;
		while (*s == ' ')
			s++;
		s[strcspn(s, "\r\n")] = '\0';
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (strcmp(s, want[i]) == 0)
				seen[i] = true;
		if (strncmp(s, "filter_policy=", 14) == 0 && strstr(s, "loom") != NULL)
			bloom = true;
	}
	fclose(f);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(seen[i], "%s: no line %s", name, want[i]);
	ck_assert_msg(bloom, "%s: no bloom filter policy", name);
}
END_TEST

/* The user-key comparisons RocksDB counted in this thread while t made 50 gets, or
 * UINT64_MAX if a get failed (no ck_assert: this also runs outside the test's thread). */
static uint64_t rocksdb_counted_comparisons(struct store_txn *t)
{
	rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
	rocksdb_perfcontext_reset(pc);
	struct core_buf got = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	char k[40];
	bool ok = true;
	for (unsigned i = 0; i < 50 && ok; i++) {
		int kl = tbl_key(k, i);
		ok = store_txn_get(t, k, (size_t)kl, &got, &err) == 0;
	}
	core_buf_fini(&got);
	uint64_t n = rocksdb_perfcontext_metric(pc, rocksdb_user_key_comparison_count);
	rocksdb_perfcontext_destroy(pc);
	return ok ? n : UINT64_MAX;
}

static void *rocksdb_perf_thread(void *arg)
{
	uint64_t *n = arg;
	struct store_txn *t = NULL;
	struct core_error err;
	core_error_clear(&err);
	/* A fresh thread starts at RocksDB's default level, which counts. */
	*n = UINT64_MAX;
	if (store_txn_begin(store_test_data, STORE_TXN_READ, &t, &err) == 0) {
		*n = rocksdb_counted_comparisons(t);
		store_txn_abort(&t);
	}
	return NULL;
}

/* Store threads do not pay for RocksDB's perf counters: a thread that begins a transaction
 * has counting off. The same gets counted with counting on show the counter works. */
START_TEST(rocksdb_perf_counters_off)
{
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = NULL;
	char k[40];
	uint8_t v[320];
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err), 0);
	for (unsigned i = 0; i < 50; i++) {
		int kl = tbl_key(k, i);
		ck_assert_int_eq(store_txn_put(t, k, (size_t)kl, v, tbl_val(v, i, 0), &err), 0);
	}
	tbl_commit(&t);
	pthread_t th;
	uint64_t off = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, rocksdb_perf_thread, &off), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(off, 0);
	/* Control: counting turned back on in this thread counts the same gets. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, &err), 0);
	rocksdb_set_perf_level(rocksdb_enable_count);
	uint64_t on = rocksdb_counted_comparisons(t);
	rocksdb_set_perf_level(rocksdb_disable);
	store_txn_abort(&t);
	ck_assert_uint_gt(on, 0);
	ck_assert_uint_ne(on, UINT64_MAX);
}
END_TEST

static Suite *rocksdb_suite_backend(void)
{
	Suite *s = suite_create("rocksdb backend");
	TCase *tc = tcase_create("read path");
	tcase_add_checked_fixture(tc, store_test_setup, store_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rocksdb_gets_from_table_files);
	tcase_add_test(tc, rocksdb_table_files_isolation);
	tcase_add_test(tc, rocksdb_table_options_recorded);
	tcase_add_test(tc, rocksdb_perf_counters_off);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return store_test_run(&rocksdb_env, rocksdb_suite_backend(), store_suite_data(),
			      store_suite_lookup(), store_suite_blob(), store_suite_fts(), NULL);
}
