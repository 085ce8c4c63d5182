/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MLP's compute kernels, a template: mlp_simd.c instantiates the float32
 * ones once per instruction set (under #pragma GCC target), mlp.c the
 * float64 ones for the gradient-check twin. Expects REAL, VEC (a vector type
 * name to define), VW (REALs in one native vector register), MLP (struct
 * name), KFN(name) and TANH_VEC (the tanh the one-row path calls) defined;
 * KERN_F32 selects the float32 tanh. Undefines them at the end.
 *
 * Vectors are the register's own width, a tile row NV of them: GCC lowers a
 * generic vector wider than the target's registers through the stack (on
 * AVX2 a 16-float vector made the kernels slower than SSE2's).
 */

#ifndef TR
#define TR 4		/* register tile: rows */
#endif
#ifndef NV
#define NV 2		/* register tile: vectors per row */
#endif
#define TC (NV * VW)	/* register tile: columns */

typedef REAL VEC __attribute__((vector_size(VW * sizeof(REAL))));

#ifdef KERN_F32
/*
 * tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)) with a branch-free exp that
 * vectorises: 2^n by exponent bits, e^r on |r| <= ln2/2 by a degree-7 Taylor
 * polynomial (relative error < 2e-8). Saturates at |x| >= 9, where
 * 1 - tanh(9) < float epsilon. Absolute error ~1e-7, far below what
 * training notices, and the same bits on every run.
 */
static void KFN(tanh_vec)(float *restrict y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		float x = y[i], ax = fabsf(x), t, r, p, e;
		int32_t k, bits;

		/* Written so that NaN passes through: the NaN guards rely on it. */
		ax = ax > 9.0f ? 9.0f : ax;
		t = 2.0f * ax;
		/* NaN must not reach the int conversion (undefined); it still
		 * flows through r, so the result stays NaN. */
		r = t * 1.44269504088896341f + 0.5f;
		k = (int32_t)(r > 0 ? r : 0);
		r = t - (float)k * 0.693145751953125f;
		r = r - (float)k * 1.42860682030941723e-6f;
		p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
			r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
		bits = (k + 127) << 23;
		memcpy(&e, &bits, sizeof(e));
		e *= p;
		t = 1.0f - 2.0f / (e + 1.0f);
		y[i] = copysignf(t, x);
	}
}
#endif

/*
 * Columns o..o + nb * VW of y = b + x W, the nb vectors held in registers
 * across the k loop (nb a constant once inlined): one load and one
 * multiply-add per vector and k, where an axpy on y in memory also loads
 * and stores y. Each element sums over k in order, from its bias.
 */
static inline __attribute__((always_inline)) void
KFN(row_block)(const REAL *restrict w, const REAL *restrict b, const REAL *restrict x,
	       REAL *restrict y, int in, int out, int o, const int nb)
{
	VEC acc[8];
	int k, v;

	for (v = 0; v < nb; v++) {
		if (b)
			memcpy(&acc[v], b + o + v * VW, sizeof(VEC));
		else
			memset(&acc[v], 0, sizeof(VEC));
	}
	for (k = 0; k < in; k++) {
		const REAL xk = x[k];

		for (v = 0; v < nb; v++) {
			VEC wk;

			memcpy(&wk, w + (size_t)k * out + o + v * VW, sizeof(VEC));
			acc[v] += xk * wk;
		}
	}
	for (v = 0; v < nb; v++)
		memcpy(y + o + v * VW, &acc[v], sizeof(VEC));
}

/* y[o] = b[o] + sum_k x[k] W[k][o]: one row. */
static inline void KFN(linear_row)(const REAL *restrict w, const REAL *restrict b,
				   const REAL *restrict x, REAL *restrict y,
				   int in, int out)
{
	int k, o = 0;

	for (; o + 8 * VW <= out; o += 8 * VW)
		KFN(row_block)(w, b, x, y, in, out, o, 8);
	for (; o + VW <= out; o += VW)
		KFN(row_block)(w, b, x, y, in, out, o, 1);
	for (; o < out; o++) {
		REAL s = b ? b[o] : 0;

		for (k = 0; k < in; k++)
			s += x[k] * w[(size_t)k * out + o];
		y[o] = s;
	}
}

/*
 * C (n x p) = bias + A (n x q) * B (q x p), all row-major. Tiles of TR rows
 * by TC columns stay in registers across the whole k loop, so each load of B
 * feeds TR multiply-adds; leftover rows take the axpy path, leftover columns
 * (the 1- or 2-wide heads) a plain dot product.
 */
