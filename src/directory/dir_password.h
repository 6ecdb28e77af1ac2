/*
 * dir_password.h: password hashes as real directories store them, new password hashes, the
 * SCRAM secrets derived when a password is set, and a dummy verification for unknown users.
 *
 * Schemes verified (docs/authentication.md lists the exact formats):
 *   PHC strings      $argon2id$, $argon2i$ (libargon2; v=16 and v=19)
 *   crypt(3)         $2a$ $2b$ $2y$ (bcrypt), $6$ (sha512-crypt), $5$ (sha256-crypt),
 *                    $1$ (md5-crypt), $y$ (yescrypt), $7$ (scrypt), $gy$: crypt_rn of libcrypt
 *                    (libxcrypt), never crypt()
 *   passlib PBKDF2   $pbkdf2$, $pbkdf2-sha256$, $pbkdf2-sha512$ (iterations$salt$hash in the
 *                    "adapted base64" alphabet)
 *   {SCHEME} values  as OpenLDAP and Dovecot store them: {SSHA} {SSHA256} {SSHA512} {SHA}
 *                    {SHA256} {SHA512} {MD5} {PLAIN-MD5} {SMD5} {CRYPT} {MD5-CRYPT}
 *                    {SHA256-CRYPT} {SHA512-CRYPT} {BLF-CRYPT} {PLAIN} {CLEARTEXT}
 *                    {ARGON2} {ARGON2I} {ARGON2ID} {PBKDF2} {PBKDF2-SHA1} {PBKDF2-SHA256}
 *                    {PBKDF2-SHA512}; digests in base64, or hex with a ".HEX" suffix
 *                    ({SHA.HEX}) or when the value is exactly the hex length of the digest.
 *
 * SCRAM secrets (RFC 5802 §3) are stored as one string per hash function:
 *   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *   SCRAM-SHA-1$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 * (the layout PostgreSQL uses for its scram-sha-256 verifiers).
 *
 * Timing: every comparison of secret material is constant-time (core_ct_memeq over equal
 * lengths; {PLAIN} values are compared through their SHA-256 digests so the length of the
 * stored password does not leak). dir_password_dummy_verify() costs what a real argon2id
 * verification with the same parameters costs, for unknown users.
 *
 * Ownership: inputs are borrowed for the call. Outputs go to caller-owned struct core_buf;
 * buffers that may hold secrets are to be released with core_buf_fini_wipe(). Scratch copies
 * of passwords and derived keys are wiped before return. Thread-safe: no global state except
 * the one-time random key of dir_password_fake_salt().
 */
#ifndef STAUNCH_DIRECTORY_DIR_PASSWORD_H
#define STAUNCH_DIRECTORY_DIR_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_buf.h"

struct core_error;

/* Parameters of new hashes and of the dummy verification. */
struct dir_pw_policy {
	uint32_t argon2_t_cost;    /* passes */
	uint32_t argon2_m_kib;     /* memory in KiB */
	uint32_t argon2_lanes;     /* parallelism */
	uint32_t scram_iterations; /* PBKDF2 iterations of new SCRAM secrets (>= 4096) */
};

/*
 * Defaults: argon2id t=3, m=64 MiB, p=4 (RFC 9106 §4, second recommended option) and 10000
 * SCRAM iterations (RFC 5802 §5.1 and RFC 7677 §4 ask for at least 4096).
 */
#define DIR_PW_POLICY_DEFAULT ((struct dir_pw_policy){3, 65536, 4, 10000})

/* Limits on stored hashes, so a hostile directory entry cannot make a login cost minutes. */
#define DIR_PW_MAX_STORED 1024u          /* bytes of a stored hash string */
#define DIR_PW_MAX_PASSWORD 4096u        /* bytes of a password to check */
#define DIR_PW_MAX_ARGON2_M_KIB 1048576u /* 1 GiB */
#define DIR_PW_MAX_ARGON2_T 64u
#define DIR_PW_MAX_ARGON2_LANES 64u
#define DIR_PW_MAX_PBKDF2_ITER 10000000u
#define DIR_PW_MIN_SCRAM_ITER 4096u /* RFC 5802 §5.1 */
#define DIR_PW_MAX_SCRAM_ITER 10000000u
#define DIR_PW_MAX_SALT 256u

/*
 * Verify pw[0..pw_len) against a stored hash string (one of the schemes above).
 * Returns 1 on a match, 0 on a mismatch, CORE_ESYNTAX for a malformed or unsupported stored
 * value (err says which; the message never holds the hash), CORE_ELIMIT for a password or
 * hash over the limits or cost parameters beyond them, CORE_EINTERNAL for a library failure.
 */
int dir_password_verify(const char *stored, size_t stored_len, const char *pw, size_t pw_len,
			struct core_error *err);

/* The scheme name dir_password_verify would use ("argon2id", "bcrypt", "ssha", ...), or NULL
 * when the stored value is not recognised. Static string. */
