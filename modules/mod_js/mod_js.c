/* mod_js.c - the mod_js descriptor and its HTTP side: directives, the
 * handler for JavaScript routes, notFoundFunc / directoryFunc, and one
 * Duktape heap per worker thread (recreated after a script timeout).
 *
 *   LoadModule js mod_js.so
 *   ScriptTimeout 2.5              seconds, 0 = none (default); inside
 *                                  <Host> or <Route>: that scope's HTTP calls
 *   ScriptMemoryLimit 512m         bytes a worker heap may hold (default
 *                                  512m; off = none): over it the script
 *                                  ends with 500 and the heap is recreated
 *   DeveloperMode on|off           JS errors: 500 with the error (on) or
 *                                  404 / NotFound with req.errMsg (off)
 *   ScriptDir dir                  where worker heaps' require() looks second
 *                                  and relative "@file" returns resolve
 *                                  (default: the main script's directory, or
 *                                  the current directory under rampart-httpd)
 *   MapModule /key file.js [exact] see routes.c
 *   MapModulePath /key/ dir/
 *   NotFound file.js               a module exporting function(req): every 404
 *   DirectoryScript file.js        a module exporting function(req) for
 *                                  directories without index.html (req.fsPath)
 *   BeginFunc / EndFunc file.js    around every mapped function (hooks.c)
 *   BeginFuncOnFile on|off         BeginFunc before static files too
 *   LogFunc file.js                function(logdata, logline): the access log
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "js_http.h"
#include "../mod_dirlist/rp_dirlist.h"
#include "../mod_static/rp_static.h"

/* Bodies at least this large go out by reference (no copy). */
#define JS_REF_MIN 8192

/* ---- configuration ------------------------------------------------------ */

static void *js_create_conf(rp_pool *p)
{
    js_conf *c = rp_pcalloc(p, sizeof *c);
    c->pool = p;
    return c;
}

static const char *set_timeout(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_seconds(cmd, conf, argc, argv);
    if (e)
        return rp_cmd_error(cmd, "ScriptTimeout: expected seconds (e.g. 2.5, 0 = none), got '%s'",
                            argv[0]);
    return NULL;
}

/* ScriptTimeout inside <Host> or <Route>: the deadline of the HTTP calls
 * there.  At the top level the same name is found in js_directives first
 * (the core searches a block's route tables first, the top level's module
 * tables), so js_conf.timeout stays the module-wide value that also bounds
 * what no request owns: timers and rampart.event callbacks.  req.chunk and
 * websocket callbacks keep the value of the request that started them. */
typedef struct js_route_conf {
    double timeout;
    int timeout_set;
} js_route_conf;

static void *js_create_route_conf(rp_pool *p)
{
    return rp_pcalloc(p, sizeof(js_route_conf));
}

static void *js_merge_route_conf(rp_pool *p, void *parent, void *child)
{
    const js_route_conf *up = parent, *own = child;
    js_route_conf *m = rp_palloc(p, sizeof *m);
    *m = own->timeout_set ? *own : *up;
    return m;
}

static const char *set_route_timeout(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = set_timeout(cmd, conf, argc, argv);
    if (!e)
        ((js_route_conf *)conf)->timeout_set = 1;
    return e;
}

double js_timeout_for(const rp_req *r, const js_conf *c)
{
    const js_route_conf *rc = rp_req_route_conf(r, JS_SELF);
    return rc && rc->timeout_set ? rc->timeout : c->timeout;
}

/* "off" or 0: no cap (SIZE_MAX; 0 in the conf means unset). */
static const char *set_mem_limit(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    size_t *v = (size_t *)((char *)conf + offsetof(js_conf, mem_limit));
    if (strcasecmp(argv[0], "off") == 0 || strcmp(argv[0], "0") == 0) {
        *v = SIZE_MAX;
        return NULL;
    }
    if (rp_set_size(cmd, conf, argc, argv))
        return rp_cmd_error(
            cmd, "ScriptMemoryLimit: expected bytes (e.g. 256m, off = none), got '%s'", argv[0]);
    return NULL;
}

static size_t mem_limit_of(const js_conf *c)
{
    if (c->mem_limit == SIZE_MAX)
        return 0;
    return c->mem_limit ? c->mem_limit : JS_SCRIPT_MEMORY_LIMIT;
}

/* ---- compiling module scripts when the configuration is read ------------
 * A syntax error in a mapped module would otherwise show only at its first
 * request (a 500 or 404).  Every directive naming a module file therefore
 * compiles it as require() will (the same wrapper, so the same errors and
 * line numbers) in a throwaway heap: `rampart-httpd -t`, a reload and
 * start() report "conf:line: ... file.js:N: SyntaxError ...".  Bare module
 * names (found by require's search at run time) and JSON modules are left
 * to the first request. */

static duk_ret_t compile_check_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    if (duk_pcompile(ctx, DUK_COMPILE_FUNCTION) == 0)
        duk_push_undefined(ctx); /* compiled: no error to return */
    return 1;
}

