// SPDX-License-Identifier: GPL-2.0
/*
 * The float32 MLP kernels once per instruction set, and the choice among
 * them. Explicit per-target copies and a table, rather than target_clones'
 * ifunc, so that a process can be told which set to use (KPILOT_SIMD): an
 * AVX2 host can then be measured on an AVX-512 one, and tests can compare
 * the sets on one CPU. Build with -DKP_NO_CLONES for baseline code only: the
 * same bits on every x86-64 CPU.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/mlp_simd.h"
#include "lib/log.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	defined(__GLIBC__) && !defined(KP_NO_CLONES)
#define KP_SIMD_WIDE 1
#endif

#define KP_MLP_OPS(SFX) { #SFX, SFX##_gemm_nn, SFX##_gemm_tn, SFX##_tanh_vec, SFX##_infer }

#ifdef KP_SIMD_WIDE
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define REAL float
#define VEC kp_vec_avx512
#define VW 16
#define NV 1
#define MLP kp_mlp
#define KFN(name) avx512_##name
#define TANH_VEC avx512_tanh_vec
#define KERN_F32
#include "agent/mlp_kern.h"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define REAL float
#define VEC kp_vec_avx2
#define VW 8
#define MLP kp_mlp
#define KFN(name) avx2_##name
#define TANH_VEC avx2_tanh_vec
#define KERN_F32
#include "agent/mlp_kern.h"
#pragma GCC pop_options
#endif

#define REAL float
#define VEC kp_vec_baseline
#define VW 4
#define MLP kp_mlp
#define KFN(name) baseline_##name
#define TANH_VEC baseline_tanh_vec
#define KERN_F32
#include "agent/mlp_kern.h"

/* Best first. */
static const struct kp_mlp_ops kp_mlp_all_ops[] = {
#ifdef KP_SIMD_WIDE
	KP_MLP_OPS(avx512),
	KP_MLP_OPS(avx2),
#endif
	KP_MLP_OPS(baseline),
};
#define NOPS (sizeof(kp_mlp_all_ops) / sizeof(kp_mlp_all_ops[0]))

static const struct kp_mlp_ops *kp_mlp_cur;
static pthread_once_t kp_mlp_once = PTHREAD_ONCE_INIT;

/* The CPU (and the kernel, for the register state) can run this set. */
static int usable(const struct kp_mlp_ops *o)
{
#ifdef KP_SIMD_WIDE
	__builtin_cpu_init();
	if (!strcmp(o->name, "avx512"))
		return __builtin_cpu_supports("x86-64-v4");
	if (!strcmp(o->name, "avx2"))
		return __builtin_cpu_supports("x86-64-v3");
#endif
	return 1;
}

static const struct kp_mlp_ops *best(void)
{
	size_t i;

	/* The last, baseline, is always usable. */
	for (i = 0; i + 1 < NOPS; i++)
		if (usable(&kp_mlp_all_ops[i]))
			break;
	return &kp_mlp_all_ops[i];
}

static int select_ops(const char *name, char *why, size_t len)
{
	const struct kp_mlp_ops *o = NULL;
	size_t i;

	if (!strcmp(name, "auto"))
		o = best();
	for (i = 0; !o && i < NOPS; i++)
		if (!strcmp(name, kp_mlp_all_ops[i].name))
			o = &kp_mlp_all_ops[i];
	if (!o) {
		if (!strcmp(name, "avx512") || !strcmp(name, "avx2")) {
			snprintf(why, len, "KPILOT_SIMD=%s: this build has baseline kernels only", name);
			return -ENOTSUP;
		}
		snprintf(why, len, "KPILOT_SIMD=%s: unknown (auto, avx512, avx2, baseline)", name);
		return -EINVAL;
	}
	if (!usable(o)) {
		snprintf(why, len, "KPILOT_SIMD=%s: this CPU lacks %s", name,
			 !strcmp(name, "avx512") ? "x86-64-v4 (AVX-512)" : "x86-64-v3 (AVX2, FMA)");
		return -ENOTSUP;
	}
	__atomic_store_n(&kp_mlp_cur, o, __ATOMIC_RELEASE);
	return 0;
}

static void from_env(void)
{
	const char *want = getenv("KPILOT_SIMD");
	char why[128];

	__atomic_store_n(&kp_mlp_cur, best(), __ATOMIC_RELEASE);
	if (want && *want && select_ops(want, why, sizeof(why)))
		kp_warn("%s; using %s", why, kp_mlp_cur->name);
}

const struct kp_mlp_ops *kp_mlp_ops(void)
{
	const struct kp_mlp_ops *o = __atomic_load_n(&kp_mlp_cur, __ATOMIC_ACQUIRE);

	if (o)
		return o;
	pthread_once(&kp_mlp_once, from_env);
	return __atomic_load_n(&kp_mlp_cur, __ATOMIC_ACQUIRE);
}

const char *kp_mlp_simd(void)
{
	return kp_mlp_ops()->name;
}

int kp_mlp_simd_set(const char *name, char *why, size_t len)
{
	pthread_once(&kp_mlp_once, from_env);
	return select_ops(name, why, len);
}
