/*
 * gmime_diff.c: structural differences between src/mail and GMime 3 (issue 5, item 8).
 *
 * Every message is parsed by mail_message_parse() and by GMime's parser (constructing the
 * message object tree from the bytes, persistent stream so part contents stay ranges of the
 * input). Both trees are flattened into parts named by their path ("" for the root, "2.1" for
 * the first child of the second child; the one child of a message/rfc822 part is the
 * encapsulated message, as in src/mail), and parts with the same path are compared:
 *
 *   only-staunch / only-gmime   a part that one parser has and the other has not
 *   children                    number of children
 *   type                        effective media type/subtype
 *   boundary                    multipart boundary
 *   charset                     declared charset parameter
 *   filename                    Content-Disposition filename, else Content-Type name
 *   disposition                 Content-Disposition type
 *   header-count                number of header fields of the part (of the message, for
 *                               the root and encapsulated messages)
 *   header-offset               offset of the first header field whose offsets differ
 *   body-range                  [start, end) of a leaf's content in the message
 *
 * Each difference is printed as "DIFF <message> <path>:<key> staunch=<a> gmime=<b>", the
 * message named relative to the source tree ("conformance/mail/messages/x.eml") or to the
 * vectors folder ("vectors/mime-torture-crispin/mime-torture.eml").
 *
 * Usage: mail_gmime_diff [--allow FILE] [--quiet] [PATH...]
 *   PATH       message files or folders (walked recursively); default: the own corpus and
 *              ../shared/vectors/mime-* and mimekit-testdata when present.
 *   --allow    allow-list: lines "<message> <path>:<key> <rule...>" ('#' comments). Exit
 *              status 1 when a difference is not listed; listed ones are marked "allowed".
 *   --quiet    print only differences that are not allowed, and the summary.
 * Exit status: 0, 1 (unexplained differences) or 2 (usage, unreadable input).
 */
#include <dirent.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "mail/mail.h"

#define CORPUS_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"
#define VECTORS_DIR STAUNCH_SOURCE_DIR "/../shared/vectors"

/* One part of either tree, flattened. Strings are malloc'ed, lower-case where MIME says
 * case does not matter (type, charset, disposition), as written otherwise. */
struct dpart {
	char *path;
	char *type;
	char *boundary;
	char *charset;
	char *filename;
	char *disposition;
	size_t nchildren;
	size_t nfields;
	long long *field_off;           /* nfields offsets, or NULL when unknown */
	long long body_start, body_end; /* leaves only; -1 when unknown */
};

struct dtree {
	struct dpart *v;
	size_t n, cap;
};

static char *xstrdup_lower(const char *s, bool lower)
{
	if (s == NULL)
		return core_xstrdup("");
	char *d = core_xstrdup(s);
	if (lower)
		for (char *p = d; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return d;
}

static char *xstrndup_lower(const char *s, size_t n, bool lower)
{
	char *d = core_xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	char *r = xstrdup_lower(d, lower);
	free(d);
	return r;
}

static struct dpart *dtree_add(struct dtree *t, const char *path)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = core_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct dpart *p = &t->v[t->n++];
	memset(p, 0, sizeof(*p));
	p->path = core_xstrdup(path);
	p->body_start = p->body_end = -1;
	return p;
}

