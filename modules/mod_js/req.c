/* req.c - the request object handed to mapped functions (mod_js, HTTP half).
 *
 *   { ip, port, method, path: {file, path, base, scheme, host, url},
 *     query, body, query_raw, cookies, headers, [postData], params,
 *     [errMsg], [fsPath] }
 *
 * and, inherited (non-enumerable, stream.c): printf, put, getpos, rewind,
 * getBuffer, reply, chunkSend, chunkEnd.
 *
 * params merges, lowest priority first: POST data, query, cookies, headers
 * (the spec: "headers, cookies, GET query parameters and POST data,
 * prioritized in that order").  Buffers are plain Duktape buffers.
 *
 * Bodies: application/x-www-form-urlencoded and application/json are
 * parsed; multipart/form-data is split into parts.  A JSON or multipart body
 * that does not parse is answered 400 with the reason (documented choice).
 *
 * postData and params are built on first read (accessors that replace
 * themselves with plain data properties): a handler that never looks at
 * them pays nothing for a large form, and one that does pays once.  Before
 * the handler runs only cheap checks are made, without building anything: a
 * form with more fields (urlencoded pairs or multipart parts) than
 * MaxFormParams is answered 413, a malformed multipart body 400.  JSON is
 * decoded up front, as a bad one must be answered 400 before the handler
 * runs.  Everything the accessors need lives in hidden properties of the
 * req object itself, never the rp_req: a req kept past its request (a
 * deferred reply, a global) still reads correctly.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "js_stream.h"

/* Hidden properties of a req object, read by the postData / params
 * accessors. */
#define K_BODY DUK_HIDDEN_SYMBOL("rpBody")       /* the body buffer */
#define K_CTYPE DUK_HIDDEN_SYMBOL("rpCtype")     /* Content-Type, if any */
#define K_JSON DUK_HIDDEN_SYMBOL("rpJson")       /* a JSON body, decoded */
#define K_QUERY DUK_HIDDEN_SYMBOL("rpQuery")     /* \                      */
#define K_COOKIES DUK_HIDDEN_SYMBOL("rpCookies") /*  | the objects params   */
#define K_HEADERS DUK_HIDDEN_SYMBOL("rpHeaders") /* /  merges               */
#define K_POST DUK_HIDDEN_SYMBOL("rpPost")       /* postData, once built */
#define K_POSTP DUK_HIDDEN_SYMBOL("rpPostP")     /* what the body adds to params */
/* The four accessor functions, made once per heap (heap stash). */
#define K_ACCESSORS DUK_HIDDEN_SYMBOL("rpReqAccessors")

const char *js_set_max_form_params(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    char *end;
    long v = strtol(argv[0], &end, 10);
    if (end == argv[0] || *end || v < 1)
        return rp_cmd_error(cmd, "MaxFormParams: expected a number >= 1, got '%s'", argv[0]);
    ((js_conf *)conf)->max_form_params = v;
    return NULL;
}

static long max_form_params(rp_req *r)
{
    const js_conf *c = rp_req_conf(r, JS_SELF);
    return c && c->max_form_params > 0 ? c->max_form_params : JS_MAX_FORM_PARAMS;
}

/* Keys starting with these bytes would become Duktape symbols (hidden
 * properties): never let a client create one. */
static int symbol_key(const char *k, size_t n)
{
    unsigned char c = n ? (unsigned char)k[0] : 0;
    return c == 0x80 || c == 0x81 || c == 0x82 || c == 0xff;
}

/* obj[key] = value at the top (popped); an existing key becomes an array
 * of all its values, in order. */
static void put_multi(duk_context *ctx, duk_idx_t obj, const char *k, size_t klen)
{
    duk_push_lstring(ctx, k, klen);
    if (!duk_get_prop(ctx, obj)) { /* pushes the old value (or undefined) */
        duk_pop(ctx);
        duk_push_lstring(ctx, k, klen);
        duk_insert(ctx, -2);
        duk_put_prop(ctx, obj);
        return;
    }
    if (duk_is_array(ctx, -1)) { /* [value, arr] */
        duk_swap_top(ctx, -2);   /* [arr, value] */
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)duk_get_length(ctx, -2));
        duk_pop(ctx);
        return;
    }
    duk_push_array(ctx);   /* [value, old, arr] */
    duk_swap_top(ctx, -2); /* [value, arr, old] */
    duk_put_prop_index(ctx, -2, 0);
    duk_swap_top(ctx, -2); /* [arr, value] */
    duk_put_prop_index(ctx, -2, 1);
    duk_push_lstring(ctx, k, klen);
    duk_insert(ctx, -2);
    duk_put_prop(ctx, obj);
}

