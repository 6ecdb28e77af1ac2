/*
 * fuzz_directory_sasl.c: libFuzzer target for the SASL server (src/directory/sasl*.c). Feeds
 * a sequence of client messages to any mechanism under any connection state, and each
 * message also to the wire decoder.
 *
 * Input layout:
 *   byte 0      mechanism (index modulo SASL_MECH_COUNT)
 *   byte 1      flags: 0x01 TLS, 0x02 TLS 1.3, 0x04 success data, 0x08 cleartext allowed,
 *               0x10 client certificate, 0x20 end-point binding data, 0x40 exporter binding
 *               data, 0x80 no initial response
 *   then up to 8 records: 2-byte big-endian length, then that many bytes; length 0xFFFF is
 *   a cancel ("*").
 * The backend knows user "user" with the SCRAM secrets of RFC 5802 §5 / RFC 7677 §3 and
 * password "pencil", the bearer token of RFC 7628 §4.1 and the certificate "CERT-alice"; the
 * server nonce is fixed to the RFC 5802 one, so seeds can replay whole exchanges.
 *
 * Invariants: every step returns a known status; a failed or finished exchange stays so; a
 * success names a principal and an authorization identity; a failure names a reason;
 * challenges stay small.
 */
#include "fuzz.h"

#include "core/core.h"
#include "directory/dir_password.h"
#include "directory/sasl.h"

static const char scram1[] = "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:"
			     "D+CSWLOshSulAsxiupA+qs2/fTE=";
static const char scram256[] = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
			       "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			       "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

static void principal(struct core_arena *a, const char *name, struct sasl_principal *out)
{
	out->id = core_arena_printf(a, "id-%s", name);
	out->name = core_arena_strdup(a, name);
}

static int f_verify_plain(void *ctx, struct core_str authcid, struct core_str pw,
			  struct core_arena *a, struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	(void)err;
	if (!core_str_eq_cstr(authcid, "user"))
		return CORE_ENOTFOUND;
	if (!core_str_eq_cstr(pw, "pencil"))
		return 0;
	principal(a, "user", out);
	return 1;
}

static int f_scram(void *ctx, enum dir_scram_hash h, struct core_str authcid, struct core_arena *a,
		   struct dir_scram_secret *s, struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	if (!core_str_eq_cstr(authcid, "user"))
		return CORE_ENOTFOUND;
	const char *v = h == DIR_SCRAM_SHA1 ? scram1 : scram256;
	int r = dir_scram_secret_parse(v, strlen(v), s, err);
	if (r == 0)
		principal(a, "user", out);
	return r;
}

