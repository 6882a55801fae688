/* start.c - require("rampart-server") and its start(opts) (mod_js, HTTP half).
 *
 * start() turns every option into the directives a conf file would use,
 * loads all plugins, takes the snapshot of the main script's globals and
 * functions for the worker heaps, starts the server and returns its pid.
 *
 * The options are one table, opt_defs[] below: {option, directive, check,
 * min, flags}.  It alone drives the type/range checks, the directive lines,
 * the order they are applied in, the unknown-option error ("did you mean")
 * and which options are TLS ones; the option -> directive table of
 * rampart(1) is checked against it (tests/integration/test_docs.py).
 * Options not given emit nothing: the directive's own default holds.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "js_http.h"

static rp_server *g_server;
static int g_serving;

rp_server *js_http_server(int *serving)
{
    if (serving)
        *serving = g_serving;
    return g_server;
}

/* ---- building the directive lines (may throw) ------------------------------
 * Lines live in a JS array at `lines`: each is [option, directive, args...],
 * so a throw leaks nothing. Functions for the snapshot go to `fns` as
 * [name, function] pairs. */

typedef struct build {
    duk_context *ctx;
    duk_idx_t opts, lines, fns;
    duk_uarridx_t nlines, nfns;
    int secure; /* secure: true was given (the ssl* options apply) */
    const char *fn_prefix; /* hosts: "host1:" keeps map function names apart */
} build;

typedef struct opt_def opt_def;

/* An option's check: validate the value at the top of the stack and add its
 * directive line(s), or throw an error naming the option. */
typedef void (*opt_check)(build *b, const opt_def *d);

enum {
    OPT_TLS = 1,       /* a TLS directive: without TLS support kept, with a warning */
    OPT_IF_SECURE = 2, /* "no effect unless secure is true" (still type-checked) */
};

struct opt_def {
    const char *option, *directive;
    opt_check check;
    double min; /* numbers and sizes: the least value */
    unsigned flags;
};

/* Push a new line [opt, directive] and return its index (left on the stack). */
static duk_idx_t line_begin(build *b, const char *opt, const char *directive)
{
    duk_push_array(b->ctx);
    duk_push_string(b->ctx, opt);
    duk_put_prop_index(b->ctx, -2, 0);
    duk_push_string(b->ctx, directive);
    duk_put_prop_index(b->ctx, -2, 1);
    return duk_get_top_index(b->ctx);
}

static void line_arg(build *b, duk_idx_t line, const char *arg)
{
    duk_push_string(b->ctx, arg);
    duk_put_prop_index(b->ctx, line, (duk_uarridx_t)duk_get_length(b->ctx, line));
}

static void line_end(build *b)
{
    duk_put_prop_index(b->ctx, b->lines, b->nlines++);
}

static void line1(build *b, const char *opt, const char *directive, const char *arg)
{
    duk_idx_t l = line_begin(b, opt, directive);
    line_arg(b, l, arg);
    line_end(b);
}

static const char *type_of(duk_context *ctx, duk_idx_t idx)
{
    if (duk_is_array(ctx, idx))
        return "an array";
    if (duk_is_function(ctx, idx))
        return "a function";
    switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_NULL: return "null";
    case DUK_TYPE_BOOLEAN: return "a boolean";
    case DUK_TYPE_NUMBER: return "a number";
    case DUK_TYPE_STRING: return "a string";
    case DUK_TYPE_BUFFER: return "a buffer";
    default: return "an object";
    }
}

static void want(build *b, const char *opt, int ok, const char *what)
{
    if (!ok)
        (void)duk_type_error(b->ctx, "start(): option '%s' must be %s, got %s", opt, what,
                             type_of(b->ctx, -1));
}

/* true/false -> on/off */
static void opt_bool(build *b, const opt_def *d)
{
    want(b, d->option, duk_is_boolean(b->ctx, -1), "true or false");
    line1(b, d->option, d->directive, duk_get_boolean(b->ctx, -1) ? "on" : "off");
}

/* a non-empty string, as is */
static void opt_string(build *b, const opt_def *d)
{
    want(b, d->option, duk_is_string(b->ctx, -1) && *duk_get_string(b->ctx, -1),
         "a non-empty string");
    line1(b, d->option, d->directive, duk_get_string(b->ctx, -1));
}

/* Numbers: seconds (fractions, >= 0) or integers (>= min). */
static void number(build *b, const char *opt, const char *directive, int integer, double min)
{
    duk_context *ctx = b->ctx;
    want(b, opt, duk_is_number(ctx, -1), integer ? "an integer" : "a number of seconds");
    double v = duk_get_number(ctx, -1);
    if (v != v || v < min || (integer && v != (double)(long long)v) || v > 1e15)
        (void)duk_range_error(ctx, "start(): option '%s' must be %s >= %g, got %s", opt,
                              integer ? "an integer" : "a number", min,
                              duk_safe_to_string(ctx, -1));
    char buf[64];
    if (integer)
        snprintf(buf, sizeof buf, "%lld", (long long)v);
    else
        snprintf(buf, sizeof buf, "%.6f", v);
    line1(b, opt, directive, buf);
}

static void opt_seconds(build *b, const opt_def *d)
{
    number(b, d->option, d->directive, 0, d->min);
}

static void opt_int(build *b, const opt_def *d)
{
    number(b, d->option, d->directive, 1, d->min);
}

/* A function for the snapshot: returns its snapshot name. */
static const char *add_fn(build *b, duk_idx_t idx, const char *what)
{
    duk_context *ctx = b->ctx;
    idx = duk_normalize_index(ctx, idx);
    duk_push_array(ctx);
    duk_push_sprintf(ctx, JS_SNAP_PREFIX "%s", what);
    duk_put_prop_index(ctx, -2, 0);
    duk_dup(ctx, idx);
    duk_put_prop_index(ctx, -2, 1);
    duk_put_prop_index(ctx, b->fns, b->nfns++);
    duk_push_sprintf(ctx, "js:function:" JS_SNAP_PREFIX "%s", what);
    return duk_get_string(ctx, -1); /* stays on the stack until the caller pops */
}

static void opt_bind(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    duk_idx_t l = line_begin(b, d->option, d->directive);
    if (duk_is_string(ctx, v)) {
        line_arg(b, l, duk_get_string(ctx, v));
    } else {
        duk_dup(ctx, v);
        want(b, d->option, duk_is_array(ctx, -1) && duk_get_length(ctx, -1) > 0,
             "an address string such as \"127.0.0.1:8088\" or a non-empty array of them");
        duk_pop(ctx);
        duk_size_t n = duk_get_length(ctx, v);
        for (duk_size_t i = 0; i < n; i++) {
            duk_get_prop_index(ctx, v, (duk_uarridx_t)i);
            if (!duk_is_string(ctx, -1))
                (void)duk_type_error(ctx, "start(): option 'bind'[%lu] must be a string, got %s",
                                     (unsigned long)i, type_of(ctx, -1));
            line_arg(b, l, duk_get_string(ctx, -1));
            duk_pop(ctx);
        }
    }
    line_end(b);
}

