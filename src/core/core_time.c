/* core_time.c: calendar arithmetic and date-time formats (RFC 5322 §3.3/§4.3, RFC 3339 §5.6,
 * RFC 9051 §9). No locale, no TZ: every conversion is computed here. */
#include "core/core_time.h"

#include <stddef.h>

#include "core/core_buf.h"
#include "core/core_err.h"
#include "core/core_mem.h"
#include "core/core_str.h"

#define SECS_PER_DAY 86400
/* Days from 0000-01-01 to 1970-01-01 in the proleptic Gregorian calendar. */
#define EPOCH_DAYS 719528
/* Supported range: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define T_MIN ((int64_t)-EPOCH_DAYS * SECS_PER_DAY)
#define T_MAX ((int64_t)(3652425 - EPOCH_DAYS) * SECS_PER_DAY - 1)

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_full_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					      "Thursday", "Friday", "Saturday"};
/* Days before the first of each month in a common year. */
static const int days_before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

bool core_time_is_leap(int year)
{
	/* Gregorian rule: every 4th year, except centuries, except every 4th century. */
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int core_time_days_in_month(int year, int mon)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (mon < 1 || mon > 12)
		return 0;
	return mdays[mon - 1] + (mon == 2 && core_time_is_leap(year));
}

/* Days from 0000-01-01 to the first of January of year y (y >= 0): 365 a year plus one for
 * each leap year in [0, y-1]; year 0 is a leap year. */
static int64_t days_before_year(int64_t y)
{
	return 365 * y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
}

int64_t core_time_days_from_civil(int year, int mon, int mday)
{
	int64_t d = days_before_year(year) + days_before_month[mon - 1] + (mday - 1);
	if (mon > 2 && core_time_is_leap(year))
		d++;
	return d - EPOCH_DAYS;
}

int core_time_to_tm(time_t t, int offset_min, struct core_tm *tm_out)
{
	if (offset_min < -CORE_TIME_OFFSET_MAX || offset_min > CORE_TIME_OFFSET_MAX)
		return CORE_ELIMIT;
	int64_t t64 = (int64_t)t;
	/* Check before adding the offset so the sum cannot overflow. */
	if (t64 < T_MIN - CORE_TIME_OFFSET_MAX * 60 || t64 > T_MAX + CORE_TIME_OFFSET_MAX * 60)
		return CORE_ELIMIT;
	int64_t local = t64 + (int64_t)offset_min * 60;
	if (local < T_MIN || local > T_MAX)
		return CORE_ELIMIT;
	int64_t days = (local - T_MIN) / SECS_PER_DAY; /* since 0000-01-01, >= 0 */
	int64_t secs = (local - T_MIN) % SECS_PER_DAY;
	/* Estimate the year (146097 days per 400 years), then correct by at most a step. */
	int64_t y = days * 400 / 146097;
	while (y > 0 && days_before_year(y) > days)
		y--;
	while (days_before_year(y + 1) <= days)
		y++;
	int doy = (int)(days - days_before_year(y));
	bool leap = core_time_is_leap((int)y);
	int mon = 12;
	while (mon > 1) {
		int start = days_before_month[mon - 1] + (leap && mon > 2);
		if (doy >= start)
			break;
		mon--;
	}
	tm_out->year = (int)y;
	tm_out->mon = mon;
	tm_out->mday = doy - (days_before_month[mon - 1] + (leap && mon > 2)) + 1;
	tm_out->hour = (int)(secs / 3600);
	tm_out->min = (int)(secs / 60 % 60);
	tm_out->sec = (int)(secs % 60);
	/* 0000-01-01 was a Saturday (day 6) in the proleptic Gregorian calendar. */
	tm_out->wday = (int)((days + 6) % 7);
	return 0;
}

static int tm_weekday(int64_t days_since_epoch)
{
	/* 1970-01-01 was a Thursday (day 4). */
	int64_t w = (days_since_epoch + 4) % 7;
	return (int)(w < 0 ? w + 7 : w);
}

