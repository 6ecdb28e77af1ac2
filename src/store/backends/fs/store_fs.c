/*
 * store_fs.c: the filesystem blob content backend (the default blob store,
 * ARCHITECTURE.md §4).
 *
 * Layout under the configured directory:
 *   tmp/<random>                 content being written
 *   ab/cd/<64 hex digits>        content by SHA-256 (ab, cd: its first two bytes)
 * A write goes to a temp file; commit fsyncs it, renames it to its final name and fsyncs
 * that directory (and any directory it had to create, and their parents), so an
 * acknowledged blob survives a crash of the machine and a half-written one is never
 * visible under a final name. Existing content is kept (one copy) and its mtime refreshed,
 * which is the age purge measures. Files are read with pread, so any number of threads
 * may read at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "store/store_int.h"

struct store_fs {
	char *root;
	bool no_sync;
};

struct store_fs_writer {
	struct store_fs *fs;
	int fd;
	char tmp[PATH_MAX];
};

static int store_fs_errno(struct core_error *err, const char *what, const char *path)
{
	int e = errno;
	int code =
		(e == ENOSPC || e == EDQUOT || e == EMFILE || e == ENFILE) ? CORE_ETEMP : CORE_EIO;
	(void)path; /* paths of private files stay out of messages (core_err.h) */
	return core_error_set(err, code, NULL, "blob file %s: %s", what, strerror(e));
}

static int store_fs_fsync_dir(const char *dir, struct core_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return store_fs_errno(err, "open directory", dir);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = store_fs_errno(err, "fsync directory", dir);
	close(fd);
	return rc;
}

/* mkdir that also syncs the parent when it created the directory. */
static int store_fs_mkdir(struct store_fs *fs, const char *dir, const char *parent,
			  struct core_error *err)
{
	if (mkdir(dir, 0750) == 0) {
		if (!fs->no_sync)
			return store_fs_fsync_dir(parent, err);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return store_fs_errno(err, "mkdir", dir);
}

static void store_fs_close(void *h)
{
	struct store_fs *fs = h;
	if (fs == NULL)
		return;
	free(fs->root);
	free(fs);
}

static int store_fs_open(const struct store_params *p, struct store_data *meta, void **h_out,
			 struct core_error *err)
{
	(void)meta;
	if (p->path == NULL || p->path[0] == '\0')
		return core_error_set(err, CORE_ESYNTAX, NULL, "fs blob store: no path configured");
	if (strlen(p->path) > PATH_MAX - 128)
		return core_error_set(err, CORE_ELIMIT, NULL, "fs blob store: path too long");
	if (p->compression != NULL && p->compression[0] != '\0' &&
	    strcmp(p->compression, "none") != 0)
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "fs blob store keeps content as is: compression must be "
				      "none");
	struct store_fs *fs = core_xcalloc(1, sizeof(*fs));
	fs->root = core_xstrdup(p->path);
	fs->no_sync = p->no_sync;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/tmp", fs->root);
	int rc = 0;
	if (mkdir(fs->root, 0750) != 0 && errno != EEXIST)
		rc = store_fs_errno(err, "mkdir", fs->root);
	if (rc == 0)
		rc = store_fs_mkdir(fs, tmp, fs->root, err);
	if (rc < 0) {
		store_fs_close(fs);
		return rc;
	}
	*h_out = fs;
	return 0;
}

static void store_fs_paths(struct store_fs *fs, const uint8_t *hash, char *d1, char *d2, char *file)
{
	static const char hex[] = "0123456789abcdef";
	char h[2 * STORE_HASH_LEN + 1];
	for (size_t i = 0; i < STORE_HASH_LEN; i++) {
		h[2 * i] = hex[hash[i] >> 4];
		h[2 * i + 1] = hex[hash[i] & 15];
	}
	h[2 * STORE_HASH_LEN] = '\0';
	snprintf(d1, PATH_MAX, "%s/%.2s", fs->root, h);
	snprintf(d2, PATH_MAX, "%s/%.2s/%.2s", fs->root, h, h + 2);
	snprintf(file, PATH_MAX, "%s/%s", d2, h);
}

