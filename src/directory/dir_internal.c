/*
 * dir_internal.c: the internal directory, kept in the data store and fully managed by
 * Staunch (docs/directory.md, "Internal directory").
 *
 * Key schema (all under "dir/"; ARCHITECTURE.md §4: every uniqueness rule is a point key, so
 * two concurrent creates of the same name or address conflict on that key):
 *   dir/p/<id:be64>                    the principal record (below)
 *   dir/n/<name>                       id of the individual, group or list with that name
 *   dir/a/<address>                    id of the principal owning that address (primary or
 *                                      alias), addresses in canonical form
 *   dir/d/<domain>                     id of the domain principal for a domain or one of
 *                                      its domain aliases
 *   dir/m/<member> 0x00 <group:be64>   membership edge: group or list <group> lists <member>
 *                                      (a name or an address) among its members
 * Ids come from the (account 0, DIR_COLL_PRINCIPAL) counter of the data store: 1, 2, 3 ...
 * never reused; their text form is the decimal number.
 *
 * Record: a version byte (1), then fields as tag (1 byte), length (4 bytes big-endian),
 * bytes. Repeated tags carry lists (aliases, members, app passwords as label then hash).
 */
#include <stdlib.h>
#include <string.h>

#include "directory/dir_int.h"
#include "store/store.h"

enum rec_tag {
	T_TYPE = 1,
	T_NAME = 2,
	T_DESC = 3,
	T_ADDR = 4,
	T_ALIAS = 5,
	T_MEMBER = 6,
	T_SECRET = 7,
	T_SCRAM256 = 8,
	T_SCRAM1 = 9,
	T_APP_LABEL = 10,
	T_APP_HASH = 11,
	T_QUOTA_BYTES = 12,
	T_QUOTA_MSGS = 13,
	T_ROLE = 14,
	T_DISABLED = 15,
	T_CATCH_ALL = 16,
};

#define REC_VERSION 1

struct internal {
	struct store_data *data;
};

/* ------------------------------------------------------------------------------------ */
/* Keys and records                                                                     */
/* ------------------------------------------------------------------------------------ */

struct key {
	uint8_t b[STORE_KEY_MAX];
	size_t len;
};

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* "dir/<kind>/" + s; false when too long for a key. */
static bool key_str(struct key *k, char kind, const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || 6 + n > STORE_KEY_MAX)
		return false;
	memcpy(k->b, DIR_KEY_PREFIX, 4);
	k->b[4] = (uint8_t)kind;
	k->b[5] = '/';
	memcpy(k->b + 6, s, n);
	k->len = 6 + n;
	return true;
}

static void key_principal(struct key *k, uint64_t id)
{
	memcpy(k->b, DIR_KEY_PREFIX "p/", 6);
	be64_put(k->b + 6, id);
	k->len = 14;
}

static bool key_member(struct key *k, const char *member, uint64_t group)
{
	if (!key_str(k, 'm', member) || k->len + 9 > STORE_KEY_MAX)
		return false;
	k->b[k->len++] = 0;
	be64_put(k->b + k->len, group);
	k->len += 8;
	return true;
}

static void put_field(struct core_buf *b, enum rec_tag tag, const void *p, size_t n)
{
	uint8_t h[5] = {(uint8_t)tag, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			(uint8_t)n};
	core_buf_append(b, h, 5);
	core_buf_append(b, p, n);
}

static void put_str(struct core_buf *b, enum rec_tag tag, const char *s)
{
	if (s != NULL)
		put_field(b, tag, s, strlen(s));
}

static void put_u64(struct core_buf *b, enum rec_tag tag, uint64_t v)
{
	uint8_t e[8];
	be64_put(e, v);
	put_field(b, tag, e, 8);
}

static void rec_encode(const struct dir_principal *p, struct core_buf *b)
{
	uint8_t v = REC_VERSION, t = (uint8_t)p->type, role = (uint8_t)p->role,
		dis = p->disabled ? 1 : 0;
	core_buf_append(b, &v, 1);
	put_field(b, T_TYPE, &t, 1);
	put_str(b, T_NAME, p->name);
	put_str(b, T_DESC, p->description);
	put_str(b, T_ADDR, p->address);
	for (size_t i = 0; i < p->n_aliases; i++)
		put_str(b, T_ALIAS, p->aliases[i]);
	for (size_t i = 0; i < p->n_members; i++)
		put_str(b, T_MEMBER, p->members[i]);
	put_str(b, T_SECRET, p->secret);
	put_str(b, T_SCRAM256, p->scram_sha256);
	put_str(b, T_SCRAM1, p->scram_sha1);
	for (size_t i = 0; i < p->n_app_passwords; i++) {
		put_str(b, T_APP_LABEL, p->app_passwords[i].label);
		put_str(b, T_APP_HASH, p->app_passwords[i].hash);
	}
	if (p->quota_bytes)
		put_u64(b, T_QUOTA_BYTES, p->quota_bytes);
	if (p->quota_messages)
		put_u64(b, T_QUOTA_MSGS, p->quota_messages);
	put_field(b, T_ROLE, &role, 1);
	put_field(b, T_DISABLED, &dis, 1);
	put_str(b, T_CATCH_ALL, p->catch_all);
}

