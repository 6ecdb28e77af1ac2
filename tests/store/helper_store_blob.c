/*
 * helper_store_blob.c: blob store cases of the conformance suite (ARCHITECTURE.md §4:
 * content-addressed put, ranged get, reference tracking, purge after grace; blob ids are
 * opaque and account-scoped, knowing a hash grants nothing).
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "helper_store.h"
#include "store/store_int.h"

static struct store_blob *bs;
static char blob_dir[512];

#define ACCT_A 1001
#define ACCT_B 2002

static struct store_blob *open_blob(const char *compression)
{
	struct store_params p = {0};
	snprintf(blob_dir, sizeof(blob_dir), "%s/blobs", store_test_dir);
	p.path = blob_dir;
	p.compression = compression;
	struct store_blob *b = NULL;
	struct core_error err;
	core_error_clear(&err);
	int rc = store_blob_open(store_test_env->blob_backend, &p, store_test_data, &b, &err);
	ck_assert_msg(rc == 0, "blob open: %s", err.msg);
	return b;
}

/* Path of the fs backend's file for id (static buffer). */
static const char *fs_file_of(const struct store_blob_id *id)
{
	static char path[700];
	char h[65];
	for (size_t i = 0; i < 32; i++)
		snprintf(h + 2 * i, 3, "%02x", id->hash[i]);
	snprintf(path, sizeof(path), "%s/%.2s/%.2s/%s", blob_dir, h, h + 2, h);
	return path;
}

static void blob_setup(void)
{
	store_test_setup();
	bs = open_blob(NULL);
}

static void blob_teardown(void)
{
	store_blob_free(&bs);
	store_test_teardown();
}

static void pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static struct store_blob_id put_blob(struct store_blob *b, uint64_t acct, const void *p, size_t n,
				     uint64_t reserve_ms)
{
	struct store_blob_writer *w = NULL;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(store_blob_write_begin(b, &w, &err), 0);
	/* Feed in uneven pieces, as a network stream would. */
	size_t off = 0, step = 1000;
	while (off < n) {
		size_t k = n - off < step ? n - off : step;
		ck_assert_int_eq(store_blob_write(w, (const uint8_t *)p + off, k, &err), 0);
		off += k;
		step = step * 3 + 1;
	}
	struct store_blob_id id;
	int rc = store_blob_write_finish(&w, acct, reserve_ms, &id, &err);
	ck_assert_msg(rc == 0, "finish: %s", err.msg);
	ck_assert_ptr_null(w);
	return id;
}

static int buf_cb(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

static int read_range(struct store_blob *b, uint64_t acct, const struct store_blob_id *id,
		      uint64_t off, uint64_t len, struct core_buf *out)
{
	core_buf_reset(out);
	return store_blob_read(b, acct, id, off, len, buf_cb, out, NULL);
}

/* How many contents the backend holds (white box: files, or complete records). */
static int count_zkey_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)v;
	(void)vl;
	if (kl == 1 + STORE_HASH_LEN)
		(*(size_t *)arg)++;
	return 0;
}

static size_t count_files(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[1024];
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (depth < 2 && strlen(e->d_name) == 2)
			n += count_files(sub, depth + 1);
		else if (depth == 2 && strlen(e->d_name) == 64)
			n++;
	}
	closedir(d);
	return n;
}

static size_t content_count(void)
{
	if (strcmp(store_test_env->blob_backend, "fs") == 0)
		return count_files(blob_dir, 0);
	size_t n = 0;
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, NULL), 0);
	uint8_t hi[STORE_KEY_MAX];
	struct store_range r;
	store_range_prefix(&r, "Z", 1, hi);
	ck_assert_int_ge(store_txn_raw_scan(t, STORE_SPACE_BLOB, &r, count_zkey_cb, &n, NULL), 0);
	store_txn_abort(&t);
	return n;
}

