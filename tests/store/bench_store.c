/*
 * bench_store.c: throughput of the store backends (issue 3 benchmark): point get, put (one
 * synced commit each), batched commit (1000 small puts per commit), range scan, and blob
 * put/get at 1 KB, 100 KB and 10 MB. One table per backend on stdout.
 * Point gets are measured twice: "mem" rows right after the writes (RocksDB: every key is
 * still in the memtable), "file" rows after the store is closed and reopened (RocksDB:
 * the keys are in table files, read through the bloom filter, index and block cache, as
 * in a long-running store). Each has a row with 1 get per read transaction and one with
 * 100 (one command's worth).
 *
 *   store_bench [DIR]     DIR: where the embedded stores go (default: a temp dir)
 * PostgreSQL is measured when STAUNCH_TEST_PG holds a connection string. Each figure is
 * measured for about a second (at least a few operations), single-threaded.
 * Aims (issue 3): RocksDB point gets above 500k/s and batched small writes above 50k/s on
 * one core; PostgreSQL batched writes within 5x of RocksDB.
 */
#include <dirent.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_on(int rc, const struct core_error *err, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "bench: %s: %s (%s)\n", what, err->msg, core_err_name(rc));
		exit(1);
	}
}

#define NKEYS 100000

/* "bench/%08lu" without snprintf: the get rows measure the store, not the formatting. */
static int key_of(char *k, unsigned long i)
{
	memcpy(k, "bench/", 6);
	for (int d = 13; d >= 6; d--, i /= 10)
		k[d] = (char)('0' + i % 10);
	k[14] = '\0';
	return 14;
}

/* Process CPU time: on a shared machine, rate per CPU second is the steadier figure. */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_t0;

/* Start timing a row: wall clock returned, CPU clock kept for row(). */
static double bench_start(void)
{
	cpu_t0 = cpu_s();
	return now_s();
}

static void row(const char *name, double ops, double secs, const char *unit, double bytes)
{
	double cpu = cpu_s() - cpu_t0;
	char per_cpu[32];
	snprintf(per_cpu, sizeof(per_cpu), "%.0f", cpu > 0 ? ops / cpu : 0.0);
	if (bytes > 0)
		printf("| %-25s | %12.0f | %12s | %-8s | %10.1f MB/s |\n", name, ops / secs,
		       per_cpu, unit, bytes / secs / 1e6);
	else
		printf("| %-25s | %12.0f | %12s | %-8s | %15s |\n", name, ops / secs, per_cpu, unit,
		       "");
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(unsigned long *)arg)++;
	return 0;
}

static int sink(void *arg, const void *p, size_t n)
{
	(void)p;
	*(uint64_t *)arg += n;
	return 0;
}

/* STAUNCH_BENCH_GETS=N: exactly N gets in each point-get row and N scans in the scan row
 * (for instruction counts with callgrind or perf stat) instead of one second's worth. */
static unsigned long bench_fixed(void)
{
	const char *e = getenv("STAUNCH_BENCH_GETS");
	return e != NULL ? strtoul(e, NULL, 10) : 0;
}

/* One point-get row: random keys, per_txn gets in each read transaction. Not inlined, so
 * that callgrind --toggle-collect=bench_gets counts exactly the rows' work. */
__attribute__((noinline)) static void bench_gets(struct store_data *d, const char *label,
						 int per_txn, unsigned long *x,
						 struct core_buf *val)
{
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = NULL;
	char k[32];
	unsigned long fixed = bench_fixed(), n = 0;
	double t0 = bench_start();
	while (fixed > 0 ? n < fixed : (n < 1000 || now_s() - t0 < 1.0)) {
		die_on(store_txn_begin(d, STORE_TXN_READ, &t, &err), &err, "begin");
		for (int i = 0; i < per_txn; i++, n++) {
			*x = *x * 6364136223846793005ul + 1442695040888963407ul;
			int kl = key_of(k, (*x >> 33) % NKEYS);
			die_on(store_txn_get(t, k, (size_t)kl, val, &err), &err, "get");
			if (val->len == 0) {
				fprintf(stderr, "bench: get: empty value\n");
				exit(1);
			}
		}
		store_txn_abort(&t);
	}
	row(label, (double)n, now_s() - t0, "gets", 0);
}

