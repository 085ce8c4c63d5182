// SPDX-License-Identifier: GPL-2.0
/*
 * wordcount's launcher: maps the shared memory, forks one process per
 * operator, applies commands from the control FIFO, reports each interval,
 * drains and stops; and `wordcount ctl`, which writes to that FIFO.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wordcount.h"

struct shm *S;

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
	signals++;
}

static void control_read(int fd, bool *stop)
{
	static char buf[4096];
	static size_t len;
	ssize_t n;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += n;
		control_lines(buf, &len, sizeof(buf), stop);
	}
}

struct snapshot {
	uint64_t t_ns;
	struct op_state op[NR_OPS];
	uint64_t occ[NR_CHANS], fill[NR_CHANS];
	uint64_t sentences, words, lat[NR_BUCKETS];
};

static void snap(struct snapshot *s)
{
	int i;

	s->t_ns = mono_ns();
	for (i = 0; i < NR_OPS; i++) {
		s->op[i].in = ld(&S->op[i].in);
		s->op[i].out = ld(&S->op[i].out);
		s->op[i].blocked_ns = ld(&S->op[i].blocked_ns);
		s->op[i].cpu_ns = ld(&S->op[i].cpu_ns);
		s->op[i].workers = ld(&S->op[i].workers);
	}
	for (i = 0; i < NR_CHANS; i++)
		chan_peek(&S->ch[i], &s->fill[i], &s->occ[i]);
	s->sentences = ld(&S->sentences);
	s->words = ld(&S->words);
	for (i = 0; i < NR_BUCKETS; i++)
		s->lat[i] = ld(&S->lat[i]);
}

static void print_latency(const uint64_t *a, const uint64_t *b)
{
	static uint64_t h[NR_BUCKETS];
	uint64_t n = 0;
	int i, top = -1;

	for (i = 0; i < NR_BUCKETS; i++) {
		h[i] = b[i] - (a ? a[i] : 0);
		n += h[i];
		if (h[i])
			top = i;
	}
	if (!n) {
		printf("\"lat_p50_ms\":null,\"lat_p99_ms\":null,\"lat_max_ms\":null");
		return;
	}
	printf("\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f",
	       lat_quantile(h, n, 0.50) / 1e6, lat_quantile(h, n, 0.99) / 1e6,
	       lat_value(top) / 1e6);
}

/* One interval line: rates over [a, b]. */
static void report(const struct snapshot *a, const struct snapshot *b)
{
	double dt = (b->t_ns - a->t_ns) / 1e9;
	struct timespec rt;
	int i;

	clock_gettime(CLOCK_REALTIME, &rt);
	printf("{\"event\":\"interval\",\"ts\":%.3f,\"dt\":%.3f,\"target\":%lu,"
	       "\"throughput\":%.1f,\"words\":%.1f,",
	       rt.tv_sec + rt.tv_nsec / 1e9, dt, (unsigned long)ld(&S->rate),
	       (b->sentences - a->sentences) / dt, (b->words - a->words) / dt);
	print_latency(a->lat, b->lat);
	printf(",\"in\":%lu,\"out\":%lu,\"ops\":{",
	       (unsigned long)b->op[OP_SOURCE].out, (unsigned long)b->sentences);
	for (i = 0; i < NR_OPS; i++) {
		printf("%s\"%s\":{\"workers\":%u,\"in\":%.1f,\"out\":%.1f,\"cpu\":%.3f",
		       i ? "," : "", op_names[i], b->op[i].workers,
		       (b->op[i].in - a->op[i].in) / dt, (b->op[i].out - a->op[i].out) / dt,
		       (b->op[i].cpu_ns - a->op[i].cpu_ns) / 1e9 / dt);
		if (i < NR_CHANS)
			printf(",\"blocked\":%.3f,\"occupancy\":%.3f,\"fill\":%lu",
			       (b->op[i].blocked_ns - a->op[i].blocked_ns) / 1e9 / dt,
			       (b->occ[i] - a->occ[i]) / 1e9 / dt / S->ch[i].cap,
			       (unsigned long)b->fill[i]);
		printf("}");
	}
	printf("}}\n");
	fflush(stdout);
}

