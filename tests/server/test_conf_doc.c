/*
 * docs/configuration.md must contain the reference generated from the registered keys,
 * exactly, between its BEGIN/END GENERATED REFERENCE markers (regenerate it with
 * ci/gen-config-doc.sh).
 */
#include "core/core.h"
#include "core/core_conf.h"
#include "server/server.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEGIN_MARK "<!-- BEGIN GENERATED REFERENCE -->\n"
#define END_MARK "<!-- END GENERATED REFERENCE -->"

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct core_buf b = CORE_BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		core_buf_append(&b, tmp, n);
	fclose(f);
	core_buf_putc(&b, '\0');
	return core_buf_detach(&b, NULL);
}

START_TEST(test_doc_matches_registry)
{
	char *doc = read_all(STAUNCH_SOURCE_DIR "/docs/configuration.md");
	ck_assert_msg(doc != NULL, "docs/configuration.md is missing");
	const char *begin = strstr(doc, BEGIN_MARK);
	ck_assert_msg(begin != NULL, "no " BEGIN_MARK " marker");
	begin += strlen(BEGIN_MARK);
	const char *end = strstr(begin, END_MARK);
	ck_assert_msg(end != NULL, "no " END_MARK " marker");

	struct core_buf gen = CORE_BUF_INIT;
	server_conf_register_all();
	core_conf_doc_markdown(&gen);
	size_t len = (size_t)(end - begin);
	int same = len == gen.len && memcmp(begin, gen.p, len) == 0;
	ck_assert_msg(same, "docs/configuration.md is out of date with the registered keys: run "
			    "ci/gen-config-doc.sh");
	core_buf_fini(&gen);
	free(doc);
}
END_TEST

START_TEST(test_reference_lists_server_keys)
{
	/* The generated text really describes the keys (guards against an empty reference
	 * matching an empty section). */
	struct core_buf gen = CORE_BUF_INIT;
	server_conf_register_all();
	core_conf_doc_markdown(&gen);
	static const char *const keys[] = {
		"server.hostname",        "server.run-dir",  "log.sink",
		"tls.min-version",        "listener.*.bind", "listener.*.protocol",
		"runtime.shutdown-grace", "auth.ban-exempt", "auth.allow-plain-text"};
	for (size_t i = 0; i < CORE_NELEM(keys); i++)
		ck_assert_msg(strstr(core_buf_cstr(&gen), keys[i]) != NULL, "%s missing", keys[i]);
	core_buf_fini(&gen);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_conf_doc");
	TCase *tc = tcase_create("doc");
	tcase_add_test(tc, test_doc_matches_registry);
	tcase_add_test(tc, test_reference_lists_server_keys);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
