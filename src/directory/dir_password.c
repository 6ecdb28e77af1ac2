/*
 * dir_password.c: verification of stored password hashes, new argon2id hashes, SCRAM secret
 * derivation (RFC 5802 §3) and SASLprep (RFC 4013). See dir_password.h for the formats.
 */
#include "directory/dir_password.h"

#include <argon2.h>
#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/core_codec.h"
#include "core/core_utf8.h"

#define DIGEST_MAX 64

void dir_random_bytes(void *p, size_t n)
{
	if (n > 0 && RAND_bytes(p, (int)n) != 1)
		core_die("dir_random_bytes: no random source");
}

/* ---- small helpers ---- */

static bool has_prefix_ci(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);
	return len >= n && core_strncasecmp_ascii(s, pre, n) == 0;
}

/*
 * Decode base64 in either the standard alphabet or passlib's "adapted" one ('.' for '+'),
 * padding optional. Returns 0 or CORE_ESYNTAX.
 */
static int b64_decode_loose(const char *p, size_t len, struct core_buf *out)
{
	struct core_buf tmp = CORE_BUF_INIT;
	for (size_t i = 0; i < len; i++)
		core_buf_putc(&tmp, p[i] == '.' ? '+' : p[i]);
	if (tmp.len % 4 == 1) {
		core_buf_fini(&tmp);
		return CORE_ESYNTAX;
	}
	while (tmp.len % 4 != 0)
		core_buf_putc(&tmp, '=');
	int r = core_base64_decode(tmp.p, tmp.len, out, NULL);
	core_buf_fini(&tmp);
	return r;
}

static bool all_hex(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = core_ascii_lower(p[i]);
		if (!core_ascii_isdigit(c) && !(c >= 'a' && c <= 'f'))
			return false;
	}
	return true;
}

