/*
 * helper_smtp.c: fake connection, fake services and the transcript interpreter shared by the
 * smtp tests (see helper_smtp.h).
 */
#include "helper_smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- fake connection ---------------------------------------------------------------------- */

static int conn_write(void *arg, const void *p, size_t n)
{
	struct fake *f = arg;
	core_buf_append(&f->out, p, n);
	return 0;
}

static int conn_starttls(void *arg)
{
	struct fake *f = arg;
	f->starttls_calls++;
	return 0;
}

static void conn_pause(void *arg)
{
	struct fake *f = arg;
	if (f->paused)
		f->pause_errors++;
	f->paused = true;
}

static void conn_resume(void *arg)
{
	struct fake *f = arg;
	if (!f->paused)
		f->pause_errors++;
	f->paused = false;
}

static void conn_close(void *arg)
{
	struct fake *f = arg;
	f->closed = true;
}

/* --- fake services ------------------------------------------------------------------------ */

static bool contains(struct core_str s, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > s.len)
		return false;
	for (size_t i = 0; i + n <= s.len; i++)
		if (memcmp(s.p + i, needle, n) == 0)
			return true;
	return false;
}

static int answer(struct fake *f, struct smtp_verdict *out, struct smtp_verdict v)
{
	if (f->async) {
		f->pend[0] = v;
		f->npend = 1;
		return SMTP_PENDING;
	}
	*out = v;
	return 0;
}

static int svc_sender(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		      struct smtp_verdict *out)
{
	struct fake *f = ctx;
	(void)s;
	if (contains(env->from.addr, f->reject_sender))
		return answer(f, out, (struct smtp_verdict){553, "5.7.1", "Sender refused"});
	if (f->owner_check && env->auth_user != NULL &&
	    !core_str_eq_cstr(env->from.local, env->auth_user))
		return answer(f, out, (struct smtp_verdict){553, "5.7.1", "Not your address"});
	return answer(f, out, (struct smtp_verdict){250, NULL, "Sender OK"});
}

static int svc_rcpt(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		    const struct smtp_rcpt *r, struct smtp_verdict *out)
{
	struct fake *f = ctx;
	(void)s;
	(void)env;
	if (contains(r->path.addr, f->reject_rcpt))
		return answer(f, out, (struct smtp_verdict){550, "5.1.1", "No such user"});
	if (contains(r->path.addr, f->tempfail_rcpt))
		return answer(f, out, (struct smtp_verdict){450, "4.2.1", "Try later"});
	return answer(f, out, (struct smtp_verdict){250, NULL, "Recipient OK"});
}

static int svc_verify(void *ctx, struct smtp_session *s, bool expand, struct core_str arg,
		      struct smtp_verdict *out)
{
	struct fake *f = ctx;
	(void)s;
	(void)expand;
	if (contains(arg, "nobody"))
		return answer(f, out, (struct smtp_verdict){550, "5.1.1", "No such user"});
	return answer(f, out, (struct smtp_verdict){250, "2.1.5", "user <user@example.org>"});
}

static int spool_write(void *arg, const void *p, size_t n)
{
	struct fake *f = arg;
	core_buf_append(&f->spool, p, n);
	return 0;
}

static int svc_spool_open(void *ctx, const struct smtp_envelope *env, struct smtp_sink *out)
{
	struct fake *f = ctx;
	(void)env;
	core_buf_reset(&f->spool);
	f->spool_is_open = true;
	out->write = spool_write;
	out->arg = f;
	return 0;
}

static void svc_spool_abort(void *ctx)
{
	struct fake *f = ctx;
	f->spool_is_open = false;
	f->spool_aborts++;
	core_buf_reset(&f->spool);
}

