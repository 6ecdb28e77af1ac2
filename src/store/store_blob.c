/*
 * store_blob.c: the blob store front end (ARCHITECTURE.md §4): content addressed by SHA-256,
 * stored once however many messages share it, reached only through account-scoped links.
 *
 * Content lives in a content backend (files, or a data store); who may see it lives in the
 * meta data store, space BLOB:
 *   'L' be64 account, hash, 0x00            -> be64 expiry    upload reservation
 *   'L' be64 account, hash, 0x01, owner     -> (empty)        link (message, script ...)
 *   'R' hash, be64 account, 0x00            -> be64 expiry    reverse index of the above,
 *   'R' hash, be64 account, 0x01, owner     -> (empty)        used by purge
 * An account may read a blob while it holds a link or a live reservation; knowing the hash
 * grants nothing. Purge drops expired reservations, then content with no reference whose
 * age passed the grace period (orphans of crashed writes included). Storing content that
 * already exists refreshes its age, so purge cannot remove it between the write and the
 * reservation that follows.
 */
#include <openssl/evp.h>
#include <string.h>

#include "core/core.h"
#include "store/store_int.h"

#define STORE_BLOB_RESERVE_DEFAULT_MS (3600u * 1000u)
/* 'L' + account + hash + kind: what is left of a 255-byte key for the owner name. */
#define STORE_BLOB_OWNER_MAX (STORE_KEY_MAX - 1 - 8 - STORE_HASH_LEN - 1)
#define STORE_BLOB_KIND_RESERVE 0x00
#define STORE_BLOB_KIND_LINK 0x01

struct store_blob {
	const struct store_blob_ops *ops;
	void *h;
	struct store_data *meta;
	/* Small content written inside a caller's transaction (store_blob_put_txn) lives in
	 * the meta store in the kvblob layout: inl is that kvblob (h itself when the backend
	 * already keeps content in the data store; owned otherwise). NULL: inlining is off. */
	void *inl;
	uint64_t inline_max;
};

struct store_blob_writer {
	struct store_blob *b;
	void *w;
	EVP_MD_CTX *sha;
	uint64_t size;
};

/* ---------------------------------------------------------------- ids */

void store_blob_id_format(const struct store_blob_id *id, char out[STORE_BLOB_ID_TEXT + 1])
{
	static const char hex[] = "0123456789abcdef";
	out[0] = 'G';
	for (size_t i = 0; i < STORE_HASH_LEN; i++) {
		out[1 + 2 * i] = hex[id->hash[i] >> 4];
		out[2 + 2 * i] = hex[id->hash[i] & 15];
	}
	out[STORE_BLOB_ID_TEXT] = '\0';
}