/* NULL if path compiles, else the message (configuration pool). */
static const char *compile_error_of(rp_pool *p, const char *path)
{
    static const char head[] = "function (module, exports, require, __filename, __dirname) {";
    size_t len;
    char *src = js_read_file(path, &len);
    if (!src)
        return rp_psprintf(p, "cannot read module file '%s'", path);
    js_strip_shebang(src, len);
    duk_context *ctx = duk_create_heap_default();
    if (!ctx) {
        free(src);
        return NULL; /* no memory to check with: the first request will tell */
    }
    duk_push_string(ctx, head);
    duk_push_lstring(ctx, src, len);
    duk_push_string(ctx, "\n}");
    duk_concat(ctx, 3);
    free(src);
    duk_push_string(ctx, path);
    const char *msg = NULL;
    if (duk_safe_call(ctx, compile_check_safe, NULL, 2, 1) != DUK_EXEC_SUCCESS ||
        !duk_is_undefined(ctx, -1)) {
        const char *m = duk_safe_to_string(ctx, -1);
        const char *l = strstr(m, "(line ");
        long line = l ? strtol(l + 6, NULL, 10) : 0;
        msg = line > 0 ? rp_psprintf(p, "%s:%ld: %s", path, line, m)
                       : rp_psprintf(p, "%s: %s", path, m);
    }
    duk_destroy_heap(ctx);
    return msg;
}

static int ends_in(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A module name as the directive resolved it (absolute): the file require
 * loads for it (name, name.js), or NULL for a bare name or JSON. */
static const char *module_file(rp_pool *p, const char *name)
{
    if (name[0] != '/' || ends_in(name, ".json"))
        return NULL;
    if (is_regular(name))
        return name;
    const char *js = rp_psprintf(p, "%s.js", name);
    return is_regular(js) ? js : NULL;
}

/* NULL, or the directive's error for the module target t. */
static const char *check_target(rp_cmd *cmd, const js_target *t)
{
    if (!t || t->kind != JS_T_MODULE)
        return NULL;
    const char *file = module_file(rp_cmd_pool(cmd), t->name);
    const char *e = file ? compile_error_of(rp_cmd_pool(cmd), file) : NULL;
    return e ? rp_cmd_error(cmd, "%s: %s", rp_cmd_name(cmd), e) : NULL;
}

/* Every *.js directly in dir (MapModulePath key dir). */
static const char *check_dir(rp_cmd *cmd, const char *key, const char *dir)
{
    rp_pool *p = rp_cmd_pool(cmd);
    DIR *d = opendir(dir);
    const char *e = NULL;
    struct dirent *de;
    while (d && !e && (de = readdir(d))) {
        const char *f = rp_psprintf(p, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && ends_in(de->d_name, ".js") && is_regular(f))
            e = compile_error_of(p, f);
    }
    if (d)
        closedir(d);
    return e ? rp_cmd_error(cmd, "%s %s: %s", rp_cmd_name(cmd), key, e) : NULL;
}

static const char *set_map_module(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = js_set_map_module(cmd, conf, argc, argv);
    if (e)
        return e;
    const char *file = module_file(rp_cmd_pool(cmd), rp_cmd_resolve_path(cmd, argv[1]));
    const char *ce = file ? compile_error_of(rp_cmd_pool(cmd), file) : NULL;
    return ce ? rp_cmd_error(cmd, "%s %s: %s", rp_cmd_name(cmd), argv[0], ce) : NULL;
}

static const char *set_map_module_path(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = js_set_map_module_path(cmd, conf, argc, argv);
    if (e)
        return e;
    char *real = realpath(rp_cmd_resolve_path(cmd, argv[1]), NULL);
    e = real ? check_dir(cmd, argv[0], real) : NULL;
    free(real);
    return e;
}

/* The setters of directives holding one target, checked after them. */
#define CHECKED_SETTER(name, set, field)                                                           \
    static const char *name(rp_cmd *cmd, void *conf, int argc, char *const argv[])                 \
    {                                                                                              \
        const char *e = set(cmd, conf, argc, argv);                                                \
        return e ? e : check_target(cmd, ((js_conf *)conf)->field);                                \
    }
CHECKED_SETTER(set_notfound, js_set_notfound, notfound)
CHECKED_SETTER(set_dirscript, js_set_dirscript, dirfunc)
CHECKED_SETTER(set_begin_func, js_set_begin_func, beginfunc)
CHECKED_SETTER(set_end_func, js_set_end_func, endfunc)
CHECKED_SETTER(set_log_func, js_set_log_func, logfunc)

/* "Map /key file.js" */
static int map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                      const char **err)
{
    int rc = js_map_target(cmd, conf, key, argc, argv, err);
    if (rc != RP_OK)
        return rc;
    const char *file = module_file(rp_cmd_pool(cmd), rp_cmd_resolve_path(cmd, argv[0]));
    const char *ce = file ? compile_error_of(rp_cmd_pool(cmd), file) : NULL;
    if (!ce)
        return RP_OK;
    *err = rp_cmd_error(cmd, "Map %s: %s", key, ce);
    return RP_ERROR;
}

