/*
 * test_conformance.c: replays every transcript file (.txt) of conformance/smtp (format in
 * conformance/smtp/README.md) through smtp_session_feed(), whole and byte at a time.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_smtp.h"

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		core_buf_append(&b, tmp, n);
	fclose(fp);
	core_buf_putc(&b, '\0');
	return core_buf_detach(&b, NULL);
}

/* Run every session of one file; returns the number of sessions, -1 on failure. */
static int run_file(const char *path, struct core_buf *diag)
{
	char *text = read_file(path);
	if (text == NULL) {
		core_buf_printf(diag, "cannot read %s\n", path);
		return -1;
	}
	int sessions = 0, rc = 0;
	char *p = text;
	while (p != NULL && rc == 0) {
		char *sep = strstr(p, "\n---\n");
		if (sep != NULL)
			sep[1] = '\0';
		for (int trickle = 0; trickle < 2 && rc == 0; trickle++) {
			if (transcript_run(p, trickle != 0, diag) < 0) {
				core_buf_printf(diag, "%s: session %d (%s)\n", path, sessions + 1,
						trickle ? "trickle" : "whole");
				rc = -1;
			}
		}
		sessions++;
		p = sep ? sep + 5 : NULL;
	}
	free(text);
	return rc < 0 ? -1 : sessions;
}

START_TEST(test_smtp_conformance_corpus)
{
	const char *dir = STAUNCH_SOURCE_DIR "/conformance/smtp";
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int files = 0, sessions = 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".txt") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct core_buf diag = CORE_BUF_INIT;
		int rc = run_file(path, &diag);
		ck_assert_msg(rc > 0, "%s", core_buf_cstr(&diag));
		core_buf_fini(&diag);
		files++;
		sessions += rc;
	}
	closedir(d);
	/* The corpus covers every command and extension: never silently empty. */
	ck_assert_int_ge(files, 18);
	ck_assert_int_ge(sessions, 30);
}
END_TEST

START_TEST(test_smtp_transcript_self_check)
{
	/* The interpreter must fail on a wrong expectation, or the corpus proves nothing. */
	static const char *const wrong[] = {
		"S: 250\n",
		"S: 220\nC: NOOP\nS: 500\n",
		"S: 220\nC: NOOP\nS: 250\nS~ not there\n",
		"S: 220\nC: QUIT\nS: 221\nOPEN\n",
		"S: 220\nM= 1\n",
		"@set nonsense=1\nS: 220\n",
		"S: 220\nC: NOOP\n",
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		struct core_buf diag = CORE_BUF_INIT;
		ck_assert_msg(transcript_run(wrong[i], false, &diag) < 0, "case %zu passed", i);
		ck_assert(diag.len > 0);
		core_buf_fini(&diag);
	}
}
END_TEST

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("smtp_conformance");
	TCase *tc = tcase_create("conformance");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_smtp_conformance_corpus);
	tcase_add_test(tc, test_smtp_transcript_self_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conformance_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
