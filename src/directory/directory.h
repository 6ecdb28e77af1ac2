/*
 * directory.h: who the users of a Staunch deployment are and where their mail goes.
 *
 * Principals are individuals (accounts that log in and own mail), groups (named sets of
 * principals, nested), mailing lists (an address that expands to member addresses) and
 * domains (a local mail domain with its aliases and catch-all). Every principal has a stable
 * id that never changes when it is renamed: a number for the internal directory, the
 * entryUUID / objectGUID of an LDAP entry, the primary key of a SQL row.
 *
 * Queries: authenticate (the struct sasl_backend of sasl.h is filled from a directory by
 * dir_sasl_init), resolve a recipient address (alias, subaddress "user+tag@",
 * mailing-list expansion, catch-all per domain; RFC 5233 describes subaddressing), whether a
 * domain is local, and a principal by id, name or address.
 *
 * Also here: brute-force protection (dir_bruteforce.c), the DNS records of a domain and its
 * DKIM keys (dir_dns.c, dir_dkim.c; RFC 6376, RFC 8463, RFC 6698) and the directory commands
 * of the CLI (dir_cli.c).
 *
 * Backends are vtables registered by name (dir_backend_register): "internal" (the data
 * store; fully managed: create, update, delete, passwords), "ldap" and "sql" (read-only:
 * Staunch never modifies an external directory). Only server/ chooses one from the
 * configuration (directory.type, docs/directory.md).
 *
 * Ownership: principals and results are allocated in a caller-supplied arena and live as
 * long as it does. Inputs are borrowed for the call. A struct dir is thread-safe (each
 * backend keeps per-thread or pooled handles); its callbacks may block, so protocol code
 * calls it from the worker pool.
 */
#ifndef STAUNCH_DIRECTORY_DIRECTORY_H
#define STAUNCH_DIRECTORY_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core_buf.h"
#include "core/core_str.h"
#include "directory/dir_password.h"
#include "directory/sasl.h"

struct core_arena;
struct core_conf;
struct core_error;
struct store_data;
struct store_lookup;

enum dir_type {
	DIR_INDIVIDUAL = 0,
	DIR_GROUP = 1,
	DIR_LIST = 2,
	DIR_DOMAIN = 3,
};

enum dir_role {
	DIR_ROLE_USER = 0,
	DIR_ROLE_ADMIN = 1,
};

/* Limits that keep a hostile or broken directory from costing unbounded work. */
#define DIR_NAME_MAX 255u      /* bytes of a name or address */
#define DIR_MAX_VALUES 1000u   /* aliases, members, app passwords of one principal */
#define DIR_EXPAND_MAX 10000u  /* recipients one resolution may produce */
#define DIR_NEST_MAX 32u       /* depth of nested groups and lists */
#define DIR_SUBADDR_SEP_MAX 8u /* characters in the subaddress separator set */

/* One application password: a label the user chose and the stored hash. */
struct dir_app_password {
	const char *label;
	const char *hash;
};

/*
 * A principal. All strings are arena-owned (or borrowed when passed in). Fields a type does
 * not use stay empty: members for individuals and domains, secrets for lists and domains.
 */
struct dir_principal {
	const char *id; /* stable id (see above); NULL on create */
	enum dir_type type;
	const char *name;        /* login name / group name / domain name (unique per type set) */
	const char *description; /* display name or free text, may be NULL */
	const char *address;     /* primary address, NULL for none (domains: none) */
	const char **aliases;    /* extra addresses; for a domain: its domain aliases */
	size_t n_aliases;
	const char **members; /* group: principal names; list: addresses (local or remote) */
	size_t n_members;
	const char *secret;       /* password hash (dir_password schemes), NULL for none */
	const char *scram_sha256; /* SCRAM-SHA-256$... (dir_password.h), NULL for none */
	const char *scram_sha1;
	struct dir_app_password *app_passwords;
	size_t n_app_passwords;
	uint64_t quota_bytes;    /* 0: no limit */
	uint64_t quota_messages; /* 0: no limit */
	enum dir_role role;
	bool disabled;
	const char *catch_all; /* domain: address that receives mail for unknown local parts */
	const char *ext;       /* backend reference (LDAP: the entry's DN), NULL for none */
};