const char *dir_password_scheme(const char *stored, size_t stored_len);

/*
 * Verify pw against a representative hash and throw the result away, so that a login for an
 * unknown user costs the same as one for a known user (the caller then reports "invalid
 * credentials" either way). representative NULL: an argon2id hash with the policy's
 * parameters (policy NULL: DIR_PW_POLICY_DEFAULT), which is what new passwords get. A
 * directory whose entries hold another scheme passes one of its own hashes.
 */
void dir_password_dummy_verify(const struct dir_pw_policy *policy, const char *representative,
			       const char *pw, size_t pw_len);

/*
 * Hash a new password as an argon2id PHC string with a 16-byte random salt and a 32-byte
 * tag, appended to out. policy NULL: DIR_PW_POLICY_DEFAULT. Returns 0, CORE_ELIMIT or
 * CORE_EINTERNAL.
 */
int dir_password_hash(const struct dir_pw_policy *policy, const char *pw, size_t pw_len,
		      struct core_buf *out, struct core_error *err);

/* The SCRAM hash functions. */
enum dir_scram_hash {
	DIR_SCRAM_SHA1 = 0,
	DIR_SCRAM_SHA256 = 1,
};

#define DIR_SCRAM_MAX_DIGEST 32

/* Decoded SCRAM secrets of one account for one hash function (RFC 5802 §3). */
struct dir_scram_secret {
	enum dir_scram_hash hash;
	uint32_t iterations;
	size_t salt_len;
	unsigned char salt[DIR_PW_MAX_SALT];
	size_t key_len; /* 20 (SHA-1) or 32 (SHA-256) */
	unsigned char stored_key[DIR_SCRAM_MAX_DIGEST];
	unsigned char server_key[DIR_SCRAM_MAX_DIGEST];
};

/* Digest length of h (20 or 32). */
size_t dir_scram_digest_len(enum dir_scram_hash h);
/* "SCRAM-SHA-1" or "SCRAM-SHA-256". */
const char *dir_scram_hash_name(enum dir_scram_hash h);

/*
 * RFC 5802 §3: SaltedPassword = Hi(Normalize(password), salt, i), ClientKey = HMAC(
 * SaltedPassword, "Client Key"), StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword,
 * "Server Key"). Normalize is SASLprep (dir_password_saslprep). Returns 0, CORE_ESYNTAX
 * (password SASLprep rejects), CORE_ELIMIT (iterations or salt out of range) or
 * CORE_EINTERNAL.
 */
int dir_scram_secret_derive(enum dir_scram_hash h, const char *pw, size_t pw_len,
			    const unsigned char *salt, size_t salt_len, uint32_t iterations,
			    struct dir_scram_secret *out, struct core_error *err);

/* Append the stored-string form documented above. */
void dir_scram_secret_format(const struct dir_scram_secret *s, struct core_buf *out);
/* Parse the stored-string form. Returns 0 or CORE_ESYNTAX / CORE_ELIMIT. */
int dir_scram_secret_parse(const char *p, size_t len, struct dir_scram_secret *out,
			   struct core_error *err);

/* Everything stored when a password is set: caller releases with dir_pw_set_fini(). */
struct dir_pw_set {
	struct core_buf hash;         /* argon2id PHC string */
	struct core_buf scram_sha256; /* SCRAM-SHA-256$... */
	struct core_buf scram_sha1;   /* SCRAM-SHA-1$... */
};

/*
 * Derive the argon2id hash and both SCRAM secrets (fresh random salts) of a new password.
 * Returns 0 or an error as dir_password_hash / dir_scram_secret_derive.
 */
int dir_password_set(const struct dir_pw_policy *policy, const char *pw, size_t pw_len,
		     struct dir_pw_set *out, struct core_error *err);
void dir_pw_set_fini(struct dir_pw_set *s);

/*
 * SASLprep (RFC 4013, the stringprep profile SCRAM uses to normalise passwords, RFC 5802
 * §2.2): non-ASCII spaces become U+0020, "commonly mapped to nothing" characters go, NFKC,
 * then prohibited characters (controls, private use, non-characters, surrogates, tagging,
 * bidi controls) are refused. Unassigned code points are let through (the "query" rules) and
 * the bidi rules of RFC 3454 §6 are not checked. Printable US-ASCII is copied unchanged.
 * Appends to out; returns 0 or CORE_ESYNTAX.
 */
int dir_password_saslprep(const char *p, size_t len, struct core_buf *out, struct core_error *err);

/*
 * A salt of salt_len bytes that is stable for a name within this process and unpredictable
 * from outside (HMAC-SHA-256 under a random key made once), so a SCRAM exchange for an
 * unknown user looks like one for a known user.
 */
void dir_password_fake_salt(const char *name, size_t name_len, unsigned char *salt,
			    size_t salt_len);

/* Fill p with n bytes from the operating system's CSPRNG (aborts if it is unavailable). */
void dir_random_bytes(void *p, size_t n);

#endif
