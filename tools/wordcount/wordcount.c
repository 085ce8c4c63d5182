// SPDX-License-Identifier: GPL-2.0
/*
 * wordcount: the stream pipeline kpilot sizes operator by operator.
 *
 *   source -> split -> count -> sink
 *
 * Each operator is a process (named wc-source, wc-split, wc-count, wc-sink)
 * with its own worker threads, so that kpilot can put each one in a cgroup
 * of its own and observe it apart. Neighbours are joined by bounded
 * channels in shared memory (channel.h): a slow operator fills its input
 * channel and blocks its upstream, all the way back to the source.
 *
 * The source emits sentences at a target rate (Zipf-distributed words from
 * a fixed vocabulary, deterministic from a seed) or the lines of a file, and
 * stamps each with its creation time. The splitter cuts sentences into
 * lower-case words, the counter keeps a count per word, the sink measures
 * end-to-end latency. Splitter and counter burn a fixed number of hash
 * rounds per word: deterministic CPU work, the knob that makes them the
 * heavy operators (Documentation/pipeline.md has the calibration).
 *
 * The launcher (`wordcount run`) forks the four operators, prints their
 * pids as one JSON line, applies commands from a control FIFO (rate,
 * workers, stop), prints one JSON line of figures per interval, and on
 * SIGINT/SIGTERM or after --seconds drains the pipeline and removes
 * everything it made.
 */
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

#define MAX_WORKERS	16
#define SENT_MAX	495	/* bytes of text in a sentence record */
#define WORD_MAX	47	/* longer words are counted by their first WORD_MAX bytes */
#define NR_BUCKETS	1024	/* latency histogram: 16 sub-buckets per power of two */
#define BEHIND_NS	100000000ULL	/* a source further behind its schedule forgets the debt */

enum op_id { OP_SOURCE, OP_SPLIT, OP_COUNT, OP_SINK, NR_OPS };
static const char *const op_names[NR_OPS] = { "source", "split", "count", "sink" };
/* Channel i carries operator i's output to operator i + 1. */
#define NR_CHANS	(NR_OPS - 1)

enum phase { PH_RUN, PH_DRAIN, PH_STOP };

/*
 * The record on every channel. From the source it holds a raw sentence;
 * from the splitter the sentence's words, lower-cased, one space apart (a
 * batch: one record per sentence, as a Flink network buffer carries many
 * records, because a wake-up per word costs more than the work on it).
 */
struct record {
	uint64_t seq;		/* 0, 1, 2 ... in creation order, no gaps */
	uint64_t t_ns;		/* CLOCK_MONOTONIC at creation */
	uint32_t len;		/* bytes in text */
	uint32_t words;		/* words in text, once split */
	char text[SENT_MAX + 1];
};

/* Per operator, in shared memory: written by the operator, read by the launcher. */
struct op_state {
	uint64_t in, out;	/* records taken from input / put on output */
	uint64_t blocked_ns;	/* workers' time blocked on a full output channel */
	uint64_t cpu_ns;	/* workers' thread CPU time */
	uint32_t workers_target;	/* set by the launcher */
	uint32_t workers;	/* running now */
	int done;		/* all workers finished and output closed */
	pid_t pid;
};

struct shm {
	int phase;
	int hard_stop;		/* phase == PH_STOP, as an int channel.h can watch */
	uint64_t rate;		/* target sentences/s; 0: as fast as possible */
	uint64_t rate_gen;	/* bumped on every rate change */
	uint64_t next_seq;
	struct op_state op[NR_OPS];
	struct chan ch[NR_CHANS];
	/* sink */
	uint64_t sentences;	/* sentences whose last word reached the sink */
	uint64_t seq_sum;	/* sum of their seq: n(n-1)/2 if none lost or duplicated */
	uint64_t words;
	uint64_t lat[NR_BUCKETS];
};

