/*
 * store_pgsql.c: the PostgreSQL data backend through libpq (ARCHITECTURE.md §4).
 *
 * Schema: staunch_kv(s smallint, k bytea, v bytea, PRIMARY KEY (s, k)). bytea compares
 * bytewise with shorter first, the order of the contract; keys are never text.
 * Parameters and results travel in binary format through prepared statements, prepared
 * once per connection.
 *
 * Concurrency: write transactions run at READ COMMITTED. A point lock is a
 * transaction-scoped advisory lock on a 64-bit hash of (space, key), taken before a
 * "locked" read (so the read that follows sees the latest committed value, also for a key
 * that does not exist yet) and before every write of the key, so a compare-and-set cannot
 * be overtaken. Hash collisions only serialise more than needed. Deadlocks (40P01),
 * serialization failures (40001) and lock timeouts (55P03) are CORE_ECONFLICT: retry the
 * transaction. Read transactions are REPEATABLE READ READ ONLY: one snapshot.
 *
 * Round trips: writes are buffered in the transaction (the last write of a key wins; a
 * range delete drops buffered writes inside its range) and sent as one locking statement
 * and one statement per kind (range deletes, deletes, upserts) before the next read or the
 * commit, so a batch of N writes costs a few round trips, not N. Multi-get is one
 * statement (k = ANY(array)). Scans page by 512 rows.
 *
 * Connections: a pool (pool_size, default 8) guarded by a mutex; each transaction takes its
 * own connection (a libpq connection is one thread's at a time). A broken connection is
 * dropped, never pooled again; a lost server gives CORE_ETEMP, and begin retries once on a
 * fresh connection. Durability: synchronous_commit stays on, so COMMIT returns after the WAL
 * is flushed.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

/* Type OIDs of the binary array parameters (pg_type.dat). */
#define PG_OID_INT2 21
#define PG_OID_INT8 20
#define PG_OID_BYTEA 17
#define PG_OID_INT2_ARRAY 1005
#define PG_OID_INT8_ARRAY 1016
#define PG_OID_BYTEA_ARRAY 1001

#define PG_SCAN_PAGE 512

static const struct {
	const char *name;
	const char *sql;
	int nparams;
	Oid types[3];
} store_pg_stmts[] = {
	{"g", "SELECT v FROM staunch_kv WHERE s = $1 AND k = $2", 2, {PG_OID_INT2, PG_OID_BYTEA}},
	{"lk",
	 "SELECT pg_advisory_xact_lock(h) FROM unnest($1::int8[]) AS h ORDER BY h",
	 1,
	 {PG_OID_INT8_ARRAY}},
	{"mg",
	 "SELECT k, v FROM staunch_kv WHERE s = $1 AND k = ANY($2::bytea[])",
	 2,
	 {PG_OID_INT2, PG_OID_BYTEA_ARRAY}},
	{"up",
	 "INSERT INTO staunch_kv(s, k, v) SELECT * FROM unnest($1::int2[], $2::bytea[], "
	 "$3::bytea[]) ON CONFLICT (s, k) DO UPDATE SET v = EXCLUDED.v",
	 3,
	 {PG_OID_INT2_ARRAY, PG_OID_BYTEA_ARRAY, PG_OID_BYTEA_ARRAY}},
	{"dl",
	 "DELETE FROM staunch_kv t USING unnest($1::int2[], $2::bytea[]) AS d(s, k) "
	 "WHERE t.s = d.s AND t.k = d.k",
	 2,
	 {PG_OID_INT2_ARRAY, PG_OID_BYTEA_ARRAY}},
	{"dr",
	 "DELETE FROM staunch_kv t USING unnest($1::int2[], $2::bytea[], $3::bytea[]) "
	 "AS r(s, lo, hi) WHERE t.s = r.s AND t.k >= r.lo AND t.k < r.hi",
	 3,
	 {PG_OID_INT2_ARRAY, PG_OID_BYTEA_ARRAY, PG_OID_BYTEA_ARRAY}},
	{"sa",
	 "SELECT k, v FROM staunch_kv WHERE s = $1 AND k >= $2 AND k < $3 ORDER BY k LIMIT 512",
	 3,
	 {PG_OID_INT2, PG_OID_BYTEA, PG_OID_BYTEA}},
	{"sd",
	 "SELECT k, v FROM staunch_kv WHERE s = $1 AND k >= $2 AND k < $3 ORDER BY k DESC "
	 "LIMIT 512",
	 3,
	 {PG_OID_INT2, PG_OID_BYTEA, PG_OID_BYTEA}},
};

