/*
 * sasl.c: the SASL framework (RFC 4422): mechanism registry, the offer rules of a
 * connection, the exchange state machine with its limits, outcomes and authorization
 * identity, and the wire helpers protocol layers use for base64, "=" and "*".
 */
#include <stdlib.h>
#include <string.h>

#include "core/core_codec.h"
#include "core/core_utf8.h"
#include "directory/sasl_int.h"

static const struct sasl_mech *const mech_tab[SASL_MECH_COUNT] = {
	[SASL_MECH_EXTERNAL] = &sasl_mech_external,
	[SASL_MECH_SCRAM_SHA_256_PLUS] = &sasl_mech_scram_sha256_plus,
	[SASL_MECH_SCRAM_SHA_256] = &sasl_mech_scram_sha256,
	[SASL_MECH_SCRAM_SHA_1_PLUS] = &sasl_mech_scram_sha1_plus,
	[SASL_MECH_SCRAM_SHA_1] = &sasl_mech_scram_sha1,
	[SASL_MECH_OAUTHBEARER] = &sasl_mech_oauthbearer,
	[SASL_MECH_XOAUTH2] = &sasl_mech_xoauth2,
	[SASL_MECH_PLAIN] = &sasl_mech_plain,
	[SASL_MECH_LOGIN] = &sasl_mech_login,
};

const char *sasl_mech_name(enum sasl_mech_id id)
{
	if ((unsigned)id >= SASL_MECH_COUNT)
		return "?";
	return mech_tab[id]->name;
}

int sasl_mech_lookup(const char *name, size_t len)
{
	/* RFC 4422 §3.1: mechanism names are upper-case letters, digits, '-' and '_', at most
	 * 20 characters; we compare case-insensitively as clients vary. */
	if (name == NULL || len == 0 || len > 20)
		return CORE_ENOTFOUND;
	for (int i = 0; i < SASL_MECH_COUNT; i++) {
		const char *n = mech_tab[i]->name;
		if (strlen(n) == len && core_strncasecmp_ascii(n, name, len) == 0)
			return i;
	}
	return CORE_ENOTFOUND;
}

const char *sasl_fail_name(enum sasl_fail f)
{
	static const char *const names[] = {
		[SASL_FAIL_NONE] = "none",
		[SASL_FAIL_MALFORMED] = "malformed",
		[SASL_FAIL_CREDENTIALS] = "credentials",
		[SASL_FAIL_AUTHZ] = "authz",
		[SASL_FAIL_CANCELLED] = "cancelled",
		[SASL_FAIL_MECH_UNKNOWN] = "mech-unknown",
		[SASL_FAIL_ENCRYPT_NEEDED] = "encrypt-needed",
		[SASL_FAIL_TOO_LONG] = "too-long",
		[SASL_FAIL_TEMP] = "temp",
		[SASL_FAIL_DISABLED] = "disabled",
		[SASL_FAIL_CHANNEL_BINDING] = "channel-binding",
	};
	if ((unsigned)f >= CORE_NELEM(names))
		return "?";
	return names[f];
}

bool sasl_cb_data(const struct sasl_conn_info *ci, enum sasl_cb_type t, struct core_str *out)
{
	if (ci == NULL || !ci->tls)
		return false;
	switch (t) {
	case SASL_CB_TLS_EXPORTER:
		/* RFC 9266 §2: defined for TLS 1.3 only (earlier exporters lack the extended
		 * master secret guarantee). */
		if (!ci->tls13 || ci->cb_exporter == NULL || ci->cb_exporter_len == 0)
			return false;
		*out = core_str_make((const char *)ci->cb_exporter, ci->cb_exporter_len);
		return true;
	case SASL_CB_TLS_SERVER_END_POINT:
		if (ci->cb_endpoint == NULL || ci->cb_endpoint_len == 0)
			return false;
		*out = core_str_make((const char *)ci->cb_endpoint, ci->cb_endpoint_len);
		return true;
	case SASL_CB_NONE:
		break;
	}
	return false;
}

