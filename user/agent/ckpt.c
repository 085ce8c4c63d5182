// SPDX-License-Identifier: GPL-2.0
/* Checkpoint container: framing, CRC32, atomic save, strict load. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "agent/ckpt.h"
#include "lib/log.h"

void kp_ckpt_put(struct kp_ckpt_writer *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *d;

		while (cap < w->len + n)
			cap *= 2;
		d = realloc(w->data, cap);
		if (!d) {
			w->err = -ENOMEM;
			return;
		}
		w->data = d;
		w->cap = cap;
	}
	memcpy(w->data + w->len, p, n);
	w->len += n;
}

static void le32(uint8_t *b, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		b[i] = v >> (8 * i);
}

static void le64(uint8_t *b, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		b[i] = v >> (8 * i);
}

static uint32_t rd32(const uint8_t *b)
{
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
	return rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

void kp_ckpt_put_u32(struct kp_ckpt_writer *w, uint32_t v)
{
	uint8_t b[4];

	le32(b, v);
	kp_ckpt_put(w, b, 4);
}

void kp_ckpt_put_u64(struct kp_ckpt_writer *w, uint64_t v)
{
	uint8_t b[8];

	le64(b, v);
	kp_ckpt_put(w, b, 8);
}

void kp_ckpt_put_f64(struct kp_ckpt_writer *w, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	kp_ckpt_put_u64(w, u);
}

void kp_ckpt_put_f32s(struct kp_ckpt_writer *w, const float *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		kp_ckpt_put_u32(w, u);
	}
}

void kp_ckpt_put_f64s(struct kp_ckpt_writer *w, const double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		kp_ckpt_put_f64(w, v[i]);
}

void kp_ckpt_writer_free(struct kp_ckpt_writer *w)
{
	free(w->data);
	memset(w, 0, sizeof(*w));
}

static const uint8_t *take(struct kp_ckpt_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->off) {
		r->err = -EBADMSG;
		return NULL;
	}
	p = r->data + r->off;
	r->off += n;
	return p;
}

uint32_t kp_ckpt_get_u32(struct kp_ckpt_reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? rd32(p) : 0;
}

uint64_t kp_ckpt_get_u64(struct kp_ckpt_reader *r)
{
	const uint8_t *p = take(r, 8);

	return p ? rd64(p) : 0;
}

double kp_ckpt_get_f64(struct kp_ckpt_reader *r)
{
	uint64_t u = kp_ckpt_get_u64(r);
	double v;

	memcpy(&v, &u, 8);
	return v;
}

void kp_ckpt_get_f32s(struct kp_ckpt_reader *r, float *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t u = kp_ckpt_get_u32(r);

		memcpy(&v[i], &u, 4);
	}
}

void kp_ckpt_get_f64s(struct kp_ckpt_reader *r, double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = kp_ckpt_get_f64(r);
}

void kp_ckpt_put_rng(struct kp_ckpt_writer *w, const struct kp_rng *g)
{
	int i;

	for (i = 0; i < 4; i++)
		kp_ckpt_put_u64(w, g->s[i]);
	kp_ckpt_put_u32(w, g->has_spare);
	kp_ckpt_put_f64(w, g->spare);
}

void kp_ckpt_get_rng(struct kp_ckpt_reader *r, struct kp_rng *g)
{
	int i;

	for (i = 0; i < 4; i++)
		g->s[i] = kp_ckpt_get_u64(r);
	g->has_spare = kp_ckpt_get_u32(r) != 0;
	g->spare = kp_ckpt_get_f64(r);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = write(fd, b, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= k;
	}
	return 0;
}

int kp_ckpt_save(const char *path, enum kp_ckpt_kind kind, const struct kp_ckpt_writer *w)
{
	uint8_t hdr[KP_CKPT_HDR_LEN], tail[4];
	char *tmp = NULL;
	uLong crc;
	int fd = -1, err;

	if (w->err)
		return w->err;
	memcpy(hdr, KP_CKPT_MAGIC, 4);
	le32(hdr + 4, KP_CKPT_VERSION);
	le32(hdr + 8, kind);
	le32(hdr + 12, 0);
	le64(hdr + 16, w->len);
	crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, hdr, sizeof(hdr));
	crc = crc32_z(crc, w->data, w->len);
	le32(tail, crc);

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		kp_err("checkpoint %s: cannot create: %s", tmp, strerror(-err));
		goto cleanup;
	}
	err = write_all(fd, hdr, sizeof(hdr));
	if (!err)
		err = write_all(fd, w->data, w->len);
	if (!err)
		err = write_all(fd, tail, sizeof(tail));
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		kp_err("checkpoint %s: write failed: %s", path, strerror(-err));
		unlink(tmp);
	}
cleanup:
	free(tmp);
	return err;
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case KP_CKPT_PPO: return "PPO";
	case KP_CKPT_DQN: return "DQN";
	default: return "unknown";
	}
}

int kp_ckpt_load(const char *path, enum kp_ckpt_kind kind, uint8_t **buf,
		 struct kp_ckpt_reader *r)
{
	uint8_t *data = NULL;
	struct stat st;
	uint64_t plen;
	uint32_t version, fkind;
	size_t got = 0;
	int fd, err = 0;

	*buf = NULL;
	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		kp_err("checkpoint %s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	data = malloc(st.st_size ? st.st_size : 1);
	if (!data) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, data + got, st.st_size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			err = -errno;
			kp_err("checkpoint %s: read: %s", path, strerror(-err));
			goto cleanup;
		}
		if (k == 0)
			break;
		got += k;
	}
	err = -EBADMSG;
	if (got < 4 || memcmp(data, KP_CKPT_MAGIC, 4)) {
		kp_err("checkpoint %s: not a kpilot checkpoint (bad magic)", path);
		goto cleanup;
	}
	if (got < KP_CKPT_HDR_LEN + 4) {
		kp_err("checkpoint %s: truncated (%zu bytes, header needs %d)",
		       path, got, KP_CKPT_HDR_LEN + 4);
		goto cleanup;
	}
	plen = rd64(data + 16);
	if (plen > got || got - KP_CKPT_HDR_LEN - 4 < plen) {
		kp_err("checkpoint %s: truncated (%zu bytes, expected %llu)", path,
		       got, (unsigned long long)plen + KP_CKPT_HDR_LEN + 4);
		goto cleanup;
	}
	if (got - KP_CKPT_HDR_LEN - 4 != plen) {
		kp_err("checkpoint %s: %zu trailing bytes after the checksum", path,
		       (size_t)(got - KP_CKPT_HDR_LEN - 4 - plen));
		goto cleanup;
	}
	if (crc32_z(crc32(0L, Z_NULL, 0), data, got - 4) != rd32(data + got - 4)) {
		kp_err("checkpoint %s: corrupt (CRC32 mismatch)", path);
		goto cleanup;
	}
	version = rd32(data + 4);
	if (version != KP_CKPT_VERSION) {
		kp_err("checkpoint %s: format version %u, this kpilot reads version %u",
		       path, version, KP_CKPT_VERSION);
		err = -EPROTONOSUPPORT;
		goto cleanup;
	}
	fkind = rd32(data + 8);
	if (fkind != (uint32_t)kind) {
		kp_err("checkpoint %s: holds a %s agent, expected %s", path,
		       kind_name(fkind), kind_name(kind));
		err = -EINVAL;
		goto cleanup;
	}
	r->data = data + KP_CKPT_HDR_LEN;
	r->len = plen;
	*buf = data;
	data = NULL;
	err = 0;
cleanup:
	free(data);
	close(fd);
	return err;
}
