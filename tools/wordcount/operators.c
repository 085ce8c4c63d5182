// SPDX-License-Identifier: GPL-2.0
/*
 * wordcount's operators: source, split, count and sink, each a process
 * keeping as many worker threads as the launcher asks for; and the
 * calibration, which times their work without channels.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "wordcount.h"

#define BEHIND_NS	100000000ULL	/* a source further behind its schedule forgets the debt */

static enum op_id self;

/* The deterministic per-word CPU cost: a chain of dependent hash rounds. */
static uint64_t burn(const char *w, size_t len, unsigned rounds)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)w[i]) * 0x100000001b3ULL;
	for (i = 0; i < rounds; i++)
		h = mix64(h + i);
	__asm__ volatile("" : : "r"(h));
	return h;
}

/* ---- latency histogram -------------------------------------------------- */

unsigned lat_bucket(uint64_t ns)
{
	unsigned e;

	if (ns < 16)
		return ns;
	e = 63 - __builtin_clzll(ns);
	return (e - 3) * 16 + ((ns >> (e - 4)) & 15);
}

/* Middle of a bucket, in ns. */
double lat_value(unsigned b)
{
	unsigned e, sub;

	if (b < 16)
		return b;
	e = b / 16 + 3;
	sub = b % 16;
	return ((16 + sub) << (e - 4)) + (1ULL << (e - 4)) / 2.0;
}

double lat_quantile(const uint64_t *h, uint64_t total, double q)
{
	uint64_t want = (uint64_t)ceil(q * total), acc = 0;
	unsigned b;

	if (!want)
		want = 1;
	for (b = 0; b < NR_BUCKETS; b++) {
		acc += h[b];
		if (acc >= want)
			return lat_value(b);
	}
	return lat_value(NR_BUCKETS - 1);
}

/* ---- word counts (the counter's state) ----------------------------------- */

#define COUNT_BUCKETS	65536
#define COUNT_STRIPES	256

struct count_node {
	struct count_node *next;
	uint64_t count;
	char w[WORD_MAX + 1];
};

static struct count_node *count_table[COUNT_BUCKETS];
static pthread_mutex_t count_locks[COUNT_STRIPES];

static uint64_t count_word(const char *w, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL, c;
	struct count_node *n;
	size_t i, b;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)w[i]) * 0x100000001b3ULL;
	b = h % COUNT_BUCKETS;
	pthread_mutex_lock(&count_locks[b % COUNT_STRIPES]);
	for (n = count_table[b]; n; n = n->next)
		if (!strncmp(n->w, w, len) && !n->w[len])
			break;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			abort();
		memcpy(n->w, w, len);
		n->next = count_table[b];
		count_table[b] = n;
	}
	c = ++n->count;
	pthread_mutex_unlock(&count_locks[b % COUNT_STRIPES]);
	return c;
}

