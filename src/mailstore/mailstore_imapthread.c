/*
 * mailstore_imapthread.c: IMAP THREAD (RFC 5256 §3) over stored fields. ORDEREDSUBJECT
 * groups by base subject; REFERENCES builds a forest of containers keyed by Message-ID,
 * prunes containers of messages that were not searched, gathers top-level threads by base
 * subject and sorts every set of siblings by sent date (§2.2). Every walk is iterative with
 * an explicit stack, so deep reply chains cannot exhaust the C stack, and a link is never
 * made when it would close a loop, so every walk ends.
 */
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_imapthread.h"

#define IT_NONE SIZE_MAX

/* ------------------------------------------------------------------------------------ */
/* String table                                                                         */
/* ------------------------------------------------------------------------------------ */

struct it_slot {
	const char *k; /* NULL: empty */
	uint64_t h;
	size_t v;
};

struct it_map {
	struct it_slot *s;
	size_t cap, n;
};

static uint64_t it_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct it_slot *it_map_slot(struct it_map *m, const char *k, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);
	while (m->s[i].k != NULL && (m->s[i].h != h || strcmp(m->s[i].k, k) != 0))
		i = (i + 1) & (m->cap - 1);
	return &m->s[i];
}

static void it_map_grow(struct it_map *m)
{
	struct it_map g = {.cap = m->cap == 0 ? 64 : m->cap * 2, .n = m->n};
	g.s = core_xcalloc(g.cap, sizeof(*g.s));
	for (size_t i = 0; i < m->cap; i++)
		if (m->s[i].k != NULL)
			*it_map_slot(&g, m->s[i].k, m->s[i].h) = m->s[i];
	free(m->s);
	*m = g;
}

/* The value of k, or NULL. */
static size_t *it_map_get(struct it_map *m, const char *k)
{
	if (m->cap == 0)
		return NULL;
	struct it_slot *s = it_map_slot(m, k, it_hash(k));
	return s->k != NULL ? &s->v : NULL;
}

/* Set k (borrowed, must outlive the map) to v. */
static void it_map_put(struct it_map *m, const char *k, size_t v)
{
	if ((m->n + 1) * 2 > m->cap)
		it_map_grow(m);
	uint64_t h = it_hash(k);
	struct it_slot *s = it_map_slot(m, k, h);
	if (s->k == NULL) {
		s->k = k;
		s->h = h;
		m->n++;
	}
	s->v = v;
}

