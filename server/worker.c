/* worker.c - worker threads, each with its own event_base.
 *
 * Each thread accepts on the listening sockets itself (listen.c says why).
 * A descriptor accepted elsewhere - by a thread holding clearly more than
 * its share, or by the main thread with its reserve descriptor - reaches
 * the thread with the fewest open connections through a small locked inbox
 * plus event_active() (libevent is initialised for pthreads, so activation
 * from another thread is safe).  Everything a connection creates lives on
 * its thread's base.
 *
 * Reload: a thread serves new connections with its `current` rp_worker (one
 * configuration); a reload hands it a new one.  Connections keep the
 * rp_worker they started with and close after their request in flight, so an
 * old configuration drains; when its last connection goes, its modules'
 * worker_exit runs on that thread and the main thread is told.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "file.h"
#include "runtime.h"

static rp_thread *g_threads;
static int g_nthreads;

/* Configurations being drained: freed on the main thread when every thread
 * has let go of them. */
typedef struct retiring {
    rp_server *server;
    atomic_int threads_left;
    void (*done)(rp_server *, void *);
    void *arg;
    struct retiring *next;
} retiring;

static pthread_mutex_t g_retire_lock = PTHREAD_MUTEX_INITIALIZER;
static retiring *g_retiring;        /* guarded by g_retire_lock */
static struct event *g_retired_ev;  /* on the main thread's base */

const char *rp_worker_date(rp_worker *w)
{
    rp_thread *t = w->thread;
    time_t now = time(NULL);
    if (now != t->date_at) {
        rp_http_date(now, t->date);
        t->date_at = now;
    }
    return t->date;
}

/* ---- module hooks per configuration -------------------------------------- */

static void run_module_hook(rp_worker *w, bool init)
{
    rp_server *s = w->server;
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (init && m->desc->worker_init && m->desc->worker_init(w, m->conf) != RP_OK)
            rp_log(m->desc, RP_LOG_ERR, "worker %d: worker_init failed", w->thread->index);
        if (!init && m->desc->worker_exit)
            m->desc->worker_exit(w, m->conf);
    }
}

static rp_worker *worker_new(rp_thread *t, rp_server *s)
{
    rp_worker *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->thread = t;
    w->server = s;
    w->ctx = calloc(s->mods.n ? s->mods.n : 1, sizeof(void *));
    return w;
}

/* Runs on the thread: w serves from now on. */
static void worker_link(rp_thread *t, rp_worker *w)
{
    w->next_gen = t->gens;
    t->gens = w;
    t->current = w;
}

static void worker_unlink(rp_worker *w)
{
    rp_worker **pp = &w->thread->gens;
    while (*pp && *pp != w)
        pp = &(*pp)->next_gen;
    if (*pp)
        *pp = w->next_gen;
}

/* The last connection of a replaced configuration is gone (thread side). */
/* One more thread has let go of configuration s. */
static void retire_done(const rp_server *s)
{
    pthread_mutex_lock(&g_retire_lock);
    for (retiring *r = g_retiring; r; r = r->next)
        if (r->server == s && atomic_fetch_sub(&r->threads_left, 1) == 1)
            event_active(g_retired_ev, EV_READ, 1);
    pthread_mutex_unlock(&g_retire_lock);
}

static void worker_retire(rp_worker *w)
{
    const rp_server *s = w->server;
    worker_unlink(w);
    run_module_hook(w, false);
    rp_fcache_free(w->fcache);
    free(w->ctx);
    free(w);
    retire_done(s);
}

static void release(rp_worker *w)
{
    if (--w->live == 0 && w->retired)
        worker_retire(w);
}

void rp_worker_conn_gone(rp_worker *w)
{
    rp_thread *t = w->thread;
    release(w);
    /* loopexit, not loopbreak: a bufferevent freed in this turn is closed by
     * a deferred callback of the same turn, which must still run. */
    if (atomic_fetch_sub(&t->nconns, 1) == 1 && t->stopping)
        event_base_loopexit(t->base, NULL);
}

