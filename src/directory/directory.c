/*
 * directory.c: the backend registry and every query that is the same whatever the backend:
 * address normalization, recipient resolution (alias, subaddress, list expansion, catch-all),
 * nested membership, authentication and the SASL callbacks, account ids, management
 * dispatch.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "directory/dir_int.h"
#include "store/store.h"

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

void dir_strv_push(struct core_arena *a, struct dir_strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 8;
		const char **v = core_arena_alloc(a, cap * sizeof(*v));
		if (sv->n)
			memcpy(v, sv->v, sv->n * sizeof(*v));
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
}

bool dir_strv_has(const struct dir_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

char *dir_lower_dup(struct core_arena *a, struct core_str s)
{
	char *p = core_arena_alloc(a, s.len + 1);
	for (size_t i = 0; i < s.len; i++)
		p[i] = core_ascii_lower(s.p[i]);
	p[s.len] = '\0';
	return p;
}

struct dir_principal *dir_principal_alloc(struct core_arena *a)
{
	return core_arena_zalloc(a, sizeof(struct dir_principal));
}

const char *dir_conf_str(const struct core_conf *c, const char *key, const char *fallback)
{
	return c != NULL ? core_conf_get_str(c, key, fallback) : fallback;
}

int64_t dir_conf_int(const struct core_conf *c, const char *key, int64_t fallback)
{
	return c != NULL ? core_conf_get_int(c, key, fallback) : fallback;
}

bool dir_conf_bool(const struct core_conf *c, const char *key, bool fallback)
{
	return c != NULL ? core_conf_get_bool(c, key, fallback) : fallback;
}

const char *dir_type_str(enum dir_type t)
{
	switch (t) {
	case DIR_INDIVIDUAL:
		return "individual";
	case DIR_GROUP:
		return "group";
	case DIR_LIST:
		return "list";
	case DIR_DOMAIN:
		return "domain";
	}
	return "?";
}

int dir_type_parse(const char *s)
{
	for (int t = DIR_INDIVIDUAL; t <= DIR_DOMAIN; t++)
		if (s != NULL && strcmp(s, dir_type_str((enum dir_type)t)) == 0)
			return t;
	return CORE_ESYNTAX;
}

/* ------------------------------------------------------------------------------------ */
/* Registry                                                                             */
/* ------------------------------------------------------------------------------------ */

#define DIR_BACKENDS_MAX 16

static struct {
	const char *name;
	const struct dir_backend_ops *ops;
} backends[DIR_BACKENDS_MAX];
static size_t n_backends;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static int register_locked(const char *name, const struct dir_backend_ops *ops)
{
	for (size_t i = 0; i < n_backends; i++)
		if (strcmp(backends[i].name, name) == 0)
			return CORE_ECONFLICT;
	if (n_backends == DIR_BACKENDS_MAX)
		return CORE_ELIMIT;
	backends[n_backends].name = name;
	backends[n_backends].ops = ops;
	n_backends++;
	return 0;
}

static void register_builtin(void)
{
	pthread_mutex_lock(&reg_lock);
	register_locked("internal", &dir_internal_ops);
	register_locked("sql", &dir_sql_ops);
	register_locked("ldap", &dir_ldap_ops);
	pthread_mutex_unlock(&reg_lock);
}

int dir_backend_register(const char *name, const struct dir_backend_ops *ops)
{
	pthread_once(&builtin_once, register_builtin);
	pthread_mutex_lock(&reg_lock);
	int r = register_locked(name, ops);
	pthread_mutex_unlock(&reg_lock);
	return r;
}

const struct dir_backend_ops *dir_backend_find(const char *name)
{
	pthread_once(&builtin_once, register_builtin);
	const struct dir_backend_ops *ops = NULL;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_backends && name != NULL; i++)
		if (strcmp(backends[i].name, name) == 0)
			ops = backends[i].ops;
	pthread_mutex_unlock(&reg_lock);
	return ops;
}

/* ------------------------------------------------------------------------------------ */
/* Open and close                                                                       */
/* ------------------------------------------------------------------------------------ */

