/* ws_js.c - "ws:" routes: JavaScript websockets on mod_ws's ws/1 service
 * (mod_js, HTTP half).
 *
 * Every worker has a second heap for websockets, created next to the HTTP
 * heap with the same snapshot (the main script's globals) and never reset
 * by a script timeout: a websocket conversation outlives any one call.
 *
 * A connection: the route's function is resolved in the websocket heap
 * (404 if the target has none), mod_ws's accept() answers the handshake,
 * and on_open builds one req object (js_push_req: headers, query, cookies,
 * params; body an empty Buffer) plus
 *   req.count          0 on connect, then 1, 2, ... per message
 *   req.websocketId    mod_ws's id: unique per server run, across workers
 *   req.wsIsBin        whether req.body came as a binary message
 *   req.wsSend(v)      String: text; Buffer: binary; null/undefined: the
 *                      server buffer alone; other objects: JSON text;
 *                      numbers, booleans: their text.  The server buffer
 *                      (req.printf / req.put) goes first, in the same
 *                      message.  true if queued, false if the websocket is
 *                      closed.
 *   req.wsEnd([immediate]) close (1000) after what is queued, or at once
 *   req.wsOnDisconnect(fn) fn.call(req, req) when the websocket closes
 *                      (client close, wsEnd, error, server stop)
 * (non-enumerable; the server buffer functions come from its prototype).
 * The function runs once on connect and once per message with that same
 * req (properties set on it persist); its return value is sent like
 * wsSend.  The function is resolved once, at connect (a module edited
 * meanwhile serves new connections).
 *
 * A throw, or running longer than ScriptTimeout, is logged and closes that
 * websocket with 1011; the heap and the other websockets go on.  A Duktape
 * fatal error (js_guard) breaks the heap and every websocket in it: all of
 * the worker's websockets are closed with 1011 and it gets a new heap.  Text that
 * is not UTF-8 (Duktape keeps characters outside the BMP as CESU-8
 * surrogate pairs) is converted before it goes out.
 *
 * All of it happens on the worker's thread; a req kept past its close (in
 * a rampart.event registration, a global) answers wsSend with false. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "js_http.h"
#include "../mod_ws/rp_ws.h"

#define CONN_KEY DUK_HIDDEN_SYMBOL("rpWsConn") /* on req: the js_wsconn or NULL */

static const rp_ws_service_v1 *g_ws;

typedef struct js_wsconn js_wsconn;

struct js_wsw {
    rp_worker *w;
    const js_conf *conf;
    duk_context *ctx; /* NULL if a new one could not be made after a fatal error */
    js_worker *jw;    /* the worker (js_worker_heap_new) */
    js_wsconn *conns; /* open websockets */
};

struct js_wsconn {
    js_wsw *wsw; /* NULL once the worker's heap is gone */
    rp_ws *ws;   /* NULL once closed */
    uint64_t id;
    double count;
    double timeout; /* ScriptTimeout of the upgrade request's route */
    int refs;       /* the accept() call, the open state, running callbacks */
    int opened;     /* on_open ran */
    int linked;     /* in wsw->conns */
    js_wsconn *prev, *next;
};

/* ---- connections ---------------------------------------------------------------- */

static void conn_release(js_wsconn *c)
{
    if (--c->refs == 0)
        free(c);
}

static void conn_link(js_wsw *wsw, js_wsconn *c)
{
    c->linked = 1;
    c->prev = NULL;
    c->next = wsw->conns;
    if (wsw->conns)
        wsw->conns->prev = c;
    wsw->conns = c;
}

static void conn_unlink(js_wsw *wsw, js_wsconn *c)
{
    if (!c->linked)
        return;
    c->linked = 0;
    if (c->prev)
        c->prev->next = c->next;
    else if (wsw->conns == c)
        wsw->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* stash[JS_STASH_WS_CONNS][id] pushed (undefined if gone). */
static void push_entry(duk_context *ctx, uint64_t id)
{
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_WS_CONNS);
    duk_push_number(ctx, (double)id);
    duk_get_prop(ctx, -2);
    duk_remove(ctx, -2);
    duk_remove(ctx, -2);
}

