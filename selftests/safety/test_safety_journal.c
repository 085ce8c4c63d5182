// SPDX-License-Identifier: GPL-2.0
/*
 * Journal and rollback against a fake root: crashes (SIGKILL mid-batch,
 * before and after a write), torn records, foreign writes, guardrails,
 * hostile journals. The cgroup mapping and a run's own cgroups are in
 * test_safety_cgroup.c.
 */
#include <signal.h>
#include <sys/wait.h>
#include "../lib/safety_fake.h"

#include "../lib/safety_fixture.h"

/* The knobs every crash test changes, with their values before. */
static const char *const crash_knobs[] = {
	"net.core.somaxconn", "net.ipv4.tcp_rmem", "vm.swappiness",
	"cgroup:kp/op1:cpu.max", "cgroup:kp/op1:cpu.weight", "net.ipv4.ip_local_port_range",
};
#define NCRASH 6

/* Straight from the actuators: no session, no lock, no recovery. */
static void read_all(char out[][KP_VALUE_MAX])
{
	struct kp_target t = { .root = root, .netns_fd = -1, .cg_version = kp_cg_detect(root) };
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	int i;

	for (i = 0; i < NCRASH; i++) {
		if (kp_knob_cgroup_split(crash_knobs[i], path, attr))
			cr_assert_eq(kp_sysctl_read(&t, crash_knobs[i], out[i], KP_VALUE_MAX), 0);
		else
			cr_assert_eq(kp_cg_read(&t, path, attr, out[i], NULL, KP_VALUE_MAX), 0);
	}
}

static int hook_pipe = -1, hook_stop_at;
static int hook_count;

/* In the child: tell the parent, then hang before the write happens. */
static int hang_before_write(const char *path, const char *text)
{
	if (++hook_count < hook_stop_at)
		return 0;
	if (write(hook_pipe, "x", 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

/*
 * A child applies the crash knobs one batch at a time and is SIGKILLed
 * while its stop_at-th write is journaled but not yet done.
 */
static void crash_child(bool keep, int stop_at, bool one_batch)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .keep = keep,
				     .cmd = "crashtest", .clock = fake_clock };
	static const char *const values[] = {
		"8192", "4096 262144 8388608", "40", "50000 100000", "190", "28000 56000",
	};
	int p[2], st;
	pid_t pid;
	char c;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		struct kp_change ch[NCRASH];
		struct kp_session *s;
		char why[512];
		int i;

		close(p[0]);
		hook_pipe = p[1];
		hook_stop_at = stop_at;
		kp_fs_write_hook = hang_before_write;
		if (kp_session_open(&o, &s, why, sizeof(why)))
			_exit(2);
		for (i = 0; i < NCRASH; i++) {
			ch[i].knob = crash_knobs[i];
			ch[i].value = values[i];
		}
		if (one_batch) {
			kp_session_apply(s, ch, NCRASH, "crash test batch", why, sizeof(why));
		} else {
			for (i = 0; i < NCRASH; i++) {
				fake_clock_now += 5;
				kp_session_apply(s, &ch[i], 1, "crash test", why, sizeof(why));
			}
		}
		if (write(p[1], "d", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1, "child died early");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st));
	close(p[0]);
}

