/*
 * test_sasl.c: the SASL framework (src/directory/sasl.c) and the PLAIN, LOGIN, OAUTHBEARER,
 * XOAUTH2 and EXTERNAL mechanisms: the RFC 4616 §4 and RFC 7628 §4 example exchanges,
 * failure paths, limits, cancel, the mechanism-offer rules and the wire helpers.
 * SCRAM is in test_sasl_scram.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_codec.h"
#include "helper_sasl.h"

static struct test_backend tb;
static struct sasl_config cfg;
static struct sasl_conn_info tls_ci, plain_ci;
static struct core_buf out;

static void setup(void)
{
	test_backend_init(&tb);
	memset(&cfg, 0, sizeof(cfg));
	memset(&tls_ci, 0, sizeof(tls_ci));
	tls_ci.tls = true;
	tls_ci.tls13 = true;
	memset(&plain_ci, 0, sizeof(plain_ci));
	core_buf_init(&out);
}

static void teardown(void)
{
	core_buf_fini(&out);
}

static struct sasl_exchange *start(const char *mech, const struct sasl_conn_info *ci)
{
	return sasl_exchange_new(&cfg, &tb.be, ci, mech, strlen(mech));
}

static int step(struct sasl_exchange *x, const char *in, size_t len)
{
	core_buf_reset(&out);
	return sasl_exchange_step(x, in, len, true, &out);
}

static int step_none(struct sasl_exchange *x)
{
	core_buf_reset(&out);
	return sasl_exchange_step(x, NULL, 0, false, &out);
}

/* Decode a base64 line as a protocol layer would and feed it. */
static int step_b64(struct sasl_exchange *x, const char *b64, bool initial)
{
	struct core_buf dec = CORE_BUF_INIT;
	struct core_error err;
	int r = sasl_wire_decode(b64, strlen(b64), initial, 0, &dec, &err);
	ck_assert_int_eq(r, 0);
	r = step(x, dec.p, dec.len);
	core_buf_fini(&dec);
	return r;
}

#define RES(x) sasl_exchange_result(x)

/* ---- offer rules ---- */

START_TEST(test_offer_insecure)
{
	struct core_buf l = CORE_BUF_INIT;
	/* RFC 4616 §5, RFC 7628 §5: no cleartext mechanisms without TLS. */
	unsigned bits = sasl_mechs_offered(&cfg, &tb.be, &plain_ci, &l);
	ck_assert_str_eq(core_buf_cstr(&l), "SCRAM-SHA-256 SCRAM-SHA-1");
	ck_assert_uint_eq(bits, SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256) |
					SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1));
	core_buf_reset(&l);
	cfg.allow_cleartext_insecure = true;
	sasl_mechs_offered(&cfg, &tb.be, &plain_ci, &l);
	ck_assert_str_eq(core_buf_cstr(&l),
			 "SCRAM-SHA-256 SCRAM-SHA-1 OAUTHBEARER XOAUTH2 PLAIN LOGIN");
	core_buf_fini(&l);
}
END_TEST