int core_time_from_tm(const struct core_tm *tm, int offset_min, time_t *t_out,
		      struct core_error *err)
{
	const char *rule = "RFC 5322 §3.3";
	if (tm->year < 0 || tm->year > 9999)
		return core_error_set(err, CORE_ESYNTAX, rule, "year out of range");
	if (tm->mon < 1 || tm->mon > 12)
		return core_error_set(err, CORE_ESYNTAX, rule, "month out of range");
	if (tm->mday < 1 || tm->mday > core_time_days_in_month(tm->year, tm->mon))
		return core_error_set(err, CORE_ESYNTAX, rule, "day out of range for the month");
	if (tm->hour < 0 || tm->hour > 23)
		return core_error_set(err, CORE_ESYNTAX, rule, "hour out of range");
	if (tm->min < 0 || tm->min > 59)
		return core_error_set(err, CORE_ESYNTAX, rule, "minute out of range");
	/* 60 allows for a leap second (RFC 5322 §3.3, RFC 3339 §5.7). */
	if (tm->sec < 0 || tm->sec > 60)
		return core_error_set(err, CORE_ESYNTAX, rule, "second out of range");
	if (offset_min < -CORE_TIME_OFFSET_MAX || offset_min > CORE_TIME_OFFSET_MAX)
		return core_error_set(err, CORE_ESYNTAX, rule, "zone offset out of range");
	int64_t days = core_time_days_from_civil(tm->year, tm->mon, tm->mday);
	int64_t t = days * SECS_PER_DAY + tm->hour * 3600 + tm->min * 60 + tm->sec -
		    (int64_t)offset_min * 60;
	*t_out = (time_t)t;
	return 0;
}

/* Local time of t for formatting, with the year range the format allows. */
static int fmt_prepare(time_t t, int offset_min, int max_off, int min_year, struct core_tm *tm)
{
	if (offset_min < -max_off || offset_min > max_off)
		return CORE_ELIMIT;
	int rc = core_time_to_tm(t, offset_min, tm);
	if (rc < 0)
		return rc;
	if (tm->year < min_year)
		return CORE_ELIMIT;
	return 0;
}

static void fmt_zone(struct core_buf *out, int offset_min, bool colon)
{
	char sign = offset_min < 0 ? '-' : '+';
	int a = offset_min < 0 ? -offset_min : offset_min;
	core_buf_printf(out, colon ? "%c%02d:%02d" : "%c%02d%02d", sign, a / 60, a % 60);
}

int core_time_format_rfc5322(struct core_buf *out, time_t t, int offset_min)
{
	struct core_tm tm;
	/* RFC 5322 §3.3: the year is 1900 or later. */
	int rc = fmt_prepare(t, offset_min, CORE_TIME_OFFSET_MAX, 1900, &tm);
	if (rc < 0)
		return rc;
	core_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d ", day_names[tm.wday], tm.mday,
			month_names[tm.mon - 1], tm.year, tm.hour, tm.min, tm.sec);
	fmt_zone(out, offset_min, false);
	return 0;
}

int core_time_format_rfc3339(struct core_buf *out, time_t t, int offset_min)
{
	struct core_tm tm;
	int rc = fmt_prepare(t, offset_min, CORE_TIME_OFFSET3339_MAX, 0, &tm);
	if (rc < 0)
		return rc;
	core_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d", tm.year, tm.mon, tm.mday, tm.hour,
			tm.min, tm.sec);
	if (offset_min == 0)
		core_buf_putc(out, 'Z');
	else
		fmt_zone(out, offset_min, true);
	return 0;
}

int core_time_format_utcdate(struct core_buf *out, time_t t)
{
	return core_time_format_rfc3339(out, t, 0);
}

