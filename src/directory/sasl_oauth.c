/*
 * sasl_oauth.c: OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's earlier bearer-token
 * mechanism), both through the backend's token verifier.
 *
 * OAUTHBEARER (RFC 7628 §3.1):
 *   kvsep       = %x01
 *   kvpair      = key "=" value kvsep          key = 1*ALPHA
 *   client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
 *   auth        = "Bearer" 1*SP b64token       (RFC 6750 §2.1, scheme case-insensitive)
 * On failure the server sends a JSON error challenge (§3.2.2), the client answers with a
 * single kvsep (§3.2.3) and the server then fails the exchange.
 *
 * XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A; on failure a JSON challenge, the client
 * answers with an empty response, and the exchange fails.
 */
#include <string.h>

#include "directory/sasl_int.h"

enum { OA_START = 0, OA_MSG, OA_ERROR_SENT };

struct oauth_msg {
	struct core_str authzid; /* OAUTHBEARER a= / XOAUTH2 user= */
	struct core_str auth;    /* value of auth= */
	struct core_str host, port;
	bool have_auth, have_host, have_port;
};

/* Parse kvpairs from p up to the closing kvsep that must end the message. */
static int parse_kvpairs(const char *p, size_t len, struct oauth_msg *m, bool xoauth2)
{
	size_t i = 0;
	for (;;) {
		if (i >= len)
			return CORE_ESYNTAX;
		if (p[i] == 0x01) /* the final kvsep */
			return i + 1 == len ? 0 : CORE_ESYNTAX;
		size_t k = i;
		while (i < len && core_ascii_isalpha(p[i]))
			i++;
		if (i == k || i >= len || p[i] != '=')
			return CORE_ESYNTAX;
		struct core_str key = core_str_make(p + k, i - k);
		size_t v = ++i;
		while (i < len && p[i] != 0x01) {
			unsigned char c = (unsigned char)p[i];
			/* RFC 7628 §3.1: value = *(VCHAR / SP / HTAB / CR / LF) */
			if (!((c >= 0x21 && c <= 0x7E) || c == ' ' || c == '\t' || c == '\r' ||
			      c == '\n'))
				return CORE_ESYNTAX;
			i++;
		}
		if (i >= len)
			return CORE_ESYNTAX;
		struct core_str val = core_str_make(p + v, i - v);
		i++; /* kvsep */
		if (core_str_eq_cstr(key, "auth")) {
			if (m->have_auth)
				return CORE_ESYNTAX;
			m->auth = val;
			m->have_auth = true;
		} else if (xoauth2 && core_str_eq_cstr(key, "user")) {
			m->authzid = val;
		} else if (!xoauth2 && core_str_eq_cstr(key, "host")) {
			m->host = val;
			m->have_host = true;
		} else if (!xoauth2 && core_str_eq_cstr(key, "port")) {
			m->port = val;
			m->have_port = true;
		}
		/* RFC 7628 §3.1: unknown keys are ignored. */
	}
}

/* RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. */
static bool bearer_token(struct core_str auth, struct core_str *tok)
{
	if (auth.len < 7 || !core_str_has_prefix_ci(auth, "Bearer") || auth.p[6] != ' ')
		return false;
	size_t i = 6;
	while (i < auth.len && auth.p[i] == ' ')
		i++;
	size_t start = i;
	while (i < auth.len && (core_ascii_isalpha(auth.p[i]) || core_ascii_isdigit(auth.p[i]) ||
				strchr("-._~+/", auth.p[i]) != NULL))
		i++;
	if (i == start)
		return false;
	while (i < auth.len && auth.p[i] == '=')
		i++;
	if (i != auth.len)
		return false;
	*tok = core_str_make(auth.p + start, auth.len - start);
	return true;
}

static void json_str(struct core_buf *out, const char *s)
{
	core_buf_putc(out, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			core_buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			core_buf_printf(out, "\\u%04x", c);
		else
			core_buf_putc(out, (char)c);
	}
	core_buf_putc(out, '"');
}

/* RFC 7628 §3.2.2: {"status":..., "scope":..., "openid-configuration":...}. */
static void oauthbearer_error(struct sasl_exchange *x, const char *status, struct core_buf *out)
{
	core_buf_append_str(out, "{\"status\":");
	json_str(out, status != NULL ? status : "invalid_token");
	if (x->cfg->oauth_scope != NULL) {
		core_buf_append_str(out, ",\"scope\":");
		json_str(out, x->cfg->oauth_scope);
	}
	if (x->cfg->oauth_config_url != NULL) {
		core_buf_append_str(out, ",\"openid-configuration\":");
		json_str(out, x->cfg->oauth_config_url);
	}
	core_buf_putc(out, '}');
}

/* Google's XOAUTH2 error: {"status":"401","schemes":"Bearer","scope":...}. */
static void xoauth2_error(struct sasl_exchange *x, struct core_buf *out)
{
	core_buf_append_str(out, "{\"status\":\"401\",\"schemes\":\"Bearer\"");
	if (x->cfg->oauth_scope != NULL) {
		core_buf_append_str(out, ",\"scope\":");
		json_str(out, x->cfg->oauth_scope);
	}
	core_buf_putc(out, '}');
}

