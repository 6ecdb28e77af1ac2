/*
 * sasl_login.c: the LOGIN mechanism (draft-murchison-sasl-login-00, long deployed but never
 * published as an RFC). Server-first: the server asks "Username:", the client answers with
 * the user name, the server asks "Password:", the client answers with the password. A client
 * that sends an initial response sends the user name in it (as Outlook and others do).
 */
#include <string.h>

#include "directory/sasl_int.h"

enum { LOGIN_START = 0, LOGIN_USER = 1, LOGIN_PASS = 2 };

static int login_step(struct sasl_exchange *x, const unsigned char *in, size_t len,
		      struct core_buf *out)
{
	switch (x->state) {
	case LOGIN_START:
		if (in == NULL) {
			core_buf_append_str(out, "Username:");
			x->state = LOGIN_USER;
			return SASL_CONTINUE;
		}
		/* An initial response carries the user name. */
		/* fallthrough */
	case LOGIN_USER: {
		if (len == 0 || len > SASL_MAX_NAME || !sasl_utf8_safe(in, len))
			return sasl_fail_set(x, SASL_FAIL_MALFORMED,
					     "draft-murchison-sasl-login §2", "bad user name");
		struct core_str *u = core_arena_alloc(x->arena, sizeof(*u));
		*u = core_str_make(core_arena_memdup(x->arena, in, len), len);
		x->mstate = u;
		x->state = LOGIN_PASS;
		core_buf_append_str(out, "Password:");
		return SASL_CONTINUE;
	}
	case LOGIN_PASS: {
		if (len == 0 || !sasl_utf8_safe(in, len))
			return sasl_fail_set(x, SASL_FAIL_MALFORMED,
					     "draft-murchison-sasl-login §2", "bad password");
		const struct core_str *u = x->mstate;
		struct sasl_principal p = {0};
		struct core_error e;
		core_error_clear(&e);
		int r = x->be->verify_plain(x->be->ctx, *u, core_str_make((const char *)in, len),
					    x->arena, &p, &e);
		if (r <= 0)
			return sasl_fail_backend(x, r, &e);
		return sasl_succeed(x, &p, CORE_STR_NULL);
	}
	default:
		return sasl_fail_set(x, SASL_FAIL_MALFORMED, NULL, "unexpected response");
	}
}

const struct sasl_mech sasl_mech_login = {
	.id = SASL_MECH_LOGIN,
	.name = "LOGIN",
	.flags = SASL_MF_CLEARTEXT,
	.step = login_step,
};