static const rp_directive js_directives[] = {
    {"ScriptTimeout", 1, 1, set_timeout, offsetof(js_conf, timeout),
     "ScriptTimeout seconds: a script running longer answers 500 (0 = no limit)"},
    {"ScriptMemoryLimit", 1, 1, set_mem_limit, offsetof(js_conf, mem_limit),
     "ScriptMemoryLimit bytes|off: memory one worker heap may hold, more is 500 (default 512m)"},
    {"DeveloperMode", 1, 1, rp_set_flag, offsetof(js_conf, dev),
     "DeveloperMode on|off: JavaScript errors answer 500 with the error and line numbers"},
    {"ScriptDir", 1, 1, rp_set_path, offsetof(js_conf, script_dir),
     "ScriptDir dir: directory for require() and relative @file returns"},
    {"MapModule", 2, 3, set_map_module, 0,
     "MapModule /key module.js [exact]: a module exporting a function or {\"/path\": function}"},
    {"MapModulePath", 2, 2, set_map_module_path, 0,
     "MapModulePath /key/ dir: /key/name.ext runs dir/name.js"},
    {"NotFound", 1, 1, set_notfound, 0,
     "NotFound module.js: a module exporting function(req) that answers every 404"},
    {"DirectoryScript", 1, 1, set_dirscript, 0,
     "DirectoryScript module.js: function(req) listing directories (req.fsPath)"},
    {"BeginFunc", 1, 1, set_begin_func, 0,
     "BeginFunc module.js: function(req) before every mapped function (false: 404, an object: "
     "the answer)"},
    {"BeginFuncOnFile", 1, 1, rp_set_flag, offsetof(js_conf, begin_on_file),
     "BeginFuncOnFile on|off: BeginFunc also runs before static files, with req.fsPath"},
    {"EndFunc", 1, 1, set_end_func, 0,
     "EndFunc module.js: function(req) after every mapped function; req.reply is what is sent"},
    {"LogFunc", 1, 1, set_log_func, 0,
     "LogFunc module.js: function(logdata, logline) writes the access log line instead"},
    {"MaxFormParams", 1, 1, js_set_max_form_params, 0,
     "MaxFormParams N: form fields or parts a request body may carry, more is 413 (default "
     "10000)"},
    RP_DIRECTIVES_END,
};

static const rp_directive js_route_directives[] = {
    {"ScriptTimeout", 1, 1, set_route_timeout, offsetof(js_route_conf, timeout),
     "ScriptTimeout seconds: a script running longer answers 500 (0 = no limit); inside <Host> "
     "or <Route>, the limit of the handlers there and of their req.chunk and websocket "
     "callbacks (timers keep the top-level value)"},
    RP_DIRECTIVES_END,
};

/* ---- per-worker heaps --------------------------------------------------- */

/* A worker heap and the responses still holding its memory: a heap
 * replaced after a timeout lives on until its last reference is released. */
typedef struct js_wheap {
    duk_context *ctx;
    int refs;
    int dead;
} js_wheap;

struct js_worker {
    rp_worker *w;
    const js_conf *conf;
    js_wheap *heap;
    unsigned next_ref;
    js_wsw *ws;       /* the websocket heap (ws_js.c) */
    size_t heap_seen; /* the HTTP heap's size last published (rampart_js_heap_bytes) */
};

typedef struct js_ref {
    js_wheap *heap;
    unsigned id;
} js_ref;

static void wheap_drop(js_wheap *h)
{
    if (h->refs == 0) {
        js_heap_free(h->ctx);
        free(h);
    }
}

/* The stash of every worker heap, HTTP or websocket: the snapshot's mapped
 * functions in route order, the bodies responses hold, the websockets. */
static duk_ret_t setup_stash(duk_context *ctx, void *udata)
{
    const js_conf *c = udata;
    duk_push_heap_stash(ctx);
    duk_push_array(ctx);
    for (int i = 0; i < c->nfuncs; i++) {
        if (c->snap)
            js_snapshot_push(c->snap, ctx, c->funcs[i]);
        else
            duk_push_undefined(ctx);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
    }
    duk_put_prop_literal(ctx, -2, JS_STASH_FUNCS);
    duk_push_object(ctx);
    duk_put_prop_literal(ctx, -2, JS_STASH_REFS);
    duk_push_bare_object(ctx);
    duk_put_prop_literal(ctx, -2, JS_STASH_WS_CONNS);
    duk_pop(ctx);
    return 0;
}