static void opt_user(build *b, const opt_def *d)
{
    want(b, d->option, duk_is_string(b->ctx, -1) && *duk_get_string(b->ctx, -1),
         "a user name string");
    /* The spec: "If not root, option user is ignored." */
    if (geteuid() == 0)
        line1(b, d->option, d->directive, duk_get_string(b->ctx, -1));
}

static void opt_ssl_min(build *b, const opt_def *d)
{
    static const char *const ok[] = {"ssl3", "tls1", "tls1.1", "tls1.2", "tls1.3", NULL};
    duk_context *ctx = b->ctx;
    want(b, d->option, duk_is_string(ctx, -1), "a string");
    const char *v = duk_get_string(ctx, -1);
    for (int i = 0; ok[i]; i++)
        if (strcmp(v, ok[i]) == 0) {
            line1(b, d->option, d->directive, v);
            return;
        }
    (void)duk_range_error(ctx,
                          "start(): option 'sslMinVersion' must be ssl3, tls1, tls1.1, "
                          "tls1.2 or tls1.3, got '%s'",
                          v);
}

/* a header value, or true/false for the default / none */
static void opt_cache_control(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    if (duk_is_string(ctx, -1)) {
        opt_string(b, d);
        return;
    }
    want(b, d->option, duk_is_boolean(ctx, -1), "a string or a boolean");
    line1(b, d->option, d->directive, duk_get_boolean(ctx, -1) ? "on" : "off");
}

static void opt_compress_files(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    if (duk_is_boolean(ctx, v)) {
        line1(b, d->option, d->directive, duk_get_boolean(ctx, v) ? "on" : "off");
        return;
    }
    want(b, d->option, duk_is_array(ctx, v), "a boolean or an array of extensions");
    duk_size_t n = duk_get_length(ctx, v);
    if (n == 0) {
        line1(b, d->option, d->directive, "off");
        return;
    }
    duk_idx_t l = line_begin(b, d->option, d->directive);
    for (duk_size_t i = 0; i < n; i++) {
        duk_get_prop_index(ctx, v, (duk_uarridx_t)i);
        if (!duk_is_string(ctx, -1))
            (void)duk_type_error(ctx,
                                 "start(): option 'compressFiles'[%lu] must be an extension "
                                 "string, got %s",
                                 (unsigned long)i, type_of(ctx, -1));
        line_arg(b, l, duk_get_string(ctx, -1));
        duk_pop(ctx);
    }
    line_end(b);
}

