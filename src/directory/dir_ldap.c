/*
 * dir_ldap.c: a read-only directory in an LDAP server (OpenLDAP, Active Directory) through
 * libldap (directory.ldap.*, docs/directory.md "LDAP directory").
 *
 * RFC 4513 (rfc/rfc4513.md): simple binds (§5.1) for the service account and, in bind mode,
 * for the user whose password is checked; an empty password is never sent, because §5.1.2
 * makes that an unauthenticated bind that servers accept without any password. StartTLS
 * (§3) or LDAPS, with the server's certificate and name verified (§3.1.3) unless
 * tls-verify is off. The service account may instead bind with SASL EXTERNAL (§5.2.3,
 * RFC 4422 appendix A; bind-method external): the identity is the TLS client certificate
 * (tls-cert, tls-key) or, over ldapi://, the process's credentials; the initial response is
 * the optional authorization identity (sasl-authzid).
 *
 * Search filters come from the configuration with "%s" standing for the value, which is
 * escaped as RFC 4515 §3 requires (so a login name cannot change the filter). Stable ids
 * come from a configured attribute (entryUUID, or objectGUID on Active Directory, shown as
 * lower-case hex), never from the login name. Group members are DNs; a DN given to by_name
 * reads that entry directly.
 *
 * Connections: a pool of handles bound as the service account (ARCHITECTURE.md §3: one
 * LDAP handle per thread at a time, each external resource with its own cap and timeout);
 * a handle that reports the server down is dropped and replaced on next use. Bind-mode
 * checks use a fresh connection each time, so the pooled handles keep their identity.
 */
#include <ldap.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "directory/dir_int.h"

#define LDAP_POOL_MAX 64

enum ldap_filter {
	F_NAME,
	F_ADDRESS,
	F_GROUP_NAME,
	F_GROUP_ADDRESS,
	F_MEMBER_OF,
	F_COUNT,
};

static const char *const f_keys[F_COUNT] = {
	"directory.ldap.filter.name",       "directory.ldap.filter.address",
	"directory.ldap.filter.group-name", "directory.ldap.filter.group-address",
	"directory.ldap.filter.member-of",
};

enum ldap_attr {
	A_ID,
	A_NAME,
	A_GROUP_NAME,
	A_DESCRIPTION,
	A_ADDRESS,
	A_ALIAS,
	A_PASSWORD,
	A_QUOTA,
	A_MEMBER,
	A_DISABLED,
	A_COUNT,
};

static const char *const a_keys[A_COUNT] = {
	"directory.ldap.attr.id",         "directory.ldap.attr.name",
	"directory.ldap.attr.group-name", "directory.ldap.attr.description",
	"directory.ldap.attr.address",    "directory.ldap.attr.alias",
	"directory.ldap.attr.password",   "directory.ldap.attr.quota",
	"directory.ldap.attr.member",     "directory.ldap.attr.disabled",
};

struct ldap_dir {
	char *url, *ca, *bind_dn, *bind_pw, *base, *admin_group;
	char *cert, *key, *authzid; /* TLS client certificate; EXTERNAL's authzid */
	bool starttls, verify, bind_mode;
	bool external; /* the service account binds with SASL EXTERNAL */
	int timeout_ms;
	char *filter[F_COUNT];
	char *attr[A_COUNT];
	char **domains;
	size_t n_domains;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	LDAP *idle[LDAP_POOL_MAX];
	size_t n_idle, n_open, max_open;
};

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                          */
/* ------------------------------------------------------------------------------------ */

static int ldap_err(int rc, struct core_error *err, const char *what)
{
	int code = (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
		    rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE)
			   ? CORE_ETEMP
			   : CORE_EIO;
	return core_error_set(err, code, NULL, "ldap %s: %s", what, ldap_err2string(rc));
}

/*
 * Connect (with TLS as configured) and simple-bind as dn (NULL: anonymous), or with
 * external, bind with SASL EXTERNAL (dn and pw unused).
 */