static void settings_from_conf(const struct core_conf *c, struct dir_settings *s)
{
	*s = DIR_SETTINGS_DEFAULT;
	if (c == NULL)
		return;
	const char *sep = core_conf_get_str(c, "directory.subaddress-separator", "+");
	snprintf(s->subaddress_sep, sizeof(s->subaddress_sep), "%s", sep);
	s->catch_all = core_conf_get_bool(c, "directory.catch-all", true);
	s->policy.argon2_t_cost = (uint32_t)core_conf_get_int(c, "directory.password.argon2-t",
							      s->policy.argon2_t_cost);
	s->policy.argon2_m_kib =
		(uint32_t)(core_conf_get_size(c, "directory.password.argon2-m",
					      (uint64_t)s->policy.argon2_m_kib * 1024u) /
			   1024u);
	s->policy.argon2_lanes = (uint32_t)core_conf_get_int(c, "directory.password.argon2-p",
							     s->policy.argon2_lanes);
	s->policy.scram_iterations = (uint32_t)core_conf_get_int(
		c, "directory.password.scram-iterations", s->policy.scram_iterations);
}

int dir_open(const char *type, const struct core_conf *c, struct store_data *data, struct dir **out,
	     struct core_error *err)
{
	const struct dir_backend_ops *ops = dir_backend_find(type);
	if (ops == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "directory.type: no backend '%s'",
				      type != NULL ? type : "");
	struct dir *d = core_xcalloc(1, sizeof(*d));
	d->type = type;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_backends; i++)
		if (backends[i].ops == ops)
			d->type = backends[i].name;
	pthread_mutex_unlock(&reg_lock);
	d->ops = ops;
	d->data = data;
	settings_from_conf(c, &d->s);
	int r = ops->open(c, data, &d->h, err);
	if (r < 0) {
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

int dir_open_conf(const struct core_conf *c, struct store_data *data, struct dir **out,
		  struct core_error *err)
{
	return dir_open(dir_conf_str(c, "directory.type", "internal"), c, data, out, err);
}

void dir_free(struct dir **d)
{
	if (d == NULL || *d == NULL)
		return;
	if ((*d)->ops->close != NULL)
		(*d)->ops->close((*d)->h);
	free(*d);
	*d = NULL;
}

void dir_settings_set(struct dir *d, const struct dir_settings *s)
{
	d->s = *s;
}

const struct dir_settings *dir_settings_get(const struct dir *d)
{
	return &d->s;
}

const char *dir_type_name(const struct dir *d)
{
	return d->type;
}

/* ------------------------------------------------------------------------------------ */
/* Lookups                                                                              */
/* ------------------------------------------------------------------------------------ */

const char *dir_address_normalize(struct core_arena *a, struct core_str addr,
				  struct core_error *err)
{
	addr = core_str_trim(addr);
	/* RFC 5321 §4.1.2: a path may come in angle brackets. */
	if (addr.len >= 2 && addr.p[0] == '<' && addr.p[addr.len - 1] == '>')
		addr = core_str_make(addr.p + 1, addr.len - 2);
	if (addr.len == 0 || addr.len > DIR_NAME_MAX) {
		core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.5.3.1.3", "bad address length");
		return NULL;
	}
	/* The domain starts after the last '@' (a quoted local part may hold '@'). */
	size_t at = addr.len;
	for (size_t i = addr.len; i-- > 0;)
		if (addr.p[i] == '@') {
			at = i;
			break;
		}
	if (at == addr.len || at == 0 || at + 1 == addr.len) {
		core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2", "address needs local@domain");
		return NULL;
	}
	for (size_t i = 0; i < addr.len; i++)
		if ((unsigned char)addr.p[i] <= 0x20 || addr.p[i] == 0x7f) {
			core_error_set(err, CORE_ESYNTAX, "RFC 5321 §4.1.2",
				       "control or space in address");
			return NULL;
		}
	char *p = dir_lower_dup(a, addr);
	/* A trailing dot of a fully qualified domain is dropped. */
	size_t n = strlen(p);
	if (n > at + 2 && p[n - 1] == '.')
		p[n - 1] = '\0';
	return p;
}

int dir_principal_by_id(struct dir *d, struct core_str id, struct core_arena *a,
			struct dir_principal **out, struct core_error *err)
{
	if (id.len == 0 || id.len > DIR_NAME_MAX)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	return d->ops->by_id(d->h, id, a, out, err);
}

int dir_principal_by_name(struct dir *d, struct core_str name, struct core_arena *a,
			  struct dir_principal **out, struct core_error *err)
{
	if (name.len == 0 || name.len > DIR_NAME_MAX)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such principal");
	return d->ops->by_name(d->h, core_str_from_cstr(dir_lower_dup(a, name)), a, out, err);
}

int dir_principal_by_address(struct dir *d, struct core_str addr, struct core_arena *a,
			     struct dir_principal **out, struct core_error *err)
{
	const char *n = dir_address_normalize(a, addr, err);
	if (n == NULL)
		return CORE_ESYNTAX;
	/* An address in a domain alias is the same address in the canonical domain. */
	const char *at = strrchr(n, '@');
	struct dir_principal *dom;
	int r = d->ops->domain(d->h, core_str_from_cstr(at + 1), a, &dom, err);
	if (r == 0 && strcmp(dom->name, at + 1) != 0)
		n = core_arena_printf(a, "%.*s@%s", (int)(at - n), n, dom->name);
	else if (r < 0 && r != CORE_ENOTFOUND)
		return r;
	core_error_clear(err);
	return d->ops->by_address(d->h, core_str_from_cstr(n), a, out, err);
}

static int domain_lookup(struct dir *d, struct core_str domain, struct core_arena *a,
			 struct dir_principal **out, struct core_error *err)
{
	domain = core_str_trim(domain);
	if (domain.len > 0 && domain.p[domain.len - 1] == '.')
		domain.len--;
	if (domain.len == 0 || domain.len > DIR_NAME_MAX)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such domain");
	/* RFC 5321 §2.4: domain names are case-insensitive. */
	return d->ops->domain(d->h, core_str_from_cstr(dir_lower_dup(a, domain)), a, out, err);
}

int dir_domain_get(struct dir *d, struct core_str domain, struct core_arena *a,
		   struct dir_principal **out, struct core_error *err)
{
	int r = domain_lookup(d, domain, a, out, err);
	if (r == CORE_ENOTFOUND)
		core_error_set(err, CORE_ENOTFOUND, NULL, "no domain %.*s", CORE_STR_FMT(domain));
	return r;
}

int dir_is_local_domain(struct dir *d, struct core_str domain, struct core_error *err)
{
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	int r = domain_lookup(d, domain, a, &p, err);
	core_arena_free(&a);
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		return 0;
	}
	return r < 0 ? r : 1;
}