struct opts {
	uint64_t rate;
	double seconds;
	int workers[NR_OPS];
	unsigned split_cost, count_cost;
	uint64_t seed;
	const char *input;
	const char *counts;
	const char *control;
	unsigned capacity;
	unsigned interval_ms;
	double drain_timeout;
	unsigned vocab;
	double zipf;
	unsigned sentences;	/* calibrate */
	bool calibrate;
};

/*
 * Hash rounds per word, ~4.3 ns each here. At the default 2000 sentences/s
 * (8 words each on average) they make the splitter need ~0.5 core and the
 * counter ~0.7 core (Documentation/pipeline.md, "Calibration").
 */
#define DEFAULT_SPLIT_COST	7000
#define DEFAULT_COUNT_COST	11500
#define STR_(x)	#x
#define STR(x)	STR_(x)

static struct opts opt = {
	.rate = 2000,
	.workers = { 1, 1, 1, 1 },
	.split_cost = DEFAULT_SPLIT_COST,
	.count_cost = DEFAULT_COUNT_COST,
	.seed = 1,
	.capacity = 512,
	.interval_ms = 1000,
	.drain_timeout = 5,
	.vocab = 1000,
	.zipf = 1.0,
	.sentences = 20000,
};

static struct shm *S;
static enum op_id self;

/* ---- deterministic generator -------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix64(*s);
}

static const char *const syllables[16] = {
	"ka", "to", "ri", "ne", "su", "mo", "la", "pe",
	"di", "go", "vu", "ze", "xa", "bo", "fi", "hu",
};

static char (*vocab)[16];
static double *vocab_cdf;

/* Word i is i + 16 written in base 16 with a syllable per digit: all distinct. */
static int vocab_init(unsigned n, double s)
{
	double sum = 0;
	unsigned i;

	vocab = calloc(n, sizeof(*vocab));
	vocab_cdf = calloc(n, sizeof(*vocab_cdf));
	if (!vocab || !vocab_cdf)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char digits[8];
		unsigned v = i + 16, k = 0;

		while (v) {
			digits[k++] = v % 16;
			v /= 16;
		}
		while (k--)
			strcat(vocab[i], syllables[(int)digits[k]]);
		sum += 1.0 / pow(i + 1, s);
		vocab_cdf[i] = sum;
	}
	for (i = 0; i < n; i++)
		vocab_cdf[i] /= sum;
	return 0;
}

/* The sentence of sequence number seq: the same for a seed whoever makes it. */
static void make_sentence(uint64_t seq, struct record *s)
{
	uint64_t r = mix64(opt.seed) ^ mix64(seq + 1);
	int n = 4 + rng_next(&r) % 9, i;	/* 4..12 words */
	size_t len = 0;

	for (i = 0; i < n; i++) {
		double u = (rng_next(&r) >> 11) * 0x1.0p-53;
		unsigned lo = 0, hi = opt.vocab - 1;
		const char *w;

		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;

			if (vocab_cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		w = vocab[lo];
		len += snprintf(s->text + len, sizeof(s->text) - len, "%s%s", i ? " " : "", w);
		if (i == 0)
			s->text[0] = toupper(s->text[0]);
	}
	len += snprintf(s->text + len, sizeof(s->text) - len, ".");
	s->len = len;
	s->seq = seq;
}

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

static unsigned lat_bucket(uint64_t ns)
{
	unsigned e;

	if (ns < 16)
		return ns;
	e = 63 - __builtin_clzll(ns);
	return (e - 3) * 16 + ((ns >> (e - 4)) & 15);
}

/* Middle of a bucket, in ns. */
static double lat_value(unsigned b)
{
	unsigned e, sub;

	if (b < 16)
		return b;
	e = b / 16 + 3;
	sub = b % 16;
	return ((16 + sub) << (e - 4)) + (1ULL << (e - 4)) / 2.0;
}

static double lat_quantile(const uint64_t *h, uint64_t total, double q)
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
	uint64_t rate_gen;	/* source: the rate its schedule is built on */
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

		/* A new rate starts a new schedule; so does a debt the sink can't repay. */
		if (gen != pace_gen || now > pace_t0 + (pace_k - pace_k0) * 1000000000ULL / rate + BEHIND_NS) {
			pace_gen = gen;
			pace_t0 = now;
			pace_k0 = pace_k;
		}
		due = pace_t0 + (pace_k - pace_k0) * 1000000000ULL / rate;
		pace_k++;
	}
	pthread_mutex_unlock(&pace_lock);

	if (due > now) {
		struct timespec ts = { due / 1000000000ULL, due % 1000000000ULL };

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (ld(&S->phase) != PH_RUN && !input)
			return -EPIPE;
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
static int op_main(enum op_id id, pid_t launcher)
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
	st(&op->done, 1);
	return ret;
}

