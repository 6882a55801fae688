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
 * no column numbers, so a place is "file:line". */
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
    if (ok) {
        duk_push_sprintf(ctx, "(%s:%ld)", file, (long)duk_get_int(ctx, -1));
        ok = strstr(stack, duk_get_string(ctx, -1)) == NULL;
        duk_pop(ctx);
    }
    if (ok)
        duk_push_sprintf(ctx, FRAME_PREFIX "%s:%ld", file, (long)duk_get_int(ctx, -1));
    duk_remove(ctx, ok ? -2 : -1);
    duk_remove(ctx, ok ? -2 : -1);
    return ok;
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
    return 1;
}