static void expect_all_original(char orig[][KP_VALUE_MAX], const char *when)
{
	char now[NCRASH][KP_VALUE_MAX];
	int i;

	read_all(now);
	for (i = 0; i < NCRASH; i++)
		cr_expect_str_eq(now[i], orig[i], "%s: %s not restored", when, crash_knobs[i]);
	cr_expect_eq(atoi(fake_get(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.shares")), 1000,
		     "%s: raw cpu.shares", when);
}

Test(safety_journal, sigkill_mid_way_then_kpilot_rollback, .init = setup1, .fini = teardown)
{
	char orig[NCRASH][KP_VALUE_MAX], bin[4300], cmd[5200], now[NCRASH][KP_VALUE_MAX];
	int stop;

	kpilot_bin(bin, sizeof(bin));
	read_all(orig);
	/* killed before the 1st..7th write (cpu.max on v1 is two files) */
	for (stop = 1; stop <= 7; stop += 3) {
		crash_child(true, stop, false);
		read_all(now);
		if (stop > 1)
			cr_assert_str_neq(now[0], orig[0], "the child changed nothing?");
		snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s 2>/dev/null", bin, state, root);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		expect_all_original(orig, "kpilot rollback");
		cr_expect_eq(access(fake_get(state, "") , F_OK), -1);
	}
}

Test(safety_journal, sigkill_mid_batch_then_next_start, .init = setup1, .fini = teardown)
{
	char orig[NCRASH][KP_VALUE_MAX], why[512], arch[4300];
	struct kp_session_opts o = { .root = root, .state_dir = state, .cmd = "next" };
	struct kp_session *s;

	read_all(orig);
	crash_child(false, 5, true);
	cr_assert_gt(journal_count(state, "change"), 2);
	/* the next start undoes the dead session before doing anything */
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	expect_all_original(orig, "next start");
	kp_session_close(s);
	snprintf(arch, sizeof(arch), "%s/journal", state);
	cr_expect_eq(access(arch, F_OK), -1, "journal not archived");
	snprintf(arch, sizeof(arch), "%s/archive", state);
	cr_expect_eq(access(arch, F_OK), 0, "no archive dir");

	/* a kept session (kpilot set) killed after all its writes: also undone */
	crash_child(true, 1000, true);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	expect_all_original(orig, "next start after a finished but uncommitted set");
	kp_session_close(s);
}

/* Journal of a committed `kpilot set`, then cut the file at byte 'cut' from the end. */
static void committed_set_then_tear(int records_from_end, int bytes_into)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .keep = true,
				     .clock = fake_clock };
	struct kp_change ch[3] = {
		{ "net.core.somaxconn", "8192" }, { "vm.swappiness", "40" },
		{ "net.ipv4.tcp_rmem", "4096 262144 8388608" },
	};
	struct kp_session *s;
	char why[512], path[4300], *buf;
	long size, cut, pos;
	int nl = 0;
	FILE *f;

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, ch, 3, "tear test", why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
	snprintf(path, sizeof(path), "%s/journal", state);
	f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	buf = malloc(size);
	rewind(f);
	cr_assert_eq(fread(buf, 1, size, f), (size_t)size);
	/* start of the records_from_end-th record from the end */
	for (pos = size - 2; pos >= 0; pos--)
		if (buf[pos] == '\n' && ++nl == records_from_end)
			break;
	cut = pos + 1 + bytes_into;
	cr_assert_eq(ftruncate(fileno(f), cut), 0);
	fclose(f);
	free(buf);
}

Test(safety_journal, torn_last_record_restores_everything_before, .init = setup1, .fini = teardown)
{
	char orig[NCRASH][KP_VALUE_MAX], why[512];

	read_all(orig);
	/* power lost while writing the commit record */
	committed_set_then_tear(1, 10);
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	expect_all_original(orig, "torn commit");
}

Test(safety_journal, torn_change_record_means_the_write_never_happened, .init = setup1,
     .fini = teardown)
{
	char orig[NCRASH][KP_VALUE_MAX], why[512], path[4300], line[4096];
	FILE *f;
	int n = 0;

	read_all(orig);
	/* records: begin, orig, change, orig, change, orig, change, commit:
	 * tear the last change, whose write therefore never happened */
	committed_set_then_tear(2, 25);
	fake_put(root, "/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
	snprintf(path, sizeof(path), "%s/journal", state);
	f = fopen(path, "r");
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	cr_assert_eq(n, 7, "6 whole records and a torn one");
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	expect_all_original(orig, "torn change");
}

Test(safety_journal, foreign_write_is_left_alone, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change ch[2] = { { "net.core.somaxconn", "8192" }, { "vm.swappiness", "40" } };
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, ch, 2, "t", why, sizeof(why)), 0, "%s", why);
	fake_put(root, "/proc/sys/net/core/somaxconn", "5000\n");	/* someone else */
	fake_clock_now += 5;
	ch[0].value = "6000";
	cr_assert_eq(kp_session_apply(s, ch, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "net.core.somaxconn: changed by someone else; no longer managed");
	cr_expect_eq(journal_count(state, "foreign"), 1);
	cr_assert_eq(kp_session_apply(s, ch, 1, "t", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "net.core.somaxconn: no longer managed (someone else changed it)");
	/* periodic check finds the next one */
	fake_put(root, "/proc/sys/vm/swappiness", "33\n");
	cr_expect_eq(kp_session_check(s), 1);
	kp_session_close(s);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "5000\n");
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "33\n");
}