static int store_fs_writer_begin(void *h, void **w_out, struct core_error *err)
{
	struct store_fs *fs = h;
	struct store_fs_writer *w = core_xcalloc(1, sizeof(*w));
	w->fs = fs;
	snprintf(w->tmp, sizeof(w->tmp), "%s/tmp/blob-XXXXXX", fs->root);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		int rc = store_fs_errno(err, "create temp", w->tmp);
		free(w);
		return rc;
	}
	*w_out = w;
	return 0;
}

static int store_fs_writer_write(void *wp, const void *p, size_t n, struct core_error *err)
{
	struct store_fs_writer *w = wp;
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = write(w->fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return store_fs_errno(err, "write", w->tmp);
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void store_fs_writer_abort(void *wp)
{
	struct store_fs_writer *w = wp;
	close(w->fd);
	unlink(w->tmp);
	free(w);
}

static int store_fs_writer_commit(void *wp, const uint8_t hash[STORE_HASH_LEN], uint64_t size,
				  struct core_error *err)
{
	(void)size;
	struct store_fs_writer *w = wp;
	struct store_fs *fs = w->fs;
	char d1[PATH_MAX], d2[PATH_MAX], file[PATH_MAX];
	store_fs_paths(fs, hash, d1, d2, file);
	int rc = 0;
	/* Durability: the data reaches the disk before the name that publishes it. */
	if (!fs->no_sync && fsync(w->fd) != 0)
		rc = store_fs_errno(err, "fsync", w->tmp);
	if (close(w->fd) != 0 && rc == 0)
		rc = store_fs_errno(err, "close", w->tmp);
	w->fd = -1;
	if (rc == 0)
		rc = store_fs_mkdir(fs, d1, fs->root, err);
	if (rc == 0)
		rc = store_fs_mkdir(fs, d2, d1, err);
	if (rc == 0) {
		struct stat st;
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			/* Same hash, same content: keep one copy, refresh its age. */
			unlink(w->tmp);
			if (utimensat(AT_FDCWD, file, NULL, 0) != 0)
				rc = store_fs_errno(err, "touch", file);
		} else if (rename(w->tmp, file) != 0) {
			rc = store_fs_errno(err, "rename", file);
		} else if (!fs->no_sync) {
			rc = store_fs_fsync_dir(d2, err);
		}
	}
	if (rc < 0)
		unlink(w->tmp);
	free(w);
	return rc;
}

static int store_fs_size(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t *size_out,
			 struct core_error *err)
{
	char d1[PATH_MAX], d2[PATH_MAX], file[PATH_MAX];
	store_fs_paths(h, hash, d1, d2, file);
	struct stat st;
	if (stat(file, &st) != 0) {
		if (errno == ENOENT)
			return CORE_ENOTFOUND;
		return store_fs_errno(err, "stat", file);
	}
	*size_out = (uint64_t)st.st_size;
	return 0;
}

static int store_fs_read(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t off, uint64_t len,
			 store_blob_read_fn fn, void *arg, struct core_error *err)
{
	char d1[PATH_MAX], d2[PATH_MAX], file[PATH_MAX];
	store_fs_paths(h, hash, d1, d2, file);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CORE_ENOTFOUND;
		return store_fs_errno(err, "open", file);
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int rc = store_fs_errno(err, "stat", file);
		close(fd);
		return rc;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint64_t end = off >= size ? off : (len > size - off ? size : off + len);
	uint8_t *buf = core_xmalloc(STORE_CHUNK_SIZE);
	int rc = 0;
	while (rc == 0 && off < end) {
		size_t want = end - off < STORE_CHUNK_SIZE ? (size_t)(end - off) : STORE_CHUNK_SIZE;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = store_fs_errno(err, "read", file);
			break;
		}
		if (n == 0) {
			rc = core_error_set(err, CORE_EIO, NULL,
					    "blob file is shorter than expected");
			break;
		}
		rc = fn(arg, buf, (size_t)n);
		if (rc < 0)
			core_error_set(err, rc, NULL, "blob reader stopped");
		off += (uint64_t)n;
	}
	free(buf);
	close(fd);
	return rc;
}

