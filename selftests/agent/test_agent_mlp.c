// SPDX-License-Identifier: GPL-2.0
/* MLP gradients against float64 finite differences, init, Adam, clipping, PRNG. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/adam.h"
#include "agent/mlp.h"
#include "agent/norm.h"
#include "agent/rng.h"

/* Loss = sum_ij c_ij * out_ij, so dLoss/dout = c. */
static double lin_loss(struct kp_mlpd *d, const double *x, int n, const double *c, int nout)
{
	const double *out = kp_mlpd_forward(d, x, n);
	double s = 0;
	int i;

	for (i = 0; i < n * nout; i++)
		s += c[i] * out[i];
	return s;
}

/* ||a - b|| / max(||a||, ||b||) over one tensor. */
static double rel_err(const float *a, const double *b, size_t n)
{
	double d = 0, na = 0, nb = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		na += (double)a[i] * a[i];
		nb += b[i] * b[i];
	}
	na = fmax(sqrt(na), sqrt(nb));
	return na < 1e-12 ? sqrt(d) : sqrt(d) / na;
}

/*
 * Widths cover both kernel paths: >= 16 columns (register tiles) and the
 * narrow heads; batches not a multiple of 4 cover the leftover rows.
 */
static void gradcheck(int nlayers, const int *sizes, int n, uint64_t seed)
{
	struct kp_mlp f;
	struct kp_mlpd d;
	struct kp_rng rng;
	int nin = sizes[0], nout = sizes[nlayers], l, i;
	float *xf = malloc(sizeof(float) * n * nin), *cf = malloc(sizeof(float) * n * nout);
	double *xd = malloc(sizeof(double) * n * nin), *cd = malloc(sizeof(double) * n * nout);
	double *fd;

	kp_rng_seed(&rng, seed);
	cr_assert_eq(kp_mlp_init(&f, nlayers, sizes, n), 0);
	cr_assert_eq(kp_mlpd_init(&d, nlayers, sizes, n), 0);
	kp_mlp_init_orthogonal(&f, &rng, M_SQRT2, 1.0);
	/* Non-zero biases so their gradients are exercised off the origin. */
	for (l = 0; l < nlayers; l++)
		for (i = 0; i < sizes[l + 1]; i++)
			f.params[f.b_off[l] + i] = 0.1 * kp_rng_gauss(&rng);
	cr_assert_eq(kp_mlpd_copy_from(&d, &f), 0);
	for (i = 0; i < n * nin; i++)
		xd[i] = xf[i] = (float)kp_rng_gauss(&rng);
	for (i = 0; i < n * nout; i++)
		cd[i] = cf[i] = (float)kp_rng_gauss(&rng);

	kp_mlp_zero_grad(&f);
	cr_assert_not_null(kp_mlp_forward(&f, xf, n));
	kp_mlp_backward(&f, cf);
	kp_mlpd_zero_grad(&d);
	kp_mlpd_forward(&d, xd, n);
	kp_mlpd_backward(&d, cd);

	fd = calloc(d.nparams, sizeof(double));
	for (i = 0; i < (int)d.nparams; i++) {
		double keep = d.params[i], h = 1e-6, lp, lm;

		d.params[i] = keep + h;
		lp = lin_loss(&d, xd, n, cd, nout);
		d.params[i] = keep - h;
		lm = lin_loss(&d, xd, n, cd, nout);
		d.params[i] = keep;
		fd[i] = (lp - lm) / (2 * h);
	}
	for (l = 0; l < nlayers; l++) {
		size_t nw = (size_t)sizes[l] * sizes[l + 1], nb = sizes[l + 1];
		double ew = rel_err(f.grads + f.w_off[l], fd + f.w_off[l], nw);
		double eb = rel_err(f.grads + f.b_off[l], fd + f.b_off[l], nb);
		float tmp[KP_MLP_MAX_WIDTH * 64];
		size_t k;

		cr_expect_lt(ew, 1e-3, "layer %d weights: float32 grad rel err %g", l, ew);
		cr_expect_lt(eb, 1e-3, "layer %d biases: float32 grad rel err %g", l, eb);
		/* The float64 twin must agree far more tightly. */
		for (k = 0; k < nw && k < sizeof(tmp) / sizeof(tmp[0]); k++)
			tmp[k] = d.grads[d.w_off[l] + k];
		cr_expect_lt(rel_err(tmp, fd + d.w_off[l], k), 1e-5, "layer %d float64 weights", l);
	}
	free(fd);
	free(xf);
	free(cf);
	free(xd);
	free(cd);
	kp_mlp_free(&f);
	kp_mlpd_free(&d);
}

