/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wordcount's shared pieces: the record, the shared memory the launcher and
 * the operators meet in, the options, and what each file offers the others
 * (wordcount.c: options and dispatch; generator.c: the sentences; operators.c:
 * source, split, count, sink and calibration; launcher.c: the run and its
 * control FIFO).
 */
#ifndef WORDCOUNT_H
#define WORDCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"

#define MAX_WORKERS	16
#define SENT_MAX	487	/* bytes of text in a record, which is then 512 bytes */
#define WORD_MAX	47	/* longer words are counted by their first WORD_MAX bytes */
#define NR_BUCKETS	1024	/* latency histogram: 16 sub-buckets per power of two */

enum op_id { OP_SOURCE, OP_SPLIT, OP_COUNT, OP_SINK, NR_OPS };
extern const char *const op_names[NR_OPS];
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

_Static_assert(sizeof(struct record) == 512, "a record is one 512-byte slot");

/* Per operator, in shared memory: written by the operator, read by the launcher. */
struct op_state {
	uint64_t in, out;	/* records taken from input / put on output */
	uint64_t blocked_ns;	/* workers' time blocked on a full output channel */
	uint64_t cpu_ns;	/* workers' thread CPU time */
	uint32_t workers_target;	/* set by the launcher */
	uint32_t workers;	/* running now */
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
	uint64_t sentences;	/* sentences that reached the sink */
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
};

extern struct opts opt;		/* wordcount.c */
extern struct shm *S;		/* launcher.c maps it, operators.c works in it */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* generator.c */
int vocab_init(unsigned n, double s);
void make_sentence(uint64_t seq, struct record *s);

/* operators.c */
unsigned lat_bucket(uint64_t ns);
double lat_value(unsigned b);
double lat_quantile(const uint64_t *h, uint64_t total, double q);
int op_main(enum op_id id, pid_t launcher);
int cmd_calibrate(void);

/* control.c */
int parse_workers(const char *arg, int *w);
int control_line(char *line, bool *stop);
void control_lines(char *buf, size_t *len, size_t size, bool *stop);

/* launcher.c */
int cmd_run(void);
int cmd_ctl(int argc, char **argv);

#endif
