/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Versioned binary checkpoints. A file is
 *
 *   "KPCK" | u32 version | u32 kind | u32 reserved | u64 payload length |
 *   payload | u32 crc32 (zlib) of everything before it
 *
 * all little-endian. Loading refuses, with a one-line reason, a file that is
 * not a checkpoint, truncated, corrupt, of another version or another kind.
 * Saving writes a temporary file, fsyncs it and renames it into place, so a
 * crash never leaves half a checkpoint under the real name.
 */
#ifndef KPILOT_CKPT_H
#define KPILOT_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/adam.h"
#include "agent/norm.h"
#include "agent/rng.h"

#define KP_CKPT_MAGIC "KPCK"
#define KP_CKPT_VERSION 1
#define KP_CKPT_HDR_LEN 24

enum kp_ckpt_kind {
	KP_CKPT_PPO = 1,
	KP_CKPT_DQN = 2,
	KP_CKPT_SYSCTL = 3,	/* the daemon's sysctl policy: knobs, incumbent, trials */
	KP_CKPT_PIPELINE = 4,	/* the daemon's pipeline policy (ds2, random) */
};

/* Growing payload being written; err latches the first failure. */
struct kp_ckpt_writer {
	uint8_t *data;
	size_t len, cap;
	int err;
};

/* Payload being read; err latches -EBADMSG on the first overrun. */
struct kp_ckpt_reader {
	const uint8_t *data;
	size_t len, off;
	int err;
};

void kp_ckpt_put(struct kp_ckpt_writer *w, const void *p, size_t n);
void kp_ckpt_put_u32(struct kp_ckpt_writer *w, uint32_t v);
void kp_ckpt_put_u64(struct kp_ckpt_writer *w, uint64_t v);
void kp_ckpt_put_f64(struct kp_ckpt_writer *w, double v);
void kp_ckpt_put_f32s(struct kp_ckpt_writer *w, const float *v, size_t n);
void kp_ckpt_put_f64s(struct kp_ckpt_writer *w, const double *v, size_t n);
void kp_ckpt_writer_free(struct kp_ckpt_writer *w);

uint32_t kp_ckpt_get_u32(struct kp_ckpt_reader *r);
uint64_t kp_ckpt_get_u64(struct kp_ckpt_reader *r);
double kp_ckpt_get_f64(struct kp_ckpt_reader *r);
void kp_ckpt_get_f32s(struct kp_ckpt_reader *r, float *v, size_t n);
void kp_ckpt_get_f64s(struct kp_ckpt_reader *r, double *v, size_t n);

/*
 * One walk over an agent's state serves both directions, so that what is
 * saved and what is loaded cannot drift apart: with w set, each call writes
 * *v; with r set, it reads into *v. Saving only reads through the pointers.
 */
struct kp_ckpt_io {
	struct kp_ckpt_writer *w;
	struct kp_ckpt_reader *r;
};

void kp_ckpt_io_int(struct kp_ckpt_io *io, int *v);		/* as u32 */
void kp_ckpt_io_bool(struct kp_ckpt_io *io, bool *v);		/* as u32 */
void kp_ckpt_io_long(struct kp_ckpt_io *io, long *v);		/* as u64 */
void kp_ckpt_io_u64(struct kp_ckpt_io *io, uint64_t *v);
void kp_ckpt_io_f64(struct kp_ckpt_io *io, double *v);
void kp_ckpt_io_f32s(struct kp_ckpt_io *io, float *v, size_t n);
void kp_ckpt_io_f64s(struct kp_ckpt_io *io, double *v, size_t n);
void kp_ckpt_io_i32s(struct kp_ckpt_io *io, int32_t *v, size_t n);	/* as u32 each */
void kp_ckpt_io_flags(struct kp_ckpt_io *io, uint8_t *v, size_t n);	/* a byte each, read as 0/1 */
void kp_ckpt_io_rng(struct kp_ckpt_io *io, struct kp_rng *g);
void kp_ckpt_io_adam(struct kp_ckpt_io *io, struct kp_adam *o);	/* t, m, v */
void kp_ckpt_io_rms(struct kp_ckpt_io *io, struct kp_rms *s);		/* count, mean, var */

/* A configuration is a table of scalar fields, stored in table order. */
enum kp_ckpt_type {
	KP_CKPT_INT,
	KP_CKPT_BOOL,
	KP_CKPT_LONG,
	KP_CKPT_U64,
	KP_CKPT_F64,
	KP_CKPT_INTS,		/* int array counted by an int stored before it */
};

struct kp_ckpt_field {
	enum kp_ckpt_type type;
	size_t off;
	size_t count_off;	/* KP_CKPT_INTS: where the count is */
	int max;		/* KP_CKPT_INTS: a larger count is a corrupt file */
};

#define KP_CKPT_FIELD(T, type, member) { KP_CKPT_##T, offsetof(type, member), 0, 0 }
#define KP_CKPT_ARRAY(type, member, count, max) \
	{ KP_CKPT_INTS, offsetof(type, member), offsetof(type, count), max }

/* 0, or the reader's error (-EBADMSG also for an array count out of range). */
int kp_ckpt_io_fields(struct kp_ckpt_io *io, void *base,
		      const struct kp_ckpt_field *f, size_t n);
/* After the last field: 0, or -EBADMSG for an overrun or trailing bytes. */
int kp_ckpt_end(const struct kp_ckpt_reader *r);
/* Write what walk(io, obj) walks to path, as kp_ckpt_save. 0 or -errno. */
int kp_ckpt_save_walk(const char *path, enum kp_ckpt_kind kind,
		      void (*walk)(struct kp_ckpt_io *io, void *obj), const void *obj);

/* Write header + payload + crc to path atomically. 0 or -errno. */
int kp_ckpt_save(const char *path, enum kp_ckpt_kind kind, const struct kp_ckpt_writer *w);
/*
 * Read and validate path; on success *buf holds the whole file (free it) and
 * r reads the payload. -ENOENT etc. from the file system, -EBADMSG for a
 * non-checkpoint, truncated or corrupt file, -EPROTONOSUPPORT for another
 * version, -EINVAL for another kind. Each failure is logged once.
 */
int kp_ckpt_load(const char *path, enum kp_ckpt_kind kind, uint8_t **buf,
		 struct kp_ckpt_reader *r);

#endif