duk_context *js_worker_heap_new(js_worker *jw, js_broken_fn on_broken, const char *kind)
{
    const js_conf *c = jw->conf;
    char name[64];
    snprintf(name, sizeof name, "worker %d%s", rp_worker_index(jw->w), kind ? kind : "");
    js_heap_opts o = {
        .loop = rp_worker_base(jw->w),
        .script_dir = c->script_dir,
        .worker = jw,
        .on_broken = on_broken,
        .callback_timeout = c->timeout, /* e.g. req.reply from a setTimeout */
        .snap = c->snap,
        .setup = setup_stash,
        .setup_arg = (void *)c,
        .memory_limit = mem_limit_of(c),
        .name = name,
    };
    duk_context *ctx = js_heap_new(&o);
    if (!ctx)
        rp_log(JS_SELF, RP_LOG_ERR, "%s: cannot create a JavaScript heap", name);
    return ctx;
}

static void wheap_broken(duk_context *ctx, const char *what);

static js_wheap *wheap_new(js_worker *jw)
{
    /* the broken handler: a timer, event or chunk callback broke the heap */
    duk_context *ctx = js_worker_heap_new(jw, wheap_broken, NULL);
    if (!ctx)
        return NULL;
    js_wheap *h = calloc(1, sizeof *h);
    if (!h) {
        js_heap_free(ctx);
        return NULL;
    }
    h->ctx = ctx;
    return h;
}

/* After a timeout, a fatal error or the memory limit: the old heap goes
 * when unreferenced; the next request creates a fresh one (js_run), so the
 * answer to this one is not held up by building it. */
static void wheap_reset(js_worker *jw)
{
    js_wheap *old = jw->heap;
    jw->heap = NULL;
    if (old) {
        old->dead = 1;
        wheap_drop(old);
    }
}

void js_stream_heap_broken(duk_context *ctx, const char *why); /* stream.c */

/* A fatal error in a callback the loop ran in this heap (js_guard_loop,
 * outside its guard): what waits on the heap is answered now, without
 * JavaScript, and the worker's next request gets a new heap - as after a
 * fatal error in a handler. */
static void wheap_broken(duk_context *ctx, const char *what)
{
    js_worker *jw = js_heap_worker(ctx);
    char why[200];
    snprintf(why, sizeof why, "Duktape fatal error: %s", js_heap_fatal_msg(ctx));
    rp_log(JS_SELF, RP_LOG_ERR, "worker %d: %s: %s; the JavaScript heap is reset",
           rp_worker_index(jw->w), what, why);
    js_stream_heap_broken(ctx, why);
    if (jw->heap && jw->heap->ctx == ctx)
        wheap_reset(jw);
    /* else: an older heap (replaced, kept alive by a response): it goes
     * when that reference does (it is dead already) */
}

static void ref_release(void *arg)
{
    js_ref *ref = arg;
    js_wheap *h = ref->heap;
    if (!h->dead) {
        duk_context *ctx = h->ctx;
        duk_push_heap_stash(ctx);
        duk_get_prop_literal(ctx, -1, JS_STASH_REFS);
        duk_del_prop_index(ctx, -1, ref->id);
        duk_pop_2(ctx);
    }
    h->refs--;
    free(ref);
    if (h->dead)
        wheap_drop(h);
}

/* Keep the value at the top alive until the response has sent it. */
static js_ref *ref_take(js_worker *jw)
{
    js_ref *ref = malloc(sizeof *ref);
    if (!ref)
        return NULL;
    duk_context *ctx = jw->heap->ctx;
    ref->heap = jw->heap;
    ref->id = jw->next_ref++;
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_REFS);
    duk_dup(ctx, -3);
    duk_put_prop_index(ctx, -2, ref->id);
    duk_pop_2(ctx);
    jw->heap->refs++;
    return ref;
}

static int js_worker_init(rp_worker *w, void *conf)
{
    js_worker *jw = calloc(1, sizeof *jw);
    if (!jw)
        return RP_ERROR;
    jw->w = w;
    jw->conf = conf;
    jw->heap = wheap_new(jw);
    jw->ws = js_ws_worker_init(w, conf, jw);
    rp_worker_set_ctx(w, JS_SELF, jw);
    js_event_worker_init(w); /* rampart.event across a cluster's servers */
    return jw->heap && jw->ws ? RP_OK : RP_ERROR;
}

static void js_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    js_worker *jw = rp_worker_ctx(w, JS_SELF);
    if (!jw)
        return;
    js_ws_worker_exit(jw->ws);
    if (jw->heap) {
        jw->heap->dead = 1;
        wheap_drop(jw->heap);
    }
    rp_worker_set_ctx(w, JS_SELF, NULL);
    free(jw);
}

/* ---- running a function for a request ------------------------------------ */

typedef struct js_reqctx {
    const char *errmsg; /* a JS error answered 404: for notFoundFunc */
    int in_error;       /* notFoundFunc / directoryFunc running */
} js_reqctx;

static js_reqctx *reqctx(rp_req *r)
{
    js_reqctx *rc = rp_req_ctx(r, JS_SELF);
    if (!rc) {
        rc = rp_pcalloc(rp_req_pool(r), sizeof *rc);
        rp_req_set_ctx(r, JS_SELF, rc);
    }
    return rc;
}

