/*
 * helper_store.c: the shared setup of the store conformance suites and the data store cases
 * (ARCHITECTURE.md §4). Every case runs against the backend of store_test_env.
 */
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "helper_store.h"
#include "store/store_int.h"

const struct store_test_env *store_test_env;
char store_test_dir[256];
struct store_data *store_test_data;
static struct store_params store_test_params;

static int store_test_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void store_test_setup(void)
{
	snprintf(store_test_dir, 256, "/tmp/staunch-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(store_test_dir));
	memset(&store_test_params, 0, sizeof(store_test_params));
	store_test_data = NULL;
	if (store_test_env->data_backend == NULL)
		return;
	ck_assert(store_test_env->params(&store_test_params, store_test_dir));
	struct core_error err;
	core_error_clear(&err);
	int rc = store_data_open(store_test_env->data_backend, &store_test_params, &store_test_data,
				 &err);
	ck_assert_msg(rc == 0, "open %s: %s", store_test_env->data_backend, err.msg);
}

void store_test_teardown(void)
{
	store_data_free(&store_test_data);
	store_clock_set(NULL);
	nftw(store_test_dir, store_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void store_test_reopen(void)
{
	store_data_free(&store_test_data);
	struct core_error err;
	core_error_clear(&err);
	int rc = store_data_open(store_test_env->data_backend, &store_test_params, &store_test_data,
				 &err);
	ck_assert_msg(rc == 0, "reopen: %s", err.msg);
}

const char *store_test_pg_conninfo(const char *dbname)
{
	static char conninfo[1024];
	const char *base = getenv("STAUNCH_TEST_PG");
	if (base == NULL || base[0] == '\0')
		return NULL;
	/* Called from main, outside any test: report problems on stderr, not with ck_assert. */
	PGconn *c = PQconnectdb(base);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "STAUNCH_TEST_PG: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		exit(1);
	}
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_database WHERE datname = '%s'", dbname);
	PGresult *r = PQexec(c, sql);
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!exists) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "STAUNCH_TEST_PG: create database %s: %s", dbname,
				PQerrorMessage(c));
			exit(1);
		}
		PQclear(r);
	}
	PQfinish(c);
	/* In a libpq connection string a repeated keyword takes its last value. */
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", base, dbname);
	return conninfo;
}

void store_test_pg_reset(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
	PGresult *r = PQexec(c, "SET client_min_messages = warning; "
				"DROP TABLE IF EXISTS staunch_kv");
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "drop: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* ---------------------------------------------------------------- small helpers */

static struct store_txn *begin(enum store_txn_mode mode)
{
	struct store_txn *t = NULL;
	struct core_error err;
	core_error_clear(&err);
	int rc = store_txn_begin(store_test_data, mode, &t, &err);
	ck_assert_msg(rc == 0, "begin: %s", err.msg);
	return t;
}

static void commit(struct store_txn **t)
{
	struct core_error err;
	core_error_clear(&err);
	int rc = store_txn_commit(t, &err);
	ck_assert_msg(rc == 0, "commit: %d %s", rc, err.msg);
}

static void put1(const char *k, const char *v)
{
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, k, strlen(k), v, strlen(v), NULL), 0);
	commit(&t);
}

/* Read k in a fresh read transaction; returns the code and fills out. */
static int get1(const void *k, size_t kl, struct core_buf *out)
{
	struct store_txn *t = begin(STORE_TXN_READ);
	int rc = store_txn_get(t, k, kl, out, NULL);
	store_txn_abort(&t);
	return rc;
}

static void check_value(const char *k, const char *want)
{
	struct core_buf v = CORE_BUF_INIT;
	int rc = get1(k, strlen(k), &v);
	if (want == NULL) {
		ck_assert_int_eq(rc, CORE_ENOTFOUND);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(v.len, strlen(want));
		ck_assert(memcmp(v.p, want, v.len) == 0);
	}
	core_buf_fini(&v);
}

/* A deterministic pseudo-random byte pattern (xorshift), so big values are checkable. */
static void fill_pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 32);
	}
}

struct collect {
	struct core_buf keys; /* each key followed by '|' */
	size_t n;
};

static int collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct collect *c = arg;
	core_buf_append(&c->keys, k, kl);
	core_buf_putc(&c->keys, '|');
	c->n++;
	return 0;
}

