/* cluster.c - mod_cluster: pub/sub between servers through Redis.
 *
 *   LoadModule cluster mod_cluster.so
 *   Cluster redis://127.0.0.1:6379/0      (or unix:/run/redis/redis.sock)
 *   ClusterPrefix myapp                   (channels are "myapp:<channel>")
 *   ClusterQueue 10000                    (outgoing messages waiting, at most)
 *   ClusterTimeout 5                      (seconds Redis may leave us unanswered)
 *
 * The "cluster" service (rp_cluster.h) lets other plugins publish from any
 * thread and subscribe per worker.  This file holds the configuration, the
 * service and the worker side; link.c the thread that talks to Redis.
 *
 * Lifetime: a configuration with `Cluster` gets an instance in post_config
 * (nothing connects yet, so `-t` connects nowhere).  The first worker_init
 * of that configuration starts its Redis thread and makes it the process's
 * current instance (publish goes there); the last worker_exit stops and
 * joins it.  A reload therefore starts the new configuration's thread while
 * the old one drains, and the old one's thread and connections go with its
 * last worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "cluster_int.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_inst *g_current; /* guarded by g_lock */

/* ---- small helpers ------------------------------------------------------------ */

int cl_ring_init(cl_ring *r, size_t cap)
{
    r->v = calloc(cap, sizeof(void *));
    r->cap = cap;
    r->head = r->n = 0;
    return r->v ? 0 : -1;
}

