// SPDX-License-Identifier: GPL-2.0
/*
 * The stream pipeline as an environment: the launcher's protocol (start and
 * interval lines, the control FIFO), open / step / apply / close.  Its
 * cgroups are in pipeline_cgroup.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "env/benchmark/bench_run.h"
#include "actuate/cgroup.h"
#include "actuate/fsio.h"
#include "lib/log.h"
#include "observe/observer.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipeline_impl.h"
#include "lib/clock.h"
#include "env/pipeline/pipetune.h"

#define CFS_PERIOD_US	100000

/* ---- the launcher's output ------------------------------------------- */

/*
 * The next whole line of the launcher's output (stdout and stderr are one
 * pipe: lines that are not JSON objects are its messages, logged). 0 with
 * *line pointing into e->buf until the next call, or -ETIMEDOUT, -EPIPE,
 * -EINTR (a stop signal).
 */
static int next_line(struct kp_pipe *e, double timeout_s, char **line)
{
	struct pollfd pfd = { .fd = e->child.out_fd, .events = POLLIN };
	double deadline = kp_mono_s() + timeout_s;
	char *nl;
	ssize_t n;

	if (e->consumed) {
		memmove(e->buf, e->buf + e->consumed, e->blen - e->consumed);
		e->blen -= e->consumed;
		e->consumed = 0;
	}
	for (;;) {
		nl = memchr(e->buf, '\n', e->blen);
		if (nl) {
			*nl = '\0';
			e->consumed = nl - e->buf + 1;
			*line = e->buf;
			return 0;
		}
		if (e->blen == sizeof(e->buf) - 1)
			e->blen = 0;	/* a line this long is nothing we read */
		if (kp_safety_stop_requested())
			return -EINTR;
		if (kp_mono_s() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(e->child.out_fd, e->buf + e->blen, sizeof(e->buf) - 1 - e->blen);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			e->blen += n;
	}
}

/* The next JSON line whose "event" is ev; other lines are logged or skipped. */
static int next_event(struct kp_pipe *e, const char *ev, double timeout_s, json_t **out,
		      char *why, size_t len)
{
	double deadline = kp_mono_s() + timeout_s;
	json_t *j;
	char *line = NULL;
	int err;

	for (;;) {
		double left = deadline - kp_mono_s();

		err = next_line(e, left > 0 ? left : 0, &line);
		if (err == -EPIPE)
			snprintf(why, len, "%s: the pipeline ended", e->d->name);
		else if (err == -ETIMEDOUT)
			snprintf(why, len, "%s: no '%s' line from the launcher in %.1f s",
				 e->d->name, ev, timeout_s);
		else if (err == -EINTR)
			snprintf(why, len, "interrupted");
		if (err)
			return err;
#ifdef __clang_analyzer__
		/* 0 means line is set: clang 14 takes a failed read()'s errno as maybe 0 */
		if (!line)
			return -EIO;
#endif
		if (line[0] != '{') {
			if (line[0])
				kp_info("%s: %s", e->d->name, line);
			continue;
		}
		j = json_loads(line, 0, NULL);
		if (j && json_is_string(json_object_get(j, "event")) &&
		    !strcmp(json_string_value(json_object_get(j, "event")), ev)) {
			*out = j;
			return 0;
		}
		json_decref(j);
	}
}

static int fifo_send(struct kp_pipe *e, const char *cmd)
{
	int fd, err = 0;
	size_t n = strlen(cmd);

	if (!e->fifo[0])
		return -EOPNOTSUPP;
	fd = open(e->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, cmd, n) != (ssize_t)n)
		err = -EIO;
	close(fd);
	return err;
}

int kp_pipe_set_rate(struct kp_pipe *e, double rate)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rate %.0f\n", rate);
	return fifo_send(e, cmd);
}

static int set_workers(struct kp_pipe *e, int i, int n)
{
	const struct kp_pipe_op *op = &e->d->ops[i];
	char cmd[96];
	int err;

	if (n < op->workers_min)
		n = op->workers_min;
	if (n > op->workers_max)
		n = op->workers_max;
	if (n == e->workers[i] || !e->d->fifo)
		return 0;
	snprintf(cmd, sizeof(cmd), "workers %s=%d\n", op->name, n);
	err = fifo_send(e, cmd);
	if (!err) {
		kp_debug("%s: %s workers %d -> %d", e->d->name, op->name, e->workers[i], n);
		e->workers[i] = n;
	}
	return err;
}