static void KFN(gemm_nn)(REAL *restrict C, const REAL *restrict A,
			 const REAL *restrict B, const REAL *restrict bias,
			 int n, int q, int p)
{
	int i, j, k, r, v;

	for (i = 0; i + TR <= n; i += TR) {
		for (j = 0; j + TC <= p; j += TC) {
			VEC acc[TR][NV], b[NV];

			for (v = 0; v < NV; v++) {
				if (bias)
					memcpy(&b[v], bias + j + v * VW, sizeof(VEC));
				else
					memset(&b[v], 0, sizeof(VEC));
				for (r = 0; r < TR; r++)
					acc[r][v] = b[v];
			}
			for (k = 0; k < q; k++) {
				for (v = 0; v < NV; v++)
					memcpy(&b[v], B + (size_t)k * p + j + v * VW, sizeof(VEC));
				for (r = 0; r < TR; r++) {
					const REAL a = A[(size_t)(i + r) * q + k];

					for (v = 0; v < NV; v++)
						acc[r][v] += a * b[v];
				}
			}
			for (r = 0; r < TR; r++)
				for (v = 0; v < NV; v++)
					memcpy(C + (size_t)(i + r) * p + j + v * VW, &acc[r][v],
					       sizeof(VEC));
		}
		for (; j < p; j++)
			for (r = 0; r < TR; r++) {
				const REAL *restrict a = A + (size_t)(i + r) * q;
				REAL s = bias ? bias[j] : 0;

				for (k = 0; k < q; k++)
					s += a[k] * B[(size_t)k * p + j];
				C[(size_t)(i + r) * p + j] = s;
			}
	}
	for (; i < n; i++)
		KFN(linear_row)(B, bias, A + (size_t)i * q, C + (size_t)i * p, q, p);
}

/*
 * The columns j0..p of C += A^T * B that make no full tile (the 1- or 2-wide
 * heads' weight gradients): vectors along k instead, TR columns of B a tile
 * (missing ones read as 0), so the sum over the n rows still runs in
 * registers. Each element's sum runs over i in order, from 0.
 */
static void KFN(gemm_tn_narrow)(REAL *restrict C, const REAL *restrict A,
				const REAL *restrict B, int n, int q, int p, int j0)
{
	int i, j, k, c, v, e;

	for (j = j0; j < p; j += TR) {
		for (k = 0; k + TC <= q; k += TC) {
			VEC acc[TR][NV], a[NV];
			REAL out[TC];

			memset(acc, 0, sizeof(acc));
			for (i = 0; i < n; i++) {
				for (v = 0; v < NV; v++)
					memcpy(&a[v], A + (size_t)i * q + k + v * VW, sizeof(VEC));
				for (c = 0; c < TR; c++) {
					const REAL b = j + c < p ? B[(size_t)i * p + j + c] : 0;

					for (v = 0; v < NV; v++)
						acc[c][v] += b * a[v];
				}
			}
			for (c = 0; c < TR && j + c < p; c++) {
				memcpy(out, acc[c], sizeof(out));
				for (v = 0; v < NV; v++)
					for (e = 0; e < VW; e++)
						C[(size_t)(k + v * VW + e) * p + j + c] += out[v * VW + e];
			}
		}
		for (; k < q; k++)
			for (c = 0; c < TR && j + c < p; c++) {
				REAL s = 0;

				for (i = 0; i < n; i++)
					s += A[(size_t)i * q + k] * B[(size_t)i * p + j + c];
				C[(size_t)k * p + j + c] += s;
			}
	}
}

/* C (q x p) += A^T * B with A (n x q), B (n x p): weight gradients. */
static void KFN(gemm_tn)(REAL *restrict C, const REAL *restrict A,
			 const REAL *restrict B, int n, int q, int p)
{
	int i, j, k, r, v;

	for (k = 0; k + TR <= q; k += TR) {
		for (j = 0; j + TC <= p; j += TC) {
			VEC acc[TR][NV], b[NV];

			for (r = 0; r < TR; r++)
				for (v = 0; v < NV; v++)
					memcpy(&acc[r][v], C + (size_t)(k + r) * p + j + v * VW,
					       sizeof(VEC));
			for (i = 0; i < n; i++) {
				for (v = 0; v < NV; v++)
					memcpy(&b[v], B + (size_t)i * p + j + v * VW, sizeof(VEC));
				for (r = 0; r < TR; r++) {
					const REAL a = A[(size_t)i * q + k + r];

					for (v = 0; v < NV; v++)
						acc[r][v] += a * b[v];
				}
			}
			for (r = 0; r < TR; r++)
				for (v = 0; v < NV; v++)
					memcpy(C + (size_t)(k + r) * p + j + v * VW, &acc[r][v],
					       sizeof(VEC));
		}
	}
	for (; k < q; k++)
		for (i = 0; i < n; i++) {
			const REAL a = A[(size_t)i * q + k];
			const REAL *restrict b = B + (size_t)i * p;
			REAL *restrict cr = C + (size_t)k * p;

			for (j = 0; j < p / TC * TC; j++)
				cr[j] += a * b[j];
		}
	if (p % TC)
		KFN(gemm_tn_narrow)(C, A, B, n, q, p, p / TC * TC);
}

/* One row through the network, no cache touched: safe on a const network. */
static void KFN(infer)(const struct MLP *m, const REAL *x, REAL *out)
{
	REAL buf[2][KP_MLP_MAX_WIDTH];
	const REAL *in = x;
	int l;

	for (l = 0; l < m->nlayers; l++) {
		int last = l == m->nlayers - 1;
		/* &[0]: an address (cppcheck takes buf[l & 1] for a read of it) */
		REAL *y = last ? out : &buf[l & 1][0];

		KFN(linear_row)(m->params + m->w_off[l], m->params + m->b_off[l],
				in, y, m->sizes[l], m->sizes[l + 1]);
		if (!last)
			TANH_VEC(y, m->sizes[l + 1]);
		in = y;
	}
}

#undef TR
#undef NV
#undef TC
#undef VW
#undef REAL
#undef VEC
#undef MLP
#undef KFN
#undef TANH_VEC
#undef KERN_F32
