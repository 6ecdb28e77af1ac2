/*
 * test_dir_password.c: password verification (src/directory/dir_password.c) against known
 * vectors of every scheme, malformed hashes, new argon2id hashes, SCRAM secrets (RFC 5802
 * §3), SASLprep (RFC 4013 §3 examples) and the dummy verification.
 *
 * Vector sources: argon2 from the reference implementation's tests (phc-winner-argon2);
 * bcrypt from OpenBSD/Openwall crypt_blowfish; sha512/sha256/md5-crypt made with
 * `openssl passwd -6/-5/-1`; DES crypt with Python's crypt module; yescrypt a published shadow
 * entry with its password; digest and PBKDF2 values made with Python's hashlib (PBKDF2 ones
 * include the RFC 6070 and the common PBKDF2-HMAC-SHA256 "password"/"salt" vectors); SCRAM
 * secrets with hashlib from the RFC 5802 §5 and RFC 7677 §3 example salts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "directory/dir_password.h"

struct pw_vec {
	const char *id;
	const char *stored;
	const char *pw;
	const char *scheme;
};

static const struct pw_vec vecs[] = {
	/* argon2 reference vectors (src/test.c of phc-winner-argon2) */
	{"argon2i-m256",
	 "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
	 "password", "argon2i"},
	{"argon2i-m256-p2",
	 "$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
	 "password", "argon2i"},
	{"argon2i-v16",
	 "$argon2i$m=65536,t=2,p=1$ZGlmZnNhbHQ$eaEDuQ/orvhXDLMfyLIiWXeJFvgza3vaw4kladTxxJc",
	 "password", "argon2i"},
	{"argon2id-m256",
	 "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	 "password", "argon2id"},
	{"argon2id-m256-p2",
	 "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
	 "password", "argon2id"},
	{"argon2id-m64M",
	 "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	 "password", "argon2id"},
	{"argon2id-braced",
	 "{ARGON2ID}$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
	 "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	 "password", "argon2id"},
	{"argon2-braced",
	 "{ARGON2}$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+"
	 "sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
	 "password", "argon2i"},
	/* bcrypt (crypt_blowfish test vectors) */
	{"bcrypt-2a", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U",
	 "bcrypt"},
	{"bcrypt-2a-b", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*",
	 "bcrypt"},
	{"bcrypt-2a-c", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U",
	 "bcrypt"},
	{"bcrypt-2a-empty", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", "",
	 "bcrypt"},
	{"bcrypt-2b-72", "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
	 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "bcrypt"},
	{"bcrypt-2y", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U",
	 "bcrypt"},
	{"bcrypt-blf", "{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	 "U*U", "bcrypt"},
	/* openssl passwd -6 / -5 / -1 */
	{"sha512-crypt",
	 "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	 "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	 "Hello world!", "sha512-crypt"},
	{"sha512-crypt-rounds",
	 "$6$rounds=5000$usesomesillystri$pgFPKUO2WODfHr9nxFz224lPao/"
	 "jweYE688dLcTCiOVSul16j.JDk3tVfMNE4Vof9x7ElWlwa3CC5zlr24tEv.",
	 "we have a short salt string but not a short password", "sha512-crypt"},
	{"sha512-crypt-braced",
	 "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	 "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	 "Hello world!", "sha512-crypt"},
	{"crypt-braced",
	 "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	 "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	 "Hello world!", "sha512-crypt"},
	{"sha256-crypt", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
	 "Hello world!", "sha256-crypt"},
	{"sha256-crypt-utf8", "$5$Kx9qT2bM$FWDjYQYGtAJCHvTQkm6qC1fzwysfp2kZNOkdVCC6dW3",
	 "p\xc3\xa4ssw\xc3\xb6rd", "sha256-crypt"},
	{"md5-crypt", "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1", "Hello world!", "md5-crypt"},
	{"md5-crypt-empty", "$1$a$8CfZSfErbeskipdhZHtvu.", "", "md5-crypt"},
	{"md5-crypt-dovecot", "{MD5}$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1", "Hello world!",
	 "md5-crypt"},
	{"md5-crypt-braced", "{MD5-CRYPT}$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1", "Hello world!",
	 "md5-crypt"},
	/* traditional DES crypt behind {CRYPT} (made with Python's crypt module) */
	{"crypt-des-braced", "{CRYPT}abgOeLfPimXQo", "test", "crypt"},
	/* yescrypt */
	{"yescrypt", "$y$j9T$Qeof7nTZR1kT1cFwdlZqd0$B5.LdYzAcE8IwmEjeOUR9RwIwpalyyj/oxaiDqnryZ/",
	 "WA7NERURoVlDegBUVyM1Kk", "yescrypt"},
	/* PBKDF2 */
	{"pbkdf2-sha1-rfc6070", "{PBKDF2}4096$c2FsdA==$SwB5AbdlSJq+rUnZJvch0GWkKcE=", "password",
	 "pbkdf2-sha1"},
	{"pbkdf2-sha256",
	 "{PBKDF2-SHA256}4096$c2FsdA==$xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=", "password",
	 "pbkdf2-sha256"},
	{"pbkdf2-sha512",
	 "{PBKDF2-SHA512}10000$AQIDBAUGBwgJCgsMDQ4PEA==$IQ7xQbyyOeI/"
	 "E5FUFTAm6Gjo3XJj4JyYJeXheOTmXgTXiMq1wf4cZeXXg5Zcsq2n00oU43Zk4i46AF746Z52aA==",
	 "secret", "pbkdf2-sha512"},
	{"passlib-pbkdf2-sha256",
	 "$pbkdf2-sha256$29000$AQIDBAUGBwgJCgsMDQ4PEA$Y44huKS63zDb0ckparjOGpy6ParmA.WrWScxigLcMvQ",
	 "secret", "pbkdf2-sha256"},
	{"passlib-pbkdf2", "$pbkdf2$1212$AQIDBAUGBwgJCgsMDQ4PEA$G6dmr5BnpfaOK/KftFCPRgAwxJY",
	 "secret", "pbkdf2-sha1"},
	{"passlib-pbkdf2-sha512",
	 "$pbkdf2-sha512$25000$AQIDBAUGBwgJCgsMDQ4PEA$bAjjpskAZzwpx5HpYVm7/"
	 "TA8P3s6fCVNWdGPMmiqr5UR29s/xk1AWJoSrDCvkfm3zWbwcphcVJthwzupWcV.vg",
	 "secret", "pbkdf2-sha512"},
	/* OpenLDAP / Dovecot digests */
	{"ssha", "{SSHA}6DuL+JqNT5NoDB3VIlNztYG6bQ2KHwJ8", "secret", "ssha"},
	{"ssha256", "{SSHA256}LI0s5wqzsrM0eCPFPczWF63a2b7XKOYj/WaIc6ruPmWKHwJ8", "secret",
	 "ssha256"},
	{"ssha512",
	 "{SSHA512}NpkIVKp1XiNxKlFakZq36Qczg+Lr1iKTLqmORINkdywkJXiSwS3kMFHoAmcbIcfOtgTGyFniHph1SD7+"
	 "ia6sTYofAnw=",
	 "secret", "ssha512"},
	{"sha", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", "sha"},
	{"sha-lower", "{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", "sha"},
	{"sha-hex", "{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", "secret", "sha"},
	{"sha256", "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret", "sha256"},
	{"sha512",
	 "{SHA512}"
	 "vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
	 "secret", "sha512"},
	{"md5", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret", "md5"},
	{"plain-md5-hex", "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", "secret", "md5"},
	{"smd5", "{SMD5}kJuLDk6G5x/DRTViifB4HIofAnw=", "secret", "smd5"},
	{"plain", "{PLAIN}secret", "secret", "plain"},
	{"cleartext", "{CLEARTEXT}s3cr3t with spaces", "s3cr3t with spaces", "plain"},
	{"plain-empty", "{PLAIN}", "", "plain"},
};

START_TEST(test_vectors_match)
{
	const struct pw_vec *v = &vecs[_i];
	struct core_error err;
	core_error_clear(&err);
	int r = dir_password_verify(v->stored, strlen(v->stored), v->pw, strlen(v->pw), &err);
	ck_assert_msg(r == 1, "%s: got %d (%s)", v->id, r, err.msg);
	const char *s = dir_password_scheme(v->stored, strlen(v->stored));
	ck_assert_msg(s != NULL && strcmp(s, v->scheme) == 0, "%s: scheme %s", v->id,
		      s != NULL ? s : "(null)");
}
END_TEST

START_TEST(test_vectors_mismatch)
{
	const struct pw_vec *v = &vecs[_i];
	struct core_error err;
	/* A wrong password: one byte changed, one appended, and the empty one. */
	char buf[256];
	size_t n = strlen(v->pw);
	ck_assert(n + 2 < sizeof(buf));
	memcpy(buf, v->pw, n);
	buf[n] = 'x';
	int r = dir_password_verify(v->stored, strlen(v->stored), buf, n + 1, &err);
	/* bcrypt uses only the first 72 bytes of a password: the 73rd cannot change it. */
	int want = (n >= 72 && strcmp(v->scheme, "bcrypt") == 0) ? 1 : 0;
	ck_assert_msg(r == want, "%s: appended byte: %d", v->id, r);
	if (n > 0) {
		buf[0] ^= 0x01;
		r = dir_password_verify(v->stored, strlen(v->stored), buf, n, &err);
		ck_assert_msg(r == 0, "%s: changed byte: %d", v->id, r);
		r = dir_password_verify(v->stored, strlen(v->stored), "", 0, &err);
		ck_assert_msg(r == 0, "%s: empty: %d", v->id, r);
	}
}
END_TEST

struct bad_vec {
	const char *stored;
	int want;
};

static const struct bad_vec bad[] = {
	{"", CORE_ESYNTAX},
	{"secret", CORE_ESYNTAX},
	{"{FOO}bar", CORE_ESYNTAX},
	{"{SSHA}!!!!", CORE_ESYNTAX},
	{"{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", CORE_ESYNTAX}, /* no salt */
	{"{SHA}AAAA", CORE_ESYNTAX},                          /* wrong length */
	{"{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05fz", CORE_ESYNTAX},
	{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ", CORE_ESYNTAX},
	{"$argon2id$v=18$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	 CORE_ESYNTAX},
	{"$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/"
	 "4",
	 CORE_ELIMIT},
	{"$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	 CORE_ELIMIT},
	{"$argon2id$v=19$m=256,t=99999999999,p=1$c29tZXNhbHQ$nf65EOgLrQMR", CORE_ELIMIT},
	{"$argon2id$v=19$m=256,t=2,p=1$c2FsdA$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	 CORE_ESYNTAX}, /* salt shorter than 8 bytes */
	{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$n", CORE_ESYNTAX},
	{"$argon2id$m=256;t=2;p=1$c29tZXNhbHQ$nf65EOgLrQMR", CORE_ESYNTAX},
	{"{PBKDF2}0$c2FsdA==$SwB5AbdlSJq+rUnZJvch0GWkKcE=", CORE_ELIMIT},
	{"{PBKDF2}99999999999$c2FsdA==$SwB5AbdlSJq+rUnZJvch0GWkKcE=", CORE_ELIMIT},
	{"{PBKDF2}4096$c2FsdA==", CORE_ESYNTAX},
	{"{PBKDF2}x$c2FsdA==$SwB5AbdlSJq+rUnZJvch0GWkKcE=", CORE_ESYNTAX},
	{"{PBKDF2-SHA256}4096$$xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o=", CORE_ESYNTAX},
	{"$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", CORE_ESYNTAX},
	{"$9$unknown$scheme", CORE_ESYNTAX},
	{"{CRYPT}", CORE_ESYNTAX},
	{"{CRYPT}*", CORE_ESYNTAX},
};

START_TEST(test_malformed)
{
	const struct bad_vec *b = &bad[_i];
	struct core_error err;
	core_error_clear(&err);
	int r = dir_password_verify(b->stored, strlen(b->stored), "password", 8, &err);
	ck_assert_msg(r == b->want, "%s: got %d want %d", b->stored, r, b->want);
	ck_assert_int_eq(err.code, b->want);
	ck_assert(err.msg[0] != '\0');
	/* The message never echoes the stored value. */
	ck_assert(strlen(b->stored) < 6 || strstr(err.msg, b->stored) == NULL);
}
END_TEST

START_TEST(test_limits_and_nul)
{
	struct core_error err;
	char *big = malloc(DIR_PW_MAX_PASSWORD + 2);
	memset(big, 'a', DIR_PW_MAX_PASSWORD + 1);
	const char *h = "{PLAIN}a";
	ck_assert_int_eq(dir_password_verify(h, strlen(h), big, DIR_PW_MAX_PASSWORD + 1, &err),
			 CORE_ELIMIT);
	ck_assert_int_eq(dir_password_verify(big, DIR_PW_MAX_STORED + 1, "a", 1, &err),
			 CORE_ELIMIT);
	free(big);
	/* A NUL inside the password never matches a crypt(3) hash of its prefix. */
	const char *md5c = "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1";
	ck_assert_int_eq(dir_password_verify(md5c, strlen(md5c), "Hello world!\0x", 14, &err), 0);
	/* ...but is compared as bytes by the digest schemes. */
	const char *pl = "{PLAIN}a";
	ck_assert_int_eq(dir_password_verify(pl, strlen(pl), "a\0", 2, &err), 0);
	ck_assert_int_eq(dir_password_verify(NULL, 0, "a", 1, &err), CORE_ESYNTAX);
}
END_TEST

static const struct dir_pw_policy small = {1, 256, 1, 4096};

START_TEST(test_hash_roundtrip)
{
	struct core_buf h = CORE_BUF_INIT, h2 = CORE_BUF_INIT;
	struct core_error err;
	ck_assert_int_eq(dir_password_hash(&small, "correct horse", 13, &h, &err), 0);
	ck_assert_msg(strncmp(h.p, "$argon2id$v=19$m=256,t=1,p=1$", 29) == 0, "%s", h.p);
	ck_assert_int_eq(dir_password_verify(h.p, h.len, "correct horse", 13, &err), 1);
	ck_assert_int_eq(dir_password_verify(h.p, h.len, "correct horsf", 13, &err), 0);
	/* Fresh salt each time. */
	ck_assert_int_eq(dir_password_hash(&small, "correct horse", 13, &h2, &err), 0);
	ck_assert(strcmp(h.p, h2.p) != 0);
	core_buf_fini(&h);
	core_buf_fini(&h2);
	/* The default policy is argon2id with RFC 9106 §4's second option. */
	struct dir_pw_policy d = DIR_PW_POLICY_DEFAULT;
	ck_assert_uint_eq(d.argon2_t_cost, 3);
	ck_assert_uint_eq(d.argon2_m_kib, 65536);
	ck_assert_uint_ge(d.scram_iterations, DIR_PW_MIN_SCRAM_ITER);
	struct dir_pw_policy silly = {0, 256, 1, 4096};
	ck_assert_int_eq(dir_password_hash(&silly, "x", 1, &h, &err), CORE_ELIMIT);
	core_buf_fini(&h);
}
END_TEST

/* Secrets derived from the RFC 5802 §5 and RFC 7677 §3 example salts and "pencil". */
static const char scram1_ref[] = "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+"
				 "CSWLOshSulAsxiupA+qs2/fTE=";
static const char scram256_ref[] =
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

START_TEST(test_scram_derive_reference)
{
	struct core_error err;
	struct core_buf salt = CORE_BUF_INIT, out = CORE_BUF_INIT;
	struct dir_scram_secret s;
	/* base64 "QSXCR+Q6sek8bf92" */
	static const unsigned char salt1[] = {0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a,
					      0xb1, 0xe9, 0x3c, 0x6d, 0xff, 0x76};
	ck_assert_int_eq(dir_scram_secret_derive(DIR_SCRAM_SHA1, "pencil", 6, salt1, sizeof(salt1),
						 4096, &s, &err),
			 0);
	dir_scram_secret_format(&s, &out);
	ck_assert_str_eq(core_buf_cstr(&out), scram1_ref);
	core_buf_reset(&out);
	static const unsigned char salt256[] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
						0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
	ck_assert_int_eq(dir_scram_secret_derive(DIR_SCRAM_SHA256, "pencil", 6, salt256,
						 sizeof(salt256), 4096, &s, &err),
			 0);
	dir_scram_secret_format(&s, &out);
	ck_assert_str_eq(core_buf_cstr(&out), scram256_ref);
	/* Parse gives back the same secret. */
	struct dir_scram_secret p;
	ck_assert_int_eq(dir_scram_secret_parse(out.p, out.len, &p, &err), 0);
	ck_assert_int_eq(p.hash, DIR_SCRAM_SHA256);
	ck_assert_uint_eq(p.iterations, 4096);
	ck_assert_uint_eq(p.salt_len, sizeof(salt256));
	ck_assert(memcmp(p.stored_key, s.stored_key, 32) == 0);
	ck_assert(memcmp(p.server_key, s.server_key, 32) == 0);
	core_buf_fini(&out);
	core_buf_fini(&salt);
}
END_TEST

START_TEST(test_scram_parse_bad)
{
	static const char *const badv[] = {
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		/* SHA-1 sized keys under SHA-256 */
		"SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+"
		"CSWLOshSulAsxiupA+qs2/fTE=",
		"SCRAM-SHA-1$0:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+"
		"qs2/fTE=",
		"SCRAM-SHA-1$4096:$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
		"SCRAM-MD5$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+"
		"qs2/fTE=",
		"SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+"
		"CSWLOshSulAsxiupA+qs2/fTE",
	};
	struct dir_scram_secret s;
	struct core_error err;
	for (size_t i = 0; i < CORE_NELEM(badv); i++) {
		int r = dir_scram_secret_parse(badv[i], strlen(badv[i]), &s, &err);
		ck_assert_msg(r < 0, "accepted %s", badv[i]);
	}
	ck_assert_int_eq(dir_scram_secret_parse(scram1_ref, strlen(scram1_ref), &s, &err), 0);
	ck_assert_int_eq(s.hash, DIR_SCRAM_SHA1);
	ck_assert_uint_eq(s.key_len, 20);
}
END_TEST

START_TEST(test_password_set)
{
	struct dir_pw_set set;
	struct core_error err;
	ck_assert_int_eq(dir_password_set(&small, "hunter2", 7, &set, &err), 0);
	ck_assert_int_eq(dir_password_verify(set.hash.p, set.hash.len, "hunter2", 7, &err), 1);
	ck_assert(strncmp(set.hash.p, "$argon2id$", 10) == 0);
	struct dir_scram_secret s1, s256, chk;
	ck_assert_int_eq(dir_scram_secret_parse(set.scram_sha1.p, set.scram_sha1.len, &s1, &err),
			 0);
	ck_assert_int_eq(
		dir_scram_secret_parse(set.scram_sha256.p, set.scram_sha256.len, &s256, &err), 0);
	ck_assert_int_eq(s1.hash, DIR_SCRAM_SHA1);
	ck_assert_int_eq(s256.hash, DIR_SCRAM_SHA256);
	ck_assert_uint_eq(s256.iterations, 4096);
	/* The stored secrets are those of the password: derive again with the stored salt. */
	ck_assert_int_eq(dir_scram_secret_derive(DIR_SCRAM_SHA256, "hunter2", 7, s256.salt,
						 s256.salt_len, s256.iterations, &chk, &err),
			 0);
	ck_assert(memcmp(chk.stored_key, s256.stored_key, 32) == 0);
	ck_assert(memcmp(chk.server_key, s256.server_key, 32) == 0);
	ck_assert_int_eq(dir_scram_secret_derive(DIR_SCRAM_SHA1, "hunter3", 7, s1.salt, s1.salt_len,
						 s1.iterations, &chk, &err),
			 0);
	ck_assert(memcmp(chk.stored_key, s1.stored_key, 20) != 0);
	dir_pw_set_fini(&set);
	ck_assert_ptr_null(set.hash.p);
	/* Iterations below the RFC minimum are raised to it. */
	struct dir_pw_policy low = {1, 256, 1, 10};
	ck_assert_int_eq(dir_password_set(&low, "x", 1, &set, &err), 0);
	ck_assert_int_eq(dir_scram_secret_parse(set.scram_sha1.p, set.scram_sha1.len, &s1, &err),
			 0);
	ck_assert_uint_eq(s1.iterations, DIR_PW_MIN_SCRAM_ITER);
	dir_pw_set_fini(&set);
}
END_TEST

struct prep_vec {
	const char *in, *out; /* out NULL: must be refused */
};

/* RFC 4013 §3 examples (the bidi one, #7, is not checked by this implementation). */
static const struct prep_vec preps[] = {
	{"I\xc2\xadX", "IX"},   /* SOFT HYPHEN mapped to nothing */
	{"user", "user"},       /* no transformation */
	{"USER", "USER"},       /* case preserved */
	{"\xc2\xaa", "a"},      /* FEMININE ORDINAL INDICATOR -> a (NFKC) */
	{"\xe2\x85\xa8", "IX"}, /* ROMAN NUMERAL NINE -> IX (NFKC) */
	{"\x07", NULL},         /* control character */
	{"a\xc2\xa0"
	 "b",
	 "a b"},                         /* NO-BREAK SPACE -> SPACE */
	{"\xee\x80\x80", NULL},          /* private use U+E000 */
	{"\xef\xbf\xbe", NULL},          /* non-character U+FFFE */
	{"\xe2\x80\x8e", NULL},          /* LEFT-TO-RIGHT MARK (C.8) */
	{"\xff", NULL},                  /* not UTF-8 */
	{"caf\xc3\xa9", "caf\xc3\xa9"},  /* already NFKC */
	{"cafe\xcc\x81", "caf\xc3\xa9"}, /* composed by NFKC */
};

START_TEST(test_saslprep)
{
	const struct prep_vec *v = &preps[_i];
	struct core_buf out = CORE_BUF_INIT;
	struct core_error err;
	int r = dir_password_saslprep(v->in, strlen(v->in), &out, &err);
	if (v->out == NULL) {
		ck_assert_msg(r == CORE_ESYNTAX, "case %d accepted", _i);
	} else {
		ck_assert_msg(r == 0, "case %d: %d", _i, r);
		ck_assert_str_eq(core_buf_cstr(&out), v->out);
	}
	core_buf_fini(&out);
}
END_TEST

START_TEST(test_fake_salt)
{
	unsigned char a[16], b[16], c[16], big[40];
	dir_password_fake_salt("alice", 5, a, sizeof(a));
	dir_password_fake_salt("alice", 5, b, sizeof(b));
	dir_password_fake_salt("alicf", 5, c, sizeof(c));
	ck_assert(memcmp(a, b, 16) == 0);
	ck_assert(memcmp(a, c, 16) != 0);
	dir_password_fake_salt("alice", 5, big, sizeof(big));
	ck_assert(memcmp(a, big, 16) == 0);
}
END_TEST

static Suite *pw_suite(void)
{
	Suite *s = suite_create("dir_password");
	TCase *tc = tcase_create("verify");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_vectors_match, 0, (int)CORE_NELEM(vecs));
	tcase_add_loop_test(tc, test_vectors_mismatch, 0, (int)CORE_NELEM(vecs));
	tcase_add_loop_test(tc, test_malformed, 0, (int)CORE_NELEM(bad));
	tcase_add_test(tc, test_limits_and_nul);
	suite_add_tcase(s, tc);
	TCase *tn = tcase_create("new");
	tcase_set_timeout(tn, 120);
	tcase_add_test(tn, test_hash_roundtrip);
	tcase_add_test(tn, test_scram_derive_reference);
	tcase_add_test(tn, test_scram_parse_bad);
	tcase_add_test(tn, test_password_set);
	tcase_add_loop_test(tn, test_saslprep, 0, (int)CORE_NELEM(preps));
	tcase_add_test(tn, test_fake_salt);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pw_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
