// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "env/pipeline/pipeline_desc.h"
#include "intent/intent.h"
#include "lib/json.h"
#include "safety/knob.h"
#include "safety/session.h"

/* Above this much dirty page cache one disk takes long to write back (stalls). */
#define DIRTY_MAX_MB		8192
#define DIRTY_BG_MAX_MB		2048

/* " lower case words of the sentence ": anything but [a-z0-9] is a space. */
static void normalise(const char *s, char *out, size_t len)
{
	size_t o = 0;

	out[o++] = ' ';
	for (; *s && o + 2 < len; s++) {
		unsigned char c = tolower((unsigned char)*s);

		if ((c == 'i' && !strncasecmp(s, "i/o", 3)) && (o == 1 || out[o - 1] == ' ')) {
			out[o++] = 'i';
			out[o++] = 'o';
			s += 2;
			continue;
		}
		c = isascii(c) && isalnum(c) ? c : ' ';
		if (c != ' ' || out[o - 1] != ' ')
			out[o++] = c;
	}
	if (out[o - 1] != ' ')
		out[o++] = ' ';
	out[o] = '\0';
}

/* A keyword in the normalised sentence: whole words, or a prefix for "word*". */
static bool kw_match(const char *norm, const char *kw)
{
	char pat[80];
	size_t n = strlen(kw);

	if (kw[n - 1] == '*')
		snprintf(pat, sizeof(pat), " %.*s", (int)(n - 1), kw);
	else
		snprintf(pat, sizeof(pat), " %s ", kw);
	return strstr(norm, pat);
}

static int score_class(const char *norm, int c, char *matched, size_t mlen)
{
	const struct kp_cat_keyword *k;
	int score = 0;
	size_t o = 0;

	matched[0] = '\0';
	for (k = kp_cat_classes[c].keywords; k->word; k++) {
		if (!kw_match(norm, k->word))
			continue;
		score += k->weight;
		if (o < mlen)
			o += snprintf(matched + o, mlen - o, "%s%s(%d)", o ? " " : "", k->word,
				      k->weight);
	}
	return score;
}

int kp_intent_classify(const char *sentence, int *cls, char *matched, size_t mlen,
		       char *why, size_t len)
{
	char norm[KP_INTENT_SENTENCE_MAX + 8], m[256];
	int c, s, best = 0;

	if (strlen(sentence) > KP_INTENT_SENTENCE_MAX) {
		snprintf(why, len, "the sentence is longer than %d characters", KP_INTENT_SENTENCE_MAX);
		return -EINVAL;
	}
	normalise(sentence, norm, sizeof(norm));
	if (!strcmp(norm, " ")) {
		snprintf(why, len, "the sentence is empty: say what the system runs");
		return -EINVAL;
	}
	for (c = 0; c < KP_CLASS_N; c++) {
		s = score_class(norm, c, m, sizeof(m));
		if (s > best) {	/* strictly: the earlier class wins a tie */
			best = s;
			*cls = c;
			snprintf(matched, mlen, "%s", m);
		}
	}
	if (!best) {
		snprintf(why, len, "no workload class matches \"%.200s\"", sentence);
		return -ENOENT;
	}
	return best;
}

