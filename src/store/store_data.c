/*
 * store_data.c: the data store front end. It enforces the storage contract of
 * ARCHITECTURE.md §4 above every backend: key size, value chunking, transaction time and
 * size, point-key compare-and-set, counters and per-(account, collection) ids. Also the
 * backend registry and the clock.
 *
 * Value layout in STORE_SPACE_DATA (one tag byte first):
 *   0x00 value...                       a value of at most STORE_CHUNK_SIZE bytes
 *   0x01 be64 total, be32 nchunks       a manifest; chunk i lives in STORE_SPACE_CHUNK at
 *                                       [klen] key be32(i), each at most STORE_CHUNK_SIZE
 * The one-byte length in front of a chunk key makes the chunks of one key exactly the keys
 * with prefix [klen] key, so a prefix range delete removes them and nothing else.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store_int.h"

#define STORE_TAG_INLINE 0x00
#define STORE_TAG_CHUNKED 0x01
#define STORE_MANIFEST_LEN 13u

/*
 * Keys of the data space that this transaction knows hold no chunks: it read them (an inline
 * value, or none), wrote them inline or deleted them, or was told so
 * (store_txn_put_nochunks). A put or delete of such a key skips the look for leftover
 * chunks. Chunks exist exactly while the key's value is a manifest (they are written and
 * removed with it), so what the transaction saw of the value answers the question.
 */
#define STORE_KNOWN_MAX 32u
struct store_known {
	uint32_t hash[STORE_KNOWN_MAX];
	uint8_t len[STORE_KNOWN_MAX]; /* 0: a free slot */
	uint8_t key[STORE_KNOWN_MAX][STORE_KEY_MAX];
	unsigned next; /* the slot to reuse when all are taken */
};

struct store_txn {
	struct store_data *d;
	void *bt;
	bool write;
	bool unlimited; /* STORE_TXN_SNAPSHOT */
	uint64_t start;
	size_t bytes;
	struct store_known *known; /* write transactions, allocated on first use */
};

