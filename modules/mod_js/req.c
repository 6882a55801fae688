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
 * A lazy object, driven by one table (members[], after njs's request
 * table): a handler reads two or three members, and building all of them
 * (every header, cookie and query pair interned and put) was most of a JS
 * route's cost.  Each member of the table is either put at once (cheap
 * scalars) or defined as an own, enumerable, configurable accessor whose
 * getter builds the value, caches it by replacing itself with a plain data
 * property in the same slot, and returns it; its setter does the same with
 * the value assigned.  Own enumerable properties in the spec's order, so
 * JSON.stringify, %J, Object.keys, for..in, delete and assignment see what
 * a fully built object would show.  Nothing is parsed until read.  The
 * object itself is a copy of a per-heap template holding those keys
 * (rp_duk_push_shape_copy: one allocation and one copy of the property
 * table instead of a dozen puts), with ip, port and method filled in.
 *
 * What the getters read is a copy of the request's parts (method, path,
 * headers, ...) made into one Duktape buffer when the object is made
 * (hidden K_SRC): one memcpy instead of a property per header, and a req
 * kept past its request (a deferred reply, a global, a websocket) still
 * reads correctly, never touching the rp_req.
 *
 * Before the handler runs only cheap checks are made on a body, without
 * building anything: a form with more fields (urlencoded pairs or
 * multipart parts) than MaxFormParams is answered 413, a malformed
 * multipart body 400.  JSON is decoded up front, as a bad one must be
 * answered 400 before the handler runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "js_stream.h"

/* Hidden properties of a req object, read by the getters. */
#define K_SRC DUK_HIDDEN_SYMBOL("rpSrc")         /* the request's parts (req_src) */
#define K_BODY DUK_HIDDEN_SYMBOL("rpBody")       /* the body buffer */
#define K_CTYPE DUK_HIDDEN_SYMBOL("rpCtype")     /* Content-Type, if any */
#define K_JSON DUK_HIDDEN_SYMBOL("rpJson")       /* a JSON body, decoded */
#define K_QUERY DUK_HIDDEN_SYMBOL("rpQuery")     /* \ the objects params merges, */
#define K_COOKIES DUK_HIDDEN_SYMBOL("rpCookies") /*  | as first built (a handler  */
#define K_HEADERS DUK_HIDDEN_SYMBOL("rpHeaders") /* /  may replace the members)  */
#define K_POST DUK_HIDDEN_SYMBOL("rpPost")       /* postData, once built */
#define K_POSTP DUK_HIDDEN_SYMBOL("rpPostP")     /* what the body adds to params */

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

/* duk_ownkeys.inc (appended to duktape.c): an enumerable, configurable
 * accessor [key getter setter] put straight into a fresh object. */
void rp_duk_def_accessor(duk_context *ctx, duk_idx_t obj_idx);
/* duk_ownkeys.inc: a configurable own accessor becomes a data property
 * holding the value at the top, in place; 0 when it is no such accessor. */
duk_bool_t rp_duk_accessor_to_data(duk_context *ctx, duk_idx_t obj_idx, duk_idx_t key_idx);
/* duk_ownkeys.inc: [... v1 .. vn tmpl] -> [... obj], a copy of tmpl's
 * properties (one allocation) with v1 .. vn in its first n slots. */
void rp_duk_push_shape_copy(duk_context *ctx, duk_idx_t n);

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

/* Up to this many bytes a value is decoded in a copy on the C stack. */
#define SCRATCH 512

/* Push an object of the decoded pairs of a query or urlencoded body.  The
 * decoding copy is freed at once (a copy of a large body must not live as
 * long as the request); a failed allocation leaves the object empty. */
static void push_query(duk_context *ctx, const char *s, size_t n)
{
    duk_push_object(ctx);
    char stack[SCRATCH];
    char *buf = n <= sizeof stack ? stack : malloc(n);
    if (!n || !buf)
        return;
    memcpy(buf, s, n);
    kv_state st = {ctx, duk_get_top_index(ctx), 1};
    js_parse_query(buf, n, on_kv, &st);
    if (buf != stack)
        free(buf);
}