Test(safety_journal, guardrails_revert_and_abort, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "6000" };
	struct kp_change w = { "vm.swappiness", "50" };
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "step 1", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(kp_session_report(s, 100.0), 0);		/* known-good: 6000 */
	fake_clock_now += 5;
	c.value = "9000";
	cr_assert_eq(kp_session_apply(s, &c, 1, "step 2", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &w, 1, "step 2", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(kp_session_report(s, 95.0), 0);		/* within 10%: new known-good */
	fake_clock_now += 5;
	c.value = "12000";
	cr_assert_eq(kp_session_apply(s, &c, 1, "step 3", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(kp_session_report(s, 80.0), 0);		/* regressions 1, 2 */
	cr_expect_eq(kp_session_report(s, 80.0), 0);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "12000");
	cr_expect_eq(kp_session_report(s, 80.0), 1);		/* 3: revert */
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "9000");
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "50");

	cr_expect_eq(kp_session_step_failed(s, "benchmark crashed"), 0);
	cr_expect_eq(kp_session_step_failed(s, "benchmark crashed"), 0);
	cr_expect_eq(kp_session_step_failed(s, "benchmark crashed"), -ECANCELED);
	cr_expect(kp_session_aborted(s));
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60");
	fake_clock_now += 5;
	cr_expect_eq(kp_session_apply(s, &c, 1, "after abort", why, sizeof(why)), -ECANCELED);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
	kp_session_close(s);
}

static const char *fail_path;

static int fail_somaxconn(const char *path, const char *text)
{
	return strstr(path, fail_path) ? -EIO : 0;
}

Test(safety_journal, failed_writes_undo_the_batch_and_abort_after_three, .init = setup1,
     .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change ch[2] = { { "vm.swappiness", "50" }, { "net.core.somaxconn", "5000" } };
	struct kp_session *s;
	char why[512];
	int i, err;

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	fail_path = "/net/core/somaxconn";
	kp_fs_write_hook = fail_somaxconn;
	for (i = 1; i <= 3; i++) {
		fake_clock_now += 5;
		err = kp_session_apply(s, ch, 2, "t", why, sizeof(why));
		cr_expect_eq(err, -EIO, "batch %d", i);
		cr_expect_str_eq(why, "net.core.somaxconn: writing '5000' failed: Input/output error");
		cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60", "batch %d not undone", i);
		cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096\n");
	}
	cr_expect(kp_session_aborted(s));
	cr_expect_eq(kp_session_apply(s, ch, 2, "t", why, sizeof(why)), -ECANCELED);
	kp_fs_write_hook = NULL;
	cr_expect_eq(journal_count(state, "fail"), 3);
	kp_session_close(s);
}

/* A revert that cannot write aborts the session and says which knob and why. */
Test(safety_journal, a_failed_revert_names_the_knob, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "6000" };
	char why[512], log[4096], path[4200];
	struct kp_session *s;
	int i, err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stderr", state);
	cr_assert_not_null(freopen(path, "w", stderr));
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "step 1", why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(kp_session_report(s, 100.0), 0);
	fake_clock_now += 5;
	c.value = "9000";
	cr_assert_eq(kp_session_apply(s, &c, 1, "step 2", why, sizeof(why)), 0, "%s", why);
	fail_path = "/net/core/somaxconn";
	kp_fs_write_hook = fail_somaxconn;
	/* 3 regressed steps per revert, 3 failed reverts in a row */
	for (i = 0; i < 9 && err >= 0; i++)
		err = kp_session_report(s, 50.0);
	kp_fs_write_hook = NULL;
	cr_expect_eq(err, -ECANCELED);
	cr_expect(kp_session_aborted(s));
	kp_session_close(s);
	fflush(stderr);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
	fclose(f);
	cr_expect(strstr(log, "the revert to known-good failed 3 times in a row: "
			 "net.core.somaxconn: writing '6000' failed: Input/output error"), "%s", log);
}