static int rec_decode(const uint8_t *b, size_t n, uint64_t id, struct core_arena *a,
		      struct dir_principal **out, struct core_error *err)
{
	if (n < 1 || b[0] != REC_VERSION)
		return core_error_set(err, CORE_EIO, NULL, "directory record %llu: bad version",
				      (unsigned long long)id);
	struct dir_principal *p = dir_principal_alloc(a);
	struct dir_strv al = {0}, mem = {0};
	struct dir_app_password *apps = NULL;
	size_t n_apps = 0, cap_apps = 0;
	p->id = core_arena_printf(a, "%llu", (unsigned long long)id);
	size_t i = 1;
	while (i < n) {
		if (n - i < 5)
			goto bad;
		enum rec_tag tag = b[i];
		size_t len = ((size_t)b[i + 1] << 24) | ((size_t)b[i + 2] << 16) |
			     ((size_t)b[i + 3] << 8) | b[i + 4];
		i += 5;
		if (len > n - i)
			goto bad;
		const uint8_t *v = b + i;
		char *s = core_arena_strndup(a, (const char *)v, len);
		i += len;
		switch (tag) {
		case T_TYPE:
			if (len != 1 || v[0] > DIR_DOMAIN)
				goto bad;
			p->type = (enum dir_type)v[0];
			break;
		case T_NAME:
			p->name = s;
			break;
		case T_DESC:
			p->description = s;
			break;
		case T_ADDR:
			p->address = s;
			break;
		case T_ALIAS:
			dir_strv_push(a, &al, s);
			break;
		case T_MEMBER:
			dir_strv_push(a, &mem, s);
			break;
		case T_SECRET:
			p->secret = s;
			break;
		case T_SCRAM256:
			p->scram_sha256 = s;
			break;
		case T_SCRAM1:
			p->scram_sha1 = s;
			break;
		case T_APP_LABEL:
			if (n_apps == cap_apps) {
				size_t cap = cap_apps ? cap_apps * 2 : 4;
				struct dir_app_password *nv =
					core_arena_zalloc(a, cap * sizeof(*nv));
				if (n_apps)
					memcpy(nv, apps, n_apps * sizeof(*nv));
				apps = nv;
				cap_apps = cap;
			}
			apps[n_apps++].label = s;
			break;
		case T_APP_HASH:
			if (n_apps == 0)
				goto bad;
			apps[n_apps - 1].hash = s;
			break;
		case T_QUOTA_BYTES:
		case T_QUOTA_MSGS:
			if (len != 8)
				goto bad;
			*(tag == T_QUOTA_BYTES ? &p->quota_bytes : &p->quota_messages) =
				be64_get(v);
			break;
		case T_ROLE:
			if (len != 1 || v[0] > DIR_ROLE_ADMIN)
				goto bad;
			p->role = (enum dir_role)v[0];
			break;
		case T_DISABLED:
			if (len != 1)
				goto bad;
			p->disabled = v[0] != 0;
			break;
		case T_CATCH_ALL:
			p->catch_all = s;
			break;
		default:
			break; /* a field of a later version: ignored */
		}
	}
	if (p->name == NULL)
		goto bad;
	p->aliases = al.v;
	p->n_aliases = al.n;
	p->members = mem.v;
	p->n_members = mem.n;
	p->app_passwords = apps;
	p->n_app_passwords = n_apps;
	*out = p;
	return 0;
bad:
	return core_error_set(err, CORE_EIO, NULL, "directory record %llu is corrupt",
			      (unsigned long long)id);
}

/* ------------------------------------------------------------------------------------ */
/* Reads                                                                                */
/* ------------------------------------------------------------------------------------ */

static int parse_id(struct core_str s, uint64_t *id)
{
	return core_str_to_u64(s, id) < 0 || *id == 0 ? CORE_ENOTFOUND : 0;
}

static int txn_load(struct store_txn *t, uint64_t id, struct core_arena *a,
		    struct dir_principal **out, struct core_error *err)
{
	struct key k;
	key_principal(&k, id);
	struct core_buf v = CORE_BUF_INIT;
	int r = store_txn_get(t, k.b, k.len, &v, err);
	if (r == 0)
		r = rec_decode((const uint8_t *)v.p, v.len, id, a, out, err);
	else if (r == CORE_ENOTFOUND)
		core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	core_buf_fini_wipe(&v);
	return r;
}

