// SPDX-License-Identifier: GPL-2.0
/*
 * The real thing, never the host's knobs: per-netns sysctls inside a private
 * network namespace (entered with setns by path, as `--netns` does), a real
 * cgroup v1 CPU quota on a cgroup of our own, observed by throttling, and the
 * cgroup v2 path where a cgroup2 mount with the cpu controller can be made.
 */
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include "../lib/emulation.h"
#include "../lib/safety_fake.h"
#include "../lib/testutil.h"

static const char *const net_knobs[] = {
	"net.core.somaxconn", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_rmem",
};

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("needs root (CI runs this as root)");
}

/* A process sitting in a fresh network namespace, answering reads on request. */
struct holder {
	pid_t pid;
	int req, resp;
	char ns[64];
};

static void holder_start(struct holder *h)
{
	int a[2], b[2];
	char c;

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	h->pid = fork();
	cr_assert_geq(h->pid, 0);
	if (!h->pid) {
		close(a[1]);
		close(b[0]);
		if (unshare(CLONE_NEWNET))
			_exit(1);
		if (write(b[1], "u", 1) != 1)
			_exit(1);
		/* each request byte: send back the three knobs as this netns sees them */
		while (read(a[0], &c, 1) == 1) {
			char out[1024] = "", buf[256], path[256];
			unsigned i;

			for (i = 0; i < 3; i++) {
				kp_sysctl_path("/", net_knobs[i], path, sizeof(path));
				if (kp_fs_read(path, buf, sizeof(buf)) < 0)
					strcpy(buf, "?");
				kp_text_canon(buf);
				strcat(out, buf);
				strcat(out, "|");
			}
			if (write(b[1], out, strlen(out) + 1) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	h->req = a[1];
	h->resp = b[0];
	cr_assert_eq(read(h->resp, &c, 1), 1, "child could not unshare(CLONE_NEWNET)");
	snprintf(h->ns, sizeof(h->ns), "/proc/%d/ns/net", h->pid);
}

static void holder_read(struct holder *h, char *out, size_t len)
{
	ssize_t n;

	cr_assert_eq(write(h->req, "r", 1), 1);
	n = read(h->resp, out, len - 1);
	cr_assert_gt(n, 0);
	out[n] = '\0';
}

static void holder_stop(struct holder *h)
{
	close(h->req);
	close(h->resp);
	waitpid(h->pid, NULL, 0);
}

static void host_read(char *out, size_t len)
{
	struct kp_target t = { .root = "/", .netns_fd = -1 };
	char buf[256];
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < 3; i++) {
		cr_assert_eq(kp_sysctl_read(&t, net_knobs[i], buf, sizeof(buf)), 0);
		strncat(out, buf, len - strlen(out) - 2);
		strcat(out, "|");
	}
}

/* Values one allowed step away from what a fresh netns has. */
static void next_values(const char *seen, char vals[3][128])
{
	long a, b, c, d, e, f;

	cr_assert_eq(sscanf(seen, "%ld|%ld %ld|%ld %ld %ld|", &a, &b, &c, &d, &e, &f), 6, "%s", seen);
	snprintf(vals[0], 128, "%ld", a > 1024 ? a / 2 : a * 2);
	snprintf(vals[1], 128, "%ld %ld", b + 1000, c - 1000);
	snprintf(vals[2], 128, "%ld %ld %ld", d, e + e / 2, f + f / 2);
}

Test(safety_real, per_netns_sysctls_in_a_private_namespace, .init = need_root)
{
	char host0[1024], host1[1024], ns0[1024], ns1[1024], want[1024], why[512];
	char state[256], vals[3][128];
	struct kp_change ch[3];
	struct kp_session *s;
	struct holder h;
	int i;

	host_read(host0, sizeof(host0));
	holder_start(&h);
	holder_read(&h, ns0, sizeof(ns0));
	next_values(ns0, vals);
	fake_state_dir(state, sizeof(state));
	{
		struct kp_session_opts o = { .state_dir = state, .netns = h.ns, .cmd = "test" };

		cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	}
	for (i = 0; i < 3; i++) {
		ch[i].knob = net_knobs[i];
		ch[i].value = vals[i];
	}
	cr_assert_eq(kp_session_apply(s, ch, 3, "netns test", why, sizeof(why)), 0, "%s", why);
	snprintf(want, sizeof(want), "%s|%s|%s|", vals[0], vals[1], vals[2]);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_eq(ns1, want, "the namespace sees the new values");
	host_read(host1, sizeof(host1));
	cr_expect_str_eq(host1, host0, "the host must not change");
	kp_session_close(s);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_eq(ns1, ns0, "restored exactly");
	holder_stop(&h);
	host_read(host1, sizeof(host1));
	cr_expect_str_eq(host1, host0);
	fake_rm(state);
}

static void kpilot_bin(char *buf, size_t len)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	cr_assert_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(buf, len, "%s/../../kpilot", self);
}

Test(safety_real, kpilot_set_sigkill_then_rollback_in_a_namespace, .init = need_root)
{
	char host0[1024], host1[1024], ns0[1024], ns1[1024], state[256], vals[3][128];
	char bin[4300], cmd[8192];
	struct holder h;
	int st;
	pid_t pid;

	kpilot_bin(bin, sizeof(bin));
	host_read(host0, sizeof(host0));
	holder_start(&h);
	holder_read(&h, ns0, sizeof(ns0));
	next_values(ns0, vals);
	fake_state_dir(state, sizeof(state));

	/* 1: the real command, then the real rollback */
	snprintf(cmd, sizeof(cmd), "%s set -q --netns %s --state-dir %s %s='%s' %s='%s' %s='%s' "
		 ">/dev/null 2>&1", bin, h.ns, state, net_knobs[0], vals[0], net_knobs[1], vals[1],
		 net_knobs[2], vals[2]);
	/* -q is not an option: usage error, nothing written */
	cr_expect_eq(WEXITSTATUS(system(cmd)), 2);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_eq(ns1, ns0);
	memmove(strstr(cmd, " -q"), strstr(cmd, " -q") + 3, strlen(strstr(cmd, " -q") + 3) + 1);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 0, "%s", cmd);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_neq(ns1, ns0, "kpilot set changed nothing");
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s 2>/dev/null", bin, state);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 0);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_eq(ns1, ns0, "kpilot rollback restores exactly");

	/* 2: a session killed after its writes; `kpilot rollback` undoes it */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		struct kp_session_opts o = { .state_dir = state, .netns = h.ns, .cmd = "tune" };
		struct kp_change ch[3] = { { net_knobs[0], vals[0] }, { net_knobs[1], vals[1] },
					   { net_knobs[2], vals[2] } };
		struct kp_session *s;
		char why[512];

		if (kp_session_open(&o, &s, why, sizeof(why)) ||
		    kp_session_apply(s, ch, 3, "about to die", why, sizeof(why)))
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st), "the child failed before dying");
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_neq(ns1, ns0);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 0);
	holder_read(&h, ns1, sizeof(ns1));
	cr_expect_str_eq(ns1, ns0, "restored after SIGKILL");
	holder_stop(&h);
	host_read(host1, sizeof(host1));
	cr_expect_str_eq(host1, host0, "the host must not change");
	fake_rm(state);
}

