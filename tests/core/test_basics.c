/* Unit tests of core_err, core_mem, core_arena, core_buf and core_str. */
#include "core/core.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_error_set)
{
	struct core_error e;
	core_error_clear(&e);
	ck_assert_int_eq(e.code, CORE_OK);
	int r = core_error_set(&e, CORE_ESYNTAX, "RFC 5322 §3.3", "bad %s\r\nline", "date");
	ck_assert_int_eq(r, CORE_ESYNTAX);
	ck_assert_int_eq(e.code, CORE_ESYNTAX);
	/* control bytes never reach a protocol reply */
	ck_assert_str_eq(e.msg, "bad date  line");
	ck_assert_str_eq(e.rule, "RFC 5322 §3.3");
	ck_assert_int_eq(core_error_set(NULL, CORE_EIO, NULL, "x"), CORE_EIO);
	ck_assert_str_eq(core_err_name(CORE_ECONFLICT), "conflict");
	ck_assert_str_eq(core_err_name(-99), "unknown");
}
END_TEST

START_TEST(test_ct_memeq)
{
	ck_assert(core_ct_memeq("abcd", "abcd", 4));
	ck_assert(!core_ct_memeq("abcd", "abce", 4));
	ck_assert(core_ct_memeq("", "", 0));
}
END_TEST

static int cleanup_order[4];
static int cleanup_n;
static void record_cleanup(void *arg)
{
	cleanup_order[cleanup_n++] = (int)(long)arg;
}

START_TEST(test_arena)
{
	struct core_arena *a = core_arena_new(256);
	/* many small allocations, each aligned and independent */
	char *ptrs[200];
	for (int i = 0; i < 200; i++) {
		ptrs[i] = core_arena_alloc(a, (size_t)(i % 37) + 1);
		ck_assert_uint_eq((uintptr_t)ptrs[i] % _Alignof(max_align_t), 0);
		memset(ptrs[i], i, (size_t)(i % 37) + 1);
	}
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq((unsigned char)ptrs[i][0], (unsigned char)i);
	/* a large allocation gets its own chunk */
	char *big = core_arena_zalloc(a, 100000);
	ck_assert_int_eq(big[99999], 0);
	char *s = core_arena_printf(a, "%s-%d", "x", 42);
	ck_assert_str_eq(s, "x-42");
	ck_assert_str_eq(core_arena_strndup(a, "hello", 3), "hel");
	core_arena_cleanup_add(a, record_cleanup, (void *)1L);
	core_arena_cleanup_add(a, record_cleanup, (void *)2L);
	cleanup_n = 0;
	core_arena_reset(a);
	ck_assert_int_eq(cleanup_n, 2);
	ck_assert_int_eq(cleanup_order[0], 2);
	ck_assert_int_eq(cleanup_order[1], 1);
	ck_assert_uint_eq(core_arena_used(a), 0);
	(void)core_arena_alloc(a, 0);
	core_arena_free(&a);
	ck_assert_ptr_null(a);
	core_arena_free(&a); /* NULL is accepted */

	/* an arena vector grows by copies that keep every element */
	struct core_arena *g = core_arena_new(0);
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	for (uint64_t i = 0; i < 1000; i++) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = core_arena_grow(g, v, n, cap, sizeof(*v));
		}
		v[n++] = i * 7;
	}
	ck_assert_uint_eq(cap, 1024);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(v[i], i * 7);
	core_arena_free(&g);

	struct core_arena *c = core_arena_new_clean(0);
	char *secret = core_arena_strdup(c, "password");
	ck_assert_str_eq(secret, "password");
	core_arena_free(&c);
}
END_TEST

START_TEST(test_buf)
{
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_str_eq(core_buf_cstr(&b), "");
	core_buf_append_str(&b, "hello");
	core_buf_putc(&b, ' ');
	core_buf_printf(&b, "%d world", 42);
	ck_assert_str_eq(core_buf_cstr(&b), "hello 42 world");
	ck_assert_uint_eq(b.len, 14);
	core_buf_consume(&b, 6);
	ck_assert_str_eq(core_buf_cstr(&b), "42 world");
	core_buf_truncate(&b, 2);
	ck_assert_str_eq(core_buf_cstr(&b), "42");
	for (int i = 0; i < 10000; i++)
		core_buf_putc(&b, 'x');
	ck_assert_uint_eq(b.len, 10002);
	core_buf_consume(&b, 1000000);
	ck_assert_uint_eq(b.len, 0);
	core_buf_append(&b, "a\0b", 3);
	size_t n;
	char *p = core_buf_detach(&b, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(p, "a\0b", 3), 0);
	ck_assert_ptr_null(b.p);
	free(p);
	core_buf_append_str(&b, "secret");
	core_buf_fini_wipe(&b);
	ck_assert_ptr_null(b.p);
}
END_TEST

START_TEST(test_str)
{
	struct core_str s = CORE_STR("  Hello World \r\n");
	struct core_str t = core_str_trim(s);
	ck_assert(core_str_eq_cstr(t, "Hello World"));
	ck_assert(core_str_eq_cstr_ci(t, "hello world"));
	ck_assert(!core_str_eq_cstr(t, "hello world"));
	ck_assert(core_str_has_prefix_ci(t, "HELLO"));
	ck_assert(!core_str_has_prefix(t, "HELLO"));
	struct core_str head, tail;
	ck_assert(core_str_split_char(t, ' ', &head, &tail));
	ck_assert(core_str_eq_cstr(head, "Hello"));
	ck_assert(core_str_eq_cstr(tail, "World"));
	ck_assert(!core_str_split_char(head, ':', &head, &tail));
	ck_assert_uint_eq(tail.len, 0);
	ck_assert_int_lt(core_str_cmp(CORE_STR("ab"), CORE_STR("abc")), 0);
	ck_assert_int_gt(core_str_cmp(CORE_STR("b"), CORE_STR("abc")), 0);
	ck_assert_int_eq(core_str_cmp(CORE_STR(""), CORE_STR("")), 0);
	uint64_t v;
	ck_assert_int_eq(core_str_to_u64(CORE_STR("18446744073709551615"), &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(core_str_to_u64(CORE_STR("18446744073709551616"), &v), CORE_ELIMIT);
	ck_assert_int_eq(core_str_to_u64(CORE_STR("12a"), &v), CORE_ESYNTAX);
	ck_assert_int_eq(core_str_to_u64(CORE_STR(""), &v), CORE_ESYNTAX);
	ck_assert_int_eq(core_str_to_u64(CORE_STR("-1"), &v), CORE_ESYNTAX);
	ck_assert_int_eq(core_strcasecmp_ascii("ABC", "abc"), 0);
	ck_assert_int_ne(core_strncasecmp_ascii("ABD", "abc", 3), 0);
	ck_assert_int_eq(core_strncasecmp_ascii("ABD", "abc", 2), 0);
	ck_assert_int_eq(core_str_find_char(CORE_STR("a=b"), '='), 1);
	ck_assert_int_eq(core_str_find_char(CORE_STR_NULL, '='), -1);
}
END_TEST

static Suite *basics_suite(void)
{
	Suite *s = suite_create("core_basics");
	TCase *tc = tcase_create("basics");
	tcase_add_test(tc, test_error_set);
	tcase_add_test(tc, test_ct_memeq);
	tcase_add_test(tc, test_arena);
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_str);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(basics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
