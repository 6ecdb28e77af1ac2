/*
 * dir_bruteforce.c: failed authentications counted per client IP and per account in the
 * lookup store, with bans after too many (docs/directory.md, "Brute-force protection").
 *
 * Lookup keys (values and TTLs):
 *   bf/fi/<ip>        failure counter of an IP, expires window_ms after its first failure
 *   bf/fa/<account>   failure counter of an account, same window
 *   bf/bi/<ip>        ban of an IP: value is the end of the ban (ms, decimal), TTL ban_ms
 *   bf/ba/<account>   ban of an account
 *   bf/wi/<ip>, bf/wa/<account>   "was banned" markers that outlive the ban by the window, so
 *                     the first attempt after a ban ends logs the unban
 * Every entry expires by itself, so a restart or a cluster of nodes sharing the lookup store
 * keeps the same bans.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory/dir_int.h"
#include "store/store.h"

struct exempt_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct dir_bruteforce {
	struct store_lookup *l;
	struct dir_bf_settings s;
	struct exempt_net *ex;
	size_t n_ex;
};

static int parse_ip(const char *s, int *family, uint8_t addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return CORE_ESYNTAX;
}

static int parse_net(const char *s, struct exempt_net *n)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return CORE_ESYNTAX;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_ip(buf, &n->family, n->addr) < 0)
		return CORE_ESYNTAX;
	unsigned max = n->family == AF_INET ? 32 : 128;
	n->prefix = max;
	if (slash != NULL) {
		uint64_t v;
		if (core_str_to_u64(core_str_from_cstr(slash + 1), &v) < 0 || v > max)
			return CORE_ESYNTAX;
		n->prefix = (unsigned)v;
	}
	return 0;
}

static bool net_contains(const struct exempt_net *n, int family, const uint8_t *addr)
{
	if (n->family != family)
		return false;
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	if (memcmp(n->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (n->addr[full] & mask) == (addr[full] & mask);
}

bool dir_bruteforce_exempt(const struct dir_bruteforce *bf, const char *ip)
{
	int family;
	uint8_t addr[16];
	if (bf == NULL || ip == NULL || parse_ip(ip, &family, addr) < 0)
		return false;
	/* An IPv4-mapped IPv6 address is its IPv4 address. */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		memmove(addr, addr + 12, 4);
		family = AF_INET;
	}
	for (size_t i = 0; i < bf->n_ex; i++)
		if (net_contains(&bf->ex[i], family, addr))
			return true;
	return false;
}

int dir_bruteforce_new(struct store_lookup *l, const struct dir_bf_settings *s,
		       struct dir_bruteforce **out, struct core_error *err)
{
	struct dir_bruteforce *bf = core_xcalloc(1, sizeof(*bf));
	bf->l = l;
	bf->s = *s;
	bf->s.exempt = NULL;
	bf->s.n_exempt = 0;
	bf->ex = core_xcalloc(s->n_exempt + 1, sizeof(*bf->ex));
	for (size_t i = 0; i < s->n_exempt; i++) {
		if (parse_net(s->exempt[i], &bf->ex[i]) < 0) {
			core_error_set(err, CORE_ESYNTAX, NULL,
				       "auth.ban-exempt: '%s' is not an IP or CIDR prefix",
				       s->exempt[i]);
			free(bf->ex);
			free(bf);
			return CORE_ESYNTAX;
		}
	}
	bf->n_ex = s->n_exempt;
	*out = bf;
	return 0;
}

int dir_bruteforce_new_conf(struct store_lookup *l, const struct core_conf *c,
			    struct dir_bruteforce **out, struct core_error *err)
{
	struct dir_bf_settings s = {
		.max_ip = (unsigned)dir_conf_int(c, "auth.ban.ip-failures", 10),
		.max_account = (unsigned)dir_conf_int(c, "auth.ban.account-failures", 0),
		.window_ms = c != NULL ? core_conf_get_duration_ms(c, "auth.ban.window", 3600000)
				       : 3600000,
		.ban_ms = c != NULL ? core_conf_get_duration_ms(c, "auth.ban.time", 3600000)
				    : 3600000,
	};
	const char *const *ex = NULL;
	s.n_exempt = c != NULL ? core_conf_get_list(c, "auth.ban-exempt", &ex) : 0;
	s.exempt = ex;
	return dir_bruteforce_new(l, &s, out, err);
}

void dir_bruteforce_free(struct dir_bruteforce **bf)
{
	if (bf == NULL || *bf == NULL)
		return;
	free((*bf)->ex);
	free(*bf);
	*bf = NULL;
}

