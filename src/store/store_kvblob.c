/*
 * store_kvblob.c: blob content kept in a data store (ARCHITECTURE.md §4: "or any data
 * store"), used when the blob backend is named after a data backend (rocksdb, sqlite,
 * postgresql). Space BLOB holds, next to the links of store_blob.c:
 *   'Z' hash                 -> be64 size, be64 created_ms, u8 state (0 pending, 1 complete),
 *                               be32 nchunks
 *   'C' hash, be32 index     -> u8 codec (0 raw, 1 zstd, 2 lz4), chunk bytes
 * Chunks are 64 KiB of content each (compressed only when that makes them smaller), written
 * in transactions of at most 64 chunks, so a blob of any size respects the 8 MB transaction
 * limit. The writer spools to an anonymous temp file while the hash is computed; commit
 * marks the blob pending, writes the chunks, then marks it complete: a crash leaves a
 * pending record that readers ignore and purge removes after the grace period.
 */
#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "core/core.h"
#include "store/store_int.h"

#define KVB_CODEC_RAW 0
#define KVB_CODEC_ZSTD 1
#define KVB_CODEC_LZ4 2
#define KVB_CHUNKS_PER_TXN 64u
#define KVB_META_LEN 21u

struct store_kvblob {
	struct store_data *d;
	int codec;
};

struct store_kvblob_writer {
	struct store_kvblob *kb;
	FILE *spool;
};

static int store_kvblob_open(const struct store_params *p, struct store_data *meta, void **h_out,
			     struct core_error *err)
{
	struct store_kvblob *kb = core_xcalloc(1, sizeof(*kb));
	kb->d = meta;
	const char *c = p->compression;
	if (c == NULL || c[0] == '\0' || strcmp(c, "none") == 0) {
		kb->codec = KVB_CODEC_RAW;
	} else if (strcmp(c, "zstd") == 0) {
		kb->codec = KVB_CODEC_ZSTD;
	} else if (strcmp(c, "lz4") == 0) {
		kb->codec = KVB_CODEC_LZ4;
	} else {
		free(kb);
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "blob compression must be none, zstd or lz4");
	}
	*h_out = kb;
	return 0;
}

static void store_kvblob_close(void *h)
{
	free(h);
}

static int store_kvblob_writer_begin(void *h, void **w_out, struct core_error *err)
{
	struct store_kvblob_writer *w = core_xcalloc(1, sizeof(*w));
	w->kb = h;
	w->spool = tmpfile();
	if (w->spool == NULL) {
		free(w);
		return core_error_set(err, CORE_EIO, NULL, "blob spool file: %s", strerror(errno));
	}
	*w_out = w;
	return 0;
}

static int store_kvblob_writer_write(void *wp, const void *p, size_t n, struct core_error *err)
{
	struct store_kvblob_writer *w = wp;
	if (fwrite(p, 1, n, w->spool) != n)
		return core_error_set(err, CORE_EIO, NULL, "blob spool write: %s", strerror(errno));
	return 0;
}

static void store_kvblob_writer_abort(void *wp)
{
	struct store_kvblob_writer *w = wp;
	fclose(w->spool);
	free(w);
}

static size_t store_kvblob_zkey(uint8_t *k, const uint8_t *hash)
{
	k[0] = 'Z';
	memcpy(k + 1, hash, STORE_HASH_LEN);
	return 1 + STORE_HASH_LEN;
}

static size_t store_kvblob_ckey(uint8_t *k, const uint8_t *hash, uint32_t idx)
{
	k[0] = 'C';
	memcpy(k + 1, hash, STORE_HASH_LEN);
	store_be32_put(k + 1 + STORE_HASH_LEN, idx);
	return 5 + STORE_HASH_LEN;
}

struct store_kvblob_meta {
	uint64_t size, created;
	uint8_t state;
	uint32_t nchunks;
};

