// SPDX-License-Identifier: GPL-2.0
/*
 * What a config from an untrusted source (a model's answer) must not do,
 * beyond what the parser checks.  A hand-written config is trusted by its
 * file's owner (kp_safety_trusted_file) and may add knobs, run a shell and
 * set any budget; a model's answer may do none of that: it stays inside
 * the knob table and its safe side, runs an installed binary directly, and
 * keeps a budget a person would have agreed to.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "intent/llm.h"
#include "safety/knob.h"

/* The limits of Documentation/llm.md, "What is refused". */
#define VET_TIMEOUT_MAX		3600.0
#define VET_REPEATS_MAX		20
#define VET_WARMUP_MAX		10
#define VET_TRIALS_MIN		2
#define VET_TRIALS_MAX		500
#define VET_BUDGET_MAX_S	(24 * 3600.0)

static int refuse(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EPERM;
}

/* The highest value an action may take: enums count their words from 0. */
static long long table_max(const struct kp_knob *k)
{
	const char *w;
	long long n = 0;

	if (k->type != KP_VT_ENUM)
		return k->max;
	for (w = k->enums; (w = strchr(w, ' ')); w++)
		n++;
	return n;
}

static int vet_risk(const struct kp_knob *k, const struct kp_tune_action *a, char *why,
		    size_t len)
{
	if (k->risk == KP_RISK_BELOW && a->min < (double)k->risk_at)
		return refuse(why, len, "%s: min %.15g is below the knob table's safe floor %lld (%s); "
			      "a model's config stays on the safe side", a->knob, a->min, k->risk_at,
			      k->risk_why);
	if (k->risk == KP_RISK_ABOVE && a->max > (double)k->risk_at)
		return refuse(why, len, "%s: max %.15g is above the knob table's safe ceiling %lld (%s); "
			      "a model's config stays on the safe side", a->knob, a->max, k->risk_at,
			      k->risk_why);
	return 0;
}

static int vet_action(const struct kp_tune_config *c, const struct kp_tune_action *a,
		      char *why, size_t len)
{
	const struct kp_knob *k;
	long long hi;

	if (!strncmp(a->knob, "cgroup:", 7))
		return refuse(why, len, "%s: cgroup knobs are not taken from a model's answer "
			      "(the path names a cgroup on this host)", a->knob);
	if (kp_knob_denied(a->knob))
		return refuse(why, len, "%s: on the denylist (pattern %s)", a->knob,
			      kp_knob_denied(a->knob));
	k = kp_knob_builtin(a->knob);
	if (!k)
		return refuse(why, len, "%s: not in the knob table (a model's config may only use "
			      "the knobs of Documentation/safety.md)", a->knob);
	if (k->type != KP_VT_INT && k->type != KP_VT_TUPLE && k->type != KP_VT_ENUM)
		return refuse(why, len, "%s: not a knob a benchmark run tunes", a->knob);
	hi = table_max(k);
	if (a->min < (double)(k->type == KP_VT_ENUM ? 0 : k->min) || a->max > (double)hi)
		return refuse(why, len, "%s: the range [%.15g, %.15g] is outside the knob table's "
			      "[%lld, %lld]", a->knob, a->min, a->max,
			      k->type == KP_VT_ENUM ? 0 : k->min, hi);
	if (a->element >= (k->type == KP_VT_TUPLE ? k->arity : 1))
		return refuse(why, len, "%s: element %d does not exist (the knob has %d)", a->knob,
			      a->element, k->type == KP_VT_TUPLE ? k->arity : 1);
	if (c->netns && !k->per_netns)
		return refuse(why, len, "%s: not per network namespace; with \"netns\": true it "
			      "cannot be tuned", a->knob);
	return vet_risk(k, a, why, len);
}

/*
 * Programs that run another program or a script: with them argv is a
 * shell in disguise, and a benchmark never needs one.  Tools that destroy
 * data, reach other hosts or change privileges are no benchmark either.
 */
static const char *const not_benchmarks[] = {
	"sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
	"env", "sudo", "su", "doas", "pkexec", "setsid", "nohup", "xargs", "exec", "eval",
	"timeout", "nice", "ionice", "chroot", "nsenter", "unshare", "runuser", "script",
	"python", "python2", "python3", "perl", "ruby", "node", "lua", "php", "tclsh",
	"awk", "gawk", "mawk", "sed", "find", "make",
	"rm", "dd", "shred", "wipefs", "mkfs", "fdisk", "sfdisk", "parted", "truncate",
	"mv", "cp", "chmod", "chown", "ln", "tee", "install",
	"kill", "pkill", "killall", "reboot", "shutdown", "poweroff", "halt", "init",
	"systemctl", "modprobe", "insmod", "rmmod", "sysctl", "mount", "umount", "iptables",
	"nft", "ip", "tc", "crontab", "at", "useradd", "usermod", "passwd",
	"curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "rsync", "ftp", "telnet",
	/* kpilot itself (kpilot set) and the tools that tune or reconfigure outside a session */
	"kpilot", "bpftool", "kexec", "swapon", "swapoff", "blkdiscard", "hdparm", "ethtool",
	"cpupower", "tuned-adm", "setenforce", "fstrim", "tune2fs", "fsck", "e2fsck", "losetup",
	"cryptsetup", "lvm", "mdadm", "btrfs", "zfs", "zpool", "docker", "podman", "kubectl",
	"apt", "apt-get", "dpkg", "dnf", "yum", "rpm", "pip", "pip3", "git",
	NULL,
};