/* FNV-1a of a key: a quick filter before the byte comparison. */
static uint32_t store_known_hash(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int store_known_find(const struct store_known *kn, uint32_t h, const void *key, size_t klen)
{
	for (unsigned i = 0; i < STORE_KNOWN_MAX; i++)
		if (kn->len[i] == klen && kn->hash[i] == h && memcmp(kn->key[i], key, klen) == 0)
			return (int)i;
	return -1;
}

static bool store_known_has(const struct store_txn *t, const void *key, size_t klen)
{
	return t->known != NULL &&
	       store_known_find(t->known, store_known_hash(key, klen), key, klen) >= 0;
}

/* Record what the transaction now knows of key: no chunks, or maybe some. */
static void store_known_set(struct store_txn *t, const void *key, size_t klen, bool nochunks)
{
	if (!t->write || klen == 0 || klen > STORE_KEY_MAX)
		return;
	uint32_t h = store_known_hash(key, klen);
	if (t->known == NULL) {
		if (!nochunks)
			return;
		t->known = core_xcalloc(1, sizeof(*t->known));
	}
	struct store_known *kn = t->known;
	int i = store_known_find(kn, h, key, klen);
	if (!nochunks) {
		if (i >= 0)
			kn->len[i] = 0;
		return;
	}
	if (i >= 0)
		return;
	unsigned slot = kn->next;
	kn->next = (kn->next + 1) % STORE_KNOWN_MAX;
	kn->hash[slot] = h;
	kn->len[slot] = (uint8_t)klen;
	memcpy(kn->key[slot], key, klen);
}

/* After a get of key in the data space: rc and the raw value say whether chunks exist. */
static void store_known_seen(struct store_txn *t, const void *key, size_t klen, int rc,
			     const struct core_buf *raw)
{
	if (rc == CORE_ENOTFOUND)
		store_known_set(t, key, klen, true);
	else if (rc == 0)
		store_known_set(t, key, klen,
				raw->len > 0 && ((const uint8_t *)raw->p)[0] == STORE_TAG_INLINE);
}

/* ---------------------------------------------------------------- registry and clock */

#define STORE_BACKENDS_MAX 32

static struct {
	const char *name;
	const struct store_backend *b;
} store_registry[STORE_BACKENDS_MAX];
static size_t store_registry_n;
static pthread_mutex_t store_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t store_builtin_once = PTHREAD_ONCE_INIT;

static int store_register_locked(const char *name, const struct store_backend *b)
{
	for (size_t i = 0; i < store_registry_n; i++)
		if (strcmp(store_registry[i].name, name) == 0)
			return CORE_ECONFLICT;
	if (store_registry_n == STORE_BACKENDS_MAX)
		return CORE_ELIMIT;
	store_registry[store_registry_n].name = name;
	store_registry[store_registry_n].b = b;
	store_registry_n++;
	return 0;
}

static const struct store_backend store_builtin_rocksdb = {.kv = &store_rocksdb_kv};
static const struct store_backend store_builtin_sqlite = {.kv = &store_sqlite_kv};
static const struct store_backend store_builtin_pgsql = {.kv = &store_pgsql_kv};
static const struct store_backend store_builtin_memory = {.lookup = &store_memory_lookup};
static const struct store_backend store_builtin_fs = {.blob = &store_fs_blob};

static void store_builtin_register(void)
{
	pthread_mutex_lock(&store_registry_lock);
	store_register_locked("rocksdb", &store_builtin_rocksdb);
	store_register_locked("sqlite", &store_builtin_sqlite);
	store_register_locked("postgresql", &store_builtin_pgsql);
	store_register_locked("memory", &store_builtin_memory);
	store_register_locked("fs", &store_builtin_fs);
	pthread_mutex_unlock(&store_registry_lock);
}

int store_backend_register(const char *name, const struct store_backend *b)
{
	pthread_once(&store_builtin_once, store_builtin_register);
	if (name == NULL || b == NULL)
		return CORE_EINTERNAL;
	pthread_mutex_lock(&store_registry_lock);
	int rc = store_register_locked(name, b);
	pthread_mutex_unlock(&store_registry_lock);
	return rc;
}

const struct store_backend *store_backend_find(const char *name)
{
	pthread_once(&store_builtin_once, store_builtin_register);
	const struct store_backend *b = NULL;
	if (name == NULL)
		return NULL;
	pthread_mutex_lock(&store_registry_lock);
	for (size_t i = 0; i < store_registry_n; i++)
		if (strcmp(store_registry[i].name, name) == 0)
			b = store_registry[i].b;
	pthread_mutex_unlock(&store_registry_lock);
	return b;
}

static uint64_t store_system_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t (*store_clock)(void) = store_system_now_ms;

uint64_t store_now_ms(void)
{
	return store_clock();
}

void store_clock_set(uint64_t (*now_ms)(void))
{
	store_clock = now_ms != NULL ? now_ms : store_system_now_ms;
}

uint64_t store_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

size_t store_prefix_successor(const void *prefix, size_t plen, uint8_t *out)
{
	const uint8_t *p = prefix;
	while (plen > 0 && p[plen - 1] == 0xff)
		plen--;
	if (plen == 0)
		return 0;
	memcpy(out, p, plen);
	out[plen - 1]++;
	return plen;
}

void store_range_prefix(struct store_range *r, const void *prefix, size_t plen,
			uint8_t hi_buf[STORE_KEY_MAX])
{
	memset(r, 0, sizeof(*r));
	if (plen > STORE_KEY_MAX)
		plen = STORE_KEY_MAX;
	r->lo = plen > 0 ? prefix : NULL;
	r->lo_len = plen;
	size_t hl = store_prefix_successor(prefix, plen, hi_buf);
	r->hi = hl > 0 ? hi_buf : NULL;
	r->hi_len = hl;
}

/* ---------------------------------------------------------------- open / close */

int store_data_open(const char *backend, const struct store_params *p, struct store_data **out,
		    struct core_error *err)
{
	const struct store_backend *b = store_backend_find(backend);
	if (b == NULL || b->kv == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no data store backend named %s",
				      backend != NULL ? backend : "(null)");
	struct store_params none = {0};
	void *h = NULL;
	int rc = b->kv->open(p != NULL ? p : &none, &h, err);
	if (rc < 0)
		return rc;
	struct store_data *d = core_xcalloc(1, sizeof(*d));
	d->ops = b->kv;
	d->h = h;
	/* The registry keeps the name for the life of the process. */
	pthread_mutex_lock(&store_registry_lock);
	for (size_t i = 0; i < store_registry_n; i++)
		if (store_registry[i].b == b)
			d->name = store_registry[i].name;
	pthread_mutex_unlock(&store_registry_lock);
	*out = d;
	return 0;
}

void store_data_free(struct store_data **d)
{
	if (d == NULL || *d == NULL)
		return;
	(*d)->ops->close((*d)->h);
	free(*d);
	*d = NULL;
}

const char *store_data_backend(const struct store_data *d)
{
	return d->name;
}

/* ---------------------------------------------------------------- transactions */

int store_txn_begin(struct store_data *d, enum store_txn_mode mode, struct store_txn **out,
		    struct core_error *err)
{
	void *bt = NULL;
	int rc = d->ops->begin(d->h, mode == STORE_TXN_WRITE, &bt, err);
	if (rc < 0)
		return rc;
	struct store_txn *t = core_xcalloc(1, sizeof(*t));
	t->d = d;
	t->bt = bt;
	t->write = mode == STORE_TXN_WRITE;
	t->unlimited = mode == STORE_TXN_SNAPSHOT;
	t->start = store_mono_ms();
	*out = t;
	return 0;
}

struct store_data *store_txn_store(const struct store_txn *t)
{
	return t->d;
}

bool store_txn_is_write(const struct store_txn *t)
{
	return t->write;
}

size_t store_txn_bytes(const struct store_txn *t)
{
	return t->bytes;
}

/* ARCHITECTURE.md §4: a transaction lasts at most 5 s. */
static int store_txn_check_time(struct store_txn *t, struct core_error *err)
{
	if (!t->unlimited && store_mono_ms() - t->start > STORE_TXN_MAX_MS)
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "transaction lasted more than %u ms", STORE_TXN_MAX_MS);
	return 0;
}

