/*
 * test_delivery.c: the spool (Return-Path line, mapping, write errors) and local delivery
 * through the directory into the mail store: aliases, subaddresses, lists with remote
 * members, catch-all, one copy per account, per-recipient quota outcomes (RFC 9208 §5.1),
 * byte-exact content, and a package without a mail store.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_arena.h"
#include "delivery/delivery.h"
#include "directory/directory.h"
#include "mailstore/mailstore.h"
#include "store/store.h"

static char tmp[64];
static struct store_data *data;
static struct store_blob *blob;
static struct dir *d;
static struct mailstore *ms;
static struct delivery *dv;
static struct core_arena *a;
static struct core_error err;

static void create(const struct dir_principal *p)
{
	const char *id = NULL;
	int r = dir_principal_create(d, p, a, &id, &err);
	ck_assert_msg(r == 0, "create %s: %s", p->name, err.msg);
}

/* Blob store of the fixture: content in the sqlite data store, or (docs/storage.md
 * "Throughput and durability") fs files with messages up to INLINE_MAX written into the
 * delivery transaction. */
#define INLINE_MAX 2048u
static bool fs_inline;

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/staunch-delivery.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	char path[128];
	snprintf(path, sizeof(path), "%s/data.db", tmp);
	struct store_params p = {.path = path, .no_sync = true};
	core_error_clear(&err);
	ck_assert_msg(store_data_open("sqlite", &p, &data, &err) == 0, "%s", err.msg);
	char bpath[128];
	snprintf(bpath, sizeof(bpath), "%s/blobs", tmp);
	struct store_params bp = {.path = bpath, .no_sync = true, .inline_max = INLINE_MAX};
	if (fs_inline)
		ck_assert_msg(store_blob_open("fs", &bp, data, &blob, &err) == 0, "%s", err.msg);
	else
		ck_assert_msg(store_blob_open("sqlite", &p, data, &blob, &err) == 0, "%s", err.msg);
	ck_assert_msg(dir_open("internal", NULL, data, &d, &err) == 0, "%s", err.msg);
	ck_assert_msg(mailstore_open(data, blob, NULL, &ms, &err) == 0, "%s", err.msg);
	dv = delivery_new(d, ms);
	a = core_arena_new(0);
	create(&(struct dir_principal){.type = DIR_DOMAIN, .name = "example.org"});
	create(&(struct dir_principal){
		.type = DIR_DOMAIN, .name = "catch.test", .catch_all = "bob@example.org"});
	static const char *al[] = {"al@example.org"};
	create(&(struct dir_principal){.type = DIR_INDIVIDUAL,
				       .name = "alice",
				       .address = "alice@example.org",
				       .aliases = al,
				       .n_aliases = 1});
	create(&(struct dir_principal){
		.type = DIR_INDIVIDUAL, .name = "bob", .address = "bob@example.org"});
	/* RFC 9208: a quota in the directory, smaller than any message. */
	create(&(struct dir_principal){.type = DIR_INDIVIDUAL,
				       .name = "carol",
				       .address = "carol@example.org",
				       .quota_bytes = 10});
	static const char *members[] = {"alice@example.org", "bob@example.org", "ext@remote.test"};
	create(&(struct dir_principal){.type = DIR_LIST,
				       .name = "team",
				       .address = "team@example.org",
				       .members = members,
				       .n_members = 3});
}

static void setup_inline(void)
{
	fs_inline = true;
	setup();
}

static void setup_sqlite(void)
{
	fs_inline = false;
	setup();
}

static void teardown(void)
{
	delivery_free(&dv);
	delivery_spool_pool_clear();
	mailstore_free(&ms);
	dir_free(&d);
	store_blob_free(&blob);
	store_data_free(&data);
	core_arena_free(&a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmp);
}

static uint64_t account_of(const char *name)
{
	struct dir_principal *p = NULL;
	ck_assert_int_eq(dir_principal_by_name(d, core_str_from_cstr(name), a, &p, &err), 0);
	uint64_t id = 0;
	ck_assert_int_eq(dir_account_id(d, p, &id, &err), 0);
	return id;
}

