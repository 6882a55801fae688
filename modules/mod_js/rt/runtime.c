/* runtime.c - Duktape heaps for mod_js's runtime (librpjsrt): creation with the rampart globals,
 * the fatal handler and its landing (js_guard), the heap allocator with its
 * memory cap, the native stack check, the cooperative deadline
 * (exec-timeout check, also for long natives and the server's stop), the
 * registry of runtime natives, and error text. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "js_int.h"
#include "rt.h"

/* Only the name is read (rp_log's "[js]"); it is no plugin descriptor. */
const rp_module js_log_tag = {.name = "js"};

/* ---- clocks and scripts ------------------------------------------------------ */

double js_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void js_strip_shebang(char *src, size_t len)
{
    if (len >= 2 && src[0] == '#' && src[1] == '!') {
        src[0] = '/';
        src[1] = '/';
    }
}

/* ---- heap state ---------------------------------------------------------- */

js_heap *js_heap_of(duk_context *ctx)
{
    duk_memory_functions mf;
    duk_get_memory_functions(ctx, &mf);
    return mf.udata;
}

int js_stopping_now(void)
{
    return rp_stop_state_get() == RP_STOP_NOW;
}

/* What both interrupt checks answer before reading a clock: 1 throw, 0 go
 * on, -1 armed and not yet known to have expired. */
static int deadline_verdict(const js_heap *h)
{
    if (!h || h->freeing)
        return 0;
    if (js_stopping_now())
        return 1;
    if (!h->armed)
        return 0;
    return h->expired ? 1 : -1;
}

/* Called by Duktape (DUK_USE_EXEC_TIMEOUT_CHECK) every 256k instructions,
 * and by js_native_interrupt.  Nonzero makes Duktape throw "execution
 * timeout"; it keeps answering so until the deadline is disarmed, so the
 * error leaves every catch. */
int js_exec_timeout_check(void *udata)
{
    js_heap *h = udata;
    int v = deadline_verdict(h);
    if (v >= 0)
        return v;
    if (js_now_mono() >= h->deadline) {
        h->expired = 1;
        return 1;
    }
    return 0;
}

/* Called from duk_native_stack_check (patched in by gen_duk_config.cmake):
 * on every Duktape call, regexp matcher step, JSON nesting level and sort
 * partition.  A counter of calls would not do (one JSON.parse of a big text
 * is a single call), so the clock is read each time: the coarse one, a few
 * nanoseconds (its tick, a few milliseconds, does not matter for a
 * deadline).  An expired deadline answers at once: the error must keep
 * coming until it has left the script. */
int js_native_interrupt(void *udata)
{
    js_heap *h = udata;
    int v = deadline_verdict(h);
    if (v >= 0)
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 >= h->deadline) {
        h->expired = 1;
        return 1;
    }
    return 0;
}

/* ---- the native stack ----------------------------------------------------------
 * Duktape asks js_native_stack_check (DUK_USE_NATIVE_STACK_CHECK) before it
 * recurses in C.  The answer compares this frame's address with a floor:
 * the lowest address of the thread's stack plus a reserve for what runs
 * between two checks (error creation, a native's own frames, a garbage
 * collection's marking recursion, sanitizer-sized frames).  Heaps are bound
 * to a thread, so the floor is per thread, computed on first use. */

#define STACK_RESERVE_MIN ((size_t)256 * 1024)
#define STACK_RESERVE_MAX ((size_t)2 * 1024 * 1024)

static _Thread_local uintptr_t tls_stack_floor;

static uintptr_t stack_floor(void)
{
    pthread_attr_t a;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return 1; /* unknown: the count limits alone */
    int ok = pthread_attr_getstack(&a, &lo, &size) == 0;
    pthread_attr_destroy(&a);
    if (!ok || !lo || !size)
        return 1;
    size_t reserve = size / 8;
    if (reserve < STACK_RESERVE_MIN)
        reserve = STACK_RESERVE_MIN;
    if (reserve > STACK_RESERVE_MAX)
        reserve = STACK_RESERVE_MAX;
    if (reserve > size / 2) /* a tiny stack: keep half of it usable */
        reserve = size / 2;
    return (uintptr_t)lo + reserve;
}

int js_native_stack_check(void)
{
    /* the real frame (a sanitizer's fake stack may hold the locals) */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (!tls_stack_floor)
        tls_stack_floor = stack_floor();
    return sp < tls_stack_floor;
}

