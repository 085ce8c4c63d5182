// SPDX-License-Identifier: GPL-2.0
/* The intent's texts: what the matcher knows, the LLM prompt's context, the shown session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipeline_desc.h"
#include "intent/intent.h"

static void known_classes(FILE *f)
{
	const struct kp_cat_keyword *k;
	int c;

	for (c = 0; c < KP_CLASS_N; c++) {
		fprintf(f, "  %-16s %s; profile %s; keywords:", kp_cat_classes[c].name,
			kp_cat_classes[c].title, kp_cat_classes[c].profile);
		for (k = kp_cat_classes[c].keywords; k->word; k++)
			fprintf(f, strchr(k->word, ' ') ? " \"%s\"" : " %s", k->word);
		fputc('\n', f);
	}
}

char *kp_intent_known(void)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int c;

	if (!f)
		return NULL;
	fprintf(f, "workload classes it knows (a word ending in * matches as a prefix):\n");
	known_classes(f);
	fprintf(f, "examples:\n");
	for (c = 0; c < KP_CLASS_N; c++)
		fprintf(f, "  kpilot tune --intent \"%s\"\n", kp_cat_classes[c].example);
	fclose(f);
	return buf;
}

static void context_host(FILE *f, const struct kp_host_facts *h)
{
	char line[512];
	int i;

	kp_host_facts_line(h, line, sizeof(line));
	fprintf(f, "Host: %s\n", line);
	fprintf(f, "Disks:");
	for (i = 0; i < h->ndisks; i++)
		fprintf(f, " %s (%llu MiB, %s)", h->disks[i].name, h->disks[i].size_mb,
			h->disks[i].rotational ? "rotational" : "not rotational");
	fprintf(f, "%s\nBenchmark tools:", h->ndisks ? "" : " none found");
	for (i = 0; i < KP_TOOL_N; i++)
		fprintf(f, " %s=%s", kp_tool_names[i], kp_host_has(h, i) ? h->tool_path[i] : "missing");
	fputc('\n', f);
}

/* The catalogue's ranges as this host narrows them, per class. */
static void context_knobs(FILE *f, const struct kp_host_facts *h)
{
	long long lo, hi;
	int i, c, n;

	fprintf(f, "Knob catalogue (knob [scale]: catalogue range; range per class on this host; "
		"what it does):\n");
	for (i = 0; i < kp_cat_nknobs; i++) {
		const struct kp_cat_knob *k = &kp_cat_knobs[i];

		fprintf(f, "  %s%s [%s]: %lld..%lld;", k->knob, k->element ? "" :
			strcmp(k->knob, "net.ipv4.ip_local_port_range") ? "" : " (its low end)",
			k->log_scale ? "log" : "linear", k->min, k->max);
		for (c = 0, n = 0; c < KP_CLASS_N; c++) {
			if (!(k->classes & KP_CLASS_BIT(c)))
				continue;
			if (kp_intent_knob_range(c, h, k, &lo, &hi))
				fprintf(f, "%s %s %lld..%lld", n++ ? "," : "", kp_cat_classes[c].name, lo, hi);
			else
				fprintf(f, "%s %s left out", n++ ? "," : "", kp_cat_classes[c].name);
		}
		fprintf(f, "; %s\n", k->what);
	}
}

