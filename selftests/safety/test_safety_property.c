// SPDX-License-Identifier: GPL-2.0
/*
 * Property: whatever is proposed (random, huge, negative, non-numeric,
 * overflowing, NaN text, traversal names, denylisted, not allowlisted), no
 * write ever lands outside the allowlist, the safe range or the maximum step,
 * and closing the session puts every file back byte for byte.
 */
#include <limits.h>
#include "../lib/safety_fake.h"

#define PROPOSALS	100000
#define SESSION_LEN	10000

static char root[256], state[256];
static char allowed_files[64][512];
static int nallowed;
static long writes, bad_writes;
static char bad_path[512];

static int on_write(const char *path, const char *text)
{
	int i;

	writes++;
	for (i = 0; i < nallowed; i++)
		if (!strcmp(path, allowed_files[i]))
			return 0;
	bad_writes++;
	snprintf(bad_path, sizeof(bad_path), "%s <- %s", path, text);
	return -EPERM;
}

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned long long rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static long long rint_in(long long lo, long long hi)
{
	return lo + (long long)(rnd() % (unsigned long long)(hi - lo + 1));
}

/* Knobs the session allows (and the denylist must still beat "vm.*" and "kernel.*"). */
static const char *const allow[] = {
	"net.core.somaxconn", "net.ipv4.tcp_*", "net.ipv4.ip_local_port_range", "vm.*",
	"kernel.*", "cgroup:kp/op1:*", "cgroup:kp/op2:cpu.max", NULL,
};

static const char *const managed[] = {
	"net.core.somaxconn", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_congestion_control",
	"net.ipv4.tcp_fin_timeout", "vm.swappiness", "vm.dirty_ratio",
	"vm.dirty_background_ratio", "cgroup:kp/op1:cpu.max", "cgroup:kp/op1:cpu.weight",
	"cgroup:kp/op1:cpuset.cpus", "cgroup:kp/op2:cpu.max",
};
#define NMANAGED (int)(sizeof(managed) / sizeof(managed[0]))

static const char *const hostile_names[] = {
	"kernel.panic", "kernel.sysrq", "vm.panic_on_oom", "kernel.modules_disabled",
	"kernel.kexec_load_disabled", "fs.file-max", "net.core.netdev_max_backlog",
	"cgroup:kp/op3:cpu.max", "cgroup:kp/op2:cpu.weight", "cgroup:kp/op1:memory.max",
	"../../etc/passwd", "net/core/somaxconn", "net.core..somaxconn", ".", "..", "",
	"net.core.somaxconn/", "cgroup:../../etc:passwd", "cgroup:kp/../../..:cpu.max",
	"cgroup:/kp/op1:cpu.max", "cgroup:kp//op1:cpu.max", "cgroup:kp/op1/..:cpu.max",
	"cgroup:kp/op1:cpu.max:x", "cgroup:", "cgroup::", "cgroup:kp/op1:",
	"net.core.somaxconn\n", "net.core.somaxconn ", " net.core.somaxconn",
	"NET.CORE.SOMAXCONN", "net.core.somaxconn\xff", "vm.swappiness;rm -rf /",
	"vm.swappiness$(reboot)", "vm.*", "kernel.panic_on_oops", "vm.drop_caches",
	"etc.passwd", "proc.sys.kernel.panic",
};
#define NHOSTILE (int)(sizeof(hostile_names) / sizeof(hostile_names[0]))

static const char *const hostile_values[] = {
	"", " ", "nan", "NaN", "-nan", "inf", "-inf", "1e9", "0x7fffffff", "+", "-", "--1",
	"99999999999999999999999", "-9223372036854775808", "9223372036854775807",
	"18446744073709551616", "1.5", "4096\n8192", "4096;8192", "$(reboot)", "max",
	"max max", "0-", "-0", "+4096", "4096 ", "  4096", "\t4096", "4096\x00", "\xff\xfe",
	"1,2,3", "0-1023", "0-99999", "cubic reno", "bbr", "vegas", "../x", "1 2 3 4 5",
};
#define NHVALUES (int)(sizeof(hostile_values) / sizeof(hostile_values[0]))

