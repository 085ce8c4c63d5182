/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A rate trace: the source rate over time, as CSV lines "time_s,rate"
 * (a header line and '#' comments allowed; times increasing from any start),
 * held from each sample to the next. Documentation/pipeline.md, "Rate traces".
 * Pure parsing and lookup.
 */
#ifndef KPILOT_RATE_TRACE_H
#define KPILOT_RATE_TRACE_H

#include <stddef.h>

struct kp_rate_trace {
	double *t, *rate;	/* t from 0 (the first sample's time subtracted) */
	int n;
	double peak;
};

/* 0 or -errno with why naming the line. */
int kp_rate_trace_parse(const char *text, const char *origin, struct kp_rate_trace *rt,
			char *why, size_t len);
int kp_rate_trace_load(const char *path, struct kp_rate_trace *rt, char *why, size_t len);
/* The rate at trace time t (s from the first sample), held; the last after the end. */
double kp_rate_trace_at(const struct kp_rate_trace *rt, double t);
/* The trace's length: the last sample's time plus the gap before it. */
double kp_rate_trace_duration(const struct kp_rate_trace *rt);
void kp_rate_trace_free(struct kp_rate_trace *rt);

#endif
