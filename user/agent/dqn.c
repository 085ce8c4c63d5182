// SPDX-License-Identifier: GPL-2.0
/* DQN: replay buffer, target network, epsilon-greedy, TD updates, checkpoints. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/adam.h"
#include "agent/ckpt.h"
#include "agent/dqn.h"
#include "lib/log.h"
#include "agent/rng.h"

struct kp_dqn {
	struct kp_dqn_config cfg;
	struct kp_mlp q, target;
	struct kp_adam opt;
	struct kp_rng rng;
	double eps;
	long steps, updates;
	double last_loss, last_q;

	/* Replay ring: size entries used, next written at head. */
	int size, head;
	float *obs, *next_obs, *rew;
	int32_t *act;
	uint8_t *term;

	float *mb_obs, *mb_next, *dout;
	int *mb_act;
	float *mb_rew;
	uint8_t *mb_term;
};

void kp_dqn_config_default(struct kp_dqn_config *c, int obs_dim, int n_actions)
{
	memset(c, 0, sizeof(*c));
	c->obs_dim = obs_dim;
	c->n_actions = n_actions;
	c->nhidden = 2;
	c->hidden[0] = c->hidden[1] = 64;
	c->buffer_size = 10000;
	c->batch_size = 128;
	c->lr = 2.5e-4;
	c->adam_eps = 1e-8;
	c->gamma = 0.99;
	c->learning_starts = 1000;
	c->train_freq = 4;
	c->target_update = 500;
	c->tau = 1.0;
	c->eps_start = 1.0;
	c->eps_end = 0.01;
	c->eps_decay = 0.995;
	c->explore = true;
	c->huber = false;
	c->max_grad_norm = 10;
	c->seed = 1;
}

static int check_config(const struct kp_dqn_config *c)
{
	int i;

	if (c->obs_dim < 1 || c->obs_dim > KP_MLP_MAX_WIDTH || c->n_actions < 2 ||
	    c->n_actions > KP_MLP_MAX_WIDTH || c->nhidden < 0 ||
	    c->nhidden > KP_MLP_MAX_LAYERS - 1) {
		kp_err("dqn: bad dimensions obs=%d actions=%d layers=%d",
		       c->obs_dim, c->n_actions, c->nhidden);
		return -EINVAL;
	}
	for (i = 0; i < c->nhidden; i++)
		if (c->hidden[i] < 1 || c->hidden[i] > KP_MLP_MAX_WIDTH) {
			kp_err("dqn: hidden layer %d has width %d", i, c->hidden[i]);
			return -EINVAL;
		}
	if (c->buffer_size < 1 || c->batch_size < 1 || c->train_freq < 1 ||
	    c->target_update < 1 || c->learning_starts < 0 || !(c->lr > 0) ||
	    !(c->adam_eps > 0) || !(c->gamma >= 0 && c->gamma <= 1) ||
	    !(c->tau > 0 && c->tau <= 1) || !(c->eps_start >= 0 && c->eps_start <= 1) ||
	    !(c->eps_end >= 0 && c->eps_end <= 1) || !(c->eps_decay > 0 && c->eps_decay <= 1) ||
	    !isfinite(c->max_grad_norm)) {
		kp_err("dqn: a hyperparameter is out of range");
		return -EINVAL;
	}
	return 0;
}

struct kp_mlp *kp_dqn_qnet(struct kp_dqn *d) { return &d->q; }

/*
 * The replay ring and the minibatch scratch, listed once for allocation and
 * release: X(member, count, element size), with N ring entries, B rows per
 * minibatch, O observation and A action widths.
 */
#define DQN_BUFFERS(X)			\
	X(obs, N * O, sizeof(float))	\
	X(next_obs, N * O, sizeof(float)) \
	X(rew, N, sizeof(float))	\
	X(act, N, sizeof(int32_t))	\
	X(term, N, 1)			\
	X(mb_obs, B * O, sizeof(float))	\
	X(mb_next, B * O, sizeof(float)) \
	X(dout, B * A, sizeof(float))	\
	X(mb_act, B, sizeof(int))	\
	X(mb_rew, B, sizeof(float))	\
	X(mb_term, B, 1)

