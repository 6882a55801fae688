/* js_int.h - internal to mod_js: the contract between its runtime half
 * (heaps, require, rampart.utils, timers, copying globals, the `rampart`
 * script runner) and its HTTP half (start(), routes, request and return
 * objects).  Duktape appears only inside modules/mod_js.
 *
 * Owned by the runtime half: the files in rt/ (runtime.c, require.c,
 * timers.c, copy.c, event.c, format.c, fs.c, process.c, console.c), built
 * with Duktape and errstack.c as the static library librpjsrt that mod_js
 * links and tests/unit/test_jsrt_*.c drive.  The HTTP half (mod_js.c,
 * start.c, req.c, reply.c ...) and the script runner (script.c) code
 * against the functions below.
 *
 * Conventions
 *  - "Throws" means a Duktape error is thrown (longjmp): call such functions
 *    only from a Duktape/C function called by JS, or inside duk_safe_call /
 *    duk_pcall.  Functions not marked "throws" never throw.
 *  - Buffers are Duktape plain buffers (duk_push_fixed_buffer), as in the
 *    original rampart: JSON.stringify shows them as {"0":72,...}.
 *  - A heap is bound to the thread that created it and to one libevent
 *    loop; never touch it from another thread.
 *  - Error text is "Name: message" plus Duktape's stack lines
 *    "    at func (file:line)".
 */
#ifndef JS_INT_H
#define JS_INT_H

#include <stddef.h>
#include <sys/types.h>
#include "duktape.h"
#include "rampart.h"

struct event_base;

/* ---- the module (mod_js.c, HTTP half) ---------------------------------- */
extern const rp_module rp_module_js;
/* What the runtime's log lines name (rt/runtime.c): "js", as mod_js's own,
 * without the runtime depending on the module it serves (its unit tests
 * link no module). */
extern const rp_module js_log_tag;
#define JS_LOG (&js_log_tag)

/* ---- heaps (runtime.c) ---------------------------------------------------
 * Every heap gets the same globals, all non-enumerable (so js_snapshot_take
 * does not copy them; each heap has its own):
 *   rampart          utils {sprintf printf fprintf readFile stat lstat readdir
 *                    bufferToString stringToBuffer trim exec shell kill getpid
 *                    getppid sleep stdout stderr}, globalize(obj [, keys]),
 *                    version
 *   console          log, info (stdout), error, warn (stderr)
 *   require          CommonJS (require.c)
 *   setTimeout clearTimeout setInterval clearInterval setMetronome
 *   clearMetronome   on the heap's loop (timers.c)
 *   process          argv ([exe, script, args...]), env, scriptPath (the
 *                    script's directory), scriptName, exit(code)
 * With RAMPART_TEST_HOOKS set in the environment also __rptest.fatal(msg)
 * (rt/runtime.c), which calls duk_fatal: the integration tests' way to break
 * a heap mid-request.  Everything else the runtime does is tested on its
 * own heaps by tests/unit/test_jsrt_*.c.
 * Heaps run all JS inside protected calls; their fatal handler (reached only
 * if Duktape cannot continue) logs through rp_log and stderr, then leaves
 * through the js_guard landing, or aborts when there is none. */

/* What a heap is for.  js_heap_new is the one place heaps are built: the
 * script's main heap (script.c), every worker's HTTP and websocket heap
 * (js_worker_heap_new, mod_js.c), test and fuzz heaps.  Zero fields are
 * defaults. */
