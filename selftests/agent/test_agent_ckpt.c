// SPDX-License-Identifier: GPL-2.0
/* Checkpoints: exact round trips, and every damaged file refused. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "env/cartpole.h"
#include "agent/ckpt.h"
#include "agent/dqn.h"
#include "agent/ppo.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/kp-ckpt-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_redirect_stderr();
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *path(const char *name)
{
	static char p[4][128];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static uint8_t *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	uint8_t *b;
	long len;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	b = malloc(len);
	cr_assert_eq(fread(b, 1, len, f), (size_t)len);
	fclose(f);
	*n = len;
	return b;
}

static void spit(const char *p, const uint8_t *b, size_t n)
{
	FILE *f = fopen(p, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* A continuous PPO agent with a few updates behind it (all state non-trivial). */
static struct kp_ppo *trained_ppo(void)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	float obs[3] = { 0.3, -1, 2 }, act[2], r;
	int i;

	kp_ppo_config_default(&c, 3, 2, true);
	c.num_steps = 16;
	c.num_minibatches = 2;
	c.seed = 11;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	for (i = 0; i < 40; i++) {
		cr_assert_eq(kp_ppo_act(a, obs, act, NULL, NULL), 0);
		r = -(act[0] - 0.5) * (act[0] - 0.5);
		obs[0] = act[0];
		obs[1] = act[1];
		obs[2] = r;
		if (kp_ppo_record(a, &r, NULL, NULL, NULL) == 1)
			cr_assert_eq(kp_ppo_update(a, obs, NULL), 0);
	}
	return a;
}

Test(agent_ckpt, ppo_round_trip_gives_identical_actions, .init = setup, .fini = teardown)
{
	struct kp_ppo *a = trained_ppo(), *b;
	float obs[3] = { 0.1, 0.2, -0.3 }, x[2], y[2], lx, ly, vx, vy;
	int i;

	/* Mid-rollout is fine: the partial rollout is dropped on both sides. */
	cr_assert_eq(kp_ppo_save(a, path("ppo.ckpt")), 0);
	cr_assert_eq(kp_ppo_load(&b, path("ppo.ckpt")), 0);
	cr_expect_eq(memcmp(kp_ppo_actor(a)->params, kp_ppo_actor(b)->params,
			    sizeof(float) * kp_ppo_actor(a)->nparams), 0);
	cr_expect_eq(memcmp(kp_ppo_logstd(a), kp_ppo_logstd(b), sizeof(float) * 2), 0);
	cr_expect_eq(memcmp(kp_ppo_config(a), kp_ppo_config(b), sizeof(struct kp_ppo_config)), 0);
	for (i = 0; i < 8; i++) {
		/* Same weights, statistics and PRNG state: the same samples. */
		cr_assert_eq(kp_ppo_act(a, obs, x, &lx, &vx), 0);
		cr_assert_eq(kp_ppo_act(b, obs, y, &ly, &vy), 0);
		cr_expect(x[0] == y[0] && x[1] == y[1] && lx == ly && vx == vy,
			  "step %d: (%g %g) vs (%g %g)", i, x[0], x[1], y[0], y[1]);
		kp_ppo_record(a, &(float){ 1 }, NULL, NULL, NULL);
		kp_ppo_record(b, &(float){ 1 }, NULL, NULL, NULL);
	}
	kp_ppo_destroy(a);
	kp_ppo_destroy(b);
}

Test(agent_ckpt, dqn_round_trip_resumes_exactly, .init = setup, .fini = teardown)
{
	struct kp_dqn_config c;
	struct kp_dqn *a, *b;
	struct kp_cartpole env;
	float obs[4], next[4];
	bool term, trunc;
	int i, x, y;

	kp_dqn_config_default(&c, 4, 2);
	c.buffer_size = 500;
	c.learning_starts = 50;
	c.batch_size = 16;
	cr_assert_eq(kp_dqn_create(&a, &c), 0);
	kp_cartpole_seed(&env, 3);
	kp_cartpole_reset(&env, obs);
	for (i = 0; i < 300; i++) {
		cr_assert_eq(kp_dqn_act(a, obs, &x), 0);
		float r = kp_cartpole_step(&env, x, next, &term, &trunc);

		cr_assert_geq(kp_dqn_record(a, obs, x, r, next, term), 0);
		memcpy(obs, next, sizeof(obs));
		if (term || trunc)
			kp_cartpole_reset(&env, obs);
	}
	cr_assert_eq(kp_dqn_save(a, path("dqn.ckpt")), 0);
	cr_assert_eq(kp_dqn_load(&b, path("dqn.ckpt")), 0);
	/* Replay, optimiser and PRNG came along: learning continues bit for bit. */
	for (i = 0; i < 100; i++) {
		struct kp_cartpole e2 = env;
		float n2[4];

		cr_assert_eq(kp_dqn_act(a, obs, &x), 0);
		cr_assert_eq(kp_dqn_act(b, obs, &y), 0);
		cr_assert_eq(x, y, "step %d", i);
		float r = kp_cartpole_step(&env, x, next, &term, &trunc);

		kp_cartpole_step(&e2, y, n2, &term, &trunc);
		cr_assert_geq(kp_dqn_record(a, obs, x, r, next, term), 0);
		cr_assert_geq(kp_dqn_record(b, obs, y, r, next, term), 0);
		memcpy(obs, next, sizeof(obs));
		if (term || trunc)
			kp_cartpole_reset(&env, obs);
	}
	cr_expect_eq(memcmp(kp_dqn_qnet(a)->params, kp_dqn_qnet(b)->params,
			    sizeof(float) * kp_dqn_qnet(a)->nparams), 0);
	kp_dqn_destroy(a);
	kp_dqn_destroy(b);
}

