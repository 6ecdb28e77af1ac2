/*
 * test_queue.c: the outbound queue: entry encoding round trip and rejection of damaged
 * records, submit (blob + entry + due index + link in one transaction), list, get, read,
 * remove (link dropped), FUTURERELEASE holding an entry back (RFC 4865), and leases that two
 * owners never share (also when racing from threads, when more entries are leased than one
 * scan of the due index holds, and at the ends of time), removal of a leased entry, entries
 * submit refuses rather than store undecodable, and damaged records that must neither stop
 * the queue nor pass for good ones. Runs on SQLite and RocksDB.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_arena.h"
#include "core/core_log.h"
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

static uint64_t count_links(const struct store_blob_id *id)
{
	struct store_txn *t = NULL;
	uint64_t links = 0;
	ck_assert_int_eq(store_txn_begin(data, STORE_TXN_READ, &t, &err), 0);
	ck_assert_int_eq(store_blob_links_count_txn(blob, t, id, &links, &err), 0);
	store_txn_abort(&t);
	return links;
}

START_TEST(test_queue_remove_leased)
{
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), id = 0, got_id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), 0);
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, 60000, &got_id, &err), 1);
	ck_assert_uint_eq(got_id, id);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
	struct store_blob_id bid = got.blob;
	ck_assert_uint_eq(count_links(&bid), 1);
	/* The holder (or an operator) removes it while leased: entry, index and link go. */
	ck_assert_int_eq(queue_remove(q, id, &err), 0);
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), CORE_ENOTFOUND);
	ck_assert_uint_eq(count_links(&bid), 0);
	/* Nobody can lease it afterwards, not even once the lease would have run out. */
	ck_assert_int_eq(queue_lease(q, "b", now + 1000, 60000, &got_id, &err), 0);
	ck_assert_int_eq(queue_lease(q, "b", now + 7200000, 60000, &got_id, &err), 0);
}
END_TEST

START_TEST(test_queue_lease_expiry_boundary)
{
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), id = 0, got_id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), 0);
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, 5000, &got_id, &err), 1);
	/* Held up to its last millisecond, free at lease_until_ms. */
	ck_assert_int_eq(queue_lease(q, "b", now + 5999, 5000, &got_id, &err), 0);
	ck_assert_int_eq(queue_lease(q, "b", now + 6000, 5000, &got_id, &err), 1);
	ck_assert_uint_eq(got_id, id);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
	ck_assert_str_eq(got.lease_owner, "b");
	ck_assert_uint_eq(got.lease_until_ms, now + 11000);
	/* The envelope is untouched by leasing: DSN (RFC 3461), REQUIRETLS (RFC 8689),
	 * MT-PRIORITY (RFC 6710) and DELIVERBY (RFC 2852) data included. */
	ck_assert_str_eq(got.sender, "alice@example.org");
	ck_assert_str_eq(got.envid, "QQ314159");
	ck_assert_int_eq(got.ret, 2);
	ck_assert(got.requiretls && got.smtputf8);
	ck_assert(got.has_priority);
	ck_assert_int_eq(got.priority, -3);
	ck_assert(got.has_by && got.by_trace);
	ck_assert_int_eq(got.by_time, 3600);
	ck_assert_int_eq(got.by_mode, 'R');
	ck_assert_uint_eq(got.nrcpts, 2);
	ck_assert_uint_eq(got.rcpts[0].notify, 0xcu);
	ck_assert_str_eq(got.rcpts[0].orcpt_type, "rfc822");
	ck_assert_str_eq(got.rcpts[0].orcpt, "bob@remote.test");
	ck_assert_str_eq(got.rcpts[1].addr, "carol@far.test");
	/* The previous owner, whose lease ran out, cannot take it back while b holds it. */
	ck_assert_int_eq(queue_lease(q, "a", now + 6001, 5000, &got_id, &err), 0);
}
END_TEST