static void scan_expect(const struct store_range *r, const char *want)
{
	struct store_txn *t = begin(STORE_TXN_READ);
	struct collect c = {CORE_BUF_INIT, 0};
	int rc = store_txn_scan(t, r, collect_cb, &c, NULL);
	store_txn_abort(&t);
	ck_assert_int_ge(rc, 0);
	ck_assert_int_eq((size_t)rc, c.n);
	ck_assert_str_eq(core_buf_cstr(&c.keys), want);
	core_buf_fini(&c.keys);
}

/* ---------------------------------------------------------------- data store cases */

START_TEST(data_put_get_delete)
{
	check_value("alpha", NULL);
	put1("alpha", "one");
	check_value("alpha", "one");
	put1("alpha", "uno");
	check_value("alpha", "uno");
	/* An empty value is a value, not a missing key. */
	put1("empty", "");
	check_value("empty", "");
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_delete(t, "alpha", 5, NULL), 0);
	ck_assert_int_eq(store_txn_delete(t, "never", 5, NULL), 0);
	commit(&t);
	check_value("alpha", NULL);
	check_value("empty", "");
	ck_assert_str_eq(store_data_backend(store_test_data), store_test_env->data_backend);
}
END_TEST

START_TEST(data_key_limits)
{
	uint8_t k[STORE_KEY_MAX + 1];
	memset(k, 'k', sizeof(k));
	struct store_txn *t = begin(STORE_TXN_WRITE);
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_put(t, k, 0, "v", 1, &err), CORE_ESYNTAX);
	ck_assert_int_eq(store_txn_put(t, k, STORE_KEY_MAX + 1, "v", 1, &err), CORE_ELIMIT);
	ck_assert_int_eq(store_txn_get(t, k, STORE_KEY_MAX + 1, &(struct core_buf){0}, &err),
			 CORE_ELIMIT);
	ck_assert_int_eq(store_txn_put(t, k, STORE_KEY_MAX, "v", 1, &err), 0);
	commit(&t);
	struct core_buf v = CORE_BUF_INIT;
	ck_assert_int_eq(get1(k, STORE_KEY_MAX, &v), 0);
	ck_assert_uint_eq(v.len, 1);
	core_buf_fini(&v);
}
END_TEST

START_TEST(data_bytewise_order)
{
	/* Bytewise, shorter first: "" < "\x00" < "a" < "a\x00" < "a\x01" < "ab" < "\x80" <
	 * "\xff" (never text collation, never signed chars). */
	static const struct {
		const char *k;
		size_t len;
	} keys[] = {{"\xff", 1}, {"a\x01", 2}, {"\x80", 1}, {"ab", 2},
		    {"a", 1},    {"a\x00", 2}, {"\x00", 1}, {"B", 1}};
	struct store_txn *t = begin(STORE_TXN_WRITE);
	for (size_t i = 0; i < CORE_NELEM(keys); i++)
		ck_assert_int_eq(store_txn_put(t, keys[i].k, keys[i].len, "v", 1, NULL), 0);
	commit(&t);
	struct store_range r = {0};
	t = begin(STORE_TXN_READ);
	struct collect c = {CORE_BUF_INIT, 0};
	ck_assert_int_eq(store_txn_scan(t, &r, collect_cb, &c, NULL), 8);
	store_txn_abort(&t);
	static const char want[] = "\x00|B|a|a\x00|a\x01|ab|\x80|\xff|";
	ck_assert_uint_eq(c.keys.len, sizeof(want) - 1);
	ck_assert(memcmp(c.keys.p, want, sizeof(want) - 1) == 0);
	core_buf_fini(&c.keys);
}
END_TEST

