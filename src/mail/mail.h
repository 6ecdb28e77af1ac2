/*
 * mail.h: the public interface of src/mail, the RFC 5322 + MIME message library.
 *
 * RFCs: RFC 5322 (message format, header fields, addresses, dates, message ids), RFC 6532
 * (UTF-8 in header fields), RFC 2045 (MIME header fields, transfer encodings, parameters),
 * RFC 2046 (media types, multipart, message/rfc822), RFC 2047 (encoded words), RFC 2231
 * (parameter continuations, charsets and languages), RFC 2183 (Content-Disposition),
 * RFC 3282 (Content-Language), RFC 2557 (Content-Location).
 *
 * One call to mail_message_parse() walks the message once and builds a tree of parts. Every
 * part records exact byte offsets and lengths into the bytes given (CRLF and bare-LF input
 * are both accepted; offsets always refer to the input as it is), its line counts and its
 * parsed MIME header fields. Protocol views (IMAP BODYSTRUCTURE/ENVELOPE, JMAP bodyStructure,
 * DKIM, Sieve, full-text) read this tree; none of them parses the message again.
 *
 * Limits (header count, line length, nesting depth, part count) never truncate silently: a
 * part that reaches a limit keeps its full byte range (a client can still fetch every byte),
 * and the message lists each limit reached in its problem list.
 *
 * Ownership: the message bytes are BORROWED; the caller keeps them alive and unchanged while
 * the parse result is used. Everything the parser builds (the tree, the field arrays, the
 * decoded strings) is ARENA-OWNED by the arena passed in and lives until it is reset or
 * freed. Decoded strings are NUL-terminated UTF-8. No function here keeps global state except
 * the per-thread iconv cache of mail_charset (see mail_charset_cache_flush()).
 */
#ifndef STAUNCH_MAIL_MAIL_H
#define STAUNCH_MAIL_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------- */
/* Limits and problems                                                                     */
/* ------------------------------------------------------------------------------------- */

struct mail_limits {
	size_t max_header_fields; /* fields kept per header block */
	size_t max_line_len;      /* octets per line, line ending excluded; 0 = no check */
	unsigned max_depth;       /* nesting of multipart and message/rfc822 (root is 0) */
	size_t max_parts;         /* parts in the whole tree, root included */
};

/* Defaults: 1000 fields per header, 998-octet lines (RFC 5322 §2.1.1 is only reported),
 * depth 64, 10000 parts. */
void mail_limits_default(struct mail_limits *lim_out);

enum mail_problem_kind {
	MAIL_PROB_HEADER_FIELDS = 1, /* more header fields than max_header_fields */
	MAIL_PROB_LINE_LENGTH,       /* a line longer than max_line_len */
	MAIL_PROB_DEPTH,             /* nesting deeper than max_depth: part kept as a leaf */
	MAIL_PROB_PARTS,             /* more parts than max_parts: rest kept in parent's body */
};

struct mail_problem {
	enum mail_problem_kind kind;
	size_t offset;          /* where in the message it was noticed */
	struct mail_part *part; /* the part concerned */
};

/* Stable lower-case name of a problem kind ("header-fields", "line-length", ...). */
const char *mail_problem_name(enum mail_problem_kind kind);

/* ------------------------------------------------------------------------------------- */
/* Header fields (mail_rfc5322_hdr.c)                                                     */
/* ------------------------------------------------------------------------------------- */

struct mail_field {
	size_t off;            /* offset of the field name in the message */
	size_t len;            /* whole field including its final line ending */
	struct core_str name;  /* borrowed: the field name as written (no trailing WSP) */
	struct core_str value; /* borrowed: raw value after the colon, folding kept, final
				  line ending excluded */
	bool eight_bit;        /* value has octets >= 0x80 (RFC 6532) */
};

struct mail_header {
	struct mail_field *fields; /* arena-owned, in message order */
	size_t count;
	size_t dropped; /* fields beyond max_header_fields (MAIL_PROB_HEADER_FIELDS) */
};

/* The first field called name (ASCII case-insensitive), or NULL. */
const struct mail_field *mail_header_find(const struct mail_header *h, const char *name);
/* The last field called name, or NULL (RFC 8621 §4.1.3: ":all" aside, forms use the last). */
const struct mail_field *mail_header_find_last(const struct mail_header *h, const char *name);
/* Number of fields called name. */
size_t mail_header_count(const struct mail_header *h, const char *name);

/*
 * Unfold a raw value (RFC 5322 §2.2.3: delete each CRLF or LF that precedes WSP) into an
 * arena-owned NUL-terminated string. Bytes are otherwise kept.
 */
struct core_str mail_hdr_unfold(struct core_arena *a, struct core_str raw);

