// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline policy's "resource" (Documentation/daemon.md, "The pipeline
 * policy"): its config errors name their JSON path; on a real wordcount in
 * the test's own cgroups, "weight" writes cpu.weight (v1: cpu.shares) with
 * the largest weight for the operator DS2 gives most cores and "cpuset"
 * writes whole CPUs, contiguous runs of its list in operator order, wrapping
 * round; the quotas stay untouched; SIGTERM restores every original; an
 * operator with no cpuset (v1: no cgroup in the cpuset hierarchy, v2: the
 * controller not enabled for it) is a start error naming it. v1 where the
 * host has it, else v2 (pp_need_cgroup): there cpuset.cpus is in the cpu
 * cgroup itself, and one left empty (the parent's CPUs) is a start error.
 */
#include <math.h>
#include "daemon/config.h"
#include "safety/knob.h"
#include "pp_util.h"

#define CS_ROOT "/sys/fs/cgroup/cpuset"

/* ---- the config (no root) ------------------------------------------------ */

static void refused(const char *policy, const char *want)
{
	char text[4096], top[1024];

	cr_assert_not_null(getcwd(top, sizeof(top)));
	snprintf(text, sizeof(text), "{\"state_dir\": \"/tmp/kptpp-none\", \"operators\": ["
		 "{\"name\": \"source\", \"cgroup\": \"a/source\"}, {\"name\": \"split\", "
		 "\"cgroup\": \"a/split\"}, {\"name\": \"count\", \"cgroup\": \"a/count\"}, "
		 "{\"name\": \"sink\", \"cgroup\": \"a/sink\"}], \"policies\": [{\"name\": \"wc\", "
		 "\"kind\": \"pipeline\", \"pipeline\": "
		 "\"%s/tools/profiles/wordcount.pipeline.json\", "
		 "\"operators\": [\"source\", \"split\", \"count\", \"sink\"], \"rates\": "
		 "{\"file\": \"/tmp/r.jsonl\"}%s%s}]}", top, policy[0] ? ", " : "", policy);
	dm_parse_expect(text, want);
}

/* The online CPUs: their count and the highest. */
static int online(int *last)
{
	char buf[256] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	unsigned long long bits[KP_CPUS_MAX / 64];
	int n = 0;

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	cr_assert_eq(kp_cpulist_parse(buf, bits, NULL, 0), 0, "online: %s", buf);
	for (int c = 0; c < KP_CPUS_MAX; c++)
		if (bits[c / 64] & (1ULL << (c % 64))) {
			n++;
			*last = c;
		}
	return n;
}

Test(policy_pipeline_res, config_errors_name_the_json_path)
{
	char p[256], w[256];
	int last, n = online(&last);

	refused("", NULL);
	refused("\"resource\": \"quota\"", NULL);
	refused("\"resource\": \"weight\"", NULL);
	refused("\"resource\": \"cpuset\"", NULL);
	refused("\"resource\": \"cpuset\", \"cpus\": \"0\", \"budget_cores\": 1", NULL);
	refused("\"resource\": \"shares\"", "k.json: $.policies[0].resource: \"shares\": expected "
		"\"quota\", \"weight\" or \"cpuset\"");
	refused("\"resource\": 2", "$.policies[0].resource: expected \"quota\", \"weight\" or "
		"\"cpuset\"");
	refused("\"resource\": \"weight\", \"cpus\": \"0\"", "$.policies[0].cpus: only with "
		"\"resource\": \"cpuset\"");
	refused("\"cpus\": \"0\"", "$.policies[0].cpus: only with \"resource\": \"cpuset\"");
	refused("\"resource\": \"cpuset\", \"cpus\": \"0-\"", "$.policies[0].cpus: '0-' is not "
		"a CPU list");
	refused("\"resource\": \"cpuset\", \"cpus\": 1", "$.policies[0].cpus: expected a string");
	snprintf(p, sizeof(p), "\"resource\": \"cpuset\", \"cpus\": \"0,%d\"", last + 1);
	snprintf(w, sizeof(w), "$.policies[0].cpus: '0,%d': CPUs %d are not online", last + 1,
		 last + 1);
	refused(p, w);
	refused("\"resource\": \"cpuset\", \"cpus\": \"0\", \"budget_cores\": 1.5",
		"$.policies[0].budget_cores: 1.5 cores is more than the 1 CPU of \"cpus\" (0)");
	/* the default list: the online CPUs */
	snprintf(p, sizeof(p), "\"resource\": \"cpuset\", \"budget_cores\": %d.5", n);
	snprintf(w, sizeof(w), "$.policies[0].budget_cores: %d.5 cores is more than the %d CPU%s "
		 "of the online CPUs", n, n, n == 1 ? "" : "s");
	refused(p, w);
}

/* ---- a real pipeline and a real daemon (root, v1 or v2) ------------------ */

static const long long shares0[4] = { 500, 1000, 1500, 2000 };	/* the v1 originals */
static const long long weight0[4] = { 50, 100, 150, 200 };	/* the v2 originals */
static char cs_cg[128];		/* kptpp.<pid> under cs_root(), while it exists */
static char cs_orig[256];	/* the CPUs each operator's cpuset has first */

/* v1: cpuset is its own hierarchy; v2: the cpu cgroup is the cpuset cgroup. */
static const char *cs_root(void)
{
	return pp_cgv == 2 ? pp_root : CS_ROOT;
}

/* The weight knob as the kernel has it: v1 cpu.shares, v2 cpu.weight. */
static const char *w_file(void)
{
	return pp_cgv == 2 ? "cpu.weight" : "cpu.shares";
}

static const long long *w_orig(void)
{
	return pp_cgv == 2 ? weight0 : shares0;
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	buf[0] = '\0';
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static long long cg_ll(int op, const char *file)
{
	char p[256], buf[64];

	pp_cg_file(op, file, p, sizeof(p));
	read_line(p, buf, sizeof(buf));
	return atoll(buf);
}

static void cs_file(int op, const char *file, char *out, size_t len)
{
	if (op < 0)
		snprintf(out, len, "%s/%s/%s", cs_root(), cs_cg, file);
	else
		snprintf(out, len, "%s/%s/%s/%s", cs_root(), cs_cg, pp_ops[op], file);
}

static void cs_cpus(int op, char *buf, size_t len)
{
	char p[256];

	cs_file(op, "cpuset.cpus", p, sizeof(p));
	read_line(p, buf, len);
}

/* Remove the test's v1 cpuset cgroups (the operators have gone with wordcount). */
static void cs_remove(void)
{
	char p[256];

	if (!cs_cg[0] || pp_cgv == 2) {
		cs_cg[0] = '\0';	/* v2: pp_stop_wc's */
		return;
	}
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", CS_ROOT, cs_cg, pp_ops[i]);
		for (int k = 0; k < 100 && rmdir(p) && errno == EBUSY; k++)
			usleep(50000);
	}
	snprintf(p, sizeof(p), "%s/%s", CS_ROOT, cs_cg);
	rmdir(p);
	cs_cg[0] = '\0';
}

/*
 * v1: the same kptpp.<pid>/OP cgroups in the cpuset hierarchy, with the
 * root's CPUs and memory nodes (a v1 cpuset without them takes no task),
 * and each operator moved in. v2: pp_make_cgroups enabled cpuset (pp_cpuset);
 * each cpuset.cpus is set to kptpp.<pid>'s effective CPUs, since an empty one
 * (the parent's) is a start error: no restore could empty it again.
 */
static void cs_make(void)
{
	char p[256], cpus[256], mems[256], v[32];

	if (pp_cgv == 2) {
		snprintf(cs_cg, sizeof(cs_cg), "%s", wc.cg);
		cs_file(-1, "cpuset.cpus.effective", p, sizeof(p));
		read_line(p, cs_orig, sizeof(cs_orig));
		for (int op = 0; op < 4; op++) {
			cs_file(op, "cpuset.cpus", p, sizeof(p));
			pp_write(p, cs_orig);
		}
		return;
	}
	read_line(CS_ROOT "/cpuset.cpus", cpus, sizeof(cpus));
	read_line(CS_ROOT "/cpuset.mems", mems, sizeof(mems));
	snprintf(cs_cg, sizeof(cs_cg), "%s", wc.cg);
	snprintf(cs_orig, sizeof(cs_orig), "%s", cpus);
	for (int op = -1; op < 4; op++) {
		if (op < 0)
			snprintf(p, sizeof(p), "%s/%s", CS_ROOT, cs_cg);
		else
			snprintf(p, sizeof(p), "%s/%s/%s", CS_ROOT, cs_cg, pp_ops[op]);
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
		cs_file(op, "cpuset.cpus", p, sizeof(p));
		pp_write(p, cpus);
		cs_file(op, "cpuset.mems", p, sizeof(p));
		pp_write(p, mems);
	}
	for (int op = 0; op < 4; op++) {
		snprintf(v, sizeof(v), "%d", (int)wc.op[op]);
		cs_file(op, "cgroup.procs", p, sizeof(p));
		pp_write(p, v);
	}
}

static void res_init(void)
{
	pp_need_cgroup();
	if (pp_cgv == 2 && !pp_v2_has("cpuset"))
		cr_skip_test("no cpuset controller in " PP_V2_ROOT "/cgroup.controllers");
	if (pp_cgv == 1 && access(CS_ROOT "/cpuset.cpus", F_OK))
		cr_skip_test("no cgroup v1 cpuset hierarchy at " CS_ROOT);
}

static void res_fini(void)
{
	dm_stop(&dm, SIGKILL);
	pp_stop_wc();
	cs_remove();
	dm_cleanup(&dm);
}

TestSuite(policy_pipeline_res_run, .init = res_init, .fini = res_fini, .timeout = 300);

/* Until the policy has reconfigured at least n times (up to s seconds, pp_secs). */
static void wait_reconf(long long n, int s)
{
	for (int i = 0; i < pp_secs(s) * 4 && pp_reconf() < n; i++)
		usleep(250000);
	cr_assert_geq(pp_reconf(), n, "the policy reconfigured %lld times in %d s, not %lld "
		      "(log %s)", pp_reconf(), pp_secs(s), n, dm.log);
}

/* Whether one line of the daemon's log holds both a and b. */
static bool log_line_has(const char *a, const char *b)
{
	FILE *f = fopen(dm.log, "r");
	char line[2048];
	bool hit = false;

	if (!f)
		return false;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, a) && strstr(line, b);
	fclose(f);
	return hit;
}

