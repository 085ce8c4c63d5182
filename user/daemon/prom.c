// SPDX-License-Identifier: GPL-2.0
/*
 * /metrics: the figures in Prometheus text format 0.0.4. Base units
 * (seconds, bytes), counters end in _total, the BPF log2 histograms become
 * _bucket{le} / _sum / _count. Cardinality is bounded by the config: one
 * series set per operator, top_processes processes.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/figures.h"
#include "daemon/policy.h"

#define KPILOT_VERSION_STR "0.1.0"	/* user/main.c's KPILOT_VERSION */

struct counter {
	const char *name, *help;
	size_t off;		/* __u64 in struct kp_dm_acc */
	double scale;		/* to the base unit */
	const char *label;	/* an extra label="value" pair, or NULL */
};

#define C(n, h, field, sc, lb) { n, h, offsetof(struct kp_dm_acc, field), sc, lb }
static const struct counter counters[] = {
	C("cpu_seconds_total", "CPU time used.", cpu_ns, 1e-9, NULL),
	C("runqueue_wait_seconds_total", "Time spent runnable, waiting for a CPU.", runq_ns, 1e-9, NULL),
	C("context_switches_total", "Context switches.", nvcsw, 1, "kind=\"voluntary\""),
	C("context_switches_total", NULL, nivcsw, 1, "kind=\"involuntary\""),
	C("block_io_operations_total", "Block I/O requests completed.", io_ops, 1, NULL),
	C("block_io_bytes_total", "Block I/O bytes.", io_read_bytes, 1, "direction=\"read\""),
	C("block_io_bytes_total", NULL, io_write_bytes, 1, "direction=\"write\""),
	C("tcp_retransmits_total", "TCP segments retransmitted.", tcp_retrans, 1, NULL),
	C("tcp_connections_total", "TCP connections opened.", tcp_active_opens, 1, "direction=\"active\""),
	C("tcp_connections_total", NULL, tcp_passive_opens, 1, "direction=\"passive\""),
};

struct hist {
	const char *name, *help;
	size_t off;		/* __u64[KP_HIST_SLOTS] in struct kp_dm_acc */
	ptrdiff_t sum_off;	/* an exact sum in ns, or -1: estimated from the slots */
};

static const struct hist hists[] = {
	{ "runqueue_latency_seconds", "Run-queue wait per wakeup or switch-in (BPF log2 histogram).",
	  offsetof(struct kp_dm_acc, runq_hist), offsetof(struct kp_dm_acc, runq_ns) },
	{ "block_io_latency_seconds", "Block I/O latency, issue to completion (BPF log2 histogram; "
	  "_sum estimated from bucket midpoints).", offsetof(struct kp_dm_acc, io_hist), -1 },
	{ "tcp_connect_latency_seconds", "TCP connect latency, SYN_SENT to ESTABLISHED (BPF log2 "
	  "histogram; _sum estimated from bucket midpoints).", offsetof(struct kp_dm_acc, conn_hist), -1 },
};

static __u64 field(const struct kp_dm_acc *a, size_t off)
{
	return *(const __u64 *)((const char *)a + off);
}

/* {operator="web",kind="x"} or {kind="x"} or nothing. */
static void labels(FILE *out, const char *op, const char *extra, const char *le)
{
	const char *sep = "";

	if (!op && !extra && !le)
		return;
	fputc('{', out);
	if (op) {
		fprintf(out, "operator=\"%s\"", op);
		sep = ",";
	}
	if (extra) {
		fprintf(out, "%s%s", sep, extra);
		sep = ",";
	}
	if (le)
		fprintf(out, "%sle=\"%s\"", sep, le);
	fputc('}', out);
}

