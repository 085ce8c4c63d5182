// SPDX-License-Identifier: GPL-2.0
/*
 * The sysctl policy of `kpilot run`: a real daemon tunes real knobs in a
 * private netns while the built-in tcp-churn workload runs there; an admin
 * write is left alone; SIGTERM restores; checkpoints are refused or loaded.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "daemon/config.h"
#include "daemon/policy.h"
#include "sysctl_rig.h"

static struct kp_dm_config cfg;

static void refused(const char *pol, const char *want)
{
	char text[2048], why[512] = "";
	int ret;

	snprintf(text, sizeof(text), "{\"operators\": [{\"name\": \"web\", \"pids\": [1]}], "
		 "\"policies\": [%s]}", pol);
	ret = kp_dm_config_parse(text, "k.json", &cfg, why, sizeof(why));
	cr_assert_neq(ret, 0, "accepted: %s", text);
	cr_assert(strstr(why, want), "%s\n  said: %s\n  want: %s", pol, why, want);
}

#define OBJ "\"objective\": {\"operator\": \"web\", \"metric\": \"tcp_connect_p99_us\"}"

Test(policy_sysctl, parse_errors_name_the_json_path)
{
	char why[512] = "";

	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.ipv4.tcp_nosuch\"], " OBJ "}",
		"k.json: $.policies[0].knobs[0]: net.ipv4.tcp_nosuch: not in kpilot's knob table");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\", "
		"\"cgroup:a/b:cpu.max\"], " OBJ "}",
		"$.policies[0].knobs[1]: cgroup:a/b:cpu.max: a cgroup knob");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"kernel.panic\"], " OBJ "}",
		"$.policies[0].knobs[0]: kernel.panic: denied");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [{\"name\": \"net.core.somaxconn\", "
		"\"min\": 10}], " OBJ "}", "$.policies[0].knobs[0].min: expected an integer in [128, 65535]");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"operator\": \"db\", \"metric\": \"tcp_connect_p99_us\"}}",
		"$.policies[0].objective: operator 'db' is not in $.operators");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"operator\": \"web\", \"metric\": \"p99\"}}",
		"$.policies[0].objective: metric \"p99\" is not one of tcp_connect_p99_us");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"operator\": \"web\", \"metric\": \"runq_p99_us\", \"goal\": \"up\"}}",
		"$.policies[0].objective: goal \"up\"");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], " OBJ
		", \"regress\": {\"threshold\": -1}}", "$.policies[0].regress.threshold");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobz\": [], " OBJ "}",
		"$.policies[0]: unknown member \"knobz\" for a sysctl policy");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"agent\": \"dqn\", \"knobs\": "
		"[\"net.core.somaxconn\"], " OBJ "}", "agent \"dqn\": a sysctl policy has ppo, random");
	/* an objective from a rate source (test_policy_sysctl_rate runs them) */
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"operator\": \"web\", \"rate\": {\"file\": \"/tmp/r\"}, "
		"\"metric\": \"x\"}}", "$.policies[0].objective: give exactly one of \"operator\"");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"metric\": \"x\"}}",
		"$.policies[0].objective: give exactly one of \"operator\"");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"rate\": {\"file\": \"r.jsonl\"}, \"metric\": \"x\"}}",
		"$.policies[0].objective.rate: file 'r.jsonl' is not an absolute path");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"rate\": {\"file\": \"/tmp/r\", \"x\": 1}, \"metric\": \"x\"}}",
		"$.policies[0].objective.rate.x: unknown key");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"rate\": {\"file\": \"/tmp/r\"}, \"metric\": \"9lives\"}}",
		"$.policies[0].objective: metric \"9lives\": a rate source's metric is 1-31 letters");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"rate\": {\"prometheus\": \"http://10.0.0.1:9/m\"}, "
		"\"metric\": \"x_total\"}}", "$.policies[0].objective.rate: prometheus: '10.0.0.1'");
	refused("{\"name\": \"t\", \"kind\": \"sysctl\", \"knobs\": [\"net.core.somaxconn\"], "
		"\"objective\": {\"rate\": {\"prometheus\": \"http://127.0.0.1:9/m\"}, "
		"\"metric\": \"x_total\", \"min_samples\": 3}}",
		"$.policies[0].objective: min_samples 3: a Prometheus rate source is scraped once");
	/* a good one */
	cr_assert_eq(kp_dm_config_parse("{\"operators\": [{\"name\": \"web\", \"pids\": [1]}], "
		"\"policies\": [{\"name\": \"t\", \"kind\": \"sysctl\", \"netns\": \"blue\", \"knobs\": "
		"[\"net.ipv4.tcp_fin_timeout\", {\"name\": \"net.core.somaxconn\", \"min\": 256, "
		"\"max\": 8192}], " OBJ ", \"regress\": {\"threshold\": 0.2, \"intervals\": 2}}]}",
		"k.json", &cfg, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(cfg.npol, 1);
	cr_assert_str_eq(cfg.pol[0].netns, "blue");
	cr_assert_str_eq(cfg.pol[0].agent, "ppo");
	kp_dm_config_free(&cfg);
	/* Documentation/daemon.md's rate objective, as shown */
	cr_assert_eq(kp_dm_config_parse("{\"state_dir\": \"/var/lib/kpilot\",\n"
		" \"policies\": [{\"name\": \"web\", \"kind\": \"sysctl\", \"netns\": \"blue\", "
		"\"interval_ms\": 1000,\n"
		"               \"knobs\": [\"net.ipv4.tcp_tw_reuse\", \"net.ipv4.tcp_fin_timeout\"],\n"
		"               \"objective\": {\"rate\": {\"file\": \"/run/web/stats.jsonl\"},\n"
		"                             \"metric\": \"accepted_per_s\"}}]}\n",
		"k.json", &cfg, why, sizeof(why)), 0, "%s", why);
	kp_dm_config_free(&cfg);
}

/* ---- a real daemon, a real workload in a private netns ---------------- */

/*
 * The daemon with one sysctl policy on the client's connections. The client
 * is `ip netns exec`'s child: the operator holds the ip process's pid and so
 * its descendants.
 */
static void rig_daemon(const char *agent_extra, const char *state_dir)
{
	char conf[2048];

	snprintf(conf, sizeof(conf),
		 "{\"state_dir\": \"%s\", \"interval_ms\": 100,\n"
		 " \"operators\": [{\"name\": \"web\", \"pids\": [%d]}],\n"
		 " \"policies\": [{\"name\": \"tcp\", \"kind\": \"sysctl\", \"netns\": \"%s\",\n"
		 "   \"interval_ms\": 300, %s\n"
		 "   \"knobs\": [\"net.ipv4.tcp_fin_timeout\", {\"name\": \"net.core.somaxconn\", "
		 "\"min\": 256, \"max\": 8192}, \"net.ipv4.tcp_max_syn_backlog\"],\n"
		 "   \"objective\": {\"operator\": \"web\", \"metric\": \"tcp_connect_p99_us\", "
		 "\"goal\": \"minimize\"}}]}\n", state_dir, (int)rig.cli, rig.ns, agent_extra);
	dm_init(&rig.d, conf);
	snprintf(rig.state, sizeof(rig.state), "%s", state_dir);
	dm_start(&rig.d);
}

static char orig_fin[32], orig_max[32], orig_syn[32];

static void read_originals(void)
{
	read_knob("net.ipv4.tcp_fin_timeout", orig_fin, sizeof(orig_fin));
	read_knob("net.core.somaxconn", orig_max, sizeof(orig_max));
	read_knob("net.ipv4.tcp_max_syn_backlog", orig_syn, sizeof(orig_syn));
}

static void assert_restored(const char *skip)
{
	char v[32];

	if (!skip || strcmp(skip, "net.ipv4.tcp_fin_timeout")) {
		read_knob("net.ipv4.tcp_fin_timeout", v, sizeof(v));
		cr_assert_str_eq(v, orig_fin, "tcp_fin_timeout not restored: %s", rig.d.log);
	}
	if (!skip || strcmp(skip, "net.core.somaxconn")) {
		read_knob("net.core.somaxconn", v, sizeof(v));
		cr_assert_str_eq(v, orig_max, "somaxconn not restored: %s", rig.d.log);
	}
	if (!skip || strcmp(skip, "net.ipv4.tcp_max_syn_backlog")) {
		read_knob("net.ipv4.tcp_max_syn_backlog", v, sizeof(v));
		cr_assert_str_eq(v, orig_syn, "tcp_max_syn_backlog not restored: %s", rig.d.log);
	}
}

/*
 * ctl train: refused while the model has fewer than its initial trials,
 * then PPO updates on the model alone (the policy's update count grows by
 * what the answer says, and nothing is applied for it).
 */
static void assert_trains(void)
{
	long long before;
	char *out = NULL;
	json_t *p;
	int rc = 1;

	for (int i = 0; i < 40 && rc; i++) {
		free(out);
		rc = ctl(&rig.d, "train tcp --iterations 3", &out);
		cr_assert(rc == 0 || (rc == 1 && strstr(out, "too few trials")), "%d %s", rc, out);
		if (rc)
			usleep(500000);
	}
	cr_assert_eq(rc, 0, "never trained: %s", out);
	free(out);
	p = policy_status();
	before = pol_int(p, "updates");
	json_decref(p);
	cr_assert_eq(ctl(&rig.d, "train tcp --iterations 8", &out), 0, "%s", out);
	cr_assert(strstr(out, "trained: "), "%s", out);
	free(out);
	p = policy_status();
	cr_assert_gt(pol_int(p, "updates"), before, "training made no PPO update");
	json_decref(p);
}

Test(policy_sysctl, changes_knobs_in_bounds_and_sigterm_restores, .init = rig_up,
     .fini = rig_down, .timeout = 90)
{
	char state[96], v[32], path[192];
	long long x;
	json_t *p;

	read_originals();
	snprintf(state, sizeof(state), "/tmp/kpst.%d", (int)getpid());
	rig_daemon("", state);
	wait_changes(3, 30);
	read_knob("net.core.somaxconn", v, sizeof(v));
	x = atoll(v);
	cr_assert(x == atoll(orig_max) || (x >= 256 && x <= 8192), "somaxconn %lld out of [256, 8192]", x);
	read_knob("net.ipv4.tcp_fin_timeout", v, sizeof(v));
	x = atoll(v);
	cr_assert(x >= 5 && x <= 120, "tcp_fin_timeout %lld outside the table's [5, 120]", x);
	p = policy_status();
	cr_assert(pol_int(p, "changes") >= 3);
	cr_assert_not_null(json_object_get(json_object_get(p, "state"), "baseline"));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(p,
		"state"), "objective"), "metric")), "tcp_connect_p99_us");
	/* one line per change, with the reason; the journal has them */
	cr_assert_geq(count_lines(rig.d.log, "kpilot: info: policy tcp: net."), pol_int(p, "changes"));
	cr_assert_geq(count_lines(rig.d.log, " -> "), 3);
	cr_assert_eq(count_lines(rig.d.log, "(policy tcp:"), 0, "the session logged changes too: %s",
		     rig.d.log);
	cr_assert_gt(count_lines(rig.d.log, "trial (tcp_connect_p99_us last"), 0, "%s", rig.d.log);
	json_decref(p);
	assert_trains();
	snprintf(path, sizeof(path), "%s/journal", state);
	cr_assert_gt(count_lines(path, "policy tcp"), 0, "the journal %s has no change of the policy", path);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_restored(NULL);
	cr_assert_gt(count_lines(rig.d.log, "every knob the policies changed is restored"), 0);
	snprintf(path, sizeof(path), "%s/policies/tcp.ckpt", state);
	cr_assert_eq(access(path, F_OK), 0, "no checkpoint at stop: %s", path);
	snprintf(path, sizeof(path), "rm -rf %s", state);
	tu_system(path);
}

