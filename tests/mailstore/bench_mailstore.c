/*
 * bench_mailstore.c: the mail-store benchmark of issue 6 (run by ci/bench/mailstore): one
 * table per backend with
 *   - deliveries/s of 10 KB messages into one account and spread over 1,000 accounts (each
 *     delivery one synced commit, as a server runs);
 *   - listing 10,000 messages of one mailbox with their envelope fields (one query for the
 *     ids, one snapshot read of the records);
 *   - full-text indexing rate and text queries over 2,000 indexed messages of 10 KB;
 *   - Email/query sorted by date over 100,000 messages of one mailbox (first page, a deep
 *     page, collapsed threads), and the general path (whole account, a keyword filter);
 *   - bytes of index per message: the receivedAt index (exact, key + value bytes), all
 *     mail-store records, and the store's disk growth from full-text indexing.
 *
 *   mailstore_bench [DIR [N]]   DIR: where embedded stores go (default /tmp); N: messages of
 *                               the query set (default 100000; STAUNCH_BENCH_PG_N overrides
 *                               it for PostgreSQL)
 * PostgreSQL is measured when STAUNCH_TEST_PG holds a connection string;
 * STAUNCH_BENCH_BACKENDS picks a comma-separated subset. Bulk loads (the 2,000, 10,000 and
 * N sets) commit without fsync on RocksDB and SQLite to keep the run short; PostgreSQL keeps
 * synchronous_commit on whatever it is asked (store_pgsql.c), so its loads are synced. Rows
 * say which.
 */
#include <dirent.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "mailstore/mailstore_int.h"
#include "mailstore/mailstore_query.h"

#define ACCT_FTS 1u
#define ACCT_LIST 2u
#define ACCT_QUERY 3u
#define ACCT_ONE 4u
#define ACCT_MANY 1001u /* 1001 .. 2000 */
#define NLIST 10000u
#define NFTS 2000u
#define T0 1700000000

static struct core_error err;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_on(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "bench: %s: %s (%s)\n", what, err.msg, core_err_name(rc));
		exit(1);
	}
}

static void row(const char *name, double v, const char *unit)
{
	printf("| %-58s | %12.3f | %-12s |\n", name, v, unit);
	fflush(stdout);
}

/* ---------------------------------------------------------------------------------- */
/* Messages                                                                           */
/* ---------------------------------------------------------------------------------- */

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A vocabulary of 2,000 made-up words, so text reuses terms as real text does. */
static char vocab[2000][12];

static void vocab_init(void)
{
	static const char *const syl[] = {"ka",  "lo", "mi",  "ren", "tas", "vo",  "qui", "dor",
					  "sel", "an", "ber", "cu",  "fi",  "gra", "hol", "pe"};
	for (size_t i = 0; i < 2000; i++) {
		size_t n = 2 + i % 3, v = i;
		vocab[i][0] = '\0';
		for (size_t j = 0; j < n; j++) {
			strcat(vocab[i], syl[v % 16]);
			v /= 16;
		}
	}
}

static void words(struct core_buf *b, size_t bytes)
{
	size_t start = b->len, line = 0;
	while (b->len - start < bytes) {
		/* Skewed towards the first words, as word frequencies in text are. */
		uint64_t r1 = rnd() % 2000, r2 = rnd() % 2000;
		const char *w = vocab[r1 * r2 / 2000];
		core_buf_append_str(b, w);
		line += strlen(w) + 1;
		if (line > 70) {
			core_buf_append_str(b, "\r\n");
			line = 0;
		} else {
			core_buf_putc(b, ' ');
		}
	}
	core_buf_append_str(b, "\r\n");
}

/* A message of about size bytes; i makes the Message-ID unique; replies to i - 1 when
 * reply (so threads form). */