typedef struct js_snapshot js_snapshot;
struct js_worker;
typedef void (*js_broken_fn)(duk_context *ctx, const char *what);
typedef struct js_heap_opts {
    /* the thread's libevent base; NULL when the heap never runs timers
     * (setTimeout then throws) */
    struct event_base *loop;
    /* where require() looks second (after the requiring file's directory);
     * NULL: the main script's directory (js_script_dir()), or the current
     * directory when no script runs (rampart-httpd with MapModule) */
    const char *script_dir;
    int is_main;              /* the script's heap (js_heap_is_main) */
    struct js_worker *worker; /* the HTTP half's worker owning it (js_heap_worker) */
    js_broken_fn on_broken;   /* see js_guard_loop; NULL: none */
    /* deadline for callbacks the runtime itself runs in this heap (timer
     * callbacks, e.g. a deferred reply, event deliveries); 0: none.  A timed
     * out callback is reported like any callback error; the heap stays
     * usable. */
    double callback_timeout;
    /* globals copied in (js_snapshot_apply; a failure is logged), then
     * setup(ctx, setup_arg) in a protected call (nargs 0, nrets 1; an error
     * is logged), both under js_guard.  NULL: nothing. */
    const js_snapshot *snap;
    duk_safe_call_function setup;
    void *setup_arg;
    /* memory cap (js_heap_memory_hit), set after the snapshot and the setup
     * (they are the script's own size); 0: none */
    size_t memory_limit;
    const char *name; /* the heap in log lines ("worker 3"); NULL: "a heap" */
} js_heap_opts;

/* A new heap with the globals above.  Returns NULL if Duktape cannot
 * allocate a heap, or after logging a Duktape fatal error in the snapshot
 * or the setup.  Never throws. */
duk_context *js_heap_new(const js_heap_opts *o);
/* Frees the heap, its timers and module cache.  ctx may be NULL. */
void js_heap_free(duk_context *ctx);

/* The heap's loop; js_heap_set_loop moves pending timers to another loop
 * (same thread), keeping their remaining delays. */
struct event_base *js_heap_loop(duk_context *ctx);
void js_heap_set_loop(duk_context *ctx, struct event_base *loop);
/* Number of timers armed on this heap (setTimeout not yet fired, intervals
 * and metronomes not cleared). */
int js_timers_pending(duk_context *ctx);

/* The worker owning the heap (js_heap_opts.worker), or NULL. */
struct js_worker *js_heap_worker(duk_context *ctx);

/* 1 for the main heap (the script's, js_heap_opts.is_main), else 0. */
int js_heap_is_main(duk_context *ctx);

/* ---- cooperative script timeout (runtime.c) -----------------------------
 * js_deadline_arm(ctx, s): from now on, JS running in this heap for more
 * than s seconds (fractions allowed) throws RangeError "execution timeout"
 * at its next interrupt check (every 256k bytecode instructions) and keeps
 * throwing until the error has bubbled out of every catch - so the
 * duk_pcall that ran the handler returns DUK_EXEC_ERROR.  s <= 0 disarms.
 * Always disarm (js_deadline_arm(ctx, 0)) after the call; the heap is then
 * usable again (the spec's "recreate the heap" is still fine to do).
 * js_deadline_expired: 1 if the armed deadline has passed (tells a timeout
 * apart from an ordinary error after the call), else 0.
 * Long Duktape natives (regexp matching, JSON, sort, deep calls) are
 * interrupted too (js_native_interrupt, see duk_config_overrides.h); our
 * own C natives (a long readFile, exec) are not.  Once the server's stop
 * passes GracefulTimeout every heap throws the same way, armed or not. */
void js_deadline_arm(duk_context *ctx, double seconds);
int js_deadline_expired(duk_context *ctx);

/* ---- faults: fatal errors, memory, stop (runtime.c) ------------------------
 * Duktape's fatal handler is reached when an error has no catcher (C code
 * touching a heap outside duk_safe_call, e.g. an allocation refused by the
 * memory cap) or on duk_fatal(); it must not return.  js_guard gives it a
 * way out: it runs fn(ctx, arg) with a landing (setjmp) for ctx's heap on
 * this thread; a fatal error in that heap while fn runs logs, marks the heap
 * broken, cancels its timers and rampart.event registrations and longjmps
 * back: js_guard then returns -1 (0 when fn returned normally).  A broken
 * heap must not be used again (no Duktape call that runs code or may throw:
 * its error state points into stack frames that are gone); replace it and
 * js_heap_free it once nothing refers to its memory (freeing only destroys
 * it).  Never free a heap inside its own guard.  A guard
 * inside a guard of the same heap adds no landing (the outermost one wins:
 * the code between them would otherwise go on with the broken heap).
 * A broken heap gets no landing: js_guard returns -1 without calling fn.
 * Without a landing (code outside every guard) a fatal error still logs
 * and aborts.  fn must not leave a mutex held or memory it alone
 * frees when Duktape may throw through it, as for any Duktape error. */