/* ---- launcher ------------------------------------------------------------- */

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
	signals++;
}

static int parse_workers(const char *arg, int *w)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		long n;
		int i;

		if (!eq) {
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		for (i = 0; i < NR_OPS; i++)
			if (!strcmp(tok, op_names[i]))
				break;
		n = strtol(eq + 1, &end, 10);
		if (i == NR_OPS || *end || end == eq + 1 || n < 1 || n > MAX_WORKERS) {
			ret = -EINVAL;
			break;
		}
		w[i] = n;
	}
	free(copy);
	return ret;
}

/* One control line: "rate N", "workers OP=N[,OP=N]", "stop". */
static int control(char *line, bool *stop)
{
	char *arg;

	while (*line == ' ' || *line == '\t')
		line++;
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "rate") && arg) {
		char *end;
		unsigned long long r = strtoull(arg, &end, 10);

		if (!isdigit((unsigned char)*arg) || (*end && !isspace((unsigned char)*end)) ||
		    r > 10000000)
			return -EINVAL;
		st(&S->rate, r);
		add(&S->rate_gen, 1);
		fprintf(stderr, "wordcount: control: rate %llu\n", r);
		return 0;
	}
	if (!strcmp(line, "workers") && arg) {
		int w[NR_OPS], i;

		for (i = 0; i < NR_OPS; i++)
			w[i] = ld(&S->op[i].workers_target);
		if (parse_workers(arg, w))
			return -EINVAL;
		for (i = 0; i < NR_OPS; i++)
			st(&S->op[i].workers_target, w[i]);
		fprintf(stderr, "wordcount: control: workers %s\n", arg);
		return 0;
	}
	if (!strcmp(line, "stop")) {
		*stop = true;
		return 0;
	}
	return -EINVAL;
}

static void control_read(int fd, bool *stop)
{
	static char buf[4096];
	static size_t len;
	ssize_t n;
	char *nl;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (nl > buf && control(buf, stop))
				fprintf(stderr, "wordcount: control: bad command '%s'\n", buf);
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1)
			len = 0;	/* a line this long is not a command */
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


