/*
 * queue.h: the durable outbound queue of Staunch (ARCHITECTURE.md §1). A message accepted for
 * remote recipients is written here (its bytes as a blob, its envelope as one data-store
 * record) before the server answers 250; the outbound SMTP client (a later module) leases due
 * entries, delivers them and records a status per recipient.
 *
 * RFCs whose envelope data an entry keeps for that client: RFC 3461 (DSN: RET, ENVID, NOTIFY,
 * ORCPT), RFC 8689 (REQUIRETLS), RFC 4865 (FUTURERELEASE: the due time), RFC 6710
 * (MT-PRIORITY), RFC 2852 (DELIVERBY), RFC 6531 (SMTPUTF8), RFC 6152 / RFC 3030 (BODY).
 *
 * Keys (data store, docs/smtp.md "Queue"): "q/e/" + id (8 bytes big-endian) holds the entry;
 * "q/d/" + due (8 bytes, ms) + id indexes entries by due time. Ids come from the id counter
 * of (account 0, collection QUEUE_COLLECTION). The blob is linked to owner "q/<id>" of blob
 * account QUEUE_BLOB_ACCOUNT in the same transaction, so the entry and its content appear and
 * vanish together.
 *
 * Threading: a struct queue is thread-safe; every call is one transaction and blocks on the
 * store (call it from the worker pool). Ownership: the stores given to queue_open are
 * borrowed and must outlive the queue; strings of a read entry are allocated in the caller's
 * arena; inputs are borrowed for the call.
 */
#ifndef STAUNCH_QUEUE_QUEUE_H
#define STAUNCH_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"

struct core_arena;

#define QUEUE_COLLECTION 0x51u /* id counter of account 0 */
/* Blob account of queued messages (not a mail account: directory ids never reach it). */
#define QUEUE_BLOB_ACCOUNT UINT64_C(0xfffffffffffffff0)
#define QUEUE_RCPTS_MAX 1000u
#define QUEUE_STR_MAX 1024u /* bytes of one envelope string */

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED = 1,
	QUEUE_RCPT_FAILED = 2, /* permanent failure: a DSN is due */
};

struct queue_rcpt {
	const char *addr;
	unsigned notify;        /* RFC 3461 NOTIFY bits (SMTP_NOTIFY_* values), 0: not given */
	const char *orcpt_type; /* RFC 3461 §4.2 addr-type, "" if none */
	const char *orcpt;      /* decoded original recipient, "" if none */
	enum queue_rcpt_status status;
	unsigned attempts;
	const char *last_reply; /* the last answer of the remote server, "" if none */
};

struct queue_entry {
	uint64_t id;
	uint64_t created_ms;
	uint64_t due_ms;         /* next attempt; FUTURERELEASE's release time at first */
	const char *lease_owner; /* "" when not leased */
	uint64_t lease_until_ms;
	const char *sender;    /* reverse-path without brackets, "" for <> */
	const char *auth_user; /* who submitted it, "" if nobody */
	const char *envid;     /* RFC 3461 ENVID, "" if none */
	int ret;               /* RFC 3461 RET: 0 none, 1 FULL, 2 HDRS */
	int body;              /* 0 7BIT, 1 8BITMIME, 2 BINARYMIME */
	bool smtputf8;
	bool requiretls;
	bool has_priority; /* RFC 6710 */
	int priority;
	bool has_by; /* RFC 2852 */
	int64_t by_time;
	char by_mode;
	bool by_trace;
	uint64_t hold_until; /* RFC 4865, seconds since the epoch (0: none) */
	uint64_t size;
	struct store_blob_id blob;
	struct queue_rcpt *rcpts;
	size_t nrcpts;
};

struct queue;

/* d must be the data store that keeps b's links (store_blob_meta_is); CORE_ESYNTAX else. */
int queue_open(struct store_data *d, struct store_blob *b, struct queue **out,
	       struct core_error *err);
void queue_free(struct queue **q);

/*
 * Store a message for the recipients of e (e->id, created_ms, blob and size are set here;
 * due_ms 0 means now, or hold_until when later). The bytes go to the blob store, then the
 * entry, its due index and the blob link commit in one transaction. *id_out gets the id.
 * An entry the record cannot keep is refused before anything is written: CORE_ELIMIT for a
 * recipient count outside 1..QUEUE_RCPTS_MAX or a string over QUEUE_STR_MAX bytes,
 * CORE_ESYNTAX for a value out of its RFC range (RET, BODY, MT-PRIORITY, by-mode, NOTIFY,
 * status) or a hold_until whose milliseconds overflow.
 */
int queue_submit(struct queue *q, const struct queue_entry *e, const void *msg, size_t len,
		 uint64_t *id_out, struct core_error *err);
/* Read an entry (strings in a). CORE_ENOTFOUND when there is none, CORE_EIO when its record
 * is damaged. */
int queue_get(struct queue *q, uint64_t id, struct core_arena *a, struct queue_entry *out,
	      struct core_error *err);
/* Visit entries in id order (e borrowed during the call; fn returns 0 to go on). Damaged
 * records are skipped and logged. */
int queue_list(struct queue *q, int (*fn)(void *arg, const struct queue_entry *e), void *arg,
	       struct core_error *err);
/* Delete an entry, its index and its blob link. CORE_ENOTFOUND when absent. A damaged
 * entry is deleted with its index; its blob link, named only in the record, stays. */
int queue_remove(struct queue *q, uint64_t id, struct core_error *err);
/*
 * Lease the first entry due at now_ms that no live lease holds, for owner until now_ms +
 * lease_ms (compare-and-set: two owners never get the same entry). Returns 1 with *id_out,
 * 0 when nothing is due. owner must be non-empty and lease_ms above 0 (CORE_ESYNTAX), owner
 * at most QUEUE_STR_MAX bytes (CORE_ELIMIT); a lease running past UINT64_MAX ends there. Damaged
 * entries are skipped and logged.
 */
int queue_lease(struct queue *q, const char *owner, uint64_t now_ms, uint64_t lease_ms,
		uint64_t *id_out, struct core_error *err);
/* Read a message's bytes (fn as store_blob_read). */
int queue_read(struct queue *q, const struct queue_entry *e, store_blob_read_fn fn, void *arg,
	       struct core_error *err);

/* Encoding of an entry (exposed for tests): pure. decode returns 0 or CORE_ESYNTAX; strings
 * of out are allocated in a. Decoding is strict: a record it accepts re-encodes to the same
 * bytes, and it allocates no more than the record's bytes describe. */
void queue_entry_encode(const struct queue_entry *e, struct core_buf *out);
int queue_entry_decode(const void *p, size_t len, struct core_arena *a, struct queue_entry *out);

#endif
