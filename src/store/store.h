/*
 * store.h: the four stores of Staunch (ARCHITECTURE.md §4) and the backend interface behind
 * them.
 *
 *   data store    ordered key-value with transactions: get, multi-get, range scans in both
 *                 directions with prefix bounds, writes with compare-and-set assertions,
 *                 atomic counters, per-(account, collection) id allocation.
 *   blob store    content-addressed (SHA-256) bytes, streamed in and read by byte range;
 *                 clients see opaque, account-scoped blob ids backed by links with reference
 *                 tracking (a blob shared by many messages is stored once).
 *   lookup store  key-value with TTL, counters with TTL (rate limits), delete, prefix scan.
 *   full-text     term postings with fields and positions; AND/OR/NOT and phrase queries.
 *
 * The contract every backend gets (enforced here in store/, so no backend can break it):
 *   - keys are 1..STORE_KEY_MAX (255) bytes, ordered bytewise (memcmp, shorter first);
 *   - values over STORE_CHUNK_SIZE (64 KiB) are split into chunks by store/ itself, so a
 *     backend never sees a value bigger than 64 KiB plus a small header;
 *   - a transaction lasts at most STORE_TXN_MAX_MS (5 s) and writes at most
 *     STORE_TXN_MAX_BYTES (8 MiB) of keys and values; past either limit every further call
 *     and the commit fail with CORE_ELIMIT;
 *   - conflicts are detected on point keys only: store_txn_assert(), store_txn_counter_add()
 *     and store_txn_id_next() read the latest committed value under a point lock held until
 *     commit or abort, so two transactions that assert the same key serialise and the
 *     loser sees CORE_ECONFLICT (or waits and then sees the winner's value);
 *   - ids come from one counter per (account, collection), never from a global counter;
 *   - store_txn_multi_get() is one round trip to the backend.
 * Error codes: CORE_ENOTFOUND (no such key), CORE_ECONFLICT (an assertion failed or a lock
 * conflict/deadlock: retry the whole transaction), CORE_ETEMP (backend busy or unreachable:
 * retry later), CORE_ELIMIT (a limit above), CORE_EIO (backend failure), CORE_ESYNTAX (bad
 * argument such as an empty or oversized key).
 *
 * Threading and ownership:
 *   - A struct store_data, store_blob, store_lookup or store_fts is thread-safe: any number of
 *     threads may use it at once. Backends that need per-thread handles (SQLite connections,
 *     libpq connections) keep a pool inside and give each transaction its own handle.
 *   - A struct store_txn belongs to the thread that began it until commit or abort; it must
 *     not be used from two threads at once. Every transaction must end with exactly one of
 *     store_txn_commit() or store_txn_abort(), which free it.
 *   - Keys and values passed in are borrowed for the duration of the call. Values handed to
 *     a scan callback are borrowed until the callback returns. Output buffers (struct
 *     core_buf) belong to the caller, who releases them with core_buf_fini().
 *   - Backends are registered by name (store_backend_register()); only server/ chooses them
 *     from configuration. The built-in ones (rocksdb, sqlite, postgresql, memory, fs) are
 *     registered on first use.
 */
#ifndef STAUNCH_STORE_STORE_H
#define STAUNCH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core_buf.h"
#include "core/core_err.h"
#include "core/core_str.h"

/* ARCHITECTURE.md §4: the limits of the storage contract. */
#define STORE_KEY_MAX 255u
#define STORE_CHUNK_SIZE 65536u
#define STORE_TXN_MAX_MS 5000u
#define STORE_TXN_MAX_BYTES (8u * 1024u * 1024u)
/* Largest key a backend sees (a user key plus store/'s chunk suffix). */
#define STORE_RAW_KEY_MAX 300u

/*
 * Key spaces of a data store. RocksDB maps each to a column family, the SQL backends to the
 * column `s` of one table; store/ decides which space a key lives in, callers of the public
 * API only ever see STORE_SPACE_DATA.
 */