static void dtree_free(struct dtree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct dpart *p = &t->v[i];
		free(p->path);
		free(p->type);
		free(p->boundary);
		free(p->charset);
		free(p->filename);
		free(p->disposition);
		free(p->field_off);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static char *child_path(const char *parent, size_t i)
{
	return parent[0] == '\0' ? core_xasprintf("%zu", i + 1)
				 : core_xasprintf("%s.%zu", parent, i + 1);
}

/* ---------------------------------------------------------------------------------- */
/* src/mail                                                                             */
/* ---------------------------------------------------------------------------------- */

static char *str_of(struct core_str s, bool lower)
{
	return xstrndup_lower(s.p != NULL ? s.p : "", s.p != NULL ? s.len : 0, lower);
}

static void staunch_walk(const struct mail_part *mp, const char *path, struct dtree *t)
{
	struct dpart *d = dtree_add(t, path);
	d->type = core_xasprintf("%.*s/%.*s", (int)mp->ct.type.len, mp->ct.type.p,
				 (int)mp->ct.subtype.len, mp->ct.subtype.p);
	d->boundary = mail_part_is_multipart(mp) ? str_of(mp->boundary, false) : core_xstrdup("");
	d->charset = str_of(mp->charset, true);
	const struct mail_param *fn = NULL;
	if (mp->has_disposition)
		fn = mail_mime_param_find(&mp->disposition, "filename");
	if (fn == NULL)
		fn = mail_mime_param_find(&mp->ct, "name");
	d->filename = fn != NULL ? str_of(fn->value, false) : core_xstrdup("");
	d->disposition =
		mp->has_disposition ? str_of(mp->disposition.type, true) : core_xstrdup("");
	d->nchildren = mp->nchildren;
	d->nfields = mp->header.count;
	d->field_off = core_xmalloc((mp->header.count + 1) * sizeof(*d->field_off));
	for (size_t i = 0; i < mp->header.count; i++)
		d->field_off[i] = (long long)mp->header.fields[i].off;
	if (mp->nchildren == 0 && !mail_part_is_multipart(mp) && !mail_part_is_message(mp)) {
		d->body_start = (long long)mp->body_off;
		d->body_end = (long long)(mp->body_off + mp->body_len);
	}
	for (size_t i = 0; i < mp->nchildren; i++) {
		char *cp = child_path(path, i);
		staunch_walk(mp->children[i], cp, t);
		free(cp);
	}
}

static int staunch_parse(const char *data, size_t len, struct dtree *t, char **err_out)
{
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	struct core_error err;
	int r = mail_message_parse(a, data, len, NULL, &m, &err);
	if (r == 0)
		staunch_walk(m->root, "", t);
	else
		*err_out = core_xstrdup(err.msg);
	core_arena_free(&a);
	return r;
}

/* ---------------------------------------------------------------------------------- */
/* GMime                                                                                */
/* ---------------------------------------------------------------------------------- */

static int off_cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static void gmime_add_headers(struct dpart *d, GMimeHeaderList *hl)
{
	int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
	if (n <= 0)
		return;
	d->field_off =
		core_xrealloc(d->field_off, (d->nfields + (size_t)n + 1) * sizeof(*d->field_off));
	for (int i = 0; i < n; i++)
		d->field_off[d->nfields++] = (long long)g_mime_header_get_offset(
			g_mime_header_list_get_header_at(hl, i));
}

/* The header fields of a part. GMime 3 keeps a message's Content-* fields in the list of its
 * body object and the others in the message's list; both are one header block in the
 * message (RFC 5322 §2.1), so the two lists are merged in offset order. */
static void gmime_fill_headers(struct dpart *d, GMimeObject *hdr_owner, GMimeObject *obj)
{
	d->field_off = core_xmalloc(sizeof(*d->field_off));
	gmime_add_headers(d, g_mime_object_get_header_list(hdr_owner));
	if (obj != NULL && obj != hdr_owner)
		gmime_add_headers(d, g_mime_object_get_header_list(obj));
	qsort(d->field_off, d->nfields, sizeof(*d->field_off), off_cmp);
}

/* obj: the object giving type and parameters; hdr_owner: the object whose header list is
 * the part's header (the GMimeMessage for the root and encapsulated messages). */
static void gmime_walk(GMimeObject *obj, GMimeObject *hdr_owner, const char *path, struct dtree *t)
{
	struct dpart *d = dtree_add(t, path);
	gmime_fill_headers(d, hdr_owner, obj);
	if (obj == NULL) {
		/* A message without a body object: no type at all. */
		d->type = core_xstrdup("(none)");
		d->boundary = core_xstrdup("");
		d->charset = core_xstrdup("");
		d->filename = core_xstrdup("");
		d->disposition = core_xstrdup("");
		return;
	}
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *type = core_xasprintf("%s/%s", ct ? g_mime_content_type_get_media_type(ct) : "",
				    ct ? g_mime_content_type_get_media_subtype(ct) : "");
	d->type = xstrdup_lower(type, true);
	free(type);
	d->charset =
		xstrdup_lower(ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL, true);
	GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);
	const char *fn = cd ? g_mime_content_disposition_get_parameter(cd, "filename") : NULL;
	if (fn == NULL && ct != NULL)
		fn = g_mime_content_type_get_parameter(ct, "name");
	d->filename = xstrdup_lower(fn, false);
	d->disposition =
		xstrdup_lower(cd ? g_mime_content_disposition_get_disposition(cd) : NULL, true);
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		/* The parameter as parsed: g_mime_multipart_get_boundary() would invent one
		 * when the message has none. */
		d->boundary = xstrdup_lower(
			ct ? g_mime_content_type_get_parameter(ct, "boundary") : NULL, false);
		int n = g_mime_multipart_get_count(mp);
		d->nchildren = n > 0 ? (size_t)n : 0;
		for (int i = 0; i < n; i++) {
			GMimeObject *c = g_mime_multipart_get_part(mp, i);
			char *cp = child_path(path, (size_t)i);
			gmime_walk(c, c, cp, t);
			free(cp);
		}
		return;
	}
	d->boundary = core_xstrdup("");
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner != NULL) {
			d->nchildren = 1;
			char *cp = child_path(path, 0);
			gmime_walk(g_mime_message_get_mime_part(inner), GMIME_OBJECT(inner), cp, t);
			free(cp);
		}
		return;
	}
	if (GMIME_IS_PART(obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));
		GMimeStream *s = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
		if (s != NULL && s->bound_end >= 0) {
			d->body_start = (long long)s->bound_start;
			d->body_end = (long long)s->bound_end;
		}
	}
}