static int store_kvblob_meta_get(struct store_txn *t, const uint8_t *hash,
				 struct store_kvblob_meta *m, struct core_error *err)
{
	uint8_t k[1 + STORE_HASH_LEN];
	struct core_buf v = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_BLOB, k, store_kvblob_zkey(k, hash), false, &v,
				   err);
	if (rc == 0 && v.len != KVB_META_LEN)
		rc = core_error_set(err, CORE_EIO, NULL, "blob record is corrupt");
	if (rc == 0) {
		const uint8_t *p = (const uint8_t *)v.p;
		m->size = store_be64_get(p);
		m->created = store_be64_get(p + 8);
		m->state = p[16];
		m->nchunks = store_be32_get(p + 17);
	}
	core_buf_fini(&v);
	return rc;
}

struct store_kvblob_metaput {
	const uint8_t *hash;
	struct store_kvblob_meta m;
	bool only_if_complete; /* refresh the age of complete content, else report */
	bool was_complete;
};

static int store_kvblob_meta_put_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_kvblob_metaput *a = arg;
	if (a->only_if_complete) {
		struct store_kvblob_meta cur;
		int rc = store_kvblob_meta_get(t, a->hash, &cur, err);
		if (rc == CORE_ENOTFOUND || (rc == 0 && cur.state != 1)) {
			a->was_complete = false;
			return 0;
		}
		if (rc < 0)
			return rc;
		a->was_complete = true;
		a->m = cur;
		a->m.created = store_now_ms();
	}
	uint8_t k[1 + STORE_HASH_LEN], v[KVB_META_LEN];
	store_be64_put(v, a->m.size);
	store_be64_put(v + 8, a->m.created);
	v[16] = a->m.state;
	store_be32_put(v + 17, a->m.nchunks);
	return store_txn_raw_put(t, STORE_SPACE_BLOB, k, store_kvblob_zkey(k, a->hash), v,
				 sizeof(v), err);
}

/* Encode one chunk: codec byte + bytes, compressed only when it saves space. */
static size_t store_kvblob_encode(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	if (codec == KVB_CODEC_ZSTD) {
		size_t c = ZSTD_compress(out + 1, cap - 1, in, n, 3);
		if (!ZSTD_isError(c) && c < n) {
			out[0] = KVB_CODEC_ZSTD;
			return c + 1;
		}
	} else if (codec == KVB_CODEC_LZ4) {
		int c = LZ4_compress_default((const char *)in, (char *)out + 1, (int)n,
					     (int)(cap - 1));
		if (c > 0 && (size_t)c < n) {
			out[0] = KVB_CODEC_LZ4;
			return (size_t)c + 1;
		}
	}
	out[0] = KVB_CODEC_RAW;
	memcpy(out + 1, in, n);
	return n + 1;
}

struct store_kvblob_chunks {
	struct store_kvblob *kb;
	const uint8_t *hash;
	FILE *spool;
	uint32_t next, total;
	uint8_t *in, *out;
	size_t outcap;
};