static void write_counters(FILE *out, const char *prefix, const struct kp_dm_acc *accs, int n,
			   bool per_op)
{
	size_t c;
	int i;

	for (c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		const struct counter *k = &counters[c];

		/* A family split by a label (kind, direction) has HELP on its first row only. */
		if (k->help) {
			fprintf(out, "# HELP %s_%s %s\n", prefix, k->name, k->help);
			fprintf(out, "# TYPE %s_%s counter\n", prefix, k->name);
		}
		for (i = 0; i < n; i++) {
			fprintf(out, "%s_%s", prefix, k->name);
			labels(out, per_op ? accs[i].name : NULL, k->label, NULL);
			fprintf(out, " %.10g\n", field(&accs[i], k->off) * k->scale);
		}
	}
}

static void write_one_hist(FILE *out, const char *prefix, const struct hist *h,
			   const struct kp_dm_acc *a, const char *op)
{
	const __u64 *slots = (const __u64 *)((const char *)a + h->off);
	double est = 0;
	__u64 cum = 0;
	char le[32];
	int k;

	for (k = 0; k < KP_HIST_SLOTS; k++) {
		cum += slots[k];
		/* slot k holds [2^k, 2^(k+1)) us, slot 0 [0, 2) us */
		est += slots[k] * (k ? 1.5 * (double)(1ULL << k) : 1.0) * 1e-6;
		snprintf(le, sizeof(le), "%g", (double)(1ULL << (k + 1)) * 1e-6);
		fprintf(out, "%s_%s_bucket", prefix, h->name);
		labels(out, op, NULL, le);
		fprintf(out, " %llu\n", (unsigned long long)cum);
	}
	fprintf(out, "%s_%s_bucket", prefix, h->name);
	labels(out, op, NULL, "+Inf");
	fprintf(out, " %llu\n", (unsigned long long)cum);
	fprintf(out, "%s_%s_sum", prefix, h->name);
	labels(out, op, NULL, NULL);
	fprintf(out, " %.10g\n", h->sum_off >= 0 ? field(a, (size_t)h->sum_off) * 1e-9 : est);
	fprintf(out, "%s_%s_count", prefix, h->name);
	labels(out, op, NULL, NULL);
	fprintf(out, " %llu\n", (unsigned long long)cum);
}

static void write_hists(FILE *out, const char *prefix, const struct kp_dm_acc *accs, int n,
			bool per_op)
{
	size_t h;
	int i;

	for (h = 0; h < sizeof(hists) / sizeof(hists[0]); h++) {
		fprintf(out, "# HELP %s_%s %s\n", prefix, hists[h].name, hists[h].help);
		fprintf(out, "# TYPE %s_%s histogram\n", prefix, hists[h].name);
		for (i = 0; i < n; i++)
			write_one_hist(out, prefix, &hists[h], &accs[i], per_op ? accs[i].name : NULL);
	}
}

static void write_processes(FILE *out, const struct kp_dm_figures *f)
{
	double win = f->window_ms ? f->window_ms * 1e6 : 1;
	char comm[KP_COMM_LEN], *p;
	size_t i;

	fprintf(out, "# HELP kpilot_process_cpu_ratio CPU used in the last window, in CPUs "
		"(top processes by CPU only).\n# TYPE kpilot_process_cpu_ratio gauge\n");
	for (i = 0; i < f->ntop; i++) {
		kp_dm_comm_clean(f->top[i].comm, comm);
		for (p = comm; *p; p++)	/* no escapes needed in the label value */
			if (*p == '"' || *p == '\\')
				*p = '?';
		fprintf(out, "kpilot_process_cpu_ratio{pid=\"%u\",comm=\"%s\"} %.10g\n",
			f->top[i].id, comm, f->top[i].cpu_ns / win);
	}
}

