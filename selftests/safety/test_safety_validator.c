// SPDX-License-Identifier: GPL-2.0
/*
 * Every refusal: the exact one-line reason, and nothing written (the fake
 * tree is byte-identical and the journal holds no change).
 */
#include <ftw.h>
#include <math.h>
#include "../lib/safety_fake.h"

static char root[256], state[256];
static char *snap_buf;
static size_t snap_len;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	FILE *f;
	char buf[512];
	size_t n;

	if (type != FTW_F)
		return 0;
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	snap_buf = realloc(snap_buf, snap_len + strlen(path) + n + 4);
	snap_len += sprintf(snap_buf + snap_len, "%s=%s\n", path, buf);
	return 0;
}

static char *snapshot(void)
{
	snap_buf = NULL;
	snap_len = 0;
	nftw(root, snap_one, 16, FTW_PHYS);
	return snap_buf ? snap_buf : strdup("");
}

static void setup(void)
{
	fake_root_make(root, sizeof(root), 1);
	fake_state_dir(state, sizeof(state));
}

static void teardown(void)
{
	fake_rm(root);
	fake_rm(state);
}

TestSuite(safety_validator, .init = setup, .fini = teardown);

struct refusal {
	const char *knob, *value;
	const char *why;
};

static void expect_refusals(const struct kp_session_opts *base, const struct refusal *r, int n)
{
	struct kp_session_opts o = *base;
	struct kp_session *s;
	char why[512];
	int i, err;

	o.root = root;
	o.state_dir = state;
	o.clock = fake_clock;
	o.keep = true;
	for (i = 0; i < n; i++) {
		struct kp_change c = { .knob = r[i].knob, .value = r[i].value };
		char *before = snapshot(), *after;

		cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "open: %s", why);
		why[0] = '\0';
		err = kp_session_apply(s, &c, 1, "test", why, sizeof(why));
		cr_expect_eq(err, -EINVAL, "%s=%s: err %d (%s)", r[i].knob, r[i].value, err, why);
		cr_expect_str_eq(why, r[i].why, "%s=%s", r[i].knob, r[i].value);
		cr_expect_eq(c.status, KP_CH_NOT_DONE);
		kp_session_close(s);
		after = snapshot();
		cr_expect_str_eq(after, before, "%s=%s wrote something", r[i].knob, r[i].value);
		cr_expect_eq(journal_count(state, "change"), 0, "%s: journaled a change", r[i].knob);
		free(before);
		free(after);
	}
}

