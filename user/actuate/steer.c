// SPDX-License-Identifier: GPL-2.0
/*
 * Attach and detach connection steering (steer.h). The program is tried
 * as sk_reuseport/migrate first (5.14+: a closing replica's pending
 * connections move to another one instead of being reset) and as plain
 * sk_reuseport (4.19+) when the kernel refuses that.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "actuate/steer.h"
#include "steer.skel.h"

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF	52
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF		68
#endif

static const char *const pinned_maps[] = { "cfg", "weights", "slots", "active", "pids" };

static int bpffs(char *why, size_t len)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		snprintf(why, len, "cannot mount bpffs at /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Take pid's fd: pidfd_open (5.3) + pidfd_getfd (5.6). */
static int take_fd(pid_t pid, int fd, char *why, size_t len)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), got;

	if (pfd < 0) {
		snprintf(why, len, "pidfd_open(%d): %s%s", (int)pid, strerror(errno),
			 errno == ENOSYS ? " (needs Linux 5.3+)" : "");
		return -errno;
	}
	got = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	if (got < 0)
		snprintf(why, len, "pidfd_getfd(%d, %d): %s%s", (int)pid, fd, strerror(errno),
			 errno == ENOSYS ? " (needs Linux 5.6+)" : "");
	close(pfd);
	return got < 0 ? -errno : got;
}

static int take_listener(pid_t pid, int port, char *why, size_t len)
{
	int fd, err = kp_steer_find_listener(pid, port, &fd, why, len);

	return err ? err : take_fd(pid, fd, why, len);
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Open and load, the migrate program when the kernel takes it. */
static struct steer_bpf *load(bool *migrate, bool track, char *why, size_t len)
{
	libbpf_print_fn_t old = libbpf_set_print(silent);
	struct steer_bpf *skel;
	int pass, err = 0;

	for (pass = 0; pass < 2; pass++) {
		skel = steer_bpf__open();
		if (!skel) {
			err = -errno;
			break;
		}
		*migrate = pass == 0;
		bpf_program__set_autoload(skel->progs.steer_migrate, *migrate);
		bpf_program__set_autoload(skel->progs.steer_select, !*migrate);
		bpf_program__set_autoload(skel->progs.steer_state, track);
		err = steer_bpf__load(skel);
		if (!err)
			break;
		steer_bpf__destroy(skel);
		skel = NULL;
	}
	libbpf_set_print(old);
	if (!skel)
		snprintf(why, len, "cannot load the sk_reuseport program: %s (needs Linux 4.19+%s)",
			 strerror(-err), track ? "; tracking: raw tracepoint inet_sock_set_state" : "");
	return skel;
}

static int pin_all(struct steer_bpf *skel, const char *service, char *why, size_t len)
{
	struct bpf_map *m[] = { skel->maps.cfg, skel->maps.weights, skel->maps.slots,
				skel->maps.active, skel->maps.pids };
	char path[160];
	size_t i;
	int err;

	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s", service);
	if (mkdir(path, 0700) && errno != EEXIST) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s/%s", service, pinned_maps[i]);
		err = bpf_map__pin(m[i], path);
		if (err) {
			snprintf(why, len, "pin %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

static void unpin_all(const char *service)
{
	char path[160];
	size_t i;

	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s/%s", service, pinned_maps[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s", service);
	rmdir(path);
	rmdir(KP_STEER_PIN_ROOT);
}

/* Slots and settings into the maps, then the program onto the group. */
static int fill(struct steer_bpf *skel, const pid_t *pids, int n, int port,
		enum kp_steer_mode mode, const __u32 *w, bool track, char *why, size_t len)
{
	struct kp_steer_cfg c = { .mode = (__u32)mode, .n = (__u32)n, .track = track,
				  .port = (__u32)port };
	int fds[KP_STEER_MAX], i, err = 0, prog;
	__u32 k, zero = 0;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	for (i = 0; i < n && !err; i++) {
		__u64 v;
		__u32 pid = (__u32)pids[i], one = w ? w[i] : 1;

		k = (__u32)i;
		fds[i] = take_listener(pids[i], port, why, len);
		if (fds[i] < 0) {
			err = fds[i];
			break;
		}
		v = (__u64)fds[i];
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.socks), &k, &v, BPF_ANY)) {
			err = -errno;
			snprintf(why, len, "pid %d: its listener cannot join the sockarray: %s "
				 "(not SO_REUSEPORT, or another group)", (int)pids[i], strerror(errno));
			break;
		}
		bpf_map_update_elem(bpf_map__fd(skel->maps.pids), &k, &pid, BPF_ANY);
		bpf_map_update_elem(bpf_map__fd(skel->maps.weights), &k, &one, BPF_ANY);
	}
	if (!err && bpf_map_update_elem(bpf_map__fd(skel->maps.cfg), &zero, &c, BPF_ANY))
		err = -errno;
	prog = bpf_program__fd(skel->progs.steer_migrate);
	if (prog < 0)
		prog = bpf_program__fd(skel->progs.steer_select);
	if (!err && setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog,
			       sizeof(prog))) {
		err = -errno;
		snprintf(why, len, "SO_ATTACH_REUSEPORT_EBPF: %s", strerror(errno));
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);	/* the replicas keep theirs: the sockets stay */
	return err;
}

