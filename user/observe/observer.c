// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "lib/log.h"
#include "observe/observer.h"
#include "sched.skel.h"
#include "block.skel.h"
#include "tcp.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

struct kp_operator {
	struct kp_opspec spec;
	char cgdir[PATH_MAX];
};

struct kp_observer {
	struct kp_observer_opts opts;
	struct sched_bpf *sched;
	struct block_bpf *block;
	struct tcp_bpf *tcp;
	bool btf_mode;			/* tp_btf family loaded (else raw_tp) */
	bool runq_timed;		/* run-queue wait from wakeups, not run_delay */
	struct ring_buffer *rb;
	struct bpf_link *links[64];	/* tracepoint attachments */
	int nlinks;
	int stats_fd;
	struct kp_operator ops[KP_MAX_OPERATORS];
	int nops;
	struct kp_interval iv;
	struct kp_table known;		/* tgid -> operator of every process reported */
	bool pinned;
	const char *pin_names[16];
	int npinned;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && kp_verbosity < KP_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && kp_verbosity < KP_DEBUG)
		return 0;
	if (level == LIBBPF_WARN && kp_verbosity < KP_DEBUG)
		return 0;	/* failures are reported by the caller in one line */
	return vfprintf(stderr, fmt, ap);
}

/* Tracepoint `tp` in the kernel's BTF; *nargs gets its argument count. */
static bool tp_in_btf(const struct btf *btf, const char *tp, int *nargs)
{
	const struct btf_type *t;
	char name[128];
	int id;

	if (!btf)
		return true;	/* can't tell: let attach decide */
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id <= 0)
		return false;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type);	/* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);	/* func proto */
	if (nargs && t && btf_is_func_proto(t))
		*nargs = btf_vlen(t) - 1;	/* minus the void *__data */
	return true;
}

/* "tp_block_rq_issue_old" -> "block_rq_issue"; programs name their tracepoint. */
static void prog_tp(const struct bpf_program *p, char *out, size_t len)
{
	const char *sec = bpf_program__section_name(p), *slash = strchr(sec, '/');

	snprintf(out, len, "%s", slash ? slash + 1 : sec);
}

/* Whether struct `type` has member `member` in the kernel's BTF. */
static bool btf_has_member(const struct btf *btf, const char *type, const char *member)
{
	const struct btf_member *m;
	const struct btf_type *t;
	int id, i;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	if (id <= 0)
		return false;
	t = btf__type_by_id(btf, id);
	for (i = 0, m = btf_members(t); i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			return true;
	return false;
}

/*
 * Keep one family of programs: tp_btf (names tp_*) or raw_tp (raw_*), and
 * drop those whose tracepoint this kernel lacks, with one warning each.
 * `timed`: run-queue wait is timed from wakeups (no sched_info.run_delay).
 */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = list; p && (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static void select_progs(struct bpf_object *obj, const struct btf *btf, bool btf_mode,
			 bool timed, const char *absent)
{
	struct bpf_program *p;
	char tp[128];

	bpf_object__for_each_program(p, obj) {
		const char *name = bpf_program__name(p);
		bool want;

		if (!strncmp(name, "tp_", 3))
			want = btf_mode;
		else if (!strncmp(name, "raw_", 4))
			want = !btf_mode;
		else
			continue;
		prog_tp(p, tp, sizeof(tp));
		if (!timed && !strncmp(tp, "sched_wakeup", 12))
			want = false;	/* only the timed method needs wakeups */
		if (want && (!tp_in_btf(btf, tp, NULL) || listed(absent, tp))) {
			/* block_io_start (6.5+) only sharpens attribution: no warning. */
			if (strcmp(tp, "block_io_start"))
				kp_warn("tracepoint %s not in this kernel: %s disabled", tp, name);
			want = false;
		}
		bpf_program__set_autoload(p, want);
	}
}

static int attach_progs(struct kp_observer *obs, struct bpf_object *obj, bool btf_mode)
{
	struct bpf_program *p;
	struct bpf_link *l;
	char tp[128];

	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			int err = -errno;

			if (btf_mode)
				return err;	/* the caller falls back to raw_tp */
			prog_tp(p, tp, sizeof(tp));
			kp_warn("cannot attach to %s (%s): %s disabled", tp, strerror(-err),
				bpf_program__name(p));
			continue;
		}
		if (obs->nlinks == (int)(sizeof(obs->links) / sizeof(obs->links[0]))) {
			bpf_link__destroy(l);
			return -E2BIG;
		}
		obs->links[obs->nlinks++] = l;
	}
	return 0;
}

