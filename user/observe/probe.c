// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot probe's BPF answers: each feature is tried for real (a tiny
 * program loaded and attached, a map created), not inferred from the
 * kernel version, so a backport or a missing config option shows. The
 * mode is the observer's own: it is opened here, briefly, and asked.
 * The system answers (cgroups, netns, netem, pidfd) follow the BPF ones.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "lib/log.h"
#include "observe/observer_int.h"
#include "observe/probe.h"
#include "sched.skel.h"
#include "block.skel.h"
#include "tcp.skel.h"

#define ENOTSUPP 524	/* the kernel's "not supported", absent from user space's errno.h */

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV_IMM(d, i)	INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s)	INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define LDX_DW(d, s, o)	INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define CALL(f)		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd)	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

static void __attribute__((format(printf, 4, 5)))
item(struct kp_probe *p, const char *key, bool yes, const char *fmt, ...)
{
	struct kp_probe_item *it;
	va_list ap;

	if (p->n == KP_PROBE_MAX)
		return;
	it = &p->items[p->n++];
	snprintf(it->key, sizeof(it->key), "%s", key);
	it->yes = yes;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
}

const struct kp_probe_item *kp_probe_find(const struct kp_probe *p, const char *key)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (!strcmp(p->items[i].key, key))
			return &p->items[i];
	return NULL;
}

/* A program `r0 = 0; exit` (or insns) of a type; fd or -errno. */
static int load(enum bpf_prog_type type, enum bpf_attach_type at, int btf_id,
		const struct bpf_insn *insns, size_t n)
{
	static const struct bpf_insn ret0[] = { MOV_IMM(BPF_REG_0, 0), EXIT() };
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = at, .attach_btf_id = btf_id);
	int fd;

	if (!insns) {
		insns = ret0;
		n = 2;
	}
	fd = bpf_prog_load(type, "kp_probe", "GPL", insns, n, &o);
	return fd < 0 ? -errno : fd;
}

/* Load a BTF-attached tracing program on `target` and attach it. */
static void tracing(struct kp_probe *p, const struct btf *btf, const char *key,
		    enum bpf_attach_type at, const char *target, int kind, const char *what)
{
	int id = btf ? btf__find_by_name_kind(btf, target, kind) : -ENOENT;
	int fd, lfd;

	if (id <= 0) {
		item(p, key, false, "%s not in the kernel's BTF", target);
		return;
	}
	fd = load(BPF_PROG_TYPE_TRACING, at, id, NULL, 0);
	if (fd < 0) {
		item(p, key, false, "%s does not load: %s", what, strerror(-fd));
		return;
	}
	if (at == BPF_TRACE_ITER)
		lfd = bpf_link_create(fd, 0, at, NULL);
	else
		lfd = bpf_raw_tracepoint_open(NULL, fd);
	if (lfd < 0) {
		item(p, key, false, "%s loads, but does not attach: %s", what, strerror(errno));
	} else if (at == BPF_TRACE_ITER) {
		int it = bpf_iter_create(lfd);
		char c;

		item(p, key, it >= 0 && read(it, &c, 1) == 0, "%s attached and read%s",
			     what, it >= 0 ? "" : ": no iterator fd");
		if (it >= 0)
			close(it);
	} else {
		item(p, key, true, "%s loaded and attached", what);
	}
	if (lfd >= 0)
		close(lfd);
	close(fd);
}

static void raw_tp(struct kp_probe *p)
{
	int fd = load(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, NULL, 0), lfd = -1;

	if (fd >= 0)
		lfd = bpf_raw_tracepoint_open("sched_switch", fd);
	item(p, "raw_tp", lfd >= 0, "raw_tp/sched_switch program %s%s",
		     fd < 0 ? "does not load: " : lfd < 0 ? "loads, but does not attach: " :
		     "loaded and attached", fd < 0 || lfd < 0 ? strerror(fd < 0 ? -fd : errno) : "");
	if (lfd >= 0)
		close(lfd);
	if (fd >= 0)
		close(fd);
}

