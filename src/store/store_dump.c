/*
 * store_dump.c: export and import of a deployment's stores in a portable, versioned file,
 * so moving between backends is one command each way (issue 3; docs/storage.md).
 *
 * Format (all integers big-endian):
 *   "STNCDUMP" be32 version (1)
 *   records, each starting with a type byte:
 *     'K' u8 space, be16 klen, key, be32 vlen, value     one key of a space
 *     'B' hash[32], be64 size, (be32 n, n bytes)..., be32 0   one blob's content
 *     'E' be64 records, sha256[32]                        end: count of K and B records and
 *                                                          the SHA-256 of every byte before
 * Spaces: DATA values are whole (store/ re-chunks them on import); CHUNK is never written
 * (it is derived); ID, LOOKUP, FTS as stored; BLOB only its links and reservations ('L',
 * 'R' keys) - content travels in 'B' records, one per hash referenced by a link or a
 * reservation, in hash order. Keys come in bytewise order per space, so the same content
 * gives the same file whatever the backend.
 */
#include <openssl/evp.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

#define DUMP_MAGIC "STNCDUMP"
#define DUMP_VERSION 1u
#define DUMP_IMPORT_TXN_BYTES (4u * 1024u * 1024u)

struct dump_out {
	FILE *f;
	EVP_MD_CTX *sha;
	uint64_t records;
	int failed;
};

static void dump_put(struct dump_out *o, const void *p, size_t n)
{
	if (n == 0 || o->failed)
		return;
	if (fwrite(p, 1, n, o->f) != n)
		o->failed = 1;
	EVP_DigestUpdate(o->sha, p, n);
}

struct dump_kv {
	struct dump_out *o;
	enum store_space sp;
	struct core_buf *hashes; /* BLOB space: hashes seen in 'R' keys */
};

static int dump_kv_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct dump_kv *a = arg;
	const uint8_t *kp = k;
	if (a->sp == STORE_SPACE_BLOB) {
		if (kp[0] != 'L' && kp[0] != 'R')
			return 0; /* content records: exported as 'B' */
		if (kp[0] == 'R' && kl >= 1 + STORE_HASH_LEN) {
			size_t n = a->hashes->len;
			if (n < STORE_HASH_LEN ||
			    memcmp(a->hashes->p + n - STORE_HASH_LEN, kp + 1, STORE_HASH_LEN) != 0)
				core_buf_append(a->hashes, kp + 1, STORE_HASH_LEN);
		}
	}
	if (kl > 0xffff || vl > UINT32_MAX)
		return CORE_ELIMIT;
	uint8_t hdr[4], vlen[4];
	hdr[0] = 'K';
	hdr[1] = (uint8_t)a->sp;
	hdr[2] = (uint8_t)(kl >> 8);
	hdr[3] = (uint8_t)kl;
	store_be32_put(vlen, (uint32_t)vl);
	dump_put(a->o, hdr, 4);
	dump_put(a->o, k, kl);
	dump_put(a->o, vlen, 4);
	dump_put(a->o, v, vl);
	a->o->records++;
	return a->o->failed ? CORE_EIO : 0;
}

static int dump_blob_cb(void *arg, const void *p, size_t n)
{
	struct dump_out *o = arg;
	while (n > 0) {
		size_t k = n > STORE_CHUNK_SIZE ? STORE_CHUNK_SIZE : n;
		uint8_t len[4];
		store_be32_put(len, (uint32_t)k);
		dump_put(o, len, 4);
		dump_put(o, p, k);
		p = (const uint8_t *)p + k;
		n -= k;
	}
	return o->failed ? CORE_EIO : 0;
}

static int dump_hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, STORE_HASH_LEN);
}