/* A value near, far or wild for a knob, as text. */
static void propose_value(struct kp_session *s, const char *name, char *buf, size_t len)
{
	const struct kp_knob *k = kp_session_knob(s, name);
	long long v[4];
	int mode = rnd() % 10, i;
	char cur[KP_VALUE_MAX];

	if (!k || mode == 0) {
		snprintf(buf, len, "%s", hostile_values[rnd() % NHVALUES]);
		return;
	}
	if (kp_session_read(s, name, cur, sizeof(cur)))
		cur[0] = '\0';
	switch (k->type) {
	case KP_VT_INT:
	case KP_VT_TUPLE:
		sscanf(cur, "%lld %lld %lld", &v[0], &v[1], &v[2]);
		for (i = 0; i < k->arity; i++) {
			if (mode < 6)		/* a small step from where it is */
				v[i] += rint_in(-v[i] / 2 - 10, v[i] / 2 + 10);
			else if (mode < 8)	/* anywhere a little past the range */
				v[i] = rint_in(k->min - 10, k->max > LLONG_MAX - 10 ? k->max : k->max + 10);
			else
				v[i] = (long long)rnd();
		}
		if (k->type == KP_VT_INT)
			snprintf(buf, len, "%lld", v[0]);
		else if (k->arity == 2)
			snprintf(buf, len, "%lld %lld", v[0], v[1]);
		else
			snprintf(buf, len, "%lld %lld %lld", v[0], v[1], v[2]);
		return;
	case KP_VT_ENUM:
		snprintf(buf, len, "%s", (const char *[]){ "reno", "cubic", "bbr", "vegas", "x" }[rnd() % 5]);
		return;
	case KP_VT_CPUMAX:
		if (mode < 7)
			snprintf(buf, len, "%lld 100000", rint_in(500, 250000));
		else if (mode < 8)
			snprintf(buf, len, "max");
		else
			snprintf(buf, len, "%lld %lld", rint_in(-5, 5000000), rint_in(-5, 2000000));
		return;
	case KP_VT_CPULIST:
		snprintf(buf, len, "%lld-%lld", rint_in(0, 4), rint_in(0, 9));
		return;
	case KP_VT_WEIGHTS:	/* not in the table: steering needs a live service */
		snprintf(buf, len, "default");
		return;
	}
}

struct seen {
	char text[KP_VALUE_MAX];
};

/* Every managed knob: in range, ordered, and moved at most one step since last time. */
static void check_state(struct kp_session *s, struct seen *prev, double budget)
{
	long long sum = 0;
	int i, j;

	for (i = 0; i < NMANAGED; i++) {
		const struct kp_knob *k = kp_knob_builtin(managed[i]);
		struct kp_value v, o;
		char cur[KP_VALUE_MAX];

		cr_assert_eq(kp_session_read(s, managed[i], cur, sizeof(cur)), 0, "%s", managed[i]);
		cr_assert_eq(kp_value_parse(k, cur, &v, NULL, 0), 0, "%s='%s' unparseable",
			     managed[i], cur);
		if (!strcmp(cur, prev[i].text))
			continue;
		kp_value_parse(k, prev[i].text, &o, NULL, 0);
		switch (k->type) {
		case KP_VT_INT:
		case KP_VT_TUPLE:
			for (j = 0; j < v.n; j++) {
				long long allow = k->step_abs, rel = (o.v[j] < 0 ? -o.v[j] : o.v[j]) *
								    k->step_pct / 100;

				if (rel > allow)
					allow = rel;
				cr_assert(v.v[j] >= k->min && v.v[j] <= k->max, "%s=%s out of range",
					  managed[i], cur);
				cr_assert(!k->step_abs && !k->step_pct ?
					  1 : llabs(v.v[j] - o.v[j]) <= allow,
					  "%s: %s -> %s is more than one step", managed[i],
					  prev[i].text, cur);
				if (k->ordered && j)
					cr_assert(v.v[j] >= v.v[j - 1], "%s=%s disordered",
						  managed[i], cur);
			}
			break;
		case KP_VT_CPUMAX: {
			long long om = kp_cpumax_millicores(&o, kp_ncpus());
			long long nm = kp_cpumax_millicores(&v, kp_ncpus());
			long long allow = om > k->step_abs ? om : k->step_abs;

			cr_assert(nm >= k->min && nm <= kp_ncpus() * 1000LL, "%s=%s", managed[i], cur);
			if (o.v[0] != KP_CPU_QUOTA_MAX)
				cr_assert(llabs(nm - om) <= allow, "%s: %s -> %s too big a step",
					  managed[i], prev[i].text, cur);
			break;
		}
		case KP_VT_CPULIST:
			cr_assert(!cur[0] || kp_cpulist_subset(cur, "0-3"), "%s=%s", managed[i], cur);
			break;
		case KP_VT_ENUM:
			cr_assert(strstr(k->enums, cur), "%s=%s", managed[i], cur);
			break;
		case KP_VT_WEIGHTS:
			break;
		}
		snprintf(prev[i].text, sizeof(prev[i].text), "%s", cur);
	}
	/* the budget holds over the quotas this session set */
	for (i = 0; i < NMANAGED; i++) {
		struct kp_value v;

		if (!strstr(managed[i], "cpu.max") || strstr(prev[i].text, "max"))
			continue;
		kp_value_parse(kp_knob_builtin(managed[i]), prev[i].text, &v, NULL, 0);
		sum += kp_cpumax_millicores(&v, kp_ncpus());
	}
	cr_assert(sum <= budget * 1000 + 0.5, "quotas sum to %lld millicores", sum);
	(void)s;
}

