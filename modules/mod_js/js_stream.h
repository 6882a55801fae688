/* js_stream.h - between stream.c (server buffer, defer, chunking) and the
 * request / return object code (req.c, reply.c).  The server buffer API for
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

/* reply.c, at the end of js_reply_prepare when the plan is usable (the body
 * value is at the top): move the server buffer into plan->pre and register
 * a deferred request or a chunk callback (plan->stream).  Returns NULL, or
 * the reason the plan cannot be used.  Throws only on out-of-memory. */
const char *js_stream_prepare(duk_context *ctx, rp_req *r, js_plan *plan);

/* reply.c: start plan->stream once the response headers are set (and the
 * server buffer sent).  Returns RP_ASYNC, or RP_OK after ending it at once
 * (HEAD). */
int js_stream_start(rp_req *r, js_plan *plan, const js_conf *c);
/* Forget plan->stream without starting it (the response finishes now). */
void js_stream_cancel(js_plan *plan);

/* Write plan->pre (by reference when it is owned) and clear it.  Returns
 * rp_resp_write's result. */
int js_plan_write_pre(rp_req *r, js_plan *plan);
/* Free plan->pre without sending it. */
void js_plan_drop_pre(js_plan *plan);

#endif
