// SPDX-License-Identifier: GPL-2.0
/*
 * The replica service's world: a server and a client network namespace
 * joined by a veth pair, one cgroup per replica with its own CPU quota
 * (cgroup v1 cpu controller where the host has it, else v2 cpu.max), and
 * the replicas themselves: single-threaded servers that accept one
 * connection at a time, read an 8-byte request, burn work_ms of CPU and
 * answer their slot number. One request per connection, so steering per
 * connection is steering per request. rp_teardown removes everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "replicas.h"

#define CFS_PERIOD_US	10000	/* short: a small quota stalls a replica 10 ms, not 100 */

static int sh(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sh(char *why, size_t len, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st) {
		snprintf(why, len, "'%.200s' failed (status %d)", cmd, st);
		return -EIO;
	}
	return 0;
}

static int put(const char *dir, const char *file, const char *text)
{
	char path[256];
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = (int)write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

static void burn(long iters)
{
	long i;

	for (i = 0; i < iters; i++)
		sink += (unsigned long)i * 2654435761u;
}

/* Busy-loop iterations per millisecond of CPU, measured unthrottled. */
static long calibrate(void)
{
	long iters = 100000;
	double t;

	for (;;) {
		t = now_ms();
		burn(iters);
		t = now_ms() - t;
		if (t > 50)
			return (long)(iters / t);
		iters *= 2;
	}
}

static int cgroups(struct rp_env *e, char *why, size_t len)
{
	char dir[96];
	int i;

	if (!access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK)) {
		e->cg_version = 1;
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/kpilot-replicas-%d", (int)getpid());
	} else if (!access("/sys/fs/cgroup/cgroup.subtree_control", F_OK)) {
		e->cg_version = 2;
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/kpilot-replicas-%d", (int)getpid());
		put("/sys/fs/cgroup", "cgroup.subtree_control", "+cpu");
	} else {
		snprintf(why, len, "no cgroup cpu controller (v1 /sys/fs/cgroup/cpu or v2)");
		return -ENOENT;
	}
	if (mkdir(dir, 0755)) {
		snprintf(why, len, "mkdir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (e->cg_version == 2 && put(dir, "cgroup.subtree_control", "+cpu")) {
		snprintf(why, len, "%s: cannot enable the cpu controller", dir);
		return -EIO;
	}
	for (i = 0; i < e->n; i++) {
		snprintf(e->cg[i], sizeof(e->cg[i]), "%s/r%d", dir, i);
		if (mkdir(e->cg[i], 0755) || rp_set_quota(e, i, e->quota[i], why, len)) {
			snprintf(why, len, "%s: cannot create or limit", e->cg[i]);
			return -EIO;
		}
	}
	return 0;
}

int rp_set_quota(struct rp_env *e, int i, double cores, char *why, size_t len)
{
	char buf[64];
	long q = (long)(cores * CFS_PERIOD_US + 0.5);
	int err;

	if (e->cg_version == 1) {
		snprintf(buf, sizeof(buf), "%d", CFS_PERIOD_US);
		err = put(e->cg[i], "cpu.cfs_period_us", buf);
		snprintf(buf, sizeof(buf), "%ld", q);
		err = err ?: put(e->cg[i], "cpu.cfs_quota_us", buf);
	} else {
		snprintf(buf, sizeof(buf), "%ld %d", q, CFS_PERIOD_US);
		err = put(e->cg[i], "cpu.max", buf);
	}
	if (err)
		snprintf(why, len, "%s: quota %.3f cores: %s", e->cg[i], cores, strerror(-err));
	else
		e->quota[i] = cores;
	return err;
}

static int enter_ns(const char *name)
{
	char path[96];
	int fd, err;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return err;
}

static void serve(struct rp_env *e, int slot, int lfd)
{
	char req[8], ans[8];
	int c;

	memset(ans, 0, sizeof(ans));
	ans[0] = (char)slot;
	for (;;) {
		size_t got = 0;
		ssize_t r = 0;

		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		while (got < sizeof(req) && (r = read(c, req + got, sizeof(req) - got)) > 0)
			got += (size_t)r;
		if (got == sizeof(req)) {
			burn((long)(e->work_ms * (double)e->iters_per_ms));
			if (write(c, ans, sizeof(ans)) == (ssize_t)sizeof(ans))
				__atomic_fetch_add(&e->sh->served[slot], 1, __ATOMIC_RELAXED);
		}
		close(c);
	}
}

static void replica(struct rp_env *e, int slot)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(RP_PORT) };
	char pid[16];
	int one = 1, fd;

	/* the bench's handler cleans up; a replica just dies (Ctrl-C hits the group) */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (put(e->cg[slot], e->cg_version == 1 ? "tasks" : "cgroup.procs", pid) ||
	    enter_ns(e->ns_srv))
		_exit(2);
	inet_pton(AF_INET, RP_SRV_IP, &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024))
		_exit(3);
	serve(e, slot, fd);
}

