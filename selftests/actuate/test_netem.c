// SPDX-License-Identifier: GPL-2.0
/*
 * TCP buffer sysctls against a real 50 ms delay: the bandwidth-delay product.
 *
 * Two private network namespaces joined by a veth pair, sch_netem delaying
 * one direction by 50 ms, a bulk TCP transfer between them: once with
 * tcp_rmem/tcp_wmem capped at 16 KiB, once with Linux's usual autotuning
 * range. A window of W bytes moves at most W per round trip, so the capped
 * run must stay under that bound and the roomy one must go much faster. Only
 * a real delay makes this meaningful, so it runs where sch_netem exists (the
 * VM of `make vmtest`) and skips elsewhere. Sysctls are written inside the
 * private namespaces only; the test checks the host's are untouched.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../lib/emulation.h"

#define DELAY_MS	50
#define PORT		5201
#define ADDR_RX		"10.77.0.1"	/* receiver's end, va, netem on egress (ACKs) */
#define ADDR_TX		"10.77.0.2"	/* sender's end, vb */
#define SMALL_BUF	16384

struct xfer {
	int err;		/* 0, or a negative errno from the step that failed */
	char step[64];		/* which step failed */
	double connect_ms;	/* SYN to SYN-ACK: one round trip */
	double rtt_ms;		/* the kernel's smoothed RTT at the end */
	double seconds;
	unsigned long long bytes;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run argv (no shell) and return its exit status, or a negative errno. */
static int run(const char *const argv[], bool quiet)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int write_file(const char *path, const char *val)
{
	int fd, err = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		err = -errno;
	close(fd);
	return err;
}

static int read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Both ends wait on each other through pipes: one byte means "go on". */
static int sync_wait(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -EPIPE;
}

static void sync_post(int fd)
{
	if (write(fd, "g", 1) != 1)
		_exit(1);
}

static bool netem_available(void)
{
	const char *add[] = { "tc", "qdisc", "add", "dev", "lo", "root", "netem",
			      "delay", "1ms", NULL };
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET))
			_exit(1);
		_exit(run(add, true) == 0 ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static int set_bufs(const char *bufs)
{
	int err;

	err = write_file("/proc/sys/net/ipv4/tcp_rmem", bufs);
	if (!err)
		err = write_file("/proc/sys/net/ipv4/tcp_wmem", bufs);
	return err;
}

#define FAIL(x, e, what) do { (x)->err = (e); \
	snprintf((x)->step, sizeof((x)->step), "%s", what); goto out; } while (0)

/* The sender: its own namespace, vb, writes until the receiver hangs up. */
static void sender(const char *bufs, int wait_fd, int post_fd)
{
	const char *addr[] = { "ip", "addr", "add", ADDR_TX "/24", "dev", "vb", NULL };
	const char *up[] = { "ip", "link", "set", "vb", "up", NULL };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	static char buf[65536];
	int one = 1, ls, s;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNET))
		_exit(10);
	sync_post(post_fd);		/* namespace ready for the veth end */
	if (sync_wait(wait_fd))		/* vb is here */
		_exit(11);
	if (run(addr, false) || run(up, false) || set_bufs(bufs))
		_exit(12);
	inet_pton(AF_INET, ADDR_TX, &sa.sin_addr);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1))
		_exit(13);
	sync_post(post_fd);		/* listening */
	s = accept(ls, NULL, NULL);
	if (s < 0)
		_exit(14);
	memset(buf, 0x5a, sizeof(buf));
	while (send(s, buf, sizeof(buf), MSG_NOSIGNAL) > 0)
		;
	_exit(0);
}

