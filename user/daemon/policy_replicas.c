// SPDX-License-Identifier: GPL-2.0
/*
 * The replicas policy kind (policy.h): a service of N replica processes
 * listening on one port with SO_REUSEPORT, whose new connections the kernel
 * steers by weights (bpf/steer.bpf.c) that an agent sets each interval
 * through the knob steer:<service>:weights. Parse, start, status, free; the
 * interval is policy_replicas_run.c. Documentation/daemon.md, "The replicas
 * policy".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/config.h"
#include "daemon/figures.h"
#include "daemon/policy_replicas.h"
#include "lib/json.h"
#include "lib/log.h"
#include "observe/opspec.h"
#include "safety/session.h"

static const char *const agents[] = { "dqn", "prequal", "random", NULL };
const char *const rp_keys[] = { "service", "port", "replicas", "delta", "initial_weight",
				"checkpoint_every", "batch_size", "learning_starts",
				"target_update", "buffer_size", "seed", NULL };

static int parse_replicas(struct kp_json *x, const char *path, json_t *obj,
			  const struct kp_dm_config *cfg, struct rp_priv *r)
{
	json_t *arr = json_object_get(obj, "replicas"), *v;
	char p[128], q[160];
	size_t i;

	snprintf(p, sizeof(p), "%s.replicas", path);
	if (!arr)
		return kp_json_fail(x, path, "a replicas policy needs \"replicas\" (operator names)");
	if (!json_is_array(arr))
		return kp_json_want(x, p, "an array of operator names", arr);
	if (json_array_size(arr) < 2 || json_array_size(arr) > RP_MAX)
		return kp_json_fail(x, p, "%zu replicas: a replicas policy steers 2-%d",
				    json_array_size(arr), RP_MAX);
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(v);
		int c;

		snprintf(q, sizeof(q), "%s[%zu]", p, i);
		if (!name)
			return kp_json_want(x, q, "an operator name", v);
		for (c = 0; c < cfg->nops && strcmp(cfg->ops[c].name, name); c++)
			;
		if (c == cfg->nops)
			return kp_json_fail(x, q, "'%s' is not an operator of $.operators", name);
		if (cfg->ops[c].type == KP_OP_PIDS && cfg->ops[c].npids != 1)
			return kp_json_fail(x, q, "operator '%s' has %d pids: a replica is one "
					    "process", name, cfg->ops[c].npids);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->r[j].op, name))
				return kp_json_fail(x, q, "'%s' is already %s[%zu]", name, p, j);
		snprintf(r->r[i].op, sizeof(r->r[i].op), "%s", name);
		r->n++;
	}
	return 0;
}

static int parse_agent_opts(struct kp_json *x, const char *path, json_t *obj, struct rp_priv *r)
{
	long long b = 64, ls = 64, tu = 100, bs = 10000, seed = 1;
	int ret;

	ret = kp_json_int(x, obj, path, "batch_size", 1, 4096, &b);
	ret = ret ?: kp_json_int(x, obj, path, "learning_starts", 1, 1000000, &ls);
	ret = ret ?: kp_json_int(x, obj, path, "target_update", 1, 1000000, &tu);
	ret = ret ?: kp_json_int(x, obj, path, "buffer_size", 1, 1000000, &bs);
	ret = ret ?: kp_json_int(x, obj, path, "seed", 0, (1LL << 62), &seed);
	if (ret)
		return ret;
	if (b > bs)
		return kp_json_fail(x, path, "batch_size %lld is larger than buffer_size %lld", b,
				    bs);
	r->batch = (int)b;
	r->learning_starts = (int)ls;
	r->target_update = (int)tu;
	r->buffer_size = (int)bs;
	r->seed = (unsigned long long)seed;
	return 0;
}

/* checkpoint_every: the seed's name for save_every (gradient steps between checkpoints). */
static int parse_ckpt_every(struct kp_policy *p, struct kp_json *x, const char *path,
			    json_t *obj)
{
	long long v = 500;
	int ret;

	if (json_object_get(obj, "checkpoint_every") && json_object_get(obj, "save_every"))
		return kp_json_fail(x, path, "give \"checkpoint_every\" or \"save_every\", not "
				    "both");
	if (json_object_get(obj, "save_every"))
		return 0;
	ret = kp_json_int(x, obj, path, "checkpoint_every", 0, 1000000, &v);
	p->save_every = (int)v;
	return ret;
}