/* ---- text ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static int utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* A CESU-8 surrogate (ED A0..BF xx) at s: its code unit, else 0. */
static unsigned surrogate(const unsigned char *s, size_t n)
{
    if (n < 3 || s[0] != 0xED || s[1] < 0xA0 || s[1] > 0xBF || (s[2] & 0xC0) != 0x80)
        return 0;
    return 0xD000u | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
}

/* Append the UTF-8 form of in[0..n) to out (room for 3 * n bytes): CESU-8
 * surrogate pairs become one 4-byte character, anything else invalid
 * U+FFFD.  Returns the bytes written. */
static size_t utf8_fix(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned hs = surrogate(in + i, n - i);
        unsigned ls = hs >= 0xD800 && hs <= 0xDBFF ? surrogate(in + i + 3, n - i - 3) : 0;
        if (ls >= 0xDC00 && ls <= 0xDFFF) {
            unsigned cp = 0x10000u + ((hs - 0xD800u) << 10) + (ls - 0xDC00u);
            out[o++] = (unsigned char)(0xF0 | (cp >> 18));
            out[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            i += 6;
            continue;
        }
        size_t l = utf8_seq(in + i, n - i);
        if (l) {
            memcpy(out + o, in + i, l);
            o += l;
            i += l;
        } else {
            out[o++] = 0xEF;
            out[o++] = 0xBF;
            out[o++] = 0xBD;
            i += hs ? 3 : 1;
        }
    }
    return o;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Send the value at idx (with the server buffer first).  May throw (JSON of
 * a cyclic object).  0 sent, 1 nothing to send, -1 not open / failed. */
static int send_value(duk_context *ctx, js_wsconn *c, duk_idx_t idx)
{
    idx = duk_normalize_index(ctx, idx);
    size_t plen = 0;
    const void *pre = js_srvbuf_data(ctx, &plen);
    const void *data = NULL;
    duk_size_t dlen = 0;
    int binary = 0;
    if (duk_is_undefined(ctx, idx) || duk_is_null(ctx, idx)) {
        if (!plen)
            return 1;
    } else if (duk_is_buffer_data(ctx, idx)) {
        data = duk_get_buffer_data(ctx, idx, &dlen);
        binary = 1;
    } else if (duk_is_string(ctx, idx)) {
        data = duk_get_lstring(ctx, idx, &dlen);
    } else if (duk_is_object(ctx, idx) && !duk_is_function(ctx, idx)) {
        js_json_push(ctx, idx, 0);
        data = duk_get_lstring(ctx, -1, &dlen);
    } else {
        duk_dup(ctx, idx);
        data = duk_to_lstring(ctx, -1, &dlen);
    }
    if (!c->ws) {
        js_srvbuf_reset(ctx);
        return -1;
    }
    if (!pre)
        plen = 0;
    const void *parts[2];
    size_t lens[2];
    int n = 0;
    unsigned char *fixed = NULL;
    if (!binary && (!utf8_valid(pre, plen) || !utf8_valid(data, dlen))) {
        /* 3 bytes out per byte in at most (U+FFFD for a lone byte) */
        fixed = malloc(3 * (plen + dlen) + 1);
        if (!fixed) {
            js_srvbuf_reset(ctx);
            return -1;
        }
        size_t o = plen ? utf8_fix(pre, plen, fixed) : 0;
        o += dlen ? utf8_fix(data, dlen, fixed + o) : 0;
        parts[n] = fixed;
        lens[n++] = o;
    } else {
        if (plen) {
            parts[n] = pre;
            lens[n++] = plen;
        }
        if (dlen || !n) {
            parts[n] = data ? data : "";
            lens[n++] = dlen;
        }
    }
    int rc = g_ws->sendv(c->ws, binary, parts, lens, n);
    free(fixed);
    js_srvbuf_reset(ctx);
    return rc == 0 ? 0 : -1;
}

/* The connection of the req the running native (wsSend & co) belongs to;
 * pushes that req. */
static js_wsconn *push_req_of_current(duk_context *ctx)
{
    duk_push_current_function(ctx);
    duk_get_prop_string(ctx, -1, JS_SELF_KEY);
    duk_remove(ctx, -2);
    js_wsconn *c = NULL;
    if (duk_is_object(ctx, -1)) {
        duk_get_prop_string(ctx, -1, CONN_KEY);
        c = duk_get_pointer(ctx, -1);
        duk_pop(ctx);
    }
    return c;
}

static duk_ret_t ws_send(duk_context *ctx)
{
    duk_set_top(ctx, 1);
    js_wsconn *c = push_req_of_current(ctx);
    if (!c || !c->ws) {
        js_srvbuf_reset(ctx);
        duk_push_false(ctx);
        return 1;
    }
    duk_push_boolean(ctx, send_value(ctx, c, 0) >= 0);
    return 1;
}

static duk_ret_t ws_end(duk_context *ctx)
{
    int immediate = duk_to_boolean(ctx, 0);
    js_wsconn *c = push_req_of_current(ctx);
    if (c && c->ws)
        g_ws->close(c->ws, RP_WS_NORMAL, NULL, immediate); /* on_close runs inside */
    return 0;
}

static duk_ret_t ws_on_disconnect(duk_context *ctx)
{
    if (!duk_is_function(ctx, 0))
        return duk_type_error(ctx, "req.wsOnDisconnect: the argument must be a function");
    duk_set_top(ctx, 1);
    js_wsconn *c = push_req_of_current(ctx);
    if (!c || !c->ws) {
        duk_push_false(ctx);
        return 1;
    }
    push_entry(ctx, c->id);
    if (!duk_is_object(ctx, -1)) {
        duk_push_false(ctx);
        return 1;
    }
    duk_get_prop_string(ctx, -1, "disc");
    duk_dup(ctx, 0);
    duk_put_prop_index(ctx, -2, (duk_uarridx_t)duk_get_length(ctx, -2));
    duk_push_true(ctx);
    return 1;
}

/* ---- running the function --------------------------------------------------------- */

typedef struct call_st {
    js_wsconn *c;
    rp_req *r; /* on_open */
    int binary;
    const void *data;
    size_t len;
} call_st;

/* Call entry.fn(req) (entry at the top) and send its return value. */
static void call_and_send(duk_context *ctx, js_wsconn *c, duk_idx_t entry)
{
    duk_get_prop_string(ctx, entry, "fn");
    duk_get_prop_string(ctx, entry, "req");
    duk_call(ctx, 1);
    send_value(ctx, c, -1);
}

static duk_ret_t open_safe(duk_context *ctx, void *udata)
{
    call_st *st = udata;
    js_wsconn *c = st->c;
    duk_push_heap_stash(ctx);
    duk_idx_t stash = duk_get_top_index(ctx);
    duk_get_prop_literal(ctx, stash, JS_STASH_WS_PENDING);
    duk_idx_t fn = duk_get_top_index(ctx);
    duk_del_prop_literal(ctx, stash, JS_STASH_WS_PENDING);

    const char *why = NULL;
    js_extra ex = {NULL, NULL, 200, 0};
    (void)js_push_req(ctx, st->r, &ex, &why); /* a GET upgrade: no body to refuse */
    duk_idx_t req = duk_get_top_index(ctx);
    js_push_srvbuf_proto(ctx);
    duk_set_prototype(ctx, req);
    duk_push_int(ctx, 0);
    duk_put_prop_string(ctx, req, "count");
    duk_push_number(ctx, (double)c->id);
    duk_put_prop_string(ctx, req, "websocketId");
    duk_push_false(ctx);
    duk_put_prop_string(ctx, req, "wsIsBin");
    duk_push_pointer(ctx, c);
    duk_put_prop_string(ctx, req, CONN_KEY);
    static const js_fn fns[] = {{"wsSend", ws_send, 1, NULL},
                                {"wsEnd", ws_end, 1, NULL},
                                {"wsOnDisconnect", ws_on_disconnect, 1, NULL},
                                {NULL, NULL, 0, NULL}};
    js_put_functions(ctx, req, fns, JS_FN_HIDDEN | JS_FN_SELF); /* bound to this req */

    duk_push_bare_object(ctx);
    duk_idx_t entry = duk_get_top_index(ctx);
    duk_dup(ctx, req);
    duk_put_prop_string(ctx, entry, "req");
    duk_dup(ctx, fn);
    duk_put_prop_string(ctx, entry, "fn");
    duk_push_array(ctx);
    duk_put_prop_string(ctx, entry, "disc");
    duk_get_prop_literal(ctx, stash, JS_STASH_WS_CONNS);
    duk_push_number(ctx, (double)c->id);
    duk_dup(ctx, entry);
    duk_put_prop(ctx, -3);
    duk_pop(ctx);

    const js_conf *conf = c->wsw->conf;
    if (conf->beginfunc) { /* once, before the first call (hooks.c) */
        int h = js_hook_begin(ctx, st->r, conf, req);
        if (h == JS_HOOK_404) { /* the upgrade is done: refuse by closing */
            g_ws->close(c->ws, RP_WS_POLICY, "refused", 0);
            return 0;
        }
        if (h == JS_HOOK_REPLY) { /* its answer is the first message */
            send_value(ctx, c, -1);
            return 0;
        }
    }
    call_and_send(ctx, c, entry);
    return 0;
}

static duk_ret_t message_safe(duk_context *ctx, void *udata)
{
    const call_st *st = udata;
    js_wsconn *c = st->c;
    push_entry(ctx, c->id);
    duk_idx_t entry = duk_get_top_index(ctx);
    if (!duk_is_object(ctx, entry))
        return 0;
    duk_get_prop_string(ctx, entry, "req");
    duk_idx_t req = duk_get_top_index(ctx);
    c->count++;
    duk_push_number(ctx, c->count);
    duk_put_prop_string(ctx, req, "count");
    duk_push_boolean(ctx, st->binary);
    duk_put_prop_string(ctx, req, "wsIsBin");
    void *b = duk_push_fixed_buffer(ctx, st->len);
    if (st->len)
        memcpy(b, st->data, st->len);
    duk_put_prop_string(ctx, req, "body");
    call_and_send(ctx, c, entry);
    return 0;
}

/* ---- fatal errors --------------------------------------------------------------- */

/* Take every websocket off the heap's list and close it with code/reason.
 * notify (only with immediate): on_close, run inside close(), still calls
 * the wsOnDisconnect callbacks in the heap; otherwise the heap is not
 * called into at all (after a fatal error) and a later on_close only
 * releases the connection. */
static void detach_all(js_wsw *wsw, int code, const char *reason, int immediate, int notify)
{
    while (wsw->conns) {
        js_wsconn *c = wsw->conns; /* off the list first: on_close leaves it */
        wsw->conns = c->next;
        if (c->next)
            c->next->prev = NULL;
        c->prev = c->next = NULL;
        c->linked = 0;
        c->refs++;
        if (!notify)
            c->wsw = NULL;
        if (c->ws && g_ws)
            g_ws->close(c->ws, code, reason, immediate);
        c->wsw = NULL; /* a later on_close only releases it */
        conn_release(c);
    }
}

static duk_context *ws_heap_new(js_wsw *wsw);

/* After a fatal error (js_guard returned -1): the heap is broken.  Its
 * websockets close (1011, not at once: one of them may be mid-callback),
 * the worker gets a new heap and the broken one is destroyed. */
static void ws_heap_fatal(js_wsw *wsw)
{
    rp_log(JS_SELF, RP_LOG_ERR,
           "worker %d: Duktape fatal error in the websocket heap (%s): its websockets are "
           "closed and the heap is replaced",
           rp_worker_index(wsw->w), js_heap_fatal_msg(wsw->ctx));
    detach_all(wsw, RP_WS_INTERNAL, "script error", 0, 0);
    duk_context *old = wsw->ctx;
    wsw->ctx = ws_heap_new(wsw);
    js_heap_free(old);
}

typedef struct run_job {
    js_wsconn *c;
    duk_safe_call_function fn;
    call_st *st;
    const char *what;
} run_job;

/* Run fn for c in the websocket heap under ScriptTimeout; an error or a
 * timeout closes c with 1011. */
static void run_guarded(duk_context *ctx, void *arg)
{
    const run_job *job = arg;
    js_wsconn *c = job->c;
    double tmo = c->timeout;
    duk_safe_call_function fn = job->fn;
    call_st *st = job->st;
    const char *what = job->what;
    duk_idx_t top = duk_get_top(ctx);
    if (tmo > 0)
        js_deadline_arm(ctx, tmo);
    int rc = duk_safe_call(ctx, fn, st, 0, 1);
    int expired = tmo > 0 && js_deadline_expired(ctx);
    if (tmo > 0)
        js_deadline_arm(ctx, 0);
    if (rc != DUK_EXEC_SUCCESS) {
        if (expired)
            rp_log(JS_SELF, RP_LOG_ERR,
                   "websocket %llu (%s): script timed out after %g seconds; closing it "
                   "(1011), the websocket heap is kept",
                   (unsigned long long)c->id, what, tmo);
        else
            js_report_error(ctx, -1, what);
        duk_set_top(ctx, top);
        if (c->ws)
            g_ws->close(c->ws, RP_WS_INTERNAL, expired ? "script timed out" : "script error", 0);
    }
    duk_set_top(ctx, top);
}

static void run(js_wsconn *c, duk_safe_call_function fn, call_st *st, const char *what)
{
    js_wsw *wsw = c->wsw;
    run_job job = {c, fn, st, what};
    c->refs++;
    if (!wsw->ctx) { /* no heap since a fatal error: nothing can run */
        if (c->ws)
            g_ws->close(c->ws, RP_WS_INTERNAL, "no script heap", 0);
    } else if (js_guard(wsw->ctx, run_guarded, &job) != 0) {
        ws_heap_fatal(wsw);
    }
    conn_release(c);
}

static void on_open(rp_ws *ws, rp_req *r)
{
    js_wsconn *c = g_ws->user(ws);
    c->ws = ws;
    c->id = g_ws->id(ws);
    c->opened = 1;
    c->refs++; /* the open state, until on_close */
    conn_link(c->wsw, c);
    call_st st = {c, r, 0, NULL, 0};
    run(c, open_safe, &st, "websocket connect");
}

static void on_message(rp_ws *ws, int binary, const void *data, size_t len)
{
    js_wsconn *c = g_ws->user(ws);
    if (!c->wsw)
        return;
    call_st st = {c, NULL, binary, data, len};
    run(c, message_safe, &st, "websocket message");
}

static duk_ret_t close_safe(duk_context *ctx, void *udata)
{
    const js_wsconn *c = udata;
    push_entry(ctx, c->id);
    duk_idx_t entry = duk_get_top_index(ctx);
    if (!duk_is_object(ctx, entry))
        return 0;
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_WS_CONNS);
    duk_push_number(ctx, (double)c->id);
    duk_del_prop(ctx, -2);
    duk_pop_2(ctx);
    duk_get_prop_string(ctx, entry, "req");
    duk_idx_t req = duk_get_top_index(ctx);
    duk_push_pointer(ctx, NULL);
    duk_put_prop_string(ctx, req, CONN_KEY);
    duk_get_prop_string(ctx, entry, "disc");
    duk_idx_t disc = duk_get_top_index(ctx);
    duk_uarridx_t n = (duk_uarridx_t)duk_get_length(ctx, disc);
    for (duk_uarridx_t i = 0; i < n; i++) {
        duk_get_prop_index(ctx, disc, i);
        duk_dup(ctx, req);
        duk_dup(ctx, req);
        if (duk_pcall_method(ctx, 1) != DUK_EXEC_SUCCESS)
            js_report_error(ctx, -1, "req.wsOnDisconnect callback");
        else
            duk_pop(ctx);
    }
    if (c->wsw && c->wsw->conf->endfunc) /* once, after the close (hooks.c) */
        js_hook_ws_end(ctx, c->wsw->conf, req);
    return 0;
}

