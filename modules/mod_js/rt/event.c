/* event.c - rampart.event: named callbacks that any thread can trigger.
 *
 *   rampart.event.on(event, name, func [, callbackVar])
 *   rampart.event.off(event [, name])      without name: every callback of
 *                                          this heap for that event
 *   rampart.event.trigger(event [, triggerVar [, {local: true}]])
 *
 * A registration belongs to the heap (and so the thread and loop) that made
 * it: the function and callbackVar stay in that heap's stash, by reference
 * (a websocket's req stays the live req).  trigger() serializes triggerVar
 * once in the triggering thread (copy.c's structured copy in its data-only
 * mode, js_event_encode: primitives, strings, Buffers, Dates, arrays and
 * plain objects, shared references and cycles kept; functions dropped) and
 * queues it, under one process-wide lock, for
 * every heap that has a callback for the event; each heap's loop gets an
 * event_active and, on its own thread, calls each callback as
 * func(callbackVar, triggerVar) with a fresh copy of triggerVar.  Delivery
 * is always asynchronous, also to the triggering heap itself.
 *
 * (event, name) pairs are per heap: on() with a pair already registered in
 * this heap replaces it; off() removes only this heap's.  A heap that is
 * freed (worker stop, HTTP heap replaced after a script timeout) drops its
 * registrations and queued deliveries (js_event_heap_gone).  Callbacks run
 * under the heap's callback timeout like timer callbacks; an error is
 * reported with its file:line and the other callbacks still run.  Each
 * delivery runs under js_guard_loop: a Duktape fatal error drops the heap's
 * registrations and queued deliveries, and its owner decides what happens
 * to the heap (see js_int.h).
 *
 * Across servers (mod_cluster's "cluster" service, when a Cluster is
 * configured): trigger() also publishes the event on cluster channel
 * "event" as <byte order><event>\0<encoded value> (the data-only encoding
 * holds no pointers and no heap ids, only its numbers are in the host's
 * byte order: a message from a server of the other order is dropped).
 * Every worker subscribes with RP_CLUSTER_OTHERS_ONLY (this server's own
 * triggers were delivered locally already) and queues what arrives for the
 * heaps on its own loop; worker 0 also for the heaps on no worker's loop
 * (the script's main heap), so each heap gets a message once.  {local:
 * true} skips the publishing.  Delivery across servers is at most once and
 * unordered between servers (mod_cluster's guarantees). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "js_int.h"
#include "../mod_cluster/rp_cluster.h"


/* ---- the process-wide registry ------------------------------------------- */

typedef struct ev_blob {
    int refs; /* queued messages holding it (under g_lock) */
    size_t len;
    unsigned char data[];
} ev_blob;

typedef struct ev_msg {
    struct ev_msg *next;
    char *event;
    ev_blob *blob;
} ev_msg;

/* One per heap that registered something: the heap's typed slot
 * (js_heap.events), touched only on the heap's thread; its queue and mark
 * under g_lock. */
typedef struct ev_ep {
    duk_context *ctx;        /* used only on its own thread */
    struct event_base *base; /* the loop ev is assigned to */
    struct event *ev;        /* our memory (event_assign), never event_add'ed */
    ev_msg *head, *tail;     /* queued deliveries */
    unsigned long mark;      /* trigger() visiting stamp */
    int on_worker;           /* a worker's heap (else: the main heap) */
} ev_ep;

typedef struct ev_reg {
    struct ev_reg *next;
    ev_ep *ep;
    char *event, *name;
} ev_reg;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ev_reg *g_regs; /* guarded by g_lock, like everything below */
static unsigned long g_stamp;

static void deliver_cb(evutil_socket_t fd, short what, void *arg);

/* Under g_lock. */
static ev_ep *ep_get(duk_context *ctx)
{
    ev_ep *ep = js_heap_of(ctx)->events;
    if (ep)
        return ep;
    struct event_base *base = js_heap_loop(ctx);
    if (!base)
        return NULL;
    ep = calloc(1, sizeof *ep);
    if (ep)
        ep->ev = calloc(1, event_get_struct_event_size());
    if (!ep || !ep->ev || event_assign(ep->ev, base, -1, 0, deliver_cb, ep) != 0) {
        if (ep)
            free(ep->ev);
        free(ep);
        return NULL;
    }
    ep->ctx = ctx;
    ep->base = base;
    ep->on_worker = js_heap_worker(ctx) != NULL;
    js_heap_of(ctx)->events = ep;
    return ep;
}

static void blob_unref(ev_blob *b)
{
    if (b && --b->refs <= 0)
        free(b);
}

static void msgs_free(ev_msg *m)
{
    while (m) {
        ev_msg *n = m->next;
        blob_unref(m->blob);
        free(m->event);
        free(m);
        m = n;
    }
}

