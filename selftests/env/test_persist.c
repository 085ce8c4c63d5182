// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot persist: a confirmed best configuration applied through the safety
 * session and written to sysctl.d / a systemd drop-in under a fake root,
 * journaled, so rollback and crash recovery remove the files and restore
 * the values; and read back through `sysctl --system` after a "reboot" (a
 * fresh network namespace) where only the persisted file is visible.
 */
#include <jansson.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include "../lib/safety_fake.h"
#include "../lib/testutil.h"
#include <criterion/redirect.h>
#include "actuate/fsio.h"
#include "env/benchmark/persist.h"
#include "lib/sha256.h"

static char root[256], state[256], res[512], kpilot[4200];

static void kpilot_path(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	cr_assert_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(kpilot, sizeof(kpilot), "%s/../../kpilot", self);
}

static void setup(void)
{
	fake_root_make(root, sizeof(root), 2);
	fake_state_dir(state, sizeof(state));
	fake_put(root, "/sys/fs/cgroup/system.slice/cpuset.cpus.effective", "0-3\n");
	fake_put(root, "/sys/fs/cgroup/system.slice/web.service/cpu.max", "max 100000\n");
	fake_put(root, "/sys/fs/cgroup/system.slice/web.service/cpu.weight", "100\n");
	fake_put(root, "/sys/fs/cgroup/system.slice/web.service/cpuset.cpus", "\n");
	snprintf(res, sizeof(res), "%s/results.json", state);
	kpilot_path();
}

static void teardown(void)
{
	fake_rm(root);
	fake_rm(state);
}

/* A results.json: best_config from pairs {knob, value}; conf: "sig", "notsig" or "null". */
static void write_results(const char *path, const char *workload, const char *conf,
			  const char *const (*kv)[2], int n)
{
	FILE *f = fopen(path, "w");
	int i;

	cr_assert_not_null(f);
	fprintf(f, "{\"workload_name\":\"%s\",\"algo\":\"ppo\",\"metric\":\"ops\",\"goal\":\"maximize\","
		"\"baseline_metric\":100,\"best_metric\":120,\"best_trial\":3,\"improvement_pct\":20,"
		"\"trials\":4,\"failures\":0,\"best_config\":{", workload);
	for (i = 0; i < n; i++)
		fprintf(f, "%s\"%s\":\"%s\"", i ? "," : "", kv[i][0], kv[i][1]);
	fprintf(f, "},\"confirmation\":");
	if (!strcmp(conf, "null"))
		fprintf(f, "null");
	else
		fprintf(f, "{\"runs\":5,\"baseline_mean\":100,\"best_mean\":%s,\"ci95_pct\":[%s],"
			"\"improvement_pct\":%s,\"significant\":%s}",
			!strcmp(conf, "sig") ? "118" : "101", !strcmp(conf, "sig") ? "12.5,23.5" : "-3.2,5.2",
			!strcmp(conf, "sig") ? "18" : "1", !strcmp(conf, "sig") ? "true" : "false");
	fprintf(f, ",\"history\":[]}\n");
	fclose(f);
}

static const char *const net2[][2] = {
	{ "net.core.somaxconn", "8192" }, { "net.ipv4.tcp_fin_timeout", "30" },
};

static int run(const char *args)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "%s %s --root %s --state-dir %s >%s/out 2>&1", kpilot, args, root,
		 state, state);
	return tu_system(cmd);
}

static char *out_text(void)
{
	static char buf[8192];
	char path[600], *t;

	snprintf(path, sizeof(path), "%s/out", state);
	t = tu_slurp(path);
	snprintf(buf, sizeof(buf), "%s", t ? t : "");
	free(t);
	return buf;
}

TestSuite(persist, .init = setup, .fini = teardown);