/* Spin for 'wall' seconds inside cgroup 'procs'; return the CPU seconds used. */
static double burn_in_cgroup(const char *procs, double wall)
{
	struct rusage ru;
	int p[2], st;
	pid_t pid;
	char c;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		struct timespec t0, t;
		char buf[32];
		volatile unsigned long x = 0;

		snprintf(buf, sizeof(buf), "%d", getpid());
		if (kp_fs_write(procs, buf))
			_exit(1);
		if (write(p[1], "j", 1) != 1)
			_exit(1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int i = 0; i < 100000; i++)
				x += i;
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < wall);
		(void)x;	/* clang: a volatile only written is "set but not used" */
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1, "child could not join the cgroup");
	close(p[0]);
	cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st));
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long long stat_field(const char *file, const char *key)
{
	char buf[1024], *p;

	if (kp_fs_read(file, buf, sizeof(buf)) < 0)
		return -1000;
	if (!*key)
		return atoll(buf);
	p = strstr(buf, key);
	return p ? atoll(p + strlen(key) + 1) : -1000;
}

Test(safety_real, cgroup_v1_cpu_quota_throttles, .init = need_root, .timeout = 30)
{
	char dir[256], cs[256], f[512], why[512], state[256], kn[3][KP_NAME_MAX];
	struct kp_session *s;
	struct kp_change ch[3];
	double cpu;
	long long thr;

	if (kp_cg_detect("/") != 1)
		cr_skip_test("the cpu controller is not on cgroup v1 here (see the v2 test)");
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/kpilot-test-%d", getpid());
	snprintf(cs, sizeof(cs), "/sys/fs/cgroup/cpuset/kpilot-test-%d", getpid());
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(mkdir(cs, 0755), 0, "mkdir %s: %s", cs, strerror(errno));
	fake_state_dir(state, sizeof(state));
	{
		struct kp_session_opts o = { .state_dir = state, .cmd = "test" };

		cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	}
	snprintf(kn[0], sizeof(kn[0]), "cgroup:kpilot-test-%d:cpu.max", getpid());
	ch[0].knob = kn[0];
	ch[0].value = "20000 100000";		/* 0.2 CPU */
	snprintf(kn[1], sizeof(kn[1]), "cgroup:kpilot-test-%d:cpu.weight", getpid());
	ch[1].knob = kn[1];
	ch[1].value = "150";
	snprintf(kn[2], sizeof(kn[2]), "cgroup:kpilot-test-%d:cpuset.cpus", getpid());
	ch[2].knob = kn[2];
	ch[2].value = "0";
	cr_assert_eq(kp_session_apply(s, ch, 3, "throttle test", why, sizeof(why)), 0, "%s", why);
	snprintf(f, sizeof(f), "%s/cpu.cfs_quota_us", dir);
	cr_expect_eq(stat_field(f, ""), 20000);
	snprintf(f, sizeof(f), "%s/cpu.shares", dir);
	cr_expect_eq(stat_field(f, ""), 1536);
	snprintf(f, sizeof(f), "%s/cpuset.cpus", cs);
	cr_expect_eq(stat_field(f, ""), 0);

	snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
	cpu = burn_in_cgroup(f, 1.0);
	snprintf(f, sizeof(f), "%s/cpu.stat", dir);
	thr = stat_field(f, "nr_throttled");
	cr_log_info("0.2-CPU quota: child used %.3f CPU s in 1.0 s wall, nr_throttled %lld", cpu, thr);
	cr_expect_gt(thr, 0, "never throttled");
	cr_expect_lt(cpu, 0.30, "used %.3f CPU s under a 0.2 CPU quota", cpu);
	cr_expect_gt(cpu, 0.10, "used %.3f CPU s: too little to tell", cpu);

	kp_session_close(s);
	snprintf(f, sizeof(f), "%s/cpu.cfs_quota_us", dir);
	cr_expect_eq(stat_field(f, ""), -1, "quota restored");
	snprintf(f, sizeof(f), "%s/cpu.shares", dir);
	cr_expect_eq(stat_field(f, ""), 1024, "shares restored");
	snprintf(f, sizeof(f), "%s/cpuset.cpus", cs);
	cr_expect_eq(kp_fs_read(f, why, sizeof(why)), 1, "cpuset restored to empty: '%s'", why);
	cr_expect_eq(rmdir(dir), 0, "rmdir %s: %s", dir, strerror(errno));
	cr_expect_eq(rmdir(cs), 0, "rmdir %s: %s", cs, strerror(errno));
	fake_rm(state);
}