void kp_dqn_destroy(struct kp_dqn *d)
{
	if (!d)
		return;
	kp_mlp_free(&d->q);
	kp_mlp_free(&d->target);
	kp_adam_free(&d->opt);
#define FREE_BUF(member, count, size) free(d->member);
	DQN_BUFFERS(FREE_BUF)
#undef FREE_BUF
	free(d);
}

static int alloc_agent(struct kp_dqn **out, const struct kp_dqn_config *cfg)
{
	int sizes[KP_MLP_MAX_LAYERS + 1], i, err;
	size_t N = cfg->buffer_size, O = cfg->obs_dim, B = cfg->batch_size, A = cfg->n_actions;
	struct kp_dqn *d;

	*out = NULL;
	err = check_config(cfg);
	if (err)
		return err;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	sizes[0] = cfg->obs_dim;
	for (i = 0; i < cfg->nhidden; i++)
		sizes[i + 1] = cfg->hidden[i];
	sizes[cfg->nhidden + 1] = cfg->n_actions;
	err = kp_mlp_init(&d->q, cfg->nhidden + 1, sizes, cfg->batch_size);
	if (!err)
		err = kp_mlp_init(&d->target, cfg->nhidden + 1, sizes, cfg->batch_size);
	if (!err)
		err = kp_adam_init(&d->opt, d->q.nparams, cfg->lr, 0.9, 0.999, cfg->adam_eps);
	if (err)
		goto fail;
	err = -ENOMEM;
#define ALLOC_BUF(member, count, size) if (!(d->member = calloc(count, size))) goto fail;
	DQN_BUFFERS(ALLOC_BUF)
#undef ALLOC_BUF
	kp_rng_seed(&d->rng, cfg->seed);
	d->eps = cfg->eps_start;
	*out = d;
	return 0;
fail:
	kp_dqn_destroy(d);
	return err;
}

int kp_dqn_create(struct kp_dqn **out, const struct kp_dqn_config *cfg)
{
	struct kp_dqn *d;
	int err = alloc_agent(&d, cfg);

	if (err)
		return err;
	kp_mlp_init_orthogonal(&d->q, &d->rng, M_SQRT2, 1.0);
	memcpy(d->target.params, d->q.params, sizeof(float) * d->q.nparams);
	*out = d;
	return 0;
}

int kp_dqn_act_greedy(const struct kp_dqn *d, const float *obs, int *action)
{
	float q[KP_MLP_MAX_WIDTH];
	int a, best = 0;

	if (!kp_all_finite(obs, d->cfg.obs_dim)) {
		kp_err("dqn: non-finite observation refused");
		return -EDOM;
	}
	kp_mlp_infer(&d->q, obs, q);
	if (!kp_all_finite(q, d->cfg.n_actions)) {
		kp_err("dqn: non-finite Q-values");
		return -EDOM;
	}
	for (a = 1; a < d->cfg.n_actions; a++)
		if (q[a] > q[best])
			best = a;
	*action = best;
	return 0;
}

int kp_dqn_act(struct kp_dqn *d, const float *obs, int *action)
{
	/* Drawn even when exploiting: production mode only drops the random picks. */
	double u = kp_rng_uniform(&d->rng);
	int err = kp_dqn_act_greedy(d, obs, action);

	if (err)
		return err;
	if (d->cfg.explore && u < d->eps)
		*action = kp_rng_below(&d->rng, d->cfg.n_actions);
	return 0;
}

