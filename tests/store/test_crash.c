/*
 * test_crash.c: crash safety of the stores (issue 3, ARCHITECTURE.md §4: "durability is
 * proven, not assumed").
 *
 * A writer process (this binary re-executed with "writer BACKEND DIR COUNT") commits a
 * stream of transactions and prints "ACK <i>" after each acknowledged commit. Each
 * transaction writes a chunked value (several keys) and a small marker key, or for the
 * filesystem blob store one blob. Two checks per backend:
 *   - kill -9: the writer is killed in the middle of the stream; the store is reopened and
 *     every acknowledged transaction must be there in full, and no transaction may be
 *     visible in part (the one in flight may be absent or complete, never half);
 *   - strace: the writer runs under `strace -f -y -e trace=fsync,fdatasync,write` and the
 *     trace must show, before each acknowledgement and after the previous one, a sync of
 *     the store's log (RocksDB WAL, SQLite WAL) or, for blob files, of the data file and of
 *     the directory that received its name. A killed process leaves the page cache intact,
 *     so only this second check shows that acknowledged data reached the disk.
 * PostgreSQL syncs in the server, not in the client: it gets the kill -9 check (when
 * STAUNCH_TEST_PG is set) with its durability resting on synchronous_commit, which the
 * backend sets on every connection.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "helper_store.h"
#include "store/store.h"

#define BIG_LEN (3u * STORE_CHUNK_SIZE + 123u)

static char self_exe[4096];

static void pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 11;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 29);
	}
}

static void backend_params(const char *backend, const char *dir, struct store_params *p, char *path,
			   size_t pathlen)
{
	memset(p, 0, sizeof(*p));
	if (strcmp(backend, "rocksdb") == 0 || strcmp(backend, "fs") == 0)
		snprintf(path, pathlen, "%s/db", dir);
	else if (strcmp(backend, "sqlite") == 0)
		snprintf(path, pathlen, "%s/db.sqlite", dir);
	else
		path[0] = '\0';
	p->path = path;
	p->conninfo = getenv("STAUNCH_TEST_PG");
}

/* ---------------------------------------------------------------- the writer process */

static void ack(unsigned long i, const char *extra)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "ACK %lu %s\n", i, extra);
	if (write(1, line, (size_t)n) != n)
		_exit(3);
}

static int writer_main(const char *backend, const char *dir, unsigned long count)
{
	char path[1024];
	struct store_params p;
	backend_params(backend, dir, &p, path, sizeof(path));
	struct core_error err;
	core_error_clear(&err);
	bool blobs = strcmp(backend, "fs") == 0;
	struct store_data *d = NULL;
	if (store_data_open(blobs ? "rocksdb" : backend, &p, &d, &err) < 0) {
		fprintf(stderr, "writer: open: %s\n", err.msg);
		return 2;
	}
	struct store_blob *b = NULL;
	char blobdir[1100];
	if (blobs) {
		snprintf(blobdir, sizeof(blobdir), "%s/blobs", dir);
		struct store_params bp = {.path = blobdir};
		if (store_blob_open("fs", &bp, d, &b, &err) < 0) {
			fprintf(stderr, "writer: blob open: %s\n", err.msg);
			return 2;
		}
	}
	uint8_t *big = core_xmalloc(BIG_LEN);
	for (unsigned long i = 0; count == 0 || i < count; i++) {
		pattern(big, BIG_LEN, i);
		if (blobs) {
			struct store_blob_writer *w = NULL;
			struct store_blob_id id;
			if (store_blob_write_begin(b, &w, &err) < 0 ||
			    store_blob_write(w, big, BIG_LEN, &err) < 0 ||
			    store_blob_write_finish(&w, 1, 0, &id, &err) < 0) {
				fprintf(stderr, "writer: blob %lu: %s\n", i, err.msg);
				return 2;
			}
			char text[STORE_BLOB_ID_TEXT + 1];
			store_blob_id_format(&id, text);
			ack(i, text);
			continue;
		}
		char ka[32], kb[32], vb[32];
		int la = snprintf(ka, sizeof(ka), "a/%08lu", i);
		int lb = snprintf(kb, sizeof(kb), "b/%08lu", i);
		int lv = snprintf(vb, sizeof(vb), "marker-%lu", i);
		struct store_txn *t = NULL;
		int rc = store_txn_begin(d, STORE_TXN_WRITE, &t, &err);
		if (rc == 0)
			rc = store_txn_put(t, ka, (size_t)la, big, BIG_LEN, &err);
		if (rc == 0)
			rc = store_txn_put(t, kb, (size_t)lb, vb, (size_t)lv, &err);
		if (rc == 0)
			rc = store_txn_commit(&t, &err);
		if (rc < 0) {
			store_txn_abort(&t);
			fprintf(stderr, "writer: txn %lu: %s\n", i, err.msg);
			_exit(2); /* as a crashed writer would: no clean-up, no leak report */
		}
		ack(i, "-");
	}
	free(big);
	store_blob_free(&b);
	store_data_free(&d);
	return 0;
}