Test(persist, refuses_an_unconfirmed_gain)
{
	static const char *const conf[] = { "notsig", "null" };
	static const char *const msg[] = {
		"kpilot persist: refused: the improvement +1.0% (95% CI -3.2% to +5.2%, 5 runs each) "
		"is not significant; nothing written, every knob keeps its value\n",
		"kpilot persist: refused: the gain was not confirmed (the run had --confirm 0); "
		"nothing written, every knob keeps its value\n",
	};
	char args[600], etc[300];
	int i;

	for (i = 0; i < 2; i++) {
		write_results(res, "w1", conf[i], net2, 2);
		snprintf(args, sizeof(args), "persist %s", res);
		cr_assert_eq(run(args), 4, "exit 4 like --apply-best's refusal: %s", out_text());
		cr_assert_str_eq(out_text(), msg[i]);
		cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096\n");
		cr_assert_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_fin_timeout"), "60\n");
		snprintf(etc, sizeof(etc), "%s/etc/sysctl.d", root);
		cr_assert(!kp_fs_exists(etc), "no sysctl.d file");
		cr_assert_eq(journal_count(state, "change"), 0);
	}
}

Test(persist, writes_the_sysctl_file_and_rollback_removes_it)
{
	char args[600], *text;

	write_results(res, "w1", "sig", net2, 2);
	snprintf(args, sizeof(args), "persist %s", res);
	cr_assert_eq(run(args), 0, "%s", out_text());
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "8192");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_fin_timeout"), "30");
	text = fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf");
	cr_assert(strstr(text, "# Written by kpilot persist on 20"), "%s", text);
	cr_assert(strstr(text, res), "names its results: %s", text);
	cr_assert(strstr(text, "confirmed +18.0% (95% CI +12.5% to +23.5%, 5 runs each)"), "%s", text);
	cr_assert(strstr(text, "# Undo: `kpilot rollback` removes this file"), "%s", text);
	cr_assert(strstr(text, ".\nnet.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 30\n"),
		  "%s", text);
	cr_assert_eq(journal_count(state, "commit"), 1);

	cr_assert_eq(run("rollback"), 0, "%s", out_text());
	cr_assert_str_eq(fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf"), "<missing>");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_fin_timeout"), "60");
}

Test(persist, a_replaced_file_gets_its_old_content_back)
{
	static const char old[] = "# an administrator's file\nnet.core.somaxconn = 1024\n";
	char args[600];

	fake_put(root, "/etc/sysctl.d/90-kpilot-w1.conf", old);
	write_results(res, "w1", "sig", net2, 2);
	snprintf(args, sizeof(args), "persist %s", res);
	cr_assert_eq(run(args), 0, "%s", out_text());
	cr_assert(strstr(fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf"), "somaxconn = 8192"));
	cr_assert_eq(run("rollback"), 0, "%s", out_text());
	cr_assert_str_eq(fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf"), old);
}

Test(persist, cgroup_limits_go_to_the_units_drop_in)
{
	static const char *const kv[][2] = {
		{ "cgroup:system.slice/web.service:cpu.max", "50000 100000" },
		{ "cgroup:system.slice/web.service:cpu.weight", "200" },
		{ "cgroup:system.slice/web.service:cpuset.cpus", "0-1" },
		{ "cgroup:kp/op1:cpu.weight", "300" },
		{ "net.core.somaxconn", "8192" },
	};
	const char *dropin = "/etc/systemd/system/web.service.d/90-kpilot-w2.conf";
	char args[600], *text;

	write_results(res, "w2", "sig", kv, 5);
	snprintf(args, sizeof(args), "persist %s", res);
	cr_assert_eq(run(args), 0, "%s", out_text());
	cr_assert(strstr(out_text(), "kpilot persist: cgroup:kp/op1:cpu.weight: not persisted: the "
		  "cgroup kp/op1 belongs to no systemd unit"), "%s", out_text());
	text = fake_get(root, dropin);
	cr_assert(strstr(text, "\n[Service]\nCPUQuota=50%\nCPUWeight=200\nAllowedCPUs=0-1\n"),
		  "%s", text);
	cr_assert(strstr(text, "systemctl daemon-reload"), "%s", text);
	cr_assert_str_eq(fake_get(root, "/sys/fs/cgroup/system.slice/web.service/cpu.max"),
			 "50000 100000");
	cr_assert_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpu.weight"), "100\n",
			 "a refused knob is not applied either");
	cr_assert(strstr(fake_get(root, "/etc/sysctl.d/90-kpilot-w2.conf"), "somaxconn = 8192"));

	cr_assert_eq(run("rollback"), 0, "%s", out_text());
	cr_assert_str_eq(fake_get(root, dropin), "<missing>");
	snprintf(args, sizeof(args), "%s/etc/systemd/system/web.service.d", root);
	cr_assert(!kp_fs_exists(args), "the drop-in directory kpilot made is gone");
	cr_assert_str_eq(fake_get(root, "/sys/fs/cgroup/system.slice/web.service/cpu.max"),
			 "max 100000");
	cr_assert_str_eq(fake_get(root, "/sys/fs/cgroup/system.slice/web.service/cpu.weight"), "100");
}

static const char *crash_at;

/* Dies like a power cut at the write of the file whose path ends with crash_at. */
static int crash_hook(const char *path, const char *text)
{
	size_t n = strlen(path), m = strlen(crash_at);

	(void)text;
	if (n >= m && !strcmp(path + n - m, crash_at))
		_exit(9);
	return 0;
}

static void persist_and_crash(const char *at)
{
	struct kp_persist_opts o = { .results = res, .root = root, .state_dir = state };
	struct kp_persist_out out;
	char why[512];
	pid_t pid;
	int st;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		crash_at = at;
		kp_fs_write_hook = crash_hook;
		kp_persist(&o, &out, why, sizeof(why));
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 9, "the child died at the write of %s", at);
}

/* The next kpilot start (any session) undoes what the dead one left. */
static void next_start(void)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .cmd = "test" };
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
}