static int conn_open_as(struct ldap_dir *l, bool external, const char *dn, const char *pw,
			size_t pwlen, LDAP **out, struct core_error *err)
{
	LDAP *ld = NULL;
	int rc = ldap_initialize(&ld, l->url);
	if (rc != LDAP_SUCCESS)
		return ldap_err(rc, err, "url");
	int v3 = LDAP_VERSION3;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	struct timeval tv = {l->timeout_ms / 1000, (l->timeout_ms % 1000) * 1000};
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	/* RFC 4513 §3.1.3: verify the server's certificate and its name. */
	int req = l->verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
	if (l->ca != NULL)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->ca);
	if (l->cert != NULL && l->key != NULL) {
		ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, l->cert);
		ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, l->key);
	}
	int zero = 0;
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (l->starttls && strncmp(l->url, "ldaps:", 6) != 0) {
		/* RFC 4513 §3: StartTLS before any bind. */
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			ldap_unbind_ext_s(ld, NULL, NULL);
			return ldap_err(rc, err, "starttls");
		}
	}
	if (external) {
		/* RFC 4422 appendix A: one message, the authorization identity (may be empty);
		 * the authentication identity is the connection's (certificate or socket). */
		struct berval az = {.bv_len = l->authzid != NULL ? strlen(l->authzid) : 0,
				    .bv_val = l->authzid != NULL ? l->authzid : (char *)""};
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &az, NULL, NULL, NULL);
	} else {
		/* RFC 4513 §5.1.1: anonymous is a simple bind with an empty name and an empty
		 * password (a NULL credential is a protocol error to libldap). */
		struct berval cred = {.bv_len = dn != NULL ? pwlen : 0,
				      .bv_val = dn != NULL ? (char *)pw : (char *)""};
		rc = ldap_sasl_bind_s(ld, dn != NULL ? dn : "", LDAP_SASL_SIMPLE, &cred, NULL, NULL,
				      NULL);
	}
	if (rc != LDAP_SUCCESS) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		if (rc == LDAP_INVALID_CREDENTIALS && !external)
			return core_error_set(err, CORE_EPERM, "RFC 4513 §5.1.3",
					      "ldap bind: invalid credentials");
		if (external &&
		    (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_AUTH_METHOD_NOT_SUPPORTED ||
		     rc == LDAP_INAPPROPRIATE_AUTH || rc == LDAP_INSUFFICIENT_ACCESS))
			return core_error_set(err, CORE_EPERM, "RFC 4513 §5.2.3",
					      "ldap EXTERNAL bind: the server derived no identity "
					      "(certificate not trusted or not mapped): %s",
					      ldap_err2string(rc));
		return ldap_err(rc, err, "bind");
	}
	*out = ld;
	return 0;
}

static int conn_open(struct ldap_dir *l, const char *dn, const char *pw, size_t pwlen, LDAP **out,
		     struct core_error *err)
{
	return conn_open_as(l, false, dn, pw, pwlen, out, err);
}

static int pool_get(struct ldap_dir *l, LDAP **out, struct core_error *err)
{
	pthread_mutex_lock(&l->lock);
	while (l->n_idle == 0 && l->n_open >= l->max_open)
		pthread_cond_wait(&l->cond, &l->lock);
	if (l->n_idle > 0) {
		*out = l->idle[--l->n_idle];
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	l->n_open++;
	pthread_mutex_unlock(&l->lock);
	int r = conn_open_as(l, l->external, l->bind_dn, l->bind_pw,
			     l->bind_pw ? strlen(l->bind_pw) : 0, out, err);
	if (r == CORE_EPERM)
		r = core_error_set(err, CORE_ETEMP, NULL, "ldap: the service account cannot bind");
	if (r < 0) {
		pthread_mutex_lock(&l->lock);
		l->n_open--;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->lock);
	}
	return r;
}

static void pool_put(struct ldap_dir *l, LDAP *ld, bool bad)
{
	pthread_mutex_lock(&l->lock);
	if (bad || l->n_idle == LDAP_POOL_MAX) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		l->n_open--;
	} else {
		l->idle[l->n_idle++] = ld;
	}
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* ------------------------------------------------------------------------------------ */
/* Filters                                                                              */
/* ------------------------------------------------------------------------------------ */

/* RFC 4515 §3: in an assertion value, '*', '(', ')', '\' and NUL are written \XX. */
static void filter_escape(struct core_buf *b, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0 || c >= 0x80)
			core_buf_printf(b, "\\%02x", c);
		else
			core_buf_putc(b, (char)c);
	}
}