START_TEST(test_queue_lease_owner_required)
{
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), id = 0, got_id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), 0);
	/* An empty owner would leave the entry looking free to everyone. */
	ck_assert_int_eq(queue_lease(q, "", now + 1000, 60000, &got_id, &err), CORE_ESYNTAX);
	ck_assert_int_eq(queue_lease(q, NULL, now + 1000, 60000, &got_id, &err), CORE_ESYNTAX);
	/* So would a lease of no time at all. */
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, 0, &got_id, &err), CORE_ESYNTAX);
	char *longer = malloc(QUEUE_STR_MAX + 2);
	ck_assert_ptr_nonnull(longer);
	memset(longer, 'o', QUEUE_STR_MAX + 1);
	longer[QUEUE_STR_MAX + 1] = '\0';
	ck_assert_int_eq(queue_lease(q, longer, now + 1000, 60000, &got_id, &err), CORE_ELIMIT);
	/* The longest owner allowed is kept whole. */
	longer[QUEUE_STR_MAX] = '\0';
	ck_assert_int_eq(queue_lease(q, longer, now + 1000, 60000, &got_id, &err), 1);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
	ck_assert_str_eq(got.lease_owner, longer);
	free(longer);
	ck_assert_int_eq(queue_lease(q, "b", now + 1000, 60000, &got_id, &err), 0);
}
END_TEST

START_TEST(test_queue_lease_time_limits)
{
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), id = 0, got_id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), 0);
	/* A lease that runs past the end of time ends there, never wraps to the past. */
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, UINT64_MAX - 5, &got_id, &err), 1);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
	ck_assert_uint_eq(got.lease_until_ms, UINT64_MAX);
	ck_assert_int_eq(queue_lease(q, "b", now + 86400000, 60000, &got_id, &err), 0);
	/* Late in time the held entry is due while a's lease still holds the first. */
	e.hold_until = now / 1000u + 3600u;
	uint64_t held = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &held, &err), 0);
	ck_assert_int_eq(queue_lease(q, "c", UINT64_MAX - 1, 10, &got_id, &err), 1);
	ck_assert_uint_eq(got_id, held);
	/* At the last millisecond every entry is due and every lease has ended. */
	ck_assert_int_eq(queue_lease(q, "d", UINT64_MAX, 10, &got_id, &err), 1);
	ck_assert_uint_eq(got_id, id);
}
END_TEST

START_TEST(test_queue_lease_beyond_one_page)
{
	/* Leased entries stay in the due index: more of them than one scan reads must not hide
	 * the free entries behind them. */
	enum { N = 150 };
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), id = 0;
	static uint64_t ids[N];
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &ids[i], &err), 0);
	static bool seen[N];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < N; i++) {
		char owner[32];
		snprintf(owner, sizeof(owner), "w%zu", i);
		ck_assert_msg(queue_lease(q, owner, now + 1000, 600000, &id, &err) == 1,
			      "lease %zu of %d found nothing: %s", i, (int)N, err.msg);
		ck_assert_uint_ge(id, ids[0]);
		ck_assert_uint_le(id, ids[N - 1]);
		ck_assert_msg(!seen[id - ids[0]], "entry %llu leased twice",
			      (unsigned long long)id);
		seen[id - ids[0]] = true;
	}
	ck_assert_int_eq(queue_lease(q, "late", now + 1000, 600000, &id, &err), 0);
}
END_TEST

struct racer {
	const char *owner;
	uint64_t now;
	uint64_t ids[64];
	size_t n;
	int rc;
};

static void *race_run(void *arg)
{
	struct racer *r = arg;
	struct core_error e;
	core_error_clear(&e);
	for (;;) {
		uint64_t id = 0;
		int rc = queue_lease(q, r->owner, r->now, 600000, &id, &e);
		if (rc <= 0) {
			r->rc = rc;
			break;
		}
		if (r->n == CORE_NELEM(r->ids)) {
			r->rc = -1000;
			break;
		}
		r->ids[r->n++] = id;
	}
	return NULL;
}

START_TEST(test_queue_lease_race)
{
	/* Leasers racing from threads: every due entry goes to exactly one of them. */
	enum { N = 40, T = 4 };
	struct queue_entry e = sample();
	uint64_t ids[N];
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &ids[i], &err), 0);
	static const char *const owners[T] = {"r0", "r1", "r2", "r3"};
	struct racer rs[T];
	pthread_t th[T];
	uint64_t now = store_now_ms() + 1000;
	for (size_t i = 0; i < T; i++) {
		rs[i] = (struct racer){.owner = owners[i], .now = now};
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_run, &rs[i]), 0);
	}
	for (size_t i = 0; i < T; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	size_t total = 0;
	bool seen[N] = {false};
	for (size_t i = 0; i < T; i++) {
		ck_assert_msg(rs[i].rc == 0, "leaser %zu stopped with %d", i, rs[i].rc);
		for (size_t j = 0; j < rs[i].n; j++) {
			uint64_t id = rs[i].ids[j];
			ck_assert(id >= ids[0] && id <= ids[N - 1]);
			ck_assert_msg(!seen[id - ids[0]], "entry %llu leased twice",
				      (unsigned long long)id);
			seen[id - ids[0]] = true;
			/* The stored owner is the one that was told it won. */
			struct queue_entry got;
			ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
			ck_assert_str_eq(got.lease_owner, rs[i].owner);
		}
		total += rs[i].n;
	}
	ck_assert_uint_eq(total, N);
}
END_TEST

