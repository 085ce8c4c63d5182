// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "intent/hostfacts.h"
#include "lib/text.h"
#include "safety/knob.h"

const char *const kp_tool_names[KP_TOOL_N] = {
	"pgbench", "psql", "postgres", "fio", "sysbench", "wrk", "nginx",
};

/* root + rel, rel starting with '/'; root "" or "/" is this host. */
static void at(const char *root, const char *rel, char *buf, size_t len)
{
	size_t n = root ? strlen(root) : 0;

	while (n && root[n - 1] == '/')
		n--;
	snprintf(buf, len, "%.*s%s", (int)n, n ? root : "", rel);
}

/* The first line of root/rel, trimmed; -1 when unreadable. */
static int read_line(const char *root, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	at(root, rel, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int read_meminfo(const char *root, struct kp_host_facts *h, char *why, size_t len)
{
	char path[PATH_MAX], line[256];
	unsigned long long kb;
	FILE *f;

	at(root, "/proc/meminfo", path, sizeof(path));
	f = fopen(path, "r");
	if (!f) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			h->mem_mb = kb / 1024;
		else if (sscanf(line, "SwapTotal: %llu kB", &kb) == 1)
			h->swap_mb = kb / 1024;
	}
	fclose(f);
	return 0;
}

static int count_bits(const unsigned long long *bits, int nwords)
{
	int i, n = 0;

	for (i = 0; i < nwords; i++)
		n += __builtin_popcountll(bits[i]);
	return n;
}

static void read_cpus(const char *root, struct kp_host_facts *h)
{
	unsigned long long bits[KP_CPUS_MAX / 64];
	char line[512], path[PATH_MAX];
	glob_t g;

	h->cpus = 1;
	if (!read_line(root, "/sys/devices/system/cpu/online", line, sizeof(line)) &&
	    !kp_cpulist_parse(line, bits, NULL, 0))
		h->cpus = count_bits(bits, KP_CPUS_MAX / 64) ?: 1;
	at(root, "/sys/devices/system/node/node[0-9]*", path, sizeof(path));
	h->numa_nodes = 1;
	if (!glob(path, GLOB_ONLYDIR, NULL, &g))
		h->numa_nodes = g.gl_pathc ?: 1;
	globfree(&g);
}

/* Not a disk a benchmark would write to. */
static bool pseudo_disk(const char *n)
{
	static const char *const skip[] = { "loop", "ram", "zram", "sr", "fd", "nbd", NULL };
	int i;

	for (i = 0; skip[i]; i++)
		if (!strncmp(n, skip[i], strlen(skip[i])))
			return true;
	return n[0] == '.';
}

static bool disk_rotational(const char *root, const char *name)
{
	char rel[128], line[16];

	snprintf(rel, sizeof(rel), "/sys/block/%s/queue/rotational", name);
	return !read_line(root, rel, line, sizeof(line)) && line[0] == '1';
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct kp_host_disk *)a)->name, ((const struct kp_host_disk *)b)->name);
}

/* /sys/block in name order: readdir's order differs between hosts and runs. */
static void read_disks(const char *root, struct kp_host_facts *h)
{
	char path[PATH_MAX], rel[128], line[64];
	struct kp_host_disk *d;
	struct dirent *e;
	DIR *dir;

	at(root, "/sys/block", path, sizeof(path));
	dir = opendir(path);
	if (!dir)
		return;
	while ((e = readdir(dir)) && h->ndisks < KP_HOST_MAX_DISKS) {
		if (pseudo_disk(e->d_name) || strlen(e->d_name) >= sizeof(d->name))
			continue;
		d = &h->disks[h->ndisks++];
		snprintf(d->name, sizeof(d->name), "%s", e->d_name);
		d->rotational = disk_rotational(root, d->name);
		snprintf(rel, sizeof(rel), "/sys/block/%s/size", d->name);
		if (!read_line(root, rel, line, sizeof(line)))
			d->size_mb = strtoull(line, NULL, 10) / 2048;	/* 512-byte sectors */
	}
	closedir(dir);
	qsort(h->disks, h->ndisks, sizeof(h->disks[0]), by_name);
}

/*
 * The disk under /var/tmp: its device number, /sys/dev/block/MAJ:MIN ->
 * .../block/<disk>[/<partition>]. Nothing for tmpfs and overlays (major 0).
 */
static void read_tmp_disk(const char *root, struct kp_host_facts *h)
{
	char path[PATH_MAX], link[PATH_MAX], rel[64], *p, *slash;
	struct stat st;
	ssize_t n;

	at(root, "/var/tmp", path, sizeof(path));
	if (stat(path, &st) || !major(st.st_dev))
		return;
	snprintf(rel, sizeof(rel), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	at(root, rel, path, sizeof(path));
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return;
	link[n] = '\0';
	p = strstr(link, "/block/");
	if (!p)
		return;
	p += strlen("/block/");
	slash = strchr(p, '/');
	if (slash)
		*slash = '\0';
	snprintf(h->tmp_disk, sizeof(h->tmp_disk), "%s", p);
	h->tmp_rotational = disk_rotational(root, h->tmp_disk);
}

static void read_cgroup(const char *root, struct kp_host_facts *h)
{
	char line[512], path[PATH_MAX];
	struct stat st;

	if (!read_line(root, "/sys/fs/cgroup/cgroup.controllers", line, sizeof(line))) {
		h->cgroup_version = 2;
		h->cgroup_cpu = kp_word_in(line, "cpu");
		return;
	}
	at(root, "/sys/fs/cgroup/cpu", path, sizeof(path));
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		h->cgroup_version = 1;
		h->cgroup_cpu = true;
	}
}