/* ---- thread events ---------------------------------------------------------- */

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_thread *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        int cfd = -1;
        if (t->inbox_n > 0)
            cfd = t->inbox[--t->inbox_n];
        pthread_mutex_unlock(&t->lock);
        if (cfd < 0)
            break;
        if (t->stopping) {
            close(cfd >> 1);
            atomic_fetch_sub(&t->nconns, 1);
            continue;
        }
        t->current->live++;
        rp_conn_accept(t->current, cfd >> 1, cfd & 1);
    }
}

static void swap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_thread *t = arg;
    pthread_mutex_lock(&t->lock);
    rp_worker *next = t->next;
    t->next = NULL;
    pthread_mutex_unlock(&t->lock);
    if (!next)
        return;
    run_module_hook(next, true);
    rp_worker *old = t->current;
    worker_link(t, next);
    old->retired = true;
    old->live++; /* hold it while its idle connections are closed */
    rp_conn_drain_worker(old);
    release(old);
}

struct rp_stop_cb {
    struct rp_stop_cb *next;
    void (*fn)(rp_worker *, void *);
    void *arg;
};

RP_API void rp_worker_on_stop(rp_worker *w, void (*fn)(rp_worker *, void *), void *arg)
{
    struct rp_stop_cb *cb = malloc(sizeof(*cb));
    if (!cb)
        return;
    cb->fn = fn;
    cb->arg = arg;
    rp_thread *t = w->thread;
    cb->next = t->on_stop;
    t->on_stop = cb;
}

static void tell_stop(rp_thread *t)
{
    while (t->on_stop) {
        struct rp_stop_cb *cb = t->on_stop;
        t->on_stop = cb->next;
        cb->fn(t->current, cb->arg);
        free(cb);
    }
}

static void shed_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_thread *t = arg;
    int n = atomic_exchange(&t->shed_want, 0);
    if (n > 0 && !t->stopping)
        rp_conn_shed(t, n);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_thread *t = arg;
    t->stopping = true;
    for (int i = 0; i < t->naccept; i++)
        event_del(t->accept_ev[i]);
    if (t->accept_resume)
        event_del(t->accept_resume);
    tell_stop(t);
    inbox_cb(-1, 0, t);
    rp_conn_drain_all(t);
    if (atomic_load(&t->nconns) == 0)
        event_base_loopexit(t->base, NULL);
}

/* epoll's changelist folds an add and a delete of the same event within
 * one loop turn into nothing, saving epoll_ctl calls on keep-alive. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *b = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return b;
}

static void *thread_main(void *arg)
{
    rp_thread *t = arg;
    rp_file_reserve(true);
    run_module_hook(t->current, true);
    event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Every configuration this thread still serves, the current one and any
     * a reload replaced whose connections outlived the graceful wait. */
    for (rp_worker *w = t->gens; w; w = w->next_gen)
        run_module_hook(w, false);
    rp_conn_thread_done(t);
    for (int i = 0; i < t->naccept; i++)
        event_free(t->accept_ev[i]);
    t->naccept = 0;
    free(t->accept_ev);
    t->accept_ev = NULL;
    if (t->accept_resume)
        event_free(t->accept_resume);
    t->accept_resume = NULL;
    event_base_loop(t->base, EVLOOP_NONBLOCK); /* what their exits closed */
    rp_file_reserve(false);
    return NULL;
}

/* ---- main thread side ------------------------------------------------------- */

