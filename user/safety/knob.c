// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "safety/knob.h"

#define SYSCTL(n, t, ar, lo, hi, sa, sp, sc, iv, ns, ord, en) \
	{ .name = n, .kind = KP_KNOB_SYSCTL, .type = t, .arity = ar, .min = lo, \
	  .max = hi, .step_abs = sa, .step_pct = sp, .scale = sc, \
	  .min_interval_ms = iv, .per_netns = ns, .ordered = ord, .enums = en }
#define INT(n, lo, hi, sa, sp, sc, ns) \
	SYSCTL(n, KP_VT_INT, 1, lo, hi, sa, sp, sc, 1000, ns, false, "")
/* An INT knob with a risky side: see struct kp_knob. */
#define RISKY(n, lo, hi, sa, sp, sc, ns, side, at, cost) \
	{ .name = n, .kind = KP_KNOB_SYSCTL, .type = KP_VT_INT, .arity = 1, .min = lo, \
	  .max = hi, .step_abs = sa, .step_pct = sp, .scale = sc, .min_interval_ms = 1000, \
	  .per_netns = ns, .risk = side, .risk_at = at, .risk_why = cost }
#define CGROUP(a, t, lo, hi, sa, sp, sc) \
	{ .name = a, .kind = KP_KNOB_CGROUP, .type = t, .arity = 1, .min = lo, \
	  .max = hi, .step_abs = sa, .step_pct = sp, .scale = sc, \
	  .min_interval_ms = 200 }

/*
 * Safe ranges are deliberately narrower than what the kernel accepts: the
 * point is that no value in range can make the machine unusable, only slower.
 * Steps let the agent move far in a few changes but not in one jump.
 */
const struct kp_knob kp_builtin_knobs[] = {
	INT("net.core.somaxconn", 128, 65535, 4096, 100, KP_SCALE_LOG, true),
	INT("net.core.netdev_max_backlog", 1000, 100000, 1000, 100, KP_SCALE_LOG, false),
	INT("net.core.rmem_max", 212992, 268435456, 0, 100, KP_SCALE_LOG, false),
	INT("net.core.wmem_max", 212992, 268435456, 0, 100, KP_SCALE_LOG, false),
	INT("net.core.rmem_default", 212992, 16777216, 0, 100, KP_SCALE_LOG, false),
	INT("net.core.wmem_default", 212992, 16777216, 0, 100, KP_SCALE_LOG, false),
	INT("net.core.busy_poll", 0, 200, 50, 0, KP_SCALE_LINEAR, false),
	INT("net.core.busy_read", 0, 200, 50, 0, KP_SCALE_LINEAR, false),
	SYSCTL("net.ipv4.tcp_rmem", KP_VT_TUPLE, 3, 4096, 268435456, 0, 100,
	       KP_SCALE_LOG, 1000, true, true, ""),
	SYSCTL("net.ipv4.tcp_wmem", KP_VT_TUPLE, 3, 4096, 268435456, 0, 100,
	       KP_SCALE_LOG, 1000, true, true, ""),
	SYSCTL("net.ipv4.ip_local_port_range", KP_VT_TUPLE, 2, 1024, 65535, 8192, 0,
	       KP_SCALE_LINEAR, 1000, true, true, ""),
	SYSCTL("net.ipv4.tcp_congestion_control", KP_VT_ENUM, 1, 0, 0, 0, 0,
	       KP_SCALE_LINEAR, 1000, true, false, "reno cubic bbr htcp dctcp"),
	INT("net.ipv4.tcp_slow_start_after_idle", 0, 1, 1, 0, KP_SCALE_LINEAR, true),
	INT("net.ipv4.tcp_notsent_lowat", 16384, 4294967295LL, 0, 100, KP_SCALE_LOG, true),
	INT("net.ipv4.tcp_fin_timeout", 5, 120, 30, 0, KP_SCALE_LINEAR, true),
	INT("net.ipv4.tcp_max_syn_backlog", 128, 65536, 4096, 100, KP_SCALE_LOG, true),
	/*
	 * The kernel's documentation: "you must not lower the limit artificially".
	 * The floor is its default, half the TCP hash table (knob_hooks.c reads it);
	 * 32768 (an 8 GiB machine's) where the kernel does not show it (< 6.1).
	 */
	RISKY("net.ipv4.tcp_max_tw_buckets", 1024, 4194304, 0, 100, KP_SCALE_LOG, true,
	      KP_RISK_BELOW, 32768,
	      "TIME_WAIT sockets would be destroyed instead of kept"),
	INT("net.ipv4.tcp_tw_reuse", 0, 2, 2, 0, KP_SCALE_LINEAR, true),
	INT("net.ipv4.tcp_fastopen", 0, 3, 3, 0, KP_SCALE_LINEAR, true),
	INT("net.ipv4.tcp_mtu_probing", 0, 2, 2, 0, KP_SCALE_LINEAR, true),
	INT("vm.swappiness", 0, 200, 20, 0, KP_SCALE_LINEAR, false),
	INT("vm.dirty_ratio", 1, 90, 10, 0, KP_SCALE_LINEAR, false),
	INT("vm.dirty_background_ratio", 1, 50, 5, 0, KP_SCALE_LINEAR, false),
	/* Longer than the kernel's defaults (30 s, 5 s): more written data lost on a crash. */
	RISKY("vm.dirty_expire_centisecs", 100, 30000, 500, 100, KP_SCALE_LOG, false,
	      KP_RISK_ABOVE, 3000, "written data would stay longer only in memory (lost on a crash)"),
	RISKY("vm.dirty_writeback_centisecs", 100, 30000, 500, 100, KP_SCALE_LOG, false,
	      KP_RISK_ABOVE, 500, "written data would stay longer only in memory (lost on a crash)"),
	INT("vm.vfs_cache_pressure", 10, 1000, 50, 50, KP_SCALE_LOG, false),
	INT("vm.watermark_scale_factor", 10, 1000, 50, 50, KP_SCALE_LOG, false),
	INT("kernel.sched_autogroup_enabled", 0, 1, 1, 0, KP_SCALE_LINEAR, false),
	INT("kernel.numa_balancing", 0, 1, 1, 0, KP_SCALE_LINEAR, false),
	/* cpu.max: millicores, upper bound capped to the CPUs present */
	CGROUP("cpu.max", KP_VT_CPUMAX, 10, 1024000, 1000, 100, KP_SCALE_LINEAR),
	CGROUP("cpu.weight", KP_VT_INT, 1, 10000, 100, 100, KP_SCALE_LOG),
	CGROUP("cpuset.cpus", KP_VT_CPULIST, 0, 0, 0, 0, KP_SCALE_LINEAR),
};
const size_t kp_builtin_nknobs = sizeof(kp_builtin_knobs) / sizeof(kp_builtin_knobs[0]);