struct store_pg_conn {
	PGconn *pg;
	struct store_pg_conn *next;
};

struct store_pg {
	char *conninfo;
	unsigned pool_max, idle_n, lock_ms;
	pthread_mutex_t lock;
	struct store_pg_conn *idle;
};

/* One buffered write. */
struct store_pg_op {
	uint8_t sp;
	bool del;
	uint8_t *k, *v;
	size_t kl, vl;
};

struct store_pg_range {
	uint8_t sp;
	uint8_t *lo, *hi;
	size_t lol, hil;
};

struct store_pg_txn {
	struct store_pg *p;
	struct store_pg_conn *c;
	bool write;
	bool broken; /* connection lost: drop it at the end */
	struct store_pg_op *ops;
	size_t nops, capops;
	size_t nops_sp[STORE_SPACE_COUNT]; /* buffered writes per space */
	struct store_pg_range *ranges;
	size_t nranges, capranges;
	/* Hashes of keys already locked in this transaction (open addressing, 0 = empty). */
	uint64_t *locked;
	size_t nlocked, caplocked;
	/* Buffered writes by key (see store_pg_buffer). */
	uint32_t *idx;
	size_t capidx;
};

/* Above every raw key (raw keys have at most STORE_RAW_KEY_MAX bytes). */
static uint8_t store_pg_top[STORE_RAW_KEY_MAX + 1];
static pthread_once_t store_pg_top_once = PTHREAD_ONCE_INIT;
static void store_pg_top_init(void)
{
	memset(store_pg_top, 0xff, sizeof(store_pg_top));
}

/* ---------------------------------------------------------------- errors */

static bool store_pg_conn_lost(PGconn *pg)
{
	return pg == NULL || PQstatus(pg) != CONNECTION_OK;
}

/* Map a failed result (or a NULL one) to a core_err; frees res. */
static int store_pg_err(struct store_pg_txn *t, PGconn *pg, PGresult *res, struct core_error *err,
			const char *what)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int code = CORE_EIO;
	if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			      strcmp(state, "55P03") == 0))
		code = CORE_ECONFLICT;
	else if (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
				   strncmp(state, "57P", 3) == 0))
		code = CORE_ETEMP;
	else if (store_pg_conn_lost(pg))
		code = CORE_ETEMP;
	if (code == CORE_ETEMP && t != NULL)
		t->broken = true;
	const char *msg = pg != NULL ? PQerrorMessage(pg) : "no connection";
	char line[160];
	size_t n = 0;
	while (msg[n] != '\0' && msg[n] != '\n' && n + 1 < sizeof(line)) {
		line[n] = msg[n];
		n++;
	}
	line[n] = '\0';
	core_error_set(err, code, NULL, "postgresql %s: %s%s%s", what, line,
		       state != NULL ? " sqlstate " : "", state != NULL ? state : "");
	PQclear(res);
	return code;
}

/* ---------------------------------------------------------------- connections */

static void store_pg_conn_free(struct store_pg_conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->pg);
	free(c);
}

static int store_pg_exec(struct store_pg_txn *t, PGconn *pg, const char *sql,
			 struct core_error *err)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return store_pg_err(t, pg, res, err, "exec");
	PQclear(res);
	return 0;
}