/*
 * RFC 8621 §4.1.2.2 Text form: unfold, remove the spaces at the start, decode RFC 2047
 * encoded words (strict placement), turn raw 8-bit into UTF-8 (RFC 6532; bytes that are not
 * UTF-8 go through the mislabel fallback of mail_charset), NFC. Trailing white space is kept,
 * as that section says. Arena-owned result, never fails.
 */
struct core_str mail_hdr_text(struct core_arena *a, struct core_str raw);

/* ------------------------------------------------------------------------------------- */
/* MIME parameters (mail_mime_param.c)                                                    */
/* ------------------------------------------------------------------------------------- */

struct mail_param {
	struct core_str name;     /* arena-owned, lower-case, without any "*N*" suffix */
	struct core_str value;    /* arena-owned UTF-8, after RFC 2231 and RFC 2047 decoding */
	struct core_str charset;  /* RFC 2231 charset of an extended value, or empty */
	struct core_str language; /* RFC 2231 language of an extended value, or empty */
	unsigned flags;           /* MAIL_PARAM_F_* */
};

enum mail_param_flags {
	MAIL_PARAM_F_2231 = 1 << 0,       /* RFC 2231 extended or continued value */
	MAIL_PARAM_F_EW = 1 << 1,         /* RFC 2047 encoded words decoded in the value
					     (not standard, RFC 2047 §5 (3), but common) */
	MAIL_PARAM_F_GAP = 1 << 2,        /* RFC 2231 §3 continuation numbers had a gap */
	MAIL_PARAM_F_UNQUOTED = 1 << 3,   /* value had characters a token may not hold */
	MAIL_PARAM_F_CHARSET_BAD = 1 << 4 /* charset unknown or bytes invalid: fallback used */
};

/*
 * A parsed structured MIME field value: "type/subtype; params" (Content-Type) or
 * "token; params" (Content-Disposition). For other uses, type holds the first token.
 */
struct mail_mime_value {
	struct core_str type;    /* arena-owned, lower-case; empty if missing */
	struct core_str subtype; /* arena-owned, lower-case; empty if none */
	struct mail_param *params;
	size_t nparams;
	bool invalid; /* the value did not follow the grammar (RFC 2045 §5.1) */
};

/*
 * Parse a Content-Type (want_subtype true) or Content-Disposition value (RFC 2045 §5.1,
 * RFC 2183 §2, RFC 2231 §3-§5). Lenient: unquoted values with spaces, missing closing quotes,
 * stray semicolons and duplicate names are accepted (the first duplicate wins, RFC 2045 is
 * silent, RFC 2231 §3 wants continuations in order). Never fails; sets invalid.
 */
void mail_mime_value_parse(struct core_arena *a, struct core_str raw, bool want_subtype,
			   struct mail_mime_value *out);
/* The parameter called name (lower-case), or NULL. */
const struct mail_param *mail_mime_param_find(const struct mail_mime_value *v, const char *name);

/* ------------------------------------------------------------------------------------- */
/* Encoded words and charsets (mail_mime_ew.c, mail_charset.c)                           */
/* ------------------------------------------------------------------------------------- */

/* Flags of mail_ew_decode(). */
enum mail_ew_flags {
	/* Also decode encoded words that touch other text ("Re:=?utf-8?q?x?="), which RFC 2047
	 * §5 forbids and RFC 8621 §4.1.2.2 says MUST NOT be decoded; used only where no standard
	 * applies (encoded words inside MIME parameter values). */
	MAIL_EW_LENIENT = 1 << 0,
};

/*
 * Decode RFC 2047 encoded words in unstructured text (§5 (1)) and append UTF-8 to out.
 * An encoded word is decoded when it is well-formed (§2), its charset is known to
 * mail_charset, and it stands between white space or the ends of the text (§5 (1); RFC 8621
 * §4.1.2.2 step 4), unless flags has MAIL_EW_LENIENT. Adjacent encoded words separated only
 * by white space are joined without it (§6.2), and their octets are joined before charset
 * conversion so a character split across words survives. Control characters produced by
 * decoding are dropped (RFC 8621 §4.1.2.2). Anything else is copied; raw 8-bit text is
 * converted as by mail_charset_to_utf8(NULL, ...). Returns the number of words decoded.
 */
int mail_ew_decode(const char *p, size_t len, unsigned flags, struct core_buf *out);

enum mail_charset_result {
	MAIL_CHARSET_OK = 0,       /* converted as declared */
	MAIL_CHARSET_FIXED = 1,    /* a known mislabel was corrected (e.g. windows-1252 bytes
				      in iso-8859-1 or us-ascii, UTF-8 in us-ascii) */
	MAIL_CHARSET_FALLBACK = 2, /* unknown charset: UTF-8 if valid, else windows-1252 with
				      latin-1 for its holes; no octet is lost */
	MAIL_CHARSET_REPLACED = 3, /* invalid sequences were replaced by U+FFFD */
};