START_TEST(blob_put_get_range)
{
	size_t n = 300000;
	uint8_t *data = core_xmalloc(n);
	pattern(data, n, 1);
	struct store_blob_id id = put_blob(bs, ACCT_A, data, n, 0);
	/* The id is the SHA-256 of the content. */
	uint8_t want[32];
	unsigned wl = 0;
	ck_assert_int_eq(EVP_Digest(data, n, want, &wl, EVP_sha256(), NULL), 1);
	ck_assert(memcmp(id.hash, want, 32) == 0);
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_size(bs, ACCT_A, &id, &size, NULL), 0);
	ck_assert_uint_eq(size, n);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_A, &id, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, n);
	ck_assert(memcmp(b.p, data, n) == 0);
	/* Byte ranges: inside one chunk, across chunks, clipped at the end, past the end. */
	const uint64_t ranges[][2] = {{10, 20},        {STORE_CHUNK_SIZE - 5, 10},
				      {70000, 140000}, {n - 100, 1000},
				      {n, 10},         {n + 50, 10},
				      {0, 0}};
	for (size_t i = 0; i < CORE_NELEM(ranges); i++) {
		ck_assert_int_eq(read_range(bs, ACCT_A, &id, ranges[i][0], ranges[i][1], &b), 0);
		uint64_t from = ranges[i][0] < n ? ranges[i][0] : n;
		uint64_t to = from + ranges[i][1] < n ? from + ranges[i][1] : n;
		ck_assert_uint_eq(b.len, to - from);
		if (b.len > 0)
			ck_assert(memcmp(b.p, data + from, b.len) == 0);
	}
	/* Text form round trip and rejects. */
	char text[STORE_BLOB_ID_TEXT + 1];
	store_blob_id_format(&id, text);
	ck_assert_uint_eq(strlen(text), STORE_BLOB_ID_TEXT);
	struct store_blob_id back;
	ck_assert_int_eq(store_blob_id_parse(text, strlen(text), &back), 0);
	ck_assert(memcmp(back.hash, id.hash, 32) == 0);
	text[5] = 'X';
	ck_assert_int_eq(store_blob_id_parse(text, strlen(text), &back), CORE_ESYNTAX);
	ck_assert_int_eq(store_blob_id_parse(text, 10, &back), CORE_ESYNTAX);
	ck_assert_int_eq(store_blob_id_parse("", 0, &back), CORE_ESYNTAX);
	core_buf_fini(&b);
	free(data);
}
END_TEST

START_TEST(blob_empty_and_abort)
{
	struct store_blob_id id = put_blob(bs, ACCT_A, "", 0, 0);
	uint64_t size = 99;
	ck_assert_int_eq(store_blob_size(bs, ACCT_A, &id, &size, NULL), 0);
	ck_assert_uint_eq(size, 0);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_A, &id, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	/* An aborted write leaves nothing: no content, no access. */
	struct store_blob_writer *w = NULL;
	ck_assert_int_eq(store_blob_write_begin(bs, &w, NULL), 0);
	ck_assert_int_eq(store_blob_write(w, "abandoned", 9, NULL), 0);
	store_blob_write_abort(&w);
	ck_assert_ptr_null(w);
	ck_assert_uint_eq(content_count(), 1);
	core_buf_fini(&b);
}
END_TEST

START_TEST(blob_dedup_and_references)
{
	const char *msg = "From: a@example.org\r\n\r\nshared body\r\n";
	struct store_blob_id a = put_blob(bs, ACCT_A, msg, strlen(msg), 0);
	struct store_blob_id b = put_blob(bs, ACCT_B, msg, strlen(msg), 0);
	ck_assert(memcmp(a.hash, b.hash, 32) == 0);
	ck_assert_uint_eq(content_count(), 1); /* a blob shared by many lives once */
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &a, "m/1", NULL), 0);
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &a, "m/2", NULL), 0);
	ck_assert_int_eq(store_blob_link(bs, ACCT_B, &b, "m/9", NULL), 0);
	ck_assert_int_eq(store_blob_unlink(bs, ACCT_A, &a, "m/3", NULL), CORE_ENOTFOUND);
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &a, "", NULL), CORE_ESYNTAX);
	/* Purge keeps referenced content. */
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 0);
	ck_assert_uint_eq(content_count(), 1);
	ck_assert_int_eq(store_blob_unlink(bs, ACCT_A, &a, "m/1", NULL), 0);
	ck_assert_int_eq(store_blob_unlink(bs, ACCT_A, &a, "m/2", NULL), 0);
	ck_assert_int_eq(store_blob_unlink(bs, ACCT_B, &b, "m/9", NULL), 0);
	/* Reservations (default 1 h) still hold it. */
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 0);
	ck_assert_uint_eq(content_count(), 1);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &a, NULL), 0);
}
END_TEST

