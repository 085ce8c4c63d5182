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

#include <stddef.h>
#include <stdint.h>
#include "agent/rng.h"

#define KP_CKPT_MAGIC "KPCK"
#define KP_CKPT_VERSION 1
#define KP_CKPT_HDR_LEN 24

enum kp_ckpt_kind {
	KP_CKPT_PPO = 1,
	KP_CKPT_DQN = 2,
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
void kp_ckpt_put_rng(struct kp_ckpt_writer *w, const struct kp_rng *g);
void kp_ckpt_writer_free(struct kp_ckpt_writer *w);

uint32_t kp_ckpt_get_u32(struct kp_ckpt_reader *r);
uint64_t kp_ckpt_get_u64(struct kp_ckpt_reader *r);
double kp_ckpt_get_f64(struct kp_ckpt_reader *r);
void kp_ckpt_get_f32s(struct kp_ckpt_reader *r, float *v, size_t n);
void kp_ckpt_get_f64s(struct kp_ckpt_reader *r, double *v, size_t n);
void kp_ckpt_get_rng(struct kp_ckpt_reader *r, struct kp_rng *g);

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