int js_guard(duk_context *ctx, void (*fn)(duk_context *ctx, void *arg), void *arg);
int js_heap_broken(duk_context *ctx);

/* Entries from the event loop into a heap (timer callbacks, rampart.event
 * deliveries, chunk callbacks) use js_guard_loop: js_guard, and when the
 * heap broke, what its owner asked for.  `what` names the entry for the log
 * ("setTimeout callback").  Returns 0, or -1 when the heap is broken (also
 * when it already was: fn is not called, nobody is told again).  After -1
 * the caller must not touch the heap nor anything it owns (its timers,
 * rampart.event registrations, stream state): the handler may have freed it.
 *  - a heap with a broken handler (js_heap_opts.on_broken, e.g. a
 *    worker's HTTP heap): the handler runs, outside the guard, so it may
 *    answer what waited on the heap and free it;
 *  - the main heap while start()'s server serves: logged; its timers and
 *    event callbacks stop (the landing cancelled them), the server goes on
 *    and the heap is freed when the script's run ends;
 *  - the main heap without a server: logged and written to stderr, and the
 *    process exits with status 1 (exit(), like process.exit: no abort);
 *  - any other heap (the websocket heap): logged; the next js_guard on it
 *    returns -1 at once, which makes its owner replace it. */
int js_guard_loop(duk_context *ctx, void (*fn)(duk_context *ctx, void *arg), void *arg,
                  const char *what);
/* stream.c's per-heap C state (its typed slot in the heap), readable
 * without calling into the heap (so also once it is broken); NULL until
 * stream.c sets it. */
struct js_hstream;
void js_heap_set_stream(duk_context *ctx, struct js_hstream *state);
struct js_hstream *js_heap_stream(duk_context *ctx);
/* The fatal error's message ("" if none). */
const char *js_heap_fatal_msg(duk_context *ctx);

/* Memory cap (js_heap_opts.memory_limit; worker heaps get
 * ScriptMemoryLimit): an allocation over the cap fails: Duktape collects
 * garbage, retries, then throws RangeError ("alloc failed").
 * js_heap_memory_hit returns whether the cap refused anything since the
 * last call, and clears it. */
int js_heap_memory_hit(duk_context *ctx);
size_t js_heap_memory_used(duk_context *ctx);

/* 1 once the server's stop has passed GracefulTimeout (RP_STOP_NOW): every
 * heap then throws RangeError "execution timeout" at its next interrupt
 * check (bytecode and long natives alike), so a runaway script lets its
 * worker go; callers answer 503. */
int js_stopping_now(void);

/* ---- require (require.c) --------------------------------------------------
 * Search order for require(name):
 *   - "/abs/path": that file only;
 *   - "./x", "../x": the requiring file's directory only;
 *   - anything else ("mymod", "modules/multi_function.js"): the requiring
 *     file's directory, the heap's script directory, the current directory,
 *     each directory of $RAMPART_PATH (colon-separated), then the
 *     installation's JS module directory: <exe>/../lib/rampart/js (from the
 *     build tree: that does not exist; installed: <prefix>/lib/rampart/js).
 * For each directory: name as is if it is a regular file, name.js,
 * name.json, name/index.js.  ".json" files are parsed into module.exports.
 * Modules are cached per heap by real path; each require() stats the file and
 * re-runs it when its mtime, size or inode changed (hot reload).  A module
 * being loaded (a require cycle) yields its exports so far.
 * Modules run as function(module, exports, require, __filename, __dirname),
 * "this" = module.exports; module.id/filename, module.exports. */

/* Builtin modules: require("rampart-server") calls loader, which pushes the
 * exports (object or function) and returns 1; it runs once per heap and the
 * result is cached.  Process-wide; register before heaps exist (register_hooks
 * or post_config); a later registration of the same name replaces it. */
