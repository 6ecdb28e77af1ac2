/*
 * mailstore_int.h: private parts of src/mailstore: key schema, compact binary codec, the
 * transaction runner that advances the account's change counter by compare-and-set, and the
 * per-transaction caches. docs/mailstore.md describes every key family and value encoding.
 *
 * Ownership: a struct ms_tx lives for one attempt of one operation; everything it decodes is
 * allocated from its arena (tx->a), which is reset between attempts.
 */
#ifndef STAUNCH_MAILSTORE_MAILSTORE_INT_H
#define STAUNCH_MAILSTORE_MAILSTORE_INT_H

#include "mailstore/mailstore.h"

/* Key families: 'M' + be64 account + family byte + ... (docs/mailstore.md §Keys). */
#define MS_KEY_PREFIX 'M'
#define MS_F_ACCOUNT 'A'  /* -> account record */
#define MS_F_MAILBOX 'B'  /* be64 mailbox -> mailbox record */
#define MS_F_NAME 'N'     /* be64 parent, name -> be64 mailbox (uniqueness point key) */
#define MS_F_ROLE 'R'     /* role byte -> be64 mailbox (one mailbox per role) */
#define MS_F_EMAIL 'E'    /* be64 email -> email record (mutable part) */
#define MS_F_PARSED 'P'   /* be64 email -> parsed fields (immutable) */
#define MS_F_UID 'U'      /* be64 mailbox, be32 uid -> email id, modseq */
#define MS_F_CHANGE 'C'   /* be64 modseq -> change-log entry */
#define MS_F_EXPUNGE 'X'  /* be64 mailbox, be64 modseq, be32 uid -> tombstone */
#define MS_F_THREAD 'T'   /* be64 thread -> thread record */
#define MS_F_MSGID 'I'    /* 16-byte digest of a message id -> thread candidates */
#define MS_F_MBTHREAD 'H' /* be64 mailbox, be64 thread -> emails, unread emails there */
#define MS_F_PENDING 'D'  /* be64 mailbox -> (empty): destroyed, contents still to purge */
#define MS_F_OBJECT 'O'   /* type byte, be64 id -> object (identity, vacation, ...) */
#define MS_F_DATE 'S'     /* be64 mailbox, be64 receivedAt ^ 2^63, be64 email -> thread id */

/* store_txn_id_next collections (per account, ARCHITECTURE.md §4). */
#define MS_COLL_MAILBOX 1u
#define MS_COLL_EMAIL 2u
#define MS_COLL_THREAD 3u
#define MS_COLL_OBJECT 16u /* + the type's bit number: one counter per object type */

/* Versions of the stored records (docs/mailstore.md §Values). */
#define MS_V_ACCOUNT 1u
#define MS_V_MAILBOX 2u /* 2: drafts count appended */
#define MS_V_EMAIL 1u
#define MS_V_PARSED 1u
#define MS_V_CHANGE 1u
#define MS_V_THREAD 1u
#define MS_V_MSGID 1u
#define MS_V_OBJECT 1u

/* Change-log operations. */
#define MS_OP_CREATED 1u
#define MS_OP_UPDATED 2u
#define MS_OP_DESTROYED 3u
#define MS_OP_COUNTS 4u /* updated: only the counts of a mailbox changed */

struct mailstore {
	struct store_data *d;
	struct store_blob *b;
	struct mailstore_options o;
	struct store_fts *fts; /* mailstore_set_fts(), may be NULL */
};

/* ---------------------------------------------------------------------------------- */
/* Codec: varints (LEB128), zigzag, length-prefixed bytes                             */
/* ---------------------------------------------------------------------------------- */

void ms_put_u64(struct core_buf *b, uint64_t v);
void ms_put_i64(struct core_buf *b, int64_t v);
void ms_put_bytes(struct core_buf *b, const void *p, size_t n);
void ms_put_str(struct core_buf *b, const char *s); /* NULL stored as absent */

