/*
 * mail_charset.c: MIME charset names to UTF-8 through iconv, with the corrections real mail
 * needs.
 *
 * RFC 2046 §4.1.2 (charset parameter, us-ascii default), RFC 2978 (charset registry names,
 * case-insensitive), RFC 6532 §3.2 (UTF-8 header text). Mislabel rules:
 *  - iso-8859-1 / us-ascii declared, windows-1252 bytes: 0x80-0x9F are almost never C1
 *    controls in mail, so iso-8859-1 is read as windows-1252 (the WHATWG Encoding Standard
 *    does the same); the five octets windows-1252 leaves undefined keep their latin-1 value,
 *    so no octet is lost.
 *  - us-ascii declared but 8-bit: UTF-8 when the octets are valid UTF-8, else windows-1252.
 *  - utf-8 declared but not one valid multi-octet sequence: windows-1252.
 *  - unknown charset: UTF-8 when valid, else windows-1252 (every octet maps to a character).
 *  - other charsets: iconv; an invalid sequence becomes U+FFFD and conversion resumes.
 * iconv descriptors are cached per thread (ARCHITECTURE.md §3: iconv_t is a per-thread
 * handle) and closed when the thread exits or on mail_charset_cache_flush().
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_utf8.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

/* windows-1252 0x80-0x9F; 0 marks the five undefined octets, which keep their latin-1 value. */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
	0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
	0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

void mail_charset_cp1252_append(const void *p, size_t len, struct core_buf *out)
{
	const unsigned char *s = p;
	core_buf_reserve(out, len + len / 2);
	for (size_t i = 0; i < len; i++) {
		unsigned c = s[i];
		if (c < 0x80) {
			core_buf_putc(out, (char)c);
			continue;
		}
		uint32_t cp = c;
		if (c < 0xA0 && cp1252_c1[c - 0x80] != 0)
			cp = cp1252_c1[c - 0x80];
		core_utf8_append(out, cp);
	}
}

/* Append U+FFFD, the replacement character. */
static void append_fffd(struct core_buf *out)
{
	core_buf_append(out, "\xEF\xBF\xBD", 3);
}

/* UTF-8 with each invalid octet replaced by U+FFFD. */
static void utf8_append_replacing(const unsigned char *s, size_t len, struct core_buf *out)
{
	size_t i = 0;
	while (i < len) {
		size_t bad;
		if (core_utf8_validate(s + i, len - i, &bad) == 0) {
			core_buf_append(out, s + i, len - i);
			return;
		}
		core_buf_append(out, s + i, bad);
		append_fffd(out);
		i += bad + 1;
	}
}

/* True when s holds at least one valid multi-octet UTF-8 sequence. */
static bool has_utf8_sequence(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0xC2)
			continue;
		uint32_t cp;
		if (core_utf8_decode(s + i, len - i, &cp) > 1)
			return true;
	}
	return false;
}

/* Name of what the unknown-charset rule reads p as. */
static const char *unknown_eff(const void *p, size_t len)
{
	if (core_utf8_is_ascii(p, len))
		return "US-ASCII";
	return core_utf8_is_valid(p, len) ? "UTF-8" : "WINDOWS-1252";
}

int mail_charset_unknown_append(const void *p, size_t len, struct core_buf *out)
{
	if (core_utf8_is_valid(p, len)) {
		core_buf_append(out, p, len);
		return MAIL_CHARSET_OK;
	}
	mail_charset_cp1252_append(p, len, out);
	return MAIL_CHARSET_FALLBACK;
}

/* ------------------------------------------------------------------------------------- */
/* Names                                                                                   */
/* ------------------------------------------------------------------------------------- */

enum cs_kind { CS_ICONV, CS_ASCII, CS_LATIN1, CS_UTF8, CS_UNKNOWN };

struct cs_alias {
	const char *name; /* lower-case MIME name */
	enum cs_kind kind;
	const char *iconv; /* for CS_ICONV */
};