Test(safety_journal, one_kpilot_at_a_time, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state };
	struct kp_session *a, *b;
	char why[512], want[300];

	cr_assert_eq(kp_session_open(&o, &a, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_open(&o, &b, why, sizeof(why)), -EBUSY);
	snprintf(want, sizeof(want), "state dir %s is in use by kpilot pid %d", state, getpid());
	cr_expect_str_eq(why, want);
	kp_session_close(a);
}

Test(safety_journal, hostile_journal_names_are_ignored, .init = setup1, .fini = teardown)
{
	char j[4300], why[512];
	FILE *f;

	snprintf(j, sizeof(j), "%s/journal", state);
	f = fopen(j, "w");
	fprintf(f, "{\"seq\":1,\"op\":\"begin\",\"sid\":\"x\",\"pid\":1}\n"
		   "{\"seq\":2,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"../../etc/passwd\",\"value\":\"pwned\"}\n"
		   "{\"seq\":3,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"kernel.panic\",\"value\":\"1\"}\n"
		   "{\"seq\":4,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s/../..\",\"knob\":\"vm.swappiness\",\"value\":\"1\"}\n"
		   "{\"seq\":5,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"value\":\"70\"}\n"
		   "{\"seq\":6,\"op\":\"change\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"old\":\"70\",\"new\":\"60\"}\n",
		root, root, root, root, root);
	fclose(f);
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
	cr_expect_str_eq(fake_get(root, "/proc/sys/kernel/panic"), "0\n");
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "70");
}

Test(safety_journal, second_session_of_a_process_crashes, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "8192" }, w = { "vm.swappiness", "40" };
	struct kp_session *s;
	char why[512];
	int st;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		/* same process, same second: two sessions must not be confused */
		struct kp_session_opts k = o;

		k.keep = true;		/* its journal stays: both sessions are in it */
		if (kp_session_open(&k, &s, why, sizeof(why)) ||
		    kp_session_apply(s, &c, 1, "first", why, sizeof(why)))
			_exit(1);
		kp_session_close(s);
		if (kp_session_open(&o, &s, why, sizeof(why)) ||
		    kp_session_apply(s, &w, 1, "second", why, sizeof(why)))
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st), "child failed: %d", WEXITSTATUS(st));
	cr_assert_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "40");
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60");
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "8192", "kept");
	kp_session_close(s);
}

Test(safety_journal, kept_value_changed_by_someone_else_becomes_the_original, .init = setup1,
     .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock,
				     .keep = true };
	struct kp_change c = { "net.core.somaxconn", "8192" };
	struct kp_session *s;
	char why[512];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "set 1", why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
	fake_put(root, "/proc/sys/net/core/somaxconn", "6000\n");	/* an admin's sysctl -w */
	fake_clock_now += 5;
	c.value = "7000";
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "set 2", why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(c.old, "6000");
	kp_session_close(s);
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "6000",
			 "the admin's value is the one to go back to");
}

Test(safety_journal, state_dir_others_can_write_is_refused, .init = setup1, .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state };
	struct kp_session *s;
	char why[512], want[600];

	chmod(state, 0777);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), -EPERM);
	snprintf(want, sizeof(want), "state dir %s is writable by others (mode 0777)", state);
	cr_expect_str_eq(why, want);
	chmod(state, 0700);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
}

