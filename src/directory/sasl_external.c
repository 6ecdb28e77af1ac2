/*
 * sasl_external.c: the EXTERNAL mechanism (RFC 4422 Appendix A) over a TLS client
 * certificate. The client's message is its authorization identity, empty to act as the
 * identity the certificate maps to.
 */
#include "directory/sasl_int.h"

static int external_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
			 struct core_buf *out)
{
	(void)out;
	if (in == NULL && x->state == 0) {
		/* RFC 4422 App. A.1: without an initial response, an empty challenge. */
		x->state = 1;
		return SASL_CONTINUE;
	}
	/* RFC 4422 App. A.1: message = [ authz-id-string ], UTF-8 without NUL. */
	if (len > SASL_MAX_NAME || !sasl_utf8_safe(in, len))
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 4422 App. A.1",
				     "bad authorization identity");
	const struct sasl_conn_info *ci = x->ci;
	struct sasl_principal p = {0};
	struct core_error e;
	core_error_clear(&e);
	int r = x->be->map_cert(x->be->ctx, ci->client_cert, ci->client_cert_len, x->arena, &p, &e);
	if (r < 0)
		return sasl_fail_backend(x, r, &e);
	return sasl_succeed(x, &p, core_str_make((const char *)in, len));
}

const struct sasl_mech sasl_mech_external = {
	.id = SASL_MECH_EXTERNAL,
	.name = "EXTERNAL",
	.flags = 0,
	.step = external_step,
};