static int store_pg_conn_open(struct store_pg *p, bool schema, struct store_pg_conn **out,
			      struct core_error *err)
{
	PGconn *pg = PQconnectdb(p->conninfo);
	if (store_pg_conn_lost(pg)) {
		int rc = store_pg_err(NULL, pg, NULL, err, "connect");
		PQfinish(pg);
		return rc == CORE_EIO ? CORE_ETEMP : rc;
	}
	/* enable_seqscan off: every statement here reads or writes keys or key ranges through
	 * the primary key. The prepared statements' generic plans are made without the values,
	 * and the range delete (a join of the table with an array of ranges) was then planned
	 * as a hash join over a scan of the whole table, a cost that grew with the store; with
	 * sequential scans ruled out it is a nested loop of primary-key range scans. */
	char sql[320];
	snprintf(sql, sizeof(sql),
		 "SET client_min_messages = warning; SET lock_timeout = %u; "
		 "SET synchronous_commit = on; SET enable_seqscan = off; "
		 "SET idle_in_transaction_session_timeout = %u",
		 p->lock_ms, STORE_TXN_MAX_MS * 4);
	int rc = store_pg_exec(NULL, pg, sql, err);
	if (rc == 0 && schema)
		rc = store_pg_exec(NULL, pg,
				   "CREATE TABLE IF NOT EXISTS staunch_kv (s smallint NOT NULL, "
				   "k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (s, k))",
				   err);
	for (size_t i = 0; rc == 0 && i < CORE_NELEM(store_pg_stmts); i++) {
		PGresult *res = PQprepare(pg, store_pg_stmts[i].name, store_pg_stmts[i].sql,
					  store_pg_stmts[i].nparams, store_pg_stmts[i].types);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = store_pg_err(NULL, pg, res, err, "prepare");
		else
			PQclear(res);
	}
	if (rc < 0) {
		PQfinish(pg);
		return rc;
	}
	struct store_pg_conn *c = core_xcalloc(1, sizeof(*c));
	c->pg = pg;
	*out = c;
	return 0;
}

static void store_pg_close(void *h)
{
	struct store_pg *p = h;
	if (p == NULL)
		return;
	while (p->idle != NULL) {
		struct store_pg_conn *c = p->idle;
		p->idle = c->next;
		store_pg_conn_free(c);
	}
	pthread_mutex_destroy(&p->lock);
	core_wipe(p->conninfo, strlen(p->conninfo)); /* may hold a password */
	free(p->conninfo);
	free(p);
}

static int store_pg_open(const struct store_params *prm, void **h_out, struct core_error *err)
{
	pthread_once(&store_pg_top_once, store_pg_top_init);
	if (prm->conninfo == NULL || prm->conninfo[0] == '\0')
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "postgresql: no connection string configured");
	struct store_pg *p = core_xcalloc(1, sizeof(*p));
	p->conninfo = core_xstrdup(prm->conninfo);
	p->pool_max = prm->pool_size != 0 ? prm->pool_size : 8;
	p->lock_ms = prm->lock_timeout_ms != 0 ? prm->lock_timeout_ms : 5000;
	pthread_mutex_init(&p->lock, NULL);
	struct store_pg_conn *c = NULL;
	int rc = store_pg_conn_open(p, true, &c, err);
	if (rc < 0) {
		store_pg_close(p);
		return rc;
	}
	p->idle = c;
	p->idle_n = 1;
	*h_out = p;
	return 0;
}