static bool not_benchmark(const char *base)
{
	int i;

	for (i = 0; not_benchmarks[i]; i++)
		if (!strcmp(base, not_benchmarks[i]))
			return true;
	/* python3.11, mkfs.ext4, bash5: the family, not only the name */
	return !strncmp(base, "python", 6) || !strncmp(base, "mkfs.", 5) ||
	       !strncmp(base, "perl5", 5);
}

static bool executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111) &&
	       !access(path, X_OK);
}

/* Where execvp() would find name: PATH, or its default without one. */
static bool on_path(const char *name, char *found, size_t size)
{
	const char *path = getenv("PATH"), *p, *e;

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		/* an empty or relative entry is the current directory: not "installed" */
		if (e == p || *p != '/')
			continue;
		if ((size_t)snprintf(found, size, "%.*s/%s", (int)(e - p), p, name) < size &&
		    executable(found))
			return true;
	}
	return false;
}

static int vet_command(const struct kp_tune_config *c, char *why, size_t len)
{
	const char *a0 = c->argv[0], *base;
	char found[4096];

	if (c->builtin[0])
		return refuse(why, len, "$.benchmark.builtin: a built-in benchmark is the offline "
			      "matcher's to choose, not a model's");
	if (c->shell)
		return refuse(why, len, "$.benchmark.shell: a shell command where argv is possible "
			      "(a model's benchmark runs as argv, \"shell\": false)");
	base = strrchr(a0, '/') ? strrchr(a0, '/') + 1 : a0;
	if (not_benchmark(base))
		return refuse(why, len, "$.benchmark.command[0]: \"%s\" is a shell, a command runner "
			      "or a tool that changes the system, not a benchmark", base);
	if (strchr(a0, '/') && a0[0] != '/')
		return refuse(why, len, "$.benchmark.command[0]: \"%s\" is a relative path: give an "
			      "installed program's name or absolute path", a0);
	if (a0[0] == '/' ? !executable(a0) : !on_path(a0, found, sizeof(found)))
		return refuse(why, len, "$.benchmark.command[0]: \"%s\" is not installed (%s)", a0,
			      a0[0] == '/' ? "no such executable" : "not found on PATH");
	return 0;
}

static int vet_budget(const struct kp_tune_config *c, char *why, size_t len)
{
	double runs, worst;

	if (c->timeout_s > VET_TIMEOUT_MAX)
		return refuse(why, len, "$.benchmark.timeout_s: %g s is more than a model's config "
			      "may ask (%g)", c->timeout_s, VET_TIMEOUT_MAX);
	if (c->repeats > VET_REPEATS_MAX || c->warmup_runs > VET_WARMUP_MAX)
		return refuse(why, len, "$.benchmark: %d warmup runs and %d repeats per trial are more "
			      "than a model's config may ask (%d, %d)", c->warmup_runs, c->repeats,
			      VET_WARMUP_MAX, VET_REPEATS_MAX);
	if (c->trials < VET_TRIALS_MIN || c->trials > VET_TRIALS_MAX)
		return refuse(why, len, "$.training.trials: %d is outside [%d, %d] for a model's config",
			      c->trials, VET_TRIALS_MIN, VET_TRIALS_MAX);
	if (c->algo == KP_ALGO_EXTERNAL)
		return refuse(why, len, "$.training.algo: \"external\" runs an optimizer named on the "
			      "command line, not by a model");
	/* the baseline and the trials, each run to its time-out */
	runs = (double)(c->trials + 1) * (c->warmup_runs + c->repeats);
	worst = runs * c->timeout_s;
	if (worst > VET_BUDGET_MAX_S)
		return refuse(why, len, "the budget: %g runs of up to %g s each could take %.1f hours "
			      "(at most %g)", runs, c->timeout_s, worst / 3600, VET_BUDGET_MAX_S / 3600);
	return 0;
}

int kp_intent_vet(const struct kp_tune_config *c, char *why, size_t len)
{
	int i, err;

	for (i = 0; i < c->nactions; i++) {
		err = vet_action(c, &c->actions[i], why, len);
		if (err)
			return err;
	}
	err = vet_command(c, why, len);
	return err ?: vet_budget(c, why, len);
}
