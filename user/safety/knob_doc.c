// SPDX-License-Identifier: GPL-2.0
/* What each knob of the table does: one line a person reads in `kpilot report`. */
#include <string.h>
#include "safety/knob_doc.h"

static const struct {
	const char *knob, *doc;
} docs[] = {
	{ "net.core.somaxconn", "longest accept queue a listening socket may ask for (listen()'s backlog is capped to it)" },
	{ "net.core.netdev_max_backlog", "packets queued per CPU when they arrive faster than the kernel processes them" },
	{ "net.core.rmem_max", "largest receive buffer a socket may set with SO_RCVBUF, bytes" },
	{ "net.core.wmem_max", "largest send buffer a socket may set with SO_SNDBUF, bytes" },
	{ "net.core.rmem_default", "receive buffer of a non-TCP socket that sets none, bytes" },
	{ "net.core.wmem_default", "send buffer of a non-TCP socket that sets none, bytes" },
	{ "net.core.busy_poll", "microseconds poll()/select() spin on a device queue before sleeping (0: off)" },
	{ "net.core.busy_read", "microseconds a blocking read spins on a device queue before sleeping (0: off)" },
	{ "net.ipv4.tcp_rmem", "TCP receive buffer: min, default, max bytes (autotuning moves within them)" },
	{ "net.ipv4.tcp_wmem", "TCP send buffer: min, default, max bytes (autotuning moves within them)" },
	{ "net.ipv4.ip_local_port_range", "local ports outgoing connections get: low high" },
	{ "net.ipv4.tcp_congestion_control", "congestion control of new TCP connections (cubic, bbr, ...)" },
	{ "net.ipv4.tcp_slow_start_after_idle", "1: an idle connection restarts from a small congestion window" },
	{ "net.ipv4.tcp_notsent_lowat", "unsent bytes a socket holds before it stops reporting writable" },
	{ "net.ipv4.tcp_fin_timeout", "seconds an orphaned connection waits in FIN_WAIT_2 (not TIME_WAIT)" },
	{ "net.ipv4.tcp_max_syn_backlog", "half-open connections (SYN received) kept per listener" },
	{ "net.ipv4.tcp_max_tw_buckets", "TIME_WAIT sockets kept; beyond it they are destroyed (risky below the default)" },
	{ "net.ipv4.tcp_tw_reuse", "1: outgoing connections may reuse a TIME_WAIT port when timestamps make it safe; 2: loopback only" },
	{ "net.ipv4.tcp_fastopen", "TCP Fast Open, data in the SYN: 1 client, 2 server, 3 both" },
	{ "net.ipv4.tcp_mtu_probing", "packetization-layer path MTU probing: 0 off, 1 after a black hole, 2 always" },
	{ "vm.swappiness", "how readily anonymous memory is swapped out rather than page cache dropped (0-200)" },
	{ "vm.dirty_ratio", "% of memory dirty before writers are made to write back themselves" },
	{ "vm.dirty_background_ratio", "% of memory dirty before the flusher threads start writing back" },
	{ "vm.dirty_expire_centisecs", "age (1/100 s) after which dirty data is written back (risky above 3000)" },
	{ "vm.dirty_writeback_centisecs", "period (1/100 s) of the flusher threads' wakeups (risky above 500)" },
	{ "vm.vfs_cache_pressure", "how hard the dentry and inode caches are reclaimed against the page cache (100: even)" },
	{ "vm.watermark_scale_factor", "free memory kswapd keeps, in 1/10000 of memory: larger wakes it earlier" },
	{ "kernel.sched_autogroup_enabled", "1: the scheduler groups tasks per session, so one busy terminal cannot starve others" },
	{ "kernel.numa_balancing", "1: the kernel moves tasks and memory to the same NUMA node" },
	{ "cpu.max", "CPU time a cgroup may use per period: \"QUOTA PERIOD\" in us, \"max\" unlimited" },
	{ "cpu.weight", "a cgroup's share of CPU under contention, relative to its siblings (100 default)" },
	{ "cpuset.cpus", "the CPUs a cgroup's tasks may run on (\"0-3,6\")" },
	{ "weights", "a service's new connections per replica, weighted (\"default\": the kernel's reuseport hash)" },
};

const char *kp_knob_doc(const char *knob)
{
	const char *attr = knob;
	size_t i;

	if (!strncmp(knob, "cgroup:", 7) || !strncmp(knob, "steer:", 6))
		attr = strrchr(knob, ':') + 1;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (!strcmp(docs[i].knob, attr))
			return docs[i].doc;
	return NULL;
}
