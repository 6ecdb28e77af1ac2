/*
 * test_corpus.c: the conformance corpus of src/mail.
 *
 * conformance/mail/messages/<case>.eml is parsed and rendered as JSON (helper_render.c); the
 * result must equal <case>.json byte for byte. Then every message of the public vectors
 * (../shared/vectors/mime-*, mimekit-testdata) must parse and keep the tree invariants; those
 * have no expected structure. Each case is reported as "PASS name" or "FAIL name".
 *
 * Authoring aid: `mail_test_corpus --render FILE` prints the JSON of one message.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helper_render.h"

#define CORPUS_DIR STAUNCH_SOURCE_DIR "/conformance/mail/messages"
#define VECTORS_DIR STAUNCH_SOURCE_DIR "/../shared/vectors"

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names in dir ending in one of exts (NULL-terminated); caller frees. */
static char **list_dir(const char *dir, const char *const *exts, size_t *n_out)
{
	*n_out = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	size_t n = 0, cap = 64;
	char **v = core_xmalloc(cap * sizeof(*v));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		bool ok = false;
		for (size_t i = 0; exts[i] != NULL && !ok; i++) {
			size_t el = strlen(exts[i]);
			ok = l > el && strcmp(e->d_name + l - el, exts[i]) == 0;
		}
		if (!ok)
			continue;
		if (n == cap) {
			cap *= 2;
			v = core_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = core_xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), str_cmp);
	*n_out = n;
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Render one file; returns 0 and the JSON in out, or -1 if unreadable. */
static int render_file(const char *path, struct core_buf *out, bool verify)
{
	size_t len;
	char *data = mail_test_read_file(path, &len);
	if (data == NULL)
		return -1;
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	struct core_error err;
	int r = mail_message_parse(a, data, len, NULL, &m, &err);
	if (r == 0 && verify)
		r = mail_message_verify(m, &err);
	if (r == 0)
		mail_test_render(a, m, out);
	else
		core_buf_printf(out, "error: %s\n", err.msg);
	core_arena_free(&a);
	free(data);
	return r;
}

START_TEST(test_own_corpus)
{
	static const char *const exts[] = {".eml", NULL};
	size_t n;
	char **files = list_dir(CORPUS_DIR, exts, &n);
	ck_assert_msg(files != NULL && n >= 40, "corpus missing or small: %zu", n);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct core_buf got = CORE_BUF_INIT;
		int r = render_file(files[i], &got, true);
		char *jpath = core_xasprintf("%.*s.json", (int)(strlen(files[i]) - 4), files[i]);
		size_t elen;
		char *want = mail_test_read_file(jpath, &elen);
		bool ok =
			r == 0 && want != NULL && elen == got.len && memcmp(want, got.p, elen) == 0;
		printf("%s %s\n", ok ? "PASS" : "FAIL", strrchr(files[i], '/') + 1);
		if (!ok) {
			failed++;
			printf("--- got:\n%s", core_buf_cstr(&got));
		}
		free(want);
		free(jpath);
		core_buf_fini(&got);
	}
	free_list(files, n);
	ck_assert_msg(failed == 0, "%zu of %zu corpus cases differ", failed, n);
}
END_TEST

/* Walk a vectors folder recursively: every message parses and keeps the invariants. */
static void walk_vectors(const char *dir, size_t *total, size_t *failed)
{
	DIR *d = opendir(dir);
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
		names[n++] = core_xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk_vectors(names[i], total, failed);
			continue;
		}
		size_t l = strlen(names[i]);
		bool msg = (l > 4 && (strcmp(names[i] + l - 4, ".eml") == 0 ||
				      strcmp(names[i] + l - 4, ".msg") == 0 ||
				      strcmp(names[i] + l - 4, ".txt") == 0));
		if (!msg || strstr(names[i], "LICENSE") != NULL)
			continue;
		struct core_buf got = CORE_BUF_INIT;
		int r = render_file(names[i], &got, true);
		(*total)++;
		if (r != 0)
			(*failed)++;
		printf("%s %s\n", r == 0 ? "PASS" : "FAIL", names[i] + strlen(VECTORS_DIR) + 1);
		if (r != 0)
			printf("  %s", core_buf_cstr(&got));
		core_buf_fini(&got);
	}
	free_list(names, n);
}

START_TEST(test_public_vectors)
{
	static const char *const dirs[] = {"mime-mail-parser-stalwart", "mime-torture-crispin",
					   "mimekit-testdata"};
	size_t total = 0, failed = 0;
	for (size_t i = 0; i < CORE_NELEM(dirs); i++) {
		char *p = core_xasprintf("%s/%s", VECTORS_DIR, dirs[i]);
		walk_vectors(p, &total, &failed);
		free(p);
	}
	printf("vectors: %zu cases, %zu failed\n", total, failed);
	ck_assert_uint_eq(failed, 0);
}
END_TEST

/* The Crispin MIME torture test parses completely: every multipart closed, no limit reached,
 * and the same number of parts as GMime 3.2 finds (52, counted by walking multiparts and
 * message/rfc822 parts). Skipped when the vectors are not present. */
START_TEST(test_crispin_torture)
{
	char *path = core_xasprintf("%s/mime-torture-crispin/mime-torture.eml", VECTORS_DIR);
	size_t len;
	char *data = mail_test_read_file(path, &len);
	free(path);
	if (data == NULL) {
		printf("SKIP mime-torture-crispin (not present)\n");
		return;
	}
	struct core_arena *a = core_arena_new(0);
	struct mail_message *m;
	ck_assert_int_eq(mail_message_parse(a, data, len, NULL, &m, NULL), 0);
	ck_assert_int_eq(mail_message_verify(m, NULL), 0);
	ck_assert_uint_eq(m->nparts, 52);
	ck_assert_uint_eq(m->nproblems, 0);
	size_t multiparts = 0, messages = 0;
	for (size_t i = 0; i < m->nparts; i++) {
		const struct mail_part *p = m->parts[i];
		ck_assert_msg(!(p->flags & (MAIL_PART_F_NO_CLOSE | MAIL_PART_F_BOUNDARY_MISSING |
					    MAIL_PART_F_NO_BOUNDARY | MAIL_PART_F_NO_BLANK_LINE)),
			      "part %zu flags %x", i, p->flags);
		multiparts += mail_part_is_multipart(p);
		messages += mail_part_is_message(p);
	}
	ck_assert_uint_gt(multiparts, 5);
	ck_assert_uint_gt(messages, 5);
	printf("PASS mime-torture-crispin: %zu parts, %zu multiparts, %zu messages\n", m->nparts,
	       multiparts, messages);
	core_arena_free(&a);
	free(data);
}
END_TEST

int main(int argc, char **argv)
{
	/* Line-buffered, so the per-case lines survive a failing forked test. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "--render") == 0) {
		struct core_buf out = CORE_BUF_INIT;
		int r = render_file(argv[2], &out, true);
		fputs(core_buf_cstr(&out), stdout);
		core_buf_fini(&out);
		mail_charset_cache_flush();
		return r == 0 ? 0 : 1;
	}
	Suite *s = suite_create("mail_corpus");
	TCase *tc = tcase_create("corpus");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_own_corpus);
	tcase_add_test(tc, test_public_vectors);
	tcase_add_test(tc, test_crispin_torture);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mail_charset_cache_flush();
	return failed == 0 ? 0 : 1;
}
