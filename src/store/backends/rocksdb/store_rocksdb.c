/*
 * store_rocksdb.c: the RocksDB data backend (the embedded default, ARCHITECTURE.md §4),
 * through the C API of Debian's librocksdb.
 *
 * One TransactionDB (pessimistic transactions) with one column family per store space.
 * Point locks come from GetForUpdate and from every Put/Delete, held until commit; a lock
 * wait longer than lock_timeout_ms, or a detected deadlock, is CORE_ECONFLICT. Commits write
 * the WAL with sync = true, so an acknowledged commit survives a crash of the machine.
 * Read transactions read one snapshot straight from the database (no transaction object).
 * Point gets (docs/storage.md, performance): read transactions that begin while no write
 * transaction has committed since the newest snapshot was taken share that snapshot (and its
 * read options) instead of creating their own: it is exactly the state a new snapshot
 * would show, so isolation is unchanged. Gets use pinned slices (no copy of a value found in
 * the block cache), the memtable keeps a whole-key bloom filter (a get for a key that is not
 * in the memtable skips its skip list), data blocks carry a hash index and a restart point
 * every 4 keys, table files a whole-key bloom filter, and RocksDB's per-thread perf counters
 * are off. RocksDB allows one process per database: a running server owns it and the CLI
 * goes through the control socket. Threading: the handle is shared; a transaction is used by one
 * thread at a time.
 */
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

static const char *const store_rocksdb_cf_names[STORE_SPACE_COUNT] = {
	"default", "chunk", "id", "blob", "lookup", "fts",
};

/* A snapshot shared by read transactions (see the header comment). */
struct store_rocksdb_snap {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
	uint64_t gen;  /* store_rocksdb.commits when it was taken */
	unsigned refs; /* under store_rocksdb.snap_mu */
};

struct store_rocksdb {
	rocksdb_transactiondb_t *db;
	pthread_mutex_t snap_mu;
	struct store_rocksdb_snap *snap_cur; /* the newest, one reference held by the handle */
	atomic_uint_fast64_t commits;        /* write commits that completed */
	rocksdb_options_t *opts;
	rocksdb_options_t *opts_hinted; /* opts with a memtable insert hint (data and id spaces) */
	rocksdb_transactiondb_options_t *tdbopts;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	rocksdb_transaction_options_t *topts_write;
	rocksdb_column_family_handle_t *cf[STORE_SPACE_COUNT];
	rocksdb_block_based_table_options_t *bbto;
	rocksdb_cache_t *cache;
};

struct store_rocksdb_txn {
	struct store_rocksdb *r;
	rocksdb_transaction_t *txn;
	rocksdb_readoptions_t *ro;      /* with the snapshot, for read transactions */
	struct store_rocksdb_snap *rsn; /* the shared snapshot behind ro */
	bool write;
};

static void store_rocksdb_snap_put(struct store_rocksdb *r, struct store_rocksdb_snap *sn)
{
	if (sn == NULL)
		return;
	pthread_mutex_lock(&r->snap_mu);
	bool last = --sn->refs == 0;
	pthread_mutex_unlock(&r->snap_mu);
	if (!last)
		return;
	rocksdb_readoptions_destroy(sn->ro);
	rocksdb_transactiondb_release_snapshot(r->db, sn->snap);
	free(sn);
}

/* A reference on a snapshot at least as new as every commit completed before the call. */
static struct store_rocksdb_snap *store_rocksdb_snap_get(struct store_rocksdb *r)
{
	uint64_t gen = atomic_load_explicit(&r->commits, memory_order_acquire);
	pthread_mutex_lock(&r->snap_mu);
	struct store_rocksdb_snap *sn = r->snap_cur;
	if (sn != NULL && sn->gen == gen) {
		sn->refs++;
		pthread_mutex_unlock(&r->snap_mu);
		return sn;
	}
	pthread_mutex_unlock(&r->snap_mu);
	/* gen was read before the snapshot is taken: every commit counted in it is visible. */
	struct store_rocksdb_snap *n = core_xcalloc(1, sizeof(*n));
	n->snap = rocksdb_transactiondb_create_snapshot(r->db);
	n->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(n->ro, n->snap);
	n->gen = gen;
	n->refs = 2; /* the caller's and the handle's */
	struct store_rocksdb_snap *old = NULL;
	pthread_mutex_lock(&r->snap_mu);
	if (r->snap_cur == NULL || r->snap_cur->gen <= gen) {
		old = r->snap_cur;
		r->snap_cur = n;
	} else {
		n->refs = 1; /* a newer one was installed meanwhile: keep ours private */
	}
	pthread_mutex_unlock(&r->snap_mu);
	store_rocksdb_snap_put(r, old);
	return n;
}