/* The configured filter with every "%s" replaced by the escaped value. */
static char *filter_make(struct core_arena *a, const char *tmpl, const char *v, size_t n)
{
	struct core_buf b = CORE_BUF_INIT;
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			filter_escape(&b, v, n);
			p++;
		} else {
			core_buf_putc(&b, *p);
		}
	}
	char *s = core_arena_strdup(a, core_buf_cstr(&b));
	core_buf_fini(&b);
	return s;
}

/* ------------------------------------------------------------------------------------ */
/* Entries to principals                                                                */
/* ------------------------------------------------------------------------------------ */

static bool printable(const struct berval *v)
{
	for (ber_len_t i = 0; i < v->bv_len; i++)
		if ((unsigned char)v->bv_val[i] < 0x20 || (unsigned char)v->bv_val[i] >= 0x7f)
			return false;
	return true;
}

/* The values of attribute name of an entry, as arena strings. */
static size_t attr_values(LDAP *ld, LDAPMessage *e, const char *name, struct core_arena *a,
			  struct dir_strv *out, bool hex_binary)
{
	memset(out, 0, sizeof(*out));
	if (name == NULL || name[0] == '\0')
		return 0;
	struct berval **vals = ldap_get_values_len(ld, e, name);
	if (vals == NULL)
		return 0;
	for (size_t i = 0; vals[i] != NULL && out->n < DIR_MAX_VALUES; i++) {
		const struct berval *v = vals[i];
		if (hex_binary && !printable(v)) {
			/* objectGUID: 16 raw bytes, shown in hex. */
			struct core_buf b = CORE_BUF_INIT;
			core_hex_encode(&b, v->bv_val, v->bv_len);
			dir_strv_push(a, out, core_arena_strdup(a, core_buf_cstr(&b)));
			core_buf_fini(&b);
		} else if (memchr(v->bv_val, 0, v->bv_len) == NULL) {
			dir_strv_push(a, out, core_arena_strndup(a, v->bv_val, v->bv_len));
		}
	}
	ber_bvecfree(vals);
	return out->n;
}

static const char *attr_first(LDAP *ld, LDAPMessage *e, const char *name, struct core_arena *a)
{
	struct dir_strv v;
	return attr_values(ld, e, name, a, &v, false) > 0 ? v.v[0] : NULL;
}

static bool is_group(LDAP *ld, LDAPMessage *e, struct core_arena *a)
{
	struct dir_strv oc;
	attr_values(ld, e, "objectClass", a, &oc, false);
	for (size_t i = 0; i < oc.n; i++)
		if (core_strcasecmp_ascii(oc.v[i], "groupOfNames") == 0 ||
		    core_strcasecmp_ascii(oc.v[i], "groupOfUniqueNames") == 0 ||
		    core_strcasecmp_ascii(oc.v[i], "group") == 0)
			return true;
	return false;
}

/* partial: a list search that keeps the first sizelimit entries when more match. */
static int search(struct ldap_dir *l, LDAP *ld, const char *base, int scope, const char *filter,
		  int sizelimit, bool partial, LDAPMessage **res, struct core_error *err)
{
	char *attrs[A_COUNT + 3];
	size_t n = 0;
	for (size_t i = 0; i < A_COUNT; i++)
		if (l->attr[i] != NULL && l->attr[i][0] != '\0')
			attrs[n++] = l->attr[i];
	attrs[n++] = "objectClass";
	attrs[n] = NULL;
	struct timeval tv = {l->timeout_ms / 1000, (l->timeout_ms % 1000) * 1000};
	int rc = ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit,
				   res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED && partial)
		return 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		return core_error_set(err, CORE_EIO, NULL, "ldap: more than one entry matches");
	if (rc == LDAP_NO_SUCH_OBJECT)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "not found");
	if (rc != LDAP_SUCCESS)
		return ldap_err(rc, err, "search");
	return 0;
}