/* ARCHITECTURE.md §4: a transaction writes at most 8 MB. */
static int store_txn_account(struct store_txn *t, size_t n, struct core_error *err)
{
	if (!t->write)
		return core_error_set(err, CORE_EPERM, NULL, "write in a read-only transaction");
	int rc = store_txn_check_time(t, err);
	if (rc < 0)
		return rc;
	if (n > STORE_TXN_MAX_BYTES || t->bytes + n > STORE_TXN_MAX_BYTES)
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "transaction writes more than %u bytes", STORE_TXN_MAX_BYTES);
	t->bytes += n;
	return 0;
}

/* ARCHITECTURE.md §4: keys are 1..255 bytes. */
static int store_key_check(const void *key, size_t klen, struct core_error *err)
{
	if (key == NULL || klen == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "empty key");
	if (klen > STORE_KEY_MAX)
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "key of %zu bytes exceeds %u", klen, STORE_KEY_MAX);
	return 0;
}

static int store_raw_key_check(const void *key, size_t klen, struct core_error *err)
{
	if (key == NULL || klen == 0 || klen > STORE_RAW_KEY_MAX)
		return core_error_set(err, CORE_EINTERNAL, NULL, "bad internal key length %zu",
				      klen);
	return 0;
}

int store_txn_raw_get(struct store_txn *t, enum store_space sp, const void *k, size_t kl, bool lock,
		      struct core_buf *v_out, struct core_error *err)
{
	int rc = store_raw_key_check(k, kl, err);
	if (rc == 0)
		rc = store_txn_check_time(t, err);
	if (rc == 0 && lock && !t->write)
		rc = core_error_set(err, CORE_EPERM, NULL, "lock in a read-only transaction");
	if (rc < 0)
		return rc;
	return t->d->ops->get(t->bt, sp, k, kl, lock, v_out, err);
}

