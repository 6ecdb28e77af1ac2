/*
 * delivery.c: the spool file and local delivery into the mail store (delivery.h).
 */
#include "delivery/delivery.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_arena.h"
#include "core/core_buf.h"
#include "core/core_log.h"
#include "directory/directory.h"
#include "mailstore/mailstore.h"

/* --- spool ------------------------------------------------------------------------------ */

static int spool_create(const char *dir, struct core_error *err)
{
#ifdef O_TMPFILE
	/* An unnamed file: it vanishes with its descriptor, even after a crash. */
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
		return core_error_set(err, CORE_EIO, NULL, "spool: %s", strerror(errno));
#endif
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/spool.XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return core_error_set(err, CORE_EIO, NULL, "spool: directory name too long");
	int fd2 = mkostemp(path, O_CLOEXEC);
	if (fd2 < 0)
		return core_error_set(err, CORE_EIO, NULL, "spool: %s", strerror(errno));
	unlink(path);
	return fd2;
}

/*
 * Closed spools of one directory kept for reuse, emptied: allocating and freeing a file per
 * message costs the file system more than truncating one (ext4 searches its inode bitmaps
 * on every O_TMPFILE). They are unnamed, so a crash still leaves nothing behind.
 */
#define SPOOL_POOL_MAX 32
static struct {
	pthread_mutex_t mu;
	char dir[4096];
	int fds[SPOOL_POOL_MAX];
	size_t n;
} spool_pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int spool_pool_take(const char *dir)
{
	int fd = -1;
	pthread_mutex_lock(&spool_pool.mu);
	if (spool_pool.n > 0 && strcmp(spool_pool.dir, dir) == 0)
		fd = spool_pool.fds[--spool_pool.n];
	pthread_mutex_unlock(&spool_pool.mu);
	return fd;
}

/* Keep fd (already emptied) for dir's next spool, or close it. */
static void spool_pool_give(const char *dir, int fd)
{
	pthread_mutex_lock(&spool_pool.mu);
	if (spool_pool.n == 0 && strlen(dir) < sizeof(spool_pool.dir))
		memcpy(spool_pool.dir, dir, strlen(dir) + 1);
	if (spool_pool.n < SPOOL_POOL_MAX && strcmp(spool_pool.dir, dir) == 0) {
		spool_pool.fds[spool_pool.n++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&spool_pool.mu);
	if (fd >= 0)
		close(fd);
}

void delivery_spool_pool_clear(void)
{
	pthread_mutex_lock(&spool_pool.mu);
	while (spool_pool.n > 0)
		close(spool_pool.fds[--spool_pool.n]);
	pthread_mutex_unlock(&spool_pool.mu);
}

int delivery_spool_open(struct delivery_spool *sp, const char *dir, const char *reverse_path,
			struct core_error *err)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	if (dir == NULL || dir[0] == '\0')
		dir = ".";
	int fd = spool_pool_take(dir);
	if (fd < 0)
		fd = spool_create(dir, err);
	if (fd < 0)
		return fd;
	if (strlen(dir) < sizeof(sp->dir))
		memcpy(sp->dir, dir, strlen(dir) + 1);
	sp->fd = fd;
	if (reverse_path != NULL) {
		/* RFC 5321 §4.4: the final delivery adds Return-Path with the MAIL reverse-path
		 * ("<>" for the null path). */
		struct core_buf b = CORE_BUF_INIT;
		core_buf_printf(&b, "Return-Path: <%s>\r\n", reverse_path);
		int r = delivery_spool_write(sp, b.p, b.len);
		sp->prefix_len = b.len;
		core_buf_fini(&b);
		if (r < 0) {
			delivery_spool_close(sp);
			return core_error_set(err, r, NULL, "spool: cannot write");
		}
	}
	return 0;
}

/* Write p[0..n) at the file's end (sp->flushed). */
static int spool_pwrite(struct delivery_spool *sp, const char *c, size_t n)
{
	while (n > 0) {
		ssize_t w = pwrite(sp->fd, c, n, (off_t)sp->flushed);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sp->err = CORE_EIO;
		}
		c += w;
		n -= (size_t)w;
		sp->flushed += (uint64_t)w;
	}
	return 0;
}

