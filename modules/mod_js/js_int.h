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
