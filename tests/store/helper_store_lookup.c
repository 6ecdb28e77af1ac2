/*
 * helper_store_lookup.c: lookup store cases of the conformance suite (ARCHITECTURE.md §4:
 * key-value with TTL, counters with TTL for rate limits, delete, prefix scan). Run against
 * the lookup backend of store_test_env, or the lookup store kept in its data store.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "helper_store.h"

static struct store_lookup *lk;
static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static void lookup_setup(void)
{
	store_test_setup();
	struct core_error err;
	core_error_clear(&err);
	int rc;
	if (store_test_env->lookup_backend != NULL)
		rc = store_lookup_open(store_test_env->lookup_backend, NULL, &lk, &err);
	else
		rc = store_lookup_open_data(store_test_data, &lk, &err);
	ck_assert_msg(rc == 0, "lookup open: %s", err.msg);
	fake_now = 1700000000000ull;
}

static void lookup_teardown(void)
{
	store_lookup_free(&lk);
	store_test_teardown();
}

static void expect_get(const char *k, const char *want)
{
	struct core_buf v = CORE_BUF_INIT;
	int rc = store_lookup_get(lk, k, strlen(k), &v, NULL);
	if (want == NULL) {
		ck_assert_int_eq(rc, CORE_ENOTFOUND);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(v.len, strlen(want));
		ck_assert(memcmp(v.p, want, v.len) == 0);
	}
	core_buf_fini(&v);
}

START_TEST(lookup_set_get_delete)
{
	expect_get("k", NULL);
	ck_assert_int_eq(store_lookup_set(lk, "k", 1, "v1", 2, 0, NULL), 0);
	expect_get("k", "v1");
	ck_assert_int_eq(store_lookup_set(lk, "k", 1, "v22", 3, 0, NULL), 0);
	expect_get("k", "v22");
	ck_assert_int_eq(store_lookup_set(lk, "e", 1, "", 0, 0, NULL), 0);
	expect_get("e", "");
	ck_assert_int_eq(store_lookup_delete(lk, "k", 1, NULL), 0);
	expect_get("k", NULL);
	ck_assert_int_eq(store_lookup_delete(lk, "missing", 7, NULL), 0);
	/* Limits: key 1..255 bytes, value at most 64 KiB (never chunked). */
	uint8_t big[STORE_LOOKUP_VALUE_MAX + 1];
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(store_lookup_set(lk, big, 0, "v", 1, 0, NULL), CORE_ESYNTAX);
	ck_assert_int_eq(store_lookup_set(lk, big, STORE_KEY_MAX + 1, "v", 1, 0, NULL),
			 CORE_ELIMIT);
	ck_assert_int_eq(store_lookup_set(lk, "b", 1, big, sizeof(big), 0, NULL), CORE_ELIMIT);
	ck_assert_int_eq(store_lookup_set(lk, "b", 1, big, sizeof(big) - 1, 0, NULL), 0);
	struct core_buf v = CORE_BUF_INIT;
	ck_assert_int_eq(store_lookup_get(lk, "b", 1, &v, NULL), 0);
	ck_assert_uint_eq(v.len, STORE_LOOKUP_VALUE_MAX);
	core_buf_fini(&v);
}
END_TEST

struct keys {
	struct core_buf b;
};

static int keys_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct keys *c = arg;
	core_buf_append(&c->b, k, kl);
	core_buf_putc(&c->b, '=');
	core_buf_append(&c->b, v, vl);
	core_buf_putc(&c->b, '|');
	return 0;
}

static void expect_scan(const char *prefix, const char *want)
{
	struct keys c = {CORE_BUF_INIT};
	int rc = store_lookup_scan(lk, prefix, strlen(prefix), keys_cb, &c, NULL);
	ck_assert_int_ge(rc, 0);
	ck_assert_str_eq(core_buf_cstr(&c.b), want);
	core_buf_fini(&c.b);
}

START_TEST(lookup_ttl_expiry)
{
	store_clock_set(fake_clock);
	ck_assert_int_eq(store_lookup_set(lk, "grey/1", 6, "a", 1, 1000, NULL), 0);
	ck_assert_int_eq(store_lookup_set(lk, "grey/2", 6, "b", 1, 5000, NULL), 0);
	ck_assert_int_eq(store_lookup_set(lk, "grey/3", 6, "c", 1, 0, NULL), 0);
	fake_now += 999;
	expect_get("grey/1", "a");
	expect_scan("grey/", "grey/1=a|grey/2=b|grey/3=c|");
	fake_now += 1;
	/* Expired entries vanish at once from get and scan, before any purge. */
	expect_get("grey/1", NULL);
	expect_scan("grey/", "grey/2=b|grey/3=c|");
	fake_now += 10000;
	ck_assert_int_eq(store_lookup_purge(lk, NULL), 2);
	ck_assert_int_eq(store_lookup_purge(lk, NULL), 0);
	expect_get("grey/3", "c");
	expect_scan("grey/", "grey/3=c|");
	/* Setting an expired key again makes it live with its new TTL. */
	ck_assert_int_eq(store_lookup_set(lk, "grey/1", 6, "z", 1, 10, NULL), 0);
	expect_get("grey/1", "z");
}
END_TEST

