/*
 * mail_int.h: declarations shared between the files of src/mail, not part of its interface.
 * Ownership rules are those of mail.h.
 */
#ifndef STAUNCH_MAIL_MAIL_INT_H
#define STAUNCH_MAIL_MAIL_INT_H

#include <stddef.h>

#include "mail/mail.h"

/* windows-1252 to UTF-8, the five undefined octets kept as latin-1 (mail_charset.c). */
void mail_charset_cp1252_append(const void *p, size_t len, struct core_buf *out);
/* Charset unknown: UTF-8 if valid, else windows-1252. Returns a mail_charset_result. */
int mail_charset_unknown_append(const void *p, size_t len, struct core_buf *out);

/* RFC 5322 §3.2.2: skip white space, folds and (nested) comments from *i; appends the text
 * of each comment to comment_out when not NULL (mail_rfc5322_hdr.c). */
void mail_cfws_skip(const char *p, size_t len, size_t *i, struct core_buf *comment_out);

/* Copy of s in the arena, NUL-terminated, ASCII lower-cased. */
struct core_str mail_str_lower(struct core_arena *a, struct core_str s);
/* Copy of a buffer's content in the arena, NUL-terminated. */
struct core_str mail_buf_to_arena(struct core_arena *a, const struct core_buf *b);
/* NFC of valid UTF-8 into the arena; the input copied if normalisation fails. */
struct core_str mail_utf8_nfc(struct core_arena *a, const char *p, size_t len);

/* The line at pos: returns the offset after its LF (or end) and sets the content length
 * without CR LF / LF (mail_rfc5322_hdr.c). */
size_t mail_line_next(const char *data, size_t pos, size_t end, size_t *content_len_out);

struct mail_hdr_result {
	struct mail_header header;
	size_t len;           /* header bytes, including the empty line when present */
	size_t lines;         /* lines in len */
	size_t dropped;       /* fields over the limit */
	size_t long_line_off; /* first line over max_line_len, or SIZE_MAX */
	unsigned flags;       /* MAIL_PART_F_NO_BLANK_LINE, MAIL_PART_F_HDR_JUNK */
};

/* Split the header block that starts at start (RFC 5322 §2.2, §3.5). */
void mail_hdr_split(struct core_arena *a, const char *data, size_t start, size_t end,
		    const struct mail_limits *lim, struct mail_hdr_result *res);

#endif
