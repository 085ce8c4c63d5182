// SPDX-License-Identifier: GPL-2.0
/* The pipeline policy's agents (ds2, random) and their checkpoints. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/ckpt.h"
#include "daemon/pipe_agent.h"

#define PP_CKPT_FORMAT	1	/* inside the file's payload: this agent state's layout */

uint64_t pp_ops_hash(const struct kp_pipe_desc *d)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a over "name\0" for each operator */

	for (int i = 0; i < d->nops; i++)
		for (const char *c = d->ops[i].name;; c++) {
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
			if (!*c)
				break;
		}
	return h;
}

void pp_agent_init(struct pp_agent *a, enum pp_agent_kind kind, const struct kp_pipe_desc *d,
		   uint64_t seed)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->nops = d->nops;
	a->ops_hash = pp_ops_hash(d);
	for (int i = 0; i < KP_PIPE_MAX_OPS; i++)
		a->need[i] = NAN;
	kp_rng_seed(&a->rng, seed);
	a->best_reward = -INFINITY;
}

void pp_agent_update(struct pp_agent *a, const struct kp_ds2_op *op, const double *in_force,
		     double reward)
{
	memcpy(a->win[a->nwin++ % PP_DS2_WINDOW], op, a->nops * sizeof(*op));
	if (a->nwin >= 2 * PP_DS2_WINDOW)	/* bounded, and the slots still rotate */
		a->nwin -= PP_DS2_WINDOW;
	if (in_force && isfinite(reward) && (!a->have_best || reward > a->best_reward)) {
		memcpy(a->best, in_force, a->nops * sizeof(double));
		a->best_reward = reward;
		a->have_best = true;
	}
	a->updates++;
}

/* DS2 over the window (the observer's windows and the reports are not aligned). */
static void ds2(struct pp_agent *a, const struct kp_pipe_desc *d, double target, double util,
		const double *cur, double *q)
{
	struct kp_ds2_op op[KP_PIPE_MAX_OPS] = { 0 };
	struct kp_ds2_in in = { .d = d, .target = target, .op = op, .current = cur,
				.utilisation = util };
	double need[KP_PIPE_MAX_OPS];
	int n = a->nwin < PP_DS2_WINDOW ? a->nwin : PP_DS2_WINDOW;

	for (int k = 0; k < n; k++)
		for (int i = 0; i < d->nops; i++) {
			op[i].in += a->win[k][i].in / n;
			op[i].out += a->win[k][i].out / n;
			op[i].cpu += a->win[k][i].cpu / n;
		}
	kp_ds2_quotas(&in, q, need);
	for (int i = 0; i < d->nops; i++)
		if (isfinite(need[i]))
			a->need[i] = need[i];
}

/* A uniformly random split of the budget (exponential weights), on the grid. */
static void random_split(struct pp_agent *a, const struct kp_pipe_desc *d, double *q)
{
	double w[KP_PIPE_MAX_OPS], sum = 0;

	for (int i = 0; i < d->nops; i++) {
		w[i] = -log(1 - kp_rng_uniform(&a->rng));
		sum += w[i];
	}
	for (int i = 0; i < d->nops; i++)
		q[i] = d->cpu_budget * w[i] / sum;
	kp_quota_fit(q, d->nops, d->cpu_budget);
}

void pp_agent_decide(struct pp_agent *a, const struct kp_pipe_desc *d, double target,
		     double utilisation, const double *cur, bool explore, double *q)
{
	if (a->kind == PP_AGENT_DS2) {
		/* DS2 is its own greedy policy: nothing to explore */
		ds2(a, d, target, utilisation, cur, q);
		return;
	}
	ds2(a, d, target, 1.0, cur, q);		/* for the need in status only */
	if (explore)
		random_split(a, d, q);
	else if (a->have_best)
		memcpy(q, a->best, d->nops * sizeof(*q));
	else
		kp_static_quotas(d, q);
	kp_quota_fit(q, d->nops, d->cpu_budget);
}

static void walk(struct kp_ckpt_io *io, void *obj)
{
	struct pp_agent *a = obj;
	int kind = a->kind, format = PP_CKPT_FORMAT;

	kp_ckpt_io_int(io, &format);
	kp_ckpt_io_int(io, &kind);
	kp_ckpt_io_int(io, &a->nops);
	kp_ckpt_io_u64(io, &a->ops_hash);
	if (io->r && (format != PP_CKPT_FORMAT || a->nops < 1 || a->nops > KP_PIPE_MAX_OPS)) {
		io->r->err = -EBADMSG;
		return;
	}
	a->kind = kind;
	kp_ckpt_io_u64(io, &a->updates);
	kp_ckpt_io_int(io, &a->nwin);
	for (int k = 0; k < PP_DS2_WINDOW; k++)
		for (int i = 0; i < a->nops; i++) {
			kp_ckpt_io_f64(io, &a->win[k][i].in);
			kp_ckpt_io_f64(io, &a->win[k][i].out);
			kp_ckpt_io_f64(io, &a->win[k][i].cpu);
		}
	kp_ckpt_io_f64s(io, a->need, a->nops);
	kp_ckpt_io_rng(io, &a->rng);
	kp_ckpt_io_bool(io, &a->have_best);
	kp_ckpt_io_f64s(io, a->best, a->nops);
	kp_ckpt_io_f64(io, &a->best_reward);
}

int pp_agent_save(const struct pp_agent *a, const char *path)
{
	return kp_ckpt_save_walk(path, KP_CKPT_PIPELINE, walk, a);
}

static const char *kind_name(int k)
{
	return k == PP_AGENT_DS2 ? "ds2" : k == PP_AGENT_RANDOM ? "random" : "unknown";
}

int pp_agent_load(struct pp_agent *a, const char *path, char *why, size_t len)
{
	struct pp_agent got = { 0 };
	struct kp_ckpt_reader r;
	struct kp_ckpt_io io = { .r = &r };
	uint8_t *buf = NULL;
	int err;

	err = kp_ckpt_load(path, KP_CKPT_PIPELINE, &buf, &r);
	if (err) {
		snprintf(why, len, "%s", err == -EBADMSG ? "not a checkpoint, truncated or corrupt" :
			 err == -EINVAL ? "the checkpoint of another kind of agent" : strerror(-err));
		goto cleanup;
	}
	walk(&io, &got);
	err = r.err ?: kp_ckpt_end(&r);
	if (!err && (got.nwin < 0 || got.nwin > PP_DS2_WINDOW + PP_DS2_WINDOW))
		err = -EBADMSG;
	if (err) {
		snprintf(why, len, "corrupt agent state");
		goto cleanup;
	}
	if (got.kind != a->kind || got.nops != a->nops || got.ops_hash != a->ops_hash) {
		snprintf(why, len, "it holds a %s agent of %d operators%s; this policy has a %s agent "
			 "of %d", kind_name(got.kind), got.nops, got.ops_hash != a->ops_hash &&
			 got.nops == a->nops ? " with other names" : "", kind_name(a->kind), a->nops);
		err = -EINVAL;
		goto cleanup;
	}
	*a = got;
cleanup:
	free(buf);
	return err;
}
