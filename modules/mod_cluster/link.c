/* link.c - mod_cluster's Redis thread: one PUBLISH and one SUBSCRIBE
 * connection per process (per configuration), on an event_base of its own so
 * that no worker loop ever waits for Redis.
 *
 * Workers put messages in inst->out (cluster.c) and activate wake_ev; this
 * thread moves them to the publishing connection, at most CL_INFLIGHT
 * unanswered at a time, so that a slow Redis makes the bounded queue - not
 * hiredis's unbounded output buffer - fill up and drop its oldest.
 *
 * Outages: "up" means both connections work (the subscription confirmed).
 * Going from up (or from the start) to down logs one warning and drops the
 * queue; while down, publish() drops at once; both connections are retried
 * with a backoff doubling from 0.1 s to 5 s; coming back logs one notice.
 *
 * A Redis that stops answering without closing (stopped, hung, a peer gone
 * from the network) is an outage too, found by a tick every ClusterTimeout/4:
 * a connection with commands unanswered and no reply for ClusterTimeout is
 * stalled.  An idle pair is kept answering by a heartbeat: a PUBLISH on the
 * publishing connection to <prefix>!alive:<id>, a channel only this server's
 * subscribing connection listens to (outside the <prefix>:* pattern, so no
 * other server or subscriber sees it), which proves both ends at once.  A
 * PING on the subscribing connection would do for that end, but hiredis 0.14
 * cannot match its answer while subscribed.  On a stall both connections are
 * closed (the Redis is the same) and the usual outage path runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "cluster_int.h"

#define CL_TICKS 4 /* heartbeat ticks per ClusterTimeout */

static void link_down(cl_inst *inst, const char *why);
static void link_open_missing(cl_inst *inst);

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- state ------------------------------------------------------------------ */

/* Drop what waits in the queue: it cannot be sent. */
static void drop_queue(cl_inst *inst)
{
    /* one at a time, answered outside the lock: a caller's fn may call
     * again (refused now: the state is already down) */
    int64_t pubs = 0;
    for (;;) {
        pthread_mutex_lock(&inst->lock);
        cl_out *o = cl_ring_pop(&inst->out);
        pthread_mutex_unlock(&inst->lock);
        if (!o)
            break;
        pubs += !o->fn;
        cl_out_done(o, 0, NULL, 0);
    }
    if (pubs)
        rp_metric_add(inst->m_drop_disc, NULL, pubs);
}

static void set_state(cl_inst *inst, int state)
{
    pthread_mutex_lock(&inst->lock);
    inst->state = state;
    pthread_mutex_unlock(&inst->lock);
    atomic_store(&inst->connected, state == CL_UP);
}

static void pump(cl_inst *inst);

/* Both connections work: say so once after an outage. */
static void link_check_up(cl_inst *inst)
{
    if (!inst->pub_up || !inst->sub_up || inst->state == CL_UP)
        return;
    int outage = inst->state == CL_DOWN;
    set_state(inst, CL_UP);
    inst->backoff = CL_BACKOFF_MIN;
    if (outage && inst->was_up) {
        rp_metric_add(inst->m_reconnects, NULL, 1);
        rp_log(&rp_module_cluster, RP_LOG_NOTICE,
               "Redis at %s is back: reconnected and resubscribed", inst->where);
    } else if (outage) {
        rp_log(&rp_module_cluster, RP_LOG_NOTICE, "connected to Redis at %s", inst->where);
    } else {
        rp_log(&rp_module_cluster, RP_LOG_INFO, "connected to Redis at %s", inst->where);
    }
    inst->was_up = 1;
    pump(inst);
}

static void schedule_retry(cl_inst *inst)
{
    if (inst->stopping || evtimer_pending(inst->retry_ev, NULL))
        return;
    double s = inst->backoff;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (time_t)s) * 1e6)};
    evtimer_add(inst->retry_ev, &tv);
    inst->backoff = s * 2 > CL_BACKOFF_MAX ? CL_BACKOFF_MAX : s * 2;
}

/* A connection failed or went away (its context is gone or going). */
static void link_down(cl_inst *inst, const char *why)
{
    if (inst->stopping)
        return;
    if (inst->state != CL_DOWN) {
        if (inst->was_up)
            rp_log(&rp_module_cluster, RP_LOG_WARN,
                   "lost Redis at %s (%s): cluster messages are dropped until it is back; "
                   "retrying every %g s at most",
                   inst->where, why, CL_BACKOFF_MAX);
        else
            rp_log(&rp_module_cluster, RP_LOG_WARN,
                   "cannot reach Redis at %s (%s): serving without the cluster, retrying every "
                   "%g s at most",
                   inst->where, why, CL_BACKOFF_MAX);
        set_state(inst, CL_DOWN);
    }
    drop_queue(inst);
    schedule_retry(inst);
}

