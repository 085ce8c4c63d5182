// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include "commands.h"

int cmd_observe(int argc, char **argv)
{
	fprintf(stderr, "kpilot observe: not built yet\n");
	return KP_EXIT_USAGE;
}