int rp_workers_start(rp_server *s, int n)
{
    evthread_use_pthreads();
    g_threads = calloc((size_t)n, sizeof(*g_threads));
    g_nthreads = n;
    for (int i = 0; i < n; i++) {
        rp_thread *t = &g_threads[i];
        t->index = i;
        t->base = new_base();
        if (!t->base)
            return -1;
        pthread_mutex_init(&t->lock, NULL);
        worker_link(t, worker_new(t, s));
        t->inbox_ev = event_new(t->base, -1, 0, inbox_cb, t);
        t->stop_ev = event_new(t->base, -1, 0, stop_cb, t);
        t->swap_ev = event_new(t->base, -1, 0, swap_cb, t);
        t->shed_ev = event_new(t->base, -1, 0, shed_cb, t);
        if (pthread_create(&t->tid, NULL, thread_main, t) != 0)
            return -1;
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rp_thread_busy(rp_thread *t, bool busy)
{
    atomic_store_explicit(&t->busy_since, busy ? now_ms() : 0, memory_order_relaxed);
}

/* A thread whose loop has been held this long by one request (a long
 * script, a blocking call) gets no new connection while another is free. */
#define RP_STUCK_MS 200

static bool stuck(const rp_thread *t, long long now)
{
    long long since = atomic_load_explicit(&t->busy_since, memory_order_relaxed);
    return since && now - since > RP_STUCK_MS;
}

/* The thread with the fewest connections among those whose loop is free;
 * all of them when none is. */
static rp_thread *pick_thread(void)
{
    long long now = now_ms();
    rp_thread *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++)
        for (int i = 0; i < g_nthreads; i++) {
            rp_thread *t = &g_threads[i];
            if (pass == 0 && stuck(t, now))
                continue;
            if (!best || atomic_load(&t->nconns) < atomic_load(&best->nconns))
                best = t;
        }
    return best;
}

int rp_workers_conn_count(void)
{
    int n = 0;
    for (int i = 0; i < g_nthreads; i++)
        n += atomic_load(&g_threads[i].nconns);
    return n;
}

void rp_workers_shed(int n)
{
    int each = n / g_nthreads + 1;
    for (int i = 0; i < g_nthreads; i++) {
        atomic_fetch_add(&g_threads[i].shed_want, each);
        event_active(g_threads[i].shed_ev, EV_READ, 1);
    }
}

int rp_workers_count(void) { return g_nthreads; }
rp_thread *rp_workers_thread(int i) { return &g_threads[i]; }

/* Main thread, at stop: no thread accepts any more (listen.c closes the
 * sockets next).  Deleting another thread's event waits for its callback. */
void rp_workers_stop_accepting(void)
{
    for (int i = 0; i < g_nthreads; i++) {
        rp_thread *t = &g_threads[i];
        for (int j = 0; j < t->naccept; j++)
            event_del(t->accept_ev[j]);
        if (t->accept_resume)
            event_del(t->accept_resume);
    }
}

static void hand_to(rp_thread *best, int fd, int tls);

/* A thread holding this many connections more than the least loaded free
 * thread (plus an eighth) passes new ones to it. */
#define RP_BALANCE_SLACK 4

/* Thread t accepted fd (listen.c): it serves it, unless another free thread
 * holds clearly fewer connections - then that one gets it through its inbox,
 * which keeps keep-alive connections spread over the threads. */
void rp_worker_take(rp_thread *t, int fd, int tls, const struct sockaddr_storage *peer,
                    const struct sockaddr_storage *local)
{
    rp_thread *best = pick_thread();
    int mine = atomic_load_explicit(&t->nconns, memory_order_relaxed);
    int theirs = atomic_load_explicit(&best->nconns, memory_order_relaxed);
    if (best != t && mine > theirs + RP_BALANCE_SLACK + theirs / 8) {
        hand_to(best, fd, tls);
        return;
    }
    atomic_fetch_add(&t->nconns, 1);
    t->current->live++;
    rp_conn_accept_addr(t->current, fd, tls, peer, local);
}

void rp_workers_dispatch(int fd, int tls)
{
    hand_to(pick_thread(), fd, tls);
}

static void hand_to(rp_thread *best, int fd, int tls)
{
    atomic_fetch_add(&best->nconns, 1);
    pthread_mutex_lock(&best->lock);
    if (best->inbox_n == best->inbox_cap) {
        size_t cap = best->inbox_cap ? best->inbox_cap * 2 : 64;
        int *in = realloc(best->inbox, cap * sizeof(int));
        if (!in) {
            pthread_mutex_unlock(&best->lock);
            close(fd);
            atomic_fetch_sub(&best->nconns, 1);
            return;
        }
        best->inbox = in;
        best->inbox_cap = cap;
    }
    best->inbox[best->inbox_n++] = fd << 1 | (tls ? 1 : 0);
    pthread_mutex_unlock(&best->lock);
    event_active(best->inbox_ev, EV_READ, 1);
}

static void retired_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    for (;;) {
        retiring *done = NULL;
        pthread_mutex_lock(&g_retire_lock);
        for (retiring **pp = &g_retiring; *pp; pp = &(*pp)->next)
            if (atomic_load(&(*pp)->threads_left) == 0) {
                done = *pp;
                *pp = done->next;
                break;
            }
        pthread_mutex_unlock(&g_retire_lock);
        if (!done)
            return;
        done->done(done->server, done->arg);
        free(done);
    }
}

