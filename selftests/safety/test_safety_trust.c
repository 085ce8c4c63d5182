// SPDX-License-Identifier: GPL-2.0
/*
 * The journal and the state dir as untrusted input (issue 13): a record's
 * "root" is never honoured, a state dir or journal others can write is
 * refused, and a knob whose restore fails keeps its record until it is
 * restored or explicitly forgotten. Against a fake root; the real binary
 * where the defect was in it.
 */
#include <sys/wait.h>
#include "../lib/safety_fake.h"

#include "../lib/safety_fixture.h"

#define SOMAXCONN "/proc/sys/net/core/somaxconn"

/* Run cmd through sh; its exit status, its output (stdout and stderr) in out. */
static int run(const char *cmd, char *out, size_t len)
{
	char full[6000];
	size_t n;
	FILE *p;
	int st;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(safety_trust, journal_root_is_never_honoured_by_the_binary, .init = setup1,
     .fini = teardown)
{
	char other[256], j[4300], bin[4300], cmd[9000], out[4096];
	struct kp_rollback_item *it;
	int n;
	FILE *f;

	if (geteuid() != 0)
		cr_skip_test("the defect wrote as root; run as root (sudo make check)");
	fake_root_make(other, sizeof(other), 1);
	fake_put(other, SOMAXCONN, "8192\n");
	snprintf(j, sizeof(j), "%s/journal", state);
	f = fopen(j, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"seq\":1,\"op\":\"begin\",\"sid\":\"x\",\"pid\":1}\n"
		   "{\"seq\":2,\"op\":\"orig\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"net.core.somaxconn\",\"value\":\"4096\"}\n"
		   "{\"seq\":3,\"op\":\"change\",\"sid\":\"x\",\"root\":\"%s\",\"knob\":\"net.core.somaxconn\",\"old\":\"4096\",\"new\":\"8192\"}\n",
		other, other);
	fclose(f);
	kpilot_bin(bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s rollback --list --state-dir %s", bin, state);
	cr_expect_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
	cr_expect(strstr(out, "nothing to restore"), "%s", out);
	cr_expect(strstr(out, "ignored, never written"), "no word about the records: %s", out);
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s", bin, state);
	cr_expect_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
	cr_expect(strstr(out, other), "the message names the root: %s", out);
	cr_expect_str_eq(fake_get(other, SOMAXCONN), "8192\n", "wrote under the journal's root");
	/* the journal is kept for whoever owns that root: the test-only path */
	cr_assert_eq(kp_safety_rollback_list_at(state, other, &it, &n, out, sizeof(out)), 0, "%s",
		     out);
	cr_expect_eq(n, 1);
	free(it);
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s", bin, state, other);
	cr_expect_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
	cr_expect_str_eq(fake_get(other, SOMAXCONN), "4096", "--root restores under that root");
	fake_rm(other);
}

Test(safety_trust, state_dir_and_journal_others_can_write_are_refused, .init = setup1,
     .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .keep = true };
	struct kp_change c = { "net.core.somaxconn", "8192" };
	char why[512], want[4600], j[4300], bin[4300], cmd[9000], out[4096];
	struct kp_session *s;

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "trust", why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
	snprintf(j, sizeof(j), "%s/journal", state);
	chmod(j, 0666);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), -EPERM);
	snprintf(want, sizeof(want), "journal %s is writable by others (mode 0666)", j);
	cr_expect_str_eq(why, want);
	/* dry runs (rollback --list, tune --dry-run) were the silent way in */
	o.dry_run = true;
	cr_expect_eq(kp_session_open(&o, &s, why, sizeof(why)), -EPERM, "dry run used it");
	chmod(j, 0600);
	chmod(state, 0777);
	kpilot_bin(bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s rollback --list --state-dir %s", bin, state);
	cr_expect_eq(run(cmd, out, sizeof(out)), 2, "%s: %s", cmd, out);
	snprintf(want, sizeof(want), "state dir %s is writable by others (mode 0777)", state);
	cr_expect(strstr(out, want), "want '%s' in: %s", want, out);
	chmod(state, 0700);
	if (geteuid() == 0) {
		cr_assert_eq(chown(state, 1234, 1234), 0);
		cr_expect_eq(kp_session_open(&o, &s, why, sizeof(why)), -EPERM);
		cr_expect(strstr(why, "owned by uid 1234"), "%s", why);
		cr_assert_eq(chown(state, 0, 0), 0);
	}
	o.dry_run = false;
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	kp_session_close(s);
}