/*
 * Convert len octets in charset (a MIME charset name; NULL or "" means unknown) to UTF-8
 * appended to out, through iconv with a per-thread cache of conversion descriptors.
 * Returns a mail_charset_result (>= 0); never fails.
 */
int mail_charset_to_utf8(const char *charset, const void *p, size_t len, struct core_buf *out);

/* Room for a charset name (RFC 2978 names are at most 40 characters). */
#define MAIL_CHARSET_NAME_MAX 64

/*
 * As mail_charset_to_utf8(), and when eff_out is not NULL it receives the name of the charset
 * the octets were actually read as (the effective charset): "US-ASCII", "ISO-8859-1",
 * "WINDOWS-1252", "UTF-8" or the iconv name of the declared charset.
 */
int mail_charset_to_utf8_eff(const char *charset, const void *p, size_t len, struct core_buf *out,
			     char eff_out[MAIL_CHARSET_NAME_MAX]);
/* The iconv name used for a MIME charset name (aliases resolved), or NULL if iconv has no
 * converter for it. The returned string is static or lives in the thread cache. */
const char *mail_charset_canonical(const char *charset);
/* Close this thread's cached iconv descriptors (also done when a thread exits). */
void mail_charset_cache_flush(void);

/* ------------------------------------------------------------------------------------- */
/* Addresses, dates and message ids (mail_rfc5322_addr.c, _date.c, _msgid.c)              */
/* ------------------------------------------------------------------------------------- */

struct mail_addr {
	struct core_str name;   /* arena-owned UTF-8 display name (decoded), empty if none */
	struct core_str email;  /* arena-owned addr-spec without CFWS and obs-route */
	struct core_str local;  /* email before its '@' (RFC 5322 §3.4.1 local-part) */
	struct core_str domain; /* email after its '@', empty when there is no '@' */
	/* The display name as written: quotes and quoted-pairs removed, words joined by single
	 * spaces, encoded words NOT decoded (IMAP ENVELOPE, RFC 9051 §7.5.2). Empty if none. */
	struct core_str name_raw;
	bool has_name;
};

struct mail_addr_group {
	struct core_str name; /* group display name; empty for mailboxes outside a group */
	bool is_group;
	struct mail_addr *addrs; /* arena-owned */
	size_t count;
};

struct mail_addr_list {
	struct mail_addr_group *groups; /* arena-owned; consecutive ungrouped mailboxes share
					   one entry with is_group false (RFC 8621 §4.1.2.4) */
	size_t ngroups;
	size_t naddrs; /* mailboxes in all groups */
	bool invalid;  /* some item did not follow RFC 5322 §3.4 (kept leniently) */
};

/*
 * Parse an address-list / mailbox-list (RFC 5322 §3.4, with the §4.4 obsolete forms: route,
 * CFWS between local-part atoms, missing list elements) from a raw header value. Display
 * names are RFC 2047 decoded; with no display name, a comment after the addr-spec is used
 * (RFC 8621 §4.1.2.3). Never fails; sets invalid.
 */
void mail_addr_list_parse(struct core_arena *a, struct core_str raw, struct mail_addr_list *out);

/*
 * Parse a Date-like header value (RFC 5322 §3.3, §4.3) through core_time. Returns 0 or
 * CORE_TIME_NOZONE with *t_out and *offset_out (minutes east of UTC), or CORE_ESYNTAX.
 */
int mail_date_parse(struct core_str raw, time_t *t_out, int *offset_out, struct core_error *err);

struct mail_msgid_list {
	struct core_str *ids; /* arena-owned, without angle brackets */
	size_t count;
	bool invalid; /* something else than msg-ids and CFWS was found (§4.5.4 obs-phrase) */
};

/*
 * Parse Message-ID / In-Reply-To / References / Content-ID (RFC 5322 §3.6.4, §4.5.4 obsolete
 * phrases and CFWS). A value with no "<...>" but one bare id-left "@" id-right word gives that
 * word. Never fails.
 */
void mail_msgid_list_parse(struct core_arena *a, struct core_str raw, struct mail_msgid_list *out);

/* ------------------------------------------------------------------------------------- */
/* The part tree (mail_mime_part.c)                                                       */
/* ------------------------------------------------------------------------------------- */

/* RFC 2045 §6.1 Content-Transfer-Encoding. */
enum mail_cte {
	MAIL_CTE_7BIT = 0, /* also the default when absent */
	MAIL_CTE_8BIT,
	MAIL_CTE_BINARY,
	MAIL_CTE_QP,
	MAIL_CTE_BASE64,
	MAIL_CTE_UNKNOWN, /* RFC 2045 §6.4: treat the body as application/octet-stream */
};

const char *mail_cte_name(enum mail_cte cte);

