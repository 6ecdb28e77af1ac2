/*
 * mailstore_query.h: Email/query (RFC 8621 §4.4) over the mail store, the full-text index
 * queue and the text-matching helpers of IMAP SEARCH (RFC 9051 §6.4.4). docs/mailstore.md
 * §Query, indexes and full text describes the index keys, their cost and the matching rules.
 *
 * Query: filters on stored fields (mailboxes, dates, sizes, keywords, hasAttachment, the
 * parsed header fields) read only the records written at delivery; text conditions use the
 * full-text store as a prefilter and then check the rule on decoded text, and emails whose
 * indexing is still queued are scanned, so a query gives the same answer before and after
 * indexing. The common case (one mailbox sorted by receivedAt) walks a per-mailbox date
 * index and reads only the page it returns.
 *
 * Full-text indexing: delivery, APPEND and COPY write a queue entry in the transaction that
 * creates the email, destroying an email writes a removal entry; mailstore_index_run()
 * works the queue off in the background (a server worker calls it).
 *
 * Threading and ownership as mailstore.h: calls are thread-safe; arrays in results are
 * allocated from the caller's arena; the full-text store given to mailstore_set_fts() is
 * borrowed and must outlive the mail store.
 */
#ifndef STAUNCH_MAILSTORE_MAILSTORE_QUERY_H
#define STAUNCH_MAILSTORE_MAILSTORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailstore/mailstore.h"

/* Nesting of filter operators (deeper filters are refused). */
#define MAILSTORE_FILTER_DEPTH_MAX 16u
/* Sort comparators in one query. */
#define MAILSTORE_SORT_MAX 8u

/*
 * Use this full-text store for text conditions and for mailstore_index_run() (NULL: none;
 * text conditions then scan every candidate). Set once, before the mail store is shared.
 */
void mailstore_set_fts(struct mailstore *ms, struct store_fts *fts);

/* ------------------------------------------------------------------------------------ */
/* Filters (RFC 8621 §4.4.1, RFC 8620 §5.5 FilterOperator)                              */
/* ------------------------------------------------------------------------------------ */

enum mailstore_filter_op {
	MAILSTORE_FILTER_COND = 0, /* a FilterCondition: every property set must match */
	MAILSTORE_FILTER_AND,      /* every one of conditions[] */
	MAILSTORE_FILTER_OR,       /* at least one of conditions[] */
	MAILSTORE_FILTER_NOT,      /* none of conditions[] */
};

/* A tri-state property: absent, false, true. */
enum mailstore_tri {
	MAILSTORE_TRI_UNSET = 0,
	MAILSTORE_TRI_FALSE,
	MAILSTORE_TRI_TRUE,
};

struct mailstore_filter {
	enum mailstore_filter_op op;
	/* Operators: the operands (AND, OR, NOT). */
	const struct mailstore_filter *conditions;
	size_t nconditions;

	/* FilterCondition properties; an unset property does not constrain. */
	bool has_in_mailbox;
	uint64_t in_mailbox;
	/* inMailboxOtherThan: set when present (an empty list matches every email). */
	bool has_in_mailbox_other_than;
	const uint64_t *in_mailbox_other_than;
	size_t nin_mailbox_other_than;
	bool has_before, has_after; /* receivedAt < before, receivedAt >= after (seconds) */
	int64_t before, after;
	bool has_min_size, has_max_size; /* size >= min_size, size < max_size */
	uint64_t min_size, max_size;
	/* Keywords (NULL: unset); compared case-insensitively (RFC 8621 §4.1.1). */
	const char *all_in_thread_have_keyword;
	const char *some_in_thread_have_keyword;
	const char *none_in_thread_have_keyword;
	const char *has_keyword;
	const char *not_keyword;
	enum mailstore_tri has_attachment;
	/* Text (NULL: unset), matched by the rule of docs/mailstore.md §Text matching. */
	const char *text, *from, *to, *cc, *bcc, *subject, *body;
	/* header: name, and optionally a value looked for in the field (RFC 8621 §4.4.1). */
	const char *header_name;  /* NULL: unset */
	const char *header_value; /* NULL: the field only has to be present */
};

/* ------------------------------------------------------------------------------------ */
/* Sorting (RFC 8621 §4.4.2, RFC 8620 §5.5 Comparator)                                  */
/* ------------------------------------------------------------------------------------ */

enum mailstore_sort_prop {
	MAILSTORE_SORT_RECEIVED_AT = 0,
	MAILSTORE_SORT_SENT_AT,
	MAILSTORE_SORT_SIZE,
	MAILSTORE_SORT_FROM,
	MAILSTORE_SORT_TO,
	MAILSTORE_SORT_SUBJECT, /* RFC 5256 §2.1 base subject */
	MAILSTORE_SORT_HAS_KEYWORD,
	MAILSTORE_SORT_ALL_IN_THREAD_HAVE_KEYWORD,
	MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD,
};

/* RFC 4790 collations for the string sorts (RFC 8620 §5.5 "collation"). */
enum mailstore_collation {
	MAILSTORE_COLL_ASCII_CASEMAP = 0, /* i;ascii-casemap (default) */
	MAILSTORE_COLL_UNICODE_CASEMAP,   /* i;unicode-casemap (RFC 5051) */
	MAILSTORE_COLL_OCTET,             /* i;octet */
};

