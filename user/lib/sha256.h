/* SPDX-License-Identifier: GPL-2.0 */
/* SHA-256 (libcrypto): names the files `kpilot persist` keeps by content. */
#ifndef KPILOT_LIB_SHA256_H
#define KPILOT_LIB_SHA256_H

#include <stddef.h>

#define KP_SHA256_HEX	65	/* 64 hex digits and the NUL */

/* The digest of buf[0..n) as lowercase hex into hex[KP_SHA256_HEX]. */
void kp_sha256_hex(const void *buf, size_t n, char *hex);

#endif