/*
 * Knobs whose wrong value panics, reboots, loads code into the kernel or
 * weakens its protections.  Matched with fnmatch; no session can allow them.
 */
const char *const kp_denylist[] = {
	"kernel.panic*", "kernel.*_panic", "kernel.*panic*", "vm.panic_on_oom",
	"kernel.sysrq", "kernel.kexec*", "kernel.modules_disabled", "kernel.modprobe",
	"kernel.core_pattern", "kernel.core_pipe_limit", "kernel.poweroff_cmd",
	"kernel.ctrl-alt-del", "kernel.cad_pid", "kernel.usermodehelper.*",
	"kernel.hotplug", "kernel.unprivileged_bpf_disabled", "kernel.kptr_restrict",
	"kernel.dmesg_restrict", "kernel.perf_event_paranoid", "kernel.randomize_va_space",
	"kernel.yama.*", "kernel.seccomp.*", "kernel.keys.*", "kernel.io_uring_disabled",
	"kernel.unprivileged_userns_clone", "user.*", "fs.suid_dumpable", "fs.protected_*",
	"fs.binfmt_misc.*", "net.core.bpf_jit_*", "vm.overcommit_*", "vm.mmap_min_addr",
	"vm.nr_hugepages*", "vm.drop_caches", "vm.compact_memory", "dev.*", "debug.*",
	NULL,
};

static void seterr(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static bool word_char(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '_' || c == '-');
}

/* Printable quoting of hostile input for error messages. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; s[i] && o + 5 < len; i++) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x7f) {
			buf[o++] = c;
		} else {
			snprintf(buf + o, len - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (s[i] && o + 4 <= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Words of word_char separated by single 'sep', no empty word. */