static int store_kvblob_chunks_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_kvblob_chunks *c = arg;
	/* A retried transaction starts this batch again from its first chunk. */
	uint32_t first = c->next;
	if (fseeko(c->spool, (off_t)first * STORE_CHUNK_SIZE, SEEK_SET) != 0)
		return core_error_set(err, CORE_EIO, NULL, "blob spool seek: %s", strerror(errno));
	for (uint32_t i = first; i < c->total && i < first + KVB_CHUNKS_PER_TXN; i++) {
		size_t n = fread(c->in, 1, STORE_CHUNK_SIZE, c->spool);
		if (n == 0)
			return core_error_set(err, CORE_EIO, NULL, "blob spool is short");
		size_t el = store_kvblob_encode(c->kb->codec, c->in, n, c->out, c->outcap);
		uint8_t k[5 + STORE_HASH_LEN];
		int rc = store_txn_raw_put(t, STORE_SPACE_BLOB, k, store_kvblob_ckey(k, c->hash, i),
					   c->out, el, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int store_kvblob_writer_commit(void *wp, const uint8_t hash[STORE_HASH_LEN], uint64_t size,
				      struct core_error *err)
{
	struct store_kvblob_writer *w = wp;
	struct store_kvblob *kb = w->kb;
	int rc = 0;
	/* Identical content already complete: keep one copy and refresh its age. */
	struct store_kvblob_metaput mp = {.hash = hash, .only_if_complete = true};
	rc = store_data_write_retry(kb->d, store_kvblob_meta_put_fn, &mp, err);
	if (rc < 0 || mp.was_complete)
		goto out;
	uint64_t nch = (size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
	if (nch > UINT32_MAX) {
		rc = core_error_set(err, CORE_ELIMIT, NULL, "blob too large");
		goto out;
	}
	if (fflush(w->spool) != 0) {
		rc = core_error_set(err, CORE_EIO, NULL, "blob spool flush: %s", strerror(errno));
		goto out;
	}
	struct store_kvblob_metaput pending = {.hash = hash,
					       .m = {size, store_now_ms(), 0, (uint32_t)nch}};
	rc = store_data_write_retry(kb->d, store_kvblob_meta_put_fn, &pending, err);
	if (rc < 0)
		goto out;
	struct store_kvblob_chunks c = {kb, hash, w->spool, 0, (uint32_t)nch, NULL, NULL, 0};
	c.in = core_xmalloc(STORE_CHUNK_SIZE);
	c.outcap = STORE_CHUNK_SIZE + 64;
	if (ZSTD_compressBound(STORE_CHUNK_SIZE) + 1 > c.outcap)
		c.outcap = ZSTD_compressBound(STORE_CHUNK_SIZE) + 1;
	c.out = core_xmalloc(c.outcap);
	while (rc == 0 && c.next < c.total) {
		rc = store_data_write_retry(kb->d, store_kvblob_chunks_fn, &c, err);
		if (rc == 0)
			c.next = c.next + KVB_CHUNKS_PER_TXN < c.total ? c.next + KVB_CHUNKS_PER_TXN
								       : c.total;
	}
	free(c.in);
	free(c.out);
	if (rc < 0)
		goto out;
	struct store_kvblob_metaput done = {.hash = hash,
					    .m = {size, pending.m.created, 1, (uint32_t)nch}};
	rc = store_data_write_retry(kb->d, store_kvblob_meta_put_fn, &done, err);
out:
	fclose(w->spool);
	free(w);
	return rc;
}

int store_kvblob_put_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			 const void *data, size_t len, struct core_error *err)
{
	struct store_kvblob *kb = h;
	/* The record is read for update: a purge removing this content (store_kvblob_remove_txn)
	 * either commits first, and the chunks are written again, or waits for this
	 * transaction and then sees its references. */
	uint8_t zk[1 + STORE_HASH_LEN];
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_BLOB, zk, store_kvblob_zkey(zk, hash), true, &cur,
				   err);
	bool complete = rc == 0 && cur.len == KVB_META_LEN && ((const uint8_t *)cur.p)[16] == 1;
	core_buf_fini(&cur);
	if (rc < 0 && rc != CORE_ENOTFOUND)
		return rc;
	if (rc == CORE_ENOTFOUND) {
		core_error_clear(err);
		rc = 0;
	}
	if (complete) {
		/* Identical content already complete: refresh its age, keep one copy. */
		struct store_kvblob_metaput mp = {.hash = hash, .only_if_complete = true};
		return store_kvblob_meta_put_fn(t, &mp, err);
	}
	uint64_t nch = ((uint64_t)len + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
	if (nch > KVB_CHUNKS_PER_TXN)
		return core_error_set(err, CORE_ELIMIT, NULL, "blob too large for one transaction");
	size_t outcap = STORE_CHUNK_SIZE + 64;
	if (ZSTD_compressBound(STORE_CHUNK_SIZE) + 1 > outcap)
		outcap = ZSTD_compressBound(STORE_CHUNK_SIZE) + 1;
	uint8_t *out = core_xmalloc(outcap);
	const uint8_t *p = data;
	for (uint32_t i = 0; rc == 0 && i < (uint32_t)nch; i++) {
		size_t off = (size_t)i * STORE_CHUNK_SIZE;
		size_t n = len - off < STORE_CHUNK_SIZE ? len - off : STORE_CHUNK_SIZE;
		size_t el = store_kvblob_encode(kb->codec, p + off, n, out, outcap);
		uint8_t k[5 + STORE_HASH_LEN];
		rc = store_txn_raw_put(t, STORE_SPACE_BLOB, k, store_kvblob_ckey(k, hash, i), out,
				       el, err);
	}
	free(out);
	if (rc < 0)
		return rc;
	/* Complete at once: the chunks commit with this record or not at all. */
	struct store_kvblob_metaput done = {.hash = hash,
					    .m = {len, store_now_ms(), 1, (uint32_t)nch}};
	return store_kvblob_meta_put_fn(t, &done, err);
}

static int store_kvblob_size(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t *size_out,
			     struct core_error *err)
{
	struct store_kvblob *kb = h;
	struct store_txn *t = NULL;
	int rc = store_txn_begin(kb->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	struct store_kvblob_meta m;
	rc = store_kvblob_meta_get(t, hash, &m, err);
	store_txn_abort(&t);
	if (rc == 0 && m.state != 1)
		rc = CORE_ENOTFOUND;
	if (rc == 0)
		*size_out = m.size;
	return rc;
}

/* Decode a stored chunk into out (STORE_CHUNK_SIZE bytes). Returns its length or < 0. */
static int store_kvblob_decode(const uint8_t *p, size_t n, uint8_t *out, struct core_error *err)
{
	if (n < 1)
		return core_error_set(err, CORE_EIO, NULL, "blob chunk is empty");
	if (p[0] == KVB_CODEC_RAW && n - 1 <= STORE_CHUNK_SIZE) {
		memcpy(out, p + 1, n - 1);
		return (int)(n - 1);
	}
	if (p[0] == KVB_CODEC_ZSTD) {
		size_t r = ZSTD_decompress(out, STORE_CHUNK_SIZE, p + 1, n - 1);
		if (!ZSTD_isError(r))
			return (int)r;
	} else if (p[0] == KVB_CODEC_LZ4) {
		int r = LZ4_decompress_safe((const char *)p + 1, (char *)out, (int)(n - 1),
					    STORE_CHUNK_SIZE);
		if (r >= 0)
			return r;
	}
	return core_error_set(err, CORE_EIO, NULL, "blob chunk cannot be decoded");
}

static int store_kvblob_read(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t off,
			     uint64_t len, store_blob_read_fn fn, void *arg, struct core_error *err)
{
	struct store_kvblob *kb = h;
	uint64_t size = 0;
	int rc = store_kvblob_size(h, hash, &size, err);
	if (rc < 0)
		return rc;
	if (off >= size)
		return 0;
	uint64_t end = len > size - off ? size : off + len;
	uint8_t *plain = core_xmalloc(STORE_CHUNK_SIZE);
	struct core_buf raw = CORE_BUF_INIT;
	uint64_t idx = off / STORE_CHUNK_SIZE;
	/* Content never changes once complete: each batch of chunks may read its own short
	 * snapshot, so a slow reader never holds a transaction past its time limit. */
	while (rc == 0 && idx * STORE_CHUNK_SIZE < end) {
		struct store_txn *t = NULL;
		rc = store_txn_begin(kb->d, STORE_TXN_READ, &t, err);
		for (int b = 0; rc == 0 && b < 16 && idx * STORE_CHUNK_SIZE < end; b++, idx++) {
			uint8_t k[5 + STORE_HASH_LEN];
			rc = store_txn_raw_get(t, STORE_SPACE_BLOB, k,
					       store_kvblob_ckey(k, hash, (uint32_t)idx), false,
					       &raw, err);
			if (rc == CORE_ENOTFOUND)
				rc = core_error_set(err, CORE_EIO, NULL, "blob chunk is missing");
			if (rc < 0)
				break;
			int n = store_kvblob_decode((const uint8_t *)raw.p, raw.len, plain, err);
			if (n < 0) {
				rc = n;
				break;
			}
			uint64_t cstart = idx * STORE_CHUNK_SIZE;
			uint64_t from = off > cstart ? off - cstart : 0;
			uint64_t to = end - cstart < (uint64_t)n ? end - cstart : (uint64_t)n;
			if (from < to) {
				rc = fn(arg, plain + from, (size_t)(to - from));
				if (rc < 0)
					core_error_set(err, rc, NULL, "blob reader stopped");
			}
		}
		store_txn_abort(&t);
	}
	core_buf_fini(&raw);
	free(plain);
	return rc;
}

static int store_kvblob_remove_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	const uint8_t *hash = arg;
	uint8_t lo[5 + STORE_HASH_LEN], hi[5 + STORE_HASH_LEN], zk[1 + STORE_HASH_LEN];
	size_t ll = store_kvblob_ckey(lo, hash, 0) - 4;
	size_t hl = store_prefix_successor(lo, ll, hi);
	int rc = store_txn_raw_del_range(t, STORE_SPACE_BLOB, lo, ll, hi, hl, err);
	if (rc == 0)
		rc = store_txn_raw_del(t, STORE_SPACE_BLOB, zk, store_kvblob_zkey(zk, hash), err);
	return rc;
}

int store_kvblob_lock_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			  struct core_error *err)
{
	(void)h;
	uint8_t zk[1 + STORE_HASH_LEN];
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_BLOB, zk, store_kvblob_zkey(zk, hash), true, &cur,
				   err);
	core_buf_fini(&cur);
	return rc;
}