/* The launcher is gone; a control FIFO it named and did not remove (killed) goes too. */
static void unlink_fifo(const struct kp_pipe *e)
{
	struct stat st;

	if (e->fifo[0] && !lstat(e->fifo, &st) && S_ISFIFO(st.st_mode) && !unlink(e->fifo))
		kp_debug("%s: removed the control FIFO %s the launcher left", e->d->name, e->fifo);
}

static int start(struct kp_pipe *e, const struct kp_pipe_opts *o, char *why, size_t len)
{
	char *argv[2 * KP_PIPE_MAX_ARGS + 2], exe[PATH_MAX];
	struct kp_run_opts ro = { .argv = argv };
	const struct kp_pipe_desc *d = e->d;
	json_t *j, *ops, *v;
	int i, n = 0, err;

	if (d->argc < 1 || d->argc > KP_PIPE_MAX_ARGS) {	/* as kp_pipe_desc_parse keeps it */
		snprintf(why, len, "%s: the launcher command has %d arguments, not 1-%d", d->name,
			 d->argc, KP_PIPE_MAX_ARGS);
		return -EINVAL;
	}
	for (i = 0; i < d->argc; i++)
		argv[n++] = d->argv[i];
	if (o->topdir && strchr(argv[0], '/') && argv[0][0] != '/') {
		snprintf(exe, sizeof(exe), "%s/%s", o->topdir, argv[0]);
		argv[0] = exe;
	}
	for (i = 0; o->extra_args && o->extra_args[i] && n < 2 * KP_PIPE_MAX_ARGS; i++)
		argv[n++] = o->extra_args[i];
	argv[n] = NULL;
	err = kp_child_start(&ro, &e->child, why, len);
	if (err)
		return err;
	e->started = true;
	e->launcher = e->child.pid;
	fcntl(e->child.out_fd, F_SETFL, O_NONBLOCK);
	err = next_event(e, "start", o->start_timeout_s > 0 ? o->start_timeout_s : 5, &j,
			 why, len);
	if (err)
		return err;
	v = json_object_get(j, "control");
	if (d->fifo && json_is_string(v))
		snprintf(e->fifo, sizeof(e->fifo), "%s", json_string_value(v));
	else if (d->fifo) {
		snprintf(why, len, "%s: the start line names no control FIFO", d->name);
		err = -EPROTO;
	}
	ops = json_object_get(j, "ops");
	for (i = 0; i < d->nops && !err; i++) {
		json_t *op = json_object_get(ops, d->ops[i].name);

		v = json_object_get(op, "pid");
		if (!json_is_integer(v) || json_integer_value(v) <= 1) {
			snprintf(why, len, "%s: the start line has no ops.%s.pid", d->name,
				 d->ops[i].name);
			err = -EPROTO;
			break;
		}
		e->pid[i] = json_integer_value(v);
		v = json_object_get(op, "workers");
		e->workers[i] = json_is_integer(v) ? json_integer_value(v) : 1;
	}
	json_decref(j);
	return err;
}

static int open_session(struct kp_pipe *e, const struct kp_pipe_opts *o, char *why, size_t len)
{
	const char *allow[KP_PIPE_MAX_OPS + 1];
	struct kp_session_opts so = {
		.root = e->root[0] ? e->root : NULL, .state_dir = o->state_dir, .cmd = "tune",
		.allow = allow, .step_policy = KP_STEP_CLAMP, .cpu_budget = e->d->cpu_budget,
	};
	int i, err;

	for (i = 0; i < e->d->nops; i++) {
		snprintf(e->knob[i], KP_NAME_MAX, "cgroup:%s:cpu.max", e->d->ops[i].cgroup);
		allow[i] = e->knob[i];
	}
	allow[i] = NULL;
	err = kp_session_open(&so, &e->s, why, len);
	for (i = 0; i < e->d->nops && !err; i++) {
		/* one step may move a quota anywhere inside the budget */
		struct kp_knob k = {
			.kind = KP_KNOB_CGROUP, .type = KP_VT_CPUMAX, .arity = 1,
			.min = (long long)(KP_QUOTA_STEP * 1000 + 0.5),
			.max = (long long)(e->d->cpu_budget * 1000 + 0.5),
			.step_abs = (long long)(e->d->cpu_budget * 1000 + 0.5),
			.min_interval_ms = 200,
		};

		snprintf(k.name, sizeof(k.name), "%s", e->knob[i]);
		err = kp_session_add_knob(e->s, &k, why, len);
	}
	return err;
}

