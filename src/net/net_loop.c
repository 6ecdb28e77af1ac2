/*
 * net_loop.c: the runtime object, its event threads and the main loop (ARCHITECTURE.md §3).
 *
 * The main thread runs main_base: the shutdown self-pipe, net_runtime_call() requests and the
 * shutdown progress timer (the server adds its control socket and signals there). Each event
 * thread runs its own event_base with its share of the listening sockets (SO_REUSEPORT) and
 * the connections accepted on them. Threads talk to each other only through ev_wake/ev_call
 * (event_active under libevent's pthread locking) and mutex-guarded queues.
 *
 * Shutdown: net_runtime_shutdown() writes a byte to a pipe (safe in a signal handler). The
 * main loop then asks every thread to stop accepting and to shut its sessions down, waits until
 * no connection is left or the grace period ends (then closes the rest), stops the workers
 * (their completions still run on the threads), and finally stops the threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/err.h>

#include "net/net_int.h"

static pthread_once_t net_lib_once = PTHREAD_ONCE_INIT;
static int net_lib_ok;

static void net_lib_init(void)
{
	/* libevent: locking for event_active() across threads. */
	net_lib_ok = evthread_use_pthreads() == 0;
	OPENSSL_init_ssl(0, NULL);
}

uint64_t net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ARCHITECTURE.md §3: raise RLIMIT_NOFILE to the hard limit at start. */
static void net_rlimit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return;
	struct rlimit want = rl;
	want.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
		/* An unlimited hard limit may exceed fs.nr_open; settle for a large value. */
		want.rlim_cur = 1u << 20;
		if (want.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) != 0)
			core_logf(CORE_LOG_WARN, "net.rlimit", "cannot raise RLIMIT_NOFILE: %s",
				  strerror(errno));
	}
}

/*
 * A write to a socket the peer has reset raises SIGPIPE (libevent writes with writev, the
 * OpenSSL socket BIO with write). The default action would end the process, so ignore the
 * signal unless the program installed its own handler; the write then fails with EPIPE and
 * the connection closes with NET_CLOSE_ERROR.
 */
static void net_sigpipe_ignore(void)
{
	struct sigaction old;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
	    !(old.sa_flags & SA_SIGINFO)) {
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGPIPE, &ign, NULL);
	}
}

static unsigned net_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1u;
}

/* --- per-thread wake handler --- */

void net_thread_wake(struct net_thread *th)
{
	event_active(th->ev_wake, EV_READ, 0);
}

static void net_thread_graceful(struct net_thread *th)
{
	if (th->graceful)
		return;
	th->graceful = true;
	net_listener_thread_stop(th);
	struct net_conn *c = th->conns, *next;
	for (; c != NULL; c = next) {
		next = c->next;
		if (!c->finished)
			net_conn_shutdown(c);
	}
}

static void net_thread_force(struct net_thread *th)
{
	struct net_conn *c = th->conns, *next;
	for (; c != NULL; c = next) {
		next = c->next;
		net_conn_finish(c, NET_CLOSE_SHUTDOWN);
	}
}

static void net_thread_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_thread *th = arg;
	pthread_mutex_lock(&th->mu);
	struct net_job *done = th->done_head;
	th->done_head = th->done_tail = NULL;
	bool graceful = th->cmd_graceful, force = th->cmd_force, ex = th->cmd_exit;
	th->cmd_graceful = th->cmd_force = false;
	pthread_mutex_unlock(&th->mu);
	if (done != NULL)
		net_workers_complete(th, done);
	if (graceful)
		net_thread_graceful(th);
	if (force) {
		net_thread_graceful(th);
		net_thread_force(th);
	}
	if (ex) {
		net_listener_thread_stop(th);
		net_thread_force(th);
		event_base_loopbreak(th->base);
	}
}

static void net_thread_started_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_thread *th = arg;
	struct net_runtime *rt = th->rt;
	/* The last thread to enter its loop reports readiness to the main loop. */
	if (atomic_fetch_add(&rt->threads_ready, 1) + 1 == rt->nthreads && rt->ready_fn != NULL)
		net_runtime_call(rt, rt->ready_fn, rt->ready_arg);
}

