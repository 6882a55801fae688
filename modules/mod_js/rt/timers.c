/* timers.c - setTimeout, setInterval, setMetronome and their clear*
 * functions on the heap's own libevent loop.
 *
 * Each heap keeps its timers in one list sorted by (due time, sequence) and
 * a single libevent timer for the earliest one, so equal delays fire in the
 * order they were set (libevent's heap does not promise that) and moving
 * the timers to another loop (js_heap_set_loop) is one event.  Callbacks
 * and their extra arguments live in the heap stash; a callback's error is
 * reported with its file:line and the loop goes on.  Each callback runs
 * under js_guard_loop: a Duktape fatal error cancels every timer of the
 * heap and its owner decides what happens to it (see js_int.h). */
#include <math.h>
#include <stdlib.h>
#include <event2/event.h>
#include "js_int.h"

enum { T_TIMEOUT, T_INTERVAL, T_METRONOME };
static const char *const kind_names[] = {"setTimeout", "setInterval", "setMetronome"};
static const char *const callback_names[] = {"setTimeout callback", "setInterval callback",
                                             "setMetronome callback"};

struct js_timer {
    js_timer *next;
    unsigned id;
    int kind;
    int cancelled;
    double interval; /* seconds */
    double anchor;   /* metronome: beats are anchor + k * interval */
    double due;      /* monotonic seconds */
    unsigned long seq;
};

/* Per-heap timer machinery that js_heap does not hold directly. */
typedef struct js_timer_state {
    struct event *ev;
    struct event_base *ev_loop; /* the loop ev was created on */
    js_timer *current;          /* the timer whose callback is running */
    unsigned long seq;
} timer_state;

static timer_state *state_of(js_heap *h, int create);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static void push_timer_table(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_literal(ctx, -1, JS_STASH_TIMERS)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_literal(ctx, -3, JS_STASH_TIMERS);
    }
    duk_remove(ctx, -2);
}

static void forget_callback(duk_context *ctx, unsigned id)
{
    push_timer_table(ctx);
    duk_del_prop_index(ctx, -1, id);
    duk_pop(ctx);
}

static void insert_sorted(js_heap *h, timer_state *st, js_timer *t)
{
    t->seq = ++st->seq;
    js_timer **pp = &h->timers;
    while (*pp && ((*pp)->due < t->due || ((*pp)->due == t->due && (*pp)->seq < t->seq)))
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
}

static js_timer *unlink_id(js_heap *h, unsigned id)
{
    for (js_timer **pp = &h->timers; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            js_timer *t = *pp;
            *pp = t->next;
            t->next = NULL;
            return t;
        }
    }
    return NULL;
}

/* Point the single libevent timer at the earliest due timer.  The event
 * lives in memory of our own (event_assign), so it can be re-assigned to
 * another loop, or forgotten after its loop was freed (js_timers_abandon). */
static void reschedule(js_heap *h)
{
    timer_state *st = state_of(h, 0);
    if (!st)
        return;
    if (st->ev_loop && (st->ev_loop != h->loop || !h->timers))
        event_del(st->ev);
    if (st->ev_loop != h->loop)
        st->ev_loop = NULL;
    if (!h->timers || !h->loop)
        return;
    if (!st->ev) {
        st->ev = calloc(1, event_get_struct_event_size());
        if (!st->ev)
            return;
    }
    if (!st->ev_loop) {
        if (event_assign(st->ev, h->loop, -1, 0, on_timer, h) != 0)
            return;
        st->ev_loop = h->loop;
    }
    double d = h->timers->due - js_now_mono();
    if (d < 0)
        d = 0;
    struct timeval tv = {(time_t)d, (suseconds_t)((d - floor(d)) * 1e6)};
    evtimer_add(st->ev, &tv);
}

/* [ ... entry(array: fn, args...) ] -> calls fn(args...) */
static duk_ret_t call_entry(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t n = (duk_idx_t)duk_get_length(ctx, -1);
    duk_idx_t entry = duk_get_top_index(ctx);
    for (duk_idx_t i = 0; i < n; i++)
        duk_get_prop_index(ctx, entry, (duk_uarridx_t)i);
    duk_call(ctx, n - 1);
    return 0;
}

typedef struct run_job {
    timer_state *st;
    js_timer *t;
} run_job;

