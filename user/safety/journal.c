// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "safety/journal.h"
#include "lib/log.h"
#include "lib/clock.h"
#include "lib/fs.h"

struct kp_journal {
	char dir[4096];
	char path[4200];
	int lock_fd;
	int fd;			/* -1 until the first append */
	long long seq;
};

static const char *const op_names[KP_J_NOPS] = {
	[KP_J_BEGIN] = "begin", [KP_J_ORIG] = "orig", [KP_J_CHANGE] = "change",
	[KP_J_FAIL] = "fail", [KP_J_RESTORE] = "restore", [KP_J_FOREIGN] = "foreign",
	[KP_J_COMMIT] = "commit", [KP_J_END] = "end", [KP_J_RECOVERED] = "recovered",
	[KP_J_ROLLBACK] = "rollback",
};

const char *kp_jop_name(enum kp_jop op)
{
	return op < KP_J_NOPS ? op_names[op] : "?";
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Cut a torn last line off so the next record starts on its own line. */
static int repair_tail(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END), pos;
	char c;

	if (size <= 0)
		return 0;
	for (pos = size - 1; pos >= 0; pos--) {
		if (pread(fd, &c, 1, pos) != 1)
			return -EIO;
		if (c == '\n')
			break;
	}
	if (pos == size - 1)
		return 0;
	kp_warn("journal: dropping a torn last record (%lld bytes)", (long long)(size - pos - 1));
	if (ftruncate(fd, pos + 1))
		return -errno;
	return fsync(fd) ? -errno : 0;
}

/*
 * The journal says what to write as root on the next start: a state dir that
 * someone else owns or can write to would let them choose.
 */
static int check_dir(const char *dir, char *why, size_t len)
{
	struct stat st;

	if (lstat(dir, &st)) {
		snprintf(why, len, "state dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "state dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(why, len, "state dir %s is owned by uid %u, not by root or us", dir,
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "state dir %s is writable by others (mode %04o)", dir,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* The journal itself, by the same rule as its directory. */
static int check_file(int fd, const char *path, char *why, size_t len)
{
	struct stat st;

	if (fstat(fd, &st)) {
		snprintf(why, len, "journal %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "journal %s is not a regular file", path);
		return -EPERM;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(why, len, "journal %s is owned by uid %u, not by root or us", path,
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "journal %s is writable by others (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int kp_journal_open(const char *dir, struct kp_journal **out, char *why, size_t len)
{
	struct kp_journal *j;
	char lock[4200], pid[32];
	int r;

	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(why, len, "cannot allocate the journal of %s", dir);
		return -ENOMEM;
	}
	j->fd = -1;
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	snprintf(j->path, sizeof(j->path), "%s/journal", dir);
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	r = kp_mkdir_p(dir, 0700);
	if (r) {
		snprintf(why, len, "cannot create state dir %s: %s", dir, strerror(-r));
		goto fail;
	}
	r = check_dir(dir, why, len);
	if (r)
		goto fail;
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->lock_fd < 0) {
		r = -errno;
		snprintf(why, len, "cannot open %s: %s", lock, strerror(-r));
		goto fail;
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB)) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		memset(pid, 0, sizeof(pid));
		if (pread(j->lock_fd, pid, sizeof(pid) - 1, 0) < 0)
			pid[0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(why, len, "state dir %s is in use by kpilot pid %s", dir,
			 pid[0] ? pid : "?");
		close(j->lock_fd);
		goto fail;
	}
	snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(j->lock_fd, 0) || pwrite(j->lock_fd, pid, strlen(pid), 0) < 0)
		kp_debug("cannot record our pid in %s", lock);
	j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd >= 0) {
		r = check_file(j->fd, j->path, why, len);
		if (r) {
			kp_journal_close(j);
			return r;
		}
		r = repair_tail(j->fd);
		if (r) {
			snprintf(why, len, "cannot repair %s: %s", j->path, strerror(-r));
			kp_journal_close(j);
			return r;
		}
	} else if (errno != ENOENT) {
		r = -errno;
		snprintf(why, len, "cannot open %s: %s", j->path, strerror(-r));
		kp_journal_close(j);
		return r;
	}
	*out = j;
	return 0;
fail:
	free(j);
	return r;
}

void kp_journal_close(struct kp_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);	/* releases the flock */
	free(j);
}

const char *kp_journal_path(const struct kp_journal *j)
{
	return j->path;
}

bool kp_journal_nonempty(const struct kp_journal *j)
{
	struct stat st;

	return !stat(j->path, &st) && st.st_size > 0;
}

static void put_str(json_t *o, const char *key, const char *v)
{
	if (v[0])
		json_object_set_new(o, key, json_string(v));
}

char *kp_jrec_dump(const struct kp_jrec *r)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "seq", json_integer(r->seq));
	json_object_set_new(o, "t", json_real(r->t));
	json_object_set_new(o, "op", json_string(kp_jop_name(r->op)));
	put_str(o, "sid", r->sid);
	if (r->pid)
		json_object_set_new(o, "pid", json_integer(r->pid));
	put_str(o, "cmd", r->cmd);
	put_str(o, "mode", r->mode);
	put_str(o, "root", r->root);
	put_str(o, "netns", r->netns);
	if (r->nsino)
		json_object_set_new(o, "nsino", json_integer((json_int_t)r->nsino));
	put_str(o, "knob", r->knob);
	put_str(o, "value", r->value);
	put_str(o, "raw", r->raw);
	if (r->op == KP_J_CHANGE || r->op == KP_J_FOREIGN) {
		json_object_set_new(o, "old", json_string(r->old));
		json_object_set_new(o, "new", json_string(r->new));
	}
	put_str(o, "path", r->path);
	put_str(o, "why", r->why);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16));
	json_decref(o);
	return s;
}