static void log_envelope(struct fake *f, const struct smtp_envelope *env)
{
	struct core_buf *b = &f->envlog;
	static const char *const bodies[] = {"7BIT", "8BITMIME", "BINARYMIME"};
	static const char *const rets[] = {"", "FULL", "HDRS"};
	core_buf_printf(b, "from=<%.*s> body=%s", CORE_STR_FMT(env->from.addr), bodies[env->body]);
	if (env->size_declared)
		core_buf_printf(b, " size=%llu", (unsigned long long)env->size_declared);
	if (env->smtputf8)
		core_buf_append_str(b, " smtputf8");
	if (env->requiretls)
		core_buf_append_str(b, " requiretls");
	if (env->ret)
		core_buf_printf(b, " ret=%s", rets[env->ret]);
	if (env->envid.len)
		core_buf_printf(b, " envid=%.*s", CORE_STR_FMT(env->envid));
	if (env->auth.len)
		core_buf_printf(b, " auth=%.*s", CORE_STR_FMT(env->auth));
	if (env->has_by)
		core_buf_printf(b, " by=%lld;%c%s", (long long)env->by_time, env->by_mode,
				env->by_trace ? "T" : "");
	if (env->has_priority)
		core_buf_printf(b, " priority=%d", env->priority);
	if (env->has_hold)
		core_buf_append_str(b, " hold");
	if (env->auth_user)
		core_buf_printf(b, " user=%s", env->auth_user);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct smtp_rcpt *r = &env->rcpts[i];
		core_buf_printf(b, " rcpt=<%.*s>", CORE_STR_FMT(r->path.addr));
		if (r->notify)
			core_buf_printf(b, " notify=%x", r->notify);
		if (r->orcpt.len)
			core_buf_printf(b, " orcpt=%.*s;%.*s", CORE_STR_FMT(r->orcpt_type),
					CORE_STR_FMT(r->orcpt));
	}
	core_buf_putc(b, '\n');
}

static int svc_deliver(void *ctx, struct smtp_session *s, const struct smtp_envelope *env,
		       struct smtp_verdict *res)
{
	struct fake *f = ctx;
	(void)s;
	log_envelope(f, env);
	if (f->nmsgs < FAKE_MAX_MSGS) {
		core_buf_append(&f->msgs[f->nmsgs], f->spool.p ? f->spool.p : "", f->spool.len);
		f->nmsgs++;
	}
	f->spool_is_open = false;
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (contains(env->rcpts[i].path.addr, f->fail_delivery))
			res[i] = (struct smtp_verdict){452, "4.2.2", "Mailbox full"};
		else
			res[i] = (struct smtp_verdict){250, "2.1.5", "Delivered"};
	}
	if (f->async) {
		for (size_t i = 0; i < env->nrcpts && i < 128; i++)
			f->pend[i] = res[i];
		f->npend = env->nrcpts;
		return SMTP_PENDING;
	}
	return 0;
}

static int svc_rate(void *ctx, enum smtp_rate_event ev, struct core_str subject,
		    struct smtp_verdict *out)
{
	struct fake *f = ctx;
	core_buf_printf(&f->ratelog, "%d:%.*s\n", (int)ev, CORE_STR_FMT(subject));
	if (ev == SMTP_RATE_MAIL && contains(subject, "ratelimited"))
		*out = (struct smtp_verdict){451, "4.7.1", "Rate limit exceeded"};
	return 0;
}

/* services->sasl_step: runs the step, answers later from the feeder. */
static void svc_sasl_step(void *ctx, struct smtp_session *s, struct sasl_exchange *x,
			  const void *in, size_t len, bool have_in, struct core_buf *out)
{
	struct fake *f = ctx;
	(void)s;
	f->auth_status = sasl_exchange_step(x, in, len, have_in, out);
	f->auth_pending = true;
}