static void it_map_fini(struct it_map *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------------------ */
/* Per-message keys                                                                     */
/* ------------------------------------------------------------------------------------ */

static bool it_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 5256 §5 subj-blob: "[" *BLOBCHAR "]" *WSP; its length at p, or 0. */
static size_t it_blob_len(const char *p, size_t n)
{
	if (n == 0 || p[0] != '[')
		return 0;
	size_t i = 1;
	while (i < n && p[i] != ']' && p[i] != '[')
		i++;
	if (i >= n)
		return 0;
	i++;
	while (i < n && it_wsp(p[i]))
		i++;
	return i;
}

/* RFC 5256 §5 subj-leader = (*subj-blob subj-refwd) / WSP, the refwd form; 0 if none. */
static size_t it_refwd_len(const char *p, size_t n)
{
	size_t i = 0;
	for (size_t b; (b = it_blob_len(p + i, n - i)) > 0;)
		i += b;
	size_t w = 0;
	if (n - i >= 3 && core_strncasecmp_ascii(p + i, "fwd", 3) == 0)
		w = 3;
	else if (n - i >= 2 && (core_strncasecmp_ascii(p + i, "fw", 2) == 0 ||
				core_strncasecmp_ascii(p + i, "re", 2) == 0))
		w = 2;
	if (w == 0)
		return 0;
	i += w;
	while (i < n && it_wsp(p[i]))
		i++;
	i += it_blob_len(p + i, n - i);
	if (i >= n || p[i] != ':')
		return 0;
	return i + 1;
}

/*
 * RFC 5256 §3 REFERENCES: a message is a reply or forward when base subject extraction
 * (§2.1) removes a subj-refwd, a "(fwd)" subj-trailer, or a subj-fwd-hdr and subj-fwd-trl.
 * The same steps as §2.1, keeping only whether one of those was removed.
 */
static bool it_subject_is_reply(const char *s)
{
	if (s == NULL)
		return false;
	const char *p = s;
	size_t n = strlen(s);
	bool reply = false;
	for (bool again = true; again;) {
		again = false;
		/* (2) subj-trailer: "(fwd)" / WSP, repeatedly. */
		for (bool t = true; t;) {
			t = false;
			while (n > 0 && it_wsp(p[n - 1]))
				n--;
			if (n >= 5 && core_strncasecmp_ascii(p + n - 5, "(fwd)", 5) == 0) {
				n -= 5;
				t = reply = true;
			}
		}
		/* (3)-(5) subj-leader, and subj-blob when text remains after it. */
		for (bool l = true; l;) {
			l = false;
			while (n > 0 && it_wsp(p[0])) {
				p++;
				n--;
			}
			size_t r = it_refwd_len(p, n);
			if (r > 0) {
				p += r;
				n -= r;
				l = reply = true;
				continue;
			}
			size_t b = it_blob_len(p, n);
			if (b > 0 && b < n) {
				p += b;
				n -= b;
				l = true;
			}
		}
		/* (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]". */
		if (n >= 6 && core_strncasecmp_ascii(p, "[fwd:", 5) == 0 && p[n - 1] == ']') {
			p += 5;
			n -= 6;
			again = reply = true;
		}
	}
	return reply;
}

/*
 * RFC 5256 §3 REFERENCES note: msg-ids that differ only by quoting are the same id
 * (<"a b"@x> and <a b@x>). Quotes are dropped and quoted-pairs unescaped; comparison stays
 * case-sensitive. NULL for an empty id (not a valid Message ID).
 */
static const char *it_msgid_norm(struct core_arena *a, const char *id)
{
	if (id == NULL)
		return NULL;
	size_t n = strlen(id);
	if (memchr(id, '"', n) == NULL && memchr(id, '\\', n) == NULL)
		return n > 0 ? id : NULL;
	char *o = core_arena_alloc(a, n + 1);
	size_t j = 0;
	bool q = false;
	for (size_t i = 0; i < n; i++) {
		if (id[i] == '"') {
			q = !q;
			continue;
		}
		if (id[i] == '\\' && q && i + 1 < n)
			i++;
		o[j++] = id[i];
	}
	o[j] = '\0';
	return j > 0 ? o : NULL;
}

struct it_key {
	int64_t date;
	uint32_t num;
	size_t idx; /* message or node index */
};

static int it_key_cmp(const void *x, const void *y)
{
	const struct it_key *a = x, *b = y;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	if (a->num != b->num)
		return a->num < b->num ? -1 : 1;
	return 0;
}

/* RFC 5256 §2.2: the Date: header, else INTERNALDATE. */
static int64_t it_sent(const struct mailstore_imapthread_msg *m)
{
	return m->has_sent_at ? m->sent_at : m->internal_date;
}

struct it_ctx {
	const struct mailstore_imapthread_msg *msgs;
	size_t n;
	struct core_arena *tmp;
	const char **base; /* per message: RFC 5256 §2.1 base subject */
	bool *reply;       /* per message: a reply or forward (§3 REFERENCES) */
};

static void it_ctx_subjects(struct it_ctx *c, bool with_reply)
{
	c->base = core_arena_zalloc(c->tmp, (c->n > 0 ? c->n : 1) * sizeof(*c->base));
	if (with_reply)
		c->reply = core_arena_zalloc(c->tmp, (c->n > 0 ? c->n : 1) * sizeof(*c->reply));
	struct core_buf b = CORE_BUF_INIT;
	for (size_t i = 0; i < c->n; i++) {
		const char *s = c->msgs[i].subject;
		core_buf_reset(&b);
		if (s != NULL)
			mailstore_subject_base(s, strlen(s), &b);
		char *o = core_arena_alloc(c->tmp, b.len + 1);
		if (b.len > 0)
			memcpy(o, b.p, b.len);
		o[b.len] = '\0';
		c->base[i] = o;
		if (with_reply)
			c->reply[i] = it_subject_is_reply(s);
	}
	core_buf_fini(&b);
}

/* ------------------------------------------------------------------------------------ */
/* ORDEREDSUBJECT                                                                       */
/* ------------------------------------------------------------------------------------ */

struct it_subj_key {
	const char *base;
	struct it_key k;
};

static int it_subj_key_cmp(const void *x, const void *y)
{
	const struct it_subj_key *a = x, *b = y;
	int c = strcmp(a->base, b->base);
	return c != 0 ? c : it_key_cmp(&a->k, &b->k);
}

/* RFC 5256 §3 ORDEREDSUBJECT: sort by base subject then sent date; each run of one base
 * subject is a thread whose first message is the parent of all the others; threads in
 * order of the sent date of their first message. */
static void it_orderedsubject(struct it_ctx *c, struct core_arena *a,
			      struct mailstore_imapthread_node **out, size_t *n_out)
{
	it_ctx_subjects(c, false);
	struct it_subj_key *s = core_xcalloc(c->n, sizeof(*s));
	for (size_t i = 0; i < c->n; i++)
		s[i] = (struct it_subj_key){c->base[i], {it_sent(&c->msgs[i]), c->msgs[i].num, i}};
	qsort(s, c->n, sizeof(*s), it_subj_key_cmp);
	/* Heads of runs, sorted by their own key. */
	struct it_key *heads = core_xcalloc(c->n, sizeof(*heads));
	size_t nh = 0;
	for (size_t i = 0; i < c->n; i++)
		if (i == 0 || strcmp(s[i].base, s[i - 1].base) != 0) {
			heads[nh] = s[i].k;
			heads[nh++].idx = i; /* position of the run in s */
		}
	qsort(heads, nh, sizeof(*heads), it_key_cmp);
	struct mailstore_imapthread_node *t = core_arena_zalloc(a, nh * sizeof(*t));
	for (size_t h = 0; h < nh; h++) {
		size_t i = heads[h].idx, e = i + 1;
		while (e < c->n && strcmp(s[e].base, s[i].base) == 0)
			e++;
		t[h].num = s[i].k.num;
		t[h].nchildren = e - i - 1;
		if (t[h].nchildren > 0) {
			t[h].children =
				core_arena_zalloc(a, t[h].nchildren * sizeof(*t[h].children));
			for (size_t j = i + 1; j < e; j++)
				t[h].children[j - i - 1].num = s[j].k.num;
		}
	}
	free(heads);
	free(s);
	*out = nh > 0 ? t : NULL;
	*n_out = nh;
}

/* ------------------------------------------------------------------------------------ */
/* REFERENCES                                                                           */
/* ------------------------------------------------------------------------------------ */

struct it_node {
	size_t parent, first, last, next, prev;
	size_t msg; /* index in msgs, IT_NONE for a dummy */
};

struct it_forest {
	struct it_node *v;
	size_t n, cap;
	uint64_t budget; /* parent steps the loop checks may still walk */
};

static size_t it_node_new(struct it_forest *f, size_t msg)
{
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->v = core_xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n] = (struct it_node){IT_NONE, IT_NONE, IT_NONE, IT_NONE, IT_NONE, msg};
	return f->n++;
}