/* Move the buffered bytes to the file. */
static int spool_flush(struct delivery_spool *sp)
{
	int rc = spool_pwrite(sp, sp->wbuf, sp->wlen);
	sp->wlen = 0;
	return rc;
}

int delivery_spool_write(struct delivery_spool *sp, const void *p, size_t n)
{
	if (sp->err < 0)
		return sp->err;
	if (sp->fd < 0)
		return sp->err = CORE_EIO;
	if (sp->wlen + n > DELIVERY_SPOOL_READ_MAX) {
		/* The buffer is full: to the file, and a large write goes there directly. */
		if (spool_flush(sp) < 0)
			return sp->err;
		if (n >= DELIVERY_SPOOL_READ_MAX) {
			if (spool_pwrite(sp, p, n) < 0)
				return sp->err;
			sp->size += n;
			return 0;
		}
	}
	if (sp->wlen + n > sp->wcap) {
		size_t cap = sp->wcap ? sp->wcap : 8192;
		while (cap < sp->wlen + n)
			cap *= 2;
		if (cap > DELIVERY_SPOOL_READ_MAX)
			cap = DELIVERY_SPOOL_READ_MAX;
		sp->wbuf = core_xrealloc(sp->wbuf, cap);
		sp->wcap = cap;
	}
	if (n > 0)
		memcpy(sp->wbuf + sp->wlen, p, n);
	sp->wlen += n;
	sp->size += n;
	return 0;
}

void delivery_spool_forget(struct delivery_spool *sp)
{
	sp->fd = -1;
	sp->map = NULL;
	sp->wbuf = NULL;
	sp->wlen = sp->wcap = 0;
}

int delivery_spool_map(struct delivery_spool *sp, const void **p_out, size_t *len_out,
		       struct core_error *err)
{
	if (sp->err < 0 || sp->fd < 0)
		return core_error_set(err, CORE_EIO, NULL, "spool: write failed");
	if (sp->map == NULL) {
		if (sp->size == 0 || sp->size > SIZE_MAX)
			return core_error_set(err, CORE_EIO, NULL, "spool: empty");
		/* A small spool is still whole in the write buffer (it is written out only
		 * past DELIVERY_SPOOL_READ_MAX). */
		bool whole = sp->flushed == 0;
		CORE_ASSERT(!whole || sp->wlen == sp->size);
		if (spool_flush(sp) < 0)
			return core_error_set(err, CORE_EIO, NULL, "spool: write failed");
		if (whole) {
			/* Once the bytes are in the file too (the spool holds every message),
			 * that buffer is the copy: no read back, and no mapping (page faults and,
			 * in a threaded process, a TLB flush on every CPU to undo it). */
			sp->map = sp->wbuf;
			sp->map_heap = true;
			sp->wbuf = NULL;
			sp->wcap = 0;
		} else {
			void *m = mmap(NULL, (size_t)sp->size, PROT_READ, MAP_SHARED, sp->fd, 0);
			if (m == MAP_FAILED)
				return core_error_set(err, CORE_EIO, NULL, "spool: mmap: %s",
						      strerror(errno));
			sp->map = m;
			sp->map_heap = false;
		}
		sp->map_len = (size_t)sp->size;
	}
	*p_out = sp->map;
	*len_out = sp->map_len;
	return 0;
}

void delivery_spool_close(struct delivery_spool *sp)
{
	free(sp->wbuf);
	sp->wbuf = NULL;
	sp->wlen = sp->wcap = 0;
	if (sp->map != NULL && sp->map_heap)
		free(sp->map);
	else if (sp->map != NULL)
		munmap(sp->map, sp->map_len);
	sp->map = NULL;
	sp->map_len = 0;
	if (sp->fd >= 0) {
		/* Kept for reuse and written again from its start (pwrite at the spool's own
		 * size): bytes past a later, shorter message are never read. A file that grew
		 * past DELIVERY_SPOOL_KEEP_MAX is emptied first, so a kept file stays small
		 * without a truncation per message. */
		if (sp->dir[0] != '\0' &&
		    (sp->size <= DELIVERY_SPOOL_KEEP_MAX || ftruncate(sp->fd, 0) == 0))
			spool_pool_give(sp->dir, sp->fd);
		else
			close(sp->fd);
	}
	sp->fd = -1;
}