static int store_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int store_blob_id_parse(const char *s, size_t len, struct store_blob_id *out)
{
	if (s == NULL || len != STORE_BLOB_ID_TEXT || s[0] != 'G')
		return CORE_ESYNTAX;
	for (size_t i = 0; i < STORE_HASH_LEN; i++) {
		int hi = store_hex_val(s[1 + 2 * i]), lo = store_hex_val(s[2 + 2 * i]);
		if (hi < 0 || lo < 0)
			return CORE_ESYNTAX;
		out->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---------------------------------------------------------------- keys */

static size_t store_blob_lkey(uint8_t *k, uint64_t account, const uint8_t *hash, uint8_t kind,
			      const char *owner, size_t olen)
{
	k[0] = 'L';
	store_be64_put(k + 1, account);
	memcpy(k + 9, hash, STORE_HASH_LEN);
	k[9 + STORE_HASH_LEN] = kind;
	if (olen > 0)
		memcpy(k + 10 + STORE_HASH_LEN, owner, olen);
	return 10 + STORE_HASH_LEN + olen;
}

static size_t store_blob_rkey(uint8_t *k, uint64_t account, const uint8_t *hash, uint8_t kind,
			      const char *owner, size_t olen)
{
	k[0] = 'R';
	memcpy(k + 1, hash, STORE_HASH_LEN);
	store_be64_put(k + 1 + STORE_HASH_LEN, account);
	k[9 + STORE_HASH_LEN] = kind;
	if (olen > 0)
		memcpy(k + 10 + STORE_HASH_LEN, owner, olen);
	return 10 + STORE_HASH_LEN + olen;
}

/* ---------------------------------------------------------------- open / close */

int store_blob_open(const char *backend, const struct store_params *p, struct store_data *meta,
		    struct store_blob **out, struct core_error *err)
{
	if (meta == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "blob store without meta store");
	const struct store_backend *b = store_backend_find(backend);
	const struct store_blob_ops *ops = NULL;
	if (b != NULL && b->blob != NULL)
		ops = b->blob;
	else if (b != NULL && b->kv != NULL)
		ops = &store_kvblob_blob; /* content in the data store (meta) itself */
	if (ops == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no blob store backend named %s",
				      backend != NULL ? backend : "(null)");
	if (b->kv != NULL && strcmp(backend, store_data_backend(meta)) != 0)
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "blob content in data backend %s needs the meta store on "
				      "the same backend (it is %s)",
				      backend, store_data_backend(meta));
	struct store_params none = {0};
	void *h = NULL;
	int rc = ops->open(p != NULL ? p : &none, meta, &h, err);
	if (rc < 0)
		return rc;
	struct store_blob *bl = core_xcalloc(1, sizeof(*bl));
	bl->ops = ops;
	bl->h = h;
	bl->meta = meta;
	uint64_t im = p != NULL ? p->inline_max : 0;
	if (im > STORE_BLOB_INLINE_LIMIT)
		im = STORE_BLOB_INLINE_LIMIT;
	if (im > 0 && ops == &store_kvblob_blob) {
		bl->inl = h;
	} else if (im > 0) {
		rc = store_kvblob_blob.open(p, meta, &bl->inl, err);
		if (rc < 0) {
			ops->close(h);
			free(bl);
			return rc;
		}
	}
	bl->inline_max = bl->inl != NULL ? im : 0;
	*out = bl;
	return 0;
}

void store_blob_free(struct store_blob **b)
{
	if (b == NULL || *b == NULL)
		return;
	if ((*b)->inl != NULL && (*b)->inl != (*b)->h)
		store_kvblob_blob.close((*b)->inl);
	(*b)->ops->close((*b)->h);
	free(*b);
	*b = NULL;
}

/* Whether inlined content lives apart from the backend's own (then both are consulted). */
static bool store_blob_inl_apart(const struct store_blob *b)
{
	return b->inl != NULL && b->inl != b->h;
}

/* ---------------------------------------------------------------- access */

struct store_blob_access {
	uint64_t now;
	bool ok;
};

static int store_blob_access_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_blob_access *a = arg;
	const uint8_t *kp = k;
	if (kl < 10 + STORE_HASH_LEN)
		return 0;
	if (kp[9 + STORE_HASH_LEN] == STORE_BLOB_KIND_LINK) {
		a->ok = true;
		return 1;
	}
	if (vl == 8 && store_be64_get(v) > a->now) {
		a->ok = true;
		return 1;
	}
	return 0;
}

/* In t: does account hold a link or a live reservation on hash? */
static int store_blob_check(struct store_txn *t, uint64_t account, const uint8_t *hash,
			    struct core_error *err)
{
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	struct store_blob_access a = {store_now_ms(), false};
	/* The usual case first, with one point read: the account's own live reservation (an
	 * upload moments ago, or the delivery writing this very transaction). */
	size_t rl = store_blob_lkey(pre, account, hash, STORE_BLOB_KIND_RESERVE, NULL, 0);
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_BLOB, pre, rl, false, &cur, err);
	bool live = rc == 0 && cur.len == 8 && store_be64_get((const uint8_t *)cur.p) > a.now;
	core_buf_fini(&cur);
	if (rc < 0 && rc != CORE_ENOTFOUND)
		return rc;
	if (live)
		return 0;
	/* Otherwise any link, or a reservation: every reference of the account on hash. */
	size_t pl = rl - 1; /* without kind */
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_blob_access_cb, &a, err);
	if (rc < 0)
		return rc;
	if (!a.ok)
		/* The same answer whether or not the blob exists: nothing leaks about others. */
		return core_error_set(err, CORE_EPERM, "ARCHITECTURE.md §4",
				      "blob not found or not accessible");
	return 0;
}