/* A task storage map with BTF for an int value (the kernel demands BTF). */
static int task_storage_map(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC,
		    .btf_key_type_id = 1, .btf_value_type_id = 1);
	struct btf *b = btf__new_empty();
	int fd = -ENOMEM;

	if (!b || btf__add_int(b, "int", 4, BTF_INT_SIGNED) != 1 || btf__load_into_kernel(b))
		goto cleanup;
	o.btf_fd = btf__fd(b);
	fd = bpf_map_create(BPF_MAP_TYPE_TASK_STORAGE, "kp_probe", 4, 4, 0, &o);
	fd = fd < 0 ? -errno : fd;
cleanup:
	btf__free(b);
	return fd;
}

/* Task storage as a map type (5.11, LSM) and from a tracing program (5.13). */
static void task_storage(struct kp_probe *p, const struct btf *btf)
{
	int map = task_storage_map(), id, fd = -1;

	item(p, "task_storage", map >= 0, "BPF_MAP_TYPE_TASK_STORAGE %s%s (5.11+)",
		     map >= 0 ? "created" : "not created: ", map >= 0 ? "" : strerror(-map));
	id = btf ? btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF) : -1;
	if (map >= 0 && id > 0) {
		const struct bpf_insn insns[] = {
			CALL(BPF_FUNC_get_current_task_btf),
			MOV_REG(BPF_REG_2, BPF_REG_0),
			LD_MAP(BPF_REG_1, map),
			MOV_IMM(BPF_REG_3, 0),
			MOV_IMM(BPF_REG_4, 0),
			CALL(BPF_FUNC_task_storage_get),
			MOV_IMM(BPF_REG_0, 0),
			EXIT(),
		};

		fd = load(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, insns,
			  sizeof(insns) / sizeof(insns[0]));
	}
	item(p, "task_storage_tracing", fd >= 0, "%s (5.13+)",
		     map < 0 || id <= 0 ? "no task storage map or no tp_btf target" : fd >= 0 ?
		     "bpf_task_storage_get() accepted in a tp_btf program" :
		     "bpf_task_storage_get() refused in a tp_btf program");
	if (fd >= 0)
		close(fd);
	if (map >= 0)
		close(map);
}

/* The observer's user-space fallback: lookup + delete before 5.14. */
static void lookup_and_delete(struct kp_probe *p)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "kp_probe", 4, 4, 1, NULL), ret;
	__u32 k = 1, v = 7, out = 0;

	if (fd < 0) {
		item(p, "hash_lookup_and_delete", false, "no hash map: %s", strerror(errno));
		return;
	}
	ret = bpf_map_update_elem(fd, &k, &v, BPF_ANY) ?: bpf_map_lookup_and_delete_elem(fd, &k, &out);
	item(p, "hash_lookup_and_delete", !ret && out == v, "%s (5.14+; else lookup, then delete)",
		     !ret ? "BPF_MAP_LOOKUP_AND_DELETE_ELEM on a hash map works" :
		     errno == ENOTSUPP ? "not supported on hash maps" : strerror(errno));
	close(fd);
}

static void map_type(struct kp_probe *p, const char *key, enum bpf_map_type t, const char *what)
{
	int r = libbpf_probe_bpf_map_type(t, NULL);

	item(p, key, r > 0, "%s%s", what, r > 0 ? "" : r == 0 ? ": not supported" : ": cannot tell");
}

/* The steering program types later issues need. */
static void steering(struct kp_probe *p)
{
	const struct bpf_insn migrate[] = {
		LDX_DW(BPF_REG_0, BPF_REG_1, offsetof(struct sk_reuseport_md, migrating_sk)),
		MOV_IMM(BPF_REG_0, 1),	/* SK_PASS */
		EXIT(),
	};
	int pt = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_REUSEPORT, NULL);
	int mt = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, NULL);
	int fd;

	item(p, "sk_reuseport", pt > 0 && mt > 0,
		     "BPF_PROG_TYPE_SK_REUSEPORT %s, REUSEPORT_SOCKARRAY map %s",
		     pt > 0 ? "loads" : "does not load", mt > 0 ? "created" : "not created");
	pt = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_LOOKUP, NULL);
	item(p, "sk_lookup", pt > 0, "BPF_PROG_TYPE_SK_LOOKUP %s (5.9+)",
		     pt > 0 ? "loads" : "does not load");
	/* The type took any attach type before 5.14: ask for migrating_sk instead. */
	fd = load(BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, 0, migrate,
		  sizeof(migrate) / sizeof(migrate[0]));
	item(p, "reuseport_migrate", fd >= 0,
		     "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE program reading migrating_sk %s (5.14+)",
		     fd >= 0 ? "loads" : "does not load");
	if (fd >= 0)
		close(fd);
}