/* ---------------------------------------------------------------- parent side */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void make_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/staunch-crash-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void pg_reset(void)
{
	store_test_pg_reset(getenv("STAUNCH_TEST_PG"));
}

/* Start argv with stdout on a pipe; returns the pid and the read end. */
static pid_t spawn(char *const argv[], int *fd_out)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*fd_out = p[0];
	return pid;
}

struct acks {
	unsigned long n;   /* acknowledgements read */
	char ids[512][80]; /* blob ids of the first 512 (fs) */
};

/* Read ACK lines until want acks arrived (0: until EOF). */
static void read_acks(int fd, unsigned long want, struct acks *a)
{
	char buf[256];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			unsigned long i;
			char extra[80];
			if (sscanf(buf, "ACK %lu %79s", &i, extra) == 2) {
				ck_assert_uint_eq(i, a->n);
				if (i < 512)
					snprintf(a->ids[i], sizeof(a->ids[i]), "%s", extra);
				a->n++;
			}
			size_t rest = have - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, rest);
			have = rest;
			buf[have] = '\0';
		}
		if (want > 0 && a->n >= want)
			return;
	}
}

/* After a crash: every acknowledged transaction complete, nothing partial anywhere. */
static void verify_data(const char *backend, const char *dir, const struct acks *a)
{
	char path[1024];
	struct store_params p;
	backend_params(backend, dir, &p, path, sizeof(path));
	struct store_data *d = NULL;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_data_open(backend, &p, &d, &err) == 0, "reopen: %s", err.msg);
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(d, STORE_TXN_READ, &t, &err), 0);
	uint8_t *big = core_xmalloc(BIG_LEN);
	struct core_buf v = CORE_BUF_INIT, m = CORE_BUF_INIT;
	/* Acknowledged ones, then the one in flight and a few beyond (must be all-or-none). */
	for (unsigned long i = 0; i < a->n + 3; i++) {
		char ka[32], kb[32], want[32];
		int la = snprintf(ka, sizeof(ka), "a/%08lu", i);
		int lb = snprintf(kb, sizeof(kb), "b/%08lu", i);
		snprintf(want, sizeof(want), "marker-%lu", i);
		int ra = store_txn_get(t, ka, (size_t)la, &v, &err);
		int rb = store_txn_get(t, kb, (size_t)lb, &m, &err);
		if (i < a->n) {
			ck_assert_msg(ra == 0 && rb == 0, "acknowledged txn %lu lost (%d %d)", i,
				      ra, rb);
		} else {
			ck_assert_msg((ra == 0) == (rb == 0), "txn %lu half visible", i);
			if (ra != 0) {
				ck_assert_int_eq(ra, CORE_ENOTFOUND);
				continue;
			}
		}
		pattern(big, BIG_LEN, i);
		ck_assert_uint_eq(v.len, BIG_LEN);
		ck_assert_msg(memcmp(v.p, big, BIG_LEN) == 0, "txn %lu value damaged", i);
		ck_assert_str_eq(core_buf_cstr(&m), want);
	}
	store_txn_abort(&t);
	core_buf_fini(&v);
	core_buf_fini(&m);
	free(big);
	store_data_free(&d);
}

static int sink_sha(void *arg, const void *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
	return 0;
}

static int check_blob_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	const char *name = strrchr(path, '/') + 1;
	if (flag != FTW_F || strlen(name) != 64)
		return 0;
	/* A file under its final name holds exactly the content its name hashes. */
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	uint8_t buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, n);
	fclose(f);
	uint8_t h[32];
	unsigned hl;
	EVP_DigestFinal_ex(ctx, h, &hl);
	EVP_MD_CTX_free(ctx);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	ck_assert_msg(strcmp(hex, name) == 0, "blob file %s is not its content", name);
	return 0;
}

