/* mod_js overrides for Duktape's configuration.  modules/mod_js/CMakeLists.txt
 * inserts this text at the "__OVERRIDE_DEFINES__" marker of a copy of
 * /usr/share/duktape/duk_config.h in the build directory (the Debian
 * duktape-dev amalgamation is otherwise used unchanged). */

/* Cooperative script timeout: every DUK_HTHREAD_INTCTR_DEFAULT (256k)
 * bytecode instructions Duktape asks js_exec_timeout_check (runtime.c)
 * whether the heap's deadline has passed; if so it throws a RangeError
 * "execution timeout" until the error has left Duktape. */
#define DUK_USE_INTERRUPT_COUNTER
#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) js_exec_timeout_check((udata))
__attribute__((visibility("hidden"))) extern int js_exec_timeout_check(void *udata);

/* Long natives: DUK_USE_EXEC_TIMEOUT_CHECK is only consulted by the bytecode
 * executor, so a regexp backtracking for minutes, a huge JSON.parse or a sort
 * would overrun ScriptTimeout (and ignore a stop).  gen_duk_config.cmake
 * patches Duktape's duk_native_stack_check() - called on every call, every
 * regexp matcher step (duk__match_regexp), every JSON/CBOR nesting level,
 * every compiler recursion and (patched in too) every quicksort partition of
 * Array.prototype.sort - to ask js_native_interrupt as well (the stop flag
 * and, when a deadline is armed, the coarse monotonic clock: a few ns); a
 * nonzero answer throws RangeError "execution timeout" as the executor
 * would.  One flat JSON text or array is still one step: bounded by its
 * size, which ScriptMemoryLimit bounds. */
#define RP_DUK_NATIVE_INTERRUPT(udata) js_native_interrupt((udata))
__attribute__((visibility("hidden"))) extern int js_native_interrupt(void *udata);

/* Native (C) stack: Duktape recurses in C for calls into and out of natives
 * ([0].map(f) in f), JSON, regexps and the compiler.  Its count limits below
 * do not know how big a frame is (a sanitizer build's frames are several
 * times larger) nor how big the thread's stack is, so js_native_stack_check
 * (runtime.c) compares the stack pointer with the bottom of this thread's
 * stack (pthread_getattr_np) less a reserve, and Duktape throws RangeError
 * "C stack depth limit" instead of overflowing into a crash.  The count
 * limits stay as a second bound (Duktape 2.7 defaults, spelled out). */
#undef DUK_USE_NATIVE_STACK_CHECK
#define DUK_USE_NATIVE_STACK_CHECK() js_native_stack_check()
__attribute__((visibility("hidden"))) extern int js_native_stack_check(void);
#undef DUK_USE_NATIVE_CALL_RECLIMIT
#define DUK_USE_NATIVE_CALL_RECLIMIT 1000
#undef DUK_USE_COMPILER_RECLIMIT
#define DUK_USE_COMPILER_RECLIMIT 2500
#undef DUK_USE_JSON_ENC_RECLIMIT
#define DUK_USE_JSON_ENC_RECLIMIT 1000
#undef DUK_USE_JSON_DEC_RECLIMIT
#define DUK_USE_JSON_DEC_RECLIMIT 1000
#undef DUK_USE_REGEXP_COMPILER_RECLIMIT
#define DUK_USE_REGEXP_COMPILER_RECLIMIT 10000
#undef DUK_USE_REGEXP_EXECUTOR_RECLIMIT
#define DUK_USE_REGEXP_EXECUTOR_RECLIMIT 10000

/* Global functions of the main script are copied into worker heaps as
 * bytecode (duk_dump_function / duk_load_function). */
#define DUK_USE_BYTECODE_DUMP_SUPPORT

/* Fatal errors without a heap (internal assertions only): log and abort.
 * Fatal errors of a heap go to the handler js_heap_new passes to
 * duk_create_heap (runtime.c: heap_fatal, which leaves through the heap's
 * js_guard landing when there is one). */
#undef DUK_USE_FATAL_HANDLER
#define DUK_USE_FATAL_HANDLER(udata, msg) js_default_fatal((udata), (msg))
__attribute__((visibility("hidden"))) extern void js_default_fatal(void *udata, const char *msg);

/* Accessors get the property's key as an extra argument: req.c's one getter
 * and one setter serve every lazy member of the request object. */
#undef DUK_USE_NONSTD_GETTER_KEY_ARGUMENT
#define DUK_USE_NONSTD_GETTER_KEY_ARGUMENT
#undef DUK_USE_NONSTD_SETTER_KEY_ARGUMENT
#define DUK_USE_NONSTD_SETTER_KEY_ARGUMENT

/* Property tables grow in bigger steps: with Duktape's defaults (+16/8) an
 * object grows 0, 2, 4, 6, 8, 10, 13, 16 ... entries, a realloc and rehash
 * each time, and reallocs were the largest single cost of a JS route (a req
 * object, its headers, a 20-field answer).  Now 0, 8, 18, 30, 45 ... */
#undef DUK_USE_HOBJECT_ENTRY_MINGROW_ADD
#define DUK_USE_HOBJECT_ENTRY_MINGROW_ADD 32
#undef DUK_USE_HOBJECT_ENTRY_MINGROW_DIVISOR
#define DUK_USE_HOBJECT_ENTRY_MINGROW_DIVISOR 4

/* JSON.stringify (and every object a route returns, sent as JSON) walks
 * plain objects and arrays without the generic enumerator; anything else
 * (accessors such as req's lazy members, proxies, toJSON, a replacer) falls
 * back to the standard path, so the output is the same. */
#define DUK_USE_JSON_STRINGIFY_FASTPATH

/* Number to text: short decimals (19.99, 4.5) in a few double operations
 * instead of Dragon4's bignums (rt/numfmt.c says why the text is the same);
 * gen_duk_config.cmake calls it from duk__numconv_stringify_raw. */
#define RP_DUK_SHORT_DECIMAL(x, neg, buf) rp_duk_short_decimal((x), (neg), (buf))
__attribute__((visibility("hidden"))) extern size_t rp_duk_short_decimal(double x, int neg, char *buf);

/* Faster integer arithmetic (64-bit fastints, transparent to scripts). */
#define DUK_USE_FASTINT

/* Duktape lives inside mod_js.so only: keep its API out of the dynamic
 * symbol table (the module exports rp_module_js alone). */
#undef DUK_EXTERNAL_DECL
#undef DUK_EXTERNAL
#define DUK_EXTERNAL_DECL __attribute__((visibility("hidden"))) extern
#define DUK_EXTERNAL __attribute__((visibility("hidden")))