int core_time_format_imap(struct core_buf *out, time_t t, int offset_min)
{
	struct core_tm tm;
	int rc = fmt_prepare(t, offset_min, CORE_TIME_OFFSET_MAX, 0, &tm);
	if (rc < 0)
		return rc;
	/* RFC 9051 §9 date-day-fixed: a single-digit day is preceded by a space. */
	core_buf_printf(out, "%2d-%s-%04d %02d:%02d:%02d ", tm.mday, month_names[tm.mon - 1],
			tm.year, tm.hour, tm.min, tm.sec);
	fmt_zone(out, offset_min, false);
	return 0;
}

/* ---- parsing ---- */

struct tp {
	const unsigned char *s;
	size_t len;
	size_t i;
};

static bool tp_end(const struct tp *c)
{
	return c->i >= c->len;
}

static int tp_peek(const struct tp *c)
{
	return c->i < c->len ? c->s[c->i] : -1;
}

static bool tp_eat(struct tp *c, int ch)
{
	if (tp_peek(c) != ch)
		return false;
	c->i++;
	return true;
}

/* Consume a run of digits; returns how many, *val_out saturates at 999999999. */
static size_t tp_number(struct tp *c, int *val_out)
{
	size_t n = 0;
	int v = 0;
	while (c->i < c->len && core_ascii_isdigit(c->s[c->i])) {
		if (v < 100000000)
			v = v * 10 + (c->s[c->i] - '0');
		else
			v = 999999999;
		c->i++;
		n++;
	}
	*val_out = v;
	return n;
}

/* Exactly n digits (the next character may be anything but a digit is not checked). */
static bool tp_fixed(struct tp *c, size_t n, int *val_out)
{
	if (c->len - c->i < n)
		return false;
	int v = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char ch = c->s[c->i + k];
		if (!core_ascii_isdigit(ch))
			return false;
		v = v * 10 + (ch - '0');
	}
	c->i += n;
	*val_out = v;
	return true;
}

/* Consume a run of ASCII letters as a view. */
static struct core_str tp_word(struct tp *c)
{
	size_t start = c->i;
	while (c->i < c->len && core_ascii_isalpha(c->s[c->i]))
		c->i++;
	return core_str_make((const char *)c->s + start, c->i - start);
}

/* Index of w in a name table (case-insensitive, as ABNF literals are), or -1. */
static int name_index(struct core_str w, const char *const *names, int count)
{
	for (int k = 0; k < count; k++) {
		if (core_str_eq_cstr_ci(w, names[k]))
			return k;
	}
	return -1;
}

/*
 * RFC 5322 §3.2.2 CFWS: white space (folding included) and comments, which nest and may
 * hold quoted-pairs. Returns false for an unterminated comment.
 */
static bool tp_cfws(struct tp *c)
{
	while (c->i < c->len) {
		unsigned char ch = c->s[c->i];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->i++;
			continue;
		}
		if (ch != '(')
			break;
		size_t depth = 0;
		while (c->i < c->len) {
			ch = c->s[c->i];
			if (ch == '\\') {
				c->i += c->i + 1 < c->len ? 2 : 1;
				continue;
			}
			c->i++;
			if (ch == '(')
				depth++;
			else if (ch == ')' && --depth == 0)
				break;
		}
		if (depth != 0)
			return false;
	}
	return true;
}

struct zone_name {
	const char *name;
	int offset; /* minutes */
};

/* RFC 5322 §4.3 obs-zone: the North American zone names and Universal Time. */
static const struct zone_name obs_zones[] = {
	{"UT", 0},     {"GMT", 0},    {"EST", -300}, {"EDT", -240}, {"CST", -360},
	{"CDT", -300}, {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420},
};

static int bad(struct core_error *err, const char *rule, const char *what)
{
	return core_error_set(err, CORE_ESYNTAX, rule, "bad date-time: %s", what);
}

/* Finish a parse: validate and convert; rc_ok is 0 or CORE_TIME_NOZONE. */
static int finish(const struct core_tm *tm, int offset, int rc_ok, time_t *t_out, int *offset_out,
		  struct core_error *err)
{
	time_t t = 0;
	int rc = core_time_from_tm(tm, offset, &t, err);
	if (rc < 0)
		return rc;
	*t_out = t;
	*offset_out = offset;
	return rc_ok;
}

