/* rp_js.h - the "js" service of mod_js: the script runner the `rampart`
 * executable (modules/mod_js/front/main_rampart.c) calls.
 *
 * mod_js publishes it as soon as mod_js.so is loaded (before any hook runs),
 * so a front-end finds it right after "LoadModule js mod_js.so":
 *
 *     #include "rp_js.h"
 *     const rp_js_service_v1 *js = rp_service_get(RP_JS_SERVICE, 1);
 *     if (js)
 *         return js->run_script(argc, argv);
 *
 * Newer versions of the service keep version 1's struct as their prefix.
 * This is the one declaration: mod_js and the front-end both include it.
 */
#ifndef RP_JS_H
#define RP_JS_H

#define RP_JS_SERVICE "js"
#define RP_JS_SERVICE_VERSION 1

typedef struct rp_js_service_v1 {
    /* Run argv[0] (the script) with argv[1..] as its arguments: create the
     * main heap on a main-thread loop, run the file, then the loop: if
     * start() started a server, rp_server_loop (accept + the main heap's
     * timers) until SIGTERM/SIGINT; otherwise until no timers remain.
     * Uncaught errors print "file:line" and a stack to stderr and return 1.
     * Returns the process exit status. */
    int (*run_script)(int argc, char **argv);
} rp_js_service_v1;

#endif