struct collect {
	uint64_t ids[16];
	size_t n;
};

static int uid_cb(void *arg, uint32_t uid, uint64_t email_id, uint64_t modseq)
{
	struct collect *c = arg;
	(void)uid;
	(void)modseq;
	if (c->n < CORE_NELEM(c->ids))
		c->ids[c->n++] = email_id;
	return 0;
}

static int read_cb(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

/* The INBOX messages of an account; the content of the first into out. */
static size_t inbox(const char *name, struct core_buf *out)
{
	uint64_t acct = account_of(name), mb = 0;
	int r = mailstore_mailbox_find_role(ms, acct, MAILSTORE_ROLE_INBOX, &mb, &err);
	if (r == CORE_ENOTFOUND)
		return 0;
	ck_assert_int_eq(r, 0);
	struct collect c = {.n = 0};
	ck_assert_int_ge(mailstore_mailbox_uids(ms, acct, mb, 1, 0, uid_cb, &c, &err), 0);
	if (c.n > 0 && out != NULL) {
		struct mailstore_email e;
		ck_assert_int_eq(mailstore_email_get(ms, acct, c.ids[0], a, &e, &err), 0);
		ck_assert_int_eq(
			store_blob_read(blob, acct, &e.blob, 0, UINT64_MAX, read_cb, out, &err), 0);
	}
	return c.n;
}

/* Spool a message with a Return-Path line and map it. */
static void spool(struct delivery_spool *sp, const char *rp, const char *msg, const void **p,
		  size_t *len)
{
	ck_assert_int_eq(delivery_spool_open(sp, tmp, rp, &err), 0);
	/* Written in pieces, as the DATA reader does. */
	size_t n = strlen(msg), half = n / 2;
	ck_assert_int_eq(delivery_spool_write(sp, msg, half), 0);
	ck_assert_int_eq(delivery_spool_write(sp, msg + half, n - half), 0);
	ck_assert_int_eq(delivery_spool_map(sp, p, len, &err), 0);
}

static const char MSG[] = "Received: from a.test ([192.0.2.1])\r\n\tby mx; Fri, 27 Nov 2026 "
			  "07:00:00 +0000\r\nFrom: x@remote.test\r\nTo: alice@example.org\r\n"
			  "Subject: hello\r\n\r\nbody line\r\n";

START_TEST(test_spool)
{
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	/* RFC 5321 §4.4: Return-Path first, then the message as received. */
	const char rp[] = "Return-Path: <x@remote.test>\r\n";
	ck_assert_uint_eq(sp.prefix_len, strlen(rp));
	ck_assert_uint_eq(len, strlen(rp) + strlen(MSG));
	ck_assert(memcmp(p, rp, strlen(rp)) == 0);
	ck_assert(memcmp((const char *)p + sp.prefix_len, MSG, strlen(MSG)) == 0);
	/* The copy is the write buffer, and the same bytes are in the file (ARCHITECTURE.md
	 * §3: the message streams to the spool). */
	ck_assert(sp.map_heap);
	char back[512];
	ck_assert_uint_lt(len, sizeof(back));
	ck_assert_int_eq(pread(sp.fd, back, sizeof(back), 0), (ssize_t)len);
	ck_assert(memcmp(back, p, len) == 0);
	delivery_spool_close(&sp);
	delivery_spool_close(&sp); /* twice is harmless */
	ck_assert_int_eq(delivery_spool_write(&sp, "x", 1), CORE_EIO);
	/* The null reverse-path. */
	spool(&sp, "", "a\r\n", &p, &len);
	ck_assert_uint_eq(len, strlen("Return-Path: <>\r\na\r\n"));
	ck_assert(memcmp(p, "Return-Path: <>\r\na\r\n", len) == 0);
	delivery_spool_close(&sp);
	/* No directory to put it in. */
	ck_assert_int_eq(delivery_spool_open(&sp, "/nonexistent/spool", "a@b", &err), CORE_EIO);
	ck_assert_int_lt(sp.fd, 0);
	/* Past DELIVERY_SPOOL_READ_MAX the spool is mapped, not copied; the same bytes. */
	{
		struct delivery_spool big;
		ck_assert_int_eq(delivery_spool_open(&big, tmp, "a@b", &err), 0);
		char line[100];
		size_t want = big.prefix_len;
		for (int i = 0; want <= DELIVERY_SPOOL_READ_MAX; i++) {
			int n = snprintf(line, sizeof(line), "line %06d of a large message\r\n", i);
			ck_assert_int_eq(delivery_spool_write(&big, line, (size_t)n), 0);
			want += (size_t)n;
		}
		ck_assert_int_eq(delivery_spool_map(&big, &p, &len, &err), 0);
		ck_assert(!big.map_heap);
		ck_assert_uint_eq(len, want);
		ck_assert(memcmp((const char *)p + len - 2, "\r\n", 2) == 0);
		ck_assert(memcmp(p, "Return-Path: <a@b>\r\nline 000000 ", 32) == 0);
		struct stat bst;
		ck_assert_int_eq(fstat(big.fd, &bst), 0);
		ck_assert_int_eq(bst.st_size, (off_t)want); /* every buffered byte written */
		delivery_spool_close(&big);
		spool(&big, "a@b", "x\r\n", &p, &len);
		ck_assert(big.map_heap);
		delivery_spool_close(&big);
	}
	/* A closed spool's file is reused: the next spool reads only its own bytes, even when
	 * shorter than the last one. */
	struct delivery_spool s1, s2;
	spool(&s1, "long-sender@remote.test", MSG, &p, &len);
	struct stat st1, st2;
	ck_assert_int_eq(fstat(s1.fd, &st1), 0);
	delivery_spool_close(&s1);
	spool(&s2, "", "b\r\n", &p, &len);
	ck_assert_int_eq(fstat(s2.fd, &st2), 0);
	ck_assert_uint_eq(st1.st_ino, st2.st_ino);
	ck_assert_uint_eq(len, strlen("Return-Path: <>\r\nb\r\n"));
	ck_assert(memcmp(p, "Return-Path: <>\r\nb\r\n", len) == 0);
	/* A kept file that grew past DELIVERY_SPOOL_KEEP_MAX is emptied: nothing of that
	 * message is left in the next one's file. */
	delivery_spool_close(&s2);
	ck_assert_int_eq(delivery_spool_open(&s1, tmp, NULL, &err), 0);
	char chunk[4096];
	memset(chunk, 'z', sizeof(chunk));
	for (size_t w = 0; w <= DELIVERY_SPOOL_KEEP_MAX; w += sizeof(chunk))
		ck_assert_int_eq(delivery_spool_write(&s1, chunk, sizeof(chunk)), 0);
	ck_assert_int_eq(fstat(s1.fd, &st1), 0);
	delivery_spool_close(&s1);
	spool(&s2, "", "b\r\n", &p, &len);
	ck_assert_int_eq(fstat(s2.fd, &st2), 0);
	ck_assert_uint_eq(st1.st_ino, st2.st_ino);
	ck_assert_int_eq(st2.st_size, (off_t)len);
	/* Two open at once are two files. */
	ck_assert_int_eq(delivery_spool_open(&s1, tmp, "a@b", &err), 0);
	ck_assert_int_eq(fstat(s1.fd, &st1), 0);
	ck_assert_uint_ne(st1.st_ino, st2.st_ino);
	delivery_spool_close(&s1);
	delivery_spool_close(&s2);
	delivery_spool_pool_clear();
	/* The spool leaves no file behind. */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep -v data.db)\"", tmp);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_resolve)
{
	enum delivery_kind k;
	const char *remote[4];
	size_t nremote = 9;
	ck_assert_int_eq(
		delivery_resolve(dv, "alice@example.org", a, &k, remote, 4, &nremote, &err), 0);
	ck_assert_int_eq(k, DELIVERY_LOCAL);
	ck_assert_uint_eq(nremote, 0);
	ck_assert_int_eq(delivery_resolve(dv, "Bob+news@EXAMPLE.org", a, &k, NULL, 0, NULL, &err),
			 0);
	ck_assert_int_eq(k, DELIVERY_LOCAL);
	ck_assert_int_eq(delivery_resolve(dv, "nobody@example.org", a, &k, NULL, 0, NULL, &err), 0);
	ck_assert_int_eq(k, DELIVERY_UNKNOWN);
	ck_assert_int_eq(delivery_resolve(dv, "anyone@catch.test", a, &k, NULL, 0, NULL, &err), 0);
	ck_assert_int_eq(k, DELIVERY_LOCAL);
	ck_assert_int_eq(delivery_resolve(dv, "x@remote.test", a, &k, NULL, 0, NULL, &err), 0);
	ck_assert_int_eq(k, DELIVERY_REMOTE);
	ck_assert_int_eq(delivery_resolve(dv, "no-at-sign", a, &k, NULL, 0, NULL, &err), 0);
	ck_assert_int_eq(k, DELIVERY_UNKNOWN);
	/* A list with a remote member: local, and the remote address is reported. */
	ck_assert_int_eq(delivery_resolve(dv, "team@example.org", a, &k, remote, 4, &nremote, &err),
			 0);
	ck_assert_int_eq(k, DELIVERY_LOCAL);
	ck_assert_uint_eq(nremote, 1);
	ck_assert_str_eq(remote[0], "ext@remote.test");
}
END_TEST

