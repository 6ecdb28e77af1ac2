/*
 * test_queue.c: the outbound queue: entry encoding round trip and rejection of damaged
 * records, submit (blob + entry + due index + link in one transaction), list, get, read,
 * remove (link dropped), FUTURERELEASE holding an entry back (RFC 4865), and leases that two
 * owners never share. Runs on SQLite and RocksDB.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_arena.h"
#include "queue/queue.h"
#include "store/store.h"

static char tmp[64];
static struct store_data *data;
static struct store_blob *blob;
static struct queue *q;
static struct core_arena *a;
static struct core_error err;
static const char *backend = "sqlite";

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/staunch-queue.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	char path[128];
	snprintf(path, sizeof(path), "%s/data", tmp);
	struct store_params p = {.path = path, .no_sync = true};
	core_error_clear(&err);
	ck_assert_msg(store_data_open(backend, &p, &data, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_blob_open(backend, &p, data, &blob, &err) == 0, "%s", err.msg);
	ck_assert_msg(queue_open(data, blob, &q, &err) == 0, "%s", err.msg);
	a = core_arena_new(0);
}

static void teardown(void)
{
	queue_free(&q);
	store_blob_free(&blob);
	store_data_free(&data);
	core_arena_free(&a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmp);
}

static struct queue_rcpt rcpts[] = {
	{.addr = "bob@remote.test",
	 .notify = 0x4u | 0x8u,
	 .orcpt_type = "rfc822",
	 .orcpt = "bob@remote.test",
	 .last_reply = ""},
	{.addr = "carol@far.test", .orcpt_type = "", .orcpt = "", .last_reply = ""},
};

static struct queue_entry sample(void)
{
	return (struct queue_entry){
		.sender = "alice@example.org",
		.auth_user = "alice",
		.envid = "QQ314159",
		.ret = 2,
		.body = 1,
		.smtputf8 = true,
		.requiretls = true,
		.has_priority = true,
		.priority = -3,
		.has_by = true,
		.by_time = 3600,
		.by_mode = 'R',
		.by_trace = true,
		.rcpts = rcpts,
		.nrcpts = 2,
	};
}

static const char MSG[] = "From: alice@example.org\r\nSubject: out\r\n\r\nhello\r\n";

START_TEST(test_codec)
{
	struct queue_entry e = sample(), d;
	e.id = 7;
	e.lease_owner = "node-1";
	e.lease_until_ms = 99;
	e.size = 12;
	memset(e.blob.hash, 0xab, sizeof(e.blob.hash));
	struct core_buf b = CORE_BUF_INIT;
	queue_entry_encode(&e, &b);
	ck_assert_int_eq(queue_entry_decode(b.p, b.len, a, &d), 0);
	ck_assert_uint_eq(d.id, 7);
	ck_assert_str_eq(d.sender, "alice@example.org");
	ck_assert_str_eq(d.envid, "QQ314159");
	ck_assert_str_eq(d.lease_owner, "node-1");
	ck_assert_int_eq(d.ret, 2);
	ck_assert_int_eq(d.body, 1);
	ck_assert(d.smtputf8 && d.requiretls && d.has_priority && d.has_by && d.by_trace);
	ck_assert_int_eq(d.priority, -3);
	ck_assert_int_eq(d.by_time, 3600);
	ck_assert_int_eq(d.by_mode, 'R');
	ck_assert(memcmp(d.blob.hash, e.blob.hash, STORE_HASH_LEN) == 0);
	ck_assert_uint_eq(d.nrcpts, 2);
	ck_assert_str_eq(d.rcpts[0].orcpt, "bob@remote.test");
	ck_assert_uint_eq(d.rcpts[0].notify, 0xcu);
	ck_assert_str_eq(d.rcpts[1].addr, "carol@far.test");
	/* Every truncation and a trailing byte are refused, never read past the end. */
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_eq(queue_entry_decode(b.p, n, a, &d), CORE_ESYNTAX);
	core_buf_putc(&b, 0);
	ck_assert_int_eq(queue_entry_decode(b.p, b.len, a, &d), CORE_ESYNTAX);
	/* A priority out of RFC 6710's range is damage. */
	e.priority = 42;
	core_buf_reset(&b);
	queue_entry_encode(&e, &b);
	ck_assert_int_eq(queue_entry_decode(b.p, b.len, a, &d), CORE_ESYNTAX);
	core_buf_fini(&b);
}
END_TEST