int store_txn_raw_put(struct store_txn *t, enum store_space sp, const void *k, size_t kl,
		      const void *v, size_t vl, struct core_error *err)
{
	int rc = store_raw_key_check(k, kl, err);
	if (rc == 0 && vl > STORE_CHUNK_SIZE + 64)
		rc = core_error_set(err, CORE_EINTERNAL, NULL, "raw value too big");
	if (rc == 0)
		rc = store_txn_account(t, kl + vl, err);
	if (rc < 0)
		return rc;
	return t->d->ops->put(t->bt, sp, k, kl, v, vl, err);
}

int store_txn_raw_del(struct store_txn *t, enum store_space sp, const void *k, size_t kl,
		      struct core_error *err)
{
	int rc = store_raw_key_check(k, kl, err);
	if (rc == 0)
		rc = store_txn_account(t, kl, err);
	if (rc < 0)
		return rc;
	return t->d->ops->del(t->bt, sp, k, kl, err);
}

int store_txn_raw_del_range(struct store_txn *t, enum store_space sp, const void *lo, size_t lol,
			    const void *hi, size_t hil, struct core_error *err)
{
	int rc = store_txn_account(t, lol + hil, err);
	if (rc < 0)
		return rc;
	return t->d->ops->del_range(t->bt, sp, lo, lol, hi, hil, err);
}

struct store_raw_scan {
	store_scan_fn fn;
	void *arg;
	size_t limit, n;
	struct store_txn *t;
	struct core_error *err;
	int rc;
};

static int store_raw_scan_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_raw_scan *s = arg;
	int rc = store_txn_check_time(s->t, s->err);
	if (rc < 0) {
		s->rc = rc;
		return rc;
	}
	rc = s->fn(s->arg, k, kl, v, vl);
	if (rc < 0) {
		s->rc = rc;
		return rc;
	}
	s->n++;
	if (rc > 0 || (s->limit > 0 && s->n >= s->limit))
		return 1;
	return 0;
}

int store_txn_raw_scan(struct store_txn *t, enum store_space sp, const struct store_range *r,
		       store_scan_fn fn, void *arg, struct core_error *err)
{
	int rc = store_txn_check_time(t, err);
	if (rc < 0)
		return rc;
	struct store_raw_scan s = {fn, arg, r->limit, 0, t, err, 0};
	struct store_range br = *r;
	br.limit = 0;
	rc = t->d->ops->scan(t->bt, sp, &br, store_raw_scan_cb, &s, err);
	if (s.rc < 0) {
		if (err != NULL && err->code == CORE_OK)
			core_error_set(err, s.rc, NULL, "scan stopped: %s", core_err_name(s.rc));
		return s.rc;
	}
	if (rc < 0)
		return rc;
	return (int)s.n;
}

/* ---------------------------------------------------------------- values and chunks */

/* [klen] key: the prefix of every chunk key of key. */
static size_t store_chunk_prefix(const void *key, size_t klen, uint8_t *out)
{
	out[0] = (uint8_t)klen;
	memcpy(out + 1, key, klen);
	return klen + 1;
}