static void make_msg(struct core_buf *b, unsigned long i, size_t size, bool reply)
{
	core_buf_reset(b);
	core_buf_printf(b,
			"From: User %lu <user%lu@example.com>\r\n"
			"To: Team <team@example.org>\r\n"
			"Subject: %s %s %s\r\n"
			"Date: Mon, 6 Jan 2025 10:%02lu:%02lu +0000\r\n"
			"Message-ID: <bench%lu@example.com>\r\n",
			i % 97, i % 97, vocab[rnd() % 2000], vocab[rnd() % 2000],
			vocab[rnd() % 2000], (i / 60) % 60, i % 60, i);
	if (reply)
		core_buf_printf(b, "In-Reply-To: <bench%lu@example.com>\r\n", i - 1);
	core_buf_append_str(b,
			    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
	size_t head = b->len;
	words(b, size > head ? size - head : 16);
}

/* ---------------------------------------------------------------------------------- */
/* Stores                                                                             */
/* ---------------------------------------------------------------------------------- */

struct env {
	const char *backend, *blob_backend;
	char path[600], blobs[600];
	const char *conninfo;
	struct store_data *d;
	struct store_blob *b;
	struct store_fts *f;
	struct mailstore *ms;
};

static void env_open(struct env *e, bool no_sync)
{
	struct store_params p = {.no_sync = no_sync, .pool_size = 4};
	if (e->conninfo != NULL)
		p.conninfo = e->conninfo;
	else
		p.path = e->path;
	die_on(store_data_open(e->backend, &p, &e->d, &err), "open");
	struct store_params bp = p;
	if (strcmp(e->blob_backend, "fs") == 0)
		bp.path = e->blobs;
	die_on(store_blob_open(e->blob_backend, &bp, e->d, &e->b, &err), "blob open");
	die_on(store_fts_open_data(e->d, &e->f, &err), "fts open");
	die_on(mailstore_open(e->d, e->b, NULL, &e->ms, &err), "mailstore open");
	mailstore_set_fts(e->ms, e->f);
}

static void env_close(struct env *e)
{
	mailstore_free(&e->ms);
	store_fts_free(&e->f);
	store_blob_free(&e->b);
	store_data_free(&e->d);
}

static uint64_t du_total;
static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_size;
	return 0;
}

/* Bytes the data store takes on disk (closed, so everything is flushed). */
static uint64_t env_disk(struct env *e)
{
	if (e->conninfo != NULL) {
		PGconn *c = PQconnectdb(e->conninfo);
		uint64_t n = 0;
		if (PQstatus(c) == CONNECTION_OK) {
			PGresult *r = PQexec(c, "SELECT pg_total_relation_size('staunch_kv')");
			if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
				n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
			PQclear(r);
		}
		PQfinish(c);
		return n;
	}
	du_total = 0;
	struct stat st;
	if (stat(e->path, &st) == 0 && S_ISDIR(st.st_mode)) {
		nftw(e->path, du_cb, 16, FTW_PHYS);
	} else {
		char w[700];
		du_total = stat(e->path, &st) == 0 ? (uint64_t)st.st_size : 0;
		snprintf(w, sizeof(w), "%s-wal", e->path);
		if (stat(w, &st) == 0)
			du_total += (uint64_t)st.st_size;
	}
	return du_total;
}

static void deliver(struct env *e, uint64_t account, uint64_t mailbox, const struct core_buf *m,
		    int64_t at)
{
	die_on(mailstore_email_append(e->ms, account, m->p, m->len, &mailbox, 1, NULL, 0, at, NULL,
				      &err),
	       "deliver");
}

static uint64_t inbox_of(struct env *e, uint64_t account)
{
	uint64_t id = 0;
	die_on(mailstore_account_ensure(e->ms, account, &err), "account");
	die_on(mailstore_mailbox_find_role(e->ms, account, MAILSTORE_ROLE_INBOX, &id, &err),
	       "inbox");
	return id;
}

struct bytes {
	uint64_t keys, bytes;
};

static int bytes_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)v;
	struct bytes *b = arg;
	b->keys++;
	b->bytes += kl + vl;
	return 0;
}

/* Logical bytes (keys + values) under a prefix of the data store. */
static struct bytes prefix_bytes(struct env *e, const uint8_t *pre, size_t pl)
{
	struct bytes b = {0};
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	struct store_txn *t = NULL;
	die_on(store_txn_begin(e->d, STORE_TXN_READ, &t, &err), "begin");
	die_on(store_txn_scan(t, &r, bytes_cb, &b, &err), "scan");
	store_txn_abort(&t);
	return b;
}