int store_dump_export(struct store_data *d, struct store_blob *b, FILE *out, struct core_error *err)
{
	struct dump_out o = {out, EVP_MD_CTX_new(), 0, 0};
	if (o.sha == NULL || EVP_DigestInit_ex(o.sha, EVP_sha256(), NULL) != 1)
		core_die("out of memory (SHA-256 context)");
	uint8_t hdr[12];
	memcpy(hdr, DUMP_MAGIC, 8);
	store_be32_put(hdr + 8, DUMP_VERSION);
	dump_put(&o, hdr, sizeof(hdr));
	struct core_buf hashes = CORE_BUF_INIT;
	struct store_txn *t = NULL;
	int rc = store_txn_begin(d, STORE_TXN_SNAPSHOT, &t, err);
	if (rc == 0) {
		struct store_range all = {0};
		struct dump_kv a = {&o, STORE_SPACE_DATA, &hashes};
		rc = store_txn_scan(t, &all, dump_kv_cb, &a, err);
		static const enum store_space raw[] = {STORE_SPACE_ID, STORE_SPACE_LOOKUP,
						       STORE_SPACE_FTS, STORE_SPACE_BLOB};
		for (size_t i = 0; rc >= 0 && i < CORE_NELEM(raw); i++) {
			a.sp = raw[i];
			rc = store_txn_raw_scan(t, raw[i], &all, dump_kv_cb, &a, err);
		}
		store_txn_abort(&t);
	}
	/* Content of every referenced hash, in hash order (R keys come sorted by hash, but a
	 * hash may appear in several runs only if keys interleave; sort to be sure). */
	size_t nh = hashes.len / STORE_HASH_LEN;
	if (rc >= 0 && nh > 0 && b == NULL)
		rc = core_error_set(err, CORE_EINTERNAL, NULL, "blob links without a blob store");
	if (rc >= 0 && nh > 1)
		qsort(hashes.p, nh, STORE_HASH_LEN, dump_hash_cmp);
	for (size_t i = 0; rc >= 0 && i < nh; i++) {
		const uint8_t *h = (const uint8_t *)hashes.p + i * STORE_HASH_LEN;
		if (i > 0 && memcmp(h, h - STORE_HASH_LEN, STORE_HASH_LEN) == 0)
			continue;
		uint64_t size = 0;
		rc = store_blob_content_size(b, h, &size, err);
		if (rc == CORE_ENOTFOUND)
			rc = core_error_set(err, CORE_EIO, NULL,
					    "a linked blob has no content (run purge first?)");
		if (rc < 0)
			break;
		uint8_t bh[1 + STORE_HASH_LEN + 8];
		bh[0] = 'B';
		memcpy(bh + 1, h, STORE_HASH_LEN);
		store_be64_put(bh + 1 + STORE_HASH_LEN, size);
		dump_put(&o, bh, sizeof(bh));
		rc = store_blob_content_read(b, h, dump_blob_cb, &o, err);
		uint8_t zero[4] = {0};
		dump_put(&o, zero, 4);
		o.records++;
	}
	if (rc >= 0) {
		uint8_t end[1 + 8 + 32];
		end[0] = 'E';
		store_be64_put(end + 1, o.records);
		dump_put(&o, end, 9);
		unsigned hl = 0;
		EVP_DigestFinal_ex(o.sha, end + 9, &hl);
		if (fwrite(end + 9, 1, 32, out) != 32 || fflush(out) != 0)
			o.failed = 1;
		rc = 0;
	}
	if (rc == 0 && o.failed)
		rc = core_error_set(err, CORE_EIO, NULL, "cannot write the dump file");
	EVP_MD_CTX_free(o.sha);
	core_buf_fini(&hashes);
	return rc;
}

/* ---------------------------------------------------------------- import */

struct dump_in {
	FILE *f;
	EVP_MD_CTX *sha;
};

static int dump_get(struct dump_in *in, void *p, size_t n, struct core_error *err)
{
	if (n > 0 && fread(p, 1, n, in->f) != n)
		return core_error_set(err, CORE_ESYNTAX, NULL, "dump file is truncated");
	if (in->sha != NULL)
		EVP_DigestUpdate(in->sha, p, n);
	return 0;
}

