/*
 * test_sasl_scram.c: SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants
 * (src/directory/sasl_scram.c): the full example exchanges of RFC 5802 §5 and RFC 7677 §3
 * with their fixed nonces, channel binding with tls-exporter (RFC 9266) and
 * tls-server-end-point (RFC 5929) computed by a small client in this file, and the failure
 * paths: bad proof, bad gs2 header, downgrade, channel-binding mismatch, nonce mismatch,
 * wrong authzid, unknown user, "m=" extension, garbage.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_codec.h"
#include "helper_sasl.h"

static struct test_backend tb;
static struct sasl_config cfg;
static struct sasl_conn_info ci;
static struct core_buf out;
static const char *fixed_nonce;
static enum sasl_fail last_fail;

static void nonce_fn(void *arg, struct core_buf *o)
{
	(void)arg;
	core_buf_append_str(o, fixed_nonce);
}

static void setup(void)
{
	test_backend_init(&tb);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nonce_fn = nonce_fn;
	memset(&ci, 0, sizeof(ci));
	core_buf_init(&out);
	fixed_nonce = "3rfcNHYJY1ZVvWVs7j";
}

static void teardown(void)
{
	core_buf_fini(&out);
}

static struct sasl_exchange *start(const char *mech)
{
	return sasl_exchange_new(&cfg, &tb.be, &ci, mech, strlen(mech));
}

static int step(struct sasl_exchange *x, const char *in)
{
	core_buf_reset(&out);
	return sasl_exchange_step(x, in, strlen(in), true, &out);
}

#define RES(x) sasl_exchange_result(x)

/* RFC 5802 §5: the SCRAM-SHA-1 example, line by line. */
static const char r5802_cfirst[] = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
static const char r5802_sfirst[] = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
				   "s=QSXCR+Q6sek8bf92,i=4096";
static const char r5802_cfinal[] = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
				   "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
static const char r5802_sfinal[] = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