enum mail_part_flags {
	MAIL_PART_F_NO_BLANK_LINE = 1 << 0,    /* header ended without an empty line */
	MAIL_PART_F_HDR_JUNK = 1 << 1,         /* header lines that are not fields */
	MAIL_PART_F_CT_DEFAULT = 1 << 2,       /* no Content-Type: default applied */
	MAIL_PART_F_CT_INVALID = 1 << 3,       /* Content-Type unusable: default applied */
	MAIL_PART_F_NO_BOUNDARY = 1 << 4,      /* multipart without boundary: kept as a leaf */
	MAIL_PART_F_BOUNDARY_MISSING = 1 << 5, /* boundary never seen: all preamble */
	MAIL_PART_F_NO_CLOSE = 1 << 6,         /* no close delimiter (RFC 2046 §5.1.1) */
	MAIL_PART_F_ENCODED_MESSAGE = 1 << 7,  /* message/rfc822 with base64/QP: kept a leaf */
	MAIL_PART_F_DEPTH = 1 << 8,            /* depth limit: kept as a leaf */
	MAIL_PART_F_PARTS = 1 << 9,            /* part limit: later children not split out */
	MAIL_PART_F_LONG_LINE = 1 << 10,       /* a line over max_line_len */
};

struct mail_part {
	struct mail_part *parent;
	struct mail_part **children; /* arena-owned; for message/rfc822 the one child is the
					encapsulated message */
	size_t nchildren;
	unsigned depth; /* 0 for the root */
	size_t index;   /* pre-order position, 0 for the root */

	/* Byte ranges in the message. header_len includes the empty line ending the header
	 * (RFC 9051 BODY[HEADER]); body_off = header_off + header_len; part_len =
	 * header_len + body_len. */
	size_t header_off, header_len;
	size_t body_off, body_len;
	size_t header_lines, body_lines; /* lines, a final line without ending counted */

	struct mail_header header;

	struct mail_mime_value ct; /* effective Content-Type (defaults applied) */
	struct mail_mime_value disposition;
	bool has_disposition;
	enum mail_cte cte;
	struct core_str cte_raw;     /* arena-owned, lower-case, as declared; empty if none */
	struct core_str charset;     /* declared charset parameter (lower-case) or empty */
	struct core_str content_id;  /* without angle brackets, or empty */
	struct core_str description; /* Text form (decoded), or empty */
	struct core_str *languages;  /* RFC 3282 language tags */
	size_t nlanguages;
	struct core_str location; /* RFC 2557 URI with folding white space removed */
	struct core_str md5;      /* RFC 1864 Content-MD5 value, trimmed and unfolded, or empty */

	/* multipart only: boundary, preamble and epilogue (RFC 2046 §5.1.1). */
	struct core_str boundary; /* arena-owned, or empty */
	size_t preamble_off, preamble_len;
	size_t epilogue_off, epilogue_len;

	unsigned flags; /* MAIL_PART_F_* */
};

static inline size_t mail_part_len(const struct mail_part *p)
{
	return p->header_len + p->body_len;
}
bool mail_part_is_multipart(const struct mail_part *p);
/* message/rfc822 or message/global (RFC 6532 §3.7) whose body is parsed as a message. */
bool mail_part_is_message(const struct mail_part *p);

struct mail_message {
	const char *data; /* borrowed: the bytes given to mail_message_parse() */
	size_t len;
	struct mail_part *root;
	struct mail_part **parts; /* arena-owned, pre-order; parts[i]->index == i */
	size_t nparts;
	struct mail_problem *problems; /* arena-owned */
	size_t nproblems;
	struct mail_limits limits;
};

/*
 * Parse a whole message. lim may be NULL (defaults). Returns 0 with *msg_out (arena-owned);
 * never fails on content: malformed structure is kept and flagged, limits are listed in
 * problems. CORE_ELIMIT only if len exceeds SIZE_MAX / 2.
 */
int mail_message_parse(struct core_arena *a, const void *data, size_t len,
		       const struct mail_limits *lim, struct mail_message **msg_out,
		       struct core_error *err);

/*
 * Check the invariants of a parse result: ranges inside the message and inside the parent,
 * children in order, parts[] in pre-order. CORE_EINTERNAL names the first broken one. For
 * tests and fuzzers.
 */
int mail_message_verify(const struct mail_message *m, struct core_error *err);

/*
 * Decode a part's body according to its Content-Transfer-Encoding (base64, quoted-printable;
 * 7bit/8bit/binary/unknown copied), appending to out. Never fails.
 */
void mail_part_decode_body(const struct mail_message *m, const struct mail_part *p,
			   struct core_buf *out);
/*
 * The body as UTF-8 text: transfer decoding, then charset conversion from the declared
 * charset (us-ascii when none, RFC 2046 §4.1.2). Returns a mail_charset_result; eff_out (may
 * be NULL) receives the effective charset as in mail_charset_to_utf8_eff().
 */
