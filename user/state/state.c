// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include <string.h>
#include "state/state.h"

static double cpu(const struct kp_state_sample *s)
{
	return s->e->cpu_ns / 1e9 / s->wall_s;
}

static double runq_p99(const struct kp_state_sample *s)
{
	return kp_hist_percentile(s->e->runq_hist, KP_HIST_SLOTS, 99);
}

static double runq_wait_frac(const struct kp_state_sample *s)
{
	const struct kp_entity *e = s->e;

	return e->runq_ns + e->cpu_ns ? (double)e->runq_ns / (e->runq_ns + e->cpu_ns) : 0;
}

static double io_p99(const struct kp_state_sample *s)
{
	return kp_hist_percentile(s->e->io_lat_hist, KP_HIST_SLOTS, 99);
}

static double io_mbps(const struct kp_state_sample *s)
{
	return (s->e->io_read_bytes + s->e->io_write_bytes) / 1e6 / s->wall_s;
}

static double tcp_retrans(const struct kp_state_sample *s)
{
	return s->e->tcp_retrans / s->wall_s;
}

static double tcp_connect_p99(const struct kp_state_sample *s)
{
	return kp_hist_percentile(s->e->tcp_conn_hist, KP_HIST_SLOTS, 99);
}

static double tcp_time_wait(const struct kp_state_sample *s)
{
	return s->e->tcp_time_wait / s->wall_s;
}

static double ctx_switches(const struct kp_state_sample *s)
{
	return (s->e->nvcsw + s->e->nivcsw) / s->wall_s;
}

static double iowait(const struct kp_state_sample *s)
{
	return kp_iowait_share(s->cs0, s->cs1);
}

static double memory_avail(const struct kp_state_sample *s)
{
	return kp_mem_avail("/proc");
}

static double psi_cpu(const struct kp_state_sample *s)
{
	return kp_psi_some10("/proc", "cpu");
}

static double psi_io(const struct kp_state_sample *s)
{
	return kp_psi_some10("/proc", "io");
}

static double psi_memory(const struct kp_state_sample *s)
{
	return kp_psi_some10("/proc", "memory");
}

const struct kp_state_metric kp_bench_state[] = {
	{ "cpu", "cores", "CPU time of the benchmark's processes / wall time (eBPF)", cpu },
	{ "runq_p99_us", "us", "their run-queue wait p99 (eBPF histogram)", runq_p99 },
	{ "runq_wait_frac", "0..1", "run-queue wait / (run-queue wait + CPU) (eBPF)",
	  runq_wait_frac },
	{ "io_p99_us", "us", "their block I/O latency p99 (eBPF histogram)", io_p99 },
	{ "io_mbps", "MB/s", "their block I/O bytes read and written / wall time (eBPF)", io_mbps },
	{ "tcp_retrans", "1/s", "their TCP retransmits / wall time (eBPF)", tcp_retrans },
	{ "tcp_connect_p99_us", "us", "their TCP connect latency p99 (eBPF histogram)",
	  tcp_connect_p99 },
	{ "tcp_time_wait", "1/s", "their sockets entering TIME_WAIT / wall time (eBPF)",
	  tcp_time_wait },
	{ "ctx_switches", "1/s", "their voluntary + involuntary context switches / wall time (eBPF)",
	  ctx_switches },
	{ "iowait", "0..1", "system iowait share of CPU time over the trial (/proc/stat)", iowait },
	{ "memory_avail", "0..1", "MemAvailable / MemTotal after the trial (/proc/meminfo)",
	  memory_avail },
	{ "psi_cpu", "%", "/proc/pressure/cpu some avg10 after the trial", psi_cpu },
	{ "psi_io", "%", "/proc/pressure/io some avg10 after the trial", psi_io },
	{ "psi_memory", "%", "/proc/pressure/memory some avg10 after the trial", psi_memory },
	{ NULL },
};

const struct kp_state_metric *kp_bench_state_find(const char *name)
{
	const struct kp_state_metric *m;

	for (m = kp_bench_state; m->name; m++)
		if (!strcmp(m->name, name))
			return m;
	return NULL;
}

const struct kp_state_metric kp_pipe_state_metrics[KP_PS_COUNT] = {
	[KP_PS_TARGET] = { "target", "records/s", "the sources' target rate (the pipeline's report)" },
	[KP_PS_THROUGHPUT] = { "throughput", "records/s", "records through the sinks (report)" },
	[KP_PS_P99_MS] = { "p99_ms", "ms", "end-to-end latency p99 (report)" },
	[KP_PS_ALLOC] = { "alloc_cores", "cores", "sum of the operators' cpu.max quotas" },
	[KP_PS_NEED] = { "need_cores", "cores", "DS2's estimate of the need at utilisation 1" },
	[KP_PS_THROTTLED] = { "throttled_s", "s", "time the operators' cgroups were throttled "
			      "(cpu.stat)" },
	[KP_PS_RECONFIGURED] = { "reconfigured", "0/1", "whether a quota changed before the interval" },
	[KP_PS_REWARD] = { "reward", "", "the interval's reward under the description's weights" },
	[KP_PS_OCCUPANCY] = { "occupancy_max", "0..1", "the fullest operator input queue (report)" },
	[KP_PS_BLOCKED] = { "blocked_s", "s", "time operators waited on full downstream queues "
			    "(report), summed" },
};