START_TEST(test_queue_submit_refuses_undecodable)
{
	/* What submit stores, decode must read back: out-of-range values are refused. */
	struct queue_entry e;
	uint64_t id = 0;
	e = sample();
	e.priority = 42; /* RFC 6710: -9..9 */
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ESYNTAX);
	e = sample();
	e.ret = 3;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ESYNTAX);
	e = sample();
	e.by_mode = 'X'; /* RFC 2852: N or R */
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ESYNTAX);
	e = sample();
	e.hold_until = UINT64_MAX / 10; /* its milliseconds would wrap to an earlier time */
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ESYNTAX);
	struct queue_rcpt r[2] = {rcpts[0], rcpts[1]};
	e = sample();
	e.rcpts = r;
	r[1].notify = 0x10;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ESYNTAX);
	/* A string longer than a record keeps is refused, not cut short. */
	char *big = malloc(QUEUE_STR_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', QUEUE_STR_MAX + 1);
	big[QUEUE_STR_MAX + 1] = '\0';
	r[1] = rcpts[1];
	r[1].last_reply = big;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ELIMIT);
	e = sample();
	e.envid = big;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), CORE_ELIMIT);
	size_t n = 0;
	ck_assert_int_eq(queue_list(q, count_cb, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	/* The longest string allowed is stored whole. */
	big[QUEUE_STR_MAX] = '\0';
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &id, &err), 0);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, id, a, &got, &err), 0);
	ck_assert_str_eq(got.envid, big);
	free(big);
}
END_TEST

struct order_ctx {
	uint64_t ids[8];
	size_t n, stop_after;
};

static int order_cb(void *arg, const struct queue_entry *e)
{
	struct order_ctx *c = arg;
	c->ids[c->n++] = e->id;
	return c->n == c->stop_after ? 1 : 0;
}

START_TEST(test_queue_list_order_and_stop)
{
	/* Entries come in id order, whatever their due times; a non-zero answer stops. */
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), ids[5];
	for (size_t i = 0; i < 5; i++) {
		e.due_ms = now + (5 - i) * 1000u;
		ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &ids[i], &err), 0);
	}
	struct order_ctx c = {.n = 0, .stop_after = 0};
	ck_assert_int_eq(queue_list(q, order_cb, &c, &err), 0);
	ck_assert_uint_eq(c.n, 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(c.ids[i], ids[i]);
	c = (struct order_ctx){.n = 0, .stop_after = 2};
	ck_assert_int_eq(queue_list(q, order_cb, &c, &err), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.ids[1], ids[1]);
	/* Leases follow due times instead: the last submitted is due first. */
	uint64_t id = 0;
	ck_assert_int_eq(queue_lease(q, "a", now + 10000, 60000, &id, &err), 1);
	ck_assert_uint_eq(id, ids[4]);
}
END_TEST

static void put_raw(const void *k, size_t kl, const void *v, size_t vl)
{
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(data, STORE_TXN_WRITE, &t, &err), 0);
	ck_assert_int_eq(store_txn_put(t, k, kl, v, vl, &err), 0);
	ck_assert_int_eq(store_txn_commit(&t, &err), 0);
}