int store_blob_access(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		      struct core_error *err)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(b->meta, STORE_TXN_READ, &t, err);
	if (rc < 0)
		return rc;
	rc = store_blob_check(t, account, id->hash, err);
	store_txn_abort(&t);
	return rc;
}

/* ---------------------------------------------------------------- reservations, links */

struct store_blob_ref {
	uint64_t account, from;
	const uint8_t *hash;
	uint8_t kind;
	const char *owner;
	size_t olen;
	uint64_t expiry;
	bool check_from;
};

static int store_blob_ref_put_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_blob_ref *a = arg;
	int rc;
	if (a->check_from) {
		rc = store_blob_check(t, a->from, a->hash, err);
		if (rc < 0)
			return rc;
	}
	uint8_t lk[STORE_KEY_MAX], rk[STORE_KEY_MAX], val[8];
	size_t ll = store_blob_lkey(lk, a->account, a->hash, a->kind, a->owner, a->olen);
	size_t rl = store_blob_rkey(rk, a->account, a->hash, a->kind, a->owner, a->olen);
	size_t vl = 0;
	if (a->kind == STORE_BLOB_KIND_RESERVE) {
		/* Keep the later expiry when the account already holds a reservation. */
		struct core_buf cur = CORE_BUF_INIT;
		uint64_t exp = a->expiry;
		rc = store_txn_raw_get(t, STORE_SPACE_BLOB, lk, ll, true, &cur, err);
		if (rc == 0 && cur.len == 8 && store_be64_get((const uint8_t *)cur.p) > exp)
			exp = store_be64_get((const uint8_t *)cur.p);
		core_buf_fini(&cur);
		if (rc < 0 && rc != CORE_ENOTFOUND)
			return rc;
		store_be64_put(val, exp);
		vl = 8;
	}
	rc = store_txn_raw_put(t, STORE_SPACE_BLOB, lk, ll, val, vl, err);
	if (rc == 0)
		rc = store_txn_raw_put(t, STORE_SPACE_BLOB, rk, rl, val, vl, err);
	return rc;
}

static uint64_t store_blob_reserve_until(uint64_t reserve_ms)
{
	if (reserve_ms == 0)
		reserve_ms = STORE_BLOB_RESERVE_DEFAULT_MS;
	uint64_t now = store_now_ms();
	return reserve_ms > UINT64_MAX - now ? UINT64_MAX : now + reserve_ms;
}

int store_blob_link(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    const char *owner, struct core_error *err)
{
	size_t olen = owner != NULL ? strlen(owner) : 0;
	if (olen == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "blob link without owner");
	if (olen > STORE_BLOB_OWNER_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "blob link owner exceeds %u bytes",
				      (unsigned)STORE_BLOB_OWNER_MAX);
	struct store_blob_ref a = {account, account, id->hash, STORE_BLOB_KIND_LINK,
				   owner,   olen,    0,        true};
	return store_data_write_retry(b->meta, store_blob_ref_put_fn, &a, err);
}

static int store_blob_unlink_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_blob_ref *a = arg;
	uint8_t lk[STORE_KEY_MAX], rk[STORE_KEY_MAX];
	size_t ll = store_blob_lkey(lk, a->account, a->hash, a->kind, a->owner, a->olen);
	size_t rl = store_blob_rkey(rk, a->account, a->hash, a->kind, a->owner, a->olen);
	struct core_buf cur = CORE_BUF_INIT;
	int rc = store_txn_raw_get(t, STORE_SPACE_BLOB, lk, ll, true, &cur, err);
	core_buf_fini(&cur);
	if (rc == CORE_ENOTFOUND)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such blob link");
	if (rc == 0)
		rc = store_txn_raw_del(t, STORE_SPACE_BLOB, lk, ll, err);
	if (rc == 0)
		rc = store_txn_raw_del(t, STORE_SPACE_BLOB, rk, rl, err);
	return rc;
}