static void verify_blobs(const char *dir, const struct acks *a)
{
	char path[1024], blobdir[1100];
	struct store_params p;
	backend_params("fs", dir, &p, path, sizeof(path));
	struct store_data *d = NULL;
	struct core_error err;
	core_error_clear(&err);
	ck_assert_msg(store_data_open("rocksdb", &p, &d, &err) == 0, "reopen: %s", err.msg);
	snprintf(blobdir, sizeof(blobdir), "%s/blobs", dir);
	struct store_params bp = {.path = blobdir};
	struct store_blob *b = NULL;
	ck_assert_int_eq(store_blob_open("fs", &bp, d, &b, &err), 0);
	uint8_t *big = core_xmalloc(BIG_LEN);
	for (unsigned long i = 0; i < a->n && i < 512; i++) {
		struct store_blob_id id;
		ck_assert_int_eq(store_blob_id_parse(a->ids[i], strlen(a->ids[i]), &id), 0);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		int rc = store_blob_read(b, 1, &id, 0, UINT64_MAX, sink_sha, ctx, &err);
		ck_assert_msg(rc == 0, "acknowledged blob %lu: %s", i, err.msg);
		uint8_t h[32];
		unsigned hl;
		EVP_DigestFinal_ex(ctx, h, &hl);
		EVP_MD_CTX_free(ctx);
		ck_assert(memcmp(h, id.hash, 32) == 0);
	}
	free(big);
	nftw(blobdir, check_blob_file, 16, FTW_PHYS);
	store_blob_free(&b);
	store_data_free(&d);
}