int mail_part_decode_text(const struct mail_message *m, const struct mail_part *p,
			  struct core_buf *out, char eff_out[MAIL_CHARSET_NAME_MAX]);
/*
 * mail_part_decode_text() of only the first max bytes of the encoded body (all of it when
 * shorter): the beginning of the whole text, except that its last few characters may differ
 * (an encoding unit or a multibyte character cut in two).
 */
int mail_part_decode_text_prefix(const struct mail_message *m, const struct mail_part *p,
				 size_t max, struct core_buf *out,
				 char eff_out[MAIL_CHARSET_NAME_MAX]);

/* ------------------------------------------------------------------------------------- */
/* IMAP views (mail_imap_view.c)                                                          */
/* ------------------------------------------------------------------------------------- */

/*
 * Append an IMAP string (RFC 9051 §4.3): a quoted string when every octet is printable
 * 7-bit text and it is short, else a literal "{n}\r\n" followed by the octets. NULL s
 * (with len 0) gives NIL.
 */
void mail_imap_string_append(struct core_buf *out, const char *s, size_t len);

/*
 * ENVELOPE (RFC 9051 §7.5.2, RFC 3501 §7.4.2) of the message whose header is msg's header
 * (m->root, or the child of a message/rfc822 part), appended to out as IMAP wire syntax.
 */
void mail_imap_envelope(struct core_arena *a, const struct mail_message *m,
			const struct mail_part *msg, struct core_buf *out);

/*
 * BODY (extended false) or BODYSTRUCTURE (extended true: MD5, disposition, language and
 * location, RFC 9051 §7.5.2) of part p (m->root for the message), appended to out.
 */
void mail_imap_bodystructure(struct core_arena *a, const struct mail_message *m,
			     const struct mail_part *p, bool extended, struct core_buf *out);

/* One piece of a FETCH BODY[section] answer: bytes of the message or literal bytes. */
struct mail_imap_seg {
	size_t off, len;
	const char *lit; /* when not NULL: len octets to send instead of message bytes */
};

struct mail_imap_body {
	struct mail_imap_seg *segs; /* arena-owned */
	size_t nsegs;
	size_t total; /* octets in all segments */
};

/*
 * Resolve a section spec (RFC 9051 §6.4.5: the text between the brackets of BODY[...],
 * e.g. "", "1.2", "HEADER", "3.HEADER.FIELDS (From To)", "2.MIME", "TEXT") against m into
 * the segments to send. With has_partial, the "<origin.count>" partial of §6.4.5 is applied
 * (an origin beyond the end gives an empty answer). CORE_ESYNTAX for a malformed spec,
 * CORE_ENOTFOUND for a part that does not exist (the caller answers with an empty string or
 * an error as its policy says).
 */
int mail_imap_section_resolve(struct core_arena *a, const struct mail_message *m, const char *spec,
			      size_t spec_len, bool has_partial, uint64_t origin, uint64_t count,
			      struct mail_imap_body *out, struct core_error *err);

/* Append the octets of a resolved section to out (for tests and small answers). */
void mail_imap_body_copy(const struct mail_message *m, const struct mail_imap_body *b,
			 struct core_buf *out);

/* ------------------------------------------------------------------------------------- */
/* JMAP view (mail_jmap_view.c)                                                           */
/* ------------------------------------------------------------------------------------- */

struct json_t; /* jansson */

/* Returns the blobId of a leaf part (arena- or static-owned), or NULL for null. */
typedef const char *(*mail_jmap_blob_fn)(void *ctx, const struct mail_message *m,
					 const struct mail_part *p, const char *part_id);

/* The JMAP partId of a part (RFC 8621 §4.1.4): its IMAP section number ("1.2"), so that
 * both protocols name parts alike. NULL for multipart parts. Arena-owned. */
const char *mail_jmap_part_id(struct core_arena *a, const struct mail_part *p);

/*
 * The Email body properties of RFC 8621 §4.1.4 as a new JSON object (caller owns the
 * reference): bodyStructure, textBody, htmlBody, attachments, hasAttachment and preview.
 * blob may be NULL (blobId null everywhere). Returns NULL only if jansson cannot allocate.
 */
struct json_t *mail_jmap_email_body(struct core_arena *a, const struct mail_message *m,
				    mail_jmap_blob_fn blob, void *blob_ctx);

/* One EmailBodyPart (RFC 8621 §4.1.4) of p, with subParts for multipart. */
struct json_t *mail_jmap_body_part(struct core_arena *a, const struct mail_message *m,
				   const struct mail_part *p, mail_jmap_blob_fn blob,
				   void *blob_ctx);