static void opt_mime_map(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    want(b, d->option, duk_is_object(ctx, v) && !duk_is_array(ctx, v) && !duk_is_function(ctx, v),
         "an object of extension: mime-type");
    duk_idx_t l = line_begin(b, d->option, d->directive);
    int n = 0;
    duk_enum(ctx, v, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        if (!duk_is_string(ctx, -1))
            (void)duk_type_error(ctx,
                                 "start(): option 'mimeMap'['%s'] must be a mime-type string, "
                                 "got %s",
                                 duk_get_string(ctx, -2), type_of(ctx, -1));
        line_arg(b, l, duk_get_string(ctx, -2));
        line_arg(b, l, duk_get_string(ctx, -1));
        n++;
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
    if (n)
        line_end(b);
    else
        duk_pop(ctx);
}

/* A string or an array of strings -> one line with them all. */
static void opt_strings(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    int arr = duk_is_array(ctx, v);
    want(b, d->option, (duk_is_string(ctx, v) && *duk_get_string(ctx, v)) ||
                           (arr && duk_get_length(ctx, v) > 0),
         "a string or a non-empty array of strings");
    duk_idx_t l = line_begin(b, d->option, d->directive);
    duk_uarridx_t n = arr ? (duk_uarridx_t)duk_get_length(ctx, v) : 1;
    for (duk_uarridx_t i = 0; i < n; i++) {
        if (arr)
            duk_get_prop_index(ctx, v, i);
        else
            duk_dup(ctx, v);
        if (!duk_is_string(ctx, -1))
            (void)duk_type_error(ctx, "start(): option '%s'[%u] must be a string, got %s",
                                 d->option, (unsigned)i, type_of(ctx, -1));
        const char *a = duk_get_string(ctx, -1);
        duk_pop(ctx);
        line_arg(b, l, a); /* v keeps it alive */
    }
    line_end(b);
}

/* rateLimit: {"/path/": {rate, window, key}} -> RateLimit lines. */
static void opt_rate_limit(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    want(b, d->option, duk_is_object(ctx, v) && !duk_is_array(ctx, v) && !duk_is_function(ctx, v),
         "an object of path: {rate, window, key}");
    duk_enum(ctx, v, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        const char *path = duk_get_string(ctx, -2);
        duk_idx_t rule = duk_get_top_index(ctx);
        if (!duk_is_object(ctx, rule) || duk_is_array(ctx, rule))
            (void)duk_type_error(ctx, "start(): rateLimit['%s'] must be {rate, window, key}, got %s",
                                 path, type_of(ctx, rule));
        duk_idx_t l = line_begin(b, d->option, d->directive);
        line_arg(b, l, path);
        static const char *const fields[] = {"rate", "window"};
        for (int i = 0; i < 2; i++) {
            duk_get_prop_string(ctx, rule, fields[i]);
            if (!duk_is_number(ctx, -1))
                (void)duk_type_error(ctx, "start(): rateLimit['%s'].%s must be a number, got %s",
                                     path, fields[i], type_of(ctx, -1));
            char num[64];
            snprintf(num, sizeof num, "%.15g", duk_get_number(ctx, -1));
            duk_pop(ctx);
            line_arg(b, l, num);
        }
        if (duk_get_prop_string(ctx, rule, "key")) {
            if (!duk_is_string(ctx, -1))
                (void)duk_type_error(ctx, "start(): rateLimit['%s'].key must be a string, got %s",
                                     path, type_of(ctx, -1));
            line_arg(b, l, duk_get_string(ctx, -1));
        }
        duk_pop(ctx);
        line_end(b);
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

/* access: {"/admin/": {allow: [...], deny: [...], basic: {realm, file}}}
 * -> Allow, Deny, AuthBasic lines (mod_access), in that order per path, so
 * deny: "all" is what is left after the allowed addresses. */
static void access_list(build *b, const char *opt, const char *path, duk_idx_t rule,
                        const char *field, const char *directive)
{
    duk_context *ctx = b->ctx;
    if (!duk_get_prop_string(ctx, rule, field)) {
        duk_pop(ctx);
        return;
    }
    duk_idx_t v = duk_get_top_index(ctx);
    if (duk_is_string(ctx, v)) { /* one address: as a one-element list */
        duk_push_array(ctx);
        duk_dup(ctx, v);
        duk_put_prop_index(ctx, -2, 0);
        duk_replace(ctx, v);
    }
    if (!duk_is_array(ctx, v) || duk_get_length(ctx, v) == 0)
        (void)duk_type_error(ctx, "start(): %s['%s'].%s must be an address or a non-empty array of "
                                  "addresses (\"10.0.0.0/8\", \"::1\", \"all\")",
                             opt, path, field);
    duk_idx_t l = line_begin(b, opt, directive);
    line_arg(b, l, path);
    for (duk_uarridx_t i = 0; i < (duk_uarridx_t)duk_get_length(ctx, v); i++) {
        duk_get_prop_index(ctx, v, i);
        if (!duk_is_string(ctx, -1))
            (void)duk_type_error(ctx, "start(): %s['%s'].%s[%u] must be a string, got %s", opt,
                                 path, field, (unsigned)i, type_of(ctx, -1));
        const char *a = duk_get_string(ctx, -1);
        duk_pop(ctx);
        line_arg(b, l, a); /* the array keeps the string alive */
    }
    line_end(b);
    duk_pop(ctx);
}

static void opt_access(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    want(b, d->option, duk_is_object(ctx, v) && !duk_is_array(ctx, v) && !duk_is_function(ctx, v),
         "an object of path: {allow, deny, basic}");
    duk_enum(ctx, v, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        const char *path = duk_get_string(ctx, -2);
        duk_idx_t rule = duk_get_top_index(ctx);
        if (!duk_is_object(ctx, rule) || duk_is_array(ctx, rule) || duk_is_function(ctx, rule))
            (void)duk_type_error(ctx, "start(): %s['%s'] must be {allow, deny, basic}, got %s",
                                 d->option, path, type_of(ctx, rule));
        access_list(b, d->option, path, rule, "allow", "Allow");
        access_list(b, d->option, path, rule, "deny", "Deny");
        if (duk_get_prop_string(ctx, rule, "basic")) {
            duk_idx_t bs = duk_get_top_index(ctx);
            duk_get_prop_string(ctx, bs, "realm");
            duk_get_prop_string(ctx, bs, "file");
            if (!duk_is_string(ctx, -2) || !duk_is_string(ctx, -1))
                (void)duk_type_error(ctx, "start(): %s['%s'].basic must be {realm: string, file: "
                                          "string}",
                                     d->option, path);
            duk_idx_t l = line_begin(b, d->option, "AuthBasic");
            line_arg(b, l, path);
            line_arg(b, l, duk_get_string(ctx, -3));
            line_arg(b, l, duk_get_string(ctx, -2));
            line_end(b);
            duk_pop_2(ctx);
        }
        duk_pop(ctx);
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

/* metrics: "/metrics", statusPage: "/status" -> Map path metrics:[status] */
static void opt_metrics_map(build *b, const opt_def *d)
{
    want(b, d->option, duk_is_string(b->ctx, -1) && duk_get_string(b->ctx, -1)[0] == '/',
         "a path starting with '/'");
    const char *path = duk_get_string(b->ctx, -1); /* the value stays below the line */
    duk_idx_t l = line_begin(b, d->option, d->directive);
    line_arg(b, l, path);
    line_arg(b, l, strcmp(d->option, "statusPage") == 0 ? "metrics:status" : "metrics:");
    line_end(b);
}

static void opt_notfound(build *b, const opt_def *d)
{
    want(b, d->option, duk_is_function(b->ctx, -1), "a function");
    const char *t = add_fn(b, -1, d->option);
    line1(b, d->option, d->directive, t);
    duk_pop(b->ctx);
}

static void opt_dirfunc(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    if (duk_is_boolean(ctx, -1)) {
        line1(b, d->option, "DirectoryFunc", duk_get_boolean(ctx, -1) ? "on" : "off");
        return;
    }
    want(b, d->option, duk_is_function(ctx, -1), "a function or a boolean");
    const char *t = add_fn(b, -1, d->option);
    line1(b, d->option, d->directive, t);
    duk_pop(ctx);
}

/* beginFunc / endFunc: a function, the name of a global function of the
 * main script, or {module: "name"}. */
static void opt_hook(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    if (duk_is_string(ctx, -1)) {
        const char *name = duk_get_string(ctx, -1);
        duk_get_global_string(ctx, name);
        if (!duk_is_function(ctx, -1))
            (void)duk_type_error(ctx, "start(): option '%s': '%s' is not a global function",
                                 d->option, name);
    } else if (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1)) {
        duk_get_prop_string(ctx, -1, "module");
        want(b, d->option, duk_is_string(ctx, -1),
             "a function, a function's name or {module: name}");
        line1(b, d->option, d->directive, duk_get_string(ctx, -1));
        duk_pop(ctx);
        return;
    }
    want(b, d->option, duk_is_function(ctx, -1), "a function, a function's name or {module: name}");
    const char *t = add_fn(b, -1, d->option);
    line1(b, d->option, d->directive, t);
    duk_pop(ctx);
}

/* One Map line for a proxy value: key proxy:URL (mod_proxy's syntax: the
 * upstreams only, the settings are proxy_route's <Route> block). */
static void proxy_line(build *b, const char *opt, const char *key, const char *url)
{
    duk_context *ctx = b->ctx;
    duk_push_sprintf(ctx, "proxy:%s", url);
    duk_idx_t l = line_begin(b, opt, "Map");
    line_arg(b, l, key);
    line_arg(b, l, duk_get_string(ctx, -2));
    line_end(b);
    duk_pop(ctx); /* target */
}

/* The timeout, insecure and headers of a proxy value as mod_proxy's route
 * settings in a <Route key> block, the way path_headers writes a
 * directory's headers; nothing when none is given. */
static void proxy_route(build *b, const char *opt, const char *key, duk_idx_t v)
{
    duk_context *ctx = b->ctx;
    duk_get_prop_string(ctx, v, "timeout");
    duk_idx_t t = duk_get_top_index(ctx);
    duk_get_prop_string(ctx, v, "insecure");
    duk_idx_t in = duk_get_top_index(ctx);
    duk_get_prop_string(ctx, v, "headers");
    duk_idx_t h = duk_get_top_index(ctx);
    if (!duk_is_undefined(ctx, t) && (!duk_is_number(ctx, t) || !(duk_get_number(ctx, t) > 0)))
        (void)duk_type_error(ctx, "start(): %s.timeout must be a number of seconds > 0, got %s",
                             opt, duk_safe_to_string(ctx, t));
    if (!duk_is_undefined(ctx, h) &&
        (!duk_is_object(ctx, h) || duk_is_array(ctx, h) || duk_is_function(ctx, h)))
        (void)duk_type_error(ctx, "start(): %s.headers must be an object of name: value, got %s",
                             opt, type_of(ctx, h));
    int insecure = duk_to_boolean(ctx, in);
    if (duk_is_undefined(ctx, t) && !insecure && duk_is_undefined(ctx, h)) {
        duk_pop_3(ctx);
        return;
    }
    duk_idx_t l = line_begin(b, opt, "<Route");
    line_arg(b, l, key);
    line_arg(b, l, ">");
    line_end(b);
    if (!duk_is_undefined(ctx, t)) {
        line1(b, opt, "ProxyReadTimeout", duk_push_sprintf(ctx, "%g", duk_get_number(ctx, t)));
        duk_pop(ctx);
    }
    if (insecure)
        line1(b, opt, "ProxyInsecure", "on");
    if (!duk_is_undefined(ctx, h)) {
        duk_enum(ctx, h, DUK_ENUM_OWN_PROPERTIES_ONLY);
        while (duk_next(ctx, -1, 1)) {
            l = line_begin(b, opt, "ProxyHeader");
            line_arg(b, l, duk_get_string(ctx, -3));
            line_arg(b, l, duk_to_string(ctx, -2));
            line_end(b);
            duk_pop_2(ctx);
        }
        duk_pop(ctx);
    }
    line_begin(b, opt, "</Route>");
    line_end(b);
    duk_pop_3(ctx);
}

/* map: {"/api/": {proxy: "http://host:port/path", headers, timeout, insecure}}:
 * HTTP requests and websockets on the path both go to the upstream (a ws://
 * or wss:// upstream takes websockets only); one <Route key> block holds
 * the settings for both (a block without "ws:" covers websockets too). */
static void map_proxy(build *b, const char *opt, const char *key, duk_idx_t v, duk_idx_t url)
{
    duk_context *ctx = b->ctx;
    if (!duk_is_string(ctx, url))
        (void)duk_type_error(ctx, "start(): %s.proxy must be a URL string, got %s", opt,
                             type_of(ctx, url));
    const char *u = duk_get_string(ctx, url);
    int ws_only = strncmp(u, "ws://", 5) == 0 || strncmp(u, "wss://", 6) == 0;
    int ws_key = strncmp(key, "ws:", 3) == 0;
    if (!ws_only && !ws_key)
        proxy_line(b, opt, key, u);
    duk_push_sprintf(ctx, "%s%s", ws_key ? "" : "ws:", key);
    proxy_line(b, opt, duk_get_string(ctx, -1), u);
    duk_pop(ctx);
    proxy_route(b, opt, key, v);
}

/* {name: value, ...} at idx as "Header set name value" lines (the core's
 * per-route setting, as the conf file writes it). */
static void header_lines(build *b, const char *opt, duk_idx_t idx)
{
    duk_context *ctx = b->ctx;
    if (!duk_is_object(ctx, idx) || duk_is_array(ctx, idx) || duk_is_function(ctx, idx))
        (void)duk_type_error(ctx, "start(): %s must be an object of name: value, got %s", opt,
                             type_of(ctx, idx));
    duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        duk_idx_t l = line_begin(b, opt, "Header");
        line_arg(b, l, "set");
        line_arg(b, l, duk_get_string(ctx, -3));
        line_arg(b, l, duk_to_string(ctx, -2));
        line_end(b);
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

static void opt_headers(build *b, const opt_def *d)
{
    header_lines(b, d->option, duk_get_top_index(b->ctx));
}

/* map: {"/key": {path: dir, headers: {...}}}: the headers are a <Route>
 * block of the directory's key ("/key/", as mod_static maps it). */
static void path_headers(build *b, const char *opt, const char *key, duk_idx_t h)
{
    duk_context *ctx = b->ctx;
    size_t kl = strlen(key);
    duk_push_sprintf(ctx, "%s%s", key, kl && key[kl - 1] == '/' ? "" : "/");
    duk_idx_t l = line_begin(b, opt, "<Route");
    line_arg(b, l, duk_get_string(ctx, -2));
    line_arg(b, l, ">");
    line_end(b);
    duk_pop(ctx);
    header_lines(b, duk_push_sprintf(ctx, "%s.headers", opt), h);
    duk_pop(ctx);
    line_begin(b, opt, "</Route>");
    line_end(b);
}

/* One entry of map: the value is at the top, key given. */
static void map_entry(build *b, duk_idx_t map, const char *key, unsigned i)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    const char *opt = duk_push_sprintf(ctx, "map['%s']", key);
    duk_idx_t opt_idx = duk_get_top_index(ctx);
    if (duk_is_function(ctx, v)) {
        char what[48];
        snprintf(what, sizeof what, "%smap:%u", b->fn_prefix ? b->fn_prefix : "", i);
        const char *t = add_fn(b, v, what);
        duk_idx_t l = line_begin(b, opt, "Map");
        line_arg(b, l, key);
        line_arg(b, l, t);
        line_end(b);
        duk_pop(ctx);
    } else if (duk_is_string(ctx, v)) {
        duk_idx_t l = line_begin(b, opt, "Map");
        line_arg(b, l, key);
        line_arg(b, l, duk_get_string(ctx, v));
        line_end(b);
    } else if (duk_is_object(ctx, v) && !duk_is_array(ctx, v)) {
        duk_get_prop_string(ctx, v, "module");
        duk_idx_t m = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, v, "modulePath");
        duk_idx_t mp = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, v, "path");
        duk_idx_t p = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, v, "proxy");
        duk_idx_t px = duk_get_top_index(ctx);
        if (!duk_is_undefined(ctx, px)) {
            map_proxy(b, opt, key, v, px);
        } else if (!duk_is_undefined(ctx, m)) {
            if (!duk_is_string(ctx, m))
                (void)duk_type_error(ctx, "start(): %s.module must be a module name string, got %s",
                                     opt, type_of(ctx, m));
            duk_idx_t l = line_begin(b, opt, "MapModule");
            line_arg(b, l, key);
            line_arg(b, l, duk_get_string(ctx, m));
            /* An explicit "key/" elsewhere in the map keeps that path. */
            size_t kl = strlen(key);
            duk_push_sprintf(ctx, "%s/", key);
            int has = duk_has_prop(ctx, map);
            if (kl && key[kl - 1] != '/' && has)
                line_arg(b, l, "exact");
            line_end(b);
        } else if (!duk_is_undefined(ctx, mp)) {
            if (!duk_is_string(ctx, mp))
                (void)duk_type_error(ctx,
                                     "start(): %s.modulePath must be a directory string, got "
                                     "%s",
                                     opt, type_of(ctx, mp));
            duk_idx_t l = line_begin(b, opt, "MapModulePath");
            line_arg(b, l, key);
            line_arg(b, l, duk_get_string(ctx, mp));
            line_end(b);
        } else if (!duk_is_undefined(ctx, p)) {
            if (!duk_is_string(ctx, p))
                (void)duk_type_error(ctx, "start(): %s.path must be a directory string, got %s",
                                     opt, type_of(ctx, p));
            duk_idx_t l = line_begin(b, opt, "Map");
            line_arg(b, l, key);
            line_arg(b, l, duk_get_string(ctx, p));
            line_end(b);
            duk_get_prop_string(ctx, v, "headers");
            if (!duk_is_undefined(ctx, -1))
                path_headers(b, opt, key, duk_get_top_index(ctx));
            duk_pop(ctx);
        } else {
            (void)duk_type_error(ctx,
                                 "start(): %s must be a function, a directory string, or an "
                                 "object with module, modulePath, path or proxy",
                                 opt);
        }
    } else {
        (void)duk_type_error(ctx,
                             "start(): %s must be a function, a directory string, or an "
                             "object with module, modulePath, path or proxy, got %s",
                             opt, type_of(ctx, v));
    }
    duk_set_top(ctx, opt_idx + 1);
}

static void opt_map(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t map = duk_get_top_index(ctx);
    want(b, d->option,
         duk_is_object(ctx, map) && !duk_is_array(ctx, map) && !duk_is_function(ctx, map),
         "an object of path: function, directory or module");
    unsigned i = 0;
    duk_enum(ctx, map, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        duk_idx_t top = duk_get_top(ctx);
        map_entry(b, map, duk_get_string(ctx, -2), i++);
        duk_set_top(ctx, top);
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

/* Sizes: an integer number of bytes, or the conf file's "64k", "10m". */
static void opt_size(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    if (!duk_is_string(ctx, -1)) {
        opt_int(b, d);
        return;
    }
    want(b, d->option, *duk_get_string(ctx, -1) != '\0',
         "a number of bytes or a size string such as \"64k\"");
    line1(b, d->option, d->directive, duk_get_string(ctx, -1));
}

/* false: no cap ("off"); a number or size string: as for opt_size (the
 * directive checks the string: "512m", "off"). */
static void opt_mem_limit(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    if (duk_is_boolean(ctx, -1)) {
        want(b, d->option, !duk_get_boolean(ctx, -1),
             "a number of bytes, a size string such as \"512m\", or false (no limit)");
        line1(b, d->option, d->directive, "off");
        return;
    }
    opt_size(b, d);
}

/* secure: true needs its files (the spec: "must also be set"). */
static void opt_secure(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    opt_bool(b, d);
    if (!duk_get_boolean(ctx, -1))
        return;
    int key = duk_get_prop_string(ctx, b->opts, "sslKeyFile");
    int cert = duk_get_prop_string(ctx, b->opts, "sslCertFile");
    duk_pop_2(ctx);
    if (!key || !cert)
        (void)duk_type_error(ctx, "start(): option 'secure' is true: 'sslKeyFile' and "
                                  "'sslCertFile' must be set too");
}

static void opt_hosts(build *b, const opt_def *d);

/* Every option, in the order its directive is applied (Threads before
 * UseThreads: useThreads:false wins). */
static const opt_def opt_defs[] = {
    {"bind", "Bind", opt_bind, 0, 0}, /* a string or an array of them */
    {"user", "User", opt_user, 0, 0}, /* only as root, as the spec says */
    /* on: start() returns the daemon's pid and the script goes on in the
     * launching process only; the daemon just serves */
    {"daemon", "Daemon", opt_bool, 0, 0},
    {"appendProcTitle", "AppendProcTitle", opt_bool, 0, 0}, /* ps shows ip:port */
    {"log", "Log", opt_bool, 0, 0},
    {"accessLog", "AccessLog", opt_string, 0, 0},
    {"logFormat", "LogFormat", opt_string, 0, 0}, /* combined, common, json or a format */
    {"requestId", "RequestId", opt_bool, 0, 0},
    {"logIpFromHeader", "LogIpFromHeader", opt_string, 0, 0}, /* e.g. "X-Forwarded-For" */
    {"trustedProxies", "TrustedProxies", opt_strings, 0, 0},  /* whose header is believed */
    {"errorLog", "ErrorLog", opt_string, 0, 0},
    {"threads", "Threads", opt_int, 1, 0},        /* default: one per CPU */
    {"useThreads", "UseThreads", opt_bool, 0, 0}, /* off = 1 thread, whatever threads says */
    {"connectTimeout", "ConnectTimeout", opt_seconds, 0, 0}, /* 0 = never */
    {"keepAliveTimeout", "KeepAliveTimeout", opt_seconds, 0, 0},
    {"headerTimeout", "HeaderTimeout", opt_seconds, 0, 0},
    {"bodyTimeout", "BodyTimeout", opt_seconds, 0, 0},
    {"sendTimeout", "SendTimeout", opt_seconds, 0, 0},
    {"handshakeTimeout", "HandshakeTimeout", opt_seconds, 0, 0},
    {"gracefulTimeout", "GracefulTimeout", opt_seconds, 0, 0},
    {"maxRead", "MaxRead", opt_int, 1, 0},
    {"maxWrite", "MaxWrite", opt_int, 1, 0},
    {"maxBodySize", "MaxBodySize", opt_size, 0, 0}, /* bytes, or "64k", "10m" */
    {"maxHeaderSize", "MaxHeaderSize", opt_size, 1, 0},
    {"maxHeaders", "MaxHeaders", opt_int, 1, 0}, /* a count */
    {"maxUriLength", "MaxUriLength", opt_size, 1, 0},
    {"maxFormParams", "MaxFormParams", opt_int, 1, 0},       /* form fields/parts per body */
    {"fileCacheValid", "FileCacheValid", opt_seconds, 0, 0}, /* 0 = no open-file cache */
    {"fileCacheEntries", "FileCacheEntries", opt_int, 0, 0},
    {"defaultRangeMBytes", "DefaultRangeMBytes", opt_seconds, 0.01, 0}, /* 0.01 to 1000 */
    {"rateLimit", "RateLimit", opt_rate_limit, 0, 0}, /* {"/path/": {rate, window, key}} */
    {"metricsRemote", "MetricsRemote", opt_bool, 0, 0},
    {"cluster", "Cluster", opt_string, 0, 0}, /* redis://host:port/db or unix:/path */
    {"clusterPrefix", "ClusterPrefix", opt_string, 0, 0},
    {"clusterTimeout", "ClusterTimeout", opt_seconds, 0.1, 0}, /* Redis silent that long: lost */
    {"rateLimitShared", "RateLimitShared", opt_bool, 0, 0}, /* counters in the cluster's Redis */
    {"access", "Allow", opt_access, 0, 0}, /* and Deny, AuthBasic (mod_access) */
    {"denyHidden", "DenyHidden", opt_bool, 0, 0},
    {"scriptTimeout", "ScriptTimeout", opt_seconds, 0, 0},
    {"scriptMemoryLimit", "ScriptMemoryLimit", opt_mem_limit, 0, 0}, /* false = no cap */
    {"developerMode", "DeveloperMode", opt_bool, 0, 0},
    {"secure", "Secure", opt_secure, 0, OPT_TLS},
    {"sslKeyFile", "SslKeyFile", opt_string, 0, OPT_TLS | OPT_IF_SECURE},
    {"sslCertFile", "SslCertFile", opt_string, 0, OPT_TLS | OPT_IF_SECURE},
    /* after its certificate: the OCSP response file belongs to the one before */
    {"sslStaplingFile", "SslStaplingFile", opt_string, 0, OPT_TLS | OPT_IF_SECURE},
    {"sslMinVersion", "SslMinVersion", opt_ssl_min, 0, OPT_TLS | OPT_IF_SECURE},
    {"protocols", "Protocols", opt_strings, 0, 0}, /* ["h2", "h2c", "http/1.1"] */
    {"cacheControl", "CacheControl", opt_cache_control, 0, 0},
    {"headers", "Header", opt_headers, 0, 0}, /* {name: value}: Header set lines */
    {"compressFiles", "CompressFiles", opt_compress_files, 0, 0}, /* bool or extensions */
    {"compressScripts", "CompressScripts", opt_bool, 0, 0},
    {"compressLevel", "CompressLevel", opt_int, 1, 0},
    {"compressMinSize", "CompressMinSize", opt_int, 0, 0},
    {"mimeMap", "MimeMap", opt_mime_map, 0, 0},
    {"mapSort", "MapSort", opt_bool, 0, 0},
    {"notFoundFunc", "NotFound", opt_notfound, 0, 0},
    /* a function: DirectoryScript; true/false: DirectoryFunc on|off (mod_dirlist) */
    {"directoryFunc", "DirectoryScript", opt_dirfunc, 0, 0},
    {"beginFunc", "BeginFunc", opt_hook, 0, 0}, /* before mapped functions (hooks.c) */
    {"endFunc", "EndFunc", opt_hook, 0, 0},     /* after them, with req.reply */
    {"logFunc", "LogFunc", opt_hook, 0, 0},     /* the access log line (log: true) */
    {"beginFuncOnFile", "BeginFuncOnFile", opt_bool, 0, 0},
    /* Map key dir [Header N V]... | Map key js:function:... | MapModule key
     * name | MapModulePath key dir */
    {"metrics", "Map", opt_metrics_map, 0, 0},    /* "/metrics" -> Map /metrics metrics: */
    {"statusPage", "Map", opt_metrics_map, 0, 0}, /* "/status" -> Map /status metrics:status */
    {"map", "Map", opt_map, 0, 0},
    /* {"a.com www.a.com": {map, sslCertFile, ...}}: <Host> blocks, after
     * every top-level line (the top level is the default host) */
    {"hosts", "Host", opt_hosts, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* The options a hosts entry takes: those whose directives are valid inside
 * <Host> (scope host or route), checked by their own opt_defs[] entries. */
static const char *const host_options[] = {
    "map",         "log",        "accessLog",       "logFormat",
    "sslCertFile", "sslKeyFile", "sslStaplingFile", "cacheControl",
    "headers",     "access",     "denyHidden",      "scriptTimeout",
    NULL};

static int host_option(const char *k)
{
    for (int i = 0; host_options[i]; i++)
        if (strcmp(k, host_options[i]) == 0)
            return 1;
    return strcmp(k, "default") == 0;
}

/* One hosts entry, value at the top: "<Host names >", its lines, "</Host>". */
static void host_block(build *b, const char *names, unsigned n)
{
    duk_context *ctx = b->ctx;
    duk_idx_t v = duk_get_top_index(ctx);
    const char *opt = duk_push_sprintf(ctx, "hosts['%s']", names);
    if (!duk_is_object(ctx, v) || duk_is_array(ctx, v) || duk_is_function(ctx, v))
        (void)duk_type_error(ctx, "start(): %s must be an object of per-host options, got %s", opt,
                             type_of(ctx, v));
    duk_enum(ctx, v, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
        const char *k = duk_get_string(ctx, -1);
        if (!host_option(k))
            (void)duk_type_error(ctx,
                                 "start(): %s: '%s' is not a per-host option (per host: "
                                 "map, log, accessLog, logFormat, sslCertFile, sslKeyFile, "
                                 "sslStaplingFile, cacheControl, headers, access, denyHidden, "
                                 "scriptTimeout, default)",
                                 opt, k);
        duk_pop(ctx);
    }
    duk_pop(ctx);
    duk_idx_t l = line_begin(b, opt, "<Host");
    char *copy = strdup(names), *save = NULL;
    int words = 0;
    for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w;
         w = strtok_r(NULL, " \t", &save)) {
        line_arg(b, l, w);
        words++;
    }
    free(copy);
    if (!words)
        (void)duk_type_error(ctx, "start(): hosts: a key must hold host names, got '%s'", names);
    line_arg(b, l, ">");
    line_end(b);
    duk_get_prop_string(ctx, v, "default");
    if (duk_to_boolean(ctx, -1)) {
        line_begin(b, opt, "Default");
        line_end(b);
    }
    duk_pop(ctx);
    duk_push_sprintf(ctx, "host%u:", n);
    b->fn_prefix = duk_get_string(ctx, -1); /* stays on the stack below the options */
    for (const opt_def *d = opt_defs; d->option; d++) {
        if (!host_option(d->option))
            continue;
        duk_idx_t top = duk_get_top(ctx);
        duk_get_prop_string(ctx, v, d->option);
        if (!duk_is_undefined(ctx, -1)) {
            if ((d->flags & OPT_IF_SECURE) && !b->secure)
                want(b, d->option, duk_is_string(ctx, -1), "a string");
            else
                d->check(b, d);
        }
        duk_set_top(ctx, top);
    }
    b->fn_prefix = NULL;
    line_begin(b, opt, "</Host>");
    line_end(b);
}

static void opt_hosts(build *b, const opt_def *d)
{
    duk_context *ctx = b->ctx;
    duk_idx_t hosts = duk_get_top_index(ctx);
    want(b, d->option,
         duk_is_object(ctx, hosts) && !duk_is_array(ctx, hosts) && !duk_is_function(ctx, hosts),
         "an object of \"name name...\": {per-host options}");
    unsigned n = 0;
    duk_enum(ctx, hosts, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        duk_idx_t top = duk_get_top(ctx);
        host_block(b, duk_get_string(ctx, -2), ++n);
        duk_set_top(ctx, top);
        duk_pop_2(ctx);
    }
    duk_pop(ctx);
}

static const opt_def *find_option(const char *option)
{
    for (const opt_def *d = opt_defs; d->option; d++)
        if (strcmp(option, d->option) == 0)
            return d;
    return NULL;
}
/* "bind, user, ..." from the table, so the message never goes stale. */
static void push_known_list(duk_context *ctx)
{
    duk_idx_t n = 0;
    for (const opt_def *d = opt_defs; d->option; d++, n++)
        duk_push_string(ctx, d->option);
    duk_push_string(ctx, ", ");
    duk_insert(ctx, -n - 1);
    duk_join(ctx, n);
}

static void check_unknown(duk_context *ctx, duk_idx_t opts)
{
    duk_enum(ctx, opts, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
        const char *k = duk_get_string(ctx, -1);
        if (!find_option(k)) {
            const char *near = NULL;
            for (const opt_def *d = opt_defs; d->option; d++)
                rp_suggest(k, d->option, &near);
            if (near)
                (void)duk_type_error(ctx, "start(): unknown option '%s'; did you mean '%s'?", k,
                                     near);
            push_known_list(ctx);
            (void)duk_type_error(ctx, "start(): unknown option '%s' (known: %s)", k,
                                 duk_get_string(ctx, -1));
        }
        duk_pop(ctx);
    }
    duk_pop(ctx);
}

static void build_lines(build *b)
{
    duk_context *ctx = b->ctx;
    check_unknown(ctx, b->opts);
    duk_get_prop_string(ctx, b->opts, "secure");
    b->secure = duk_is_boolean(ctx, -1) && duk_get_boolean(ctx, -1);
    duk_pop(ctx);
    for (const opt_def *d = opt_defs; d->option; d++) {
        duk_idx_t top = duk_get_top(ctx);
        duk_get_prop_string(ctx, b->opts, d->option);
        if (!duk_is_undefined(ctx, -1)) {
            if ((d->flags & OPT_IF_SECURE) && !b->secure)
                want(b, d->option, duk_is_string(ctx, -1), "a string");
            else
                d->check(b, d);
        }
        duk_set_top(ctx, top);
    }
}

/* ---- applying them (never throws) ----------------------------------------- */

/* The directory holding mod_js.so: every plugin lives there. */
static const char *module_dir(char *buf, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)&rp_module_js, &info) || !info.dli_fname)
        return NULL;
    snprintf(buf, len, "%s", info.dli_fname);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return buf;
}

static int apply(rp_server *s, const char *dir, int argc, char **argv, const char **err)
{
    return rp_conf_apply(s, "start()", 0, dir, argc, argv, err);
}

static int is_plugin(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 7 && strncmp(d->d_name, "mod_", 4) == 0 && strcmp(d->d_name + n - 3, ".so") == 0;
}

/* LoadModule static, dirlist, gzip, js, then every other mod_*.so of the
 * module directory in name order (not the mod_skeleton template). */
static int load_modules(rp_server *s, const char **err)
{
    static const char *const first[] = {"static", "dirlist", "gzip", "js", NULL};
    char dirbuf[PATH_MAX];
    const char *dir = module_dir(dirbuf, sizeof dirbuf);
    if (!dir) {
        *err = "cannot find the module directory (where mod_js.so is)";
        return -1;
    }
    char path[PATH_MAX + 64], name[256];
    for (int i = 0; first[i]; i++) {
        snprintf(path, sizeof path, "%s/mod_%s.so", dir, first[i]);
        if (access(path, R_OK) != 0)
            continue;
        char *argv[] = {"LoadModule", (char *)first[i], path};
        if (apply(s, dir, 3, argv, err) != 0)
            return -1;
    }
    struct dirent **list;
    int n = scandir(dir, &list, is_plugin, alphasort);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *f = list[i]->d_name;
        size_t fl = strlen(f);
        snprintf(name, sizeof name, "%.*s", (int)(fl - 7), f + 4);
        int skip = strcmp(name, "skeleton") == 0;
        for (int j = 0; first[j] && !skip; j++)
            skip = strcmp(name, first[j]) == 0;
        if (!skip && rc == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, f);
            char *argv[] = {"LoadModule", name, path};
            if (apply(s, dir, 3, argv, err) != 0)
                rc = -1;
        }
        free(list[i]);
    }
    if (n >= 0)
        free(list);
    return rc;
}