static int store_chunks_delete(struct store_txn *t, const void *key, size_t klen,
			       struct core_error *err)
{
	uint8_t lo[STORE_KEY_MAX + 5], hi[STORE_KEY_MAX + 1];
	size_t lol = store_chunk_prefix(key, klen, lo);
	/* A value's chunks are written and removed together, numbered from 0, so chunk 0
	 * tells whether any exist. Most values never had chunks: one point lookup in the
	 * (nearly empty) chunk space is far cheaper than opening a range scan, and every
	 * write of a key comes through here. */
	store_be32_put(lo + lol, 0);
	struct core_buf first = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_CHUNK, lo, lol + 4, false, &first, err);
	core_buf_fini(&first);
	if (rc == CORE_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	size_t hil = store_prefix_successor(lo, lol, hi);
	/* klen <= 255, so lo[0] < 0xff or key has a byte < 0xff: hil is never 0 here except
	 * for a 255-byte key of all 0xff bytes, whose chunks are bounded by the raw key max. */
	if (hil == 0) {
		memset(hi, 0xff, sizeof(hi));
		hil = sizeof(hi);
	}
	return store_txn_raw_del_range(t, STORE_SPACE_CHUNK, lo, lol, hi, hil, err);
}

struct store_chunk_collect {
	struct core_buf *out;
	uint32_t next;
	int bad;
};

static int store_chunk_collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_chunk_collect *c = arg;
	if (kl < 5 || store_be32_get((const uint8_t *)k + kl - 4) != c->next) {
		c->bad = 1;
		return 1;
	}
	c->next++;
	core_buf_append(c->out, v, vl);
	return 0;
}

/*
 * Turn a raw DATA value (already in val) into the caller's value in place: strip the tag,
 * or replace a manifest by its chunks.
 */
static int store_value_decode(struct store_txn *t, const void *key, size_t klen,
			      struct core_buf *val, struct core_error *err)
{
	if (val->len == 0)
		return core_error_set(err, CORE_EIO, NULL, "stored value has no tag");
	const uint8_t *p = (const uint8_t *)val->p;
	if (p[0] == STORE_TAG_INLINE) {
		core_buf_consume(val, 1);
		return 0;
	}
	if (p[0] != STORE_TAG_CHUNKED || val->len != STORE_MANIFEST_LEN)
		return core_error_set(err, CORE_EIO, NULL, "stored value has a bad tag");
	uint64_t total = store_be64_get(p + 1);
	uint32_t nchunks = store_be32_get(p + 9);
	uint8_t pre[STORE_KEY_MAX + 1], hi[STORE_KEY_MAX + 1];
	size_t pl = store_chunk_prefix(key, klen, pre);
	struct store_range r = {.lo = pre, .lo_len = pl};
	size_t hl = store_prefix_successor(pre, pl, hi);
	r.hi = hl > 0 ? hi : NULL;
	r.hi_len = hl;
	core_buf_reset(val);
	if (total < SIZE_MAX)
		core_buf_reserve(val, (size_t)total);
	struct store_chunk_collect c = {val, 0, 0};
	int rc = store_txn_raw_scan(t, STORE_SPACE_CHUNK, &r, store_chunk_collect_cb, &c, err);
	if (rc < 0)
		return rc;
	if (c.bad || c.next != nchunks || val->len != total)
		return core_error_set(err, CORE_EIO, NULL, "chunked value is incomplete");
	return 0;
}

int store_txn_get(struct store_txn *t, const void *key, size_t klen, struct core_buf *val_out,
		  struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	core_buf_reset(val_out);
	rc = store_txn_raw_get(t, STORE_SPACE_DATA, key, klen, false, val_out, err);
	store_known_seen(t, key, klen, rc, val_out);
	if (rc < 0)
		return rc;
	return store_value_decode(t, key, klen, val_out, err);
}

int store_txn_get_for_update(struct store_txn *t, const void *key, size_t klen,
			     struct core_buf *val_out, struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (!t->write)
		return core_error_set(err, CORE_EPERM, NULL,
				      "locked read or assertion in a read-only transaction");
	core_buf_reset(val_out);
	rc = store_txn_raw_get(t, STORE_SPACE_DATA, key, klen, true, val_out, err);
	store_known_seen(t, key, klen, rc, val_out);
	if (rc < 0)
		return rc;
	return store_value_decode(t, key, klen, val_out, err);
}