void cl_ring_push(cl_ring *r, void *p, void **dropped)
{
    *dropped = NULL;
    if (r->n == r->cap) {
        *dropped = r->v[r->head];
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    r->v[(r->head + r->n) % r->cap] = p;
    r->n++;
}

void *cl_ring_pop(cl_ring *r)
{
    if (!r->n)
        return NULL;
    void *p = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return p;
}

void cl_msg_unref(cl_msg *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

static char g_id[CL_ID_LEN + 1];
static pthread_once_t g_id_once = PTHREAD_ONCE_INIT;

static void make_id(void)
{
    unsigned char b[CL_ID_LEN / 2];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* no entropy source: pid and time still tell servers apart */
        uint64_t x = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
        memcpy(b, &x, sizeof b);
    }
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(g_id + 2 * i, 3, "%02x", b[i]);
}

const char *cl_server_id(void)
{
    pthread_once(&g_id_once, make_id);
    return g_id;
}

/* ---- configuration ------------------------------------------------------------ */

static void *cl_create_conf(rp_pool *p)
{
    cl_conf *c = rp_pcalloc(p, sizeof *c);
    c->pool = p;
    c->prefix = CL_DEFAULT_PREFIX;
    c->queue = CL_DEFAULT_QUEUE;
    c->timeout = CL_DEFAULT_TIMEOUT;
    c->port = 6379;
    return c;
}

static const char *url_hint = "use redis://host[:port][/db] (port 6379 and db 0 by default, "
                              "redis://:password@host for AUTH) or unix:/path/to/redis.sock";

/* "host", "host:port", "[v6]:port" */
static const char *parse_hostport(rp_cmd *cmd, cl_conf *c, char *hp)
{
    char *port = NULL;
    if (hp[0] == '[') {
        char *e = strchr(hp, ']');
        if (!e || (e[1] && e[1] != ':'))
            return rp_cmd_error(cmd, "Cluster: bad IPv6 address '%s' (write [::1]:6379)", hp);
        *e = '\0';
        port = e[1] ? e + 2 : NULL;
        hp++;
    } else if ((port = strchr(hp, ':'))) {
        *port++ = '\0';
    }
    if (!*hp)
        return rp_cmd_error(cmd, "Cluster: '%s' names no host; %s", c->url, url_hint);
    c->host = hp;
    long n;
    if (port && (rp_parse_long(port, &n) != 0 || n < 1 || n > 65535))
        return rp_cmd_error(cmd, "Cluster: the port '%s' must be a number from 1 to 65535", port);
    if (port)
        c->port = (int)n;
    return NULL;
}

static const char *parse_redis_url(rp_cmd *cmd, cl_conf *c, const char *rest)
{
    char *s = rp_pstrdup(rp_cmd_pool(cmd), rest);
    char *slash = strchr(s, '/');
    if (slash) {
        *slash++ = '\0';
        long db;
        if (*slash && (rp_parse_long(slash, &db) != 0 || db < 0 || db > 1000000))
            return rp_cmd_error(cmd,
                                "Cluster: the database '%s' must be a number (0 to 15 "
                                "on a default Redis)",
                                slash);
        c->db = *slash ? (int)db : 0;
    }
    char *at = strrchr(s, '@');
    if (at) {
        *at = '\0';
        char *colon = strchr(s, ':'); /* "user:password" or ":password" */
        c->password = colon ? colon + 1 : s;
        if (!*c->password)
            c->password = NULL;
        s = at + 1;
    }
    return parse_hostport(cmd, c, s);
}

static const char *set_cluster(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    cl_conf *c = conf;
    const char *u = argv[0];
    c->url = rp_pstrdup(rp_cmd_pool(cmd), u);
    c->host = c->unix_path = c->password = NULL;
    c->port = 6379;
    c->db = 0;
    if (strncmp(u, "redis://", 8) == 0)
        return parse_redis_url(cmd, c, u + 8);
    if (strncmp(u, "unix:", 5) == 0 && u[5]) {
        c->unix_path = rp_cmd_resolve_path(cmd, u[5] == '/' && u[6] == '/' ? u + 7 : u + 5);
        return NULL;
    }
    if (strncmp(u, "rediss://", 9) == 0)
        return rp_cmd_error(cmd, "Cluster: TLS to Redis (rediss://) is not supported; "
                                 "reach Redis over loopback, a unix socket or a tunnel");
    const char *colon = strstr(u, "://");
    if (!colon && strchr(u, ':') && !strchr(u, '/'))
        return rp_cmd_error(cmd, "Cluster: '%s' has no scheme; did you mean redis://%s ?", u, u);
    return rp_cmd_error(cmd, "Cluster: '%s' is not a Redis address; %s", u, url_hint);
}

static const char *set_prefix(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    const char *p = argv[0];
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    if (!*p || p[n] || n > 64)
        return rp_cmd_error(cmd,
                            "ClusterPrefix: '%s' must be 1 to 64 letters, digits, '_', "
                            "'.' or '-' (it starts every channel name in Redis)",
                            p);
    ((cl_conf *)conf)->prefix = rp_pstrdup(rp_cmd_pool(cmd), p);
    return NULL;
}

static const char *set_queue(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) != 0 || n < 1 || n > 10000000)
        return rp_cmd_error(cmd,
                            "ClusterQueue: '%s' must be a number of messages from 1 to "
                            "10000000, e.g. 10000",
                            argv[0]);
    ((cl_conf *)conf)->queue = n;
    return NULL;
}

static const char *set_timeout(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    char *end;
    double t = strtod(argv[0], &end);
    if (end == argv[0] || *end || !(t >= 0.1 && t <= 3600))
        return rp_cmd_error(cmd,
                            "ClusterTimeout: '%s' must be seconds from 0.1 to 3600, e.g. 5 "
                            "(how long Redis may leave a command or heartbeat unanswered)",
                            argv[0]);
    ((cl_conf *)conf)->timeout = t;
    return NULL;
}

static const rp_directive cl_directives[] = {
    {"Cluster", 1, 1, set_cluster, 0,
     "Cluster redis://host[:port][/db]|unix:/path: the Redis through which the servers of a "
     "cluster exchange messages (the \"cluster\" service; nothing without it)"},
    {"ClusterPrefix", 1, 1, set_prefix, 0,
     "ClusterPrefix name: starts every channel name, so that applications can share one Redis "
     "(default rampart)"},
    {"ClusterQueue", 1, 1, set_queue, 0,
     "ClusterQueue n: messages waiting to go to Redis, and waiting per worker to be delivered; "
     "beyond it the oldest are dropped and counted (default 10000)"},
    {"ClusterTimeout", 1, 1, set_timeout, 0,
     "ClusterTimeout seconds: how long Redis may leave a new connection, a command or the "
     "idle heartbeat unanswered before it counts as lost (an outage: reconnect) (default 5)"},
    RP_DIRECTIVES_END};

