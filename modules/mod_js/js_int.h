/* js_int.h - internal to mod_js: the contract between its runtime half
 * (heaps, require, rampart.utils, timers, copying globals, the `rampart`
 * script runner) and its HTTP half (start(), routes, request and return
 * objects).  Duktape appears only inside modules/mod_js.
 *
 * SEED written by the lead; the runtime half owns this file from here on and
 * may refine the signatures - keep the HTTP half informed through comments.
 */
#ifndef JS_INT_H
#define JS_INT_H

#include "duktape.h"
#include "rampart.h"

struct event_base;

/* ---- the module (mod_js.c, HTTP half) ---------------------------------- */
extern const rp_module rp_module_js;

/* ---- heaps (runtime.c, runtime half) ----------------------------------
 * A heap is bound to one thread and one event loop: timers (setTimeout,
 * setInterval, setMetronome) run on that loop.  Every heap gets the same
 * globals: rampart (rampart.utils, rampart.globalize, rampart.event later),
 * console, require, timers. */
duk_context *js_heap_new(struct event_base *loop, const char *script_dir);
void js_heap_free(duk_context *ctx);
/* Cooperative script timeout through Duktape's exec-timeout check: after
 * js_deadline_arm(ctx, s) a script running longer than s seconds throws a
 * RangeError-like error at its next interrupt; 0 disarms. */
void js_deadline_arm(duk_context *ctx, double seconds);
int js_deadline_expired(duk_context *ctx);

/* ---- require (require.c, runtime half) --------------------------------
 * Builtin modules ("rampart-server") are registered by name; `loader`
 * pushes the module's exports. */
void js_builtin_register(const char *name, duk_c_function loader);
/* Resolve and load a module as require() would, from directory `from`
 * (NULL: the script's directory); pushes module.exports or throws.  A module
 * whose file changed since it was cached is reloaded (hot reload). */
void js_require_push(duk_context *ctx, const char *name, const char *from);
/* Resolve a module name to a file path without loading it; NULL if absent. */
char *js_require_resolve(duk_context *ctx, const char *name, const char *from);

/* ---- copying globals into worker heaps (copy.c, runtime half) ---------
 * Taken on the main thread inside start(): every own enumerable global of
 * the main script (functions as bytecode: closures lose their outer
 * locals, values by structured copy keeping cycles, Dates and Buffers),
 * plus any extra values start() adds (inline map functions, options). */
typedef struct js_snapshot js_snapshot;
js_snapshot *js_snapshot_take(duk_context *main_ctx);
/* Add the value at idx under a hidden name, e.g. the map or notFoundFunc. */
void js_snapshot_add(js_snapshot *snap, duk_context *main_ctx, const char *name, duk_idx_t idx);
/* Recreate everything in a worker heap: globals as globals, added values
 * pushed by js_snapshot_push. Safe to call from any thread, many times. */
void js_snapshot_apply(const js_snapshot *snap, duk_context *ctx);
void js_snapshot_push(const js_snapshot *snap, duk_context *ctx, const char *name);

/* ---- errors -------------------------------------------------------------- */
/* "Error: message\n    at file:line ..." for the error at idx. */
const char *js_error_text(duk_context *ctx, duk_idx_t idx);

/* ---- the script runner (script.c, runtime half) -----------------------
 * Published as service "js" version 1 for the `rampart` executable. */
typedef struct js_service_v1 {
    /* Run argv[0] (the script) with process args; after it ends, if start()
     * started a server, run its accept loop until SIGTERM/SIGINT.  Returns
     * the process exit status. */
    int (*run_script)(int argc, char **argv);
} js_service_v1;

#endif

/* REQUEST(http half): a few things start.c / mod_js.c need from the runtime half.
 * 1. const char *js_script_dir(void);  absolute directory of the main script
 *    (NULL under rampart-httpd).  start() passes it to worker heaps
 *    (js_heap_new's script_dir) and resolves relative "@file" returns and
 *    {module:...} names against it.
 * 2. The HTTP half (start.c) exports
 *        rp_server *js_http_server(int *serving);
 *    NULL if start() was never called.  *serving is 1 in the process that
 *    serves (normal start, or the daemon child) and 0 in a daemon parent.
 *    Please have run_script, after the main script returns: if a server
 *    exists and *serving, run the main script's timers on
 *    rp_server_base(s) and return rp_server_loop(s); in a daemon parent
 *    just finish the script's own events and exit 0.  (If you'd rather
 *    have a setter like js_server_started(s, serving), tell me and I'll
 *    call it instead.)  Please declare js_http_server here.
 * 3. Buffers: the HTTP half pushes req.body and multipart contents as
 *    plain buffers (duk_push_fixed_buffer: JSON shows {"0":72,...} as the
 *    spec does) and accepts any buffer (duk_get_buffer_data) in returns.
 *    Please make rampart.utils.bufferToString/readFile agree (plain).
 * 4. If modules/mod_js/tests/CMakeLists.txt exists, please add
 *        if(RP_TESTS AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tests/CMakeLists.txt)
 *          add_subdirectory(tests)
 *        endif()
 *    to modules/mod_js/CMakeLists.txt (a C unit test of the body parsers),
 *    and keep the *.c glob non-recursive.
 * 5. js_deadline_expired(ctx): please keep it true after the error
 *    propagates until the next js_deadline_arm, so the handler can tell a
 *    timeout from an ordinary throw after duk_safe_call returns.
 */
