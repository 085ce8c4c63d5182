// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's config: every refusal names its JSON path, the defaults are
 * what Documentation/daemon.md says, and the file must be root's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "daemon/config.h"

static struct kp_dm_config cfg;

static void refused(const char *text, const char *want)
{
	char why[512] = "";
	int ret = kp_dm_config_parse(text, "k.json", &cfg, why, sizeof(why));

	cr_assert_neq(ret, 0, "accepted: %s", text);
	cr_assert(strstr(why, want), "%s\n  said: %s\n  want: %s", text, why, want);
}

Test(daemon_config, errors_name_the_json_path)
{
	refused("{\"http\": {\"listen\": \"127.0.0.1:9464\"}, \"htp\": 1}", "k.json: $.htp: unknown key");
	refused("{\"http\": {\"listen\": \"127.0.0.1:9464\", \"port\": 1}}", "$.http.port: unknown key");
	refused("{\"policies\": {}}", "$.policies: expected an array");
	refused("{\"policies\": [{\"name\": \"p\", \"kind\": \"magic\"}]}",
		"k.json: $.policies[0]: kind \"magic\" is not one of sysctl, pipeline, replicas");
	refused("{\"policies\": [{\"kind\": \"sysctl\"}]}", "$.policies[0].name: missing");
	refused("{\"http\": {\"listen\": \"0.0.0.0:9464\"}}",
		"$.http.listen: 0.0.0.0 is not a loopback address");
	refused("{\"http\": {\"listen\": \"localhost:9464\"}}",
		"$.http.listen: 'localhost' is not a numeric IPv4 address");
	refused("{\"http\": {\"listen\": \"127.0.0.1:65536\"}}", "$.http.listen: '65536' is not a port");
	refused("{\"http\": {\"listen\": \"127.0.0.1\"}}", "$.http.listen: '127.0.0.1' is not ADDR:PORT");
	refused("{\"http\": {\"listen\": 9464}}", "$.http.listen: expected a string, got an integer");
	refused("{\"http\": {}}", "$.http.listen: missing");
	refused("{\"http\": []}", "$.http: expected an object");
	refused("{\"socket\": \"run/k.sock\"}", "$.socket: 'run/k.sock' is not an absolute path");
	refused("{\"state_dir\": \"x\"}", "$.state_dir: 'x' is not an absolute path");
	refused("{\"top_processes\": 1001}", "$.top_processes: expected an integer in [0, 1000]");
	refused("{\"interval_ms\": 5}", "$.interval_ms: expected an integer in [10, 60000]");
	refused("{\"operators\": {}}", "$.operators: expected an array");
	refused("{\"operators\": [{\"name\": \"a\", \"pids\": [1]}, {\"name\": \"b\", \"pids\": [2, -3]}]}",
		"$.operators[1].pids[1]: expected a positive pid");
	refused("{\"operators\": [{\"name\": \"a\"}]}",
		"$.operators[0]: give exactly one of \"cgroup\" and \"pids\"");
	refused("{\"operators\": [{\"name\": \"a\", \"pids\": [1], \"cgroup\": \"/x\"}]}",
		"$.operators[0]: give exactly one");
	refused("{\"operators\": [{\"name\": \"a b\", \"pids\": [1]}]}",
		"$.operators[0]: name 'a b' must be");
	refused("{\"operators\": [{\"name\": \"a\", \"cgroup\": \"/x/../y\"}]}",
		"$.operators[0]: cgroup path must be non-empty and free of '..'");
	refused("{\"operators\": [{\"name\": \"a\", \"pids\": [1]}, {\"name\": \"a\", \"pids\": [2]}]}",
		"$.operators[1]: operator 'a' is already $.operators[0]");
	refused("{\"operators\": [{\"name\": \"a\", \"pid\": [1]}]}", "$.operators[0].pid: unknown key");
	refused("[1]", "$: expected an object");
	refused("{\"http\": ", "k.json: line 1");
}

