/* listen.c - turn Bind strings into listening sockets on the main thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>
#include <stdatomic.h>
#include "runtime.h"
#include "listen.h"
#include "tls.h"

/* "127.0.0.1:8088", "[::1]:8088", spaces anywhere ignored. */
int rp_bind_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char buf[128];
    size_t n = 0;
    for (const char *p = spec; *p && n < sizeof buf - 1; p++)
        if (*p != ' ' && *p != '\t')
            buf[n++] = *p;
    buf[n] = '\0';
    char *colon = strrchr(buf, ':');
    if (!colon)
        return -1;
    char *end;
    if (colon[1] < '0' || colon[1] > '9') /* digits only: no sign, no blank */
        return -1;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -1;
    *colon = '\0';
    memset(ss, 0, sizeof *ss);
    if (buf[0] == '[') {
        size_t l = strlen(buf);
        if (l < 3 || buf[l - 1] != ']')
            return -1;
        buf[l - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, buf + 1, &a->sin6_addr) != 1)
            return -1;
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, buf, &a->sin_addr) != 1)
            return -1;
        *len = sizeof *a;
    }
    return 0;
}

/* A wildcard address (0.0.0.0, [::]) says nothing about a connection's own. */
static bool specific(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 a;
        memcpy(&a, ss, sizeof a);
        return !IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr);
    }
    struct sockaddr_in a;
    memcpy(&a, ss, sizeof a);
    return a.sin_addr.s_addr != htonl(INADDR_ANY);
}

static int open_socket(const char *spec, struct sockaddr_storage *local, bool *known, char *err,
                       size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (rp_bind_parse(spec, &ss, &len) != 0) {
        snprintf(err, errlen, "Bind '%s': expected 1.2.3.4:port or [ipv6]:port", spec);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "Bind '%s': socket: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) /* "[::]" must not also claim IPv4 */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    *local = ss;
    *known = specific(&ss);
    return fd;
}

/* ---- accepting ------------------------------------------------------------------
 * Every worker thread accepts on every listening socket itself, from its own
 * loop; nothing passes between threads on the way in.  Designs weighed, the
 * first two measured with wrk -H 'Connection: close' against a 1 KiB file
 * (2 cores, nginx in the same run, see README "Performance notes"):
 *   - one accepting thread handing descriptors to the workers through a
 *     locked inbox (the old design): two thread wake-ups per connection, the
 *     most CPU per connection (48-57 us, nginx 29-38 in the same runs);
 *   - per-worker accept on the shared socket (this design): 36 us, and the
 *     accepting thread knows the peer address (no getpeername);
 *   - per-worker SO_REUSEPORT sockets (not measured; on one worker it is
 *     this design): no herd, but the kernel assigns a
 *     connection to a worker by hash, whatever that worker is doing, and a
 *     socket closed at stop resets what waits in its queue.
 * A thread busy with a long request is not polling, so it does not accept:
 * the free threads take the connections (what the old dispatcher did by
 * skipping threads held over 200 ms).  A thread holding clearly more
 * connections than the least loaded free thread passes a new one to it
 * through that thread's inbox (rp_worker_take), which keeps keep-alive load
 * spread.  libevent 2.1 cannot ask epoll for EPOLLEXCLUSIVE, so an idle
 * moment wakes every idle worker for a new connection (the losers' accept
 * finds EAGAIN); each wake-up accepts up to RP_ACCEPT_BATCH, so under load
 * the herd costs little.  Reload keeps the sockets and the events (the
 * thread serves new connections with its current configuration), and
 * listening sockets are still opened before privileges are dropped. */

#define RP_ACCEPT_BATCH 8

/* ---- running out of descriptors ---------------------------------------------
 * At the descriptor limit accept() fails with EMFILE while the listening
 * socket stays readable: retrying at once spins a core and floods the log.
 * Like nginx's accept disable, the thread that met the limit stops accepting
 * for a moment instead, and the main thread asks the workers to shed the
 * connections that cost most and give least (idle keep-alive, heads and
 * bodies trickling in: rp_workers_shed).  One descriptor is held in reserve
 * and given up to accept the client that met the limit, so it is served
 * rather than left in the backlog.  One warning when an episode starts, one
 * notice when it ends (the first accept that works again). */

#define RP_ACCEPT_PAUSE_MS 50

static rp_listeners *g_ls;       /* one running server per process */
static atomic_int g_starved_li;  /* listener where a thread met the limit */
static atomic_bool g_episode;    /* set by the main thread, cleared by an accept that works */

typedef struct rp_accept_ctx {
    rp_thread *t;
    int li; /* listener index */
} rp_accept_ctx;

static bool out_of_fds(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* Main thread: reopen the reserve once the pause is over. */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_listeners *ls = arg;
    rp_fd_reserve_hold(&ls->reserve_fd);
}

/* The reserve descriptor makes room for the client waiting at listener li. */
static void accept_with_reserve(rp_listeners *ls, int li)
{
    if (!rp_fd_reserve_spend(&ls->reserve_fd))
        return;
    int fd = accept4(ls->fd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        rp_workers_dispatch(fd, ls->tls[li]);
}

/* Main thread: a worker met the descriptor limit. */
static void starved_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_listeners *ls = arg;
    int open_conns = rp_workers_conn_count();
    if (!ls->starved)
        rp_log(NULL, RP_LOG_WARN,
               "accept: out of file descriptors with %d connections open: pausing accept "
               "and closing idle and slow connections (raise the limit: ulimit -n)",
               open_conns);
    ls->starved = true;
    atomic_store(&g_episode, true);
    ls->pauses++;
    accept_with_reserve(ls, atomic_load(&g_starved_li));
    rp_workers_shed(open_conns / 8 + 8);
    if (!event_pending(ls->resume_ev, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, (suseconds_t)RP_ACCEPT_PAUSE_MS * 1000};
        event_add(ls->resume_ev, &tv);
    }
}

/* Main thread: an accept worked again after an episode. */
static void recovered_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_listeners *ls = arg;
    if (!ls->starved)
        return;
    rp_log(NULL, RP_LOG_NOTICE, "accept: descriptors available again after %lu pause%s",
           ls->pauses, ls->pauses == 1 ? "" : "s");
    ls->starved = false;
    ls->pauses = 0;
}