static int gmime_parse(const char *data, size_t len, struct dtree *t)
{
	GByteArray *arr = g_byte_array_new();
	g_byte_array_append(arr, (const guint8 *)data, (guint)len);
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(arr);
	GMimeParser *parser = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	int r = -1;
	if (msg != NULL) {
		gmime_walk(g_mime_message_get_mime_part(msg), GMIME_OBJECT(msg), "", t);
		g_object_unref(msg);
		r = 0;
	}
	g_object_unref(parser);
	g_object_unref(s);
	return r;
}

/* ---------------------------------------------------------------------------------- */
/* Comparison and allow-list                                                            */
/* ---------------------------------------------------------------------------------- */

struct allow {
	char **keys; /* "<message> <path>:<key>" */
	bool *seen;
	size_t n, cap;
};

static bool allow_has(struct allow *al, const char *key)
{
	for (size_t i = 0; i < al->n; i++)
		if (strcmp(al->keys[i], key) == 0) {
			al->seen[i] = true;
			return true;
		}
	return false;
}

static int allow_load(struct allow *al, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[4096];
	while (fgets(line, sizeof(line), f) != NULL) {
		char msg[2048], key[1024];
		if (line[0] == '#' || sscanf(line, "%2047s %1023s", msg, key) != 2)
			continue;
		if (al->n == al->cap) {
			al->cap = al->cap ? al->cap * 2 : 64;
			al->keys = core_xrealloc(al->keys, al->cap * sizeof(*al->keys));
			al->seen = core_xrealloc(al->seen, al->cap * sizeof(*al->seen));
		}
		al->keys[al->n] = core_xasprintf("%s %s", msg, key);
		al->seen[al->n++] = false;
	}
	fclose(f);
	return 0;
}

struct stats {
	size_t messages, identical, diffs, unexpected, failures;
	bool quiet, have_allow;
	struct allow allow;
};

static void report(struct stats *st, const char *name, const char *path, const char *key,
		   const char *a, const char *b)
{
	char *k = core_xasprintf("%s %s:%s", name, path[0] ? path : "root", key);
	bool ok = st->have_allow && allow_has(&st->allow, k);
	st->diffs++;
	if (st->have_allow && !ok)
		st->unexpected++;
	if (!st->quiet || (st->have_allow && !ok))
		printf("DIFF %s staunch=%s gmime=%s%s\n", k, a, b,
		       !st->have_allow ? "" : (ok ? " (allowed)" : " (UNEXPECTED)"));
	free(k);
}

