// SPDX-License-Identifier: GPL-2.0
/*
 * Steering without the replicas' cooperation: which fd of a process is its
 * listening socket on a port (/proc/PID/net/tcp{,6} in the process's own
 * network namespace, matched by inode against /proc/PID/fd), and the
 * pinned maps of an attached service.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "actuate/steer.h"

bool kp_steer_name_ok(const char *service)
{
	size_t i, n = strlen(service);

	if (!n || n >= 64)
		return false;
	for (i = 0; i < n; i++)
		if (!(service[i] >= 'a' && service[i] <= 'z') &&
		    !(service[i] >= 'A' && service[i] <= 'Z') &&
		    !(service[i] >= '0' && service[i] <= '9') && !strchr("_-", service[i]))
			return false;
	return true;
}

/* Inodes of the sockets listening (state 0A) on port in one /proc/PID/net file. */
static int listen_inodes(const char *file, int port, unsigned long *ino, int max)
{
	char line[512];
	unsigned int lport, state;
	unsigned long inode;
	int n = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < max) {
		char *colon = strchr(line, ':');

		/* "sl: local_addr:port rem_addr:port st tx:rx tr:when retr uid timeout inode" */
		if (!colon || !(colon = strchr(colon + 1, ':')))
			continue;
		if (sscanf(colon + 1, "%x %*s %x %*s %*s %*s %*s %*s %lu", &lport, &state,
			   &inode) != 3)
			continue;
		if ((int)lport == port && state == 0x0A && inode)
			ino[n++] = inode;
	}
	fclose(f);
	return n;
}

int kp_steer_find_listener(pid_t pid, int port, int *fd, char *why, size_t len)
{
	unsigned long ino[16];
	char path[64], link[64], want[40];
	struct dirent *d;
	int n, i, found = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
	n = listen_inodes(path, port, ino, 16);
	snprintf(path, sizeof(path), "/proc/%d/net/tcp6", (int)pid);
	n += listen_inodes(path, port, ino + n, 16 - n);
	if (!n) {
		snprintf(why, len, "pid %d: nothing listens on TCP port %d in its network namespace",
			 (int)pid, port);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir) {
		snprintf(why, len, "pid %d: %s: %s", (int)pid, path, strerror(errno));
		return -errno;
	}
	while (found < 0 && (d = readdir(dir))) {
		ssize_t r;

		snprintf(path, sizeof(path), "/proc/%d/fd/%.16s", (int)pid, d->d_name);
		r = readlink(path, link, sizeof(link) - 1);
		if (r <= 0)
			continue;
		link[r] = '\0';
		for (i = 0; i < n && found < 0; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", ino[i]);
			if (!strcmp(link, want))
				found = atoi(d->d_name);
		}
	}
	closedir(dir);
	if (found < 0) {
		snprintf(why, len, "pid %d holds none of the sockets listening on port %d",
			 (int)pid, port);
		return -ENOENT;
	}
	*fd = found;
	return 0;
}

static int pinned(const char *service, const char *map)
{
	char path[160];

	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s/%s", service, map);
	return bpf_obj_get(path);
}

int kp_steer_stats_read(const char *service, struct kp_steer_stats *out)
{
	int cfd, wfd, sfd, afd, err = 0;
	__u32 i, zero = 0;

	memset(out, 0, sizeof(*out));
	if (!kp_steer_name_ok(service))
		return -EINVAL;
	cfd = pinned(service, "cfg");
	if (cfd < 0)
		return -errno;
	wfd = pinned(service, "weights");
	sfd = pinned(service, "slots");
	afd = pinned(service, "active");
	if (wfd < 0 || sfd < 0 || afd < 0 || bpf_map_lookup_elem(cfd, &zero, &out->cfg))
		err = -EIO;
	for (i = 0; !err && i < KP_STEER_MAX; i++) {
		__s64 a = 0;

		if (bpf_map_lookup_elem(wfd, &i, &out->weights[i]) ||
		    bpf_map_lookup_elem(sfd, &i, &out->slot[i]) ||
		    bpf_map_lookup_elem(afd, &i, &a))
			err = -EIO;
		out->active[i] = a;
	}
	close(cfd);
	if (wfd >= 0)
		close(wfd);
	if (sfd >= 0)
		close(sfd);
	if (afd >= 0)
		close(afd);
	return err;
}