int kp_steer_attach(struct kp_steer *st, const char *service, const pid_t *pids, int n,
		    int port, enum kp_steer_mode mode, const __u32 *weights, bool track,
		    char *why, size_t len)
{
	int err;

	memset(st, 0, sizeof(*st));
	if (!kp_steer_name_ok(service) || n < 1 || n > KP_STEER_MAX || port < 1 || port > 65535) {
		snprintf(why, len, "steer %.64s: bad service name, replica count (1-%d) or port",
			 service, KP_STEER_MAX);
		return -EINVAL;
	}
	if (mode == KP_STEER_LEASTCONN && !track) {
		snprintf(why, len, "leastconn needs connection tracking");
		return -EINVAL;
	}
	err = bpffs(why, len);
	if (err)
		return err;
	snprintf(st->service, sizeof(st->service), "%s", service);
	st->skel = load(&st->migrate, track, why, len);
	if (!st->skel)
		return -ENOTSUP;
	err = fill(st->skel, pids, n, port, mode, weights, track, why, len);
	if (!err && track) {
		err = steer_bpf__attach(st->skel);
		if (err)
			snprintf(why, len, "raw tracepoint inet_sock_set_state: %s", strerror(-err));
		st->tracking = !err;
	}
	err = err ?: pin_all(st->skel, service, why, len);
	if (err) {
		char w2[128];

		kp_steer_detach(service, w2, sizeof(w2));
		kp_steer_release(st);
		return err;
	}
	st->n = n;
	return 0;
}

void kp_steer_release(struct kp_steer *st)
{
	if (st->skel)
		steer_bpf__destroy(st->skel);
	st->skel = NULL;
}

int kp_steer_detach(const char *service, char *why, size_t len)
{
	struct kp_steer_stats s;
	int err, fd = -1, cfd;
	__u32 i, zero = 0, pid;
	char path[160];

	err = kp_steer_stats_read(service, &s);
	if (err == -ENOENT)
		return 0;		/* nothing attached: the default is in force */
	if (err) {
		snprintf(why, len, "service %s: pinned maps unreadable: %s", service, strerror(-err));
		return err;
	}
	/* the kernel's hash at once, whether or not a replica can be reached */
	s.cfg.mode = KP_STEER_HASH;
	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s/cfg", service);
	cfd = bpf_obj_get(path);
	if (cfd < 0 || bpf_map_update_elem(cfd, &zero, &s.cfg, BPF_ANY)) {
		snprintf(why, len, "service %s: cannot set mode hash: %s", service, strerror(errno));
		err = -errno;
	}
	if (cfd >= 0)
		close(cfd);
	if (err)
		return err;
	snprintf(path, sizeof(path), KP_STEER_PIN_ROOT "/%s/pids", service);
	cfd = bpf_obj_get(path);
	for (i = 0; cfd >= 0 && fd < 0 && i < s.cfg.n && i < KP_STEER_MAX; i++)
		if (!bpf_map_lookup_elem(cfd, &i, &pid) && pid)
			fd = take_listener((pid_t)pid, (int)s.cfg.port, why, len);
	if (cfd >= 0)
		close(cfd);
	/* no replica left: the group went with its sockets, nothing to detach */
	if (fd >= 0) {
		if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero)) &&
		    errno != ENOENT) {
			snprintf(why, len, "SO_DETACH_REUSEPORT_BPF: %s (mode hash is set)",
				 strerror(errno));
			err = -errno;
		}
		close(fd);
	}
	unpin_all(service);
	return err;
}
