/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pipeline policy's rate source: where a running pipeline says what it
 * did. A JSON-lines file or FIFO (wordcount's interval lines, read as they
 * are appended; a torn last line waits for its end), or a Prometheus text
 * endpoint on loopback whose counters are turned into rates. Each policy
 * step folds what arrived since the last one into one measurement.
 */
#ifndef KPILOT_DAEMON_PIPE_SRC_H
#define KPILOT_DAEMON_PIPE_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "env/pipeline/pipeline_desc.h"

#define PP_SRC_BUF	65536

enum pp_src_type { PP_SRC_FILE, PP_SRC_PROM };

/* What the pipeline reported over one policy interval. */
struct pp_meas {
	int lines;			/* reports folded in (file) or scrapes (1: prometheus) */
	double dt;			/* seconds they cover */
	double target;			/* the source's target rate (last report), NAN unknown */
	double throughput;		/* records/s at the sink, NAN unknown */
	double p99_ms;			/* the largest p99 among them, NAN unknown */
	double in[KP_PIPE_MAX_OPS], out[KP_PIPE_MAX_OPS];	/* records/s */
};

struct pp_src {
	enum pp_src_type type;
	char path[4096];		/* file or FIFO */
	int fd;
	bool opened_once;		/* the first open skips what is already there */
	dev_t dev;
	ino_t ino;
	char buf[PP_SRC_BUF];
	size_t blen;
	unsigned long long bad_lines;
	/* prometheus */
	char url[256], host[64], req_path[160];
	unsigned int port;
	char m_in[64], m_out[64], m_target[64], m_throughput[64], label[32];
	bool have_prev;
	double prev_t, prev_in[KP_PIPE_MAX_OPS], prev_out[KP_PIPE_MAX_OPS], prev_thr;
	/* folded since the last take */
	double acc_dt, acc_in[KP_PIPE_MAX_OPS], acc_out[KP_PIPE_MAX_OPS], acc_thr;
	double last_target, max_p99, last_take_t;
	int acc_lines;
	/* lines without "dt" since the last take: they share its interval equally */
	double u_in[KP_PIPE_MAX_OPS], u_out[KP_PIPE_MAX_OPS], u_thr;
	int u_n, u_thr_n;
	bool thr_known;
	char error[256];		/* the last problem, "" none */
};

struct kp_json;

/*
 * The source members of a rates object r at path p: exactly one of "file"
 * (an absolute path) and "prometheus" (a loopback URL); the object's other
 * members are the caller's. Also readies s (no fd yet). 0 or -EINVAL in x.
 */
int pp_src_parse(struct pp_src *s, struct kp_json *x, json_t *r, const char *p);

/* Parse "prometheus": URL (http://127.0.0.1:PORT/PATH, loopback only). 0 or -EINVAL with why. */
int pp_src_prom_url(struct pp_src *s, const char *url, char *why, size_t len);

/*
 * Read what arrived and fold it into a measurement of d's operators (its
 * metric names for the file source); resets the accumulators. A d without
 * operators (a sysctl policy's rate objective) reads only its throughput
 * name: the file's lines need no per-operator member. 0 with m
 * filled (m->lines may be 0: nothing new), or -errno with s->error set.
 */
int pp_src_take(struct pp_src *s, const struct kp_pipe_desc *d, double now, struct pp_meas *m);

void pp_src_close(struct pp_src *s);

#endif