/* The receiver: its own namespace, va with netem, reads for @secs seconds. */
static void receiver(const char *bufs, double secs, struct xfer *x)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	char pid_s[16], delay_s[16];
	const char *veth[] = { "ip", "link", "add", "va", "type", "veth", "peer", "name",
			       "vb", "netns", pid_s, NULL };
	const char *addr[] = { "ip", "addr", "add", ADDR_RX "/24", "dev", "va", NULL };
	const char *up[] = { "ip", "link", "set", "va", "up", NULL };
	const char *netem[] = { "tc", "qdisc", "add", "dev", "va", "root", "netem",
				"delay", delay_s, NULL };
	int to_tx[2], from_tx[2], s = -1, err;
	static char buf[65536];
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	double t0, end;
	pid_t tx = -1;
	ssize_t n;

	if (unshare(CLONE_NEWNET))
		FAIL(x, -errno, "unshare(CLONE_NEWNET)");
	if (pipe(to_tx) || pipe(from_tx))
		FAIL(x, -errno, "pipe");
	tx = fork();
	if (tx < 0)
		FAIL(x, -errno, "fork");
	if (tx == 0)
		sender(bufs, to_tx[0], from_tx[1]);
	close(to_tx[0]);
	close(from_tx[1]);
	if (sync_wait(from_tx[0]))
		FAIL(x, -ECHILD, "sender namespace");
	snprintf(pid_s, sizeof(pid_s), "%d", tx);
	snprintf(delay_s, sizeof(delay_s), "%dms", DELAY_MS);
	if (run(veth, false))
		FAIL(x, -EIO, "ip link add veth");
	if (run(addr, false) || run(up, false))
		FAIL(x, -EIO, "ip addr/link va");
	if (run(netem, false))
		FAIL(x, -EIO, "tc qdisc add netem");
	err = set_bufs(bufs);
	if (err)
		FAIL(x, err, "tcp_rmem/tcp_wmem in the namespace");
	sync_post(to_tx[1]);
	if (sync_wait(from_tx[0]))
		FAIL(x, -ECHILD, "sender setup");

	inet_pton(AF_INET, ADDR_TX, &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		FAIL(x, -errno, "socket");
	t0 = now_s();
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL(x, -errno, "connect");
	x->connect_ms = (now_s() - t0) * 1e3;
	t0 = now_s();
	end = t0 + secs;
	while (now_s() < end) {
		n = recv(s, buf, sizeof(buf), 0);
		if (n <= 0)
			FAIL(x, n ? -errno : -ECONNRESET, "recv");
		x->bytes += n;
	}
	x->seconds = now_s() - t0;
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len))
		FAIL(x, -errno, "TCP_INFO");
	x->rtt_ms = ti.tcpi_rtt / 1e3;
out:
	if (s >= 0)
		close(s);
	if (tx > 0) {
		kill(tx, SIGKILL);
		waitpid(tx, NULL, 0);
	}
}

/* One transfer in a throwaway pair of namespaces, measured in a child so the
 * test process never leaves the host's namespace. */
static struct xfer transfer(const char *bufs, double secs)
{
	struct xfer x = { 0 };
	int p[2], status;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		receiver(bufs, secs, &x);
		_exit(write(p[1], &x, sizeof(x)) == sizeof(x) ? 0 : 1);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &x, sizeof(x)), (ssize_t)sizeof(x),
		     "the namespace child died");
	close(p[0]);
	waitpid(pid, &status, 0);
	cr_assert_eq(x.err, 0, "%s failed: %s", x.step, strerror(-x.err));
	return x;
}

Test(netem, buffer_size_bounds_throughput_at_50ms, .timeout = 120)
{
	char small[64], before[128], after[128];
	double secs, small_bps, large_bps, bound;
	struct xfer s, l;
	struct utsname u;

	if (geteuid())
		cr_skip_test("needs root (network namespaces, netem)");
	uname(&u);
	if (!netem_available())
		cr_skip_test("no sch_netem on kernel %s (tc qdisc add ... netem fails); "
			     "it runs under `make vmtest`", u.release);
	cr_assert_eq(read_file("/proc/sys/net/ipv4/tcp_rmem", before, sizeof(before)), 0);

	/* Long enough for slow start to open a large window: ~20 round trips. */
	secs = kp_test_emulated() ? 2.0 : 1.0;
	snprintf(small, sizeof(small), "4096 %d %d", SMALL_BUF, SMALL_BUF);
	s = transfer(small, secs);
	l = transfer("4096 131072 8388608", secs);

	/* The delay is real: one round trip to connect, and the kernel's RTT. */
	cr_expect_geq(s.connect_ms, DELAY_MS * 0.9, "connect took %.1f ms", s.connect_ms);
	cr_expect_geq(s.rtt_ms, DELAY_MS * 0.9, "srtt %.1f ms", s.rtt_ms);
	cr_expect_geq(l.rtt_ms, DELAY_MS * 0.9, "srtt %.1f ms", l.rtt_ms);

	small_bps = s.bytes / s.seconds;
	large_bps = l.bytes / l.seconds;
	cr_log_info("netem %d ms on %s: rmem/wmem max %d B: %.0f KB/s, 8 MiB: %.0f KB/s\n",
		    DELAY_MS, u.release, SMALL_BUF, small_bps / 1e3, large_bps / 1e3);
	/*
	 * At most one receive window per round trip, and the advertised window
	 * never exceeds tcp_rmem[2] (part of it pays for skb overhead), plus
	 * one window that may already be queued when the clock starts.
	 */
	bound = SMALL_BUF * (1e3 / DELAY_MS + 1 / s.seconds);
	cr_expect_leq(small_bps, bound, "%.0f B/s through a %d B buffer at %d ms RTT",
		      small_bps, SMALL_BUF, DELAY_MS);
	cr_expect_geq(large_bps, 5 * small_bps, "large buffers: %.0f B/s, small: %.0f B/s",
		      large_bps, small_bps);

	cr_assert_eq(read_file("/proc/sys/net/ipv4/tcp_rmem", after, sizeof(after)), 0);
	cr_assert_str_eq(after, before, "the host's tcp_rmem changed");
}
