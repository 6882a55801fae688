/* errstack.c - the stack trace users see.
 *
 * Duktape's traceback ("    at f (file:line) flags") also lists the C call
 * sites of errors raised in C: Duktape's own sources ("duk_hobject_props.c")
 * and mod_js's ("/home/.../modules/mod_js/require.c:288").  Those paths say
 * nothing to a script's author and leak the build machine's layout, so every
 * trace shown (js_error_text, console.log of an Error) goes through
 * js_push_error_stack: frames in C sources are dropped, Duktape's flags
 * ("preventsyield", "internal", "strict") go, and an error whose fileName /
 * lineNumber name a script that no frame shows (a SyntaxError in a module:
 * require sets them) gets that place as its first frame.  Duktape 2 keeps
 * no column numbers, so a place is "file:line".
 *
 * Scripts reading err.stack get the same text: js_errstack_install puts a
 * getter on Error.prototype.stack that cleans what Duktape's own getter
 * returns.  Cleaning is idempotent, so js_push_error_stack may read an
 * already cleaned stack. */
#include <stdlib.h>
#include <string.h>

#include "js_int.h"

#define FRAME_PREFIX "    at "

/* "file.c:123": a place in a C source (Duktape's or mod_js's). */
static int is_c_place(const char *place, size_t len)
{
    const char *colon = memrchr(place, ':', len);
    size_t n = colon ? (size_t)(colon - place) : len;
    return n >= 2 && place[n - 2] == '.' && place[n - 1] == 'c';
}

/* One frame line (without its '\n'), pushed rewritten; a C frame pushes
 * nothing.
 *   "    at f (file:line) flags"  -> "    at f (file:line)"
 *   "    at f () native strict"   -> "    at f (native)"
 *   "    at f (dir/x.c:12) ..."   -> dropped */
static void frame_put(duk_context *ctx, const char *l, size_t len)
{
    const char *open = memchr(l, '(', len);
    const char *close = open ? memchr(open, ')', len - (size_t)(open - l)) : NULL;
    if (!close) {
        duk_push_lstring(ctx, l, len); /* not Duktape's shape: as is */
        return;
    }
    const char *place = open + 1;
    size_t plen = (size_t)(close - place);
    if (plen && is_c_place(place, plen))
        return;
    const char *rest = close + 1, *end = l + len;
    int native = !plen && rest < end && strstr(rest, "native") != NULL;
    duk_push_lstring(ctx, l, (size_t)(open - l) + 1);
    if (plen)
        duk_push_lstring(ctx, place, plen);
    else
        duk_push_string(ctx, native ? "native" : "");
    duk_push_string(ctx, ")");
    duk_concat(ctx, 3);
}

/* fileName:lineNumber of the error at idx when it names a script (not a C
 * source): pushed as a frame line, 1; else nothing pushed, 0. */
static int own_place(duk_context *ctx, duk_idx_t idx, const char *stack)
{
    duk_get_prop_string(ctx, idx, "fileName");
    duk_get_prop_string(ctx, idx, "lineNumber");
    const char *file = duk_get_string(ctx, -2);
    int ok = file && *file && duk_is_number(ctx, -1) && !is_c_place(file, strlen(file));
    if (ok) { /* shown already: by a frame, or by an earlier cleaning */
        long line = (long)duk_get_int(ctx, -1);
        duk_push_sprintf(ctx, "(%s:%ld)", file, line);
        duk_push_sprintf(ctx, FRAME_PREFIX "%s:%ld", file, line);
        ok = !strstr(stack, duk_get_string(ctx, -2)) && !strstr(stack, duk_get_string(ctx, -1));
        duk_pop_2(ctx);
    }
    if (ok)
        duk_push_sprintf(ctx, FRAME_PREFIX "%s:%ld", file, (long)duk_get_int(ctx, -1));
    duk_remove(ctx, ok ? -2 : -1);
    duk_remove(ctx, ok ? -2 : -1);
    return ok;
}

/* The raw stack string at the top, of the Error at idx: replaced by the
 * cleaned one. */
static void clean_top(duk_context *ctx, duk_idx_t idx)
{
    const char *stack = duk_get_string(ctx, -1);
    duk_idx_t base = duk_get_top(ctx);
    int in_frames = 0;
    for (const char *l = stack; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        int frame = len > strlen(FRAME_PREFIX) && !strncmp(l, FRAME_PREFIX, strlen(FRAME_PREFIX));
        if (frame && !in_frames) {
            in_frames = 1;
            own_place(ctx, idx, stack); /* before the first frame */
        }
        if (frame)
            frame_put(ctx, l, len);
        else
            duk_push_lstring(ctx, l, len); /* the message, maybe several lines */
        l = nl ? nl + 1 : l + len;
    }
    if (!in_frames)
        own_place(ctx, idx, stack);
    duk_idx_t n = duk_get_top(ctx) - base;
    duk_push_string(ctx, "\n");
    duk_insert(ctx, base);
    duk_join(ctx, n);
    duk_remove(ctx, -2); /* the raw stack */
}

int js_push_error_stack(duk_context *ctx, duk_idx_t idx)
{
    idx = duk_normalize_index(ctx, idx);
    if (!duk_is_error(ctx, idx))
        return 0;
    duk_get_prop_string(ctx, idx, "stack");
    if (!duk_is_string(ctx, -1)) {
        duk_pop(ctx);
        return 0;
    }
    clean_top(ctx, idx);
    return 1;
}

#define K_RAW_GETTER DUK_HIDDEN_SYMBOL("rpRawStack")

/* Error.prototype.stack's getter: Duktape's (kept on this function), then
 * cleaned - for errors only; anything else gets Duktape's answer. */
static duk_ret_t stack_getter(duk_context *ctx)
{
    duk_push_this(ctx);
    duk_push_current_function(ctx);
    duk_get_prop_literal(ctx, -1, K_RAW_GETTER);
    duk_dup(ctx, 0);
    duk_call_method(ctx, 0); /* [this fn raw] */
    if (duk_is_string(ctx, -1) && duk_is_error(ctx, 0))
        clean_top(ctx, 0);
    return 1;
}

static duk_ret_t install_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_get_global_literal(ctx, "Error");
    duk_get_prop_literal(ctx, -1, "prototype");
    duk_idx_t proto = duk_get_top_index(ctx);
    duk_push_literal(ctx, "stack");
    duk_get_prop_desc(ctx, proto, 0); /* [.. proto desc] */
    duk_get_prop_literal(ctx, -1, "get");
    duk_get_prop_literal(ctx, -2, "set"); /* [.. proto desc get set] */
    if (!duk_is_function(ctx, -2) || duk_has_prop_literal(ctx, -2, K_RAW_GETTER))
        return 0; /* no Duktape getter to wrap, or wrapped already */
    duk_push_literal(ctx, "stack");
    duk_push_c_function(ctx, stack_getter, 0);
    duk_dup(ctx, -4);
    duk_put_prop_literal(ctx, -2, K_RAW_GETTER);
    duk_dup(ctx, -3); /* Duktape's setter: assigning stack still works */
    duk_def_prop(ctx, proto, DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_SETTER);
    return 0;
}

int js_errstack_install(duk_context *ctx)
{
    duk_idx_t top = duk_get_top(ctx);
    int rc = duk_safe_call(ctx, install_safe, NULL, 0, 1) == DUK_EXEC_SUCCESS ? 0 : -1;
    duk_set_top(ctx, top);
    return rc;
}
