/* Unit tests of the privilege-drop target resolution (server_privdrop.c). */
#include "server/server_int.h"

#include <check.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_resolve)
{
	struct server_creds cr;
	struct core_error err;
	core_error_clear(&err);
	core_log_set_level(CORE_LOG_ERROR);
	int r = server_creds_resolve("no-such-user-staunch-test", NULL, &cr, &err);
	if (geteuid() != 0) {
		/* Not root: nothing to drop, whatever the configuration says. */
		ck_assert_int_eq(r, 0);
		ck_assert(!cr.drop);
		return;
	}
	struct passwd *nobody = getpwnam("nobody");
	if (nobody == NULL) {
		ck_assert_int_eq(r, CORE_ENOTFOUND);
		return;
	}
	/* A missing user falls back to nobody, with nobody's primary group. */
	ck_assert_int_eq(r, 0);
	ck_assert(cr.drop);
	ck_assert_str_eq(cr.user, "nobody");
	ck_assert_uint_eq(cr.uid, nobody->pw_uid);
	ck_assert_uint_eq(cr.gid, nobody->pw_gid);
	/* Never "drop" to uid 0. */
	ck_assert_int_eq(server_creds_resolve("root", NULL, &cr, &err), CORE_EPERM);
	ck_assert_ptr_nonnull(strstr(err.msg, "uid 0"));
	/* An explicit group must exist. */
	ck_assert_int_eq(server_creds_resolve("nobody", "no-such-group-staunch-test", &cr, &err),
			 CORE_ENOTFOUND);
	ck_assert_int_eq(server_creds_resolve("nobody", "root", &cr, &err), 0);
	ck_assert_uint_eq(cr.gid, 0);
}
END_TEST

START_TEST(test_no_drop_is_noop)
{
	struct server_creds cr = {.drop = false};
	struct core_error err;
	core_error_clear(&err);
	ck_assert_int_eq(server_privdrop_apply(&cr, &err), 0);
	ck_assert_int_eq(server_creds_chown(&cr, "/nonexistent/path", &err), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_privdrop");
	TCase *tc = tcase_create("privdrop");
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_no_drop_is_noop);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
