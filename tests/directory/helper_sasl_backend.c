/*
 * helper_sasl_backend.c: an in-memory struct sasl_backend for the SASL tests, holding the
 * users of the RFC examples:
 *   "user" / "pencil"             RFC 5802 §5 and RFC 7677 §3 (their salts, 4096 iterations)
 *   "tim" / "tanstaaftanstaaf"    RFC 4616 §4, first example
 *   "Kurt" / "xipj3plmq"          RFC 4616 §4, second example (may not act as "Ursel")
 *   "admin" / "adminpw"           may act as anyone
 *   "disabled" / "pw"             a disabled account
 * Bearer token "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==" (RFC 7628 §4.1) belongs to
 * "user@example.com"; the TLS "certificate" bytes "CERT-alice" map to "alice".
 */
#include <string.h>

#include "helper_sasl.h"

static const struct {
	const char *name, *pw, *scram1, *scram256;
} users[] = {
	{"user", "pencil",
	 "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/"
	 "fTE=",
	 "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
	 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="},
	{"tim", "tanstaaftanstaaf", NULL, NULL},
	{"Kurt", "xipj3plmq", NULL, NULL},
	{"admin", "adminpw", NULL, NULL},
	{"disabled", "pw", NULL, NULL},
};

const char test_sasl_token[] = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";

static int find_user(struct core_str name)
{
	for (size_t i = 0; i < CORE_NELEM(users); i++)
		if (core_str_eq_cstr(name, users[i].name))
			return (int)i;
	return -1;
}

static void set_principal(struct core_arena *a, const char *name, struct sasl_principal *out)
{
	out->id = core_arena_printf(a, "id-%s", name);
	out->name = core_arena_strdup(a, name);
}

static int tb_verify_plain(void *ctx, struct core_str authcid, struct core_str password,
			   struct core_arena *a, struct sasl_principal *out, struct core_error *err)
{
	struct test_backend *tb = ctx;
	tb->calls++;
	if (tb->fail_temp)
		return core_error_set(err, CORE_ETEMP, NULL, "backend down");
	int u = find_user(authcid);
	if (u < 0)
		return CORE_ENOTFOUND;
	char stored[128];
	snprintf(stored, sizeof(stored), "{PLAIN}%s", users[u].pw);
	int r = dir_password_verify(stored, strlen(stored), password.p, password.len, err);
	if (r == 1 && strcmp(users[u].name, "disabled") == 0)
		return CORE_EPERM;
	if (r == 1)
		set_principal(a, users[u].name, out);
	return r;
}

static int tb_scram_lookup(void *ctx, enum dir_scram_hash h, struct core_str authcid,
			   struct core_arena *a, struct dir_scram_secret *secret_out,
			   struct sasl_principal *out, struct core_error *err)
{
	struct test_backend *tb = ctx;
	tb->calls++;
	if (tb->fail_temp)
		return core_error_set(err, CORE_ETEMP, NULL, "backend down");
	int u = find_user(authcid);
	if (u < 0)
		return CORE_ENOTFOUND;
	const char *s = h == DIR_SCRAM_SHA1 ? users[u].scram1 : users[u].scram256;
	int r;
	if (s != NULL) {
		r = dir_scram_secret_parse(s, strlen(s), secret_out, err);
	} else {
		/* Derived from the cleartext, as a backend holding cleartext would. */
		static const unsigned char salt[12] = "fixed-salt!";
		r = dir_scram_secret_derive(h, users[u].pw, strlen(users[u].pw), salt, sizeof(salt),
					    4096, secret_out, err);
	}
	if (r < 0)
		return r;
	set_principal(a, users[u].name, out);
	return 0;
}

static int tb_verify_token(void *ctx, enum sasl_mech_id mech, struct core_str user,
			   struct core_str token, struct core_arena *a, struct sasl_principal *out,
			   const char **status_out, struct core_error *err)
{
	struct test_backend *tb = ctx;
	(void)mech;
	(void)user;
	tb->calls++;
	if (tb->fail_temp)
		return core_error_set(err, CORE_ETEMP, NULL, "backend down");
	if (!core_str_eq_cstr(token, test_sasl_token)) {
		*status_out = "invalid_token";
		return 0;
	}
	set_principal(a, "user@example.com", out);
	return 1;
}

static int tb_map_cert(void *ctx, const unsigned char *der, size_t len, struct core_arena *a,
		       struct sasl_principal *out, struct core_error *err)
{
	struct test_backend *tb = ctx;
	(void)err;
	tb->calls++;
	if (len == 10 && memcmp(der, "CERT-alice", 10) == 0) {
		set_principal(a, "alice", out);
		return 0;
	}
	return CORE_ENOTFOUND;
}

static int tb_authorize(void *ctx, const struct sasl_principal *p, struct core_str authzid,
			struct core_error *err)
{
	(void)ctx;
	(void)authzid;
	(void)err;
	return strcmp(p->name, "admin") == 0 ? 0 : CORE_EPERM;
}

void test_backend_init(struct test_backend *tb)
{
	memset(tb, 0, sizeof(*tb));
	tb->be.ctx = tb;
	tb->be.caps = SASL_BACKEND_SCRAM_SHA1 | SASL_BACKEND_SCRAM_SHA256;
	tb->be.verify_plain = tb_verify_plain;
	tb->be.scram_lookup = tb_scram_lookup;
	tb->be.verify_token = tb_verify_token;
	tb->be.map_cert = tb_map_cert;
	tb->be.authorize = tb_authorize;
}