static void close_guarded(duk_context *ctx, void *arg)
{
    duk_idx_t top = duk_get_top(ctx);
    if (duk_safe_call(ctx, close_safe, arg, 0, 1) != DUK_EXEC_SUCCESS)
        js_report_error(ctx, -1, "websocket close");
    duk_set_top(ctx, top);
}

static void on_close(rp_ws *ws, int code)
{
    (void)code;
    js_wsconn *c = g_ws->user(ws);
    c->ws = NULL;
    if (c->wsw) {
        js_wsw *wsw = c->wsw;
        conn_unlink(wsw, c);
        if (wsw->ctx && js_guard(wsw->ctx, close_guarded, c) != 0)
            ws_heap_fatal(wsw);
    }
    conn_release(c); /* the open state */
}

static const rp_ws_handler js_ws_handler = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
    .max_message = 0,
};

/* ---- the route --------------------------------------------------------------------- */

typedef struct resolve_st {
    rp_req *r;
    const js_target *t;
    int found;
} resolve_st;

static duk_ret_t resolve_safe(duk_context *ctx, void *udata)
{
    resolve_st *st = udata;
    duk_push_heap_stash(ctx);
    if (js_push_target(ctx, st->r, st->t)) {
        st->found = 1;
        duk_put_prop_literal(ctx, -2, JS_STASH_WS_PENDING);
    }
    return 0;
}