/* ---- publishing --------------------------------------------------------------- */

/* A call()'s answer as integers (see rp_cluster_reply_fn). */
static void answer_call(cl_out *o, const redisReply *r)
{
    long long v[16];
    size_t n = 0;
    int ok = r != NULL;
    if (!r || r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL) {
        ok = 0;
    } else if (r->type == REDIS_REPLY_INTEGER) {
        v[n++] = r->integer;
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements && ok; i++) {
            if (i >= sizeof v / sizeof *v || r->element[i]->type != REDIS_REPLY_INTEGER)
                ok = 0;
            else
                v[n++] = r->element[i]->integer;
        }
    } else if (r->type != REDIS_REPLY_STATUS) {
        ok = 0;
    }
    cl_out_done(o, ok, ok ? v : NULL, ok ? n : 0);
}

static void on_published(redisAsyncContext *c, void *reply, void *priv);

/* eval()'s EVALSHA met NOSCRIPT (a restarted Redis, SCRIPT FLUSH): the same
 * arguments once more with EVAL and the script, which caches it again; the
 * EVAL's answer, whatever it is, is the caller's. */
static void send_script(cl_inst *inst, cl_out *o)
{
    const char *argv[RP_CLUSTER_CALL_ARGS];
    size_t lens[RP_CLUSTER_CALL_ARGS];
    cl_out_args(o, argv);
    memcpy(lens, o->len, sizeof *lens * (size_t)o->argc);
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = o->script;
    lens[1] = strlen(o->script);
    o->script = NULL;
    rp_metric_add(inst->m_script_loads, NULL, 1);
    if (redisAsyncCommandArgv(inst->pub, on_published, o, o->argc, argv, lens) == REDIS_OK) {
        inst->inflight++;
        return;
    }
    cl_out_done(o, 0, NULL, 0);
}

static void on_published(redisAsyncContext *c, void *reply, void *priv)
{
    cl_inst *inst = c->data;
    redisReply *r = reply;
    cl_out *o = priv;
    if (c == inst->pub) {
        inst->inflight--;
        inst->pubw.heard += r != NULL;
    }
    if (o && o->script && r && r->type == REDIS_REPLY_ERROR && c == inst->pub &&
        strncmp(r->str, "NOSCRIPT", 8) == 0)
        send_script(inst, o);
    else if (o)
        answer_call(o, r);
    else if (r && r->type != REDIS_REPLY_ERROR)
        rp_metric_add(inst->m_published, NULL, 1);
    else
        rp_metric_add(inst->m_drop_disc, NULL, 1); /* lost with the connection */
    if (r)
        pump(inst);
}

/* One command onto the publishing connection.  A PUBLISH is freed once
 * hiredis has copied it; a call waits for its answer (on_published). */
static void send_out(cl_inst *inst, cl_out *o)
{
    const char *argv[RP_CLUSTER_CALL_ARGS];
    cl_out_args(o, argv);
    void *priv = o->fn ? o : NULL;
    if (inst->pub &&
        redisAsyncCommandArgv(inst->pub, on_published, priv, o->argc, argv, o->len) == REDIS_OK) {
        inst->inflight++;
        if (!priv)
            free(o);
        return;
    }
    if (!o->fn)
        rp_metric_add(inst->m_drop_disc, NULL, 1);
    cl_out_done(o, 0, NULL, 0);
}

/* Queue -> connection, keeping at most CL_INFLIGHT unanswered; taken from
 * the queue in batches, one lock each. */
