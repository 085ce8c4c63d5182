// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lib/log.h"

int kp_verbosity = KP_INFO;

/*
 * Everything goes to stderr as "kpilot: <level>: message" on one line, so
 * journald (or a pipe) keeps one record per event and stdout stays data.
 */
void kp_log(enum kp_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char buf[1024];
	va_list ap;
	size_t n;

	if ((int)lvl > kp_verbosity)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	fprintf(stderr, "kpilot: %s: %s\n", names[lvl], buf);
}
