// SPDX-License-Identifier: GPL-2.0
/*
 * `kpilot observe` as a user runs it: the built binary (./kpilot, from the
 * top of the tree as `make check` runs), its help, its refusals, its JSON
 * lines, pinned maps read back with bpftool, and Ctrl-C.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#define KPILOT "./kpilot"
#define PIN_DIR "/sys/fs/bpf/kpilot"

static void need_binary(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
}

static void need_root(void)
{
	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root to load BPF programs");
}

/* Run a shell command line; returns its exit status, output in *out (malloc'd). */
static int run(const char *cmd, char **out)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	cr_assert_not_null(p);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(cli, help_has_examples)
{
	char *out;

	need_binary();
	cr_assert_eq(run(KPILOT " observe --help 2>&1", &out), 0);
	cr_assert(strstr(out, "EXAMPLES:"), "%s", out);
	cr_assert(strstr(out, "--operator"));
	cr_assert(strstr(out, "--self-stats"));
	free(out);
	cr_assert_eq(run(KPILOT " --help", &out), 0);
	cr_assert(strstr(out, "observe"));
	free(out);
	cr_assert_eq(run(KPILOT " frobnicate 2>&1", &out), 2);
	cr_assert(strstr(out, "kpilot: unknown command 'frobnicate'"), "%s", out);
	free(out);
}

Test(cli, bad_input_is_one_clear_line_and_status_2)
{
	static const struct { const char *args, *msg; } cases[] = {
		{ "--interval 5", "kpilot observe: --interval: '5' is not a number of ms in 10-60000" },
		{ "--interval 1e3", "kpilot observe: --interval: '1e3' is not a number of ms in 10-60000" },
		{ "--duration -1", "kpilot observe: --duration: '-1' is not a positive number of seconds" },
		{ "--pid 0", "kpilot observe: --pid: '0' is not a process id" },
		{ "--pid abc", "kpilot observe: --pid: 'abc' is not a process id" },
		{ "--operator x", "kpilot observe: --operator: operator 'x': expected NAME=cgroup:PATH or NAME=pid:P1,P2" },
		{ "--operator 'a/b=pid:1'", "kpilot observe: --operator: operator name 'a/b' must be 1-31 characters of [A-Za-z0-9_.-]" },
		{ "extra", "kpilot observe: unexpected argument 'extra'" },
		{ "--bogus", "kpilot observe: unrecognized option '--bogus'" },
	};
	char cmd[256], *out;
	size_t i;

	need_binary();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), KPILOT " observe %s 2>&1", cases[i].args);
		cr_assert_eq(run(cmd, &out), 2, "%s", cmd);
		cr_assert(!strncmp(out, cases[i].msg, strlen(cases[i].msg)), "%s: got %s", cmd, out);
		free(out);
	}
}

Test(cli, missing_process_or_cgroup)
{
	char *out;

	need_root();
	cr_assert_eq(run(KPILOT " observe --pid 2147483647 2>&1", &out), 2);
	cr_assert(strstr(out, "kpilot observe: no process 2147483647\n"), "%s", out);
	free(out);
	cr_assert_eq(run(KPILOT " observe --operator x=cgroup:no-such-kpilot-cg 2>&1", &out), 2);
	cr_assert(strstr(out, "kpilot observe: operator 'x': no cgroup 'no-such-kpilot-cg' in any hierarchy under /sys/fs/cgroup\n"),
		  "%s", out);
	free(out);
}

Test(cli, not_root_is_refused_in_one_sentence)
{
	char *out;

	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root to drop to nobody");
	cr_assert_eq(run("setpriv --reuid=65534 --regid=65534 --clear-groups " KPILOT
			 " observe --duration 1 2>&1", &out), 2);
	cr_assert_str_eq(out, "kpilot observe: kpilot needs root (CAP_BPF and CAP_PERFMON) to load its eBPF programs\n");
	free(out);
}

/* Every line is a JSON object with the documented fields, ending in a summary. */
Test(cli, json_lines)
{
	static const char *const fields[] = {
		"ts_ns", "interval_ms", "kind", "pid", "comm", "operator", "cpu_ns", "runq_wait_ns",
		"runq_p50_us", "runq_p99_us", "nvcsw", "nivcsw", "io_ops", "io_read_bytes",
		"io_write_bytes", "io_lat_p50_us", "io_lat_p99_us", "tcp_retrans", "tcp_srtt_us",
		"tcp_opens", "tcp_closes", "tcp_time_wait", "tcp_connect_p99_us",
	};
	char *out, *line, *save;
	int summaries = 0, procs = 0;
	size_t i;

	need_root();
	cr_assert_eq(run("sh -c 'i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done' & "
			 KPILOT " observe --json --interval 500 --duration 2 --operator busy=pid:$!;"
			 " kill $! 2>/dev/null", &out), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		const char *kind;

		cr_assert_not_null(o, "not JSON: %s (%s)", line, err.text);
		kind = json_string_value(json_object_get(o, "kind"));
		cr_assert_not_null(kind);
		cr_assert_eq(json_integer_value(json_object_get(o, "interval_ms")), 500);
		if (!strcmp(kind, "summary")) {
			summaries++;
			cr_assert(json_is_integer(json_object_get(o, "events")));
			cr_assert(json_is_integer(json_object_get(o, "records")));
			cr_assert(json_is_integer(json_object_get(o, "drops")));
		} else if (!strcmp(kind, "process")) {
			procs++;
			for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
				cr_assert_not_null(json_object_get(o, fields[i]), "no %s in %s", fields[i], line);
			cr_assert_str_eq(json_string_value(json_object_get(o, "operator")), "busy");
		}
		json_decref(o);
	}
	cr_assert_eq(summaries, 4, "one summary per interval");
	cr_assert_geq(procs, 2, "the busy shell reported in at least half the intervals");
	free(out);
}