void js_builtin_register(const char *name, duk_c_function loader);

/* require(name) as if from a file in directory `from` (NULL: the heap's
 * script directory); pushes module.exports.  Throws (Error naming the module
 * and the searched directories if not found; the module's own error with its
 * file:line if it fails to compile or run).  Checks the file for changes
 * each call: mapped modules get hot reload by calling this per request. */
void js_require_push(duk_context *ctx, const char *name, const char *from);
/* Resolve a module name without loading it: a malloc'ed absolute path (the
 * caller frees it), or NULL if nothing matches.  Builtins resolve to NULL.
 * Never throws. */
char *js_require_resolve(duk_context *ctx, const char *name, const char *from);

/* ---- structured copy: globals into worker heaps, event values (copy.c) ------
 * Taken on the main thread inside start(): every own enumerable global of
 * the main heap (the script's var and function declarations and plain
 * assignments), plus any extra values start() adds.
 *  - ECMAScript functions: as bytecode.  They are re-bound to the worker's
 *    global object, so globals resolve there; a closure's outer locals do
 *    not exist ("ReferenceError: identifier 'html' undefined", as the spec
 *    shows).  Bound functions are skipped (undefined).
 *  - Runtime natives (rampart.utils.printf after globalize, console, ...)
 *    are re-resolved by name in the worker; other native functions become
 *    undefined.
 *  - Values that are a module's exports (var m = require("x")) are
 *    re-required in the worker (its own module instance, like any module).
 *  - Everything else by structured copy: primitives, plain objects, arrays,
 *    Dates, RegExps, plain buffers and buffer objects (Uint8Array, Buffer,
 *    ArrayBuffer, ...), keeping shared references and cycles.  Prototypes
 *    of class instances are not kept (they arrive as plain objects);
 *    accessors are read once.
 * The snapshot is self-contained memory (no Duktape pointers): apply it in
 * any thread, any number of times, concurrently. */
typedef struct js_snapshot js_snapshot;
/* Throws only on out-of-memory.  Returns the snapshot (never NULL). */
js_snapshot *js_snapshot_take(duk_context *main_ctx);
/* Add the value at idx under `name` (e.g. "map", "notFoundFunc"); shared
 * references with the globals are kept.  Throws only on out-of-memory. */
void js_snapshot_add(js_snapshot *snap, duk_context *main_ctx, const char *name, duk_idx_t idx);
/* Recreate the globals in ctx and keep the added values in the heap's stash.
 * Returns 0, or -1 after logging (a global that cannot be recreated, e.g. a
 * module that no longer loads, is skipped with a warning; -1 is only for an
 * unusable snapshot).  Never throws. */
int js_snapshot_apply(const js_snapshot *snap, duk_context *ctx);
/* Push an added value (after js_snapshot_apply in this heap); undefined if
 * no value was added under name.  Never throws. */
void js_snapshot_push(const js_snapshot *snap, duk_context *ctx, const char *name);
void js_snapshot_free(js_snapshot *snap);
/* For tests/fuzz only: a snapshot holding a copy of the encoded bytes
 * data[0..len) (NULL on out-of-memory), and a snapshot's encoded bytes.
 * Snapshots are trusted input: js_snapshot_apply loads their functions'
 * bytecode and requires their modules (T_FUNC, T_MODULE). */
js_snapshot *js_snapshot_from_bytes(const void *data, size_t len);
const void *js_snapshot_bytes(const js_snapshot *snap, size_t *len);

/* The same codec in its data-only mode: what rampart.event.trigger() carries
 * (event.c; also for tests/fuzz).  Values as above, except that no code is
 * carried: functions become undefined (left out of objects), runtime natives
 * and module exports are copied as plain data, RegExps and class instances
 * as plain objects of their own enumerable properties, arrays as their
 * elements 0..length-1 (holes as undefined, other properties dropped),
 * buffer objects as plain buffers; object keys are defined, so a
 * "__proto__" key stays a plain property.
 * js_event_encode encodes the value at idx into malloc'ed memory (*out,
 * *len; the caller frees it); throws RangeError when the value nests more
 * than 1000 levels, an array is longer than 2^24, or on out-of-memory.
 * js_event_decode_push pushes a fresh copy decoded from data[0..len); throws
 * on corrupt data (it never loads code, so any bytes are safe to decode). */