/* ---- the heap allocator ---------------------------------------------------------
 * malloc/realloc/free counting the bytes each heap holds (the allocator's
 * usable size, so nothing is stored next to the blocks), refusing what
 * would go over the heap's cap.  Duktape then collects garbage, retries and
 * finally throws an allocation error, which ends the script like any
 * error; the process is never OOM-killed for one script. */

static void *heap_alloc(void *udata, duk_size_t size)
{
    js_heap *h = udata;
    if (h->mem_limit && (size > h->mem_limit || h->mem_used > h->mem_limit - size)) {
        h->mem_hit = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        h->mem_used += malloc_usable_size(p);
    return p;
}

static void heap_free_block(void *udata, void *ptr)
{
    js_heap *h = udata;
    if (!ptr)
        return;
    h->mem_used -= malloc_usable_size(ptr);
    free(ptr);
}

static void *heap_realloc(void *udata, void *ptr, duk_size_t size)
{
    js_heap *h = udata;
    if (!ptr)
        return heap_alloc(udata, size);
    if (size == 0) { /* Duktape's contract: free, answer NULL */
        heap_free_block(udata, ptr);
        return NULL;
    }
    size_t old = malloc_usable_size(ptr);
    size_t base = h->mem_used - old;
    if (h->mem_limit && size > old && (size > h->mem_limit || base > h->mem_limit - size)) {
        h->mem_hit = 1;
        return NULL;
    }
    void *np = realloc(ptr, size);
    if (!np)
        return NULL;
    h->mem_used = base + malloc_usable_size(np);
    return np;
}

int js_heap_memory_hit(duk_context *ctx)
{
    js_heap *h = js_heap_of(ctx);
    int hit = h->mem_hit;
    h->mem_hit = 0;
    return hit;
}

size_t js_heap_memory_used(duk_context *ctx)
{
    return js_heap_of(ctx)->mem_used;
}

void js_deadline_arm(duk_context *ctx, double seconds)
{
    js_heap *h = js_heap_of(ctx);
    h->expired = 0;
    if (seconds > 0) {
        h->deadline = js_now_mono() + seconds;
        h->armed = 1;
    } else {
        h->armed = 0;
    }
}

int js_deadline_expired(duk_context *ctx)
{
    const js_heap *h = js_heap_of(ctx);
    return h->armed && (h->expired || js_now_mono() >= h->deadline);
}

/* Fatal errors without a heap: only Duktape's internal assertions. */
void js_default_fatal(void *udata, const char *msg)
{
    (void)udata;
    rp_log(JS_LOG, RP_LOG_ERR, "Duktape fatal error: %s", msg ? msg : "(no message)");
    fprintf(stderr, "rampart: Duktape fatal error: %s\n", msg ? msg : "(no message)");
    abort();
}

/* ---- fatal errors -------------------------------------------------------------
 * Landings are a per-thread stack (heaps are bound to their thread), at most
 * one per heap: the innermost landing is the heap running now.
 *
 * Why leaving by longjmp is sound: Duktape 2.7 calls a heap's fatal handler
 * from duk_err_longjmp when the error has no catcher (or from duk_fatal),
 * i.e. exactly where it would otherwise longjmp to a catcher itself: its
 * data structures are as consistent as at any throw, and nothing of Duktape
 * runs after the jump.  What is not consistent is the error state (it may
 * point at catchers in the frames we skip), so the heap is marked broken
 * and never entered again: its timers and rampart.event registrations are
 * cancelled at once (they would call into it), and destroying it later
 * (duk_destroy_heap: finalizers in fresh protected calls) is all that is
 * done with it.  C frames skipped by the jump are those of the guarded code
 * and of Duktape natives, which already have to tolerate Duktape's own
 * longjmps. */

typedef struct js_landing {
    jmp_buf jb;
    js_heap *heap;
    struct js_landing *prev;
} js_landing;

static _Thread_local js_landing *tls_landing;

static int has_landing(const js_heap *h)
{
    for (const js_landing *l = tls_landing; l; l = l->prev)
        if (l->heap == h)
            return 1;
    return 0;
}

int js_guard(duk_context *ctx, void (*fn)(duk_context *ctx, void *arg), void *arg)
{
    js_heap *h = js_heap_of(ctx);
    if (h->broken) /* its error state points into frames that are gone */
        return -1;
    if (has_landing(h)) {
        fn(ctx, arg);
        return 0;
    }
    js_landing l;
    l.heap = h;
    l.prev = tls_landing;
    tls_landing = &l;
    if (setjmp(l.jb) != 0) {
        /* from heap_fatal: l and h are unchanged since setjmp */
        tls_landing = l.prev;
        js_timers_free(l.heap);
        js_event_heap_gone(l.heap->ctx);
        return -1;
    }
    fn(ctx, arg);
    tls_landing = l.prev;
    return 0;
}

/* A main heap broken by a timer or event callback: with start()'s server
 * serving, the script's callbacks stop and the server goes on; without one
 * nothing is left to run, so the script ends as after an uncaught error. */
static void main_heap_broke(js_heap *h, const char *what)
{
    if (js_started_server()) {
        rp_log(JS_LOG, RP_LOG_ERR,
               "%s: Duktape fatal error in the main heap (%s): the main script's timers and "
               "rampart.event callbacks stop; the server goes on",
               what, h->fatal_msg);
        return;
    }
    fflush(stdout);
    fprintf(stderr, "rampart: %s: Duktape fatal error: %s; the script ends (status 1)\n", what,
            h->fatal_msg);
    fflush(NULL);
    exit(1);
}

int js_guard_loop(duk_context *ctx, void (*fn)(duk_context *ctx, void *arg), void *arg,
                  const char *what)
{
    js_heap *h = js_heap_of(ctx);
    if (h->broken)
        return -1; /* told once, when it broke */
    if (js_guard(ctx, fn, arg) == 0)
        return 0;
    if (h->is_main)
        main_heap_broke(h, what);
    else if (h->on_broken)
        h->on_broken(ctx, what); /* may free the heap: h is not touched after */
    else
        rp_log(JS_LOG, RP_LOG_ERR,
               "%s: Duktape fatal error (%s): the heap is replaced when next used", what,
               h->fatal_msg);
    return -1;
}

void js_heap_set_stream(duk_context *ctx, struct js_hstream *state)
{
    js_heap_of(ctx)->stream = state;
}

struct js_hstream *js_heap_stream(duk_context *ctx)
{
    return js_heap_of(ctx)->stream;
}

int js_heap_broken(duk_context *ctx)
{
    return js_heap_of(ctx)->broken;
}

const char *js_heap_fatal_msg(duk_context *ctx)
{
    return js_heap_of(ctx)->fatal_msg;
}

/* A heap's fatal handler (must not return): leave through the heap's
 * landing, or abort when it has none - better than running on. */
static void heap_fatal(void *udata, const char *msg)
{
    js_heap *h = udata;
    if (!msg)
        msg = "(no message)";
    js_landing *l = tls_landing;
    if (h && l && l->heap == h) {
        h->broken = 1;
        snprintf(h->fatal_msg, sizeof h->fatal_msg, "%s", msg);
        rp_log(JS_LOG, RP_LOG_ERR,
               "Duktape fatal error in %s heap: %s; the heap is discarded",
               h->is_main ? "the main" : "a worker", msg);
        longjmp(l->jb, 1);
    }
    rp_log(JS_LOG, RP_LOG_ERR, "Duktape fatal error in %s heap: %s",
           h && h->is_main ? "the main" : "a worker", msg);
    fprintf(stderr, "rampart: Duktape fatal error: %s\n", msg);
    fflush(NULL);
    abort();
}

/* __rptest.fatal(msg) (RAMPART_TEST_HOOKS): a Duktape fatal error on
 * demand, for the integration tests of what a server does when a heap
 * breaks mid-request (the landings themselves are unit-tested:
 * tests/unit/test_jsrt_heap.c). */
static duk_ret_t test_fatal(duk_context *ctx)
{
    (void)duk_fatal(ctx, duk_is_string(ctx, 0) ? duk_get_string(ctx, 0) : "test fatal error");
    return 0;
}

static void install_fatal_hook(duk_context *ctx)
{
    static const js_fn fns[] = {{"fatal", test_fatal, 1, NULL}, {NULL, NULL, 0, NULL}};
    duk_push_object(ctx);
    js_put_functions(ctx, -1, fns, 0);
    js_def_global(ctx, "__rptest");
}

/* ---- runtime natives ------------------------------------------------------- */

void js_push_native_registry(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_literal(ctx, -1, JS_STASH_NATIVES)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_literal(ctx, -3, JS_STASH_NATIVES);
    }
    duk_remove(ctx, -2);
}

