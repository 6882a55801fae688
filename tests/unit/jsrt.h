/* jsrt.h - what the JavaScript runtime's unit tests (test_jsrt_*.c) share:
 * heaps from js_heap_new, and JavaScript evaluated to text, so a check
 * reads as "this source gives that text".  Built with librpjsrt (the runtime
 * of modules/mod_js/rt, no HTTP) and the core's objects. */
#ifndef UT_JSRT_H
#define UT_JSRT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h" /* rp_log_set_level */
#include "js_int.h"
#include "ut.h"

/* A heap as every worker gets (the rampart globals); loop may be NULL (no
 * timers), dir is where require() looks after the requiring file's
 * directory (NULL: the current directory). */
static inline duk_context *ut_heap(struct event_base *loop, const char *dir)
{
    js_heap_opts o = {.loop = loop, .script_dir = dir, .name = "unit test"};
    duk_context *ctx = js_heap_new(&o);
    if (!ctx) {
        fprintf(stderr, "js_heap_new failed\n");
        exit(2);
    }
    return ctx;
}

/* The texts ut_eval returns: a small ring, so a few can be compared at once
 * without freeing anything. */
static char ut_texts[8][8192];
static unsigned ut_next_text;

static inline const char *ut_keep(const char *s)
{
    char *t = ut_texts[ut_next_text++ % 8];
    snprintf(t, sizeof ut_texts[0], "%s", s ? s : "(null)");
    return t;
}

static duk_ret_t ut_eval_safe(duk_context *ctx, void *udata)
{
    duk_eval_string(ctx, udata);
    return 1;
}

/* The value on top as text (String(v)), or "Name: message" if v is an
 * error; pops it. */
static inline const char *ut_pop_text(duk_context *ctx)
{
    const char *t = ut_keep(duk_safe_to_string(ctx, -1));
    duk_pop(ctx);
    return t;
}

/* Evaluates src (a program: its last expression is the value) and returns
 * String(value), or the error's "Name: message" if it threw. */
static inline const char *ut_eval(duk_context *ctx, const char *src)
{
    duk_safe_call(ctx, ut_eval_safe, (void *)src, 0, 1);
    return ut_pop_text(ctx);
}

/* Evaluates src and leaves its value on the stack; 0, or -1 (the error on
 * the stack) if it threw. */
static inline int ut_push_eval(duk_context *ctx, const char *src)
{
    return duk_safe_call(ctx, ut_eval_safe, (void *)src, 0, 1) == DUK_EXEC_SUCCESS ? 0 : -1;
}

/* Writes text to path (the test's own temporary files); exits if it
 * cannot. */
static inline void ut_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

typedef struct {
    const char *src, *file;
} ut_source;

static duk_ret_t ut_eval_file_safe(duk_context *ctx, void *udata)
{
    ut_source *u = udata;
    duk_push_string(ctx, u->src);
    duk_push_string(ctx, u->file);
    duk_compile(ctx, 0);
    duk_call(ctx, 0);
    return 1;
}

/* Runs src as the script `file` (errors name file:line) and leaves its
 * value, or its error, on the stack; 0 or -1 as ut_push_eval. */
static inline int ut_push_eval_file(duk_context *ctx, const char *src, const char *file)
{
    ut_source u = {src, file};
    return duk_safe_call(ctx, ut_eval_file_safe, &u, 0, 1) == DUK_EXEC_SUCCESS ? 0 : -1;
}

#endif
