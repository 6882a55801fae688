/* upstream.c - per worker thread: the keep-alive pool, balancing, passive
 * health and connecting.  Everything here belongs to one thread, so none of
 * it takes a lock. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/x509v3.h>
#include "proxy_int.h"

double px_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timeval px_timeval(double s)
{
    struct timeval tv;
    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

void px_set_timeouts(struct bufferevent *bev, double rd, double wr)
{
    struct timeval r = px_timeval(rd), w = px_timeval(wr);
    bufferevent_set_timeouts(bev, rd > 0 ? &r : NULL, wr > 0 ? &w : NULL);
}

px_worker *px_worker_new(rp_worker *w, px_conf *c)
{
    px_worker *pw = calloc(1, sizeof *pw);
    if (!pw)
        return NULL;
    pw->w = w;
    pw->conf = c;
    pw->up = calloc((size_t)c->nups + 1, sizeof *pw->up);
    pw->rr = calloc((size_t)c->nroutes + 1, sizeof *pw->rr);
    pw->scratch = evbuffer_new();
    if (!pw->up || !pw->rr || !pw->scratch) {
        if (pw->scratch)
            evbuffer_free(pw->scratch);
        free(pw->up);
        free(pw->rr);
        free(pw);
        return NULL;
    }
    return pw;
}

static void unlink_idle(px_conn *pc)
{
    px_upstate *st = &pc->pw->up[pc->up->index];
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        st->idle = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    pc->next = pc->prev = NULL;
    st->nidle--;
}

void px_worker_close_idle(px_worker *pw)
{
    px_conn *pc;
    for (int i = 0; i < pw->conf->nups; i++)
        while ((pc = px_pool_take(pw, pw->conf->ups[i])) != NULL)
            px_conn_close(pc);
}

void px_worker_free(px_worker *pw)
{
    px_tunnel_close_all(pw);
    px_worker_close_idle(pw);
    evbuffer_free(pw->scratch);
    free(pw->up);
    free(pw->rr);
    free(pw);
}

/* ---- balancing and health --------------------------------------------------- */

static int is_down(const px_upstate *st, double now)
{
    return st->down_until > now;
}

px_upstream *px_pick(px_worker *pw, const px_route *rt, px_upstream *const *ups, int balance,
                     const unsigned char *tried)
{
    unsigned start = pw->rr[rt->index]++;
    double now = px_now();
    /* First pass: upstreams that are up.  Second: any not tried yet, so a
     * route whose upstreams are all down still tries one (and notices
     * recovery) instead of failing without a connect. */
    for (int pass = 0; pass < 2; pass++) {
        px_upstream *best = NULL;
        int best_active = 0;
        for (int k = 0; k < rt->nups; k++) {
            int i = (int)((start + (unsigned)k) % (unsigned)rt->nups);
            px_upstream *up = ups[i];
            const px_upstate *st = &pw->up[up->index];
            if (tried[i] || (pass == 0 && is_down(st, now)))
                continue;
            if (balance == PX_RR)
                return up;
            if (!best || st->active < best_active) {
                best = up;
                best_active = st->active;
            }
        }
        if (best)
            return best;
    }
    return NULL;
}

void px_health_fail(px_worker *pw, px_upstream *up, const char *reason)
{
    px_upstate *st = &pw->up[up->index];
    const px_conf *c = pw->conf;
    st->fails++;
    if (c->max_fails > 0 && st->fails >= c->max_fails && !is_down(st, px_now())) {
        st->down_until = px_now() + c->fail_timeout;
        rp_log(&rp_module_proxy, RP_LOG_WARN,
               "upstream %s marked down for %gs after %d failed connects in a row (%s)", up->url,
               c->fail_timeout, st->fails, reason);
    }
}

void px_health_ok(px_worker *pw, px_upstream *up)
{
    px_upstate *st = &pw->up[up->index];
    st->fails = 0;
    st->down_until = 0;
}

/* ---- the keep-alive pool ---------------------------------------------------- */

/* An idle connection that becomes readable was closed by the upstream (or
 * sent bytes nobody asked for): either way it cannot carry a request. */
static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    px_conn *pc = arg;
    unlink_idle(pc);
    px_conn_close(pc);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what; /* EOF, error or ProxyKeepAliveTimeout */
    px_conn *pc = arg;
    unlink_idle(pc);
    px_conn_close(pc);
}

px_conn *px_pool_take(px_worker *pw, px_upstream *up)
{
    px_conn *pc = pw->up[up->index].idle;
    if (pc)
        unlink_idle(pc);
    return pc;
}

void px_pool_put(px_conn *pc)
{
    px_worker *pw = pc->pw;
    px_upstate *st = &pw->up[pc->up->index];
    if (st->nidle >= pw->conf->keepalive || rp_stop_state_get() != RP_STOP_NONE) {
        px_conn_close(pc);
        return;
    }
    bufferevent_setcb(pc->bev, idle_read_cb, NULL, idle_event_cb, pc);
    px_set_timeouts(pc->bev, pw->conf->keepalive_timeout, 0);
    bufferevent_setwatermark(pc->bev, EV_WRITE, 0, 0); /* a streamed body's mark */
    bufferevent_setwatermark(pc->bev, EV_READ, 0, 0);
    bufferevent_enable(pc->bev, EV_READ);
    pc->uses++;
    pc->prev = NULL;
    pc->next = st->idle;
    if (st->idle)
        st->idle->prev = pc;
    st->idle = pc;
    st->nidle++;
}

/* ---- connecting ------------------------------------------------------------- */

static int is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Certificate checks: the chain against the system store (the context),
 * and the name against the URL's host; SNI for names, not addresses. */
static SSL *new_ssl(px_worker *pw, px_upstream *up)
{
    const px_conf *c = pw->conf;
    int insecure = up->insecure;
    SSL *ssl = SSL_new(insecure ? c->ssl_insecure : c->ssl_verify);
    if (!ssl)
        return NULL;
    int ip = is_ip_literal(up->host);
    if (!ip)
        SSL_set_tlsext_host_name(ssl, up->host);
    if (!insecure) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), up->host)
                    : SSL_set1_host(ssl, up->host);
        if (ok != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

px_conn *px_connect(px_worker *pw, px_upstream *up)
{
    struct event_base *base = rp_worker_base(pw->w);
    struct bufferevent *bev;
    if (up->tls) {
        SSL *ssl = pw->conf->ssl_verify ? new_ssl(pw, up) : NULL;
        if (!ssl)
            return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
        /* upstreams that close without close_notify are common */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
            return NULL;
    }
    px_conn *pc = calloc(1, sizeof *pc);
    if (!pc ||
        bufferevent_socket_connect(bev, (struct sockaddr *)&up->addr, (int)up->addrlen) < 0) {
        free(pc);
        bufferevent_free(bev);
        return NULL;
    }
    /* large reads and writes: a big body moves in few passes either way
     * (libevent's default is 16 KiB per pass) */
    bufferevent_set_max_single_read(bev, 256 * 1024);
    bufferevent_set_max_single_write(bev, 256 * 1024);
    int one = 1;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pc->bev = bev;
    pc->up = up;
    pc->pw = pw;
    return pc;
}

void px_conn_close(px_conn *pc)
{
    if (pc->bev)
        bufferevent_free(pc->bev);
    free(pc);
}