START_TEST(test_offer_tls)
{
	struct core_buf l = CORE_BUF_INIT;
	static const unsigned char exp[32] = {1}, ep[32] = {2};
	/* TLS 1.3 with exporter data: -PLUS offered. */
	tls_ci.cb_exporter = exp;
	tls_ci.cb_exporter_len = 32;
	sasl_mechs_offered(&cfg, &tb.be, &tls_ci, &l);
	ck_assert_str_eq(core_buf_cstr(&l), "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS "
					    "SCRAM-SHA-1 OAUTHBEARER XOAUTH2 PLAIN LOGIN");
	/* RFC 9266: tls-exporter only on TLS 1.3; TLS 1.2 without an end-point hash: no -PLUS. */
	tls_ci.tls13 = false;
	unsigned bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(!(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256_PLUS)));
	ck_assert(bits & SASL_MECH_BIT(SASL_MECH_PLAIN));
	/* TLS 1.2 with tls-server-end-point: -PLUS again. */
	tls_ci.cb_endpoint = ep;
	tls_ci.cb_endpoint_len = 32;
	bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256_PLUS));
	/* A client certificate adds EXTERNAL, listed first. */
	tls_ci.client_cert = (const unsigned char *)"CERT-alice";
	tls_ci.client_cert_len = 10;
	core_buf_reset(&l);
	sasl_mechs_offered(&cfg, &tb.be, &tls_ci, &l);
	ck_assert(strncmp(core_buf_cstr(&l), "EXTERNAL ", 9) == 0);
	/* Channel binding data on a connection that is not TLS is ignored. */
	plain_ci.cb_endpoint = ep;
	plain_ci.cb_endpoint_len = 32;
	bits = sasl_mechs_offered(&cfg, &tb.be, &plain_ci, NULL);
	ck_assert(!(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256_PLUS)));
	core_buf_fini(&l);
}
END_TEST

START_TEST(test_offer_backend_caps)
{
	/* No SCRAM secrets and no cleartext: no SCRAM. */
	tb.be.caps = 0;
	unsigned bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(!(bits & (SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1) |
			    SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256))));
	/* Cleartext stored: both SCRAMs can be served. */
	tb.be.caps = SASL_BACKEND_CLEARTEXT_STORED;
	bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1));
	ck_assert(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256));
	/* Only SHA-256 secrets. */
	tb.be.caps = SASL_BACKEND_SCRAM_SHA256;
	bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(!(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1)));
	ck_assert(bits & SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256));
	/* No token verifier: no OAuth mechanisms. */
	tb.be.verify_token = NULL;
	bits = sasl_mechs_offered(&cfg, &tb.be, &tls_ci, NULL);
	ck_assert(!(bits & SASL_MECH_BIT(SASL_MECH_OAUTHBEARER)));
	ck_assert(!(bits & SASL_MECH_BIT(SASL_MECH_XOAUTH2)));
	/* The configuration narrows the list. */
	cfg.mechs_enabled = SASL_MECH_BIT(SASL_MECH_PLAIN);
	struct core_buf l = CORE_BUF_INIT;
	sasl_mechs_offered(&cfg, &tb.be, &tls_ci, &l);
	ck_assert_str_eq(core_buf_cstr(&l), "PLAIN");
	core_buf_fini(&l);
}
END_TEST

START_TEST(test_start_refused)
{
	struct sasl_exchange *x = start("PLAIN", &plain_ci);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_ENCRYPT_NEEDED);
	ck_assert_uint_eq(tb.calls, 0);
	sasl_exchange_free(&x);
	ck_assert_ptr_null(x);
	x = start("CRAM-MD5", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MECH_UNKNOWN);
	sasl_exchange_free(&x);
	x = start("SCRAM-SHA-256-PLUS", &plain_ci);
	ck_assert_int_eq(step_none(x), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MECH_UNKNOWN);
	sasl_exchange_free(&x);
	x = start("EXTERNAL", &tls_ci); /* no client certificate */
	ck_assert_int_eq(step(x, "", 0), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MECH_UNKNOWN);
	sasl_exchange_free(&x);
	/* Names are case-insensitive. */
	ck_assert_int_eq(sasl_mech_lookup("plain", 5), SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_mech_lookup("Scram-Sha-256-Plus", 18), SASL_MECH_SCRAM_SHA_256_PLUS);
	ck_assert_int_eq(sasl_mech_lookup("", 0), CORE_ENOTFOUND);
	ck_assert_int_eq(sasl_mech_lookup("PLAINPLAINPLAINPLAINPLAIN", 25), CORE_ENOTFOUND);
	sasl_exchange_free(&x); /* NULL is fine */
	/* No configuration, backend or connection facts: nothing is offered or usable. */
	ck_assert_uint_eq(sasl_mechs_offered(NULL, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(sasl_mechs_offered(&cfg, &tb.be, NULL, NULL),
			  SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256) |
				  SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1));
	x = sasl_exchange_new(NULL, NULL, NULL, "PLAIN", 5);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_ENCRYPT_NEEDED);
	sasl_exchange_free(&x);
	x = sasl_exchange_new(&cfg, &tb.be, NULL, "OAUTHBEARER", 11);
	ck_assert_int_eq(step(x, "n,,\x01\x01", 5), SASL_FAIL);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- PLAIN (RFC 4616) ---- */

