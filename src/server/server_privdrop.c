/*
 * server_privdrop.c: the privilege drop after the ports are bound, and the seccomp allow-list
 * (ARCHITECTURE.md §3, Privileges). The drop happens before any thread is started, so every
 * thread inherits the credentials, no_new_privs and the filter.
 *
 * The filter's default action is EPERM rather than killing the process: a system call missed
 * here makes one operation fail with a logged error instead of taking the server down.
 */
#include "server/server_int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SERVER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SERVER_ASAN 1
#endif
#endif

int server_creds_resolve(const char *user, const char *group, struct server_creds *out,
			 struct core_error *err)
{
	memset(out, 0, sizeof(*out));
	if (geteuid() != 0)
		return 0;
	const char *name = user != NULL && user[0] != '\0' ? user : "staunch";
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		core_log(CORE_LOG_WARN, "server.user_missing", "user", name, "fallback", "nobody",
			 NULL);
		name = "nobody";
		pw = getpwnam(name);
	}
	if (pw == NULL)
		return core_error_set(err, CORE_ENOTFOUND, NULL,
				      "neither server.user nor \"nobody\" exists");
	if (pw->pw_uid == 0)
		return core_error_set(err, CORE_EPERM, NULL,
				      "server.user %s has uid 0: refusing to run as root", name);
	out->drop = true;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	snprintf(out->user, sizeof(out->user), "%s", name);
	if (group != NULL && group[0] != '\0') {
		struct group *gr = getgrnam(group);
		if (gr == NULL)
			return core_error_set(err, CORE_ENOTFOUND, NULL,
					      "server.group %s does not exist", group);
		out->gid = gr->gr_gid;
	}
	return 0;
}

int server_creds_chown(const struct server_creds *cr, const char *path, struct core_error *err)
{
	if (!cr->drop)
		return 0;
	if (chown(path, cr->uid, cr->gid) != 0 && errno != ENOENT)
		return core_error_set(err, CORE_EIO, NULL, "cannot chown %s: %s", path,
				      strerror(errno));
	return 0;
}

int server_privdrop_apply(const struct server_creds *cr, struct core_error *err)
{
	if (!cr->drop)
		return 0;
	/* Order matters: supplementary groups and the group while still root, the user last. */
	if (setgroups(1, &cr->gid) != 0)
		return core_error_set(err, CORE_EPERM, NULL, "setgroups: %s", strerror(errno));
	if (setresgid(cr->gid, cr->gid, cr->gid) != 0)
		return core_error_set(err, CORE_EPERM, NULL, "setgid: %s", strerror(errno));
	if (setresuid(cr->uid, cr->uid, cr->uid) != 0)
		return core_error_set(err, CORE_EPERM, NULL, "setuid: %s", strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0)
		return core_error_set(err, CORE_EINTERNAL, NULL,
				      "root privileges were not dropped");
	char uid[24], gid[24];
	snprintf(uid, sizeof(uid), "%u", (unsigned)cr->uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)cr->gid);
	core_log(CORE_LOG_INFO, "server.privdrop", "user", cr->user, "uid", uid, "gid", gid, NULL);
	return 0;
}

