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

/* Write *v, or read into *v (a bool reads any non-zero as true). */
#define IO_SCALAR(name, type, put, get)					\
void kp_ckpt_io_##name(struct kp_ckpt_io *io, type *v)			\
{									\
	if (io->w)							\
		put(io->w, *v);						\
	else								\
		*v = get(io->r);					\
}

IO_SCALAR(int, int, kp_ckpt_put_u32, kp_ckpt_get_u32)
IO_SCALAR(bool, bool, kp_ckpt_put_u32, kp_ckpt_get_u32)
IO_SCALAR(long, long, kp_ckpt_put_u64, kp_ckpt_get_u64)
IO_SCALAR(u64, uint64_t, kp_ckpt_put_u64, kp_ckpt_get_u64)
IO_SCALAR(f64, double, kp_ckpt_put_f64, kp_ckpt_get_f64)

#define IO_ARRAY(name, type, put, get)					\
void kp_ckpt_io_##name(struct kp_ckpt_io *io, type *v, size_t n)	\
{									\
	if (io->w)							\
		put(io->w, v, n);					\
	else								\
		get(io->r, v, n);					\
}

IO_ARRAY(f32s, float, kp_ckpt_put_f32s, kp_ckpt_get_f32s)
IO_ARRAY(f64s, double, kp_ckpt_put_f64s, kp_ckpt_get_f64s)

void kp_ckpt_io_i32s(struct kp_ckpt_io *io, int32_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (io->w)
			kp_ckpt_put_u32(io->w, v[i]);
		else
			v[i] = kp_ckpt_get_u32(io->r);
	}
}

void kp_ckpt_io_flags(struct kp_ckpt_io *io, uint8_t *v, size_t n)
{
	const uint8_t *p;
	size_t i;

	if (io->w) {
		kp_ckpt_put(io->w, v, n);
		return;
	}
	p = take(io->r, n);
	for (i = 0; p && i < n; i++)
		v[i] = p[i] != 0;
}

void kp_ckpt_io_rng(struct kp_ckpt_io *io, struct kp_rng *g)
{
	bool spare = g->has_spare;
	int i;

	for (i = 0; i < 4; i++)
		kp_ckpt_io_u64(io, &g->s[i]);
	kp_ckpt_io_bool(io, &spare);
	g->has_spare = spare;
	kp_ckpt_io_f64(io, &g->spare);
}

void kp_ckpt_io_adam(struct kp_ckpt_io *io, struct kp_adam *o)
{
	kp_ckpt_io_u64(io, &o->t);
	kp_ckpt_io_f32s(io, o->m, o->n);
	kp_ckpt_io_f32s(io, o->v, o->n);
}

void kp_ckpt_io_rms(struct kp_ckpt_io *io, struct kp_rms *s)
{
	kp_ckpt_io_f64(io, &s->count);
	kp_ckpt_io_f64s(io, s->mean, s->dim);
	kp_ckpt_io_f64s(io, s->var, s->dim);
}

/* The count is read before the array: check it before it sizes anything. */
static int io_ints(struct kp_ckpt_io *io, char *base, const struct kp_ckpt_field *f)
{
	int count = *(int *)(base + f->count_off), i;

	if (count < 0 || count > f->max) {
		if (io->r)
			io->r->err = -EBADMSG;
		return -EBADMSG;
	}
	for (i = 0; i < count; i++)
		kp_ckpt_io_int(io, (int *)(base + f->off) + i);
	return 0;
}

int kp_ckpt_io_fields(struct kp_ckpt_io *io, void *base,
		      const struct kp_ckpt_field *f, size_t n)
{
	char *b = base;
	size_t i;

	for (i = 0; i < n; i++) {
		void *p = b + f[i].off;

		switch (f[i].type) {
		case KP_CKPT_INT: kp_ckpt_io_int(io, p); break;
		case KP_CKPT_BOOL: kp_ckpt_io_bool(io, p); break;
		case KP_CKPT_LONG: kp_ckpt_io_long(io, p); break;
		case KP_CKPT_U64: kp_ckpt_io_u64(io, p); break;
		case KP_CKPT_F64: kp_ckpt_io_f64(io, p); break;
		case KP_CKPT_INTS:
			if (io_ints(io, b, &f[i]))
				return -EBADMSG;
			break;
		}
	}
	return io->r ? io->r->err : io->w->err;
}

