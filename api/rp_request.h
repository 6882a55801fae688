/* rp_request.h - one HTTP request and its response.
 *
 * A request lives from its first header byte until its LOG phase has run;
 * everything allocated from rp_req_pool() goes away then.  All calls on a
 * request must be made from the worker thread that owns it (rp_req_worker).
 */
#ifndef RP_REQUEST_H
#define RP_REQUEST_H

#include "rp_common.h"

struct event_base;

/* ---- the request -------------------------------------------------------- */

RP_API rp_pool *rp_req_pool(rp_req *r);
RP_API rp_server *rp_req_server(rp_req *r);
RP_API rp_worker *rp_req_worker(rp_req *r);

RP_API const char *rp_req_method(const rp_req *r); /* "GET" */
RP_API int rp_req_is_head(const rp_req *r);
RP_API const char *rp_req_uri(const rp_req *r);    /* request target as sent */
RP_API const char *rp_req_path(const rp_req *r);   /* percent-decoded once, dot segments removed */
RP_API const char *rp_req_query(const rp_req *r);  /* raw query after '?', or NULL */
RP_API int rp_req_http_minor(const rp_req *r);     /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
/* "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0" (an HTTP/2 stream; its http_minor is 0). */
RP_API const char *rp_req_protocol(const rp_req *r);
RP_API int rp_req_is_tls(const rp_req *r);

RP_API const char *rp_req_remote_ip(const rp_req *r);
RP_API int rp_req_remote_port(const rp_req *r);
RP_API const char *rp_req_local_ip(const rp_req *r);
RP_API int rp_req_local_port(const rp_req *r);
/* Requests served so far on this connection before this one (0 = first). */
RP_API unsigned rp_req_keepalive_count(const rp_req *r);
/* The request's id: its X-Request-Id when that is 1-128 characters of
 * [A-Za-z0-9._:-], else one made for it (24 hex digits, unique per process
 * run).  The access log's %L; with RequestId on, echoed as X-Request-Id. */
RP_API const char *rp_req_id(rp_req *r);
/* A handler's say on compressing this response, for the content filter that
 * compresses (mod_gzip): RP_COMPRESS_DEFAULT (the filter's own rules),
 * RP_COMPRESS_OFF, RP_COMPRESS_ON (at the configured level) or a level
 * 1-10. */
enum { RP_COMPRESS_DEFAULT = -1, RP_COMPRESS_OFF = 0, RP_COMPRESS_ON = 11 };
RP_API void rp_resp_set_compress(rp_req *r, int level);
RP_API int rp_resp_compress(const rp_req *r);
/* Seconds since the request's first byte arrived. */
RP_API double rp_req_age(const rp_req *r);
/* Response body bytes handed to the connection so far. */
RP_API uint64_t rp_resp_bytes_sent(const rp_req *r);

/* First header of that name (case-insensitive), or NULL. */
RP_API const char *rp_req_header(const rp_req *r, const char *name);
RP_API size_t rp_req_header_count(const rp_req *r);
/* The i-th header in arrival order; 0 on success, -1 past the end. */
RP_API int rp_req_header_at(const rp_req *r, size_t i, const char **name, const char **value);

/* The whole request body (the core reads it before MAP runs, up to
 * MaxBodySize; chunked bodies arrive de-chunked).  NULL with *len 0 if none,
 * and always NULL for a streamed body (below). */
RP_API const void *rp_req_body(const rp_req *r, size_t *len);

/* ---- streamed request bodies ---------------------------------------------
 * A module whose routes want the body as it arrives says so once, from its
 * post_config: rp_module_stream_body(s, &rp_module_mine).  Requests routed
 * to it that carry a body (Content-Length > 0 or chunked, HTTP/1.1 or an
 * HTTP/2 stream) then run the pipeline as soon as their head is complete,
 * and rp_req_body_streamed() is true in every phase.  Other modules keep
 * getting the whole body buffered before MAP, as before.
 *
 * The handler (or anything after it, at any time) calls rp_req_body_stream
 * once to start reading: on_data(r, data, len, arg) gets the body's bytes
 * in order (de-chunked; data is valid only during the call: copy what you
 * keep), then on_end(r, status, arg) is called exactly once: 0 when the
 * body is complete, or why it is not: 400 (bad framing), 408 (BodyTimeout
 * of silence), 413 (over MaxBodySize), 499 (the client went away).  After
 * an error status no more data comes and the connection closes once the
 * response finishes; answer with rp_resp_error(r, status) if the response
 * has not started.  An "Expect: 100-continue" is answered only now, when
 * reading starts (HTTP/1.1: a 100 status line; HTTP/2: an interim HEADERS
 * frame); any other expectation is answered 417 before the handler runs.
 *
 * Back-pressure: rp_req_body_pause stops delivery (HTTP/1.1 stops reading
 * the socket, HTTP/2 stops granting the stream window); rp_req_body_resume
 * delivers again, from the loop, never from inside the call.  Both may be
 * called from on_data.  BodyTimeout counts only while not paused.
 *
 * A response that finishes before the body was read (an early answer, an
 * error, a handler that never called rp_req_body_stream) makes the core
 * discard the rest of the body and keep the connection, or close it when
 * the client waits for a 100-continue that never came; HTTP/2 resets the
 * stream (NO_ERROR) instead.  Nothing is delivered after the response
 * finished. */