/* RFC 8621 §4.1.4 preview: up to 256 characters of the first text part of textBody (HTML
 * turned into text), white space collapsed. Appended to out as UTF-8. */
void mail_jmap_preview(struct core_arena *a, const struct mail_message *m, struct core_buf *out);

/* HTML to plain text for previews: tags, comments, scripts and styles removed, character
 * references decoded, white space collapsed to single spaces. Appended to out. */
void mail_jmap_html_to_text(const char *html, size_t len, struct core_buf *out);

/* ------------------------------------------------------------------------------------- */
/* Header forms of JMAP (mail_hdr_form.c)                                                 */
/* ------------------------------------------------------------------------------------- */

/* RFC 8621 §4.1.2: the forms a header field value can be asked for in. */
enum mail_hdr_form {
	MAIL_HDR_FORM_RAW = 0,
	MAIL_HDR_FORM_TEXT,
	MAIL_HDR_FORM_ADDRESSES,
	MAIL_HDR_FORM_GROUPED_ADDRESSES,
	MAIL_HDR_FORM_MESSAGE_IDS,
	MAIL_HDR_FORM_DATE,
	MAIL_HDR_FORM_URLS,
};

/* RFC 8621 §4.1.2.1 Raw form: the value as it is in the message, folding included (the
 * bytes after the colon up to the final line ending). Arena-owned NUL-terminated copy. */
struct core_str mail_hdr_raw(struct core_arena *a, struct core_str raw);

/* RFC 8621 §4.1.2.7 URLs form, RFC 2369 §2: a comma-separated list of URLs in angle
 * brackets, with comments allowed around them and white space inside the brackets removed. */
struct mail_url_list {
	struct core_str *urls; /* arena-owned, NUL-terminated */
	size_t count;
};
/* Returns 0, or CORE_ESYNTAX when the value is not such a list (JMAP answers null then). */
int mail_hdr_urls(struct core_arena *a, struct core_str raw, struct mail_url_list *out);

/*
 * Parse the form part of a JMAP "header:Name:asForm" property ("asRaw", "asText", ...;
 * case-sensitive as RFC 8621 §4.1.3 spells them). Returns 0 with *form_out or CORE_ESYNTAX.
 */
int mail_hdr_form_parse(const char *s, size_t len, enum mail_hdr_form *form_out);
/* The "as..." name of a form. */
const char *mail_hdr_form_name(enum mail_hdr_form form);
/*
 * RFC 8621 §4.1.2: may a field called name be asked for in form? Raw is always allowed; the
 * other forms only for the fields the section lists (Text for Subject, Comments, Keywords,
 * List-Id and unknown fields; Addresses for From, Sender, Reply-To, To, Cc, Bcc and their
 * Resent- forms and unknown fields; ...). False means "invalidArguments".
 */
bool mail_hdr_form_allowed(const char *name, enum mail_hdr_form form);

/*
 * The JSON value of "header:name:asForm" (all false) or "header:name:asForm:all" (all true)
 * over header h (RFC 8621 §4.1.3): the last field of that name (or every one, in order, as an
 * array); null when there is none or when the value does not parse in that form. Dates are
 * RFC 3339 strings with the field's offset. New reference; NULL only on jansson failure.
 */
struct json_t *mail_hdr_form_json(struct core_arena *a, const struct mail_header *h,
				  const char *name, enum mail_hdr_form form, bool all);

/*
 * The value of a JMAP Email property "header:{name}[:as{Form}][:all]" (RFC 8621 §4.1.3) over
 * header h: the suffixes in that order, the name one or more printable ASCII characters
 * other than ':'. Returns 0 with a new reference in *value_out; CORE_ESYNTAX for a malformed
 * property, CORE_EPERM for a form the field may not be asked in (both "invalidArguments").
 */
int mail_hdr_property_json(struct core_arena *a, const struct mail_header *h, const char *prop,
			   struct json_t **value_out, struct core_error *err);

/* ------------------------------------------------------------------------------------- */
/* Internationalised domain names (mail_idn.c)                                           */
/* ------------------------------------------------------------------------------------- */

/*
 * RFC 5890 §2.3.2.1 / RFC 6532 §3.2: a domain for display: every A-label ("xn--...") that is
 * valid IDNA2008 turned into its U-label, other labels kept (case kept). Returns 0 with an
 * arena-owned result (the input copied when it has no A-label), CORE_ESYNTAX when an A-label
 * does not decode (then *out is the input unchanged).
 */
int mail_idn_to_unicode(struct core_arena *a, struct core_str domain, struct core_str *out,
			struct core_error *err);
/*
 * The A-label form of a domain for a header that must stay ASCII (RFC 5890 §2.3.2.1,
 * IDNA2008 with the UTS #46 mapping nontransitional): ASCII domains are copied unchanged.
 * Returns 0, or CORE_ESYNTAX when a label cannot be an IDN (then *out is unchanged).
 */