static void it_unlink(struct it_forest *f, size_t x)
{
	struct it_node *v = f->v;
	size_t p = v[x].parent;
	if (p == IT_NONE)
		return;
	if (v[x].prev != IT_NONE)
		v[v[x].prev].next = v[x].next;
	else
		v[p].first = v[x].next;
	if (v[x].next != IT_NONE)
		v[v[x].next].prev = v[x].prev;
	else
		v[p].last = v[x].prev;
	v[x].parent = v[x].next = v[x].prev = IT_NONE;
}

/* Append x (unlinked) as the last child of p. */
static void it_append(struct it_forest *f, size_t p, size_t x)
{
	struct it_node *v = f->v;
	v[x].parent = p;
	v[x].prev = v[p].last;
	v[x].next = IT_NONE;
	if (v[p].last != IT_NONE)
		v[v[p].last].next = x;
	else
		v[p].first = x;
	v[p].last = x;
}

/* Insert x (unlinked) before y, a child of some node. */
static void it_insert_before(struct it_forest *f, size_t y, size_t x)
{
	struct it_node *v = f->v;
	size_t p = v[y].parent;
	v[x].parent = p;
	v[x].next = y;
	v[x].prev = v[y].prev;
	if (v[y].prev != IT_NONE)
		v[v[y].prev].next = x;
	else
		v[p].first = x;
	v[y].prev = x;
}

