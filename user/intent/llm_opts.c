// SPDX-License-Identifier: GPL-2.0
/*
 * Where the endpoint and its key come from: defaults, the config file, the
 * environment.  The config file steers what runs as root (the answer
 * becomes a session), so it must be trusted like a tuning config; the key
 * file must also be secret (no group or other access).  Messages name the
 * files, never the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "intent/llm.h"
#include "lib/json.h"
#include "safety/session.h"

/* A key goes into an HTTP header: printable ASCII without spaces only. */
static int key_ok(const char *k, const char *from, char *why, size_t len)
{
	const char *p;

	for (p = k; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f) {
			snprintf(why, len, "%s: the API key has a space or a non-printable character",
				 from);
			return -EINVAL;
		}
	return 0;
}

static int read_key(const char *path, struct kp_llm_opts *o, char *why, size_t len)
{
	char buf[sizeof(o->api_key) + 2], from[4200];
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "api_key_file %s: %s", path,
			 err == -ELOOP ? "is a symlink; give the file itself" : strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(why, len, "api_key_file %s: %s", path, strerror(-err));
	} else if (!S_ISREG(st.st_mode)) {
		err = -EPERM;
		snprintf(why, len, "api_key_file %s: not a regular file", path);
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		err = -EPERM;
		snprintf(why, len, "api_key_file %s: owned by uid %u, not root", path,
			 (unsigned)st.st_uid);
	} else if (st.st_mode & 077) {
		err = -EPERM;
		snprintf(why, len, "api_key_file %s: readable or writable by group or others "
			 "(mode %04o); chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	}
	if (err)
		goto cleanup;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		err = -errno;
		snprintf(why, len, "api_key_file %s: %s", path, strerror(-err));
		goto cleanup;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) >= sizeof(o->api_key)) {
		err = -EINVAL;
		snprintf(why, len, "api_key_file %s: longer than %zu characters", path,
			 sizeof(o->api_key) - 1);
	} else if (!buf[0]) {
		err = -EINVAL;
		snprintf(why, len, "api_key_file %s: empty", path);
	}
	if (!err) {
		snprintf(from, sizeof(from), "api_key_file %s", path);
		err = key_ok(buf, from, why, len);
	}
	if (!err)
		strcpy(o->api_key, buf);
cleanup:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return err;
}

int kp_llm_opts_set_url(struct kp_llm_opts *o, const char *url, char *why, size_t len)
{
	const char *p;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		snprintf(why, len, "the LLM endpoint must be an http:// or https:// URL");
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(o->url)) {
		snprintf(why, len, "the LLM endpoint's URL is longer than %zu characters",
			 sizeof(o->url) - 1);
		return -EINVAL;
	}
	for (p = url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f) {
			snprintf(why, len, "the LLM endpoint's URL has a space or a non-printable "
				 "character");
			return -EINVAL;
		}
	strcpy(o->url, url);
	return 0;
}

static int load_file(const char *path, struct kp_llm_opts *o, char *why, size_t len)
{
	static const char *const keys[] = { "url", "model", "api_key_file", "timeout_s", NULL };
	struct kp_json x = { .origin = path, .why = why, .len = len };
	char url[sizeof(o->url)] = "", keyf[4096] = "", bad[256];
	json_t *root = NULL;
	char *text;
	int err;

	err = kp_safety_trusted_file(path, why, len);
	err = err ?: kp_json_read(path, 1 << 20, &text, why, len);
	if (err)
		return err;
	err = kp_json_root(&x, text, &root);
	err = err ?: kp_json_keys(&x, "$", root, keys);
	err = err ?: kp_json_str(&x, root, "$", "url", false, url, sizeof(url));
	err = err ?: kp_json_str(&x, root, "$", "model", false, o->model, sizeof(o->model));
	err = err ?: kp_json_str(&x, root, "$", "api_key_file", false, keyf, sizeof(keyf));
	err = err ?: kp_json_num(&x, root, "$", "timeout_s", false, 0.1, 3600, &o->timeout_s);
	if (!err && url[0] && kp_llm_opts_set_url(o, url, bad, sizeof(bad)))
		err = kp_json_fail(&x, "$.url", "%s", bad);
	if (!err && keyf[0] && keyf[0] != '/')
		err = kp_json_fail(&x, "$.api_key_file", "expected an absolute path");
	if (!err && keyf[0])
		err = read_key(keyf, o, why, len);
	json_decref(root);
	free(text);
	return err;
}

int kp_llm_opts_load(const char *path_or_null, struct kp_llm_opts *o, char *why, size_t len)
{
	const char *env = getenv(KP_LLM_KEY_ENV);
	int err;

	memset(o, 0, sizeof(*o));
	snprintf(o->model, sizeof(o->model), "%s", KP_LLM_MODEL_DEFAULT);
	o->timeout_s = KP_LLM_TIMEOUT_DEFAULT;
	if (path_or_null || !access(KP_LLM_CONFIG_PATH, F_OK)) {
		err = load_file(path_or_null ?: KP_LLM_CONFIG_PATH, o, why, len);
		if (err)
			return err;
	}
	if (env && *env) {
		if (strlen(env) >= sizeof(o->api_key)) {
			snprintf(why, len, "%s: longer than %zu characters", KP_LLM_KEY_ENV,
				 sizeof(o->api_key) - 1);
			return -EINVAL;
		}
		err = key_ok(env, KP_LLM_KEY_ENV, why, len);
		if (err)
			return err;
		strcpy(o->api_key, env);
	}
	return 0;
}
