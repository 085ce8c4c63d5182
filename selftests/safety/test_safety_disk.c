// SPDX-License-Identifier: GPL-2.0
/*
 * A full disk: a small tmpfs as the state dir or the results dir. The journal
 * refuses a change it cannot record (and says why), results writing fails
 * with the file's name, and no knob is left changed. Each test runs in its
 * own mount and network namespaces (root), so the tmpfs and the sysctls it
 * touches are private.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../lib/safety_fake.h"
#include "../lib/safety_fixture.h"
#include "safety/session.h"

static char full[64];

/* Private namespaces and a 256 KiB tmpfs at `full`, not yet filled. */
static void private_tmpfs(void)
{
	if (geteuid())
		cr_skip_test("needs root (a tmpfs in a private mount namespace)");
	cr_assert_eq(unshare(CLONE_NEWNS | CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(full, sizeof(full), "/tmp/kpilot-disk-XXXXXX");
	cr_assert_not_null(mkdtemp(full));
	cr_assert_eq(mount("kpdisk", full, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700"), 0,
		     "mount tmpfs: %s", strerror(errno));
}

static void fill(const char *dir)
{
	char path[128], buf[4096] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/ballast", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	while (write(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

static void cleanup(void)
{
	if (full[0]) {
		umount2(full, MNT_DETACH);
		rmdir(full);
	}
}

/* Run a shell command in this test's namespaces; its exit status, stderr in err. */
static int sh(const char *cmd, char *err, size_t len)
{
	char line[4096];
	FILE *p;
	int st;

	snprintf(line, sizeof(line), "%s 2>&1 >/dev/null", cmd);
	p = popen(line, "r");
	cr_assert_not_null(p);
	err[fread(err, 1, len - 1, p)] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void read_somaxconn(char *v, size_t len)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(v, (int)len, f));
	fclose(f);
}

Test(safety_disk, kpilot_set_refuses_what_a_full_state_dir_cannot_record, .fini = cleanup)
{
	char kp[4200], cmd[4400], err[2048], before[32], after[32];
	int st;

	private_tmpfs();
	fill(full);
	kpilot_bin(kp, sizeof(kp));
	read_somaxconn(before, sizeof(before));
	snprintf(cmd, sizeof(cmd), "%s set --state-dir %s net.core.somaxconn=%d", kp, full,
		 atoi(before) + 100);
	st = sh(cmd, err, sizeof(err));
	cr_expect_eq(st, 2, "exit %d: %s", st, err);
	cr_expect(strstr(err, "No space left on device") && strstr(err, full), "%s", err);
	read_somaxconn(after, sizeof(after));
	cr_expect_str_eq(after, before);
}

/*
 * Space runs out mid-session: whatever the journal's last page still takes
 * goes in, then a change is refused before its write, and the knob keeps the
 * last value the journal recorded; closing still leaves the original.
 */
static void teardown_all(void)
{
	cleanup();
	teardown();
}

Test(safety_disk, the_journal_refuses_a_change_it_cannot_record, .init = setup1, .fini = teardown_all)
{
	struct kp_session_opts o = { .root = root, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "" };
	char why[512], v[16], last[16] = "4096";
	struct kp_session *s;
	int i, err = 0;

	private_tmpfs();
	o.state_dir = full;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	fill(full);
	for (i = 0; i < 200; i++) {
		fake_clock_now += 5;
		snprintf(v, sizeof(v), "%d", 5000 + (i % 2) * 100);
		c.value = v;
		err = kp_session_apply(s, &c, 1, "t", why, sizeof(why));
		if (err)
			break;
		snprintf(last, sizeof(last), "%s", v);
	}
	cr_expect_eq(err, -ENOSPC, "%d after %d changes: %s", err, i, why);
	cr_expect(strstr(why, "journal") && strstr(why, "No space left on device"), "%s", why);
	cr_expect_eq(atoi(fake_get(root, "/proc/sys/net/core/somaxconn")), atoi(last));
	kp_session_close(s);
	cr_expect_eq(atoi(fake_get(root, "/proc/sys/net/core/somaxconn")), 4096);
}

Test(safety_disk, tune_says_which_result_it_could_not_write, .fini = cleanup, .timeout = 120)
{
	char kp[4200], cmd[4600], err[4096], state_dir[64] = "/tmp/kpilot-disk-state-XXXXXX";
	int st;

	private_tmpfs();
	cr_assert_not_null(mkdtemp(state_dir));
	fill(full);
	kpilot_bin(kp, sizeof(kp));
	snprintf(cmd, sizeof(cmd), "%s tune --profile tcp-churn --trials 1 --confirm 0 "
		 "--churn-seconds 1 --state-dir %s --out %s -q", kp, state_dir, full);
	st = sh(cmd, err, sizeof(err));
	fake_rm(state_dir);
	cr_expect_neq(st, 0, "exit 0 with a full results dir: %s", err);
	cr_expect(strstr(err, full) && strstr(err, "No space left on device"), "%s", err);
}