static void read_distro(const char *root, struct kp_host_facts *h)
{
	char path[PATH_MAX], line[256], ids[512] = " ";
	FILE *f;

	at(root, "/etc/os-release", path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "ID=", 3) || !strncmp(line, "ID_LIKE=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			strncat(ids, strchr(line, '=') + 1, sizeof(ids) - strlen(ids) - 2);
			strcat(ids, " ");
		}
	fclose(f);
	for (char *q = ids; *q; q++)
		if (*q == '"')
			*q = ' ';
	if (strstr(ids, " debian ") || strstr(ids, " ubuntu "))
		strcpy(h->distro, "debian");
	else if (strstr(ids, " fedora ") || strstr(ids, " rhel ") || strstr(ids, " centos ") ||
		 strstr(ids, " openEuler ") || strstr(ids, " openeuler "))
		strcpy(h->distro, "fedora");
}

/* A local server's Unix socket where Debian, Fedora or a default build put it. */
static void read_pg_socket(const char *root, struct kp_host_facts *h)
{
	static const char *const where[] = { "/run/postgresql/.s.PGSQL.*",
					     "/var/run/postgresql/.s.PGSQL.*", "/tmp/.s.PGSQL.*", NULL };
	char path[PATH_MAX];
	glob_t g;
	int i;

	for (i = 0; where[i] && !h->pg_socket; i++) {
		at(root, where[i], path, sizeof(path));
		if (!glob(path, GLOB_PERIOD, NULL, &g))
			h->pg_socket = g.gl_pathc > 0;
		globfree(&g);
	}
}

static bool executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* dir (a PATH entry, or a glob for the server's private directories) / tool under root. */
static bool found_in(const char *root, const char *dir, const char *tool, char *out, size_t len)
{
	char rel[PATH_MAX], path[PATH_MAX];
	bool ok = false;
	glob_t g;
	size_t i;

	if (dir[0] != '/')	/* a relative PATH entry depends on the working directory */
		return false;
	snprintf(rel, sizeof(rel), "%s/%s", dir, tool);
	at(root, rel, path, sizeof(path));
	if (!strchr(dir, '*')) {
		ok = executable(path);
		if (ok)
			snprintf(out, len, "%s", rel);
		return ok;
	}
	if (glob(path, 0, NULL, &g))
		return false;
	for (i = 0; i < g.gl_pathc && !ok; i++)	/* glob sorts: the lowest version first */
		if (executable(g.gl_pathv[i])) {
			ok = true;
			snprintf(out, len, "%s", g.gl_pathv[i] + (strlen(path) - strlen(rel)));
		}
	globfree(&g);
	return ok;
}

static void find_tools(const char *root, const char *path, struct kp_host_facts *h)
{
	static const char *const extra[] = { "/usr/sbin", "/sbin", "/usr/lib/postgresql/*/bin",
					     "/usr/pgsql-*/bin", NULL };
	char dirs[4096], *tok, *save;
	int t, i;

	for (t = 0; t < KP_TOOL_N; t++) {
		snprintf(dirs, sizeof(dirs), "%s", path);
		for (tok = strtok_r(dirs, ":", &save); tok && !h->tool_path[t][0];
		     tok = strtok_r(NULL, ":", &save))
			found_in(root, tok, kp_tool_names[t], h->tool_path[t], sizeof(h->tool_path[t]));
		for (i = 0; extra[i] && !h->tool_path[t][0]; i++)
			found_in(root, extra[i], kp_tool_names[t], h->tool_path[t],
				 sizeof(h->tool_path[t]));
	}
}

int kp_host_facts_read(const char *root, const char *path, struct kp_host_facts *h,
		       char *why, size_t len)
{
	int err;

	memset(h, 0, sizeof(*h));
	err = read_meminfo(root, h, why, len);
	if (err)
		return err;
	read_cpus(root, h);
	read_disks(root, h);
	read_tmp_disk(root, h);
	read_cgroup(root, h);
	read_distro(root, h);
	read_pg_socket(root, h);
	if (!path)
		path = getenv("PATH");
	find_tools(root, path ? path : "/usr/local/bin:/usr/bin:/bin", h);
	return 0;
}

void kp_host_facts_line(const struct kp_host_facts *h, char *buf, size_t len)
{
	char swap[48], tmp[96];

	if (h->swap_mb)
		snprintf(swap, sizeof(swap), "%llu MiB swap", h->swap_mb);
	else
		snprintf(swap, sizeof(swap), "no swap");
	if (h->tmp_disk[0])
		snprintf(tmp, sizeof(tmp), "/var/tmp on %s (%s)", h->tmp_disk,
			 h->tmp_rotational ? "rotational" : "not rotational");
	else
		snprintf(tmp, sizeof(tmp), "/var/tmp on no block device kpilot can name");
	snprintf(buf, len, "%llu MiB memory, %s, %d CPU%s, %d NUMA node%s, %s, %s",
		 h->mem_mb, swap, h->cpus, h->cpus == 1 ? "" : "s", h->numa_nodes,
		 h->numa_nodes == 1 ? "" : "s",
		 h->cgroup_version ? (h->cgroup_version == 2 ? "cgroup v2" : "cgroup v1") :
		 "no cgroup cpu hierarchy", tmp);
}
