/* stream.c - deferred and chunked replies (mod_js, HTTP half): the state of
 * the requests that outlive their function, and when their pieces go.
 * What a piece is made of and how it is written is reply.c's; the server
 * buffer (req.printf ...) is srvbuf.c's, kept here in the heap's state.
 *
 *  Deferred replies    return {defer: true}; later req.reply(returnObject)
 *                      from a timer or event answers (once), through
 *                      js_reply_prepare / js_reply_send like a return value.
 *                      Any number may wait on one worker.  A client that
 *                      goes away meanwhile: the request is finished at once
 *                      and the later req.reply is dropped (returns false,
 *                      logged).
 *  Chunked replies     return {chunk: true, chunkDelay: ms, <ext>: callback}:
 *                      Transfer-Encoding: chunked; callback(req) runs once
 *                      per chunk with req.chunkIndex and sends with
 *                      req.chunkSend(data) / req.chunkEnd([data])
 *                      (js_reply_chunk).  The next
 *                      callback waits until the output has drained to 16 KiB
 *                      (rp_resp_on_drain: a slow client holds one chunk, not
 *                      the whole stream) and for the next chunkDelay beat
 *                      (metronome: beats at start + k * delay; a beat missed
 *                      while draining fires as soon as the output drained).
 *                      A callback that sent nothing runs again at the next
 *                      beat (chunkDelay 0: after 10 ms).  Errors, timeouts
 *                      (ScriptTimeout) and the client going away end it.
 *                      Compression stays off unless the return object asks
 *                      for it ("compress").
 *
 * State: per heap a js_hstream (C memory in the heap's typed slot,
 * js_heap_stream; the heap stash holds a holder object with its pointer,
 * whose finalizer - run when the heap is destroyed - finishes what is still
 * pending and frees it).  Per deferred or chunked request a js_sreq, in a
 * list and in the stash table JS_STASH_STREAMS under the
 * request's id ([pointer, callback, req]).  Request objects carry their id
 * (hidden REQ_ID) and find their js_sreq by it, so a req object kept past
 * its request can never reach a freed rp_req.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>

#include "js_stream.h"

#define HS_PTR DUK_HIDDEN_SYMBOL("rpStreamPtr") /* on the holder: the js_hstream */
#define REQ_ID JS_REQ_ID

#define CHUNK_LOW_WATER ((size_t)16384) /* next chunk when output <= this */
#define IDLE_RETRY 0.01                 /* s: chunkDelay 0, nothing sent */
#define MAX_TOMBS 4096                  /* dropped deferred ids remembered */

enum { S_DEFER = 1, S_CHUNK = 2 };

typedef struct js_hstream js_hstream;
typedef struct js_sreq js_sreq;

struct js_sreq {
    struct js_sreq *next, *prev;
    js_hstream *hs;
    rp_req *r; /* NULL once the response is finished */
    unsigned id;
    int mode;
    int linked; /* in hs's list and JS_STASH_STREAMS */
    int gone;   /* the client went away */
    int ended;  /* chunkEnd, an error, or a timeout */
    int sent;   /* the running callback sent something */
    int idle;   /* the last callback sent nothing */
    unsigned index;
    double delay, anchor, beat; /* seconds, monotonic, beat number */
    struct event *ev;
    const js_conf *conf;
    double timeout;  /* ScriptTimeout of r's route, for every callback */
    int no_sendfile; /* compressed: "@file" chunks go as memory */
    void *prefix;    /* defer: the server buffer when the function returned */
    size_t prefixlen;
    int prefix_owned;
    char *what; /* "GET /path" for the log */
};

