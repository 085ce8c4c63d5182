/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the sysctl policy tests: a private netns with a veth address
 * and the built-in tcp-churn server and client in it, a real `kpilot run`,
 * and its status read through the control socket.
 */
#ifndef KPILOT_TEST_SYSCTL_RIG_H
#define KPILOT_TEST_SYSCTL_RIG_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daemon_util.h"

struct rig {
	char ns[32];
	pid_t srv, cli;
	struct dm d;
	char state[128];
};

static struct rig rig;

static inline void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(tu_system(cmd), 0, "%s failed", cmd);
}

static inline pid_t spawn_ns(const char *ns, const char *const *argv)
{
	pid_t pid = fork();
	const char *a[16] = { "ip", "netns", "exec", ns };
	int i, fd;

	cr_assert_geq(pid, 0);
	if (!pid) {
		for (i = 0; argv[i] && i < 11; i++)
			a[4 + i] = argv[i];
		a[4 + i] = NULL;
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp("ip", (char *const *)a);
		_exit(127);
	}
	return pid;
}

static inline void read_knob(const char *knob, char *out, size_t len)
{
	char cmd[256];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s sysctl -n %s", rig.ns, knob);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	out[0] = '\0';
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	pclose(f);
	cr_assert(out[0], "%s: no value", cmd);
}

/* netns with a non-loopback address (tcp_tw_reuse=2 would hide the port pressure on lo) */
static inline void rig_up(void)
{
	static const char *srv[] = { KPILOT, "tcpchurn", "server", "--addr", "10.203.0.1",
				     "--port", "9100", "--seconds", "120", NULL };
	static const char *cli[] = { KPILOT, "tcpchurn", "client", "--addr", "10.203.0.1",
				     "--port", "9100", "--seconds", "120", "--threads", "2", NULL };

	dm_need_root();
	if (tu_system("ip netns list >/dev/null 2>&1"))
		cr_skip_test("no ip netns");
	memset(&rig, 0, sizeof(rig));
	snprintf(rig.ns, sizeof(rig.ns), "kp-test-%d", (int)getpid());
	sh("ip netns add %s", rig.ns);
	sh("ip netns exec %s ip link set lo up && ip netns exec %s ip link add kpa type veth peer "
	   "name kpb && ip netns exec %s ip addr add 10.203.0.1/24 dev kpa && ip netns exec %s ip "
	   "link set kpa up && ip netns exec %s ip link set kpb up", rig.ns, rig.ns, rig.ns, rig.ns,
	   rig.ns);
	rig.srv = spawn_ns(rig.ns, srv);
	usleep(300000);
	rig.cli = spawn_ns(rig.ns, cli);
	usleep(200000);
}

static inline void rig_down(void)
{
	dm_cleanup(&rig.d);
	if (rig.cli > 0)
		kill(rig.cli, SIGTERM), waitpid(rig.cli, NULL, 0);
	if (rig.srv > 0)
		kill(rig.srv, SIGTERM), waitpid(rig.srv, NULL, 0);
	if (rig.state[0]) {
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", rig.state);
		tu_system(cmd);
	}
	if (rig.ns[0]) {
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "ip netns del %s", rig.ns);
		if (tu_system(cmd))
			fprintf(stderr, "%s failed\n", cmd);
	}
}

static inline json_t *policy_status(void)
{
	json_t *s = dm_status(&rig.d);
	json_t *p = json_incref(json_array_get(json_object_get(s, "policies"), 0));

	json_decref(s);
	cr_assert_not_null(p, "status has no policy");
	return p;
}

static inline json_t *knob_status(json_t *pol, const char *name)
{
	size_t i;
	json_t *k;

	json_array_foreach(json_object_get(pol, "knobs"), i, k)
		if (!strcmp(json_string_value(json_object_get(k, "knob")), name))
			return k;
	return NULL;
}

static inline long long pol_int(json_t *pol, const char *key)
{
	return json_integer_value(json_object_get(pol, key));
}

/* Wait until the policy's counter (changes, updates) reaches n (up to s seconds). */
static inline void wait_count(const char *what, int n, int s)
{
	for (int i = 0; i < s * 10; i++) {
		json_t *p = policy_status();
		long long c = pol_int(p, what);

		json_decref(p);
		if (c >= n)
			return;
		usleep(100000);
	}
	cr_assert_fail("fewer than %d %s in %d s: %s", n, what, s, rig.d.log);
}

static inline void wait_changes(int n, int s)
{
	wait_count("changes", n, s);
}

static inline int count_lines(const char *path, const char *needle)
{
	char *t = tu_slurp(path), *p;
	int n = 0;

	cr_assert_not_null(t);
	for (p = t; (p = strstr(p, needle)); p++)
		n++;
	free(t);
	return n;
}

#endif