static void *net_thread_main(void *arg)
{
	struct net_thread *th = arg;
	struct timeval zero = {0, 0};
	event_base_once(th->base, -1, EV_TIMEOUT, net_thread_started_cb, th, &zero);
	event_base_loop(th->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* --- main loop --- */

static void net_call_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_runtime *rt = arg;
	pthread_mutex_lock(&rt->call_mu);
	struct net_call *list = rt->calls_head;
	rt->calls_head = rt->calls_tail = NULL;
	pthread_mutex_unlock(&rt->call_mu);
	while (list != NULL) {
		struct net_call *next = list->next;
		list->fn(list->arg);
		free(list);
		list = next;
	}
}

static void net_post_all(struct net_runtime *rt, int which)
{
	for (unsigned i = 0; i < rt->nthreads; i++) {
		struct net_thread *th = &rt->threads[i];
		pthread_mutex_lock(&th->mu);
		if (which == 0)
			th->cmd_graceful = true;
		else if (which == 1)
			th->cmd_force = true;
		else
			th->cmd_exit = true;
		pthread_mutex_unlock(&th->mu);
		net_thread_wake(th);
	}
}

static void net_shutdown_finish(struct net_runtime *rt)
{
	rt->done = true;
	event_del(rt->ev_check);
	/* Jobs left on the pool run (or are skipped for closed connections); their completions
	 * still reach the threads, which are stopped only afterwards. */
	net_workers_stop(rt);
	net_post_all(rt, 2);
	event_base_loopbreak(rt->main_base);
}

static void net_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_runtime *rt = arg;
	if (rt->done)
		return;
	if (atomic_load(&rt->nconns) == 0) {
		net_shutdown_finish(rt);
		return;
	}
	if (!rt->forced && net_now_ms() >= rt->deadline_ms) {
		rt->forced = true;
		core_logf(CORE_LOG_NOTICE, "net.shutdown",
			  "grace period over, closing %u connections", atomic_load(&rt->nconns));
		net_post_all(rt, 1);
	}
}

static void net_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_runtime *rt = arg;
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (atomic_exchange(&rt->stopping, true) && rt->deadline_ms != 0)
		return;
	rt->deadline_ms = net_now_ms() + rt->grace_ms;
	core_log(CORE_LOG_INFO, "net.shutdown", "phase", "begin", NULL);
	net_post_all(rt, 0);
	struct timeval tick = {0, 20 * 1000};
	event_add(rt->ev_check, &tick);
}

/* --- public interface --- */

struct net_runtime *net_runtime_new(const struct net_runtime_cfg *cfg, struct core_error *err)
{
	pthread_once(&net_lib_once, net_lib_init);
	if (!net_lib_ok) {
		core_error_set(err, CORE_EINTERNAL, NULL, "libevent thread support unavailable");
		return NULL;
	}
	net_rlimit_raise();
	net_sigpipe_ignore();
	struct net_runtime *rt = core_xcalloc(1, sizeof(*rt));
	rt->wake_pipe[0] = rt->wake_pipe[1] = -1;
	pthread_mutex_init(&rt->tls_mu, NULL);
	pthread_mutex_init(&rt->call_mu, NULL);
	atomic_init(&rt->threads_ready, 0);
	atomic_init(&rt->nconns, 0);
	atomic_init(&rt->next_id, 1);
	atomic_init(&rt->stopping, false);
	atomic_init(&rt->workers.queued, 0);
	pthread_mutex_init(&rt->workers.mu, NULL);
	pthread_cond_init(&rt->workers.cv, NULL);

	rt->nthreads = cfg->event_threads ? cfg->event_threads : net_ncpu();
	/* Workers mostly wait (a synced commit shared by a batch of deliveries, a directory or
	 * DNS answer), so there are more of them than CPUs. */
	unsigned def_workers = 4 * net_ncpu() > 8 ? 4 * net_ncpu() : 8;
	rt->workers.n = cfg->worker_threads ? cfg->worker_threads : def_workers;
	rt->workers.queue_max =
		cfg->worker_queue_max ? cfg->worker_queue_max : NET_DEFAULT_QUEUE_MAX;
	rt->out_high = cfg->out_high_watermark ? cfg->out_high_watermark : NET_DEFAULT_OUT_HIGH;
	rt->out_low = cfg->out_low_watermark ? cfg->out_low_watermark : NET_DEFAULT_OUT_LOW;
	if (rt->out_low > rt->out_high)
		rt->out_low = rt->out_high;
	rt->grace_ms = cfg->shutdown_grace_ms ? cfg->shutdown_grace_ms : NET_DEFAULT_GRACE_MS;

