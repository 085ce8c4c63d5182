/* SPDX-License-Identifier: GPL-2.0 */
/* What test_intent and test_intent_run share: a scratch dir, a host with every tool, commands. */
#ifndef KPILOT_TEST_INTENT_UTIL_H
#define KPILOT_TEST_INTENT_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "intent/intent.h"
#include "../lib/testutil.h"

#define KPILOT "./kpilot"
#define PROFILES "tools/profiles"
#define SEED_SENTENCE "optimize this system for a PostgreSQL database"
#define CHURN_SENTENCE "a service with many short-lived TCP connections"

static char tmp[64];	/* each test binary its own */

static inline void rmtmp(void)
{
	tu_rmtmp(tmp);
}

static inline void mktmp(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-intent-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static inline void need_binary(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
}

/* A host with every tool, 16 GiB, no swap, 4 CPUs, one node, an SSD, cgroup v2. */
static inline struct kp_host_facts full_host(void)
{
	struct kp_host_facts h = { .mem_mb = 16384, .cpus = 4, .numa_nodes = 1, .ndisks = 1,
				   .cgroup_version = 2, .cgroup_cpu = true, .pg_socket = true };
	int t;

	strcpy(h.disks[0].name, "sda");
	strcpy(h.tmp_disk, "sda");
	strcpy(h.distro, "debian");
	for (t = 0; t < KP_TOOL_N; t++)
		snprintf(h.tool_path[t], sizeof(h.tool_path[t]), "/usr/bin/%s", kp_tool_names[t]);
	return h;
}

/* A shell command's exit status and its output (malloc'd). */
static inline int run(const char *cmd, char **out)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	cr_assert(buf && p);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap)
			cr_assert_not_null(buf = realloc(buf, cap *= 2));
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline const struct kp_tune_action *action(const struct kp_tune_config *c, const char *knob)
{
	int i;

	for (i = 0; i < c->nactions; i++)
		if (!strcmp(c->actions[i].knob, knob))
			return &c->actions[i];
	return NULL;
}

static inline bool has_note(const struct kp_intent *in, const char *part)
{
	int i;

	for (i = 0; i < in->nnotes; i++)
		if (strstr(in->notes[i], part))
			return true;
	return false;
}

static inline void build_ok(const char *sentence, const struct kp_host_facts *h, struct kp_intent *in)
{
	char why[1024];
	int err = kp_intent_build(sentence, h, PROFILES, in, why, sizeof(why));

	cr_assert_eq(err, 0, "\"%s\": %s", sentence, why);
}

#endif