static void pump(cl_inst *inst)
{
    cl_out *batch[64];
    while (inst->state == CL_UP && inst->pub && inst->inflight < CL_INFLIGHT && !inst->stopping) {
        size_t want = (size_t)(CL_INFLIGHT - inst->inflight), n = 0;
        if (want > sizeof batch / sizeof *batch)
            want = sizeof batch / sizeof *batch;
        pthread_mutex_lock(&inst->lock);
        while (n < want && (batch[n] = cl_ring_pop(&inst->out)))
            n++;
        pthread_mutex_unlock(&inst->lock);
        for (size_t i = 0; i < n; i++)
            send_out(inst, batch[i]);
        if (n < want)
            return;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_inst *inst = arg;
    pthread_mutex_lock(&inst->lock);
    inst->wake_pending = 0;
    pthread_mutex_unlock(&inst->lock);
    pump(inst);
}

void cl_link_wake(cl_inst *inst)
{
    event_active(inst->wake_ev, EV_READ, 1);
}

/* ---- subscribing ---------------------------------------------------------------- */

/* "rp1:<id>\n<data>" -> origin and data; anything else is a foreign
 * message, passed on whole with origin "". */
static cl_msg *msg_new(cl_inst *inst, const char *chan, size_t clen, const char *p, size_t len)
{
    size_t pl = strlen(inst->conf->prefix) + 1;
    if (clen < pl)
        return NULL;
    chan += pl;
    clen -= pl;
    char origin[CL_ID_LEN + 1] = "";
    if (len >= CL_HDR_LEN && memcmp(p, CL_HDR, 4) == 0 && p[CL_HDR_LEN - 1] == '\n') {
        memcpy(origin, p + 4, CL_ID_LEN);
        p += CL_HDR_LEN;
        len -= CL_HDR_LEN;
    }
    cl_msg *m = malloc(sizeof *m + len + 1 + clen + 1);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    memcpy(m->origin, origin, sizeof origin);
    m->len = len;
    memcpy(m->data, p, len);
    m->data[len] = '\0';
    m->channel = m->data + len + 1;
    memcpy(m->channel, chan, clen);
    m->channel[clen] = '\0';
    return m;
}

static void on_sub_reply(redisAsyncContext *c, void *reply, void *priv)
{
    (void)priv;
    cl_inst *inst = c->data;
    redisReply *r = reply;
    if (r && c == inst->sub) {
        inst->subw.heard++;
        inst->beat_out = 0;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "psubscribe") == 0) {
        inst->sub_up = 1;
        link_check_up(inst);
    } else if (strcmp(kind, "pmessage") == 0 && r->elements == 4) {
        redisReply *ch = r->element[2], *data = r->element[3];
        cl_msg *m = msg_new(inst, ch->str, ch->len, data->str, data->len);
        if (!m)
            return;
        rp_metric_add(inst->m_received, NULL, 1);
        cl_dispatch(inst, m);
        cl_msg_unref(m);
    }
}

/* ---- connections ------------------------------------------------------------------ */

static void on_setup_reply(redisAsyncContext *c, void *reply, void *priv)
{
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR) {
        rp_log(&rp_module_cluster, RP_LOG_ERR, "Redis at %s refused %s: %s",
               ((cl_inst *)c->data)->where, (const char *)priv, r->str);
        redisAsyncDisconnect(c);
    }
}

static void forget(cl_inst *inst, const redisAsyncContext *c)
{
    if (c == inst->pub) {
        inst->pub = NULL;
        inst->pub_up = 0;
        inst->inflight = 0;
        inst->beats = 0;
    } else if (c == inst->sub) {
        inst->sub = NULL;
        inst->sub_up = 0;
        inst->beat_out = 0;
    }
}

/* The publishing connection works once Redis answers it (a PING queued
 * after AUTH and SELECT): an accepted TCP connection alone proves nothing. */
static void on_pub_ready(redisAsyncContext *c, void *reply, void *priv)
{
    (void)priv;
    cl_inst *inst = c->data;
    redisReply *r = reply;
    if (c != inst->pub || !r || r->type == REDIS_REPLY_ERROR || (c->c.flags & REDIS_DISCONNECTING))
        return; /* AUTH or SELECT failed (on_setup_reply): closing */
    inst->pubw.heard++;
    inst->pub_up = 1;
    link_check_up(inst);
}

/* ---- liveness -------------------------------------------------------------------- */

static void on_beat_published(redisAsyncContext *c, void *reply, void *priv)
{
    (void)priv;
    cl_inst *inst = c->data;
    if (c != inst->pub)
        return;
    inst->beats--;
    inst->pubw.heard += reply != NULL;
}

/* A heartbeat (ours, or a reload's other configuration's) or the
 * subscription's confirmation, on the subscribing connection. */
static void on_beat(redisAsyncContext *c, void *reply, void *priv)
{
    (void)priv;
    cl_inst *inst = c->data;
    if (c != inst->sub || !reply)
        return;
    inst->subw.heard++;
    inst->beat_out = 0;
}