/* What the server (libevent, OpenSSL, glibc, the store back ends) calls after start-up. */
static const char *const seccomp_allow[] = {
	/* memory */
	"brk",
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"mincore",
	"mlock",
	"munlock",
	"membarrier",
	/* files */
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"preadv2",
	"pwritev2",
	"open",
	"openat",
	"close",
	"close_range",
	"stat",
	"fstat",
	"lstat",
	"newfstatat",
	"statx",
	"lseek",
	"access",
	"faccessat",
	"faccessat2",
	"fcntl",
	"flock",
	"fsync",
	"fdatasync",
	"sync_file_range",
	"ftruncate",
	"fallocate",
	"rename",
	"renameat",
	"renameat2",
	"unlink",
	"unlinkat",
	"mkdir",
	"mkdirat",
	"rmdir",
	"link",
	"linkat",
	"readlink",
	"readlinkat",
	"getdents",
	"getdents64",
	"getcwd",
	"fchmod",
	"fchmodat",
	"umask",
	"statfs",
	"fstatfs",
	"dup",
	"dup2",
	"dup3",
	"pipe",
	"pipe2",
	"copy_file_range",
	"sendfile",
	"fadvise64",
	"readahead",
	"msync",
	"utimensat",
	"getcpu",
	"memfd_create",
	/* event loop */
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"eventfd",
	"eventfd2",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"signalfd4",
	/* sockets */
	"socketpair",
	"connect",
	"accept",
	"accept4",
	"bind",
	"listen",
	"getsockname",
	"getpeername",
	"setsockopt",
	"getsockopt",
	"shutdown",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	/* threads, signals, time */
	"exit",
	"exit_group",
	"futex",
	"futex_waitv",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"set_tid_address",
	"gettid",
	"getpid",
	"getppid",
	"tgkill",
	"tkill",
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"nanosleep",
	"clock_nanosleep",
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"sched_yield",
	"sched_getaffinity",
	"sched_getparam",
	"sched_getscheduler",
	"getpriority",
	"restart_syscall",
	/* identity and limits (read only) */
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getgroups",
	"getresuid",
	"getresgid",
	"getrlimit",
	"prlimit64",
	"getrusage",
	"getrandom",
	"uname",
	"sysinfo",
	"prctl",
	"arch_prctl",
#ifdef SERVER_ASAN
	/* LeakSanitizer stops the threads with ptrace from a helper thread at exit. */
	"ptrace",
	"wait4",
	"waitid",
	"process_vm_readv",
	"kill",
#endif
};

#define SERVER_CLONE_NS_FLAGS                                                          \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	 CLONE_NEWPID | CLONE_NEWNET)

int server_seccomp_install(struct core_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return core_error_set(err, CORE_EPERM, NULL, "PR_SET_NO_NEW_PRIVS: %s",
				      strerror(errno));
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return core_error_set(err, CORE_EINTERNAL, NULL, "seccomp_init failed");
	unsigned allowed = 0;
	int r = 0;
	for (size_t i = 0; i < CORE_NELEM(seccomp_allow) && r == 0; i++) {
		int nr = seccomp_syscall_resolve_name(seccomp_allow[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a system call on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		allowed++;
	}
	/* Threads yes, new namespaces no: clone without CLONE_NEW* flags; clone3 (whose flags
	 * a filter cannot see) fails with ENOSYS, so glibc falls back to clone. */
	if (r == 0) {
		struct scmp_arg_cmp cmp = {.arg = 0,
					   .op = SCMP_CMP_MASKED_EQ,
					   .datum_a = SERVER_CLONE_NS_FLAGS,
					   .datum_b = 0};
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, cmp);
		allowed++;
	}
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Sockets of the families a mail server uses (netlink: getaddrinfo's AI_ADDRCONFIG). */
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
	for (size_t i = 0; i < CORE_NELEM(families) && r == 0; i++) {
		struct scmp_arg_cmp cmp = {.arg = 0,
					   .op = SCMP_CMP_EQ,
					   .datum_a = (scmp_datum_t)families[i],
					   .datum_b = 0};
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, cmp);
		allowed++;
	}
	/* ioctl only for the requests libevent and stdio use. */
	static const unsigned long ioctls[] = {FIONREAD, FIONBIO, FIOCLEX, TCGETS};
	for (size_t i = 0; i < CORE_NELEM(ioctls) && r == 0; i++) {
		struct scmp_arg_cmp cmp = {
			.arg = 1, .op = SCMP_CMP_EQ, .datum_a = ioctls[i], .datum_b = 0};
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, cmp);
		allowed++;
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0)
		return core_error_set(err, CORE_EINTERNAL, NULL, "seccomp: %s", strerror(-r));
	char n[16];
	snprintf(n, sizeof(n), "%u", allowed);
	core_log(CORE_LOG_INFO, "server.seccomp", "default", "EPERM", "allowed", n, NULL);
	return 0;
}