/* SASL backend: alice / secret. */
static int be_plain(void *ctx, struct core_str authcid, struct core_str password,
		    struct core_arena *a, struct sasl_principal *out, struct core_error *err)
{
	(void)ctx;
	(void)err;
	if (!core_str_eq_cstr(authcid, "alice"))
		return CORE_ENOTFOUND;
	if (!core_str_eq_cstr(password, "secret"))
		return 0;
	out->id = core_arena_strdup(a, "id-alice");
	out->name = core_arena_strdup(a, "alice");
	return 1;
}

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.hostname = "mx.test";
	f->conn.arg = f;
	f->conn.write = conn_write;
	f->conn.starttls = conn_starttls;
	f->conn.close = conn_close;
	f->conn.pause = conn_pause;
	f->conn.resume = conn_resume;
	f->conn.remote_ip = "192.0.2.7";
	f->conn.local_ip = "192.0.2.1";
	f->svc.ctx = f;
	f->svc.check_sender = svc_sender;
	f->svc.check_rcpt = svc_rcpt;
	f->svc.verify = svc_verify;
	f->svc.spool_open = svc_spool_open;
	f->svc.spool_abort = svc_spool_abort;
	f->svc.deliver = svc_deliver;
	f->svc.rate_check = svc_rate;
	f->sasl_cfg.allow_cleartext_insecure = true;
	f->sasl_cfg.mechs_enabled = SASL_MECH_BIT(SASL_MECH_PLAIN) | SASL_MECH_BIT(SASL_MECH_LOGIN);
	f->sasl_be.verify_plain = be_plain;
}