/* Every tracepoint a kpilot program names, once, present in BTF or not. */
static void tracepoints(struct kp_probe *p, const struct btf *btf, struct bpf_object *obj)
{
	struct bpf_program *prog;
	char key[48];

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog), *tp;
		int nargs = 0;
		bool yes;

		if (strncmp(sec, "tp_btf/", 7))
			continue;	/* each raw_tp twin names the same one */
		tp = sec + 7;
		snprintf(key, sizeof(key), "tracepoint/%s", tp);
		if (kp_probe_find(p, key))
			continue;
		yes = btf && kp_obs_tp_in_btf(btf, tp, &nargs);
		if (yes)
			item(p, key, true, "%d argument%s in BTF", nargs, nargs == 1 ? "" : "s");
		else
			item(p, key, false, btf ? "no btf_trace_%s in BTF: its program is disabled" :
				     "no BTF to tell", tp);
	}
}

/* The shapes the loader and the CO-RE reads pick by. */
static void signatures(struct kp_probe *p, const struct btf *btf)
{
	int n = 0;

	if (btf && kp_obs_tp_in_btf(btf, "block_rq_issue", &n))
		p->block_rq_issue_args = n;
	item(p, "block_rq_signature", n == 1 || n == 2, "%s", n == 1 ?
		     "block_rq_issue(rq): the 5.11+ signature" : n == 2 ?
		     "block_rq_issue(q, rq): the pre-5.11 signature" : "block_rq_issue not in BTF");
	n = 0;
	if (btf && kp_obs_tp_in_btf(btf, "sched_switch", &n))
		p->sched_switch_args = n;
	item(p, "sched_switch_prev_state", n == 4,
		     "sched_switch has %d arguments%s; the handler reads task_struct.%s", n,
		     n == 4 ? ", prev_state among them (5.18+)" : "",
		     kp_obs_btf_has_member(btf, "task_struct", "__state") ? "__state" : "state (pre-5.14)");
	item(p, "run_delay", kp_obs_btf_has_member(btf, "sched_info", "run_delay"),
		     "sched_info.run_delay in BTF: run-queue wait from the kernel's counter, else timed from wakeups");
}

/* Open the three objects (no load) for their program list. */
static void kpilot_tracepoints(struct kp_probe *p, const struct btf *btf)
{
	struct sched_bpf *s = sched_bpf__open();
	struct block_bpf *b = block_bpf__open();
	struct tcp_bpf *t = tcp_bpf__open();

	if (s)
		tracepoints(p, btf, s->obj);
	if (b)
		tracepoints(p, btf, b->obj);
	if (t)
		tracepoints(p, btf, t->obj);
	tcp_bpf__destroy(t);
	block_bpf__destroy(b);
	sched_bpf__destroy(s);
}

/* Open the observer as `kpilot observe` would, read its choice, close it. */
static void mode(struct kp_probe *p)
{
	struct kp_observer_opts o = { .filter = true };
	int verbosity = kp_verbosity;
	struct kp_observer *obs;
	char why[512];
	int ret;

	kp_verbosity = KP_ERR;	/* its warnings are this probe's lines */
	ret = kp_observer_open(&obs, &o, why, sizeof(why));
	kp_verbosity = verbosity;
	if (ret) {
		snprintf(p->mode, sizeof(p->mode), "none");
		snprintf(p->mode_reason, sizeof(p->mode_reason), "the observer does not load: %.360s", why);
		return;
	}
	snprintf(p->task_store, sizeof(p->task_store), "%s",
		 bpf_map__max_entries(obs->sched->maps.task_hash) > 1 ? "hash" : "task storage");
	snprintf(p->runq, sizeof(p->runq), "%s", kp_observer_runq_method(obs));
	if (obs->btf_mode) {
		snprintf(p->mode, sizeof(p->mode), "tp_btf+%s", p->task_store);
		snprintf(p->mode_reason, sizeof(p->mode_reason),
			 "the tp_btf programs load and attach; per-task state in %s; run-queue wait from %s",
			 p->task_store, p->runq);
	} else {
		const struct kp_probe_item *ts = kp_probe_find(p, "task_storage_tracing");

		snprintf(p->mode, sizeof(p->mode), "raw_tp legacy");
		snprintf(p->mode_reason, sizeof(p->mode_reason), "%.240s%s; per-task state in a %s; run-queue wait %s",
			 obs->fallback_why[0] ? obs->fallback_why : "tp_btf failed",
			 ts && !ts->yes ? " (no task storage for tracing programs: 5.13+)" : "",
			 p->task_store, p->runq);
	}
	kp_observer_close(obs);
}

