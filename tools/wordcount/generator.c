// SPDX-License-Identifier: GPL-2.0
/*
 * wordcount's sentences: Zipf-distributed words from a fixed vocabulary,
 * deterministic from a seed and a sequence number.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordcount.h"

static inline uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix64(*s);
}

static const char *const syllables[16] = {
	"ka", "to", "ri", "ne", "su", "mo", "la", "pe",
	"di", "go", "vu", "ze", "xa", "bo", "fi", "hu",
};

static char (*vocab)[16];
static double *vocab_cdf;

/* Word i is i + 16 written in base 16 with a syllable per digit: all distinct. */
int vocab_init(unsigned n, double s)
{
	double sum = 0;
	unsigned i;

	vocab = calloc(n, sizeof(*vocab));
	vocab_cdf = calloc(n, sizeof(*vocab_cdf));
	if (!vocab || !vocab_cdf)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char digits[8];
		unsigned v = i + 16, k = 0;

		do {	/* v >= 16: at least two digits */
			digits[k++] = v % 16;
			v /= 16;
		} while (v);
		while (k--)
			strcat(vocab[i], syllables[(int)digits[k]]);
		sum += 1.0 / pow(i + 1, s);
		vocab_cdf[i] = sum;
	}
	for (i = 0; i < n; i++)
		vocab_cdf[i] /= sum;
	return 0;
}

/* The sentence of sequence number seq: the same for a seed whoever makes it. */
void make_sentence(uint64_t seq, struct record *s)
{
	uint64_t r = mix64(opt.seed) ^ mix64(seq + 1);
	int n = 4 + rng_next(&r) % 9, i;	/* 4..12 words */
	size_t len = 0;

	for (i = 0; i < n; i++) {
		double u = (rng_next(&r) >> 11) * 0x1.0p-53;
		unsigned lo = 0, hi = opt.vocab - 1;
		const char *w;

		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;

			if (vocab_cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		w = vocab[lo];
		len += snprintf(s->text + len, sizeof(s->text) - len, "%s%s", i ? " " : "", w);
		if (i == 0)
			s->text[0] = toupper(s->text[0]);
	}
	len += snprintf(s->text + len, sizeof(s->text) - len, ".");
	s->len = len;
	s->seq = seq;
}