static void run_kill9(const char *backend)
{
	char dir[256];
	make_dir(dir, sizeof(dir));
	if (strcmp(backend, "postgresql") == 0)
		pg_reset();
	char *argv[] = {self_exe, "writer", (char *)backend, dir, "0", NULL};
	int fd;
	pid_t pid = spawn(argv, &fd);
	struct acks *a = core_xcalloc(1, sizeof(*a));
	/* Let a stream of commits build up, then kill without warning mid-stream. */
	read_acks(fd, 40, a);
	ck_assert_uint_ge(a->n, 40);
	kill(pid, SIGKILL);
	read_acks(fd, 0, a); /* acknowledgements already in the pipe count too */
	close(fd);
	int st;
	waitpid(pid, &st, 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	if (strcmp(backend, "fs") == 0)
		verify_blobs(dir, a);
	else
		verify_data(backend, dir, a);
	free(a);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(crash_kill9_rocksdb)
{
	run_kill9("rocksdb");
}
END_TEST

START_TEST(crash_kill9_sqlite)
{
	run_kill9("sqlite");
}
END_TEST

START_TEST(crash_kill9_fs)
{
	run_kill9("fs");
}
END_TEST

START_TEST(crash_kill9_postgresql)
{
	if (getenv("STAUNCH_TEST_PG") == NULL) {
		printf("SKIP: STAUNCH_TEST_PG unset, PostgreSQL crash case not run\n");
		return;
	}
	run_kill9("postgresql");
}
END_TEST

START_TEST(crash_kill9_postgresql_server)
{
	/* The server itself dies (kill -9 of the postmaster and its children) in the middle of
	 * acknowledged commits; after crash recovery every acknowledged commit is there. */
	const char *pgdir = getenv("STAUNCH_TEST_PG_DIR");
	if (getenv("STAUNCH_TEST_PG") == NULL || pgdir == NULL) {
		printf("SKIP: STAUNCH_TEST_PG or STAUNCH_TEST_PG_DIR unset, PostgreSQL server "
		       "crash case not run\n");
		return;
	}
	char dir[256], pidfile[600], cmd[1200];
	make_dir(dir, sizeof(dir));
	pg_reset();
	char *argv[] = {self_exe, "writer", "postgresql", dir, "0", NULL};
	int fd;
	pid_t pid = spawn(argv, &fd);
	struct acks *a = core_xcalloc(1, sizeof(*a));
	read_acks(fd, 40, a);
	snprintf(pidfile, sizeof(pidfile), "%s/data/postmaster.pid", pgdir);
	FILE *pf = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(pf);
	long pm = 0;
	ck_assert_int_eq(fscanf(pf, "%ld", &pm), 1);
	fclose(pf);
	/* SIGKILL the postmaster (no clean shutdown, no checkpoint); its backends notice the
	 * postmaster's death and exit on their own. */
	snprintf(cmd, sizeof(cmd), "kill -9 %ld; sleep 1", pm);
	ck_assert_int_eq(system(cmd), 0);
	read_acks(fd, 0, a); /* the writer fails on its next commit and exits */
	close(fd);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "writer did not stop with an error");
	/* A killed postmaster leaves its pid file and socket lock behind (and may linger as a
	 * zombie that fools the liveness check): remove them so the restart proceeds. */
	unlink(pidfile);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/.s.PGSQL.*.lock", pgdir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/ci/pg.sh start '%s' >/dev/null 2>&1", STAUNCH_SOURCE_DIR,
		 pgdir);
	ck_assert_int_eq(system(cmd), 0);
	verify_data("postgresql", dir, a);
	free(a);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* ---------------------------------------------------------------- strace */

static bool path_is_dir_sync(const char *line)
{
	/* "fsync(5</tmp/x/blobs/ab/cd>)": the fd's path ends with /xx/yy (the leaf dir). */
	const char *lt = strchr(line, '<');
	const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (lt == NULL || gt == NULL || gt - lt < 7)
		return false;
	const char *e = gt;
	return e[-3] == '/' && e[-6] == '/' && strstr(lt, "/blobs/") != NULL &&
	       strstr(lt, "/blobs/tmp") == NULL;
}

static void run_strace(const char *backend, const char *const need[], size_t nneed)
{
	if (access("/usr/bin/strace", X_OK) != 0)
		ck_abort_msg("strace is not installed (ci/setup.sh installs it)");
	char dir[256], trace[512];
	make_dir(dir, sizeof(dir));
	snprintf(trace, sizeof(trace), "%s/strace.out", dir);
	/* LeakSanitizer cannot run under ptrace: switch it off for the traced writer. */
	char *argv[] = {"/usr/bin/strace",
			"-f",
			"-y",
			"-qq",
			"-E",
			"ASAN_OPTIONS=detect_leaks=0",
			"-e",
			"trace=fsync,fdatasync,write",
			"-o",
			trace,
			self_exe,
			"writer",
			(char *)backend,
			dir,
			"25",
			NULL};
	int fd;
	pid_t pid = spawn(argv, &fd);
	struct acks *a = core_xcalloc(1, sizeof(*a));
	read_acks(fd, 0, a);
	close(fd);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer under strace failed");
	ck_assert_uint_eq(a->n, 25);
	FILE *f = fopen(trace, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	bool seen[8] = {false};
	unsigned long acks = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		bool is_sync = strstr(line, "fsync(") != NULL || strstr(line, "fdatasync(") != NULL;
		if (is_sync && strstr(line, "= 0") != NULL) {
			for (size_t i = 0; i < nneed; i++) {
				if (strcmp(need[i], "<blobdir>") == 0)
					seen[i] = seen[i] || path_is_dir_sync(line);
				else if (strstr(line, need[i]) != NULL)
					seen[i] = true;
			}
		}
		if (strstr(line, "write(1<pipe:") != NULL && strstr(line, "\"ACK ") != NULL) {
			for (size_t i = 0; i < nneed; i++)
				ck_assert_msg(seen[i], "%s: ack %lu without a sync of %s before it",
					      backend, acks, need[i]);
			memset(seen, 0, sizeof(seen));
			acks++;
		}
	}
	fclose(f);
	ck_assert_uint_eq(acks, 25);
	free(a);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(crash_strace_rocksdb)
{
	/* The write-ahead log (NNNNNN.log) is synced before each commit returns. */
	const char *need[] = {".log>"};
	run_strace("rocksdb", need, 1);
}
END_TEST

START_TEST(crash_strace_sqlite)
{
	const char *need[] = {"db.sqlite-wal>"};
	run_strace("sqlite", need, 1);
}
END_TEST

START_TEST(crash_strace_fs)
{
	/* The blob's data (temp file), the directory that received its name, and the meta
	 * store's log (the reservation that acknowledges it). */
	const char *need[] = {"/blobs/tmp/blob-", "<blobdir>", ".log>"};
	run_strace("fs", need, 3);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "writer") == 0)
		return writer_main(argv[2], argv[3], strtoul(argv[4], NULL, 10));
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = '\0';
	/* A database of this binary alone (the writer inherits it through the environment). */
	if (getenv("STAUNCH_TEST_PG") != NULL)
		setenv("STAUNCH_TEST_PG", store_test_pg_conninfo("staunch_test_crash"), 1);
	Suite *s = suite_create("crash");
	TCase *k = tcase_create("kill9");
	tcase_set_timeout(k, 240);
	tcase_add_test(k, crash_kill9_rocksdb);
	tcase_add_test(k, crash_kill9_sqlite);
	tcase_add_test(k, crash_kill9_fs);
	tcase_add_test(k, crash_kill9_postgresql);
	tcase_add_test(k, crash_kill9_postgresql_server);
	suite_add_tcase(s, k);
	TCase *tr = tcase_create("strace");
	tcase_set_timeout(tr, 240);
	tcase_add_test(tr, crash_strace_rocksdb);
	tcase_add_test(tr, crash_strace_sqlite);
	tcase_add_test(tr, crash_strace_fs);
	suite_add_tcase(s, tr);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