Test(safety_validator, each_refusal_has_its_message_and_writes_nothing)
{
	static const struct refusal r[] = {
		{ "net/core/somaxconn", "1", "bad knob name 'net/core/somaxconn': '/' not allowed" },
		{ "net.core..somaxconn", "1", "bad knob name 'net.core..somaxconn': '..' not allowed" },
		{ "../../etc/passwd", "x", "bad knob name '../../etc/passwd': '..' not allowed" },
		{ "net.core.some conn", "1",
		  "bad knob name 'net.core.some conn': character outside [A-Za-z0-9_.:-]" },
		{ "net.core.\x01somaxconn", "1",
		  "bad knob name 'net.core.\\x01somaxconn': character outside [A-Za-z0-9_.:-]" },
		{ "", "1", "bad knob name '': empty" },
		{ ".net.core", "1", "bad knob name '.net.core': empty component" },
		{ "kernel.panic", "1", "kernel.panic: denied: matches 'kernel.panic*' on the built-in denylist" },
		{ "kernel.sysrq", "1", "kernel.sysrq: denied: matches 'kernel.sysrq' on the built-in denylist" },
		{ "kernel.kexec_load_disabled", "1",
		  "kernel.kexec_load_disabled: denied: matches 'kernel.kexec*' on the built-in denylist" },
		{ "kernel.modules_disabled", "1",
		  "kernel.modules_disabled: denied: matches 'kernel.modules_disabled' on the built-in denylist" },
		{ "vm.panic_on_oom", "1",
		  "vm.panic_on_oom: denied: matches 'vm.panic_on_oom' on the built-in denylist" },
		{ "fs.file-max", "100", "fs.file-max: not in the knob table (a session may add it with bounds)" },
		{ "net.core.somaxconn", "70000", "net.core.somaxconn: 70000 is outside the safe range [128, 65535]" },
		{ "net.core.somaxconn", "-1", "net.core.somaxconn: -1 is outside the safe range [128, 65535]" },
		{ "net.core.somaxconn", "9000", "net.core.somaxconn: step 4096 -> 9000 exceeds the maximum step 4096" },
		{ "net.core.somaxconn", "abc", "net.core.somaxconn: 'abc' is not an integer" },
		{ "net.core.somaxconn", "NaN", "net.core.somaxconn: 'NaN' is not an integer" },
		{ "net.core.somaxconn", "0x100", "net.core.somaxconn: '0x100' is not an integer" },
		{ "net.core.somaxconn", "1e4", "net.core.somaxconn: '1e4' is not an integer" },
		{ "net.core.somaxconn", "", "net.core.somaxconn: '' is not an integer" },
		{ "net.core.somaxconn", "99999999999999999999",
		  "net.core.somaxconn: '99999999999999999999' overflows a 64-bit integer" },
		{ "net.core.somaxconn", "4096 4096", "net.core.somaxconn: '4096 4096' is not an integer" },
		{ "net.ipv4.tcp_rmem", "4096 131072",
		  "net.ipv4.tcp_rmem: '4096 131072': expected 3 integers separated by spaces" },
		{ "net.ipv4.tcp_rmem", "8192 4096 6291456",
		  "net.ipv4.tcp_rmem: values must not decrease (8192 4096 6291456): min <= default <= max" },
		{ "net.ipv4.ip_local_port_range", "60000 40000",
		  "net.ipv4.ip_local_port_range: values must not decrease (60000 40000)" },
		{ "net.ipv4.tcp_congestion_control", "vegas",
		  "net.ipv4.tcp_congestion_control: 'vegas' is not one of: reno cubic bbr htcp dctcp" },
		{ "vm.dirty_background_ratio", "16", "vm.dirty_background_ratio: step 10 -> 16 exceeds the maximum step 5" },
		{ "vm.dirty_ratio", "10", "vm.dirty_background_ratio (10) must stay below vm.dirty_ratio (10)" },
		{ "cgroup:/kp/op1:cpu.max", "50000", "bad knob name 'cgroup:/kp/op1:cpu.max': cgroup path must be relative" },
		{ "cgroup:kp/./op1:cpu.max", "50000", "bad knob name 'cgroup:kp/./op1:cpu.max': '.' component not allowed" },
		{ "cgroup:kp/../op1:cpu.max", "50000", "bad knob name 'cgroup:kp/../op1:cpu.max': '..' not allowed" },
		{ "cgroup:kp/op1:memory.max", "1", "cgroup:kp/op1:memory.max: not in the knob table (a session may add it with bounds)" },
		{ "cgroup:kp/op1:cpu.max", "-5 100000",
		  "cgroup:kp/op1:cpu.max: '-5 100000': quota must be a positive integer (us) or max" },
		{ "cgroup:kp/op1:cpu.max", "50000 10",
		  "cgroup:kp/op1:cpu.max: '50000 10': period must be 1000..1000000 us" },
		{ "cgroup:kp/op1:cpuset.cpus", "0-7",
		  "cgroup:kp/op1:cpuset.cpus: 0-7 is not within the parent's CPUs 0-3" },
		{ "cgroup:kp/op1:cpuset.cpus", "3-1",
		  "cgroup:kp/op1:cpuset.cpus: bad CPU range in '3-1' (CPUs 0-1023, low-high)" },
		{ "cgroup:kp/op1:cpu.weight", "0", "cgroup:kp/op1:cpu.weight: 0 is outside the safe range [1, 10000]" },
	};
	struct kp_session_opts o = { 0 };

	expect_refusals(&o, r, sizeof(r) / sizeof(r[0]));
}

Test(safety_validator, cpu_quota_range_follows_the_cpus_present)
{
	struct kp_session_opts o = { 0 };
	char msg[2][256];
	struct refusal r[2] = {
		{ "cgroup:kp/op1:cpu.max", "1000 1000000", msg[0] },
		{ "cgroup:kp/op1:cpu.max", "", msg[1] },
	};
	char big[64];

	snprintf(msg[0], sizeof(msg[0]),
		 "cgroup:kp/op1:cpu.max: 0.001 CPUs is outside the safe range [0.010, %.3f]",
		 (double)kp_ncpus());
	snprintf(big, sizeof(big), "%d 100000", (kp_ncpus() + 1) * 100000);
	r[1].value = big;
	snprintf(msg[1], sizeof(msg[1]),
		 "cgroup:kp/op1:cpu.max: %.3f CPUs is outside the safe range [0.010, %.3f]",
		 kp_ncpus() + 1.0, (double)kp_ncpus());
	expect_refusals(&o, r, 2);
}