START_TEST(blob_reservation_expiry_and_purge)
{
	const char *x = "short-lived upload";
	struct store_blob_id id = put_blob(bs, ACCT_A, x, strlen(x), 100);
	const char *y = "linked content";
	struct store_blob_id kept = put_blob(bs, ACCT_A, y, strlen(y), 100);
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &kept, "m/7", NULL), 0);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), 0);
	usleep(250 * 1000);
	/* The reservation expired: no access, whether or not purge ran. */
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &id, "m/8", NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &kept, NULL), 0);
	/* A long grace period protects young content; grace 0 removes it. */
	ck_assert_int_eq(store_blob_purge(bs, 3600 * 1000, NULL), 0);
	ck_assert_uint_eq(content_count(), 2);
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 1);
	ck_assert_uint_eq(content_count(), 1);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_A, &kept, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, strlen(y));
	/* Writing the same content again revives it under a fresh reservation. */
	struct store_blob_id again = put_blob(bs, ACCT_A, x, strlen(x), 0);
	ck_assert(memcmp(again.hash, id.hash, 32) == 0);
	ck_assert_int_eq(read_range(bs, ACCT_A, &again, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, strlen(x));
	ck_assert(memcmp(b.p, x, b.len) == 0);
	core_buf_fini(&b);
}
END_TEST

START_TEST(blob_crash_leftovers_purged)
{
	/* A writer that died before committing leaves a temp file (fs) or nothing visible; purge
	 * removes the leftovers once they are older than the grace period. */
	char path[700];
	snprintf(path, sizeof(path), "%s/tmp/blob-crashed", blob_dir);
	if (strcmp(store_test_env->blob_backend, "fs") == 0) {
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs("half a message", f);
		fclose(f);
	}
	struct store_blob_writer *w = NULL;
	ck_assert_int_eq(store_blob_write_begin(bs, &w, NULL), 0);
	ck_assert_int_eq(store_blob_write(w, "in flight", 9, NULL), 0);
	/* Young leftovers stay (a write may still be going on). */
	ck_assert_int_eq(store_blob_purge(bs, 3600 * 1000, NULL), 0);
	if (strcmp(store_test_env->blob_backend, "fs") == 0)
		ck_assert_int_eq(access(path, F_OK), 0);
	usleep(20 * 1000);
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 0);
	if (strcmp(store_test_env->blob_backend, "fs") == 0)
		ck_assert_int_eq(access(path, F_OK), -1);
	store_blob_write_abort(&w);
	ck_assert_uint_eq(content_count(), 0);
}
END_TEST