static size_t key_make(char *k, size_t cap, const char *kind, const char *v)
{
	int n = snprintf(k, cap, "bf/%s/%s", kind, v);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* 1 when a ban on (kind, v) is live; logs the unban when a ban has just ended. */
static int ban_live(struct dir_bruteforce *bf, char what, const char *v, struct core_error *err)
{
	char k[STORE_KEY_MAX], w[STORE_KEY_MAX];
	char kind[3] = {'b', what, 0}, wkind[3] = {'w', what, 0};
	size_t kl = key_make(k, sizeof(k), kind, v), wl = key_make(w, sizeof(w), wkind, v);
	if (kl == 0 || wl == 0)
		return 0;
	struct core_buf b = CORE_BUF_INIT;
	int r = store_lookup_get(bf->l, k, kl, &b, err);
	core_buf_fini(&b);
	if (r == 0)
		return 1;
	if (r != CORE_ENOTFOUND)
		return r;
	core_error_clear(err);
	if (store_lookup_get(bf->l, w, wl, &b, NULL) == 0) {
		core_log(CORE_LOG_NOTICE, "auth.unban", what == 'i' ? "ip" : "account", v, "reason",
			 "expired", NULL);
		store_lookup_delete(bf->l, w, wl, NULL);
	}
	core_buf_fini(&b);
	return 0;
}

int dir_bruteforce_check(struct dir_bruteforce *bf, const char *ip, const char *account,
			 struct core_error *err)
{
	if (bf == NULL)
		return 0;
	int r;
	if (ip != NULL && !dir_bruteforce_exempt(bf, ip)) {
		if ((r = ban_live(bf, 'i', ip, err)) < 0)
			return r;
		if (r == 1)
			return core_error_set(err, CORE_EPERM, NULL,
					      "too many failed logins from this address");
	}
	if (account != NULL && (ip == NULL || !dir_bruteforce_exempt(bf, ip))) {
		if ((r = ban_live(bf, 'a', account, err)) < 0)
			return r;
		if (r == 1)
			return core_error_set(err, CORE_EPERM, NULL,
					      "too many failed logins for this account");
	}
	return 0;
}

/* Count one failure for (kind, v); 1 when it reached max and started a ban. */
static int count(struct dir_bruteforce *bf, char what, const char *v, unsigned max,
		 struct core_error *err)
{
	if (max == 0 || v == NULL)
		return 0;
	char k[STORE_KEY_MAX];
	char kind[3] = {'f', what, 0};
	size_t kl = key_make(k, sizeof(k), kind, v);
	if (kl == 0)
		return 0;
	int64_t n;
	int r = store_lookup_counter_add(bf->l, k, kl, 1, bf->s.window_ms, &n, err);
	if (r < 0)
		return r;
	if (n < (int64_t)max)
		return 0;
	char bk[STORE_KEY_MAX], wk[STORE_KEY_MAX], until[32];
	char bkind[3] = {'b', what, 0}, wkind[3] = {'w', what, 0};
	size_t bl = key_make(bk, sizeof(bk), bkind, v), wl = key_make(wk, sizeof(wk), wkind, v);
	uint64_t end = store_now_ms() + bf->s.ban_ms;
	int ul = snprintf(until, sizeof(until), "%llu", (unsigned long long)end);
	if ((r = store_lookup_set(bf->l, bk, bl, until, (size_t)ul, bf->s.ban_ms, err)) < 0 ||
	    (r = store_lookup_set(bf->l, wk, wl, until, (size_t)ul,
				  bf->s.ban_ms + bf->s.window_ms + 1, err)) < 0)
		return r;
	store_lookup_delete(bf->l, k, kl, NULL);
	char cnt[24], secs[24];
	snprintf(cnt, sizeof(cnt), "%lld", (long long)n);
	snprintf(secs, sizeof(secs), "%llu", (unsigned long long)(bf->s.ban_ms / 1000));
	core_log(CORE_LOG_WARN, "auth.ban", what == 'i' ? "ip" : "account", v, "failures", cnt,
		 "seconds", secs, NULL);
	return 1;
}

int dir_bruteforce_failure(struct dir_bruteforce *bf, const char *ip, const char *account,
			   struct core_error *err)
{
	if (bf == NULL || (ip != NULL && dir_bruteforce_exempt(bf, ip)))
		return 0;
	int a = count(bf, 'i', ip, bf->s.max_ip, err);
	if (a < 0)
		return a;
	int b = count(bf, 'a', account, bf->s.max_account, err);
	if (b < 0)
		return b;
	return a || b ? 1 : 0;
}

void dir_bruteforce_success(struct dir_bruteforce *bf, const char *ip, const char *account)
{
	(void)ip;
	char k[STORE_KEY_MAX];
	size_t kl;
	if (bf != NULL && account != NULL && (kl = key_make(k, sizeof(k), "fa", account)) > 0)
		store_lookup_delete(bf->l, k, kl, NULL);
}

static int unban_one(struct dir_bruteforce *bf, char what, const char *v, struct core_error *err)
{
	char bk[STORE_KEY_MAX], wk[STORE_KEY_MAX], fk[STORE_KEY_MAX];
	char bkind[3] = {'b', what, 0}, wkind[3] = {'w', what, 0}, fkind[3] = {'f', what, 0};
	size_t bl = key_make(bk, sizeof(bk), bkind, v), wl = key_make(wk, sizeof(wk), wkind, v),
	       fl = key_make(fk, sizeof(fk), fkind, v);
	if (bl == 0 || wl == 0 || fl == 0)
		return 0;
	struct core_buf b = CORE_BUF_INIT;
	int r = store_lookup_get(bf->l, bk, bl, &b, err);
	core_buf_fini(&b);
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	if ((r = store_lookup_delete(bf->l, bk, bl, err)) < 0)
		return r;
	store_lookup_delete(bf->l, wk, wl, NULL);
	store_lookup_delete(bf->l, fk, fl, NULL);
	core_log(CORE_LOG_NOTICE, "auth.unban", what == 'i' ? "ip" : "account", v, "reason",
		 "manual", NULL);
	return 1;
}

int dir_bruteforce_unban(struct dir_bruteforce *bf, const char *ip, const char *account,
			 struct core_error *err)
{
	int n = 0, r;
	if (ip != NULL) {
		if ((r = unban_one(bf, 'i', ip, err)) < 0)
			return r;
		n += r;
	}
	if (account != NULL) {
		if ((r = unban_one(bf, 'a', account, err)) < 0)
			return r;
		n += r;
	}
	return n > 0 ? 1 : 0;
}
