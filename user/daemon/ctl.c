// SPDX-License-Identifier: GPL-2.0
/* The control socket, server and client sides. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "daemon/ctl.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"

#define IO_TIMEOUT_MS 1000	/* a client that stalls mid-request is dropped after this */
/* What a client waits for the answer: the loop may be busy loading a new observer (SIGHUP). */
#define ANSWER_TIMEOUT_MS 30000
#define DRAIN_MS	200
#define DRAIN_MAX	(1 << 20)

static int addr_of(const char *path, struct sockaddr_un *sa, char *why, size_t len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(why, len, "%s: socket path longer than %zu bytes", path,
			 sizeof(sa->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* Someone answers at path: another daemon owns it. */
static bool live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ret;

	if (fd < 0)
		return false;
	ret = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	return ret;
}

static int make_dir(const char *path, char *why, size_t len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	int err;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	err = kp_mkdir_p(dir, 0755);
	if (err)
		snprintf(why, len, "%s: %s", dir, strerror(-err));
	return err;
}

int kp_ctl_listen(const char *path, int *out, char *why, size_t len)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd = -1, err;

	err = addr_of(path, &sa, why, len);
	if (!err)
		err = make_dir(path, why, len);
	if (err)
		return err;
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(why, len, "%s: exists and is not a socket", path);
			return -EEXIST;
		}
		if (live(&sa)) {
			snprintf(why, len, "%s: another kpilot run answers there", path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* Never reachable by others, not even between bind and chmod. */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (err || chmod(path, 0600) || listen(fd, 16))
		goto fail;
	*out = fd;
	return 0;
fail:
	err = -errno;
	snprintf(why, len, "%s: %s", path, strerror(-err));
	if (fd >= 0)
		close(fd);
	return err;
}

void kp_ctl_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
}

/* Up to max bytes or the first newline, each read within ms; the length, or -errno. */
static ssize_t read_line(int fd, char *buf, size_t max, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n < max) {
		if (poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		if (memchr(buf + n, '\n', r))
			return (ssize_t)(n + r);
		n += r;
	}
	return n < max ? (ssize_t)n : -EMSGSIZE;
}

static void send_json(int fd, json_t *ans)
{
	char *s = json_dumps(ans, JSON_COMPACT);
	size_t n, off = 0;
	ssize_t w;

	if (!s)
		return;
	n = strlen(s);
	s[n++] = '\n';	/* json_dumps' NUL becomes the line's end */
	while (off < n) {
		w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += w;
	}
	free(s);
}

static void refuse(int fd, const char *msg)
{
	json_t *ans;

	kp_warn("control socket: %s", msg);
	ans = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	send_json(fd, ans);
	json_decref(ans);
}

static void serve(int fd, json_t *(*handle)(json_t *req, void *arg), void *arg)
{
	char buf[KP_CTL_MAX_REQ + 1];
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	json_error_t je;
	json_t *req, *ans;
	char msg[256];
	ssize_t n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) || cr.uid != 0) {
		snprintf(msg, sizeof(msg), "peer uid %d refused: the control socket is root-only",
			 crlen == sizeof(cr) ? (int)cr.uid : -1);
		refuse(fd, msg);
		return;
	}
	n = read_line(fd, buf, KP_CTL_MAX_REQ, IO_TIMEOUT_MS);
	if (n < 0) {
		if (n == -EMSGSIZE)
			snprintf(msg, sizeof(msg), "request refused: larger than %d bytes",
				 KP_CTL_MAX_REQ);
		else
			snprintf(msg, sizeof(msg), "request refused: %s", strerror((int)-n));
		refuse(fd, msg);
		return;
	}
	buf[n] = '\0';
	req = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
	if (!json_is_object(req)) {
		snprintf(msg, sizeof(msg), "request refused: not a JSON object%s%s",
			 req ? "" : ": ", req ? "" : je.text);
		refuse(fd, msg);
		json_decref(req);
		return;
	}
	ans = handle(req, arg);
	send_json(fd, ans);
	json_decref(ans);
	json_decref(req);
}

/*
 * Closing a UNIX socket with unread input resets the peer, which may then
 * lose the answer (a refusal sent before the request was read). So: say we
 * are done, and read what is left, for at most DRAIN_MS and DRAIN_MAX bytes.
 */
static void drain(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	double end = kp_mono_s() + DRAIN_MS / 1e3;
	char buf[4096];
	size_t total = 0;
	ssize_t r;

	shutdown(fd, SHUT_WR);
	while (total < DRAIN_MAX && kp_mono_s() < end) {
		if (poll(&p, 1, DRAIN_MS) <= 0)
			break;
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

int kp_ctl_serve_one(int lfd, json_t *(*handle)(json_t *req, void *arg), void *arg)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return 0;
	/* An answer nobody reads must not block the loop either. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	serve(fd, handle, arg);
	drain(fd);
	close(fd);
	return 1;
}

static int read_answer(int fd, json_t **resp, char *why, size_t len)
{
	char *buf = malloc(KP_CTL_MAX_RESP + 1);
	json_error_t je;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = read_line(fd, buf, KP_CTL_MAX_RESP, ANSWER_TIMEOUT_MS);
	if (n <= 0) {
		snprintf(why, len, "no answer from the daemon: %s",
			 n ? strerror((int)-n) : "it closed the connection");
		free(buf);
		return n ? (int)n : -ECONNRESET;
	}
	buf[n] = '\0';
	*resp = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
	free(buf);
	if (!json_is_object(*resp)) {
		snprintf(why, len, "the daemon's answer is not a JSON object");
		json_decref(*resp);
		*resp = NULL;
		return -EPROTO;
	}
	return 0;
}

int kp_ctl_request(const char *path, json_t *req, json_t **resp, char *why, size_t len)
{
	struct sockaddr_un sa;
	int fd, err;

	*resp = NULL;
	err = addr_of(path, &sa, why, len);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		if (err == -ENOENT || err == -ECONNREFUSED)
			snprintf(why, len, "no kpilot daemon is running: nothing answers on %s (%s)",
				 path, strerror(-err));
		else
			snprintf(why, len, "%s: %s", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	send_json(fd, req);
	err = read_answer(fd, resp, why, len);
	close(fd);
	return err;
}