void rp_workers_swap(rp_server *old, rp_server *s, void (*retired)(rp_server *, void *), void *arg)
{
    if (!g_retired_ev)
        g_retired_ev = event_new(rp_server_base(s), -1, 0, retired_cb, NULL);
    retiring *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->server = old;
    atomic_store(&r->threads_left, g_nthreads);
    r->done = retired;
    r->arg = arg;
    pthread_mutex_lock(&g_retire_lock);
    r->next = g_retiring;
    g_retiring = r;
    pthread_mutex_unlock(&g_retire_lock);
    for (int i = 0; i < g_nthreads; i++) {
        rp_thread *t = &g_threads[i];
        rp_worker *w = worker_new(t, s);
        pthread_mutex_lock(&t->lock);
        rp_worker *unstarted = t->next; /* two reloads before the thread ran */
        t->next = w;
        pthread_mutex_unlock(&t->lock);
        if (unstarted) { /* never served here: nothing to exit, only to count */
            const rp_server *skipped = unstarted->server;
            free(unstarted->ctx);
            free(unstarted);
            retire_done(skipped);
        }
        event_active(t->swap_ev, EV_READ, 1);
    }
}

static atomic_int g_stop_state; /* rp_stop_state */

RP_API rp_stop_state rp_stop_state_get(void) { return (rp_stop_state)atomic_load(&g_stop_state); }

/* Join every thread by `deadline` (CLOCK_REALTIME); false if one is still running. */
static bool join_all(const struct timespec *deadline)
{
    bool all = true;
    for (int i = 0; i < g_nthreads; i++) {
        if (!g_threads[i].tid)
            continue;
        if (pthread_timedjoin_np(g_threads[i].tid, NULL, deadline) == 0)
            g_threads[i].tid = 0;
        else
            all = false;
    }
    return all;
}

static struct timespec after(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double whole = (double)(time_t)seconds;
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* A thread that has not let go this long after RP_STOP_NOW is stuck in code
 * that does not poll rp_stop_state_get (a blocking system call, a module's
 * endless loop): the process exits without it. */
#define RP_STOP_NOW_GRACE 2.0

/* Ask every thread to finish in-flight requests (and responses still being
 * written), wait at most `graceful` seconds, then tell whatever still runs to
 * end now (RP_STOP_NOW), stop the loops and join them. */
void rp_workers_stop(double graceful)
{
    atomic_store(&g_stop_state, RP_STOP_GRACEFUL);
    for (int i = 0; i < g_nthreads; i++)
        event_active(g_threads[i].stop_ev, EV_READ, 1);
    struct timespec deadline = after(graceful > 0 ? graceful : 0);
    if (join_all(&deadline))
        return;
    atomic_store(&g_stop_state, RP_STOP_NOW);
    for (int i = 0; i < g_nthreads; i++)
        if (g_threads[i].tid)
            event_base_loopexit(g_threads[i].base, NULL);
    deadline = after(RP_STOP_NOW_GRACE);
    if (join_all(&deadline))
        return;
    rp_log(NULL, RP_LOG_ERR, "GracefulTimeout passed and a worker thread is still busy after "
                             "%.0f s more: exiting without it", RP_STOP_NOW_GRACE);
    _exit(1);
}

/* ---- accessors -------------------------------------------------------------- */

RP_API struct event_base *rp_worker_base(rp_worker *w) { return w->thread->base; }
RP_API int rp_worker_index(const rp_worker *w) { return w->thread->index; }

static int slot(const rp_worker *w, const rp_module *m)
{
    const rp_modrec *rec = rp_modrec_of(w->server, m);
    return rec ? rec->index : -1;
}

RP_API void *rp_worker_ctx(const rp_worker *w, const rp_module *m)
{
    int i = slot(w, m);
    return i < 0 ? NULL : w->ctx[i];
}

RP_API void rp_worker_set_ctx(rp_worker *w, const rp_module *m, void *ctx)
{
    int i = slot(w, m);
    if (i >= 0)
        w->ctx[i] = ctx;
}
