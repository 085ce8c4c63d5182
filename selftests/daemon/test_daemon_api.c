// SPDX-License-Identifier: GPL-2.0
/*
 * Controlling a real `kpilot run`: every `kpilot ctl` command against an
 * observe-only daemon (unknown policies refused naming the known ones, exit
 * statuses 0/1/2, --json), the socket refusing a non-root `kpilot ctl`, and
 * the HTTP API's guard: POST refused without a token_file (403), with a
 * missing or wrong token (401), a token file others may read (403), a large
 * body (413), a flood (429), each refusal leaving the daemon as it was; the
 * right token reaches the command ("no such policy"). With a sysctl policy
 * in a private netns (test_daemon_api_policy.c): pause, resume, explore,
 * save, train, rollback, and its series on /metrics.
 */
#include <grp.h>
#include "daemon_util.h"

static struct dm d;

static void fini(void)
{
	dm_cleanup(&d);
}

Test(daemon_api, ctl_commands_observe_only, .fini = fini, .timeout = 120)
{
	char cmd[512], *out;
	json_t *j;

	dm_need_root();
	dm_init(&d, "{\"interval_ms\": 200}\n");
	dm_start(&d);
	cr_assert_eq(ctl(&d, "policies", &out), 0, "%s", out);
	cr_assert(strstr(out, "no policies: this daemon runs observe-only"), "%s", out);
	free(out);
	cr_assert_eq(ctl(&d, "--json policies", &out), 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_true(json_object_get(j, "ok")) &&
		  json_array_size(json_object_get(j, "policies")) == 0, "%s", out);
	json_decref(j);
	free(out);

	/* a policy this daemon does not run: refused (1), naming what it runs */
	static const char *const unknown[] = { "pause web", "resume web", "explore web off",
					       "save web", "train web", "train web --iterations 3" };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		cr_assert_eq(ctl(&d, unknown[i], &out), 1, "%s: %s", unknown[i], out);
		cr_assert(strstr(out, "the daemon refused: no policy 'web': this daemon runs none "
				 "(observe-only)"), "%s: %s", unknown[i], out);
		free(out);
	}
	cr_assert_eq(ctl(&d, "--json pause web", &out), 1, "%s", out);
	j = json_loads(strchr(out, '{'), JSON_DISABLE_EOF_CHECK, NULL);
	cr_assert(j && json_is_false(json_object_get(j, "ok")) &&
		  strstr(json_string_value(json_object_get(j, "error")), "no policy 'web'"), "%s", out);
	json_decref(j);
	free(out);

	cr_assert_eq(ctl(&d, "save", &out), 0, "%s", out);
	cr_assert(strstr(out, "nothing to save: no policy runs"), "%s", out);
	free(out);
	cr_assert_eq(ctl(&d, "rollback", &out), 0, "%s", out);
	cr_assert(strstr(out, "nothing to restore: no policy runs"), "%s", out);
	free(out);

	/* reload: taken (reloads 1), then a broken file refused (1) with the reason */
	cr_assert_eq(ctl(&d, "reload", &out), 0, "%s", out);
	cr_assert(strstr(out, "reloaded"), "%s", out);
	free(out);
	dm_write(d.cfg, "{\"interval_ms\": 200,\n");
	cr_assert_eq(ctl(&d, "--json reload", &out), 1, "%s", out);
	cr_assert(strstr(out, "reload refused, the running config stays") && strstr(out, d.cfg) &&
		  strstr(out, "\"reloads\":1,\"reloads_refused\":1"), "%s", out);
	free(out);
	j = dm_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(j, "reloads")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "reloads_refused")), 1);
	json_decref(j);

	/* bad usage: 2, and nothing asked */
	static const char *const usage[] = { "pause", "explore web maybe", "explore web",
					     "save a b", "status x", "policies --iterations 2",
					     "train web --batch-size 0", "fly" };
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		cr_assert_eq(ctl(&d, usage[i], &out), 2, "%s: %s", usage[i], out);
		free(out);
	}
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
	cr_assert_eq(ctl(&d, "policies", &out), 2, "%s", out);
	cr_assert(strstr(out, "no kpilot daemon is running"), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "%s/log", d.dir);
	out = tu_slurp(cmd);
	cr_assert(out && strstr(out, "kpilot ctl reload: reading"), "%s", out);
	free(out);
}