enum store_space {
	STORE_SPACE_DATA = 0,   /* the caller's keys (values inline or chunk manifests) */
	STORE_SPACE_CHUNK = 1,  /* chunks of values over 64 KiB */
	STORE_SPACE_ID = 2,     /* id counters per (account, collection) */
	STORE_SPACE_BLOB = 3,   /* blob content, blob metadata, links and reservations */
	STORE_SPACE_LOOKUP = 4, /* lookup store entries (expiry + value) */
	STORE_SPACE_FTS = 5,    /* full-text postings and per-document term lists */
	STORE_SPACE_COUNT = 6,
};

/*
 * Where and how to open a backend. Every field is optional; unused ones are ignored.
 * Strings are borrowed during the open call only.
 */
struct store_params {
	const char *path;         /* rocksdb, sqlite: database path; fs: blob directory */
	const char *conninfo;     /* postgresql: libpq connection string */
	unsigned pool_size;       /* sqlite, postgresql: max pooled connections (default 8) */
	unsigned lock_timeout_ms; /* wait for a point lock / busy database (default 5000) */
	const char *compression;  /* blob content: "none" (default), "zstd" or "lz4" */
	bool no_sync;             /* tests and benchmarks only: skip fsync on commit */
	uint64_t inline_max; /* blob store: content up to this size may be written inside a data
			      * transaction (store_blob_put_txn); 0 turns that off */
};

/* ------------------------------------------------------------------------------------ */
/* Data store                                                                           */
/* ------------------------------------------------------------------------------------ */

struct store_data;
struct store_txn;

/* Open a data store with a registered backend ("rocksdb", "sqlite", "postgresql").
 * Caller frees with store_data_free(). */
int store_data_open(const char *backend, const struct store_params *p, struct store_data **out,
		    struct core_error *err);
/* Close and free; accepts NULL. Every transaction must have ended before. */
void store_data_free(struct store_data **d);
/* The backend name the store was opened with (static string). */
const char *store_data_backend(const struct store_data *d);

enum store_txn_mode {
	STORE_TXN_READ = 0,  /* a consistent snapshot; writes fail with CORE_EPERM */
	STORE_TXN_WRITE = 1, /* reads see the transaction's own writes */
	/* A read snapshot exempt from the 5 s limit: for export (store_dump_export) only. */
	STORE_TXN_SNAPSHOT = 2,
};

int store_txn_begin(struct store_data *d, enum store_txn_mode mode, struct store_txn **out,
		    struct core_error *err);

/* Read one key into *val_out (replacing its content). Returns 0 or CORE_ENOTFOUND. */
int store_txn_get(struct store_txn *t, const void *key, size_t klen, struct core_buf *val_out,
		  struct core_error *err);

/*
 * In a write transaction: lock the key until the transaction ends (also when it does not
 * exist yet), then read its latest committed value (or the transaction's own write). A
 * read-modify-write of a hot key reads this way so that it waits for the previous writer
 * instead of reading a value that the previous writer is about to replace (which fails the
 * commit and, under steady contention, every retry too). CORE_EPERM in a read
 * transaction; CORE_ECONFLICT when the backend cannot lock (lock timeout, deadlock).
 */
int store_txn_get_for_update(struct store_txn *t, const void *key, size_t klen,
			     struct core_buf *val_out, struct core_error *err);

/* One key of a multi-get: key in, val and found out. */
struct store_mget {
	const void *key;
	size_t klen;
	struct core_buf val; /* caller initialises (CORE_BUF_INIT) and finis */
	bool found;
};
/* Read n keys in one round trip. Returns 0 (missing keys have found = false). */
int store_txn_multi_get(struct store_txn *t, struct store_mget *v, size_t n,
			struct core_error *err);

/*
 * A key range [lo, hi): lo inclusive (NULL: from the first key), hi exclusive (NULL: to the
 * last key). reverse visits from the highest key down; limit 0 means no limit.
 */
struct store_range {
	const void *lo;
	size_t lo_len;
	const void *hi;
	size_t hi_len;
	bool reverse;
	size_t limit;
};

