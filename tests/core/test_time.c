/*
 * Unit tests of core_time: calendar arithmetic, RFC 5322 §3.3/§4.3 dates, RFC 3339 dates and
 * the IMAP date-time of RFC 9051 §9. Expected epoch values were computed independently
 * (Python calendar.timegm).
 */
#include "core/core.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T_20261127 1795749600 /* 2026-11-27T03:20:00Z, a Friday */

START_TEST(test_leap_years)
{
	/* RFC 3339 Appendix C: divisible by 4, not by 100 unless by 400. */
	static const struct {
		int year;
		bool leap;
	} cases[] = {
		{1900, false}, {2000, true}, {2100, false}, {2024, true},
		{2026, false}, {1600, true}, {0, true},     {4, true},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++)
		ck_assert_msg(core_time_is_leap(cases[i].year) == cases[i].leap, "year %d",
			      cases[i].year);
	ck_assert_int_eq(core_time_days_in_month(2024, 2), 29);
	ck_assert_int_eq(core_time_days_in_month(1900, 2), 28);
	ck_assert_int_eq(core_time_days_in_month(2000, 2), 29);
	ck_assert_int_eq(core_time_days_in_month(2026, 11), 30);
	ck_assert_int_eq(core_time_days_in_month(2026, 13), 0);
}
END_TEST

/* Walk every day of 0000-01-01 .. 9999-12-31 and check both conversions and the weekday. */
START_TEST(test_civil_walk)
{
	int64_t day = core_time_days_from_civil(0, 1, 1);
	int wday = 6; /* 0000-01-01 was a Saturday (proleptic Gregorian) */
	for (int y = 0; y <= 9999; y++) {
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= core_time_days_in_month(y, m); d++) {
				if (core_time_days_from_civil(y, m, d) != day)
					ck_abort_msg("days_from_civil %d-%d-%d", y, m, d);
				struct core_tm tm;
				int rc = core_time_to_tm((time_t)(day * 86400 + 86399), 0, &tm);
				if (rc != 0 || tm.year != y || tm.mon != m || tm.mday != d ||
				    tm.wday != wday || tm.hour != 23 || tm.sec != 59)
					ck_abort_msg("to_tm %d-%d-%d", y, m, d);
				day++;
				wday = (wday + 1) % 7;
			}
		}
	}
	ck_assert_int_eq(core_time_days_from_civil(1970, 1, 1), 0);
}
END_TEST