struct js_hstream {
    duk_context *ctx;
    js_srvbuf sb; /* the server buffer (srvbuf.c) */
    unsigned next_id;
    unsigned cur_id;     /* the request whose function runs (or ran last) */
    const rp_req *cur_r; /* compared, never dereferenced */
    int cur_async, in_reply;
    js_sreq *head;
    int ntombs;
    js_sreq *running;  /* whose chunk callback runs */
    js_sreq *replying; /* req.reply preparing it (unlinked), with its rp_req */
    rp_req *replying_r;
    int dying; /* the heap is destroyed or broken: its stash is not touched */
    /* kept alive by the heap stash (JS_STASH_REQPROTO) for the heap's life:
     * pushed by pointer, once per request */
    void *req_proto;
    js_req_cache rc; /* req.c's */
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- per-heap state --------------------------------------------------------- */

/* From the heap's C state: no call into the heap (it may be broken). */
static js_hstream *hs_peek(duk_context *ctx)
{
    return js_heap_stream(ctx);
}

static void s_close(js_sreq *s);

static duk_ret_t hs_finalize(duk_context *ctx)
{
    duk_get_prop_string(ctx, 0, HS_PTR);
    js_hstream *hs = duk_get_pointer(ctx, -1);
    duk_pop(ctx);
    if (!hs)
        return 0;
    js_heap_set_stream(ctx, NULL);
    duk_push_pointer(ctx, NULL);
    duk_put_prop_string(ctx, 0, HS_PTR);
    hs->dying = 1;
    js_sreq *s = hs->head;
    hs->head = NULL;
    while (s) {
        js_sreq *next = s->next;
        s->linked = 0; /* taken off the list here */
        s_close(s);
        s = next;
    }
    free(hs->sb.buf);
    free(hs);
    return 0;
}

/* The heap's state, created on first use.  Throws on out-of-memory. */
static js_hstream *hs_get(duk_context *ctx)
{
    js_hstream *hs = hs_peek(ctx);
    if (hs)
        return hs;
    hs = calloc(1, sizeof *hs);
    if (!hs)
        (void)duk_error(ctx, DUK_ERR_ERROR, "out of memory");
    hs->ctx = ctx;
    duk_push_heap_stash(ctx);
    hs->rc.stash = duk_get_heapptr(ctx, -1); /* the heap's own: lives as long */
    duk_push_bare_object(ctx);
    duk_push_bare_object(ctx);
    duk_put_prop_literal(ctx, -3, JS_STASH_STREAMS);
    duk_push_pointer(ctx, hs);
    duk_put_prop_string(ctx, -2, HS_PTR);
    duk_push_c_function(ctx, hs_finalize, 2);
    duk_set_finalizer(ctx, -2);
    duk_put_prop_literal(ctx, -2, JS_STASH_STREAM_HOLDER);
    duk_pop(ctx);
    js_heap_set_stream(ctx, hs);
    return hs;
}

js_req_cache *js_req_cache_of(duk_context *ctx)
{
    return &hs_get(ctx)->rc;
}

js_srvbuf *js_srvbuf_of(duk_context *ctx, int create)
{
    if (!create)
        return hs_peek(ctx) ? &hs_peek(ctx)->sb : NULL;
    return &hs_get(ctx)->sb;
}

/* ---- deferred and chunked requests: bookkeeping ------------------------------ */

static char *what_of(rp_req *r)
{
    const char *m = rp_req_method(r), *p = rp_req_path(r);
    size_t n = strlen(m) + strlen(p) + 2;
    char *w = malloc(n);
    if (w)
        snprintf(w, n, "%s %s", m, p);
    return w;
}

static const char *what(const js_sreq *s)
{
    return s->what ? s->what : "request";
}

static js_sreq *s_lookup(duk_context *ctx, unsigned id)
{
    js_sreq *s = NULL;
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_STREAMS);
    if (duk_is_object(ctx, -1) && duk_get_prop_index(ctx, -1, id)) {
        duk_get_prop_index(ctx, -1, 0);
        s = duk_get_pointer(ctx, -1);
        duk_pop(ctx);
    }
    duk_pop_3(ctx);
    return s;
}

/* Out of the list and the stash table (idempotent). */
static void s_unlink(js_sreq *s)
{
    js_hstream *hs = s->hs;
    if (!s->linked)
        return;
    s->linked = 0;
    if (s->prev)
        s->prev->next = s->next;
    else
        hs->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    if (s->mode == S_DEFER && s->gone)
        hs->ntombs--;
    if (!hs->dying) {
        duk_context *ctx = hs->ctx;
        duk_push_heap_stash(ctx);
        duk_get_prop_literal(ctx, -1, JS_STASH_STREAMS);
        if (duk_is_object(ctx, -1))
            duk_del_prop_index(ctx, -1, s->id);
        duk_pop_2(ctx);
    }
}