/* `kpilot ctl ARGS` as uid/gid 65534: its exit status, its output in *out. */
static int ctl_as_nobody(const char *args, char **out)
{
	char cmd[512], path[128];
	int st;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/nobody.out", d.dir);
	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s %s > %s 2>&1", d.sock, args, path);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);

		if (fd < 0 || fchown(fd, 65534, 65534))
			_exit(30);
		close(fd);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(31);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	*out = tu_slurp(path);
	if (!*out)
		*out = strdup("");
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(daemon_api, ctl_as_non_root_refused, .fini = fini, .timeout = 120)
{
	json_t *before, *after;
	char *out;
	int rc;

	dm_need_root();
	dm_init(&d, "{\"interval_ms\": 200}\n");
	dm_start(&d);
	before = dm_status(&d);
	rc = ctl_as_nobody("rollback", &out);
	cr_assert_eq(rc, 2, "mode 0600: connect refused, exit 2 (%d): %s", rc, out);
	cr_assert(strstr(out, "Permission denied"), "%s", out);
	free(out);
	chmod(d.sock, 0666);	/* past the kernel's check: the daemon's own (SO_PEERCRED) */
	static const char *const cmds[] = { "status", "policies", "pause web", "save", "rollback",
					    "reload" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = ctl_as_nobody(cmds[i], &out);
		cr_assert_eq(rc, 1, "%s as uid 65534: exit %d: %s", cmds[i], rc, out);
		cr_assert(strstr(out, "peer uid 65534 refused: the control socket is root-only"),
			  "%s: %s", cmds[i], out);
		free(out);
	}
	chmod(d.sock, 0600);
	after = dm_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(after, "reloads")), 0, "reload ran");
	cr_assert(json_equal(json_object_get(before, "policies"), json_object_get(after, "policies")));
	json_decref(before);
	json_decref(after);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

Test(daemon_api, post_without_token_file_is_403, .fini = fini, .timeout = 120)
{
	char *body = NULL;
	int code;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	code = http_post(d.port, "/train?policy=web", NULL, &body);
	cr_assert_eq(code, 403, "%d: %s", code, body);
	cr_assert(strstr(body, "no token_file in the config") &&
		  strstr(body, "use the control socket"), "%s", body);
	free(body);
	code = http_post(d.port, "/save_model", "Bearer anything", &body);
	cr_assert_eq(code, 403, "%d: %s", code, body);
	free(body);
	/* GET still works, and a GET on a POST path says which method it takes */
	cr_assert_eq(http_get(d.port, "/stats", NULL), 200);
	code = http_get(d.port, "/train?policy=web", &body);
	cr_assert_eq(code, 405, "%d: %s", code, body);
	cr_assert(strstr(body, "/train takes POST only"), "%s", body);
	free(body);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

/* Without, with wrong and with the right token; bad parameters past the guard. */
static void check_tokens(void)
{
	static const char *const wrong[] = { "Bearer s3cret", "Bearer s3cret-token-", "Bearer ",
					     "Basic czNjcmV0LXRva2Vu", "s3cret-token",
					     "Bearer S3CRET-TOKEN" };
	char *body = NULL;
	int code;

	code = http_post(d.port, "/train?policy=web", NULL, &body);
	cr_assert_eq(code, 401, "no Authorization: %d %s", code, body);
	cr_assert(strstr(body, "no \"Authorization: Bearer TOKEN\" header"), "%s", body);
	free(body);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		code = http_post(d.port, "/train?policy=web", wrong[i], &body);
		cr_assert_eq(code, 401, "'%s': %d %s", wrong[i], code, body);
		cr_assert(strstr(body, "wrong token"), "%s", body);
		free(body);
	}
	/* the right token: past the guard, to the command, which has no policy 'web' */
	code = http_post(d.port, "/train?policy=web&batch_size=8&iterations=2",
			 "Bearer s3cret-token", &body);
	cr_assert_eq(code, 404, "%d %s", code, body);
	cr_assert(strstr(body, "\"ok\":false") && strstr(body, "no policy 'web'"), "%s", body);
	free(body);
	code = http_post(d.port, "/save_model", "Bearer s3cret-token", &body);
	cr_assert_eq(code, 200, "%d %s", code, body);
	cr_assert(strstr(body, "nothing to save"), "%s", body);
	free(body);
	code = http_post(d.port, "/train?policy=web&iterations=100000", "Bearer s3cret-token", &body);
	cr_assert_eq(code, 400, "%d %s", code, body);
	free(body);
	code = http_post(d.port, "/train?policy=web&x=1", "Bearer s3cret-token", &body);
	cr_assert_eq(code, 400, "%d %s", code, body);
	cr_assert(strstr(body, "unknown parameter 'x'"), "%s", body);
	free(body);
}