static void write_self(FILE *out, const struct kp_dm_figures *f)
{
	fprintf(out, "# HELP kpilot_build_info kpilot's version and observer mode.\n"
		"# TYPE kpilot_build_info gauge\n"
		"kpilot_build_info{version=\"%s\",mode=\"%s\",runq_method=\"%s\"} 1\n",
		KPILOT_VERSION_STR, f->mode, f->runq_method);
	fprintf(out, "# HELP kpilot_start_time_seconds When the daemon started, Unix time.\n"
		"# TYPE kpilot_start_time_seconds gauge\nkpilot_start_time_seconds %.3f\n",
		f->start_wall_s);
	fprintf(out, "# HELP kpilot_window_seconds The observer's window.\n"
		"# TYPE kpilot_window_seconds gauge\nkpilot_window_seconds %g\n",
		f->window_ms / 1e3);
	fprintf(out, "# HELP kpilot_observer_windows_total Windows folded in.\n"
		"# TYPE kpilot_observer_windows_total counter\nkpilot_observer_windows_total %llu\n",
		(unsigned long long)f->windows);
	fprintf(out, "# HELP kpilot_observer_events_total BPF handler invocations.\n"
		"# TYPE kpilot_observer_events_total counter\nkpilot_observer_events_total %llu\n",
		(unsigned long long)f->events);
	fprintf(out, "# HELP kpilot_observer_records_total Ring-buffer records submitted.\n"
		"# TYPE kpilot_observer_records_total counter\nkpilot_observer_records_total %llu\n",
		(unsigned long long)f->records);
	fprintf(out, "# HELP kpilot_observer_ringbuf_drops_total Records dropped: the ring "
		"buffer was full (their counts ride on the next record).\n"
		"# TYPE kpilot_observer_ringbuf_drops_total counter\n"
		"kpilot_observer_ringbuf_drops_total %llu\n", (unsigned long long)f->drops);
}

/* bpf_stats: rate(..._run_seconds_total) / rate(..._runs_total) is the time per run. */
static void write_progs(FILE *out, const struct kp_dm_figures *f)
{
	if (!f->nprogs)
		return;
	fprintf(out, "# HELP kpilot_observer_program_runs_total Runs of each observer BPF "
		"program (bpf_stats).\n# TYPE kpilot_observer_program_runs_total counter\n");
	for (int i = 0; i < f->nprogs; i++)
		fprintf(out, "kpilot_observer_program_runs_total{program=\"%s\"} %llu\n",
			f->progs[i].name, (unsigned long long)f->progs[i].runs);
	fprintf(out, "# HELP kpilot_observer_program_run_seconds_total Time spent in each "
		"observer BPF program (bpf_stats).\n"
		"# TYPE kpilot_observer_program_run_seconds_total counter\n");
	for (int i = 0; i < f->nprogs; i++)
		fprintf(out, "kpilot_observer_program_run_seconds_total{program=\"%s\"} %.10g\n",
			f->progs[i].name, f->progs[i].ns * 1e-9);
}

void kp_dm_prom_write(FILE *out, const struct kp_dm_figures *f)
{
	write_self(out, f);
	write_progs(out, f);
	write_counters(out, "kpilot_observed", &f->all, 1, false);
	write_hists(out, "kpilot_observed", &f->all, 1, false);
	write_counters(out, "kpilot_operator", f->ops, f->nops, true);
	write_hists(out, "kpilot_operator", f->ops, f->nops, true);
	write_processes(out, f);
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void pol_series(FILE *out, const char *name, const struct kp_policy *p, double v)
{
	fprintf(out, "%s{policy=\"", name);
	label_value(out, p->name);
	fprintf(out, "\"} %.10g\n", v);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A knob's value: a number, or a tuple of numbers ("4096 131072 6291456",
 * "50000 100000"), one series per element (element="0", ...). Elements that
 * are not numbers ("max") have no series.
 */
static void knob_value(FILE *out, const struct kp_policy *p, const struct kp_pol_knob *k)
{
	char buf[KP_VALUE_MAX], *save = NULL, *tok, *end;
	bool tuple = strpbrk(k->value, " \t") != NULL;
	int i = 0;

	snprintf(buf, sizeof(buf), "%s", k->value);
	for (tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save), i++) {
		double v = strtod(tok, &end);

		if (end == tok || *end)
			continue;
		fprintf(out, "kpilot_knob_value{policy=\"");
		label_value(out, p->name);
		fprintf(out, "\",knob=\"");
		label_value(out, k->name);
		if (tuple)
			fprintf(out, "\",element=\"%d", i);
		fprintf(out, "\"} %.10g\n", v);
	}
}