static void report_final(const struct snapshot *start, const struct snapshot *end,
			 bool drained)
{
	uint64_t n = end->sentences, made = end->op[OP_SOURCE].out;
	uint64_t want = n ? n * (n - 1) / 2 : 0;
	double us[NR_OPS], cores = 0;
	int i;

	/* CPU per record, and what the target rate costs at that price. */
	for (i = 0; i < NR_OPS; i++) {
		us[i] = end->op[i].in ? end->op[i].cpu_ns / 1e3 / end->op[i].in : 0;
		cores += us[i] * ld(&S->rate) / 1e6;
	}

	/* seq_ok: the sentences that arrived are exactly 0..n-1, once each. */
	printf("{\"event\":\"final\",\"seconds\":%.3f,\"drained\":%s,\"sentences_in\":%lu,"
	       "\"sentences_out\":%lu,\"lost\":%ld,\"seq_ok\":%s,\"words\":%lu,"
	       "\"target\":%lu,\"cores_at_target\":%.3f,",
	       (end->t_ns - start->t_ns) / 1e9, drained ? "true" : "false",
	       (unsigned long)made, (unsigned long)n, (long)(made - n),
	       made == n && ld(&S->seq_sum) == want ? "true" : "false",
	       (unsigned long)end->words, (unsigned long)ld(&S->rate), cores);
	print_latency(NULL, end->lat);
	printf(",\"ops\":{");
	for (i = 0; i < NR_OPS; i++)
		printf("%s\"%s\":{\"in\":%lu,\"out\":%lu,\"cpu_s\":%.3f,\"us_per_record\":%.1f,"
		       "\"blocked_s\":%.3f}",
		       i ? "," : "", op_names[i], (unsigned long)end->op[i].in,
		       (unsigned long)end->op[i].out, end->op[i].cpu_ns / 1e9, us[i],
		       end->op[i].blocked_ns / 1e9);
	printf("}}\n");
	fflush(stdout);
}


/* The launcher's view of a run. */
struct run {
	void *mem;
	size_t size;
	char fifo[4096];
	bool made_fifo;
	int fd;
	pid_t pids[NR_OPS];
	bool live[NR_OPS];
	int nlive;
	bool stop, failed;
	int drain_signals;
	uint64_t next_report, deadline, phase_deadline;
	struct snapshot first, prev;
};

/* Anonymous and shared: inherited by fork, gone with the last process. */
static int shm_map(struct run *r)
{
	size_t off[NR_CHANS];
	int i;

	r->size = sizeof(struct shm);
	for (i = 0; i < NR_CHANS; i++) {
		off[i] = r->size;
		r->size += (size_t)opt.capacity * sizeof(struct record);
	}
	r->mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED) {
		fprintf(stderr, "wordcount: mmap: %s\n", strerror(errno));
		r->mem = NULL;
		return -1;
	}
	S = r->mem;
	for (i = 0; i < NR_CHANS; i++) {
		int err = chan_init(&S->ch[i], (char *)r->mem + off[i], opt.capacity,
				    sizeof(struct record));

		if (err) {
			fprintf(stderr, "wordcount: channel: %s\n", strerror(-err));
			return -1;
		}
	}
	S->rate = opt.rate;
	for (i = 0; i < NR_OPS; i++)
		S->op[i].workers_target = opt.workers[i];
	return 0;
}

/*
 * A FIFO left by a launcher that was SIGKILLed: ours, and no launcher has it
 * open (a live one holds it open for reading, so a writer would get in).
 * Without this, one killed run made every later run on the path fail.
 */
static bool fifo_stale(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid())
		return false;
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == ENXIO;
}

