// SPDX-License-Identifier: GPL-2.0
/* xoshiro256** (Blackman & Vigna) with splitmix64 seeding; Box-Muller normals. */
#include <math.h>
#include "agent/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void kp_rng_seed(struct kp_rng *r, uint64_t seed)
{
	int i;

	/* splitmix64 never yields four zero words, xoshiro's one bad state. */
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
	r->has_spare = 0;
	r->spare = 0;
}

uint64_t kp_rng_next(struct kp_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double kp_rng_uniform(struct kp_rng *r)
{
	return (kp_rng_next(r) >> 11) * 0x1.0p-53;
}

double kp_rng_gauss(struct kp_rng *r)
{
	double u1, u2, rad;

	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	/* 1 - u lies in (0, 1], so the log is finite. */
	u1 = 1.0 - kp_rng_uniform(r);
	u2 = kp_rng_uniform(r);
	rad = sqrt(-2.0 * log(u1));
	r->spare = rad * sin(2.0 * M_PI * u2);
	r->has_spare = 1;
	return rad * cos(2.0 * M_PI * u2);
}

uint32_t kp_rng_below(struct kp_rng *r, uint32_t n)
{
	/* Lemire's multiply-shift with rejection of the biased low range. */
	uint64_t m = (uint64_t)(uint32_t)(kp_rng_next(r) >> 32) * n;
	uint32_t lo = (uint32_t)m;

	if (lo < n) {
		uint32_t thresh = -n % n;

		while (lo < thresh) {
			m = (uint64_t)(uint32_t)(kp_rng_next(r) >> 32) * n;
			lo = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

void kp_rng_shuffle(struct kp_rng *r, uint32_t *idx, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		uint32_t j = kp_rng_below(r, (uint32_t)i);
		uint32_t t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}