struct ms_dec {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* set on the first read past the end or a malformed varint */
};
void ms_dec_init(struct ms_dec *d, const void *p, size_t len);
uint64_t ms_get_u64(struct ms_dec *d);
uint32_t ms_get_u32(struct ms_dec *d); /* a varint that must fit 32 bits */
int64_t ms_get_i64(struct ms_dec *d);
/* Length-prefixed bytes as a view into the input. */
const uint8_t *ms_get_bytes(struct ms_dec *d, size_t *n_out);
/* As ms_get_bytes, copied into the arena NUL-terminated (NULL for an absent string). */
const char *ms_get_str(struct ms_dec *d, struct core_arena *a);
bool ms_get_raw(struct ms_dec *d, void *out, size_t n);

/* Big-endian fixed-width (keys). */
void ms_be64(uint8_t *p, uint64_t v);
void ms_be32(uint8_t *p, uint32_t v);
uint64_t ms_rd_be64(const uint8_t *p);
uint32_t ms_rd_be32(const uint8_t *p);

/* Key builders: return the key length; k has STORE_KEY_MAX bytes. */
size_t ms_key(uint8_t *k, uint64_t account, char family);
size_t ms_key_id(uint8_t *k, uint64_t account, char family, uint64_t id);

/* ---------------------------------------------------------------------------------- */
/* Records                                                                            */
/* ---------------------------------------------------------------------------------- */

struct ms_account_rec {
	uint64_t modseq, floor, used_bytes, used_messages, quota_bytes, quota_messages;
	uint32_t last_uidvalidity;
	bool deleting; /* mailstore_account_destroy() began: contents being purged */
};
void ms_account_encode(const struct ms_account_rec *r, struct core_buf *out);
int ms_account_decode(const void *p, size_t n, struct ms_account_rec *out);

void ms_mailbox_encode(const struct mailstore_mailbox *m, struct core_buf *out);
int ms_mailbox_decode(const void *p, size_t n, struct core_arena *a, struct mailstore_mailbox *out);

void ms_email_encode(const struct mailstore_email *e, struct core_buf *out);
int ms_email_decode(const void *p, size_t n, struct core_arena *a, struct mailstore_email *out);

/* Parsed fields (mailstore_parse.c). */
int ms_parsed_build(struct core_arena *a, const void *data, size_t len,
		    struct mailstore_parsed *out, struct core_error *err);
void ms_parsed_encode(const struct mailstore_parsed *p, struct core_buf *out);
int ms_parsed_decode(const void *p, size_t n, struct core_arena *a, struct mailstore_parsed *out);

/* ---------------------------------------------------------------------------------- */
/* Transactions                                                                       */
/* ---------------------------------------------------------------------------------- */

/* An account touched by a transaction. */
struct ms_tx_acct {
	uint64_t account;
	struct ms_account_rec rec; /* as read (asserted) and then as changed */
	uint64_t modseq;           /* the modseq this transaction writes (rec.modseq + 1) */
	bool dirty;                /* something changed: write the record and the log */
	bool rec_dirty;            /* the record changed without a logged change */
	unsigned types;            /* enum mailstore_type mask of logged changes */
	struct core_buf log;       /* encoded (type, op, id) entries */
	uint32_t nlog;
};

/* A mailbox read by the transaction, written back at the end when dirty. */
struct ms_tx_mbox {
	uint64_t account;
	struct mailstore_mailbox m;
	bool dirty, logged, destroyed;
};

#define MS_TX_ACCTS MAILSTORE_TARGETS_MAX

struct ms_tx {
	struct mailstore *ms;
	struct store_txn *t;
	struct core_arena *a;
	struct core_error *err;
	struct ms_tx_acct acct[MS_TX_ACCTS];
	size_t nacct;
	/* Arena-owned entries; their addresses stay valid for the whole attempt. */
	struct ms_tx_mbox **mbox;
	size_t nmbox, capmbox;
	/* Set with an error that a retry cannot change (a name taken, a failed
	 * UNCHANGEDSINCE): the runner returns it instead of retrying. */
	bool final;
};