static void open_observer(struct kp_pipe *e)
{
	struct kp_observer_opts oo = { .interval_ms = 250, .filter = true };
	char why[512];
	int i;

	if (kp_observer_open(&e->obs, &oo, why, sizeof(why)))
		goto fail;
	for (i = 0; i < e->d->nops; i++) {
		struct kp_opspec spec = { .type = KP_OP_PIDS, .npids = 1 };

		snprintf(spec.name, sizeof(spec.name), "%s", e->d->ops[i].name);
		spec.pids[0] = e->pid[i];
		e->opid[i] = kp_observer_add_operator(e->obs, &spec, why, sizeof(why));
		if (e->opid[i] < 0)
			goto fail;
	}
	e->t_obs = kp_mono_s();
	return;
fail:
	kp_warn("%s: no eBPF figures (%s); on-CPU time from the pipeline's report", e->d->name,
		why);
	kp_observer_close(e->obs);
	e->obs = NULL;
}

int kp_pipe_open(struct kp_pipe **out, const struct kp_pipe_desc *d,
		 const struct kp_pipe_opts *o, char *why, size_t len)
{
	struct kp_pipe *e = calloc(1, sizeof(*e));
	int i, err;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->d = d;
	e->child.pid = -1;
	e->child.out_fd = -1;
	if (o->root && strcmp(o->root, "/"))
		snprintf(e->root, sizeof(e->root), "%s", o->root);
	/* the session first: a busy state dir is refused before anything starts */
	err = open_session(e, o, why, len);
	err = err ?: start(e, o, why, len);
	err = err ?: kp_pipe_place(e, why, len);
	if (err)
		goto fail;
	if (o->rate > 0 && (err = kp_pipe_set_rate(e, o->rate))) {
		snprintf(why, len, "%s: cannot set the rate through %s: %s", d->name, e->fifo,
			 strerror(-err));
		goto fail;
	}
	for (i = 0; i < d->nops; i++)
		set_workers(e, i, d->ops[i].workers);
	if (!o->no_observer)
		open_observer(e);
	for (i = 0; i < d->nops; i++)
		kp_pipe_read_cpustat(e, i, &e->cs[i]);
	*out = e;
	return 0;
fail:
	kp_pipe_close(e);
	return err;
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

int kp_pipe_step(struct kp_pipe *e, struct kp_pipe_state *st, char *why, size_t len)
{
	const struct kp_pipe_desc *d = e->d;
	struct kp_interval *iv;
	json_t *j, *ops;
	double wall;
	int i, err;

	memset(st, 0, sizeof(*st));
	err = next_event(e, "interval", 3.5, &j, why, len);
	if (err)
		return err;
	st->dt = num(j, "dt");
	st->target = num(j, d->m_target);
	st->throughput = num(j, d->m_throughput);
	st->p50_ms = num(j, d->m_p50);
	st->p99_ms = num(j, d->m_p99);
	if (!isfinite(st->dt) || !isfinite(st->target) || !isfinite(st->throughput)) {
		snprintf(why, len, "%s: an interval line without dt, %s or %s", d->name,
			 d->m_target, d->m_throughput);
		json_decref(j);
		return -EPROTO;
	}
	st->attainment = st->target > 0 ? st->throughput / st->target : 1;
	ops = json_object_get(j, d->m_ops);
	for (i = 0; i < d->nops; i++) {
		json_t *op = json_object_get(ops, d->ops[i].name);
		struct kp_pipe_opstate *s = &st->op[i];
		double w = num(op, "workers");

		s->in = num(op, "in");
		s->out = num(op, "out");
		s->cpu_app = num(op, "cpu");
		s->blocked = num(op, "blocked");
		s->occupancy = num(op, "occupancy");
		s->workers = isfinite(w) ? (int)w : e->workers[i];
		s->cpu = s->cpu_app;
		s->quota = e->have_quota ? e->quota[i] : NAN;
		if (!isfinite(s->in))
			s->in = 0;
		if (!isfinite(s->out))
			s->out = 0;
		if (!isfinite(s->blocked))
			s->blocked = 0;
		if (!isfinite(s->occupancy))
			s->occupancy = 0;
	}
	json_decref(j);
	if (e->obs) {
		kp_observer_poll(e->obs);
		iv = kp_observer_interval(e->obs);
		wall = kp_mono_s() - e->t_obs;
		for (i = 0; i < d->nops && wall > 0; i++) {
			struct kp_entity *en = kp_table_find(&iv->ops, e->opid[i]);

			if (!en)
				continue;
			st->op[i].cpu = en->cpu_ns / 1e9 / wall;
			st->op[i].runq = en->runq_ns / 1e9 / wall;
			st->op[i].csw = (en->nvcsw + en->nivcsw) / wall;
		}
		kp_observer_reset(e->obs);
		e->t_obs = kp_mono_s();
	}
	for (i = 0; i < d->nops; i++) {
		struct cpustat cs;

		if (kp_pipe_read_cpustat(e, i, &cs))
			continue;
		if (cs.periods > e->cs[i].periods)
			st->op[i].throttled_frac = (double)(cs.throttled - e->cs[i].throttled) /
						   (cs.periods - e->cs[i].periods);
		st->op[i].throttled_s = (cs.throttled_ns - e->cs[i].throttled_ns) / 1e9;
		e->cs[i] = cs;
	}
	st->alloc = e->have_quota ? kp_quota_sum(e->quota, d->nops) : NAN;
	st->errors = e->errors;
	e->errors = 0;
	return 0;
}

int kp_pipe_apply(struct kp_pipe *e, const double *quota, const char *reason,
		  char *why, size_t len)
{
	struct kp_change ch[KP_PIPE_MAX_OPS];
	char vals[KP_PIPE_MAX_OPS][32];
	int i, n = e->d->nops, err;

	for (i = 0; i < n; i++) {
		snprintf(vals[i], sizeof(vals[i]), "%lld %d",
			 (long long)llround(quota[i] * CFS_PERIOD_US), CFS_PERIOD_US);
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].knob = e->knob[i];
		ch[i].value = vals[i];
	}
	err = kp_session_apply(e->s, ch, n, reason, why, len);
	if (err) {
		e->errors++;
		return err;
	}
	for (i = 0; i < n; i++) {
		long long q = -1, p = CFS_PERIOD_US;

		if (sscanf(ch[i].applied, "%lld %lld", &q, &p) == 2 && q > 0 && p > 0)
			e->quota[i] = (double)q / p;
		else
			e->quota[i] = quota[i];
		/* a worker uses at most one core: one per started core of quota */
		if (set_workers(e, i, (int)ceil(e->quota[i] - 1e-6)))
			e->errors++;
	}
	e->have_quota = true;
	return 0;
}

