/* The runtime's timers (modules/mod_js/rt/timers.c) on a heap with its own
 * libevent loop: the order callbacks run in (by due time, equal delays in
 * the order they were set, nested timers after the running one), clearing,
 * intervals, arguments, errors that do not stop the loop, the count of
 * armed timers, and moving the timers to another loop.  Each check runs
 * the loop until it has nothing left (event_base_dispatch returns), so no
 * check waits for a time: where two delays differ, the shorter is set
 * first, so the order cannot depend on how fast the machine is. */
#include <event2/event.h>
#include "jsrt.h"

/* Runs src on a fresh heap with a loop, dispatches the loop until no timer
 * is left, and returns the text of `log` (the script fills it). */
static const char *run_timers(const char *src)
{
    struct event_base *loop = event_base_new();
    duk_context *ctx = ut_heap(loop, NULL);
    ut_eval(ctx, "var log = [];");
    const char *r = ut_eval(ctx, src);
    if (strncmp(r, "undefined", 9) != 0 && strstr(r, "Error")) {
        js_heap_free(ctx);
        event_base_free(loop);
        return r;
    }
    event_base_dispatch(loop);
    const char *out = ut_eval(ctx, "log.join(' ')");
    CHECK(js_timers_pending(ctx) == 0);
    js_heap_free(ctx);
    event_base_free(loop);
    return out;
}

static void test_order(void)
{
    /* equal delays fire in the order they were set (libevent alone would
     * not promise it), whatever their number */
    CHECK_STR(run_timers("for (var i = 0; i < 20; i++)"
                         " setTimeout(function (k) { log.push(k); }, 5, i);"),
              "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
    /* by due time; a timer set by a callback runs after the due ones */
    CHECK_STR(run_timers("setTimeout(function () { log.push('a0');"
                         " setTimeout(function () { log.push('nested0'); }, 0); }, 0);\n"
                         "setTimeout(function () { log.push('b0'); }, 0);\n"
                         "setTimeout(function () { log.push('t10'); }, 10);\n"
                         "setTimeout(function (x, y) { log.push('t10' + x + y); }, 10, 'X', 'Y');\n"
                         "setTimeout(function () { log.push('t40'); }, 40);"),
              "a0 b0 nested0 t10 t10XY t40");
    /* a negative or missing delay is 0 */
    CHECK_STR(run_timers("setTimeout(function () { log.push('neg'); }, -5);"
                         "setTimeout(function () { log.push('none'); });"
                         "setTimeout(function () { log.push('later'); }, 1);"),
              "neg none later");
}

static void test_clear_and_intervals(void)
{
    CHECK_STR(run_timers("var c = setTimeout(function () { log.push('cleared'); }, 0);\n"
                         "setTimeout(function () { log.push('kept'); }, 0);\n"
                         "clearTimeout(c); clearTimeout(12345); clearTimeout(undefined);"),
              "kept");
    /* an interval runs until cleared, also from its own callback */
    CHECK_STR(run_timers("var n = 0, iv = setInterval(function (tag) { log.push(tag + (++n));"
                         " if (n === 3) clearInterval(iv); }, 1, 'iv');"),
              "iv1 iv2 iv3");
    /* a timer cleared by an earlier callback of the same turn does not run */
    CHECK_STR(run_timers("var late; setTimeout(function () { log.push('first');"
                         " clearTimeout(late); }, 0);"
                         " late = setTimeout(function () { log.push('late'); }, 0);"),
              "first");
    CHECK_STR(run_timers("var m = setMetronome(function () { log.push('beat');"
                         " clearMetronome(m); }, 1);"),
              "beat");
}

static void test_errors_and_arguments(void)
{
    rp_log_set_level(-1); /* the callback's error is logged */
    CHECK_STR(run_timers("setTimeout(function () { null.x; }, 0);\n"
                         "setTimeout(function () { log.push('still running'); }, 0);"),
              "still running");
    rp_log_set_level(3);
    struct event_base *loop = event_base_new();
    duk_context *ctx = ut_heap(loop, NULL);
    CHECK_STR(ut_eval(ctx, "setTimeout('code', 1)"),
              "TypeError: setTimeout: the first argument must be a function");
    CHECK_STR(ut_eval(ctx, "typeof setTimeout(function () {}, 1)"), "number");
    CHECK(js_timers_pending(ctx) == 1);
    CHECK_STR(ut_eval(ctx,
                      "var ids = [setTimeout(function () {}, 1), setInterval(function () {}, 1)];"
                      " ids[0] !== ids[1]"),
              "true");
    CHECK(js_timers_pending(ctx) == 3);
    ut_eval(ctx, "clearTimeout(ids[0]); clearInterval(ids[1]);");
    CHECK(js_timers_pending(ctx) == 1);
    js_heap_free(ctx); /* frees the armed timer with the heap */
    event_base_free(loop);

    /* a heap without a loop has no timers */
    duk_context *bare = ut_heap(NULL, NULL);
    CHECK_HAS(ut_eval(bare, "setTimeout(function () {}, 1)"), "Error");
    js_heap_free(bare);
}

static void test_move_to_another_loop(void)
{
    struct event_base *a = event_base_new(), *b = event_base_new();
    duk_context *ctx = ut_heap(a, NULL);
    ut_eval(ctx, "var log = []; setTimeout(function () { log.push('one'); }, 1);"
                 " setTimeout(function () { log.push('two'); }, 2);");
    js_heap_set_loop(ctx, b);
    CHECK(js_heap_loop(ctx) == b);
    event_base_dispatch(a); /* nothing left there: returns at once */
    CHECK_STR(ut_eval(ctx, "log.join(' ')"), "");
    event_base_dispatch(b);
    CHECK_STR(ut_eval(ctx, "log.join(' ')"), "one two");
    js_heap_free(ctx);
    event_base_free(a);
    event_base_free(b);
}

int main(void)
{
    test_order();
    test_clear_and_intervals();
    test_errors_and_arguments();
    test_move_to_another_loop();
    UT_DONE();
}