/*
 * Walk the file. apply = false checks structure and trailer only; apply = true writes
 * (the file was checked before).
 */
static int dump_walk(struct store_data *d, struct store_blob *b, FILE *f, bool apply,
		     struct core_error *err)
{
	struct dump_in in = {f, EVP_MD_CTX_new()};
	if (in.sha == NULL || EVP_DigestInit_ex(in.sha, EVP_sha256(), NULL) != 1)
		core_die("out of memory (SHA-256 context)");
	uint8_t hdr[12];
	int rc = dump_get(&in, hdr, sizeof(hdr), err);
	if (rc == 0 && memcmp(hdr, DUMP_MAGIC, 8) != 0)
		rc = core_error_set(err, CORE_ESYNTAX, NULL, "not a Staunch store dump");
	if (rc == 0 && store_be32_get(hdr + 8) != DUMP_VERSION)
		rc = core_error_set(err, CORE_ESYNTAX, NULL, "dump version %u is not supported",
				    store_be32_get(hdr + 8));
	uint8_t *val = core_xmalloc(STORE_TXN_MAX_BYTES);
	struct store_txn *t = NULL;
	uint64_t records = 0;
	bool ended = false;
	while (rc == 0 && !ended) {
		uint8_t type;
		rc = dump_get(&in, &type, 1, err);
		if (rc < 0)
			break;
		if (type == 'K') {
			uint8_t h[3], vl4[4], key[STORE_RAW_KEY_MAX];
			rc = dump_get(&in, h, 3, err);
			size_t kl = (size_t)h[1] << 8 | h[2];
			if (rc == 0 && (h[0] >= STORE_SPACE_COUNT || h[0] == STORE_SPACE_CHUNK ||
					kl == 0 || kl > STORE_RAW_KEY_MAX ||
					(h[0] == STORE_SPACE_DATA && kl > STORE_KEY_MAX)))
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "dump: bad key record");
			if (rc == 0)
				rc = dump_get(&in, key, kl, err);
			if (rc == 0)
				rc = dump_get(&in, vl4, 4, err);
			uint32_t vl = rc == 0 ? store_be32_get(vl4) : 0;
			if (rc == 0 && (vl > STORE_TXN_MAX_BYTES ||
					(h[0] != STORE_SPACE_DATA && vl > STORE_CHUNK_SIZE + 64)))
				rc = core_error_set(err, CORE_ESYNTAX, NULL, "dump: value too big");
			if (rc == 0)
				rc = dump_get(&in, val, vl, err);
			records++;
			if (rc < 0 || !apply)
				continue;
			if (t != NULL && store_txn_bytes(t) + kl + vl > DUMP_IMPORT_TXN_BYTES) {
				rc = store_txn_commit(&t, err);
				if (rc < 0)
					break;
			}
			if (t == NULL)
				rc = store_txn_begin(d, STORE_TXN_WRITE, &t, err);
			if (rc == 0 && h[0] == STORE_SPACE_DATA)
				rc = store_txn_put(t, key, kl, val, vl, err);
			else if (rc == 0)
				rc = store_txn_raw_put(t, (enum store_space)h[0], key, kl, val, vl,
						       err);
		} else if (type == 'B') {
			uint8_t bh[STORE_HASH_LEN + 8];
			rc = dump_get(&in, bh, sizeof(bh), err);
			if (rc == 0 && apply && b == NULL)
				rc = core_error_set(err, CORE_EINTERNAL, NULL,
						    "dump holds blobs but no blob store is open");
			if (rc == 0 && apply && t != NULL)
				rc = store_txn_commit(&t, err);
			struct store_blob_writer *w = NULL;
			if (rc == 0 && apply)
				rc = store_blob_content_begin(b, &w, err);
			uint64_t size = store_be64_get(bh + STORE_HASH_LEN), got = 0;
			for (;;) {
				uint8_t l4[4];
				if (rc < 0 || (rc = dump_get(&in, l4, 4, err)) < 0)
					break;
				uint32_t n = store_be32_get(l4);
				if (n == 0)
					break;
				if (n > STORE_CHUNK_SIZE || got + n > size) {
					rc = core_error_set(err, CORE_ESYNTAX, NULL,
							    "dump: bad blob piece");
					break;
				}
				rc = dump_get(&in, val, n, err);
				if (rc == 0 && w != NULL)
					rc = store_blob_write(w, val, n, err);
				got += n;
			}
			if (rc == 0 && got != size)
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "dump: blob size mismatch");
			if (w != NULL) {
				if (rc == 0)
					rc = store_blob_content_finish(&w, bh, err);
				else
					store_blob_write_abort(&w);
			}
			records++;
		} else if (type == 'E') {
			uint8_t cnt[8], want[32], have[EVP_MAX_MD_SIZE];
			rc = dump_get(&in, cnt, 8, err);
			unsigned hl = 0;
			EVP_DigestFinal_ex(in.sha, have, &hl);
			EVP_MD_CTX_free(in.sha);
			in.sha = NULL;
			if (rc == 0)
				rc = dump_get(&in, want, 32, err);
			if (rc == 0 && store_be64_get(cnt) != records)
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "dump: record count differs");
			if (rc == 0 && memcmp(want, have, 32) != 0)
				rc = core_error_set(err, CORE_ESYNTAX, NULL,
						    "dump: checksum differs");
			ended = true;
		} else {
			rc = core_error_set(err, CORE_ESYNTAX, NULL, "dump: unknown record type");
		}
	}
	if (rc == 0 && fgetc(f) != EOF)
		rc = core_error_set(err, CORE_ESYNTAX, NULL, "dump: bytes after the end record");
	if (t != NULL) {
		if (rc == 0)
			rc = store_txn_commit(&t, err);
		else
			store_txn_abort(&t);
	}
	free(val);
	EVP_MD_CTX_free(in.sha);
	return rc;
}