/* ------------------------------------------------------------------------------------ */
/* Backends                                                                             */
/* ------------------------------------------------------------------------------------ */

/*
 * A directory backend. h is shared by all threads. Lookups return 0 with *out filled
 * (arena-allocated), CORE_ENOTFOUND, CORE_ETEMP (backend unreachable) or CORE_EIO.
 *   by_address:   an exact address (primary or alias) in canonical form (see
 *                 dir_address_normalize); a list, group or individual.
 *   domain:       the DIR_DOMAIN principal of a domain name or of one of its domain aliases
 *                 (name is then the canonical domain).
 *   member_of:    names of the groups and lists that directly contain principal p.
 *   bind_verify:  optional; checks a password by asking the backend itself (LDAP bind as
 *                 the user): 1 match, 0 mismatch. When NULL, p->secret is verified here.
 *   create/update/remove/set_password/app_password_*: optional management (NULL:
 *                 read-only, CORE_EPERM). list visits principals of a type in name order.
 */
struct dir_backend_ops {
	int (*open)(const struct core_conf *c, struct store_data *data, void **h_out,
		    struct core_error *err);
	void (*close)(void *h);
	unsigned caps; /* SASL_BACKEND_* bits of sasl.h */
	/* Optional: the SASL_BACKEND_* bits of this instance (overrides caps). */
	unsigned (*sasl_caps)(void *h);
	int (*by_id)(void *h, struct core_str id, struct core_arena *a, struct dir_principal **out,
		     struct core_error *err);
	int (*by_name)(void *h, struct core_str name, struct core_arena *a,
		       struct dir_principal **out, struct core_error *err);
	int (*by_address)(void *h, struct core_str addr, struct core_arena *a,
			  struct dir_principal **out, struct core_error *err);
	int (*domain)(void *h, struct core_str name, struct core_arena *a,
		      struct dir_principal **out, struct core_error *err);
	int (*member_of)(void *h, const struct dir_principal *p, struct core_arena *a,
			 const char ***names_out, size_t *n_out, struct core_error *err);
	int (*bind_verify)(void *h, const struct dir_principal *p, struct core_str password,
			   struct core_error *err);
	/*
	 * Optional: spend what a real check costs for an unknown user. Returns false when the
	 * backend has nothing to go by; the directory then runs its policy's Argon2id dummy.
	 */
	bool (*dummy_verify)(void *h, struct core_str password);
	int (*list)(void *h, enum dir_type type, struct core_arena *a,
		    int (*fn)(void *arg, const struct dir_principal *p), void *arg,
		    struct core_error *err);
	int (*create)(void *h, const struct dir_principal *p, struct core_arena *a,
		      const char **id_out, struct core_error *err);
	int (*update)(void *h, const struct dir_principal *p, struct core_error *err);
	int (*remove)(void *h, struct core_str id, struct core_error *err);
	int (*set_password)(void *h, struct core_str id, const struct dir_pw_set *pw,
			    struct core_error *err);
	int (*app_password_add)(void *h, struct core_str id, const char *label, const char *hash,
				struct core_error *err);
	int (*app_password_remove)(void *h, struct core_str id, const char *label,
				   struct core_error *err);
};

/* Register a backend (static name and table). Returns 0, CORE_ECONFLICT or CORE_ELIMIT. */
int dir_backend_register(const char *name, const struct dir_backend_ops *ops);
/* The backend registered under name (the built-in ones are registered first), or NULL. */
const struct dir_backend_ops *dir_backend_find(const char *name);

/* ------------------------------------------------------------------------------------ */
/* Opening a directory                                                                  */
/* ------------------------------------------------------------------------------------ */

struct dir;

/* Settings shared by every backend (directory.* keys, docs/directory.md). */
struct dir_settings {
	char subaddress_sep[DIR_SUBADDR_SEP_MAX + 1]; /* "" disables subaddressing; default "+" */
	bool catch_all;                               /* honour domain catch-alls (default on) */
	struct dir_pw_policy policy;                  /* hashes of new passwords */
};