/* Table files (*.sst) in a RocksDB directory. */
static unsigned sst_count(const char *dir)
{
	DIR *dp = opendir(dir);
	unsigned n = 0;
	if (dp == NULL)
		return 0;
	for (struct dirent *e; (e = readdir(dp)) != NULL;) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".sst") == 0)
			n++;
	}
	closedir(dp);
	return n;
}

static void bench_backend(const char *backend, const struct store_params *p, const char *blobs)
{
	struct core_error err;
	core_error_clear(&err);
	struct store_data *d = NULL;
	die_on(store_data_open(backend, p, &d, &err), &err, "open");
	printf("\n%s\n\n", backend);
	printf("| %-25s | %12s | %12s | %-8s | %15s |\n", "operation", "rate", "per CPU s", "per s",
	       "throughput");
	printf("|%s|%s|%s|%s|%s|\n", "---------------------------", "--------------",
	       "--------------", "----------", "-----------------");
	char k[32], v[64];
	memset(v, 'v', sizeof(v));
	struct store_txn *t = NULL;

	/* Batched commit: 1000 puts of 64-byte values per transaction. */
	double t0 = bench_start();
	unsigned long n = 0;
	while (n < NKEYS) {
		die_on(store_txn_begin(d, STORE_TXN_WRITE, &t, &err), &err, "begin");
		for (int i = 0; i < 1000; i++, n++)
			die_on(store_txn_put(t, k, (size_t)key_of(k, n), v, sizeof(v), &err), &err,
			       "put");
		die_on(store_txn_commit(&t, &err), &err, "commit");
	}
	row("batched put (1000/commit)", (double)n, now_s() - t0, "keys", 0);

	/* Put: one synced commit per key. */
	t0 = bench_start();
	n = 0;
	while (n < 20 || (now_s() - t0 < 1.0 && n < 50000)) {
		die_on(store_txn_begin(d, STORE_TXN_WRITE, &t, &err), &err, "begin");
		die_on(store_txn_put(t, k, (size_t)key_of(k, n % NKEYS), v, 32, &err), &err, "put");
		die_on(store_txn_commit(&t, &err), &err, "commit");
		n++;
	}
	row("put (1/commit, synced)", (double)n, now_s() - t0, "commits", 0);

	/* Point gets on what was just written (RocksDB: every key still in the memtable). */
	struct core_buf val = CORE_BUF_INIT;
	unsigned long x = 12345;
	bench_gets(d, "point get mem (1/txn)", 1, &x, &val);
	bench_gets(d, "point get mem (100/txn)", 100, &x, &val);

	/* STAUNCH_BENCH_GETS_ONLY=1: only the loading and point-get rows (for profiling). */
	const char *go = getenv("STAUNCH_BENCH_GETS_ONLY");
	bool gets_only = go != NULL && strcmp(go, "1") == 0;

	/* Range scan: 100 keys from a random start. */
	t0 = bench_start();
	n = 0;
	unsigned long keys = 0;
	unsigned long fixed = bench_fixed();
	while (!gets_only && (fixed > 0 ? n < fixed : (n < 100 || (now_s() - t0 < 1.0)))) {
		die_on(store_txn_begin(d, STORE_TXN_READ, &t, &err), &err, "begin");
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		int kl = key_of(k, (x >> 33) % (NKEYS - 200));
		struct store_range r = {.lo = k, .lo_len = (size_t)kl, .limit = 100};
		die_on(store_txn_scan(t, &r, count_cb, &keys, &err), &err, "scan");
		store_txn_abort(&t);
		n++;
	}
	if (!gets_only)
		row("range scan (100 keys)", (double)keys, now_s() - t0, "keys", 0);

	/* Point gets after a close and reopen: RocksDB writes the recovered memtable into
	 * table files when it opens, so these gets go through the bloom filter, index and
	 * block cache, the way a long-running mail store reads. */
	store_data_free(&d);
	die_on(store_data_open(backend, p, &d, &err), &err, "reopen");
	char files[64] = "";
	if (strcmp(backend, "rocksdb") == 0)
		snprintf(files, sizeof(files), ", %u table files", sst_count(p->path));
	/* Every key read once, untimed: the rows measure a warm block cache. */
	for (unsigned long i = 0; i < NKEYS; i++) {
		if (i % 1000 == 0)
			die_on(store_txn_begin(d, STORE_TXN_READ, &t, &err), &err, "begin");
		die_on(store_txn_get(t, k, (size_t)key_of(k, i), &val, &err), &err, "warm-up get");
		if (i % 1000 == 999 || i + 1 == NKEYS)
			store_txn_abort(&t);
	}
	bench_gets(d, "point get file (1/txn)", 1, &x, &val);
	bench_gets(d, "point get file (100/txn)", 100, &x, &val);
	core_buf_fini(&val);
	if (gets_only) {
		store_data_free(&d);
		printf("\n(file rows: after a reopen%s)\n", files);
		return;
	}

	/* Blobs. */
	struct store_blob *b = NULL;
	struct store_params bp = {.path = blobs};
	die_on(store_blob_open(blobs != NULL ? "fs" : backend, &bp, d, &b, &err), &err,
	       "blob open");
	static const size_t sizes[] = {1024, 100 * 1024, 10 * 1024 * 1024};
	static const char *const names[] = {"1 KB", "100 KB", "10 MB"};
	uint8_t *data = core_xmalloc(sizes[2]);
	for (size_t i = 0; i < sizes[2]; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t s = 0; s < 3; s++) {
		struct store_blob_id ids[64];
		t0 = bench_start();
		n = 0;
		while (n < 64 && (n < 3 || now_s() - t0 < 1.0)) {
			memcpy(data, &n, sizeof(n)); /* distinct content each time */
			memcpy(data + 8, &t0, sizeof(t0));
			struct store_blob_writer *w = NULL;
			die_on(store_blob_write_begin(b, &w, &err), &err, "blob begin");
			die_on(store_blob_write(w, data, sizes[s], &err), &err, "blob write");
			die_on(store_blob_write_finish(&w, 1, 0, &ids[n], &err), &err,
			       "blob finish");
			n++;
		}
		char label[40];
		snprintf(label, sizeof(label), "blob put %s", names[s]);
		double secs = now_s() - t0;
		row(label, (double)n, secs, "blobs", (double)n * (double)sizes[s]);
		unsigned long stored = n;
		t0 = bench_start();
		n = 0;
		uint64_t bytes = 0;
		while (n < 3 || now_s() - t0 < 1.0) {
			die_on(store_blob_read(b, 1, &ids[n % stored], 0, UINT64_MAX, sink, &bytes,
					       &err),
			       &err, "blob read");
			n++;
		}
		snprintf(label, sizeof(label), "blob get %s", names[s]);
		secs = now_s() - t0;
		row(label, (double)n, secs, "blobs", (double)bytes);
	}
	free(data);
	store_blob_free(&b);
	store_data_free(&d);
	printf("\n(file rows: after a reopen%s)\n", files);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static bool wanted(const char *only, const char *name)
{
	if (only == NULL || only[0] == '\0')
		return true;
	size_t n = strlen(name);
	for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
		if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	char dir[512];
	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s/staunch-bench-XXXXXX", argv[1]);
	else
		snprintf(dir, sizeof(dir), "/tmp/staunch-bench-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	char path[600], blobs[600];
	snprintf(path, sizeof(path), "%s/rocksdb", dir);
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	/* STAUNCH_BENCH_BACKENDS: a comma-separated subset ("rocksdb,sqlite"), default all. */
	const char *only = getenv("STAUNCH_BENCH_BACKENDS");
	struct store_params p = {.path = path};
	if (wanted(only, "rocksdb"))
		bench_backend("rocksdb", &p, blobs);
	snprintf(path, sizeof(path), "%s/data.sqlite", dir);
	if (wanted(only, "sqlite"))
		bench_backend("sqlite", &p, NULL);
	const char *pg = getenv("STAUNCH_TEST_PG");
	if (!wanted(only, "postgresql")) {
		/* not asked for */
	} else if (pg != NULL) {
		PGconn *c = PQconnectdb(pg);
		if (PQstatus(c) == CONNECTION_OK)
			PQclear(PQexec(c, "SET client_min_messages = warning; "
					  "DROP TABLE IF EXISTS staunch_kv"));
		PQfinish(c);
		struct store_params pp = {.conninfo = pg};
		bench_backend("postgresql", &pp, NULL);
	} else {
		printf("\npostgresql: skipped (STAUNCH_TEST_PG unset)\n");
	}
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
