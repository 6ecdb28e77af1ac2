/*
 * test_queue_codec.c: robustness of the queue record decoder (queue_entry_decode) against
 * damaged or hostile records: every truncation fails cleanly, trailing bytes are refused,
 * counts and lengths the record cannot hold are refused before anything is allocated, every
 * out-of-range field is refused at its boundary, and accepted records re-encode to the same
 * bytes. Records are written here field by field (a mirror of the format, itself checked
 * against queue_entry_encode) so each field can be damaged on its own. Pure: no store.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_arena.h"
#include "core/core_buf.h"
#include "queue/queue.h"

/* The fields of a one-recipient record, in stored order. */
enum slot {
	S_VERSION,
	S_ID,
	S_CREATED,
	S_DUE,
	S_LEASE_OWNER,
	S_LEASE_UNTIL,
	S_SENDER,
	S_AUTH,
	S_ENVID,
	S_RET,
	S_BODY,
	S_FLAGS,
	S_PRIORITY,
	S_BY_TIME,
	S_BY_MODE,
	S_HOLD,
	S_SIZE,
	S_HASH,
	S_NRCPTS,
	S_ADDR,
	S_NOTIFY,
	S_ORCPT_TYPE,
	S_ORCPT,
	S_STATUS,
	S_ATTEMPTS,
	S_LAST_REPLY,
	S_COUNT
};

static bool slot_is_str(enum slot s)
{
	return s == S_LEASE_OWNER || s == S_SENDER || s == S_AUTH || s == S_ENVID || s == S_ADDR ||
	       s == S_ORCPT_TYPE || s == S_ORCPT || s == S_LAST_REPLY;
}

static const char *const strs[S_COUNT] = {
	[S_LEASE_OWNER] = "mx1:77",
	[S_SENDER] = "alice@example.org",
	[S_AUTH] = "alice",
	[S_ENVID] = "QQ314159",
	[S_ADDR] = "bob@remote.test",
	[S_ORCPT_TYPE] = "rfc822",
	[S_ORCPT] = "bob@remote.test",
	[S_LAST_REPLY] = "451 4.3.0 later",
};

static const uint64_t nums[S_COUNT] = {
	[S_VERSION] = 1,
	[S_ID] = 17,
	[S_CREATED] = 1000,
	[S_DUE] = 2000,
	[S_LEASE_UNTIL] = 3000,
	[S_RET] = 2,
	[S_BODY] = 1,
	[S_FLAGS] = 31,
	[S_PRIORITY] = UINT64_MAX - 2, /* -3 */
	[S_BY_TIME] = 3600,
	[S_BY_MODE] = 'R',
	[S_HOLD] = 1800000000,
	[S_SIZE] = 4096,
	[S_NRCPTS] = 1,
	[S_NOTIFY] = 0x6,
	[S_STATUS] = QUEUE_RCPT_FAILED,
	[S_ATTEMPTS] = 4,
};

static void put_u64(struct core_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 7; i >= 0; i--) {
		x[i] = (uint8_t)v;
		v >>= 8;
	}
	core_buf_append(b, x, 8);
}

/*
 * Write the record with slot `which` replaced by `v`: a number slot takes v, a string slot
 * takes v as its length prefix (its bytes stay the default ones). which == S_COUNT: none.
 */
static size_t offs[S_COUNT]; /* where each slot starts in the last record built */

static void build(struct core_buf *b, enum slot which, uint64_t v)
{
	core_buf_reset(b);
	for (int s = 0; s < S_COUNT; s++) {
		offs[s] = b->len;
		if (s == S_HASH) {
			uint8_t h[STORE_HASH_LEN];
			memset(h, 0x5a, sizeof(h));
			core_buf_append(b, h, sizeof(h));
		} else if (slot_is_str((enum slot)s)) {
			put_u64(b, s == (int)which ? v : strlen(strs[s]));
			core_buf_append_str(b, strs[s]);
		} else {
			put_u64(b, s == (int)which ? v : nums[s]);
		}
	}
}

static int decode(const struct core_buf *b, struct queue_entry *out)
{
	struct core_arena *a = core_arena_new(0);
	int rc = queue_entry_decode(b->p, b->len, a, out);
	core_arena_free(&a);
	return rc;
}

