// SPDX-License-Identifier: GPL-2.0
/*
 * Probe the kernel, pick a program family (tp_btf, else raw_tp) and the
 * programs this kernel has tracepoints for, load the three objects over
 * shared maps and attach them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "lib/log.h"
#include "observe/observer_int.h"
#include "sched.skel.h"
#include "block.skel.h"
#include "tcp.skel.h"

/* fmt is libbpf's: the attribute tells -Wformat=2 (clang) it is a format */
__attribute__((format(printf, 2, 0)))
/* libbpf passes its own format: checked there */
__attribute__((format(printf, 2, 0)))
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

/* Whether `name` is an item of the comma-separated `list`. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = list; p && (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/*
 * Keep one family of programs: tp_btf (names tp_*) or raw_tp (raw_*), and
 * drop those whose tracepoint this kernel lacks, with one warning each.
 * `timed`: run-queue wait is timed from wakeups (no sched_info.run_delay).
 */
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

/* The programs that give a new task its state (sched.bpf.c, task_born()). */
static bool is_birth(const struct bpf_program *p)
{
	char tp[128];

	prog_tp(p, tp, sizeof(tp));
	return !strcmp(tp, "task_newtask") || !strcmp(tp, "sched_process_fork");
}

/* Attach the tracepoint programs of obj: the birth ones, or all the others. */
static int attach_progs(struct kp_observer *obs, struct bpf_object *obj, bool btf_mode,
			bool births)
{
	struct bpf_program *p;
	struct bpf_link *l;
	char tp[128];

	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p) || is_birth(p) != births ||
		    bpf_program__expected_attach_type(p) == BPF_TRACE_ITER)
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

/*
 * Run the seed_tasks iterator once: task storage for every task alive now,
 * created in process context (sched.bpf.c says why not in sched_switch).
 * Called after the birth programs are attached, so no task is missed.
 */
static int seed_tasks(struct kp_observer *obs)
{
	struct bpf_link *l;
	char buf[64];
	int fd, ret = 0;
	ssize_t n;

	l = bpf_program__attach_iter(obs->sched->progs.seed_tasks, NULL);
	if (!l)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(l));
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	/* The program prints nothing: read() returns 0 once every task is seen. */
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
	if (n < 0)
		ret = -errno;
	close(fd);
cleanup:
	bpf_link__destroy(l);
	return ret;
}

void kp_obs_destroy(struct kp_observer *obs)
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

/* Flush interval, program family and shapes, before load. */
static void configure(struct kp_observer *obs, const struct btf *btf, bool btf_mode, bool timed)
{
	__u64 flush_ns = (__u64)obs->opts.interval_ms * 1000000ULL;
	int nargs = 1;

	obs->sched->rodata->flush_ns = flush_ns;
	obs->sched->rodata->filter_members = obs->opts.filter;
	obs->sched->rodata->runq_from_schedinfo = !timed;
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

	/* The iterator creates task storage: tp_btf mode only (legacy: hash). */
	bpf_program__set_autoload(obs->sched->progs.seed_tasks, btf_mode);

	/* Only one of the per-task stores is used: shrink the other to nothing. */
	if (btf_mode) {
		bpf_map__set_max_entries(obs->sched->maps.task_hash, 1);
	} else if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) <= 0) {
		bpf_map__set_type(obs->sched->maps.task_store, BPF_MAP_TYPE_ARRAY);
		bpf_map__set_map_flags(obs->sched->maps.task_store, 0);
		bpf_map__set_max_entries(obs->sched->maps.task_store, 1);
	}
}

/* The sched object owns the shared maps; the others reuse them, then load. */
static int load_shared(struct kp_observer *obs)
{
	int events = bpf_map__fd(obs->sched->maps.events);
	int members = bpf_map__fd(obs->sched->maps.members);
	int procs = bpf_map__fd(obs->sched->maps.proc_stats);
	int ret;

	ret = bpf_map__reuse_fd(obs->block->maps.events, events);
	ret = ret ?: bpf_map__reuse_fd(obs->block->maps.members, members);
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.events, events);
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.members, members);
	ret = ret ?: bpf_map__reuse_fd(obs->block->maps.proc_stats, procs);
	ret = ret ?: bpf_map__reuse_fd(obs->tcp->maps.proc_stats, procs);
	ret = ret ?: block_bpf__load(obs->block);
	return ret ?: tcp_bpf__load(obs->tcp);
}

static int load_all(struct kp_observer *obs, const struct btf *btf, bool btf_mode,
		    char *why, size_t len)
{
	/* Legacy mode also times run-queue waits: what a minimal kernel runs. */
	bool timed = !btf_mode || !btf_has_member(btf, "sched_info", "run_delay");
	int ret;

	obs->sched = sched_bpf__open();
	obs->block = block_bpf__open();
	obs->tcp = tcp_bpf__open();
	if (!obs->sched || !obs->block || !obs->tcp) {
		ret = -errno;
		snprintf(why, len, "cannot open the BPF objects: %s", strerror(-ret));
		return ret;
	}
	obs->runq_timed = timed;
	configure(obs, btf, btf_mode, timed);

	ret = sched_bpf__load(obs->sched);
	ret = ret ?: load_shared(obs);
	/* Births first, then the tasks alive now, then whatever looks state up. */
	ret = ret ?: attach_progs(obs, obs->sched->obj, btf_mode, true);
	if (!ret && btf_mode)
		ret = seed_tasks(obs);
	ret = ret ?: attach_progs(obs, obs->sched->obj, btf_mode, false);
	ret = ret ?: attach_progs(obs, obs->block->obj, btf_mode, false);
	ret = ret ?: attach_progs(obs, obs->tcp->obj, btf_mode, false);
	if (!ret)
		return 0;
	snprintf(why, len, "cannot load or attach the BPF programs (%s mode): %s",
		 btf_mode ? "tp_btf" : "raw_tp", strerror(ret < 0 ? -ret : ret));
	kp_obs_destroy(obs);
	return ret < 0 ? ret : -ret;
}

int kp_obs_load(struct kp_observer *obs, bool legacy, char *why, size_t len)
{
	struct btf *btf;
	int ret = -1;

	libbpf_set_print(libbpf_print);
	btf = btf__load_vmlinux_btf();
	if (!btf)
		kp_warn("cannot read kernel BTF: tracepoints are probed by attaching");
	if (!legacy) {
		ret = load_all(obs, btf, true, why, len);
		if (ret) {
			kp_warn("%s; falling back to raw_tp", why);
			snprintf(obs->fallback_why, sizeof(obs->fallback_why), "%s", why);
		} else
			obs->btf_mode = true;
	}
	if (ret)
		ret = load_all(obs, btf, false, why, len);
	btf__free(btf);
	return ret;
}

/* kpilot probe (probe.c) asks the same questions the loader does. */
bool kp_obs_tp_in_btf(const struct btf *btf, const char *tp, int *nargs)
{
	return tp_in_btf(btf, tp, nargs);
}

bool kp_obs_btf_has_member(const struct btf *btf, const char *type, const char *member)
{
	return btf_has_member(btf, type, member);
}