/* The id stored under an index key. */
static int txn_index(struct store_txn *t, const struct key *k, uint64_t *id, struct core_error *err)
{
	struct core_buf v = CORE_BUF_INIT;
	int r = store_txn_get(t, k->b, k->len, &v, err);
	if (r == 0 && v.len != 8)
		r = core_error_set(err, CORE_EIO, NULL, "corrupt directory index");
	if (r == 0)
		*id = be64_get((const uint8_t *)v.p);
	else if (r == CORE_ENOTFOUND)
		core_error_set(err, CORE_ENOTFOUND, NULL, "not found");
	core_buf_fini(&v);
	return r;
}

static int load_by_key(struct internal *in, char kind, struct core_str s, struct core_arena *a,
		       struct dir_principal **out, struct core_error *err)
{
	struct key k;
	char *z = core_str_dup(a, s);
	if (!key_str(&k, kind, z))
		return core_error_set(err, CORE_ENOTFOUND, NULL, "not found");
	struct store_txn *t;
	int r = store_txn_begin(in->data, STORE_TXN_READ, &t, err);
	if (r < 0)
		return r;
	uint64_t id;
	r = txn_index(t, &k, &id, err);
	if (r == 0)
		r = txn_load(t, id, a, out, err);
	store_txn_abort(&t);
	return r;
}

static int in_by_id(void *h, struct core_str id, struct core_arena *a, struct dir_principal **out,
		    struct core_error *err)
{
	struct internal *in = h;
	uint64_t v;
	if (parse_id(id, &v) < 0)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	struct store_txn *t;
	int r = store_txn_begin(in->data, STORE_TXN_READ, &t, err);
	if (r < 0)
		return r;
	r = txn_load(t, v, a, out, err);
	store_txn_abort(&t);
	return r;
}

static int in_by_name(void *h, struct core_str name, struct core_arena *a,
		      struct dir_principal **out, struct core_error *err)
{
	return load_by_key(h, 'n', name, a, out, err);
}

static int in_by_address(void *h, struct core_str addr, struct core_arena *a,
			 struct dir_principal **out, struct core_error *err)
{
	return load_by_key(h, 'a', addr, a, out, err);
}

static int in_domain(void *h, struct core_str name, struct core_arena *a,
		     struct dir_principal **out, struct core_error *err)
{
	return load_by_key(h, 'd', name, a, out, err);
}

struct member_scan {
	struct core_arena *a;
	struct store_txn *t;
	struct dir_strv ids;
};

static int member_scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct member_scan *ms = arg;
	(void)val;
	(void)vlen;
	if (klen < 8)
		return 0;
	uint64_t g = be64_get((const uint8_t *)key + klen - 8);
	const char *s = core_arena_printf(ms->a, "%llu", (unsigned long long)g);
	if (!dir_strv_has(&ms->ids, s))
		dir_strv_push(ms->a, &ms->ids, s);
	return ms->ids.n >= DIR_EXPAND_MAX ? 1 : 0;
}

static int in_member_of(void *h, const struct dir_principal *p, struct core_arena *a,
			const char ***names_out, size_t *n_out, struct core_error *err)
{
	struct internal *in = h;
	struct store_txn *t;
	int r = store_txn_begin(in->data, STORE_TXN_READ, &t, err);
	if (r < 0)
		return r;
	struct member_scan ms = {.a = a, .t = t};
	/* A principal is listed by name (groups) or by any of its addresses (lists). */
	struct dir_strv keys = {0};
	dir_strv_push(a, &keys, p->name);
	if (p->address != NULL)
		dir_strv_push(a, &keys, p->address);
	for (size_t i = 0; i < p->n_aliases && p->type != DIR_DOMAIN; i++)
		dir_strv_push(a, &keys, p->aliases[i]);
	for (size_t i = 0; i < keys.n && r >= 0; i++) {
		struct key k;
		if (!key_str(&k, 'm', keys.v[i]) || k.len + 1 > STORE_KEY_MAX)
			continue;
		k.b[k.len++] = 0;
		uint8_t hi[STORE_KEY_MAX];
		struct store_range rg;
		store_range_prefix(&rg, k.b, k.len, hi);
		r = store_txn_scan(t, &rg, member_scan_fn, &ms, err);
	}
	struct dir_strv names = {0};
	for (size_t i = 0; i < ms.ids.n && r >= 0; i++) {
		uint64_t gid;
		struct dir_principal *g;
		if (parse_id(core_str_from_cstr(ms.ids.v[i]), &gid) < 0)
			continue;
		int lr = txn_load(t, gid, a, &g, err);
		if (lr == CORE_ENOTFOUND) {
			core_error_clear(err);
			continue;
		}
		if (lr < 0)
			r = lr;
		else
			dir_strv_push(a, &names, g->name);
	}
	store_txn_abort(&t);
	if (r < 0)
		return r;
	*names_out = names.v;
	*n_out = names.n;
	return 0;
}