START_TEST(test_queue_codec_mirror)
{
	/* The hand-written record is what the encoder writes for the same entry. */
	struct queue_rcpt r = {.addr = "bob@remote.test",
			       .notify = 0x6,
			       .orcpt_type = "rfc822",
			       .orcpt = "bob@remote.test",
			       .status = QUEUE_RCPT_FAILED,
			       .attempts = 4,
			       .last_reply = "451 4.3.0 later"};
	struct queue_entry e = {.id = 17,
				.created_ms = 1000,
				.due_ms = 2000,
				.lease_owner = "mx1:77",
				.lease_until_ms = 3000,
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
				.hold_until = 1800000000,
				.size = 4096,
				.rcpts = &r,
				.nrcpts = 1};
	memset(e.blob.hash, 0x5a, STORE_HASH_LEN);
	struct core_buf want = CORE_BUF_INIT, got = CORE_BUF_INIT;
	build(&want, S_COUNT, 0);
	queue_entry_encode(&e, &got);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.p, want.p, got.len) == 0);
	struct core_arena *a = core_arena_new(0);
	struct queue_entry d;
	ck_assert_int_eq(queue_entry_decode(want.p, want.len, a, &d), 0);
	ck_assert_int_eq(d.priority, -3);
	ck_assert_int_eq(d.by_mode, 'R');
	ck_assert_uint_eq(d.hold_until, 1800000000u);
	ck_assert_uint_eq(d.rcpts[0].status, QUEUE_RCPT_FAILED);
	ck_assert_str_eq(d.rcpts[0].last_reply, "451 4.3.0 later");
	core_arena_free(&a);
	core_buf_fini(&want);
	core_buf_fini(&got);
}
END_TEST

START_TEST(test_queue_decode_truncations)
{
	struct core_buf b = CORE_BUF_INIT;
	struct queue_entry d;
	build(&b, S_COUNT, 0);
	ck_assert_int_eq(decode(&b, &d), 0);
	size_t full = b.len;
	/* Every prefix, from empty to one byte short, fails cleanly (ASan sees any over-read:
	 * each prefix is copied to a buffer of exactly its size). */
	for (size_t n = 0; n < full; n++) {
		uint8_t *p = malloc(n > 0 ? n : 1);
		ck_assert_ptr_nonnull(p);
		memcpy(p, b.p, n);
		struct core_arena *a = core_arena_new(0);
		ck_assert_int_eq(queue_entry_decode(p, n, a, &d), CORE_ESYNTAX);
		core_arena_free(&a);
		free(p);
	}
	/* Trailing bytes of any value and length are refused. */
	for (size_t extra = 1; extra <= 16; extra++) {
		build(&b, S_COUNT, 0);
		for (size_t i = 0; i < extra; i++)
			core_buf_putc(&b, (char)(i * 37));
		ck_assert_int_eq(decode(&b, &d), CORE_ESYNTAX);
	}
	/* A second record appended to the first is not read as one. */
	struct core_buf two = CORE_BUF_INIT;
	build(&b, S_COUNT, 0);
	core_buf_append(&two, b.p, full);
	core_buf_append(&two, b.p, full);
	ck_assert_int_eq(decode(&two, &d), CORE_ESYNTAX);
	core_buf_fini(&two);
	core_buf_fini(&b);
}
END_TEST