static void store_pg_release(struct store_pg *p, struct store_pg_conn *c, bool broken)
{
	if (!broken && !store_pg_conn_lost(c->pg)) {
		pthread_mutex_lock(&p->lock);
		if (p->idle_n < p->pool_max) {
			c->next = p->idle;
			p->idle = c;
			p->idle_n++;
			c = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
	store_pg_conn_free(c);
}

static struct store_pg_conn *store_pg_take(struct store_pg *p)
{
	pthread_mutex_lock(&p->lock);
	struct store_pg_conn *c = p->idle;
	if (c != NULL) {
		p->idle = c->next;
		p->idle_n--;
	}
	pthread_mutex_unlock(&p->lock);
	return c;
}

static int store_pg_begin(void *h, bool write, void **txn_out, struct core_error *err)
{
	struct store_pg *p = h;
	/* REPEATABLE READ takes its snapshot at the first query, not at BEGIN: run one at
	 * once (same round trip) so the snapshot is the state at begin. */
	const char *sql = write ? "BEGIN ISOLATION LEVEL READ COMMITTED"
				: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1";
	int rc = CORE_ETEMP;
	struct store_pg_conn *c = NULL;
	/* A pooled connection may have died with a restarted server: drop it and retry on a
	 * fresh one (ARCHITECTURE.md §4 issue 3: retry on lost connections). */
	for (int attempt = 0; attempt < 2 && rc == CORE_ETEMP; attempt++) {
		c = attempt == 0 ? store_pg_take(p) : NULL;
		if (c == NULL) {
			rc = store_pg_conn_open(p, false, &c, err);
			if (rc < 0) {
				c = NULL;
				continue;
			}
		}
		struct store_pg_txn probe = {0};
		rc = store_pg_exec(&probe, c->pg, sql, err);
		if (rc < 0) {
			store_pg_conn_free(c);
			c = NULL;
		}
	}
	if (rc < 0)
		return rc;
	struct store_pg_txn *t = core_xcalloc(1, sizeof(*t));
	t->p = p;
	t->c = c;
	t->write = write;
	*txn_out = t;
	return 0;
}

/* ---------------------------------------------------------------- binary parameters */

/* 64-bit FNV-1a of (space, key): the advisory lock id of a point key. */
static uint64_t store_pg_lock_id(enum store_space sp, const void *k, size_t kl)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = (h ^ (uint8_t)sp) * 0x100000001b3ull;
	const uint8_t *p = k;
	for (size_t i = 0; i < kl; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h == 0 ? 1 : h;
}

/* A one-dimensional binary array header (array_send format). */
static void store_pg_array_begin(struct core_buf *b, Oid elem, size_t n)
{
	uint8_t hdr[20];
	store_be32_put(hdr, 1);
	store_be32_put(hdr + 4, 0);
	store_be32_put(hdr + 8, elem);
	store_be32_put(hdr + 12, (uint32_t)n);
	store_be32_put(hdr + 16, 1);
	core_buf_reset(b);
	core_buf_append(b, hdr, sizeof(hdr));
}

static void store_pg_array_add(struct core_buf *b, const void *p, size_t n)
{
	uint8_t len[4];
	store_be32_put(len, (uint32_t)n);
	core_buf_append(b, len, 4);
	if (n > 0)
		core_buf_append(b, p, n);
}

static PGresult *store_pg_run(struct store_pg_txn *t, const char *stmt, int n,
			      const char *const *vals, const int *lens)
{
	int fmts[3] = {1, 1, 1};
	return PQexecPrepared(t->c->pg, stmt, n, vals, lens, fmts, 1);
}

static int store_pg_ok(struct store_pg_txn *t, PGresult *res, ExecStatusType want,
		       struct core_error *err, const char *what)
{
	if (res == NULL || PQresultStatus(res) != want)
		return store_pg_err(t, t->c->pg, res, err, what);
	return 0;
}

/* ---------------------------------------------------------------- locks */

static bool store_pg_locked_has(struct store_pg_txn *t, uint64_t h)
{
	if (t->caplocked == 0)
		return false;
	for (size_t i = h % t->caplocked;; i = (i + 1) % t->caplocked) {
		if (t->locked[i] == 0)
			return false;
		if (t->locked[i] == h)
			return true;
	}
}

static void store_pg_locked_add(struct store_pg_txn *t, uint64_t h)
{
	if ((t->nlocked + 1) * 2 > t->caplocked) {
		size_t nc = t->caplocked ? t->caplocked * 2 : 64;
		uint64_t *old = t->locked;
		size_t oc = t->caplocked;
		t->locked = core_xcalloc(nc, sizeof(uint64_t));
		t->caplocked = nc;
		t->nlocked = 0;
		for (size_t i = 0; i < oc; i++)
			if (old[i] != 0)
				store_pg_locked_add(t, old[i]);
		free(old);
	}
	for (size_t i = h % t->caplocked;; i = (i + 1) % t->caplocked) {
		if (t->locked[i] == h)
			return;
		if (t->locked[i] == 0) {
			t->locked[i] = h;
			t->nlocked++;
			return;
		}
	}
}

/* Take the advisory locks of n hashes not yet held, in one round trip. */
static int store_pg_lock(struct store_pg_txn *t, const uint64_t *hs, size_t n,
			 struct core_error *err)
{
	struct core_buf arr = CORE_BUF_INIT;
	size_t want = 0;
	for (size_t i = 0; i < n; i++)
		if (!store_pg_locked_has(t, hs[i]))
			want++;
	if (want == 0)
		return 0;
	store_pg_array_begin(&arr, PG_OID_INT8, want);
	for (size_t i = 0; i < n; i++) {
		if (store_pg_locked_has(t, hs[i]))
			continue;
		uint8_t v[8];
		store_be64_put(v, hs[i]);
		store_pg_array_add(&arr, v, 8);
		store_pg_locked_add(t, hs[i]);
	}
	const char *vals[1] = {arr.p};
	int lens[1] = {(int)arr.len};
	PGresult *res = store_pg_run(t, "lk", 1, vals, lens);
	int rc = store_pg_ok(t, res, PGRES_TUPLES_OK, err, "lock");
	if (rc == 0)
		PQclear(res);
	core_buf_fini(&arr);
	return rc;
}

/* ---------------------------------------------------------------- write buffer */

static void store_pg_ops_clear(struct store_pg_txn *t)
{
	for (size_t i = 0; i < t->nops; i++) {
		free(t->ops[i].k);
		free(t->ops[i].v);
	}
	t->nops = 0;
	memset(t->nops_sp, 0, sizeof(t->nops_sp));
	if (t->idx != NULL)
		memset(t->idx, 0, t->capidx * sizeof(uint32_t));
	for (size_t i = 0; i < t->nranges; i++) {
		free(t->ranges[i].lo);
		free(t->ranges[i].hi);
	}
	t->nranges = 0;
}

static int store_pg_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return al < bl ? -1 : (al > bl ? 1 : 0);
}

/* Send buffered writes: locks, range deletes, deletes, upserts. */
static int store_pg_flush(struct store_pg_txn *t, struct core_error *err)
{
	if (t->nops == 0 && t->nranges == 0)
		return 0;
	int rc = 0;
	uint64_t *hs = core_xcalloc(t->nops + 1, sizeof(uint64_t));
	for (size_t i = 0; i < t->nops; i++)
		hs[i] = store_pg_lock_id(t->ops[i].sp, t->ops[i].k, t->ops[i].kl);
	rc = store_pg_lock(t, hs, t->nops, err);
	free(hs);
	if (rc == 0 && t->nranges > 0) {
		/* Every buffered range delete in one statement. */
		struct core_buf sa = CORE_BUF_INIT, la = CORE_BUF_INIT, ha = CORE_BUF_INIT;
		store_pg_array_begin(&sa, PG_OID_INT2, t->nranges);
		store_pg_array_begin(&la, PG_OID_BYTEA, t->nranges);
		store_pg_array_begin(&ha, PG_OID_BYTEA, t->nranges);
		for (size_t i = 0; i < t->nranges; i++) {
			struct store_pg_range *r = &t->ranges[i];
			uint8_t s[2] = {0, r->sp};
			store_pg_array_add(&sa, s, 2);
			store_pg_array_add(&la, r->lo, r->lol);
			store_pg_array_add(&ha, r->hi, r->hil);
		}
		const char *vals[3] = {sa.p, la.p, ha.p};
		int lens[3] = {(int)sa.len, (int)la.len, (int)ha.len};
		PGresult *res = store_pg_run(t, "dr", 3, vals, lens);
		rc = store_pg_ok(t, res, PGRES_COMMAND_OK, err, "delete range");
		if (rc == 0)
			PQclear(res);
		core_buf_fini(&sa);
		core_buf_fini(&la);
		core_buf_fini(&ha);
	}
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		bool del = pass == 0;
		size_t n = 0;
		for (size_t i = 0; i < t->nops; i++)
			if (t->ops[i].del == del)
				n++;
		if (n == 0)
			continue;
		struct core_buf sa = CORE_BUF_INIT, ka = CORE_BUF_INIT, va = CORE_BUF_INIT;
		store_pg_array_begin(&sa, PG_OID_INT2, n);
		store_pg_array_begin(&ka, PG_OID_BYTEA, n);
		store_pg_array_begin(&va, PG_OID_BYTEA, n);
		for (size_t i = 0; i < t->nops; i++) {
			struct store_pg_op *o = &t->ops[i];
			if (o->del != del)
				continue;
			uint8_t s[2] = {0, o->sp};
			store_pg_array_add(&sa, s, 2);
			store_pg_array_add(&ka, o->k, o->kl);
			if (!del)
				store_pg_array_add(&va, o->v, o->vl);
		}
		const char *vals[3] = {sa.p, ka.p, va.p};
		int lens[3] = {(int)sa.len, (int)ka.len, (int)va.len};
		PGresult *res = store_pg_run(t, del ? "dl" : "up", del ? 2 : 3, vals, lens);
		rc = store_pg_ok(t, res, PGRES_COMMAND_OK, err, del ? "delete" : "upsert");
		if (rc == 0)
			PQclear(res);
		core_buf_fini(&sa);
		core_buf_fini(&ka);
		core_buf_fini(&va);
	}
	store_pg_ops_clear(t);
	return rc;
}

