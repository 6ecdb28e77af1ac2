/*
 * smtp_ext_chunking.c: RFC 3030 CHUNKING (the BDAT verb) and BINARYMIME. A chunk's octets
 * follow its BDAT line whatever the reply, so even a refused BDAT has its chunk read and
 * dropped: the stream never falls out of sync.
 */
#include <string.h>

#include "smtp/smtp_int.h"

static bool chunking_ehlo(struct smtp_session *s, struct core_buf *out)
{
	/* RFC 3030 §2 and §3: CHUNKING, and BINARYMIME which needs it. */
	core_buf_append_str(out, "CHUNKING");
	if (smtp_ext_enabled(s, &smtp_ext_8bitmime))
		core_buf_append_str(out, "\nBINARYMIME");
	return true;
}

/* RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ], end-marker = "LAST". */
static int bdat_args(struct core_str a, uint64_t *size_out, bool *last_out)
{
	struct core_str num, rest;
	bool sp = core_str_split_char(a, ' ', &num, &rest);
	*last_out = false;
	if (num.len == 0 || num.len > 20 || core_str_to_u64(num, size_out) < 0)
		return CORE_ESYNTAX;
	if (sp) {
		if (!core_str_eq_cstr_ci(rest, "LAST"))
			return CORE_ESYNTAX;
		*last_out = true;
	}
	return 0;
}

static void run_bdat(struct smtp_session *s, struct smtp_cmd *cmd)
{
	uint64_t size;
	bool last;
	if (bdat_args(cmd->arg, &size, &last) < 0) {
		/* Without a size we cannot find the next command: refuse and close. */
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT <size> [LAST]");
		smtp_reply(s, 421, "4.5.0", "%s Closing connection", s->cfg.hostname);
		smtp_session_close(s);
		return;
	}
	s->bdat_last = last;
	memset(&s->bdat_refuse, 0, sizeof(s->bdat_refuse));
	if (!(s->state & (SMTP_ST_RCPT | SMTP_ST_BDAT))) {
		/* RFC 3030 §2 and RFC 5321 §4.1.4: BDAT without a transaction or recipients;
		 * the chunk is read and dropped, then refused. */
		if (s->state == SMTP_ST_MAIL)
			s->bdat_refuse = (struct smtp_verdict){554, "5.5.1", "No valid recipients"};
		else
			s->bdat_refuse =
				(struct smtp_verdict){503, "5.5.1", "Bad sequence of commands"};
		smtp_bdat_reader_init(&s->bdat, s->cfg.bare_data, true, 0, NULL);
	} else if (!s->bdat_started) {
		if (smtp_body_begin(s) < 0) {
			/* Replied already; the chunk still follows: drop it silently. */
			s->bdat_refuse.code = -1;
			smtp_bdat_reader_init(&s->bdat, s->cfg.bare_data, true, 0, NULL);
		} else {
			struct smtp_sink sink = {smtp_session_sink_write, s};
			smtp_bdat_reader_init(&s->bdat, s->cfg.bare_data,
					      s->env.body == SMTP_BODY_BINARYMIME, s->cfg.max_size,
					      &sink);
			s->bdat_started = true;
			s->state = SMTP_ST_BDAT;
		}
	}
	smtp_bdat_reader_chunk(&s->bdat, size);
	if (size == 0)
		smtp_bdat_continue(s);
	else
		s->mode = SMTP_MODE_BDAT;
}

void smtp_bdat_continue(struct smtp_session *s)
{
	if (s->bdat_refuse.code != 0) {
		if (s->bdat_refuse.code > 0) {
			smtp_reply_verdict(s, &s->bdat_refuse);
			smtp_session_error(s);
		}
		s->bdat_refuse.code = 0;
		if (s->state == SMTP_ST_BDAT)
			smtp_txn_reset(s);
		return;
	}
	if (!s->bdat_last) {
		/* RFC 3030 §2: each chunk is acknowledged; the replies may be pipelined. */
		smtp_reply(s, 250, "2.0.0", "%llu octets received",
			   (unsigned long long)s->bdat.size);
		return;
	}
	smtp_bdat_reader_finish(&s->bdat);
	smtp_body_end(s, s->bdat.flags, s->bdat.size);
}

static const struct smtp_cmd_def chunking_cmds[] = {
	{"BDAT", SMTP_VERB_BDAT, SMTP_ST_ANY, SMTP_CF_TXN, "RFC 3030 §2", NULL, run_bdat},
};

const struct smtp_ext smtp_ext_chunking = {
	.name = "CHUNKING",
	.bit = SMTP_EXT_CHUNKING,
	.rfc = "RFC 3030",
	.ehlo = chunking_ehlo,
	.cmds = chunking_cmds,
	.ncmds = CORE_NELEM(chunking_cmds),
};