static int cmd_run(void)
{
	size_t size = sizeof(struct shm), off[NR_CHANS];
	struct snapshot first, prev, cur;
	char fifo[4096];
	pid_t pids[NR_OPS], launcher;
	int status[NR_OPS];
	bool live[NR_OPS], stop = false, failed = false, made_fifo = false;
	uint64_t now, next_report, deadline, phase_deadline = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	int i, fd = -1, ret = 1, nlive, ms;
	int drain_signals = 0;
	void *mem;

	for (i = 0; i < NR_CHANS; i++) {
		off[i] = size;
		size += (size_t)opt.capacity * sizeof(struct record);
	}
	/* Anonymous and shared: inherited by fork, gone with the last process. */
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "wordcount: mmap: %s\n", strerror(errno));
		return 1;
	}
	S = mem;
	for (i = 0; i < NR_CHANS; i++) {
		int err = chan_init(&S->ch[i], (char *)mem + off[i], opt.capacity, sizeof(struct record));

		if (err) {
			fprintf(stderr, "wordcount: channel: %s\n", strerror(-err));
			goto cleanup;
		}
	}
	S->rate = opt.rate;
	for (i = 0; i < NR_OPS; i++)
		S->op[i].workers_target = opt.workers[i];

	if (opt.control)
		snprintf(fifo, sizeof(fifo), "%s", opt.control);
	else
		snprintf(fifo, sizeof(fifo), "/tmp/wordcount.%d.ctl", getpid());
	if (mkfifo(fifo, 0600)) {
		fprintf(stderr, "wordcount: control fifo %s: %s\n", fifo, strerror(errno));
		goto cleanup;
	}
	made_fifo = true;
	/* Read-write: the FIFO never reports end-of-file between two writers. */
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "wordcount: %s: %s\n", fifo, strerror(errno));
		goto cleanup;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fflush(NULL);
	launcher = getpid();
	for (i = 0; i < NR_OPS; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			fprintf(stderr, "wordcount: fork: %s\n", strerror(errno));
			st(&S->phase, PH_STOP);
			st(&S->hard_stop, 1);
			failed = true;
			break;
		}
		if (!pids[i]) {
			close(fd);
			_exit(op_main(i, launcher));
		}
		S->op[i].pid = pids[i];
		live[i] = true;
	}
	if (failed) {
		while (i--)
			waitpid(pids[i], NULL, 0);
		goto cleanup;
	}

	printf("{\"event\":\"start\",\"launcher\":%d,\"control\":\"%s\",\"rate\":%lu,\"ops\":{",
	       getpid(), fifo, (unsigned long)opt.rate);
	for (i = 0; i < NR_OPS; i++)
		printf("%s\"%s\":{\"pid\":%d,\"workers\":%d}", i ? "," : "", op_names[i],
		       pids[i], opt.workers[i]);
	printf("},\"edges\":[[\"source\",\"split\"],[\"split\",\"count\"],[\"count\",\"sink\"]]}\n");
	fflush(stdout);

	snap(&first);
	prev = first;
	next_report = first.t_ns + opt.interval_ms * 1000000ULL;
	deadline = opt.seconds > 0 ? first.t_ns + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
	nlive = NR_OPS;
	while (nlive) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int phase = ld(&S->phase);
		uint64_t wake = next_report;

		now = mono_ns();
		if (phase == PH_RUN && deadline < wake)
			wake = deadline;
		if (phase != PH_RUN && phase_deadline < wake)
			wake = phase_deadline;
		/* Short polls: children exiting are seen within 20 ms. */
		ms = wake > now ? (wake - now) / 1000000 + 1 : 0;
		poll(&pfd, 1, ms < 20 ? ms : 20);
		if (pfd.revents & POLLIN)
			control_read(fd, &stop);

		for (i = 0; i < NR_OPS; i++) {
			if (live[i] && waitpid(pids[i], &status[i], WNOHANG) == pids[i]) {
				live[i] = false;
				nlive--;
				/* Only a file's end lets an operator finish while running. */
				if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) ||
				    (phase == PH_RUN && !opt.input)) {
					if (phase != PH_STOP)
						fprintf(stderr, "wordcount: %s (pid %d) died\n",
							op_names[i], pids[i]);
					failed = true;
				}
			}
		}
		now = mono_ns();
		/* Nobody reads the reports any more (stdout closed): as good as a SIGTERM. */
		if (ferror(stdout))
			stop = true;
		if (phase == PH_RUN && (signals || stop || now >= deadline || failed)) {
			/* Drain: the source stops, everything in flight reaches the sink. */
			st(&S->phase, failed ? PH_STOP : PH_DRAIN);
			if (failed)
				st(&S->hard_stop, 1);
			phase_deadline = now + (uint64_t)(opt.drain_timeout * 1e9);
			for (i = 0; i < NR_OPS; i++)
				if (live[i])
					kill(pids[i], SIGCONT);
			drain_signals = signals;
		} else if (phase == PH_DRAIN && (signals > drain_signals || now >= phase_deadline)) {
			if (now >= phase_deadline)
				fprintf(stderr, "wordcount: drain took longer than %.1f s: stopping\n",
					opt.drain_timeout);
			st(&S->phase, PH_STOP);
			st(&S->hard_stop, 1);
			phase_deadline = now + 1000000000ULL;
		} else if (phase == PH_STOP && now >= phase_deadline) {
			for (i = 0; i < NR_OPS; i++)
				if (live[i])
					kill(pids[i], SIGKILL);
			phase_deadline = UINT64_MAX;
		}
		if (now >= next_report) {
			snap(&cur);
			report(&prev, &cur);
			prev = cur;
			next_report += opt.interval_ms * 1000000ULL;
			if (next_report < now)
				next_report = now + opt.interval_ms * 1000000ULL;
		}
	}
	snap(&cur);
	report_final(&first, &cur, ld(&S->phase) != PH_STOP);
	ret = failed ? 1 : 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (made_fifo)
		unlink(fifo);
	munmap(mem, size);
	return ret;
}

