// SPDX-License-Identifier: GPL-2.0
/*
 * Provocation test for the observer's kernel-safety rule: attach, run and
 * detach the observer repeatedly while the machine is short of memory and
 * busy creating tasks. An allocation in a BPF program under the runqueue
 * lock (task storage created in sched_switch on 5.13-6.3) wakes kswapd, whose
 * wakeup spins on that same lock: the guest hangs (Documentation/design.md,
 * "Kernel safety"). The pressure makes the allocator's slow path, and so
 * that wakeup, likely; the task churn makes storage creation frequent.
 *
 * In the VM guest (KPILOT_VMTEST=1, run with VMTEST_MEM=512M) it fills all
 * but 96 MiB of available memory, then a thread keeps what is available
 * hovering around 32 MiB (squeeze(); at 16 MiB the OOM killer took the hog
 * in 2 of 3 runs, 2026-12-01); 500 long-lived threads, 4 cycles per
 * mode. On the host a small version (64 MiB, 16 MiB churn, 100
 * threads, 3 cycles) keeps the shared machine usable.
 * KPILOT_STRESS_{CYCLES,THREADS,HOG_MB,FLOOR_MB} override; in the guest
 * KPILOT_STRESS_HOLES=1 is the mode that hangs the unfixed observer (below).
 *
 * It also checks the observer still sees what it must under the churn:
 * threads alive before attach (their task storage comes from the start-up
 * iterator) and processes born after it (from task_newtask).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "observe/observer.h"

struct stress {
	FILE *console;		/* in the guest: progress on its console, live */
	int cycles, threads;
	long hog_mb, floor_mb;	/* floor: squeeze down to this much available (0: 16 MiB churn) */
	int holes;		/* holes mode (below) */
	int req[2], ack[2];	/* holes mode: the test asks the hog to refill and punch */
	char knobs[4][64];	/* holes mode: guest vm knobs' old values ("": unchanged) */
	pid_t hog, storm;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

/* A /proc/meminfo line's value in kB ("MemAvailable: %ld kB"), -1 if none. */
static long meminfo_kb(const char *fmt)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static long mem_available_mb(void)
{
	long kb = meminfo_kb("MemAvailable: %ld kB");

	return kb < 0 ? -1 : kb / 1024;
}

static void plan(struct stress *s)
{
	bool guest = getenv("KPILOT_VMTEST") && !strcmp(getenv("KPILOT_VMTEST"), "1");
	long avail = mem_available_mb();

	s->cycles = env_long("KPILOT_STRESS_CYCLES", guest ? 4 : 3);
	s->threads = env_long("KPILOT_STRESS_THREADS", guest ? 500 : 100);
	s->hog_mb = env_long("KPILOT_STRESS_HOG_MB", guest ? avail - 96 : 64);
	s->floor_mb = env_long("KPILOT_STRESS_FLOOR_MB", guest ? 32 : 0);
	/* Fills the machine's memory: only in a throwaway guest. */
	s->holes = guest ? env_long("KPILOT_STRESS_HOLES", 0) : 0;
	if (s->holes)
		s->hog_mb = s->floor_mb = 0;	/* the holes are the pressure */
	if (s->hog_mb > avail - 64)
		s->hog_mb = avail - 64;	/* pressure, not the OOM killer */
	if (s->hog_mb < 0)
		s->hog_mb = 0;
	/* A timeout with progress lines is slowness; one without is a hang. */
	s->console = guest ? fopen("/dev/console", "w") : NULL;
}

static void progress(const struct stress *s, const char *what, int n)
{
	if (s->console) {
		fprintf(s->console, "observer_stress: %s %d\n", what, n);
		fflush(s->console);
	}
}

static void touch(char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
}

/*
 * Long-lived thread: wakes and sleeps, a switch-out every 20 ms. Not
 * faster: under TCG 500 of them would starve the test itself.
 */
