/* js_stream.h - between stream.c (defer, chunking), srvbuf.c (the server
 * buffer) and the request / reply code (req.c, reply.c).  The server buffer API for
 * other parts of mod_js (websockets) is in js_http.h. */
#ifndef JS_STREAM_H
#define JS_STREAM_H

#include "js_http.h"

/* req.c, for every request object: empty the server buffer, give the
 * object at req_idx its methods (printf ... getBuffer, reply, chunkSend,
 * chunkEnd) and an identity, and remember it as the request being handled.
 * async_ok: the function may return {defer: true} / {chunk: true} (not in
 * notFoundFunc / directoryFunc, which the core finishes itself).  Throws
 * only on out-of-memory. */
void js_stream_begin(duk_context *ctx, rp_req *r, duk_idx_t req_idx, int async_ok);

/* js_stream_begin in two halves, for a req object copied from a template
 * (req.c) that holds its identity in a slot of its own (JS_REQ_ID, filled
 * with the copy instead of put - a put on the fresh copy costs a search
 * and a property-table growth): js_stream_next_id empties the server
 * buffer, takes the next identity and returns it; js_stream_bind then gives
 * the object at req_idx, whose JS_REQ_ID holds that identity, its methods
 * and remembers it as the request being handled. */
duk_uint_t js_stream_next_id(duk_context *ctx, rp_req *r, int async_ok);
void js_stream_bind(duk_context *ctx, duk_idx_t req_idx);
/* A req object's identity (stream.c finds its js_sreq by it). */
#define JS_REQ_ID DUK_HIDDEN_SYMBOL("rpReqId")

/* reply.c, at the end of js_reply_prepare when the plan is usable (the body
 * value is at the top, the server buffer moved into plan->pre): register a
 * deferred request (which keeps plan->pre as its prefix) or a chunk
 * callback (plan->stream).  Returns NULL, or
 * the reason the plan cannot be used.  Throws only on out-of-memory. */
const char *js_stream_prepare(duk_context *ctx, rp_req *r, js_plan *plan);

/* reply.c: start plan->stream once the response headers are set (and the
 * server buffer sent).  Returns RP_ASYNC, or RP_OK after ending it at once
 * (HEAD). */
int js_stream_start(rp_req *r, js_plan *plan, const js_conf *c);
/* Forget plan->stream without starting it (the response finishes now). */
void js_stream_cancel(js_plan *plan);

/* ---- reply.c: everything that writes a response --------------------------- */

/* Free plan->pre without sending it. */
void js_plan_drop_pre(js_plan *plan);
/* The bytes of the value at idx for a body, req.put or chunkSend: Buffers
 * as they are, strings as UTF-8, null/undefined as nothing, objects as
 * JSON, anything else as its string form (converted in place). */
const void *js_body_bytes(duk_context *ctx, duk_idx_t idx, size_t *n);
/* A minimal error answer that runs no hooks (no JavaScript: this may be
 * called with JavaScript running in the heap, or while it is destroyed):
 * the developer page with text when DevMode is on, else "<status> <reason>"
 * (500 for a status below 400).  Nothing when the response started. */
void js_reply_error(rp_req *r, int status, const char *text);
/* One piece of a chunked reply: what the server buffer holds, then the
 * value at idx ("@file" sent from the file, read into memory when
 * no_sendfile).  r NULL (the client went away): sends nothing and empties
 * the server buffer.  Returns the bytes queued, or -1 when a write failed
 * (the client went away).  Throws when an "@file" cannot be opened. */
double js_reply_chunk(duk_context *ctx, rp_req *r, duk_idx_t idx, const js_conf *c,
                      int no_sendfile);

/* ---- srvbuf.c / stream.c ---------------------------------------------------- */

/* The server buffer, one per heap, in the heap's stream state. */
typedef struct js_srvbuf {
    char *buf;
    size_t len, cap;
    int oom; /* a write ran out of memory (req.printf reports it) */
} js_srvbuf;
/* stream.c: heap pointers req.c pushes once per request (duk_push_heapptr
 * instead of a stash lookup): the req members' getter and setter (kept
 * alive by the stash, JS_STASH_REQ_ACCESSORS) and the stash itself; NULL
 * until req.c sets them.  Creates the heap's stream state on first use
 * (throws on out-of-memory). */
typedef struct js_req_cache {
    void *get, *set, *stash;
    void *shape[2]; /* req.c's request templates, without and with a body */
    void *funcs;    /* routes.c: the stash's JS_STASH_FUNCS (set once per heap) */
} js_req_cache;
js_req_cache *js_req_cache_of(duk_context *ctx);

/* stream.c: the heap's server buffer; create: make the state on first use
 * (throws on out-of-memory), else NULL when there is none. */
js_srvbuf *js_srvbuf_of(duk_context *ctx, int create);

#endif
