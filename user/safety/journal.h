/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Write-ahead journal: one JSON object per line in <state_dir>/journal.
 * Records are appended with O_APPEND and, when asked, fdatasync()ed before
 * the caller touches the system.  A torn last line (power lost mid-write) is
 * ignored on replay and cut off before the next append.  A journal whose
 * changes have all been undone is archived to <state_dir>/archive/, never
 * deleted.  The state dir is locked (flock) by one kpilot at a time.
 * Format: Documentation/safety.md.
 */
#ifndef KPILOT_JOURNAL_H
#define KPILOT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include "safety/knob.h"

#define KP_STATE_DIR_DEFAULT "/var/lib/kpilot"

enum kp_jop {
	KP_J_BEGIN,	/* a session starts: sid, pid, cmd, mode */
	KP_J_ORIG,	/* a knob's value before kpilot first wrote it */
	KP_J_CHANGE,	/* intent: knob goes old -> new, and why (before the write) */
	KP_J_FAIL,	/* the write of the last change failed or read back wrong */
	KP_J_RESTORE,	/* kpilot wrote a knob back (undo) */
	KP_J_FOREIGN,	/* someone else changed a knob: no longer managed */
	KP_J_COMMIT,	/* a keep-mode session (kpilot set) ends: values stay */
	KP_J_END,	/* a session ended after undoing its changes */
	KP_J_RECOVERED,	/* a crashed session's changes were undone */
	KP_J_ROLLBACK,	/* kpilot rollback restored every original */
	KP_J_NOPS
};

/*
 * The records about one knob, which must name it (kp_jrec_parse refuses them
 * otherwise). A macro: clang's analyzer does not inline a function this deep
 * in replay's calls, and would not see that replay never uses a missing knob.
 */
#define KP_JOP_NAMES_KNOB(op) \
	((op) == KP_J_ORIG || (op) == KP_J_CHANGE || (op) == KP_J_FAIL || \
	 (op) == KP_J_RESTORE || (op) == KP_J_FOREIGN)

struct kp_jrec {
	enum kp_jop op;
	long long seq;
	double t;		/* wall clock, seconds */
	char sid[40];
	int pid;
	char cmd[32];
	char mode[16];		/* "keep" or "restore" */
	char root[256];
	char netns[256];
	unsigned long long nsino;	/* inode of the netns, to never enter a recycled one */
	char knob[KP_NAME_MAX];
	char value[KP_VALUE_MAX];	/* ORIG, RESTORE, FOREIGN */
	char raw[KP_VALUE_MAX];	/* ORIG: exact native form when it differs */
	char old[KP_VALUE_MAX];	/* CHANGE */
	char new[KP_VALUE_MAX];	/* CHANGE; FOREIGN: what kpilot expected */
	char path[512];		/* the file, for people restoring by hand */
	char why[512];
};

struct kp_journal;

/*
 * Lock <dir> (created 0700 when missing) and open its journal for appending.
 * -EBUSY when another kpilot holds the lock (why names its pid).
 */
int kp_journal_open(const char *dir, struct kp_journal **out, char *why, size_t len);
void kp_journal_close(struct kp_journal *j);

const char *kp_journal_path(const struct kp_journal *j);

/*
 * Call fn for each record, oldest first.  Returns 0, the first non-zero
 * value fn returned, or -errno.  Unparseable lines are skipped with a warning
 * (the last one silently counts as torn); *torn is set when the last was.
 */
int kp_journal_replay(const char *path, int (*fn)(const struct kp_jrec *r, void *ctx),
		      void *ctx, bool *torn);

/* Append one record (sets seq, and t unless given); sync: fdatasync before returning. */
int kp_journal_append(struct kp_journal *j, struct kp_jrec *r, bool sync);

/* Move the journal to <dir>/archive/journal-<time>-<pid>.jsonl; put its name in buf. */
int kp_journal_archive(struct kp_journal *j, char *buf, size_t len);

/* True when the journal file exists and holds at least one record. */
bool kp_journal_nonempty(const struct kp_journal *j);

const char *kp_jop_name(enum kp_jop op);

/* Serialise/parse one record as a JSON line (exposed for tests and tools). */
char *kp_jrec_dump(const struct kp_jrec *r);
int kp_jrec_parse(const char *line, struct kp_jrec *r);

#endif
