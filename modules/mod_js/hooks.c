/* hooks.c - start()'s beginFunc, endFunc and logFunc (mod_js).
 *
 *   BeginFunc target   function(req) before every mapped function: it may
 *                      change req (the mapped function sees the change);
 *                      false answers 404, an object answers with it (the
 *                      mapped function is skipped), anything else goes on
 *   EndFunc target     function(req) after every mapped function, with
 *                      req.reply = its return value; what req.reply holds
 *                      afterwards is sent
 *   LogFunc target     function(logdata, logline) in place of the access
 *                      log line (only while access logging is on): logline
 *                      is the line the core would write, logdata its parts
 *
 *   BeginFuncOnFile on BeginFunc also runs before every static file with
 *                      req.fsPath = the file's real path (mod_static's
 *                      "static" service, rp_static.h): false answers 404,
 *                      an object answers instead of the file, a changed
 *                      req.fsPath sends that file (mod_static refuses one
 *                      outside every mapped directory: 404)
 *
 * target: a module file, or "js:function:NAME" from start().  BeginFunc
 * (unless BeginFuncOnFile) and EndFunc never run for static files,
 * notFoundFunc or directoryFunc; they
 * run in the mapped function's call (mod_js.c run_cb): same worker heap,
 * same ScriptTimeout, and a throw is handled as the mapped function's own
 * error (logged; 500 in developer mode, else 404 / notFoundFunc).
 * Websockets (ws_js.c): beginFunc runs once before the first call (false
 * closes with 1008, an object is sent as the first message instead of the
 * call); endFunc once after the close and the wsOnDisconnect callbacks,
 * with req.reply = {} and no effect.  LogFunc runs for every request from
 * mod_js's LOG hook (mod_js.c js_log_hook).  Without them configured a
 * request costs one pointer test each.
 */
#include <string.h>
#include <time.h>

#include "js_http.h"

int js_hook_begin(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx)
{
    req_idx = duk_normalize_index(ctx, req_idx);
    if (!js_push_target(ctx, r, c->beginfunc))
        return JS_HOOK_GO_ON; /* a module without a function: nothing to run */
    duk_dup(ctx, req_idx);
    duk_call(ctx, 1);
    if (duk_is_boolean(ctx, -1) && !duk_get_boolean(ctx, -1)) {
        duk_pop(ctx);
        return JS_HOOK_404;
    }
    /* a return object: not a function, array or buffer */
    if (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1) && !duk_is_array(ctx, -1) &&
        !duk_is_buffer_data(ctx, -1))
        return JS_HOOK_REPLY;
    duk_pop(ctx);
    return JS_HOOK_GO_ON;
}

int js_hook_file(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx, const char *fs,
                 const char **replace)
{
    req_idx = duk_normalize_index(ctx, req_idx);
    int h = js_hook_begin(ctx, r, c, req_idx);
    if (h != JS_HOOK_GO_ON)
        return h;
    duk_get_prop_literal(ctx, req_idx, "fsPath");
    const char *now = duk_get_string(ctx, -1);
    if (now && strcmp(now, fs) != 0)
        *replace = rp_pstrdup(rp_req_pool(r), now);
    duk_pop(ctx);
    return JS_HOOK_GO_ON;
}

void js_hook_end(duk_context *ctx, rp_req *r, const js_conf *c, duk_idx_t req_idx)
{
    req_idx = duk_normalize_index(ctx, req_idx);
    duk_dup(ctx, -1);
    duk_put_prop_literal(ctx, req_idx, "reply");
    if (!js_push_target(ctx, r, c->endfunc))
        return;
    duk_dup(ctx, req_idx);
    duk_call(ctx, 1);
    duk_pop(ctx); /* its return value means nothing: req.reply does */
    duk_pop(ctx);
    duk_get_prop_literal(ctx, req_idx, "reply");
}

static duk_ret_t ws_end_safe(duk_context *ctx, void *udata)
{
    const js_conf *c = udata;
    duk_idx_t req = duk_get_top_index(ctx);
    duk_push_object(ctx);
    duk_put_prop_literal(ctx, req, "reply");
    /* hook targets never need the request: a function or a module's export */
    if (!js_push_target(ctx, NULL, c->endfunc))
        return 0;
    duk_dup(ctx, req);
    duk_call(ctx, 1);
    return 0;
}

void js_hook_ws_end(duk_context *ctx, const js_conf *c, duk_idx_t req_idx)
{
    duk_idx_t top = duk_get_top(ctx);
    duk_dup(ctx, req_idx);
    if (duk_safe_call(ctx, ws_end_safe, (void *)c, 1, 1) != DUK_EXEC_SUCCESS)
        js_report_error(ctx, -1, "endFunc (websocket close)");
    duk_set_top(ctx, top);
}

static void put_str(duk_context *ctx, const char *key, const char *v)
{
    duk_push_string(ctx, v ? v : "");
    duk_put_prop_string(ctx, -2, key);
}

duk_ret_t js_hook_log(duk_context *ctx, void *udata)
{
    const js_log_call *lc = udata;
    rp_req *r = lc->r;
    if (!js_push_target(ctx, r, lc->c->logfunc))
        return 0;
    duk_push_object(ctx);
    put_str(ctx, "addr", rp_req_remote_ip(r));
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S %z", &tm);
    put_str(ctx, "dateStr", date);
    put_str(ctx, "method", rp_req_method(r));
    put_str(ctx, "path", rp_req_path(r));
    put_str(ctx, "query", rp_req_query(r));
    put_str(ctx, "protocol", rp_req_protocol(r));
    duk_push_int(ctx, rp_resp_status(r));
    duk_put_prop_literal(ctx, -2, "code");
    duk_push_number(ctx, (double)rp_resp_bytes_sent(r));
    duk_put_prop_literal(ctx, -2, "length");
    put_str(ctx, "referer", rp_req_header(r, "Referer"));
    put_str(ctx, "userAgent", rp_req_header(r, "User-Agent"));
    duk_push_number(ctx, rp_req_age(r) * 1000.0);
    duk_put_prop_literal(ctx, -2, "timeMs");
    duk_push_lstring(ctx, lc->line, lc->len);
    duk_call(ctx, 2);
    return 0;
}

static const char *set_hook(rp_cmd *cmd, js_conf *c, js_target **slot, const char *target)
{
    const char *err = NULL;
    *slot = js_parse_target(cmd, c, rp_psprintf(rp_cmd_pool(cmd), "(%s)", rp_cmd_name(cmd)), target,
                            &err);
    return *slot ? NULL : err;
}

const char *js_set_begin_func(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    js_conf *c = conf;
    return set_hook(cmd, c, &c->beginfunc, argv[0]);
}

const char *js_set_end_func(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    js_conf *c = conf;
    return set_hook(cmd, c, &c->endfunc, argv[0]);
}

const char *js_set_log_func(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    js_conf *c = conf;
    return set_hook(cmd, c, &c->logfunc, argv[0]);
}