START_TEST(blob_account_scoped)
{
	/* ARCHITECTURE.md §4: account B cannot read, import or copy A's blob by its hash. */
	const char *secret = "account A's private attachment";
	struct store_blob_id a = put_blob(bs, ACCT_A, secret, strlen(secret), 0);
	ck_assert_int_eq(store_blob_link(bs, ACCT_A, &a, "m/1", NULL), 0);
	/* B builds the id from the hash it learned (the text form a client would send). */
	char text[STORE_BLOB_ID_TEXT + 1];
	store_blob_id_format(&a, text);
	struct store_blob_id forged;
	ck_assert_int_eq(store_blob_id_parse(text, strlen(text), &forged), 0);
	struct core_buf b = CORE_BUF_INIT;
	struct core_error err;
	core_error_clear(&err);
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_read(bs, ACCT_B, &forged, 0, UINT64_MAX, buf_cb, &b, &err),
			 CORE_EPERM);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(store_blob_size(bs, ACCT_B, &forged, &size, NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_access(bs, ACCT_B, &forged, NULL), CORE_EPERM);
	/* Import: linking it into one of B's messages. */
	ck_assert_int_eq(store_blob_link(bs, ACCT_B, &forged, "m/66", NULL), CORE_EPERM);
	/* Copy: from A (B is not A) or to B via a third account. */
	ck_assert_int_eq(store_blob_copy(bs, ACCT_B, ACCT_B, &forged, 0, NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_copy(bs, 3003, ACCT_B, &forged, 0, NULL), CORE_EPERM);
	ck_assert_int_eq(store_blob_access(bs, ACCT_B, &forged, NULL), CORE_EPERM);
	/* The refusal looks the same as for content that does not exist. */
	struct store_blob_id none;
	memset(none.hash, 0x5a, sizeof(none.hash));
	struct core_error err2;
	core_error_clear(&err2);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &none, &err2), CORE_EPERM);
	ck_assert_str_eq(err.msg, err2.msg);
	/* B never got access, and A still has it. */
	ck_assert_int_eq(read_range(bs, ACCT_A, &a, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, strlen(secret));
	/* A copy made by A (JMAP Blob/copy) is what grants B access. */
	ck_assert_int_eq(store_blob_copy(bs, ACCT_A, ACCT_B, &a, 0, NULL), 0);
	ck_assert_int_eq(read_range(bs, ACCT_B, &forged, 0, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b.len, strlen(secret));
	core_buf_fini(&b);
}
END_TEST

struct sha_sink {
	EVP_MD_CTX *ctx;
	uint64_t n;
};

static int sha_cb(void *arg, const void *p, size_t n)
{
	struct sha_sink *s = arg;
	EVP_DigestUpdate(s->ctx, p, n);
	s->n += n;
	return 0;
}

START_TEST(blob_50mb_stream)
{
	/* Issue: 50 MB blobs streamed in and out (never whole in memory here). */
	const size_t total = 50u * 1024u * 1024u, piece = 1024u * 1024u;
	uint8_t *buf = core_xmalloc(piece);
	struct store_blob_writer *w = NULL;
	struct core_error err;
	core_error_clear(&err);
	EVP_MD_CTX *in = EVP_MD_CTX_new();
	EVP_DigestInit_ex(in, EVP_sha256(), NULL);
	ck_assert_int_eq(store_blob_write_begin(bs, &w, &err), 0);
	for (size_t off = 0; off < total; off += piece) {
		pattern(buf, piece, off / piece);
		EVP_DigestUpdate(in, buf, piece);
		ck_assert_int_eq(store_blob_write(w, buf, piece, &err), 0);
	}
	struct store_blob_id id;
	int rc = store_blob_write_finish(&w, ACCT_A, 0, &id, &err);
	ck_assert_msg(rc == 0, "finish: %s", err.msg);
	uint8_t want[32];
	unsigned wl;
	EVP_DigestFinal_ex(in, want, &wl);
	EVP_MD_CTX_free(in);
	ck_assert(memcmp(want, id.hash, 32) == 0);
	struct sha_sink s = {EVP_MD_CTX_new(), 0};
	EVP_DigestInit_ex(s.ctx, EVP_sha256(), NULL);
	ck_assert_int_eq(store_blob_read(bs, ACCT_A, &id, 0, UINT64_MAX, sha_cb, &s, &err), 0);
	uint8_t got[32];
	EVP_DigestFinal_ex(s.ctx, got, &wl);
	EVP_MD_CTX_free(s.ctx);
	ck_assert_uint_eq(s.n, total);
	ck_assert(memcmp(got, want, 32) == 0);
	/* A range deep inside. */
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_A, &id, 37u * piece + 123, 5000, &b), 0);
	pattern(buf, piece, 37);
	ck_assert_uint_eq(b.len, 5000);
	ck_assert(memcmp(b.p, buf + 123, 5000) == 0);
	core_buf_fini(&b);
	free(buf);
}
END_TEST