static void be64(uint8_t *k, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		k[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void put_entry_raw(uint64_t key_id, uint64_t due, const void *v, size_t vl)
{
	uint8_t ek[12], dk[20];
	memcpy(ek, "q/e/", 4);
	be64(ek + 4, key_id);
	memcpy(dk, "q/d/", 4);
	be64(dk + 4, due);
	be64(dk + 12, key_id);
	put_raw(ek, sizeof(ek), v, vl);
	put_raw(dk, sizeof(dk), "", 0);
}

static int collect_cb(void *arg, const struct queue_entry *e)
{
	uint64_t *ids = arg;
	ids[ids[0]++ + 1] = e->id;
	return 0;
}

static int count_key_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	size_t *n = arg;
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(*n)++;
	return 0;
}

static void log_hook(enum core_log_level level, const char *line, void *arg)
{
	size_t *n = arg;
	if (level == CORE_LOG_WARN && strstr(line, "event=queue.damaged") != NULL)
		(*n)++;
}

START_TEST(test_queue_damaged_entries)
{
	static size_t warned;
	warned = 0;
	core_log_set_hook(log_hook, &warned);
	struct queue_entry e = sample();
	uint64_t now = store_now_ms(), good = 0, id = 0;
	ck_assert_int_eq(queue_submit(q, &e, MSG, strlen(MSG), &good, &err), 0);
	/* Two damaged records due before the good one (ids above any the counter gives):
	 * garbage bytes, and a good record stored under another entry's key. */
	put_entry_raw(1000001, 1, "\x00\x00\x00\x00\x00\x00\x00\x01garbage", 15);
	struct queue_entry got;
	ck_assert_int_eq(queue_get(q, good, a, &got, &err), 0);
	struct core_buf raw = CORE_BUF_INIT;
	queue_entry_encode(&got, &raw);
	put_entry_raw(1000002, 2, raw.p, raw.len);
	core_buf_fini(&raw);
	/* Reading one says it is damaged, not that it is the other entry. */
	ck_assert_int_eq(queue_get(q, 1000001, a, &got, &err), CORE_EIO);
	ck_assert_int_eq(queue_get(q, 1000002, a, &got, &err), CORE_EIO);
	/* The listing shows the good entry once, skipping both. */
	uint64_t listed[8] = {0};
	ck_assert_int_eq(queue_list(q, collect_cb, listed, &err), 0);
	ck_assert_uint_eq(listed[0], 1);
	ck_assert_uint_eq(listed[1], good);
	/* Leasing skips the damaged ones and still hands out the good entry, once. */
	ck_assert_int_eq(queue_lease(q, "a", now + 1000, 60000, &id, &err), 1);
	ck_assert_uint_eq(id, good);
	ck_assert_int_eq(queue_lease(q, "b", now + 1000, 60000, &id, &err), 0);
	/* The damaged records were left as they were, and each skip was reported. */
	ck_assert_int_eq(queue_get(q, 1000001, a, &got, &err), CORE_EIO);
	ck_assert_uint_ge(warned, 4);
	/* Removing them deletes record and due index key; the good entry and its blob link
	 * (which the twin never held) stay. */
	ck_assert_int_eq(queue_remove(q, 1000001, &err), 0);
	ck_assert_int_eq(queue_remove(q, 1000002, &err), 0);
	ck_assert_int_eq(queue_get(q, 1000001, a, &got, &err), CORE_ENOTFOUND);
	ck_assert_int_eq(queue_remove(q, 1000002, &err), CORE_ENOTFOUND);
	core_log_set_hook(NULL, NULL);
	struct store_txn *t = NULL;
	size_t due_keys = 0;
	struct store_range r;
	uint8_t hi[STORE_KEY_MAX];
	store_range_prefix(&r, "q/d/", 4, hi);
	ck_assert_int_eq(store_txn_begin(data, STORE_TXN_READ, &t, &err), 0);
	ck_assert_int_eq(store_txn_scan(t, &r, count_key_cb, &due_keys, &err), 1);
	store_txn_abort(&t);
	ck_assert_uint_eq(due_keys, 1);
	ck_assert_int_eq(queue_get(q, good, a, &got, &err), 0);
	ck_assert_uint_eq(count_links(&got.blob), 1);
	/* Nothing is left for a lease after the good one's expires but the good one. */
	ck_assert_int_eq(queue_lease(q, "c", now + 120000, 60000, &id, &err), 1);
	ck_assert_uint_eq(id, good);
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
	tcase_add_test(tc, test_queue_remove_leased);
	tcase_add_test(tc, test_queue_lease_expiry_boundary);
	tcase_add_test(tc, test_queue_lease_owner_required);
	tcase_add_test(tc, test_queue_lease_time_limits);
	tcase_add_test(tc, test_queue_lease_beyond_one_page);
	tcase_add_test(tc, test_queue_lease_race);
	tcase_add_test(tc, test_queue_submit_refuses_undecodable);
	tcase_add_test(tc, test_queue_damaged_entries);
	tcase_add_test(tc, test_queue_list_order_and_stop);
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