Test(safety_validator, allowlist_and_netns_and_budget)
{
	static const char *const allow[] = { "net.ipv4.tcp_*", "cgroup:kp/*:cpu.max", NULL };
	struct kp_session_opts o = { .allow = allow };
	static const struct refusal r[] = {
		{ "net.core.somaxconn", "5000", "net.core.somaxconn: not in this session's allowlist" },
		{ "cgroup:kp/op1:cpu.weight", "200",
		  "cgroup:kp/op1:cpu.weight: not in this session's allowlist" },
	};
	static const struct refusal rn[] = {
		{ "vm.swappiness", "50",
		  "vm.swappiness: not a per-network-namespace knob; cannot set it in netns /proc/self/ns/net" },
		{ "cgroup:kp/op1:cpu.weight", "200",
		  "cgroup:kp/op1:cpu.weight: not a per-network-namespace knob; cannot set it in netns /proc/self/ns/net" },
	};
	struct kp_session_opts on = { .netns = "/proc/self/ns/net" };

	expect_refusals(&o, r, 2);
	expect_refusals(&on, rn, 2);
}

Test(safety_validator, batch_over_budget_is_refused_whole)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock,
				     .cpu_budget = 1.0 };
	struct kp_change c[3] = {
		{ "cgroup:kp/op1:cpu.max", "50000 100000" },
		{ "cgroup:kp/op2:cpu.max", "40000 100000" },
		{ "cgroup:kp/op3:cpu.max", "20000 100000" },
	};
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, c, 3, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "CPU quotas would sum to 1.100 CPUs, over the session budget of 1.000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "-1\n");
	/* within budget: applied, decreases first */
	c[2].value = "10000 100000";
	cr_assert_eq(kp_session_apply(s, c, 3, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "50000");
	/* raising one more now breaks the budget with the others counted */
	fake_clock_now += 10;
	c[0].value = "60000 100000";
	cr_assert_eq(kp_session_apply(s, c, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "CPU quotas would sum to 1.100 CPUs, over the session budget of 1.000");
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "50000");
	kp_session_close(s);
	/* closing restores the originals exactly */
	cr_expect_str_eq(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us"), "-1");
}

Test(safety_validator, minimum_interval_and_duplicates_and_clamp)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "8192" };
	struct kp_change d[2] = { { "vm.swappiness", "50" }, { "vm.swappiness", "40" } };
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "t", why, sizeof(why)), 0, "%s", why);
	fake_clock_now += 0.25;
	c.value = "9000";
	cr_assert_eq(kp_session_apply(s, &c, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "net.core.somaxconn: last written 0.25 s ago; the minimum interval is 1.00 s");
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "8192");
	cr_assert_eq(kp_session_apply(s, d, 2, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "vm.swappiness: given twice");
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60\n");
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");

	/* clamp policy: a big step becomes the largest allowed one */
	o.step_policy = KP_STEP_CLAMP;
	fake_clock_now += 10;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	c.value = "65535";
	cr_assert_eq(kp_session_apply(s, &c, 1, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(c.status, KP_CH_CLAMPED);
	cr_expect_str_eq(c.applied, "8192");
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "8192");
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
}

Test(safety_validator, session_knobs_narrow_never_widen)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_knob k = { .name = "net.core.somaxconn", .min = 1, .max = 5000, .step_abs = 100 };
	struct kp_knob bad = { .name = "kernel.panic", .type = KP_VT_INT, .min = 0, .max = 1 };
	struct kp_knob custom = { .name = "fs.file-max", .type = KP_VT_INT, .min = 1000,
				  .max = 9223372036854775807LL };
	struct kp_change c = { "net.core.somaxconn", "4500" };
	const struct kp_knob *d;
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_add_knob(s, &k, why, sizeof(why)), 0, "%s", why);
	d = kp_session_knob(s, "net.core.somaxconn");
	cr_assert_not_null(d);
	cr_expect_eq(d->min, 128);		/* built-in floor kept */
	cr_expect_eq(d->max, 5000);
	cr_expect_eq(d->step_abs, 100);
	cr_expect_eq(d->step_pct, 0);
	cr_expect_eq(d->per_netns, true);
	cr_assert_eq(kp_session_apply(s, &c, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "net.core.somaxconn: step 4096 -> 4500 exceeds the maximum step 100");
	cr_expect_eq(kp_session_add_knob(s, &bad, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "kernel.panic: denied: matches 'kernel.panic*' on the built-in denylist");
	cr_expect_eq(kp_session_add_knob(s, &custom, why, sizeof(why)), 0, "%s", why);
	c.knob = "fs.file-max";
	c.value = "100";
	cr_assert_eq(kp_session_apply(s, &c, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "fs.file-max: 100 is outside the safe range [1000, 9223372036854775807]");
	kp_session_close(s);
}

Test(safety_validator, unchanged_is_skipped_and_dry_run_writes_nothing)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock,
				     .dry_run = true };
	struct kp_change c[2] = { { "net.core.somaxconn", "4096" }, { "vm.swappiness", "50" } };
	struct kp_session *s;
	char why[512], *before = snapshot(), *after;

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, c, 2, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(c[0].status, KP_CH_UNCHANGED);
	cr_expect_eq(c[1].status, KP_CH_DRY_RUN);
	cr_expect_str_eq(c[1].old, "60");
	cr_expect_str_eq(c[1].applied, "50");
	kp_session_close(s);
	after = snapshot();
	cr_expect_str_eq(after, before);
	cr_expect_eq(journal_count(state, "begin"), 0);
	free(before);
	free(after);
}


