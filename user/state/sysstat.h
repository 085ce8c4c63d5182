/* SPDX-License-Identifier: GPL-2.0 */
/* System-wide state from /proc: iowait share, available memory, pressure (PSI). */
#ifndef KPILOT_SYSSTAT_H
#define KPILOT_SYSSTAT_H

struct kp_cpustat {
	unsigned long long iowait, total;	/* jiffies, all CPUs */
};

int kp_cpustat_read(const char *proc, struct kp_cpustat *s);
/* iowait share of CPU time between two readings, 0..1. */
double kp_iowait_share(const struct kp_cpustat *a, const struct kp_cpustat *b);
/* MemAvailable / MemTotal, 0..1; -1 when unreadable. */
double kp_mem_avail(const char *proc);
/* "some avg10" of /proc/pressure/<what> (cpu, io, memory), %; 0 without PSI. */
double kp_psi_some10(const char *proc, const char *what);

#endif