typedef struct run_state {
    rp_req *r;
    const js_target *t;
    const js_extra *ex;
    js_plan plan;
    int status;           /* answer this instead (404: no function, 400: bad body) */
    const char *why;      /* the reason for a 400 */
    const char **replace; /* BeginFuncOnFile: beginFunc for the file ex->fspath */
} run_state;

/* [fn, req] at the top: the mapped function between beginFunc and endFunc
 * (hooks.c), all in this one call so ScriptTimeout covers them together. */
static duk_ret_t run_hooked(duk_context *ctx, run_state *st, const js_conf *c)
{
    duk_idx_t req = duk_get_top_index(ctx);
    if (c->beginfunc) {
        int h = js_hook_begin(ctx, st->r, c, req);
        if (h == JS_HOOK_404) {
            st->status = 404;
            duk_push_undefined(ctx);
            return 1;
        }
        if (h == JS_HOOK_REPLY) {
            js_reply_prepare(ctx, st->r, -1, &st->plan);
            return 1;
        }
    }
    duk_dup(ctx, req);
    duk_insert(ctx, req - 1); /* [req, fn, req]: req stays for endFunc */
    duk_call(ctx, 1);         /* [req, ret] */
    if (c->endfunc)
        js_hook_end(ctx, st->r, c, -2);
    js_reply_prepare(ctx, st->r, -1, &st->plan);
    return 1;
}

/* [req] at the top: beginFunc for a static file (BeginFuncOnFile).  Going
 * on is RP_DECLINED, for mod_static to send the file (or *replace). */
static duk_ret_t run_on_file(duk_context *ctx, run_state *st, const js_conf *c)
{
    int h = js_hook_file(ctx, st->r, c, -1, st->ex->fspath, st->replace);
    if (h == JS_HOOK_REPLY) {
        js_reply_prepare(ctx, st->r, -1, &st->plan);
        return 1;
    }
    st->status = h == JS_HOOK_404 ? 404 : RP_DECLINED;
    duk_push_undefined(ctx);
    return 1;
}

static duk_ret_t run_cb(duk_context *ctx, void *udata)
{
    run_state *st = udata;
    if (st->replace) { /* beginFunc pushes its own target */
        int bad = js_push_req(ctx, st->r, st->ex, &st->why);
        if (bad) {
            st->status = bad;
            duk_push_undefined(ctx);
            return 1;
        }
        return run_on_file(ctx, st, rp_req_conf(st->r, JS_SELF));
    }
    if (!js_push_target(ctx, st->r, st->t)) {
        st->status = 404;
        duk_push_undefined(ctx);
        return 1;
    }
    int bad = js_push_req(ctx, st->r, st->ex, &st->why);
    if (bad) {
        st->status = bad;
        duk_push_undefined(ctx);
        return 1;
    }
    const js_conf *c = rp_req_conf(st->r, JS_SELF);
    if (st->ex->route && c && (c->beginfunc || c->endfunc))
        return run_hooked(ctx, st, c);
    duk_call(ctx, 1);
    js_reply_prepare(ctx, st->r, -1, &st->plan);
    return 1;
}

static int send_text(rp_req *r, int status, const char *text)
{
    rp_resp_set_status(r, status);
    rp_resp_header_set(r, "Content-Type", "text/plain; charset=utf-8");
    rp_resp_set_length(r, (int64_t)strlen(text));
    if (!rp_req_is_head(r))
        rp_resp_write(r, text, strlen(text));
    return RP_OK;
}

static int timed_out(rp_req *r, const js_conf *c)
{
    rp_pool *p = rp_req_pool(r);
    char *msg = rp_psprintf(p, "script timed out after %g seconds", js_timeout_for(r, c));
    rp_log(JS_SELF, RP_LOG_ERR, "%s %s: %s; the worker's JavaScript heap is reset",
           rp_req_method(r), rp_req_path(r), msg);
    if (c->dev)
        return js_reply_dev_error(r, msg);
    return send_text(r, 500, rp_psprintf(p, "500 Internal Server Error: %s\n", msg));
}

/* Ended by a fault rather than by the script: a fatal error, the memory
 * cap (both: 500, heap reset by the caller) or the server's stop (503). */
static int faulted(rp_req *r, const js_conf *c, int status, const char *msg)
{
    rp_log(JS_SELF, RP_LOG_ERR, "%s %s: %s%s", rp_req_method(r), rp_req_path(r), msg,
           status == 503 ? "" : "; the worker's JavaScript heap is reset");
    if (c->dev && status == 500)
        return js_reply_dev_error(r, msg);
    return send_text(
        r, status,
        rp_psprintf(rp_req_pool(r), "%d %s: %s\n", status, rp_status_reason(status), msg));
}

/* Counters after each call, and the heap's size as a delta into this
 * worker's series (one relaxed add each; no lock). */
