/*
 * store_sqlite.c: the SQLite data backend (ARCHITECTURE.md §4), for small deployments that
 * want one file.
 *
 * Schema: kv(s INTEGER, k BLOB, v BLOB, PRIMARY KEY (s, k)) WITHOUT ROWID. Keys are BLOBs,
 * which SQLite orders with memcmp and shorter first: the bytewise order of the contract.
 * Journal in WAL mode with synchronous = FULL, so the WAL is synced at every commit.
 * One writer: a write transaction starts with BEGIN IMMEDIATE and holds the database's
 * write lock until it ends, so point reads inside it (including "locked" ones) see the
 * latest committed data and cannot be overtaken; waiting writers use the busy timeout and
 * get CORE_ETEMP when it runs out. Readers use WAL snapshots and never block the writer.
 * Threading: a SQLite connection serves one transaction at a time; the handle keeps a pool
 * of connections and gives each transaction its own.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

enum {
	SQ_GET,
	SQ_PUT,
	SQ_DEL,
	SQ_DEL_RANGE,
	SQ_SCAN_ASC,
	SQ_SCAN_DESC,
	SQ_COUNT,
};

static const char *const store_sqlite_sql[SQ_COUNT] = {
	[SQ_GET] = "SELECT v FROM kv WHERE s = ?1 AND k = ?2",
	[SQ_PUT] = "INSERT INTO kv(s, k, v) VALUES (?1, ?2, ?3) "
		   "ON CONFLICT(s, k) DO UPDATE SET v = excluded.v",
	[SQ_DEL] = "DELETE FROM kv WHERE s = ?1 AND k = ?2",
	[SQ_DEL_RANGE] = "DELETE FROM kv WHERE s = ?1 AND k >= ?2 AND k < ?3",
	[SQ_SCAN_ASC] = "SELECT k, v FROM kv WHERE s = ?1 AND k >= ?2 AND k < ?3 ORDER BY k",
	[SQ_SCAN_DESC] = "SELECT k, v FROM kv WHERE s = ?1 AND k >= ?2 AND k < ?3 "
			 "ORDER BY k DESC",
};

struct store_sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *st[SQ_COUNT];
	struct store_sqlite_conn *next;
};

struct store_sqlite {
	char *path;
	unsigned pool_max, idle_n, busy_ms;
	bool no_sync;
	pthread_mutex_t lock;
	struct store_sqlite_conn *idle;
};

struct store_sqlite_txn {
	struct store_sqlite *s;
	struct store_sqlite_conn *c;
	bool write;
};

/* An upper bound above every raw key (raw keys are at most STORE_RAW_KEY_MAX bytes). */
static uint8_t store_sqlite_top[STORE_RAW_KEY_MAX + 1];
static pthread_once_t store_sqlite_top_once = PTHREAD_ONCE_INIT;
static void store_sqlite_top_init(void)
{
	memset(store_sqlite_top, 0xff, sizeof(store_sqlite_top));
}

static int store_sqlite_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CORE_ETEMP;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	default:
		return CORE_EIO;
	}
}