int rp_parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
	     const struct kp_dm_config *cfg)
{
	struct rp_priv *r = calloc(1, sizeof(*r));
	long long port = 0, delta = 50, w0 = 200;
	char pp[128];
	int ret;

	if (!r)
		return kp_json_fail(x, path, "out of memory");
	p->priv = r;	/* freed by kp_policies_free, parsed or not */
	ret = kp_json_str(x, obj, path, "service", true, r->service, sizeof(r->service));
	if (!ret && !kp_steer_name_ok(r->service))
		ret = kp_json_fail(x, path, "service '%s': 1-63 characters of [A-Za-z0-9_-]",
				   r->service);
	snprintf(pp, sizeof(pp), "%s.port", path);
	if (!ret && !json_object_get(obj, "port"))
		ret = kp_json_fail(x, pp, "missing (the TCP port the replicas listen on)");
	ret = ret ?: kp_json_int(x, obj, path, "port", 1, 65535, &port);
	ret = ret ?: parse_replicas(x, path, obj, cfg, r);
	ret = ret ?: kp_json_int(x, obj, path, "delta", 1, 200, &delta);
	ret = ret ?: kp_json_int(x, obj, path, "initial_weight", 1, 1000, &w0);
	ret = ret ?: parse_agent_opts(x, path, obj, r);
	ret = ret ?: parse_ckpt_every(p, x, path, obj);
	if (!ret && p->interval_ms < 1000)
		ret = kp_json_fail(x, path, "interval_ms %u: the weights knob takes one change a "
				   "second, so a replicas policy's interval is 1000 ms or more",
				   p->interval_ms);
	if (ret)
		return ret;
	r->port = (int)port;
	r->delta = (int)delta;
	r->init_weight = (int)w0;
	r->agent = !strcmp(p->agent, "dqn") ? RP_DQN : !strcmp(p->agent, "prequal") ?
		   RP_PREQUAL : RP_RANDOM;
	snprintf(r->knob, sizeof(r->knob), "steer:%s:weights", r->service);
	return 0;
}

/* A replica's one process: its pid operator's, or the one tgid in its cgroup. */
static int resolve(const struct kp_opspec *op, pid_t *pid, char *why, size_t len)
{
	pid_t pids[2];
	char dir[4200];
	int n;

	if (op->type == KP_OP_PIDS) {
		*pid = op->pids[0];
		return 0;
	}
	if (kp_opspec_cgroup_dir("/sys/fs/cgroup", op->cgroup, dir, sizeof(dir))) {
		snprintf(why, len, "operator %s: no cgroup '%.200s'", op->name, op->cgroup);
		return -ENOENT;
	}
	n = kp_cgroup_procs(dir, pids, 2);
	if (n != 1) {
		snprintf(why, len, "operator %s: cgroup %.200s holds %d processes: a replica is "
			 "one", op->name, dir, n < 0 ? 0 : n);
		return -EINVAL;
	}
	*pid = pids[0];
	return 0;
}

static const struct kp_opspec *op_of(const struct kp_pol_env *e, const char *name)
{
	for (int i = 0; i < e->cfg->nops; i++)
		if (!strcmp(e->cfg->ops[i].name, name))
			return &e->cfg->ops[i];
	return NULL;
}

/*
 * A pinned service nobody journaled (kpilot killed between attaching and its
 * first journaled write) is in mode hash, the kernel's default: taken back.
 * Steering someone else set (the benchmark's rr) is refused.
 */