Test(agent_ckpt, damaged_files_are_refused, .init = setup, .fini = teardown)
{
	struct kp_ppo *a = trained_ppo(), *b = NULL;
	struct kp_dqn *d = NULL;
	uint8_t *buf, *tmp;
	size_t n, cut;
	uLong crc;

	cr_assert_eq(kp_ppo_save(a, path("good")), 0);
	kp_ppo_destroy(a);
	buf = slurp(path("good"), &n);
	tmp = malloc(n);

	cr_expect_eq(kp_ppo_load(&b, path("missing")), -ENOENT);
	/* Truncated anywhere: inside the header, the payload, the checksum. */
	for (cut = 0; cut < n; cut += cut < 64 ? 1 : 97) {
		spit(path("short"), buf, cut);
		cr_expect_eq(kp_ppo_load(&b, path("short")), -EBADMSG, "cut at %zu of %zu", cut, n);
		cr_expect_null(b);
	}
	/* One flipped bit in the payload. */
	memcpy(tmp, buf, n);
	tmp[n / 2] ^= 0x10;
	spit(path("flip"), tmp, n);
	cr_expect_eq(kp_ppo_load(&b, path("flip")), -EBADMSG);
	/* Trailing garbage. */
	spit(path("long"), buf, n);
	{
		FILE *f = fopen(path("long"), "ab");

		fputc(0, f);
		fclose(f);
	}
	cr_expect_eq(kp_ppo_load(&b, path("long")), -EBADMSG);
	/* Not a checkpoint at all. */
	memcpy(tmp, buf, n);
	memcpy(tmp, "ELF!", 4);
	spit(path("magic"), tmp, n);
	cr_expect_eq(kp_ppo_load(&b, path("magic")), -EBADMSG);
	/* A well-formed file of a future version (valid CRC) is refused as such. */
	memcpy(tmp, buf, n);
	tmp[4] = KP_CKPT_VERSION + 1;
	crc = crc32(crc32(0L, Z_NULL, 0), tmp, n - 4);
	tmp[n - 4] = crc;
	tmp[n - 3] = crc >> 8;
	tmp[n - 2] = crc >> 16;
	tmp[n - 1] = crc >> 24;
	spit(path("v2"), tmp, n);
	cr_expect_eq(kp_ppo_load(&b, path("v2")), -EPROTONOSUPPORT);
	/* A PPO checkpoint is not a DQN one. */
	cr_expect_eq(kp_dqn_load(&d, path("good")), -EINVAL);
	cr_expect_null(d);
	/* And the intact file still loads. */
	cr_expect_eq(kp_ppo_load(&b, path("good")), 0);
	kp_ppo_destroy(b);
	free(tmp);
	free(buf);
}

Test(agent_ckpt, save_replaces_atomically, .init = setup, .fini = teardown)
{
	struct kp_ppo *a = trained_ppo(), *b;
	char cmd[160];

	cr_assert_eq(kp_ppo_save(a, path("x")), 0);
	cr_assert_eq(kp_ppo_save(a, path("x")), 0);
	/* No temporary left behind, one file, loadable. */
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
	cr_expect_eq(system(cmd), 0);
	cr_expect_eq(kp_ppo_load(&b, path("x")), 0);
	/* An unwritable destination fails cleanly. */
	cr_expect_lt(kp_ppo_save(a, "/nonexistent-dir/x"), 0);
	kp_ppo_destroy(a);
	kp_ppo_destroy(b);
}
