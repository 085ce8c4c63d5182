// SPDX-License-Identifier: GPL-2.0
/* Pin the observer's maps under opts.pin_dir (bpffs) for bpftool, and unpin them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/libbpf.h>
#include "observe/observer_int.h"
#include "sched.skel.h"
#include "block.skel.h"
#include "tcp.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static int ensure_bpffs(const char *dir, char *why, size_t len)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		goto mkdir;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		snprintf(why, len, "cannot mount bpffs at /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
mkdir:
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, len, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int pin_one(struct kp_observer *obs, struct bpf_map *m, const char *name,
		   char *why, size_t len)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", obs->opts.pin_dir, name);
	unlink(path);	/* a map a previous --keep-pinned run left */
	ret = bpf_map__pin(m, path);
	if (ret) {
		snprintf(why, len, "cannot pin %s: %s", path, strerror(-ret));
		return ret;
	}
	obs->pin_names[obs->npinned++] = name;
	return 0;
}

int kp_obs_pin_maps(struct kp_observer *obs, char *why, size_t len)
{
	int ret = ensure_bpffs(obs->opts.pin_dir, why, len);

	ret = ret ?: pin_one(obs, obs->sched->maps.members, "members", why, len);
	if (!obs->btf_mode)
		ret = ret ?: pin_one(obs, obs->sched->maps.task_hash, "task_hash", why, len);
	ret = ret ?: pin_one(obs, obs->block->maps.proc_stats, "proc_stats", why, len);
	ret = ret ?: pin_one(obs, obs->block->maps.dev_stats, "dev_stats", why, len);
	ret = ret ?: pin_one(obs, obs->block->maps.inflight, "inflight", why, len);
	ret = ret ?: pin_one(obs, obs->tcp->maps.sock_owner, "sock_owner", why, len);
	ret = ret ?: pin_one(obs, obs->tcp->maps.listeners, "listeners", why, len);
	ret = ret ?: pin_one(obs, obs->sched->maps.bss, "sched_cpu_stats", why, len);
	obs->pinned = true;
	return ret;
}

void kp_obs_unpin_maps(struct kp_observer *obs)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < obs->npinned; i++) {
		snprintf(path, sizeof(path), "%s/%s", obs->opts.pin_dir, obs->pin_names[i]);
		unlink(path);
	}
	rmdir(obs->opts.pin_dir);
	obs->npinned = 0;
}
