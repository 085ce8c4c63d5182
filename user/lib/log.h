/* SPDX-License-Identifier: GPL-2.0 */
/* One-line, journald-friendly logging shared by every kpilot module. */
#ifndef KPILOT_LOG_H
#define KPILOT_LOG_H

#include <stdbool.h>

enum kp_level { KP_ERR, KP_WARN, KP_INFO, KP_DEBUG };

extern int kp_verbosity;	/* messages above this level are dropped */

void kp_log(enum kp_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define kp_err(...)   kp_log(KP_ERR, __VA_ARGS__)
#define kp_warn(...)  kp_log(KP_WARN, __VA_ARGS__)
#define kp_info(...)  kp_log(KP_INFO, __VA_ARGS__)
#define kp_debug(...) kp_log(KP_DEBUG, __VA_ARGS__)

#endif
