// SPDX-License-Identifier: GPL-2.0
/* Cross-knob invariants, checked on a batch combined with the system's values. */
#include <errno.h>
#include <string.h>
#include "safety/session_impl.h"

/* Value of a knob in the batch if it is there, else on the system. */
static int proposed(struct kp_session *s, struct pending *p, int n, const char *name,
		    struct kp_value *v)
{
	const struct kp_knob *d;
	char text[KP_VALUE_MAX];
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].c->knob, name)) {
			*v = p[i].nv;
			return 0;
		}
	d = sess_def_for(s, name);
	if (!d || sess_act_read(&s->t, name, text, NULL, sizeof(text)))
		return -ENOENT;
	return kp_value_parse(d, text, v, NULL, 0);
}

/* A knob that must stay below another: checked when either is in the batch. */
static int check_below(struct kp_session *s, struct pending *p, int n,
		       const struct kp_knob_hooks *h, char *why, size_t len)
{
	struct kp_value a, b;
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].c->knob, h->name) || !strcmp(p[i].c->knob, h->below))
			break;
	if (i == n)
		return 0;
	if (proposed(s, p, n, h->name, &a) || proposed(s, p, n, h->below, &b))
		return 0;
	return kp_check_dirty(h->name, a.v[0], h->below, b.v[0], why, len) ? -EINVAL : 0;
}

int sess_check_invariants(struct kp_session *s, struct pending *p, int n, char *why,
			  size_t len)
{
	long long sum = 0;
	bool any = false;
	size_t q;
	int i;

	for (q = 0; q < kp_knob_nhooks; q++)
		if (kp_knob_hooks_table[q].below &&
		    check_below(s, p, n, &kp_knob_hooks_table[q], why, len))
			return -EINVAL;
	if (s->budget <= 0)
		return 0;
	/* the session's operators: every cpu.max it set before or sets now */
	for (i = 0; i < n; i++) {
		if (p[i].def->type != KP_VT_CPUMAX)
			continue;
		any = true;
		sum += kp_cpumax_millicores(&p[i].nv, s->ncpus);
	}
	if (!any)
		return 0;
	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];
		const struct kp_knob *d;
		struct kp_value v;
		int m;

		if (!k->touched || k->dropped || strcmp(k->root, s->root))
			continue;
		d = sess_def_for(s, k->name);
		if (!d || d->type != KP_VT_CPUMAX)
			continue;
		for (m = 0; m < n && strcmp(p[m].c->knob, k->name); m++)
			;
		if (m < n)
			continue;
		if (kp_value_parse(d, k->expected, &v, NULL, 0))
			continue;
		sum += kp_cpumax_millicores(&v, s->ncpus);
	}
	return kp_check_budget(sum, s->budget, why, len);
}