/* Write "word count" lines to path (through a temporary name: all or nothing). */
static int counts_write(const char *path)
{
	char tmp[4096];
	struct count_node *n;
	FILE *f;
	size_t b;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (b = 0; b < COUNT_BUCKETS; b++)
		for (n = count_table[b]; n; n = n->next)
			fprintf(f, "%s %lu\n", n->w, (unsigned long)n->count);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/* ---- operators ------------------------------------------------------------ */

struct worker {
	pthread_t tid;
	int idx;
	bool alive;		/* the supervisor's view: a thread to join */
	int exited;		/* set by the thread as it leaves */
};

static struct worker workers[MAX_WORKERS];
static int op_ended;		/* the input is exhausted (or a hard stop): no respawns */

/* Source pacing, shared by the source's workers. */
static pthread_mutex_t pace_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t pace_t0, pace_k0, pace_k, pace_gen = ~0ULL;
static FILE *input;
static char *input_line;	/* the rest of a line longer than a record */
static size_t input_off;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int push(const void *rec)
{
	int ret = chan_push(&S->ch[self], rec, &S->hard_stop, &S->op[self].blocked_ns);

	if (!ret)
		add(&S->op[self].out, 1);
	return ret;
}

/*
 * Next input line cut to whole records: lines longer than SENT_MAX go out
 * in several records, cut at a space where there is one. Under pace_lock.
 * Returns the length (0 for an empty line) or -1 at the end of the file.
 */
static int input_next(char *buf)
{
	static size_t cap;
	size_t len, n;

	if (!input_line || !input_line[input_off]) {
		ssize_t r = getline(&input_line, &cap, input);

		if (r < 0)
			return -1;
		while (r > 0 && (input_line[r - 1] == '\n' || input_line[r - 1] == '\r'))
			input_line[--r] = '\0';
		input_off = 0;
		if (!r)
			return 0;
	}
	len = strlen(input_line + input_off);
	n = len;
	if (n > SENT_MAX) {
		n = SENT_MAX;
		while (n > 0 && !isspace((unsigned char)input_line[input_off + n]))
			n--;
		if (!n)
			n = SENT_MAX;
	}
	memcpy(buf, input_line + input_off, n);
	buf[n] = '\0';
	input_off += n;
	return n;
}

static int source_step(struct worker *w)
{
	struct record s;
	uint64_t due = 0, now, rate;
	int len = 0;

	if (ld(&S->phase) != PH_RUN)
		return -EPIPE;

	pthread_mutex_lock(&pace_lock);
	if (input) {
		do
			len = input_next(s.text);
		while (len == 0);
		if (len < 0) {
			pthread_mutex_unlock(&pace_lock);
			return -EPIPE;
		}
		s.len = len;
	}
	rate = ld(&S->rate);
	now = mono_ns();
	if (rate) {
		uint64_t gen = ld(&S->rate_gen);

		/* A new rate starts a new schedule; so does a debt that backpressure ran up. */
		if (gen != pace_gen || now > pace_t0 + (pace_k - pace_k0) * 1000000000ULL / rate + BEHIND_NS) {
			pace_gen = gen;
			pace_t0 = now;
			pace_k0 = pace_k;
		}
		due = pace_t0 + (pace_k - pace_k0) * 1000000000ULL / rate;
		pace_k++;
	}
	pthread_mutex_unlock(&pace_lock);

	/* In slices, so that a new rate or a drain need not wait out a slow period. */
	while (due > now) {
		uint64_t until = due < now + CHAN_WAIT_NS ? due : now + CHAN_WAIT_NS;
		struct timespec ts = { until / 1000000000ULL, until % 1000000000ULL };

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (ld(&S->phase) != PH_RUN && !input)
			return -EPIPE;
		if (ld(&S->rate_gen) != pace_gen)
			break;
		now = mono_ns();
	}
	if (input) {
		/* File order is kept in seq only loosely with several workers; counts are exact. */
		s.seq = add(&S->next_seq, 1);
	} else {
		make_sentence(add(&S->next_seq, 1), &s);
	}
	s.t_ns = mono_ns();
	add(&S->op[self].in, 1);
	return push(&s);
}

/*
 * A word is a maximal run of ASCII letters and digits, lower-cased, cut to
 * WORD_MAX bytes. Rewrites r->text in place as the words one space apart
 * (never longer than the sentence), burning split_cost rounds per word.
 */
static void split_words(struct record *r, unsigned rounds)
{
	const char *p = r->text, *end = r->text + r->len;
	char *o = r->text;
	uint32_t words = 0;

	while (p < end) {
		char *w = o;
		size_t n = 0;

		while (p < end && !isalnum((unsigned char)*p))
			p++;
		if (p == end)
			break;
		if (words)
			*o++ = ' ', w = o;
		for (; p < end && isalnum((unsigned char)*p); p++)
			if (n < WORD_MAX)
				w[n++] = tolower((unsigned char)*p);
		o = w + n;
		burn(w, n, rounds);
		words++;
	}
	*o = '\0';
	r->len = o - r->text;
	r->words = words;
}

/* Calls fn(word, len, arg) for each word of a split record. */
static void for_each_word(const struct record *r, void (*fn)(const char *, size_t, void *),
			  void *arg)
{
	const char *p = r->text, *end = r->text + r->len, *sp;

	while (p < end) {
		sp = memchr(p, ' ', end - p);
		if (!sp)
			sp = end;
		fn(p, sp - p, arg);
		p = sp + 1;
	}
}

static void count_one(const char *w, size_t len, void *arg)
{
	burn(w, len, *(unsigned *)arg);
	count_word(w, len);
}

static int split_step(struct worker *w)
{
	struct record r;
	int ret = chan_pop(&S->ch[OP_SOURCE], &r);

	if (ret)
		return ret;
	add(&S->op[self].in, 1);
	split_words(&r, opt.split_cost);
	return push(&r);
}

static int count_step(struct worker *w)
{
	struct record r;
	int ret = chan_pop(&S->ch[OP_SPLIT], &r);

	if (ret)
		return ret;
	add(&S->op[self].in, 1);
	for_each_word(&r, count_one, &opt.count_cost);
	return push(&r);
}

static int sink_step(struct worker *w)
{
	struct record r;
	int ret = chan_pop(&S->ch[OP_COUNT], &r);
	uint64_t now;

	if (ret)
		return ret;
	now = mono_ns();
	add(&S->op[self].in, 1);
	add(&S->lat[lat_bucket(now > r.t_ns ? now - r.t_ns : 0)], 1);
	add(&S->words, r.words);
	add(&S->seq_sum, r.seq);
	add(&S->sentences, 1);
	return 0;
}

static int (*const steps[NR_OPS])(struct worker *) = {
	source_step, split_step, count_step, sink_step,
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct op_state *op = &S->op[self];
	uint64_t cpu = thread_cpu_ns(), c;
	int ret;

	add(&op->workers, 1);
	for (;;) {
		if (ld(&S->phase) == PH_STOP) {
			st(&op_ended, 1);
			break;
		}
		/* Retire between records only: nothing is held, nothing is lost. */
		if (w->idx >= (int)ld(&op->workers_target))
			break;
		ret = steps[self](w);
		c = thread_cpu_ns();
		add(&op->cpu_ns, c - cpu);
		cpu = c;
		if (ret == -EPIPE || ret == -ECANCELED) {
			st(&op_ended, 1);
			break;
		}
	}
	add(&op->workers, -1);
	__atomic_store_n(&w->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * An operator process: keep as many workers as the launcher asks for; when
 * the input has ended and every worker has left, close the output so the
 * next operator can end too.
 */
int op_main(enum op_id id, pid_t launcher)
{
	struct op_state *op;
	int i, alive, ret = 0;
	char name[16];

	self = id;
	op = &S->op[id];
	snprintf(name, sizeof(name), "wc-%s", op_names[id]);
	prctl(PR_SET_NAME, name);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_IGN);	/* Ctrl-C is the launcher's to handle: it drains */
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (getppid() != launcher)	/* it died before PDEATHSIG was armed */
		return 1;

	if (id == OP_SOURCE && opt.input) {
		input = fopen(opt.input, "r");
		if (!input) {
			fprintf(stderr, "wordcount: %s: %s\n", opt.input, strerror(errno));
			return 1;
		}
	}
	for (i = 0; i < COUNT_STRIPES; i++)
		pthread_mutex_init(&count_locks[i], NULL);

	for (;;) {
		int target = ld(&op->workers_target);

		alive = 0;
		for (i = 0; i < MAX_WORKERS; i++) {
			struct worker *w = &workers[i];

			if (w->alive && __atomic_load_n(&w->exited, __ATOMIC_ACQUIRE)) {
				pthread_join(w->tid, NULL);
				w->alive = false;
			}
			if (!w->alive && i < target && !ld(&op_ended) &&
			    ld(&S->phase) != PH_STOP) {
				w->idx = i;
				w->exited = 0;
				if (pthread_create(&w->tid, NULL, worker_main, w)) {
					fprintf(stderr, "wordcount: %s: no thread\n", name);
					st(&op_ended, 1);
					ret = 1;
					continue;
				}
				w->alive = true;
			}
			alive += w->alive;
		}
		if (!alive && (ld(&op_ended) || ld(&S->phase) == PH_STOP))
			break;
		usleep(10000);
	}

	if (id == OP_COUNT && opt.counts && ld(&S->phase) != PH_STOP) {
		int err = counts_write(opt.counts);

		if (err) {
			fprintf(stderr, "wordcount: %s: %s\n", opt.counts, strerror(-err));
			ret = 1;
		}
	}
	if (id < NR_CHANS)
		chan_close(&S->ch[id]);
	return ret;
}

/* ---- calibration ---------------------------------------------------------- */

/*
 * Each operator's work for --sentences sentences, in this thread, timed on
 * the thread's CPU clock: a figure that does not depend on what else the
 * machine runs. The channels' own cost is not in it; the run figures in
 * Documentation/pipeline.md include it.
 */
int cmd_calibrate(void)
{
	static struct shm local;
	uint64_t t0, t_gen, t_split, t_count, t_sink, words = 0;
	struct record *ss;
	unsigned i;
	double per[NR_OPS], total = 0;

	ss = calloc(opt.sentences, sizeof(*ss));
	if (!ss)
		return 1;
	S = &local;
	t0 = thread_cpu_ns();
	for (i = 0; i < opt.sentences; i++)
		make_sentence(i, &ss[i]);
	t_gen = thread_cpu_ns() - t0;

	/* split and count: the operators' own functions, without channels */
	t0 = thread_cpu_ns();
	for (i = 0; i < opt.sentences; i++) {
		split_words(&ss[i], opt.split_cost);
		words += ss[i].words;
	}
	t_split = thread_cpu_ns() - t0;

	for (i = 0; i < COUNT_STRIPES; i++)
		pthread_mutex_init(&count_locks[i], NULL);
	t0 = thread_cpu_ns();
	for (i = 0; i < opt.sentences; i++)
		for_each_word(&ss[i], count_one, &opt.count_cost);
	t_count = thread_cpu_ns() - t0;

	t0 = thread_cpu_ns();
	for (i = 0; i < opt.sentences; i++) {
		ss[i].t_ns = t0 - 1000000;
		add(&S->lat[lat_bucket(mono_ns() - ss[i].t_ns)], 1);
		add(&S->words, ss[i].words);
		add(&S->seq_sum, ss[i].seq);
		add(&S->sentences, 1);
	}
	t_sink = thread_cpu_ns() - t0;

	per[OP_SOURCE] = (double)t_gen / opt.sentences;
	per[OP_SPLIT] = (double)t_split / opt.sentences;
	per[OP_COUNT] = (double)t_count / opt.sentences;
	per[OP_SINK] = (double)t_sink / opt.sentences;
	printf("{\"event\":\"calibrate\",\"sentences\":%u,\"words_per_sentence\":%.2f,"
	       "\"split_cost\":%u,\"count_cost\":%u,\"rate\":%lu,\"ops\":{",
	       opt.sentences, (double)words / opt.sentences, opt.split_cost,
	       opt.count_cost, (unsigned long)opt.rate);
	for (i = 0; i < NR_OPS; i++) {
		double cores = per[i] * opt.rate / 1e9;

		total += cores;
		printf("%s\"%s\":{\"us_per_sentence\":%.2f,\"cores\":%.3f}", i ? "," : "",
		       op_names[i], per[i] / 1e3, cores);
	}
	printf("},\"cores\":%.3f}\n", total);
	free(ss);
	return 0;
}
