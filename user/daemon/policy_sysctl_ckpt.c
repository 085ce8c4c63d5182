// SPDX-License-Identifier: GPL-2.0
/*
 * A sysctl policy's checkpoint (agent/ckpt.h, kind KP_CKPT_SYSCTL): what its
 * agent continues from. Payload, in order:
 *
 *   u32 knobs; per knob: u32 name length, the name's bytes one u32 each,
 *       u64 min, u64 max, u32 scale (the unit space the trials are in)
 *   u32 metric, u32 minimize; a rate source's metric (SK_RATE): its name next
 *   f64 incumbent objective, u32 its measurements, per knob u64 its value
 *   u32 trials; per trial: f64 u[knobs], f64 objective measured
 *
 * The trials are kept raw (not as rewards): their rewards are taken against
 * the baseline the new run measures. At start the ppo agent is rebuilt by
 * replaying them (propose, tell): its model and its PPO policy are a function
 * of the trials and the seed, so it is the same agent. A checkpoint for other
 * knobs, ranges or another objective is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent/ckpt.h"
#include "daemon/policy_sysctl.h"

#define SK_SEED 0x73797363746cull

static void put_name(struct kp_ckpt_writer *w, const char *s)
{
	kp_ckpt_put_u32(w, (uint32_t)strlen(s));
	for (; *s; s++)
		kp_ckpt_put_u32(w, (unsigned char)*s);
}

static void get_name(struct kp_ckpt_reader *r, char *s, size_t size)
{
	uint32_t n = kp_ckpt_get_u32(r), i;

	if (n >= size) {
		r->err = -EBADMSG;
		n = 0;
	}
	for (i = 0; i < n && !r->err; i++)
		s[i] = (char)kp_ckpt_get_u32(r);
	s[r->err ? 0 : n] = '\0';
}

int sk_save(struct kp_policy *p, char *why, size_t len)
{
	struct sk_priv *k = p->priv;
	struct kp_ckpt_writer w = { 0 };
	int ret;

	if (!k)
		return 0;
	kp_ckpt_put_u32(&w, (uint32_t)k->nk);
	for (int i = 0; i < k->nk; i++) {
		put_name(&w, k->k[i].name);
		kp_ckpt_put_u64(&w, (uint64_t)k->k[i].span.min);
		kp_ckpt_put_u64(&w, (uint64_t)k->k[i].span.max);
		kp_ckpt_put_u32(&w, (uint32_t)k->k[i].span.scale);
	}
	kp_ckpt_put_u32(&w, (uint32_t)k->metric);
	kp_ckpt_put_u32(&w, k->minimize);
	if (k->metric == SK_RATE)
		put_name(&w, k->rate_metric);
	kp_ckpt_put_f64(&w, k->best);
	kp_ckpt_put_u32(&w, (uint32_t)k->best_n);
	for (int i = 0; i < k->nk; i++)
		kp_ckpt_put_u64(&w, (uint64_t)strtoll(k->k[i].best, NULL, 10));
	kp_ckpt_put_u32(&w, (uint32_t)k->nhist);
	for (int t = 0; t < k->nhist; t++) {
		kp_ckpt_put_f64s(&w, k->hist_u[t], k->nk);
		kp_ckpt_put_f64(&w, k->hist_m[t]);
	}
	ret = w.err ?: kp_ckpt_save(p->ckpt, KP_CKPT_SYSCTL, &w);
	kp_ckpt_writer_free(&w);
	if (ret)
		snprintf(why, len, "%s: %s", p->ckpt, strerror(-ret));
	return ret;
}

/* The knobs, ranges and objective the file was made for are this policy's. */
static int check_match(const struct sk_priv *k, struct kp_ckpt_reader *r, char *why, size_t len)
{
	char name[KP_NAME_MAX];
	uint32_t n = kp_ckpt_get_u32(r);

	if (!r->err && n != (uint32_t)k->nk) {
		snprintf(why, len, "made for %u knobs, this policy has %d", n, k->nk);
		return -EINVAL;
	}
	for (int i = 0; i < k->nk && !r->err; i++) {
		long long lo, hi;
		uint32_t sc;

		get_name(r, name, sizeof(name));
		lo = (long long)kp_ckpt_get_u64(r);
		hi = (long long)kp_ckpt_get_u64(r);
		sc = kp_ckpt_get_u32(r);
		if (r->err)
			break;
		if (strcmp(name, k->k[i].name) || lo != k->k[i].span.min || hi != k->k[i].span.max ||
		    sc != (uint32_t)k->k[i].span.scale) {
			snprintf(why, len, "knob %d is %.100s in [%lld, %lld] there, %.100s in "
				 "[%lld, %lld] here", i, name, lo, hi, k->k[i].name, k->k[i].span.min,
				 k->k[i].span.max);
			return -EINVAL;
		}
	}
	if (!r->err) {
		bool same = kp_ckpt_get_u32(r) == (uint32_t)k->metric;

		same &= kp_ckpt_get_u32(r) == (uint32_t)k->minimize;
		if (same && k->metric == SK_RATE) {
			get_name(r, name, sizeof(name));
			same = !strcmp(name, k->rate_metric);
		}
		if (!same && !r->err) {
			snprintf(why, len, "made for another objective than %s %s",
				 k->minimize ? "minimize" : "maximize", sk_metric_name(k));
			return -EINVAL;
		}
	}
	return r->err;
}