static int train_step(struct kp_dqn *d)
{
	const struct kp_dqn_config *c = &d->cfg;
	int B = c->batch_size, O = c->obs_dim, A = c->n_actions, i, a;
	const float *qn, *q;
	double loss = 0, qsum = 0, norm;
	struct kp_vec v = { d->q.grads, d->q.nparams };

	for (i = 0; i < B; i++) {
		uint32_t k = kp_rng_below(&d->rng, d->size);

		memcpy(d->mb_obs + (size_t)i * O, d->obs + (size_t)k * O, sizeof(float) * O);
		memcpy(d->mb_next + (size_t)i * O, d->next_obs + (size_t)k * O, sizeof(float) * O);
		d->mb_act[i] = d->act[k];
		d->mb_rew[i] = d->rew[k];
		d->mb_term[i] = d->term[k];
	}
	qn = kp_mlp_forward(&d->target, d->mb_next, B);
	q = kp_mlp_forward(&d->q, d->mb_obs, B);
	if (!qn || !q)
		return -ENOMEM;
	memset(d->dout, 0, sizeof(float) * B * A);
	for (i = 0; i < B; i++) {
		double mx = qn[(size_t)i * A], y, td;

		for (a = 1; a < A; a++)
			if (qn[(size_t)i * A + a] > mx)
				mx = qn[(size_t)i * A + a];
		y = d->mb_rew[i] + (d->mb_term[i] ? 0 : c->gamma * mx);
		td = q[(size_t)i * A + d->mb_act[i]] - y;
		qsum += q[(size_t)i * A + d->mb_act[i]];
		if (c->huber) {
			double at = fabs(td);

			loss += at < 1 ? 0.5 * td * td : at - 0.5;
			d->dout[(size_t)i * A + d->mb_act[i]] = (td > 1 ? 1 : td < -1 ? -1 : td) / B;
		} else {
			loss += td * td;
			d->dout[(size_t)i * A + d->mb_act[i]] = 2 * td / B;
		}
	}
	loss /= B;
	if (!isfinite(loss)) {
		kp_err("dqn: non-finite TD loss at update %ld; weights left unchanged",
		       d->updates + 1);
		return -EDOM;
	}
	kp_mlp_zero_grad(&d->q);
	kp_mlp_backward(&d->q, d->dout);
	norm = c->max_grad_norm > 0 ? kp_clip_grad_norm(&v, 1, c->max_grad_norm) :
				      kp_grad_norm(&v, 1);
	if (!isfinite(norm)) {
		kp_err("dqn: non-finite gradient at update %ld; weights left unchanged",
		       d->updates + 1);
		return -EDOM;
	}
	kp_adam_step(&d->opt, d->q.params, d->q.grads);
	if (!kp_all_finite(d->q.params, d->q.nparams)) {
		kp_err("dqn: non-finite weights after update %ld; reload a checkpoint",
		       d->updates + 1);
		return -EDOM;
	}
	d->updates++;
	d->last_loss = loss;
	d->last_q = qsum / B;
	d->eps = d->eps * c->eps_decay;
	if (d->eps < c->eps_end)
		d->eps = c->eps_end;
	return 1;
}

int kp_dqn_record(struct kp_dqn *d, const float *obs, int action, float reward,
		  const float *next_obs, bool terminated)
{
	const struct kp_dqn_config *c = &d->cfg;
	int O = c->obs_dim, trained = 0;
	size_t i;

	if (action < 0 || action >= c->n_actions) {
		kp_err("dqn: action %d out of range", action);
		return -EINVAL;
	}
	if (!isfinite(reward) || !kp_all_finite(obs, O) || !kp_all_finite(next_obs, O)) {
		kp_err("dqn: non-finite transition refused");
		return -EDOM;
	}
	memcpy(d->obs + (size_t)d->head * O, obs, sizeof(float) * O);
	memcpy(d->next_obs + (size_t)d->head * O, next_obs, sizeof(float) * O);
	d->act[d->head] = action;
	d->rew[d->head] = reward;
	d->term[d->head] = terminated;
	d->head = (d->head + 1) % c->buffer_size;
	if (d->size < c->buffer_size)
		d->size++;
	d->steps++;

	if (d->steps > c->learning_starts && d->steps % c->train_freq == 0) {
		trained = train_step(d);
		if (trained < 0)
			return trained;
	}
	if (d->steps % c->target_update == 0) {
		for (i = 0; i < d->q.nparams; i++)
			d->target.params[i] = c->tau * d->q.params[i] +
					      (1 - c->tau) * d->target.params[i];
	}
	return trained;
}

void kp_dqn_stats(const struct kp_dqn *d, struct kp_dqn_stats *st)
{
	st->steps = d->steps;
	st->updates = d->updates;
	st->epsilon = d->cfg.explore ? d->eps : 0;
	st->loss = d->last_loss;
	st->q_mean = d->last_q;
	st->buffered = d->size;
}

const struct kp_dqn_config *kp_dqn_config_of(const struct kp_dqn *d)
{
	return &d->cfg;
}