int dir_member_of(struct dir *d, const struct dir_principal *p, struct core_arena *a,
		  const char ***names_out, size_t *n_out, struct core_error *err)
{
	struct dir_strv found = {0};
	*names_out = NULL;
	*n_out = 0;
	if (d->ops->member_of == NULL)
		return 0;
	/* Breadth-first over the "is a member of" edges; a name seen once is never walked
	 * again, so a cycle (A in B, B in A) ends the walk. */
	const struct dir_principal *cur = p;
	size_t next = 0;
	for (;;) {
		const char **names;
		size_t n;
		int r = d->ops->member_of(d->h, cur, a, &names, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			if (dir_strv_has(&found, names[i]) || strcmp(names[i], p->name) == 0)
				continue;
			if (found.n >= DIR_EXPAND_MAX)
				return core_error_set(err, CORE_ELIMIT, NULL, "too many groups");
			dir_strv_push(a, &found, names[i]);
		}
		struct dir_principal *g = NULL;
		while (next < found.n) {
			r = d->ops->by_name(d->h, core_str_from_cstr(found.v[next++]), a, &g, err);
			if (r == CORE_ENOTFOUND) {
				core_error_clear(err);
				g = NULL;
				continue;
			}
			if (r < 0)
				return r;
			break;
		}
		if (g == NULL)
			break;
		cur = g;
	}
	*names_out = found.v;
	*n_out = found.n;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Recipient resolution                                                                 */
/* ------------------------------------------------------------------------------------ */

struct expand {
	struct dir *d;
	struct core_arena *a;
	struct dir_strv seen; /* ids of groups and lists already expanded */
	struct dir_target *t;
	size_t n, cap;
	const char *subaddress;
};

static int target_add(struct expand *x, const struct dir_principal *p, const char *remote,
		      struct core_error *err)
{
	for (size_t i = 0; i < x->n; i++) {
		if (p != NULL && x->t[i].principal != NULL &&
		    strcmp(x->t[i].principal->id, p->id) == 0)
			return 0;
		if (p == NULL && x->t[i].principal == NULL && strcmp(x->t[i].address, remote) == 0)
			return 0;
	}
	if (x->n >= DIR_EXPAND_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "expansion exceeds %u recipients",
				      DIR_EXPAND_MAX);
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4;
		struct dir_target *v = core_arena_alloc(x->a, cap * sizeof(*v));
		if (x->n)
			memcpy(v, x->t, x->n * sizeof(*v));
		x->t = v;
		x->cap = cap;
	}
	x->t[x->n].principal = p;
	x->t[x->n].address = p != NULL ? p->address : remote;
	x->t[x->n].subaddress = x->subaddress;
	x->n++;
	return 0;
}