START_TEST(data_prefix_scans)
{
	const char *ks[] = {"m/1/a", "m/1/b", "m/1/c", "m/10", "m/2/a", "m/", "n", "l"};
	struct store_txn *t = begin(STORE_TXN_WRITE);
	for (size_t i = 0; i < CORE_NELEM(ks); i++)
		ck_assert_int_eq(store_txn_put(t, ks[i], strlen(ks[i]), ks[i], strlen(ks[i]), NULL),
				 0);
	commit(&t);
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "m/1/", 4, hi);
	scan_expect(&r, "m/1/a|m/1/b|m/1/c|");
	r.reverse = true;
	scan_expect(&r, "m/1/c|m/1/b|m/1/a|");
	r.limit = 2;
	scan_expect(&r, "m/1/c|m/1/b|");
	r.reverse = false;
	scan_expect(&r, "m/1/a|m/1/b|");
	store_range_prefix(&r, "m/", 2, hi);
	scan_expect(&r, "m/|m/1/a|m/1/b|m/1/c|m/10|m/2/a|");
	r.reverse = true;
	scan_expect(&r, "m/2/a|m/10|m/1/c|m/1/b|m/1/a|m/|");
	/* Explicit bounds: lo inclusive, hi exclusive, both directions. */
	struct store_range b = {.lo = "m/1/b", .lo_len = 5, .hi = "m/2/a", .hi_len = 5};
	scan_expect(&b, "m/1/b|m/1/c|m/10|");
	b.reverse = true;
	scan_expect(&b, "m/10|m/1/c|m/1/b|");
	/* Unbounded ends. */
	struct store_range all = {.hi = "m", .hi_len = 1, .reverse = true};
	scan_expect(&all, "l|");
	struct store_range tail = {.lo = "m/2", .lo_len = 3};
	scan_expect(&tail, "m/2/a|n|");
	/* A prefix that matches nothing. */
	store_range_prefix(&r, "zz", 2, hi);
	scan_expect(&r, "");
}
END_TEST

START_TEST(data_prefix_ff)
{
	/* A prefix ending in 0xff has no simple successor; keys after it must not leak in. */
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "a\xff\x01", 3, "1", 1, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "a\xff", 2, "2", 1, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "b", 1, "3", 1, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "\xff\xff", 2, "4", 1, NULL), 0);
	commit(&t);
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "a\xff", 2, hi);
	scan_expect(&r, "a\xff|a\xff\x01|");
	store_range_prefix(&r, "\xff", 1, hi);
	scan_expect(&r, "\xff\xff|");
	r.reverse = true;
	scan_expect(&r, "\xff\xff|");
}
END_TEST

static int stop_after_two(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	int *n = arg;
	return ++*n == 2 ? 1 : 0;
}

static int fail_at_two(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	int *n = arg;
	return ++*n == 2 ? CORE_EIO : 0;
}

START_TEST(data_scan_stop)
{
	put1("s1", "a");
	put1("s2", "b");
	put1("s3", "c");
	struct store_txn *t = begin(STORE_TXN_READ);
	struct store_range r = {0};
	int n = 0;
	ck_assert_int_eq(store_txn_scan(t, &r, stop_after_two, &n, NULL), 2);
	ck_assert_int_eq(n, 2);
	n = 0;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_scan(t, &r, fail_at_two, &n, &err), CORE_EIO);
	ck_assert_int_eq(n, 2);
	store_txn_abort(&t);
}
END_TEST

START_TEST(data_multi_get)
{
	size_t big = 3 * STORE_CHUNK_SIZE + 17;
	uint8_t *bv = core_xmalloc(big);
	fill_pattern(bv, big, 7);
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "k1", 2, "v1", 2, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "k3", 2, "v3", 2, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "big", 3, bv, big, NULL), 0);
	commit(&t);
	struct store_mget m[4] = {{.key = "k1", .klen = 2},
				  {.key = "k2", .klen = 2},
				  {.key = "big", .klen = 3},
				  {.key = "k3", .klen = 2}};
	t = begin(STORE_TXN_READ);
	ck_assert_int_eq(store_txn_multi_get(t, m, 4, NULL), 0);
	store_txn_abort(&t);
	ck_assert(m[0].found && m[0].val.len == 2 && memcmp(m[0].val.p, "v1", 2) == 0);
	ck_assert(!m[1].found);
	ck_assert(m[2].found && m[2].val.len == big && memcmp(m[2].val.p, bv, big) == 0);
	ck_assert(m[3].found && m[3].val.len == 2 && memcmp(m[3].val.p, "v3", 2) == 0);
	for (int i = 0; i < 4; i++)
		core_buf_fini(&m[i].val);
	free(bv);
}
END_TEST

static size_t count_space(enum store_space sp)
{
	struct store_txn *t = begin(STORE_TXN_READ);
	struct collect c = {CORE_BUF_INIT, 0};
	struct store_range r = {0};
	ck_assert_int_ge(store_txn_raw_scan(t, sp, &r, collect_cb, &c, NULL), 0);
	store_txn_abort(&t);
	core_buf_fini(&c.keys);
	return c.n;
}