/* RFC 7677 §3: the SCRAM-SHA-256 example. */
static const char r7677_nonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
static const char r7677_cfirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char r7677_sfirst[] = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
				   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char r7677_cfinal[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
				   "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char r7677_sfinal[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

START_TEST(test_rfc5802_example)
{
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	/* Client-first without initial response: an empty challenge first. */
	core_buf_reset(&out);
	ck_assert_int_eq(sasl_exchange_step(x, NULL, 0, false, &out), SASL_CONTINUE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), r5802_sfirst);
	/* The protocol cannot carry success data: server-final comes as a challenge. */
	ck_assert_int_eq(step(x, r5802_cfinal), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), r5802_sfinal);
	ck_assert_int_eq(step(x, ""), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "user");
	ck_assert_str_eq(RES(x)->principal.id, "id-user");
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_rfc7677_example)
{
	fixed_nonce = r7677_nonce;
	cfg.success_data = true;
	struct sasl_exchange *x = start("SCRAM-SHA-256");
	/* Initial response carries client-first. */
	ck_assert_int_eq(step(x, r7677_cfirst), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), r7677_sfirst);
	/* Success data allowed: server-final comes with the outcome. */
	ck_assert_int_eq(step(x, r7677_cfinal), SASL_OK);
	ck_assert_str_eq(core_buf_cstr(&out), r7677_sfinal);
	ck_assert_str_eq(RES(x)->authzid, "user");
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_ack_must_be_empty)
{
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
	ck_assert_int_eq(step(x, r5802_cfinal), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "x"), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	/* The principal chosen before the failure is not reported. */
	ck_assert_ptr_null(RES(x)->authzid);
	ck_assert_ptr_null(RES(x)->principal.name);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_bad_proof)
{
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
	char bad[sizeof(r5802_cfinal)];
	memcpy(bad, r5802_cfinal, sizeof(bad));
	bad[sizeof(bad) - 6] = bad[sizeof(bad) - 6] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(step(x, bad), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	ck_assert_str_eq(RES(x)->reason, "invalid-proof");
	ck_assert_uint_eq(out.len, 0);
	sasl_exchange_free(&x);
	/* A proof of the wrong length. */
	x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAA"),
			 SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_unknown_user)
{
	/* RFC 5802 §9: an unknown user gets a normal-looking server-first with a salt that is
	 * stable per name, then fails like a bad password. */
	struct sasl_exchange *x = start("SCRAM-SHA-256");
	ck_assert_int_eq(step(x, "n,,n=nobody,r=abcdef"), SASL_CONTINUE);
	char first[256];
	snprintf(first, sizeof(first), "%s", core_buf_cstr(&out));
	ck_assert(strncmp(first, "r=abcdef3rfcNHYJY1ZVvWVs7j,s=", 29) == 0);
	ck_assert(strstr(first, ",i=") != NULL);
	ck_assert_int_eq(step(x, "c=biws,r=abcdef3rfcNHYJY1ZVvWVs7j,"
				 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
			 SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	sasl_exchange_free(&x);
	x = start("SCRAM-SHA-256");
	ck_assert_int_eq(step(x, "n,,n=nobody,r=abcdef"), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), first);
	sasl_exchange_free(&x);
}
END_TEST

struct first_bad {
	const char *mech;
	const char *msg;
	enum sasl_fail want;
};

static const struct first_bad first_bads[] = {
	{"SCRAM-SHA-1", "", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,n=user,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "x,,n=user,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "N,,n=user,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,b=x,n=user,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,a=,n=user,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=us=er,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=us=2,r=abc", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=user", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=user,r=", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=user,r=a\x7f", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,r=abc,n=user", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=user,r=abc,1=x", SASL_FAIL_MALFORMED},
	{"SCRAM-SHA-1", "n,,n=u\xc3,r=abc", SASL_FAIL_MALFORMED},
	/* RFC 5802 §5.1: a user name that SASLprep refuses (a control character). */
	{"SCRAM-SHA-1",
	 "n,,n=us\x07"
	 "er,r=abc",
	 SASL_FAIL_MALFORMED},
	/* RFC 5802 §5.1: a mandatory extension we do not know fails the exchange. */
	{"SCRAM-SHA-1", "n,,m=ext,n=user,r=abc", SASL_FAIL_MALFORMED},
	/* RFC 5802 §6: binding asked for with a non-PLUS mechanism. */
	{"SCRAM-SHA-256", "p=tls-exporter,,n=user,r=abc", SASL_FAIL_CHANNEL_BINDING},
	/* -PLUS without binding. */
	{"SCRAM-SHA-256-PLUS", "n,,n=user,r=abc", SASL_FAIL_CHANNEL_BINDING},
	{"SCRAM-SHA-256-PLUS", "y,,n=user,r=abc", SASL_FAIL_CHANNEL_BINDING},
	{"SCRAM-SHA-256-PLUS", "p=tls-unique,,n=user,r=abc", SASL_FAIL_CHANNEL_BINDING},
	{"SCRAM-SHA-256-PLUS", "p=,,n=user,r=abc", SASL_FAIL_CHANNEL_BINDING},
};

START_TEST(test_first_failures)
{
	const struct first_bad *b = &first_bads[_i];
	static const unsigned char exp[32] = {9};
	ci.tls = true;
	ci.tls13 = true;
	ci.cb_exporter = exp;
	ci.cb_exporter_len = 32;
	struct sasl_exchange *x = start(b->mech);
	ck_assert_int_eq(step(x, b->msg), SASL_FAIL);
	ck_assert_msg(RES(x)->fail == b->want, "case %d (%s): %s", _i, b->msg,
		      sasl_fail_name(RES(x)->fail));
	ck_assert_uint_eq(out.len, 0);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_downgrade_y_flag)
{
	/* RFC 5802 §6: "y" while the server offers -PLUS is a downgrade attack. */
	static const unsigned char exp[32] = {9};
	ci.tls = true;
	ci.tls13 = true;
	ci.cb_exporter = exp;
	ci.cb_exporter_len = 32;
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, "y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CHANNEL_BINDING);
	sasl_exchange_free(&x);
	/* Without TLS there is no -PLUS, so "y" is fine; c= must then encode "y,,". */
	memset(&ci, 0, sizeof(ci));
	x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, "y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), SASL_CONTINUE);
	/* The RFC's c=biws is "n,,": a mismatch with the header sent. */
	ck_assert_int_eq(step(x, r5802_cfinal), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CHANNEL_BINDING);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_final_failures)
{
	static const char *const finals[] = {
		"",
		"c=biws",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+"
		"HI4Ts=",
		/* nonce mismatch */
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+"
		"HI4Ts=",
		/* client nonce only */
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		/* c= not base64 */
		"c=b!ws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+"
		"HI4Ts=",
		/* proof not base64 */
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,,p=v0X8v3Bz2T0CJGbJQyF0X+"
		"HI4Ts=",
	};
	for (size_t i = 0; i < CORE_NELEM(finals); i++) {
		struct sasl_exchange *x = start("SCRAM-SHA-1");
		ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
		ck_assert_int_eq(step(x, finals[i]), SASL_FAIL);
		ck_assert_msg(RES(x)->fail == SASL_FAIL_MALFORMED, "case %zu: %s", i,
			      sasl_fail_name(RES(x)->fail));
		sasl_exchange_free(&x);
	}
	/* c= for another gs2 header ("n,a=user,") */
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "c=bixhPXVzZXIs,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
				 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
			 SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CHANNEL_BINDING);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- a SCRAM client, to drive authzid and channel-binding exchanges ---- */

struct client {
	enum dir_scram_hash h;
	const char *pw;
	char gs2[128];
	const unsigned char *cb;
	size_t cb_len;
	char cfirst_bare[128];
	unsigned char server_sig[32];
};

/* Build client-final for server-first sf; proof from the password. */
static void client_final(struct client *c, const char *sf, struct core_buf *final)
{
	const EVP_MD *md = c->h == DIR_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
	size_t dl = dir_scram_digest_len(c->h);
	const char *s = strstr(sf, ",s=") + 3, *i = strstr(sf, ",i=") + 3;
	struct core_buf salt = CORE_BUF_INIT, cbind = CORE_BUF_INIT, am = CORE_BUF_INIT;
	ck_assert_int_eq(core_base64_decode(s, (size_t)(i - 3 - s), &salt, NULL), 0);
	int iter = atoi(i);
	unsigned char sp[32], ck[32], sk[32], cs[32], skey[32];
	unsigned int n;
	ck_assert(PKCS5_PBKDF2_HMAC(c->pw, (int)strlen(c->pw), (const unsigned char *)salt.p,
				    (int)salt.len, iter, md, (int)dl, sp) == 1);
	HMAC(md, sp, (int)dl, (const unsigned char *)"Client Key", 10, ck, &n);
	EVP_Digest(ck, dl, sk, &n, md, NULL);
	HMAC(md, sp, (int)dl, (const unsigned char *)"Server Key", 10, skey, &n);
	core_buf_append_str(&cbind, c->gs2);
	if (c->cb != NULL)
		core_buf_append(&cbind, c->cb, c->cb_len);
	const char *nonce = sf + 2;
	size_t nlen = (size_t)(strchr(sf, ',') - nonce);
	core_buf_append_str(final, "c=");
	core_base64_encode(final, cbind.p, cbind.len);
	core_buf_printf(final, ",r=%.*s", (int)nlen, nonce);
	core_buf_printf(&am, "%s,%s,%s", c->cfirst_bare, sf, core_buf_cstr(final));
	HMAC(md, sk, (int)dl, (const unsigned char *)am.p, am.len, cs, &n);
	for (size_t k = 0; k < dl; k++)
		cs[k] ^= ck[k];
	core_buf_append_str(final, ",p=");
	core_base64_encode(final, cs, dl);
	HMAC(md, skey, (int)dl, (const unsigned char *)am.p, am.len, c->server_sig, &n);
	core_buf_fini(&salt);
	core_buf_fini(&cbind);
	core_buf_fini(&am);
}

/* Run a whole exchange with ext appended to client-first-bare; returns the final status. */
static int run_client_ext(const char *mech, struct client *c, const char *user, const char *nonce,
			  const char *ext)
{
	struct sasl_exchange *x = start(mech);
	char first[256];
	snprintf(c->cfirst_bare, sizeof(c->cfirst_bare), "n=%s,r=%s%s", user, nonce, ext);
	snprintf(first, sizeof(first), "%s%s", c->gs2, c->cfirst_bare);
	int r = step(x, first);
	if (r == SASL_CONTINUE) {
		char sf[256];
		snprintf(sf, sizeof(sf), "%s", core_buf_cstr(&out));
		struct core_buf fin = CORE_BUF_INIT;
		client_final(c, sf, &fin);
		r = step(x, core_buf_cstr(&fin));
		core_buf_fini(&fin);
		if (r == SASL_CONTINUE) {
			/* server-final must carry the server signature */
			struct core_buf v = CORE_BUF_INIT;
			core_buf_append_str(&v, "v=");
			core_base64_encode(&v, c->server_sig, dir_scram_digest_len(c->h));
			ck_assert_str_eq(core_buf_cstr(&out), core_buf_cstr(&v));
			core_buf_fini(&v);
			r = step(x, "");
		}
	}
	if (r == SASL_OK)
		ck_assert_ptr_nonnull(RES(x)->authzid);
	last_fail = RES(x)->fail;
	sasl_exchange_free(&x);
	return r;
}

static int run_client(const char *mech, struct client *c, const char *user, const char *nonce)
{
	return run_client_ext(mech, c, user, nonce, "");
}

START_TEST(test_client_roundtrip_and_authzid)
{
	struct client c = {.h = DIR_SCRAM_SHA256, .pw = "pencil"};
	snprintf(c.gs2, sizeof(c.gs2), "n,,");
	ck_assert_int_eq(run_client("SCRAM-SHA-256", &c, "user", "clientnonce"), SASL_OK);
	c.pw = "pencil!";
	ck_assert_int_eq(run_client("SCRAM-SHA-256", &c, "user", "clientnonce"), SASL_FAIL);
	ck_assert_int_eq(last_fail, SASL_FAIL_CREDENTIALS);
	/* Secrets derived from cleartext by the backend (user "tim"). */
	c.pw = "tanstaaftanstaaf";
	c.h = DIR_SCRAM_SHA1;
	ck_assert_int_eq(run_client("SCRAM-SHA-1", &c, "tim", "n1"), SASL_OK);
	/* Wrong authzid: tim may not act as admin. */
	snprintf(c.gs2, sizeof(c.gs2), "n,a=admin,");
	ck_assert_int_eq(run_client("SCRAM-SHA-1", &c, "tim", "n1"), SASL_FAIL);
	ck_assert_int_eq(last_fail, SASL_FAIL_AUTHZ);
	/* admin may act as tim; names with ',' and '=' are escaped. */
	c.pw = "adminpw";
	snprintf(c.gs2, sizeof(c.gs2), "n,a=tim,");
	ck_assert_int_eq(run_client("SCRAM-SHA-1", &c, "admin", "n1"), SASL_OK);
	snprintf(c.gs2, sizeof(c.gs2), "n,a=t=2Ci=3Dm,");
	ck_assert_int_eq(run_client("SCRAM-SHA-1", &c, "admin", "n1"), SASL_OK);
	/* RFC 5802 §5.1: the name is looked up after SASLprep ("ad<SOFT HYPHEN>min" is
	 * "admin"), while the proof covers the name as sent. */
	snprintf(c.gs2, sizeof(c.gs2), "n,,");
	ck_assert_int_eq(run_client("SCRAM-SHA-1", &c, "ad\xc2\xadmin", "n1"), SASL_OK);
}
END_TEST

START_TEST(test_plus_exporter)
{
	static const unsigned char exp[32] = "0123456789abcdef0123456789abcdef";
	ci.tls = true;
	ci.tls13 = true;
	ci.cb_exporter = exp;
	ci.cb_exporter_len = 32;
	struct client c = {.h = DIR_SCRAM_SHA256, .pw = "pencil", .cb = exp, .cb_len = 32};
	snprintf(c.gs2, sizeof(c.gs2), "p=tls-exporter,,");
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "user", "cn"), SASL_OK);
	/* The client saw other binding data (a man in the middle): mismatch. */
	static const unsigned char other[32] = "X123456789abcdef0123456789abcdef";
	c.cb = other;
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "user", "cn"), SASL_FAIL);
	ck_assert_int_eq(last_fail, SASL_FAIL_CHANNEL_BINDING);
	/* Binding data left out of c=. */
	c.cb = NULL;
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "user", "cn"), SASL_FAIL);
	ck_assert_int_eq(last_fail, SASL_FAIL_CHANNEL_BINDING);
	/* SCRAM-SHA-1-PLUS too. */
	c.cb = exp;
	c.h = DIR_SCRAM_SHA1;
	ck_assert_int_eq(run_client("SCRAM-SHA-1-PLUS", &c, "user", "cn"), SASL_OK);
	/* RFC 9266: not on TLS 1.2. */
	ci.tls13 = false;
	static const unsigned char ep[32] = "endpoint-hash-0123456789abcdef01";
	ci.cb_endpoint = ep;
	ci.cb_endpoint_len = 32;
	c.h = DIR_SCRAM_SHA256;
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "user", "cn"), SASL_FAIL);
	ck_assert_int_eq(last_fail, SASL_FAIL_CHANNEL_BINDING);
}
END_TEST