static void *sleeper(void *arg)
{
	struct timespec ts = { 0, 20000000 };

	(void)arg;
	for (;;)
		nanosleep(&ts, NULL);
	return NULL;
}

static void *nothing(void *arg)
{
	return arg;
}

/* Short-lived threads, one after another: new task storage all the time. */
static void *churn(void *arg)
{
	pthread_t t;

	(void)arg;
	for (;;) {
		if (!pthread_create(&t, NULL, nothing, NULL))
			pthread_join(t, NULL);
		usleep(2000);
	}
	return NULL;
}

/*
 * Keep the allocator near its watermarks: map and touch a 4 MiB chunk while
 * more than floor_mb + 8 MiB is available, unmap one below floor_mb, a step
 * every 20 ms. Hovering, not cycling: kswapd may sleep in between, and its
 * wakeups are what deadlocked (a constant squeeze keeps it awake, so the
 * wakeups find nothing to wake). Without a floor: 16 MiB mapped and unmapped.
 */
static void *squeeze(void *arg)
{
	const struct stress *s = arg;
	size_t len = 4UL << 20;
	char *chunk[256];
	int n = 0;
	long avail;

	for (;;) {
		avail = s->floor_mb ? mem_available_mb() : (n < 4 ? 1L << 30 : 0);
		if (avail > s->floor_mb + 8 && n < 256) {
			chunk[n] = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (chunk[n] != MAP_FAILED)
				touch(chunk[n++], len);
		} else if (avail < s->floor_mb || (!s->floor_mb && n)) {
			while (n && (!s->floor_mb || avail < s->floor_mb)) {
				munmap(chunk[--n], len);
				if (s->floor_mb)
					break;
			}
		}
		usleep(20000);
	}
	return NULL;
}

/*
 * Holes mode (KPILOT_STRESS_HOLES=1): before each attach the hog touches
 * pages until the biggest zone is 64 pages above its low watermark, then
 * frees every page whose physical frame is odd and whose even buddy it
 * holds. Free memory is then plenty but in single pages, so a GFP_ATOMIC
 * slab page of order >= 1 (6.1's task storage element is in kmalloc-cg-512:
 * order 1 with 2 CPUs, 2 from 8 or slub_min_objects=32) misses the
 * allocator's fast path, and the slow path wakes kswapd (or kcompactd) on
 * every such miss, not only below the low watermark, which the other modes
 * seldom reach (testing.md, "Provoking the deadlock").
 */
struct frame {
	unsigned long pfn;
	size_t i;
};

struct holes {
	char *base;
	unsigned char *in;	/* page i is resident */
	struct frame *f;
	size_t npages;
};

static int by_pfn(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* Free pages above the low watermark in the zone with the most pages. */
static long above_low(void)
{
	char line[160];
	long v, managed = 0, free = 0, low = 0, fr = 0, lo = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " pages free %ld", &v) == 1)
			fr = v;
		else if (sscanf(line, " low %ld", &v) == 1)
			lo = v;
		else if (sscanf(line, " managed %ld", &v) == 1 && v > managed) {
			managed = v;
			free = fr;
			low = lo;
		}
	}
	fclose(f);
	return managed ? free - low : -1;
}

static void refill(struct holes *h)
{
	size_t i, n = 0;

	for (i = 0; i < h->npages; i++) {
		if (h->in[i])
			continue;
		h->base[i * 4096] = 1;
		h->in[i] = 1;
		if (++n % 64 == 0 && above_low() < 64)
			break;
	}
}