/* ---- calibration ---------------------------------------------------------- */

/*
 * Each operator's work for --sentences sentences, in this thread, timed on
 * the thread's CPU clock: a figure that does not depend on what else the
 * machine runs. The channels' own cost is not in it; the run figures in
 * Documentation/pipeline.md include it.
 */
static int cmd_calibrate(void)
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

/* ---- command line --------------------------------------------------------- */

const char *argp_program_version = "wordcount 1.0";
static const char doc[] =
"wordcount: a source -> split -> count -> sink stream pipeline, one process per\n"
"operator, for kpilot to size.\n"
"\n"
"  wordcount run [OPTIONS]         start the pipeline (JSON lines on stdout)\n"
"  wordcount calibrate [OPTIONS]   CPU cost per sentence of each operator\n"
"  wordcount ctl FIFO COMMAND...   send a command to a running pipeline\n"
"\n"
"Commands (one line each on the control FIFO, or through `ctl`):\n"
"  rate N                  target sentences/s (0: as fast as possible)\n"
"  workers OP=N[,OP=N...]  worker threads of source, split, count, sink (1-16)\n"
"  stop                    drain and exit, as on SIGTERM\n"
"\n"
"Examples:\n"
"  wordcount run --rate 2000 --seconds 30 --workers split=1,count=2\n"
"  wordcount run --input words.txt --counts counts.txt --rate 0\n"
"  wordcount ctl /tmp/wordcount.1234.ctl workers count=3\n"
"  wordcount calibrate --rate 2000\n"
"\n"
"Documentation/pipeline.md describes every field of the output.";

enum {
	OPT_SPLIT_COST = 0x100, OPT_COUNT_COST, OPT_SEED, OPT_COUNTS, OPT_CONTROL,
	OPT_CAPACITY, OPT_INTERVAL, OPT_DRAIN, OPT_VOCAB, OPT_ZIPF, OPT_SENTENCES,
};

static const struct argp_option options[] = {
	{ "rate", 'r', "N", 0, "Target sentences/s (default 2000; 0: unthrottled)" },
	{ "seconds", 's', "S", 0, "Run S seconds, then drain and exit (default: until a signal)" },
	{ "workers", 'w', "OP=N,...", 0, "Worker threads per operator (default 1 each)" },
	{ "split-cost", OPT_SPLIT_COST, "ROUNDS", 0, "Hash rounds per word in the splitter (default " STR(DEFAULT_SPLIT_COST) ")" },
	{ "count-cost", OPT_COUNT_COST, "ROUNDS", 0, "Hash rounds per word in the counter (default " STR(DEFAULT_COUNT_COST) ")" },
	{ "seed", OPT_SEED, "N", 0, "Seed of the sentence generator (default 1)" },
	{ "input", 'i', "FILE", 0, "Send FILE's lines instead of generated sentences; exit at its end" },
	{ "counts", OPT_COUNTS, "FILE", 0, "The counter writes 'word count' lines to FILE after a drain" },
	{ "control", 'c', "PATH", 0, "Control FIFO to create (default /tmp/wordcount.<pid>.ctl)" },
	{ "capacity", OPT_CAPACITY, "N", 0, "Records per channel (default 512)" },
	{ "interval", OPT_INTERVAL, "MS", 0, "Report interval (default 1000 ms)" },
	{ "drain-timeout", OPT_DRAIN, "S", 0, "Longest drain before a hard stop (default 5 s)" },
	{ "vocab", OPT_VOCAB, "N", 0, "Vocabulary size (default 1000)" },
	{ "zipf", OPT_ZIPF, "S", 0, "Zipf exponent of word frequencies (default 1.0)" },
	{ "sentences", OPT_SENTENCES, "N", 0, "calibrate: sentences to time (default 20000)" },
	{},
};

