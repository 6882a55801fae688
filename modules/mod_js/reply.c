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
 * left in the server buffer (srvbuf.c) goes out first.
 *
 * This file is the one place that builds a response from JavaScript values:
 * the return object of a function, req.reply()'s (deferred, stream.c calls
 * back here), each piece of a chunked reply (req.chunkSend / chunkEnd) and
 * the plain error answers.  stream.c only keeps the deferred and chunked
 * requests' state and decides when a piece goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "js_stream.h"

#define SRVBUF_COPY_MAX ((size_t)8192) /* smaller: copied, the buffer's memory kept */

/* Keys of the return object that are not a body, as bits. */
enum {
    K_STATUS = 1,
    K_HEADERS = 2,
    K_COMPRESS = 4,
    K_DEFER = 8,
    K_CHUNK = 16,
    K_CHUNKDELAY = 32,
    K_NORANGECAP = 64,
    K_NOACCEPTRANGES = 128,
    K_ALL = 255
};

static unsigned meta_key(const char *k, size_t n)
{
    static const struct {
        const char *name;
        size_t len;
        unsigned bit;
    } keys[] = {{"status", 6, K_STATUS},
                {"headers", 7, K_HEADERS},
                {"compress", 8, K_COMPRESS},
                {"defer", 5, K_DEFER},
                {"chunk", 5, K_CHUNK},
                {"chunkDelay", 10, K_CHUNKDELAY},
                {"noRangeCap", 10, K_NORANGECAP},
                {"noAcceptRanges", 14, K_NOACCEPTRANGES}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].len == n && memcmp(keys[i].name, k, n) == 0)
            return keys[i].bit;
    return 0;
}

/* Duktape's walk of a plain object's own keys (duk_ownkeys.inc, appended to
 * duktape.c by gen_duk_config.cmake). */
duk_int_t rp_duk_own_key(duk_context *ctx, duk_idx_t idx, duk_uint_t *pos, const char **key,
                         duk_size_t *len, duk_bool_t *enumerable, duk_bool_t *plain_proto);
/* duk_ownkeys.inc: push the value of the entry the walk gave at pos, if it
 * still holds that key (the pointer the walk gave) as a data property. */
duk_bool_t rp_duk_get_own_slot(duk_context *ctx, duk_idx_t idx, duk_uint_t pos, const char *key);

/* What the return object's keys say: the body key (the first that is a
 * known extension), the first unknown one, and which meta keys it may
 * have (only those are looked up). */
typedef struct key_scan {
    const char *body_key, *unknown;
    unsigned meta;
    int known;
    /* where the walk found the body key (its text in Duktape, the walk's
     * position after it), for rp_duk_get_own_slot; NULL without a walk */
    const char *body_raw;
    duk_uint_t body_pos;
} key_scan;

static void note_key(rp_req *r, js_plan *plan, key_scan *ks, const char *k, unsigned m)
{
    if (m) {
        ks->known = 1;
    } else if (!ks->body_key) {
        const char *mime = rp_mime_type(rp_req_server(r), k);
        if (mime) {
            ks->body_key = rp_pstrdup(rp_req_pool(r), k);
            plan->ctype = mime;
            ks->known = 1;
        } else if (!ks->unknown) {
            ks->unknown = rp_pstrdup(rp_req_pool(r), k);
        }
    }
}

/* The keys in duk_enum's order.  A plain object (the usual {html: ...}) is
 * walked in place, and then only the meta keys it owns are looked up
 * later; anything else goes through duk_enum and every meta key is looked
 * up, inherited ones included. */
static void scan_keys(duk_context *ctx, rp_req *r, duk_idx_t idx, js_plan *plan, key_scan *ks)
{
    duk_uint_t pos = 0;
    const char *k;
    duk_size_t n;
    duk_bool_t en, plain = 0;
    int rc;
    while ((rc = rp_duk_own_key(ctx, idx, &pos, &k, &n, &en, &plain)) == 1) {
        unsigned m = meta_key(k, n);
        ks->meta |= m; /* also a non-enumerable one: it is read like any */
        if (en && !ks->body_key) {
            note_key(r, plan, ks, k, m);
            if (ks->body_key) {
                ks->body_raw = k;
                ks->body_pos = pos;
            }
        } else if (en) {
            note_key(r, plan, ks, k, m);
        }
    }
    if (rc == 0) {
        if (!plain)
            ks->meta = K_ALL;
        return;
    }
    ks->meta = K_ALL;
    ks->body_raw = NULL; /* (the walk declines before its first key) */
    duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
        duk_size_t kl;
        k = duk_get_lstring(ctx, -1, &kl);
        note_key(r, plan, ks, k, meta_key(k, kl));
        duk_pop(ctx);
    }
    duk_pop(ctx);
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

