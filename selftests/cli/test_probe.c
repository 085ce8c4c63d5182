// SPDX-License-Identifier: GPL-2.0
/*
 * `kpilot probe` as documented (Documentation/probe.md), its answers
 * checked against what this test finds out by other means: uname, statfs,
 * /proc/self/mounts, its own BPF calls (other API paths than the probe's),
 * `unshare -n`, `kpilot observe`'s own mode line, and for what no syscall
 * can show, the Debian kernel's version (the VM guests are Debian kernels).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#define KPILOT "./kpilot"

/* Every key Documentation/probe.md lists. */
static const char *const features[] = {
	"btf", "tp_btf", "raw_tp", "fentry", "task_iter", "ringbuf", "task_storage",
	"task_storage_tracing", "hash_lookup_and_delete", "block_rq_signature",
	"sched_switch_prev_state", "run_delay", "cgroup", "cgroup_v1", "cgroup_v2",
	"netns_sysctl", "netem", "pidfd_getfd", "sk_reuseport", "sk_lookup", "reuseport_migrate",
};
static const char *const tracepoints[] = {
	"sched_switch", "sched_wakeup", "sched_wakeup_new", "task_newtask", "sched_process_fork",
	"sched_process_exit", "hrtimer_expire_entry", "block_io_start", "block_rq_complete",
	"block_rq_insert", "block_rq_issue", "inet_sock_set_state", "tcp_retransmit_skb",
	"tcp_retransmit_synack", "tcp_probe",
};

static void need_root(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root to load BPF programs");
}

/* A shell command line's status; its stdout in *out (malloc'd). */
static int run(const char *cmd, char **out)
{
	size_t len = 0, cap = 65536, n;
	char *buf = malloc(cap);
	FILE *p = popen(cmd, "r");
	int st;

	cr_assert_not_null(p);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The running kernel as major * 100 + minor: 6.1 -> 601. */
static int kver(void)
{
	struct utsname u;
	int a = 0, b = 0;

	uname(&u);
	sscanf(u.release, "%d.%d", &a, &b);
	return a * 100 + b;
}

static json_t *probe_json(void)
{
	json_error_t err;
	json_t *o;
	char *out;

	cr_assert_eq(run(KPILOT " probe --json", &out), 0, "%s", out);
	o = json_loads(out, 0, &err);
	cr_assert_not_null(o, "not JSON (%s): %s", err.text, out);
	free(out);
	return o;
}

static bool yes(json_t *o, const char *key)
{
	json_t *f = json_object_get(json_object_get(o, "features"), key);

	cr_assert(json_is_boolean(json_object_get(f, "yes")), "features.%s.yes missing", key);
	return json_is_true(json_object_get(f, "yes"));
}

#define expect(o, key, truth) \
	cr_expect_eq(yes(o, key), (truth), "%s: probe says %s, the truth is %s", key, \
		     yes(o, key) ? "yes" : "no", (truth) ? "yes" : "no")

Test(probe, json_has_every_documented_key)
{
	const char *top[] = { "kernel", "features", "tracepoints", "block_rq_issue_args",
			      "sched_switch_args", "cgroup", "mode", "mode_reason", "task_store", "runq" };
	json_t *o, *tp;
	size_t i;

	need_root();
	o = probe_json();
	for (i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		cr_expect_not_null(json_object_get(o, top[i]), "no key %s", top[i]);
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		yes(o, features[i]);
		cr_expect(json_is_string(json_object_get(json_object_get(json_object_get(o, "features"),
			  features[i]), "detail")), "features.%s.detail", features[i]);
	}
	cr_expect_eq(json_object_size(json_object_get(o, "features")), i, "undocumented features");
	tp = json_object_get(o, "tracepoints");
	for (i = 0; i < sizeof(tracepoints) / sizeof(tracepoints[0]); i++)
		cr_expect(json_is_boolean(json_object_get(json_object_get(tp, tracepoints[i]), "yes")),
			  "tracepoints.%s", tracepoints[i]);
	cr_expect_eq(json_object_size(tp), i, "undocumented tracepoints");
	cr_expect(json_is_array(json_object_get(json_object_get(o, "cgroup"), "v1")));
	cr_expect(json_is_array(json_object_get(json_object_get(o, "cgroup"), "v2")));
	json_decref(o);
}

Test(probe, plain_lines_match_json)
{
	char *out, line[512];
	json_t *o;
	size_t i;

	need_root();
	cr_assert_eq(run(KPILOT " probe", &out), 0, "%s", out);
	o = probe_json();
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		snprintf(line, sizeof(line), "\n%s: %s (", features[i], yes(o, features[i]) ? "yes" : "no");
		cr_expect(strstr(out, line), "no line '%s' in:\n%s", line + 1, out);
	}
	snprintf(line, sizeof(line), "kernel: %s\n", json_string_value(json_object_get(o, "kernel")));
	cr_expect(!strncmp(out, line, strlen(line)), "%s", out);
	snprintf(line, sizeof(line), "\nmode: %s (", json_string_value(json_object_get(o, "mode")));
	cr_expect(strstr(out, line), "%s", out);
	free(out);
	json_decref(o);
}