static int check_words(const char *s, size_t n, char sep, const char **bad)
{
	size_t i, wlen = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == sep) {
			if (!wlen) {
				*bad = "empty component";
				return -EINVAL;
			}
			wlen = 0;
			continue;
		}
		if (!word_char(s[i]) && !(sep == '/' && s[i] == '.')) {
			*bad = s[i] == '/' ? "'/' not allowed" : "character outside [A-Za-z0-9_.:-]";
			return -EINVAL;
		}
		wlen++;
	}
	if (!wlen) {
		*bad = "empty component";
		return -EINVAL;
	}
	return 0;
}

int kp_knob_name_check(const char *name, char *why, size_t len)
{
	const char *bad = NULL, *p, *q, *c, *e;
	char show[96];
	size_t n = strlen(name);

	if (!n) {
		seterr(why, len, "bad knob name '': empty");
		return -EINVAL;
	}
	if (n >= KP_NAME_MAX) {
		seterr(why, len, "bad knob name '%s': longer than %d characters",
		       shown(name, show, sizeof(show)), KP_NAME_MAX - 1);
		return -EINVAL;
	}
	if (strstr(name, "..")) {
		bad = "'..' not allowed";
		goto bad;
	}
	if (kp_knob_is_steer(name)) {
		if (kp_knob_steer_service(name, NULL)) {
			bad = "expected steer:<service>:weights, service of [A-Za-z0-9_-]";
			goto bad;
		}
		return 0;
	}
	if (strncmp(name, "cgroup:", 7)) {
		if (check_words(name, n, '.', &bad))
			goto bad;
		return 0;
	}
	p = name + 7;
	q = strrchr(p, ':');
	if (!q || q == p) {
		bad = "expected cgroup:<path>:<attribute>";
		goto bad;
	}
	if (*p == '/') {
		bad = "cgroup path must be relative";
		goto bad;
	}
	if (memchr(p, ':', q - p)) {
		bad = "':' not allowed in a cgroup path";
		goto bad;
	}
	if (check_words(p, q - p, '/', &bad))
		goto bad;
	/* dots are fine inside a directory name, but not "." as a whole one */
	for (c = p; c < q; c = e + 1) {
		e = memchr(c, '/', q - c);
		if (!e)
			e = q;
		if (e - c == 1 && c[0] == '.') {
			bad = "'.' component not allowed";
			goto bad;
		}
	}
	if (check_words(q + 1, strlen(q + 1), '.', &bad))
		goto bad;
	return 0;
bad:
	seterr(why, len, "bad knob name '%s': %s", shown(name, show, sizeof(show)), bad);
	return -EINVAL;
}

int kp_knob_cgroup_split(const char *name, char *path, char *attr)
{
	const char *p, *q;

	if (strncmp(name, "cgroup:", 7))
		return -EINVAL;
	p = name + 7;
	q = strrchr(p, ':');
	if (!q || (size_t)(q - p) >= KP_NAME_MAX || strlen(q + 1) >= KP_NAME_MAX)
		return -EINVAL;
	memcpy(path, p, q - p);
	path[q - p] = '\0';
	strcpy(attr, q + 1);
	return 0;
}

const char *kp_knob_denied(const char *name)
{
	int i;

	if (!strncmp(name, "cgroup:", 7) || kp_knob_is_steer(name))
		return NULL;
	for (i = 0; kp_denylist[i]; i++)
		if (!fnmatch(kp_denylist[i], name, 0))
			return kp_denylist[i];
	return NULL;
}

const struct kp_knob *kp_knob_builtin(const char *name)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	size_t i;

	if (kp_knob_is_steer(name))
		return kp_knob_steer_service(name, NULL) ? NULL : &kp_steer_knob;
	if (!strncmp(name, "cgroup:", 7)) {
		if (kp_knob_cgroup_split(name, path, attr))
			return NULL;
		name = attr;
		for (i = 0; i < kp_builtin_nknobs; i++)
			if (kp_builtin_knobs[i].kind == KP_KNOB_CGROUP &&
			    !strcmp(kp_builtin_knobs[i].name, name))
				return &kp_builtin_knobs[i];
		return NULL;
	}
	for (i = 0; i < kp_builtin_nknobs; i++)
		if (kp_builtin_knobs[i].kind == KP_KNOB_SYSCTL &&
		    !strcmp(kp_builtin_knobs[i].name, name))
			return &kp_builtin_knobs[i];
	return NULL;
}

void kp_text_canon(char *s)
{
	char *r = s, *w = s;
	bool space = false;

	while (*r && isspace((unsigned char)*r))
		r++;
	for (; *r; r++) {
		if (isspace((unsigned char)*r)) {
			space = true;
			continue;
		}
		if (space && w != s)
			*w++ = ' ';
		space = false;
		*w++ = *r;
	}
	*w = '\0';
}

