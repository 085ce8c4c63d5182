// SPDX-License-Identifier: GPL-2.0
/*
 * Connection steering (bpf/steer.bpf.c, user/actuate/steer.c) on real
 * sockets: N forked replicas listen with SO_REUSEPORT on one port of a
 * private network namespace's loopback and answer each connection with
 * their slot number; kpilot's steering takes their listeners with
 * pidfd_getfd, without their help. Checked: the split follows the weights
 * (within 4 binomial sigmas), round-robin is even, least-connections
 * balances held connections, the default hash comes back on detach, the
 * steering outlives the process that attached it (killed with SIGKILL) and
 * a later detach from another process still works, nothing is left pinned.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "actuate/steer.h"
#include "safety/session.h"

#define PORT	7411
#define NMAX	4

static pid_t rep[NMAX];
static int nrep;
static char svc[32];

/*
 * Answers each connection with its slot and keeps it open (the last 256),
 * so a client holding a connection keeps it ESTABLISHED: least-connections
 * sees it active until the client closes.
 */
static void replica(int slot, int lfd)
{
	char b = (char)('0' + slot);
	int ring[256], i = 0, c;

	memset(ring, -1, sizeof(ring));
	for (;;) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		if (write(c, &b, 1) != 1) {
			close(c);
			continue;
		}
		if (ring[i] >= 0)
			close(ring[i]);
		ring[i] = c;
		i = (i + 1) % 256;
	}
}

static int listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 512))
		return -1;
	return fd;
}

static void start(int n)
{
	int i, fd;

	if (geteuid() != 0)
		cr_skip_test("needs root (bpf, pidfd_getfd, a network namespace)");
	if (unshare(CLONE_NEWNET) || system("ip link set lo up"))
		cr_skip_test("no private network namespace: %s", strerror(errno));
	snprintf(svc, sizeof(svc), "t-steer-%d", (int)getpid());
	nrep = n;
	for (i = 0; i < n; i++) {
		fd = listener();
		cr_assert_geq(fd, 0, "replica %d listener: %s", i, strerror(errno));
		rep[i] = fork();
		cr_assert_geq(rep[i], 0);
		if (!rep[i])
			replica(i, fd);
		close(fd);
	}
}

static void stop(void)
{
	char why[256];
	struct stat st;
	char path[128];
	int i;

	if (!svc[0])
		return;		/* skipped before anything started */
	kp_steer_detach(svc, why, sizeof(why));
	for (i = 0; i < nrep; i++) {
		kill(rep[i], SIGKILL);
		waitpid(rep[i], NULL, 0);
	}
	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s", svc);
	cr_expect_neq(stat(path, &st), 0, "%s left behind", path);
}

/* One connection: which replica answered, -1 on error; *held keeps it open. */
static int ask(int *held)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char b;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) || read(fd, &b, 1) != 1) {
		close(fd);
		return -1;
	}
	if (held)
		*held = fd;
	else
		close(fd);
	return b - '0';
}

static void split(int k, int *count)
{
	int i, r;

	memset(count, 0, sizeof(int) * NMAX);
	for (i = 0; i < k; i++) {
		r = ask(NULL);
		cr_assert(r >= 0 && r < nrep, "connection %d failed", i);
		count[r]++;
	}
}

static void attach(struct kp_steer *st, enum kp_steer_mode mode, const __u32 *w, bool track)
{
	char why[256] = "";
	int err = kp_steer_attach(st, svc, rep, nrep, PORT, mode, w, track, why, sizeof(why));

	if (err == -ENOSYS || err == -ENOTSUP)
		cr_skip_test("steering unavailable on this kernel: %s", why);
	cr_assert_eq(err, 0, "attach: %s", why);
	cr_log_info("attached %s (%s program)", svc, st->migrate ? "migrate" : "select");
}

Test(steer, weights_split_binomial, .fini = stop)
{
	const __u32 w[2] = { 1, 3 };
	struct kp_steer st;
	int c[NMAX], k = 2000;
	double sd = sqrt(k * 0.25 * 0.75);

	start(2);
	attach(&st, KP_STEER_WEIGHTS, w, false);
	split(k, c);
	cr_log_info("1:3 over %d connections: %d / %d", k, c[0], c[1]);
	cr_expect(fabs(c[1] - k * 0.75) <= 4 * sd, "replica 1 got %d of %d, want %.0f +- %.0f",
		  c[1], k, k * 0.75, 4 * sd);
	cr_expect_eq(c[0] + c[1], k);
	kp_steer_release(&st);
}