/* The controllers on v1 hierarchies: /proc/cgroups rows with a hierarchy id. */
static void cgroup_v1(struct kp_probe *p)
{
	char line[256], name[64];
	int hier, num, enabled;
	FILE *f = fopen("/proc/cgroups", "r");
	size_t n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %d %d %d", name, &hier, &num, &enabled) != 4 || name[0] == '#')
			continue;
		if (hier && enabled && n + strlen(name) + 2 < sizeof(p->cgroup_v1))
			n += snprintf(p->cgroup_v1 + n, sizeof(p->cgroup_v1) - n, "%s%s", n ? "," : "", name);
	}
	if (f)
		fclose(f);
}

/* The v2 root's controllers, space-separated in the file: commas here. */
static bool cgroup_v2(struct kp_probe *p, const char *root)
{
	char path[128], *c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(p->cgroup_v2, sizeof(p->cgroup_v2), f))
		p->cgroup_v2[0] = '\0';
	fclose(f);
	p->cgroup_v2[strcspn(p->cgroup_v2, "\n")] = '\0';
	for (c = p->cgroup_v2; *c; c++)
		if (*c == ' ')
			*c = ',';
	return true;
}

static bool is_fs(const char *path, long magic)
{
	struct statfs s;

	return !statfs(path, &s) && s.f_type == magic;
}

