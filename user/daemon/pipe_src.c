// SPDX-License-Identifier: GPL-2.0
/* The pipeline policy's rate source: JSON lines from a file or FIFO, or a Prometheus endpoint. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "daemon/pipe_src.h"
#include "lib/json.h"

#define READS_PER_TAKE	64		/* 4 MiB a step at most: a flood cannot stall the loop */
#define PROM_MAX	(1 << 20)

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A line without "dt": summed as is, spread over the interval at the take. */
static void fold_undated(struct pp_src *s, const struct kp_pipe_desc *d, json_t *j, json_t *ops)
{
	double v = num(j, d->m_throughput);

	for (int i = 0; i < d->nops; i++) {
		json_t *op = json_object_get(ops, d->ops[i].name);
		double in = num(op, "in"), out = num(op, "out");

		s->u_in[i] += isfinite(in) ? in : 0;
		s->u_out[i] += isfinite(out) ? out : 0;
	}
	if (isfinite(v)) {
		s->u_thr += v;
		s->u_thr_n++;
	}
	s->u_n++;
}

/* One report line: an object with the description's per-operator member. */
static void fold_line(struct pp_src *s, const struct kp_pipe_desc *d, const char *line)
{
	json_t *j = json_loads(line, 0, NULL), *ops, *ev;
	double dt, v;

	if (!json_is_object(j)) {
		s->bad_lines++;
		goto cleanup;
	}
	ev = json_object_get(j, "event");
	/* wordcount's start and final lines are not interval reports */
	if (json_is_string(ev) && strcmp(json_string_value(ev), "interval"))
		goto cleanup;
	ops = json_object_get(j, d->m_ops);
	if (d->nops && !json_is_object(ops)) {
		s->bad_lines++;
		goto cleanup;
	}
	v = num(j, d->m_target);
	if (isfinite(v))
		s->last_target = v;
	v = num(j, d->m_p99);
	if (isfinite(v) && (!isfinite(s->max_p99) || v > s->max_p99))
		s->max_p99 = v;
	dt = num(j, "dt");
	if (!isfinite(dt)) {
		fold_undated(s, d, j, ops);
		goto cleanup;
	}
	if (dt <= 0 || dt > 3600)
		goto cleanup;
	for (int i = 0; i < d->nops; i++) {
		json_t *op = json_object_get(ops, d->ops[i].name);
		double in = num(op, "in"), out = num(op, "out");

		s->acc_in[i] += (isfinite(in) ? in : 0) * dt;
		s->acc_out[i] += (isfinite(out) ? out : 0) * dt;
	}
	s->acc_dt += dt;
	s->acc_lines++;
	v = num(j, d->m_throughput);
	if (isfinite(v)) {
		s->acc_thr += v * dt;
		s->thr_known = true;
	}
cleanup:
	json_decref(j);
}

/*
 * The undated lines of this take share the time since the previous take
 * equally: read together, their own spacing is unknown. The first take has
 * no previous one, so its undated lines only start the clock.
 */
static void spread_undated(struct pp_src *s, const struct kp_pipe_desc *d, double now)
{
	double span = s->last_take_t > 0 ? now - s->last_take_t : 0;

	s->last_take_t = now;
	if (s->u_n && span > 0 && span <= 3600) {
		for (int i = 0; i < d->nops; i++) {
			s->acc_in[i] += s->u_in[i] / s->u_n * span;
			s->acc_out[i] += s->u_out[i] / s->u_n * span;
		}
		if (s->u_thr_n) {
			s->acc_thr += s->u_thr / s->u_thr_n * span;
			s->thr_known = true;
		}
		s->acc_dt += span;
		s->acc_lines += s->u_n;
	}
	memset(s->u_in, 0, sizeof(s->u_in));
	memset(s->u_out, 0, sizeof(s->u_out));
	s->u_thr = 0;
	s->u_n = s->u_thr_n = 0;
}

/*
 * Open (or reopen after a rotation) the file. The first open starts at its
 * end: what was written before the daemon came is history, not this interval.
 */
static int file_open(struct pp_src *s)
{
	struct stat st, cur;

	if (s->fd >= 0 && (stat(s->path, &st) || st.st_dev != s->dev || st.st_ino != s->ino)) {
		close(s->fd);
		s->fd = -1;
		s->blen = 0;
	}
	if (s->fd >= 0)
		return 0;
	s->fd = open(s->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &cur)) {
		int err = -errno;

		snprintf(s->error, sizeof(s->error), "rate source %.200s: %s", s->path,
			 strerror(-err));
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		return err;
	}
	s->dev = cur.st_dev;
	s->ino = cur.st_ino;
	if (S_ISREG(cur.st_mode) && !s->opened_once)
		lseek(s->fd, 0, SEEK_END);
	s->opened_once = true;
	return 0;
}