static bool overridden(const char *knob)
{
	json_t *p = policy_status();
	bool o = json_is_true(json_object_get(knob_status(p, knob), "overridden"));

	json_decref(p);
	return o;
}

Test(policy_sysctl, admin_write_is_left_alone, .init = rig_up, .fini = rig_down, .timeout = 90)
{
	char state[96], v[32], cmd[192];
	json_t *p, *k;
	int i;

	read_originals();
	snprintf(state, sizeof(state), "/tmp/kpst.%d", (int)getpid());
	rig_daemon("", state);
	wait_changes(1, 30);
	/* the admin's value: one the policy's range for somaxconn excludes, so it cannot be ours */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s sysctl -q -w net.core.somaxconn=12345", rig.ns);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s sysctl -q -w net.ipv4.tcp_max_syn_backlog=3333",
		 rig.ns);
	sh("%s", cmd);
	/* detected within one policy interval (300 ms) and a window; 2 s is generous */
	for (i = 0; i < 20 && !overridden("net.core.somaxconn"); i++)
		usleep(100000);
	cr_assert(overridden("net.core.somaxconn"), "the admin's write was not detected: %s",
		  rig.d.log);
	p = policy_status();
	k = knob_status(p, "net.core.somaxconn");
	cr_assert_str_eq(json_string_value(json_object_get(k, "value")), "12345");
	cr_assert(strstr(json_string_value(json_object_get(k, "override")), "kpilot ctl resume tcp"));
	cr_assert_geq(pol_int(p, "overrides"), 1);
	json_decref(p);
	cr_assert_gt(count_lines(rig.d.log, "net.core.somaxconn: set to '12345' by someone else"), 0,
		     "%s", rig.d.log);
	/* several intervals later it is still the admin's */
	sleep(3);
	read_knob("net.core.somaxconn", v, sizeof(v));
	cr_assert_str_eq(v, "12345", "the daemon wrote the admin's knob again: %s", rig.d.log);
	cr_assert_eq(count_lines(rig.d.log, "policy tcp: net.core.somaxconn 12345 ->"), 0);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	read_knob("net.core.somaxconn", v, sizeof(v));
	cr_assert_str_eq(v, "12345", "SIGTERM undid the admin's value");
	read_knob("net.ipv4.tcp_max_syn_backlog", v, sizeof(v));
	cr_assert_str_eq(v, "3333", "SIGTERM undid the admin's value");
	read_knob("net.ipv4.tcp_fin_timeout", v, sizeof(v));
	cr_assert_str_eq(v, orig_fin, "tcp_fin_timeout not restored: %s", rig.d.log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
	tu_system(cmd);
}

