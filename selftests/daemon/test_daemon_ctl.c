// SPDX-License-Identifier: GPL-2.0
/*
 * `kpilot ctl` and the control socket of a real `kpilot run`: status while
 * it runs and a clear refusal when none does; a non-root peer refused by the
 * socket's mode and, with the mode opened, by SO_PEERCRED; oversized and
 * malformed requests refused; every refusal leaving the daemon as it was.
 * SIGHUP: a broken config refused with the old one kept, a good one taken.
 * SIGTERM/SIGINT: exit 0, socket removed. Start-up refusals name the cause.
 */
#include <grp.h>
#include "daemon_util.h"

static struct dm d, d2;

static void fini(void)
{
	dm_cleanup(&d2);
	dm_cleanup(&d);
}

/* Run a shell command; its exit status, its output in out (caller frees). */
static int run(const char *cmd, char **out)
{
	char sh[512], path[128];
	int st;

	snprintf(path, sizeof(path), "%s/out", d.dir);
	snprintf(sh, sizeof(sh), "%s > %s 2>&1", cmd, path);
	st = tu_system(sh);
	*out = tu_slurp(path);
	if (!*out)
		*out = strdup("");
	return st;
}

static json_t *status_pick(const char *key)
{
	json_t *s = dm_status(&d), *v = json_incref(json_object_get(s, key));

	json_decref(s);
	return v;
}

Test(daemon_ctl, status_while_running_and_after, .fini = fini, .timeout = 120)
{
	char cmd[256], *out;
	struct stat st;
	json_t *j;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	cr_assert_eq(lstat(d.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "socket mode %o", st.st_mode & 07777);
	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s status", d.sock);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	cr_assert(strstr(out, "observe-only") && strstr(out, "managed:    nothing"), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s status --json", d.sock);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "--json: %s", out);
	cr_assert_eq(json_integer_value(json_object_get(j, "pid")), d.pid);
	cr_assert_str_eq(json_string_value(json_object_get(j, "config")), d.cfg);
	cr_assert_eq(json_array_size(json_object_get(j, "managed_knobs")), 0);
	json_decref(j);
	free(out);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
	cr_assert_neq(lstat(d.sock, &st), 0, "the socket is removed at exit");
	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s status", d.sock);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert(strstr(out, "no kpilot daemon is running"), "%s", out);
	free(out);
	cr_assert_eq(run(KPILOT " ctl --socket /nonexistent/kp.sock status", &out), 2);
	free(out);
	cr_assert_eq(run(KPILOT " ctl --socket /tmp/x.sock stats", &out), 2, "unknown command");
	cr_assert(strstr(out, "unknown command 'stats'"), "%s", out);
	free(out);
}

