/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the daemon tests: start a real `kpilot run` in a private
 * directory, ask it over its socket, talk HTTP to it without curl.
 */
#ifndef KPILOT_TEST_DAEMON_UTIL_H
#define KPILOT_TEST_DAEMON_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "daemon/config.h"
#include "daemon/ctl.h"
#include "../lib/testutil.h"

#define KPILOT "./kpilot"

struct dm {
	char dir[64], cfg[96], sock[96], log[96];
	pid_t pid;
	unsigned int port;
};

/* The config text parses (want NULL) or is refused with a message containing want. */
static inline void dm_parse_expect(const char *text, const char *want)
{
	struct kp_dm_config c;
	char why[1024] = "";
	int ret = kp_dm_config_parse(text, "k.json", &c, why, sizeof(why));

	if (!want) {
		cr_assert_eq(ret, 0, "refused: %s\n  said: %s", text, why);
		kp_dm_config_free(&c);
		return;
	}
	cr_assert_neq(ret, 0, "accepted: %s", text);
	cr_assert(strstr(why, want), "%s\n  said: %s\n  want: %s", text, why, want);
}

static inline void dm_need_root(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid())
		cr_skip_test("needs root (BPF programs, a root-only socket)");
}

static inline void dm_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

/* A private dir (0755, so a uid-65534 child may reach the socket when a test allows it). */
static inline void dm_init(struct dm *d, const char *config)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/kpdm.XXXXXX");
	cr_assert_not_null(mkdtemp(d->dir));
	chmod(d->dir, 0755);
	snprintf(d->cfg, sizeof(d->cfg), "%s/kpilot.json", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/kpilot.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	dm_write(d->cfg, config);
}

/* Ask the daemon; the answer object (caller's) or NULL. */
static inline json_t *dm_ask(const struct dm *d, const char *cmd)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd), *resp = NULL;
	char why[256];

	kp_ctl_request(d->sock, req, &resp, why, sizeof(why));
	json_decref(req);
	return resp;
}

/* status's "status" object (caller's), asserting the daemon answered ok. */
static inline json_t *dm_status(const struct dm *d)
{
	json_t *r = dm_ask(d, "status"), *s;

	cr_assert_not_null(r, "no answer on %s", d->sock);
	cr_assert(json_is_true(json_object_get(r, "ok")), "status refused");
	s = json_incref(json_object_get(r, "status"));
	json_decref(r);
	return s;
}

static inline long long dm_windows(const struct dm *d)
{
	json_t *s = dm_status(d);
	long long w = json_integer_value(json_object_get(json_object_get(s, "figures"), "windows"));

	json_decref(s);
	return w;
}

/* Start `kpilot run` with extra environment (NAME=VALUE or NULL); wait until it answers. */
static inline void dm_start_env(struct dm *d, const char *envvar)
{
	const char *http;
	json_t *s = NULL;
	int i, fd;

	d->pid = fork();
	cr_assert_geq(d->pid, 0);
	if (d->pid == 0) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		if (envvar)
			putenv((char *)envvar);
		execl(KPILOT, KPILOT, "run", "--config", d->cfg, "--socket", d->sock, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 300; i++) {
		json_t *r = dm_ask(d, "status");

		if (r) {
			s = json_incref(json_object_get(r, "status"));
			json_decref(r);
			break;
		}
		cr_assert_eq(waitpid(d->pid, NULL, WNOHANG), 0, "kpilot run exited early: %s",
			     d->log);
		usleep(100000);
	}
	cr_assert_not_null(s, "kpilot run did not answer within 30 s");
	http = json_string_value(json_object_get(s, "http"));
	if (http)
		d->port = (unsigned int)atoi(strrchr(http, ':') + 1);
	json_decref(s);
}

static inline void dm_start(struct dm *d)
{
	dm_start_env(d, NULL);
}

