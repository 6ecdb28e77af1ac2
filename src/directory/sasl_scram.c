/*
 * sasl_scram.c: SCRAM-SHA-1 and SCRAM-SHA-256 with their -PLUS variants (RFC 5802, RFC 7677),
 * channel bindings tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929).
 *
 *   client-first  = gs2-header client-first-bare
 *   gs2-header    = ("p=" cb-name / "n" / "y") "," ["a=" saslname] ","
 *   client-first-bare = ["m=" ext ","] "n=" saslname "," "r=" c-nonce ["," extensions]
 *   server-first  = "r=" c-nonce s-nonce "," "s=" salt "," "i=" iteration-count
 *   client-final  = "c=" base64(gs2-header [cb-data]) "," "r=" nonce ["," ext] "," "p=" proof
 *   server-final  = "v=" base64(ServerSignature)
 *
 * Unknown users get a stable fake salt and a proof that can never match (RFC 5802 §9: do not
 * reveal whether a user exists), so the exchange runs to the end as for a wrong password.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "core/core_codec.h"
#include "directory/sasl_int.h"

enum { SCRAM_START = 0, SCRAM_FIRST, SCRAM_FINAL, SCRAM_ACK };

struct scram_state {
	struct core_str gs2_header;  /* bytes of the gs2 header, commas included */
	struct core_str authzid;     /* decoded, may be empty */
	struct core_str user;        /* decoded */
	struct core_str cfirst_bare; /* as received */
	struct core_str sfirst;      /* as sent */
	struct core_str nonce;       /* c-nonce s-nonce */
	struct core_str cb_data;     /* channel binding data (PLUS only) */
	struct dir_scram_secret secret;
	struct sasl_principal p;
	int lookup_r; /* result of the secrets lookup: 0 found, else why not */
};

static enum dir_scram_hash mech_hash(const struct sasl_mech *m)
{
	return (m->id == SASL_MECH_SCRAM_SHA_1 || m->id == SASL_MECH_SCRAM_SHA_1_PLUS)
		       ? DIR_SCRAM_SHA1
		       : DIR_SCRAM_SHA256;
}

static const EVP_MD *hash_md(enum dir_scram_hash h)
{
	return h == DIR_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* RFC 5802 §5.1: saslname with "=2C" for ',' and "=3D" for '='; UTF-8, no NUL. */
static int saslname_decode(struct core_arena *a, const char *p, size_t len, bool allow_empty,
			   struct core_str *out)
{
	if ((len == 0 && !allow_empty) || len > SASL_MAX_NAME * 3)
		return CORE_ESYNTAX;
	char *d = core_arena_alloc(a, len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '=') {
			if (i + 2 < len && p[i + 1] == '2' && p[i + 2] == 'C')
				d[n++] = ',';
			else if (i + 2 < len && p[i + 1] == '3' && p[i + 2] == 'D')
				d[n++] = '=';
			else
				return CORE_ESYNTAX;
			i += 2;
		} else if (p[i] == ',' || p[i] == '\0') {
			return CORE_ESYNTAX;
		} else {
			d[n++] = p[i];
		}
	}
	d[n] = '\0';
	if (!sasl_utf8_safe((const unsigned char *)d, n) || n > SASL_MAX_NAME)
		return CORE_ESYNTAX;
	*out = core_str_make(d, n);
	return 0;
}

/* RFC 5802 §7: printable = %x21-2B / %x2D-7E (no ','). */
static bool nonce_ok(struct core_str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x21 || c > 0x7E || c == ',')
			return false;
	}
	return true;
}

/* Split off the next ','-terminated attribute. */
static bool next_attr(struct core_str *rest, struct core_str *attr_out)
{
	if (rest->p == NULL)
		return false;
	struct core_str tail;
	if (core_str_split_char(*rest, ',', attr_out, &tail)) {
		*rest = tail;
	} else {
		*attr_out = *rest;
		*rest = CORE_STR_NULL;
	}
	return true;
}