/* End the response (if still ours) and forget its callbacks. */
static void s_finish(js_sreq *s)
{
    rp_req *r = s->r;
    if (!r)
        return;
    s->r = NULL;
    rp_req_on_abort(r, NULL, NULL);
    rp_resp_on_drain(r, 0, NULL, NULL);
    rp_resp_finish(r);
}

static void s_free(js_sreq *s)
{
    s_unlink(s);
    if (s->ev) {
        event_del(s->ev);
        event_free(s->ev);
    }
    if (s->prefix_owned)
        free(s->prefix);
    free(s->what);
    free(s);
}

/* The heap is destroyed (worker exit, a heap reset after a script
 * timeout) or broken (why: the fatal error): finish what is still pending
 * without JavaScript - 500 unless the response already started. */
static void s_close_why(js_sreq *s, const char *why)
{
    if (s->r) {
        rp_req *r = s->r;
        rp_req_on_abort(r, NULL, NULL);
        rp_resp_on_drain(r, 0, NULL, NULL);
        if (s->mode == S_DEFER) {
            rp_log(JS_SELF, RP_LOG_ERR,
                   "%s: the JavaScript heap went away before req.reply; "
                   "answering 500",
                   what(s));
            js_reply_error(r, 500,
                           why ? why : "the JavaScript heap was reset before req.reply() answered");
        } else {
            rp_log(JS_SELF, RP_LOG_ERR,
                   "%s: the JavaScript heap went away; the chunked reply "
                   "ends after %u chunks",
                   what(s), s->index);
            if (why)
                js_reply_error(r, 500, why);
        }
    }
    s_finish(s);
    s_free(s);
}

static void s_close(js_sreq *s)
{
    s_close_why(s, NULL);
}

/* A deferred request whose client went away: finish it now; its id stays
 * known (bounded) so that req.reply drops quietly. */
static void s_tomb(js_sreq *s)
{
    js_hstream *hs = s->hs;
    s_finish(s);
    hs->ntombs++;
    if (hs->ntombs > MAX_TOMBS) {
        js_sreq *old = NULL;
        for (js_sreq *t = hs->head; t; t = t->next)
            if (t->mode == S_DEFER && t->gone)
                old = t;
        if (old)
            s_free(old);
    }
}

static void s_on_abort(rp_req *r, void *arg)
{
    (void)r;
    js_sreq *s = arg;
    s->gone = 1;
    if (s->mode == S_DEFER) {
        rp_log(JS_SELF, RP_LOG_NOTICE,
               "%s: the client went away before req.reply(); the deferred reply is dropped",
               what(s));
        s_tomb(s);
        return;
    }
    rp_log(JS_SELF, RP_LOG_NOTICE,
           "%s: the client went away; the chunked reply stops after %u chunks", what(s), s->index);
    if (s->hs->running == s)
        return; /* chunk_fire ends it after the callback */
    s_finish(s);
    s_free(s);
}

/* ---- chunked replies -------------------------------------------------------- */

static void chunk_fire(evutil_socket_t fd, short ev, void *arg);

static void chunk_drained(rp_req *r, void *arg)
{
    (void)r;
    js_sreq *s = arg;
    double now = now_mono(), wait = 0;
    if (s->delay > 0) {
        double due = s->anchor + (s->beat + 1) * s->delay;
        if (due >= now) {
            s->beat += 1;
            wait = due - now;
        } else { /* drained after the beat: go now, keep to the grid */
            s->beat = floor((now - s->anchor) / s->delay);
        }
    } else if (s->idle) {
        wait = IDLE_RETRY;
    }
    struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
    evtimer_add(s->ev, &tv);
}

static duk_ret_t chunk_call(duk_context *ctx, void *udata)
{
    const js_sreq *s = udata;
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_STREAMS);
    duk_get_prop_index(ctx, -1, s->id);
    duk_get_prop_index(ctx, -1, 1);
    duk_get_prop_index(ctx, -2, 2);
    duk_push_uint(ctx, s->index);
    duk_put_prop_string(ctx, -2, "chunkIndex");
    duk_call(ctx, 1);
    return 1;
}