int mail_idn_to_ascii(struct core_arena *a, struct core_str domain, struct core_str *out,
		      struct core_error *err);
/* addr's email with its domain in U-labels, for display; the email unchanged when the domain
 * has no valid A-label. Arena-owned. */
struct core_str mail_addr_email_unicode(struct core_arena *a, const struct mail_addr *addr);

/* ------------------------------------------------------------------------------------- */
/* IMAP BINARY (mail_imap_binary.c)                                                        */
/* ------------------------------------------------------------------------------------- */

/*
 * Resolve the section-binary of RFC 3516 §6 / RFC 9051 §6.4.5 (the text between the
 * brackets of BINARY[...]: "" or part numbers "1.2") to a part. "" gives NULL in *p_out: the
 * whole message, sent as it is. CORE_ESYNTAX for a malformed section, CORE_ENOTFOUND for a
 * part that does not exist, CORE_EPERM for a multipart, message/rfc822 or message/global part
 * (RFC 9051 §6.4.5: BINARY is for leaf parts only).
 */
int mail_imap_binary_part(const struct mail_message *m, const char *spec, size_t spec_len,
			  const struct mail_part **p_out, struct core_error *err);
/*
 * The content of leaf part p (NULL: the whole message) with its Content-Transfer-Encoding
 * removed (RFC 3516 §4.2, RFC 9051 §7.5.2): base64 and quoted-printable decoded, 7bit, 8bit
 * and binary as they are; textual (text/...) content has bare LF turned into CRLF (RFC 9051 §7.5.2
 * "textual line-oriented sections ... CRLF"). Appended to out. CORE_ESYNTAX (rule
 * MAIL_RULE_UNKNOWN_CTE) when the encoding is unknown: the IMAP layer answers NO
 * [UNKNOWN-CTE] (RFC 3516 §4.3).
 */
#define MAIL_RULE_UNKNOWN_CTE "RFC 3516 §4.3"
int mail_imap_binary(const struct mail_message *m, const struct mail_part *p, struct core_buf *out,
		     struct core_error *err);
/* BINARY.SIZE (RFC 3516 §4.2): the number of octets mail_imap_binary() gives (the part is
 * decoded into a scratch buffer that is freed). Same errors. */
int mail_imap_binary_size(const struct mail_message *m, const struct mail_part *p,
			  uint64_t *size_out, struct core_error *err);
/* True when the decoded data holds a NUL octet, so it must go as literal8 (RFC 3516 §4.3). */
bool mail_imap_binary_has_nul(const void *p, size_t len);

/* ------------------------------------------------------------------------------------- */
/* Message builder (mail_build.c, mail_build_hdr.c, mail_build_param.c)                   */
/* ------------------------------------------------------------------------------------- */

/*
 * Messages Staunch writes itself (DSNs, MDNs, vacation replies, reports). A builder holds a
 * tree of parts; the root is the message. Header fields are added in order; the builder adds
 * MIME-Version (root), Content-Type, Content-Transfer-Encoding and Content-Disposition itself
 * from what the part holds. mail_build_render() writes the message with CRLF line endings,
 * every header line folded at white space to at most 76 octets where the content allows
 * (RFC 5322 §2.1.1 asks for 78, RFC 2047 §2 for 76 on lines with encoded words) and never
 * over 998; a field that cannot fit (one word over 998 octets where no encoding may split it)
 * is CORE_ELIMIT.
 *
 * Text given to the builder is UTF-8 without control characters other than tab (CORE_ESYNTAX
 * otherwise); tabs become spaces, white space at both ends of a text value is dropped. Without
 * MAIL_BUILD_UTF8, non-ASCII text goes out as RFC 2047 encoded words (Q or B, the shorter,
 * never splitting a character, at most 75 octets each) and non-ASCII domains as A-labels;
 * with it (RFC 6532), as raw UTF-8. Parameter values that are long, non-ASCII or look like
 * encoded words use RFC 2231 continuations and charset encoding in both modes.
 *
 * Ownership: everything is allocated in the arena given to mail_build_new(); bytes passed in
 * are copied, nothing is borrowed after a call returns.
 */
enum mail_build_flags {
	MAIL_BUILD_UTF8 = 1 << 0, /* RFC 6532 message: raw UTF-8 in header fields */
};

/* Content-Transfer-Encoding of a leaf (RFC 2045 §6). */
enum mail_build_cte {
	MAIL_BUILD_CTE_AUTO = 0, /* 7bit when the content allows, else the shorter of
				    quoted-printable and base64 for text, base64 otherwise */
	MAIL_BUILD_CTE_7BIT,
	MAIL_BUILD_CTE_8BIT,
	MAIL_BUILD_CTE_BINARY,
	MAIL_BUILD_CTE_QP,
	MAIL_BUILD_CTE_BASE64,
};