START_TEST(blob_compression)
{
	const char *codecs[] = {"zstd", "lz4"};
	size_t n = 3 * STORE_CHUNK_SIZE + 99;
	uint8_t *text = core_xmalloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = (uint8_t)("Subject: compressible text\r\n"[i % 28]);
	for (size_t c = 0; c < 2; c++) {
		struct store_blob *b = open_blob(codecs[c]);
		text[0] = (uint8_t)('0' + c); /* distinct content per codec */
		struct store_blob_id id = put_blob(b, ACCT_A, text, n, 0);
		struct core_buf got = CORE_BUF_INIT;
		ck_assert_int_eq(read_range(b, ACCT_A, &id, 0, UINT64_MAX, &got), 0);
		ck_assert_uint_eq(got.len, n);
		ck_assert(memcmp(got.p, text, n) == 0);
		ck_assert_int_eq(read_range(b, ACCT_A, &id, STORE_CHUNK_SIZE + 3, 100, &got), 0);
		ck_assert(memcmp(got.p, text + STORE_CHUNK_SIZE + 3, 100) == 0);
		/* Uncompressed readers read compressed chunks: the codec is per chunk. */
		ck_assert_int_eq(read_range(bs, ACCT_A, &id, 0, UINT64_MAX, &got), 0);
		ck_assert_uint_eq(got.len, n);
		ck_assert(memcmp(got.p, text, n) == 0);
		uint64_t size = 0;
		ck_assert_int_eq(store_blob_size(bs, ACCT_A, &id, &size, NULL), 0);
		ck_assert_uint_eq(size, n);
		/* A range starting in the last, partial frame and one past the end. */
		ck_assert_int_eq(read_range(b, ACCT_A, &id, n - 50, 1000, &got), 0);
		ck_assert_uint_eq(got.len, 50);
		ck_assert(memcmp(got.p, text + n - 50, 50) == 0);
		ck_assert_int_eq(read_range(b, ACCT_A, &id, n + 1, 10, &got), 0);
		ck_assert_uint_eq(got.len, 0);
		if (strcmp(store_test_env->blob_backend, "fs") == 0) {
			/* The file on disk is compressed, and smaller than the content. */
			struct stat st;
			ck_assert_int_eq(stat(fs_file_of(&id), &st), 0);
			ck_assert_uint_lt((uint64_t)st.st_size, n / 4);
		}
		core_buf_fini(&got);
		store_blob_free(&b);
	}
	/* Content that does not compress (random) and content written uncompressed earlier
	 * are read back the same through a compressing store. */
	uint8_t *rnd = core_xmalloc(n);
	pattern(rnd, n, 77);
	struct store_blob_id rid = put_blob(bs, ACCT_A, rnd, n, 0);
	struct store_blob *z = open_blob("zstd");
	struct store_blob_id zid = put_blob(z, ACCT_A, rnd + 1, n - 1, 0);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(z, ACCT_A, &rid, 100, 150000, &got), 0);
	ck_assert_uint_eq(got.len, 150000);
	ck_assert(memcmp(got.p, rnd + 100, got.len) == 0);
	ck_assert_int_eq(read_range(z, ACCT_A, &zid, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, n - 1);
	ck_assert(memcmp(got.p, rnd + 1, got.len) == 0);
	/* Uncompressed content that starts like a compressed file's header is still read as
	 * it is (the header must name the file's own hash). */
	static const uint8_t magic[8] = {0x89, 'S', 'B', 'L', 'O', 'B', '\r', '\n'};
	memcpy(rnd, magic, sizeof(magic));
	rnd[8] = 1;
	rnd[9] = 1;
	struct store_blob_id mid = put_blob(bs, ACCT_A, rnd, 5000, 0);
	ck_assert_int_eq(read_range(z, ACCT_A, &mid, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, 5000);
	ck_assert(memcmp(got.p, rnd, 5000) == 0);
	if (strcmp(store_test_env->blob_backend, "fs") == 0) {
		/* A damaged compressed file is an error, not a crash or a short read. */
		const char *f = fs_file_of(&zid);
		struct stat st;
		ck_assert_int_eq(stat(f, &st), 0);
		ck_assert_int_eq(truncate(f, st.st_size / 2), 0);
		ck_assert_int_lt(read_range(z, ACCT_A, &zid, 0, UINT64_MAX, &got), 0);
	}
	core_buf_fini(&got);
	store_blob_free(&z);
	free(rnd);
	struct store_params p = {.compression = "brotli"};
	struct store_blob *b = NULL;
	ck_assert_int_eq(
		store_blob_open(store_test_env->blob_backend, &p, store_test_data, &b, NULL),
		CORE_ESYNTAX);
	free(text);
}
END_TEST

static uint64_t links_of(const struct store_blob_id *id)
{
	struct store_txn *t = NULL;
	uint64_t n = 0;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_blob_links_count_txn(bs, t, id, &n, NULL), 0);
	store_txn_abort(&t);
	return n;
}