/* An fentry program attached through bpf_link_create, the probe's other path. */
static bool fentry_attaches(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct btf *btf = btf__load_vmlinux_btf();
	int id = btf ? btf__find_by_name_kind(btf, "vfs_write", BTF_KIND_FUNC) : -1, fd, lfd = -1;
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = id);

	btf__free(btf);
	if (id <= 0)
		return false;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "t_fentry", "GPL", insns, 2, &o);
	if (fd >= 0)
		lfd = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, NULL);
	if (lfd >= 0)
		close(lfd);
	if (fd >= 0)
		close(fd);
	return lfd >= 0;
}

static bool lookup_and_delete_works(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, 4, 8, 4, NULL);
	__u32 k = 3;
	__u64 v = 42, out = 0;
	bool ok;

	cr_assert_geq(fd, 0);
	ok = !bpf_map_update_elem(fd, &k, &v, 0) && !bpf_map_lookup_and_delete_elem(fd, &k, &out) &&
	     out == 42 && bpf_map_lookup_elem(fd, &k, &out) && errno == ENOENT;
	close(fd);
	return ok;
}

/*
 * A tracepoint's arguments as bpftool prints its BTF prototype,
 * "typedef void (*btf_trace_X)(void *, A, B);": commas, less the void *.
 * (Distribution kernels backport signatures: Debian's 5.10 has the 5.11 one.)
 */
static int bpftool_args(const char *tp)
{
	char cmd[256], *out, *c;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "bpftool btf dump file /sys/kernel/btf/vmlinux format c | "
		 "grep -F '(*btf_trace_%s)('", tp);
	if (run(cmd, &out))
		cr_skip_test("bpftool cannot dump this kernel's BTF");
	for (c = out; *c && *c != '\n'; c++)
		n += *c == ',';
	free(out);
	return n;
}

Test(probe, bpf_answers_match_ground_truth)
{
	int v = kver();
	json_t *o;

	need_root();
	o = probe_json();
	expect(o, "btf", access("/sys/kernel/btf/vmlinux", R_OK) == 0);
	expect(o, "fentry", fentry_attaches());
	expect(o, "hash_lookup_and_delete", lookup_and_delete_works());
	/* What only the version tells: true of Debian's 5.10, 6.1, 6.12 and this host. */
	expect(o, "tp_btf", true);
	expect(o, "raw_tp", true);
	expect(o, "ringbuf", v >= 508);
	expect(o, "task_iter", v >= 508);
	expect(o, "task_storage_tracing", v >= 513);
	expect(o, "sk_reuseport", true);
	expect(o, "sk_lookup", v >= 509);
	expect(o, "reuseport_migrate", v >= 514);
	expect(o, "pidfd_getfd", v >= 506);
	cr_expect_eq(json_integer_value(json_object_get(o, "block_rq_issue_args")),
		     bpftool_args("block_rq_issue"));
	cr_expect_eq(json_integer_value(json_object_get(o, "sched_switch_args")),
		     bpftool_args("sched_switch"));
	json_decref(o);
}

/* The v1 controllers are exactly those some cgroup mount names in its options. */
static bool v1_mounted(const char *ctl)
{
	char dev[256], dir[256], type[64], opts[1024], want[64];
	FILE *f = fopen("/proc/self/mounts", "r");
	bool found = false;

	snprintf(want, sizeof(want), ",%s,", ctl);
	while (f && !found && fscanf(f, "%255s %255s %63s %1000s %*d %*d", dev, dir, type, opts + 1) == 4) {
		opts[0] = ',';
		strcat(opts, ",");
		found = !strcmp(type, "cgroup") && strstr(opts, want);
	}
	if (f)
		fclose(f);
	return found;
}

static bool tu_netem(void)
{
	char *out;
	int st = run("unshare -n tc qdisc add dev lo root netem delay 1ms 2>/dev/null", &out);

	free(out);
	return st == 0;
}

