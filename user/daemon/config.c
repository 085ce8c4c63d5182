// SPDX-License-Identifier: GPL-2.0
/* The daemon's JSON config: parse, check, compare. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/config.h"
#include "daemon/policy.h"
#include "lib/json.h"
#include "lib/text.h"
#include "safety/session.h"

void kp_dm_config_defaults(struct kp_dm_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->socket, KP_DM_SOCKET);
	strcpy(c->state_dir, KP_DM_STATE_DIR);
	c->interval_ms = 1000;
	c->top_processes = KP_DM_TOP_DEFAULT;
	c->bpf_stats = true;
}

/* "ADDR:PORT" with a numeric IPv4 address or "[IPv6]:PORT"; loopback unless allowed. */
static int parse_listen(struct kp_json *x, const char *s, struct kp_dm_config *c)
{
	const char *path = "$.http.listen", *colon = strrchr(s, ':');
	unsigned char buf[16];
	char host[64];
	long long port;
	char *end;
	bool v6 = s[0] == '[', loop;
	size_t n;

	if (!colon || colon == s)
		return kp_json_fail(x, path, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9464)", s);
	n = colon - s;
	if (v6 && (n < 2 || s[n - 1] != ']'))
		return kp_json_fail(x, path, "'%s': an IPv6 address is written [ADDR]:PORT", s);
	if (v6)
		s++, n -= 2;
	if (n >= sizeof(host))
		return kp_json_fail(x, path, "address too long");
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
		return kp_json_fail(x, path, "'%s' is not a numeric IP%s address", host,
				    v6 ? "v6" : "v4");
	errno = 0;
	port = strtoll(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return kp_json_fail(x, path, "'%s' is not a port in 0-65535", colon + 1);
	loop = v6 ? !memcmp(buf, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) : buf[0] == 127;
	if (!loop && !c->allow_remote)
		return kp_json_fail(x, path, "%s is not a loopback address; the endpoint has no "
				    "authentication: set \"allow_remote\": true to listen there", host);
	strcpy(c->http_host, host);
	c->http_port = (unsigned int)port;
	return 0;
}

static int parse_http(struct kp_json *x, json_t *root, struct kp_dm_config *c)
{
	static const char *const keys[] = { "listen", "allow_remote", NULL };
	char listen[128];
	json_t *h;
	int ret;

	ret = kp_json_obj(x, root, "$", "http", false, &h);
	if (ret || !h)
		return ret;
	ret = kp_json_keys(x, "$.http", h, keys);
	if (!ret)
		ret = kp_json_bool(x, h, "$.http", "allow_remote", &c->allow_remote);
	if (!ret)
		ret = kp_json_str(x, h, "$.http", "listen", true, listen, sizeof(listen));
	if (!ret)
		ret = parse_listen(x, listen, c);
	c->http = !ret;
	return ret;
}

static int parse_pids(struct kp_json *x, const char *path, json_t *arr, struct kp_opspec *op)
{
	char p[192];
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return kp_json_want(x, path, "a non-empty array of pids", arr);
	if (json_array_size(arr) > KP_OP_MAX_PIDS)
		return kp_json_fail(x, path, "more than %d pids", KP_OP_MAX_PIDS);
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > 0x7fffffff)
			return kp_json_want(x, p, "a positive pid", v);
		op->pids[op->npids++] = (pid_t)json_integer_value(v);
	}
	return 0;
}

static int parse_operator(struct kp_json *x, const char *path, json_t *o, struct kp_opspec *op)
{
	static const char *const keys[] = { "name", "cgroup", "pids", NULL };
	char p[96];
	json_t *pids = json_object_get(o, "pids");
	bool cg = json_object_get(o, "cgroup");
	int ret;

	memset(op, 0, sizeof(*op));
	if (!json_is_object(o))
		return kp_json_want(x, path, "an object", o);
	ret = kp_json_keys(x, path, o, keys);
	if (!ret)
		ret = kp_json_str(x, o, path, "name", true, op->name, sizeof(op->name));
	if (ret)
		return ret;
	if (!kp_name_ok(op->name, strlen(op->name), KP_OP_NAME_LEN))
		return kp_json_fail(x, path, "name '%s' must be 1-%d characters of [A-Za-z0-9_.-]",
				    op->name, KP_OP_NAME_LEN - 1);
	if (cg == !!pids)
		return kp_json_fail(x, path, "give exactly one of \"cgroup\" and \"pids\"");
	if (pids) {
		op->type = KP_OP_PIDS;
		snprintf(p, sizeof(p), "%s.pids", path);
		return parse_pids(x, p, pids, op);
	}
	op->type = KP_OP_CGROUP;
	ret = kp_json_str(x, o, path, "cgroup", true, op->cgroup, sizeof(op->cgroup));
	if (!ret && (!op->cgroup[0] || strstr(op->cgroup, "..")))
		ret = kp_json_fail(x, path, "cgroup path must be non-empty and free of '..'");
	return ret;
}