typedef struct resolve_job {
    resolve_st rs;
    const js_conf *conf;
    int ret; /* 0: resolved (rs.found says whether), else the answer */
} resolve_job;

static void resolve_guarded(duk_context *ctx, void *arg)
{
    resolve_job *job = arg;
    rp_req *r = job->rs.r;
    const js_conf *conf = job->conf;
    duk_idx_t top = duk_get_top(ctx);
    if (duk_safe_call(ctx, resolve_safe, &job->rs, 0, 1) != DUK_EXEC_SUCCESS) {
        const char *text = rp_pstrdup(rp_req_pool(r), js_error_text(ctx, -1));
        duk_set_top(ctx, top);
        rp_log(JS_SELF, RP_LOG_ERR, "%s %s (websocket): %s", rp_req_method(r), rp_req_path(r),
               text);
        job->ret = conf->dev ? js_reply_dev_error(r, text) : 500;
        return;
    }
    duk_set_top(ctx, top);
}

int js_ws_handle(js_wsw *wsw, rp_req *r, const js_target *t)
{
    if (!wsw || !g_ws || !wsw->ctx)
        return 500;
    duk_context *ctx = wsw->ctx;
    resolve_job job = {{r, t, 0}, wsw->conf, 0};
    if (js_guard(ctx, resolve_guarded, &job) != 0) {
        ws_heap_fatal(wsw);
        return 500;
    }
    if (job.ret)
        return job.ret;
    if (!job.rs.found)
        return 404;
    js_wsconn *c = calloc(1, sizeof *c);
    if (!c)
        return 500;
    c->wsw = wsw;
    c->timeout = js_timeout_for(r, wsw->conf);
    c->refs = 1; /* this call */
    int rc = g_ws->accept(r, &js_ws_handler, c);
    ctx = wsw->ctx;          /* a fatal error in on_open replaces the heap */
    if (!c->opened && ctx) { /* no callback ran: the function is still pending */
        duk_push_heap_stash(ctx);
        duk_del_prop_literal(ctx, -1, JS_STASH_WS_PENDING);
        duk_pop(ctx);
    }
    conn_release(c);
    return rc == RP_ERROR ? 500 : rc;
}