int store_txn_multi_get(struct store_txn *t, struct store_mget *v, size_t n, struct core_error *err)
{
	int rc = store_txn_check_time(t, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rc = store_key_check(v[i].key, v[i].klen, err);
		if (rc < 0)
			return rc;
		v[i].found = false;
		core_buf_reset(&v[i].val);
	}
	if (n == 0)
		return 0;
	rc = t->d->ops->multi_get(t->bt, STORE_SPACE_DATA, v, n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].found)
			continue;
		rc = store_value_decode(t, v[i].key, v[i].klen, &v[i].val, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct store_data_scan {
	struct store_txn *t;
	store_scan_fn fn;
	void *arg;
	struct core_buf tmp;
	struct core_error *err;
};

static int store_data_scan_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_data_scan *s = arg;
	const uint8_t *p = v;
	if (vl == 0)
		return CORE_EIO;
	if (p[0] == STORE_TAG_INLINE)
		return s->fn(s->arg, k, kl, p + 1, vl - 1);
	/* A manifest: gather the chunks (the key is copied: k may not outlive a nested call). */
	uint8_t key[STORE_KEY_MAX];
	if (kl > STORE_KEY_MAX)
		return CORE_EIO;
	memcpy(key, k, kl);
	core_buf_reset(&s->tmp);
	core_buf_append(&s->tmp, v, vl);
	int rc = store_value_decode(s->t, key, kl, &s->tmp, s->err);
	if (rc < 0)
		return rc;
	return s->fn(s->arg, key, kl, s->tmp.p != NULL ? s->tmp.p : "", s->tmp.len);
}

int store_txn_scan(struct store_txn *t, const struct store_range *r, store_scan_fn fn, void *arg,
		   struct core_error *err)
{
	if ((r->lo != NULL && r->lo_len > STORE_KEY_MAX) ||
	    (r->hi != NULL && r->hi_len > STORE_KEY_MAX))
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "range bound exceeds %u bytes", STORE_KEY_MAX);
	struct store_data_scan s = {t, fn, arg, CORE_BUF_INIT, err};
	int rc = store_txn_raw_scan(t, STORE_SPACE_DATA, r, store_data_scan_cb, &s, err);
	core_buf_fini(&s.tmp);
	return rc;
}

/* Write a value, chunking it when it exceeds 64 KiB (ARCHITECTURE.md §4). */
static int store_value_put(struct store_txn *t, const void *key, size_t klen, const void *val,
			   size_t vlen, bool had_chunks_checked, struct core_error *err)
{
	int rc;
	if (!had_chunks_checked && !store_known_has(t, key, klen)) {
		rc = store_chunks_delete(t, key, klen, err);
		if (rc < 0)
			return rc;
	}
	store_known_set(t, key, klen, vlen <= STORE_CHUNK_SIZE);
	uint8_t small[1 + 64];
	if (vlen <= STORE_CHUNK_SIZE) {
		/* Most values are small: build the tagged copy on the stack when it fits. */
		if (vlen < sizeof(small)) {
			small[0] = STORE_TAG_INLINE;
			if (vlen > 0)
				memcpy(small + 1, val, vlen);
			return store_txn_raw_put(t, STORE_SPACE_DATA, key, klen, small, vlen + 1,
						 err);
		}
		uint8_t *tmp = core_xmalloc(vlen + 1);
		tmp[0] = STORE_TAG_INLINE;
		memcpy(tmp + 1, val, vlen);
		rc = store_txn_raw_put(t, STORE_SPACE_DATA, key, klen, tmp, vlen + 1, err);
		free(tmp);
		return rc;
	}
	/* Check the whole size first so a too-big value writes nothing. */
	if (t->bytes + vlen > STORE_TXN_MAX_BYTES)
		return core_error_set(err, CORE_ELIMIT, "ARCHITECTURE.md §4",
				      "transaction writes more than %u bytes", STORE_TXN_MAX_BYTES);
	uint8_t ck[STORE_KEY_MAX + 5];
	size_t pl = store_chunk_prefix(key, klen, ck);
	uint32_t n = 0;
	for (size_t off = 0; off < vlen; off += STORE_CHUNK_SIZE, n++) {
		size_t len = vlen - off < STORE_CHUNK_SIZE ? vlen - off : STORE_CHUNK_SIZE;
		store_be32_put(ck + pl, n);
		rc = store_txn_raw_put(t, STORE_SPACE_CHUNK, ck, pl + 4, (const uint8_t *)val + off,
				       len, err);
		if (rc < 0)
			return rc;
	}
	uint8_t man[STORE_MANIFEST_LEN];
	man[0] = STORE_TAG_CHUNKED;
	store_be64_put(man + 1, vlen);
	store_be32_put(man + 9, n);
	return store_txn_raw_put(t, STORE_SPACE_DATA, key, klen, man, sizeof(man), err);
}