int fake_set(struct fake *f, const char *kv, struct core_buf *diag)
{
	char key[64], val[64];
	const char *eq = strchr(kv, '=');
	if (eq == NULL || (size_t)(eq - kv) >= sizeof(key) || strlen(eq + 1) >= sizeof(val)) {
		core_buf_printf(diag, "bad setting '%s'\n", kv);
		return -1;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	strcpy(val, eq + 1);
	unsigned long n = strtoul(val, NULL, 10);
	if (!strcmp(key, "lmtp"))
		f->cfg.lmtp = n != 0;
	else if (!strcmp(key, "submission"))
		f->cfg.submission = n != 0;
	else if (!strcmp(key, "tls_available"))
		f->cfg.tls_available = n != 0;
	else if (!strcmp(key, "tls")) {
		f->conn.tls = n != 0;
		f->conn.tls_version = "TLSv1.3";
		f->conn.tls_cipher = "TLS_AES_256_GCM_SHA384";
	} else if (!strcmp(key, "bare_data"))
		f->cfg.bare_data = !strcmp(val, "convert") ? SMTP_BARE_CONVERT : SMTP_BARE_REJECT;
	else if (!strcmp(key, "bare_cmd"))
		f->cfg.bare_cmd = !strcmp(val, "convert") ? SMTP_BARE_CONVERT : SMTP_BARE_REJECT;
	else if (!strcmp(key, "max_rcpts"))
		f->cfg.max_rcpts = (unsigned)n;
	else if (!strcmp(key, "max_size"))
		f->cfg.max_size = n;
	else if (!strcmp(key, "max_errors"))
		f->cfg.max_errors = (unsigned)n;
	else if (!strcmp(key, "max_commands"))
		f->cfg.max_commands = (unsigned)n;
	else if (!strcmp(key, "max_line"))
		f->cfg.max_line = n;
	else if (!strcmp(key, "max_hops"))
		f->cfg.max_hops = (unsigned)n;
	else if (!strcmp(key, "max_auth_failures"))
		f->cfg.max_auth_failures = (unsigned)n;
	else if (!strcmp(key, "vrfy"))
		f->cfg.vrfy = n != 0;
	else if (!strcmp(key, "expn"))
		f->cfg.expn = n != 0;
	else if (!strcmp(key, "auth")) {
		f->cfg.sasl_cfg = n ? &f->sasl_cfg : NULL;
		f->cfg.sasl_backend = n ? &f->sasl_be : NULL;
	} else if (!strcmp(key, "auth_tls_only"))
		f->cfg.require_tls_for_auth = n != 0;
	else if (!strcmp(key, "sasl_async"))
		f->svc.sasl_step = n ? svc_sasl_step : NULL;
	else if (!strcmp(key, "owner_check"))
		f->owner_check = n != 0;
	else if (!strcmp(key, "async"))
		f->async = n != 0;
	else if (!strcmp(key, "reject_rcpt"))
		strcpy(f->reject_rcpt, val);
	else if (!strcmp(key, "tempfail_rcpt"))
		strcpy(f->tempfail_rcpt, val);
	else if (!strcmp(key, "reject_sender"))
		strcpy(f->reject_sender, val);
	else if (!strcmp(key, "fail_delivery"))
		strcpy(f->fail_delivery, val);
	else if (!strcmp(key, "disable")) {
		unsigned bit = smtp_ext_bit_by_name(val);
		if (bit == 0) {
			core_buf_printf(diag, "unknown extension '%s'\n", val);
			return -1;
		}
		f->cfg.ext_disabled |= bit;
	} else {
		core_buf_printf(diag, "unknown setting '%s'\n", key);
		return -1;
	}
	return 0;
}

void fake_start(struct fake *f)
{
	f->s = smtp_session_new(&f->cfg, &f->conn, &f->svc);
}

static void feed_some(struct fake *f, const char *p, size_t len)
{
	size_t off = 0;
	int guard = 0;
	while (off < len && guard++ < 100000) {
		size_t n = smtp_session_feed(f->s, p + off, len - off);
		off += n;
		if (smtp_session_pending(f->s)) {
			/* A waiting session has paused its input through the connection. */
			if (!f->paused)
				f->pause_errors++;
			if (f->auth_pending) {
				f->auth_pending = false;
				smtp_session_resume_auth(f->s, f->auth_status);
			} else {
				smtp_session_resume(f->s, f->pend, f->npend);
			}
			if (f->paused)
				f->pause_errors++;
			f->npend = 0;
			continue;
		}
		if (n == 0)
			break; /* closed: the rest is never read */
	}
}

void fake_feed(struct fake *f, const char *p, size_t len)
{
	if (!f->trickle) {
		feed_some(f, p, len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		feed_some(f, p + i, 1);
}

void fake_feed_str(struct fake *f, const char *s)
{
	fake_feed(f, s, strlen(s));
}

void fake_take_codes(struct fake *f, struct core_buf *codes, struct core_buf *raw)
{
	const char *p = f->out.p ? f->out.p : "";
	size_t len = f->out.len;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		if (end - i >= 4 && p[i + 3] == ' ') {
			if (codes->len)
				core_buf_putc(codes, ' ');
			core_buf_append(codes, p + i, 3);
		}
		i = end + 1;
	}
	if (raw)
		core_buf_append(raw, p, len);
	core_buf_reset(&f->out);
}

void fake_fini(struct fake *f)
{
	smtp_session_free(&f->s);
	core_buf_fini(&f->out);
	core_buf_fini(&f->spool);
	for (size_t i = 0; i < FAKE_MAX_MSGS; i++)
		core_buf_fini(&f->msgs[i]);
	core_buf_fini(&f->envlog);
	core_buf_fini(&f->ratelog);
}

/* --- transcripts -------------------------------------------------------------------------- */

static void unescape(const char *s, struct core_buf *out)
{
	for (; *s; s++) {
		if (*s != '\\' || s[1] == '\0') {
			core_buf_putc(out, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 'r':
			core_buf_putc(out, '\r');
			break;
		case 'n':
			core_buf_putc(out, '\n');
			break;
		case 't':
			core_buf_putc(out, '\t');
			break;
		case '0':
			core_buf_putc(out, '\0');
			break;
		case 'x': {
			char h[3] = {s[1], s[1] ? s[2] : 0, 0};
			core_buf_putc(out, (char)strtoul(h, NULL, 16));
			s += s[1] && s[2] ? 2 : 0;
			break;
		}
		default:
			core_buf_putc(out, *s);
		}
	}
}

static bool buf_has(const struct core_buf *b, const char *needle)
{
	return contains(core_str_make(b->p ? b->p : "", b->len), needle);
}

int transcript_run(const char *text, bool trickle, struct core_buf *diag)
{
	struct fake f;
	fake_init(&f);
	f.trickle = trickle;
	bool started = false;
	int rc = 0, lineno = 0;
	struct core_buf pending = CORE_BUF_INIT, codes = CORE_BUF_INIT, raw = CORE_BUF_INIT;
	const char *p = text;
	while (*p && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[8192];
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		p = nl ? nl + 1 : p + n;
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (!strncmp(line, "@set ", 5)) {
			char *save = NULL;
			for (char *t = strtok_r(line + 5, " ", &save); t;
			     t = strtok_r(NULL, " ", &save))
				if (fake_set(&f, t, diag) < 0)
					rc = -1;
			continue;
		}
		if (!started) {
			fake_start(&f);
			started = true;
		}
		if (!strncmp(line, "C: ", 3) || !strcmp(line, "C:")) {
			core_buf_append_str(&pending, line[2] ? line + 3 : "");
			core_buf_append(&pending, "\r\n", 2);
		} else if (!strncmp(line, "R: ", 3)) {
			unescape(line + 3, &pending);
		} else if (!strncmp(line, "S: ", 3) || !strcmp(line, "S:")) {
			fake_feed(&f, pending.p ? pending.p : "", pending.len);
			core_buf_reset(&pending);
			core_buf_reset(&codes);
			core_buf_reset(&raw);
			fake_take_codes(&f, &codes, &raw);
			const char *want = line[2] ? line + 3 : "";
			if (strcmp(core_buf_cstr(&codes), want) != 0) {
				core_buf_printf(diag, "line %d: replies '%s', expected '%s'\n%s",
						lineno, core_buf_cstr(&codes), want,
						core_buf_cstr(&raw));
				rc = -1;
			}
		} else if (!strncmp(line, "S~ ", 3)) {
			if (!buf_has(&raw, line + 3)) {
				core_buf_printf(diag, "line %d: '%s' not in replies:\n%s", lineno,
						line + 3, core_buf_cstr(&raw));
				rc = -1;
			}
		} else if (!strncmp(line, "S! ", 3)) {
			if (buf_has(&raw, line + 3)) {
				core_buf_printf(diag, "line %d: '%s' in replies:\n%s", lineno,
						line + 3, core_buf_cstr(&raw));
				rc = -1;
			}
		} else if (!strncmp(line, "M= ", 3)) {
			if (f.nmsgs != strtoul(line + 3, NULL, 10)) {
				core_buf_printf(diag, "line %d: %zu messages delivered\n", lineno,
						f.nmsgs);
				rc = -1;
			}
		} else if (!strncmp(line, "M~ ", 3) || !strncmp(line, "M! ", 3)) {
			struct core_buf esc = CORE_BUF_INIT;
			unescape(line + 3, &esc);
			bool has =
				f.nmsgs > 0 && buf_has(&f.msgs[f.nmsgs - 1], core_buf_cstr(&esc));
			if (has != (line[1] == '~')) {
				core_buf_printf(diag, "line %d: message check '%s' failed:\n%s",
						lineno, line + 3,
						f.nmsgs ? core_buf_cstr(&f.msgs[f.nmsgs - 1]) : "");
				rc = -1;
			}
			core_buf_fini(&esc);
		} else if (!strncmp(line, "E~ ", 3)) {
			if (!buf_has(&f.envlog, line + 3)) {
				core_buf_printf(diag, "line %d: '%s' not in envelopes:\n%s", lineno,
						line + 3, core_buf_cstr(&f.envlog));
				rc = -1;
			}
		} else if (!strcmp(line, "TLS")) {
			smtp_session_tls_done(f.s, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
		} else if (!strcmp(line, "CLOSED") || !strcmp(line, "OPEN")) {
			if (f.closed != (line[0] == 'C')) {
				core_buf_printf(diag, "line %d: connection %s\n", lineno,
						f.closed ? "closed" : "open");
				rc = -1;
			}
		} else if (!strncmp(line, "STARTTLS_CALLS ", 15)) {
			if (f.starttls_calls != atoi(line + 15)) {
				core_buf_printf(diag, "line %d: %d starttls calls\n", lineno,
						f.starttls_calls);
				rc = -1;
			}
		} else {
			core_buf_printf(diag, "line %d: unknown directive '%s'\n", lineno, line);
			rc = -1;
		}
	}
	if (rc == 0 && f.pause_errors > 0) {
		core_buf_printf(diag, "pause/resume used wrongly %d times\n", f.pause_errors);
		rc = -1;
	}
	if (rc == 0 && pending.len > 0) {
		core_buf_printf(diag, "input after the last S: line\n");
		rc = -1;
	}
	core_buf_fini(&pending);
	core_buf_fini(&codes);
	core_buf_fini(&raw);
	fake_fini(&f);
	return rc;
}