static int expand_principal(struct expand *x, const struct dir_principal *p, unsigned depth,
			    struct core_error *err);

/* A member of a list or group: a local name, a local address or a remote address. */
static int expand_member(struct expand *x, const char *m, unsigned depth, struct core_error *err)
{
	struct dir_principal *p = NULL;
	int r;
	if (strchr(m, '@') == NULL) {
		const char *lm = dir_lower_dup(x->a, core_str_from_cstr(m));
		r = x->d->ops->by_name(x->d->h, core_str_from_cstr(lm), x->a, &p, err);
	} else {
		const char *n = dir_address_normalize(x->a, core_str_from_cstr(m), err);
		if (n == NULL) {
			core_error_clear(err);
			return 0; /* a malformed member is skipped, not fatal */
		}
		const char *dom = strrchr(n, '@') + 1;
		struct dir_principal *dp;
		r = x->d->ops->domain(x->d->h, core_str_from_cstr(dom), x->a, &dp, err);
		if (r == CORE_ENOTFOUND) {
			core_error_clear(err);
			return target_add(x, NULL, n, err);
		}
		if (r < 0)
			return r;
		if (strcmp(dp->name, dom) != 0)
			n = core_arena_printf(x->a, "%.*s@%s", (int)(dom - 1 - n), n, dp->name);
		r = x->d->ops->by_address(x->d->h, core_str_from_cstr(n), x->a, &p, err);
	}
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return expand_principal(x, p, depth + 1, err);
}

static int expand_principal(struct expand *x, const struct dir_principal *p, unsigned depth,
			    struct core_error *err)
{
	if (depth > DIR_NEST_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "groups nested deeper than %u",
				      DIR_NEST_MAX);
	switch (p->type) {
	case DIR_INDIVIDUAL:
		if (p->disabled)
			return 0;
		return target_add(x, p, NULL, err);
	case DIR_GROUP:
	case DIR_LIST:
		if (dir_strv_has(&x->seen, p->id))
			return 0; /* a cycle or a diamond: each group once */
		dir_strv_push(x->a, &x->seen, p->id);
		for (size_t i = 0; i < p->n_members; i++) {
			int r = expand_member(x, p->members[i], depth, err);
			if (r < 0)
				return r;
		}
		return 0;
	case DIR_DOMAIN:
		return 0;
	}
	return 0;
}

/* Look up local@domain exactly. */
static int lookup_local(struct dir *d, struct core_arena *a, const char *local, size_t llen,
			const char *domain, struct dir_principal **out, struct core_error *err)
{
	const char *addr = core_arena_printf(a, "%.*s@%s", (int)llen, local, domain);
	return d->ops->by_address(d->h, core_str_from_cstr(addr), a, out, err);
}

