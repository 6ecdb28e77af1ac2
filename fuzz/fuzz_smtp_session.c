/*
 * fuzz_smtp_session.c: a whole SMTP / LMTP session driven through smtp_session_feed() with
 * services that accept everything (some answering later), SASL PLAIN, and a connection that
 * discards output. The first input byte chooses the configuration. Invariants: the session
 * consumes what it is offered unless it closed or waits for a service, never writes a reply
 * line without CRLF, and frees cleanly.
 */
#include "fuzz.h"

#include "core/core.h"
#include "directory/sasl.h"
#include "smtp/smtp.h"

struct ctx {
	struct core_buf out;
	bool closed;
	bool async;
	struct smtp_verdict pend[64];
	size_t npend;
	size_t spool_bytes;
	bool auth_pending;
	int auth_status;
};

static int c_write(void *arg, const void *p, size_t n)
{
	struct ctx *c = arg;
	core_buf_append(&c->out, p, n);
	return 0;
}

static int c_starttls(void *arg)
{
	(void)arg;
	return 0;
}

static void c_close(void *arg)
{
	((struct ctx *)arg)->closed = true;
}

static int verdict(struct ctx *c, struct smtp_verdict *out, int code)
{
	struct smtp_verdict v = {code, NULL, NULL};
	if (c->async) {
		c->pend[0] = v;
		c->npend = 1;
		return SMTP_PENDING;
	}
	*out = v;
	return 0;
}

static int s_sender(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		    struct smtp_verdict *out)
{
	(void)s;
	return verdict(ctx, out, env->from.addr.len % 7 == 3 ? 550 : 250);
}

static int s_rcpt(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		  const struct smtp_rcpt *r, struct smtp_verdict *out)
{
	(void)s;
	(void)env;
	return verdict(ctx, out, r->path.addr.len % 5 == 2 ? 450 : 250);
}

static int spool_write(void *arg, const void *p, size_t n)
{
	(void)p;
	((struct ctx *)arg)->spool_bytes += n;
	return 0;
}

static int s_spool(void *ctx, const struct smtp_envelope *env, struct smtp_sink *out)
{
	(void)env;
	out->write = spool_write;
	out->arg = ctx;
	return 0;
}

static int s_deliver(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		     struct smtp_verdict *res)
{
	(void)s;
	struct ctx *c = ctx;
	FUZZ_CHECK(env->nrcpts > 0);
	for (size_t i = 0; i < env->nrcpts; i++)
		res[i] = (struct smtp_verdict){i % 3 == 2 ? 452 : 250, NULL, NULL};
	if (c->async) {
		for (size_t i = 0; i < env->nrcpts && i < 64; i++)
			c->pend[i] = res[i];
		c->npend = env->nrcpts < 64 ? env->nrcpts : 64;
		return SMTP_PENDING;
	}
	return 0;
}

static void s_sasl_step(void *ctx, struct smtp_session *s, struct sasl_exchange *x, const void *in,
			size_t len, bool have_in, struct core_buf *out)
{
	struct ctx *c = ctx;
	(void)s;
	c->auth_status = sasl_exchange_step(x, in, len, have_in, out);
	c->auth_pending = true;
}

static int be_plain(void *ctx, struct core_str authcid, struct core_str password,
		    struct core_arena *a, struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	(void)err;
	if (!core_str_eq_cstr(authcid, "u") || !core_str_eq_cstr(password, "p"))
		return 0;
	out->id = core_arena_strdup(a, "1");
	out->name = core_arena_strdup(a, "u");
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	struct ctx c = {0};
	c.async = flags & 0x40;
	struct sasl_config scfg = {.allow_cleartext_insecure = true};
	struct sasl_backend be = {.verify_plain = be_plain};
	struct smtp_config cfg = {
		.hostname = "fuzz.test",
		.lmtp = flags & 0x1,
		.bare_cmd = (flags & 0x2) ? SMTP_BARE_CONVERT : SMTP_BARE_REJECT,
		.bare_data = (flags & 0x4) ? SMTP_BARE_CONVERT : SMTP_BARE_REJECT,
		.tls_available = flags & 0x8,
		.submission = flags & 0x10,
		.vrfy = flags & 0x20,
		.max_size = 4096,
		.max_rcpts = 8,
		.sasl_cfg = &scfg,
		.sasl_backend = &be,
	};
	struct smtp_conn conn = {
		.arg = &c,
		.write = c_write,
		.starttls = c_starttls,
		.close = c_close,
		.remote_ip = "192.0.2.1",
		.tls = flags & 0x80,
		.tls_version = "TLSv1.3",
	};
	struct smtp_services svc = {
		.ctx = &c,
		.check_sender = s_sender,
		.check_rcpt = s_rcpt,
		.spool_open = s_spool,
		.deliver = s_deliver,
		.sasl_step = c.async ? s_sasl_step : NULL,
	};
	struct smtp_session *s = smtp_session_new(&cfg, &conn, &svc);
	/* Feed in pieces whose sizes come from the data itself. */
	size_t off = 0;
	int guard = 0;
	while (off < size && guard++ < 100000) {
		size_t piece = 1 + (data[off] % 64);
		if (piece > size - off)
			piece = size - off;
		size_t n = smtp_session_feed(s, (const char *)data + off, piece);
		FUZZ_CHECK(n <= piece);
		off += n;
		if (smtp_session_pending(s)) {
			if (c.auth_pending) {
				c.auth_pending = false;
				smtp_session_resume_auth(s, c.auth_status);
			} else {
				smtp_session_resume(s, c.pend, c.npend);
			}
			continue;
		}
		if (n < piece) {
			FUZZ_CHECK(smtp_session_closed(s) || c.closed);
			break;
		}
		/* A STARTTLS that was accepted: pretend the handshake worked. */
		if (c.out.len >= 5 && memcmp(c.out.p + c.out.len - 5, "TLS\r\n", 5) == 0)
			smtp_session_tls_done(s, true, "TLSv1.3", "X");
	}
	/* Every reply ends with CRLF and starts with three digits. */
	FUZZ_CHECK(c.out.len == 0 || (c.out.len >= 2 && c.out.p[c.out.len - 1] == '\n' &&
				      c.out.p[c.out.len - 2] == '\r'));
	for (size_t i = 0; i < c.out.len;) {
		FUZZ_CHECK(i + 4 <= c.out.len);
		FUZZ_CHECK(c.out.p[i] >= '1' && c.out.p[i] <= '5');
		const char *nl = memchr(c.out.p + i, '\n', c.out.len - i);
		FUZZ_CHECK(nl != NULL && nl > c.out.p + i && nl[-1] == '\r');
		i = (size_t)(nl - c.out.p) + 1;
	}
	smtp_session_free(&s);
	core_buf_fini(&c.out);
	return 0;
}