typedef struct kv_state {
    duk_context *ctx;
    duk_idx_t obj;
    int multi; /* repeated keys become arrays (else the last wins) */
} kv_state;

static int on_kv(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    kv_state *s = arg;
    if (symbol_key(k, kl))
        return 0;
    duk_push_lstring(s->ctx, v, vl);
    if (s->multi) {
        put_multi(s->ctx, s->obj, k, kl);
    } else {
        duk_push_lstring(s->ctx, k, kl);
        duk_insert(s->ctx, -2);
        duk_put_prop(s->ctx, s->obj);
    }
    return 0;
}

/* Push an object of the decoded pairs of a query or urlencoded body.  The
 * decoding copy is freed at once (a pool copy of a large body would live as
 * long as the request); a failed allocation leaves the object empty. */
static void push_query(duk_context *ctx, const char *s, size_t n)
{
    duk_push_object(ctx);
    char *buf = n ? malloc(n) : NULL;
    if (!buf)
        return;
    memcpy(buf, s, n);
    kv_state st = {ctx, duk_get_top_index(ctx), 1};
    js_parse_query(buf, n, on_kv, &st);
    free(buf);
}

static void push_cookies(duk_context *ctx, rp_req *r)
{
    duk_push_object(ctx);
    kv_state st = {ctx, duk_get_top_index(ctx), 0};
    const char *name, *value;
    for (size_t i = 0; rp_req_header_at(r, i, &name, &value) == 0; i++) {
        if (strcasecmp(name, "Cookie") != 0)
            continue;
        char *buf = rp_pstrdup(rp_req_pool(r), value);
        js_parse_cookies(buf, strlen(buf), on_kv, &st);
    }
}

/* Headers by their name as sent; a repeated header joins with ", " ("; "
 * for Cookie). */
static void push_headers(duk_context *ctx, rp_req *r)
{
    duk_push_object(ctx);
    duk_idx_t obj = duk_get_top_index(ctx);
    const char *name, *value;
    for (size_t i = 0; rp_req_header_at(r, i, &name, &value) == 0; i++) {
        if (symbol_key(name, strlen(name)))
            continue;
        if (duk_get_prop_string(ctx, obj, name)) {
            duk_push_string(ctx, strcasecmp(name, "Cookie") == 0 ? "; " : ", ");
            duk_push_string(ctx, value);
            duk_concat(ctx, 3);
        } else {
            duk_pop(ctx);
            duk_push_string(ctx, value);
        }
        duk_put_prop_string(ctx, obj, name);
    }
}

static void push_path(duk_context *ctx, rp_req *r)
{
    rp_pool *p = rp_req_pool(r);
    const char *path = rp_req_path(r);
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    const char *scheme = rp_req_is_tls(r) ? "https://" : "http://";
    const char *host = rp_req_header(r, "Host");
    if (!host || !*host) {
        const char *ip = rp_req_local_ip(r);
        host = rp_psprintf(p, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, rp_req_local_port(r));
    }
    duk_push_object(ctx);
    duk_push_string(ctx, file);
    duk_put_prop_string(ctx, -2, "file");
    duk_push_string(ctx, path);
    duk_put_prop_string(ctx, -2, "path");
    duk_push_lstring(ctx, path, (duk_size_t)(file - path));
    duk_put_prop_string(ctx, -2, "base");
    duk_push_string(ctx, scheme);
    duk_put_prop_string(ctx, -2, "scheme");
    duk_push_string(ctx, host);
    duk_put_prop_string(ctx, -2, "host");
    duk_push_sprintf(ctx, "%s%s%s", scheme, host, rp_req_uri(r));
    duk_put_prop_string(ctx, -2, "url");
}

/* ---- multipart ------------------------------------------------------------ */

typedef struct mp_state {
    duk_context *ctx;
    duk_idx_t arr;
    duk_idx_t params; /* files by filename, fields by name */
    duk_uarridx_t n;
} mp_state;

/* The checking pass: count parts, stop one past the limit. */
typedef struct mp_count {
    long n, max;
} mp_count;

static int on_part_count(void *arg, const js_part *part)
{
    (void)part;
    mp_count *c = arg;
    return ++c->n > c->max;
}