static const char *op_str(json_t *op, const char *k)
{
	const char *s = json_string_value(json_object_get(op, k));

	cr_assert_not_null(s, "no %s in an operator of the status", k);
	return s;
}

/* Every operator's knob: of attr, written by the policy (a changed line in the log). */
static void assert_knobs(json_t *st, const char *resource, const char *attr)
{
	json_t *ops = json_object_get(st, "operators");

	cr_assert_str_eq(json_string_value(json_object_get(st, "resource")), resource);
	for (int i = 0; i < 4; i++) {
		char want[256];
		const char *knob = op_str(json_array_get(ops, i), "knob");

		snprintf(want, sizeof(want), "cgroup:%s/%s:%s", wc.cg, pp_ops[i], attr);
		cr_assert_str_eq(knob, want);
		cr_assert(log_line_has(knob, " -> "), "no change of %s in %s", knob, dm.log);
	}
}

/*
 * A SIGKILLed daemon leaves its values; the restart (a long first interval:
 * no step before the check) puts back the originals from the journal.
 */
static void kill_and_replay(const char *extra, void (*originals)(void))
{
	long off;

	cr_assert_eq(dm_stop(&dm, SIGKILL), 128 + SIGKILL);
	off = pp_log_size();
	pp_interval_ms = 3000;
	pp_config("ds2", extra);
	dm_start(&dm);
	pp_interval_ms = 1000;
	originals();
	cr_assert(pp_log_has("did not finish: undoing its", off), "no journal replay "
		  "in %s", dm.log);
}