Test(steer, round_robin_even, .fini = stop)
{
	struct kp_steer st;
	int c[NMAX], i;

	start(3);
	attach(&st, KP_STEER_RR, NULL, false);
	split(300, c);
	for (i = 0; i < 3; i++)
		cr_expect(c[i] >= 95 && c[i] <= 105, "replica %d got %d of 300", i, c[i]);
	kp_steer_release(&st);
}

Test(steer, least_connections_balances_held, .fini = stop)
{
	struct kp_steer st;
	struct kp_steer_stats s;
	int held[12], c[NMAX] = { 0 }, i, r;

	start(2);
	attach(&st, KP_STEER_LEASTCONN, NULL, true);
	for (i = 0; i < 12; i++) {
		r = ask(&held[i]);
		cr_assert(r >= 0, "connection %d failed", i);
		c[r]++;
	}
	cr_expect(c[0] == 6 && c[1] == 6, "held connections split %d / %d", c[0], c[1]);
	cr_assert_eq(kp_steer_stats_read(svc, &s), 0);
	cr_expect(s.active[0] == 6 && s.active[1] == 6, "active %lld / %lld", s.active[0],
		  s.active[1]);
	for (i = 0; i < 12; i++)
		close(held[i]);
	usleep(200000);
	cr_assert_eq(kp_steer_stats_read(svc, &s), 0);
	cr_expect(s.active[0] == 0 && s.active[1] == 0, "after close: active %lld / %lld",
		  s.active[0], s.active[1]);
	kp_steer_release(&st);
}

