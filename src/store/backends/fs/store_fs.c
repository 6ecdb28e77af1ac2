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
 *
 * Compression (store.blob.compression zstd or lz4): the file starts with a header
 *   8 bytes magic "\x89SBLOB\r\n", 1 byte version (1), 1 byte codec, 6 zero bytes,
 *   8 bytes uncompressed size (big-endian), 32 bytes SHA-256 of the uncompressed content
 * followed by frames of at most STORE_CHUNK_SIZE uncompressed bytes each:
 *   1 byte codec (0 raw, 1 zstd, 2 lz4), 4 bytes uncompressed length, 4 bytes stored
 *   length (big-endian), the stored bytes.
 * A frame is stored raw when compressing it saves nothing. A range read skips whole frames
 * by their headers and decodes only the frames it returns. The id stays the SHA-256 of the
 * uncompressed content. A file is framed only when it starts with the magic AND its header
 * names the file's own hash, which raw content cannot do (it would have to contain its own
 * SHA-256), so files written without compression, before or after, are read as they are.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>
#include <zstd.h>

#include "core/core.h"
#include "store/store_int.h"

#define FS_CODEC_RAW 0
#define FS_CODEC_ZSTD 1
#define FS_CODEC_LZ4 2
#define FS_HEAD_LEN 56
#define FS_FRAME_HEAD 9
static const uint8_t fs_magic[8] = {0x89, 'S', 'B', 'L', 'O', 'B', '\r', '\n'};

struct store_fs {
	char *root;
	bool no_sync;
	int codec;
};

struct store_fs_writer {
	struct store_fs *fs;
	int fd;
	char tmp[PATH_MAX];
	uint8_t *in;  /* compression: the frame being filled */
	size_t inlen; /* bytes in it */
	uint8_t *out; /* compression: encoded frame */
	size_t outcap;
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
	int codec = FS_CODEC_RAW;
	const char *c = p->compression;
	if (c == NULL || c[0] == '\0' || strcmp(c, "none") == 0)
		codec = FS_CODEC_RAW;
	else if (strcmp(c, "zstd") == 0)
		codec = FS_CODEC_ZSTD;
	else if (strcmp(c, "lz4") == 0)
		codec = FS_CODEC_LZ4;
	else
		return core_error_set(err, CORE_ESYNTAX, NULL,
				      "blob compression must be none, zstd or lz4");
	struct store_fs *fs = core_xcalloc(1, sizeof(*fs));
	fs->codec = codec;
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
	if (fs->codec != FS_CODEC_RAW) {
		/* The header is written at commit, when the hash is known. */
		if (lseek(w->fd, FS_HEAD_LEN, SEEK_SET) != FS_HEAD_LEN) {
			int rc = store_fs_errno(err, "seek", w->tmp);
			close(w->fd);
			unlink(w->tmp);
			free(w);
			return rc;
		}
		w->in = core_xmalloc(STORE_CHUNK_SIZE);
		w->outcap = FS_FRAME_HEAD + ZSTD_compressBound(STORE_CHUNK_SIZE);
		size_t l4 = FS_FRAME_HEAD + (size_t)LZ4_compressBound(STORE_CHUNK_SIZE);
		if (l4 > w->outcap)
			w->outcap = l4;
		w->out = core_xmalloc(w->outcap);
	}
	*w_out = w;
	return 0;
}

