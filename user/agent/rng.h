/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Seeded, portable pseudo-random numbers for the agent: xoshiro256** seeded
 * through splitmix64, Box-Muller gaussians. Same seed, same stream on every
 * libc (libc rand() is neither portable nor good enough).
 */
#ifndef KPILOT_RNG_H
#define KPILOT_RNG_H

#include <stddef.h>
#include <stdint.h>

struct kp_rng {
	uint64_t s[4];
	double spare;		/* second Box-Muller output */
	int has_spare;
};

void kp_rng_seed(struct kp_rng *r, uint64_t seed);
uint64_t kp_rng_next(struct kp_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double kp_rng_uniform(struct kp_rng *r);
/* Standard normal. */
double kp_rng_gauss(struct kp_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t kp_rng_below(struct kp_rng *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void kp_rng_shuffle(struct kp_rng *r, uint32_t *idx, size_t n);

#endif