/*
 * Set *r to every key that starts with prefix (the prefix bound). hi_buf (STORE_KEY_MAX
 * bytes, caller-owned) receives the upper bound, so it must live as long as *r. Other
 * fields of *r (reverse, limit) are reset to false / 0.
 */
void store_range_prefix(struct store_range *r, const void *prefix, size_t plen,
			uint8_t hi_buf[STORE_KEY_MAX]);

/* Scan callback: return 0 to continue, 1 to stop, a negative core_err to fail the scan. */
typedef int (*store_scan_fn)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);

/* Visit keys of r in order. Returns the number of keys visited, or an error. */
int store_txn_scan(struct store_txn *t, const struct store_range *r, store_scan_fn fn, void *arg,
		   struct core_error *err);

/* Write or overwrite a key (values of any size up to the transaction limit). */
int store_txn_put(struct store_txn *t, const void *key, size_t klen, const void *val, size_t vlen,
		  struct core_error *err);
/* store_txn_put() of a key the caller knows holds no chunked value (more than
 * STORE_CHUNK_SIZE bytes) now: a key named by an id allocated in this transaction, or one
 * whose values are always small. It skips the look for the old value's chunks. A wrong
 * claim leaves those chunks behind, and a later chunked value of the key cannot be read. */
int store_txn_put_nochunks(struct store_txn *t, const void *key, size_t klen, const void *val,
			   size_t vlen, struct core_error *err);
/* Delete a key (deleting a missing key is not an error). */
int store_txn_delete(struct store_txn *t, const void *key, size_t klen, struct core_error *err);

/*
 * Compare-and-set assertion: lock the point key and check that its latest committed value
 * (or this transaction's own write) equals expect[0..elen). expect == NULL asserts that the
 * key does not exist. Returns 0 or CORE_ECONFLICT; the lock holds until commit or abort, so
 * a following put of the key is a compare-and-set.
 */
int store_txn_assert(struct store_txn *t, const void *key, size_t klen, const void *expect,
		     size_t elen, struct core_error *err);

/*
 * Atomic counter: add delta to the signed 64-bit counter stored at key (a missing key
 * counts as 0) under a point lock; *value_out (may be NULL) receives the new value.
 * Counters are stored as 8 bytes, big-endian two's complement (store_counter_decode()).
 */
int store_txn_counter_add(struct store_txn *t, const void *key, size_t klen, int64_t delta,
			  int64_t *value_out, struct core_error *err);
/* Decode a counter value read with get/scan. Returns 0 or CORE_ESYNTAX (not 8 bytes). */
int store_counter_decode(const void *val, size_t vlen, int64_t *out);

/*
 * Allocate the next id of (account, collection): 1, 2, 3, ... strictly increasing, never
 * reused, one counter per pair (ARCHITECTURE.md §4: never one global counter). The id is
 * taken under a point lock and only becomes permanent when the transaction commits.
 */
int store_txn_id_next(struct store_txn *t, uint64_t account, uint32_t collection, uint64_t *id_out,
		      struct core_error *err);

/*
 * Commit and free *t (set to NULL). Returns 0 once the write is durable (synced to the
 * backend's log), CORE_ECONFLICT (retry the transaction), CORE_ETEMP, CORE_ELIMIT or
 * CORE_EIO; on any error nothing of the transaction is visible. A read transaction commits
 * like an abort.
 */
int store_txn_commit(struct store_txn **t, struct core_error *err);
/* Roll back and free *t; accepts NULL and *t == NULL. */
void store_txn_abort(struct store_txn **t);

/* Bytes written so far by the transaction (keys + values, as the limit counts them). */
size_t store_txn_bytes(const struct store_txn *t);

/* ------------------------------------------------------------------------------------ */
/* Lookup store                                                                         */
/* ------------------------------------------------------------------------------------ */

struct store_lookup;

/* Largest lookup value (lookup entries are never chunked). */
#define STORE_LOOKUP_VALUE_MAX STORE_CHUNK_SIZE

