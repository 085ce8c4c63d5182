// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/json.h"

/* A message quotes the file: its control characters must not break the line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int kp_json_fail(struct kp_json *x, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->why, x->len, "%s: %s: %s", x->origin, path, msg);
	one_line(x->why);
	return -EINVAL;
}

const char *kp_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

int kp_json_want(struct kp_json *x, const char *path, const char *what, const json_t *v)
{
	if (x->terse)
		return kp_json_fail(x, path, "expected %s", what);
	return kp_json_fail(x, path, "expected %s, got %s", what, kp_json_type(v));
}

static int missing(struct kp_json *x, const char *path, const char *what)
{
	return kp_json_fail(x, path, x->terse ? "missing (%s)" : "missing (expected %s)", what);
}

int kp_json_root(struct kp_json *x, const char *text, json_t **root)
{
	json_error_t je;

	*root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!*root) {
		snprintf(x->why, x->len, "%s: line %d column %d: %s", x->origin, je.line, je.column,
			 je.text);
		one_line(x->why);
		return -EINVAL;
	}
	return json_is_object(*root) ? 0 : kp_json_want(x, "$", "an object", *root);
}

int kp_json_read(const char *path, long max, char **text, char *why, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	long n = 0;
	int err = 0;

	*text = NULL;
	if (!f) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return err;
	}
	if (max > 0 && (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > max ||
			fseek(f, 0, SEEK_SET))) {
		snprintf(why, len, "%s: not a readable file under %ld MiB", path, max >> 20);
		err = -EINVAL;
	} else if (max > 0) {
		/* the size is known: an empty file is text too (the parser says why not) */
		*text = malloc(n + 1);
		if (!*text || fread(*text, 1, n, f) != (size_t)n)
			err = -EIO;
		else
			(*text)[n] = '\0';
	} else if (getdelim(text, &cap, '\0', f) < 0) {
		err = -EIO;
	}
	fclose(f);
	if (err == -EIO) {
		free(*text);
		*text = NULL;
		snprintf(why, len, "%s: cannot read", path);
	}
	return err;
}

int kp_json_keys(struct kp_json *x, const char *path, json_t *obj, const char *const *allowed)
{
	const char *key, *const *a;
	char p[128];
	json_t *v;

	json_object_foreach(obj, key, v) {
		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (!*a) {
			snprintf(p, sizeof(p), "%s.%s", path, key);
			return kp_json_fail(x, p, "unknown key");
		}
	}
	return 0;
}

/*
 * The member key of parent, named path.key in p: *v NULL when it is absent
 * and optional; -EINVAL when it is missing or none of the types in mask.
 */
static int member(struct kp_json *x, json_t *parent, const char *path, const char *key,
		  bool required, unsigned int mask, const char *what, char *p, size_t size,
		  json_t **v)
{
	snprintf(p, size, "%s.%s", path, key);
	*v = json_object_get(parent, key);
	if (!*v)
		return required ? missing(x, p, what) : 0;
	if (!(mask & (1u << json_typeof(*v))))
		return kp_json_want(x, p, what, *v);
	return 0;
}

#define T(type)	(1u << (type))

int kp_json_obj(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, json_t **out)
{
	char p[256];

	return member(x, parent, path, key, required, T(JSON_OBJECT), "an object", p, sizeof(p),
		      out);
}

int kp_json_str(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, char *buf, size_t size)
{
	char p[256];
	json_t *v;
	int err = member(x, parent, path, key, required, T(JSON_STRING), "a string", p, sizeof(p),
			 &v);

	if (err || !v)
		return err;
	if (x->terse && strlen(json_string_value(v)) >= size)
		return kp_json_fail(x, p, "longer than %zu characters", size - 1);
	if (!x->terse && (!json_string_length(v) || json_string_length(v) >= size))
		return kp_json_fail(x, p, "expected a string of 1-%zu characters", size - 1);
	snprintf(buf, size, "%s", json_string_value(v));
	return 0;
}

int kp_json_num(struct kp_json *x, json_t *parent, const char *path, const char *key,
		bool required, double lo, double hi, double *out)
{
	char p[256];
	json_t *v;
	double d;
	int err = member(x, parent, path, key, required, T(JSON_INTEGER) | T(JSON_REAL), "a number",
			 p, sizeof(p), &v);

	if (err || !v)
		return err;
	d = json_number_value(v);
	if (isfinite(d) && d >= lo && d <= hi) {
		*out = d;
		return 0;
	}
	if (x->terse)
		return kp_json_fail(x, p, "%g is outside [%g, %g]", d, lo, hi);
	return kp_json_fail(x, p, "expected a number in [%g, %g], got %g", lo, hi, d);
}

int kp_json_int(struct kp_json *x, json_t *parent, const char *path, const char *key,
		long long lo, long long hi, long long *out)
{
	char p[256];
	json_t *v;
	int err = member(x, parent, path, key, false, T(JSON_INTEGER), "an integer", p, sizeof(p),
			 &v);

	if (err || !v)
		return err;
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return kp_json_fail(x, p, "expected an integer in [%lld, %lld], got %lld", lo, hi,
				    (long long)json_integer_value(v));
	*out = json_integer_value(v);
	return 0;
}

int kp_json_bool(struct kp_json *x, json_t *parent, const char *path, const char *key,
		 bool *out)
{
	char p[256];
	json_t *v;
	int err = member(x, parent, path, key, false, T(JSON_TRUE) | T(JSON_FALSE), "true or false",
			 p, sizeof(p), &v);

	if (!err && v)
		*out = json_is_true(v);
	return err;
}