static int on_part_header(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    mp_state *s = arg;
    duk_context *ctx = s->ctx;
    if (symbol_key(k, kl))
        return 0;
    if (kl == 19 && strncasecmp(k, "Content-Disposition", 19) == 0) {
        char buf[1024];
        size_t tl = 0;
        while (tl < vl && v[tl] != ';' && v[tl] != ' ' && v[tl] != '\t')
            tl++;
        duk_push_lstring(ctx, v, tl);
        duk_put_prop_string(ctx, -2, "Content-Disposition");
        if (js_header_param(v, vl, "name", buf, sizeof buf) >= 0) {
            duk_push_string(ctx, buf);
            duk_put_prop_string(ctx, -2, "name");
        }
        if (js_header_param(v, vl, "filename", buf, sizeof buf) >= 0) {
            duk_push_string(ctx, buf);
            duk_put_prop_string(ctx, -2, "filename");
        }
        return 0;
    }
    if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0)
        duk_push_string(ctx, "Content-Type");
    else
        duk_push_lstring(ctx, k, kl);
    duk_push_lstring(ctx, v, vl);
    duk_put_prop(ctx, -3);
    return 0;
}

static int on_part(void *arg, const js_part *part)
{
    mp_state *s = arg;
    duk_context *ctx = s->ctx;
    duk_push_object(ctx);
    js_parse_header_block(part->hdrs, part->hlen, on_part_header, s);
    void *buf = duk_push_fixed_buffer(ctx, part->dlen);
    if (part->dlen)
        memcpy(buf, part->data, part->dlen);
    /* params: a file under its file name, a field under its name. */
    const char *key = NULL;
    if (duk_get_prop_string(ctx, -2, "filename") && duk_is_string(ctx, -1))
        key = duk_get_string(ctx, -1);
    else {
        duk_pop(ctx);
        if (duk_get_prop_string(ctx, -2, "name") && duk_is_string(ctx, -1))
            key = duk_get_string(ctx, -1);
    }
    if (key && *key && !symbol_key(key, strlen(key))) {
        duk_dup(ctx, -2);
        duk_put_prop_string(ctx, s->params, key);
    }
    duk_pop(ctx);
    duk_put_prop_string(ctx, -2, "content");
    duk_put_prop_index(ctx, s->arr, s->n++);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static duk_ret_t json_decode_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_json_decode(ctx, -1);
    return 1;
}

/* Copy the own enumerable properties of the object at src into dst. */
static void copy_props(duk_context *ctx, duk_idx_t src, duk_idx_t dst)
{
    if (!duk_is_object(ctx, src) || duk_is_array(ctx, src) || duk_is_buffer_data(ctx, src))
        return;
    duk_enum(ctx, src, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1))
        duk_put_prop(ctx, dst);
    duk_pop(ctx);
}

/* ---- checks before the handler runs ----------------------------------------- */

static int too_many(rp_pool *p, long max, const char **why)
{
    *why = rp_psprintf(p,
                       "the form has more than %ld fields (MaxFormParams); send fewer fields "
                       "or raise the limit",
                       max);
    return 413;
}

/* Check the body against its Content-Type without building anything; a
 * JSON body is decoded onto the stack (left there for K_JSON), anything
 * else pushes undefined.  Returns 0, or 400 / 413 with *why. */