/* --- local delivery ---------------------------------------------------------------------- */

/* What a queued request is told when its sender is woken. */
enum dv_state {
	DV_WAIT = 0, /* queued */
	DV_DONE = 1, /* delivered by a leader: the outcome is in md */
	DV_LEAD = 2, /* the lane's leadership handed to it */
};

/* One message (or one batch of its accounts) waiting for the group commit. A synchronous
 * sender sleeps on its own semaphore, so a batch wakes exactly its members and the next
 * leader; an asynchronous one (committed != NULL) does not wait: the thread that commits
 * it calls committed(arg). */
struct dv_req {
	struct mailstore_delivery md;
	enum dv_state state;
	sem_t wake;
	void (*committed)(void *arg);
	void *arg;
	struct dv_req *next;
};

/* A queue of the group commit, with at most one batch in flight. */
struct dv_lane {
	struct dv_req *head, **tailp;
	bool leading;
};

struct delivery {
	struct dir *d;
	struct mailstore *ms;
	/* Group commit: a request queues in the lane of its first account; one thread at a
	 * time leads a lane, taking its queued requests (within the limits below) into one
	 * mail-store transaction while their senders wait for their results. Lanes commit
	 * concurrently, so deliveries to unrelated accounts do not wait for each other.
	 * Synchronous and asynchronous requests have lanes of their own (lanes[0] and
	 * lanes[1]): a synchronous leader hands its lane to a waiting sender and returns,
	 * an asynchronous one leads until its lane is empty. Were they to share a lane, a
	 * synchronous sender whose request is done could be kept leading for asynchronous
	 * ones (no thread waits for those) as long as they kept arriving. */
	pthread_mutex_t mu;
	struct dv_lane lanes[2][DELIVERY_LANES_MAX];
	size_t nlanes;
	size_t pending;
	size_t batch_max;
	delivery_hook_fn hook;
	void *hook_arg;
	struct delivery_stats stats;
};

struct delivery *delivery_new(struct dir *d, struct mailstore *ms)
{
	struct delivery *dv = core_xcalloc(1, sizeof(*dv));
	dv->d = d;
	dv->ms = ms;
	pthread_mutex_init(&dv->mu, NULL);
	for (size_t i = 0; i < DELIVERY_LANES_MAX; i++)
		for (size_t k = 0; k < 2; k++)
			dv->lanes[k][i].tailp = &dv->lanes[k][i].head;
	dv->nlanes = DELIVERY_LANES_MAX;
	dv->batch_max = DELIVERY_BATCH_MAX;
	return dv;
}

void delivery_free(struct delivery **dv)
{
	if (dv == NULL || *dv == NULL)
		return;
	pthread_mutex_destroy(&(*dv)->mu);
	free(*dv);
	*dv = NULL;
}

void delivery_set_batch(struct delivery *dv, size_t batch_max, size_t lanes, delivery_hook_fn hook,
			void *arg)
{
	pthread_mutex_lock(&dv->mu);
	dv->batch_max = batch_max == 0                   ? 1
			: batch_max > DELIVERY_BATCH_MAX ? DELIVERY_BATCH_MAX
							 : batch_max;
	/* Only while nothing is queued may the lanes change (no request is stranded). */
	if (dv->pending == 0)
		dv->nlanes = lanes == 0                   ? 1
			     : lanes > DELIVERY_LANES_MAX ? DELIVERY_LANES_MAX
							  : lanes;
	dv->hook = hook;
	dv->hook_arg = arg;
	pthread_mutex_unlock(&dv->mu);
}

size_t delivery_pending(struct delivery *dv)
{
	pthread_mutex_lock(&dv->mu);
	size_t n = dv->pending;
	pthread_mutex_unlock(&dv->mu);
	return n;
}

void delivery_stats_get(struct delivery *dv, struct delivery_stats *out)
{
	pthread_mutex_lock(&dv->mu);
	*out = dv->stats;
	pthread_mutex_unlock(&dv->mu);
}

/* What a request weighs against DELIVERY_BATCH_BYTES: its content when the mail store may
 * write it inside the transaction (inline blobs are at most STORE_BLOB_INLINE_LIMIT), plus
 * room for its records. */