static void destroy_objs(struct kp_observer *obs)
{
	int i;

	for (i = 0; i < obs->nlinks; i++)
		bpf_link__destroy(obs->links[i]);
	obs->nlinks = 0;
	tcp_bpf__destroy(obs->tcp);
	block_bpf__destroy(obs->block);
	sched_bpf__destroy(obs->sched);
	obs->tcp = NULL;
	obs->block = NULL;
	obs->sched = NULL;
}

static int load_all(struct kp_observer *obs, const struct btf *btf, bool btf_mode,
		    char *err, size_t errlen)
{
	__u64 flush_ns = (__u64)obs->opts.interval_ms * 1000000ULL;
	/* Legacy mode also times run-queue waits: what a minimal kernel runs. */
	bool timed = !btf_mode || !btf_has_member(btf, "sched_info", "run_delay");
	int nargs = 1, ret;

	obs->sched = sched_bpf__open();
	obs->block = block_bpf__open();
	obs->tcp = tcp_bpf__open();
	if (!obs->sched || !obs->block || !obs->tcp) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF objects: %s", strerror(-ret));
		return ret;
	}
	obs->sched->rodata->flush_ns = flush_ns;
	obs->sched->rodata->filter_members = obs->opts.filter;
	obs->sched->rodata->runq_from_schedinfo = !timed;
	obs->runq_timed = timed;
	obs->block->rodata->flush_ns = flush_ns;
	obs->block->rodata->filter_members = obs->opts.filter;
	obs->tcp->rodata->flush_ns = flush_ns;
	obs->tcp->rodata->filter_members = obs->opts.filter;

	select_progs(obs->sched->obj, btf, btf_mode, timed, obs->opts.absent_tps);
	select_progs(obs->block->obj, btf, btf_mode, timed, obs->opts.absent_tps);
	select_progs(obs->tcp->obj, btf, btf_mode, timed, obs->opts.absent_tps);

	/* 5.11 dropped block_rq_issue's request_queue argument. */
	tp_in_btf(btf, "block_rq_issue", &nargs);
	if (btf_mode) {
		/* Only switch off: select_progs() already dropped missing ones. */
		struct bpf_program *off[2] = {
			nargs == 1 ? obs->block->progs.tp_block_rq_insert_old
				   : obs->block->progs.tp_block_rq_insert,
			nargs == 1 ? obs->block->progs.tp_block_rq_issue_old
				   : obs->block->progs.tp_block_rq_issue,
		};

		bpf_program__set_autoload(off[0], false);
		bpf_program__set_autoload(off[1], false);
	} else {
		obs->block->rodata->rq_arg = nargs == 2;
	}

	/* Only one of the per-task stores is used: shrink the other to nothing. */
	if (btf_mode) {
		bpf_map__set_max_entries(obs->sched->maps.task_hash, 1);
	} else if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) <= 0) {
		bpf_map__set_type(obs->sched->maps.task_store, BPF_MAP_TYPE_ARRAY);
		bpf_map__set_map_flags(obs->sched->maps.task_store, 0);
		bpf_map__set_max_entries(obs->sched->maps.task_store, 1);
	}

	ret = sched_bpf__load(obs->sched);
	if (ret)
		goto fail;
	/* The sched object owns the shared maps; the others reuse them. */
	ret = bpf_map__reuse_fd(obs->block->maps.events, bpf_map__fd(obs->sched->maps.events));
	ret = ret ?: bpf_map__reuse_fd(obs->block->maps.members,
				       bpf_map__fd(obs->sched->maps.members));
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.events, bpf_map__fd(obs->sched->maps.events));
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.members,
				       bpf_map__fd(obs->sched->maps.members));
	ret = ret ?: bpf_map__reuse_fd(obs->block->maps.proc_stats,
				       bpf_map__fd(obs->sched->maps.proc_stats));
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.proc_stats,
				       bpf_map__fd(obs->sched->maps.proc_stats));
	ret = ret ?: block_bpf__load(obs->block);
	ret = ret ?: tcp_bpf__load(obs->tcp);
	if (ret)
		goto fail;
	ret = attach_progs(obs, obs->sched->obj, btf_mode);
	ret = ret ?: attach_progs(obs, obs->block->obj, btf_mode);
	ret = ret ?: attach_progs(obs, obs->tcp->obj, btf_mode);
	if (ret)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot load or attach the BPF programs (%s mode): %s",
		 btf_mode ? "tp_btf" : "raw_tp", strerror(ret < 0 ? -ret : ret));
	destroy_objs(obs);
	return ret < 0 ? ret : -ret;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	const struct kp_task_rec *t = data;
	struct kp_observer *obs = ctx;
	struct kp_entity *k;

	if (kp_ingest(&obs->iv, data, size))
		return 0;
	/* Remember who was reported, for the leftovers of dead processes. */
	if (t->hdr.type == KP_REC_TASK || t->hdr.type == KP_REC_PROC) {
		if (obs->known.len > KP_MAX_PROCS * 4)
			kp_table_clear(&obs->known);
		k = kp_table_get(&obs->known, KP_ENTITY_PROCESS, t->hdr.type == KP_REC_TASK ?
				 t->tgid : ((const struct kp_proc_rec *)data)->tgid);
		if (k && t->hdr.op)
			k->op = t->hdr.op;
		if (k && t->hdr.type == KP_REC_TASK)
			memcpy(k->comm, t->comm, sizeof(k->comm));
	}
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* bpf_ktime_get_ns()'s clock */
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Lookup-and-delete for hash maps came in 5.14: fall back to the pair. */
static int take_entry(int fd, __u32 *key, struct kp_proc_acct *v)
{
	if (!bpf_map_lookup_and_delete_elem(fd, key, v))
		return 0;
	if (bpf_map_lookup_elem(fd, key, v))
		return -errno;
	return bpf_map_delete_elem(fd, key) ? -errno : 0;
}