/* docs/storage.md: links made and dropped inside the caller's data transaction commit or
 * vanish with it. */
START_TEST(blob_link_in_caller_txn)
{
	const char *x = "From: a@example.org\r\n\r\nlinked in a transaction\r\n";
	struct store_blob_id id = put_blob(bs, ACCT_A, x, strlen(x), 100);
	ck_assert(store_blob_meta_is(bs, store_test_data));
	struct core_error err;
	core_error_clear(&err);
	struct store_txn *t = NULL;
	/* A read transaction cannot link. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_A, &id, "m/1", &err),
			 CORE_ESYNTAX);
	store_txn_abort(&t);
	/* Aborted: the link and the record written beside it are both gone. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "rec-1", 5, "x", 1, NULL), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_A, &id, "m/1", &err), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_A, &id, "", &err), CORE_ESYNTAX);
	store_txn_abort(&t);
	ck_assert_uint_eq(links_of(&id), 0);
	/* Committed: both there. A link into account B, made with A's access, gives B access
	 * without any reservation of its own. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_txn_put(t, "rec-1", 5, "x", 1, NULL), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_A, &id, "m/1", &err), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_B, &id, "m/5", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_uint_eq(links_of(&id), 2);
	ck_assert_int_eq(store_blob_access(bs, ACCT_B, &id, NULL), 0);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, strlen(x));
	/* An account without access cannot lend it. */
	const char *y = "content only A holds";
	struct store_blob_id other = put_blob(bs, ACCT_A, y, strlen(y), 0);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_B, ACCT_B, &other, "m/6", &err),
			 CORE_EPERM);
	store_txn_abort(&t);
	/* Unlink with the record: aborted keeps the link, committed drops it. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_txn_delete(t, "rec-1", 5, NULL), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_A, &id, "m/1", &err), 0);
	store_txn_abort(&t);
	ck_assert_uint_eq(links_of(&id), 2);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_txn_delete(t, "rec-1", 5, NULL), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_A, &id, "m/1", &err), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_A, &id, "m/1", &err), CORE_ENOTFOUND);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_uint_eq(links_of(&id), 1);
	/* B's link alone keeps the content through purge once A's reservation expired. */
	usleep(250 * 1000);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	size_t before = content_count();
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 0);
	ck_assert_uint_eq(content_count(), before);
	/* The last link goes: the next purge removes the content. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_B, &id, "m/5", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_uint_eq(links_of(&id), 0);
	ck_assert_int_eq(store_blob_purge(bs, 0, NULL), 1);
	ck_assert_uint_eq(content_count(), before - 1);
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 0, UINT64_MAX, &got), CORE_EPERM);
	core_buf_fini(&got);
}
END_TEST

/* store_blob_write_finish_content: durable content that nobody may reach until a
 * reservation commits in the caller's transaction (the delivery path's single commit). */
