/* reply.c - the return object of mapped functions (mod_js, HTTP half).
 *
 *   { <ext>: String | Buffer | "@/path/file" | "\\@literal" | other,
 *     status: 100..599, headers: {name: value | [values...]},
 *     compress: true | false | 0..10,
 *     defer: true,                        answer later with req.reply(obj)
 *     chunk: true, chunkDelay: ms }       <ext> may be a function: see stream.c
 *
 * The first key that is a known extension (rp_mime_type, i.e. mime.types
 * plus MimeMap) gives the body and its Content-Type; a "content-type"
 * header overrides it.  Other values are sent as JSON (objects) or their
 * string form.  "@path" sends a file (relative paths resolve against the
 * main script's directory); a missing file is 404.  What req.printf / req.put
 * left in the server buffer goes out first (stream.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "js_stream.h"

/* Keys of the return object that are not a body. */
static int is_meta_key(const char *k)
{
    return strcmp(k, "status") == 0 || strcmp(k, "headers") == 0 || strcmp(k, "compress") == 0 ||
           strcmp(k, "defer") == 0 || strcmp(k, "chunk") == 0 || strcmp(k, "chunkDelay") == 0 ||
           strcmp(k, "noRangeCap") == 0 || strcmp(k, "noAcceptRanges") == 0;
}

static const char *type_name(duk_context *ctx, duk_idx_t idx)
{
    switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_UNDEFINED: return "undefined";
    case DUK_TYPE_NULL: return "null";
    case DUK_TYPE_BOOLEAN: return "a boolean";
    case DUK_TYPE_NUMBER: return "a number";
    case DUK_TYPE_STRING: return "a string";
    case DUK_TYPE_BUFFER: return "a buffer";
    default: break;
    }
    if (duk_is_function(ctx, idx))
        return "a function";
    if (duk_is_array(ctx, idx))
        return "an array";
    if (duk_is_buffer_data(ctx, idx))
        return "a buffer";
    return "an object";
}

static void add_hdr(rp_pool *p, js_plan *plan, size_t *cap, const char *name, const char *value)
{
    if (plan->nhdrs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        js_hdr *n = rp_palloc(p, ncap * sizeof *n);
        if (plan->nhdrs)
            memcpy(n, plan->hdrs, plan->nhdrs * sizeof *n);
        plan->hdrs = n;
        *cap = ncap;
    }
    plan->hdrs[plan->nhdrs].name = rp_pstrdup(p, name);
    plan->hdrs[plan->nhdrs].value = rp_pstrdup(p, value);
    plan->nhdrs++;
}