struct list_scan {
	struct store_txn *t;
	struct core_arena *a;
	enum dir_type type;
	int (*fn)(void *arg, const struct dir_principal *p);
	void *arg;
	struct core_error *err;
	int rc;
};

static int list_scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_scan *ls = arg;
	if (vlen != 8)
		return 0;
	struct dir_principal *p;
	int r = txn_load(ls->t, be64_get(val), ls->a, &p, ls->err);
	if (r < 0) {
		ls->rc = r;
		return r;
	}
	/* Domain aliases share the dir/d/ index with their domain: list each domain once. */
	if (p->type != ls->type || strlen(p->name) != klen - 6 ||
	    memcmp(p->name, (const char *)key + 6, klen - 6) != 0)
		return 0;
	return ls->fn(ls->arg, p) != 0 ? 1 : 0;
}

static int in_list(void *h, enum dir_type type, struct core_arena *a,
		   int (*fn)(void *arg, const struct dir_principal *p), void *arg,
		   struct core_error *err)
{
	struct internal *in = h;
	struct store_txn *t;
	int r = store_txn_begin(in->data, STORE_TXN_READ, &t, err);
	if (r < 0)
		return r;
	struct list_scan ls = {.t = t, .a = a, .type = type, .fn = fn, .arg = arg, .err = err};
	uint8_t pre[6], hi[STORE_KEY_MAX];
	memcpy(pre, DIR_KEY_PREFIX, 4);
	pre[4] = type == DIR_DOMAIN ? 'd' : 'n';
	pre[5] = '/';
	struct store_range rg;
	store_range_prefix(&rg, pre, 6, hi);
	r = store_txn_scan(t, &rg, list_scan_fn, &ls, err);
	store_txn_abort(&t);
	if (ls.rc < 0)
		return ls.rc;
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------------------ */
/* Writes                                                                               */
/* ------------------------------------------------------------------------------------ */

/* The index keys a principal owns: (kind, string) pairs. */
struct owned {
	struct dir_strv names; /* kind 'n' or 'd' */
	struct dir_strv addrs; /* kind 'a' */
	struct dir_strv members;
	char name_kind;
};

static void owned_collect(const struct dir_principal *p, struct core_arena *a, struct owned *o)
{
	memset(o, 0, sizeof(*o));
	o->name_kind = p->type == DIR_DOMAIN ? 'd' : 'n';
	dir_strv_push(a, &o->names, p->name);
	if (p->type == DIR_DOMAIN) {
		for (size_t i = 0; i < p->n_aliases; i++)
			dir_strv_push(a, &o->names, p->aliases[i]);
		return;
	}
	if (p->address != NULL)
		dir_strv_push(a, &o->addrs, p->address);
	for (size_t i = 0; i < p->n_aliases; i++)
		dir_strv_push(a, &o->addrs, p->aliases[i]);
	if (p->type == DIR_GROUP || p->type == DIR_LIST)
		for (size_t i = 0; i < p->n_members; i++)
			if (!dir_strv_has(&o->members, p->members[i]))
				dir_strv_push(a, &o->members, p->members[i]);
}

static bool valid_name(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > DIR_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/*
 * Normalize a principal for storage into a copy in a: lower-case names, canonical
 * addresses in the canonical domain, checks of every field.
 */
static int normalize(struct store_txn *t, const struct dir_principal *in, struct core_arena *a,
		     struct dir_principal **out, struct core_error *err)
{
	struct dir_principal *p = dir_principal_alloc(a);
	*p = *in;
	if ((unsigned)in->type > DIR_DOMAIN)
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad principal type");
	if (!valid_name(in->name))
		return core_error_set(err, CORE_ESYNTAX, NULL, "bad principal name");
	if (in->n_aliases > DIR_MAX_VALUES || in->n_members > DIR_MAX_VALUES)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many aliases or members");
	p->name = dir_lower_dup(a, core_str_from_cstr(in->name));
	if (p->type == DIR_DOMAIN) {
		if (strchr(p->name, '@') != NULL)
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain name");
		const char **al = core_arena_alloc(a, (in->n_aliases + 1) * sizeof(*al));
		for (size_t i = 0; i < in->n_aliases; i++) {
			if (!valid_name(in->aliases[i]) || strchr(in->aliases[i], '@') != NULL)
				return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain alias");
			al[i] = dir_lower_dup(a, core_str_from_cstr(in->aliases[i]));
		}
		p->aliases = al;
		p->address = NULL;
		p->n_members = 0;
		if (in->catch_all != NULL && in->catch_all[0] != '\0') {
			p->catch_all =
				dir_address_normalize(a, core_str_from_cstr(in->catch_all), err);
			if (p->catch_all == NULL)
				return CORE_ESYNTAX;
		}
		return (*out = p, 0);
	}
	if (strchr(p->name, '@') != NULL && p->type != DIR_INDIVIDUAL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "group and list names have no '@'");
	p->catch_all = NULL;
	/* Every address must be in a local domain; it is stored in the canonical domain. */
	size_t n_addr = in->n_aliases + (in->address != NULL ? 1 : 0);
	const char **addrs = core_arena_alloc(a, (n_addr + 1) * sizeof(*addrs));
	for (size_t i = 0; i < n_addr; i++) {
		const char *src = i < in->n_aliases ? in->aliases[i] : in->address;
		const char *n = dir_address_normalize(a, core_str_from_cstr(src), err);
		if (n == NULL)
			return CORE_ESYNTAX;
		const char *at = strrchr(n, '@');
		struct key k;
		uint64_t did;
		if (!key_str(&k, 'd', at + 1))
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad domain");
		int r = txn_index(t, &k, &did, err);
		if (r == CORE_ENOTFOUND)
			return core_error_set(err, CORE_ENOTFOUND, NULL, "%s is not a local domain",
					      at + 1);
		if (r < 0)
			return r;
		struct dir_principal *dom;
		if ((r = txn_load(t, did, a, &dom, err)) < 0)
			return r;
		if (strcmp(dom->name, at + 1) != 0)
			n = core_arena_printf(a, "%.*s@%s", (int)(at - n), n, dom->name);
		addrs[i] = n;
	}
	if (in->address != NULL) {
		p->address = addrs[in->n_aliases];
		p->aliases = addrs;
	} else {
		p->aliases = addrs;
	}
	const char **mem = core_arena_alloc(a, (in->n_members + 1) * sizeof(*mem));
	for (size_t i = 0; i < in->n_members; i++) {
		if (!valid_name(in->members[i]))
			return core_error_set(err, CORE_ESYNTAX, NULL, "bad member");
		if (strchr(in->members[i], '@') != NULL) {
			mem[i] = dir_address_normalize(a, core_str_from_cstr(in->members[i]), err);
			if (mem[i] == NULL)
				return CORE_ESYNTAX;
		} else {
			mem[i] = dir_lower_dup(a, core_str_from_cstr(in->members[i]));
		}
	}
	p->members = mem;
	if (p->type != DIR_GROUP && p->type != DIR_LIST)
		p->n_members = 0;
	*out = p;
	return 0;
}

static int claim(struct store_txn *t, char kind, const char *s, uint64_t id, struct core_error *err)
{
	struct key k;
	if (!key_str(&k, kind, s))
		return core_error_set(err, CORE_ELIMIT, NULL, "name too long");
	uint8_t e[8];
	be64_put(e, id);
	int r = store_txn_assert(t, k.b, k.len, NULL, 0, err);
	if (r == CORE_ECONFLICT)
		return core_error_set(err, CORE_ECONFLICT, NULL, "%s is already in use", s);
	if (r < 0)
		return r;
	return store_txn_put(t, k.b, k.len, e, 8, err);
}

static int release(struct store_txn *t, char kind, const char *s, struct core_error *err)
{
	struct key k;
	if (!key_str(&k, kind, s))
		return 0;
	return store_txn_delete(t, k.b, k.len, err);
}

static int member_edge(struct store_txn *t, const char *m, uint64_t id, bool add,
		       struct core_error *err)
{
	struct key k;
	if (!key_member(&k, m, id))
		return core_error_set(err, CORE_ELIMIT, NULL, "member name too long");
	return add ? store_txn_put(t, k.b, k.len, "", 0, err)
		   : store_txn_delete(t, k.b, k.len, err);
}

static int put_record(struct store_txn *t, const struct dir_principal *p, uint64_t id,
		      struct core_error *err)
{
	struct key k;
	key_principal(&k, id);
	struct core_buf b = CORE_BUF_INIT;
	rec_encode(p, &b);
	int r = store_txn_put(t, k.b, k.len, b.p, b.len, err);
	core_buf_fini_wipe(&b);
	return r;
}

/* Apply the difference between the keys of old (may be NULL) and new (may be NULL). */
static int reindex(struct store_txn *t, const struct dir_principal *old,
		   const struct dir_principal *new, uint64_t id, struct core_arena *a,
		   struct core_error *err)
{
	struct owned o = {0}, n = {0};
	if (old != NULL)
		owned_collect(old, a, &o);
	if (new != NULL)
		owned_collect(new, a, &n);
	int r = 0;
	for (size_t i = 0; i < o.names.n && r >= 0; i++)
		if (!dir_strv_has(&n.names, o.names.v[i]) || n.name_kind != o.name_kind)
			r = release(t, o.name_kind, o.names.v[i], err);
	for (size_t i = 0; i < o.addrs.n && r >= 0; i++)
		if (!dir_strv_has(&n.addrs, o.addrs.v[i]))
			r = release(t, 'a', o.addrs.v[i], err);
	for (size_t i = 0; i < o.members.n && r >= 0; i++)
		if (!dir_strv_has(&n.members, o.members.v[i]))
			r = member_edge(t, o.members.v[i], id, false, err);
	for (size_t i = 0; i < n.names.n && r >= 0; i++)
		if (!dir_strv_has(&o.names, n.names.v[i]) || n.name_kind != o.name_kind)
			r = claim(t, n.name_kind, n.names.v[i], id, err);
	for (size_t i = 0; i < n.addrs.n && r >= 0; i++)
		if (!dir_strv_has(&o.addrs, n.addrs.v[i]))
			r = claim(t, 'a', n.addrs.v[i], id, err);
	for (size_t i = 0; i < n.members.n && r >= 0; i++)
		if (!dir_strv_has(&o.members, n.members.v[i]))
			r = member_edge(t, n.members.v[i], id, true, err);
	return r < 0 ? r : 0;
}

static int in_create(void *h, const struct dir_principal *in_p, struct core_arena *a,
		     const char **id_out, struct core_error *err)
{
	struct internal *in = h;
	struct store_txn *t;
	int r = store_txn_begin(in->data, STORE_TXN_WRITE, &t, err);
	if (r < 0)
		return r;
	struct dir_principal *p;
	uint64_t id = 0;
	if ((r = normalize(t, in_p, a, &p, err)) < 0 ||
	    (r = store_txn_id_next(t, 0, DIR_COLL_PRINCIPAL, &id, err)) < 0 ||
	    (r = reindex(t, NULL, p, id, a, err)) < 0 || (r = put_record(t, p, id, err)) < 0) {
		store_txn_abort(&t);
		return r;
	}
	if ((r = store_txn_commit(&t, err)) < 0)
		return r;
	*id_out = core_arena_printf(a, "%llu", (unsigned long long)id);
	return 0;
}

/* Addresses still using a domain (so it cannot go away). */
struct dom_use {
	const struct dir_principal *dom;
	bool used;
};

static int dom_use_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dom_use *u = arg;
	(void)val;
	(void)vlen;
	const char *at = memchr(key, '@', klen);
	const char *k = key;
	while (at != NULL) {
		const char *nx = memchr(at + 1, '@', klen - (size_t)(at + 1 - k));
		if (nx == NULL)
			break;
		at = nx;
	}
	if (at == NULL)
		return 0;
	size_t dl = klen - (size_t)(at + 1 - k);
	if (dl == strlen(u->dom->name) && memcmp(at + 1, u->dom->name, dl) == 0) {
		u->used = true;
		return 1;
	}
	return 0;
}

static int with_principal(struct internal *in, struct core_str id_s, struct store_txn **t,
			  struct core_arena *a, uint64_t *id, struct dir_principal **old,
			  struct core_error *err)
{
	if (parse_id(id_s, id) < 0)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	int r = store_txn_begin(in->data, STORE_TXN_WRITE, t, err);
	if (r < 0)
		return r;
	struct key k;
	key_principal(&k, *id);
	/* Lock the record so concurrent updates of one principal serialise. */
	struct core_buf cur = CORE_BUF_INIT;
	r = store_txn_get(*t, k.b, k.len, &cur, err);
	if (r == 0)
		r = store_txn_assert(*t, k.b, k.len, cur.p, cur.len, err);
	if (r == 0)
		r = rec_decode((const uint8_t *)cur.p, cur.len, *id, a, old, err);
	else if (r == CORE_ENOTFOUND)
		core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	core_buf_fini_wipe(&cur);
	if (r < 0)
		store_txn_abort(t);
	return r;
}

struct id_scan {
	struct core_arena *a;
	uint64_t *ids;
	size_t n, cap;
};

static int id_scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct id_scan *s = arg;
	(void)val;
	(void)vlen;
	if (klen < 8 || s->n >= DIR_EXPAND_MAX)
		return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		uint64_t *v = core_arena_alloc(s->a, cap * sizeof(*v));
		if (s->n)
			memcpy(v, s->ids, s->n * sizeof(*v));
		s->ids = v;
		s->cap = cap;
	}
	s->ids[s->n++] = be64_get((const uint8_t *)key + klen - 8);
	return 0;
}