static void get_str(json_t *o, const char *key, char *dst, size_t len)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", v ? v : "");
}

/* A pid from the journal: anything outside a pid's range reads as 0 (none). */
static int int_field(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 && v <= INT_MAX ? (int)v : 0;
}

int kp_jrec_parse(const char *line, struct kp_jrec *r)
{
	json_t *o;
	const char *op;
	int i, err = -EINVAL;

	memset(r, 0, sizeof(*r));
	o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	if (!o || !json_is_object(o))
		goto out;
	op = json_string_value(json_object_get(o, "op"));
	if (!op)
		goto out;
	for (i = 0; i < KP_J_NOPS && strcmp(op_names[i], op); i++)
		;
	if (i == KP_J_NOPS)
		goto out;
	r->op = i;
	r->seq = json_integer_value(json_object_get(o, "seq"));
	r->t = json_number_value(json_object_get(o, "t"));
	r->pid = int_field(o, "pid");
	get_str(o, "sid", r->sid, sizeof(r->sid));
	get_str(o, "cmd", r->cmd, sizeof(r->cmd));
	get_str(o, "mode", r->mode, sizeof(r->mode));
	get_str(o, "root", r->root, sizeof(r->root));
	get_str(o, "netns", r->netns, sizeof(r->netns));
	r->nsino = (unsigned long long)json_integer_value(json_object_get(o, "nsino"));
	get_str(o, "knob", r->knob, sizeof(r->knob));
	get_str(o, "value", r->value, sizeof(r->value));
	get_str(o, "raw", r->raw, sizeof(r->raw));
	get_str(o, "old", r->old, sizeof(r->old));
	get_str(o, "new", r->new, sizeof(r->new));
	get_str(o, "path", r->path, sizeof(r->path));
	get_str(o, "why", r->why, sizeof(r->why));
	if (KP_JOP_NAMES_KNOB(r->op) && !r->knob[0])
		goto out;
	err = 0;
out:
	json_decref(o);
	return err;
}

int kp_journal_replay(const char *path, int (*fn)(const struct kp_jrec *r, void *ctx),
		      void *ctx, bool *torn)
{
	struct kp_jrec *r;
	char *line = NULL, *bad = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, badline = 0;
	FILE *f;
	int ret = 0;

	if (torn)
		*torn = false;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	r = malloc(sizeof(*r));
	if (!r) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		bool complete = line[n - 1] == '\n';

		lineno++;
		if (bad) {
			/* the bad line was not the last one: corruption, not a tear */
			kp_warn("journal %s: line %ld is not a valid record, skipped", path, badline);
			free(bad);
			bad = NULL;
		}
		if (!complete || kp_jrec_parse(line, r)) {
			bad = strdup(line);
			badline = lineno;
			continue;
		}
		ret = fn(r, ctx);
		if (ret)
			break;
	}
	if (bad && torn)
		*torn = true;
	free(bad);
	free(line);
	free(r);
	fclose(f);
	return ret;
}

int kp_journal_append(struct kp_journal *j, struct kp_jrec *r, bool sync)
{
	char *s;
	size_t len;
	ssize_t n;
	int err = 0;
	bool created = false;

	if (j->fd < 0) {
		j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (j->fd < 0)
			return -errno;
		created = true;
	}
	if (!j->seq) {
		/* continue the numbering of what is already there */
		struct kp_jrec *last = malloc(sizeof(*last));
		FILE *f = fopen(j->path, "re");
		char *line = NULL;
		size_t cap = 0;

		while (f && last && getline(&line, &cap, f) > 0)
			if (!kp_jrec_parse(line, last) && last->seq > j->seq)
				j->seq = last->seq;
		free(line);
		free(last);
		if (f)
			fclose(f);
	}
	r->seq = ++j->seq;
	if (r->t == 0)
		r->t = kp_wall_s();
	s = kp_jrec_dump(r);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len++] = '\n';	/* json_dumps leaves room: replace the NUL */
	n = write(j->fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	free(s);
	if (!err && sync && fdatasync(j->fd))
		err = -errno;
	if (!err && created && sync)
		err = fsync_dir(j->dir);
	return err;
}

int kp_journal_archive(struct kp_journal *j, char *buf, size_t len)
{
	char adir[4200], dst[4400];
	struct tm tm;
	time_t now = time(NULL);
	int err;

	snprintf(adir, sizeof(adir), "%s/archive", j->dir);
	if (mkdir(adir, 0700) && errno != EEXIST)
		return -errno;
	gmtime_r(&now, &tm);
	snprintf(dst, sizeof(dst), "%s/journal-%04d%02d%02dT%02d%02d%02dZ-%d-%lld.jsonl", adir,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 getpid(), j->seq);
	if (j->fd >= 0 && fdatasync(j->fd))
		return -errno;
	if (rename(j->path, dst))
		return -errno;
	err = fsync_dir(j->dir);
	if (!err)
		err = fsync_dir(adir);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->seq = 0;
	if (buf)
		snprintf(buf, len, "%s", dst);
	return err;
}