START_TEST(test_plain_rfc4616_example1)
{
	/* RFC 4616 §4: no initial response, empty challenge, then <NUL>tim<NUL>tanstaaftanstaaf */
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "tim");
	ck_assert_str_eq(RES(x)->principal.name, "tim");
	ck_assert_str_eq(RES(x)->principal.id, "id-tim");
	ck_assert_int_eq(RES(x)->mech, SASL_MECH_PLAIN);
	/* Further steps do not change the outcome. */
	ck_assert_int_eq(step(x, "x", 1), SASL_OK);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_plain_rfc4616_example2)
{
	/* RFC 4616 §4: Kurt asks to act as Ursel with an initial response; refused. */
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step_b64(x, "VXJzZWwAS3VydAB4aXBqM3BsbXE=", true), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_AUTHZ);
	ck_assert_str_eq(RES(x)->reason, "not authorized to requested authorization identity");
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_plain_authzid)
{
	/* An administrator may act as another user. */
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, "tim\0admin\0adminpw", 17), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "tim");
	ck_assert_str_eq(RES(x)->principal.name, "admin");
	sasl_exchange_free(&x);
	/* An authzid equal to the user's own name needs no authorization. */
	x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, "tim\0tim\0tanstaaftanstaaf", 24), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "tim");
	sasl_exchange_free(&x);
	/* Without an authorize callback only the own name is accepted. */
	tb.be.authorize = NULL;
	x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, "tim\0admin\0adminpw", 17), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_AUTHZ);
	sasl_exchange_free(&x);
}
END_TEST

struct plain_bad {
	const char *msg;
	size_t len;
	enum sasl_fail want;
};

#define PB(s, f)                    \
	{                           \
		s, sizeof(s) - 1, f \
	}
static const struct plain_bad plain_bads[] = {
	PB("tim", SASL_FAIL_MALFORMED),
	PB("\0tim", SASL_FAIL_MALFORMED),
	PB("\0\0pw", SASL_FAIL_MALFORMED),                    /* empty authcid */
	PB("\0tim\0", SASL_FAIL_MALFORMED),                   /* empty password */
	PB("\0tim\0tansta\0aftanstaaf", SASL_FAIL_MALFORMED), /* NUL in password */
	PB("\0t\xffm\0pw", SASL_FAIL_MALFORMED),              /* not UTF-8 */
	PB("\0tim\0wrong", SASL_FAIL_CREDENTIALS),
	PB("\0nobody\0tanstaaftanstaaf", SASL_FAIL_CREDENTIALS),
	PB("\0disabled\0pw", SASL_FAIL_DISABLED),
	PB("", SASL_FAIL_MALFORMED),
};