/* ---- the request's parts, copied once --------------------------------------- */

enum { S_IP, S_METHOD, S_PATH, S_URI, S_HOST, S_QUERY, S_ID, S_N };

/* What the members are built from: the S_* strings and the headers as
 * "name\0value\0" pairs.  Points into the K_SRC buffer (or, while the object
 * is made, into the request, headers left out). */
typedef struct req_src {
    const char *s[S_N];
    const char *hdrs;
    size_t hlen;
    int port, tls;
} req_src;

/* The K_SRC buffer: this head, the S_N strings with their NULs, the
 * headers. */
typedef struct src_head {
    int32_t port, tls;
    uint32_t len[S_N];
    uint32_t hlen;
} src_head;

static void src_from_req(rp_req *r, req_src *s)
{
    const char *host = rp_req_header(r, "Host");
    if (!host || !*host) {
        const char *ip = rp_req_local_ip(r);
        host = rp_psprintf(rp_req_pool(r), strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip,
                           rp_req_local_port(r));
    }
    const char *q = rp_req_query(r);
    s->s[S_IP] = rp_req_remote_ip(r);
    s->s[S_METHOD] = rp_req_method(r);
    s->s[S_PATH] = rp_req_path(r);
    s->s[S_URI] = rp_req_uri(r);
    s->s[S_HOST] = host;
    s->s[S_QUERY] = q ? q : "";
    s->s[S_ID] = rp_req_id(r); /* the access log's %L: the same id */
    s->hdrs = NULL;
    s->hlen = 0;
    s->port = rp_req_remote_port(r);
    s->tls = rp_req_is_tls(r);
}

/* Push a buffer holding s and the request's headers (see src_head). */
static void push_src(duk_context *ctx, rp_req *r, const req_src *s)
{
    src_head h = {s->port, s->tls, {0}, 0};
    size_t n = sizeof h;
    for (int i = 0; i < S_N; i++) {
        h.len[i] = (uint32_t)strlen(s->s[i]);
        n += h.len[i] + 1;
    }
    /* the first HDR_LENS headers' lengths are measured once */
    enum { HDR_LENS = 64 };
    uint32_t lens[2 * HDR_LENS];
    const char *name, *value;
    size_t hl = 0;
    for (size_t i = 0; rp_req_header_at(r, i, &name, &value) == 0; i++) {
        size_t kl = strlen(name) + 1, vl = strlen(value) + 1;
        if (i < HDR_LENS) {
            lens[2 * i] = (uint32_t)kl;
            lens[2 * i + 1] = (uint32_t)vl;
        }
        hl += kl + vl;
    }
    h.hlen = (uint32_t)hl;
    char *p = duk_push_buffer_raw(ctx, n + hl, DUK_BUF_FLAG_NOZERO);
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    for (int i = 0; i < S_N; i++) {
        memcpy(p, s->s[i], h.len[i] + 1);
        p += h.len[i] + 1;
    }
    for (size_t i = 0; rp_req_header_at(r, i, &name, &value) == 0; i++) {
        size_t kl = i < HDR_LENS ? lens[2 * i] : strlen(name) + 1;
        size_t vl = i < HDR_LENS ? lens[2 * i + 1] : strlen(value) + 1;
        memcpy(p, name, kl);
        memcpy(p + kl, value, vl);
        p += kl + vl;
    }
}

/* Read the K_SRC buffer of the object at req into s; the buffer is left on
 * the stack (s points into it).  0 if req is no request object. */