static void cmp_str(struct stats *st, const char *name, const char *path, const char *key,
		    const char *a, const char *b, size_t *n)
{
	if (strcmp(a, b) != 0) {
		char *qa = core_xasprintf("\"%s\"", a), *qb = core_xasprintf("\"%s\"", b);
		report(st, name, path, key, qa, qb);
		free(qa);
		free(qb);
		(*n)++;
	}
}

static const struct dpart *find_path(const struct dtree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].path, path) == 0)
			return &t->v[i];
	return NULL;
}

static size_t compare(struct stats *st, const char *name, const struct dtree *s,
		      const struct dtree *g)
{
	size_t n = 0;
	char a[64], b[64];
	for (size_t i = 0; i < s->n; i++) {
		const struct dpart *ps = &s->v[i];
		const struct dpart *pg = find_path(g, ps->path);
		if (pg == NULL) {
			report(st, name, ps->path, "only-staunch", ps->type, "-");
			n++;
			continue;
		}
		if (ps->nchildren != pg->nchildren) {
			snprintf(a, sizeof(a), "%zu", ps->nchildren);
			snprintf(b, sizeof(b), "%zu", pg->nchildren);
			report(st, name, ps->path, "children", a, b);
			n++;
		}
		cmp_str(st, name, ps->path, "type", ps->type, pg->type, &n);
		cmp_str(st, name, ps->path, "boundary", ps->boundary, pg->boundary, &n);
		cmp_str(st, name, ps->path, "charset", ps->charset, pg->charset, &n);
		cmp_str(st, name, ps->path, "filename", ps->filename, pg->filename, &n);
		cmp_str(st, name, ps->path, "disposition", ps->disposition, pg->disposition, &n);
		if (ps->nfields != pg->nfields) {
			snprintf(a, sizeof(a), "%zu", ps->nfields);
			snprintf(b, sizeof(b), "%zu", pg->nfields);
			report(st, name, ps->path, "header-count", a, b);
			n++;
		} else {
			for (size_t f = 0; f < ps->nfields; f++) {
				if (ps->field_off[f] == pg->field_off[f])
					continue;
				snprintf(a, sizeof(a), "field%zu@%lld", f, ps->field_off[f]);
				snprintf(b, sizeof(b), "field%zu@%lld", f, pg->field_off[f]);
				report(st, name, ps->path, "header-offset", a, b);
				n++;
				break;
			}
		}
		if (ps->body_start >= 0 && pg->body_start >= 0 &&
		    (ps->body_start != pg->body_start || ps->body_end != pg->body_end)) {
			snprintf(a, sizeof(a), "[%lld,%lld)", ps->body_start, ps->body_end);
			snprintf(b, sizeof(b), "[%lld,%lld)", pg->body_start, pg->body_end);
			report(st, name, ps->path, "body-range", a, b);
			n++;
		}
	}
	for (size_t i = 0; i < g->n; i++) {
		if (find_path(s, g->v[i].path) == NULL) {
			report(st, name, g->v[i].path, "only-gmime", "-", g->v[i].type);
			n++;
		}
	}
	return n;
}

static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	char chunk[65536];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		core_buf_append(&b, chunk, r);
	fclose(f);
	core_buf_cstr(&b);
	return core_buf_detach(&b, len_out);
}

/* The name of a message in reports and in the allow-list. */
static const char *display_name(const char *path, char *tmp, size_t tmplen)
{
	static const char src[] = STAUNCH_SOURCE_DIR "/";
	static const char vec[] = VECTORS_DIR "/";
	if (strncmp(path, vec, sizeof(vec) - 1) == 0) {
		snprintf(tmp, tmplen, "vectors/%s", path + sizeof(vec) - 1);
		return tmp;
	}
	if (strncmp(path, src, sizeof(src) - 1) == 0)
		return path + sizeof(src) - 1;
	return path;
}