START_TEST(data_big_values_chunked)
{
	/* ARCHITECTURE.md §4: values over 64 KiB are chunked by store/. */
	size_t sizes[] = {STORE_CHUNK_SIZE, STORE_CHUNK_SIZE + 1, 5 * STORE_CHUNK_SIZE,
			  3u * 1024u * 1024u + 5};
	for (size_t i = 0; i < CORE_NELEM(sizes); i++) {
		uint8_t *v = core_xmalloc(sizes[i]);
		fill_pattern(v, sizes[i], i);
		struct store_txn *t = begin(STORE_TXN_WRITE);
		ck_assert_int_eq(store_txn_put(t, "bigkey", 6, v, sizes[i], NULL), 0);
		/* Read-your-writes of a chunked value inside the writing transaction. */
		struct core_buf got = CORE_BUF_INIT;
		ck_assert_int_eq(store_txn_get(t, "bigkey", 6, &got, NULL), 0);
		ck_assert_uint_eq(got.len, sizes[i]);
		ck_assert(memcmp(got.p, v, sizes[i]) == 0);
		commit(&t);
		ck_assert_int_eq(get1("bigkey", 6, &got), 0);
		ck_assert_uint_eq(got.len, sizes[i]);
		ck_assert(memcmp(got.p, v, sizes[i]) == 0);
		size_t want_chunks = sizes[i] > STORE_CHUNK_SIZE
					     ? (sizes[i] + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE
					     : 0;
		ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), want_chunks);
		core_buf_fini(&got);
		free(v);
	}
	/* A big value seen through a scan, with a small neighbour. */
	put1("bigkez", "small");
	struct store_txn *t = begin(STORE_TXN_READ);
	struct collect c = {CORE_BUF_INIT, 0};
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "bigke", 5, hi);
	ck_assert_int_eq(store_txn_scan(t, &r, collect_cb, &c, NULL), 2);
	store_txn_abort(&t);
	ck_assert_str_eq(core_buf_cstr(&c.keys), "bigkey|bigkez|");
	core_buf_fini(&c.keys);
	/* Overwriting with a small value and deleting leave no chunk behind. */
	put1("bigkey", "tiny");
	check_value("bigkey", "tiny");
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	size_t n = 2 * STORE_CHUNK_SIZE;
	uint8_t *v = core_xcalloc(1, n);
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "bigkey", 6, v, n, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 2);
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_delete(t, "bigkey", 6, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	check_value("bigkey", NULL);
	free(v);
}
END_TEST

START_TEST(data_chunks_known)
{
	/* A put or delete skips the look for old chunks only when the transaction knows
	 * there are none: what it read or wrote of the key decides, never a guess. */
	size_t n = 3 * STORE_CHUNK_SIZE;
	uint8_t *big = core_xmalloc(n);
	fill_pattern(big, n, 7);
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, big, n, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 3);
	/* Read as a manifest: the small put that follows still removes the chunks. */
	struct core_buf got = CORE_BUF_INIT;
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_get(t, "ck", 2, &got, NULL), 0);
	ck_assert_uint_eq(got.len, n);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, "s", 1, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	check_value("ck", "s");
	/* Read inline, then written big and small again in the same transaction: the big
	 * write makes the key unknown again, so its chunks go with the last small write. */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_get(t, "ck", 2, &got, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, big, n, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, "t", 1, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	check_value("ck", "t");
	/* Read as a manifest by the transaction that then deletes it: the delete removes the
	 * chunks. */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, big, n, NULL), 0);
	commit(&t);
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_get(t, "ck", 2, &got, NULL), 0);
	ck_assert_int_eq(store_txn_delete(t, "ck", 2, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	check_value("ck", NULL);
	/* Missing when read, then written big; a smaller chunked value written over it later
	 * reads back whole (no chunk of the bigger one left over). */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_get(t, "ck", 2, &got, NULL), CORE_ENOTFOUND);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, big, n, NULL), 0);
	commit(&t);
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "ck", 2, big, STORE_CHUNK_SIZE + 1, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 2);
	ck_assert_int_eq(get1("ck", 2, &got), 0);
	ck_assert_uint_eq(got.len, STORE_CHUNK_SIZE + 1);
	ck_assert(memcmp(got.p, big, got.len) == 0);
	/* A manifest read, then more keys than the transaction remembers: the small write
	 * that follows still removes the chunks. */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_get(t, "ck", 2, &got, NULL), 0);
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "many%03d", i);
		ck_assert_int_eq(store_txn_get(t, k, strlen(k), &got, NULL), CORE_ENOTFOUND);
		ck_assert_int_eq(store_txn_put(t, k, strlen(k), "x", 1, NULL), 0);
	}
	ck_assert_int_eq(store_txn_put(t, "ck", 2, "u", 1, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 0);
	check_value("ck", "u");
	/* store_txn_put_nochunks: a new key, any size. */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put_nochunks(t, "fresh", 5, big, n, NULL), 0);
	ck_assert_int_eq(store_txn_put_nochunks(t, "fresh2", 6, "v", 1, NULL), 0);
	commit(&t);
	ck_assert_uint_eq(count_space(STORE_SPACE_CHUNK), 3);
	ck_assert_int_eq(get1("fresh", 5, &got), 0);
	ck_assert_uint_eq(got.len, n);
	ck_assert(memcmp(got.p, big, n) == 0);
	check_value("fresh2", "v");
	core_buf_fini(&got);
	free(big);
}
END_TEST