const void *js_body_bytes(duk_context *ctx, duk_idx_t idx, size_t *n)
{
    *n = 0;
    if (duk_is_null_or_undefined(ctx, idx))
        return "";
    if (duk_is_buffer_data(ctx, idx)) {
        duk_size_t bl = 0;
        const void *p = duk_get_buffer_data(ctx, idx, &bl);
        *n = bl;
        return p ? p : "";
    }
    if (!duk_is_string(ctx, idx)) {
        if (duk_is_object(ctx, idx) && !duk_is_function(ctx, idx))
            duk_json_encode(ctx, idx);
        else
            duk_to_string(ctx, idx);
    }
    duk_size_t sl = 0;
    const char *s = duk_get_lstring(ctx, idx, &sl);
    *n = sl;
    return s ? s : "";
}

/* A body's bytes s[0..n): "@path" names a file (returns its path, relative
 * ones against the main script's directory, in buf), "\\@..." is the text
 * from the '@' on (s and n move past the backslash); anything else is
 * itself (NULL). */
static const char *body_file(const js_conf *c, const char **s, size_t *n, char *buf, size_t len)
{
    if (*n >= 1 && (*s)[0] == '@') {
        const char *f = *s + 1;
        if (f[0] == '/' || !c || !c->script_dir)
            return f;
        snprintf(buf, len, "%s/%s", c->script_dir, f);
        return buf;
    }
    if (*n >= 2 && (*s)[0] == '\\' && (*s)[1] == '@') {
        (*s)++;
        (*n)--;
    }
    return NULL;
}

/* The body value at the top: resolve its bytes (it stays on the stack). */
static void take_body(duk_context *ctx, rp_req *r, js_plan *plan)
{
    plan->has_body = 1;
    size_t n = 0;
    const char *s = js_body_bytes(ctx, -1, &n);
    char path[PATH_MAX];
    const char *f = duk_is_string(ctx, -1)
                        ? body_file(rp_req_conf(r, JS_SELF), &s, &n, path, sizeof path)
                        : NULL;
    if (f) {
        plan->file = rp_pstrdup(rp_req_pool(r), f);
        return;
    }
    plan->data = s;
    plan->len = n;
}

/* Bytes out, by reference when owned (malloc'ed: freed once sent). */
static int write_bytes(rp_req *r, void *p, size_t n, int owned)
{
    if (!n) {
        if (owned)
            free(p);
        return 0;
    }
    return owned ? rp_resp_write_ref(r, p, n, free, p) : rp_resp_write(r, p, n);
}

/* What req.printf / req.put left in the server buffer becomes plan->pre:
 * copied into the request's pool when small, else its memory handed over. */
static void take_srvbuf(duk_context *ctx, rp_req *r, js_plan *plan)
{
    size_t n;
    const void *d = js_srvbuf_data(ctx, &n);
    if (!n)
        return;
    if (n < SRVBUF_COPY_MAX) {
        plan->pre = rp_palloc(rp_req_pool(r), n);
        memcpy(plan->pre, d, n);
        plan->prelen = n;
        plan->pre_owned = 0;
        js_srvbuf_reset(ctx);
    } else {
        plan->pre = js_srvbuf_take(ctx, &plan->prelen);
        plan->pre_owned = 1;
    }
}

static int write_pre(rp_req *r, js_plan *plan)
{
    int rc = write_bytes(r, plan->pre, plan->prelen, plan->pre_owned);
    plan->pre = NULL;
    plan->prelen = 0;
    plan->pre_owned = 0;
    return rc;
}

void js_plan_drop_pre(js_plan *plan)
{
    if (plan->pre_owned)
        free(plan->pre);
    plan->pre = NULL;
    plan->prelen = 0;
    plan->pre_owned = 0;
}

/* The boolean value of the member key of the object at idx. */
static int get_flag(duk_context *ctx, duk_idx_t idx, const char *key)
{
    duk_get_prop_string(ctx, idx, key);
    int v = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    return v;
}

