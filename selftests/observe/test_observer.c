// SPDX-License-Identifier: GPL-2.0
/*
 * The observer against ground truth: real programs on real tracepoints, in
 * both the tp_btf and the legacy (raw_tp + hash) mode. Each workload runs in
 * a child that waits on a pipe until the observer watches it, then reports
 * what it measured of itself.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "observe/observer.h"

static struct kp_observer *obs;

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to load BPF programs");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		cr_skip_test("needs kernel BTF (/sys/kernel/btf/vmlinux)");
}

/*
 * tp_btf mode keeps per-task state in task storage, which tracing programs
 * may use from 5.13 on; before that the observer falls back to raw_tp, which
 * the _legacy twin of each test covers (Documentation/design.md).
 */
static bool tp_btf_possible(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return true;
	return maj > 5 || (maj == 5 && min >= 13);
}

static void skip_without_tp_btf(void)
{
	if (!tp_btf_possible())
		cr_skip_test("tp_btf mode needs task storage for tracing programs (5.13+); "
			     "this kernel runs the raw_tp fallback, tested by the _legacy tests");
}

static void open_observer(bool legacy)
{
	struct kp_observer_opts o = { .interval_ms = 100, .legacy = legacy, .filter = true };
	char err[512];

	need_root();
	if (!legacy)
		skip_without_tp_btf();
	cr_assert_eq(kp_observer_open(&obs, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(kp_observer_mode(obs), legacy ? "raw_tp" : "tp_btf");
	cr_assert_str_eq(kp_observer_runq_method(obs), legacy ? "timed" : "run_delay");
}

static void teardown(void)
{
	kp_observer_close(obs);
	obs = NULL;
}

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void burn_until(clockid_t c, double secs)
{
	double end = now_s(c) + secs;
	volatile unsigned long x = 0;

	while (now_s(c) < end)
		for (int i = 0; i < 10000; i++)
			x += i;
	(void)x;	/* clang: a volatile only written is "set but not used" */
}

/*
 * A child that blocks until released, runs fn and writes fn's result (8
 * bytes) to the parent. Returns its pid; *go releases it, *res reads back.
 */
static pid_t spawn(long long (*fn)(void *), void *arg, int *go, int *res)
{
	int a[2], b[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		long long v;

		close(a[1]);
		close(b[0]);
		if (read(a[0], &c, 1) != 1)
			_exit(1);
		v = fn(arg);
		if (write(b[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*go = a[1];
	*res = b[0];
	return pid;
}

static void release(int *go)
{
	cr_assert_eq(write(*go, "g", 1), 1);
	close(*go);
	*go = -1;
}

/* Release the child if not yet, wait for its result and its exit. */
static long long finish(pid_t pid, int go, int res)
{
	long long v = -1;
	int st;

	if (go >= 0)
		release(&go);
	cr_assert_eq(read(res, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "workload child failed");
	close(res);
	return v;
}

/*
 * Poll until the process's exit record arrived, then two intervals more for
 * what lands after exit (TIME_WAIT closes): then everything it did is in.
 */
static struct kp_entity *collect(pid_t pid)
{
	struct kp_entity *e;
	int i, j;

	for (i = 0; i < 100; i++) {
		cr_assert_eq(kp_observer_poll(obs), 0);
		e = kp_table_find(&kp_observer_interval(obs)->procs, pid);
		if (e && e->exited) {
			for (j = 0; j < 3; j++) {
				usleep(100000);
				cr_assert_eq(kp_observer_poll(obs), 0);
			}
			return kp_table_find(&kp_observer_interval(obs)->procs, pid);
		}
		usleep(50000);
	}
	cr_assert_fail("no exit record for %d within 5 s", pid);
	return NULL;
}

/* --- CPU time: within 3% of the process's own CLOCK_PROCESS_CPUTIME_ID --- */

/*
 * 0.6 s natively; 3 s under emulation (KPILOT_EMULATED=1, make vmtest's TCG
 * guest), where the child's fork and exit, which the observer counts and
 * the child's own clock reading can't, cost up to 90 ms: 3% of 0.6 s.
 */
static double burn_secs(void)
{
	const char *e = getenv("KPILOT_EMULATED");

	return e && !strcmp(e, "1") ? 3.0 : 0.6;
}

static long long burn_cpu(void *arg)
{
	struct timespec ts;

	burn_until(CLOCK_PROCESS_CPUTIME_ID, burn_secs());
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cpu_time(bool legacy)
{
	int go, res;
	pid_t pid;
	long long truth;
	struct kp_entity *e;

	open_observer(legacy);
	pid = spawn(burn_cpu, NULL, &go, &res);
	cr_assert_eq(kp_observer_watch_pid(obs, pid), 0);
	truth = finish(pid, go, res);
	e = collect(pid);
	cr_log_info("cpu_ns observed %llu, measured by the process %lld", (unsigned long long)e->cpu_ns,
		    truth);
	cr_assert_geq(truth, burn_secs() * 1e9);
	cr_assert_geq((double)e->cpu_ns, truth * 0.97, "observed %llu vs truth %lld",
		      (unsigned long long)e->cpu_ns, truth);
	cr_assert_leq((double)e->cpu_ns, truth * 1.03, "observed %llu vs truth %lld",
		      (unsigned long long)e->cpu_ns, truth);
	cr_assert_str_eq(e->comm, "test_observer");
}

Test(observer, cpu_time_tp_btf, .fini = teardown) { cpu_time(false); }
Test(observer, cpu_time_legacy, .fini = teardown) { cpu_time(true); }

/* --- run-queue wait: two CPU-bound threads sharing one CPU --- */

static void *burn_thread(void *arg)
{
	burn_until(CLOCK_MONOTONIC, 0.5);
	return NULL;
}

static long long contend(void *arg)
{
	pthread_t t[2];
	cpu_set_t set;
	double t0 = now_s(CLOCK_MONOTONIC);

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -1;
	pthread_create(&t[0], NULL, burn_thread, NULL);
	pthread_create(&t[1], NULL, burn_thread, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	return (long long)((now_s(CLOCK_MONOTONIC) - t0) * 1e9);
}

static void runq_wait(bool legacy)
{
	int go, res;
	pid_t pid;
	long long wall;
	struct kp_entity *e;

	open_observer(legacy);
	pid = spawn(contend, NULL, &go, &res);
	cr_assert_eq(kp_observer_watch_pid(obs, pid), 0);
	wall = finish(pid, go, res);
	e = collect(pid);
	cr_log_info("runq_ns %llu nivcsw %llu over %lld ns", (unsigned long long)e->runq_ns,
		    (unsigned long long)e->nivcsw, wall);
	cr_assert_gt(wall, 0, "affinity failed");
	/* Each thread waits while the other runs: about half the wall time each. */
	cr_assert_gt((double)e->runq_ns, 0.3 * wall, "runq_ns %llu, wall %lld",
		     (unsigned long long)e->runq_ns, wall);
	cr_assert_geq(e->nivcsw, 4, "nivcsw %llu", (unsigned long long)e->nivcsw);
	cr_assert_geq(e->nthreads, 3, "the main thread and both workers reported");
	cr_assert_gt(kp_hist_total(e->runq_hist, KP_HIST_SLOTS), 0);
	cr_assert_gt(kp_hist_percentile(e->runq_hist, KP_HIST_SLOTS, 99), 100.0,
		     "p99 wait of a shared CPU is beyond 100 us");
}

Test(observer, runq_wait_tp_btf, .fini = teardown) { runq_wait(false); }
Test(observer, runq_wait_legacy, .fini = teardown) { runq_wait(true); }

/* --- block I/O: O_DIRECT writes then reads of a known size --- */

#define IO_BLOCK (64 * 1024)
#define IO_COUNT 64
static char io_path[256];

static long long direct_io(void *arg)
{
	void *buf;
	int fd, i;

	if (posix_memalign(&buf, 4096, IO_BLOCK))
		return -1;
	memset(buf, 0x5a, IO_BLOCK);
	fd = open(io_path, O_RDWR | O_DIRECT);
	if (fd < 0)
		return -2;
	for (i = 0; i < IO_COUNT; i++)
		if (pwrite(fd, buf, IO_BLOCK, (off_t)i * IO_BLOCK) != IO_BLOCK)
			return -4;
	for (i = 0; i < IO_COUNT; i++)
		if (pread(fd, buf, IO_BLOCK, (off_t)i * IO_BLOCK) != IO_BLOCK)
			return -5;
	close(fd);
	return 0;
}

/* A file on a real block device (tmpfs and overlays have major 0). */
static bool block_backed(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && major(st.st_dev) != 0;
}

/* One O_DIRECT run in a child; the observer's view of that child. */
static struct kp_entity *block_run(void)
{
	int go, res, fd;
	pid_t pid;

	/*
	 * The parent allocates the file and syncs its metadata, so the child's
	 * requests are its data alone: overwrites, then reads.
	 */
	fd = open(io_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	if (!block_backed(fd)) {
		close(fd);
		unlink(io_path);
		cr_skip_test("/var/tmp is not on a block device here (tmpfs or overlay, as in "
			     "make vmtest's guest): no block I/O to observe");
	}
	cr_assert_eq(fallocate(fd, 0, 0, (off_t)IO_BLOCK * IO_COUNT), 0);
	cr_assert_eq(fsync(fd), 0);
	close(fd);
	pid = spawn(direct_io, NULL, &go, &res);
	cr_assert_eq(kp_observer_watch_pid(obs, pid), 0);
	cr_assert_eq(finish(pid, go, res), 0, "O_DIRECT workload failed");
	unlink(io_path);
	return collect(pid);
}

static bool within(double v, double want)
{
	return v >= want * 0.95 && v <= want * 1.05;
}

static void block_io(bool legacy)
{
	const double bytes = (double)IO_BLOCK * IO_COUNT;
	struct kp_entity *e;
	int attempt;

	/* The root filesystem: on a real block device, unlike /tmp on some hosts. */
	snprintf(io_path, sizeof(io_path), "/var/tmp/kpilot-io-%d", getpid());
	open_observer(legacy);
	/*
	 * Once in ~40 CI-like runs half the writes were missing from the child
	 * (never reproduced by hand). A second run tells a rare environmental
	 * event (ext4 may finish part of a direct write through the page cache,
	 * whose writeback is a kernel thread's) from an attribution bug, which
	 * fails both runs; the log keeps the figures of a short first run.
	 */
	for (attempt = 1;; attempt++) {
		struct kp_entity *d;
		size_t i;
		__u64 dev_w = 0;

		e = block_run();
		for (i = 0; i < kp_observer_interval(obs)->devs.cap; i++) {
			d = &kp_observer_interval(obs)->devs.slots[i];
			if (kp_observer_interval(obs)->devs.used[i])
				dev_w += d->io_write_bytes;
		}
		cr_log_info("attempt %d: io_ops %llu read %llu write %llu (all devices: write %llu)",
			    attempt, (unsigned long long)e->io_ops,
			    (unsigned long long)e->io_read_bytes,
			    (unsigned long long)e->io_write_bytes, (unsigned long long)dev_w);
		if (attempt == 2 || (within(e->io_read_bytes, bytes) &&
				     within(e->io_write_bytes, bytes)))
			break;
		cr_log_info("short first run, running the workload again");
		kp_observer_reset(obs);
	}
	cr_assert_geq((double)e->io_read_bytes, bytes * 0.95);
	cr_assert_leq((double)e->io_read_bytes, bytes * 1.05);
	cr_assert_geq((double)e->io_write_bytes, bytes * 0.95);
	cr_assert_leq((double)e->io_write_bytes, bytes * 1.05);
	cr_assert_geq((double)e->io_ops, 2 * IO_COUNT * 0.95);
	cr_assert_leq((double)e->io_ops, 2 * IO_COUNT * 1.05, "requests were split or merged");
	cr_assert_eq(kp_hist_total(e->io_lat_hist, KP_HIST_SLOTS), e->io_ops);
	cr_assert_gt(kp_observer_interval(obs)->devs.len, 0, "per-device stats");
}

Test(observer, block_io_tp_btf, .fini = teardown) { block_io(false); }
Test(observer, block_io_legacy, .fini = teardown) { block_io(true); }

/* --- TCP over loopback: a server and a client process --- */

static int listen_fd;
static unsigned short listen_port;

static long long serve(void *arg)
{
	char buf[65536];
	long long total = 0;
	ssize_t n;
	int c;

	/* listen() after the release, so the observer sees the LISTEN state. */
	if (listen(listen_fd, 8))
		return -1;
	c = accept(listen_fd, NULL, NULL);
	if (c < 0)
		return -2;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		total += n;
	close(c);
	close(listen_fd);
	return total;
}

static long long client(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(listen_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char buf[1 << 20];
	int fd = socket(AF_INET, SOCK_STREAM, 0), tries;

	for (tries = 0; connect(fd, (void *)&a, sizeof(a)); tries++) {
		if (tries == 100 || errno != ECONNREFUSED)
			return -1;
		usleep(10000);	/* the server's listen() is racing us */
	}
	if (write(fd, buf, sizeof(buf)) != sizeof(buf))
		return -2;
	close(fd);	/* the client closes first: it is the one in TIME_WAIT */
	return 0;
}

static void tcp(bool legacy)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int sgo, sres, cgo, cres;
	struct kp_entity *s, *c;
	pid_t spid, cpid;

	open_observer(legacy);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(listen_fd, (void *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(listen_fd, (void *)&a, &len), 0);
	listen_port = ntohs(a.sin_port);
	spid = spawn(serve, NULL, &sgo, &sres);
	close(listen_fd);
	cpid = spawn(client, NULL, &cgo, &cres);
	cr_assert_eq(kp_observer_watch_pid(obs, spid), 0);
	cr_assert_eq(kp_observer_watch_pid(obs, cpid), 0);
	release(&sgo);
	cr_assert_eq(finish(cpid, cgo, cres), 0, "client failed");
	cr_assert_eq(finish(spid, sgo, sres), 1 << 20, "server got a different byte count");
	c = collect(cpid);
	s = collect(spid);
	cr_assert_eq(c->tcp_active_opens, 1);
	cr_assert_eq(c->tcp_passive_opens, 0);
	cr_assert_eq(c->tcp_closes, 1);
	cr_assert_eq(c->tcp_time_wait, 1, "the active closer enters TIME_WAIT");
	cr_assert_eq(kp_hist_total(c->tcp_conn_hist, KP_HIST_SLOTS), 1, "one connect latency");
	cr_assert_eq(s->tcp_passive_opens, 1);
	cr_assert_eq(s->tcp_active_opens, 0);
	cr_assert_eq(s->tcp_closes, 1);
	cr_assert_eq(s->tcp_time_wait, 0, "the passive closer does not");
	cr_assert_gt(s->tcp_srtt_samples, 0, "tcp_probe saw the receiver's established socket");
	cr_assert_gt(s->tcp_srtt_sum_us, 0);
	cr_assert_str_eq(c->comm, "test_observer", "named even with tcp records only at the end");
}

Test(observer, tcp_tp_btf, .fini = teardown) { tcp(false); }
Test(observer, tcp_legacy, .fini = teardown) { tcp(true); }

/* --- operators: a grandchild is counted under its grandparent's operator --- */

static long long fork_grandchild(void *arg)
{
	pid_t mid = fork(), gc;
	int st;

	if (mid == 0) {
		gc = fork();
		if (gc == 0) {
			burn_until(CLOCK_PROCESS_CPUTIME_ID, 0.2);
			_exit(0);
		}
		_exit(waitpid(gc, &st, 0) == gc ? 0 : 1);
	}
	if (waitpid(mid, &st, 0) != mid || WEXITSTATUS(st))
		return -1;
	return 0;
}

static void grandchild(bool legacy)
{
	struct kp_opspec spec;
	struct kp_interval *iv;
	struct kp_entity *op, *gp;
	char err[256];
	int go, res, id, i;
	size_t n, k, found = 0;
	pid_t pid;

	open_observer(legacy);
	pid = spawn(fork_grandchild, NULL, &go, &res);
	snprintf(err, sizeof(err), "stage=pid:%d", pid);
	cr_assert_eq(kp_opspec_parse(err, &spec, err, sizeof(err)), 0);
	id = kp_observer_add_operator(obs, &spec, err, sizeof(err));
	cr_assert_eq(id, 1, "%s", err);
	cr_assert_str_eq(kp_observer_op_name(obs, 1), "stage");
	cr_assert_eq(finish(pid, go, res), 0);
	gp = collect(pid);
	cr_assert_eq(gp->op, 1);
	for (i = 0; i < 10; i++) {
		usleep(50000);
		kp_observer_poll(obs);
	}
	iv = kp_observer_interval(obs);
	op = kp_table_find(&iv->ops, 1);
	cr_assert_not_null(op);
	/* Three processes: the member, its child, and the CPU-burning grandchild. */
	for (k = 0; k < iv->procs.cap; k++) {
		struct kp_entity *e = &iv->procs.slots[k];

		if (!iv->procs.used[k] || e->op != 1)
			continue;
		found++;
		if (e->id != (__u32)pid)
			cr_assert_str_eq(e->comm, "test_observer");
	}
	n = found;
	cr_assert_eq(n, 3, "processes under the operator: %zu", n);
	cr_assert_geq(op->cpu_ns, 190000000ULL, "the grandchild's CPU counts for the operator");
}

Test(observer, grandchild_operator_tp_btf, .fini = teardown) { grandchild(false); }
Test(observer, grandchild_operator_legacy, .fini = teardown) { grandchild(true); }

/* --- a cgroup operator on this machine's hierarchy (v1 cpu or v2 root) --- */

Test(observer, cgroup_operator_members, .fini = teardown)
{
	char dir[256], f[300], err[256], spec_s[300];
	struct kp_opspec spec;
	struct kp_entity *e;
	int go, res, fd;
	pid_t pid;

	open_observer(false);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/kpilot-test-%d", getpid());
	if (mkdir(dir, 0755)) {
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/kpilot-test-%d", getpid());
		if (mkdir(dir, 0755))
			cr_skip_test("cannot create a test cgroup: %s", strerror(errno));
	}
	pid = spawn(burn_cpu, NULL, &go, &res);
	snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
	fd = open(f, O_WRONLY);
	cr_assert_geq(fd, 0);
	dprintf(fd, "%d\n", pid);
	close(fd);
	snprintf(spec_s, sizeof(spec_s), "grp=cgroup:kpilot-test-%d", getpid());
	cr_assert_eq(kp_opspec_parse(spec_s, &spec, err, sizeof(err)), 0);
	cr_assert_eq(kp_observer_add_operator(obs, &spec, err, sizeof(err)), 1, "%s", err);
	finish(pid, go, res);
	e = collect(pid);
	cr_assert_eq(e->op, 1);
	cr_assert_geq(kp_table_find(&kp_observer_interval(obs)->ops, 1)->cpu_ns, 500000000ULL);
	cr_assert_eq(rmdir(dir), 0, "test cgroup removed");
}

/* --- a kernel without some tracepoints: one warning each, the rest works --- */

Test(observer, missing_tracepoints_disable_only_their_probes, .fini = teardown)
{
	struct kp_observer_opts o = { .interval_ms = 100, .filter = true,
				      .absent_tps = "tcp_probe,block_rq_issue,sched_process_fork" };
	struct kp_prog_stat st[64];
	struct kp_entity *e;
	char err[512];
	int go, res, n, i;
	long long truth;
	pid_t pid;

	need_root();
	skip_without_tp_btf();	/* the warnings below are the tp_btf family's */
	cr_redirect_stderr();
	cr_assert_eq(kp_observer_open(&obs, &o, err, sizeof(err)), 0, "%s", err);
	fflush(stderr);
	cr_assert_stderr_eq_str(
		"kpilot: warning: tracepoint sched_process_fork not in this kernel: tp_sched_process_fork disabled\n"
		"kpilot: warning: tracepoint block_rq_issue not in this kernel: tp_block_rq_issue disabled\n"
		"kpilot: warning: tracepoint block_rq_issue not in this kernel: tp_block_rq_issue_old disabled\n"
		"kpilot: warning: tracepoint tcp_probe not in this kernel: tp_tcp_probe disabled\n");
	n = kp_observer_prog_stats(obs, st, 64);
	for (i = 0; i < n; i++) {
		cr_assert_null(strstr(st[i].name, "tcp_probe"), "%s loaded", st[i].name);
		cr_assert_null(strstr(st[i].name, "rq_issue"), "%s loaded", st[i].name);
	}
	cr_assert_geq(n, 8, "the other programs are loaded");
	pid = spawn(burn_cpu, NULL, &go, &res);
	cr_assert_eq(kp_observer_watch_pid(obs, pid), 0);
	truth = finish(pid, go, res);
	e = collect(pid);
	cr_assert_geq((double)e->cpu_ns, truth * 0.97, "the sched programs still work");
}