static int count_cb(void *arg, const struct queue_entry *e)
{
	size_t *n = arg;
	(void)e;
	(*n)++;
	return 0;
}

static int read_cb(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

START_TEST(test_submit_list_remove)
{
	struct queue_entry e = sample();
	uint64_t id1 = 0, id2 = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id1, &err), 0);
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id2, &err), 0);
	ck_assert_uint_gt(id2, id1);
	size_t n = 0;
	ck_assert_int_eq(queue_list(q, count_cb, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id1, a, &got, &err), 0);
	ck_assert_uint_eq(got.id, id1);
	ck_assert_uint_eq(got.size, strlen(MSG));
	ck_assert_uint_gt(got.created_ms, 0);
	ck_assert_uint_eq(got.due_ms, got.created_ms);
	ck_assert_str_eq(got.rcpts[0].addr, "bob@remote.test");
	ck_assert_int_eq(got.rcpts[0].status, QUEUE_RCPT_PENDING);
	/* The content, byte for byte. */
	struct core_buf body = CORE_BUF_INIT;
	ck_assert_int_eq(queue_read(q, &got, read_cb, &body, &err), 0);
	ck_assert_uint_eq(body.len, strlen(MSG));
	ck_assert(memcmp(body.p, MSG, body.len) == 0);
	core_buf_fini(&body);
	/* The blob has one link per entry (same content, stored once). */
	struct store_txn *t = NULL;
	uint64_t links = 0;
	ck_assert_int_eq(store_txn_begin(data, STORE_TXN_READ, &t, &err), 0);
	ck_assert_int_eq(store_blob_links_count_txn(blob, t, &got.blob, &links, &err), 0);
	store_txn_abort(&t);
	ck_assert_uint_eq(links, 2);
	/* Remove one: its link goes with it; a second remove says so. */
	ck_assert_int_eq(queue_remove(q, id1, &err), 0);
	ck_assert_int_eq(queue_remove(q, id1, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(queue_get(q, id1, a, &got, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(store_txn_begin(data, STORE_TXN_READ, &t, &err), 0);
	ck_assert_int_eq(store_blob_links_count_txn(blob, t, &got.blob, &links, &err), 0);
	store_txn_abort(&t);
	ck_assert_uint_eq(links, 1);
	n = 0;
	ck_assert_int_eq(queue_list(q, count_cb, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	/* No recipients: refused. */
	e.nrcpts = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id1, &err), CORE_ELIMIT);
}
END_TEST

START_TEST(test_lease_and_hold)
{
	struct queue_entry e = sample();
	uint64_t now = store_now_ms();
	/* RFC 4865: held for an hour. */
	e.hold_until = now / 1000u + 3600u;
	uint64_t held = 0, ready = 0, id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &held, &err), 0);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, held, a, &got, &err), 0);
	ck_assert_uint_eq(got.due_ms, e.hold_until * 1000u);
	e.hold_until = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &ready, &err), 0);
	/* Only the due entry is leased, once; another owner gets nothing while it holds. */
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, 60000, &id, &err), 1);
	ck_assert_uint_eq(id, ready);
	ck_assert_int_eq(queue_lease(q, "b", now + 1000, 60000, &id, &err), 0);
	ck_assert_int_eq(queue_get(q, ready, a, &got, &err), 0);
	ck_assert_str_eq(got.lease_owner, "a");
	/* After the lease expires another owner may take it. */
	ck_assert_int_eq(queue_lease(q, "b", now + 120000, 36000000, &id, &err), 1);
	ck_assert_uint_eq(id, ready);
	/* Two hours later the held one is due too. */
	ck_assert_int_eq(queue_lease(q, "c", now + 7200000, 60000, &id, &err), 1);
	ck_assert_uint_eq(id, held);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("queue");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_codec);
	tcase_add_test(tc, test_submit_list_remove);
	tcase_add_test(tc, test_lease_and_hold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed = 0;
	static const char *const backends[] = {"sqlite", "rocksdb"};
	for (size_t i = 0; i < CORE_NELEM(backends); i++) {
		backend = backends[i];
		SRunner *sr = srunner_create(suite());
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	return failed == 0 ? 0 : 1;
}