typedef struct chunk_job {
    js_sreq *s;
    int rc, expired;
} chunk_job;

/* The callback itself, under js_guard_loop (chunk_fire); leaves its result
 * (or error) on the stack for chunk_fire. */
static void chunk_guarded(duk_context *ctx, void *arg)
{
    chunk_job *job = arg;
    js_sreq *s = job->s;
    js_hstream *hs = s->hs;
    double timeout = s->timeout;
    hs->running = s;
    hs->sb.len = 0;
    s->sent = 0;
    if (timeout > 0)
        js_deadline_arm(ctx, timeout);
    job->rc = duk_safe_call(ctx, chunk_call, s, 0, 1);
    job->expired = timeout > 0 && js_deadline_expired(ctx);
    if (timeout > 0)
        js_deadline_arm(ctx, 0);
    hs->running = NULL;
    hs->sb.len = 0;
}

static void chunk_fire(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    js_sreq *s = arg;
    js_hstream *hs = s->hs;
    if (s->gone || !s->r) {
        s_finish(s);
        s_free(s);
        return;
    }
    duk_context *ctx = hs->ctx;
    if (js_heap_broken(ctx)) { /* e.g. a heap still held by a response */
        s_close_why(s, "the JavaScript heap was broken by a Duktape fatal error");
        return;
    }
    chunk_job job = {s, 0, 0};
    if (js_guard_loop(ctx, chunk_guarded, &job, "chunk callback") != 0)
        return; /* s and hs went with the heap (js_stream_heap_broken) */
    if (job.rc != DUK_EXEC_SUCCESS) {
        const char *text = job.expired ? "script timed out" : js_error_text(ctx, -1);
        rp_log(JS_SELF, RP_LOG_ERR, "%s: chunk callback (chunk %u): %s; the reply ends", what(s),
               s->index, text);
        if (s->r && !s->gone && !rp_resp_started(s->r))
            js_reply_error(s->r, 500, text);
        if (!job.expired)
            duk_pop(ctx);
        s->ended = 1;
    }
    duk_pop(ctx);
    if (s->gone || s->ended || !s->r) {
        s_finish(s);
        s_free(s);
        return;
    }
    s->idle = !s->sent;
    if (s->sent) {
        s->index++;
        rp_resp_flush(s->r);
    }
    rp_resp_on_drain(s->r, CHUNK_LOW_WATER, chunk_drained, s);
}

/* A fatal error broke ctx (mod_js.c, before it replaces the heap): answer
 * every request waiting on it - deferred ones 500, chunked ones 500 or, once
 * started, ended - without calling into it again.  why: the answer's text. */
void js_stream_heap_broken(duk_context *ctx, const char *why)
{
    js_hstream *hs = hs_peek(ctx);
    if (!hs)
        return;
    hs->dying = 1; /* s_unlink must not touch the stash */
    hs->running = NULL;
    js_sreq *s = hs->replying;
    if (s) { /* req.reply had taken it off the list */
        hs->replying = NULL;
        s->r = hs->replying_r;
        s_close_why(s, why);
    }
    while ((s = hs->head) != NULL)
        s_close_why(s, why); /* s_free unlinks it */
}

/* The chunk stream whose callback runs, for req.chunkSend / chunkEnd on
 * the object `this`. */
static js_sreq *running_for_this(duk_context *ctx, js_hstream *hs, const char *fn)
{
    js_sreq *s = hs->running;
    unsigned id = s ? s->id : 0;
    duk_push_this(ctx);
    if (duk_is_object(ctx, -1)) {
        if (duk_get_prop_string(ctx, -1, REQ_ID))
            id = (unsigned)duk_get_uint(ctx, -1); /* a req object: must be the running one */
        duk_pop(ctx);
    }
    duk_pop(ctx);
    if (!s || s->id != id)
        (void)duk_error(ctx, DUK_ERR_ERROR,
                        "req.%s: only available inside the chunk callback (the function of a "
                        "{chunk: true} return object)",
                        fn);
    if (s->ended)
        (void)duk_error(ctx, DUK_ERR_ERROR,
                        "req.%s: the reply was already ended with req.chunkEnd()", fn);
    return s;
}