	/* Keep a copy of the TLS configuration for reloads. */
	rt->tls_cfg = *cfg;
	rt->certs = core_xcalloc(cfg->ncerts ? cfg->ncerts : 1, sizeof(*rt->certs));
	for (size_t i = 0; i < cfg->ncerts; i++) {
		rt->certs[i].cert_file = core_xstrdup(cfg->certs[i].cert_file);
		rt->certs[i].key_file = core_xstrdup(cfg->certs[i].key_file);
	}
	rt->tls_cfg.certs = rt->certs;
	rt->tls_cfg.tls_min_version =
		cfg->tls_min_version ? core_xstrdup(cfg->tls_min_version) : NULL;
	rt->tls_cfg.tls_ciphers = cfg->tls_ciphers ? core_xstrdup(cfg->tls_ciphers) : NULL;
	rt->tls_cfg.tls_client_ca = cfg->tls_client_ca ? core_xstrdup(cfg->tls_client_ca) : NULL;
	if (cfg->ncerts > 0) {
		rt->tls = net_tls_set_load(&rt->tls_cfg, err);
		if (rt->tls == NULL)
			goto fail;
	}

	rt->main_base = event_base_new();
	if (rt->main_base == NULL)
		goto fail_base;
	if (pipe2(rt->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		core_error_set(err, CORE_EIO, NULL, "pipe: %s", strerror(errno));
		goto fail;
	}
	rt->ev_pipe =
		event_new(rt->main_base, rt->wake_pipe[0], EV_READ | EV_PERSIST, net_pipe_cb, rt);
	rt->ev_call = event_new(rt->main_base, -1, 0, net_call_cb, rt);
	rt->ev_check = event_new(rt->main_base, -1, EV_PERSIST, net_check_cb, rt);
	if (rt->ev_pipe == NULL || rt->ev_call == NULL || rt->ev_check == NULL)
		goto fail_base;
	event_add(rt->ev_pipe, NULL);

	rt->threads = core_xcalloc(rt->nthreads, sizeof(*rt->threads));
	for (unsigned i = 0; i < rt->nthreads; i++) {
		struct net_thread *th = &rt->threads[i];
		th->rt = rt;
		th->idx = i;
		pthread_mutex_init(&th->mu, NULL);
		th->base = event_base_new();
		if (th->base == NULL)
			goto fail_base;
		th->ev_wake = event_new(th->base, -1, 0, net_thread_wake_cb, th);
		if (th->ev_wake == NULL)
			goto fail_base;
	}
	return rt;
fail_base:
	core_error_set(err, CORE_EINTERNAL, NULL, "cannot create event loops");
fail:
	net_runtime_free(&rt);
	return NULL;
}

void net_runtime_free(struct net_runtime **rtp)
{
	if (rtp == NULL || *rtp == NULL)
		return;
	struct net_runtime *rt = *rtp;
	*rtp = NULL;
	/* Never run, or run and stopped: the threads are joined. Free what is left. */
	if (rt->threads != NULL) {
		for (unsigned i = 0; i < rt->nthreads; i++) {
			struct net_thread *th = &rt->threads[i];
			if (th->base == NULL)
				continue;
			net_listener_thread_stop(th);
			net_thread_force(th);
		}
	}
	net_listener_free_all(rt);
	if (rt->threads != NULL) {
		for (unsigned i = 0; i < rt->nthreads; i++) {
			struct net_thread *th = &rt->threads[i];
			/* Completions that were never delivered (run() not called): free them. */
			if (th->done_head != NULL)
				net_workers_complete(th, th->done_head);
			if (th->ev_wake != NULL)
				event_free(th->ev_wake);
			if (th->base != NULL)
				event_base_free(th->base);
			pthread_mutex_destroy(&th->mu);
		}
		free(rt->threads);
	}
	if (rt->ev_pipe != NULL)
		event_free(rt->ev_pipe);
	if (rt->ev_call != NULL)
		event_free(rt->ev_call);
	if (rt->ev_check != NULL)
		event_free(rt->ev_check);
	if (rt->main_base != NULL)
		event_base_free(rt->main_base);
	for (int i = 0; i < 2; i++)
		if (rt->wake_pipe[i] >= 0)
			close(rt->wake_pipe[i]);
	struct net_call *call = rt->calls_head;
	while (call != NULL) {
		struct net_call *next = call->next;
		free(call);
		call = next;
	}
	net_tls_set_unref(rt->tls);
	for (size_t i = 0; i < rt->tls_cfg.ncerts; i++) {
		free((char *)rt->certs[i].cert_file);
		free((char *)rt->certs[i].key_file);
	}
	free(rt->certs);
	free((char *)rt->tls_cfg.tls_min_version);
	free((char *)rt->tls_cfg.tls_ciphers);
	free((char *)rt->tls_cfg.tls_client_ca);
	free(rt->workers.tids);
	pthread_mutex_destroy(&rt->workers.mu);
	pthread_cond_destroy(&rt->workers.cv);
	pthread_mutex_destroy(&rt->tls_mu);
	pthread_mutex_destroy(&rt->call_mu);
	free(rt);
	/* OpenSSL keeps per-thread error queues; release the calling thread's one. */
	OPENSSL_thread_stop();
}

int net_runtime_run(struct net_runtime *rt)
{
	if (rt->running)
		return CORE_EINTERNAL;
	rt->running = true;
	if (net_workers_start(rt) < 0) {
		core_log(CORE_LOG_ERROR, "net.run", "msg", "cannot start worker threads", NULL);
		return CORE_EINTERNAL;
	}
	for (unsigned i = 0; i < rt->nthreads; i++) {
		struct net_thread *th = &rt->threads[i];
		if (pthread_create(&th->tid, NULL, net_thread_main, th) != 0) {
			core_log(CORE_LOG_ERROR, "net.run", "msg", "cannot start event threads",
				 NULL);
			/* Stop what started. */
			atomic_store(&rt->stopping, true);
			for (unsigned j = 0; j < i; j++) {
				pthread_mutex_lock(&rt->threads[j].mu);
				rt->threads[j].cmd_exit = true;
				pthread_mutex_unlock(&rt->threads[j].mu);
				net_thread_wake(&rt->threads[j]);
				pthread_join(rt->threads[j].tid, NULL);
				rt->threads[j].started = false;
			}
			net_workers_stop(rt);
			return CORE_EINTERNAL;
		}
		th->started = true;
	}
	core_logf(CORE_LOG_INFO, "net.run", "%u event threads, %u workers", rt->nthreads,
		  rt->workers.n);
	/* A shutdown requested before run() is picked up by the pipe event. */
	event_base_loop(rt->main_base, EVLOOP_NO_EXIT_ON_EMPTY);
	if (!rt->done) {
		/* The loop was broken from outside (event_base_loopbreak on main_base). */
		net_workers_stop(rt);
		net_post_all(rt, 2);
	}
	for (unsigned i = 0; i < rt->nthreads; i++) {
		if (rt->threads[i].started)
			pthread_join(rt->threads[i].tid, NULL);
		rt->threads[i].started = false;
	}
	/* Run calls posted during shutdown (they may free what they carry). */
	net_call_cb(-1, 0, rt);
	core_log(CORE_LOG_INFO, "net.shutdown", "phase", "done", NULL);
	return 0;
}

void net_runtime_on_ready(struct net_runtime *rt, void (*fn)(void *arg), void *arg)
{
	rt->ready_fn = fn;
	rt->ready_arg = arg;
}

void net_runtime_shutdown(struct net_runtime *rt)
{
	/* Only write(2): async-signal-safe. A full pipe already carries a request. */
	int saved = errno;
	ssize_t r = write(rt->wake_pipe[1], "s", 1);
	(void)r;
	errno = saved;
}

void net_runtime_call(struct net_runtime *rt, void (*fn)(void *arg), void *arg)
{
	struct net_call *call = core_xcalloc(1, sizeof(*call));
	call->fn = fn;
	call->arg = arg;
	pthread_mutex_lock(&rt->call_mu);
	if (rt->calls_tail != NULL)
		rt->calls_tail->next = call;
	else
		rt->calls_head = call;
	rt->calls_tail = call;
	pthread_mutex_unlock(&rt->call_mu);
	event_active(rt->ev_call, EV_TIMEOUT, 0);
}

void *net_runtime_main_base(struct net_runtime *rt)
{
	return rt->main_base;
}
