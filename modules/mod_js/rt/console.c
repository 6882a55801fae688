/* console.c - console (log, info, error, warn), rampart.globalize, and
 * the `rampart` global put together from the parts in format.c, fs.c and
 * process.c. */
#include <stdio.h>
#include "js_int.h"
#include "rt.h"

/* One whole line per call, flushed at once: worker threads log concurrently,
 * and a server's console output must reach its log file while it runs. */
static void console_out(duk_context *ctx, FILE *f)
{
    duk_idx_t n = duk_get_top(ctx);
    for (duk_idx_t i = 0; i < n; i++)
        js_inspect_push(ctx, i); /* may call into JS: before taking the lock */
    flockfile(f);
    for (duk_idx_t i = n; i < 2 * n; i++) {
        duk_size_t len;
        const char *s = duk_get_lstring(ctx, i, &len);
        if (i > n)
            fputc(' ', f);
        if (s)
            fwrite(s, 1, len, f);
    }
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
    duk_pop_n(ctx, n);
}

static duk_ret_t c_log(duk_context *ctx)
{
    console_out(ctx, stdout);
    return 0;
}

static duk_ret_t c_error(duk_context *ctx)
{
    fflush(stdout);
    console_out(ctx, stderr);
    fflush(stderr);
    return 0;
}

/* rampart.globalize(obj [, keys]): copy obj's own enumerable properties (or
 * only those named in the array keys) to the global object. */
static duk_ret_t r_globalize(duk_context *ctx)
{
    if (!duk_is_object(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "globalize: the argument must be an object");
    duk_push_global_object(ctx);
    if (duk_is_array(ctx, 1)) {
        duk_size_t n = duk_get_length(ctx, 1);
        for (duk_size_t i = 0; i < n; i++) {
            duk_get_prop_index(ctx, 1, (duk_uarridx_t)i);
            duk_dup_top(ctx);
            duk_get_prop(ctx, 0);
            duk_put_prop(ctx, -3);
        }
    } else {
        duk_enum(ctx, 0, DUK_ENUM_OWN_PROPERTIES_ONLY);
        while (duk_next(ctx, -1, 1))
            duk_put_prop(ctx, -4);
        duk_pop(ctx);
    }
    duk_pop(ctx);
    return 0;
}

void js_utils_install(duk_context *ctx)
{
    static const js_fn rampart_fns[] = {{"globalize", r_globalize, 2, "rampart.globalize"},
                                        {NULL, NULL, 0, NULL}};
    static const js_fn console_fns[] = {{"log", c_log, DUK_VARARGS, "console.log"},
                                        {"info", c_log, DUK_VARARGS, "console.info"},
                                        {"error", c_error, DUK_VARARGS, "console.error"},
                                        {"warn", c_error, DUK_VARARGS, "console.warn"},
                                        {NULL, NULL, 0, NULL}};
    duk_push_object(ctx); /* rampart */
    js_register_native(ctx, -1, "rampart");
    duk_push_object(ctx); /* rampart.utils, in the order the spec lists them */
    js_register_native(ctx, -1, "rampart.utils");
    js_put_functions(ctx, -1, js_format_fns, JS_FN_NAMED);
    js_put_functions(ctx, -1, js_fs_fns, JS_FN_NAMED);
    js_put_functions(ctx, -1, js_text_fns, JS_FN_NAMED);
    js_put_functions(ctx, -1, js_process_fns, JS_FN_NAMED);
    js_put_std_handles(ctx, -1);
    duk_put_prop_string(ctx, -2, "utils");
    js_put_functions(ctx, -1, rampart_fns, JS_FN_NAMED);
    duk_push_string(ctx, rp_version());
    duk_put_prop_string(ctx, -2, "version");
    js_def_global(ctx, "rampart");

    duk_push_object(ctx); /* console */
    js_register_native(ctx, -1, "console");
    js_put_functions(ctx, -1, console_fns, JS_FN_NAMED);
    js_def_global(ctx, "console");
}