static size_t dv_weight(const struct dv_req *r)
{
	size_t content = r->md.len <= STORE_BLOB_INLINE_LIMIT ? r->md.len : 0;
	return content + 4096u * r->md.ntargets;
}

/* Fibonacci hashing of the account spreads neighbouring ids over the lanes. */
static size_t dv_lane_of(const struct delivery *dv, uint64_t account)
{
	uint64_t h = account * 0x9e3779b97f4a7c15ull;
	return (size_t)((h >> 32) % dv->nlanes);
}

size_t delivery_lane(struct delivery *dv, uint64_t account)
{
	pthread_mutex_lock(&dv->mu);
	size_t l = dv_lane_of(dv, account);
	pthread_mutex_unlock(&dv->mu);
	return l;
}

static void dv_count(struct delivery *dv, size_t n, size_t commits)
{
	dv->stats.batches++;
	dv->stats.messages += n;
	dv->stats.commits += commits;
	if (n > dv->stats.largest)
		dv->stats.largest = n;
}

/* Tell a member of a finished batch: its outcome is in md. Nothing of r is touched after
 * (its sender may return and end it at once). */
static void dv_req_done(struct dv_req *r)
{
	if (r->committed != NULL) {
		r->committed(r->arg);
		return;
	}
	r->state = DV_DONE;
	sem_post(&r->wake);
}

/*
 * Lead r's lane: take its queued requests, in arrival order, up to the batch limits, and
 * deliver them with one mailstore_deliver_batch() (one commit for all, each member still
 * failing alone); repeat while r is not done. Then the lane goes to the first request still
 * queued: in a lane of synchronous requests it is woken to lead (DV_LEAD); in a lane of
 * asynchronous ones no thread waits, so this one goes on leading until the lane is empty
 * (its own sender is no longer waiting for it). So a synchronous sender sleeps once per
 * delivery, and an asynchronous one never.
 */
static void dv_lead(struct delivery *dv, struct dv_lane *ln, struct dv_req *r,
		    delivery_hook_fn hook, void *hook_arg)
{
	struct dv_req *own = r; /* NULL once done */
	for (;;) {
		if (hook != NULL)
			hook(hook_arg);
		struct dv_req *batch[DELIVERY_BATCH_MAX];
		size_t n = 0, bytes = 0, targets = 0;
		bool mine = false;
		pthread_mutex_lock(&dv->mu);
		while (ln->head != NULL && n < dv->batch_max) {
			struct dv_req *q = ln->head;
			size_t w = dv_weight(q);
			/* The mail store's joint transaction holds at most MAILSTORE_TARGETS_MAX
			 * accounts and STORE_TXN_MAX_BYTES of writes. */
			if (n > 0 && (bytes + w > DELIVERY_BATCH_BYTES ||
				      targets + q->md.ntargets > MAILSTORE_TARGETS_MAX))
				break;
			ln->head = q->next;
			if (ln->head == NULL)
				ln->tailp = &ln->head;
			batch[n++] = q;
			bytes += w;
			targets += q->md.ntargets;
			mine = mine || q == own;
		}
		dv->pending -= n;
		pthread_mutex_unlock(&dv->mu);

		struct mailstore_delivery md[DELIVERY_BATCH_MAX];
		for (size_t i = 0; i < n; i++)
			md[i] = batch[i]->md;
		size_t commits = 0;
		mailstore_deliver_batch(dv->ms, md, n, &commits);

		bool sync_own = mine && own->committed == NULL;
		if (mine)
			own = NULL;
		struct dv_req *next = NULL;
		bool stay = false;
		pthread_mutex_lock(&dv->mu);
		dv_count(dv, n, commits);
		if (own != NULL)
			stay = true; /* r did not fit in this batch */
		else if (ln->head != NULL && ln->head->committed == NULL)
			next = ln->head; /* handed over: the lane stays led */
		else
			stay = ln->head != NULL;
		ln->leading = stay || next != NULL;
		pthread_mutex_unlock(&dv->mu);
		for (size_t i = 0; i < n; i++) {
			batch[i]->md.rc = md[i].rc;
			batch[i]->md.err = md[i].err;
			/* r's own sender is this thread: it reads the outcome on return. */
			if (!(sync_own && batch[i] == r))
				dv_req_done(batch[i]);
		}
		if (next != NULL) {
			next->state = DV_LEAD;
			sem_post(&next->wake);
		}
		if (!stay)
			return;
	}
}