START_TEST(test_plain_failures)
{
	const struct plain_bad *b = &plain_bads[_i];
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, b->msg, b->len), SASL_FAIL);
	ck_assert_msg(RES(x)->fail == b->want, "case %d: %s", _i, sasl_fail_name(RES(x)->fail));
	ck_assert_ptr_nonnull(RES(x)->reason);
	ck_assert_uint_eq(out.len, 0);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_plain_255_octets)
{
	/* RFC 4616 §2: authzid, authcid and passwd of 255 octets each are accepted (the
	 * identities here are multi-byte UTF-8, 'é' is two octets). */
	char msg[800];
	size_t n = 0;
	for (int i = 0; i < 127; i++) {
		msg[n++] = (char)0xc3;
		msg[n++] = (char)0xa9;
	}
	msg[n++] = 'z'; /* 255 octets of authzid */
	msg[n++] = '\0';
	memcpy(msg + n, "admin", 5);
	n += 5;
	msg[n++] = '\0';
	memcpy(msg + n, "adminpw", 7);
	n += 7;
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, msg, n), SASL_OK);
	ck_assert_uint_eq(strlen(RES(x)->authzid), 255);
	ck_assert_str_eq(RES(x)->principal.name, "admin");
	sasl_exchange_free(&x);
	/* A 255-octet authcid and a 255-octet password reach the directory (and fail there as
	 * unknown credentials, not as malformed or too long). */
	n = 0;
	msg[n++] = '\0';
	memset(msg + n, 'u', 255);
	n += 255;
	msg[n++] = '\0';
	memset(msg + n, 'p', 255);
	n += 255;
	tb.calls = 0;
	x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, msg, n), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	ck_assert_uint_eq(tb.calls, 1);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_plain_temp)
{
	tb.fail_temp = true;
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TEMP);
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_plain_insecure_allowed)
{
	cfg.allow_cleartext_insecure = true;
	struct sasl_exchange *x = start("plain", &plain_ci);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_OK);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- LOGIN ---- */

START_TEST(test_login)
{
	struct sasl_exchange *x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), "Username:");
	ck_assert_int_eq(step(x, "tim", 3), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), "Password:");
	ck_assert_int_eq(step(x, "tanstaaftanstaaf", 16), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "tim");
	sasl_exchange_free(&x);
	/* The user name as initial response. */
	x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step(x, "tim", 3), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), "Password:");
	ck_assert_int_eq(step(x, "wrong", 5), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	sasl_exchange_free(&x);
	/* Empty user name, NUL in password. */
	x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "", 0), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
	x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step(x, "tim", 3), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "a\0b", 3), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- limits, cancel, step discipline ---- */

START_TEST(test_limits)
{
	cfg.max_response = 64;
	char big[65];
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[5] = '\0';
	struct sasl_exchange *x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, big, sizeof(big)), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TOO_LONG);
	ck_assert_uint_eq(tb.calls, 0);
	sasl_exchange_free(&x);
	/* Too many steps. */
	cfg.max_steps = 2;
	x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "tim", 3), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "tanstaaftanstaaf", 16), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TOO_LONG);
	sasl_exchange_free(&x);
	/* A user name longer than SASL_MAX_NAME. */
	cfg.max_response = 0;
	cfg.max_steps = 0;
	char *name = malloc(SASL_MAX_NAME + 20);
	memset(name, 'u', SASL_MAX_NAME + 20);
	name[0] = '\0';
	name[SASL_MAX_NAME + 10] = '\0';
	x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, name, SASL_MAX_NAME + 20), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TOO_LONG);
	sasl_exchange_free(&x);
	free(name);
}
END_TEST