Test(persist, a_crash_between_journal_and_write_replays_cleanly)
{
	cr_redirect_stderr();
	write_results(res, "w1", "sig", net2, 2);
	persist_and_crash("/etc/sysctl.d/90-kpilot-w1.conf");
	/* the change is journaled, durable; the file never came; the values did */
	cr_assert_eq(journal_count(state, "change"), 3);
	cr_assert_eq(journal_count(state, "commit"), 0);
	cr_assert_str_eq(fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf"), "<missing>");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "8192");
	next_start();
	cr_assert_eq(journal_count(state, "recovered"), 0, "the journal was archived: clean");
	cr_assert_str_eq(fake_get(root, "/etc/sysctl.d/90-kpilot-w1.conf"), "<missing>");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_fin_timeout"), "60");
}

Test(persist, a_crash_after_one_file_was_written_removes_it)
{
	static const char *const kv[][2] = {
		{ "net.core.somaxconn", "8192" },
		{ "cgroup:system.slice/web.service:cpu.weight", "200" },
	};

	cr_redirect_stderr();
	write_results(res, "w3", "sig", kv, 2);
	persist_and_crash("/etc/systemd/system/web.service.d/90-kpilot-w3.conf");
	cr_assert(strstr(fake_get(root, "/etc/sysctl.d/90-kpilot-w3.conf"), "somaxconn = 8192"));
	next_start();
	cr_assert_str_eq(fake_get(root, "/etc/sysctl.d/90-kpilot-w3.conf"), "<missing>");
	cr_assert_str_eq(fake_get(root, "/etc/systemd/system/web.service.d/90-kpilot-w3.conf"),
			 "<missing>");
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
	cr_assert_str_eq(fake_get(root, "/sys/fs/cgroup/system.slice/web.service/cpu.weight"), "100");
}

static int read_knob(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, len, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Bind an empty dir (or file) over every other place sysctl --system reads. */
static int hide_other_sysctl_files(const char *tmp)
{
	static const char *const dirs[] = { "/run/sysctl.d", "/usr/local/lib/sysctl.d",
					    "/usr/lib/sysctl.d", "/lib/sysctl.d" };
	char empty_dir[600], empty_file[600];
	size_t i;
	FILE *f;

	snprintf(empty_dir, sizeof(empty_dir), "%s/empty.d", tmp);
	snprintf(empty_file, sizeof(empty_file), "%s/empty.conf", tmp);
	if (mkdir(empty_dir, 0755) || !(f = fopen(empty_file, "w")))
		return -1;
	fclose(f);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (kp_fs_exists(dirs[i]) && mount(empty_dir, dirs[i], NULL, MS_BIND, NULL))
			return -1;
	if (kp_fs_exists("/etc/sysctl.conf") &&
	    mount(empty_file, "/etc/sysctl.conf", NULL, MS_BIND, NULL))
		return -1;
	return 0;
}

/* In a private mount + network namespace: persist, "reboot", sysctl --system, rollback. */
static int reboot_child(void)
{
	char cmd[8192], v[64], dflt[64];

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", "/etc/sysctl.d", "tmpfs", 0, "mode=0755"))
		return 10;
	if (read_knob("/proc/sys/net/core/somaxconn", dflt, sizeof(dflt)) || !strcmp(dflt, "8192"))
		return 11;
	snprintf(cmd, sizeof(cmd), "%s persist %s --state-dir %s/j -q 2>/dev/null", kpilot, res, state);
	if (tu_system(cmd))
		return 12;
	if (read_knob("/proc/sys/net/core/somaxconn", v, sizeof(v)) || strcmp(v, "8192"))
		return 13;
	/* the reboot: a fresh network namespace has the kernel's defaults again */
	if (unshare(CLONE_NEWNET))
		return 14;
	if (read_knob("/proc/sys/net/core/somaxconn", v, sizeof(v)) || strcmp(v, dflt))
		return 15;
	if (hide_other_sysctl_files(state))
		return 16;
	snprintf(cmd, sizeof(cmd), "sysctl --system >%s/sysctl.out 2>&1", state);
	if (tu_system(cmd))
		return 17;
	if (read_knob("/proc/sys/net/core/somaxconn", v, sizeof(v)) || strcmp(v, "8192"))
		return 18;
	if (read_knob("/proc/sys/net/ipv4/tcp_fin_timeout", v, sizeof(v)) || strcmp(v, "30"))
		return 19;
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s/j 2>/dev/null", kpilot, state);
	if (tu_system(cmd))
		return 20;
	if (kp_fs_exists("/etc/sysctl.d/90-kpilot-w4.conf"))
		return 21;
	if (read_knob("/proc/sys/net/core/somaxconn", v, sizeof(v)) || strcmp(v, dflt))
		return 22;
	return 0;
}

Test(persist, survives_a_reboot_read_back_by_sysctl_system)
{
	static const char *const step[] = {
		[10] = "unshare/mount", [11] = "default somaxconn", [12] = "kpilot persist",
		[13] = "somaxconn after persist", [14] = "second netns", [15] = "fresh defaults",
		[16] = "hiding the other sysctl files", [17] = "sysctl --system",
		[18] = "somaxconn from the file", [19] = "tcp_fin_timeout from the file",
		[20] = "kpilot rollback", [21] = "file removed", [22] = "somaxconn restored",
	};
	char host_before[64], host_after[64], path[600];
	pid_t pid;
	int st;

	if (geteuid())
		cr_skip_test("needs root for mount and network namespaces (CI runs it as root)");
	if (tu_system("command -v sysctl >/dev/null"))
		cr_skip_test("no sysctl (procps; tools/deps.sh installs it)");
	write_results(res, "w4", "sig", net2, 2);
	cr_assert_eq(read_knob("/proc/sys/net/core/somaxconn", host_before, sizeof(host_before)), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(reboot_child());
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	snprintf(path, sizeof(path), "%s/sysctl.out", state);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "failed at: %s (sysctl said: %s)",
		  WIFEXITED(st) && WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) <= 22 ?
		  step[WEXITSTATUS(st)] : "?", fake_get("", path));
	cr_assert_eq(read_knob("/proc/sys/net/core/somaxconn", host_after, sizeof(host_after)), 0);
	cr_assert_str_eq(host_after, host_before, "the host's somaxconn is untouched");
	cr_assert(!kp_fs_exists("/etc/sysctl.d/90-kpilot-w4.conf"), "nothing on the host's /etc");
}

Test(persist, a_value_beyond_the_step_limit_is_reached_stepwise)
{
	static const char *const kv[][2] = { { "net.ipv4.tcp_fin_timeout", "5" } };
	char args[600];

	write_results(res, "w5", "sig", kv, 1);
	snprintf(args, sizeof(args), "persist %s", res);
	cr_assert_eq(run(args), 0, "%s", out_text());
	/* the table's step is 30: 60 -> 30 -> 5, two journaled changes */
	cr_assert_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_fin_timeout"), "5");
	cr_assert_eq(journal_count(state, "change"), 3, "two steps and the file");
	cr_assert(strstr(fake_get(root, "/etc/sysctl.d/90-kpilot-w5.conf"), "tcp_fin_timeout = 5\n"));
}

Test(persist, a_file_that_is_not_results_exits_2)
{
	char args[600];
	FILE *f = fopen(res, "w");

	cr_assert_not_null(f);
	fputs("{\"workload_name\": \"w6\"}\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "persist %s", res);
	cr_assert_eq(run(args), 2, "%s", out_text());
	cr_assert(strstr(out_text(), "$.best_config: missing: not a kpilot tune results.json"), "%s",
		  out_text());
	cr_assert_eq(journal_count(state, "change"), 0);
}

/* kpilot tune --apply-best --persist in a private mount + network namespace. */
static int tune_child(void)
{
	char cmd[8192], path[600], v[64];
	const char *best;
	json_t *r;
	FILE *f;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", "/etc/sysctl.d", "tmpfs", 0, "mode=0755"))
		return 10;
	snprintf(path, sizeof(path), "%s/fin.json", state);
	f = fopen(path, "w");
	if (!f)
		return 11;
	/* the metric is the knob itself, lower is better: every trial beats the default 60 */
	fprintf(f, "{\"workload_name\": \"fin\", \"netns\": true,"
		" \"benchmark\": {\"command\": [\"echo tps = $(cat /proc/sys/net/ipv4/tcp_fin_timeout)\"],"
		" \"shell\": true, \"timeout_s\": 10},"
		" \"reward_metric\": {\"name\": \"tps\", \"pattern\": \"tps = ([0-9]+)\", \"goal\": \"minimize\"},"
		" \"action_space\": [{\"knob\": \"net.ipv4.tcp_fin_timeout\", \"min\": 5, \"max\": 40}],"
		" \"training\": {\"trials\": 3, \"algo\": \"random\", \"seed\": 1}}\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s tune --config %s --confirm 2 --apply-best --persist -q --out %s/run"
		 " --state-dir %s/j >%s/tune.out 2>&1", kpilot, path, state, state, state);
	if (tu_system(cmd))
		return 12;
	snprintf(path, sizeof(path), "%s/run/results.json", state);
	r = json_load_file(path, 0, NULL);
	best = json_string_value(json_object_get(json_object_get(r, "best_config"),
						 "net.ipv4.tcp_fin_timeout"));
	if (!best || read_knob("/proc/sys/net/ipv4/tcp_fin_timeout", v, sizeof(v)) || strcmp(best, v))
		return 13;
	json_decref(r);
	snprintf(cmd, sizeof(cmd), "grep -qx 'net.ipv4.tcp_fin_timeout = %s' "
		 "/etc/sysctl.d/90-kpilot-fin.conf", v);
	if (tu_system(cmd))
		return 14;
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s/j 2>/dev/null", kpilot, state);
	if (tu_system(cmd) || kp_fs_exists("/etc/sysctl.d/90-kpilot-fin.conf") ||
	    read_knob("/proc/sys/net/ipv4/tcp_fin_timeout", v, sizeof(v)) || strcmp(v, "60"))
		return 15;
	return 0;
}

Test(persist, tune_apply_best_persist_keeps_the_confirmed_best, .timeout = 120)
{
	char path[600];
	pid_t pid;
	int st;

	if (geteuid())
		cr_skip_test("needs root for mount and network namespaces (CI runs it as root)");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(tune_child());
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	snprintf(path, sizeof(path), "%s/tune.out", state);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "step %d failed; kpilot tune said: %s",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1, fake_get("", path));
	cr_assert(!kp_fs_exists("/etc/sysctl.d/90-kpilot-fin.conf"), "nothing on the host's /etc");
}

/* The content names in the journal are SHA-256 (FIPS 180-4's test vectors). */
Test(persist, sha256_known_answers)
{
	char hex[KP_SHA256_HEX];

	kp_sha256_hex("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	kp_sha256_hex("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
