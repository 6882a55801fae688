/* fuzz_json.c - libFuzzer target: an application/json request body turned
 * into req.postData.content and merged into req.params, the way mod_js's
 * req.c (push_post) does it: the body pushed as a string, duk_json_decode
 * in a protected call, then the own enumerable properties of an object
 * result copied into params.  The heap is mod_js's (its Duktape build and
 * configuration, the globals of every worker heap).
 *
 * Checked: no crash, no sanitizer report, no Duktape fatal error (which
 * aborts); a body that parses also survives JSON.stringify, and
 * stringify(parse(stringify(v))) == stringify(v).
 *
 * One heap serves many inputs, as a worker's heap serves many requests;
 * it is replaced every 1000 inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_js.h"

static duk_ret_t json_decode_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_json_decode(ctx, -1);
    return 1;
}

static duk_ret_t json_encode_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_json_encode(ctx, -1);
    return 1;
}

/* As req.c's copy_props. */
static void copy_props(duk_context *ctx, duk_idx_t src, duk_idx_t dst)
{
    if (!duk_is_object(ctx, src) || duk_is_array(ctx, src) || duk_is_buffer_data(ctx, src))
        return;
    duk_enum(ctx, src, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1))
        duk_put_prop(ctx, dst);
    duk_pop(ctx);
}

static duk_context *g_ctx;
static unsigned g_uses;

static void free_heap(void)
{
    js_heap_free(g_ctx);
    g_ctx = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ctx || ++g_uses >= 1000) {
        if (!g_ctx)
            atexit(free_heap);
        js_heap_free(g_ctx);
        g_ctx = fuzz_heap();
        g_uses = 0;
    }
    duk_context *ctx = g_ctx;
    duk_idx_t top = duk_get_top(ctx);
    duk_push_object(ctx); /* params */
    duk_idx_t params = duk_get_top_index(ctx);
    duk_push_object(ctx); /* postData */
    duk_push_string(ctx, "application/json");
    duk_put_prop_string(ctx, -2, "Content-Type");
    duk_push_lstring(ctx, (const char *)data, size);
    if (duk_safe_call(ctx, json_decode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        (void)duk_safe_to_string(ctx, -1); /* the 400's message */
        duk_set_top(ctx, top);
        return 0;
    }
    copy_props(ctx, -1, params);
    duk_dup_top(ctx);
    duk_put_prop_string(ctx, -3, "content");

    /* stringify(v), then stringify(parse(that)) */
    duk_dup_top(ctx);
    if (duk_safe_call(ctx, json_encode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS)
        abort(); /* a parsed value has no cycle and nothing unencodable */
    if (!duk_is_string(ctx, -1)) {
        duk_set_top(ctx, top);
        return 0;
    }
    duk_size_t l1;
    const char *s1 = duk_get_lstring(ctx, -1, &l1);
    duk_dup_top(ctx);
    if (duk_safe_call(ctx, json_decode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS)
        abort(); /* stringify wrote what parse refuses */
    if (duk_safe_call(ctx, json_encode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS)
        abort();
    duk_size_t l2;
    const char *s2 = duk_get_lstring(ctx, -1, &l2);
    if (!s2 || l1 != l2 || memcmp(s1, s2, l1) != 0) {
        fprintf(stderr, "fuzz_json: stringify(parse(stringify(v))) differs\n");
        abort();
    }
    duk_set_top(ctx, top);
    return 0;
}
