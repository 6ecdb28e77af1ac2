/*
 * mailstore_share.h: private parts of mailbox sharing (RFC 4314 ACLs), per-user \Seen on
 * shared mailboxes, subscriptions by name (RFC 9051 §6.3.7) and blob links kept in the
 * mail store's own transactions. docs/mailstore.md §Sharing describes the keys.
 */
#ifndef STAUNCH_MAILSTORE_MAILSTORE_SHARE_H
#define STAUNCH_MAILSTORE_MAILSTORE_SHARE_H

#include "mailstore/mailstore_int.h"

/* Key families ('M' + be64 account + family, as in mailstore_int.h). */
#define MS_F_ACL 'L'     /* be64 mailbox, be64 principal -> rights (0 = anyone) */
#define MS_F_SHARED 'W'  /* under the principal: be64 owner, be64 mailbox -> rights */
#define MS_F_SEEN 'V'    /* be64 email, be64 user -> (empty): the user's \Seen */
#define MS_F_SEENCNT 'Q' /* be64 mailbox, be64 user -> seen, seen drafts, read threads */
#define MS_F_SUB 'Y'     /* mailbox path -> (empty): subscribed name */
#define MS_F_SEENTHR 'G' /* be64 mailbox, be64 thread, be64 user -> seen non-draft emails */

/* Blob links of emails, inside the transaction (docs/mailstore.md §Blobs). */
int ms_blob_link_in(struct ms_tx *tx, uint64_t from, uint64_t account, uint64_t email,
		    const struct store_blob_id *blob);
/* ms_blob_link_in for content this transaction wrote itself (no access check). */
int ms_blob_link_own(struct ms_tx *tx, uint64_t account, uint64_t email,
		     const struct store_blob_id *blob);
int ms_blob_unlink_in(struct ms_tx *tx, uint64_t account, uint64_t email,
		      const struct store_blob_id *blob);

/* Effective rights of user on a mailbox of owner (RFC 4314 §4), read in tx.
 * CORE_ENOTFOUND if the mailbox does not exist. */
int ms_acl_rights_in(struct ms_tx *tx, uint64_t owner, uint64_t mailbox, uint64_t user,
		     unsigned *rights_out);
/* Drop every ACL entry of a mailbox (and the principals' shared-with entries). */
int ms_acl_drop_mailbox(struct ms_tx *tx, uint64_t owner, uint64_t mailbox);
/* Drop every ACL entry of an account (account deletion). */
int ms_acl_drop_account(struct ms_tx *tx, uint64_t owner);

/* Per-user \Seen upkeep from the email code: email e joined / left mailbox (counts of
 * every user who saw it), its $draft changed, it was destroyed (marks dropped). */
int ms_seen_join(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e,
		 uint64_t mailbox);
int ms_seen_leave(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e,
		  uint64_t mailbox);
int ms_seen_draft(struct ms_tx *tx, uint64_t account, const struct mailstore_email *e, bool draft);
int ms_seen_destroy(struct ms_tx *tx, uint64_t account, uint64_t email);
/* A (mailbox, thread)'s non-draft count went from nd0 to nd1 because e joined, left or
 * changed $draft; users who saw e (none when fresh: a new email) change by dsaw. Keeps
 * every user's read-thread count of the mailbox exact. */
int ms_seen_thread(struct ms_tx *tx, uint64_t account, uint64_t mailbox,
		   const struct mailstore_email *e, bool fresh, uint64_t nd0, uint64_t nd1,
		   int dsaw);
/* The non-draft emails of a thread in a mailbox (mailstore_email.c). */
int ms_mbthread_nondraft(struct ms_tx *tx, uint64_t account, uint64_t mailbox, uint64_t thread,
			 uint64_t *nd_out);
/* Drop the per-user counts of a destroyed mailbox. */
int ms_seen_drop_mailbox(struct ms_tx *tx, uint64_t account, uint64_t mailbox);

/* Subscriptions by name (mailstore_sub.c). A normalised path (levels NFC, a leading INBOX
 * in any case as "INBOX") into out; CORE_ESYNTAX / CORE_ELIMIT for a bad one. */
int ms_sub_norm(struct ms_tx *tx, const char *path, struct core_buf *out);
int ms_sub_put(struct ms_tx *tx, uint64_t account, const char *path, size_t len, bool on);
int ms_sub_has(struct ms_tx *tx, uint64_t account, const char *path, size_t len, bool *out);

/* The email changed (mailstore_email.c): new modseq on it and its UID entries, HIGHESTMODSEQ
 * of its mailboxes raised (counts: their counts changed too), logged when log is set. */
int ms_email_changed(struct ms_tx *tx, struct ms_tx_acct *ac, struct mailstore_email *e,
		     bool counts, bool log);

/* Keywords of e after op (sorted, in the transaction's arena); *same_out when nothing
 * changes. CORE_ELIMIT past MAILSTORE_KEYWORDS_MAX. */
int ms_kw_compute(struct ms_tx *tx, const struct mailstore_email *e, enum mailstore_kw_op op,
		  const char *const *kw, size_t nkw, const char ***out, size_t *n_out,
		  bool *same_out);
/* Give e the keywords nk and keep every count that depends on them exact (*counts_out:
 * mailbox counts changed). The caller writes e with ms_email_changed. */
int ms_kw_apply(struct ms_tx *tx, uint64_t account, struct mailstore_email *e, const char **nk,
		size_t n, bool *counts_out);

/* Mailbox helpers (mailstore_mailbox.c). */
/* The full path of a mailbox, appended to out. */
int ms_mailbox_path_in(struct ms_tx *tx, uint64_t account, uint64_t id, struct core_buf *out);
/* One level of a name normalised (NFC, checked) into the transaction's arena. */
int ms_mailbox_name_norm(struct ms_tx *tx, const char *name, size_t len, const char **out);
/* Resolve a path (no creation); CORE_ENOTFOUND if absent. */
int ms_mailbox_walk(struct ms_tx *tx, uint64_t account, const char *path, uint64_t *id_out);

#endif