static int dump_any_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	*(bool *)arg = true;
	return 1;
}

static int dump_any_blob_cb(void *arg, const uint8_t hash[STORE_HASH_LEN], uint64_t created)
{
	(void)hash;
	(void)created;
	*(bool *)arg = true;
	return 1;
}

int store_dump_import(struct store_data *d, struct store_blob *b, FILE *in, struct core_error *err)
{
	/* Into an empty store only: merging two deployments is not a migration. */
	struct store_txn *t = NULL;
	int rc = store_txn_begin(d, STORE_TXN_READ, &t, err);
	bool any = false;
	for (int sp = 0; rc >= 0 && !any && sp < STORE_SPACE_COUNT; sp++) {
		struct store_range all = {.limit = 1};
		rc = store_txn_raw_scan(t, (enum store_space)sp, &all, dump_any_cb, &any, err);
	}
	store_txn_abort(&t);
	if (rc >= 0 && !any && b != NULL)
		rc = store_blob_content_list(b, dump_any_blob_cb, &any, err);
	if (rc < 0)
		return rc;
	if (any)
		return core_error_set(err, CORE_ECONFLICT, NULL,
				      "import needs an empty store; this one holds data");
	if (fseeko(in, 0, SEEK_SET) != 0)
		return core_error_set(err, CORE_EIO, NULL, "dump file is not seekable");
	rc = dump_walk(d, b, in, false, err);
	if (rc < 0)
		return rc;
	if (fseeko(in, 0, SEEK_SET) != 0)
		return core_error_set(err, CORE_EIO, NULL, "dump file is not seekable");
	return dump_walk(d, b, in, true, err);
}

int store_dump_check(FILE *in, struct core_error *err)
{
	return dump_walk(NULL, NULL, in, false, err);
}
