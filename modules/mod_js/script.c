/* script.c - the js/1 service: run a script for the `rampart` executable,
 * then its main loop (the server's accept loop when start() started one). */
#include <errno.h>
#include <limits.h>
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

/* Published when mod_js.so is loaded, so the `rampart` executable finds it
 * right after LoadModule whatever mod_js.c's hooks do. */
__attribute__((constructor)) static void js_service_publish(void)
{
    rp_service_register(RP_JS_SERVICE, RP_JS_SERVICE_VERSION, &js_service);
}
