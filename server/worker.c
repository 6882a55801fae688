/* worker.c - worker threads, each with its own event_base.
 *
 * The main thread accepts and hands each descriptor to the worker with the
 * fewest open connections, through a small locked inbox plus event_active()
 * (libevent is initialised for pthreads, so activation from another thread
 * is safe).  Everything a connection creates lives on its worker's base.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "runtime.h"

static rp_worker *g_workers;
static int g_nworkers;

const char *rp_worker_date(rp_worker *w)
{
    time_t now = time(NULL);
    if (now != w->date_at) {
        rp_http_date(now, w->date);
        w->date_at = now;
    }
    return w->date;
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int cfd = -1;
        if (w->inbox_n > 0)
            cfd = w->inbox[--w->inbox_n];
        pthread_mutex_unlock(&w->lock);
        if (cfd < 0)
            break;
        if (w->stopping) {
            close(cfd >> 1);
            atomic_fetch_sub(&w->nconns, 1);
            continue;
        }
        rp_conn_accept(w, cfd >> 1, cfd & 1);
    }
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
    cb->next = w->on_stop;
    w->on_stop = cb;
}

static void tell_stop(rp_worker *w)
{
    while (w->on_stop) {
        struct rp_stop_cb *cb = w->on_stop;
        w->on_stop = cb->next;
        cb->fn(w, cb->arg);
        free(cb);
    }
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_worker *w = arg;
    w->stopping = true;
    tell_stop(w);
    inbox_cb(-1, 0, w);
    rp_conn_drain_all(w);
    if (atomic_load(&w->nconns) == 0)
        event_base_loopbreak(w->base);
}

static void run_module_hook(rp_worker *w, bool init)
{
    rp_server *s = w->server;
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (init && m->desc->worker_init && m->desc->worker_init(w, m->conf) != RP_OK)
            rp_log(m->desc, RP_LOG_ERR, "worker %d: worker_init failed", w->index);
        if (!init && m->desc->worker_exit)
            m->desc->worker_exit(w, m->conf);
    }
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

static void *worker_main(void *arg)
{
    rp_worker *w = arg;
    run_module_hook(w, true);
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    run_module_hook(w, false);
    return NULL;
}

int rp_workers_start(rp_server *s, int n)
{
    evthread_use_pthreads();
    g_workers = calloc((size_t)n, sizeof(*g_workers));
    g_nworkers = n;
    for (int i = 0; i < n; i++) {
        rp_worker *w = &g_workers[i];
        w->index = i;
        w->server = s;
        w->base = new_base();
        if (!w->base)
            return -1;
        pthread_mutex_init(&w->lock, NULL);
        w->ctx = calloc(s->mods.n, sizeof(void *));
        w->inbox_ev = event_new(w->base, -1, 0, inbox_cb, w);
        w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return -1;
    }
    return 0;
}

void rp_workers_dispatch(int fd, int tls)
{
    rp_worker *best = &g_workers[0];
    for (int i = 1; i < g_nworkers; i++)
        if (atomic_load(&g_workers[i].nconns) < atomic_load(&best->nconns))
            best = &g_workers[i];
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

/* Ask every worker to finish in-flight requests, wait at most `graceful`
 * seconds, then stop their loops and join them. */
void rp_workers_stop(double graceful)
{
    for (int i = 0; i < g_nworkers; i++)
        event_active(g_workers[i].stop_ev, EV_READ, 1);
    struct timeval tv = {(time_t)graceful, (suseconds_t)((graceful - (double)(time_t)graceful) * 1e6)};
    for (int i = 0; i < g_nworkers; i++)
        event_base_loopexit(g_workers[i].base, &tv);
    for (int i = 0; i < g_nworkers; i++)
        pthread_join(g_workers[i].thread, NULL);
}

RP_API struct event_base *rp_worker_base(rp_worker *w) { return w->base; }
RP_API int rp_worker_index(const rp_worker *w) { return w->index; }

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
