/*
 * dir_dkim.c: DKIM private keys of the local domains in the data store (docs/dns.md).
 * Key: "dir/k/<domain>" 0x00 "<selector>", value: the private key in PKCS#8 PEM. The NUL
 * separator keeps one domain's keys apart from a longer domain's ("a.org" / "a.org.uk").
 */
#include <string.h>

#include "directory/dir_int.h"
#include "store/store.h"

static size_t dkim_key(uint8_t *k, const char *domain, const char *selector)
{
	size_t dl = strlen(domain), sl = selector != NULL ? strlen(selector) : 0;
	if (dl == 0 || dl > DIR_NAME_MAX || 7 + dl + sl > STORE_KEY_MAX)
		return 0;
	memcpy(k, DIR_KEY_PREFIX "k/", 6);
	for (size_t i = 0; i < dl; i++)
		k[6 + i] = (uint8_t)core_ascii_lower(domain[i]);
	k[6 + dl] = 0;
	if (sl)
		memcpy(k + 7 + dl, selector, sl);
	return 7 + dl + sl;
}

int dir_dkim_key_put(struct store_data *data, const char *domain, const char *selector,
		     const char *pem, size_t len, struct core_error *err)
{
	uint8_t k[STORE_KEY_MAX];
	size_t kl = selector != NULL && selector[0] ? dkim_key(k, domain, selector) : 0;
	if (kl == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain or selector");
	struct store_txn *t;
	int r = store_txn_begin(data, STORE_TXN_WRITE, &t, err);
	if (r < 0)
		return r;
	if ((r = store_txn_put(t, k, kl, pem, len, err)) < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t, err);
}

struct list_ctx {
	size_t plen;
	int (*fn)(void *arg, const char *selector, const char *pem, size_t len);
	void *arg;
	int rc;
};

static int list_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_ctx *lc = arg;
	char sel[STORE_KEY_MAX + 1];
	size_t sl = klen - lc->plen;
	memcpy(sel, (const char *)key + lc->plen, sl);
	sel[sl] = '\0';
	int r = lc->fn(lc->arg, sel, val, vlen);
	if (r != 0)
		lc->rc = r;
	return r != 0 ? 1 : 0;
}

int dir_dkim_key_list(struct store_data *data, const char *domain,
		      int (*fn)(void *arg, const char *selector, const char *pem, size_t len),
		      void *arg, struct core_error *err)
{
	uint8_t k[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t kl = dkim_key(k, domain, NULL);
	if (kl == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain");
	struct store_txn *t;
	int r = store_txn_begin(data, STORE_TXN_READ, &t, err);
	if (r < 0)
		return r;
	struct store_range rg;
	store_range_prefix(&rg, k, kl, hi);
	struct list_ctx lc = {.plen = kl, .fn = fn, .arg = arg};
	r = store_txn_scan(t, &rg, list_fn, &lc, err);
	store_txn_abort(&t);
	if (r < 0)
		return r;
	return lc.rc < 0 ? lc.rc : r;
}

struct del_ctx {
	struct store_txn *t;
	struct core_error *err;
};

static int del_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct del_ctx *dc = arg;
	(void)val;
	(void)vlen;
	int r = store_txn_delete(dc->t, key, klen, dc->err);
	return r < 0 ? r : 0;
}

int dir_dkim_key_remove_all(struct store_data *data, const char *domain, struct core_error *err)
{
	uint8_t k[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t kl = dkim_key(k, domain, NULL);
	if (kl == 0)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain");
	struct store_txn *t;
	int r = store_txn_begin(data, STORE_TXN_WRITE, &t, err);
	if (r < 0)
		return r;
	struct store_range rg;
	store_range_prefix(&rg, k, kl, hi);
	struct del_ctx dc = {.t = t, .err = err};
	r = store_txn_scan(t, &rg, del_fn, &dc, err);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t, err);
}
