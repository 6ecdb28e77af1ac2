/*
 * net_worker.c: the bounded worker pool (ARCHITECTURE.md §3).
 *
 * Blocking work (store, directory, DNS) runs here, never on an event thread. Jobs of one
 * connection run one at a time and in submission order: the connection keeps a FIFO and only
 * its head is on the pool; when the head's completion has run on the event thread, the next
 * job goes to the pool. Completions travel back through the thread's completion list and
 * ev_wake (event_active under libevent's pthread locking). A queued job holds its connection:
 * the struct is freed only when the FIFO is empty. When the connection finished before its
 * job ran, the work is skipped and done(arg, NULL, false) still runs so arg is released.
 * A work function may defer its job (net_job_defer): another thread then posts the
 * completion with net_job_resume() when the work it handed over is finished.
 */
#include <string.h>

#include "net/net_int.h"

static void net_pool_push(struct net_workers *w, struct net_job *job)
{
	pthread_mutex_lock(&w->mu);
	job->pool_next = NULL;
	if (w->tail != NULL)
		w->tail->pool_next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_mutex_unlock(&w->mu);
	/* Signalled after the unlock: a worker woken while the lock is still held would only
	 * block again on the mutex (a futex wait and wake more per job). Workers re-check the
	 * queue under the lock, so no job is missed. */
	pthread_cond_signal(&w->cv);
}

/* Hand a finished job to its connection's event thread. */
static void net_job_post(struct net_job *job)
{
	struct net_thread *th = job->c->th;
	pthread_mutex_lock(&th->mu);
	job->pool_next = NULL;
	if (th->done_tail != NULL)
		th->done_tail->pool_next = job;
	else
		th->done_head = job;
	th->done_tail = job;
	pthread_mutex_unlock(&th->mu);
	net_thread_wake(th);
}

/* The job this worker runs, and whether its work function deferred it. */
static _Thread_local struct net_job *net_job_cur;
static _Thread_local bool net_job_cur_deferred;

struct net_job *net_job_defer(void)
{
	struct net_job *job = net_job_cur;
	if (job == NULL || net_job_cur_deferred)
		return NULL;
	net_job_cur_deferred = true;
	job->ran = true;
	return job;
}

void net_job_resume(struct net_job *job)
{
	net_job_post(job);
}

static void *net_worker_main(void *arg)
{
	struct net_runtime *rt = arg;
	struct net_workers *w = &rt->workers;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		struct net_job *job = w->head;
		if (job == NULL)
			break; /* stop and nothing left */
		w->head = job->pool_next;
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		atomic_fetch_sub(&w->queued, 1);
		bool deferred = false;
		if (!atomic_load(&job->c->dead)) {
			net_job_cur = job;
			net_job_cur_deferred = false;
			job->work(job->arg);
			net_job_cur = NULL;
			/* A deferred job may already be resumed and freed: not touched again. */
			deferred = net_job_cur_deferred;
			if (!deferred)
				job->ran = true;
		}
		if (!deferred)
			net_job_post(job);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int net_workers_start(struct net_runtime *rt)
{
	struct net_workers *w = &rt->workers;
	w->tids = core_xcalloc(w->n, sizeof(*w->tids));
	for (unsigned i = 0; i < w->n; i++) {
		if (pthread_create(&w->tids[i], NULL, net_worker_main, rt) != 0) {
			net_workers_stop(rt);
			return CORE_EINTERNAL;
		}
		w->started++;
	}
	return 0;
}

void net_workers_stop(struct net_runtime *rt)
{
	struct net_workers *w = &rt->workers;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->started; i++)
		pthread_join(w->tids[i], NULL);
	w->started = 0;
	/* Without workers (run() failed or never ran), queued jobs complete unrun. */
	pthread_mutex_lock(&w->mu);
	struct net_job *job = w->head;
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->mu);
	while (job != NULL) {
		struct net_job *next = job->pool_next;
		atomic_fetch_sub(&w->queued, 1);
		net_job_post(job);
		job = next;
	}
}

/* Drop the head job of c and run its done callback. */
static void net_job_finish_head(struct net_conn *c, bool ok)
{
	struct net_job *job = c->jobs_head;
	c->jobs_head = job->next;
	if (c->jobs_head == NULL)
		c->jobs_tail = NULL;
	job->done(job->arg, ok ? c : NULL, ok);
	free(job);
}

void net_workers_complete(struct net_thread *th, struct net_job *list)
{
	struct net_runtime *rt = th->rt;
	while (list != NULL) {
		struct net_job *job = list;
		list = job->pool_next;
		struct net_conn *c = job->c;
		/* The completed job is always the head of its connection's FIFO. */
		CORE_ASSERT(c->jobs_head == job);
		net_job_finish_head(c, job->ran && !c->finished);
		/* Jobs behind it: after a close they complete unrun, in order; otherwise the next
		 * one goes to the pool. */
		while (c->jobs_head != NULL && c->finished) {
			atomic_fetch_sub(&rt->workers.queued, 1);
			net_job_finish_head(c, false);
		}
		if (c->jobs_head != NULL)
			net_pool_push(&rt->workers, c->jobs_head);
		else if (c->finished)
			net_conn_maybe_free(c);
		else
			net_conn_jobs_idle(c);
	}
}

int net_conn_submit(struct net_conn *c, void (*work)(void *arg),
		    void (*done)(void *arg, struct net_conn *c, bool ok), void *arg)
{
	if (c->finished)
		return CORE_EIO;
	struct net_workers *w = &c->rt->workers;
	/* Bounded queue: jobs submitted and not yet started, over all connections. */
	unsigned q = atomic_fetch_add(&w->queued, 1);
	if (q >= w->queue_max) {
		atomic_fetch_sub(&w->queued, 1);
		return CORE_ELIMIT;
	}
	struct net_job *job = core_xcalloc(1, sizeof(*job));
	job->c = c;
	job->work = work;
	job->done = done;
	job->arg = arg;
	bool first = c->jobs_head == NULL;
	if (c->jobs_tail != NULL)
		c->jobs_tail->next = job;
	else
		c->jobs_head = job;
	c->jobs_tail = job;
	if (first)
		net_pool_push(w, job);
	return 0;
}