/*
 * Deliver r through the group commit. The first caller to find its lane without a leader
 * leads it (dv_lead). Requests that arrive meanwhile queue and go together in the lane's
 * next batch, so the number of commits follows the commit rate, not the message rate. A
 * request alone finds no leader and goes at once: no added wait. Deliveries to one account
 * always share a lane: they would wait for each other on the account's lock anyway.
 * A synchronous request returns with its outcome in r->md; an asynchronous one may return
 * before, and r->committed(r->arg) runs once it is known (on this thread or a leader's).
 */
static void dv_commit(struct delivery *dv, struct dv_req *r)
{
	pthread_mutex_lock(&dv->mu);
	if (dv->batch_max == 1 && dv->hook == NULL) {
		/* No group commit: every delivery its own transaction, concurrently. */
		pthread_mutex_unlock(&dv->mu);
		size_t commits = 0;
		mailstore_deliver_batch(dv->ms, &r->md, 1, &commits);
		pthread_mutex_lock(&dv->mu);
		dv_count(dv, 1, commits);
		pthread_mutex_unlock(&dv->mu);
		if (r->committed != NULL)
			r->committed(r->arg);
		return;
	}
	delivery_hook_fn hook = dv->hook;
	void *hook_arg = dv->hook_arg;
	bool sync = r->committed == NULL;
	struct dv_lane *ln = &dv->lanes[sync ? 0 : 1][dv_lane_of(dv, r->md.targets[0].account)];
	r->state = DV_WAIT;
	r->next = NULL;
	if (sync)
		sem_init(&r->wake, 0, 0);
	*ln->tailp = r;
	ln->tailp = &r->next;
	dv->pending++;
	bool lead = !ln->leading;
	ln->leading = true;
	pthread_mutex_unlock(&dv->mu);
	if (!lead && !sync)
		return; /* the leader commits it */
	if (!lead) {
		/* sem_wait orders the poster's writes (state, outcome) before what follows. */
		while (sem_wait(&r->wake) != 0)
			;
		if (r->state == DV_DONE) {
			sem_destroy(&r->wake);
			return;
		}
		CORE_ASSERT(r->state == DV_LEAD);
	}
	dv_lead(dv, ln, r, hook, hook_arg);
	if (sync)
		sem_destroy(&r->wake);
}

int delivery_resolve(struct delivery *dv, const char *addr, struct core_arena *a,
		     enum delivery_kind *kind_out, const char **remote_out, size_t remote_max,
		     size_t *nremote_out, struct core_error *err)
{
	return delivery_resolve_keep(dv, addr, a, kind_out, remote_out, remote_max, nremote_out,
				     NULL, err);
}

int delivery_resolve_keep(struct delivery *dv, const char *addr, struct core_arena *a,
			  enum delivery_kind *kind_out, const char **remote_out, size_t remote_max,
			  size_t *nremote_out, const struct dir_rcpt **kept_out,
			  struct core_error *err)
{
	struct dir_rcpt r;
	if (nremote_out != NULL)
		*nremote_out = 0;
	if (kept_out != NULL)
		*kept_out = NULL;
	int rc = dir_resolve(dv->d, core_str_from_cstr(addr), a, &r, err);
	if (rc == 0 && kept_out != NULL) {
		/* The resolution lives in a, with the targets it points to. */
		struct dir_rcpt *k = core_arena_alloc(a, sizeof(*k));
		*k = r;
		*kept_out = k;
	}
	if (rc == CORE_ESYNTAX || rc == CORE_ENOTFOUND) {
		/* Not an address the directory can place: a local domain's unknown user or a
		 * malformed one. */
		*kind_out = DELIVERY_UNKNOWN;
		return 0;
	}
	if (rc < 0)
		return rc;
	switch (r.status) {
	case DIR_RCPT_REMOTE:
		*kind_out = DELIVERY_REMOTE;
		return 0;
	case DIR_RCPT_UNKNOWN:
		*kind_out = DELIVERY_UNKNOWN;
		return 0;
	case DIR_RCPT_LOCAL:
		break;
	}
	size_t nlocal = 0, nremote = 0;
	for (size_t i = 0; i < r.n_targets; i++) {
		if (r.targets[i].principal != NULL) {
			nlocal++;
		} else if (r.targets[i].address != NULL) {
			if (remote_out != NULL && nremote < remote_max)
				remote_out[nremote] = r.targets[i].address;
			nremote++;
		}
	}
	if (nremote_out != NULL)
		*nremote_out = nremote;
	*kind_out = nlocal > 0 || nremote > 0 ? DELIVERY_LOCAL : DELIVERY_UNKNOWN;
	return 0;
}

