// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --intent TEXT: a sentence -> a session (user/intent/), shown
 * in full, run only after a typed yes or --yes. Documentation/intent.md.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli_util.h"
#include "cli/cmd_tune.h"
#include "cli/commands.h"
#include "env/pipeline/pipetune.h"
#include "intent/intent.h"
#include "intent/llm.h"

error_t tune_intent_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_INTENT:
		tune_args.intent = arg;
		break;
	case OPT_PRINT_CONFIG:
		tune_args.print_config = true;
		break;
	case OPT_YES:
		tune_args.yes = true;
		break;
	case OPT_LLM:
		tune_args.llm = arg;
		break;
	case ARGP_KEY_END:	/* from cmd_tune.c's parse_arg */
		if (!!tune_args.config + !!tune_args.profile + !!tune_args.pipeline +
		    !!tune_args.intent != 1)
			argp_error(state, "give one of --config FILE, --profile NAME, --pipeline FILE "
				   "or --intent TEXT");
		if ((tune_args.print_config || tune_args.yes || tune_args.llm) && !tune_args.intent)
			argp_error(state, "--print-config, --yes and --llm go with --intent");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The run goes ahead: --yes, or "yes" typed on the terminal. An exit status otherwise. */
static int agreed(void)
{
	char line[64];

	if (tune_args.yes)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "kpilot tune: --intent: not started: there is no terminal to answer on; "
			"read the session above, then run the same command with --yes (or save it "
			"with --print-config and run it with --config FILE)\n");
		return KP_EXIT_USAGE;
	}
	fprintf(stderr, "Run this session? Type yes to start: ");
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n")) {
		fprintf(stderr, "kpilot tune: not started: the answer was not yes; nothing changed\n");
		return KP_EXIT_REJECT;
	}
	return 0;
}

/*
 * --llm URL, or a url in /etc/kpilot/llm.json: the model writes the session,
 * which kp_llm_session_config() parses and vets like a hand-written one.
 * 0: in holds it; 1: no endpoint configured; -errno: refused (said why).
 */
static int llm_build(const char *sentence, const struct kp_host_facts *h, struct kp_intent *in)
{
	struct kp_llm_opts o;
	char why[1024], *ctx;
	int err;

	err = kp_llm_opts_load(NULL, &o, why, sizeof(why));
	if (!err && tune_args.llm)
		err = kp_llm_opts_set_url(&o, tune_args.llm, why, sizeof(why));
	if (!err && !o.url[0])
		return 1;
	memset(in, 0, sizeof(*in));
	if (!err) {
		ctx = kp_intent_context(h);
		err = ctx ? kp_llm_session_config(&o, sentence, ctx, &in->cfg, &in->json, why,
						  sizeof(why)) : -ENOMEM;
		if (!ctx)
			snprintf(why, sizeof(why), "out of memory");
		free(ctx);
	}
	memset(o.api_key, 0, sizeof(o.api_key));
	if (err) {
		fprintf(stderr, "kpilot tune: --intent: the model's session is not used: %s\n", why);
		return err;
	}
	in->have_cfg = true;
	in->from_llm = true;
	in->profile = "the model's answer";
	kp_host_facts_line(h, in->host, sizeof(in->host));
	return 0;
}

/* Sentence -> class -> session; an exit status when it cannot. */
static int build(const char *sentence, struct kp_intent *in)
{
	struct kp_host_facts h;
	char why[1024], dir[PATH_MAX], matched[256], *known;
	int cls = 0, score, err;

	if (kp_host_facts_read("/", NULL, &h, why, sizeof(why))) {
		fprintf(stderr, "kpilot tune: --intent: %s\n", why);
		return KP_EXIT_USAGE;
	}
	score = kp_intent_classify(sentence, &cls, matched, sizeof(matched), why, sizeof(why));
	err = llm_build(sentence, &h, in);
	if (!err) {
		in->cls = score < 0 ? 0 : cls;
		in->score = score;
		snprintf(in->matched, sizeof(in->matched), "%s", score < 0 ? "" : matched);
		return 0;
	}
	if (err < 0 && score >= 0)
		fprintf(stderr, "kpilot tune: --intent: the offline matcher's session instead:\n");
	if (score < 0) {
		known = kp_intent_known();
		fprintf(stderr, "kpilot tune: --intent: %s\n%s", why, known ? known : "");
		free(known);
		return KP_EXIT_USAGE;
	}
	cli_profile_dir(tune_args.profile_dir, dir, sizeof(dir));
	err = kp_intent_build_class(cls, &h, dir, in, why, sizeof(why));
	if (err) {
		fprintf(stderr, "kpilot tune: --intent: %s\n", why);
		return KP_EXIT_USAGE;
	}
	in->score = score;
	snprintf(in->matched, sizeof(in->matched), "%s", matched);
	return 0;
}

int tune_intent(const char *sentence)
{
	struct kp_intent in;
	struct kp_tune_config cfg;
	bool pipe;
	int ret;

	ret = build(sentence, &in);
	if (ret)
		return ret;
	if (tune_args.print_config) {
		fputs(in.json, stdout);
		kp_intent_free(&in);
		return fflush(stdout) ? KP_EXIT_USAGE : KP_EXIT_OK;
	}
	pipe = !in.from_llm && kp_cat_classes[in.cls].pipeline;
	if (!pipe && tune_args.pipe_algo && (!strcmp(tune_args.pipe_algo, "ds2") ||
					     !strcmp(tune_args.pipe_algo, "static"))) {
		fprintf(stderr, "kpilot tune: --algo %s is for pipelines\n", tune_args.pipe_algo);
		ret = KP_EXIT_USAGE;
		goto cleanup;
	}
	if (!pipe)
		tune_overrides(&in.cfg);
	kp_intent_show(&in, pipe ? NULL : &in.cfg,
		       tune_args.trials < 0 ? KP_PIPE_TRIALS_DEFAULT : (int)tune_args.trials,
		       tune_args.confirm, stderr);
	if (geteuid() != 0 && !tune_args.dry_run) {
		fprintf(stderr, "kpilot tune: needs root: it writes kernel knobs and loads eBPF programs\n");
		ret = KP_EXIT_USAGE;
		goto cleanup;
	}
	ret = tune_args.dry_run ? 0 : agreed();	/* a dry run changes and runs nothing */
	if (ret)
		goto cleanup;
	if (pipe) {
		ret = tune_pipeline(in.pipeline_path);
		goto cleanup;
	}
	cfg = in.cfg;		/* tune_run_config() frees it */
	in.have_cfg = false;
	kp_intent_free(&in);
	return tune_run_config(&cfg);
cleanup:
	kp_intent_free(&in);
	return ret;
}
