/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A stream pipeline's description (JSON; schema in Documentation/pipeline.md):
 * how to start it, its operators and their cgroups, the DAG, the CPU budget,
 * and the weights of the reward a controller is judged by. Pure parsing.
 */
#ifndef KPILOT_PIPELINE_DESC_H
#define KPILOT_PIPELINE_DESC_H

#include <stdbool.h>
#include <stddef.h>

#define KP_PIPE_MAX_OPS		8
#define KP_PIPE_MAX_EDGES	32
#define KP_PIPE_MAX_ARGS	32
#define KP_PIPE_MAX_RATES	8

struct kp_pipe_op {
	char name[32];
	char cgroup[200];		/* relative to the v2 root or each v1 controller mount */
	int workers, workers_min, workers_max;
};

/* What the controllers are judged by (defaults in kp_pipe_desc_parse). */
struct kp_pipe_reward {
	double w_attainment;		/* per unit of attainment (achieved/target, capped at 1) */
	double w_latency;		/* per unit of min(1, p99 / latency_slo_ms) */
	double w_cpu;			/* per unit of allocated quota / budget */
	double w_errors;		/* per interval with an error (no report, refused write) */
	double latency_slo_ms;
};

struct kp_pipe_desc {
	char name[64];
	double cpu_budget;		/* cores */
	char *argv[KP_PIPE_MAX_ARGS + 1];	/* launcher command, NULL-terminated; owned */
	int argc;
	bool fifo;			/* launcher.control == "fifo" */
	int stop_signal;
	double stop_timeout_s;
	struct kp_pipe_op ops[KP_PIPE_MAX_OPS];
	int nops;
	int edges[KP_PIPE_MAX_EDGES][2];	/* operator indices, producer -> consumer */
	int nedges;
	int topo[KP_PIPE_MAX_OPS];	/* operator indices in a topological order */
	double rate;			/* rate.initial, 0 when absent */
	double rates[KP_PIPE_MAX_RATES];	/* rate.steps */
	int nrates;
	/* names of the report fields */
	char m_throughput[32], m_target[32], m_p50[32], m_p99[32], m_ops[32];
	struct kp_pipe_reward reward;
};

/*
 * Parse and validate. origin names the source in messages. Returns 0 or
 * -EINVAL with one line in why naming the JSON path ("$.operators[2].cgroup")
 * and what was expected.
 */
int kp_pipe_desc_parse(const char *text, const char *origin, struct kp_pipe_desc *d,
		       char *why, size_t len);
int kp_pipe_desc_load(const char *path, struct kp_pipe_desc *d, char *why, size_t len);
void kp_pipe_desc_free(struct kp_pipe_desc *d);
/* Index of an operator by name, or -1. */
int kp_pipe_op_index(const struct kp_pipe_desc *d, const char *name);

#endif
