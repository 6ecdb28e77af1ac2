/*
 * delivery.h: local delivery of Staunch (ARCHITECTURE.md §1, §3): the spool a message streams
 * into while it arrives, and the step that puts a spooled message into the INBOX of every
 * local recipient through the mail store, with a result per recipient (RFC 2033 §4.2 needs
 * one for each LMTP recipient).
 *
 * RFCs: RFC 5321 §4.4 (Return-Path added at final delivery; the Received header is the
 * protocol engine's), RFC 5233 (subaddresses, resolved by the directory), RFC 2033 §4.2
 * (per-recipient outcomes), RFC 9208 §5.1 (over quota).
 *
 * The spool is an unnamed file in the spool directory (O_TMPFILE, else a random name unlinked
 * at once): nothing is left behind by a crash and nothing needs an fsync, because the reply
 * that accepts a message is sent only after the mail store (or the queue) committed its own
 * durable copy. The spool starts with the Return-Path line, so the bytes the mail store keeps
 * are one contiguous view of the file: a mapping, or for a small message (up to
 * DELIVERY_SPOOL_READ_MAX) a copy of that bounded size; a large message is never copied
 * whole into memory. Writes gather in a buffer of at most DELIVERY_SPOOL_READ_MAX bytes that
 * goes to the file when full and at delivery_spool_map(): a small message costs one write,
 * and its copy is that buffer (no read back).
 *
 * Threading: a struct delivery is thread-safe (the directory and mail store under it are) and
 * its calls block on them: call them from the worker pool. A spool belongs to one thread at a
 * time. Ownership: the directory and mail store passed to delivery_new are borrowed and must
 * outlive it; results are written into caller-provided arrays, strings in them are static.
 */
#ifndef STAUNCH_DELIVERY_DELIVERY_H
#define STAUNCH_DELIVERY_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct dir;
struct dir_rcpt;
struct mailstore;
struct core_arena;

/* --- spool ---------------------------------------------------------------------------- */

struct delivery_spool {
	int fd;            /* -1 when closed */
	uint64_t size;     /* bytes written */
	size_t prefix_len; /* length of the Return-Path line at the start */
	void *map;         /* delivery_spool_map's mapping (or copy), or NULL */
	size_t map_len;
	bool map_heap; /* map is a heap copy (small spool), not a mapping */
	int err;       /* first write error (negative core_err), sticky */
	char dir[256]; /* its directory (closed spools are kept for reuse there) */
	char *wbuf;    /* bytes not yet in the file (they end the spool), or NULL */
	size_t wlen, wcap;
	uint64_t flushed; /* bytes in the file */
};

/*
 * Create a spool in dir and write "Return-Path: <reverse_path>" CRLF (RFC 5321 §4.4; an empty
 * reverse_path gives "<>"). reverse_path may be NULL for no Return-Path line. Returns 0 or
 * CORE_EIO (err says why).
 */
int delivery_spool_open(struct delivery_spool *sp, const char *dir, const char *reverse_path,
			struct core_error *err);
/* Append bytes. Returns 0 or CORE_EIO (and every later write fails too). */
int delivery_spool_write(struct delivery_spool *sp, const void *p, size_t n);
/* A closed spool file past this size is emptied before it is kept for reuse. */
#define DELIVERY_SPOOL_KEEP_MAX (1024u * 1024u)
/* Spools up to this size stay in their write buffer, which delivery_spool_map hands out as
 * the copy; larger ones are written out as they grow and mapped. */
#define DELIVERY_SPOOL_READ_MAX (64u * 1024u)
/* Map the whole spool read-only (Return-Path line included): a mapping of the file, or for
 * a spool up to DELIVERY_SPOOL_READ_MAX a copy in memory. Returns 0 or CORE_EIO. A spool
 * moves to another owner by copying the struct; the old copy must then be reset with
 * delivery_spool_forget(). */
int delivery_spool_map(struct delivery_spool *sp, const void **p_out, size_t *len_out,
		       struct core_error *err);
/* Close (unmapping it); accepts a closed spool. The file is kept (up to 32 of them, for the
 * directory in use; emptied first past DELIVERY_SPOOL_KEEP_MAX) and reused by the next
 * delivery_spool_open(), which writes it again from the start and reads only its own bytes. */
void delivery_spool_close(struct delivery_spool *sp);
/* Drop sp's claim on what a copy of it now owns (file, buffer, mapping): sp reads closed. */
void delivery_spool_forget(struct delivery_spool *sp);
/* Close the kept files (at shutdown, or before the spool directory changes hands). */
void delivery_spool_pool_clear(void);

/* --- local delivery ------------------------------------------------------------------- */

struct delivery;

/* ms may be NULL (a package without a mail store): local delivery then fails with a
 * temporary "not available" result for every recipient. */
struct delivery *delivery_new(struct dir *d, struct mailstore *ms);
void delivery_free(struct delivery **dv);

/*
 * Group commit. Concurrent delivery_local() calls share mail-store transactions: while a
 * batch commits, the messages that arrive queue, and the next batch takes them all, up to
 * DELIVERY_BATCH_MAX messages, DELIVERY_BATCH_BYTES of content and MAILSTORE_TARGETS_MAX
 * accounts. A message queues in one of DELIVERY_LANES_MAX lanes chosen by its first
 * account; each lane has at most one batch in flight and the lanes commit concurrently, so
 * deliveries to one account (which would wait for each other on its lock) batch together
 * and unrelated accounts proceed side by side. Every message keeps its own outcome: a member
 * that fails (over quota) is retried alone by the mail store and fails alone
 * (mailstore_deliver_batch()).
 */