void js_register_native(duk_context *ctx, duk_idx_t idx, const char *path)
{
    idx = duk_normalize_index(ctx, idx);
    js_push_native_registry(ctx);
    duk_dup(ctx, idx);
    duk_put_prop_string(ctx, -2, path);
    duk_pop(ctx);
}

void js_push_native(duk_context *ctx, const char *path)
{
    js_push_native_registry(ctx);
    duk_get_prop_string(ctx, -1, path);
    duk_remove(ctx, -2);
}

void js_put_functions(duk_context *ctx, duk_idx_t obj_idx, const js_fn *fns, unsigned flags)
{
    obj_idx = duk_normalize_index(ctx, obj_idx);
    for (const js_fn *f = fns; f->name; f++) {
        duk_push_string(ctx, f->name);
        duk_push_c_function(ctx, f->fn, f->nargs);
        if (flags & JS_FN_NAMED) {
            duk_push_string(ctx, "name");
            duk_push_string(ctx, f->name);
            duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
        }
        if (flags & JS_FN_SELF) {
            duk_dup(ctx, obj_idx);
            duk_put_prop_string(ctx, -2, JS_SELF_KEY);
        }
        if (f->path)
            js_register_native(ctx, -1, f->path);
        if (flags & JS_FN_HIDDEN)
            duk_def_prop(ctx, obj_idx,
                         DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE |
                             DUK_DEFPROP_SET_CONFIGURABLE | DUK_DEFPROP_CLEAR_ENUMERABLE);
        else
            duk_put_prop(ctx, obj_idx);
    }
}