/*
 * Would making p the parent of c close a loop (p is c or below c)? A c without children
 * is above nothing, so only a c with children needs the walk up from p. The walks share a
 * budget proportional to the input: crafted References (a deep chain named again and
 * again) cannot make threading quadratic. Once it is spent, a link that needs a walk is
 * refused as if it made a loop, which keeps the forest loop-free; the budget is far above
 * what real mailboxes use.
 */
static bool it_would_loop(struct it_forest *f, size_t p, size_t c)
{
	if (p == c)
		return true;
	if (f->v[c].first == IT_NONE)
		return false;
	for (size_t x = p; x != IT_NONE; x = f->v[x].parent) {
		if (x == c || f->budget == 0)
			return true;
		f->budget--;
	}
	return false;
}

/* The container of id, created as a dummy when no message has it (§3 step 1.A). */
static size_t it_container(struct it_forest *f, struct it_map *ids, const char *id)
{
	size_t *v = it_map_get(ids, id);
	if (v != NULL)
		return *v;
	size_t x = it_node_new(f, IT_NONE);
	it_map_put(ids, id, x);
	return x;
}

/* Sort the children of x by sent date then number (§2.2); a dummy child sorts as its
 * first child, whose own children must be sorted before. */
static void it_sort_children(struct it_forest *f, const struct it_ctx *c, size_t x,
			     struct it_key **buf, size_t *bufcap)
{
	struct it_node *v = f->v;
	size_t k = 0;
	for (size_t y = v[x].first; y != IT_NONE; y = v[y].next)
		k++;
	if (k < 2)
		return;
	if (k > *bufcap) {
		*bufcap = k;
		*buf = core_xrealloc(*buf, k * sizeof(**buf));
	}
	struct it_key *b = *buf;
	size_t i = 0;
	for (size_t y = v[x].first; y != IT_NONE; y = v[y].next) {
		size_t m = v[y].msg;
		if (m == IT_NONE && v[y].first != IT_NONE)
			m = v[v[y].first].msg;
		b[i].date = m != IT_NONE ? it_sent(&c->msgs[m]) : INT64_MIN;
		b[i].num = m != IT_NONE ? c->msgs[m].num : 0;
		b[i++].idx = y;
	}
	qsort(b, k, sizeof(*b), it_key_cmp);
	v[x].first = v[x].last = IT_NONE;
	for (i = 0; i < k; i++) {
		v[b[i].idx].parent = IT_NONE;
		it_append(f, x, b[i].idx);
	}
}

/* Nodes below r, every node after all of its descendants (reversed pre-order). */
static size_t *it_postorder(const struct it_forest *f, size_t r, size_t *n_out)
{
	size_t *order = core_xcalloc(f->n, sizeof(*order));
	size_t *stack = core_xcalloc(f->n, sizeof(*stack));
	size_t no = 0, ns = 0;
	for (size_t y = f->v[r].first; y != IT_NONE; y = f->v[y].next)
		stack[ns++] = y;
	while (ns > 0) {
		size_t x = stack[--ns];
		order[no++] = x;
		for (size_t y = f->v[x].first; y != IT_NONE; y = f->v[y].next)
			stack[ns++] = y;
	}
	free(stack);
	for (size_t i = 0; i < no / 2; i++) {
		size_t t = order[i];
		order[i] = order[no - 1 - i];
		order[no - 1 - i] = t;
	}
	*n_out = no;
	return order;
}

static const char *it_thread_subject(const struct it_forest *f, const struct it_ctx *c, size_t x)
{
	size_t m = f->v[x].msg;
	if (m == IT_NONE && f->v[x].first != IT_NONE)
		m = f->v[f->v[x].first].msg;
	return m != IT_NONE ? c->base[m] : "";
}

static bool it_is_reply(const struct it_forest *f, const struct it_ctx *c, size_t x)
{
	return f->v[x].msg != IT_NONE && c->reply[f->v[x].msg];
}

