/*
 * core_time.h: calendar arithmetic and the date-time formats of mail protocols.
 *
 * RFCs: RFC 5322 §3.3 and §4.3 (message Date: header, with the obsolete forms), RFC 3339 §5.6
 * (JMAP Date and UTCDate, RFC 8620 §1.4), RFC 9051 §9 date-time and date (IMAP INTERNALDATE,
 * APPEND, SEARCH).
 *
 * The arithmetic is our own proleptic Gregorian calendar over years 0000-9999: nothing here
 * reads the locale, the TZ environment or the system time zone database, so results are the
 * same on every host. A time_t is seconds since 1970-01-01T00:00:00Z without leap seconds;
 * a parsed second "60" therefore lands on the first second of the next minute.
 * Zone offsets are minutes east of UTC (+0100 is 60, -0500 is -300).
 *
 * Ownership: inputs are borrowed for the call; formatters append to a caller-owned
 * struct core_buf and append nothing on error.
 */
#ifndef STAUNCH_CORE_TIME_H
#define STAUNCH_CORE_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct core_buf;
struct core_error;

/* Parse result (>= 0): the date-time was valid but its zone says nothing about local time:
 * "-0000", a military zone or an unknown zone name (RFC 5322 §3.3, §4.3), or "-00:00" (RFC 3339
 * §4.3). The offset returned is then 0 and the time is UTC. */
#define CORE_TIME_NOZONE 1

/* Parse flags. */
enum core_time_flags {
	/* Only the current grammar. RFC 5322: four-digit years, numeric zones, two-digit hours,
	 * a three-letter day-of-week that matches the date. RFC 3339: upper-case "T" and "Z",
	 * no space separator. IMAP: a two-digit or space-padded day. */
	CORE_TIME_STRICT = 1 << 0,
	/* RFC 3339: the offset must be "Z" (JMAP UTCDate, RFC 8620 §1.4). */
	CORE_TIME_UTC = 1 << 1,
};

/* Largest zone offsets: RFC 5322 zone is +-hhmm with hh up to 99, RFC 3339 hh up to 23. */
#define CORE_TIME_OFFSET_MAX (99 * 60 + 59)
#define CORE_TIME_OFFSET3339_MAX (23 * 60 + 59)

/* A broken-down civil time. */
struct core_tm {
	int year; /* 0-9999 */
	int mon;  /* 1-12 */
	int mday; /* 1-31 */
	int hour; /* 0-23 */
	int min;  /* 0-59 */
	int sec;  /* 0-59 (60 only on input) */
	int wday; /* 0 = Sunday ... 6 = Saturday, output only */
};

bool core_time_is_leap(int year);
/* Days in month mon (1-12) of year, 0 for a bad month. */
int core_time_days_in_month(int year, int mon);
/* Days since 1970-01-01 of a valid date (year 0-9999); the inverse is core_time_to_tm. */
int64_t core_time_days_from_civil(int year, int mon, int mday);

/*
 * Local civil time of t at offset_min: CORE_ELIMIT when the local year is outside 0000-9999
 * or |offset_min| > CORE_TIME_OFFSET_MAX.
 */
int core_time_to_tm(time_t t, int offset_min, struct core_tm *tm_out);
/*
 * UTC time of a local civil time at offset_min (timegm with an offset). Validates every field
 * (day within its month, hour 0-23, minute 0-59, second 0-60): CORE_ESYNTAX when out of range.
 */
int core_time_from_tm(const struct core_tm *tm, int offset_min, time_t *t_out,
		      struct core_error *err);

/* RFC 5322 §3.3: "Fri, 27 Nov 2026 03:20:00 +0000". Local year must be 1900-9999. */
int core_time_format_rfc5322(struct core_buf *out, time_t t, int offset_min);
/*
 * RFC 5322 §3.3 date-time, and (unless CORE_TIME_STRICT) the §4.3 obsolete forms: 2- and
 * 3-digit years, the zone names UT GMT EST EDT CST CDT MST MDT PST PDT, military and unknown
 * zone names (as "-0000"); day-of-week optional; seconds optional; comments and folding white
 * space anywhere between tokens. Returns 0 or CORE_TIME_NOZONE with *t_out (UTC) and
 * *offset_out, or CORE_ESYNTAX.
 */
int core_time_parse_rfc5322(const char *p, size_t len, unsigned flags, time_t *t_out,
			    int *offset_out, struct core_error *err);

/*
 * RFC 3339 §5.6 date-time: "2026-11-27T03:20:00Z" when offset_min is 0, else with a numeric
 * offset "2026-11-27T04:20:00+01:00". Never fractional seconds (RFC 8620 §1.4). Local year must
 * be 0000-9999 and |offset_min| <= CORE_TIME_OFFSET3339_MAX.
 */
int core_time_format_rfc3339(struct core_buf *out, time_t t, int offset_min);
/* RFC 3339 in UTC: the JMAP UTCDate form. */
int core_time_format_utcdate(struct core_buf *out, time_t t);
/*
 * RFC 3339 §5.6 date-time. Fractional seconds are accepted and dropped (time is truncated to
 * the second). "t"/"z" in lower case and a space instead of "T" (§5.6 notes) are accepted
 * unless CORE_TIME_STRICT; CORE_TIME_UTC requires "Z". Returns 0, CORE_TIME_NOZONE for
 * "-00:00", or CORE_ESYNTAX.
 */
int core_time_parse_rfc3339(const char *p, size_t len, unsigned flags, time_t *t_out,
			    int *offset_out, struct core_error *err);

/* RFC 9051 §9 date-time without the quotes: "27-Nov-2026 03:20:00 +0000", the day padded with
 * a space (date-day-fixed, " 7-Nov-2026 ..."). Local year must be 0000-9999. */
int core_time_format_imap(struct core_buf *out, time_t t, int offset_min);
/*
 * RFC 9051 §9 date-time, with or without the surrounding DQUOTEs. The day may be " 7" or
 * "07", and also "7" unless CORE_TIME_STRICT; month names are case-insensitive. Returns 0 or
 * CORE_TIME_NOZONE ("-0000"), or CORE_ESYNTAX.
 */
int core_time_parse_imap(const char *p, size_t len, unsigned flags, time_t *t_out, int *offset_out,
			 struct core_error *err);
/* RFC 9051 §9 date ("7-Nov-2026", quoted or not, as in SEARCH SINCE): *t_out is 00:00:00 UTC
 * of that day. */
int core_time_parse_imap_date(const char *p, size_t len, time_t *t_out, struct core_error *err);

#endif
