/* fuzz_js.h - shared by the fuzz targets that run Duktape (mod_js's own
 * build of it, linked with mod_js's sources): heaps, and a small value
 * builder that turns fuzz bytes into JavaScript values. */
#ifndef FUZZ_JS_H
#define FUZZ_JS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "js_int.h"

/* A fresh mod_js heap (the globals every worker heap has), no loop, the
 * error log silenced (a corrupt snapshot is logged). */
static inline duk_context *fuzz_heap(void)
{
    rp_log_set_level(-1);
    js_heap_opts o = {.script_dir = "/nonexistent/rampart-fuzz"};
    duk_context *ctx = js_heap_new(&o);
    if (!ctx)
        abort();
    return ctx;
}

/* ---- the builder ---------------------------------------------------------------
 * The input is read as a program for a stack machine whose stack is the
 * Duktape value stack above `base`; each byte is an operation, some take
 * operands from the following bytes.  Every operation runs inside a
 * protected call, so a value the engine refuses (a bad RegExp) is just
 * skipped.  At the end the stack holds the values built. */

#define FB_MAX_VALUES 48

typedef struct fb {
    const uint8_t *p, *end;
    duk_idx_t base;
    int pop;    /* the step asks for the top value to be dropped */
    int pushed; /* the step pushed its value */
} fb;

static inline unsigned fb_u8(fb *b)
{
    return b->p < b->end ? *b->p++ : 0;
}

static inline uint32_t fb_u32(fb *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | fb_u8(b);
    return v;
}