/* The knob's file becomes a directory: reading and writing it fail (EISDIR). */
static void break_knob(bool broken)
{
	char p[4300];

	snprintf(p, sizeof(p), "%s%s", root, SOMAXCONN);
	unlink(p);
	rmdir(p);
	if (broken)
		cr_assert_eq(mkdir(p, 0755), 0);
	else
		fake_put(root, SOMAXCONN, "8192\n");
}

static int listed(struct kp_rollback_item **it)
{
	char why[512];
	int n;

	cr_assert_eq(kp_safety_rollback_list_at(state, root, it, &n, why, sizeof(why)), 0, "%s",
		     why);
	return n;
}

Test(safety_trust, a_failed_restore_keeps_its_record_until_restored, .init = setup1,
     .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "8192" };
	struct kp_rollback_item *it;
	struct kp_session *s;
	char why[512], j[4300];

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "fail", why, sizeof(why)), 0, "%s", why);
	break_knob(true);
	cr_expect_neq(kp_session_close(s), 0, "the restore cannot have worked");
	cr_expect_eq(journal_count(state, "end"), 0, "session closed as if restored");
	cr_assert_eq(listed(&it), 1, "rollback --list forgot the knob");
	cr_expect_str_eq(it[0].orig, "4096");
	free(it);
	/* rollback while still broken: fails, keeps it */
	cr_expect_neq(kp_safety_rollback_at(state, root, why, sizeof(why)), 0);
	cr_expect(strstr(why, "net.core.somaxconn"), "%s", why);
	cr_assert_eq(listed(&it), 1, "a failed rollback dropped it");
	free(it);
	/* readable again: the next start restores it and archives the journal */
	break_knob(false);
	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(fake_get(root, SOMAXCONN), "4096", "the next start did not retry");
	kp_session_close(s);
	snprintf(j, sizeof(j), "%s/journal", state);
	cr_expect_eq(access(j, F_OK), -1, "journal not archived once restored");
}

Test(safety_trust, forget_drops_a_knob_that_cannot_be_restored, .init = setup1,
     .fini = teardown)
{
	struct kp_session_opts o = { .root = root, .state_dir = state, .clock = fake_clock };
	struct kp_change c = { "net.core.somaxconn", "8192" };
	char why[512], bin[4300], cmd[9000], out[4096], j[4300];
	struct kp_session *s;

	cr_assert_eq(kp_session_open(&o, &s, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_session_apply(s, &c, 1, "fail", why, sizeof(why)), 0, "%s", why);
	break_knob(true);
	kp_session_close(s);
	kpilot_bin(bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s", bin, state, root);
	cr_expect_eq(run(cmd, out, sizeof(out)), 2, "%s: %s", cmd, out);
	cr_expect(strstr(out, "--forget net.core.somaxconn"), "no way out offered: %s", out);
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s --forget vm.swappiness",
		 bin, state, root);
	cr_expect_eq(run(cmd, out, sizeof(out)), 2, "%s: %s", cmd, out);
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s --forget net.core.somaxconn",
		 bin, state, root);
	cr_expect_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
	cr_expect(strstr(out, "original was '4096'"), "%s", out);
	snprintf(cmd, sizeof(cmd), "%s rollback --state-dir %s --root %s", bin, state, root);
	cr_expect_eq(run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
	snprintf(j, sizeof(j), "%s/journal", state);
	cr_expect_eq(access(j, F_OK), -1, "journal not archived after forget + rollback");
	break_knob(false);
}
