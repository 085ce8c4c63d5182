/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The knob table: every knob kpilot may change, with its value type, safe
 * range, largest step and minimum interval between writes, and the text
 * form of its values.  Pure data and parsing; nothing here touches the system
 * but the per-knob hooks (knob_hooks.c), which may read it.
 */
#ifndef KPILOT_KNOB_H
#define KPILOT_KNOB_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define KP_TUPLE_MAX	16	/* also a steering knob's replicas (KP_STEER_MAX) */
#define KP_NAME_MAX	256
#define KP_VALUE_MAX	256
#define KP_CPUS_MAX	1024	/* CPUs a cpuset value can name */

enum kp_knob_kind {
	KP_KNOB_SYSCTL,		/* dotted name under /proc/sys */
	KP_KNOB_CGROUP,		/* "cgroup:<path>:<attr>" */
	KP_KNOB_STEER,		/* "steer:<service>:weights" (actuate/steer.h) */
};

enum kp_vtype {
	KP_VT_INT,		/* one integer */
	KP_VT_TUPLE,		/* 'arity' integers: tcp_rmem, ip_local_port_range */
	KP_VT_ENUM,		/* one word out of 'enums' */
	KP_VT_CPUMAX,		/* cgroup v2 cpu.max: "QUOTA PERIOD" or "max PERIOD" */
	KP_VT_CPULIST,		/* cpuset list: "0-3,6" */
	KP_VT_WEIGHTS,		/* "default" (n = 0) or 1..KP_TUPLE_MAX weights, one per replica */
};

enum kp_scale { KP_SCALE_LINEAR, KP_SCALE_LOG };

/* Which side of risk_at trades correctness for speed (Documentation/safety.md). */
enum kp_risk { KP_RISK_NONE, KP_RISK_BELOW, KP_RISK_ABOVE };

/*
 * One knob definition.  For sysctls, name is the dotted name; for cgroup
 * knobs in the table it is the attribute ("cpu.max") and applies to every
 * cgroup path.  Ranges and steps are per tuple element; for cpu.max they are
 * in millicores (1000 = one CPU).  A step is allowed when
 *   |new - old| <= max(step_abs, step_pct% of |old|)
 * and unbounded when both are 0.
 */
struct kp_knob {
	char name[KP_NAME_MAX];
	enum kp_knob_kind kind;
	enum kp_vtype type;
	int arity;
	long long min, max;
	long long step_abs;
	int step_pct;
	enum kp_scale scale;
	int min_interval_ms;
	bool per_netns;
	bool ordered;		/* tuple elements must not decrease */
	char enums[KP_VALUE_MAX];	/* ENUM: allowed words, space separated */
	/*
	 * Values below the safe floor (RISK_BELOW) or above the safe ceiling
	 * (RISK_ABOVE) risk_at are in the safe range but trade correctness for
	 * speed: only a session that allows this knob's risk may set them.  A
	 * hook (risk_at below) may put the bound where this system has it.
	 */
	enum kp_risk risk;
	long long risk_at;
	const char *risk_why;		/* what crossing it costs */
};

/* A parsed value.  For CPUMAX v[0] is the quota in us (-1 = max), v[1] the period. */
struct kp_value {
	enum kp_vtype type;
	int n;
	long long v[KP_TUPLE_MAX];
	char s[KP_VALUE_MAX];	/* ENUM word; CPULIST canonical text */
};

#define KP_CPU_QUOTA_MAX	(-1LL)

/* The built-in table (sysctls and the three cgroup attributes). */
extern const struct kp_knob kp_builtin_knobs[];
extern const size_t kp_builtin_nknobs;

/*
 * The steering weights knob, one definition for every service: weights 1..1000
 * (a minimum of 1: no replica starved), a step of at most 200 per replica,
 * one write a second at most.
 */
extern const struct kp_knob kp_steer_knob;

/* "default" or 1..KP_TUPLE_MAX non-negative integers (knob_steer.c). */
int kp_parse_weights(char *buf, const char *show, struct kp_value *out, char *why, size_t len);