START_TEST(test_local)
{
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	const char *rcpts[] = {"alice@example.org", "al@example.org", "bob+tag@example.org",
			       "nobody@example.org", "team@example.org"};
	struct delivery_result res[5];
	memset(res, 0, sizeof(res));
	ck_assert_int_eq(delivery_local(dv, p, len, rcpts, 5, res), 4);
	ck_assert_int_eq(res[0].code, 250);
	ck_assert_int_eq(res[1].code, 250);
	ck_assert_int_eq(res[2].code, 250);
	ck_assert_int_eq(res[3].code, 550);
	ck_assert_str_eq(res[3].enh, "5.1.1");
	ck_assert_int_eq(res[4].code, 250);
	/* Each account once, although alice was named three ways; content byte for byte. */
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_uint_eq(inbox("alice", &got), 1);
	ck_assert_uint_eq(got.len, len);
	ck_assert(memcmp(got.p, p, len) == 0);
	ck_assert_uint_eq(inbox("bob", NULL), 1);
	core_buf_fini(&got);
	delivery_spool_close(&sp);
}
END_TEST

/* Files of the fs blob store (tmp/blobs, its tmp/ directory aside). */
static size_t blob_files(const char *dir, int depth)
{
	DIR *dh = opendir(dir);
	if (dh == NULL)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL) {
		if (de->d_name[0] == '.' || (depth == 0 && strcmp(de->d_name, "tmp") == 0))
			continue;
		char sub[512];
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		n += depth < 2 ? blob_files(sub, depth + 1) : 1;
	}
	closedir(dh);
	return n;
}