/* The index of buffered writes by key: slot -> op index + 1 (0 = empty). */
static size_t store_pg_index_find(struct store_pg_txn *t, enum store_space sp, const void *k,
				  size_t kl, uint64_t h, bool *found)
{
	size_t i = h % t->capidx;
	for (;; i = (i + 1) % t->capidx) {
		uint32_t v = t->idx[i];
		if (v == 0) {
			*found = false;
			return i;
		}
		struct store_pg_op *o = &t->ops[v - 1];
		if (o->sp == (uint8_t)sp && o->kl == kl && memcmp(o->k, k, kl) == 0) {
			*found = true;
			return i;
		}
	}
}

static void store_pg_index_rebuild(struct store_pg_txn *t, size_t cap)
{
	free(t->idx);
	t->capidx = cap;
	t->idx = core_xcalloc(cap, sizeof(uint32_t));
	for (size_t n = 0; n < t->nops; n++) {
		struct store_pg_op *o = &t->ops[n];
		bool found;
		size_t slot = store_pg_index_find(t, o->sp, o->k, o->kl,
						  store_pg_lock_id(o->sp, o->k, o->kl), &found);
		t->idx[slot] = (uint32_t)(n + 1);
	}
}

static void store_pg_buffer(struct store_pg_txn *t, enum store_space sp, const void *k, size_t kl,
			    const void *v, size_t vl, bool del)
{
	/* The last write of a key wins (an upsert may not touch a row twice). */
	if ((t->nops + 1) * 2 > t->capidx)
		store_pg_index_rebuild(t, t->capidx ? t->capidx * 2 : 64);
	bool found;
	size_t slot = store_pg_index_find(t, sp, k, kl, store_pg_lock_id(sp, k, kl), &found);
	struct store_pg_op *o;
	if (found) {
		o = &t->ops[t->idx[slot] - 1];
		free(o->v);
		o->v = NULL;
	} else {
		if (t->nops == t->capops) {
			t->capops = t->capops ? t->capops * 2 : 32;
			t->ops = core_xrealloc(t->ops, t->capops * sizeof(*t->ops));
		}
		o = &t->ops[t->nops++];
		t->nops_sp[sp]++;
		t->idx[slot] = (uint32_t)t->nops;
		o->sp = (uint8_t)sp;
		o->k = core_xmalloc(kl);
		memcpy(o->k, k, kl);
		o->kl = kl;
		o->v = NULL;
	}
	o->del = del;
	o->vl = del ? 0 : vl;
	if (!del) {
		o->v = core_xmalloc(vl + 1);
		if (vl > 0)
			memcpy(o->v, v, vl);
	}
}

