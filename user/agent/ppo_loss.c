// SPDX-License-Identifier: GPL-2.0
/* PPO losses: clipped surrogate, value loss, entropy, and their gradients. */
#include <math.h>
#include <string.h>
#include "agent/ppo_impl.h"

/* lp[i] = log softmax(logits)[i], stable; returns the entropy. */
static double log_softmax(const double *logits, int n, double *lp)
{
	double mx = logits[0], sum, lse, h = 0;
	int i;

	for (i = 1; i < n; i++)
		if (logits[i] > mx)
			mx = logits[i];
	/* Seeded with the first term, the same sum as from 0, so cppcheck sees
	 * log() never gets 0 (the largest term is exp(0) = 1). */
	sum = exp(logits[0] - mx);
	for (i = 1; i < n; i++)
		sum += exp(logits[i] - mx);
	lse = mx + log(sum);
	for (i = 0; i < n; i++) {
		lp[i] = logits[i] - lse;
		h -= exp(lp[i]) * lp[i];
	}
	return h;
}

double kp_logprob_categorical(const double *logits, int n, int action, double *entropy)
{
	double lp[KP_MLP_MAX_WIDTH], h = log_softmax(logits, n, lp);

	if (entropy)
		*entropy = h;
	return lp[action];
}

double kp_logprob_gaussian(const double *mean, const double *logstd, const double *x,
			   int d, double *entropy)
{
	double lp = 0, h = 0;
	int i;

	for (i = 0; i < d; i++) {
		double z = (x[i] - mean[i]) * exp(-logstd[i]);

		lp += -0.5 * z * z - logstd[i] - LOG_SQRT_2PI;
		h += 0.5 + LOG_SQRT_2PI + logstd[i];
	}
	if (entropy)
		*entropy = h;
	return lp;
}

double kp_ppo_clip_loss(double logratio, double adv, double clip, double *dlogratio)
{
	double r = exp(logratio);
	double rc = r < 1 - clip ? 1 - clip : r > 1 + clip ? 1 + clip : r;
	double l1 = -adv * r, l2 = -adv * rc;

	/* The clipped branch is flat in r: only the unclipped one has a slope. */
	*dlogratio = l1 >= l2 ? -adv * r : 0;
	return l1 >= l2 ? l1 : l2;
}

double kp_ppo_value_loss(double v, double old_v, double ret, double clip, double *dv)
{
	double d = v - old_v, vc, lu, lc;

	lu = (v - ret) * (v - ret);
	if (clip <= 0) {
		*dv = v - ret;
		return 0.5 * lu;
	}
	vc = old_v + (d < -clip ? -clip : d > clip ? clip : d);
	lc = (vc - ret) * (vc - ret);
	if (lu >= lc) {
		*dv = v - ret;
		return 0.5 * lu;
	}
	*dv = (d > -clip && d < clip) ? vc - ret : 0;
	return 0.5 * lc;
}

/* The sample's ratio and clipped surrogate; *dlr is its slope in the log-ratio. */
static double surrogate(struct kp_ppo_sample *s, double logprob, double old_logprob,
			double entropy, double adv, double clip, double *dlr)
{
	s->logprob = logprob;
	s->logratio = logprob - old_logprob;
	s->ratio = exp(s->logratio);
	s->entropy = entropy;
	s->pg_loss = kp_ppo_clip_loss(s->logratio, adv, clip, dlr);
	return s->pg_loss;
}

double kp_ppo_sample_loss_cat(const double *logits, int n, int action, double old_logprob,
			      double adv, double clip, double ent_coef, double *dlogits,
			      struct kp_ppo_sample *s)
{
	double lp[KP_MLP_MAX_WIDTH], h = log_softmax(logits, n, lp), dlr, pg;
	int i;

	pg = surrogate(s, lp[action], old_logprob, h, adv, clip, &dlr);
	for (i = 0; i < n; i++) {
		double p = exp(lp[i]);

		/* dlogp[a]/dz = onehot - p; dH/dz = -p (logp + H). */
		dlogits[i] = dlr * ((i == action) - p) + ent_coef * p * (lp[i] + h);
	}
	return pg - ent_coef * h;
}

double kp_ppo_sample_loss_gauss(const double *mean, const double *logstd, const double *x,
				int d, double old_logprob, double adv, double clip,
				double ent_coef, double *dmean, double *dlogstd,
				struct kp_ppo_sample *s)
{
	double dlr, pg, h;
	double lp = kp_logprob_gaussian(mean, logstd, x, d, &h);
	int i;