/* ---- the instance ----------------------------------------------------------------- */

static double gauge_connected(void *arg)
{
    return atomic_load(&((cl_inst *)arg)->connected);
}

static void inst_free(void *arg)
{
    cl_inst *inst = arg;
    cl_link_stop(inst);
    pthread_mutex_lock(&g_lock);
    if (g_current == inst)
        g_current = NULL;
    pthread_mutex_unlock(&g_lock);
    cl_out *o;
    while ((o = cl_ring_pop(&inst->out)))
        cl_out_done(o, 0, NULL, 0);
    free(inst->out.v);
    free(inst->ws);
    pthread_mutex_destroy(&inst->lock);
    pthread_mutex_destroy(&inst->run_lock);
    free(inst);
}

static void make_metrics(rp_server *s, cl_inst *inst)
{
    inst->m_published = rp_metric_counter(s, "rampart_cluster_published_total",
                                          "Messages Redis accepted from this server");
    inst->m_received =
        rp_metric_counter(s, "rampart_cluster_received_total", "Messages received from Redis");
    inst->m_delivered = rp_metric_counter(s, "rampart_cluster_delivered_total",
                                          "Messages handed to a subscriber on a worker");
    inst->m_drop_queue = rp_metric_counter(
        s, "rampart_cluster_dropped_total{reason=\"queue\"}",
        "Messages dropped: outgoing queue full (ClusterQueue), a worker's inbox full, "
        "or Redis unreachable");
    inst->m_drop_inbox =
        rp_metric_counter(s, "rampart_cluster_dropped_total{reason=\"inbox\"}", NULL);
    inst->m_drop_disc =
        rp_metric_counter(s, "rampart_cluster_dropped_total{reason=\"disconnected\"}", NULL);
    inst->m_reconnects =
        rp_metric_counter(s, "rampart_cluster_reconnects_total", "Recoveries from a Redis outage");
    inst->m_timeouts = rp_metric_counter(
        s, "rampart_cluster_timeouts_total",
        "Redis connections closed because Redis left them unanswered for ClusterTimeout");
    inst->m_script_loads = rp_metric_counter(
        s, "rampart_cluster_script_loads_total",
        "Scripts sent again with EVAL because Redis answered NOSCRIPT to EVALSHA");
    rp_metric_gauge_fn(s, "rampart_cluster_connected", "1 while Redis is reachable",
                       gauge_connected, inst);
}

/* Redis matches PSUBSCRIBE patterns as globs: escape the prefix. */
static void make_pattern(cl_inst *inst)
{
    char *p = inst->pattern;
    for (const char *s = inst->conf->prefix; *s; s++) {
        if (strchr("*?[]\\", *s))
            *p++ = '\\';
        *p++ = *s;
    }
    strcpy(p, ":*");
}

static int cl_post_config(rp_server *s, void *conf)
{
    cl_conf *c = conf;
    if (!c->url)
        return RP_OK;
    cl_inst *inst = calloc(1, sizeof *inst);
    if (!inst || cl_ring_init(&inst->out, (size_t)c->queue) != 0) {
        free(inst);
        rp_log(&rp_module_cluster, RP_LOG_ERR, "out of memory for ClusterQueue %ld", c->queue);
        return RP_ERROR;
    }
    inst->conf = c;
    pthread_mutex_init(&inst->lock, NULL);
    pthread_mutex_init(&inst->run_lock, NULL);
    if (c->unix_path)
        inst->where = rp_psprintf(c->pool, "unix:%s", c->unix_path);
    else
        inst->where =
            rp_psprintf(c->pool, strchr(c->host, ':') ? "redis://[%s]:%d/%d" : "redis://%s:%d/%d",
                        c->host, c->port, c->db);
    c->inst = inst;
    rp_pool_cleanup_add(c->pool, inst_free, inst);
    make_pattern(inst);
    make_metrics(s, inst);
    return RP_OK;
}

/* ---- the worker side ------------------------------------------------------------------ */

static int sub_matches(const cl_sub *s, const cl_msg *m)
{
    if (s->prefix)
        return strncmp(m->channel, s->channel, s->clen) == 0;
    return strcmp(m->channel, s->channel) == 0;
}