static int fifo_open(struct run *r)
{
	int err;

	if (opt.control)
		snprintf(r->fifo, sizeof(r->fifo), "%s", opt.control);
	else
		snprintf(r->fifo, sizeof(r->fifo), "/tmp/wordcount.%d.ctl", getpid());
	err = mkfifo(r->fifo, 0600);
	if (err && errno == EEXIST && fifo_stale(r->fifo) && !unlink(r->fifo)) {
		fprintf(stderr, "wordcount: control fifo %s was left by a killed run: replaced\n",
			r->fifo);
		err = mkfifo(r->fifo, 0600);
	}
	if (err) {
		fprintf(stderr, "wordcount: control fifo %s: %s\n", r->fifo, strerror(errno));
		return -1;
	}
	r->made_fifo = true;
	/* Read-write: the FIFO never reports end-of-file between two writers. */
	r->fd = open(r->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (r->fd < 0) {
		fprintf(stderr, "wordcount: %s: %s\n", r->fifo, strerror(errno));
		return -1;
	}
	return 0;
}

/* Fork the operators; if one fork fails, stop and reap those started. */
static int ops_start(struct run *r)
{
	pid_t launcher;
	int i;

	fflush(NULL);
	launcher = getpid();
	for (i = 0; i < NR_OPS; i++) {
		r->pids[i] = fork();
		if (r->pids[i] < 0) {
			fprintf(stderr, "wordcount: fork: %s\n", strerror(errno));
			st(&S->phase, PH_STOP);
			st(&S->hard_stop, 1);
			while (i--)
				waitpid(r->pids[i], NULL, 0);
			return -1;
		}
		if (!r->pids[i]) {
			close(r->fd);
			_exit(op_main(i, launcher));
		}
		r->live[i] = true;
	}
	r->nlive = NR_OPS;
	return 0;
}

static void print_start(const struct run *r)
{
	int i;

	printf("{\"event\":\"start\",\"launcher\":%d,\"control\":\"%s\",\"rate\":%lu,\"ops\":{",
	       getpid(), r->fifo, (unsigned long)opt.rate);
	for (i = 0; i < NR_OPS; i++)
		printf("%s\"%s\":{\"pid\":%d,\"workers\":%d}", i ? "," : "", op_names[i],
		       r->pids[i], opt.workers[i]);
	printf("},\"edges\":[[\"source\",\"split\"],[\"split\",\"count\"],[\"count\",\"sink\"]]}\n");
	fflush(stdout);
}

static void reap(struct run *r, int phase)
{
	int i, status;

	for (i = 0; i < NR_OPS; i++) {
		if (!r->live[i] || waitpid(r->pids[i], &status, WNOHANG) != r->pids[i])
			continue;
		r->live[i] = false;
		r->nlive--;
		/* Only a file's end lets an operator finish while running. */
		if (!WIFEXITED(status) || WEXITSTATUS(status) ||
		    (phase == PH_RUN && !opt.input)) {
			if (phase != PH_STOP)
				fprintf(stderr, "wordcount: %s (pid %d) died\n",
					op_names[i], r->pids[i]);
			r->failed = true;
		}
	}
}

static void signal_live(const struct run *r, int sig)
{
	int i;

	for (i = 0; i < NR_OPS; i++)
		if (r->live[i])
			kill(r->pids[i], sig);
}

/* Run -> drain -> stop -> SIGKILL, each step on its trigger or deadline. */
static void next_phase(struct run *r, int phase, uint64_t now)
{
	if (phase == PH_RUN && (signals || r->stop || now >= r->deadline || r->failed)) {
		/* Drain: the source stops, everything in flight reaches the sink. */
		st(&S->phase, r->failed ? PH_STOP : PH_DRAIN);
		if (r->failed)
			st(&S->hard_stop, 1);
		/* A hard stop gets a second before SIGKILL, a drain its timeout. */
		r->phase_deadline = now + (r->failed ? 1000000000ULL :
					   (uint64_t)(opt.drain_timeout * 1e9));
		signal_live(r, SIGCONT);
		r->drain_signals = signals;
	} else if (phase == PH_DRAIN &&
		   (signals > r->drain_signals || now >= r->phase_deadline)) {
		if (now >= r->phase_deadline)
			fprintf(stderr, "wordcount: drain took longer than %.1f s: stopping\n",
				opt.drain_timeout);
		st(&S->phase, PH_STOP);
		st(&S->hard_stop, 1);
		r->phase_deadline = now + 1000000000ULL;
	} else if (phase == PH_STOP && now >= r->phase_deadline) {
		signal_live(r, SIGKILL);
		r->phase_deadline = UINT64_MAX;
	}
}

static void report_due(struct run *r, uint64_t now)
{
	struct snapshot cur;

	if (now < r->next_report)
		return;
	snap(&cur);
	report(&r->prev, &cur);
	r->prev = cur;
	r->next_report += opt.interval_ms * 1000000ULL;
	if (r->next_report < now)
		r->next_report = now + opt.interval_ms * 1000000ULL;
}

/* Until every operator has exited: control commands, reaping, phases, reports. */
static void supervise(struct run *r)
{
	while (r->nlive) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		int phase = ld(&S->phase), ms;
		uint64_t wake = r->next_report, now = mono_ns();

		if (phase == PH_RUN && r->deadline < wake)
			wake = r->deadline;
		if (phase != PH_RUN && r->phase_deadline < wake)
			wake = r->phase_deadline;
		/* Short polls: children exiting are seen within 20 ms. */
		ms = wake > now ? (wake - now) / 1000000 + 1 : 0;
		poll(&pfd, 1, ms < 20 ? ms : 20);
		if (pfd.revents & POLLIN)
			control_read(r->fd, &r->stop);
		reap(r, phase);
		now = mono_ns();
		/* Nobody reads the reports any more (stdout closed): as good as a SIGTERM. */
		if (ferror(stdout))
			r->stop = true;
		next_phase(r, phase, now);
		report_due(r, now);
	}
}