/*
 * A renamed principal stays a member of the groups and lists that named it: their member
 * lists follow the new name in the same transaction.
 */
static int rename_members(struct store_txn *t, struct core_arena *a, uint64_t id, const char *from,
			  const char *to, struct core_error *err)
{
	struct key k;
	if (!key_str(&k, 'm', from) || k.len + 1 > STORE_KEY_MAX)
		return 0;
	k.b[k.len++] = 0;
	uint8_t hi[STORE_KEY_MAX];
	struct store_range rg;
	store_range_prefix(&rg, k.b, k.len, hi);
	struct id_scan s = {.a = a};
	int r = store_txn_scan(t, &rg, id_scan_fn, &s, err);
	for (size_t i = 0; i < s.n && r >= 0; i++) {
		if (s.ids[i] == id)
			continue;
		struct dir_principal *g_old, *g_new = dir_principal_alloc(a);
		if ((r = txn_load(t, s.ids[i], a, &g_old, err)) < 0)
			break;
		*g_new = *g_old;
		const char **m = core_arena_alloc(a, (g_old->n_members + 1) * sizeof(*m));
		for (size_t j = 0; j < g_old->n_members; j++)
			m[j] = strcmp(g_old->members[j], from) == 0 ? to : g_old->members[j];
		g_new->members = m;
		if ((r = reindex(t, g_old, g_new, s.ids[i], a, err)) < 0)
			break;
		r = put_record(t, g_new, s.ids[i], err);
	}
	return r < 0 ? r : 0;
}