START_TEST(test_plus_endpoint)
{
	static const unsigned char ep[32] = "endpoint-hash-0123456789abcdef01";
	ci.tls = true;
	ci.cb_endpoint = ep;
	ci.cb_endpoint_len = 32;
	struct client c = {.h = DIR_SCRAM_SHA256, .pw = "pencil", .cb = ep, .cb_len = 32};
	snprintf(c.gs2, sizeof(c.gs2), "p=tls-server-end-point,,");
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "user", "cn"), SASL_OK);
	/* With an authzid in the header, the header goes into c= as well. */
	c.pw = "adminpw";
	snprintf(c.gs2, sizeof(c.gs2), "p=tls-server-end-point,a=user,");
	ck_assert_int_eq(run_client("SCRAM-SHA-256-PLUS", &c, "admin", "cn"), SASL_OK);
}
END_TEST

START_TEST(test_temp_failure)
{
	tb.fail_temp = true;
	struct sasl_exchange *x = start("SCRAM-SHA-1");
	ck_assert_int_eq(step(x, r5802_cfirst), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TEMP);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_trickle_garbage_final)
{
	/* Every prefix of the RFC's client-final fails cleanly (never crashes). */
	for (size_t n = 0; n < sizeof(r5802_cfinal) - 1; n++) {
		struct sasl_exchange *x = start("SCRAM-SHA-1");
		ck_assert_int_eq(step(x, r5802_cfirst), SASL_CONTINUE);
		core_buf_reset(&out);
		int r = sasl_exchange_step(x, r5802_cfinal, n, true, &out);
		ck_assert_int_eq(r, SASL_FAIL);
		sasl_exchange_free(&x);
	}
}
END_TEST