void js_reply_prepare(duk_context *ctx, rp_req *r, duk_idx_t idx, js_plan *plan)
{
    rp_pool *p = rp_req_pool(r);
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
    key_scan ks = {NULL, NULL, 0, 0, NULL, 0};
    scan_keys(ctx, r, idx, plan, &ks);
    const char *body_key = ks.body_key, *unknown = ks.unknown;
    int known = ks.known;
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
    if (ks.meta & K_STATUS) {
        if (duk_get_prop_literal(ctx, idx, "status")) {
            double st = duk_is_number(ctx, -1) ? duk_get_number(ctx, -1) : -1;
            if (st < 100 || st > 599 || st != (double)(int)st)
                plan->why = rp_psprintf(p, "'status' must be an integer from 100 to 599, got %s",
                                        duk_safe_to_string(ctx, -1));
            else
                plan->status = (int)st;
        }
        duk_pop(ctx);
    }
    if (ks.meta & K_COMPRESS) {
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
    }
    plan->defer = (ks.meta & K_DEFER) && get_flag(ctx, idx, "defer");
    /* "@file" answers: noAcceptRanges wins over noRangeCap */
    if ((ks.meta & K_NORANGECAP) && get_flag(ctx, idx, "noRangeCap"))
        plan->ranges = RP_RANGES_UNCAPPED;
    if ((ks.meta & K_NOACCEPTRANGES) && get_flag(ctx, idx, "noAcceptRanges"))
        plan->ranges = RP_RANGES_OFF;
    plan->chunk = (ks.meta & K_CHUNK) && get_flag(ctx, idx, "chunk");
    if (!(ks.meta & K_CHUNKDELAY)) {
        duk_push_undefined(ctx);
    } else if (duk_get_prop_string(ctx, idx, "chunkDelay")) {
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
    if (ks.meta & K_HEADERS) {
        if (duk_get_prop_literal(ctx, idx, "headers"))
            take_headers(ctx, r, plan);
        else
            duk_pop(ctx);
    }
    if (body_key && !plan->why) {
        /* the slot the walk found, unless a getter read above changed it */
        if (!rp_duk_get_own_slot(ctx, idx, ks.body_pos, ks.body_raw))
            duk_get_prop_string(ctx, idx, body_key);
        if (plan->chunk && duk_is_function(ctx, -1))
            plan->has_body = 1; /* the chunk callback stays at the top */
        else
            take_body(ctx, r, plan);
    } else {
        duk_push_undefined(ctx);
    }
    if (!plan->why) {
        take_srvbuf(ctx, r, plan);
        plan->why = js_stream_prepare(ctx, r, plan);
        if (plan->why)
            js_plan_drop_pre(plan);
    }
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
    write_pre(r, plan);
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
    write_pre(r, plan);
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

void js_reply_error(rp_req *r, int status, const char *text)
{
    const js_conf *c = rp_req_conf(r, JS_SELF);
    if (rp_resp_started(r))
        return;
    if (c && c->dev && text) {
        js_reply_dev_error(r, text);
        return;
    }
    rp_pool *p = rp_req_pool(r);
    int st = status >= 400 ? status : 500;
    char *body = rp_psprintf(p, "%d %s\n", st, rp_status_reason(st));
    rp_resp_set_status(r, st);
    rp_resp_header_set(r, "Content-Type", "text/plain; charset=utf-8");
    rp_resp_set_length(r, (int64_t)strlen(body));
    if (!rp_req_is_head(r))
        rp_resp_write(r, body, strlen(body));
}

/* ---- pieces of a chunked reply ------------------------------------------------ */

/* An "@file" piece, read into memory when the response is compressed
 * (sendfile would bypass the filter).  Takes fd. */
static int write_file_piece(rp_req *r, int fd, off_t size, int no_sendfile)
{
    if (!no_sendfile)
        return rp_resp_sendfile(r, fd, 0, (int64_t)size);
    char *buf = malloc(size ? (size_t)size : 1);
    size_t got = 0;
    while (buf && got < (size_t)size) {
        ssize_t n = read(fd, buf + got, (size_t)size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf)
        return -1;
    return rp_resp_write_ref(r, buf, got, free, buf);
}

/* Opens an "@file" piece (throws naming it when it cannot). */
static int open_piece(duk_context *ctx, const char *f, const char *as_given, off_t *size)
{
    int fd = open(f, O_RDONLY | O_CLOEXEC);
    int err = errno;
    struct stat st;
    memset(&st, 0, sizeof st);
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        err = EISDIR;
    }
    if (fd < 0)
        (void)duk_error(ctx, DUK_ERR_ERROR, "req.chunkSend: '%s': %s", as_given, strerror(err));
    *size = st.st_size;
    return fd;
}

double js_reply_chunk(duk_context *ctx, rp_req *r, duk_idx_t idx, const js_conf *c, int no_sendfile)
{
    size_t n = 0;
    const char *p = js_body_bytes(ctx, idx, &n);
    int fd = -1;
    off_t fsize = 0;
    char path[PATH_MAX];
    const char *f = duk_is_string(ctx, idx) ? body_file(c, &p, &n, path, sizeof path) : NULL;
    if (f) {
        fd = open_piece(ctx, f, duk_get_string(ctx, idx), &fsize);
        n = 0;
    }
    if (!r) { /* the client went away: nothing goes, the buffer is emptied */
        if (fd >= 0)
            close(fd);
        js_srvbuf_reset(ctx);
        return 0;
    }
    /* the server buffer: copied when small (its memory stays for the next
     * callback; no pool memory per chunk, a stream may run for hours) */
    size_t bl;
    const void *b = js_srvbuf_data(ctx, &bl);
    int rc = 0;
    if (bl >= SRVBUF_COPY_MAX) {
        void *own = js_srvbuf_take(ctx, &bl);
        rc = write_bytes(r, own, bl, 1);
    } else if (bl) {
        rc = rp_resp_write(r, b, bl);
        js_srvbuf_reset(ctx);
    }
    double total = (double)bl + (double)n;
    if (n)
        rc |= rp_resp_write(r, p, n);
    if (fd >= 0 && fsize > 0) {
        rc |= write_file_piece(r, fd, fsize, no_sendfile);
        total += (double)fsize;
    } else if (fd >= 0) {
        close(fd);
    }
    return rc != 0 ? -1 : total;
}