Test(steer, detach_returns_default_hash, .fini = stop)
{
	const __u32 w[2] = { 0, 1 };
	struct kp_steer st;
	char why[256], text[64];
	int c[NMAX];

	start(2);
	attach(&st, KP_STEER_WEIGHTS, w, false);
	cr_assert_eq(kp_steer_read(svc, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "0 1");
	split(200, c);
	cr_expect_eq(c[0], 0, "weight 0 still got %d connections", c[0]);
	kp_steer_release(&st);
	cr_assert_eq(kp_steer_detach(svc, why, sizeof(why)), 0, "detach: %s", why);
	cr_assert_eq(kp_steer_read(svc, text, sizeof(text)), 0);
	cr_expect_str_eq(text, KP_STEER_DEFAULT);
	split(200, c);
	cr_expect(c[0] > 40 && c[1] > 40, "default hash split %d / %d", c[0], c[1]);
}

Test(steer, outlives_killed_attacher, .fini = stop)
{
	const __u32 w[2] = { 0, 1 };
	struct kp_steer st;
	char why[256] = "";
	int c[NMAX], status, p[2];
	char ok = 0;
	pid_t pid;

	start(2);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	if (!pid) {
		ok = kp_steer_attach(&st, svc, rep, nrep, PORT, KP_STEER_WEIGHTS, w, false, why,
				     sizeof(why)) ? 'n' : 'y';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		pause();	/* killed below, holding the skeleton */
	}
	cr_assert_eq(read(p[0], &ok, 1), 1);
	if (ok != 'y') {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		cr_skip_test("steering unavailable on this kernel");
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	split(200, c);		/* every connection answered: asserted in split() */
	cr_expect_eq(c[0], 0, "steering gone with its attacher: %d / %d", c[0], c[1]);
	cr_assert_eq(kp_steer_detach(svc, why, sizeof(why)), 0, "detach: %s", why);
	split(200, c);
	cr_expect(c[0] > 40 && c[1] > 40, "default hash split %d / %d", c[0], c[1]);
	close(p[0]);
	close(p[1]);
}

Test(steer, refuses_foreign_pid, .fini = stop)
{
	struct kp_steer st;
	char why[256] = "";
	pid_t self = getpid();

	start(1);
	cr_expect_eq(kp_steer_attach(&st, svc, &self, 1, PORT, KP_STEER_WEIGHTS, NULL, false,
				     why, sizeof(why)), -ENOENT);
	cr_log_info("refused: %s", why);
	cr_expect(strstr(why, "port") != NULL, "reason: %s", why);
}

/*
 * The weights knob through a safety session: bounds refused, a change
 * journaled; the session's process killed with SIGKILL mid-run leaves the
 * service answering with the last weights, and `kpilot rollback`'s code
 * (kp_safety_rollback) brings the default hash back.
 */
Test(steer, knob_journaled_and_rolled_back, .fini = stop)
{
	char why[256] = "", knob[96], text[64], dir[] = "/tmp/kp-steer-XXXXXX", cmd[128];
	struct kp_session_opts o = { .state_dir = dir, .cmd = "test",
				     .step_policy = KP_STEP_REJECT };
	struct kp_session *s;
	struct kp_change ch;
	struct kp_steer st;
	int c[NMAX], status;
	pid_t pid;

	start(2);
	cr_assert_not_null(mkdtemp(dir));
	attach(&st, KP_STEER_HASH, NULL, false);
	kp_steer_release(&st);
	snprintf(knob, sizeof(knob), "steer:%s:weights", svc);
	cr_assert_eq(kp_steer_read(svc, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "default");
	pid = fork();
	if (!pid) {
		int err = kp_session_open(&o, &s, why, sizeof(why));

		ch = (struct kp_change){ .knob = knob, .value = "0 5" };
		if (err || kp_session_apply(s, &ch, 1, "test", why, sizeof(why)) != -EINVAL)
			_exit(2);	/* weight 0 starves a replica: refused */
		ch = (struct kp_change){ .knob = knob, .value = "1 2 3" };
		if (kp_session_apply(s, &ch, 1, "test", why, sizeof(why)) != -EINVAL)
			_exit(3);	/* three weights for two replicas */
		ch = (struct kp_change){ .knob = knob, .value = "1 9" };
		if (kp_session_apply(s, &ch, 1, "test", why, sizeof(why)))
			_exit(4);
		raise(SIGKILL);		/* mid-run, nothing restored */
	}
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status), "session child exited %d", WEXITSTATUS(status));
	cr_assert_eq(kp_steer_read(svc, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "1 9");
	split(400, c);		/* answering, steered ~1:9 */
	cr_expect(c[0] < 90, "weights 1:9 gave %d / %d", c[0], c[1]);
	cr_assert_eq(kp_safety_rollback(dir, why, sizeof(why)), 0, "rollback: %s", why);
	cr_assert_eq(kp_steer_read(svc, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "default");
	split(200, c);
	cr_expect(c[0] > 40 && c[1] > 40, "default hash split %d / %d", c[0], c[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/*
 * A replica that dies with connections in its accept queue: with the
 * sk_reuseport/migrate program (5.14+) they move to another replica and are
 * answered; without it (5.10) the kernel resets them, which the test
 * records and accepts there only.
 */
Test(steer, migrate_pending_on_close, .fini = stop)
{
	const __u32 w[2] = { 1, 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	struct kp_steer st;
	int fd[5], i, got1 = 0, reset = 0;
	char b;

	start(2);
	kill(rep[0], SIGSTOP);		/* replica 0 accepts nothing: its queue fills */
	attach(&st, KP_STEER_WEIGHTS, w, false);
	for (i = 0; i < 5; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(fd[i], 0);
		setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		cr_assert_eq(connect(fd[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	usleep(100000);
	kill(rep[0], SIGKILL);		/* its listener closes with 5 pending */
	waitpid(rep[0], NULL, 0);
	rep[0] = rep[1];		/* reaped: stop() must not signal a reused pid */
	for (i = 0; i < 5; i++) {
		if (read(fd[i], &b, 1) == 1 && b == '1')
			got1++;
		else
			reset++;
		close(fd[i]);
	}
	cr_log_info("%s program: %d of 5 pending connections answered by replica 1, %d reset",
		    st.migrate ? "migrate" : "select", got1, reset);
	if (st.migrate)
		cr_expect_eq(got1, 5, "migrated %d of 5", got1);
	else
		cr_expect_eq(reset, 5, "without migrate: %d reset", reset);
	kp_steer_release(&st);
}
