// SPDX-License-Identifier: GPL-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "observe/opspec.h"

static int parse(const char *s, struct kp_opspec *op, char *err)
{
	return kp_opspec_parse(s, op, err, 256);
}

Test(opspec, pids)
{
	struct kp_opspec op;
	char err[256];

	cr_assert_eq(parse("splitter=pid:12,345,6", &op, err), 0);
	cr_assert_str_eq(op.name, "splitter");
	cr_assert_eq(op.type, KP_OP_PIDS);
	cr_assert_eq(op.npids, 3);
	cr_assert_eq(op.pids[0], 12);
	cr_assert_eq(op.pids[1], 345);
	cr_assert_eq(op.pids[2], 6);
}

Test(opspec, cgroup)
{
	struct kp_opspec op;
	char err[256];

	cr_assert_eq(parse("db=cgroup:/system.slice/postgresql.service", &op, err), 0);
	cr_assert_eq(op.type, KP_OP_CGROUP);
	cr_assert_str_eq(op.cgroup, "/system.slice/postgresql.service");
}

Test(opspec, rejections_name_the_problem)
{
	static const struct { const char *in, *msg; } cases[] = {
		{ "nothing", "operator 'nothing': expected NAME=cgroup:PATH or NAME=pid:P1,P2" },
		{ "=pid:1", "operator name '' must be 1-31 characters of [A-Za-z0-9_.-]" },
		{ "a b=pid:1", "operator name 'a b' must be 1-31 characters of [A-Za-z0-9_.-]" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=pid:1",
		  "operator name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' must be 1-31 characters of [A-Za-z0-9_.-]" },
		{ "x=tid:1", "operator 'x': expected cgroup:PATH or pid:P1,P2 after '='" },
		{ "x=pid:", "operator 'x': '' is not a list of positive pids" },
		{ "x=pid:1,,2", "operator 'x': '1,,2' is not a list of positive pids" },
		{ "x=pid:-4", "operator 'x': '-4' is not a list of positive pids" },
		{ "x=pid:0", "operator 'x': '0' is not a list of positive pids" },
		{ "x=pid:12abc", "operator 'x': '12abc' is not a list of positive pids" },
		{ "x=pid:99999999999999999999", "operator 'x': '99999999999999999999' is not a list of positive pids" },
		{ "x=cgroup:", "operator 'x': empty or too long cgroup path" },
		{ "x=cgroup:/a/../../etc", "operator 'x': cgroup path may not contain '..'" },
	};
	struct kp_opspec op;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse(cases[i].in, &op, err), -EINVAL, "%s accepted", cases[i].in);
		cr_assert_str_eq(err, cases[i].msg);
	}
}

Test(opspec, too_many_pids)
{
	char spec[1024] = "x=pid:1";
	struct kp_opspec op;
	char err[256];
	int i;

	for (i = 2; i <= KP_OP_MAX_PIDS; i++)
		sprintf(spec + strlen(spec), ",%d", i);
	cr_assert_eq(parse(spec, &op, err), 0);
	strcat(spec, ",9999");
	cr_assert_eq(parse(spec, &op, err), -EINVAL);
	cr_assert_str_eq(err, "operator 'x': more than 64 pids");
}

/* A fake /sys/fs/cgroup with a v1 "cpu" hierarchy and a v2 root file. */
Test(opspec, cgroup_dir_lookup_v1_and_v2)
{
	char root[] = "/tmp/kpilot-cgXXXXXX", p[256], out[1024];
	pid_t pids[8];
	FILE *f;

	cr_assert_not_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/cpu/pipe/src", root);
	snprintf(out, sizeof(out), "mkdir -p %s %s/v2only", p, root);
	cr_assert_eq(system(out), 0);
	snprintf(out, sizeof(out), "%s/cgroup.procs", p);
	f = fopen(out, "w");
	fprintf(f, "10\n20\n");
	fclose(f);
	snprintf(out, sizeof(out), "%s/v2only/cgroup.procs", root);
	f = fopen(out, "w");
	fclose(f);

	cr_assert_eq(kp_opspec_cgroup_dir(root, "pipe/src", out, sizeof(out)), 0);
	cr_assert_str_eq(out, p, "v1: found under the cpu controller");
	cr_assert_eq(kp_opspec_cgroup_dir(root, "/pipe/src", out, sizeof(out)), 0);
	cr_assert_str_eq(out, p);
	cr_assert_eq(kp_opspec_cgroup_dir(root, p, out, sizeof(out)), 0, "absolute path");
	cr_assert_eq(kp_opspec_cgroup_dir(root, "v2only", out, sizeof(out)), 0);
	snprintf(p, sizeof(p), "%s/v2only", root);
	cr_assert_str_eq(out, p, "v2: found under the root");
	cr_assert_eq(kp_opspec_cgroup_dir(root, "missing", out, sizeof(out)), -ENOENT);
	snprintf(p, sizeof(p), "%s/cpu/pipe/src", root);
	cr_assert_eq(kp_cgroup_procs(p, pids, 8), 2);
	cr_assert_eq(pids[0], 10);
	cr_assert_eq(pids[1], 20);
	snprintf(out, sizeof(out), "rm -rf %s", root);
	cr_assert_eq(system(out), 0);
}