/* The blob-link owner name of an email ("m/<id>"); links are made and dropped in the mail
 * transaction itself (mailstore_share.h, docs/mailstore.md §Blobs). */
void ms_link_owner(uint64_t email, char out[32]);

/* Return a final (not retried) error from an operation. */
int ms_tx_fail(struct ms_tx *tx, int code, const char *rule, const char *msg);

typedef int (*ms_tx_fn)(struct ms_tx *tx, void *ctx);

/*
 * Run fn in a write transaction over the given accounts (sorted and de-duplicated here, then
 * each account record is read, asserted and created when missing, in account order), then
 * write the dirty mailboxes, account records and change-log entries and commit. Conflicts
 * retry the whole attempt (fn must only change ctx through fields it resets itself).
 * Notifies the bus after the commit.
 */
int ms_tx_run(struct mailstore *ms, const uint64_t *accounts, size_t n, ms_tx_fn fn, void *ctx,
	      struct core_error *err);
/* Run fn in a read transaction. An account being deleted reads as CORE_ENOTFOUND (one
 * that was never created is left to fn). */
int ms_tx_read(struct mailstore *ms, uint64_t account, ms_tx_fn fn, void *ctx,
	       struct core_error *err);

struct ms_tx_acct *ms_tx_acct(struct ms_tx *tx, uint64_t account);
/* Record a change of an object (mailbox, email, thread) at this transaction's modseq. */
void ms_tx_log(struct ms_tx *tx, struct ms_tx_acct *ac, enum mailstore_type type, unsigned op,
	       uint64_t id);

/* Mailbox cache: load (CORE_ENOTFOUND if absent), mark dirty after changing. */
int ms_tx_mbox(struct ms_tx *tx, uint64_t account, uint64_t id, struct ms_tx_mbox **out);
/* ms_tx_mbox() for an operation on that mailbox: its absence is the final error "no such
 * mailbox" (not retried), citing rule when not NULL. */
int ms_tx_mbox_need(struct ms_tx *tx, uint64_t account, uint64_t id, const char *rule,
		    struct ms_tx_mbox **out);
/* Add a new mailbox to the cache (written at commit). */
struct ms_tx_mbox *ms_tx_mbox_add(struct ms_tx *tx, uint64_t account,
				  const struct mailstore_mailbox *m);
/* A change inside a mailbox (email added, removed, changed): raises HIGHESTMODSEQ; counts
 * changed means the Mailbox object itself changed (logged once). */
void ms_tx_mbox_touch(struct ms_tx *tx, struct ms_tx_mbox *mb, bool counts);

/* Helpers over the store. */
int ms_get(struct ms_tx *tx, const uint8_t *k, size_t kl, struct core_buf *v);
int ms_put(struct ms_tx *tx, const uint8_t *k, size_t kl, const void *v, size_t vl);
/* ms_put() of a key that holds no chunked value now (store_txn_put_nochunks()): one named by
 * an id or modseq taken in this transaction, or of a family whose values are always small. */
int ms_put_nochunks(struct ms_tx *tx, const uint8_t *k, size_t kl, const void *v, size_t vl);
int ms_del(struct ms_tx *tx, const uint8_t *k, size_t kl);
/* Delete every key of a range; returns the number deleted. */
int ms_del_range(struct ms_tx *tx, const struct store_range *r);

/* Mailbox internals shared with email code (mailstore_mailbox.c). */
int ms_mailbox_create_in(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t parent, const char *name,
			 enum mailstore_role role, uint64_t *id_out);
int ms_account_init(struct ms_tx *tx, struct ms_tx_acct *ac);

/* Destroy a mailbox without purging its contents (the first step of
 * mailstore_mailbox_destroy; tests use it to stand for a crash before the purge). */