void js_event_encode(duk_context *ctx, duk_idx_t idx, unsigned char **out, size_t *len);
void js_event_decode_push(duk_context *ctx, const void *data, size_t len);

/* ---- errors (runtime.c) ----------------------------------------------------
 * Pushes the text for the value at idx (an Error or anything thrown):
 * "Name: message\n    at func (file:line)..." (the stack when present,
 * else ToString) and returns it; valid while the string stays on the stack
 * (pop it when done).  Never throws. */
const char *js_error_text(duk_context *ctx, duk_idx_t idx);
/* "file:line" where the error at idx was thrown (its fileName/lineNumber),
 * written into buf; returns buf, or "" if unknown.  Never throws. */
const char *js_error_where(duk_context *ctx, duk_idx_t idx, char *buf, size_t len);
/* Print "file:line: " + js_error_text of the value at idx to stderr (main
 * heap) or the error log (worker heaps), prefixed with `what`
 * ("uncaught error", "setTimeout callback").  Never throws. */
void js_report_error(duk_context *ctx, duk_idx_t idx, const char *what);
/* (errstack.c) The stack of the Error at idx as users see it: no frames in
 * C sources, no Duktape flags, "file:line" places.  Pushes it and returns 1;
 * 0 (nothing pushed) if idx holds no Error with a stack.  May throw (it
 * reads properties): call it inside a safe call. */
int js_push_error_stack(duk_context *ctx, duk_idx_t idx);
/* (errstack.c) Make err.stack, as scripts read it, that same cleaned text
 * (a getter on Error.prototype.stack).  Idempotent; 0, or -1 if the heap
 * refused.  Never throws. */
int js_errstack_install(duk_context *ctx);

/* ---- printf engine (rt/format.c) -----------------------------------------------
 * The formats of rampart.utils.printf, for req.printf and friends:
 *   %s %d %i %u %f %F %e %E %g %G %x %X %o %c %% with flags "-+ 0#", width
 *   and precision (also "*"); %J JSON (width = indent: %3J indents by 3),
 *   %U URL-encode (%!U decodes), %H HTML-escape (%!H unescapes), %B base64
 *   (%!B decodes).  %s prints Buffers as their bytes, objects via ToString.
 * Formats the string at fmt_idx with the arguments fmt_idx+1 .. top-1,
 * passing output pieces to out(arg, data, len).  Returns the number of
 * bytes produced.  Throws on a bad format or argument (e.g. a cyclic %J). */
typedef void (*js_out_fn)(void *arg, const char *data, size_t len);
size_t js_format(duk_context *ctx, duk_idx_t fmt_idx, js_out_fn out, void *arg);
/* Convenience: formats like js_format and pushes the result as a string. */
void js_sprintf_push(duk_context *ctx, duk_idx_t fmt_idx);

/* ---- the script and its server (rt/process.c) ------------------------------
 * The script runner (script.c) is published as service "js" version 1
 * (rp_js_service_v1 in the public rp_js.h; registered by script.c when
 * mod_js.so is loaded, mod_js.c need not do it) for the `rampart`
 * executable (front/main_rampart.c). */

/* start() calls this in the process that serves (not in the parent of a
 * daemon) right after rp_server_start returned RP_SERVER_STARTED.  The
 * runner moves the main heap's timers onto rp_server_base(s) and, after the
 * script ends, runs rp_server_loop(s).  A second call is ignored (returns
 * -1); 0 otherwise. */
int js_set_started_server(rp_server *s);
/* The server start() started, or NULL. */
rp_server *js_started_server(void);

/* The runner records the script before making its heap: its real path
 * (the directory is derived) and its arguments (argv[0] as given; argv is
 * kept, not copied).  Returns 0, or -1 on out-of-memory. */
int js_script_set(const char *real_path, int argc, char **argv);
/* The runner's main heap (NULL once freed): js_set_started_server moves its
 * timers onto the server's loop. */
