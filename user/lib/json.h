/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading JSON configs (tuning configs, pipeline descriptions): every error
 * is one line "ORIGIN: $.json.path: what was expected" in the caller's why
 * buffer, and the function returns -EINVAL. Members are named by their
 * parent's path and their key; an optional member that is absent keeps the
 * caller's default and returns 0.
 */
#ifndef KPILOT_LIB_JSON_H
#define KPILOT_LIB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct kp_json {
	const char *origin;	/* names the source: "x.json", "profile tcp-churn" */
	char *why;
	size_t len;
	/*
	 * Pipeline descriptions' wording, which their tests check: "expected a
	 * string" without ", got TYPE", "missing (a string)", "%g is outside
	 * [lo, hi]", and strings may be empty. Tuning configs' otherwise.
	 */
	bool terse;
};

__attribute__((format(printf, 3, 4)))
int kp_json_fail(struct kp_json *x, const char *path, const char *fmt, ...);
/* "an object", "a string", ... for messages. */
const char *kp_json_type(const json_t *v);
/* "expected WHAT, got TYPE OF v" at path (terse: "expected WHAT"). */
int kp_json_want(struct kp_json *x, const char *path, const char *what, const json_t *v);

/* Parse text into an object (*root, the caller's reference). */
int kp_json_root(struct kp_json *x, const char *text, json_t **root);
/* A file's text (malloc'd); max > 0: refuse larger files. */
int kp_json_read(const char *path, long max, char **text, char *why, size_t len);

/* Every key of obj must be in allowed (NULL-terminated): typos are errors. */
int kp_json_keys(struct kp_json *x, const char *path, json_t *obj, const char *const *allowed);

int kp_json_obj(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, json_t **out);
int kp_json_str(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, char *buf, size_t size);
int kp_json_num(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, double lo, double hi, double *out);
int kp_json_int(struct kp_json *x, json_t *parent, const char *path, const char *key,
		long long lo, long long hi, long long *out);
int kp_json_bool(struct kp_json *x, json_t *parent, const char *path, const char *key,
		 bool *out);

#endif