static int store_fs_remove(void *h, const uint8_t hash[STORE_HASH_LEN], struct core_error *err)
{
	struct store_fs *fs = h;
	char d1[PATH_MAX], d2[PATH_MAX], file[PATH_MAX];
	store_fs_paths(fs, hash, d1, d2, file);
	if (unlink(file) != 0) {
		if (errno == ENOENT)
			return CORE_ENOTFOUND;
		return store_fs_errno(err, "unlink", file);
	}
	if (!fs->no_sync)
		return store_fs_fsync_dir(d2, err);
	return 0;
}

static bool store_fs_hexname(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int store_fs_list(void *h, store_blob_list_fn fn, void *arg, struct core_error *err)
{
	struct store_fs *fs = h;
	DIR *top = opendir(fs->root);
	if (top == NULL)
		return store_fs_errno(err, "open directory", fs->root);
	int rc = 0;
	struct dirent *e1;
	while (rc == 0 && (e1 = readdir(top)) != NULL) {
		if (!store_fs_hexname(e1->d_name, 2))
			continue;
		char d1[PATH_MAX];
		if (snprintf(d1, sizeof(d1), "%s/%s", fs->root, e1->d_name) >= (int)sizeof(d1))
			continue;
		DIR *mid = opendir(d1);
		if (mid == NULL)
			continue;
		struct dirent *e2;
		while (rc == 0 && (e2 = readdir(mid)) != NULL) {
			if (!store_fs_hexname(e2->d_name, 2))
				continue;
			char d2[PATH_MAX];
			if (snprintf(d2, sizeof(d2), "%s/%s", d1, e2->d_name) >= (int)sizeof(d2))
				continue;
			DIR *leaf = opendir(d2);
			if (leaf == NULL)
				continue;
			struct dirent *e3;
			while (rc == 0 && (e3 = readdir(leaf)) != NULL) {
				if (!store_fs_hexname(e3->d_name, 2 * STORE_HASH_LEN))
					continue;
				uint8_t hash[STORE_HASH_LEN];
				struct store_blob_id id;
				char text[STORE_BLOB_ID_TEXT + 1];
				text[0] = 'G';
				memcpy(text + 1, e3->d_name, 2 * STORE_HASH_LEN);
				if (store_blob_id_parse(text, STORE_BLOB_ID_TEXT, &id) < 0)
					continue;
				memcpy(hash, id.hash, sizeof(hash));
				struct stat st;
				if (fstatat(dirfd(leaf), e3->d_name, &st, 0) != 0)
					continue;
				uint64_t mt = (uint64_t)st.st_mtim.tv_sec * 1000u +
					      (uint64_t)st.st_mtim.tv_nsec / 1000000u;
				rc = fn(arg, hash, mt);
			}
			closedir(leaf);
		}
		closedir(mid);
	}
	closedir(top);
	return rc;
}

static int store_fs_sweep(void *h, uint64_t cutoff_ms, struct core_error *err)
{
	struct store_fs *fs = h;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/tmp", fs->root);
	DIR *d = opendir(tmp);
	if (d == NULL)
		return store_fs_errno(err, "open directory", tmp);
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "blob-", 5) != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		uint64_t mt = (uint64_t)st.st_mtim.tv_sec * 1000u +
			      (uint64_t)st.st_mtim.tv_nsec / 1000000u;
		if (mt <= cutoff_ms && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

const struct store_blob_ops store_fs_blob = {
	.open = store_fs_open,
	.close = store_fs_close,
	.writer_begin = store_fs_writer_begin,
	.writer_write = store_fs_writer_write,
	.writer_commit = store_fs_writer_commit,
	.writer_abort = store_fs_writer_abort,
	.read = store_fs_read,
	.size = store_fs_size,
	.remove = store_fs_remove,
	.list = store_fs_list,
	.sweep = store_fs_sweep,
};
