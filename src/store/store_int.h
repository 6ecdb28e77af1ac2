/*
 * store_int.h: private helpers shared by the files of src/store and its backends: the
 * backend tables of the built-in backends, big-endian codecs, and space-level access to a
 * data transaction for the stores built on top of a data store (lookup, blob metadata,
 * full text). Not for use outside src/store.
 */
#ifndef STAUNCH_STORE_STORE_INT_H
#define STAUNCH_STORE_STORE_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* Built-in backends (each in src/store/backends/<name>/). */
extern const struct store_kv_ops store_rocksdb_kv;
extern const struct store_kv_ops store_sqlite_kv;
extern const struct store_kv_ops store_pgsql_kv;
extern const struct store_lookup_ops store_memory_lookup;
extern const struct store_blob_ops store_fs_blob;
/* Blob content kept in the meta data store (space BLOB). */
extern const struct store_blob_ops store_kvblob_blob;
/* Content of at most 64 chunks written complete inside the caller's write transaction t of
 * the kvblob's data store (store_blob_put_txn). */
int store_kvblob_put_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			 const void *data, size_t len, struct core_error *err);
/* In t: read the content record for update (CORE_ENOTFOUND: none); remove the content. */
int store_kvblob_lock_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			  struct core_error *err);
int store_kvblob_remove_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			    struct core_error *err);

struct store_data {
	const char *name;
	const struct store_kv_ops *ops;
	void *h;
};

static inline void store_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}
static inline uint64_t store_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline void store_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint32_t store_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * The smallest key greater than every key starting with prefix: copy prefix into out, drop
 * trailing 0xff bytes and increment the last byte. Returns its length, or 0 when no such key
 * exists (prefix empty or all 0xff: the range is unbounded above).
 */
size_t store_prefix_successor(const void *prefix, size_t plen, uint8_t *out);

/* Raw (space-level) access within a data transaction, with the contract's time and size
 * accounting. Raw keys are 1..STORE_RAW_KEY_MAX bytes; values are not chunked. */
int store_txn_raw_get(struct store_txn *t, enum store_space sp, const void *k, size_t kl, bool lock,
		      struct core_buf *v_out, struct core_error *err);
int store_txn_raw_put(struct store_txn *t, enum store_space sp, const void *k, size_t kl,
		      const void *v, size_t vl, struct core_error *err);
int store_txn_raw_del(struct store_txn *t, enum store_space sp, const void *k, size_t kl,
		      struct core_error *err);
int store_txn_raw_scan(struct store_txn *t, enum store_space sp, const struct store_range *r,
		       store_scan_fn fn, void *arg, struct core_error *err);
int store_txn_raw_del_range(struct store_txn *t, enum store_space sp, const void *lo, size_t lol,
			    const void *hi, size_t hil, struct core_error *err);

/* Blob content access that bypasses account checks (export and import only). */
int store_blob_content_size(struct store_blob *b, const uint8_t hash[STORE_HASH_LEN],
			    uint64_t *size_out, struct core_error *err);
int store_blob_content_read(struct store_blob *b, const uint8_t hash[STORE_HASH_LEN],
			    store_blob_read_fn fn, void *arg, struct core_error *err);
int store_blob_content_list(struct store_blob *b, store_blob_list_fn fn, void *arg,
			    struct core_error *err);
/* Store content whose hash is known; fails with CORE_EIO if the bytes do not match it. */
int store_blob_content_begin(struct store_blob *b, struct store_blob_writer **out,
			     struct core_error *err);
int store_blob_content_finish(struct store_blob_writer **w, const uint8_t hash[STORE_HASH_LEN],
			      struct core_error *err);

/* The data store a transaction belongs to. */
struct store_data *store_txn_store(const struct store_txn *t);
/* Whether t is a write transaction. */
bool store_txn_is_write(const struct store_txn *t);

/* Monotonic milliseconds (transaction age). */
uint64_t store_mono_ms(void);

/* Run fn(t, arg) in a write transaction, retrying on CORE_ECONFLICT a few times. */
int store_data_write_retry(struct store_data *d,
			   int (*fn)(struct store_txn *t, void *arg, struct core_error *err),
			   void *arg, struct core_error *err);

#endif