/* headers: {name: value | [values]}; the object is at the top. */
static void take_headers(duk_context *ctx, rp_req *r, js_plan *plan)
{
    rp_pool *p = rp_req_pool(r);
    size_t cap = 0;
    if (!duk_is_object(ctx, -1) || duk_is_array(ctx, -1) || duk_is_function(ctx, -1)) {
        plan->why = rp_psprintf(p, "'headers' must be an object of name: value, got %s",
                                type_name(ctx, -1));
        duk_pop(ctx);
        return;
    }
    duk_enum(ctx, -1, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        const char *name = duk_get_string(ctx, -2);
        if (duk_is_array(ctx, -1)) {
            duk_size_t n = duk_get_length(ctx, -1);
            for (duk_size_t i = 0; i < n; i++) {
                duk_get_prop_index(ctx, -1, (duk_uarridx_t)i);
                add_hdr(p, plan, &cap, name, duk_to_string(ctx, -1));
                duk_pop(ctx);
            }
        } else if (!duk_is_null_or_undefined(ctx, -1)) {
            const char *v = duk_to_string(ctx, -1);
            if (strcasecmp(name, "Content-Type") == 0)
                plan->ctype = rp_pstrdup(p, v);
            else
                add_hdr(p, plan, &cap, name, v);
        }
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

/* The body value at the top: resolve its bytes (it stays on the stack). */
static void take_body(duk_context *ctx, rp_req *r, js_plan *plan)
{
    rp_pool *p = rp_req_pool(r);
    plan->has_body = 1;
    if (duk_is_null_or_undefined(ctx, -1)) {
        plan->data = "";
        plan->len = 0;
        return;
    }
    if (duk_is_buffer_data(ctx, -1)) {
        duk_size_t n = 0;
        plan->data = duk_get_buffer_data(ctx, -1, &n);
        plan->len = n;
        if (!plan->data)
            plan->data = "";
        return;
    }
    if (!duk_is_string(ctx, -1)) {
        if (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1))
            duk_json_encode(ctx, -1);
        else
            duk_to_string(ctx, -1);
    }
    duk_size_t n = 0;
    const char *s = duk_get_lstring(ctx, -1, &n);
    if (n >= 1 && s[0] == '@') {
        const js_conf *c = rp_req_conf(r, JS_SELF);
        const char *f = s + 1;
        if (f[0] != '/' && c && c->script_dir)
            f = rp_psprintf(p, "%s/%s", c->script_dir, f);
        plan->file = rp_pstrdup(p, f);
        return;
    }
    if (n >= 2 && s[0] == '\\' && s[1] == '@') {
        s++;
        n--;
    }
    plan->data = s;
    plan->len = n;
}

void js_reply_prepare(duk_context *ctx, rp_req *r, duk_idx_t idx, js_plan *plan)
{
    rp_pool *p = rp_req_pool(r);
    const char *body_key = NULL, *unknown = NULL;
    int known = 0;
    idx = duk_normalize_index(ctx, idx);
    plan->compress = -1;
    if (!duk_is_object(ctx, idx) || duk_is_array(ctx, idx) || duk_is_function(ctx, idx) ||
        duk_is_buffer_data(ctx, idx)) {
        plan->why = rp_psprintf(p,
                                "the function returned %s; return an object such as "
                                "{html: \"...\"}, {txt: ...}, {json: ...} or {jpg: buffer}",
                                type_name(ctx, idx));
        duk_push_undefined(ctx);
        return;
    }
    duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
        const char *k = duk_get_string(ctx, -1);
        if (is_meta_key(k)) {
            known = 1;
        } else if (!body_key) {
            const char *mime = rp_mime_type(rp_req_server(r), k);
            if (mime) {
                body_key = rp_pstrdup(p, k);
                plan->ctype = mime;
                known = 1;
            } else if (!unknown) {
                unknown = rp_pstrdup(p, k);
            }
        }
        duk_pop(ctx);
    }
    duk_pop(ctx);
    if (!plan->why && !known)
        plan->why = unknown ? rp_psprintf(p,
                                          "the return object has no known key: '%s' is not an "
                                          "extension in the mime table (add it with mimeMap)",
                                          unknown)
                            : "the return object has no known key (expected an extension such "
                              "as html, txt, json, or status/headers)";
    if (plan->why) {
        duk_push_undefined(ctx);
        return;
    }
    if (duk_get_prop_literal(ctx, idx, "status")) {
        double st = duk_is_number(ctx, -1) ? duk_get_number(ctx, -1) : -1;
        if (st < 100 || st > 599 || st != (double)(int)st)
            plan->why = rp_psprintf(p, "'status' must be an integer from 100 to 599, got %s",
                                    duk_safe_to_string(ctx, -1));
        else
            plan->status = (int)st;
    }
    duk_pop(ctx);
    if (duk_get_prop_literal(ctx, idx, "compress")) {
        if (duk_is_boolean(ctx, -1))
            plan->compress = duk_get_boolean(ctx, -1) ? 11 : 0;
        else if (duk_is_number(ctx, -1) && duk_get_number(ctx, -1) >= 0 &&
                 duk_get_number(ctx, -1) <= 10)
            plan->compress = (int)duk_get_number(ctx, -1);
        else
            plan->why = "'compress' must be true, false or a level from 0 to 10";
    }
    duk_pop(ctx);
    duk_get_prop_literal(ctx, idx, "defer");
    plan->defer = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    /* "@file" answers: noAcceptRanges wins over noRangeCap */
    duk_get_prop_literal(ctx, idx, "noRangeCap");
    if (duk_to_boolean(ctx, -1))
        plan->ranges = RP_RANGES_UNCAPPED;
    duk_pop(ctx);
    duk_get_prop_literal(ctx, idx, "noAcceptRanges");
    if (duk_to_boolean(ctx, -1))
        plan->ranges = RP_RANGES_OFF;
    duk_pop(ctx);
    duk_get_prop_literal(ctx, idx, "chunk");
    plan->chunk = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    if (duk_get_prop_literal(ctx, idx, "chunkDelay")) {
        double d = duk_is_number(ctx, -1) ? duk_get_number(ctx, -1) : -1;
        if (!(d >= 0 && d <= 86400000.0))
            plan->why = rp_psprintf(p, "'chunkDelay' must be a number of milliseconds >= 0, got %s",
                                    duk_safe_to_string(ctx, -1));
        else
            plan->chunk_delay = d;
    } else if (!duk_is_undefined(ctx, -1)) {
        plan->why = "'chunkDelay' must be a number of milliseconds >= 0";
    }
    duk_pop(ctx);
    if (duk_get_prop_literal(ctx, idx, "headers"))
        take_headers(ctx, r, plan);
    else
        duk_pop(ctx);
    if (body_key && !plan->why) {
        duk_get_prop_string(ctx, idx, body_key);
        if (plan->chunk && duk_is_function(ctx, -1))
            plan->has_body = 1; /* the chunk callback stays at the top */
        else
            take_body(ctx, r, plan);
    } else {
        duk_push_undefined(ctx);
    }
    if (!plan->why)
        plan->why = js_stream_prepare(ctx, r, plan);
}