/* A message up to the inline limit leaves no blob file and reads back byte for byte from
 * the data store; a larger one is a file, as before. */
START_TEST(test_inline_split)
{
	char bdir[128];
	snprintf(bdir, sizeof(bdir), "%s/blobs", tmp);
	ck_assert_uint_eq(store_blob_inline_max(blob), INLINE_MAX);
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	ck_assert_uint_le(len, INLINE_MAX);
	const char *rcpts[] = {"alice@example.org"};
	struct delivery_result res[1];
	ck_assert_int_eq(delivery_local(dv, p, len, rcpts, 1, res), 1);
	ck_assert_int_eq(res[0].code, 250);
	struct core_buf got = CORE_BUF_INIT;
	ck_assert_uint_eq(inbox("alice", &got), 1);
	ck_assert_uint_eq(got.len, len);
	ck_assert(memcmp(got.p, p, len) == 0);
	ck_assert_uint_eq(blob_files(bdir, 0), 0);
	delivery_spool_close(&sp);
	/* Over the limit: a blob file. */
	struct core_buf big = CORE_BUF_INIT;
	core_buf_printf(&big, "From: x@remote.test\r\nTo: bob@example.org\r\n\r\n");
	while (big.len <= INLINE_MAX)
		core_buf_printf(&big, "line %zu of a message larger than the inline limit\r\n",
				big.len);
	core_buf_append(&big, "", 1); /* NUL for spool() */
	spool(&sp, "x@remote.test", big.p, &p, &len);
	ck_assert_uint_gt(len, INLINE_MAX);
	const char *rb[] = {"bob@example.org"};
	ck_assert_int_eq(delivery_local(dv, p, len, rb, 1, res), 1);
	ck_assert_int_eq(res[0].code, 250);
	core_buf_reset(&got);
	ck_assert_uint_eq(inbox("bob", &got), 1);
	ck_assert_uint_eq(got.len, len);
	ck_assert(memcmp(got.p, p, len) == 0);
	ck_assert_uint_eq(blob_files(bdir, 0), 1);
	core_buf_fini(&got);
	core_buf_fini(&big);
	delivery_spool_close(&sp);
}
END_TEST