/* Map a RocksDB status string to our error codes (the C API gives only text). */
static int store_rocksdb_err(char *msg, struct core_error *err, const char *what)
{
	int code = CORE_EIO;
	if (strncmp(msg, "Resource busy", 13) == 0 || strncmp(msg, "Operation timed out", 19) == 0)
		code = CORE_ECONFLICT;
	else if (strncmp(msg, "Operation failed. Try again", 27) == 0)
		code = CORE_ETEMP;
	else if (strncmp(msg, "IO error", 8) == 0 && strstr(msg, "lock") != NULL)
		code = CORE_ETEMP; /* another process holds the database */
	core_error_set(err, code, NULL, "rocksdb %s: %.200s", what, msg);
	rocksdb_free(msg);
	return code;
}

static void store_rocksdb_close(void *h)
{
	struct store_rocksdb *r = h;
	if (r == NULL)
		return;
	store_rocksdb_snap_put(r, r->snap_cur);
	r->snap_cur = NULL;
	pthread_mutex_destroy(&r->snap_mu);
	for (int i = 0; i < STORE_SPACE_COUNT; i++)
		if (r->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(r->cf[i]);
	if (r->db != NULL)
		rocksdb_transactiondb_close(r->db);
	if (r->topts_write != NULL)
		rocksdb_transaction_options_destroy(r->topts_write);
	if (r->wopts != NULL)
		rocksdb_writeoptions_destroy(r->wopts);
	if (r->ropts != NULL)
		rocksdb_readoptions_destroy(r->ropts);
	if (r->tdbopts != NULL)
		rocksdb_transactiondb_options_destroy(r->tdbopts);
	if (r->opts != NULL)
		rocksdb_options_destroy(r->opts);
	if (r->opts_hinted != NULL)
		rocksdb_options_destroy(r->opts_hinted);
	if (r->bbto != NULL)
		rocksdb_block_based_options_destroy(r->bbto);
	if (r->cache != NULL)
		rocksdb_cache_destroy(r->cache);
	free(r);
}

static int store_rocksdb_open(const struct store_params *p, void **h_out, struct core_error *err)
{
	if (p->path == NULL || p->path[0] == '\0')
		return core_error_set(err, CORE_ESYNTAX, NULL, "rocksdb: no path configured");
	struct store_rocksdb *r = core_xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->snap_mu, NULL);
	unsigned lock_ms = p->lock_timeout_ms != 0 ? p->lock_timeout_ms : 5000;
	r->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->opts, 1);
	rocksdb_options_set_create_missing_column_families(r->opts, 1);
	rocksdb_options_set_max_open_files(r->opts, 512);
	r->cache = rocksdb_cache_create_lru(64u << 20);
	r->bbto = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(r->bbto, r->cache);
	/* A whole-key bloom filter per table file (10 bits a key, about 1% false positives): a
	 * get skips the files that do not hold its key. Filters are kept on every level,
	 * including the last (no optimize_filters_for_hits), so a get for a missing key
	 * costs no data block read there either. */
	rocksdb_block_based_options_set_filter_policy(r->bbto,
						      rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_whole_key_filtering(r->bbto, 1);
	/* Point lookups: a hash index inside data blocks, and a whole-key bloom filter in the
	 * memtable (no prefix extractor, so scans keep their total order). A restart point
	 * every 4 keys (RocksDB's default is 16) shortens the linear walk after a hash hit:
	 * about 10% fewer instructions per get from a table file, for slightly larger blocks
	 * (less key prefix sharing). */
	rocksdb_block_based_options_set_data_block_index_type(
		r->bbto, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
	rocksdb_block_based_options_set_data_block_hash_ratio(r->bbto, 0.75);
	rocksdb_block_based_options_set_block_restart_interval(r->bbto, 4);
	rocksdb_options_set_block_based_table_factory(r->opts, r->bbto);
	rocksdb_options_set_memtable_whole_key_filtering(r->opts, 1);
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(r->opts, 0.02);
	r->tdbopts = rocksdb_transactiondb_options_create();
	rocksdb_transactiondb_options_set_transaction_lock_timeout(r->tdbopts, lock_ms);
	rocksdb_transactiondb_options_set_default_lock_timeout(r->tdbopts, lock_ms);
	r->wopts = rocksdb_writeoptions_create();
	/* Durability (ARCHITECTURE.md §4): the WAL is synced before commit returns. */
	rocksdb_writeoptions_set_sync(r->wopts, p->no_sync ? 0 : 1);
	r->ropts = rocksdb_readoptions_create();
	r->topts_write = rocksdb_transaction_options_create();
	rocksdb_transaction_options_set_deadlock_detect(r->topts_write, 1);
	rocksdb_transaction_options_set_lock_timeout(r->topts_write, lock_ms);

	/* Memtable inserts: the keys of the data and id spaces begin with their owner and kind
	 * (a mail-store key: 'M', be64 account, family byte), and new keys of one such prefix
	 * mostly arrive in ascending order (fresh ids, UIDs, modseqs). RocksDB keeps the last
	 * insert position of each 10-byte prefix as the start of the next insert's search, so
	 * such an insert no longer walks the skip list from the top (a large share of a
	 * delivery's commit). Content-addressed spaces (blob, chunk) have no such order. */
	char *msg = NULL;
	r->opts_hinted = rocksdb_options_create();
	rocksdb_get_options_from_string(
		r->opts, "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.10",
		r->opts_hinted, &msg);
	if (msg != NULL) {
		int rc = store_rocksdb_err(msg, err, "options");
		store_rocksdb_close(r);
		return rc;
	}
	const rocksdb_options_t *cfo[STORE_SPACE_COUNT];
	for (int i = 0; i < STORE_SPACE_COUNT; i++)
		cfo[i] = i == STORE_SPACE_DATA || i == STORE_SPACE_ID ? r->opts_hinted : r->opts;
	r->db = rocksdb_transactiondb_open_column_families(
		r->opts, r->tdbopts, p->path, STORE_SPACE_COUNT, store_rocksdb_cf_names, cfo, r->cf,
		&msg);
	if (msg != NULL) {
		r->db = NULL;
		memset(r->cf, 0, sizeof(r->cf));
		int rc = store_rocksdb_err(msg, err, "open");
		store_rocksdb_close(r);
		return rc;
	}
	*h_out = r;
	return 0;
}

/* RocksDB counts every key comparison, block read and the like in a thread-local perf
 * context (its default level counts); nothing here reads those counters, and in a shared
 * librocksdb each update is a TLS lookup (about 1,000 instructions of a memtable get's
 * 17,000, 600 of a table-file get's 12,000). The level is per thread, so each thread that
 * uses the store turns it off once. */
static _Thread_local bool store_rocksdb_perf_off;

static void store_rocksdb_perf_disable(void)
{
	if (store_rocksdb_perf_off)
		return;
	rocksdb_set_perf_level(rocksdb_disable);
	store_rocksdb_perf_off = true;
}

static int store_rocksdb_begin(void *h, bool write, void **txn_out, struct core_error *err)
{
	(void)err;
	struct store_rocksdb *r = h;
	store_rocksdb_perf_disable();
	struct store_rocksdb_txn *t = core_xcalloc(1, sizeof(*t));
	t->r = r;
	t->write = write;
	/* A read transaction is only a snapshot: reads go to the database directly, which
	 * skips the transaction's write-batch lookup on every get. */
	if (write)
		t->txn = rocksdb_transaction_begin(r->db, r->wopts, r->topts_write, NULL);
	if (!write) {
		t->rsn = store_rocksdb_snap_get(r);
		t->ro = t->rsn->ro;
	}
	*txn_out = t;
	return 0;
}

static const rocksdb_readoptions_t *store_rocksdb_ro(struct store_rocksdb_txn *t)
{
	return t->ro != NULL ? t->ro : t->r->ropts;
}

static int store_rocksdb_get(void *txn, enum store_space sp, const void *k, size_t kl, bool lock,
			     struct core_buf *v_out, struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	char *msg = NULL;
	size_t vl = 0;
	/* Pinned: a value in the block cache is read in place, then copied once into v_out. */
	rocksdb_pinnableslice_t *ps;
	if (lock)
		ps = rocksdb_transaction_get_pinned_for_update_cf(t->txn, t->r->ropts, t->r->cf[sp],
								  k, kl, 1, &msg);
	else if (t->txn == NULL)
		ps = rocksdb_transactiondb_get_pinned_cf(t->r->db, t->ro, t->r->cf[sp], k, kl,
							 &msg);
	else
		ps = rocksdb_transaction_get_pinned_cf(t->txn, store_rocksdb_ro(t), t->r->cf[sp], k,
						       kl, &msg);
	if (msg != NULL) {
		rocksdb_pinnableslice_destroy(ps);
		return store_rocksdb_err(msg, err, "get");
	}
	if (ps == NULL)
		return CORE_ENOTFOUND;
	const char *v = rocksdb_pinnableslice_value(ps, &vl);
	core_buf_reset(v_out);
	core_buf_append(v_out, v, vl);
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

static int store_rocksdb_multi_get(void *txn, enum store_space sp, struct store_mget *v, size_t n,
				   struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	const rocksdb_column_family_handle_t **cfs = core_xcalloc(n, sizeof(*cfs));
	const char **keys = core_xcalloc(n, sizeof(*keys));
	size_t *klens = core_xcalloc(n, sizeof(*klens));
	char **vals = core_xcalloc(n, sizeof(*vals));
	size_t *vlens = core_xcalloc(n, sizeof(*vlens));
	char **errs = core_xcalloc(n, sizeof(*errs));
	for (size_t i = 0; i < n; i++) {
		cfs[i] = t->r->cf[sp];
		keys[i] = v[i].key;
		klens[i] = v[i].klen;
	}
	if (t->txn == NULL)
		rocksdb_transactiondb_multi_get_cf(t->r->db, t->ro, cfs, n, keys, klens, vals,
						   vlens, errs);
	else
		rocksdb_transaction_multi_get_cf(t->txn, store_rocksdb_ro(t), cfs, n, keys, klens,
						 vals, vlens, errs);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (errs[i] != NULL) {
			if (rc == 0)
				rc = store_rocksdb_err(errs[i], err, "multi-get");
			else
				rocksdb_free(errs[i]);
		}
		if (vals[i] != NULL) {
			v[i].found = true;
			core_buf_reset(&v[i].val);
			core_buf_append(&v[i].val, vals[i], vlens[i]);
			rocksdb_free(vals[i]);
		}
	}
	free(cfs);
	free(keys);
	free(klens);
	free(vals);
	free(vlens);
	free(errs);
	return rc;
}

/* Bytewise comparison with shorter-first, the order of RocksDB's default comparator. */
static int store_rocksdb_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return al < bl ? -1 : (al > bl ? 1 : 0);
}

