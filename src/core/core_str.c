/* core_str.c: borrowed string views and ASCII helpers. */
#include "core/core_str.h"

#include "core/core_arena.h"
#include "core/core_err.h"

#include <string.h>

struct core_str core_str_from_cstr(const char *s)
{
	return (struct core_str){s, s == NULL ? 0 : strlen(s)};
}

struct core_str core_str_make(const char *p, size_t len)
{
	return (struct core_str){p, len};
}

bool core_str_eq(struct core_str a, struct core_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool core_str_eq_cstr(struct core_str a, const char *b)
{
	return core_str_eq(a, core_str_from_cstr(b));
}

bool core_str_eq_ci(struct core_str a, struct core_str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (core_ascii_lower(a.p[i]) != core_ascii_lower(b.p[i]))
			return false;
	return true;
}

bool core_str_eq_cstr_ci(struct core_str a, const char *b)
{
	return core_str_eq_ci(a, core_str_from_cstr(b));
}

bool core_str_has_prefix(struct core_str s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

bool core_str_has_prefix_ci(struct core_str s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.len >= n && core_str_eq_ci(core_str_make(s.p, n), core_str_make(prefix, n));
}

int core_str_cmp(struct core_str a, struct core_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int r = n == 0 ? 0 : memcmp(a.p, b.p, n);
	if (r != 0)
		return r;
	return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

struct core_str core_str_trim(struct core_str s)
{
	while (s.len > 0 && core_ascii_isspace((unsigned char)s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && core_ascii_isspace((unsigned char)s.p[s.len - 1]))
		s.len--;
	return s;
}

long core_str_find_char(struct core_str s, char c)
{
	const char *q = s.len == 0 ? NULL : memchr(s.p, c, s.len);
	return q == NULL ? -1 : (long)(q - s.p);
}

bool core_str_split_char(struct core_str s, char c, struct core_str *head_out,
			 struct core_str *tail_out)
{
	long i = core_str_find_char(s, c);
	if (i < 0) {
		*head_out = s;
		*tail_out = core_str_make(s.p + s.len, 0);
		return false;
	}
	*head_out = core_str_make(s.p, (size_t)i);
	*tail_out = core_str_make(s.p + i + 1, s.len - (size_t)i - 1);
	return true;
}

int core_str_to_u64(struct core_str s, uint64_t *out)
{
	if (s.len == 0)
		return CORE_ESYNTAX;
	uint64_t v = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (!core_ascii_isdigit((unsigned char)s.p[i]))
			return CORE_ESYNTAX;
		unsigned d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CORE_ELIMIT;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

char *core_str_dup(struct core_arena *a, struct core_str s)
{
	return core_arena_strndup(a, s.p == NULL ? "" : s.p, s.len);
}

int core_strcasecmp_ascii(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = (unsigned char)core_ascii_lower(*a);
		int y = (unsigned char)core_ascii_lower(*b);
		if (x != y || x == 0)
			return x - y;
	}
}

int core_strncasecmp_ascii(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int x = (unsigned char)core_ascii_lower(a[i]);
		int y = (unsigned char)core_ascii_lower(b[i]);
		if (x != y || x == 0)
			return x - y;
	}
	return 0;
}