/* Strict base-10 integer: optional sign, digits, nothing else. */
static int parse_ll(const char *tok, long long *out)
{
	char *end;
	long long v;

	if (!*tok || !(isdigit((unsigned char)tok[0]) ||
		       ((tok[0] == '-' || tok[0] == '+') && isdigit((unsigned char)tok[1]))))
		return -EINVAL;
	errno = 0;
	v = strtoll(tok, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Split canonical text into at most max tokens (modifies buf). */
static int tokens(char *buf, char **tok, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return max + 1;
		tok[n++] = t;
	}
	return n;
}

static bool enum_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static int parse_ints(const struct kp_knob *k, char *buf, const char *show,
		      struct kp_value *out, char *why, size_t len)
{
	int want = k->type == KP_VT_INT ? 1 : k->arity;
	char *tok[KP_TUPLE_MAX + 1];
	int n, i, r;

	n = tokens(buf, tok, KP_TUPLE_MAX);
	if (n != want) {
		if (want == 1)
			seterr(why, len, "'%s' is not an integer", show);
		else
			seterr(why, len, "'%s': expected %d integers separated by spaces",
			       show, want);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		r = parse_ll(tok[i], &out->v[i]);
		if (r == -ERANGE) {
			seterr(why, len, "'%s' overflows a 64-bit integer", tok[i]);
			return -EINVAL;
		}
		if (r) {
			seterr(why, len, "'%s' is not an integer", want == 1 ? show : tok[i]);
			return -EINVAL;
		}
	}
	out->n = n;
	return 0;
}

static int parse_enum(const struct kp_knob *k, char *buf, const char *show,
		      struct kp_value *out, char *why, size_t len)
{
	char *tok[2];
	int n, i;

	n = tokens(buf, tok, 1);
	for (i = 0; n == 1 && tok[0][i] && word_char(tok[0][i]); i++)
		;
	if (n != 1 || tok[0][i]) {
		seterr(why, len, "'%s' is not a single word", show);
		return -EINVAL;
	}
	if (k->enums[0] && !enum_has(k->enums, tok[0])) {
		seterr(why, len, "'%s' is not one of: %s", show, k->enums);
		return -EINVAL;
	}
	snprintf(out->s, sizeof(out->s), "%s", tok[0]);
	out->n = 0;
	return 0;
}

static int parse_cpumax(char *buf, const char *show, struct kp_value *out,
			char *why, size_t len)
{
	char *tok[3];
	int n;

	n = tokens(buf, tok, 2);
	if (n < 1 || n > 2) {
		seterr(why, len, "'%s': expected QUOTA [PERIOD] in microseconds, or max [PERIOD]",
		       show);
		return -EINVAL;
	}
	if (!strcmp(tok[0], "max")) {
		out->v[0] = KP_CPU_QUOTA_MAX;
	} else if (parse_ll(tok[0], &out->v[0]) || out->v[0] <= 0) {
		seterr(why, len, "'%s': quota must be a positive integer (us) or max", show);
		return -EINVAL;
	}
	out->v[1] = 0;
	if (n == 2 && (parse_ll(tok[1], &out->v[1]) || out->v[1] < 1000 ||
		       out->v[1] > 1000000)) {
		seterr(why, len, "'%s': period must be 1000..1000000 us", show);
		return -EINVAL;
	}
	if (out->v[0] > 0 && (out->v[0] < 1000 || out->v[0] > 1000000LL * KP_CPUS_MAX)) {
		seterr(why, len, "'%s': quota must be at least 1000 us", show);
		return -EINVAL;
	}
	out->n = 2;
	return 0;
}

static int parse_cpulist(const char *buf, const char *show, struct kp_value *out,
			 char *why, size_t len)
{
	unsigned long long bits[KP_CPUS_MAX / 64];

	/* an empty cgroup v2 cpuset means "the parent's": a state, not a choice */
	if (!buf[0])
		return 0;
	if (strchr(buf, ' ')) {
		seterr(why, len, "'%s' is not a CPU list (like 0-3,6)", show);
		return -EINVAL;
	}
	if (kp_cpulist_parse(buf, bits, why, len))
		return -EINVAL;
	kp_cpulist_format(bits, out->s, sizeof(out->s));
	if (!out->s[0]) {
		seterr(why, len, "empty CPU list");
		return -EINVAL;
	}
	return 0;
}

int kp_value_parse(const struct kp_knob *k, const char *text, struct kp_value *out,
		   char *why, size_t len)
{
	char buf[KP_VALUE_MAX], show[96];
	int i;

	memset(out, 0, sizeof(*out));
	out->type = k->type;
	if (strlen(text) >= sizeof(buf)) {
		seterr(why, len, "value '%s' is too long", shown(text, show, sizeof(show)));
		return -EINVAL;
	}
	strcpy(buf, text);
	kp_text_canon(buf);
	for (i = 0; buf[i]; i++) {
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f) {
			seterr(why, len, "value '%s' has non-printable characters",
			       shown(text, show, sizeof(show)));
			return -EINVAL;
		}
	}
	shown(buf, show, sizeof(show));
	switch (k->type) {
	case KP_VT_INT:
	case KP_VT_TUPLE:
		return parse_ints(k, buf, show, out, why, len);
	case KP_VT_ENUM:
		return parse_enum(k, buf, show, out, why, len);
	case KP_VT_CPUMAX:
		return parse_cpumax(buf, show, out, why, len);
	case KP_VT_CPULIST:
		return parse_cpulist(buf, show, out, why, len);
	case KP_VT_WEIGHTS:
		return kp_parse_weights(buf, show, out, why, len);
	}
	return -EINVAL;
}