/* Signal and wait: the exit status (128 + signal when killed), or -1 after 15 s. */
static inline int dm_stop(struct dm *d, int sig)
{
	int st, i;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (i = 0; i < 150; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(100000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	d->pid = 0;
	return -1;
}

static inline void dm_cleanup(struct dm *d)
{
	char cmd[128];

	if (d->pid > 0)
		dm_stop(d, SIGKILL);
	/* KP_TEST_KEEP=1: the log stays for whoever debugs a failure */
	if (d->dir[0] && !getenv("KP_TEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
		if (system(cmd))
			fprintf(stderr, "%s failed\n", cmd);
	}
}

/* Wait until the daemon has folded n more windows. */
static inline void dm_wait_windows(const struct dm *d, int n)
{
	long long w0 = dm_windows(d);
	int i;

	for (i = 0; i < 200 && dm_windows(d) < w0 + n; i++)
		usleep(50000);
	cr_assert_geq(dm_windows(d), w0 + n, "the daemon folds no windows");
}

/* One HTTP/1.0 exchange on loopback: the status code, *body the text after the headers. */
static inline int http_raw(unsigned int port, const char *req, size_t reqlen, char **body)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1), *p;
	int fd, code = -1;
	ssize_t r;

	cr_assert_not_null(buf);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		/* not (yet) listening (Prometheus starting): the caller's status check says more */
		close(fd);
		free(buf);
		if (body)
			*body = NULL;
		return -1;
	}
	for (size_t off = 0; off < reqlen; off += (size_t)r) {
		r = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (r <= 0)
			break;	/* the server may answer and close before all is sent */
	}
	/* No shutdown(SHUT_WR): Go's server (Prometheus) takes it for a client gone. */
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
	}
	close(fd);
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
		code = -1;
	p = strstr(buf, "\r\n\r\n");
	if (body)
		*body = strdup(p ? p + 4 : "");
	free(buf);
	return code;
}

static inline int http_get(unsigned int port, const char *path, char **body)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	return http_raw(port, req, strlen(req), body);
}

/* POST path with an Authorization header value (or none), no body. */
static inline int http_post(unsigned int port, const char *path, const char *auth, char **body)
{
	char req[1024];

	snprintf(req, sizeof(req), "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%s%s"
		 "Content-Length: 0\r\n\r\n", path, auth ? "Authorization: " : "", auth ? auth : "",
		 auth ? "\r\n" : "");
	return http_raw(port, req, strlen(req), body);
}

/* A shell command: its exit status, its output (stdout and stderr) in *out (caller frees). */
static inline int run_sh(const struct dm *d, const char *cmd, char **out)
{
	char sh[1024], path[128];
	int st;

	snprintf(path, sizeof(path), "%s/out", d->dir);
	snprintf(sh, sizeof(sh), "%s > %s 2>&1", cmd, path);
	st = tu_system(sh);
	*out = tu_slurp(path);
	if (!*out)
		*out = strdup("");
	return st;
}

/* `kpilot ctl --socket SOCK ARGS`: its exit status and output. */
static inline int ctl(const struct dm *d, const char *args, char **out)
{
	char cmd[640];

	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s %s", d->sock, args);
	return run_sh(d, cmd, out);
}

/* `promtool check metrics` prints nothing for text (skipped, saying so, without promtool). */
static inline void promtool_check(const struct dm *d, const char *text)
{
	char path[128], cmd[400], *out;

	if (system("command -v promtool >/dev/null 2>&1")) {
		/* not cr_log_warn(): Criterion 2.4 exits 1 after a warning */
		fprintf(stderr, "promtool check metrics skipped: no promtool (tools/deps.sh --extras)\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/metrics.txt", d->dir);
	dm_write(path, text);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s.out 2>&1", path, path);
	cr_assert_eq(system(cmd), 0, "promtool check metrics failed");
	snprintf(path, sizeof(path), "%s/metrics.txt.out", d->dir);
	out = tu_slurp(path);	/* NULL: empty */
	cr_assert(!out || !*out, "promtool check metrics printed:\n%s", out);
	free(out);
}

/* The value of the first sample line starting with series (name and labels), or -1. */
static inline double prom_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

#endif