START_TEST(test_cancel_and_discipline)
{
	struct sasl_exchange *x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	/* RFC 4422 §3.5: "*" aborts; the protocol layer sees it from sasl_wire_decode. */
	struct core_buf dec = CORE_BUF_INIT;
	struct core_error err;
	ck_assert_int_eq(sasl_wire_decode("*", 1, false, 0, &dec, &err), 1);
	sasl_exchange_cancel(x);
	ck_assert_int_eq(RES(x)->status, SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CANCELLED);
	ck_assert_int_eq(step(x, "tim", 3), SASL_FAIL);
	sasl_exchange_free(&x);
	/* Only the first step may come without a response. */
	x = start("LOGIN", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_int_eq(step_none(x), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
	/* Cancel after success changes nothing. */
	x = start("PLAIN", &tls_ci);
	ck_assert_int_eq(step(x, "\0tim\0tanstaaftanstaaf", 21), SASL_OK);
	sasl_exchange_cancel(x);
	ck_assert_int_eq(RES(x)->status, SASL_OK);
	sasl_exchange_free(&x);
	core_buf_fini(&dec);
}
END_TEST

START_TEST(test_wire)
{
	struct core_buf b = CORE_BUF_INIT;
	struct core_error err;
	/* RFC 4959 §3: "=" is an empty initial response. */
	ck_assert_int_eq(sasl_wire_decode("=", 1, true, 0, &b, &err), 0);
	ck_assert_uint_eq(b.len, 0);
	/* Later, "=" is not base64. */
	ck_assert_int_eq(sasl_wire_decode("=", 1, false, 0, &b, &err), CORE_ESYNTAX);
	ck_assert_int_eq(sasl_wire_decode("", 0, false, 0, &b, &err), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(sasl_wire_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", 28, true, 0, &b, &err),
			 0);
	ck_assert_uint_eq(b.len, 21);
	ck_assert(memcmp(b.p, "\0tim\0tanstaaftanstaaf", 21) == 0);
	core_buf_reset(&b);
	ck_assert_int_eq(sasl_wire_decode("AHRpbQB0!W5zdGFhZnRhbnN0YWFm", 28, true, 0, &b, &err),
			 CORE_ESYNTAX);
	ck_assert_int_eq(sasl_wire_decode("AHRp bQ==", 9, true, 0, &b, &err), CORE_ESYNTAX);
	ck_assert_int_eq(sasl_wire_decode("AAAAAAAA", 8, false, 5, &b, &err), CORE_ELIMIT);
	ck_assert_int_eq(sasl_wire_decode("AAAAAAAAAAAAAAAA", 16, false, 5, &b, &err), CORE_ELIMIT);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(sasl_wire_decode("AAAA", 4, false, 5, &b, &err), 0);
	ck_assert_uint_eq(b.len, 3);
	core_buf_reset(&b);
	sasl_wire_encode("", 0, true, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "=");
	core_buf_reset(&b);
	sasl_wire_encode("", 0, false, &b);
	ck_assert_uint_eq(b.len, 0);
	sasl_wire_encode("Username:", 9, false, &b);
	ck_assert_str_eq(core_buf_cstr(&b), "VXNlcm5hbWU6");
	core_buf_fini(&b);
	ck_assert_str_eq(sasl_fail_name(SASL_FAIL_CHANNEL_BINDING), "channel-binding");
	ck_assert_str_eq(sasl_mech_name(SASL_MECH_XOAUTH2), "XOAUTH2");
}
END_TEST

/* ---- OAUTHBEARER (RFC 7628) ---- */

START_TEST(test_oauthbearer_rfc7628_success)
{
	/* RFC 7628 §4.1, IMAP (port 143) and SMTP (port 587) initial responses. */
	static const char *const irs[] = {
		"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9Qm"
		"VhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
		"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9Qm"
		"VhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
	};
	struct sasl_exchange *x;
	for (size_t i = 0; i < CORE_NELEM(irs); i++) {
		x = start("OAUTHBEARER", &tls_ci);
		ck_assert_int_eq(step_b64(x, irs[i], true), SASL_OK);
		ck_assert_str_eq(RES(x)->authzid, "user@example.com");
		ck_assert_str_eq(RES(x)->principal.name, "user@example.com");
		sasl_exchange_free(&x);
	}
	/* RFC 7628 §3.2: host and port must match the connection when the server knows them:
	 * an IMAP server on port 143 accepts the IMAP example and refuses the SMTP one. */
	tls_ci.local_host = "SERVER.example.com";
	tls_ci.local_port = 143;
	for (size_t i = 0; i < CORE_NELEM(irs); i++) {
		x = start("OAUTHBEARER", &tls_ci);
		ck_assert_int_eq(step_b64(x, irs[i], true), i == 0 ? SASL_OK : SASL_CONTINUE);
		if (i == 1)
			ck_assert_str_eq(core_buf_cstr(&out), "{\"status\":\"invalid_request\"}");
		sasl_exchange_free(&x);
	}
	tls_ci.local_host = "other.example.com";
	x = start("OAUTHBEARER", &tls_ci);
	ck_assert_int_eq(step_b64(x, irs[0], true), SASL_CONTINUE);
	sasl_exchange_free(&x);
	tls_ci.local_host = NULL;
	tls_ci.local_port = 0;
	/* Scheme is case-insensitive (RFC 7628 §4 note); no a= is fine. */
	x = start("OAUTHBEARER", &tls_ci);
	const char m[] = "n,,\x01"
			 "auth=bEaReR vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
	ck_assert_int_eq(step(x, m, sizeof(m) - 1), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "user@example.com");
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_oauthbearer_rfc7628_failure)
{
	/* RFC 7628 §4.3: empty auth, error challenge, the dummy response "AQ==", failure. */
	cfg.oauth_scope = "example_scope";
	cfg.oauth_config_url = "https://example.com/.well-known/openid-configuration";
	struct sasl_exchange *x = start("OAUTHBEARER", &tls_ci);
	ck_assert_int_eq(step_b64(x,
				  "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBv"
				  "cnQ9MTQzAWF1dGg9AQE=",
				  true),
			 SASL_CONTINUE);
	struct core_buf enc = CORE_BUF_INIT;
	sasl_wire_encode(out.p, out.len, false, &enc);
	ck_assert_str_eq(core_buf_cstr(&enc),
			 "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3Bl"
			 "bmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29w"
			 "ZW5pZC1jb25maWd1cmF0aW9uIn0=");
	core_buf_fini(&enc);
	ck_assert_int_eq(step_b64(x, "AQ==", false), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	sasl_exchange_free(&x);
	/* The same with the IMAP cancel instead of the dummy response. */
	x = start("OAUTHBEARER", &tls_ci);
	const char m[] = "n,a=user@example.com,\x01"
			 "auth=Bearer bad-token\x01\x01";
	ck_assert_int_eq(step(x, m, sizeof(m) - 1), SASL_CONTINUE);
	ck_assert(strstr(core_buf_cstr(&out), "\"status\":\"invalid_token\"") != NULL);
	sasl_exchange_cancel(x);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CANCELLED);
	sasl_exchange_free(&x);
	/* Anything but the dummy response after the error is a protocol error. */
	x = start("OAUTHBEARER", &tls_ci);
	ck_assert_int_eq(step(x, m, sizeof(m) - 1), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "", 0), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
}
END_TEST

struct oauth_bad {
	const char *msg;
	size_t len;
	enum sasl_fail want;
};

#define OB(s, f)                    \
	{                           \
		s, sizeof(s) - 1, f \
	}
static const struct oauth_bad oauth_bads[] = {
	OB("\x01", SASL_FAIL_MALFORMED),
	OB("n,,", SASL_FAIL_MALFORMED),
	OB("n,,\x01", SASL_FAIL_MALFORMED),
	OB("n,,\x01\x01\x01", SASL_FAIL_MALFORMED),
	OB("x,,\x01\x01", SASL_FAIL_MALFORMED),
	OB("p=tls-exporter,,\x01"
	   "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
	   SASL_FAIL_CHANNEL_BINDING),
	OB("n,b=x,\x01\x01", SASL_FAIL_MALFORMED),
	OB("n,a=,\x01\x01", SASL_FAIL_MALFORMED),
	OB("n,a=us=er,\x01\x01", SASL_FAIL_MALFORMED),
	OB("n,,\x01"
	   "auth\x01\x01",
	   SASL_FAIL_MALFORMED),
	OB("n,,\x01"
	   "au th=x\x01\x01",
	   SASL_FAIL_MALFORMED),
	OB("n,,\x01"
	   "auth=a\x01"
	   "auth=b\x01\x01",
	   SASL_FAIL_MALFORMED),
	OB("n,,\x01"
	   "auth=Bearer x\x02\x01\x01",
	   SASL_FAIL_MALFORMED),
	/* a valid token for user@example.com used to act as someone else */
	OB("n,a=other,\x01"
	   "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
	   SASL_FAIL_AUTHZ),
};

START_TEST(test_oauthbearer_bad)
{
	const struct oauth_bad *b = &oauth_bads[_i];
	struct sasl_exchange *x = start("OAUTHBEARER", &tls_ci);
	ck_assert_int_eq(step(x, b->msg, b->len), SASL_FAIL);
	ck_assert_msg(RES(x)->fail == b->want, "case %d: %s", _i, sasl_fail_name(RES(x)->fail));
	sasl_exchange_free(&x);
}
END_TEST

START_TEST(test_oauthbearer_temp_and_client_first)
{
	/* No initial response: an empty challenge first. */
	struct sasl_exchange *x = start("OAUTHBEARER", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_uint_eq(out.len, 0);
	tb.fail_temp = true;
	const char m[] = "n,,\x01"
			 "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
	ck_assert_int_eq(step(x, m, sizeof(m) - 1), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_TEMP);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- XOAUTH2 ---- */

START_TEST(test_xoauth2)
{
	struct sasl_exchange *x = start("XOAUTH2", &tls_ci);
	const char ok[] = "user=user@example.com\x01"
			  "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
	ck_assert_int_eq(step(x, ok, sizeof(ok) - 1), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "user@example.com");
	sasl_exchange_free(&x);
	/* Bad token: JSON challenge, the client's empty answer, failure. */
	x = start("XOAUTH2", &tls_ci);
	const char bad[] = "user=user@example.com\x01"
			   "auth=Bearer nope\x01\x01";
	ck_assert_int_eq(step(x, bad, sizeof(bad) - 1), SASL_CONTINUE);
	ck_assert_str_eq(core_buf_cstr(&out), "{\"status\":\"401\",\"schemes\":\"Bearer\"}");
	ck_assert_int_eq(step(x, "", 0), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	sasl_exchange_free(&x);
	/* Token of another user. */
	x = start("XOAUTH2", &tls_ci);
	const char other[] = "user=tim\x01"
			     "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
	ck_assert_int_eq(step(x, other, sizeof(other) - 1), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_AUTHZ);
	sasl_exchange_free(&x);
	/* Malformed. */
	x = start("XOAUTH2", &tls_ci);
	ck_assert_int_eq(step(x, "user=tim", 8), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
	/* Not offered without TLS. */
	x = start("XOAUTH2", &plain_ci);
	ck_assert_int_eq(step(x, ok, sizeof(ok) - 1), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_ENCRYPT_NEEDED);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- EXTERNAL ---- */

START_TEST(test_external)
{
	tls_ci.client_cert = (const unsigned char *)"CERT-alice";
	tls_ci.client_cert_len = 10;
	struct sasl_exchange *x = start("EXTERNAL", &tls_ci);
	ck_assert_int_eq(step(x, "", 0), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "alice");
	sasl_exchange_free(&x);
	/* No initial response: empty challenge, then the (empty) authzid. */
	x = start("EXTERNAL", &tls_ci);
	ck_assert_int_eq(step_none(x), SASL_CONTINUE);
	ck_assert_int_eq(step(x, "alice", 5), SASL_OK);
	ck_assert_str_eq(RES(x)->authzid, "alice");
	sasl_exchange_free(&x);
	x = start("EXTERNAL", &tls_ci);
	ck_assert_int_eq(step(x, "bob", 3), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_AUTHZ);
	sasl_exchange_free(&x);
	x = start("EXTERNAL", &tls_ci);
	ck_assert_int_eq(step(x, "b\0b", 3), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_MALFORMED);
	sasl_exchange_free(&x);
	tls_ci.client_cert = (const unsigned char *)"CERT-mallory";
	tls_ci.client_cert_len = 12;
	x = start("EXTERNAL", &tls_ci);
	ck_assert_int_eq(step(x, "", 0), SASL_FAIL);
	ck_assert_int_eq(RES(x)->fail, SASL_FAIL_CREDENTIALS);
	sasl_exchange_free(&x);
}
END_TEST

/* ---- garbage into every mechanism ---- */

START_TEST(test_garbage)
{
	unsigned seed = 4422;
	static const unsigned char cbd[32] = {7};
	tls_ci.cb_exporter = cbd;
	tls_ci.cb_exporter_len = 32;
	tls_ci.client_cert = (const unsigned char *)"CERT-alice";
	tls_ci.client_cert_len = 10;
	char buf[300];
	for (int round = 0; round < 3000; round++) {
		enum sasl_mech_id m = (enum sasl_mech_id)(round % SASL_MECH_COUNT);
		const char *name = sasl_mech_name(m);
		struct sasl_exchange *x = start(name, &tls_ci);
		int r = SASL_CONTINUE;
		for (int s = 0; s < 4 && r == SASL_CONTINUE; s++) {
			size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rand_r(&seed) & 0xff);
			/* Bias towards the structure the parsers look for. */
			if (len > 4 && (round & 1))
				memcpy(buf, "n,,n=", 5);
			if (len > 3 && (round & 2))
				memcpy(buf, "\0a\0", 3);
			r = step(x, buf, len);
			ck_assert(r == SASL_CONTINUE || r == SASL_OK || r == SASL_FAIL);
		}
		/* Random bytes never authenticate, except EXTERNAL with a valid certificate,
		 * whose message is only the requested identity. */
		if (r == SASL_OK)
			ck_assert_int_eq(m, SASL_MECH_EXTERNAL);
		sasl_exchange_free(&x);
	}
}
END_TEST

static Suite *sasl_suite(void)
{
	Suite *s = suite_create("sasl");
	TCase *tc = tcase_create("framework");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_offer_insecure);
	tcase_add_test(tc, test_offer_tls);
	tcase_add_test(tc, test_offer_backend_caps);
	tcase_add_test(tc, test_start_refused);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_cancel_and_discipline);
	tcase_add_test(tc, test_wire);
	suite_add_tcase(s, tc);
	TCase *tp = tcase_create("plain-login");
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, test_plain_rfc4616_example1);
	tcase_add_test(tp, test_plain_rfc4616_example2);
	tcase_add_test(tp, test_plain_authzid);
	tcase_add_loop_test(tp, test_plain_failures, 0, (int)CORE_NELEM(plain_bads));
	tcase_add_test(tp, test_plain_255_octets);
	tcase_add_test(tp, test_plain_temp);
	tcase_add_test(tp, test_plain_insecure_allowed);
	tcase_add_test(tp, test_login);
	suite_add_tcase(s, tp);
	TCase *to = tcase_create("oauth-external");
	tcase_add_checked_fixture(to, setup, teardown);
	tcase_add_test(to, test_oauthbearer_rfc7628_success);
	tcase_add_test(to, test_oauthbearer_rfc7628_failure);
	tcase_add_loop_test(to, test_oauthbearer_bad, 0, (int)CORE_NELEM(oauth_bads));
	tcase_add_test(to, test_oauthbearer_temp_and_client_first);
	tcase_add_test(to, test_xoauth2);
	tcase_add_test(to, test_external);
	suite_add_tcase(s, to);
	TCase *tg = tcase_create("garbage");
	tcase_set_timeout(tg, 240);
	tcase_add_checked_fixture(tg, setup, teardown);
	tcase_add_test(tg, test_garbage);
	suite_add_tcase(s, tg);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sasl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