bool sasl_utf8_safe(const unsigned char *p, size_t len)
{
	if (len == 0)
		return true;
	return memchr(p, '\0', len) == NULL && core_utf8_is_valid(p, len);
}

/* Is mechanism m usable on this connection? Returns SASL_FAIL_NONE or why not. */
static enum sasl_fail mech_usable(const struct sasl_config *cfg, const struct sasl_backend *be,
				  const struct sasl_conn_info *ci, const struct sasl_mech *m)
{
	unsigned enabled = cfg->mechs_enabled != 0 ? cfg->mechs_enabled : SASL_MECHS_ALL;
	if (!(enabled & SASL_MECH_BIT(m->id)))
		return SASL_FAIL_MECH_UNKNOWN;
	bool tls = ci != NULL && ci->tls;
	/* RFC 4616 §5, RFC 7628 §5 and RFC 4954 §4: a mechanism that sends a reusable secret
	 * in the clear is not offered and not accepted without TLS unless configured. */
	if ((m->flags & SASL_MF_CLEARTEXT) && !tls && !cfg->allow_cleartext_insecure)
		return SASL_FAIL_ENCRYPT_NEEDED;
	if (m->flags & SASL_MF_PLUS) {
		struct core_str d;
		if (!tls || (!sasl_cb_data(ci, SASL_CB_TLS_EXPORTER, &d) &&
			     !sasl_cb_data(ci, SASL_CB_TLS_SERVER_END_POINT, &d)))
			return SASL_FAIL_MECH_UNKNOWN;
	}
	switch (m->id) {
	case SASL_MECH_PLAIN:
	case SASL_MECH_LOGIN:
		return be->verify_plain != NULL ? SASL_FAIL_NONE : SASL_FAIL_MECH_UNKNOWN;
	case SASL_MECH_SCRAM_SHA_1:
	case SASL_MECH_SCRAM_SHA_1_PLUS:
		return be->scram_lookup != NULL && (be->caps & (SASL_BACKEND_SCRAM_SHA1 |
								SASL_BACKEND_CLEARTEXT_STORED))
			       ? SASL_FAIL_NONE
			       : SASL_FAIL_MECH_UNKNOWN;
	case SASL_MECH_SCRAM_SHA_256:
	case SASL_MECH_SCRAM_SHA_256_PLUS:
		return be->scram_lookup != NULL && (be->caps & (SASL_BACKEND_SCRAM_SHA256 |
								SASL_BACKEND_CLEARTEXT_STORED))
			       ? SASL_FAIL_NONE
			       : SASL_FAIL_MECH_UNKNOWN;
	case SASL_MECH_OAUTHBEARER:
	case SASL_MECH_XOAUTH2:
		return be->verify_token != NULL ? SASL_FAIL_NONE : SASL_FAIL_MECH_UNKNOWN;
	case SASL_MECH_EXTERNAL:
		return be->map_cert != NULL && tls && ci->client_cert != NULL &&
				       ci->client_cert_len > 0
			       ? SASL_FAIL_NONE
			       : SASL_FAIL_MECH_UNKNOWN;
	case SASL_MECH_COUNT:
		break;
	}
	return SASL_FAIL_MECH_UNKNOWN;
}

unsigned sasl_mechs_offered(const struct sasl_config *cfg, const struct sasl_backend *be,
			    const struct sasl_conn_info *ci, struct core_buf *out)
{
	unsigned bits = 0;
	if (cfg == NULL || be == NULL)
		return 0;
	for (int i = 0; i < SASL_MECH_COUNT; i++) {
		if (mech_usable(cfg, be, ci, mech_tab[i]) != SASL_FAIL_NONE)
			continue;
		bits |= SASL_MECH_BIT(i);
		if (out != NULL) {
			if (out->len > 0)
				core_buf_putc(out, ' ');
			core_buf_append_str(out, mech_tab[i]->name);
		}
	}
	return bits;
}