/* As uid/gid 65534: 10 connect refused (EACCES), 20 answered "root-only", else 1x/2x. */
static int as_nobody(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[512] = "";
	int st, fd;
	ssize_t n;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(30);
		strcpy(sa.sun_path, sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(errno == EACCES ? 10 : 11);
		if (write(fd, "{\"cmd\":\"status\"}\n", 17) != 17)
			_exit(21);
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		_exit(strstr(buf, "\"ok\":false") && strstr(buf, "root-only") ? 20 : 22);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Send raw bytes as root; the answer line (caller frees). */
static char *raw(const char *bytes, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = calloc(1, 4096);
	size_t off = 0;
	ssize_t r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, d.sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	while (off < n && (r = send(fd, bytes + off, n - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)r;
	shutdown(fd, SHUT_WR);
	off = 0;
	while (off < 4095 && (r = read(fd, buf + off, 4095 - off)) > 0)
		off += (size_t)r;
	close(fd);
	return buf;
}

Test(daemon_ctl, refusals_leave_state_unchanged, .fini = fini, .timeout = 120)
{
	json_t *before, *after;
	char *big, *ans;
	int code;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	before = dm_status(&d);
	code = as_nobody(d.sock);
	cr_assert_eq(code, 10, "mode 0600: a non-root connect is refused (%d)", code);
	chmod(d.sock, 0666);	/* the kernel's check out of the way: the daemon's own */
	for (int i = 0; i < 20; i++) {
		code = as_nobody(d.sock);
		cr_assert_eq(code, 20, "SO_PEERCRED: uid 65534 refused (%d, try %d)", code, i);
	}
	chmod(d.sock, 0600);

	big = malloc(1 << 16);
	memset(big, ' ', 1 << 16);
	memcpy(big, "{\"cmd\":\"status\"", 15);
	ans = raw(big, 1 << 16);
	cr_assert(strstr(ans, "\"ok\":false") && strstr(ans, "larger than 4096 bytes"), "%s", ans);
	free(ans);
	free(big);
	ans = raw("not json\n", 9);
	cr_assert(strstr(ans, "not a JSON object"), "%s", ans);
	free(ans);
	ans = raw("{\"cmd\":\"pause\"}\n", 16);
	cr_assert(strstr(ans, "which policy?"), "%s", ans);
	free(ans);
	ans = raw("{\"cmd\":\"fly\"}\n", 14);
	cr_assert(strstr(ans, "unknown command 'fly'") && strstr(ans, "reload"), "%s", ans);
	free(ans);
	ans = raw("{\"cmd\":\"pause\",\"policy\":\"web\"}\n", 31);
	cr_assert(strstr(ans, "no policy 'web': this daemon runs none (observe-only)"), "%s", ans);
	free(ans);

	after = dm_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(after, "pid")), d.pid);
	cr_assert(json_equal(json_object_get(before, "config"), json_object_get(after, "config")));
	cr_assert(json_equal(json_object_get(before, "http"), json_object_get(after, "http")));
	cr_assert_eq(json_integer_value(json_object_get(after, "reloads")), 0);
	cr_assert_eq(json_integer_value(json_object_get(after, "reloads_refused")), 0);
	json_decref(before);
	json_decref(after);
	dm_wait_windows(&d, 2);	/* and its loop goes on */
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

/* After SIGHUP: the n-th refused reload, its reason containing want. */
static void reload_refused(int n, const char *want)
{
	json_t *v = NULL;
	int i;

	kill(d.pid, SIGHUP);
	for (i = 0; i < 200; i++) {
		v = status_pick("reloads_refused");
		if (json_integer_value(v) == n)
			break;
		json_decref(v);
		v = NULL;
		usleep(50000);
	}
	cr_assert_not_null(v, "SIGHUP: reload %d not refused", n);
	json_decref(v);
	v = status_pick("last_reload_error");
	cr_assert(json_is_string(v) && strstr(json_string_value(v), want), "%s (want %s)",
		  json_string_value(v), want);
	json_decref(v);
}

Test(daemon_ctl, sighup_broken_config_keeps_the_old, .fini = fini, .timeout = 120)
{
	char *m = NULL, *log;
	json_t *v;
	unsigned int port;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	port = d.port;
	/* Truncated JSON: refused, naming the file and where it broke. */
	dm_write(d.cfg, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200,\n");
	reload_refused(1, d.cfg);
	cr_assert_eq(http_get(port, "/metrics", &m), 200, "the old listener serves on");
	free(m);
	dm_wait_windows(&d, 2);

	/*
	 * A policy of no known kind: refused, naming it. A config that parses
	 * but cannot be opened (no such cgroup): refused too. Then a good one.
	 */
	dm_write(d.cfg, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"policies\": "
		 "[{\"name\": \"p\", \"kind\": \"magic\"}]}\n");
	reload_refused(2, "$.policies[0]: kind \"magic\" is not one of sysctl, pipeline, replicas");
	dm_write(d.cfg, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200,"
		 " \"operators\": [{\"name\": \"gone\", \"cgroup\": \"/kpilot-no-such-cgroup\"}]}\n");
	reload_refused(3, "operator 'gone': no cgroup");
	cr_assert_eq(http_get(port, "/metrics", &m), 200);
	cr_assert_null(strstr(m, "operator=\"gone\""), "a refused config left a trace");
	free(m);
	dm_write(d.cfg, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200,"
		 " \"operators\": [{\"name\": \"self\", \"pids\": [1]}]}\n");
	kill(d.pid, SIGHUP);
	for (int i = 0; i < 200; i++) {
		v = status_pick("reloads");
		if (json_integer_value(v) == 1)
			break;
		json_decref(v);
		v = NULL;
		usleep(50000);
	}
	cr_assert_not_null(v, "a good config after SIGHUP: not taken");
	json_decref(v);
	v = status_pick("last_reload_error");
	cr_assert(json_is_null(v), "cleared after a good reload");
	json_decref(v);
	cr_assert_eq(http_get(port, "/metrics", &m), 200, "same listen address: same listener");
	cr_assert(strstr(m, "kpilot_operator_cpu_seconds_total{operator=\"self\"}"), "%s", m);
	free(m);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
	log = tu_slurp(d.log);
	cr_assert(log && strstr(log, "SIGHUP: reload refused, the running config stays"), "%s", log);
	cr_assert(strstr(log, "SIGHUP: reloaded"), "%s", log);
	free(log);
}

/* Under systemd (JOURNAL_STREAM naming stderr) every line has its syslog priority. */
Test(daemon_ctl, sigterm_exits_0_with_journal_priorities, .fini = fini, .timeout = 120)
{
	char env[96], *log;
	struct stat st;
	int fd;

	dm_need_root();
	dm_init(&d, "{}\n");
	fd = open(d.log, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	fstat(fd, &st);
	close(fd);
	snprintf(env, sizeof(env), "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	dm_start_env(&d, env);
	cr_assert_eq(d.port, 0, "no http object: no listener");
	cr_assert_eq(dm_stop(&d, SIGTERM), 0, "SIGTERM: exit 0");
	log = tu_slurp(d.log);
	cr_assert(log && strstr(log, "<6>kpilot: info: running "), "%s", log);
	cr_assert(strstr(log, "<6>kpilot: info: Terminated: stopping; nothing is managed"), "%s", log);
	free(log);
}

/* Type=notify: READY=1 on $NOTIFY_SOCKET once it answers on its socket. */
Test(daemon_ctl, notify_ready, .fini = fini, .timeout = 120)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env[160], buf[64] = "";
	struct timeval tv = { .tv_sec = 30 };
	ssize_t n;
	int fd;

	dm_need_root();
	dm_init(&d, "{\"interval_ms\": 200}\n");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", d.dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", sa.sun_path);
	dm_start_env(&d, env);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	cr_assert_gt(n, 0, "no notification: %s", strerror(errno));
	buf[n] = '\0';
	cr_assert_str_eq(buf, "READY=1");
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

Test(daemon_ctl, start_refusals, .fini = fini, .timeout = 120)
{
	char cmd[512], *out;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"10.1.2.3:9464\"}}\n");
	snprintf(cmd, sizeof(cmd), KPILOT " run --config %s --socket %s", d.cfg, d.sock);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert(strstr(out, "$.http.listen: 10.1.2.3 is not a loopback address"), "%s", out);
	free(out);
	chmod(d.cfg, 0666);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert(strstr(out, "group- or world-writable"), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), KPILOT " run --config %s/none.json --socket %s", d.dir, d.sock);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert(strstr(out, "none.json: No such file"), "%s", out);
	free(out);

	/* A second daemon on a live socket is refused; the first runs on. */
	dm_write(d.cfg, "{\"interval_ms\": 200}\n");
	dm_start(&d);
	snprintf(cmd, sizeof(cmd), KPILOT " run --config %s --socket %s", d.cfg, d.sock);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert(strstr(out, "another kpilot run answers there"), "%s", out);
	free(out);
	dm_wait_windows(&d, 1);

	/* A crash leaves the socket file: the next start replaces it. */
	cr_assert_eq(dm_stop(&d, SIGKILL), 128 + SIGKILL);
	cr_assert_eq(access(d.sock, F_OK), 0, "SIGKILL leaves the socket file");
	dm_start(&d);
	dm_wait_windows(&d, 1);
	cr_assert_eq(dm_stop(&d, SIGINT), 0);
}