static int store_fs_write_all(struct store_fs_writer *w, const void *p, size_t n,
			      struct core_error *err)
{
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

static void store_fs_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t store_fs_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Encode and write the buffered frame (compressed when that saves space). */
static int store_fs_frame_flush(struct store_fs_writer *w, struct core_error *err)
{
	if (w->inlen == 0)
		return 0;
	uint8_t *o = w->out + FS_FRAME_HEAD;
	size_t cap = w->outcap - FS_FRAME_HEAD, stored = 0;
	int codec = FS_CODEC_RAW;
	if (w->fs->codec == FS_CODEC_ZSTD) {
		size_t c = ZSTD_compress(o, cap, w->in, w->inlen, 3);
		if (!ZSTD_isError(c) && c < w->inlen) {
			codec = FS_CODEC_ZSTD;
			stored = c;
		}
	} else if (w->fs->codec == FS_CODEC_LZ4) {
		int c = LZ4_compress_default((const char *)w->in, (char *)o, (int)w->inlen,
					     (int)cap);
		if (c > 0 && (size_t)c < w->inlen) {
			codec = FS_CODEC_LZ4;
			stored = (size_t)c;
		}
	}
	if (codec == FS_CODEC_RAW) {
		memcpy(o, w->in, w->inlen);
		stored = w->inlen;
	}
	w->out[0] = (uint8_t)codec;
	store_fs_be32(w->out + 1, (uint32_t)w->inlen);
	store_fs_be32(w->out + 5, (uint32_t)stored);
	w->inlen = 0;
	return store_fs_write_all(w, w->out, FS_FRAME_HEAD + stored, err);
}

static int store_fs_writer_write(void *wp, const void *p, size_t n, struct core_error *err)
{
	struct store_fs_writer *w = wp;
	if (w->in == NULL)
		return store_fs_write_all(w, p, n, err);
	const uint8_t *b = p;
	while (n > 0) {
		size_t take = STORE_CHUNK_SIZE - w->inlen;
		if (take > n)
			take = n;
		memcpy(w->in + w->inlen, b, take);
		w->inlen += take;
		b += take;
		n -= take;
		if (w->inlen == STORE_CHUNK_SIZE) {
			int rc = store_fs_frame_flush(w, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static void store_fs_writer_free(struct store_fs_writer *w)
{
	free(w->in);
	free(w->out);
	free(w);
}

static void store_fs_writer_abort(void *wp)
{
	struct store_fs_writer *w = wp;
	close(w->fd);
	unlink(w->tmp);
	store_fs_writer_free(w);
}

/* The last frame and the header of a compressed file. */
static int store_fs_writer_finish(struct store_fs_writer *w, const uint8_t hash[STORE_HASH_LEN],
				  uint64_t size, struct core_error *err)
{
	int rc = store_fs_frame_flush(w, err);
	if (rc < 0)
		return rc;
	uint8_t h[FS_HEAD_LEN] = {0};
	memcpy(h, fs_magic, 8);
	h[8] = 1;
	h[9] = (uint8_t)w->fs->codec;
	store_fs_be32(h + 16, (uint32_t)(size >> 32));
	store_fs_be32(h + 20, (uint32_t)size);
	memcpy(h + 24, hash, STORE_HASH_LEN);
	ssize_t k;
	do
		k = pwrite(w->fd, h, sizeof(h), 0);
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)sizeof(h))
		return store_fs_errno(err, "write", w->tmp);
	return 0;
}

static int store_fs_writer_commit(void *wp, const uint8_t hash[STORE_HASH_LEN], uint64_t size,
				  struct core_error *err)
{
	struct store_fs_writer *w = wp;
	struct store_fs *fs = w->fs;
	char d1[PATH_MAX], d2[PATH_MAX], file[PATH_MAX];
	store_fs_paths(fs, hash, d1, d2, file);
	int rc = 0;
	if (w->in != NULL)
		rc = store_fs_writer_finish(w, hash, size, err);
	/* Durability: the data reaches the disk before the name that publishes it. */
	if (rc == 0 && !fs->no_sync && fsync(w->fd) != 0)
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
	store_fs_writer_free(w);
	return rc;
}

/*
 * Whether the open file fd is framed (see the header comment): then *size_out is the
 * uncompressed size. Returns 1 framed, 0 raw, or a negative core_err.
 */
static int store_fs_framed(int fd, const uint8_t hash[STORE_HASH_LEN], uint64_t *size_out,
			   struct core_error *err)
{
	uint8_t h[FS_HEAD_LEN];
	ssize_t n;
	do
		n = pread(fd, h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return store_fs_errno(err, "read", "");
	if (n < (ssize_t)sizeof(h) || memcmp(h, fs_magic, 8) != 0 ||
	    memcmp(h + 24, hash, STORE_HASH_LEN) != 0)
		return 0;
	if (h[8] != 1)
		return core_error_set(err, CORE_EIO, NULL, "blob file: unknown format version %u",
				      h[8]);
	*size_out = (uint64_t)store_fs_get32(h + 16) << 32 | store_fs_get32(h + 20);
	return 1;
}

static int store_fs_pread_all(int fd, void *p, size_t n, uint64_t off, struct core_error *err)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t k = pread(fd, b, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return store_fs_errno(err, "read", "");
		if (k == 0)
			return core_error_set(err, CORE_EIO, NULL, "blob file is truncated");
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Range [off, end) of a framed file: skip frames before it, decode the ones inside. */
static int store_fs_read_framed(int fd, uint64_t size, uint64_t off, uint64_t end,
				store_blob_read_fn fn, void *arg, struct core_error *err)
{
	size_t scap = ZSTD_compressBound(STORE_CHUNK_SIZE);
	if ((size_t)LZ4_compressBound(STORE_CHUNK_SIZE) > scap)
		scap = (size_t)LZ4_compressBound(STORE_CHUNK_SIZE);
	uint8_t *stored = core_xmalloc(scap);
	uint8_t *plain = core_xmalloc(STORE_CHUNK_SIZE);
	uint64_t pos = FS_HEAD_LEN, raw = 0;
	int rc = 0;
	while (rc == 0 && raw < end && off < end) {
		uint8_t fh[FS_FRAME_HEAD];
		rc = store_fs_pread_all(fd, fh, sizeof(fh), pos, err);
		if (rc < 0)
			break;
		uint32_t rlen = store_fs_get32(fh + 1), slen = store_fs_get32(fh + 5);
		if (fh[0] > FS_CODEC_LZ4 || rlen == 0 || rlen > STORE_CHUNK_SIZE || slen > scap ||
		    (fh[0] == FS_CODEC_RAW && slen != rlen) || raw + rlen > size) {
			rc = core_error_set(err, CORE_EIO, NULL, "blob file: damaged frame");
			break;
		}
		pos += FS_FRAME_HEAD;
		if (raw + rlen <= off) { /* before the range: skipped undecoded */
			pos += slen;
			raw += rlen;
			continue;
		}
		rc = store_fs_pread_all(fd, stored, slen, pos, err);
		if (rc < 0)
			break;
		const uint8_t *src = stored;
		if (fh[0] == FS_CODEC_ZSTD) {
			size_t d = ZSTD_decompress(plain, STORE_CHUNK_SIZE, stored, slen);
			if (ZSTD_isError(d) || d != rlen)
				rc = core_error_set(err, CORE_EIO, NULL,
						    "blob file: bad zstd frame");
			src = plain;
		} else if (fh[0] == FS_CODEC_LZ4) {
			int d = LZ4_decompress_safe((const char *)stored, (char *)plain, (int)slen,
						    STORE_CHUNK_SIZE);
			if (d < 0 || (uint32_t)d != rlen)
				rc = core_error_set(err, CORE_EIO, NULL,
						    "blob file: bad lz4 frame");
			src = plain;
		}
		if (rc < 0)
			break;
		uint64_t from = off > raw ? off - raw : 0;
		uint64_t to = end - raw < rlen ? end - raw : rlen;
		rc = fn(arg, src + from, (size_t)(to - from));
		if (rc < 0)
			core_error_set(err, rc, NULL, "blob reader stopped");
		pos += slen;
		raw += rlen;
	}
	free(stored);
	free(plain);
	return rc;
}

static int store_fs_size(void *h, const uint8_t hash[STORE_HASH_LEN], uint64_t *size_out,
			 struct core_error *err)
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
	int rc = fstat(fd, &st) != 0 ? store_fs_errno(err, "stat", file) : 0;
	if (rc == 0) {
		*size_out = (uint64_t)st.st_size;
		rc = store_fs_framed(fd, hash, size_out, err);
	}
	close(fd);
	return rc < 0 ? rc : 0;
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
	int framed = store_fs_framed(fd, hash, &size, err);
	uint64_t end = off >= size ? off : (len > size - off ? size : off + len);
	if (framed != 0) {
		int rc = framed < 0 ? framed
				    : store_fs_read_framed(fd, size, off, end, fn, arg, err);
		close(fd);
		return rc;
	}
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