/* The daemon.md command, as documented (this run's port and token file). */
static void documented_curl(const char *tok)
{
	char cmd[512], *out;

	if (system("command -v curl >/dev/null 2>&1"))
		return;
	snprintf(cmd, sizeof(cmd), "curl -s -X POST -H \"Authorization: Bearer $(cat %s)\" "
		 "'http://127.0.0.1:%u/train?policy=web&iterations=5'", tok, d.port);
	cr_assert_eq(run_sh(&d, cmd, &out), 0);
	cr_assert(strstr(out, "no policy 'web'"), "curl: %s", out);
	free(out);
}

/* A body over 4096 bytes: 413 before it is read; a token file others may read: 403. */
static void check_size_and_mode(const char *tok)
{
	char *big = malloc(20000), *body = NULL;
	int code;

	cr_assert_not_null(big);
	code = snprintf(big, 20000, "POST /save_model HTTP/1.0\r\nAuthorization: Bearer s3cret-token"
			"\r\nContent-Length: 8000\r\n\r\n");
	memset(big + code, 'x', 8000);
	code = http_raw(d.port, big, (size_t)code + 8000, &body);
	cr_assert_eq(code, 413, "%d", code);
	free(body);
	free(big);
	chmod(tok, 0644);
	code = http_post(d.port, "/save_model", "Bearer s3cret-token", &body);
	cr_assert_eq(code, 403, "mode 0644: %d %s", code, body);
	cr_assert(strstr(body, "mode 0600 or 0400 (it is 0644"), "%s", body);
	free(body);
	chmod(tok, 0400);
	code = http_post(d.port, "/save_model", "Bearer s3cret-token", NULL);
	cr_assert_eq(code, 200, "mode 0400: %d", code);
}

/* A flood: the burst served, the rest 429; a second later served again. */
static void check_flood(void)
{
	int code, n200 = 0, n429 = 0;
	char *body = NULL;

	sleep(1);	/* a full bucket */
	for (int i = 0; i < 80; i++) {
		code = http_get(d.port, "/stats", NULL);
		n200 += code == 200;
		n429 += code == 429;
	}
	cr_assert(n200 >= 15 && n200 <= 40 && n429 >= 40, "80 requests: %d served, %d 429", n200,
		  n429);
	code = http_post(d.port, "/save_model", "Bearer s3cret-token", &body);
	cr_assert(code == 200 || (code == 429 && strstr(body, "at most 20 a second")), "%d %s",
		  code, body);
	free(body);
	usleep(1200000);
	cr_assert_eq(http_get(d.port, "/metrics", &body), 200, "served again after a second");
	free(body);
}

Test(daemon_api, tokens_sizes_and_rates, .fini = fini, .timeout = 120)
{
	char cfg[512], tok[128], *log;
	json_t *before, *after;

	dm_need_root();
	dm_init(&d, "{}\n");
	snprintf(tok, sizeof(tok), "%s/token", d.dir);
	dm_write(tok, "s3cret-token\n");	/* 0600, root's */
	snprintf(cfg, sizeof(cfg), "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200, "
		 "\"token_file\": \"%s\"}\n", tok);
	dm_write(d.cfg, cfg);
	dm_start(&d);
	before = dm_status(&d);
	check_tokens();
	documented_curl(tok);
	check_size_and_mode(tok);
	check_flood();
	after = dm_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(after, "reloads")), 0);
	cr_assert(json_equal(json_object_get(before, "policies"), json_object_get(after, "policies")));
	cr_assert(json_equal(json_object_get(before, "http"), json_object_get(after, "http")));
	json_decref(before);
	json_decref(after);
	dm_wait_windows(&d, 2);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
	log = tu_slurp(d.log);
	cr_assert(log && strstr(log, "http: POST /train policy web: no policy 'web'"), "%s", log);
	free(log);
}