int kp_value_format(const struct kp_value *v, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	switch (v->type) {
	case KP_VT_WEIGHTS:
		if (!v->n) {
			o = snprintf(buf, len, "default");
			break;
		}
		/* fall through */
	case KP_VT_INT:
	case KP_VT_TUPLE:
		buf[0] = '\0';
		for (i = 0; i < v->n && o < len; i++)
			o += snprintf(buf + o, len - o, "%s%lld", i ? " " : "", v->v[i]);
		break;
	case KP_VT_CPUMAX:
		if (v->v[0] == KP_CPU_QUOTA_MAX)
			o = snprintf(buf, len, "max %lld", v->v[1]);
		else
			o = snprintf(buf, len, "%lld %lld", v->v[0], v->v[1]);
		break;
	case KP_VT_ENUM:
	case KP_VT_CPULIST:
		o = snprintf(buf, len, "%s", v->s);
		break;
	}
	return o < len ? 0 : -ENOSPC;
}

bool kp_value_eq(const struct kp_value *a, const struct kp_value *b)
{
	int i;

	if (a->type != b->type)
		return false;
	if (a->type == KP_VT_ENUM || a->type == KP_VT_CPULIST)
		return !strcmp(a->s, b->s);
	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->v[i] != b->v[i])
			return false;
	return true;
}

long long kp_cpumax_millicores(const struct kp_value *v, int ncpus)
{
	if (v->v[0] == KP_CPU_QUOTA_MAX || v->v[1] <= 0)
		return (long long)ncpus * 1000;
	return (v->v[0] * 1000 + v->v[1] / 2) / v->v[1];
}

int kp_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? (int)n : 1;
}

long long kp_knob_from_unit(const struct kp_knob *k, double u)
{
	double lo = (double)k->min, hi = (double)k->max, t, v, shift = 0;

	if (u != u)
		u = -1;		/* NaN: the safest end is the start of the range */
	t = ((u < -1 ? -1 : u > 1 ? 1 : u) + 1) / 2;
	if (k->scale == KP_SCALE_LOG && hi > lo) {
		if (lo <= 0)
			shift = 1 - lo;
		v = exp(log(lo + shift) + t * (log(hi + shift) - log(lo + shift))) - shift;
	} else {
		v = lo + t * (hi - lo);
	}
	v = (double)llround(v);
	return v < lo ? k->min : v > hi ? k->max : (long long)v;
}

double kp_knob_to_unit(const struct kp_knob *k, long long v)
{
	double lo = (double)k->min, hi = (double)k->max, t, shift = 0;

	if (hi <= lo)
		return 0;
	if (v < k->min)
		v = k->min;
	if (v > k->max)
		v = k->max;
	if (k->scale == KP_SCALE_LOG) {
		if (lo <= 0)
			shift = 1 - lo;
		t = (log((double)v + shift) - log(lo + shift)) / (log(hi + shift) - log(lo + shift));
	} else {
		t = ((double)v - lo) / (hi - lo);
	}
	return 2 * t - 1;
}
