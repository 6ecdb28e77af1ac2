/*
 * mailstore.h: the JMAP-native mail model shared by every protocol (ARCHITECTURE.md §4).
 * IMAP, POP3, JMAP and SMTP delivery read and write mail only through this interface; none
 * keeps its own copy of mail state. docs/mailstore.md describes the key schema, the value
 * encodings and the guarantees.
 *
 * RFCs: RFC 8621 (JMAP for Mail: Mailbox, Thread, Email objects, keywords, roles, threading),
 * RFC 8620 §5.2 (/changes and state strings), RFC 9051 §2.3.1.1 (UIDs, UIDVALIDITY, UIDNEXT),
 * RFC 7162 (CONDSTORE/QRESYNC: MODSEQ, HIGHESTMODSEQ, VANISHED), RFC 6154 (special-use
 * roles), RFC 9208 (QUOTA: STORAGE and MESSAGE resources), RFC 5322 (parsed header fields).
 *
 * Model:
 *   - an account (numeric id from the directory) owns mailboxes, emails and threads; its
 *     record holds the one change counter (modseq) that gives JMAP state strings and IMAP
 *     MODSEQ values, and the quota usage;
 *   - every write is one data-store transaction that first asserts (compare-and-set) the
 *     account record it read and then rewrites it with modseq + 1; so the change counter is
 *     read and advanced inside the committing transaction and writers of one account are
 *     serialised (conflicts are retried here);
 *   - a mailbox has an id, a parent id (0 at the top), a name (NFC, no '/'), a role, sort
 *     order, subscription, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and exact counts;
 *   - an email has an id, a blob (shared by copies), size, receivedAt, keywords, a thread
 *     id, a modseq and one (mailbox, UID) membership per mailbox holding it; its parsed
 *     fields are stored once at delivery so listing never re-parses a blob.
 *
 * Threading: a struct mailstore is thread-safe (the stores under it are). Every call is one
 * transaction (it commits or leaves nothing behind) and may block on the store, except the
 * batched ones, which say so (expunge of many UIDs, mailbox and account deletion, moving
 * INBOX's messages on an IMAP RENAME, tombstone expiry).
 *
 * Ownership: strings and arrays passed in are borrowed for the call. Results that hold
 * strings or arrays are allocated from the caller's arena (arena-owned) and live until it is
 * reset or freed. struct store_data and struct store_blob given to mailstore_open are
 * borrowed and must outlive the mail store.
 */
#ifndef STAUNCH_MAILSTORE_MAILSTORE_H
#define STAUNCH_MAILSTORE_MAILSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"

/* Limits (docs/mailstore.md §Limits). */
#define MAILSTORE_NAME_MAX 200u     /* bytes of one mailbox name (one hierarchy level) */
#define MAILSTORE_DEPTH_MAX 32u     /* mailbox hierarchy depth */
#define MAILSTORE_MAILBOXES_MAX 32u /* mailboxes one email may be in */
#define MAILSTORE_KEYWORDS_MAX 128u /* keywords on one email */
#define MAILSTORE_KEYWORD_MAX 100u  /* bytes of one keyword */
#define MAILSTORE_TARGETS_MAX 64u   /* accounts of one delivery */
#define MAILSTORE_MESSAGE_MAX (256u * 1024u * 1024u)
/* RFC 9051 §2.3.1.1: the hierarchy separator of IMAP names. */
#define MAILSTORE_SEP '/'

struct mailstore;
struct mailstore_bus;

struct mailstore_options {
	/* Tombstones (destroyed ids, expunged UIDs) older than this are purged by
	 * mailstore_tombstones_purge(); 0 = 30 days. */
	uint64_t tombstone_ms;
	/* Quota given to accounts when they are created; 0 = unlimited. */
	uint64_t quota_bytes;
	uint64_t quota_messages;
	/* Attempts of a transaction that meets conflicts; 0 = 200. */
	unsigned max_attempts;
	/* Upload reservation of a delivered blob until it is linked; 0 = 1 hour. */
	uint64_t reserve_ms;
	/* Change notifications (may be NULL): borrowed, must outlive the mail store. */
	struct mailstore_bus *bus;
};

struct core_conf;
/* Register the mailstore.* configuration keys (docs/mailstore.md) with core_conf. */
void mailstore_conf_register(void);
/* Options from a configuration (the keys above; bus left NULL, other fields 0 = default). */
void mailstore_options_from_conf(const struct core_conf *c, struct mailstore_options *out);

/* Open the mail store over a data store and a blob store (both borrowed). o may be NULL.
 * b must keep its links in d (store_blob_meta_is(), as store_set_open() arranges), so
 * blob links change in the mail store's own transactions; CORE_ESYNTAX otherwise. */
int mailstore_open(struct store_data *d, struct store_blob *b, const struct mailstore_options *o,
		   struct mailstore **out, struct core_error *err);
/* Free; accepts NULL. */
void mailstore_free(struct mailstore **ms);

/* ------------------------------------------------------------------------------------ */
/* Accounts and quotas                                                                  */
/* ------------------------------------------------------------------------------------ */