int store_blob_unlink(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		      const char *owner, struct core_error *err)
{
	size_t olen = owner != NULL ? strlen(owner) : 0;
	if (olen == 0 || olen > STORE_BLOB_OWNER_MAX)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad blob link owner");
	struct store_blob_ref a = {account, account, id->hash, STORE_BLOB_KIND_LINK,
				   owner,   olen,    0,        false};
	return store_data_write_retry(b->meta, store_blob_unlink_fn, &a, err);
}

/* ---------------------------------------------------------------- in a caller's txn */

bool store_blob_meta_is(const struct store_blob *b, const struct store_data *d)
{
	return b != NULL && d != NULL && b->meta == d;
}

static int store_blob_txn_check(struct store_blob *b, struct store_txn *t, const char *owner,
				size_t *olen_out, struct core_error *err)
{
	if (t == NULL || store_txn_store(t) != b->meta || !store_txn_is_write(t))
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "blob links need a write transaction of their meta store");
	size_t olen = owner != NULL ? strlen(owner) : 0;
	if (olen == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "blob link without owner");
	if (olen > STORE_BLOB_OWNER_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "blob link owner exceeds %u bytes",
				      (unsigned)STORE_BLOB_OWNER_MAX);
	*olen_out = olen;
	return 0;
}

/* One link of account to id for owner, put (op = store_blob_ref_put_fn) or removed
 * (store_blob_unlink_fn) in the caller's t; check: the access of `from` is checked first. */
static int store_blob_link_op(struct store_blob *b, struct store_txn *t, uint64_t from,
			      uint64_t account, const struct store_blob_id *id, const char *owner,
			      bool check,
			      int (*op)(struct store_txn *t, void *arg, struct core_error *err),
			      struct core_error *err)
{
	size_t olen = 0;
	int rc = store_blob_txn_check(b, t, owner, &olen, err);
	if (rc < 0)
		return rc;
	struct store_blob_ref a = {account, from, id->hash, STORE_BLOB_KIND_LINK,
				   owner,   olen, 0,        check};
	return op(t, &a, err);
}

int store_blob_link_txn(struct store_blob *b, struct store_txn *t, uint64_t from, uint64_t account,
			const struct store_blob_id *id, const char *owner, struct core_error *err)
{
	/* ARCHITECTURE.md §4: linking needs access, here that of the source account. */
	return store_blob_link_op(b, t, from, account, id, owner, true, store_blob_ref_put_fn, err);
}

int store_blob_link_own_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			    const struct store_blob_id *id, const char *owner,
			    struct core_error *err)
{
	return store_blob_link_op(b, t, account, account, id, owner, false, store_blob_ref_put_fn,
				  err);
}

int store_blob_reserve_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			   const struct store_blob_id *id, uint64_t reserve_ms,
			   struct core_error *err)
{
	if (t == NULL || store_txn_store(t) != b->meta || !store_txn_is_write(t))
		return core_error_set(
			err, CORE_ESYNTAX, NULL,
			"blob reservations need a write transaction of their meta store");
	struct store_blob_ref a = {account,
				   account,
				   id->hash,
				   STORE_BLOB_KIND_RESERVE,
				   NULL,
				   0,
				   store_blob_reserve_until(reserve_ms),
				   false};
	return store_blob_ref_put_fn(t, &a, err);
}

int store_blob_unlink_txn(struct store_blob *b, struct store_txn *t, uint64_t account,
			  const struct store_blob_id *id, const char *owner, struct core_error *err)
{
	return store_blob_link_op(b, t, account, account, id, owner, false, store_blob_unlink_fn,
				  err);
}

struct store_blob_count {
	uint64_t n;
};

