// SPDX-License-Identifier: GPL-2.0
/*
 * The observer's life cycle (open, close) and its polling: records from the
 * ring buffer into the interval, the leftovers of dead processes, names.
 * Loading is in load.c, membership in members.c, pinning in pin.c.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "lib/log.h"
#include "observe/observer_int.h"
#include "sched.skel.h"
#include "block.skel.h"
#include "tcp.skel.h"

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

/* Root and kernel BTF, checked before anything is loaded. */
static int check_host(char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "kpilot needs root (CAP_BPF and CAP_PERFMON) to load its eBPF programs");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(why, len, "this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			 "kpilot needs CONFIG_DEBUG_INFO_BTF=y");
		return -ENOTSUP;
	}
	return 0;
}

static void set_defaults(struct kp_observer *obs, const struct kp_observer_opts *opts)
{
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
}

/* The ring buffer, bpf_stats and pinning, once the programs run. */
static int open_outputs(struct kp_observer *obs, char *why, size_t len)
{
	int ret;

	obs->rb = ring_buffer__new(bpf_map__fd(obs->sched->maps.events), handle_record, obs, NULL);
	if (!obs->rb) {
		ret = -errno;
		snprintf(why, len, "cannot open the ring buffer: %s", strerror(-ret));
		return ret;
	}
	if (obs->opts.self_stats) {
		obs->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (obs->stats_fd < 0)
			kp_warn("bpf_stats unavailable: %s", strerror(errno));
	}
	if (obs->opts.pin)
		return kp_obs_pin_maps(obs, why, len);
	return 0;
}

int kp_observer_open(struct kp_observer **out, const struct kp_observer_opts *opts,
		     char *why, size_t len)
{
	struct kp_observer *obs;
	int ret;

	*out = NULL;
	ret = check_host(why, len);
	if (ret)
		return ret;
	obs = calloc(1, sizeof(*obs));
	if (!obs) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	set_defaults(obs, opts);
	ret = kp_obs_load(obs, opts->legacy, why, len);
	ret = ret ?: open_outputs(obs, why, len);
	if (ret) {
		kp_observer_close(obs);
		return ret;
	}
	/*
	 * Parsing the kernel's BTF (once here, once per object in libbpf)
	 * leaves ~10 MiB of freed heap behind: give it back to the system.
	 */
	malloc_trim(0);
	*out = obs;
	return 0;
}

void kp_observer_close(struct kp_observer *obs)
{
	if (!obs)
		return;
	if (obs->pinned && !obs->opts.keep_pinned)
		kp_obs_unpin_maps(obs);
	ring_buffer__free(obs->rb);
	if (obs->stats_fd >= 0)
		close(obs->stats_fd);
	kp_obs_destroy(obs);
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
			kp_obs_scan_cgroup(obs, &obs->ops[i], i + 1);
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
