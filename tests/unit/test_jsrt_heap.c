/* A runtime heap's own machinery (modules/mod_js/rt/runtime.c): the
 * cooperative deadline (bytecode, catch blocks that try to go on, long
 * natives), the memory cap, the fatal-error landing (js_guard and
 * js_guard_loop, also from a timer callback), and the text of errors. */
#include <event2/event.h>
#include <stdlib.h>
#include "jsrt.h"

static void test_deadline(void)
{
    duk_context *ctx = ut_heap(NULL, NULL);
    ut_eval(ctx, "function spin() { while (true) {} }");
    /* each of these runs until the deadline stops it: no wait is timed */
    static const char *const endless[] = {
        "spin()", "try { spin(); } catch (e) { spin(); } finally { }",
        "for (;;) { try { spin(); } catch (e) { } }",
        "/(a+)+b/.test('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')", /* one native */
    };
    for (size_t i = 0; i < sizeof endless / sizeof endless[0]; i++) {
        js_deadline_arm(ctx, 0.05);
        CHECK(ut_push_eval(ctx, endless[i]) == -1);
        CHECK(js_deadline_expired(ctx));
        js_deadline_arm(ctx, 0); /* before reading the error: that runs JS too */
        CHECK(!js_deadline_expired(ctx));
        const char *got = ut_pop_text(ctx);
        if (strcmp(got, "RangeError: execution timeout") != 0) {
            fprintf(stderr, "under a deadline, %s gives \"%s\"\n", endless[i], got);
            ut_failures++;
        }
    }
    /* armed but not reached: results and errors as without it */
    js_deadline_arm(ctx, 60);
    CHECK_STR(ut_eval(ctx, "1 + 1"), "2");
    CHECK_STR(ut_eval(ctx, "throw new Error('plain')"), "Error: plain");
    CHECK(!js_deadline_expired(ctx));
    js_deadline_arm(ctx, 0);
    /* the heap is usable after a timeout */
    CHECK_STR(ut_eval(ctx, "var s = 0; for (var i = 0; i < 3000000; i++) s += i; s > 0"), "true");
    js_heap_free(ctx);
}

static void test_memory_cap(void)
{
    js_heap_opts o = {.memory_limit = 8u << 20, .name = "capped"};
    duk_context *ctx = js_heap_new(&o);
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    CHECK(!js_heap_memory_hit(ctx));
    CHECK_HAS(ut_eval(ctx, "var a = []; for (;;) a.push(new Array(1000).join('x') + a.length);"),
              "Error: alloc failed");
    CHECK(js_heap_memory_hit(ctx));
    CHECK(!js_heap_memory_hit(ctx)); /* read and cleared */
    CHECK_STR(ut_eval(ctx, "a = null; 'still ' + 'usable'"), "still usable");
    CHECK(js_heap_memory_used(ctx) > 0);
    js_heap_free(ctx);
}

static void fatal_now(duk_context *ctx, void *arg)
{
    (void)arg;
    (void)duk_fatal(ctx, "unit fatal");
}

static void count_call(duk_context *ctx, void *arg)
{
    (void)ctx;
    (*(int *)arg)++;
}

static char broken_what[64];

static void on_broken(duk_context *ctx, const char *what)
{
    (void)ctx;
    snprintf(broken_what, sizeof broken_what, "%s", what);
}

static void test_fatal_landing(void)
{
    rp_log_set_level(-1); /* a fatal error is logged */
    duk_context *ctx = ut_heap(NULL, NULL);
    int calls = 0;
    CHECK(js_guard(ctx, count_call, &calls) == 0 && calls == 1);
    CHECK(js_guard(ctx, fatal_now, NULL) == -1);
    CHECK(js_heap_broken(ctx));
    CHECK_STR(js_heap_fatal_msg(ctx), "unit fatal");
    /* a broken heap runs nothing more */
    CHECK(js_guard(ctx, count_call, &calls) == -1 && calls == 1);
    js_heap_free(ctx);

    /* from the event loop: the owner's handler hears of it, with the entry */
    setenv("RAMPART_TEST_HOOKS", "1", 1); /* __rptest.fatal */
    struct event_base *loop = event_base_new();
    js_heap_opts o = {.loop = loop, .on_broken = on_broken, .name = "owned"};
    ctx = js_heap_new(&o);
    unsetenv("RAMPART_TEST_HOOKS");
    CHECK_STR(ut_eval(ctx, "setTimeout(function () { __rptest.fatal('timer fatal'); }, 0);"
                           " setTimeout(function () { never = 1; }, 0); typeof __rptest.fatal"),
              "function");
    event_base_dispatch(loop); /* the landing cancelled the second timer */
    CHECK_STR(broken_what, "setTimeout callback");
    CHECK(js_heap_broken(ctx));
    CHECK_STR(js_heap_fatal_msg(ctx), "timer fatal");
    CHECK(js_timers_pending(ctx) == 0);
    js_heap_free(ctx);
    event_base_free(loop);

    /* heaps made without the variable have no hook */
    ctx = ut_heap(NULL, NULL);
    CHECK_STR(ut_eval(ctx, "typeof __rptest"), "undefined");
    js_heap_free(ctx);
    rp_log_set_level(3);
}

static void test_error_text(void)
{
    duk_context *ctx = ut_heap(NULL, NULL);
    CHECK(ut_push_eval_file(ctx, "function f() {\n  throw new Error('boom');\n}\nf();\n",
                            "unit.js") == -1);
    duk_idx_t err = duk_get_top_index(ctx);
    const char *t = js_error_text(ctx, err);
    CHECK_HAS(t, "Error: boom");
    CHECK_HAS(t, "unit.js:2"); /* the frames, not C sources */
    char where[128];
    CHECK_STR(js_error_where(ctx, err, where, sizeof where), "unit.js:2");
    duk_set_top(ctx, err);
    CHECK(ut_push_eval_file(ctx, "throw 5;", "unit.js") == -1);
    CHECK_STR(js_error_text(ctx, -1), "5");
    duk_pop_2(ctx);
    CHECK(ut_push_eval_file(ctx, "null.x;", "native.js") == -1);
    t = js_error_text(ctx, -1);
    CHECK_HAS(t, "TypeError: cannot read property 'x' of null");
    CHECK(strstr(t, ".c:") == NULL);
    duk_pop_2(ctx);
    js_heap_free(ctx);
}

int main(void)
{
    test_deadline();
    test_memory_cap();
    test_fatal_landing();
    test_error_text();
    UT_DONE();
}