static int store_blob_count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	const uint8_t *kp = k;
	if (kl > 10 + STORE_HASH_LEN && kp[9 + STORE_HASH_LEN] == STORE_BLOB_KIND_LINK)
		((struct store_blob_count *)arg)->n++;
	return 0;
}

int store_blob_links_count_txn(struct store_blob *b, struct store_txn *t,
			       const struct store_blob_id *id, uint64_t *n_out,
			       struct core_error *err)
{
	if (t == NULL || store_txn_store(t) != b->meta)
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "blob links need a transaction of their meta store");
	uint8_t pre[1 + STORE_HASH_LEN], hi[STORE_KEY_MAX];
	pre[0] = 'R';
	memcpy(pre + 1, id->hash, STORE_HASH_LEN);
	struct store_range r;
	store_range_prefix(&r, pre, sizeof(pre), hi);
	struct store_blob_count c = {0};
	int rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_blob_count_cb, &c, err);
	if (rc < 0)
		return rc;
	*n_out = c.n;
	return 0;
}

int store_blob_copy(struct store_blob *b, uint64_t from, uint64_t to,
		    const struct store_blob_id *id, uint64_t reserve_ms, struct core_error *err)
{
	struct store_blob_ref a = {to,
				   from,
				   id->hash,
				   STORE_BLOB_KIND_RESERVE,
				   NULL,
				   0,
				   store_blob_reserve_until(reserve_ms),
				   true};
	return store_data_write_retry(b->meta, store_blob_ref_put_fn, &a, err);
}

/* ---------------------------------------------------------------- writing */

int store_blob_write_begin(struct store_blob *b, struct store_blob_writer **out,
			   struct core_error *err)
{
	void *w = NULL;
	int rc = b->ops->writer_begin(b->h, &w, err);
	if (rc < 0)
		return rc;
	struct store_blob_writer *bw = core_xcalloc(1, sizeof(*bw));
	bw->b = b;
	bw->w = w;
	bw->sha = EVP_MD_CTX_new();
	if (bw->sha == NULL || EVP_DigestInit_ex(bw->sha, EVP_sha256(), NULL) != 1)
		core_die("out of memory (SHA-256 context)");
	*out = bw;
	return 0;
}

int store_blob_write(struct store_blob_writer *w, const void *p, size_t n, struct core_error *err)
{
	if (n == 0)
		return 0;
	int rc = w->b->ops->writer_write(w->w, p, n, err);
	if (rc < 0)
		return rc;
	if (EVP_DigestUpdate(w->sha, p, n) != 1)
		return core_error_set(err, CORE_EINTERNAL, NULL, "SHA-256 update failed");
	w->size += n;
	return 0;
}

static void store_blob_writer_free(struct store_blob_writer *w)
{
	EVP_MD_CTX_free(w->sha);
	free(w);
}

void store_blob_write_abort(struct store_blob_writer **w)
{
	if (w == NULL || *w == NULL)
		return;
	(*w)->b->ops->writer_abort((*w)->w);
	store_blob_writer_free(*w);
	*w = NULL;
}

int store_blob_write_finish_content(struct store_blob_writer **wp, struct store_blob_id *id_out,
				    struct core_error *err)
{
	struct store_blob_writer *w = *wp;
	*wp = NULL;
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	if (EVP_DigestFinal_ex(w->sha, hash, &hl) != 1 || hl != STORE_HASH_LEN) {
		w->b->ops->writer_abort(w->w);
		store_blob_writer_free(w);
		return core_error_set(err, CORE_EINTERNAL, NULL, "SHA-256 final failed");
	}
	/* The content is durable before any reservation or link makes it reachable. */
	int rc = w->b->ops->writer_commit(w->w, hash, w->size, err);
	store_blob_writer_free(w);
	if (rc < 0)
		return rc;
	memcpy(id_out->hash, hash, STORE_HASH_LEN);
	return 0;
}