/* Drop the subscriptions unsubscribe() marked, once no delivery runs. */
static void compact_subs(cl_worker *cw)
{
    size_t j = 0;
    for (size_t i = 0; i < cw->nsub; i++) {
        if (cw->subs[i].dead)
            free(cw->subs[i].channel);
        else
            cw->subs[j++] = cw->subs[i];
    }
    cw->nsub = j;
}

static void deliver(cl_worker *cw, cl_msg *m)
{
    int own = strcmp(m->origin, cl_server_id()) == 0;
    cw->depth++;
    /* by index: a callback may subscribe, which may move the array */
    for (size_t i = 0; i < cw->nsub; i++) {
        cl_sub *s = &cw->subs[i];
        if (s->dead || !sub_matches(s, m) || (own && (s->flags & RP_CLUSTER_OTHERS_ONLY)))
            continue;
        rp_cluster_fn fn = s->fn;
        void *arg = s->arg;
        cw->origin = m->origin;
        fn(cw->w, m->channel, m->data, m->len, arg);
        rp_metric_add(cw->inst->m_delivered, cw->w, 1);
    }
    cw->origin = NULL;
    if (--cw->depth == 0)
        compact_subs(cw);
}

#define CL_BATCH 1024 /* messages per loop turn, so requests are served too */

static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_worker *cw = arg;
    for (int i = 0; i < CL_BATCH; i++) {
        pthread_mutex_lock(&cw->lock);
        cl_msg *m = cl_ring_pop(&cw->inbox);
        int more = cw->inbox.n > 0;
        pthread_mutex_unlock(&cw->lock);
        if (!m)
            return;
        deliver(cw, m);
        cl_msg_unref(m);
        if (!more)
            return; /* the next push into the empty inbox activates us */
    }
    event_active(cw->ev, EV_READ, 1);
}

/* Redis thread: m goes to every worker with a subscription; each matches
 * the channel itself, so this thread reads nothing a worker writes but a
 * counter. */
void cl_dispatch(cl_inst *inst, cl_msg *m)
{
    int64_t dropped = 0;
    pthread_mutex_lock(&inst->lock);
    for (size_t i = 0; i < inst->nws; i++) {
        cl_worker *cw = inst->ws[i];
        if (atomic_load(&cw->nsubs) == 0)
            continue;
        void *old;
        atomic_fetch_add(&m->refs, 1);
        pthread_mutex_lock(&cw->lock);
        int was_empty = cw->inbox.n == 0;
        cl_ring_push(&cw->inbox, m, &old);
        if (was_empty)
            event_active(cw->ev, EV_READ, 1);
        pthread_mutex_unlock(&cw->lock);
        if (old) {
            cl_msg_unref(old);
            dropped++;
        }
    }
    pthread_mutex_unlock(&inst->lock);
    if (dropped)
        rp_metric_add(inst->m_drop_inbox, NULL, dropped);
}

static cl_worker *worker_state(rp_worker *w)
{
    cl_worker *cw = rp_worker_ctx(w, &rp_module_cluster);
    if (cw)
        return cw;
    if (!(cw = calloc(1, sizeof *cw)))
        return NULL;
    cw->w = w;
    pthread_mutex_init(&cw->lock, NULL);
    atomic_init(&cw->nsubs, 0);
    rp_worker_set_ctx(w, &rp_module_cluster, cw);
    return cw;
}

static int worker_attach(cl_inst *inst, cl_worker *cw)
{
    if (cl_ring_init(&cw->inbox, (size_t)inst->conf->queue) != 0)
        return -1;
    if (!(cw->ev = event_new(rp_worker_base(cw->w), -1, 0, on_inbox, cw)))
        return -1;
    pthread_mutex_lock(&inst->run_lock);
    pthread_mutex_lock(&inst->lock);
    if (inst->nws == inst->capws) {
        size_t cap = inst->capws ? inst->capws * 2 : 8;
        cl_worker **v = realloc(inst->ws, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&inst->lock);
            pthread_mutex_unlock(&inst->run_lock);
            return -1;
        }
        inst->ws = v;
        inst->capws = cap;
    }
    inst->ws[inst->nws++] = cw;
    cw->inst = inst;
    cw->counted = 1;
    int first = inst->workers++ == 0;
    pthread_mutex_unlock(&inst->lock);
    if (first && cl_link_start(inst) == 0) {
        pthread_mutex_lock(&g_lock);
        g_current = inst; /* a reload's new instance takes over publishing */
        pthread_mutex_unlock(&g_lock);
    }
    pthread_mutex_unlock(&inst->run_lock);
    return 0;
}