Test(safety_real, cgroup_v2_cpu_quota_throttles, .init = need_root, .timeout = 30)
{
	char root[256], ctl[512], dir[512], f[600], why[512], state[256], name[KP_NAME_MAX];
	char buf[512];
	struct kp_session *s;
	struct kp_change ch;
	bool mounted = false, enabled = false;
	double cpu;
	long long thr;

	if (kp_cg_detect("/") == 2) {
		snprintf(root, sizeof(root), "/");
	} else {
		/* a second mount of the (usually empty) v2 hierarchy under a fake root */
		snprintf(root, sizeof(root), "/tmp/kpilot-cg2-XXXXXX");
		cr_assert_not_null(mkdtemp(root));
		snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup", root);
		fake_put(root, "/sys/fs/.keep", "");
		mkdir(dir, 0755);
		if (mount("none", dir, "cgroup2", 0, NULL)) {
			fake_rm(root);
			cr_skip_test("cannot mount cgroup2: %s", strerror(errno));
		}
		mounted = true;
	}
	snprintf(ctl, sizeof(ctl), "%s/sys/fs/cgroup/cgroup.controllers", strcmp(root, "/") ? root : "");
	if (kp_fs_read(ctl, buf, sizeof(buf)) < 0 || !strstr(buf, "cpu")) {
		if (mounted) {
			snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup", root);
			umount(dir);
			fake_rm(root);
		}
		cr_skip_test("the cpu controller is bound to cgroup v1 on this host; cgroup2 offers "
			     "only '%s'. Run on a cgroup v2 machine (Fedora) to test this path",
			     strtok(buf, "\n") ? buf : "");
	}
	/* enable cpu for children of the root, then a cgroup of our own */
	snprintf(f, sizeof(f), "%s/sys/fs/cgroup/cgroup.subtree_control", strcmp(root, "/") ? root : "");
	if (kp_fs_read(f, buf, sizeof(buf)) >= 0 && !strstr(buf, "cpu")) {
		cr_assert_eq(kp_fs_write(f, "+cpu"), 0);
		enabled = true;		/* ours to undo: the host must end as it began */
	}
	snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/kpilot-test-%d", strcmp(root, "/") ? root : "",
		 getpid());
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
	fake_state_dir(state, sizeof(state));
	{
		struct kp_session_opts o = { .root = root, .state_dir = state, .cmd = "test" };

		cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	}
	snprintf(name, sizeof(name), "cgroup:kpilot-test-%d:cpu.max", getpid());
	ch.knob = name;
	ch.value = "20000 100000";
	cr_assert_eq(kp_session_apply(s, &ch, 1, "v2 throttle test", why, sizeof(why)), 0, "%s", why);
	snprintf(f, sizeof(f), "%s/cpu.max", dir);
	kp_fs_read(f, buf, sizeof(buf));
	kp_text_canon(buf);
	cr_expect_str_eq(buf, "20000 100000");
	snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
	cpu = burn_in_cgroup(f, 1.0);
	snprintf(f, sizeof(f), "%s/cpu.stat", dir);
	thr = stat_field(f, "nr_throttled");
	cr_log_info("v2 0.2-CPU quota: child used %.3f CPU s in 1.0 s, nr_throttled %lld", cpu, thr);
	cr_expect_gt(thr, 0);
	/* TCG charges a descheduled vCPU's gap to the running task: slack there,
	 * still far below the 1.0 CPU s an unthrottled child uses. */
	cr_expect_lt(cpu, kp_test_emulated() ? 0.50 : 0.30);
	kp_session_close(s);
	snprintf(f, sizeof(f), "%s/cpu.max", dir);
	kp_fs_read(f, buf, sizeof(buf));
	kp_text_canon(buf);
	cr_expect_str_eq(buf, "max 100000");
	cr_expect_eq(rmdir(dir), 0);
	if (enabled) {
		snprintf(f, sizeof(f), "%s/sys/fs/cgroup/cgroup.subtree_control",
			 strcmp(root, "/") ? root : "");
		kp_fs_write(f, "-cpu");
	}
	if (mounted) {
		snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup", root);
		umount(dir);
		fake_rm(root);
	}
	fake_rm(state);
}