/* ---------------------------------------------------------------- kv operations */

static int store_pg_get(void *txn, enum store_space sp, const void *k, size_t kl, bool lock,
			struct core_buf *v_out, struct core_error *err)
{
	struct store_pg_txn *t = txn;
	int rc = store_pg_flush(t, err);
	if (rc == 0 && lock) {
		uint64_t h = store_pg_lock_id(sp, k, kl);
		rc = store_pg_lock(t, &h, 1, err);
	}
	if (rc < 0)
		return rc;
	uint8_t s[2] = {0, (uint8_t)sp};
	const char *vals[2] = {(const char *)s, k};
	int lens[2] = {2, (int)kl};
	PGresult *res = store_pg_run(t, "g", 2, vals, lens);
	rc = store_pg_ok(t, res, PGRES_TUPLES_OK, err, "get");
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return CORE_ENOTFOUND;
	}
	core_buf_reset(v_out);
	core_buf_append(v_out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	PQclear(res);
	return 0;
}

static int store_pg_multi_get(void *txn, enum store_space sp, struct store_mget *v, size_t n,
			      struct core_error *err)
{
	struct store_pg_txn *t = txn;
	int rc = store_pg_flush(t, err);
	if (rc < 0)
		return rc;
	struct core_buf arr = CORE_BUF_INIT;
	store_pg_array_begin(&arr, PG_OID_BYTEA, n);
	for (size_t i = 0; i < n; i++)
		store_pg_array_add(&arr, v[i].key, v[i].klen);
	uint8_t s[2] = {0, (uint8_t)sp};
	const char *vals[2] = {(const char *)s, arr.p};
	int lens[2] = {2, (int)arr.len};
	PGresult *res = store_pg_run(t, "mg", 2, vals, lens);
	core_buf_fini(&arr);
	rc = store_pg_ok(t, res, PGRES_TUPLES_OK, err, "multi-get");
	if (rc < 0)
		return rc;
	/* One round trip; match rows to the requested keys (a key may be asked twice). */
	for (int r = 0; r < PQntuples(res); r++) {
		const char *k = PQgetvalue(res, r, 0);
		size_t kl = (size_t)PQgetlength(res, r, 0);
		for (size_t i = 0; i < n; i++) {
			if (v[i].klen != kl || memcmp(v[i].key, k, kl) != 0)
				continue;
			v[i].found = true;
			core_buf_reset(&v[i].val);
			core_buf_append(&v[i].val, PQgetvalue(res, r, 1),
					(size_t)PQgetlength(res, r, 1));
		}
	}
	PQclear(res);
	return 0;
}