static void cgroups(struct kp_probe *p)
{
	const char *v2root = NULL;
	bool v2 = false;

	cgroup_v1(p);
	if (is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
		v2root = "/sys/fs/cgroup";
	else if (is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
		v2root = "/sys/fs/cgroup/unified";
	if (v2root)
		v2 = cgroup_v2(p, v2root);
	snprintf(p->cgroup_layout, sizeof(p->cgroup_layout), "%s", v2root && p->cgroup_v1[0] ? "hybrid" :
		 v2root ? "v2" : p->cgroup_v1[0] ? "v1" : "none");
	item(p, "cgroup", strcmp(p->cgroup_layout, "none"), "%s: /sys/fs/cgroup is %s",
		     p->cgroup_layout, v2root && !strcmp(v2root, "/sys/fs/cgroup") ? "cgroup2" :
		     is_fs("/sys/fs/cgroup", TMPFS_MAGIC) ? "a tmpfs of v1 hierarchies" : "not a cgroup mount");
	item(p, "cgroup_v1", p->cgroup_v1[0], "%s", p->cgroup_v1[0] ? p->cgroup_v1 :
		     "no controller on a v1 hierarchy");
	item(p, "cgroup_v2", v2, "%s%s%s", v2 ? v2root : "no cgroup2 mount",
		     v2 ? ": " : "", v2 ? (p->cgroup_v2[0] ? p->cgroup_v2 : "no controllers") : "");
}

/*
 * In a child, in a new netns: its own net.core.somaxconn, and whether a
 * netem qdisc can be added to its lo (as test_netem asks). The caller's
 * netns is untouched; the child's vanishes with it.
 */
static void netns_child(int fd)
{
	char buf[32];
	FILE *f;

	if (unshare(CLONE_NEWNET)) {
		dprintf(fd, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		_exit(1);
	}
	f = fopen("/proc/sys/net/core/somaxconn", "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		dprintf(fd, "net.core.somaxconn unreadable in the new netns\n");
		_exit(1);
	}
	buf[strcspn(buf, "\n")] = '\0';
	dprintf(fd, "%s\n%d\n", buf,
		system("tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1") == 0);
	_exit(0);
}

static void netns(struct kp_probe *p)
{
	char buf[128] = "", *nl;
	int fds[2], st = 0, netem = 0;
	ssize_t n = 0;
	pid_t pid;

	if (pipe(fds)) {
		item(p, "netns_sysctl", false, "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		netns_child(fds[1]);
	}
	close(fds[1]);
	if (pid > 0) {
		n = read(fds[0], buf, sizeof(buf) - 1);
		waitpid(pid, &st, 0);
	}
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	nl = strchr(buf, '\n');
	if (nl) {
		*nl = '\0';
		netem = atoi(nl + 1);
	}
	if (pid > 0 && WIFEXITED(st) && !WEXITSTATUS(st))
		item(p, "netns_sysctl", true, "net.core.somaxconn=%s in a new network namespace", buf);
	else
		item(p, "netns_sysctl", false, "%s", pid < 0 ? strerror(errno) : buf);
	item(p, "netem", netem, "tc qdisc add ... netem in a private netns %s (optional: tests)",
	     netem ? "works" : "fails: no sch_netem, or no tc");
}

/* pidfd_getfd (5.6): take a socket from another process, for steering. */
static void pidfd_getfd(struct kp_probe *p)
{
	int pfd = syscall(SYS_pidfd_open, getpid(), 0), fd = -1;

	if (pfd >= 0)
		fd = syscall(SYS_pidfd_getfd, pfd, pfd, 0);
	item(p, "pidfd_getfd", fd >= 0, "%s (5.6+)", fd >= 0 ? "duplicated an fd of this process" :
		     pfd < 0 ? "no pidfd_open" : strerror(errno));
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
}

static void probe_system(struct kp_probe *p)
{
	cgroups(p);
	netns(p);
	pidfd_getfd(p);
}

/* libbpf passes its own format: checked there */
__attribute__((format(printf, 2, 0)))
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* A refusal is an answer here: libbpf's own lines only with -v. */
	if (kp_verbosity < KP_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* bpf() at all: root, and not refused by lockdown or a sysctl. */
static int bpf_permitted(char *why, size_t len)
{
	int fd;

	if (geteuid() != 0) {
		snprintf(why, len, "needs root (CAP_BPF and CAP_PERFMON) to load its test programs");
		return -EPERM;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "kp_probe", 4, 4, 1, NULL);
	if (fd < 0 && (errno == EPERM || errno == EACCES)) {
		snprintf(why, len, "bpf() is not permitted here (%s): a container without CAP_BPF, "
			 "or kernel lockdown", strerror(errno));
		return -EPERM;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

int kp_probe_run(struct kp_probe *p, char *why, size_t len)
{
	struct btf *btf;
	struct utsname u;
	int ret;

	memset(p, 0, sizeof(*p));
	uname(&u);
	snprintf(p->release, sizeof(p->release), "%s", u.release);
	libbpf_set_print(quiet);
	ret = bpf_permitted(why, len);
	if (ret)
		return ret;
	btf = btf__load_vmlinux_btf();
	if (btf)
		item(p, "btf", true, "/sys/kernel/btf/vmlinux, %u types", btf__type_cnt(btf));
	else
		item(p, "btf", false, "no usable /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y): %s",
		     strerror(errno));
	tracing(p, btf, "tp_btf", BPF_TRACE_RAW_TP, "btf_trace_sched_switch", BTF_KIND_TYPEDEF,
		"tp_btf/sched_switch program");
	raw_tp(p);
	tracing(p, btf, "fentry", BPF_TRACE_FENTRY, "vfs_read", BTF_KIND_FUNC, "fentry/vfs_read program");
	tracing(p, btf, "task_iter", BPF_TRACE_ITER, "bpf_iter_task", BTF_KIND_FUNC, "iter/task program");
	map_type(p, "ringbuf", BPF_MAP_TYPE_RINGBUF, "BPF_MAP_TYPE_RINGBUF (5.8+)");
	task_storage(p, btf);
	lookup_and_delete(p);
	signatures(p, btf);
	kpilot_tracepoints(p, btf);
	probe_system(p);
	steering(p);
	btf__free(btf);
	mode(p);
	return 0;
}