/* ---- the heap ------------------------------------------------------------------------ */

/* A websocket heap for wsw's worker (NULL after logging).  No broken
 * handler: a fatal error in a callback the loop ran shows at the next
 * js_guard, which replaces the heap (ws_heap_fatal). */
static duk_context *ws_heap_new(js_wsw *wsw)
{
    return js_worker_heap_new(wsw->jw, NULL, " (websocket heap)");
}

js_wsw *js_ws_worker_init(rp_worker *w, const js_conf *c, js_worker *jw)
{
    js_wsw *wsw = calloc(1, sizeof *wsw);
    if (!wsw)
        return NULL;
    wsw->w = w;
    wsw->conf = c;
    wsw->jw = jw;
    wsw->ctx = ws_heap_new(wsw);
    if (!wsw->ctx) {
        free(wsw);
        return NULL;
    }
    return wsw;
}

void js_ws_worker_exit(js_wsw *wsw)
{
    if (!wsw)
        return;
    /* mod_ws may still hold websockets of ours (a stop that outlived
     * WsCloseTimeout): close them while the heap exists (on_close runs
     * inside close(): wsOnDisconnect callbacks). */
    detach_all(wsw, RP_WS_GOING_AWAY, "server stopping", 1, 1);
    js_heap_free(wsw->ctx);
    free(wsw);
}

int js_ws_post_config(const js_conf *c)
{
    g_ws = rp_service_get(RP_WS_SERVICE, RP_WS_SERVICE_VERSION);
    if (c->nws && !g_ws) {
        rp_log(JS_SELF, RP_LOG_ERR,
               "websocket (ws:) routes need mod_ws: add \"LoadModule ws mod_ws.so\"");
        return RP_ERROR;
    }
    return RP_OK;
}