/* No module provides TLS (a core built without it): remember that secure
 * was asked for, so post_config warns that TLS is not available. */
static void keep_tls(js_conf *jc, const char *opt, const char *val)
{
    if (strcmp(opt, "secure") == 0)
        jc->secure = strcmp(val, "on") == 0;
}

/* Apply lines[i] = [opt, directive, args...]; the error names the option. */
static const char *apply_lines(duk_context *ctx, duk_idx_t lines, rp_server *s, js_conf *jc,
                               const char *dir)
{
    duk_size_t n = duk_get_length(ctx, lines);
    for (duk_size_t i = 0; i < n; i++) {
        duk_get_prop_index(ctx, lines, (duk_uarridx_t)i);
        duk_size_t argc = duk_get_length(ctx, -1);
        char *argv[256];
        if (argc - 1 > 256) {
            duk_pop(ctx);
            return "start(): too many values in one option";
        }
        for (duk_size_t j = 1; j < argc; j++) {
            duk_get_prop_index(ctx, -1, (duk_uarridx_t)j);
            argv[j - 1] = (char *)duk_get_string(ctx, -1);
            duk_pop(ctx); /* still referenced by the line array */
        }
        duk_get_prop_index(ctx, -1, 0);
        const char *opt = duk_get_string(ctx, -1);
        const char *err = NULL;
        int rc = apply(s, dir, (int)argc - 1, argv, &err);
        const opt_def *d = find_option(opt);
        if (rc != 0 && d && (d->flags & OPT_TLS) && err && strstr(err, "unknown directive")) {
            keep_tls(jc, opt, argv[1]);
            rc = 0;
        }
        if (rc != 0) {
            /* "start():0: message" -> "start(): option 'x': message" */
            const char *m = err ? err : "rejected";
            if (strncmp(m, "start():0: ", 11) == 0)
                m += 11;
            static char msg[2048];
            snprintf(msg, sizeof msg, "start(): option '%s': %s", opt, m);
            duk_pop_2(ctx);
            return msg;
        }
        duk_pop_2(ctx);
    }
    return NULL;
}