	pg = surrogate(s, lp, old_logprob, h, adv, clip, &dlr);
	for (i = 0; i < d; i++) {
		double iv = exp(-2 * logstd[i]), e = x[i] - mean[i];

		dmean[i] = dlr * e * iv;
		/* dH/dlogstd = 1 per dimension. */
		dlogstd[i] = dlr * (e * e * iv - 1) - ent_coef;
	}
	return pg - ent_coef * h;
}

double kp_ppo_mb_grad(struct kp_ppo *a, const uint32_t *ix, size_t M, struct kp_ppo_sums *sum)
{
	const struct kp_ppo_config *c = &a->cfg;
	int O = c->obs_dim, A = c->act_dim;
	double amean = 0, astd = 1, loss = 0, pg = 0, vl_sum = 0, h = 0, okl = 0, kl = 0, cf = 0;
	const float *pout, *vout;
	size_t j;

	if (A < 1 || A > KP_MLP_MAX_WIDTH)	/* as kp_ppo_create keeps it: for z[], g[] */
		return NAN;
	for (j = 0; j < M; j++)
		memcpy(a->mb_obs + j * O, a->obs + (size_t)ix[j] * O, sizeof(float) * O);
	if (c->norm_adv) {
		double ss = 0;

		for (j = 0; j < M; j++)
			amean += a->adv[ix[j]];
		amean /= M;
		for (j = 0; j < M; j++)
			ss += (a->adv[ix[j]] - amean) * (a->adv[ix[j]] - amean);
		/* torch.std is the unbiased estimate. */
		astd = sqrt(ss / (M - 1)) + 1e-8;
	}
	pout = kp_mlp_forward(&a->actor, a->mb_obs, M);
	vout = kp_mlp_forward(&a->critic, a->mb_obs, M);
	if (!pout || !vout)
		return NAN;
	kp_mlp_zero_grad(&a->actor);
	kp_mlp_zero_grad(&a->critic);
	memset(a->logstd_grad, 0, sizeof(float) * A);
	for (j = 0; j < M; j++) {
		size_t k = ix[j];
		double adv = c->norm_adv ? (a->adv[k] - amean) / astd : a->adv[k];
		double z[KP_MLP_MAX_WIDTH], g[KP_MLP_MAX_WIDTH], l, dv, vl;
		struct kp_ppo_sample smp;
		int d;

		for (d = 0; d < A; d++)
			z[d] = pout[j * A + d];
		if (c->continuous) {
			double ls[KP_MLP_MAX_WIDTH], x[KP_MLP_MAX_WIDTH], gls[KP_MLP_MAX_WIDTH];

			for (d = 0; d < A; d++) {
				ls[d] = a->logstd[d];
				x[d] = a->act[k * A + d];
			}
			l = kp_ppo_sample_loss_gauss(z, ls, x, A, a->logp[k], adv, c->clip_coef,
						     c->ent_coef, g, gls, &smp);
			for (d = 0; d < A; d++)
				a->logstd_grad[d] += gls[d] / M;
		} else {
			l = kp_ppo_sample_loss_cat(z, A, (int)a->act[k * A], a->logp[k], adv,
						   c->clip_coef, c->ent_coef, g, &smp);
		}
		/* The loss is a mean over the minibatch: every gradient gets 1/M. */
		for (d = 0; d < A; d++)
			a->mb_dout[j * A + d] = g[d] / M;
		vl = kp_ppo_value_loss(vout[j], a->val[k], a->ret[k],
				       c->clip_vloss ? c->clip_coef : 0, &dv);
		a->mb_dv[j] = c->vf_coef * dv / M;
		loss += l + c->vf_coef * vl;
		pg += smp.pg_loss;
		vl_sum += vl;
		h += smp.entropy;
		okl += -smp.logratio;
		kl += (smp.ratio - 1) - smp.logratio;
		cf += fabs(smp.ratio - 1) > c->clip_coef;
	}
	kp_mlp_backward(&a->actor, a->mb_dout);
	kp_mlp_backward(&a->critic, a->mb_dv);
	if (sum) {
		sum->pg += pg / M;
		sum->v += vl_sum / M;
		sum->h += h / M;
		sum->okl += okl / M;
		sum->kl += kl / M;
		sum->cf += cf / M;
	}
	loss /= M;
	return isfinite(loss) ? loss : NAN;
}

double kp_ppo_minibatch_grad(struct kp_ppo *a, const uint32_t *ix, size_t M)
{
	size_t B = (size_t)a->cfg.num_envs * a->cfg.num_steps, j;

	/* Scratch holds one configured minibatch; indices must be recorded samples. */
	if (M < 2 || M > B / a->cfg.num_minibatches)
		return NAN;
	for (j = 0; j < M; j++)
		if (ix[j] >= (size_t)a->t * a->cfg.num_envs)
			return NAN;
	return kp_ppo_mb_grad(a, ix, M, NULL);
}
