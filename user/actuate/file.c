// SPDX-License-Identifier: GPL-2.0
/*
 * Persisted files: read as a digest, written whole (temp file, fsync,
 * rename, fsync of the directory) so a crash leaves the old file or the new
 * one, never half of either.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actuate/file.h"
#include "lib/fs.h"
#include "lib/sha256.h"

#define DROPIN_PREFIX	"90-kpilot-"

static bool word_ok(const char *s, size_t n, const char *extra)
{
	size_t i;

	if (!n || (n == 1 && s[0] == '.') || memmem(s, n, "..", 2))
		return false;
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("_.-", s[i]) &&
		    !(extra && strchr(extra, s[i])))
			return false;
	return true;
}

/* "90-kpilot-W.conf" */
static bool leaf_ok(const char *s)
{
	size_t n = strlen(s);

	return !strncmp(s, DROPIN_PREFIX, 10) && n > 15 && !strcmp(s + n - 5, ".conf") &&
	       word_ok(s + 10, n - 15, NULL);
}

bool kp_file_name_ok(const char *name)
{
	const char *p, *slash;
	size_t n;

	if (!kp_file_knob(name) || strlen(name) >= 240)
		return false;
	p = name + 5;
	if (!strncmp(p, "etc/sysctl.d/", 13))
		return !strchr(p + 13, '/') && leaf_ok(p + 13);
	if (strncmp(p, "etc/systemd/system/", 19))
		return false;
	p += 19;
	slash = strchr(p, '/');
	if (!slash || strchr(slash + 1, '/') || !leaf_ok(slash + 1))
		return false;
	n = slash - p;
	/* UNIT.d where UNIT is a .service or a .slice: units a drop-in can limit */
	if (n > 10 && !strncmp(slash - 10, ".service.d", 10))
		return word_ok(p, n - 10, "@\\:");
	if (n > 8 && !strncmp(slash - 8, ".slice.d", 8))
		return word_ok(p, n - 8, "@\\:");
	return false;
}

int kp_file_path(const struct kp_target *t, const char *name, char *buf, size_t len)
{
	char rel[512];

	if (!kp_file_name_ok(name))
		return -EINVAL;
	snprintf(rel, sizeof(rel), "/%s", name + 5);
	return kp_fs_path(t->root, rel, buf, len);
}

/* The whole file, malloc'ed; *n its size. -ENOENT, -EFBIG or -errno. */
static int slurp(const char *path, char **out, size_t *n)
{
	struct stat st;
	char *buf;
	ssize_t r;
	size_t got = 0;
	int fd, err = 0;

	*out = NULL;
	*n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KP_FILE_MAX) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -EIO : 0;
			break;
		}
		got += r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[got] = '\0';
	*out = buf;
	*n = got;
	return 0;
}

int kp_file_read(const struct kp_target *t, const char *name, char *text, size_t len)
{
	char path[4096], hex[KP_SHA256_HEX], *buf;
	size_t n;
	int err;

	err = kp_file_path(t, name, path, sizeof(path));
	if (err)
		return err;
	err = slurp(path, &buf, &n);
	if (err == -ENOENT) {
		snprintf(text, len, "%s", KP_FILE_ABSENT);
		return 0;
	}
	if (err)
		return err;
	kp_sha256_hex(buf, n, hex);
	free(buf);
	snprintf(text, len, "sha256:%s", hex);
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* path's content becomes text: a temp file beside it, fsynced, renamed over it. */
static int write_whole(const char *path, const char *text, size_t n, mode_t mode)
{
	char tmp[4200], dir[4096];
	size_t done = 0;
	ssize_t w;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	snprintf(tmp, sizeof(tmp), "%s.kpilot-tmp-%d", path, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && !unlink(tmp))	/* a crashed kpilot of our pid */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (done < n && !err) {
		w = write(fd, text + done, n - done);
		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			done += w;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return fsync_dir(dir);
}

static bool digest_ok(const char *value)
{
	size_t i;

	if (strncmp(value, "sha256:", 7) || strlen(value) != 7 + 64)
		return false;
	for (i = 7; value[i]; i++)
		if (!strchr("0123456789abcdef", value[i]))
			return false;
	return true;
}

static int store_path(const char *store, const char *value, char *buf, size_t len)
{
	int n;

	if (!store || !digest_ok(value))
		return -EINVAL;
	n = snprintf(buf, len, "%s/files/%s", store, value + 7);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int kp_file_keep(const char *store, const char *text, size_t n, char *value, size_t len)
{
	char hex[KP_SHA256_HEX], path[4200], dir[4200];
	int err;

	if (n > KP_FILE_MAX)
		return -EFBIG;
	kp_sha256_hex(text, n, hex);
	snprintf(value, len, "sha256:%s", hex);
	err = store_path(store, value, path, sizeof(path));
	if (err)
		return err;
	if (kp_fs_exists(path))
		return 0;
	snprintf(dir, sizeof(dir), "%s/files", store);
	err = kp_mkdir_p(dir, 0700);
	return err ? err : write_whole(path, text, n, 0600);
}

int kp_file_keep_current(const struct kp_target *t, const char *name)
{
	char path[4096], value[80], *buf;
	size_t n;
	int err;

	err = kp_file_path(t, name, path, sizeof(path));
	if (err)
		return err;
	err = slurp(path, &buf, &n);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	err = kp_file_keep(t->store, buf, n, value, sizeof(value));
	free(buf);
	return err;
}

/* Remove the file and, when left empty, a drop-in directory kpilot may have made. */
static int remove_file(const char *path)
{
	char dir[4096];
	size_t n;
	int err;

	if (unlink(path) && errno != ENOENT)
		return -errno;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	err = fsync_dir(dir);
	n = strlen(dir);
	if (!err && n > 2 && !strcmp(dir + n - 2, ".d") && strstr(dir, "/etc/systemd/system/") &&
	    !rmdir(dir)) {
		*strrchr(dir, '/') = '\0';
		err = fsync_dir(dir);
	}
	return err;
}

int kp_file_write(const struct kp_target *t, const char *name, const char *value)
{
	char path[4096], src[4200], got[80], dir[4096], *buf = NULL;
	size_t n = 0;
	int err;

	err = kp_file_path(t, name, path, sizeof(path));
	if (err)
		return err;
	if (kp_fs_write_hook) {
		err = kp_fs_write_hook(path, value);
		if (err < 0)
			return err;
	}
	if (!strcmp(value, KP_FILE_ABSENT))
		return remove_file(path);
	err = store_path(t->store, value, src, sizeof(src));
	if (err)
		return err;
	err = slurp(src, &buf, &n);
	if (err)
		return err;
	/* the store is the state dir's: still, write only what the digest names */
	kp_sha256_hex(buf, n, got + 7);
	memcpy(got, "sha256:", 7);
	if (strcmp(got, value)) {
		free(buf);
		return -EIO;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	err = kp_mkdir_p(dir, 0755);
	if (!err)
		err = write_whole(path, buf, n, 0644);
	free(buf);
	return err;
}