START_TEST(test_quota)
{
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	const char *rcpts[] = {"alice@example.org", "carol@example.org"};
	struct delivery_result res[2];
	/* RFC 9208 §5.1: only the recipient over quota fails. */
	ck_assert_int_eq(delivery_local(dv, p, len, rcpts, 2, res), 1);
	ck_assert_int_eq(res[0].code, 250);
	ck_assert_int_eq(res[1].code, 552);
	ck_assert_str_eq(res[1].enh, "5.2.2");
	ck_assert_uint_eq(inbox("alice", NULL), 1);
	ck_assert_uint_eq(inbox("carol", NULL), 0);
	/* The directory's quota reached the mail store account. */
	struct mailstore_account ac;
	ck_assert_int_eq(mailstore_account_get(ms, account_of("carol"), &ac, &err), 0);
	ck_assert_uint_eq(ac.quota_bytes, 10);
	/* Raised in the directory: the next delivery succeeds. */
	struct dir_principal *pr = NULL;
	ck_assert_int_eq(dir_principal_by_name(d, CORE_STR("carol"), a, &pr, &err), 0);
	pr->quota_bytes = 0;
	ck_assert_int_eq(dir_principal_update(d, pr, &err), 0);
	ck_assert_int_eq(delivery_local(dv, p, len, rcpts + 1, 1, res), 1);
	ck_assert_uint_eq(inbox("carol", NULL), 1);
	delivery_spool_close(&sp);
}
END_TEST

/* --- group commit ------------------------------------------------------------------------ */

/* The hook holds the first batch open until `want` requests have queued (or 20 s pass:
 * then the counts below fail the test rather than hang it). */
struct gate {
	size_t want;
	bool fired;
};

static void gate_hook(void *arg)
{
	struct gate *g = arg;
	if (g->fired)
		return;
	g->fired = true;
	for (int i = 0; i < 20000 && delivery_pending(dv) < g->want; i++)
		usleep(1000);
}

/* A sending thread: delivery_local(), or with async delivery_local_start(), which does not
 * wait for the commit (done runs on the thread that commits it). */
struct sender {
	pthread_t th;
	const char *rcpt;
	const void *p;
	size_t len;
	bool async;
	struct delivery_result res;
	int delivered;
	bool queued; /* async: delivery_local_start() returned true */
	atomic_int done;
	pthread_t done_on;
};

static void async_done(void *arg)
{
	struct sender *s = arg;
	s->done_on = pthread_self();
	atomic_fetch_add(&s->done, 1);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	const char *r[] = {s->rcpt};
	if (s->async)
		s->queued =
			delivery_local_start(dv, s->p, s->len, r, NULL, 1, &s->res, async_done, s);
	else
		s->delivered = delivery_local(dv, s->p, s->len, r, 1, &s->res);
	return NULL;
}