/* Pages freed: odd frames whose even buddy stays, none in the DMA zone (16 MiB). */
static long punch(struct holes *h)
{
	size_t i, n = 0, len = h->npages * sizeof(__u64);
	__u64 *pm = malloc(len);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long freed = 0;

	if (fd < 0 || !pm || pread(fd, pm, len, (uintptr_t)h->base / 4096 * 8) != (ssize_t)len)
		goto cleanup;
	for (i = 0; i < h->npages; i++)
		if (h->in[i] && (pm[i] >> 63) && (pm[i] & ((1ULL << 55) - 1)))
			h->f[n++] = (struct frame){ pm[i] & ((1ULL << 55) - 1), i };
	qsort(h->f, n, sizeof(*h->f), by_pfn);
	for (i = 1; i < n; i++) {
		struct frame *f = &h->f[i];

		if (f->pfn & 1 && f->pfn >= 4096 && f[-1].pfn == f->pfn - 1 &&
		    !madvise(h->base + f->i * 4096, 4096, MADV_DONTNEED)) {
			h->in[f->i] = 0;
			freed++;
		}
	}
cleanup:
	if (fd >= 0)
		close(fd);
	free(pm);
	return freed;
}

/* The hog's main thread in holes mode: a refill and punch per request. */
static void holes_serve(const struct stress *s)
{
	struct holes h = { .npages = meminfo_kb("MemTotal: %ld kB") / 4 };
	size_t len = h.npages * 4096;
	long freed;
	char c;

	h.base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	h.in = calloc(h.npages, 1);
	h.f = calloc(h.npages, sizeof(*h.f));
	if (h.base == MAP_FAILED || !h.in || !h.f)
		_exit(6);
	madvise(h.base, len, MADV_NOHUGEPAGE);	/* single pages, not 2 MiB ones */
	while (read(s->req[0], &c, 1) == 1) {
		refill(&h);
		freed = punch(&h);
		if (write(s->ack[1], &freed, sizeof(freed)) != sizeof(freed))
			_exit(5);
	}
	_exit(0);
}

/* Free blocks of order >= 1 in a zone, from /proc/buddyinfo (-1: none). */
static long blocks_above_order0(const char *zone)
{
	char line[256], name[32];
	long n = -1, c;
	int off, k;
	FILE *f = fopen("/proc/buddyinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %*d, zone %31s%n", name, &off) != 1 || strcmp(name, zone))
			continue;
		char *p = line + off;

		for (n = 0, k = 0; sscanf(p, "%ld%n", &c, &off) == 1; p += off, k++)
			n += k ? c : 0;
	}
	fclose(f);
	return n;
}

/*
 * The guest's vm knobs in holes mode, restored at the end: no proactive
 * compaction (it fills the holes; under TCG it ran 21 s without a break, an
 * RCU stall report, 2026-12-01); lowmem_reserve_ratio's DMA entry 1 (the
 * DMA zone's free blocks, out of the hog's reach, serve no DMA32 request);
 * during a refill only, min_free_kbytes 256 and no watermark boost, so the
 * hog takes DMA32 down to a few hundred pages, few in blocks of order >= 1.
 */
enum { K_PROACTIVE, K_LOWMEM, K_MINFREE, K_BOOST, K_N };
static const char *const knob_path[K_N] = {
	"/proc/sys/vm/compaction_proactiveness", "/proc/sys/vm/lowmem_reserve_ratio",
	"/proc/sys/vm/min_free_kbytes", "/proc/sys/vm/watermark_boost_factor",
};

/* Write v, saving the old value first; v NULL: write the saved one back. */
static void knob_set(struct stress *s, int k, const char *v)
{
	char *old = s->knobs[k];
	FILE *f;

	if (!old[0] && v && (f = fopen(knob_path[k], "r"))) {
		old[fread(old, 1, sizeof(s->knobs[k]) - 1, f)] = 0;
		fclose(f);
	}
	if (old[0] && (f = fopen(knob_path[k], "w"))) {
		fputs(v ? v : old, f);
		fclose(f);
	}
	if (!v)
		old[0] = 0;
}

static void knobs_holes(struct stress *s, bool on)
{
	char v[80];

	for (int k = 0; s->holes && !on && k < K_N; k++)
		knob_set(s, k, NULL);
	if (!s->holes || !on)
		return;
	knob_set(s, K_PROACTIVE, "0");
	knob_set(s, K_LOWMEM, "256");	/* saves the old line; the DMA entry is first */
	snprintf(v, sizeof(v), "1%s", s->knobs[K_LOWMEM] + strcspn(s->knobs[K_LOWMEM], " \t"));
	knob_set(s, K_LOWMEM, v);
}

