/*
 * server_util.c: small file-system and JSON helpers of the binary.
 */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int server_mkdirs(const char *path, mode_t mode, struct core_error *err)
{
	char *p = core_xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return core_error_set(err, CORE_EIO, NULL, "cannot create directory %s: %s",
					      path, strerror(e));
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	int r = stat(p, &st) == 0 && S_ISDIR(st.st_mode)
			? 0
			: core_error_set(err, CORE_EIO, NULL, "%s is not a directory", path);
	free(p);
	return r;
}

int server_write_file(const char *path, const char *data, size_t len, mode_t mode,
		      struct core_error *err)
{
	char *tmp = core_xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, mode) != 0)
		goto fail_fd;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail_fd;
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) != 0)
		goto fail;
	free(tmp);
	return 0;
fail_fd:
	close(fd);
fail : {
	int e = errno;
	unlink(tmp);
	free(tmp);
	return core_error_set(err, CORE_EIO, NULL, "cannot write %s: %s", path, strerror(e));
}
}

void server_hostname_default(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0 || buf[0] == '\0') {
		snprintf(buf, n, "localhost");
		return;
	}
	buf[n - 1] = '\0';
	if (strchr(buf, '.') != NULL)
		return;
	/* Ask the resolver for the canonical (fully qualified) name; keep the short one if
	 * it has none. */
	struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(buf, NULL, &hints, &ai) == 0 && ai != NULL && ai->ai_canonname != NULL &&
	    strchr(ai->ai_canonname, '.') != NULL && strlen(ai->ai_canonname) < n)
		snprintf(buf, n, "%s", ai->ai_canonname);
	if (ai != NULL)
		freeaddrinfo(ai);
}

void server_json_str(struct core_buf *out, const char *s)
{
	core_buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			core_buf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			core_buf_printf(out, "\\u%04x", *p);
		else
			core_buf_putc(out, (char)*p);
	}
	core_buf_putc(out, '"');
}