struct mailstore_account {
	uint64_t modseq;         /* the change counter: JMAP state, IMAP MODSEQ */
	uint64_t changes_floor;  /* changes after this modseq are still known (tombstones) */
	uint64_t used_bytes;     /* RFC 9208 STORAGE usage, in octets */
	uint64_t used_messages;  /* RFC 9208 MESSAGE usage */
	uint64_t quota_bytes;    /* 0 = unlimited */
	uint64_t quota_messages; /* 0 = unlimited */
};

/*
 * Create the account if it does not exist, with its special-use mailboxes (RFC 8621 §2:
 * Inbox, Drafts, Sent, Junk, Trash, Archive). Every write creates the account first when
 * needed, so calling this is optional. Returns 0 (created or present).
 */
int mailstore_account_ensure(struct mailstore *ms, uint64_t account, struct core_error *err);
/* Read the account record. CORE_ENOTFOUND if it was never created. */
int mailstore_account_get(struct mailstore *ms, uint64_t account, struct mailstore_account *out,
			  struct core_error *err);
/*
 * Delete an account and everything in it (issue 6: a resumable batch). The account is gone
 * at once for every reader and writer; its contents, blob links included, are purged in
 * bounded transactions. If that is interrupted, mailstore_account_purge() finishes it. A
 * later write with the same number creates a new, empty account. CORE_ENOTFOUND if absent.
 */