static int namespaces(struct rp_env *e, char *why, size_t len)
{
	int p = (int)getpid() % 100000;

	snprintf(e->ns_srv, sizeof(e->ns_srv), "kprep-%d-srv", p);
	snprintf(e->ns_cli, sizeof(e->ns_cli), "kprep-%d-cli", p);
	snprintf(e->veth[0], sizeof(e->veth[0]), "kpr%05da", p);
	snprintf(e->veth[1], sizeof(e->veth[1]), "kpr%05db", p);
	if (sh(why, len, "ip netns add %s && ip netns add %s", e->ns_srv, e->ns_cli))
		return -EIO;
	e->ns_up = true;
	return sh(why, len, "ip link add %s netns %s type veth peer name %s netns %s && "
		  "ip -n %s link set lo up && ip -n %s link set lo up && "
		  "ip -n %s addr add " RP_SRV_IP "/24 dev %s && ip -n %s link set %s up && "
		  "ip -n %s addr add " RP_CLI_IP "/24 dev %s && ip -n %s link set %s up",
		  e->veth[0], e->ns_srv, e->veth[1], e->ns_cli, e->ns_srv, e->ns_cli,
		  e->ns_srv, e->veth[0], e->ns_srv, e->veth[0],
		  e->ns_cli, e->veth[1], e->ns_cli, e->veth[1]);
}

/* Listening, all of them: the steering needs every replica's socket. */
static int wait_listening(struct rp_env *e, char *why, size_t len)
{
	char path[64], line[256];
	int i, tries, up = 0;

	for (tries = 0; tries < 100 && up < e->n; tries++) {
		usleep(20000);
		for (i = 0, up = 0; i < e->n; i++) {
			FILE *f;
			bool l = false;

			snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)e->pid[i]);
			f = fopen(path, "re");
			while (f && !l && fgets(line, sizeof(line), f))
				l = strstr(line, ":1D4C ") && strstr(line, " 0A ");
			if (f)
				fclose(f);
			up += l;
		}
	}
	if (up < e->n)
		snprintf(why, len, "%d of %d replicas listening after 2 s", up, e->n);
	return up < e->n ? -ETIMEDOUT : 0;
}

int rp_setup(struct rp_env *e, char *why, size_t len)
{
	int i, err;

	e->sh = mmap(NULL, sizeof(*e->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (e->sh == MAP_FAILED) {
		e->sh = NULL;
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	memset(e->sh, 0, sizeof(*e->sh));
	e->iters_per_ms = calibrate();
	err = namespaces(e, why, len);
	err = err ?: cgroups(e, why, len);
	for (i = 0; !err && i < e->n; i++) {
		fflush(NULL);
		e->pid[i] = fork();
		if (e->pid[i] < 0)
			err = -errno;
		else if (!e->pid[i])
			replica(e, i);
	}
	return err ?: wait_listening(e, why, len);
}

void rp_teardown(struct rp_env *e)
{
	char why[256], dir[128];
	int i;

	for (i = 0; i < e->n; i++) {
		if (e->pid[i] > 0) {
			kill(e->pid[i], SIGKILL);
			waitpid(e->pid[i], NULL, 0);
		}
		e->pid[i] = 0;
	}
	for (i = 0; i < e->n; i++)
		if (e->cg[i][0])
			rmdir(e->cg[i]);
	if (e->cg[0][0]) {
		snprintf(dir, sizeof(dir), "%s", e->cg[0]);
		*strrchr(dir, '/') = '\0';
		rmdir(dir);
	}
	memset(e->cg, 0, sizeof(e->cg));
	if (e->ns_up)
		sh(why, sizeof(why), "ip netns delete %s; ip netns delete %s", e->ns_srv,
		   e->ns_cli);
	e->ns_up = false;
	if (e->sh)
		munmap(e->sh, sizeof(*e->sh));
	e->sh = NULL;
}