static int in_update(void *h, const struct dir_principal *in_p, struct core_error *err)
{
	struct internal *in = h;
	struct core_arena *a = core_arena_new_clean(0);
	struct store_txn *t;
	uint64_t id;
	struct dir_principal *old, *p;
	int r = with_principal(in, core_str_from_cstr(in_p->id ? in_p->id : ""), &t, a, &id, &old,
			       err);
	if (r < 0)
		goto out;
	if (in_p->type != old->type) {
		r = core_error_set(err, CORE_ESYNTAX, NULL, "the type of a principal is fixed");
		store_txn_abort(&t);
		goto out;
	}
	if ((r = normalize(t, in_p, a, &p, err)) < 0) {
		store_txn_abort(&t);
		goto out;
	}
	/* Secrets change only through set_password and the app password calls. */
	p->secret = old->secret;
	p->scram_sha256 = old->scram_sha256;
	p->scram_sha1 = old->scram_sha1;
	p->app_passwords = old->app_passwords;
	p->n_app_passwords = old->n_app_passwords;
	if ((r = reindex(t, old, p, id, a, err)) < 0 || (r = put_record(t, p, id, err)) < 0 ||
	    (p->type != DIR_DOMAIN && strcmp(old->name, p->name) != 0 &&
	     (r = rename_members(t, a, id, old->name, p->name, err)) < 0)) {
		store_txn_abort(&t);
		goto out;
	}
	r = store_txn_commit(&t, err);
out:
	core_arena_free(&a);
	return r;
}