Test(safety_journal, corrupt_middle_line_is_skipped_and_the_rest_used, .init = setup1,
     .fini = teardown)
{
	char j[4300], why[512];
	FILE *f;

	fake_put(root, "/proc/sys/vm/swappiness", "40\n");
	fake_put(root, "/proc/sys/net/core/somaxconn", "8192\n");
	snprintf(j, sizeof(j), "%s/journal", state);
	f = fopen(j, "w");
	fprintf(f, "{\"seq\":1,\"op\":\"begin\",\"sid\":\"x\",\"pid\":1,\"mode\":\"keep\"}\n"
		   "{\"seq\":2,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"value\":\"60\"}\n"
		   "{\"seq\":3,\"op\":\"change\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"old\":\"60\",\"new\":\"40\"}\n"
		   "\x01\x02 not json at all }\n"
		   "{\"seq\":5,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"net.core.somaxconn\",\"value\":\"4096\"}\n"
		   "{\"seq\":6,\"op\":\"change\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"net.core.somaxconn\",\"old\":\"4096\",\"new\":\"8192\"}\n"
		   "{\"seq\":7,\"op\":\"commit\",\"sid\":\"x\"}\n", root, root, root, root);
	fclose(f);
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60");
	cr_expect_str_eq(fake_get(root, "/proc/sys/net/core/somaxconn"), "4096");
}

/* A fail record naming no knob once crashed replay (clang --analyze found it). */
Test(safety_journal, knobless_fail_record_is_skipped, .init = setup1, .fini = teardown)
{
	char j[4300], why[512];
	FILE *f;

	fake_put(root, "/proc/sys/vm/swappiness", "40\n");
	snprintf(j, sizeof(j), "%s/journal", state);
	f = fopen(j, "w");
	fprintf(f, "{\"seq\":1,\"op\":\"begin\",\"sid\":\"x\",\"pid\":1,\"mode\":\"keep\"}\n"
		   "{\"seq\":2,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"value\":\"60\"}\n"
		   "{\"seq\":3,\"op\":\"change\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"vm.swappiness\",\"old\":\"60\",\"new\":\"40\"}\n"
		   "{\"seq\":4,\"op\":\"fail\",\"sid\":\"x\",\"root\":\"%s\"}\n"
		   "{\"seq\":5,\"op\":\"commit\",\"sid\":\"x\"}\n", root, root, root);
	fclose(f);
	cr_assert_eq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, "/proc/sys/vm/swappiness"), "60");
}

Test(safety_journal, record_round_trip)
{
	struct kp_jrec a = { .op = KP_J_CHANGE, .seq = 42, .t = 1700000000.25, .pid = 7 }, b;
	char *line;

	snprintf(a.sid, sizeof(a.sid), "s-1");
	snprintf(a.knob, sizeof(a.knob), "cgroup:kp/op1:cpu.max");
	snprintf(a.root, sizeof(a.root), "/");
	snprintf(a.netns, sizeof(a.netns), "blue");
	a.nsino = 4026532000ULL;
	snprintf(a.old, sizeof(a.old), "max 100000");
	snprintf(a.new, sizeof(a.new), "50000 100000");
	snprintf(a.why, sizeof(a.why), "quote \" and \\ and\nnewline");
	line = kp_jrec_dump(&a);
	cr_assert_not_null(line);
	cr_expect_null(strchr(line, '\n'), "one record, one line");
	cr_assert_eq(kp_jrec_parse(line, &b), 0);
	cr_expect_eq(b.op, KP_J_CHANGE);
	cr_expect_eq(b.seq, 42);
	cr_expect_eq(b.t, 1700000000.25);
	cr_expect_eq(b.nsino, 4026532000ULL);
	cr_expect_str_eq(b.knob, a.knob);
	cr_expect_str_eq(b.old, a.old);
	cr_expect_str_eq(b.new, a.new);
	cr_expect_str_eq(b.why, a.why);
	cr_expect_str_eq(b.netns, "blue");
	free(line);
	cr_expect_eq(kp_jrec_parse("{\"op\":\"change\"}", &b), -EINVAL, "a change names its knob");
	cr_expect_eq(kp_jrec_parse("{\"op\":\"fail\"}", &b), -EINVAL, "so does a failed write");
	cr_expect_eq(kp_jrec_parse("{\"op\":\"explode\",\"knob\":\"x\"}", &b), -EINVAL);
	cr_expect_eq(kp_jrec_parse("[1,2]", &b), -EINVAL);
}