START_TEST(data_txn_size_limit)
{
	/* ARCHITECTURE.md §4: a transaction writes at most 8 MB. */
	size_t n = 3u * 1024u * 1024u;
	uint8_t *v = core_xcalloc(1, n);
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "a", 1, v, n, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "b", 1, v, n, NULL), 0);
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_put(t, "c", 1, v, n, &err), CORE_ELIMIT);
	ck_assert_int_eq(err.code, CORE_ELIMIT);
	ck_assert_uint_le(store_txn_bytes(t), STORE_TXN_MAX_BYTES);
	store_txn_abort(&t);
	check_value("a", NULL);
	free(v);
}
END_TEST

START_TEST(data_txn_time_limit)
{
	/* ARCHITECTURE.md §4: a transaction lasts at most 5 s; later calls and the commit fail. */
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "slow", 4, "1", 1, NULL), 0);
	usleep((STORE_TXN_MAX_MS + 200) * 1000);
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(store_txn_put(t, "slow2", 5, "1", 1, &err), CORE_ELIMIT);
	ck_assert_int_eq(store_txn_commit(&t, &err), CORE_ELIMIT);
	ck_assert_ptr_null(t);
	check_value("slow", NULL);
}
END_TEST

START_TEST(data_txn_isolation)
{
	put1("iso", "old");
	struct store_txn *r = begin(STORE_TXN_READ);
	struct core_buf v = CORE_BUF_INIT;
	/* A read transaction is a snapshot: later commits are not visible in it. */
	put1("iso", "new");
	put1("iso2", "x");
	ck_assert_int_eq(store_txn_get(r, "iso", 3, &v, NULL), 0);
	ck_assert_uint_eq(v.len, 3);
	ck_assert(memcmp(v.p, "old", 3) == 0);
	ck_assert_int_eq(store_txn_get(r, "iso2", 4, &v, NULL), CORE_ENOTFOUND);
	/* Writes in a read transaction are refused. */
	ck_assert_int_eq(store_txn_put(r, "iso", 3, "z", 1, NULL), CORE_EPERM);
	ck_assert_int_eq(store_txn_counter_add(r, "c", 1, 1, NULL, NULL), CORE_EPERM);
	ck_assert_int_eq(store_txn_commit(&r, NULL), 0);
	/* A write transaction reads its own writes; abort discards them. */
	struct store_txn *w = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(w, "iso", 3, "mine", 4, NULL), 0);
	ck_assert_int_eq(store_txn_get(w, "iso", 3, &v, NULL), 0);
	ck_assert_uint_eq(v.len, 4);
	struct collect c = {CORE_BUF_INIT, 0};
	uint8_t hi[STORE_KEY_MAX];
	struct store_range rg;
	store_range_prefix(&rg, "iso", 3, hi);
	ck_assert_int_eq(store_txn_put(w, "iso1", 4, "own", 3, NULL), 0);
	ck_assert_int_eq(store_txn_scan(w, &rg, collect_cb, &c, NULL), 3);
	ck_assert_str_eq(core_buf_cstr(&c.keys), "iso|iso1|iso2|");
	store_txn_abort(&w);
	check_value("iso", "new");
	check_value("iso1", NULL);
	core_buf_fini(&v);
	core_buf_fini(&c.keys);
}
END_TEST

/* Read transactions begun with no commit in between may share one snapshot (the RocksDB
 * backend does); each still sees exactly the commits acknowledged before it began. */
