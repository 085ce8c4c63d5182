// SPDX-License-Identifier: GPL-2.0
/* CPU lists ("0-3,6"), the values of cpuset.cpus: parse, canonical text, subset. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "safety/knob.h"

int kp_cpulist_parse(const char *text, unsigned long long *bits, char *why, size_t len)
{
	const char *p = text;
	char *end;
	long a, b;

	memset(bits, 0, KP_CPUS_MAX / 8);
	if (!*p) {
		if (why && len)
			snprintf(why, len, "empty CPU list");
		return -EINVAL;
	}
	for (;;) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		a = strtol(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			if (!isdigit((unsigned char)p[1]))
				goto bad;
			b = strtol(p + 1, &end, 10);
			p = end;
		}
		if (errno || a > b || b >= KP_CPUS_MAX) {
			if (why && len)
				snprintf(why, len, "bad CPU range in '%.64s' (CPUs 0-%d, low-high)",
					 text, KP_CPUS_MAX - 1);
			return -EINVAL;
		}
		for (long c = a; c <= b; c++)
			bits[c / 64] |= 1ULL << (c % 64);
		if (!*p)
			return 0;
		if (*p++ != ',')
			goto bad;
	}
bad:
	if (why && len)
		snprintf(why, len, "'%.64s' is not a CPU list (like 0-3,6)", text);
	return -EINVAL;
}

void kp_cpulist_format(const unsigned long long *bits, char *buf, size_t len)
{
	size_t o = 0;
	int c = 0;

	buf[0] = '\0';
	while (c < KP_CPUS_MAX) {
		int s;

		if (!(bits[c / 64] & (1ULL << (c % 64)))) {
			c++;
			continue;
		}
		s = c;
		while (c + 1 < KP_CPUS_MAX && (bits[(c + 1) / 64] & (1ULL << ((c + 1) % 64))))
			c++;
		if (o < len)
			o += snprintf(buf + o, len - o, s == c ? "%s%d" : "%s%d-%d",
				      o ? "," : "", s, c);
		c++;
	}
}

bool kp_cpulist_subset(const char *sub, const char *super)
{
	unsigned long long a[KP_CPUS_MAX / 64], b[KP_CPUS_MAX / 64];
	int i;

	if (kp_cpulist_parse(sub, a, NULL, 0) || kp_cpulist_parse(super, b, NULL, 0))
		return false;
	for (i = 0; i < KP_CPUS_MAX / 64; i++)
		if (a[i] & ~b[i])
			return false;
	return true;
}