static void publish(js_worker *jw, duk_context *ctx, int failed, int expired)
{
    const js_conf *c = jw->conf;
    rp_metric_add(c->m_calls, jw->w, 1);
    if (failed)
        rp_metric_add(expired ? c->m_timeouts : c->m_errors, jw->w, 1);
    int i = rp_worker_index(jw->w);
    if (i >= 0 && i < c->nm_heap) {
        size_t used = js_heap_memory_used(ctx);
        rp_metric_add(c->m_heap[i], jw->w, (int64_t)used - (int64_t)jw->heap_seen);
        jw->heap_seen = used;
    }
}

/* A failed call: what ended it decides the answer.  *reset: the heap is to
 * be replaced (after js_guard: a heap is never freed inside its guard). */
static int run_failed(js_worker *jw, rp_req *r, duk_idx_t top, int expired, int *reset)
{
    const js_conf *c = jw->conf;
    duk_context *ctx = jw->heap->ctx;
    if (js_stopping_now()) { /* the heap stays: the worker is going away */
        duk_set_top(ctx, top);
        return faulted(r, c, 503, "the server is stopping; the script was interrupted");
    }
    if (js_heap_memory_hit(ctx)) {
        duk_set_top(ctx, top);
        *reset = 1;
        return faulted(r, c, 500,
                       rp_psprintf(rp_req_pool(r), "script exceeded ScriptMemoryLimit (%zu bytes)",
                                   mem_limit_of(c)));
    }
    if (expired) {
        duk_set_top(ctx, top);
        *reset = 1;
        return timed_out(r, c);
    }
    rp_pool *p = rp_req_pool(r);
    const char *text = rp_pstrdup(p, js_error_text(ctx, -1));
    duk_set_top(ctx, top);
    rp_log(JS_SELF, RP_LOG_ERR, "%s %s: %s", rp_req_method(r), rp_req_path(r), text);
    if (c->dev)
        return js_reply_dev_error(r, text);
    reqctx(r)->errmsg = text;
    return 404;
}

/* The call went through: the answer it asked for. */
static int run_done(js_worker *jw, rp_req *r, duk_idx_t top, run_state *st)
{
    const js_conf *c = jw->conf;
    duk_context *ctx = jw->heap->ctx;
    rp_pool *p = rp_req_pool(r);
    if (st->status) {
        duk_set_top(ctx, top);
        if (st->why) /* the body was refused: tell the client why */
            return send_text(
                r, st->status,
                rp_psprintf(p, "%d %s: %s\n", st->status, rp_status_reason(st->status), st->why));
        return st->status;
    }
    if (st->plan.why) {
        duk_set_top(ctx, top);
        rp_log(JS_SELF, RP_LOG_ERR, "%s %s: %s", rp_req_method(r), rp_req_path(r), st->plan.why);
        if (c->dev)
            return js_reply_dev_error(r, st->plan.why);
        reqctx(r)->errmsg = st->plan.why;
        return 404;
    }
    js_ref *ref = NULL;
    if (!st->plan.file && st->plan.len >= JS_REF_MIN && !rp_req_is_head(r))
        ref = ref_take(jw);
    int ret = js_reply_send(r, &st->plan, c, ref ? ref_release : NULL, ref);
    duk_set_top(ctx, top);
    return ret;
}

typedef struct run_job {
    js_worker *jw;
    rp_req *r;
    const js_target *t;
    const js_extra *ex;
    const char **replace; /* BeginFuncOnFile's call, else NULL */
    int ret;
    int reset;
} run_job;

/* Everything js_run does with the heap, under js_guard. */
static void run_guarded(duk_context *ctx, void *arg)
{
    run_job *job = arg;
    js_worker *jw = job->jw;
    const js_conf *c = jw->conf;
    duk_idx_t top = duk_get_top(ctx);
    run_state st;
    memset(&st, 0, sizeof st);
    st.r = job->r;
    st.t = job->t;
    st.ex = job->ex;
    st.replace = job->replace;
    st.plan.status = job->ex->default_status;

    js_heap_memory_hit(ctx); /* count refusals from this call on */
    double timeout = js_timeout_for(job->r, c);
    if (timeout > 0)
        js_deadline_arm(ctx, timeout);
    int rc = duk_safe_call(ctx, run_cb, &st, 0, 1);
    int expired = timeout > 0 && js_deadline_expired(ctx);
    if (timeout > 0)
        js_deadline_arm(ctx, 0);
    if (rc != DUK_EXEC_SUCCESS)
        job->ret = run_failed(jw, job->r, top, expired, &job->reset);
    else
        job->ret = run_done(jw, job->r, top, &st);
    publish(jw, ctx, rc != DUK_EXEC_SUCCESS, expired);
}

/* Run t for r.  Returns RP_OK (response produced) or an HTTP status for the
 * core to answer (404 also after a JS error in non-developer mode, with the
 * error kept for notFoundFunc).  A Duktape fatal error ends only this
 * request: 500, and the worker gets a fresh heap. */