/*
 * Holes mode, before each attach: the hog refills (the holes first, then
 * the blocks compaction and frees made meanwhile) and punches again.
 */
static void holes_cycle(struct stress *s, int n)
{
	char msg[160];
	long freed;

	if (!s->holes)
		return;
	knob_set(s, K_MINFREE, "256");
	knob_set(s, K_BOOST, "0");
	cr_assert_eq(write(s->req[1], "h", 1), 1);
	cr_assert_eq(read(s->ack[0], &freed, sizeof(freed)), (ssize_t)sizeof(freed),
		     "cycle %d: the memory hog did not refill", n);
	knob_set(s, K_MINFREE, NULL);
	knob_set(s, K_BOOST, NULL);
	snprintf(msg, sizeof(msg), "holes: %ld pages punched, %ld MiB free, %ld free blocks of "
		 "order >= 1 in DMA32", freed, meminfo_kb("MemFree: %ld kB") / 1024,
		 blocks_above_order0("DMA32"));
	cr_log_info("cycle %d: %s", n, msg);
	if (s->console) {
		fprintf(s->console, "observer_stress: %s\n", msg);
		fflush(s->console);
	}
}

/* The memory hog with its threads: never returns. */
static void hog_main(const struct stress *s, int ready)
{
	size_t len = (size_t)s->hog_mb << 20;
	pthread_attr_t a;
	pthread_t t;
	char *p;
	int i;

	if (len) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(3);
		touch(p, len);
	}
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 << 10);
	for (i = 0; i < s->threads; i++)
		if (pthread_create(&t, &a, sleeper, NULL))
			_exit(4);
	if (pthread_create(&t, &a, churn, NULL) ||
	    (!s->holes && pthread_create(&t, &a, squeeze, (void *)s)))
		_exit(4);
	if (write(ready, "r", 1) != 1)
		_exit(5);
	if (s->holes)
		holes_serve(s);
	for (;;)
		pause();
}

/* The fork/exec storm: a short-lived process at a time, each exec'ing true. */
static void storm_main(void)
{
	char *argv[] = { "true", NULL };
	pid_t c;

	for (;;) {
		c = fork();
		if (c == 0) {
			execvp("true", argv);
			_exit(127);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
		usleep(5000);
	}
}

/* Children die with the test (a Criterion crash included). */
static pid_t spawn_child(pid_t pgid, void (*body)(const struct stress *, int),
			 const struct stress *s, int ready)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, pgid);
		body(s, ready);
		_exit(0);
	}
	setpgid(pid, pgid ? pgid : pid);
	return pid;
}

static void storm_body(const struct stress *s, int ready)
{
	(void)s;
	(void)ready;
	storm_main();
}