/* A regular file cut shorter than what we read (truncated in place): read it from the top. */
static void file_truncated(struct pp_src *s)
{
	struct stat st;
	off_t at = lseek(s->fd, 0, SEEK_CUR);

	if (!fstat(s->fd, &st) && S_ISREG(st.st_mode) && at > st.st_size) {
		lseek(s->fd, 0, SEEK_SET);
		s->blen = 0;
	}
}

static int file_read(struct pp_src *s, const struct kp_pipe_desc *d)
{
	int err = file_open(s);

	if (err)
		return err;
	file_truncated(s);
	for (int k = 0; k < READS_PER_TAKE; k++) {
		ssize_t n = read(s->fd, s->buf + s->blen, sizeof(s->buf) - 1 - s->blen);
		char *line, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			snprintf(s->error, sizeof(s->error), "rate source %.200s: %s", s->path,
				 strerror(errno));
			return -errno;
		}
		if (n <= 0)	/* all read; a FIFO without a writer reads 0 too */
			break;
		s->blen += (size_t)n;
		s->buf[s->blen] = '\0';
		for (line = s->buf; (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = '\0';
			if (line[0])
				fold_line(s, d, line);
		}
		/* the torn last line waits for its end */
		s->blen -= (size_t)(line - s->buf);
		memmove(s->buf, line, s->blen);
		if (s->blen == sizeof(s->buf) - 1) {
			s->bad_lines++;		/* a line this long is no report */
			s->blen = 0;
		}
	}
	return 0;
}

int pp_src_prom_url(struct pp_src *s, const char *url, char *why, size_t len)
{
	const char *p = url, *slash;
	char host[64];
	unsigned char a[4];
	long port;
	char *end;
	size_t n;

	if (strncmp(p, "http://", 7)) {
		snprintf(why, len, "'%s' is not http://127.0.0.1:PORT/PATH", url);
		return -EINVAL;
	}
	p += 7;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	end = memchr(p, ':', slash - p);
	n = end ? (size_t)(end - p) : 0;
	if (!end || !n || n >= sizeof(host)) {
		snprintf(why, len, "'%s': give a numeric loopback address and a port", url);
		return -EINVAL;
	}
	memcpy(host, p, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a) != 1 || a[0] != 127) {
		snprintf(why, len, "'%s': only a numeric 127.x.x.x address: the endpoint is read "
			 "without authentication", host);
		return -EINVAL;
	}
	port = strtol(end + 1, &end, 10);
	if (end != slash || port < 1 || port > 65535) {
		snprintf(why, len, "'%s': the port is not 1-65535", url);
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(s->url) || strlen(slash) >= sizeof(s->req_path)) {
		snprintf(why, len, "'%s': too long", url);
		return -EINVAL;
	}
	snprintf(s->url, sizeof(s->url), "%s", url);
	snprintf(s->host, sizeof(s->host), "%s", host);
	snprintf(s->req_path, sizeof(s->req_path), "%s", *slash ? slash : "/");
	s->port = (unsigned int)port;
	return 0;
}

int pp_src_parse(struct pp_src *s, struct kp_json *x, json_t *r, const char *p)
{
	char url[256], why[384];
	int ret;

	s->fd = -1;
	s->last_target = s->max_p99 = NAN;
	if (!json_object_get(r, "file") == !json_object_get(r, "prometheus"))
		return kp_json_fail(x, p, "give exactly one of \"file\" (JSON lines, a file or a "
				    "FIFO) and \"prometheus\" (an http://127.0.0.1:PORT/PATH endpoint)");
	if (json_object_get(r, "prometheus")) {
		s->type = PP_SRC_PROM;
		ret = kp_json_str(x, r, p, "prometheus", true, url, sizeof(url));
		if (!ret && pp_src_prom_url(s, url, why, sizeof(why)))
			ret = kp_json_fail(x, p, "prometheus: %s", why);
		return ret;
	}
	s->type = PP_SRC_FILE;
	ret = kp_json_str(x, r, p, "file", true, s->path, sizeof(s->path));
	if (!ret && s->path[0] != '/')
		ret = kp_json_fail(x, p, "file '%s' is not an absolute path", s->path);
	return ret;
}

