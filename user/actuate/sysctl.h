/* SPDX-License-Identifier: GPL-2.0 */
/* sysctl actuator: dotted names under <root>/proc/sys, optionally in a netns. */
#ifndef KPILOT_SYSCTL_H
#define KPILOT_SYSCTL_H

#include <stddef.h>
#include "actuate/fsio.h"

/* <root>/proc/sys/a/b/c for "a.b.c" (the name must have passed kp_knob_name_check). */
int kp_sysctl_path(const char *root, const char *name, char *buf, size_t len);

/* Current value, whitespace collapsed ("4096 131072 6291456"). */
int kp_sysctl_read(const struct kp_target *t, const char *name, char *buf, size_t len);

int kp_sysctl_write(const struct kp_target *t, const char *name, const char *text);

/*
 * Open a network namespace: a NAME as made by `ip netns add` (/run/netns/NAME)
 * or a path such as /proc/PID/ns/net.  Returns an fd or -errno.
 */
int kp_netns_open(const char *spec);

#endif
