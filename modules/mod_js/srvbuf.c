/* srvbuf.c - the server buffer (mod_js, HTTP half): req.printf(fmt, ...),
 * req.put(data), req.getpos(), req.rewind(pos), req.getBuffer().  One
 * buffer per heap (the spec's "one per thread"; the websocket heap has its
 * own), kept in the heap's stream state (stream.c, js_srvbuf_of).  It is
 * emptied when a function starts; what it holds when the function returns
 * goes out before the body (reply.c), a chunk (reply.c) or a websocket
 * message (ws_js.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "js_stream.h"

static int sb_reserve(js_srvbuf *sb, size_t add)
{
    if (sb->cap - sb->len >= add)
        return 0;
    size_t need = sb->len + add;
    if (need < sb->len)
        return -1;
    size_t ncap = sb->cap ? sb->cap : 4096;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2)
            return -1;
        ncap *= 2;
    }
    char *n = realloc(sb->buf, ncap);
    if (!n)
        return -1;
    sb->buf = n;
    sb->cap = ncap;
    return 0;
}

static void sb_out(void *arg, const char *data, size_t len)
{
    js_srvbuf *sb = arg;
    if (sb->oom || !len)
        return;
    if (sb_reserve(sb, len) != 0) {
        sb->oom = 1;
        return;
    }
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
}

const void *js_srvbuf_data(duk_context *ctx, size_t *len)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 0);
    *len = sb ? sb->len : 0;
    return sb && sb->len ? sb->buf : NULL;
}

void js_srvbuf_reset(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 0);
    if (sb)
        sb->len = 0;
}

void *js_srvbuf_take(duk_context *ctx, size_t *len)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 0);
    *len = 0;
    if (!sb || !sb->len)
        return NULL;
    void *p = sb->buf;
    *len = sb->len;
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return p;
}

static duk_ret_t format_cb(duk_context *ctx, void *udata)
{
    js_srvbuf *sb = udata;
    size_t n = js_format(ctx, 0, sb_out, sb);
    duk_push_number(ctx, (double)n);
    return 1;
}

/* req.printf(fmt, ...): bytes written.  A bad format leaves the buffer as
 * it was. */
static duk_ret_t req_printf(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 1);
    if (!duk_is_string(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "req.printf: the format must be a string");
    size_t before = sb->len;
    sb->oom = 0;
    if (duk_safe_call(ctx, format_cb, sb, duk_get_top(ctx), 1) != DUK_EXEC_SUCCESS) {
        if (sb->len > before)
            sb->len = before;
        return duk_throw(ctx);
    }
    if (sb->oom) {
        if (sb->len > before)
            sb->len = before;
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "req.printf: out of memory");
    }
    return 1;
}

/* req.put(data): bytes written. */
static duk_ret_t req_put(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 1);
    size_t n = 0;
    const void *p = js_body_bytes(ctx, 0, &n);
    if (n && sb_reserve(sb, n) != 0)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "req.put: out of memory");
    if (n) {
        memcpy(sb->buf + sb->len, p, n);
        sb->len += n;
    }
    duk_push_number(ctx, (double)n);
    return 1;
}

static duk_ret_t req_getpos(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 1);
    duk_push_number(ctx, (double)sb->len);
    return 1;
}

/* req.rewind(pos): the end moves back to pos (0 <= pos <= getpos()). */
static duk_ret_t req_rewind(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 1);
    if (!duk_is_number(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR,
                         "req.rewind: the position must be a number (0 to req.getpos())");
    double pos = duk_get_number(ctx, 0);
    if (!(pos >= 0) || pos != floor(pos))
        return duk_error(ctx, DUK_ERR_RANGE_ERROR,
                         "req.rewind: the position must be a whole number >= 0, got %s",
                         duk_safe_to_string(ctx, 0));
    if (pos > (double)sb->len)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR,
                         "req.rewind: position %.0f is past the end of the server buffer "
                         "(req.getpos() is %lu)",
                         pos, (unsigned long)sb->len);
    sb->len = (size_t)pos;
    duk_push_number(ctx, pos);
    return 1;
}

static duk_ret_t req_getbuffer(duk_context *ctx)
{
    js_srvbuf *sb = js_srvbuf_of(ctx, 1);
    void *b = duk_push_fixed_buffer(ctx, sb->len);
    if (sb->len)
        memcpy(b, sb->buf, sb->len);
    return 1;
}

void js_push_srvbuf_proto(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_literal(ctx, -1, JS_STASH_BUFPROTO)) {
        duk_pop(ctx);
        duk_push_object(ctx);
        static const js_fn fns[] = {
            {"printf", req_printf, DUK_VARARGS, NULL}, {"put", req_put, 1, NULL},
            {"getpos", req_getpos, 0, NULL},           {"rewind", req_rewind, 1, NULL},
            {"getBuffer", req_getbuffer, 0, NULL},     {NULL, NULL, 0, NULL}};
        js_put_functions(ctx, -1, fns, JS_FN_HIDDEN | JS_FN_NAMED);
        duk_dup_top(ctx);
        duk_put_prop_literal(ctx, -3, JS_STASH_BUFPROTO);
    }
    duk_remove(ctx, -2);
}
