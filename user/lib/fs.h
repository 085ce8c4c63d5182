/* SPDX-License-Identifier: GPL-2.0 */
/* Directory helpers shared by the journal and the results writers. */
#ifndef KPILOT_LIB_FS_H
#define KPILOT_LIB_FS_H

#include <sys/types.h>

/*
 * mkdir -p: parents are made 0755, the last component with @mode (the state
 * dir is 0700, results dirs 0755). An existing directory is fine.
 * 0 or -errno.
 */
int kp_mkdir_p(const char *dir, mode_t mode);

/*
 * The path to exec to run kpilot again (its helpers: the tcp-churn server
 * and client): the binary's own path, so that a tool that runs kpilot
 * (valgrind) is not run instead; /proc/self/exe when that path is gone.
 */
void kp_self_exe(char *path, size_t len);

#endif