void js_script_set_main(duk_context *ctx);
/* The main script: absolute path, its directory, its arguments (argv[0] is
 * the script path as given).  NULL/0 outside `rampart` (rampart-httpd). */
const char *js_script_path(void);
const char *js_script_dir(void);
int js_script_argc(void);
char **js_script_argv(void);

/* ==== runtime half internals (not for the HTTP half) ======================= */

/* Per-heap state, the Duktape heap udata: the one C struct every part of
 * mod_js reaches from a heap, with a typed slot for each part's own state
 * (JS values live in the heap stash, under the keys of the table below). */
typedef struct js_timer js_timer;
typedef struct js_heap {
    duk_context *ctx;
    struct event_base *loop;
    char *script_dir;
    struct js_worker *worker; /* js_heap_opts.worker */
    int is_main;
    /* deadline (monotonic seconds) */
    int armed, expired;
    double deadline;
    double callback_timeout;
    /* timers (timers.c) */
    js_timer *timers; /* sorted by due time */
    struct js_timer_state *tstate;
    unsigned next_timer_id;
    int ntimers;
    /* memory (the heap's allocator): bytes held, the cap (0 = none) and
     * whether the cap refused an allocation since js_heap_memory_hit */
    size_t mem_used, mem_limit;
    int mem_hit;
    /* a fatal error left the heap unusable (js_guard) */
    int broken;
    js_broken_fn on_broken; /* js_heap_opts.on_broken */
    /* the other parts' slots */
    struct js_hstream *stream; /* stream.c: js_heap_set_stream */
    struct ev_ep *events;      /* event.c: the heap's delivery endpoint, once on() ran */
    /* js_heap_free is destroying it: no interrupts (finalizers must run) */
    int freeing;
    char fatal_msg[160];
} js_heap;

js_heap *js_heap_of(duk_context *ctx);
double js_now_mono(void);

/* ---- the heap stash ---------------------------------------------------------
 * Every key mod_js keeps in a heap's stash, in this one table (hidden
 * symbols; literals, so duk_get_prop_literal can cache them). */
/* runtime.c: path -> runtime value (js_register_native) */
#define JS_STASH_NATIVES DUK_HIDDEN_SYMBOL("rpNatives")
/* require.c: realpath -> module entry */
#define JS_STASH_MODULES DUK_HIDDEN_SYMBOL("rpModules")
/* timers.c: id -> [fn, args...] */
#define JS_STASH_TIMERS DUK_HIDDEN_SYMBOL("rpTimers")
/* event.c: event -> name -> [fn, callbackVar] */
#define JS_STASH_EVENTS DUK_HIDDEN_SYMBOL("rpEvents")
/* copy.c: the objects a snapshot visited (kept alive), js_snapshot_add values */
#define JS_STASH_SNAPKEEP DUK_HIDDEN_SYMBOL("rpSnapKeep")
#define JS_STASH_SNAPEXTRAS DUK_HIDDEN_SYMBOL("rpSnapExtras")
/* mod_js.c: the snapshot's mapped functions in route order; bodies that
 * responses hold by reference */
#define JS_STASH_FUNCS DUK_HIDDEN_SYMBOL("rpFuncs")
#define JS_STASH_REFS DUK_HIDDEN_SYMBOL("rpRefs")
/* req.c: [getter, setter] of the req members */
#define JS_STASH_REQ_ACCESSORS DUK_HIDDEN_SYMBOL("rpReqAccessors")
/* stream.c: the object whose finalizer frees its state; id -> deferred req;
 * the req whose function runs; the prototypes of req objects */
#define JS_STASH_STREAM_HOLDER DUK_HIDDEN_SYMBOL("rpStreamHolder")
#define JS_STASH_STREAMS DUK_HIDDEN_SYMBOL("rpStreams")
#define JS_STASH_CURREQ DUK_HIDDEN_SYMBOL("rpCurReq")
#define JS_STASH_BUFPROTO DUK_HIDDEN_SYMBOL("rpBufProto")
#define JS_STASH_REQPROTO DUK_HIDDEN_SYMBOL("rpReqProto")
/* ws_js.c: websocket id -> {req, fn, disc}; the function being accepted */
#define JS_STASH_WS_CONNS DUK_HIDDEN_SYMBOL("rpWs")
#define JS_STASH_WS_PENDING DUK_HIDDEN_SYMBOL("rpWsPending")

