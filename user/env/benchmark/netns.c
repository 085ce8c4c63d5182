// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "env/benchmark/bench_run.h"
#include "env/benchmark/tune_run.h"
#include "lib/log.h"

/* Run a helper command (ip) from an argv array; 0 or -EIO with its output. */
static int run_cmd(char *const argv[], char *why, size_t len)
{
	struct kp_run_opts ro = { .argv = argv };
	struct kp_child p;
	int st;

	st = kp_child_start(&ro, &p, why, len);
	if (st)
		return st;
	st = kp_child_finish(&p, 10, NULL);
	if (st) {
		if (p.len)
			snprintf(why, len, "%s %s %s: %s", argv[0], argv[1], argv[2], p.out);
		else
			snprintf(why, len, "%s %s %s: exit status %d, no output", argv[0], argv[1],
				 argv[2], st);
		why[strcspn(why, "\n")] = '\0';
		kp_child_free(&p);
		return -EIO;
	}
	kp_child_free(&p);
	return 0;
}

void tune_ns_teardown(struct tune *t)
{
	char why[256];
	int i;

	for (i = t->nns - 1; i >= 0; i--) {
		char *del[] = { "ip", "netns", "delete", t->ns[i], NULL };

		if (run_cmd(del, why, sizeof(why)))
			kp_warn("cannot delete network namespace %s: %s", t->ns[i], why);
	}
	t->nns = 0;
}

/*
 * Fresh namespaces for one run: one with loopback for a command, or the
 * tcp-churn pair (server, client) joined by a veth link.
 */
int tune_ns_setup(struct tune *t, char *why, size_t len)
{
	bool pair = !!t->c->builtin[0];
	int i, err;

	t->run_id++;
	t->nns = 0;
	for (i = 0; i < (pair ? 2 : 1); i++) {
		char *add[] = { "ip", "netns", "add", t->ns[i], NULL };
		char *lo[] = { "ip", "-n", t->ns[i], "link", "set", "lo", "up", NULL };

		snprintf(t->ns[i], sizeof(t->ns[i]), "kpilot-%d-%d-%s", getpid(), t->run_id,
			 pair ? (i ? "cli" : "srv") : "run");
		err = run_cmd(add, why, len);
		if (err)
			goto fail;
		t->nns++;
		err = run_cmd(lo, why, len);
		if (err)
			goto fail;
	}
	if (pair) {
		static const char *const ip[2] = { CHURN_SRV_IP "/24", CHURN_CLI_IP "/24" };

		snprintf(t->veth[0], sizeof(t->veth[0]), "kp%05d%04da", getpid() % 100000,
			 t->run_id % 10000);
		snprintf(t->veth[1], sizeof(t->veth[1]), "kp%05d%04db", getpid() % 100000,
			 t->run_id % 10000);
		{
			char *mk[] = { "ip", "link", "add", t->veth[0], "netns", t->ns[0], "type",
				       "veth", "peer", "name", t->veth[1], "netns", t->ns[1], NULL };

			err = run_cmd(mk, why, len);
			if (err)
				goto fail;
		}
		for (i = 0; i < 2; i++) {
			char *addr[] = { "ip", "-n", t->ns[i], "addr", "add", (char *)ip[i], "dev",
					 t->veth[i], NULL };
			char *up[] = { "ip", "-n", t->ns[i], "link", "set", t->veth[i], "up", NULL };

			err = run_cmd(addr, why, len);
			err = err ?: run_cmd(up, why, len);
			if (err)
				goto fail;
		}
	}
	return 0;
fail:
	tune_ns_teardown(t);
	return err;
}
