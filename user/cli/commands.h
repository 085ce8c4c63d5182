/* SPDX-License-Identifier: GPL-2.0 */
/* Subcommands of the kpilot binary: each gets argv from its own name on. */
#ifndef KPILOT_COMMANDS_H
#define KPILOT_COMMANDS_H

/* Exit statuses shared by every subcommand. */
#define KP_EXIT_OK	0
#define KP_EXIT_REJECT	1	/* the request was understood and refused */
#define KP_EXIT_USAGE	2	/* bad usage or an unusable environment */
#define KP_EXIT_ABORTED	3	/* tune: the guardrails aborted the run (everything restored) */
#define KP_EXIT_NOT_SIGNIFICANT	4	/* tune --apply-best: the improvement is not significant */
#define KP_EXIT_INTERRUPTED	130	/* Ctrl-C: restored, partial results written */

int cmd_observe(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_tcpchurn(int argc, char **argv);	/* hidden: the tcp-churn benchmark */
int cmd_set(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_persist(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sim(int argc, char **argv);	/* hidden: the pipeline simulator */

#endif