/* Names that iconv lacks or that real mail uses for a superset. */
static const struct cs_alias aliases[] = {
	{"us-ascii", CS_ASCII, NULL},
	{"ascii", CS_ASCII, NULL},
	{"ansi_x3.4-1968", CS_ASCII, NULL},
	{"iso-ir-6", CS_ASCII, NULL},
	{"us", CS_ASCII, NULL},
	{"iso-8859-1", CS_LATIN1, NULL},
	{"iso8859-1", CS_LATIN1, NULL},
	{"iso_8859-1", CS_LATIN1, NULL},
	{"iso_8859-1:1987", CS_LATIN1, NULL},
	{"latin1", CS_LATIN1, NULL},
	{"latin-1", CS_LATIN1, NULL},
	{"l1", CS_LATIN1, NULL},
	{"cp819", CS_LATIN1, NULL},
	{"windows-1252", CS_LATIN1, NULL},
	{"cp1252", CS_LATIN1, NULL},
	{"x-cp1252", CS_LATIN1, NULL},
	{"utf-8", CS_UTF8, NULL},
	{"utf8", CS_UTF8, NULL},
	{"x-unknown", CS_UNKNOWN, NULL},
	{"unknown", CS_UNKNOWN, NULL},
	{"unknown-8bit", CS_UNKNOWN, NULL},
	{"x-user-defined", CS_UNKNOWN, NULL},
	{"default", CS_UNKNOWN, NULL},
	/* Supersets: Korean, simplified Chinese, Japanese, Hebrew visual/logical. */
	{"ks_c_5601-1987", CS_ICONV, "CP949"},
	{"ks_c_5601", CS_ICONV, "CP949"},
	{"ksc5601", CS_ICONV, "CP949"},
	{"euc-kr", CS_ICONV, "CP949"},
	{"gb2312", CS_ICONV, "GB18030"},
	{"gbk", CS_ICONV, "GB18030"},
	{"x-gbk", CS_ICONV, "GB18030"},
	{"cp936", CS_ICONV, "GB18030"},
	{"shift_jis", CS_ICONV, "CP932"},
	{"shift-jis", CS_ICONV, "CP932"},
	{"sjis", CS_ICONV, "CP932"},
	{"x-sjis", CS_ICONV, "CP932"},
	{"ms_kanji", CS_ICONV, "CP932"},
	{"windows-31j", CS_ICONV, "CP932"},
	{"iso-2022-jp", CS_ICONV, "ISO-2022-JP-2"},
	{"iso-8859-8-i", CS_ICONV, "ISO-8859-8"},
	{"iso-8859-6-i", CS_ICONV, "ISO-8859-6"},
	{"iso-8859-8-e", CS_ICONV, "ISO-8859-8"},
	{"iso-8859-6-e", CS_ICONV, "ISO-8859-6"},
	{"big5", CS_ICONV, "BIG5-HKSCS"},
	{"x-mac-roman", CS_ICONV, "MACINTOSH"},
	{"macintosh", CS_ICONV, "MACINTOSH"},
	{"tis-620", CS_ICONV, "CP874"},
	{"windows-874", CS_ICONV, "CP874"},
	{"unicode-1-1-utf-7", CS_ICONV, "UTF-7"},
};

#define CS_NAME_MAX 64

/* Lower-case, unquoted, trimmed copy of name into buf; false if empty or too long. */
static bool cs_normalize(const char *name, char buf[CS_NAME_MAX])
{
	if (name == NULL)
		return false;
	struct core_str s = core_str_trim(core_str_from_cstr(name));
	while (s.len > 0 && (s.p[0] == '"' || s.p[0] == '\'')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (s.p[s.len - 1] == '"' || s.p[s.len - 1] == '\''))
		s.len--;
	s = core_str_trim(s);
	if (s.len == 0 || s.len >= CS_NAME_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		/* RFC 2978 §2.3: mime-charset-chars are printable ASCII without specials. */
		if (c <= 0x20 || c >= 0x7F || c == '/' || c == ',')
			return false;
		buf[i] = core_ascii_lower((char)c);
	}
	buf[s.len] = '\0';
	return true;
}

static const struct cs_alias *cs_alias_find(const char *lname)
{
	for (size_t i = 0; i < CORE_NELEM(aliases); i++)
		if (strcmp(aliases[i].name, lname) == 0)
			return &aliases[i];
	return NULL;
}

/* ------------------------------------------------------------------------------------- */
/* Per-thread iconv cache                                                                  */
/* ------------------------------------------------------------------------------------- */

#define CS_CACHE_SLOTS 8

