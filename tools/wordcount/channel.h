/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A bounded multi-producer multi-consumer channel between two operator
 * processes: a ring of fixed-size slots in memory shared by fork (an
 * anonymous MAP_SHARED mapping, so nothing is left in /dev/shm), guarded by
 * a process-shared mutex and two condition variables.
 *
 * A full ring blocks its producers: that is the backpressure the pipeline
 * is about, so the time producers spend blocked is counted, in slices of
 * CHAN_WAIT_NS so that a long stall shows up while it lasts, not only when
 * it ends. Consumers wait in the same slices so that they notice a stop or
 * a retirement request without being woken.
 *
 * Counters readers poll from other processes (head, tail, occupancy
 * integral) are written with atomic stores under the lock and read without
 * it: the reporter must never block on a lock held by a stopped process.
 */
#ifndef WORDCOUNT_CHANNEL_H
#define WORDCOUNT_CHANNEL_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define CHAN_WAIT_NS	50000000ULL	/* 50 ms */

struct chan {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	uint32_t cap;		/* slots */
	uint32_t size;		/* bytes per slot */
	uint64_t head;		/* next slot to pop */
	uint64_t tail;		/* next slot to push */
	uint64_t occ_integral;	/* sum of fill * ns, for the time-averaged occupancy */
	uint64_t occ_last_ns;	/* when occ_integral was last brought up to date */
	int closed;		/* the producing operator has finished */
	char *slots;
};

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#define ld(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define st(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define add(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* slots: cap * size bytes of shared memory. Returns 0 or a negative errno. */
static inline int chan_init(struct chan *c, char *slots, uint32_t cap, uint32_t size)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	int err;

	memset(c, 0, sizeof(*c));
	c->slots = slots;
	c->cap = cap;
	c->size = size;
	c->occ_last_ns = mono_ns();
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_mutex_init(&c->mu, &ma);
	if (!err)
		err = pthread_cond_init(&c->not_empty, &ca);
	if (!err)
		err = pthread_cond_init(&c->not_full, &ca);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_destroy(&ca);
	return -err;
}

/* Under the lock, before head or tail moves. */
static inline void chan_occ_update(struct chan *c)
{
	uint64_t now = mono_ns();

	st(&c->occ_integral, c->occ_integral + (c->tail - c->head) * (now - c->occ_last_ns));
	st(&c->occ_last_ns, now);
}

static inline void chan_wait(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	struct timespec ts;
	uint64_t t = mono_ns() + CHAN_WAIT_NS;

	ts.tv_sec = t / 1000000000ULL;
	ts.tv_nsec = t % 1000000000ULL;
	pthread_cond_timedwait(cv, mu, &ts);
}

/*
 * Copy one record in, waiting while the ring is full. Returns 0, or
 * -ECANCELED when *stop becomes true first (the record is then dropped).
 * *blocked_ns grows by the time spent waiting (the caller's operator total).
 */
static inline int chan_push(struct chan *c, const void *rec, const int *stop,
			    uint64_t *blocked_ns)
{
	uint64_t t0, t1;

	pthread_mutex_lock(&c->mu);
	if (c->tail - c->head == c->cap) {
		t0 = mono_ns();
		while (c->tail - c->head == c->cap && !ld(stop)) {
			chan_wait(&c->not_full, &c->mu);
			t1 = mono_ns();
			add(blocked_ns, t1 - t0);
			t0 = t1;
		}
		if (c->tail - c->head == c->cap) {
			pthread_mutex_unlock(&c->mu);
			return -ECANCELED;
		}
	}
	chan_occ_update(c);
	memcpy(c->slots + (c->tail % c->cap) * c->size, rec, c->size);
	st(&c->tail, c->tail + 1);
	pthread_cond_signal(&c->not_empty);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/*
 * Copy one record out. Returns 0; -EPIPE when the ring is empty and closed
 * (the end of the stream); -EAGAIN when nothing came within CHAN_WAIT_NS,
 * so that the caller can look at its stop and retirement flags.
 */
static inline int chan_pop(struct chan *c, void *rec)
{
	int ret = 0;

	pthread_mutex_lock(&c->mu);
	if (c->tail == c->head) {
		if (c->closed) {
			ret = -EPIPE;
			goto out;
		}
		chan_wait(&c->not_empty, &c->mu);
		if (c->tail == c->head) {
			ret = c->closed ? -EPIPE : -EAGAIN;
			goto out;
		}
	}
	chan_occ_update(c);
	memcpy(rec, c->slots + (c->head % c->cap) * c->size, c->size);
	st(&c->head, c->head + 1);
	pthread_cond_signal(&c->not_full);
out:
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* The producer side has finished: wake every consumer so they see the end. */
static inline void chan_close(struct chan *c)
{
	pthread_mutex_lock(&c->mu);
	c->closed = 1;
	pthread_cond_broadcast(&c->not_empty);
	pthread_mutex_unlock(&c->mu);
}

/* Lock-free snapshot for the reporter: fill now and the occupancy integral up to now. */
static inline void chan_peek(struct chan *c, uint64_t *fill, uint64_t *integral)
{
	uint64_t head = ld(&c->head), tail = ld(&c->tail);
	uint64_t last = ld(&c->occ_last_ns), now = mono_ns();

	*fill = tail >= head ? tail - head : 0;
	if (*fill > c->cap)
		*fill = c->cap;
	*integral = ld(&c->occ_integral) + *fill * (now > last ? now - last : 0);
}

#endif
