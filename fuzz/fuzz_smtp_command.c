/*
 * fuzz_smtp_command.c: the SMTP command-line framer and parser (smtp_parser_feed,
 * smtp_cmd_parse) and the DATA reader. Invariants: feeding the input whole or byte at a time
 * gives the same commands and the same message body; every accepted path obeys the length
 * limits of RFC 5321 §4.5.3.1.
 */
#include "fuzz.h"

#include "core/core.h"
#include "smtp/smtp.h"

static void frame(const uint8_t *data, size_t size, size_t step, enum smtp_bare_policy bare,
		  struct core_buf *out)
{
	struct smtp_parser p;
	smtp_parser_init(&p, 512, bare);
	size_t off = 0;
	while (off < size) {
		size_t n = step == 0 || size - off < step ? size - off : step;
		size_t done = 0;
		while (done < n) {
			struct smtp_cmd cmd;
			struct core_error err;
			size_t used = 0;
			int rc = smtp_parser_feed(&p, (const char *)data + off + done, n - done,
						  &used, &cmd, &err);
			FUZZ_CHECK(used <= n - done);
			done += used;
			if (rc == CORE_MORE) {
				FUZZ_CHECK(done == n);
				break;
			}
			FUZZ_CHECK(used > 0);
			if (rc == CORE_DONE) {
				FUZZ_CHECK(cmd.path.local.len <= SMTP_LOCAL_MAX);
				FUZZ_CHECK(cmd.path.addr.len <= SMTP_PATH_MAX);
				FUZZ_CHECK(cmd.nparams <= SMTP_PARAMS_MAX);
				core_buf_printf(out, "%d|%.*s|%zu|", (int)cmd.verb,
						CORE_STR_FMT(cmd.path.addr), cmd.nparams);
				for (size_t i = 0; i < cmd.nparams; i++)
					core_buf_printf(out, "%.*s=%.*s,",
							CORE_STR_FMT(cmd.params[i].key),
							CORE_STR_FMT(cmd.params[i].value));
			} else {
				FUZZ_CHECK(rc < 0);
				core_buf_printf(out, "E%d|", rc);
			}
		}
		off += n;
	}
	smtp_parser_fini(&p);
}

static int sink(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

static void body(const uint8_t *data, size_t size, size_t step, enum smtp_bare_policy bare,
		 struct core_buf *out, size_t *end_out)
{
	struct smtp_sink s = {sink, out};
	struct smtp_data_reader r;
	smtp_data_reader_init(&r, bare, 0, &s);
	size_t off = 0;
	*end_out = 0;
	while (off < size) {
		size_t n = step == 0 || size - off < step ? size - off : step;
		size_t used = 0;
		int rc = smtp_data_reader_feed(&r, (const char *)data + off, n, &used);
		off += used;
		if (rc == CORE_DONE) {
			*end_out = off;
			break;
		}
	}
	core_buf_printf(out, "|%x", r.flags);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int bare = 0; bare < 2; bare++) {
		struct core_buf a = CORE_BUF_INIT, b = CORE_BUF_INIT;
		frame(data, size, 0, (enum smtp_bare_policy)bare, &a);
		frame(data, size, 1, (enum smtp_bare_policy)bare, &b);
		FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
		core_buf_reset(&a);
		core_buf_reset(&b);
		size_t ea, eb;
		body(data, size, 0, (enum smtp_bare_policy)bare, &a, &ea);
		body(data, size, 1, (enum smtp_bare_policy)bare, &b, &eb);
		FUZZ_CHECK(ea == eb);
		FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
		/* RFC 5321 §4.1.1.4: the end is always a real <CRLF>.<CRLF> (or "." first). */
		if (ea > 0) {
			FUZZ_CHECK(ea >= 3 && memcmp(data + ea - 3, ".\r\n", 3) == 0);
			FUZZ_CHECK(ea == 3 ||
				   (ea >= 5 && data[ea - 5] == '\r' && data[ea - 4] == '\n'));
		}
		core_buf_fini(&a);
		core_buf_fini(&b);
	}
	return 0;
}