static void it_references(struct it_ctx *c, struct core_arena *a,
			  struct mailstore_imapthread_node **out, size_t *n_out)
{
	it_ctx_subjects(c, true);
	struct it_forest f = {0};
	struct it_map ids = {0};
	/* Messages in mailbox order: the lowest number keeps a repeated Message-ID. */
	struct it_key *ord = core_xcalloc(c->n > 0 ? c->n : 1, sizeof(*ord));
	for (size_t i = 0; i < c->n; i++)
		ord[i] = (struct it_key){0, c->msgs[i].num, i};
	qsort(ord, c->n, sizeof(*ord), it_key_cmp);
	size_t *node_of = core_xcalloc(c->n > 0 ? c->n : 1, sizeof(*node_of));
	f.budget = 10000000u;
	for (size_t i = 0; i < c->n; i++) {
		size_t r = c->msgs[i].nreferences;
		f.budget += 8u * (2u + (r < MAILSTORE_IMAPTHREAD_REFS_MAX
						? r
						: MAILSTORE_IMAPTHREAD_REFS_MAX));
	}
	/* §3 step 1.A: a message without a valid Message-ID, or repeating an earlier one, gets
	 * a container of its own that no reference can reach (a unique id). */
	for (size_t o = 0; o < c->n; o++) {
		size_t i = ord[o].idx;
		const struct mailstore_imapthread_msg *m = &c->msgs[i];
		const char *id =
			m->nmessage_ids > 0 ? it_msgid_norm(c->tmp, m->message_ids[0]) : NULL;
		size_t *v = id != NULL ? it_map_get(&ids, id) : NULL;
		if (v == NULL) {
			node_of[i] = it_node_new(&f, i);
			if (id != NULL)
				it_map_put(&ids, id, node_of[i]);
		} else {
			node_of[i] = it_node_new(&f, i);
		}
	}
	/* Step 1.A and 1.B per message, in mailbox order, over the containers made above. */
	const char **refs = core_xcalloc(MAILSTORE_IMAPTHREAD_REFS_MAX, sizeof(*refs));
	for (size_t o = 0; o < c->n; o++) {
		size_t i = ord[o].idx;
		const struct mailstore_imapthread_msg *m = &c->msgs[i];
		/* The references: References, else the first valid id of In-Reply-To. */
		size_t nr = 0;
		size_t from = m->nreferences > MAILSTORE_IMAPTHREAD_REFS_MAX
				      ? m->nreferences - MAILSTORE_IMAPTHREAD_REFS_MAX
				      : 0;
		for (size_t j = from; j < m->nreferences; j++) {
			const char *r = it_msgid_norm(c->tmp, m->references[j]);
			if (r != NULL)
				refs[nr++] = r;
		}
		for (size_t j = 0; nr == 0 && j < m->nin_reply_to; j++) {
			const char *r = it_msgid_norm(c->tmp, m->in_reply_to[j]);
			if (r != NULL)
				refs[nr++] = r;
		}
		/* Step 1.A: chain the references, keeping existing parents, never a loop. */
		size_t prev = IT_NONE;
		for (size_t j = 0; j < nr; j++) {
			size_t x = it_container(&f, &ids, refs[j]);
			if (prev != IT_NONE && f.v[x].parent == IT_NONE &&
			    !it_would_loop(&f, prev, x))
				it_append(&f, prev, x);
			prev = x;
		}
		/* Step 1.B: the last reference is the parent (replacing a parent set from a
		 * truncated References); no references: no parent. */
		size_t self = node_of[i];
		if (prev == IT_NONE) {
			it_unlink(&f, self);
		} else if (f.v[self].parent != prev && !it_would_loop(&f, prev, self)) {
			it_unlink(&f, self);
			it_append(&f, prev, self);
		}
	}
	free(refs);
	free(node_of);
	free(ord);
	it_map_fini(&ids);

	/* Step 2: every container without a parent goes under the root. */
	size_t root = it_node_new(&f, IT_NONE);
	for (size_t x = 0; x < root; x++)
		if (f.v[x].parent == IT_NONE)
			it_append(&f, root, x);

	/* Step 3: drop dummies; a dummy's children take its place, except that several
	 * children of a top-level dummy stay under it. */
	size_t no;
	size_t *order = it_postorder(&f, root, &no);
	for (size_t k = 0; k < no; k++) {
		size_t x = order[k];
		if (f.v[x].msg != IT_NONE)
			continue;
		size_t p = f.v[x].parent;
		if (f.v[x].first == IT_NONE) {
			it_unlink(&f, x);
			continue;
		}
		bool one = f.v[f.v[x].first].next == IT_NONE;
		if (p == root && !one)
			continue;
		while (f.v[x].first != IT_NONE) {
			size_t y = f.v[x].first;
			it_unlink(&f, y);
			it_insert_before(&f, x, y);
		}
		it_unlink(&f, x);
	}
	free(order);