/* Open a lookup store with a lookup backend ("memory"). */
int store_lookup_open(const char *backend, const struct store_params *p, struct store_lookup **out,
		      struct core_error *err);
/* A lookup store kept in an open data store (space LOOKUP); d is borrowed and must
 * outlive the lookup store. */
int store_lookup_open_data(struct store_data *d, struct store_lookup **out, struct core_error *err);
void store_lookup_free(struct store_lookup **l);

/* Returns 0 or CORE_ENOTFOUND (missing or expired). */
int store_lookup_get(struct store_lookup *l, const void *key, size_t klen, struct core_buf *val_out,
		     struct core_error *err);
/* ttl_ms 0: no expiry. */
int store_lookup_set(struct store_lookup *l, const void *key, size_t klen, const void *val,
		     size_t vlen, uint64_t ttl_ms, struct core_error *err);
int store_lookup_delete(struct store_lookup *l, const void *key, size_t klen,
			struct core_error *err);
/*
 * Add delta to a counter; a missing or expired counter starts from 0 with expiry now +
 * ttl_ms (0: none); a live counter keeps its expiry (a fixed rate-limit window).
 */
int store_lookup_counter_add(struct store_lookup *l, const void *key, size_t klen, int64_t delta,
			     uint64_t ttl_ms, int64_t *value_out, struct core_error *err);
/* Visit live entries whose key starts with prefix, in key order. Returns the count. */
int store_lookup_scan(struct store_lookup *l, const void *prefix, size_t plen, store_scan_fn fn,
		      void *arg, struct core_error *err);
/* Remove expired entries now (they are invisible anyway). Returns the number removed. */
int store_lookup_purge(struct store_lookup *l, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Blob store                                                                           */
/* ------------------------------------------------------------------------------------ */

struct store_blob;
struct store_blob_writer;

#define STORE_HASH_LEN 32u
/* Text form of a blob id: "G" + 64 lower-case hex digits (65 bytes). */
#define STORE_BLOB_ID_TEXT 65u

/*
 * An opaque, account-scoped blob id. It names content, but holding one grants nothing: every
 * read, link and copy checks that the account holds a link to the content or a live upload
 * reservation (ARCHITECTURE.md §4: knowing a hash grants nothing).
 */
struct store_blob_id {
	uint8_t hash[STORE_HASH_LEN];
};

/* Write the text form (STORE_BLOB_ID_TEXT bytes + NUL) into out. */
void store_blob_id_format(const struct store_blob_id *id, char out[STORE_BLOB_ID_TEXT + 1]);
/* Parse the text form. Returns 0 or CORE_ESYNTAX. */
int store_blob_id_parse(const char *s, size_t len, struct store_blob_id *out);

/*
 * Open a blob store. backend names where content lives: "fs" (files under p->path) or a data
 * backend name, in which case content goes into meta's data store (space BLOB) and p is
 * only read for compression. Links, reservations and blob metadata always live in meta
 * (borrowed, must outlive the blob store).
 */
int store_blob_open(const char *backend, const struct store_params *p, struct store_data *meta,
		    struct store_blob **out, struct core_error *err);
void store_blob_free(struct store_blob **b);

/*
 * Stream a blob in: begin, write any number of times, finish. finish makes the content
 * durable, gives the account an upload reservation valid for reserve_ms, and returns its id.
 * Identical content is stored once. Abort (or a failed finish) leaves no visible blob.
 */
int store_blob_write_begin(struct store_blob *b, struct store_blob_writer **out,
			   struct core_error *err);
int store_blob_write(struct store_blob_writer *w, const void *p, size_t n, struct core_error *err);
int store_blob_write_finish(struct store_blob_writer **w, uint64_t account, uint64_t reserve_ms,
			    struct store_blob_id *id_out, struct core_error *err);
void store_blob_write_abort(struct store_blob_writer **w);
/*
 * finish without the reservation's own commit: the content is durable and *id_out names it,
 * but nothing grants access yet. The caller reserves it in its own write transaction of the
 * meta store (store_blob_reserve_txn) before linking it there, so a delivery commits
 * reservation, links and index entries at once (one synced commit instead of two). Purge
 * leaves the content alone for its grace period (the write refreshed its age).
 */
/* Largest store_params.inline_max (larger values are lowered to it). */
#define STORE_BLOB_INLINE_LIMIT (1024u * 1024u)
/* The inline limit of b (0: store_blob_put_txn always refuses). */
uint64_t store_blob_inline_max(const struct store_blob *b);
/*
 * Write small content (len <= store_blob_inline_max(b), else CORE_ELIMIT) into the caller's
 * write transaction t of the meta store, in the layout of the data-store blob backend: it
 * becomes visible, complete, exactly when t commits, with whatever t links to it, and costs
 * no sync of its own (docs/storage.md "Throughput and durability"). *id_out is its id;
 * reserve it in t (store_blob_reserve_txn) to link it. Identical content is kept once.
 */
int store_blob_put_txn(struct store_blob *b, struct store_txn *t, const void *data, size_t len,
		       struct store_blob_id *id_out, struct core_error *err);
/* The id content would get (its SHA-256), computed outside any transaction. */
int store_blob_id_of(const void *data, size_t len, struct store_blob_id *id_out,
		     struct core_error *err);
/* store_blob_put_txn for content whose id the caller took from store_blob_id_of(). */
int store_blob_put_txn_id(struct store_blob *b, struct store_txn *t, const void *data, size_t len,
			  const struct store_blob_id *id, struct core_error *err);
int store_blob_write_finish_content(struct store_blob_writer **w, struct store_blob_id *id_out,
				    struct core_error *err);

/*
 * Link a blob the account may access to a named owner (a message, a script: "m/123");
 * links are the references that keep a blob alive. Linking needs access (CORE_EPERM
 * otherwise, also when the blob does not exist: the answer does not reveal whether it does).
 */
int store_blob_link(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    const char *owner, struct core_error *err);
/* Remove one link (CORE_ENOTFOUND if the account has no such link). */
int store_blob_unlink(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		      const char *owner, struct core_error *err);
/* The upload reservation of store_blob_write_finish, written in the caller's write
 * transaction of the meta store (see store_blob_write_finish_content). */
int store_blob_reserve_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			   const struct store_blob_id *id, uint64_t reserve_ms,
			   struct core_error *err);
