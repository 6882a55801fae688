/* fuzz_snapshot.c - libFuzzer target: the snapshot codec that copies the
 * main script's globals into worker heaps (modules/mod_js/copy.c:
 * js_snapshot_take / js_snapshot_add / js_snapshot_apply).
 *
 * First byte even: the rest is a snapshot's bytes, applied to a fresh heap
 * (the decoder on arbitrary input).  A snapshot is trusted data - apply
 * loads function bytecode (Duktape does not check bytecode) and requires
 * modules by name - so inputs that would reach a T_FUNC or T_MODULE record
 * are skipped (see skip_untrusted); everything else must be refused
 * cleanly or applied.
 * First byte odd: the rest builds values (fuzz_js.h) that become the
 * globals of a fresh heap (one also added with js_snapshot_add), whose
 * snapshot is taken; taking it and applying it must succeed.
 * Then, either way, after a successful apply: the heap's globals are taken
 * again (S2), applied to a third heap and taken once more (S3); S2 and S3
 * must be equal bytes (a copy of a copy is the copy).  Checked too: no
 * crash, no sanitizer report, no Duktape fatal error (which aborts). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_js.h"

/* The record tags of copy.c (its enum, in its order). */
enum { T_UNDEF = 1, T_NULL, T_TRUE, T_FALSE, T_NUM, T_STR, T_REF, T_OBJ, T_ARR, T_DATE,
       T_REGEXP, T_PBUF, T_BUFOBJ, T_FUNC, T_NATIVE, T_MODULE };

typedef struct walk {
    const uint8_t *p, *end;
    int untrusted; /* a T_FUNC or T_MODULE was reached */
} walk;

static int w_take(walk *w, size_t n)
{
    if ((size_t)(w->end - w->p) < n)
        return -1;
    w->p += n;
    return 0;
}

static int w_u32(walk *w, uint32_t *v)
{
    if ((size_t)(w->end - w->p) < 4)
        return -1;
    memcpy(v, w->p, 4);
    w->p += 4;
    return 0;
}

static int w_str(walk *w)
{
    uint32_t n;
    return w_u32(w, &n) || w_take(w, n) ? -1 : 0;
}

static int w_value(walk *w, int depth);

static int w_props(walk *w, int depth)
{
    uint32_t n;
    if (w_u32(w, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++)
        if (w_str(w) || w_value(w, depth + 1))
            return -1;
    return 0;
}

/* Walks a value as decode_value reads it; -1 where decoding must stop (the
 * data ends or is corrupt; decode_value stops there or earlier), and stops
 * with untrusted set at a T_FUNC or T_MODULE. */
static int w_value(walk *w, int depth)
{
    if (depth > 1100 || w->p >= w->end)
        return -1; /* decode_value gives up beyond 1008 levels */
    switch (*w->p++) {
    case T_UNDEF:
    case T_NULL:
    case T_TRUE:
    case T_FALSE: return 0;
    case T_NUM: return w_take(w, 8);
    case T_STR:
    case T_PBUF:
    case T_NATIVE: return w_str(w);
    case T_REF: return w_take(w, 4);
    case T_OBJ: return w_take(w, 4) || w_props(w, depth) ? -1 : 0;
    case T_ARR: return w_take(w, 8) || w_props(w, depth) ? -1 : 0;
    case T_DATE: return w_take(w, 12);
    case T_REGEXP: return w_take(w, 4) || w_str(w) || w_str(w) ? -1 : 0;
    case T_BUFOBJ: return w_take(w, 5) || w_str(w) ? -1 : 0;
    case T_FUNC:
    case T_MODULE: w->untrusted = 1; return -1;
    default: return -1;
    }
}

static int skip_untrusted(const uint8_t *p, size_t n)
{
    walk w = {p, p + n, 0};
    while (w.p < w.end)
        if (w_take(&w, 1) || w_str(&w) || w_value(&w, 0))
            break;
    return w.untrusted;
}

typedef struct take_args {
    js_snapshot *snap;
    int add; /* also js_snapshot_add the value on top as "extra" */
} take_args;

static duk_ret_t take_safe(duk_context *ctx, void *udata)
{
    take_args *a = udata;
    a->snap = js_snapshot_take(ctx);
    if (a->add)
        js_snapshot_add(a->snap, ctx, "extra", -1);
    return 0;
}

/* A snapshot of ctx's globals (and the top value as "extra"); NULL if
 * taking it threw. */
static js_snapshot *take(duk_context *ctx, int add)
{
    take_args a = {NULL, add};
    if (add)
        duk_dup_top(ctx);
    if (duk_safe_call(ctx, take_safe, &a, add ? 1 : 0, 1) != DUK_EXEC_SUCCESS) {
        duk_pop(ctx);
        js_snapshot_free(a.snap);
        return NULL;
    }
    duk_pop(ctx);
    return a.snap;
}

static void same_bytes(const js_snapshot *a, const js_snapshot *b)
{
    size_t la, lb;
    const void *pa = js_snapshot_bytes(a, &la), *pb = js_snapshot_bytes(b, &lb);
    if (la != lb || (la && memcmp(pa, pb, la) != 0)) {
        fprintf(stderr, "fuzz_snapshot: a copy of a copy differs (%zu vs %zu bytes)\n", la, lb);
        abort();
    }
}

/* Apply s1 to a fresh heap; on success take it again (S2), apply S2 to
 * another heap and take that (S3): S2 must equal S3. */
static void round_trip(const js_snapshot *s1, int must_apply)
{
    duk_context *b = fuzz_heap();
    if (js_snapshot_apply(s1, b) != 0) {
        if (must_apply)
            abort(); /* the encoder wrote what the decoder refuses */
        js_heap_free(b);
        return;
    }
    js_snapshot_push(s1, b, "extra");
    duk_pop(b);
    js_snapshot *s2 = take(b, 0);
    if (!s2)
        abort(); /* values the decoder made cannot be encoded */
    duk_context *c = fuzz_heap();
    if (js_snapshot_apply(s2, c) != 0)
        abort();
    js_snapshot *s3 = take(c, 0);
    if (!s3)
        abort();
    same_bytes(s2, s3);
    js_snapshot_free(s3);
    js_snapshot_free(s2);
    js_heap_free(c);
    js_heap_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int build = data[0] & 1;
    data++;
    size--;
    if (!build) {
        if (skip_untrusted(data, size))
            return 0;
        js_snapshot *s1 = js_snapshot_from_bytes(data, size);
        if (!s1)
            return 0;
        round_trip(s1, 0);
        js_snapshot_free(s1);
        return 0;
    }
    duk_context *a = fuzz_heap();
    duk_idx_t base = duk_get_top(a);
    fb_build(a, data, size);
    duk_idx_t n = duk_get_top(a) - base;
    for (duk_idx_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", (int)i);
        duk_push_global_object(a);
        duk_push_string(a, name);
        duk_dup(a, base + i);
        duk_def_prop(a, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE |
                                DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
        duk_pop(a);
    }
    if (n == 0)
        duk_push_undefined(a);
    js_snapshot *s1 = take(a, 1);
    if (!s1)
        abort(); /* take throws only on out-of-memory */
    round_trip(s1, 1);
    js_snapshot_free(s1);
    js_heap_free(a);
    return 0;
}