static const struct delivery_result res_ok = {250, "2.1.5", "Delivered"};
static const struct delivery_result res_unknown = {550, "5.1.1", "No such user here"};
static const struct delivery_result res_temp = {451, "4.3.0",
						"Temporary local failure, try again later"};
static const struct delivery_result res_quota = {552, "5.2.2", "Mailbox full (over quota)"};
static const struct delivery_result res_nostore = {451, "4.3.2",
						   "Local delivery not available here"};
static const struct delivery_result res_toobig = {552, "5.3.4", "Message too big"};

static struct delivery_result result_of(int rc)
{
	switch (rc) {
	case CORE_ELIMIT:
		return res_quota;
	case CORE_ENOTFOUND:
		return res_unknown;
	default:
		return res_temp;
	}
}

/* The INBOX of an account, created with its special-use mailboxes when new. */
static int inbox_of(struct mailstore *ms, uint64_t account, uint64_t *id_out,
		    struct core_error *err)
{
	int rc = mailstore_mailbox_find_role(ms, account, MAILSTORE_ROLE_INBOX, id_out, err);
	if (rc != CORE_ENOTFOUND)
		return rc;
	rc = mailstore_account_ensure(ms, account, err);
	if (rc < 0)
		return rc;
	return mailstore_mailbox_find_role(ms, account, MAILSTORE_ROLE_INBOX, id_out, err);
}

/* RFC 9208: the directory's quota of the principal is the one the mail store enforces. */
static int quota_sync(struct mailstore *ms, uint64_t account, const struct dir_principal *p,
		      struct core_error *err)
{
	struct mailstore_account ac;
	int rc = mailstore_account_get(ms, account, &ac, err);
	if (rc < 0)
		return rc;
	if (ac.quota_bytes == p->quota_bytes && ac.quota_messages == p->quota_messages)
		return 0;
	return mailstore_quota_set(ms, account, p->quota_bytes, p->quota_messages, err);
}

/* One account a recipient leads to. */
struct acct {
	uint64_t id;
	uint64_t inbox;
};

/* One delivery_local_*() call: its recipients' accounts and, per account, the outcome. */
struct dv_local {
	struct delivery *dv;
	struct core_arena *a;
	const void *msg;
	size_t len;
	size_t n; /* recipients */
	struct delivery_result *results;
	struct acct *accts; /* deduplicated */
	size_t naccts;
	size_t **idx; /* per recipient, its accounts (indexes into accts) */
	size_t *nidx;
	bool *ok; /* per recipient: resolved, still delivered */
	struct mailstore_target *tg;
	int *acct_rc;
	struct dv_req req;     /* the asynchronous request (all accounts in one batch) */
	delivery_done_fn done; /* asynchronous: called once results are written */
	void *done_arg;
};

/* Resolve every recipient to its accounts (each once, INBOX found, quota applied); a
 * recipient that fails here gets its result at once. */