/* One table of native methods, put on an object by js_put_functions (the
 * only way mod_js installs C functions as properties).  The table ends
 * with an entry whose name is NULL. */
typedef struct js_fn {
    const char *name; /* the property */
    duk_c_function fn;
    duk_idx_t nargs;  /* or DUK_VARARGS */
    const char *path; /* runtime name so snapshots can re-resolve it
                       * ("rampart.utils.printf", js_register_native), or NULL */
} js_fn;
enum {
    JS_FN_HIDDEN = 1, /* not enumerable (writable, configurable); else a plain put */
    JS_FN_NAMED = 2,  /* each function's .name is its property name */
    JS_FN_SELF = 4    /* each function keeps the object in JS_SELF_KEY (for
                       * natives bound to one object, e.g. req.wsSend) */
};
#define JS_SELF_KEY DUK_HIDDEN_SYMBOL("rpSelf")
/* Puts every function of fns on the object at obj_idx.  Throws only on
 * out-of-memory. */
void js_put_functions(duk_context *ctx, duk_idx_t obj_idx, const js_fn *fns, unsigned flags);
/* Record the value at idx as the runtime value named `path`. */
void js_register_native(duk_context *ctx, duk_idx_t idx, const char *path);
/* Pops the value on top into a non-enumerable, writable global `name`. */
void js_def_global(duk_context *ctx, const char *name);
/* Push the runtime value named path (undefined if none). */
void js_push_native(duk_context *ctx, const char *path);
/* Pushes the registry of runtime values: stash object path -> value. */
void js_push_native_registry(duk_context *ctx);

/* Installers called by js_heap_new (each pushes nothing, leaves the stack). */
void js_utils_install(duk_context *ctx);    /* console.c: rampart, console */
void js_timers_install(duk_context *ctx);   /* timers.c */
void js_require_install(duk_context *ctx);  /* require.c */
void js_timers_free(js_heap *h);            /* timers.c: all timers of the heap */
/* timers.c: the heap's loop has been freed (rp_server_loop frees the server
 * base): forget it without touching it; timers stay but no longer fire. */
void js_timers_abandon_loop(duk_context *ctx);
/* require.c: push the module cache (stash object realpath -> entry). */
void js_push_module_cache(duk_context *ctx);
/* Strip a leading "#!" line in place (keeps the newline: line numbers hold). */
void js_strip_shebang(char *src, size_t len);
/* Read a whole file into malloc'ed memory (NUL-terminated); NULL + errno. */
char *js_read_file(const char *path, size_t *len);
/* rt/format.c: JSON-encode the value at idx with indent (0: compact), pushes the
 * string; Buffers as their byte objects.  Throws on cycles. */
void js_json_push(duk_context *ctx, duk_idx_t idx, int indent);
/* rt/format.c: console.log-style text of the value at idx (strings raw, objects
 * as JSON, cycles marked); pushes the string.  Never throws. */
void js_inspect_push(duk_context *ctx, duk_idx_t idx);

/* ---- rampart.event (event.c) ------------------------------------------------
 * js_event_install: rampart.event {on, off, trigger} (heap_init).
 * js_event_heap_gone: the heap is being freed: drop its registrations and
 *   queued deliveries (js_heap_free, on the heap's thread).
 * js_event_rebind: the heap's loop changed (js_heap_set_loop on the main
 *   heap when start() serves): deliveries go to the new loop.
 * js_event_worker_init: on w's thread (mod_js's worker_init): subscribe w
 *   to the triggers of the other servers of a cluster (mod_cluster). */
void js_event_install(duk_context *ctx);
void js_event_worker_init(rp_worker *w);
void js_event_heap_gone(duk_context *ctx);
void js_event_rebind(duk_context *ctx);

#endif