static void send_all(struct sender *s, size_t n, const void *p, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		s[i].p = p;
		s[i].len = len;
		atomic_store(&s[i].done, 0);
		ck_assert_int_eq(pthread_create(&s[i].th, NULL, sender_main, &s[i]), 0);
	}
	/* A leader is one of the senders: once all are joined every delivery is finished. */
	for (size_t i = 0; i < n; i++)
		pthread_join(s[i].th, NULL);
}

/* The group-commit tests' six senders (carol last, over quota), their message and a gate
 * holding the first batch until five have queued. */
static void gc_setup(struct sender s[6], bool async, struct delivery_spool *sp, const void **p,
		     size_t *len, struct gate *g)
{
	static const char *const rcpts[6] = {"alice@example.org", "bob@example.org",
					     "al@example.org",    "bob+x@example.org",
					     "team@example.org",  "carol@example.org"};
	memset(s, 0, 6 * sizeof(*s));
	for (int i = 0; i < 6; i++) {
		s[i].rcpt = rcpts[i];
		s[i].async = async;
	}
	spool(sp, "x@remote.test", MSG, p, len);
	*g = (struct gate){.want = 5};
	delivery_set_batch(dv, DELIVERY_BATCH_MAX, 1, gate_hook, g);
}

/* Concurrent deliveries share one mail-store commit; a member over quota fails alone and
 * every other sender gets its own 250. */
START_TEST(test_group_commit)
{
	struct delivery_spool sp;
	const void *p;
	size_t len;
	struct gate g;
	struct sender s[6];
	gc_setup(s, false, &sp, &p, &len, &g);
	send_all(s, 5, p, len);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(s[i].delivered, 1);
		ck_assert_int_eq(s[i].res.code, 250);
	}
	struct delivery_stats st;
	delivery_stats_get(dv, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_uint_eq(st.messages, 5);
	ck_assert_uint_eq(st.commits, 1);
	ck_assert_uint_eq(st.largest, 5);
	ck_assert_uint_eq(inbox("alice", NULL), 3);
	ck_assert_uint_eq(inbox("bob", NULL), 3);

	/* Carol is over quota: the batch's joint commit fails, each member is tried alone and
	 * only carol's sender hears 552. */
	g = (struct gate){.want = 6};
	send_all(s, 6, p, len);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(s[i].delivered, 1);
		ck_assert_int_eq(s[i].res.code, 250);
	}
	ck_assert_int_eq(s[5].delivered, 0);
	ck_assert_int_eq(s[5].res.code, 552);
	ck_assert_str_eq(s[5].res.enh, "5.2.2");
	delivery_stats_get(dv, &st);
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.messages, 11);
	ck_assert_uint_eq(st.commits, 1 + 5);
	ck_assert_uint_eq(st.largest, 6);
	ck_assert_uint_eq(inbox("alice", NULL), 6);
	ck_assert_uint_eq(inbox("bob", NULL), 6);
	ck_assert_uint_eq(inbox("carol", NULL), 0);

	/* Batch size 1 turns group commit off: every message its own commit. */
	delivery_set_batch(dv, 1, 1, NULL, NULL);
	send_all(s, 4, p, len);
	delivery_stats_get(dv, &st);
	ck_assert_uint_eq(st.messages, 15);
	ck_assert_uint_eq(st.batches, 6);
	ck_assert_uint_eq(st.commits, 10);
	ck_assert_uint_eq(inbox("alice", NULL), 8);
	delivery_spool_close(&sp);
}
END_TEST

/* delivery_local_start(): senders that do not wait. A batch held open until every sender
 * has queued is committed by one of them, which also finishes the others' deliveries. */