struct cs_slot {
	char name[CS_NAME_MAX]; /* lower-case MIME name; "" when free */
	char iconv_name[CS_NAME_MAX];
	iconv_t cd; /* (iconv_t)-1 when iconv has no converter (negative cache) */
	unsigned long used;
};

struct cs_cache {
	struct cs_slot slot[CS_CACHE_SLOTS];
	unsigned long tick;
};

static pthread_key_t cs_key;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;
static _Thread_local struct cs_cache *cs_tls;

static void cs_cache_close(struct cs_cache *c)
{
	for (size_t i = 0; i < CS_CACHE_SLOTS; i++) {
		if (c->slot[i].name[0] != '\0' && c->slot[i].cd != (iconv_t)-1)
			iconv_close(c->slot[i].cd);
		c->slot[i].name[0] = '\0';
	}
}

static void cs_cache_destroy(void *arg)
{
	struct cs_cache *c = arg;
	cs_cache_close(c);
	free(c);
}

static void cs_key_make(void)
{
	if (pthread_key_create(&cs_key, cs_cache_destroy) != 0)
		core_die("mail_charset: pthread_key_create failed");
}

static struct cs_cache *cs_cache_get(void)
{
	if (cs_tls == NULL) {
		pthread_once(&cs_once, cs_key_make);
		cs_tls = core_xcalloc(1, sizeof(*cs_tls));
		pthread_setspecific(cs_key, cs_tls);
	}
	return cs_tls;
}

void mail_charset_cache_flush(void)
{
	if (cs_tls == NULL)
		return;
	pthread_setspecific(cs_key, NULL);
	cs_cache_destroy(cs_tls);
	cs_tls = NULL;
}

/* The cached slot for a lower-case name, opening the converter on a miss. */
static struct cs_slot *cs_slot_get(const char *lname, const char *iconv_name)
{
	struct cs_cache *c = cs_cache_get();
	struct cs_slot *victim = &c->slot[0];
	c->tick++;
	for (size_t i = 0; i < CS_CACHE_SLOTS; i++) {
		struct cs_slot *s = &c->slot[i];
		if (s->name[0] != '\0' && strcmp(s->name, lname) == 0) {
			s->used = c->tick;
			if (s->cd != (iconv_t)-1)
				iconv(s->cd, NULL, NULL, NULL, NULL); /* initial shift state */
			return s;
		}
		if (s->name[0] == '\0' || s->used < victim->used)
			victim = s;
	}
	if (victim->name[0] != '\0' && victim->cd != (iconv_t)-1)
		iconv_close(victim->cd);
	snprintf(victim->name, sizeof(victim->name), "%s", lname);
	snprintf(victim->iconv_name, sizeof(victim->iconv_name), "%s", iconv_name);
	/* Upper-case for iconv's table; glibc ignores case but other libcs may not. */
	for (char *q = victim->iconv_name; *q != '\0'; q++)
		*q = core_ascii_upper(*q);
	victim->cd = iconv_open("UTF-8", victim->iconv_name);
	victim->used = c->tick;
	return victim;
}

const char *mail_charset_canonical(const char *charset)
{
	char lname[CS_NAME_MAX];
	if (!cs_normalize(charset, lname))
		return NULL;
	const struct cs_alias *al = cs_alias_find(lname);
	if (al != NULL) {
		switch (al->kind) {
		case CS_ASCII:
			return "US-ASCII";
		case CS_LATIN1:
			return "WINDOWS-1252";
		case CS_UTF8:
			return "UTF-8";
		case CS_UNKNOWN:
			return NULL;
		case CS_ICONV:
			break;
		}
	}
	struct cs_slot *s = cs_slot_get(lname, al != NULL ? al->iconv : lname);
	return s->cd == (iconv_t)-1 ? NULL : s->iconv_name;
}