int sasl_fail_set(struct sasl_exchange *x, enum sasl_fail f, const char *rule, const char *reason)
{
	if (x->res.status != SASL_FAIL) {
		x->res.status = SASL_FAIL;
		x->res.fail = f;
		x->res.rule = rule;
		x->res.reason = reason;
		/* A failed exchange names nobody (SCRAM may fail after choosing a principal). */
		x->res.authzid = NULL;
		x->res.principal.id = NULL;
		x->res.principal.name = NULL;
	}
	return SASL_FAIL;
}

int sasl_fail_backend(struct sasl_exchange *x, int r, const struct core_error *err)
{
	const char *why =
		err != NULL && err->msg[0] != '\0' ? core_arena_strdup(x->arena, err->msg) : NULL;
	switch (r) {
	case 0:
	case CORE_ENOTFOUND:
		return sasl_fail_set(x, SASL_FAIL_CREDENTIALS, NULL,
				     why != NULL ? why : "invalid credentials");
	case CORE_EPERM:
		return sasl_fail_set(x, SASL_FAIL_DISABLED, NULL,
				     why != NULL ? why : "account disabled");
	case CORE_ETEMP:
	case CORE_EIO:
		return sasl_fail_set(x, SASL_FAIL_TEMP, NULL,
				     why != NULL ? why : "directory unavailable");
	default:
		return sasl_fail_set(x, SASL_FAIL_TEMP, NULL, why != NULL ? why : "internal error");
	}
}

int sasl_succeed(struct sasl_exchange *x, const struct sasl_principal *p, struct core_str authzid)
{
	if (p->name == NULL)
		return sasl_fail_set(x, SASL_FAIL_TEMP, NULL, "backend returned no principal name");
	/* RFC 4422 §3.4.1: an empty authzid means "derive it from the credentials"; any other
	 * value must be one the authenticated identity is allowed to act as. */
	if (authzid.len > 0 && !core_str_eq_cstr(authzid, p->name)) {
		int r = CORE_EPERM;
		struct core_error e;
		core_error_clear(&e);
		if (x->be->authorize != NULL)
			r = x->be->authorize(x->be->ctx, p, authzid, &e);
		if (r < 0)
			return sasl_fail_set(x, r == CORE_ETEMP ? SASL_FAIL_TEMP : SASL_FAIL_AUTHZ,
					     "RFC 4422 §3.4.1",
					     "not authorized to requested authorization identity");
		x->res.authzid = core_str_dup(x->arena, authzid);
	} else {
		x->res.authzid = core_arena_strdup(x->arena, p->name);
	}
	x->res.principal.id = p->id != NULL ? core_arena_strdup(x->arena, p->id) : NULL;
	x->res.principal.name = core_arena_strdup(x->arena, p->name);
	x->res.status = SASL_OK;
	x->res.fail = SASL_FAIL_NONE;
	return SASL_OK;
}

struct sasl_exchange *sasl_exchange_new(const struct sasl_config *cfg,
					const struct sasl_backend *be,
					const struct sasl_conn_info *ci, const char *mech,
					size_t mech_len)
{
	/* Missing settings, backend or connection facts mean "nothing enabled / known". */
	static const struct sasl_config no_cfg;
	static const struct sasl_backend no_be;
	static const struct sasl_conn_info no_ci;
	struct sasl_exchange *x = core_xcalloc(1, sizeof(*x));
	x->cfg = cfg != NULL ? cfg : &no_cfg;
	x->be = be != NULL ? be : &no_be;
	x->ci = ci != NULL ? ci : &no_ci;
	cfg = x->cfg;
	be = x->be;
	ci = x->ci;
	x->arena = core_arena_new_clean(0);
	x->res.status = SASL_CONTINUE;
	x->offered = sasl_mechs_offered(cfg, be, ci, NULL);
	int id = sasl_mech_lookup(mech, mech_len);
	if (id < 0) {
		x->mech = NULL;
		sasl_fail_set(x, SASL_FAIL_MECH_UNKNOWN, "RFC 4422 §3.1", "unknown mechanism");
		return x;
	}
	x->mech = mech_tab[id];
	x->res.mech = (enum sasl_mech_id)id;
	enum sasl_fail f = mech_usable(cfg, be, ci, x->mech);
	if (f == SASL_FAIL_ENCRYPT_NEEDED)
		sasl_fail_set(x, f, "RFC 4616 §5", "mechanism needs an encrypted connection");
	else if (f != SASL_FAIL_NONE)
		sasl_fail_set(x, f, "RFC 4422 §3.2", "mechanism not available");
	return x;
}