/* Verify the token; on success finish, on a bad token send the error challenge. */
static int oauth_verify(struct sasl_exchange *x, const struct oauth_msg *m, bool xoauth2,
			struct core_buf *out)
{
	struct core_str tok = CORE_STR_NULL;
	const char *status = NULL;
	int r = 0;
	struct sasl_principal p = {0};
	struct core_error e;
	core_error_clear(&e);
	/* RFC 7628 §3.2: host and port must match what the server knows of the connection. */
	bool where_ok = true;
	if (m->have_host && x->ci->local_host != NULL &&
	    !core_str_eq_cstr_ci(m->host, x->ci->local_host))
		where_ok = false;
	if (m->have_port && x->ci->local_port != 0) {
		uint64_t port = 0;
		if (core_str_to_u64(m->port, &port) < 0 || port != x->ci->local_port ||
		    (m->port.len > 1 && m->port.p[0] == '0'))
			where_ok = false;
	}
	if (!where_ok) {
		status = "invalid_request";
	} else if (m->have_auth && bearer_token(m->auth, &tok)) {
		r = x->be->verify_token(x->be->ctx, x->mech->id, m->authzid, tok, x->arena, &p,
					&status, &e);
		if (r < 0 && r != CORE_ENOTFOUND)
			return sasl_fail_backend(x, r, &e);
	}
	if (r > 0)
		return sasl_succeed(x, &p, m->authzid);
	/* An empty or malformed auth value is how a client asks for the scope (RFC 7628
	 * §4.3): answer with the error challenge like for a bad token. */
	if (xoauth2)
		xoauth2_error(x, out);
	else
		oauthbearer_error(x, status, out);
	x->state = OA_ERROR_SENT;
	x->res.reason = "invalid token";
	return SASL_CONTINUE;
}

static int oauthbearer_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
			    struct core_buf *out)
{
	if (x->state == OA_START && in == NULL) {
		x->state = OA_MSG;
		return SASL_CONTINUE;
	}
	if (x->state == OA_ERROR_SENT) {
		/* RFC 7628 §3.2.3: the client must answer the error with a single kvsep. */
		if (len == 1 && in[0] == 0x01)
			return sasl_fail_set(x, SASL_FAIL_CREDENTIALS, "RFC 7628 §3.2.2",
					     "invalid token");
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.2.3",
				     "expected the dummy response after an error");
	}
	const char *p = (const char *)in;
	if (memchr(p, '\0', len) != NULL)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1", "NUL in message");
	/* gs2-header: flag "," [authzid] "," (RFC 7628 §3.1 reuses RFC 5801's). */
	const char *c1 = memchr(p, ',', len);
	const char *c2 = c1 != NULL ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - p)) : NULL;
	if (c2 == NULL)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1", "bad gs2 header");
	struct core_str flag = core_str_make(p, (size_t)(c1 - p));
	struct core_str az = core_str_make(c1 + 1, (size_t)(c2 - c1 - 1));
	if (!core_str_eq_cstr(flag, "n") && !core_str_eq_cstr(flag, "y")) {
		/* RFC 7628 §3.1: OAUTHBEARER does not support channel binding. */
		if (core_str_has_prefix(flag, "p="))
			return sasl_fail_set(x, SASL_FAIL_CHANNEL_BINDING, "RFC 7628 §3.1",
					     "channel binding not supported");
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1", "bad gs2 header");
	}
	struct oauth_msg m = {0};
	if (az.len > 0) {
		if (!core_str_has_prefix(az, "a=") || az.len == 2)
			return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1",
					     "bad authzid");
		/* saslname escapes as in RFC 5801: "=2C" and "=3D". */
		char *d = core_arena_alloc(x->arena, az.len);
		size_t n = 0;
		for (size_t i = 2; i < az.len; i++) {
			if (az.p[i] == '=') {
				if (i + 2 < az.len && az.p[i + 1] == '2' && az.p[i + 2] == 'C')
					d[n++] = ',';
				else if (i + 2 < az.len && az.p[i + 1] == '3' && az.p[i + 2] == 'D')
					d[n++] = '=';
				else
					return sasl_fail_set(x, SASL_FAIL_MALFORMED,
							     "RFC 7628 §3.1", "bad authzid");
				i += 2;
			} else {
				d[n++] = az.p[i];
			}
		}
		if (!sasl_utf8_safe((const unsigned char *)d, n) || n > SASL_MAX_NAME)
			return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1",
					     "bad authzid");
		m.authzid = core_str_make(d, n);
	}
	size_t rest = (size_t)(c2 + 1 - p);
	if (rest >= len || p[rest] != 0x01 ||
	    parse_kvpairs(p + rest + 1, len - rest - 1, &m, false) < 0)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 7628 §3.1",
				     "bad client response");
	return oauth_verify(x, &m, false, out);
}

static int xoauth2_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
			struct core_buf *out)
{
	if (x->state == OA_START && in == NULL) {
		x->state = OA_MSG;
		return SASL_CONTINUE;
	}
	if (x->state == OA_ERROR_SENT)
		return sasl_fail_set(x, SASL_FAIL_CREDENTIALS, NULL, "invalid token");
	struct oauth_msg m = {0};
	if (memchr(in, '\0', len) != NULL || parse_kvpairs((const char *)in, len, &m, true) < 0 ||
	    m.authzid.len > SASL_MAX_NAME ||
	    !sasl_utf8_safe((const unsigned char *)m.authzid.p, m.authzid.len))
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, NULL, "bad XOAUTH2 response");
	return oauth_verify(x, &m, true, out);
}

const struct sasl_mech sasl_mech_oauthbearer = {
	.id = SASL_MECH_OAUTHBEARER,
	.name = "OAUTHBEARER",
	.flags = SASL_MF_CLEARTEXT,
	.step = oauthbearer_step,
};

const struct sasl_mech sasl_mech_xoauth2 = {
	.id = SASL_MECH_XOAUTH2,
	.name = "XOAUTH2",
	.flags = SASL_MF_CLEARTEXT,
	.step = xoauth2_step,
};