static int check_body(duk_context *ctx, rp_req *r, const char *body, size_t len, long max,
                      const char **why)
{
    rp_pool *p = rp_req_pool(r);
    const char *ctype = rp_req_header(r, "Content-Type");
    char boundary[128];
    duk_push_undefined(ctx);
    if (js_ctype_is(ctype, "application/x-www-form-urlencoded")) {
        if (js_query_count(body, len) > (size_t)max)
            return too_many(p, max, why);
    } else if (js_ctype_is(ctype, "multipart/form-data")) {
        if (js_multipart_boundary(ctype, boundary, sizeof boundary) < 0) {
            *why = "multipart/form-data without a usable boundary parameter";
            return 400;
        }
        mp_count c = {0, max};
        long n = js_parse_multipart(body, len, boundary, on_part_count, &c);
        if (c.n > max)
            return too_many(p, max, why);
        if (n < 0) {
            *why = "malformed multipart/form-data body";
            return 400;
        }
    } else if (js_ctype_is(ctype, "application/json")) {
        if (!js_utf8_valid(body, len)) {
            *why = "the application/json body is not UTF-8";
            return 400;
        }
        duk_pop(ctx);
        duk_push_lstring(ctx, body, len);
        if (duk_safe_call(ctx, json_decode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
            *why = rp_psprintf(p, "the application/json body does not parse: %s",
                               duk_safe_to_string(ctx, -1));
            return 400;
        }
    }
    return 0;
}

/* ---- building postData and params on first read ------------------------------ */

/* Push postData and what it adds to params (undefined if nothing) for the
 * req at req_idx, from its hidden body, Content-Type and decoded JSON. */
static void build_post(duk_context *ctx, duk_idx_t req_idx)
{
    duk_get_prop_string(ctx, req_idx, K_BODY);
    duk_size_t len = 0;
    const char *body = duk_get_buffer_data(ctx, -1, &len);
    duk_get_prop_string(ctx, req_idx, K_CTYPE);
    const char *ctype = duk_get_string(ctx, -1);
    duk_push_object(ctx);
    duk_idx_t post = duk_get_top_index(ctx);
    duk_push_undefined(ctx);
    duk_idx_t postp = duk_get_top_index(ctx);
    char boundary[128];
    if (js_ctype_is(ctype, "application/x-www-form-urlencoded")) {
        duk_push_string(ctx, "application/x-www-form-urlencoded");
        duk_put_prop_string(ctx, post, "Content-Type");
        push_query(ctx, body, len);
        duk_dup_top(ctx);
        duk_replace(ctx, postp);
    } else if (js_ctype_is(ctype, "multipart/form-data") &&
               js_multipart_boundary(ctype, boundary, sizeof boundary) >= 0) {
        duk_push_string(ctx, "multipart/form-data");
        duk_put_prop_string(ctx, post, "Content-Type");
        duk_push_object(ctx);
        duk_replace(ctx, postp);
        duk_push_array(ctx);
        mp_state st = {ctx, duk_get_top_index(ctx), postp, 0};
        /* checked before the handler ran: well-formed, within the limit */
        js_parse_multipart(body, len, boundary, on_part, &st);
    } else if (js_ctype_is(ctype, "application/json")) {
        duk_push_string(ctx, "application/json");
        duk_put_prop_string(ctx, post, "Content-Type");
        duk_get_prop_string(ctx, req_idx, K_JSON);
        duk_dup_top(ctx);
        duk_replace(ctx, postp);
    } else {
        if (ctype) {
            duk_push_string(ctx, ctype);
            duk_put_prop_string(ctx, post, "Content-Type");
        }
        duk_get_prop_string(ctx, req_idx, K_BODY);
    }
    duk_put_prop_string(ctx, post, "content");
    /* [ body ctype post postp ] -> [ post postp ] */
    duk_remove(ctx, post - 1);
    duk_remove(ctx, post - 2);
}

/* Replace the accessor `key` of the object at obj_idx by a plain data
 * property holding the value at the top (left on the stack). */
static void settle(duk_context *ctx, duk_idx_t obj_idx, const char *key)
{
    obj_idx = duk_normalize_index(ctx, obj_idx);
    duk_push_string(ctx, key);
    duk_dup(ctx, -2);
    duk_def_prop(ctx, obj_idx, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE |
                                   DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
}

/* Push postData for the req at req_idx, building it once. */
static void push_post_once(duk_context *ctx, duk_idx_t req_idx)
{
    if (duk_get_prop_string(ctx, req_idx, K_POST))
        return;
    duk_pop(ctx);
    build_post(ctx, req_idx);
    duk_put_prop_string(ctx, req_idx, K_POSTP);
    duk_dup_top(ctx);
    duk_put_prop_string(ctx, req_idx, K_POST);
}

static duk_ret_t post_get(duk_context *ctx)
{
    duk_push_this(ctx);
    duk_idx_t req = duk_get_top_index(ctx);
    if (!duk_has_prop_string(ctx, req, K_BODY))
        return 0; /* not a request object */
    push_post_once(ctx, req);
    settle(ctx, req, "postData");
    return 1;
}

static duk_ret_t params_get(duk_context *ctx)
{
    duk_push_this(ctx);
    duk_idx_t req = duk_get_top_index(ctx);
    if (!duk_has_prop_string(ctx, req, K_QUERY))
        return 0; /* not a request object */
    duk_push_object(ctx);
    duk_idx_t params = duk_get_top_index(ctx);
    /* lowest priority first: POST data, query, cookies, headers */
    if (duk_has_prop_string(ctx, req, K_BODY)) {
        push_post_once(ctx, req);
        duk_get_prop_string(ctx, req, K_POSTP);
        copy_props(ctx, -1, params);
        duk_pop_2(ctx);
    }
    static const char *const from[] = {K_QUERY, K_COOKIES, K_HEADERS};
    for (int i = 0; i < 3; i++) {
        duk_get_prop_string(ctx, req, from[i]);
        copy_props(ctx, -1, params);
        duk_pop(ctx);
    }
    settle(ctx, req, "params");
    return 1;
}

/* Assigning req.postData or req.params simply replaces the accessor. */
static duk_ret_t post_set(duk_context *ctx)
{
    duk_push_this(ctx);
    duk_dup(ctx, 0);
    settle(ctx, -2, "postData");
    return 0;
}

static duk_ret_t params_set(duk_context *ctx)
{
    duk_push_this(ctx);
    duk_dup(ctx, 0);
    settle(ctx, -2, "params");
    return 0;
}

/* Push the getter and setter for `which` (0 postData, 1 params), made once
 * per heap. */
static void push_accessors(duk_context *ctx, int which)
{
    static const duk_c_function fns[4] = {post_get, post_set, params_get, params_set};
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_string(ctx, -1, K_ACCESSORS)) {
        duk_pop(ctx);
        duk_push_array(ctx);
        for (int i = 0; i < 4; i++) {
            duk_push_c_function(ctx, fns[i], i % 2 ? 1 : 0);
            duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
        }
        duk_dup_top(ctx);
        duk_put_prop_string(ctx, -3, K_ACCESSORS);
    }
    duk_get_prop_index(ctx, -1, (duk_uarridx_t)(2 * which));
    duk_get_prop_index(ctx, -2, (duk_uarridx_t)(2 * which + 1));
    duk_remove(ctx, -3);
    duk_remove(ctx, -3);
}

static void define_lazy(duk_context *ctx, duk_idx_t req_idx, const char *key, int which)
{
    duk_push_string(ctx, key);
    push_accessors(ctx, which);
    duk_def_prop(ctx, req_idx, DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_SETTER |
                                   DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
}

static void put_hidden(duk_context *ctx, duk_idx_t req_idx, duk_idx_t val, const char *key)
{
    duk_dup(ctx, val);
    duk_put_prop_string(ctx, req_idx, key);
}

int js_push_req(duk_context *ctx, rp_req *r, const js_extra *ex, const char **why)
{
    size_t blen = 0;
    const char *body = rp_req_body(r, &blen);
    const char *q = rp_req_query(r);

    duk_push_object(ctx);
    duk_idx_t req = duk_get_top_index(ctx);
    /* notFoundFunc / directoryFunc answer within the core's error handling:
     * no defer or chunk callbacks there */
    js_stream_begin(ctx, r, req, !ex || (!ex->fspath && ex->default_status == 200));
    duk_push_string(ctx, rp_req_remote_ip(r));
    duk_put_prop_string(ctx, req, "ip");
    duk_push_int(ctx, rp_req_remote_port(r));
    duk_put_prop_string(ctx, req, "port");
    duk_push_string(ctx, rp_req_method(r));
    duk_put_prop_string(ctx, req, "method");
    push_path(ctx, r);
    duk_put_prop_string(ctx, req, "path");

    if (blen) {
        long max = max_form_params(r);
        int st = check_body(ctx, r, body, blen, max, why);
        if (st)
            return st;
        duk_put_prop_string(ctx, req, K_JSON);
        const char *ctype = rp_req_header(r, "Content-Type");
        if (ctype) {
            duk_push_string(ctx, ctype);
            duk_put_prop_string(ctx, req, K_CTYPE);
        }
    }
    push_query(ctx, q ? q : "", q ? strlen(q) : 0);
    duk_idx_t query = duk_get_top_index(ctx);
    void *b = duk_push_fixed_buffer(ctx, blen);
    if (blen)
        memcpy(b, body, blen);
    duk_idx_t body_idx = duk_get_top_index(ctx);
    push_cookies(ctx, r);
    duk_idx_t cookies = duk_get_top_index(ctx);
    push_headers(ctx, r);
    duk_idx_t headers = duk_get_top_index(ctx);

    /* In the spec's order: query, body, query_raw, cookies, headers. */
    put_hidden(ctx, req, query, "query");
    put_hidden(ctx, req, body_idx, "body");
    duk_push_string(ctx, q ? q : "");
    duk_put_prop_string(ctx, req, "query_raw");
    put_hidden(ctx, req, cookies, "cookies");
    put_hidden(ctx, req, headers, "headers");
    put_hidden(ctx, req, query, K_QUERY);
    put_hidden(ctx, req, cookies, K_COOKIES);
    put_hidden(ctx, req, headers, K_HEADERS);
    if (blen) {
        put_hidden(ctx, req, body_idx, K_BODY);
        define_lazy(ctx, req, "postData", 0);
    }
    define_lazy(ctx, req, "params", 1);

    if (ex && ex->errmsg) {
        duk_push_string(ctx, ex->errmsg);
        duk_put_prop_string(ctx, req, "errMsg");
    }
    if (ex && ex->fspath) {
        duk_push_string(ctx, ex->fspath);
        duk_put_prop_string(ctx, req, "fsPath");
    }
    duk_set_top(ctx, req + 1);
    return 0;
}
