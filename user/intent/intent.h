/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A sentence ("optimize this system for a PostgreSQL database") and the
 * host's facts -> a tuning session: the workload class by keyword scoring,
 * the class's shipped profile with the catalogue's knobs, ranges narrowed
 * from the host, parsed and checked against the knob table. Offline and
 * deterministic: the same sentence on the same host gives the same bytes.
 * Documentation/intent.md.
 */
#ifndef KPILOT_INTENT_H
#define KPILOT_INTENT_H

#include <limits.h>
#include <stdio.h>
#include "env/benchmark/tune_config.h"
#include "intent/catalogue.h"
#include "intent/hostfacts.h"

#define KP_INTENT_NOTES		16
#define KP_INTENT_SENTENCE_MAX	2000

struct kp_intent {
	enum kp_intent_class cls;
	const char *profile;		/* the shipped profile it derives from */
	char matched[256];		/* the keywords that matched, "postgresql(3) database(2)" */
	int score;
	char *json;			/* the session's JSON text (malloc'd), '\n'-terminated */
	bool have_cfg;			/* benchmark classes: json parsed into cfg */
	bool from_llm;			/* json is a model's answer (--llm), vetted */
	struct kp_tune_config cfg;
	char pipeline_path[PATH_MAX];	/* the pipeline class: the description json came from */
	char host[512];			/* kp_host_facts_line() of the host it was built for */
	char notes[KP_INTENT_NOTES][400];	/* what it needs, how the host narrowed it */
	int nnotes;
};

/*
 * The class whose keywords score highest (ties: catalogue order). Returns
 * the score (> 0) with the class in *cls and the matched keywords in
 * matched; -ENOENT when nothing matches, -EINVAL for an empty or too long
 * sentence (why says which).
 */
int kp_intent_classify(const char *sentence, int *cls, char *matched, size_t mlen,
		       char *why, size_t len);

/*
 * Build class cls's session for host h. profile_dir holds the shipped
 * profiles (tools/profiles or the installed share/kpilot/profiles); each
 * file must be trusted (root-owned, not group/world-writable). Returns 0
 * with in filled (kp_intent_free() it), -ENOPKG when the class's tool is
 * not installed (why names the package), -ENOTSUP when the host lacks what
 * the class needs (the cgroup cpu controller), or another -errno.
 */
int kp_intent_build_class(int cls, const struct kp_host_facts *h, const char *profile_dir,
			  struct kp_intent *in, char *why, size_t len);

/* kp_intent_classify() then kp_intent_build_class(). */
int kp_intent_build(const char *sentence, const struct kp_host_facts *h,
		    const char *profile_dir, struct kp_intent *in, char *why, size_t len);

void kp_intent_free(struct kp_intent *in);

/*
 * Catalogue knob k's range in class cls's sessions on host h: false when
 * the class does not tune it or the host leaves it out (no swap, one NUMA
 * node).
 */
bool kp_intent_knob_range(int cls, const struct kp_host_facts *h, const struct kp_cat_knob *k,
			  long long *min, long long *max);

/*
 * Every action's knob is in the knob table (kp_builtin_knobs), its range
 * inside the table's and on the safe side of its floor or ceiling: 0, or
 * -EINVAL naming the first knob that is not. For any config (an LLM's too).
 */
int kp_intent_check_table(const struct kp_tune_config *c, char *why, size_t len);

/* (intent_text.c) The classes, their keywords and example commands: malloc'd text. */
char *kp_intent_known(void);

/*
 * Plain text for a model's prompt: the host facts, the classes, and the
 * knob catalogue (knob, range on this host, classes using it, what it does).
 * malloc'd; NULL on allocation failure.
 */
char *kp_intent_context(const struct kp_host_facts *h);

/*
 * The session as the user must see it before it runs: the class and why,
 * the benchmark command in full, every knob and range, the budget (c's, after
 * --trials and friends; confirm runs per side), the reward, what it needs.
 * c: the benchmark config to show (NULL for the pipeline class, which shows
 * its description with trials intervals).
 */
void kp_intent_show(const struct kp_intent *in, const struct kp_tune_config *c, int trials,
		    int confirm, FILE *f);

#endif