int store_txn_put(struct store_txn *t, const void *key, size_t klen, const void *val, size_t vlen,
		  struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (val == NULL && vlen > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "value is NULL");
	return store_value_put(t, key, klen, val, vlen, false, err);
}

int store_txn_put_nochunks(struct store_txn *t, const void *key, size_t klen, const void *val,
			   size_t vlen, struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (val == NULL && vlen > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "value is NULL");
	return store_value_put(t, key, klen, val, vlen, true, err);
}

int store_txn_delete(struct store_txn *t, const void *key, size_t klen, struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (!store_known_has(t, key, klen)) {
		rc = store_chunks_delete(t, key, klen, err);
		if (rc < 0)
			return rc;
	}
	store_known_set(t, key, klen, true);
	return store_txn_raw_del(t, STORE_SPACE_DATA, key, klen, err);
}

int store_txn_assert(struct store_txn *t, const void *key, size_t klen, const void *expect,
		     size_t elen, struct core_error *err)
{
	/* The key is locked, then its latest value compared. */
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_get_for_update(t, key, klen, &cur, err);
	if (rc == CORE_ENOTFOUND) {
		core_buf_fini(&cur);
		if (expect == NULL)
			return 0;
		return core_error_set(err, CORE_ECONFLICT, "ARCHITECTURE.md §4",
				      "compare-and-set: key does not exist");
	}
	if (rc < 0) {
		core_buf_fini(&cur);
		return rc;
	}
	bool same = expect != NULL && cur.len == elen &&
		    (elen == 0 || memcmp(cur.p, expect, elen) == 0);
	core_buf_fini(&cur);
	if (!same)
		return core_error_set(err, CORE_ECONFLICT, "ARCHITECTURE.md §4",
				      expect == NULL ? "compare-and-set: key exists"
						     : "compare-and-set: value changed");
	return 0;
}

int store_counter_decode(const void *val, size_t vlen, int64_t *out)
{
	if (vlen != 8)
		return CORE_ESYNTAX;
	*out = (int64_t)store_be64_get(val);
	return 0;
}