static int get_src(duk_context *ctx, duk_idx_t req, req_src *s)
{
    duk_get_prop_literal(ctx, req, K_SRC);
    duk_size_t n = 0;
    const char *p = duk_get_buffer_data(ctx, -1, &n);
    src_head h;
    if (!p || n < sizeof h)
        return 0;
    memcpy(&h, p, sizeof h);
    p += sizeof h;
    for (int i = 0; i < S_N; i++) {
        s->s[i] = p;
        p += h.len[i] + 1;
    }
    s->hdrs = p;
    s->hlen = h.hlen;
    s->port = h.port;
    s->tls = h.tls;
    return 1;
}

/* The header after *off in s: 0, or -1 past the last. */
static int hdr_next(const req_src *s, size_t *off, const char **name, const char **value)
{
    if (*off >= s->hlen)
        return -1;
    *name = s->hdrs + *off;
    *value = *name + strlen(*name) + 1;
    *off = (size_t)(*value - s->hdrs) + strlen(*value) + 1;
    return 0;
}

static void push_cookies(duk_context *ctx, const req_src *s)
{
    duk_push_object(ctx);
    kv_state st = {ctx, duk_get_top_index(ctx), 0};
    const char *name, *value;
    for (size_t off = 0; hdr_next(s, &off, &name, &value) == 0;) {
        if (strcasecmp(name, "Cookie") != 0)
            continue;
        size_t n = strlen(value);
        char stack[SCRATCH];
        char *buf = n < sizeof stack ? stack : malloc(n + 1);
        if (!buf)
            continue;
        memcpy(buf, value, n + 1);
        js_parse_cookies(buf, n, on_kv, &st);
        if (buf != stack)
            free(buf);
    }
}

/* Headers by their name as sent; a repeated header joins with ", " ("; "
 * for Cookie). */