static int scram_fail(struct sasl_exchange *x, enum sasl_fail f, const char *rule, const char *why)
{
	return sasl_fail_set(x, f, rule, why);
}

/* Parse client-first, look the user up and produce server-first. */
static int scram_first(struct sasl_exchange *x, struct scram_state *st, const unsigned char *in,
		       size_t len, struct core_buf *out)
{
	const bool plus = (x->mech->flags & SASL_MF_PLUS) != 0;
	const enum dir_scram_hash h = mech_hash(x->mech);
	if (memchr(in, '\0', len) != NULL)
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "NUL in message");
	/* The gs2 header and client-first-message-bare are needed again at the final step
	 * (RFC 5802 §3 AuthMessage, §6 c=): keep them in the exchange's arena, not in the
	 * caller's buffer, which lives only for this call. */
	in = core_arena_memdup(x->arena, in, len);
	struct core_str rest = core_str_make((const char *)in, len), flag, az;
	if (!next_attr(&rest, &flag) || !next_attr(&rest, &az) || rest.p == NULL)
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad gs2 header");
	st->gs2_header = core_str_make((const char *)in, (size_t)(rest.p - (const char *)in));

	/* RFC 5802 §6 and §7: the channel binding flag. */
	enum sasl_cb_type cb = SASL_CB_NONE;
	if (core_str_eq_cstr(flag, "n") || core_str_eq_cstr(flag, "y")) {
		if (plus)
			return scram_fail(x, SASL_FAIL_CHANNEL_BINDING, "RFC 5802 §6",
					  "-PLUS selected without channel binding");
		/* "y": the client could bind but thinks the server cannot; if we offered any
		 * -PLUS mechanism on this connection this is a downgrade. */
		unsigned plusbits = SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_1_PLUS) |
				    SASL_MECH_BIT(SASL_MECH_SCRAM_SHA_256_PLUS);
		if (flag.p[0] == 'y' && (x->offered & plusbits))
			return scram_fail(x, SASL_FAIL_CHANNEL_BINDING, "RFC 5802 §6",
					  "channel binding downgrade detected");
	} else if (core_str_has_prefix(flag, "p=")) {
		struct core_str name = core_str_make(flag.p + 2, flag.len - 2);
		if (!plus)
			return scram_fail(x, SASL_FAIL_CHANNEL_BINDING, "RFC 5802 §6",
					  "channel binding requested with a non-PLUS mechanism");
		if (core_str_eq_cstr(name, "tls-exporter"))
			cb = SASL_CB_TLS_EXPORTER;
		else if (core_str_eq_cstr(name, "tls-server-end-point"))
			cb = SASL_CB_TLS_SERVER_END_POINT;
		if (cb == SASL_CB_NONE || !sasl_cb_data(x->ci, cb, &st->cb_data))
			return scram_fail(x, SASL_FAIL_CHANNEL_BINDING, "RFC 5802 §7",
					  "unsupported channel binding type");
	} else {
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad gs2 header");
	}
	st->authzid = CORE_STR_NULL;
	if (az.len > 0) {
		if (!core_str_has_prefix(az, "a=") ||
		    saslname_decode(x->arena, az.p + 2, az.len - 2, false, &st->authzid) < 0)
			return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad authzid");
	}

	/* client-first-message-bare */
	st->cfirst_bare = core_str_make(rest.p, rest.len);
	struct core_str attr, r;
	if (!next_attr(&rest, &attr))
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "missing username");
	if (core_str_has_prefix(attr, "m="))
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §5.1",
				  "extensions-not-supported");
	struct core_str raw_user;
	if (!core_str_has_prefix(attr, "n=") ||
	    saslname_decode(x->arena, attr.p + 2, attr.len - 2, false, &raw_user) < 0)
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §5.1", "bad username");
	/* RFC 5802 §5.1: the server prepares the user name with SASLprep (as a query string)
	 * for the lookup and aborts when that fails or leaves nothing; the hash calculations
	 * use the name as received (client-first-bare is kept verbatim). */
	struct core_buf prep = CORE_BUF_INIT;
	if (dir_password_saslprep(raw_user.p, raw_user.len, &prep, NULL) < 0 || prep.len == 0) {
		core_buf_fini(&prep);
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §5.1",
				  "user name fails SASLprep");
	}
	st->user = core_str_make(core_arena_memdup(x->arena, prep.p, prep.len), prep.len);
	core_buf_fini(&prep);
	if (!next_attr(&rest, &r) || !core_str_has_prefix(r, "r=") ||
	    !nonce_ok(core_str_make(r.p + 2, r.len - 2)))
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §5.1", "bad client nonce");
	/* Optional extensions: attr-val with a letter for a name; ignored. */
	while (next_attr(&rest, &attr)) {
		if (attr.len < 2 || !core_ascii_isalpha(attr.p[0]) || attr.p[1] != '=')
			return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad extension");
	}

	/* Look the user up; an unknown or unusable account continues with fake secrets. */
	struct core_error e;
	core_error_clear(&e);
	int lr = x->be->scram_lookup(x->be->ctx, h, st->user, x->arena, &st->secret, &st->p, &e);
	if (lr == CORE_ETEMP || lr == CORE_EIO || lr == CORE_EINTERNAL)
		return sasl_fail_backend(x, lr, &e);
	if (lr >= 0 && (st->secret.hash != h || st->secret.key_len != dir_scram_digest_len(h) ||
			st->secret.salt_len == 0 || st->secret.salt_len > DIR_PW_MAX_SALT ||
			st->secret.iterations < 1 || st->secret.iterations > DIR_PW_MAX_SCRAM_ITER))
		lr = CORE_ENOTFOUND;
	st->lookup_r = lr < 0 ? lr : 0;
	if (lr < 0) {
		struct dir_pw_policy pol = DIR_PW_POLICY_DEFAULT;
		memset(&st->secret, 0, sizeof(st->secret));
		st->secret.hash = h;
		st->secret.iterations = pol.scram_iterations;
		st->secret.salt_len = 16;
		dir_password_fake_salt(st->user.p, st->user.len, st->secret.salt, 16);
		st->secret.key_len = dir_scram_digest_len(h);
		dir_random_bytes(st->secret.stored_key, st->secret.key_len);
		dir_random_bytes(st->secret.server_key, st->secret.key_len);
	}

	/* server-first-message */
	struct core_buf sf = CORE_BUF_INIT;
	core_buf_append(&sf, r.p, r.len); /* "r=" c-nonce */
	size_t snonce_at = sf.len;
	if (x->cfg->nonce_fn != NULL) {
		x->cfg->nonce_fn(x->cfg->nonce_arg, &sf);
	} else {
		unsigned char rnd[18];
		dir_random_bytes(rnd, sizeof(rnd));
		core_base64_encode(&sf, rnd, sizeof(rnd));
	}
	if (!nonce_ok(core_str_make(sf.p + snonce_at, sf.len - snonce_at))) {
		core_buf_fini(&sf);
		return scram_fail(x, SASL_FAIL_TEMP, NULL, "bad server nonce");
	}
	st->nonce = core_str_make(core_arena_memdup(x->arena, sf.p + 2, sf.len - 2), sf.len - 2);
	core_buf_append_str(&sf, ",s=");
	core_base64_encode(&sf, st->secret.salt, st->secret.salt_len);
	core_buf_printf(&sf, ",i=%u", (unsigned)st->secret.iterations);
	st->sfirst = core_str_make(core_arena_memdup(x->arena, sf.p, sf.len), sf.len);
	core_buf_append(out, sf.p, sf.len);
	core_buf_fini(&sf);
	return SASL_CONTINUE;
}

