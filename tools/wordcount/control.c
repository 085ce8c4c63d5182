// SPDX-License-Identifier: GPL-2.0
/*
 * The control FIFO's protocol, one command a line: "rate N",
 * "workers OP=N[,OP=N]", "stop". Apart from the launcher so a fuzz target
 * (selftests/fuzz/fuzz_wc_control.c) can feed it without a pipeline.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordcount.h"

/* The names commands and reports use. */
const char *const op_names[NR_OPS] = { "source", "split", "count", "sink" };

int parse_workers(const char *arg, int *w)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		long n;
		int i;

		if (!eq) {
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		for (i = 0; i < NR_OPS; i++)
			if (!strcmp(tok, op_names[i]))
				break;
		n = strtol(eq + 1, &end, 10);
		if (i == NR_OPS || *end || end == eq + 1 || n < 1 || n > MAX_WORKERS) {
			ret = -EINVAL;
			break;
		}
		w[i] = n;
	}
	free(copy);
	return ret;
}

/* One control line: "rate N", "workers OP=N[,OP=N]", "stop". */
int control_line(char *line, bool *stop)
{
	char *arg;

	while (*line == ' ' || *line == '\t')
		line++;
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "rate") && arg) {
		char *end;
		unsigned long long r = strtoull(arg, &end, 10);

		if (!isdigit((unsigned char)*arg) || (*end && !isspace((unsigned char)*end)) ||
		    r > 10000000)
			return -EINVAL;
		st(&S->rate, r);
		add(&S->rate_gen, 1);
		fprintf(stderr, "wordcount: control: rate %llu\n", r);
		return 0;
	}
	if (!strcmp(line, "workers") && arg) {
		int w[NR_OPS], i;

		for (i = 0; i < NR_OPS; i++)
			w[i] = ld(&S->op[i].workers_target);
		if (parse_workers(arg, w))
			return -EINVAL;
		for (i = 0; i < NR_OPS; i++)
			st(&S->op[i].workers_target, w[i]);
		fprintf(stderr, "wordcount: control: workers %s\n", arg);
		return 0;
	}
	if (!strcmp(line, "stop")) {
		*stop = true;
		return 0;
	}
	return -EINVAL;
}

/*
 * Apply the complete lines among the len bytes in buf (NUL-terminated), keep
 * a partial one at the front. A line filling the buffer is not a command.
 */
void control_lines(char *buf, size_t *len, size_t size, bool *stop)
{
	char *nl;

	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		if (nl > buf && control_line(buf, stop))
			fprintf(stderr, "wordcount: control: bad command '%s'\n", buf);
		*len -= nl + 1 - buf;
		memmove(buf, nl + 1, *len + 1);
	}
	if (*len == size - 1)
		*len = 0;
}
