// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lib/log.h"

int kp_verbosity = KP_INFO;

/*
 * Under systemd, stderr is the journal when JOURNAL_STREAM names its device
 * and inode: then each line starts with its syslog priority ("<6>" info), so
 * journald files it at the right level.
 */
static bool to_journal(void)
{
	static int known = -1;
	unsigned long long dev, ino;
	const char *js;
	struct stat st;

	if (known < 0) {
		js = getenv("JOURNAL_STREAM");
		known = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
			st.st_dev == dev && st.st_ino == ino;
	}
	return known;
}

/*
 * Everything goes to stderr as "kpilot: <level>: message" on one line, so
 * journald (or a pipe) keeps one record per event and stdout stays data.
 */
void kp_log(enum kp_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
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
	fprintf(stderr, "%skpilot: %s: %s\n", to_journal() ? prio[lvl] : "", names[lvl], buf);
}