START_TEST(test_queue_decode_absurd_counts)
{
	struct core_buf b = CORE_BUF_INIT;
	struct queue_entry d;
	/* Recipient counts the remaining bytes cannot hold: refused with (almost) nothing
	 * allocated, however plausible the count. */
	static const uint64_t counts[] = {2,
					  64,
					  QUEUE_RCPTS_MAX,
					  QUEUE_RCPTS_MAX + 1,
					  UINT32_MAX,
					  UINT64_MAX / 56 + 1,
					  UINT64_MAX};
	for (size_t i = 0; i < CORE_NELEM(counts); i++) {
		build(&b, S_NRCPTS, counts[i]);
		struct core_arena *a = core_arena_new(0);
		ck_assert_int_eq(queue_entry_decode(b.p, b.len, a, &d), CORE_ESYNTAX);
		ck_assert_msg(core_arena_used(a) < 256, "count %llu: %zu bytes allocated",
			      (unsigned long long)counts[i], core_arena_used(a));
		core_arena_free(&a);
	}
	/* Lengths beyond the limit or beyond the record, in every string. */
	static const uint64_t lens[] = {QUEUE_STR_MAX + 1, 1u << 20, UINT32_MAX + 1ull, UINT64_MAX};
	for (int s = 0; s < S_COUNT; s++) {
		if (!slot_is_str((enum slot)s))
			continue;
		for (size_t i = 0; i < CORE_NELEM(lens); i++) {
			build(&b, (enum slot)s, lens[i]);
			struct core_arena *a = core_arena_new(0);
			ck_assert_int_eq(queue_entry_decode(b.p, b.len, a, &d), CORE_ESYNTAX);
			ck_assert_uint_lt(core_arena_used(a), 1024);
			core_arena_free(&a);
		}
		/* One byte longer than written: the string takes the first byte of the next
		 * field (a NUL here), and the rest no longer lines up: refused. */
		build(&b, (enum slot)s, strlen(strs[s]) + 1);
		ck_assert_int_eq(decode(&b, &d), CORE_ESYNTAX);
	}
	/* A full record of QUEUE_RCPTS_MAX recipients is still read. */
	struct queue_rcpt *r = calloc(QUEUE_RCPTS_MAX, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i < QUEUE_RCPTS_MAX; i++)
		r[i] = (struct queue_rcpt){
			.addr = "", .orcpt_type = "", .orcpt = "", .last_reply = ""};
	struct queue_entry e = {.lease_owner = "",
				.sender = "",
				.auth_user = "",
				.envid = "",
				.rcpts = r,
				.nrcpts = QUEUE_RCPTS_MAX};
	core_buf_reset(&b);
	queue_entry_encode(&e, &b);
	ck_assert_int_eq(decode(&b, &d), 0);
	free(r);
	core_buf_fini(&b);
}
END_TEST

struct field_case {
	enum slot slot;
	uint64_t value;
	int want; /* 0 or CORE_ESYNTAX */
};

static const struct field_case field_cases[] = {
	{S_VERSION, 0, CORE_ESYNTAX},
	{S_VERSION, 2, CORE_ESYNTAX},
	/* RFC 3461 §4.3: RET absent (0), FULL (1) or HDRS (2). */
	{S_RET, 0, 0},
	{S_RET, 3, CORE_ESYNTAX},
	{S_RET, UINT64_MAX, CORE_ESYNTAX},
	/* 7BIT, 8BITMIME (RFC 6152), BINARYMIME (RFC 3030). */
	{S_BODY, 2, 0},
	{S_BODY, 3, CORE_ESYNTAX},
	/* Five flag bits; a sixth is not ours. */
	{S_FLAGS, 0, 0},
	{S_FLAGS, 32, CORE_ESYNTAX},
	{S_FLAGS, 1ull << 40, CORE_ESYNTAX},
	/* RFC 6710 §7: -9..9, two's complement in 64 bits. */
	{S_PRIORITY, 9, 0},
	{S_PRIORITY, 10, CORE_ESYNTAX},
	{S_PRIORITY, UINT64_MAX - 8, 0},            /* -9 */
	{S_PRIORITY, UINT64_MAX - 9, CORE_ESYNTAX}, /* -10 */
	{S_PRIORITY, 1ull << 31, CORE_ESYNTAX},
	{S_PRIORITY, UINT64_MAX - (1ull << 31), CORE_ESYNTAX},
	/* RFC 2852 §4: by-mode N or R (0: no BY). */
	{S_BY_MODE, 'N', 0},
	{S_BY_MODE, 0, 0},
	{S_BY_MODE, 'X', CORE_ESYNTAX},
	{S_BY_MODE, 'R' + 256, CORE_ESYNTAX},
	{S_BY_TIME, UINT64_MAX, 0}, /* -1: N mode may be negative */
	/* RFC 4865: a release time that milliseconds can express. */
	{S_HOLD, UINT64_MAX / 1000, 0},
	{S_HOLD, UINT64_MAX / 1000 + 1, CORE_ESYNTAX},
	/* RFC 3461 §4.1: NEVER, SUCCESS, FAILURE, DELAY bits. */
	{S_NOTIFY, 0xf, 0},
	{S_NOTIFY, 0x10, CORE_ESYNTAX},
	{S_NOTIFY, (1ull << 32) | 0x4, CORE_ESYNTAX},
	{S_STATUS, QUEUE_RCPT_PENDING, 0},
	{S_STATUS, QUEUE_RCPT_FAILED + 1, CORE_ESYNTAX},
	{S_ATTEMPTS, UINT32_MAX, 0},
	{S_ATTEMPTS, 1ull << 32, CORE_ESYNTAX},
	{S_NRCPTS, 0, CORE_ESYNTAX}, /* the recipient's bytes become trailing garbage */
};