static void shares_originals(void)
{
	for (int i = 0; i < 4; i++)
		cr_assert_eq(cg_ll(i, w_file()), w_orig()[i], "%s: %s %lld, the original was "
			     "%lld", pp_ops[i], w_file(), cg_ll(i, w_file()), w_orig()[i]);
}

/* The weight in force: v2's cpu.weight, v1's cpu.shares as the v1 actuator reads it. */
static long long weight_now(int op)
{
	long long w = cg_ll(op, w_file());

	if (pp_cgv == 2)
		return w;
	w = (w * 100 + 512) / 1024;
	return w < 1 ? 1 : w > 10000 ? 10000 : w;
}

/*
 * Status and the knob agree, and each weight is round(100 n q / budget)
 * of the operator's split: 1 when so, with the split in q.
 */
static int weights_settled(double *q, double *need)
{
	json_t *st = pp_state(), *ops = json_object_get(st, "operators");
	long long r = (long long)pp_num(st, "reconfigurations");
	int ok = 1;

	for (int i = 0; i < 4; i++) {
		json_t *op = json_array_get(ops, i);
		long long w = weight_now(i);

		q[i] = pp_num(op, "quota");
		need[i] = pp_num(op, "need");
		cr_assert_gt(q[i], 0, "%s: quota %g", pp_ops[i], q[i]);
		if (atoll(op_str(op, "value")) != w ||
		    llabs(w - llround(400 * q[i])) > 1)
			ok = 0;
	}
	json_decref(st);
	return ok && pp_reconf() == r;
}