int core_time_parse_rfc5322(const char *p, size_t len, unsigned flags, time_t *t_out,
			    int *offset_out, struct core_error *err)
{
	const char *rule = "RFC 5322 §3.3";
	const char *obs = "RFC 5322 §4.3";
	bool strict = flags & CORE_TIME_STRICT;
	struct tp c = {(const unsigned char *)p, len, 0};
	struct core_tm tm = {0};
	int wday = -1;
	int v;

	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	/* [ day-of-week "," ] */
	if (core_ascii_isalpha(tp_peek(&c))) {
		struct core_str w = tp_word(&c);
		wday = name_index(w, day_names, 7);
		if (wday < 0 && !strict)
			wday = name_index(w, day_full_names, 7);
		if (wday < 0)
			return bad(err, rule, "unknown day of week");
		if (!tp_cfws(&c))
			return bad(err, rule, "unterminated comment");
		if (!tp_eat(&c, ','))
			return bad(err, rule, "expected ',' after day of week");
		if (!tp_cfws(&c))
			return bad(err, rule, "unterminated comment");
	}
	/* day: 1*2DIGIT */
	size_t n = tp_number(&c, &tm.mday);
	if (n < 1 || n > 2)
		return bad(err, rule, "expected day of month");
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	/* month name */
	int mon = name_index(tp_word(&c), month_names, 12);
	if (mon < 0)
		return bad(err, rule, "unknown month");
	tm.mon = mon + 1;
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	/* year: 4*DIGIT, or obs-year 2*DIGIT */
	n = tp_number(&c, &tm.year);
	if (n >= 4) {
		if (n > 4 && tm.year > 9999)
			return bad(err, rule, "year out of range");
		/* RFC 5322 §3.3: the year is 1900 or later. */
		if (tm.year < 1900)
			return bad(err, rule, "year before 1900");
	} else if (n >= 2 && !strict) {
		/* RFC 5322 §4.3: 00-49 are 2000-2049, 50-99 are 1950-1999, three digits add 1900.
		 */
		if (n == 2)
			tm.year += tm.year < 50 ? 2000 : 1900;
		else
			tm.year += 1900;
	} else {
		return bad(err, n >= 2 ? obs : rule, "expected a four-digit year");
	}
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	/* time-of-day: hour ":" minute [ ":" second ] (obs: CFWS around the parts) */
	n = tp_number(&c, &tm.hour);
	if (n < 1 || n > 2 || (strict && n != 2))
		return bad(err, rule, "expected hour");
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	if (!tp_eat(&c, ':'))
		return bad(err, rule, "expected ':' after hour");
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	if (tp_number(&c, &tm.min) != 2)
		return bad(err, rule, "expected two-digit minute");
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	if (tp_eat(&c, ':')) {
		if (!tp_cfws(&c))
			return bad(err, rule, "unterminated comment");
		if (tp_number(&c, &tm.sec) != 2)
			return bad(err, rule, "expected two-digit second");
		if (!tp_cfws(&c))
			return bad(err, rule, "unterminated comment");
	}
	/* zone: ("+" / "-") 4DIGIT, or obs-zone */
	int offset = 0;
	int rc_ok = 0;
	int sign = tp_peek(&c);
	if (sign == '+' || sign == '-') {
		c.i++;
		if (!tp_fixed(&c, 4, &v) || core_ascii_isdigit(tp_peek(&c)))
			return bad(err, rule, "zone must be four digits");
		/* RFC 5322 §3.3: the minutes of the zone are 00-59. */
		if (v % 100 > 59)
			return bad(err, rule, "zone minutes out of range");
		offset = (v / 100) * 60 + v % 100;
		if (sign == '-') {
			/* "-0000": Universal Time with no information on the local zone. */
			if (offset == 0)
				rc_ok = CORE_TIME_NOZONE;
			offset = -offset;
		}
	} else if (core_ascii_isalpha(sign) && !strict) {
		struct core_str w = tp_word(&c);
		if (w.len > 5)
			return bad(err, obs, "unknown zone");
		rc_ok = CORE_TIME_NOZONE;
		for (size_t k = 0; k < CORE_NELEM(obs_zones); k++) {
			if (core_str_eq_cstr_ci(w, obs_zones[k].name)) {
				offset = obs_zones[k].offset;
				rc_ok = 0;
				break;
			}
		}
		/* RFC 5322 §4.3: military zones and unknown names are taken as "-0000". */
	} else {
		return bad(err, rule, "expected zone");
	}
	if (!tp_cfws(&c))
		return bad(err, rule, "unterminated comment");
	if (!tp_end(&c))
		return bad(err, rule, "unexpected text after zone");
	/* RFC 5322 §3.3: the day-of-week, when present, is the one the date implies. */
	if (strict && wday >= 0 && tm.mday >= 1 &&
	    core_time_days_in_month(tm.year, tm.mon) >= tm.mday &&
	    wday != tm_weekday(core_time_days_from_civil(tm.year, tm.mon, tm.mday)))
		return bad(err, rule, "day of week does not match the date");
	return finish(&tm, offset, rc_ok, t_out, offset_out, err);
}

