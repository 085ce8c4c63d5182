// SPDX-License-Identifier: GPL-2.0
/*
 * Installing kpilot (Documentation/install.md): make install / uninstall into
 * temporary roots, the unit under systemd-analyze verify, the installed binary
 * finding its profiles, the man pages against --help, the RPM and the .deb. The checks are
 * shell (selftests/install/install.sh NAME, from the top of the tree as
 * `make check` runs): they drive make, systemd-analyze, groff and rpmbuild.
 * Each runs as one test here; exit 77 is a skip, its last line the reason.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRIPT "selftests/install/install.sh"

static void check(const char *name)
{
	char cmd[256], *out = NULL, *last;
	size_t len = 0, cap = 0;
	FILE *p;
	int st, rc;

	if (access("./kpilot", X_OK) || access(SCRIPT, X_OK))
		cr_skip_test("no ./kpilot or " SCRIPT ": run from the top of the tree after make");
	snprintf(cmd, sizeof(cmd), SCRIPT " %s 2>&1", name);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	out = malloc(cap = 65536);
	while ((len += fread(out + len, 1, cap - len - 1, p)) == cap - 1)
		out = realloc(out, cap *= 2);
	out[len] = '\0';
	st = pclose(p);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	while (len && out[len - 1] == '\n')
		out[--len] = '\0';
	last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
	if (rc == 77)
		cr_skip_test("%s", last);
	cr_assert_eq(rc, 0, "%s: exit %d\n%s", name, rc, out);
	cr_log_info("%s: %s", name, last);
	free(out);
}

Test(install, install_then_uninstall, .timeout = 120) { check("install_uninstall"); }
Test(install, admin_config_is_kept, .timeout = 120) { check("admin_config"); }
Test(install, unit_verifies, .timeout = 120) { check("unit_verifies"); }
Test(install, installed_binary_finds_its_profiles, .timeout = 120) { check("installed_profiles"); }
Test(install, installed_pipeline_runs, .timeout = 120) { check("installed_pipeline"); }
Test(install, man_pages_render, .timeout = 60) { check("man_render"); }
Test(install, man_pages_match_help, .timeout = 60) { check("man_options"); }
Test(install, man_pages_of_the_daemon_match_help, .timeout = 60) { check("man_daemon"); }
Test(install, rpm_builds_and_holds_everything, .timeout = 600) { check("rpm"); }
Test(install, deb_builds_and_holds_everything, .timeout = 120) { check("deb"); }
Test(install, unit_capabilities_are_enough, .timeout = 120) { check("caps"); }