static int clear_stale(struct kp_policy *p, struct rp_priv *r, char *why, size_t len)
{
	struct kp_steer_stats s;
	int ret = kp_steer_stats_read(r->service, &s);

	if (ret == -ENOENT)
		return 0;
	if (!ret && s.cfg.mode != KP_STEER_HASH) {
		snprintf(why, len, "policy %s: service %s is already steered by someone else "
			 "(mode %u in " KP_STEER_PIN_ROOT "/%s)", p->name, r->service, s.cfg.mode,
			 r->service);
		return -EBUSY;
	}
	kp_info("policy %s: service %s: a pinned default steering left behind is taken back",
		p->name, r->service);
	return kp_steer_detach(r->service, why, len);
}

/* Attach in mode hash (the default: nothing changes yet), tracking on. */
static int attach(struct kp_policy *p, struct rp_priv *r, struct kp_pol_env *e, char *why,
		  size_t len)
{
	pid_t pids[RP_MAX];
	char w[400];
	int ret;

	for (int i = 0; i < r->n; i++) {
		ret = resolve(op_of(e, r->r[i].op), &pids[i], w, sizeof(w));
		if (ret) {
			snprintf(why, len, "policy %s: %s", p->name, w);
			return ret;
		}
		r->r[i].pid = pids[i];
	}
	ret = clear_stale(p, r, why, len);
	if (ret)
		return ret;
	ret = kp_steer_attach(&r->st, r->service, pids, r->n, r->port, KP_STEER_HASH, NULL, true,
			      w, sizeof(w));
	if (ret) {
		snprintf(why, len, "policy %s: steering %s: %s", p->name, r->service, w);
		return ret;
	}
	r->attached = true;
	return 0;
}

/*
 * Equal weights, journaled: the journal's old value is "default", so stop,
 * rollback and a crash's replay put the kernel's hash back. At the first
 * step after an attach, not at start: the replay of a crashed run or a
 * rollback may have written the knob less than its 1 s interval ago.
 */
int rp_equal_weights(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len)
{
	struct rp_priv *r = p->priv;
	struct kp_change ch = { .knob = r->knob };
	char val[KP_VALUE_MAX] = "";
	int ret;

	for (int i = 0; i < r->n; i++)
		snprintf(val + strlen(val), sizeof(val) - strlen(val), "%s%d", i ? " " : "",
			 r->init_weight);
	ch.value = val;
	ret = kp_pol_apply(p, e, &ch, 1, "equal weights after attaching");
	if (ret) {
		snprintf(why, len, "policy %s: %s: %s", p->name, r->knob, p->last_error);
		return ret;
	}
	for (int i = 0; i < r->n; i++)
		r->r[i].weight = (__u32)r->init_weight;
	r->last_write = e->now;
	r->unjournaled = false;
	return 0;
}

int rp_steer_up(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len)
{
	struct rp_priv *r = p->priv;
	char w[200];
	int ret;

	kp_steer_release(&r->st);	/* a rolled-back attachment's tracking link */
	r->attached = false;
	ret = attach(p, r, e, why, len);
	if (ret) {
		if (r->attached)
			kp_steer_detach(r->service, w, sizeof(w));
		kp_steer_release(&r->st);
		r->attached = false;
	}
	/* mode hash until the next step's equal weights: the default, not journaled yet */
	r->unjournaled = r->attached;
	r->have_prev = r->have_obs = false;
	return ret;
}

/* The weights knob in the daemon's session (the built-in definition: nothing narrowed). */
static int add_knob(struct kp_policy *p, struct rp_priv *r, struct kp_pol_env *e, char *why,
		    size_t len)
{
	struct kp_knob k = kp_steer_knob;
	char w[300];
	int ret;

	snprintf(k.name, sizeof(k.name), "%s", r->knob);
	ret = kp_session_add_knob(e->s, &k, w, sizeof(w));
	if (ret)
		snprintf(why, len, "policy %s: %s: %s", p->name, r->knob, w);
	return ret;
}