/* One callback, under js_guard_loop (run_one). */
static void run_guarded(duk_context *ctx, void *arg)
{
    const run_job *job = arg;
    js_heap *h = js_heap_of(ctx);
    js_timer *t = job->t;
    push_timer_table(ctx);
    duk_get_prop_index(ctx, -1, t->id);
    duk_remove(ctx, -2);
    if (!duk_is_array(ctx, -1)) {
        duk_pop(ctx);
        return;
    }
    job->st->current = t;
    if (h->callback_timeout > 0)
        js_deadline_arm(ctx, h->callback_timeout);
    if (duk_safe_call(ctx, call_entry, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        js_report_error(ctx, -1, callback_names[t->kind]);
    } else {
        duk_pop(ctx);
    }
    if (h->callback_timeout > 0)
        js_deadline_arm(ctx, 0);
    job->st->current = NULL;
}

/* Run t's callback.  -1: a fatal error broke the heap; its timers (st
 * included) are gone and the heap may be too - t, already unlinked, is the
 * caller's to free. */
static int run_one(js_heap *h, timer_state *st, js_timer *t)
{
    run_job job = {st, t};
    return js_guard_loop(h->ctx, run_guarded, &job, callback_names[t->kind]);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    js_heap *h = arg;
    timer_state *st = state_of(h, 0);
    double now = js_now_mono();
    unsigned long last_seq = st->seq; /* timers set by callbacks wait a turn */
    while (h->timers && h->timers->due <= now && h->timers->seq <= last_seq) {
        js_timer *t = h->timers;
        h->timers = t->next;
        t->next = NULL;
        if (run_one(h, st, t) != 0) {
            free(t);
            return; /* nothing of the heap may be touched now */
        }
        if (t->cancelled || t->kind == T_TIMEOUT) {
            if (!t->cancelled)
                forget_callback(h->ctx, t->id);
            free(t);
            h->ntimers--;
            continue;
        }
        double n2 = js_now_mono();
        if (t->kind == T_INTERVAL) {
            t->due = n2 + t->interval;
        } else {
            double k = floor((n2 - t->anchor) / t->interval) + 1;
            t->due = t->anchor + k * t->interval;
        }
        insert_sorted(h, st, t);
    }
    reschedule(h);
}

static timer_state *state_of(js_heap *h, int create)
{
    if (!h->tstate && create)
        h->tstate = calloc(1, sizeof *h->tstate);
    return h->tstate;
}

static duk_ret_t set_timer(duk_context *ctx, int kind)
{
    js_heap *h = js_heap_of(ctx);
    duk_idx_t nargs = duk_get_top(ctx);
    if (!duk_is_function(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "%s: the first argument must be a function",
                         kind_names[kind]);
    if (!h->loop)
        return duk_error(ctx, DUK_ERR_ERROR, "%s: this JavaScript context has no event loop",
                         kind_names[kind]);
    double ms = nargs > 1 ? duk_to_number(ctx, 1) : 0;
    if (isnan(ms) || ms < 0)
        ms = 0;
    if (kind != T_TIMEOUT && ms < 1)
        ms = 1; /* a zero interval would spin */
    timer_state *st = state_of(h, 1);
    js_timer *t = calloc(1, sizeof *t);
    if (!st || !t) {
        free(t);
        return duk_error(ctx, DUK_ERR_ERROR, "%s: out of memory", kind_names[kind]);
    }
    t->id = h->next_timer_id++;
    if (h->next_timer_id == 0)
        h->next_timer_id = 1;
    t->kind = kind;
    t->interval = ms / 1000.0;
    t->anchor = js_now_mono();
    t->due = t->anchor + t->interval;

    /* stash[id] = [fn, extra args...] */
    push_timer_table(ctx);
    duk_push_array(ctx);
    duk_dup(ctx, 0);
    duk_put_prop_index(ctx, -2, 0);
    for (duk_idx_t i = 2; i < nargs; i++) {
        duk_dup(ctx, i);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)(i - 1));
    }
    duk_put_prop_index(ctx, -2, t->id);
    duk_pop(ctx);

    insert_sorted(h, st, t);
    h->ntimers++;
    reschedule(h);
    duk_push_uint(ctx, t->id);
    return 1;
}

static duk_ret_t js_set_timeout(duk_context *ctx)
{
    return set_timer(ctx, T_TIMEOUT);
}
static duk_ret_t js_set_interval(duk_context *ctx)
{
    return set_timer(ctx, T_INTERVAL);
}
static duk_ret_t js_set_metronome(duk_context *ctx)
{
    return set_timer(ctx, T_METRONOME);
}

static duk_ret_t js_clear_timer(duk_context *ctx)
{
    if (!duk_is_number(ctx, 0))
        return 0;
    double d = duk_get_number(ctx, 0);
    if (d < 1 || d > 4294967295.0)
        return 0;
    unsigned id = (unsigned)d;
    js_heap *h = js_heap_of(ctx);
    timer_state *st = state_of(h, 0);
    if (!st)
        return 0;
    js_timer *t = unlink_id(h, id);
    if (t) {
        forget_callback(ctx, id);
        free(t);
        h->ntimers--;
        reschedule(h);
    } else if (st->current && st->current->id == id && !st->current->cancelled) {
        st->current->cancelled = 1; /* on_timer frees it after the callback */
        forget_callback(ctx, id);
    }
    return 0;
}

void js_timers_install(duk_context *ctx)
{
    /* registered under their global names: snapshots re-resolve them */
    static const js_fn fns[] = {{"setTimeout", js_set_timeout, DUK_VARARGS, "setTimeout"},
                                {"setInterval", js_set_interval, DUK_VARARGS, "setInterval"},
                                {"setMetronome", js_set_metronome, DUK_VARARGS, "setMetronome"},
                                {"clearTimeout", js_clear_timer, DUK_VARARGS, "clearTimeout"},
                                {"clearInterval", js_clear_timer, DUK_VARARGS, "clearInterval"},
                                {"clearMetronome", js_clear_timer, DUK_VARARGS, "clearMetronome"},
                                {NULL, NULL, 0, NULL}};
    duk_push_global_object(ctx);
    js_put_functions(ctx, -1, fns, JS_FN_HIDDEN);
    duk_pop(ctx);
}

int js_timers_pending(duk_context *ctx)
{
    return js_heap_of(ctx)->ntimers;
}

void js_heap_set_loop(duk_context *ctx, struct event_base *loop)
{
    js_heap *h = js_heap_of(ctx);
    h->loop = loop;
    reschedule(h);
}

void js_timers_free(js_heap *h)
{
    timer_state *st = state_of(h, 0);
    while (h->timers) {
        js_timer *t = h->timers;
        h->timers = t->next;
        free(t);
    }
    h->ntimers = 0;
    if (st) {
        if (st->ev_loop)
            event_del(st->ev);
        free(st->ev);
        free(st);
        h->tstate = NULL;
    }
}

void js_timers_abandon_loop(duk_context *ctx)
{
    js_heap *h = js_heap_of(ctx);
    timer_state *st = state_of(h, 0);
    if (st)
        st->ev_loop = NULL; /* do not touch the freed loop */
    h->loop = NULL;
}