static int in_remove(void *h, struct core_str id_s, struct core_error *err)
{
	struct internal *in = h;
	struct core_arena *a = core_arena_new_clean(0);
	struct store_txn *t;
	uint64_t id;
	struct dir_principal *old;
	int r = with_principal(in, id_s, &t, a, &id, &old, err);
	if (r < 0)
		goto out;
	if (old->type == DIR_DOMAIN) {
		struct dom_use u = {.dom = old};
		uint8_t hi[STORE_KEY_MAX];
		struct store_range rg;
		store_range_prefix(&rg, DIR_KEY_PREFIX "a/", 6, hi);
		r = store_txn_scan(t, &rg, dom_use_fn, &u, err);
		if (r >= 0 && u.used)
			r = core_error_set(err, CORE_ECONFLICT, NULL,
					   "domain %s still has addresses", old->name);
		if (r < 0) {
			store_txn_abort(&t);
			goto out;
		}
	}
	struct key k;
	key_principal(&k, id);
	if ((r = reindex(t, old, NULL, id, a, err)) < 0 ||
	    (r = store_txn_delete(t, k.b, k.len, err)) < 0) {
		store_txn_abort(&t);
		goto out;
	}
	r = store_txn_commit(&t, err);
out:
	core_arena_free(&a);
	return r;
}

