/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A pipeline run's trace: JSON lines (Documentation/pipeline.md, "The
 * trace"), a header line naming the pipeline, its operators, edges and
 * budget, then one line per control interval with what the environment
 * measured (struct kp_pipe_state), the quotas in force and the change made
 * before the interval. Each line goes out in one write(), so a crash loses
 * at most the interval being written; the reader skips a torn last line.
 * The writer is for tune sessions and the daemon's pipeline policy; the
 * reader for calibration (sim.h) and tests.
 *
 *	kp_trace_open(&tw, path, d, "ds2", why, len);
 *	kp_trace_write(tw, &rec);	// each interval
 *	kp_trace_close(tw);
 *	kp_trace_load(path, &tr, why, len); ... kp_trace_free(&tr);
 */
#ifndef KPILOT_PIPE_TRACE_H
#define KPILOT_PIPE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include "env/pipeline/pipeline.h"
#include "env/pipeline/pipeline_desc.h"

#define KP_TRACE_VERSION 1

/* One control interval. */
struct kp_trace_rec {
	int n;				/* interval number, from 1 */
	double t;			/* s since the run began, at the interval's end */
	double rate;			/* the source's target rate asked for (records/s) */
	struct kp_pipe_state st;	/* what was measured; st.op[i].quota in force */
	bool changed;			/* quotas changed before this interval */
	char reason[64];		/* who changed them ("ds2 interval 4", "pipeline seed") */
	double before[KP_PIPE_MAX_OPS];	/* the quotas before the change (when changed) */
	char deploy[12];		/* staged deployment: "deploy", "verify", "verified",
					 * "rollback", "settle", or "" (none: null) */
};

/* A trace read back: the header's pipeline and every whole interval line. */
struct kp_trace {
	char pipeline[64];
	char algo[16];
	int nops;
	char op[KP_PIPE_MAX_OPS][32];
	int edges[KP_PIPE_MAX_EDGES][2];
	int nedges;
	double budget;
	struct kp_trace_rec *rec;
	int n;
	int torn;			/* lines skipped: a torn last line (or a bad one, counted) */
};

struct kp_trace_writer;

/* Create (truncate) path and write the header. 0 or -errno with why. */
int kp_trace_open(struct kp_trace_writer **out, const char *path, const struct kp_pipe_desc *d,
		  const char *algo, char *why, size_t len);
/* One interval line, in one write(). 0 or -errno (the trace stops; the run goes on). */
int kp_trace_write(struct kp_trace_writer *w, const struct kp_trace_rec *r);
/* 0 or the first -errno met; NULL is fine. */
int kp_trace_close(struct kp_trace_writer *w);

/* The line for r (no newline) into buf: its length, or -ENOSPC. */
int kp_trace_format(const struct kp_trace *hdr, const struct kp_trace_rec *r, char *buf,
		    size_t len);

/*
 * Read a trace. A line that does not parse is skipped and counted in
 * tr->torn (the last line of a run that crashed mid-write); a missing or bad
 * header is an error. 0 or -errno with why.
 */
int kp_trace_load(const char *path, struct kp_trace *tr, char *why, size_t len);
void kp_trace_free(struct kp_trace *tr);

#endif