	/* Step 4: sort the top level (a dummy by its earliest child). */
	struct it_key *kb = NULL;
	size_t kcap = 0;
	for (size_t y = f.v[root].first; y != IT_NONE; y = f.v[y].next)
		if (f.v[y].msg == IT_NONE)
			it_sort_children(&f, c, y, &kb, &kcap);
	it_sort_children(&f, c, root, &kb, &kcap);

	/* Step 5: merge top-level threads with the same base subject. */
	struct it_map subj = {0};
	for (size_t x = f.v[root].first; x != IT_NONE; x = f.v[x].next) {
		const char *s = it_thread_subject(&f, c, x);
		if (*s == '\0')
			continue;
		size_t *t = it_map_get(&subj, s);
		if (t == NULL)
			it_map_put(&subj, s, x);
		else if (f.v[*t].msg != IT_NONE &&
			 (f.v[x].msg == IT_NONE ||
			  (it_is_reply(&f, c, *t) && !it_is_reply(&f, c, x))))
			*t = x;
	}
	size_t ntop = 0;
	for (size_t x = f.v[root].first; x != IT_NONE; x = f.v[x].next)
		ntop++;
	size_t *top = core_xcalloc(ntop > 0 ? ntop : 1, sizeof(*top));
	ntop = 0;
	for (size_t x = f.v[root].first; x != IT_NONE; x = f.v[x].next)
		top[ntop++] = x;
	for (size_t k = 0; k < ntop; k++) {
		size_t x = top[k];
		if (f.v[x].parent != root)
			continue;
		const char *s = it_thread_subject(&f, c, x);
		if (*s == '\0')
			continue;
		size_t *tp = it_map_get(&subj, s);
		size_t t = *tp;
		if (t == x)
			continue;
		bool xd = f.v[x].msg == IT_NONE, td = f.v[t].msg == IT_NONE;
		if (xd && td) {
			while (f.v[x].first != IT_NONE) {
				size_t y = f.v[x].first;
				it_unlink(&f, y);
				it_append(&f, t, y);
			}
			it_unlink(&f, x);
		} else if (td || (it_is_reply(&f, c, x) && !it_is_reply(&f, c, t))) {
			it_unlink(&f, x);
			it_append(&f, t, x);
		} else {
			/* A new dummy takes t's place with t and x below it. tp stays valid:
			 * nothing was added to the table since the lookup. */
			size_t d = it_node_new(&f, IT_NONE);
			it_insert_before(&f, t, d);
			it_unlink(&f, t);
			it_unlink(&f, x);
			it_append(&f, d, t);
			it_append(&f, d, x);
			*tp = d;
		}
	}
	free(top);
	it_map_fini(&subj);

	/* Step 6: sort every set of siblings, deepest first; the top level last, so that a
	 * dummy sorts by its first child. */
	for (size_t x = 0; x < f.n; x++)
		if (x != root && f.v[x].first != IT_NONE)
			it_sort_children(&f, c, x, &kb, &kcap);
	it_sort_children(&f, c, root, &kb, &kcap);
	free(kb);

	/* The result tree, breadth first from the root. */
	size_t nt = 0;
	for (size_t y = f.v[root].first; y != IT_NONE; y = f.v[y].next)
		nt++;
	struct mailstore_imapthread_node *threads =
		nt > 0 ? core_arena_zalloc(a, nt * sizeof(*threads)) : NULL;
	struct it_pair {
		size_t src;
		struct mailstore_imapthread_node *dst;
	} *q = core_xcalloc(f.n, sizeof(*q));
	size_t qh = 0, qt = 0, i = 0;
	for (size_t y = f.v[root].first; y != IT_NONE; y = f.v[y].next)
		q[qt++] = (struct it_pair){y, &threads[i++]};
	while (qh < qt) {
		struct it_pair p = q[qh++];
		size_t m = f.v[p.src].msg;
		p.dst->num = m != IT_NONE ? c->msgs[m].num : 0;
		size_t k = 0;
		for (size_t y = f.v[p.src].first; y != IT_NONE; y = f.v[y].next)
			k++;
		p.dst->nchildren = k;
		if (k == 0)
			continue;
		p.dst->children = core_arena_zalloc(a, k * sizeof(*p.dst->children));
		k = 0;
		for (size_t y = f.v[p.src].first; y != IT_NONE; y = f.v[y].next)
			q[qt++] = (struct it_pair){y, &p.dst->children[k++]};
	}
	free(q);
	free(f.v);
	*out = threads;
	*n_out = nt;
}