/*
 * Block and tcp counts can land after their process exited: a TIME_WAIT
 * close when the peer's FIN arrives, an I/O completion. Once a dead
 * process's entry has not flushed for an interval, hand its leftovers over
 * as a last record and free the entry.
 */
static void sweep_dead(struct kp_observer *obs)
{
	int fd = bpf_map__fd(obs->sched->maps.proc_stats), n = 0, i;
	__u64 now = mono_ns(), iv_ns = (__u64)obs->opts.interval_ms * 1000000ULL;
	__u32 key, next, *prev = NULL, dead[256];
	struct kp_proc_acct v;

	while (n < 256 && !bpf_map_get_next_key(fd, prev, &next)) {
		if (kill((pid_t)next, 0) && errno == ESRCH &&
		    !bpf_map_lookup_elem(fd, &next, &v) && now - v.last_flush_ns >= iv_ns)
			dead[n++] = next;
		key = next;
		prev = &key;
	}
	for (i = 0; i < n; i++) {
		struct kp_entity *k = kp_table_find(&obs->known, dead[i]);
		struct kp_proc_rec r = { .hdr.type = KP_REC_PROC };

		if (take_entry(fd, &dead[i], &v))
			continue;
		if (!k && obs->opts.filter)
			continue;
		r.hdr.op = k ? k->op : 0;
		r.hdr.ts_ns = now;
		r.tgid = dead[i];
		r.io = v.io;
		r.tcp = v.tcp;
		if (r.io.io_ops || r.tcp.tcp_retrans || r.tcp.tcp_srtt_samples || r.tcp.tcp_active_opens ||
		    r.tcp.tcp_passive_opens || r.tcp.tcp_closes || r.tcp.tcp_time_wait)
			kp_ingest(&obs->iv, &r, sizeof(r));
	}
}