/* On every kernel set this CPU has: each has its own tiles and leftovers. */
Test(agent_mlp, gradients_match_finite_differences)
{
	static const char *const names[] = { "baseline", "avx2", "avx512" };
	int deep[] = { 5, 20, 33, 3 };
	int head1[] = { 4, 64, 64, 1 };
	int head2[] = { 4, 64, 64, 2 };
	int single[] = { 7, 2 };
	char why[128];
	int s;

	for (s = 0; s < 3; s++) {
		if (kp_mlp_simd_set(names[s], why, sizeof(why))) {
			cr_log_info("%s gradients not checked: %s", names[s], why);
			continue;
		}
		gradcheck(3, deep, 7, 1);
		gradcheck(3, deep, 8, 2);
		gradcheck(3, head1, 6, 3);
		gradcheck(3, head2, 9, 5);
		gradcheck(1, single, 3, 4);
	}
}

Test(agent_mlp, forward_matches_twin_and_infer)
{
	int sizes[] = { 4, 64, 64, 2 };
	struct kp_mlp f;
	struct kp_mlpd d;
	struct kp_rng rng;
	float x[9 * 4], one[2];
	double xd[9 * 4];
	const float *out;
	const double *outd;
	int i;

	kp_rng_seed(&rng, 7);
	cr_assert_eq(kp_mlp_init(&f, 3, sizes, 9), 0);
	cr_assert_eq(kp_mlpd_init(&d, 3, sizes, 9), 0);
	kp_mlp_init_orthogonal(&f, &rng, M_SQRT2, 1.0);
	kp_mlpd_copy_from(&d, &f);
	for (i = 0; i < 36; i++)
		xd[i] = x[i] = 2 * kp_rng_gauss(&rng);
	out = kp_mlp_forward(&f, x, 9);
	outd = kp_mlpd_forward(&d, xd, 9);
	for (i = 0; i < 18; i++)
		cr_expect(fabs(out[i] - outd[i]) < 1e-5, "out[%d] %g vs %g", i, out[i], outd[i]);
	/* The one-row path must give what the batched path gives. */
	for (i = 0; i < 9; i++) {
		kp_mlp_infer(&f, x + 4 * i, one);
		cr_expect(fabsf(one[0] - out[2 * i]) < 1e-6 && fabsf(one[1] - out[2 * i + 1]) < 1e-6);
	}
	kp_mlp_free(&f);
	kp_mlpd_free(&d);
}

/* Forward, backward and one-row inference of f on the current kernels. */
static void run_kernels(struct kp_mlp *f, const float *x, const float *c, int n,
			float *out, float *grads, float *one)
{
	int nout = f->sizes[f->nlayers];
	const float *o;

	kp_mlp_zero_grad(f);
	o = kp_mlp_forward(f, x, n);
	cr_assert_not_null(o);
	memcpy(out, o, sizeof(float) * n * nout);
	kp_mlp_backward(f, c);
	memcpy(grads, f->grads, sizeof(float) * f->nparams);
	kp_mlp_infer(f, x + f->sizes[0] * (n - 1), one);
}

static double rel_err_f(const float *a, const float *b, size_t n)
{
	double d = 0, na = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		na += (double)b[i] * b[i];
	}
	return na < 1e-24 ? sqrt(d) : sqrt(d / na);
}

/*
 * Every instruction set this CPU has computes what the baseline computes, up
 * to float rounding, and is the one that runs once chosen: an AVX-512 host
 * told "avx2" must run the AVX2 kernels, as an AVX2 host would. Widths and a
 * row count off the tiles cover the leftover paths.
 */