const double *kp_pipe_quotas(const struct kp_pipe *e)
{
	return e->have_quota ? e->quota : NULL;
}

int kp_pipe_cg_version(const struct kp_pipe *e)
{
	return e->cgv;
}

int kp_pipe_op_pid(const struct kp_pipe *e, int i)
{
	return e->pid[i];
}

const char *kp_pipe_op_dir(const struct kp_pipe *e, int i)
{
	return e->cpudir[i];
}

int kp_pipe_close(struct kp_pipe *e)
{
	int err = 0, r;

	if (!e)
		return 0;
	if (e->s) {
		err = kp_session_restore_knobs(e->s);	/* quotas back to what they were */
		if (err)
			kp_warn("%s: restoring the CPU quotas: %s", e->d->name, strerror(-err));
	}
	if (e->started) {
		double left = e->d->stop_timeout_s;

		if (e->child.pid > 0)
			kill(e->child.pid, e->d->stop_signal);
		/* kills the whole process group when the drain takes too long */
		r = kp_child_finish(&e->child, kp_mono_s() - e->child.start_s + left, NULL);
		if (r == -ETIMEDOUT)
			kp_warn("%s: the launcher did not stop within %.1f s of signal %d: killed",
				e->d->name, left, e->d->stop_signal);
		else if (r < 0 || (r && r != 128 + e->d->stop_signal))
			kp_debug("%s: the launcher ended with %d", e->d->name, r);
		unlink_fifo(e);
		kp_child_free(&e->child);
		e->started = false;
	}
	kp_observer_close(e->obs);
	e->obs = NULL;
	if (e->s) {
		r = kp_session_close(e->s);	/* the cgroups go, newest first */
		err = err ?: r;
		e->s = NULL;
	}
	free(e);
	return err;
}

/* ---- the real pipeline as a backend ------------------------------------------ */

static int real_open(void **e, const struct kp_pipe_desc *d, const struct kp_pipe_opts *o,
		     const void *arg, char *why, size_t len)
{
	(void)arg;
	return kp_pipe_open((struct kp_pipe **)e, d, o, why, len);
}

static int real_step(void *e, struct kp_pipe_state *st, char *why, size_t len)
{
	return kp_pipe_step(e, st, why, len);
}

static int real_apply(void *e, const double *q, const char *reason, char *why, size_t len)
{
	return kp_pipe_apply(e, q, reason, why, len);
}

static const double *real_quotas(const void *e)
{
	return kp_pipe_quotas(e);
}

static int real_set_rate(void *e, double rate)
{
	return kp_pipe_set_rate(e, rate);
}

static int real_close(void *e)
{
	return kp_pipe_close(e);
}

const struct kp_pipe_backend kp_pipe_real = {
	.name = "pipeline", .open = real_open, .step = real_step, .apply = real_apply,
	.quotas = real_quotas, .set_rate = real_set_rate, .close = real_close,
};