Test(policy_pipeline_res_run, weight_gives_the_bottleneck_the_largest_share_and_restores)
{
	double q[4], need[4];
	char p[256], v[32];
	json_t *st;
	int top = 0, low = 0, ok = 0;

	dm_init(&dm, "{}");
	/*
	 * Emulated, 800/s is 160/s (pp_rate): needs of 0.08-0.11 core, which
	 * DS2 split evenly, 0.15 each (the 6.12 guest, 2026-12-02); 300/s there
	 * sets them apart.
	 */
	pp_start_wc(kp_test_emulated() ? 1500 : 800, false);
	/* no quota: under weights the operators are not capped */
	for (int i = 0; i < 4; i++) {
		pp_cg_file(i, pp_cgv == 2 ? "cpu.max" : "cpu.cfs_quota_us", p, sizeof(p));
		pp_write(p, pp_cgv == 2 ? "max 100000" : "-1");
		pp_cg_file(i, w_file(), p, sizeof(p));
		snprintf(v, sizeof(v), "%lld", w_orig()[i]);
		pp_write(p, v);
	}
	pp_config("ds2", "\"resource\": \"weight\", \"utilisation\": 0.8");
	dm_start(&dm);
	wait_reconf(1, 15);
	/* the built-in step (+100 or doubling a write) may take a few intervals */
	for (int i = 0; i < pp_secs(20) * 2 && !ok; i++, usleep(500000))
		ok = weights_settled(q, need);
	cr_assert(ok, "%s never matched 100 n q / budget of the status (log %s)", w_file(),
		  dm.log);
	st = pp_state();
	assert_knobs(st, "weight", "cpu.weight");
	json_decref(st);
	/*
	 * The bottleneck by DS2's own need (cores at utilisation 1), not by the
	 * knobs: no weight above its; the least needy's below it. Others may
	 * tie (a split in 0.05 cores: 0.15 and 0.15 at the emulated rates).
	 */
	for (int i = 1; i < 4; i++) {
		top = need[i] > need[top] ? i : top;
		low = need[i] < need[low] ? i : low;
	}
	cr_log_info("splits %.2f %.2f %.2f %.2f, needs %.3f %.3f %.3f %.3f, bottleneck %s",
		    q[0], q[1], q[2], q[3], need[0], need[1], need[2], need[3], pp_ops[top]);
	cr_assert_gt(need[top], 0, "no need estimated (log %s)", dm.log);
	for (int i = 0; i < 4; i++) {
		cr_assert(cg_ll(i, w_file()) < cg_ll(top, w_file()) + (i != low),
			  "%s has %s %lld, the bottleneck %s %lld", pp_ops[i], w_file(),
			  cg_ll(i, w_file()), pp_ops[top], cg_ll(top, w_file()));
		cr_assert_eq(pp_quota(i), -1, "%s: the quota was written", pp_ops[i]);
	}
	kill_and_replay("\"resource\": \"weight\", \"utilisation\": 0.8", shares_originals);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0, "kpilot run did not exit 0 on SIGTERM");
	shares_originals();
	cr_assert(pp_log_has("every knob the policies changed is restored", 0));
	pp_stop_wc();
}