Test(probe, system_answers_match_ground_truth)
{
	const char *layout, *sys[] = { "cpu", "memory", "pids", "cpuset", "blkio", "io" };
	json_t *o, *cg, *ctl;
	struct statfs s;
	char *out, *ns;
	size_t i;
	bool v2;

	need_root();
	o = probe_json();
	cg = json_object_get(o, "cgroup");
	layout = json_string_value(json_object_get(cg, "layout"));
	cr_assert_eq(statfs("/sys/fs/cgroup", &s), 0);
	v2 = s.f_type == CGROUP2_SUPER_MAGIC;
	cr_expect_str_eq(layout, v2 ? "v2" : s.f_type == TMPFS_MAGIC ?
			 (statfs("/sys/fs/cgroup/unified", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC ?
			  "hybrid" : "v1") : "none");
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		bool listed = false;
		size_t j;

		json_array_foreach(json_object_get(cg, "v1"), j, ctl)
			listed |= !strcmp(json_string_value(ctl), sys[i]);
		cr_expect_eq(listed, v1_mounted(sys[i]), "v1 controller %s", sys[i]);
	}
	expect(o, "cgroup_v2", v2 || !strcmp(layout, "hybrid"));
	/* The same value through util-linux, in a namespace of its own. */
	if (run("unshare -n cat /proc/sys/net/core/somaxconn", &out) == 0) {
		out[strcspn(out, "\n")] = '\0';
		ns = strstr(json_string_value(json_object_get(json_object_get(json_object_get(o,
			    "features"), "netns_sysctl"), "detail")), out);
		cr_expect(ns && yes(o, "netns_sysctl"), "somaxconn %s", out);
	}
	free(out);
	expect(o, "netem", tu_netem());
	json_decref(o);
}

/*
 * Each tracepoint's events directory is the truth: tracefs is mounted in a
 * mount namespace of the test's own, gone when its shell exits.
 */
Test(probe, tracepoints_match_tracefs)
{
	char dir[] = "/tmp/kpilot-tracefs-XXXXXX", cmd[256], *dirs, want[256];
	const char *name;
	json_t *o, *t;
	int st;

	need_root();
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "unshare -m sh -c 'mount -t tracefs nodev %s && "
		 "ls -d %s/events/*/*' 2>&1", dir, dir);
	st = run(cmd, &dirs);
	rmdir(dir);
	if (st)
		cr_skip_test("cannot mount tracefs in a private mount namespace: %s", dirs);
	o = probe_json();
	json_object_foreach(json_object_get(o, "tracepoints"), name, t) {
		snprintf(want, sizeof(want), "/%s\n", name);
		cr_expect_eq(json_is_true(json_object_get(t, "yes")), strstr(dirs, want) != NULL,
			     "tracepoint %s: probe and tracefs disagree", name);
	}
	cr_expect_gt(json_object_size(json_object_get(o, "tracepoints")), 10);
	free(dirs);
	json_decref(o);
}

Test(probe, mode_is_the_observers)
{
	char *out, want[128];
	json_t *o;

	need_root();
	o = probe_json();
	cr_assert_eq(run(KPILOT " observe --duration 1 --json 2>&1 >/dev/null", &out), 0, "%s", out);
	snprintf(want, sizeof(want), "observing with %s programs, run-queue wait from %s",
		 strncmp(json_string_value(json_object_get(o, "mode")), "tp_btf", 6) ? "raw_tp" : "tp_btf",
		 json_string_value(json_object_get(o, "runq")));
	cr_expect(strstr(out, want), "probe: %s; observe said: %s",
		  json_string_value(json_object_get(o, "mode")), out);
	/* Task storage where tracing programs may use it, else the pid hash. */
	cr_expect_str_eq(json_string_value(json_object_get(o, "task_store")),
			 yes(o, "task_storage_tracing") ? "task storage" : "hash");
	free(out);
	json_decref(o);
}

Test(probe, usage_and_refusal)
{
	char *out;

	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	cr_assert_eq(run(KPILOT " probe --help", &out), 0);
	cr_expect(strstr(out, "EXAMPLES:") && strstr(out, "kpilot probe --json"), "%s", out);
	free(out);
	cr_assert_eq(run(KPILOT " probe --bogus 2>&1", &out), 2);
	cr_expect(strstr(out, "unrecognized option '--bogus'") && strstr(out, "kpilot probe --help"),
		  "%s", out);
	free(out);
	cr_assert_eq(run(KPILOT " probe extra 2>&1", &out), 2);
	free(out);
	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK))
		return;
	cr_assert_eq(run("setpriv --reuid=65534 --regid=65534 --clear-groups " KPILOT " probe 2>&1",
			 &out), 2, "%s", out);
	cr_expect(strstr(out, "kpilot probe: needs root"), "%s", out);
	free(out);
}
