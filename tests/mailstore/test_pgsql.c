/*
 * test_pgsql.c: the mail-store cases on the PostgreSQL data backend, blob content in the
 * same database. STAUNCH_TEST_PG holds a libpq connection string (ci/pg.sh start prints
 * one); the cases run in a database of their own (staunch_mailstore), created on first use,
 * so they never meet the tables of other suites. Skipped, saying so, only when it is unset.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_mailstore.h"

#define PG_DB "staunch_mailstore"

static char conninfo[1024];

static PGconn *pg_connect(const char *ci)
{
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "PostgreSQL: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static bool pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "PostgreSQL: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

static bool pg_params(struct store_params *p, const char *dir)
{
	(void)dir;
	/* Every case starts from an empty table. */
	PGconn *c = pg_connect(conninfo);
	ck_assert_ptr_nonnull(c);
	ck_assert(pg_exec(c, "SET client_min_messages = warning; DROP TABLE IF EXISTS staunch_kv"));
	PQfinish(c);
	p->conninfo = conninfo;
	p->pool_size = 16;
	return true;
}

static const struct ms_test_env env = {
	.name = "mailstore-postgresql",
	.data_backend = "postgresql",
	.params = pg_params,
	.blob_backend = "postgresql",
};

int main(void)
{
	const char *base = getenv("STAUNCH_TEST_PG");
	if (base == NULL || base[0] == '\0') {
		printf("SKIP: STAUNCH_TEST_PG unset (ci/pg.sh start DIR prints one)\n");
		return 0;
	}
	PGconn *c = pg_connect(base);
	if (c == NULL)
		return 1;
	PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = '" PG_DB "'");
	bool have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!have && !pg_exec(c, "CREATE DATABASE " PG_DB)) {
		/* A concurrent creator may have won the race. */
		r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = '" PG_DB "'");
		have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		PQclear(r);
		if (!have) {
			PQfinish(c);
			return 1;
		}
	}
	PQfinish(c);
	snprintf(conninfo, sizeof(conninfo), "%s dbname=" PG_DB, base);
	return ms_test_run(&env);
}
