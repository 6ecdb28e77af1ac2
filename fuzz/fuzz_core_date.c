/*
 * fuzz_core_date.c: libFuzzer target for the date-time parsers of core_time: RFC 5322 §3.3/§4.3,
 * RFC 3339 §5.6 and the IMAP date-time and date of RFC 9051 §9. Checks on every input: the
 * result is a success code or CORE_ESYNTAX with a message and untouched outputs; a strict
 * parse agrees with the lenient one; and a successful parse formats back to text that parses
 * strictly to the same instant and offset.
 */
#include "core/core.h"
#include "fuzz.h"

typedef int (*parse_fn)(const char *, size_t, unsigned, time_t *, int *, struct core_error *);
typedef int (*format_fn)(struct core_buf *, time_t, int);

static void fuzz_check_format(format_fn fmt, parse_fn parse, time_t t, int off, int max_off)
{
	FUZZ_CHECK(off >= -max_off && off <= max_off);
	struct core_buf b = CORE_BUF_INIT;
	int rc = fmt(&b, t, off);
	/* Only a leap second at the very end of year 9999 leaves the formattable range. */
	FUZZ_CHECK(rc == 0 || rc == CORE_ELIMIT);
	if (rc == 0) {
		time_t t2 = 0;
		int off2 = 0;
		struct core_error e;
		FUZZ_CHECK(parse(b.p, b.len, CORE_TIME_STRICT, &t2, &off2, &e) == 0);
		FUZZ_CHECK(t2 == t && off2 == off);
	} else {
		FUZZ_CHECK(b.len == 0);
	}
	core_buf_fini(&b);
}

static void fuzz_parser(parse_fn parse, format_fn fmt, int max_off, const char *p, size_t n,
			unsigned extra_flags)
{
	time_t t = 1, ts = 1;
	int off = 12345, offs = 12345;
	struct core_error e, es;
	int rc = parse(p, n, extra_flags, &t, &off, &e);
	FUZZ_CHECK(rc == 0 || rc == CORE_TIME_NOZONE || rc == CORE_ESYNTAX);
	if (rc < 0) {
		FUZZ_CHECK(e.code == rc && e.msg[0] != '\0');
		FUZZ_CHECK(t == 1 && off == 12345);
	} else {
		if (rc == CORE_TIME_NOZONE)
			FUZZ_CHECK(off == 0);
		fuzz_check_format(fmt, parse, t, off, max_off);
	}
	/* Whatever the strict grammar accepts, the lenient one accepts the same way. */
	int rcs = parse(p, n, extra_flags | CORE_TIME_STRICT, &ts, &offs, &es);
	FUZZ_CHECK(rcs == 0 || rcs == CORE_TIME_NOZONE || rcs == CORE_ESYNTAX);
	if (rcs >= 0)
		FUZZ_CHECK(rc == rcs && t == ts && off == offs);
}

static int fuzz_parse_imap(const char *p, size_t n, unsigned flags, time_t *t, int *off,
			   struct core_error *e)
{
	return core_time_parse_imap(p, n, flags, t, off, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly size bytes: ASan reports any read past the end. */
	char *p = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(p != NULL);
	if (size > 0)
		memcpy(p, data, size);

	fuzz_parser(core_time_parse_rfc5322, core_time_format_rfc5322, CORE_TIME_OFFSET_MAX, p,
		    size, 0);
	fuzz_parser(core_time_parse_rfc3339, core_time_format_rfc3339, CORE_TIME_OFFSET3339_MAX, p,
		    size, 0);
	fuzz_parser(fuzz_parse_imap, core_time_format_imap, CORE_TIME_OFFSET_MAX, p, size, 0);

	/* JMAP UTCDate: accepted only with "Z", offset 0. */
	time_t t;
	int off = 0;
	int rc = core_time_parse_rfc3339(p, size, CORE_TIME_UTC, &t, &off, NULL);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	if (rc == 0)
		FUZZ_CHECK(off == 0);

	/* IMAP date: midnight UTC of a valid day. */
	rc = core_time_parse_imap_date(p, size, &t, NULL);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	if (rc == 0) {
		struct core_tm tm;
		FUZZ_CHECK(core_time_to_tm(t, 0, &tm) == 0);
		FUZZ_CHECK(tm.hour == 0 && tm.min == 0 && tm.sec == 0);
	}
	free(p);
	return 0;
}