static const EVP_MD *scram_md(enum dir_scram_hash h)
{
	return h == DIR_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t dir_scram_digest_len(enum dir_scram_hash h)
{
	return h == DIR_SCRAM_SHA1 ? 20 : 32;
}

const char *dir_scram_hash_name(enum dir_scram_hash h)
{
	return h == DIR_SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

/* Digest of pw || salt. Returns the digest length or CORE_EINTERNAL. */
static int digest2(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
		   unsigned char out[DIGEST_MAX])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, alen) == 1 &&
		 (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		 EVP_DigestFinal_ex(ctx, out, &n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? (int)n : CORE_EINTERNAL;
}

/* ---- {SHA}, {SSHA}, {MD5}, {SMD5} and the SHA-2 variants ---- */

/*
 * Decode a digest value: base64 (salted: digest then salt), or hex when asked for or when the
 * value is exactly the hex length of an unsalted digest.
 */
static int verify_digest(const EVP_MD *md, bool salted, bool hex, const char *v, size_t vlen,
			 const char *pw, size_t pw_len, struct core_error *err)
{
	size_t dlen = (size_t)EVP_MD_get_size(md);
	struct core_buf raw = CORE_BUF_INIT;
	int r;
	if (!hex && !salted && vlen == 2 * dlen && all_hex(v, vlen))
		hex = true;
	if (hex)
		r = core_hex_decode(v, vlen, &raw, NULL);
	else
		r = core_base64_decode(v, vlen, &raw, NULL);
	if (r < 0 || raw.len < dlen || (!salted && raw.len != dlen) ||
	    (salted && (raw.len == dlen || raw.len - dlen > DIR_PW_MAX_SALT))) {
		core_buf_fini(&raw);
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed digest password value");
	}
	unsigned char d[DIGEST_MAX];
	r = digest2(md, pw, pw_len, raw.p + dlen, raw.len - dlen, d);
	if (r >= 0)
		r = core_ct_memeq(d, raw.p, dlen) ? 1 : 0;
	else
		core_error_set(err, r, NULL, "digest failed");
	core_wipe(d, sizeof(d));
	core_buf_fini(&raw);
	return r;
}

/* {PLAIN}: compare SHA-256 digests so that neither the length nor the content leaks. */
static int verify_plain(const char *v, size_t vlen, const char *pw, size_t pw_len,
			struct core_error *err)
{
	unsigned char a[DIGEST_MAX], b[DIGEST_MAX];
	int r1 = digest2(EVP_sha256(), v, vlen, NULL, 0, a);
	int r2 = digest2(EVP_sha256(), pw, pw_len, NULL, 0, b);
	int r = (r1 < 0 || r2 < 0) ? core_error_set(err, CORE_EINTERNAL, NULL, "digest failed")
				   : (core_ct_memeq(a, b, 32) ? 1 : 0);
	core_wipe(a, sizeof(a));
	core_wipe(b, sizeof(b));
	return r;
}

/* ---- crypt(3) through libxcrypt's crypt_rn ---- */

static int verify_crypt(const char *setting, size_t slen, const char *pw, size_t pw_len,
			struct core_error *err)
{
	if (slen == 0 || memchr(setting, '\0', slen) != NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed crypt value");
	/* A password with a NUL byte cannot be a crypt(3) phrase: it never matches. */
	if (memchr(pw, '\0', pw_len) != NULL)
		return 0;
	struct crypt_data *cd = core_xcalloc(1, sizeof(*cd));
	char *phrase = core_xstrndup(pw, pw_len);
	char *set = core_xstrndup(setting, slen);
	int r;
	const char *h = crypt_rn(phrase, set, cd, (int)sizeof(*cd));
	if (h == NULL || h[0] == '*') {
		r = core_error_set(err, CORE_ESYNTAX, NULL, "unsupported or malformed crypt hash");
	} else {
		size_t hl = strlen(h);
		/* Compare in constant time over the stored length; a length mismatch is a miss. */
		bool same = core_ct_memeq(h, set, hl < slen ? hl : slen);
		r = (same && hl == slen) ? 1 : 0;
	}
	core_wipe(phrase, pw_len);
	free(phrase);
	free(set);
	core_wipe(cd, sizeof(*cd));
	free(cd);
	return r;
}

static const char *crypt_scheme_name(const char *s, size_t len)
{
	static const struct {
		const char *pre, *name;
	} t[] = {
		{"$2a$", "bcrypt"},   {"$2b$", "bcrypt"},      {"$2y$", "bcrypt"},
		{"$2x$", "bcrypt"},   {"$6$", "sha512-crypt"}, {"$5$", "sha256-crypt"},
		{"$1$", "md5-crypt"}, {"$y$", "yescrypt"},     {"$gy$", "gost-yescrypt"},
		{"$7$", "scrypt"},
	};
	for (size_t i = 0; i < CORE_NELEM(t); i++)
		if (has_prefix_ci(s, len, t[i].pre) && strncmp(s, t[i].pre, strlen(t[i].pre)) == 0)
			return t[i].name;
	return NULL;
}

/* ---- argon2 PHC strings ---- */

static int parse_u32_field(const char **pp, const char *end, const char *key, uint32_t *out)
{
	size_t kl = strlen(key);
	const char *p = *pp;
	if ((size_t)(end - p) <= kl || memcmp(p, key, kl) != 0)
		return CORE_ESYNTAX;
	p += kl;
	uint64_t v = 0;
	const char *start = p;
	while (p < end && core_ascii_isdigit(*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return CORE_ELIMIT;
		p++;
	}
	if (p == start)
		return CORE_ESYNTAX;
	*out = (uint32_t)v;
	*pp = p;
	return 0;
}

/* "$argon2id$v=19$m=65536,t=2,p=1$<salt b64>$<tag b64>", base64 without padding. */
static int verify_argon2(const char *s, size_t len, const char *pw, size_t pw_len,
			 struct core_error *err)
{
	const char *end = s + len, *p = s;
	argon2_type type;
	if (has_prefix_ci(p, len, "$argon2id$")) {
		type = Argon2_id;
		p += 10;
	} else if (has_prefix_ci(p, len, "$argon2i$")) {
		type = Argon2_i;
		p += 9;
	} else if (has_prefix_ci(p, len, "$argon2d$")) {
		type = Argon2_d;
		p += 9;
	} else {
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed argon2 hash");
	}
	uint32_t ver = ARGON2_VERSION_10, m = 0, t = 0, lanes = 0;
	int r = 0;
	if (end - p > 2 && p[0] == 'v' && p[1] == '=') {
		r = parse_u32_field(&p, end, "v=", &ver);
		if (r == 0 && (p >= end || *p++ != '$'))
			r = CORE_ESYNTAX;
	}
	if (r == 0)
		r = parse_u32_field(&p, end, "m=", &m);
	if (r == 0 && (p >= end || *p++ != ','))
		r = CORE_ESYNTAX;
	if (r == 0)
		r = parse_u32_field(&p, end, "t=", &t);
	if (r == 0 && (p >= end || *p++ != ','))
		r = CORE_ESYNTAX;
	if (r == 0)
		r = parse_u32_field(&p, end, "p=", &lanes);
	if (r == 0 && (p >= end || *p++ != '$'))
		r = CORE_ESYNTAX;
	if (r < 0)
		return core_error_set(err, r, NULL, "malformed argon2 parameters");
	if (ver != ARGON2_VERSION_10 && ver != ARGON2_VERSION_13)
		return core_error_set(err, CORE_ESYNTAX, NULL, "unknown argon2 version");
	if (m > DIR_PW_MAX_ARGON2_M_KIB || t > DIR_PW_MAX_ARGON2_T ||
	    lanes > DIR_PW_MAX_ARGON2_LANES || t == 0 || lanes == 0 || m < 8 * lanes)
		return core_error_set(err, CORE_ELIMIT, NULL, "argon2 parameters out of range");
	const char *dollar = memchr(p, '$', (size_t)(end - p));
	if (dollar == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed argon2 hash");
	struct core_buf salt = CORE_BUF_INIT, tag = CORE_BUF_INIT;
	if (b64_decode_loose(p, (size_t)(dollar - p), &salt) < 0 ||
	    b64_decode_loose(dollar + 1, (size_t)(end - dollar - 1), &tag) < 0 ||
	    salt.len < ARGON2_MIN_SALT_LENGTH || salt.len > DIR_PW_MAX_SALT || tag.len < 4 ||
	    tag.len > DIGEST_MAX) {
		core_buf_fini(&salt);
		core_buf_fini(&tag);
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed argon2 salt or tag");
	}
	unsigned char out[DIGEST_MAX];
	int ar = argon2_hash(t, m, lanes, pw, pw_len, salt.p, salt.len, out, tag.len, NULL, 0, type,
			     (argon2_version)ver);
	if (ar != ARGON2_OK)
		r = core_error_set(
			err, ar == ARGON2_MEMORY_ALLOCATION_ERROR ? CORE_ETEMP : CORE_EINTERNAL,
			NULL, "argon2: %s", argon2_error_message(ar));
	else
		r = core_ct_memeq(out, tag.p, tag.len) ? 1 : 0;
	core_wipe(out, sizeof(out));
	core_buf_fini(&salt);
	core_buf_fini(&tag);
	return r;
}

/* ---- PBKDF2 ---- */

/* "iterations$salt$hash" with salt and hash in base64 (standard or adapted alphabet). */
static int verify_pbkdf2(const EVP_MD *md, const char *v, size_t vlen, const char *pw,
			 size_t pw_len, struct core_error *err)
{
	const char *end = v + vlen, *p = v;
	uint32_t iter = 0;
	int r = parse_u32_field(&p, end, "", &iter);
	if (r == CORE_ELIMIT)
		return core_error_set(err, CORE_ELIMIT, NULL, "PBKDF2 iterations out of range");
	if (r < 0 || p >= end || *p != '$')
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed PBKDF2 value");
	p++;
	if (iter == 0 || iter > DIR_PW_MAX_PBKDF2_ITER)
		return core_error_set(err, CORE_ELIMIT, NULL, "PBKDF2 iterations out of range");
	const char *dollar = memchr(p, '$', (size_t)(end - p));
	if (dollar == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed PBKDF2 value");
	struct core_buf salt = CORE_BUF_INIT, dk = CORE_BUF_INIT;
	if (b64_decode_loose(p, (size_t)(dollar - p), &salt) < 0 ||
	    b64_decode_loose(dollar + 1, (size_t)(end - dollar - 1), &dk) < 0 || salt.len == 0 ||
	    salt.len > DIR_PW_MAX_SALT || dk.len < 8 || dk.len > DIGEST_MAX) {
		core_buf_fini(&salt);
		core_buf_fini(&dk);
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed PBKDF2 salt or hash");
	}
	unsigned char out[DIGEST_MAX];
	if (PKCS5_PBKDF2_HMAC(pw, (int)pw_len, (const unsigned char *)salt.p, (int)salt.len,
			      (int)iter, md, (int)dk.len, out) != 1)
		r = core_error_set(err, CORE_EINTERNAL, NULL, "PBKDF2 failed");
	else
		r = core_ct_memeq(out, dk.p, dk.len) ? 1 : 0;
	core_wipe(out, sizeof(out));
	core_buf_fini(&salt);
	core_buf_fini(&dk);
	return r;
}

/* ---- {SCHEME} prefixes ---- */

enum braced_kind { B_DIGEST, B_SALTED, B_CRYPT, B_PLAIN, B_ARGON2, B_PBKDF2 };

struct braced {
	const char *name;
	enum braced_kind kind;
	const char *md;    /* OpenSSL digest name */
	const char *label; /* for dir_password_scheme */
};

static const struct braced braced_tab[] = {
	{"SSHA", B_SALTED, "SHA1", "ssha"},
	{"SSHA256", B_SALTED, "SHA256", "ssha256"},
	{"SSHA512", B_SALTED, "SHA512", "ssha512"},
	{"SHA", B_DIGEST, "SHA1", "sha"},
	{"SHA1", B_DIGEST, "SHA1", "sha"},
	{"SHA256", B_DIGEST, "SHA256", "sha256"},
	{"SHA512", B_DIGEST, "SHA512", "sha512"},
	{"MD5", B_DIGEST, "MD5", "md5"},
	{"PLAIN-MD5", B_DIGEST, "MD5", "md5"},
	{"LDAP-MD5", B_DIGEST, "MD5", "md5"},
	{"SMD5", B_SALTED, "MD5", "smd5"},
	{"CRYPT", B_CRYPT, NULL, "crypt"},
	{"MD5-CRYPT", B_CRYPT, NULL, "md5-crypt"},
	{"SHA256-CRYPT", B_CRYPT, NULL, "sha256-crypt"},
	{"SHA512-CRYPT", B_CRYPT, NULL, "sha512-crypt"},
	{"BLF-CRYPT", B_CRYPT, NULL, "bcrypt"},
	{"PLAIN", B_PLAIN, NULL, "plain"},
	{"CLEARTEXT", B_PLAIN, NULL, "plain"},
	{"CLEAR", B_PLAIN, NULL, "plain"},
	{"ARGON2", B_ARGON2, NULL, "argon2"},
	{"ARGON2I", B_ARGON2, NULL, "argon2i"},
	{"ARGON2ID", B_ARGON2, NULL, "argon2id"},
	{"PBKDF2", B_PBKDF2, "SHA1", "pbkdf2-sha1"},
	{"PBKDF2-SHA1", B_PBKDF2, "SHA1", "pbkdf2-sha1"},
	{"PBKDF2-SHA256", B_PBKDF2, "SHA256", "pbkdf2-sha256"},
	{"PBKDF2-SHA512", B_PBKDF2, "SHA512", "pbkdf2-sha512"},
};

/* Split "{NAME[.HEX|.B64]}value". Returns the table entry or NULL. */
static const struct braced *braced_lookup(const char *s, size_t len, bool *hex_out,
					  size_t *vstart_out)
{
	if (len < 3 || s[0] != '{')
		return NULL;
	const char *close = memchr(s, '}', len < 40 ? len : 40);
	if (close == NULL)
		return NULL;
	size_t nlen = (size_t)(close - s - 1);
	const char *name = s + 1;
	*hex_out = false;
	if (nlen > 4 && core_strncasecmp_ascii(name + nlen - 4, ".HEX", 4) == 0) {
		*hex_out = true;
		nlen -= 4;
	} else if (nlen > 4 && core_strncasecmp_ascii(name + nlen - 4, ".B64", 4) == 0) {
		nlen -= 4;
	}
	for (size_t i = 0; i < CORE_NELEM(braced_tab); i++) {
		if (strlen(braced_tab[i].name) == nlen &&
		    core_strncasecmp_ascii(name, braced_tab[i].name, nlen) == 0) {
			*vstart_out = (size_t)(close - s + 1);
			return &braced_tab[i];
		}
	}
	return NULL;
}

static const char *argon2_label(const char *s, size_t len)
{
	if (has_prefix_ci(s, len, "$argon2id$"))
		return "argon2id";
	if (has_prefix_ci(s, len, "$argon2i$"))
		return "argon2i";
	if (has_prefix_ci(s, len, "$argon2d$"))
		return "argon2d";
	return NULL;
}

static const char *pbkdf2_dollar(const char *s, size_t len, const EVP_MD **md_out, size_t *skip_out)
{
	static const struct {
		const char *pre, *md, *label;
	} t[] = {
		{"$pbkdf2-sha256$", "SHA256", "pbkdf2-sha256"},
		{"$pbkdf2-sha512$", "SHA512", "pbkdf2-sha512"},
		{"$pbkdf2$", "SHA1", "pbkdf2-sha1"},
	};
	for (size_t i = 0; i < CORE_NELEM(t); i++) {
		if (has_prefix_ci(s, len, t[i].pre)) {
			if (md_out != NULL)
				*md_out = EVP_get_digestbyname(t[i].md);
			if (skip_out != NULL)
				*skip_out = strlen(t[i].pre);
			return t[i].label;
		}
	}
	return NULL;
}

const char *dir_password_scheme(const char *stored, size_t len)
{
	bool hex;
	size_t vs;
	const struct braced *b = braced_lookup(stored, len, &hex, &vs);
	if (b != NULL) {
		/* Dovecot's {MD5} holds md5-crypt. */
		if (b->kind == B_DIGEST && has_prefix_ci(stored + vs, len - vs, "$1$"))
			return "md5-crypt";
		if (b->kind == B_CRYPT || b->kind == B_ARGON2) {
			const char *c = crypt_scheme_name(stored + vs, len - vs);
			if (c == NULL)
				c = argon2_label(stored + vs, len - vs);
			return c != NULL ? c : b->label;
		}
		return b->label;
	}
	const char *a = argon2_label(stored, len);
	if (a != NULL)
		return a;
	a = pbkdf2_dollar(stored, len, NULL, NULL);
	if (a != NULL)
		return a;
	return crypt_scheme_name(stored, len);
}

static int verify_dollar(const char *s, size_t len, const char *pw, size_t pw_len,
			 struct core_error *err)
{
	if (argon2_label(s, len) != NULL)
		return verify_argon2(s, len, pw, pw_len, err);
	const EVP_MD *md = NULL;
	size_t skip = 0;
	if (pbkdf2_dollar(s, len, &md, &skip) != NULL)
		return verify_pbkdf2(md, s + skip, len - skip, pw, pw_len, err);
	if (len > 0 && s[0] == '$')
		return verify_crypt(s, len, pw, pw_len, err);
	return CORE_ENOTFOUND;
}

int dir_password_verify(const char *stored, size_t stored_len, const char *pw, size_t pw_len,
			struct core_error *err)
{
	if (stored == NULL || pw == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no password or hash");
	if (stored_len > DIR_PW_MAX_STORED || pw_len > DIR_PW_MAX_PASSWORD)
		return core_error_set(err, CORE_ELIMIT, NULL, "password or hash too long");
	bool hex = false;
	size_t vs = 0;
	const struct braced *b = braced_lookup(stored, stored_len, &hex, &vs);
	if (b != NULL) {
		const char *v = stored + vs;
		size_t vlen = stored_len - vs;
		switch (b->kind) {
		case B_DIGEST:
			if (has_prefix_ci(v, vlen, "$1$"))
				return verify_crypt(v, vlen, pw, pw_len, err);
			return verify_digest(EVP_get_digestbyname(b->md), false, hex, v, vlen, pw,
					     pw_len, err);
		case B_SALTED:
			return verify_digest(EVP_get_digestbyname(b->md), true, hex, v, vlen, pw,
					     pw_len, err);
		case B_CRYPT:
			return verify_crypt(v, vlen, pw, pw_len, err);
		case B_PLAIN:
			return verify_plain(v, vlen, pw, pw_len, err);
		case B_ARGON2:
			return verify_argon2(v, vlen, pw, pw_len, err);
		case B_PBKDF2:
			return verify_pbkdf2(EVP_get_digestbyname(b->md), v, vlen, pw, pw_len, err);
		}
	}
	int r = verify_dollar(stored, stored_len, pw, pw_len, err);
	if (r == CORE_ENOTFOUND)
		return core_error_set(err, CORE_ESYNTAX, NULL, "unsupported password scheme");
	return r;
}

/* ---- new hashes ---- */

static const struct dir_pw_policy *policy_or_default(const struct dir_pw_policy *p,
						     struct dir_pw_policy *tmp)
{
	if (p != NULL)
		return p;
	*tmp = DIR_PW_POLICY_DEFAULT;
	return tmp;
}

void dir_password_dummy_verify(const struct dir_pw_policy *policy, const char *representative,
			       const char *pw, size_t pw_len)
{
	if (pw_len > DIR_PW_MAX_PASSWORD)
		pw_len = DIR_PW_MAX_PASSWORD;
	if (representative != NULL) {
		struct core_error e;
		(void)dir_password_verify(representative, strlen(representative), pw, pw_len, &e);
		return;
	}
	struct dir_pw_policy tmp;
	const struct dir_pw_policy *p = policy_or_default(policy, &tmp);
	/* Same work as verifying an argon2id hash made with this policy: one argon2id run with
	 * the same t, m, p, salt and tag lengths, and a comparison. */
	static const unsigned char salt[16] = "staunch-dummy-sa";
	unsigned char out[32], ref[32] = {0};
	int ar = argon2_hash(p->argon2_t_cost, p->argon2_m_kib, p->argon2_lanes, pw, pw_len, salt,
			     sizeof(salt), out, sizeof(out), NULL, 0, Argon2_id, ARGON2_VERSION_13);
	volatile bool sink = ar == ARGON2_OK && core_ct_memeq(out, ref, sizeof(out));
	(void)sink;
	core_wipe(out, sizeof(out));
}

int dir_password_hash(const struct dir_pw_policy *policy, const char *pw, size_t pw_len,
		      struct core_buf *out, struct core_error *err)
{
	struct dir_pw_policy tmp;
	const struct dir_pw_policy *p = policy_or_default(policy, &tmp);
	if (pw_len > DIR_PW_MAX_PASSWORD)
		return core_error_set(err, CORE_ELIMIT, NULL, "password too long");
	if (p->argon2_m_kib > DIR_PW_MAX_ARGON2_M_KIB || p->argon2_t_cost > DIR_PW_MAX_ARGON2_T ||
	    p->argon2_lanes > DIR_PW_MAX_ARGON2_LANES || p->argon2_t_cost == 0 ||
	    p->argon2_lanes == 0 || p->argon2_m_kib < 8 * p->argon2_lanes)
		return core_error_set(err, CORE_ELIMIT, NULL, "argon2 parameters out of range");
	unsigned char salt[16];
	dir_random_bytes(salt, sizeof(salt));
	size_t elen = argon2_encodedlen(p->argon2_t_cost, p->argon2_m_kib, p->argon2_lanes,
					sizeof(salt), 32, Argon2_id);
	char *enc = core_xmalloc(elen);
	int ar = argon2_hash(p->argon2_t_cost, p->argon2_m_kib, p->argon2_lanes, pw, pw_len, salt,
			     sizeof(salt), NULL, 32, enc, elen, Argon2_id, ARGON2_VERSION_13);
	int r = 0;
	if (ar != ARGON2_OK)
		r = core_error_set(
			err, ar == ARGON2_MEMORY_ALLOCATION_ERROR ? CORE_ETEMP : CORE_EINTERNAL,
			NULL, "argon2: %s", argon2_error_message(ar));
	else
		core_buf_append_str(out, enc);
	free(enc);
	return r;
}

/* ---- SCRAM secrets ---- */

int dir_scram_secret_derive(enum dir_scram_hash h, const char *pw, size_t pw_len,
			    const unsigned char *salt, size_t salt_len, uint32_t iterations,
			    struct dir_scram_secret *out, struct core_error *err)
{
	if (iterations < 1 || iterations > DIR_PW_MAX_SCRAM_ITER || salt_len == 0 ||
	    salt_len > DIR_PW_MAX_SALT || pw_len > DIR_PW_MAX_PASSWORD)
		return core_error_set(err, CORE_ELIMIT, "RFC 5802 §3",
				      "SCRAM parameters out of range");
	struct core_buf norm = CORE_BUF_INIT;
	int r = dir_password_saslprep(pw, pw_len, &norm, err);
	if (r < 0) {
		core_buf_fini_wipe(&norm);
		return r;
	}
	const EVP_MD *md = scram_md(h);
	size_t dl = dir_scram_digest_len(h);
	unsigned char salted[DIGEST_MAX], ckey[DIGEST_MAX], skey[DIGEST_MAX];
	unsigned int n = 0;
	memset(out, 0, sizeof(*out));
	out->hash = h;
	out->iterations = iterations;
	out->salt_len = salt_len;
	memcpy(out->salt, salt, salt_len);
	out->key_len = dl;
	/* RFC 5802 §2.2: Hi() is PBKDF2 with HMAC as the PRF and dkLen the digest length. */
	bool ok = PKCS5_PBKDF2_HMAC(norm.p != NULL ? norm.p : "", (int)norm.len, salt,
				    (int)salt_len, (int)iterations, md, (int)dl, salted) == 1;
	ok = ok && HMAC(md, salted, (int)dl, (const unsigned char *)"Client Key", 10, ckey, &n);
	ok = ok && digest2(md, ckey, dl, NULL, 0, skey) == (int)dl;
	if (ok)
		memcpy(out->stored_key, skey, dl);
	ok = ok && HMAC(md, salted, (int)dl, (const unsigned char *)"Server Key", 10,
			out->server_key, &n);
	core_wipe(salted, sizeof(salted));
	core_wipe(ckey, sizeof(ckey));
	core_wipe(skey, sizeof(skey));
	core_buf_fini_wipe(&norm);
	if (!ok)
		return core_error_set(err, CORE_EINTERNAL, NULL, "SCRAM key derivation failed");
	return 0;
}

void dir_scram_secret_format(const struct dir_scram_secret *s, struct core_buf *out)
{
	core_buf_printf(out, "%s$%u:", dir_scram_hash_name(s->hash), (unsigned)s->iterations);
	core_base64_encode(out, s->salt, s->salt_len);
	core_buf_putc(out, '$');
	core_base64_encode(out, s->stored_key, s->key_len);
	core_buf_putc(out, ':');
	core_base64_encode(out, s->server_key, s->key_len);
}

int dir_scram_secret_parse(const char *p, size_t len, struct dir_scram_secret *out,
			   struct core_error *err)
{
	const char *end = p + len;
	enum dir_scram_hash h;
	if (has_prefix_ci(p, len, "SCRAM-SHA-256$")) {
		h = DIR_SCRAM_SHA256;
		p += 14;
	} else if (has_prefix_ci(p, len, "SCRAM-SHA-1$")) {
		h = DIR_SCRAM_SHA1;
		p += 12;
	} else {
		return core_error_set(err, CORE_ESYNTAX, NULL, "not a SCRAM secret");
	}
	uint32_t iter = 0;
	int r = parse_u32_field(&p, end, "", &iter);
	if (r < 0 || p >= end || *p++ != ':')
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed SCRAM secret");
	if (iter < 1 || iter > DIR_PW_MAX_SCRAM_ITER)
		return core_error_set(err, CORE_ELIMIT, NULL, "SCRAM iterations out of range");
	const char *d1 = memchr(p, '$', (size_t)(end - p));
	const char *c2 = d1 != NULL ? memchr(d1, ':', (size_t)(end - d1)) : NULL;
	if (c2 == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "malformed SCRAM secret");
	struct core_buf salt = CORE_BUF_INIT, sk = CORE_BUF_INIT, vk = CORE_BUF_INIT;
	size_t dl = dir_scram_digest_len(h);
	r = 0;
	if (core_base64_decode(p, (size_t)(d1 - p), &salt, NULL) < 0 ||
	    core_base64_decode(d1 + 1, (size_t)(c2 - d1 - 1), &sk, NULL) < 0 ||
	    core_base64_decode(c2 + 1, (size_t)(end - c2 - 1), &vk, NULL) < 0 || salt.len == 0 ||
	    salt.len > DIR_PW_MAX_SALT || sk.len != dl || vk.len != dl) {
		r = core_error_set(err, CORE_ESYNTAX, NULL, "malformed SCRAM secret");
	} else {
		memset(out, 0, sizeof(*out));
		out->hash = h;
		out->iterations = iter;
		out->salt_len = salt.len;
		memcpy(out->salt, salt.p, salt.len);
		out->key_len = dl;
		memcpy(out->stored_key, sk.p, dl);
		memcpy(out->server_key, vk.p, dl);
	}
	core_buf_fini(&salt);
	core_buf_fini_wipe(&sk);
	core_buf_fini_wipe(&vk);
	return r;
}

int dir_password_set(const struct dir_pw_policy *policy, const char *pw, size_t pw_len,
		     struct dir_pw_set *out, struct core_error *err)
{
	struct dir_pw_policy tmp;
	const struct dir_pw_policy *p = policy_or_default(policy, &tmp);
	core_buf_init(&out->hash);
	core_buf_init(&out->scram_sha256);
	core_buf_init(&out->scram_sha1);
	uint32_t iter = p->scram_iterations < DIR_PW_MIN_SCRAM_ITER ? DIR_PW_MIN_SCRAM_ITER
								    : p->scram_iterations;
	int r = dir_password_hash(p, pw, pw_len, &out->hash, err);
	struct dir_scram_secret s;
	for (int h = DIR_SCRAM_SHA1; r == 0 && h <= DIR_SCRAM_SHA256; h++) {
		unsigned char salt[16];
		dir_random_bytes(salt, sizeof(salt));
		r = dir_scram_secret_derive((enum dir_scram_hash)h, pw, pw_len, salt, sizeof(salt),
					    iter, &s, err);
		if (r == 0)
			dir_scram_secret_format(&s, h == DIR_SCRAM_SHA1 ? &out->scram_sha1
									: &out->scram_sha256);
		core_wipe(&s, sizeof(s));
	}
	if (r < 0)
		dir_pw_set_fini(out);
	return r;
}

void dir_pw_set_fini(struct dir_pw_set *s)
{
	core_buf_fini_wipe(&s->hash);
	core_buf_fini_wipe(&s->scram_sha256);
	core_buf_fini_wipe(&s->scram_sha1);
}

/* ---- fake salts for unknown users ---- */

static unsigned char fake_key[32];
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_key_init(void)
{
	dir_random_bytes(fake_key, sizeof(fake_key));
}

void dir_password_fake_salt(const char *name, size_t name_len, unsigned char *salt, size_t salt_len)
{
	pthread_once(&fake_once, fake_key_init);
	unsigned char block[32];
	unsigned int n = 0;
	for (size_t off = 0, ctr = 0; off < salt_len; ctr++) {
		unsigned char msg[DIR_PW_MAX_STORED + 8];
		size_t ml = name_len > DIR_PW_MAX_STORED ? DIR_PW_MAX_STORED : name_len;
		memcpy(msg, name, ml);
		msg[ml] = (unsigned char)ctr;
		if (HMAC(EVP_sha256(), fake_key, sizeof(fake_key), msg, ml + 1, block, &n) == NULL)
			core_die("dir_password_fake_salt: HMAC failed");
		size_t take = salt_len - off < n ? salt_len - off : n;
		memcpy(salt + off, block, take);
		off += take;
	}
}

/* ---- SASLprep (RFC 4013) ---- */

/* RFC 3454 C.1.2: non-ASCII space characters, mapped to SPACE (RFC 4013 §2.1). */
static bool is_nonascii_space(uint32_t c)
{
	return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

/* RFC 3454 B.1: commonly mapped to nothing (RFC 4013 §2.1). */
static bool is_mapped_to_nothing(uint32_t c)
{
	return c == 0xAD || c == 0x34F || c == 0x1806 || (c >= 0x180B && c <= 0x180D) ||
	       (c >= 0x200B && c <= 0x200D) || c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) ||
	       c == 0xFEFF;
}

/* RFC 4013 §2.3: the prohibited tables C.1.2 to C.9 of RFC 3454. */
static bool is_prohibited(uint32_t c)
{
	if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)) /* C.2.1, C.2.2 */
		return true;
	if (is_nonascii_space(c)) /* C.1.2 (left after mapping only if NFKC made one) */
		return true;
	if (c == 0x6DD || c == 0x70F || c == 0x180E || (c >= 0x200C && c <= 0x200D) ||
	    (c >= 0x2028 && c <= 0x2029) || (c >= 0x2060 && c <= 0x2063) ||
	    (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) ||
	    (c >= 0x1D173 && c <= 0x1D17A)) /* C.2.2 */
		return true;
	if ((c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) ||
	    (c >= 0x100000 && c <= 0x10FFFD)) /* C.3 private use */
		return true;
	if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE) /* C.4 non-characters */
		return true;
	if (c >= 0xD800 && c <= 0xDFFF) /* C.5 */
		return true;
	if (c >= 0xFFF9 && c <= 0xFFFD) /* C.6 */
		return true;
	if (c >= 0x2FF0 && c <= 0x2FFB) /* C.7 */
		return true;
	if (c == 0x340 || c == 0x341 || c == 0x200E || c == 0x200F ||
	    (c >= 0x202A && c <= 0x202E)) /* C.8 */
		return true;
	if (c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F)) /* C.9 */
		return true;
	return false;
}

int dir_password_saslprep(const char *p, size_t len, struct core_buf *out, struct core_error *err)
{
	/* Printable US-ASCII maps to itself under every step of the profile. */
	if (core_utf8_is_ascii_print(p, len)) {
		core_buf_append(out, p, len);
		return 0;
	}
	if (!core_utf8_is_valid(p, len))
		return core_error_set(err, CORE_ESYNTAX, "RFC 4013 §2", "password is not UTF-8");
	struct core_buf mapped = CORE_BUF_INIT, norm = CORE_BUF_INIT;
	int r = 0;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		int n = core_utf8_decode(p + i, len - i, &c);
		if (n <= 0) {
			r = CORE_ESYNTAX;
			break;
		}
		i += (size_t)n;
		if (is_mapped_to_nothing(c))
			continue;
		if (is_nonascii_space(c))
			c = ' ';
		core_utf8_append(&mapped, c);
	}
	/* RFC 4013 §2.2: normalisation form KC. */
	if (r == 0)
		r = core_utf8_normalize(mapped.p != NULL ? mapped.p : "", mapped.len,
					CORE_UTF8_NFKC, &norm, NULL);
	for (size_t i = 0; r == 0 && i < norm.len;) {
		uint32_t c;
		int n = core_utf8_decode(norm.p + i, norm.len - i, &c);
		if (n <= 0 || is_prohibited(c))
			r = CORE_ESYNTAX;
		else
			i += (size_t)n;
	}
	if (r < 0)
		core_error_set(err, CORE_ESYNTAX, "RFC 4013 §2.3",
			       "password holds a prohibited character");
	else
		core_buf_append(out, norm.p, norm.len);
	core_buf_fini_wipe(&mapped);
	core_buf_fini_wipe(&norm);
	return r;
}