/* Read-modify-write of one principal's secrets. */
static int secrets_update(struct internal *in, struct core_str id_s,
			  int (*fn)(struct dir_principal *p, struct core_arena *a, const void *arg,
				    struct core_error *err),
			  const void *arg, struct core_error *err)
{
	struct core_arena *a = core_arena_new_clean(0);
	struct store_txn *t;
	uint64_t id;
	struct dir_principal *p;
	int r = with_principal(in, id_s, &t, a, &id, &p, err);
	if (r < 0)
		goto out;
	if (p->type != DIR_INDIVIDUAL) {
		r = core_error_set(err, CORE_ESYNTAX, NULL, "only individuals have passwords");
		store_txn_abort(&t);
		goto out;
	}
	if ((r = fn(p, a, arg, err)) < 0 || (r = put_record(t, p, id, err)) < 0) {
		store_txn_abort(&t);
		goto out;
	}
	r = store_txn_commit(&t, err);
out:
	core_arena_free(&a);
	return r;
}

static int set_pw_fn(struct dir_principal *p, struct core_arena *a, const void *arg,
		     struct core_error *err)
{
	const struct dir_pw_set *s = arg;
	(void)err;
	p->secret = core_arena_strdup(a, core_buf_cstr((struct core_buf *)&s->hash));
	p->scram_sha256 = core_arena_strdup(a, core_buf_cstr((struct core_buf *)&s->scram_sha256));
	p->scram_sha1 = core_arena_strdup(a, core_buf_cstr((struct core_buf *)&s->scram_sha1));
	return 0;
}

static int in_set_password(void *h, struct core_str id, const struct dir_pw_set *pw,
			   struct core_error *err)
{
	return secrets_update(h, id, set_pw_fn, pw, err);
}

struct app_arg {
	const char *label, *hash;
};

static int app_add_fn(struct dir_principal *p, struct core_arena *a, const void *arg,
		      struct core_error *err)
{
	const struct app_arg *x = arg;
	for (size_t i = 0; i < p->n_app_passwords; i++)
		if (strcmp(p->app_passwords[i].label, x->label) == 0)
			return core_error_set(err, CORE_ECONFLICT, NULL, "app password '%s' exists",
					      x->label);
	if (p->n_app_passwords >= DIR_MAX_VALUES)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many app passwords");
	struct dir_app_password *v = core_arena_alloc(a, (p->n_app_passwords + 1) * sizeof(*v));
	if (p->n_app_passwords)
		memcpy(v, p->app_passwords, p->n_app_passwords * sizeof(*v));
	v[p->n_app_passwords].label = core_arena_strdup(a, x->label);
	v[p->n_app_passwords].hash = core_arena_strdup(a, x->hash);
	p->app_passwords = v;
	p->n_app_passwords++;
	return 0;
}

static int app_remove_fn(struct dir_principal *p, struct core_arena *a, const void *arg,
			 struct core_error *err)
{
	const struct app_arg *x = arg;
	(void)a;
	for (size_t i = 0; i < p->n_app_passwords; i++)
		if (strcmp(p->app_passwords[i].label, x->label) == 0) {
			memmove(&p->app_passwords[i], &p->app_passwords[i + 1],
				(p->n_app_passwords - i - 1) * sizeof(p->app_passwords[0]));
			p->n_app_passwords--;
			return 0;
		}
	return core_error_set(err, CORE_ENOTFOUND, NULL, "no app password '%s'", x->label);
}

static int in_app_add(void *h, struct core_str id, const char *label, const char *hash,
		      struct core_error *err)
{
	struct app_arg x = {label, hash};
	return secrets_update(h, id, app_add_fn, &x, err);
}

static int in_app_remove(void *h, struct core_str id, const char *label, struct core_error *err)
{
	struct app_arg x = {label, NULL};
	return secrets_update(h, id, app_remove_fn, &x, err);
}

static int in_open(const struct core_conf *c, struct store_data *data, void **h_out,
		   struct core_error *err)
{
	(void)c;
	if (data == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL,
				      "the internal directory needs a data store");
	struct internal *in = core_xcalloc(1, sizeof(*in));
	in->data = data;
	*h_out = in;
	return 0;
}

static void in_close(void *h)
{
	free(h);
}

const struct dir_backend_ops dir_internal_ops = {
	.open = in_open,
	.close = in_close,
	.caps = SASL_BACKEND_SCRAM_SHA1 | SASL_BACKEND_SCRAM_SHA256,
	.by_id = in_by_id,
	.by_name = in_by_name,
	.by_address = in_by_address,
	.domain = in_domain,
	.member_of = in_member_of,
	.list = in_list,
	.create = in_create,
	.update = in_update,
	.remove = in_remove,
	.set_password = in_set_password,
	.app_password_add = in_app_add,
	.app_password_remove = in_app_remove,
};
