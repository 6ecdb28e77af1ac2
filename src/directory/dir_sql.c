/*
 * dir_sql.c: a read-only directory kept in an SQL database the administrator owns, queried
 * with configurable statements (directory.sql.*, docs/directory.md "SQL directory").
 *
 * Drivers: SQLite (libsqlite3) and PostgreSQL (libpq). The store layer's SQL backends only
 * expose the key-value interface of store.h (their own table of byte keys), not arbitrary
 * queries over the administrator's tables, so this backend talks to the two libraries
 * directly, with a small connection pool of its own (ARCHITECTURE.md §3: per-thread SQLite
 * and libpq handles; a handle is used by one thread at a time).
 *
 * Every statement takes its arguments as parameters, never spliced into the text: $1 (and
 * $2 for member-of). SQLite accepts "$1" as a named parameter, so one text serves both.
 * Principal queries return columns found by name: id and name are required; type, description,
 * address, secret, quota_bytes, quota_messages, disabled, role, scram_sha256 and scram_sha1
 * are optional. The id column (the primary key) is the stable id.
 *
 * Timing (docs/authentication.md): the table's hashes may use any scheme, often cheaper than
 * the Argon2id dummy an unknown user would otherwise cost. The last stored hash a lookup
 * returned is kept as the representative: an unknown user's password is checked against it,
 * so both cases run the same scheme with the same cost (the outcome is ignored).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "directory/dir_int.h"
#include "directory/dir_password.h"

enum sql_driver { SQL_SQLITE, SQL_PG };

enum sql_query {
	Q_NAME,
	Q_ID,
	Q_ADDRESS,
	Q_ALIASES,
	Q_MEMBERS,
	Q_MEMBER_OF,
	Q_DOMAIN,
	Q_APP_PASSWORDS,
	Q_COUNT,
};

static const char *const q_keys[Q_COUNT] = {
	"directory.sql.query.name",    "directory.sql.query.id",
	"directory.sql.query.address", "directory.sql.query.aliases",
	"directory.sql.query.members", "directory.sql.query.member-of",
	"directory.sql.query.domain",  "directory.sql.query.app-passwords",
};

#define SQL_POOL_MAX 64

struct sql_conn {
	sqlite3 *db;
	PGconn *pg;
};

struct sql_dir {
	enum sql_driver driver;
	char *path, *conninfo;
	char *q[Q_COUNT];
	char **domains;
	size_t n_domains;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sql_conn *idle[SQL_POOL_MAX];
	size_t n_idle;
	size_t n_open, max_open;
	bool scram;
	char *rep; /* representative stored hash (see the header comment), under lock */
};