/* What the policy must write for split q: whole CPUs, runs of list, wrapping round. */
static void expected_cpus(const char *list, const double *q, char (*out)[256])
{
	unsigned long long bits[KP_CPUS_MAX / 64];
	int cpu[KP_CPUS_MAX], m = 0, pos = 0;

	cr_assert_eq(kp_cpulist_parse(list, bits, NULL, 0), 0);
	for (int c = 0; c < KP_CPUS_MAX; c++)
		if (bits[c / 64] & (1ULL << (c % 64)))
			cpu[m++] = c;
	for (int i = 0; i < 4; i++) {
		unsigned long long b[KP_CPUS_MAX / 64] = { 0 };
		int n = q[i] <= 1 ? 1 : (int)ceil(q[i] - 1e-6);

		n = n > m ? m : n;

		for (int k = 0; k < n; k++, pos++)
			b[cpu[pos % m] / 64] |= 1ULL << (cpu[pos % m] % 64);
		kp_cpulist_format(b, out[i], sizeof(out[i]));
	}
}

/* Each operator's cpuset is the policy's for the split status shows (up to 20 s, pp_secs). */
static void assert_cpusets(const char *list)
{
	char want[4][256], got[256], why[512] = "";

	for (int t = 0; t < pp_secs(20) * 2; t++, usleep(500000)) {
		json_t *st = pp_state(), *ops = json_object_get(st, "operators");
		long long r = (long long)pp_num(st, "reconfigurations");
		double q[4];
		bool ok = true;

		for (int i = 0; i < 4; i++)
			q[i] = pp_num(json_array_get(ops, i), "quota");
		expected_cpus(list, q, want);
		for (int i = 0; ok && i < 4; i++) {
			cs_cpus(i, got, sizeof(got));
			cr_assert(kp_cpulist_subset(got, list), "%s: cpuset.cpus '%s' outside %s",
				  pp_ops[i], got, list);
			ok = !strcmp(got, want[i]) &&
			     !strcmp(op_str(json_array_get(ops, i), "value"), got);
			if (!ok)
				snprintf(why, sizeof(why), "%s: cpuset.cpus '%s', status "
					 "'%s', want '%s' for %.2f cores", pp_ops[i], got,
					 op_str(json_array_get(ops, i), "value"), want[i], q[i]);
		}
		if (ok && pp_reconf() == r) {
			assert_knobs(st, "cpuset", "cpuset.cpus");
			json_decref(st);
			return;
		}
		json_decref(st);
	}
	cr_assert_fail("%s (log %s)", why, dm.log);
}

/* The daemon's log lines naming cpuset (a guest's log is gone with it). */
static void log_cpuset(void)
{
	FILE *f = fopen(dm.log, "r");
	char line[2048];

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "cpuset") || strstr(line, "restor"))
			cr_log_info("log: %s", line);
	if (f)
		fclose(f);
}

static void assert_cs_originals(void)
{
	char got[256];

	for (int i = 0; i < 4; i++) {
		cs_cpus(i, got, sizeof(got));
		if (strcmp(got, cs_orig))
			log_cpuset();
		cr_assert_str_eq(got, cs_orig, "%s: cpuset.cpus '%s', the original was '%s'",
				 pp_ops[i], got, cs_orig);
		cr_assert_eq(pp_quota(i), PP_ORIG, "%s: the quota was written", pp_ops[i]);
	}
}