static int js_run_in(js_worker *jw, rp_req *r, const js_target *t, const js_extra *ex,
                     const char **replace)
{
    if (!jw->heap && !(jw->heap = wheap_new(jw)))
        return 500;
    run_job job = {jw, r, t, ex, replace, 500, 0};
    if (js_guard(jw->heap->ctx, run_guarded, &job) == 0) {
        if (job.reset)
            wheap_reset(jw);
        return job.ret;
    }
    /* a fatal error: the heap is broken; the response is ours to make */
    const char *msg =
        rp_psprintf(rp_req_pool(r), "Duktape fatal error: %s", js_heap_fatal_msg(jw->heap->ctx));
    wheap_reset(jw);
    return faulted(r, jw->conf, 500, msg);
}

static int js_run(js_worker *jw, rp_req *r, const js_target *t, const js_extra *ex)
{
    return js_run_in(jw, r, t, ex, NULL);
}

static js_worker *worker_of(rp_req *r)
{
    return rp_worker_ctx(rp_req_worker(r), JS_SELF);
}

/* ---- hooks ---------------------------------------------------------------- */

/* The descriptor's handler: the core calls it only for our routes. */
static int js_handler(rp_req *r)
{
    js_worker *jw = worker_of(r);
    if (!jw)
        return 500;
    const js_target *t = rp_req_route_target(r);
    if (t->ws)
        return js_ws_handle(jw->ws, r, t);
    js_extra ex = {NULL, NULL, 200, 1};
    return js_run(jw, r, t, &ex);
}

/* directoryFunc for the directory fs_path (mod_static's 403). */
static int run_dirfunc(rp_req *r, const char *fs_path)
{
    const js_conf *c = rp_req_conf(r, JS_SELF);
    js_worker *jw = worker_of(r);
    if (!c || !c->dirfunc || !jw)
        return RP_DECLINED;
    js_reqctx *rc = reqctx(r);
    if (rc->in_error)
        return RP_DECLINED;
    rc->in_error = 1;
    js_extra ex = {NULL, fs_path, 200, 0};
    int ret = js_run(jw, r, c->dirfunc, &ex);
    rc->in_error = 0;
    return ret == RP_OK ? RP_OK : RP_DECLINED;
}

/* mod_static's file hook (rp_static.h): BeginFuncOnFile.  RP_DECLINED
 * sends the file (or *replace); a throw is handled as a mapped
 * function's (404 and notFoundFunc, or the developer page). */
static int js_file_hook(rp_req *r, const char *fs_path, void *arg, const char **replace)
{
    (void)arg;
    const js_conf *c = rp_req_conf(r, JS_SELF);
    js_worker *jw = worker_of(r);
    if (!c || !c->beginfunc || !c->begin_on_file || !jw)
        return RP_DECLINED;
    js_extra ex = {NULL, fs_path, 200, 0};
    return js_run_in(jw, r, c->beginfunc, &ex, replace);
}

static int js_dir_provider(rp_req *r, const char *fs_path, void *arg)
{
    (void)arg;
    return run_dirfunc(r, fs_path);
}

/* notFoundFunc answers every 404; without mod_dirlist, directoryFunc takes
 * mod_static's 403 for a directory itself. */
static int js_error_hook(rp_req *r)
{
    const js_conf *c = rp_req_conf(r, JS_SELF);
    js_worker *jw = worker_of(r);
    if (!c || !jw)
        return RP_DECLINED;
    int status = rp_resp_status(r);
    if (status == 404 && c->notfound) {
        js_reqctx *rc = reqctx(r);
        if (rc->in_error)
            return RP_DECLINED;
        rc->in_error = 1;
        js_extra ex = {rc->errmsg, NULL, 404, 0};
        int ret = js_run(jw, r, c->notfound, &ex);
        rc->in_error = 0;
        return ret == RP_OK ? RP_OK : RP_DECLINED;
    }
    if (status == 403 && c->dirfunc && !rp_service_get(RP_DIRLIST_SERVICE, 1)) {
        const char *dir = rp_req_note_get(r, "static.dir");
        if (dir)
            return run_dirfunc(r, dir);
    }
    return RP_DECLINED;
}

typedef struct log_job {
    js_worker *jw;
    js_log_call lc;
    int ok;
} log_job;

/* 1 while JavaScript runs in ctx: the LOG phase can come from inside a
 * call (req.reply() of a deferred reply finishes the response). */
static int js_running(duk_context *ctx)
{
    duk_inspect_callstack_entry(ctx, -1);
    int busy = !duk_is_undefined(ctx, -1);
    duk_pop(ctx);
    return busy;
}

/* Nested in a running call, logFunc runs under that call's deadline (arming
 * our own would end it); either way the heap is never reset here (after a
 * timeout it is usable once disarmed; a fatal error lands in the outermost
 * js_guard, which is ours only when not nested). */