void kp_dqn_set_explore(struct kp_dqn *d, bool on)
{
	d->cfg.explore = on;
}

#define F(T, member) KP_CKPT_FIELD(T, struct kp_dqn_config, member)

/* The file format: fields in this order. */
static const struct kp_ckpt_field config_fields[] = {
	F(INT, obs_dim), F(INT, n_actions), F(INT, nhidden),
	KP_CKPT_ARRAY(struct kp_dqn_config, hidden, nhidden, KP_MLP_MAX_LAYERS - 1),
	F(INT, buffer_size), F(INT, batch_size), F(F64, lr), F(F64, adam_eps), F(F64, gamma),
	F(INT, learning_starts), F(INT, train_freq), F(INT, target_update), F(F64, tau),
	F(F64, eps_start), F(F64, eps_end), F(F64, eps_decay), F(BOOL, explore),
	F(BOOL, huber), F(F64, max_grad_norm), F(U64, seed),
};
#define NR_CONFIG_FIELDS (sizeof(config_fields) / sizeof(config_fields[0]))

static void state_io(struct kp_ckpt_io *io, struct kp_dqn *d)
{
	size_t N = d->cfg.buffer_size, O = d->cfg.obs_dim;

	kp_ckpt_io_f64(io, &d->eps);
	kp_ckpt_io_long(io, &d->steps);
	kp_ckpt_io_long(io, &d->updates);
	kp_ckpt_io_rng(io, &d->rng);
	kp_ckpt_io_f32s(io, d->q.params, d->q.nparams);
	kp_ckpt_io_f32s(io, d->target.params, d->target.nparams);
	kp_ckpt_io_adam(io, &d->opt);
	/* The replay buffer too: a reloaded agent resumes learning exactly. */
	kp_ckpt_io_int(io, &d->size);
	kp_ckpt_io_int(io, &d->head);
	kp_ckpt_io_f32s(io, d->obs, N * O);
	kp_ckpt_io_f32s(io, d->next_obs, N * O);
	kp_ckpt_io_f32s(io, d->rew, N);
	kp_ckpt_io_i32s(io, d->act, N);
	kp_ckpt_io_flags(io, d->term, N);
}

static void save_walk(struct kp_ckpt_io *io, void *obj)
{
	struct kp_dqn *d = obj;

	kp_ckpt_io_fields(io, &d->cfg, config_fields, NR_CONFIG_FIELDS);
	state_io(io, d);
}

int kp_dqn_save(const struct kp_dqn *d, const char *path)
{
	return kp_ckpt_save_walk(path, KP_CKPT_DQN, save_walk, d);
}

/* What the payload says must fit what the configuration allows. */
static bool state_ok(const struct kp_dqn *d)
{
	int i;

	for (i = 0; i < d->cfg.buffer_size; i++)
		if (d->act[i] < 0 || d->act[i] >= d->cfg.n_actions)
			return false;
	return d->size >= 0 && d->size <= d->cfg.buffer_size &&
	       d->head >= 0 && d->head < d->cfg.buffer_size;
}

int kp_dqn_load(struct kp_dqn **out, const char *path)
{
	struct kp_dqn_config c = { 0 };
	struct kp_ckpt_reader r;
	struct kp_ckpt_io io = { .r = &r };
	struct kp_dqn *d = NULL;
	uint8_t *buf;
	int err;

	*out = NULL;
	err = kp_ckpt_load(path, KP_CKPT_DQN, &buf, &r);
	if (err)
		return err;
	/* Sizes come from the file: never allocate before the payload is sane. */
	if (kp_ckpt_io_fields(&io, &c, config_fields, NR_CONFIG_FIELDS) ||
	    (uint64_t)c.buffer_size * c.obs_dim * 8 > r.len)
		goto bad;
	err = alloc_agent(&d, &c);
	if (err)
		goto fail;
	state_io(&io, d);
	if (kp_ckpt_end(&r) || !state_ok(d))
		goto bad;
	free(buf);
	*out = d;
	return 0;
bad:
	err = -EBADMSG;
	kp_err("checkpoint %s: DQN payload does not match its header", path);
fail:
	kp_dqn_destroy(d);
	free(buf);
	return err;
}