static void worker_detach(cl_worker *cw)
{
    cl_inst *inst = cw->inst;
    int last = 0;
    if (inst) {
        pthread_mutex_lock(&inst->run_lock);
        pthread_mutex_lock(&inst->lock);
        for (size_t i = 0; i < inst->nws; i++)
            if (inst->ws[i] == cw) {
                inst->ws[i] = inst->ws[--inst->nws];
                break;
            }
        last = cw->counted && --inst->workers == 0;
        pthread_mutex_unlock(&inst->lock);
    }
    if (last) {
        pthread_mutex_lock(&g_lock);
        if (g_current == inst)
            g_current = NULL;
        pthread_mutex_unlock(&g_lock);
        cl_link_stop(inst); /* its connections go with its last worker */
    }
    if (inst)
        pthread_mutex_unlock(&inst->run_lock);
    if (cw->ev)
        event_free(cw->ev);
    cl_msg *m;
    while (cw->inbox.v && (m = cl_ring_pop(&cw->inbox)))
        cl_msg_unref(m);
    free(cw->inbox.v);
    for (size_t i = 0; i < cw->nsub; i++)
        free(cw->subs[i].channel);
    free(cw->subs);
    pthread_mutex_destroy(&cw->lock);
    free(cw);
}

static int cl_worker_init(rp_worker *w, void *conf)
{
    cl_conf *c = conf;
    if (!c->inst)
        return RP_OK;
    cl_worker *cw = worker_state(w);
    if (!cw || worker_attach(c->inst, cw) != 0) {
        rp_log(&rp_module_cluster, RP_LOG_ERR, "worker %d: out of memory", rp_worker_index(w));
        return RP_ERROR;
    }
    return RP_OK;
}

static void cl_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    cl_worker *cw = rp_worker_ctx(w, &rp_module_cluster);
    if (!cw)
        return;
    rp_worker_set_ctx(w, &rp_module_cluster, NULL);
    worker_detach(cw);
}

/* ---- the service --------------------------------------------------------------------- */

static int svc_enabled(void)
{
    pthread_mutex_lock(&g_lock);
    int on = g_current != NULL;
    pthread_mutex_unlock(&g_lock);
    return on;
}

/* A command of argc arguments in one allocation; those from key_from to
 * before key_to are keys and get "prefix:" before them. */
static cl_out *out_new(int argc, const char *const *argv, const size_t *lens, int key_from,
                       int key_to, const char *prefix)
{
    size_t pl = strlen(prefix), total = 0;
    for (int i = 0; i < argc; i++)
        total += lens[i] + (i >= key_from && i < key_to ? pl + 1 : 0);
    cl_out *o = malloc(sizeof *o + total);
    if (!o)
        return NULL;
    o->fn = NULL;
    o->arg = NULL;
    o->script = NULL;
    o->argc = argc;
    char *p = o->buf;
    for (int i = 0; i < argc; i++) {
        o->len[i] = lens[i];
        if (i >= key_from && i < key_to) {
            memcpy(p, prefix, pl);
            p[pl] = ':';
            p += pl + 1;
            o->len[i] += pl + 1;
        }
        if (lens[i])
            memcpy(p, argv[i], lens[i]);
        p += lens[i];
    }
    return o;
}

void cl_out_args(const cl_out *o, const char **argv)
{
    const char *p = o->buf;
    for (int i = 0; i < o->argc; i++) {
        argv[i] = p;
        p += o->len[i];
    }
}

void cl_out_done(cl_out *o, int ok, const long long *v, size_t n)
{
    if (o->fn)
        o->fn(ok, v, n, o->arg);
    free(o);
}