static void run(int version, enum kp_step_policy policy)
{
	static const char *const canaries[] = {
		"/proc/sys/kernel/panic", "/proc/sys/kernel/sysrq", "/proc/sys/vm/panic_on_oom",
		"/proc/sys/kernel/modules_disabled", "/proc/sys/kernel/kexec_load_disabled",
		"/proc/sys/fs/file-max", "/etc/passwd", "/proc/sys/net/core/netdev_max_backlog",
	};
	struct kp_session_opts o = { .allow = allow, .clock = fake_clock, .cpu_budget = 1.5,
				     .step_policy = policy, .cmd = "property" };
	char initial[NMANAGED][KP_VALUE_MAX], canary0[8][512], why[512], vbuf[4][128];
	struct seen prev[NMANAGED];
	long accepted = 0, refused = 0, env = 0, i;
	struct kp_session *s = NULL;
	int c, m;

	fake_root_make(root, sizeof(root), version);
	fake_state_dir(state, sizeof(state));
	o.root = root;
	o.state_dir = state;
	for (c = 0; c < 8; c++)
		snprintf(canary0[c], sizeof(canary0[c]), "%s", fake_get(root, canaries[c]));
	nallowed = 0;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	for (m = 0; m < NMANAGED; m++) {
		struct kp_target t = { .root = root, .netns_fd = -1, .cg_version = version };
		char path[KP_NAME_MAX], attr[KP_NAME_MAX];

		kp_session_read(s, managed[m], initial[m], sizeof(initial[m]));
		memcpy(prev[m].text, initial[m], KP_VALUE_MAX);
		if (strncmp(managed[m], "cgroup:", 7)) {
			kp_sysctl_path(root, managed[m], allowed_files[nallowed++], 512);
			continue;
		}
		kp_knob_cgroup_split(managed[m], path, attr);
		kp_cg_file(&t, path, attr, allowed_files[nallowed++], 512);
		if (version == 1 && !strcmp(attr, "cpu.max"))
			snprintf(allowed_files[nallowed++], 512, "%s/sys/fs/cgroup/cpu/%s/cpu.cfs_period_us",
				 root, path);
	}
	writes = bad_writes = 0;
	kp_fs_write_hook = on_write;
	for (i = 0; i < PROPOSALS; i++) {
		struct kp_change ch[3];
		int n = 1 + rnd() % 3, j, err;

		for (j = 0; j < n; j++) {
			ch[j].knob = rnd() % 4 ? managed[rnd() % NMANAGED] : hostile_names[rnd() % NHOSTILE];
			propose_value(s, ch[j].knob, vbuf[j], sizeof(vbuf[j]));
			ch[j].value = vbuf[j];
		}
		fake_clock_now += (rnd() % 2000) / 1000.0;
		err = kp_session_apply(s, ch, n, "property", why, sizeof(why));
		if (!err)
			accepted++;
		else if (err == -EINVAL)
			refused++;
		else
			env++;
		cr_assert_eq(bad_writes, 0, "write outside the allowlist: %s", bad_path);
		check_state(s, prev, o.cpu_budget);
		if (i % 1000 == 0)
			for (c = 0; c < 8; c++)
				cr_assert_str_eq(fake_get(root, canaries[c]), canary0[c], "%s", canaries[c]);
		if ((i + 1) % SESSION_LEN == 0) {
			/* closing restores; the next session starts from the originals */
			kp_session_close(s);
			for (m = 0; m < NMANAGED; m++) {
				char cur[KP_VALUE_MAX];
				struct kp_session *r;

				cr_assert_eq(kp_session_open(&o, &r, why, sizeof(why)), 0, "%s", why);
				kp_session_read(r, managed[m], cur, sizeof(cur));
				cr_assert_str_eq(cur, initial[m], "%s not restored", managed[m]);
				kp_session_close(r);
				memcpy(prev[m].text, initial[m], KP_VALUE_MAX);
			}
			cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
		}
	}
	kp_session_close(s);
	kp_fs_write_hook = NULL;
	for (c = 0; c < 8; c++)
		cr_assert_str_eq(fake_get(root, canaries[c]), canary0[c], "%s", canaries[c]);
	cr_log_info("v%d %s: %ld proposals: %ld applied, %ld refused, %ld env errors, %ld writes",
		    version, policy == KP_STEP_CLAMP ? "clamp" : "reject", (long)PROPOSALS,
		    accepted, refused, env, writes);
	/* the property must have been exercised both ways */
	cr_assert_gt(accepted, PROPOSALS / 100);
	cr_assert_gt(refused, PROPOSALS / 10);
	fake_rm(root);
	fake_rm(state);
}

Test(safety_property, v1_reject_policy, .timeout = 120)
{
	run(1, KP_STEP_REJECT);
}

Test(safety_property, v2_clamp_policy, .timeout = 120)
{
	run(2, KP_STEP_CLAMP);
}