/* Remember secret as the representative hash when it differs from the current one. */
static void sql_rep_note(struct sql_dir *s, const char *secret)
{
	if (secret == NULL || strlen(secret) > DIR_PW_MAX_STORED ||
	    dir_password_scheme(secret, strlen(secret)) == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	char *old = NULL;
	if (s->rep == NULL || strcmp(s->rep, secret) != 0) {
		old = s->rep;
		s->rep = core_xstrdup(secret);
	}
	pthread_mutex_unlock(&s->lock);
	if (old != NULL) {
		core_wipe(old, strlen(old));
		free(old);
	}
}

static bool sql_dummy_verify(void *h, struct core_str pw)
{
	struct sql_dir *s = h;
	char rep[DIR_PW_MAX_STORED + 1];
	pthread_mutex_lock(&s->lock);
	bool have = s->rep != NULL;
	if (have)
		snprintf(rep, sizeof(rep), "%s", s->rep);
	pthread_mutex_unlock(&s->lock);
	if (!have)
		return false; /* nothing seen yet: the policy's Argon2id */
	dir_password_dummy_verify(NULL, rep, pw.p, pw.len);
	core_wipe(rep, sizeof(rep));
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                          */
/* ------------------------------------------------------------------------------------ */

static void conn_close(struct sql_conn *c)
{
	if (c == NULL)
		return;
	if (c->db != NULL)
		sqlite3_close(c->db);
	if (c->pg != NULL)
		PQfinish(c->pg);
	free(c);
}

static int conn_open(struct sql_dir *s, struct sql_conn **out, struct core_error *err)
{
	struct sql_conn *c = core_xcalloc(1, sizeof(*c));
	if (s->driver == SQL_SQLITE) {
		int rc = sqlite3_open_v2(s->path, &c->db,
					 SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK) {
			core_error_set(err, CORE_ETEMP, NULL, "directory database: %s",
				       sqlite3_errstr(rc));
			conn_close(c);
			return CORE_ETEMP;
		}
		sqlite3_busy_timeout(c->db, 5000);
	} else {
		c->pg = PQconnectdb(s->conninfo);
		if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
			core_error_set(err, CORE_ETEMP, NULL, "directory database unreachable");
			conn_close(c);
			return CORE_ETEMP;
		}
	}
	*out = c;
	return 0;
}

static int pool_get(struct sql_dir *s, struct sql_conn **out, struct core_error *err)
{
	pthread_mutex_lock(&s->lock);
	while (s->n_idle == 0 && s->n_open >= s->max_open)
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->n_idle > 0) {
		*out = s->idle[--s->n_idle];
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	s->n_open++;
	pthread_mutex_unlock(&s->lock);
	int r = conn_open(s, out, err);
	if (r < 0) {
		pthread_mutex_lock(&s->lock);
		s->n_open--;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* Return a connection; a broken one (bad) is closed instead of pooled. */
static void pool_put(struct sql_dir *s, struct sql_conn *c, bool bad)
{
	pthread_mutex_lock(&s->lock);
	if (bad || s->n_idle == SQL_POOL_MAX) {
		conn_close(c);
		s->n_open--;
	} else {
		s->idle[s->n_idle++] = c;
	}
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------------------ */
/* Queries                                                                              */
/* ------------------------------------------------------------------------------------ */

/* One result row: column names and values (NULL for SQL NULL). Return non-zero to stop. */
typedef int (*row_fn)(void *arg, int ncol, const char *const *names, const char *const *vals);

/* The highest $N a statement uses, so PostgreSQL is sent exactly that many parameters. */
static int params_used(const char *q)
{
	int max = 0;
	for (const char *p = q; *p; p++)
		if (p[0] == '$' && core_ascii_isdigit(p[1]) && p[1] != '0' &&
		    !core_ascii_isdigit(p[2]))
			max = p[1] - '0' > max ? p[1] - '0' : max;
	return max;
}

static int run_sqlite(struct sql_conn *c, const char *q, const char *const *params, int np,
		      row_fn fn, void *arg, bool *bad, struct core_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, q, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return core_error_set(err, CORE_EIO, NULL, "directory query: %s",
				      sqlite3_errmsg(c->db));
	for (int i = 0; i < np; i++) {
		char name[4] = {'$', (char)('1' + i), 0, 0};
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx > 0)
			sqlite3_bind_text(st, idx, params[i], -1, SQLITE_STATIC);
	}
	int ncol = sqlite3_column_count(st);
	const char **names = core_xcalloc((size_t)ncol + 1, sizeof(*names));
	const char **vals = core_xcalloc((size_t)ncol + 1, sizeof(*vals));
	for (int i = 0; i < ncol; i++)
		names[i] = sqlite3_column_name(st, i);
	int r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncol; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		if (fn(arg, ncol, names, vals) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = core_error_set(err, rc == SQLITE_BUSY ? CORE_ETEMP : CORE_EIO, NULL,
				   "directory query: %s", sqlite3_errmsg(c->db));
		*bad = rc != SQLITE_BUSY;
	}
	free(names);
	free(vals);
	sqlite3_finalize(st);
	return r;
}

static int run_pg(struct sql_conn *c, const char *q, const char *const *params, int np, row_fn fn,
		  void *arg, bool *bad, struct core_error *err)
{
	int used = params_used(q);
	if (used > np)
		return core_error_set(err, CORE_ESYNTAX, NULL, "directory query uses $%d", used);
	PGresult *res = PQexecParams(c->pg, q, used, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK) {
		bool lost = PQstatus(c->pg) != CONNECTION_OK;
		*bad = lost;
		core_error_set(err, lost ? CORE_ETEMP : CORE_EIO, NULL,
			       "directory query failed: %s",
			       lost ? "connection lost" : PQresultErrorMessage(res));
		PQclear(res);
		return err != NULL ? err->code : CORE_EIO;
	}
	int ncol = PQnfields(res), nrow = PQntuples(res);
	const char **names = core_xcalloc((size_t)ncol + 1, sizeof(*names));
	const char **vals = core_xcalloc((size_t)ncol + 1, sizeof(*vals));
	for (int i = 0; i < ncol; i++)
		names[i] = PQfname(res, i);
	for (int r = 0; r < nrow; r++) {
		for (int i = 0; i < ncol; i++)
			vals[i] = PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
		if (fn(arg, ncol, names, vals) != 0)
			break;
	}
	free(names);
	free(vals);
	PQclear(res);
	return 0;
}

static int sql_run(struct sql_dir *s, enum sql_query q, const char *const *params, int np,
		   row_fn fn, void *arg, struct core_error *err)
{
	if (s->q[q] == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "%s is not set", q_keys[q]);
	struct sql_conn *c;
	int r = pool_get(s, &c, err);
	if (r < 0)
		return r;
	bool bad = false;
	if (s->driver == SQL_SQLITE)
		r = run_sqlite(c, s->q[q], params, np, fn, arg, &bad, err);
	else
		r = run_pg(c, s->q[q], params, np, fn, arg, &bad, err);
	pool_put(s, c, bad);
	return r;
}

/* ------------------------------------------------------------------------------------ */
/* Rows to principals                                                                   */
/* ------------------------------------------------------------------------------------ */

static bool truthy(const char *v)
{
	return v != NULL &&
	       (strcmp(v, "1") == 0 || strcmp(v, "t") == 0 ||
		core_strcasecmp_ascii(v, "true") == 0 || core_strcasecmp_ascii(v, "yes") == 0);
}

struct principal_row {
	struct core_arena *a;
	struct dir_principal *p;
	int rows;
	int rc;
	struct core_error *err;
};

static int principal_row_fn(void *arg, int ncol, const char *const *names, const char *const *vals)
{
	struct principal_row *pr = arg;
	if (++pr->rows > 1)
		return 1; /* more than one row: refused by the caller */
	struct dir_principal *p = dir_principal_alloc(pr->a);
	for (int i = 0; i < ncol; i++) {
		const char *n = names[i], *v = vals[i];
		if (v == NULL)
			continue;
		char *s = core_arena_strdup(pr->a, v);
		uint64_t u;
		if (strcmp(n, "id") == 0) {
			p->id = s;
		} else if (strcmp(n, "name") == 0) {
			p->name = dir_lower_dup(pr->a, core_str_from_cstr(s));
		} else if (strcmp(n, "type") == 0) {
			int t = dir_type_parse(s);
			p->type = t >= 0 ? (enum dir_type)t : DIR_INDIVIDUAL;
		} else if (strcmp(n, "description") == 0) {
			p->description = s;
		} else if (strcmp(n, "address") == 0) {
			p->address =
				s[0] ? dir_address_normalize(pr->a, core_str_from_cstr(s), NULL)
				     : NULL;
		} else if (strcmp(n, "secret") == 0) {
			p->secret = s[0] ? s : NULL;
		} else if (strcmp(n, "scram_sha256") == 0) {
			p->scram_sha256 = s[0] ? s : NULL;
		} else if (strcmp(n, "scram_sha1") == 0) {
			p->scram_sha1 = s[0] ? s : NULL;
		} else if (strcmp(n, "quota_bytes") == 0 || strcmp(n, "quota") == 0) {
			if (core_str_to_u64(core_str_from_cstr(s), &u) == 0)
				p->quota_bytes = u;
		} else if (strcmp(n, "quota_messages") == 0) {
			if (core_str_to_u64(core_str_from_cstr(s), &u) == 0)
				p->quota_messages = u;
		} else if (strcmp(n, "disabled") == 0) {
			p->disabled = truthy(s);
		} else if (strcmp(n, "role") == 0) {
			p->role = core_strcasecmp_ascii(s, "admin") == 0 ? DIR_ROLE_ADMIN
									 : DIR_ROLE_USER;
		}
	}
	if (p->id == NULL || p->id[0] == '\0' || p->name == NULL || p->name[0] == '\0') {
		pr->rc = core_error_set(pr->err, CORE_EIO, NULL,
					"directory query must return the columns id and name");
		return 1;
	}
	pr->p = p;
	return 0;
}

struct list_rows {
	struct core_arena *a;
	struct dir_strv v;
	struct dir_strv v2; /* second column, for app passwords */
	bool two;
};

static int list_row_fn(void *arg, int ncol, const char *const *names, const char *const *vals)
{
	struct list_rows *lr = arg;
	(void)names;
	if (ncol < 1 || vals[0] == NULL || (lr->two && (ncol < 2 || vals[1] == NULL)))
		return 0;
	dir_strv_push(lr->a, &lr->v, core_arena_strdup(lr->a, vals[0]));
	if (lr->two)
		dir_strv_push(lr->a, &lr->v2, core_arena_strdup(lr->a, vals[1]));
	return lr->v.n >= DIR_MAX_VALUES ? 1 : 0;
}

static int fetch_list(struct sql_dir *s, enum sql_query q, const char *const *params, int np,
		      struct core_arena *a, bool two, struct list_rows *lr, struct core_error *err)
{
	memset(lr, 0, sizeof(*lr));
	lr->a = a;
	lr->two = two;
	if (s->q[q] == NULL)
		return 0;
	return sql_run(s, q, params, np, list_row_fn, lr, err);
}

/* Fill the list fields of a principal from the aliases, members and app password queries. */
static int complete(struct sql_dir *s, struct dir_principal *p, struct core_arena *a,
		    struct core_error *err)
{
	const char *params[1] = {p->id};
	struct list_rows lr;
	int r = fetch_list(s, Q_ALIASES, params, 1, a, false, &lr, err);
	if (r < 0)
		return r;
	const char **al = core_arena_alloc(a, (lr.v.n + 1) * sizeof(*al));
	size_t n = 0;
	for (size_t i = 0; i < lr.v.n; i++) {
		const char *x = dir_address_normalize(a, core_str_from_cstr(lr.v.v[i]), NULL);
		if (x != NULL)
			al[n++] = x;
	}
	p->aliases = al;
	p->n_aliases = n;
	if (p->type == DIR_GROUP || p->type == DIR_LIST) {
		if ((r = fetch_list(s, Q_MEMBERS, params, 1, a, false, &lr, err)) < 0)
			return r;
		p->members = lr.v.v;
		p->n_members = lr.v.n;
	}
	if (p->type == DIR_INDIVIDUAL) {
		if ((r = fetch_list(s, Q_APP_PASSWORDS, params, 1, a, true, &lr, err)) < 0)
			return r;
		p->app_passwords = core_arena_zalloc(a, (lr.v.n + 1) * sizeof(*p->app_passwords));
		for (size_t i = 0; i < lr.v.n; i++) {
			p->app_passwords[i].label = lr.v.v[i];
			p->app_passwords[i].hash = lr.v2.v[i];
		}
		p->n_app_passwords = lr.v.n;
	}
	return 0;
}

static int lookup(struct sql_dir *s, enum sql_query q, struct core_str key, struct core_arena *a,
		  struct dir_principal **out, struct core_error *err)
{
	const char *params[1] = {core_str_dup(a, key)};
	struct principal_row pr = {.a = a, .err = err};
	int r = sql_run(s, q, params, 1, principal_row_fn, &pr, err);
	if (r < 0)
		return r;
	if (pr.rc < 0)
		return pr.rc;
	if (pr.rows > 1)
		return core_error_set(err, CORE_EIO, NULL, "%s returned more than one row",
				      q_keys[q]);
	if (pr.p == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "not found");
	if ((r = complete(s, pr.p, a, err)) < 0)
		return r;
	if (pr.p->type == DIR_INDIVIDUAL)
		sql_rep_note(s, pr.p->secret);
	*out = pr.p;
	return 0;
}

static int sql_by_id(void *h, struct core_str id, struct core_arena *a, struct dir_principal **out,
		     struct core_error *err)
{
	return lookup(h, Q_ID, id, a, out, err);
}

static int sql_by_name(void *h, struct core_str name, struct core_arena *a,
		       struct dir_principal **out, struct core_error *err)
{
	return lookup(h, Q_NAME, name, a, out, err);
}

static int sql_by_address(void *h, struct core_str addr, struct core_arena *a,
			  struct dir_principal **out, struct core_error *err)
{
	return lookup(h, Q_ADDRESS, addr, a, out, err);
}

struct domain_row {
	struct core_arena *a;
	struct dir_principal *p;
};

static int domain_row_fn(void *arg, int ncol, const char *const *names, const char *const *vals)
{
	struct domain_row *dr = arg;
	struct dir_principal *p = dir_principal_alloc(dr->a);
	p->type = DIR_DOMAIN;
	for (int i = 0; i < ncol; i++) {
		if (vals[i] == NULL || vals[i][0] == '\0')
			continue;
		if (strcmp(names[i], "name") == 0)
			p->name = dir_lower_dup(dr->a, core_str_from_cstr(vals[i]));
		else if (strcmp(names[i], "catch_all") == 0)
			p->catch_all = core_arena_strdup(dr->a, vals[i]);
	}
	if (p->name != NULL) {
		p->id = p->name;
		dr->p = p;
	}
	return 1;
}

static int sql_domain(void *h, struct core_str name, struct core_arena *a,
		      struct dir_principal **out, struct core_error *err)
{
	struct sql_dir *s = h;
	if (s->q[Q_DOMAIN] == NULL) {
		for (size_t i = 0; i < s->n_domains; i++)
			if (core_str_eq_cstr_ci(name, s->domains[i])) {
				struct dir_principal *p = dir_principal_alloc(a);
				p->type = DIR_DOMAIN;
				p->name = p->id = dir_lower_dup(a, name);
				*out = p;
				return 0;
			}
		return core_error_set(err, CORE_ENOTFOUND, NULL, "not a local domain");
	}
	const char *params[1] = {core_str_dup(a, name)};
	struct domain_row dr = {.a = a};
	int r = sql_run(s, Q_DOMAIN, params, 1, domain_row_fn, &dr, err);
	if (r < 0)
		return r;
	if (dr.p == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL, "not a local domain");
	*out = dr.p;
	return 0;
}

static int sql_member_of(void *h, const struct dir_principal *p, struct core_arena *a,
			 const char ***names_out, size_t *n_out, struct core_error *err)
{
	struct sql_dir *s = h;
	const char *params[2] = {p->id, p->name};
	struct list_rows lr;
	int r = fetch_list(s, Q_MEMBER_OF, params, 2, a, false, &lr, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < lr.v.n; i++)
		lr.v.v[i] = dir_lower_dup(a, core_str_from_cstr(lr.v.v[i]));
	*names_out = lr.v.v;
	*n_out = lr.v.n;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Open and close                                                                       */
/* ------------------------------------------------------------------------------------ */

static void sql_close(void *h)
{
	struct sql_dir *s = h;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_idle; i++)
		conn_close(s->idle[i]);
	for (size_t i = 0; i < Q_COUNT; i++)
		free(s->q[i]);
	for (size_t i = 0; i < s->n_domains; i++)
		free(s->domains[i]);
	free(s->domains);
	free(s->path);
	free(s->conninfo);
	if (s->rep != NULL) {
		core_wipe(s->rep, strlen(s->rep));
		free(s->rep);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static int sql_open(const struct core_conf *c, struct store_data *data, void **h_out,
		    struct core_error *err)
{
	(void)data;
	if (c == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "the sql directory needs its keys");
	struct sql_dir *s = core_xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	const char *drv = core_conf_get_str(c, "directory.sql.driver", "sqlite");
	s->driver = strcmp(drv, "postgresql") == 0 ? SQL_PG : SQL_SQLITE;
	const char *path = core_conf_get_str(c, "directory.sql.path", NULL);
	const char *ci = core_conf_get_str(c, "directory.sql.conninfo", NULL);
	s->scram = core_conf_get_bool(c, "directory.sql.scram-secrets", false);
	s->max_open = (size_t)core_conf_get_int(c, "directory.sql.pool-size", 4);
	if (s->max_open < 1 || s->max_open > SQL_POOL_MAX)
		s->max_open = 4;
	int r = 0;
	if (s->driver == SQL_SQLITE && (path == NULL || path[0] == '\0'))
		r = core_error_set(err, CORE_ESYNTAX, NULL, "directory.sql.path is not set");
	else if (s->driver == SQL_PG && (ci == NULL || ci[0] == '\0'))
		r = core_error_set(err, CORE_ESYNTAX, NULL, "directory.sql.conninfo is not set");
	s->path = path != NULL ? core_xstrdup(path) : NULL;
	s->conninfo = ci != NULL ? core_xstrdup(ci) : NULL;
	for (size_t i = 0; i < Q_COUNT; i++) {
		const char *q = core_conf_get_str(c, q_keys[i], NULL);
		if (q != NULL && q[0] != '\0')
			s->q[i] = core_xstrdup(q);
	}
	for (size_t i = 0; i < 3 && r == 0; i++)
		if (s->q[i] == NULL)
			r = core_error_set(err, CORE_ESYNTAX, NULL, "%s is not set", q_keys[i]);
	const char *const *doms;
	size_t nd = core_conf_get_list(c, "directory.domains", &doms);
	s->domains = core_xcalloc(nd + 1, sizeof(*s->domains));
	for (size_t i = 0; i < nd; i++)
		s->domains[s->n_domains++] = core_xstrdup(doms[i]);
	if (r == 0) {
		/* Connect once now, so a wrong path or server shows at start. */
		struct sql_conn *conn;
		r = conn_open(s, &conn, err);
		if (r == 0) {
			s->n_open = 1;
			pool_put(s, conn, false);
		}
	}
	if (r < 0) {
		sql_close(s);
		return r;
	}
	*h_out = s;
	return 0;
}

static unsigned sql_sasl_caps(void *h)
{
	struct sql_dir *s = h;
	return s->scram ? SASL_BACKEND_SCRAM_SHA1 | SASL_BACKEND_SCRAM_SHA256 : 0;
}

const struct dir_backend_ops dir_sql_ops = {
	.open = sql_open,
	.dummy_verify = sql_dummy_verify,
	.close = sql_close,
	.sasl_caps = sql_sasl_caps,
	.by_id = sql_by_id,
	.by_name = sql_by_name,
	.by_address = sql_by_address,
	.domain = sql_domain,
	.member_of = sql_member_of,
};