int dir_resolve(struct dir *d, struct core_str addr, struct core_arena *a, struct dir_rcpt *out,
		struct core_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *n = dir_address_normalize(a, addr, err);
	if (n == NULL)
		return CORE_ESYNTAX;
	const char *at = strrchr(n, '@');
	const char *local = n;
	size_t llen = (size_t)(at - n);
	struct dir_principal *dom;
	int r = d->ops->domain(d->h, core_str_from_cstr(at + 1), a, &dom, err);
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		out->status = DIR_RCPT_REMOTE;
		return 0;
	}
	if (r < 0)
		return r;
	/* A domain alias resolves in its canonical domain (dom->name). */
	struct dir_principal *p = NULL;
	const char *matched = "address";
	const char *sub = NULL;
	r = lookup_local(d, a, local, llen, dom->name, &p, err);
	if (r == CORE_ENOTFOUND && d->s.subaddress_sep[0] != '\0') {
		/* RFC 5233 §1: user+detail; the first separator splits (a separator at the
		 * start is part of the name). */
		size_t cut = strcspn(local, d->s.subaddress_sep);
		if (cut > 0 && cut < llen) {
			core_error_clear(err);
			r = lookup_local(d, a, local, cut, dom->name, &p, err);
			if (r == 0) {
				matched = "subaddress";
				sub = core_arena_strndup(a, local + cut + 1, llen - cut - 1);
			}
		}
	}
	if (r == CORE_ENOTFOUND && d->s.catch_all && dom->catch_all != NULL &&
	    dom->catch_all[0] != '\0') {
		core_error_clear(err);
		const char *ca = dir_address_normalize(a, core_str_from_cstr(dom->catch_all), err);
		if (ca == NULL)
			return CORE_EIO;
		matched = "catch-all";
		struct dir_principal *cdom;
		r = d->ops->domain(d->h, core_str_from_cstr(strrchr(ca, '@') + 1), a, &cdom, err);
		if (r == CORE_ENOTFOUND) {
			/* A catch-all in a remote domain forwards there. */
			core_error_clear(err);
			struct expand x = {.d = d, .a = a};
			if ((r = target_add(&x, NULL, ca, err)) < 0)
				return r;
			out->status = DIR_RCPT_LOCAL;
			out->targets = x.t;
			out->n_targets = x.n;
			out->matched = matched;
			return 0;
		}
		if (r < 0)
			return r;
		/* A local catch-all (possibly in a domain alias) must exist; an unknown one
		 * leaves the recipient unknown rather than relaying a local address. */
		r = dir_principal_by_address(d, core_str_from_cstr(ca), a, &p, err);
	}
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		out->status = DIR_RCPT_UNKNOWN;
		return 0;
	}
	if (r < 0)
		return r;
	struct expand x = {.d = d, .a = a, .subaddress = sub};
	r = expand_principal(&x, p, 0, err);
	if (r < 0)
		return r;
	out->status = x.n > 0 ? DIR_RCPT_LOCAL : DIR_RCPT_UNKNOWN;
	out->targets = x.t;
	out->n_targets = x.n;
	out->matched = matched;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Authentication                                                                       */
/* ------------------------------------------------------------------------------------ */

/* The individual a login name names: its name, else one of its addresses. */
static int login_lookup(struct dir *d, struct core_str name, struct core_arena *a,
			struct dir_principal **out, struct core_error *err)
{
	if (name.len == 0 || name.len > DIR_NAME_MAX)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no such user");
	int r = d->ops->by_name(d->h, core_str_from_cstr(dir_lower_dup(a, name)), a, out, err);
	if (r == CORE_ENOTFOUND && core_str_find_char(name, '@') >= 0) {
		core_error_clear(err);
		r = dir_principal_by_address(d, name, a, out, err);
		if (r == CORE_ESYNTAX)
			r = CORE_ENOTFOUND;
	}
	if (r == 0 && (*out)->type != DIR_INDIVIDUAL)
		r = CORE_ENOTFOUND; /* groups, lists and domains never log in */
	return r;
}

static int password_matches(struct dir *d, const struct dir_principal *p, struct core_str pw,
			    struct core_error *err)
{
	int r = 0;
	if (d->ops->bind_verify != NULL) {
		r = d->ops->bind_verify(d->h, p, pw, err);
		if (r != 0)
			return r;
	} else if (p->secret != NULL) {
		r = dir_password_verify(p->secret, strlen(p->secret), pw.p, pw.len, err);
		if (r == 1)
			return 1;
		if (r < 0)
			core_error_clear(err); /* a malformed hash counts as a mismatch */
	} else {
		dir_password_dummy_verify(&d->s.policy, NULL, pw.p, pw.len);
	}
	for (size_t i = 0; i < p->n_app_passwords; i++) {
		const char *h = p->app_passwords[i].hash;
		if (h != NULL && dir_password_verify(h, strlen(h), pw.p, pw.len, err) == 1)
			return 1;
		core_error_clear(err);
	}
	return 0;
}