#define DIR_SETTINGS_DEFAULT ((struct dir_settings){"+", true, DIR_PW_POLICY_DEFAULT})

/*
 * Open a directory with backend `type` ("internal", "ldap", "sql"). c may be NULL (defaults;
 * ldap and sql need their keys). data is the data store (borrowed, must outlive the
 * directory): the internal backend keeps principals there, every backend maps external ids
 * to numeric account ids there (dir_account_id). Caller frees with dir_free().
 */
int dir_open(const char *type, const struct core_conf *c, struct store_data *data, struct dir **out,
	     struct core_error *err);
/* Open from the configuration: directory.type and the settings keys. */
int dir_open_conf(const struct core_conf *c, struct store_data *data, struct dir **out,
		  struct core_error *err);
void dir_free(struct dir **d);
/* Replace the settings (tests, reload). */
void dir_settings_set(struct dir *d, const struct dir_settings *s);
const struct dir_settings *dir_settings_get(const struct dir *d);
/* Backend name (static). */
const char *dir_type_name(const struct dir *d);
/* Register the directory.* and auth.ban.* configuration keys. */
void dir_conf_register(void);

/* ------------------------------------------------------------------------------------ */
/* Queries                                                                              */
/* ------------------------------------------------------------------------------------ */

/*
 * Canonical form of an address: the domain lower-cased (RFC 5321 §2.4: domains are
 * case-insensitive) and, because Staunch treats local parts case-insensitively as every
 * deployed server does, the local part lower-cased too (ASCII only; UTF-8 is kept).
 * Returns the arena copy or NULL (CORE_ESYNTAX in err) when there is no '@', an empty part,
 * or more than DIR_NAME_MAX bytes.
 */
const char *dir_address_normalize(struct core_arena *a, struct core_str addr,
				  struct core_error *err);

int dir_principal_by_id(struct dir *d, struct core_str id, struct core_arena *a,
			struct dir_principal **out, struct core_error *err);
int dir_principal_by_name(struct dir *d, struct core_str name, struct core_arena *a,
			  struct dir_principal **out, struct core_error *err);
int dir_principal_by_address(struct dir *d, struct core_str addr, struct core_arena *a,
			     struct dir_principal **out, struct core_error *err);

/* The domain principal of a domain or of one of its domain aliases. */
int dir_domain_get(struct dir *d, struct core_str domain, struct core_arena *a,
		   struct dir_principal **out, struct core_error *err);
/* 1 when domain (or a domain alias of it) is local, 0 when not, or an error. */
int dir_is_local_domain(struct dir *d, struct core_str domain, struct core_error *err);

/*
 * The groups p belongs to, directly or through nested groups, each once (a membership cycle
 * ends the walk, it never loops). *names_out is arena-owned.
 */
int dir_member_of(struct dir *d, const struct dir_principal *p, struct core_arena *a,
		  const char ***names_out, size_t *n_out, struct core_error *err);

/* One place a resolved recipient goes. */
struct dir_target {
	const struct dir_principal *principal; /* local individual, NULL for a remote address */
	const char *address;                   /* the remote address when principal is NULL */
	const char *subaddress;                /* the "+tag" detail (RFC 5233), or NULL */
};

enum dir_rcpt_status {
	DIR_RCPT_LOCAL = 0,   /* local targets (and maybe remote ones from list expansion) */
	DIR_RCPT_REMOTE = 1,  /* the domain is not local: relay rules apply */
	DIR_RCPT_UNKNOWN = 2, /* a local domain without such a recipient: 550 5.1.1 */
};

struct dir_rcpt {
	enum dir_rcpt_status status;
	struct dir_target *targets; /* arena-owned, each individual once */
	size_t n_targets;
	const char *matched; /* how it matched: "address", "subaddress", "catch-all" */
};

/*
 * Resolve a recipient: the domain (through domain aliases) must be local; then the exact
 * address, else the address without its subaddress, else the domain's catch-all. A list or
 * group expands to its members, recursively, without loops or duplicates, at most
 * DIR_EXPAND_MAX targets (CORE_ELIMIT beyond). Disabled individuals are dropped from
 * expansions; a disabled individual addressed directly resolves as DIR_RCPT_UNKNOWN.
 */
