/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MLP body, instantiated by mlp.c for float (kp_mlp_*) and double
 * (kp_mlpd_*). Expects REAL, VEC (a vector type name to define), MLP
 * (struct name) and FN(name) defined; undefines them at the end.
 */

typedef REAL VEC __attribute__((vector_size(TC * sizeof(REAL))));
static int FN(reserve)(struct MLP *m, int rows);

int FN(init)(struct MLP *m, int nlayers, const int *sizes, int cap)
{
	size_t off = 0;
	int l;

	memset(m, 0, sizeof(*m));
	if (nlayers < 1 || nlayers > KP_MLP_MAX_LAYERS || cap < 1)
		return -EINVAL;
	m->nlayers = nlayers;
	for (l = 0; l <= nlayers; l++) {
		if (sizes[l] < 1 || sizes[l] > KP_MLP_MAX_WIDTH)
			return -EINVAL;
		m->sizes[l] = sizes[l];
	}
	for (l = 0; l < nlayers; l++) {
		m->w_off[l] = off;
		off += (size_t)sizes[l] * sizes[l + 1];
		m->b_off[l] = off;
		off += sizes[l + 1];
	}
	m->nparams = off;
	m->params = calloc(off, sizeof(REAL));
	m->grads = calloc(off, sizeof(REAL));
	m->wt = calloc(off, sizeof(REAL));
	if (!m->params || !m->grads || !m->wt) {
		FN(free)(m);
		return -ENOMEM;
	}
	return FN(reserve)(m, cap);
}

static int FN(reserve)(struct MLP *m, int rows)
{
	int l, widest = 0;

	if (rows <= m->cap)
		return 0;
	for (l = 0; l <= m->nlayers; l++) {
		REAL *p = realloc(m->act[l], sizeof(REAL) * rows * m->sizes[l]);

		if (!p)
			return -ENOMEM;
		m->act[l] = p;
		if (m->sizes[l] > widest)
			widest = m->sizes[l];
	}
	for (l = 0; l < 2; l++) {
		REAL *p = realloc(m->delta[l], sizeof(REAL) * rows * widest);

		if (!p)
			return -ENOMEM;
		m->delta[l] = p;
	}
	m->cap = rows;
	return 0;
}

void FN(free)(struct MLP *m)
{
	int l;

	free(m->params);
	free(m->grads);
	free(m->wt);
	for (l = 0; l <= KP_MLP_MAX_LAYERS; l++)
		free(m->act[l]);
	free(m->delta[0]);
	free(m->delta[1]);
	memset(m, 0, sizeof(*m));
}

void FN(init_orthogonal)(struct MLP *m, struct kp_rng *rng,
			 double hidden_gain, double out_gain)
{
	int l;

	for (l = 0; l < m->nlayers; l++) {
		int in = m->sizes[l], out = m->sizes[l + 1];
		double gain = l == m->nlayers - 1 ? out_gain : hidden_gain;
		double *q = kp_orthogonal(rng, in, out);
		REAL *w = m->params + m->w_off[l];
		int i;

		/* kp_orthogonal can only fail on ENOMEM; fall back to zeros. */
		for (i = 0; i < in * out; i++)
			w[i] = q ? (REAL)(gain * q[i]) : 0;
		free(q);
		memset(m->params + m->b_off[l], 0, sizeof(REAL) * out);
	}
}

/* y[o] = b[o] + sum_k x[k] W[k][o]: one row, the inner loop a contiguous axpy. */
static inline void FN(linear_row)(const REAL *restrict w, const REAL *restrict b,
				  const REAL *restrict x, REAL *restrict y,
				  int in, int out)
{
	int k, o;

	for (o = 0; o < out; o++)
		y[o] = b ? b[o] : 0;
	for (k = 0; k < in; k++) {
		const REAL xk = x[k];
		const REAL *restrict wk = w + (size_t)k * out;

		for (o = 0; o < out; o++)
			y[o] += xk * wk[o];
	}
}

/*
 * C (n x p) = bias + A (n x q) * B (q x p), all row-major. Tiles of TR rows
 * by TC columns stay in registers across the whole k loop, so each load of B
 * feeds TR multiply-adds; leftover rows take the axpy path, leftover columns
 * (the 1- or 2-wide heads) a plain dot product.
 */