struct mail_build;
struct mail_build_part;

/* A MIME parameter: name (ASCII token) and value (UTF-8). */
struct mail_build_param {
	const char *name;
	const char *value;
};

/* Start a message; the builder lives in arena a. flags: MAIL_BUILD_*. */
struct mail_build *mail_build_new(struct core_arena *a, unsigned flags);
/* The root part (the message itself). */
struct mail_build_part *mail_build_root(struct mail_build *b);
/* Seed of the boundary generator (default: from getrandom()); for reproducible output. */
void mail_build_seed(struct mail_build *b, uint64_t seed);

/* Unstructured field (RFC 5322 §3.2.5 unstructured; Subject, Comments, X-...): text is
 * UTF-8. The name must be RFC 5322 ftext. */
int mail_build_text(struct mail_build_part *p, const char *name, const char *text,
		    struct core_error *err);
/* Address field (RFC 5322 §3.4): mailboxes with optional display names (name.len > 0). An
 * empty list is CORE_ESYNTAX. Only name and email are read. */
int mail_build_addrs(struct mail_build_part *p, const char *name, const struct mail_addr *addrs,
		     size_t n, struct core_error *err);
/* Address field with groups (RFC 5322 §3.4 group), as mail_addr_list_parse() gives them. */
int mail_build_addr_list(struct mail_build_part *p, const char *name,
			 const struct mail_addr_list *list, struct core_error *err);
/* Date field (RFC 5322 §3.3) of t at offset_min minutes east of UTC. */
int mail_build_date(struct mail_build_part *p, const char *name, time_t t, int offset_min,
		    struct core_error *err);
/* Message-ID / In-Reply-To / References (RFC 5322 §3.6.4): ids without angle brackets,
 * each id-left "@" id-right with no white space, '<' or '>'. */
int mail_build_msgids(struct mail_build_part *p, const char *name, const struct core_str *ids,
		      size_t n, struct core_error *err);
/* A field whose value the caller formatted (ASCII, or UTF-8 with MAIL_BUILD_UTF8), folded at
 * its white space. For structured fields the builder has no function for. */
int mail_build_raw(struct mail_build_part *p, const char *name, const char *value,
		   struct core_error *err);

/* A new globally unique message id (RFC 5322 §3.6.4) "<random>.<time>@domain", without the
 * angle brackets; domain in A-labels when not ASCII. Arena-owned. */
struct core_str mail_build_msgid_new(struct core_arena *a, const char *domain);

/*
 * Make p a multipart (RFC 2046 §5.1) of subtype ("mixed", "alternative", "report" (RFC 6522
 * §3: needs a report-type parameter), ...). Its boundary is chosen at render time so that it
 * occurs in none of its parts.
 */
int mail_build_multipart(struct mail_build_part *p, const char *subtype,
			 const struct mail_build_param *params, size_t nparams,
			 struct core_error *err);
/* Append a child to multipart p; NULL when p is not a multipart. */
struct mail_build_part *mail_build_child(struct mail_build_part *p);
/*
 * Make p a leaf of type ("text/plain", "application/pdf", ...) holding len octets of data,
 * written with the given transfer encoding. Text content is put in canonical form first (every
 * line ending CRLF, RFC 2046 §4.1.1). An encoding the content cannot take (8-bit octets in
 * 7bit, NUL or a line over 998 octets in 7bit or 8bit) is CORE_ESYNTAX.
 */
int mail_build_body(struct mail_build_part *p, const char *type,
		    const struct mail_build_param *params, size_t nparams, const void *data,
		    size_t len, enum mail_build_cte cte, struct core_error *err);
/* Make p a message/rfc822 part (RFC 2046 §5.2.1) holding the message data (line endings made
 * CRLF; a message with no empty line gets one at its end, RFC 5322 §3.5); 7bit, 8bit or
 * binary as its octets need, never encoded. */
int mail_build_message(struct mail_build_part *p, const void *data, size_t len,
		       struct core_error *err);
/* Make p a text/rfc822-headers part (RFC 6522 §4) holding the header of message data (up to
 * and including its empty line; all of it when it has none). */
int mail_build_rfc822_headers(struct mail_build_part *p, const void *data, size_t len,
			      struct core_error *err);
/* Content-Disposition of p (RFC 2183): "inline" or "attachment", with filename (UTF-8, may
 * be NULL) written per RFC 2231 when long, not ASCII or looking like an encoded word. */
int mail_build_disposition(struct mail_build_part *p, const char *disposition, const char *filename,
			   struct core_error *err);

/* Write the message. CORE_ESYNTAX when a multipart has no child or a part has no content. */
int mail_build_render(struct mail_build *b, struct core_buf *out, struct core_error *err);

#endif