/*
 * `kpilot set` and a risky value, in a namespace of our own: refused (exit 1,
 * the validator's message) without --allow-risky, then as `kpilot set --help`
 * shows it, then rolled back.
 */
Test(safety_real, kpilot_set_allow_risky_in_a_namespace, .init = need_root)
{
	char bin[4300], cmd[16384], ns[64], state[256], *v;
	char path[300];
	FILE *p;
	char out[1024] = "";

	kpilot_bin(bin, sizeof(bin));
	fake_state_dir(state, sizeof(state));
	snprintf(ns, sizeof(ns), "kpilot-test-risky-%d", getpid());
	snprintf(cmd, sizeof(cmd), "ip netns add %s", ns);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /proc/sys/net/ipv4/tcp_max_tw_buckets "
		 "> %s/before; %s set --netns %s --state-dir %s net.ipv4.tcp_max_tw_buckets=65536 "
		 "2>&1; echo status=$?", ns, state, bin, ns, state);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_gt(fread(out, 1, sizeof(out) - 1, p), 0);
	pclose(p);
	snprintf(path, sizeof(path), "%s/before", state);
	v = tu_slurp(path);
	cr_assert_not_null(v);
	if (atol(v) <= 65536) {
		snprintf(cmd, sizeof(cmd), "ip netns delete %s", ns);
		tu_system(cmd);
		cr_skip_test("the namespace's default %ld is too small for the test", atol(v));
	}
	snprintf(cmd, sizeof(cmd), "kpilot: error: refused: net.ipv4.tcp_max_tw_buckets: 65536 is "
		 "below the safe floor %ld: TIME_WAIT sockets would be destroyed instead of kept "
		 "(--allow-risky net.ipv4.tcp_max_tw_buckets allows it)\nstatus=1\n", atol(v));
	cr_expect_str_eq(out, cmd);
	snprintf(cmd, sizeof(cmd), "%s set --netns %s --allow-risky net.ipv4.tcp_max_tw_buckets "
		 "net.ipv4.tcp_max_tw_buckets=65536 --state-dir %s >/dev/null 2>&1 && "
		 "[ $(ip netns exec %s cat /proc/sys/net/ipv4/tcp_max_tw_buckets) = 65536 ] && "
		 "%s rollback --state-dir %s >/dev/null 2>&1 && "
		 "[ $(ip netns exec %s cat /proc/sys/net/ipv4/tcp_max_tw_buckets) = %ld ]",
		 bin, ns, state, ns, bin, state, ns, atol(v));
	cr_expect_eq(WEXITSTATUS(system(cmd)), 0, "%s", cmd);
	free(v);
	snprintf(cmd, sizeof(cmd), "ip netns delete %s", ns);
	cr_expect_eq(tu_system(cmd), 0);
	fake_rm(state);
}