static void apply_headers(rp_req *r, const js_plan *plan)
{
    rp_resp_set_status(r, plan->status);
    for (size_t i = 0; i < plan->nhdrs; i++)
        rp_resp_header_add(r, plan->hdrs[i].name, plan->hdrs[i].value);
    if (plan->ctype)
        rp_resp_header_set(r, "Content-Type", plan->ctype);
    if (plan->compress >= 0) /* the same encoding: 0 off, 1..10, 11 on */
        rp_resp_set_compress(r, plan->compress);
}

/* "@file": a whole-file answer gets the core's validators, 304, Range and
 * compression rules; with bytes printed before it, or chunked, the file is
 * only part of the body and goes as it is. */
static int send_file(rp_req *r, js_plan *plan)
{
    int fd = open(plan->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        rp_log(JS_SELF, RP_LOG_INFO, "%s: '@%s': %s", rp_req_path(r), plan->file, strerror(err));
        js_plan_drop_pre(plan);
        return err == EACCES ? 403 : 404;
    }
    int status;
    rp_file *f = rp_file_from_fd(r, fd, plan->file, &status);
    if (!f || !S_ISREG(rp_file_stat(f)->st_mode)) {
        js_plan_drop_pre(plan);
        return f ? 404 : status;
    }
    apply_headers(r, plan);
    if (!plan->chunk && plan->prelen == 0) {
        rp_resp_ranges(r, plan->ranges);
        return rp_resp_send_file(r, f);
    }
    int64_t size = (int64_t)rp_file_stat(f)->st_size;
    rp_resp_set_length(r, plan->chunk ? -1 : size + (int64_t)plan->prelen);
    if (rp_req_is_head(r)) {
        js_plan_drop_pre(plan);
        return RP_OK;
    }
    js_plan_write_pre(r, plan);
    int own = size > 0 ? dup(fd) : -1; /* fd stays the request's */
    if (own >= 0)
        rp_resp_sendfile(r, own, 0, size);
    else if (size > 0)
        return 503;
    return RP_OK;
}

int js_reply_send(rp_req *r, const js_plan *plan_in, const js_conf *c, void (*release)(void *),
                  void *arg)
{
    js_plan pl = *plan_in; /* pre and stream are handed on from this copy */
    js_plan *plan = &pl;
    if (plan->stream && plan->defer) {
        if (release)
            release(arg);
        return js_stream_start(r, plan, c);
    }
    if (plan->file) {
        if (release)
            release(arg);
        return send_file(r, plan);
    }
    apply_headers(r, plan);
    size_t len = plan->has_body && !plan->stream ? plan->len : 0;
    if (plan->chunk) {
        /* chunked (Transfer-Encoding decided by the core: length unknown);
         * not compressed unless the return object asks */
        if (plan->compress < 0)
            rp_resp_set_compress(r, RP_COMPRESS_OFF);
        rp_resp_set_length(r, -1);
    } else {
        rp_resp_set_length(r, (int64_t)(len + plan->prelen));
    }
    if (rp_req_is_head(r)) {
        js_plan_drop_pre(plan);
        js_stream_cancel(plan);
        if (release)
            release(arg);
        return RP_OK;
    }
    js_plan_write_pre(r, plan);
    if (plan->stream) {
        if (release)
            release(arg);
        return js_stream_start(r, plan, c);
    }
    if (len == 0) {
        if (release)
            release(arg);
        return RP_OK;
    }
    if (release)
        rp_resp_write_ref(r, plan->data, len, release, arg);
    else
        rp_resp_write(r, plan->data, len);
    return RP_OK;
}
