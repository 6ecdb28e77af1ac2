/* Unit tests of core_log: levels, key=value quoting, hook capture, file sink. */
#include "core/core.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char captured[4096];
static int captured_n;

static void capture(enum core_log_level level, const char *line, void *arg)
{
	(void)arg;
	(void)level;
	snprintf(captured, sizeof(captured), "%s", line);
	captured_n++;
}

START_TEST(test_levels)
{
	enum core_log_level l;
	ck_assert_int_eq(core_log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, CORE_LOG_WARN);
	ck_assert_int_eq(core_log_level_parse("verbose", &l), CORE_ESYNTAX);
	ck_assert_str_eq(core_log_level_name(CORE_LOG_NOTICE), "notice");
	core_log_set_hook(capture, NULL);
	core_log_set_level(CORE_LOG_WARN);
	captured_n = 0;
	core_log(CORE_LOG_INFO, "t.skip", "k", "v", NULL);
	ck_assert_int_eq(captured_n, 0);
	core_log(CORE_LOG_ERROR, "t.keep", "k", "v", NULL);
	ck_assert_int_eq(captured_n, 1);
	core_log_set_level(CORE_LOG_INFO);
	core_log_set_hook(NULL, NULL);
}
END_TEST

START_TEST(test_quoting)
{
	core_log_set_hook(capture, NULL);
	core_log(CORE_LOG_INFO, "net.accept", "listener", "smtp", "remote", "127.0.0.1:25", "empty",
		 "", "null", NULL, "sp", "a b", "q", "say \"hi\"\n", "eq", "a=b", NULL);
	ck_assert_ptr_nonnull(strstr(captured, " level=info event=net.accept listener=smtp "
					       "remote=127.0.0.1:25 empty=\"\" null=\"\" "
					       "sp=\"a b\" q=\"say \\\"hi\\\"\\n\" eq=\"a=b\""));
	ck_assert(strncmp(captured, "ts=", 3) == 0);
	core_logf(CORE_LOG_WARN, "x.y", "%d items", 3);
	ck_assert_ptr_nonnull(strstr(captured, "level=warn event=x.y msg=\"3 items\""));
	core_log(CORE_LOG_INFO, "ctl", "bin", "\x01\x7f", NULL);
	ck_assert_ptr_nonnull(strstr(captured, "bin=\"\\x01\\x7f\""));
	core_log_set_hook(NULL, NULL);
}
END_TEST

START_TEST(test_file_sink)
{
	char path[] = "/tmp/staunch-log-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(core_log_open(CORE_LOG_SINK_FILE, path, NULL), 0);
	core_log(CORE_LOG_NOTICE, "file.one", "n", "1", NULL);
	unlink(path); /* rotated away */
	ck_assert_int_eq(core_log_reopen(), 0);
	core_log(CORE_LOG_NOTICE, "file.two", "n", "2", NULL);
	core_log_close();
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char line[512];
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_ptr_nonnull(strstr(line, "event=file.two n=2\n"));
	ck_assert_ptr_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	ck_assert_int_eq(core_log_open(CORE_LOG_SINK_FILE, "/nonexistent-dir/x.log", NULL),
			 CORE_EIO);
	core_log_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core_log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_file_sink);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