/* ---- start() ---------------------------------------------------------------- */

/* The daemon child of start({daemon: true}).  The script goes on in the
 * launching process only (start() returned the daemon's pid there), so the
 * daemon never returns into it: running the rest twice raced on every side
 * effect (a pid file, a port) and an error there ended the daemon with
 * nothing logged.  Timers and rampart.event listeners the script set up
 * before start() belong to the launcher's run of it and are dropped here.
 * Errors of the route handlers go to the error log as always. */
static _Noreturn void daemon_serve(duk_context *ctx, rp_server *s)
{
    js_event_heap_gone(ctx);
    js_timers_free(js_heap_of(ctx));
    rp_log(&rp_module_js, RP_LOG_NOTICE,
           "daemon (pid %ld) serving; the script after start() runs in the launching process",
           (long)getpid());
    exit(rp_server_loop(s));
}

static duk_ret_t js_start(duk_context *ctx)
{
    if (!js_heap_is_main(ctx))
        return duk_error(ctx, DUK_ERR_ERROR,
                         "start(): only the main script can start the server (not a server "
                         "callback or module running in a server thread)");
    if (g_server)
        return duk_error(ctx, DUK_ERR_ERROR,
                         "start(): the server is already started (start() runs once per process)");
    if (duk_is_undefined(ctx, 0))
        duk_push_object(ctx), duk_replace(ctx, 0);
    if (!duk_is_object(ctx, 0) || duk_is_array(ctx, 0) || duk_is_function(ctx, 0))
        return duk_type_error(ctx, "start(): expected an object of options, got %s",
                              type_of(ctx, 0));
    duk_set_top(ctx, 1);

    build b = {ctx, 0, 0, 0, 0, 0, 0, NULL};
    duk_push_array(ctx);
    b.lines = duk_get_top_index(ctx);
    duk_push_array(ctx);
    b.fns = duk_get_top_index(ctx);
    build_lines(&b);

    /* The snapshot: globals plus every function the options name. */
    js_snapshot *snap = js_snapshot_take(ctx);
    for (duk_uarridx_t i = 0; i < b.nfns; i++) {
        duk_get_prop_index(ctx, b.fns, i);
        duk_get_prop_index(ctx, -1, 0);
        duk_get_prop_index(ctx, -2, 1);
        js_snapshot_add(snap, ctx, duk_get_string(ctx, -2), -1);
        duk_pop_3(ctx);
    }

    const char *dir = js_script_dir();
    if (!dir) {
        static char cwd[PATH_MAX];
        dir = getcwd(cwd, sizeof cwd) ? cwd : ".";
    }
    rp_server *s = rp_server_new();
    const char *err = NULL;
    if (!s) {
        js_snapshot_free(snap);
        return duk_error(ctx, DUK_ERR_ERROR, "start(): cannot create the server");
    }
    if (load_modules(s, &err) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "start(): loading plugins: %s", err);
        rp_server_free(s);
        js_snapshot_free(snap);
        return duk_error(ctx, DUK_ERR_ERROR, "%s", msg);
    }
    js_conf *jc = rp_server_conf(s, &rp_module_js);
    if (!jc) {
        rp_server_free(s);
        js_snapshot_free(snap);
        return duk_error(ctx, DUK_ERR_ERROR, "start(): mod_js is not loaded in the new server");
    }
    jc->snap = snap;
    jc->script_dir = dir; /* the runtime's (process lifetime) or static */

    const char *msg = apply_lines(ctx, b.lines, s, jc, dir);
    char buf[2048];
    if (!msg && rp_server_finalize(s, &err) != 0) {
        snprintf(buf, sizeof buf, "start(): %s", err);
        msg = buf;
    }
    pid_t pid = 0;
    int rc = RP_SERVER_FAILED;
    pid_t launcher = getpid();
    if (!msg) {
        /* Daemon on forks: nothing buffered may be written by both. */
        fflush(stdout);
        fflush(stderr);
        rc = rp_server_start(s, &pid, &err);
        if (rc == RP_SERVER_FAILED) {
            snprintf(buf, sizeof buf, "start(): %s", err ? err : "cannot start the server");
            msg = buf;
        }
    }
    if (msg) {
        char copy[2048];
        snprintf(copy, sizeof copy, "%s", msg);
        rp_server_free(s);
        js_snapshot_free(snap);
        return duk_error(ctx, DUK_ERR_ERROR, "%s", copy);
    }
    g_server = s;
    g_serving = rc == RP_SERVER_STARTED;
    if (g_serving && getpid() != launcher)
        daemon_serve(ctx, s);
    if (g_serving) {
        js_set_started_server(s);
        js_event_rebind(ctx); /* the main heap now runs on the server's loop */
    }
    duk_push_number(ctx, (double)pid);
    return 1;
}

