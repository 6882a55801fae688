/* fuzz_event.c - libFuzzer target: the structured copy that carries
 * rampart.event.trigger() values between threads (modules/mod_js/copy.c
 * in its data-only mode: js_event_encode / js_event_decode_push, the codec
 * trigger() and the delivery use).
 *
 * First byte even: the rest is an encoded value, decoded in a fresh heap
 * (the decoder on arbitrary input: refused cleanly or decoded).  First byte
 * odd: the rest builds values (fuzz_js.h), put in an array and encoded;
 * decoding that must succeed.  Then, either way, after a successful
 * decode: encode the copy (E2), decode and encode again (E3); E2 and E3
 * must be equal bytes.  Checked too: no crash, no sanitizer report, no
 * Duktape fatal error (which aborts). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_js.h"

typedef struct blob {
    const uint8_t *in;
    size_t in_len;
    unsigned char *out;
    size_t out_len;
} blob;

static duk_ret_t decode_safe(duk_context *ctx, void *udata)
{
    blob *b = udata;
    js_event_decode_push(ctx, b->in, b->in_len);
    return 1;
}

static duk_ret_t encode_safe(duk_context *ctx, void *udata)
{
    blob *b = udata;
    js_event_encode(ctx, -1, &b->out, &b->out_len);
    return 0;
}

/* Decode in[0..n) onto the stack: 0, or -1 (nothing pushed). */
static int decode(duk_context *ctx, const void *in, size_t n)
{
    blob b = {in, n, NULL, 0};
    if (duk_safe_call(ctx, decode_safe, &b, 0, 1) != DUK_EXEC_SUCCESS) {
        duk_pop(ctx);
        return -1;
    }
    return 0;
}

/* Encode the value on top (left there): malloc'ed bytes, or NULL if the
 * encoder refused it. */
static unsigned char *encode(duk_context *ctx, size_t *len)
{
    blob b = {NULL, 0, NULL, 0};
    duk_dup_top(ctx);
    if (duk_safe_call(ctx, encode_safe, &b, 1, 1) != DUK_EXEC_SUCCESS) {
        duk_pop(ctx);
        return NULL;
    }
    duk_pop(ctx);
    *len = b.out_len;
    return b.out ? b.out : calloc(1, 1);
}

/* The value on top was decoded from trusted or untrusted bytes: a copy of
 * its copy encodes the same. */
static void round_trip(duk_context *ctx)
{
    size_t l2, l3;
    unsigned char *e2 = encode(ctx, &l2);
    if (!e2)
        return; /* e.g. nested deeper than trigger() allows */
    if (decode(ctx, e2, l2) != 0)
        abort(); /* the encoder wrote what the decoder refuses */
    unsigned char *e3 = encode(ctx, &l3);
    if (!e3)
        abort();
    if (l2 != l3 || memcmp(e2, e3, l2) != 0) {
        fprintf(stderr, "fuzz_event: a copy of a copy differs (%zu vs %zu bytes)\n", l2, l3);
        abort();
    }
    duk_pop(ctx);
    free(e2);
    free(e3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int build = data[0] & 1;
    data++;
    size--;
    duk_context *ctx = fuzz_heap();
    if (!build) {
        if (decode(ctx, data, size) == 0) {
            round_trip(ctx);
            duk_pop(ctx);
        }
        js_heap_free(ctx);
        return 0;
    }
    duk_idx_t base = duk_get_top(ctx);
    fb_build(ctx, data, size);
    duk_idx_t n = duk_get_top(ctx) - base;
    duk_push_array(ctx);
    for (duk_idx_t i = 0; i < n; i++) {
        duk_dup(ctx, base + i);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
    }
    size_t l1;
    unsigned char *e1 = encode(ctx, &l1);
    if (e1) {
        if (decode(ctx, e1, l1) != 0)
            abort(); /* the encoder wrote what the decoder refuses */
        round_trip(ctx);
        duk_pop(ctx);
        free(e1);
    }
    js_heap_free(ctx);
    return 0;
}