int dir_resolve(struct dir *d, struct core_str addr, struct core_arena *a, struct dir_rcpt *out,
		struct core_error *err);

/* Brute-force protection (dir_bruteforce.c); NULL disables it. */
struct dir_bruteforce;

/* Facts of an authentication attempt. */
struct dir_auth_ctx {
	const char *remote_ip;     /* for brute-force accounting; may be NULL */
	struct dir_bruteforce *bf; /* may be NULL */
};

/*
 * Check a password for a login name (or an address). 1: match (*out the principal), 0:
 * wrong password or unknown user (both cost the same), CORE_EPERM: disabled account or
 * banned client (err says which), CORE_ETEMP: backend unavailable. The account password and
 * every app password are tried.
 */
int dir_authenticate(struct dir *d, const struct dir_auth_ctx *ctx, struct core_str name,
		     struct core_str password, struct core_arena *a, struct dir_principal **out,
		     struct core_error *err);

/*
 * The SASL side of a directory for one connection: be (pass &s->be to sasl_exchange_new)
 * has callbacks that use this directory: PLAIN and LOGIN through dir_authenticate, SCRAM
 * through the stored secrets (or derived from stored cleartext), authorization: an admin may
 * act as anyone, others only as themselves. Backends that check passwords themselves (LDAP
 * bind mode) offer no SCRAM. d must outlive s; ctx is copied (its strings are borrowed).
 */
struct dir_sasl {
	struct sasl_backend be;
	struct dir *d;
	struct dir_auth_ctx ctx;
};
void dir_sasl_init(struct dir_sasl *s, struct dir *d, const struct dir_auth_ctx *ctx);
/*
 * Report the end of an exchange to brute-force protection: a credentials or authorization
 * failure counts one failure for the client IP and authcid (the name the client gave, may be
 * NULL), a success forgets the account's failures. The callbacks only check bans, so every
 * mechanism (PLAIN, LOGIN, SCRAM, ...) counts the same, once per exchange.
 */
void dir_sasl_report(struct dir_sasl *s, const char *authcid, const struct sasl_result *res);

/*
 * The numeric account id of a principal (what the mail store keys accounts by): the
 * internal directory's own id; for LDAP and SQL a number allocated once per external id in
 * the data store and stable afterwards. Returns 0 or an error.
 */