static int ensure_bpffs(const char *dir, char *err, size_t errlen)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		goto mkdir;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		snprintf(err, errlen, "cannot mount bpffs at /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
mkdir:
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int pin_one(struct kp_observer *obs, struct bpf_map *m, const char *name,
		   char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", obs->opts.pin_dir, name);
	unlink(path);	/* a map a previous --keep-pinned run left */
	ret = bpf_map__pin(m, path);
	if (ret) {
		snprintf(err, errlen, "cannot pin %s: %s", path, strerror(-ret));
		return ret;
	}
	obs->pin_names[obs->npinned++] = name;
	return 0;
}

static int pin_maps(struct kp_observer *obs, char *err, size_t errlen)
{
	int ret = ensure_bpffs(obs->opts.pin_dir, err, errlen);

	ret = ret ?: pin_one(obs, obs->sched->maps.members, "members", err, errlen);
	if (!obs->btf_mode)
		ret = ret ?: pin_one(obs, obs->sched->maps.task_hash, "task_hash", err, errlen);
	ret = ret ?: pin_one(obs, obs->block->maps.proc_stats, "proc_stats", err, errlen);
	ret = ret ?: pin_one(obs, obs->block->maps.dev_stats, "dev_stats", err, errlen);
	ret = ret ?: pin_one(obs, obs->block->maps.inflight, "inflight", err, errlen);
	ret = ret ?: pin_one(obs, obs->tcp->maps.sock_owner, "sock_owner", err, errlen);
	ret = ret ?: pin_one(obs, obs->tcp->maps.listeners, "listeners", err, errlen);
	ret = ret ?: pin_one(obs, obs->sched->maps.bss, "sched_cpu_stats", err, errlen);
	obs->pinned = true;
	return ret;
}

static void unpin_maps(struct kp_observer *obs)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < obs->npinned; i++) {
		snprintf(path, sizeof(path), "%s/%s", obs->opts.pin_dir, obs->pin_names[i]);
		unlink(path);
	}
	rmdir(obs->opts.pin_dir);
	obs->npinned = 0;
}