/* server.getMime("html" or "a/b.html"): the type the server sends for that
 * extension (mime.types plus mimeMap once started), or undefined. */
static duk_ret_t js_get_mime(duk_context *ctx)
{
    const char *name = duk_require_string(ctx, 0);
    rp_server *s = js_started_server();
    static rp_server *before; /* before start(): the built-in table, made once */
    if (!s) {
        if (!before) {
            const char *err = NULL;
            before = rp_server_new();
            if (rp_server_finalize(before, &err) != 0)
                return duk_error(ctx, DUK_ERR_ERROR, "getMime: %s", err ? err : "no mime table");
        }
        s = before;
    }
    const char *type = rp_mime_type(s, name);
    if (!type)
        return 0;
    duk_push_string(ctx, type);
    return 1;
}

static duk_ret_t server_loader(duk_context *ctx)
{
    static const js_fn fns[] = {
        {"start", js_start, 1, NULL}, {"getMime", js_get_mime, 1, NULL}, {NULL, NULL, 0, NULL}};
    duk_push_object(ctx);
    js_put_functions(ctx, -1, fns, 0);
    return 1;
}

/* Called from mod_js.c's register_hooks: the `rampart` runner finalizes its
 * bootstrap configuration (LoadModule js) before it creates the main heap. */
void js_start_register_builtin(void)
{
    js_builtin_register("rampart-server", server_loader);
}