static ev_reg *reg_find(const ev_ep *ep, const char *event, const char *name)
{
    for (ev_reg *r = g_regs; r; r = r->next)
        if (r->ep == ep && strcmp(r->event, event) == 0 && strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* Remove ep's registrations for event (and name, unless NULL; every event
 * when event is NULL too). */
static void reg_remove(const ev_ep *ep, const char *event, const char *name)
{
    for (ev_reg **pp = &g_regs; *pp;) {
        ev_reg *r = *pp;
        if (r->ep == ep && (!event || strcmp(r->event, event) == 0) &&
            (!name || strcmp(r->name, name) == 0)) {
            *pp = r->next;
            free(r->event);
            free(r->name);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

/* ---- delivery (on the registering heap's thread) ------------------------------- */

typedef struct deliver_state {
    const ev_msg *msg;
} deliver_state;

static duk_ret_t call_one(duk_context *ctx, void *udata)
{
    const ev_blob *b = udata;
    /* [ entry ] */
    duk_idx_t entry = duk_get_top_index(ctx);
    duk_get_prop_index(ctx, entry, 0);
    duk_get_prop_index(ctx, entry, 1);
    js_event_decode_push(ctx, b->data, b->len); /* a fresh copy per callback */
    duk_call(ctx, 2);
    return 0;
}

static duk_ret_t deliver_safe(duk_context *ctx, void *udata)
{
    const deliver_state *st = udata;
    const char *what = "rampart.event callback";
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_literal(ctx, -1, JS_STASH_EVENTS) ||
        !duk_get_prop_string(ctx, -1, st->msg->event) || !duk_is_object(ctx, -1))
        return 0;
    duk_idx_t cbs = duk_get_top_index(ctx);
    /* The names first: callbacks may call on()/off() meanwhile. */
    duk_push_bare_array(ctx);
    duk_idx_t names = duk_get_top_index(ctx);
    duk_uarridx_t n = 0;
    duk_enum(ctx, cbs, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0))
        duk_put_prop_index(ctx, names, n++);
    duk_pop(ctx);
    double tmo = js_heap_of(ctx)->callback_timeout;
    for (duk_uarridx_t i = 0; i < n; i++) {
        duk_get_prop_index(ctx, names, i);
        duk_get_prop(ctx, cbs);
        if (!duk_is_array(ctx, -1)) {
            duk_pop(ctx);
            continue;
        }
        if (tmo > 0)
            js_deadline_arm(ctx, tmo);
        if (duk_safe_call(ctx, call_one, st->msg->blob, 1, 1) != DUK_EXEC_SUCCESS)
            js_report_error(ctx, -1, what);
        else
            duk_pop(ctx);
        if (tmo > 0)
            js_deadline_arm(ctx, 0);
    }
    return 0;
}

/* One queued message, under js_guard_loop (deliver_cb). */
static void deliver_guarded(duk_context *ctx, void *arg)
{
    duk_idx_t top = duk_get_top(ctx);
    if (duk_safe_call(ctx, deliver_safe, arg, 0, 1) != DUK_EXEC_SUCCESS)
        js_report_error(ctx, -1, "rampart.event");
    duk_set_top(ctx, top);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ev_ep *ep = arg;
    pthread_mutex_lock(&g_lock);
    ev_msg *list = ep->head;
    ep->head = ep->tail = NULL;
    duk_context *ctx = ep->ctx;
    pthread_mutex_unlock(&g_lock);
    /* ep may be freed by a callback (never: heaps are freed from the loop,
     * not from inside their own callbacks), but the list is ours now.  A
     * fatal error frees ep (js_event_heap_gone) and maybe the heap: the
     * rest of the list is dropped. */
    for (ev_msg *m = list; m; m = m->next) {
        deliver_state st = {m};
        if (js_guard_loop(ctx, deliver_guarded, &st, "rampart.event callback") != 0)
            break;
    }
    pthread_mutex_lock(&g_lock);
    msgs_free(list);
    pthread_mutex_unlock(&g_lock);
}

/* ---- the JS functions ------------------------------------------------------- */

static const char *arg_string(duk_context *ctx, duk_idx_t idx, const char *fn, const char *what)
{
    if (!duk_is_string(ctx, idx))
        (void)duk_type_error(ctx, "rampart.event.%s: %s must be a string", fn, what);
    return duk_get_string(ctx, idx);
}

/* on(event, name, func, callbackVar) */
static duk_ret_t ev_on(duk_context *ctx)
{
    const char *event = arg_string(ctx, 0, "on", "the event name (first argument)");
    const char *name = arg_string(ctx, 1, "on", "the callback name (second argument)");
    if (!duk_is_function(ctx, 2))
        return duk_type_error(ctx, "rampart.event.on: the third argument must be a function");
    duk_set_top(ctx, 4);
    /* stash[EVENTS][event][name] = [func, callbackVar] */
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_literal(ctx, -1, JS_STASH_EVENTS)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_literal(ctx, -3, JS_STASH_EVENTS);
    }
    if (!duk_get_prop_string(ctx, -1, event)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_string(ctx, -3, event);
    }
    duk_push_array(ctx);
    duk_dup(ctx, 2);
    duk_put_prop_index(ctx, -2, 0);
    duk_dup(ctx, 3);
    duk_put_prop_index(ctx, -2, 1);

    int err = 0;
    pthread_mutex_lock(&g_lock);
    ev_ep *ep = ep_get(ctx);
    if (!ep) {
        err = js_heap_loop(ctx) ? 2 : 1;
    } else if (!reg_find(ep, event, name)) {
        ev_reg *r = calloc(1, sizeof *r);
        if (r) {
            r->event = strdup(event);
            r->name = strdup(name);
        }
        if (!r || !r->event || !r->name) {
            if (r) {
                free(r->event);
                free(r->name);
            }
            free(r);
            err = 2;
        } else {
            r->ep = ep;
            r->next = g_regs;
            g_regs = r;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (err == 1)
        return duk_error(ctx, DUK_ERR_ERROR,
                         "rampart.event.on: this JavaScript context has no event loop");
    if (err)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "rampart.event.on: out of memory");
    duk_put_prop_string(ctx, -2, name);
    return 0;
}

/* off(event [, name]) */
static duk_ret_t ev_off(duk_context *ctx)
{
    const char *event = arg_string(ctx, 0, "off", "the event name (first argument)");
    const char *name = NULL;
    if (!duk_is_undefined(ctx, 1) && !duk_is_null(ctx, 1))
        name = arg_string(ctx, 1, "off", "the callback name (second argument)");
    duk_push_heap_stash(ctx);
    if (duk_get_prop_literal(ctx, -1, JS_STASH_EVENTS)) {
        if (name) {
            if (duk_get_prop_string(ctx, -1, event))
                duk_del_prop_string(ctx, -1, name);
            duk_pop(ctx);
        } else {
            duk_del_prop_string(ctx, -1, event);
        }
    }
    pthread_mutex_lock(&g_lock);
    const ev_ep *ep = js_heap_of(ctx)->events;
    if (ep)
        reg_remove(ep, event, name);
    pthread_mutex_unlock(&g_lock);
    return 0;
}

static ev_blob *blob_new(const void *data, size_t len)
{
    ev_blob *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    b->refs = 0;
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

/* Does a message for the cluster, arriving on worker w, go to ep?  Each
 * heap through exactly one worker: its own loop's, or worker 0 for the
 * heaps on no worker's loop.  w NULL: a local trigger, every heap. */
static int ep_wanted(const ev_ep *ep, rp_worker *w)
{
    if (!w)
        return 1;
    if (ep->on_worker)
        return ep->base == rp_worker_base(w);
    return rp_worker_index(w) == 0;
}

/* Queue b for every heap (that w serves) with a callback for event, and
 * wake their loops.  b is freed here if no heap takes it. */
static void queue_blob(const char *event, ev_blob *b, rp_worker *w)
{
    pthread_mutex_lock(&g_lock);
    unsigned long stamp = ++g_stamp;
    for (ev_reg *r = g_regs; r; r = r->next) {
        ev_ep *ep = r->ep;
        if (ep->mark == stamp || strcmp(r->event, event) != 0 || !ep_wanted(ep, w))
            continue;
        ev_msg *m = calloc(1, sizeof *m);
        char *ev = m ? strdup(event) : NULL;
        if (!m || !ev) {
            free(m);
            continue;
        }
        ep->mark = stamp;
        m->event = ev;
        m->blob = b;
        b->refs++;
        if (ep->tail)
            ep->tail->next = m;
        else
            ep->head = m;
        ep->tail = m;
        event_active(ep->ev, EV_READ, 1);
    }
    if (b->refs == 0)
        free(b);
    pthread_mutex_unlock(&g_lock);
}

/* ---- across servers (mod_cluster) ------------------------------------------- */

#define EV_CHANNEL "event"

/* The first byte of a message: the byte order of the encoded numbers. */
static char host_order(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one ? 'l' : 'b';
}

static const rp_cluster_service_v1 *cluster(void)
{
    return rp_service_get(RP_CLUSTER_SERVICE, RP_CLUSTER_SERVICE_VERSION);
}

/* Publish event + value to the other servers; dropped (mod_cluster counts
 * it) when Redis is unreachable or too slow. */
static void cluster_publish(const char *event, const ev_blob *b)
{
    const rp_cluster_service_v1 *cl = cluster();
    if (!cl || !cl->enabled())
        return;
    size_t el = strlen(event);
    unsigned char *msg = malloc(1 + el + 1 + b->len);
    if (!msg)
        return;
    msg[0] = (unsigned char)host_order();
    memcpy(msg + 1, event, el + 1);
    if (b->len)
        memcpy(msg + 2 + el, b->data, b->len);
    (void)cl->publish(EV_CHANNEL, msg, 2 + el + b->len);
    free(msg);
}

/* A trigger from another server, on worker w's thread. */
static void cluster_cb(rp_worker *w, const char *channel, const void *data, size_t len, void *arg)
{
    (void)channel;
    (void)arg;
    const unsigned char *p = data;
    const unsigned char *nul = len > 2 ? memchr(p + 1, 0, len - 1) : NULL;
    if (!nul || nul == p + 1 || p[0] != (unsigned char)host_order()) {
        /* a redis-cli PUBLISH, or a server of the other byte order */
        rp_log(JS_LOG, RP_LOG_DEBUG,
               "rampart.event: a cluster message that is no trigger (%zu bytes) dropped", len);
        return;
    }
    size_t off = (size_t)(nul + 1 - p);
    ev_blob *b = blob_new(nul + 1, len - off);
    if (b)
        queue_blob((const char *)p + 1, b, w);
}

void js_event_worker_init(rp_worker *w)
{
    const rp_cluster_service_v1 *cl = cluster();
    if (cl && cl->subscribe(w, EV_CHANNEL, RP_CLUSTER_OTHERS_ONLY, cluster_cb, NULL) < 0)
        rp_log(JS_LOG, RP_LOG_WARN,
               "worker %d: rampart.event: cannot subscribe to the cluster's events",
               rp_worker_index(w));
}

/* ---- trigger ------------------------------------------------------------------ */

/* trigger(event, triggerVar [, {local: true}]) */
static duk_ret_t ev_trigger(duk_context *ctx)
{
    const char *event = arg_string(ctx, 0, "trigger", "the event name (first argument)");
    duk_set_top(ctx, 3);
    int local = 0;
    if (duk_is_object(ctx, 2)) {
        duk_get_prop_literal(ctx, 2, "local");
        local = duk_to_boolean(ctx, -1);
        duk_pop(ctx);
    } else if (!duk_is_undefined(ctx, 2) && !duk_is_null(ctx, 2)) {
        return duk_type_error(ctx, "rampart.event.trigger: the third argument must be an "
                                   "object ({local: true})");
    }
    unsigned char *data;
    size_t len;
    js_event_encode(ctx, 1, &data, &len); /* throws: too deep, too large, no memory */
    ev_blob *b = blob_new(data, len);
    free(data);
    if (!b)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "rampart.event.trigger: out of memory");
    if (!local)
        cluster_publish(event, b); /* before queue_blob may free b */
    queue_blob(event, b, NULL);
    return 0;
}

void js_event_install(duk_context *ctx)
{
    duk_get_global_string(ctx, "rampart");
    duk_push_object(ctx);
    js_register_native(ctx, -1, "rampart.event");
    static const js_fn fns[] = {{"on", ev_on, 4, "rampart.event.on"},
                                {"off", ev_off, 2, "rampart.event.off"},
                                {"trigger", ev_trigger, 3, "rampart.event.trigger"},
                                {NULL, NULL, 0, NULL}};
    js_put_functions(ctx, -1, fns, JS_FN_NAMED);
    duk_put_prop_string(ctx, -2, "event");
    duk_pop(ctx);
}

void js_event_heap_gone(duk_context *ctx)
{
    js_heap *h = js_heap_of(ctx);
    pthread_mutex_lock(&g_lock);
    ev_ep *ep = h->events;
    h->events = NULL;
    if (ep) {
        reg_remove(ep, NULL, NULL);
        msgs_free(ep->head);
        ep->head = ep->tail = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    if (!ep)
        return;
    /* Only while its loop is still the heap's (the main heap's server loop
     * is freed before the heap: then the event is just memory). */
    if (ep->base && ep->base == js_heap_loop(ctx))
        event_del(ep->ev);
    free(ep->ev);
    free(ep);
}

void js_event_rebind(duk_context *ctx)
{
    pthread_mutex_lock(&g_lock);
    ev_ep *ep = js_heap_of(ctx)->events;
    struct event_base *base = js_heap_loop(ctx);
    if (ep && base && ep->base != base) {
        event_del(ep->ev);
        if (event_assign(ep->ev, base, -1, 0, deliver_cb, ep) == 0) {
            ep->base = base;
            if (ep->head)
                event_active(ep->ev, EV_READ, 1);
        }
    }
    pthread_mutex_unlock(&g_lock);
}