static void send_beat(cl_inst *inst)
{
    if (redisAsyncCommand(inst->pub, on_beat_published, NULL, "PUBLISH %s %s", inst->beat_chan,
                          cl_server_id()) != REDIS_OK)
        return;
    inst->beats++;
    inst->beat_out = 1;
}

/* Seconds w has been waiting for an answer without one: 0 while it waits
 * for nothing or something came since the last tick. */
static double silent_for(cl_watch *w, int waiting, double now)
{
    if (!waiting || w->heard != w->seen) {
        w->seen = w->heard;
        w->since = now;
        return 0;
    }
    return now - w->since;
}

/* Redis stopped answering an established pair: close both and go the way
 * of any outage (warning, drops counted, reconnect with backoff). */
static void link_stall(cl_inst *inst, const char *which)
{
    char why[128];
    snprintf(why, sizeof why, "no answer on the %s connection for %g s", which,
             inst->conf->timeout);
    redisAsyncContext *p = inst->pub, *s = inst->sub;
    rp_metric_add(inst->m_timeouts, NULL, 1);
    forget(inst, p);
    forget(inst, s);
    link_down(inst, why); /* down first: callers answered below cannot queue again */
    redisAsyncFree(p);    /* unanswered commands: their callbacks get no reply */
    redisAsyncFree(s);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    cl_inst *inst = c->data;
    if (c != inst->pub && c != inst->sub)
        return; /* given up on already */
    if (status != REDIS_OK) {
        const char *why = c->errstr[0] ? c->errstr : "connection failed";
        forget(inst, c); /* hiredis frees c after this returns */
        link_down(inst, why);
        return;
    }
    /* up once answered: on_pub_ready, on_sub_reply */
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    cl_inst *inst = c->data;
    (void)status;
    if (c != inst->pub && c != inst->sub)
        return; /* given up on already */
    const char *why = c->err ? c->errstr : "connection closed";
    forget(inst, c);
    link_down(inst, why);
}

static redisAsyncContext *link_open(cl_inst *inst, int sub)
{
    const cl_conf *cf = inst->conf;
    redisAsyncContext *c = cf->unix_path ? redisAsyncConnectUnix(cf->unix_path)
                                         : redisAsyncConnect(cf->host, cf->port);
    if (!c)
        return NULL;
    if (c->err) {
        rp_log(&rp_module_cluster, RP_LOG_DEBUG, "connect to %s: %s", inst->where, c->errstr);
        redisAsyncFree(c);
        return NULL;
    }
    c->data = inst;
    redisLibeventAttach(c, inst->base);
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    /* queued now, written once connected, answered in order */
    if (cf->password)
        redisAsyncCommand(c, on_setup_reply, "AUTH", "AUTH %s", cf->password);
    if (sub) {
        /* the heartbeat's channel first: confirmed by the time the pattern is */
        redisAsyncCommand(c, on_beat, NULL, "SUBSCRIBE %s", inst->beat_chan);
        redisAsyncCommand(c, on_sub_reply, NULL, "PSUBSCRIBE %s", inst->pattern);
    } else {
        if (cf->db)
            redisAsyncCommand(c, on_setup_reply, "SELECT", "SELECT %d", cf->db);
        redisAsyncCommand(c, on_pub_ready, NULL, "PING");
    }
    cl_watch *w = sub ? &inst->subw : &inst->pubw;
    w->heard = w->seen = 0;
    w->since = w->opened = mono_now();
    return c;
}

/* A connection that does not work ClusterTimeout seconds after it was
 * opened (a SYN unanswered, or a Redis that accepts and does not answer) is
 * an outage like any other. */
static void give_up(cl_inst *inst, redisAsyncContext *c)
{
    char why[64];
    snprintf(why, sizeof why, "no answer within %g s", inst->conf->timeout);
    rp_metric_add(inst->m_timeouts, NULL, 1);
    forget(inst, c);
    link_down(inst, why);
    redisAsyncFree(c); /* its disconnect callback finds it forgotten */
}