int cmd_run(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct run r = { .fd = -1 };
	struct snapshot end;
	int ret = 1;

	/*
	 * Before the FIFO exists: a SIGTERM between mkfifo() and the handler
	 * killed the launcher and left the FIFO, and every later run on that
	 * path failed (mkfifo: EEXIST). The operators inherit the handler.
	 */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (shm_map(&r) || fifo_open(&r) || ops_start(&r))
		goto cleanup;
	print_start(&r);
	snap(&r.first);
	r.prev = r.first;
	r.next_report = r.first.t_ns + opt.interval_ms * 1000000ULL;
	r.deadline = opt.seconds > 0 ? r.first.t_ns + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
	supervise(&r);
	snap(&end);
	report_final(&r.first, &end, ld(&S->phase) != PH_STOP);
	ret = r.failed ? 1 : 0;
cleanup:
	if (r.fd >= 0)
		close(r.fd);
	if (r.made_fifo)
		unlink(r.fifo);
	if (r.mem)
		munmap(r.mem, r.size);
	return ret;
}

int cmd_ctl(int argc, char **argv)
{
	char line[1024];
	size_t len = 0;
	int fd, i;

	/* argv: wordcount ctl FIFO COMMAND... */
	if (argc < 4) {
		fprintf(stderr, "usage: wordcount ctl FIFO COMMAND...\n");
		return 2;
	}
	for (i = 3; i < argc && len < sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, "%s%s", i > 3 ? " " : "", argv[i]);
	if (len >= sizeof(line) - 1) {
		fprintf(stderr, "wordcount: command too long\n");
		return 2;
	}
	line[len++] = '\n';
	/* Non-blocking: a FIFO nobody reads (no pipeline running) fails with ENXIO. */
	fd = open(argv[2], O_WRONLY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "wordcount: %s: %s\n", argv[2],
			errno == ENXIO ? "no pipeline is reading it" : strerror(errno));
		return 1;
	}
	/* Below PIPE_BUF, so the line arrives whole. */
	if (write(fd, line, len) != (ssize_t)len) {
		fprintf(stderr, "wordcount: %s: %s\n", argv[2], strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