/* Verify client-final and produce server-final. */
static int scram_final(struct sasl_exchange *x, struct scram_state *st, const unsigned char *in,
		       size_t len, struct core_buf *out)
{
	const enum dir_scram_hash h = mech_hash(x->mech);
	const EVP_MD *md = hash_md(h);
	const size_t dl = dir_scram_digest_len(h);
	if (memchr(in, '\0', len) != NULL)
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "NUL in message");
	struct core_str msg = core_str_make((const char *)in, len);
	/* The proof is the last attribute. */
	const char *pp = NULL;
	for (size_t i = len; i >= 3; i--) {
		if (msg.p[i - 3] == ',' && msg.p[i - 2] == 'p' && msg.p[i - 1] == '=') {
			pp = msg.p + i - 3;
			break;
		}
	}
	if (pp == NULL)
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "missing proof");
	struct core_str without = core_str_make(msg.p, (size_t)(pp - msg.p));
	struct core_str proof_b64 = core_str_make(pp + 3, len - (size_t)(pp + 3 - msg.p));
	struct core_str rest = without, c, r, attr;
	if (!next_attr(&rest, &c) || !core_str_has_prefix(c, "c=") || !next_attr(&rest, &r) ||
	    !core_str_has_prefix(r, "r="))
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7",
				  "bad client-final message");
	while (next_attr(&rest, &attr)) {
		if (attr.len < 2 || !core_ascii_isalpha(attr.p[0]) || attr.p[1] != '=')
			return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad extension");
	}
	/* RFC 5802 §5.1: the nonce must be the one the server sent. */
	if (!core_str_eq(core_str_make(r.p + 2, r.len - 2), st->nonce))
		return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §5.1", "nonce mismatch");
	/* RFC 5802 §6 and §7: c= is base64(gs2-header [cb-data]), checked byte for byte. */
	struct core_buf cbin = CORE_BUF_INIT, want = CORE_BUF_INIT, proof = CORE_BUF_INIT;
	int ret = SASL_CONTINUE;
	core_buf_append(&want, st->gs2_header.p, st->gs2_header.len);
	if (st->cb_data.len > 0)
		core_buf_append(&want, st->cb_data.p, st->cb_data.len);
	if (core_base64_decode(c.p + 2, c.len - 2, &cbin, NULL) < 0) {
		ret = scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad channel binding");
	} else if (cbin.len != want.len || !core_ct_memeq(cbin.p, want.p, want.len)) {
		ret = scram_fail(x, SASL_FAIL_CHANNEL_BINDING, "RFC 5802 §6",
				 "channel binding mismatch");
	} else if (core_base64_decode(proof_b64.p, proof_b64.len, &proof, NULL) < 0 ||
		   proof.len != dl) {
		ret = scram_fail(x, SASL_FAIL_MALFORMED, "RFC 5802 §7", "bad proof encoding");
	}
	core_buf_fini(&cbin);
	core_buf_fini(&want);
	if (ret == SASL_FAIL) {
		core_buf_fini_wipe(&proof);
		return ret;
	}

	/* RFC 5802 §3: AuthMessage = client-first-bare "," server-first "," final-without-proof */
	struct core_buf am = CORE_BUF_INIT;
	core_buf_append(&am, st->cfirst_bare.p, st->cfirst_bare.len);
	core_buf_putc(&am, ',');
	core_buf_append(&am, st->sfirst.p, st->sfirst.len);
	core_buf_putc(&am, ',');
	core_buf_append(&am, without.p, without.len);
	unsigned char csig[DIR_SCRAM_MAX_DIGEST], ckey[DIR_SCRAM_MAX_DIGEST],
		skey_h[DIR_SCRAM_MAX_DIGEST], ssig[DIR_SCRAM_MAX_DIGEST];
	unsigned int n = 0;
	bool ok = HMAC(md, st->secret.stored_key, (int)dl, (const unsigned char *)am.p, am.len,
		       csig, &n) != NULL;
	for (size_t i = 0; i < dl; i++)
		ckey[i] = (unsigned char)((unsigned char)proof.p[i] ^ csig[i]);
	ok = ok && EVP_Digest(ckey, dl, skey_h, &n, md, NULL) == 1;
	ok = ok && HMAC(md, st->secret.server_key, (int)dl, (const unsigned char *)am.p, am.len,
			ssig, &n) != NULL;
	/* RFC 5802 §3: the server checks H(ClientProof XOR ClientSignature) == StoredKey. */
	bool match = ok && core_ct_memeq(skey_h, st->secret.stored_key, dl);
	core_buf_fini(&am);
	core_buf_fini_wipe(&proof);
	core_wipe(csig, sizeof(csig));
	core_wipe(ckey, sizeof(ckey));
	core_wipe(skey_h, sizeof(skey_h));
	if (!ok) {
		core_wipe(ssig, sizeof(ssig));
		return scram_fail(x, SASL_FAIL_TEMP, NULL, "internal error");
	}
	if (st->lookup_r < 0) {
		/* Unknown and disabled accounts fail like a wrong password: the client proved
		 * nothing, so it learns nothing (the log reason tells them apart). */
		core_wipe(ssig, sizeof(ssig));
		return scram_fail(x, SASL_FAIL_CREDENTIALS, "RFC 5802 §9",
				  st->lookup_r == CORE_EPERM ? "account disabled" : "unknown user");
	}
	if (!match) {
		core_wipe(ssig, sizeof(ssig));
		return scram_fail(x, SASL_FAIL_CREDENTIALS, "RFC 5802 §5.1", "invalid-proof");
	}
	ret = sasl_succeed(x, &st->p, st->authzid);
	if (ret == SASL_OK) {
		core_buf_append_str(out, "v=");
		core_base64_encode(out, ssig, dl);
		if (!x->cfg->success_data) {
			/* The protocol cannot carry data with the outcome: send server-final as a
			 * challenge and wait for the client's empty response (RFC 4422 §3.6). */
			x->res.status = SASL_CONTINUE;
			x->state = SCRAM_ACK;
			ret = SASL_CONTINUE;
		}
	}
	core_wipe(ssig, sizeof(ssig));
	return ret;
}