static int parse_num(const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || v < lo || v > hi || isnan(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static const char *option_name(int key)
{
	const struct argp_option *o;

	for (o = options; o->name; o++)
		if (o->key == key)
			return o->name;
	return "?";
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	double v;

#define NUM(lo, hi) do { \
		if (parse_num(arg, lo, hi, &v)) \
			argp_error(state, "bad value '%s' for --%s (want %g to %g)", \
				   arg, option_name(key), (double)(lo), (double)(hi)); \
	} while (0)
	switch (key) {
	case 'r': NUM(0, 1e7); opt.rate = v; break;
	case 's': NUM(0, 1e7); opt.seconds = v; break;
	case 'w':
		if (parse_workers(arg, opt.workers))
			argp_error(state, "bad --workers '%s': want OP=N[,OP=N] with OP one of "
				   "source, split, count, sink and N in 1..%d", arg, MAX_WORKERS);
		break;
	case OPT_SPLIT_COST: NUM(0, 1e8); opt.split_cost = v; break;
	case OPT_COUNT_COST: NUM(0, 1e8); opt.count_cost = v; break;
	case OPT_SEED: NUM(0, 1.8e19); opt.seed = v; break;
	case 'i': opt.input = arg; break;
	case OPT_COUNTS: opt.counts = arg; break;
	case 'c': opt.control = arg; break;
	case OPT_CAPACITY: NUM(1, 1 << 20); opt.capacity = v; break;
	case OPT_INTERVAL: NUM(10, 3.6e6); opt.interval_ms = v; break;
	case OPT_DRAIN: NUM(0, 3600); opt.drain_timeout = v; break;
	case OPT_VOCAB: NUM(1, 1 << 20); opt.vocab = v; break;
	case OPT_ZIPF: NUM(0, 10); opt.zipf = v; break;
	case OPT_SENTENCES: NUM(1, 1e7); opt.sentences = v; break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
#undef NUM
	return 0;
}

static int cmd_ctl(int argc, char **argv)
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

int main(int argc, char **argv)
{
	static const struct argp argp = { options, parse_opt, NULL, doc };
	const char *cmd = argc > 1 ? argv[1] : "";
	int err;

	if (!strcmp(cmd, "ctl"))
		return cmd_ctl(argc, argv);
	if (strcmp(cmd, "run") && strcmp(cmd, "calibrate")) {
		argp_err_exit_status = 2;
		if (argc > 1 && (!strcmp(cmd, "--help") || !strcmp(cmd, "-?") ||
				 !strcmp(cmd, "--usage") || !strcmp(cmd, "--version")))
			return argp_parse(&argp, argc, argv, 0, NULL, NULL);
		fprintf(stderr, "usage: wordcount run|calibrate|ctl ... (wordcount --help)\n");
		return 2;
	}
	argp_err_exit_status = 2;
	/* argp sees "wordcount run" as the program name. */
	argv[1] = argv[0];
	if (argp_parse(&argp, argc - 1, argv + 1, 0, NULL, NULL))
		return 2;
	err = vocab_init(opt.vocab, opt.zipf);
	if (err)
		return 1;
	if (!strcmp(cmd, "calibrate"))
		return cmd_calibrate();
	if (opt.input && access(opt.input, R_OK)) {
		fprintf(stderr, "wordcount: %s: %s\n", opt.input, strerror(errno));
		return 2;
	}
	return cmd_run();
}
