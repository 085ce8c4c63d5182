/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The intent matcher's knowledge: workload classes (keywords, the shipped
 * profile each maps to, the tool it needs and the package that brings it)
 * and the knob catalogue (each knob's range, the classes that tune it, what
 * it does). Pure data. Documentation/intent.md.
 */
#ifndef KPILOT_INTENT_CATALOGUE_H
#define KPILOT_INTENT_CATALOGUE_H

#include <stdbool.h>
#include "intent/hostfacts.h"

/* Catalogue order is the tie-break between equal keyword scores. */
enum kp_intent_class {
	KP_CLASS_DATABASE, KP_CLASS_WEB, KP_CLASS_FILEIO, KP_CLASS_CPU, KP_CLASS_CHURN,
	KP_CLASS_PIPELINE, KP_CLASS_N
};

#define KP_CLASS_BIT(c)	(1u << (c))
#define KP_TOOL_NONE	(-1)

struct kp_cat_keyword {
	const char *word;	/* one word, two words ("web server"), or a prefix ("connect*") */
	int weight;
};

struct kp_cat_class {
	const char *name;		/* "database" */
	const char *title;		/* "database / OLTP (PostgreSQL through pgbench)" */
	const char *profile;		/* tools/profiles/<profile>.json, or built in */
	int tool;			/* enum kp_tool the benchmark runs, or KP_TOOL_NONE */
	const char *alt_profile;	/* when tool is missing and alt_tool is there */
	int alt_tool;
	bool pipeline;			/* a pipeline description, not a tuning config */
	const struct kp_cat_keyword *keywords;	/* ends with { NULL } */
	const char *example;		/* a sentence that maps here */
	const char *needs;		/* what the session needs besides the tool; NULL none */
};

struct kp_cat_knob {
	const char *knob;
	long long min, max;		/* the catalogue's range, inside the knob table's */
	bool log_scale;
	int element;			/* tuples: the element moved */
	unsigned classes;		/* KP_CLASS_BIT()s */
	const char *what;		/* what it does, one line */
};

extern const struct kp_cat_class kp_cat_classes[KP_CLASS_N];
extern const struct kp_cat_knob kp_cat_knobs[];
extern const int kp_cat_nknobs;

/* The package that brings tool on distro ("debian", "fedora", "": both named). */
const char *kp_cat_package(int tool, const char *distro);
/* A class by name, or -1. */
int kp_cat_class_by_name(const char *name);

#endif