START_TEST(lookup_ttl_real_clock)
{
	ck_assert_int_eq(store_lookup_set(lk, "short", 5, "x", 1, 40, NULL), 0);
	expect_get("short", "x");
	usleep(150 * 1000);
	expect_get("short", NULL);
}
END_TEST

START_TEST(lookup_counters_ttl)
{
	store_clock_set(fake_clock);
	int64_t v = 0;
	/* A fixed rate-limit window: the first add sets the expiry, later adds keep it. */
	ck_assert_int_eq(store_lookup_counter_add(lk, "rl/ip", 5, 1, 1000, &v, NULL), 0);
	ck_assert_int_eq(v, 1);
	fake_now += 600;
	ck_assert_int_eq(store_lookup_counter_add(lk, "rl/ip", 5, 2, 1000, &v, NULL), 0);
	ck_assert_int_eq(v, 3);
	fake_now += 399;
	ck_assert_int_eq(store_lookup_counter_add(lk, "rl/ip", 5, 1, 1000, &v, NULL), 0);
	ck_assert_int_eq(v, 4);
	fake_now += 1; /* 1000 ms after the first add: the window is over */
	ck_assert_int_eq(store_lookup_counter_add(lk, "rl/ip", 5, 1, 1000, &v, NULL), 0);
	ck_assert_int_eq(v, 1);
	/* The counter value reads back as 8 bytes big-endian. */
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(store_lookup_get(lk, "rl/ip", 5, &b, NULL), 0);
	int64_t got = 0;
	ck_assert_int_eq(store_counter_decode(b.p, b.len, &got), 0);
	ck_assert_int_eq(got, 1);
	core_buf_fini(&b);
	/* Without TTL, a counter lives on; negative deltas work. */
	ck_assert_int_eq(store_lookup_counter_add(lk, "bayes", 5, -3, 0, &v, NULL), 0);
	ck_assert_int_eq(v, -3);
	fake_now += 1000000;
	ck_assert_int_eq(store_lookup_counter_add(lk, "bayes", 5, 5, 0, &v, NULL), 0);
	ck_assert_int_eq(v, 2);
	/* A non-counter value is not silently reinterpreted. */
	ck_assert_int_eq(store_lookup_set(lk, "str", 3, "abc", 3, 0, NULL), 0);
	ck_assert_int_eq(store_lookup_counter_add(lk, "str", 3, 1, 0, &v, NULL), CORE_ESYNTAX);
	expect_get("str", "abc");
}
END_TEST

START_TEST(lookup_prefix_scan)
{
	const char *ks[] = {"rl/b", "rl/a", "rm", "rl", "rl/c/1", "q"};
	for (size_t i = 0; i < CORE_NELEM(ks); i++)
		ck_assert_int_eq(store_lookup_set(lk, ks[i], strlen(ks[i]), "1", 1, 0, NULL), 0);
	expect_scan("rl/", "rl/a=1|rl/b=1|rl/c/1=1|");
	expect_scan("rl", "rl=1|rl/a=1|rl/b=1|rl/c/1=1|");
	expect_scan("x", "");
	expect_scan("", "q=1|rl=1|rl/a=1|rl/b=1|rl/c/1=1|rm=1|");
}
END_TEST

#define LK_THREADS 8
#define LK_ITERS 100

static void *lookup_thread(void *arg)
{
	int *fails = arg;
	for (int i = 0; i < LK_ITERS; i++) {
		int rc, tries = 0;
		do {
			rc = store_lookup_counter_add(lk, "conc", 4, 1, 60000, NULL, NULL);
		} while (rc == CORE_ETEMP && ++tries < 20);
		if (rc != 0)
			(*fails)++;
	}
	return NULL;
}

START_TEST(lookup_concurrent_counters)
{
	pthread_t th[LK_THREADS];
	int fails[LK_THREADS] = {0};
	for (int i = 0; i < LK_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_thread, &fails[i]), 0);
	for (int i = 0; i < LK_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(fails[i], 0);
	}
	int64_t v = 0;
	ck_assert_int_eq(store_lookup_counter_add(lk, "conc", 4, 0, 60000, &v, NULL), 0);
	ck_assert_int_eq(v, LK_THREADS * LK_ITERS);
}
END_TEST

Suite *store_suite_lookup(void)
{
	Suite *s = suite_create("lookup");
	TCase *tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, lookup_setup, lookup_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, lookup_set_get_delete);
	tcase_add_test(tc, lookup_ttl_expiry);
	tcase_add_test(tc, lookup_ttl_real_clock);
	tcase_add_test(tc, lookup_counters_ttl);
	tcase_add_test(tc, lookup_prefix_scan);
	tcase_add_test(tc, lookup_concurrent_counters);
	suite_add_tcase(s, tc);
	return s;
}