#define DELIVERY_BATCH_MAX 64u
#define DELIVERY_BATCH_BYTES (4u * 1024u * 1024u)
#define DELIVERY_LANES_MAX 16u

struct delivery_stats {
	uint64_t batches;  /* mailstore_deliver_batch() calls */
	uint64_t messages; /* requests they carried (a message per 64 accounts) */
	uint64_t commits;  /* committed transactions */
	uint64_t largest;  /* largest batch */
};
void delivery_stats_get(struct delivery *dv, struct delivery_stats *out);

/* Called by the thread that leads a batch just before it takes the queued requests (no lock
 * held): tests use it to hold a batch open until others have queued. */
typedef void (*delivery_hook_fn)(void *arg);
/* Set the batch size limit (1 with no hook turns group commit off: each delivery its own
 * transaction; capped at DELIVERY_BATCH_MAX), the number of lanes (1 to
 * DELIVERY_LANES_MAX, the default; changed only while nothing is queued) and the hook (NULL
 * for none). */
void delivery_set_batch(struct delivery *dv, size_t batch_max, size_t lanes, delivery_hook_fn hook,
			void *arg);
/* Requests queued and not yet taken into a batch. */
size_t delivery_pending(struct delivery *dv);
/* The lane a delivery whose first account is `account` queues in. */
size_t delivery_lane(struct delivery *dv, uint64_t account);

/* Outcome of one recipient, as an SMTP reply (RFC 3463 enhanced code). Static strings. */
struct delivery_result {
	int code; /* 250, 4xx, 5xx */
	const char *enh;
	const char *text;
};

/* What a recipient resolved to. */
enum delivery_kind {
	DELIVERY_LOCAL = 0,   /* at least one local mailbox */
	DELIVERY_REMOTE = 1,  /* not a local domain */
	DELIVERY_UNKNOWN = 2, /* local domain, no such recipient */
};

/*
 * Resolve a recipient address through the directory (aliases, lists, subaddresses,
 * catch-all). *kind_out says what it is. For a local recipient whose list expansion names
 * remote addresses, those are stored in remote_out (arena strings), if not NULL, up to
 * remote_max; *nremote_out counts all of them (call again with room for that many when it
 * exceeds remote_max). Returns 0, or CORE_ETEMP / CORE_EIO / CORE_ELIMIT.
 */
int delivery_resolve(struct delivery *dv, const char *addr, struct core_arena *a,
		     enum delivery_kind *kind_out, const char **remote_out, size_t remote_max,
		     size_t *nremote_out, struct core_error *err);

/* delivery_resolve(), also handing back the directory's resolution (allocated in a, NULL
 * when the address did not resolve) for delivery_local_resolved(). */
int delivery_resolve_keep(struct delivery *dv, const char *addr, struct core_arena *a,
			  enum delivery_kind *kind_out, const char **remote_out, size_t remote_max,
			  size_t *nremote_out, const struct dir_rcpt **kept_out,
			  struct core_error *err);

/*
 * Deliver msg[0..len) (the spool mapping: Return-Path line, Received header, message) into
 * the INBOX of every local mailbox the n recipients resolve to. Each account gets the
 * message once even when several recipients lead to it; the blob is stored once and the
 * accounts are written in one transaction (all or none; in batches of MAILSTORE_TARGETS_MAX
 * accounts for larger lists), so the results agree, except when the joint delivery meets a
 * quota: then each account is delivered on its own so only the recipients over quota fail
 * (RFC 9208 §5.1). The quota of each principal in the directory is the
 * one applied (copied to the mail store account when it differs). results[i] receives the
 * outcome of rcpts[i].
 * Returns the number of recipients delivered (>= 0).
 */
int delivery_local(struct delivery *dv, const void *msg, size_t len, const char *const *rcpts,
		   size_t n, struct delivery_result *results);

/* delivery_local() with the recipients' resolutions already made (delivery_resolve_keep()
 * in the same job): resolved[i], when not NULL, stands for resolving rcpts[i] again. */
int delivery_local_resolved(struct delivery *dv, const void *msg, size_t len,
			    const char *const *rcpts, const struct dir_rcpt *const *resolved,
			    size_t n, struct delivery_result *results);

/* Called once the results of delivery_local_start() are written. */
typedef void (*delivery_done_fn)(void *arg);

/*
 * delivery_local_resolved() that does not wait for the commit: the message is resolved and
 * prepared here, then queued for its lane's group commit. Returns true when it went there:
 * done(arg) is then called, after results are written, by the thread that commits it (this
 * one, before returning, when it leads the lane; else a leader, meanwhile; a quota retry or
 * the caller's own follow-up runs there too, so keep done short). Returns false when it
 * finished here (nothing to store, a refusal, or a list past one transaction): results
 * are written and done is not called. msg, results and arg must live until done runs;
 * rcpts and resolved are read before this returns.
 */
bool delivery_local_start(struct delivery *dv, const void *msg, size_t len,
			  const char *const *rcpts, const struct dir_rcpt *const *resolved,
			  size_t n, struct delivery_result *results, delivery_done_fn done,
			  void *arg);

#endif