static void note(struct kp_intent *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct kp_intent *in, const char *fmt, ...)
{
	va_list ap;

	if (!in || in->nnotes == KP_INTENT_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(in->notes[in->nnotes++], sizeof(in->notes[0]), fmt, ap);
	va_end(ap);
}

static long long clampll(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * The host's narrowing of one catalogue knob for class cls: false drops the
 * knob; *max may shrink. Notes go to in (NULL: none). Documentation/intent.md
 * has the rules and why.
 */
static bool narrow(struct kp_intent *in, int cls, const struct kp_host_facts *h,
		   const struct kp_cat_knob *k, long long *max)
{
	long long m = *max;

	if (!strcmp(k->knob, "vm.swappiness") && !h->swap_mb) {
		note(in, "vm.swappiness left out: no swap, so it has nothing to trade");
		return false;
	}
	if (!strcmp(k->knob, "kernel.numa_balancing") && h->numa_nodes < 2) {
		note(in, "kernel.numa_balancing left out: one NUMA node");
		return false;
	}
	if (!strcmp(k->knob, "vm.dirty_ratio") && h->mem_mb)
		m = clampll(DIRTY_MAX_MB * 100 / (long long)h->mem_mb, 20, k->max);
	if (!strcmp(k->knob, "vm.dirty_background_ratio") && h->mem_mb)
		m = clampll(DIRTY_BG_MAX_MB * 100 / (long long)h->mem_mb, 3, k->max);
	if (m < *max)
		note(in, "%s: max %lld, not %lld: %lld%% of %llu MiB memory is %.1f GiB of dirty page "
		     "cache, about the most writeback clears without long stalls", k->knob, m, *max,
		     m, h->mem_mb, m * h->mem_mb / 100 / 1024.0);
	if (cls == KP_CLASS_FILEIO && h->tmp_rotational &&
	    !strcmp(k->knob, "vm.dirty_background_ratio") && m > 5) {
		note(in, "%s: max 5, not %lld: /var/tmp is on %s, a rotating disk: background "
		     "writeback starts early", k->knob, m, h->tmp_disk);
		m = 5;
	}
	*max = m;
	return true;
}

bool kp_intent_knob_range(int cls, const struct kp_host_facts *h, const struct kp_cat_knob *k,
			  long long *min, long long *max)
{
	*min = k->min;
	*max = k->max;
	return (k->classes & KP_CLASS_BIT(cls)) && narrow(NULL, cls, h, k, max);
}

static int actions(struct kp_intent *in, const struct kp_host_facts *h, json_t **out)
{
	json_t *arr = json_array(), *a;
	long long max;
	int i, err = 0;

	for (i = 0; arr && i < kp_cat_nknobs && !err; i++) {
		const struct kp_cat_knob *k = &kp_cat_knobs[i];

		max = k->max;
		if (!(k->classes & KP_CLASS_BIT(in->cls)) || !narrow(in, in->cls, h, k, &max))
			continue;
		a = json_pack("{s:s, s:I, s:I}", "knob", k->knob, "min", (json_int_t)k->min,
			      "max", (json_int_t)max);
		if (a && k->log_scale)
			err = json_object_set_new(a, "scale", json_string("log"));
		if (a && !strcmp(k->knob, "net.ipv4.ip_local_port_range"))
			err = err ?: json_object_set_new(a, "element", json_integer(k->element));
		err = err ?: !a || json_array_append_new(arr, a);
	}
	if (!arr || err) {
		json_decref(arr);
		return -ENOMEM;
	}
	*out = arr;
	return 0;
}

/*
 * Load generators sized to the cores: sysbench cpu one thread per CPU;
 * pgbench one worker thread per CPU (at most 16) with 4 clients each.
 */
static int size_command(struct kp_intent *in, const struct kp_host_facts *h, json_t *cmd)
{
	int cpus = h->cpus > 0 ? h->cpus : 1, j = cpus < 16 ? cpus : 16, err = 0;
	char v[32];
	size_t i;

	for (i = 0; i < json_array_size(cmd) && !err; i++) {
		const char *s = json_string_value(json_array_get(cmd, i));

		if (!s)
			continue;
		if (in->cls == KP_CLASS_CPU && !strncmp(s, "--threads=", 10)) {
			snprintf(v, sizeof(v), "--threads=%d", cpus);
			err = json_array_set_new(cmd, i, json_string(v));
			note(in, "sysbench: %d threads, one per CPU", cpus);
		} else if (in->cls == KP_CLASS_DATABASE && i + 1 < json_array_size(cmd) &&
			   (!strcmp(s, "-j") || !strcmp(s, "-c"))) {
			snprintf(v, sizeof(v), "%d", s[1] == 'j' ? j : 4 * j);
			err = json_array_set_new(cmd, ++i, json_string(v));
		}
	}
	if (in->cls == KP_CLASS_DATABASE)
		note(in, "pgbench: %d worker threads (one per CPU, at most 16), %d clients", j, 4 * j);
	return err ? -ENOMEM : 0;
}

/* The profile's text: built in, or a trusted file in dir. */
static int profile_text(const char *dir, const char *name, const char *suffix, char *path,
			size_t plen, char **text, char *why, size_t len)
{
	const char *builtin = strcmp(suffix, ".json") ? NULL : kp_tune_profile(name);
	int err;

	path[0] = '\0';
	if (builtin) {
		*text = strdup(builtin);
		return *text ? 0 : -ENOMEM;
	}
	if (snprintf(path, plen, "%s/%s%s", dir, name, suffix) >= (int)plen) {
		snprintf(why, len, "%s: profile path too long", dir);
		return -ENAMETOOLONG;
	}
	err = kp_safety_trusted_file(path, why, len);
	return err ?: kp_json_read(path, 0, text, why, len);
}

/* The tool the class runs, or its alternative; -ENOPKG naming the package. */
static int pick_profile(struct kp_intent *in, const struct kp_host_facts *h, char *why,
			size_t len)
{
	const struct kp_cat_class *c = &kp_cat_classes[in->cls];
	char pkg[128];

	in->profile = c->profile;
	if (c->tool == KP_TOOL_NONE || kp_host_has(h, c->tool))
		return 0;
	if (c->alt_profile && kp_host_has(h, c->alt_tool)) {
		in->profile = c->alt_profile;
		note(in, "%s is not installed: %s instead", kp_tool_names[c->tool],
		     kp_tool_names[c->alt_tool]);
		return 0;
	}
	if (h->distro[0])
		snprintf(pkg, sizeof(pkg), "%s", kp_cat_package(c->tool, h->distro));
	else
		snprintf(pkg, sizeof(pkg), "%s (Debian, Ubuntu; Fedora, openEuler: %s)",
			 kp_cat_package(c->tool, "debian"), kp_cat_package(c->tool, "fedora"));
	snprintf(why, len, "the %s class runs %s, which is not installed (not on PATH, /usr/sbin "
		 "or /sbin): install the package %s, or name another workload", c->name,
		 kp_tool_names[c->tool], pkg);
	return -ENOPKG;
}

int kp_intent_check_table(const struct kp_tune_config *c, char *why, size_t len)
{
	const struct kp_knob *k;
	int i;

	for (i = 0; i < c->nactions; i++) {
		const struct kp_tune_action *a = &c->actions[i];

		k = kp_knob_builtin(a->knob);
		if (!k || (k->type != KP_VT_INT && k->type != KP_VT_TUPLE)) {
			snprintf(why, len, "%s: not a numeric knob of the knob table (kpilot set "
				 "--list-knobs)", a->knob);
			return -EINVAL;
		}
		if (a->min < k->min || a->max > k->max) {
			snprintf(why, len, "%s: the range [%g, %g] is outside the knob table's [%lld, %lld]",
				 a->knob, a->min, a->max, k->min, k->max);
			return -EINVAL;
		}
		if ((k->risk == KP_RISK_BELOW && a->min < k->risk_at) ||
		    (k->risk == KP_RISK_ABOVE && a->max > k->risk_at)) {
			snprintf(why, len, "%s: the range [%g, %g] crosses the safe %s %lld (%s)", a->knob,
				 a->min, a->max, k->risk == KP_RISK_BELOW ? "floor" : "ceiling",
				 k->risk_at, k->risk_why);
			return -EINVAL;
		}
	}
	return 0;
}

/* The class's profile with the catalogue's knobs, narrowed from the host. */
static int build_benchmark(struct kp_intent *in, const struct kp_host_facts *h,
			   const char *dir, char *why, size_t len)
{
	char path[PATH_MAX], origin[96], *text = NULL;
	json_t *root = NULL, *acts = NULL, *cmd;
	json_error_t e;
	int err;

	err = profile_text(dir, in->profile, ".json", path, sizeof(path), &text, why, len);
	if (err)
		return err;
	root = json_loads(text, 0, &e);
	if (!root) {
		snprintf(why, len, "%s: %s (line %d)", path[0] ? path : in->profile, e.text, e.line);
		err = -EINVAL;
		goto cleanup;
	}
	cmd = json_object_get(json_object_get(root, "benchmark"), "command");
	err = cmd ? size_command(in, h, cmd) : 0;
	err = err ?: actions(in, h, &acts);
	if (!err && json_object_set_new(root, "action_space", acts))
		err = -ENOMEM;
	if (err)
		goto cleanup;
	free(text);
	text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	if (!text || !(in->json = malloc(strlen(text) + 2))) {
		err = -ENOMEM;
		goto cleanup;
	}
	strcat(strcpy(in->json, text), "\n");
	snprintf(origin, sizeof(origin), "intent %s (profile %s)", kp_cat_classes[in->cls].name,
		 in->profile);
	err = kp_tune_config_parse(in->json, origin, &in->cfg, why, len);
	in->have_cfg = !err;
	err = err ?: kp_intent_check_table(&in->cfg, why, len);
cleanup:
	json_decref(root);
	free(text);
	return err;
}

/* The description as shipped: the controllers size the quotas themselves. */
static int build_pipeline(struct kp_intent *in, const struct kp_host_facts *h,
			  const char *dir, char *why, size_t len)
{
	struct kp_pipe_desc d;
	int err;

	if (!h->cgroup_cpu) {
		snprintf(why, len, "the %s class sets operators' CPU quotas through the cgroup cpu "
			 "controller, which this host does not have (neither in cgroup v2's "
			 "cgroup.controllers nor as a v1 hierarchy at /sys/fs/cgroup/cpu)",
			 kp_cat_classes[in->cls].name);
		return -ENOTSUP;
	}
	err = profile_text(dir, in->profile, ".pipeline.json", in->pipeline_path,
			   sizeof(in->pipeline_path), &in->json, why, len);
	err = err ?: kp_pipe_desc_parse(in->json, in->pipeline_path, &d, why, len);
	if (err)
		return err;
	kp_pipe_desc_free(&d);
	note(in, "operator quotas through cgroup v%d's %s", h->cgroup_version,
	     h->cgroup_version == 2 ? "cpu.max" : "cpu.cfs_quota_us");
	return 0;
}

int kp_intent_build_class(int cls, const struct kp_host_facts *h, const char *profile_dir,
			  struct kp_intent *in, char *why, size_t len)
{
	const struct kp_cat_class *c;
	int err;

	memset(in, 0, sizeof(*in));
	if (cls < 0 || cls >= KP_CLASS_N) {
		snprintf(why, len, "no workload class %d", cls);
		return -EINVAL;
	}
	in->cls = cls;
	c = &kp_cat_classes[cls];
	kp_host_facts_line(h, in->host, sizeof(in->host));
	err = pick_profile(in, h, why, len);
	if (!err && c->needs)
		note(in, "needs %s", c->needs);
	if (!err && cls == KP_CLASS_DATABASE && !h->pg_socket)
		note(in, "no local PostgreSQL server socket (/run/postgresql, /var/run/postgresql, /tmp): "
		     "unless PGHOST names a reachable server, the baseline run fails and nothing is tuned");
	err = err ?: c->pipeline ? build_pipeline(in, h, profile_dir, why, len) :
			   build_benchmark(in, h, profile_dir, why, len);
	if (err)
		kp_intent_free(in);
	return err;
}

int kp_intent_build(const char *sentence, const struct kp_host_facts *h,
		    const char *profile_dir, struct kp_intent *in, char *why, size_t len)
{
	char matched[256];
	int cls = 0, score, err;

	score = kp_intent_classify(sentence, &cls, matched, sizeof(matched), why, len);
	if (score < 0)
		return score;
	err = kp_intent_build_class(cls, h, profile_dir, in, why, len);
	if (err)
		return err;
	in->score = score;
	snprintf(in->matched, sizeof(in->matched), "%s", matched);
	return 0;
}

void kp_intent_free(struct kp_intent *in)
{
	if (in->have_cfg)
		kp_tune_config_free(&in->cfg);
	in->have_cfg = false;
	free(in->json);
	in->json = NULL;
}
