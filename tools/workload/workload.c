// SPDX-License-Identifier: GPL-2.0
/*
 * A small built-in workload that exercises what kpilot observes: CPU (two
 * threads of arithmetic with short sleeps), disk (O_DIRECT-free writes with
 * fsync in a temporary file on the root filesystem) and TCP (a loopback
 * server and a client opening short connections). Each part is a process
 * with its own name; the whole tree stops after --seconds or on SIGTERM.
 *
 *   workload [--seconds N] [--dir DIR]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static double deadline;

static void on_term(int sig)
{
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int running(void)
{
	return !stop && now() < deadline;
}

static void *cpu_thread(void *arg)
{
	volatile double x = 1;
	int i;

	while (running()) {
		for (i = 0; i < 2000000; i++)
			x = x * 1.0000001 + 1e-9;
		usleep(2000);
	}
	return NULL;
}

static void cpu_part(void)
{
	pthread_t t[2];

	pthread_create(&t[0], NULL, cpu_thread, NULL);
	pthread_create(&t[1], NULL, cpu_thread, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
}

static void disk_part(const char *dir)
{
	static char buf[256 * 1024];
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/kpilot-workload-%d", dir, getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "workload: %s: %s\n", path, strerror(errno));
		return;
	}
	unlink(path);	/* nothing left behind, even on SIGKILL */
	memset(buf, 0xab, sizeof(buf));
	while (running()) {
		if (pwrite(fd, buf, sizeof(buf), 0) < 0 || fsync(fd))
			break;
		usleep(20000);
	}
	close(fd);
}

static void tcp_server(int lfd)
{
	char buf[4096];
	int c;

	while (running()) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
}

static void tcp_client(unsigned short port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[16384] = { 0 };
	int fd;

	while (running()) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (!connect(fd, (void *)&a, sizeof(a)))
			if (write(fd, buf, sizeof(buf)) < 0)
				stop = 1;
		close(fd);
		usleep(10000);
	}
}

static pid_t part(const char *name)
{
	pid_t pid = fork();

	if (pid == 0)
		prctl(PR_SET_NAME, name);
	return pid;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	const char *dir = "/var/tmp";
	double seconds = 10;
	pid_t pids[4];
	int i, lfd, n = 0;
	struct sigaction sa = { .sa_handler = on_term };

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else {
			fprintf(stderr, "usage: workload [--seconds N] [--dir DIR]\n");
			return 2;
		}
	}
	if (seconds <= 0) {
		fprintf(stderr, "workload: --seconds must be positive\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	deadline = now() + seconds;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (void *)&a, sizeof(a)) || getsockname(lfd, (void *)&a, &len) ||
	    listen(lfd, 64)) {
		perror("workload: listen");
		return 1;
	}
	/* accept() wakes up now and then to notice the deadline. */
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_usec = 200000 },
		   sizeof(struct timeval));

	if ((pids[n++] = part("kp-cpu")) == 0) {
		cpu_part();
		_exit(0);
	}
	if ((pids[n++] = part("kp-disk")) == 0) {
		disk_part(dir);
		_exit(0);
	}
	if ((pids[n++] = part("kp-tcp-server")) == 0) {
		tcp_server(lfd);
		_exit(0);
	}
	if ((pids[n++] = part("kp-tcp-client")) == 0) {
		tcp_client(ntohs(a.sin_port));
		_exit(0);
	}
	close(lfd);
	for (i = 0; i < n; i++) {
		if (pids[i] < 0)
			continue;
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			if (stop)
				kill(pids[i], SIGTERM);
	}
	return 0;
}