/* Send the server buffer, then the data at idx (reply.c writes them).
 * Returns the bytes queued. */
static double send_data(duk_context *ctx, js_sreq *s, duk_idx_t idx)
{
    double n = js_reply_chunk(ctx, s->gone ? NULL : s->r, idx, s->conf, s->no_sendfile);
    if (n < 0) {
        s->gone = 1; /* the client went away: the abort hook says so too */
        return 0;
    }
    if (n > 0)
        s->sent = 1;
    return n;
}

/* req.chunkSend(data): bytes queued (0 if the client went away). */
static duk_ret_t req_chunk_send(duk_context *ctx)
{
    js_hstream *hs = hs_get(ctx);
    duk_set_top(ctx, 1);
    js_sreq *s = running_for_this(ctx, hs, "chunkSend");
    duk_push_number(ctx, send_data(ctx, s, 0));
    return 1;
}

/* req.chunkEnd([data]): send data (and the server buffer), then end. */
static duk_ret_t req_chunk_end(duk_context *ctx)
{
    js_hstream *hs = hs_get(ctx);
    duk_set_top(ctx, 1);
    js_sreq *s = running_for_this(ctx, hs, "chunkEnd");
    send_data(ctx, s, 0);
    s->ended = 1;
    return 0;
}

/* ---- deferred replies ---------------------------------------------------------- */

typedef struct reply_state {
    rp_req *r;
    js_plan plan;
} reply_state;

static duk_ret_t reply_prepare_cb(duk_context *ctx, void *udata)
{
    reply_state *st = udata;
    js_reply_prepare(ctx, st->r, 0, &st->plan);
    return 1;
}

/* Put the deferred prefix in front of plan->pre. */
static void merge_prefix(js_sreq *s, js_plan *plan)
{
    if (!s->prefixlen)
        return;
    if (!plan->prelen) {
        plan->pre = s->prefix;
        plan->prelen = s->prefixlen;
        plan->pre_owned = s->prefix_owned;
        s->prefix = NULL;
        s->prefix_owned = 0;
        return;
    }
    char *m = malloc(s->prefixlen + plan->prelen);
    if (!m) { /* out of memory: send the part printed last */
        return;
    }
    size_t total = s->prefixlen + plan->prelen;
    memcpy(m, s->prefix, s->prefixlen);
    memcpy(m + s->prefixlen, plan->pre, plan->prelen);
    js_plan_drop_pre(plan);
    plan->pre = m;
    plan->prelen = total;
    plan->pre_owned = 1;
}

