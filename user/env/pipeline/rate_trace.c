// SPDX-License-Identifier: GPL-2.0
/* Rate traces: "time_s,rate" CSV, held between samples. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env/pipeline/rate_trace.h"

static int push(struct kp_rate_trace *rt, int *cap, double t, double r)
{
	double *a, *b;

	if (rt->n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		a = realloc(rt->t, *cap * sizeof(double));
		if (!a)
			return -ENOMEM;
		rt->t = a;
		b = realloc(rt->rate, *cap * sizeof(double));
		if (!b)
			return -ENOMEM;
		rt->rate = b;
	}
	rt->t[rt->n] = t;
	rt->rate[rt->n++] = r;
	rt->peak = fmax(rt->peak, r);
	return 0;
}

/* One line: 1 a sample, 0 nothing (blank, comment, the header), -EINVAL. */
static int parse_line(char *s, bool first, double *t, double *r)
{
	char *end, *end2;

	s += strspn(s, " \t");
	if (!*s || *s == '#' || *s == '\n' || *s == '\r')
		return 0;
	*t = strtod(s, &end);
	if (end == s)
		return first ? 0 : -EINVAL;	/* the header, before any sample */
	end += strspn(end, " \t");
	if (*end++ != ',')
		return -EINVAL;
	*r = strtod(end, &end2);
	if (end2 == end)
		return -EINVAL;
	end2 += strspn(end2, " \t\r\n");
	return *end2 || !isfinite(*t) || !isfinite(*r) || *r < 0 || *r > 1e7 ? -EINVAL : 1;
}

int kp_rate_trace_parse(const char *text, const char *origin, struct kp_rate_trace *rt,
			char *why, size_t len)
{
	char *copy = strdup(text), *line, *save = NULL;
	int cap = 0, lineno = 0, err = 0, k;
	double t, r, t0 = 0;

	memset(rt, 0, sizeof(*rt));
	if (!copy)
		return -ENOMEM;
	for (line = copy; line && !err; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		++lineno;
		k = parse_line(line, !rt->n, &t, &r);
		if (k < 0) {
			snprintf(why, len, "%s:%d: not 'time_s,rate' (rate in [0, 1e7])", origin, lineno);
			err = -EINVAL;
		} else if (k) {
			if (!rt->n)
				t0 = t;
			if (rt->n && t - t0 <= rt->t[rt->n - 1]) {
				snprintf(why, len, "%s:%d: time %g is not after the previous sample's",
					 origin, lineno, t);
				err = -EINVAL;
			} else {
				err = push(rt, &cap, t - t0, r);
			}
		}
	}
	free(copy);
	if (!err && !rt->n) {
		snprintf(why, len, "%s: no samples", origin);
		err = -EINVAL;
	}
	if (err)
		kp_rate_trace_free(rt);
	return err;
}

int kp_rate_trace_load(const char *path, struct kp_rate_trace *rt, char *why, size_t len)
{
	FILE *f = fopen(path, "re");
	char *text;
	long n;
	int err;

	if (!f) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return err;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if (n < 0 || n > 64 << 20) {
		fclose(f);
		snprintf(why, len, "%s: not a file of at most 64 MiB", path);
		return -EFBIG;
	}
	text = calloc(1, n + 1);
	if (!text || fread(text, 1, n, f) != (size_t)n) {
		free(text);
		fclose(f);
		snprintf(why, len, "%s: cannot read it", path);
		return -EIO;
	}
	fclose(f);
	err = kp_rate_trace_parse(text, path, rt, why, len);
	free(text);
	return err;
}

double kp_rate_trace_at(const struct kp_rate_trace *rt, double t)
{
	int lo = 0, hi = rt->n - 1, mid;

	if (t <= rt->t[0])
		return rt->rate[0];
	while (lo < hi) {	/* the last sample at or before t */
		mid = (lo + hi + 1) / 2;
		if (rt->t[mid] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return rt->rate[lo];
}

double kp_rate_trace_duration(const struct kp_rate_trace *rt)
{
	return rt->n < 2 ? 1 : rt->t[rt->n - 1] + (rt->t[rt->n - 1] - rt->t[rt->n - 2]);
}

void kp_rate_trace_free(struct kp_rate_trace *rt)
{
	free(rt->t);
	free(rt->rate);
	rt->t = rt->rate = NULL;
	rt->n = 0;
}
