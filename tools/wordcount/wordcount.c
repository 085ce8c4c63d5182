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
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wordcount.h"

/*
 * Hash rounds per word, ~4.3 ns each here. At the default 2000 sentences/s
 * (8 words each on average) they make the splitter need ~0.5 core and the
 * counter ~0.8 core (Documentation/pipeline.md, "Calibration").
 */
#define DEFAULT_SPLIT_COST	7000
#define DEFAULT_COUNT_COST	11500
#define STR_(x)	#x
#define STR(x)	STR_(x)

struct opts opt = {
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

/* argp_error exits (no ARGP_NO_EXIT); the return says so to the analyzer. */
#define NUM(lo, hi) do { \
		if (parse_num(arg, lo, hi, &v)) { \
			argp_error(state, "bad value '%s' for --%s (want %g to %g)", \
				   arg, option_name(key), (double)(lo), (double)(hi)); \
			return EINVAL; \
		} \
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
