/* SPDX-License-Identifier: GPL-2.0 */
/* How interval metrics are shown: JSON lines, plain lines, a top-like table, histograms. */
#ifndef KPILOT_REPORT_H
#define KPILOT_REPORT_H

#include <stdio.h>
#include <jansson.h>
#include "observe/metrics.h"

struct kp_report_ctx {
	__u64 ts_ns;			/* CLOCK_REALTIME at the end of the interval */
	unsigned int interval_ms;
	/* Operator id -> name, NULL for unknown ids. */
	const char *(*op_name)(const void *arg, __u32 id);
	const void *op_arg;
};

/* One entity as the documented JSON object (see Documentation/metrics.md). */
json_t *kp_report_entity_json(const struct kp_entity *e, const struct kp_report_ctx *c);
json_t *kp_report_summary_json(const struct kp_report_ctx *c, __u64 events, __u64 records,
			       __u64 drops, size_t nprocs);
/* Print a JSON object as one line; returns 0 or -EIO. */
int kp_report_json_line(FILE *f, json_t *obj);

/* "pid=... comm=... cpu_ms=..." one line per entity. */
void kp_report_plain(FILE *f, const struct kp_entity *e, const struct kp_report_ctx *c);

/* Top-like table; `rows` caps the process lines (0: all). */
void kp_report_table(FILE *f, struct kp_interval *iv, const struct kp_report_ctx *c,
		     __u64 events, __u64 drops, int rows);

/* libbpf-tools style log2 histogram of microseconds. */
void kp_print_log2_hist(FILE *f, const __u64 *vals, int slots, const char *title);

/* "8:0" */
void kp_dev_name(__u32 dev, char *buf, size_t len);

#endif