START_TEST(test_queue_decode_field_ranges)
{
	struct core_buf b = CORE_BUF_INIT, again = CORE_BUF_INIT;
	for (size_t i = 0; i < CORE_NELEM(field_cases); i++) {
		const struct field_case *c = &field_cases[i];
		build(&b, c->slot, c->value);
		struct core_arena *a = core_arena_new(0);
		struct queue_entry d;
		int rc = queue_entry_decode(b.p, b.len, a, &d);
		ck_assert_msg(rc == c->want, "case %zu (slot %d, value %llu): %d, want %d", i,
			      (int)c->slot, (unsigned long long)c->value, rc, c->want);
		if (rc == 0) {
			/* Accepted values come back unchanged. */
			core_buf_reset(&again);
			queue_entry_encode(&d, &again);
			ck_assert_uint_eq(again.len, b.len);
			ck_assert_msg(memcmp(again.p, b.p, b.len) == 0, "case %zu re-encodes", i);
		}
		core_arena_free(&a);
	}
	core_buf_fini(&b);
	core_buf_fini(&again);
}
END_TEST

START_TEST(test_queue_decode_nul_in_string)
{
	/* A NUL inside a stored string would cut it short on the next write: refused. */
	struct core_buf b = CORE_BUF_INIT;
	struct queue_entry d;
	for (int s = 0; s < S_COUNT; s++) {
		if (!slot_is_str((enum slot)s))
			continue;
		build(&b, S_COUNT, 0);
		/* The string's bytes follow its 8-byte length: put a NUL in their middle. */
		size_t n = strlen(strs[s]);
		ck_assert_uint_gt(n, 1);
		ck_assert(memcmp(b.p + offs[s] + 8, strs[s], n) == 0);
		b.p[offs[s] + 8 + n / 2] = 0;
		ck_assert_int_eq(decode(&b, &d), CORE_ESYNTAX);
	}
	core_buf_fini(&b);
}
END_TEST

static int read_file(const char *path, struct core_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	core_buf_reset(out);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		core_buf_append(out, tmp, n);
	fclose(f);
	return 0;
}

START_TEST(test_queue_decode_seed_corpus)
{
	/* The fuzz seeds: valid_* decode and re-encode byte for byte, the rest is refused. */
	const char *dir = STAUNCH_SOURCE_DIR "/fuzz/corpus/queue_entry";
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	struct core_buf b = CORE_BUF_INIT, again = CORE_BUF_INIT;
	size_t valid = 0, bad = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ck_assert_int_eq(read_file(path, &b), 0);
		struct core_arena *a = core_arena_new(0);
		struct queue_entry e;
		int rc = queue_entry_decode(b.p, b.len, a, &e);
		if (strncmp(de->d_name, "valid_", 6) == 0) {
			ck_assert_msg(rc == 0, "%s refused", de->d_name);
			core_buf_reset(&again);
			queue_entry_encode(&e, &again);
			ck_assert_uint_eq(again.len, b.len);
			ck_assert(memcmp(again.p, b.p, b.len) == 0);
			valid++;
		} else {
			ck_assert_msg(rc == CORE_ESYNTAX, "%s accepted", de->d_name);
			bad++;
		}
		core_arena_free(&a);
	}
	closedir(d);
	ck_assert_uint_ge(valid, 3);
	ck_assert_uint_ge(bad, 3);
	core_buf_fini(&b);
	core_buf_fini(&again);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("queue_codec");
	TCase *tc = tcase_create("decode");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_queue_codec_mirror);
	tcase_add_test(tc, test_queue_decode_truncations);
	tcase_add_test(tc, test_queue_decode_absurd_counts);
	tcase_add_test(tc, test_queue_decode_field_ranges);
	tcase_add_test(tc, test_queue_decode_nul_in_string);
	tcase_add_test(tc, test_queue_decode_seed_corpus);
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