static int read_payload(struct sk_priv *k, struct kp_ckpt_reader *r, char *why, size_t len)
{
	long long best[SK_MAX_KNOBS] = { 0 };
	uint32_t n;
	int ret = check_match(k, r, why, len);

	if (ret)
		return ret;
	k->best = kp_ckpt_get_f64(r);
	k->best_n = (int)kp_ckpt_get_u32(r);
	for (int i = 0; i < k->nk; i++)
		best[i] = (long long)kp_ckpt_get_u64(r);
	n = kp_ckpt_get_u32(r);
	if (r->err || n > SK_MAX_HIST)
		return -EBADMSG;
	for (uint32_t t = 0; t < n && !r->err; t++) {
		kp_ckpt_get_f64s(r, k->hist_u[t], k->nk);
		k->hist_m[t] = kp_ckpt_get_f64(r);
		for (int i = 0; i < k->nk; i++)
			if (!(k->hist_u[t][i] >= -1 && k->hist_u[t][i] <= 1))
				r->err = -EBADMSG;
		if (k->hist_m[t] != k->hist_m[t])
			r->err = -EBADMSG;
	}
	ret = r->err ?: kp_ckpt_end(r);
	if (ret)
		return ret;
	for (int i = 0; i < k->nk; i++) {
		if (best[i] < k->k[i].span.min || best[i] > k->k[i].span.max) {
			snprintf(why, len, "the incumbent's %s %lld is outside [%lld, %lld]",
				 k->k[i].name, best[i], k->k[i].span.min, k->k[i].span.max);
			return -EINVAL;
		}
	}
	for (int i = 0; i < k->nk; i++)
		snprintf(k->k[i].best, sizeof(k->k[i].best), "%lld", best[i]);
	k->nhist = (int)n;
	return 0;
}

int sk_load(struct kp_policy *p, char *why, size_t len)
{
	struct sk_priv *k = p->priv;
	struct kp_ckpt_reader r;
	uint8_t *buf = NULL;
	int ret;

	if (access(p->ckpt, F_OK))
		return -ENOENT;
	why[0] = '\0';
	ret = kp_ckpt_load(p->ckpt, KP_CKPT_SYSCTL, &buf, &r);
	if (ret == -EBADMSG)
		snprintf(why, len, "not a checkpoint, truncated or corrupt");
	else if (ret == -EINVAL)
		snprintf(why, len, "a checkpoint of another kind");
	else if (ret)
		snprintf(why, len, "%s", strerror(-ret));
	if (!ret)
		ret = read_payload(k, &r, why, len);
	if (ret == -EBADMSG && !why[0])
		snprintf(why, len, "the payload is malformed");
	free(buf);
	if (ret) {
		/* nothing of it stays: the policy starts fresh */
		k->nhist = 0;
		k->best_n = 0;
		for (int i = 0; i < k->nk; i++)
			snprintf(k->k[i].best, sizeof(k->k[i].best), "%s", k->k[i].orig);
		return ret == -ENOENT ? -EIO : ret;
	}
	k->loaded = true;
	return 0;
}

int sk_agent_open(struct kp_policy *p)
{
	struct sk_priv *k = p->priv;
	struct kp_rollout_config rc;
	double u[SK_MAX_KNOBS];
	int ret;

	kp_rollout_config_default(&rc, k->nk, 0, 2 * SK_MAX_HIST);
	rc.ntrees = 30;		/* fit every interval, under the figures' lock */
	rc.seed = SK_SEED;
	ret = kp_rollout_create(&k->ro, &rc);
	for (int t = 0; !ret && t < k->nhist; t++) {
		ret = kp_rollout_propose(k->ro, u);
		ret = ret ?: kp_rollout_tell(k->ro, k->hist_u[t], NULL, sk_reward(k, k->hist_m[t]));
	}
	return ret;
}