static void dv_local_resolve(struct dv_local *L, const char *const *rcpts,
			     const struct dir_rcpt *const *resolved)
{
	struct delivery *dv = L->dv;
	struct core_arena *a = L->a;
	size_t n = L->n;
	struct core_error err;
	size_t cap = MAILSTORE_TARGETS_MAX;
	L->accts = core_arena_zalloc(a, sizeof(*L->accts) * cap);
	L->idx = core_arena_zalloc(a, sizeof(*L->idx) * (n ? n : 1));
	L->nidx = core_arena_zalloc(a, sizeof(*L->nidx) * (n ? n : 1));
	L->ok = core_arena_zalloc(a, sizeof(*L->ok) * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		core_error_clear(&err);
		struct dir_rcpt r;
		int rc = 0;
		if (resolved != NULL && resolved[i] != NULL)
			r = *resolved[i];
		else
			rc = dir_resolve(dv->d, core_str_from_cstr(rcpts[i]), a, &r, &err);
		if (rc == CORE_ESYNTAX || (rc == 0 && r.status != DIR_RCPT_LOCAL)) {
			L->results[i] = res_unknown;
			continue;
		}
		if (rc < 0) {
			L->results[i] = res_temp;
			continue;
		}
		L->idx[i] = core_arena_zalloc(a, sizeof(size_t) * (r.n_targets ? r.n_targets : 1));
		bool failed = false;
		for (size_t t = 0; t < r.n_targets && !failed; t++) {
			if (r.targets[t].principal == NULL)
				continue; /* remote list members: the caller queues them */
			uint64_t id = 0;
			rc = dir_account_id(dv->d, r.targets[t].principal, &id, &err);
			if (rc < 0) {
				failed = true;
				break;
			}
			size_t k;
			for (k = 0; k < L->naccts && L->accts[k].id != id; k++)
				;
			if (k == L->naccts) {
				if (L->naccts == cap) {
					cap *= 2;
					L->accts = core_arena_grow(a, L->accts, L->naccts, cap,
								   sizeof(*L->accts));
				}
				rc = inbox_of(dv->ms, id, &L->accts[k].inbox, &err);
				if (rc == 0)
					rc = quota_sync(dv->ms, id, r.targets[t].principal, &err);
				if (rc < 0) {
					failed = true;
					break;
				}
				L->accts[k].id = id;
				L->naccts++;
			}
			L->idx[i][L->nidx[i]++] = k;
		}
		if (failed) {
			L->results[i] = result_of(rc);
			L->nidx[i] = 0;
			continue;
		}
		/* Only remote list members: the caller's to queue, nothing local to do. */
		L->results[i] = res_ok;
		L->ok[i] = true;
	}
	L->tg = core_arena_zalloc(a, sizeof(*L->tg) * (L->naccts ? L->naccts : 1));
	L->acct_rc = core_arena_zalloc(a, sizeof(int) * (L->naccts ? L->naccts : 1));
	for (size_t k = 0; k < L->naccts; k++)
		L->tg[k] = (struct mailstore_target){.account = L->accts[k].id,
						     .mailboxes = &L->accts[k].inbox,
						     .nmailboxes = 1};
}

/* The outcome of accounts [b, b + nb) is rc; RFC 9208 §5.1: a quota refuses only its own
 * recipient, so a joint delivery that meets one is delivered account by account to find
 * which. Those retries commit directly: the caller may be leading a lane they would queue
 * in. */
static void dv_local_outcome(struct dv_local *L, size_t b, size_t nb, int rc,
			     const struct core_error *err)
{
	for (size_t k = b; k < b + nb; k++)
		L->acct_rc[k] = rc;
	if (rc < 0 && rc != CORE_ELIMIT)
		core_log(CORE_LOG_WARN, "delivery.failed", "error", err->msg, NULL);
	if (rc != CORE_ELIMIT || nb == 1)
		return;
	for (size_t k = b; k < b + nb; k++) {
		struct mailstore_delivery one = {
			.data = L->msg, .len = L->len, .targets = &L->tg[k], .ntargets = 1};
		size_t commits = 0;
		mailstore_deliver_batch(L->dv->ms, &one, 1, &commits);
		pthread_mutex_lock(&L->dv->mu);
		dv_count(L->dv, 1, commits);
		pthread_mutex_unlock(&L->dv->mu);
		L->acct_rc[k] = one.rc;
	}
}

/* Every recipient's result from its accounts' outcomes; frees L. Returns the number of
 * recipients delivered. */
static int dv_local_finish(struct dv_local *L)
{
	int delivered = 0;
	for (size_t i = 0; i < L->n; i++) {
		for (size_t j = 0; L->ok[i] && j < L->nidx[i]; j++) {
			int rc = L->acct_rc[L->idx[i][j]];
			if (rc < 0) {
				L->results[i] = result_of(rc);
				L->ok[i] = false;
			}
		}
		delivered += L->ok[i] ? 1 : 0;
	}
	core_arena_free(&L->a);
	free(L);
	return delivered;
}