int dir_authenticate(struct dir *d, const struct dir_auth_ctx *ctx, struct core_str name,
		     struct core_str password, struct core_arena *a, struct dir_principal **out,
		     struct core_error *err)
{
	struct dir_bruteforce *bf = ctx != NULL ? ctx->bf : NULL;
	const char *ip = ctx != NULL ? ctx->remote_ip : NULL;
	const char *account = dir_lower_dup(a, name);
	*out = NULL;
	if (bf != NULL) {
		int r = dir_bruteforce_check(bf, ip, account, err);
		if (r < 0)
			return r;
	}
	struct dir_principal *p = NULL;
	int r = login_lookup(d, name, a, &p, err);
	if (r == CORE_ENOTFOUND) {
		/* An unknown user costs what a known user costs. */
		core_error_clear(err);
		if (d->ops->dummy_verify == NULL || !d->ops->dummy_verify(d->h, password))
			dir_password_dummy_verify(&d->s.policy, NULL, password.p, password.len);
	} else if (r < 0) {
		return r;
	} else {
		r = password_matches(d, p, password, err);
		if (r < 0)
			return r;
	}
	if (r != 1) {
		if (bf != NULL)
			dir_bruteforce_failure(bf, ip, account, NULL);
		core_error_set(err, CORE_OK, NULL, "invalid credentials");
		return 0;
	}
	if (p->disabled)
		return core_error_set(err, CORE_EPERM, NULL, "account disabled");
	if (bf != NULL)
		dir_bruteforce_success(bf, ip, account);
	*out = p;
	return 1;
}

static void principal_to_sasl(struct core_arena *a, const struct dir_principal *p,
			      struct sasl_principal *out)
{
	out->id = core_arena_strdup(a, p->id);
	out->name = core_arena_strdup(a, p->name);
}

static int glue_verify_plain(void *ctx, struct core_str authcid, struct core_str password,
			     struct core_arena *a, struct sasl_principal *out,
			     struct core_error *err)
{
	struct dir_sasl *s = ctx;
	struct dir_principal *p;
	/* Bans are checked here; failures are counted once per exchange by dir_sasl_report,
	 * whatever the mechanism. */
	int r = dir_bruteforce_check(s->ctx.bf, s->ctx.remote_ip, dir_lower_dup(a, authcid), err);
	if (r < 0)
		return r;
	struct dir_auth_ctx no_count = {.remote_ip = s->ctx.remote_ip};
	r = dir_authenticate(s->d, &no_count, authcid, password, a, &p, err);
	if (r == 1)
		principal_to_sasl(a, p, out);
	return r;
}

void dir_sasl_report(struct dir_sasl *s, const char *authcid, const struct sasl_result *res)
{
	if (s->ctx.bf == NULL || res == NULL)
		return;
	struct core_arena *a = core_arena_new(0);
	const char *acct = authcid != NULL ? dir_lower_dup(a, core_str_from_cstr(authcid)) : NULL;
	if (res->status == SASL_OK)
		dir_bruteforce_success(s->ctx.bf, s->ctx.remote_ip,
				       res->principal.name != NULL ? res->principal.name : acct);
	else if (res->status == SASL_FAIL &&
		 (res->fail == SASL_FAIL_CREDENTIALS || res->fail == SASL_FAIL_AUTHZ))
		dir_bruteforce_failure(s->ctx.bf, s->ctx.remote_ip, acct, NULL);
	core_arena_free(&a);
}