static int scram_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
		      struct core_buf *out)
{
	struct scram_state *st = x->mstate;
	if (st == NULL) {
		st = core_arena_zalloc(x->arena, sizeof(*st));
		x->mstate = st;
	}
	switch (x->state) {
	case SCRAM_START:
		x->state = SCRAM_FIRST;
		if (in == NULL)
			return SASL_CONTINUE; /* client-first: empty challenge */
					      /* fallthrough */
	case SCRAM_FIRST:
		if (scram_first(x, st, in, len, out) == SASL_FAIL)
			return SASL_FAIL;
		x->state = SCRAM_FINAL;
		return SASL_CONTINUE;
	case SCRAM_FINAL:
		return scram_final(x, st, in, len, out);
	case SCRAM_ACK:
		if (len != 0)
			return scram_fail(x, SASL_FAIL_MALFORMED, "RFC 4422 §3.6",
					  "unexpected data after server-final");
		x->res.status = SASL_OK;
		return SASL_OK;
	default:
		return scram_fail(x, SASL_FAIL_MALFORMED, NULL, "unexpected response");
	}
}

const struct sasl_mech sasl_mech_scram_sha1 = {
	.id = SASL_MECH_SCRAM_SHA_1,
	.name = "SCRAM-SHA-1",
	.flags = 0,
	.step = scram_step,
};

const struct sasl_mech sasl_mech_scram_sha1_plus = {
	.id = SASL_MECH_SCRAM_SHA_1_PLUS,
	.name = "SCRAM-SHA-1-PLUS",
	.flags = SASL_MF_PLUS,
	.step = scram_step,
};

const struct sasl_mech sasl_mech_scram_sha256 = {
	.id = SASL_MECH_SCRAM_SHA_256,
	.name = "SCRAM-SHA-256",
	.flags = 0,
	.step = scram_step,
};

const struct sasl_mech sasl_mech_scram_sha256_plus = {
	.id = SASL_MECH_SCRAM_SHA_256_PLUS,
	.name = "SCRAM-SHA-256-PLUS",
	.flags = SASL_MF_PLUS,
	.step = scram_step,
};