Test(policy_sysctl, checkpoint_corrupt_refused_good_loaded, .init = rig_up, .fini = rig_down,
     .timeout = 120)
{
	char state[96], path[192], cmd[512];
	json_t *p;

	read_originals();
	snprintf(state, sizeof(state), "/tmp/kpst.%d", (int)getpid());
	/* corrupt: the policy runs fresh and says why */
	mkdir(state, 0700);
	snprintf(path, sizeof(path), "%s/policies", state);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/policies/tcp.ckpt", state);
	dm_write(path, "KPCK this is not a checkpoint at all, only text of the right magic");
	rig_daemon("\"save_every\": 5,", state);
	cr_assert_gt(count_lines(rig.d.log, "checkpoint /tmp/kpst."), 0);
	cr_assert_gt(count_lines(rig.d.log, "refused: not a checkpoint, truncated or corrupt; the "
				 "policy starts fresh"), 0, "%s", rig.d.log);
	wait_changes(2, 30);
	wait_count("updates", 3, 30);
	p = policy_status();
	cr_assert(json_is_false(json_object_get(json_object_get(p, "state"), "loaded_checkpoint")));
	json_decref(p);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_restored(NULL);
	/* the run saved a good one: the next run loads it and says so */
	cr_assert_eq(access(path, F_OK), 0);
	snprintf(cmd, sizeof(cmd), "cp %s %s.good", path, path);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rig.d.dir);
	tu_system(cmd);
	rig_daemon("\"save_every\": 5,", state);
	cr_assert_gt(count_lines(rig.d.log, "policy tcp: checkpoint "), 0);
	cr_assert_gt(count_lines(rig.d.log, "loaded: "), 0, "%s", rig.d.log);
	p = policy_status();
	cr_assert(json_is_true(json_object_get(json_object_get(p, "state"), "loaded_checkpoint")));
	cr_assert_gt(json_integer_value(json_object_get(json_object_get(json_object_get(p, "state"),
		"agent"), "trials")), 0);
	json_decref(p);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	/* truncated: refused */
	snprintf(cmd, sizeof(cmd), "head -c 40 %s.good > %s", path, path);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rig.d.dir);
	tu_system(cmd);
	rig_daemon("\"save_every\": 5,", state);
	cr_assert_gt(count_lines(rig.d.log, "truncated"), 0, "%s", rig.d.log);
	cr_assert_gt(count_lines(rig.d.log, "the policy starts fresh"), 0, "%s", rig.d.log);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	/* mismatched: another policy's knobs; refused with what differs */
	snprintf(cmd, sizeof(cmd), "cp %s.good %s", path, path);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rig.d.dir);
	tu_system(cmd);
	{
		char conf[1024];

		snprintf(conf, sizeof(conf),
			 "{\"state_dir\": \"%s\", \"interval_ms\": 100,\n"
			 " \"operators\": [{\"name\": \"web\", \"pids\": [%d]}],\n"
			 " \"policies\": [{\"name\": \"tcp\", \"kind\": \"sysctl\", \"netns\": \"%s\",\n"
			 "   \"knobs\": [\"net.ipv4.tcp_fin_timeout\"],\n"
			 "   \"objective\": {\"operator\": \"web\", \"metric\": \"tcp_connect_p99_us\"}}]}\n",
			 state, (int)rig.cli, rig.ns);
		dm_init(&rig.d, conf);
		dm_start(&rig.d);
	}
	cr_assert_gt(count_lines(rig.d.log, "refused: made for 3 knobs, this policy has 1; the "
				 "policy starts fresh"), 0, "%s", rig.d.log);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_restored(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
	tu_system(cmd);
}