int store_kvblob_remove_txn(void *h, struct store_txn *t, const uint8_t hash[STORE_HASH_LEN],
			    struct core_error *err)
{
	(void)h;
	return store_kvblob_remove_fn(t, (void *)hash, err);
}

static int store_kvblob_remove(void *h, const uint8_t hash[STORE_HASH_LEN], struct core_error *err)
{
	struct store_kvblob *kb = h;
	return store_data_write_retry(kb->d, store_kvblob_remove_fn, (void *)hash, err);
}

struct store_kvblob_list {
	store_blob_list_fn fn;
	void *arg;
};

static int store_kvblob_list_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_kvblob_list *l = arg;
	if (kl != 1 + STORE_HASH_LEN || vl != KVB_META_LEN)
		return 0;
	return l->fn(l->arg, (const uint8_t *)k + 1, store_be64_get((const uint8_t *)v + 8));
}

static int store_kvblob_list(void *h, store_blob_list_fn fn, void *arg, struct core_error *err)
{
	struct store_kvblob *kb = h;
	struct store_txn *t = NULL;
	int rc = store_txn_begin(kb->d, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "Z", 1, hi);
	struct store_kvblob_list l = {fn, arg};
	rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_kvblob_list_cb, &l, err);
	store_txn_abort(&t);
	return rc < 0 ? rc : 0;
}

const struct store_blob_ops store_kvblob_blob = {
	.open = store_kvblob_open,
	.close = store_kvblob_close,
	.writer_begin = store_kvblob_writer_begin,
	.writer_write = store_kvblob_writer_write,
	.writer_commit = store_kvblob_writer_commit,
	.writer_abort = store_kvblob_writer_abort,
	.read = store_kvblob_read,
	.size = store_kvblob_size,
	.remove = store_kvblob_remove,
	.list = store_kvblob_list,
};