Test(daemon_config, observe_only_minimal_and_defaults)
{
	char why[512];

	cr_assert_eq(kp_dm_config_parse("{\"http\": {\"listen\": \"127.0.0.1:9464\"}}", "k.json",
					&cfg, why, sizeof(why)), 0, "%s", why);
	cr_assert(cfg.http);
	cr_assert_str_eq(cfg.http_host, "127.0.0.1");
	cr_assert_eq(cfg.http_port, 9464);
	cr_assert_str_eq(cfg.socket, "/run/kpilot/kpilot.sock");
	cr_assert_str_eq(cfg.state_dir, "/var/lib/kpilot");
	cr_assert_eq(cfg.top_processes, 10);
	cr_assert_eq(cfg.interval_ms, 1000);
	cr_assert_eq(cfg.nops, 0);
	cr_assert_eq(kp_dm_config_parse("{}", "k.json", &cfg, why, sizeof(why)), 0, "%s", why);
	cr_assert(!cfg.http, "no http object: no listener");
}

Test(daemon_config, full_schema)
{
	char why[512];
	const char *text =
		"{\"http\": {\"listen\": \"[::1]:0\"}, \"socket\": \"/tmp/k.sock\","
		" \"state_dir\": \"/tmp/kst\", \"top_processes\": 0, \"interval_ms\": 250,"
		" \"operators\": [{\"name\": \"web\", \"cgroup\": \"/system.slice/nginx.service\"},"
		"                 {\"name\": \"db\", \"pids\": [4321, 4322]}]}";

	cr_assert_eq(kp_dm_config_parse(text, "k.json", &cfg, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(cfg.http_host, "::1");
	cr_assert_eq(cfg.http_port, 0);
	cr_assert_str_eq(cfg.socket, "/tmp/k.sock");
	cr_assert_str_eq(cfg.state_dir, "/tmp/kst");
	cr_assert_eq(cfg.top_processes, 0);
	cr_assert_eq(cfg.interval_ms, 250);
	cr_assert_eq(cfg.nops, 2);
	cr_assert_eq(cfg.ops[0].type, KP_OP_CGROUP);
	cr_assert_str_eq(cfg.ops[0].cgroup, "/system.slice/nginx.service");
	cr_assert_eq(cfg.ops[1].type, KP_OP_PIDS);
	cr_assert_eq(cfg.ops[1].npids, 2);
	cr_assert_eq(cfg.ops[1].pids[1], 4322);
}

Test(daemon_config, remote_listen_needs_allow_remote)
{
	char why[512];

	cr_assert_eq(kp_dm_config_parse("{\"http\": {\"listen\": \"0.0.0.0:9464\", "
					"\"allow_remote\": true}}", "k.json", &cfg, why,
					sizeof(why)), 0, "%s", why);
	cr_assert(cfg.allow_remote);
	cr_assert_str_eq(cfg.http_host, "0.0.0.0");
	refused("{\"http\": {\"listen\": \"[::]:9464\"}}", "$.http.listen: :: is not a loopback");
}

/* The file itself: root's (or the caller's) and not writable by others. */
Test(daemon_config, file_trust)
{
	char dir[] = "/tmp/kpdmcfg.XXXXXX", path[64], why[512];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"http\": {\"listen\": \"127.0.0.1:9464\"}}\n", f);
	fclose(f);
	chmod(path, 0644);
	cr_expect_eq(kp_dm_config_load(path, &cfg, why, sizeof(why)), 0, "%s", why);
	chmod(path, 0666);
	cr_expect_neq(kp_dm_config_load(path, &cfg, why, sizeof(why)), 0);
	cr_expect(strstr(why, "group- or world-writable"), "%s", why);
	chmod(path, 0644);
	if (geteuid() == 0 && !chown(path, 65534, 65534)) {
		cr_expect_neq(kp_dm_config_load(path, &cfg, why, sizeof(why)), 0);
		cr_expect(strstr(why, "owned by uid 65534, not root"), "%s", why);
	}
	unlink(path);
	rmdir(dir);
}