static void log_guarded(duk_context *ctx, void *arg)
{
    log_job *job = arg;
    const js_conf *c = job->lc.c;
    rp_req *r = job->lc.r;
    duk_idx_t top = duk_get_top(ctx);
    int arm = c->timeout > 0 && !js_running(ctx);
    if (arm)
        js_deadline_arm(ctx, c->timeout);
    int rc = duk_safe_call(ctx, js_hook_log, &job->lc, 0, 1);
    int expired = arm && js_deadline_expired(ctx);
    if (arm)
        js_deadline_arm(ctx, 0);
    job->ok = rc == DUK_EXEC_SUCCESS;
    if (!job->ok)
        rp_log(JS_SELF, RP_LOG_ERR, "%s %s: logFunc: %s", rp_req_method(r), rp_req_path(r),
               expired ? "script timed out" : js_error_text(ctx, -1));
    duk_set_top(ctx, top);
}

/* LogFunc (hooks.c): before the core's access log hook, which then skips
 * this request; if logFunc fails the core's line is written after all. */
static int js_log_hook(rp_req *r)
{
    const js_conf *c = rp_req_conf(r, JS_SELF);
    if (!c || !c->logfunc)
        return RP_OK;
    js_worker *jw = worker_of(r);
    char line[16384];
    size_t n = jw ? rp_access_log_line(r, line, sizeof line) : 0;
    if (!n) /* access logging is off */
        return RP_OK;
    rp_access_log_skip(r);
    log_job job = {jw, {r, c, line, n}, 0};
    if (jw->heap || (jw->heap = wheap_new(jw))) {
        if (js_guard(jw->heap->ctx, log_guarded, &job) != 0) {
            rp_log(JS_SELF, RP_LOG_ERR, "%s %s: logFunc: Duktape fatal error: %s", rp_req_method(r),
                   rp_req_path(r), js_heap_fatal_msg(jw->heap->ctx));
            wheap_reset(jw); /* our landing: nothing else runs in it */
        }
    }
    if (!job.ok)
        rp_access_log_write(line, n);
    return RP_OK;
}

void js_start_register_builtin(void); /* start.c */

static void js_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_ERROR, js_error_hook, RP_HOOK_MIDDLE, NULL, NULL);
    rp_hook_add(h, RP_PHASE_LOG, js_log_hook, RP_HOOK_MIDDLE, NULL, NULL);
    js_start_register_builtin();
}

static void make_series(rp_server *s, js_conf *c)
{
    c->m_calls = rp_metric_counter(s, "rampart_js_calls_total", "Mapped JavaScript functions run");
    c->m_timeouts = rp_metric_counter(s, "rampart_js_failures_total{kind=\"timeout\"}",
                                      "JavaScript calls that ended in ScriptTimeout or an error "
                                      "(exception, ScriptMemoryLimit)");
    c->m_errors = rp_metric_counter(s, "rampart_js_failures_total{kind=\"error\"}", NULL);
    c->nm_heap = rp_server_threads(s);
    c->m_heap = rp_pcalloc(c->pool, (size_t)c->nm_heap * sizeof *c->m_heap);
    for (int i = 0; i < c->nm_heap; i++) {
        char name[80];
        snprintf(name, sizeof name, "rampart_js_heap_bytes{worker=\"%d\"}", i);
        c->m_heap[i] = rp_metric_gauge(s, name,
                                       "Bytes held by each worker thread's JavaScript "
                                       "heap (after its last call)");
    }
}

static int js_post_config(rp_server *s, void *conf)
{
    const js_conf *c = conf;
    make_series(s, conf);
    if (c->dirfunc) {
        const rp_dirlist_api *dl = rp_service_get(RP_DIRLIST_SERVICE, 1);
        if (dl && dl->add_provider(js_dir_provider, NULL) != 0) {
            rp_log(JS_SELF, RP_LOG_ERR, "cannot register the directory function with mod_dirlist");
            return RP_ERROR;
        }
    }
    const rp_static_api *st = rp_service_get(RP_STATIC_SERVICE, 1);
    if (c->beginfunc && c->begin_on_file) {
        if (!st || st->add_file_hook(js_file_hook, NULL) != 0) {
            rp_log(JS_SELF, RP_LOG_ERR, "BeginFuncOnFile: %s",
                   st ? "cannot register with mod_static" : "needs mod_static loaded");
            return RP_ERROR;
        }
    } else if (st) {
        st->remove_file_hook(js_file_hook, NULL); /* a reload turned it off */
    }
    if (js_ws_post_config(c) != RP_OK)
        return RP_ERROR;
    if (c->secure)
        rp_log(JS_SELF, RP_LOG_WARN,
               "secure: TLS is not available yet (no loaded module provides it); serving "
               "plain HTTP");
    return RP_OK;
}

RP_MODULE_DECLARE(js) = {
    RP_MODULE_HEADER,
    .name = "js",
    .version = "0.1.0",
    .directives = js_directives,
    .create_conf = js_create_conf,
    .map_target = map_target,
    .register_hooks = js_register_hooks,
    .post_config = js_post_config,
    .worker_init = js_worker_init,
    .worker_exit = js_worker_exit,
    .handler = js_handler,
    .route_directives = js_route_directives,
    .create_route_conf = js_create_route_conf,
    .merge_route_conf = js_merge_route_conf,
};
