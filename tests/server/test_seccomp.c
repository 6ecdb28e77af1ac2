/*
 * The seccomp allow-list (server_privdrop.c), installed in a forked child: what a server
 * needs works (threads, files, sockets, time), what it must never do fails (exec, new
 * namespaces, raw packet sockets, mount), and no_new_privs is set.
 */
#include "server/server_int.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

static void *thread_fn(void *arg)
{
	return arg;
}

/* Runs in the child after the filter: returns 0 when everything behaves, else a step number. */
static int child_checks(void)
{
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 1;
	pthread_t t;
	static int token;
	void *res = NULL;
	if (pthread_create(&t, NULL, thread_fn, &token) != 0 || pthread_join(t, &res) != 0 ||
	    res != (void *)&token)
		return 2;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 3;
	close(fd);
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 4;
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 5;
	close(s);
	if (getpid() <= 0)
		return 6;
	/* Forbidden: each fails with EPERM (ENOSYS for clone3). */
	char *const argv[] = {(char *)"/bin/true", NULL};
	errno = 0;
	if (execve("/bin/true", argv, NULL) != -1 || errno != EPERM)
		return 10;
	errno = 0;
	if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
		return 11;
	errno = 0;
	if (socket(AF_PACKET, SOCK_RAW, 0) != -1 || errno != EPERM)
		return 12;
	errno = 0;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 13;
	errno = 0;
	if (setuid(0) == 0 && getuid() != 0)
		return 14;
	errno = 0;
	if (syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 15;
	return 0;
}

START_TEST(test_filter_in_child)
{
	/* Valgrind emulates neither seccomp(2) nor a failing execve: checked by the normal and
	 * sanitizer runs only. */
	if (RUNNING_ON_VALGRIND) {
		fprintf(stderr, "test_seccomp: skipped under valgrind\n");
		return;
	}
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct core_error err;
		core_error_clear(&err);
		core_log_set_level(CORE_LOG_ERROR);
		if (server_seccomp_install(&err) < 0)
			_exit(100);
		_exit(child_checks());
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child killed by signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "check step %d failed in the filtered child",
		      WEXITSTATUS(status));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server_seccomp");
	TCase *tc = tcase_create("seccomp");
	tcase_add_test(tc, test_filter_in_child);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