/*
 * store_blob_link and store_blob_unlink inside the caller's write transaction t, so that a
 * link changes atomically with the records that hold the blob (a message created or
 * destroyed: no orphan link, no missing one). t must be a write transaction of the data
 * store that keeps b's links (store_blob_meta_is(); CORE_ESYNTAX otherwise), whichever
 * backend keeps the content. store_blob_link_txn checks access for account `from`: the
 * linking account itself, or the account the blob is copied from (JMAP Email/copy), so a
 * link can be made in another account without a reservation there. Nothing is retried
 * here: a conflict surfaces from the caller's commit and the caller retries its whole
 * transaction. Unlinking the last link leaves the content to store_blob_purge().
 */
int store_blob_link_txn(struct store_blob *b, struct store_txn *t, uint64_t from, uint64_t account,
			const struct store_blob_id *id, const char *owner, struct core_error *err);
/* store_blob_link_txn for content t itself wrote (store_blob_put_txn*): the account that
 * supplied it needs no access check and no reservation. */
int store_blob_link_own_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			    const struct store_blob_id *id, const char *owner,
			    struct core_error *err);
int store_blob_unlink_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			  const struct store_blob_id *id, const char *owner,
			  struct core_error *err);
/* Whether b keeps its links in data store d (so transactions of d may link and unlink). */
bool store_blob_meta_is(const struct store_blob *b, const struct store_data *d);
/* How many links (of any account and owner) hold a blob, read in t: 0 means only
 * reservations, if anything, keep it. */
int store_blob_links_count_txn(struct store_blob *b, struct store_txn *t,
			       const struct store_blob_id *id, uint64_t *n_out,
			       struct core_error *err);