static int glue_scram_lookup(void *ctx, enum dir_scram_hash h, struct core_str authcid,
			     struct core_arena *a, struct dir_scram_secret *secret_out,
			     struct sasl_principal *out, struct core_error *err)
{
	struct dir_sasl *ds = ctx;
	struct dir *d = ds->d;
	struct dir_principal *p;
	/* A banned client or account gets no SCRAM exchange either. */
	int r = dir_bruteforce_check(ds->ctx.bf, ds->ctx.remote_ip, dir_lower_dup(a, authcid), err);
	if (r < 0)
		return r;
	r = login_lookup(d, authcid, a, &p, err);
	if (r < 0)
		return r;
	if (p->disabled)
		return core_error_set(err, CORE_EPERM, NULL, "account disabled");
	const char *s = h == DIR_SCRAM_SHA1 ? p->scram_sha1 : p->scram_sha256;
	if (s != NULL) {
		r = dir_scram_secret_parse(s, strlen(s), secret_out, err);
	} else if (p->secret != NULL && (strncmp(p->secret, "{PLAIN}", 7) == 0 ||
					 strncmp(p->secret, "{CLEARTEXT}", 11) == 0)) {
		/* RFC 5802 §3: secrets derived from a stored cleartext, with a salt that is
		 * stable per name. */
		const char *pw = strchr(p->secret, '}') + 1;
		unsigned char salt[16];
		dir_password_fake_salt(p->name, strlen(p->name), salt, sizeof(salt));
		r = dir_scram_secret_derive(h, pw, strlen(pw), salt, sizeof(salt),
					    DIR_PW_MIN_SCRAM_ITER, secret_out, err);
	} else {
		return core_error_set(err, CORE_ENOTFOUND, NULL, "no SCRAM secret");
	}
	if (r < 0)
		return r;
	principal_to_sasl(a, p, out);
	return 0;
}

static int glue_authorize(void *ctx, const struct sasl_principal *sp, struct core_str authzid,
			  struct core_error *err)
{
	struct dir *d = ((struct dir_sasl *)ctx)->d;
	/* RFC 4422 §3.4.1: acting as oneself is always allowed. */
	if (core_str_eq_cstr(authzid, sp->name))
		return 0;
	struct core_arena *a = core_arena_new(0);
	struct dir_principal *p;
	int r = d->ops->by_id(d->h, core_str_from_cstr(sp->id), a, &p, err);
	bool admin = r == 0 && p->role == DIR_ROLE_ADMIN && !p->disabled;
	core_arena_free(&a);
	if (r < 0 && r != CORE_ENOTFOUND)
		return r;
	if (!admin)
		return core_error_set(err, CORE_EPERM, "RFC 4422 §3.4.1",
				      "not allowed to act as another user");
	return 0;
}

void dir_sasl_init(struct dir_sasl *s, struct dir *d, const struct dir_auth_ctx *ctx)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	if (ctx != NULL)
		s->ctx = *ctx;
	struct sasl_backend *be = &s->be;
	be->ctx = s;
	be->caps = d->ops->sasl_caps != NULL ? d->ops->sasl_caps(d->h) : d->ops->caps;
	be->verify_plain = glue_verify_plain;
	if (d->ops->bind_verify == NULL)
		be->scram_lookup = glue_scram_lookup;
	else
		be->caps &= ~(SASL_BACKEND_SCRAM_SHA1 | SASL_BACKEND_SCRAM_SHA256 |
			      SASL_BACKEND_CLEARTEXT_STORED);
	be->authorize = glue_authorize;
}

/* ------------------------------------------------------------------------------------ */
/* Account ids                                                                          */
/* ------------------------------------------------------------------------------------ */

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

int dir_account_id(struct dir *d, const struct dir_principal *p, uint64_t *id_out,
		   struct core_error *err)
{
	if (d->ops == &dir_internal_ops) {
		uint64_t v;
		if (core_str_to_u64(core_str_from_cstr(p->id), &v) < 0)
			return core_error_set(err, CORE_EINTERNAL, NULL, "bad internal id");
		*id_out = v;
		return 0;
	}
	if (d->data == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "no data store for account ids");
	char key[STORE_KEY_MAX];
	int kl = snprintf(key, sizeof(key), DIR_KEY_PREFIX "x/%s/%s", d->type, p->id);
	if (kl < 0 || (size_t)kl >= sizeof(key))
		return core_error_set(err, CORE_ELIMIT, NULL, "external id too long");
	for (int attempt = 0; attempt < 5; attempt++) {
		struct store_txn *t;
		int r = store_txn_begin(d->data, STORE_TXN_WRITE, &t, err);
		if (r < 0)
			return r;
		struct core_buf v = CORE_BUF_INIT;
		r = store_txn_get(t, key, (size_t)kl, &v, err);
		if (r == 0 && v.len == 8) {
			*id_out = be64_get((const uint8_t *)v.p);
			core_buf_fini(&v);
			store_txn_abort(&t);
			return 0;
		}
		core_buf_fini(&v);
		core_error_clear(err);
		uint64_t id;
		uint8_t enc[8];
		if ((r = store_txn_assert(t, key, (size_t)kl, NULL, 0, err)) < 0 ||
		    (r = store_txn_id_next(t, 0, DIR_COLL_EXTERNAL, &id, err)) < 0) {
			store_txn_abort(&t);
			if (r == CORE_ECONFLICT)
				continue;
			return r;
		}
		be64_put(enc, id);
		if ((r = store_txn_put(t, key, (size_t)kl, enc, 8, err)) < 0) {
			store_txn_abort(&t);
			return r;
		}
		r = store_txn_commit(&t, err);
		if (r == CORE_ECONFLICT)
			continue;
		if (r < 0)
			return r;
		*id_out = id;
		return 0;
	}
	return core_error_set(err, CORE_ETEMP, NULL, "account id allocation kept conflicting");
}