START_TEST(data_snapshots_in_sequence)
{
	put1("seq", "v0");
	struct store_txn *a = begin(STORE_TXN_READ);
	struct store_txn *b = begin(STORE_TXN_READ);
	put1("seq", "v1");
	struct store_txn *c = begin(STORE_TXN_READ);
	struct store_txn *d = begin(STORE_TXN_READ);
	store_txn_abort(&a); /* the first reader of the old snapshot leaves early */
	put1("seq", "v2");
	struct store_txn *e = begin(STORE_TXN_READ);
	/* A refused compare-and-set and an aborted write change nothing and hide nothing. */
	struct store_txn *w = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(w, "seq", 3, "nope", 4, NULL), CORE_ECONFLICT);
	store_txn_abort(&w);
	w = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(w, "seq", 3, "xx", 2, NULL), 0);
	store_txn_abort(&w);
	struct store_txn *f = begin(STORE_TXN_READ);
	struct {
		struct store_txn *t;
		const char *want;
	} cases[] = {{b, "v0"}, {c, "v1"}, {d, "v1"}, {e, "v2"}, {f, "v2"}};
	struct core_buf v = CORE_BUF_INIT;
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		ck_assert_int_eq(store_txn_get(cases[i].t, "seq", 3, &v, NULL), 0);
		ck_assert_msg(v.len == 2 && memcmp(v.p, cases[i].want, 2) == 0,
			      "reader %zu sees %.*s, wants %s", i, (int)v.len, v.p, cases[i].want);
		store_txn_abort(&cases[i].t);
	}
	core_buf_fini(&v);
}
END_TEST

START_TEST(data_compare_and_set)
{
	put1("cas", "v1");
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(t, "cas", 3, "v1", 2, &err), 0);
	ck_assert_int_eq(store_txn_put(t, "cas", 3, "v2", 2, NULL), 0);
	commit(&t);
	check_value("cas", "v2");
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(t, "cas", 3, "v1", 2, &err), CORE_ECONFLICT);
	ck_assert_int_eq(err.code, CORE_ECONFLICT);
	store_txn_abort(&t);
	/* Absence assertions: the uniqueness rule of ARCHITECTURE.md §4 (point keys). */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(t, "cas", 3, NULL, 0, NULL), CORE_ECONFLICT);
	ck_assert_int_eq(store_txn_assert(t, "name/inbox", 10, NULL, 0, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "name/inbox", 10, "1", 1, NULL), 0);
	/* The transaction's own write counts. */
	ck_assert_int_eq(store_txn_assert(t, "name/inbox", 10, "1", 1, NULL), 0);
	commit(&t);
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(t, "name/inbox", 10, NULL, 0, NULL), CORE_ECONFLICT);
	store_txn_abort(&t);
	/* Empty value and a value that is a prefix of the expected one differ. */
	put1("e", "");
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(t, "e", 1, "", 0, NULL), 0);
	ck_assert_int_eq(store_txn_assert(t, "e", 1, "x", 1, NULL), CORE_ECONFLICT);
	ck_assert_int_eq(store_txn_assert(t, "cas", 3, "v", 1, NULL), CORE_ECONFLICT);
	store_txn_abort(&t);
}
END_TEST

START_TEST(data_counters_and_ids)
{
	int64_t v = 0;
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_counter_add(t, "ctr", 3, 5, &v, NULL), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(store_txn_counter_add(t, "ctr", 3, -7, &v, NULL), 0);
	ck_assert_int_eq(v, -2);
	commit(&t);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(get1("ctr", 3, &b), 0);
	ck_assert_int_eq(store_counter_decode(b.p, b.len, &v), 0);
	ck_assert_int_eq(v, -2);
	ck_assert_int_eq(store_counter_decode("abc", 3, &v), CORE_ESYNTAX);
	put1("notctr", "hello");
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_counter_add(t, "notctr", 6, 1, &v, NULL), CORE_ESYNTAX);
	store_txn_abort(&t);
	/* Ids per (account, collection): independent sequences starting at 1. */
	uint64_t id = 0;
	t = begin(STORE_TXN_WRITE);
	for (uint64_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(store_txn_id_next(t, 1, 1, &id, NULL), 0);
		ck_assert_uint_eq(id, i);
	}
	ck_assert_int_eq(store_txn_id_next(t, 1, 2, &id, NULL), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(store_txn_id_next(t, 2, 1, &id, NULL), 0);
	ck_assert_uint_eq(id, 1);
	commit(&t);
	/* Ids live apart from the caller's keys: a full scan sees only what was put. */
	struct store_range all = {0};
	scan_expect(&all, "ctr|notctr|");
	store_test_reopen();
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_id_next(t, 1, 1, &id, NULL), 0);
	ck_assert_uint_eq(id, 4);
	store_txn_abort(&t);
	/* An aborted allocation is not permanent. */
	t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_id_next(t, 1, 1, &id, NULL), 0);
	ck_assert_uint_eq(id, 4);
	commit(&t);
	core_buf_fini(&b);
}
END_TEST