void sasl_exchange_free(struct sasl_exchange **px)
{
	if (px == NULL || *px == NULL)
		return;
	struct sasl_exchange *x = *px;
	core_arena_free(&x->arena);
	core_wipe(x, sizeof(*x));
	free(x);
	*px = NULL;
}

int sasl_exchange_step(struct sasl_exchange *x, const void *in, size_t len, bool have_in,
		       struct core_buf *out)
{
	if (x->res.status != SASL_CONTINUE)
		return x->res.status;
	size_t max = x->cfg->max_response != 0 ? x->cfg->max_response : SASL_DEFAULT_MAX_RESPONSE;
	unsigned max_steps = x->cfg->max_steps != 0 ? x->cfg->max_steps : SASL_DEFAULT_MAX_STEPS;
	if (++x->steps > max_steps)
		return sasl_fail_set(x, SASL_FAIL_TOO_LONG, NULL, "too many exchange steps");
	if (have_in && len > max)
		return sasl_fail_set(x, SASL_FAIL_TOO_LONG, NULL, "client response too long");
	if (!have_in && x->steps > 1)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, NULL, "missing client response");
	if (have_in && in == NULL && len > 0)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, NULL, "missing client response");
	static const unsigned char empty[1] = {0};
	const unsigned char *p = have_in ? (in != NULL ? in : empty) : NULL;
	size_t before = out->len;
	int r = x->mech->step(x, p, have_in ? len : 0, out);
	if (r == SASL_FAIL) {
		core_buf_truncate(out, before);
		x->res.status = SASL_FAIL;
	} else if (r == SASL_OK && x->res.status != SASL_OK) {
		/* A mechanism must go through sasl_succeed(). */
		return sasl_fail_set(x, SASL_FAIL_TEMP, NULL, "internal error");
	}
	return r;
}

void sasl_exchange_cancel(struct sasl_exchange *x)
{
	/* RFC 4422 §3.5: the client may abort; the server then fails the exchange. */
	if (x->res.status == SASL_CONTINUE)
		sasl_fail_set(x, SASL_FAIL_CANCELLED, "RFC 4422 §3.5", "cancelled by client");
}

const struct sasl_result *sasl_exchange_result(const struct sasl_exchange *x)
{
	return &x->res;
}

int sasl_wire_decode(const char *line, size_t len, bool initial, size_t max, struct core_buf *out,
		     struct core_error *err)
{
	if (max == 0)
		max = SASL_DEFAULT_MAX_RESPONSE;
	if (len == 1 && line[0] == '*')
		return 1; /* RFC 4954 §4, RFC 9051 §6.2.2: cancel */
	/* RFC 4959 §3 and RFC 4954 §4: "=" is an initial response of zero length. */
	if (initial && len == 1 && line[0] == '=')
		return 0;
	if (core_base64_encoded_len(max) < len)
		return core_error_set(err, CORE_ELIMIT, NULL, "SASL response too long");
	size_t before = out->len;
	int r = core_base64_decode(line, len, out, err);
	if (r < 0)
		return core_error_set(err, CORE_ESYNTAX, "RFC 4422 §4", "invalid base64");
	if (out->len - before > max) {
		core_buf_truncate(out, before);
		return core_error_set(err, CORE_ELIMIT, NULL, "SASL response too long");
	}
	return 0;
}

void sasl_wire_encode(const void *p, size_t len, bool as_success, struct core_buf *out)
{
	if (len == 0) {
		if (as_success)
			core_buf_putc(out, '=');
		return;
	}
	core_base64_encode(out, p, len);
}