typedef void (*rp_body_data_fn)(rp_req *r, const char *data, size_t len, void *arg);
typedef void (*rp_body_end_fn)(rp_req *r, int status, void *arg);
RP_API void rp_module_stream_body(rp_server *s, const rp_module *m);
/* The request's body is streamed (not buffered): its owner asked for it and
 * it has one. */
RP_API int rp_req_body_streamed(const rp_req *r);
/* The body's announced length: Content-Length, or -1 when unknown (chunked,
 * or HTTP/2 without content-length); 0 when there is none. */
RP_API int64_t rp_req_body_length(const rp_req *r);
/* Start reading; 0, or -1 when the body is not streamed or already read. */
RP_API int rp_req_body_stream(rp_req *r, rp_body_data_fn on_data, rp_body_end_fn on_end,
                              void *arg);
RP_API void rp_req_body_pause(rp_req *r);
RP_API void rp_req_body_resume(rp_req *r);
/* Body bytes delivered to on_data so far. */
RP_API uint64_t rp_req_body_received(const rp_req *r);

/* Route matched by the core: key as configured, owner, target, and the part
 * of the path after a prefix key ("" for exact keys).  The owner's
 * rp_module.handler is called for the request before any HANDLER hook. */
RP_API const char *rp_req_route_key(const rp_req *r);
RP_API const rp_module *rp_req_route_owner(const rp_req *r);
RP_API void *rp_req_route_target(const rp_req *r);
RP_API const char *rp_req_route_rest(const rp_req *r);
/* A MAP hook may point the request at another route target (and so at
 * another owner's handler). */
RP_API void rp_req_set_route(rp_req *r, const rp_module *owner, void *target, const char *rest);

/* Per-module slots, one per loaded module, NULL until set.  m is found by
 * its address in a table the loader fills (constant time), so calling these
 * on every request costs no search. */
RP_API void *rp_req_ctx(const rp_req *r, const rp_module *m);
RP_API void rp_req_set_ctx(rp_req *r, const rp_module *m, void *ctx);

/* Notes: string key/values for later phases and other modules.  Both are
 * copied into the request pool; a NULL value removes the note. */
RP_API void rp_req_note_set(rp_req *r, const char *key, const char *value);
RP_API const char *rp_req_note_get(const rp_req *r, const char *key);

/* The user an AUTH module (mod_access's Basic login) authenticated, or NULL;
 * the access log writes it in its third field.  The name is copied into the
 * request pool; NULL clears it. */
RP_API const char *rp_req_user(const rp_req *r);
RP_API void rp_req_set_user(rp_req *r, const char *user);

/* This module's configuration for the configuration serving this request. */
RP_API void *rp_req_conf(const rp_req *r, const rp_module *m);

/* ---- the response ------------------------------------------------------- */

RP_API void rp_resp_set_status(rp_req *r, int status);
RP_API int rp_resp_status(const rp_req *r);

/* Headers may change until the first byte is sent (rp_resp_started). */
RP_API void rp_resp_header_set(rp_req *r, const char *name, const char *value); /* replace */
RP_API void rp_resp_header_add(rp_req *r, const char *name, const char *value); /* append */
RP_API void rp_resp_header_unset(rp_req *r, const char *name);
RP_API const char *rp_resp_header_get(const rp_req *r, const char *name);
RP_API size_t rp_resp_header_count(const rp_req *r);
RP_API int rp_resp_header_at(const rp_req *r, size_t i, const char **name, const char **value);

/* Body length when known (sets Content-Length); -1 (the default) means
 * unknown: chunked for HTTP/1.1, close-delimited for HTTP/1.0. */
RP_API void rp_resp_set_length(rp_req *r, int64_t len);
RP_API int64_t rp_resp_length(const rp_req *r);

/* Body writers; each returns 0 or -1 (client gone, or response finished).
 * The first call starts the response: output filters choose whether to join,
 * then headers go out with the first bytes. */