int kp_observer_open(struct kp_observer **out, const struct kp_observer_opts *opts,
		     char *err, size_t errlen)
{
	struct kp_observer *obs;
	struct btf *btf = NULL;
	int ret;

	*out = NULL;
	if (geteuid() != 0) {
		snprintf(err, errlen, "kpilot needs root (CAP_BPF and CAP_PERFMON) to load its eBPF programs");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(err, errlen, "this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			 "kpilot needs CONFIG_DEBUG_INFO_BTF=y");
		return -ENOTSUP;
	}
	obs = calloc(1, sizeof(*obs));
	if (!obs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	obs->opts = *opts;
	if (!obs->opts.interval_ms)
		obs->opts.interval_ms = 1000;
	if (!obs->opts.pin_dir)
		obs->opts.pin_dir = KP_PIN_DIR;
	if (!obs->opts.sysfs_cgroup)
		obs->opts.sysfs_cgroup = "/sys/fs/cgroup";
	if (!obs->opts.proc)
		obs->opts.proc = "/proc";
	obs->stats_fd = -1;
	kp_interval_init(&obs->iv);
	libbpf_set_print(libbpf_print);

	btf = btf__load_vmlinux_btf();
	if (!btf)
		kp_warn("cannot read kernel BTF: tracepoints are probed by attaching");

	ret = -1;
	if (!opts->legacy) {
		ret = load_all(obs, btf, true, err, errlen);
		if (ret)
			kp_warn("%s; falling back to raw_tp", err);
	}
	if (ret) {
		ret = load_all(obs, btf, false, err, errlen);
		if (ret)
			goto fail;
	} else {
		obs->btf_mode = true;
	}
	btf__free(btf);
	btf = NULL;

	obs->rb = ring_buffer__new(bpf_map__fd(obs->sched->maps.events), handle_record, obs, NULL);
	if (!obs->rb) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the ring buffer: %s", strerror(-ret));
		goto fail;
	}
	if (opts->self_stats) {
		obs->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (obs->stats_fd < 0)
			kp_warn("bpf_stats unavailable: %s", strerror(errno));
	}
	if (opts->pin) {
		ret = pin_maps(obs, err, errlen);
		if (ret)
			goto fail;
	}
	/*
	 * Parsing the kernel's BTF (once here, once per object in libbpf)
	 * leaves ~10 MiB of freed heap behind: give it back to the system.
	 */
	malloc_trim(0);
	*out = obs;
	return 0;
fail:
	btf__free(btf);
	kp_observer_close(obs);
	return ret;
}

void kp_observer_close(struct kp_observer *obs)
{
	if (!obs)
		return;
	if (obs->pinned && !obs->opts.keep_pinned)
		unpin_maps(obs);
	ring_buffer__free(obs->rb);
	if (obs->stats_fd >= 0)
		close(obs->stats_fd);
	destroy_objs(obs);
	kp_interval_free(&obs->iv);
	kp_table_free(&obs->known);
	free(obs);
}

const char *kp_observer_mode(const struct kp_observer *obs)
{
	return obs->btf_mode ? "tp_btf" : "raw_tp";
}

const char *kp_observer_runq_method(const struct kp_observer *obs)
{
	return obs->runq_timed ? "timed" : "run_delay";
}

int kp_observer_watch_pid(struct kp_observer *obs, pid_t pid)
{
	static pid_t tree[KP_MAX_PROCS];
	__u32 key, zero = 0;
	int n, i;

	if (kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	/* Its children from before we started too, as fork adds later ones. */
	n = kp_proc_tree(obs->opts.proc, pid, tree, KP_MAX_PROCS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		key = tree[i];
		/* An operator membership wins over a plain watch. */
		if (bpf_map_update_elem(bpf_map__fd(obs->sched->maps.members), &key, &zero,
					BPF_NOEXIST) && errno != EEXIST)
			return -errno;
	}
	return 0;
}

static int add_members(struct kp_observer *obs, __u32 id, const pid_t *pids, int n)
{
	int fd = bpf_map__fd(obs->sched->maps.members), i;

	for (i = 0; i < n; i++) {
		__u32 key = pids[i];

		if (bpf_map_update_elem(fd, &key, &id, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* A pid operator covers its processes' existing descendants too. */
static int add_pid_trees(struct kp_observer *obs, __u32 id, const pid_t *pids, int n)
{
	static pid_t tree[KP_MAX_PROCS];
	int i, k, ret;

	for (i = 0; i < n; i++) {
		k = kp_proc_tree(obs->opts.proc, pids[i], tree, KP_MAX_PROCS);
		if (k < 0)
			return k;
		ret = add_members(obs, id, tree, k);
		if (ret)
			return ret;
	}
	return 0;
}

static int scan_cgroup(struct kp_observer *obs, struct kp_operator *op, __u32 id)
{
	static pid_t pids[KP_MAX_PROCS];
	int n = kp_cgroup_procs(op->cgdir, pids, KP_MAX_PROCS);

	if (n < 0)
		return n;
	return add_members(obs, id, pids, n);
}

int kp_observer_add_operator(struct kp_observer *obs, const struct kp_opspec *spec,
			     char *err, size_t errlen)
{
	struct kp_operator *op;
	__u32 id;
	int i, ret;

	if (obs->nops == KP_MAX_OPERATORS) {
		snprintf(err, errlen, "at most %d operators", KP_MAX_OPERATORS);
		return -E2BIG;
	}
	for (i = 0; i < obs->nops; i++) {
		if (!strcmp(obs->ops[i].spec.name, spec->name)) {
			snprintf(err, errlen, "operator '%s' given twice", spec->name);
			return -EEXIST;
		}
	}
	op = &obs->ops[obs->nops];
	memset(op, 0, sizeof(*op));
	op->spec = *spec;
	id = obs->nops + 1;
	if (spec->type == KP_OP_CGROUP) {
		ret = kp_opspec_cgroup_dir(obs->opts.sysfs_cgroup, spec->cgroup, op->cgdir,
					   sizeof(op->cgdir));
		if (ret) {
			snprintf(err, errlen, "operator '%s': no cgroup '%s' in any hierarchy under %s",
				 spec->name, spec->cgroup, obs->opts.sysfs_cgroup);
			return ret;
		}
		ret = scan_cgroup(obs, op, id);
	} else {
		for (i = 0; i < spec->npids; i++) {
			if (kill(spec->pids[i], 0) && errno == ESRCH) {
				snprintf(err, errlen, "operator '%s': no process %d", spec->name,
					 spec->pids[i]);
				return -ESRCH;
			}
		}
		ret = add_pid_trees(obs, id, spec->pids, spec->npids);
	}
	if (ret) {
		snprintf(err, errlen, "operator '%s': cannot add members: %s", spec->name,
			 strerror(-ret));
		return ret;
	}
	obs->nops++;
	return (int)id;
}

int kp_observer_add_member(struct kp_observer *obs, int op_id, pid_t pid)
{
	if (op_id < 1 || op_id > obs->nops)
		return -EINVAL;
	return add_pid_trees(obs, op_id, &pid, 1);
}

const char *kp_observer_op_name(const struct kp_observer *obs, __u32 id)
{
	if (id < 1 || id > (__u32)obs->nops)
		return NULL;
	return obs->ops[id - 1].spec.name;
}

int kp_observer_nops(const struct kp_observer *obs)
{
	return obs->nops;
}

/*
 * A process that only did I/O or TCP in an interval has no sched record to
 * carry its name: take it from an earlier record, or from /proc.
 */
static void name_processes(struct kp_observer *obs)
{
	struct kp_table *t = &obs->iv.procs;
	char path[64];
	size_t i, n;
	FILE *f;

	for (i = 0; i < t->cap; i++) {
		struct kp_entity *e = &t->slots[i], *k;

		if (!t->used[i] || e->comm[0])
			continue;
		k = kp_table_find(&obs->known, e->id);
		if (k && k->comm[0]) {
			memcpy(e->comm, k->comm, sizeof(e->comm));
			continue;
		}
		snprintf(path, sizeof(path), "%s/%u/comm", obs->opts.proc, e->id);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(e->comm, sizeof(e->comm), f)) {
			n = strcspn(e->comm, "\n");
			e->comm[n] = '\0';
		}
		fclose(f);
	}
}

int kp_observer_poll(struct kp_observer *obs)
{
	int i, ret;

	for (i = 0; i < obs->nops; i++)
		if (obs->ops[i].spec.type == KP_OP_CGROUP)
			scan_cgroup(obs, &obs->ops[i], i + 1);
	ret = ring_buffer__consume(obs->rb);
	if (ret < 0)
		return ret;
	sweep_dead(obs);
	name_processes(obs);
	return 0;
}

struct kp_interval *kp_observer_interval(struct kp_observer *obs)
{
	return &obs->iv;
}

void kp_observer_reset(struct kp_observer *obs)
{
	kp_interval_clear(&obs->iv);
}

static void sum_cpu_stats(const struct kp_cpu_stats *s, __u64 *ev, __u64 *rec, __u64 *drop)
{
	int i;

	for (i = 0; i < KP_MAX_CPUS; i++) {
		*ev += s[i].events;
		*rec += s[i].records;
		*drop += s[i].drops;
	}
}

void kp_observer_counters(const struct kp_observer *obs, __u64 *events, __u64 *records,
			  __u64 *drops)
{
	*events = *records = *drops = 0;
	sum_cpu_stats(obs->sched->bss->cpu_stats, events, records, drops);
	sum_cpu_stats(obs->block->bss->cpu_stats, events, records, drops);
	sum_cpu_stats(obs->tcp->bss->cpu_stats, events, records, drops);
}

static int obj_prog_stats(struct bpf_object *obj, struct kp_prog_stat *out, int n, int max)
{
	struct bpf_prog_info info;
	struct bpf_program *p;
	__u32 len;

	bpf_object__for_each_program(p, obj) {
		if (n >= max || bpf_program__fd(p) < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(p));
		out[n].run_cnt = info.run_cnt;
		out[n].run_time_ns = info.run_time_ns;
		n++;
	}
	return n;
}

int kp_observer_prog_stats(const struct kp_observer *obs, struct kp_prog_stat *out, int max)
{
	int n = 0;

	n = obj_prog_stats(obs->sched->obj, out, n, max);
	n = obj_prog_stats(obs->block->obj, out, n, max);
	return obj_prog_stats(obs->tcp->obj, out, n, max);
}