Test(cli, pinned_maps_read_back_with_bpftool)
{
	struct stat st;
	char *out;

	need_root();
	if (system("command -v bpftool >/dev/null || test -x /usr/sbin/bpftool"))
		cr_skip_test("bpftool not installed");
	/* Direct I/O while the observer runs, so dev_stats has an entry. */
	cr_assert_eq(run("(sleep 0.3; dd if=/dev/zero of=/var/tmp/kpilot-pin-test bs=64k count=16"
			 " oflag=direct 2>/dev/null; rm -f /var/tmp/kpilot-pin-test) & "
			 KPILOT " observe --pin --keep-pinned --duration 1 --json >/dev/null 2>&1;"
			 " status=$?; wait; exit $status", &out), 0);
	free(out);
	cr_assert_eq(stat(PIN_DIR "/proc_stats", &st), 0, "kept pinned after exit");
	/* Keys and values carry BTF: bpftool prints named fields. */
	cr_assert_eq(run("PATH=$PATH:/usr/sbin bpftool map dump pinned " PIN_DIR "/sched_cpu_stats",
			 &out), 0);
	cr_assert(strstr(out, "\"cpu_stats\": [{"), "%s", out);
	cr_assert(strstr(out, "\"events\": "), "%s", out);
	free(out);
	/* The dd above did direct I/O, where /var/tmp is on a block device. */
	if (!system("test $(stat -c %d /var/tmp) -ge 256")) {
		cr_assert_eq(run("PATH=$PATH:/usr/sbin bpftool map dump pinned " PIN_DIR "/dev_stats",
				 &out), 0);
		cr_assert(strstr(out, "\"io_ops\": "), "%s", out);
		cr_assert(strstr(out, "\"io_lat_hist\": ["), "%s", out);
		free(out);
	}
	cr_assert_eq(run("PATH=$PATH:/usr/sbin bpftool map show pinned " PIN_DIR "/members", &out), 0);
	cr_assert(strstr(out, "btf_id"), "members map has BTF: %s", out);
	free(out);
	cr_assert_eq(system("rm -rf " PIN_DIR), 0);

	cr_assert_eq(run(KPILOT " observe --pin --duration 1 >/dev/null 2>&1", &out), 0);
	free(out);
	cr_assert_neq(stat(PIN_DIR, &st), 0, "unpinned on exit without --keep-pinned");
}

Test(cli, ctrl_c_exits_cleanly_and_unpins)
{
	struct timespec t0, t1;
	struct stat st;
	int fd, status;
	pid_t pid;

	need_root();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(KPILOT, KPILOT, "observe", "--pin", "--json", NULL);
		_exit(127);
	}
	/* Wait until it is up (maps pinned), then interrupt it mid-run. */
	for (int i = 0; i < 100 && stat(PIN_DIR "/members", &st); i++)
		usleep(50000);
	cr_assert_eq(stat(PIN_DIR "/members", &st), 0, "observer did not start");
	usleep(300000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 2, "exits promptly");
	cr_assert_neq(stat(PIN_DIR, &st), 0, "pins removed on Ctrl-C");
}

/*
 * `kpilot observe --pin | head -n 1`: the reader goes away after one line.
 * Killed by SIGPIPE, kpilot would leave its maps pinned; it must see EPIPE,
 * end with 0 and unpin.
 */
Test(cli, reader_gone_ends_cleanly_and_unpins)
{
	struct timespec t0, t1;
	struct stat st;
	int p[2], status;
	char c = 0;
	pid_t pid;
	FILE *f;

	need_root();
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		signal(SIGPIPE, SIG_DFL);	/* as a shell's child has it */
		dup2(p[1], 1);
		dup2(fd, 2);
		close(p[0]);
		execl(KPILOT, KPILOT, "observe", "--pin", "--json", "--interval", "200",
		      "--duration", "120", NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	cr_assert_not_null(f);
	while ((c = (char)fgetc(f)) != '\n' && !feof(f))
		;
	cr_assert_eq(c, '\n', "no line from kpilot observe");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fclose(f);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Its --duration is 120 s: ending at it means EPIPE went unnoticed. */
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 60, "still ran %ld s after the reader left",
		     (long)(t1.tv_sec - t0.tv_sec));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "status %#x (a signal: %d)", status, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_neq(stat(PIN_DIR, &st), 0, "pins removed when the reader left");
}
