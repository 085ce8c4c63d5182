/* SPDX-License-Identifier: GPL-2.0 */
/* Small string checks shared by the parsers of names, lists and specs. */
#ifndef KPILOT_LIB_TEXT_H
#define KPILOT_LIB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A name a user gives (operator, workload, pipeline): 1 to @max - 1 bytes of
 * [A-Za-z0-9_.-], so it is safe in a file name, a cgroup name and a metric
 * label. @n is its length (it need not be NUL-terminated).
 */
bool kp_name_ok(const char *s, size_t n, size_t max);

/* Whether @word is one of the space-separated words of @list (as the kernel's
 * *_available lists are written). */
bool kp_word_in(const char *list, const char *word);

#endif
