/* SPDX-License-Identifier: GPL-2.0 */
/* What each knob of the table does, in one line (kpilot report, the man pages). */
#ifndef KPILOT_KNOB_DOC_H
#define KPILOT_KNOB_DOC_H

/* One line for a knob of kp_builtin_knobs (cgroup knobs by name or by attribute); NULL when unknown. */
const char *kp_knob_doc(const char *knob);

#endif