START_TEST(data_persistence)
{
	put1("durable", "yes");
	size_t n = 200000;
	uint8_t *v = core_xmalloc(n);
	fill_pattern(v, n, 99);
	struct store_txn *t = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_put(t, "big", 3, v, n, NULL), 0);
	commit(&t);
	store_test_reopen();
	check_value("durable", "yes");
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(get1("big", 3, &b), 0);
	ck_assert_uint_eq(b.len, n);
	ck_assert(memcmp(b.p, v, n) == 0);
	core_buf_fini(&b);
	free(v);
}
END_TEST

START_TEST(data_lock_wait_times_out)
{
	/* A transaction that waits for a point lock (or, on SQLite, for the one writer) longer
	 * than lock_timeout_ms fails with a retryable error and writes nothing. */
	store_test_params.lock_timeout_ms = 300;
	store_test_reopen();
	struct store_txn *a = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(a, "lk", 2, NULL, 0, NULL), 0);
	ck_assert_int_eq(store_txn_put(a, "lk", 2, "A", 1, NULL), 0);
	struct store_txn *b = NULL;
	struct core_error err;
	core_error_clear(&err);
	uint64_t t0 = store_mono_ms();
	int rc = store_txn_begin(store_test_data, STORE_TXN_WRITE, &b, &err);
	if (rc == 0)
		rc = store_txn_assert(b, "lk", 2, NULL, 0, &err);
	uint64_t waited = store_mono_ms() - t0;
	ck_assert_msg(rc == CORE_ECONFLICT || rc == CORE_ETEMP, "rc %d: %s", rc, err.msg);
	ck_assert_uint_ge(waited, 250);
	ck_assert_uint_lt(waited, 4000);
	store_txn_abort(&b);
	commit(&a);
	check_value("lk", "A");
}
END_TEST

/* ---------------------------------------------------------------- concurrency */

#define CONC_THREADS 8
#define CONC_ITERS 60

static int conc_counter_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	(void)arg;
	return store_txn_counter_add(t, "hits", 4, 1, NULL, err);
}

static int conc_cas_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	(void)arg;
	/* Read without a lock, then compare-and-set: a lost update would need two
	 * transactions to pass the assertion with the same old value. */
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_get(t, "casv", 4, &cur, err);
	char old[32] = "0";
	if (rc == 0) {
		snprintf(old, sizeof(old), "%.*s", (int)cur.len, cur.p);
		rc = store_txn_assert(t, "casv", 4, cur.p, cur.len, err);
	} else if (rc == CORE_ENOTFOUND) {
		rc = store_txn_assert(t, "casv", 4, NULL, 0, err);
	}
	core_buf_fini(&cur);
	if (rc < 0)
		return rc;
	char nv[32];
	int len = snprintf(nv, sizeof(nv), "%ld", strtol(old, NULL, 10) + 1);
	return store_txn_put(t, "casv", 4, nv, (size_t)len, err);
}

static void *conc_thread(void *arg)
{
	int *failures = arg;
	for (int i = 0; i < CONC_ITERS; i++) {
		int (*fns[2])(struct store_txn *, void *, struct core_error *) = {conc_counter_fn,
										  conc_cas_fn};
		for (int f = 0; f < 2; f++) {
			int rc;
			int tries = 0;
			do {
				struct core_error err;
				rc = store_data_write_retry(store_test_data, fns[f], NULL, &err);
			} while ((rc == CORE_ETEMP || rc == CORE_ECONFLICT) && ++tries < 50);
			if (rc != 0)
				(*failures)++;
		}
	}
	return NULL;
}

START_TEST(data_concurrency_no_lost_update)
{
	pthread_t th[CONC_THREADS];
	int failures[CONC_THREADS] = {0};
	for (int i = 0; i < CONC_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_thread, &failures[i]), 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(failures[i], 0);
	}
	struct core_buf b = CORE_BUF_INIT;
	int64_t v = 0;
	ck_assert_int_eq(get1("hits", 4, &b), 0);
	ck_assert_int_eq(store_counter_decode(b.p, b.len, &v), 0);
	ck_assert_int_eq(v, CONC_THREADS * CONC_ITERS);
	ck_assert_int_eq(get1("casv", 4, &b), 0);
	ck_assert_int_eq(strtol(core_buf_cstr(&b), NULL, 10), CONC_THREADS * CONC_ITERS);
	core_buf_fini(&b);
}
END_TEST

