/*
 * store_conf.c: the store.* configuration keys and the opening of a deployment's four stores
 * from them (docs/storage.md). Only server/ calls this: protocol code receives the opened
 * stores (ARCHITECTURE.md §5: backends are chosen from configuration in one place).
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/core_conf.h"
#include "store/store_int.h"

#define STORE_DAY_MS (24LL * 3600 * 1000)

static const struct core_conf_key store_keys[] = {
	{"store.data.backend", CORE_CONF_ENUM, "rocksdb", "rocksdb|sqlite|postgresql", 0, 0, 0,
	 "Backend of the data store (mailboxes, messages' index, accounts): rocksdb (embedded, "
	 "default), sqlite (one file) or postgresql (a server, for clusters)."},
	{"store.data.path", CORE_CONF_PATH, "data.rocksdb", NULL, 0, 0, 0,
	 "Database path of the rocksdb or sqlite data store, relative to server.data-dir unless "
	 "absolute (sqlite default: data.sqlite)."},
	{"store.data.url", CORE_CONF_STRING, NULL, NULL, 0, 0, CORE_CONF_SECRET,
	 "libpq connection string of the postgresql data store (\"host=... dbname=... user=... "
	 "password=...\"); use %{file:...} for the password."},
	{"store.data.pool-size", CORE_CONF_INT, "8", NULL, 1, 1024, 0,
	 "Most connections kept open to a sqlite or postgresql data store."},
	{"store.data.lock-timeout", CORE_CONF_DURATION, "5s", NULL, 10, 60000, 0,
	 "How long a transaction waits for a locked key or a busy database before it fails with a "
	 "temporary error."},
	{"store.blob.backend", CORE_CONF_ENUM, "fs", "fs|data", 0, 0, 0,
	 "Where message bodies and other blobs live: fs (files under store.blob.path, default) "
	 "or data (inside the data store)."},
	{"store.blob.path", CORE_CONF_PATH, "blobs", NULL, 0, 0, 0,
	 "Directory of the fs blob store, relative to server.data-dir unless absolute."},
	{"store.blob.compression", CORE_CONF_ENUM, "none", "none|zstd|lz4", 0, 0, 0,
	 "Compression of new blob content, per 64 KiB frame (kept raw where it saves nothing), for "
	 "both blob backends; content written earlier is read whatever its form."},
	{"store.blob.inline-max", CORE_CONF_SIZE, "64K", NULL, 0, 1024 * 1024, 0,
	 "Messages up to this size are written into the data store inside the transaction that "
	 "delivers them, with no blob file of their own: one synced commit per delivery instead "
	 "of a file sync, a directory sync and a commit (docs/storage.md, Throughput and "
	 "durability). 0 keeps every blob in store.blob.backend."},
	{"store.blob.purge-grace", CORE_CONF_DURATION, "1d", NULL, 0, 365 * STORE_DAY_MS, 0,
	 "Age a blob without any link must reach before purge deletes it."},
	{"store.blob.reservation", CORE_CONF_DURATION, "1h", NULL, 1000, 30 * STORE_DAY_MS, 0,
	 "How long an upload stays readable by its account before something links it."},
	{"store.lookup.backend", CORE_CONF_ENUM, "data", "data|memory", 0, 0, 0,
	 "Lookup store (rate limits, greylisting, reputation): data (kept in the data store, "
	 "survives restarts) or memory (this process only)."},
	{"store.fts.backend", CORE_CONF_ENUM, "data", "data", 0, 0, 0,
	 "Full-text index: data (a term index kept in the data store)."},
};

void store_conf_register(void)
{
	core_conf_register("Storage", store_keys, CORE_NELEM(store_keys));
}

/* An absolute path as is, a relative one under server.data-dir. */
static char *store_conf_path(const struct core_conf *c, const char *key)
{
	const char *v = core_conf_get_str(c, key, "");
	if (v[0] == '/')
		return core_xstrdup(v);
	const char *dir = core_conf_get_str(c, "server.data-dir", "/var/lib/staunch");
	return core_xasprintf("%s/%s", dir, v);
}

void store_set_close(struct store_set *s)
{
	if (s == NULL)
		return;
	store_fts_free(&s->fts);
	store_lookup_free(&s->lookup);
	store_blob_free(&s->blob);
	store_data_free(&s->data);
}

int store_set_open(const struct core_conf *c, struct store_set *out, struct core_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *backend = core_conf_get_str(c, "store.data.backend", "rocksdb");
	struct store_params p = {0};
	p.pool_size = (unsigned)core_conf_get_int(c, "store.data.pool-size", 8);
	p.lock_timeout_ms = (unsigned)core_conf_get_duration_ms(c, "store.data.lock-timeout", 5000);
	char *path = NULL;
	if (strcmp(backend, "postgresql") == 0) {
		p.conninfo = core_conf_get_str(c, "store.data.url", NULL);
		if (p.conninfo == NULL)
			return core_error_set(
				err, CORE_ESYNTAX, NULL,
				"store.data.url: required for the postgresql backend");
	} else if (strcmp(backend, "sqlite") == 0 && !core_conf_has(c, "store.data.path")) {
		const char *dir = core_conf_get_str(c, "server.data-dir", "/var/lib/staunch");
		path = core_xasprintf("%s/data.sqlite", dir);
		p.path = path;
	} else {
		path = store_conf_path(c, "store.data.path");
		p.path = path;
	}
	int rc = store_data_open(backend, &p, &out->data, err);
	free(path);
	if (rc < 0)
		return rc;

	const char *blob = core_conf_get_str(c, "store.blob.backend", "fs");
	struct store_params bp = {0};
	bp.compression = core_conf_get_str(c, "store.blob.compression", "none");
	bp.inline_max = core_conf_get_size(c, "store.blob.inline-max", 65536);
	char *bpath = NULL;
	if (strcmp(blob, "fs") == 0) {
		bpath = store_conf_path(c, "store.blob.path");
		bp.path = bpath;
		rc = store_blob_open("fs", &bp, out->data, &out->blob, err);
	} else {
		rc = store_blob_open(backend, &bp, out->data, &out->blob, err);
	}
	free(bpath);
	if (rc == 0) {
		const char *lk = core_conf_get_str(c, "store.lookup.backend", "data");
		if (strcmp(lk, "data") == 0)
			rc = store_lookup_open_data(out->data, &out->lookup, err);
		else
			rc = store_lookup_open(lk, NULL, &out->lookup, err);
	}
	if (rc == 0)
		rc = store_fts_open_data(out->data, &out->fts, err);
	if (rc < 0) {
		store_set_close(out);
		return rc;
	}
	out->blob_grace_ms = core_conf_get_duration_ms(c, "store.blob.purge-grace", STORE_DAY_MS);
	out->blob_reserve_ms = core_conf_get_duration_ms(c, "store.blob.reservation", 3600000);
	return 0;
}