KP_CLONES static void FN(gemm_nn)(REAL *restrict C, const REAL *restrict A,
				  const REAL *restrict B, const REAL *restrict bias,
				  int n, int q, int p)
{
	int i, j, k, r;

	for (i = 0; i + TR <= n; i += TR) {
		for (j = 0; j + TC <= p; j += TC) {
			VEC acc[TR], b;

			if (bias)
				memcpy(&b, bias + j, sizeof(b));
			else
				memset(&b, 0, sizeof(b));
			for (r = 0; r < TR; r++)
				acc[r] = b;
			for (k = 0; k < q; k++) {
				memcpy(&b, B + (size_t)k * p + j, sizeof(b));
				for (r = 0; r < TR; r++)
					acc[r] += A[(size_t)(i + r) * q + k] * b;
			}
			for (r = 0; r < TR; r++)
				memcpy(C + (size_t)(i + r) * p + j, &acc[r], sizeof(b));
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
		FN(linear_row)(B, bias, A + (size_t)i * q, C + (size_t)i * p, q, p);
}

/* C (q x p) += A^T * B with A (n x q), B (n x p): weight gradients. */
KP_CLONES static void FN(gemm_tn)(REAL *restrict C, const REAL *restrict A,
				  const REAL *restrict B, int n, int q, int p)
{
	int i, j, k, r;

	for (k = 0; k + TR <= q; k += TR) {
		for (j = 0; j + TC <= p; j += TC) {
			VEC acc[TR], b;

			for (r = 0; r < TR; r++)
				memcpy(&acc[r], C + (size_t)(k + r) * p + j, sizeof(b));
			for (i = 0; i < n; i++) {
				memcpy(&b, B + (size_t)i * p + j, sizeof(b));
				for (r = 0; r < TR; r++)
					acc[r] += A[(size_t)i * q + k + r] * b;
			}
			for (r = 0; r < TR; r++)
				memcpy(C + (size_t)(k + r) * p + j, &acc[r], sizeof(b));
		}
		for (; j < p; j++)
			for (r = 0; r < TR; r++) {
				REAL s = 0;

				for (i = 0; i < n; i++)
					s += A[(size_t)i * q + k + r] * B[(size_t)i * p + j];
				C[(size_t)(k + r) * p + j] += s;
			}
	}
	for (; k < q; k++)
		for (i = 0; i < n; i++) {
			const REAL a = A[(size_t)i * q + k];
			const REAL *restrict b = B + (size_t)i * p;
			REAL *restrict cr = C + (size_t)k * p;

			for (j = 0; j < p; j++)
				cr[j] += a * b[j];
		}
}

const REAL *FN(forward)(struct MLP *m, const REAL *x, int n)
{
	int l;

	if (n > m->cap && FN(reserve)(m, n))
		return NULL;
	m->rows = n;
	memcpy(m->act[0], x, sizeof(REAL) * n * m->sizes[0]);
	for (l = 0; l < m->nlayers; l++) {
		int in = m->sizes[l], out = m->sizes[l + 1];

		FN(gemm_nn)(m->act[l + 1], m->act[l], m->params + m->w_off[l],
			    m->params + m->b_off[l], n, in, out);
		if (l < m->nlayers - 1)
			FN(tanh_vec)(m->act[l + 1], (size_t)n * out);
	}
	return m->act[m->nlayers];
}

KP_CLONES void FN(infer)(const struct MLP *m, const REAL *x, REAL *out)
{
	REAL buf[2][KP_MLP_MAX_WIDTH];
	const REAL *in = x;
	int l;

	for (l = 0; l < m->nlayers; l++) {
		int last = l == m->nlayers - 1;
		/* &[0]: an address (cppcheck takes buf[l & 1] for a read of it) */
		REAL *y = last ? out : &buf[l & 1][0];

		FN(linear_row)(m->params + m->w_off[l], m->params + m->b_off[l],
			       in, y, m->sizes[l], m->sizes[l + 1]);
		if (!last)
			FN(tanh_vec)(y, m->sizes[l + 1]);
		in = y;
	}
}

void FN(backward)(struct MLP *m, const REAL *dout)
{
	int n = m->rows, l, i, k, o;
	const REAL *delta = dout;

	for (l = m->nlayers - 1; l >= 0; l--) {
		int in = m->sizes[l], out = m->sizes[l + 1];
		const REAL *w = m->params + m->w_off[l];
		REAL *gb = m->grads + m->b_off[l];
		const REAL *x = m->act[l];
		REAL *dx = m->delta[l & 1];

		FN(gemm_tn)(m->grads + m->w_off[l], x, delta, n, in, out);
		for (i = 0; i < n; i++)
			for (o = 0; o < out; o++)
				gb[o] += delta[(size_t)i * out + o];
		if (l == 0)
			break;
		/* dx = delta * W^T, then through the previous tanh: 1 - y^2. */
		for (k = 0; k < in; k++)
			for (o = 0; o < out; o++)
				m->wt[(size_t)o * in + k] = w[(size_t)k * out + o];
		FN(gemm_nn)(dx, delta, m->wt, NULL, n, out, in);
		for (i = 0; i < n * in; i++)
			dx[i] *= 1 - x[i] * x[i];
		delta = dx;
	}
}

void FN(zero_grad)(struct MLP *m)
{
	memset(m->grads, 0, sizeof(REAL) * m->nparams);
}

#undef REAL
#undef VEC
#undef MLP
#undef FN
