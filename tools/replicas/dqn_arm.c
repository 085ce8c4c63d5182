// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's dqn arm: a real `kpilot run` with a replicas policy over
 * the bench's replicas (Documentation/daemon.md, "The replicas policy"), in
 * a private state directory. Trained online (exploration on) once, then run
 * in production mode (exploration off) from its checkpoint for each
 * measured run. The daemon attaches the steering itself; the bench lets go
 * of its own first and takes it back after (the caller does both).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "daemon/ctl.h"
#include "replicas.h"

int rp_dqn_init(struct rp_dqn *q, const char *kpilot, char *why, size_t len)
{
	char bin[sizeof(q->kpilot)];

	snprintf(bin, sizeof(bin), "%s", kpilot);	/* kpilot may be q->kpilot */
	memset(q, 0, sizeof(*q));
	snprintf(q->kpilot, sizeof(q->kpilot), "%s", bin);
	if (access(q->kpilot, X_OK)) {
		snprintf(why, len, "dqn arm: no kpilot binary at %.400s (--kpilot PATH)", bin);
		return -ENOENT;
	}
	strcpy(q->dir, "/tmp/kprpl-dqn.XXXXXX");
	if (!mkdtemp(q->dir)) {
		snprintf(why, len, "dqn arm: mkdtemp: %s", strerror(errno));
		q->dir[0] = '\0';
		return -errno;
	}
	return 0;
}

static int write_config(struct rp_dqn *q, const struct rp_env *e, const char *svc, bool explore,
			int train_steps)
{
	char path[128], ops[1024] = "", names[256] = "";
	FILE *f;

	for (int i = 0; i < e->n; i++) {
		snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops), "%s{\"name\": \"r%d\", "
			 "\"pids\": [%d]}", i ? ", " : "", i, (int)e->pid[i]);
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s\"r%d\"",
			 i ? ", " : "", i);
	}
	snprintf(path, sizeof(path), "%s/kpilot.json", q->dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	/*
	 * 250 ms windows: the policy steps within a quarter second of its 1 s
	 * interval; learning starts after a quarter of the training, when the
	 * replay holds varied moves
	 */
	fprintf(f, "{\"state_dir\": \"%s/state\", \"interval_ms\": 250,\n"
		" \"operators\": [%s],\n"
		" \"policies\": [{\"name\": \"dqn\", \"kind\": \"replicas\", \"service\": \"%s\",\n"
		"   \"port\": %d, \"replicas\": [%s], \"interval_ms\": 1000,\n"
		"   \"exploration\": \"%s\", \"learning_starts\": %d, \"batch_size\": 32,\n"
		"   \"target_update\": 20, \"checkpoint_every\": 20}]}\n",
		q->dir, ops, svc, RP_PORT, names, explore ? "on" : "off",
		train_steps / 4 > 1 ? train_steps / 4 : 1);
	fclose(f);
	chmod(path, 0600);
	return 0;
}

/* The policy's state in status (caller's), or NULL. */
json_t *rp_dqn_state(const struct rp_dqn *q)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL, *st;
	char why[256];

	kp_ctl_request(q->sock, req, &resp, why, sizeof(why));
	json_decref(req);
	st = json_object_get(json_array_get(json_object_get(json_object_get(resp, "status"),
							  "policies"), 0), "state");
	json_incref(st);
	json_decref(resp);
	return st;
}

int rp_dqn_start(struct rp_dqn *q, const struct rp_env *e, const char *svc, bool explore,
		 int train_steps, char *why, size_t len)
{
	char cfg[128], log[128];
	json_t *st = NULL;
	int err = write_config(q, e, svc, explore, train_steps);

	if (err) {
		snprintf(why, len, "dqn arm: config: %s", strerror(-err));
		return err;
	}
	snprintf(cfg, sizeof(cfg), "%s/kpilot.json", q->dir);
	snprintf(log, sizeof(log), "%s/log", q->dir);
	snprintf(q->sock, sizeof(q->sock), "%s/kpilot.sock", q->dir);
	q->pid = fork();
	if (q->pid < 0)
		return -errno;
	if (!q->pid) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(q->kpilot, q->kpilot, "run", "--config", cfg, "--socket", q->sock,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && !st; i++) {
		st = rp_dqn_state(q);
		if (!st && waitpid(q->pid, NULL, WNOHANG) == q->pid) {
			q->pid = 0;
			snprintf(why, len, "dqn arm: kpilot run exited at start (log %s)", log);
			return -EIO;
		}
		if (!st)
			usleep(100000);
	}
	if (!st) {
		snprintf(why, len, "dqn arm: kpilot run did not answer in 30 s (log %s)", log);
		return -ETIMEDOUT;
	}
	json_decref(st);
	return 0;
}

/* SIGTERM: the daemon saves the checkpoint and puts the default steering back. */
int rp_dqn_stop(struct rp_dqn *q)
{
	int st = 0;

	if (q->pid <= 0)
		return 0;
	kill(q->pid, SIGTERM);
	waitpid(q->pid, &st, 0);
	q->pid = 0;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EIO;
}

/* Also from the signal handler: kill, wait, the directory gone. */
void rp_dqn_cleanup(struct rp_dqn *q)
{
	char cmd[96];

	rp_dqn_stop(q);
	if (q->dir[0] && !getenv("KP_KEEP_DQN")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", q->dir);
		if (system(cmd))
			fprintf(stderr, "replicas: %s failed\n", cmd);
	}
	q->dir[0] = '\0';
}
