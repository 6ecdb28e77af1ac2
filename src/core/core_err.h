/*
 * core_err.h: the error convention of every Staunch module (ARCHITECTURE.md §6).
 *
 * Functions return int: >= 0 is success (it may carry a count), a negative value is an
 * enum core_err. Feed functions return CORE_DONE, CORE_MORE or an error. Detail goes into a
 * caller-supplied struct core_error whose msg is safe to put in a protocol reply (it never
 * holds secrets, paths of private files or raw client bytes that are not printable).
 * Ownership: a core_error owns its text (copied into its buffer); no free needed.
 */
#ifndef STAUNCH_CORE_ERR_H
#define STAUNCH_CORE_ERR_H

#include <stddef.h>

enum core_err {
	CORE_OK = 0,
	CORE_ESYNTAX = -1,   /* input does not follow the grammar */
	CORE_ELIMIT = -2,    /* a configured or protocol limit was reached */
	CORE_ENOTFOUND = -3, /* the named thing does not exist */
	CORE_ECONFLICT = -4, /* optimistic concurrency or uniqueness conflict */
	CORE_ETEMP = -5,     /* temporary failure: retry later may succeed */
	CORE_EPERM = -6,     /* not allowed */
	CORE_EIO = -7,       /* I/O failure from the OS or a backend */
	CORE_EINTERNAL = -8, /* a bug or an impossible state */
};

/* Results of feed functions (resumable parsers). */
#define CORE_MORE 0
#define CORE_DONE 1

#define CORE_ERROR_MSG_MAX 256

struct core_error {
	int code;         /* enum core_err, CORE_OK when unset */
	const char *rule; /* the RFC rule or requirement id, static string or NULL */
	char msg[CORE_ERROR_MSG_MAX];
};

/* Clear an error to CORE_OK with an empty message. Accepts NULL. */
void core_error_clear(struct core_error *err);

/*
 * Record an error (printf-style message) and return code, so callers can write
 * `return core_error_set(err, CORE_ESYNTAX, "RFC 5322 §3.3", "bad date");`.
 * err may be NULL: then only code is returned.
 */
int core_error_set(struct core_error *err, int code, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Stable lower-case name of a code ("syntax", "limit", ...), for logs and tests. */
const char *core_err_name(int code);

#endif