/* GET the endpoint (1 s timeouts: the daemon's loop waits for it). A malloc'd body or NULL. */
static char *prom_get(struct pp_src *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	struct timeval tv = { .tv_sec = 1 };
	char req[320], *buf = malloc(PROM_MAX + 1), *body = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	if (!buf)
		return NULL;
	inet_pton(AF_INET, s->host, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto cleanup;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%u\r\n\r\n", s->req_path, s->host,
		 s->port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(s->error, sizeof(s->error), "rate source %.200s: %s", s->url,
			 strerror(errno));
		goto cleanup;
	}
	while (n < PROM_MAX && (r = read(fd, buf + n, PROM_MAX - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 8, " 200", 4) || !strstr(buf, "\r\n\r\n")) {
		snprintf(s->error, sizeof(s->error), "rate source %.200s: no HTTP 200 answer",
			 s->url);
		goto cleanup;
	}
	body = strdup(strstr(buf, "\r\n\r\n") + 4);
cleanup:
	if (fd >= 0)
		close(fd);
	free(buf);
	return body;
}

/* Sum of the samples of metric whose label (if any) is value; NAN when none. */
static double prom_sample(const char *text, const char *metric, const char *label,
			  const char *value)
{
	size_t n = strlen(metric);
	double sum = NAN;
	char want[128];

	snprintf(want, sizeof(want), "%s=\"%s\"", label, value ? value : "");
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *v;

		if (*p == '#' || strncmp(p, metric, n) || (p[n] != ' ' && p[n] != '{'))
			continue;
		v = p + n;
		if (*v == '{') {
			const char *close = strchr(v, '}'), *hit = strstr(v, want);

			if (!close || (value && (!hit || hit > close)))
				continue;
			v = close + 1;
		} else if (value) {
			continue;
		}
		sum = (isfinite(sum) ? sum : 0) + strtod(v, NULL);
	}
	return sum;
}

/* A scrape: counters become rates over the time since the previous one. */
static int prom_read(struct pp_src *s, const struct kp_pipe_desc *d, double now)
{
	double in[KP_PIPE_MAX_OPS], out[KP_PIPE_MAX_OPS], thr, dt = now - s->prev_t, v;
	char *text = prom_get(s);

	if (!text)
		return -EIO;
	for (int i = 0; i < d->nops; i++) {
		in[i] = prom_sample(text, s->m_in, s->label, d->ops[i].name);
		out[i] = s->m_out[0] ? prom_sample(text, s->m_out, s->label, d->ops[i].name) : NAN;
	}
	thr = s->m_throughput[0] ? prom_sample(text, s->m_throughput, s->label, NULL) : NAN;
	v = s->m_target[0] ? prom_sample(text, s->m_target, s->label, NULL) : NAN;
	if (isfinite(v))
		s->last_target = v;
	free(text);
	if (s->have_prev && dt > 0) {
		for (int i = 0; i < d->nops; i++) {
			/* a counter that went down was reset: that interval counts nothing */
			if (isfinite(in[i]) && in[i] >= s->prev_in[i])
				s->acc_in[i] += in[i] - s->prev_in[i];
			if (isfinite(out[i]) && out[i] >= s->prev_out[i])
				s->acc_out[i] += out[i] - s->prev_out[i];
			else if (!isfinite(out[i]) && isfinite(in[i]) && in[i] >= s->prev_in[i])
				s->acc_out[i] += in[i] - s->prev_in[i];	/* selectivity 1 */
		}
		if (isfinite(thr) && thr >= s->prev_thr) {
			s->acc_thr += thr - s->prev_thr;
			s->thr_known = true;
		}
		s->acc_dt += dt;
		s->acc_lines++;
	}
	memcpy(s->prev_in, in, sizeof(in));
	memcpy(s->prev_out, out, sizeof(out));
	s->prev_thr = thr;
	s->prev_t = now;
	s->have_prev = true;
	return 0;
}

int pp_src_take(struct pp_src *s, const struct kp_pipe_desc *d, double now, struct pp_meas *m)
{
	int err;

	s->error[0] = '\0';
	err = s->type == PP_SRC_FILE ? file_read(s, d) : prom_read(s, d, now);
	if (s->type == PP_SRC_FILE)
		spread_undated(s, d, now);
	memset(m, 0, sizeof(*m));
	m->lines = s->acc_lines;
	m->dt = s->acc_dt;
	m->target = s->last_target;
	m->throughput = s->thr_known && s->acc_dt > 0 ? s->acc_thr / s->acc_dt : NAN;
	m->p99_ms = s->max_p99;
	for (int i = 0; i < d->nops; i++) {
		m->in[i] = s->acc_dt > 0 ? s->acc_in[i] / s->acc_dt : 0;
		m->out[i] = s->acc_dt > 0 ? s->acc_out[i] / s->acc_dt : 0;
	}
	s->acc_dt = s->acc_thr = 0;
	s->acc_lines = 0;
	s->thr_known = false;
	s->max_p99 = NAN;
	memset(s->acc_in, 0, sizeof(s->acc_in));
	memset(s->acc_out, 0, sizeof(s->acc_out));
	return err;
}

void pp_src_close(struct pp_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