/* Queue o on the current instance (made with its prefix by make()).  0 or
 * -1 (o not made or dropped; a call's fn is not called).  The command o
 * pushed out of a full queue is answered "no answer" after the locks. */
static int enqueue(cl_out *(*make)(const char *prefix, void *ctx), void *ctx,
                   rp_cluster_reply_fn fn, void *arg)
{
    int rc = -1, down = 0;
    cl_out *o = NULL;
    void *old = NULL;
    rp_metric *m_disc = NULL, *m_queue = NULL;
    pthread_mutex_lock(&g_lock); /* keeps the instance from stopping under us */
    cl_inst *inst = g_current;
    if (inst && (o = make(inst->conf->prefix, ctx))) {
        o->fn = fn;
        o->arg = arg;
        int wake = 0;
        pthread_mutex_lock(&inst->lock);
        down = inst->state == CL_DOWN;
        if (!down) {
            cl_ring_push(&inst->out, o, &old);
            wake = !inst->wake_pending;
            inst->wake_pending = 1;
        }
        pthread_mutex_unlock(&inst->lock);
        m_disc = inst->m_drop_disc;
        m_queue = inst->m_drop_queue;
        if (!down) {
            rc = 0;
            if (wake)
                cl_link_wake(inst);
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (down) {
        if (!fn)
            rp_metric_add(m_disc, NULL, 1);
        free(o);
    }
    if (old) {
        if (!((cl_out *)old)->fn)
            rp_metric_add(m_queue, NULL, 1);
        cl_out_done(old, 0, NULL, 0);
    }
    return rc;
}

typedef struct {
    const char *channel;
    const void *data;
    size_t len;
} pub_args;

static cl_out *make_publish(const char *prefix, void *ctx)
{
    const pub_args *a = ctx;
    char hdr[CL_HDR_LEN];
    memcpy(hdr, CL_HDR, 4);
    memcpy(hdr + 4, cl_server_id(), CL_ID_LEN);
    hdr[CL_HDR_LEN - 1] = '\n';
    /* "rp1:<id>\n" and the data are one argument: built as two, joined */
    const char *argv[4] = {"PUBLISH", a->channel, hdr, a->data};
    size_t lens[4] = {7, strlen(a->channel), CL_HDR_LEN, a->len};
    cl_out *o = out_new(4, argv, lens, 1, 2, prefix);
    if (o) {
        o->argc = 3;
        o->len[2] += o->len[3];
    }
    return o;
}

static int svc_publish(const char *channel, const void *data, size_t len)
{
    size_t clen = channel ? strlen(channel) : 0;
    if (!clen || clen > RP_CLUSTER_CHANNEL_MAX || (!data && len))
        return -1;
    pub_args a = {channel, data, len};
    return enqueue(make_publish, &a, NULL, NULL);
}

typedef struct {
    int argc, key_arg;
    const char *const *argv;
    const size_t *lens;
} call_args;

static cl_out *make_call(const char *prefix, void *ctx)
{
    const call_args *a = ctx;
    return out_new(a->argc, a->argv, a->lens, a->key_arg, a->key_arg + 1, prefix);
}

static int svc_call(int argc, const char *const *argv, const size_t *lens, int key_arg,
                    rp_cluster_reply_fn fn, void *arg)
{
    if (argc < 1 || argc > RP_CLUSTER_CALL_ARGS || !argv || !lens || !fn || key_arg >= argc ||
        key_arg < -1)
        return -1;
    for (int i = 0; i < argc; i++)
        if (!argv[i] && lens[i])
            return -1;
    call_args a = {argc, key_arg, argv, lens};
    return enqueue(make_call, &a, fn, arg);
}

typedef struct {
    const char *script, *sha1;
    int nkeys, argc;
    const char *const *argv;
    const size_t *lens;
} eval_args;

static cl_out *make_eval(const char *prefix, void *ctx)
{
    const eval_args *a = ctx;
    const char *argv[RP_CLUSTER_CALL_ARGS];
    size_t lens[RP_CLUSTER_CALL_ARGS];
    char nk[8];
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = a->sha1;
    lens[1] = 40;
    argv[2] = nk;
    lens[2] = (size_t)snprintf(nk, sizeof nk, "%d", a->nkeys);
    for (int i = 0; i < a->argc; i++) {
        argv[3 + i] = a->argv[i];
        lens[3 + i] = a->lens[i];
    }
    cl_out *o = out_new(3 + a->argc, argv, lens, 3, 3 + a->nkeys, prefix);
    if (o)
        o->script = a->script;
    return o;
}

static int svc_eval(const char *script, const char *sha1, int nkeys, int argc,
                    const char *const *argv, const size_t *lens, rp_cluster_reply_fn fn, void *arg)
{
    if (!script || !sha1 || strlen(sha1) != 40 || strspn(sha1, "0123456789abcdefABCDEF") != 40 ||
        argc < 0 || argc > RP_CLUSTER_CALL_ARGS - 3 || nkeys < 0 || nkeys > argc || !fn ||
        (argc && (!argv || !lens)))
        return -1;
    for (int i = 0; i < argc; i++)
        if (!argv[i] && lens[i])
            return -1;
    eval_args a = {script, sha1, nkeys, argc, argv, lens};
    return enqueue(make_eval, &a, fn, arg);
}

static int svc_subscribe(rp_worker *w, const char *channel, unsigned flags, rp_cluster_fn fn,
                         void *arg)
{
    size_t clen = channel ? strlen(channel) : 0;
    if (!w || !fn || !clen || clen > RP_CLUSTER_CHANNEL_MAX)
        return -1;
    cl_worker *cw = worker_state(w);
    if (!cw)
        return -1;
    if (cw->nsub == cw->capsub) {
        size_t cap = cw->capsub ? cw->capsub * 2 : 4;
        cl_sub *v = realloc(cw->subs, cap * sizeof *v);
        if (!v)
            return -1;
        cw->subs = v;
        cw->capsub = cap;
    }
    cl_sub *s = &cw->subs[cw->nsub];
    memset(s, 0, sizeof *s);
    if (!(s->channel = strdup(channel)))
        return -1;
    s->prefix = channel[clen - 1] == '*';
    s->clen = s->prefix ? clen - 1 : clen;
    s->channel[s->clen] = '\0';
    s->flags = flags;
    s->fn = fn;
    s->arg = arg;
    s->id = ++cw->next_id;
    cw->nsub++;
    atomic_fetch_add(&cw->nsubs, 1);
    return s->id;
}

static void svc_unsubscribe(rp_worker *w, int id)
{
    cl_worker *cw = w ? rp_worker_ctx(w, &rp_module_cluster) : NULL;
    if (!cw)
        return;
    for (size_t i = 0; i < cw->nsub; i++)
        if (cw->subs[i].id == id && !cw->subs[i].dead) {
            cw->subs[i].dead = 1;
            atomic_fetch_sub(&cw->nsubs, 1);
        }
    if (cw->depth == 0)
        compact_subs(cw);
}

static const char *svc_origin(rp_worker *w)
{
    cl_worker *cw = w ? rp_worker_ctx(w, &rp_module_cluster) : NULL;
    return cw && cw->origin ? cw->origin : "";
}

static const char *svc_server_id(void)
{
    return cl_server_id();
}

static const rp_cluster_service_v1 cl_service = {
    .enabled = svc_enabled,
    .server_id = svc_server_id,
    .publish = svc_publish,
    .subscribe = svc_subscribe,
    .unsubscribe = svc_unsubscribe,
    .origin = svc_origin,
    .call = svc_call,
    .eval = svc_eval,
};

static void cl_register_hooks(rp_hooks *h, void *conf)
{
    (void)h;
    (void)conf;
    if (rp_service_version(RP_CLUSTER_SERVICE) < RP_CLUSTER_SERVICE_VERSION)
        rp_service_register(RP_CLUSTER_SERVICE, RP_CLUSTER_SERVICE_VERSION, &cl_service);
}

RP_MODULE_DECLARE(cluster) = {
    RP_MODULE_HEADER,
    .name = "cluster",
    .version = "1.0",
    .directives = cl_directives,
    .create_conf = cl_create_conf,
    .register_hooks = cl_register_hooks,
    .post_config = cl_post_config,
    .worker_init = cl_worker_init,
    .worker_exit = cl_worker_exit,
};