void js_def_global(duk_context *ctx, const char *name)
{
    duk_push_global_object(ctx);
    duk_push_string(ctx, name);
    duk_dup(ctx, -3);
    duk_def_prop(ctx, -3,
                 DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_CONFIGURABLE |
                     DUK_DEFPROP_CLEAR_ENUMERABLE);
    duk_pop_2(ctx);
}

/* ---- heaps ------------------------------------------------------------------- */

static duk_ret_t heap_init(duk_context *ctx, void *udata)
{
    (void)udata;
    js_process_install(ctx);
    js_utils_install(ctx);
    js_timers_install(ctx);
    js_require_install(ctx);
    js_event_install(ctx);
    js_errstack_install(ctx); /* err.stack as scripts read it: cleaned */
    if (getenv("RAMPART_TEST_HOOKS"))
        install_fatal_hook(ctx);
    return 0;
}

/* The snapshot and the owner's setup (js_heap_new), under js_guard: a
 * module's code runs there. */
static void setup_guarded(duk_context *ctx, void *arg)
{
    const js_heap_opts *o = arg;
    const char *name = o->name ? o->name : "a heap";
    if (o->snap && js_snapshot_apply(o->snap, ctx) != 0)
        rp_log(JS_LOG, RP_LOG_ERR, "%s: the main script's globals could not be copied",
               name);
    if (!o->setup)
        return;
    if (duk_safe_call(ctx, o->setup, o->setup_arg, 0, 1) != DUK_EXEC_SUCCESS)
        rp_log(JS_LOG, RP_LOG_ERR, "%s: cannot set up the heap: %s", name,
               duk_safe_to_string(ctx, -1));
    duk_pop(ctx);
}

duk_context *js_heap_new(const js_heap_opts *o)
{
    js_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = o->loop;
    h->next_timer_id = 1;
    h->is_main = o->is_main;
    h->worker = o->worker;
    h->on_broken = o->on_broken;
    h->callback_timeout = o->callback_timeout > 0 ? o->callback_timeout : 0;
    const char *dir = o->script_dir ? o->script_dir : js_script_dir();
    if (dir) {
        h->script_dir = strdup(dir);
    } else {
        char cwd[4096];
        h->script_dir = strdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
    }
    h->ctx = duk_create_heap(heap_alloc, heap_realloc, heap_free_block, h, heap_fatal);
    if (!h->ctx || !h->script_dir) {
        if (h->ctx)
            duk_destroy_heap(h->ctx);
        free(h->script_dir);
        free(h);
        return NULL;
    }
    if (duk_safe_call(h->ctx, heap_init, NULL, 0, 1) != DUK_EXEC_SUCCESS) {
        rp_log(JS_LOG, RP_LOG_ERR, "cannot set up a JavaScript heap: %s",
               duk_safe_to_string(h->ctx, -1));
        duk_pop(h->ctx);
        js_heap_free(h->ctx);
        return NULL;
    }
    duk_pop(h->ctx);
    /* a fatal error in a module's code: heap_fatal logged it */
    if ((o->snap || o->setup) && js_guard(h->ctx, setup_guarded, (void *)o) != 0) {
        js_heap_free(h->ctx);
        return NULL;
    }
    h->mem_limit = o->memory_limit;
    return h->ctx;
}

