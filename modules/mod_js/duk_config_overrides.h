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

/* Global functions of the main script are copied into worker heaps as
 * bytecode (duk_dump_function / duk_load_function). */
#define DUK_USE_BYTECODE_DUMP_SUPPORT

/* Fatal errors without a heap (internal assertions only): log and abort. */
#undef DUK_USE_FATAL_HANDLER
#define DUK_USE_FATAL_HANDLER(udata, msg) js_default_fatal((udata), (msg))
__attribute__((visibility("hidden"))) extern void js_default_fatal(void *udata, const char *msg);

/* Faster integer arithmetic (64-bit fastints, transparent to scripts). */
#define DUK_USE_FASTINT

/* Duktape lives inside mod_js.so only: keep its API out of the dynamic
 * symbol table (the module exports rp_module_js alone). */
#undef DUK_EXTERNAL_DECL
#undef DUK_EXTERNAL
#define DUK_EXTERNAL_DECL __attribute__((visibility("hidden"))) extern
#define DUK_EXTERNAL __attribute__((visibility("hidden")))