/* Read-modify-write under store_txn_get_for_update: writers of one key wait for each other
 * and none fails (no conflict to retry), and no increment is lost. */
static void *lock_thread(void *arg)
{
	int *conflicts = arg;
	for (int i = 0; i < CONC_ITERS; i++) {
		struct core_error err;
		struct store_txn *t = NULL;
		int rc = store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, &err);
		struct core_buf cur = CORE_BUF_INIT;
		if (rc == 0)
			rc = store_txn_get_for_update(t, "lockv", 5, &cur, &err);
		long v = 0;
		if (rc == 0)
			v = strtol(core_buf_cstr(&cur), NULL, 10);
		if (rc == CORE_ENOTFOUND)
			rc = 0;
		char nv[32];
		int len = snprintf(nv, sizeof(nv), "%ld", v + 1);
		if (rc == 0)
			rc = store_txn_put(t, "lockv", 5, nv, (size_t)len, &err);
		if (rc == 0)
			rc = store_txn_commit(&t, &err);
		else
			store_txn_abort(&t);
		core_buf_fini(&cur);
		if (rc != 0)
			(*conflicts)++;
	}
	return NULL;
}

START_TEST(data_get_for_update_serialises)
{
	pthread_t th[CONC_THREADS];
	int conflicts[CONC_THREADS] = {0};
	for (int i = 0; i < CONC_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, lock_thread, &conflicts[i]), 0);
	int total = 0;
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		total += conflicts[i];
	}
	ck_assert_int_eq(total, 0);
	check_value("lockv", "480");
	_Static_assert(CONC_THREADS * CONC_ITERS == 480, "the expected count above");
	/* Not in a read transaction. */
	struct store_txn *r = begin(STORE_TXN_READ);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(store_txn_get_for_update(r, "lockv", 5, &b, NULL), CORE_EPERM);
	store_txn_abort(&r);
	core_buf_fini(&b);
}
END_TEST

START_TEST(data_conflict_detected)
{
	/* Two open transactions assert the same point key: the second cannot pass its
	 * assertion while the first holds the key, and after the first commits it sees the
	 * new value and fails (or waits out the lock and fails). */
	put1("pk", "0");
	struct store_txn *a = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(a, "pk", 2, "0", 1, NULL), 0);
	ck_assert_int_eq(store_txn_put(a, "pk", 2, "A", 1, NULL), 0);
	commit(&a);
	struct store_txn *b = begin(STORE_TXN_WRITE);
	ck_assert_int_eq(store_txn_assert(b, "pk", 2, "0", 1, NULL), CORE_ECONFLICT);
	store_txn_abort(&b);
	check_value("pk", "A");
}
END_TEST

Suite *store_suite_data(void)
{
	Suite *s = suite_create("data");
	TCase *tc = tcase_create("ops");
	tcase_add_checked_fixture(tc, store_test_setup, store_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, data_put_get_delete);
	tcase_add_test(tc, data_key_limits);
	tcase_add_test(tc, data_bytewise_order);
	tcase_add_test(tc, data_prefix_scans);
	tcase_add_test(tc, data_prefix_ff);
	tcase_add_test(tc, data_scan_stop);
	tcase_add_test(tc, data_multi_get);
	tcase_add_test(tc, data_big_values_chunked);
	tcase_add_test(tc, data_chunks_known);
	tcase_add_test(tc, data_txn_size_limit);
	tcase_add_test(tc, data_txn_time_limit);
	tcase_add_test(tc, data_txn_isolation);
	tcase_add_test(tc, data_snapshots_in_sequence);
	tcase_add_test(tc, data_compare_and_set);
	tcase_add_test(tc, data_counters_and_ids);
	tcase_add_test(tc, data_persistence);
	tcase_add_test(tc, data_conflict_detected);
	tcase_add_test(tc, data_lock_wait_times_out);
	tcase_add_test(tc, data_concurrency_no_lost_update);
	tcase_add_test(tc, data_get_for_update_serialises);
	suite_add_tcase(s, tc);
	return s;
}

int store_test_run(const struct store_test_env *env, Suite *first, ...)
{
	store_test_env = env;
	SRunner *sr = srunner_create(first);
	va_list ap;
	va_start(ap, first);
	Suite *s;
	while ((s = va_arg(ap, Suite *)) != NULL)
		srunner_add_suite(sr, s);
	va_end(ap);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
