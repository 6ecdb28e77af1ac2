/*
 * mailstore_object.c: the other per-account JMAP objects kept by the mail store (issue 6):
 * identities (RFC 8621 §6), the vacation response (RFC 8621 §8), Sieve scripts (RFC 9661)
 * and push subscriptions (RFC 8620 §7.2). Their content is opaque here; the mail store gives
 * them ids, a modseq from the account's change counter and /changes with tombstones.
 */
#include <string.h>

#include "mailstore/mailstore_int.h"

static int ms_obj_type(enum mailstore_type type, unsigned *bit_out)
{
	switch (type) {
	case MAILSTORE_T_IDENTITY:
		*bit_out = 3;
		return 0;
	case MAILSTORE_T_VACATION:
		*bit_out = 4;
		return 0;
	case MAILSTORE_T_SIEVE:
		*bit_out = 5;
		return 0;
	case MAILSTORE_T_PUSH:
		*bit_out = 6;
		return 0;
	default:
		return CORE_ESYNTAX;
	}
}

static size_t ms_obj_key(uint8_t *k, uint64_t account, enum mailstore_type type, uint64_t id)
{
	size_t kl = ms_key(k, account, MS_F_OBJECT);
	k[kl++] = (uint8_t)type;
	ms_be64(k + kl, id);
	return kl + 8;
}

struct ms_obj_ctx {
	uint64_t account;
	enum mailstore_type type;
	unsigned bit;
	uint64_t id, if_modseq;
	const void *data;
	size_t len;
	struct core_arena *a;
	struct mailstore_object *out;
	struct mailstore_object *list;
	size_t n, cap;
	int op; /* 0 create, 1 update, 2 destroy */
};

static int ms_obj_write(struct ms_tx *tx, struct ms_obj_ctx *c, struct ms_tx_acct *ac)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_obj_key(k, c->account, c->type, c->id);
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, MS_V_OBJECT);
	ms_put_u64(&v, ac->modseq);
	ms_put_bytes(&v, c->data, c->len);
	int rc = ms_put(tx, k, kl, v.p, v.len);
	core_buf_fini(&v);
	return rc;
}

static int ms_obj_read(struct ms_tx *tx, uint64_t account, enum mailstore_type type, uint64_t id,
		       struct core_arena *a, struct mailstore_object *out)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_obj_key(k, account, type, id);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND)
		rc = ms_tx_fail(tx, rc, NULL, "no such object");
	if (rc >= 0) {
		struct ms_dec d;
		ms_dec_init(&d, v.p, v.len);
		(void)ms_get_u64(&d);
		out->id = id;
		out->modseq = ms_get_u64(&d);
		size_t n;
		const uint8_t *p = ms_get_bytes(&d, &n);
		if (d.bad) {
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt object");
		} else {
			out->data = core_arena_memdup(a, p != NULL ? p : (const uint8_t *)"", n);
			out->len = n;
		}
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_obj_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_obj_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	int rc;
	if (c->op == 0) {
		rc = store_txn_id_next(tx->t, c->account, MS_COLL_OBJECT + c->bit, &c->id, tx->err);
		if (rc < 0)
			return rc;
		ms_tx_log(tx, ac, c->type, MS_OP_CREATED, c->id);
		return ms_obj_write(tx, c, ac);
	}
	struct mailstore_object cur;
	if ((rc = ms_obj_read(tx, c->account, c->type, c->id, tx->a, &cur)) < 0)
		return rc;
	if (c->op == 1) {
		if (c->if_modseq != 0 && cur.modseq != c->if_modseq)
			return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8620 §5.3",
					  "the object changed since the given state");
		ms_tx_log(tx, ac, c->type, MS_OP_UPDATED, c->id);
		return ms_obj_write(tx, c, ac);
	}
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_obj_key(k, c->account, c->type, c->id);
	ms_tx_log(tx, ac, c->type, MS_OP_DESTROYED, c->id);
	return ms_del(tx, k, kl);
}

static int ms_obj_run(struct mailstore *ms, struct ms_obj_ctx *c, struct core_error *err)
{
	if (ms_obj_type(c->type, &c->bit) < 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "not an object type");
	if (c->op != 2 && (c->len > MAILSTORE_OBJECT_MAX || (c->data == NULL && c->len > 0)))
		return core_error_set(err, CORE_ELIMIT, NULL, "object larger than %u bytes",
				      MAILSTORE_OBJECT_MAX);
	return ms_tx_run(ms, &c->account, 1, ms_obj_fn, c, err);
}

int mailstore_object_create(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			    const void *data, size_t len, uint64_t *id_out, struct core_error *err)
{
	struct ms_obj_ctx c = {.account = account, .type = type, .data = data, .len = len, .op = 0};
	int rc = ms_obj_run(ms, &c, err);
	if (rc >= 0 && id_out != NULL)
		*id_out = c.id;
	return rc;
}

int mailstore_object_update(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			    uint64_t id, const void *data, size_t len, uint64_t if_modseq,
			    struct core_error *err)
{
	struct ms_obj_ctx c = {.account = account,
			       .type = type,
			       .id = id,
			       .data = data,
			       .len = len,
			       .if_modseq = if_modseq,
			       .op = 1};
	return ms_obj_run(ms, &c, err);
}

int mailstore_object_destroy(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			     uint64_t id, struct core_error *err)
{
	struct ms_obj_ctx c = {.account = account, .type = type, .id = id, .op = 2};
	return ms_obj_run(ms, &c, err);
}

static int ms_obj_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_obj_ctx *c = ctx;
	return ms_obj_read(tx, c->account, c->type, c->id, c->a, c->out);
}

int mailstore_object_get(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			 uint64_t id, struct core_arena *a, struct mailstore_object *out,
			 struct core_error *err)
{
	unsigned bit;
	if (ms_obj_type(type, &bit) < 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "not an object type");
	struct ms_obj_ctx c = {.account = account, .type = type, .id = id, .a = a, .out = out};
	return ms_tx_read(ms, c.account, ms_obj_get_fn, &c, err);
}

static int ms_obj_list_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_obj_ctx *c = arg;
	if (klen != 19)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct mailstore_object *nl = core_arena_alloc(c->a, cap * sizeof(*nl));
		if (c->n > 0)
			memcpy(nl, c->list, c->n * sizeof(*nl));
		c->list = nl;
		c->cap = cap;
	}
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	(void)ms_get_u64(&d);
	struct mailstore_object *o = &c->list[c->n];
	o->id = ms_rd_be64((const uint8_t *)key + 11);
	o->modseq = ms_get_u64(&d);
	size_t n;
	const uint8_t *p = ms_get_bytes(&d, &n);
	if (d.bad)
		return CORE_EINTERNAL;
	o->data = core_arena_memdup(c->a, p != NULL ? p : (const uint8_t *)"", n);
	o->len = n;
	c->n++;
	return 0;
}

static int ms_obj_list_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_obj_ctx *c = ctx;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key(pre, c->account, MS_F_OBJECT);
	pre[pl++] = (uint8_t)c->type;
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	int rc = store_txn_scan(tx->t, &r, ms_obj_list_cb, c, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt object");
	return rc;
}

int mailstore_object_list(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			  struct core_arena *a, struct mailstore_object **out, size_t *n_out,
			  struct core_error *err)
{
	unsigned bit;
	if (ms_obj_type(type, &bit) < 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "not an object type");
	struct ms_obj_ctx c = {.account = account, .type = type, .a = a};
	int rc = ms_tx_read(ms, c.account, ms_obj_list_fn, &c, err);
	if (rc >= 0) {
		*out = c.list;
		*n_out = c.n;
	}
	return rc;
}