int kp_ckpt_end(const struct kp_ckpt_reader *r)
{
	if (r->err)
		return r->err;
	return r->off != r->len ? -EBADMSG : 0;
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

int kp_ckpt_save_walk(const char *path, enum kp_ckpt_kind kind,
		      void (*walk)(struct kp_ckpt_io *io, void *obj), const void *obj)
{
	struct kp_ckpt_writer w = { 0 };
	struct kp_ckpt_io io = { .w = &w };
	int err;

	walk(&io, (void *)obj);		/* a writing walk only reads obj */
	err = kp_ckpt_save(path, kind, &w);
	kp_ckpt_writer_free(&w);
	return err;
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case KP_CKPT_PPO: return "PPO";
	case KP_CKPT_DQN: return "DQN";
	case KP_CKPT_SYSCTL: return "sysctl policy";
	case KP_CKPT_PIPELINE: return "pipeline policy";
	default: return "unknown";
	}
}

/* The whole file into *data (*got bytes). 0 or -errno, logged. */
static int read_file(const char *path, uint8_t **data, size_t *got)
{
	struct stat st;
	int fd, err = 0;

	*data = NULL;
	*got = 0;
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
	*data = malloc(st.st_size ? st.st_size : 1);
	if (!*data) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (*got < (size_t)st.st_size) {
		ssize_t k = read(fd, *data + *got, st.st_size - *got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			err = -errno;
			kp_err("checkpoint %s: read: %s", path, strerror(-err));
			goto cleanup;
		}
		if (k == 0)
			break;
		*got += k;
	}
cleanup:
	close(fd);
	return err;
}

/* Magic, length, checksum, version and kind of got bytes. 0 or -errno, logged. */
static int check_frame(const char *path, const uint8_t *data, size_t got,
		       enum kp_ckpt_kind kind)
{
	uint32_t version, fkind;
	uint64_t plen;

	if (got < 4 || memcmp(data, KP_CKPT_MAGIC, 4)) {
		kp_err("checkpoint %s: not a kpilot checkpoint (bad magic)", path);
		return -EBADMSG;
	}
	if (got < KP_CKPT_HDR_LEN + 4) {
		kp_err("checkpoint %s: truncated (%zu bytes, header needs %d)",
		       path, got, KP_CKPT_HDR_LEN + 4);
		return -EBADMSG;
	}
	plen = rd64(data + 16);
	if (plen > got || got - KP_CKPT_HDR_LEN - 4 < plen) {
		kp_err("checkpoint %s: truncated (%zu bytes, expected %llu)", path,
		       got, (unsigned long long)plen + KP_CKPT_HDR_LEN + 4);
		return -EBADMSG;
	}
	if (got - KP_CKPT_HDR_LEN - 4 != plen) {
		kp_err("checkpoint %s: %zu trailing bytes after the checksum", path,
		       (size_t)(got - KP_CKPT_HDR_LEN - 4 - plen));
		return -EBADMSG;
	}
	if (crc32_z(crc32(0L, Z_NULL, 0), data, got - 4) != rd32(data + got - 4)) {
		kp_err("checkpoint %s: corrupt (CRC32 mismatch)", path);
		return -EBADMSG;
	}
	version = rd32(data + 4);
	if (version != KP_CKPT_VERSION) {
		kp_err("checkpoint %s: format version %u, this kpilot reads version %u",
		       path, version, KP_CKPT_VERSION);
		return -EPROTONOSUPPORT;
	}
	fkind = rd32(data + 8);
	if (fkind != (uint32_t)kind) {
		kp_err("checkpoint %s: holds a %s agent, expected %s", path,
		       kind_name(fkind), kind_name(kind));
		return -EINVAL;
	}
	return 0;
}

int kp_ckpt_load(const char *path, enum kp_ckpt_kind kind, uint8_t **buf,
		 struct kp_ckpt_reader *r)
{
	uint8_t *data;
	size_t got;
	int err;

	*buf = NULL;
	memset(r, 0, sizeof(*r));
	err = read_file(path, &data, &got);
	if (!err)
		err = check_frame(path, data, got, kind);
	if (err) {
		free(data);
		return err;
	}
	r->data = data + KP_CKPT_HDR_LEN;
	r->len = got - KP_CKPT_HDR_LEN - 4;
	*buf = data;
	return 0;
}
