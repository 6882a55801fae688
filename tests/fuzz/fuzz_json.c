/* fuzz_json.c - libFuzzer target: an application/json request body turned
 * into req.postData.content and merged into req.params, the way mod_js's
 * req.c does it: a body that is not UTF-8 refused (js_utf8_valid), the
 * body pushed as a string, duk_json_decode in a protected call, then the
 * own enumerable properties of an object result copied into params.  The heap is mod_js's (its Duktape build and
 * configuration, the globals of every worker heap).
 *
 * Checked: no crash, no sanitizer report, no Duktape fatal error (which
 * aborts); a body that parses also survives JSON.stringify, and what
 * stringify writes parses and stringifies again.
 *
 * One heap serves many inputs, as a worker's heap serves many requests;
 * it is replaced every 1000 inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_js.h"
#include "js_parse.h"
#include "utf8_ref.h"

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_json: %s\n", why);
    abort();
}

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
    int utf8 = js_utf8_valid((const char *)data, size);
    if (utf8 != ref_valid(data, size))
        fail("js_utf8_valid disagrees with the reference decoder");
    if (!utf8)
        return 0; /* 400: Duktape would read such bytes leniently */
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
        fail("JSON.stringify of a parsed value threw");
    if (!duk_is_string(ctx, -1)) {
        duk_set_top(ctx, top);
        return 0;
    }
    duk_dup_top(ctx);
    if (duk_safe_call(ctx, json_decode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS)
        fail("JSON.parse refused what JSON.stringify wrote");
    if (duk_safe_call(ctx, json_encode_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS)
        fail("JSON.stringify threw on the second round");
    /* Not compared byte for byte: Duktape's number to string is not
     * always the shortest round trip (123645789012316190 prints as
     * ...200, which reads back as ...210), a known engine limit. */
    duk_set_top(ctx, top);
    return 0;
}
