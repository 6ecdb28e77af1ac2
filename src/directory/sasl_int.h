/*
 * sasl_int.h: private interface between the SASL framework (sasl.c) and the mechanism files
 * (sasl_<mech>.c). Not for use outside src/directory.
 */
#ifndef STAUNCH_DIRECTORY_SASL_INT_H
#define STAUNCH_DIRECTORY_SASL_INT_H

#include "core/core.h"
#include "directory/sasl.h"

/* Mechanism flags. */
#define SASL_MF_CLEARTEXT 0x1u /* sends a reusable secret: needs TLS unless allowed */
#define SASL_MF_PLUS 0x2u      /* channel binding: needs TLS and binding data */

struct sasl_mech {
	enum sasl_mech_id id;
	const char *name;
	unsigned flags;
	/* One step: in is NULL only on the first call without an initial response. Returns an
	 * enum sasl_status; on SASL_FAIL the mechanism has called sasl_fail_set(). */
	int (*step)(struct sasl_exchange *x, const unsigned char *in, size_t len,
		    struct core_buf *out);
};

struct sasl_exchange {
	const struct sasl_config *cfg;
	const struct sasl_backend *be;
	const struct sasl_conn_info *ci;
	const struct sasl_mech *mech;
	struct core_arena *arena; /* wiped on free */
	struct sasl_result res;
	unsigned steps;
	unsigned offered; /* mechanisms offered on this connection */
	int state;        /* mechanism-defined, starts at 0 */
	void *mstate;     /* mechanism state, arena-owned */
};

extern const struct sasl_mech sasl_mech_plain;
extern const struct sasl_mech sasl_mech_login;
extern const struct sasl_mech sasl_mech_scram_sha1;
extern const struct sasl_mech sasl_mech_scram_sha1_plus;
extern const struct sasl_mech sasl_mech_scram_sha256;
extern const struct sasl_mech sasl_mech_scram_sha256_plus;
extern const struct sasl_mech sasl_mech_oauthbearer;
extern const struct sasl_mech sasl_mech_xoauth2;
extern const struct sasl_mech sasl_mech_external;

/* Record a failure and return SASL_FAIL. reason is a static string or arena-owned. */
int sasl_fail_set(struct sasl_exchange *x, enum sasl_fail f, const char *rule, const char *reason);

/*
 * Map a backend callback's negative return to a failure (ENOTFOUND and a 0 result are
 * SASL_FAIL_CREDENTIALS, EPERM SASL_FAIL_DISABLED, ETEMP/EIO SASL_FAIL_TEMP) and return
 * SASL_FAIL.
 */
int sasl_fail_backend(struct sasl_exchange *x, int r, const struct core_error *err);

/*
 * Finish with success: check that principal p may act as authzid (empty: p->name), record
 * the outcome and return SASL_OK, or fail with SASL_FAIL_AUTHZ.
 */
int sasl_succeed(struct sasl_exchange *x, const struct sasl_principal *p, struct core_str authzid);

/* The channel binding data of type t on this connection, or false when unavailable. */
bool sasl_cb_data(const struct sasl_conn_info *ci, enum sasl_cb_type t, struct core_str *out);

/* True when the whole string is valid UTF-8 without NUL (RFC 4616 SAFE, RFC 5802 names). */
bool sasl_utf8_safe(const unsigned char *p, size_t len);

#endif