static struct dv_local *dv_local_new(struct delivery *dv, const void *msg, size_t len, size_t n,
				     struct delivery_result *results)
{
	struct dv_local *L = core_xcalloc(1, sizeof(*L));
	L->dv = dv;
	L->a = core_arena_new(0);
	L->msg = msg;
	L->len = len;
	L->n = n;
	L->results = results;
	return L;
}

/* Nothing to store: every result is r. */
static bool dv_local_refused(struct delivery *dv, size_t len, size_t n,
			     struct delivery_result *results)
{
	const struct delivery_result *r = NULL;
	if (dv->ms == NULL)
		r = &res_nostore;
	else if (len > MAILSTORE_MESSAGE_MAX)
		r = &res_toobig;
	if (r == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		results[i] = *r;
	return true;
}

/*
 * One blob and one transaction for all accounts (all or none), in batches of
 * MAILSTORE_TARGETS_MAX accounts for large lists, through the group commit (dv_commit) so
 * that concurrent deliveries share a synced commit; each batch waited for here.
 */
static void dv_local_commit_sync(struct dv_local *L)
{
	for (size_t b = 0; b < L->naccts; b += MAILSTORE_TARGETS_MAX) {
		size_t nb = L->naccts - b < MAILSTORE_TARGETS_MAX ? L->naccts - b
								  : MAILSTORE_TARGETS_MAX;
		struct dv_req r = {.md = {.data = L->msg,
					  .len = L->len,
					  .targets = L->tg + b,
					  .ntargets = nb}};
		/* Parsed (and a large message's blob written) here, in this thread, so the
		 * lane's transaction does only the records. */
		if (mailstore_delivery_prepare(L->dv->ms, &r.md) == 0) {
			dv_commit(L->dv, &r);
			mailstore_delivery_release(&r.md);
		}
		dv_local_outcome(L, b, nb, r.md.rc, &r.md.err);
	}
}

int delivery_local(struct delivery *dv, const void *msg, size_t len, const char *const *rcpts,
		   size_t n, struct delivery_result *results)
{
	return delivery_local_resolved(dv, msg, len, rcpts, NULL, n, results);
}

int delivery_local_resolved(struct delivery *dv, const void *msg, size_t len,
			    const char *const *rcpts, const struct dir_rcpt *const *resolved,
			    size_t n, struct delivery_result *results)
{
	if (dv_local_refused(dv, len, n, results))
		return 0;
	struct dv_local *L = dv_local_new(dv, msg, len, n, results);
	dv_local_resolve(L, rcpts, resolved);
	dv_local_commit_sync(L);
	return dv_local_finish(L);
}

/* An asynchronous request's commit is known: finish on the committing thread. */
static void dv_local_committed(void *arg)
{
	struct dv_local *L = arg;
	mailstore_delivery_release(&L->req.md);
	dv_local_outcome(L, 0, L->naccts, L->req.md.rc, &L->req.md.err);
	delivery_done_fn done = L->done;
	void *done_arg = L->done_arg;
	dv_local_finish(L);
	done(done_arg);
}

bool delivery_local_start(struct delivery *dv, const void *msg, size_t len,
			  const char *const *rcpts, const struct dir_rcpt *const *resolved,
			  size_t n, struct delivery_result *results, delivery_done_fn done,
			  void *arg)
{
	if (dv_local_refused(dv, len, n, results))
		return false;
	struct dv_local *L = dv_local_new(dv, msg, len, n, results);
	dv_local_resolve(L, rcpts, resolved);
	if (L->naccts == 0 || L->naccts > MAILSTORE_TARGETS_MAX) {
		/* Nothing to commit, or a list past one transaction: finished here. */
		dv_local_commit_sync(L);
		dv_local_finish(L);
		return false;
	}
	L->req = (struct dv_req){
		.md = {.data = msg, .len = len, .targets = L->tg, .ntargets = L->naccts},
		.committed = dv_local_committed,
		.arg = L};
	L->done = done;
	L->done_arg = arg;
	if (mailstore_delivery_prepare(dv->ms, &L->req.md) < 0) {
		dv_local_outcome(L, 0, L->naccts, L->req.md.rc, &L->req.md.err);
		dv_local_finish(L);
		return false;
	}
	dv_commit(dv, &L->req);
	return true;
}