void js_heap_free(duk_context *ctx)
{
    if (!ctx)
        return;
    js_heap *h = js_heap_of(ctx);
    js_event_heap_gone(ctx);
    js_timers_free(h);
    /* finalizers (e.g. stream.c's, which finish pending requests) must run
     * even after a stop told every script to end */
    h->freeing = 1;
    duk_destroy_heap(ctx);
    free(h->script_dir);
    free(h);
}

struct event_base *js_heap_loop(duk_context *ctx)
{
    return js_heap_of(ctx)->loop;
}

struct js_worker *js_heap_worker(duk_context *ctx)
{
    return js_heap_of(ctx)->worker;
}

int js_heap_is_main(duk_context *ctx)
{
    return js_heap_of(ctx)->is_main;
}

/* ---- errors ------------------------------------------------------------------ */

static duk_ret_t error_text_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t v = duk_get_top_index(ctx); /* safe calls share the caller's frame */
    /* [ value ] */
    if (js_push_error_stack(ctx, v))
        return 1;
    duk_dup(ctx, v);
    duk_to_string(ctx, -1);
    return 1;
}

const char *js_error_text(duk_context *ctx, duk_idx_t idx)
{
    duk_dup(ctx, idx);
    if (duk_safe_call(ctx, error_text_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        duk_pop(ctx);
        duk_push_string(ctx, "(error while formatting the error)");
    }
    return duk_get_string(ctx, -1);
}

/* From a Duktape stack ("    at f (file:line) flags"): the first frame in a
 * script file (not Duktape's or mod_js's C sources), as "file:line". */
static int where_from_stack(const char *stack, char *buf, size_t len)
{
    for (const char *l = stack; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *open = strchr(l, '(');
        const char *eol = strchr(l, '\n');
        if (!open || (eol && open > eol))
            continue;
        const char *close = strchr(open, ')');
        if (!close || (eol && close > eol))
            continue;
        const char *colon = close;
        while (colon > open && *colon != ':')
            colon--;
        if (colon <= open + 1 || colon + 1 >= close)
            continue;
        if (colon - open > 2 && colon[-2] == '.' && colon[-1] == 'c')
            continue; /* a C source */
        snprintf(buf, len, "%.*s", (int)(close - open - 1), open + 1);
        return 1;
    }
    return 0;
}

static duk_ret_t error_where_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t v = duk_get_top_index(ctx); /* safe calls share the caller's frame */
    if (!duk_is_object(ctx, v))
        return 0;
    duk_get_prop_string(ctx, v, "fileName");
    duk_get_prop_string(ctx, v, "lineNumber");
    duk_get_prop_string(ctx, v, "stack");
    return 3;
}

const char *js_error_where(duk_context *ctx, duk_idx_t idx, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    duk_dup(ctx, idx);
    if (duk_safe_call(ctx, error_where_safe, NULL, 1, 3) == DUK_EXEC_SUCCESS) {
        const char *file = duk_get_string(ctx, -3);
        size_t fl = file ? strlen(file) : 0;
        int in_c = fl > 2 && strcmp(file + fl - 2, ".c") == 0;
        if (file && !in_c && duk_is_number(ctx, -2))
            snprintf(buf, len, "%s:%ld", file, (long)duk_get_int(ctx, -2));
        else if (!duk_is_string(ctx, -1) || !where_from_stack(duk_get_string(ctx, -1), buf, len))
            buf[0] = '\0';
    }
    duk_pop_3(ctx);
    return buf;
}

void js_report_error(duk_context *ctx, duk_idx_t idx, const char *what)
{
    idx = duk_normalize_index(ctx, idx);
    char where[1024];
    js_error_where(ctx, idx, where, sizeof where);
    const char *text = js_error_text(ctx, idx);
    if (js_heap_is_main(ctx)) {
        fflush(stdout);
        fprintf(stderr, "%s%s%s: %s\n", where, where[0] ? ": " : "", what, text);
        fflush(stderr);
    } else {
        rp_log(JS_LOG, RP_LOG_ERR, "%s%s%s: %s", where, where[0] ? ": " : "", what, text);
    }
    duk_pop(ctx);
}