/* Give account `to` a reservation on a blob that `from` may access (JMAP Blob/copy). */
int store_blob_copy(struct store_blob *b, uint64_t from, uint64_t to,
		    const struct store_blob_id *id, uint64_t reserve_ms, struct core_error *err);
/* Whether account may read id: 0 (yes) or CORE_EPERM. */
int store_blob_access(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		      struct core_error *err);
/* Size of a blob the account may access. */
int store_blob_size(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    uint64_t *size_out, struct core_error *err);

/* Callback receiving a blob's bytes in order; return 0 to continue, negative to fail. */
typedef int (*store_blob_read_fn)(void *arg, const void *p, size_t n);
/*
 * Stream bytes [offset, offset + len) of a blob the account may access (len UINT64_MAX: to
 * the end; a range past the end is clipped). Returns 0, CORE_EPERM or an error.
 */
int store_blob_read(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    uint64_t offset, uint64_t len, store_blob_read_fn fn, void *arg,
		    struct core_error *err);

/*
 * Remove expired reservations, then the content of every blob with no link and no
 * reservation that is older than grace_ms (also orphans of crashed writes). Returns the
 * number of blobs removed.
 */
int store_blob_purge(struct store_blob *b, uint64_t grace_ms, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Full-text store                                                                      */
/* ------------------------------------------------------------------------------------ */

/*
 * A term index kept in a data store (space FTS). The caller tokenizes and stems (the
 * tokenizer and Snowball stemmers sit above store/); this store keeps, per account, the
 * postings of each (field, term): which documents hold it and at which positions, and
 * answers term, phrase, AND, OR and NOT queries with the sorted list of matching documents.
 */
struct store_fts;

#define STORE_FTS_FIELDS 16u      /* fields 0..15 (e.g. from, to, subject, body ...) */
#define STORE_FTS_ANY_FIELD 0xffu /* in a query: the term in any field */
#define STORE_FTS_TERM_MAX 200u   /* bytes of one term (no NUL byte inside) */

struct store_fts_term {
	uint8_t field;
	const char *term; /* borrowed during the call */
	size_t len;
	uint32_t pos; /* position of the term in its field */
};

/* d is borrowed and must outlive the full-text store. */
int store_fts_open_data(struct store_data *d, struct store_fts **out, struct core_error *err);
void store_fts_free(struct store_fts **f);

/* Index a document, replacing what was indexed for it before. */
int store_fts_index(struct store_fts *f, uint64_t account, uint64_t doc,
		    const struct store_fts_term *terms, size_t n, struct core_error *err);
/* Remove a document from the index (a missing document is not an error). */
int store_fts_delete(struct store_fts *f, uint64_t account, uint64_t doc, struct core_error *err);

enum store_fts_op {
	STORE_FTS_TERM,   /* terms[0] in field */
	STORE_FTS_PHRASE, /* terms[0..n) at consecutive positions in one field */
	STORE_FTS_AND,    /* every kid (NOT kids subtract) */
	STORE_FTS_OR,     /* any kid */
	STORE_FTS_NOT,    /* documents of the account without kids[0] */
};

struct store_fts_query {
	enum store_fts_op op;
	uint8_t field; /* TERM, PHRASE: a field or STORE_FTS_ANY_FIELD */
	const struct core_str *terms;
	size_t nterms;
	const struct store_fts_query *const *kids;
	size_t nkids;
};

/*
 * Evaluate q over one account. *docs_out (caller frees with free()) receives the matching
 * document ids in ascending order, *n_out their number. Queries nest at most 32 deep.
 */
int store_fts_search(struct store_fts *f, uint64_t account, const struct store_fts_query *q,
		     uint64_t **docs_out, size_t *n_out, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Configuration: the four stores of a deployment                                       */
/* ------------------------------------------------------------------------------------ */

struct core_conf;

/* The stores a server runs with (docs/storage.md). */
struct store_set {
	struct store_data *data;
	struct store_blob *blob;
	struct store_lookup *lookup;
	struct store_fts *fts;
	uint64_t blob_grace_ms;   /* store.blob.purge-grace */
	uint64_t blob_reserve_ms; /* store.blob.reservation */
};

/* Register the store.* configuration keys (docs/storage.md) with core_conf. */
void store_conf_register(void);

/*
 * Open the stores a configuration names: store.data (rocksdb, sqlite or postgresql),
 * store.blob (fs, or "data": content in the data store), store.lookup (memory, or "data")
 * and store.fts (data). Relative paths are taken under server.data-dir. On error nothing
 * stays open and err names the key at fault. Close with store_set_close().
 */
int store_set_open(const struct core_conf *c, struct store_set *out, struct core_error *err);
/* Close what store_set_open opened (accepts a zeroed or partly filled set). */
void store_set_close(struct store_set *s);

/* ------------------------------------------------------------------------------------ */
/* Export and import (moving a deployment between backends)                             */
/* ------------------------------------------------------------------------------------ */

/*
 * A portable, versioned dump of a data store and the blob content its links reference
 * (docs/storage.md describes the format). Export reads one consistent snapshot of the data
 * store; blob content is immutable, so it is read afterwards. b may be NULL (no blobs).
 * Output is deterministic: the same content gives the same bytes on every backend.
 */
int store_dump_export(struct store_data *d, struct store_blob *b, FILE *out,
		      struct core_error *err);
/*
 * Import a dump into an empty data store (and blob store): CORE_ECONFLICT if anything is
 * there already. The whole file is checked (version, structure, SHA-256 trailer) before the
 * first write; in must be seekable.
 */
int store_dump_import(struct store_data *d, struct store_blob *b, FILE *in, struct core_error *err);
/* Check a dump (structure, limits, record count, SHA-256 trailer) without writing
 * anything. Returns 0 or CORE_ESYNTAX. Pure over the bytes of in (fuzzed). */
int store_dump_check(FILE *in, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Clock (tests may replace it to exercise TTLs and grace periods)                      */
/* ------------------------------------------------------------------------------------ */

/* Milliseconds since the epoch used for TTLs, reservations and blob ages. */
uint64_t store_now_ms(void);
/* Replace the clock (NULL restores the system clock). Not thread-safe: set before use. */
void store_clock_set(uint64_t (*now_ms)(void));

/* ------------------------------------------------------------------------------------ */
/* Backend interface                                                                    */
/* ------------------------------------------------------------------------------------ */

/*
 * A data backend: an ordered byte-key store with transactions over the spaces above. It
 * stores what store/ gives it: keys 1..STORE_RAW_KEY_MAX bytes compared bytewise, values of
 * at most STORE_CHUNK_SIZE + 64 bytes. h is shared by all threads; a txn is used by one.
 *   begin:   write = false: a consistent read snapshot. write = true: reads see own writes.
 *   get:     lock = true reads the latest committed value and holds a point lock (or
 *            conflict tracking) on the key until the end of the transaction, whether or
 *            not the key exists. Returns 0 or CORE_ENOTFOUND.
 *   multi_get: one round trip; sets found/val of each entry.
 *   scan:    keys of r within the space in order (store/ passes limit 0 and stops itself);
 *            fn may call get/multi_get/scan on the same txn.
 *   put/del/del_range: del_range removes [lo, hi) of a space.
 *   commit:  durable when it returns 0 (log synced unless no_sync); CORE_ECONFLICT on a lock
 *            conflict, deadlock or serialization failure; CORE_ETEMP on busy or lost
 *            connection. The txn is freed by commit and abort whatever the outcome.
 */
struct store_kv_ops {
	int (*open)(const struct store_params *p, void **h_out, struct core_error *err);
	void (*close)(void *h);
	int (*begin)(void *h, bool write, void **txn_out, struct core_error *err);
	int (*get)(void *txn, enum store_space sp, const void *k, size_t kl, bool lock,
		   struct core_buf *v_out, struct core_error *err);
	int (*multi_get)(void *txn, enum store_space sp, struct store_mget *v, size_t n,
			 struct core_error *err);
	int (*scan)(void *txn, enum store_space sp, const struct store_range *r, store_scan_fn fn,
		    void *arg, struct core_error *err);
	int (*put)(void *txn, enum store_space sp, const void *k, size_t kl, const void *v,
		   size_t vl, struct core_error *err);
	int (*del)(void *txn, enum store_space sp, const void *k, size_t kl,
		   struct core_error *err);
	int (*del_range)(void *txn, enum store_space sp, const void *lo, size_t lol, const void *hi,
			 size_t hil, struct core_error *err);
	int (*commit)(void *txn, struct core_error *err);
	void (*abort)(void *txn);
};

/* A lookup backend (entries with expiry, counters); h is shared by all threads. */
struct store_lookup_ops {
	int (*open)(const struct store_params *p, void **h_out, struct core_error *err);
	void (*close)(void *h);
	int (*get)(void *h, const void *k, size_t kl, uint64_t now, struct core_buf *v_out,
		   struct core_error *err);
	int (*set)(void *h, const void *k, size_t kl, const void *v, size_t vl, uint64_t expires,
		   struct core_error *err);
	int (*del)(void *h, const void *k, size_t kl, struct core_error *err);
	int (*counter_add)(void *h, const void *k, size_t kl, int64_t delta, uint64_t now,
			   uint64_t expires, int64_t *value_out, struct core_error *err);
	int (*scan)(void *h, const void *prefix, size_t plen, uint64_t now, store_scan_fn fn,
		    void *arg, struct core_error *err);
	int (*purge)(void *h, uint64_t now, struct core_error *err);
};

/* Callback of store_blob_ops.list: one stored content hash and its age reference. */
typedef int (*store_blob_list_fn)(void *arg, const uint8_t hash[STORE_HASH_LEN],
				  uint64_t created_ms);

/*
 * A blob content backend: bytes by SHA-256, nothing else (links live in the meta data
 * store). writer_commit makes the content durable under hash before returning 0 (for
 * files: data fsync, rename, directory fsync); committing content that already exists keeps
 * one copy. read streams a byte range (CORE_ENOTFOUND if absent).
 */
struct store_blob_ops {
	int (*open)(const struct store_params *p, struct store_data *meta, void **h_out,
		    struct core_error *err);
	void (*close)(void *h);
	int (*writer_begin)(void *h, void **w_out, struct core_error *err);
	int (*writer_write)(void *w, const void *p, size_t n, struct core_error *err);
	int (*writer_commit)(void *w, const uint8_t hash[STORE_HASH_LEN], uint64_t size,
			     struct core_error *err);
	void (*writer_abort)(void *w);
	int (*read)(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t off, uint64_t len,
		    store_blob_read_fn fn, void *arg, struct core_error *err);
	int (*size)(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t *size_out,
		    struct core_error *err);
	int (*remove)(void *h, const uint8_t hash[STORE_HASH_LEN], struct core_error *err);
	int (*list)(void *h, store_blob_list_fn fn, void *arg, struct core_error *err);
	/* Optional: remove leftovers of writes that never committed (a crashed writer's temp
	 * files) last touched before cutoff_ms. Returns how many it removed. */
	int (*sweep)(void *h, uint64_t cutoff_ms, struct core_error *err);
};

/* What a backend provides; any member may be NULL. */
struct store_backend {
	const struct store_kv_ops *kv;
	const struct store_lookup_ops *lookup;
	const struct store_blob_ops *blob;
};

/*
 * Register a backend under a name (static strings and tables, which must outlive the
 * process). Returns 0, CORE_ECONFLICT (name taken) or CORE_ELIMIT (table full).
 * Thread-safe.
 */
int store_backend_register(const char *name, const struct store_backend *b);
/* The backend registered under name, or NULL. Registers the built-in ones first. */
const struct store_backend *store_backend_find(const char *name);

#endif