static void diff_file(struct stats *st, const char *path)
{
	size_t len;
	char *data = read_file(path, &len);
	char tmp[4096];
	const char *name = display_name(path, tmp, sizeof(tmp));
	st->messages++;
	if (data == NULL) {
		printf("FAIL %s: unreadable\n", name);
		st->failures++;
		return;
	}
	struct dtree s = {0}, g = {0};
	char *err = NULL;
	if (staunch_parse(data, len, &s, &err) != 0) {
		printf("FAIL %s: src/mail: %s\n", name, err);
		st->failures++;
	} else if (gmime_parse(data, len, &g) != 0) {
		report(st, name, "", "gmime-no-message", "parsed", "none");
	} else if (compare(st, name, &s, &g) == 0) {
		st->identical++;
	}
	free(err);
	dtree_free(&s);
	dtree_free(&g);
	free(data);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_message_name(const char *p)
{
	size_t l = strlen(p);
	if (strstr(p, "LICENSE") != NULL || strstr(p, "COPYING") != NULL)
		return false;
	return l > 4 && (strcmp(p + l - 4, ".eml") == 0 || strcmp(p + l - 4, ".msg") == 0 ||
			 strcmp(p + l - 4, ".txt") == 0);
}

/* Walk a file or folder (sorted, recursive). Files named explicitly are always read. */
static void walk(struct stats *st, const char *path, bool top)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (top) {
			printf("FAIL %s: not found\n", path);
			st->failures++;
		}
		return;
	}
	if (!S_ISDIR(sb.st_mode)) {
		if (top || is_message_name(path))
			diff_file(st, path);
		return;
	}
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	size_t n = 0, cap = 64;
	char **names = core_xmalloc(cap * sizeof(*names));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap *= 2;
			names = core_xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = core_xasprintf("%s/%s", path, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++) {
		walk(st, names[i], false);
		free(names[i]);
	}
	free(names);
}

static void walk_defaults(struct stats *st)
{
	walk(st, CORPUS_DIR, true);
	DIR *d = opendir(VECTORS_DIR);
	if (d == NULL)
		return;
	size_t n = 0, cap = 16;
	char **names = core_xmalloc(cap * sizeof(*names));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "mime-", 5) != 0 &&
		    strcmp(e->d_name, "mimekit-testdata") != 0)
			continue;
		if (n == cap) {
			cap *= 2;
			names = core_xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = core_xasprintf("%s/%s", VECTORS_DIR, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++) {
		walk(st, names[i], false);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	struct stats st = {0};
	int first = 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "--quiet") == 0) {
			st.quiet = true;
		} else if (strcmp(argv[first], "--allow") == 0 && first + 1 < argc) {
			if (allow_load(&st.allow, argv[++first]) != 0) {
				fprintf(stderr, "cannot read allow-list %s\n", argv[first]);
				return 2;
			}
			st.have_allow = true;
		} else {
			fprintf(stderr, "usage: %s [--allow FILE] [--quiet] [PATH...]\n", argv[0]);
			return 2;
		}
	}
	g_mime_init();
	if (first == argc)
		walk_defaults(&st);
	for (int i = first; i < argc; i++)
		walk(&st, argv[i], true);
	size_t stale = 0;
	for (size_t i = 0; i < st.allow.n; i++) {
		if (!st.allow.seen[i]) {
			stale++;
			printf("STALE %s (listed, no longer different)\n", st.allow.keys[i]);
		}
		free(st.allow.keys[i]);
	}
	free(st.allow.keys);
	free(st.allow.seen);
	printf("messages: %zu, identical: %zu, differences: %zu", st.messages, st.identical,
	       st.diffs);
	if (st.have_allow)
		printf(", unexpected: %zu, stale allow-list entries: %zu", st.unexpected, stale);
	printf(", failures: %zu\n", st.failures);
	g_mime_shutdown();
	mail_charset_cache_flush();
	if (st.failures > 0)
		return 2;
	return st.unexpected > 0 ? 1 : 0;
}