Test(policy_pipeline_res_run, cpuset_hands_out_whole_cpus_and_restores)
{
	char on[256], extra[256], p[256];
	int last;

	online(&last);
	read_line("/sys/devices/system/cpu/online", on, sizeof(on));
	dm_init(&dm, "{}");
	pp_cpuset = true;
	pp_start_wc(800, false);
	cs_make();
	/* the default list, the online CPUs: four operators of 1 core or less share them */
	pp_config("ds2", "\"resource\": \"cpuset\", \"utilisation\": 0.8");
	dm_start(&dm);
	wait_reconf(1, 15);
	assert_cpusets(on);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0, "kpilot run did not exit 0 on SIGTERM");
	assert_cs_originals();
	cr_assert(pp_log_has("every knob the policies changed is restored", 0));
	/* a list of one CPU: every operator on it */
	snprintf(extra, sizeof(extra), "\"resource\": \"cpuset\", \"cpus\": \"%d\"", last);
	pp_config("ds2", extra);
	dm_start(&dm);
	wait_reconf(1, 15);
	snprintf(on, sizeof(on), "%d", last);
	assert_cpusets(on);
	kill_and_replay(extra, assert_cs_originals);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0);
	assert_cs_originals();
	snprintf(p, sizeof(p), "%s/%s", cs_root(), cs_cg);
	pp_stop_wc();
	cs_remove();
	cr_assert_eq(access(p, F_OK), -1, "%s is still there", p);
}

/* kpilot run with the config as it is exits non-zero within 30 s (pp_secs). */
static void start_fails(void)
{
	int st = 0, i;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		int fd = open(dm.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(KPILOT, KPILOT, "run", "--config", dm.cfg, "--socket", dm.sock, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < pp_secs(30) * 10 && waitpid(pid, &st, WNOHANG) != pid; i++)
		usleep(100000);
	if (i == pp_secs(30) * 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert_fail("kpilot run still runs with no cpuset to write (log %s)", dm.log);
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "kpilot run: status %d", st);
}

/*
 * Start-up: v1, the operators' cgroups only in the cpu hierarchy; v2,
 * cpuset not enabled in kptpp.<pid>'s subtree_control (pp_cpuset unset),
 * then enabled but each cpuset.cpus empty, which no restore could write
 * back (the kernel refuses to empty a cpuset with tasks: ENOSPC).
 */
Test(policy_pipeline_res_run, cpuset_without_a_cpuset_cgroup_is_a_start_error)
{
	char want[512], p[256];
	int i;

	dm_init(&dm, "{}");
	pp_start_wc(500, false);
	pp_config("ds2", "\"resource\": \"cpuset\"");
	start_fails();
	if (pp_cgv == 2)
		snprintf(want, sizeof(want), "operator source: no " PP_V2_ROOT "/%s/source/"
			 "cpuset.cpus: enable the cpuset controller in the parent's "
			 "cgroup.subtree_control", wc.cg);
	else
		snprintf(want, sizeof(want), "operator source: no cgroup " CS_ROOT "/%s/source: "
			 "on cgroup v1 cpuset is its own hierarchy", wc.cg);
	cr_assert(pp_log_has(want, 0), "no '%s' in %s", want, dm.log);
	if (pp_cgv == 2) {
		pp_write(PP_V2_ROOT "/cgroup.subtree_control", "+cpuset");
		snprintf(p, sizeof(p), "%s/%s/cgroup.subtree_control", pp_root, wc.cg);
		pp_write(p, "+cpuset");
		start_fails();
		snprintf(want, sizeof(want), "operator source: " PP_V2_ROOT "/%s/source/"
			 "cpuset.cpus is empty (the parent's CPUs): the kernel refuses", wc.cg);
		cr_assert(pp_log_has(want, 0), "no '%s' in %s", want, dm.log);
	}
	for (i = 0; i < 4; i++)
		cr_assert_eq(pp_quota(i), PP_ORIG, "%s: the quota was written", pp_ops[i]);
	pp_stop_wc();
}