int store_blob_write_finish(struct store_blob_writer **wp, uint64_t account, uint64_t reserve_ms,
			    struct store_blob_id *id_out, struct core_error *err)
{
	struct store_blob *b = (*wp)->b;
	struct store_blob_id id;
	int rc = store_blob_write_finish_content(wp, &id, err);
	if (rc < 0)
		return rc;
	const uint8_t *hash = id.hash;
	struct store_blob_ref a = {account,
				   account,
				   hash,
				   STORE_BLOB_KIND_RESERVE,
				   NULL,
				   0,
				   store_blob_reserve_until(reserve_ms),
				   false};
	rc = store_data_write_retry(b->meta, store_blob_ref_put_fn, &a, err);
	if (rc < 0)
		return rc;
	memcpy(id_out->hash, hash, STORE_HASH_LEN);
	return 0;
}

uint64_t store_blob_inline_max(const struct store_blob *b)
{
	return b != NULL ? b->inline_max : 0;
}

int store_blob_id_of(const void *data, size_t len, struct store_blob_id *id_out,
		     struct core_error *err)
{
	if (data == NULL && len > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no blob content");
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	if (EVP_Digest(len > 0 ? data : "", len, hash, &hl, EVP_sha256(), NULL) != 1 ||
	    hl != STORE_HASH_LEN)
		return core_error_set(err, CORE_EINTERNAL, NULL, "SHA-256 failed");
	memcpy(id_out->hash, hash, STORE_HASH_LEN);
	return 0;
}

int store_blob_put_txn_id(struct store_blob *b, struct store_txn *t, const void *data, size_t len,
			  const struct store_blob_id *id, struct core_error *err)
{
	if (b->inl == NULL || len > b->inline_max)
		return core_error_set(err, CORE_ELIMIT, NULL, "blob too large to inline");
	if (t == NULL || store_txn_store(t) != b->meta || !store_txn_is_write(t))
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "inlined blobs need a write transaction of their meta store");
	if (data == NULL && len > 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no blob content");
	return store_kvblob_put_txn(b->inl, t, id->hash, data, len, err);
}

int store_blob_put_txn(struct store_blob *b, struct store_txn *t, const void *data, size_t len,
		       struct store_blob_id *id_out, struct core_error *err)
{
	struct store_blob_id id;
	int rc = store_blob_id_of(data, len, &id, err);
	if (rc >= 0)
		rc = store_blob_put_txn_id(b, t, data, len, &id, err);
	if (rc >= 0)
		*id_out = id;
	return rc;
}

/* ---------------------------------------------------------------- reading */

int store_blob_size(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    uint64_t *size_out, struct core_error *err)
{
	int rc = store_blob_access(b, account, id, err);
	if (rc < 0)
		return rc;
	rc = store_blob_content_size(b, id->hash, size_out, err);
	if (rc == CORE_ENOTFOUND)
		return core_error_set(err, CORE_EIO, NULL, "linked blob content is missing");
	return rc;
}

int store_blob_read(struct store_blob *b, uint64_t account, const struct store_blob_id *id,
		    uint64_t offset, uint64_t len, store_blob_read_fn fn, void *arg,
		    struct core_error *err)
{
	int rc = store_blob_access(b, account, id, err);
	if (rc < 0)
		return rc;
	rc = b->ops->read(b->h, id->hash, offset, len, fn, arg, err);
	if (rc == CORE_ENOTFOUND && store_blob_inl_apart(b)) {
		core_error_clear(err);
		rc = store_kvblob_blob.read(b->inl, id->hash, offset, len, fn, arg, err);
	}
	if (rc == CORE_ENOTFOUND)
		return core_error_set(err, CORE_EIO, NULL, "linked blob content is missing");
	return rc;
}

/* ---------------------------------------------------------------- purge */

struct store_blob_expired {
	struct core_buf keys; /* R keys (u8 length + key) of expired reservations */
	size_t n;
	uint64_t now;
};

static int store_blob_expired_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_blob_expired *e = arg;
	const uint8_t *kp = k;
	if (kl != 10 + STORE_HASH_LEN || kp[9 + STORE_HASH_LEN] != STORE_BLOB_KIND_RESERVE)
		return 0;
	if (vl == 8 && store_be64_get(v) > e->now)
		return 0;
	uint8_t l = (uint8_t)kl;
	core_buf_append(&e->keys, &l, 1);
	core_buf_append(&e->keys, k, kl);
	return ++e->n >= 256 ? 1 : 0;
}