static int rp_start(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len)
{
	struct rp_priv *r = p->priv;
	char w[200];
	int ret;

	ret = add_knob(p, r, e, why, len);
	ret = ret ?: rp_steer_up(p, e, why, len);
	ret = ret ?: rp_agent_open(p, why, len);
	if (ret) {
		if (r->attached)
			kp_steer_detach(r->service, w, sizeof(w));
		kp_steer_release(&r->st);
		r->attached = false;
		return ret;
	}
	kp_rng_seed(&r->rng, r->seed ^ 0x7265706c69636173ull);
	kp_info("policy %s: service %s port %d, %d replicas, %s program%s, agent %s, "
		"exploration %s", p->name, r->service, r->port, r->n,
		r->st.migrate ? "sk_reuseport/migrate" : "sk_reuseport (plain)",
		r->st.tracking ? ", connections tracked" : "", p->agent,
		p->exploration ? "on" : "off");
	return 0;
}

static json_t *replicas_json(const struct rp_priv *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < r->n; i++) {
		const struct rp_replica *x = &r->r[i];

		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:f, s:I, s:f, s:f, s:f, s:I, "
			"s:I}", "operator", x->op, "pid", (int)x->pid, "weight", (int)x->weight,
			"share", x->share, "active", (json_int_t)x->active,
			"cpu_cores", x->cpu, "runq_wait", x->runq, "congestion", x->congestion,
			"selected", (json_int_t)x->selected, "failed", (json_int_t)x->failed));
	}
	return a;
}

static json_t *rp_status(struct kp_policy *p)
{
	struct rp_priv *r = p->priv;
	struct kp_dqn_stats ds = { 0 };
	json_t *o, *w = json_array();

	if (r->q)
		kp_dqn_stats(r->q, &ds);
	for (int i = 0; w && i < r->n; i++)
		json_array_append_new(w, json_integer(r->r[i].weight));
	o = json_pack("{s:s, s:i, s:s, s:s, s:b, s:o, s:o, s:f, s:I, s:I, s:o, s:o, s:s, "
		      "s:s, s:s, s:I, s:I}",
		      "service", r->service, "port", r->port,
		      "steering", r->attached ? "sk_reuseport" : "none",
		      "program", !r->attached ? "none" : r->st.migrate ? "migrate" : "plain",
		      "tracking", r->st.tracking, "weights", w ? w : json_array(),
		      "replicas", replicas_json(r), "connections_per_s", r->rate,
		      "steps_done", (json_int_t)ds.steps, "buffer_size", (json_int_t)ds.buffered,
		      "epsilon", r->q ? json_real(ds.epsilon) : json_null(),
		      "avg_recent_reward", r->nrecent ? json_real(rp_avg_recent(r)) : json_null(),
		      "model_path", p->ckpt, "checkpoint_at_start",
		      r->ckpt_state[0] ? r->ckpt_state : "not started",
		      "last_action", r->last_why, "failed_selections", (json_int_t)r->failed_total,
		      "refused_actions", (json_int_t)r->refused_actions);
	if (o && r->q) {
		json_object_set_new(o, "dqn_updates", json_integer(ds.updates));
		json_object_set_new(o, "loss", json_real(ds.loss));
	}
	return o;
}

/*
 * `ctl train` / POST /train: extra gradient steps need a replay the
 * kp_dqn interface only feeds through record(); not offered.
 */
static void rp_free(struct kp_policy *p)
{
	struct rp_priv *r = p->priv;

	/* the session restored "default" (detached) unless keep_on_exit: the program stays */
	if (r->attached && r->unjournaled) {
		char why[256];

		/* attached in mode hash, never journaled: nobody else would take it back */
		kp_steer_detach(r->service, why, sizeof(why));
	}
	kp_steer_release(&r->st);
	kp_dqn_destroy(r->q);
	free(r);
	p->priv = NULL;
}

const struct kp_policy_kind kp_policy_replicas = {
	.name = "replicas",
	.keys = rp_keys,
	.agents = agents,
	.parse = rp_parse,
	.start = rp_start,
	.step = rp_step,
	.save = rp_save,
	.status = rp_status,
	.free = rp_free,
};