/* req.reply(returnObject): true when sent, false when the client had gone. */
static duk_ret_t req_reply(duk_context *ctx)
{
    js_hstream *hs = hs_get(ctx);
    duk_set_top(ctx, 1);
    duk_push_this(ctx);
    duk_idx_t this_idx = duk_get_top_index(ctx);
    if (!duk_is_object(ctx, this_idx) || !duk_get_prop_string(ctx, this_idx, REQ_ID))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "req.reply: must be called on a request object");
    unsigned id = (unsigned)duk_get_uint(ctx, -1);
    duk_pop(ctx);
    js_sreq *s = s_lookup(ctx, id);
    if (!s || s->mode != S_DEFER)
        return duk_error(ctx, DUK_ERR_ERROR,
                         s ? "req.reply: this request is being sent in chunks (use req.chunkSend / "
                             "req.chunkEnd)"
                           : "req.reply: no deferred reply is pending for this request: it was "
                             "already answered (req.reply may be called once) or its function did "
                             "not return {defer: true}");
    if (s->gone) {
        rp_log(JS_SELF, RP_LOG_INFO, "%s: req.reply() after the client went away: dropped",
               what(s));
        s_free(s);
        duk_push_false(ctx);
        return 1;
    }
    rp_req *r = s->r;
    s->r = NULL;
    /* off the list, so a fatal error from here on (a getter of the return
     * object) finds it there: js_stream_heap_broken answers r */
    js_sreq *save_rep = hs->replying;
    rp_req *save_rep_r = hs->replying_r;
    hs->replying = s;
    hs->replying_r = r;
    rp_req_on_abort(r, NULL, NULL);
    s_unlink(s);

    reply_state st;
    memset(&st, 0, sizeof st);
    st.r = r;
    st.plan.status = 200;
    unsigned save_id = hs->cur_id;
    const rp_req *save_r = hs->cur_r;
    int save_async = hs->cur_async, save_in = hs->in_reply;
    hs->cur_id = id;
    hs->cur_r = r;
    hs->cur_async = 1;
    hs->in_reply = 1;
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_CURREQ); /* [obj this stash oldcur] */
    duk_dup(ctx, this_idx);
    duk_put_prop_literal(ctx, -3, JS_STASH_CURREQ);
    duk_dup(ctx, 0);
    int rc = duk_safe_call(ctx, reply_prepare_cb, &st, 1, 1);
    hs->cur_id = save_id;
    hs->cur_r = save_r;
    hs->cur_async = save_async;
    hs->in_reply = save_in;
    duk_dup(ctx, -2);
    duk_put_prop_literal(ctx, -4, JS_STASH_CURREQ); /* [obj this stash oldcur result] */
    const js_conf *c = rp_req_conf(r, JS_SELF);
    if (rc != DUK_EXEC_SUCCESS || st.plan.why) {
        hs->replying = save_rep;
        hs->replying_r = save_rep_r;
        const char *text = rc != DUK_EXEC_SUCCESS ? js_error_text(ctx, -1) : st.plan.why;
        rp_log(JS_SELF, RP_LOG_ERR, "%s: req.reply: %s", what(s), text);
        js_reply_error(r, 500, text);
        rp_resp_finish(r);
        js_plan_drop_pre(&st.plan);
        js_stream_cancel(&st.plan);
        s_free(s);
        if (rc != DUK_EXEC_SUCCESS) {
            duk_pop(ctx);
            return duk_throw(ctx);
        }
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "req.reply: %s", st.plan.why);
    }
    merge_prefix(s, &st.plan);
    hs->replying = save_rep;
    hs->replying_r = save_rep_r;
    s_free(s);
    int ret = js_reply_send(r, &st.plan, c, NULL, NULL);
    if (ret != RP_ASYNC) {
        if (ret != RP_OK)
            js_reply_error(r, ret, NULL);
        rp_resp_finish(r);
    }
    duk_push_true(ctx);
    return 1;
}

static void push_req_proto(duk_context *ctx, js_hstream *hs)
{
    if (hs->req_proto) {
        duk_push_heapptr(ctx, hs->req_proto);
        return;
    }
    duk_push_heap_stash(ctx);
    duk_push_object(ctx);
    js_push_srvbuf_proto(ctx);
    duk_set_prototype(ctx, -2);
    static const js_fn fns[] = {{"reply", req_reply, 1, NULL},
                                {"chunkSend", req_chunk_send, 1, NULL},
                                {"chunkEnd", req_chunk_end, 1, NULL},
                                {NULL, NULL, 0, NULL}};
    js_put_functions(ctx, -1, fns, JS_FN_HIDDEN | JS_FN_NAMED);
    js_req_proto_members(ctx, -1);
    duk_dup_top(ctx);
    duk_put_prop_literal(ctx, -3, JS_STASH_REQPROTO);
    duk_remove(ctx, -2);
    hs->req_proto = duk_get_heapptr(ctx, -1);
}

/* ---- the hooks for req.c and reply.c ------------------------------------------------ */

duk_uint_t js_stream_next_id(duk_context *ctx, rp_req *r, int async_ok)
{
    js_hstream *hs = hs_get(ctx);
    hs->sb.len = 0;
    if (++hs->next_id == 0)
        hs->next_id = 1;
    hs->cur_id = hs->next_id;
    hs->cur_r = r;
    hs->cur_async = async_ok;
    return hs->cur_id;
}