/* Every ClusterTimeout / CL_TICKS: new connections that do not answer,
 * established ones that stopped answering, and the heartbeat when idle. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_inst *inst = arg;
    double now = mono_now(), t = inst->conf->timeout;
    if (inst->pub && !inst->pub_up && now - inst->pubw.opened >= t)
        give_up(inst, inst->pub);
    if (inst->sub && !inst->sub_up && now - inst->subw.opened >= t)
        give_up(inst, inst->sub);
    if (inst->state != CL_UP || !inst->pub || !inst->sub)
        return;
    int pub_quiet = inst->pubw.heard == inst->pubw.seen;
    int sub_quiet = inst->subw.heard == inst->subw.seen;
    /* `since` is a tick's time, up to a tick before the wait began: one
     * tick more makes every stall found a full ClusterTimeout long */
    double limit = t + t / CL_TICKS;
    if (silent_for(&inst->pubw, inst->inflight + inst->beats > 0, now) >= limit) {
        link_stall(inst, "publishing");
        return;
    }
    if (silent_for(&inst->subw, inst->beat_out, now) >= limit) {
        link_stall(inst, "subscribing");
        return;
    }
    if (!inst->beat_out && (sub_quiet || (pub_quiet && !inst->inflight)))
        send_beat(inst);
}

static void link_open_missing(cl_inst *inst)
{
    if (!inst->pub && !(inst->pub = link_open(inst, 0))) {
        link_down(inst, "cannot connect");
        return;
    }
    if (!inst->sub && !(inst->sub = link_open(inst, 1)))
        link_down(inst, "cannot connect");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_inst *inst = arg;
    rp_log(&rp_module_cluster, RP_LOG_DEBUG, "retrying Redis at %s", inst->where);
    link_open_missing(inst);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_inst *inst = arg;
    inst->stopping = 1;
    event_base_loopbreak(inst->base);
}

static void *link_main(void *arg)
{
    cl_inst *inst = arg;
    double tick = inst->conf->timeout / CL_TICKS;
    struct timeval tv = {(time_t)tick, (suseconds_t)((tick - (time_t)tick) * 1e6)};
    event_add(inst->tick_ev, &tv);
    link_open_missing(inst);
    event_base_dispatch(inst->base);
    inst->stopping = 1;
    /* Pending callbacks run with NULL replies; the disconnect callbacks see
     * `stopping` and schedule nothing. */
    if (inst->pub)
        redisAsyncFree(inst->pub);
    if (inst->sub)
        redisAsyncFree(inst->sub);
    inst->pub = inst->sub = NULL;
    atomic_store(&inst->connected, 0);
    return NULL;
}

/* ---- start and stop ---------------------------------------------------------------- */

int cl_link_start(cl_inst *inst)
{
    /* A configuration's workers can all leave and one come back (a stop
     * that arrives while the threads are still starting): the instance
     * then starts afresh, and the next stop joins this thread too. */
    inst->started = inst->stopped = inst->stopping = 0;
    inst->pub = inst->sub = NULL;
    inst->pub_up = inst->sub_up = inst->inflight = inst->beats = inst->beat_out = 0;
    snprintf(inst->beat_chan, sizeof inst->beat_chan, "%s" CL_BEAT_CHANNEL "%s", inst->conf->prefix,
             cl_server_id());
    set_state(inst, CL_NEW);
    inst->base = event_base_new();
    if (!inst->base)
        return -1;
    inst->wake_ev = event_new(inst->base, -1, 0, on_wake, inst);
    inst->stop_ev = event_new(inst->base, -1, 0, on_stop, inst);
    inst->retry_ev = evtimer_new(inst->base, on_retry, inst);
    inst->tick_ev = event_new(inst->base, -1, EV_PERSIST, on_tick, inst);
    inst->backoff = CL_BACKOFF_MIN;
    if (!inst->wake_ev || !inst->stop_ev || !inst->retry_ev || !inst->tick_ev ||
        pthread_create(&inst->thread, NULL, link_main, inst) != 0) {
        rp_log(&rp_module_cluster, RP_LOG_ERR, "cannot start the Redis thread");
        cl_link_stop(inst);
        return -1;
    }
    inst->started = 1;
    return 0;
}

void cl_link_stop(cl_inst *inst)
{
    if (inst->started && !inst->stopped) {
        /* event_active, not loopbreak: it also works before the loop runs */
        event_active(inst->stop_ev, EV_READ, 1);
        pthread_join(inst->thread, NULL);
    }
    inst->started = 0;
    inst->stopped = 1;
    if (inst->wake_ev)
        event_free(inst->wake_ev);
    if (inst->stop_ev)
        event_free(inst->stop_ev);
    if (inst->retry_ev)
        event_free(inst->retry_ev);
    if (inst->tick_ev)
        event_free(inst->tick_ev);
    if (inst->base)
        event_base_free(inst->base);
    inst->wake_ev = inst->stop_ev = inst->retry_ev = inst->tick_ev = NULL;
    inst->base = NULL;
}
