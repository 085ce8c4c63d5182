// SPDX-License-Identifier: GPL-2.0
/*
 * textpoke: report every live patch of kernel text, as it happens.
 *   textpoke [PREFIX [READY]]
 * Creates the file READY once it watches, then prints "PREFIX: kernel text patched at SYMBOL+0xOFF (N bytes)" for each
 * PERF_RECORD_TEXT_POKE (Linux >= 5.9: jump labels, static calls, kprobes,
 * BPF trampolines and tail calls), one per-CPU dummy event each, since perf
 * hands side-band records only to the CPU that emitted them.
 *
 * Why: qemu 7.2's multi-threaded TCG can run a stale translation of text
 * another vCPU just patched (testing.md, "Fixed: an emulator hang while
 * tracepoints flip"), which hangs or oopses the guest. make vmtest holds the
 * static keys the tests would flip; this names any it missed, in every run,
 * instead of one run in ten hanging.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define DATA_PAGES 32		/* 128 KiB per CPU: a static key flip is a burst of ~40 pokes */
#define MAX_CPUS 64

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
	size_t size;
};

static const char *prefix = "textpoke";
static volatile sig_atomic_t stop;

/* SIGTERM: the command is over; report what is still in the rings, then go. */
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

struct sym {
	uint64_t addr;
	char *name;		/* "name" or "name [module]" */
};

static struct sym *syms;
static size_t nsyms;

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The text symbols, sorted: under TCG a scan of /proc/kallsyms per poke
 * takes a second, and pokes come in bursts. Read again for an address past
 * them all (a module loaded since). */
static void syms_load(void)
{
	char line[512], name[256], mod[128];
	size_t cap = 0, i;
	uint64_t a;
	FILE *f = fopen("/proc/kallsyms", "r");
	char t;
	int n;

	for (i = 0; i < nsyms; i++)
		free(syms[i].name);
	nsyms = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		mod[0] = 0;
		n = sscanf(line, "%" SCNx64 " %c %255s %127s", &a, &t, name, mod);
		if (n < 3 || (t != 't' && t != 'T') || !a)
			continue;
		if (nsyms == cap) {
			struct sym *m = realloc(syms, (cap = cap ? 2 * cap : 65536) * sizeof(*syms));

			if (!m)
				break;
			syms = m;
		}
		syms[nsyms].addr = a;
		if (asprintf(&syms[nsyms].name, "%s%s%s", name, n == 4 ? " " : "", n == 4 ? mod : "") < 0)
			break;
		nsyms++;
	}
	fclose(f);
	qsort(syms, nsyms, sizeof(*syms), sym_cmp);
}

static void symbolize(uint64_t addr, char *out, size_t len)
{
	size_t lo = 0, hi;

	if (!nsyms || addr > syms[nsyms - 1].addr + (1 << 20))
		syms_load();
	hi = nsyms;
	while (lo < hi) {	/* the first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo)
		snprintf(out, len, "%s+0x%" PRIx64, syms[lo - 1].name, addr - syms[lo - 1].addr);
	else
		snprintf(out, len, "0x%" PRIx64, addr);
}

static int ring_open(struct ring *r, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.text_poke = 1,
		.watermark = 1,
		.wakeup_watermark = 1,
	};
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	r->fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->size = (size_t)page * DATA_PAGES;
	m = mmap(NULL, (size_t)page + r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED) {
		close(r->fd);
		return -errno;
	}
	r->meta = m;
	r->data = (char *)m + page;
	return 0;
}

static void report(const struct perf_event_header *h)
{
	struct poke {
		struct perf_event_header h;
		uint64_t addr;
		uint16_t old_len, new_len;
	} p;
	char sym[512];

	if (h->type == PERF_RECORD_LOST) {
		printf("%s: kernel text patched, records lost\n", prefix);
		return;
	}
	if (h->type != PERF_RECORD_TEXT_POKE || h->size < sizeof(p))
		return;
	memcpy(&p, h, sizeof(p));
	symbolize(p.addr, sym, sizeof(sym));
	printf("%s: kernel text patched at %s (%u bytes)\n", prefix, sym, p.new_len);
}

/* Copy each record out of the ring (it may wrap), then hand it on. */
static void ring_drain(struct ring *r)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	char rec[4096];

	while (tail < head) {
		struct perf_event_header h;
		size_t off = tail % r->size, i;

		for (i = 0; i < sizeof(h); i++)
			((char *)&h)[i] = r->data[(off + i) % r->size];
		if (h.size < sizeof(h))
			break;
		if (h.size <= sizeof(rec)) {
			for (i = 0; i < h.size; i++)
				rec[i] = r->data[(off + i) % r->size];
			report((struct perf_event_header *)rec);
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, head, __ATOMIC_RELEASE);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct ring rings[MAX_CPUS];
	struct pollfd pfd[MAX_CPUS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int i, n = 0, err = 0;

	if (argc > 1)
		prefix = argv[1];
	if (ncpu > MAX_CPUS)
		ncpu = MAX_CPUS;
	for (i = 0; i < ncpu; i++) {
		err = ring_open(&rings[n], i);
		if (err) {
			printf("%s: cannot watch kernel text patching on CPU %d: %s "
			       "(perf text_poke records need Linux >= 5.9)\n", prefix, i, strerror(-err));
			return 1;
		}
		pfd[n].fd = rings[n].fd;
		pfd[n].events = POLLIN;
		n++;
	}
	signal(SIGTERM, on_term);
	printf("%s: watching kernel text patching on %d CPUs\n", prefix, n);
	fflush(stdout);
	if (argc > 2 && (err = open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(err);
	/* the rings hold what comes meanwhile */
	syms_load();
	while (!stop) {
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++)
			ring_drain(&rings[i]);
	}
	return 0;
}
