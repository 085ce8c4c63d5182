// SPDX-License-Identifier: GPL-2.0
/*
 * The wordcount control FIFO (tools/wordcount/control.c): bytes as they come
 * out of read(), in chunks the first byte sizes, through the launcher's line
 * framing. Whatever arrives, the targets stay within the protocol's limits.
 */
#include <stdbool.h>
#include "fuzz.h"
#include "wordcount/wordcount.h"

struct shm *S;

/* The launcher reports every command on stderr: not millions of times here. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");

	if (null)
		stderr = null;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4096];
	size_t len = 0, off, chunk, n;
	bool stop = false;
	int i;

	if (!S) {
		S = calloc(1, sizeof(*S));
		if (!S)
			abort();
	}
	memset(S, 0, sizeof(*S));
	for (i = 0; i < NR_OPS; i++)
		S->op[i].workers_target = 1;
	if (!size)
		return 0;
	chunk = data[0] % 64 + 1;
	for (off = 1; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		if (n > sizeof(buf) - 1 - len)
			n = sizeof(buf) - 1 - len;
		memcpy(buf + len, data + off, n);
		len += n;
		control_lines(buf, &len, sizeof(buf), &stop);
		fuzz_assert(len < sizeof(buf), "kept %zu bytes", len);
	}
	fuzz_assert(S->rate <= 10000000, "rate %llu", (unsigned long long)S->rate);
	for (i = 0; i < NR_OPS; i++)
		fuzz_assert(S->op[i].workers_target >= 1 && S->op[i].workers_target <= MAX_WORKERS,
			    "%s: %u workers", op_names[i], S->op[i].workers_target);
	return 0;
}
