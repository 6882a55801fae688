/* script.c - the js/1 service: run a script for the `rampart` executable,
 * then its main loop (the server's accept loop when start() started one),
 * plus the hidden test hooks (RAMPART_TEST_HOOKS=1). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include "js_int.h"
#include "rp_js.h"

static duk_ret_t run_main_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    /* [ source path ] */
    duk_compile(ctx, 0);
    duk_call(ctx, 0);
    return 0;
}

/* The script's first run, under js_guard (a Duktape fatal error ends the
 * script like an uncaught error rather than aborting the process). */
static void run_main_guarded(duk_context *ctx, void *arg)
{
    int *rc = arg;
    if (duk_safe_call(ctx, run_main_safe, NULL, 2, 1) != DUK_EXEC_SUCCESS) {
        js_report_error(ctx, -1, "uncaught error");
        *rc = 1;
    }
    duk_pop(ctx);
}

static int run_script(int argc, char **argv)
{
    if (argc < 1 || !argv[0]) {
        fprintf(stderr, "rampart: no script given\n");
        return 2;
    }
    char *real = realpath(argv[0], NULL);
    size_t len;
    char *src = real ? js_read_file(real, &len) : NULL;
    if (!src) {
        fprintf(stderr, "rampart: cannot read script '%s': %s\n", argv[0], strerror(errno));
        free(real);
        return 1;
    }
    if (js_script_set(real, argc, argv) != 0) {
        fprintf(stderr, "rampart: out of memory\n");
        free(real);
        free(src);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct event_base *loop = event_base_new();
    js_heap_opts o = {.loop = loop, .script_dir = js_script_dir(), .is_main = 1};
    duk_context *ctx = loop ? js_heap_new(&o) : NULL;
    if (!ctx) {
        fprintf(stderr, "rampart: cannot create the JavaScript heap\n");
        free(src);
        if (loop)
            event_base_free(loop);
        return 1;
    }
    js_script_set_main(ctx);

    js_strip_shebang(src, len);
    duk_push_lstring(ctx, src, len);
    free(src);
    duk_push_string(ctx, real);
    free(real); /* js_script_set kept its own copy */
    int rc = 0;
    if (js_guard(ctx, run_main_guarded, &rc) != 0)
        rc = 1; /* heap_fatal logged it; the heap is only destroyed now */
    fflush(stdout);

    if (rc == 0) {
        if (js_started_server()) {
            rc = rp_server_loop(js_started_server());
            /* rp_server_loop freed the server base the main timers were on */
            js_timers_abandon_loop(ctx);
        } else {
            event_base_dispatch(loop);
        }
    }
    fflush(stdout);
    js_script_set_main(NULL);
    js_heap_free(ctx);
    event_base_free(loop);
    return rc;
}

static const rp_js_service_v1 js_service = {run_script};

static void test_hooks_install(duk_context *ctx);

/* Published when mod_js.so is loaded, so the `rampart` executable finds it
 * right after LoadModule whatever mod_js.c's hooks do. */
__attribute__((constructor)) static void js_service_publish(void)
{
    rp_service_register(RP_JS_SERVICE, RP_JS_SERVICE_VERSION, &js_service);
    js_test_hooks_set(test_hooks_install);
}

/* ==== test hooks ==============================================================
 * With RAMPART_TEST_HOOKS set, heaps get a non-enumerable global __rptest:
 *   __rptest.snapshot(fnName [, extra]) - snapshot this heap's globals (and
 *       `extra` under the name "extra"), apply it to a fresh heap in another
 *       thread and call the global fnName(extra) there; returns
 *       {ok, result (JSON text), error (text)}.
 *   __rptest.deadline(seconds, fn) - call fn under js_deadline_arm; returns
 *       {ok, timedOut, error}. */

typedef struct snap_job {
    const js_snapshot *snap;
    const char *fn;
    int ok;
    char *result;
} snap_job;

static duk_ret_t snap_call_safe(duk_context *ctx, void *udata)
{
    snap_job *job = udata;
    duk_get_global_string(ctx, job->fn);
    js_snapshot_push(job->snap, ctx, "extra");
    duk_call(ctx, 1);
    js_json_push(ctx, -1, 0);
    return 1;
}

static void *snap_thread(void *arg)
{
    snap_job *job = arg;
    struct event_base *loop = event_base_new();
    js_heap_opts o = {.loop = loop};
    duk_context *ctx = js_heap_new(&o);
    if (!ctx) {
        job->result = strdup("cannot create a heap");
        if (loop)
            event_base_free(loop);
        return NULL;
    }
    if (js_snapshot_apply(job->snap, ctx) != 0) {
        job->result = strdup("js_snapshot_apply failed");
    } else if (duk_safe_call(ctx, snap_call_safe, job, 0, 1) == DUK_EXEC_SUCCESS) {
        job->ok = 1;
        const char *s = duk_get_string(ctx, -1);
        job->result = strdup(s ? s : "undefined");
        duk_pop(ctx);
    } else {
        job->result = strdup(js_error_text(ctx, -1));
        duk_pop_2(ctx);
    }
    event_base_dispatch(loop); /* timers the function set */
    js_heap_free(ctx);
    event_base_free(loop);
    return NULL;
}

static duk_ret_t t_snapshot(duk_context *ctx)
{
    snap_job job = {0};
    job.fn = duk_require_string(ctx, 0);
    js_snapshot *snap = js_snapshot_take(ctx);
    if (duk_get_top(ctx) > 1)
        js_snapshot_add(snap, ctx, "extra", 1);
    job.snap = snap;
    pthread_t th;
    fflush(stdout);
    if (pthread_create(&th, NULL, snap_thread, &job) != 0) {
        js_snapshot_free(snap);
        return duk_error(ctx, DUK_ERR_ERROR, "cannot start a thread");
    }
    pthread_join(th, NULL);
    js_snapshot_free(snap);
    duk_push_object(ctx);
    duk_push_boolean(ctx, job.ok);
    duk_put_prop_string(ctx, -2, "ok");
    duk_push_string(ctx, job.result ? job.result : "");
    duk_put_prop_string(ctx, -2, job.ok ? "result" : "error");
    free(job.result);
    return 1;
}

static duk_ret_t t_deadline(duk_context *ctx)
{
    double s = duk_require_number(ctx, 0);
    duk_require_function(ctx, 1);
    duk_dup(ctx, 1);
    js_deadline_arm(ctx, s);
    int rc = duk_pcall(ctx, 0);
    int expired = js_deadline_expired(ctx);
    js_deadline_arm(ctx, 0);
    duk_push_object(ctx);
    duk_push_boolean(ctx, rc == DUK_EXEC_SUCCESS);
    duk_put_prop_string(ctx, -2, "ok");
    duk_push_boolean(ctx, expired);
    duk_put_prop_string(ctx, -2, "timedOut");
    if (rc != DUK_EXEC_SUCCESS) {
        duk_dup(ctx, -2);
        duk_safe_to_string(ctx, -1);
        duk_put_prop_string(ctx, -2, "error");
    }
    return 1;
}

static void test_hooks_install(duk_context *ctx)
{
    duk_push_object(ctx);
    static const js_fn fns[] = {{"snapshot", t_snapshot, DUK_VARARGS, NULL},
                                {"deadline", t_deadline, 2, NULL},
                                {NULL, NULL, 0, NULL}};
    js_put_functions(ctx, -1, fns, 0);
    js_def_global(ctx, "__rptest");
}