int store_txn_counter_add(struct store_txn *t, const void *key, size_t klen, int64_t delta,
			  int64_t *value_out, struct core_error *err)
{
	int rc = store_key_check(key, klen, err);
	if (rc < 0)
		return rc;
	if (!t->write)
		return core_error_set(err, CORE_EPERM, NULL, "counter in a read-only transaction");
	struct core_buf cur = CORE_BUF_INIT;
	int64_t v = 0;
	rc = store_txn_raw_get(t, STORE_SPACE_DATA, key, klen, true, &cur, err);
	if (rc == 0) {
		const uint8_t *p = (const uint8_t *)cur.p;
		if (cur.len != 9 || p[0] != STORE_TAG_INLINE)
			rc = core_error_set(err, CORE_ESYNTAX, NULL, "key does not hold a counter");
		else
			v = (int64_t)store_be64_get(p + 1);
	} else if (rc == CORE_ENOTFOUND) {
		rc = 0;
	}
	core_buf_fini(&cur);
	if (rc < 0)
		return rc;
	/* Two's complement wrap-around is defined via unsigned arithmetic. */
	v = (int64_t)((uint64_t)v + (uint64_t)delta);
	uint8_t enc[8];
	store_be64_put(enc, (uint64_t)v);
	/* The old value was an inline counter (or absent): no chunks to remove. */
	rc = store_value_put(t, key, klen, enc, sizeof(enc), true, err);
	if (rc == 0 && value_out != NULL)
		*value_out = v;
	return rc;
}

int store_txn_id_next(struct store_txn *t, uint64_t account, uint32_t collection, uint64_t *id_out,
		      struct core_error *err)
{
	if (!t->write)
		return core_error_set(err, CORE_EPERM, NULL, "id in a read-only transaction");
	/* ARCHITECTURE.md §4: one counter per (account, collection), never a global one. */
	uint8_t key[12];
	store_be64_put(key, account);
	store_be32_put(key + 8, collection);
	struct core_buf cur = CORE_BUF_INIT;
	uint64_t last = 0;
	int rc = store_txn_raw_get(t, STORE_SPACE_ID, key, sizeof(key), true, &cur, err);
	if (rc == 0) {
		if (cur.len != 8)
			rc = core_error_set(err, CORE_EIO, NULL, "id counter is corrupt");
		else
			last = store_be64_get((const uint8_t *)cur.p);
	} else if (rc == CORE_ENOTFOUND) {
		rc = 0;
	}
	core_buf_fini(&cur);
	if (rc < 0)
		return rc;
	if (last == UINT64_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "ids of the collection exhausted");
	uint8_t enc[8];
	store_be64_put(enc, last + 1);
	rc = store_txn_raw_put(t, STORE_SPACE_ID, key, sizeof(key), enc, sizeof(enc), err);
	if (rc == 0)
		*id_out = last + 1;
	return rc;
}

int store_txn_commit(struct store_txn **tp, struct core_error *err)
{
	if (tp == NULL || *tp == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "commit of no transaction");
	struct store_txn *t = *tp;
	*tp = NULL;
	int rc = 0;
	if (!t->write) {
		t->d->ops->abort(t->bt);
	} else if ((rc = store_txn_check_time(t, err)) < 0) {
		t->d->ops->abort(t->bt);
	} else {
		rc = t->d->ops->commit(t->bt, err);
	}
	free(t->known);
	free(t);
	return rc;
}

void store_txn_abort(struct store_txn **tp)
{
	if (tp == NULL || *tp == NULL)
		return;
	(*tp)->d->ops->abort((*tp)->bt);
	free((*tp)->known);
	free(*tp);
	*tp = NULL;
}

int store_data_write_retry(struct store_data *d,
			   int (*fn)(struct store_txn *t, void *arg, struct core_error *err),
			   void *arg, struct core_error *err)
{
	int rc = CORE_ECONFLICT;
	for (int attempt = 0; attempt < 20 && rc == CORE_ECONFLICT; attempt++) {
		struct store_txn *t = NULL;
		core_error_clear(err);
		rc = store_txn_begin(d, STORE_TXN_WRITE, &t, err);
		if (rc < 0)
			return rc;
		rc = fn(t, arg, err);
		if (rc < 0) {
			store_txn_abort(&t);
			continue;
		}
		rc = store_txn_commit(&t, err);
		if (rc == CORE_ECONFLICT) {
			/* Back off a little (0.1 .. 2 ms growing) before the next attempt. */
			struct timespec ts = {0, 100000L * (attempt + 1)};
			nanosleep(&ts, NULL);
		}
	}
	return rc;
}