static int entry_to_principal(struct ldap_dir *l, LDAP *ld, LDAPMessage *e, struct core_arena *a,
			      struct dir_principal **out, struct core_error *err)
{
	struct dir_principal *p = dir_principal_alloc(a);
	char *dn = ldap_get_dn(ld, e);
	p->ext = dn != NULL ? core_arena_strdup(a, dn) : NULL;
	ldap_memfree(dn);
	struct dir_strv v;
	if (attr_values(ld, e, l->attr[A_ID], a, &v, true) == 0)
		return core_error_set(err, CORE_EIO, NULL, "ldap entry without %s", l->attr[A_ID]);
	p->id = v.v[0];
	bool group = is_group(ld, e, a);
	p->type = group ? DIR_GROUP : DIR_INDIVIDUAL;
	const char *name = attr_first(ld, e, l->attr[group ? A_GROUP_NAME : A_NAME], a);
	if (name == NULL)
		return core_error_set(err, CORE_EIO, NULL, "ldap entry without a name");
	p->name = dir_lower_dup(a, core_str_from_cstr(name));
	p->description = attr_first(ld, e, l->attr[A_DESCRIPTION], a);
	const char *addr = attr_first(ld, e, l->attr[A_ADDRESS], a);
	if (addr != NULL)
		p->address = dir_address_normalize(a, core_str_from_cstr(addr), NULL);
	attr_values(ld, e, l->attr[A_ALIAS], a, &v, false);
	struct dir_strv al = {0};
	for (size_t i = 0; i < v.n; i++) {
		const char *x = dir_address_normalize(a, core_str_from_cstr(v.v[i]), NULL);
		if (x != NULL && (p->address == NULL || strcmp(x, p->address) != 0))
			dir_strv_push(a, &al, x);
	}
	p->aliases = al.v;
	p->n_aliases = al.n;
	if (group) {
		attr_values(ld, e, l->attr[A_MEMBER], a, &v, false);
		p->members = v.v;
		p->n_members = v.n;
		return (*out = p, 0);
	}
	if (!l->bind_mode)
		p->secret = attr_first(ld, e, l->attr[A_PASSWORD], a);
	const char *q = attr_first(ld, e, l->attr[A_QUOTA], a);
	uint64_t u;
	if (q != NULL && core_str_to_u64(core_str_from_cstr(q), &u) == 0)
		p->quota_bytes = u;
	const char *dis = attr_first(ld, e, l->attr[A_DISABLED], a);
	p->disabled =
		dis != NULL && (core_strcasecmp_ascii(dis, "TRUE") == 0 || strcmp(dis, "1") == 0);
	if (l->admin_group != NULL && p->ext != NULL) {
		/* The admin role: a direct member of the configured group. */
		const char *g = filter_make(a, l->filter[F_GROUP_NAME], l->admin_group,
					    strlen(l->admin_group));
		const char *m = filter_make(a, l->filter[F_MEMBER_OF], p->ext, strlen(p->ext));
		const char *both = core_arena_printf(a, "(&%s%s)", g, m);
		LDAPMessage *res = NULL;
		int r = search(l, ld, l->base, LDAP_SCOPE_SUBTREE, both, 1, true, &res, err);
		if (r == 0 && ldap_count_entries(ld, res) > 0)
			p->role = DIR_ROLE_ADMIN;
		ldap_msgfree(res);
		if (r < 0 && r != CORE_ENOTFOUND)
			return r;
		core_error_clear(err);
	}
	*out = p;
	return 0;
}

/* Search with one of the filters (or a base read of a DN) and convert the single entry. */
static int find(struct ldap_dir *l, const char *base, int scope, const char *filter,
		struct core_arena *a, struct dir_principal **out, struct core_error *err)
{
	LDAP *ld;
	int r = pool_get(l, &ld, err);
	if (r < 0)
		return r;
	LDAPMessage *res = NULL;
	r = search(l, ld, base, scope, filter, 2, false, &res, err);
	if (r == 0) {
		LDAPMessage *e = ldap_first_entry(ld, res);
		if (e == NULL)
			r = core_error_set(err, CORE_ENOTFOUND, NULL, "not found");
		else if (ldap_count_entries(ld, res) > 1)
			r = core_error_set(err, CORE_EIO, NULL,
					   "ldap: more than one entry matches");
		else
			r = entry_to_principal(l, ld, e, a, out, err);
	}
	ldap_msgfree(res);
	pool_put(l, ld, r == CORE_ETEMP);
	return r;
}

