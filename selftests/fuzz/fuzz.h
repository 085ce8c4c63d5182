/* SPDX-License-Identifier: GPL-2.0 */
/* What every libFuzzer target here shares: the input as a C string. */
#ifndef KPILOT_FUZZ_H
#define KPILOT_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy (the parsers take text); the caller frees it. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* An invariant broke: say which, then crash so libFuzzer keeps the input. */
#define fuzz_assert(cond, ...) do {					\
	if (!(cond)) {							\
		dprintf(2, "fuzz invariant: " __VA_ARGS__);	\
		dprintf(2, "\n");						\
		abort();						\
	}								\
} while (0)

#endif
