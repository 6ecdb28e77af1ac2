/*
 * mailstore_imapthread.h: the IMAP THREAD algorithms (RFC 5256 §3 ORDEREDSUBJECT and
 * REFERENCES) computed from the fields stored at delivery, and the THREAD response syntax
 * (RFC 5256 §4). docs/mailstore.md §IMAP THREAD describes the choices.
 *
 * The algorithms are a pure function over an array of messages (number, subject, dates,
 * message ids): no store is needed, so the IMAP layer and tests call the same code. The
 * JMAP threads of the mail store (RFC 8621 §3, assigned once, never merged) are a separate
 * thing: IMAP THREAD is recomputed on each command over the messages a search selected.
 *
 * Ownership: the result tree is allocated from the caller's arena; input strings are
 * borrowed for the duration of the call only. Calls are thread-safe (no shared state).
 */
#ifndef STAUNCH_MAILSTORE_MAILSTORE_IMAPTHREAD_H
#define STAUNCH_MAILSTORE_MAILSTORE_IMAPTHREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "mailstore/mailstore.h"

/* Messages in one computation (larger inputs are refused with CORE_ELIMIT). */
#define MAILSTORE_IMAPTHREAD_MAX 10000000u
/* Message ids of References used per message (the last ones, the closest ancestors). */
#define MAILSTORE_IMAPTHREAD_REFS_MAX 1000u

enum mailstore_imapthread_algo {
	MAILSTORE_IMAPTHREAD_ORDEREDSUBJECT = 1, /* RFC 5256 §3 "poor man's threading" */
	MAILSTORE_IMAPTHREAD_REFERENCES = 2,     /* RFC 5256 §3 the six steps */
};

/* One searched message. */
struct mailstore_imapthread_msg {
	/* The number reported: a sequence number (THREAD) or a UID (UID THREAD); non-zero and
	 * unique. Both increase in mailbox order, so it also breaks sent-date ties (§2.2) and
	 * decides which of several messages with one Message-ID keeps it (§3 step 1.A). */
	uint32_t num;
	const char *subject;   /* decoded Subject (RFC 2047 words as UTF-8), NULL if absent */
	bool has_sent_at;      /* a valid Date: header */
	int64_t sent_at;       /* Date:, seconds since the epoch, UTC */
	int64_t internal_date; /* INTERNALDATE, used when Date: is absent or invalid (§2.2) */
	/* Ids without angle brackets, as stored (mailstore_parsed). */
	const char *const *message_ids;
	size_t nmessage_ids;
	const char *const *in_reply_to;
	size_t nin_reply_to;
	const char *const *references;
	size_t nreferences;
};

/* Fill m from the parsed fields of an email (borrowed pointers into p). */
void mailstore_imapthread_msg_from_parsed(struct mailstore_imapthread_msg *m, uint32_t num,
					  const struct mailstore_parsed *p, int64_t internal_date);

/*
 * A node of the result. num 0 is a message that is not among the searched ones (a "dummy",
 * RFC 5256 §4 example "((3)(5))"): it only occurs at the top level, with two or more
 * children. Children are in the order the algorithm gives (sent date, then num).
 */
struct mailstore_imapthread_node {
	uint32_t num;
	struct mailstore_imapthread_node *children;
	size_t nchildren;
};

/*
 * Thread msgs[0..n) with algo. On success *threads_out (arena-owned, may be NULL when n is
 * 0) holds the *n_out top-level threads in response order. Errors: CORE_ESYNTAX for an
 * unknown algorithm or a num of 0 or repeated, CORE_ELIMIT beyond MAILSTORE_IMAPTHREAD_MAX.
 * Any header content is accepted: loops in References, repeated or missing Message-IDs.
 */
int mailstore_imapthread_compute(const struct mailstore_imapthread_msg *msgs, size_t n,
				 enum mailstore_imapthread_algo algo, struct core_arena *a,
				 struct mailstore_imapthread_node **threads_out, size_t *n_out,
				 struct core_error *err);

/*
 * Append the THREAD response data (RFC 5256 §4 and §5 thread-list): one parenthesised list
 * per thread, e.g. "(2)(3 6 (4 23)(44 7 96))"; nothing for no threads. A chain of single
 * children is written as successive numbers; a split nests the sub-threads. Not the
 * "* THREAD " prefix nor the line end.
 */
void mailstore_imapthread_format(const struct mailstore_imapthread_node *threads, size_t n,
				 struct core_buf *out);

/*
 * For the IMAP layer: thread the messages with UIDs uids[0..n) (strictly increasing, the
 * result of a search) of one mailbox, reporting nums[i] for uids[i] (NULL: report the UIDs,
 * UID THREAD). The stored fields are read with mailstore_email_get and
 * mailstore_email_parsed, one short read transaction per email, never the blobs. UIDs that
 * no longer exist (expunged meanwhile) are left out. Result as mailstore_imapthread_compute.
 */
int mailstore_imapthread_mailbox(struct mailstore *ms, uint64_t account, uint64_t mailbox,
				 const uint32_t *uids, const uint32_t *nums, size_t n,
				 enum mailstore_imapthread_algo algo, struct core_arena *a,
				 struct mailstore_imapthread_node **threads_out, size_t *n_out,
				 struct core_error *err);

#endif