static int parse_operators(struct kp_json *x, json_t *root, struct kp_dm_config *c)
{
	json_t *arr = json_object_get(root, "operators"), *o;
	char path[64];
	size_t i;
	int j, ret;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return kp_json_want(x, "$.operators", "an array", arr);
	if (json_array_size(arr) > KP_MAX_OPERATORS)
		return kp_json_fail(x, "$.operators", "more than %d operators", KP_MAX_OPERATORS);
	json_array_foreach(arr, i, o) {
		snprintf(path, sizeof(path), "$.operators[%zu]", i);
		ret = parse_operator(x, path, o, &c->ops[i]);
		if (ret)
			return ret;
		for (j = 0; j < (int)i; j++)
			if (!strcmp(c->ops[j].name, c->ops[i].name))
				return kp_json_fail(x, path, "operator '%s' is already $.operators[%d]",
						    c->ops[i].name, j);
		c->nops++;
	}
	return 0;
}

static int parse_paths(struct kp_json *x, json_t *root, struct kp_dm_config *c)
{
	int ret = kp_json_str(x, root, "$", "socket", false, c->socket, sizeof(c->socket));

	if (!ret && c->socket[0] != '/')
		ret = kp_json_fail(x, "$.socket", "'%s' is not an absolute path", c->socket);
	if (!ret)
		ret = kp_json_str(x, root, "$", "state_dir", false, c->state_dir,
				  sizeof(c->state_dir));
	if (!ret && c->state_dir[0] != '/')
		ret = kp_json_fail(x, "$.state_dir", "'%s' is not an absolute path", c->state_dir);
	return ret;
}

int kp_dm_config_parse(const char *text, const char *origin, struct kp_dm_config *c,
		       char *why, size_t len)
{
	static const char *const keys[] = { "http", "socket", "state_dir", "operators",
					    "top_processes", "interval_ms", "policies", "keep_on_exit",
					    "token_file", "bpf_stats", NULL };
	struct kp_json x = { .origin = origin, .why = why, .len = len };
	long long v;
	json_t *root = NULL;
	int ret;

	kp_dm_config_defaults(c);
	ret = kp_json_root(&x, text, &root);
	if (ret)
		goto cleanup;
	ret = kp_json_keys(&x, "$", root, keys);
	if (!ret)
		ret = parse_http(&x, root, c);
	if (!ret)
		ret = parse_paths(&x, root, c);
	if (!ret)
		ret = parse_operators(&x, root, c);
	v = c->top_processes;
	if (!ret)
		ret = kp_json_int(&x, root, "$", "top_processes", 0, KP_DM_TOP_MAX, &v);
	c->top_processes = (unsigned int)v;
	v = c->interval_ms;
	if (!ret)
		ret = kp_json_int(&x, root, "$", "interval_ms", 10, 60000, &v);
	c->interval_ms = (unsigned int)v;
	if (!ret)
		ret = kp_json_bool(&x, root, "$", "keep_on_exit", &c->keep_on_exit);
	if (!ret)
		ret = kp_json_bool(&x, root, "$", "bpf_stats", &c->bpf_stats);
	if (!ret)
		ret = kp_json_str(&x, root, "$", "token_file", false, c->token_file,
				  sizeof(c->token_file));
	if (!ret && c->token_file[0] && c->token_file[0] != '/')
		ret = kp_json_fail(&x, "$.token_file", "'%s' is not an absolute path",
				   c->token_file);
	/* last: the policies name operators and the state dir */
	if (!ret && json_object_get(root, "policies"))
		ret = kp_policies_parse(&x, json_object_get(root, "policies"), c, &c->pol,
					&c->npol);
	if (!ret && c->npol) {
		c->pol_json = json_dumps(json_object_get(root, "policies"),
					 JSON_SORT_KEYS | JSON_COMPACT);
		if (!c->pol_json)
			ret = kp_json_fail(&x, "$.policies", "out of memory");
	}
	if (ret)
		kp_dm_config_free(c);
cleanup:
	json_decref(root);
	return ret;
}

void kp_dm_config_free(struct kp_dm_config *c)
{
	if (!c)
		return;
	kp_policies_free(c->pol, c->npol);
	c->pol = NULL;
	c->npol = 0;
	free(c->pol_json);
	c->pol_json = NULL;
}

int kp_dm_config_load(const char *path, struct kp_dm_config *c, char *why, size_t len)
{
	char *text = NULL;
	int ret;

	ret = kp_safety_trusted_file(path, why, len);
	if (!ret)
		ret = kp_json_read(path, KP_DM_CONFIG_MAX, &text, why, len);
	if (!ret)
		ret = kp_dm_config_parse(text, path, c, why, len);
	free(text);
	return ret;
}

bool kp_dm_config_same_observer(const struct kp_dm_config *a, const struct kp_dm_config *b)
{
	int i;

	if (a->nops != b->nops || a->interval_ms != b->interval_ms || a->bpf_stats != b->bpf_stats)
		return false;
	for (i = 0; i < a->nops; i++)
		if (memcmp(&a->ops[i], &b->ops[i], sizeof(a->ops[i])))
			return false;
	return true;
}