static int store_rocksdb_scan(void *txn, enum store_space sp, const struct store_range *rg,
			      store_scan_fn fn, void *arg, struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	rocksdb_iterator_t *it =
		t->txn != NULL
			? rocksdb_transaction_create_iterator_cf(t->txn, store_rocksdb_ro(t),
								 t->r->cf[sp])
			: rocksdb_transactiondb_create_iterator_cf(t->r->db, t->ro, t->r->cf[sp]);
	/* The bounds are checked here rather than with iterate_upper_bound, which the
	 * iterator over a transaction's own writes did not always honour. */
	if (!rg->reverse) {
		if (rg->lo != NULL)
			rocksdb_iter_seek(it, rg->lo, rg->lo_len);
		else
			rocksdb_iter_seek_to_first(it);
	} else {
		if (rg->hi != NULL) {
			rocksdb_iter_seek_for_prev(it, rg->hi, rg->hi_len);
		} else {
			rocksdb_iter_seek_to_last(it);
		}
	}
	int rc = 0;
	while (rocksdb_iter_valid(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		if (!rg->reverse) {
			if (rg->hi != NULL && store_rocksdb_cmp(k, kl, rg->hi, rg->hi_len) >= 0)
				break;
		} else {
			if (rg->hi != NULL && store_rocksdb_cmp(k, kl, rg->hi, rg->hi_len) >= 0) {
				rocksdb_iter_prev(it); /* seek_for_prev lands on hi itself */
				continue;
			}
			if (rg->lo != NULL && store_rocksdb_cmp(k, kl, rg->lo, rg->lo_len) < 0)
				break;
		}
		const char *v = rocksdb_iter_value(it, &vl);
		rc = fn(arg, k, kl, v, vl);
		if (rc != 0)
			break;
		if (rg->reverse)
			rocksdb_iter_prev(it);
		else
			rocksdb_iter_next(it);
	}
	char *msg = NULL;
	rocksdb_iter_get_error(it, &msg);
	rocksdb_iter_destroy(it);
	if (msg != NULL)
		return store_rocksdb_err(msg, err, "scan");
	return rc < 0 ? rc : 0;
}

static int store_rocksdb_put(void *txn, enum store_space sp, const void *k, size_t kl,
			     const void *v, size_t vl, struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	char *msg = NULL;
	rocksdb_transaction_put_cf(t->txn, t->r->cf[sp], k, kl, v, vl, &msg);
	if (msg != NULL)
		return store_rocksdb_err(msg, err, "put");
	return 0;
}

static int store_rocksdb_del(void *txn, enum store_space sp, const void *k, size_t kl,
			     struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	char *msg = NULL;
	rocksdb_transaction_delete_cf(t->txn, t->r->cf[sp], k, kl, &msg);
	if (msg != NULL)
		return store_rocksdb_err(msg, err, "delete");
	return 0;
}

struct store_rocksdb_keys {
	struct core_buf keys; /* u16 length + key, repeated */
};

static int store_rocksdb_collect(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct store_rocksdb_keys *c = arg;
	uint8_t len[2] = {(uint8_t)(kl >> 8), (uint8_t)kl};
	core_buf_append(&c->keys, len, 2);
	core_buf_append(&c->keys, k, kl);
	return 0;
}

/* A range delete inside a transaction: the transaction API has no DeleteRange, so delete
 * the keys one by one (ranges here are the chunks of one value: at most 128 keys). */
static int store_rocksdb_del_range(void *txn, enum store_space sp, const void *lo, size_t lol,
				   const void *hi, size_t hil, struct core_error *err)
{
	struct store_range rg = {.lo = lo, .lo_len = lol, .hi = hi, .hi_len = hil};
	struct store_rocksdb_keys c = {CORE_BUF_INIT};
	int rc = store_rocksdb_scan(txn, sp, &rg, store_rocksdb_collect, &c, err);
	for (size_t off = 0; rc == 0 && off + 2 <= c.keys.len;) {
		const uint8_t *p = (const uint8_t *)c.keys.p + off;
		size_t kl = ((size_t)p[0] << 8) | p[1];
		rc = store_rocksdb_del(txn, sp, p + 2, kl, err);
		off += 2 + kl;
	}
	core_buf_fini(&c.keys);
	return rc;
}

static void store_rocksdb_txn_free(struct store_rocksdb_txn *t)
{
	store_rocksdb_snap_put(t->r, t->rsn);
	if (t->txn != NULL)
		rocksdb_transaction_destroy(t->txn);
	free(t);
}

static int store_rocksdb_commit(void *txn, struct core_error *err)
{
	struct store_rocksdb_txn *t = txn;
	char *msg = NULL;
	rocksdb_transaction_commit(t->txn, &msg);
	int rc = 0;
	/* Read transactions that begin from now on must see this commit: they stop sharing
	 * the current snapshot (even after a failed commit: cheap, and never wrong). */
	atomic_fetch_add_explicit(&t->r->commits, 1, memory_order_release);
	if (msg != NULL) {
		rc = store_rocksdb_err(msg, err, "commit");
		char *m2 = NULL;
		rocksdb_transaction_rollback(t->txn, &m2);
		if (m2 != NULL)
			rocksdb_free(m2);
	}
	store_rocksdb_txn_free(t);
	return rc;
}

static void store_rocksdb_abort(void *txn)
{
	struct store_rocksdb_txn *t = txn;
	char *msg = NULL;
	if (t->txn != NULL)
		rocksdb_transaction_rollback(t->txn, &msg);
	if (msg != NULL)
		rocksdb_free(msg);
	store_rocksdb_txn_free(t);
}

const struct store_kv_ops store_rocksdb_kv = {
	.open = store_rocksdb_open,
	.close = store_rocksdb_close,
	.begin = store_rocksdb_begin,
	.get = store_rocksdb_get,
	.multi_get = store_rocksdb_multi_get,
	.scan = store_rocksdb_scan,
	.put = store_rocksdb_put,
	.del = store_rocksdb_del,
	.del_range = store_rocksdb_del_range,
	.commit = store_rocksdb_commit,
	.abort = store_rocksdb_abort,
};