int core_time_parse_rfc3339(const char *p, size_t len, unsigned flags, time_t *t_out,
			    int *offset_out, struct core_error *err)
{
	const char *rule = "RFC 3339 §5.6";
	bool strict = flags & CORE_TIME_STRICT;
	struct tp c = {(const unsigned char *)p, len, 0};
	struct core_tm tm = {0};
	/* full-date = date-fullyear "-" date-month "-" date-mday */
	if (!tp_fixed(&c, 4, &tm.year) || !tp_eat(&c, '-') || !tp_fixed(&c, 2, &tm.mon) ||
	    !tp_eat(&c, '-') || !tp_fixed(&c, 2, &tm.mday))
		return bad(err, rule, "expected YYYY-MM-DD");
	/* §5.6 NOTE: "T" may be lower case, or a space for readability. */
	int sep = tp_peek(&c);
	if (!(sep == 'T' || (!strict && (sep == 't' || sep == ' '))))
		return bad(err, rule, "expected 'T'");
	c.i++;
	/* partial-time = time-hour ":" time-minute ":" time-second [time-secfrac] */
	if (!tp_fixed(&c, 2, &tm.hour) || !tp_eat(&c, ':') || !tp_fixed(&c, 2, &tm.min) ||
	    !tp_eat(&c, ':') || !tp_fixed(&c, 2, &tm.sec))
		return bad(err, rule, "expected hh:mm:ss");
	if (tp_eat(&c, '.')) {
		int frac;
		if (tp_number(&c, &frac) == 0)
			return bad(err, rule, "expected digits after '.'");
	}
	/* time-offset = "Z" / time-numoffset */
	int offset = 0;
	int rc_ok = 0;
	int z = tp_peek(&c);
	if (z == 'Z' || (!strict && z == 'z')) {
		c.i++;
	} else if (z == '+' || z == '-') {
		int oh, om;
		c.i++;
		if (!tp_fixed(&c, 2, &oh) || !tp_eat(&c, ':') || !tp_fixed(&c, 2, &om))
			return bad(err, rule, "expected offset +hh:mm");
		if (oh > 23 || om > 59)
			return bad(err, rule, "offset out of range");
		if (flags & CORE_TIME_UTC)
			return bad(err, "RFC 8620 §1.4", "UTCDate must end in 'Z'");
		offset = oh * 60 + om;
		if (z == '-') {
			/* RFC 3339 §4.3: "-00:00" means the local offset is unknown. */
			if (offset == 0)
				rc_ok = CORE_TIME_NOZONE;
			offset = -offset;
		}
	} else {
		return bad(err, rule, "expected 'Z' or an offset");
	}
	if (!tp_end(&c))
		return bad(err, rule, "unexpected text after offset");
	return finish(&tm, offset, rc_ok, t_out, offset_out, err);
}

