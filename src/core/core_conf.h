/*
 * core_conf.h: the configuration file of Staunch.
 *
 * Format (documented in docs/configuration.md): a TOML subset.
 *   # comment
 *   [listener.smtp]            section: a dotted prefix for the keys below it
 *   bind = ["[::]:25", "0.0.0.0:25"]
 *   tls = "starttls"           strings in double quotes (\" \\ \n \t \uXXXX escapes)
 *   max-connections = 1000     integers; booleans true/false
 *   timeout = "5m"             durations: ms s m h d; sizes: B K M G (1024-based)
 *   password = "%{file:/etc/staunch/pg.secret}"   secrets by reference, also %{env:NAME}
 * Bare keys are [A-Za-z0-9_-]+; a key may be dotted (`tls.cert = ...`). Arrays hold strings or
 * integers and may span lines. The parsed result is a flat list of full keys
 * ("listener.smtp.bind") with their values and the file and line each came from.
 *
 * Keys are declared by the modules that use them in tables of struct core_conf_key
 * registered with core_conf_register(). A pattern segment "*" matches one name segment
 * ("listener.*.bind"). Validation reports every unknown key (with the nearest known key as a
 * suggestion), wrong type, bad enum value, out-of-range number and failed secret reference as
 * a diagnostic naming file, line and key. Getters return the registered default for keys the
 * file does not set.
 *
 * Ownership: a struct core_conf owns all its strings; pointers returned by getters are
 * borrowed and valid until core_conf_free(). The registry holds pointers to static tables.
 * Thread-safety: register keys before any parse; a loaded core_conf is read-only and may be
 * shared between threads.
 */
#ifndef STAUNCH_CORE_CONF_H
#define STAUNCH_CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_buf;

/* Limits of core_conf_parse() (each over-limit input is a diagnostic, never a crash). */
#define CORE_CONF_MAX_TEXT (1024u * 1024u) /* bytes of configuration text */
#define CORE_CONF_MAX_KEYS 4096u           /* keys set in one file */
#define CORE_CONF_MAX_VALUE (64u * 1024u)  /* bytes of one value (an array: all its items) */
#define CORE_CONF_MAX_KEY 1024u            /* bytes of one full key */
#define CORE_CONF_MAX_DIAGS 200u           /* diagnostics kept; one more says "too many" */

enum core_conf_type {
	CORE_CONF_STRING,   /* any string */
	CORE_CONF_INT,      /* signed 64-bit integer, checked against min/max when max > min */
	CORE_CONF_BOOL,     /* true / false */
	CORE_CONF_DURATION, /* "250ms", "30s", "5m", "2h", "7d" or an integer of seconds */
	CORE_CONF_SIZE,     /* "512", "64K", "10M", "2G" (1024-based) or an integer of bytes */
	CORE_CONF_ENUM,     /* one of the '|'-separated words of enums */
	CORE_CONF_LIST,     /* array of strings (a single string is a list of one) */
	CORE_CONF_PATH,     /* string naming a file or directory */
};

/* Flags of a key. */
#define CORE_CONF_SECRET 0x1u   /* value never printed (config show prints "<secret>") */
#define CORE_CONF_REQUIRED 0x2u /* must be set whenever its section (parent prefix) exists */

struct core_conf_key {
	const char *pattern; /* "server.hostname", "listener.*.bind" */
	enum core_conf_type type;
	const char *def;   /* default in file syntax without quotes ("30s", "true"); NULL: none */
	const char *enums; /* for CORE_CONF_ENUM: "none|starttls|implicit" */
	int64_t min, max;  /* range for INT, SIZE (bytes), DURATION (ms); ignored when max <= min */
	unsigned flags;
	const char *doc; /* one sentence for docs/configuration.md */
};

/*
 * Register a module's table (static storage, n entries) under a section title used in the
 * generated reference ("Listeners"). Registering the same table twice is a no-op.
 */
void core_conf_register(const char *title, const struct core_conf_key *keys, size_t n);
/* Forget every registered table (tests). */
void core_conf_registry_clear(void);
/* The registered key whose pattern matches a full key, or NULL. */
const struct core_conf_key *core_conf_key_lookup(const char *key);
/* Append the reference of every registered key as Markdown (tables per section title). */
void core_conf_doc_markdown(struct core_buf *out);