static int f_token(void *ctx, enum sasl_mech_id mech, struct core_str user, struct core_str tok,
		   struct core_arena *a, struct sasl_principal *out, const char **status,
		   struct core_error *err)
{
	(void)ctx;
	(void)mech;
	(void)user;
	(void)err;
	if (!core_str_eq_cstr(tok, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")) {
		*status = "invalid_token";
		return 0;
	}
	principal(a, "user@example.com", out);
	return 1;
}

static int f_cert(void *ctx, const unsigned char *der, size_t len, struct core_arena *a,
		  struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	(void)err;
	if (len != 10 || memcmp(der, "CERT-alice", 10) != 0)
		return CORE_ENOTFOUND;
	principal(a, "alice", out);
	return 0;
}

static int f_authorize(void *ctx, const struct sasl_principal *p, struct core_str authzid,
		       struct core_error *err)
{
	(void)ctx;
	(void)err;
	/* "user" may act as "shared"; nothing else. */
	return strcmp(p->name, "user") == 0 && core_str_eq_cstr(authzid, "shared") ? 0 : CORE_EPERM;
}

static void f_nonce(void *arg, struct core_buf *out)
{
	(void)arg;
	core_buf_append_str(out, "3rfcNHYJY1ZVvWVs7j");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned mech = data[0] % SASL_MECH_COUNT;
	unsigned fl = data[1];
	data += 2;
	size -= 2;

	static const unsigned char exporter[32] = "exporter-0123456789abcdef0123456";
	static const unsigned char endpoint[32] = "endpoint-0123456789abcdef0123456";
	struct sasl_backend be = {
		.caps = SASL_BACKEND_SCRAM_SHA1 | SASL_BACKEND_SCRAM_SHA256,
		.verify_plain = f_verify_plain,
		.scram_lookup = f_scram,
		.verify_token = f_token,
		.map_cert = f_cert,
		.authorize = f_authorize,
	};
	struct sasl_config cfg = {
		.success_data = (fl & 0x04) != 0,
		.allow_cleartext_insecure = (fl & 0x08) != 0,
		.max_response = 4096,
		.oauth_scope = "mail",
		.oauth_config_url = "https://example.com/.well-known/openid-configuration",
		.nonce_fn = f_nonce,
	};
	struct sasl_conn_info ci = {
		.tls = (fl & 0x01) != 0,
		.tls13 = (fl & 0x02) != 0,
		.client_cert = (fl & 0x10) ? (const unsigned char *)"CERT-alice" : NULL,
		.client_cert_len = (fl & 0x10) ? 10 : 0,
		.cb_endpoint = (fl & 0x20) ? endpoint : NULL,
		.cb_endpoint_len = (fl & 0x20) ? 32 : 0,
		.cb_exporter = (fl & 0x40) ? exporter : NULL,
		.cb_exporter_len = (fl & 0x40) ? 32 : 0,
	};
	struct core_buf list = CORE_BUF_INIT, out = CORE_BUF_INIT, dec = CORE_BUF_INIT;
	unsigned offered = sasl_mechs_offered(&cfg, &be, &ci, &list);
	FUZZ_CHECK((offered & ~SASL_MECHS_ALL) == 0);

	const char *name = sasl_mech_name((enum sasl_mech_id)mech);
	struct sasl_exchange *x = sasl_exchange_new(&cfg, &be, &ci, name, strlen(name));
	int st = SASL_CONTINUE;
	unsigned steps = 0;
	if (fl & 0x80) {
		steps++;
		st = sasl_exchange_step(x, NULL, 0, false, &out);
		FUZZ_CHECK(st == SASL_CONTINUE || st == SASL_FAIL);
	}
	for (int rec = 0; rec < 8 && size >= 2; rec++) {
		size_t len = ((size_t)data[0] << 8) | data[1];
		data += 2;
		size -= 2;
		int prev = st;
		if (len == 0xFFFF) {
			sasl_exchange_cancel(x);
			st = sasl_exchange_result(x)->status;
			steps++;
			FUZZ_CHECK(prev != SASL_CONTINUE || st == SASL_FAIL);
			continue;
		}
		if (len > size)
			len = size;
		/* The same bytes as a protocol line through the wire decoder. */
		struct core_error err;
		core_buf_reset(&dec);
		int wr = sasl_wire_decode((const char *)data, len, rec == 0, 4096, &dec, &err);
		FUZZ_CHECK(wr == 0 || wr == 1 || wr == CORE_ESYNTAX || wr == CORE_ELIMIT);
		FUZZ_CHECK(wr != 0 || dec.len <= 4096);

		core_buf_reset(&out);
		st = sasl_exchange_step(x, data, len, true, &out);
		steps++;
		FUZZ_CHECK(st == SASL_CONTINUE || st == SASL_OK || st == SASL_FAIL);
		if (prev != SASL_CONTINUE)
			FUZZ_CHECK(st == prev);
		FUZZ_CHECK(out.len <= 1024);
		data += len;
		size -= len;
	}
	const struct sasl_result *res = sasl_exchange_result(x);
	/* The last step's answer is the outcome (an exchange refused at start reports it at
	 * the first step, so without any step it may already be failed). */
	FUZZ_CHECK((int)res->status == st || (steps == 0 && res->status == SASL_FAIL));
	if (res->status == SASL_OK) {
		FUZZ_CHECK(res->authzid != NULL && res->principal.name != NULL);
		FUZZ_CHECK(offered & SASL_MECH_BIT(mech));
	}
	if (res->status == SASL_FAIL)
		FUZZ_CHECK(res->reason != NULL && res->fail != SASL_FAIL_NONE);
	sasl_exchange_free(&x);
	core_buf_fini(&list);
	core_buf_fini(&out);
	core_buf_fini(&dec);
	return 0;
}
