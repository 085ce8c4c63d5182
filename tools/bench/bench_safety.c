// SPDX-License-Identifier: GPL-2.0
/*
 * What one change through the safety path costs (validate -> journal with
 * fdatasync -> write -> read back), side by side in one run: the journal on
 * tmpfs vs on the disk, and validation alone (dry run).  The knobs live in a
 * fake root on tmpfs, so only kpilot's own work and the journal are measured.
 *
 *   build/tools/bench/bench_safety [N]      (default N = 300 changes each)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "lib/log.h"
#include "safety/session.h"

static double fake_now = 1700000000.0;

static double bench_clock(void)
{
	return fake_now += 10;	/* never inside a minimum interval */
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int put(const char *root, const char *rel, const char *text)
{
	char path[4096], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	fclose(f);
	return 0;
}

/* Microseconds per change, or a negative errno. */
static double run(const char *root, const char *state, bool dry, int n)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .dry_run = dry,
				     .clock = bench_clock, .cmd = "bench" };
	struct kp_session *s;
	char why[512], val[32];
	double t0, t;
	int i, err;

	err = kp_session_open(&o, &s, why, sizeof(why));
	if (err) {
		fprintf(stderr, "bench: %s\n", why);
		return err;
	}
	t0 = mono();
	for (i = 0; i < n; i++) {
		struct kp_change c = { "net.core.somaxconn", val };

		snprintf(val, sizeof(val), "%d", 4096 + (i % 2 ? 0 : 1024));
		err = kp_session_apply(s, &c, 1, "bench", why, sizeof(why));
		if (err) {
			fprintf(stderr, "bench: %s\n", why);
			break;
		}
	}
	t = mono() - t0;
	kp_session_close(s);
	return err ? err : t / n * 1e6;
}

int main(int argc, char **argv)
{
	char root[] = "/dev/shm/kpilot-bench-root-XXXXXX";
	char shm[] = "/dev/shm/kpilot-bench-state-XXXXXX";
	char disk[] = "/var/tmp/kpilot-bench-state-XXXXXX";
	int n = argc > 1 ? atoi(argv[1]) : 300;
	double dry, fast, slow;
	char cmd[256];

	kp_verbosity = KP_WARN;
	if (n <= 0 || !mkdtemp(root) || !mkdtemp(shm) || !mkdtemp(disk)) {
		fprintf(stderr, "usage: bench_safety [N]; needs /dev/shm and /var/tmp\n");
		return 2;
	}
	put(root, "/proc/sys/net/core/somaxconn", "4096\n");
	dry = run(root, shm, true, n);
	fast = run(root, shm, false, n);
	slow = run(root, disk, false, n);
	printf("safety path, %d changes each (fake knobs on tmpfs):\n", n);
	printf("  validate only (dry run)            %9.1f us/change\n", dry);
	printf("  apply, journal on tmpfs            %9.1f us/change\n", fast);
	printf("  apply, journal on disk (/var/tmp)  %9.1f us/change  (%.1fx tmpfs: fdatasync)\n",
	       slow, fast > 0 ? slow / fast : 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s", root, shm, disk);
	return system(cmd) ? 1 : 0;
}
