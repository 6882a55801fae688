/* tunnel.c - a websocket after the upstream's 101: the client's connection
 * (detached from the core) and the upstream's, bytes relayed both ways as
 * they come, frames untouched.
 *
 * Back-pressure: a side stops reading while more than TN_HIGH_WATER bytes
 * wait to go out on the other, and resumes once they are down to
 * TN_LOW_WATER (the other side's write watermark).  The tunnel closes when
 * either side closes (after flushing what is left towards the other, for at
 * most the send timeout) or when nothing moved either way for the idle
 * timeout (the route's ProxyReadTimeout).
 */
#include <stdlib.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "proxy_int.h"

#define TN_HIGH_WATER ((size_t)256 * 1024)
#define TN_LOW_WATER ((size_t)64 * 1024)

struct px_tunnel {
    px_tunnel *prev, *next;
    px_worker *pw;
    rp_worker *w;
    struct bufferevent *side[2]; /* 0 = client, 1 = upstream */
    px_conn *pc;
    struct event *timer;
    double idle, last;
    double flush; /* the route's ProxySendTimeout: how long a closing side may flush */
    int closing; /* flushing what is left, then closing */
    int stop;    /* close from the timer: a graceful stop asked */
};

static void tn_close(px_tunnel *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->pw->tunnels = t->next;
    if (t->next)
        t->next->prev = t->prev;
    struct bufferevent *client = t->side[0];
    rp_worker *w = t->w;
    event_free(t->timer);
    px_conn_close(t->pc);
    free(t);
    /* last: releasing a retired worker's last connection ends the worker */
    rp_worker_release(w, client);
}

static int side_of(const px_tunnel *t, const struct bufferevent *bev)
{
    return bev == t->side[1];
}

static void arm(px_tunnel *t, double in)
{
    struct timeval tv = px_timeval(in);
    event_add(t->timer, &tv);
}

static void write_cb(struct bufferevent *bev, void *arg);

/* Move what side s has read to the other side, pausing s if the other is
 * too far behind. */
static void relay(px_tunnel *t, int s)
{
    struct bufferevent *from = t->side[s], *to = t->side[!s];
    struct evbuffer *in = bufferevent_get_input(from), *out = bufferevent_get_output(to);
    if (evbuffer_get_length(in) == 0)
        return;
    t->last = px_now();
    evbuffer_add_buffer(out, in);
    if (evbuffer_get_length(out) > TN_HIGH_WATER) {
        bufferevent_disable(from, EV_READ);
        bufferevent_setwatermark(to, EV_WRITE, TN_LOW_WATER, 0);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    px_tunnel *t = arg;
    if (!t->closing)
        relay(t, side_of(t, bev));
}

/* to's output went down to its low mark: let the other side read again
 * (or, closing, close once it is empty). */
static void write_cb(struct bufferevent *bev, void *arg)
{
    px_tunnel *t = arg;
    int s = side_of(t, bev);
    if (t->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            tn_close(t);
        return;
    }
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_enable(t->side[!s], EV_READ);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    px_tunnel *t = arg;
    int s = side_of(t, bev);
    (void)what;
    if (t->closing) {
        tn_close(t);
        return;
    }
    /* side s is gone: pass on what it sent, flush it to the other, close */
    relay(t, s);
    struct bufferevent *other = t->side[!s];
    if (evbuffer_get_length(bufferevent_get_output(other)) == 0) {
        tn_close(t);
        return;
    }
    t->closing = 1;
    bufferevent_disable(other, EV_READ);
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_setwatermark(other, EV_WRITE, 0, 0);
    t->idle = t->flush > 0 ? t->flush : 60;
    t->last = px_now();
    arm(t, t->idle);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    px_tunnel *t = arg;
    (void)fd;
    (void)what;
    double quiet = px_now() - t->last;
    if (t->stop || t->idle <= 0 || quiet >= t->idle) {
        tn_close(t);
        return;
    }
    arm(t, t->idle - quiet);
}

void px_tunnel_start(px_worker *pw, rp_worker *w, struct bufferevent *client, px_conn *pc,
                     double idle_timeout, double flush_timeout)
{
    px_tunnel *t = calloc(1, sizeof *t);
    struct event *timer = t ? event_new(rp_worker_base(w), -1, 0, timer_cb, t) : NULL;
    if (!timer) {
        free(t);
        px_conn_close(pc);
        rp_worker_release(w, client);
        return;
    }
    t->pw = pw;
    t->w = w;
    t->pc = pc;
    t->side[0] = client;
    t->side[1] = pc->bev;
    t->timer = timer;
    t->idle = idle_timeout;
    t->flush = flush_timeout;
    t->last = px_now();
    t->next = pw->tunnels;
    if (pw->tunnels)
        pw->tunnels->prev = t;
    pw->tunnels = t;
    for (int s = 0; s < 2; s++) {
        bufferevent_setcb(t->side[s], read_cb, write_cb, event_cb, t);
        bufferevent_set_timeouts(t->side[s], NULL, NULL);
        bufferevent_setwatermark(t->side[s], EV_READ | EV_WRITE, 0, 0);
        bufferevent_enable(t->side[s], EV_READ | EV_WRITE);
    }
    if (idle_timeout > 0)
        arm(t, idle_timeout);
    /* bytes that came with the handshake on either side */
    relay(t, 0);
    relay(t, 1);
}

void px_tunnel_stop_all(px_worker *pw)
{
    for (px_tunnel *t = pw->tunnels; t; t = t->next) {
        t->stop = 1;
        event_active(t->timer, EV_TIMEOUT, 1);
    }
}

/* The loop has ended: free what is left without telling the worker. */
void px_tunnel_close_all(px_worker *pw)
{
    while (pw->tunnels) {
        px_tunnel *t = pw->tunnels;
        pw->tunnels = t->next;
        event_free(t->timer);
        px_conn_close(t->pc);
        bufferevent_free(t->side[0]);
        free(t);
    }
}
