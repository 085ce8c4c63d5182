/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MLP body, instantiated by mlp.c for float (kp_mlp_*) and double
 * (kp_mlpd_*). Expects REAL, MLP (struct name), FN(name) and the kernels
 * K_GEMM_NN, K_GEMM_TN, K_TANH_VEC, K_INFER (mlp_kern.h) defined; undefines
 * them at the end.
 */

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

const REAL *FN(forward)(struct MLP *m, const REAL *x, int n)
{
	int l;

	if (n > m->cap && FN(reserve)(m, n))
		return NULL;
	m->rows = n;
	memcpy(m->act[0], x, sizeof(REAL) * n * m->sizes[0]);
	for (l = 0; l < m->nlayers; l++) {
		int in = m->sizes[l], out = m->sizes[l + 1];

		K_GEMM_NN(m->act[l + 1], m->act[l], m->params + m->w_off[l],
			    m->params + m->b_off[l], n, in, out);
		if (l < m->nlayers - 1)
			K_TANH_VEC(m->act[l + 1], (size_t)n * out);
	}
	return m->act[m->nlayers];
}

void FN(infer)(const struct MLP *m, const REAL *x, REAL *out)
{
	K_INFER(m, x, out);
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

		K_GEMM_TN(m->grads + m->w_off[l], x, delta, n, in, out);
		for (i = 0; i < n; i++)
			for (o = 0; o < out; o++)
				gb[o] += delta[(size_t)i * out + o];
		if (l == 0)
			break;
		/* dx = delta * W^T, then through the previous tanh: 1 - y^2. */
		for (k = 0; k < in; k++)
			for (o = 0; o < out; o++)
				m->wt[(size_t)o * in + k] = w[(size_t)k * out + o];
		K_GEMM_NN(dx, delta, m->wt, NULL, n, out, in);
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
#undef MLP
#undef FN
#undef K_GEMM_NN
#undef K_GEMM_TN
#undef K_TANH_VEC
#undef K_INFER
