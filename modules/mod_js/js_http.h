/* js_http.h - internal to the HTTP half of mod_js: the module (mod_js.c),
 * start() (start.c), routes (routes.c), the request object (req.c) and the
 * return object (reply.c).  The runtime half's contract is js_int.h.
 */
#ifndef JS_HTTP_H
#define JS_HTTP_H

#include <sys/types.h>

#include "js_int.h"
#include "js_parse.h"

#define JS_SELF (&rp_module_js)

/* ---- route targets (routes.c) ------------------------------------------ */

typedef enum {
    JS_T_FUNC,    /* a function from start(): index into js_conf.funcs */
    JS_T_MODULE,  /* {module: name}, MapModule: a function or an object of paths */
    JS_T_MODPATH, /* {modulePath: dir}, MapModulePath: dir/<name>.js */
} js_kind;

typedef struct js_target {
    js_kind kind;
    const char *key;  /* the map key as configured */
    int fidx;         /* JS_T_FUNC */
    const char *name; /* JS_T_MODULE: the require() name */
    const char *from; /* JS_T_MODULE: directory require() resolves from */
    const char *dir;  /* JS_T_MODPATH: absolute directory, no trailing slash */
    int mount;        /* JS_T_MODULE under "key/": object exports mount below key */
    int ws;           /* a "ws:" key: served by ws_js.c (websockets) */
} js_target;

/* ---- the configuration (mod_js.c) ---------------------------------------- */

typedef struct js_conf {
    double timeout;         /* ScriptTimeout seconds, 0 = none */
    int dev;                /* DeveloperMode */
    const char *script_dir; /* worker heaps' script dir; @file and modules resolve here */
    js_snapshot *snap;      /* start(): globals and functions for worker heaps */
    const char **funcs;     /* snapshot names of the functions routes refer to */
    int nfuncs, capfuncs;
    js_target *notfound;  /* NotFound: every 404 */
    js_target *dirfunc;   /* DirectoryScript: directories without index.html */
    js_target *beginfunc; /* BeginFunc: before every mapped function (hooks.c) */
    int begin_on_file;    /* BeginFuncOnFile: and before static files (req.fsPath) */
    js_target *endfunc;   /* EndFunc: after every mapped function, sees req.reply */
    js_target *logfunc;   /* LogFunc: writes the access log line instead of the core */
    /* start() asked for TLS but no loaded code provides it: warn. */
    int secure;
    int nws;              /* "ws:" routes (they need mod_ws) */
    long max_form_params; /* MaxFormParams; 0 = unset: JS_MAX_FORM_PARAMS */
    /* metrics (post_config): calls, failures by kind, each worker's heap */
    rp_metric *m_calls, *m_timeouts, *m_errors;
    rp_metric **m_heap;
    int nm_heap;
    rp_pool *pool;    /* the configuration's */
    size_t mem_limit; /* ScriptMemoryLimit; 0 = unset: JS_SCRIPT_MEMORY_LIMIT,
                         SIZE_MAX = off */
} js_conf;

/* Bytes each worker heap (HTTP and websocket) may hold unless
 * ScriptMemoryLimit says otherwise. */
#define JS_SCRIPT_MEMORY_LIMIT ((size_t)512 * 1024 * 1024)

/* Form fields (urlencoded pairs, multipart parts) a body may carry before
 * it is answered 413, unless MaxFormParams says otherwise. */
#define JS_MAX_FORM_PARAMS 10000

/* Register a snapshot function name; returns its index. */
int js_conf_func(rp_pool *p, js_conf *c, const char *name);

/* ScriptTimeout for what r started (its call, its req.chunk callbacks, its
 * websocket's callbacks): r's route's, else the server's. */
double js_timeout_for(const rp_req *r, const js_conf *c);

/* ---- per-request state --------------------------------------------------- */

/* What the request object gets besides the request itself. */
typedef struct js_extra {
    const char *errmsg; /* req.errMsg (notFoundFunc after a JS error) */
    const char *fspath; /* req.fsPath (directoryFunc) */
    int default_status; /* 200, or 404 for notFoundFunc */
    int route;          /* a mapped function: BeginFunc / EndFunc run around it */
} js_extra;

/* A parsed return object, applied to the response once JS is done. */
typedef struct js_hdr {
    const char *name, *value;
} js_hdr;