/* The built-in denylist: fnmatch patterns no session can allow. */
extern const char *const kp_denylist[];

/*
 * Name syntax: returns 0, or -EINVAL with a one-line reason in why.  Sysctl
 * names are dot-separated words of [A-Za-z0-9_-]; cgroup names are
 * "cgroup:<path>:<attr>" with a relative path of such words separated by '/'
 * (no empty, "." or ".." component).
 */
int kp_knob_name_check(const char *name, char *why, size_t len);

/* "steer:<service>:weights": the service's steering weights (knob_steer.c). */
static inline bool kp_knob_is_steer(const char *name)
{
	return !strncmp(name, "steer:", 6);
}

/* The service of a steering knob name (a buffer of KP_NAME_MAX); -EINVAL if not one. */
int kp_knob_steer_service(const char *name, char *service);

/* Split a cgroup knob name into path and attribute (buffers of KP_NAME_MAX). */
int kp_knob_cgroup_split(const char *name, char *path, char *attr);

/* The denylist pattern a name matches, or NULL. */
const char *kp_knob_denied(const char *name);

/* The built-in definition for a knob name (cgroup names by attribute), or NULL. */
const struct kp_knob *kp_knob_builtin(const char *name);

/*
 * Parse text into a value of the knob's type: strict (no trailing junk, no
 * overflow, base 10 only).  CPUMAX without a period gets period 0, meaning
 * "keep the current period".  Returns 0 or -EINVAL with a reason.
 */
int kp_value_parse(const struct kp_knob *k, const char *text, struct kp_value *out,
		   char *why, size_t len);

/* Canonical text: integers separated by one space, "max 100000", "0-3,6". */
int kp_value_format(const struct kp_value *v, char *buf, size_t len);

bool kp_value_eq(const struct kp_value *a, const struct kp_value *b);

/* Collapse whitespace runs to one space and trim: the canonical form of raw file text. */
void kp_text_canon(char *s);

/* cpu.max in millicores, counting "max" as every CPU (ncpus * 1000). */
long long kp_cpumax_millicores(const struct kp_value *v, int ncpus);

/* CPU lists (cpulist.c): parse into a bitmap of KP_CPUS_MAX bits, canonical text, subset test. */
int kp_cpulist_parse(const char *text, unsigned long long *bits, char *why, size_t len);
void kp_cpulist_format(const unsigned long long *bits, char *buf, size_t len);
bool kp_cpulist_subset(const char *sub, const char *super);

int kp_ncpus(void);

/*
 * What the table's ranges and steps cannot say about a knob, looked up by
 * name (cgroup knobs by attribute), for table knobs and config-added ones
 * alike.  Every field is optional.
 */
struct kp_target;
struct kp_knob_hooks {
	const char *name;		/* cgroup knobs: the attribute */
	enum kp_knob_kind kind;
	/* complete a proposed value from the current one (cpu.max: keep the period) */
	void (*complete)(struct kp_value *nv, const struct kp_value *old);
	/*
	 * Refuse a value this system cannot take; may read the system through t.
	 * 0, -EINVAL with the reason, or another -errno (the environment).
	 */
	int (*check)(const char *name, const struct kp_value *nv, const struct kp_target *t,
		     char *why, size_t len);
	/* invariant: this knob's value stays below that knob's (dirty ratios) */
	const char *below;
	/* the safe floor or ceiling on this system; table_at when it cannot say */
	long long (*risk_at)(const struct kp_target *t, long long table_at);
};

extern const struct kp_knob_hooks kp_knob_hooks_table[];
extern const size_t kp_knob_nhooks;

/* The hooks of a knob, or NULL. */
const struct kp_knob_hooks *kp_knob_hooks(const char *name);

/*
 * An agent's action u in [-1, 1] to a knob's range and back, linear or
 * logarithmic per the knob's scale (a range reaching 0 or below is shifted
 * to start at 1 for the log).  Out-of-range u is clipped.
 */
long long kp_knob_from_unit(const struct kp_knob *k, double u);
double kp_knob_to_unit(const struct kp_knob *k, long long v);

#endif