Test(safety_validator, congestion_control_must_be_available)
{
	struct kp_session_opts o = { 0 };
	static const struct refusal r[] = {
		{ "net.ipv4.tcp_congestion_control", "bbr",
		  "net.ipv4.tcp_congestion_control: 'bbr' is not available on this kernel "
		  "(available: reno cubic)" },
	};

	fake_put(root, "/proc/sys/net/ipv4/tcp_available_congestion_control", "reno cubic\n");
	expect_refusals(&o, r, 1);
}

Test(safety_validator, config_files_must_be_trusted)
{
	char path[300], link[310], why[512], want[600];

	snprintf(path, sizeof(path), "%s/tune.json", root);
	fake_put(root, "/tune.json", "{}");
	chmod(path, 0644);
	cr_expect_eq(kp_safety_trusted_file(path, why, sizeof(why)), 0, "%s", why);
	chmod(path, 0664);
	cr_expect_eq(kp_safety_trusted_file(path, why, sizeof(why)), -EPERM);
	snprintf(want, sizeof(want), "%s: group- or world-writable (mode 0664); chmod go-w it", path);
	cr_expect_str_eq(why, want);
	chmod(path, 0644);
	snprintf(link, sizeof(link), "%s.lnk", path);
	cr_assert_eq(symlink(path, link), 0);
	cr_expect_eq(kp_safety_trusted_file(link, why, sizeof(why)), -ELOOP);
	snprintf(want, sizeof(want), "%s: is a symlink; give the file itself", link);
	cr_expect_str_eq(why, want);
	if (geteuid() == 0) {
		cr_assert_eq(chown(path, 1234, 1234), 0);
		cr_expect_eq(kp_safety_trusted_file(path, why, sizeof(why)), -EPERM);
		snprintf(want, sizeof(want),
			 "%s: owned by uid 1234, not root: it would run commands as root", path);
		cr_expect_str_eq(why, want);
	}
}

Test(safety_validator, agent_actions_map_onto_the_range)
{
	const struct kp_knob *som = kp_knob_builtin("net.core.somaxconn");	/* log */
	const struct kp_knob *swp = kp_knob_builtin("vm.swappiness");		/* linear */
	const struct kp_knob *bp = kp_knob_builtin("net.core.busy_poll");
	struct kp_knob logzero = *bp;

	cr_expect_eq(kp_knob_from_unit(som, -1), 128);
	cr_expect_eq(kp_knob_from_unit(som, 1), 65535);
	cr_expect_eq(kp_knob_from_unit(som, 0), 2896);		/* geometric mean */
	cr_expect_eq(kp_knob_from_unit(som, 5), 65535);
	cr_expect_eq(kp_knob_from_unit(som, 0.0 / 0.0), 128);
	cr_expect_eq(kp_knob_from_unit(swp, 0), 100);
	cr_expect_eq(kp_knob_from_unit(swp, -0.5), 50);
	logzero.scale = KP_SCALE_LOG;
	cr_expect_eq(kp_knob_from_unit(&logzero, -1), 0);
	cr_expect_eq(kp_knob_from_unit(&logzero, 1), 200);
	for (double u = -1; u <= 1; u += 0.125)
		cr_expect(fabs(kp_knob_to_unit(som, kp_knob_from_unit(som, u)) - u) < 1e-3,
			  "u=%f", u);
}

/*
 * Risky sides: below tcp_max_tw_buckets' floor (the kernel's default, half
 * of tcp_ehash_entries; 32768 when the kernel does not show it), above the
 * dirty-data ceilings; only a session allowing that knob crosses them.
 */
