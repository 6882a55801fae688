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
 */
#include <string.h>
#include <strings.h>

#include "js_stream.h"

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

/* Push an object of the decoded pairs of a query or urlencoded body. */
static void push_query(duk_context *ctx, rp_pool *p, const char *s, size_t n)
{
    duk_push_object(ctx);
    if (!n)
        return;
    char *buf = rp_pstrndup(p, s, n);
    kv_state st = {ctx, duk_get_top_index(ctx), 1};
    js_parse_query(buf, n, on_kv, &st);
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

/* postData for the body at body_idx; params (lowest priority) at params_idx.
 * Returns 0 or 400 with *why. */
static int push_post(duk_context *ctx, rp_req *r, const char *body, size_t len, duk_idx_t body_idx,
                     duk_idx_t params_idx, const char **why)
{
    rp_pool *p = rp_req_pool(r);
    const char *ctype = rp_req_header(r, "Content-Type");
    char boundary[128];
    duk_push_object(ctx);
    duk_idx_t post = duk_get_top_index(ctx);
    if (js_ctype_is(ctype, "application/x-www-form-urlencoded")) {
        duk_push_string(ctx, "application/x-www-form-urlencoded");
        duk_put_prop_string(ctx, post, "Content-Type");
        push_query(ctx, p, body, len);
        copy_props(ctx, -1, params_idx);
    } else if (js_ctype_is(ctype, "multipart/form-data")) {
        if (js_multipart_boundary(ctype, boundary, sizeof boundary) < 0) {
            *why = "multipart/form-data without a usable boundary parameter";
            return 400;
        }
        duk_push_string(ctx, "multipart/form-data");
        duk_put_prop_string(ctx, post, "Content-Type");
        duk_push_array(ctx);
        mp_state st = {ctx, duk_get_top_index(ctx), params_idx, 0};
        if (js_parse_multipart(body, len, boundary, on_part, &st) < 0) {
            *why = "malformed multipart/form-data body";
            return 400;
        }
    } else if (js_ctype_is(ctype, "application/json")) {
        duk_push_string(ctx, "application/json");
        duk_put_prop_string(ctx, post, "Content-Type");
        duk_push_lstring(ctx, body, len);
        if (duk_safe_call(ctx, json_decode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
            *why = rp_psprintf(p, "the application/json body does not parse: %s",
                               duk_safe_to_string(ctx, -1));
            return 400;
        }
        copy_props(ctx, -1, params_idx);
    } else {
        if (ctype) {
            duk_push_string(ctx, ctype);
            duk_put_prop_string(ctx, post, "Content-Type");
        }
        duk_dup(ctx, body_idx);
    }
    duk_put_prop_string(ctx, post, "content");
    return 0;
}

int js_push_req(duk_context *ctx, rp_req *r, const js_extra *ex, const char **why)
{
    rp_pool *p = rp_req_pool(r);
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

    push_query(ctx, p, q ? q : "", q ? strlen(q) : 0);
    duk_idx_t query = duk_get_top_index(ctx);
    void *b = duk_push_fixed_buffer(ctx, blen);
    if (blen)
        memcpy(b, body, blen);
    duk_idx_t body_idx = duk_get_top_index(ctx);
    duk_push_string(ctx, q ? q : "");
    push_cookies(ctx, r);
    duk_idx_t cookies = duk_get_top_index(ctx);
    push_headers(ctx, r);
    duk_idx_t headers = duk_get_top_index(ctx);
    duk_push_object(ctx);
    duk_idx_t params = duk_get_top_index(ctx);

    /* In the spec's order: query, body, query_raw, cookies, headers. */
    duk_dup(ctx, query);
    duk_put_prop_string(ctx, req, "query");
    duk_dup(ctx, body_idx);
    duk_put_prop_string(ctx, req, "body");
    duk_dup(ctx, body_idx + 1);
    duk_put_prop_string(ctx, req, "query_raw");
    duk_dup(ctx, cookies);
    duk_put_prop_string(ctx, req, "cookies");
    duk_dup(ctx, headers);
    duk_put_prop_string(ctx, req, "headers");

    if (blen) {
        int st = push_post(ctx, r, body, blen, body_idx, params, why);
        if (st)
            return st;
        duk_put_prop_string(ctx, req, "postData");
    }
    copy_props(ctx, query, params);
    copy_props(ctx, cookies, params);
    copy_props(ctx, headers, params);
    duk_dup(ctx, params);
    duk_put_prop_string(ctx, req, "params");

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