void js_stream_bind(duk_context *ctx, duk_idx_t req_idx)
{
    req_idx = duk_normalize_index(ctx, req_idx);
    js_hstream *hs = hs_peek(ctx); /* js_stream_next_id made it */
    push_req_proto(ctx, hs);
    duk_set_prototype(ctx, req_idx);
    duk_push_heapptr(ctx, hs->rc.stash);
    duk_dup(ctx, req_idx);
    duk_put_prop_literal(ctx, -2, JS_STASH_CURREQ);
    duk_pop(ctx);
}

void js_stream_begin(duk_context *ctx, rp_req *r, duk_idx_t req_idx, int async_ok)
{
    req_idx = duk_normalize_index(ctx, req_idx);
    duk_push_uint(ctx, js_stream_next_id(ctx, r, async_ok));
    duk_put_prop_literal(ctx, req_idx, REQ_ID); /* before the prototype: no chain to search */
    js_stream_bind(ctx, req_idx);
}

const char *js_stream_prepare(duk_context *ctx, rp_req *r, js_plan *plan)
{
    js_hstream *hs = hs_get(ctx);
    int fn = plan->chunk && duk_is_function(ctx, -1);
    js_sreq *s = NULL;
    if (plan->defer || fn) {
        if (plan->defer && hs->in_reply)
            return "'defer' in req.reply(): the request is already deferred";
        if (plan->defer && plan->chunk)
            return "'defer' and 'chunk' cannot be combined: return {defer: true}, then call "
                   "req.reply({chunk: true, ...})";
        if (hs->cur_r != r || !hs->cur_async)
            return "'defer' and chunk callbacks are not available in notFoundFunc or "
                   "directoryFunc";
        s = calloc(1, sizeof *s);
        if (!s)
            return "out of memory";
    }
    if (!s)
        return NULL;
    s->hs = hs;
    s->r = r;
    s->id = hs->cur_id;
    s->mode = plan->defer ? S_DEFER : S_CHUNK;
    s->conf = rp_req_conf(r, JS_SELF);
    s->timeout = s->conf ? js_timeout_for(r, s->conf) : 0;
    s->delay = plan->chunk_delay / 1000.0;
    s->no_sendfile = plan->compress > 0;
    s->what = what_of(r);
    if (plan->defer) {
        s->prefix = plan->pre;
        s->prefixlen = plan->prelen;
        s->prefix_owned = plan->pre_owned;
        plan->pre = NULL;
        plan->prelen = 0;
        plan->pre_owned = 0;
    }
    /* stash: streams[id] = [pointer, callback, req] */
    duk_idx_t body = duk_get_top_index(ctx);
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_STREAMS);
    duk_push_array(ctx);
    duk_push_pointer(ctx, s);
    duk_put_prop_index(ctx, -2, 0);
    if (fn) {
        duk_dup(ctx, body);
        duk_put_prop_index(ctx, -2, 1);
        duk_get_prop_literal(ctx, -3, JS_STASH_CURREQ);
        duk_put_prop_index(ctx, -2, 2);
    }
    duk_put_prop_index(ctx, -2, s->id);
    duk_pop_2(ctx);
    s->linked = 1;
    s->next = hs->head;
    if (hs->head)
        hs->head->prev = s;
    hs->head = s;
    plan->stream = s;
    return NULL;
}

int js_stream_start(rp_req *r, js_plan *plan, const js_conf *c)
{
    (void)c;
    js_sreq *s = plan->stream;
    plan->stream = NULL;
    if (s->mode == S_DEFER) {
        rp_req_on_abort(r, s_on_abort, s);
        return RP_ASYNC;
    }
    s->ev = evtimer_new(rp_worker_base(rp_req_worker(r)), chunk_fire, s);
    if (!s->ev) {
        rp_log(JS_SELF, RP_LOG_ERR, "%s: cannot start the chunked reply (out of memory)", what(s));
        s->r = NULL;
        s_free(s);
        return RP_OK;
    }
    rp_req_on_abort(r, s_on_abort, s);
    s->anchor = now_mono();
    s->beat = 0;
    struct timeval tv = {0, 0};
    evtimer_add(s->ev, &tv);
    return RP_ASYNC;
}

void js_stream_cancel(js_plan *plan)
{
    js_sreq *s = plan->stream;
    plan->stream = NULL;
    if (!s)
        return;
    s->r = NULL;
    s_free(s);
}