START_TEST(test_group_commit_async)
{
	struct delivery_spool sp;
	const void *p;
	size_t len;
	struct gate g;
	struct sender s[6];
	gc_setup(s, true, &sp, &p, &len, &g);
	send_all(s, 5, p, len);
	size_t foreign = 0;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(s[i].res.code, 250);
		ck_assert(s[i].queued);
		ck_assert_int_eq(atomic_load(&s[i].done), 1);
		foreign += pthread_equal(s[i].done_on, s[i].th) ? 0 : 1;
	}
	/* One sender led the batch: every other sender had returned and its delivery was
	 * finished by the leader's thread. */
	ck_assert_uint_ge(foreign, 4);
	struct delivery_stats st;
	delivery_stats_get(dv, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_uint_eq(st.messages, 5);
	ck_assert_uint_eq(st.commits, 1);
	ck_assert_uint_eq(inbox("alice", NULL), 3);
	ck_assert_uint_eq(inbox("bob", NULL), 3);

	/* Carol over quota: only her delivery fails, the others are finished with 250. */
	g = (struct gate){.want = 6};
	send_all(s, 6, p, len);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(s[i].res.code, 250);
	ck_assert(s[5].queued);
	ck_assert_int_eq(atomic_load(&s[5].done), 1);
	ck_assert_int_eq(s[5].res.code, 552);
	ck_assert_str_eq(s[5].res.enh, "5.2.2");
	ck_assert_uint_eq(inbox("alice", NULL), 6);
	ck_assert_uint_eq(inbox("carol", NULL), 0);

	/* Waiting and not waiting senders to the same accounts at once (their own lanes; the
	 * accounts' locks order them in the store): everyone delivered. */
	delivery_set_batch(dv, DELIVERY_BATCH_MAX, 1, NULL, NULL);
	s[2].async = false;
	send_all(s, 4, p, len);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(s[i].res.code, 250);
	ck_assert_int_eq(s[2].delivered, 1);
	ck_assert_uint_eq(inbox("alice", NULL), 8);
	ck_assert_uint_eq(inbox("bob", NULL), 8);
	s[2].async = true;

	/* Group commit off: committed at once, on the sender's own thread. */
	delivery_set_batch(dv, 1, 1, NULL, NULL);
	send_all(s, 2, p, len);
	ck_assert(s[0].queued && pthread_equal(s[0].done_on, s[0].th));
	ck_assert_int_eq(s[0].res.code, 250);
	/* Nothing to store: finished before returning, done not called. */
	const char *unknown[] = {"nobody@example.org"};
	struct delivery_result r;
	ck_assert(!delivery_local_start(dv, p, len, unknown, NULL, 1, &r, async_done, &s[0]));
	ck_assert_int_eq(r.code, 550);
	ck_assert_int_eq(atomic_load(&s[0].done), 1);
	ck_assert_uint_eq(inbox("alice", NULL), 9);
	delivery_spool_close(&sp);
}
END_TEST

/* Lanes: while a batch for one account is held open, a delivery to an account of another
 * lane commits (it does not queue behind the first). */
static atomic_bool held, saw_other;

static void hold_hook(void *arg)
{
	(void)arg;
	if (held)
		return;
	held = true;
	struct delivery_stats st = {0};
	for (int i = 0; i < 20000 && st.batches == 0; i++) {
		usleep(1000);
		delivery_stats_get(dv, &st);
	}
	saw_other = st.batches > 0;
}

