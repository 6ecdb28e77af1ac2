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

/* ------------------------------------------------------------------------------------- */
/* Message builder (mail_build.c, mail_build_hdr.c, mail_build_param.c)                   */
/* ------------------------------------------------------------------------------------- */

/* RFC 5322 §2.1.1: the hard line limit, line ending excluded. */
#define MAIL_BUILD_LINE_MAX 998

enum mail_bkind { MAIL_BK_NONE = 0, MAIL_BK_MULTI, MAIL_BK_LEAF };

struct mail_bfield {
	struct core_str text; /* "Name: value" folded, with its final CRLF */
	struct mail_bfield *next;
};

struct mail_bparam {
	char *name, *value;
};

struct mail_build_part {
	struct mail_build *b;
	struct mail_bfield *fields, **ftail;
	enum mail_bkind kind;
	char *type; /* "text/plain", "multipart/mixed" */
	struct mail_bparam *params;
	size_t nparams;
	/* leaf */
	struct core_str body; /* encoded */
	const char *cte;      /* NULL for 7bit (no field written) */
	/* multipart */
	struct mail_build_part **children;
	size_t nchildren, capchildren;
	/* Content-Disposition */
	char *disp, *filename;
};

struct mail_build {
	struct core_arena *a;
	unsigned flags;
	uint64_t seed;
	struct mail_build_part *root;
};

/* A header field value in pieces, each with the white space before it (where a fold may go). */
struct mail_bitem {
	size_t sep_off, sep_len; /* white space before the item */
	size_t off, len;         /* the item text */
	bool ew;                 /* text is UTF-8 to write as encoded words */
};

struct mail_bitems {
	struct core_buf pool; /* separators and texts */
	struct mail_bitem *v;
	size_t n, cap;
};

void mail_bitems_fini(struct mail_bitems *it);
void mail_bitems_add(struct mail_bitems *it, const char *sep, size_t seplen, const char *p,
		     size_t len, bool ew);
/* Append s to the text of the last item. */
void mail_bitems_glue(struct mail_bitems *it, const char *s);
/* Plain text split at runs of spaces; the first piece gets first_sep if nothing precedes it. */
void mail_bitems_split(struct mail_bitems *it, const char *p, size_t len, const char *first_sep);
/* Write "name:" and the items folded (RFC 5322 §2.2.3), ending with CRLF; CORE_ELIMIT when a
 * line would exceed 998 octets. */
int mail_build_fold(struct core_buf *out, const char *name, const struct mail_bitems *it,
		    struct core_error *err);
/* RFC 5322 §3.2.4 quoted-string of p. */
void mail_build_quote(struct core_buf *b, const char *p, size_t len);
/* UTF-8 without control characters other than tab, else CORE_ESYNTAX naming what. */
int mail_build_text_check(const char *s, size_t len, const char *what, struct core_error *err);
/* Does p hold "=?" (something a reader could take for an RFC 2047 word)? */
bool mail_build_has_ew(const char *p, size_t len);
/* Length of the UTF-8 sequence at p (1 for an invalid octet). */
size_t mail_build_seq_len(const char *p, size_t len);
/* RFC 2045 §5.1 token. */
bool mail_build_token_ok(const char *p, size_t len);
/* The items of one parameter (RFC 2045 §5.1, RFC 2231), each after "; ". */
void mail_build_param_items(struct mail_bitems *it, const char *name, const char *value);

#endif