int dir_account_id(struct dir *d, const struct dir_principal *p, uint64_t *id_out,
		   struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Management (internal directory; CORE_EPERM on read-only backends)                    */
/* ------------------------------------------------------------------------------------ */

/* A counter that grows with every principal created, updated or removed through d (not
 * with changes made elsewhere: another process, an LDAP or SQL server): a cache of
 * resolutions made through d is current while it has not moved. */
uint64_t dir_generation(struct dir *d);

/*
 * Create a principal. Names and addresses are normalized; every name, address and domain
 * alias must be unused (CORE_ECONFLICT otherwise); addresses must be in a local domain
 * (CORE_ENOTFOUND otherwise). *id_out (arena-owned) receives the new id.
 */
int dir_principal_create(struct dir *d, const struct dir_principal *p, struct core_arena *a,
			 const char **id_out, struct core_error *err);
/* Replace the principal p->id with p (same checks as create; secrets are kept when NULL). */
int dir_principal_update(struct dir *d, const struct dir_principal *p, struct core_error *err);
/* Delete a principal (and its memberships). */
int dir_principal_remove(struct dir *d, struct core_str id, struct core_error *err);
/* Set the password: stores argon2id and both SCRAM secrets (dir_password_set). */
int dir_password_change(struct dir *d, struct core_str id, struct core_str password,
			struct core_error *err);
/* Add an app password under a label (unique per principal); the hash is argon2id. */
int dir_app_password_add(struct dir *d, struct core_str id, const char *label,
			 struct core_str password, struct core_error *err);
int dir_app_password_remove(struct dir *d, struct core_str id, const char *label,
			    struct core_error *err);
/* Visit the principals of a type in name order. fn returns 0 to go on, else stops. */
int dir_principal_list(struct dir *d, enum dir_type type, struct core_arena *a,
		       int (*fn)(void *arg, const struct dir_principal *p), void *arg,
		       struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Brute-force protection (dir_bruteforce.c)                                            */
/* ------------------------------------------------------------------------------------ */

/*
 * Failed authentications are counted per client IP and per account in the lookup store
 * (counters with a window TTL); after max_ip (max_account) failures within the window the IP
 * (account) is banned for ban_ms. Addresses in the exempt list (IPs or CIDR prefixes) are
 * never counted nor banned. Bans and unbans are logged (auth.ban, auth.unban). An account
 * ban refuses every client; an IP ban refuses every account from that IP.
 */
struct dir_bf_settings {
	unsigned max_ip;           /* 0: no IP bans */
	unsigned max_account;      /* 0: no account bans */
	uint64_t window_ms;        /* failures older than this are forgotten */
	uint64_t ban_ms;           /* length of a ban */
	const char *const *exempt; /* borrowed during dir_bruteforce_new */
	size_t n_exempt;
};

/* l is borrowed and must outlive the object. CORE_ESYNTAX for a bad exempt entry. */
int dir_bruteforce_new(struct store_lookup *l, const struct dir_bf_settings *s,
		       struct dir_bruteforce **out, struct core_error *err);
/* From auth.ban.* keys (c may be NULL: defaults). */
int dir_bruteforce_new_conf(struct store_lookup *l, const struct core_conf *c,
			    struct dir_bruteforce **out, struct core_error *err);
void dir_bruteforce_free(struct dir_bruteforce **bf);
/* 0 when ip and account may try, CORE_EPERM when either is banned. NULLs are not checked. */
int dir_bruteforce_check(struct dir_bruteforce *bf, const char *ip, const char *account,
			 struct core_error *err);
/* Count a failure; returns 1 when it started a ban, 0 otherwise, or an error. */
int dir_bruteforce_failure(struct dir_bruteforce *bf, const char *ip, const char *account,
			   struct core_error *err);
/* A success forgets the account's failures (the IP's count stays). */
void dir_bruteforce_success(struct dir_bruteforce *bf, const char *ip, const char *account);
/* Lift a ban on an IP or an account now (logged). Returns 1 if there was one, else 0. */
int dir_bruteforce_unban(struct dir_bruteforce *bf, const char *ip, const char *account,
			 struct core_error *err);
/* Whether ip is in the exempt list. */
bool dir_bruteforce_exempt(const struct dir_bruteforce *bf, const char *ip);

/* ------------------------------------------------------------------------------------ */
/* DNS records of a domain and DKIM keys (dir_dns.c; docs/dns.md)                       */
/* ------------------------------------------------------------------------------------ */

enum dir_dkim_alg {
	DIR_DKIM_ED25519 = 0, /* RFC 8463 */
	DIR_DKIM_RSA = 1,     /* RFC 6376 §3.3, 2048-bit keys */
};

/* A DKIM public key to publish: selector and the p= value (base64). Borrowed. */
struct dir_dkim_pub {
	const char *selector;
	enum dir_dkim_alg alg;
	const char *p;
};

/* What the records are made from. Strings are borrowed; NULL fields take the defaults. */
struct dir_dns_input {
	const char *domain;   /* the mail domain (example.org) */
	const char *hostname; /* the server's name, MX target and SRV target (mail.example.org) */
	const struct dir_dkim_pub *dkim;
	size_t n_dkim;
	const char *cert_pem; /* the TLS certificate chain, leaf first (PEM); NULL: no TLSA */
	size_t cert_pem_len;
	bool pop3;                /* pop3 and pop3s SRV records */
	const char *report_to;    /* DMARC and TLS-RPT reports; default postmaster@domain */
	const char *dmarc_policy; /* none|quarantine|reject; default reject */
	uint32_t ttl;             /* default 3600 */
	uint64_t mta_sts_max_age; /* seconds; default 604800 (one week) */
};

/*
 * Append every record the domain needs, in zone-file form (one record a line, absolute
 * names, comments saying what each is for): MX, DKIM TXT per key, SPF for the host and the
 * domain, DMARC, MTA-STS CNAME and TXT with a policy id, TLS-RPT, SRV records (RFC 6186,
 * RFC 8314 §5.1, RFC 8620 §2.2), autoconfig and autodiscover CNAMEs, TLSA for port 25 (RFC
 * 6698, RFC 7671: 3 0 1, 3 0 2, 3 1 1, 3 1 2, and 2 x x for the issuer when there is a chain).
 * Pure: nothing is looked up. Returns 0, CORE_ESYNTAX (bad name or certificate).
 */
int dir_dns_records(const struct dir_dns_input *in, struct core_buf *out, struct core_error *err);

/* The MTA-STS policy file (RFC 8461 §3.2) for in, and its id (the value of id= in the TXT
 * record: the first 20 hex digits of the policy's SHA-256, so it changes with the policy). */
void dir_dns_mta_sts_policy(const struct dir_dns_input *in, struct core_buf *out);
void dir_dns_mta_sts_id(const struct dir_dns_input *in, char id_out[21]);

/*
 * Generate a DKIM key: the private key as PKCS#8 PEM (caller wipes with core_buf_fini_wipe)
 * and the p= value of its DNS record (RFC 6376 §3.6.1: base64 of the DER SubjectPublicKeyInfo
 * for RSA; RFC 8463 §4.2: base64 of the raw 32-byte key for Ed25519). CORE_EINTERNAL when
 * OpenSSL fails.
 */
int dir_dkim_keygen(enum dir_dkim_alg alg, struct core_buf *priv_pem_out, struct core_buf *p_out,
		    struct core_error *err);
/* The algorithm and p= value of a private key in PEM. CORE_ESYNTAX when it is not one. */
int dir_dkim_public(const char *priv_pem, size_t len, enum dir_dkim_alg *alg_out,
		    struct core_buf *p_out, struct core_error *err);

/*
 * DKIM private keys of a domain, kept in the data store under
 * "dir/k/<domain>" NUL "<selector>" (value: the PKCS#8 PEM). put replaces; remove_all drops every
 * key of a domain; list visits them in selector order (pem borrowed during the call).
 */
int dir_dkim_key_put(struct store_data *data, const char *domain, const char *selector,
		     const char *pem, size_t len, struct core_error *err);
int dir_dkim_key_list(struct store_data *data, const char *domain,
		      int (*fn)(void *arg, const char *selector, const char *pem, size_t len),
		      void *arg, struct core_error *err);
int dir_dkim_key_remove_all(struct store_data *data, const char *domain, struct core_error *err);

/* ------------------------------------------------------------------------------------ */
/* Command line (dir_cli.c): staunch domain|account|alias|group|list|dns                */
/* ------------------------------------------------------------------------------------ */

/* What the commands work on. Borrowed; out and errf receive results and diagnostics. */
struct dir_cli {
	struct dir *d;
	struct store_data *data; /* DKIM keys; may be NULL for commands that need none */
	FILE *out;
	FILE *errf;
	const char *hostname;      /* server.hostname, for `dns` (default mail.<domain>) */
	const char *cert_path;     /* the TLS certificate chain (PEM) for TLSA, or NULL */
	bool pop3;                 /* POP3 is enabled: `dns` prints its SRV records */
	const char *selector_date; /* YYYYMM of new DKIM selectors (NULL: now) */
};

/*
 * Run one command: argv[0] is the noun ("domain", "account", "alias", "group", "list",
 * "dns"), then its verb and arguments (docs/directory.md lists them). Prints results to
 * c->out and problems to c->errf. Returns 0, or a negative core_err (CORE_ESYNTAX for a
 * usage error).
 */
int dir_cli_run(const struct dir_cli *c, int argc, char **argv);
/* Usage text of the directory commands. */
void dir_cli_usage(FILE *f);

/* "individual", "group", "list", "domain"; parse returns the type or CORE_ESYNTAX. */
const char *dir_type_str(enum dir_type t);
int dir_type_parse(const char *s);

#endif