/* Convert with iconv, replacing invalid or truncated input by U+FFFD. */
static int iconv_append(iconv_t cd, const unsigned char *s, size_t len, struct core_buf *out)
{
	int result = MAIL_CHARSET_OK;
	char *in = (char *)(uintptr_t)s;
	size_t inleft = len;
	while (inleft > 0) {
		core_buf_reserve(out, inleft * 2 + 16);
		char *o = out->p + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		out->len = (size_t)(o - out->p);
		out->p[out->len] = '\0';
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ: skip one octet; EINVAL: the input ends inside a sequence. */
		append_fffd(out);
		result = MAIL_CHARSET_REPLACED;
		if (errno == EINVAL)
			break;
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush the shift state (stateful encodings such as ISO-2022-JP). */
	core_buf_reserve(out, 16);
	char *o = out->p + out->len;
	size_t oleft = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, &o, &oleft);
	out->len = (size_t)(o - out->p);
	out->p[out->len] = '\0';
	return result;
}

static void eff_set(char *eff_out, const char *name)
{
	if (eff_out != NULL)
		snprintf(eff_out, MAIL_CHARSET_NAME_MAX, "%s", name);
}

int mail_charset_to_utf8(const char *charset, const void *p, size_t len, struct core_buf *out)
{
	return mail_charset_to_utf8_eff(charset, p, len, out, NULL);
}

int mail_charset_to_utf8_eff(const char *charset, const void *p, size_t len, struct core_buf *out,
			     char eff_out[MAIL_CHARSET_NAME_MAX])
{
	const unsigned char *s = p;
	char lname[CS_NAME_MAX];
	if (!cs_normalize(charset, lname)) {
		eff_set(eff_out, unknown_eff(p, len));
		return len == 0 ? (core_buf_append(out, "", 0), MAIL_CHARSET_OK)
				: mail_charset_unknown_append(p, len, out);
	}
	const struct cs_alias *al = cs_alias_find(lname);
	enum cs_kind kind = al != NULL ? al->kind : CS_ICONV;
	switch (kind) {
	case CS_ASCII:
		if (core_utf8_is_ascii(p, len)) {
			eff_set(eff_out, "US-ASCII");
			core_buf_append(out, p, len);
			return MAIL_CHARSET_OK;
		}
		if (core_utf8_is_valid(p, len)) {
			eff_set(eff_out, "UTF-8");
			core_buf_append(out, p, len);
			return MAIL_CHARSET_FIXED;
		}
		eff_set(eff_out, "WINDOWS-1252");
		mail_charset_cp1252_append(p, len, out);
		return MAIL_CHARSET_FIXED;
	case CS_LATIN1: {
		bool c1 = false;
		for (size_t i = 0; i < len && !c1; i++)
			c1 = s[i] >= 0x80 && s[i] < 0xA0;
		bool declared_1252 = strcmp(lname, "windows-1252") == 0 ||
				     strcmp(lname, "cp1252") == 0 || strcmp(lname, "x-cp1252") == 0;
		eff_set(eff_out, c1 || declared_1252 ? "WINDOWS-1252" : "ISO-8859-1");
		mail_charset_cp1252_append(p, len, out);
		return c1 && !declared_1252 ? MAIL_CHARSET_FIXED : MAIL_CHARSET_OK;
	}
	case CS_UTF8:
		if (core_utf8_is_valid(p, len)) {
			eff_set(eff_out, "UTF-8");
			core_buf_append(out, p, len);
			return MAIL_CHARSET_OK;
		}
		if (!has_utf8_sequence(s, len)) {
			eff_set(eff_out, "WINDOWS-1252");
			mail_charset_cp1252_append(p, len, out);
			return MAIL_CHARSET_FIXED;
		}
		eff_set(eff_out, "UTF-8");
		utf8_append_replacing(s, len, out);
		return MAIL_CHARSET_REPLACED;
	case CS_UNKNOWN:
		eff_set(eff_out, unknown_eff(p, len));
		return len == 0 ? (core_buf_append(out, "", 0), MAIL_CHARSET_OK)
				: mail_charset_unknown_append(p, len, out);
	case CS_ICONV:
		break;
	}
	struct cs_slot *slot = cs_slot_get(lname, al != NULL ? al->iconv : lname);
	if (slot->cd == (iconv_t)-1) {
		eff_set(eff_out, unknown_eff(p, len));
		return len == 0 ? (core_buf_append(out, "", 0), MAIL_CHARSET_OK)
				: mail_charset_unknown_append(p, len, out);
	}
	eff_set(eff_out, slot->iconv_name);
	if (len == 0) {
		core_buf_append(out, "", 0);
		return MAIL_CHARSET_OK;
	}
	return iconv_append(slot->cd, s, len, out);
}