RP_API int rp_resp_write(rp_req *r, const void *data, size_t len);          /* copies */
RP_API int rp_resp_printf(rp_req *r, const char *fmt, ...) RP_PRINTF(2, 3);
RP_API int rp_resp_write_ref(rp_req *r, const void *data, size_t len,       /* no copy */
                             void (*release)(void *arg), void *arg);
/* Send len bytes of fd from off (sendfile where possible); the response takes
 * ownership of fd and closes it. len -1 = to end of file. */
RP_API int rp_resp_sendfile(rp_req *r, int fd, int64_t off, int64_t len);
RP_API int rp_resp_flush(rp_req *r);
/* End of body.  Required after RP_ASYNC; the core calls it when a handler
 * returns RP_OK without having done so. */
RP_API int rp_resp_finish(rp_req *r);
RP_API int rp_resp_started(const rp_req *r);
RP_API int rp_resp_finished(const rp_req *r);

/* Answer with status and the standard error page (or the ERROR hooks' page). */
RP_API int rp_resp_error(rp_req *r, int status);

/* Bytes queued for the client and not yet written; lets a streaming
 * producer wait instead of growing memory. */
RP_API size_t rp_resp_pending(const rp_req *r);
/* Call fn(r, arg) once when the queued output drops to at most low_water
 * bytes (at once if it already has).  Several modules may wait on one
 * request; registering the same (fn, arg) again replaces its mark, and
 * fn NULL cancels every drain wait of the request. */
RP_API void rp_resp_on_drain(rp_req *r, size_t low_water, void (*fn)(rp_req *r, void *arg), void *arg);
/* Call fn(r, arg) once if the client goes away before the response
 * finishes.  One registration per (fn, arg); several modules may wait; fn
 * NULL cancels them all.  After it the response must still be finished with
 * rp_resp_finish (its writes fail). */
RP_API void rp_req_on_abort(rp_req *r, void (*fn)(rp_req *r, void *arg), void *arg);

/* ---- taking over the connection (protocol upgrades) -------------------- */

struct bufferevent;

/* After answering 101 Switching Protocols (status, Upgrade/Connection
 * headers, rp_resp_finish), a module takes the connection over: it gets the
 * bufferevent (plain or TLS, callbacks cleared, bytes the client already sent
 * after the request waiting in its input buffer) and owns it from then on.
 * The request completes (LOG phase) as usual.  NULL if the response is not a
 * finished 101 or the client is gone.  The connection still counts for its
 * worker until the module calls rp_worker_release(). */
RP_API struct bufferevent *rp_req_detach(rp_req *r);
/* Free a detached bufferevent and stop counting it. */
RP_API void rp_worker_release(rp_worker *w, struct bufferevent *bev);
/* Read a plain (not TLS) socket bufferevent's socket with one readv straight
 * into its input buffer, for a module that reads with its own EV_READ event
 * on bufferevent_getfd(bev) instead of enabling the bufferevent's reading:
 * libevent's own reader asks the kernel how much is pending (an ioctl)
 * before every read, one system call per message this saves.  At most max
 * bytes.  Returns the bytes read, 0 at end of stream, -1 on an error (errno)
 * and RP_READ_AGAIN when nothing is pending. */
#define RP_READ_AGAIN (-2)
RP_API long rp_bev_read_socket(struct bufferevent *bev, size_t max);
/* Call fn(w, arg) on the worker's thread when a graceful stop begins, so a
 * module can close what it took over (e.g. websockets with 1001). */
RP_API void rp_worker_on_stop(rp_worker *w, void (*fn)(rp_worker *w, void *arg), void *arg);

/* Where the process stands on stopping; readable from any thread at any
 * time, so code that runs long without returning to its loop (a script) can
 * poll it.  RP_STOP_GRACEFUL: a stop began, in-flight work may finish.
 * RP_STOP_NOW: GracefulTimeout has passed; whatever still runs must end now
 * (answer 503 where an answer is still possible). */
typedef enum { RP_STOP_NONE = 0, RP_STOP_GRACEFUL = 1, RP_STOP_NOW = 2 } rp_stop_state;
RP_API rp_stop_state rp_stop_state_get(void);

/* ---- threads ------------------------------------------------------------ */

RP_API struct event_base *rp_worker_base(rp_worker *w);
RP_API int rp_worker_index(const rp_worker *w);
/* Per-worker, per-module slot for state a module keeps on each thread. */
RP_API void *rp_worker_ctx(const rp_worker *w, const rp_module *m);
RP_API void rp_worker_set_ctx(rp_worker *w, const rp_module *m, void *ctx);

/* The body cannot be completed as its head promised (a proxied upstream
 * cut it short): the client's connection closes after what was sent, with
 * no final chunk, so the client sees a truncated response, never a complete
 * one.  Finish with rp_resp_finish as usual. */
RP_API void rp_resp_abort(rp_req *r);

#endif
