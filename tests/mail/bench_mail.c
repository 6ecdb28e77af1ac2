/*
 * bench_mail.c: structure-parse throughput of src/mail and of GMime 3 (issue 5, item 10).
 *
 * The corpus is every message of conformance/mail/messages and of ../shared/vectors/mime-*
 * and mimekit-testdata (or the files and folders given), loaded into memory once and cycled
 * until about TARGET_MB megabytes (default 100) have been parsed. Both parsers do the same
 * work: build the tree of parts from the bytes, with no transfer or charset decoding of
 * bodies. src/mail: mail_message_parse() into an arena reset between messages. GMime: a memory
 * stream over the same bytes (no copy), a parser with a persistent stream (part contents are
 * ranges of the input) and g_mime_parser_construct_message(). Each parser runs RUNS times
 * (default 5); the median MB/s is printed with the ratio.
 *
 * Usage: mail_bench [--mb N] [--runs N] [PATH...]
 */
#include <dirent.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mail/mail.h"

#define CORPUS_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"
#define VECTORS_DIR STAUNCH_SOURCE_DIR "/../shared/vectors"

struct corpus {
	GByteArray **msgs;
	size_t n, cap, bytes;
};

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

static void corpus_add(struct corpus *c, const char *path)
{
	size_t len;
	char *data = read_file(path, &len);
	if (data == NULL || len == 0) {
		free(data);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->msgs = core_xrealloc(c->msgs, c->cap * sizeof(*c->msgs));
	}
	GByteArray *arr = g_byte_array_sized_new((guint)len);
	g_byte_array_append(arr, (const guint8 *)data, (guint)len);
	c->msgs[c->n++] = arr;
	c->bytes += len;
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

static void walk(struct corpus *c, const char *path, bool top, const char *prefix)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		if (top || is_message_name(path))
			corpus_add(c, path);
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
		if (prefix != NULL && strncmp(e->d_name, prefix, strlen(prefix)) != 0 &&
		    strcmp(e->d_name, "mimekit-testdata") != 0)
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
		walk(c, names[i], false, NULL);
		free(names[i]);
	}
	free(names);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse messages cyclically until target bytes; returns MB/s. *parts_out counts parts. */
static double run_staunch(const struct corpus *c, size_t target, size_t *parts_out)
{
	struct core_arena *a = core_arena_new(0);
	size_t done = 0, parts = 0;
	double t0 = now_s();
	for (size_t i = 0; done < target; i = (i + 1) % c->n) {
		struct mail_message *m;
		if (mail_message_parse(a, c->msgs[i]->data, c->msgs[i]->len, NULL, &m, NULL) == 0)
			parts += m->nparts;
		done += c->msgs[i]->len;
		core_arena_reset(a);
	}
	double t = now_s() - t0;
	core_arena_free(&a);
	*parts_out = parts;
	return (double)done / 1e6 / t;
}

static size_t gmime_count(GMimeObject *o)
{
	if (o == NULL)
		return 0;
	size_t n = 1;
	if (GMIME_IS_MULTIPART(o)) {
		int k = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (int i = 0; i < k; i++)
			n += gmime_count(g_mime_multipart_get_part(GMIME_MULTIPART(o), i));
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL)
			n += gmime_count(g_mime_message_get_mime_part(m));
	}
	return n;
}

static double run_gmime(const struct corpus *c, size_t target, size_t *parts_out)
{
	size_t done = 0, parts = 0;
	double t0 = now_s();
	for (size_t i = 0; done < target; i = (i + 1) % c->n) {
		GMimeStream *s = g_mime_stream_mem_new_with_byte_array(c->msgs[i]);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
		GMimeParser *p = g_mime_parser_new_with_stream(s);
		g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
		g_mime_parser_set_persist_stream(p, TRUE);
		GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
		if (m != NULL) {
			parts += gmime_count(g_mime_message_get_mime_part(m));
			g_object_unref(m);
		}
		g_object_unref(p);
		g_object_unref(s);
		done += c->msgs[i]->len;
	}
	double t = now_s() - t0;
	*parts_out = parts;
	return (double)done / 1e6 / t;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define RUNS_MAX 50

int main(int argc, char **argv)
{
	size_t mb = 100, runs = 5;
	int first = 1;
	for (; first + 1 < argc && argv[first][0] == '-'; first += 2) {
		long v = strtol(argv[first + 1], NULL, 10);
		if (strcmp(argv[first], "--mb") == 0 && v > 0)
			mb = (size_t)v;
		else if (strcmp(argv[first], "--runs") == 0 && v > 0 && v <= RUNS_MAX)
			runs = (size_t)v;
		else {
			fprintf(stderr, "usage: %s [--mb N] [--runs N] [PATH...]\n", argv[0]);
			return 2;
		}
	}
	g_mime_init();
	struct corpus c = {0};
	if (first == argc) {
		walk(&c, CORPUS_DIR, true, NULL);
		walk(&c, VECTORS_DIR, true, "mime-");
	}
	for (int i = first; i < argc; i++)
		walk(&c, argv[i], true, NULL);
	if (c.n == 0) {
		fprintf(stderr, "no messages found\n");
		return 2;
	}
	size_t target = mb * 1000 * 1000;
	printf("corpus: %zu messages, %.2f MB, cycled to %zu MB per run, %zu runs\n", c.n,
	       (double)c.bytes / 1e6, mb, runs);
	double s[RUNS_MAX], g[RUNS_MAX];
	size_t sparts = 0, gparts = 0;
	for (size_t r = 0; r < runs; r++) {
		/* Alternate, so drift in machine load touches both alike. */
		s[r] = run_staunch(&c, target, &sparts);
		g[r] = run_gmime(&c, target, &gparts);
		printf("run %zu: src/mail %8.1f MB/s   GMime %8.1f MB/s\n", r + 1, s[r], g[r]);
	}
	qsort(s, runs, sizeof(double), dbl_cmp);
	qsort(g, runs, sizeof(double), dbl_cmp);
	double sm = s[runs / 2], gm = g[runs / 2];
	printf("%-10s %12s %14s\n", "parser", "median MB/s", "parts per run");
	printf("%-10s %12.1f %14zu\n", "src/mail", sm, sparts);
	printf("%-10s %12.1f %14zu\n", "GMime", gm, gparts);
	printf("ratio src/mail / GMime: %.2fx (aim: at least 2x)\n", sm / gm);
	for (size_t i = 0; i < c.n; i++)
		g_byte_array_unref(c.msgs[i]);
	free(c.msgs);
	g_mime_shutdown();
	mail_charset_cache_flush();
	return 0;
}