typedef struct js_plan {
    int status;
    const char *ctype; /* from the key, or a content-type header */
    const char *file;  /* "@path": absolute path */
    const void *data;  /* body bytes, held by the value at the stack top */
    size_t len;
    int has_body;
    int compress; /* -1 unset, 0 off, 1..10 level, 11 = on (configured level) */
    js_hdr *hdrs;
    size_t nhdrs;
    const char *why; /* developer-mode explanation of an unusable return value */
    /* stream.c: the server buffer's content goes out before the body (pre,
     * prelen; pre_owned: malloc'ed, sent by reference then freed); {defer:
     * true} and {chunk: true} set defer / chunk, and stream is what they
     * registered (js_reply_send starts it and answers RP_ASYNC). */
    void *pre;
    size_t prelen;
    int pre_owned;
    int defer, chunk;
    double chunk_delay; /* ms */
    rp_ranges ranges;   /* noRangeCap / noAcceptRanges ("@file" answers) */
    struct js_sreq *stream;
} js_plan;

/* ---- req.c --------------------------------------------------------------- */

/* Push the request object.  Returns 0, or an HTTP status with *why set
 * (a message for the client): 400 when the body cannot be parsed as its
 * Content-Type says, 413 when a form has more than MaxFormParams fields.
 * req.postData and req.params are built on first read. */
int js_push_req(duk_context *ctx, rp_req *r, const js_extra *ex, const char **why);
/* Getters of the request prototype at proto for the members newer than the
 * spec (req.id, req.methodRaw), read from the object they are called on. */
void js_req_proto_members(duk_context *ctx, duk_idx_t proto);
/* The MaxFormParams directive (N >= 1). */
const char *js_set_max_form_params(rp_cmd *cmd, void *conf, int argc, char *const argv[]);

/* ---- reply.c ------------------------------------------------------------- */

/* Turn the return value at idx into a plan (may throw).  Leaves idx in place:
 * plan->data points into it. */
void js_reply_prepare(duk_context *ctx, rp_req *r, duk_idx_t idx, js_plan *plan);
/* Send the plan.  ref/unref keep the body value alive for rp_resp_write_ref
 * (both NULL: copy).  Returns RP_OK or an HTTP status. */
int js_reply_send(rp_req *r, const js_plan *plan, const js_conf *c, void (*release)(void *),
                  void *arg);
/* The developer-mode 500 page with text (HTML-escaped). */
int js_reply_dev_error(rp_req *r, const char *text);

/* ---- routes.c ---------------------------------------------------------- */

/* Map targets and the MapModule / MapModulePath / NotFound / DirectoryScript
 * directives. */