static void push_headers(duk_context *ctx, const req_src *s)
{
    duk_push_object(ctx);
    duk_idx_t obj = duk_get_top_index(ctx);
    const char *name, *value;
    for (size_t off = 0; hdr_next(s, &off, &name, &value) == 0;) {
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

static void push_path(duk_context *ctx, const req_src *s)
{
    const char *path = s->s[S_PATH];
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    const char *scheme = s->tls ? "https://" : "http://";
    duk_push_object(ctx);
    duk_push_string(ctx, file);
    duk_put_prop_literal(ctx, -2, "file");
    duk_push_string(ctx, path);
    duk_put_prop_literal(ctx, -2, "path");
    duk_push_lstring(ctx, path, (duk_size_t)(file - path));
    duk_put_prop_literal(ctx, -2, "base");
    duk_push_string(ctx, scheme);
    duk_put_prop_literal(ctx, -2, "scheme");
    duk_push_string(ctx, s->s[S_HOST]);
    duk_put_prop_literal(ctx, -2, "host");
    duk_push_string(ctx, scheme);
    duk_push_string(ctx, s->s[S_HOST]);
    duk_push_string(ctx, s->s[S_URI]);
    duk_concat(ctx, 3);
    duk_put_prop_literal(ctx, -2, "url");
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

/* The value at the top becomes the hidden property `key` (a literal) of the
 * object at obj_idx (value popped): defined, not put, so that a sealed or
 * frozen req still caches what its getters built (scripts never see
 * hidden symbols); read-only, written once, and no obstacle to
 * Object.isFrozen. */
#define PUT_HIDDEN(ctx, obj_idx, key)                                                              \
    do {                                                                                           \
        duk_idx_t o_ = duk_normalize_index((ctx), (obj_idx));                                      \
        duk_push_literal((ctx), key);                                                              \
        duk_insert((ctx), -2);                                                                     \
        duk_def_prop((ctx), o_, DUK_DEFPROP_FORCE | DUK_DEFPROP_HAVE_VALUE);                       \
    } while (0)

/* [obj key value] -> []: the accessor becomes a writable data property,
 * keeping its place in the key order and its enumerable attribute.  Asking
 * for configurable (what it is unless a script changed it) makes Duktape
 * throw for a non-configurable one rather than convert it. */
static duk_ret_t to_data(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_def_prop(ctx, -3,
                 DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE | DUK_DEFPROP_WRITABLE |
                     DUK_DEFPROP_HAVE_CONFIGURABLE | DUK_DEFPROP_CONFIGURABLE);
    return 0;
}

static int is_frozen(duk_context *ctx, duk_idx_t obj_idx)
{
    duk_get_global_literal(ctx, "Object");
    duk_get_prop_literal(ctx, -1, "isFrozen");
    duk_dup(ctx, obj_idx);
    int frozen = duk_pcall(ctx, 1) == DUK_EXEC_SUCCESS && duk_to_boolean(ctx, -1);
    duk_pop_2(ctx);
    return frozen;
}

/* Replace the accessor of the object at obj_idx whose key is at key_idx by
 * a plain data property holding the value at the top (left on the stack),
 * as if the member had been a data property all along.  A member made
 * non-configurable (Object.seal, Object.freeze, defineProperty) cannot be
 * converted normally: its attributes are kept and it is read-only if the
 * object is frozen; an assignment (assign: 1) to a frozen one is ignored,
 * as for a frozen data property.  Returns 0, or -1 for that ignored
 * assignment. */
static int settle(duk_context *ctx, duk_idx_t obj_idx, duk_idx_t key_idx, int assign)
{
    obj_idx = duk_normalize_index(ctx, obj_idx);
    key_idx = duk_normalize_index(ctx, key_idx);
    if (rp_duk_accessor_to_data(ctx, obj_idx, key_idx))
        return 0; /* the usual case, in place */
    duk_dup(ctx, obj_idx);
    duk_dup(ctx, key_idx);
    duk_dup(ctx, -3);
    int rc = duk_safe_call(ctx, to_data, NULL, 3, 1);
    duk_pop(ctx);
    if (rc == DUK_EXEC_SUCCESS)
        return 0;
    int frozen = is_frozen(ctx, obj_idx);
    if (frozen && assign)
        return -1;
    duk_dup(ctx, key_idx);
    duk_dup(ctx, -2);
    duk_def_prop(ctx, obj_idx,
                 DUK_DEFPROP_FORCE | DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE |
                     (frozen ? 0 : DUK_DEFPROP_WRITABLE));
    return 0;
}

/* Push postData for the req at req_idx, building it once. */
static void push_post_once(duk_context *ctx, duk_idx_t req_idx)
{
    if (duk_get_prop_literal(ctx, req_idx, K_POST))
        return;
    duk_pop(ctx);
    build_post(ctx, req_idx);
    PUT_HIDDEN(ctx, req_idx, K_POSTP);
    duk_dup_top(ctx);
    PUT_HIDDEN(ctx, req_idx, K_POST);
}

/* ---- the members ------------------------------------------------------------ */

enum { O_QUERY, O_COOKIES, O_HEADERS };

/* Push query, cookies or headers as first built for the req at req: the
 * member's value until a handler replaces it, and what params merges
 * whatever the handler did to the member. */
static void push_orig(duk_context *ctx, duk_idx_t req, const req_src *s, int which)
{
    int have = which == O_QUERY     ? duk_get_prop_literal(ctx, req, K_QUERY)
               : which == O_COOKIES ? duk_get_prop_literal(ctx, req, K_COOKIES)
                                    : duk_get_prop_literal(ctx, req, K_HEADERS);
    if (have)
        return;
    duk_pop(ctx);
    if (which == O_QUERY)
        push_query(ctx, s->s[S_QUERY], strlen(s->s[S_QUERY]));
    else if (which == O_COOKIES)
        push_cookies(ctx, s);
    else
        push_headers(ctx, s);
    duk_dup_top(ctx);
    if (which == O_QUERY)
        PUT_HIDDEN(ctx, req, K_QUERY);
    else if (which == O_COOKIES)
        PUT_HIDDEN(ctx, req, K_COOKIES);
    else
        PUT_HIDDEN(ctx, req, K_HEADERS);
}

/* Each pushes the value of one member of the req at req (one value). */

static void m_ip(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    duk_push_string(ctx, s->s[S_IP]);
}

static void m_port(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    duk_push_int(ctx, s->port);
}

static void m_method(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    duk_push_string(ctx, s->s[S_METHOD]);
}

static void m_id(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    duk_push_string(ctx, s->s[S_ID]);
}

static void m_path(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    push_path(ctx, s);
}

static void m_query(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    push_orig(ctx, req, s, O_QUERY);
}

static void m_body(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)s;
    if (!duk_get_prop_literal(ctx, req, K_BODY)) {
        duk_pop(ctx);
        duk_push_fixed_buffer(ctx, 0);
    }
}

static void m_query_raw(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)req;
    duk_push_string(ctx, s->s[S_QUERY]);
}

static void m_cookies(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    push_orig(ctx, req, s, O_COOKIES);
}

static void m_headers(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    push_orig(ctx, req, s, O_HEADERS);
}

static void m_post(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    (void)s;
    push_post_once(ctx, req);
}

static void m_params(duk_context *ctx, duk_idx_t req, const req_src *s)
{
    duk_push_object(ctx);
    duk_idx_t params = duk_get_top_index(ctx);
    /* lowest priority first: POST data, query, cookies, headers */
    if (duk_has_prop_literal(ctx, req, K_BODY)) {
        push_post_once(ctx, req);
        duk_get_prop_literal(ctx, req, K_POSTP);
        copy_props(ctx, -1, params);
        duk_pop_2(ctx);
    }
    for (int i = O_QUERY; i <= O_HEADERS; i++) {
        push_orig(ctx, req, s, i);
        copy_props(ctx, -1, params);
        duk_pop(ctx);
    }
}

enum {
    M_EAGER = 1, /* put when the object is made: cheaper than an accessor */
    M_BODY = 2,  /* only when the request has a body */
    M_HIDDEN = 4 /* a getter on the prototype: newer than the spec, so
                  * JSON.stringify(req), Object.keys, for..in and
                  * getOwnPropertyNames show exactly the spec's members */
};

typedef struct req_member {
    const char *name; /* a literal: pushed through Duktape's literal cache */
    duk_size_t len;
    void (*push)(duk_context *ctx, duk_idx_t req, const req_src *s);
    int flags;
} req_member;

#define MEMBER(name, push, flags)                                                                  \
    {                                                                                              \
        name, sizeof name - 1, push, flags                                                         \
    }

/* The members of req, in the spec's order (the order Object.keys, for..in
 * and JSON.stringify show). */
/* clang-format off */
static const req_member members[] = {
    MEMBER("ip",        m_ip,        M_EAGER),
    MEMBER("port",      m_port,      M_EAGER),
    MEMBER("method",    m_method,    M_EAGER),
    MEMBER("path",      m_path,      0),
    MEMBER("query",     m_query,     0),
    MEMBER("body",      m_body,      0),
    MEMBER("query_raw", m_query_raw, 0),
    MEMBER("cookies",   m_cookies,   0),
    MEMBER("headers",   m_headers,   0),
    MEMBER("postData",  m_post,      M_BODY),
    MEMBER("params",    m_params,    0),
    MEMBER("id",        m_id,        M_HIDDEN), /* rp_req_id: X-Request-Id or a new one */
    MEMBER("methodRaw", m_method,    M_HIDDEN), /* the method as sent (NEWER.md) */
};
/* clang-format on */
#define N_MEMBERS ((int)(sizeof members / sizeof members[0]))

/* The member named by the string at idx (the key Duktape passes accessors,
 * DUK_USE_NONSTD_GETTER_KEY_ARGUMENT), or NULL. */
static const req_member *member_of(duk_context *ctx, duk_idx_t idx)
{
    duk_size_t n = 0;
    const char *k = duk_get_lstring(ctx, idx, &n);
    for (int i = 0; k && i < N_MEMBERS; i++)
        if (members[i].len == n && memcmp(members[i].name, k, n) == 0)
            return &members[i];
    return NULL;
}

/* The getter of every lazy member (this, key): build the value, cache it
 * in place, return it. */
static duk_ret_t member_get(duk_context *ctx)
{
    const req_member *m = member_of(ctx, 0);
    duk_push_this(ctx);
    duk_idx_t req = duk_get_top_index(ctx);
    req_src s;
    if (!m || !duk_is_object(ctx, req) || !get_src(ctx, req, &s))
        return 0; /* not a request object */
    m->push(ctx, req, &s);
    settle(ctx, req, 0, 0);
    return 1;
}

/* The setter (value, key): assigning replaces the accessor. */
static duk_ret_t member_set(duk_context *ctx)
{
    const req_member *m = member_of(ctx, 1);
    duk_push_this(ctx);
    if (!m || !duk_is_object(ctx, -1))
        return 0;
    duk_dup(ctx, 0);
    settle(ctx, -2, 1, 1);
    return 0;
}

/* Push the getter and the setter, made once per heap (kept in the stash,
 * pushed by pointer). */
static void push_accessors(duk_context *ctx)
{
    js_req_cache *rc = js_req_cache_of(ctx);
    if (!rc->get) {
        duk_push_heapptr(ctx, rc->stash);
        duk_push_array(ctx);
        duk_push_c_function(ctx, member_get, 1);
        rc->get = duk_get_heapptr(ctx, -1);
        duk_put_prop_index(ctx, -2, 0);
        duk_push_c_function(ctx, member_set, 2);
        rc->set = duk_get_heapptr(ctx, -1);
        duk_put_prop_index(ctx, -2, 1);
        duk_put_prop_literal(ctx, -2, JS_STASH_REQ_ACCESSORS);
        duk_pop(ctx);
    }
    duk_push_heapptr(ctx, rc->get);
    duk_push_heapptr(ctx, rc->set);
}

/* The getter of the prototype's members: computed on each read (cheap
 * strings), never cached on the object. */
static duk_ret_t hidden_get(duk_context *ctx)
{
    const req_member *m = member_of(ctx, 0);
    duk_push_this(ctx);
    duk_idx_t req = duk_get_top_index(ctx);
    req_src s;
    if (!m || !duk_is_object(ctx, req) || !get_src(ctx, req, &s))
        return 0;
    m->push(ctx, req, &s);
    return 1;
}

void js_req_proto_members(duk_context *ctx, duk_idx_t proto)
{
    proto = duk_normalize_index(ctx, proto);
    for (int i = 0; i < N_MEMBERS; i++) {
        if (!(members[i].flags & M_HIDDEN))
            continue;
        duk_push_literal_raw(ctx, members[i].name, members[i].len);
        duk_push_c_function(ctx, hidden_get, 1);
        duk_def_prop(ctx, proto, DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_SET_CONFIGURABLE);
    }
}

/* Push the heap's template of a request object, made on first use: K_SRC,
 * JS_REQ_ID and the eager members undefined (the slots js_push_req fills, so the
 * eager members must come first in members[]), the lazy ones as
 * accessors, postData only with_body - the keys a request object has, in
 * their order.  Kept alive by the stash (in the accessors' array), pushed
 * by pointer. */
static void push_shape(duk_context *ctx, int with_body)
{
    js_req_cache *rc = js_req_cache_of(ctx);
    if (!rc->shape[with_body]) {
        push_accessors(ctx);
        duk_idx_t get = duk_get_top_index(ctx) - 1;
        duk_push_bare_object(ctx);
        duk_idx_t t = duk_get_top_index(ctx);
        duk_push_undefined(ctx);
        duk_put_prop_literal(ctx, t, K_SRC);
        duk_push_undefined(ctx);
        duk_put_prop_literal(ctx, t, JS_REQ_ID);
        for (int i = 0; i < N_MEMBERS; i++) {
            const req_member *m = &members[i];
            if (((m->flags & M_BODY) && !with_body) || (m->flags & M_HIDDEN))
                continue; /* hidden ones: on the prototype (js_req_proto_members) */
            duk_push_literal_raw(ctx, m->name, m->len);
            if (m->flags & M_EAGER) {
                if (i > 0 && !(members[i - 1].flags & M_EAGER))
                    (void)duk_error(ctx, DUK_ERR_ERROR, "req.c: eager member '%s' after a lazy one",
                                    m->name);
                duk_push_undefined(ctx);
                duk_put_prop(ctx, t);
                continue;
            }
            duk_dup(ctx, get);
            duk_dup(ctx, get + 1);
            rp_duk_def_accessor(ctx, t); /* duk_def_prop's result, without its generality */
        }
        rc->shape[with_body] = duk_get_heapptr(ctx, t);
        duk_push_heapptr(ctx, rc->stash);
        duk_get_prop_literal(ctx, -1, JS_STASH_REQ_ACCESSORS);
        duk_dup(ctx, t);
        duk_put_prop_index(ctx, -2, 2 + (duk_uarridx_t)with_body);
        duk_set_top(ctx, get);
    }
    duk_push_heapptr(ctx, rc->shape[with_body]);
}

int js_push_req(duk_context *ctx, rp_req *r, const js_extra *ex, const char **why)
{
    size_t blen = 0;
    const char *body = rp_req_body(r, &blen);

    /* notFoundFunc / directoryFunc answer within the core's error handling:
     * no defer or chunk callbacks there */
    int async_ok = !ex || (!ex->fspath && ex->default_status == 200);

    /* A body is checked first; a JSON one is left decoded on the stack. */
    duk_idx_t json = duk_get_top(ctx);
    if (blen) {
        int st = check_body(ctx, r, body, blen, max_form_params(r), why);
        if (st) {
            duk_push_bare_object(ctx);
            js_stream_begin(ctx, r, -1, async_ok);
            return st;
        }
    }

    /* The object: a copy of the template with K_SRC, its identity and the eager members
     * filled (in the template's order), without a prototype until
     * js_stream_bind at the end - a put on an object with one searches the
     * whole chain (req, server buffer and Object prototypes) for a setter
     * first. */
    req_src s;
    src_from_req(r, &s);
    push_src(ctx, r, &s);
    duk_push_uint(ctx, js_stream_next_id(ctx, r, async_ok));
    int filled = 2;
    for (int i = 0; i < N_MEMBERS && (members[i].flags & M_EAGER); i++, filled++)
        members[i].push(ctx, -1, &s);
    push_shape(ctx, blen != 0);
    rp_duk_push_shape_copy(ctx, filled);
    duk_idx_t req = duk_get_top_index(ctx);

    if (blen) {
        duk_dup(ctx, json);
        duk_put_prop_literal(ctx, req, K_JSON);
        const char *ctype = rp_req_header(r, "Content-Type");
        if (ctype) {
            duk_push_string(ctx, ctype);
            duk_put_prop_literal(ctx, req, K_CTYPE);
        }
        void *b = duk_push_fixed_buffer(ctx, blen);
        memcpy(b, body, blen);
        duk_put_prop_literal(ctx, req, K_BODY);
        duk_remove(ctx, json);
        req = json;
    }
    if (ex && ex->errmsg) {
        duk_push_string(ctx, ex->errmsg);
        duk_put_prop_literal(ctx, req, "errMsg");
    }
    if (ex && ex->fspath) {
        duk_push_string(ctx, ex->fspath);
        duk_put_prop_literal(ctx, req, "fsPath");
    }
    duk_set_top(ctx, req + 1);
    js_stream_bind(ctx, req);
    return 0;
}