START_TEST(test_group_commit_lanes)
{
	/* An account in another lane than alice's. */
	uint64_t lane_a = delivery_lane(dv, account_of("alice"));
	const char *other = NULL;
	static const char *names[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"};
	static const char *addrs[] = {"u0@example.org", "u1@example.org", "u2@example.org",
				      "u3@example.org", "u4@example.org", "u5@example.org",
				      "u6@example.org", "u7@example.org"};
	for (size_t i = 0; i < CORE_NELEM(names) && other == NULL; i++) {
		create(&(struct dir_principal){
			.type = DIR_INDIVIDUAL, .name = names[i], .address = addrs[i]});
		if (delivery_lane(dv, account_of(names[i])) != lane_a)
			other = addrs[i];
	}
	ck_assert_ptr_nonnull(other); /* 8 accounts all in alice's lane of 16: broken hash */
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	held = saw_other = false;
	delivery_set_batch(dv, DELIVERY_BATCH_MAX, DELIVERY_LANES_MAX, hold_hook, NULL);
	struct sender s[2] = {{.rcpt = "alice@example.org", .p = p, .len = len},
			      {.rcpt = other, .p = p, .len = len}};
	ck_assert_int_eq(pthread_create(&s[0].th, NULL, sender_main, &s[0]), 0);
	for (int i = 0; i < 20000 && !held; i++)
		usleep(1000);
	ck_assert(held);
	ck_assert_int_eq(pthread_create(&s[1].th, NULL, sender_main, &s[1]), 0);
	pthread_join(s[1].th, NULL);
	pthread_join(s[0].th, NULL);
	ck_assert(saw_other);
	ck_assert_int_eq(s[0].res.code, 250);
	ck_assert_int_eq(s[1].res.code, 250);
	struct delivery_stats st;
	delivery_stats_get(dv, &st);
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.commits, 2);
	ck_assert_uint_eq(inbox("alice", NULL), 1);
	delivery_spool_close(&sp);
}
END_TEST

START_TEST(test_big_list)
{
	/* More accounts than one mail-store delivery takes (MAILSTORE_TARGETS_MAX): batches. */
	enum { N = MAILSTORE_TARGETS_MAX + 6 };
	static char names[N][32], addrs[N][48];
	static const char *members[N];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "m%02d", i);
		snprintf(addrs[i], sizeof(addrs[i]), "m%02d@example.org", i);
		members[i] = addrs[i];
		create(&(struct dir_principal){
			.type = DIR_INDIVIDUAL, .name = names[i], .address = addrs[i]});
	}
	create(&(struct dir_principal){.type = DIR_LIST,
				       .name = "all",
				       .address = "all@example.org",
				       .members = members,
				       .n_members = N});
	struct delivery_spool sp;
	const void *p;
	size_t len;
	spool(&sp, "x@remote.test", MSG, &p, &len);
	const char *rcpts[] = {"all@example.org", "m00@example.org"};
	struct delivery_result res[2];
	ck_assert_int_eq(delivery_local(dv, p, len, rcpts, 2, res), 2);
	ck_assert_int_eq(res[0].code, 250);
	ck_assert_int_eq(res[1].code, 250);
	for (int i = 0; i < N; i++)
		ck_assert_uint_eq(inbox(names[i], NULL), 1);
	delivery_spool_close(&sp);
}
END_TEST

START_TEST(test_no_mailstore)
{
	struct delivery *none = delivery_new(d, NULL);
	const char *rcpts[] = {"alice@example.org"};
	struct delivery_result res[1];
	ck_assert_int_eq(delivery_local(none, "x\r\n", 3, rcpts, 1, res), 0);
	ck_assert_int_eq(res[0].code, 451);
	delivery_free(&none);
	delivery_free(&none);
	ck_assert_uint_eq(inbox("alice", NULL), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("delivery");
	/* The same cases with fs blobs and small messages inlined, and the split between them. */
	TCase *ti = tcase_create("delivery-inline");
	tcase_set_timeout(ti, 60);
	tcase_add_checked_fixture(ti, setup_inline, teardown);
	tcase_add_test(ti, test_local);
	tcase_add_test(ti, test_quota);
	tcase_add_test(ti, test_group_commit);
	tcase_add_test(ti, test_group_commit_async);
	tcase_add_test(ti, test_group_commit_lanes);
	tcase_add_test(ti, test_big_list);
	tcase_add_test(ti, test_inline_split);
	suite_add_tcase(s, ti);
	TCase *tc = tcase_create("delivery");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_sqlite, teardown);
	tcase_add_test(tc, test_spool);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_local);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_group_commit);
	tcase_add_test(tc, test_group_commit_async);
	tcase_add_test(tc, test_group_commit_lanes);
	tcase_add_test(tc, test_big_list);
	tcase_add_test(tc, test_no_mailstore);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
