// SPDX-License-Identifier: GPL-2.0
/*
 * The journal replay: arbitrary bytes as the state dir's journal (torn,
 * reordered, duplicated records), then what a start after a crash does
 * (kp_session_open: recover crashed sessions) or `kpilot rollback` does
 * (kp_safety_rollback), chosen by the first byte. Invariants: no crash; a
 * refusal says why; no knob is left with a value outside its table bounds
 * unless it had that value before.
 *
 * A journal names the files replay writes, so the target runs sandboxed:
 * private mount, network and pid namespaces, with tmpfs over /proc/sys,
 * /sys/fs/cgroup, /run, /tmp and /dev/shm holding a fake tree (the knobs of
 * selftests/lib/safety_fake.h, cgroup v1). Whatever root or netns a record
 * names, nothing outside the sandbox can be reached. Root only.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fuzz.h"
#include "lib/log.h"
#include "safety/session.h"

#define STATE "/tmp/kpilot-fuzz-state"

static const char *const files[][2] = {
	{ "/proc/sys/net/core/somaxconn", "4096\n" },
	{ "/proc/sys/net/core/netdev_max_backlog", "1000\n" },
	{ "/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n" },
	{ "/proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t4194304\n" },
	{ "/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n" },
	{ "/proc/sys/net/ipv4/tcp_congestion_control", "cubic\n" },
	{ "/proc/sys/net/ipv4/tcp_fin_timeout", "60\n" },
	{ "/proc/sys/vm/swappiness", "60\n" },
	{ "/proc/sys/vm/dirty_ratio", "20\n" },
	{ "/proc/sys/vm/dirty_background_ratio", "10\n" },
	{ "/proc/sys/kernel/panic", "0\n" },	/* denylisted: must never change */
	{ "/sys/fs/cgroup/cpu/cpu.shares", "1024\n" },
	{ "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_quota_us", "-1\n" },
	{ "/sys/fs/cgroup/cpu/kp/op1/cpu.cfs_period_us", "100000\n" },
	{ "/sys/fs/cgroup/cpu/kp/op1/cpu.shares", "1024\n" },
	{ "/sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n" },
	{ "/sys/fs/cgroup/cpuset/kp/cpuset.cpus", "0-3\n" },
	{ "/sys/fs/cgroup/cpuset/kp/op1/cpuset.cpus", "0-3\n" },
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static void put(const char *path, const char *text)
{
	char dir[512], *p;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fuzz_assert(fd >= 0, "create %s", path);
	fuzz_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", path);
	close(fd);
}

static void get(const char *path, char *buf, size_t len)
{
	ssize_t n = -1;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
}

static void must_mount(const char *dir)
{
	mkdir(dir, 0755);
	if (mount("fuzz", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m")) {
		dprintf(2, "fuzz_journal: cannot mount tmpfs on %s (root needed): %m\n", dir);
		_exit(2);
	}
}

/* Into the sandbox, or exit: never replay a fuzzed journal against the host. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pid_t pid;
	int st;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID)) {
		dprintf(2, "fuzz_journal: cannot make private namespaces (root needed): %m\n");
		_exit(2);
	}
	pid = fork();
	if (pid < 0)
		_exit(2);
	if (pid > 0) {	/* the pid namespace needs a child: wait for it, as it ends */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		if (waitpid(pid, &st, 0) < 0)
			_exit(2);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		dprintf(2, "fuzz_journal: cannot remount /proc privately: %m\n");
		_exit(2);
	}
	must_mount("/proc/sys");
	must_mount("/sys/fs/cgroup");
	must_mount("/run");
	must_mount("/tmp");
	must_mount("/dev/shm");
	kp_verbosity = -1;
	return 0;
}

/* Out of its table's bounds, for a knob the table has. */
static bool out_of_bounds(const char *path, const char *text)
{
	const struct kp_knob *k;
	struct kp_value v;
	char name[256], *p;
	int i;

	if (strncmp(path, "/proc/sys/", 10))
		return false;
	snprintf(name, sizeof(name), "%s", path + 10);
	for (p = name; *p; p++)
		if (*p == '/')
			*p = '.';
	k = kp_knob_builtin(name);
	if (!k)
		return strcmp(name, "kernel.panic") == 0;	/* any change is one */
	if (kp_value_parse(k, text, &v, NULL, 0))
		return true;
	if (k->type == KP_VT_INT || k->type == KP_VT_TUPLE)
		for (i = 0; i < v.n; i++)
			if (v.v[i] < k->min || v.v[i] > k->max)
				return true;
	return false;
}

/* Empty the state dir (the journal, the lock, archived journals): rm -rf, without a shell. */
static void state_clear(const char *dir)
{
	char path[1024];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			state_clear(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_session_opts o = { .state_dir = STATE, .cmd = "fuzz" };
	struct kp_session *s = NULL;
	char why[512] = "", cur[512];
	size_t i;
	int err;

	if (!size)
		return 0;
	state_clear(STATE);
	mkdir(STATE, 0700);
	for (i = 0; i < NFILES; i++)
		put(files[i][0], files[i][1]);
	{
		int fd = open(STATE "/journal", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		fuzz_assert(fd >= 0, "create the journal");
		fuzz_assert(write(fd, data + 1, size - 1) == (ssize_t)(size - 1), "write it");
		close(fd);
	}
	if (data[0] & 1)
		err = kp_safety_rollback(STATE, why, sizeof(why));
	else
		err = kp_session_open(&o, &s, why, sizeof(why));
	fuzz_assert(err <= 0, "returned %d", err);
	fuzz_assert(!err || why[0], "refused (%d) without a reason", err);
	if (s)
		kp_session_close(s);	/* its failures are logged, not returned with a reason */
	for (i = 0; i < NFILES; i++) {
		get(files[i][0], cur, sizeof(cur));
		if (strcmp(cur, files[i][1]))
			fuzz_assert(!out_of_bounds(files[i][0], cur), "%s left at '%s'",
				    files[i][0], cur);
	}
	return 0;
}