static void start(struct stress *s)
{
	int p[2];
	char c;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(s->req), 0);
	cr_assert_eq(pipe(s->ack), 0);
	/* Reap the storm's orphans too, so none outlives the test. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	knobs_holes(s, true);
	s->hog = spawn_child(0, hog_main, s, p[1]);
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1, "the memory hog (%ld MiB, %d threads) did not start",
		     s->hog_mb, s->threads);
	close(p[0]);
	s->storm = spawn_child(s->hog, storm_body, s, -1);
}

static void stop(struct stress *s)
{
	int st;

	kill(-s->hog, SIGKILL);
	while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
		;
	cr_assert_eq(kill(-s->hog, 0), -1, "processes of the stress group left behind");
	cr_assert_eq(errno, ESRCH);
	close(s->req[0]);
	close(s->req[1]);
	close(s->ack[0]);
	close(s->ack[1]);
	knobs_holes(s, false);
}

/* The workload must survive: a dead hog (the OOM killer) reports nothing. */
static void alive(const struct stress *s, int n)
{
	int st;

	cr_assert_eq(waitpid(s->hog, &st, WNOHANG), 0, "cycle %d: the memory hog died (signal %d)",
		     n, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert_eq(waitpid(s->storm, &st, WNOHANG), 0, "cycle %d: the fork storm died", n);
}

/* One cycle: attach, watch both, poll for `ms`, check what was seen, detach. */
/* Processes in the last interval other than the hog and the storm: its children. */
static size_t children_seen(struct kp_observer *obs, const struct stress *s)
{
	struct kp_entity *all;
	size_t i, nprocs, born = 0;

	all = kp_table_sorted(&kp_observer_interval(obs)->procs, &nprocs);
	for (i = 0; i < nprocs; i++)
		born += all[i].id != (__u32)s->hog && all[i].id != (__u32)s->storm;
	free(all);
	return born;
}

/*
 * Both checks look at every interval of the cycle, not only the last: a
 * loaded guest may give the storm or the sleepers no CPU in one 100 ms.
 */
static void cycle(const struct stress *s, bool legacy, int n, int ms)
{
	struct kp_observer_opts o = { .interval_ms = 100, .legacy = legacy, .filter = true };
	struct kp_observer *obs;
	struct kp_entity *e;
	unsigned int old_threads = 0;
	size_t born = 0;
	char err[512];
	int t;

	cr_assert_eq(kp_observer_open(&obs, &o, err, sizeof(err)), 0, "cycle %d: %s", n, err);
	cr_assert_str_eq(kp_observer_mode(obs), legacy ? "raw_tp" : "tp_btf");
	cr_assert_eq(kp_observer_watch_pid(obs, s->hog), 0);
	cr_assert_eq(kp_observer_watch_pid(obs, s->storm), 0);
	for (t = 0; t < ms; t += 100) {
		usleep(100000);
		cr_assert_eq(kp_observer_poll(obs), 0);
		e = kp_table_find(&kp_observer_interval(obs)->procs, s->hog);
		if (e && e->nthreads > old_threads)
			old_threads = e->nthreads;
		born += children_seen(obs, s);
	}
	alive(s, n);
	/* The sleepers predate the attach: the start-up iterator gave them state. */
	cr_assert(old_threads >= (unsigned)s->threads / 2,
		  "cycle %d: at most %u of the hog's %d old threads reported", n, old_threads,
		  s->threads);
	/* Each exec'd child was born after the attach: task_newtask gave it state. */
	cr_assert_gt(born, 0, "cycle %d: no record of the storm's children", n);
	kp_observer_close(obs);
}

static void provoke(bool legacy)
{
	struct stress s = { 0 };
	int n;

	if (geteuid() != 0)
		cr_skip_test("needs root to load BPF programs");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		cr_skip_test("needs kernel BTF (/sys/kernel/btf/vmlinux)");
	plan(&s);
	cr_log_info("%d cycles, %ld MiB hog, floor %ld MiB, holes %d, %d threads", s.cycles,
		    s.hog_mb, s.floor_mb, s.holes, s.threads);
	start(&s);
	for (n = 0; n < s.cycles; n++) {
		double t0 = now_s();

		holes_cycle(&s, n);
		progress(&s, legacy ? "legacy cycle" : "tp_btf cycle", n);
		cycle(&s, legacy, n, 1500);
		cr_log_info("cycle %d: %.1f s, %ld MiB available", n, now_s() - t0,
			    mem_available_mb());
	}
	stop(&s);
	progress(&s, legacy ? "legacy done" : "tp_btf done", s.cycles);
	if (s.console)
		fclose(s.console);
}

Test(observer_stress, attach_detach_under_pressure_tp_btf, .timeout = 900) { provoke(false); }
Test(observer_stress, attach_detach_under_pressure_legacy, .timeout = 900) { provoke(true); }