static int store_pg_scan(void *txn, enum store_space sp, const struct store_range *r,
			 store_scan_fn fn, void *arg, struct core_error *err)
{
	struct store_pg_txn *t = txn;
	int rc = store_pg_flush(t, err);
	if (rc < 0)
		return rc;
	uint8_t lo[STORE_RAW_KEY_MAX + 2], hi[STORE_RAW_KEY_MAX + 1];
	size_t lol = 0, hil;
	if (r->lo != NULL) {
		memcpy(lo, r->lo, r->lo_len);
		lol = r->lo_len;
	}
	if (r->hi != NULL) {
		memcpy(hi, r->hi, r->hi_len);
		hil = r->hi_len;
	} else {
		memcpy(hi, store_pg_top, sizeof(store_pg_top));
		hil = sizeof(store_pg_top);
	}
	uint8_t s[2] = {0, (uint8_t)sp};
	for (;;) {
		const char *vals[3] = {(const char *)s, (const char *)lo, (const char *)hi};
		int lens[3] = {2, (int)lol, (int)hil};
		PGresult *res = store_pg_run(t, r->reverse ? "sd" : "sa", 3, vals, lens);
		rc = store_pg_ok(t, res, PGRES_TUPLES_OK, err, "scan");
		if (rc < 0)
			return rc;
		int rows = PQntuples(res);
		int stop = 0;
		for (int i = 0; i < rows && stop == 0; i++) {
			const char *k = PQgetvalue(res, i, 0);
			size_t kl = (size_t)PQgetlength(res, i, 0);
			stop = fn(arg, k, kl, PQgetvalue(res, i, 1),
				  (size_t)PQgetlength(res, i, 1));
			if (i == rows - 1 && kl <= STORE_RAW_KEY_MAX) {
				/* The next page starts right after (or before) this key. */
				if (r->reverse) {
					memcpy(hi, k, kl);
					hil = kl;
				} else {
					memcpy(lo, k, kl);
					lo[kl] = 0;
					lol = kl + 1;
				}
			}
		}
		PQclear(res);
		if (stop != 0)
			return stop < 0 ? stop : 0;
		if (rows < PG_SCAN_PAGE)
			return 0;
		if (store_pg_keycmp(lo, lol, hi, hil) >= 0)
			return 0;
	}
}

