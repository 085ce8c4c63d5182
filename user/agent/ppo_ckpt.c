// SPDX-License-Identifier: GPL-2.0
/* PPO checkpoints: the configuration, the weights, the optimisers, the statistics. */
#include <errno.h>
#include <stdlib.h>
#include "agent/ckpt.h"
#include "lib/log.h"
#include "agent/ppo_impl.h"

#define F(T, member) KP_CKPT_FIELD(T, struct kp_ppo_config, member)

/* The file format: fields in this order. */
static const struct kp_ckpt_field config_fields[] = {
	F(INT, obs_dim), F(INT, act_dim), F(BOOL, continuous), F(INT, nhidden),
	KP_CKPT_ARRAY(struct kp_ppo_config, hidden, nhidden, KP_MLP_MAX_LAYERS - 1),
	F(INT, num_envs), F(INT, num_steps), F(INT, num_minibatches), F(INT, update_epochs),
	F(F64, lr), F(BOOL, anneal_lr), F(LONG, total_steps), F(F64, gamma),
	F(F64, gae_lambda), F(BOOL, norm_adv), F(F64, clip_coef), F(BOOL, clip_vloss),
	F(F64, ent_coef), F(F64, vf_coef), F(F64, max_grad_norm), F(F64, target_kl),
	F(BOOL, norm_obs), F(F64, obs_clip), F(BOOL, norm_reward), F(F64, reward_clip),
	F(F64, init_logstd), F(F64, adam_eps), F(U64, seed),
};
#define NR_CONFIG_FIELDS (sizeof(config_fields) / sizeof(config_fields[0]))

/* The whole agent but the partial rollout: a loaded agent starts a fresh one. */
static void state_io(struct kp_ckpt_io *io, struct kp_ppo *a)
{
	kp_ckpt_io_long(io, &a->iteration);
	kp_ckpt_io_long(io, &a->global_step);
	kp_ckpt_io_rng(io, &a->rng);
	kp_ckpt_io_f32s(io, a->actor.params, a->actor.nparams);
	kp_ckpt_io_f32s(io, a->critic.params, a->critic.nparams);
	kp_ckpt_io_f32s(io, a->logstd, a->cfg.act_dim);
	kp_ckpt_io_adam(io, &a->opt_actor);
	kp_ckpt_io_adam(io, &a->opt_critic);
	kp_ckpt_io_adam(io, &a->opt_logstd);
	kp_ckpt_io_rms(io, &a->obs_rms);
	kp_ckpt_io_rms(io, &a->ret_rms);
	kp_ckpt_io_f64s(io, a->ret_acc, a->cfg.num_envs);
}

static void save_walk(struct kp_ckpt_io *io, void *obj)
{
	struct kp_ppo *a = obj;

	kp_ckpt_io_fields(io, &a->cfg, config_fields, NR_CONFIG_FIELDS);
	state_io(io, a);
}

int kp_ppo_save(const struct kp_ppo *a, const char *path)
{
	return kp_ckpt_save_walk(path, KP_CKPT_PPO, save_walk, a);
}

int kp_ppo_load(struct kp_ppo **out, const char *path)
{
	struct kp_ckpt_reader r;
	struct kp_ckpt_io io = { .r = &r };
	struct kp_ppo_config c = { 0 };
	struct kp_ppo *a = NULL;
	uint8_t *buf;
	int err;

	*out = NULL;
	err = kp_ckpt_load(path, KP_CKPT_PPO, &buf, &r);
	if (err)
		return err;
	err = kp_ckpt_io_fields(&io, &c, config_fields, NR_CONFIG_FIELDS);
	if (!err)
		err = kp_ppo_alloc(&a, &c);
	if (!err) {
		state_io(&io, a);
		err = kp_ckpt_end(&r);
	}
	if (err) {
		kp_err("checkpoint %s: PPO payload does not match its header", path);
		kp_ppo_destroy(a);
		free(buf);
		return err == -ENOMEM ? err : -EBADMSG;
	}
	free(buf);
	*out = a;
	return 0;
}