START_TEST(blob_reserve_in_caller_txn)
{
	const char *x = "From: a@example.org\r\n\r\nreserved in a transaction\r\n";
	struct core_error err;
	core_error_clear(&err);
	struct store_blob_writer *w = NULL;
	struct store_blob_id id;
	ck_assert_int_eq(store_blob_write_begin(bs, &w, &err), 0);
	ck_assert_int_eq(store_blob_write(w, x, strlen(x), &err), 0);
	ck_assert_int_eq(store_blob_write_finish_content(&w, &id, &err), 0);
	ck_assert_ptr_null(w);
	/* Content is there, but no account has access yet. */
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, &err), 0);
	ck_assert_uint_eq(size, strlen(x));
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_blob_reserve_txn(bs, t, ACCT_A, &id, 0, &err), CORE_ESYNTAX);
	store_txn_abort(&t);
	/* Aborted with the link beside it: still nothing. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_reserve_txn(bs, t, ACCT_A, &id, 0, &err), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_B, &id, "m/7", &err), 0);
	store_txn_abort(&t);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	ck_assert_uint_eq(links_of(&id), 0);
	/* Without the reservation the link is refused (no access to lend). */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_B, &id, "m/7", &err), CORE_EPERM);
	store_txn_abort(&t);
	/* Committed: the reservation grants A access and the link B. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_reserve_txn(bs, t, ACCT_A, &id, 0, &err), 0);
	ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_B, &id, "m/7", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), 0);
	ck_assert_int_eq(store_blob_access(bs, ACCT_B, &id, NULL), 0);
	ck_assert_uint_eq(links_of(&id), 1);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, strlen(x));
	ck_assert(memcmp(got.p, x, got.len) == 0);
	core_buf_fini(&got);
}
END_TEST

struct find_hash {
	const struct store_blob_id *id;
	int n;
};

static int find_hash_cb(void *arg, const uint8_t hash[STORE_HASH_LEN], uint64_t created_ms)
{
	(void)created_ms;
	struct find_hash *f = arg;
	if (memcmp(hash, f->id->hash, STORE_HASH_LEN) == 0)
		f->n++;
	return 0;
}

static int listed(const struct store_blob_id *id)
{
	struct find_hash f = {id, 0};
	ck_assert_int_ge(store_blob_content_list(bs, find_hash_cb, &f, NULL), 0);
	return f.n;
}

/* Reopen the fixture's blob store with store.blob.inline-max = inline_max. */
static void blob_reopen_inline(uint64_t inline_max)
{
	struct core_error err;
	core_error_clear(&err);
	store_blob_free(&bs);
	struct store_params p = {0};
	p.path = blob_dir;
	p.inline_max = inline_max;
	ck_assert_msg(
		store_blob_open(store_test_env->blob_backend, &p, store_test_data, &bs, &err) == 0,
		"%s", err.msg);
}

/* store.blob.inline-max: small content written in the caller's transaction is visible,
 * readable, listed and purged exactly like content of the backend, and exists only once that
 * transaction committed. */
START_TEST(blob_inline_in_caller_txn)
{
	struct core_error err;
	core_error_clear(&err);
	const char *x = "From: a@example.org\r\n\r\ninlined in a transaction\r\n";
	struct store_blob_id id;
	struct store_txn *t = NULL;
	/* Off by default: always refused. */
	ck_assert_uint_eq(store_blob_inline_max(bs), 0);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn(bs, t, x, strlen(x), &id, &err), CORE_ELIMIT);
	store_txn_abort(&t);
	blob_reopen_inline(4096);
	ck_assert_uint_eq(store_blob_inline_max(bs), 4096);
	size_t files = content_count();
	static char big[5000];
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn(bs, t, big, sizeof(big), &id, &err), CORE_ELIMIT);
	store_txn_abort(&t);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn(bs, t, x, strlen(x), &id, &err), CORE_ESYNTAX);
	store_txn_abort(&t);
	/* Aborted: no content. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn(bs, t, x, strlen(x), &id, &err), 0);
	ck_assert_int_eq(store_blob_reserve_txn(bs, t, ACCT_A, &id, 100, &err), 0);
	store_txn_abort(&t);
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, NULL), CORE_ENOTFOUND);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	/* Committed with its reservation and a link into B. Written twice: stored once. */
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
		ck_assert_int_eq(store_blob_put_txn(bs, t, x, strlen(x), &id, &err), 0);
		ck_assert_int_eq(store_blob_reserve_txn(bs, t, ACCT_A, &id, 100, &err), 0);
		ck_assert_int_eq(store_blob_link_txn(bs, t, ACCT_A, ACCT_B, &id, "m/9", &err), 0);
		ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	}
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, &err), 0);
	ck_assert_uint_eq(size, strlen(x));
	ck_assert_int_eq(store_blob_size(bs, ACCT_B, &id, &size, &err), 0);
	ck_assert_uint_eq(size, strlen(x));
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, strlen(x));
	ck_assert(memcmp(got.p, x, got.len) == 0);
	core_buf_reset(&got);
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 6, 10, &got), 0);
	ck_assert_uint_eq(got.len, 10);
	ck_assert(memcmp(got.p, x + 6, 10) == 0);
	/* Listed (an export finds it); no blob file for it. */
	ck_assert_int_eq(listed(&id), 1);
	if (strcmp(store_test_env->blob_backend, "fs") == 0)
		ck_assert_uint_eq(content_count(), files);
	/* Referenced by B's link: purge keeps it after A's reservation expired. */
	usleep(250 * 1000);
	ck_assert_int_eq(store_blob_purge(bs, 0, &err), 0);
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, &err), 0);
	/* The last link goes: purge removes it. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_B, &id, "m/9", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_int_eq(store_blob_purge(bs, 0, &err), 1);
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, NULL), CORE_ENOTFOUND);
	ck_assert_int_eq(listed(&id), 0);
	core_buf_reset(&got);
	ck_assert_int_eq(read_range(bs, ACCT_B, &id, 0, UINT64_MAX, &got), CORE_EPERM);
	core_buf_fini(&got);
}
END_TEST

/* A delivery's inline content: its id computed outside the transaction
 * (store_blob_id_of, the same id store_blob_put_txn gives), written and linked in one
 * transaction with no reservation (store_blob_link_own_txn). The link grants access to its
 * account only; another account still gets EPERM; aborted, nothing stays. */
