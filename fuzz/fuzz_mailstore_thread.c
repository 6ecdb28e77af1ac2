/*
 * fuzz_mailstore_thread.c: libFuzzer target for IMAP THREAD (mailstore_imapthread.c) over
 * arbitrary header contents. The first byte picks the algorithm; every following line is
 * one message "subject|date|message-ids|in-reply-to|references" (ids space-separated; an
 * empty date means no Date: header, the line number is the INTERNALDATE). Short ids make
 * repeated ids, loops and missing parents common.
 * Checks: the call succeeds and returns; every message appears exactly once in the tree;
 * a message not searched (num 0) only heads a top-level thread with two or more children;
 * the formatted response follows the RFC 5256 §5 thread-list grammar exactly.
 */
#include "core/core.h"
#include "fuzz.h"
#include "mailstore/mailstore_imapthread.h"

#define FUZZ_THREAD_MSGS 2000u

static const char **split_ids(struct core_arena *a, const char *s, size_t len, size_t *n_out)
{
	*n_out = 0;
	const char **v = core_arena_zalloc(a, (len / 2 + 1) * sizeof(*v));
	size_t i = 0;
	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		size_t b = i;
		while (i < len && s[i] != ' ')
			i++;
		if (i > b) {
			char *id = core_arena_alloc(a, i - b + 1);
			memcpy(id, s + b, i - b);
			id[i - b] = '\0';
			v[(*n_out)++] = id;
		}
	}
	return v;
}

/* Copy field k (0-based, '|'-separated) of line [p, p+n) as a NUL-terminated string. */
static const char *field(struct core_arena *a, const char *p, size_t n, unsigned k, size_t *len_out)
{
	size_t i = 0;
	for (unsigned f = 0; f < k; f++) {
		while (i < n && p[i] != '|')
			i++;
		if (i == n) {
			*len_out = 0;
			return NULL;
		}
		i++;
	}
	size_t b = i;
	while (i < n && p[i] != '|')
		i++;
	*len_out = i - b;
	char *s = core_arena_alloc(a, i - b + 1);
	memcpy(s, p + b, i - b);
	s[i - b] = '\0';
	return s;
}

static size_t count_tree(const struct mailstore_imapthread_node *t, size_t n, bool top,
			 unsigned char *seen, size_t nseen, unsigned depth)
{
	FUZZ_CHECK(depth <= nseen + 1);
	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i].num == 0) {
			FUZZ_CHECK(top && t[i].nchildren >= 2);
		} else {
			FUZZ_CHECK(t[i].num < nseen && !seen[t[i].num]);
			seen[t[i].num] = 1;
			c++;
		}
		c += count_tree(t[i].children, t[i].nchildren, false, seen, nseen, depth + 1);
	}
	return c;
}

/* RFC 5256 §5: thread-list = "(" (thread-members / thread-nested) ")";
 * thread-members = nz-number *(SP nz-number) [SP thread-nested];
 * thread-nested = 2*thread-list. Returns the position after the list. */
static size_t parse_list(const char *s, size_t n, size_t i, unsigned depth)
{
	FUZZ_CHECK(depth < 100000 && i < n && s[i] == '(');
	i++;
	bool members = false;
	while (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		members = true;
		FUZZ_CHECK(i < n);
		if (s[i] != ' ')
			break;
		i++;
		FUZZ_CHECK(i < n && (s[i] == '(' || (s[i] >= '1' && s[i] <= '9')));
		if (s[i] == '(')
			break;
	}
	FUZZ_CHECK(i < n);
	if (s[i] == '(') {
		unsigned lists = 0;
		while (i < n && s[i] == '(') {
			i = parse_list(s, n, i, depth + 1);
			lists++;
		}
		FUZZ_CHECK(lists >= 2);
	} else {
		FUZZ_CHECK(members);
	}
	FUZZ_CHECK(i < n && s[i] == ')');
	return i + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum mailstore_imapthread_algo algo = (data[0] & 1) != 0
						      ? MAILSTORE_IMAPTHREAD_REFERENCES
						      : MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct core_arena *a = core_arena_new(0);
	struct mailstore_imapthread_msg *m = core_arena_zalloc(a, FUZZ_THREAD_MSGS * sizeof(*m));
	size_t nm = 0;
	for (size_t i = 0; i < n && nm < FUZZ_THREAD_MSGS;) {
		size_t b = i;
		while (i < n && p[i] != '\n')
			i++;
		const char *l = p + b;
		size_t ll = i - b;
		i++;
		struct mailstore_imapthread_msg *x = &m[nm];
		x->num = (uint32_t)++nm;
		size_t fl;
		x->subject = field(a, l, ll, 0, &fl);
		const char *d = field(a, l, ll, 1, &fl);
		if (d != NULL && fl > 0) {
			x->has_sent_at = true;
			for (size_t k = 0; k < fl && k < 6; k++)
				x->sent_at = x->sent_at * 10 + (d[k] & 7);
		}
		x->internal_date = (int64_t)(nm % 7);
		const char *ids = field(a, l, ll, 2, &fl);
		if (ids != NULL)
			x->message_ids = split_ids(a, ids, fl, &x->nmessage_ids);
		const char *irt = field(a, l, ll, 3, &fl);
		if (irt != NULL)
			x->in_reply_to = split_ids(a, irt, fl, &x->nin_reply_to);
		const char *refs = field(a, l, ll, 4, &fl);
		if (refs != NULL)
			x->references = split_ids(a, refs, fl, &x->nreferences);
	}
	struct mailstore_imapthread_node *t = NULL;
	size_t nt = 0;
	struct core_error err;
	FUZZ_CHECK(mailstore_imapthread_compute(m, nm, algo, a, &t, &nt, &err) == 0);
	unsigned char *seen = calloc(nm + 1, 1);
	FUZZ_CHECK(seen != NULL);
	FUZZ_CHECK(count_tree(t, nt, true, seen, nm + 1, 0) == nm);
	free(seen);
	struct core_buf b = CORE_BUF_INIT;
	mailstore_imapthread_format(t, nt, &b);
	size_t i = 0, lists = 0;
	while (i < b.len) {
		i = parse_list(b.p, b.len, i, 0);
		lists++;
	}
	FUZZ_CHECK(lists == nt);
	FUZZ_CHECK((nm == 0) == (b.len == 0));
	core_buf_fini(&b);
	core_arena_free(&a);
	return 0;
}