static void simd_paths_agree(int nlayers, const int *sizes, int n)
{
	static const char *const names[] = { "baseline", "avx2", "avx512" };
	int nin = sizes[0], nout = sizes[nlayers], i, s, compared = 0;
	float *x = malloc(sizeof(float) * n * nin), *c = malloc(sizeof(float) * n * nout);
	float *out[3], *grads[3], one[3][KP_MLP_MAX_WIDTH];
	struct kp_mlp f;
	struct kp_rng rng;
	char why[128];

	kp_rng_seed(&rng, 11);
	cr_assert_eq(kp_mlp_init(&f, nlayers, sizes, n), 0);
	kp_mlp_init_orthogonal(&f, &rng, M_SQRT2, 1.0);
	for (i = 0; i < n * nin; i++)
		x[i] = 2 * kp_rng_gauss(&rng);
	for (i = 0; i < n * nout; i++)
		c[i] = kp_rng_gauss(&rng);
	for (s = 0; s < 3; s++) {
		int err = kp_mlp_simd_set(names[s], why, sizeof(why));

		out[s] = malloc(sizeof(float) * n * nout);
		grads[s] = malloc(sizeof(float) * f.nparams);
		if (err == -ENOTSUP) {
			cr_log_info("%s kernels not compared: %s", names[s], why);
			continue;
		}
		cr_assert_eq(err, 0, "%s: %s", names[s], why);
		cr_assert_str_eq(kp_mlp_simd(), names[s]);
		run_kernels(&f, x, c, n, out[s], grads[s], one[s]);
		if (s == 0)
			continue;
		cr_expect_lt(rel_err_f(out[s], out[0], (size_t)n * nout), 1e-5, "%s outputs", names[s]);
		cr_expect_lt(rel_err_f(grads[s], grads[0], f.nparams), 1e-5, "%s gradients", names[s]);
		cr_expect_lt(rel_err_f(one[s], one[0], nout), 1e-5, "%s one-row", names[s]);
		compared++;
	}
	cr_log_info("%d wider kernel sets compared with baseline", compared);
	cr_expect_eq(kp_mlp_simd_set("sse9", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(kp_mlp_simd(), compared == 2 ? "avx512" : compared ? "avx2" : "baseline",
			 "a refused name must leave the kernels alone");
	for (s = 0; s < 3; s++) {
		free(out[s]);
		free(grads[s]);
	}
	free(x);
	free(c);
	kp_mlp_free(&f);
}

Test(agent_mlp, simd_kernel_sets_agree)
{
	int ppo[] = { 4, 64, 64, 2 };
	int odd[] = { 5, 20, 33, 3 };

	simd_paths_agree(3, ppo, 37);
	simd_paths_agree(3, odd, 9);
}

/* Criterion runs each test in a process of its own: this is the first use. */
Test(agent_mlp, simd_from_environment)
{
	setenv("KPILOT_SIMD", "baseline", 1);
	cr_assert_str_eq(kp_mlp_simd(), "baseline");
}

Test(agent_mlp, simd_bad_environment_keeps_best)
{
	char why[128];
	const char *got;

	setenv("KPILOT_SIMD", "avx1024", 1);
	got = kp_mlp_simd();
	cr_assert_eq(kp_mlp_simd_set("auto", why, sizeof(why)), 0);
	cr_assert_str_eq(got, kp_mlp_simd());
}

Test(agent_mlp, tanh_saturates_and_stays_accurate)
{
	int sizes[] = { 1, 1 };
	struct kp_mlp f;
	float x[] = { -30, -9.5, -2, -0.3, -1e-3, 0, 1e-4, 0.7, 3, 8.9, 50 };
	int i, n = sizeof(x) / sizeof(x[0]);
	int hsizes[] = { 1, 1, 1 };

	/* A 1-1-1 net with unit weights exposes the hidden tanh: out = tanh(x). */
	cr_assert_eq(kp_mlp_init(&f, 2, hsizes, n), 0);
	f.params[f.w_off[0]] = 1;
	f.params[f.w_off[1]] = 1;
	const float *out = kp_mlp_forward(&f, x, n);
	for (i = 0; i < n; i++)
		cr_expect(fabs(out[i] - tanh(x[i])) < 3e-7, "tanh(%g) = %.9g, want %.9g",
			  x[i], out[i], tanh(x[i]));
	x[0] = NAN;
	out = kp_mlp_forward(&f, x, 1);
	cr_expect(isnan(out[0]), "tanh must propagate NaN, gave %g", out[0]);
	kp_mlp_free(&f);
	(void)sizes;
}

Test(agent_mlp, orthogonal_init)
{
	int sizes[] = { 4, 64, 64, 2 };
	struct kp_mlp f;
	struct kp_rng rng;
	int l, i, j, k;

	kp_rng_seed(&rng, 3);
	cr_assert_eq(kp_mlp_init(&f, 3, sizes, 1), 0);
	kp_mlp_init_orthogonal(&f, &rng, M_SQRT2, 0.01);
	for (l = 0; l < 3; l++) {
		int in = sizes[l], out = sizes[l + 1], tall = in >= out;
		int m = tall ? in : out, nn = tall ? out : in;
		double gain = l == 2 ? 0.01 : M_SQRT2;
		const float *w = f.params + f.w_off[l];

		/* The shorter dimension's vectors are orthonormal (times gain). */
		for (i = 0; i < nn; i++)
			for (j = 0; j < nn; j++) {
				double dot = 0;

				for (k = 0; k < m; k++) {
					double a = tall ? w[k * out + i] : w[i * out + k];
					double b = tall ? w[k * out + j] : w[j * out + k];

					dot += a * b;
				}
				cr_expect(fabs(dot / (gain * gain) - (i == j)) < 1e-5,
					  "layer %d <%d,%d> = %g", l, i, j, dot / (gain * gain));
			}
		for (i = 0; i < out; i++)
			cr_expect_eq(f.params[f.b_off[l] + i], 0.0f);
	}
	kp_mlp_free(&f);
}

Test(agent_mlp, adam_first_steps_by_hand)
{
	struct kp_adam a;
	float p = 1.0f, g[] = { 0.5f, -0.25f, 1.0f };
	/* torch.optim.Adam(lr=0.1, eps=1e-5), worked out step by step. */
	const double want[] = { 0.9000019999600007, 0.873368969863388, 0.8075588045097587 };
	int t;

	cr_assert_eq(kp_adam_init(&a, 1, 0.1, 0.9, 0.999, 1e-5), 0);
	for (t = 0; t < 3; t++) {
		kp_adam_step(&a, &p, &g[t]);
		cr_expect(fabs(p - want[t]) < 1e-6, "step %d: %.9f want %.9f", t + 1, p, want[t]);
	}
	cr_expect_eq(a.t, 3);
	kp_adam_free(&a);
}

Test(agent_mlp, global_grad_norm_clip)
{
	float a[] = { 3, 0 }, b[] = { 0, 4 };
	struct kp_vec v[] = { { a, 2 }, { b, 2 } };
	double n;

	n = kp_clip_grad_norm(v, 2, 10);
	cr_expect_float_eq(n, 5.0, 1e-9);
	cr_expect_eq(a[0], 3.0f);	/* under the limit: untouched */
	n = kp_clip_grad_norm(v, 2, 0.5);
	cr_expect_float_eq(n, 5.0, 1e-9);
	cr_expect_float_eq(kp_grad_norm(v, 2), 0.5, 1e-6);
	cr_expect_float_eq(a[0] / b[1], 0.75, 1e-6);	/* direction kept */
}

Test(agent_mlp, rng_is_reproducible_and_sane)
{
	struct kp_rng r1, r2;
	double s = 0, ss = 0;
	uint32_t hist[5] = { 0 }, idx[10];
	int i, n = 200000;

	kp_rng_seed(&r1, 42);
	kp_rng_seed(&r2, 42);
	for (i = 0; i < 100; i++)
		cr_assert_eq(kp_rng_next(&r1), kp_rng_next(&r2));
	kp_rng_seed(&r2, 43);
	cr_expect_neq(kp_rng_next(&r1), kp_rng_next(&r2));
	for (i = 0; i < n; i++) {
		double g = kp_rng_gauss(&r1);

		s += g;
		ss += g * g;
		hist[kp_rng_below(&r1, 5)]++;
	}
	cr_expect_lt(fabs(s / n), 0.01);
	cr_expect_lt(fabs(ss / n - 1), 0.02);
	for (i = 0; i < 5; i++)
		cr_expect_lt(fabs(hist[i] / (double)n - 0.2), 0.005);
	for (i = 0; i < 10; i++)
		idx[i] = i;
	kp_rng_shuffle(&r1, idx, 10);
	for (i = 0, s = 0; i < 10; i++)
		s += idx[i];
	cr_expect_eq(s, 45);	/* a permutation */
}

Test(agent_mlp, running_mean_std_matches_two_pass)
{
	struct kp_rms r;
	struct kp_rng g;
	float x[300 * 2], y[2];
	double m[2] = { 0 }, v[2] = { 0 };
	int i, d;

	kp_rng_seed(&g, 9);
	for (i = 0; i < 300; i++) {
		x[2 * i] = 5 + 2 * kp_rng_gauss(&g);
		x[2 * i + 1] = -1 + 0.1 * kp_rng_gauss(&g);
	}
	cr_assert_eq(kp_rms_init(&r, 2), 0);
	/* Uneven batches: the parallel merge must not care how data arrives. */
	kp_rms_update(&r, x, 1);
	kp_rms_update(&r, x + 2, 37);
	kp_rms_update(&r, x + 76, 262);
	for (d = 0; d < 2; d++) {
		for (i = 0; i < 300; i++)
			m[d] += x[2 * i + d] / 300.0;
		for (i = 0; i < 300; i++)
			v[d] += (x[2 * i + d] - m[d]) * (x[2 * i + d] - m[d]) / 300.0;
		/* The 1e-4 prior count (gym's) shifts the figures by ~1e-6. */
		cr_expect(fabs(r.mean[d] - m[d]) < 1e-4 * fabs(m[d]) + 1e-6, "mean %g vs %g", r.mean[d], m[d]);
		cr_expect(fabs(r.var[d] - v[d]) < 1e-4 * v[d] + 1e-6, "var %g vs %g", r.var[d], v[d]);
	}
	x[0] = 5 + 2 * 3;	/* three sigmas out */
	x[1] = 1000;		/* clipped */
	kp_rms_normalize(&r, x, y, 10);
	cr_expect(fabs(y[0] - (x[0] - r.mean[0]) / sqrt(r.var[0] + 1e-8)) < 1e-5);
	cr_expect_eq(y[1], 10.0f);
	kp_rms_free(&r);
}