static inline double fb_f64(fb *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fb_u8(b);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* A string of up to 31 bytes (any bytes: not always valid UTF-8). */
static inline void fb_push_str(duk_context *ctx, fb *b)
{
    size_t n = fb_u8(b) & 31;
    if ((size_t)(b->end - b->p) < n)
        n = (size_t)(b->end - b->p);
    duk_push_lstring(ctx, (const char *)b->p, n);
    b->p += n;
}

static inline duk_idx_t fb_count(duk_context *ctx, const fb *b)
{
    return duk_get_top(ctx) - b->base;
}

/* The value at position k (from the bottom, modulo the count). */
static inline duk_idx_t fb_pick(duk_context *ctx, const fb *b, unsigned k)
{
    duk_idx_t n = fb_count(ctx, b);
    return b->base + (duk_idx_t)(k % (unsigned)n);
}

static const char *const fb_ctors[] = {"Uint8Array", "Int16Array", "Float64Array", "ArrayBuffer",
                                       "DataView",   "Buffer",     "Uint32Array",  "Int8Array"};

static const char *const fb_sources[] = {
    "(function(a){return a+1})",
    "(function(){var x=3;return function(){return x}})()",
    "(new (function Point(){this.x=1;this.y=[2]})())",
    "(Object.defineProperty({},'acc',{get:function(){return [1,2]},enumerable:true}))",
    "(function(){return arguments})(1,'two',[3])",
    "JSON.parse('{\"__proto__\":{\"polluted\":1},\"k\":2}')",
    "rampart.utils.printf",
    "console",
    "Math",
    "new Error('boom')",
    "(function(){var a=[1,2,3];a[100]=4;a.extra='x';return a})()",
    "Object.create(null)",
    "new Number(5)",
    "new String('boxed')",
    "Symbol('s')",
    "(function(){var a=[];a.length=4294967295;return a})()",
    "Duktape.Pointer ? new Duktape.Pointer('p') : 1",
    "(function(){var o={};o.o=o;o.a=[o,o];return o})()",
};

static duk_ret_t fb_step(duk_context *ctx, void *udata)
{
    fb *b = udata;
    unsigned op = fb_u8(b);
    duk_idx_t n = fb_count(ctx, b);
    /* A step sees the whole stack (safe calls share the frame) but may only
     * push one value (returning 1) or change objects already there. */
    switch (op % 20) {
    case 0: duk_push_undefined(ctx); break;
    case 1: duk_push_null(ctx); break;
    case 2: duk_push_boolean(ctx, op & 0x20); break;
    case 3: duk_push_number(ctx, fb_f64(b)); break;
    case 4: duk_push_int(ctx, (int)(int8_t)fb_u8(b)); break;
    case 5: fb_push_str(ctx, b); break;
    case 6: { /* array of the top k values */
        unsigned k = fb_u8(b) % 6;
        if ((duk_idx_t)k > n)
            k = (unsigned)n;
        duk_push_array(ctx);
        for (unsigned i = 0; i < k; i++) {
            duk_dup(ctx, -(duk_idx_t)(k + 1) + (duk_idx_t)i);
            duk_put_prop_index(ctx, -2, i);
        }
        break;
    }
    case 7: { /* object: k keys, each given a value of the stack */
        unsigned k = fb_u8(b) % 6;
        duk_push_object(ctx);
        for (unsigned i = 0; i < k && n > 0; i++) {
            fb_push_str(ctx, b);
            duk_dup(ctx, fb_pick(ctx, b, fb_u8(b)));
            duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE |
                                      DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
        }
        break;
    }
    case 8: /* Date */
        duk_get_global_string(ctx, "Date");
        duk_push_number(ctx, fb_f64(b));
        duk_new(ctx, 1);
        break;
    case 9: { /* a buffer object of some bytes */
        const char *c = fb_ctors[fb_u8(b) % (sizeof fb_ctors / sizeof fb_ctors[0])];
        size_t len = fb_u8(b) & 15;
        if (strcmp(c, "DataView") == 0) {
            duk_get_global_string(ctx, c);
            duk_get_global_string(ctx, "ArrayBuffer");
            duk_push_uint(ctx, (duk_uint_t)len);
            duk_new(ctx, 1);
            duk_new(ctx, 1);
        } else {
            duk_get_global_string(ctx, c);
            duk_push_uint(ctx, (duk_uint_t)(len * 8));
            duk_new(ctx, 1);
        }
        duk_size_t bl;
        uint8_t *d = duk_get_buffer_data(ctx, -1, &bl);
        for (duk_size_t i = 0; d && i < bl && b->p < b->end; i += 1 + (i & 3))
            d[i] = (uint8_t)fb_u8(b);
        break;
    }
    case 10: { /* a plain buffer */
        size_t len = fb_u8(b) & 31;
        uint8_t *d = duk_push_fixed_buffer(ctx, len);
        for (size_t i = 0; i < len; i++)
            d[i] = (uint8_t)fb_u8(b);
        break;
    }
    case 11: /* RegExp(source, flags) */
        duk_get_global_string(ctx, "RegExp");
        fb_push_str(ctx, b);
        duk_push_string(ctx, (const char *[]){"", "g", "i", "m", "gim"}[fb_u8(b) % 5]);
        duk_new(ctx, 2);
        break;
    case 12: /* the same value again: a shared reference */
        if (n == 0)
            return 0;
        duk_dup(ctx, fb_pick(ctx, b, fb_u8(b)));
        break;
    case 13: /* obj[key] = another value (cycles and sharing) */
        if (n > 1 && duk_is_object(ctx, -1)) {
            fb_push_str(ctx, b);
            duk_dup(ctx, fb_pick(ctx, b, fb_u8(b)));
            duk_put_prop(ctx, -3);
        }
        return 0;
    case 14: /* arr[i] = value, i possibly far out (a sparse array) */
        if (n > 0 && duk_is_array(ctx, -1)) {
            uint32_t i = fb_u32(b) % 100000;
            duk_dup(ctx, fb_pick(ctx, b, fb_u8(b)));
            duk_put_prop_index(ctx, -2, i);
        }
        return 0;
    case 15: /* arr.length = small */
        if (duk_is_array(ctx, -1)) {
            duk_push_uint(ctx, fb_u8(b) % 64);
            duk_put_prop_string(ctx, -2, "length");
        }
        return 0;
    case 16: /* a value from JavaScript source */
        duk_eval_string(ctx, fb_sources[fb_u8(b) % (sizeof fb_sources / sizeof fb_sources[0])]);
        break;
    case 17: { /* special numbers */
        static const double sp[] = {0.0, -0.0, 1e308, -1e-308, 4294967295.0, 9007199254740993.0};
        unsigned k = fb_u8(b) % 8;
        if (k == 6)
            duk_push_nan(ctx);
        else if (k == 7)
            duk_eval_string(ctx, "Infinity");
        else
            duk_push_number(ctx, sp[k]);
        break;
    }
    case 18: /* pop */
        b->pop = 1;
        return 0;
    default: /* a string key with an index-like or special name */ {
        static const char *const keys[] = {"0", "4294967295", "-1", "1e3", "length", "__proto__",
                                           "constructor", "", "\xff\xfe", "\xc3\xa9"};
        duk_push_string(ctx, keys[fb_u8(b) % (sizeof keys / sizeof keys[0])]);
        break;
    }
    }
    b->pushed = 1;
    return 1;
}

/* Run the program; leaves the values built above base (at most
 * FB_MAX_VALUES). */
static inline void fb_build(duk_context *ctx, const uint8_t *data, size_t size)
{
    fb b = {data, data + size, duk_get_top(ctx), 0, 0};
    duk_require_stack(ctx, FB_MAX_VALUES + 16);
    int steps = 0;
    while (b.p < b.end && steps++ < 256) {
        if (fb_count(ctx, &b) >= FB_MAX_VALUES)
            duk_pop(ctx); /* keep the stack bounded: drop the top */
        duk_idx_t top = duk_get_top(ctx);
        b.pop = b.pushed = 0;
        /* nrets 1: the value the step pushed, or undefined */
        int rc = duk_safe_call(ctx, fb_step, &b, 0, 1);
        if (rc != DUK_EXEC_SUCCESS || !b.pushed)
            duk_set_top(ctx, top); /* errors and no-value steps add nothing */
        if (b.pop && fb_count(ctx, &b) > 0)
            duk_pop(ctx);
    }
}

#endif