/* One diagnostic of parsing or validation. */
struct core_conf_diag {
	char *file;    /* file name as given */
	unsigned line; /* 1-based, 0 when not tied to a line */
	char *key;     /* full key, or NULL for syntax errors outside a key */
	char *msg;     /* what is wrong, in one line */
};

struct core_conf_diags {
	struct core_conf_diag *v;
	size_t n, cap;
};

void core_conf_diags_init(struct core_conf_diags *d);
void core_conf_diags_fini(struct core_conf_diags *d);
/* "FILE:LINE: key KEY: MSG" per diagnostic, one per line. */
void core_conf_diags_format(const struct core_conf_diags *d, struct core_buf *out);

struct core_conf;

/*
 * Parse text (name is used in diagnostics). Pure: no file access, no secrets expanded, no
 * validation against the registry. Returns 0, or CORE_ESYNTAX with diagnostics in d (the
 * parser continues after an error so one run reports every bad line); *out is set on
 * success only. Limits: 1 MiB of text, 4096 keys, 64 KiB per value.
 */
int core_conf_parse(const char *name, const char *data, size_t len, struct core_conf **out,
		    struct core_conf_diags *d);

/*
 * Read a file, parse it, expand %{file:..} and %{env:..} references and validate against the
 * registry. Returns 0, CORE_EIO (file unreadable) or CORE_ESYNTAX with every problem in d.
 */
int core_conf_load(const char *path, struct core_conf **out, struct core_conf_diags *d);
/* Same for text already in memory (secrets are expanded; file references are read). */
int core_conf_load_buf(const char *name, const char *data, size_t len, struct core_conf **out,
		       struct core_conf_diags *d);
/* Check a parsed configuration against the registry; returns 0 or CORE_ESYNTAX. */
int core_conf_validate(const struct core_conf *c, struct core_conf_diags *d);

/* An empty configuration (every getter returns the default). */
struct core_conf *core_conf_new_empty(void);
void core_conf_free(struct core_conf **c);

/*
 * Set or replace a value (tests, command-line overrides). value is in file syntax
 * ("\"x\"", "5", "true", "[\"a\", \"b\"]"); text that is not a valid value is stored as
 * a plain string, so "5m" or "mx.example.org" work unquoted. Returns 0 or CORE_ESYNTAX (bad
 * key, NUL or over-limit value). Invalidates pointers borrowed from c before the call.
 */
int core_conf_set(struct core_conf *c, const char *key, const char *value);

bool core_conf_has(const struct core_conf *c, const char *key);
/* Getters: the file's value, else the registered default, else fallback (or NULL / 0). */
const char *core_conf_get_str(const struct core_conf *c, const char *key, const char *fallback);
int64_t core_conf_get_int(const struct core_conf *c, const char *key, int64_t fallback);
bool core_conf_get_bool(const struct core_conf *c, const char *key, bool fallback);
uint64_t core_conf_get_size(const struct core_conf *c, const char *key, uint64_t fallback);
uint64_t core_conf_get_duration_ms(const struct core_conf *c, const char *key, uint64_t fallback);
/* List values: *items_out borrows an array of n strings. A scalar counts as a list of one. */
size_t core_conf_get_list(const struct core_conf *c, const char *key,
			  const char *const **items_out);

/*
 * The distinct names under a prefix, in file order: for prefix "listener" and keys
 * listener.smtp.bind, listener.imap.bind, returns {"smtp", "imap"}. *names_out is borrowed.
 */
size_t core_conf_children(const struct core_conf *c, const char *prefix,
			  const char *const **names_out);

/* Where a key was set: file name and line, or NULL/0 for defaults. */
const char *core_conf_origin(const struct core_conf *c, const char *key, unsigned *line_out);

/* Parse helpers shared with the CLI: return 0 or CORE_ESYNTAX. */
int core_conf_parse_duration_ms(const char *s, uint64_t *out);
int core_conf_parse_size(const char *s, uint64_t *out);
int core_conf_parse_bool(const char *s, bool *out);

#endif