/* Run a query reps times; returns ms per query. */
static double time_query(struct env *e, uint64_t account, const struct mailstore_query *q, int reps,
			 uint64_t *total_out)
{
	struct core_arena *a = core_arena_new(0);
	struct mailstore_query_result r = {0};
	double t0 = now_s();
	for (int i = 0; i < reps; i++) {
		core_arena_reset(a);
		die_on(mailstore_email_query(e->ms, account, q, a, &r, &err), "query");
	}
	double ms = (now_s() - t0) * 1000.0 / reps;
	if (total_out != NULL)
		*total_out = r.total;
	core_arena_free(&a);
	return ms;
}

static void bench_backend(struct env *e, unsigned long nquery)
{
	/* The same messages on every backend. */
	rnd_state = 88172645463325252ull;
	printf("\n%s (blobs: %s)\n\n", e->backend, e->blob_backend);
	printf("| %-58s | %12s | %-12s |\n", "measure", "value", "unit");
	printf("|%s|%s|%s|\n", "------------------------------------------------------------",
	       "--------------", "--------------");
	struct core_buf m = CORE_BUF_INIT;
	char label[128];

	/* 1. Full-text: 2,000 messages of 10 KB (bulk, unsynced), indexed, then searched. */
	env_open(e, true);
	uint64_t inbox = inbox_of(e, ACCT_FTS);
	for (unsigned long i = 0; i < NFTS; i++) {
		make_msg(&m, 5000000 + i, 10 * 1024, false);
		deliver(e, ACCT_FTS, inbox, &m, T0 + (int64_t)i);
	}
	env_close(e);
	uint64_t disk0 = env_disk(e);
	env_open(e, true);
	double t0 = now_s();
	int rc, done = 0;
	while ((rc = mailstore_index_run(e->ms, 200, &err)) > 0)
		done += rc;
	die_on(rc, "index");
	row("full-text indexing, 10 KB messages", done / (now_s() - t0), "msg/s");
	env_close(e);
	uint64_t disk1 = env_disk(e);
	if (done != (int)NFTS) {
		fprintf(stderr, "bench: indexed %d of %u\n", done, NFTS);
		exit(1);
	}
	env_open(e, false);
	struct mailstore_filter tf = {
		.has_in_mailbox = true, .in_mailbox = inbox, .from = "user42"};
	struct mailstore_query tq = {.filter = &tf, .has_limit = true, .limit = 50};
	uint64_t total = 0;
	double ms = time_query(e, ACCT_FTS, &tq, 5, &total);
	snprintf(label, sizeof(label), "text query (from) over 2,000 indexed: %llu hits",
		 (unsigned long long)total);
	row(label, ms, "ms");
	tf = (struct mailstore_filter){
		.has_in_mailbox = true, .in_mailbox = inbox, .body = vocab[1234]};
	ms = time_query(e, ACCT_FTS, &tq, 3, &total);
	snprintf(label, sizeof(label), "text query (body word) over 2,000 indexed: %llu hits",
		 (unsigned long long)total);
	row(label, ms, "ms");
	env_close(e);

	/* 2. The listing set: 10,000 messages of 10 KB in one mailbox (bulk, unsynced). */
	env_open(e, true);
	inbox = inbox_of(e, ACCT_LIST);
	t0 = now_s();
	for (unsigned long i = 0; i < NLIST; i++) {
		make_msg(&m, i, 10 * 1024, false);
		deliver(e, ACCT_LIST, inbox, &m, T0 + (int64_t)i);
	}
	row(e->conninfo != NULL ? "bulk delivery 10 KB, 1 account (synced)"
				: "bulk delivery 10 KB, 1 account (no fsync)",
	    NLIST / (now_s() - t0), "msg/s");
	env_close(e);
	env_open(e, false);

	/* 3. Listing 10,000 with envelope fields. */
	struct core_arena *a = core_arena_new(0);
	int reps = 3;
	t0 = now_s();
	size_t listed = 0;
	for (int k = 0; k < reps; k++) {
		core_arena_reset(a);
		struct mailstore_filter f = {.has_in_mailbox = true, .in_mailbox = inbox};
		struct mailstore_query q = {.filter = &f};
		struct mailstore_query_result r;
		die_on(mailstore_email_query(e->ms, ACCT_LIST, &q, a, &r, &err), "list query");
		struct mailstore_email *es = core_arena_alloc(a, r.nids * sizeof(*es));
		struct mailstore_parsed *ps = core_arena_alloc(a, r.nids * sizeof(*ps));
		bool *found = core_arena_alloc(a, r.nids * sizeof(*found));
		die_on(mailstore_email_fetch(e->ms, ACCT_LIST, r.ids, r.nids, a, es, ps, found,
					     &err),
		       "fetch");
		for (size_t i = 0; i < r.nids; i++)
			if (found[i] && ps[i].envelope.subject_raw != NULL && ps[i].nfrom > 0)
				listed++;
	}
	double secs = (now_s() - t0) / reps;
	if (listed != (size_t)reps * NLIST) {
		fprintf(stderr, "bench: listed %zu of %u\n", listed / (size_t)reps, NLIST);
		exit(1);
	}
	row("list 10,000 of one mailbox with envelope (one pass)", secs * 1000.0, "ms");
	row("  listing rate", NLIST / secs, "msg/s");
	env_close(e);

	/* 4. The query set: nquery messages of 1 KB in one mailbox, threads of four. */
	env_open(e, true);
	inbox = inbox_of(e, ACCT_QUERY);
	t0 = now_s();
	for (unsigned long i = 0; i < nquery; i++) {
		make_msg(&m, 1000000 + i, 1024, i % 4 != 0);
		/* Mostly ascending dates with some disorder, as real arrival is. */
		deliver(e, ACCT_QUERY, inbox, &m, T0 + (int64_t)i * 10 + (int64_t)(rnd() % 50));
	}
	snprintf(label, sizeof(label), "bulk delivery 1 KB x %lu, 1 account (%s)", nquery,
		 e->conninfo != NULL ? "synced" : "no fsync");
	row(label, nquery / (now_s() - t0), "msg/s");
	env_close(e);
	env_open(e, false);
	struct mailstore_filter qf = {.has_in_mailbox = true, .in_mailbox = inbox};
	struct mailstore_sort sd = {.prop = MAILSTORE_SORT_RECEIVED_AT};
	struct mailstore_query q = {
		.filter = &qf, .sort = &sd, .nsort = 1, .has_limit = true, .limit = 50};
	snprintf(label, sizeof(label), "query %lu: mailbox by date desc, first 50", nquery);
	row(label, time_query(e, ACCT_QUERY, &q, 50, &total), "ms");
	if (total != nquery) {
		fprintf(stderr, "bench: total %llu of %lu\n", (unsigned long long)total, nquery);
		exit(1);
	}
	q.position = (int64_t)nquery / 2;
	snprintf(label, sizeof(label), "query %lu: mailbox by date desc, position %lu", nquery,
		 nquery / 2);
	row(label, time_query(e, ACCT_QUERY, &q, 5, NULL), "ms");
	q.position = 0;
	q.collapse_threads = true;
	snprintf(label, sizeof(label), "query %lu: same, collapseThreads, first 50", nquery);
	row(label, time_query(e, ACCT_QUERY, &q, 50, NULL), "ms");
	q.collapse_threads = false;
	q.filter = NULL;
	snprintf(label, sizeof(label), "query %lu: whole account by date (full scan)", nquery);
	row(label, time_query(e, ACCT_QUERY, &q, 3, NULL), "ms");
	qf.not_keyword = "$flagged";
	q.filter = &qf;
	snprintf(label, sizeof(label), "query %lu: mailbox + notKeyword by date (scan)", nquery);
	row(label, time_query(e, ACCT_QUERY, &q, 3, NULL), "ms");
	sd.prop = MAILSTORE_SORT_SUBJECT;
	sd.ascending = true;
	qf.not_keyword = NULL;
	snprintf(label, sizeof(label), "query %lu: mailbox by subject (parsed records)", nquery);
	row(label, time_query(e, ACCT_QUERY, &q, 2, NULL), "ms");

	/* 5. Bytes per message. */
	uint8_t pre[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, ACCT_QUERY, MS_F_DATE, inbox);
	struct bytes bi = prefix_bytes(e, pre, pl);
	row("receivedAt index per message (key + value)", (double)bi.bytes / (double)nquery,
	    "bytes");
	/* 'M' + the account number: every record of the account. */
	pl = ms_key(pre, ACCT_QUERY, MS_F_ACCOUNT) - 1;
	struct bytes ball = prefix_bytes(e, pre, pl);
	row("all mail-store records per 1 KB message (keys + values)",
	    (double)ball.bytes / (double)nquery, "bytes");
	row("full-text index per 10 KB message (disk growth)",
	    disk1 > disk0 ? (double)(disk1 - disk0) / NFTS : 0.0, "bytes");
	core_arena_free(&a);
	env_close(e);

	/* 6. Deliveries with a synced commit each. */
	env_open(e, true);
	for (uint64_t acc = ACCT_MANY; acc < ACCT_MANY + 1000; acc++)
		(void)inbox_of(e, acc);
	inbox = inbox_of(e, ACCT_ONE);
	env_close(e);
	env_open(e, false);
	unsigned long n = 0;
	t0 = now_s();
	while (n < 20 || (now_s() - t0 < 5.0 && n < 5000)) {
		make_msg(&m, 2000000 + n, 10 * 1024, false);
		deliver(e, ACCT_ONE, inbox, &m, 0);
		n++;
	}
	row("deliveries 10 KB, 1 account (synced)", n / (now_s() - t0), "msg/s");
	uint64_t boxes[1000];
	for (size_t i = 0; i < 1000; i++)
		boxes[i] = inbox_of(e, ACCT_MANY + i);
	n = 0;
	t0 = now_s();
	while (n < 20 || (now_s() - t0 < 5.0 && n < 5000)) {
		make_msg(&m, 3000000 + n, 10 * 1024, false);
		deliver(e, ACCT_MANY + n % 1000, boxes[n % 1000], &m, 0);
		n++;
	}
	row("deliveries 10 KB, over 1,000 accounts (synced)", n / (now_s() - t0), "msg/s");
	env_close(e);
	core_buf_fini(&m);
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
	snprintf(dir, sizeof(dir), "%s/staunch-mbench-XXXXXX", argc > 1 ? argv[1] : "/tmp");
	unsigned long nquery = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000ul;
	if (nquery < 100)
		nquery = 100;
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	vocab_init();
	const char *only = getenv("STAUNCH_BENCH_BACKENDS");
	struct env e = {.backend = "rocksdb", .blob_backend = "fs"};
	snprintf(e.path, sizeof(e.path), "%s/rocksdb", dir);
	snprintf(e.blobs, sizeof(e.blobs), "%s/blobs", dir);
	if (wanted(only, "rocksdb"))
		bench_backend(&e, nquery);
	e = (struct env){.backend = "sqlite", .blob_backend = "sqlite"};
	snprintf(e.path, sizeof(e.path), "%s/data.sqlite", dir);
	if (wanted(only, "sqlite"))
		bench_backend(&e, nquery);
	const char *pg = getenv("STAUNCH_TEST_PG");
	if (!wanted(only, "postgresql")) {
		/* not asked for */
	} else if (pg != NULL && pg[0] != '\0') {
		PGconn *c = PQconnectdb(pg);
		if (PQstatus(c) == CONNECTION_OK)
			PQclear(PQexec(c, "SET client_min_messages = warning; "
					  "DROP TABLE IF EXISTS staunch_kv"));
		PQfinish(c);
		e = (struct env){
			.backend = "postgresql", .blob_backend = "postgresql", .conninfo = pg};
		/* Every PostgreSQL commit is synced: STAUNCH_BENCH_PG_N may ask for a smaller
		 * query set there. */
		const char *pn = getenv("STAUNCH_BENCH_PG_N");
		unsigned long pgn = pn != NULL && pn[0] != '\0' ? strtoul(pn, NULL, 10) : nquery;
		bench_backend(&e, pgn < 100 ? 100 : pgn);
	} else {
		printf("\npostgresql: skipped (STAUNCH_TEST_PG unset)\n");
	}
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