Test(safety_validator, risky_values_need_allow_risky)
{
	static const struct refusal r[] = {
		{ "net.ipv4.tcp_max_tw_buckets", "4096",
		  "net.ipv4.tcp_max_tw_buckets: 4096 is below the safe floor 131072: TIME_WAIT "
		  "sockets would be destroyed instead of kept (--allow-risky "
		  "net.ipv4.tcp_max_tw_buckets allows it)" },
		{ "vm.dirty_expire_centisecs", "4500",
		  "vm.dirty_expire_centisecs: 4500 is above the safe ceiling 3000: written data "
		  "would stay longer only in memory (lost on a crash) (--allow-risky "
		  "vm.dirty_expire_centisecs allows it)" },
		{ "vm.dirty_writeback_centisecs", "800",
		  "vm.dirty_writeback_centisecs: 800 is above the safe ceiling 500: written data "
		  "would stay longer only in memory (lost on a crash) (--allow-risky "
		  "vm.dirty_writeback_centisecs allows it)" },
	};
	static const struct refusal fallback[] = {
		{ "net.ipv4.tcp_max_tw_buckets", "20000",
		  "net.ipv4.tcp_max_tw_buckets: 20000 is below the safe floor 32768: TIME_WAIT "
		  "sockets would be destroyed instead of kept (--allow-risky "
		  "net.ipv4.tcp_max_tw_buckets allows it)" },
	};
	static const char *const allow[] = { "vm.dirty_expire_centisecs",
					     "net.ipv4.tcp_max_tw_buckets", NULL };
	struct kp_session_opts o = { .step_policy = KP_STEP_CLAMP };
	struct kp_change c[2] = { { "vm.dirty_expire_centisecs", "4500" },
				  { "net.ipv4.tcp_max_tw_buckets", "65536" } };
	struct kp_change w = { "vm.dirty_writeback_centisecs", "800" };
	struct kp_session *s;
	char why[512];

	fake_put(root, "/proc/sys/net/ipv4/tcp_max_tw_buckets", "131072\n");
	fake_put(root, "/proc/sys/net/ipv4/tcp_ehash_entries", "262144\n");
	fake_put(root, "/proc/sys/vm/dirty_expire_centisecs", "3000\n");
	fake_put(root, "/proc/sys/vm/dirty_writeback_centisecs", "500\n");
	expect_refusals(&o, r, 3);
	/* the safe side needs nothing (within the step limits) */
	o.root = root;
	o.state_dir = state;
	o.clock = fake_clock;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	c[0].value = "2000";
	c[1].value = "262144";
	cr_assert_eq(kp_session_apply(s, c, 2, "t", why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
	fake_clock_now += 10;
	/* allowed: the named knobs only, and the step limit still holds */
	o.allow_risky = allow;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	c[0].value = "4500";
	c[1].value = "65536";
	cr_assert_eq(kp_session_apply(s, c, 2, "t", why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/dirty_expire_centisecs"), "4500");
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_max_tw_buckets"), "65536");
	cr_assert_eq(kp_session_apply(s, &w, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, r[2].why);
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/ipv4/tcp_max_tw_buckets"), "131072");
	o.allow_risky = NULL;
	fake_clock_now += 10;
	unlink(strcat(strcpy(why, root), "/proc/sys/net/ipv4/tcp_ehash_entries"));
	expect_refusals(&o, fallback, 1);
}

/* The step rule off: what a namespace the session made for itself gets. */
Test(safety_validator, no_step_limit_in_own_namespace)
{
	const struct kp_knob *k = kp_knob_builtin("net.ipv4.tcp_max_syn_backlog");
	struct kp_value old = { .type = KP_VT_INT, .n = 1, .v = { 2048 } };
	struct kp_value nv = { .type = KP_VT_INT, .n = 1, .v = { 65000 } };
	bool clamped;
	char why[256];

	cr_assert_eq(kp_validate_value(k, k->name, &old, &nv, KP_STEP_REJECT, 2, 10, 0, &clamped,
				       why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "net.ipv4.tcp_max_syn_backlog: step 2048 -> 65000 exceeds the "
			 "maximum step 4096");
	cr_assert_eq(kp_validate_value(k, k->name, &old, &nv, KP_STEP_NONE, 2, 10, 0, &clamped,
				       why, sizeof(why)), 0, "%s", why);
	cr_expect_not(clamped);
	nv.v[0] = 70000;
	cr_assert_eq(kp_validate_value(k, k->name, &old, &nv, KP_STEP_NONE, 2, 10, 0, &clamped,
				       why, sizeof(why)), -EINVAL, "the range still holds");
	cr_expect_str_eq(why, "net.ipv4.tcp_max_syn_backlog: 70000 is outside the safe range "
			 "[128, 65536]");
}