START_TEST(blob_inline_own_link)
{
	struct core_error err;
	core_error_clear(&err);
	blob_reopen_inline(4096);
	const char *x = "From: own@example.org\r\n\r\nlinked by its own transaction\r\n";
	struct store_blob_id id, id2;
	ck_assert_int_eq(store_blob_id_of(x, strlen(x), &id, &err), 0);
	struct store_txn *t = NULL;
	/* Aborted: neither content nor access. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn_id(bs, t, x, strlen(x), &id, &err), 0);
	ck_assert_int_eq(store_blob_link_own_txn(bs, t, ACCT_A, &id, "m/1", &err), 0);
	store_txn_abort(&t);
	uint64_t size = 0;
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, NULL), CORE_ENOTFOUND);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, NULL), CORE_EPERM);
	/* Committed: A reads it back whole, B has no access. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn_id(bs, t, x, strlen(x), &id, &err), 0);
	ck_assert_int_eq(store_blob_link_own_txn(bs, t, ACCT_A, &id, "m/1", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_int_eq(store_blob_access(bs, ACCT_A, &id, &err), 0);
	ck_assert_int_eq(store_blob_access(bs, ACCT_B, &id, NULL), CORE_EPERM);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_int_eq(read_range(bs, ACCT_A, &id, 0, UINT64_MAX, &got), 0);
	ck_assert_uint_eq(got.len, strlen(x));
	ck_assert(memcmp(got.p, x, got.len) == 0);
	core_buf_fini(&got);
	/* The same id as a put that hashes the content itself. */
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_put_txn(bs, t, x, strlen(x), &id2, &err), 0);
	store_txn_abort(&t);
	ck_assert(memcmp(id.hash, id2.hash, STORE_HASH_LEN) == 0);
	/* The link keeps it through a purge; without it, purge removes it. */
	ck_assert_int_eq(store_blob_purge(bs, 0, &err), 0);
	ck_assert_int_eq(store_txn_begin(store_test_data, STORE_TXN_WRITE, &t, NULL), 0);
	ck_assert_int_eq(store_blob_unlink_txn(bs, t, ACCT_A, &id, "m/1", &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
	ck_assert_int_eq(store_blob_purge(bs, 0, &err), 1);
	ck_assert_int_eq(store_blob_content_size(bs, id.hash, &size, NULL), CORE_ENOTFOUND);
}
END_TEST

Suite *store_suite_blob(void)
{
	Suite *s = suite_create("blob");
	TCase *tc = tcase_create("blob");
	tcase_add_checked_fixture(tc, blob_setup, blob_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, blob_put_get_range);
	tcase_add_test(tc, blob_empty_and_abort);
	tcase_add_test(tc, blob_dedup_and_references);
	tcase_add_test(tc, blob_reservation_expiry_and_purge);
	tcase_add_test(tc, blob_crash_leftovers_purged);
	tcase_add_test(tc, blob_account_scoped);
	tcase_add_test(tc, blob_50mb_stream);
	tcase_add_test(tc, blob_compression);
	tcase_add_test(tc, blob_link_in_caller_txn);
	tcase_add_test(tc, blob_reserve_in_caller_txn);
	tcase_add_test(tc, blob_inline_in_caller_txn);
	tcase_add_test(tc, blob_inline_own_link);
	suite_add_tcase(s, tc);
	return s;
}