int ms_mailbox_destroy_begin(struct mailstore *ms, uint64_t account, uint64_t id,
			     bool remove_emails, struct core_error *err);

/* Move every email of a mailbox to another in bounded transactions (RFC 9051 §6.3.6
 * rename of INBOX). Returns the number moved. */
int ms_mailbox_move_all(struct mailstore *ms, uint64_t account, uint64_t from, uint64_t to,
			struct core_error *err);

/* Mark an account deleting without purging it (the first step of
 * mailstore_account_destroy; tests use it to stand for a crash before the purge). */
int ms_account_destroy_begin(struct mailstore *ms, uint64_t account, struct core_error *err);

/* Email internals (mailstore_email.c). */
int ms_email_load(struct ms_tx *tx, uint64_t account, uint64_t id, struct mailstore_email *out,
		  struct core_buf *scratch);
/* fresh: e->id was taken in this transaction (its record is new). */
int ms_email_store(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e, bool fresh);
/* Remove the membership in mailbox (tombstone), destroying the email when none is left. */
int ms_email_leave(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
		   uint64_t mailbox, bool *destroyed_out);

/* Threads (mailstore_thread.c). */
int ms_thread_assign(struct ms_tx *tx, struct ms_tx_acct *ac, const struct mailstore_parsed *p,
		     uint64_t email_id, uint64_t *thread_out);
int ms_thread_add(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t thread, uint64_t email_id);
int ms_thread_remove(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t thread, uint64_t email_id);

/* Keywords: normalise (lower-case, validate, sort, de-duplicate) into an arena array. */
int ms_keywords_norm(struct core_arena *a, const char *const *kw, size_t n, const char ***out,
		     size_t *n_out, struct core_error *err);
bool ms_keywords_has(const char *const *kw, size_t n, const char *k);

/* Query index and full-text queue (mailstore_query.c, mailstore_index.c). */
/* The receivedAt index entry of a membership (MS_F_DATE): added on join, removed on leave. */
int ms_qindex_add(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		  const struct mailstore_email *e);
int ms_qindex_del(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		  const struct mailstore_email *e);
/* Queue the email for full-text indexing (created) or index removal (destroyed). */
int ms_fts_enqueue(struct ms_tx *tx, uint64_t account, uint64_t email, bool destroyed);
/* Keys of the full-text queue, outside the account prefix so one scan finds all work:
 * "mq" be64 account, be64 email -> op; "mx" be64 account, be64 email -> (empty): an email
 * whose text is larger than the index takes, so text conditions always scan it. */
#define MS_FTQ_QUEUE "mq"
#define MS_FTQ_SCAN "mx"
#define MS_FTQ_OP_INDEX 1u
#define MS_FTQ_OP_DELETE 2u
size_t ms_ftq_key(uint8_t *k, const char *prefix, uint64_t account, uint64_t email);
/* Words of text (docs/mailstore.md §Text matching): runs of ASCII letters and digits and of
 * non-ASCII characters, case-folded; fn gets each with its position. */
typedef int (*ms_word_fn)(void *arg, const char *w, size_t n, uint32_t pos);
int ms_words(const char *p, size_t n, ms_word_fn fn, void *arg);
/* The searchable text of an email, one buffer per enum mailstore_text_field below ALL;
 * fields not in mask stay empty. The body needs the blob; the others come from parsed. */
struct ms_texts {
	struct core_buf f[6];
	unsigned loaded; /* mask of loaded fields */
};
void ms_texts_fini(struct ms_texts *t);
int ms_texts_load(struct mailstore *ms, uint64_t account, const struct mailstore_email *e,
		  const struct mailstore_parsed *p, unsigned mask, struct ms_texts *t,
		  struct core_error *err);

/* Notify the bus (mailstore.c). */
void ms_bus_publish(struct mailstore *ms, uint64_t account, unsigned types, uint64_t modseq);

#endif