/* RFC 9051 §9: the "DD-Mon-YYYY" part shared by date and date-time. day_fixed allows the
 * SP DIGIT form of date-day-fixed. */
static bool imap_date_part(struct tp *c, bool strict, bool day_fixed, struct core_tm *tm)
{
	size_t n;
	if (day_fixed && tp_eat(c, ' ')) {
		n = tp_number(c, &tm->mday);
		if (n != 1)
			return false;
	} else {
		n = tp_number(c, &tm->mday);
		if (n < 1 || n > 2 || (strict && day_fixed && n != 2))
			return false;
	}
	if (!tp_eat(c, '-'))
		return false;
	int mon = name_index(tp_word(c), month_names, 12);
	if (mon < 0 || !tp_eat(c, '-'))
		return false;
	tm->mon = mon + 1;
	return tp_fixed(c, 4, &tm->year) && !core_ascii_isdigit(tp_peek(c));
}

/* Strip matching DQUOTEs around an IMAP string; false if only one is there. */
static bool imap_unquote(struct tp *c)
{
	if (c->len > 0 && c->s[0] == '"') {
		if (c->len < 2 || c->s[c->len - 1] != '"')
			return false;
		c->i = 1;
		c->len--;
	} else if (c->len > 0 && c->s[c->len - 1] == '"') {
		return false;
	}
	return true;
}

int core_time_parse_imap(const char *p, size_t len, unsigned flags, time_t *t_out, int *offset_out,
			 struct core_error *err)
{
	const char *rule = "RFC 9051 §9";
	bool strict = flags & CORE_TIME_STRICT;
	struct tp c = {(const unsigned char *)p, len, 0};
	struct core_tm tm = {0};
	if (!imap_unquote(&c))
		return bad(err, rule, "unbalanced quotes");
	if (!imap_date_part(&c, strict, true, &tm))
		return bad(err, rule, "expected DD-Mon-YYYY");
	/* SP time SP zone; time = 2DIGIT ":" 2DIGIT ":" 2DIGIT */
	if (!tp_eat(&c, ' ') || !tp_fixed(&c, 2, &tm.hour) || !tp_eat(&c, ':') ||
	    !tp_fixed(&c, 2, &tm.min) || !tp_eat(&c, ':') || !tp_fixed(&c, 2, &tm.sec))
		return bad(err, rule, "expected hh:mm:ss");
	int sign, v;
	if (!tp_eat(&c, ' '))
		return bad(err, rule, "expected zone");
	sign = tp_peek(&c);
	if (sign != '+' && sign != '-')
		return bad(err, rule, "expected zone sign");
	c.i++;
	if (!tp_fixed(&c, 4, &v) || !tp_end(&c))
		return bad(err, rule, "zone must be four digits");
	if (v % 100 > 59)
		return bad(err, rule, "zone minutes out of range");
	int offset = (v / 100) * 60 + v % 100;
	int rc_ok = 0;
	if (sign == '-') {
		if (offset == 0)
			rc_ok = CORE_TIME_NOZONE;
		offset = -offset;
	}
	return finish(&tm, offset, rc_ok, t_out, offset_out, err);
}

int core_time_parse_imap_date(const char *p, size_t len, time_t *t_out, struct core_error *err)
{
	const char *rule = "RFC 9051 §9";
	struct tp c = {(const unsigned char *)p, len, 0};
	struct core_tm tm = {0};
	int offset;
	if (!imap_unquote(&c))
		return bad(err, rule, "unbalanced quotes");
	if (!imap_date_part(&c, false, false, &tm) || !tp_end(&c))
		return bad(err, rule, "expected D-Mon-YYYY");
	return finish(&tm, 0, 0, t_out, &offset, err);
}