/* Production mode: the checkpoint's incumbent, applied once per knob at most, nothing learnt. */
Test(policy_sysctl, exploration_off_applies_only_the_incumbent, .init = rig_up,
     .fini = rig_down, .timeout = 90)
{
	char state[96], cmd[160], v[32];
	json_t *p, *st, *inc;
	const char *knob;
	json_t *val;

	read_originals();
	snprintf(state, sizeof(state), "/tmp/kpst.%d", (int)getpid());
	rig_daemon("", state);
	wait_count("updates", 4, 30);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_restored(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rig.d.dir);
	tu_system(cmd);
	rig_daemon("\"exploration\": \"off\",", state);
	sleep(4);
	p = policy_status();
	st = json_object_get(p, "state");
	cr_assert(json_is_true(json_object_get(st, "loaded_checkpoint")), "%s", rig.d.log);
	cr_assert_eq(pol_int(p, "updates"), 0, "production mode learnt: %s", rig.d.log);
	cr_assert_leq(pol_int(p, "changes"), 3, "more than one change per knob: %s", rig.d.log);
	cr_assert_eq(count_lines(rig.d.log, "trial ("), 0, "a trial in production mode: %s",
		     rig.d.log);
	inc = json_object_get(json_object_get(st, "incumbent"), "values");
	json_object_foreach(inc, knob, val) {
		read_knob(knob, v, sizeof(v));
		cr_assert_str_eq(v, json_string_value(val), "%s is not the incumbent's: %s", knob,
				 rig.d.log);
	}
	json_decref(p);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_restored(NULL);
}
