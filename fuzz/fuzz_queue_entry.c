/*
 * fuzz_queue_entry.c: the outbound queue record decoder (queue_entry_decode) over arbitrary
 * bytes. A stored record may be damaged or hostile, so the decoder must answer 0 or
 * CORE_ESYNTAX, never crash, read past the end, allocate beyond what the bytes can describe,
 * hang or leak. When it accepts a record:
 *  - encoding the result and decoding that again gives the same entry, field by field;
 *  - encoding the second decode gives the same bytes as the first encode;
 *  - those bytes are the input itself: the format has one encoding per entry, so a record
 *    with a stray flag bit, an out-of-range number or a NUL inside a string is refused
 *    rather than silently rewritten by the next lease.
 */
#include "fuzz.h"

#include "core/core.h"
#include "core/core_arena.h"
#include "core/core_buf.h"
#include "queue/queue.h"

static void check_str(const char *x, const char *y)
{
	FUZZ_CHECK(x != NULL && y != NULL);
	FUZZ_CHECK(strcmp(x, y) == 0);
}

static void check_same(const struct queue_entry *x, const struct queue_entry *y)
{
	FUZZ_CHECK(x->id == y->id);
	FUZZ_CHECK(x->created_ms == y->created_ms);
	FUZZ_CHECK(x->due_ms == y->due_ms);
	check_str(x->lease_owner, y->lease_owner);
	FUZZ_CHECK(x->lease_until_ms == y->lease_until_ms);
	check_str(x->sender, y->sender);
	check_str(x->auth_user, y->auth_user);
	check_str(x->envid, y->envid);
	FUZZ_CHECK(x->ret == y->ret);
	FUZZ_CHECK(x->body == y->body);
	FUZZ_CHECK(x->smtputf8 == y->smtputf8);
	FUZZ_CHECK(x->requiretls == y->requiretls);
	FUZZ_CHECK(x->has_priority == y->has_priority);
	FUZZ_CHECK(x->priority == y->priority);
	FUZZ_CHECK(x->has_by == y->has_by);
	FUZZ_CHECK(x->by_time == y->by_time);
	FUZZ_CHECK(x->by_mode == y->by_mode);
	FUZZ_CHECK(x->by_trace == y->by_trace);
	FUZZ_CHECK(x->hold_until == y->hold_until);
	FUZZ_CHECK(x->size == y->size);
	FUZZ_CHECK(memcmp(x->blob.hash, y->blob.hash, STORE_HASH_LEN) == 0);
	FUZZ_CHECK(x->nrcpts == y->nrcpts);
	for (size_t i = 0; i < x->nrcpts; i++) {
		const struct queue_rcpt *r = &x->rcpts[i], *s = &y->rcpts[i];
		check_str(r->addr, s->addr);
		FUZZ_CHECK(r->notify == s->notify);
		check_str(r->orcpt_type, s->orcpt_type);
		check_str(r->orcpt, s->orcpt);
		FUZZ_CHECK(r->status == s->status);
		FUZZ_CHECK(r->attempts == s->attempts);
		check_str(r->last_reply, s->last_reply);
	}
}

/* Values the rest of the server relies on after a successful decode. */
static void check_ranges(const struct queue_entry *e)
{
	FUZZ_CHECK(e->ret >= 0 && e->ret <= 2);
	FUZZ_CHECK(e->body >= 0 && e->body <= 2);
	FUZZ_CHECK(e->priority >= -9 && e->priority <= 9);
	FUZZ_CHECK(e->nrcpts <= QUEUE_RCPTS_MAX);
	FUZZ_CHECK(e->nrcpts == 0 || e->rcpts != NULL);
	for (size_t i = 0; i < e->nrcpts; i++)
		FUZZ_CHECK(e->rcpts[i].status <= QUEUE_RCPT_FAILED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_arena *a = core_arena_new(0);
	struct queue_entry e1, e2;
	int rc = queue_entry_decode(data, size, a, &e1);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	if (rc == 0) {
		check_ranges(&e1);
		struct core_buf b1 = CORE_BUF_INIT, b2 = CORE_BUF_INIT;
		queue_entry_encode(&e1, &b1);
		FUZZ_CHECK(b1.len == size && memcmp(b1.p, data, size) == 0);
		FUZZ_CHECK(queue_entry_decode(b1.p, b1.len, a, &e2) == 0);
		check_same(&e1, &e2);
		queue_entry_encode(&e2, &b2);
		FUZZ_CHECK(b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0);
		core_buf_fini(&b1);
		core_buf_fini(&b2);
	}
	core_arena_free(&a);
	return 0;
}