START_TEST(test_to_tm_limits)
{
	struct core_tm tm;
	ck_assert_int_eq(core_time_to_tm((time_t)253402300799, 0, &tm), 0);
	ck_assert_int_eq(tm.year, 9999);
	ck_assert_int_eq(core_time_to_tm((time_t)253402300800, 0, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm((time_t)253402300799, 1, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm((time_t)-62167219200, 0, &tm), 0);
	ck_assert_int_eq(tm.year, 0);
	ck_assert_int_eq(core_time_to_tm((time_t)-62167219201, 0, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm((time_t)INT64_MAX, 0, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm((time_t)INT64_MIN, 0, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm(0, 100 * 60, &tm), CORE_ELIMIT);
	ck_assert_int_eq(core_time_to_tm(0, -90, &tm), 0);
	ck_assert_int_eq(tm.year, 1969);
	ck_assert_int_eq(tm.hour, 22);
	ck_assert_int_eq(tm.min, 30);
}
END_TEST

START_TEST(test_from_tm_ranges)
{
	static const struct {
		struct core_tm tm;
		int ok;
	} cases[] = {
		{{2024, 2, 29, 0, 0, 0, 0}, 1},     {{2026, 2, 29, 0, 0, 0, 0}, 0},
		{{1900, 2, 29, 0, 0, 0, 0}, 0},     {{2000, 2, 29, 0, 0, 0, 0}, 1},
		{{2100, 2, 29, 0, 0, 0, 0}, 0},     {{2026, 4, 31, 0, 0, 0, 0}, 0},
		{{2026, 12, 31, 23, 59, 60, 0}, 1}, {{2026, 12, 31, 23, 59, 61, 0}, 0},
		{{2026, 12, 31, 24, 0, 0, 0}, 0},   {{2026, 12, 31, 23, 60, 0, 0}, 0},
		{{2026, 0, 1, 0, 0, 0, 0}, 0},      {{2026, 1, 0, 0, 0, 0, 0}, 0},
		{{10000, 1, 1, 0, 0, 0, 0}, 0},     {{-1, 1, 1, 0, 0, 0, 0}, 0},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		time_t t;
		struct core_error e;
		int rc = core_time_from_tm(&cases[i].tm, 0, &t, &e);
		ck_assert_msg((rc == 0) == (cases[i].ok == 1), "case %zu rc %d", i, rc);
		if (rc < 0)
			ck_assert_int_eq(e.code, CORE_ESYNTAX);
	}
}
END_TEST

struct parse_case {
	const char *in;
	unsigned flags;
	int rc; /* expected return: 0, CORE_TIME_NOZONE or CORE_ESYNTAX */
	int64_t t;
	int offset;
};

static void run_parse_cases(const struct parse_case *cases, size_t n,
			    int (*fn)(const char *, size_t, unsigned, time_t *, int *,
				      struct core_error *))
{
	for (size_t i = 0; i < n; i++) {
		const struct parse_case *c = &cases[i];
		time_t t = 12345;
		int off = 777;
		struct core_error e;
		core_error_clear(&e);
		int rc = fn(c->in, strlen(c->in), c->flags, &t, &off, &e);
		ck_assert_msg(rc == c->rc, "'%s': rc %d want %d (%s)", c->in, rc, c->rc, e.msg);
		if (rc >= 0) {
			ck_assert_msg((int64_t)t == c->t, "'%s': t %lld want %lld", c->in,
				      (long long)t, (long long)c->t);
			ck_assert_msg(off == c->offset, "'%s': offset %d want %d", c->in, off,
				      c->offset);
		} else {
			/* A failed parse names the problem and leaves outputs alone. */
			ck_assert_int_eq(e.code, rc);
			ck_assert(e.msg[0] != '\0');
			ck_assert_int_eq((int64_t)t, 12345);
			ck_assert_int_eq(off, 777);
		}
	}
}

#define S CORE_TIME_STRICT
#define NZ CORE_TIME_NOZONE
#define BAD CORE_ESYNTAX

static const struct parse_case rfc5322_cases[] = {
	/* RFC 5322 §3.3 current form */
	{"Fri, 27 Nov 2026 03:20:00 +0000", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000", S, 0, T_20261127, 0},
	{"27 Nov 2026 03:20:00 +0000", S, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20 +0000", S, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 04:20:00 +0100", S, 0, T_20261127, 60},
	{"Thu, 26 Nov 2026 22:20:00 -0500", S, 0, T_20261127, -300},
	{"Fri, 27 Nov 2026 08:50:00 +0530", S, 0, T_20261127, 330},
	{"Fri, 27 Nov 2026 03:20:00 -0000", S, NZ, T_20261127, 0},
	{"Sat, 28 Nov 2026 06:19:00 +2659", 0, 0, T_20261127, 26 * 60 + 59},
	{"Fri, 27 Nov 2026 03:20:00 +9959", 0, 0, T_20261127 - (99 * 60 + 59) * 60, 99 * 60 + 59},
	{"Sat, 7 Nov 2026 03:20:00 +0000", S, 0, 1794021600, 0},
	{"Sat, 07 Nov 2026 03:20:00 +0000", S, 0, 1794021600, 0},
	{"fri, 27 nov 2026 03:20:00 +0000", S, 0, T_20261127, 0},
	{"FRI, 27 NOV 2026 03:20:00 +0000", S, 0, T_20261127, 0},
	/* comments and folding white space (§3.2.2 CFWS) */
	{"Fri, 27 Nov 2026 03:20:00 +0000 (UTC)", S, 0, T_20261127, 0},
	{"(x) Fri (y), 27 (z) Nov (w) 2026 03:20:00 +0000", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000 (a (nested) comment)", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000 (quoted \\) paren)", 0, 0, T_20261127, 0},
	{"  Fri,   27  Nov   2026   03:20:00    +0000  ", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026\r\n 03:20:00\r\n\t+0000", 0, 0, T_20261127, 0},
	{"27 Nov 2026 03 : 20 : 00 +0000", 0, 0, T_20261127, 0},
	{"27Nov2026 03:20:00 +0000", 0, 0, T_20261127, 0},
	/* §4.3 obsolete years */
	{"Fri, 27 Nov 26 03:20:00 +0000", 0, 0, T_20261127, 0},
	{"27 Nov 126 03:20:00 +0000", 0, 0, T_20261127, 0},
	{"Sat, 27 Nov 99 03:20:00 +0000", 0, 0, 943672800, 0},
	{"01 Jan 49 00:00:00 +0000", 0, 0, 2493072000, 0},
	{"01 Jan 50 00:00:00 +0000", 0, 0, -631152000, 0},
	/* §4.3 obsolete zones */
	{"Fri, 27 Nov 2026 03:20:00 UT", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 GMT", 0, 0, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 gmt", 0, 0, T_20261127, 0},
	{"Thu, 26 Nov 2026 22:20:00 EST", 0, 0, T_20261127, -300},
	{"Thu, 26 Nov 2026 23:20:00 EDT", 0, 0, T_20261127, -240},
	{"Thu, 26 Nov 2026 21:20:00 CST", 0, 0, T_20261127, -360},
	{"Thu, 26 Nov 2026 22:20:00 CDT", 0, 0, T_20261127, -300},
	{"Thu, 26 Nov 2026 20:20:00 MST", 0, 0, T_20261127, -420},
	{"Thu, 26 Nov 2026 21:20:00 MDT", 0, 0, T_20261127, -360},
	{"Thu, 26 Nov 2026 19:20:00 PST", 0, 0, T_20261127, -480},
	{"Thu, 26 Nov 2026 20:20:00 PDT", 0, 0, T_20261127, -420},
	{"Fri, 27 Nov 2026 03:20:00 Z", 0, NZ, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 A", 0, NZ, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 y", 0, NZ, T_20261127, 0},
	{"Fri, 27 Nov 2026 03:20:00 CEST", 0, NZ, T_20261127, 0},
	/* lenient extras: full day name, one-digit hour, wrong day-of-week */
	{"Friday, 27 Nov 2026 03:20:00 +0000", 0, 0, T_20261127, 0},
	{"27 Nov 2026 3:20:00 +0000", 0, 0, T_20261127, 0},
	{"Mon, 27 Nov 2026 03:20:00 +0000", 0, 0, T_20261127, 0},
	/* calendar edges */
	{"Thu, 29 Feb 2024 12:00:00 +0000", S, 0, 1709208000, 0},
	{"Tue, 29 Feb 2000 00:00:00 +0000", S, 0, 951782400, 0},
	{"Sat, 31 Dec 2016 23:59:60 +0000", S, 0, 1483228800, 0},
	{"Mon, 01 Jan 1900 00:00:00 +0000", S, 0, -2208988800, 0},
	{"Fri, 31 Dec 9999 23:59:59 +0000", S, 0, 253402300799, 0},
	{"Thu, 01 Jan 1970 00:00:00 +0000", S, 0, 0, 0},
	/* invalid */
	{"", 0, BAD, 0, 0},
	{"   ", 0, BAD, 0, 0},
	{"Fri, 27 Nov 2026", 0, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00", 0, BAD, 0, 0},
	{"Fri, 32 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"31 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"00 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"29 Feb 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"29 Feb 1900 03:20:00 +0000", 0, BAD, 0, 0},
	{"29 Feb 2100 03:20:00 +0000", 0, BAD, 0, 0},
	{"30 Feb 2000 03:20:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 24:00:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:60:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:61 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 +0060", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 +000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 +00000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 +", 0, BAD, 0, 0},
	{"27 Foo 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"27 November 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"Fry, 27 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"Fri 27 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000 x", 0, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000 (UTC", 0, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00 +0000 (a \\", 0, BAD, 0, 0},
	{"27 Nov 6 03:20:00 +0000", 0, BAD, 0, 0},
	{"01 Jan 1899 00:00:00 +0000", 0, BAD, 0, 0},
	{"01 Jan 10000 00:00:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 ABCDEF", 0, BAD, 0, 0},
	{"27 Nov 2026 003:20:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:2:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:0 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20: +0000", 0, BAD, 0, 0},
	{"123 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 0320 +0000", 0, BAD, 0, 0},
	/* strict mode refuses the obsolete forms and a wrong day-of-week */
	{"Fri, 27 Nov 26 03:20:00 +0000", S, BAD, 0, 0},
	{"27 Nov 126 03:20:00 +0000", S, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00 GMT", S, BAD, 0, 0},
	{"Fri, 27 Nov 2026 03:20:00 Z", S, BAD, 0, 0},
	{"Sat, 27 Nov 2026 03:20:00 +0000", S, BAD, 0, 0},
	{"Friday, 27 Nov 2026 03:20:00 +0000", S, BAD, 0, 0},
	{"27 Nov 2026 3:20:00 +0000", S, BAD, 0, 0},
};

static int parse_5322(const char *p, size_t len, unsigned flags, time_t *t, int *off,
		      struct core_error *err)
{
	return core_time_parse_rfc5322(p, len, flags, t, off, err);
}

START_TEST(test_rfc5322_parse)
{
	run_parse_cases(rfc5322_cases, CORE_NELEM(rfc5322_cases), parse_5322);
}
END_TEST

START_TEST(test_rfc5322_parse_embedded_nul)
{
	/* The length is what counts: a NUL inside is a bad character, not an end. */
	static const char in[] = "Fri, 27 Nov 2026 03:20:00 +0000\0junk";
	time_t t;
	int off;
	ck_assert_int_eq(core_time_parse_rfc5322(in, sizeof(in) - 1, 0, &t, &off, NULL), BAD);
	ck_assert_int_eq(core_time_parse_rfc5322(in, 31, 0, &t, &off, NULL), 0);
	ck_assert_int_eq((int64_t)t, T_20261127);
	/* A prefix never reads past its length. */
	ck_assert_int_eq(core_time_parse_rfc5322(in, 30, 0, &t, &off, NULL), BAD);
}
END_TEST

struct fmt_case {
	int64_t t;
	int offset;
	int rc;
	const char *out;
};

static void run_fmt_cases(const struct fmt_case *cases, size_t n,
			  int (*fn)(struct core_buf *, time_t, int))
{
	for (size_t i = 0; i < n; i++) {
		struct core_buf b = CORE_BUF_INIT;
		core_buf_append_str(&b, "<");
		int rc = fn(&b, (time_t)cases[i].t, cases[i].offset);
		ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d", i, rc);
		if (rc == 0) {
			ck_assert_str_eq(core_buf_cstr(&b) + 1, cases[i].out);
		} else {
			ck_assert_str_eq(core_buf_cstr(&b), "<"); /* nothing appended */
		}
		core_buf_fini(&b);
	}
}

START_TEST(test_rfc5322_format)
{
	static const struct fmt_case cases[] = {
		{T_20261127, 0, 0, "Fri, 27 Nov 2026 03:20:00 +0000"},
		{T_20261127, 60, 0, "Fri, 27 Nov 2026 04:20:00 +0100"},
		{T_20261127, -300, 0, "Thu, 26 Nov 2026 22:20:00 -0500"},
		{T_20261127, 330, 0, "Fri, 27 Nov 2026 08:50:00 +0530"},
		{T_20261127, -210, 0, "Thu, 26 Nov 2026 23:50:00 -0330"},
		{1794021600, 0, 0, "Sat, 07 Nov 2026 03:20:00 +0000"},
		{0, 0, 0, "Thu, 01 Jan 1970 00:00:00 +0000"},
		{1709208000, 0, 0, "Thu, 29 Feb 2024 12:00:00 +0000"},
		{-2208988800, 0, 0, "Mon, 01 Jan 1900 00:00:00 +0000"},
		{253402300799, 0, 0, "Fri, 31 Dec 9999 23:59:59 +0000"},
		{-2208988801, 0, CORE_ELIMIT, NULL},
		{253402300800, 0, CORE_ELIMIT, NULL},
		{0, 100 * 60, CORE_ELIMIT, NULL},
	};
	run_fmt_cases(cases, CORE_NELEM(cases), core_time_format_rfc5322);
}
END_TEST

static const struct parse_case rfc3339_cases[] = {
	{"2026-11-27T03:20:00Z", S | CORE_TIME_UTC, 0, T_20261127, 0},
	{"2026-11-27T04:20:00+01:00", S, 0, T_20261127, 60},
	{"2026-11-26T22:20:00-05:00", S, 0, T_20261127, -300},
	{"2026-11-27T03:20:00.123Z", S, 0, T_20261127, 0},
	{"2026-11-27T03:20:00+00:00", S, 0, T_20261127, 0},
	{"2026-11-27T03:20:00-00:00", S, NZ, T_20261127, 0},
	{"2026-11-27t03:20:00z", 0, 0, T_20261127, 0},
	{"2026-11-27 03:20:00Z", 0, 0, T_20261127, 0},
	/* RFC 3339 §5.8 examples */
	{"1985-04-12T23:20:50.52Z", S, 0, 482196050, 0},
	{"1996-12-19T16:39:57-08:00", S, 0, 851042397, -480},
	{"1990-12-31T23:59:60Z", S, 0, 662688000, 0},
	{"1990-12-31T15:59:60-08:00", S, 0, 662688000, -480},
	{"1937-01-01T12:00:27.87+00:20", S, 0, -1041337173, 20},
	{"0000-01-01T00:00:00Z", S, 0, -62167219200, 0},
	{"2000-02-29T00:00:00Z", S, 0, 951782400, 0},
	/* invalid */
	{"", 0, BAD, 0, 0},
	{"2026-11-27", 0, BAD, 0, 0},
	{"2026-11-27T03:20Z", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00", 0, BAD, 0, 0},
	{"2026-13-01T00:00:00Z", 0, BAD, 0, 0},
	{"2026-00-01T00:00:00Z", 0, BAD, 0, 0},
	{"2026-02-29T00:00:00Z", 0, BAD, 0, 0},
	{"1900-02-29T00:00:00Z", 0, BAD, 0, 0},
	{"2026-11-31T00:00:00Z", 0, BAD, 0, 0},
	{"2026-11-27T24:00:00Z", 0, BAD, 0, 0},
	{"2026-11-27T03:60:00Z", 0, BAD, 0, 0},
	{"2026-11-27T03:20:61Z", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00+24:00", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00+01:60", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00+0100", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00.Z", 0, BAD, 0, 0},
	{"26-11-27T03:20:00Z", 0, BAD, 0, 0},
	{"2026-1-27T03:20:00Z", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00Zjunk", 0, BAD, 0, 0},
	{"2026-11-27T03:20:00Z ", 0, BAD, 0, 0},
	{"2026-11-27X03:20:00Z", 0, BAD, 0, 0},
	/* strict and UTC-only */
	{"2026-11-27t03:20:00Z", S, BAD, 0, 0},
	{"2026-11-27T03:20:00z", S, BAD, 0, 0},
	{"2026-11-27 03:20:00Z", S, BAD, 0, 0},
	{"2026-11-27T04:20:00+01:00", CORE_TIME_UTC, BAD, 0, 0},
	{"2026-11-27T03:20:00+00:00", CORE_TIME_UTC, BAD, 0, 0},
};

START_TEST(test_rfc3339_parse)
{
	run_parse_cases(rfc3339_cases, CORE_NELEM(rfc3339_cases), core_time_parse_rfc3339);
}
END_TEST

START_TEST(test_rfc3339_format)
{
	static const struct fmt_case cases[] = {
		{T_20261127, 0, 0, "2026-11-27T03:20:00Z"},
		{T_20261127, 60, 0, "2026-11-27T04:20:00+01:00"},
		{T_20261127, -330, 0, "2026-11-26T21:50:00-05:30"},
		{-1041337173, 20, 0, "1937-01-01T12:00:27+00:20"},
		{-62167219200, 0, 0, "0000-01-01T00:00:00Z"},
		{253402300799, 0, 0, "9999-12-31T23:59:59Z"},
		{253402300800, 0, CORE_ELIMIT, NULL},
		{0, 24 * 60, CORE_ELIMIT, NULL},
		{0, -24 * 60, CORE_ELIMIT, NULL},
	};
	run_fmt_cases(cases, CORE_NELEM(cases), core_time_format_rfc3339);
	struct core_buf b = CORE_BUF_INIT;
	ck_assert_int_eq(core_time_format_utcdate(&b, (time_t)T_20261127), 0);
	ck_assert_str_eq(core_buf_cstr(&b), "2026-11-27T03:20:00Z");
	core_buf_fini(&b);
}
END_TEST

static const struct parse_case imap_cases[] = {
	{"27-Nov-2026 03:20:00 +0000", S, 0, T_20261127, 0},
	{"\"27-Nov-2026 03:20:00 +0000\"", S, 0, T_20261127, 0},
	{"27-Nov-2026 04:20:00 +0100", S, 0, T_20261127, 60},
	{"26-Nov-2026 22:20:00 -0500", S, 0, T_20261127, -300},
	{"27-Nov-2026 03:20:00 -0000", S, NZ, T_20261127, 0},
	{" 7-Nov-2026 03:20:00 +0000", S, 0, 1794021600, 0},
	{"07-Nov-2026 03:20:00 +0000", S, 0, 1794021600, 0},
	{"7-Nov-2026 03:20:00 +0000", 0, 0, 1794021600, 0},
	{"27-nov-2026 03:20:00 +0000", S, 0, T_20261127, 0},
	{"29-Feb-2024 12:00:00 +0000", S, 0, 1709208000, 0},
	{"31-Dec-2016 23:59:60 +0000", S, 0, 1483228800, 0},
	/* invalid */
	{"", 0, BAD, 0, 0},
	{"\"", 0, BAD, 0, 0},
	{"\"\"", 0, BAD, 0, 0},
	{"7-Nov-2026 03:20:00 +0000", S, BAD, 0, 0},
	{"27-Nov-26 03:20:00 +0000", 0, BAD, 0, 0},
	{"27-Nov-20266 03:20:00 +0000", 0, BAD, 0, 0},
	{"27 Nov 2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20 +0000", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00 GMT", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00", 0, BAD, 0, 0},
	{"\"27-Nov-2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00 +0000\"", 0, BAD, 0, 0},
	{"31-Apr-2026 03:20:00 +0000", 0, BAD, 0, 0},
	{"29-Feb-2100 03:20:00 +0000", 0, BAD, 0, 0},
	{"27-Nov-2026  03:20:00 +0000", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00 +0000 ", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00 +00000", 0, BAD, 0, 0},
	{"27-Nov-2026 03:20:00 +0099", 0, BAD, 0, 0},
	{"  7-Nov-2026 03:20:00 +0000", 0, BAD, 0, 0},
	{" 17-Nov-2026 03:20:00 +0000", 0, BAD, 0, 0},
};

START_TEST(test_imap_parse)
{
	run_parse_cases(imap_cases, CORE_NELEM(imap_cases), core_time_parse_imap);
}
END_TEST

START_TEST(test_imap_format)
{
	static const struct fmt_case cases[] = {
		{T_20261127, 0, 0, "27-Nov-2026 03:20:00 +0000"},
		{T_20261127, -300, 0, "26-Nov-2026 22:20:00 -0500"},
		{1794021600, 0, 0, " 7-Nov-2026 03:20:00 +0000"},
		{1794021600, 90, 0, " 7-Nov-2026 04:50:00 +0130"},
		{0, 0, 0, " 1-Jan-1970 00:00:00 +0000"},
		{0, -100 * 60, CORE_ELIMIT, NULL},
	};
	run_fmt_cases(cases, CORE_NELEM(cases), core_time_format_imap);
}
END_TEST

START_TEST(test_imap_date)
{
	static const struct {
		const char *in;
		int rc;
		int64_t t;
	} cases[] = {
		{"7-Nov-2026", 0, 1794009600},
		{"07-Nov-2026", 0, 1794009600},
		{"\"27-Nov-2026\"", 0, T_20261127 - 3 * 3600 - 20 * 60},
		{"27-NOV-2026", 0, T_20261127 - 3 * 3600 - 20 * 60},
		{"27-Nov-2026 03:00", BAD, 0},
		{" 7-Nov-2026", BAD, 0},
		{"31-Nov-2026", BAD, 0},
		{"27-Nov-26", BAD, 0},
		{"", BAD, 0},
	};
	for (size_t i = 0; i < CORE_NELEM(cases); i++) {
		time_t t = 0;
		int rc = core_time_parse_imap_date(cases[i].in, strlen(cases[i].in), &t, NULL);
		ck_assert_msg(rc == cases[i].rc, "'%s' rc %d", cases[i].in, rc);
		if (rc == 0)
			ck_assert_int_eq((int64_t)t, cases[i].t);
	}
}
END_TEST

/* Formatting then parsing gives back the same instant and offset, for all three formats. */
START_TEST(test_round_trip)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		/* 1900 .. 9999, offsets within +-23:59 */
		int64_t span = 253402300799 - -2208988800 - 4 * 86400;
		int64_t t = -2208988800 + 2 * 86400 + (int64_t)((seed >> 16) % (uint64_t)span);
		int off = (int)((seed >> 8) % (2 * 1439 + 1)) - 1439;
		struct core_buf b = CORE_BUF_INIT;
		time_t pt = 0;
		int poff = 0;
		/* Plain ifs: a passing ck_assert costs a write in fork mode. */
		if (core_time_format_rfc5322(&b, (time_t)t, off) != 0 ||
		    core_time_parse_rfc5322(b.p, b.len, CORE_TIME_STRICT, &pt, &poff, NULL) != 0 ||
		    (int64_t)pt != t || poff != off)
			ck_abort_msg("rfc5322 %lld %d: '%s'", (long long)t, off, core_buf_cstr(&b));
		core_buf_reset(&b);
		if (core_time_format_rfc3339(&b, (time_t)t, off) != 0 ||
		    core_time_parse_rfc3339(b.p, b.len, CORE_TIME_STRICT, &pt, &poff, NULL) != 0 ||
		    (int64_t)pt != t || poff != off)
			ck_abort_msg("rfc3339 %lld %d: '%s'", (long long)t, off, core_buf_cstr(&b));
		core_buf_reset(&b);
		if (core_time_format_imap(&b, (time_t)t, off) != 0 ||
		    core_time_parse_imap(b.p, b.len, CORE_TIME_STRICT, &pt, &poff, NULL) != 0 ||
		    (int64_t)pt != t || poff != off)
			ck_abort_msg("imap %lld %d: '%s'", (long long)t, off, core_buf_cstr(&b));
		core_buf_fini(&b);
	}
}
END_TEST

static Suite *time_suite(void)
{
	Suite *s = suite_create("core_time");
	TCase *tc = tcase_create("time");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_leap_years);
	tcase_add_test(tc, test_civil_walk);
	tcase_add_test(tc, test_to_tm_limits);
	tcase_add_test(tc, test_from_tm_ranges);
	tcase_add_test(tc, test_rfc5322_parse);
	tcase_add_test(tc, test_rfc5322_parse_embedded_nul);
	tcase_add_test(tc, test_rfc5322_format);
	tcase_add_test(tc, test_rfc3339_parse);
	tcase_add_test(tc, test_rfc3339_format);
	tcase_add_test(tc, test_imap_parse);
	tcase_add_test(tc, test_imap_format);
	tcase_add_test(tc, test_imap_date);
	tcase_add_test(tc, test_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(time_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