/* Parse a collation name (RFC 4790 registry name). CORE_ENOTFOUND if unsupported. */
int mailstore_collation_parse(const char *name, enum mailstore_collation *out);
/* Parse a sort property name ("receivedAt", ...). CORE_ENOTFOUND if unsupported. */
int mailstore_sort_prop_parse(const char *name, enum mailstore_sort_prop *out);

struct mailstore_sort {
	enum mailstore_sort_prop prop;
	bool ascending;
	const char *keyword; /* the keyword sorts (required there) */
	enum mailstore_collation collation;
};

/* ------------------------------------------------------------------------------------ */
/* Query                                                                                */
/* ------------------------------------------------------------------------------------ */

struct mailstore_query {
	const struct mailstore_filter *filter; /* NULL: every email */
	/* No comparator: receivedAt descending. Emails equal under every comparator are
	 * ordered by id, in the direction of the first comparator (stable). */
	const struct mailstore_sort *sort;
	size_t nsort;
	bool collapse_threads; /* RFC 8621 §4.4.3 */
	/* RFC 8620 §5.5: position (negative counts from the end), or an anchor with an
	 * offset; limit with has_limit (else every result from the position on). */
	int64_t position;
	bool has_anchor;
	uint64_t anchor;
	int64_t anchor_offset;
	bool has_limit;
	uint64_t limit;
};

struct mailstore_query_result {
	uint64_t query_state; /* the account's modseq the answer reflects */
	uint64_t position;    /* index of ids[0] in the whole result */
	uint64_t total;       /* size of the whole result */
	uint64_t *ids;        /* arena-owned */
	size_t nids;
};

/*
 * Email/query. Returns 0 with *out; CORE_ESYNTAX for an invalid filter or sort (RFC 8620
 * §5.5 invalidArguments / unsupportedFilter / unsupportedSort: err says which), CORE_ENOTFOUND
 * when the anchor is not in the result (anchorNotFound), CORE_ELIMIT past the filter depth.
 * A mailbox id that does not exist matches nothing.
 */
int mailstore_email_query(struct mailstore *ms, uint64_t account, const struct mailstore_query *q,
			  struct core_arena *a, struct mailstore_query_result *out,
			  struct core_error *err);

/*
 * Read many emails in one snapshot (JMAP Email/get, IMAP FETCH of a range): emails_out[i]
 * and parsed_out[i] (either may be NULL) for ids[i]; found_out[i] false for an id that does
 * not exist. Arrays are caller-provided with n entries; contents arena-owned.
 */
int mailstore_email_fetch(struct mailstore *ms, uint64_t account, const uint64_t *ids, size_t n,
			  struct core_arena *a, struct mailstore_email *emails_out,
			  struct mailstore_parsed *parsed_out, bool *found_out,
			  struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Text matching                                                                        */
/* ------------------------------------------------------------------------------------ */

/* The text of an email a search looks at. */
enum mailstore_text_field {
	MAILSTORE_TEXT_FROM = 0,
	MAILSTORE_TEXT_TO,
	MAILSTORE_TEXT_CC,
	MAILSTORE_TEXT_BCC,
	MAILSTORE_TEXT_SUBJECT,
	MAILSTORE_TEXT_BODY, /* text leaf parts (any subtype), decoded, HTML turned into text */
	MAILSTORE_TEXT_ALL,  /* every field above (JMAP text) */
	MAILSTORE_TEXT_IMAP, /* RFC 9051 §6.4.4 TEXT: every header field and the body */
	MAILSTORE_TEXT_COUNT,
};

/*
 * RFC 9051 §6.4.4 substring rule: true when needle occurs in hay ignoring case (Unicode full
 * case folding for valid UTF-8, ASCII case otherwise). An empty needle matches.
 */
bool mailstore_text_contains(const char *hay, size_t hlen, const char *needle, size_t nlen);

/*
 * IMAP SEARCH FROM/TO/CC/BCC/SUBJECT/BODY/TEXT on one email: the substring rule above on the
 * decoded text of the field (header fields in their decoded Text form, addresses as
 * "name <email>"; for MAILSTORE_TEXT_IMAP every header field as "Name: value", then the
 * body). *match_out gets the answer; CORE_ENOTFOUND for an email that does not exist.
 */
int mailstore_email_text_contains(struct mailstore *ms, uint64_t account, uint64_t id,
				  enum mailstore_text_field field, const char *needle,
				  bool *match_out, struct core_error *err);
/*
 * IMAP SEARCH HEADER name string (RFC 9051 §6.4.4): a field of that name (ASCII
 * case-insensitive) in the message's header whose decoded value holds needle; an empty
 * needle matches any field of that name. Only the header bytes are read.
 */
int mailstore_email_header_contains(struct mailstore *ms, uint64_t account, uint64_t id,
				    const char *name, const char *needle, bool *match_out,
				    struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Full-text indexing queue (mailstore_index.c)                                         */
/* ------------------------------------------------------------------------------------ */

/*
 * Work off up to budget queue entries (index a new email, remove a destroyed one) across
 * all accounts, in key order (account, then email id). Returns the number of entries done
 * (0: queue empty), or an error (entries not done stay queued). CORE_EPERM when no
 * full-text store is set.
 */
int mailstore_index_run(struct mailstore *ms, size_t budget, struct core_error *err);
/* Entries of one account still queued (for tests and monitoring). */
int mailstore_index_pending(struct mailstore *ms, uint64_t account, size_t *n_out,
			    struct core_error *err);

#endif
