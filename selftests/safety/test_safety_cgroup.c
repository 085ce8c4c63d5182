// SPDX-License-Identifier: GPL-2.0
/*
 * Cgroups through the safety session against a fake root: the cgroup v1/v2
 * file mapping, the weight <-> shares conversion, and the cgroups a run makes
 * for itself (journaled, so a SIGKILLed run leaves nothing a rollback or the
 * next session cannot remove).
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../lib/safety_fixture.h"

Test(safety_cgroup, cgroup_v1_mapping, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change ch[3] = {
		{ "cgroup:kp/op1:cpu.max", "25000 50000" }, { "cgroup:kp/op1:cpu.weight", "150" },
		{ "cgroup:kp/op1:cpuset.cpus", "1,0" },
	};
	struct kp_session *s;
	char why[512], v[KP_VALUE_MAX];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, ch, 3, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "25000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_period_us"), "50000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.shares"), "1536");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpuset/kp/op1/cpuset.cpus"), "0-1");
	cr_assert_eq(kp_session_read(s, "cgroup:kp/op1:cpu.max", v, sizeof(v)), 0);
	cr_expect_str_eq(v, "25000 50000");
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "-1");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_period_us"), "100000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.shares"), "1000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpuset/kp/op1/cpuset.cpus"), "0-3");
}

Test(safety_cgroup, cgroup_v2_mapping, .init = setup2, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change ch[3] = {
		{ "cgroup:kp/op1:cpu.max", "25000" }, { "cgroup:kp/op1:cpu.weight", "200" },
		{ "cgroup:kp/op1:cpuset.cpus", "2-3" },
	};
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_cg_detect(root), 2);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, ch, 3, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(ch[0].applied, "25000 100000", "period kept");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpu.max"), "25000 100000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpu.weight"), "200");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpuset.cpus"), "2-3");
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpu.max"), "max 100000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpu.weight"), "100");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpuset.cpus"), "\n");
}

Test(safety_cgroup, weight_shares_conversion_is_the_kernels)
{
	cr_expect_eq(kp_cg_weight_to_shares(100), 1024);
	cr_expect_eq(kp_cg_weight_to_shares(1), 10);
	cr_expect_eq(kp_cg_weight_to_shares(10000), 102400);
	cr_expect_eq(kp_cg_shares_to_weight(1024), 100);
	cr_expect_eq(kp_cg_shares_to_weight(2), 1);
	cr_expect_eq(kp_cg_shares_to_weight(262144), 10000);
	for (long long w = 1; w <= 10000; w++)
		cr_assert_eq(kp_cg_shares_to_weight(kp_cg_weight_to_shares(w)), w, "w=%lld", w);
}

static bool is_dir(const char *rel)
{
	char p[4200];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* In a child: a run's cgroups through the session, then SIGKILL before closing. */
static void crash_after_cgroups(const char *ctrl)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .cmd = "tune" };
	struct kp_session *s;
	char why[512];
	char cpus[256];
	pid_t pid;
	int st;

	/* the kernel gives a new cgroup its files: the fake has to be told */
	snprintf(cpus, sizeof(cpus), "/sys/fs/cgroup%s/run/op1/cpuset.cpus",
		 strcmp(ctrl, "cpuset") ? "" : "/cpuset");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (kp_session_open(&o, &s, why, sizeof(why)) ||
		    kp_session_cg_mkdir(s, "run", ctrl, "test", why, sizeof(why)) ||
		    kp_session_cg_mkdir(s, "run/op1", ctrl, "test", why, sizeof(why)) ||
		    (fake_put(root, cpus, "\n"), 0) ||
		    /* inside a directory the session made: goes with it, not journaled */
		    kp_session_cg_write(s, "run/op1", "cpuset.cpus", "0-1", "test", why,
					sizeof(why)) ||
		    /* in one it did not make: journaled with its old value */
		    kp_session_cg_write(s, "kp/op1", "cpuset.cpus", "2", "test", why, sizeof(why))) {
			fprintf(stderr, "child: %s\n", why);
			_exit(1);
		}
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the child failed: %d", st);
}

Test(safety_cgroup, rollback_removes_the_cgroups_a_killed_run_made, .init = setup2,
     .fini = teardown)
{
	struct kp_rollback_item *it;
	char why[512];
	int n, i, dirs = 0;

	crash_after_cgroups("cpu");
	cr_assert(is_dir("/sys/fs/cgroup/run/op1"));
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/run/op1/cpuset.cpus"), "0-1");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpuset.cpus"), "2");
	cr_assert_eq(kp_safety_rollback_list_at(state, root, &it, &n, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(n, 3, "two directories and one value");
	for (i = 0; i < n; i++) {
		cr_expect_str_eq(it[i].action, "restore", "%s", it[i].knob);
		dirs += strstr(it[i].knob, ":cgroup.dir") != NULL;
	}
	cr_expect_eq(dirs, 2);
	cr_expect_str_eq(it[n - 1].knob, "cgroup:run:cgroup.dir", "the parent goes last");
	free(it);
	/* a real cgroup's files go with it; the fake's would keep rmdir from working */
	unlink(strcat(strcpy(why, root), "/sys/fs/cgroup/run/op1/cpuset.cpus"));
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	cr_expect(!is_dir("/sys/fs/cgroup/run/op1") && !is_dir("/sys/fs/cgroup/run"),
		  "the run's cgroups are left behind");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/kp/op1/cpuset.cpus"), "\n");
	cr_assert_eq(kp_safety_rollback_list_at(state, root, &it, &n, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(n, 0, "the journal was archived");
	free(it);
}

Test(safety_cgroup, the_next_session_removes_the_v1_cgroups_a_killed_run_made,
     .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .cmd = "set" };
	struct kp_session *s;
	char why[512];

	crash_after_cgroups("cpuset");
	cr_assert(is_dir("/sys/fs/cgroup/cpuset/run/op1"));
	unlink(strcat(strcpy(why, root), "/sys/fs/cgroup/cpuset/run/op1/cpuset.cpus"));
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_expect(!is_dir("/sys/fs/cgroup/cpuset/run"), "crash recovery left the cgroups");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpuset/kp/op1/cpuset.cpus"), "0-3");
	kp_session_close(s);
}