static int find_filter(struct ldap_dir *l, enum ldap_filter f, struct core_str v,
		       struct core_arena *a, struct dir_principal **out, struct core_error *err)
{
	const char *flt = filter_make(a, l->filter[f], v.p, v.len);
	return find(l, l->base, LDAP_SCOPE_SUBTREE, flt, a, out, err);
}

/* A member value that is a DN under the base (groups list DNs), not a login name. */
static bool looks_like_dn(const struct ldap_dir *l, struct core_str s, struct core_arena *a)
{
	if (core_str_find_char(s, '=') <= 0 || core_str_find_char(s, '@') >= 0)
		return false;
	char *z = core_str_dup(a, s);
	LDAPDN dn = NULL;
	if (ldap_str2dn(z, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return false;
	ldap_dnfree(dn);
	size_t bl = strlen(l->base);
	return s.len > bl && s.p[s.len - bl - 1] == ',' &&
	       core_strncasecmp_ascii(s.p + s.len - bl, l->base, bl) == 0;
}

static int ld_by_name(void *h, struct core_str name, struct core_arena *a,
		      struct dir_principal **out, struct core_error *err)
{
	struct ldap_dir *l = h;
	if (looks_like_dn(l, name, a))
		return find(l, core_str_dup(a, name), LDAP_SCOPE_BASE, "(objectClass=*)", a, out,
			    err);
	int r = find_filter(l, F_NAME, name, a, out, err);
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		r = find_filter(l, F_GROUP_NAME, name, a, out, err);
	}
	return r;
}

static int ld_by_address(void *h, struct core_str addr, struct core_arena *a,
			 struct dir_principal **out, struct core_error *err)
{
	struct ldap_dir *l = h;
	int r = find_filter(l, F_ADDRESS, addr, a, out, err);
	if (r == CORE_ENOTFOUND) {
		core_error_clear(err);
		r = find_filter(l, F_GROUP_ADDRESS, addr, a, out, err);
		/* A group with an address is a mailing list of its members. */
		if (r == 0 && (*out)->type == DIR_GROUP)
			(*out)->type = DIR_LIST;
	}
	return r;
}

static int ld_by_id(void *h, struct core_str id, struct core_arena *a, struct dir_principal **out,
		    struct core_error *err)
{
	struct ldap_dir *l = h;
	struct core_buf b = CORE_BUF_INIT;
	core_buf_printf(&b, "(%s=", l->attr[A_ID]);
	struct core_buf raw = CORE_BUF_INIT;
	/* objectGUID is binary: its hex form goes back to escaped bytes. */
	if (core_strcasecmp_ascii(l->attr[A_ID], "objectGUID") == 0 && id.len == 32 &&
	    core_hex_decode(id.p, id.len, &raw, NULL) == 0) {
		for (size_t i = 0; i < raw.len; i++)
			core_buf_printf(&b, "\\%02x", (unsigned char)raw.p[i]);
	} else {
		filter_escape(&b, id.p, id.len);
	}
	core_buf_putc(&b, ')');
	char *flt = core_arena_strdup(a, core_buf_cstr(&b));
	core_buf_fini(&b);
	core_buf_fini(&raw);
	return find(l, l->base, LDAP_SCOPE_SUBTREE, flt, a, out, err);
}

static int ld_domain(void *h, struct core_str name, struct core_arena *a,
		     struct dir_principal **out, struct core_error *err)
{
	struct ldap_dir *l = h;
	for (size_t i = 0; i < l->n_domains; i++)
		if (core_str_eq_cstr_ci(name, l->domains[i])) {
			struct dir_principal *p = dir_principal_alloc(a);
			p->type = DIR_DOMAIN;
			p->name = p->id = dir_lower_dup(a, name);
			*out = p;
			return 0;
		}
	return core_error_set(err, CORE_ENOTFOUND, NULL, "not a local domain");
}

static int ld_member_of(void *h, const struct dir_principal *p, struct core_arena *a,
			const char ***names_out, size_t *n_out, struct core_error *err)
{
	struct ldap_dir *l = h;
	*names_out = NULL;
	*n_out = 0;
	if (p->ext == NULL)
		return 0;
	LDAP *ld;
	int r = pool_get(l, &ld, err);
	if (r < 0)
		return r;
	const char *flt = filter_make(a, l->filter[F_MEMBER_OF], p->ext, strlen(p->ext));
	LDAPMessage *res = NULL;
	r = search(l, ld, l->base, LDAP_SCOPE_SUBTREE, flt, (int)DIR_MAX_VALUES, true, &res, err);
	struct dir_strv names = {0};
	for (LDAPMessage *e = r == 0 ? ldap_first_entry(ld, res) : NULL; e != NULL;
	     e = ldap_next_entry(ld, e)) {
		const char *n = attr_first(ld, e, l->attr[A_GROUP_NAME], a);
		if (n != NULL)
			dir_strv_push(a, &names, dir_lower_dup(a, core_str_from_cstr(n)));
	}
	ldap_msgfree(res);
	pool_put(l, ld, r == CORE_ETEMP);
	if (r == CORE_ENOTFOUND)
		r = 0;
	if (r < 0)
		return r;
	*names_out = names.v;
	*n_out = names.n;
	return 0;
}

static int ld_bind_verify(void *h, const struct dir_principal *p, struct core_str pw,
			  struct core_error *err)
{
	struct ldap_dir *l = h;
	if (!l->bind_mode) {
		/* Password-attribute mode: the stored hash is checked here. */
		if (p->secret == NULL)
			return 0;
		int r = dir_password_verify(p->secret, strlen(p->secret), pw.p, pw.len, err);
		if (r < 0)
			core_error_clear(err);
		return r == 1 ? 1 : 0;
	}
	/* RFC 4513 §5.1.2: an empty password would be an unauthenticated bind, which
	 * servers accept for any DN: never send one. */
	if (pw.len == 0 || p->ext == NULL)
		return 0;
	LDAP *ld;
	int r = conn_open(l, p->ext, pw.p, pw.len, &ld, err);
	if (r == CORE_EPERM) {
		core_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	ldap_unbind_ext_s(ld, NULL, NULL);
	return 1;
}

/*
 * An unknown user in bind mode costs a bind the server refuses, as a wrong password of a
 * known user does (a DN under the base that no entry has); in password mode, a hash check.
 */
static bool ld_dummy_verify(void *h, struct core_str pw)
{
	struct ldap_dir *l = h;
	if (!l->bind_mode) {
		dir_password_dummy_verify(NULL, "{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pw.p,
					  pw.len);
		return true;
	}
	if (pw.len == 0)
		return true;
	unsigned char rnd[8];
	dir_random_bytes(rnd, sizeof(rnd));
	char dn[512];
	snprintf(dn, sizeof(dn), "cn=unknown-%02x%02x%02x%02x%02x%02x%02x%02x,%s", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], l->base);
	LDAP *ld;
	struct core_error e;
	core_error_clear(&e);
	if (conn_open(l, dn, pw.p, pw.len, &ld, &e) == 0)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* Open and close                                                                       */
/* ------------------------------------------------------------------------------------ */

static void ld_close(void *h)
{
	struct ldap_dir *l = h;
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_idle; i++)
		ldap_unbind_ext_s(l->idle[i], NULL, NULL);
	for (size_t i = 0; i < F_COUNT; i++)
		free(l->filter[i]);
	for (size_t i = 0; i < A_COUNT; i++)
		free(l->attr[i]);
	for (size_t i = 0; i < l->n_domains; i++)
		free(l->domains[i]);
	free(l->domains);
	free(l->url);
	free(l->ca);
	free(l->cert);
	free(l->key);
	free(l->authzid);
	free(l->bind_dn);
	if (l->bind_pw != NULL)
		core_wipe(l->bind_pw, strlen(l->bind_pw));
	free(l->bind_pw);
	free(l->base);
	free(l->admin_group);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}

static char *conf_dup(const struct core_conf *c, const char *key)
{
	const char *v = core_conf_get_str(c, key, NULL);
	return v != NULL && v[0] != '\0' ? core_xstrdup(v) : NULL;
}

static int ld_open(const struct core_conf *c, struct store_data *data, void **h_out,
		   struct core_error *err)
{
	(void)data;
	if (c == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "the ldap directory needs its keys");
	struct ldap_dir *l = core_xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->url = conf_dup(c, "directory.ldap.url");
	l->ca = conf_dup(c, "directory.ldap.tls-ca");
	l->bind_dn = conf_dup(c, "directory.ldap.bind-dn");
	l->bind_pw = conf_dup(c, "directory.ldap.bind-password");
	l->cert = conf_dup(c, "directory.ldap.tls-cert");
	l->key = conf_dup(c, "directory.ldap.tls-key");
	l->authzid = conf_dup(c, "directory.ldap.sasl-authzid");
	l->external = strcmp(core_conf_get_str(c, "directory.ldap.bind-method", "simple"),
			     "external") == 0;
	l->base = conf_dup(c, "directory.ldap.base-dn");
	l->admin_group = conf_dup(c, "directory.ldap.admin-group");
	l->starttls = core_conf_get_bool(c, "directory.ldap.starttls", false);
	l->verify = core_conf_get_bool(c, "directory.ldap.tls-verify", true);
	l->bind_mode =
		strcmp(core_conf_get_str(c, "directory.ldap.auth-mode", "bind"), "password") != 0;
	l->timeout_ms = (int)core_conf_get_duration_ms(c, "directory.ldap.timeout", 5000);
	l->max_open = (size_t)core_conf_get_int(c, "directory.ldap.pool-size", 4);
	if (l->max_open < 1 || l->max_open > LDAP_POOL_MAX)
		l->max_open = 4;
	for (size_t i = 0; i < F_COUNT; i++)
		l->filter[i] = conf_dup(c, f_keys[i]);
	for (size_t i = 0; i < A_COUNT; i++)
		l->attr[i] = conf_dup(c, a_keys[i]);
	const char *const *doms;
	size_t nd = core_conf_get_list(c, "directory.domains", &doms);
	l->domains = core_xcalloc(nd + 1, sizeof(*l->domains));
	for (size_t i = 0; i < nd; i++)
		l->domains[l->n_domains++] = core_xstrdup(doms[i]);
	int r = 0;
	if (l->url == NULL)
		r = core_error_set(err, CORE_ESYNTAX, NULL, "directory.ldap.url is not set");
	else if (l->base == NULL)
		r = core_error_set(err, CORE_ESYNTAX, NULL, "directory.ldap.base-dn is not set");
	else if ((l->cert == NULL) != (l->key == NULL))
		r = core_error_set(err, CORE_ESYNTAX, NULL,
				   "directory.ldap.tls-cert and tls-key go together");
	else if (l->external && strncmp(l->url, "ldapi:", 6) != 0 &&
		 (l->cert == NULL || (strncmp(l->url, "ldaps:", 6) != 0 && !l->starttls)))
		/* RFC 4513 §5.2.3: EXTERNAL needs an identity from outside LDAP. */
		r = core_error_set(err, CORE_ESYNTAX, NULL,
				   "directory.ldap.bind-method external needs ldapi://, or TLS "
				   "(ldaps:// or starttls) with directory.ldap.tls-cert");
	for (size_t i = 0; i < F_COUNT && r == 0; i++)
		if (l->filter[i] == NULL)
			r = core_error_set(err, CORE_ESYNTAX, NULL, "%s is not set", f_keys[i]);
	for (size_t i = 0; i < A_COUNT && r == 0; i++)
		if (l->attr[i] == NULL && i != A_DISABLED && i != A_QUOTA && i != A_ALIAS &&
		    i != A_DESCRIPTION && i != A_PASSWORD)
			r = core_error_set(err, CORE_ESYNTAX, NULL, "%s is not set", a_keys[i]);
	if (r == 0) {
		/* Connect once, so a wrong URL, certificate or service password shows now. */
		LDAP *ld;
		r = pool_get(l, &ld, err);
		if (r == 0)
			pool_put(l, ld, false);
	}
	if (r < 0) {
		ld_close(l);
		return r;
	}
	*h_out = l;
	return 0;
}

static unsigned ld_sasl_caps(void *h)
{
	(void)h;
	return 0; /* no SCRAM secrets in an LDAP directory */
}

const struct dir_backend_ops dir_ldap_ops = {
	.open = ld_open,
	.close = ld_close,
	.sasl_caps = ld_sasl_caps,
	.by_id = ld_by_id,
	.by_name = ld_by_name,
	.by_address = ld_by_address,
	.domain = ld_domain,
	.member_of = ld_member_of,
	.bind_verify = ld_bind_verify,
	.dummy_verify = ld_dummy_verify,
};