int js_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                  const char **err);
const char *js_set_map_module(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_map_module_path(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_notfound(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_dirscript(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
/* A target from a directive's argument (key names it in messages). */
js_target *js_parse_target(rp_cmd *cmd, js_conf *c, const char *key, const char *target,
                           const char **err);

/* ---- hooks.c: BeginFunc / EndFunc (start()'s beginFunc / endFunc) -------
 * Both run on the heap and under the ScriptTimeout of the mapped function
 * they surround, inside the same call: a throw is that function's error.
 *  js_hook_begin: beginFunc(req) with req at req_idx (the object the mapped
 *    function gets, so its changes are seen).  Returns JS_HOOK_GO_ON,
 *    JS_HOOK_404 (it returned false) or JS_HOOK_REPLY (it returned an
 *    object, left at the top: the answer; the mapped function is skipped).
 *  js_hook_end: the mapped function's return value is at the top; set
 *    req.reply to it, call endFunc(req) and replace the top with req.reply
 *    (which endFunc may have changed or replaced).
 * May throw. */
enum { JS_HOOK_GO_ON = 0, JS_HOOK_404, JS_HOOK_REPLY };
int js_hook_begin(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx);
void js_hook_end(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx);
/* BeginFuncOnFile: js_hook_begin for a static file, req.fsPath at req_idx
 * holding fs (mod_static's real path of it).  Going on, a req.fsPath
 * changed to another string is left in *replace (r's pool) for mod_static
 * to send instead - it checks that it lies below a mapped root. */
int js_hook_file(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx, const char *fs,
                 const char **replace);
/* Websockets (ws_js.c): js_hook_begin runs once before the first call (r
 * the upgrade request); js_hook_ws_end once after the wsOnDisconnect
 * callbacks, with req.reply = {}, its changes and return value unused, a
 * throw logged.  Never throws. */
void js_hook_ws_end(duk_context *ctx, const js_conf *c, duk_idx_t req_idx);
/* LogFunc: a duk_safe_call function calling logFunc(logdata, logline) for
 * the request lc->r (mod_js.c runs it in its LOG hook, on the route heap
 * under ScriptTimeout). */
typedef struct js_log_call {
    rp_req *r;
    const js_conf *c;
    const char *line; /* the core's line, newline included */
    size_t len;
} js_log_call;
duk_ret_t js_hook_log(duk_context *ctx, void *udata);
const char *js_set_log_func(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_begin_func(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_end_func(rp_cmd *cmd, void *conf, int argc, char *const argv[]);

/* Push the function that serves target t for r (may throw).  Returns 1 with
 * the function pushed, or 0 with nothing pushed when the target has no
 * function for this path (404). */
int js_push_target(duk_context *ctx, rp_req *r, const js_target *t);

/* ---- start.c ------------------------------------------------------------- */

rp_server *js_http_server(int *serving);

/* The prefix used for snapshot names of start()'s functions. */
#define JS_SNAP_PREFIX "rp:fn:"

/* ---- ws_js.c: "ws:" routes on mod_ws's ws/1 service ----------------------
 * Each worker has a second heap for websockets (never reset by a script
 * timeout).  js_ws_worker_init: create it (js_worker_heap_new, like the
 * HTTP heap); NULL if it cannot be created.
 * js_ws_worker_exit: close the websockets still open (1001), free the heap.
 * js_ws_post_config: look the ws service up (RP_ERROR if ws: routes exist
 * without mod_ws).  js_ws_handle: the route handler for a target with t->ws. */
typedef struct js_wsw js_wsw;
typedef struct js_worker js_worker; /* mod_js.c */
js_wsw *js_ws_worker_init(rp_worker *w, const js_conf *c, js_worker *jw);
void js_ws_worker_exit(js_wsw *wsw);
int js_ws_post_config(const js_conf *c);
int js_ws_handle(js_wsw *wsw, rp_req *r, const js_target *t);

/* ---- srvbuf.c: the server buffer ------------------------------------------
 * For the websocket side too (req.wsSend prepends the server buffer).
 * One server buffer per heap ("one per thread" in the spec: the HTTP heap
 * and the websocket heap each have their own), written by req.printf,
 * req.put, req.rewind and read by req.getpos / req.getBuffer.  Replies,
 * chunkSend and wsSend take its content.  All of these never throw and may
 * be called from any heap of the worker's thread.
 *  js_srvbuf_data: its bytes (NULL with *len 0 when empty); valid until the
 *    next write, js_srvbuf_reset or js_srvbuf_take.
 *  js_srvbuf_reset: empty it (keeps its memory for reuse).
 *  js_srvbuf_take: hand its memory over (malloc'ed: the caller free()s it,
 *    e.g. as rp_resp_write_ref's release, which sends it without a copy) and
 *    leave the buffer empty; NULL with *len 0 when empty.
 *  js_push_srvbuf_proto: push the per-heap object holding the (non-
 *    enumerable) printf, put, getpos, rewind, getBuffer functions; make it
 *    the prototype of a req object (duk_set_prototype), or of your own
 *    prototype.  The functions do not depend on `this`.  Throws only on
 *    out-of-memory. */
const void *js_srvbuf_data(duk_context *ctx, size_t *len);
void js_srvbuf_reset(duk_context *ctx);
void *js_srvbuf_take(duk_context *ctx, size_t *len);
void js_push_srvbuf_proto(duk_context *ctx);

/* mod_js.c: a heap of worker jw, HTTP or websocket (kind: NULL, or a
 * suffix for its log lines such as " (websocket heap)"), from js_heap_new:
 * the main script's globals (the conf's snapshot), the stash every worker
 * heap has (JS_STASH_FUNCS: the mapped functions in route order,
 * JS_STASH_REFS, JS_STASH_WS_CONNS), callbacks under ScriptTimeout, memory
 * capped at ScriptMemoryLimit.  NULL after logging. */
duk_context *js_worker_heap_new(js_worker *jw, js_broken_fn on_broken, const char *kind);

#endif