struct knob_counter {
	const char *name, *type, *help;
	size_t off;	/* unsigned long long or bool in struct kp_pol_knob; -1: the value */
	bool is_bool;
};

static const struct knob_counter knob_series[] = {
	{ "kpilot_knob_value", "gauge", "A managed knob's value as last read or written (a "
	  "tuple: one series per numeric element).", (size_t)-1, false },
	{ "kpilot_knob_changes_total", "counter", "Changes the policy applied to the knob.",
	  offsetof(struct kp_pol_knob, changes), false },
	{ "kpilot_knob_refusals_total", "counter", "Changes to the knob the safety validator "
	  "refused.", offsetof(struct kp_pol_knob, refusals), false },
	{ "kpilot_knob_reverts_total", "counter", "Guardrail reverts of the knob.",
	  offsetof(struct kp_pol_knob, reverts), false },
	{ "kpilot_knob_overridden", "gauge", "1 while someone else's value holds the knob (left "
	  "alone until ctl resume).", offsetof(struct kp_pol_knob, overridden), true },
};

static void write_knobs(FILE *out, const struct kp_policy *pol, int n)
{
	for (size_t s = 0; s < sizeof(knob_series) / sizeof(knob_series[0]); s++) {
		const struct knob_counter *c = &knob_series[s];

		family(out, c->name, c->type, c->help);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < pol[i].nknobs; j++) {
				const struct kp_pol_knob *k = &pol[i].knobs[j];
				const char *f;

				if (c->off == (size_t)-1) {	/* the value: no counter field */
					knob_value(out, &pol[i], k);
					continue;
				}
				f = (const char *)k + c->off;
				fprintf(out, "%s{policy=\"", c->name);
				label_value(out, pol[i].name);
				fprintf(out, "\",knob=\"");
				label_value(out, k->name);
				fprintf(out, "\"} %llu\n", c->is_bool ? (unsigned long long)*(const bool *)f :
					*(const unsigned long long *)f);
			}
	}
}

void kp_dm_prom_policies(FILE *out, const struct kp_policy *pol, int n)
{
	family(out, "kpilot_policy_info", "gauge", "A configured policy (1): its kind and agent.");
	for (int i = 0; i < n; i++) {
		fprintf(out, "kpilot_policy_info{policy=\"");
		label_value(out, pol[i].name);
		fprintf(out, "\",kind=\"%s\",agent=\"", pol[i].kind->name);
		label_value(out, pol[i].agent);
		fprintf(out, "\"} 1\n");
	}
	family(out, "kpilot_policy_reward", "gauge", "The policy's last reward (no series before "
	       "its first).");
	for (int i = 0; i < n; i++)
		if (pol[i].have_reward)
			pol_series(out, "kpilot_policy_reward", &pol[i], pol[i].last_reward);
#define POL(name, type, help, expr) do {					\
	family(out, name, type, help);						\
	for (int i = 0; i < n; i++)						\
		pol_series(out, name, &pol[i], (double)(expr));			\
} while (0)
	POL("kpilot_policy_steps_total", "counter", "Intervals the policy stepped.", pol[i].steps);
	POL("kpilot_policy_updates_total", "counter", "Agent updates.", pol[i].updates);
	POL("kpilot_policy_exploration", "gauge", "1 while the agent explores, 0 greedy only.",
	    pol[i].exploration);
	POL("kpilot_policy_paused", "gauge", "1 while paused (ctl pause, ctl rollback).",
	    pol[i].paused);
	POL("kpilot_policy_changes_total", "counter", "Changes applied.", pol[i].changes);
	POL("kpilot_policy_refusals_total", "counter", "Changes the safety validator refused.",
	    pol[i].refusals);
	POL("kpilot_policy_reverts_total", "counter", "Guardrail reverts.", pol[i].reverts);
	POL("kpilot_policy_overrides_total", "counter", "Knobs someone else changed under the "
	    "policy.", pol[i].overrides);
#undef POL
	write_knobs(out, pol, n);
}