/* Worker thread: stop accepting for RP_ACCEPT_PAUSE_MS. */
static void pause_accepting(rp_thread *t)
{
    for (int i = 0; i < t->naccept; i++)
        event_del(t->accept_ev[i]);
    struct timeval tv = {0, (suseconds_t)RP_ACCEPT_PAUSE_MS * 1000};
    event_add(t->accept_resume, &tv);
}

static void thread_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_thread *t = arg;
    if (t->stopping)
        return;
    for (int i = 0; i < t->naccept; i++)
        event_add(t->accept_ev[i], NULL);
}

static void thread_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    rp_accept_ctx *a = arg;
    for (int k = 0; k < RP_ACCEPT_BATCH && !a->t->stopping; k++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (out_of_fds(e)) {
                pause_accepting(a->t);
                atomic_store(&g_starved_li, a->li);
                event_active(g_ls->starved_ev, EV_READ, 1);
            } else if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED) {
                rp_log(NULL, RP_LOG_INFO, "accept: %s", strerror(e));
            }
            return;
        }
        if (atomic_load_explicit(&g_episode, memory_order_relaxed) && atomic_exchange(&g_episode, false))
            event_active(g_ls->recovered_ev, EV_READ, 1);
        rp_worker_take(a->t, fd, g_ls->tls[a->li], plen <= sizeof peer ? &peer : NULL,
                       g_ls->local_known[a->li] ? &g_ls->local[a->li] : NULL);
    }
}

int rp_listeners_open(rp_server *s, rp_listeners *ls, char *err, size_t errlen)
{
    memset(ls, 0, sizeof *ls);
    ls->reserve_fd = -1;
    bool any_tls = false;
    for (char **b = s->core->binds; b && *b; b++) {
        if (ls->n == RP_MAX_LISTENERS) {
            snprintf(err, errlen, "too many Bind addresses (at most %d)", RP_MAX_LISTENERS);
            return -1;
        }
        /* "tls:" marks "Bind addr tls"; Secure on makes every address TLS */
        bool tls = strncmp(*b, "tls:", 4) == 0;
        const char *spec = tls ? *b + 4 : *b;
        tls = tls || s->core->secure;
        int fd = open_socket(spec, &ls->local[ls->n], &ls->local_known[ls->n], err, errlen);
        if (fd < 0)
            return -1;
        ls->fd[ls->n] = fd;
        ls->tls[ls->n] = tls;
        ls->spec[ls->n++] = spec;
        any_tls = any_tls || tls;
    }
    if (ls->n == 0) {
        snprintf(err, errlen, "no Bind address");
        return -1;
    }
    if (any_tls && !s->tls) {
        snprintf(err, errlen, "TLS listeners without a TLS context (configuration not finalized)");
        return -1;
    }
    return 0;
}

static void event_free_if(struct event **ev)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
}

int rp_listeners_attach(rp_listeners *ls, struct event_base *base)
{
    g_ls = ls;
    rp_fd_reserve_hold(&ls->reserve_fd);
    ls->resume_ev = evtimer_new(base, resume_cb, ls);
    ls->starved_ev = event_new(base, -1, 0, starved_cb, ls);
    ls->recovered_ev = event_new(base, -1, 0, recovered_cb, ls);
    if (!ls->resume_ev || !ls->starved_ev || !ls->recovered_ev)
        return -1;
    int nt = rp_workers_count();
    ls->ctx = calloc((size_t)(nt * ls->n), sizeof(rp_accept_ctx));
    if (!ls->ctx)
        return -1;
    rp_accept_ctx *ctx = ls->ctx;
    for (int i = 0; i < nt; i++) {
        rp_thread *t = rp_workers_thread(i);
        t->accept_ev = calloc((size_t)ls->n, sizeof(struct event *));
        t->accept_resume = evtimer_new(t->base, thread_resume_cb, t);
        if (!t->accept_ev || !t->accept_resume)
            return -1;
        for (int j = 0; j < ls->n; j++) {
            rp_accept_ctx *a = &ctx[i * ls->n + j];
            a->t = t;
            a->li = j;
            t->accept_ev[j] = event_new(t->base, ls->fd[j], EV_READ | EV_PERSIST, thread_accept_cb, a);
            if (!t->accept_ev[j] || event_add(t->accept_ev[j], NULL) != 0)
                return -1;
            t->naccept = j + 1;
        }
    }
    return 0;
}

void rp_listeners_close(rp_listeners *ls)
{
    rp_workers_stop_accepting(); /* before a descriptor number can be reused */
    for (int i = 0; i < ls->n; i++) {
        if (ls->fd[i] >= 0)
            close(ls->fd[i]);
        ls->fd[i] = -1;
    }
    event_free_if(&ls->resume_ev);
    event_free_if(&ls->starved_ev);
    event_free_if(&ls->recovered_ev);
    free(ls->ctx); /* the threads' events using it are deleted, never to fire */
    ls->ctx = NULL;
    rp_fd_reserve_spend(&ls->reserve_fd);
}
