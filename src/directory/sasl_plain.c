/*
 * sasl_plain.c: the PLAIN mechanism (RFC 4616).
 *
 *   message  = [authzid] UTF8NUL authcid UTF8NUL passwd     (RFC 4616 §2)
 *
 * Client-first: without an initial response the server sends an empty challenge and the
 * client answers with the message.
 */
#include <string.h>

#include "directory/sasl_int.h"

static int plain_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
		      struct core_buf *out)
{
	(void)out;
	if (in == NULL && x->state == 0) {
		/* RFC 4422 §5 (1): no initial response, send an empty challenge. */
		x->state = 1;
		return SASL_CONTINUE;
	}
	const unsigned char *nul1 = memchr(in, '\0', len);
	const unsigned char *nul2 =
		nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - in)) : NULL;
	if (nul2 == NULL)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 4616 §2",
				     "message needs two NUL separators");
	/* A third NUL would make the password hold one: passwd = 1*SAFE excludes it. */
	size_t zl = (size_t)(nul1 - in);
	size_t cl = (size_t)(nul2 - nul1 - 1);
	size_t pl = len - (size_t)(nul2 + 1 - in);
	const unsigned char *cid = nul1 + 1, *pw = nul2 + 1;
	if (cl == 0 || pl == 0)
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 4616 §2",
				     "empty authcid or password");
	if (!sasl_utf8_safe(in, zl) || !sasl_utf8_safe(cid, cl) || !sasl_utf8_safe(pw, pl))
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, "RFC 4616 §2",
				     "identity or password is not UTF-8 without NUL");
	if (zl > SASL_MAX_NAME || cl > SASL_MAX_NAME)
		return sasl_fail_set(x, SASL_FAIL_TOO_LONG, NULL, "identity too long");
	struct sasl_principal p = {0};
	struct core_error e;
	core_error_clear(&e);
	/* RFC 4616 §2: the server verifies authcid/passwd, then checks authzid. */
	int r = x->be->verify_plain(x->be->ctx, core_str_make((const char *)cid, cl),
				    core_str_make((const char *)pw, pl), x->arena, &p, &e);
	if (r <= 0)
		return sasl_fail_backend(x, r, &e);
	return sasl_succeed(x, &p, core_str_make((const char *)in, zl));
}

const struct sasl_mech sasl_mech_plain = {
	.id = SASL_MECH_PLAIN,
	.name = "PLAIN",
	.flags = SASL_MF_CLEARTEXT,
	.step = plain_step,
};