int kp_steer_read(const char *service, char *text, size_t len)
{
	struct kp_steer_stats s;
	size_t off = 0;
	__u32 i;
	int err = kp_steer_stats_read(service, &s);

	if (err == -ENOENT) {
		snprintf(text, len, KP_STEER_DEFAULT);
		return 0;
	}
	if (err)
		return err;
	switch (s.cfg.mode) {
	case KP_STEER_WEIGHTS:
		break;
	case KP_STEER_RR:
		snprintf(text, len, "rr");
		return 0;
	case KP_STEER_LEASTCONN:
		snprintf(text, len, "leastconn");
		return 0;
	default:
		snprintf(text, len, KP_STEER_DEFAULT);
		return 0;
	}
	text[0] = '\0';
	for (i = 0; i < s.cfg.n && i < KP_STEER_MAX && off < len; i++)
		off += (size_t)snprintf(text + off, len - off, "%s%u", i ? " " : "", s.weights[i]);
	return off < len ? 0 : -ENOSPC;
}

int kp_steer_set(const char *service, enum kp_steer_mode mode, const __u32 *weights, int n,
		 char *why, size_t len)
{
	struct kp_steer_cfg c;
	__u32 zero = 0, i;
	int cfd, wfd, err = 0;

	if (!kp_steer_name_ok(service)) {
		snprintf(why, len, "bad service name '%.64s'", service);
		return -EINVAL;
	}
	cfd = pinned(service, "cfg");
	if (cfd < 0) {
		snprintf(why, len, "service %s: not attached (" KP_STEER_PIN_ROOT "/%s: %s)",
			 service, service, strerror(errno));
		return -ENOENT;
	}
	wfd = pinned(service, "weights");
	if (wfd < 0 || bpf_map_lookup_elem(cfd, &zero, &c)) {
		snprintf(why, len, "service %s: pinned maps unreadable", service);
		err = -EIO;
		goto out;
	}
	if (weights && n != (int)c.n) {
		snprintf(why, len, "service %s has %u replicas, not %d", service, c.n, n);
		err = -EINVAL;
		goto out;
	}
	/* weights first: the program reads them only once the mode says so */
	for (i = 0; weights && i < c.n; i++)
		if (bpf_map_update_elem(wfd, &i, &weights[i], BPF_ANY))
			err = -errno;
	c.mode = (__u32)mode;
	if (!err && bpf_map_update_elem(cfd, &zero, &c, BPF_ANY))
		err = -errno;
	if (err)
		snprintf(why, len, "service %s: map update: %s", service, strerror(-err));
out:
	close(cfd);
	if (wfd >= 0)
		close(wfd);
	return err;
}

int kp_steer_write(const char *service, const char *text, char *why, size_t len)
{
	__u32 w[KP_STEER_MAX];
	const char *p = text;
	int n = 0;

	if (!strcmp(text, KP_STEER_DEFAULT))
		return kp_steer_detach(service, why, len);
	if (!strcmp(text, "rr"))
		return kp_steer_set(service, KP_STEER_RR, NULL, 0, why, len);
	if (!strcmp(text, "leastconn"))
		return kp_steer_set(service, KP_STEER_LEASTCONN, NULL, 0, why, len);
	while (*p && n < KP_STEER_MAX) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v > 1000000 || (*end && *end != ' ')) {
			snprintf(why, len, "'%.64s': expected weights, default, rr or leastconn", text);
			return -EINVAL;
		}
		w[n++] = (__u32)v;
		p = *end ? end + 1 : end;
	}
	if (*p || !n) {
		snprintf(why, len, "'%.64s': 1 to %d weights", text, KP_STEER_MAX);
		return -EINVAL;
	}
	return kp_steer_set(service, KP_STEER_WEIGHTS, w, n, why, len);
}