static int store_blob_expired_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_blob_expired *e = arg;
	core_buf_reset(&e->keys);
	e->n = 0;
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "R", 1, hi);
	int rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_blob_expired_cb, e, err);
	for (size_t off = 0; rc >= 0 && off < e->keys.len;) {
		const uint8_t *rk = (const uint8_t *)e->keys.p + off + 1;
		size_t rl = ((const uint8_t *)e->keys.p)[off];
		uint8_t lk[STORE_KEY_MAX];
		size_t ll = store_blob_lkey(lk, store_be64_get(rk + 1 + STORE_HASH_LEN), rk + 1,
					    STORE_BLOB_KIND_RESERVE, NULL, 0);
		rc = store_txn_raw_del(t, STORE_SPACE_BLOB, rk, rl, err);
		if (rc == 0)
			rc = store_txn_raw_del(t, STORE_SPACE_BLOB, lk, ll, err);
		off += 1 + rl;
	}
	return rc < 0 ? rc : 0;
}

struct store_blob_candidates {
	struct core_buf hashes;
	uint64_t cutoff;
};

static int store_blob_candidates_cb(void *arg, const uint8_t hash[STORE_HASH_LEN],
				    uint64_t created_ms)
{
	struct store_blob_candidates *c = arg;
	if (created_ms <= c->cutoff)
		core_buf_append(&c->hashes, hash, STORE_HASH_LEN);
	return 0;
}

static int store_blob_any_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	*(bool *)arg = true;
	return 1;
}

struct store_blob_unref {
	struct store_blob *b;
	const uint8_t *hash;
	bool removed;
};

static int store_blob_inl_remove_fn(struct store_txn *t, void *arg, struct core_error *err)
{
	struct store_blob_unref *u = arg;
	u->removed = false;
	uint8_t pre[1 + STORE_HASH_LEN], hi[STORE_KEY_MAX];
	pre[0] = 'R';
	memcpy(pre + 1, u->hash, STORE_HASH_LEN);
	struct store_range r;
	store_range_prefix(&r, pre, sizeof(pre), hi);
	bool referenced = false;
	/* Lock the content record first: a delivery holding it commits its links before. */
	int rc = store_kvblob_lock_txn(u->b->inl, t, u->hash, err);
	if (rc < 0)
		return rc;
	rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_blob_any_cb, &referenced, err);
	if (rc < 0 || referenced)
		return rc; /* referenced: nothing written, the commit is empty */
	rc = store_kvblob_remove_txn(u->b->inl, t, u->hash, err);
	u->removed = rc == 0;
	return rc;
}

