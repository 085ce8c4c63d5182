/* SPDX-License-Identifier: GPL-2.0 */
/* kpilot ctl's human output of the daemon's answers. */
#ifndef KPILOT_CLI_CTL_PRINT_H
#define KPILOT_CLI_CTL_PRINT_H

#include <jansson.h>

/* An ok answer to cmd, on stdout. */
void ctl_print(const char *cmd, json_t *resp);

#endif