int mailstore_account_destroy(struct mailstore *ms, uint64_t account, struct core_error *err);
/* Finish an interrupted account deletion (0 also when there is nothing to do). */
int mailstore_account_purge(struct mailstore *ms, uint64_t account, struct core_error *err);
/* Set the quota (0 = unlimited). Usage above a lowered quota only blocks new mail. */
int mailstore_quota_set(struct mailstore *ms, uint64_t account, uint64_t bytes, uint64_t messages,
			struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Mailboxes                                                                            */
/* ------------------------------------------------------------------------------------ */

/* RFC 8621 §2 roles (from the IANA registry of RFC 8457 / RFC 6154 special-use). */
enum mailstore_role {
	MAILSTORE_ROLE_NONE = 0,
	MAILSTORE_ROLE_INBOX,
	MAILSTORE_ROLE_DRAFTS,
	MAILSTORE_ROLE_SENT,
	MAILSTORE_ROLE_JUNK,
	MAILSTORE_ROLE_TRASH,
	MAILSTORE_ROLE_ARCHIVE,
	MAILSTORE_ROLE_COUNT,
};
/* "inbox", "drafts", ... (RFC 8621 role names), NULL for NONE. */
const char *mailstore_role_name(enum mailstore_role r);

struct mailstore_mailbox {
	uint64_t id;
	uint64_t parent_id; /* 0: top level */
	const char *name;   /* arena-owned NFC UTF-8, one level (no separator) */
	enum mailstore_role role;
	uint32_t sort_order;
	bool subscribed;
	uint32_t uidvalidity; /* RFC 9051 §2.3.1.1 */
	uint32_t uidnext;
	uint64_t highest_modseq; /* RFC 7162 §3.1.1: highest modseq of anything in it */
	uint64_t created_modseq;
	uint64_t updated_modseq; /* last change of its own properties or counts */
	uint64_t total;          /* emails in it (RFC 8621 totalEmails), exact */
	uint64_t unread;         /* emails with neither $seen nor $draft (unreadEmails) */
	uint64_t size;           /* octets of the emails in it */
	uint64_t unseen;         /* emails without $seen (RFC 9051 STATUS UNSEEN) */
	uint64_t total_threads;  /* threads with an email in it (RFC 8621 totalThreads) */
	/* Threads with an email in it that has neither $seen nor $draft (RFC 8621 §2
	 * unreadThreads, the simple form: the unread email is in this mailbox). */
	uint64_t unread_threads;
	/* RFC 3501 §2.3.2 \Recent: UIDs from here on were not yet reported as recent to any
	 * IMAP4rev1 session (0 when none was ever claimed: every UID). */
	uint32_t recent_uid;
	/* Emails with $draft: with a user's seen count it gives that user's unread count of
	 * a shared mailbox (mailstore_mailbox_get_as). */
	uint64_t drafts;
	/* Threads with a non-draft email in it: with a user's read threads it gives that
	 * user's unreadThreads of a shared mailbox. */
	uint64_t nondraft_threads;
};

/*
 * Create a mailbox under parent_id (0: top level). name is UTF-8; it is normalised to NFC
 * and must be 1..MAILSTORE_NAME_MAX bytes with no '/' and no control character; a top-level
 * name equal to "INBOX" in any case is the Inbox's (RFC 9051 §5.1). role NONE or a role no
 * other mailbox holds. Returns 0 with *id_out, CORE_ECONFLICT (name or role taken),
 * CORE_ENOTFOUND (parent), CORE_ESYNTAX (name), CORE_ELIMIT (depth).
 */
int mailstore_mailbox_create(struct mailstore *ms, uint64_t account, uint64_t parent_id,
			     const char *name, enum mailstore_role role, uint64_t *id_out,
			     struct core_error *err);
/*
 * IMAP CREATE (RFC 9051 §6.3.4): create a '/'-separated path, creating missing superior
 * levels. CORE_ECONFLICT if the full path exists. *id_out (may be NULL) gets the new id.
 */
int mailstore_mailbox_create_path(struct mailstore *ms, uint64_t account, const char *path,
				  uint64_t *id_out, struct core_error *err);
int mailstore_mailbox_get(struct mailstore *ms, uint64_t account, uint64_t id, struct core_arena *a,
			  struct mailstore_mailbox *out, struct core_error *err);
/* Every mailbox of the account, ordered by id. *out arena-owned. */
int mailstore_mailbox_list(struct mailstore *ms, uint64_t account, struct core_arena *a,
			   struct mailstore_mailbox **out, size_t *n_out, struct core_error *err);
/* Resolve a '/'-separated path ("INBOX" case-insensitive at the top). */
int mailstore_mailbox_find(struct mailstore *ms, uint64_t account, const char *path,
			   uint64_t *id_out, struct core_error *err);
int mailstore_mailbox_find_role(struct mailstore *ms, uint64_t account, enum mailstore_role role,
				uint64_t *id_out, struct core_error *err);
/* The full '/'-separated path of a mailbox, appended to out. */
int mailstore_mailbox_path(struct mailstore *ms, uint64_t account, uint64_t id,
			   struct core_buf *out, struct core_error *err);
/*
 * Move and/or rename (JMAP parentId/name, IMAP RENAME). Children keep their parent id, so a
 * whole subtree follows in one change. CORE_ECONFLICT if the target name is taken,
 * CORE_EPERM when new_parent is the mailbox itself or one of its descendants.
 */
int mailstore_mailbox_rename(struct mailstore *ms, uint64_t account, uint64_t id,
			     uint64_t new_parent, const char *new_name, struct core_error *err);
/* IMAP RENAME by paths, creating missing superior levels of the new path. */
int mailstore_mailbox_rename_path(struct mailstore *ms, uint64_t account, const char *from,
				  const char *to, struct core_error *err);
/* Properties that change without moving: NULL pointers leave a property alone. */
struct mailstore_mailbox_patch {
	const uint32_t *sort_order;
	const bool *subscribed;
	const enum mailstore_role *role;
};
int mailstore_mailbox_update(struct mailstore *ms, uint64_t account, uint64_t id,
			     const struct mailstore_mailbox_patch *p, struct core_error *err);
/*
 * Delete a mailbox with no children (CORE_ECONFLICT: RFC 8621 mailboxHasChild). A mailbox
 * holding emails needs remove_emails (CORE_ECONFLICT otherwise: mailboxHasEmail); then its
 * emails leave it, and those in no other mailbox are destroyed. The mailbox disappears in
 * the first transaction; its contents are purged afterwards in bounded transactions. If
 * that is interrupted (error, crash), the mailbox stays gone and mailstore_purge_pending()
 * finishes the purge; meanwhile emails may still list the destroyed mailbox as a member.
 */
int mailstore_mailbox_destroy(struct mailstore *ms, uint64_t account, uint64_t id,
			      bool remove_emails, struct core_error *err);
/* Finish the purges of destroyed mailboxes that were interrupted. Returns how many. */
int mailstore_purge_pending(struct mailstore *ms, uint64_t account, struct core_error *err);

/*
 * RFC 3501 §2.3.2 \Recent for IMAP4rev1 sessions (IMAP4rev2 dropped it): the first session
 * that selects the mailbox after messages arrived sees them as recent. Returns in
 * [*first_out, *next_out) the UIDs this session reports as recent (the ones that still exist
 * among them; the range may be empty). Unless read_only (EXAMINE, RFC 3501 §6.3.2, must not
 * clear \Recent), the range is claimed so no other session reports it. Takes no modseq.
 */
int mailstore_mailbox_claim_recent(struct mailstore *ms, uint64_t account, uint64_t mailbox,
				   bool read_only, uint32_t *first_out, uint32_t *next_out,
				   struct core_error *err);

/* One message of a mailbox in UID order. */
typedef int (*mailstore_uid_fn)(void *arg, uint32_t uid, uint64_t email_id, uint64_t modseq);
/*
 * Visit messages with UID in [uid_lo, uid_hi] (uid_hi 0: no upper bound) in UID order. The
 * callback returns 0 to go on, 1 to stop, negative to fail. Returns the number visited.
 */
int mailstore_mailbox_uids(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			   uint32_t uid_lo, uint32_t uid_hi, mailstore_uid_fn fn, void *arg,
			   struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Emails                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Keywords are stored lower-case (RFC 8621 §4.1.1: case-insensitive). IMAP system flags
 * map to $seen, $answered, $flagged, $draft; \Deleted to $deleted. */
#define MAILSTORE_KW_SEEN "$seen"
#define MAILSTORE_KW_DRAFT "$draft"

struct mailstore_member {
	uint64_t mailbox;
	uint32_t uid;
};

struct mailstore_email {
	uint64_t id;
	uint64_t thread_id;
	struct store_blob_id blob;
	uint64_t size;       /* RFC822.SIZE, octets */
	int64_t received_at; /* seconds since the epoch (JMAP receivedAt, IMAP INTERNALDATE) */
	uint64_t modseq;     /* last change (RFC 7162 MODSEQ) */
	uint64_t created_modseq;
	const char **keywords; /* arena-owned, lower-case, sorted */
	size_t nkeywords;
	struct mailstore_member *members; /* arena-owned, ordered by mailbox id */
	size_t nmembers;
};

/* Address of a parsed header field (RFC 8621 §4.1.2.3 EmailAddress; groups flattened). */
struct mailstore_addr {
	const char *name;  /* arena-owned, decoded display name, NULL if none */
	const char *email; /* arena-owned addr-spec */
};

/* One MIME part in pre-order (enough for IMAP BODYSTRUCTURE and JMAP bodyStructure). */
struct mailstore_part {
	uint32_t nchildren; /* parts that follow in pre-order as its direct children */
	uint64_t header_off, header_len, body_off, body_len;
	uint64_t body_lines;
	const char *type, *subtype;               /* arena-owned, lower-case */
	const char **param_names, **param_values; /* Content-Type parameters (decoded) */
	size_t nparams;
	const char *cte;         /* as declared (lower-case) or NULL */
	const char *content_id;  /* without angle brackets, or NULL */
	const char *description; /* decoded, or NULL */
	const char *disposition; /* lower-case, or NULL */
	const char **disp_names, **disp_values;
	size_t ndisp;
	const char *language; /* Content-Language tags joined by ", ", or NULL */
	const char *location; /* or NULL */
	const char *charset;  /* declared charset (lower-case), or NULL */
};

/* Fields of one message header (the root, or a message/rfc822 part's child). */
struct mailstore_envelope {
	/* Raw unfolded values (IMAP ENVELOPE nstrings), NULL if the field is absent. */
	const char *date_raw, *subject_raw, *message_id_raw, *in_reply_to_raw;
	const char *from_raw, *sender_raw, *reply_to_raw, *to_raw, *cc_raw, *bcc_raw;
};

struct mailstore_parsed {
	unsigned version;    /* record version it was read from */
	const char *subject; /* RFC 8621 Text form, or NULL */
	int64_t sent_at;     /* Date: seconds, 0 if absent or invalid */
	int sent_offset;     /* Date: zone, minutes east of UTC */
	bool has_sent_at;
	const char **message_ids, **in_reply_to, **references; /* without brackets */
	size_t nmessage_ids, nin_reply_to, nreferences;
	struct mailstore_addr *from, *sender, *reply_to, *to, *cc, *bcc;
	size_t nfrom, nsender, nreply_to, nto, ncc, nbcc;
	const char *preview; /* up to 256 characters of the first text part, or NULL */
	bool has_attachment;
	struct mailstore_envelope envelope;
	struct mailstore_part *parts; /* pre-order; parts[0] is the root */
	size_t nparts;
	/* Envelope of each message/rfc822 part's encapsulated message, by part index (NULL
	 * for other parts), for IMAP BODYSTRUCTURE. */
	struct mailstore_envelope **part_envelopes;
};

/* Where one delivery goes: an account, mailboxes in it, initial keywords. */
struct mailstore_target {
	uint64_t account;
	const uint64_t *mailboxes; /* 1..MAILSTORE_MAILBOXES_MAX */
	size_t nmailboxes;
	const char *const *keywords;
	size_t nkeywords;
};

struct mailstore_delivered {
	uint64_t email_id;
	uint64_t thread_id;
	uint64_t modseq;
	uint32_t uids[MAILSTORE_MAILBOXES_MAX]; /* UID in target mailboxes[i] */
	struct store_blob_id blob;
};

/*
 * Deliver one message to several accounts and mailboxes at once (SMTP/LMTP delivery, IMAP
 * APPEND, JMAP Email/import): the bytes are stored once as a blob, parsed once, and every
 * target gets its own Email in one transaction: all targets or none. received_at 0 means
 * now. A quota overrun in any target fails the whole delivery with CORE_ELIMIT (RFC 9208
 * §5.1 OVERQUOTA). out (ntargets entries, may be NULL) receives the new ids and UIDs, and
 * is left alone on failure.
 */
int mailstore_deliver(struct mailstore *ms, const void *data, size_t len,
		      const struct mailstore_target *targets, size_t ntargets, int64_t received_at,
		      struct mailstore_delivered *out, struct core_error *err);
/* One message of mailstore_deliver_batch(). */
struct mailstore_delivery {
	const void *data;
	size_t len;
	const struct mailstore_target *targets;
	size_t ntargets;
	int64_t received_at;
	struct mailstore_delivered *out; /* ntargets entries, or NULL */
	/* Set by mailstore_deliver_batch(): 0 or this message's error (detail in err). */
	int rc;
	struct core_error err;
	/* mailstore_delivery_prepare()'s work, or NULL (then the batch prepares it). */
	struct mailstore_prepared *prep;
};
/*
 * Optional, before mailstore_deliver_batch(): everything about d that needs no
 * transaction (checks, the parse, a large message's blob) done now, by the caller's
 * thread, so that a batch's transaction holds its accounts only for the records. d's data
 * and targets must stay valid until mailstore_delivery_release(). Returns 0, or the error
 * the delivery would have failed with (also in d->rc and d->err; d->prep stays NULL).
 */
int mailstore_delivery_prepare(struct mailstore *ms, struct mailstore_delivery *d);
/* Free what mailstore_delivery_prepare() kept (d->prep back to NULL; safe when NULL). */
void mailstore_delivery_release(struct mailstore_delivery *d);
/*
 * Group commit: deliver n messages, each exactly as mailstore_deliver() would, in as few
 * synced commits as possible. All of them go first into one transaction (when the accounts
 * of the whole batch number at most MAILSTORE_TARGETS_MAX); if that transaction fails,
 * each message is delivered in its own, so a member that fails (over quota, bad input)
 * never fails the others. d[i].rc and d[i].err give each outcome and d[i].out its ids.
 * Messages of one batch that land in one account share a modseq (one change of state).
 * *commits_out (may be NULL) receives the number of committed transactions. Returns the
 * number of messages delivered.
 */
int mailstore_deliver_batch(struct mailstore *ms, struct mailstore_delivery *d, size_t n,
			    size_t *commits_out);
/* One target: mailstore_deliver() with a single account. */
int mailstore_email_append(struct mailstore *ms, uint64_t account, const void *data, size_t len,
			   const uint64_t *mailboxes, size_t nmailboxes,
			   const char *const *keywords, size_t nkeywords, int64_t received_at,
			   struct mailstore_delivered *out, struct core_error *err);

int mailstore_email_get(struct mailstore *ms, uint64_t account, uint64_t id, struct core_arena *a,
			struct mailstore_email *out, struct core_error *err);
/* The fields parsed at delivery (never re-parses the blob). */
int mailstore_email_parsed(struct mailstore *ms, uint64_t account, uint64_t id,
			   struct core_arena *a, struct mailstore_parsed *out,
			   struct core_error *err);
/* Stream the message bytes (from the blob store; offset/len as store_blob_read). */
int mailstore_email_read(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t offset,
			 uint64_t len, store_blob_read_fn fn, void *arg, struct core_error *err);

/*
 * IMAP COPY (RFC 9051 §6.4.7): a new Email in mailbox `to`, with its own id and the source's
 * keywords, sharing the blob and the thread. Returns 0 with *id_out and *uid_out.
 */
int mailstore_email_copy(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t to,
			 uint64_t *id_out, uint32_t *uid_out, struct core_error *err);
/*
 * IMAP MOVE (RFC 6851): the same Email leaves `from` (its UID is expunged there) and enters
 * `to` with a new UID. CORE_ENOTFOUND if it is not in `from`.
 */
int mailstore_email_move(struct mailstore *ms, uint64_t account, uint64_t id, uint64_t from,
			 uint64_t to, uint32_t *uid_out, struct core_error *err);
/*
 * Set the mailboxes of an email (JMAP mailboxIds): new ones get a UID, left ones an expunge
 * tombstone; at least one mailbox (CORE_ESYNTAX otherwise).
 */
int mailstore_email_set_mailboxes(struct mailstore *ms, uint64_t account, uint64_t id,
				  const uint64_t *mailboxes, size_t n, struct core_error *err);

enum mailstore_kw_op {
	MAILSTORE_KW_ADD = 0,     /* IMAP +FLAGS, JMAP keywords/x: true */
	MAILSTORE_KW_REMOVE = 1,  /* IMAP -FLAGS, JMAP keywords/x: null */
	MAILSTORE_KW_REPLACE = 2, /* IMAP FLAGS, JMAP keywords */
};
/*
 * Change keywords. unchanged_since != 0 is RFC 7162 §3.2 UNCHANGEDSINCE: CORE_ECONFLICT when
 * the email's modseq is above it. A change that changes nothing advances no modseq. Returns
 * 0 with the email's modseq in *modseq_out (may be NULL).
 */
int mailstore_email_keywords(struct mailstore *ms, uint64_t account, uint64_t id,
			     enum mailstore_kw_op op, const char *const *kw, size_t n,
			     uint64_t unchanged_since, uint64_t *modseq_out,
			     struct core_error *err);
/*
 * IMAP EXPUNGE / UID EXPUNGE: remove the given UIDs from a mailbox (missing UIDs are
 * skipped); an email left in no mailbox is destroyed. Large lists run as several bounded
 * transactions (256 UIDs each, each its own modseq); after an error, calling again with the
 * same list resumes. Returns the number removed.
 */
int mailstore_mailbox_expunge(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			      const uint32_t *uids, size_t n, struct core_error *err);
/* JMAP Email/set destroy: remove the email from every mailbox and drop its blob link. */
int mailstore_email_destroy(struct mailstore *ms, uint64_t account, uint64_t id,
			    struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Sharing: ACLs, per-user \Seen, subscriptions, copies between accounts                */
/* ------------------------------------------------------------------------------------ */

/*
 * RFC 4314 §2.1 rights, one bit each. JMAP's myRights (RFC 8621 §2) maps onto them:
 * mayReadItems l+r, mayAddItems i, mayRemoveItems t+e, maySetSeen s, maySetKeywords w,
 * mayCreateChild k, mayRename x, mayDelete x, maySubmit p; shareWith (RFC 9670-style
 * sharing) edits the same entries. The owner of a mailbox always has every right.
 */
enum mailstore_right {
	MAILSTORE_ACL_LOOKUP = 1u << 0,  /* l: visible to LIST */
	MAILSTORE_ACL_READ = 1u << 1,    /* r: SELECT, STATUS, FETCH, SEARCH, COPY from */
	MAILSTORE_ACL_SEEN = 1u << 2,    /* s: keep \Seen across sessions */
	MAILSTORE_ACL_WRITE = 1u << 3,   /* w: flags and keywords other than \Seen, \Deleted */
	MAILSTORE_ACL_INSERT = 1u << 4,  /* i: APPEND, COPY into */
	MAILSTORE_ACL_POST = 1u << 5,    /* p: send mail to the submission address */
	MAILSTORE_ACL_CREATE = 1u << 6,  /* k: create children */
	MAILSTORE_ACL_DELETE = 1u << 7,  /* x: delete or rename the mailbox */
	MAILSTORE_ACL_DELMSG = 1u << 8,  /* t: set or clear \Deleted */
	MAILSTORE_ACL_EXPUNGE = 1u << 9, /* e: EXPUNGE */
	MAILSTORE_ACL_ADMIN = 1u << 10,  /* a: administer (SETACL, DELETEACL, GETACL) */
	MAILSTORE_ACL_ALL = (1u << 11) - 1u,
};
/* The identifier "anyone" (RFC 4314 §2): its rights go to every user. */
#define MAILSTORE_ACL_ANYONE 0u
/* Longest rights string mailstore_acl_format writes, with its NUL. */
#define MAILSTORE_ACL_TEXT 16u

/*
 * Parse an RFC 4314 rights string ("lrswipkxtea"; the obsolete virtual rights of §2.1.1
 * expand: "c" to k and x, "d" to e and t). Returns 0 or CORE_ESYNTAX on an unknown letter.
 */
int mailstore_acl_parse(const char *s, size_t len, unsigned *rights_out);
/* Format rights in RFC 4314 order, adding "c" and "d" when one of their members is present
 * (§2.1.1). */
void mailstore_acl_format(unsigned rights, char out[MAILSTORE_ACL_TEXT]);

/* RFC 8621 §2 MailboxRights. */
struct mailstore_jmap_rights {
	bool may_read_items, may_add_items, may_remove_items, may_set_seen, may_set_keywords;
	bool may_create_child, may_rename, may_delete, may_submit;
};
/* The mapping of RFC 8621 §2: mayReadItems needs "l" and "r", mayRemoveItems "t" and "e",
 * mayRename and mayDelete are both "x"; the others are one letter each. */
void mailstore_acl_to_jmap(unsigned rights, struct mailstore_jmap_rights *out);
unsigned mailstore_acl_from_jmap(const struct mailstore_jmap_rights *r);

struct mailstore_acl_entry {
	uint64_t principal; /* an account id, or MAILSTORE_ACL_ANYONE */
	unsigned rights;
};

/*
 * Set the rights of a principal on a mailbox of owner (SETACL, DELETEACL with rights 0,
 * JMAP shareWith). The owner's own rights cannot change (CORE_EPERM). The mailbox object
 * changes (JMAP myRights/shareWith) and is logged as updated.
 */
int mailstore_acl_set(struct mailstore *ms, uint64_t owner, uint64_t mailbox, uint64_t principal,
		      unsigned rights, struct core_error *err);
/* Every entry of a mailbox's ACL, by principal (GETACL); the owner is implicit. */
int mailstore_acl_list(struct mailstore *ms, uint64_t owner, uint64_t mailbox, struct core_arena *a,
		       struct mailstore_acl_entry **out, size_t *n_out, struct core_error *err);
/* Effective rights of user (MYRIGHTS, JMAP myRights): every right for the owner, else the
 * user's entry together with anyone's. CORE_ENOTFOUND if the mailbox does not exist. */
int mailstore_acl_rights(struct mailstore *ms, uint64_t owner, uint64_t mailbox, uint64_t user,
			 unsigned *rights_out, struct core_error *err);

/* A mailbox shared with a principal (IMAP NAMESPACE "Other Users", JMAP accounts). */
struct mailstore_share {
	uint64_t owner, mailbox;
	unsigned rights; /* the principal's entry together with anyone's */
};
/* Mailboxes of other accounts shared with principal, directly or through "anyone", by
 * (owner, mailbox). */
int mailstore_acl_shared_with(struct mailstore *ms, uint64_t principal, struct core_arena *a,
			      struct mailstore_share **out, size_t *n_out, struct core_error *err);

/*
 * Per-user \Seen (RFC 4314 §4 "s" right; docs/mailstore.md §Sharing): the owner's \Seen is
 * the email's $seen keyword; every other user has a \Seen of their own per email, changed
 * here. user == owner sets or clears the keyword. Others need the "s" right on every
 * mailbox holding the email (RFC 8621 §2 maySetSeen; CORE_EPERM otherwise), and
 * CORE_ENOTFOUND comes back without "r" on any of them, so nothing leaks.
 * A change raises the email's modseq like a keyword change.
 */
int mailstore_seen_set(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id, bool seen,
		       struct core_error *err);
/*
 * mailstore_email_keywords for a user of a shared mailbox (IMAP STORE, JMAP Email/set in a
 * shared account), in one transaction: $seen goes to the user's own \Seen, every other
 * keyword to the email. REPLACE keeps the owner's $seen. Rights on every mailbox of the
 * email (RFC 8621 §2, RFC 4314 §4): "s" for $seen, "t" for $deleted, "w" for the others
 * (CORE_EPERM); CORE_ENOTFOUND without "r" on any. user == owner is
 * mailstore_email_keywords.
 */
int mailstore_email_keywords_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
				enum mailstore_kw_op op, const char *const *kw, size_t n,
				uint64_t unchanged_since, uint64_t *modseq_out,
				struct core_error *err);
/* An email as user sees it: $seen from the user's own \Seen when user is not the owner.
 * CORE_ENOTFOUND unless user has "r" on a mailbox holding it. */
int mailstore_email_get_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
			   struct core_arena *a, struct mailstore_email *out,
			   struct core_error *err);
/* A mailbox as user sees it: unseen, unread and unreadThreads from the user's own \Seen
 * (total, size and the rest are shared). CORE_ENOTFOUND unless user has "l" or "r" on it. */
int mailstore_mailbox_get_as(struct mailstore *ms, uint64_t owner, uint64_t user, uint64_t id,
			     struct core_arena *a, struct mailstore_mailbox *out,
			     struct core_error *err);

/*
 * The mailboxes of owner that user sees (RFC 4314 "l"; JMAP Mailbox/get in a shared
 * account), ordered by id, with the user's own counts as mailstore_mailbox_get_as gives
 * them and, in *rights_out (may be NULL), the user's rights on each (JMAP myRights). For
 * the owner: every mailbox with every right. Arrays arena-owned.
 */
int mailstore_mailbox_list_as(struct mailstore *ms, uint64_t owner, uint64_t user,
			      struct core_arena *a, struct mailstore_mailbox **out,
			      unsigned **rights_out, size_t *n_out, struct core_error *err);

/*
 * Subscriptions by name (RFC 9051 §6.3.7, §6.3.8): SUBSCRIBE does not need the mailbox to
 * exist, DELETE and RENAME leave subscribed names alone (§6.3.6), so a name may be
 * subscribed with no mailbox (LIST (SUBSCRIBED) shows \NonExistent). The mailbox at the
 * name, when there is one, gets isSubscribed (RFC 8621 §2) to match; setting isSubscribed
 * through mailstore_mailbox_update subscribes or unsubscribes the mailbox's current path.
 */
int mailstore_subscribe(struct mailstore *ms, uint64_t account, const char *path, bool on,
			struct core_error *err);
struct mailstore_subscription {
	const char *path; /* arena-owned */
	uint64_t mailbox; /* the mailbox at that path, 0 if none (\NonExistent) */
};
/* Subscribed names, in byte order: the names subscribed and the current paths of mailboxes
 * with isSubscribed. */
int mailstore_subscriptions(struct mailstore *ms, uint64_t account, struct core_arena *a,
			    struct mailstore_subscription **out, size_t *n_out,
			    struct core_error *err);

/*
 * Copy an email to another account (JMAP Email/copy, RFC 8621 §4.7 / RFC 8620 §5.4): a new
 * Email in `to` with its own id and thread, in the given mailboxes, sharing the blob (linked
 * under `to` in the same transaction, with the source's access). keywords NULL keeps the
 * source's; received_at 0 keeps the source's. The quota of `to` is checked in the
 * transaction (CORE_ELIMIT). out (may be NULL) gets the new id, thread and UIDs.
 */
int mailstore_email_copy_account(struct mailstore *ms, uint64_t from, uint64_t id, uint64_t to,
				 const uint64_t *mailboxes, size_t nmailboxes,
				 const char *const *keywords, size_t nkeywords, int64_t received_at,
				 struct mailstore_delivered *out, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Threads                                                                              */
/* ------------------------------------------------------------------------------------ */

/* Email ids of a thread, in order of arrival (RFC 8621 §3: Thread/get emailIds). */
int mailstore_thread_get(struct mailstore *ms, uint64_t account, uint64_t thread_id,
			 struct core_arena *a, uint64_t **ids_out, size_t *n_out,
			 struct core_error *err);
/*
 * The base subject used to join threads (RFC 8621 §3 suggestion, RFC 5256 §2.1 rules):
 * leading "Re:", "Fwd:", "Fw:" and "[tag]" prefixes and trailing "(fwd)" removed, white
 * space collapsed, case folded. Appended to out.
 */
void mailstore_subject_base(const char *subject, size_t len, struct core_buf *out);

/* ------------------------------------------------------------------------------------ */
/* Changes and tombstones                                                               */
/* ------------------------------------------------------------------------------------ */

enum mailstore_type {
	MAILSTORE_T_MAILBOX = 1,
	MAILSTORE_T_EMAIL = 2,
	MAILSTORE_T_THREAD = 4,
	/* Opaque objects of other JMAP data types (mailstore_object_*). */
	MAILSTORE_T_IDENTITY = 8,  /* RFC 8621 §6 */
	MAILSTORE_T_VACATION = 16, /* RFC 8621 §8 */
	MAILSTORE_T_SIEVE = 32,    /* RFC 9661 SieveScript */
	MAILSTORE_T_PUSH = 64,     /* RFC 8620 §7.2 PushSubscription */
};

/* RFC 8620 §5.2 /changes result; arrays arena-owned and ascending. */
struct mailstore_changes {
	uint64_t old_state, new_state;
	bool has_more;
	uint64_t *created, *updated, *destroyed;
	size_t ncreated, nupdated, ndestroyed;
	/* Mailbox only: every update in the window changed counts alone (RFC 8621 §2.2
	 * updatedProperties may then list only the four count properties). */
	bool counts_only;
};

/*
 * Changes of one type after state `since` (a modseq). max_changes 0: no limit; otherwise
 * the answer stops at a modseq boundary once it holds max_changes ids and sets has_more.
 * An id created and destroyed within the window is left out. CORE_ELIMIT
 * (cannotCalculateChanges) when since is below the account's changes floor or above its
 * modseq.
 */
int mailstore_changes_get(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			  uint64_t since, size_t max_changes, struct core_arena *a,
			  struct mailstore_changes *out, struct core_error *err);

/* One expunged UID (RFC 7162 §3.2.10 VANISHED). */
typedef int (*mailstore_vanished_fn)(void *arg, uint32_t uid, uint64_t modseq);
/*
 * UIDs expunged from a mailbox after modseq since, in modseq order. CORE_ELIMIT when since
 * is below the changes floor (the caller falls back to VANISHED (EARLIER) of every UID it
 * cannot see). Returns the number visited.
 */
int mailstore_mailbox_vanished(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			       uint64_t since, mailstore_vanished_fn fn, void *arg,
			       struct core_error *err);
/*
 * Purge tombstones and change-log entries older than the configured period (measured with
 * store_now_ms()); raises the account's changes floor. Returns the number of entries removed.
 */
int mailstore_tombstones_purge(struct mailstore *ms, uint64_t account, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Other per-account objects                                                            */
/* ------------------------------------------------------------------------------------ */

/*
 * Identities, the vacation response, Sieve scripts and push subscriptions live here too, as
 * opaque values (encoded by the module that owns the type) with per-account ids, a modseq
 * and /changes like every other type. Values are at most MAILSTORE_OBJECT_MAX bytes; larger
 * content (a Sieve script) goes to the blob store and the value holds its id.
 */
#define MAILSTORE_OBJECT_MAX (256u * 1024u)

struct mailstore_object {
	uint64_t id;
	uint64_t modseq;  /* last change */
	const void *data; /* arena-owned */
	size_t len;
};

/* type is one of the object types above (CORE_ESYNTAX otherwise). */
int mailstore_object_create(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			    const void *data, size_t len, uint64_t *id_out, struct core_error *err);
/* if_modseq != 0: CORE_ECONFLICT unless the object's modseq is still if_modseq (JMAP
 * ifInState-like guard). */
int mailstore_object_update(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			    uint64_t id, const void *data, size_t len, uint64_t if_modseq,
			    struct core_error *err);
int mailstore_object_destroy(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			     uint64_t id, struct core_error *err);
int mailstore_object_get(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			 uint64_t id, struct core_arena *a, struct mailstore_object *out,
			 struct core_error *err);
/* Every object of a type, by id; *out arena-owned. */
int mailstore_object_list(struct mailstore *ms, uint64_t account, enum mailstore_type type,
			  struct core_arena *a, struct mailstore_object **out, size_t *n_out,
			  struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Change bus (ARCHITECTURE.md §3): "account X changed at modseq N"                     */
/* ------------------------------------------------------------------------------------ */

/* A notification: types is a mask of enum mailstore_type that changed. */
typedef void (*mailstore_bus_fn)(void *arg, uint64_t account, unsigned types, uint64_t modseq);

/*
 * A transport carrying notifications to other nodes (a cluster implements it over the lookup
 * store or a message bus); publish is called after each commit on this node, and the
 * transport calls mailstore_bus_deliver() for notifications from other nodes.
 */
struct mailstore_bus_transport {
	void (*publish)(void *arg, uint64_t account, unsigned types, uint64_t modseq);
	void *arg;
};

/* An in-process bus; thread-safe. Caller frees with mailstore_bus_free(). */
struct mailstore_bus *mailstore_bus_new(void);
void mailstore_bus_free(struct mailstore_bus **bus);
/* Set (or clear with NULL) the transport; t is copied. */
void mailstore_bus_set_transport(struct mailstore_bus *bus,
				 const struct mailstore_bus_transport *t);
/*
 * Subscribe to one account (account 0: every account). fn runs on the committing thread,
 * after the commit, and must not block nor call back into the bus. Returns a handle > 0.
 */
int mailstore_bus_subscribe(struct mailstore_bus *bus, uint64_t account, mailstore_bus_fn fn,
			    void *arg);
/* Remove a subscription; after it returns, fn is not running and never runs again. */
void mailstore_bus_unsubscribe(struct mailstore_bus *bus, int handle);
/* Deliver a notification to the local subscribers (also used by a transport). */
void mailstore_bus_deliver(struct mailstore_bus *bus, uint64_t account, unsigned types,
			   uint64_t modseq);

#endif