/* ------------------------------------------------------------------------------------ */
/* Management                                                                           */
/* ------------------------------------------------------------------------------------ */

static int read_only(struct dir *d, struct core_error *err)
{
	return core_error_set(err, CORE_EPERM, NULL,
			      "the %s directory is read-only: manage it with its own tools",
			      d->type);
}

uint64_t dir_generation(struct dir *d)
{
	return atomic_load(&d->generation);
}

/* After a change through d (committed or not): whatever was resolved before is suspect. */
static int dir_changed(struct dir *d, int rc)
{
	atomic_fetch_add(&d->generation, 1);
	return rc;
}

int dir_principal_create(struct dir *d, const struct dir_principal *p, struct core_arena *a,
			 const char **id_out, struct core_error *err)
{
	if (d->ops->create == NULL)
		return read_only(d, err);
	return dir_changed(d, d->ops->create(d->h, p, a, id_out, err));
}

int dir_principal_update(struct dir *d, const struct dir_principal *p, struct core_error *err)
{
	if (d->ops->update == NULL)
		return read_only(d, err);
	return dir_changed(d, d->ops->update(d->h, p, err));
}

int dir_principal_remove(struct dir *d, struct core_str id, struct core_error *err)
{
	if (d->ops->remove == NULL)
		return read_only(d, err);
	return dir_changed(d, d->ops->remove(d->h, id, err));
}

int dir_password_change(struct dir *d, struct core_str id, struct core_str password,
			struct core_error *err)
{
	if (d->ops->set_password == NULL)
		return read_only(d, err);
	struct dir_pw_set s = {0};
	int r = dir_password_set(&d->s.policy, password.p, password.len, &s, err);
	if (r == 0)
		r = d->ops->set_password(d->h, id, &s, err);
	dir_pw_set_fini(&s);
	return r;
}

int dir_app_password_add(struct dir *d, struct core_str id, const char *label,
			 struct core_str password, struct core_error *err)
{
	if (d->ops->app_password_add == NULL)
		return read_only(d, err);
	if (label == NULL || label[0] == '\0' || strlen(label) > DIR_NAME_MAX)
		return core_error_set(err, CORE_ESYNTAX, NULL, "app password needs a label");
	struct core_buf h = CORE_BUF_INIT;
	int r = dir_password_hash(&d->s.policy, password.p, password.len, &h, err);
	if (r == 0)
		r = d->ops->app_password_add(d->h, id, label, core_buf_cstr(&h), err);
	core_buf_fini_wipe(&h);
	return r;
}

int dir_app_password_remove(struct dir *d, struct core_str id, const char *label,
			    struct core_error *err)
{
	if (d->ops->app_password_remove == NULL)
		return read_only(d, err);
	return d->ops->app_password_remove(d->h, id, label, err);
}

int dir_principal_list(struct dir *d, enum dir_type type, struct core_arena *a,
		       int (*fn)(void *arg, const struct dir_principal *p), void *arg,
		       struct core_error *err)
{
	if (d->ops->list == NULL)
		return core_error_set(err, CORE_EPERM, NULL, "the %s directory cannot list",
				      d->type);
	return d->ops->list(d->h, type, a, fn, arg, err);
}