int store_blob_purge(struct store_blob *b, uint64_t grace_ms, struct core_error *err)
{
	/* 1. Expired reservations no longer count as references. */
	struct store_blob_expired e = {CORE_BUF_INIT, 0, store_now_ms()};
	int rc;
	do {
		rc = store_data_write_retry(b->meta, store_blob_expired_fn, &e, err);
	} while (rc == 0 && e.n >= 256);
	core_buf_fini(&e.keys);
	if (rc < 0)
		return rc;
	/* 2. Content older than the grace period with no reference goes. */
	uint64_t now = store_now_ms();
	struct store_blob_candidates c = {CORE_BUF_INIT, now > grace_ms ? now - grace_ms : 0};
	rc = store_blob_content_list(b, store_blob_candidates_cb, &c, err);
	int removed = 0;
	for (size_t off = 0; rc >= 0 && off + STORE_HASH_LEN <= c.hashes.len;
	     off += STORE_HASH_LEN) {
		const uint8_t *hash = (const uint8_t *)c.hashes.p + off;
		uint8_t pre[1 + STORE_HASH_LEN], hi[STORE_KEY_MAX];
		pre[0] = 'R';
		memcpy(pre + 1, hash, STORE_HASH_LEN);
		struct store_range r;
		store_range_prefix(&r, pre, sizeof(pre), hi);
		struct store_txn *t = NULL;
		bool referenced = false;
		rc = store_txn_begin(b->meta, STORE_TXN_READ, &t, err);
		if (rc < 0)
			break;
		rc = store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, store_blob_any_cb, &referenced,
					err);
		store_txn_abort(&t);
		if (rc < 0 || referenced)
			continue;
		bool gone = false;
		if (b->inl != NULL) {
			/* Inlined content is removed in a transaction that checks again for
			 * references, serialised with a delivery writing the same content. */
			struct store_blob_unref u = {b, hash, false};
			rc = store_data_write_retry(b->meta, store_blob_inl_remove_fn, &u, err);
			if (rc == CORE_ENOTFOUND)
				rc = 0;
			gone = u.removed;
		}
		if (rc >= 0 && b->inl != b->h) {
			rc = b->ops->remove(b->h, hash, err);
			if (rc == 0)
				gone = true;
			else if (rc == CORE_ENOTFOUND)
				rc = 0;
		}
		if (gone)
			removed++;
	}
	core_buf_fini(&c.hashes);
	/* 3. Leftovers of writes that never committed. */
	if (rc >= 0 && b->ops->sweep != NULL) {
		int swept = b->ops->sweep(b->h, c.cutoff, err);
		if (swept < 0)
			rc = swept;
	}
	return rc < 0 ? rc : removed;
}

/* ---------------------------------------------------------------- export / import */

int store_blob_content_size(struct store_blob *b, const uint8_t hash[STORE_HASH_LEN],
			    uint64_t *size_out, struct core_error *err)
{
	int rc = b->ops->size(b->h, hash, size_out, err);
	if (rc == CORE_ENOTFOUND && store_blob_inl_apart(b)) {
		core_error_clear(err);
		rc = store_kvblob_blob.size(b->inl, hash, size_out, err);
	}
	return rc;
}

int store_blob_content_read(struct store_blob *b, const uint8_t hash[STORE_HASH_LEN],
			    store_blob_read_fn fn, void *arg, struct core_error *err)
{
	int rc = b->ops->read(b->h, hash, 0, UINT64_MAX, fn, arg, err);
	if (rc == CORE_ENOTFOUND && store_blob_inl_apart(b)) {
		core_error_clear(err);
		rc = store_kvblob_blob.read(b->inl, hash, 0, UINT64_MAX, fn, arg, err);
	}
	return rc;
}

int store_blob_content_list(struct store_blob *b, store_blob_list_fn fn, void *arg,
			    struct core_error *err)
{
	int rc = b->ops->list(b->h, fn, arg, err);
	if (rc >= 0 && store_blob_inl_apart(b))
		rc = store_kvblob_blob.list(b->inl, fn, arg, err);
	return rc;
}

int store_blob_content_begin(struct store_blob *b, struct store_blob_writer **out,
			     struct core_error *err)
{
	return store_blob_write_begin(b, out, err);
}

int store_blob_content_finish(struct store_blob_writer **wp, const uint8_t hash[STORE_HASH_LEN],
			      struct core_error *err)
{
	struct store_blob_writer *w = *wp;
	*wp = NULL;
	uint8_t got[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	int rc = 0;
	if (EVP_DigestFinal_ex(w->sha, got, &hl) != 1 || hl != STORE_HASH_LEN ||
	    memcmp(got, hash, STORE_HASH_LEN) != 0)
		rc = core_error_set(err, CORE_EIO, NULL, "blob content does not match its hash");
	if (rc < 0)
		w->b->ops->writer_abort(w->w);
	else
		rc = w->b->ops->writer_commit(w->w, hash, w->size, err);
	store_blob_writer_free(w);
	return rc;
}