static int store_pg_put(void *txn, enum store_space sp, const void *k, size_t kl, const void *v,
			size_t vl, struct core_error *err)
{
	(void)err;
	store_pg_buffer(txn, sp, k, kl, v, vl, false);
	return 0;
}

static int store_pg_del(void *txn, enum store_space sp, const void *k, size_t kl,
			struct core_error *err)
{
	(void)err;
	store_pg_buffer(txn, sp, k, kl, NULL, 0, true);
	return 0;
}

static int store_pg_del_range(void *txn, enum store_space sp, const void *lo, size_t lol,
			      const void *hi, size_t hil, struct core_error *err)
{
	(void)err;
	struct store_pg_txn *t = txn;
	/* Buffered writes inside the range are superseded by it: drop them, so sending
	 * range deletes before point writes keeps the transaction's order. */
	size_t w = t->nops;
	/* Most range deletes (the chunks of a small value being overwritten) find no buffered
	 * write of their space: skip the walk then. */
	if (t->nops_sp[sp] > 0) {
		w = 0;
		for (size_t i = 0; i < t->nops; i++) {
			struct store_pg_op *o = &t->ops[i];
			if (o->sp == (uint8_t)sp && store_pg_keycmp(o->k, o->kl, lo, lol) >= 0 &&
			    store_pg_keycmp(o->k, o->kl, hi, hil) < 0) {
				free(o->k);
				free(o->v);
				t->nops_sp[sp]--;
				continue;
			}
			t->ops[w++] = *o;
		}
	}
	if (w != t->nops) {
		t->nops = w;
		store_pg_index_rebuild(t, t->capidx);
	}
	if (t->nranges == t->capranges) {
		t->capranges = t->capranges ? t->capranges * 2 : 16;
		t->ranges = core_xrealloc(t->ranges, t->capranges * sizeof(*t->ranges));
	}
	struct store_pg_range *r = &t->ranges[t->nranges++];
	r->sp = (uint8_t)sp;
	r->lo = core_xmalloc(lol + 1);
	memcpy(r->lo, lo, lol);
	r->lol = lol;
	r->hi = core_xmalloc(hil + 1);
	memcpy(r->hi, hi, hil);
	r->hil = hil;
	return 0;
}

static void store_pg_txn_free(struct store_pg_txn *t)
{
	store_pg_ops_clear(t);
	free(t->ops);
	free(t->ranges);
	free(t->locked);
	free(t->idx);
	store_pg_release(t->p, t->c, t->broken);
	free(t);
}

static int store_pg_commit(void *txn, struct core_error *err)
{
	struct store_pg_txn *t = txn;
	int rc = store_pg_flush(t, err);
	if (rc == 0)
		rc = store_pg_exec(t, t->c->pg, "COMMIT", err);
	else if (!t->broken)
		store_pg_exec(t, t->c->pg, "ROLLBACK", NULL);
	store_pg_txn_free(t);
	return rc;
}

static void store_pg_abort(void *txn)
{
	struct store_pg_txn *t = txn;
	if (!t->broken)
		store_pg_exec(t, t->c->pg, "ROLLBACK", NULL);
	store_pg_txn_free(t);
}

const struct store_kv_ops store_pgsql_kv = {
	.open = store_pg_open,
	.close = store_pg_close,
	.begin = store_pg_begin,
	.get = store_pg_get,
	.multi_get = store_pg_multi_get,
	.scan = store_pg_scan,
	.put = store_pg_put,
	.del = store_pg_del,
	.del_range = store_pg_del_range,
	.commit = store_pg_commit,
	.abort = store_pg_abort,
};