char *kp_intent_context(const struct kp_host_facts *h)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return NULL;
	context_host(f, h);
	fprintf(f, "Workload classes (name, what, profile, keywords):\n");
	known_classes(f);
	context_knobs(f, h);
	fprintf(f, "Every knob must be one of these, with min and max inside its range; the "
		"benchmark must be an installed tool run as an argv array.\n");
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* An argument as a shell would need it typed. */
static void put_arg(FILE *f, const char *a)
{
	const char *p;

	if (*a && !a[strcspn(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!")]) {
		fputs(a, f);
		return;
	}
	fputc('\'', f);
	for (p = a; *p; p++)
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	fputc('\'', f);
}

static void show_command(FILE *f, const struct kp_tune_config *c)
{
	int i;

	fprintf(f, "  benchmark  ");
	if (c->builtin[0]) {
		fprintf(f, "%s, built in: kpilot's own client and server in two fresh private network "
			"namespaces per run (4 client threads, 4 s a run by default)\n", c->builtin);
	} else {
		if (c->shell)
			fputs("/bin/sh -c ", f);
		for (i = 0; i < c->argc; i++) {
			fputs(i ? " " : "", f);
			put_arg(f, c->argv[i]);
		}
		fputc('\n', f);
	}
	fprintf(f, "             timeout %g s; %d warm-up and %d measured run%s per trial\n",
		c->timeout_s, c->warmup_runs, c->repeats, c->repeats == 1 ? "" : "s");
	fprintf(f, "  metric     %s: the last match of \"%s\" in its output, %s\n", c->metric_name,
		c->pattern, c->goal == KP_GOAL_MINIMIZE ? "minimize" : "maximize");
}

static void show_benchmark(FILE *f, const struct kp_tune_config *c, int confirm)
{
	int i;

	show_command(f, c);
	fprintf(f, "  mode       %s\n", c->netns ?
		"netns: every run in fresh private network namespaces; the host's knobs are never touched" :
		"host: these knobs change on this host while it runs; every original is restored at the end");
	for (i = 0; i < c->nactions; i++) {
		const struct kp_tune_action *a = &c->actions[i];

		fprintf(f, "  %-10s %-32s %g .. %g %s%s\n", i ? "" : "knobs", a->knob, a->min, a->max,
			a->log_scale ? "log" : "linear",
			!strcmp(a->knob, "net.ipv4.ip_local_port_range") ? " (its low end)" : "");
	}
	fprintf(f, "  budget     %d trials (%s, episodes of %d, seed %llu) after the baseline", c->trials,
		kp_tune_algo_names[c->algo], c->episode_steps, c->seed);
	if (confirm)
		fprintf(f, ", then %d confirmation runs each of the baseline and the best\n", confirm);
	else
		fprintf(f, "; no confirmation phase\n");
	fprintf(f, "  reward     %g x the metric's relative change over the baseline - %g x the spread "
		"(CV) of a trial's runs; a failed trial: -%g\n", c->w_perf, c->w_stability, c->w_failure);
}

static void show_pipeline(FILE *f, const struct kp_intent *in, int trials)
{
	struct kp_pipe_desc d;
	char why[256];
	int i;

	if (kp_pipe_desc_parse(in->json, in->pipeline_path, &d, why, sizeof(why))) {
		fprintf(f, "  (the description does not parse: %s)\n", why);
		return;
	}
	fprintf(f, "  launcher  ");
	for (i = 0; i < d.argc; i++) {
		fputc(' ', f);
		put_arg(f, d.argv[i]);
	}
	fprintf(f, "\n  mode       the pipeline's operators in cgroups kpilot makes and removes; "
		"no host knob changes\n");
	for (i = 0; i < d.nops; i++)
		fprintf(f, "  %-10s %-8s CPU quota %g .. %g cores (cgroup %s)\n", i ? "" : "knobs",
			d.ops[i].name, KP_QUOTA_STEP, d.cpu_budget, d.ops[i].cgroup);
	fprintf(f, "  budget     %d control intervals of the running pipeline, %g cores in all\n",
		trials, d.cpu_budget);
	fprintf(f, "  reward     %g x attainment (throughput / target, at most 1) - %g x min(1, p99 "
		"latency / %g ms) - %g x quotas / budget; an interval with an error: -%g\n",
		d.reward.w_attainment, d.reward.w_latency, d.reward.latency_slo_ms, d.reward.w_cpu,
		d.reward.w_errors);
	kp_pipe_desc_free(&d);
}

void kp_intent_show(const struct kp_intent *in, const struct kp_tune_config *c, int trials,
		    int confirm, FILE *f)
{
	const struct kp_cat_class *k = &kp_cat_classes[in->cls];
	int i;

	fprintf(f, "The session built from the sentence (nothing runs before you agree):\n");
	if (in->from_llm) {
		fprintf(f, "  source     the --llm endpoint's answer, parsed and vetted like a "
			"hand-written config (Documentation/llm.md)\n");
		if (in->score >= 0)
			fprintf(f, "  class      offline: %s (%s)\n", k->name, in->matched);
	} else {
		fprintf(f, "  class      %s: %s%s%s\n", k->name, k->title,
			in->matched[0] ? "; matched " : "", in->matched);
		if (c)
			fprintf(f, "  profile    %s, with the knob catalogue's knobs and ranges\n",
				in->profile);
		else
			fprintf(f, "  profile    %s: %s, as shipped\n", in->profile,
				in->pipeline_path);
	}
	if (c)
		show_benchmark(f, c, confirm);
	else
		show_pipeline(f, in, trials);
	fprintf(f, "  host       %s\n", in->host);
	for (i = 0; i < in->nnotes; i++)
		fprintf(f, "  %-10s %s\n", i ? "" : "notes", in->notes[i]);
}