static int store_sqlite_err(sqlite3 *db, int rc, struct core_error *err, const char *what)
{
	int code = store_sqlite_code(rc);
	return core_error_set(err, code, NULL, "sqlite %s: %s", what,
			      db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void store_sqlite_conn_free(struct store_sqlite_conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < SQ_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

static int store_sqlite_exec(sqlite3 *db, const char *sql, struct core_error *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int code = store_sqlite_code(rc);
		core_error_set(err, code, NULL, "sqlite: %s: %s", sql, msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

static int store_sqlite_conn_open(struct store_sqlite *s, struct store_sqlite_conn **out,
				  struct core_error *err)
{
	struct store_sqlite_conn *c = core_xcalloc(1, sizeof(*c));
	int rc = sqlite3_open_v2(s->path, &c->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		rc = store_sqlite_err(c->db, rc, err, "open");
		store_sqlite_conn_free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, (int)s->busy_ms);
	sqlite3_extended_result_codes(c->db, 1);
	/* WAL with synchronous = FULL: the WAL is synced before COMMIT returns. */
	rc = store_sqlite_exec(c->db, "PRAGMA journal_mode = WAL", err);
	if (rc == 0)
		rc = store_sqlite_exec(
			c->db,
			s->no_sync ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL", err);
	if (rc == 0)
		rc = store_sqlite_exec(c->db,
				       "CREATE TABLE IF NOT EXISTS kv (s INTEGER NOT NULL, "
				       "k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (s, k)) "
				       "WITHOUT ROWID",
				       err);
	for (int i = 0; rc == 0 && i < SQ_COUNT; i++) {
		int src = sqlite3_prepare_v3(c->db, store_sqlite_sql[i], -1,
					     SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
		if (src != SQLITE_OK)
			rc = store_sqlite_err(c->db, src, err, "prepare");
	}
	if (rc < 0) {
		store_sqlite_conn_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void store_sqlite_close(void *h)
{
	struct store_sqlite *s = h;
	if (s == NULL)
		return;
	while (s->idle != NULL) {
		struct store_sqlite_conn *c = s->idle;
		s->idle = c->next;
		store_sqlite_conn_free(c);
	}
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

static int store_sqlite_open(const struct store_params *p, void **h_out, struct core_error *err)
{
	pthread_once(&store_sqlite_top_once, store_sqlite_top_init);
	if (p->path == NULL || p->path[0] == '\0')
		return core_error_set(err, CORE_ESYNTAX, NULL, "sqlite: no path configured");
	struct store_sqlite *s = core_xcalloc(1, sizeof(*s));
	s->path = core_xstrdup(p->path);
	s->pool_max = p->pool_size != 0 ? p->pool_size : 8;
	s->busy_ms = p->lock_timeout_ms != 0 ? p->lock_timeout_ms : 5000;
	s->no_sync = p->no_sync;
	pthread_mutex_init(&s->lock, NULL);
	/* Open one connection now: creates the schema and reports a bad path at once. */
	struct store_sqlite_conn *c = NULL;
	int rc = store_sqlite_conn_open(s, &c, err);
	if (rc < 0) {
		store_sqlite_close(s);
		return rc;
	}
	s->idle = c;
	s->idle_n = 1;
	*h_out = s;
	return 0;
}

static void store_sqlite_release(struct store_sqlite *s, struct store_sqlite_conn *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->idle_n < s->pool_max) {
		c->next = s->idle;
		s->idle = c;
		s->idle_n++;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	store_sqlite_conn_free(c);
}

static int store_sqlite_begin(void *h, bool write, void **txn_out, struct core_error *err)
{
	struct store_sqlite *s = h;
	struct store_sqlite_conn *c = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->idle != NULL) {
		c = s->idle;
		s->idle = c->next;
		s->idle_n--;
	}
	pthread_mutex_unlock(&s->lock);
	int rc = 0;
	if (c == NULL)
		rc = store_sqlite_conn_open(s, &c, err);
	if (rc < 0)
		return rc;
	rc = store_sqlite_exec(c->db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
	/* A deferred read transaction takes its WAL snapshot at the first read: read now so the
	 * snapshot is the state at begin. */
	if (rc == 0 && !write)
		rc = store_sqlite_exec(c->db, "SELECT 1 FROM kv LIMIT 1", err);
	if (rc < 0) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		store_sqlite_release(s, c);
		return rc;
	}
	struct store_sqlite_txn *t = core_xcalloc(1, sizeof(*t));
	t->s = s;
	t->c = c;
	t->write = write;
	*txn_out = t;
	return 0;
}

static sqlite3_stmt *store_sqlite_stmt(struct store_sqlite_txn *t, int which, enum store_space sp)
{
	sqlite3_stmt *st = t->c->st[which];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int(st, 1, (int)sp);
	return st;
}

static int store_sqlite_get(void *txn, enum store_space sp, const void *k, size_t kl, bool lock,
			    struct core_buf *v_out, struct core_error *err)
{
	/* One writer: inside BEGIN IMMEDIATE every read is already the latest committed
	 * state and nobody else can write, so lock needs nothing more. */
	(void)lock;
	struct store_sqlite_txn *t = txn;
	sqlite3_stmt *st = store_sqlite_stmt(t, SQ_GET, sp);
	sqlite3_bind_blob(st, 2, k, (int)kl, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int ret;
	if (rc == SQLITE_ROW) {
		core_buf_reset(v_out);
		const void *v = sqlite3_column_blob(st, 0);
		int vl = sqlite3_column_bytes(st, 0);
		if (vl > 0)
			core_buf_append(v_out, v, (size_t)vl);
		else
			core_buf_append(v_out, "", 0);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = CORE_ENOTFOUND;
	} else {
		ret = store_sqlite_err(t->c->db, rc, err, "get");
	}
	sqlite3_reset(st);
	return ret;
}

static int store_sqlite_multi_get(void *txn, enum store_space sp, struct store_mget *v, size_t n,
				  struct core_error *err)
{
	/* In-process: the "round trip" is a function call, so point reads are as good. */
	for (size_t i = 0; i < n; i++) {
		int rc = store_sqlite_get(txn, sp, v[i].key, v[i].klen, false, &v[i].val, err);
		if (rc == 0)
			v[i].found = true;
		else if (rc != CORE_ENOTFOUND)
			return rc;
	}
	return 0;
}

static int store_sqlite_scan(void *txn, enum store_space sp, const struct store_range *r,
			     store_scan_fn fn, void *arg, struct core_error *err)
{
	struct store_sqlite_txn *t = txn;
	int which = r->reverse ? SQ_SCAN_DESC : SQ_SCAN_ASC;
	sqlite3_stmt *st = t->c->st[which];
	bool own = false;
	/* A callback may scan again (chunked values): a busy statement gets a fresh twin. */
	if (sqlite3_stmt_busy(st)) {
		int prc = sqlite3_prepare_v2(t->c->db, store_sqlite_sql[which], -1, &st, NULL);
		if (prc != SQLITE_OK)
			return store_sqlite_err(t->c->db, prc, err, "prepare");
		own = true;
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_bind_int(st, 1, (int)sp);
	if (r->lo != NULL)
		sqlite3_bind_blob(st, 2, r->lo, (int)r->lo_len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 2, 0);
	if (r->hi != NULL)
		sqlite3_bind_blob(st, 3, r->hi, (int)r->hi_len, SQLITE_STATIC);
	else
		sqlite3_bind_blob(st, 3, store_sqlite_top, sizeof(store_sqlite_top), SQLITE_STATIC);
	int ret = 0;
	for (;;) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ret = store_sqlite_err(t->c->db, rc, err, "scan");
			break;
		}
		const void *k = sqlite3_column_blob(st, 0);
		size_t kl = (size_t)sqlite3_column_bytes(st, 0);
		const void *v = sqlite3_column_blob(st, 1);
		size_t vl = (size_t)sqlite3_column_bytes(st, 1);
		int crc = fn(arg, k, kl, v != NULL ? v : "", vl);
		if (crc != 0) {
			ret = crc < 0 ? crc : 0;
			break;
		}
	}
	if (own)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
	return ret;
}

static int store_sqlite_step_done(struct store_sqlite_txn *t, sqlite3_stmt *st,
				  struct core_error *err, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_sqlite_err(t->c->db, rc, err, what);
	return 0;
}

static int store_sqlite_put(void *txn, enum store_space sp, const void *k, size_t kl, const void *v,
			    size_t vl, struct core_error *err)
{
	struct store_sqlite_txn *t = txn;
	sqlite3_stmt *st = store_sqlite_stmt(t, SQ_PUT, sp);
	sqlite3_bind_blob(st, 2, k, (int)kl, SQLITE_STATIC);
	if (vl > 0)
		sqlite3_bind_blob(st, 3, v, (int)vl, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 3, 0);
	return store_sqlite_step_done(t, st, err, "put");
}

static int store_sqlite_del(void *txn, enum store_space sp, const void *k, size_t kl,
			    struct core_error *err)
{
	struct store_sqlite_txn *t = txn;
	sqlite3_stmt *st = store_sqlite_stmt(t, SQ_DEL, sp);
	sqlite3_bind_blob(st, 2, k, (int)kl, SQLITE_STATIC);
	return store_sqlite_step_done(t, st, err, "delete");
}

static int store_sqlite_del_range(void *txn, enum store_space sp, const void *lo, size_t lol,
				  const void *hi, size_t hil, struct core_error *err)
{
	struct store_sqlite_txn *t = txn;
	sqlite3_stmt *st = store_sqlite_stmt(t, SQ_DEL_RANGE, sp);
	sqlite3_bind_blob(st, 2, lo, (int)lol, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, hi, (int)hil, SQLITE_STATIC);
	return store_sqlite_step_done(t, st, err, "delete range");
}

static void store_sqlite_end(struct store_sqlite_txn *t)
{
	store_sqlite_release(t->s, t->c);
	free(t);
}

static int store_sqlite_commit(void *txn, struct core_error *err)
{
	struct store_sqlite_txn *t = txn;
	int rc = store_sqlite_exec(t->c->db, "COMMIT", err);
	if (rc < 0)
		sqlite3_exec(t->c->db, "ROLLBACK", NULL, NULL, NULL);
	store_sqlite_end(t);
	return rc;
}

static void store_sqlite_abort(void *txn)
{
	struct store_sqlite_txn *t = txn;
	sqlite3_exec(t->c->db, "ROLLBACK", NULL, NULL, NULL);
	store_sqlite_end(t);
}

const struct store_kv_ops store_sqlite_kv = {
	.open = store_sqlite_open,
	.close = store_sqlite_close,
	.begin = store_sqlite_begin,
	.get = store_sqlite_get,
	.multi_get = store_sqlite_multi_get,
	.scan = store_sqlite_scan,
	.put = store_sqlite_put,
	.del = store_sqlite_del,
	.del_range = store_sqlite_del_range,
	.commit = store_sqlite_commit,
	.abort = store_sqlite_abort,
};