START_TEST(test_optional_extension_ignored)
{
	/* RFC 5802 §5.1: unknown optional extensions are ignored (in both client messages);
	 * the proof then covers the messages as sent. */
	struct client c = {.h = DIR_SCRAM_SHA256, .pw = "pencil"};
	snprintf(c.gs2, sizeof(c.gs2), "n,,");
	ck_assert_int_eq(run_client_ext("SCRAM-SHA-256", &c, "user", "cn", ",x=future"), SASL_OK);
}
END_TEST

static Suite *scram_suite(void)
{
	Suite *s = suite_create("sasl_scram");
	TCase *tc = tcase_create("scram");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rfc5802_example);
	tcase_add_test(tc, test_rfc7677_example);
	tcase_add_test(tc, test_ack_must_be_empty);
	tcase_add_test(tc, test_optional_extension_ignored);
	tcase_add_test(tc, test_bad_proof);
	tcase_add_test(tc, test_unknown_user);
	tcase_add_loop_test(tc, test_first_failures, 0, (int)CORE_NELEM(first_bads));
	tcase_add_test(tc, test_downgrade_y_flag);
	tcase_add_test(tc, test_final_failures);
	tcase_add_test(tc, test_client_roundtrip_and_authzid);
	tcase_add_test(tc, test_plus_exporter);
	tcase_add_test(tc, test_plus_endpoint);
	tcase_add_test(tc, test_temp_failure);
	tcase_add_test(tc, test_trickle_garbage_final);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scram_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