/* ------------------------------------------------------------------------------------ */
/* Entry points                                                                         */
/* ------------------------------------------------------------------------------------ */

void mailstore_imapthread_msg_from_parsed(struct mailstore_imapthread_msg *m, uint32_t num,
					  const struct mailstore_parsed *p, int64_t internal_date)
{
	memset(m, 0, sizeof(*m));
	m->num = num;
	m->subject = p->subject;
	m->has_sent_at = p->has_sent_at;
	m->sent_at = p->sent_at;
	m->internal_date = internal_date;
	m->message_ids = p->message_ids;
	m->nmessage_ids = p->nmessage_ids;
	m->in_reply_to = p->in_reply_to;
	m->nin_reply_to = p->nin_reply_to;
	m->references = p->references;
	m->nreferences = p->nreferences;
}

static int it_num_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

int mailstore_imapthread_compute(const struct mailstore_imapthread_msg *msgs, size_t n,
				 enum mailstore_imapthread_algo algo, struct core_arena *a,
				 struct mailstore_imapthread_node **threads_out, size_t *n_out,
				 struct core_error *err)
{
	*threads_out = NULL;
	*n_out = 0;
	if (algo != MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT && algo != MAILSTORE_IMAPTHREAD_REFERENCES)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5256 §3", "unknown algorithm");
	if (n > MAILSTORE_IMAPTHREAD_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many messages to thread");
	if (n == 0)
		return 0;
	/* Numbers are nz-number (RFC 5256 §5) and identify one message each. */
	uint32_t *nums = core_xcalloc(n, sizeof(*nums));
	for (size_t i = 0; i < n; i++)
		nums[i] = msgs[i].num;
	qsort(nums, n, sizeof(*nums), it_num_cmp);
	bool bad = nums[0] == 0;
	for (size_t i = 1; i < n && !bad; i++)
		bad = nums[i] == nums[i - 1];
	free(nums);
	if (bad)
		return core_error_set(err, CORE_ESYNTAX, "RFC 5256 §5",
				      "message numbers must be non-zero and distinct");
	struct it_ctx c = {.msgs = msgs, .n = n, .tmp = core_arena_new(0)};
	if (algo == MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT)
		it_orderedsubject(&c, a, threads_out, n_out);
	else
		it_references(&c, a, threads_out, n_out);
	core_arena_free(&c.tmp);
	return 0;
}

void mailstore_imapthread_format(const struct mailstore_imapthread_node *threads, size_t n,
				 struct core_buf *out)
{
	struct frame {
		const struct mailstore_imapthread_node *node;
		size_t next; /* next child to write; SIZE_MAX before the members */
	};
	struct frame *st = NULL;
	size_t cap = 0;
	for (size_t t = 0; t < n; t++) {
		/* RFC 5256 §5: thread-list = "(" (thread-members / thread-nested) ")". */
		size_t ns = 0;
		if (cap == 0) {
			cap = 16;
			st = core_xrealloc(st, cap * sizeof(*st));
		}
		st[ns++] = (struct frame){&threads[t], SIZE_MAX};
		core_buf_putc(out, '(');
		while (ns > 0) {
			struct frame *f = &st[ns - 1];
			if (f->next == SIZE_MAX) {
				/* thread-members: numbers of a single-child chain, then the
				 * nested sub-threads when it splits. */
				const struct mailstore_imapthread_node *x = f->node;
				bool any = false;
				for (;;) {
					if (x->num != 0) {
						if (any)
							core_buf_putc(out, ' ');
						core_buf_printf(out, "%u", (unsigned)x->num);
						any = true;
					}
					if (x->nchildren != 1)
						break;
					x = &x->children[0];
				}
				f->node = x;
				f->next = 0;
				if (any && x->nchildren > 0)
					core_buf_putc(out, ' ');
			}
			if (f->next < f->node->nchildren) {
				const struct mailstore_imapthread_node *ch =
					&f->node->children[f->next++];
				if (ns == cap) {
					cap *= 2;
					st = core_xrealloc(st, cap * sizeof(*st));
				}
				st[ns++] = (struct frame){ch, SIZE_MAX};
				core_buf_putc(out, '(');
			} else {
				core_buf_putc(out, ')');
				ns--;
			}
		}
	}
	free(st);
}

/* ------------------------------------------------------------------------------------ */
/* Over a mailbox                                                                       */
/* ------------------------------------------------------------------------------------ */

struct it_load {
	const uint32_t *uids;
	size_t n, pos;
	uint64_t *email; /* per requested uid; 0 when it does not exist */
};

static int it_load_uid(void *arg, uint32_t uid, uint64_t email_id, uint64_t modseq)
{
	(void)modseq;
	struct it_load *l = arg;
	while (l->pos < l->n && l->uids[l->pos] < uid)
		l->pos++;
	if (l->pos == l->n)
		return 1;
	if (l->uids[l->pos] == uid)
		l->email[l->pos++] = email_id;
	return 0;
}

static const char **it_strs_copy(struct core_arena *a, const char **s, size_t n)
{
	if (n == 0)
		return NULL;
	const char **o = core_arena_alloc(a, n * sizeof(*o));
	for (size_t i = 0; i < n; i++)
		o[i] = s[i] != NULL ? core_arena_strdup(a, s[i]) : NULL;
	return o;
}

int mailstore_imapthread_mailbox(struct mailstore *ms, uint64_t account, uint64_t mailbox,
				 const uint32_t *uids, const uint32_t *nums, size_t n,
				 enum mailstore_imapthread_algo algo, struct core_arena *a,
				 struct mailstore_imapthread_node **threads_out, size_t *n_out,
				 struct core_error *err)
{
	*threads_out = NULL;
	*n_out = 0;
	if (n > MAILSTORE_IMAPTHREAD_MAX)
		return core_error_set(err, CORE_ELIMIT, NULL, "too many messages to thread");
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0 || (i > 0 && uids[i] <= uids[i - 1]))
			return core_error_set(err, CORE_ESYNTAX, NULL,
					      "UIDs must be increasing and non-zero");
	if (n == 0)
		return algo == MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT ||
				       algo == MAILSTORE_IMAPTHREAD_REFERENCES
			       ? 0
			       : core_error_set(err, CORE_ESYNTAX, "RFC 5256 §3",
						"unknown algorithm");
	struct it_load l = {.uids = uids, .n = n};
	l.email = core_xcalloc(n, sizeof(*l.email));
	int rc = mailstore_mailbox_uids(ms, account, mailbox, uids[0], uids[n - 1], it_load_uid, &l,
					err);
	struct core_arena *keep = core_arena_new(0), *scratch = core_arena_new(0);
	struct mailstore_imapthread_msg *msgs = core_xcalloc(n, sizeof(*msgs));
	size_t nm = 0;
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		if (l.email[i] == 0)
			continue;
		core_arena_reset(scratch);
		struct mailstore_email e;
		struct mailstore_parsed p;
		rc = mailstore_email_get(ms, account, l.email[i], scratch, &e, err);
		if (rc >= 0)
			rc = mailstore_email_parsed(ms, account, l.email[i], scratch, &p, err);
		if (rc == CORE_ENOTFOUND) {
			/* Expunged since the UID walk. */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		/* Keep only what threading reads; the rest of the record goes with scratch. */
		p.subject = p.subject != NULL ? core_arena_strdup(keep, p.subject) : NULL;
		p.message_ids = it_strs_copy(keep, p.message_ids, p.nmessage_ids);
		p.in_reply_to = it_strs_copy(keep, p.in_reply_to, p.nin_reply_to);
		p.references = it_strs_copy(keep, p.references, p.nreferences);
		mailstore_imapthread_msg_from_parsed(&msgs[nm++], nums != NULL ? nums[i] : uids[i],
						     &p, e.received_at);
	}
	if (rc >= 0)
		rc = mailstore_imapthread_compute(msgs, nm, algo, a, threads_out, n_out, err);
	free(msgs);
	free(l.email);
	core_arena_free(&scratch);
	core_arena_free(&keep);
	return rc < 0 ? rc : 0;
}
