/*
 * core_str.h: string views {p, len} that borrow bytes owned elsewhere (an arena, a buffer,
 * a literal). A view is valid only as long as its owner; nothing here allocates except the
 * _dup functions, which say who frees.
 */
#ifndef STAUNCH_CORE_STR_H
#define STAUNCH_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_arena;

struct core_str {
	const char *p;
	size_t len;
};

#define CORE_STR(lit) ((struct core_str){(lit), sizeof(lit) - 1})
#define CORE_STR_NULL ((struct core_str){NULL, 0})
/* printf("%.*s", CORE_STR_FMT(s)) */
#define CORE_STR_FMT(s) (int)(s).len, (s).p

struct core_str core_str_from_cstr(const char *s);
struct core_str core_str_make(const char *p, size_t len);
bool core_str_eq(struct core_str a, struct core_str b);
bool core_str_eq_cstr(struct core_str a, const char *b);
/* ASCII case-insensitive comparisons (protocol keywords). */
bool core_str_eq_ci(struct core_str a, struct core_str b);
bool core_str_eq_cstr_ci(struct core_str a, const char *b);
bool core_str_has_prefix(struct core_str s, const char *prefix);
bool core_str_has_prefix_ci(struct core_str s, const char *prefix);
/* Bytewise ordering: <0, 0, >0 like memcmp, shorter prefix first. */
int core_str_cmp(struct core_str a, struct core_str b);
/* Remove ASCII spaces and tabs (and CR/LF) at both ends. */
struct core_str core_str_trim(struct core_str s);
/* Index of c in s, or -1. */
long core_str_find_char(struct core_str s, char c);
/* Split at the first c: *head_out before it, *tail_out after it. False (and head = s) if none. */
bool core_str_split_char(struct core_str s, char c, struct core_str *head_out,
			 struct core_str *tail_out);
/* Strict unsigned decimal: digits only, no sign, no overflow. */
int core_str_to_u64(struct core_str s, uint64_t *out);
/* NUL-terminated copy in an arena. */
char *core_str_dup(struct core_arena *a, struct core_str s);

/* ASCII helpers that ignore the locale. */
static inline char core_ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
static inline char core_ascii_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}
static inline bool core_ascii_isdigit(int c)
{
	return c >= '0' && c <= '9';
}
static inline bool core_ascii_isalpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline bool core_ascii_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
int core_strcasecmp_ascii(const char *a, const char *b);
int core_strncasecmp_ascii(const char *a, const char *b, size_t n);

#endif
